//! RFC 3261 §22.1–§22.3, RFC 7616, RFC 8760 on the server side: challenging
//! a request and checking the credentials that answer the challenge.
//!
//! Pure code: the clock (`now`, seconds on any monotonic-enough scale the
//! caller keeps, e.g. Unix time) and the RNG are arguments.
//!
//! Nonces are stateless until used: a nonce is
//! `hex(issued) hex(random) hex(HMAC-SHA-256(key, issued ‖ random)[..16])`,
//! so a forged one or one with a changed issue time is recognised without a
//! table, and its age gives RFC 7616 §3.3's `stale=true`. A nonce enters the
//! table only once credentials built on it check out; from then on each
//! request must raise the nonce count (RFC 7616 §3.4: "if the same nc value
//! is seen twice, then the request is a replay"). The table is bounded: when
//! full, expired nonces go first, then the oldest; every nonce issued up to
//! the oldest one evicted is then answered `stale=true` (the client retries
//! with a fresh nonce, never with a replayable one).
//!
//! Policy: `qop=auth` only (RFC 8760 §2.6 item 8: "A UAS MUST always send a
//! "qop" parameter"; without one there is no nonce count, so no replay
//! check), algorithms SHA-256 and MD5 offered in that order (RFC 8760 §2.3).

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::challenge::digest_params;
use super::{Algorithm, AuthError, Hash, Qop, ResponseInputs, to_hex};

/// The H(A1) values of one user for the algorithms we offer (RFC 7616
/// §3.4.2: H(unq(username) ":" unq(realm) ":" passwd)), lowercase hex.
#[derive(Clone, PartialEq, Eq)]
pub struct UserHashes {
    /// MD5 H(A1), 32 hex digits.
    pub md5: String,
    /// SHA-256 H(A1), 64 hex digits.
    pub sha256: String,
}

impl std::fmt::Debug for UserHashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserHashes(***)")
    }
}

impl UserHashes {
    /// Hashes a password for `username` in `realm`.
    pub fn from_password(username: &str, realm: &str, password: &str) -> Self {
        Self {
            md5: super::ha1(Hash::Md5, username, realm, password),
            sha256: super::ha1(Hash::Sha256, username, realm, password),
        }
    }

    fn for_algorithm(&self, algorithm: &Algorithm) -> Option<(Hash, &str)> {
        match algorithm {
            Algorithm::Md5 => Some((Hash::Md5, &self.md5)),
            Algorithm::Sha256 => Some((Hash::Sha256, &self.sha256)),
            _ => None,
        }
    }
}

/// Why credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The header does not follow RFC 3261 §25.1 `credentials`, or lacks a
    /// parameter `dig-resp` needs.
    #[error("malformed credentials: {0}")]
    Malformed(AuthError),
    /// The credentials are for another protection space.
    #[error("credentials for realm {0:?}")]
    WrongRealm(String),
    /// An algorithm we did not offer (only SHA-256 and MD5 are).
    #[error("algorithm {0:?} was not offered")]
    UnsupportedAlgorithm(String),
    /// No `qop=auth`: without it there is no nonce count to check.
    #[error("qop=auth is required")]
    QopRequired,
    /// No such user.
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    /// The nonce was not issued by us (its MAC does not check).
    #[error("nonce was not issued here")]
    ForgedNonce,
    /// The digest is wrong: wrong password, or a tampered request.
    #[error("wrong response for user {0:?}")]
    WrongResponse(String),
    /// Right digest, but the nonce expired (or was evicted): answer with
    /// `stale=true` (RFC 7616 §3.3).
    #[error("stale nonce")]
    Stale,
    /// The nonce count did not increase: a replayed request.
    #[error("replayed nonce count")]
    Replay,
}

impl Refusal {
    /// A short stable name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::WrongRealm(_) => "wrong_realm",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::QopRequired => "qop_required",
            Self::UnknownUser(_) => "unknown_user",
            Self::ForgedNonce => "forged_nonce",
            Self::WrongResponse(_) => "wrong_response",
            Self::Stale => "stale",
            Self::Replay => "replay",
        }
    }

    /// Whether the new challenge should say `stale=true`.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale)
    }
}

/// Credentials that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The username, as sent.
    pub username: String,
    /// The algorithm the client chose.
    pub algorithm: Algorithm,
    /// The `uri` parameter (RFC 8760 §2.6 item 6: the caller decides whether
    /// it names a user it serves; it MAY differ from the Request-URI).
    pub uri: String,
}

/// The parameters of a `Digest` Authorization / Proxy-Authorization value
/// (RFC 3261 §25.1 `dig-resp`), unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (digest-uri).
    pub uri: String,
    /// `response`, lowercased.
    pub response: String,
    /// `algorithm`; MD5 when absent (RFC 7616 §3.4).
    pub algorithm: Algorithm,
    /// `cnonce`, empty when absent.
    pub cnonce: String,
    /// `qop`, if any.
    pub qop: Option<Qop>,
    /// `nc` as sent (8 hex digits), empty when absent.
    pub nc: String,
}

impl DigestResponse {
    /// Parses a header field value.
    pub fn parse(header_value: &str) -> Result<Self, AuthError> {
        let mut params = digest_params(header_value)?;
        let mut take = |name: &'static str| {
            params
                .iter()
                .position(|(n, _)| n == name)
                .map(|i| params.swap_remove(i).1)
        };
        let need =
            |v: Option<String>, name: &'static str| v.ok_or(AuthError::MissingParameter { name });
        Ok(Self {
            username: need(take("username"), "username")?,
            realm: need(take("realm"), "realm")?,
            nonce: need(take("nonce"), "nonce")?,
            uri: need(take("uri"), "uri")?,
            response: need(take("response"), "response")?.to_ascii_lowercase(),
            algorithm: take("algorithm").map_or(Algorithm::Md5, |a| Algorithm::parse(&a)),
            cnonce: take("cnonce").unwrap_or_default(),
            qop: take("qop").map(|q| Qop::parse(&q)),
            nc: take("nc").unwrap_or_default(),
        })
    }

    /// The response the client should have sent, given the user's H(A1)
    /// for its algorithm and the request method (RFC 7616 §3.4.1).
    pub fn expected(&self, hashes: &UserHashes, method: &str) -> Option<String> {
        let (hash, ha1) = hashes.for_algorithm(&self.algorithm)?;
        Some(super::response(
            hash,
            &self.algorithm,
            ha1,
            &ResponseInputs {
                nonce: &self.nonce,
                nc: &self.nc,
                cnonce: &self.cnonce,
                qop: self.qop.as_ref(),
                method,
                digest_uri: &self.uri,
                body: &[],
            },
        ))
    }
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    issued: u64,
    nc: u32,
}

/// Issues challenges for one realm and checks the answers.
#[derive(Debug)]
pub struct Verifier {
    realm: String,
    key: [u8; 32],
    lifetime: u64,
    capacity: usize,
    seen: HashMap<String, Seen>,
    /// Untracked nonces issued at or before this time are answered stale.
    evicted_through: Option<u64>,
    /// The algorithms challenged with and accepted, most preferred first.
    algorithms: Vec<Algorithm>,
}

/// How many used nonces a [`Verifier`] remembers by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

impl Verifier {
    /// A verifier for `realm`; `key` signs nonces (draw it at random at
    /// start: nonces from before a restart then read as forged, and the
    /// client is challenged again); nonces older than `lifetime` are stale.
    pub fn new(realm: impl Into<String>, key: [u8; 32], lifetime: Duration) -> Self {
        Self {
            realm: realm.into(),
            key,
            lifetime: lifetime.as_secs(),
            capacity: DEFAULT_CAPACITY,
            seen: HashMap::new(),
            evicted_through: None,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
        }
    }

    /// Challenges with, and accepts, only `algorithms`, in this order of
    /// preference (RFC 8760 §2.3). Default: SHA-256, then MD5. Operators
    /// narrow it for phones that answer only the topmost challenge although
    /// RFC 8760 §2.4 says a client "MUST ignore any challenge it does not
    /// understand" (sipp 3.6 answers a topmost SHA-256 challenge with an
    /// error), or to drop MD5, which RFC 8760 §3 does not recommend.
    ///
    /// # Errors
    /// An empty list, a repeated algorithm (§2.3: each header field "MUST
    /// use a different digest algorithm"), or one other than MD5 and SHA-256.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Result<Self, AuthError> {
        let supported = |a: &Algorithm| matches!(a, Algorithm::Md5 | Algorithm::Sha256);
        let distinct = algorithms
            .iter()
            .enumerate()
            .all(|(i, a)| !algorithms[..i].contains(a));
        match algorithms.iter().find(|a| !supported(a)) {
            Some(a) => Err(AuthError::UnsupportedAlgorithm {
                algorithm: a.as_str().to_owned(),
            }),
            None if algorithms.is_empty() || !distinct => Err(AuthError::UnsupportedAlgorithm {
                algorithm: "an empty or repeated list".to_owned(),
            }),
            None => {
                self.algorithms = algorithms.to_vec();
                Ok(self)
            }
        }
    }

    /// Bounds the table of used nonces (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The protection space.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// How many used nonces are remembered.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    fn mac(&self, issued: u64, random: &[u8; 8]) -> String {
        // A 32-byte key is always a valid HMAC key.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(&issued.to_be_bytes());
        mac.update(random);
        let tag = mac.finalize().into_bytes();
        to_hex(&tag[..16])
    }

    /// A fresh nonce issued at `now`.
    pub fn nonce(&self, now: u64, rng: &mut impl RngCore) -> String {
        let mut random = [0u8; 8];
        rng.fill_bytes(&mut random);
        format!(
            "{}{}{}",
            to_hex(&now.to_be_bytes()),
            to_hex(&random),
            self.mac(now, &random)
        )
    }

    /// The issue time of a nonce of ours, or `None` if we did not issue it.
    fn issued(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != 64 || !nonce.is_ascii() {
            return None;
        }
        let issued = u64::from_str_radix(&nonce[..16], 16).ok()?;
        let mut random = [0u8; 8];
        for (i, b) in random.iter_mut().enumerate() {
            *b = u8::from_str_radix(&nonce[16 + 2 * i..18 + 2 * i], 16).ok()?;
        }
        let mac = self.mac(issued, &random);
        constant_time_eq(mac.as_bytes(), &nonce.as_bytes()[32..]).then_some(issued)
    }

    /// The WWW-Authenticate / Proxy-Authenticate values for a challenge:
    /// one per algorithm, most preferred first (RFC 8760 §2.3: "in the order
    /// in which it would prefer to see them used"; by default SHA-256, then
    /// MD5), one nonce, `qop="auth"`.
    pub fn challenges(&self, now: u64, rng: &mut impl RngCore, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now, rng);
        let mut realm = String::new();
        super::push_quoted(&mut realm, &self.realm);
        let stale = if stale { ", stale=true" } else { "" };
        self.algorithms
            .iter()
            .map(|alg| {
                let alg = alg.as_str();
                format!(
                    "Digest realm={realm}, nonce=\"{nonce}\", algorithm={alg}, qop=\"auth\"{stale}"
                )
            })
            .collect()
    }

    /// Checks the value of an Authorization / Proxy-Authorization header
    /// field for a request with `method`. `lookup` gives a user's hashes.
    pub fn verify(
        &mut self,
        header_value: &str,
        method: &str,
        now: u64,
        lookup: impl FnOnce(&str) -> Option<UserHashes>,
    ) -> Result<Authenticated, Refusal> {
        let d = DigestResponse::parse(header_value).map_err(Refusal::Malformed)?;
        if d.realm != self.realm {
            return Err(Refusal::WrongRealm(d.realm));
        }
        if !self.algorithms.contains(&d.algorithm) {
            return Err(Refusal::UnsupportedAlgorithm(
                d.algorithm.as_str().to_owned(),
            ));
        }
        if d.qop != Some(Qop::Auth) {
            return Err(Refusal::QopRequired);
        }
        // RFC 7616 §3.4: nc is 8LHEX.
        let nc = (d.nc.len() == 8)
            .then(|| u32::from_str_radix(&d.nc, 16).ok())
            .flatten()
            .filter(|n| *n > 0)
            .ok_or(Refusal::Malformed(AuthError::InvalidNonceCount))?;
        if d.cnonce.is_empty() {
            return Err(Refusal::Malformed(AuthError::InvalidCnonce));
        }
        let issued = self.issued(&d.nonce).ok_or(Refusal::ForgedNonce)?;
        let hashes = lookup(&d.username).ok_or_else(|| Refusal::UnknownUser(d.username.clone()))?;
        let expected = d
            .expected(&hashes, method)
            .ok_or_else(|| Refusal::UnsupportedAlgorithm(d.algorithm.as_str().to_owned()))?;
        if !constant_time_eq(expected.as_bytes(), d.response.as_bytes()) {
            return Err(Refusal::WrongResponse(d.username));
        }
        // RFC 7616 §3.3: stale only for "a valid digest for that nonce".
        if now.saturating_sub(issued) > self.lifetime {
            self.seen.remove(&d.nonce);
            return Err(Refusal::Stale);
        }
        match self.seen.get_mut(&d.nonce) {
            Some(seen) if nc <= seen.nc => return Err(Refusal::Replay),
            Some(seen) => seen.nc = nc,
            None => {
                if self.evicted_through.is_some_and(|t| issued <= t) {
                    return Err(Refusal::Stale);
                }
                self.make_room(now);
                self.seen.insert(d.nonce.clone(), Seen { issued, nc });
            }
        }
        Ok(Authenticated {
            username: d.username,
            algorithm: d.algorithm,
            uri: d.uri,
        })
    }

    /// Drops the used nonces that have expired.
    pub fn forget_expired(&mut self, now: u64) {
        let lifetime = self.lifetime;
        self.seen
            .retain(|_, s| now.saturating_sub(s.issued) <= lifetime);
    }

    fn make_room(&mut self, now: u64) {
        if self.seen.len() < self.capacity {
            return;
        }
        self.forget_expired(now);
        while self.seen.len() >= self.capacity {
            let Some((oldest, issued)) = self
                .seen
                .iter()
                .min_by_key(|(_, s)| s.issued)
                .map(|(n, s)| (n.clone(), s.issued))
            else {
                break;
            };
            self.seen.remove(&oldest);
            self.evicted_through = Some(self.evicted_through.map_or(issued, |t| t.max(issued)));
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
