//! Issue 22 "encrypted hops": the XEP-0114 component stream inside direct TLS
//! (`xmpp.tls = "direct"`), against real servers whose certificates a test CA
//! made by `openssl` signed at test time.
//!
//! What the servers offer (README, "The component stream over TLS"):
//! ejabberd 23.01's `ejabberd_service` with `tls: true` and Prosody 0.12's
//! direct-TLS port (`ssl_ports`, `mod_net_multiplex`) take TLS from the
//! first byte; neither offers STARTTLS on a component stream (XEP-0114 §3
//! has no stream features).
//!
//! - Parley verifies the certificate, handshakes, and a message crosses each
//!   way (RFC 7572 §4 and §5), with ejabberd and with Prosody.
//! - A certificate for another name, or from an unknown CA, is refused:
//!   Parley never becomes ready and its log says why; it keeps retrying.
//! - With `require_tls` against a plain component port, the TLS handshake
//!   fails and Parley never speaks the stream in clear.
//! - `require_tls` with `tls = "none"` stops at `check-config`.
//! - After the server restarts, Parley handshakes TLS again and is ready.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parley_harness::ejabberd::{Ejabberd, EjabberdConfig};
use parley_harness::parley::Parley;
use parley_harness::pki::TestPki;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::prosody::{Prosody, ProsodyConfig};
use parley_harness::sipp::{Sipp, SippUas};
use parley_harness::xmpp_client::XmppClient;
use support::{SipMessage, child_text, uas_message};

/// The XMPP server's own domain: the name its certificate carries.
const XMPP_DOMAIN: &str = "xmpp.example";
/// Parley's component domain, also the SIP domain.
const COMPONENT: &str = "sip.example.net";
const SECRET: &str = "component-secret-over-tls";
const PASSWORD: &str = "pw-for-tests";

/// The XMPP server under test.
enum Server {
    Ejabberd(Ejabberd),
    Prosody(Prosody),
}

impl Server {
    fn ejabberd_tls(pki: &TestPki, names: &[&str]) -> Server {
        let cert = pki.server("ejabberd", names);
        let ejabberd = Ejabberd::start_with_component_tls(ejabberd_config(), &cert);
        ejabberd.add_user("juliet", PASSWORD);
        Server::Ejabberd(ejabberd)
    }

    fn prosody_tls(pki: &TestPki, names: &[&str]) -> Server {
        let cert = pki.server("prosody", names);
        let prosody = Prosody::start_with_component_tls(prosody_config(), &cert);
        prosody.add_user("juliet", PASSWORD);
        Server::Prosody(prosody)
    }

    /// The port Parley is pointed at: the TLS one where there is one.
    fn component_addr(&self) -> String {
        match self {
            Server::Ejabberd(e) => e.component_addr(),
            Server::Prosody(p) => p.component_tls_addr().unwrap_or_else(|| p.component_addr()),
        }
    }

    fn c2s_addr(&self) -> String {
        match self {
            Server::Ejabberd(e) => e.c2s_addr(),
            Server::Prosody(p) => p.c2s_addr(),
        }
    }

    fn log(&self) -> String {
        match self {
            Server::Ejabberd(e) => e.log(),
            Server::Prosody(p) => p.log(),
        }
    }
}

fn ejabberd_config() -> EjabberdConfig {
    EjabberdConfig {
        domain: XMPP_DOMAIN.into(),
        component_domain: COMPONENT.into(),
        component_secret: SECRET.into(),
    }
}

fn prosody_config() -> ProsodyConfig {
    ProsodyConfig {
        domain: XMPP_DOMAIN.into(),
        component_domain: COMPONENT.into(),
        component_secret: SECRET.into(),
    }
}

/// The `[xmpp]` TLS lines of a Parley config.
struct Tls<'a> {
    mode: &'a str,
    ca: Option<&'a Path>,
    name: Option<&'a str>,
    require: bool,
}

impl Tls<'_> {
    fn toml(&self) -> String {
        let mut s = format!("tls = \"{}\"\nrequire_tls = {}\n", self.mode, self.require);
        if let Some(ca) = self.ca {
            s.push_str(&format!("tls_ca = {:?}\n", ca.display().to_string()));
        }
        if let Some(name) = self.name {
            s.push_str(&format!("tls_name = \"{name}\"\n"));
        }
        s
    }
}

struct World {
    server: Server,
    parley: Parley,
    sip_port: u16,
    dir: tempfile::TempDir,
}

impl World {
    /// Parley attached to `server` with `tls`; not waited for (some tests
    /// expect it never to become ready).
    fn start(server: Server, tls: &Tls<'_>, outbound_proxy: Option<String>) -> World {
        let sip_port = free_udp_tcp_port();
        let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        let dir = tempfile::tempdir().expect("temp dir");
        let proxy = outbound_proxy
            .map(|p| format!("outbound_proxy = \"{p}\"\n"))
            .unwrap_or_default();
        let config = format!(
            r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "{server}"
secret = "{SECRET}"
reconnect_min_ms = 100
reconnect_max_ms = 500
{tls}
[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]
t1_ms = 100
{proxy}
[metrics]
listen = "{metrics}"

[store]
path = "{store}"

[messages]
delivery_window_ms = 300
"#,
            server = server.component_addr(),
            tls = tls.toml(),
            store = dir.path().join("store").display(),
        );
        let parley = Parley::start(
            &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
            &config,
            metrics,
        );
        World {
            server,
            parley,
            sip_port,
            dir,
        }
    }

    fn wait_ready(&self) {
        // Ready = TLS verified and the component handshake accepted.
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.parley.http_get("/readyz").map(|(s, _)| s) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "parley not ready\n--- parley ---\n{}\n--- server ---\n{}",
                self.parley.log(),
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until Parley's log holds `needle` `times` times.
    fn wait_log(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.parley.log().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "parley's log never said {needle:?} {times} times\n--- parley ---\n{}\n--- server ---\n{}",
                self.parley.log(),
                self.server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Parley tried and was refused several times (the reconnect goes on)
    /// and is still not ready: no stanza was ever exchanged.
    fn assert_refused(&self, kind: &str) {
        self.wait_log(&format!("kind=\"{kind}\""), 3);
        assert_eq!(
            self.parley.http_get("/readyz").map(|(s, _)| s),
            Some(503),
            "{}",
            self.parley.log()
        );
        assert_eq!(self.parley.metric("parley_component_connected"), 0.0);
        let (counted, other) = match kind {
            "tls-certificate" => ("certificate", "handshake"),
            _ => ("handshake", "certificate"),
        };
        let failures = |reason: &str| {
            self.parley.metric(&format!(
                "parley_component_tls_failures_total{{reason=\"{reason}\"}}"
            ))
        };
        assert!(failures(counted) >= 3.0, "{}", self.parley.log());
        assert_eq!(failures(other), 0.0, "{}", self.parley.log());
        assert!(
            !self.parley.log().contains("component stream authenticated"),
            "{}",
            self.parley.log()
        );
        let says_why = match kind {
            "tls-certificate" => {
                "component TLS refused: the server's TLS certificate is not acceptable"
            }
            _ => "component TLS refused: TLS handshake with the server",
        };
        assert!(
            self.parley.log().contains(says_why),
            "{}",
            self.parley.log()
        );
    }

    async fn juliet(&self) -> XmppClient {
        XmppClient::connect_to(
            &self.server.c2s_addr(),
            &format!("juliet@{XMPP_DOMAIN}"),
            PASSWORD,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.server.log()))
    }

    fn sip_addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.sip_port).into()
    }

    fn scenario(&self, name: &str, xml: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, xml).expect("write scenario");
        path
    }
}

/// A sipp UAS that expects juliet's MESSAGE to bob; its clock covers an
/// ejabberd start on a loaded machine.
fn spawn_uas() -> (SippUas, tempfile::TempDir) {
    let xml = uas_message(
        &[
            ("From", &format!("<sip:juliet@{XMPP_DOMAIN};gr=[^>]+>")),
            ("To", &format!("sip:bob@{COMPONENT}")),
            ("body", "^Hello Bob, over TLS <&>$"),
        ],
        Some((200, "OK")),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("uas.xml");
    std::fs::write(&path, xml).expect("write scenario");
    let uas = Sipp::new(&path)
        .timeout(Duration::from_secs(60))
        .spawn_uas();
    (uas, dir)
}

/// SIP → XMPP then XMPP → SIP through the TLS component stream.
async fn messages_cross_both_ways(world: &World, uas: SippUas) {
    let mut juliet = world.juliet().await;
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "over-tls-1",
        content_type: "text/plain;charset=UTF-8",
        headers: &[],
        body: "Hallo Julia, über TLS",
        expect: 200,
    };
    let sender = std::thread::spawn({
        let sipp = msg.sipp(world.scenario("uac.xml", &msg.scenario()));
        let addr = world.sip_addr();
        move || sipp.run_uac(addr)
    });
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| {
            panic!(
                "juliet got no message\n--- parley ---\n{}\n--- server ---\n{}",
                world.parley.log(),
                world.server.log()
            )
        });
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
    assert_eq!(got.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    assert_eq!(
        child_text(&got, "body").map(|b| b.trim_end().to_owned()),
        Some("Hallo Julia, über TLS".to_owned())
    );

    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='tls1' type='chat'>\
             <body>Hello Bob, over TLS &lt;&amp;&gt;</body></message>"
        ))
        .await;
    let out = tokio::task::block_in_place(|| uas.wait());
    assert!(
        out.success,
        "{}\n--- parley ---\n{}\n--- server ---\n{}",
        out.report(),
        world.parley.log(),
        world.server.log()
    );
    assert_eq!(out.received("MESSAGE "), 1, "{}", out.report());
    let log = world.parley.log();
    assert!(
        log.lines()
            .any(|l| l.contains("component stream authenticated") && l.contains("tls=true")),
        "{log}"
    );
    for reason in ["certificate", "handshake"] {
        let sample = format!("parley_component_tls_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(world.parley.metric(&sample), 0.0, "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_component_port_over_tls_carries_messages_both_ways() {
    let pki = TestPki::new("Parley Test CA");
    let (uas, _uas_dir) = spawn_uas();
    let server = Server::ejabberd_tls(&pki, &[XMPP_DOMAIN]);
    let ca = pki.ca();
    let tls = Tls {
        mode: "direct",
        ca: Some(&ca),
        name: Some(XMPP_DOMAIN),
        require: true,
    };
    let world = World::start(server, &tls, Some(format!("sip:{}", uas.addr())));
    world.wait_ready();
    messages_cross_both_ways(&world, uas).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prosody_direct_tls_port_carries_messages_both_ways() {
    let pki = TestPki::new("Parley Test CA");
    let (uas, _uas_dir) = spawn_uas();
    let server = Server::prosody_tls(&pki, &[XMPP_DOMAIN]);
    let ca = pki.ca();
    let tls = Tls {
        mode: "direct",
        ca: Some(&ca),
        name: Some(XMPP_DOMAIN),
        require: true,
    };
    let world = World::start(server, &tls, Some(format!("sip:{}", uas.addr())));
    world.wait_ready();
    messages_cross_both_ways(&world, uas).await;
}

#[test]
fn a_certificate_for_another_name_is_refused_and_parley_stays_not_ready() {
    let pki = TestPki::new("Parley Test CA");
    let server = Server::ejabberd_tls(&pki, &["other.example"]);
    let ca = pki.ca();
    let tls = Tls {
        mode: "direct",
        ca: Some(&ca),
        name: Some(XMPP_DOMAIN),
        require: true,
    };
    let world = World::start(server, &tls, None);
    world.assert_refused("tls-certificate");
    assert!(
        world
            .parley
            .log()
            .contains("certificate not valid for name \"xmpp.example\""),
        "the log names the reason:\n{}",
        world.parley.log()
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_and_parley_stays_not_ready() {
    let theirs = TestPki::new("Some Other CA");
    let ours = TestPki::new("Parley Test CA");
    let server = Server::prosody_tls(&theirs, &[XMPP_DOMAIN]);
    let ca = ours.ca();
    let tls = Tls {
        mode: "direct",
        ca: Some(&ca),
        name: Some(XMPP_DOMAIN),
        require: false,
    };
    let world = World::start(server, &tls, None);
    world.assert_refused("tls-certificate");
    assert!(
        world.parley.log().contains("UnknownIssuer"),
        "the log names the reason:\n{}",
        world.parley.log()
    );
}

#[test]
fn require_tls_against_a_plain_component_port_never_speaks_in_clear() {
    // Prosody's plain component port (no TLS port configured).
    let prosody = Prosody::start(prosody_config());
    let server = Server::Prosody(prosody);
    let tls = Tls {
        mode: "direct",
        ca: None,
        name: Some(XMPP_DOMAIN),
        require: true,
    };
    let world = World::start(server, &tls, None);
    world.assert_refused("tls-handshake");
    // Prosody took the connections, saw a TLS ClientHello where a stream
    // header belongs, and never authenticated a component.
    let log = world.server.log();
    assert!(
        log.contains("Incoming Jabber component connection"),
        "{log}"
    );
    assert!(
        !log.contains("External component successfully authenticated"),
        "{log}"
    );
}

#[test]
fn require_tls_with_tls_none_is_a_config_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("parley.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[xmpp]
component_domain = "{COMPONENT}"
server = "127.0.0.1:5347"
secret = "{SECRET}"
require_tls = true

[sip]
domain = "{COMPONENT}"
listen = ["udp:127.0.0.1:5060"]
"#
        ),
    )
    .expect("write config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run parley");
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("xmpp.tls"), "{text}");
    assert!(text.contains("require_tls"), "{text}");
}

/// XEP-0114 over TLS survives the server going away: after Prosody restarts
/// Parley connects again, with a new TLS handshake, and is ready again.
#[test]
fn parley_reattaches_over_tls_after_prosody_restarts() {
    let pki = TestPki::new("Parley Test CA");
    let server = Server::prosody_tls(&pki, &[XMPP_DOMAIN]);
    let ca = pki.ca();
    let tls = Tls {
        mode: "direct",
        ca: Some(&ca),
        name: Some(XMPP_DOMAIN),
        require: true,
    };
    let mut world = World::start(server, &tls, None);
    world.wait_ready();
    let Server::Prosody(prosody) = &mut world.server else {
        unreachable!("started with Prosody")
    };
    prosody.restart();
    world.wait_log("component stream authenticated", 2);
    world.wait_ready();
    assert!(
        world.parley.metric("parley_component_reconnects_total") >= 1.0,
        "{}",
        world.parley.log()
    );
    let log = world.parley.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("component stream authenticated") && l.contains("tls=true"))
            .count(),
        2,
        "{log}"
    );
}
