//! Parley as the phones' registrar (RFC 3261 §10.3), for deployments
//! without a SIP proxy; issue 22 item 4.
//!
//! - REGISTER for `sip.domain` is authenticated by digest (RFC 3261 §22.2:
//!   401 with WWW-Authenticate; RFC 7616, RFC 8760: SHA-256 and MD5) against
//!   the users file or the store's users ([`users`]); the bindings live in
//!   memory with their expiry ([`bindings`]) and in the store, so they
//!   survive a restart and other instances route by them ([`persist`]).
//! - The bindings are the endpoint's location service: a request Parley
//!   sends to `sip:user@sip.domain` goes to the user's contact.
//! - A request from an untrusted source whose From claims a registrar user
//!   is challenged with 407 (RFC 3261 §22.3) instead of refused, and admitted
//!   when its Proxy-Authorization checks out (`admission.rs`).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use parley_mapping::address::SipAddress;
use parley_sip::auth::server::{Refusal, Verifier};
use parley_sip::rate::{RateLimit, SourceRates, Verdict};
use parley_sip::{IncomingRequest, Location, Lookup, Scope, StatusCode};

use crate::config::{RegistrarConfig, UsersSource};
use crate::metrics::{Limit, Metrics};

pub(crate) mod bindings;
mod fields;
pub(crate) mod gruu;
mod persist;
mod users;

#[cfg(test)]
pub(crate) use persist::{GRACE, POLL};
#[cfg(test)]
pub(crate) use users::{RETRY_AFTER_SECS, STORE_STALE};

use crate::store::Store;
use crate::users_file::UsersError;
use bindings::{Bindings, Current, Found, Outcome, Policy, Update};
use fields::{option_tags, q_text, read_update, unsupported_requirements};
use gruu::Target;
use persist::Persist;
use users::Users;

/// The registrar: users, nonces, bindings.
pub(crate) struct Registrar {
    domain: String,
    realm: String,
    users: Users,
    persist: Persist,
    policy: Policy,
    /// RFC 5627: the key temporary GRUUs are sealed with (drawn at start:
    /// they die with the process, as the bindings do).
    gruu_key: [u8; 32],
    start: Instant,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

struct State {
    /// `registrar.registers_per_second`: REGISTERs per source address.
    rates: SourceRates,
    /// Nonces for REGISTER's 401 and for the 407 of other requests: one
    /// realm, one table.
    verifier: Verifier,
    bindings: Bindings,
    rng: StdRng,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("domain", &self.domain)
            .field("realm", &self.realm)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// Source addresses whose REGISTER rate is tracked; beyond, new sources
/// share one bucket (a spoofed flood cannot grow the table).
const MAX_RATE_SOURCES: usize = 10_000;

/// Which challenge a request gets: 401 for REGISTER (the registrar is the
/// UAS, §22.2), 407 for the others (Parley acts for the domain, §22.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenger {
    Www,
    Proxy,
}

impl Challenger {
    fn status(self) -> StatusCode {
        match self {
            Self::Www => StatusCode::UNAUTHORIZED,
            Self::Proxy => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        }
    }
    fn challenge_header(self) -> &'static str {
        match self {
            Self::Www => "WWW-Authenticate",
            Self::Proxy => "Proxy-Authenticate",
        }
    }
    fn credentials_header(self) -> &'static str {
        match self {
            Self::Www => "Authorization",
            Self::Proxy => "Proxy-Authorization",
        }
    }
}

impl Registrar {
    /// The registrar of `config` for `sip_domain`; reads the users file,
    /// or starts reading the users from `store` (`registrar.users`).
    pub(crate) fn new(
        config: &RegistrarConfig,
        sip_domain: &str,
        metrics: Arc<Metrics>,
        store: &Store,
    ) -> Result<Self, UsersError> {
        let (users, from_store) = match &config.users_file {
            Some(path) if config.users == UsersSource::File => (Users::file(path)?, None),
            _ => {
                let (users, copy) = Users::store();
                (users, Some(copy))
            }
        };
        let persist = Persist::start(store, from_store, Arc::clone(&metrics));
        let realm = config.realm_or(sip_domain).to_owned();
        let mut rng = StdRng::from_os_rng();
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let lifetime = Duration::from_secs(u64::from(config.nonce_secs));
        // `Config::validate` has checked the list; a list it let through
        // and the verifier refuses leaves the default (SHA-256, MD5).
        let verifier = Verifier::new(realm.clone(), key, lifetime)
            .with_algorithms(&config.digest_algorithms())
            .unwrap_or_else(|e| {
                warn!(error = %e, "registrar.algorithms refused; challenging with SHA-256 and MD5");
                Verifier::new(realm.clone(), key, lifetime)
            });
        let mut gruu_key = [0u8; 32];
        rng.fill_bytes(&mut gruu_key);
        info!(realm = %realm, users = users.len(), "registrar: serving REGISTER for {sip_domain}");
        metrics.registrar_bindings(0);
        Ok(Self {
            domain: sip_domain.to_ascii_lowercase(),
            realm: realm.clone(),
            users,
            persist,
            policy: Policy {
                min_expires: config.min_expires,
                max_expires: config.max_expires,
                max_contacts: config.max_contacts,
            },
            gruu_key,
            start: Instant::now(),
            metrics,
            state: Mutex::new(State {
                rates: SourceRates::new(
                    RateLimit {
                        per_second: config.registers_per_second,
                        burst: config.register_burst,
                        max_sources: MAX_RATE_SOURCES,
                        refusals_before_silence: u32::MAX,
                    },
                    Instant::now().into_std(),
                ),
                verifier,
                bindings: Bindings::default(),
                rng,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // What the store says of the bindings (`persist.rs`).
        self.persist.catch_up(&mut state.bindings);
        state
    }

    /// Seconds since start: the nonce clock (nonces die with the process,
    /// whose key is drawn at start).
    fn clock(&self) -> u64 {
        self.start.elapsed().as_secs()
    }

    /// The user of `uri` when it is an address of our domain with an entry
    /// in the users file.
    fn our_user(&self, uri: &str) -> Option<String> {
        let address = SipAddress::parse(uri).ok()?;
        let host = address.host()?;
        if !host.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let user = address.user()?;
        self.users.contains(&user, &self.realm).then_some(user)
    }

    /// Whether a From URI names one of the registrar's users.
    pub(crate) fn is_user(&self, from_uri: &str) -> bool {
        self.our_user(from_uri).is_some()
    }

    /// Checks the credentials of `request` for `user`; on failure answers
    /// it with a new challenge (or 403) and returns `None`.
    fn authenticate(
        &self,
        request: IncomingRequest,
        user: &str,
        challenger: Challenger,
    ) -> Option<IncomingRequest> {
        let credentials = request.header(challenger.credentials_header());
        let method = request.method().to_owned();
        let now = self.clock();
        let mut state = self.state();
        let refusal = match credentials {
            None => None,
            Some(value) => {
                let users = &self.users;
                let realm = &self.realm;
                match state
                    .verifier
                    .verify(&value, &method, now, |name| users.get(name, realm))
                {
                    Ok(ok) if ok.username == user => {
                        drop(state);
                        self.metrics.registrar_auth("accepted");
                        return Some(request);
                    }
                    Ok(ok) => {
                        // §10.3 step 4: authenticated, but not as this AOR's user.
                        drop(state);
                        warn!(username = %ok.username, aor_user = %user, %method, "registrar: credentials of another user: 403");
                        self.metrics.registrar_auth("forbidden");
                        request.respond(StatusCode::FORBIDDEN, None, vec![], None);
                        return None;
                    }
                    Err(refusal) => Some(refusal),
                }
            }
        };
        let stale = refusal.as_ref().is_some_and(Refusal::is_stale);
        let challenges = {
            let State { verifier, rng, .. } = &mut *state;
            verifier.challenges(now, rng, stale)
        };
        drop(state);
        match &refusal {
            None => self.metrics.registrar_auth("challenged"),
            Some(r) => {
                debug!(kind = r.kind(), %r, source = %request.source, %method, "registrar: credentials refused");
                self.metrics.registrar_auth(match r {
                    Refusal::Stale => "stale",
                    Refusal::Replay => "replay",
                    _ => "refused",
                });
            }
        }
        let headers = challenges
            .into_iter()
            .map(|c| (challenger.challenge_header().to_owned(), c))
            .collect();
        request.respond(challenger.status(), None, headers, None);
        None
    }

    /// A request from an untrusted source whose From claims a registrar
    /// user: 407 unless its Proxy-Authorization checks out (RFC 3261 §22.3).
    pub(crate) fn admit(&self, request: IncomingRequest) -> Option<IncomingRequest> {
        let user = self.our_user(&request.from_uri())?;
        self.authenticate(request, &user, Challenger::Proxy)
    }

    /// RFC 3261 §10.3: a REGISTER.
    pub(crate) fn register(&self, request: IncomingRequest) {
        // Before anything is spent on it (a nonce, a digest): the source's
        // REGISTER rate. RFC 3261 §21.5.4: 503, "The server MAY indicate
        // when the client should retry the request in a Retry-After header
        // field". Always answered: the endpoint's own per-source limit
        // (`limits.sip_requests_per_second`) is the one that falls silent.
        let verdict =
            self.state()
                .rates
                .check(request.source.ip(), false, Instant::now().into_std());
        if let Verdict::Refuse {
            retry_after_secs,
            first,
        } = verdict
        {
            if first {
                warn!(source = %request.source, "registrar: REGISTER rate exceeded: 503");
            }
            self.metrics.limit_rejection(Limit::RegistrarRate);
            request.respond(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                vec![("Retry-After".to_owned(), retry_after_secs.to_string())],
                None,
            );
            return;
        }
        // Step 1: bindings for our domain only (no proxying to others). A
        // phone configured with Parley's address rather than the domain
        // sends REGISTER to that IP address: taken as our domain too.
        let ruri_host = SipAddress::parse(&request.request_uri())
            .ok()
            .and_then(|a| a.host());
        let ours = ruri_host.is_some_and(|h| {
            h.eq_ignore_ascii_case(&self.domain)
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok()
        });
        if !ours {
            debug!(request_uri = %request.request_uri(), "registrar: REGISTER for another domain: 404");
            request.respond(StatusCode::NOT_FOUND, None, vec![], None);
            return;
        }
        // The store's users not known now: 503 (see `Users::retry_after`).
        if let Some(secs) = self.users.retry_after() {
            // The outage itself is logged once, by `users.rs`.
            debug!("registrar: users unknown (store out of reach): 503");
            self.metrics.registrar_auth("unavailable");
            request.respond(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                vec![("Retry-After".to_owned(), secs.to_string())],
                None,
            );
            return;
        }
        // Step 2: "the registrar MUST process the Require header field
        // values as described for UASs in Section 8.2.2" (§8.2.2.3: 420,
        // the unknown tags in Unsupported).
        let unsupported = unsupported_requirements(&request.header("Require").unwrap_or_default());
        if !unsupported.is_empty() {
            debug!(unsupported = %unsupported, "registrar: REGISTER requires an extension: 420");
            request.respond(
                StatusCode::BAD_EXTENSION,
                None,
                vec![("Unsupported".to_owned(), unsupported)],
                None,
            );
            return;
        }
        // Step 5 (before authentication, which needs the user): the AOR
        // from To; 404 when not one of ours.
        let to = request.to_uri();
        let Some(user) = self.our_user(&to) else {
            debug!(%to, "registrar: REGISTER for an unknown user: 404");
            self.metrics.registrar_auth("unknown_user");
            request.respond(StatusCode::NOT_FOUND, None, vec![], None);
            return;
        };
        // Steps 3–4.
        let Some(request) = self.authenticate(request, &user, Challenger::Www) else {
            return;
        };
        let aor = format!("{user}@{}", self.domain);
        let update = match read_update(&request, aor) {
            Ok(u) => u,
            Err(reason) => {
                request.respond(StatusCode::BAD_REQUEST, Some(reason), vec![], None);
                return;
            }
        };
        if let Err(reason) = self.check_instance_contacts(&update) {
            debug!(aor = %update.aor, reason, "registrar: REGISTER refused (RFC 5627 §5.1)");
            request.respond(StatusCode::FORBIDDEN, Some(reason), vec![], None);
            return;
        }
        // RFC 5627 §5.2: GRUUs only for a client whose Supported lists gruu.
        let gruu = option_tags(&request.header("Supported").unwrap_or_default())
            .any(|t| t.eq_ignore_ascii_case("gruu"));
        let (outcome, count) = {
            let mut state = self.state();
            let outcome = state.bindings.apply(&update, self.policy, Instant::now());
            (outcome, state.bindings.len())
        };
        if let Outcome::Bound(current) = &outcome {
            self.persist.bound(&request, &update, current);
        }
        self.metrics.registrar_bindings(count);
        match outcome {
            Outcome::Bound(current) => {
                info!(aor = %update.aor, bindings = current.len(), "registrar: REGISTER accepted");
                // Step 8: every current binding with its expires.
                let mut headers: Vec<(String, String)> = current
                    .iter()
                    .map(|c| {
                        (
                            "Contact".to_owned(),
                            self.contact_value(&update.aor, c, gruu),
                        )
                    })
                    .collect();
                headers.push(("Date".to_owned(), http_date(std::time::SystemTime::now())));
                request.respond(StatusCode::OK, None, headers, None);
            }
            Outcome::TooBrief(min) => request.respond(
                StatusCode::INTERVAL_TOO_BRIEF,
                Some("Interval Too Brief"),
                vec![("Min-Expires".to_owned(), min.to_string())],
                None,
            ),
            Outcome::BadWildcard => request.respond(
                StatusCode::BAD_REQUEST,
                Some("Contact * needs Expires: 0 and no other Contact"),
                vec![],
                None,
            ),
            Outcome::TooManyContacts(max) => {
                warn!(aor = %update.aor, max, "registrar: REGISTER over registrar.max_contacts: 403");
                request.respond(
                    StatusCode::FORBIDDEN,
                    Some("Too Many Contacts"),
                    vec![],
                    None,
                );
            }
            Outcome::OutOfOrder => request.respond(
                StatusCode::BAD_REQUEST,
                Some("Out-of-order REGISTER (Call-ID and CSeq)"),
                vec![],
                None,
            ),
        }
    }

    /// The reaper's tick: expired bindings and nonces go.
    pub(crate) fn reap(&self, now: Instant) {
        let clock = self.clock();
        let count = {
            let mut state = self.state();
            state.verifier.forget_expired(clock);
            state.bindings.reap(now)
        };
        self.metrics.registrar_bindings(count);
    }
}

/// The registrar as the endpoint's location service.
impl Location for Registrar {
    fn locate(&self, request_uri: &str, scope: Scope) -> Lookup {
        let Some(target) = self.target_of(request_uri) else {
            return Lookup::AsAddressed;
        };
        let now = Instant::now();
        let found = match target {
            // RFC 3261 §12.2.1.1: a request inside a dialog goes to the
            // dialog's remote target, which is not looked up again ...
            Target::Aor(_) if scope == Scope::InDialog => return Lookup::AsAddressed,
            Target::Aor(aor) => {
                let local = self.state().bindings.locate(&aor, now);
                // Another instance's binding (the store, `persist.rs`).
                match local.or_else(|| self.persist.locate(&aor)) {
                    Some(contact) => Found::Contact(contact),
                    None => return Lookup::AsAddressed,
                }
            }
            // ... unless it is a GRUU: RFC 5627 §6.1, "both out-of-dialog
            // requests targeted to the GRUU, and mid-dialog requests". Only
            // for users of the users file: others of the domain (behind
            // `sip.outbound_proxy`) are not the registrar's to answer for.
            Target::Public { aor, .. } | Target::BareGr(aor) if !self.knows(&aor) => {
                return Lookup::AsAddressed;
            }
            Target::Public { aor, instance } => {
                self.state().bindings.locate_instance(&aor, &instance, now)
            }
            Target::Temporary(index) => self.state().bindings.locate_epoch(index, now),
            Target::BareGr(_) | Target::Invalid => Found::Nothing,
        };
        match found {
            Found::Contact(contact) => Lookup::Contact(contact),
            // §6.1: "If there are no registered contacts bound to the GRUU,
            // the server MUST return a 480 (Temporarily Unavailable)".
            Found::NoContact => Lookup::Answered(StatusCode::TEMPORARILY_UNAVAILABLE),
            // §6.1: "not equivalent ... to a currently valid GRUU within the
            // domain, it SHOULD be rejected with a 404 (Not Found)".
            Found::Nothing => Lookup::Answered(StatusCode::NOT_FOUND),
        }
    }
}

impl Registrar {
    /// Whether `aor` (`user@domain`) is one of the registrar's users (the file or the store).
    fn knows(&self, aor: &str) -> bool {
        aor.rsplit_once('@')
            .is_some_and(|(user, _)| self.users.contains(user, &self.realm))
    }

    /// What a URI of our domain names: an AOR or one of our GRUUs.
    fn target_of(&self, uri: &str) -> Option<Target> {
        let address = SipAddress::parse(uri).ok()?;
        let host = address.host()?;
        if !host.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let gr = match parley_sip::wire::uri::Uri::parse(uri) {
            Ok(parley_sip::wire::uri::Uri::Sip(u)) => u.uri_params.get("gr").map(|p| {
                p.value
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            }),
            _ => None,
        };
        Some(gruu::classify(
            &self.gruu_key,
            &address.user()?,
            gr.as_deref(),
            &self.domain,
        ))
    }

    /// RFC 5627 §5.1: a contact registered with `+sip.instance` must not
    /// route back here: not the AOR itself, not one of our GRUUs, and a SIP
    /// URI ("MUST reject the request with a 403").
    fn check_instance_contacts(&self, update: &Update) -> Result<(), &'static str> {
        for c in update.contacts.iter().filter(|c| c.instance.is_some()) {
            if !matches!(
                parley_sip::wire::uri::Uri::parse(&c.uri),
                Ok(parley_sip::wire::uri::Uri::Sip(_))
            ) {
                return Err("Contact with +sip.instance is not a SIP URI");
            }
            match self.target_of(&c.uri) {
                Some(Target::Aor(aor)) if aor == update.aor => {
                    return Err("Contact is the address-of-record");
                }
                Some(Target::Public { aor, .. }) if aor == update.aor => {
                    return Err("Contact is a GRUU of the address-of-record");
                }
                Some(Target::Temporary(_)) => {
                    return Err("Contact is a GRUU of the address-of-record");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A Contact of the 200 (§10.3 step 8) with RFC 5627 §5.2's parameters:
    /// `+sip.instance` as registered, and for a client that supports GRUUs
    /// its `pub-gruu` and a new `temp-gruu`.
    fn contact_value(&self, aor: &str, c: &Current, gruu: bool) -> String {
        let mut value = format!("<{}>", c.contact);
        if let Some(q) = c.q {
            value.push_str(&format!(";q={}", q_text(q)));
        }
        if let Some(instance) = &c.instance {
            if gruu {
                let id = gruu::instance_id(instance);
                value.push_str(&format!(";pub-gruu=\"{}\"", gruu::public(aor, &id)));
                if let Some(index) = c.epoch {
                    let mut d = [0u8; 8];
                    self.state().rng.fill_bytes(&mut d);
                    let temp = gruu::temporary(&self.gruu_key, index, d, &self.domain);
                    value.push_str(&format!(";temp-gruu=\"{temp}\""));
                }
            }
            // Parameter values arrive without their quotes (`each_parameter`).
            value.push_str(&format!(
                ";+sip.instance=\"{}\"",
                instance.trim_matches('"')
            ));
        }
        value.push_str(&format!(";expires={}", c.expires));
        value
    }
}

/// RFC 3261 §20.17: `Date: Sat, 13 Nov 2010 23:29:00 GMT` (RFC 1123 form),
/// from the calendar date `imdn::date_time` computes.
fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // "YYYY-MM-DDTHH:MM:SSZ"
    let iso = parley_mapping::imdn::date_time(secs);
    let (year, month, day, time) = (&iso[0..4], &iso[5..7], &iso[8..10], &iso[11..19]);
    // 1970-01-01 was a Thursday.
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[usize::try_from(secs / 86_400 % 7).unwrap_or(0)];
    let month = month
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    format!("{weekday}, {day} {month} {year} {time} GMT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3261_20_17_date_is_rfc1123() {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(1_289_690_940);
        assert_eq!(http_date(t), "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(
            http_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
