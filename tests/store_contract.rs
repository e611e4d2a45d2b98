//! The store contract: every case below runs against SQLite (a temp file)
//! and PostgreSQL (a fresh `hibiki_test_<random>` database on
//! 127.0.0.1:5432, dropped afterwards, also when the case fails).
//!
//! When PostgreSQL does not answer, its half prints
//! `SKIPPED postgres: <reason>` and passes — unless
//! `HIBIKI_TEST_POSTGRES=required`, in which case it fails.
//! `HIBIKI_TEST_POSTGRES_URL` points the tests at another server (its
//! user must be allowed to create databases).

#[macro_use]
mod store_harness;

use std::time::Duration;

use hibiki::store::{
    CallRecord, Direction, Outcome, Pause, RecordEvent, RecordWriter, RecordingRecord,
    RecordingStatus, Store, StoreError,
};

contract!(
    migrate_twice_is_a_noop,
    started_then_ended_round_trips_every_field,
    ended_without_started_inserts,
    started_twice_keeps_one_row,
    close_orphaned_touches_only_this_nodes_open_calls,
    recent_calls_newest_first_with_limit,
    calls_by_sip_call_id_finds_all,
    batch_is_all_or_nothing,
    nul_bytes_are_stored_as_replacement_characters,
    writer_isolates_a_refused_record,
    writer_stores_every_event_after_finish,
    writer_counts_drops_when_full,
    recordings_survive_migrate_twice,
    recording_started_then_closed_round_trips_every_field,
    recording_closed_without_started_inserts,
    open_recordings_are_this_nodes_unclosed_ones,
    recordings_for_call_oldest_first,
    recording_rows_need_no_call_row,
    recording_batch_is_all_or_nothing,
    writer_carries_recording_events_in_order_with_call_events,
    writer_leaves_open_recordings_for_the_repair,
    the_ivr_path_is_written_with_the_end,
    the_acd_columns_are_written_and_a_null_end_keeps_them,
);

// ---------------------------------------------------------------- fixtures

fn started(id: &str, node: &str, started_at_ms: i64) -> CallRecord {
    CallRecord {
        id: id.to_owned(),
        node_id: node.to_owned(),
        sip_call_id: format!("sip-{id}@10.0.0.1"),
        direction: Direction::Inbound,
        trunk: None,
        from_number: "+15551230000".to_owned(),
        to_number: "100".to_owned(),
        started_at_ms,
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

fn ended(mut r: CallRecord, outcome: Outcome, code: u16, cause: &str) -> CallRecord {
    r.ended_at_ms = Some(r.started_at_ms + 30_000);
    r.outcome = Some(outcome);
    r.final_sip_code = Some(code);
    r.hangup_cause = Some(cause.to_owned());
    r
}

fn recording(id: &str, call_id: &str, node: &str, started_at_ms: i64) -> RecordingRecord {
    RecordingRecord::started(
        id,
        call_id,
        node,
        format!("2024/03/15/{call_id}.wav"),
        started_at_ms,
    )
}

/// The recording as the recorder reports it at close: one minute of
/// stereo 8 kHz 16-bit audio with one pause.
fn closed(mut r: RecordingRecord) -> RecordingRecord {
    r.ended_at_ms = Some(r.started_at_ms + 60_000);
    r.duration_ms = 60_000;
    r.bytes = 44 + 60 * 8000 * 2 * 2;
    r.sha256 = Some(format!("{:0>64}", r.id.len()));
    r.status = RecordingStatus::Closed;
    r.pauses = vec![Pause {
        start_ms: 10_000,
        end_ms: 25_020,
    }];
    r
}

// ---------------------------------------------------------------- cases

async fn migrate_twice_is_a_noop(store: Store) {
    store.call_started(&started("a", "n1", 1)).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.count_calls().await.unwrap(), 1, "data survives");
    store.ping().await.unwrap();
}

async fn started_then_ended_round_trips_every_field(store: Store) {
    let mut start = started("call-1", "node-a", 1_700_000_000_123);
    start.direction = Direction::Outbound;
    start.trunk = Some("carrier-1".to_owned());
    start.sip_call_id = "abc@host".to_owned();
    start.from_number = "sip:anonymous@anonymous.invalid".to_owned();
    start.to_number = "+4930123456".to_owned();
    store.call_started(&start).await.unwrap();
    assert_eq!(store.call("call-1").await.unwrap(), Some(start.clone()));
    assert_eq!(store.call("nope").await.unwrap(), None);

    let mut end = start.clone();
    end.answered_at_ms = Some(1_700_000_002_000);
    end.ended_at_ms = Some(1_700_000_062_500);
    end.outcome = Some(Outcome::Answered);
    end.final_sip_code = Some(200);
    end.hangup_cause = Some("normal".to_owned());
    store.call_ended(&end).await.unwrap();
    assert_eq!(store.call("call-1").await.unwrap(), Some(end.clone()));

    // Every outcome survives the text round trip; `None` fields stay None.
    for (i, outcome) in Outcome::ALL.into_iter().enumerate() {
        let id = format!("o-{i}");
        let r = ended(started(&id, "node-a", 10 + i as i64), outcome, 486, "busy");
        store.call_ended(&r).await.unwrap();
        let back = store.call(&id).await.unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(back.trunk, None);
        assert_eq!(back.answered_at_ms, None);
    }
    // Extreme values fit.
    let mut r = started("big", "node-a", i64::MAX);
    r.final_sip_code = Some(u16::MAX);
    store.call_ended(&r).await.unwrap();
    assert_eq!(store.call("big").await.unwrap(), Some(r));
}

async fn ended_without_started_inserts(store: Store) {
    let r = ended(
        started("lonely", "node-a", 5_000),
        Outcome::Cancelled,
        487,
        "cancelled",
    );
    store.call_ended(&r).await.unwrap();
    assert_eq!(store.call("lonely").await.unwrap(), Some(r.clone()));
    // An ended record without answer time keeps one already stored.
    let mut answered = r.clone();
    answered.answered_at_ms = Some(6_000);
    store.call_ended(&answered).await.unwrap();
    store.call_ended(&r).await.unwrap();
    let back = store.call("lonely").await.unwrap().unwrap();
    assert_eq!(back.answered_at_ms, Some(6_000));
    assert_eq!(store.count_calls().await.unwrap(), 1);
}

async fn started_twice_keeps_one_row(store: Store) {
    let r = started("dup", "node-a", 1);
    store.call_started(&r).await.unwrap();
    let e = ended(r.clone(), Outcome::Answered, 200, "normal");
    store.call_ended(&e).await.unwrap();
    // A late or repeated start must not undo the end.
    store.call_started(&r).await.unwrap();
    assert_eq!(store.count_calls().await.unwrap(), 1);
    assert_eq!(store.call("dup").await.unwrap(), Some(e));
}

async fn close_orphaned_touches_only_this_nodes_open_calls(store: Store) {
    let open_a1 = started("a1", "node-a", 100);
    let open_a2 = started("a2", "node-a", 200);
    let done_a = ended(started("a3", "node-a", 300), Outcome::Busy, 486, "busy");
    let open_b = started("b1", "node-b", 400);
    for r in [&open_a1, &open_a2, &open_b] {
        store.call_started(r).await.unwrap();
    }
    store.call_ended(&done_a).await.unwrap();

    let n = store
        .close_orphaned_calls("node-a", 9_999, "server_restart")
        .await
        .unwrap();
    assert_eq!(n, 2);
    for id in ["a1", "a2"] {
        let r = store.call(id).await.unwrap().unwrap();
        assert_eq!(r.ended_at_ms, Some(9_999));
        assert_eq!(r.outcome, Some(Outcome::Failed));
        assert_eq!(r.hangup_cause.as_deref(), Some("server_restart"));
        assert_eq!(r.final_sip_code, None);
    }
    assert_eq!(store.call("a3").await.unwrap(), Some(done_a));
    assert_eq!(store.call("b1").await.unwrap(), Some(open_b));
    // Nothing left to close.
    let again = store
        .close_orphaned_calls("node-a", 10_000, "server_restart")
        .await
        .unwrap();
    assert_eq!(again, 0);
}

async fn recent_calls_newest_first_with_limit(store: Store) {
    assert!(store.recent_calls(10).await.unwrap().is_empty());
    // Inserted out of order on purpose.
    for (id, t) in [
        ("c3", 3_000),
        ("c1", 1_000),
        ("c5", 5_000),
        ("c2", 2_000),
        ("c4", 4_000),
    ] {
        store.call_started(&started(id, "n", t)).await.unwrap();
    }
    let ids = |v: Vec<CallRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.recent_calls(3).await.unwrap()),
        ["c5", "c4", "c3"]
    );
    assert_eq!(
        ids(store.recent_calls(100).await.unwrap()),
        ["c5", "c4", "c3", "c2", "c1"]
    );
    assert!(store.recent_calls(0).await.unwrap().is_empty());
    assert_eq!(store.count_calls().await.unwrap(), 5);
}

async fn calls_by_sip_call_id_finds_all(store: Store) {
    let mut first = started("x1", "n", 10);
    first.sip_call_id = "same@host".to_owned();
    let mut second = started("x2", "n", 20);
    second.sip_call_id = "same@host".to_owned();
    let other = started("y", "n", 15);
    for r in [&second, &other, &first] {
        store.call_started(r).await.unwrap();
    }
    assert_eq!(
        store.calls_by_sip_call_id("same@host").await.unwrap(),
        vec![first, second]
    );
    assert!(store
        .calls_by_sip_call_id("missing@host")
        .await
        .unwrap()
        .is_empty());
}

async fn batch_is_all_or_nothing(store: Store) {
    let ok = started("ok", "n", 1);
    // The schema refuses times before 1970 (a CHECK in both databases).
    let bad = started("bad", "n", -1);
    let err = store
        .write_batch(&[RecordEvent::Started(ok.clone()), RecordEvent::Started(bad)])
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "a refused row is permanent: {err}");
    assert_eq!(
        store.count_calls().await.unwrap(),
        0,
        "nothing of the batch"
    );
    let batch = [
        RecordEvent::Started(ok.clone()),
        RecordEvent::Ended(ok.clone()),
    ];
    store.write_batch(&batch).await.unwrap();
    assert_eq!(store.call("ok").await.unwrap(), Some(ok));
}

async fn nul_bytes_are_stored_as_replacement_characters(store: Store) {
    // A hostile From header may carry a NUL; PostgreSQL text cannot.
    let mut r = started("nul\0id", "n", 1);
    r.from_number = "12\u{0}3".to_owned();
    r.trunk = Some("t\0".to_owned());
    store.call_started(&r).await.unwrap();
    let back = store.call("nul\0id").await.unwrap().unwrap();
    assert_eq!(back.id, "nul\u{FFFD}id");
    assert_eq!(back.from_number, "12\u{FFFD}3");
    assert_eq!(back.trunk.as_deref(), Some("t\u{FFFD}"));
    let e = ended(r, Outcome::Failed, 500, "x\0");
    store.call_ended(&e).await.unwrap();
    let back = store.call("nul\u{FFFD}id").await.unwrap().unwrap();
    assert_eq!(back.hangup_cause.as_deref(), Some("x\u{FFFD}"));
    assert_eq!(store.count_calls().await.unwrap(), 1);
}

async fn writer_isolates_a_refused_record(store: Store) {
    let (sink, handle) = RecordWriter::spawn(store.clone());
    // Queued together (nothing awaits in between on this single-threaded
    // runtime), so they reach the database as one batch.
    let good1 = ended(started("g1", "n", 1), Outcome::Answered, 200, "normal");
    let bad = started("bad", "n", -5);
    let good2 = started("g2", "n", 2);
    assert!(sink.send(RecordEvent::Ended(good1.clone())));
    assert!(sink.send(RecordEvent::Started(bad)));
    assert!(sink.send(RecordEvent::Started(good2.clone())));
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed, stats.dropped), (2, 1, 0));
    assert_eq!(sink.failed(), 1);
    assert_eq!(store.call("g1").await.unwrap(), Some(good1));
    assert_eq!(store.call("g2").await.unwrap(), Some(good2));
    assert_eq!(store.call("bad").await.unwrap(), None);
}

async fn writer_stores_every_event_after_finish(store: Store) {
    let (sink, handle) = RecordWriter::spawn(store.clone());
    let mut expected = Vec::new();
    for i in 0..500 {
        let r = started(&format!("w-{i:04}"), "node-w", 1_000 + i);
        let end = ended(r.clone(), Outcome::Answered, 200, "normal");
        // Two senders, like two call actors.
        let other = sink.clone();
        assert!(sink.send(RecordEvent::Started(r)));
        assert!(other.send(RecordEvent::Ended(end.clone())));
        expected.push(end);
    }
    drop(sink);
    let stats = handle.finish().await;
    assert_eq!(stats.written, 1_000);
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.dropped, 0);
    assert_eq!(store.count_calls().await.unwrap(), 500);
    for e in expected.iter().step_by(37) {
        assert_eq!(store.call(&e.id).await.unwrap().as_ref(), Some(e));
    }
    let open = store
        .close_orphaned_calls("node-w", 1, "server_restart")
        .await
        .unwrap();
    assert_eq!(open, 0, "every Ended landed after its Started");
}

async fn writer_counts_drops_when_full(store: Store) {
    let (sink, handle) = RecordWriter::spawn_with_capacity(store.clone(), 1);
    // The test runtime is single-threaded and nothing below awaits, so
    // the writer task cannot run: the queue holds exactly one event.
    let sent: Vec<bool> = (0..5)
        .map(|i| sink.send(RecordEvent::Started(started(&format!("d{i}"), "n", i))))
        .collect();
    assert_eq!(sent, [true, false, false, false, false]);
    assert_eq!(sink.dropped(), 4);

    let stats = handle.finish().await;
    assert_eq!(stats.written, 1);
    assert_eq!(stats.dropped, 4);
    assert_eq!(store.count_calls().await.unwrap(), 1);
    assert!(store.call("d0").await.unwrap().is_some());

    // After finish the queue is closed: sends are refused and counted.
    assert!(!sink.send(RecordEvent::Started(started("late", "n", 9))));
    assert_eq!(sink.dropped(), 5);
    assert!(sink
        .send_wait(RecordEvent::Started(started("late", "n", 9)))
        .await
        .is_err());
}

async fn recordings_survive_migrate_twice(store: Store) {
    let r = closed(recording("r", "c", "n1", 1));
    store.recording_closed(&r).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.recording("r").await.unwrap(), Some(r));
}

async fn recording_started_then_closed_round_trips_every_field(store: Store) {
    let start = recording("rec-1", "call-1", "node-a", 1_700_000_000_123);
    store.recording_started(&start).await.unwrap();
    let back = store.recording("rec-1").await.unwrap().unwrap();
    assert_eq!(back, start);
    assert_eq!(back.status, RecordingStatus::Recording);
    assert_eq!((back.channels, back.sample_rate), (2, 8000));
    assert_eq!((back.ended_at_ms, back.sha256), (None, None));
    assert!(back.pauses.is_empty());
    assert_eq!(store.recording("nope").await.unwrap(), None);

    let mut end = start.clone();
    end.ended_at_ms = Some(1_700_000_063_000);
    end.duration_ms = 62_877;
    end.bytes = 2_012_108;
    end.sha256 =
        Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned());
    end.status = RecordingStatus::Closed;
    end.pauses = vec![
        Pause {
            start_ms: 5_000,
            end_ms: 9_020,
        },
        Pause {
            start_ms: 30_000,
            end_ms: 41_500,
        },
    ];
    store.recording_closed(&end).await.unwrap();
    assert_eq!(store.recording("rec-1").await.unwrap(), Some(end.clone()));

    // Every status and the extremes of every count survive.
    for (i, status) in RecordingStatus::ALL.into_iter().enumerate() {
        let mut r = closed(recording(&format!("s-{i}"), "call-2", "node-a", i as i64));
        r.status = status;
        r.duration_ms = i64::MAX as u64;
        r.bytes = i64::MAX as u64;
        r.channels = u16::MAX;
        r.sample_rate = u32::MAX;
        r.pauses = vec![Pause {
            start_ms: u64::MAX,
            end_ms: u64::MAX,
        }];
        store.recording_closed(&r).await.unwrap();
        assert_eq!(store.recording(&r.id).await.unwrap(), Some(r));
    }
    // NUL in text: stored as U+FFFD, like the calls table.
    let mut r = recording("nul\0rec", "c\0", "n", 1);
    r.path = "2024/01/01/\0.wav".to_owned();
    store.recording_started(&r).await.unwrap();
    let back = store.recording("nul\u{FFFD}rec").await.unwrap().unwrap();
    assert_eq!(back.call_id, "c\u{FFFD}");
    assert_eq!(back.path, "2024/01/01/\u{FFFD}.wav");
}

async fn recording_closed_without_started_inserts(store: Store) {
    let r = closed(recording("lonely", "call-l", "node-a", 5_000));
    store.recording_closed(&r).await.unwrap();
    assert_eq!(store.recording("lonely").await.unwrap(), Some(r.clone()));
    // A late or repeated start must not reopen it.
    store
        .recording_started(&recording("lonely", "call-l", "node-a", 5_000))
        .await
        .unwrap();
    assert_eq!(store.recording("lonely").await.unwrap(), Some(r.clone()));
    // A second close (the repair of a row already closed) overwrites what
    // the file turned out to be, never where and when it started.
    let mut again = r.clone();
    again.status = RecordingStatus::Repaired;
    again.sha256 = None;
    again.bytes = 44;
    again.pauses = Vec::new();
    again.path = "elsewhere.wav".to_owned();
    again.started_at_ms = 1;
    again.call_id = "other-call".to_owned();
    store.recording_closed(&again).await.unwrap();
    let back = store.recording("lonely").await.unwrap().unwrap();
    assert_eq!(back.status, RecordingStatus::Repaired);
    assert_eq!((back.sha256, back.bytes), (None, 44));
    assert!(back.pauses.is_empty());
    assert_eq!(back.path, r.path);
    assert_eq!(back.started_at_ms, r.started_at_ms);
    assert_eq!(back.call_id, r.call_id);
    assert_eq!(store.recordings_for_call("call-l").await.unwrap().len(), 1);
}

async fn open_recordings_are_this_nodes_unclosed_ones(store: Store) {
    assert!(store.open_recordings("node-a").await.unwrap().is_empty());
    let open_a2 = recording("a2", "ca2", "node-a", 200);
    let open_a1 = recording("a1", "ca1", "node-a", 100);
    let open_b = recording("b1", "cb1", "node-b", 50);
    for r in [&open_a2, &open_b, &open_a1] {
        store.recording_started(r).await.unwrap();
    }
    for (id, status) in [
        ("a3", RecordingStatus::Closed),
        ("a4", RecordingStatus::Repaired),
        ("a5", RecordingStatus::Failed),
    ] {
        let mut r = closed(recording(id, "cx", "node-a", 1));
        r.status = status;
        store
            .recording_started(&recording(id, "cx", "node-a", 1))
            .await
            .unwrap();
        store.recording_closed(&r).await.unwrap();
    }
    assert_eq!(
        store.open_recordings("node-a").await.unwrap(),
        vec![open_a1.clone(), open_a2.clone()]
    );
    assert_eq!(store.open_recordings("node-b").await.unwrap(), vec![open_b]);
    assert!(store.open_recordings("node-c").await.unwrap().is_empty());

    // The start-up repair: each open row closed as repaired (or failed).
    for r in store.open_recordings("node-a").await.unwrap() {
        let repaired = RecordingRecord {
            ended_at_ms: Some(r.started_at_ms + 1_000),
            duration_ms: 980,
            bytes: 44 + 980 * 32,
            status: RecordingStatus::Repaired,
            ..r
        };
        store.recording_closed(&repaired).await.unwrap();
    }
    assert!(store.open_recordings("node-a").await.unwrap().is_empty());
    let a1 = store.recording("a1").await.unwrap().unwrap();
    assert_eq!(a1.status, RecordingStatus::Repaired);
    assert_eq!(a1.ended_at_ms, Some(1_100));
    assert_eq!(store.open_recordings("node-b").await.unwrap().len(), 1);
}

async fn recordings_for_call_oldest_first(store: Store) {
    // Inserted out of order on purpose; r-b and r-a start together (the
    // id breaks the tie).
    let later = closed(recording("r-c", "call-1", "n", 3_000));
    let tie_b = recording("r-b", "call-1", "n", 1_000);
    let tie_a = recording("r-a", "call-1", "n", 1_000);
    let other = recording("r-x", "call-2", "n", 500);
    store.recording_closed(&later).await.unwrap();
    for r in [&tie_b, &other, &tie_a] {
        store.recording_started(r).await.unwrap();
    }
    assert_eq!(
        store.recordings_for_call("call-1").await.unwrap(),
        vec![tie_a, tie_b, later]
    );
    assert_eq!(
        store.recordings_for_call("call-2").await.unwrap(),
        vec![other]
    );
    assert!(store.recordings_for_call("none").await.unwrap().is_empty());
}

async fn recording_rows_need_no_call_row(store: Store) {
    // The call row comes later (or never: the writer dropped it); the
    // recording row is kept either way. No foreign key, by design.
    let r = closed(recording("early", "call-later", "n", 10));
    store.recording_closed(&r).await.unwrap();
    assert_eq!(store.count_calls().await.unwrap(), 0);
    let call = ended(
        started("call-later", "n", 5),
        Outcome::Answered,
        200,
        "normal",
    );
    store.call_ended(&call).await.unwrap();
    assert_eq!(store.recordings_for_call(&call.id).await.unwrap(), vec![r]);
}

async fn recording_batch_is_all_or_nothing(store: Store) {
    let call = started("ok", "n", 1);
    // The schema refuses times before 1970.
    let bad = recording("bad", "ok", "n", -1);
    let err = store
        .write_batch(&[
            RecordEvent::Started(call.clone()),
            RecordEvent::RecordingStarted(recording("good", "ok", "n", 2)),
            RecordEvent::RecordingStarted(bad),
        ])
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "a refused row is permanent: {err}");
    assert_eq!(store.count_calls().await.unwrap(), 0);
    assert_eq!(store.recording("good").await.unwrap(), None);
}

async fn writer_carries_recording_events_in_order_with_call_events(store: Store) {
    let (sink, handle) = RecordWriter::spawn(store.clone());
    let mut calls = Vec::new();
    let mut recs = Vec::new();
    // 5 events a call, 300 calls: more than one batch, so some starts and
    // their ends fall in different transactions. Each recording is closed
    // twice, the final close last: it can only win if order is kept
    // (a start and its close commute; two closes do not).
    for i in 0..300 {
        let call = started(&format!("wc-{i:04}"), "node-w", 1_000 + i);
        let rec = recording(&format!("wr-{i:04}"), &call.id, "node-w", 2_000 + i);
        let end_call = ended(call.clone(), Outcome::Answered, 200, "normal");
        let end_rec = closed(rec.clone());
        assert!(sink.send(RecordEvent::Started(call)));
        let mut provisional = end_rec.clone();
        provisional.status = RecordingStatus::Failed;
        provisional.bytes = 44;
        provisional.sha256 = None;
        assert!(sink.send(RecordEvent::RecordingStarted(rec)));
        assert!(sink.send(RecordEvent::RecordingClosed(provisional)));
        assert!(sink.send(RecordEvent::RecordingClosed(end_rec.clone())));
        assert!(sink.send(RecordEvent::Ended(end_call.clone())));
        calls.push(end_call);
        recs.push(end_rec);
    }
    drop(sink);
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed, stats.dropped), (1_500, 0, 0));
    assert_eq!(store.count_calls().await.unwrap(), 300);
    assert!(
        store.open_recordings("node-w").await.unwrap().is_empty(),
        "every close landed after its start"
    );
    assert_eq!(
        store
            .close_orphaned_calls("node-w", 1, "server_restart")
            .await
            .unwrap(),
        0
    );
    for (c, r) in calls.iter().zip(&recs) {
        assert_eq!(store.call(&c.id).await.unwrap().as_ref(), Some(c));
        assert_eq!(
            store.recordings_for_call(&c.id).await.unwrap(),
            vec![r.clone()]
        );
    }
}

async fn writer_leaves_open_recordings_for_the_repair(store: Store) {
    // A first writer (a node that then crashes) writes the starts only.
    let call = started("crash-call", "node-k", 10);
    let rec = recording("crash-rec", "crash-call", "node-k", 20);
    let (sink, handle) = RecordWriter::spawn(store.clone());
    assert!(sink.send(RecordEvent::Started(call.clone())));
    assert!(sink.send(RecordEvent::RecordingStarted(rec.clone())));
    // An unrelated recording closes on another node in the same batch.
    let other = closed(recording("other", "other-call", "node-z", 30));
    assert!(sink.send(RecordEvent::RecordingStarted(recording(
        "other",
        "other-call",
        "node-z",
        30
    ))));
    assert!(sink.send(RecordEvent::RecordingClosed(other.clone())));
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed), (4, 0));
    assert_eq!(
        store.open_recordings("node-k").await.unwrap(),
        vec![rec.clone()]
    );
    assert_eq!(store.recording("other").await.unwrap(), Some(other));

    // The restarted node: close the call, repair and close the recording.
    assert_eq!(
        store
            .close_orphaned_calls("node-k", 99, "server_restart")
            .await
            .unwrap(),
        1
    );
    let open = store.open_recordings("node-k").await.unwrap();
    assert_eq!(open.len(), 1);
    for r in open {
        let repaired = RecordingRecord {
            ended_at_ms: Some(99),
            duration_ms: 40,
            bytes: 44 + 40 * 32,
            status: RecordingStatus::Repaired,
            ..r
        };
        store.recording_closed(&repaired).await.unwrap();
    }
    let back = store.recording("crash-rec").await.unwrap().unwrap();
    assert_eq!(back.status, RecordingStatus::Repaired);
    assert_eq!((back.ended_at_ms, back.sha256), (Some(99), None));
    assert!(store.open_recordings("node-k").await.unwrap().is_empty());
}

async fn the_ivr_path_is_written_with_the_end(store: Store) {
    let path = serde_json::json!([
        {"node": "start", "at_ms": 0},
        {"node": "menu", "digits": "2", "at_ms": 3_500},
        {"node": "callback", "voicemail": true, "name": "山田 花子"},
    ]);
    // Through the writer, start and end in different batches.
    let start = started("ivr-1", "n", 10);
    let mut end = ended(start.clone(), Outcome::Answered, 200, "normal");
    end.ivr_path = Some(path.clone());
    let (sink, handle) = RecordWriter::spawn(store.clone());
    assert!(sink.send(RecordEvent::Started(start.clone())));
    handle.finish().await;
    assert_eq!(store.call("ivr-1").await.unwrap(), Some(start));
    let (sink, handle) = RecordWriter::spawn(store.clone());
    assert!(sink.send(RecordEvent::Ended(end.clone())));
    handle.finish().await;
    assert_eq!(store.call("ivr-1").await.unwrap(), Some(end.clone()));
    // An end that does not know the path (an orphan closed by a peer
    // node, a repeated end) keeps the one stored.
    let mut again = end.clone();
    again.ivr_path = None;
    store.call_ended(&again).await.unwrap();
    assert_eq!(store.call("ivr-1").await.unwrap(), Some(end));
    // An end written without its start carries the path too; a call that
    // ran no flow has none.
    let mut direct = ended(
        started("ivr-2", "n", 20),
        Outcome::Cancelled,
        487,
        "cancelled",
    );
    direct.ivr_path = Some(serde_json::json!([]));
    store.call_ended(&direct).await.unwrap();
    assert_eq!(store.call("ivr-2").await.unwrap(), Some(direct));
    let plain = ended(started("ivr-3", "n", 30), Outcome::Busy, 486, "busy");
    store.call_ended(&plain).await.unwrap();
    assert_eq!(store.call("ivr-3").await.unwrap().unwrap().ivr_path, None);
}

async fn the_acd_columns_are_written_and_a_null_end_keeps_them(store: Store) {
    // The start knows the customer (caller-id lookup) and the queue.
    let mut start = started("acd-1", "n", 1_000);
    start.customer_id = Some("cust-1".to_owned());
    start.queue = Some("support".to_owned());
    start.queued_at_ms = Some(1_500);
    store.call_started(&start).await.unwrap();
    assert_eq!(store.call("acd-1").await.unwrap(), Some(start.clone()));

    // The end knows the agent too, and the leg placed through a trunk.
    let mut end = ended(start.clone(), Outcome::Answered, 200, "normal");
    end.agent = Some("agent1".to_owned());
    end.connected_at_ms = Some(9_000);
    end.out_trunk = Some("carrier".to_owned());
    end.out_sip_call_id = Some("leg-1@hibiki".to_owned());
    end.answered_at_ms = Some(1_200);
    store.call_ended(&end).await.unwrap();
    assert_eq!(store.call("acd-1").await.unwrap(), Some(end.clone()));

    // A later end that knows none of them (a repeated end, an orphan
    // closed elsewhere) erases nothing.
    let mut bare = ended(
        started("acd-1", "n", 1_000),
        Outcome::Answered,
        200,
        "normal",
    );
    bare.answered_at_ms = Some(1_200);
    store.call_ended(&bare).await.unwrap();
    assert_eq!(store.call("acd-1").await.unwrap(), Some(end.clone()));

    // An end that knows only some of them sets those, keeps the others.
    let mut partial = bare.clone();
    partial.agent = Some("agent2".to_owned());
    store.call_ended(&partial).await.unwrap();
    let back = store.call("acd-1").await.unwrap().unwrap();
    assert_eq!(back.agent.as_deref(), Some("agent2"));
    assert_eq!(back.queue.as_deref(), Some("support"));
    assert_eq!(back.customer_id.as_deref(), Some("cust-1"));
    assert_eq!(
        (back.queued_at_ms, back.connected_at_ms),
        (Some(1_500), Some(9_000))
    );
    assert_eq!(
        (back.out_trunk.as_deref(), back.out_sip_call_id.as_deref()),
        (Some("carrier"), Some("leg-1@hibiki"))
    );

    // Through the writer, an end written without its start (same batch)
    // carries every column; NUL bytes are replaced like elsewhere.
    let mut direct = ended(
        started("acd-2", "n", 2_000),
        Outcome::Answered,
        200,
        "normal",
    );
    direct.customer_id = Some("c\0x".to_owned());
    direct.queue = Some("billing".to_owned());
    direct.queued_at_ms = Some(2_100);
    direct.agent = Some("agent2".to_owned());
    direct.connected_at_ms = Some(i64::MAX);
    direct.out_trunk = Some("carrier".to_owned());
    direct.out_sip_call_id = Some("leg-2@hibiki".to_owned());
    let (sink, handle) = RecordWriter::spawn(store.clone());
    assert!(sink.send(RecordEvent::Started(started("acd-2", "n", 2_000))));
    assert!(sink.send(RecordEvent::Ended(direct.clone())));
    handle.finish().await;
    let back = store.call("acd-2").await.unwrap().unwrap();
    assert_eq!(back.customer_id.as_deref(), Some("c\u{FFFD}x"));
    direct.customer_id = back.customer_id.clone();
    assert_eq!(back, direct);
}

// ---------------------------------------------------------------- no backend

#[tokio::test]
async fn other_urls_are_refused() {
    for url in [
        "mysql://root:secret@127.0.0.1/hibiki",
        "mariadb://x",
        "hibiki.db",
        "",
    ] {
        match Store::connect(url, 1).await {
            Err(StoreError::UnsupportedUrl(scheme)) => {
                assert!(!scheme.contains("secret"), "no credentials in the error");
            }
            other => panic!("{url:?}: expected UnsupportedUrl, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:", 4).await.unwrap();
    store.migrate().await.unwrap();
    store.call_started(&started("m", "n", 1)).await.unwrap();
    assert_eq!(store.count_calls().await.unwrap(), 1);
}

/// A database that keeps failing (here: a closed pool) costs the writer
/// retries with backoff, then the records are counted as failed and the
/// writer still finishes.
#[tokio::test]
async fn writer_retries_then_gives_up_when_the_database_is_gone() {
    let (store, _dir) = store_harness::sqlite_store().await;
    store.close().await;
    let (sink, handle) = RecordWriter::spawn(store.clone());
    let begun = std::time::Instant::now();
    assert!(sink.send(RecordEvent::Started(started("gone1", "n", 1))));
    assert!(sink.send(RecordEvent::Started(started("gone2", "n", 2))));
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed, stats.dropped), (0, 2, 0));
    // Three backoff waits (50 + 250 + 1000 ms) happened before giving up.
    assert!(begun.elapsed() >= Duration::from_millis(1300));
}
