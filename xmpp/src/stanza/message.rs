//! RFC 6121 §5: `<message/>`.

use super::{Element, StanzaError};

/// RFC 6121 §5.2.2: the `type` attribute of `<message/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `chat`
    Chat,
    /// `error`
    Error,
    /// `groupchat`
    Groupchat,
    /// `headline`
    Headline,
    /// `normal` (also the meaning of an absent `type`).
    Normal,
}

/// A `<message/>` stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// `from` attribute.
    pub from: Option<String>,
    /// `to` attribute.
    pub to: Option<String>,
    /// `id` attribute.
    pub id: Option<String>,
    /// `type` attribute; `None` when absent (which means `normal`).
    pub message_type: Option<MessageType>,
    /// `xml:lang` attribute.
    pub lang: Option<String>,
    /// `<body/>` without an `xml:lang` of its own (or the first one).
    pub body: Option<String>,
    /// `<subject/>`.
    pub subject: Option<String>,
    /// `<thread/>`.
    pub thread: Option<String>,
    /// `<error/>` when `type='error'`.
    pub error: Option<StanzaError>,
    /// Every other child element, preserved for pass-through.
    pub payloads: Vec<Element>,
}

impl MessageType {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Error => "error",
            Self::Groupchat => "groupchat",
            Self::Headline => "headline",
            Self::Normal => "normal",
        }
    }

    /// Parse the attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Chat,
            Self::Error,
            Self::Groupchat,
            Self::Headline,
            Self::Normal,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }
}
