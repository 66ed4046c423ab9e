//! RFC 7572's two tables as code: the fields read off a SIP MESSAGE (Table 2,
//! SIP → XMPP) and the SIP MESSAGE written for an XMPP message (Table 1,
//! XMPP → SIP). The translation itself is `parley_mapping::message`.

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
    let mut headers = Vec::new();
    if let Some(s) = &sip.subject {
        headers.push(("Subject".to_owned(), s.clone()));
    }
    if let Some(l) = &sip.content_language {
        headers.push(("Content-Language".to_owned(), l.clone()));
    }
    let content_type = sip
        .content_type
        .clone()
        .unwrap_or_else(|| "text/plain;charset=UTF-8".to_owned());
    OutgoingRequest {
        method: "MESSAGE".to_owned(),
        request_uri: sip.request_uri.to_string(),
        from: sip.from.to_string(),
        to: sip.to.to_string(),
        call_id: sip.call_id.clone(),
        headers,
        body: Some((content_type, sip.body.clone().into())),
    }
}
