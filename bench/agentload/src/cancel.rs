//! A stop signal every task of the run watches (a watch channel: no
//! extra dependency for a `CancellationToken`).

use tokio::sync::watch;

/// Sees the signal; clones share it.
#[derive(Clone, Debug)]
pub struct Cancel(watch::Receiver<bool>);

/// Fires the signal.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

pub fn pair() -> (Trigger, Cancel) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Cancel(rx))
}

impl Trigger {
    pub fn fire(&self) {
        // No receiver left: nobody to tell.
        let _ = self.0.send(true);
    }
}

impl Cancel {
    /// Returns once the signal fired (or its trigger is gone).
    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|&v| v).await;
    }
}
