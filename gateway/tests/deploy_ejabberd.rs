//! Parley behind a real ejabberd, attached through the component listener of
//! `deploy/ejabberd/parley.yml` (XEP-0114 §3: `jabber:component:accept`,
//! handshake over the shared secret): a SIP MESSAGE reaches an ejabberd user
//! as `<message/>` (RFC 7572 §5, Table 2), and an ejabberd user's `<message/>`
//! reaches a SIP user agent as a MESSAGE (RFC 7572 §4, Table 1).

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use parley_harness::ejabberd::{Ejabberd, EjabberdConfig};
use parley_harness::parley::Parley;
use parley_harness::port::{free_tcp_port, free_udp_tcp_port};
use parley_harness::sipp::{Sipp, SippUas};
use parley_harness::xmpp_client::XmppClient;
use support::{SipMessage, child_text, uas_message};

/// ejabberd's host for c2s users.
const XMPP_DOMAIN: &str = "xmpp.example";
/// Parley's component domain, also the SIP domain.
const COMPONENT: &str = "sip.example.net";
const PASSWORD: &str = "pw-for-tests";

/// ejabberd with user juliet + parley attached to it as a component.
struct World {
    ejabberd: Ejabberd,
    parley: Parley,
    sip_port: u16,
    dir: tempfile::TempDir,
}

impl World {
    fn start(outbound_proxy: Option<String>) -> World {
        let ejabberd = Ejabberd::start(EjabberdConfig {
            domain: XMPP_DOMAIN.into(),
            component_domain: COMPONENT.into(),
            component_secret: "component-secret-for-ejabberd".into(),
        });
        ejabberd.add_user("juliet", PASSWORD);
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
secret = "{secret}"
reconnect_min_ms = 100
reconnect_max_ms = 1000

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
            server = ejabberd.component_addr(),
            secret = ejabberd.component_secret(),
            store = dir.path().join("store").display(),
        );
        let parley = Parley::start(
            &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
            &config,
            metrics,
        );
        // Ready = the component handshake with ejabberd succeeded.
        parley.wait_ready(Duration::from_secs(20));
        World {
            ejabberd,
            parley,
            sip_port,
            dir,
        }
    }

    async fn juliet(&self) -> XmppClient {
        XmppClient::connect_to(
            &self.ejabberd.c2s_addr(),
            &format!("juliet@{XMPP_DOMAIN}"),
            PASSWORD,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.ejabberd.log()))
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

/// A sipp UAS running `xml` (it is read at start, so the file can go).
fn spawn_uas(xml: &str) -> SippUas {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("uas.xml");
    std::fs::write(&path, xml).expect("write scenario");
    // The UAS starts before ejabberd (World::start needs its address), and
    // ejabberd alone took 14 s to start on a loaded 2-core CI machine: its
    // clock must cover that. It ends as soon as its call is done.
    Sipp::new(&path)
        .timeout(Duration::from_secs(60))
        .spawn_uas()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_message_reaches_ejabberd_user_through_the_component_snippet() {
    let world = World::start(None);
    let mut juliet = world.juliet().await;
    let body = "Hallo Julia, über ejabberd <&>";
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "ejabberd-sip-to-xmpp",
        content_type: "text/plain;charset=UTF-8",
        headers: &["Subject: via ejabberd"],
        body,
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
                "juliet got no message\n--- parley ---\n{}\n--- ejabberd ---\n{}",
                world.parley.log(),
                world.ejabberd.log()
            )
        });
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());

    assert_eq!(got.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    assert_eq!(
        got.attr("to").map(|t| t.split('/').next()),
        Some(Some(&*format!("juliet@{XMPP_DOMAIN}")))
    );
    // RFC 7572 §5: no type attribute, or type='normal'.
    assert!(
        matches!(got.attr("type"), None | Some("normal")),
        "{}",
        String::from(&got)
    );
    let received = child_text(&got, "body").expect("a body");
    assert_eq!(received.replace("\r\n", "\n"), format!("{body}\n"));
    assert_eq!(child_text(&got, "subject").as_deref(), Some("via ejabberd"));
    assert_eq!(
        child_text(&got, "thread").as_deref(),
        Some("ejabberd-sip-to-xmpp")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_user_message_reaches_sip_user_agent() {
    let uas = spawn_uas(&uas_message(
        &[
            ("From", &format!("<sip:juliet@{XMPP_DOMAIN};gr=[^>]+>")),
            ("To", &format!("sip:bob@{COMPONENT}")),
            ("Call-ID", "^ *ejabberd-thread-1"),
            ("Content-Type", "^ *text/plain"),
            ("body", "^Hello Bob, from ejabberd <&>$"),
        ],
        Some((200, "OK")),
    ));
    let world = World::start(Some(format!("sip:{}", uas.addr())));
    let mut juliet = world.juliet().await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='ej1' type='chat'>\
             <body>Hello Bob, from ejabberd &lt;&amp;&gt;</body><thread>ejabberd-thread-1</thread></message>"
        ))
        .await;
    let out = uas.wait();
    assert!(
        out.success,
        "{}\n--- parley ---\n{}\n--- ejabberd ---\n{}",
        out.report(),
        world.parley.log(),
        world.ejabberd.log()
    );
    assert_eq!(out.received("MESSAGE "), 1, "{}", out.report());
    // Delivered: no error stanza comes back through ejabberd.
    let error = juliet
        .recv_matching(Duration::from_millis(500), |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert!(error.is_none(), "unexpected error: {error:?}");
}

/// XEP-0114 with ejabberd's component listener: when ejabberd restarts, Parley
/// reconnects and handshakes again (ready again), and messages flow as before;
/// users kept in ejabberd's Mnesia spool survive the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parley_reattaches_after_ejabberd_restarts() {
    let mut world = World::start(None);
    tokio::task::block_in_place(|| world.ejabberd.restart());
    tokio::task::block_in_place(|| world.parley.wait_ready(Duration::from_secs(20)));
    let mut juliet = world.juliet().await;
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "ejabberd-after-restart",
        content_type: "text/plain",
        headers: &[],
        body: "still there?",
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
                "juliet got no message\n--- parley ---\n{}\n--- ejabberd ---\n{}",
                world.parley.log(),
                world.ejabberd.log()
            )
        });
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
    assert_eq!(
        child_text(&got, "body").map(|b| b.trim_end().to_owned()),
        Some("still there?".to_owned())
    );
    assert!(
        world.parley.metric("parley_component_reconnects_total") >= 1.0,
        "{}",
        world.parley.log()
    );
}
