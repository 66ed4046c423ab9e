//! The values the gateway handles: a request to send ([`OutgoingRequest`])
//! and its final [`Response`]; a received request ([`IncomingRequest`],
//! readable as a [`RequestView`]) and the [`Responder`] that answers it
//! through its server transaction. Who sent a request (source address, TLS
//! certificate, `sip.trusted_peers`) is read here too.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use bytesstr::BytesStr;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_util::sync::CancellationToken;

use super::{Inner, now};
use crate::config::Transport;
use crate::transaction::{AckKey, ServerKey};
use crate::trust::{PeerIdentity, TrustedPeers};
use crate::wire::header::Address;
use crate::wire::message::{Message, StartLine};
use crate::wire::status::StatusCode;
use crate::wire::uri::Uri;
use crate::wire::validate::RequestHead;
use crate::wire::write::{self, reason_phrase};

/// A request to send.
#[derive(Debug, Clone, Default)]
pub struct OutgoingRequest {
    /// Method (`MESSAGE`, `SUBSCRIBE`, …): usually a constant, so a request
    /// does not allocate its method (issue 24).
    pub method: Cow<'static, str>,
    /// Request-URI.
    pub request_uri: String,
    /// From: a URI or name-addr without tag; the endpoint adds one.
    pub from: String,
    /// To: a URI or name-addr.
    pub to: String,
    /// Call-ID; a fresh one when `None`.
    pub call_id: Option<String>,
    /// Further headers.
    pub headers: Vec<(String, String)>,
    /// Content-Type and body.
    pub body: Option<(String, Bytes)>,
}

impl OutgoingRequest {
    /// The next request of a dialog (RFC 3261 §12.2.1.1): its tags, Call-ID,
    /// CSeq and route set, plus the caller's headers and body.
    pub fn in_dialog(
        request: crate::dialog::DialogRequest,
        mut headers: Vec<(String, String)>,
        body: Option<(String, Bytes)>,
    ) -> OutgoingRequest {
        headers.push((
            "CSeq".to_owned(),
            format!("{} {}", request.cseq, request.method),
        ));
        headers.extend(request.route.into_iter().map(|r| ("Route".to_owned(), r)));
        OutgoingRequest {
            method: request.method.into(),
            request_uri: request.request_uri,
            from: request.from,
            to: request.to,
            call_id: Some(request.call_id),
            headers,
            body,
        }
    }
}

/// The final response to a sent request.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase as sent (a slice of the received bytes).
    pub reason: BytesStr,
    /// Body.
    pub body: Bytes,
    message: Message,
}

impl Response {
    /// A 2xx (RFC 3261 §21.2).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(super) fn from_message(message: Message) -> Response {
        let (status, reason) = match &message.start {
            StartLine::Response { status, reason } => (*status, reason.clone()),
            StartLine::Request { .. } => (0, BytesStr::empty()),
        };
        Response {
            status,
            reason,
            body: message.body.clone(),
            message,
        }
    }

    /// A response made here rather than received: the location service's
    /// answer for a request it did not let leave ([`super::Lookup::Answered`]).
    /// Its header fields are placeholders; only the status means anything.
    pub(super) fn local(status: StatusCode, method: &str) -> Response {
        let code = status.code();
        let reason = crate::wire::status::reason_phrase(code);
        let text = format!(
            "SIP/2.0 {code} {reason}\r\n\
             Via: SIP/2.0/UDP parley.invalid;branch=z9hG4bKlocation\r\n\
             From: <sip:parley.invalid>;tag=location\r\n\
             To: <sip:parley.invalid>;tag=location\r\n\
             Call-ID: location\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match Message::parse(Bytes::from(text), Default::default()) {
            Ok(message) => Response::from_message(message),
            // A method that is not a token: the request could not have left either.
            Err(_) => Response {
                status: code,
                reason: reason.into(),
                body: Bytes::new(),
                message: Message {
                    start: StartLine::Response {
                        status: code,
                        reason: reason.into(),
                    },
                    headers: Default::default(),
                    body: Bytes::new(),
                },
            },
        }
    }

    /// A header's values (compact forms resolved), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.message.header(name)
    }

    /// The whole parsed response (e.g. for [`crate::dialog::Dialog::from_response`]).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// Each value of a header (for headers that repeat, e.g. WWW-Authenticate).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.message.values_spelled(name)
    }
}

/// Read access to a received request; all values as the peer sent them.
#[derive(Clone)]
pub struct RequestView {
    /// Where it came from.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The request and what validation read off it, boxed: a view (within
    /// an [`IncomingRequest`]) is moved whole through the endpoint's queue
    /// and by value through the gateway, a copy of these ~550 bytes each
    /// time were they inline (issue 24).
    pub(super) parsed: Box<Parsed>,
    /// The verified certificate of a mutual-TLS peer.
    pub(super) tls_certificate: Option<Arc<CertificateDer<'static>>>,
}

/// The large part of a [`RequestView`].
#[derive(Clone)]
pub(super) struct Parsed {
    pub(super) message: Message,
    pub(super) head: RequestHead,
}

impl std::fmt::Debug for RequestView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // As when the parsed parts were fields of their own.
        f.debug_struct("RequestView")
            .field("source", &self.source)
            .field("transport", &self.transport)
            .field("message", &self.parsed.message)
            .field("head", &self.parsed.head)
            .field("tls_certificate", &self.tls_certificate)
            .finish()
    }
}

impl RequestView {
    /// The method.
    pub fn method(&self) -> &str {
        &self.parsed.head.method
    }

    /// The Request-URI.
    pub fn request_uri(&self) -> String {
        self.parsed.head.request_uri.to_string()
    }

    /// The From URI.
    pub fn from_uri(&self) -> String {
        self.parsed.head.from.uri_text.as_str().to_owned()
    }

    /// The From URI, borrowed (issue 24: a check that only reads it takes
    /// no copy).
    pub fn from_uri_text(&self) -> &str {
        &self.parsed.head.from.uri_text
    }

    /// The From display name, unquoted.
    pub fn from_display(&self) -> Option<String> {
        self.parsed.head.from.display.clone()
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<String> {
        self.parsed.head.from.param("tag").map(str::to_owned)
    }

    /// The To URI.
    pub fn to_uri(&self) -> String {
        self.parsed.head.to.uri_text.as_str().to_owned()
    }

    /// The To display name, unquoted.
    pub fn to_display(&self) -> Option<String> {
        self.parsed.head.to.display.clone()
    }

    /// The To tag (set for in-dialog requests).
    pub fn to_tag(&self) -> Option<String> {
        self.parsed.head.to.param("tag").map(str::to_owned)
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.parsed.head.call_id
    }

    /// The Request-URI, From and To, typed (as validation parsed them),
    /// taken rather than copied by a reader done with the rest (issue 24).
    pub fn into_addresses(self) -> (Uri, Address, Address) {
        let Parsed { head, .. } = *self.parsed;
        (head.uri, head.from, head.to)
    }

    /// The Request-URI, typed (as validation parsed it).
    pub fn uri(&self) -> &Uri {
        &self.parsed.head.uri
    }

    /// The From header, typed (as validation parsed it).
    pub fn from_address(&self) -> &Address {
        &self.parsed.head.from
    }

    /// The To header, typed (as validation parsed it).
    pub fn to_address(&self) -> &Address {
        &self.parsed.head.to
    }

    /// The CSeq number.
    pub fn cseq(&self) -> u32 {
        self.parsed.head.cseq
    }

    /// A header's values (compact forms resolved, folding undone), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.parsed.message.header(name)
    }

    /// Each value of a header.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.parsed.message.values_spelled(name)
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.parsed.message.body
    }

    /// The whole parsed request (e.g. for [`crate::dialog::Dialog::from_request`]).
    pub fn message(&self) -> &Message {
        &self.parsed.message
    }

    /// Whether the request came over TLS from a peer whose verified client
    /// certificate is valid for the DNS name `name` (RFC 5922 §7.1: subjectAltName
    /// dNSName, checked by webpki). Only mutual TLS (`require_client_cert`)
    /// yields a certificate.
    pub fn tls_peer_is(&self, name: &str) -> bool {
        self.tls_certificate
            .as_deref()
            .is_some_and(|der| certificate_names(der, name))
    }

    /// Whether the sender is in `sip.trusted_peers` (by source address, or
    /// by TLS certificate name).
    pub fn is_trusted_by(&self, peers: &TrustedPeers) -> bool {
        is_trusted(peers, self.source, self.tls_certificate.as_deref())
    }
}

/// A request received from the network, with the handle that answers it.
#[derive(Debug)]
pub struct IncomingRequest {
    /// Where it came from.
    pub source: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    pub(super) view: RequestView,
    pub(super) responder: Responder,
}

impl IncomingRequest {
    /// The method.
    pub fn method(&self) -> &str {
        self.view.method()
    }
    /// The Request-URI.
    pub fn request_uri(&self) -> String {
        self.view.request_uri()
    }
    /// The From URI.
    pub fn from_uri(&self) -> String {
        self.view.from_uri()
    }
    /// The From URI, borrowed.
    pub fn from_uri_text(&self) -> &str {
        self.view.from_uri_text()
    }
    /// The From display name.
    pub fn from_display(&self) -> Option<String> {
        self.view.from_display()
    }
    /// The To URI.
    pub fn to_uri(&self) -> String {
        self.view.to_uri()
    }
    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        self.view.call_id()
    }
    /// A header's values (compact forms resolved), joined by `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.view.header(name)
    }
    /// The body.
    pub fn body(&self) -> &[u8] {
        self.view.body()
    }
    /// Everything readable about the request.
    pub fn view(&self) -> &RequestView {
        &self.view
    }
    /// Whether the sender is in `sip.trusted_peers` (see [`RequestView::is_trusted_by`]).
    pub fn is_trusted_by(&self, peers: &TrustedPeers) -> bool {
        self.view.is_trusted_by(peers)
    }
    /// Whether a CANCEL ended this INVITE (see [`Responder::is_cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        self.responder.is_cancelled()
    }
    /// Splits into the readable request and the responder, so the responder
    /// can be parked while the answer is worked out elsewhere.
    pub fn into_responder(self) -> (RequestView, Responder) {
        (self.view, self.responder)
    }
    /// Answers right away.
    pub fn respond(
        self,
        status: StatusCode,
        reason: Option<&str>,
        headers: Vec<(String, String)>,
        body: Option<(String, Bytes)>,
    ) {
        self.responder.respond(status, reason, headers, body);
    }
}

/// Answers one received request through its server transaction.
///
/// Dropping it without a final response answers 500, so no request is
/// silently dropped.
pub struct Responder {
    pub(super) inner: Arc<Inner>,
    /// Boxed: a responder is moved by value through the endpoint's queue
    /// and the gateway (and parked there until the answer is known), a
    /// copy of these ~400 bytes each time were they inline (issue 24).
    pub(super) parts: Box<ResponderParts>,
}

/// What a [`Responder`] answers with.
pub(super) struct ResponderParts {
    pub(super) key: ServerKey,
    /// The lines every response copies from the request (top Via stamped),
    /// with `to_tag` as the To tag's part when the request's To had none,
    /// as read off the validated To (RFC 3261 §8.2.6.2: every response but
    /// 100 adds it).
    pub(super) copied: write::Copied,
    pub(super) to_tag: String,
    /// For an INVITE: the dialog its 2xx's ACK will name (§13.3.1.4).
    pub(super) ack: Option<AckKey>,
    /// RFC 3261 §12.1.1: the Record-Route values of a request that can create
    /// a dialog (an INVITE, SUBSCRIBE or REFER without To tag), in order, for
    /// the responses that establish it. Empty for every other request.
    pub(super) record_route: Vec<String>,
    pub(super) answered: bool,
    /// For an INVITE: cancelled when a CANCEL ended it (RFC 3261 §9.2).
    pub(super) cancelled: Option<CancellationToken>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("method", &self.parts.key.method())
            .field("answered", &self.parts.answered)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// Sends the final response (or, for 1xx, a provisional one — then the
    /// responder is spent; use [`Responder::provisional`] to keep it).
    pub fn respond(
        mut self,
        status: StatusCode,
        reason: Option<&str>,
        headers: Vec<(String, String)>,
        body: Option<(String, Bytes)>,
    ) {
        self.parts.answered = true;
        let body = body.as_ref().map(|(t, b)| (t.as_str(), &b[..]));
        self.send(status.code(), reason, &headers, body);
        if status.is_provisional() {
            // A spent responder must still end the transaction.
            self.send(500, None, &[], None);
        }
    }

    /// The To tag this responder puts on its responses (RFC 3261 §8.2.6.2),
    /// so a dialog created by the answer can be recorded.
    pub fn to_tag(&self) -> &str {
        &self.parts.to_tag
    }

    /// Whether a CANCEL ended this INVITE (RFC 3261 §9.2): the endpoint has
    /// answered it 487, and a response sent now is not sent. Always `false`
    /// for other methods.
    pub fn is_cancelled(&self) -> bool {
        self.parts
            .cancelled
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// Completes when a CANCEL ends this INVITE (RFC 3261 §9.2; see
    /// [`Responder::is_cancelled`]); never for other methods, nor once a
    /// final response was sent.
    pub async fn cancelled(&self) {
        match &self.parts.cancelled {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Sends a provisional (1xx) response and keeps the responder.
    pub fn provisional(&self, status: StatusCode, reason: Option<&str>) {
        if status.is_provisional() {
            self.send(status.code(), reason, &[], None);
        }
    }

    fn send(
        &self,
        status: u16,
        reason: Option<&str>,
        headers: &[(String, String)],
        body: Option<(&str, &[u8])>,
    ) {
        // RFC 3261 §12.1.1: "When a UAS responds to a request with a response
        // that establishes a dialog (such as a 2xx to INVITE), the UAS MUST
        // copy all Record-Route header field values from the request into the
        // response ... and MUST maintain the order of those values." §12.1: a
        // dialog is established by a 2xx or a 101-199 with a To tag (ours
        // always has one). Done here so no caller can forget it; a caller that
        // set Record-Route itself is left alone.
        let copied;
        let headers = if (101..300).contains(&status)
            && !self.parts.record_route.is_empty()
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("record-route"))
        {
            copied = self
                .parts
                .record_route
                .iter()
                .map(|v| ("Record-Route".to_owned(), v.clone()))
                .chain(headers.iter().cloned())
                .collect::<Vec<_>>();
            &copied[..]
        } else {
            headers
        };
        let bytes = write::response_from(
            &self.parts.copied,
            status != 100,
            &write::ResponseParts {
                status,
                reason: reason.unwrap_or(reason_phrase(status)),
                server: &self.inner.config.user_agent,
                headers,
                body,
            },
        );
        let transmit = self.inner.with_core(|core| {
            let transmit = core
                .transactions
                .respond(&self.parts.key, status, bytes, now());
            // RFC 3261 §9.2: after a final response a CANCEL changes nothing.
            if status >= 200 && self.parts.cancelled.is_some() {
                core.cancellable.remove(&self.parts.key);
            }
            // RFC 3261 §13.3.1.4: a 2xx to INVITE is retransmitted until its ACK.
            if (200..300).contains(&status)
                && let Some(ack) = &self.parts.ack
            {
                core.transactions.expect_ack(&self.parts.key, ack.clone());
            }
            transmit
        });
        if let Some(transmit) = transmit {
            self.inner.counters.response_out(status);
            self.inner.transmit(transmit);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.parts.answered {
            self.parts.answered = true;
            self.send(500, Some("Server Internal Error"), &[], None);
        }
    }
}

/// Whether a verified certificate is valid for the DNS name `name`.
fn certificate_names(der: &CertificateDer<'static>, name: &str) -> bool {
    let (Ok(cert), Ok(name)) = (
        rustls::server::ParsedCertificate::try_from(der),
        ServerName::try_from(name),
    ) else {
        return false;
    };
    rustls::client::verify_server_name(&cert, &name).is_ok()
}

/// Whether `source` (with its TLS certificate, if any) is in `peers`.
pub(super) fn is_trusted(
    peers: &TrustedPeers,
    source: SocketAddr,
    certificate: Option<&CertificateDer<'static>>,
) -> bool {
    if peers.is_empty() {
        return false;
    }
    let matches = |name: &str| certificate.is_some_and(|der| certificate_names(der, name));
    peers.trusts(&PeerIdentity {
        source: source.ip(),
        tls_name_matches: certificate.map(|_| &matches as &dyn Fn(&str) -> bool),
    })
}
