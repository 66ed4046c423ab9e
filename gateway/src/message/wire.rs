//! RFC 7572's two tables as code: the fields read off a SIP MESSAGE (Table 2,
//! SIP → XMPP) and the SIP MESSAGE written for an XMPP message (Table 1,
//! XMPP → SIP). The translation itself is `parley_mapping::message`.

use parley_mapping::address::SipAddress;
use parley_mapping::message::SipMessage;
use parley_mapping::{ContentType, e2e};
use parley_sip::OutgoingRequest;
use parley_sip::RequestView;
use parley_sip::wire::uri::Uri;

use crate::mime_fields::MimeFields;

/// What is read off a received SIP MESSAGE.
pub(crate) struct ReadMessage {
    /// RFC 7572 Table 2's fields (SIP → XMPP).
    pub(crate) message: Result<SipMessage, parley_mapping::MappingError>,
    /// Its Content-Type, parsed once for every reader (issue 24); what no
    /// Content-Type parses to when `message` is an error.
    pub(crate) content_type: ContentType,
    /// The fields an RFC 3923 object is rebuilt from (`e2e`): read only
    /// for an S/MIME-typed body, which is the only one that needs them
    /// (issue 24).
    pub(crate) mime: MimeFields,
}

/// Read the RFC 7572 Table 2 (SIP → XMPP) fields off a SIP MESSAGE. The
/// view is taken: its URIs move into the addresses rather than being
/// copied (issue 24).
pub(crate) fn sip_message_fields(view: RequestView) -> ReadMessage {
    let content_type_text = view.header("Content-Type");
    let content_type = ContentType::parse(content_type_text.as_deref());
    let mime = if e2e::is_smime_typed(&content_type) {
        MimeFields::of_view(&view)
    } else {
        MimeFields::default()
    };
    let from_display = view.from_display();
    let call_id = Some(view.call_id().to_owned());
    let subject = view.header("Subject");
    let content_encoding = view.header("Content-Encoding");
    let content_language = view.header("Content-Language");
    let body = view.body().to_vec();
    // The URIs as the SIP layer typed them when it validated the request.
    let (uri, from, to) = view.into_addresses();
    let message =
        typed_addresses(uri, from.uri, to.uri).map(|(request_uri, from, to)| SipMessage {
            request_uri,
            from,
            to,
            from_display,
            call_id,
            subject,
            content_type: content_type_text,
            content_encoding,
            content_language,
            body,
        });
    let content_type = if message.is_ok() {
        content_type
    } else {
        ContentType::parse(None)
    };
    ReadMessage {
        message,
        content_type,
        mime,
    }
}

/// The Request-URI, From and To as addresses, in that order of checking.
fn typed_addresses(
    request_uri: Uri,
    from: Uri,
    to: Uri,
) -> Result<(SipAddress, SipAddress, SipAddress), parley_mapping::MappingError> {
    Ok((
        SipAddress::from_uri_owned(request_uri)?,
        SipAddress::from_uri_owned(from)?,
        SipAddress::from_uri_owned(to)?,
    ))
}

/// RFC 7572 Table 1 (XMPP → SIP): the SIP MESSAGE for an XMPP message.
pub(crate) fn outgoing_message(sip: &SipMessage) -> OutgoingRequest {
    into_outgoing_message(sip.clone())
}

/// An address as the request's text, in a buffer sized for the usual one
/// rather than grown piece by piece as `to_string` does, and written
/// without `core::fmt` (issue 24).
fn address_text(address: &SipAddress) -> String {
    let mut text = String::with_capacity(96);
    let _ = address.write_to(&mut text);
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
        method: "MESSAGE".into(),
        request_uri,
        from: address_text(&sip.from),
        to,
        call_id: sip.call_id,
        headers,
        body: Some((content_type, sip.body.into())),
    }
}
