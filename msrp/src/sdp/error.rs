//! What can go wrong with MSRP SDP, in protocol words.
//!
//! Three families: the SDP text itself ([`ParseError`]), one `m=message`
//! line that is not usable MSRP ([`MediaError`]), and the outcome of
//! offer/answer ([`Refusal`] for the answerer, [`AnswerError`] for the
//! offerer). A [`Refusal`] is the one place that decides the SIP Warning.

/// The SDP body could not be read at all (RFC 8866 §9 grammar).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The body is not a session description.
    #[error("SDP syntax: {detail}")]
    Syntax {
        /// What the SDP parser said (internal; never sent to a peer).
        detail: String,
    },
    /// The body is larger than the caller's limit.
    #[error("SDP of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl ParseError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "sdp_syntax",
            Self::TooLarge { .. } => "sdp_too_large",
        }
    }
}

/// Why one media description is not a usable MSRP media line (RFC 4975 §8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The media field is not `message` (RFC 4975 §8.1).
    #[error("media type is not message")]
    NotMessage,
    /// The port is 0: the line is refused or being refused (RFC 3264 §6).
    #[error("media line has port 0")]
    PortZero,
    /// The protocol is neither `TCP/MSRP` nor `TCP/TLS/MSRP` (RFC 4975 §8.1).
    #[error("transport protocol {proto:?} is not MSRP")]
    Transport {
        /// The protocol field as received.
        proto: String,
    },
    /// RFC 4975 §8.2: "Each SDP offer or answer that proposes MSRP MUST
    /// contain a "path" attribute".
    #[error("no a=path")]
    MissingPath,
    /// An `a=path` entry is not an MSRP URI with an explicit port (RFC 4975 §8.2, §9).
    #[error("invalid MSRP URI in a=path")]
    InvalidPath,
    /// The path's scheme does not fit the transport (`msrps` is TLS, RFC 4975 §5.4).
    #[error("a=path scheme does not match the transport")]
    PathSchemeMismatch,
    /// RFC 4975 §8.6: "An SDP media-line proposing MSRP MUST be accompanied
    /// by an accept-types attribute."
    #[error("no a=accept-types")]
    MissingAcceptTypes,
    /// A format entry breaks the RFC 4975 §8.6 grammar.
    #[error("invalid format entry in accept-types or accept-wrapped-types")]
    InvalidFormat,
    /// `a=max-size` is not `1*DIGIT` (RFC 4975 §8.6).
    #[error("invalid a=max-size")]
    InvalidMaxSize,
    /// `a=setup` is not one of the RFC 4145 §4 roles.
    #[error("invalid a=setup")]
    InvalidSetup,
}

impl MediaError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotMessage => "not_message",
            Self::PortZero => "port_zero",
            Self::Transport { .. } => "transport",
            Self::MissingPath => "missing_path",
            Self::InvalidPath => "invalid_path",
            Self::PathSchemeMismatch => "path_scheme_mismatch",
            Self::MissingAcceptTypes => "missing_accept_types",
            Self::InvalidFormat => "invalid_format",
            Self::InvalidMaxSize => "invalid_max_size",
            Self::InvalidSetup => "invalid_setup",
        }
    }
}

/// The answerer refuses the whole offer: the SIP side answers 488 Not
/// Acceptable Here (RFC 4975 §8.6: "in SIP, it SHOULD return a SIP 488
/// response") with the Warning of [`Refusal::warn_code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No `m=message` line with a port other than 0.
    #[error("no message media line offered")]
    NoMessageMedia,
    /// `m=message` lines, but none over a transport we take (TLS not
    /// allowed, or not MSRP at all).
    #[error("no offered MSRP transport is available")]
    TransportNotAvailable,
    /// MSRP lines, but none whose accept-types meet ours.
    #[error("no common accept-types")]
    NoCommonFormat,
    /// MSRP lines, but each breaks RFC 4975 §8 (no path, bad URI, …).
    #[error("invalid MSRP media line: {0}")]
    InvalidMedia(MediaError),
}

impl Refusal {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoMessageMedia => "no_message_media",
            Self::TransportNotAvailable => "transport_not_available",
            Self::NoCommonFormat => "no_common_format",
            Self::InvalidMedia(_) => "invalid_media",
        }
    }

    /// The warn-code for the 488's Warning header, from the list in
    /// RFC 3261 §20.43.
    pub fn warn_code(&self) -> u16 {
        match self {
            // "304 Media type not available: One or more media types
            // contained in the session description are not available."
            Self::NoMessageMedia => 304,
            // "302 Incompatible transport protocol: One or more transport
            // protocols described in the session description are not available."
            Self::TransportNotAvailable => 302,
            // "305 Incompatible media format: One or more media formats
            // contained in the session description are not available."
            Self::NoCommonFormat => 305,
            // "399 Miscellaneous warning": a required attribute is missing or
            // malformed, which none of 300–307 describes.
            Self::InvalidMedia(_) => 399,
        }
    }

    /// The recommended English warn-text of RFC 3261 §20.43 for
    /// [`Refusal::warn_code`]; never internal error text.
    pub fn warn_text(&self) -> &'static str {
        match self {
            Self::NoMessageMedia => "Media type not available",
            Self::TransportNotAvailable => "Incompatible transport protocol",
            Self::NoCommonFormat => "Incompatible media format",
            Self::InvalidMedia(_) => "Miscellaneous warning",
        }
    }
}

/// The offerer cannot use the answer it received (RFC 3264 §7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// RFC 3264 §6: "The answer MUST contain exactly the same number of
    /// "m=" lines as the offer."
    #[error("answer has {answered} m-lines, offer had {offered}")]
    MediaCount {
        /// m-lines in the offer.
        offered: usize,
        /// m-lines in the answer.
        answered: usize,
    },
    /// The offer had no MSRP line, so there is nothing to accept.
    #[error("offer has no MSRP media line")]
    NoOfferedMedia,
    /// The answerer set our MSRP line's port to 0 (RFC 3264 §6).
    #[error("MSRP media line rejected")]
    Rejected,
    /// The answered line is not usable MSRP.
    #[error("answered MSRP media line: {0}")]
    Media(MediaError),
    /// The answer changed the transport we offered (RFC 4975 §8.1).
    #[error("answer changed the transport")]
    TransportChanged,
    /// The answer's `a=setup` is not allowed for our offer (RFC 4145 §4.1 table).
    #[error("answer's a=setup does not fit the offer")]
    SetupConflict,
    /// Nothing in the answer's accept-types is a type we can send.
    #[error("no common accept-types")]
    NoCommonFormat,
}

impl AnswerError {
    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MediaCount { .. } => "media_count",
            Self::NoOfferedMedia => "no_offered_media",
            Self::Rejected => "rejected",
            Self::Media(_) => "media",
            Self::TransportChanged => "transport_changed",
            Self::SetupConflict => "setup_conflict",
            Self::NoCommonFormat => "no_common_format",
        }
    }
}
