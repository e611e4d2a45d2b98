//! The call-record writer: the one task that writes CDRs, recording
//! rows, callback requests and agent state changes, so that no call actor, SIP transaction or RTP path ever waits on
//! the database.
//!
//! Call actors hold a [`RecordSink`] (cheap to clone) and hand it
//! [`RecordEvent`]s. [`RecordSink::send`] never blocks: the event goes
//! into a bounded queue (10,000 by default), and when the queue is full
//! the event is dropped and counted ([`RecordSink::dropped`]) — losing a
//! record under a database outage beats stalling calls. Where waiting is
//! acceptable (tests, a CLI), [`RecordSink::send_wait`] waits for room.
//!
//! The writer task takes whatever is queued (up to [`MAX_BATCH`]) and
//! writes it in one transaction, in arrival order; being the only writer,
//! it keeps each call's `Started` before its `Ended` (and a recording's
//! start before its close). A start whose end is in the same batch is
//! folded into the end's upsert, which writes the whole row. A batch that fails
//! is retried with backoff (not when the failure is permanent: a row the
//! database refuses). If it still fails and the database answered (it
//! refused something), the batch is written one event at a time so one
//! bad record costs only itself; if the database is unreachable, the
//! batch is given up. Every lost record is logged with its call id and
//! counted ([`RecordSink::failed`]); the task keeps going.
//!
//! Shutdown: when every sink is dropped, or [`WriterHandle::close`] /
//! [`WriterHandle::finish`] is called, the queue stops taking events,
//! the task writes everything already queued, and ends.
//! `handle.finish().await` returns once that is done, so a graceful
//! shutdown loses nothing that was sent before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{AgentStateChange, CallRecord, CallbackRequest, RecordingRecord, Store, StoreError};

/// Queue capacity of [`RecordWriter::spawn`].
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Most events written in one transaction.
pub const MAX_BATCH: usize = 256;

/// Waits before the 2nd, 3rd and 4th attempt at a failed batch.
const BACKOFF: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_millis(1000),
];

/// What a call actor reports. Events of one call keep the order they were
/// sent in (one queue, one writer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordEvent {
    /// The call exists (INVITE accepted for processing): insert its row.
    Started(CallRecord),
    /// The call is over, whatever the outcome: complete (or insert) its row.
    Ended(CallRecord),
    /// A recording file was opened (status `recording`): insert its row
    /// ([`Store::recording_started`]).
    RecordingStarted(RecordingRecord),
    /// A recording file was closed (status `closed`, with size, duration,
    /// sha256 and pauses): complete (or insert) its row
    /// ([`Store::recording_closed`]).
    RecordingClosed(RecordingRecord),
    /// A caller asked to be called back (an IVR flow's `callback`
    /// step, with or without a voicemail, whose file is closed by now):
    /// insert the request, status `open`. Idempotent on the request's id.
    CallbackRequested(CallbackRequest),
    /// An agent entered a state (the ACD saw it): insert the change.
    /// Idempotent on the change's id.
    AgentState(AgentStateChange),
}

impl RecordEvent {
    /// Our id of the call the event is about (empty for an agent state
    /// change about no call).
    pub fn call_id(&self) -> &str {
        match self {
            RecordEvent::Started(r) | RecordEvent::Ended(r) => &r.id,
            RecordEvent::RecordingStarted(r) | RecordEvent::RecordingClosed(r) => &r.call_id,
            RecordEvent::CallbackRequested(r) => &r.call_id,
            RecordEvent::AgentState(r) => r.call_id.as_deref().unwrap_or(""),
        }
    }

    /// The node that reported the event.
    pub fn node_id(&self) -> &str {
        match self {
            RecordEvent::Started(r) | RecordEvent::Ended(r) => &r.node_id,
            RecordEvent::RecordingStarted(r) | RecordEvent::RecordingClosed(r) => &r.node_id,
            RecordEvent::CallbackRequested(r) => &r.node_id,
            RecordEvent::AgentState(r) => &r.node_id,
        }
    }

    /// The call record, for call events.
    pub fn call_record(&self) -> Option<&CallRecord> {
        match self {
            RecordEvent::Started(r) | RecordEvent::Ended(r) => Some(r),
            RecordEvent::RecordingStarted(_)
            | RecordEvent::RecordingClosed(_)
            | RecordEvent::CallbackRequested(_)
            | RecordEvent::AgentState(_) => None,
        }
    }

    /// The recording record, for recording events.
    pub fn recording_record(&self) -> Option<&RecordingRecord> {
        match self {
            RecordEvent::RecordingStarted(r) | RecordEvent::RecordingClosed(r) => Some(r),
            RecordEvent::Started(_)
            | RecordEvent::Ended(_)
            | RecordEvent::CallbackRequested(_)
            | RecordEvent::AgentState(_) => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            RecordEvent::Started(_) => "started",
            RecordEvent::Ended(_) => "ended",
            RecordEvent::RecordingStarted(_) => "recording_started",
            RecordEvent::RecordingClosed(_) => "recording_closed",
            RecordEvent::CallbackRequested(_) => "callback_requested",
            RecordEvent::AgentState(_) => "agent_state",
        }
    }

    /// What a log line names besides the call id: the SIP Call-ID of a
    /// call event, the file of a recording event, the request id of a
    /// callback request, the username of an agent state change.
    fn detail(&self) -> &str {
        match self {
            RecordEvent::Started(r) | RecordEvent::Ended(r) => &r.sip_call_id,
            RecordEvent::RecordingStarted(r) | RecordEvent::RecordingClosed(r) => &r.path,
            RecordEvent::CallbackRequested(r) => &r.id,
            RecordEvent::AgentState(r) => &r.username,
        }
    }
}

/// [`RecordSink::send_wait`] after the writer stopped taking events.
#[derive(Debug, thiserror::Error)]
#[error("the call-record writer is closed")]
pub struct WriterClosed(pub RecordEvent);

/// Counters shared by the sinks and the task.
#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

/// What the writer did, returned by [`WriterHandle::finish`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Events written to the database.
    pub written: u64,
    /// Events the database refused or could not take, after retries.
    pub failed: u64,
    /// Events never queued: the queue was full or already closed.
    pub dropped: u64,
}

impl Counters {
    fn stats(&self) -> WriterStats {
        WriterStats {
            written: self.written.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Where call actors send their records. Clone one per actor.
#[derive(Clone, Debug)]
pub struct RecordSink {
    tx: mpsc::Sender<RecordEvent>,
    counters: Arc<Counters>,
}

impl RecordSink {
    /// Queues an event without waiting. Returns false when it was dropped
    /// (queue full, or the writer closed); drops are counted and logged at
    /// warn (the first, then every 1,000th, so an outage cannot flood the
    /// log).
    pub fn send(&self, ev: RecordEvent) -> bool {
        match self.tx.try_send(ev) {
            Ok(()) => true,
            Err(e) => {
                let (why, ev) = match e {
                    mpsc::error::TrySendError::Full(ev) => ("queue full", ev),
                    mpsc::error::TrySendError::Closed(ev) => ("writer closed", ev),
                };
                let n = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::warn!(
                        call_id = %ev.call_id(),
                        detail = %ev.detail(),
                        event = ev.kind(),
                        dropped_total = n,
                        "call record dropped: {why}"
                    );
                }
                false
            }
        }
    }

    /// Queues an event, waiting for room. Fails only when the writer has
    /// stopped taking events.
    pub async fn send_wait(&self, ev: RecordEvent) -> Result<(), WriterClosed> {
        self.tx.send(ev).await.map_err(|e| WriterClosed(e.0))
    }

    /// Events dropped by [`RecordSink::send`] since the writer started.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Events lost to database failures so far.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }
}

/// Starts the writer task.
pub struct RecordWriter;

impl RecordWriter {
    /// Spawns the writer on the current tokio runtime with a queue of
    /// [`DEFAULT_CAPACITY`] events.
    pub fn spawn(store: Store) -> (RecordSink, WriterHandle) {
        RecordWriter::spawn_with_capacity(store, DEFAULT_CAPACITY)
    }

    /// As [`RecordWriter::spawn`] with a chosen queue size (at least 1).
    pub fn spawn_with_capacity(store: Store, capacity: usize) -> (RecordSink, WriterHandle) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let close = CancellationToken::new();
        let task = tokio::spawn(run(store, rx, close.clone(), counters.clone()));
        (
            RecordSink {
                tx,
                counters: counters.clone(),
            },
            WriterHandle {
                task,
                close,
                counters,
            },
        )
    }
}

/// Controls the writer task's end.
#[derive(Debug)]
pub struct WriterHandle {
    task: JoinHandle<()>,
    close: CancellationToken,
    counters: Arc<Counters>,
}

impl WriterHandle {
    /// Stops taking events (later sends are dropped and counted); what is
    /// already queued is still written.
    pub fn close(&self) {
        self.close.cancel();
    }

    /// Closes the queue, waits until everything queued is written (or
    /// given up on), and returns the totals.
    pub async fn finish(self) -> WriterStats {
        self.close.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "call-record writer task failed");
        }
        self.counters.stats()
    }

    /// The totals so far.
    pub fn stats(&self) -> WriterStats {
        self.counters.stats()
    }
}

async fn run(
    store: Store,
    mut rx: mpsc::Receiver<RecordEvent>,
    close: CancellationToken,
    counters: Arc<Counters>,
) {
    let mut closing = false;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            () = close.cancelled(), if !closing => {
                // Refuse new events; `recv` still yields what is queued,
                // then `None`.
                rx.close();
                closing = true;
                continue;
            }
            ev = rx.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(ev) => batch.push(ev),
                Err(_) => break,
            }
        }
        let merged = coalesce(&mut batch);
        counters.written.fetch_add(merged, Ordering::Relaxed);
        write(&store, &batch, &counters).await;
        batch.clear();
    }
    tracing::debug!(stats = ?counters.stats(), "call-record writer finished");
}

/// Drops each `Started` whose call also ends within the batch, and each
/// `RecordingStarted` whose recording also closes within it: the end's
/// upsert writes the whole row, so a short call (or recording) costs one
/// write, not two. Order is kept. Returns how many events were folded away.
fn coalesce(batch: &mut Vec<RecordEvent>) -> u64 {
    use std::collections::HashSet;
    let mut ended: HashSet<String> = HashSet::new();
    let mut closed: HashSet<String> = HashSet::new();
    for ev in batch.iter() {
        match ev {
            RecordEvent::Ended(r) => {
                ended.insert(r.id.clone());
            }
            RecordEvent::RecordingClosed(r) => {
                closed.insert(r.id.clone());
            }
            RecordEvent::Started(_)
            | RecordEvent::RecordingStarted(_)
            | RecordEvent::CallbackRequested(_)
            | RecordEvent::AgentState(_) => {}
        }
    }
    if ended.is_empty() && closed.is_empty() {
        return 0;
    }
    let before = batch.len();
    batch.retain(|ev| match ev {
        RecordEvent::Started(r) => !ended.contains(&r.id),
        RecordEvent::RecordingStarted(r) => !closed.contains(&r.id),
        RecordEvent::Ended(_)
        | RecordEvent::RecordingClosed(_)
        | RecordEvent::CallbackRequested(_)
        | RecordEvent::AgentState(_) => true,
    });
    (before - batch.len()) as u64
}

/// Writes one batch: in one transaction with retries, then one by one.
async fn write(store: &Store, batch: &[RecordEvent], counters: &Counters) {
    let mut last_err = None;
    for attempt in 0..=BACKOFF.len() {
        match store.write_batch(batch).await {
            Ok(()) => {
                counters
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                let permanent = e.is_permanent();
                tracing::warn!(
                    error = %e,
                    attempt = attempt + 1,
                    events = batch.len(),
                    first_call_id = %batch.first().map(RecordEvent::call_id).unwrap_or(""),
                    "call-record batch failed"
                );
                last_err = Some(e);
                if permanent {
                    break;
                }
                if let Some(wait) = BACKOFF.get(attempt) {
                    tokio::time::sleep(*wait).await;
                }
            }
        }
    }
    if batch.len() == 1 || !last_err.as_ref().is_some_and(database_answered) {
        // The database itself is unreachable: one-by-one would fail the
        // same way, only slower.
        for ev in batch {
            lost(ev, last_err.as_ref(), counters);
        }
        return;
    }
    // A row was refused: isolate it.
    for ev in batch {
        match store.write_batch(std::slice::from_ref(ev)).await {
            Ok(()) => {
                counters.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => lost(ev, Some(&e), counters),
        }
    }
}

/// True when the failure came from a database that is up and refused
/// something in the batch, so writing the events one by one can save the
/// others.
fn database_answered(e: &StoreError) -> bool {
    e.is_permanent() || matches!(e, StoreError::Database(sqlx::Error::Database(_)))
}

fn lost(ev: &RecordEvent, err: Option<&StoreError>, counters: &Counters) {
    counters.failed.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        call_id = %ev.call_id(),
        detail = %ev.detail(),
        node_id = %ev.node_id(),
        event = ev.kind(),
        error = %err.map(ToString::to_string).unwrap_or_default(),
        "call record lost"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallRecord, Direction};

    fn record(id: &str) -> CallRecord {
        CallRecord {
            id: id.into(),
            node_id: "n".into(),
            sip_call_id: format!("{id}@test"),
            direction: Direction::Inbound,
            trunk: None,
            from_number: "1".into(),
            to_number: "100".into(),
            started_at_ms: 1,
            answered_at_ms: None,
            ended_at_ms: None,
            outcome: None,
            final_sip_code: None,
            hangup_cause: None,
            ivr_path: None,
            customer_id: None,
            queue: None,
            queued_at_ms: None,
            agent: None,
            connected_at_ms: None,
            out_trunk: None,
            out_sip_call_id: None,
        }
    }

    #[test]
    fn a_call_that_ends_in_the_same_batch_is_written_once() {
        let mut batch = vec![
            RecordEvent::Started(record("a")),
            RecordEvent::Started(record("b")),
            RecordEvent::Ended(record("a")),
        ];
        assert_eq!(coalesce(&mut batch), 1);
        let kinds: Vec<(&str, bool)> = batch
            .iter()
            .map(|ev| (ev.call_id(), matches!(ev, RecordEvent::Ended(_))))
            .collect();
        assert_eq!(kinds, [("b", false), ("a", true)]);
    }

    #[test]
    fn nothing_is_folded_without_an_end() {
        let mut batch = vec![RecordEvent::Started(record("a"))];
        assert_eq!(coalesce(&mut batch), 0);
        assert_eq!(batch.len(), 1);
    }

    fn recording(id: &str, call: &str) -> RecordingRecord {
        RecordingRecord::started(id, call, "n", format!("2024/01/01/{call}.wav"), 1)
    }

    #[test]
    fn a_recording_that_closes_in_the_same_batch_is_written_once() {
        let mut closed = recording("r1", "a");
        closed.status = crate::store::RecordingStatus::Closed;
        let mut batch = vec![
            RecordEvent::Started(record("a")),
            RecordEvent::RecordingStarted(recording("r1", "a")),
            RecordEvent::RecordingStarted(recording("r2", "b")),
            RecordEvent::RecordingClosed(closed),
        ];
        assert_eq!(coalesce(&mut batch), 1);
        let kinds: Vec<(&str, &str)> = batch.iter().map(|ev| (ev.call_id(), ev.kind())).collect();
        assert_eq!(
            kinds,
            [
                ("a", "started"),
                ("b", "recording_started"),
                ("a", "recording_closed"),
            ]
        );
    }

    #[test]
    fn call_and_recording_ids_do_not_mix() {
        // A recording whose id equals a call's id must not fold that
        // call's start, and the other way round.
        let mut batch = vec![
            RecordEvent::Started(record("x")),
            RecordEvent::RecordingStarted(recording("y", "x")),
            RecordEvent::RecordingClosed(recording("x", "x")),
            RecordEvent::Ended(record("y")),
        ];
        assert_eq!(coalesce(&mut batch), 0);
        assert_eq!(batch.len(), 4);
    }

    #[test]
    fn events_name_their_call() {
        let r = recording("r", "call-9");
        let ev = RecordEvent::RecordingClosed(r.clone());
        assert_eq!(ev.call_id(), "call-9");
        assert_eq!(ev.recording_record(), Some(&r));
        assert_eq!(ev.call_record(), None);
        let c = record("call-9");
        let ev = RecordEvent::Started(c.clone());
        assert_eq!(ev.call_id(), "call-9");
        assert_eq!(ev.call_record(), Some(&c));
        assert_eq!(ev.recording_record(), None);
    }
}
