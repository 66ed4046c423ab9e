//! Parley behind a real ejabberd, attached through the component listener of
//! `deploy/ejabberd/parley.yml` (XEP-0114 §3: `jabber:component:accept`,
//! handshake over the shared secret): a SIP MESSAGE reaches an ejabberd user
//! as `<message/>` (RFC 7572 §5, Table 2), and an ejabberd user's `<message/>`
//! reaches a SIP user agent as a MESSAGE (RFC 7572 §4, Table 1).

#[path = "support/ejabberd_world.rs"]
mod ejabberd_world;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use ejabberd_world::EjabberdWorld as World;
use parley_harness::sipp::{Sipp, SippUas};
use support::{COMPONENT, SipMessage, XMPP_DOMAIN, child_text, uas_message};

/// ejabberd with user juliet + parley attached to it as a component.
fn start(outbound_proxy: Option<String>) -> World {
    World::with("[messages]\ndelivery_window_ms = 300\n", outbound_proxy)
}

/// A sipp scenario file in the world's directory.
fn scenario(world: &World, name: &str, xml: &str) -> PathBuf {
    let path = world.dir.path().join(name);
    std::fs::write(&path, xml).expect("write scenario");
    path
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
    let world = start(None);
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
        let sipp = msg.sipp(scenario(&world, "uac.xml", &msg.scenario()));
        let addr = world.sip;
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
    let world = start(Some(format!("sip:{}", uas.addr())));
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
    let mut world = start(None);
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
        let sipp = msg.sipp(scenario(&world, "uac.xml", &msg.scenario()));
        let addr = world.sip;
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
