//! The signaling engine: the one task that drives the SIP endpoint.
//!
//! It owns the sans-IO [`Endpoint`], the UDP socket, the table of TCP
//! connections and the table of live calls by SIP Call-ID. Its loop is the
//! crate's driving rule made real: wait for a datagram, a framed TCP
//! message, a command from a call actor or the endpoint's next timer; hand
//! it to the endpoint; then drain transmits (to sockets) and events (to
//! the door or to call actors). Nothing in this loop waits on a database:
//! call records go through the non-blocking record sink.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hibiki_sip::endpoint::{ClientTxId, Endpoint, Event, Received, ServerTxId, Transmit};
use hibiki_sip::{Header, Method, Request, Transport, Uri};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::door::{caller_number, dialled_number, unacceptable_body, Admission, Door};
use super::stats::StatsExporter;
use super::transport::{StreamInbound, TcpConnections};
use crate::call::actor::{self, default_reason, now_ms, response_to, CallContext, InboundCall};
use crate::call::outcome::HangupCause;
use crate::call::{CallHandle, CallInput, ControlError, SipCommand};
use crate::store::{CallRecord, Direction, Outcome, RecordEvent};

/// Most actor commands handled between two datagrams.
const COMMAND_BURST: usize = 256;

/// Capacity of each call actor's input queue.
const CALL_INPUT_CAPACITY: usize = 64;

/// Everything the engine needs, built by `server`.
pub struct EngineParts {
    pub endpoint: Endpoint,
    pub udp: Option<Arc<UdpSocket>>,
    pub local_addr: SocketAddr,
    pub tcp: TcpConnections,
    pub stream_rx: mpsc::Receiver<StreamInbound>,
    pub commands_rx: mpsc::Receiver<SipCommand>,
    pub door: Door,
    pub ctx: CallContext,
    pub node_id: String,
    pub max_calls: usize,
    pub tracker: TaskTracker,
    /// Cancelled on SIGTERM: refuse new calls with 503 from then on.
    pub draining: CancellationToken,
    /// Cancelled when every call has ended (or been hung up): stop.
    pub stop: CancellationToken,
}

struct LiveCall {
    handle: CallHandle,
    /// The inbound INVITE's transaction; none for a call we placed.
    invite_tx: Option<ServerTxId>,
    /// A call we placed: its own INVITE's latest transaction, for CANCEL.
    placed_invite: Option<ClientTxId>,
    client_txs: Vec<ClientTxId>,
    /// Call-IDs of the call's outbound legs.
    aliases: Vec<String>,
}

/// An outbound leg's Call-ID, and whose it is.
struct Alias {
    /// The owning call's key (its inbound SIP Call-ID).
    owner: String,
    /// Our From tag on that leg: requests in its dialog carry it as To tag.
    local_tag: String,
    /// The leg's latest INVITE transaction, for CANCEL.
    invite_tx: Option<ClientTxId>,
}

/// Runs the engine until `stop` is cancelled.
pub async fn run(parts: EngineParts) {
    let EngineParts {
        mut endpoint,
        udp,
        local_addr,
        mut tcp,
        mut stream_rx,
        mut commands_rx,
        door,
        ctx,
        node_id,
        max_calls,
        tracker,
        draining,
        stop,
    } = parts;
    let mut engine = Engine {
        calls: HashMap::new(),
        by_id: HashMap::new(),
        aliases: HashMap::new(),
        by_invite_tx: HashMap::new(),
        by_client_tx: HashMap::new(),
        door,
        ctx,
        node_id,
        max_calls,
        tracker,
        draining,
        stats: StatsExporter::default(),
        local_addr,
    };
    let mut buf = vec![0u8; 65_536];
    let mut stats_tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let timeout = endpoint.poll_timeout();
        let sleep = async {
            match timeout {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = stop.cancelled() => break,
            received = recv_udp(udp.as_deref(), &mut buf) => {
                if let Some((len, remote)) = received {
                    if let Some(bytes) = buf.get(..len) {
                        endpoint.handle_datagram(Instant::now(), Received {
                            transport: Transport::Udp,
                            local: local_addr,
                            remote,
                            bytes: Bytes::copy_from_slice(bytes),
                        });
                    }
                }
            }
            Some(inbound) = stream_rx.recv() => match inbound {
                StreamInbound::Message { remote, bytes } => {
                    endpoint.handle_stream_message(Instant::now(), Received {
                        transport: Transport::Tcp,
                        local: local_addr,
                        remote,
                        bytes,
                    });
                }
                StreamInbound::Opened { remote, writer } => tcp.insert(remote, writer),
                StreamInbound::Closed { remote } => tcp.remove(&remote),
            },
            Some(command) = commands_rx.recv() => engine.command(&mut endpoint, command),
            () = sleep => endpoint.handle_timeout(Instant::now()),
            _ = stats_tick.tick() => engine.stats.export(endpoint.stats(), &engine.ctx.metrics),
        }
        // What call actors asked for meanwhile (answers, BYEs) goes out
        // before the next datagram is read: under load the socket is always
        // ready, and answers must not queue behind new requests.
        for _ in 0..COMMAND_BURST {
            match commands_rx.try_recv() {
                Ok(command) => engine.command(&mut endpoint, command),
                Err(_) => break,
            }
        }
        // The driving rule: drain everything the endpoint has for us.
        loop {
            let mut progressed = false;
            while let Some(t) = endpoint.poll_transmit() {
                progressed = true;
                transmit(udp.as_deref(), &tcp, t).await;
            }
            while let Some(event) = endpoint.poll_event() {
                progressed = true;
                engine.event(&mut endpoint, event);
            }
            if !progressed {
                break;
            }
        }
    }
    // The last calls' last words (a 200 to a BYE, a BYE of ours) may still
    // be queued: send them before the sockets go.
    while let Ok(command) = commands_rx.try_recv() {
        engine.command(&mut endpoint, command);
    }
    while let Some(t) = endpoint.poll_transmit() {
        transmit(udp.as_deref(), &tcp, t).await;
    }
    engine.stats.export(endpoint.stats(), &engine.ctx.metrics);
    info!("signaling engine stopped");
}

async fn recv_udp(udp: Option<&UdpSocket>, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
    match udp {
        Some(sock) => match sock.recv_from(buf).await {
            Ok(r) => Some(r),
            Err(e) => {
                // ICMP port unreachable from a previous send shows up here on
                // some systems; it says nothing about this socket's health.
                debug!(error = %e, "udp receive error");
                None
            }
        },
        None => std::future::pending().await,
    }
}

async fn transmit(udp: Option<&UdpSocket>, tcp: &TcpConnections, t: Transmit) {
    match t.transport {
        Transport::Udp => {
            if let Some(sock) = udp {
                if let Err(e) = sock.send_to(&t.bytes, t.destination).await {
                    debug!(error = %e, to = %t.destination, "udp send failed");
                }
            }
        }
        _ => tcp.send(t.destination, t.bytes),
    }
}

struct Engine {
    calls: HashMap<String, LiveCall>,
    /// Our call id → SIP Call-ID, for the API's commands.
    by_id: HashMap<String, String>,
    aliases: HashMap<String, Alias>,
    by_invite_tx: HashMap<ServerTxId, String>,
    by_client_tx: HashMap<ClientTxId, String>,
    door: Door,
    ctx: CallContext,
    node_id: String,
    max_calls: usize,
    tracker: TaskTracker,
    draining: CancellationToken,
    stats: StatsExporter,
    local_addr: SocketAddr,
}

impl Engine {
    fn command(&mut self, endpoint: &mut Endpoint, command: SipCommand) {
        let now = Instant::now();
        match command {
            SipCommand::Respond { tx, response } => {
                if let Err(e) = endpoint.send_response(now, &tx, response) {
                    debug!(error = %e, "response not sent");
                }
            }
            SipCommand::Request {
                call_id,
                request,
                destination,
                transport,
            } => {
                let leg_call_id = request.headers.call_id.clone();
                let is_invite = request.method == Method::Invite;
                let local_tag = hibiki_sip::transaction::build::tag_of(&request.headers.from)
                    .unwrap_or_default()
                    .to_owned();
                let tx = endpoint.send_request(now, request, destination, transport);
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.client_txs.push(tx);
                    if leg_call_id == call_id && is_invite && call.invite_tx.is_none() {
                        call.placed_invite = Some(tx);
                    }
                    if leg_call_id != call_id {
                        let alias = self.aliases.entry(leg_call_id.clone()).or_insert_with(|| {
                            call.aliases.push(leg_call_id);
                            Alias {
                                owner: call_id.clone(),
                                local_tag,
                                invite_tx: None,
                            }
                        });
                        if is_invite {
                            alias.invite_tx = Some(tx);
                        }
                    }
                    self.by_client_tx.insert(tx, call_id);
                }
            }
            SipCommand::Ack {
                request,
                destination,
                transport,
            } => endpoint.send_ack(now, request, destination, transport),
            SipCommand::Cancel { leg_call_id } => {
                let (owner, invite) = match self.aliases.get(&leg_call_id) {
                    Some(alias) => (alias.owner.clone(), alias.invite_tx),
                    None => match self.calls.get(&leg_call_id) {
                        Some(call) => (leg_call_id.clone(), call.placed_invite),
                        None => return,
                    },
                };
                if let Some(tx) = invite.and_then(|i| endpoint.cancel(now, &i)) {
                    if let Some(call) = self.calls.get_mut(&owner) {
                        call.client_txs.push(tx);
                        self.by_client_tx.insert(tx, owner);
                    }
                }
            }
            SipCommand::Ended { call_id } => {
                if let Some(call) = self.calls.remove(&call_id) {
                    self.by_id.remove(&call.handle.id);
                    if let Some(tx) = call.invite_tx {
                        self.by_invite_tx.remove(&tx);
                    }
                    for tx in call.client_txs {
                        self.by_client_tx.remove(&tx);
                    }
                    for alias in call.aliases {
                        self.aliases.remove(&alias);
                    }
                }
            }
            SipCommand::Placed { call_id, handle } => {
                self.by_id.insert(handle.id.clone(), call_id.clone());
                self.calls.insert(
                    call_id,
                    LiveCall {
                        handle,
                        invite_tx: None,
                        placed_invite: None,
                        client_txs: Vec::new(),
                        aliases: Vec::new(),
                    },
                );
            }
            SipCommand::Control { call, control } => match self.by_id.get(&call).cloned() {
                Some(call_id) => self.deliver(&call_id, CallInput::Control(control)),
                None => {
                    let _ = control.reply.send(Err(ControlError::NoSuchCall));
                }
            },
        }
    }

    fn event(&mut self, endpoint: &mut Endpoint, event: Event) {
        match event {
            Event::Request {
                tx,
                request,
                source,
                transport,
            } => self.request(
                endpoint,
                tx,
                request,
                Source {
                    addr: source,
                    transport,
                },
            ),
            Event::Ack { request, .. } => {
                self.deliver(
                    &request.headers.call_id,
                    CallInput::Ack { sdp: request.body },
                );
            }
            Event::Cancelled { invite_tx, .. } => {
                if let Some(call_id) = self.by_invite_tx.get(&invite_tx).cloned() {
                    self.deliver(&call_id, CallInput::Cancelled);
                }
            }
            Event::AckTimeout { tx } => {
                if let Some(call_id) = self.by_invite_tx.get(&tx).cloned() {
                    self.deliver(&call_id, CallInput::AckTimeout);
                }
            }
            Event::Response { tx, response } => {
                if let Some(call_id) = self.by_client_tx.get(&tx).cloned() {
                    self.deliver(&call_id, CallInput::Response { tx, response });
                }
            }
            Event::Timeout { tx } => {
                // Timer H: our final non-2xx was never ACKed; the call is
                // already over from its point of view.
                debug!(?tx, "final response never acknowledged");
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// A new request (not an ACK for a 2xx, not a CANCEL).
    fn request(
        &mut self,
        endpoint: &mut Endpoint,
        tx: ServerTxId,
        request: Request,
        source: Source,
    ) {
        let now = Instant::now();
        let has_to_tag = request
            .headers
            .to
            .params
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case("tag"));
        if has_to_tag {
            // In-dialog: belongs to a live call (or one of its outbound
            // legs), or to no dialog we know. A call that loops back to us
            // through a trunk has both under one Call-ID: the To tag tells
            // whose dialog it is.
            let mut call_id = request.headers.call_id.clone();
            if let Some(alias) = self.aliases.get(&call_id) {
                let to_tag = hibiki_sip::transaction::build::tag_of(&request.headers.to);
                if to_tag == Some(alias.local_tag.as_str()) {
                    call_id.clone_from(&alias.owner);
                }
            }
            if self.calls.contains_key(&call_id) {
                self.deliver(&call_id, CallInput::Request { tx, request });
            } else {
                let r = response_to(&request, 481, "Call/Transaction Does Not Exist", None);
                reply(endpoint, now, &tx, r);
            }
            return;
        }
        match request.method {
            Method::Invite => self.new_invite(endpoint, tx, request, source),
            Method::Register if !matches!(request.headers.to.uri, Uri::Sip(_)) => {
                // RFC 4475 §3.3.4 (unksm2): an address-of-record must be SIP.
                let r = response_to(&request, 400, "To is not a SIP address-of-record", None);
                reply(endpoint, now, &tx, r);
            }
            Method::Register => {
                // Hibiki is not a registrar yet (SIP phones come with agents).
                let mut r = response_to(&request, 405, "Method Not Allowed", None);
                r.headers.extra.push(Header {
                    name: "Allow".into(),
                    value: "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO".into(),
                });
                reply(endpoint, now, &tx, r);
            }
            _ => {
                // BYE, INFO… outside any dialog.
                let r = response_to(&request, 481, "Call/Transaction Does Not Exist", None);
                reply(endpoint, now, &tx, r);
            }
        }
    }

    fn new_invite(
        &mut self,
        endpoint: &mut Endpoint,
        tx: ServerTxId,
        request: Request,
        source: Source,
    ) {
        let now = Instant::now();
        let call_id = request.headers.call_id.clone();
        if self.calls.contains_key(&call_id) {
            // A second INVITE with our Call-ID and no To tag: a fork or a
            // merged request; refuse it without disturbing the live call.
            let r = response_to(&request, 482, "Loop Detected", None);
            reply(endpoint, now, &tx, r);
            return;
        }
        let mut record = new_record(&self.node_id, &request);
        let refuse = |endpoint: &mut Endpoint,
                      status: u16,
                      cause: HangupCause,
                      record: &mut CallRecord,
                      ctx: &CallContext,
                      extra: Option<Header>| {
            let mut r = response_to(&request, status, default_reason(status), Some(&new_tag()));
            if let Some(h) = extra {
                r.headers.extra.push(h);
            }
            reply(endpoint, now, &tx, r);
            record.ended_at_ms = Some(record.started_at_ms);
            let outcome = crate::call::outcome::outcome_for_final_status(status);
            record.outcome = Some(outcome);
            record.final_sip_code = Some(status);
            record.hangup_cause = Some(cause.as_str().to_owned());
            ctx.metrics
                .calls_total
                .with_label_values(&[outcome.as_str()])
                .inc();
            if !ctx.records.send(RecordEvent::Ended(record.clone())) {
                ctx.metrics.records_dropped.inc();
            }
        };
        if self.draining.is_cancelled() {
            info!(%call_id, "refusing a new call: shutting down");
            refuse(
                endpoint,
                503,
                HangupCause::ShuttingDown,
                &mut record,
                &self.ctx,
                Some(Header {
                    name: "Retry-After".into(),
                    value: "30".into(),
                }),
            );
            return;
        }
        if self.calls.len() >= self.max_calls {
            warn!(%call_id, limit = self.max_calls, "refusing a new call: at the call limit");
            refuse(
                endpoint,
                503,
                HangupCause::Overload,
                &mut record,
                &self.ctx,
                Some(Header {
                    name: "Retry-After".into(),
                    value: "5".into(),
                }),
            );
            return;
        }
        let trunk = match self.door.admit(&request, source.addr.ip(), unix_ms()) {
            Admission::Trunk(name) => name,
            Admission::Challenge { stale } => {
                // One header per configured algorithm, preferred first (RFC 8760).
                let mut r = response_to(&request, 401, "Unauthorized", Some(&new_tag()));
                for challenge in self.door.challenges(unix_ms(), stale) {
                    r.headers.extra.push(Header {
                        name: "WWW-Authenticate".into(),
                        value: challenge.to_string(),
                    });
                }
                reply(endpoint, now, &tx, r);
                return;
            }
            Admission::Forbidden(why) => {
                info!(%call_id, source = %source.addr, why, "refusing a call: forbidden");
                refuse(
                    endpoint,
                    403,
                    HangupCause::Forbidden,
                    &mut record,
                    &self.ctx,
                    None,
                );
                return;
            }
        };
        record.trunk = Some(trunk);
        if let Some((status, accept)) = unacceptable_body(&request) {
            info!(%call_id, status, "refusing a call: no session we can answer");
            refuse(
                endpoint,
                status,
                HangupCause::UnsupportedMedia,
                &mut record,
                &self.ctx,
                Some(accept),
            );
            return;
        }
        let Some(route) = dialled_number(&request.uri).and_then(|n| self.door.route(&n).cloned())
        else {
            info!(%call_id, number = %record.to_number, "refusing a call: no route for the number");
            refuse(
                endpoint,
                404,
                HangupCause::NotFound,
                &mut record,
                &self.ctx,
                None,
            );
            return;
        };
        let record_id = record.id.clone();
        let (input_tx, input_rx) = mpsc::channel(CALL_INPUT_CAPACITY);
        let handle = CallHandle {
            id: record.id.clone(),
            input: input_tx,
        };
        self.calls.insert(
            call_id.clone(),
            LiveCall {
                handle,
                invite_tx: Some(tx),
                placed_invite: None,
                client_txs: Vec::new(),
                aliases: Vec::new(),
            },
        );
        self.by_id.insert(record_id, call_id.clone());
        self.by_invite_tx.insert(tx, call_id);
        let call = InboundCall {
            record,
            invite: request,
            tx: Some(tx),
            source: source.addr,
            transport: source.transport,
            route,
            local_tag: new_tag(),
        };
        self.tracker
            .spawn(actor::run(self.ctx.clone(), call, input_rx));
        let _ = self.local_addr;
    }

    /// Hands an input to the call owning `call_id`, without ever waiting:
    /// an actor that lets 64 inputs pile up is stuck, and SIP must not be.
    fn deliver(&self, call_id: &str, input: CallInput) {
        if let Some(call) = self.calls.get(call_id) {
            if let Err(e) = call.handle.input.try_send(input) {
                warn!(call = %call.handle.id, error = %e, "call input dropped");
            }
        }
    }
}

/// Where a request came from.
pub struct Source {
    pub addr: SocketAddr,
    pub transport: Transport,
}

fn new_record(node_id: &str, request: &Request) -> CallRecord {
    CallRecord {
        id: uuid::Uuid::new_v4().to_string(),
        node_id: node_id.to_owned(),
        sip_call_id: request.headers.call_id.clone(),
        direction: Direction::Inbound,
        trunk: None,
        from_number: caller_number(request),
        to_number: dialled_number(&request.uri).unwrap_or_default(),
        started_at_ms: now_ms(),
        answered_at_ms: None,
        ended_at_ms: None,
        outcome: None::<Outcome>,
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

/// A fresh random tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn unix_ms() -> u64 {
    u64::try_from(now_ms()).unwrap_or(0)
}

/// Sends a response the engine itself gives; a transaction that ended in
/// the meantime is not an error worth more than a debug line.
fn reply(endpoint: &mut Endpoint, now: Instant, tx: &ServerTxId, response: hibiki_sip::Response) {
    if let Err(e) = endpoint.send_response(now, tx, response) {
        debug!(error = %e, "response not sent");
    }
}
