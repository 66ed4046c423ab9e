//! RFC 3261 §21: response codes and their reason phrases, in one table for
//! the whole workspace (the SIP writer's default phrase and the mapping
//! layer's `SipStatus` both read it).
//!
//! The phrases are the section headings of RFC 3261 §21.1–§21.6, plus
//! RFC 6665 §8.3.1 (202 Accepted) and §8.3.2 (489 Bad Event). A code the
//! table does not know gets its class's name (RFC 3261 §7.2), never an
//! empty phrase.

/// A SIP response code (RFC 3261 §7.2: three digits, 100 to 699). The
/// codes Parley answers with are named here, so a responder reads as what it
/// says (`StatusCode::CALL_DOES_NOT_EXIST`, not `481`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// §21.1.1.
    pub const TRYING: Self = Self(100);
    /// §21.2.1.
    pub const OK: Self = Self(200);
    /// §21.4.1.
    pub const BAD_REQUEST: Self = Self(400);
    /// §21.4.2.
    pub const UNAUTHORIZED: Self = Self(401);
    /// §21.4.4.
    pub const FORBIDDEN: Self = Self(403);
    /// §21.4.5.
    pub const NOT_FOUND: Self = Self(404);
    /// §21.4.8.
    pub const PROXY_AUTHENTICATION_REQUIRED: Self = Self(407);
    /// §21.4.15.
    pub const BAD_EXTENSION: Self = Self(420);
    /// §21.4.17.
    pub const INTERVAL_TOO_BRIEF: Self = Self(423);
    /// §21.4.18.
    pub const TEMPORARILY_UNAVAILABLE: Self = Self(480);
    /// §21.4.6.
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// §21.4.13.
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self(415);
    /// §21.4.19.
    pub const CALL_DOES_NOT_EXIST: Self = Self(481);
    /// RFC 4028 §6.
    pub const SESSION_INTERVAL_TOO_SMALL: Self = Self(422);
    /// §21.4.24.
    pub const BUSY_HERE: Self = Self(486);
    /// §21.4.26.
    pub const NOT_ACCEPTABLE_HERE: Self = Self(488);
    /// RFC 6665 §8.3.2.
    pub const BAD_EVENT: Self = Self(489);
    /// §21.5.1.
    pub const SERVER_INTERNAL_ERROR: Self = Self(500);
    /// §21.5.4.
    pub const SERVICE_UNAVAILABLE: Self = Self(503);

    /// `code` if it is a status code (100 to 699), `None` otherwise.
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 699 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The three digits.
    pub const fn code(self) -> u16 {
        self.0
    }

    /// Its reason phrase from the table below.
    pub const fn reason(self) -> &'static str {
        reason_phrase(self.0)
    }

    /// 1xx (§7.2: provisional, the transaction goes on).
    pub const fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx.
    pub const fn is_success(self) -> bool {
        self.0 >= 200 && self.0 < 300
    }
}

impl From<StatusCode> for u16 {
    fn from(status: StatusCode) -> u16 {
        status.0
    }
}

impl PartialEq<u16> for StatusCode {
    fn eq(&self, code: &u16) -> bool {
        self.0 == *code
    }
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The reason phrase Parley writes for `code` when the caller gives none.
pub const fn reason_phrase(code: u16) -> &'static str {
    match code {
        // §21.1 Provisional 1xx
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        // §21.2 Successful 2xx; RFC 6665 §8.3.1
        200 => "OK",
        202 => "Accepted",
        // §21.3 Redirection 3xx
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        // §21.4 Request Failure 4xx; RFC 6665 §8.3.2 (489)
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        // RFC 4028 §6.
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        // §21.5 Server Failure 5xx
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        // §21.6 Global Failures 6xx
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        // §7.2: the class, for a code the table does not know.
        c if c < 200 => "Provisional",
        c if c < 300 => "Success",
        c if c < 400 => "Redirection",
        c if c < 500 => "Client Error",
        c if c < 600 => "Server Error",
        _ => "Global Failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two tables this one replaced disagreed: the writer's had no 3xx,
    /// 402, 406, 410, 414, 420–423, 482, 485, 491, 493 or 502 (so a 301 went
    /// out as "Redirection"), the mapping layer's no 1xx/2xx and "Unknown"
    /// for anything else.
    #[test]
    fn codes_either_old_table_lacked_have_their_rfc_3261_phrase() {
        for (code, phrase) in [
            (181, "Call Is Being Forwarded"),
            (202, "Accepted"),
            (301, "Moved Permanently"),
            (302, "Moved Temporarily"),
            (402, "Payment Required"),
            (406, "Not Acceptable"),
            (410, "Gone"),
            (423, "Interval Too Brief"),
            (482, "Loop Detected"),
            (491, "Request Pending"),
            (493, "Undecipherable"),
            (502, "Bad Gateway"),
        ] {
            assert_eq!(reason_phrase(code), phrase, "{code}");
        }
    }

    #[test]
    fn the_named_codes_are_the_ones_the_table_names() {
        for (status, phrase) in [
            (StatusCode::OK, "OK"),
            (StatusCode::BAD_REQUEST, "Bad Request"),
            (StatusCode::FORBIDDEN, "Forbidden"),
            (StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type"),
            (
                StatusCode::CALL_DOES_NOT_EXIST,
                "Call/Transaction Does Not Exist",
            ),
            (StatusCode::BAD_EVENT, "Bad Event"),
            (StatusCode::SERVER_INTERNAL_ERROR, "Server Internal Error"),
            (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        ] {
            assert_eq!(status.reason(), phrase, "{status}");
            assert_eq!(StatusCode::new(status.code()), Some(status));
        }
        assert_eq!(StatusCode::new(99), None);
        assert_eq!(StatusCode::new(700), None);
        assert!(StatusCode::OK.is_success() && !StatusCode::BAD_REQUEST.is_success());
        assert!(StatusCode::new(180).is_some_and(StatusCode::is_provisional));
    }

    #[test]
    fn an_unknown_code_gets_its_class_name() {
        assert_eq!(reason_phrase(199), "Provisional");
        assert_eq!(reason_phrase(299), "Success");
        assert_eq!(reason_phrase(399), "Redirection");
        assert_eq!(reason_phrase(499), "Client Error");
        assert_eq!(reason_phrase(599), "Server Error");
        assert_eq!(reason_phrase(699), "Global Failure");
    }
}
