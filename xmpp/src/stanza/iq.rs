//! RFC 6120 §8.2.3: `<iq/>`.

use super::{Element, StanzaError};

/// The `type` attribute of `<iq/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    /// `get`
    Get,
    /// `set`
    Set,
    /// `result`
    Result,
    /// `error`
    Error,
}

/// An `<iq/>` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iq {
    /// `from` attribute.
    pub from: Option<String>,
    /// `to` attribute.
    pub to: Option<String>,
    /// `id` attribute (required by RFC 6120 §8.2.3).
    pub id: String,
    /// `type` attribute.
    pub iq_type: IqType,
    /// The single child element of a get/set/result, if any.
    pub payload: Option<Element>,
    /// `<error/>` when `type='error'`.
    pub error: Option<StanzaError>,
}

impl IqType {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::Result => "result",
            Self::Error => "error",
        }
    }

    /// Parse the attribute value.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Get, Self::Set, Self::Result, Self::Error]
            .into_iter()
            .find(|t| t.name() == name)
    }
}
