//! The answering side (the trunk the server calls out to): answers every
//! INVITE at once with 200 and an SDP answer in the chosen codec (any
//! Request-URI: the same UAS serves `--loop`), retransmits the 200 until
//! the ACK (T1 doubling capped at T2, RFC 3261 §13.3.1.4), starts RTP on
//! the ACK, answers BYE, and sends BYE at teardown when it is the side
//! that hangs up.

use std::net::SocketAddrV4;

use hibiki_sip::transaction::build::set_tag;
use hibiki_sip::{Message, Method, Request, Response};

use crate::engine::{Engine, Phase, Side};
use crate::rtp::Law;
use crate::sdp;
use crate::sip::{self, OutRequest, T1_US, T2_US, TIMEOUT_US};

/// Where an answered leg stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasState {
    /// 200 sent, no ACK yet.
    Answered,
    Confirmed,
    Closing,
    Closed,
}

/// One INVITE the tool answered.
#[derive(Debug, Clone)]
pub struct UasLeg {
    pub state: UasState,
    /// Where the server's SIP comes from (responses and our BYE go there).
    peer: SocketAddrV4,
    ok: Vec<u8>,
    tag: String,
    /// Our side of the dialog (the INVITE's To with our tag) and theirs.
    local: String,
    remote: String,
    call_id: String,
    remote_target: String,
    route: Vec<String>,
    media: SocketAddrV4,
    law: Law,
    answer: String,
    next_retx_us: u64,
    interval_us: u64,
    deadline_us: u64,
    bye: Option<Vec<u8>>,
}

impl UasLeg {
    pub fn is_open(&self) -> bool {
        matches!(
            self.state,
            UasState::Answered | UasState::Confirmed | UasState::Closing
        )
    }
}

impl Engine {
    pub(crate) fn on_uas_message(&mut self, msg: Message, src: SocketAddrV4) {
        match msg {
            Message::Request(req) => self.on_uas_request(&req, src),
            Message::Response(resp) => self.on_uas_response(&resp),
        }
    }

    fn respond_uas(&mut self, req: &Request, status: u16, src: SocketAddrV4) {
        let r = sip::respond(req, status, None, None, None);
        self.send_sip(Side::Uas, &r, src);
    }

    fn on_uas_request(&mut self, req: &Request, src: SocketAddrV4) {
        let index = self.uas_by_call_id.get(&req.headers.call_id).copied();
        match (&req.method, index) {
            (Method::Invite, None) => self.answer_invite(req, src),
            (Method::Invite, Some(j)) => {
                let leg = &self.uas[j];
                if sip::tag(&req.headers.to).is_none() {
                    // A retransmission: the same 200 again.
                    if matches!(leg.state, UasState::Answered | UasState::Confirmed) {
                        let ok = leg.ok.clone();
                        self.send_sip(Side::Uas, &ok, src);
                    }
                } else {
                    // A re-INVITE: the same answer.
                    let answer = leg.answer.clone();
                    let tag = leg.tag.clone();
                    let r = sip::respond(
                        req,
                        200,
                        Some(&tag),
                        Some(self.cfg.uas_listen),
                        Some(answer),
                    );
                    self.send_sip(Side::Uas, &r, src);
                }
            }
            (Method::Ack, Some(j)) => {
                if self.uas[j].state == UasState::Answered {
                    let leg = &mut self.uas[j];
                    leg.state = UasState::Confirmed;
                    leg.next_retx_us = u64::MAX;
                    let (media, law) = (leg.media, leg.law);
                    self.stats.uas_confirmed += 1;
                    self.start_media(Side::Uas, j, media, law, None);
                }
            }
            (Method::Ack, None) => {}
            (Method::Bye, Some(j)) => {
                self.respond_uas(req, 200, src);
                if self.uas[j].is_open() {
                    self.stop_media(Side::Uas, j);
                    let leg = &mut self.uas[j];
                    let was_closing = leg.state == UasState::Closing;
                    leg.state = UasState::Closed;
                    leg.next_retx_us = u64::MAX;
                    let expected = matches!(self.phase, Phase::Teardown { .. })
                        && self.cfg.hangup == Side::Uac;
                    if expected || was_closing {
                        self.stats.uas_closed += 1;
                    } else {
                        self.stats.uas_ended_early += 1;
                    }
                }
            }
            (Method::Bye, None) => {
                self.stats.unknown_dialog += 1;
                self.respond_uas(req, 481, src);
            }
            // CANCEL (we answered already), OPTIONS, INFO...: 200.
            _ => self.respond_uas(req, 200, src),
        }
    }

    fn answer_invite(&mut self, req: &Request, src: SocketAddrV4) {
        self.stats.uas_invites += 1;
        let j = self.uas.len();
        let tag = format!("u{j}-{}", self.run_id);
        let offer = std::str::from_utf8(&req.body)
            .ok()
            .and_then(|b| sdp::parse(b).ok());
        let law = self.cfg.uas_codec;
        let Some(offer) = offer.filter(|o| o.offers(law)) else {
            self.stats.uas_refused += 1;
            let r = sip::respond(req, 488, Some(&tag), None, None);
            self.send_sip(Side::Uas, &r, src);
            return;
        };
        let answer = sdp::answer(self.uas_rtp_addr, j as u64 + 1, law, offer.telephone_event);
        let ok = sip::respond(
            req,
            200,
            Some(&tag),
            Some(self.cfg.uas_listen),
            Some(answer.clone()),
        );
        let mut local = req.headers.to.clone();
        set_tag(&mut local, &tag);
        let now = self.now_us();
        self.uas.push(UasLeg {
            state: UasState::Answered,
            peer: src,
            ok: ok.clone(),
            tag,
            local: local.to_string(),
            remote: req.headers.from.to_string(),
            call_id: req.headers.call_id.clone(),
            remote_target: sip::contact_uri(&req.headers).unwrap_or_else(|| format!("sip:{src}")),
            route: sip::uas_route_set(req),
            media: offer.addr,
            law,
            answer,
            next_retx_us: now + T1_US,
            interval_us: T1_US,
            deadline_us: now + TIMEOUT_US,
            bye: None,
        });
        self.uas_by_call_id.insert(req.headers.call_id.clone(), j);
        self.send_sip(Side::Uas, &ok, src);
    }

    fn on_uas_response(&mut self, resp: &Response) {
        if resp.headers.cseq.method != Method::Bye || resp.status < 200 {
            return;
        }
        let Some(&j) = self.uas_by_call_id.get(&resp.headers.call_id) else {
            self.stats.unknown_dialog += 1;
            return;
        };
        let leg = &mut self.uas[j];
        if leg.state == UasState::Closing {
            leg.state = UasState::Closed;
            leg.next_retx_us = u64::MAX;
            if resp.status < 300 {
                self.stats.uas_closed += 1;
            } else {
                self.stats.bye_failed += 1;
            }
        }
    }

    /// Hangs up leg `j` if it is confirmed; returns whether a BYE went.
    pub(crate) fn uas_bye(&mut self, j: usize, now: u64) -> bool {
        if self.uas[j].state != UasState::Confirmed {
            return false;
        }
        self.stop_media(Side::Uas, j);
        let leg = &mut self.uas[j];
        let bye = OutRequest {
            method: "BYE",
            uri: &leg.remote_target,
            local: self.cfg.uas_listen,
            branch: &format!("z9hG4bK-u{j}-{}-bye", self.run_id),
            from: &leg.local,
            to: &leg.remote,
            call_id: &leg.call_id,
            cseq: 1,
            route: &leg.route,
            contact: false,
            sdp: None,
        }
        .to_bytes();
        leg.bye = Some(bye.clone());
        leg.state = UasState::Closing;
        leg.next_retx_us = now + T1_US;
        leg.interval_us = T1_US;
        leg.deadline_us = now + TIMEOUT_US;
        let peer = leg.peer;
        self.send_sip(Side::Uas, &bye, peer);
        true
    }

    /// 200 retransmissions until ACK, BYE retransmissions, timeouts.
    pub(crate) fn uas_timers(&mut self, now: u64) {
        for j in 0..self.uas.len() {
            let leg = &mut self.uas[j];
            let resend = match leg.state {
                UasState::Answered | UasState::Closing if now >= leg.deadline_us => {
                    if leg.state == UasState::Answered {
                        self.stats.uas_ack_timeouts += 1;
                    } else {
                        self.stats.bye_failed += 1;
                    }
                    leg.state = UasState::Closed;
                    leg.next_retx_us = u64::MAX;
                    None
                }
                UasState::Answered if now >= leg.next_retx_us => {
                    leg.interval_us = (leg.interval_us * 2).min(T2_US);
                    leg.next_retx_us = now + leg.interval_us;
                    self.stats.ok_retransmits += 1;
                    Some(leg.ok.clone())
                }
                UasState::Closing if now >= leg.next_retx_us => {
                    leg.interval_us = (leg.interval_us * 2).min(T2_US);
                    leg.next_retx_us = now + leg.interval_us;
                    self.stats.bye_retransmits += 1;
                    leg.bye.clone()
                }
                _ => None,
            };
            if let Some(bytes) = resend {
                let peer = self.uas[j].peer;
                self.send_sip(Side::Uas, &bytes, peer);
            }
        }
    }
}
