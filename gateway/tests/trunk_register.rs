//! Issue 22 item 5: Parley registers at a carrier's registrar — a real
//! Kamailio with `registrar`, `usrloc`, `auth` and `auth_db` (db_text) —
//! answers its digest challenge (RFC 3261 §22.2), refreshes the binding
//! before it expires with the same Call-ID and a higher CSeq (§10.2,
//! §10.2.4), retries a 423 with Min-Expires (§10.2.8), comes back after the
//! registrar restarts, shows the state in `/readyz` and the metrics, and
//! removes the binding on shutdown (§10.2.2). Bad registrar answers:
//! `trunk_hostile_registrar.rs`.

mod trunk;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use parley_harness::kamailio_registrar::{Registrar, RegistrarConfig};
use parley_harness::parley::Parley;
use parley_harness::prosody::Prosody;
use trunk::{DOMAIN, PASSWORD, USER, start_gateway};

struct World {
    registrar: Registrar,
    parley: Parley,
    sip_port: u16,
    _prosody: Prosody,
    _dir: tempfile::TempDir,
}

struct Setup {
    /// The password Parley is given (the registrar knows `PASSWORD`).
    password: &'static str,
    /// `trunk.expires`.
    expires: u32,
    /// The registrar's `min_expires`.
    min_expires: u32,
    /// The registrar's digest algorithm.
    algorithm: &'static str,
    /// The registrar's nonce lifetime, seconds.
    nonce_expire: u32,
    /// Parley reaches the registrar through `sip.outbound_proxy`.
    via_proxy: bool,
}

impl World {
    fn start(setup: Setup) -> World {
        let registrar = Registrar::start(RegistrarConfig {
            domain: DOMAIN.into(),
            username: USER.into(),
            password: PASSWORD.into(),
            min_expires: setup.min_expires,
            max_expires: 3600,
            algorithm: setup.algorithm,
            nonce_expire: setup.nonce_expire,
        });
        // Via the outbound proxy, the Request-URI is the domain itself,
        // as a carrier gives it; otherwise the registrar's address.
        let (uri, proxy) = if setup.via_proxy {
            (
                format!("sip:{DOMAIN}"),
                Some(format!("{};lr", registrar.uri())),
            )
        } else {
            (registrar.uri(), None)
        };
        let gateway = start_gateway(&uri, proxy.as_deref(), setup.password, setup.expires);
        World {
            registrar,
            parley: gateway.parley,
            sip_port: gateway.sip_port,
            _prosody: gateway.prosody,
            _dir: gateway.dir,
        }
    }

    /// Parley's contact as the registrar stores it.
    fn contact(&self) -> String {
        format!("sip:gw1@127.0.0.1:{}", self.sip_port)
    }

    fn logs(&self) -> String {
        format!(
            "--- kamailio ---\n{}\n--- parley ---\n{}",
            self.registrar.log(),
            self.parley.log()
        )
    }

    fn readyz(&self) -> (u16, String) {
        self.parley.http_get("/readyz").unwrap_or_default()
    }

    /// Waits until `/readyz` answers `status` with `text` in its body.
    fn wait_readyz(&self, status: u16, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (s, body) = self.readyz();
            if s == status && body.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/readyz stayed {s} {body:?}, wanted {status} with {text:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn registrations(&self, outcome: &str) -> f64 {
        self.parley.metric(&format!(
            "parley_trunk_registrations_total{{outcome=\"{outcome}\"}}"
        ))
    }

    /// Waits until the count of `outcome` reaches `at_least`.
    fn wait_registrations(&self, outcome: &str, at_least: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.registrations(outcome) < at_least {
            assert!(
                Instant::now() < deadline,
                "{outcome} stayed below {at_least}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `cseq` values and Call-IDs of the registrar's `saved` log lines.
    fn saved(&self) -> Vec<(u32, String, String)> {
        self.registrar
            .log()
            .lines()
            .filter_map(|l| {
                let rest = l.split("registrar: saved ").nth(1)?;
                let cseq = rest.split(" cseq ").nth(1)?.split_whitespace().next()?;
                let call_id = rest.split(" callid ").nth(1)?.split_whitespace().next()?;
                let expires = rest.split(" expires ").nth(1)?.split_whitespace().next()?;
                Some((cseq.parse().ok()?, call_id.to_owned(), expires.to_owned()))
            })
            .collect()
    }
}

/// Sends an OPTIONS for the AOR to the registrar, which relays it to the
/// registered contact; the status line of the answer.
fn options_through_registrar(registrar: &Registrar) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = socket.local_addr().expect("local addr");
    let request = format!(
        "OPTIONS sip:{USER}@{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-trunk-{n};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:carrier@{DOMAIN}>;tag=t1\r\n\
         To: <sip:{USER}@{DOMAIN}>\r\n\
         Call-ID: trunk-options-{n}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        n = std::process::id()
    );
    socket
        .send_to(
            request.as_bytes(),
            SocketAddr::from(([127, 0, 0, 1], registrar.port)),
        )
        .expect("send OPTIONS");
    let mut buf = [0u8; 8192];
    loop {
        let n = socket.recv(&mut buf).expect("an answer to OPTIONS");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text.lines().next().unwrap_or_default().to_owned();
        // 100 Trying from the registrar's tm comes first.
        if !status.starts_with("SIP/2.0 1") {
            return text;
        }
    }
}

/// RFC 3261 §10.2, §22.2, §10.2.4, §10.2.2 against a real registrar.
#[test]
fn parley_registers_after_the_challenge_refreshes_and_unregisters_on_shutdown() {
    let mut world = World::start(Setup {
        password: PASSWORD,
        expires: 4,
        min_expires: 2,
        algorithm: "MD5",
        nonce_expire: 300,
        via_proxy: false,
    });
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    assert_eq!(
        world.parley.metric("parley_trunk_registered"),
        1.0,
        "{}",
        world.logs()
    );
    // The first REGISTER was challenged: Kamailio logged its challenge.
    assert!(
        world.registrar.log().contains("registrar: challenge"),
        "{}",
        world.logs()
    );
    // Kamailio's location table holds Parley's contact.
    let dump = world
        .registrar
        .wait_binding(&world.contact(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
    assert!(dump.contains(USER), "{dump}");

    // Refreshes (at half the 4 s): the same Call-ID, CSeq going up.
    world.wait_registrations("registered", 3.0, Duration::from_secs(15));
    let saved = world.saved();
    assert!(saved.len() >= 3, "{saved:?}\n{}", world.logs());
    assert!(
        saved
            .windows(2)
            .all(|w| w[1].0 > w[0].0 && w[1].1 == w[0].1),
        "{saved:?}"
    );
    assert!(saved.iter().all(|s| s.2 == "4"), "{saved:?}");
    // qop=auth (the challenge offered it); refreshes count the nonce up.
    let log = world.registrar.log();
    assert!(
        log.contains("qop=auth, nc=00000001") && log.contains("qop=auth, nc=00000002"),
        "{}",
        world.logs()
    );

    // A request for the AOR reaches Parley through the registrar.
    let answer = options_through_registrar(&world.registrar);
    assert!(
        !answer.contains("Not Registered") && answer.starts_with("SIP/2.0 "),
        "{answer}\n{}",
        world.logs()
    );
    let options_in = world
        .parley
        .metric(r#"parley_sip_requests_total{direction="in",method="OPTIONS"}"#);
    assert!(options_in >= 1.0, "{}", world.logs());

    // The password never reaches the log.
    assert!(!world.parley.log().contains(PASSWORD));

    // SIGTERM: Expires 0 removes the binding before Parley exits.
    world.parley.signal_term();
    assert_eq!(world.parley.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        world.saved().iter().any(|s| s.2 == "0"),
        "no un-REGISTER\n{}",
        world.logs()
    );
    let dump = world.registrar.ul_dump().expect("ul.dump");
    assert!(!dump.contains(&world.contact()), "{dump}");
}

/// RFC 7616 §3.3: a wrong password is refused; Parley does not loop, says
/// so in `/readyz` and the metrics, and stays up.
#[test]
fn wrong_password_is_not_registered_and_not_ready_but_stays_up() {
    let world = World::start(Setup {
        password: "not-the-password",
        expires: 60,
        min_expires: 2,
        algorithm: "MD5",
        nonce_expire: 300,
        via_proxy: false,
    });
    world.wait_registrations("credentials_refused", 1.0, Duration::from_secs(20));
    world.wait_readyz(503, "credentials_refused", Duration::from_secs(5));
    assert_eq!(world.parley.metric("parley_trunk_registered"), 0.0);
    assert_eq!(world.registrations("registered"), 0.0);
    assert_eq!(world.parley.http_get("/healthz").map(|r| r.0), Some(200));
    // Backoff, not a loop: two attempts take two challenges each, at most
    // a handful of REGISTERs in the next second and a half.
    let before = world
        .registrar
        .log()
        .matches("registrar: challenge")
        .count();
    std::thread::sleep(Duration::from_millis(1500));
    let after = world
        .registrar
        .log()
        .matches("registrar: challenge")
        .count();
    assert!(after - before <= 6, "{before} -> {after}\n{}", world.logs());
    let dump = world.registrar.ul_dump().expect("ul.dump");
    assert!(!dump.contains(&world.contact()), "{dump}");
    assert!(!world.parley.log().contains("not-the-password"));
}

/// RFC 3261 §10.2.8: an interval below the registrar's minimum gets 423;
/// the retry asks for Min-Expires and is bound.
#[test]
fn interval_too_brief_is_retried_with_min_expires() {
    let world = World::start(Setup {
        password: PASSWORD,
        expires: 3,
        min_expires: 30,
        algorithm: "MD5",
        nonce_expire: 300,
        via_proxy: false,
    });
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    let saved = world.saved();
    assert!(
        saved.iter().any(|s| s.2 == "30"),
        "{saved:?}\n{}",
        world.logs()
    );
}

/// The registrar restarts with an empty location table: Parley's refresh
/// fails, it is not ready while so, and registers again after backoff.
#[test]
fn parley_registers_again_after_the_registrar_restarts() {
    let mut world = World::start(Setup {
        password: PASSWORD,
        expires: 4,
        min_expires: 2,
        algorithm: "MD5",
        nonce_expire: 300,
        via_proxy: false,
    });
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    world
        .registrar
        .wait_binding(&world.contact(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
    world.registrar.stop();
    // The refresh (due at 2 s) is unanswered when the binding ends (4 s):
    // not ready from then on, before its Timer F (64·T1 = 6.4 s) fires.
    world.wait_readyz(503, "lapsed", Duration::from_secs(10));
    world.wait_registrations("unreachable", 1.0, Duration::from_secs(20));
    world.wait_readyz(503, "unreachable", Duration::from_secs(2));
    assert_eq!(world.parley.metric("parley_trunk_registered"), 0.0);
    world.registrar.restart();
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    world
        .registrar
        .wait_binding(&world.contact(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
}

/// RFC 8760: a registrar that challenges with SHA-256 gets a SHA-256 answer.
#[test]
fn rfc8760_sha256_challenge_is_answered_with_sha256() {
    let world = World::start(Setup {
        password: PASSWORD,
        expires: 60,
        min_expires: 2,
        algorithm: "SHA-256",
        nonce_expire: 300,
        via_proxy: false,
    });
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    let log = world.registrar.log();
    let saved = log
        .lines()
        .find(|l| l.contains("registrar: saved "))
        .unwrap_or_else(|| panic!("nothing saved\n{}", world.logs()));
    assert!(saved.contains("algorithm=SHA-256"), "{saved}");
}

/// RFC 3261 §22.3, RFC 7616 §3.3: refreshes carry the credentials of the
/// last nonce; once the registrar holds it stale (Kamailio's auth result
/// -4), its new challenge is answered at once, without a failure.
#[test]
fn expired_nonce_on_a_refresh_is_answered_without_a_failure() {
    let world = World::start(Setup {
        password: PASSWORD,
        expires: 4,
        min_expires: 2,
        algorithm: "MD5",
        nonce_expire: 3,
        via_proxy: false,
    });
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    world.wait_registrations("registered", 5.0, Duration::from_secs(20));
    let challenges = world
        .registrar
        .log()
        .matches("registrar: challenge")
        .count();
    assert!(challenges >= 2, "{challenges}\n{}", world.logs());
    for outcome in ["credentials_refused", "unreachable", "refused"] {
        assert_eq!(
            world.registrations(outcome),
            0.0,
            "{outcome}\n{}",
            world.logs()
        );
    }
}

/// A carrier names its domain as the registrar (not resolvable here) and an
/// SBC as the outbound proxy: the REGISTER goes through the proxy
/// (RFC 3261 §8.1.2) with the domain as Request-URI and digest `uri`.
#[test]
fn registrar_domain_is_reached_through_the_outbound_proxy() {
    let world = World::start(Setup {
        password: PASSWORD,
        expires: 60,
        min_expires: 2,
        algorithm: "MD5",
        nonce_expire: 300,
        via_proxy: true,
    });
    world.wait_readyz(200, "trunk: registered", Duration::from_secs(20));
    world
        .registrar
        .wait_binding(&world.contact(), Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
    assert!(
        world
            .registrar
            .log()
            .contains(&format!("uri=\"sip:{DOMAIN}\"")),
        "{}",
        world.logs()
    );
}
