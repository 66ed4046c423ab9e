//! RFC 3261 §21: a SIP final response as Parley sends it — the status and
//! the header fields RFC 3261 requires with it (challenges, Allow, Contact,
//! Accept), typed, and written in one place.
//!
//! Which status a failure gets is decided in [`crate::error`]; this module
//! makes sure the answer is a valid response for that status. It draws no
//! random numbers: the nonce of a challenge is an argument.

use parley_sip::wire::status::reason_phrase;

use crate::address::SipAddress;

/// A SIP final response status: code and the reason phrase we send with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SipStatus {
    /// The status code, 300..=699 for everything produced here.
    pub code: u16,
    /// The RFC 3261 §21 reason phrase.
    pub reason: &'static str,
}

impl SipStatus {
    /// The status `code` with its standard reason phrase.
    pub const fn new(code: u16) -> Self {
        Self {
            code,
            reason: reason_phrase(code),
        }
    }
}

/// The methods Parley answers (RFC 3261 §20.5 `Allow`): what OPTIONS
/// reports and what a 405 lists (§21.4.6).
pub const ALLOW: &str = "MESSAGE, NOTIFY, OPTIONS, SUBSCRIBE";

/// [`ALLOW`] when chat sessions are on (`sessions.enabled`): Parley then
/// also answers INVITE, ACK, BYE and CANCEL (RFC 3261 §13, §15, §9), and
/// UPDATE as a session refresh (RFC 4028 §7.4).
pub const ALLOW_WITH_SESSIONS: &str =
    "ACK, BYE, CANCEL, INVITE, MESSAGE, NOTIFY, OPTIONS, SUBSCRIBE, UPDATE";

/// A SIP final response as Parley sends it: the status and the header fields
/// RFC 3261 requires with it. [`SipAnswer::new`] adds the ones a status code
/// requires by itself, so a 401, 405, 407 or 415 cannot leave without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAnswer {
    /// Code and reason phrase.
    pub status: SipStatus,
    /// The header fields the response must carry, in the order they are written.
    pub headers: Vec<RequiredHeader>,
}

/// A header field a response must carry because of its status, typed; its
/// value is written by [`SipAnswer::header_fields`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequiredHeader {
    /// RFC 3261 §22.2: "The WWW-Authenticate response-header field MUST be
    /// included in 401 (Unauthorized) response messages" (§21.4.2).
    WwwAuthenticate,
    /// RFC 3261 §22.3: "The proxy MUST populate the 407 (Proxy Authentication
    /// Required) message with a Proxy-Authenticate header field value".
    ProxyAuthenticate,
    /// RFC 3261 §21.4.6: a 405 "MUST include an Allow header field containing
    /// a list of valid methods for the indicated address": [`ALLOW`] without
    /// `refused`, the method the address did not take.
    Allow {
        /// The refused method, when it is one Parley otherwise answers.
        refused: Option<&'static str>,
    },
    /// RFC 3261 §21.3.2, §21.3.3: the new address a 301/302 sends the client
    /// to (§20.10 `Contact`, always in name-addr form).
    Contact(SipAddress),
    /// RFC 3261 §21.4.13: a 415 "MUST return a list of acceptable formats";
    /// the list Parley takes (`body::ACCEPT`).
    Accept,
    /// RFC 3261 §21.4.13, when the content coding was the problem;
    /// the codings Parley undoes (`content_coding::ACCEPT_ENCODING`).
    AcceptEncoding,
}

impl SipAnswer {
    /// `status` with the header fields its code requires by itself: 401 →
    /// WWW-Authenticate, 405 → Allow, 407 → Proxy-Authenticate, 415 → Accept.
    /// A 3xx needs an address (`SipAnswer::redirect`, which
    /// [`crate::error::message_error_to_sip`] uses).
    pub fn new(status: SipStatus) -> Self {
        let headers = match status.code {
            401 => vec![RequiredHeader::WwwAuthenticate],
            405 => vec![RequiredHeader::Allow { refused: None }],
            407 => vec![RequiredHeader::ProxyAuthenticate],
            415 => vec![RequiredHeader::Accept],
            _ => Vec::new(),
        };
        Self { status, headers }
    }

    /// A 301 or 302 sending the client to `contact`.
    pub(crate) fn redirect(status: SipStatus, contact: SipAddress) -> Self {
        Self {
            status,
            headers: vec![RequiredHeader::Contact(contact)],
        }
    }

    /// The same answer with one more header field.
    pub fn with(mut self, header: RequiredHeader) -> Self {
        self.headers.push(header);
        self
    }

    /// The header fields as (name, value) pairs for the response. `realm` is
    /// the Digest realm of a challenge (Parley's SIP domain) and `nonce` a
    /// fresh random value from the caller (this crate draws no random
    /// numbers); both are unused unless the status is 401 or 407.
    pub fn header_fields(&self, realm: &str, nonce: u128) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|h| (h.name().to_owned(), h.value(realm, nonce)))
            .collect()
    }
}

impl RequiredHeader {
    /// The header field name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::WwwAuthenticate => "WWW-Authenticate",
            Self::ProxyAuthenticate => "Proxy-Authenticate",
            Self::Allow { .. } => "Allow",
            Self::Contact(_) => "Contact",
            Self::Accept => "Accept",
            Self::AcceptEncoding => "Accept-Encoding",
        }
    }

    fn value(&self, realm: &str, nonce: u128) -> String {
        match self {
            Self::WwwAuthenticate | Self::ProxyAuthenticate => digest_challenge(realm, nonce),
            Self::Allow { refused } => ALLOW
                .split(", ")
                .filter(|m| Some(*m) != *refused)
                .collect::<Vec<_>>()
                .join(", "),
            Self::Contact(uri) => format!("<{uri}>"),
            Self::Accept => crate::body::ACCEPT.to_owned(),
            Self::AcceptEncoding => crate::content_coding::ACCEPT_ENCODING.to_owned(),
        }
    }
}

/// A Digest challenge (RFC 3261 §20.44, §22.4): realm, a fresh nonce, the
/// algorithm, and `qop="auth"`, since "servers MUST always send a "qop"
/// parameter in WWW-Authenticate and Proxy-Authenticate header field values"
/// (§22.4 item 8). MD5 because every SIP UA answers it.
///
/// What a UA that answers it gets next: Parley does not authenticate SIP
/// users yet, so the retried MESSAGE (new CSeq, credentials in
/// Authorization / Proxy-Authorization, §22.2) goes the same way as the first
/// one — to the XMPP side again, credentials unread. If the XMPP side
/// accepts it this time, the UA gets 200; if it refuses again, the UA gets
/// the same mapped answer with a new nonce. That does not loop: `stale` is
/// never set, and §22.1 says "A UAC MUST NOT re-attempt requests with the
/// credentials that have just been rejected (though the request may be
/// retried if the nonce was stale)", so a UA retries a challenged request at
/// most once with the credentials it has. One without credentials for the
/// realm stops, asks its user (§22.1), or tries once as "anonymous" (§22.2),
/// which the same rule then stops.
fn digest_challenge(realm: &str, nonce: u128) -> String {
    let realm: String = realm
        .chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("Digest realm=\"{realm}\", nonce=\"{nonce:032x}\", algorithm=MD5, qop=\"auth\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3261 §22.4 item 8: "servers MUST always send a "qop" parameter";
    /// §20.44: realm and nonce quoted. The realm is escaped as a quoted-string.
    #[test]
    fn challenges_are_well_formed_digest() {
        let answer = SipAnswer::new(SipStatus::new(401));
        assert_eq!(
            answer.header_fields("sip.example.net", 0xabc),
            vec![(
                "WWW-Authenticate".to_owned(),
                "Digest realm=\"sip.example.net\", nonce=\"00000000000000000000000000000abc\", \
                 algorithm=MD5, qop=\"auth\""
                    .to_owned()
            )]
        );
        let answer = SipAnswer::new(SipStatus::new(407));
        let fields = answer.header_fields("we\"ird\\realm", u128::MAX);
        assert_eq!(fields[0].0, "Proxy-Authenticate");
        assert_eq!(
            fields[0].1,
            "Digest realm=\"we\\\"ird\\\\realm\", nonce=\"ffffffffffffffffffffffffffffffff\", \
             algorithm=MD5, qop=\"auth\""
        );
    }
}
