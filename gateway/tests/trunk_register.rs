//! Issue 22 item 5: Parley registers at a carrier's registrar — a real
//! Kamailio with `registrar`, `usrloc`, `auth` and `auth_db` (db_text) —
//! answers its digest challenge (RFC 3261 §22.2), refreshes the binding
//! before it expires with the same Call-ID and a higher CSeq (§10.2,
//! §10.2.4), retries a 423 with Min-Expires (§10.2.8), comes back after the
//! registrar restarts, shows the state in `/readyz` and the metrics, and
//! removes the binding on shutdown (§10.2.2).

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_harness::kamailio_registrar::{Registrar, RegistrarConfig};
use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::prosody::{Prosody, ProsodyConfig};

const DOMAIN: &str = "trunk.example.com";
const COMPONENT: &str = "sip.example.net";
const USER: &str = "parley-gw";
const PASSWORD: &str = "s3cret-trunk-pw";

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

/// Parley and what it needs besides a registrar.
struct Gateway {
    parley: Parley,
    sip_port: u16,
    prosody: Prosody,
    dir: tempfile::TempDir,
}

/// Prosody (so that only the trunk decides `/readyz`) and Parley
/// registering at `registrar_uri` with `password` (from a file).
/// `outbound_proxy`: `sip.outbound_proxy`, when set.
fn start_gateway(
    registrar_uri: &str,
    outbound_proxy: Option<&str>,
    password: &str,
    expires: u32,
) -> Gateway {
    let prosody = Prosody::start(ProsodyConfig {
        domain: "xmpp.example".into(),
        component_domain: COMPONENT.into(),
        component_secret: "component-secret".into(),
    });
    let dir = tempfile::tempdir().expect("temp dir");
    // The password comes from a file, as a deployment's secret would.
    let password_file = dir.path().join("trunk-password");
    std::fs::write(&password_file, format!("{}\n", password)).expect("write password");
    let sip_port = free_udp_tcp_port();
    let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let config = format!(
        r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "component-secret"
reconnect_min_ms = 100
reconnect_max_ms = 1000

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}"]
t1_ms = 100
{proxy}
[metrics]
listen = "{metrics}"

[store]
path = "{store}"

[shutdown]
grace_ms = 2000

[trunk]
registrar = "{registrar}"
aor = "sip:{USER}@{DOMAIN}"
username = "{USER}"
password_file = "{password_file}"
expires = {expires}
contact_user = "gw1"
retry_min_ms = 500
retry_max_ms = 2000
"#,
        server = prosody.component_addr(),
        store = dir.path().join("store").display(),
        registrar = registrar_uri,
        proxy = outbound_proxy
            .map(|p| format!("outbound_proxy = \"{p}\"\n"))
            .unwrap_or_default(),
        password_file = password_file.display(),
        expires = expires,
    );
    let parley = Parley::start(
        &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
        &config,
        metrics,
    );
    Gateway {
        parley,
        sip_port,
        prosody,
        dir,
    }
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

/// One SIP request read from a socket: its text and where it came from.
fn recv_request(socket: &UdpSocket) -> (String, SocketAddr) {
    let mut buf = [0u8; 16384];
    let (n, from) = socket.recv_from(&mut buf).expect("a REGISTER from Parley");
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

/// The values of header `name` in `message`, in order.
fn headers<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    message
        .lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
        .collect()
}

/// A response to `request` with `status_line` (e.g. `403 Forbidden`) and `extra` header lines.
fn response_to(request: &str, status_line: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status_line}\r\n");
    for via in headers(request, "Via") {
        out.push_str(&format!("Via: {via}\r\n"));
    }
    for name in ["From", "Call-ID", "CSeq"] {
        out.push_str(&format!("{name}: {}\r\n", headers(request, name)[0]));
    }
    out.push_str(&format!("To: {};tag=fake\r\n", headers(request, "To")[0]));
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Bad registrar answers — 403, a challenge that is not Digest, bytes that
/// are not SIP — are each logged, counted and retried after backoff; Parley
/// is not ready meanwhile and stays up, and registers once the registrar
/// answers 200.
#[test]
fn refusals_and_garbage_from_the_registrar_leave_parley_up_and_not_ready() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake registrar");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let uri = format!("sip:{}", socket.local_addr().expect("addr"));
    let gateway = start_gateway(&uri, None, PASSWORD, 60);
    let parley = &gateway.parley;
    let registrations = |outcome: &str| {
        parley.metric(&format!(
            "parley_trunk_registrations_total{{outcome=\"{outcome}\"}}"
        ))
    };
    let wait_outcome = |outcome: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while registrations(outcome) < 1.0 {
            assert!(Instant::now() < deadline, "no {outcome}\n{}", parley.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let (status, body) = parley.http_get("/readyz").unwrap_or_default();
        assert_eq!(status, 503, "{body}");
        assert!(
            body.contains(&format!("trunk: not registered: {outcome}")),
            "{body}"
        );
        assert_eq!(parley.http_get("/healthz").map(|r| r.0), Some(200));
    };
    // The CSeq number (method REGISTER).
    let cseq = |request: &str| -> u32 {
        let value = headers(request, "CSeq")[0];
        assert!(value.ends_with(" REGISTER"), "{value}");
        value
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or(0)
    };

    let (first, from) = recv_request(&socket);
    assert!(
        first.starts_with(&format!("REGISTER {uri} SIP/2.0")),
        "{first}"
    );
    assert_eq!(headers(&first, "Expires"), ["60"]);
    socket
        .send_to(response_to(&first, "403 Forbidden", "").as_bytes(), from)
        .expect("send 403");
    wait_outcome("refused");
    // The log is read from Parley's stderr by another thread: it may lag.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !parley.log().contains("registrar refused with 403") {
        assert!(Instant::now() < deadline, "{}", parley.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    let (second, from) = recv_request(&socket);
    assert_eq!(headers(&second, "Call-ID"), headers(&first, "Call-ID"));
    socket
        .send_to(
            response_to(
                &second,
                "401 Unauthorized",
                "WWW-Authenticate: Digest realm\r\n",
            )
            .as_bytes(),
            from,
        )
        .expect("send 401");
    wait_outcome("unusable_challenge");

    let (third, from) = recv_request(&socket);
    socket
        .send_to(b"\x00\x01 this is not SIP \xff\r\n\r\n", from)
        .expect("send garbage");
    // Its retransmissions come until Timer F (64·T1 = 6.4 s) ends it.
    let fourth = loop {
        let (next, _) = recv_request(&socket);
        if cseq(&next) != cseq(&third) {
            break next;
        }
    };
    wait_outcome("unreachable");
    let cseqs: Vec<u32> = [&first, &second, &third, &fourth]
        .iter()
        .map(|r| cseq(r))
        .collect();
    assert!(cseqs.windows(2).all(|w| w[1] > w[0]), "{cseqs:?}");

    let contact = headers(&fourth, "Contact")[0].to_owned();
    socket
        .send_to(
            response_to(
                &fourth,
                "200 OK",
                &format!("Contact: {contact};expires=60\r\n"),
            )
            .as_bytes(),
            from,
        )
        .expect("send 200");
    let deadline = Instant::now() + Duration::from_secs(10);
    while parley.http_get("/readyz").map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "not ready after 200\n{}",
            parley.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(parley.metric("parley_trunk_registered"), 1.0);

    // SIGTERM: the un-REGISTER (Expires 0, same Call-ID, next CSeq) goes
    // out; unanswered, it does not hold the exit past shutdown.grace_ms (2 s).
    let mut gateway = gateway;
    let stopping = Instant::now();
    gateway.parley.signal_term();
    let (bye, _) = recv_request(&socket);
    assert_eq!(headers(&bye, "Expires"), ["0"], "{bye}");
    assert_eq!(headers(&bye, "Call-ID"), headers(&first, "Call-ID"));
    assert!(cseq(&bye) > cseq(&fourth), "{bye}");
    assert_eq!(gateway.parley.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
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
