//! RFC 7572: single instant messages, SIP MESSAGE (RFC 3428) ↔ XMPP `<message/>`.
//!
//! Table 1 (XMPP → SIP) and Table 2 (SIP → XMPP) of RFC 7572, field by field.
//! The transaction identifier ↔ `id` row is the gateway's (it owns both); the
//! rest is here.

use parley_xmpp::stanza::Element;
use parley_xmpp::stanza::{Message, MessageType};

use crate::address::{AddressMapper, Jid, SipAddress};
use crate::body;
use crate::encryption;
use crate::failure::{MappingError, NotCarried};
use crate::imdn::{NS_CHAT_MARKERS, NS_RECEIPTS};
use crate::iscomposing::{self, IsComposing, NS_CHATSTATES};
use crate::media_type::ContentType;
use crate::xml::is_xml_text;

/// The fields of a SIP MESSAGE that RFC 7572 maps, as neutral data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// The Request-URI.
    pub request_uri: SipAddress,
    /// The From URI (without its tag).
    pub from: SipAddress,
    /// The To URI.
    pub to: SipAddress,
    /// The From display name, if any.
    pub from_display: Option<String>,
    /// Call-ID (RFC 7572: ↔ `<thread/>`). Always present on a received
    /// MESSAGE; `None` from [`to_sip`] when the stanza had no thread, and the
    /// gateway then makes a fresh one.
    pub call_id: Option<String>,
    /// Subject (↔ `<subject/>`).
    pub subject: Option<String>,
    /// The raw Content-Type header value.
    pub content_type: Option<String>,
    /// The raw Content-Encoding header value.
    pub content_encoding: Option<String>,
    /// Content-Language (↔ `xml:lang`, RFC 7572 §8 MUST).
    pub content_language: Option<String>,
    /// The body bytes exactly as on the wire.
    pub body: Vec<u8>,
}

/// Deployment choices for message translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageOptions {
    /// Send SIP pager-mode messages as `type='chat'` instead of no type.
    /// RFC 7572 §5 says a gateway "MUST specify no XMPP 'type' attribute or
    /// … 'normal'", so the default is `false`; some XMPP clients only show
    /// chat messages in a conversation window, hence the switch (design §3).
    pub xmpp_type_chat: bool,
}

/// RFC 7572 §5, Table 2: a SIP MESSAGE as an XMPP `<message/>`.
///
/// `from` is the mapped SIP sender (its GRUU as resource), `to` the mapped
/// Request-URI (or the To URI when the Request-URI has no user part, e.g. a
/// proxy that rewrote it to the gateway's address). `id` is left for the
/// gateway, which ties it to the SIP transaction.
pub fn to_xmpp(
    msg: &SipMessage,
    mapper: &AddressMapper,
    opts: &MessageOptions,
) -> Result<Message, MappingError> {
    let content_type = ContentType::parse(msg.content_type.as_deref());
    to_xmpp_typed(msg, &content_type, mapper, opts)
}

/// [`to_xmpp`] with `msg.content_type` parsed already (`content_type`).
pub fn to_xmpp_typed(
    msg: &SipMessage,
    content_type: &ContentType,
    mapper: &AddressMapper,
    opts: &MessageOptions,
) -> Result<Message, MappingError> {
    let from = mapper.sip_user_to_jid(&msg.from)?;
    let to = match mapper.sip_target_to_jid(&msg.request_uri) {
        Err(MappingError::AddressIncomplete) => mapper.sip_target_to_jid(&msg.to)?,
        other => other?,
    };
    let content = body::decode_typed(content_type, msg.content_encoding.as_deref(), &msg.body)?;
    let subject = msg.subject.as_deref().map(xml_text).transpose()?;
    let thread = msg.call_id.as_deref().map(xml_text).transpose()?;
    Ok(Message {
        from: Some(from.into_string()),
        to: Some(to.into_string()),
        id: None,
        // RFC 7572 §5: no type (= normal) unless the deployment asked for chat.
        message_type: opts.xmpp_type_chat.then_some(MessageType::Chat),
        // RFC 7572 §8: Content-Language → xml:lang. A list can only give its first tag.
        lang: msg
            .content_language
            .as_deref()
            .and_then(|l| l.split(',').next())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        body: content.text,
        subject,
        thread,
        error: None,
        payloads: content.payloads,
    })
}

/// `MediaType::text_plain_utf8()` as it is written, without building and
/// formatting one per message (issue 24).
const TEXT_PLAIN_UTF8: &str = "text/plain;charset=UTF-8";

/// RFC 7572 §4, Table 1: an XMPP `<message/>` as a SIP MESSAGE.
///
/// The sender's bare JID is the From URI with the resourcepart as its GRUU
/// (note 1, MUST); `to` is both Request-URI and To. `type` has no mapping
/// (note 2) except that `groupchat` is refused (RFC 6121 §8.5.2.1.1:
/// `<service-unavailable/>`) and `error` is not a message at all.
///
/// Only the text is carried. A message that is end-to-end encrypted, or
/// has no `<body/>`, is refused with [`MappingError::NotCarried`] (the
/// sender is told), except a notification — a chat state, receipt or marker
/// on its own — which is [`MappingError::NotificationOnly`] (handled apart,
/// never bounced).
pub fn to_sip(msg: &Message, mapper: &AddressMapper) -> Result<SipMessage, MappingError> {
    match msg.message_type {
        Some(MessageType::Groupchat) => return Err(MappingError::Groupchat),
        Some(MessageType::Error) => return Err(MappingError::ErrorStanza),
        _ => {}
    }
    let from = msg
        .from
        .as_deref()
        .ok_or(MappingError::MissingAddress { attribute: "from" })?;
    let to = msg
        .to
        .as_deref()
        .ok_or(MappingError::MissingAddress { attribute: "to" })?;
    let from = mapper.xmpp_user_to_sip(&Jid::parse(from)?)?;
    let to = mapper.jid_to_sip_user(&Jid::parse(to)?)?;
    let body = carried_text(msg)?;
    Ok(SipMessage {
        request_uri: to.clone(),
        from,
        to,
        from_display: None,
        call_id: msg.thread.clone(),
        subject: msg.subject.clone(),
        content_type: Some(TEXT_PLAIN_UTF8.to_owned()),
        content_encoding: None,
        content_language: msg.lang.clone(),
        body: body.into_bytes(),
    })
}

/// The text a message carries to SIP, or why there is none.
///
/// Encryption is checked before the body: an OMEMO or OpenPGP message's
/// `<body/>` is a fallback notice (XEP-0027's example: "This message is
/// encrypted."), and sending it as `text/plain` would pass the notice off as
/// what the sender wrote. An RFC 3923 `<e2e/>` is refused likewise, body or
/// not: forwarding a body without the S/MIME object it came with would drop
/// the protected part in silence. (`e2e::message_to_sip` carries the
/// object; callers try it first.)
pub(crate) fn carried_text(msg: &Message) -> Result<String, MappingError> {
    if let Some(scheme) = encryption::encryption(&msg.payloads) {
        return Err(MappingError::NotCarried(NotCarried::Encrypted(scheme)));
    }
    if encryption::has_rfc3923_e2e(&msg.payloads) {
        return Err(MappingError::NotCarried(NotCarried::Rfc3923E2e));
    }
    match &msg.body {
        Some(body) => Ok(body.clone()),
        None if is_notification(&msg.payloads) => Err(MappingError::NotificationOnly),
        None => Err(MappingError::NotCarried(NotCarried::NoText)),
    }
}

/// Whether body-less payloads are a notification the gateway handles apart
/// (XEP-0085 chat state → isComposing, XEP-0184 receipt and XEP-0333 marker →
/// IMDN): at least one of those, and beside them nothing but XEP-0334
/// processing hints and XEP-0359 stanza ids, which describe the stanza rather
/// than carry content.
fn is_notification(payloads: &[Element]) -> bool {
    const NOTIFICATIONS: [&str; 3] = [NS_CHATSTATES, NS_RECEIPTS, NS_CHAT_MARKERS];
    const DESCRIPTIONS: [&str; 2] = ["urn:xmpp:hints", "urn:xmpp:sid:0"];
    payloads
        .iter()
        .any(|p| NOTIFICATIONS.contains(&p.ns.as_str()))
        && payloads.iter().all(|p| {
            NOTIFICATIONS.contains(&p.ns.as_str()) || DESCRIPTIONS.contains(&p.ns.as_str())
        })
}

/// XEP-0085 → RFC 3994: a `<message/>` that carries only a chat state as an
/// isComposing MESSAGE, or `None` when it carries none (then [`to_sip`]'s
/// [`MappingError::NotificationOnly`] applies and the stanza is not sent).
///
/// Kept apart from [`to_sip`] because not every SIP client accepts
/// `application/im-iscomposing+xml` (baresip answers 415 to anything but
/// text/plain), so the gateway decides per peer whether to send these.
pub fn chat_state_to_sip(
    msg: &Message,
    mapper: &AddressMapper,
) -> Result<Option<SipMessage>, MappingError> {
    let Some(indication) = msg.payloads.iter().find_map(IsComposing::from_chat_state) else {
        return Ok(None);
    };
    let text_only = Message {
        body: Some(String::new()),
        ..msg.clone()
    };
    let mut sip = to_sip(&text_only, mapper)?;
    sip.content_type = Some(iscomposing::CONTENT_TYPE.to_owned());
    sip.body = indication.to_xml().into_bytes();
    sip.subject = None;
    Ok(Some(sip))
}

/// Check that a header value can be XML character data (XML 1.0 §2.2).
fn xml_text(s: &str) -> Result<String, MappingError> {
    if is_xml_text(s) {
        Ok(s.to_owned())
    } else {
        Err(MappingError::InvalidBody {
            reason: "header holds characters XML 1.0 cannot carry",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use parley_xmpp::stanza::DefinedCondition;

    use super::*;
    use crate::address::ForeignDomainPolicy;
    use crate::media_type::MediaType;

    #[test]
    fn the_content_type_of_a_text_message_is_text_plain_utf8_as_written() {
        assert_eq!(TEXT_PLAIN_UTF8, MediaType::text_plain_utf8().to_string());
    }

    fn mapper() -> AddressMapper {
        AddressMapper {
            component_domain: "example.net".into(),
            sip_domain: "example.net".into(),
            foreign_domains: ForeignDomainPolicy::Allow,
        }
    }

    fn sip(s: &str) -> SipAddress {
        SipAddress::parse(s).unwrap()
    }

    /// RFC 7572 §5 Example 4, the SIP fields of the MESSAGE.
    fn example4() -> SipMessage {
        SipMessage {
            request_uri: sip("sip:juliet@example.com"),
            from: sip("sip:romeo@example.net"),
            to: sip("sip:juliet@example.com"),
            from_display: None,
            call_id: Some("9E97FB43-85F4-4A00-8751-1124FD4C7B2E".into()),
            subject: None,
            content_type: Some("text/plain".into()),
            content_encoding: None,
            content_language: None,
            body: b"Neither, fair saint, if either thee dislike.".to_vec(),
        }
    }

    /// RFC 7572 §5 Example 5: "<message from='romeo@example.net/dr4hcr0st3lup4c'
    /// to='juliet@example.com'><body>Neither, fair saint, if either thee dislike.</body>".
    #[test]
    fn example4_sip_message_becomes_example5_stanza() {
        let mut msg = example4();
        msg.from = sip("sip:romeo@example.net;gr=dr4hcr0st3lup4c");
        let m = to_xmpp(&msg, &mapper(), &MessageOptions::default()).unwrap();
        assert_eq!(m.from.as_deref(), Some("romeo@example.net/dr4hcr0st3lup4c"));
        assert_eq!(m.to.as_deref(), Some("juliet@example.com"));
        assert_eq!(
            m.body.as_deref(),
            Some("Neither, fair saint, if either thee dislike.")
        );
        // Table 2: Call-ID → <thread/>.
        assert_eq!(
            m.thread.as_deref(),
            Some("9E97FB43-85F4-4A00-8751-1124FD4C7B2E")
        );
    }

    /// RFC 7572 §5: "MUST specify no XMPP 'type' attribute or … 'normal'".
    #[test]
    fn pager_mode_message_has_no_type_unless_configured() {
        let m = to_xmpp(&example4(), &mapper(), &MessageOptions::default()).unwrap();
        assert_eq!(m.message_type, None);
        let opts = MessageOptions {
            xmpp_type_chat: true,
        };
        let m = to_xmpp(&example4(), &mapper(), &opts).unwrap();
        assert_eq!(m.message_type, Some(MessageType::Chat));
    }

    /// RFC 7572 §8 Examples 6 and 7: "Content-Language: cs" → "xml:lang='cs'",
    /// body bytes unchanged.
    #[test]
    fn content_language_becomes_xml_lang_and_utf8_body_is_exact() {
        let mut msg = example4();
        msg.content_language = Some("cs".into());
        let text = "Nic z obého, má děvo spanilá,\nnenavidíš-li jedno nebo druhé.";
        msg.body = text.as_bytes().to_vec();
        let m = to_xmpp(&msg, &mapper(), &MessageOptions::default()).unwrap();
        assert_eq!(m.lang.as_deref(), Some("cs"));
        assert_eq!(m.body.as_deref(), Some(text));
    }

    /// RFC 7572 Table 2: "Subject | <subject/>".
    #[test]
    fn subject_maps_both_ways() {
        let mut msg = example4();
        msg.subject = Some("Balcony".into());
        let m = to_xmpp(&msg, &mapper(), &MessageOptions::default()).unwrap();
        assert_eq!(m.subject.as_deref(), Some("Balcony"));
        let back = to_sip(&swap(m), &mapper()).unwrap();
        assert_eq!(back.subject.as_deref(), Some("Balcony"));
    }

    fn swap(mut m: Message) -> Message {
        std::mem::swap(&mut m.from, &mut m.to);
        m
    }

    /// RFC 7572 §4 Examples 1 and 2: from='juliet@example.com/yn0cl4bnw0yr3vym'
    /// → "From: <sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>", "MESSAGE sip:romeo@example.net",
    /// "Content-Type: text/plain", the body unchanged.
    #[test]
    fn example1_stanza_becomes_example2_message() {
        let stanza = Message {
            from: Some("juliet@example.com/yn0cl4bnw0yr3vym".into()),
            to: Some("romeo@example.net".into()),
            body: Some("Art thou not Romeo, and a Montague?".into()),
            ..Message::default()
        };
        let s = to_sip(&stanza, &mapper()).unwrap();
        assert_eq!(
            s.from.to_string(),
            "sip:juliet@example.com;gr=yn0cl4bnw0yr3vym"
        );
        assert_eq!(s.request_uri.to_string(), "sip:romeo@example.net");
        assert_eq!(s.to.to_string(), "sip:romeo@example.net");
        assert_eq!(s.body, b"Art thou not Romeo, and a Montague?");
        assert_eq!(s.body.len(), 35, "Content-Length: 35");
        assert_eq!(s.content_type.as_deref(), Some("text/plain;charset=UTF-8"));
        assert_eq!(s.call_id, None);
    }

    /// RFC 7572 Table 1: "<thread/> | Call-ID", "xml:lang | Content-Language".
    #[test]
    fn thread_and_lang_map_to_call_id_and_content_language() {
        let stanza = Message {
            from: Some("juliet@example.com".into()),
            to: Some("romeo@example.net".into()),
            body: Some("hi".into()),
            thread: Some("e0ffe42b28561960c6b12b944a092794b9683a38".into()),
            lang: Some("en".into()),
            ..Message::default()
        };
        let s = to_sip(&stanza, &mapper()).unwrap();
        assert_eq!(
            s.call_id.as_deref(),
            Some("e0ffe42b28561960c6b12b944a092794b9683a38")
        );
        assert_eq!(s.content_language.as_deref(), Some("en"));
    }

    /// RFC 6121 §8.5.2.1.1: groupchat "SHOULD be <service-unavailable/>".
    #[test]
    fn groupchat_is_refused_with_service_unavailable() {
        let stanza = Message {
            from: Some("juliet@example.com/x".into()),
            to: Some("romeo@example.net".into()),
            message_type: Some(MessageType::Groupchat),
            body: Some("hi".into()),
            ..Message::default()
        };
        let err = to_sip(&stanza, &mapper()).unwrap_err();
        assert_eq!(err, MappingError::Groupchat);
        assert_eq!(
            err.stanza_error().condition,
            DefinedCondition::ServiceUnavailable
        );
    }

    #[test]
    fn chat_normal_and_headline_all_become_messages() {
        for t in [
            None,
            Some(MessageType::Chat),
            Some(MessageType::Normal),
            Some(MessageType::Headline),
        ] {
            let stanza = Message {
                from: Some("juliet@example.com".into()),
                to: Some("romeo@example.net".into()),
                message_type: t,
                body: Some("hi".into()),
                ..Message::default()
            };
            assert!(to_sip(&stanza, &mapper()).is_ok(), "{t:?}");
        }
    }

    #[test]
    fn stanza_without_body_or_addresses_is_refused() {
        let mut stanza = Message {
            from: Some("juliet@example.com".into()),
            to: Some("romeo@example.net".into()),
            ..Message::default()
        };
        assert_eq!(
            to_sip(&stanza, &mapper()),
            Err(MappingError::NotCarried(NotCarried::NoText))
        );
        stanza.body = Some("x".into());
        stanza.to = None;
        assert_eq!(
            to_sip(&stanza, &mapper()),
            Err(MappingError::MissingAddress { attribute: "to" })
        );
        stanza.to = Some("romeo@elsewhere.example".into());
        assert_eq!(to_sip(&stanza, &mapper()), Err(MappingError::NotOurDomain));
    }

    /// XEP-0085 <composing/> → RFC 3994 active, only through chat_state_to_sip.
    #[test]
    fn chat_state_only_message_maps_to_iscomposing_on_request() {
        let mut stanza = Message {
            from: Some("juliet@example.com/balcony".into()),
            to: Some("romeo@example.net".into()),
            message_type: Some(MessageType::Chat),
            ..Message::default()
        };
        stanza.payloads.push(parley_xmpp::stanza::Element::new(
            "composing",
            iscomposing::NS_CHATSTATES,
        ));
        assert_eq!(
            to_sip(&stanza, &mapper()),
            Err(MappingError::NotificationOnly)
        );
        let sip = chat_state_to_sip(&stanza, &mapper()).unwrap().unwrap();
        assert_eq!(
            sip.content_type.as_deref(),
            Some("application/im-iscomposing+xml")
        );
        let doc = IsComposing::parse(&sip.body).unwrap();
        assert_eq!(doc.state, iscomposing::ComposingState::Active);
        assert_eq!(sip.from.to_string(), "sip:juliet@example.com;gr=balcony");
        stanza.payloads.clear();
        assert_eq!(chat_state_to_sip(&stanza, &mapper()), Ok(None));
    }

    fn stanza_with(body: Option<&str>, payloads: &[(&str, &str)]) -> Message {
        Message {
            from: Some("juliet@example.com/balcony".into()),
            to: Some("romeo@example.net".into()),
            message_type: Some(MessageType::Chat),
            body: body.map(str::to_owned),
            payloads: payloads
                .iter()
                .map(|(name, ns)| Element::new(*name, *ns))
                .collect(),
            ..Message::default()
        }
    }

    /// XEP-0085, XEP-0184, XEP-0333 without a body are notifications, also
    /// with XEP-0334 hints and XEP-0359 ids beside them: never bounced.
    #[test]
    fn standalone_chat_states_receipts_and_markers_are_notifications() {
        for payloads in [
            &[("active", NS_CHATSTATES)][..],
            &[("composing", NS_CHATSTATES), ("no-store", "urn:xmpp:hints")],
            &[("received", NS_RECEIPTS)],
            &[
                ("displayed", NS_CHAT_MARKERS),
                ("origin-id", "urn:xmpp:sid:0"),
            ],
        ] {
            let err = to_sip(&stanza_with(None, payloads), &mapper()).unwrap_err();
            assert_eq!(err, MappingError::NotificationOnly, "{payloads:?}");
            assert!(!err.should_bounce());
        }
    }

    /// Issue 26 §3b: a body-less message with anything else is not carried,
    /// and its sender is told (RFC 6120 §8.3.3.3 feature-not-implemented).
    #[test]
    fn body_less_message_with_an_unknown_payload_is_not_carried() {
        for payloads in [
            &[("x", "jabber:x:oob")][..],
            &[
                ("active", NS_CHATSTATES),
                ("reactions", "urn:xmpp:reactions:0"),
            ],
            &[("no-store", "urn:xmpp:hints")],
            &[],
        ] {
            let err = to_sip(&stanza_with(None, payloads), &mapper()).unwrap_err();
            assert_eq!(
                err,
                MappingError::NotCarried(NotCarried::NoText),
                "{payloads:?}"
            );
            assert!(err.should_bounce());
            assert_eq!(
                err.stanza_error().condition,
                DefinedCondition::FeatureNotImplemented
            );
        }
    }

    /// XEP-0384 / XEP-0373 / XEP-0027: the fallback <body/> of an encrypted
    /// message is never sent as the message; the message is refused.
    #[test]
    fn encrypted_message_is_refused_not_sent_as_its_fallback_body() {
        use crate::encryption::{
            Encryption, NS_LEGACY_OPENPGP, NS_OMEMO, NS_OMEMO_AXOLOTL, NS_OPENPGP,
        };
        for (payload, scheme) in [
            (("encrypted", NS_OMEMO_AXOLOTL), Encryption::Omemo),
            (("encrypted", NS_OMEMO), Encryption::Omemo),
            (("openpgp", NS_OPENPGP), Encryption::OpenPgp),
            (("x", NS_LEGACY_OPENPGP), Encryption::LegacyOpenPgp),
        ] {
            for body in [
                Some(
                    "I sent you an OMEMO encrypted message but your client doesn't seem to support that.",
                ),
                None,
            ] {
                let stanza = stanza_with(body, &[("active", NS_CHATSTATES), payload]);
                let err = to_sip(&stanza, &mapper()).unwrap_err();
                assert_eq!(
                    err,
                    MappingError::NotCarried(NotCarried::Encrypted(scheme)),
                    "{payload:?} {body:?}"
                );
                assert!(err.should_bounce());
                let error = err.stanza_error();
                assert_eq!(error.condition, DefinedCondition::NotAcceptable);
                assert!(
                    error
                        .text
                        .as_deref()
                        .is_some_and(|t| t.contains("encrypted")),
                    "{error:?}"
                );
            }
        }
    }

    /// RFC 3923 <e2e/>: `to_sip` alone refuses it, with or without a body
    /// (never sending the fallback body as the message); its object goes
    /// through `e2e::message_to_sip`, which also gives its MIME fields.
    #[test]
    fn rfc3923_e2e_message_is_refused_by_the_text_path() {
        for body in [None, Some("fallback")] {
            let stanza = stanza_with(body, &[("e2e", crate::encryption::NS_E2E)]);
            let err = to_sip(&stanza, &mapper()).unwrap_err();
            assert_eq!(err, MappingError::NotCarried(NotCarried::Rfc3923E2e));
            assert_eq!(err.stanza_error().condition, DefinedCondition::BadRequest);
        }
    }

    /// A body beside payloads Parley does not map (XHTML-IM, OOB) is still sent.
    #[test]
    fn body_with_other_payloads_is_carried() {
        let stanza = stanza_with(
            Some("see https://example.org/x"),
            &[("x", "jabber:x:oob"), ("active", NS_CHATSTATES)],
        );
        assert_eq!(
            to_sip(&stanza, &mapper()).unwrap().body,
            b"see https://example.org/x"
        );
    }

    /// A proxy that rewrote the Request-URI to the gateway's own address.
    #[test]
    fn request_uri_without_user_falls_back_to_to() {
        let mut msg = example4();
        msg.request_uri = sip("sip:192.0.2.7:5060;transport=udp");
        let m = to_xmpp(&msg, &mapper(), &MessageOptions::default()).unwrap();
        assert_eq!(m.to.as_deref(), Some("juliet@example.com"));
    }

    #[test]
    fn control_characters_cannot_reach_xml() {
        let mut msg = example4();
        msg.body = b"bell \x07".to_vec();
        assert_eq!(
            to_xmpp(&msg, &mapper(), &MessageOptions::default())
                .unwrap_err()
                .sip_status()
                .code,
            400
        );
        let mut msg = example4();
        msg.call_id = Some("a\x01b".into());
        assert!(to_xmpp(&msg, &mapper(), &MessageOptions::default()).is_err());
    }
}
