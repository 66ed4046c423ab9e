//! RFC 3261 §10.2: one contact kept registered at one registrar, sans-IO.
//!
//! [`Registration`] decides what to send and when; the caller sends it (the
//! gateway's trunk task, through the endpoint) and hands the final response
//! or the transport error back. Time is an argument, so tests run it in
//! virtual time like `transaction/`.
//!
//! What it does:
//! - one Call-ID for every REGISTER, the CSeq one higher each time (§10.2:
//!   "A UA MUST increment the CSeq value by one for each REGISTER request
//!   with the same Call-ID"; §10.2.4: "the same Call-ID for all
//!   registrations during a single boot cycle");
//! - the binding's lifetime is read from the 2xx, the `expires` parameter of
//!   our own Contact or else the Expires header field (§10.2.4), and the
//!   refresh goes out before it ends;
//! - 423 is retried once with the Min-Expires value (§10.2.8);
//! - a 401/407 is answered with digest credentials (§22.2, §22.3, RFC 7616,
//!   RFC 8760): a fresh challenge once per attempt, a `stale=true` one
//!   again (RFC 7616 §3.3), any other a second time means the credentials
//!   were refused;
//! - every other failure waits with exponential backoff and jitter, at
//!   least a Retry-After (§20.33);
//! - [`Registration::stop`] removes the binding with Expires 0 (§10.2.2).

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::auth::{self, ChallengeHeader, Credentials, DigestSession};
use crate::wire::header::Address;

#[cfg(test)]
mod tests;

/// What a registration is set up with.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    /// The Request-URI, the registrar (§10.2: "names the domain of the
    /// location service"); also the digest `uri` (§22.4 item 3).
    pub request_uri: String,
    /// Our Contact URI, without `<>`: how the 2xx's bindings are matched.
    pub contact: String,
    /// The lifetime asked for, seconds (§10.2.1.1).
    pub expires: u32,
    /// The first wait after a failure; it doubles with each failure in a row.
    pub backoff_min: Duration,
    /// The longest wait after failures.
    pub backoff_max: Duration,
}

/// The REGISTER to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    /// The CSeq number (method REGISTER).
    pub cseq: u32,
    /// The Expires header field value; 0 removes the binding (§10.2.2).
    pub expires: u32,
    /// Authorization or Proxy-Authorization, with its value.
    pub authorization: Option<(&'static str, String)>,
}

/// The parts of a final response the registration reads.
#[derive(Debug, Clone, Default)]
pub struct RegisterResponse {
    /// The status code.
    pub status: u16,
    /// Each Contact header field value as received (several bindings each).
    pub contacts: Vec<String>,
    /// The Expires header field.
    pub expires: Option<String>,
    /// The Min-Expires header field (423, §20.23).
    pub min_expires: Option<String>,
    /// The Retry-After header field (§20.33).
    pub retry_after: Option<String>,
    /// Each WWW-Authenticate (401) or Proxy-Authenticate (407) value.
    pub challenges: Vec<String>,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// No final response: a timeout or a transport error (its kind).
    #[error("registrar unreachable ({0})")]
    Unreachable(&'static str),
    /// A final response other than 2xx, 401, 407 or a usable 423.
    #[error("registrar refused with {0}")]
    Refused(u16),
    /// The answer to a challenge was challenged again without `stale=true`:
    /// the username or password is wrong (RFC 7616 §3.3).
    #[error("registrar refused the credentials")]
    CredentialsRefused,
    /// A 401/407 without a challenge we can answer (RFC 8760 §2.4).
    #[error("registrar's challenge cannot be answered")]
    UnusableChallenge,
    /// A 423 without a Min-Expires above what was asked (§10.2.8).
    #[error("registrar wants a longer interval but says none usable")]
    IntervalTooBrief,
    /// A 2xx that does not keep our binding (its expires is 0).
    #[error("registrar answered 2xx without keeping the binding")]
    NotBound,
}

impl RegisterError {
    /// A short stable name for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "unreachable",
            Self::Refused(_) => "refused",
            Self::CredentialsRefused => "credentials_refused",
            Self::UnusableChallenge => "unusable_challenge",
            Self::IntervalTooBrief => "interval_too_brief",
            Self::NotBound => "not_bound",
        }
    }
}

/// What a response or error did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The binding holds for `expires` seconds; the refresh is due in `refresh_in`.
    Registered {
        /// The lifetime granted.
        expires: u32,
        /// When the refresh goes out.
        refresh_in: Duration,
    },
    /// A challenge or a 423 is answered: the next request is due now.
    Retrying,
    /// The attempt failed; the next one is due in `retry_in`.
    Failed {
        /// Why.
        error: RegisterError,
        /// The wait before the next attempt (none after [`Registration::stop`]).
        retry_in: Option<Duration>,
    },
    /// The binding is removed (or removal was given up): nothing more to send.
    Unregistered,
}

/// One REGISTER exchange, with what was answered in it.
#[derive(Debug, Clone, Default)]
struct Attempt {
    /// A challenge without `stale=true` has been answered in this attempt.
    answered: bool,
    /// `stale=true` challenges answered in this attempt.
    stale_answers: u8,
    /// The interval was raised after a 423 in this attempt.
    raised: bool,
}

/// `stale=true` answers per attempt: a registrar that keeps calling fresh
/// nonces stale is not waited on forever.
const MAX_STALE_ANSWERS: u8 = 2;
/// The longest Retry-After honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// One contact's registration at one registrar (RFC 3261 §10.2).
#[derive(Debug)]
pub struct Registration {
    config: RegisterConfig,
    credentials: Credentials,
    call_id: String,
    /// The CSeq of the last request sent.
    cseq: u32,
    /// The interval asked for (raised by a 423).
    expires: u32,
    /// The challenge answered last, used for the next request too
    /// (RFC 3261 §22.3: "in all subsequent requests that contain the same
    /// Call-ID").
    digest: Option<(ChallengeHeader, DigestSession)>,
    attempt: Option<Attempt>,
    /// A request is out and its outcome not yet reported.
    awaiting: bool,
    /// When the next request is due; `None` once stopped.
    next: Option<Instant>,
    /// The binding holds until then, as far as the last 2xx said.
    registered_until: Option<Instant>,
    /// The last 2xx's binding end, kept across failed refreshes: the
    /// registrar may still hold the binding, so `stop` removes it.
    granted_until: Option<Instant>,
    failures: u32,
    stopping: bool,
    rng: StdRng,
}

impl Registration {
    /// A registration whose first REGISTER is due at `now`; `seed` drives
    /// the client nonces and the backoff jitter.
    pub fn new(
        config: RegisterConfig,
        credentials: Credentials,
        call_id: String,
        now: Instant,
        seed: u64,
    ) -> Self {
        Self {
            expires: config.expires,
            config,
            credentials,
            call_id,
            cseq: 0,
            digest: None,
            attempt: None,
            awaiting: false,
            next: Some(now),
            registered_until: None,
            granted_until: None,
            failures: 0,
            stopping: false,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The Call-ID every REGISTER carries.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Whether the last REGISTER succeeded and its binding has not run out.
    pub fn is_registered(&self, now: Instant) -> bool {
        self.registered_until.is_some_and(|until| now < until)
    }

    /// When the binding runs out, as far as the last 2xx said (while registered).
    pub fn binding_ends(&self) -> Option<Instant> {
        self.registered_until
    }

    /// When [`Registration::poll`] next has something to send; `None`
    /// while a request is out or after stopping.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if self.awaiting { None } else { self.next }
    }

    /// The REGISTER due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<RegisterRequest> {
        if self.awaiting || self.next.is_none_or(|at| at > now) {
            return None;
        }
        // After `stop`, only an answer to a challenge of the removal is due.
        let expires = if self.stopping { 0 } else { self.expires };
        self.send(expires)
    }

    /// Removes the binding (§10.2.2): the Expires 0 request to send, when a
    /// binding may exist (a 2xx granted one that has not run out, even if
    /// refreshes failed since, or a REGISTER is out). Afterwards
    /// nothing else is sent; the answer comes to [`Registration::on_response`].
    pub fn stop(&mut self, now: Instant) -> Option<RegisterRequest> {
        if self.stopping {
            return None;
        }
        self.stopping = true;
        let maybe_bound = self.granted_until.is_some_and(|until| now < until) || self.awaiting;
        self.registered_until = None;
        if !maybe_bound {
            self.next = None;
            return None;
        }
        // The removal is a new exchange: a challenge to it is answered afresh.
        self.attempt = None;
        self.send(0)
    }

    /// The CSeq the final response carries: one the endpoint raised (it
    /// answered a challenge itself) moves ours up, so the next is higher still.
    pub fn note_cseq(&mut self, cseq: u32) {
        self.cseq = self.cseq.max(cseq);
    }

    /// A final response to the last request.
    pub fn on_response(&mut self, now: Instant, response: &RegisterResponse) -> Event {
        self.awaiting = false;
        match response.status {
            200..=299 if self.stopping => self.unregistered(),
            200..=299 => self.registered(now, response),
            401 | 407 => self.challenged(now, response),
            423 if !self.stopping => {
                let min = response
                    .min_expires
                    .as_deref()
                    .and_then(|v| v.trim().parse::<u32>().ok());
                let attempt = self.attempt.get_or_insert_with(Attempt::default);
                match min {
                    // §10.2.8: "equal to or greater than" the Min-Expires value.
                    Some(min) if min > self.expires && !attempt.raised => {
                        attempt.raised = true;
                        self.expires = min;
                        self.next = Some(now);
                        Event::Retrying
                    }
                    _ => self.failed(now, RegisterError::IntervalTooBrief, None),
                }
            }
            status => {
                let retry_after = response
                    .retry_after
                    .as_deref()
                    .and_then(|v| v.split([';', '(', ' ']).next()?.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                self.failed(now, RegisterError::Refused(status), retry_after)
            }
        }
    }

    /// No final response to the last request: `kind` names the timeout or
    /// transport error.
    pub fn on_error(&mut self, now: Instant, kind: &'static str) -> Event {
        self.awaiting = false;
        self.failed(now, RegisterError::Unreachable(kind), None)
    }

    fn send(&mut self, expires: u32) -> Option<RegisterRequest> {
        let cseq = self.cseq.checked_add(1)?;
        let authorization = match &mut self.digest {
            Some((header, session)) => match session.authorize(
                &self.credentials,
                "REGISTER",
                &self.config.request_uri,
                b"",
            ) {
                Ok(value) => Some((header.answer_name(), value)),
                // The nonce count ran out: send without, and be challenged.
                Err(_) => {
                    self.digest = None;
                    None
                }
            },
            None => None,
        };
        self.cseq = cseq;
        self.attempt.get_or_insert_with(Attempt::default);
        self.awaiting = true;
        Some(RegisterRequest {
            cseq,
            expires,
            authorization,
        })
    }

    fn registered(&mut self, now: Instant, response: &RegisterResponse) -> Event {
        // §10.2.4: our own binding's expires parameter, else the Expires
        // header field; a registrar saying neither keeps what was asked.
        let expires = own_binding_expires(&response.contacts, &self.config.contact)
            .or_else(|| response.expires.as_deref()?.trim().parse().ok())
            .unwrap_or(self.expires);
        if expires == 0 {
            return self.failed(now, RegisterError::NotBound, None);
        }
        let lifetime = Duration::from_secs(u64::from(expires));
        let refresh_in = refresh_after(lifetime);
        self.attempt = None;
        self.failures = 0;
        self.registered_until = Some(now + lifetime);
        self.granted_until = self.registered_until;
        self.next = Some(now + refresh_in);
        Event::Registered {
            expires,
            refresh_in,
        }
    }

    fn challenged(&mut self, now: Instant, response: &RegisterResponse) -> Event {
        let Some(header) = ChallengeHeader::for_status(response.status) else {
            return self.failed(now, RegisterError::Refused(response.status), None);
        };
        let challenges: Vec<auth::Challenge> = response
            .challenges
            .iter()
            .filter_map(|v| auth::Challenge::parse(v).ok())
            .collect();
        // RFC 8760 §2.4 allows a local policy; the strongest hash guards
        // against the downgrade of RFC 8760 §3.
        let Some(challenge) = auth::choose_strongest(&challenges).cloned() else {
            return self.failed(now, RegisterError::UnusableChallenge, None);
        };
        let attempt = self.attempt.get_or_insert_with(Attempt::default);
        if attempt.answered {
            // RFC 7616 §3.3: stale=true means the nonce, not the password,
            // was refused: "retry the request with a new encrypted response".
            if !challenge.stale || attempt.stale_answers >= MAX_STALE_ANSWERS {
                self.digest = None;
                return self.failed(now, RegisterError::CredentialsRefused, None);
            }
            attempt.stale_answers += 1;
        }
        attempt.answered = true;
        self.digest = Some((header, DigestSession::new(challenge, &mut self.rng)));
        self.next = Some(now);
        Event::Retrying
    }

    fn failed(
        &mut self,
        now: Instant,
        error: RegisterError,
        retry_after: Option<Duration>,
    ) -> Event {
        self.attempt = None;
        self.registered_until = None;
        if self.stopping {
            self.next = None;
            return Event::Failed {
                error,
                retry_in: None,
            };
        }
        self.failures = self.failures.saturating_add(1);
        let backoff = self.backoff();
        let retry_in = retry_after.map_or(backoff, |r| r.max(backoff));
        self.next = Some(now + retry_in);
        Event::Failed {
            error,
            retry_in: Some(retry_in),
        }
    }

    fn unregistered(&mut self) -> Event {
        self.attempt = None;
        self.registered_until = None;
        self.granted_until = None;
        self.next = None;
        Event::Unregistered
    }

    /// `backoff_min` doubled per failure in a row up to `backoff_max`, then
    /// a uniform draw from its upper half, so that gateways that lost the
    /// same registrar do not come back in step.
    fn backoff(&mut self) -> Duration {
        let min = self.config.backoff_min.max(Duration::from_millis(1));
        let max = self.config.backoff_max.max(min);
        let doublings = self.failures.saturating_sub(1).min(30);
        let full = min.saturating_mul(1u32 << doublings).min(max);
        let half = full / 2;
        let jitter = self
            .rng
            .random_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        half + Duration::from_millis(jitter)
    }
}

/// When to refresh a binding granted for `lifetime`: half-way, but never
/// more than ten minutes before it runs out (§10.2.4: "before the
/// expiration interval has elapsed").
fn refresh_after(lifetime: Duration) -> Duration {
    let margin = (lifetime / 2).min(Duration::from_secs(600));
    lifetime - margin
}

/// The `expires` parameter of our own binding among a 2xx's Contact values,
/// compared as URIs are (§19.1.4, in part: scheme and host without case).
fn own_binding_expires(contacts: &[String], ours: &str) -> Option<u32> {
    contacts
        .iter()
        .flat_map(|value| split_contacts(value))
        .filter_map(|c| Address::parse(c).ok())
        .find(|a| same_uri(&a.uri_text, ours))?
        .param("expires")?
        .trim()
        .parse()
        .ok()
}

/// Splits a Contact value at the commas between bindings (not inside quotes or `<>`).
pub fn split_contacts(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quoted, mut angle, mut escaped, mut start) = (false, false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.retain(|p| !p.is_empty());
    parts
}

/// Two SIP URIs name the same binding: equal, with the scheme and the
/// host part compared without case (§19.1.4); the user part keeps its case.
pub fn same_uri(a: &str, b: &str) -> bool {
    let split = |u: &str| -> (String, String, String) {
        let (scheme, rest) = u.split_once(':').unwrap_or(("", u));
        let (user, host) = match rest.rsplit_once('@') {
            Some((user, host)) => (user.to_owned(), host.to_ascii_lowercase()),
            None => (String::new(), rest.to_ascii_lowercase()),
        };
        (scheme.to_ascii_lowercase(), user, host)
    };
    split(a) == split(b)
}
