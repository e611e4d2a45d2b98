//! The call actor: one task per call, the only writer of that call's state.
//!
//! It selects over the call's SIP inputs, its own timers, and the
//! server's shutdown signals, and walks the route the door chose: `ivr`
//! (run an IVR flow, in [`super::ivr`]), `trunk` (bridge to a number
//! through an outbound trunk, in [`super::bridge`]), `demo` (the media
//! demo, in [`super::demo`]), `test` (ring, answer, wait for the caller's
//! BYE) and `reject` (answer with a configured status).
//!
//! Shutdown: `draining` (SIGTERM) changes nothing for a live call, which is
//! allowed to finish; `hard_stop` (the grace period ran out) makes the
//! actor end the call itself: 503 before answer, BYE after.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use hibiki_sip::dialog::Dialog;
use hibiki_sip::endpoint::ServerTxId;
use hibiki_sip::transaction::build;
use hibiki_sip::{Contact, Header, Method, NameAddr, Request, Response, Transport, Uri};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn, Instrument};

use super::outcome::{outcome_for_final_status, HangupCause};
use super::{CallInput, SipCommand};
use crate::config::RouteAction;
use crate::store::{CallRecord, Outcome, RecordEvent, RecordSink};
use crate::telemetry::Metrics;

/// What every call actor shares: where to send commands and records.
#[derive(Clone)]
pub struct CallContext {
    pub sip: mpsc::Sender<SipCommand>,
    pub records: RecordSink,
    pub metrics: Metrics,
    /// Our Contact URI for dialogs we answer.
    pub contact: Uri,
    /// Cancelled when the shutdown grace period runs out.
    pub hard_stop: CancellationToken,
    /// The IP written in the SDP we answer with.
    pub media_ip: String,
    /// Media: ports, prompts, recordings.
    pub media: std::sync::Arc<super::media::MediaContext>,
    /// The outbound side of each trunk that has one, by trunk name.
    pub trunks: std::sync::Arc<std::collections::HashMap<String, crate::config::TrunkOutbound>>,
    /// HTTP data dips of IVR `lookup` steps.
    pub dipper: crate::ivr::dip::Dipper,
    /// `[crm]`: the external CRM asked for the pop, if any.
    pub crm: Option<crate::customer::crm::Crm>,
    /// Customer lookups and callback requests of IVR flows.
    pub customers: super::directory::Directory,
    /// The IVR flows in force. A call takes `flows.current()` once, at its
    /// start, and keeps that set to its end, whatever reloads meanwhile.
    pub flows: crate::ivr::registry::FlowRegistry,
    /// The ACD: queue steps queue the call there.
    pub acd: crate::acd::service::AcdHandle,
    /// The queues' settings (music, announcements, callback offer).
    pub queues: std::sync::Arc<std::collections::HashMap<String, crate::config::QueueConfig>>,
    /// `agents.transfer_trunk`: where agents' transfers to numbers go.
    pub transfer_trunk: Option<String>,
}

/// One call's first leg: an inbound call as the door handed it over, or
/// a callback's leg to the customer (see [`super::callback`]), whose
/// `invite` is the one we sent and which has no server transaction.
pub struct InboundCall {
    pub record: CallRecord,
    pub invite: Request,
    pub tx: Option<ServerTxId>,
    pub source: SocketAddr,
    pub transport: Transport,
    pub route: RouteAction,
    pub local_tag: String,
}

/// Runs a call to its end. Spawned by the engine, tracked for shutdown.
pub async fn run(ctx: CallContext, call: InboundCall, input: mpsc::Receiver<CallInput>) {
    let span = tracing::info_span!(
        "call",
        id = %call.record.id,
        sip_call_id = %call.record.sip_call_id,
    );
    async move {
        ctx.metrics.calls_active.inc();
        ctx.records.send(RecordEvent::Started(call.record.clone()));
        let mut actor = Actor {
            ctx: ctx.clone(),
            call,
            input,
            dialog: None,
            queued: None,
            queue_step: None,
            placed_ack: None,
        };
        let end = actor.run_route().await;
        actor.finish(end).await;
        ctx.metrics.calls_active.dec();
    }
    .instrument(span)
    .await
}

/// How the call ended.
pub(super) struct End {
    pub(super) outcome: Outcome,
    pub(super) code: Option<u16>,
    pub(super) cause: HangupCause,
}

pub(super) struct Actor {
    pub(super) ctx: CallContext,
    pub(super) call: InboundCall,
    pub(super) input: mpsc::Receiver<CallInput>,
    /// The dialog our 200 created.
    pub(super) dialog: Option<Dialog>,
    /// The call's place in the ACD once a queue step queued it.
    pub(super) queued: Option<super::queue::Queued>,
    /// The last queue step (its pop and skills), for the agents'
    /// transfers.
    pub(super) queue_step: Option<super::queue::QueueStep>,
    /// A call we placed (a callback): our ACK for the 2xx that answered
    /// it, sent again when that 2xx is (our ACK was lost).
    pub(super) placed_ack: Option<Request>,
}

impl Actor {
    async fn run_route(&mut self) -> End {
        match self.call.route.clone() {
            RouteAction::Test { ring_ms } => self.run_test(Duration::from_millis(ring_ms)).await,
            RouteAction::Demo => self.run_demo().await,
            RouteAction::Ivr { flow } => {
                // The call keeps this set of flows to its end, whatever
                // reloads meanwhile.
                let set = self.ctx.flows.current();
                match set.get(&flow) {
                    Some(f) => self.run_ivr(set, f).await,
                    None => {
                        // Start-up and reloads refuse a set without a
                        // route's flow; this is the backstop.
                        warn!(%flow, version = set.version, "the route's flow is not loaded");
                        self.refuse(503, "Service Unavailable", HangupCause::FlowFailed)
                            .await
                    }
                }
            }
            RouteAction::Trunk {
                trunk,
                to,
                ring_timeout_seconds,
            } => {
                self.run_bridge(
                    &trunk,
                    to.as_deref(),
                    Duration::from_secs(ring_timeout_seconds),
                )
                .await
            }
            RouteAction::Reject { status, reason } => {
                let reason = reason.unwrap_or_else(|| default_reason(status).to_owned());
                self.respond(status, &reason, false).await;
                End {
                    outcome: outcome_for_final_status(status),
                    code: Some(status),
                    cause: HangupCause::Rejected,
                }
            }
        }
    }

    /// The test route: 180, ring for `ring`, 200 with SDP, wait for BYE.
    async fn run_test(&mut self, ring: Duration) -> End {
        self.respond(180, "Ringing", false).await;
        if !ring.is_zero() {
            let deadline = tokio::time::sleep(ring);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    () = &mut deadline => break,
                    () = self.ctx.hard_stop.cancelled() => {
                        self.respond(503, "Service Unavailable", false).await;
                        return End { outcome: Outcome::Failed, code: Some(503), cause: HangupCause::Shutdown };
                    }
                    input = self.input.recv() => match input {
                        Some(CallInput::Cancelled) => {
                            self.respond(487, "Request Terminated", false).await;
                            return End { outcome: Outcome::Cancelled, code: Some(487), cause: HangupCause::Cancelled };
                        }
                        Some(other) => self.unexpected(other).await,
                        None => return self.engine_gone(),
                    }
                }
            }
        }
        self.answer().await;
        self.call.record.answered_at_ms = Some(now_ms());
        // Answered: wait for the caller's BYE (the ACK may come before or after).
        let mut acked = false;
        loop {
            tokio::select! {
                () = self.ctx.hard_stop.cancelled() => {
                    self.hang_up().await;
                    return End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Shutdown };
                }
                input = self.input.recv() => match input {
                    Some(CallInput::Ack { .. }) => acked = true,
                    Some(CallInput::AckTimeout) if !acked => {
                        warn!("our 200 OK was never acknowledged; hanging up");
                        self.hang_up().await;
                        return End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::AckTimeout };
                    }
                    Some(CallInput::Request { tx, request }) => {
                        if let Some(Err(e)) = self.dialog.as_mut().map(|d| d.on_request(&request)) {
                            debug!(error = %e, "in-dialog request refused");
                            self.respond_on(tx, &request, e.status(), "Out of Order", None).await;
                            continue;
                        }
                        if request.method == Method::Bye {
                            self.respond_on(tx, &request, 200, "OK", None).await;
                            info!("caller hung up");
                            return End { outcome: Outcome::Answered, code: Some(200), cause: HangupCause::Normal };
                        }
                        self.unexpected(CallInput::Request { tx, request }).await;
                    }
                    Some(other) => self.unexpected(other).await,
                    None => return self.engine_gone(),
                }
            }
        }
    }

    /// Answers the INVITE with 200 and an SDP answer, and sets up the dialog.
    async fn answer(&mut self) {
        let sdp = test_sdp(&self.ctx.media_ip);
        let mut response = self.response(200, "OK");
        response.headers.contact = vec![Contact::Addr(NameAddr {
            display_name: None,
            uri: self.ctx.contact.clone(),
            params: Vec::new(),
        })];
        response.headers.content_type = Some("application/sdp".into());
        response.body = Bytes::from(sdp);
        match Dialog::uas(&self.call.invite, &response) {
            Ok(d) => self.dialog = Some(d),
            Err(e) => warn!(error = %e, "cannot form a dialog from our 200"),
        }
        self.send_invite_response(response).await;
    }

    /// Sends BYE and waits (bounded) for its response.
    pub(super) async fn hang_up(&mut self) {
        let Some(dialog) = self.dialog.as_mut() else {
            return;
        };
        let bye = dialog.request(Method::Bye);
        self.send(SipCommand::Request {
            call_id: self.call.record.sip_call_id.clone(),
            request: bye,
            destination: self.call.source,
            transport: self.call.transport.clone(),
        })
        .await;
        let wait = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => return,
                input = self.input.recv() => match input {
                    Some(CallInput::Response { response, .. }) if response.status >= 200 => return,
                    Some(CallInput::Timeout { .. }) | None => return,
                    Some(CallInput::Request { tx, request }) if request.method == Method::Bye => {
                        // BYE glare: both hung up at once.
                        self.respond_on(tx, &request, 200, "OK", None).await;
                        return;
                    }
                    Some(_) => {}
                }
            }
        }
    }

    /// Inputs a state does not expect: answer requests sensibly, ignore the rest.
    pub(super) async fn unexpected(&mut self, input: CallInput) {
        match input {
            CallInput::Response { response, .. }
                if response.headers.call_id == self.call.record.sip_call_id
                    && response.headers.cseq.method == Method::Invite
                    && (200..300).contains(&response.status) =>
            {
                // A call we placed: its 2xx again, our ACK was lost.
                if let Some(ack) = self.placed_ack.clone() {
                    self.send(SipCommand::Ack {
                        request: ack,
                        destination: self.call.source,
                        transport: self.call.transport.clone(),
                    })
                    .await;
                }
            }
            CallInput::Request { tx, request } => match request.method {
                Method::Bye => {
                    // BYE before our 200: the caller left early.
                    self.respond_on(tx, &request, 200, "OK", None).await;
                }
                Method::Invite => {
                    // re-INVITE: keep the session as it is (hold/resume comes with media).
                    let sdp = Bytes::from(test_sdp(&self.ctx.media_ip));
                    self.respond_on(tx, &request, 200, "OK", Some(sdp)).await;
                }
                Method::Info | Method::Options | Method::Update => {
                    self.respond_on(tx, &request, 200, "OK", None).await;
                }
                _ => {
                    self.respond_on(tx, &request, 501, "Not Implemented", None)
                        .await;
                }
            },
            CallInput::Control(control) => {
                // No recording in this state (not answered, or no media).
                let _ = control.reply.send(Err(super::ControlError::NotRecording));
            }
            other => debug!(?other, "input ignored in this state"),
        }
    }

    pub(super) fn engine_gone(&self) -> End {
        End {
            outcome: Outcome::Failed,
            code: None,
            cause: HangupCause::Shutdown,
        }
    }

    /// Writes the call record, counts the outcome, and releases the Call-ID.
    pub(super) async fn finish(&mut self, end: End) {
        let record = &mut self.call.record;
        record.ended_at_ms = Some(now_ms());
        record.outcome = Some(end.outcome);
        record.final_sip_code = end.code;
        record.hangup_cause = Some(end.cause.as_str().to_owned());
        info!(
            outcome = end.outcome.as_str(),
            cause = end.cause.as_str(),
            "call ended"
        );
        self.ctx
            .metrics
            .calls_total
            .with_label_values(&[end.outcome.as_str()])
            .inc();
        if !self.ctx.records.send(RecordEvent::Ended(record.clone())) {
            self.ctx.metrics.records_dropped.inc();
        }
        let call_id = record.sip_call_id.clone();
        if let Some(queued) = self.queued.take() {
            // The agent (if one took the call) goes to wrap-up.
            let command = match queued.agent {
                Some(_) => crate::acd::service::Command::Ended {
                    entry: record.id.clone(),
                },
                None => crate::acd::service::Command::Abandon {
                    entry: record.id.clone(),
                },
            };
            let _ = self.ctx.acd.send(command).await;
        }
        self.send(SipCommand::Ended { call_id }).await;
    }

    /// A response to the INVITE, with our To tag.
    pub(super) fn response(&self, status: u16, reason: &str) -> Response {
        response_to(
            &self.call.invite,
            status,
            reason,
            Some(&self.call.local_tag),
        )
    }

    /// Answers the INVITE (provisional or final).
    pub(super) async fn respond(&mut self, status: u16, reason: &str, _reliable: bool) {
        let response = self.response(status, reason);
        self.send_invite_response(response).await;
    }

    /// Sends a response to the call's INVITE; a call we placed has none
    /// to answer.
    pub(super) async fn send_invite_response(&self, response: Response) {
        match self.call.tx {
            Some(tx) => self.send(SipCommand::Respond { tx, response }).await,
            None => debug!(status = response.status, "no inbound INVITE to answer"),
        }
    }

    /// Refuses the INVITE before answer.
    pub(super) async fn refuse(&mut self, status: u16, reason: &str, cause: HangupCause) -> End {
        self.respond(status, reason, false).await;
        End {
            outcome: outcome_for_final_status(status),
            code: Some(status),
            cause,
        }
    }

    /// Answers the INVITE's SDP offer with `local` (a media route's first
    /// step), or refuses the call: 488 when there is no usable offer, the
    /// negotiation's own status when nothing is in common.
    pub(super) async fn answer_offer(
        &mut self,
        local: &hibiki_sip::sdp::LocalMedia,
    ) -> Result<hibiki_sip::sdp::Answer, End> {
        let answered = hibiki_sip::sdp::SessionDescription::parse(&self.call.invite.body)
            .map_err(|e| {
                info!(error = %e, "no usable SDP offer");
                488
            })
            .and_then(|offer| {
                hibiki_sip::sdp::answer(&offer, local).map_err(|e| {
                    info!(error = %e, "offer refused");
                    e.sip_status()
                })
            });
        match answered {
            Ok(a) => Ok(a),
            Err(status) => Err(self
                .refuse(status, "Not Acceptable Here", HangupCause::UnsupportedMedia)
                .await),
        }
    }

    /// Answers an in-dialog request.
    pub(super) async fn respond_on(
        &mut self,
        tx: ServerTxId,
        request: &Request,
        status: u16,
        reason: &str,
        sdp: Option<Bytes>,
    ) {
        let mut response = response_to(request, status, reason, Some(&self.call.local_tag));
        if let Some(body) = sdp {
            response.headers.content_type = Some("application/sdp".into());
            response.headers.contact = vec![Contact::Addr(NameAddr {
                display_name: None,
                uri: self.ctx.contact.clone(),
                params: Vec::new(),
            })];
            response.body = body;
        }
        self.send(SipCommand::Respond { tx, response }).await;
    }

    pub(super) async fn send(&self, command: SipCommand) {
        if self.ctx.sip.send(command).await.is_err() {
            debug!("signaling engine stopped");
        }
    }
}

/// A response to `request` with our To tag (when it has none), the given
/// reason phrase, and our Server header.
pub fn response_to(request: &Request, status: u16, reason: &str, to_tag: Option<&str>) -> Response {
    let mut response = match to_tag {
        Some(tag) if status > 100 => build::response_with_tag(request, status, tag),
        _ => build::response_to(request, status),
    };
    reason.clone_into(&mut response.reason);
    response.headers.extra.push(Header {
        name: "Server".into(),
        value: concat!("Hibiki/", env!("CARGO_PKG_VERSION")).into(),
    });
    response
}

/// The standard reason phrase for a status we send.
pub fn default_reason(status: u16) -> &'static str {
    build::reason_phrase(status)
}

/// The SDP the test route answers with until media lands: a real-looking
/// PCMU session marked inactive, so no peer expects audio from it.
fn test_sdp(ip: &str) -> String {
    let session = now_ms();
    format!(
        "v=0\r\no=hibiki {session} {session} IN IP4 {ip}\r\ns=hibiki\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=inactive\r\n"
    )
}

/// Wall-clock time as epoch milliseconds (call records store this).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
