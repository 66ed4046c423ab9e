//! Issue 22 item 4, the registrar shared by instances: two Parley processes
//! on one PostgreSQL store (`store.url`) and one ejabberd component domain,
//! no SIP proxy, `registrar.users = "store"`. The user is added once with
//! `parley user add --config` (stdin); the phone REGISTERs (RFC 3261 §10.3,
//! digest §22.2) through instance A only; an XMPP user's messages, which
//! ejabberd spreads over both instances' component connections, all reach
//! the phone, some of them carried by instance B (its Via), which routes by
//! the binding A wrote to the store.

#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use parley_harness::ejabberd::{Ejabberd, EjabberdConfig};
use parley_harness::parley::{InstanceConfig, Parley};
use parley_harness::port::{free_tcp_port, free_udp_tcp_ports};
use parley_harness::postgres::Postgres;
use parley_harness::xmpp_client::XmppClient;
use parley_sip::auth::{Challenge, Credentials, DigestSession, choose};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;

use sip_phone::{Phone, status};

const XMPP_DOMAIN: &str = "xmpp.example";
/// Parley's component domain, also the SIP domain it is the registrar of.
const COMPONENT: &str = "sip.example.net";
const PASSWORD: &str = "pw-for-tests";
/// Messages sent: ejabberd picks a connection per stanza, so with 16 the
/// chance that one instance carries none is 2 × 2⁻¹⁶.
const N: usize = 16;

fn config(
    pg: &Postgres,
    ejabberd: &Ejabberd,
    name: &str,
    port: u16,
    metrics: SocketAddr,
) -> String {
    let store = format!("url = \"{}\"\ninstance = \"{name}\"", pg.url());
    let toml = InstanceConfig {
        component: COMPONENT,
        xmpp_server: &ejabberd.component_addr(),
        secret: ejabberd.component_secret(),
        sip_port: port,
        outbound_proxy: "",
        metrics,
        store: &store,
        delivery_window_ms: 300,
        keepalive_secs: None,
    }
    .to_toml()
    // No proxy: requests to SIP users go to their registered contacts.
    .replace("outbound_proxy = \"\"\n", "");
    format!("{toml}\n[registrar]\nusers = \"store\"\n")
}

/// `parley --config FILE user add alice` with the password on stdin.
fn add_alice(config: &std::path::Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--config")
        .arg(config)
        .args(["user", "add", "alice"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run parley user add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"wonderland\n")
        .expect("password");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn register(phone: &Phone, cseq: u32, authorization: &str) -> (String, String) {
    let branch = format!("z9hG4bK-reg-{cseq}");
    let request = format!(
        "REGISTER sip:{COMPONENT} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {addr};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@{COMPONENT}>;tag=alice-reg\r\n\
         To: <sip:alice@{COMPONENT}>\r\n\
         Call-ID: register-alice\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <{contact}>\r\n\
         Expires: 600\r\n\
         {authorization}Content-Length: 0\r\n\r\n",
        addr = phone.addr,
        contact = phone.contact(),
    );
    (request, branch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_through_one_instance_is_reached_through_the_other() {
    let pg = Postgres::start();
    let ejabberd = Ejabberd::start(EjabberdConfig {
        domain: XMPP_DOMAIN.into(),
        component_domain: COMPONENT.into(),
        component_secret: "component-secret-for-ejabberd".into(),
    });
    ejabberd.add_user("juliet", PASSWORD);
    let ports = free_udp_tcp_ports(2);
    let configs: Vec<(String, SocketAddr)> = ports
        .iter()
        .zip(["a", "b"])
        .map(|(port, name)| {
            let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
            (config(&pg, &ejabberd, name, *port, metrics), metrics)
        })
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let a_config = dir.path().join("a.toml");
    std::fs::write(&a_config, &configs[0].0).expect("write");
    add_alice(&a_config);
    let instances: Vec<Parley> = configs
        .iter()
        .map(|(toml, metrics)| {
            let parley =
                Parley::start(&PathBuf::from(env!("CARGO_BIN_EXE_parley")), toml, *metrics);
            parley.wait_ready(Duration::from_secs(20));
            parley
        })
        .collect();
    let logs = || {
        format!(
            "--- a ---\n{}\n--- b ---\n{}",
            instances[0].log(),
            instances[1].log()
        )
    };
    let a_addr: SocketAddr = ([127, 0, 0, 1], ports[0]).into();

    // REGISTER through A: 401 (§22.2), then the answer to it: 200.
    let phone = Phone::bind("alice").await;
    let (request, branch) = register(&phone, 1, "");
    let challenge = phone
        .request(&request, &branch, a_addr, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    assert_eq!(status(&challenge), 401, "{challenge:?}");
    let challenges: Vec<Challenge> = challenge
        .msg
        .header_values(&ezk_sip_types::Name::from("WWW-Authenticate".to_owned()))
        .iter()
        .filter_map(|v| Challenge::parse(v).ok())
        .collect();
    let chosen = choose(&challenges).expect("a challenge").clone();
    let auth = DigestSession::new(chosen, &mut StdRng::seed_from_u64(5))
        .authorize(
            &Credentials {
                username: "alice".into(),
                password: "wonderland".into(),
            },
            "REGISTER",
            &format!("sip:{COMPONENT}"),
            b"",
        )
        .expect("authorizes");
    let (request, branch) = register(&phone, 2, &format!("Authorization: {auth}\r\n"));
    let ok = phone
        .request(&request, &branch, a_addr, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    assert_eq!(status(&ok), 200, "{ok:?}\n{}", logs());
    // B reads the store each second.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut juliet = XmppClient::connect_to(
        &ejabberd.c2s_addr(),
        &format!("juliet@{XMPP_DOMAIN}"),
        PASSWORD,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", ejabberd.log()));
    for i in 0..N {
        juliet
            .send_xml(&format!(
                "<message to='alice@{COMPONENT}' id='m{i}' type='chat'><body>m{i}</body></message>"
            ))
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let messages = loop {
        let messages = phone.requests("MESSAGE");
        if messages.len() >= N || Instant::now() > deadline {
            break messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(messages.len(), N, "{:#?}\n{}", messages, logs());
    // Which instance sent each: the port of its Via's sent-by.
    let mut by_instance = [0usize; 2];
    for (head, received) in &messages {
        assert_eq!(head.request_uri.as_str(), phone.contact(), "{received:?}");
        let via = received.header("Via");
        let i = ports
            .iter()
            .position(|p| via.contains(&format!(":{p}")))
            .unwrap_or_else(|| panic!("Via of neither instance: {via}"));
        by_instance[i] += 1;
    }
    assert!(
        by_instance[1] > 0,
        "instance B carried none of the messages ({by_instance:?})"
    );
    assert!(by_instance[0] > 0, "{by_instance:?}");
}
