//! The store contract for agents: skills and devices, state changes (through
//! the record writer), dispositions and a customer's interactions. Every
//! case runs against SQLite (a temp file) and PostgreSQL (a fresh
//! `hibiki_test_<random>` database on 127.0.0.1:5432, dropped afterwards),
//! like `tests/store_contract.rs`.
//!
//! When PostgreSQL does not answer, its half prints
//! `SKIPPED postgres: <reason>` and passes — unless
//! `HIBIKI_TEST_POSTGRES=required` (as `scripts/test.sh` sets in CI).

#[macro_use]
mod store_harness;

use hibiki::auth::{self, Hasher, Role};
use hibiki::store::{
    AgentProfile, AgentSkill, AgentStateChange, AgentStatus, CallRecord, Direction, Disposition,
    InteractionRecording, Outcome, RecordEvent, RecordWriter, RecordingRecord, RecordingStatus,
    Store, StoreError, UserRecord,
};

contract!(
    agent_profiles_list_enabled_agents_and_supervisors_with_skills_and_device,
    skills_are_replaced_whole_and_refused_when_invalid,
    a_device_is_set_replaced_and_removed,
    state_changes_go_through_the_writer_and_read_newest_first,
    a_disposition_is_saved_once_per_call_and_agent,
    interactions_are_the_customers_calls_with_dispositions_and_recording,
    demo_agents_have_their_skills,
    many_agents_set_up_at_once_all_succeed,
);

// ---------------------------------------------------------------- fixtures

fn user(id: &str, username: &str, role: Role) -> UserRecord {
    UserRecord {
        id: id.to_owned(),
        username: username.to_owned(),
        display_name: format!("{username} display"),
        role,
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$fake${id}"),
        disabled: false,
        created_at_ms: 1_700_000_000_000,
        updated_at_ms: 1_700_000_000_000,
    }
}

fn skill(name: &str, level: u8) -> AgentSkill {
    AgentSkill::new(name, level).unwrap()
}

fn state(id: &str, username: &str, status: AgentStatus, at_ms: i64) -> AgentStateChange {
    AgentStateChange {
        id: id.to_owned(),
        node_id: "node-a".to_owned(),
        username: username.to_owned(),
        status,
        reason: None,
        call_id: None,
        at_ms,
    }
}

fn call(id: &str, customer: Option<&str>, started_at_ms: i64) -> CallRecord {
    CallRecord {
        id: id.to_owned(),
        node_id: "node-a".to_owned(),
        sip_call_id: format!("{id}@10.0.0.1"),
        direction: Direction::Inbound,
        trunk: None,
        from_number: "+81312345678".to_owned(),
        to_number: "0120123456".to_owned(),
        started_at_ms,
        answered_at_ms: Some(started_at_ms + 1_000),
        ended_at_ms: Some(started_at_ms + 60_000),
        outcome: Some(Outcome::Answered),
        final_sip_code: Some(200),
        hangup_cause: Some("normal".to_owned()),
        ivr_path: None,
        customer_id: customer.map(str::to_owned),
        queue: Some("support".to_owned()),
        queued_at_ms: Some(started_at_ms + 5_000),
        agent: Some("agent1".to_owned()),
        connected_at_ms: Some(started_at_ms + 9_000),
        out_trunk: None,
        out_sip_call_id: None,
    }
}

async fn users(store: &Store) {
    for u in [
        user("u1", "agent1", Role::Agent),
        user("u2", "agent2", Role::Agent),
        user("u3", "super", Role::Supervisor),
        user("u4", "boss", Role::Manager),
        user("u5", "root", Role::Admin),
        UserRecord {
            disabled: true,
            ..user("u6", "gone", Role::Agent)
        },
    ] {
        store.create_user(&u).await.unwrap();
    }
}

// ------------------------------------------------------------------- cases

async fn agent_profiles_list_enabled_agents_and_supervisors_with_skills_and_device(store: Store) {
    assert!(store.agent_profiles().await.unwrap().is_empty());
    users(&store).await;
    assert!(store
        .set_agent_skills("agent1", &[skill("support", 5), skill("billing", 3)], 5)
        .await
        .unwrap());
    assert!(store
        .set_agent_skills("gone", &[skill("support", 9)], 5)
        .await
        .unwrap());
    assert!(store
        .set_agent_device("super", Some("sip:super@10.0.0.9:5062"), 5)
        .await
        .unwrap());
    let profiles = store.agent_profiles().await.unwrap();
    let expected = vec![
        AgentProfile {
            username: "agent1".into(),
            display_name: "agent1 display".into(),
            role: Role::Agent,
            // Sorted by name, whatever order they were given in.
            skills: vec![skill("billing", 3), skill("support", 5)],
            sip_uri: None,
        },
        AgentProfile {
            username: "agent2".into(),
            display_name: "agent2 display".into(),
            role: Role::Agent,
            skills: vec![],
            sip_uri: None,
        },
        AgentProfile {
            username: "super".into(),
            display_name: "super display".into(),
            role: Role::Supervisor,
            skills: vec![],
            sip_uri: Some("sip:super@10.0.0.9:5062".into()),
        },
    ];
    assert_eq!(profiles, expected, "no manager, admin or disabled user");
    assert_eq!(
        store.agent_profile("agent1").await.unwrap().as_ref(),
        Some(&expected[0])
    );
    assert_eq!(
        store.agent_profile("super").await.unwrap().as_ref(),
        Some(&expected[2])
    );
    for not_agent in ["boss", "root", "gone", "nobody"] {
        assert_eq!(
            store.agent_profile(not_agent).await.unwrap(),
            None,
            "{not_agent}"
        );
    }
    // Enabling the disabled agent brings their skills back.
    store.set_user_disabled("gone", false, 6).await.unwrap();
    let gone = store.agent_profile("gone").await.unwrap().unwrap();
    assert_eq!(gone.skills, [skill("support", 9)]);
}

async fn skills_are_replaced_whole_and_refused_when_invalid(store: Store) {
    users(&store).await;
    let first = [
        skill("support", 5),
        skill("billing", 3),
        skill("operator", 1),
    ];
    assert!(store.set_agent_skills("agent1", &first, 10).await.unwrap());
    assert!(store
        .set_agent_skills("agent2", &[skill("support", 2)], 10)
        .await
        .unwrap());
    // Replacing drops what is not listed again, changes levels.
    assert!(store
        .set_agent_skills("agent1", &[skill("support", 10)], 20)
        .await
        .unwrap());
    let a1 = store.agent_profile("agent1").await.unwrap().unwrap();
    assert_eq!(a1.skills, [skill("support", 10)]);
    assert_eq!(
        store
            .user_by_username("agent1")
            .await
            .unwrap()
            .unwrap()
            .updated_at_ms,
        20
    );
    // Another agent's skills are untouched.
    let a2 = store.agent_profile("agent2").await.unwrap().unwrap();
    assert_eq!(a2.skills, [skill("support", 2)]);

    // Invalid lists write nothing.
    let level_11 = AgentSkill {
        skill: "billing".into(),
        level: 11,
    };
    let level_0 = AgentSkill {
        skill: "billing".into(),
        level: 0,
    };
    let bad_name = AgentSkill {
        skill: "has space".into(),
        level: 3,
    };
    let twice = [skill("a", 1), skill("a", 2)];
    for bad in [
        vec![skill("x", 1), level_11],
        vec![level_0],
        vec![bad_name],
        twice.to_vec(),
    ] {
        match store.set_agent_skills("agent1", &bad, 30).await {
            Err(e @ StoreError::Invalid { table, .. }) => {
                assert_eq!(table, "agent_skills");
                assert!(e.is_permanent());
            }
            other => panic!("{bad:?}: expected Invalid, got {other:?}"),
        }
    }
    let a1 = store.agent_profile("agent1").await.unwrap().unwrap();
    assert_eq!(a1.skills, [skill("support", 10)], "unchanged");

    // An empty list removes them all; an unknown user is false.
    assert!(store.set_agent_skills("agent1", &[], 40).await.unwrap());
    assert!(store
        .agent_profile("agent1")
        .await
        .unwrap()
        .unwrap()
        .skills
        .is_empty());
    assert!(!store
        .set_agent_skills("nobody", &[skill("support", 1)], 40)
        .await
        .unwrap());
}

async fn a_device_is_set_replaced_and_removed(store: Store) {
    users(&store).await;
    let uri = |u: &'static str| {
        let store = store.clone();
        async move { store.agent_profile(u).await.unwrap().unwrap().sip_uri }
    };
    assert_eq!(uri("agent1").await, None);
    assert!(store
        .set_agent_device("agent1", Some("sip:1001@192.0.2.10"), 1)
        .await
        .unwrap());
    assert_eq!(uri("agent1").await.as_deref(), Some("sip:1001@192.0.2.10"));
    assert!(store
        .set_agent_device("agent1", Some("sip:1001@192.0.2.11;transport=tcp"), 2)
        .await
        .unwrap());
    assert_eq!(
        uri("agent1").await.as_deref(),
        Some("sip:1001@192.0.2.11;transport=tcp")
    );
    assert_eq!(uri("agent2").await, None, "one device per agent");
    assert!(store.set_agent_device("agent1", None, 3).await.unwrap());
    assert_eq!(uri("agent1").await, None);
    // Removing twice is fine; an unknown user is false.
    assert!(store.set_agent_device("agent1", None, 4).await.unwrap());
    assert!(!store
        .set_agent_device("nobody", Some("sip:x@192.0.2.1"), 4)
        .await
        .unwrap());
}

async fn state_changes_go_through_the_writer_and_read_newest_first(store: Store) {
    let mut offered = state("s3", "agent1", AgentStatus::Offered, 3_000);
    offered.call_id = Some("call-1".into());
    let mut not_ready = state("s5", "agent1", AgentStatus::NotReady, 5_000);
    not_ready.reason = Some("ring_no_answer".into());
    not_ready.call_id = Some("call-1".into());
    let changes = vec![
        state("s1", "agent1", AgentStatus::Offline, 1_000),
        state("s2", "agent1", AgentStatus::Available, 2_000),
        offered,
        state("s4", "agent2", AgentStatus::OnCall, 4_000),
        not_ready,
        state("s6", "agent1", AgentStatus::WrapUp, 6_000),
    ];
    let (sink, handle) = RecordWriter::spawn(store.clone());
    for c in &changes {
        assert!(sink.send(RecordEvent::AgentState(c.clone())));
    }
    // A retried event (same id) is written once.
    assert!(sink.send(RecordEvent::AgentState(changes[0].clone())));
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed, stats.dropped), (7, 0, 0));

    let of = |v: Vec<AgentStateChange>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        of(store.agent_state_changes("agent1", 0, 100).await.unwrap()),
        ["s6", "s5", "s3", "s2", "s1"]
    );
    assert_eq!(
        of(store
            .agent_state_changes("agent1", 2_000, 100)
            .await
            .unwrap()),
        ["s6", "s5", "s3", "s2"],
        "since is inclusive"
    );
    assert_eq!(
        of(store.agent_state_changes("agent1", 0, 2).await.unwrap()),
        ["s6", "s5"]
    );
    let back = store
        .agent_state_changes("agent1", 5_000, 10)
        .await
        .unwrap();
    assert_eq!(
        back,
        [changes[5].clone(), changes[4].clone()],
        "every field round trips"
    );
    assert_eq!(
        store.agent_state_changes("agent2", 0, 10).await.unwrap(),
        [changes[3].clone()]
    );
    assert!(store
        .agent_state_changes("nobody", 0, 10)
        .await
        .unwrap()
        .is_empty());

    // A change the schema refuses (time before 1970) costs only itself.
    let (sink, handle) = RecordWriter::spawn(store.clone());
    assert!(sink.send(RecordEvent::AgentState(state(
        "bad",
        "agent2",
        AgentStatus::Available,
        -1
    ))));
    assert!(sink.send(RecordEvent::AgentState(state(
        "s7",
        "agent2",
        AgentStatus::Available,
        7_000
    ))));
    let stats = handle.finish().await;
    assert_eq!((stats.written, stats.failed), (1, 1));
    assert_eq!(
        of(store.agent_state_changes("agent2", 0, 10).await.unwrap()),
        ["s7", "s4"]
    );
}

async fn a_disposition_is_saved_once_per_call_and_agent(store: Store) {
    let mut d = Disposition {
        call_id: "call-1".into(),
        username: "agent1".into(),
        customer_id: Some("cust-1".into()),
        code: "resolved".into(),
        notes: "reset the router".into(),
        at_ms: 1_000,
    };
    store.save_disposition(&d).await.unwrap();
    assert_eq!(
        store.dispositions_for_call("call-1").await.unwrap(),
        [d.clone()]
    );
    // The same agent saving again replaces it.
    d.code = "follow_up".into();
    d.notes = "call back Monday".into();
    d.customer_id = None;
    d.at_ms = 2_000;
    store.save_disposition(&d).await.unwrap();
    assert_eq!(
        store.dispositions_for_call("call-1").await.unwrap(),
        [d.clone()]
    );
    // Another agent (a transfer) adds one.
    let other = Disposition {
        username: "agent2".into(),
        code: "resolved".into(),
        notes: String::new(),
        at_ms: 3_000,
        ..d.clone()
    };
    store.save_disposition(&other).await.unwrap();
    assert_eq!(
        store.dispositions_for_call("call-1").await.unwrap(),
        [d, other]
    );
    assert!(store
        .dispositions_for_call("call-2")
        .await
        .unwrap()
        .is_empty());
}

async fn interactions_are_the_customers_calls_with_dispositions_and_recording(store: Store) {
    assert!(store
        .customer_interactions("cust-1", 5)
        .await
        .unwrap()
        .is_empty());
    // Three calls of cust-1 (one not answered, with no agent), one of
    // another customer, one of nobody.
    let old = call("c-old", Some("cust-1"), 1_000_000);
    let mid = call("c-mid", Some("cust-1"), 2_000_000);
    let mut missed = call("c-new", Some("cust-1"), 3_000_000);
    missed.answered_at_ms = None;
    missed.outcome = Some(Outcome::Cancelled);
    missed.hangup_cause = Some("cancelled".into());
    missed.agent = None;
    missed.connected_at_ms = None;
    let theirs = call("c-theirs", Some("cust-2"), 2_500_000);
    let anon = call("c-anon", None, 2_600_000);
    for c in [&old, &mid, &missed, &theirs, &anon] {
        store.call_ended(c).await.unwrap();
    }
    let disp = |call_id: &str, username: &str, code: &str, at_ms: i64| Disposition {
        call_id: call_id.into(),
        username: username.into(),
        customer_id: Some("cust-1".into()),
        code: code.into(),
        notes: format!("{code} notes"),
        at_ms,
    };
    let d_mid_1 = disp("c-mid", "agent1", "transferred", 2_100_000);
    let d_mid_2 = disp("c-mid", "agent2", "resolved", 2_200_000);
    let d_old = disp("c-old", "agent1", "resolved", 1_100_000);
    for d in [&d_mid_2, &d_old, &d_mid_1] {
        store.save_disposition(d).await.unwrap();
    }
    store
        .save_disposition(&disp("c-theirs", "agent1", "resolved", 2_550_000))
        .await
        .unwrap();
    // c-mid has two recordings (the second after a transfer): the first
    // one is the interaction's.
    let mut rec = RecordingRecord::started(
        "r-mid",
        "c-mid",
        "node-a",
        "2026/01/01/c-mid.wav",
        2_001_000,
    );
    rec.status = RecordingStatus::Closed;
    rec.duration_ms = 59_000;
    rec.ended_at_ms = Some(2_060_000);
    store.recording_closed(&rec).await.unwrap();
    let later = RecordingRecord::started(
        "r-mid-2",
        "c-mid",
        "node-a",
        "2026/01/01/c-mid-2.wav",
        2_030_000,
    );
    store.recording_started(&later).await.unwrap();

    let got = store.customer_interactions("cust-1", 5).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|i| i.call_id.as_str()).collect();
    assert_eq!(
        ids,
        ["c-new", "c-mid", "c-old"],
        "newest first, theirs only"
    );
    let new = &got[0];
    assert_eq!(
        (new.answered_at_ms, new.ended_at_ms, new.outcome),
        (None, Some(3_060_000), Some(Outcome::Cancelled))
    );
    assert_eq!(new.agent, None);
    assert_eq!(new.hangup_cause.as_deref(), Some("cancelled"));
    assert!(new.dispositions.is_empty());
    assert_eq!(new.recording, None);
    let m = &got[1];
    assert_eq!(m.direction, Direction::Inbound);
    assert_eq!(
        (m.from_number.as_str(), m.to_number.as_str()),
        ("+81312345678", "0120123456")
    );
    assert_eq!(
        (m.started_at_ms, m.answered_at_ms, m.ended_at_ms),
        (2_000_000, Some(2_001_000), Some(2_060_000))
    );
    assert_eq!(
        (m.queue.as_deref(), m.agent.as_deref()),
        (Some("support"), Some("agent1"))
    );
    assert_eq!(m.outcome, Some(Outcome::Answered));
    assert_eq!(m.dispositions, [d_mid_1, d_mid_2], "oldest first");
    assert_eq!(
        m.recording,
        Some(InteractionRecording {
            id: "r-mid".into(),
            duration_ms: 59_000,
            status: RecordingStatus::Closed,
        })
    );
    assert_eq!(got[2].dispositions, [d_old]);
    assert_eq!(got[2].recording, None);

    // The limit keeps the newest; their dispositions come along.
    let two = store.customer_interactions("cust-1", 2).await.unwrap();
    let ids: Vec<&str> = two.iter().map(|i| i.call_id.as_str()).collect();
    assert_eq!(ids, ["c-new", "c-mid"]);
    assert_eq!(two[1].dispositions.len(), 2);
    assert!(store
        .customer_interactions("cust-1", 0)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .customer_interactions("nobody", 5)
        .await
        .unwrap()
        .is_empty());
}

async fn demo_agents_have_their_skills(store: Store) {
    let hasher = Hasher::new(2);
    let created = auth::seed_demo_users(&store, &hasher).await.unwrap();
    assert_eq!(created.len(), 5);
    let profiles = store.agent_profiles().await.unwrap();
    let skills: Vec<(&str, Vec<(&str, u8)>)> = profiles
        .iter()
        .map(|p| {
            (
                p.username.as_str(),
                p.skills
                    .iter()
                    .map(|s| (s.skill.as_str(), s.level))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        skills,
        [
            (
                "agent1",
                vec![("billing", 3), ("operator", 1), ("support", 5)]
            ),
            ("agent2", vec![("operator", 3), ("support", 2)]),
            ("supervisor", vec![]),
        ]
    );
    // A second start changes nothing (an operator's edits are kept).
    assert!(store
        .set_agent_skills("agent2", &[skill("billing", 7)], 9)
        .await
        .unwrap());
    assert!(auth::seed_demo_users(&store, &hasher)
        .await
        .unwrap()
        .is_empty());
    let a2 = store.agent_profile("agent2").await.unwrap().unwrap();
    assert_eq!(a2.skills, [skill("billing", 7)]);
}

/// Skills and devices written by many requests at once (a supervisor's
/// bulk set-up, the agent benchmark's 200 agents): every write succeeds.
/// On SQLite a transaction that read before writing failed with
/// SQLITE_BUSY_SNAPSHOT when another writer committed in between.
async fn many_agents_set_up_at_once_all_succeed(store: Store) {
    users(&store).await;
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..20u8 {
        for agent in ["agent1", "agent2", "super"] {
            let store = store.clone();
            tasks.spawn(async move {
                let level = round % 10 + 1;
                let skills = store
                    .set_agent_skills(agent, &[skill("support", level)], i64::from(round))
                    .await;
                let uri = format!("sip:{agent}-{round}@127.0.0.1:5070");
                let device = store
                    .set_agent_device(agent, Some(&uri), i64::from(round))
                    .await;
                (
                    agent,
                    skills.map_err(|e| e.to_string()),
                    device.map_err(|e| e.to_string()),
                )
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        let (agent, skills, device) = done.unwrap();
        assert_eq!(skills, Ok(true), "{agent}: skills");
        assert_eq!(device, Ok(true), "{agent}: device");
    }
    for agent in ["agent1", "agent2", "super"] {
        let profile = store.agent_profile(agent).await.unwrap().unwrap();
        assert_eq!(profile.skills.len(), 1, "{profile:?}");
        assert!(profile.sip_uri.is_some(), "{profile:?}");
    }
}
