//! The calling side: places calls to the target, retransmits INVITE on
//! UDP until a provisional or final answer (T1 doubling, RFC 3261 Timer
//! A), ACKs every final response, starts the call's RTP on a 2xx, sends
//! BYE at teardown (retransmitted, T1 doubling capped at T2) and answers
//! the server's own BYEs.
//!
//! Call-IDs carry the call's index (`rl<index>-<run>@ip`), so a response
//! finds its call without a map.

use std::net::SocketAddrV4;

use hibiki_sip::{Message, Method, Request, Response};

use crate::engine::{Engine, Phase, Side};
use crate::rtp::Law;
use crate::sdp;
use crate::sip::{self, OutRequest, T1_US, T2_US, TIMEOUT_US};

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UacState {
    /// INVITE sent, nothing heard.
    Calling,
    /// A provisional response came: no more INVITE retransmissions.
    Proceeding,
    Established,
    /// BYE sent, waiting for its response.
    Closing,
    Closed,
    Failed,
}

/// One call placed by the tool.
#[derive(Debug, Clone)]
pub struct UacCall {
    pub state: UacState,
    call_id: String,
    uri: String,
    from: String,
    to: String,
    remote_target: String,
    route: Vec<String>,
    law: Law,
    invite: Vec<u8>,
    invite_branch: String,
    sent_us: u64,
    /// `u64::MAX` when no retransmission is armed.
    next_retx_us: u64,
    interval_us: u64,
    /// Setup timeout while calling; give-up time while closing.
    deadline_us: u64,
    ack: Option<Vec<u8>>,
    bye: Option<Vec<u8>>,
}

impl UacCall {
    /// Still holds (or may yet hold) a dialog on the server.
    pub fn is_open(&self) -> bool {
        matches!(
            self.state,
            UacState::Calling | UacState::Proceeding | UacState::Established | UacState::Closing
        )
    }
}

impl Engine {
    fn call_index(&self, call_id: &str) -> Option<usize> {
        let rest = call_id.strip_prefix("rl")?;
        let i: usize = rest.split('-').next()?.parse().ok()?;
        (self.calls.get(i)?.call_id == call_id).then_some(i)
    }

    /// Places call `i` (the next one of the ramp).
    pub(crate) fn place_call(&mut self, i: usize) {
        let now = self.now_us();
        let ip = self.uac_sip_addr.ip();
        let target = self.cfg.target;
        let run = &self.run_id;
        let call_id = format!("rl{i}-{run}@{ip}");
        let from = format!("<sip:9{i:07}@{ip}>;tag=f{i}-{run}");
        let to = format!("<sip:{}@{}>", self.cfg.number, target.ip());
        let uri = format!("sip:{}@{target}", self.cfg.number);
        let invite_branch = format!("z9hG4bK-rl{i}-{run}-inv");
        let offer = sdp::offer(self.uac_rtp_addr, i as u64 + 1, self.cfg.uac_codec);
        let invite = OutRequest {
            method: "INVITE",
            uri: &uri,
            local: self.uac_sip_addr,
            branch: &invite_branch,
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq: 1,
            route: &[],
            contact: true,
            sdp: Some(&offer),
        }
        .to_bytes();
        self.send_sip(Side::Uac, &invite, target);
        self.calls.push(UacCall {
            state: UacState::Calling,
            call_id,
            remote_target: uri.clone(),
            uri,
            from,
            to,
            route: Vec::new(),
            law: self.cfg.uac_codec,
            invite,
            invite_branch,
            sent_us: now,
            next_retx_us: now + T1_US,
            interval_us: T1_US,
            deadline_us: now + self.cfg.setup_timeout.as_micros() as u64,
            ack: None,
            bye: None,
        });
        self.pending_calls += 1;
    }

    pub(crate) fn on_uac_message(&mut self, msg: Message, src: SocketAddrV4) {
        match msg {
            Message::Response(resp) => {
                let Some(i) = self.call_index(&resp.headers.call_id) else {
                    self.stats.unknown_dialog += 1;
                    return;
                };
                match resp.headers.cseq.method {
                    Method::Invite => self.on_invite_response(i, &resp),
                    Method::Bye => self.on_bye_response(i, &resp),
                    _ => {}
                }
            }
            Message::Request(req) => self.on_uac_request(&req, src),
        }
    }

    fn on_uac_request(&mut self, req: &Request, src: SocketAddrV4) {
        let index = self.call_index(&req.headers.call_id);
        match req.method {
            Method::Ack => {}
            Method::Bye => {
                let Some(i) = index else {
                    self.stats.unknown_dialog += 1;
                    let r = sip::respond(req, 481, None, None, None);
                    self.send_sip(Side::Uac, &r, src);
                    return;
                };
                let r = sip::respond(req, 200, None, None, None);
                self.send_sip(Side::Uac, &r, src);
                if matches!(
                    self.calls[i].state,
                    UacState::Established | UacState::Closing
                ) {
                    self.stop_media(Side::Uac, i);
                    let call = &mut self.calls[i];
                    let was_closing = call.state == UacState::Closing;
                    call.state = UacState::Closed;
                    call.next_retx_us = u64::MAX;
                    let expected = matches!(self.phase, Phase::Teardown { .. })
                        && self.cfg.hangup == Side::Uas;
                    if expected || was_closing {
                        self.stats.closed += 1;
                    } else {
                        self.stats.ended_by_server += 1;
                    }
                }
            }
            Method::Invite => {
                // A re-INVITE: keep the stream as it is.
                let answer = index
                    .map(|i| sdp::answer(self.uac_rtp_addr, i as u64 + 1, self.calls[i].law, None));
                let status = if answer.is_some() { 200 } else { 481 };
                let r = sip::respond(req, status, None, Some(self.uac_sip_addr), answer);
                self.send_sip(Side::Uac, &r, src);
            }
            _ => {
                let r = sip::respond(req, 200, None, None, None);
                self.send_sip(Side::Uac, &r, src);
            }
        }
    }

    fn on_invite_response(&mut self, i: usize, resp: &Response) {
        let now = self.now_us();
        let target = self.cfg.target;
        let status = resp.status;
        if status < 200 {
            let call = &mut self.calls[i];
            if call.state == UacState::Calling {
                call.state = UacState::Proceeding;
                call.next_retx_us = u64::MAX;
            }
            return;
        }
        if status >= 300 {
            let call = &mut self.calls[i];
            let to = resp.headers.to.to_string();
            // The ACK of a non-2xx is hop-by-hop: same branch as the INVITE.
            let ack = OutRequest {
                method: "ACK",
                uri: &call.uri,
                local: self.uac_sip_addr,
                branch: &call.invite_branch,
                from: &call.from,
                to: &to,
                call_id: &call.call_id,
                cseq: 1,
                route: &[],
                contact: false,
                sdp: None,
            }
            .to_bytes();
            if matches!(call.state, UacState::Calling | UacState::Proceeding) {
                call.state = UacState::Failed;
                call.next_retx_us = u64::MAX;
                self.pending_calls -= 1;
                *self.stats.failed_by_status.entry(status).or_default() += 1;
            }
            self.send_sip(Side::Uac, &ack, target);
            return;
        }
        match self.calls[i].state {
            UacState::Calling | UacState::Proceeding | UacState::Failed => {
                let late = self.calls[i].state == UacState::Failed;
                if !late {
                    self.pending_calls -= 1;
                }
                let call = &mut self.calls[i];
                call.to = resp.headers.to.to_string();
                if let Some(t) = sip::contact_uri(&resp.headers) {
                    call.remote_target = t;
                }
                call.route = sip::uac_route_set(resp);
                let ack = OutRequest {
                    method: "ACK",
                    uri: &call.remote_target,
                    local: self.uac_sip_addr,
                    branch: &format!("z9hG4bK-rl{i}-{}-ack", self.run_id),
                    from: &call.from,
                    to: &call.to,
                    call_id: &call.call_id,
                    cseq: 1,
                    route: &call.route,
                    contact: false,
                    sdp: None,
                }
                .to_bytes();
                call.ack = Some(ack.clone());
                call.state = UacState::Established;
                self.send_sip(Side::Uac, &ack, target);
                let media = std::str::from_utf8(&resp.body)
                    .ok()
                    .and_then(|b| sdp::parse(b).ok());
                match media {
                    Some(m) if !late => {
                        let law = m.first_law().unwrap_or(self.cfg.uac_codec);
                        self.calls[i].law = law;
                        self.stats.established += 1;
                        self.stats.setup_us.push(now - self.calls[i].sent_us);
                        if self.cfg.ivr.is_some() && m.telephone_event.is_none() {
                            self.stats.answers_without_events += 1;
                        }
                        self.start_media(Side::Uac, i, m.addr, law, m.telephone_event);
                    }
                    _ => {
                        // Answered too late, or with no usable SDP: hang up.
                        if late {
                            self.stats.late_answers += 1;
                        } else {
                            self.stats.bad_answers += 1;
                        }
                        self.uac_bye(i, now);
                    }
                }
            }
            UacState::Established | UacState::Closing | UacState::Closed => {
                // The 2xx was retransmitted: our ACK was lost (or is late).
                if let Some(ack) = self.calls[i].ack.clone() {
                    self.send_sip(Side::Uac, &ack, target);
                }
            }
        }
    }

    fn on_bye_response(&mut self, i: usize, resp: &Response) {
        let call = &mut self.calls[i];
        if resp.status >= 200 && call.state == UacState::Closing {
            call.state = UacState::Closed;
            call.next_retx_us = u64::MAX;
            if resp.status < 300 {
                self.stats.closed += 1;
            } else {
                self.stats.bye_failed += 1;
            }
        }
    }

    /// Hangs up call `i` if it is established; returns whether a BYE went.
    pub(crate) fn uac_bye(&mut self, i: usize, now: u64) -> bool {
        if self.calls[i].state != UacState::Established {
            return false;
        }
        self.stop_media(Side::Uac, i);
        let call = &mut self.calls[i];
        let bye = OutRequest {
            method: "BYE",
            uri: &call.remote_target,
            local: self.uac_sip_addr,
            branch: &format!("z9hG4bK-rl{i}-{}-bye", self.run_id),
            from: &call.from,
            to: &call.to,
            call_id: &call.call_id,
            cseq: 2,
            route: &call.route,
            contact: false,
            sdp: None,
        }
        .to_bytes();
        call.bye = Some(bye.clone());
        call.state = UacState::Closing;
        call.next_retx_us = now + T1_US;
        call.interval_us = T1_US;
        call.deadline_us = now + TIMEOUT_US;
        self.send_sip(Side::Uac, &bye, self.cfg.target);
        true
    }

    /// Retransmissions and timeouts of every call.
    pub(crate) fn uac_timers(&mut self, now: u64) {
        let target = self.cfg.target;
        for i in 0..self.calls.len() {
            let call = &mut self.calls[i];
            let resend = match call.state {
                UacState::Calling | UacState::Proceeding if now >= call.deadline_us => {
                    call.state = UacState::Failed;
                    call.next_retx_us = u64::MAX;
                    self.pending_calls -= 1;
                    self.stats.setup_timeouts += 1;
                    None
                }
                UacState::Calling if now >= call.next_retx_us => {
                    call.interval_us *= 2;
                    call.next_retx_us = now + call.interval_us;
                    self.stats.invite_retransmits += 1;
                    Some(call.invite.clone())
                }
                UacState::Closing if now >= call.deadline_us => {
                    call.state = UacState::Closed;
                    call.next_retx_us = u64::MAX;
                    self.stats.bye_failed += 1;
                    None
                }
                UacState::Closing if now >= call.next_retx_us => {
                    call.interval_us = (call.interval_us * 2).min(T2_US);
                    call.next_retx_us = now + call.interval_us;
                    self.stats.bye_retransmits += 1;
                    call.bye.clone()
                }
                _ => None,
            };
            if let Some(bytes) = resend {
                self.send_sip(Side::Uac, &bytes, target);
            }
        }
    }
}
