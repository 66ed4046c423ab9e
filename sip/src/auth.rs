//! RFC 3261 §22, RFC 7616, RFC 8760: digest authentication of outbound requests.
//!
//! When a request of ours is answered with 401 (WWW-Authenticate) or 407
//! (Proxy-Authenticate), the endpoint parses the challenge with
//! [`Challenge::parse`](crate::auth::Challenge::parse), picks one with
//! [`choose`](crate::auth::choose), and resends the request with the value
//! `authorize` (or a
//! [`DigestSession`](crate::auth::DigestSession)) returns in an
//! Authorization / Proxy-Authorization header field.
//!
//! Pure code: no I/O, no clock. The client nonce and the nonce count are
//! arguments, or come from an RNG the caller passes in.
//!
//! Supported: MD5, SHA-256 and SHA-512-256, each with its `-sess` variant;
//! `qop=auth`, `qop=auth-int` and the RFC 2069 form without qop (RFC 3261
//! §22.4: SIP servers from RFC 2543 may still send it). Not supported:
//! `userhash` (RFC 7616 §3.4.4 lets the client send the plain username, which
//! is what we do), Basic (RFC 3261 §22.4: MUST NOT), Authentication-Info checks.

use std::fmt;

use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256, Sha512_256};

mod challenge;
pub mod server;

pub use challenge::{Algorithm, Challenge, Qop};

/// The username and password for one realm.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The username, sent in the clear (RFC 7616 §3.4: `username`).
    pub username: String,
    /// The password; only its hash leaves the process.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// What went wrong while reading a challenge or answering it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The challenge uses another scheme; RFC 3261 §22.4 forbids Basic, and
    /// RFC 8760 §2.4 says a client MUST ignore challenges it does not understand.
    #[error("authentication scheme {scheme:?} is not Digest")]
    NotDigest {
        /// The scheme named by the challenge.
        scheme: String,
    },
    /// The header field value does not follow the RFC 3261 §25.1 `challenge` grammar.
    #[error("malformed challenge at byte {at}: {what}")]
    Malformed {
        /// Byte offset into the header field value.
        at: usize,
        /// What was expected there.
        what: &'static str,
    },
    /// A parameter the challenge must carry is absent (RFC 7616 §3.3: realm, nonce).
    #[error("challenge lacks the {name} parameter")]
    MissingParameter {
        /// The parameter name.
        name: &'static str,
    },
    /// A parameter occurs twice (RFC 7235 §2.1: each name at most once per challenge).
    #[error("challenge repeats the {name} parameter")]
    DuplicateParameter {
        /// The parameter name as received.
        name: String,
    },
    /// The challenge names an algorithm we do not implement.
    #[error("unsupported digest algorithm {algorithm:?}")]
    UnsupportedAlgorithm {
        /// The algorithm token as received.
        algorithm: String,
    },
    /// The challenge offers qop values, none of them `auth` or `auth-int`.
    #[error("no supported qop among those offered")]
    UnsupportedQop,
    /// A `-sess` algorithm without qop: RFC 3261 §22.4 item 8 forbids sending a
    /// cnonce then, and `-sess` needs one.
    #[error("a -sess algorithm needs a qop the challenge did not offer")]
    SessionWithoutQop,
    /// The client nonce is empty or holds characters unsafe in a quoted-string.
    #[error("client nonce is empty or not printable ASCII")]
    InvalidCnonce,
    /// The nonce count is zero (RFC 7616 §3.4: it counts this request too) or
    /// has run out for this nonce.
    #[error("nonce count must be between 1 and 0xffffffff")]
    InvalidNonceCount,
    /// A value we would write into the header holds a line break or another
    /// control character (or, for the method and URI, a space or quote) and
    /// would break the header.
    #[error("{field} cannot be written into an authorization header")]
    UnwritableValue {
        /// Which input: `username`, `method`, `uri`, `realm`, `nonce` or `opaque`.
        field: &'static str,
    },
}

impl AuthError {
    /// A short stable name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotDigest { .. } => "not_digest",
            Self::Malformed { .. } => "malformed",
            Self::MissingParameter { .. } => "missing_parameter",
            Self::DuplicateParameter { .. } => "duplicate_parameter",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::UnsupportedQop => "unsupported_qop",
            Self::SessionWithoutQop => "session_without_qop",
            Self::InvalidCnonce => "invalid_cnonce",
            Self::InvalidNonceCount => "invalid_nonce_count",
            Self::UnwritableValue { .. } => "unwritable_value",
        }
    }
}

/// Which header field carried a challenge, and so which one answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChallengeHeader {
    /// RFC 3261 §22.2: `WWW-Authenticate` in a 401, answered by `Authorization`.
    WwwAuthenticate,
    /// RFC 3261 §22.3: `Proxy-Authenticate` in a 407, answered by `Proxy-Authorization`.
    ProxyAuthenticate,
}

impl ChallengeHeader {
    /// The challenge header a response with this status code carries, if any.
    pub(crate) fn for_status(status: u16) -> Option<Self> {
        match status {
            401 => Some(Self::WwwAuthenticate),
            407 => Some(Self::ProxyAuthenticate),
            _ => None,
        }
    }

    /// The name of the challenge header field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::WwwAuthenticate => "WWW-Authenticate",
            Self::ProxyAuthenticate => "Proxy-Authenticate",
        }
    }

    /// The name of the header field that carries the answer.
    pub(crate) fn answer_name(self) -> &'static str {
        match self {
            Self::WwwAuthenticate => "Authorization",
            Self::ProxyAuthenticate => "Proxy-Authorization",
        }
    }
}

/// Picks the challenge to answer, following RFC 8760 §2.4: the topmost one we
/// support ("it SHOULD use the topmost header field that it supports"); the
/// UAS lists them in its order of preference (RFC 8760 §2.3). Challenges with
/// an unknown algorithm or only unknown qop values are skipped ("MUST ignore
/// any challenge it does not understand"). `None` means: abandon the request.
pub fn choose(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges.iter().find(|c| c.is_supported())
}

/// Picks the supported challenge with the strongest hash, the first of equals.
///
/// RFC 8760 §2.4 allows this as a local policy ("unless a local policy
/// dictates otherwise"); it guards against the downgrade RFC 8760 §3 warns
/// about, where an on-path attacker strips or reorders the SHA-256 challenge.
pub fn choose_strongest(challenges: &[Challenge]) -> Option<&Challenge> {
    let mut best: Option<&Challenge> = None;
    for c in challenges.iter().filter(|c| c.is_supported()) {
        let stronger = match best {
            None => true,
            Some(b) => c.algorithm.strength() > b.algorithm.strength(),
        };
        if stronger {
            best = Some(c);
        }
    }
    best
}

/// Picks one challenge per realm, the topmost supported of each, in the order
/// the realms first appear. RFC 3261 §22.3 and RFC 8760 §2.4: a UAC may answer
/// every realm that challenged it (e.g. after forking), one credential each.
pub(crate) fn choose_per_realm(challenges: &[Challenge]) -> Vec<&Challenge> {
    let mut chosen: Vec<&Challenge> = Vec::new();
    for c in challenges.iter().filter(|c| c.is_supported()) {
        if !chosen.iter().any(|k| k.realm == c.realm) {
            chosen.push(c);
        }
    }
    chosen
}

/// What a new challenge means for a request that already carried credentials
/// built from `answered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rechallenge {
    /// Same realm with `stale=true`: the nonce expired but the password was
    /// right; retry with the new nonce without asking the user (RFC 7616 §3.3).
    RetryWithNewNonce,
    /// Same realm without `stale=true`: the credentials were refused; retrying
    /// with the same ones would loop (RFC 7616 §3.3: "the username and/or
    /// password are invalid").
    CredentialsRejected,
    /// Another realm challenges (another proxy on the path); answer it as a
    /// first challenge (RFC 3261 §22.3).
    NewRealm,
}

/// Classifies `received`, a challenge in the response to a request that
/// carried credentials for `answered`.
pub fn rechallenge(answered: &Challenge, received: &Challenge) -> Rechallenge {
    if answered.realm != received.realm {
        Rechallenge::NewRealm
    } else if received.stale {
        Rechallenge::RetryWithNewNonce
    } else {
        Rechallenge::CredentialsRejected
    }
}

/// Computes the Authorization / Proxy-Authorization header field value
/// answering `ch` for one request (RFC 7616 §3.4, RFC 2617 §3.2.2).
///
/// - `method`: the request method (RFC 7616 §3.4.3 A2).
/// - `digest_uri`: the Request-URI, verbatim (RFC 3261 §22.4 item 3).
/// - `body`: the message body, hashed only for `qop=auth-int` (RFC 8760 §2.6
///   item 7: an empty body hashes as `H("")`).
/// - `cnonce`: the client nonce, printable ASCII without quote or backslash;
///   see [`cnonce`]. Unused when the challenge offers no qop.
/// - `nc`: how many requests, this one included, used this nonce (from 1).
///
/// When the challenge offers `auth`, it is chosen over `auth-int`: proxies may
/// legitimately rewrite bodies (RFC 3261 §16.6), which would break auth-int.
/// Without any qop in the challenge, the RFC 2069 form is sent (RFC 2617
/// §3.2.2.1) and `cnonce`/`nc` are not used: RFC 3261 §22.4 item 8. RFC 8760
/// §2.6 item 8 reads a missing qop as `auth`, but RFC 2617 §3.2.2 lets the
/// client send only a qop "the server indicated it supports", and a server
/// that sends none predates both and checks the RFC 2069 form.
pub(crate) fn authorize(
    ch: &Challenge,
    creds: &Credentials,
    method: &str,
    digest_uri: &str,
    body: &[u8],
    cnonce: &str,
    nc: u32,
) -> Result<String, AuthError> {
    let hash = ch
        .algorithm
        .hash()
        .ok_or_else(|| AuthError::UnsupportedAlgorithm {
            algorithm: ch.algorithm.as_str().to_owned(),
        })?;
    let qop = ch.preferred_qop()?;
    if ch.algorithm.is_session() && qop.is_none() {
        return Err(AuthError::SessionWithoutQop);
    }
    if creds.username.chars().any(|c| c.is_control() && c != '\t') {
        return Err(AuthError::UnwritableValue { field: "username" });
    }
    // Challenge fields are public: a line break put there after parsing
    // (the parser refuses them) would split the header.
    for (field, value) in [
        ("realm", ch.realm.as_str()),
        ("nonce", ch.nonce.as_str()),
        ("opaque", ch.opaque.as_deref().unwrap_or_default()),
    ] {
        if value.contains(['\r', '\n']) {
            return Err(AuthError::UnwritableValue { field });
        }
    }
    if method.is_empty() || !method.bytes().all(challenge::is_token_byte) {
        return Err(AuthError::UnwritableValue { field: "method" });
    }
    if digest_uri.is_empty()
        || digest_uri
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '"')
    {
        return Err(AuthError::UnwritableValue { field: "uri" });
    }
    if qop.is_some() {
        if nc == 0 {
            return Err(AuthError::InvalidNonceCount);
        }
        if cnonce.is_empty()
            || !cnonce
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        {
            return Err(AuthError::InvalidCnonce);
        }
    }

    let ha1 = ha1(hash, &creds.username, &ch.realm, &creds.password);
    let nc_value = format!("{nc:08x}");
    let response = response(
        hash,
        &ch.algorithm,
        &ha1,
        &ResponseInputs {
            nonce: &ch.nonce,
            nc: &nc_value,
            cnonce,
            qop: qop.as_ref(),
            method,
            digest_uri,
            body,
        },
    );

    // RFC 3261 §25.1 `digest-response`; `uri` quoted (§22.4 item 2), qop,
    // algorithm and nc unquoted.
    let mut out = String::with_capacity(256);
    out.push_str("Digest username=");
    push_quoted(&mut out, &creds.username);
    out.push_str(", realm=");
    push_quoted(&mut out, &ch.realm);
    out.push_str(", nonce=");
    push_quoted(&mut out, &ch.nonce);
    out.push_str(", uri=");
    push_quoted(&mut out, digest_uri);
    out.push_str(", response=\"");
    out.push_str(&response);
    out.push_str("\", algorithm=");
    out.push_str(ch.algorithm.as_str());
    if let Some(q) = &qop {
        out.push_str(", cnonce=\"");
        out.push_str(cnonce);
        out.push_str("\", qop=");
        out.push_str(q.as_str());
        out.push_str(", nc=");
        out.push_str(&nc_value);
    }
    if let Some(opaque) = &ch.opaque {
        // RFC 7616 §3.4: opaque is returned unchanged.
        out.push_str(", opaque=");
        push_quoted(&mut out, opaque);
    }
    Ok(out)
}

/// RFC 7616 §3.4.2: H(A1) for the non-`-sess` algorithms, A1 =
/// unq(username) ":" unq(realm) ":" passwd. This is what a users file stores
/// (see [`server`]), so the password itself never needs to be kept.
pub(crate) fn ha1(hash: Hash, username: &str, realm: &str, password: &str) -> String {
    hash.hex(&[
        username.as_bytes(),
        b":",
        realm.as_bytes(),
        b":",
        password.as_bytes(),
    ])
}

/// The per-request inputs of the response computation.
pub(crate) struct ResponseInputs<'a> {
    pub(crate) nonce: &'a str,
    /// The nonce count as the 8 hex digits sent on the wire.
    pub(crate) nc: &'a str,
    pub(crate) cnonce: &'a str,
    pub(crate) qop: Option<&'a Qop>,
    pub(crate) method: &'a str,
    pub(crate) digest_uri: &'a str,
    pub(crate) body: &'a [u8],
}

/// The `response` value from H(A1) of the plain algorithm, used by both the
/// client ([`authorize`]) and the server ([`server::Verifier`]).
pub(crate) fn response(
    hash: Hash,
    algorithm: &Algorithm,
    ha1: &str,
    r: &ResponseInputs<'_>,
) -> String {
    // RFC 7616 §3.4.2: for -sess, A1 = H(unq(username) ":" unq(realm) ":"
    // passwd) ":" unq(nonce-prime) ":" unq(cnonce-prime).
    let ha1 = if algorithm.is_session() {
        hash.hex(&[
            ha1.as_bytes(),
            b":",
            r.nonce.as_bytes(),
            b":",
            r.cnonce.as_bytes(),
        ])
    } else {
        ha1.to_owned()
    };
    // RFC 7616 §3.4.3: A2 = Method ":" request-uri [":" H(entity-body)].
    let ha2 = match r.qop {
        Some(Qop::AuthInt) => {
            let body_hash = hash.hex(&[r.body]);
            hash.hex(&[
                r.method.as_bytes(),
                b":",
                r.digest_uri.as_bytes(),
                b":",
                body_hash.as_bytes(),
            ])
        }
        _ => hash.hex(&[r.method.as_bytes(), b":", r.digest_uri.as_bytes()]),
    };
    // RFC 7616 §3.4.1 (with qop); RFC 2617 §3.2.2.1 (RFC 2069 form, without).
    match r.qop {
        Some(q) => hash.hex(&[
            ha1.as_bytes(),
            b":",
            r.nonce.as_bytes(),
            b":",
            r.nc.as_bytes(),
            b":",
            r.cnonce.as_bytes(),
            b":",
            q.as_str().as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
        None => hash.hex(&[
            ha1.as_bytes(),
            b":",
            r.nonce.as_bytes(),
            b":",
            ha2.as_bytes(),
        ]),
    }
}

/// A fresh client nonce: 16 random bytes as 32 lowercase hex digits.
///
/// RFC 7616 §3.4: the cnonce "SHOULD be random"; hex keeps it a safe
/// quoted-string without escapes.
pub(crate) fn cnonce(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    to_hex(&bytes)
}

/// One nonce in use: the challenge, our client nonce and the nonce count,
/// so that successive requests (RFC 3261 §22.3: later requests of the same
/// Call-ID) send `nc=00000001`, `00000002`, … with the same cnonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSession {
    challenge: Challenge,
    cnonce: String,
    nc: u32,
}

impl DigestSession {
    /// Starts answering `challenge` with a cnonce drawn from `rng`.
    pub fn new(challenge: Challenge, rng: &mut impl RngCore) -> Self {
        Self::with_cnonce(challenge, cnonce(rng))
    }

    /// Starts answering `challenge` with a given cnonce (tests, replays).
    pub fn with_cnonce(challenge: Challenge, cnonce: String) -> Self {
        Self {
            challenge,
            cnonce,
            nc: 0,
        }
    }

    /// The challenge being answered.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The nonce count the last [`DigestSession::authorize`] used (0 before the first).
    pub fn nonce_count(&self) -> u32 {
        self.nc
    }

    /// The header value for the next request, counting it.
    pub fn authorize(
        &mut self,
        creds: &Credentials,
        method: &str,
        digest_uri: &str,
        body: &[u8],
    ) -> Result<String, AuthError> {
        let nc = self.nc.checked_add(1).ok_or(AuthError::InvalidNonceCount)?;
        let value = authorize(
            &self.challenge,
            creds,
            method,
            digest_uri,
            body,
            &self.cnonce,
            nc,
        )?;
        self.nc = nc;
        Ok(value)
    }
}

/// The hash functions of the RFC 7616 §6.1 registry that we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Md5,
    Sha256,
    Sha512_256,
}

impl Hash {
    /// Hashes the concatenation of `parts`, as lowercase hex (RFC 8760 §2.2).
    pub(crate) fn hex(self, parts: &[&[u8]]) -> String {
        match self {
            Self::Md5 => digest_hex::<Md5>(parts),
            Self::Sha256 => digest_hex::<Sha256>(parts),
            Self::Sha512_256 => digest_hex::<Sha512_256>(parts),
        }
    }
}

fn digest_hex<D: Digest>(parts: &[&[u8]]) -> String {
    let mut d = D::new();
    for p in parts {
        d.update(p);
    }
    to_hex(&d.finalize())
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Writes `value` as an RFC 3261 §25.1 quoted-string, escaping `"` and `\`.
/// Other ASCII controls (which a challenge may carry as quoted-pairs) are
/// escaped too, since qdtext cannot hold them; CR and LF never get here.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' || (c.is_ascii_control() && c != '\t') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
