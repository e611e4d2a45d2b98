//! What the endpoint does with a message that arrived: parse it, fix up
//! the top Via (RFC 3581), match it to a transaction, answer what the core
//! answers itself, and pass the rest to the TU.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::message::{find_param, Message, Method, Param, Request, Response, Transport, Via};
use crate::parse::parse_message;
use crate::transaction::build::{self, header_tokens, push_header, tag_of};
use crate::transaction::key::{default_port, AckKey, ClientKey, MergeKey, ServerKey};
use crate::transaction::{AckOutcome, ServerInvite, ServerNonInvite};

use super::stats::{bump, method_label};
use super::{
    ClientMachine, Endpoint, Event, Received, ServerEntry, ServerMachine, ServerTxId, Transmit,
    TxRef,
};

/// Where a request came from and where its responses go.
struct Origin {
    transport: Transport,
    remote: SocketAddr,
    reply_to: SocketAddr,
}

impl Endpoint {
    pub(super) fn handle_received(&mut self, now: Instant, rx: Received) {
        match parse_message(&rx.bytes) {
            Ok(Message::Request(req)) => self.handle_request(now, req, &rx),
            Ok(Message::Response(resp)) => self.handle_response(now, resp),
            Err(err) => {
                self.stats.parse_errors += 1;
                if let (Some(status), Some(bytes)) = (err.status, err.response) {
                    bump(&mut self.stats.responses_sent, status);
                    self.transmits.push_back(Transmit {
                        transport: rx.transport,
                        destination: rx.remote,
                        bytes,
                    });
                }
            }
        }
    }

    fn handle_request(&mut self, now: Instant, mut req: Request, rx: &Received) {
        bump(&mut self.stats.requests_received, method_label(&req.method));
        let Some(top) = req.headers.via.first_mut() else {
            return;
        };
        stamp_received(top, rx.remote);
        let reply_to = if rx.transport == Transport::Udp {
            response_address(top, rx.remote)
        } else {
            rx.remote
        };
        let origin = Origin {
            transport: rx.transport.clone(),
            remote: rx.remote,
            reply_to,
        };
        if req.method == Method::Ack {
            self.handle_ack(now, req, rx.remote);
            return;
        }
        let Some(key) = ServerKey::of_request(&req) else {
            return;
        };
        if let Some(&id) = self.server_index.get(&key) {
            self.absorb_retransmission(id);
            return;
        }
        if req.method == Method::Cancel {
            self.handle_cancel(now, req, key, origin);
            return;
        }
        if let Some(response) = self.core_answer(&req) {
            let id = self.new_server(now, &req, key, &origin, true);
            // A fresh transaction accepts any first response.
            let _ = self.respond(now, id, &response);
            return;
        }
        let id = self.new_server(now, &req, key, &origin, false);
        self.events.push_back(Event::Request {
            tx: ServerTxId(id),
            request: req,
            source: origin.remote,
            transport: origin.transport,
        });
    }

    fn absorb_retransmission(&mut self, id: u64) {
        self.stats.retransmissions_received += 1;
        let Some(entry) = self.servers.get_mut(&id) else {
            return;
        };
        let mut actions = std::mem::take(&mut self.actions);
        match &mut entry.machine {
            ServerMachine::Invite(m) => m.on_retransmission(&mut actions),
            ServerMachine::NonInvite(m) => m.on_retransmission(&mut actions),
        }
        self.apply_server_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Server(id));
    }

    /// The response the core gives by itself, if any (§8.2.1–§8.2.2, §11).
    fn core_answer(&mut self, req: &Request) -> Option<Response> {
        let cfg = &self.config;
        let mut resp = match &req.method {
            Method::Extension(_) => Some(self.reject(req, 501)),
            m if !cfg.allow.contains(m) => {
                let allow = self.allow_value();
                let mut r = self.reject(req, 405);
                push_header(&mut r.headers, "Allow", allow);
                Some(r)
            }
            _ => None,
        };
        if resp.is_none() {
            if let Some(mk) = MergeKey::of_request(req) {
                if self.merge_index.contains_key(&mk) {
                    resp = Some(self.reject(req, 482));
                }
            }
        }
        if resp.is_none() {
            let unsupported: Vec<&str> = header_tokens(&req.headers, "Require")
                .filter(|t| {
                    !self
                        .config
                        .supported
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(t))
                })
                .collect();
            if !unsupported.is_empty() {
                let value = unsupported.join(", ");
                let mut r = self.reject(req, 420);
                push_header(&mut r.headers, "Unsupported", value);
                resp = Some(r);
            }
        }
        if resp.is_none()
            && self.config.reject_max_forwards_zero
            && req.headers.max_forwards == Some(0)
            && req.method != Method::Options
        {
            resp = Some(self.reject(req, 483));
        }
        if resp.is_none() && req.method == Method::Options && !self.config.tu_handles_options {
            let allow = self.allow_value();
            let accept = self.config.accept.join(", ");
            let supported = self.config.supported.join(", ");
            let mut r = self.reject(req, 200);
            push_header(&mut r.headers, "Allow", allow);
            push_header(&mut r.headers, "Accept", accept);
            if !supported.is_empty() {
                push_header(&mut r.headers, "Supported", supported);
            }
            resp = Some(r);
        }
        resp
    }

    /// A response from the core itself, with a fresh To tag.
    fn reject(&mut self, req: &Request, status: u16) -> Response {
        let tag = self.ids.tag();
        build::response_with_tag(req, status, &tag)
    }

    fn allow_value(&self) -> String {
        let mut methods: Vec<&str> = self.config.allow.iter().map(Method::as_str).collect();
        for m in ["ACK", "CANCEL"] {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        methods.join(", ")
    }

    fn new_server(
        &mut self,
        now: Instant,
        req: &Request,
        key: ServerKey,
        origin: &Origin,
        internal: bool,
    ) -> u64 {
        let id = self.alloc_id();
        let reliable = origin.transport != Transport::Udp;
        let timers = self.config.timers;
        let mut actions = std::mem::take(&mut self.actions);
        let machine = if req.method == Method::Invite {
            let trying = build::response_to(req, 100);
            ServerMachine::Invite(ServerInvite::new(
                now,
                trying,
                reliable,
                timers,
                &mut actions,
            ))
        } else {
            ServerMachine::NonInvite(ServerNonInvite::new(reliable, timers))
        };
        let merge_key = MergeKey::of_request(req).filter(|k| !self.merge_index.contains_key(k));
        if let Some(k) = &merge_key {
            self.merge_index.insert(k.clone(), id);
        }
        self.server_index.insert(key.clone(), id);
        self.servers.insert(
            id,
            Box::new(ServerEntry {
                key,
                machine,
                transport: origin.transport.clone(),
                reply_to: origin.reply_to,
                scheduled: None,
                ack_key: None,
                merge_key,
                to_tag: None,
                internal,
                cancelled: false,
            }),
        );
        self.stats.live_transactions += 1;
        self.apply_server_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Server(id));
        id
    }

    fn handle_ack(&mut self, now: Instant, ack: Request, source: SocketAddr) {
        // ACK for a non-2xx (same branch as the INVITE).
        if let Some(key) = ServerKey::of_request(&ack) {
            if let Some(&id) = self.server_index.get(&key) {
                if let Some(entry) = self.servers.get_mut(&id) {
                    let legacy_mismatch = matches!(key, ServerKey::Legacy { .. })
                        && entry.to_tag.is_some()
                        && entry.to_tag.as_deref() != tag_of(&ack.headers.to);
                    if let (false, ServerMachine::Invite(m)) = (legacy_mismatch, &mut entry.machine)
                    {
                        let outcome = m.on_ack(now);
                        self.ack_outcome(id, outcome, ack, source);
                        return;
                    }
                }
            }
        }
        // ACK for a 2xx (a new branch): matched by dialog.
        if let Some(key) = AckKey::new(&ack, None) {
            if let Some(&id) = self.ack_index.get(&key) {
                if let Some(ServerEntry {
                    machine: ServerMachine::Invite(m),
                    ..
                }) = self.servers.get_mut(&id).map(|e| &mut **e)
                {
                    let outcome = m.on_ack_for_2xx();
                    self.ack_outcome(id, outcome, ack, source);
                    return;
                }
            }
        }
        self.stats.stray_acks += 1;
    }

    fn ack_outcome(&mut self, id: u64, outcome: AckOutcome, ack: Request, source: SocketAddr) {
        let internal = self.servers.get(&id).is_none_or(|e| e.internal);
        if outcome == AckOutcome::AckFor2xx && !internal {
            self.events.push_back(Event::Ack {
                tx: ServerTxId(id),
                request: ack,
                source,
            });
        }
        self.reschedule(TxRef::Server(id));
    }

    fn handle_cancel(&mut self, now: Instant, cancel: Request, key: ServerKey, origin: Origin) {
        let target = ServerKey::invite_for_cancel(&cancel)
            .and_then(|k| self.server_index.get(&k).copied())
            .filter(|id| {
                self.servers
                    .get(id)
                    .is_some_and(|e| matches!(e.machine, ServerMachine::Invite(_)))
            });
        let (status, to_tag, cancelled) = match target.and_then(|id| self.servers.get_mut(&id)) {
            Some(entry) => {
                let pending =
                    matches!(&entry.machine, ServerMachine::Invite(m) if m.is_proceeding());
                let notify = pending && !entry.internal && !entry.cancelled;
                entry.cancelled |= notify;
                (200, entry.to_tag.clone(), notify)
            }
            None => (481, None, false),
        };
        let tag = to_tag.unwrap_or_else(|| self.ids.tag());
        let response = build::response_with_tag(&cancel, status, &tag);
        let id = self.new_server(now, &cancel, key, &origin, true);
        // A fresh transaction accepts any first response.
        let _ = self.respond(now, id, &response);
        if let (true, Some(invite)) = (cancelled, target) {
            self.events.push_back(Event::Cancelled {
                invite_tx: ServerTxId(invite),
                request: cancel,
            });
        }
    }

    fn handle_response(&mut self, now: Instant, resp: Response) {
        bump(&mut self.stats.responses_received, resp.status);
        let ours = resp.headers.via.first().is_some_and(|v| self.is_our_via(v));
        let id = ClientKey::of_response(&resp).and_then(|k| self.client_index.get(&k).copied());
        let (true, Some(id)) = (ours, id) else {
            self.stats.responses_dropped += 1;
            return;
        };
        let Some(entry) = self.clients.get_mut(&id) else {
            return;
        };
        let status = resp.status;
        let mut actions = std::mem::take(&mut self.actions);
        match &mut entry.machine {
            ClientMachine::Invite(m) => m.on_response(now, resp, &mut actions),
            ClientMachine::NonInvite(m) => m.on_response(now, resp, &mut actions),
        }
        let pending_cancel = if status < 200 {
            entry.pending_cancel.take()
        } else {
            entry.pending_cancel = None;
            None
        };
        self.apply_client_actions(id, &mut actions);
        self.actions = actions;
        self.reschedule(TxRef::Client(id));
        if let Some(cancel_id) = pending_cancel {
            self.send_cancel(now, id, cancel_id);
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: note the source in the top Via.
fn stamp_received(via: &mut Via, remote: SocketAddr) {
    let source = remote.ip().to_canonical();
    let has_rport = find_param(&via.params, "rport").is_some();
    let same_host = match &via.host {
        crate::message::Host::Ipv4(a) => IpAddr::V4(*a) == source,
        crate::message::Host::Ipv6(a) => IpAddr::V6(*a).to_canonical() == source,
        crate::message::Host::Domain(_) => false,
    };
    if has_rport || !same_host {
        set_param(&mut via.params, "received", source.to_string());
    }
    if has_rport {
        set_param(&mut via.params, "rport", remote.port().to_string());
    }
}

fn set_param(params: &mut Vec<Param>, name: &str, value: String) {
    match params
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(name))
    {
        Some(p) => p.value = Some(value),
        None => params.push(Param::new(name, Some(value))),
    }
}

/// RFC 3261 §18.2.2 (unreliable transports) with RFC 3581 §4: where the
/// responses to a request with this (stamped) top Via go.
fn response_address(via: &Via, remote: SocketAddr) -> SocketAddr {
    if find_param(&via.params, "rport").is_some() {
        return remote;
    }
    let ip = find_param(&via.params, "received")
        .and_then(|p| p.value.as_deref())
        .and_then(|v| v.trim_matches(['[', ']']).parse::<IpAddr>().ok())
        .or(match &via.host {
            crate::message::Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            crate::message::Host::Ipv6(a) => Some(IpAddr::V6(*a)),
            crate::message::Host::Domain(_) => None,
        })
        .unwrap_or(remote.ip());
    let port = via.port.unwrap_or_else(|| default_port(&via.transport));
    SocketAddr::new(ip, port)
}
