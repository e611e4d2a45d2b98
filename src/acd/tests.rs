//! ACD scenarios on a fake clock: each test drives [`Acd`] with inputs
//! and checks the actions it asks for.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::sync::Arc;

use super::core::*;
use super::AgentStatus;

fn queue(name: &str, skill: Option<(&str, u8)>) -> QueueSettings {
    QueueSettings {
        name: name.into(),
        skills: skill
            .map(|(s, l)| {
                vec![SkillNeed {
                    skill: s.into(),
                    min_level: l,
                }]
            })
            .unwrap_or_default(),
        sla_ms: 20_000,
        ring_ms: 15_000,
        wrap_up_ms: 10_000,
        max_wait_ms: None,
        overflow: None,
        wait_without_agents: false,
        default_handle_ms: 120_000,
    }
}

fn skills(list: &[(&str, u8)]) -> HashMap<String, u8> {
    list.iter().map(|(s, l)| ((*s).to_owned(), *l)).collect()
}

fn call(id: &str, queue: &str, priority: u32) -> Enqueue {
    Enqueue {
        id: id.into(),
        queue: queue.into(),
        priority,
        skills: Vec::new(),
        kind: EntryKind::Call,
        pop: Arc::new(serde_json::json!({ "call": id })),
        agent: None,
    }
}

/// The offers, withdrawals and departures among the pending actions
/// (agent state changes dropped), drained.
fn routing(acd: &mut Acd) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(a) = acd.poll_action() {
        match a {
            Action::Offer { entry, agent, .. } => out.push(format!("offer {entry}->{agent}")),
            Action::Withdraw { entry, agent, why } => {
                out.push(format!("withdraw {entry}->{agent} {why:?}"))
            }
            Action::Left { entry, reason } => out.push(format!("left {entry} {}", reason.as_str())),
            Action::Moved { entry, from, to } => out.push(format!("moved {entry} {from}->{to}")),
            Action::AgentState { .. } => {}
        }
    }
    out
}

/// Logs agents in and makes them available at the given times.
/// An agent to make ready: name, skills, when.
type Ready<'a> = (&'a str, &'a [(&'a str, u8)], u64);

fn ready(acd: &mut Acd, agents: &[Ready<'_>]) {
    for (name, s, at) in agents {
        acd.login(name, skills(s), *at);
        acd.set_available(name, *at).unwrap();
    }
}

#[test]
fn the_longest_idle_agent_gets_the_call() {
    let mut acd = Acd::new([queue("support", Some(("support", 1)))]);
    ready(
        &mut acd,
        &[
            ("bob", &[("support", 3)], 2_000),
            ("ann", &[("support", 3)], 1_000),
            ("cid", &[("support", 3)], 3_000),
        ],
    );
    routing(&mut acd);
    acd.enqueue(call("c1", "support", 0), 5_000).unwrap();
    acd.enqueue(call("c2", "support", 0), 5_001).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->ann", "offer c2->bob"]);
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::Offered);
}

#[test]
fn skills_and_levels_pick_who_qualifies() {
    let mut billing = queue("billing", Some(("billing", 2)));
    billing.wait_without_agents = true;
    let mut acd = Acd::new([billing]);
    ready(
        &mut acd,
        &[
            ("novice", &[("billing", 1)], 0),
            ("nobill", &[("support", 9)], 0),
            ("expert", &[("billing", 5)], 100),
        ],
    );
    routing(&mut acd);
    // The step asks for Japanese too: only an agent with both may take it.
    let mut c = call("c1", "billing", 0);
    c.skills = vec![SkillNeed {
        skill: "japanese".into(),
        min_level: 1,
    }];
    acd.enqueue(c, 1_000).unwrap();
    assert_eq!(
        routing(&mut acd),
        Vec::<String>::new(),
        "nobody has both skills"
    );
    acd.login(
        "bilingual",
        skills(&[("billing", 2), ("japanese", 4)]),
        1_500,
    );
    acd.set_available("bilingual", 1_500).unwrap();
    acd.enqueue(call("c2", "billing", 0), 2_000).unwrap();
    assert_eq!(
        routing(&mut acd),
        ["offer c1->bilingual", "offer c2->expert"],
        "the novice (level 1 < 2) never gets a billing call"
    );
}

#[test]
fn higher_priority_is_served_first_then_the_oldest() {
    let mut acd = Acd::new([queue("q", None)]);
    acd.login("ann", skills(&[]), 0);
    acd.enqueue(call("old", "q", 0), 1_000).unwrap();
    acd.enqueue(call("vip", "q", 5), 2_000).unwrap();
    acd.enqueue(call("new", "q", 0), 3_000).unwrap();
    assert_eq!(acd.estimate("vip").unwrap().position, 1);
    assert_eq!(acd.estimate("old").unwrap().position, 2);
    assert_eq!(acd.estimate("new").unwrap().position, 3);
    routing(&mut acd);
    acd.set_available("ann", 4_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer vip->ann"]);
}

#[test]
fn with_no_agent_logged_in_the_call_leaves_at_once_unless_the_queue_waits() {
    let mut waits = queue("waits", None);
    waits.wait_without_agents = true;
    let mut acd = Acd::new([queue("q", Some(("support", 1))), waits]);
    acd.login("nobody-qualified", skills(&[("sales", 3)]), 0);
    routing(&mut acd);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "waits", 0), 1_000).unwrap();
    assert_eq!(routing(&mut acd), ["left c1 no_agents"]);
    assert_eq!(acd.waiting("waits"), 1);
    assert_eq!(
        acd.enqueue(call("c3", "nope", 0), 1_000),
        Err(EnqueueError::UnknownQueue("nope".into()))
    );
}

#[test]
fn a_not_ready_agent_counts_as_staff_but_gets_no_offer() {
    let mut acd = Acd::new([queue("q", None)]);
    acd.login("ann", skills(&[]), 0);
    routing(&mut acd);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    assert_eq!(routing(&mut acd), Vec::<String>::new());
    assert_eq!(acd.waiting("q"), 1);
}

#[test]
fn overflow_moves_the_call_and_keeps_its_place() {
    let mut first = queue("first", Some(("first", 1)));
    first.overflow = Some(Overflow {
        after_ms: 30_000,
        queue: "second".into(),
    });
    let mut acd = Acd::new([first, queue("second", Some(("second", 1)))]);
    acd.login("f", skills(&[("first", 1)]), 0); // not ready: staffed, busy
    acd.login("s", skills(&[("second", 1)]), 0);
    acd.enqueue(call("early", "first", 0), 1_000).unwrap();
    acd.enqueue(call("late", "second", 0), 20_000).unwrap();
    routing(&mut acd);
    assert_eq!(acd.poll_timeout(), Some(31_000));
    acd.handle_timeout(31_000);
    assert_eq!(routing(&mut acd), ["moved early first->second"]);
    assert_eq!(acd.entry_queue("early"), Some("second"));
    acd.set_available("s", 32_000).unwrap();
    assert_eq!(
        routing(&mut acd),
        ["offer early->s"],
        "the overflowed call keeps the place it had by time"
    );
}

#[test]
fn max_wait_lets_the_flow_go_on() {
    let mut q = queue("q", None);
    q.max_wait_ms = Some(60_000);
    let mut acd = Acd::new([q]);
    acd.login("ann", skills(&[]), 0);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    routing(&mut acd);
    acd.handle_timeout(60_999);
    assert_eq!(routing(&mut acd), Vec::<String>::new());
    assert_eq!(acd.poll_timeout(), Some(61_000));
    acd.handle_timeout(61_000);
    assert_eq!(routing(&mut acd), ["left c1 max_wait"]);
    assert_eq!(acd.waiting("q"), 0);
}

#[test]
fn a_callback_outlasts_the_max_wait_of_the_caller_it_was() {
    let mut q = queue("q", None);
    q.max_wait_ms = Some(60_000);
    let mut acd = Acd::new([q]);
    acd.login("ann", skills(&[]), 0);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "q", 0), 2_000).unwrap();
    assert!(acd.to_callback("c1", "cb1", "+81312345678".into()));
    routing(&mut acd);
    assert_eq!(acd.poll_timeout(), Some(62_000), "c2's max wait only");
    acd.handle_timeout(3_600_000);
    assert_eq!(routing(&mut acd), ["left c2 max_wait"]);
    assert_eq!(acd.estimate("cb1").unwrap().position, 1);
    acd.set_available("ann", 3_600_001).unwrap();
    assert_eq!(routing(&mut acd), ["offer cb1->ann"]);
}

#[test]
fn callbacks_and_consults_go_only_to_agents_on_the_softphone() {
    let mut acd = Acd::new([queue("q", None)]);
    acd.login("bob", skills(&[]), 0);
    acd.set_softphone("bob", false);
    acd.login("ann", skills(&[]), 0);
    acd.login("cleo", skills(&[]), 0);
    let mut consult = call("c0#consult", "q", 0);
    consult.kind = EntryKind::Consult;
    acd.enqueue(consult, 500).unwrap();
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "q", 0), 2_000).unwrap();
    assert!(acd.to_callback("c1", "cb1", "+81312345678".into()));
    routing(&mut acd);
    acd.set_available("bob", 3_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c2->bob"], "bob cannot take cb1");
    acd.set_available("ann", 4_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c0#consult->ann"]);
    acd.set_available("cleo", 5_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer cb1->cleo"]);
}

#[test]
fn a_callback_queued_again_waits_even_with_nobody_logged_in() {
    let mut acd = Acd::new([queue("q", None)]);
    let mut again = call("cb2", "q", 0);
    again.kind = EntryKind::Callback {
        number: "+81312345678".into(),
    };
    acd.enqueue(again, 1_000).unwrap();
    acd.enqueue(call("c3", "q", 0), 2_000).unwrap();
    assert_eq!(routing(&mut acd), ["left c3 no_agents"]);
    assert_eq!(acd.estimate("cb2").unwrap().position, 1);
    acd.login("ann", skills(&[]), 3_000);
    acd.set_available("ann", 3_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer cb2->ann"]);
}

#[test]
fn ring_no_answer_makes_the_agent_not_ready_and_requeues_at_the_front() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "q", 0), 2_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->ann"]);
    assert_eq!(acd.poll_timeout(), Some(16_000 + RING_GRACE_MS));
    acd.handle_timeout(16_000 + RING_GRACE_MS);
    assert_eq!(routing(&mut acd), ["withdraw c1->ann RangOut"]);
    assert_eq!(
        acd.agent_status("ann").unwrap(),
        (AgentStatus::NotReady, Some("ring_no_answer"))
    );
    assert_eq!(acd.estimate("c1").unwrap().position, 1, "back at the front");
    acd.login("bob", skills(&[]), 17_000);
    acd.set_available("bob", 17_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->bob"]);
}

#[test]
fn a_rejected_or_failed_offer_goes_to_another_agent_first() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0), ("bob", &[], 10)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->ann"]);
    acd.missed("c1", "ann", Missed::Rejected, 2_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->bob"]);
    assert_eq!(
        acd.agent_status("ann").unwrap(),
        (AgentStatus::NotReady, Some("rejected"))
    );
    acd.missed("c1", "bob", Missed::DeviceFailed, 3_000)
        .unwrap();
    assert_eq!(
        acd.agent_status("bob").unwrap(),
        (AgentStatus::NotReady, Some("device_unreachable"))
    );
    // ann comes back first: she gets it again (she is the only one).
    acd.set_available("ann", 4_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->ann"]);
    assert!(acd.missed("c1", "bob", Missed::NoAnswer, 5_000).is_err());
}

#[test]
fn answered_calls_end_in_wrap_up_then_available() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "q", 0), 1_500).unwrap();
    routing(&mut acd);
    acd.answered("c1", "ann", 3_000).unwrap();
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::OnCall);
    assert!(acd.logout("ann", 4_000).is_err(), "no logout mid-call");
    acd.ended("c1", 63_000);
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::WrapUp);
    assert_eq!(
        routing(&mut acd),
        Vec::<String>::new(),
        "no offer in wrap-up"
    );
    assert_eq!(acd.poll_timeout(), Some(73_000));
    acd.handle_timeout(73_000);
    assert_eq!(routing(&mut acd), ["offer c2->ann"]);
    // The handle time (60 s talk + 10 s wrap-up) now drives the estimate.
    assert_eq!(acd.average_handle_ms("q"), 70_000);
}

#[test]
fn wrap_up_can_end_early_or_into_not_ready() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.answered("c1", "ann", 2_000).unwrap();
    acd.ended("c1", 5_000);
    acd.set_not_ready("ann", "break", 6_000).unwrap();
    assert_eq!(
        acd.agent_status("ann").unwrap(),
        (AgentStatus::NotReady, Some("break"))
    );
    acd.handle_timeout(20_000);
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::NotReady);
    acd.set_available("ann", 21_000).unwrap();
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::Available);
}

#[test]
fn the_caller_hanging_up_while_offered_frees_the_agent() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "q", 0), 1_100).unwrap();
    routing(&mut acd);
    acd.abandon("c1", 2_000);
    assert_eq!(
        routing(&mut acd),
        ["withdraw c1->ann CallerLeft", "offer c2->ann"]
    );
}

#[test]
fn estimated_wait_is_position_over_staff_times_handle_time() {
    let mut q = queue("q", None);
    q.default_handle_ms = 90_000;
    let mut acd = Acd::new([q]);
    acd.login("ann", skills(&[]), 0);
    acd.login("bob", skills(&[]), 0);
    for i in 0..4 {
        acd.enqueue(call(&format!("c{i}"), "q", 0), 1_000 + i)
            .unwrap();
    }
    let e = acd.estimate("c3").unwrap();
    assert_eq!((e.position, e.staffed), (4, 2));
    assert_eq!(e.ewt_ms, 4 * 90_000 / 2);
    assert_eq!(acd.estimate("c0").unwrap().ewt_ms, 45_000);
}

#[test]
fn a_callback_keeps_its_place_and_is_offered_as_a_callback() {
    let mut acd = Acd::new([queue("q", None)]);
    acd.login("ann", skills(&[]), 0);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.enqueue(call("c2", "q", 0), 2_000).unwrap();
    assert!(acd.to_callback("c1", "cb1", "+81312345678".into()));
    assert!(acd.estimate("c1").is_none(), "known by its new id");
    assert_eq!(acd.estimate("cb1").unwrap().position, 1);
    assert!(
        !acd.to_callback("c2", "cb1", "+1".into()),
        "the id is taken"
    );
    assert!(
        !acd.to_callback("cb1", "cb2", "+1".into()),
        "a callback already"
    );
    routing(&mut acd);
    acd.set_available("ann", 3_000).unwrap();
    let offers: Vec<Action> = std::iter::from_fn(|| acd.poll_action())
        .filter(|a| matches!(a, Action::Offer { .. }))
        .collect();
    match &offers[..] {
        [Action::Offer {
            entry, kind, agent, ..
        }] => {
            assert_eq!((entry.as_str(), agent.as_str()), ("cb1", "ann"));
            assert_eq!(
                kind,
                &EntryKind::Callback {
                    number: "+81312345678".into()
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_agent_who_reconnects_mid_call_keeps_the_call_and_gets_no_offers_while_away() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0), ("bob", &[], 5)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    routing(&mut acd);
    acd.answered("c1", "ann", 2_000).unwrap();
    acd.set_connected("ann", false, 3_000);
    acd.set_connected("bob", false, 3_000);
    acd.enqueue(call("c2", "q", 0), 4_000).unwrap();
    assert_eq!(routing(&mut acd), Vec::<String>::new(), "bob is away");
    acd.set_connected("ann", true, 5_000);
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::OnCall);
    assert_eq!(acd.agent_entry("ann"), Some("c1"));
    acd.set_connected("bob", true, 6_000);
    assert_eq!(routing(&mut acd), ["offer c2->bob"]);
    // A second login of ann (page reload) keeps her call.
    acd.login("ann", skills(&[]), 7_000);
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::OnCall);
}

#[test]
fn every_state_change_is_reported() {
    let mut acd = Acd::new([queue("q", None)]);
    ready(&mut acd, &[("ann", &[], 0)]);
    acd.enqueue(call("c1", "q", 0), 1_000).unwrap();
    acd.answered("c1", "ann", 2_000).unwrap();
    acd.ended("c1", 3_000);
    acd.handle_timeout(13_000);
    acd.set_not_ready("ann", "lunch", 14_000).unwrap();
    acd.logout("ann", 15_000).unwrap();
    let states: Vec<String> = std::iter::from_fn(|| acd.poll_action())
        .filter_map(|a| match a {
            Action::AgentState {
                status,
                reason,
                entry,
                ..
            } => Some(format!(
                "{}{}{}",
                status.as_str(),
                reason.map(|r| format!("({r})")).unwrap_or_default(),
                entry.map(|e| format!("[{e}]")).unwrap_or_default()
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            "not_ready(login)",
            "available",
            "offered[c1]",
            "on_call[c1]",
            "wrap_up[c1]",
            "available",
            "not_ready(lunch)",
            "offline"
        ]
    );
}

#[test]
fn an_entry_for_one_agent_waits_for_them_whatever_their_skills() {
    let mut acd = Acd::new([queue("support", Some(("support", 3)))]);
    ready(
        &mut acd,
        &[
            ("ann", &[("support", 5)], 1_000),
            ("bob", &[("billing", 1)], 2_000),
        ],
    );
    routing(&mut acd);
    // A transfer to bob: ann is idle longer and has the queue's skill, but
    // the call is for bob, who lacks it.
    let mut c = call("c1", "support", 0);
    c.agent = Some("bob".into());
    acd.enqueue(c, 5_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->bob"]);
    // While bob is busy, another call for him waits; ann is not offered it.
    let mut c2 = call("c2", "support", 0);
    c2.agent = Some("bob".into());
    acd.enqueue(c2, 5_100).unwrap();
    assert_eq!(routing(&mut acd), Vec::<String>::new());
    assert_eq!(acd.estimate("c2").map(|e| e.staffed), Some(1));
    // A call for an agent who is not logged in leaves at once.
    let mut c3 = call("c3", "support", 0);
    c3.agent = Some("cid".into());
    acd.enqueue(c3, 5_200).unwrap();
    assert_eq!(routing(&mut acd), ["left c3 no_agents"]);
}

#[test]
fn a_completed_consult_hands_the_call_to_the_consulted_agent() {
    let mut acd = Acd::new([queue("support", None)]);
    ready(&mut acd, &[("ann", &[], 1_000), ("bob", &[], 2_000)]);
    acd.enqueue(call("c1", "support", 0), 3_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1->ann"]);
    acd.answered("c1", "ann", 3_500).unwrap();
    // Ann consults bob: an entry for him alone.
    let mut consult = call("c1#consult", "support", 0);
    consult.agent = Some("bob".into());
    acd.enqueue(consult, 4_000).unwrap();
    assert_eq!(routing(&mut acd), ["offer c1#consult->bob"]);
    acd.answered("c1#consult", "bob", 4_500).unwrap();
    // Complete: ann's part ends (wrap-up), bob now has the call itself.
    assert!(acd.merge("c1#consult", "c1").is_err(), "c1 is still ann's");
    acd.ended("c1", 5_000);
    assert_eq!(acd.merge("c1#consult", "c1").unwrap(), "bob");
    assert_eq!(acd.agent_status("ann").unwrap().0, AgentStatus::WrapUp);
    assert_eq!(acd.agent_status("bob").unwrap().0, AgentStatus::OnCall);
    assert_eq!(acd.agent_entry("bob"), Some("c1"));
    acd.ended("c1", 9_000);
    assert_eq!(acd.agent_status("bob").unwrap().0, AgentStatus::WrapUp);
}
