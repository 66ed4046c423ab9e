//! RFC 3994: the isComposing indication (`application/im-iscomposing+xml`),
//! and its XMPP counterpart, XEP-0085 chat state notifications.
//!
//! linphone sends isComposing wrapped in deflated CPIM (real-clients README);
//! RFC 3994's `active` is XEP-0085 `<composing/>`, and `idle` (sent after the
//! idle timeout without activity, RFC 3994 §3.2) is `<paused/>` ("had been
//! composing but now has stopped", XEP-0085 §2).

use parley_xmpp::stanza::Element;

use crate::content_coding;
use crate::cpim::CpimMessage;
use crate::failure::MappingError;
use crate::media_type::{ContentType, MediaType};
use crate::xml::{self, Limits, escape_text};

/// RFC 3994 §6: the isComposing namespace.
pub(crate) const NS_ISCOMPOSING: &str = "urn:ietf:params:xml:ns:im-iscomposing";
/// XEP-0085: chat state notifications.
pub const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// RFC 3994 §8.1: the media type.
pub(crate) const CONTENT_TYPE: &str = "application/im-iscomposing+xml";

/// RFC 3994 §3.2: the composer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComposingState {
    /// Composing a message.
    Active,
    /// Not composing.
    Idle,
}

/// An isComposing document (RFC 3994 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsComposing {
    /// `<state>`.
    pub state: ComposingState,
    /// `<lastactive>`, as written.
    pub last_active: Option<String>,
    /// `<contenttype>` of the message being composed.
    pub content_type: Option<String>,
    /// `<refresh>` in seconds.
    pub refresh: Option<u32>,
}

impl IsComposing {
    /// Parse a document.
    pub fn parse(bytes: &[u8]) -> Result<Self, MappingError> {
        let bad = |reason| MappingError::InvalidBody { reason };
        let root = xml::parse(bytes, Limits::default()).map_err(bad)?;
        if root.name != "isComposing" || root.ns != NS_ISCOMPOSING {
            return Err(bad("root is not an RFC 3994 <isComposing>"));
        }
        let field = |name| {
            root.child(name, NS_ISCOMPOSING)
                .map(|e| e.text().trim().to_owned())
        };
        // RFC 3994 §3.4: "idle" and "active"; anything else is treated as idle.
        let state = match field("state").as_deref() {
            Some("active") => ComposingState::Active,
            Some(_) => ComposingState::Idle,
            None => return Err(bad("isComposing without <state>")),
        };
        Ok(Self {
            state,
            last_active: field("lastactive"),
            content_type: field("contenttype"),
            refresh: field("refresh").and_then(|r| r.parse().ok()),
        })
    }

    /// Serialize.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">",
        );
        out.push_str(match self.state {
            ComposingState::Active => "<state>active</state>",
            ComposingState::Idle => "<state>idle</state>",
        });
        if let Some(t) = &self.last_active {
            out.push_str("<lastactive>");
            escape_text(t, &mut out);
            out.push_str("</lastactive>");
        }
        if let Some(t) = &self.content_type {
            out.push_str("<contenttype>");
            escape_text(t, &mut out);
            out.push_str("</contenttype>");
        }
        if let Some(r) = self.refresh {
            out.push_str(&format!("<refresh>{r}</refresh>"));
        }
        out.push_str("</isComposing>\n");
        out
    }

    /// The indication a SIP MESSAGE body carries, if it is one: RFC 3994
    /// §8.1 `application/im-iscomposing+xml`, bare or (§3.5: "MAY be carried
    /// in CPIM messages") inside `message/cpim`, with any content coding
    /// undone (linphone deflates it). `None` for anything else.
    pub fn from_sip_body(
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        raw: &[u8],
    ) -> Option<Self> {
        Self::from_sip_body_typed(&ContentType::parse(content_type), content_encoding, raw)
    }

    /// [`IsComposing::from_sip_body`] with the Content-Type parsed already.
    pub fn from_sip_body_typed(
        content_type: &ContentType,
        content_encoding: Option<&str>,
        raw: &[u8],
    ) -> Option<Self> {
        let media = content_type.media()?;
        let bare = media.is("application", "im-iscomposing+xml");
        // Any other type is none, whatever its content coding (issue 24:
        // the usual text/plain MESSAGE is not inflated to find out).
        if !bare && !media.is("message", "cpim") {
            return None;
        }
        let bytes = content_coding::decode_content_coding(content_encoding, raw).ok()?;
        if bare {
            return Self::parse(&bytes).ok();
        }
        let cpim = CpimMessage::parse(&bytes).ok()?;
        let inner = MediaType::parse(cpim.content_type()?).ok()?;
        inner
            .is("application", "im-iscomposing+xml")
            .then(|| Self::parse(&cpim.content).ok())
            .flatten()
    }

    /// The XEP-0085 chat state element for this indication.
    pub(crate) fn to_chat_state(&self) -> Element {
        let name = match self.state {
            ComposingState::Active => "composing",
            ComposingState::Idle => "paused",
        };
        Element::new(name, NS_CHATSTATES)
    }

    /// The indication for a XEP-0085 chat state element, if it is one:
    /// `composing` is active, every other state idle. No `<refresh>`: the
    /// gateway does not repeat `active` (XEP-0085 clients send `<composing/>`
    /// once), and RFC 3994 §3.2 says a composer "MAY decide not to send
    /// active-state refresh messages at all. This is indicated by omitting the
    /// refresh interval" — the receiver then assumes idle after 120 s.
    pub(crate) fn from_chat_state(e: &Element) -> Option<Self> {
        if e.ns != NS_CHATSTATES {
            return None;
        }
        let state = match e.name.as_str() {
            "composing" => ComposingState::Active,
            "paused" | "active" | "inactive" | "gone" => ComposingState::Idle,
            _ => return None,
        };
        Some(Self {
            state,
            last_active: None,
            content_type: Some("text/plain".into()),
            refresh: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// RFC 3994 §5, the first example.
    const RFC3994_ACTIVE: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing
iscomposing.xsd">
  <state>active</state>
  <contenttype>text/plain</contenttype>
  <refresh>90</refresh>
</isComposing>"#;

    #[test]
    fn rfc3994_example_parses_and_maps_to_composing() {
        let c = IsComposing::parse(RFC3994_ACTIVE).unwrap();
        assert_eq!(c.state, ComposingState::Active);
        assert_eq!(c.refresh, Some(90));
        assert_eq!(c.content_type.as_deref(), Some("text/plain"));
        assert_eq!(c.to_chat_state().name, "composing");
        assert_eq!(IsComposing::parse(c.to_xml().as_bytes()).unwrap(), c);
    }

    /// real-clients: linphone's deflated CPIM isComposing, `active` with `refresh 60`.
    #[test]
    fn linphone_deflated_cpim_indication_is_read_with_its_refresh() {
        let sip: &[u8] = include_bytes!("../tests/fixtures/sip/linphone-5.1-iscomposing.sip");
        let split = sip.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let c =
            IsComposing::from_sip_body(Some("message/cpim"), Some("deflate"), &sip[split + 4..])
                .unwrap();
        assert_eq!((c.state, c.refresh), (ComposingState::Active, Some(60)));
        let bare = IsComposing::from_sip_body(Some(CONTENT_TYPE), None, RFC3994_ACTIVE).unwrap();
        assert_eq!(bare.refresh, Some(90));
        assert_eq!(
            IsComposing::from_sip_body(Some("text/plain"), None, b"hi"),
            None
        );
    }

    #[test]
    fn chat_states_map_to_active_or_idle() {
        let composing = Element::new("composing", NS_CHATSTATES);
        assert_eq!(
            IsComposing::from_chat_state(&composing).unwrap().state,
            ComposingState::Active
        );
        for name in ["paused", "active", "inactive", "gone"] {
            let e = Element::new(name, NS_CHATSTATES);
            assert_eq!(
                IsComposing::from_chat_state(&e).unwrap().state,
                ComposingState::Idle
            );
        }
        assert_eq!(
            IsComposing::from_chat_state(&Element::new("request", "urn:xmpp:receipts")),
            None
        );
    }

    #[test]
    fn documents_without_state_or_in_other_namespaces_are_refused() {
        assert!(
            IsComposing::parse(b"<isComposing xmlns='urn:ietf:params:xml:ns:im-iscomposing'/>")
                .is_err()
        );
        assert!(IsComposing::parse(b"<isComposing><state>active</state></isComposing>").is_err());
    }
}
