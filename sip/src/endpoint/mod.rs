//! The endpoint: the one object a transport drives. It parses what
//! arrives, answers what the core can answer by itself, matches messages
//! to transactions, and hands the TU (the signaling layer) events; the TU
//! hands it requests and responses to send.
//!
//! ## Driving it
//! After every `handle_*` or `send_*` call, drain
//! [`Endpoint::poll_transmit`] and [`Endpoint::poll_event`] until both are
//! `None`, then sleep until [`Endpoint::poll_timeout`] and call
//! [`Endpoint::handle_timeout`].
//!
//! ## What it answers by itself
//! - parse errors: the parser's prepared response, to the source;
//! - unknown methods: 501; known methods not in [`EndpointConfig::allow`]:
//!   405 with `Allow`;
//! - merged requests (§8.2.2.2: same From tag, Call-ID and CSeq as a live
//!   transaction, another branch, no To tag): 482;
//! - a `Require` naming an option tag not in
//!   [`EndpointConfig::supported`]: 420 with `Unsupported`;
//! - OPTIONS: 200 with `Allow`, `Accept`, `Supported`, unless
//!   [`EndpointConfig::tu_handles_options`];
//! - CANCEL: 200 when it matches an INVITE transaction (the TU gets
//!   [`Event::Cancelled`] and must answer the INVITE 487), 481 otherwise;
//! - `Max-Forwards: 0`: a B2BUA consumes requests addressed to it, so the
//!   endpoint passes them to the TU, which answers 483 when it would
//!   forward the request; with [`EndpointConfig::reject_max_forwards_zero`]
//!   the endpoint answers 483 itself to every request but OPTIONS.
//!
//! These answers go through a server transaction like the TU's, so
//! retransmissions are absorbed and an INVITE's ACK is matched.
//!
//! ## Addresses
//! On receipt, RFC 3581 and §18.2.1: `received` is added to the top Via
//! when its host differs from the source (always when `rport` is present),
//! and `rport` is filled with the source port. Responses go (§18.2.2) over
//! a reliable transport to the source; over UDP to the source address and
//! port when `rport` was present, else to `received` (or the sent-by
//! address) at the sent-by port. `maddr` is not honoured (multicast is not
//! supported). Responses whose top Via sent-by is not ours are dropped.
//!
//! ## Timeouts
//! A client transaction that times out (Timer B, F, or no final answer
//! 64·T1 after our CANCEL) is reported as an [`Event::Response`] carrying a
//! synthesized `408 Request Timeout`: the TU handles every end of a
//! client transaction in one place. Server INVITE Timer H is
//! [`Event::Timeout`]; a 2xx never ACKed is [`Event::AckTimeout`].
//!
//! ## What the TU owes
//! Every [`Event::Request`] must be answered (a final response ends the
//! server transaction; an INVITE left unanswered stays in Proceeding).
//! CANCEL is sent with [`Endpoint::cancel`], never built by hand: it
//! reuses the INVITE's branch and waits for a provisional (§9.1). The ACK
//! for a 2xx is built by the dialog and sent with [`Endpoint::send_ack`];
//! every 2xx to an INVITE (retransmissions included, until Timer M) comes
//! up as an [`Event::Response`] and must be ACKed again. Responses that
//! match nothing (a 2xx after Timer M) and ACKs that match nothing are
//! counted in [`Stats`] and dropped; there is no stray event.
//!
//! Memory stays bounded: a transaction is removed the moment it
//! terminates, timers sit in one ordered set keyed by deadline, and all
//! lookups are hash-map lookups.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod inbound;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::message::{Host, Method, Param, Request, Response, Transport, Via};
use crate::transaction::build::{self, IdGen};
use crate::transaction::key::{default_port, AckKey, ClientKey, MergeKey, ServerKey};
use crate::transaction::{
    Action, ClientInvite, ClientNonInvite, ServerInvite, ServerNonInvite, Timers, TxError,
};
use crate::write::{write_request, write_response};

pub use stats::{method_label, Stats};

/// How the endpoint is set up.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The host we put in our Via `sent-by` (and recognise in responses).
    pub via_host: Host,
    /// The port we put in our Via `sent-by`; `None` writes none (the
    /// transport's default port is then assumed when matching).
    pub via_port: Option<u16>,
    /// T1, T2, T4, the 100 Trying delay, Timer D.
    pub timers: Timers,
    /// Seed of the branch/tag generator (the server passes a random one).
    pub seed: u64,
    /// Methods the TU handles, advertised in `Allow`; other known methods
    /// get 405. ACK and CANCEL are always handled.
    pub allow: Vec<Method>,
    /// Option tags we support (`Require` checks, `Supported` in OPTIONS).
    pub supported: Vec<String>,
    /// Body types advertised in `Accept` for OPTIONS.
    pub accept: Vec<String>,
    /// Pass OPTIONS to the TU instead of answering them here.
    pub tu_handles_options: bool,
    /// Answer 483 to every request but OPTIONS with `Max-Forwards: 0`.
    pub reject_max_forwards_zero: bool,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            via_host: Host::Ipv4(std::net::Ipv4Addr::LOCALHOST),
            via_port: Some(5060),
            timers: Timers::default(),
            seed: 0,
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Info,
                Method::Register,
            ],
            supported: Vec::new(),
            accept: vec!["application/sdp".to_owned()],
            tu_handles_options: false,
            reject_max_forwards_zero: false,
        }
    }
}

/// A datagram, or one framed stream message, that arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub transport: Transport,
    /// Our address it arrived on.
    pub local: SocketAddr,
    /// Where it came from.
    pub remote: SocketAddr,
    pub bytes: Bytes,
}

/// Bytes to send. Over a reliable transport, `destination` names the
/// connection (the peer's address); the transport opens one if none is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    pub destination: SocketAddr,
    pub bytes: Bytes,
}

/// A client transaction, as the TU knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(u64);

/// A server transaction, as the TU knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(u64);

/// What the TU must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request (INVITE, BYE, re-INVITE, INFO…): answer it with
    /// [`Endpoint::send_response`].
    Request {
        tx: ServerTxId,
        request: Request,
        source: SocketAddr,
        transport: Transport,
    },
    /// The ACK for a 2xx we sent on `tx` (matched by dialog: Call-ID, From
    /// tag, To tag, CSeq number).
    Ack {
        tx: ServerTxId,
        request: Request,
        source: SocketAddr,
    },
    /// A response to our request; a synthesized 408 when the transaction
    /// timed out. Every 2xx to an INVITE is passed up (the TU ACKs each).
    Response { tx: ClientTxId, response: Response },
    /// Timer H: our 3xx–6xx to the INVITE of `tx` was never ACKed.
    Timeout { tx: ServerTxId },
    /// A CANCEL matched the INVITE of `invite_tx`, which has no final
    /// response yet. The endpoint answered the CANCEL 200 (§9.2); the TU
    /// must answer the INVITE 487.
    Cancelled {
        invite_tx: ServerTxId,
        request: Request,
    },
    /// Timer L: our 2xx on `tx` was never ACKed (§13.3.1.4: the TU should
    /// send BYE).
    AckTimeout { tx: ServerTxId },
}

/// Why a TU call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("no such transaction (it ended or never existed)")]
    NoTransaction,
    #[error(transparent)]
    Transaction(#[from] TxError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TxRef {
    Client(u64),
    Server(u64),
}

#[derive(Debug)]
enum ClientMachine {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct ClientEntry {
    key: ClientKey,
    machine: ClientMachine,
    transport: Transport,
    destination: SocketAddr,
    scheduled: Option<Instant>,
    /// A CANCEL asked for before any provisional arrived (§9.1): sent on
    /// the first provisional, under this reserved id.
    pending_cancel: Option<u64>,
}

#[derive(Debug)]
enum ServerMachine {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct ServerEntry {
    key: ServerKey,
    machine: ServerMachine,
    transport: Transport,
    /// Where responses go (§18.2.2), fixed when the request arrived.
    reply_to: SocketAddr,
    scheduled: Option<Instant>,
    ack_key: Option<AckKey>,
    merge_key: Option<MergeKey>,
    /// The To tag of our responses, once one carried a tag.
    to_tag: Option<String>,
    /// Answered by the endpoint itself: the TU never hears of it.
    internal: bool,
    /// A CANCEL already produced [`Event::Cancelled`].
    cancelled: bool,
}

/// The SIP endpoint. See the module doc for the driving rule.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    ids: IdGen,
    next_id: u64,
    // Entries are boxed: when a map grows, only pointers move (a resize of
    // hundreds of thousands of inline entries stalled the engine for tens
    // of ms under load).
    clients: HashMap<u64, Box<ClientEntry>>,
    client_index: HashMap<ClientKey, u64>,
    servers: HashMap<u64, Box<ServerEntry>>,
    server_index: HashMap<ServerKey, u64>,
    ack_index: HashMap<AckKey, u64>,
    merge_index: HashMap<MergeKey, u64>,
    timers: BTreeSet<(Instant, TxRef)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    /// Scratch space for machine actions, reused across calls.
    actions: Vec<Action>,
}

impl Endpoint {
    /// An endpoint with no transactions.
    pub fn new(config: EndpointConfig) -> Self {
        Endpoint {
            ids: IdGen::new(config.seed),
            config,
            next_id: 1,
            clients: HashMap::new(),
            client_index: HashMap::new(),
            servers: HashMap::new(),
            server_index: HashMap::new(),
            ack_index: HashMap::new(),
            merge_index: HashMap::new(),
            timers: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            actions: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A fresh From/To tag from the endpoint's generator.
    pub fn new_tag(&mut self) -> String {
        self.ids.tag()
    }

    /// A fresh Call-ID `<hex>@<host>`.
    pub fn new_call_id(&mut self, host: &str) -> String {
        self.ids.call_id(host)
    }

    /// A fresh branch (with the magic cookie).
    pub fn new_branch(&mut self) -> String {
        self.ids.branch()
    }

    /// The next datagram or stream message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// A UDP datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, received: Received) {
        self.handle_received(now, received);
    }

    /// One framed message from a stream (TCP, TLS) arrived.
    pub fn handle_stream_message(&mut self, now: Instant, received: Received) {
        self.handle_received(now, received);
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, tx)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            match tx {
                TxRef::Client(id) => self.fire_client(now, id),
                TxRef::Server(id) => self.fire_server(now, id),
            }
        }
    }

    /// Sends a request in a new client transaction: pushes our Via (sent-by,
    /// a new branch, `rport`) on top, sets `Max-Forwards: 70` when absent.
    ///
    /// ACK for a 2xx goes through [`send_ack`](Self::send_ack) and CANCEL
    /// through [`cancel`](Self::cancel); an ACK given here is sent like
    /// `send_ack` and its id never produces an event.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> ClientTxId {
        let id = self.alloc_id();
        if request.method == Method::Ack {
            self.send_ack(now, request, destination, transport);
            return ClientTxId(id);
        }
        let branch = self.ids.branch();
        request
            .headers
            .via
            .insert(0, self.our_via(&transport, &branch));
        if request.headers.max_forwards.is_none() {
            request.headers.max_forwards = Some(70);
        }
        self.start_client(now, id, branch, request, destination, transport);
        ClientTxId(id)
    }

    /// Sends an ACK for a 2xx (built by the dialog) with no transaction:
    /// pushes our Via with a new branch.
    pub fn send_ack(
        &mut self,
        _now: Instant,
        mut ack: Request,
        destination: SocketAddr,
        transport: Transport,
    ) {
        let branch = self.ids.branch();
        ack.headers.via.insert(0, self.our_via(&transport, &branch));
        if ack.headers.max_forwards.is_none() {
            ack.headers.max_forwards = Some(70);
        }
        stats::bump(&mut self.stats.requests_sent, method_label(&ack.method));
        self.transmits.push_back(Transmit {
            transport,
            destination,
            bytes: write_request(&ack),
        });
    }

    /// Cancels the INVITE of `invite` (§9.1): builds the CANCEL from it and
    /// sends it in its own transaction, at once if a provisional response
    /// has arrived, else on the first one. `None` when the INVITE already
    /// has a final response (or is gone): nothing is sent.
    pub fn cancel(&mut self, now: Instant, invite: &ClientTxId) -> Option<ClientTxId> {
        let entry = self.clients.get_mut(&invite.0)?;
        let ClientMachine::Invite(machine) = &mut entry.machine else {
            return None;
        };
        if !machine.is_pending() {
            return None;
        }
        if let Some(reserved) = entry.pending_cancel {
            return Some(ClientTxId(reserved));
        }
        let calling = machine.state() == crate::transaction::ClientInviteState::Calling;
        let id = self.alloc_id();
        if calling {
            if let Some(entry) = self.clients.get_mut(&invite.0) {
                entry.pending_cancel = Some(id);
            }
        } else {
            self.send_cancel(now, invite.0, id);
        }
        Some(ClientTxId(id))
    }

    fn send_cancel(&mut self, now: Instant, invite_id: u64, cancel_id: u64) {
        let Some(entry) = self.clients.get_mut(&invite_id) else {
            return;
        };
        let ClientMachine::Invite(machine) = &mut entry.machine else {
            return;
        };
        machine.cancel_sent(now);
        let cancel = build::cancel_for(machine.request());
        let (destination, transport, branch) = (
            entry.destination,
            entry.transport.clone(),
            entry.key.branch.clone(),
        );
        self.reschedule(TxRef::Client(invite_id));
        self.start_client(now, cancel_id, branch, cancel, destination, transport);
    }

    /// Sends the TU's response on server transaction `tx`. The response is
    /// sent as given: build it with [`build::response_with_tag`] so it
    /// carries the request's Via, From, Call-ID, CSeq and our To tag.
    pub fn send_response(
        &mut self,
        now: Instant,
        tx: &ServerTxId,
        response: Response,
    ) -> Result<(), EndpointError> {
        self.respond(now, tx.0, &response)
    }

    fn respond(&mut self, now: Instant, id: u64, response: &Response) -> Result<(), EndpointError> {
        let entry = self
            .servers
            .get_mut(&id)
            .ok_or(EndpointError::NoTransaction)?;
        let bytes = write_response(response);
        let mut actions = std::mem::take(&mut self.actions);
        let result = match &mut entry.machine {
            ServerMachine::Invite(m) => m.send_response(now, response.status, bytes, &mut actions),
            ServerMachine::NonInvite(m) => {
                m.send_response(now, response.status, bytes, &mut actions)
            }
        };
        if result.is_ok() {
            if let Some(tag) = build::tag_of(&response.headers.to) {
                if entry.to_tag.is_none() {
                    entry.to_tag = Some(tag.to_owned());
                }
            }
            let is_invite = matches!(entry.machine, ServerMachine::Invite(_));
            if is_invite && (200..300).contains(&response.status) && entry.ack_key.is_none() {
                if let Some(key) = ack_key_of_response(response) {
                    self.ack_index.insert(key.clone(), id);
                    entry.ack_key = Some(key);
                }
            }
            stats::bump(&mut self.stats.responses_sent, response.status);
        }
        self.apply_server_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Server(id));
        Ok(result?)
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn our_via(&self, transport: &Transport, branch: &str) -> Via {
        Via {
            transport: transport.clone(),
            host: self.config.via_host.clone(),
            port: self.config.via_port,
            params: vec![
                Param::new("branch", Some(branch.to_owned())),
                Param::new("rport", None),
            ],
        }
    }

    fn is_our_via(&self, via: &Via) -> bool {
        let ours = self
            .config
            .via_port
            .unwrap_or_else(|| default_port(&via.transport));
        via.host == self.config.via_host
            && via.port.unwrap_or_else(|| default_port(&via.transport)) == ours
    }

    fn start_client(
        &mut self,
        now: Instant,
        id: u64,
        branch: String,
        request: Request,
        destination: SocketAddr,
        transport: Transport,
    ) {
        let reliable = transport != Transport::Udp;
        let bytes = write_request(&request);
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        stats::bump(&mut self.stats.requests_sent, method_label(&request.method));
        let mut actions = std::mem::take(&mut self.actions);
        let timers = self.config.timers;
        let machine = if request.method == Method::Invite {
            ClientMachine::Invite(ClientInvite::new(
                now,
                request,
                bytes,
                reliable,
                timers,
                &mut actions,
            ))
        } else {
            ClientMachine::NonInvite(ClientNonInvite::new(
                now,
                request,
                bytes,
                reliable,
                timers,
                &mut actions,
            ))
        };
        self.client_index.insert(key.clone(), id);
        self.clients.insert(
            id,
            Box::new(ClientEntry {
                key,
                machine,
                transport,
                destination,
                scheduled: None,
                pending_cancel: None,
            }),
        );
        self.stats.live_transactions += 1;
        self.apply_client_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Client(id));
    }

    fn fire_client(&mut self, now: Instant, id: u64) {
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        entry.scheduled = None;
        let mut actions = std::mem::take(&mut self.actions);
        match &mut entry.machine {
            ClientMachine::Invite(m) => m.on_timeout(now, &mut actions),
            ClientMachine::NonInvite(m) => m.on_timeout(now, &mut actions),
        }
        self.apply_client_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Client(id));
    }

    fn fire_server(&mut self, now: Instant, id: u64) {
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        entry.scheduled = None;
        let mut actions = std::mem::take(&mut self.actions);
        match &mut entry.machine {
            ServerMachine::Invite(m) => m.on_timeout(now, &mut actions),
            ServerMachine::NonInvite(m) => m.on_timeout(now),
        }
        self.apply_server_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Server(id));
    }

    /// Turns a client machine's actions into transmits and events.
    fn apply_client_actions(&mut self, id: u64, actions: &mut Vec<Action>) {
        let Some(entry) = self.clients.get(&id) else {
            actions.clear();
            return;
        };
        for action in actions.drain(..) {
            match action {
                Action::Send(bytes) => self.transmits.push_back(Transmit {
                    transport: entry.transport.clone(),
                    destination: entry.destination,
                    bytes,
                }),
                Action::Retransmit(bytes) => {
                    self.stats.retransmissions_sent += 1;
                    self.transmits.push_back(Transmit {
                        transport: entry.transport.clone(),
                        destination: entry.destination,
                        bytes,
                    });
                }
                Action::Deliver(response) => self.events.push_back(Event::Response {
                    tx: ClientTxId(id),
                    response: *response,
                }),
                Action::Timeout => {
                    self.stats.transaction_timeouts += 1;
                    let request = match &entry.machine {
                        ClientMachine::Invite(m) => m.request(),
                        ClientMachine::NonInvite(m) => m.request(),
                    };
                    self.events.push_back(Event::Response {
                        tx: ClientTxId(id),
                        response: build::response_to(request, 408),
                    });
                }
                Action::AckTimeout => {}
            }
        }
    }

    /// Turns a server machine's actions into transmits and events.
    fn apply_server_actions(&mut self, id: u64, actions: &mut Vec<Action>) {
        let Some(entry) = self.servers.get(&id) else {
            actions.clear();
            return;
        };
        for action in actions.drain(..) {
            match action {
                Action::Send(bytes) => self.transmits.push_back(Transmit {
                    transport: entry.transport.clone(),
                    destination: entry.reply_to,
                    bytes,
                }),
                Action::Retransmit(bytes) => {
                    self.stats.retransmissions_sent += 1;
                    self.transmits.push_back(Transmit {
                        transport: entry.transport.clone(),
                        destination: entry.reply_to,
                        bytes,
                    });
                }
                Action::Timeout => {
                    self.stats.transaction_timeouts += 1;
                    if !entry.internal {
                        self.events.push_back(Event::Timeout { tx: ServerTxId(id) });
                    }
                }
                Action::AckTimeout => {
                    self.stats.ack_timeouts += 1;
                    if !entry.internal {
                        self.events
                            .push_back(Event::AckTimeout { tx: ServerTxId(id) });
                    }
                }
                Action::Deliver(_) => {}
            }
        }
    }

    /// Re-files a transaction's timer after it changed, or removes the
    /// transaction if it terminated.
    fn reschedule(&mut self, tx: TxRef) {
        let (terminated, deadline, scheduled) = match tx {
            TxRef::Client(id) => match self.clients.get_mut(&id) {
                Some(e) => {
                    let (t, d) = match &e.machine {
                        ClientMachine::Invite(m) => (m.is_terminated(), m.next_deadline()),
                        ClientMachine::NonInvite(m) => (m.is_terminated(), m.next_deadline()),
                    };
                    let old = e.scheduled;
                    e.scheduled = if t { None } else { d };
                    (t, d, old)
                }
                None => return,
            },
            TxRef::Server(id) => match self.servers.get_mut(&id) {
                Some(e) => {
                    let (t, d) = match &e.machine {
                        ServerMachine::Invite(m) => (m.is_terminated(), m.next_deadline()),
                        ServerMachine::NonInvite(m) => (m.is_terminated(), m.next_deadline()),
                    };
                    let old = e.scheduled;
                    e.scheduled = if t { None } else { d };
                    (t, d, old)
                }
                None => return,
            },
        };
        if terminated {
            if let Some(at) = scheduled {
                self.timers.remove(&(at, tx));
            }
            self.remove(tx);
            return;
        }
        if scheduled != deadline {
            if let Some(at) = scheduled {
                self.timers.remove(&(at, tx));
            }
            if let Some(at) = deadline {
                self.timers.insert((at, tx));
            }
        }
    }

    fn remove(&mut self, tx: TxRef) {
        match tx {
            TxRef::Client(id) => {
                if let Some(e) = self.clients.remove(&id) {
                    self.client_index.remove(&e.key);
                    self.stats.live_transactions -= 1;
                }
            }
            TxRef::Server(id) => {
                if let Some(e) = self.servers.remove(&id) {
                    self.server_index.remove(&e.key);
                    if let Some(k) = e.ack_key {
                        self.ack_index.remove(&k);
                    }
                    if let Some(k) = e.merge_key {
                        if self.merge_index.get(&k) == Some(&id) {
                            self.merge_index.remove(&k);
                        }
                    }
                    self.stats.live_transactions -= 1;
                }
            }
        }
    }
}

/// The key the ACK for this 2xx will match: Call-ID, From tag, To tag and
/// CSeq number of the response (copied from the INVITE).
fn ack_key_of_response(resp: &Response) -> Option<AckKey> {
    Some(AckKey {
        call_id: resp.headers.call_id.clone(),
        from_tag: build::tag_of(&resp.headers.from)?.to_owned(),
        to_tag: build::tag_of(&resp.headers.to)?.to_owned(),
        cseq: resp.headers.cseq.seq,
    })
}
