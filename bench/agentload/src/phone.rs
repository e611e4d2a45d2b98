//! Every agent's SIP phone, on one UDP socket: the device each agent's
//! profile points at (`sip:agentK@127.0.0.1:PORT`, one PORT for all).
//!
//! A minimal answering user agent (RFC 3261 basics, nothing negotiated
//! beyond the codec): an INVITE is answered at once with 180 and then 200
//! carrying an SDP answer in PCMU (the media goes to a sink port: agents
//! here have no audio); the 200 is retransmitted (T1 doubling, capped at
//! T2) until the ACK or 64 × T1 (§13.3.1.4); a retransmitted INVITE gets
//! the 200 again; BYE gets 200 (481 for an unknown dialog); CANCEL after
//! the answer and any other request get 200. The phone never sends a
//! request: agents hang up from their screen (`call.hangup`), and the
//! server sends the BYE.
//!
//! Sans-IO: [`Phone::on_datagram`] and [`Phone::on_timer`] take the time
//! and return the datagrams to send; [`run`] is the socket driver.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cancel::Cancel;
use hibiki_sip::sdp::SessionDescription;
use hibiki_sip::transaction::build::{response_to, response_with_tag, tag_of};
use hibiki_sip::{Contact, Message, Method, NameAddr, Request};
use tokio::net::UdpSocket;

/// RFC 3261 T1 (µs).
pub const T1_US: u64 = 500_000;
/// RFC 3261 T2 (µs).
pub const T2_US: u64 = 4_000_000;
/// 64 × T1: how long the 200 is retransmitted without an ACK, and how
/// long an ended dialog is remembered (to answer retransmitted BYEs).
pub const TIMEOUT_US: u64 = 64 * T1_US;

/// What the phone saw, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PhoneStats {
    pub invites: u64,
    /// INVITEs refused (488: no PCMU in the offer, or no offer).
    pub refused: u64,
    pub acks: u64,
    pub byes: u64,
    /// 200s sent again (retransmitted INVITE or no ACK yet).
    pub ok_retransmits: u64,
    /// Calls answered but never ACKed within 64 × T1.
    pub ack_timeouts: u64,
    /// BYEs for no dialog we know (answered 481).
    pub unknown_byes: u64,
    /// Datagrams that did not parse as SIP.
    pub unparsable: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// 200 sent, waiting for the ACK.
    Answered,
    Confirmed,
    /// BYE answered (kept a while for retransmissions).
    Ended,
}

#[derive(Debug)]
struct Dialog {
    state: State,
    peer: SocketAddr,
    tag: String,
    ok: Vec<u8>,
    answer: String,
    next_retx_us: u64,
    interval_us: u64,
    /// ACK deadline while answered; forget time once ended.
    deadline_us: u64,
}

/// The phone's state: one dialog per Call-ID.
#[derive(Debug)]
pub struct Phone {
    /// Our SIP address (Contact).
    local: SocketAddrV4,
    /// Where our SDP says the media goes.
    rtp: SocketAddrV4,
    dialogs: HashMap<String, Dialog>,
    next_tag: u64,
    pub stats: PhoneStats,
}

/// A datagram to send.
pub type Out = (Vec<u8>, SocketAddr);

impl Phone {
    pub fn new(local: SocketAddrV4, rtp: SocketAddrV4) -> Phone {
        Phone {
            local,
            rtp,
            dialogs: HashMap::new(),
            next_tag: 1,
            stats: PhoneStats::default(),
        }
    }

    /// Calls answered and not yet ended.
    pub fn open_calls(&self) -> usize {
        self.dialogs
            .values()
            .filter(|d| d.state != State::Ended)
            .count()
    }

    /// A datagram from `src` at `now_us`.
    pub fn on_datagram(&mut self, now_us: u64, datagram: &[u8], src: SocketAddr) -> Vec<Out> {
        match hibiki_sip::parse::parse_message(datagram) {
            Ok(Message::Request(req)) => self.on_request(now_us, &req, src),
            // We send no requests: responses are strays.
            Ok(Message::Response(_)) => Vec::new(),
            Err(_) => {
                self.stats.unparsable += 1;
                Vec::new()
            }
        }
    }

    fn on_request(&mut self, now_us: u64, req: &Request, src: SocketAddr) -> Vec<Out> {
        let call_id = req.headers.call_id.clone();
        let known = self.dialogs.get_mut(&call_id);
        match (&req.method, known) {
            (Method::Invite, None) => self.answer(now_us, req, src),
            (Method::Invite, Some(d)) => {
                if tag_of(&req.headers.to).is_none() {
                    // The INVITE again: our 200 again, unless it is over.
                    if d.state == State::Ended {
                        return Vec::new();
                    }
                    self.stats.ok_retransmits += 1;
                    vec![(d.ok.clone(), src)]
                } else {
                    // A re-INVITE (session refresh, hold): the same answer.
                    let (tag, answer) = (d.tag.clone(), d.answer.clone());
                    vec![(self.response(req, 200, Some(&tag), Some(answer)), src)]
                }
            }
            (Method::Ack, Some(d)) => {
                if d.state == State::Answered {
                    d.state = State::Confirmed;
                    d.next_retx_us = u64::MAX;
                    self.stats.acks += 1;
                }
                Vec::new()
            }
            (Method::Ack, None) => Vec::new(),
            (Method::Bye, Some(d)) => {
                if d.state != State::Ended {
                    self.stats.byes += 1;
                    d.state = State::Ended;
                    d.next_retx_us = u64::MAX;
                    d.deadline_us = now_us.saturating_add(TIMEOUT_US);
                }
                vec![(self.response(req, 200, None, None), src)]
            }
            (Method::Bye, None) => {
                self.stats.unknown_byes += 1;
                vec![(self.response(req, 481, None, None), src)]
            }
            // CANCEL (answered already: RFC 3261 §9.2 says 200 to the
            // CANCEL, nothing to the INVITE), OPTIONS, INFO…
            _ => vec![(self.response(req, 200, None, None), src)],
        }
    }

    /// A new INVITE: 180 then 200 with our SDP, or 488.
    fn answer(&mut self, now_us: u64, req: &Request, src: SocketAddr) -> Vec<Out> {
        self.stats.invites += 1;
        let tag = format!("al{}", self.next_tag);
        self.next_tag += 1;
        let Some(answer) = sdp_answer(&req.body, self.rtp, self.next_tag) else {
            self.stats.refused += 1;
            return vec![(self.response(req, 488, Some(&tag), None), src)];
        };
        let ringing = self.response(req, 180, Some(&tag), None);
        let ok = self.response(req, 200, Some(&tag), Some(answer.clone()));
        self.dialogs.insert(
            req.headers.call_id.clone(),
            Dialog {
                state: State::Answered,
                peer: src,
                tag,
                ok: ok.clone(),
                answer,
                next_retx_us: now_us.saturating_add(T1_US),
                interval_us: T1_US,
                deadline_us: now_us.saturating_add(TIMEOUT_US),
            },
        );
        vec![(ringing, src), (ok, src)]
    }

    /// Retransmits unACKed 200s, gives up on them after 64 × T1, and
    /// forgets ended dialogs.
    pub fn on_timer(&mut self, now_us: u64) -> Vec<Out> {
        let mut out = Vec::new();
        let mut forget = Vec::new();
        for (call_id, d) in &mut self.dialogs {
            match d.state {
                State::Answered if now_us >= d.deadline_us => {
                    self.stats.ack_timeouts += 1;
                    d.state = State::Ended;
                    d.next_retx_us = u64::MAX;
                    d.deadline_us = now_us.saturating_add(TIMEOUT_US);
                }
                State::Answered if now_us >= d.next_retx_us => {
                    d.interval_us = (d.interval_us * 2).min(T2_US);
                    d.next_retx_us = now_us.saturating_add(d.interval_us);
                    self.stats.ok_retransmits += 1;
                    out.push((d.ok.clone(), d.peer));
                }
                State::Ended if now_us >= d.deadline_us => forget.push(call_id.clone()),
                _ => {}
            }
        }
        for call_id in forget {
            self.dialogs.remove(&call_id);
        }
        out
    }

    /// When [`Phone::on_timer`] has something to do next.
    pub fn next_timer_us(&self) -> Option<u64> {
        self.dialogs
            .values()
            .map(|d| match d.state {
                State::Answered => d.next_retx_us.min(d.deadline_us),
                State::Confirmed => u64::MAX,
                State::Ended => d.deadline_us,
            })
            .filter(|&t| t != u64::MAX)
            .min()
    }

    fn response(
        &self,
        req: &Request,
        status: u16,
        tag: Option<&str>,
        sdp: Option<String>,
    ) -> Vec<u8> {
        let mut resp = match tag {
            Some(t) => response_with_tag(req, status, t),
            None => response_to(req, status),
        };
        if (101..300).contains(&status) && req.method == Method::Invite {
            if let Ok(uri) = hibiki_sip::parse::parse_uri(&format!("sip:phone@{}", self.local)) {
                resp.headers.contact = vec![Contact::Addr(NameAddr {
                    display_name: None,
                    uri,
                    params: Vec::new(),
                })];
            }
        }
        if let Some(body) = sdp {
            resp.headers.content_type = Some("application/sdp".into());
            resp.body = body.into_bytes().into();
        }
        hibiki_sip::write::write_response(&resp).to_vec()
    }
}

/// Our SDP answer to `offer`: PCMU (payload 0) to `rtp`, with
/// telephone-event at the offer's payload type when it had one. `None`
/// when the offer is missing, unreadable or has no PCMU audio.
pub fn sdp_answer(offer: &[u8], rtp: SocketAddrV4, session_id: u64) -> Option<String> {
    let offer = SessionDescription::parse(offer).ok()?;
    let audio = offer
        .media
        .iter()
        .find(|m| m.kind.as_str() == "audio" && m.port != 0)?;
    if !audio.formats.iter().any(|f| f == "0") {
        return None;
    }
    let te = audio
        .formats
        .iter()
        .filter_map(|f| f.parse::<u8>().ok())
        .find(|&pt| {
            audio
                .rtpmap(pt)
                .is_some_and(|m| m.encoding.eq_ignore_ascii_case("telephone-event"))
        });
    let ip = rtp.ip();
    let port = rtp.port();
    let mut s = format!(
        "v=0\r\no=agentload {session_id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    );
    match te {
        Some(te) => s.push_str(&format!(
            "m=audio {port} RTP/AVP 0 {te}\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-15\r\n"
        )),
        None => s.push_str(&format!(
            "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )),
    }
    s.push_str("a=ptime:20\r\na=sendrecv\r\n");
    Some(s)
}

/// The phone's socket loop: until `stop`, answers what arrives and runs
/// the timers; the stats are shared for the report.
pub async fn run(socket: UdpSocket, phone: Arc<Mutex<Phone>>, stop: Cancel) -> std::io::Result<()> {
    let t0 = Instant::now();
    let now_us = || t0.elapsed().as_micros() as u64;
    let mut buf = vec![0u8; 65_535];
    loop {
        let wake = phone
            .lock()
            .ok()
            .and_then(|p| p.next_timer_us())
            .map_or(10_000_000, |t| t.saturating_sub(now_us()));
        let out = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = socket.recv_from(&mut buf) => {
                let (n, src) = r?;
                let datagram = buf.get(..n).unwrap_or_default();
                match phone.lock() {
                    Ok(mut p) => p.on_datagram(now_us(), datagram, src),
                    Err(_) => return Ok(()),
                }
            }
            _ = tokio::time::sleep(std::time::Duration::from_micros(wake)) => {
                match phone.lock() {
                    Ok(mut p) => p.on_timer(now_us()),
                    Err(_) => return Ok(()),
                }
            }
        };
        for (bytes, to) in out {
            // A send error (the server gone) is not ours to report here.
            let _ = socket.send_to(&bytes, to).await;
        }
    }
}

/// Drains the media the server sends to agents; returns packets seen.
pub async fn sink(socket: UdpSocket, stop: Cancel) -> u64 {
    let mut buf = vec![0u8; 2048];
    let mut packets = 0;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return packets,
            r = socket.recv_from(&mut buf) => if r.is_ok() { packets += 1 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const SERVER: &str = "127.0.0.1:5060";

    fn phone() -> Phone {
        Phone::new(
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5070),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40_000),
        )
    }

    fn src() -> SocketAddr {
        SERVER.parse().expect("an address")
    }

    fn offer(formats: &str) -> String {
        format!(
            "v=0\r\no=hibiki 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 12000 RTP/AVP {formats}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
        )
    }

    fn request(method: &str, to_tag: Option<&str>, cseq: u32, body: &str) -> Vec<u8> {
        let to = match to_tag {
            Some(t) => format!("<sip:agent7@127.0.0.1:5070>;tag={t}"),
            None => "<sip:agent7@127.0.0.1:5070>".to_owned(),
        };
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:agent7@127.0.0.1:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {SERVER};branch=z9hG4bK-{method}-{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:hibiki@127.0.0.1>;tag=srv1\r\nTo: {to}\r\n\
             Call-ID: c1@127.0.0.1\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:hibiki@{SERVER}>\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    fn response(bytes: &[u8]) -> hibiki_sip::Response {
        match hibiki_sip::parse::parse_message(bytes) {
            Ok(Message::Response(r)) => r,
            other => panic!("not a response: {other:?}"),
        }
    }

    #[test]
    fn invite_is_answered_with_180_then_200_in_pcmu() {
        let mut p = phone();
        let out = p.on_datagram(0, &request("INVITE", None, 1, &offer("8 0 101")), src());
        assert_eq!(out.len(), 2);
        let ringing = response(&out[0].0);
        let ok = response(&out[1].0);
        assert_eq!((ringing.status, ok.status), (180, 200));
        assert_eq!(out[1].1, src());
        let tag = tag_of(&ok.headers.to).expect("our tag");
        assert_eq!(tag_of(&ringing.headers.to), Some(tag));
        assert_eq!(ok.headers.call_id, "c1@127.0.0.1");
        assert_eq!(ok.headers.cseq.seq, 1);
        assert!(!ok.headers.contact.is_empty());
        let answer = SessionDescription::parse(&ok.body).expect("an SDP answer");
        let audio = &answer.media[0];
        assert_eq!(audio.port, 40_000);
        assert_eq!(audio.formats, vec!["0".to_owned(), "101".to_owned()]);
        assert_eq!(p.open_calls(), 1);
        assert_eq!(p.stats.invites, 1);
    }

    #[test]
    fn an_offer_without_pcmu_is_refused() {
        let mut p = phone();
        let out = p.on_datagram(0, &request("INVITE", None, 1, &offer("8 101")), src());
        assert_eq!(out.len(), 1);
        assert_eq!(response(&out[0].0).status, 488);
        assert_eq!(p.stats.refused, 1);
        let out = p.on_datagram(0, &request("INVITE", None, 1, ""), src());
        assert_eq!(response(&out[0].0).status, 488);
        assert_eq!(p.open_calls(), 0);
    }

    #[test]
    fn the_200_is_retransmitted_until_the_ack() {
        let mut p = phone();
        let out = p.on_datagram(0, &request("INVITE", None, 1, &offer("0")), src());
        let ok = out[1].0.clone();
        assert_eq!(p.next_timer_us(), Some(T1_US));
        assert!(p.on_timer(T1_US - 1).is_empty());
        let again = p.on_timer(T1_US);
        assert_eq!(again, vec![(ok.clone(), src())]);
        // Doubled: next at T1 + 2·T1.
        assert_eq!(p.next_timer_us(), Some(3 * T1_US));
        // The INVITE retransmitted: the same 200.
        let dup = p.on_datagram(T1_US + 1, &request("INVITE", None, 1, &offer("0")), src());
        assert_eq!(dup, vec![(ok, src())]);
        let tag = tag_of(&response(&out[1].0).headers.to)
            .expect("tag")
            .to_owned();
        assert!(p
            .on_datagram(2 * T1_US, &request("ACK", Some(&tag), 1, ""), src())
            .is_empty());
        assert_eq!(p.stats.acks, 1);
        assert_eq!(p.stats.ok_retransmits, 2);
        assert!(p.on_timer(10 * T1_US).is_empty());
        assert_eq!(p.next_timer_us(), None);
    }

    #[test]
    fn no_ack_gives_up_after_64_t1() {
        let mut p = phone();
        p.on_datagram(0, &request("INVITE", None, 1, &offer("0")), src());
        let mut now = 0;
        let mut sent = 0;
        while let Some(t) = p.next_timer_us() {
            now = t;
            sent += p.on_timer(now).len();
            if p.stats.ack_timeouts > 0 {
                break;
            }
        }
        assert_eq!(now, TIMEOUT_US);
        assert_eq!(p.stats.ack_timeouts, 1);
        // 0.5, 1.5, 3.5, 7.5, then every 4 s up to 32 s.
        assert_eq!(sent, 10);
        assert_eq!(p.open_calls(), 0);
        // Forgotten 64 × T1 later.
        p.on_timer(2 * TIMEOUT_US);
        assert_eq!(p.next_timer_us(), None);
    }

    #[test]
    fn bye_is_answered_and_unknown_bye_gets_481() {
        let mut p = phone();
        let out = p.on_datagram(0, &request("INVITE", None, 1, &offer("0")), src());
        let tag = tag_of(&response(&out[1].0).headers.to)
            .expect("tag")
            .to_owned();
        p.on_datagram(1000, &request("ACK", Some(&tag), 1, ""), src());
        let out = p.on_datagram(5_000_000, &request("BYE", Some(&tag), 2, ""), src());
        let ok = response(&out[0].0);
        assert_eq!((ok.status, ok.headers.cseq.seq), (200, 2));
        assert_eq!(p.open_calls(), 0);
        // A retransmitted BYE: 200 again, counted once.
        let out = p.on_datagram(5_500_000, &request("BYE", Some(&tag), 2, ""), src());
        assert_eq!(response(&out[0].0).status, 200);
        assert_eq!(p.stats.byes, 1);
        let mut q = phone();
        let out = q.on_datagram(0, &request("BYE", Some("x"), 2, ""), src());
        assert_eq!(response(&out[0].0).status, 481);
        assert_eq!(q.stats.unknown_byes, 1);
    }

    #[test]
    fn garbage_is_counted_not_answered() {
        let mut p = phone();
        assert!(p.on_datagram(0, b"\x00\x01 not sip", src()).is_empty());
        assert_eq!(p.stats.unparsable, 1);
    }
}
