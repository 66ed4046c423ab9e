//! RFC 3261 §12: dialogs — what lets a UA send the requests after the first
//! (NOTIFY after SUBSCRIBE, a refresh, an un-SUBSCRIBE) and check the ones it
//! receives. Sans-IO: built from parsed messages, producing the header values
//! of the next request. Loose routing only (RFC 3261 §16.12: `;lr`): the
//! endpoint refuses to send a request whose first Route is a strict router.

/// A dialog kept long, in one allocation (presence subscriptions).
pub mod packed;
/// RFC 3261 §12–§15, RFC 4028: the dialog of an INVITE session and its session timer.
pub mod session;
/// RFC 6665 §8.2.3: the Subscription-State header field.
pub mod subscription;

use ezk_sip_types::Name;

use crate::wire::header::{Address, split_outside_quotes};
use crate::wire::message::{Message, StartLine};
use crate::wire::validate::Rejection;

/// RFC 3261 §8.1.1.4: a Call-ID for a new request outside any dialog, "a
/// globally unique identifier over space and time", in the form
/// "localid@host" the section allows. The local id is 128 bits from
/// `rand`'s thread generator (ChaCha12 seeded from the OS: the
/// "cryptographically random identifiers" the section recommends), so
/// neither a restart nor a second instance can produce one again.
pub fn new_call_id(host: &str) -> String {
    let mut id = String::with_capacity(33 + host.len());
    push_hex(&mut id, rand::random::<u128>(), 32);
    id.push('@');
    id.push_str(host);
    id
}

/// RFC 3261 §19.3: a tag for a From (new request) or To (response) header,
/// "globally unique and cryptographically random with at least 32 bits of
/// randomness": 64 bits from the same generator as [`new_call_id`].
pub fn new_tag() -> String {
    let mut tag = String::with_capacity(16);
    push_hex(&mut tag, u128::from(rand::random::<u64>()), 16);
    tag
}

/// Appends the low `digits` hex digits of `value`, lowercase and
/// zero-padded (what `format!("{:0N$x}")` writes), without the formatting
/// machinery or a second allocation: identifiers are made per request
/// (issue 24).
///
/// The digits go into a buffer and then into `out` at once: a `push` per
/// digit checked the capacity and encoded a `char` each time.
pub(crate) fn push_hex(out: &mut String, value: u128, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = digits.min(32) as usize;
    let mut buf = [0u8; 32];
    for (at, slot) in buf[..digits].iter_mut().enumerate() {
        let shift = (digits - 1 - at) * 4;
        *slot = HEX[((value >> shift) & 0xf) as usize];
    }
    // Hex digits are ASCII.
    out.push_str(std::str::from_utf8(&buf[..digits]).unwrap_or_default());
}

/// RFC 3261 §12: a dialog is named by Call-ID, local tag and remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming in-dialog request belongs to (§12.2.2: our tag
    /// is in To, the peer's in From). `None` when it has no To tag.
    pub fn of_request(msg: &Message) -> Option<DialogId> {
        let to = Address::parse(&msg.header("To")?).ok()?;
        let from = Address::parse(&msg.header("From")?).ok()?;
        Some(DialogId {
            call_id: msg.header("Call-ID")?,
            local_tag: to.param("tag")?.to_owned(),
            remote_tag: from.param("tag")?.to_owned(),
        })
    }
}

/// Why a dialog cannot be built from a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed (named).
    #[error("{0} missing or malformed")]
    Header(&'static str),
    /// The response is not a 2xx (only those create dialogs here).
    #[error("not a 2xx response")]
    NotSuccess,
}

impl DialogError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            DialogError::Header(_) => "header",
            DialogError::NotSuccess => "not_success",
        }
    }
}

/// The state of one dialog (RFC 3261 §12.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Its identifier.
    pub id: DialogId,
    /// Our URI (From of our requests).
    pub local_uri: String,
    /// The peer's URI (To of our requests).
    pub remote_uri: String,
    /// Where our requests go: the peer's Contact (§12.1.1, §12.1.2).
    pub remote_target: String,
    /// Route values for our requests, in order.
    pub route_set: Vec<String>,
    /// The CSeq number of our last request.
    pub local_seq: u32,
    /// The CSeq number of the peer's last request, once one arrived.
    pub remote_seq: Option<u32>,
}

/// The fields of the next request in a dialog (RFC 3261 §12.2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogRequest {
    /// Method.
    pub method: String,
    /// Request-URI: the remote target.
    pub request_uri: String,
    /// From, with our tag.
    pub from: String,
    /// To, with the peer's tag.
    pub to: String,
    /// Call-ID.
    pub call_id: String,
    /// CSeq number (a new one for every request but ACK/CANCEL).
    pub cseq: u32,
    /// Route values in order.
    pub route: Vec<String>,
}

fn contact_uri(msg: &Message) -> Result<String, DialogError> {
    let value = msg
        .header("Contact")
        .ok_or(DialogError::Header("Contact"))?;
    let first = split_outside_quotes(&value, b',')
        .into_iter()
        .next()
        .unwrap_or_default()
        .to_owned();
    Address::parse(&first)
        .map(|a| a.uri_text.as_str().to_owned())
        .map_err(|_| DialogError::Header("Contact"))
}

fn record_route(msg: &Message) -> Vec<String> {
    msg.header_values(&Name::RECORD_ROUTE)
        .iter()
        .flat_map(|v| {
            split_outside_quotes(v, b',')
                .into_iter()
                .map(|r| r.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty())
        .collect()
}

fn address(msg: &Message, name: &'static str) -> Result<Address, DialogError> {
    msg.header(name)
        .and_then(|v| Address::parse(&v).ok())
        .ok_or(DialogError::Header(name))
}

fn cseq_number(msg: &Message) -> Result<u32, DialogError> {
    msg.header("CSeq")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or(DialogError::Header("CSeq"))
}

impl Dialog {
    /// UAC side (§12.1.2): the dialog a 2xx to our request creates. Our From
    /// tag and CSeq come back in the response; the route set is its
    /// Record-Route reversed.
    pub fn from_response(msg: &Message) -> Result<Dialog, DialogError> {
        if !matches!(
            msg.start,
            StartLine::Response {
                status: 200..=299,
                ..
            }
        ) {
            return Err(DialogError::NotSuccess);
        }
        let from = address(msg, "From")?;
        let to = address(msg, "To")?;
        let mut route_set = record_route(msg);
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: msg
                    .header("Call-ID")
                    .ok_or(DialogError::Header("Call-ID"))?,
                local_tag: from
                    .param("tag")
                    .ok_or(DialogError::Header("From"))?
                    .to_owned(),
                remote_tag: to.param("tag").ok_or(DialogError::Header("To"))?.to_owned(),
            },
            local_uri: from.uri_text.as_str().to_owned(),
            remote_uri: to.uri_text.as_str().to_owned(),
            remote_target: contact_uri(msg)?,
            route_set,
            local_seq: cseq_number(msg)?,
            remote_seq: None,
        })
    }

    /// UAS side (§12.1.1): the dialog our 2xx to `msg` creates, with our tag
    /// (use the responder's `to_tag`). The route set is Record-Route in order.
    pub fn from_request(msg: &Message, local_tag: &str) -> Result<Dialog, DialogError> {
        let from = address(msg, "From")?;
        let to = address(msg, "To")?;
        Ok(Dialog {
            id: DialogId {
                call_id: msg
                    .header("Call-ID")
                    .ok_or(DialogError::Header("Call-ID"))?,
                local_tag: local_tag.to_owned(),
                remote_tag: from
                    .param("tag")
                    .ok_or(DialogError::Header("From"))?
                    .to_owned(),
            },
            local_uri: to.uri_text.as_str().to_owned(),
            remote_uri: from.uri_text.as_str().to_owned(),
            remote_target: contact_uri(msg)?,
            route_set: record_route(msg),
            local_seq: 0,
            remote_seq: Some(cseq_number(msg)?),
        })
    }

    /// §12.2.1.1: the next request; the local CSeq goes up by one.
    pub fn next_request(&mut self, method: &str) -> DialogRequest {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        DialogRequest {
            method: method.to_owned(),
            request_uri: self.remote_target.clone(),
            from: format!("<{}>;tag={}", self.local_uri, self.id.local_tag),
            to: format!("<{}>;tag={}", self.remote_uri, self.id.remote_tag),
            call_id: self.id.call_id.clone(),
            cseq: self.local_seq,
            route: self.route_set.clone(),
        }
    }

    /// §12.2.2: an in-dialog request from the peer. A CSeq lower than the
    /// last one is out of order (500); a target refresh updates the remote target.
    pub fn handle_request(&mut self, msg: &Message) -> Result<(), Rejection> {
        let cseq = cseq_number(msg).map_err(|_| Rejection {
            status: 400,
            reason: "Malformed CSeq",
        })?;
        if self.remote_seq.is_some_and(|last| cseq <= last) {
            return Err(Rejection {
                status: 500,
                reason: "CSeq Out Of Order",
            });
        }
        self.remote_seq = Some(cseq);
        // §12.2.2: target refresh requests may carry a new Contact.
        if matches!(
            msg.method(),
            Some("SUBSCRIBE" | "NOTIFY" | "UPDATE" | "INVITE")
        ) && let Ok(target) = contact_uri(msg)
        {
            self.remote_target = target;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::wire::message::ParseLimits;

    fn parse(s: &str) -> Message {
        Message::parse(Bytes::copy_from_slice(s.as_bytes()), ParseLimits::default())
            .expect("parses")
    }

    #[test]
    fn identifiers_are_written_as_format_would_write_them() {
        for value in [
            0u128,
            1,
            0xa,
            0xdead_beef,
            u128::from(u64::MAX),
            u128::MAX,
            1 << 127,
        ] {
            let mut wide = String::new();
            push_hex(&mut wide, value, 32);
            assert_eq!(wide, format!("{value:032x}"));
            let low = value & u128::from(u64::MAX);
            let mut narrow = String::new();
            push_hex(&mut narrow, low, 16);
            assert_eq!(narrow, format!("{low:016x}"));
        }
        let call_id = new_call_id("parley");
        let (local, host) = call_id.split_once('@').expect("localid@host");
        assert_eq!(host, "parley");
        assert_eq!(local.len(), 32);
        assert!(
            local
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let tag = new_tag();
        assert_eq!(tag.len(), 16);
        assert!(
            tag.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(new_tag(), tag, "64 random bits twice alike");
    }

    const SUBSCRIBE_200: &str = "SIP/2.0 200 OK\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n\
        From: <sip:juliet@xmpp.example>;tag=ours\r\n\
        To: <sip:romeo@sip.example>;tag=theirs\r\n\
        Call-ID: sub-1@parley\r\n\
        CSeq: 1 SUBSCRIBE\r\n\
        Contact: <sip:romeo@192.0.2.7:5062>\r\n\
        Expires: 600\r\n\
        Content-Length: 0\r\n\r\n";

    /// RFC 3261 §12.1.2: UAC dialog from a 2xx; route set is Record-Route reversed.
    #[test]
    fn uac_dialog_takes_tags_target_and_reversed_route_from_the_2xx() {
        let mut dialog = Dialog::from_response(&parse(SUBSCRIBE_200)).expect("dialog");
        assert_eq!(dialog.id.local_tag, "ours");
        assert_eq!(dialog.id.remote_tag, "theirs");
        assert_eq!(dialog.remote_target, "sip:romeo@192.0.2.7:5062");
        assert_eq!(
            dialog.route_set,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        let refresh = dialog.next_request("SUBSCRIBE");
        assert_eq!(refresh.cseq, 2);
        assert_eq!(refresh.request_uri, "sip:romeo@192.0.2.7:5062");
        assert_eq!(refresh.from, "<sip:juliet@xmpp.example>;tag=ours");
        assert_eq!(refresh.to, "<sip:romeo@sip.example>;tag=theirs");
    }

    #[test]
    fn non_2xx_creates_no_dialog() {
        let msg = parse(&SUBSCRIBE_200.replace("200 OK", "404 Not Found"));
        assert_eq!(Dialog::from_response(&msg), Err(DialogError::NotSuccess));
    }

    const SUBSCRIBE: &str = "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bK2\r\n\
        Record-Route: <sip:p1.example.com;lr>\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:romeo@sip.example>;tag=theirs\r\n\
        To: <sip:juliet@xmpp.example>\r\n\
        Call-ID: sub-2@phone\r\n\
        CSeq: 7 SUBSCRIBE\r\n\
        Contact: <sip:romeo@192.0.2.7:5062>\r\n\
        Event: presence\r\n\
        Content-Length: 0\r\n\r\n";

    /// RFC 3261 §12.1.1 / RFC 6665 §4.2.1: the notifier's dialog; its NOTIFYs
    /// go to the subscriber's Contact through the Record-Route in order.
    #[test]
    fn uas_dialog_from_subscribe_makes_notifies() {
        let mut dialog = Dialog::from_request(&parse(SUBSCRIBE), "mine").expect("dialog");
        let notify = dialog.next_request("NOTIFY");
        assert_eq!(notify.cseq, 1);
        assert_eq!(notify.request_uri, "sip:romeo@192.0.2.7:5062");
        assert_eq!(notify.from, "<sip:juliet@xmpp.example>;tag=mine");
        assert_eq!(notify.to, "<sip:romeo@sip.example>;tag=theirs");
        assert_eq!(notify.route, ["<sip:p1.example.com;lr>"]);
        assert_eq!(dialog.next_request("NOTIFY").cseq, 2);
    }

    /// RFC 3261 §12.2.2: a lower CSeq is out of order (500); a refresh moves the target.
    #[test]
    fn in_dialog_requests_must_raise_the_cseq() {
        let mut dialog = Dialog::from_request(&parse(SUBSCRIBE), "mine").expect("dialog");
        let refresh = SUBSCRIBE
            .replace(
                "To: <sip:juliet@xmpp.example>",
                "To: <sip:juliet@xmpp.example>;tag=mine",
            )
            .replace("CSeq: 7", "CSeq: 8")
            .replace(
                "Contact: <sip:romeo@192.0.2.7:5062>",
                "Contact: <sip:romeo@192.0.2.8>",
            );
        let refresh = parse(&refresh);
        assert_eq!(
            DialogId::of_request(&refresh),
            Some(dialog.id.clone()),
            "matched by Call-ID and tags"
        );
        dialog.handle_request(&refresh).expect("in order");
        assert_eq!(dialog.remote_target, "sip:romeo@192.0.2.8");
        assert_eq!(
            dialog
                .handle_request(&refresh)
                .expect_err("replayed")
                .status,
            500
        );
    }

    /// RFC 3261 §8.1.1.4 and §19.3: minted Call-IDs and tags never repeat,
    /// and a request carrying them parses back to the same dialog id.
    #[test]
    fn minted_call_ids_and_tags_are_unique_and_parse_back() {
        let call_ids: std::collections::HashSet<String> = (0..10_000)
            .map(|_| new_call_id("sip.example.net"))
            .collect();
        let tags: std::collections::HashSet<String> = (0..10_000).map(|_| new_tag()).collect();
        assert_eq!((call_ids.len(), tags.len()), (10_000, 10_000));

        let (call_id, tag) = (new_call_id("sip.example.net"), new_tag());
        assert!(call_id.ends_with("@sip.example.net"), "{call_id}");
        let subscribe = SUBSCRIBE
            .replace("tag=theirs", &format!("tag={tag}"))
            .replace("sub-2@phone", &call_id);
        let dialog = Dialog::from_request(&parse(&subscribe), "mine").expect("dialog");
        assert_eq!(dialog.id.call_id, call_id);
        assert_eq!(dialog.id.remote_tag, tag);
    }
}
