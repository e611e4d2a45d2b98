//! State-machine tests on an injected clock: every schedule is checked at
//! exact instants, with no sleeping.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::message::*;

pub(crate) fn sip_uri(user: &str, host: &str) -> Uri {
    Uri::Sip(SipUri {
        secure: false,
        user: Some(user.into()),
        password: None,
        host: Host::Domain(host.into()),
        port: None,
        params: vec![],
        headers: vec![],
    })
}

pub(crate) fn request(method: Method, branch: &str) -> Request {
    Request {
        method: method.clone(),
        uri: sip_uri("100", "hibiki.test"),
        headers: Headers {
            via: vec![Via {
                transport: Transport::Udp,
                host: Host::Ipv4("192.0.2.10".parse().unwrap()),
                port: Some(5060),
                params: vec![Param::new("branch", Some(branch.into()))],
            }],
            from: NameAddr {
                display_name: None,
                uri: sip_uri("alice", "example.com"),
                params: vec![Param::new("tag", Some("fromtag".into()))],
            },
            to: NameAddr {
                display_name: None,
                uri: sip_uri("100", "hibiki.test"),
                params: vec![],
            },
            call_id: "call-1@example.com".into(),
            cseq: CSeq { seq: 1, method },
            max_forwards: Some(70),
            contact: vec![],
            route: vec![],
            record_route: vec![],
            content_type: None,
            extra: vec![],
        },
        body: Bytes::new(),
    }
}

fn response(req: &Request, status: u16) -> Response {
    build::response_with_tag(req, status, "totag")
}

const REQ: Bytes = Bytes::from_static(b"REQUEST");

trait Machine {
    fn deadline(&self) -> Option<Instant>;
    fn fire(&mut self, now: Instant, out: &mut Vec<Action>);
}

macro_rules! machine {
    ($t:ty) => {
        impl Machine for $t {
            fn deadline(&self) -> Option<Instant> {
                self.next_deadline()
            }
            fn fire(&mut self, now: Instant, out: &mut Vec<Action>) {
                self.on_timeout(now, out)
            }
        }
    };
}
machine!(ClientInvite);
machine!(ClientNonInvite);
machine!(ServerInvite);

impl Machine for ServerNonInvite {
    fn deadline(&self) -> Option<Instant> {
        self.next_deadline()
    }
    fn fire(&mut self, now: Instant, _out: &mut Vec<Action>) {
        self.on_timeout(now)
    }
}

/// Fires the machine's timers in order until none is left or `limit`
/// passes, returning each action with its offset from `t0` in ms.
fn run(m: &mut impl Machine, t0: Instant, limit: Duration) -> Vec<(u64, Action)> {
    let mut log = Vec::new();
    while let Some(at) = m.deadline() {
        if at > t0 + limit {
            break;
        }
        let mut out = Vec::new();
        m.fire(at, &mut out);
        let ms = u64::try_from((at - t0).as_millis()).unwrap();
        log.extend(out.into_iter().map(|a| (ms, a)));
    }
    log
}

fn instants(log: &[(u64, Action)], pred: impl Fn(&Action) -> bool) -> Vec<u64> {
    log.iter()
        .filter(|(_, a)| pred(a))
        .map(|(t, _)| *t)
        .collect()
}

fn is_retransmit(a: &Action) -> bool {
    matches!(a, Action::Retransmit(_))
}

#[test]
fn invite_client_retransmits_at_t1_doubling_then_times_out_at_64_t1() {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(
        t0,
        request(Method::Invite, "z9hG4bK1"),
        REQ,
        false,
        Timers::default(),
        &mut out,
    );
    assert_eq!(out, vec![Action::Send(REQ)]);
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert_eq!(
        instants(&log, is_retransmit),
        vec![500, 1500, 3500, 7500, 15500, 31500]
    );
    assert_eq!(instants(&log, |a| *a == Action::Timeout), vec![32000]);
    assert!(tx.is_terminated());
}

#[test]
fn invite_client_over_reliable_transport_never_retransmits() {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(
        t0,
        request(Method::Invite, "z9hG4bK1"),
        REQ,
        true,
        Timers::default(),
        &mut out,
    );
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert_eq!(log, vec![(32000, Action::Timeout)]);
}

#[test]
fn invite_client_provisional_stops_retransmissions_and_timer_b() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK1");
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(t0, req.clone(), REQ, false, Timers::default(), &mut out);
    out.clear();
    tx.on_response(
        t0 + Duration::from_millis(700),
        response(&req, 180),
        &mut out,
    );
    assert!(matches!(&out[..], [Action::Deliver(r)] if r.status == 180));
    assert_eq!(tx.state(), ClientInviteState::Proceeding);
    assert_eq!(tx.next_deadline(), None, "Proceeding waits for the TU");
}

#[test]
fn invite_client_acks_non_2xx_and_absorbs_its_retransmissions() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK1");
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(t0, req.clone(), REQ, false, Timers::default(), &mut out);
    out.clear();
    let busy = response(&req, 486);
    tx.on_response(t0, busy.clone(), &mut out);
    assert!(matches!(&out[..], [Action::Send(_), Action::Deliver(r)] if r.status == 486));
    assert_eq!(tx.state(), ClientInviteState::Completed);
    out.clear();
    tx.on_response(t0 + Duration::from_secs(1), busy, &mut out);
    assert!(
        matches!(&out[..], [Action::Retransmit(_)]),
        "ACK resent, response not passed up again: {out:?}"
    );
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
    tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
    assert!(tx.is_terminated());
}

#[test]
fn invite_client_builds_ack_with_invite_branch_and_response_to_tag() {
    let req = request(Method::Invite, "z9hG4bKack");
    let ack = build::ack_for_non_2xx(&req, &response(&req, 404));
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(
        ack.headers.cseq,
        CSeq {
            seq: 1,
            method: Method::Ack
        }
    );
    assert_eq!(ack.headers.via.len(), 1);
    assert_eq!(build::branch_of(&ack.headers.via[0]), Some("z9hG4bKack"));
    assert_eq!(build::tag_of(&ack.headers.to), Some("totag"));
    assert_eq!(ack.uri, req.uri);
}

#[test]
fn invite_client_reliable_terminates_at_once_after_non_2xx() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK1");
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(t0, req.clone(), REQ, true, Timers::default(), &mut out);
    tx.on_response(t0, response(&req, 503), &mut out);
    assert!(
        tx.is_terminated(),
        "Timer D is zero over reliable transports"
    );
}

#[test]
fn invite_client_passes_every_2xx_up_until_timer_m() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK1");
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(t0, req.clone(), REQ, false, Timers::default(), &mut out);
    out.clear();
    tx.on_response(t0, response(&req, 200), &mut out);
    tx.on_response(t0 + Duration::from_secs(1), response(&req, 200), &mut out);
    assert_eq!(out.len(), 2, "both 2xx reach the TU (it re-ACKs)");
    assert_eq!(tx.state(), ClientInviteState::Accepted);
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "no retransmission after a 2xx: {log:?}");
    assert!(tx.is_terminated());
}

#[test]
fn invite_client_gives_up_64_t1_after_cancel_without_final() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK1");
    let mut out = Vec::new();
    let mut tx = ClientInvite::new(t0, req.clone(), REQ, false, Timers::default(), &mut out);
    tx.on_response(t0, response(&req, 180), &mut out);
    tx.cancel_sent(t0 + Duration::from_secs(5));
    out.clear();
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert_eq!(log, vec![(37000, Action::Timeout)]);
}

#[test]
fn non_invite_client_retransmits_doubling_capped_at_t2() {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = ClientNonInvite::new(
        t0,
        request(Method::Bye, "z9hG4bK2"),
        REQ,
        false,
        Timers::default(),
        &mut out,
    );
    let log = run(&mut tx, t0, Duration::from_secs(100));
    let expected: Vec<u64> = [500, 1500, 3500, 7500]
        .into_iter()
        .chain((1..=6).map(|i| 7500 + i * 4000))
        .collect();
    assert_eq!(instants(&log, is_retransmit), expected);
    assert_eq!(instants(&log, |a| *a == Action::Timeout), vec![32000]);
}

#[test]
fn non_invite_client_in_proceeding_retransmits_every_t2() {
    let t0 = Instant::now();
    let req = request(Method::Bye, "z9hG4bK2");
    let mut out = Vec::new();
    let mut tx = ClientNonInvite::new(t0, req.clone(), REQ, false, Timers::default(), &mut out);
    tx.on_response(
        t0 + Duration::from_millis(100),
        response(&req, 100),
        &mut out,
    );
    let log = run(&mut tx, t0, Duration::from_secs(14));
    assert_eq!(instants(&log, is_retransmit), vec![500, 4500, 8500, 12500]);
}

#[test]
fn non_invite_client_final_then_timer_k() {
    let t0 = Instant::now();
    let req = request(Method::Bye, "z9hG4bK2");
    let mut out = Vec::new();
    let mut tx = ClientNonInvite::new(t0, req.clone(), REQ, false, Timers::default(), &mut out);
    out.clear();
    tx.on_response(t0, response(&req, 200), &mut out);
    tx.on_response(t0, response(&req, 200), &mut out);
    assert_eq!(out.len(), 1, "the retransmitted final is absorbed");
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(5)));
    let log = run(&mut tx, t0, Duration::from_secs(10));
    assert!(log.is_empty());
    assert!(tx.is_terminated());
}

#[test]
fn non_invite_client_times_out_over_reliable_without_retransmitting() {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let mut tx = ClientNonInvite::new(
        t0,
        request(Method::Options, "z9hG4bK2"),
        REQ,
        true,
        Timers::default(),
        &mut out,
    );
    assert_eq!(
        run(&mut tx, t0, Duration::from_secs(100)),
        vec![(32000, Action::Timeout)]
    );
}

fn trying_for(req: &Request) -> Response {
    build::response_to(req, 100)
}

#[test]
fn invite_server_sends_trying_after_200_ms_when_tu_is_silent() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), false, Timers::default(), &mut out);
    assert!(out.is_empty());
    assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_millis(200)));
    tx.on_timeout(t0 + Duration::from_millis(200), &mut out);
    assert!(matches!(&out[..], [Action::Send(_)]));
    assert_eq!(tx.next_deadline(), None);
}

#[test]
fn invite_server_with_zero_delay_sends_trying_at_once() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let timers = Timers {
        trying_delay: Duration::ZERO,
        ..Timers::default()
    };
    let _tx = ServerInvite::new(t0, trying_for(&req), false, timers, &mut out);
    assert!(matches!(&out[..], [Action::Send(_)]));
}

#[test]
fn invite_server_skips_trying_when_tu_rings_first_and_resends_last_provisional() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), false, Timers::default(), &mut out);
    let ringing = Bytes::from_static(b"180");
    tx.send_response(t0, 180, ringing.clone(), &mut out)
        .unwrap();
    assert_eq!(out, vec![Action::Send(ringing.clone())]);
    assert_eq!(tx.next_deadline(), None, "no 100 Trying is pending");
    out.clear();
    tx.on_retransmission(&mut out);
    assert_eq!(out, vec![Action::Retransmit(ringing)]);
}

#[test]
fn invite_server_retransmits_final_at_t1_doubling_capped_at_t2_until_timer_h() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), false, Timers::default(), &mut out);
    let busy = Bytes::from_static(b"486");
    tx.send_response(t0, 486, busy.clone(), &mut out).unwrap();
    let log = run(&mut tx, t0, Duration::from_secs(100));
    let expected: Vec<u64> = [500, 1500, 3500, 7500]
        .into_iter()
        .chain((1..=6).map(|i| 7500 + i * 4000))
        .collect();
    assert_eq!(instants(&log, is_retransmit), expected);
    assert_eq!(instants(&log, |a| *a == Action::Timeout), vec![32000]);
    assert!(tx.is_terminated());
}

#[test]
fn invite_server_ack_stops_timer_g_then_timer_i_terminates() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), false, Timers::default(), &mut out);
    tx.send_response(t0, 404, Bytes::from_static(b"404"), &mut out)
        .unwrap();
    assert_eq!(
        tx.on_ack(t0 + Duration::from_millis(600)),
        AckOutcome::Absorbed
    );
    assert_eq!(tx.state(), ServerInviteState::Confirmed);
    out.clear();
    tx.on_retransmission(&mut out);
    assert!(out.is_empty(), "Confirmed absorbs INVITE retransmissions");
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "no retransmission after the ACK: {log:?}");
    assert!(tx.is_terminated());
}

#[test]
fn invite_server_retransmits_2xx_until_ack_for_2xx() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), false, Timers::default(), &mut out);
    tx.send_response(t0, 200, Bytes::from_static(b"200"), &mut out)
        .unwrap();
    let log = run(&mut tx, t0, Duration::from_secs(2));
    assert_eq!(instants(&log, is_retransmit), vec![500, 1500]);
    assert_eq!(tx.on_ack_for_2xx(), AckOutcome::AckFor2xx);
    assert_eq!(tx.on_ack_for_2xx(), AckOutcome::Absorbed, "duplicate ACK");
    out.clear();
    tx.on_retransmission(&mut out);
    assert!(out.is_empty(), "Accepted absorbs INVITE retransmissions");
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "{log:?}");
    assert!(tx.is_terminated(), "Timer L ends it");
}

#[test]
fn invite_server_reports_ack_timeout_when_2xx_never_acked() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), false, Timers::default(), &mut out);
    tx.send_response(t0, 200, Bytes::from_static(b"200"), &mut out)
        .unwrap();
    let log = run(&mut tx, t0, Duration::from_secs(100));
    assert_eq!(
        instants(&log, is_retransmit),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(instants(&log, |a| *a == Action::AckTimeout), vec![32000]);
}

#[test]
fn invite_server_refuses_a_second_final_response() {
    let t0 = Instant::now();
    let req = request(Method::Invite, "z9hG4bK3");
    let mut out = Vec::new();
    let mut tx = ServerInvite::new(t0, trying_for(&req), true, Timers::default(), &mut out);
    tx.send_response(t0, 487, Bytes::new(), &mut out).unwrap();
    assert_eq!(
        tx.send_response(t0, 200, Bytes::new(), &mut out),
        Err(TxError::AlreadyFinal)
    );
    assert_eq!(
        tx.send_response(t0, 99, Bytes::new(), &mut out),
        Err(TxError::BadStatus(99))
    );
}

#[test]
fn non_invite_server_absorbs_in_trying_and_answers_with_last_response() {
    let t0 = Instant::now();
    let mut tx = ServerNonInvite::new(false, Timers::default());
    let mut out = Vec::new();
    tx.on_retransmission(&mut out);
    assert!(out.is_empty(), "Trying absorbs");
    let ok = Bytes::from_static(b"200");
    tx.send_response(t0, 200, ok.clone(), &mut out).unwrap();
    out.clear();
    tx.on_retransmission(&mut out);
    assert_eq!(out, vec![Action::Retransmit(ok)]);
    assert_eq!(
        tx.next_deadline(),
        Some(t0 + Duration::from_secs(32)),
        "Timer J"
    );
    tx.on_timeout(t0 + Duration::from_secs(32));
    assert!(tx.is_terminated());
}

#[test]
fn non_invite_server_reliable_terminates_on_final() {
    let t0 = Instant::now();
    let mut tx = ServerNonInvite::new(true, Timers::default());
    let mut out = Vec::new();
    tx.send_response(t0, 200, Bytes::new(), &mut out).unwrap();
    assert!(
        tx.is_terminated(),
        "Timer J is zero over reliable transports"
    );
}

#[test]
fn server_key_matches_ack_to_invite_and_keeps_cancel_apart() {
    let invite = request(Method::Invite, "z9hG4bKk");
    let mut ack = request(Method::Ack, "z9hG4bKk");
    ack.headers.cseq.method = Method::Ack;
    let cancel = request(Method::Cancel, "z9hG4bKk");
    let k = key::ServerKey::of_request(&invite).unwrap();
    assert_eq!(key::ServerKey::of_request(&ack).unwrap(), k);
    assert_ne!(key::ServerKey::of_request(&cancel).unwrap(), k);
    assert_eq!(key::ServerKey::invite_for_cancel(&cancel).unwrap(), k);
    let mut other_host = invite.clone();
    other_host.headers.via[0].port = Some(5070);
    assert_ne!(key::ServerKey::of_request(&other_host).unwrap(), k);
}

#[test]
fn server_key_falls_back_to_rfc2543_without_magic_cookie() {
    let invite = request(Method::Invite, "oldbranch");
    let k = key::ServerKey::of_request(&invite).unwrap();
    assert!(matches!(k, key::ServerKey::Legacy { .. }));
    let mut ack = request(Method::Ack, "otherbranch");
    ack.headers.cseq.method = Method::Ack;
    assert_eq!(
        key::ServerKey::of_request(&ack).unwrap(),
        k,
        "branch ignored"
    );
    let mut next = invite.clone();
    next.headers.cseq.seq = 2;
    assert_ne!(key::ServerKey::of_request(&next).unwrap(), k);
}
