//! Two endpoints on an in-memory network with a virtual clock: a UAC and
//! a UAS place whole calls (INVITE, 180, 200, ACK, BYE, 200) through the
//! real parser, writer, transactions and dialogs, with and without packet
//! loss. Nothing sleeps; nothing touches a socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hibiki_sip::dialog::Dialog;
use hibiki_sip::endpoint::{
    ClientTxId, Endpoint, EndpointConfig, Event, Received, ServerTxId, Transmit,
};
use hibiki_sip::parse::parse_uri;
use hibiki_sip::transaction::build::response_with_tag;
use hibiki_sip::*;

const ONE_WAY: Duration = Duration::from_millis(10);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn endpoint(port: u16, seed: u64) -> Endpoint {
    Endpoint::new(EndpointConfig {
        via_host: Host::Ipv4([127, 0, 0, 1].into()),
        via_port: Some(port),
        seed,
        ..EndpointConfig::default()
    })
}

fn contact(uri: &str) -> Vec<Contact> {
    vec![Contact::Addr(NameAddr {
        display_name: None,
        uri: parse_uri(uri).unwrap(),
        params: vec![],
    })]
}

fn invite(call: u32) -> Request {
    let to = NameAddr {
        display_name: None,
        uri: parse_uri("sip:100@127.0.0.1:5060").unwrap(),
        params: vec![],
    };
    let from = NameAddr {
        display_name: None,
        uri: parse_uri("sip:caller@127.0.0.1:5061").unwrap(),
        params: vec![Param::new("tag", Some(format!("uac{call}")))],
    };
    Request {
        method: Method::Invite,
        uri: to.uri.clone(),
        headers: Headers {
            via: vec![],
            from,
            to,
            call_id: format!("call-{call}@127.0.0.1"),
            cseq: CSeq {
                seq: 1,
                method: Method::Invite,
            },
            max_forwards: None,
            contact: contact("sip:caller@127.0.0.1:5061"),
            route: vec![],
            record_route: vec![],
            content_type: None,
            extra: vec![],
        },
        body: Bytes::new(),
    }
}

/// Which packets the link drops: deterministic, so a run is repeatable.
#[derive(Debug, Clone, Copy)]
enum Loss {
    None,
    /// Every n-th packet (both directions counted together).
    Every(u64),
    /// Each packet with probability `percent`, from a seeded generator.
    Random {
        percent: u64,
        seed: u64,
    },
}

impl Loss {
    fn drops(&mut self, n: u64) -> bool {
        match self {
            Loss::None => false,
            Loss::Every(k) => n.is_multiple_of(*k),
            Loss::Random { percent, seed } => {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (*seed >> 33) % 100 < *percent
            }
        }
    }
}

/// What each side's TU saw, for the assertions.
#[derive(Default, Debug)]
struct Log {
    uas_invites: u32,
    uas_acks: u32,
    uas_byes: u32,
    uac_bye_ok: u32,
    uac_2xx: u32,
    failures: Vec<String>,
}

struct Uac {
    invites: Vec<(ClientTxId, Request)>,
    dialogs: Vec<Option<Dialog>>,
    byes: Vec<ClientTxId>,
}

struct Pair {
    now: Instant,
    uac: Endpoint,
    uas: Endpoint,
    /// (deliver at, to UAS?, bytes)
    wire: Vec<(Instant, bool, Transmit)>,
    sent: u64,
    loss: Loss,
    log: Log,
    uac_tu: Uac,
}

impl Pair {
    fn new(loss: Loss) -> Pair {
        Pair {
            now: Instant::now(),
            uac: endpoint(5061, 1),
            uas: endpoint(5060, 2),
            wire: Vec::new(),
            sent: 0,
            loss,
            log: Log::default(),
            uac_tu: Uac {
                invites: vec![],
                dialogs: vec![],
                byes: vec![],
            },
        }
    }

    fn place_call(&mut self, call: u32) {
        let req = invite(call);
        let tx = self
            .uac
            .send_request(self.now, req.clone(), addr(5060), Transport::Udp);
        self.uac_tu.invites.push((tx, req));
        self.uac_tu.dialogs.push(None);
    }

    /// Moves transmits onto the wire (dropping every `drop_every`-th).
    fn pump(&mut self) {
        for (to_uas, ep) in [(true, &mut self.uac), (false, &mut self.uas)] {
            while let Some(t) = ep.poll_transmit() {
                self.sent += 1;
                if self.loss.drops(self.sent) {
                    continue;
                }
                self.wire.push((self.now + ONE_WAY, to_uas, t));
            }
        }
    }

    fn uas_tu(&mut self) {
        while let Some(ev) = self.uas.poll_event() {
            match ev {
                Event::Request { tx, request, .. } => self.answer(tx, request),
                Event::Ack { .. } => self.log.uas_acks += 1,
                other => self.log.failures.push(format!("uas: {other:?}")),
            }
        }
    }

    fn answer(&mut self, tx: ServerTxId, request: Request) {
        let now = self.now;
        match request.method {
            Method::Invite => {
                self.log.uas_invites += 1;
                let from_tag = request
                    .headers
                    .from
                    .params
                    .iter()
                    .find(|p| p.name == "tag")
                    .and_then(|p| p.value.clone())
                    .unwrap_or_default();
                let tag = format!("uas-{from_tag}");
                let ringing = response_with_tag(&request, 180, &tag);
                let mut ok = response_with_tag(&request, 200, &tag);
                ok.headers.contact = contact("sip:100@127.0.0.1:5060");
                self.uas.send_response(now, &tx, ringing).unwrap();
                self.uas.send_response(now, &tx, ok).unwrap();
            }
            Method::Bye => {
                self.log.uas_byes += 1;
                let ok = response_with_tag(&request, 200, "unused");
                self.uas.send_response(now, &tx, ok).unwrap();
            }
            other => self.log.failures.push(format!("uas got {other}")),
        }
    }

    fn uac_tu(&mut self) {
        while let Some(ev) = self.uac.poll_event() {
            let Event::Response { tx, response } = ev else {
                self.log.failures.push(format!("uac: {ev:?}"));
                continue;
            };
            if self.uac_tu.byes.contains(&tx) {
                if response.status == 200 {
                    self.log.uac_bye_ok += 1;
                } else {
                    self.log
                        .failures
                        .push(format!("BYE got {}", response.status));
                }
                continue;
            }
            let Some(i) = self.uac_tu.invites.iter().position(|(t, _)| *t == tx) else {
                self.log.failures.push("response to an unknown tx".into());
                continue;
            };
            match response.status {
                100..=199 => {}
                200..=299 => {
                    self.log.uac_2xx += 1;
                    let invite = self.uac_tu.invites[i].1.clone();
                    let first = self.uac_tu.dialogs[i].is_none();
                    if first {
                        self.uac_tu.dialogs[i] = Some(Dialog::uac(&invite, &response).unwrap());
                    }
                    let dialog = self.uac_tu.dialogs[i].as_mut().unwrap();
                    // Every 2xx (retransmissions too) is ACKed.
                    let ack = dialog.ack_for_2xx(invite.headers.cseq.seq);
                    self.uac.send_ack(self.now, ack, addr(5060), Transport::Udp);
                    if first {
                        let bye = dialog.request(Method::Bye);
                        let bye_tx =
                            self.uac
                                .send_request(self.now, bye, addr(5060), Transport::Udp);
                        self.uac_tu.byes.push(bye_tx);
                    }
                }
                s => self.log.failures.push(format!("INVITE got {s}")),
            }
        }
    }

    /// Runs the virtual network for `span`.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        loop {
            self.uac_tu();
            self.uas_tu();
            self.pump();
            let next = [
                self.wire.iter().map(|w| w.0).min(),
                self.uac.poll_timeout(),
                self.uas.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= end) else {
                break;
            };
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<_>, Vec<_>) = self.wire.drain(..).partition(|w| w.0 <= now);
            self.wire = later;
            for (_, to_uas, t) in due {
                let (ep, from) = if to_uas {
                    (&mut self.uas, addr(5061))
                } else {
                    (&mut self.uac, addr(5060))
                };
                ep.handle_datagram(
                    now,
                    Received {
                        transport: t.transport,
                        local: t.destination,
                        remote: from,
                        bytes: t.bytes,
                    },
                );
            }
            self.uac.handle_timeout(now);
            self.uas.handle_timeout(now);
        }
    }
}

#[test]
fn calls_complete_on_a_clean_link_and_leave_nothing_behind() {
    let mut pair = Pair::new(Loss::None);
    for call in 0..50 {
        pair.place_call(call);
    }
    pair.run(Duration::from_secs(100));
    let log = &pair.log;
    assert!(log.failures.is_empty(), "{:?}", log.failures);
    assert_eq!(
        (
            log.uas_invites,
            log.uas_acks,
            log.uas_byes,
            log.uac_bye_ok,
            log.uac_2xx
        ),
        (50, 50, 50, 50, 50)
    );
    assert_eq!(pair.uac.stats().retransmissions_sent, 0);
    assert_eq!(pair.uas.stats().retransmissions_sent, 0);
    assert_eq!(pair.uac.stats().live_transactions, 0);
    assert_eq!(pair.uas.stats().live_transactions, 0);
    assert_eq!(pair.uas.poll_timeout(), None);
}

#[test]
fn calls_complete_through_loss_thanks_to_retransmissions() {
    let losses = [
        Loss::Every(3),
        Loss::Every(5),
        Loss::Random {
            percent: 20,
            seed: 1,
        },
        Loss::Random {
            percent: 20,
            seed: 2,
        },
        Loss::Random {
            percent: 20,
            seed: 3,
        },
    ];
    for loss in losses {
        let mut pair = Pair::new(loss);
        for call in 0..20 {
            pair.place_call(call);
        }
        pair.run(Duration::from_secs(200));
        let log = &pair.log;
        assert!(log.failures.is_empty(), "{loss:?}: {:?}", log.failures);
        assert_eq!(log.uas_invites, 20, "each INVITE reaches the TU once");
        assert_eq!(log.uas_byes, 20, "each BYE reaches the TU once");
        assert_eq!(log.uac_bye_ok, 20, "{loss:?}: {log:?}");
        assert!(pair.uac.stats().retransmissions_sent + pair.uas.stats().retransmissions_sent > 0);
        assert_eq!(pair.uac.stats().live_transactions, 0);
        assert_eq!(pair.uas.stats().live_transactions, 0);
    }
}

/// A rough measure of the UAS-side cost of one INVITE-180-200-ACK-BYE call
/// (parse, transactions, write): run by hand with
/// `cargo test --release -p hibiki-sip --test transactions -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn uas_call_cost() {
    let calls = 20_000u32;
    let mut uas = endpoint(5060, 9);
    let peer = addr(5061);
    let t0 = Instant::now();
    let mut now = t0;
    let started = std::time::Instant::now();
    for call in 0..calls {
        now += Duration::from_micros(500);
        let mut inv = invite(call);
        inv.headers.via = vec![Via {
            transport: Transport::Udp,
            host: Host::Ipv4([127, 0, 0, 1].into()),
            port: Some(5061),
            params: vec![Param::new("branch", Some(format!("z9hG4bKi{call}")))],
        }];
        let rx = |bytes| Received {
            transport: Transport::Udp,
            local: addr(5060),
            remote: peer,
            bytes,
        };
        uas.handle_datagram(now, rx(hibiki_sip::write::write_request(&inv)));
        let Some(Event::Request { tx, request, .. }) = uas.poll_event() else {
            panic!("no INVITE event");
        };
        let tag = format!("u{call}");
        let mut ok = response_with_tag(&request, 200, &tag);
        ok.headers.contact = contact("sip:100@127.0.0.1:5060");
        uas.send_response(now, &tx, response_with_tag(&request, 180, &tag))
            .unwrap();
        uas.send_response(now, &tx, ok.clone()).unwrap();
        let mut d = Dialog::uac(&inv, &ok).unwrap();
        let mut ack = d.ack_for_2xx(1);
        ack.headers.via = vec![Via {
            params: vec![Param::new("branch", Some(format!("z9hG4bKa{call}")))],
            ..inv.headers.via[0].clone()
        }];
        uas.handle_datagram(now, rx(hibiki_sip::write::write_request(&ack)));
        let mut bye = d.request(Method::Bye);
        bye.headers.via = vec![Via {
            params: vec![Param::new("branch", Some(format!("z9hG4bKb{call}")))],
            ..inv.headers.via[0].clone()
        }];
        uas.handle_datagram(now, rx(hibiki_sip::write::write_request(&bye)));
        while let Some(ev) = uas.poll_event() {
            if let Event::Request { tx, request, .. } = ev {
                assert_eq!(request.method, Method::Bye);
                uas.send_response(now, &tx, response_with_tag(&request, 200, &tag))
                    .unwrap();
            }
        }
        while uas.poll_transmit().is_some() {}
        uas.handle_timeout(now);
    }
    let per_call = started.elapsed() / calls;
    eprintln!(
        "{per_call:?} per call ({:.0} calls/s on one core), {} live transactions",
        1.0 / per_call.as_secs_f64(),
        uas.stats().live_transactions
    );
}
