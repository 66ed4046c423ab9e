//! Parley behind a real Kamailio running `deploy/kamailio/kamailio.cfg`: a
//! phone's MESSAGE to an XMPP user goes phone → Kamailio → Parley → Prosody,
//! and an XMPP user's message goes Parley → Kamailio (`sip.outbound_proxy`,
//! loose-routed) → the phone registered with Kamailio. RFC 3261 §16.6: the
//! proxy decrements Max-Forwards (step 3) and adds its own Via (step 8), and
//! §16.3 step 3 refuses a request with Max-Forwards 0 (483). The config's own
//! rule: a phone may not send From an XMPP domain (403).

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use parley_harness::kamailio::{Kamailio, KamailioConfig};
use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::prosody::{Prosody, ProsodyConfig};
use parley_harness::sipp::{Sipp, SippUas};
use parley_harness::xmpp_client::XmppClient;
use support::{SipMessage, child_text, uas_message};

/// The XMPP server's domain (Prosody VirtualHost).
const XMPP_DOMAIN: &str = "xmpp.example";
/// Parley's component domain, also the SIP domain Kamailio serves.
const COMPONENT: &str = "sip.example.net";
const PASSWORD: &str = "pw-for-tests";

/// Prosody with user juliet, Kamailio, and parley between them.
struct World {
    prosody: Prosody,
    kamailio: Kamailio,
    parley: Parley,
    sip_port: u16,
    dir: tempfile::TempDir,
}

impl World {
    fn start() -> World {
        let prosody = Prosody::start(ProsodyConfig {
            domain: XMPP_DOMAIN.into(),
            component_domain: COMPONENT.into(),
            component_secret: "component-secret".into(),
        });
        prosody.add_user("juliet", PASSWORD);
        let sip_port = free_udp_tcp_port();
        let kamailio = Kamailio::start(KamailioConfig {
            sip_domain: COMPONENT.into(),
            xmpp_domains: vec![XMPP_DOMAIN.into()],
            parley_uri: format!("sip:127.0.0.1:{sip_port}"),
        });
        let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
        let dir = tempfile::tempdir().expect("temp dir");
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
listen = ["udp:127.0.0.1:{sip_port}", "tcp:127.0.0.1:{sip_port}"]
outbound_proxy = "{proxy}"
t1_ms = 100

[metrics]
listen = "{metrics}"

[store]
path = "{store}"

[messages]
delivery_window_ms = 300
"#,
            server = prosody.component_addr(),
            proxy = kamailio.outbound_proxy(),
            store = dir.path().join("store").display(),
        );
        let parley = Parley::start(
            &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
            &config,
            metrics,
        );
        parley.wait_ready(Duration::from_secs(20));
        World {
            prosody,
            kamailio,
            parley,
            sip_port,
            dir,
        }
    }

    fn scenario(&self, name: &str, xml: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, xml).expect("write scenario");
        path
    }

    /// Everything the three servers logged, for failure messages.
    fn logs(&self) -> String {
        format!(
            "--- kamailio ---\n{}\n--- parley ---\n{}",
            self.kamailio.log(),
            self.parley.log()
        )
    }

    /// Register `sip:<user>@<COMPONENT>` with Kamailio at `contact` (a sipp UAS).
    fn register(&self, user: &str, contact: SocketAddr) {
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="register">
<send retrans="100"><![CDATA[
REGISTER sip:{COMPONENT} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:{user}@{COMPONENT}>;tag=[pid]-[call_number]
To: <sip:{user}@{COMPONENT}>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:{user}@{contact}>
Expires: 300
Content-Length: 0

]]></send>
<recv response="200" timeout="5000"/>
</scenario>
"#
        );
        let out = Sipp::new(self.scenario("register.xml", &xml))
            .timeout(Duration::from_secs(10))
            .run_uac(self.kamailio.public_addr());
        assert!(
            out.success,
            "REGISTER failed:\n{}\n{}",
            out.report(),
            self.logs()
        );
    }
}

/// The Via header values of the first received request starting with `start`
/// in a sipp message log, top first.
fn vias_of_received(messages_log: &str, start: &str) -> Vec<String> {
    let mut lines = messages_log.lines();
    while let Some(line) = lines.next() {
        if !line.contains("message received") {
            continue;
        }
        let mut block = lines
            .by_ref()
            .skip_while(|l| l.trim().is_empty())
            .take_while(|l| !l.trim().is_empty());
        if block.next().is_some_and(|first| first.starts_with(start)) {
            return block
                .filter_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    let name = name.trim();
                    (name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v"))
                        .then(|| value.trim().to_owned())
                })
                .flat_map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .collect::<Vec<_>>()
                })
                .collect();
        }
    }
    Vec::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_message_through_kamailio_reaches_xmpp_user() {
    let world = World::start();
    let mut juliet = XmppClient::connect(&world.prosody, "juliet", PASSWORD).await;
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "kamailio-sip-to-xmpp",
        content_type: "text/plain;charset=UTF-8",
        headers: &[],
        body: "Hi Juliet, via Kamailio",
        expect: 200,
    };
    // The phone talks to Kamailio only.
    let sender = std::thread::spawn({
        let sipp = msg.sipp(world.scenario("uac.xml", &msg.scenario()));
        let proxy = world.kamailio.public_addr();
        move || sipp.run_uac(proxy)
    });
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| panic!("juliet got no message\n{}", world.logs()));
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.logs());
    assert_eq!(got.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    assert_eq!(
        child_text(&got, "body").map(|b| b.trim_end().to_owned()),
        Some("Hi Juliet, via Kamailio".to_owned())
    );
    // The 200 came back through Kamailio, which relayed the request to Parley.
    assert!(
        world.kamailio.log().contains(&format!(
            "MESSAGE from sip:bob@{COMPONENT} to XMPP user sip:juliet@{XMPP_DOMAIN} via Parley"
        )),
        "{}",
        world.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_message_through_kamailio_reaches_registered_phone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let uas_xml = uas_message(
        &[
            ("From", &format!("<sip:juliet@{XMPP_DOMAIN};gr=[^>]+>")),
            ("To", &format!("sip:bob@{COMPONENT}")),
            // RFC 3261 §16.6 step 3: Parley's 70, less Kamailio's hop.
            ("Max-Forwards", "^ *69 *$"),
            ("body", "^Hello Bob, via Kamailio$"),
        ],
        Some((200, "OK")),
    );
    let path = dir.path().join("uas.xml");
    std::fs::write(&path, uas_xml).expect("write scenario");
    let phone: SippUas = Sipp::new(&path)
        .timeout(Duration::from_secs(20))
        .spawn_uas();
    let world = World::start();
    world.register("bob", phone.addr());
    let mut juliet = XmppClient::connect(&world.prosody, "juliet", PASSWORD).await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='k1'><body>Hello Bob, via Kamailio</body></message>"
        ))
        .await;
    let out = phone.wait();
    assert!(out.success, "{}\n{}", out.report(), world.logs());
    assert_eq!(out.received("MESSAGE "), 1, "{}", out.report());
    // RFC 3261 §16.6 step 8: the proxy's Via on top, Parley's below it.
    let vias = vias_of_received(&out.messages_log, "MESSAGE ");
    assert_eq!(vias.len(), 2, "{vias:?}\n{}", out.report());
    let kamailio_ports = [world.kamailio.public_port, world.kamailio.gateway_port];
    assert!(
        kamailio_ports
            .iter()
            .any(|p| vias[0].starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{p};"))),
        "top Via is not Kamailio's: {vias:?}"
    );
    assert!(vias[0].contains("branch=z9hG4bK"), "{vias:?}");
    assert!(
        vias[1].starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{};", world.sip_port)),
        "second Via is not Parley's: {vias:?}"
    );
    // A delivered message produces no error stanza.
    let error = juliet
        .recv_matching(Duration::from_millis(500), |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert!(error.is_none(), "unexpected error: {error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_refuses_exhausted_max_forwards_and_phones_posing_as_xmpp_users() {
    let world = World::start();
    let mut juliet = XmppClient::connect(&world.prosody, "juliet", PASSWORD).await;
    let send = |name: &str, msg: &SipMessage<'_>, scenario: String| {
        let out = msg
            .sipp(world.scenario(name, &scenario))
            .run_uac(world.kamailio.public_addr());
        assert!(
            out.success,
            "expected {} for {}:\n{}\n{}",
            msg.expect,
            msg.call_id,
            out.report(),
            world.logs()
        );
        // Answered by Kamailio itself (its Server header), not by Parley.
        assert!(
            out.messages_log.contains("Server: kamailio"),
            "{}",
            out.report()
        );
    };
    // RFC 3261 §16.3 step 3: Max-Forwards 0 → 483, never forwarded.
    let exhausted = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "kamailio-max-forwards-0",
        content_type: "text/plain",
        headers: &[],
        body: "looping",
        expect: 483,
    };
    let scenario = exhausted
        .scenario()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    send("uac-mf0.xml", &exhausted, scenario);
    // Only Parley speaks for XMPP users: a phone's From in an XMPP domain → 403.
    let spoofed = SipMessage {
        from: &format!("sip:romeo@{XMPP_DOMAIN}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "kamailio-spoofed-from",
        content_type: "text/plain",
        headers: &[],
        body: "it is I, Romeo",
        expect: 403,
    };
    send("uac-spoof.xml", &spoofed, spoofed.scenario());
    let leaked = juliet
        .recv_matching(Duration::from_millis(500), |e| e.name() == "message")
        .await;
    assert!(
        leaked.is_none(),
        "refused requests reached XMPP: {leaked:?}"
    );
}
