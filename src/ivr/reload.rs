//! What makes the flows reload: SIGHUP, a change in the flow or prompt
//! files (`ivr.watch`), and the admin API ([`reload_now`]). Each runs
//! [`FlowRegistry::reload`] on a blocking thread; the registry keeps the
//! old flows when the new ones are refused, and logs and counts either
//! way.
//!
//! File changes are debounced: a reload starts once the files have been
//! quiet for [`DEBOUNCE`], so an editor's save (write, rename, chmod) or
//! a `git pull` of many files makes one reload, not one per event. The
//! flow folder is watched without its subfolders (flows are its `*.toml`),
//! the prompt folder with them (`<language>/<name>.wav`). Replacing the
//! watched folders themselves (a symlink switch) is not followed: send
//! SIGHUP after one.

use std::path::Path;
use std::time::Duration;

use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::registry::{FlowProblem, FlowRegistry, ReloadReport};

/// How long the files must be quiet before a change reloads them.
pub const DEBOUNCE: Duration = Duration::from_millis(400);

/// Reloads now, off the async threads; logs what asked for it.
pub async fn reload_now(
    registry: &FlowRegistry,
    trigger: &'static str,
) -> Result<ReloadReport, Vec<FlowProblem>> {
    info!(trigger, dir = %registry.dir().display(), "reloading the IVR flows");
    let worker = registry.clone();
    match tokio::task::spawn_blocking(move || worker.reload()).await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(errors)) => Err(errors.iter().map(FlowProblem::from).collect()),
        Err(e) => {
            warn!(error = %e, "the IVR flow reload task failed");
            Err(vec![FlowProblem {
                file: registry.dir().to_owned(),
                line: None,
                reason: format!("the reload failed: {e}"),
            }])
        }
    }
}

/// Reloads on every SIGHUP until `stop`. The handler is installed before
/// this returns, so a SIGHUP after start-up never kills the process.
#[cfg(unix)]
pub fn on_sighup(registry: FlowRegistry, stop: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                got = hangups.recv() => {
                    if got.is_none() {
                        break;
                    }
                    let _ = reload_now(&registry, "SIGHUP").await;
                }
            }
        }
    });
    Ok(())
}

/// Watches the flow folder and the prompt folder, and reloads after each
/// burst of changes (see [`DEBOUNCE`]) until `stop`. A folder that does
/// not exist is not watched (logged; a server without IVR routes may have
/// none).
pub fn watch_files(registry: FlowRegistry, stop: CancellationToken) -> notify::Result<()> {
    let (changed_tx, mut changed) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        match event {
            Ok(event) if is_relevant(&event) => {
                debug!(kind = ?event.kind, paths = ?event.paths, "IVR file change");
                // Full: a reload is already due, which will read this too.
                let _ = changed_tx.try_send(());
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "watching the IVR files"),
        }
    })?;
    let folders = [
        (registry.dir().to_owned(), RecursiveMode::NonRecursive),
        (registry.prompts_dir().to_owned(), RecursiveMode::Recursive),
    ];
    for (folder, mode) in &folders {
        if folder.is_dir() {
            watcher.watch(folder, *mode)?;
            info!(folder = %folder.display(), "watching for IVR file changes");
        } else {
            info!(folder = %folder.display(), "not watching a missing folder for IVR file changes");
        }
    }
    tokio::spawn(async move {
        // Dropping the watcher ends the watch: it lives as long as the task.
        let _watcher = watcher;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                got = changed.recv() => if got.is_none() { break },
            }
            // Wait for quiet: every further change restarts the wait.
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    more = tokio::time::timeout(DEBOUNCE, changed.recv()) => match more {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_quiet) => break,
                    },
                }
            }
            let _ = reload_now(&registry, "file change").await;
        }
    });
    Ok(())
}

/// A change to a flow, a prompt or a folder; not a read, not an editor's
/// swap or backup file.
fn is_relevant(event: &Event) -> bool {
    let kind = matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
    );
    kind && event.paths.iter().any(|p| is_flow_or_prompt(p))
}

/// `*.toml`, `*.wav`, or a name without extension (a folder, such as a
/// new language's), never hidden (`.demo.toml.swp`).
fn is_flow_or_prompt(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    let wanted = match path.extension() {
        Some(ext) => ext == "toml" || ext == "wav",
        None => true,
    };
    wanted && !hidden
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, ModifyKind};

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(path.into())
    }

    #[test]
    fn flow_prompt_and_folder_changes_count_reads_and_swap_files_do_not() {
        let modify = EventKind::Modify(ModifyKind::Any);
        assert!(is_relevant(&event(modify, "/f/main.toml")));
        assert!(is_relevant(&event(modify, "/f/prompts/en/hello.wav")));
        assert!(is_relevant(&event(
            EventKind::Create(CreateKind::Folder),
            "/f/prompts/ja"
        )));
        assert!(is_relevant(&event(
            EventKind::Remove(notify::event::RemoveKind::File),
            "/f/old.toml"
        )));
        assert!(!is_relevant(&event(
            EventKind::Access(AccessKind::Any),
            "/f/main.toml"
        )));
        assert!(!is_relevant(&event(modify, "/f/.main.toml.swp")));
        assert!(!is_relevant(&event(modify, "/f/main.toml~")));
        assert!(!is_relevant(&event(modify, "/f/README.md")));
    }

    #[tokio::test]
    async fn a_burst_of_changes_makes_one_reload() {
        let dir = tempfile::tempdir().unwrap();
        let flow = "[flow]\nstart = \"bye\"\n\n[steps.bye]\ntype = \"hangup\"\n";
        std::fs::write(dir.path().join("main.toml"), flow).unwrap();
        let prompts = dir.path().join("prompts");
        std::fs::create_dir(&prompts).unwrap();
        let registry = FlowRegistry::load(dir.path(), &prompts).unwrap();
        let stop = CancellationToken::new();
        watch_files(registry.clone(), stop.clone()).unwrap();
        let burst = std::time::Instant::now();
        for i in 0..5 {
            let text = format!("{flow}# edit {i}\n");
            std::fs::write(dir.path().join("main.toml"), text).unwrap();
        }
        let burst = burst.elapsed();
        // Bounded wait for the reload (a busy machine may be slow).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while registry.current().version == 1 {
            assert!(tokio::time::Instant::now() < deadline, "no reload");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Well past the debounce: no second reload for the same burst
        // (unless the machine stalled this test mid-burst for longer than
        // the debounce, when two reloads are right).
        tokio::time::sleep(DEBOUNCE * 4).await;
        if burst < DEBOUNCE / 2 {
            assert_eq!(registry.current().version, 2);
        }
        stop.cancel();
    }
}
