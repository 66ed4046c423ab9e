//! RFC 6121 §3 and §4: `<presence/>`.

use super::{Element, StanzaError};

/// RFC 6121 §4.7.1: the `type` attribute of `<presence/>`; absent means available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceType {
    /// `error`
    Error,
    /// `probe`
    Probe,
    /// `subscribe`
    Subscribe,
    /// `subscribed`
    Subscribed,
    /// `unavailable`
    Unavailable,
    /// `unsubscribe`
    Unsubscribe,
    /// `unsubscribed`
    Unsubscribed,
}

/// RFC 6121 §4.7.2.1: `<show/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Show {
    /// `away`
    Away,
    /// `chat`
    Chat,
    /// `dnd`
    Dnd,
    /// `xa`
    Xa,
}

/// A `<presence/>` stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Presence {
    /// `from` attribute.
    pub from: Option<String>,
    /// `to` attribute.
    pub to: Option<String>,
    /// `id` attribute.
    pub id: Option<String>,
    /// `type` attribute; `None` means available.
    pub presence_type: Option<PresenceType>,
    /// `xml:lang` attribute.
    pub lang: Option<String>,
    /// `<show/>`.
    pub show: Option<Show>,
    /// `<status/>`.
    pub status: Option<String>,
    /// `<priority/>` (RFC 6121 §4.7.2.3: -128..=127).
    pub priority: Option<i8>,
    /// `<error/>` when `type='error'`.
    pub error: Option<StanzaError>,
    /// Every other child element, preserved for pass-through.
    pub payloads: Vec<Element>,
}

impl PresenceType {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Probe => "probe",
            Self::Subscribe => "subscribe",
            Self::Subscribed => "subscribed",
            Self::Unavailable => "unavailable",
            Self::Unsubscribe => "unsubscribe",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    /// Parse the attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Error,
            Self::Probe,
            Self::Subscribe,
            Self::Subscribed,
            Self::Unavailable,
            Self::Unsubscribe,
            Self::Unsubscribed,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}

impl Show {
    /// The element's character data.
    pub fn name(self) -> &'static str {
        match self {
            Self::Away => "away",
            Self::Chat => "chat",
            Self::Dnd => "dnd",
            Self::Xa => "xa",
        }
    }

    /// Parse the element's character data.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Away, Self::Chat, Self::Dnd, Self::Xa]
            .into_iter()
            .find(|t| t.name() == name)
    }
}
