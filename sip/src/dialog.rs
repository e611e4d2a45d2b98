//! Dialog state (RFC 3261 §12): the Call-ID and tags that identify a
//! dialog, the local and remote parties, the CSeq counters, the remote
//! target and the route set; building in-dialog requests (BYE,
//! re-INVITE, INFO…) and the ACK for a 2xx, and checking the order of
//! in-dialog requests that arrive.
//!
//! A dialog is plain data owned by the TU (one call actor per call): the
//! endpoint never keeps dialogs. The TU looks a request up with
//! [`DialogId::of_incoming`], checks it with [`Dialog::on_request`] and
//! answers 500 (or 481 when no dialog matches) itself.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use bytes::Bytes;

use crate::message::{
    find_param, CSeq, Contact, Headers, Method, NameAddr, Request, Response, Uri,
};
use crate::transaction::build::tag_of;

/// What identifies a dialog, seen from our side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming request belongs to: our tag is its To tag,
    /// the peer's its From tag. `None` when the To tag is missing (the
    /// request is outside any dialog). A From without tag (RFC 2543
    /// peers) gives an empty remote tag.
    pub fn of_incoming(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.headers.call_id.clone(),
            local_tag: tag_of(&req.headers.to)?.to_owned(),
            remote_tag: tag_of(&req.headers.from).unwrap_or_default().to_owned(),
        })
    }

    /// The dialog a response to our request belongs to: our tag is its
    /// From tag, the peer's its To tag. `None` without both tags.
    pub fn of_response(resp: &Response) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.headers.call_id.clone(),
            local_tag: tag_of(&resp.headers.from)?.to_owned(),
            remote_tag: tag_of(&resp.headers.to)?.to_owned(),
        })
    }
}

/// Early (after a 1xx with a tag) or confirmed (after a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

/// Why a dialog could not be built or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// The response does not create a dialog (not 101–299, or no To tag).
    #[error("response {0} does not create a dialog")]
    NotDialogCreating(u16),
    /// The peer's message has no usable Contact (remote target).
    #[error("no Contact to use as remote target")]
    MissingContact,
    /// §12.2.2: the request's CSeq is lower than the last one seen.
    #[error("CSeq {got} is lower than the remote sequence number {last}")]
    OutOfOrder { got: u32, last: u32 },
}

impl DialogError {
    /// The status to answer an incoming request refused with this error.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::OutOfOrder { .. } => 500,
            DialogError::NotDialogCreating(_) | DialogError::MissingContact => 400,
        }
    }
}

/// The state of one dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub id: DialogId,
    pub state: DialogState,
    /// Our party (From in our requests), with our tag.
    pub local: NameAddr,
    /// The peer (To in our requests), with its tag.
    pub remote: NameAddr,
    /// The CSeq of the last request we sent in this dialog (`None`: none
    /// yet; the first will be 1).
    pub local_cseq: Option<u32>,
    /// The CSeq of the last request the peer sent (`None`: none yet).
    pub remote_cseq: Option<u32>,
    /// Where our in-dialog requests go (the peer's Contact).
    pub remote_target: Uri,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<NameAddr>,
    /// A `sips:` dialog.
    pub secure: bool,
    /// Our Contact, put in target-refresh requests (re-INVITE, UPDATE).
    pub local_contact: Option<NameAddr>,
}

fn first_contact(contacts: &[Contact]) -> Option<&NameAddr> {
    contacts.iter().find_map(|c| match c {
        Contact::Addr(a) => Some(a),
        Contact::Wildcard => None,
    })
}

fn is_sips(uri: &Uri) -> bool {
    matches!(uri, Uri::Sip(u) if u.secure)
}

impl Dialog {
    /// The UAS side (§12.1.1): from the INVITE we received and our 2xx or
    /// 1xx carrying our To tag. The route set is the request's
    /// Record-Route in order; the remote target its Contact.
    pub fn uas(invite: &Request, ours: &Response) -> Result<Dialog, DialogError> {
        let local_tag = tag_of(&ours.headers.to)
            .filter(|_| (101..300).contains(&ours.status))
            .ok_or(DialogError::NotDialogCreating(ours.status))?;
        let remote_target = first_contact(&invite.headers.contact)
            .ok_or(DialogError::MissingContact)?
            .uri
            .clone();
        Ok(Dialog {
            id: DialogId {
                call_id: invite.headers.call_id.clone(),
                local_tag: local_tag.to_owned(),
                remote_tag: tag_of(&invite.headers.from).unwrap_or_default().to_owned(),
            },
            state: state_for(ours.status),
            local: ours.headers.to.clone(),
            remote: invite.headers.from.clone(),
            local_cseq: None,
            remote_cseq: Some(invite.headers.cseq.seq),
            remote_target,
            route_set: invite.headers.record_route.clone(),
            secure: is_sips(&invite.uri),
            local_contact: first_contact(&ours.headers.contact).cloned(),
        })
    }

    /// The UAC side (§12.1.2): from the INVITE we sent and the peer's 2xx
    /// or 1xx with a To tag. The route set is the response's Record-Route
    /// reversed; the remote target its Contact.
    pub fn uac(invite: &Request, theirs: &Response) -> Result<Dialog, DialogError> {
        let remote_tag = tag_of(&theirs.headers.to)
            .filter(|_| (101..300).contains(&theirs.status))
            .ok_or(DialogError::NotDialogCreating(theirs.status))?;
        let remote_target = first_contact(&theirs.headers.contact)
            .ok_or(DialogError::MissingContact)?
            .uri
            .clone();
        Ok(Dialog {
            id: DialogId {
                call_id: invite.headers.call_id.clone(),
                local_tag: tag_of(&invite.headers.from).unwrap_or_default().to_owned(),
                remote_tag: remote_tag.to_owned(),
            },
            state: state_for(theirs.status),
            local: invite.headers.from.clone(),
            remote: theirs.headers.to.clone(),
            local_cseq: Some(invite.headers.cseq.seq),
            remote_cseq: None,
            remote_target,
            route_set: theirs.headers.record_route.iter().rev().cloned().collect(),
            secure: is_sips(&invite.uri),
            local_contact: first_contact(&invite.headers.contact).cloned(),
        })
    }

    /// A later response to our INVITE on this (UAC) dialog: a 2xx
    /// confirms an early dialog and recomputes its route set (§13.2.2.4);
    /// a Contact refreshes the remote target.
    pub fn on_response(&mut self, resp: &Response) {
        if !(101..300).contains(&resp.status) {
            return;
        }
        if let Some(c) = first_contact(&resp.headers.contact) {
            self.remote_target = c.uri.clone();
        }
        if resp.status >= 200 && self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
            self.route_set = resp.headers.record_route.iter().rev().cloned().collect();
        }
    }

    /// Checks an incoming in-dialog request (§12.2.2): a CSeq lower than
    /// the last one is refused (answer [`DialogError::status`], 500).
    /// ACK and CANCEL carry their INVITE's number and are not counted.
    /// A target-refresh request (re-INVITE, UPDATE) with a Contact
    /// updates the remote target.
    pub fn on_request(&mut self, req: &Request) -> Result<(), DialogError> {
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let got = req.headers.cseq.seq;
        if let Some(last) = self.remote_cseq {
            if got < last {
                return Err(DialogError::OutOfOrder { got, last });
            }
        }
        self.remote_cseq = Some(got);
        if matches!(req.method, Method::Invite | Method::Update) {
            if let Some(c) = first_contact(&req.headers.contact) {
                self.remote_target = c.uri.clone();
            }
        }
        Ok(())
    }

    /// The URI the next hop of our in-dialog requests is resolved from:
    /// the first route, else the remote target.
    pub fn next_hop(&self) -> &Uri {
        self.route_set
            .first()
            .map_or(&self.remote_target, |r| &r.uri)
    }

    /// A new in-dialog request (§12.2.1.1): the CSeq is incremented (the
    /// first is 1), Request-URI and Route follow the route set (loose
    /// routing when its first entry has `lr`, strict otherwise), From/To
    /// carry the tags, and re-INVITE/UPDATE carry our Contact. No Via: the
    /// endpoint adds it. For ACK use [`ack_for_2xx`](Self::ack_for_2xx).
    pub fn request(&mut self, method: Method) -> Request {
        let seq = self.local_cseq.map_or(1, |s| s.wrapping_add(1));
        self.local_cseq = Some(seq);
        let mut req = self.build(method, seq);
        if matches!(req.method, Method::Invite | Method::Update) {
            if let Some(c) = &self.local_contact {
                req.headers.contact = vec![Contact::Addr(c.clone())];
            }
        }
        req
    }

    /// The ACK for the 2xx to our INVITE with CSeq number `invite_cseq`
    /// (§13.2.2.4): same number, method ACK, routed like any in-dialog
    /// request. Send it with `Endpoint::send_ack`.
    pub fn ack_for_2xx(&self, invite_cseq: u32) -> Request {
        self.build(Method::Ack, invite_cseq)
    }

    fn build(&self, method: Method, seq: u32) -> Request {
        let loose = self.route_set.first().is_none_or(is_loose_router);
        let (uri, route) = match self.route_set.split_first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(_) if loose => (self.remote_target.clone(), self.route_set.clone()),
            Some((first, rest)) => {
                // Strict routing: the first route becomes the Request-URI
                // and the remote target the last Route.
                let mut route = rest.to_vec();
                route.push(NameAddr {
                    display_name: None,
                    uri: self.remote_target.clone(),
                    params: Vec::new(),
                });
                (first.uri.clone(), route)
            }
        };
        Request {
            method: method.clone(),
            uri,
            headers: Headers {
                via: Vec::new(),
                from: self.local.clone(),
                to: self.remote.clone(),
                call_id: self.id.call_id.clone(),
                cseq: CSeq { seq, method },
                max_forwards: Some(70),
                contact: Vec::new(),
                route,
                record_route: Vec::new(),
                content_type: None,
                extra: Vec::new(),
            },
            body: Bytes::new(),
        }
    }
}

fn state_for(status: u16) -> DialogState {
    if status >= 200 {
        DialogState::Confirmed
    } else {
        DialogState::Early
    }
}

/// Whether a route entry is a loose router (`lr` URI parameter).
fn is_loose_router(route: &NameAddr) -> bool {
    match &route.uri {
        Uri::Sip(u) => find_param(&u.params, "lr").is_some(),
        Uri::Other { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse_message;
    use crate::transaction::build::response_with_tag;

    fn parse(text: &str) -> Message {
        parse_message(text.replace('\n', "\r\n").as_bytes()).unwrap()
    }

    fn invite() -> Request {
        let Message::Request(r) = parse(
            "INVITE sip:100@hibiki.test SIP/2.0\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKd1\n\
             Record-Route: <sip:p1.example.com;lr>\n\
             Record-Route: <sip:p2.example.com;lr>\n\
             Max-Forwards: 70\n\
             From: <sip:alice@example.com>;tag=alice1\n\
             To: <sip:100@hibiki.test>\n\
             Call-ID: d1@example.com\n\
             CSeq: 10 INVITE\n\
             Contact: <sip:alice@192.0.2.10:5060>\n\
             Content-Length: 0\n\n",
        ) else {
            panic!("not a request")
        };
        r
    }

    fn our_200(invite: &Request) -> Response {
        let mut ok = response_with_tag(invite, 200, "hib1");
        ok.headers.contact = vec![Contact::Addr(NameAddr {
            display_name: None,
            uri: crate::parse::parse_uri("sip:100@127.0.0.1:5060").unwrap(),
            params: vec![],
        })];
        ok
    }

    #[test]
    fn uas_dialog_takes_tags_target_and_record_route_in_order() {
        let inv = invite();
        let d = Dialog::uas(&inv, &our_200(&inv)).unwrap();
        assert_eq!(
            d.id,
            DialogId {
                call_id: "d1@example.com".into(),
                local_tag: "hib1".into(),
                remote_tag: "alice1".into()
            }
        );
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.remote_cseq, Some(10));
        assert_eq!(d.local_cseq, None);
        assert_eq!(d.remote_target.to_string(), "sip:alice@192.0.2.10:5060");
        let routes: Vec<String> = d.route_set.iter().map(|r| r.uri.to_string()).collect();
        assert_eq!(routes, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
        assert!(!d.secure);
    }

    #[test]
    fn uas_bye_is_loose_routed_with_cseq_1_and_swapped_tags() {
        let inv = invite();
        let mut d = Dialog::uas(&inv, &our_200(&inv)).unwrap();
        let bye = d.request(Method::Bye);
        assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.10:5060");
        assert_eq!(bye.headers.route.len(), 2);
        assert_eq!(
            bye.headers.cseq,
            CSeq {
                seq: 1,
                method: Method::Bye
            }
        );
        assert_eq!(tag_of(&bye.headers.from), Some("hib1"));
        assert_eq!(tag_of(&bye.headers.to), Some("alice1"));
        assert_eq!(bye.headers.call_id, "d1@example.com");
        assert_eq!(d.request(Method::Info).headers.cseq.seq, 2);
        assert_eq!(d.next_hop().to_string(), "sip:p1.example.com;lr");
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_acks_with_invite_cseq() {
        let inv = invite();
        let mut theirs = response_with_tag(&inv, 200, "bob1");
        theirs.headers.contact = vec![Contact::Addr(NameAddr {
            display_name: None,
            uri: crate::parse::parse_uri("sip:bob@198.51.100.7").unwrap(),
            params: vec![],
        })];
        let mut d = Dialog::uac(&inv, &theirs).unwrap();
        assert_eq!(d.id.local_tag, "alice1");
        assert_eq!(d.id.remote_tag, "bob1");
        let routes: Vec<String> = d.route_set.iter().map(|r| r.uri.to_string()).collect();
        assert_eq!(routes, ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]);
        let ack = d.ack_for_2xx(10);
        assert_eq!(
            ack.headers.cseq,
            CSeq {
                seq: 10,
                method: Method::Ack
            }
        );
        assert_eq!(ack.uri.to_string(), "sip:bob@198.51.100.7");
        assert_eq!(d.request(Method::Bye).headers.cseq.seq, 11);
    }

    #[test]
    fn strict_router_becomes_request_uri_and_target_the_last_route() {
        let mut inv = invite();
        inv.headers.record_route = vec![NameAddr {
            display_name: None,
            uri: crate::parse::parse_uri("sip:strict.example.com").unwrap(),
            params: vec![],
        }];
        let mut d = Dialog::uas(&inv, &our_200(&inv)).unwrap();
        let bye = d.request(Method::Bye);
        assert_eq!(bye.uri.to_string(), "sip:strict.example.com");
        let routes: Vec<String> = bye
            .headers
            .route
            .iter()
            .map(|r| r.uri.to_string())
            .collect();
        assert_eq!(routes, ["sip:alice@192.0.2.10:5060"]);
    }

    #[test]
    fn lower_remote_cseq_is_refused_with_500() {
        let inv = invite();
        let mut d = Dialog::uas(&inv, &our_200(&inv)).unwrap();
        let mut bye = inv.clone();
        bye.method = Method::Bye;
        bye.headers.cseq = CSeq {
            seq: 9,
            method: Method::Bye,
        };
        let err = d.on_request(&bye).unwrap_err();
        assert_eq!(err, DialogError::OutOfOrder { got: 9, last: 10 });
        assert_eq!(err.status(), 500);
        let mut ack = inv.clone();
        ack.method = Method::Ack;
        assert!(d.on_request(&ack).is_ok(), "ACK is not counted");
        bye.headers.cseq.seq = 11;
        assert!(d.on_request(&bye).is_ok());
        assert_eq!(d.remote_cseq, Some(11));
    }

    #[test]
    fn reinvite_refreshes_the_remote_target() {
        let inv = invite();
        let mut d = Dialog::uas(&inv, &our_200(&inv)).unwrap();
        let mut re = inv.clone();
        re.headers.cseq.seq = 11;
        re.headers.contact = vec![Contact::Addr(NameAddr {
            display_name: None,
            uri: crate::parse::parse_uri("sip:alice@192.0.2.99").unwrap(),
            params: vec![],
        })];
        d.on_request(&re).unwrap();
        assert_eq!(d.remote_target.to_string(), "sip:alice@192.0.2.99");
    }

    #[test]
    fn early_dialog_confirms_on_2xx_and_a_final_error_creates_none() {
        let inv = invite();
        let mut ringing = response_with_tag(&inv, 180, "bob1");
        ringing.headers.contact = our_200(&inv).headers.contact;
        let mut d = Dialog::uac(&inv, &ringing).unwrap();
        assert_eq!(d.state, DialogState::Early);
        d.on_response(&our_200(&inv));
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(
            Dialog::uac(&inv, &response_with_tag(&inv, 486, "x")).unwrap_err(),
            DialogError::NotDialogCreating(486)
        );
    }

    #[test]
    fn dialog_id_of_incoming_request_swaps_tags() {
        let inv = invite();
        assert_eq!(DialogId::of_incoming(&inv), None, "no To tag: no dialog");
        let mut bye = inv.clone();
        crate::transaction::build::set_tag(&mut bye.headers.to, "hib1");
        let d = Dialog::uas(&inv, &our_200(&inv)).unwrap();
        assert_eq!(DialogId::of_incoming(&bye), Some(d.id));
    }
}
