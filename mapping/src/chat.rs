//! RFC 7573: one-to-one chat sessions, MSRP SEND (RFC 4975) ↔ XMPP
//! `<message type='chat'/>`.
//!
//! What is pure here: the content of one reassembled MSRP message as an
//! XMPP message and back (§4, §5: "The mapping of SIP syntax to XMPP syntax
//! MUST be as specified in [RFC7572]", so bodies go through the same
//! decoding as page mode), composing events (§6, Tables 3 and 4, and the
//! `gone` state of §6.1) and delivery reports (§7). What is the gateway's:
//! the session itself (INVITE, BYE, the MSRP connection), ids, and which
//! MSRP Message-ID a receipt acknowledges.
//!
//! Tables 3 and 4 differ from page mode on purpose: in a session RFC 7573
//! maps isComposing `idle` to `<active/>` (the user is in the conversation,
//! not composing), while page mode (`iscomposing.rs`) has no session to be
//! active in and says `<paused/>`.

use parley_xmpp::stanza::{Element, Message, MessageType};

use crate::address::Jid;
use crate::body;
use crate::e2e::{SmimeObject, e2e_payload};
use crate::failure::{MappingError, NotCarried};
use crate::imdn::NS_RECEIPTS;
use crate::iscomposing::{ComposingState, IsComposing, NS_CHATSTATES};
use crate::media_type::MediaType;
use crate::message;
use crate::xml;

/// One complete MSRP message (all its chunks), as RFC 7573 maps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsrpContent {
    /// Its Content-Type (RFC 4975 §7.1.1: every SEND with a body has one).
    pub content_type: String,
    /// The reassembled body.
    pub body: Vec<u8>,
    /// RFC 4975 §7.1.2 `Success-Report: yes`.
    pub success_report: bool,
}

/// What an MSRP message is on the XMPP side.
#[derive(Debug, Clone, PartialEq)]
pub enum ToXmpp {
    /// A chat message (§5, Example 14), with `<request/>` when the SEND
    /// asked for a success report (§7).
    Message(Message),
    /// A standalone chat state (§6, Table 3).
    ChatState(Message),
}

/// §5 (F23 → F24, Example 13 → Example 14): a reassembled MSRP message in
/// the session between `from` (the SIP user) and `to` (the XMPP user) as a
/// `<message type='chat'/>` whose `<thread/>` is the session's. The `id` is
/// the gateway's (Example 14 uses the SEND's transaction id).
///
/// Text goes through RFC 7572's body decoding (text/plain with its charset,
/// text/html as XHTML-IM, `message/cpim` unwrapped); an RFC 3994
/// isComposing document becomes a chat state per Table 3; an S/MIME body
/// (RFC 8591) goes whole into RFC 3923 `<e2e/>`. Anything else is
/// [`MappingError::UnsupportedMediaType`] (the MSRP side answers 415).
pub fn to_xmpp(
    content: &MsrpContent,
    from: &Jid,
    to: &Jid,
    thread: &str,
) -> Result<ToXmpp, MappingError> {
    let thread = xml_text(thread)?;
    if let Some(indication) =
        IsComposing::from_sip_body(Some(&content.content_type), None, &content.body)
    {
        let mut m = chat(from, to, thread);
        m.payloads.push(chat_state_for(indication.state));
        return Ok(ToXmpp::ChatState(m));
    }
    if crate::e2e::is_smime(&content.content_type) {
        // RFC 3923 §8: an S/MIME SEND goes whole into <e2e/>, as in page mode.
        let object = SmimeObject::from_sip(&content.content_type, |_| None, &content.body)?;
        let mut m = chat(from, to, thread);
        m.payloads.push(object.to_element()?);
        if content.success_report {
            m.payloads.push(Element::new("request", NS_RECEIPTS));
        }
        return Ok(ToXmpp::Message(m));
    }
    let decoded = body::decode(Some(&content.content_type), None, &content.body)?;
    let Some(text) = decoded.text else {
        return Err(MappingError::UnsupportedMediaType);
    };
    let mut m = chat(from, to, thread);
    m.body = Some(text);
    m.payloads = decoded.payloads;
    if content.success_report {
        // §7: "A Success-Report header field with a value of "yes" in an
        // MSRP SEND request is to be mapped to an XMPP Message Receipts
        // element of <request xmlns='urn:xmpp:receipts'/>".
        m.payloads.push(Element::new("request", NS_RECEIPTS));
    }
    Ok(ToXmpp::Message(m))
}

/// §7: an MSRP REPORT (a success report for the message XMPP sent as
/// `acknowledged`) as "an XMPP message containing only a Message Receipts
/// element of <received xmlns='urn:xmpp:receipts'/>" (Example 26).
pub fn report_to_xmpp(from: &Jid, to: &Jid, acknowledged: &str) -> Message {
    let mut received = Element::new("received", NS_RECEIPTS);
    received.attrs.push(("id".into(), acknowledged.to_owned()));
    Message {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        id: None,
        message_type: None,
        lang: None,
        body: None,
        subject: None,
        thread: None,
        error: None,
        payloads: vec![received],
    }
}

/// What an XMPP `<message/>` in a chat session asks of the MSRP side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToMsrp {
    /// A SEND (§4, Example 5; §5, Example 16).
    Send {
        /// Content-Type: `text/plain;charset=UTF-8`.
        content_type: String,
        /// The text.
        body: Vec<u8>,
        /// §7: `<request/>` → `Success-Report: yes`.
        success_report: bool,
    },
    /// §6, Table 4: a chat state → an isComposing SEND (`content_type` is
    /// `application/im-iscomposing+xml`).
    Composing {
        /// The document.
        body: Vec<u8>,
    },
    /// §6.1: `gone` → end the session (SIP BYE); nothing else to send.
    Gone,
    /// §7: `<received id='…'/>` → a REPORT for the MSRP message the gateway
    /// delivered as that stanza id.
    Receipt {
        /// The acknowledged stanza id.
        id: String,
    },
}

/// §4, §6, §7: an XMPP message (of type `chat` or none) in a session as what
/// the MSRP side is sent. The text is carried as page mode carries it
/// (RFC 7572 via [`message::to_sip`]'s rules: an end-to-end encrypted
/// message is refused, never its fallback body). A message with text and a
/// chat state is one SEND: the text says the state. An RFC 3923 `<e2e/>`
/// object is the SEND's content (`e2e::SmimeObject::for_binary_channel`).
pub fn to_msrp(msg: &Message) -> Result<ToMsrp, MappingError> {
    if msg.message_type == Some(MessageType::Groupchat) {
        return Err(MappingError::Groupchat);
    }
    if msg.message_type == Some(MessageType::Error) {
        return Err(MappingError::ErrorStanza);
    }
    if let Some(id) = msg
        .payloads
        .iter()
        .find(|p| p.name == "received" && p.ns == NS_RECEIPTS)
        .and_then(|p| p.attr("id"))
        .filter(|id| !id.is_empty())
    {
        return Ok(ToMsrp::Receipt { id: id.to_owned() });
    }
    // (OMEMO or OpenPGP beside it: refused below, as page mode does.)
    let xmpp_only = crate::encryption::encryption(&msg.payloads).is_some();
    if let Some(e2e) = e2e_payload(&msg.payloads).filter(|_| !xmpp_only) {
        // RFC 3923 §8 in a session: the object as the SEND's content, its
        // CMS octets binary as MSRP carries them (RFC 8591 §5).
        let object = SmimeObject::from_e2e_text(&e2e.text())?;
        let (content_type, body) = object
            .for_binary_channel()
            .ok_or(MappingError::NotCarried(NotCarried::Rfc3923E2e))?;
        return Ok(ToMsrp::Send {
            content_type,
            body,
            success_report: msg
                .payloads
                .iter()
                .any(|p| p.name == "request" && p.ns == NS_RECEIPTS),
        });
    }
    match message::carried_text(msg) {
        Ok(text) => Ok(ToMsrp::Send {
            content_type: MediaType::text_plain_utf8().to_string(),
            body: text.into_bytes(),
            // §7: "An XMPP Message Receipts element of <request
            // xmlns='urn:xmpp:receipts'/> is to be mapped to an MSRP
            // Success-Report header field with a value of "yes"".
            success_report: msg
                .payloads
                .iter()
                .any(|p| p.name == "request" && p.ns == NS_RECEIPTS),
        }),
        Err(MappingError::NotificationOnly) => {
            let state = msg
                .payloads
                .iter()
                .find(|p| p.ns == NS_CHATSTATES)
                .map(|p| p.name.as_str());
            match state.and_then(composing_for) {
                Some(Composing::Gone) => Ok(ToMsrp::Gone),
                Some(Composing::State(state)) => Ok(ToMsrp::Composing {
                    body: IsComposing {
                        state,
                        last_active: None,
                        content_type: None,
                        refresh: None,
                    }
                    .to_xml()
                    .into_bytes(),
                }),
                None => Err(MappingError::NotificationOnly),
            }
        }
        Err(e) => Err(e),
    }
}

/// Table 4's right column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Composing {
    State(ComposingState),
    /// "none (Section 6.1)": the session ends.
    Gone,
}

/// RFC 7573 §6, Table 4: "Mapping of XMPP Chat States to SIP/SIMPLE
/// isComposing Events", row by row.
fn composing_for(chat_state: &str) -> Option<Composing> {
    match chat_state {
        "active" => Some(Composing::State(ComposingState::Idle)),
        "inactive" => Some(Composing::State(ComposingState::Idle)),
        "gone" => Some(Composing::Gone),
        "composing" => Some(Composing::State(ComposingState::Active)),
        "paused" => Some(Composing::State(ComposingState::Idle)),
        _ => None,
    }
}

/// RFC 7573 §6, Table 3: "Mapping of SIP/SIMPLE isComposing Events to XMPP
/// Chat states": active → composing, idle → active.
fn chat_state_for(state: ComposingState) -> Element {
    let name = match state {
        ComposingState::Active => "composing",
        ComposingState::Idle => "active",
    };
    Element::new(name, NS_CHATSTATES)
}

/// §6.1, Example 22: the `gone` chat state a SIP BYE becomes ("gateways
/// that support chat state notifications MUST support the "gone" state").
pub fn gone(from: &Jid, to: &Jid, thread: &str) -> Result<Message, MappingError> {
    let mut m = chat(from, to, xml_text(thread)?);
    m.payloads.push(Element::new("gone", NS_CHATSTATES));
    Ok(m)
}

fn chat(from: &Jid, to: &Jid, thread: String) -> Message {
    Message {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        id: None,
        message_type: Some(MessageType::Chat),
        lang: None,
        body: None,
        subject: None,
        thread: Some(thread),
        error: None,
        payloads: Vec::new(),
    }
}

/// A thread must be XML character data (it comes from a Call-ID).
fn xml_text(s: &str) -> Result<String, MappingError> {
    if s.chars().all(xml::is_xml_char) {
        Ok(s.to_owned())
    } else {
        Err(MappingError::InvalidBody {
            reason: "characters XML cannot carry",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).expect("jid")
    }

    fn text(content_type: &str, body: &str, success_report: bool) -> MsrpContent {
        MsrpContent {
            content_type: content_type.into(),
            body: body.as_bytes().to_vec(),
            success_report,
        }
    }

    fn xmpp_chat(body: Option<&str>, payloads: Vec<Element>) -> Message {
        Message {
            from: Some("juliet@example.com".into()),
            to: Some("romeo@example.net".into()),
            id: Some("ms53b7z9".into()),
            message_type: Some(MessageType::Chat),
            lang: None,
            body: body.map(str::to_owned),
            subject: None,
            thread: Some("29377446-0CBB-4296-8958-590D79094C50".into()),
            error: None,
            payloads,
        }
    }

    /// Example 13 → Example 14: the SEND's text in a chat message whose
    /// thread is the session's.
    #[test]
    fn example_13_send_becomes_example_14_chat_message() {
        let out = to_xmpp(
            &text("text/plain", "I take thee at thy word ...", false),
            &jid("romeo@example.net"),
            &jid("juliet@example.com"),
            "F6989A8C-DE8A-4E21-8E07-F0898304796F",
        )
        .expect("maps");
        let ToXmpp::Message(m) = out else {
            panic!("a message: {out:?}")
        };
        assert_eq!(m.message_type, Some(MessageType::Chat));
        assert_eq!(m.from.as_deref(), Some("romeo@example.net"));
        assert_eq!(m.to.as_deref(), Some("juliet@example.com"));
        assert_eq!(
            m.thread.as_deref(),
            Some("F6989A8C-DE8A-4E21-8E07-F0898304796F")
        );
        assert_eq!(m.body.as_deref(), Some("I take thee at thy word ..."));
        assert!(m.payloads.is_empty(), "no receipt asked: {:?}", m.payloads);
    }

    /// §7: Success-Report: yes → `<request xmlns='urn:xmpp:receipts'/>`.
    #[test]
    fn success_report_yes_asks_for_a_receipt() {
        let out = to_xmpp(
            &text("text/plain;charset=UTF-8", "What man art thou ...?", true),
            &jid("romeo@example.net"),
            &jid("juliet@example.com"),
            "t",
        )
        .expect("maps");
        let ToXmpp::Message(m) = out else {
            panic!("{out:?}")
        };
        assert!(
            m.payloads
                .iter()
                .any(|p| p.name == "request" && p.ns == NS_RECEIPTS)
        );
    }

    /// §5 "MUST be as specified in [RFC7572]": CPIM is unwrapped as in page mode.
    #[test]
    fn cpim_wrapped_text_is_unwrapped() {
        let cpim = "From: <im:romeo@example.net>\r\nTo: <im:juliet@example.com>\r\n\r\n\
                    Content-Type: text/plain\r\n\r\nwherefore art thou";
        let out = to_xmpp(
            &text("message/cpim", cpim, false),
            &jid("romeo@example.net"),
            &jid("juliet@example.com"),
            "t",
        )
        .expect("maps");
        let ToXmpp::Message(m) = out else {
            panic!("{out:?}")
        };
        assert_eq!(m.body.as_deref(), Some("wherefore art thou"));
    }

    #[test]
    fn a_type_that_is_not_text_is_unsupported() {
        assert_eq!(
            to_xmpp(
                &text("image/png", "x", false),
                &jid("romeo@example.net"),
                &jid("juliet@example.com"),
                "t"
            ),
            Err(MappingError::UnsupportedMediaType)
        );
    }

    /// Table 3, both rows.
    #[test]
    fn table_3_iscomposing_to_chat_states() {
        for (state, expected) in [("active", "composing"), ("idle", "active")] {
            let doc = format!(
                "<?xml version=\"1.0\"?><isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\
                 <state>{state}</state></isComposing>"
            );
            let out = to_xmpp(
                &text("application/im-iscomposing+xml", &doc, false),
                &jid("romeo@example.net"),
                &jid("juliet@example.com"),
                "t",
            )
            .expect("maps");
            let ToXmpp::ChatState(m) = out else {
                panic!("{out:?}")
            };
            assert_eq!(m.body, None);
            assert_eq!(m.payloads.len(), 1);
            assert_eq!(
                (m.payloads[0].name.as_str(), m.payloads[0].ns.as_str()),
                (expected, NS_CHATSTATES),
                "{state}"
            );
        }
    }

    /// Example 15 → Example 16: the text as a text/plain SEND, no report asked.
    #[test]
    fn example_15_chat_message_becomes_example_16_send() {
        assert_eq!(
            to_msrp(&xmpp_chat(Some("What man art thou ...?"), vec![])),
            Ok(ToMsrp::Send {
                content_type: "text/plain;charset=UTF-8".into(),
                body: b"What man art thou ...?".to_vec(),
                success_report: false,
            })
        );
    }

    /// Example 23 → Example 24: `<request/>` → Success-Report: yes.
    #[test]
    fn example_23_receipt_request_becomes_success_report_yes() {
        let out = to_msrp(&xmpp_chat(
            Some("What man art thou ...?"),
            vec![Element::new("request", NS_RECEIPTS)],
        ));
        assert!(
            matches!(
                out,
                Ok(ToMsrp::Send {
                    success_report: true,
                    ..
                })
            ),
            "{out:?}"
        );
    }

    /// Table 4, every row; `gone` (Example 19) ends the session (§6.1).
    #[test]
    fn table_4_chat_states_to_iscomposing() {
        for (chat_state, expected) in [
            ("active", Some("idle")),
            ("inactive", Some("idle")),
            ("gone", None),
            ("composing", Some("active")),
            ("paused", Some("idle")),
        ] {
            let out = to_msrp(&xmpp_chat(
                None,
                vec![Element::new(chat_state, NS_CHATSTATES)],
            ))
            .expect("maps");
            match (expected, out) {
                (None, ToMsrp::Gone) => {}
                (Some(state), ToMsrp::Composing { body }) => {
                    let doc = IsComposing::parse(&body).expect("an RFC 3994 document");
                    let want = if state == "active" {
                        ComposingState::Active
                    } else {
                        ComposingState::Idle
                    };
                    assert_eq!(doc.state, want, "{chat_state}");
                }
                (want, got) => panic!("{chat_state}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    /// §7: `<received/>` → a REPORT for what that stanza id delivered.
    #[test]
    fn received_becomes_a_report() {
        let mut received = Element::new("received", NS_RECEIPTS);
        received.attrs.push(("id".into(), "hx74g336".into()));
        assert_eq!(
            to_msrp(&xmpp_chat(None, vec![received])),
            Ok(ToMsrp::Receipt {
                id: "hx74g336".into()
            })
        );
    }

    /// Example 25 → Example 26: a REPORT as a message holding only `<received/>`.
    #[test]
    fn example_25_report_becomes_example_26_receipt() {
        let m = report_to_xmpp(
            &jid("romeo@example.net"),
            &jid("juliet@example.com"),
            "bf9m36d5",
        );
        assert_eq!(m.body, None);
        assert_eq!(m.payloads.len(), 1);
        assert_eq!(m.payloads[0].name, "received");
        assert_eq!(m.payloads[0].attr("id"), Some("bf9m36d5"));
    }

    /// Example 21 → Example 22: BYE → `gone` in the session's thread.
    #[test]
    fn example_22_bye_becomes_gone() {
        let m = gone(
            &jid("romeo@example.net"),
            &jid("juliet@example.com"),
            "F6989A8C-DE8A-4E21-8E07-F0898304796F",
        )
        .expect("maps");
        assert_eq!(m.message_type, Some(MessageType::Chat));
        assert_eq!(m.payloads[0].name, "gone");
        assert_eq!(
            m.thread.as_deref(),
            Some("F6989A8C-DE8A-4E21-8E07-F0898304796F")
        );
    }

    /// Encrypted XMPP messages are refused as in page mode, never sent as
    /// their fallback body.
    #[test]
    fn an_omemo_message_is_not_carried() {
        let omemo = Element::new("encrypted", "eu.siacs.conversations.axolotl");
        let out = to_msrp(&xmpp_chat(Some("I sent you an OMEMO message"), vec![omemo]));
        assert!(matches!(out, Err(MappingError::NotCarried(_))), "{out:?}");
    }

    #[test]
    fn groupchat_is_not_a_session_message() {
        let mut m = xmpp_chat(Some("hi"), vec![]);
        m.message_type = Some(MessageType::Groupchat);
        assert_eq!(to_msrp(&m), Err(MappingError::Groupchat));
    }
}
