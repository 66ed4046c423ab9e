//! RFC 7572's two tables as code: the fields read off a SIP MESSAGE (Table 2,
//! SIP → XMPP) and the SIP MESSAGE written for an XMPP message (Table 1,
//! XMPP → SIP). The translation itself is `parley_mapping::message`.

use std::fmt::Write as _;

use parley_mapping::address::SipAddress;
use parley_mapping::message::SipMessage;
use parley_sip::{IncomingRequest, OutgoingRequest};

/// Read the RFC 7572 Table 2 (SIP → XMPP) fields off a SIP MESSAGE.
pub(crate) fn sip_message_fields(
    request: &IncomingRequest,
) -> Result<SipMessage, parley_mapping::MappingError> {
    // The URIs as the SIP layer typed them when it validated the request.
    let view = request.view();
    Ok(SipMessage {
        request_uri: SipAddress::from_uri(view.uri())?,
        from: SipAddress::from_uri(&view.from_address().uri)?,
        to: SipAddress::from_uri(&view.to_address().uri)?,
        from_display: request.from_display(),
        call_id: Some(request.call_id().to_owned()),
        subject: request.header("Subject"),
        content_type: request.header("Content-Type"),
        content_encoding: request.header("Content-Encoding"),
        content_language: request.header("Content-Language"),
        body: request.body().to_vec(),
    })
}

/// RFC 7572 Table 1 (XMPP → SIP): the SIP MESSAGE for an XMPP message.
pub(crate) fn outgoing_message(sip: &SipMessage) -> OutgoingRequest {
    into_outgoing_message(sip.clone())
}

/// An address as the request's text, in a buffer sized for the usual one
/// rather than grown piece by piece as `to_string` does (issue 24).
fn address_text(address: &SipAddress) -> String {
    let mut text = String::with_capacity(96);
    let _ = write!(text, "{address}");
    text
}

/// [`outgoing_message`] taking the message: its body, Content-Type and
/// Call-ID move into the request rather than being copied (issue 24).
pub(crate) fn into_outgoing_message(sip: SipMessage) -> OutgoingRequest {
    let mut headers = Vec::new();
    if let Some(s) = sip.subject {
        headers.push(("Subject".to_owned(), s));
    }
    if let Some(l) = sip.content_language {
        headers.push(("Content-Language".to_owned(), l));
    }
    let content_type = sip
        .content_type
        .unwrap_or_else(|| "text/plain;charset=UTF-8".to_owned());
    let to = address_text(&sip.to);
    // Usually the To itself (RFC 7572 §4): written once (issue 24).
    let request_uri = if sip.request_uri.plainly_same(&sip.to) {
        to.clone()
    } else {
        address_text(&sip.request_uri)
    };
    OutgoingRequest {
        method: "MESSAGE".to_owned(),
        request_uri,
        from: address_text(&sip.from),
        to,
        call_id: sip.call_id,
        headers,
        body: Some((content_type, sip.body.into())),
    }
}
