//! RFC 4975 §10: MSRP status codes, and the comment Parley writes beside each.
//!
//! A status code is three digits (§9 `status-code = 3DIGIT`); it appears in
//! a response's start line and in the Status header field of a REPORT
//! (namespace `000`, §7.1.3). Which code answers which error is decided in
//! one place, `error.rs`; this file only names the codes.

use std::fmt;

/// An MSRP status code (§9: `3DIGIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// §10.1: "a successful transaction".
    pub const OK: StatusCode = StatusCode(200);
    /// §10.2: "a request was unintelligible".
    pub const BAD_REQUEST: StatusCode = StatusCode(400);
    /// §10.3: "the attempted action is not allowed".
    pub const FORBIDDEN: StatusCode = StatusCode(403);
    /// §10.4: "a downstream transaction did not complete in the allotted time".
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// §10.5: "the receiver wishes the sender to stop sending the particular message".
    pub const STOP_SENDING: StatusCode = StatusCode(413);
    /// §10.6: "a media type that is not understood by the receiver".
    pub const UNSUPPORTED_MEDIA_TYPE: StatusCode = StatusCode(415);
    /// RFC 7701 §10.3: "Failure to resolve recipient's URI" (the CPIM To of
    /// a private message, §6.2).
    pub const RECIPIENT_NOT_FOUND: StatusCode = StatusCode(404);
    /// §10.7: "one of the requested parameters is out of bounds".
    pub const OUT_OF_BOUNDS: StatusCode = StatusCode(423);
    /// RFC 7701 §10.3: "Malformed nickname".
    pub const MALFORMED_NICKNAME: StatusCode = StatusCode(424);
    /// RFC 7701 §10.3: "Nickname reserved or already in use".
    pub const NICKNAME_UNAVAILABLE: StatusCode = StatusCode(425);
    /// RFC 7701 §10.3: "Private messages not supported".
    pub const PRIVATE_MESSAGES_NOT_SUPPORTED: StatusCode = StatusCode(428);
    /// §10.8: "the indicated session does not exist".
    pub const NO_SESSION: StatusCode = StatusCode(481);
    /// §10.9: "the recipient does not understand the request method".
    pub const UNKNOWN_METHOD: StatusCode = StatusCode(501);
    /// §10.10: "a request arrived on a session that is already bound to
    /// another network connection".
    pub const SESSION_ON_OTHER_CONNECTION: StatusCode = StatusCode(506);

    /// Whether the code reports success (2xx).
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// The comment Parley writes after the code. §9 makes the comment free
    /// text; RFC 4975's examples write `200 OK`, RFC 7701's codes carry their
    /// §10.3 descriptions, the rest are Parley's words.
    pub fn comment(self) -> &'static str {
        match self.0 {
            200 => "OK",
            400 => "Bad Request",
            403 => "Forbidden",
            408 => "Request Timeout",
            413 => "Stop Sending Message",
            415 => "Unsupported Media Type",
            404 => "Failure to resolve recipient's URI",
            423 => "Parameter Out Of Bounds",
            424 => "Malformed nickname",
            425 => "Nickname reserved or already in use",
            428 => "Private messages not supported",
            481 => "Session Does Not Exist",
            501 => "Unknown Method",
            506 => "Session Bound To Another Connection",
            _ => "Unknown Status",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}
