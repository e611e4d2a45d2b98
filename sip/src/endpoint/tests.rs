//! Endpoint tests: raw bytes in through the real parser, bytes out read
//! back with it, on an injected clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::message::{find_param, Message};
use crate::parse::parse_message;
use crate::transaction::build::{header_value, response_with_tag, tag_of};

const PEER: &str = "192.0.2.10:5060";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

fn local() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

fn endpoint() -> Endpoint {
    Endpoint::new(EndpointConfig {
        seed: 7,
        ..EndpointConfig::default()
    })
}

fn rx(transport: Transport, from: SocketAddr, text: &str) -> Received {
    Received {
        transport,
        local: local(),
        remote: from,
        bytes: Bytes::from(text.replace('\n', "\r\n")),
    }
}

struct Req<'a> {
    method: &'a str,
    branch: &'a str,
    cseq: u32,
    to_tag: Option<&'a str>,
    via: &'a str,
    extra: &'a str,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            method: "INVITE",
            branch: "z9hG4bKa1",
            cseq: 1,
            to_tag: None,
            via: "SIP/2.0/UDP 192.0.2.10:5060",
            extra: "",
        }
    }
}

impl Req<'_> {
    fn text(&self) -> String {
        let to_tag = self.to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let cseq_method = self.method;
        format!(
            "{m} sip:100@127.0.0.1 SIP/2.0\n\
             Via: {via};branch={b}\n\
             Max-Forwards: 70\n\
             From: <sip:alice@example.com>;tag=ft1\n\
             To: <sip:100@127.0.0.1>{to_tag}\n\
             Call-ID: c1@example.com\n\
             CSeq: {seq} {cseq_method}\n\
             Contact: <sip:alice@192.0.2.10:5060>\n\
             {extra}\
             Content-Length: 0\n\n",
            m = self.method,
            via = self.via,
            b = self.branch,
            seq = self.cseq,
            extra = self.extra,
        )
    }
}

fn transmits(ep: &mut Endpoint) -> Vec<Transmit> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn response(t: &Transmit) -> Response {
    match parse_message(&t.bytes).unwrap() {
        Message::Response(r) => r,
        Message::Request(r) => panic!("expected a response, got {r:?}"),
    }
}

fn request(t: &Transmit) -> Request {
    match parse_message(&t.bytes).unwrap() {
        Message::Request(r) => r,
        Message::Response(r) => panic!("expected a request, got {r:?}"),
    }
}

fn statuses(ts: &[Transmit]) -> Vec<u16> {
    ts.iter().map(|t| response(t).status).collect()
}

/// Feeds a new INVITE and returns its server transaction and request.
fn incoming_invite(ep: &mut Endpoint, now: Instant, transport: Transport) -> (ServerTxId, Request) {
    ep.handle_datagram(now, rx(transport, peer(), &Req::default().text()));
    match events(ep).as_slice() {
        [Event::Request { tx, request, .. }] => (*tx, request.clone()),
        other => panic!("expected one request event, got {other:?}"),
    }
}

/// Runs timers up to `until`, returning each transmit with its ms offset.
fn run_timers(ep: &mut Endpoint, t0: Instant, until: Duration) -> Vec<(u64, Transmit)> {
    let mut log = Vec::new();
    while let Some(at) = ep.poll_timeout() {
        if at > t0 + until {
            break;
        }
        ep.handle_timeout(at);
        let ms = u64::try_from((at - t0).as_millis()).unwrap();
        log.extend(transmits(ep).into_iter().map(|t| (ms, t)));
    }
    log
}

#[test]
fn invite_reaches_tu_and_trying_follows_after_200_ms_of_silence() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (_tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    assert_eq!(req.method, Method::Invite);
    assert!(transmits(&mut ep).is_empty());
    let log = run_timers(&mut ep, t0, Duration::from_millis(300));
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].0, 200);
    assert_eq!(response(&log[0].1).status, 100);
    assert_eq!(log[0].1.destination, peer());
}

#[test]
fn full_call_invite_180_200_ack_bye_leaves_no_transaction_behind() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    ep.send_response(t0, &tx, response_with_tag(&req, 180, "uas1"))
        .unwrap();
    ep.send_response(t0, &tx, response_with_tag(&req, 200, "uas1"))
        .unwrap();
    assert_eq!(statuses(&transmits(&mut ep)), vec![180, 200]);
    let ack = Req {
        method: "ACK",
        branch: "z9hG4bKack",
        to_tag: Some("uas1"),
        ..Req::default()
    };
    ep.handle_datagram(
        t0 + Duration::from_millis(10),
        rx(Transport::Udp, peer(), &ack.text()),
    );
    assert!(
        matches!(events(&mut ep).as_slice(), [Event::Ack { tx: t, .. }] if *t == tx),
        "the ACK for the 2xx is matched by dialog"
    );
    let bye = Req {
        method: "BYE",
        branch: "z9hG4bKbye",
        cseq: 2,
        to_tag: Some("uas1"),
        ..Req::default()
    };
    ep.handle_datagram(
        t0 + Duration::from_secs(1),
        rx(Transport::Udp, peer(), &bye.text()),
    );
    let evs = events(&mut ep);
    let [Event::Request {
        tx: bye_tx,
        request: bye_req,
        ..
    }] = evs.as_slice()
    else {
        panic!("BYE not passed up");
    };
    ep.send_response(
        t0 + Duration::from_secs(1),
        bye_tx,
        response_with_tag(bye_req, 200, "uas1"),
    )
    .unwrap();
    assert_eq!(statuses(&transmits(&mut ep)), vec![200]);
    let log = run_timers(&mut ep, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "no retransmission after the ACK: {log:?}");
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.stats().live_transactions, 0);
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn retransmitted_invite_is_absorbed_and_gets_the_last_provisional() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    ep.send_response(t0, &tx, response_with_tag(&req, 180, "uas1"))
        .unwrap();
    transmits(&mut ep);
    ep.handle_datagram(
        t0 + Duration::from_millis(500),
        rx(Transport::Udp, peer(), &Req::default().text()),
    );
    assert!(events(&mut ep).is_empty(), "not a new request");
    assert_eq!(statuses(&transmits(&mut ep)), vec![180]);
    assert_eq!(ep.stats().retransmissions_received, 1);
}

#[test]
fn unacked_2xx_is_retransmitted_then_reported() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    ep.send_response(t0, &tx, response_with_tag(&req, 200, "uas1"))
        .unwrap();
    transmits(&mut ep);
    let log = run_timers(&mut ep, t0, Duration::from_secs(100));
    let at: Vec<u64> = log.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        at,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(log.iter().all(|(_, t)| response(t).status == 200));
    assert_eq!(events(&mut ep), vec![Event::AckTimeout { tx }]);
    assert_eq!(ep.stats().ack_timeouts, 1);
}

#[test]
fn reliable_transport_cancels_retransmissions() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Tcp);
    ep.send_response(t0, &tx, response_with_tag(&req, 200, "uas1"))
        .unwrap();
    assert_eq!(transmits(&mut ep).len(), 1);
    let log = run_timers(&mut ep, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "{log:?}");
    let out = ep.send_request(t0, bye_from_us(), peer(), Transport::Tcp);
    transmits(&mut ep);
    let log = run_timers(&mut ep, t0, Duration::from_secs(100));
    assert!(log.is_empty(), "no client retransmission over TCP: {log:?}");
    let evs = events(&mut ep);
    assert!(evs.contains(&Event::AckTimeout { tx }));
    assert!(evs.iter().any(
        |e| matches!(e, Event::Response { tx, response } if *tx == out && response.status == 408)
    ));
}

#[test]
fn cancel_before_answer_gets_200_and_tells_the_tu() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    ep.send_response(t0, &tx, response_with_tag(&req, 180, "uas1"))
        .unwrap();
    transmits(&mut ep);
    let cancel = Req {
        method: "CANCEL",
        ..Req::default()
    };
    ep.handle_datagram(t0, rx(Transport::Udp, peer(), &cancel.text()));
    let out = transmits(&mut ep);
    assert_eq!(statuses(&out), vec![200]);
    let ok = response(&out[0]);
    assert_eq!(ok.headers.cseq.method, Method::Cancel);
    assert_eq!(
        tag_of(&ok.headers.to),
        Some("uas1"),
        "same To tag as the INVITE's"
    );
    let evs = events(&mut ep);
    assert!(
        matches!(evs.as_slice(), [Event::Cancelled { invite_tx, request }]
        if *invite_tx == tx && request.method == Method::Cancel)
    );
    // The TU answers 487; the ACK (same branch) is absorbed.
    ep.send_response(t0, &tx, response_with_tag(&req, 487, "uas1"))
        .unwrap();
    assert_eq!(statuses(&transmits(&mut ep)), vec![487]);
    let ack = Req {
        method: "ACK",
        to_tag: Some("uas1"),
        ..Req::default()
    };
    ep.handle_datagram(t0, rx(Transport::Udp, peer(), &ack.text()));
    assert!(
        events(&mut ep).is_empty(),
        "ACK for a non-2xx stays in the transaction"
    );
    assert!(run_timers(&mut ep, t0, Duration::from_secs(100)).is_empty());
    assert_eq!(ep.stats().live_transactions, 0);
}

#[test]
fn cancel_crosses_200() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    ep.send_response(t0, &tx, response_with_tag(&req, 200, "uas1"))
        .unwrap();
    transmits(&mut ep);
    let cancel = Req {
        method: "CANCEL",
        ..Req::default()
    };
    ep.handle_datagram(t0, rx(Transport::Udp, peer(), &cancel.text()));
    assert_eq!(statuses(&transmits(&mut ep)), vec![200]);
    assert!(events(&mut ep).is_empty(), "too late to cancel: no event");
    let ack = Req {
        method: "ACK",
        branch: "z9hG4bKack2",
        to_tag: Some("uas1"),
        ..Req::default()
    };
    ep.handle_datagram(t0, rx(Transport::Udp, peer(), &ack.text()));
    assert!(matches!(events(&mut ep).as_slice(), [Event::Ack { .. }]));
}

#[test]
fn cancel_matching_nothing_gets_481() {
    let mut ep = endpoint();
    let cancel = Req {
        method: "CANCEL",
        ..Req::default()
    };
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, peer(), &cancel.text()));
    assert_eq!(statuses(&transmits(&mut ep)), vec![481]);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn merged_request_gets_482() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    incoming_invite(&mut ep, t0, Transport::Udp);
    let forked = Req {
        branch: "z9hG4bKother",
        via: "SIP/2.0/UDP 192.0.2.11:5060",
        ..Req::default()
    };
    ep.handle_datagram(
        t0,
        rx(
            Transport::Udp,
            "192.0.2.11:5060".parse().unwrap(),
            &forked.text(),
        ),
    );
    assert!(events(&mut ep).is_empty());
    assert_eq!(statuses(&transmits(&mut ep)), vec![482]);
}

#[test]
fn unknown_method_gets_501_and_unsupported_known_method_405_with_allow() {
    let mut ep = endpoint();
    let now = Instant::now();
    let foo = Req {
        method: "FOO",
        ..Req::default()
    };
    ep.handle_datagram(now, rx(Transport::Udp, peer(), &foo.text()));
    assert_eq!(statuses(&transmits(&mut ep)), vec![501]);
    let sub = Req {
        method: "SUBSCRIBE",
        branch: "z9hG4bKsub",
        ..Req::default()
    };
    ep.handle_datagram(now, rx(Transport::Udp, peer(), &sub.text()));
    let out = transmits(&mut ep);
    let r = response(&out[0]);
    assert_eq!(r.status, 405);
    let allow = header_value(&r.headers, "Allow").unwrap();
    assert!(allow.contains("INVITE") && allow.contains("BYE") && !allow.contains("SUBSCRIBE"));
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.stats().requests_received.get("other"), Some(&1));
}

#[test]
fn options_answered_200_with_allow_and_accept() {
    let mut ep = endpoint();
    let opt = Req {
        method: "OPTIONS",
        extra: "Max-Forwards: 0\n",
        ..Req::default()
    };
    ep.handle_datagram(
        Instant::now(),
        rx(
            Transport::Udp,
            peer(),
            &opt.text().replace("Max-Forwards: 70\n", ""),
        ),
    );
    let out = transmits(&mut ep);
    let r = response(&out[0]);
    assert_eq!(r.status, 200);
    assert!(header_value(&r.headers, "Allow")
        .unwrap()
        .contains("OPTIONS"));
    assert_eq!(header_value(&r.headers, "Accept"), Some("application/sdp"));
    assert!(tag_of(&r.headers.to).is_some());
    assert!(events(&mut ep).is_empty());
}

#[test]
fn options_go_to_the_tu_when_configured() {
    let mut ep = Endpoint::new(EndpointConfig {
        tu_handles_options: true,
        ..EndpointConfig::default()
    });
    let opt = Req {
        method: "OPTIONS",
        ..Req::default()
    };
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, peer(), &opt.text()));
    assert!(transmits(&mut ep).is_empty());
    assert!(matches!(
        events(&mut ep).as_slice(),
        [Event::Request { .. }]
    ));
}

#[test]
fn unsupported_require_gets_420_naming_the_extension() {
    let mut ep = Endpoint::new(EndpointConfig {
        supported: vec!["timer".into()],
        ..EndpointConfig::default()
    });
    let inv = Req {
        extra: "Require: timer, 100rel\n",
        ..Req::default()
    };
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, peer(), &inv.text()));
    let r = response(&transmits(&mut ep)[0]);
    assert_eq!(r.status, 420);
    assert_eq!(header_value(&r.headers, "Unsupported"), Some("100rel"));
}

#[test]
fn max_forwards_zero_gets_483_only_when_configured() {
    let text = Req::default()
        .text()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let mut ep = endpoint();
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, peer(), &text));
    assert!(matches!(
        events(&mut ep).as_slice(),
        [Event::Request { .. }]
    ));
    let mut ep = Endpoint::new(EndpointConfig {
        reject_max_forwards_zero: true,
        ..EndpointConfig::default()
    });
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, peer(), &text));
    assert_eq!(statuses(&transmits(&mut ep)), vec![483]);
}

#[test]
fn rport_sends_responses_to_the_source_and_stamps_via() {
    let nat: SocketAddr = "203.0.113.5:40000".parse().unwrap();
    let mut ep = endpoint();
    let opt = Req {
        method: "OPTIONS",
        via: "SIP/2.0/UDP 10.0.0.2:5060;rport",
        ..Req::default()
    };
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, nat, &opt.text()));
    let out = transmits(&mut ep);
    assert_eq!(out[0].destination, nat);
    let r = response(&out[0]);
    let via = &r.headers.via[0];
    assert_eq!(
        find_param(&via.params, "received")
            .unwrap()
            .value
            .as_deref(),
        Some("203.0.113.5")
    );
    assert_eq!(
        find_param(&via.params, "rport").unwrap().value.as_deref(),
        Some("40000")
    );
}

#[test]
fn without_rport_responses_go_to_received_at_the_sent_by_port() {
    let src: SocketAddr = "203.0.113.5:40000".parse().unwrap();
    let mut ep = endpoint();
    let opt = Req {
        method: "OPTIONS",
        via: "SIP/2.0/UDP 10.0.0.2:5070",
        ..Req::default()
    };
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, src, &opt.text()));
    let out = transmits(&mut ep);
    assert_eq!(
        out[0].destination,
        "203.0.113.5:5070".parse::<SocketAddr>().unwrap()
    );
    let via = &response(&out[0]).headers.via[0];
    assert_eq!(
        find_param(&via.params, "received")
            .unwrap()
            .value
            .as_deref(),
        Some("203.0.113.5")
    );
    assert!(find_param(&via.params, "rport").is_none());
}

#[test]
fn parse_error_is_answered_to_the_source() {
    let mut ep = endpoint();
    let bad = Req::default().text().replace("SIP/2.0\n", "SIP/3.0\n");
    ep.handle_datagram(Instant::now(), rx(Transport::Udp, peer(), &bad));
    let out = transmits(&mut ep);
    assert_eq!(statuses(&out), vec![505]);
    assert_eq!(out[0].destination, peer());
    assert_eq!(ep.stats().parse_errors, 1);
    ep.handle_datagram(
        Instant::now(),
        rx(Transport::Udp, peer(), "\u{1}\u{2}garbage"),
    );
    assert_eq!(ep.stats().parse_errors, 2);
    assert!(events(&mut ep).is_empty());
}

fn bye_from_us() -> Request {
    let mut req = match parse_message(
        Req {
            method: "BYE",
            to_tag: Some("x"),
            ..Req::default()
        }
        .text()
        .replace('\n', "\r\n")
        .as_bytes(),
    )
    .unwrap()
    {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    };
    req.headers.via.clear();
    req
}

fn invite_from_us() -> Request {
    let mut req = bye_from_us();
    req.method = Method::Invite;
    req.headers.cseq.method = Method::Invite;
    req.headers.to.params.clear();
    req
}

/// What a peer answers to our request `sent`.
fn answer(sent: &Transmit, status: u16) -> Received {
    let req = request(sent);
    let resp = response_with_tag(&req, status, "peer1");
    Received {
        transport: sent.transport.clone(),
        local: local(),
        remote: sent.destination,
        bytes: crate::write::write_response(&resp),
    }
}

#[test]
fn send_request_pushes_our_via_with_new_branch_and_rport() {
    let mut ep = endpoint();
    let _ = ep.send_request(Instant::now(), bye_from_us(), peer(), Transport::Udp);
    let out = transmits(&mut ep);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].destination, peer());
    let req = request(&out[0]);
    let via = &req.headers.via[0];
    assert_eq!(via.host, Host::Ipv4(std::net::Ipv4Addr::LOCALHOST));
    assert_eq!(via.port, Some(5060));
    assert!(build::branch_of(via).unwrap().starts_with("z9hG4bK"));
    assert!(find_param(&via.params, "rport").is_some());
    assert_eq!(ep.stats().requests_sent.get("BYE"), Some(&1));
}

#[test]
fn invite_client_acks_486_and_reports_it() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let tx = ep.send_request(t0, invite_from_us(), peer(), Transport::Udp);
    let sent = transmits(&mut ep);
    ep.handle_datagram(t0, answer(&sent[0], 180));
    ep.handle_datagram(t0, answer(&sent[0], 486));
    let out = transmits(&mut ep);
    let ack = request(&out[0]);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(
        build::branch_of(&ack.headers.via[0]),
        build::branch_of(&request(&sent[0]).headers.via[0])
    );
    let codes: Vec<u16> = events(&mut ep)
        .into_iter()
        .map(|e| match e {
            Event::Response { tx: t, response } if t == tx => response.status,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, vec![180, 486]);
    // The retransmitted 486 is absorbed and re-ACKed.
    ep.handle_datagram(t0, answer(&sent[0], 486));
    assert_eq!(request(&transmits(&mut ep)[0]).method, Method::Ack);
    assert!(events(&mut ep).is_empty());
}

#[test]
fn invite_client_times_out_with_408_after_retransmitting() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let tx = ep.send_request(t0, invite_from_us(), peer(), Transport::Udp);
    transmits(&mut ep);
    let log = run_timers(&mut ep, t0, Duration::from_secs(100));
    let at: Vec<u64> = log.iter().map(|(t, _)| *t).collect();
    assert_eq!(at, vec![500, 1500, 3500, 7500, 15500, 31500]);
    let evs = events(&mut ep);
    assert!(
        matches!(evs.as_slice(), [Event::Response { tx: t, response }] if *t == tx && response.status == 408)
    );
    assert_eq!(ep.stats().transaction_timeouts, 1);
    assert_eq!(ep.stats().retransmissions_sent, 6);
    assert_eq!(ep.stats().live_transactions, 0);
}

#[test]
fn cancel_waits_for_a_provisional_then_reuses_the_invite_branch() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let tx = ep.send_request(t0, invite_from_us(), peer(), Transport::Udp);
    let sent = transmits(&mut ep);
    let cancel_tx = ep.cancel(t0, &tx).unwrap();
    assert!(
        transmits(&mut ep).is_empty(),
        "no CANCEL before a provisional"
    );
    ep.handle_datagram(t0, answer(&sent[0], 100));
    let out = transmits(&mut ep);
    let cancel = request(&out[0]);
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(
        build::branch_of(&cancel.headers.via[0]),
        build::branch_of(&request(&sent[0]).headers.via[0])
    );
    ep.handle_datagram(t0, answer(&out[0], 200));
    ep.handle_datagram(t0, answer(&sent[0], 487));
    let evs = events(&mut ep);
    assert!(evs.iter().any(|e| matches!(e, Event::Response { tx: t, response } if *t == cancel_tx && response.status == 200)));
    assert!(evs.iter().any(
        |e| matches!(e, Event::Response { tx: t, response } if *t == tx && response.status == 487)
    ));
    assert_eq!(ep.cancel(t0, &tx), None, "nothing left to cancel");
}

#[test]
fn responses_with_a_foreign_top_via_are_dropped() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let _ = ep.send_request(t0, bye_from_us(), peer(), Transport::Udp);
    let sent = transmits(&mut ep);
    let mut req = request(&sent[0]);
    req.headers.via[0].port = Some(5999);
    let resp = response_with_tag(&req, 200, "x");
    ep.handle_datagram(
        t0,
        Received {
            transport: Transport::Udp,
            local: local(),
            remote: peer(),
            bytes: crate::write::write_response(&resp),
        },
    );
    assert!(events(&mut ep).is_empty());
    assert_eq!(ep.stats().responses_dropped, 1);
}

#[test]
fn stats_count_by_method_and_code() {
    let t0 = Instant::now();
    let mut ep = endpoint();
    let (tx, req) = incoming_invite(&mut ep, t0, Transport::Udp);
    ep.send_response(t0, &tx, response_with_tag(&req, 486, "u"))
        .unwrap();
    let s = ep.stats();
    assert_eq!(s.requests_received.get("INVITE"), Some(&1));
    assert_eq!(s.responses_sent.get(&486), Some(&1));
    assert_eq!(s.live_transactions, 1);
}
