//! `[trunk]`: Parley's own registration at a carrier's registrar (issue 22
//! item 5), for SBCs that send calls and messages only to gateways that
//! registered.
//!
//! One task drives `parley_sip::register::Registration` (the RFC 3261 §10.2
//! rules, sans-IO) through the endpoint: it sends what the registration asks
//! for, hands back the final response or the error, sleeps until the next
//! refresh or retry, and publishes the state (`parley_trunk_registered`,
//! `parley_trunk_registrations_total`, `/readyz`). On shutdown it removes the
//! binding (Expires: 0) within the drain's deadline. A registrar that refuses,
//! answers garbage or is gone is logged, counted and retried with backoff;
//! the process stays up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use parley_sip::auth::Credentials;
use parley_sip::register::{
    Event, RegisterConfig, RegisterRequest, RegisterResponse, Registration,
};
use parley_sip::{Endpoint, OutgoingRequest, Response, Transport};

use crate::config::{Secret, TrunkConfig};
use crate::metrics::Metrics;

/// What `/readyz` and the gauge show.
#[derive(Debug)]
pub(crate) struct TrunkStatus {
    registered: AtomicBool,
    /// One line for `/readyz`: the state and, when not registered, why.
    detail: Mutex<String>,
}

impl TrunkStatus {
    fn new() -> Self {
        Self {
            registered: AtomicBool::new(false),
            detail: Mutex::new("not registered: starting".to_owned()),
        }
    }

    /// Whether the binding holds now.
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Relaxed)
    }

    /// `registered`, or `not registered: <why>`.
    pub(crate) fn detail(&self) -> String {
        self.detail
            .lock()
            .map(|d| d.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set(&self, registered: bool, detail: String, metrics: &Metrics) {
        self.registered.store(registered, Ordering::Relaxed);
        metrics.trunk_registered(registered);
        match self.detail.lock() {
            Ok(mut d) => *d = detail,
            Err(e) => *e.into_inner() = detail,
        }
    }
}

/// The running registration task.
pub(crate) struct Trunk {
    status: Arc<TrunkStatus>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Trunk {
    /// Starts registering `config.aor` through `sip`.
    pub(crate) fn spawn(
        config: &TrunkConfig,
        outbound_proxy: Option<String>,
        password: Secret,
        sip: Endpoint,
        metrics: Arc<Metrics>,
    ) -> Trunk {
        let status = Arc::new(TrunkStatus::new());
        let stop = CancellationToken::new();
        let driver = Driver {
            config: config.clone(),
            outbound_proxy,
            credentials: Credentials {
                username: config.username.clone(),
                password: password.expose().to_owned(),
            },
            sip,
            metrics,
            status: Arc::clone(&status),
            stop: stop.clone(),
        };
        let task = tokio::spawn(driver.run());
        Trunk { status, stop, task }
    }

    /// The state `/readyz` reads.
    pub(crate) fn status(&self) -> Arc<TrunkStatus> {
        Arc::clone(&self.status)
    }

    /// Removes the binding (RFC 3261 §10.2.2) and ends the task, by `deadline`.
    pub(crate) async fn stop(self, deadline: tokio::time::Instant) {
        self.stop.cancel();
        if tokio::time::timeout_at(deadline, self.task).await.is_err() {
            warn!("trunk: the un-REGISTER got no answer before the shutdown deadline");
        }
    }
}

struct Driver {
    config: TrunkConfig,
    /// `sip.outbound_proxy`: where the REGISTER really goes first.
    outbound_proxy: Option<String>,
    credentials: Credentials,
    sip: Endpoint,
    metrics: Arc<Metrics>,
    status: Arc<TrunkStatus>,
    stop: CancellationToken,
}

/// How long resolving the registrar's host for the Contact may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

impl Driver {
    async fn run(self) {
        let Some(contact) = self.contact().await else {
            return;
        };
        let mut registration = Registration::new(
            RegisterConfig {
                request_uri: self.config.registrar.clone(),
                contact: contact.clone(),
                expires: self.config.expires,
                backoff_min: Duration::from_millis(self.config.retry_min_ms),
                backoff_max: Duration::from_millis(self.config.retry_max_ms),
            },
            self.credentials.clone(),
            parley_sip::dialog::new_call_id("parley"),
            Instant::now(),
            rand::random(),
        );
        info!(registrar = %self.config.registrar, aor = %self.config.aor, %contact, "trunk: registering");
        let mut was_registered = false;
        loop {
            if let Some(request) = registration.poll(Instant::now()) {
                let sent = self
                    .sip
                    .send_request(self.request(&registration, &contact, &request));
                tokio::pin!(sent);
                // A refresh still unanswered when the binding runs out
                // (Timer F is 64·T1): not registered from then on.
                let mut ends = registration.binding_ends();
                let result = loop {
                    tokio::select! {
                        biased;
                        () = self.stop.cancelled() => break None,
                        result = &mut sent => break Some(result),
                        () = sleep_until_std(ends) => {
                            ends = None;
                            self.lapsed();
                        }
                    }
                };
                let Some(result) = result else { break };
                let event = self.outcome(&mut registration, result);
                was_registered = self.report(&registration, &event, was_registered);
                continue;
            }
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = sleep_until_std(registration.next_wakeup()) => {}
            }
        }
        self.unregister(&mut registration, &contact).await;
    }

    /// RFC 3261 §10.2.2: Expires 0 for our contact, answering a challenge to it once.
    async fn unregister(&self, registration: &mut Registration, contact: &str) {
        let mut request = registration.stop(Instant::now());
        while let Some(req) = request.take() {
            let result = self
                .sip
                .send_request(self.request(registration, contact, &req))
                .await;
            match self.outcome(registration, result) {
                Event::Retrying => request = registration.poll(Instant::now()),
                Event::Unregistered => {
                    self.metrics.trunk_registration("unregistered");
                    info!(registrar = %self.config.registrar, "trunk: unregistered");
                }
                Event::Failed { error, .. } => {
                    self.metrics.trunk_registration(error.kind());
                    warn!(kind = error.kind(), %error, "trunk: the un-REGISTER failed");
                }
                other => debug!(?other, "trunk: unexpected answer to the un-REGISTER"),
            }
        }
        self.status
            .set(false, "not registered: stopped".to_owned(), &self.metrics);
    }

    /// The binding ran out with its refresh unanswered.
    fn lapsed(&self) {
        if self.status.is_registered() {
            warn!(registrar = %self.config.registrar, "trunk: the binding ran out before its refresh was answered");
            self.status.set(
                false,
                "not registered: lapsed (the binding ran out, its refresh unanswered)".to_owned(),
                &self.metrics,
            );
        }
    }

    fn outcome(
        &self,
        registration: &mut Registration,
        result: Result<Response, parley_sip::TransactionError>,
    ) -> Event {
        let now = Instant::now();
        match result {
            Ok(response) => {
                if let Some(cseq) = response
                    .header("CSeq")
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
                {
                    registration.note_cseq(cseq);
                }
                registration.on_response(now, &response_parts(&response))
            }
            Err(error) => {
                debug!(%error, "trunk: no final answer to the REGISTER");
                registration.on_error(now, error.kind())
            }
        }
    }

    /// Logs and counts `event`, updates the state; whether registered now.
    fn report(&self, registration: &Registration, event: &Event, was_registered: bool) -> bool {
        match event {
            Event::Registered {
                expires,
                refresh_in,
            } => {
                self.metrics.trunk_registration("registered");
                if was_registered {
                    debug!(
                        expires,
                        refresh_in_ms = refresh_in.as_millis(),
                        "trunk: registration refreshed"
                    );
                } else {
                    info!(registrar = %self.config.registrar, aor = %self.config.aor, expires, refresh_in_ms = refresh_in.as_millis(), "trunk: registered");
                }
                self.status
                    .set(true, "registered".to_owned(), &self.metrics);
            }
            Event::Failed { error, retry_in } => {
                self.metrics.trunk_registration(error.kind());
                warn!(
                    registrar = %self.config.registrar,
                    kind = error.kind(),
                    %error,
                    retry_in_ms = retry_in.map(|d| d.as_millis()),
                    "trunk: registration failed"
                );
                self.status.set(
                    false,
                    format!("not registered: {} ({error})", error.kind()),
                    &self.metrics,
                );
            }
            Event::Retrying => debug!("trunk: answering the registrar's challenge or 423"),
            Event::Unregistered => {}
            other => debug!(?other, "trunk: registration event"),
        }
        registration.is_registered(Instant::now())
    }

    fn request(
        &self,
        registration: &Registration,
        contact: &str,
        req: &RegisterRequest,
    ) -> OutgoingRequest {
        let mut headers = vec![
            ("CSeq".to_owned(), format!("{} REGISTER", req.cseq)),
            ("Contact".to_owned(), format!("<{contact}>")),
            ("Expires".to_owned(), req.expires.to_string()),
        ];
        if let Some((name, value)) = &req.authorization {
            headers.push(((*name).to_owned(), value.clone()));
        }
        OutgoingRequest {
            method: "REGISTER".into(),
            request_uri: self.config.registrar.clone(),
            // RFC 3261 §10.2: From and To are the address-of-record.
            from: self.config.aor.clone(),
            to: self.config.aor.clone(),
            call_id: Some(registration.call_id().to_owned()),
            headers,
            body: None,
        }
    }

    /// The Contact URI: the address the next hop (`sip.outbound_proxy`,
    /// else the registrar) reaches us at over its transport (or
    /// `sip.advertise`). Waits, retrying, while its host does not resolve
    /// by A/AAAA; `None` when stopped first.
    async fn contact(&self) -> Option<String> {
        let next_hop = self
            .outbound_proxy
            .as_deref()
            .unwrap_or(&self.config.registrar);
        let (host, port, transport) = registrar_target(next_hop);
        let mut wait = Duration::from_millis(self.config.retry_min_ms);
        loop {
            let lookup = tokio::time::timeout(
                RESOLVE_TIMEOUT,
                tokio::net::lookup_host((host.as_str(), port)),
            );
            let peer: Option<SocketAddr> = tokio::select! {
                () = self.stop.cancelled() => return None,
                found = lookup => found.ok().and_then(Result::ok).and_then(|mut a| a.next()),
            };
            if let Some(peer) = peer {
                let user = self.config.contact_user();
                let contact = self.sip.contact(Some(&user), transport, peer);
                return Some(
                    contact
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_owned(),
                );
            }
            self.metrics.trunk_registration("unreachable");
            warn!(registrar = %self.config.registrar, %host, retry_in_ms = wait.as_millis(), "trunk: cannot resolve the next hop's host (A/AAAA) for the Contact");
            self.status.set(
                false,
                format!("not registered: unreachable (cannot resolve {host})"),
                &self.metrics,
            );
            tokio::select! {
                () = self.stop.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_millis(self.config.retry_max_ms));
        }
    }
}

/// The host, port and transport a `sip:`/`sips:` URI (the registrar or
/// the outbound proxy) names;
/// without a port, "the default port for the particular transport protocol"
/// (RFC 3263 §4.2): 5060, 5061 for TLS (RFC 3261 §18.1.1).
pub(crate) fn registrar_target(uri: &str) -> (String, u16, Transport) {
    let (scheme, rest) = uri.split_once(':').unwrap_or(("sip", uri));
    let secure = scheme.eq_ignore_ascii_case("sips");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let mut parts = rest.split(';');
    let hostport = parts.next().unwrap_or_default();
    let transport = parts
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| n.eq_ignore_ascii_case("transport"))
        .map(|(_, v)| v.to_ascii_lowercase());
    let transport = match (secure, transport.as_deref()) {
        (true, _) | (_, Some("tls")) => Transport::Tls,
        (_, Some("tcp")) => Transport::Tcp,
        _ => Transport::Udp,
    };
    let default_port = if transport == Transport::Tls {
        5061
    } else {
        5060
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        (
            host.to_owned(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        )
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()),
            None => (hostport.to_owned(), None),
        }
    };
    (host, port.unwrap_or(default_port), transport)
}

/// The parts of a response the registration reads.
fn response_parts(response: &Response) -> RegisterResponse {
    let challenge_header = match response.status {
        407 => "Proxy-Authenticate",
        _ => "WWW-Authenticate",
    };
    RegisterResponse {
        status: response.status,
        contacts: response.header_values("Contact"),
        expires: response.header("Expires"),
        min_expires: response.header("Min-Expires"),
        retry_after: response.header("Retry-After"),
        challenges: response.header_values(challenge_header),
    }
}

/// Sleeps until `at`; forever when `None` (nothing is due until stopped).
async fn sleep_until_std(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrar_uri_gives_host_port_and_transport() {
        assert_eq!(
            registrar_target("sip:reg.example.com"),
            ("reg.example.com".into(), 5060, Transport::Udp)
        );
        assert_eq!(
            registrar_target("sip:127.0.0.1:5070;transport=TCP"),
            ("127.0.0.1".into(), 5070, Transport::Tcp)
        );
        assert_eq!(
            registrar_target("sips:sbc.example.net"),
            ("sbc.example.net".into(), 5061, Transport::Tls)
        );
        assert_eq!(
            registrar_target("sip:user@[2001:db8::1]:5080"),
            ("2001:db8::1".into(), 5080, Transport::Udp)
        );
    }
}
