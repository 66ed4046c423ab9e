//! Fuzzing entry points: each takes arbitrary bytes and must never panic.
//! The `fuzz/` targets are one-line calls into these; `tests/fuzz_corpus.rs`
//! replays `fuzz/corpus/**` through them on stable Rust.

use crate::address::{AddressMapper, ForeignDomainPolicy, Jid, SipAddress};
use crate::cpim::CpimMessage;
use crate::groupchat::{ConferenceInfo, ConferenceView};
use crate::message::{self, MessageOptions, SipMessage};
use crate::pidf::Pidf;
use crate::presence;

/// PIDF parse, then write and parse again, then translate to XMPP.
pub fn pidf(data: &[u8]) {
    if let Ok(doc) = Pidf::parse(data) {
        let again = Pidf::parse(doc.to_xml().as_bytes());
        assert_eq!(again.as_ref(), Ok(&doc), "PIDF must survive write → parse");
        if let (Ok(from), Ok(to)) = (Jid::parse("a@b.example"), Jid::parse("c@d.example")) {
            let _ = presence::to_xmpp(&doc, &from, &to);
        }
    }
}

/// RFC 4575 conference-info parse, then write and parse again, then apply
/// to a coherent view twice (full, then the same document as partial).
pub fn conference_info(data: &[u8]) {
    if let Ok(doc) = ConferenceInfo::parse(data) {
        let again = ConferenceInfo::parse(doc.to_xml().as_bytes());
        assert_eq!(
            again.as_ref(),
            Ok(&doc),
            "conference-info must survive write → parse"
        );
        let mut view = ConferenceView::new();
        let mut partial = doc.clone();
        partial.state = crate::groupchat::conference_info::ElementState::Partial;
        partial.version = doc.version.wrapping_add(1);
        let _ = view.apply(doc);
        let _ = view.apply(partial);
    }
}

/// CPIM parse, then write and parse again.
pub fn cpim(data: &[u8]) {
    if let Ok(msg) = CpimMessage::parse(data) {
        let _ = (msg.from(), msg.to(), msg.date_time(), msg.subject());
        let again = CpimMessage::parse(&msg.to_bytes());
        assert_eq!(again.as_ref(), Ok(&msg), "CPIM must survive write → parse");
    }
}

fn mapper() -> AddressMapper {
    AddressMapper {
        component_domain: "gw.example.org".into(),
        sip_domain: "sip.example.net".into(),
        foreign_domains: ForeignDomainPolicy::Allow,
    }
}

/// Address parsing and mapping both ways; a mapped address must map back.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let m = mapper();
    if let Ok(uri) = SipAddress::parse(text) {
        let printed = uri.to_string();
        if let Ok(j) = m.sip_user_to_jid(&uri) {
            let _ = m.jid_to_sip_user(&j);
            let reparsed = Jid::parse(&j.to_string());
            assert_eq!(reparsed.as_ref(), Ok(&j), "JID must survive print → parse");
        }
        let _ = m.sip_target_to_jid(&uri);
        let _ = SipAddress::parse(&printed);
    }
    if let Ok(j) = Jid::parse(text) {
        if let Ok(uri) = m.xmpp_user_to_sip(&j) {
            let _ = m.sip_target_to_jid(&uri);
        }
        let _ = m.jid_to_sip_user(&j);
    }
}

/// A whole SIP MESSAGE translation: the first line is the Content-Type, the
/// second the Content-Encoding, the rest the body.
pub fn message(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let content_type = parts.next().and_then(|l| std::str::from_utf8(l).ok());
    let encoding = parts.next().and_then(|l| std::str::from_utf8(l).ok());
    let body = parts.next().unwrap_or_default().to_vec();
    let (Ok(from), Ok(to)) = (
        SipAddress::parse("sip:alice@sip.example.net"),
        SipAddress::parse("sip:juliet@xmpp.example"),
    ) else {
        return;
    };
    let msg = SipMessage {
        request_uri: to.clone(),
        from,
        to,
        from_display: None,
        call_id: Some("fuzz".into()),
        subject: None,
        content_type: content_type.filter(|s| !s.is_empty()).map(str::to_owned),
        content_encoding: encoding.filter(|s| !s.is_empty()).map(str::to_owned),
        content_language: None,
        body,
    };
    if let Ok(stanza) = message::to_xmpp(&msg, &mapper(), &MessageOptions::default()) {
        let mut reply = stanza.clone();
        std::mem::swap(&mut reply.from, &mut reply.to);
        let _ = message::to_sip(&reply, &mapper());
    }
}
