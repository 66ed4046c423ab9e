//! Issue 22 item 4 end to end: a real phone, linphone-cli 5.1 (`linphonec`),
//! registers at Parley itself (`[registrar]`) with a password (RFC 3261
//! §10.3, digest RFC 7616 / RFC 8760), receives a message an XMPP user
//! sends through Prosody (Parley finds its contact: no outbound proxy is
//! configured), and its reply — from an untrusted source, since
//! `sip.trusted_peers` is empty — is challenged with 407 and delivered.
//! linphonec asks for GRUUs (RFC 5627), and messages to them reach it.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use parley_harness::linphone::Linphone;
use parley_harness::port::free_udp_tcp_port;
use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text};

/// linphonec as `alice@COMPONENT` on `port`, registering at `parley`; killed when dropped.
fn start_linphone(port: u16, parley: SocketAddr, password: &str) -> Linphone {
    Linphone::start(&format!(
        "[sip]\nsip_port={port}\nsip_tcp_port=-1\nsip_tls_port=-1\ndefault_proxy=0\n\
                 [proxy_0]\nreg_proxy=<sip:{parley};transport=udp>\n\
                 reg_route=<sip:{parley};transport=udp;lr>\n\
                 reg_identity=<sip:alice@{COMPONENT}>\nreg_sendregister=1\nreg_expires=600\npublish=0\n\
                 [auth_info_0]\nusername=alice\npasswd={password}\nrealm={COMPONENT}\ndomain={COMPONENT}\n\
                 [video]\nenabled=0\n[sound]\nechocancellation=0\n"
    ))
}

/// The value of one sample of Parley's /metrics, if exported.
fn metric(world: &World, sample: &str) -> Option<f64> {
    world.parley.metric_opt(sample)
}

/// A world whose users file holds alice with `wonderland`.
fn world() -> (World, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    let status = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["user", "add", "alice", "--realm", COMPONENT, "--file"])
        .arg(&users)
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(b"wonderland\n")?;
            c.wait()
        })
        .expect("parley user add");
    assert!(status.success());
    let world = World::start(Options {
        sip_extra: "trusted_peers = []\n".into(),
        extra: format!("[registrar]\nusers_file = \"{}\"\n", users.display()),
        ..Options::default()
    });
    (world, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_registers_with_a_password_and_messages_both_ways() {
    let (world, _dir) = world();
    let mut phone = start_linphone(free_udp_tcp_port(), world.sip_addr(), "wonderland");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while metric(&world, "parley_registrar_bindings") != Some(1.0) {
        assert!(
            std::time::Instant::now() < deadline,
            "linphonec never registered\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric(&world, r#"parley_registrar_auth_total{outcome="accepted"}"#),
        Some(1.0)
    );

    // XMPP → the registered contact.
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='alice@{COMPONENT}' id='r1' type='chat'><body>hello alice</body></message>"
        ))
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !phone.log().contains("hello alice") {
        assert!(
            std::time::Instant::now() < deadline,
            "linphone never got the message\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The phone → XMPP: challenged (407), answered, delivered.
    phone.command(&format!("chat sip:juliet@{XMPP_DOMAIN} hello juliet"));
    let Some(reply) = juliet
        .recv_matching(Duration::from_secs(15), |e| {
            e.name() == "message" && child_text(e, "body").is_some()
        })
        .await
    else {
        panic!(
            "no message from linphone\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        )
    };
    assert_eq!(child_text(&reply, "body").as_deref(), Some("hello juliet"));
    assert_eq!(
        reply.attr("from").map(|f| f.split('/').next()),
        Some(Some(&*format!("alice@{COMPONENT}")))
    );
    assert!(
        metric(&world, r#"parley_registrar_auth_total{outcome="accepted"}"#)
            .is_some_and(|n| n >= 2.0),
        "the MESSAGE was authenticated too"
    );
    assert!(
        phone
            .log()
            .contains("SIP/2.0 407 Proxy Authentication Required"),
        "the phone's MESSAGE was challenged, not refused\n{}",
        phone.log()
    );
}

/// A wrong password never binds: Parley keeps challenging, counts refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_with_a_wrong_password_is_not_registered() {
    let (world, _dir) = world();
    let phone = start_linphone(free_udp_tcp_port(), world.sip_addr(), "guess");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while metric(&world, r#"parley_registrar_auth_total{outcome="refused"}"#).unwrap_or(0.0) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refused REGISTER\n--- linphone ---\n{}\n--- parley ---\n{}",
            phone.log(),
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&world, "parley_registrar_bindings"), Some(0.0));
}

/// The quoted value of Contact parameter `name` in the last 200 to
/// linphone's REGISTER, as its log shows it.
fn gruu_in_log(log: &str, name: &str) -> Option<String> {
    let start = log.rfind(&format!("{name}=\""))? + name.len() + 2;
    let end = log[start..].find('"')? + start;
    Some(log[start..end].to_owned())
}

/// RFC 5627 with a real phone: linphonec sends `Supported: gruu` and
/// `+sip.instance`, and gets `pub-gruu` and `temp-gruu` (§5.2). An XMPP
/// user's message to the full JID of the public GRUU (RFC 7247 §6.3: the
/// `gr` is the resourcepart) and one to the temporary GRUU's JID both
/// reach that phone (§6.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_gets_gruus_and_messages_to_them_reach_it() {
    let (world, _dir) = world();
    let phone = start_linphone(free_udp_tcp_port(), world.sip_addr(), "wonderland");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (public, temporary) = loop {
        let log = phone.log();
        if let (Some(p), Some(t)) = (
            gruu_in_log(&log, "pub-gruu"),
            gruu_in_log(&log, "temp-gruu"),
        ) {
            break (p, t);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "linphonec got no GRUUs\n--- linphone ---\n{log}\n--- parley ---\n{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let instance = public
        .split_once(";gr=")
        .map(|(_, i)| i.to_owned())
        .expect("a gr value");
    assert!(
        public.starts_with(&format!("sip:alice@{COMPONENT};gr=urn:uuid:")),
        "{public}"
    );
    let temp_user = temporary
        .trim_start_matches("sip:")
        .split('@')
        .next()
        .expect("a user part")
        .to_owned();
    assert!(
        temp_user.starts_with("tgruu.") && !temporary.contains("alice"),
        "{temporary}"
    );

    let mut juliet = world.client("juliet").await;
    for (to, body) in [
        (
            format!("alice@{COMPONENT}/{instance}"),
            "to the public gruu",
        ),
        (format!("{temp_user}@{COMPONENT}"), "to the temporary gruu"),
    ] {
        juliet
            .send_xml(&format!(
                "<message to='{to}' type='chat'><body>{body}</body></message>"
            ))
            .await;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !phone.log().contains(body) {
            assert!(
                std::time::Instant::now() < deadline,
                "linphone never got '{body}' sent to {to}\n--- linphone ---\n{}\n--- parley ---\n{}",
                phone.log(),
                world.parley.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
