//! Issue 22 "Tests (real parts)", hostile input to the registrar, against
//! the real `parley` binary with Prosody: an attacker on its own loopback
//! address (127.0.0.2) replays a used Authorization (RFC 7616 §3.4: the
//! nonce count must rise), answers a nonce after it expired (RFC 7616
//! §3.3: `stale=true`), and floods REGISTERs (`registrar.registers_per_second`:
//! 503 + Retry-After, RFC 3261 §21.5.4). Each is refused and binds nothing,
//! while a second phone on 127.0.0.1 registers and gets a message from an
//! XMPP user in the middle of the flood.

#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use parley_sip::auth::{Challenge, Credentials, DigestSession, choose};
use parley_sip::wire::validate;
use parley_sip::wire::{Message, ParseLimits};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::UdpSocket;

use sip_phone::Phone;
use support::{COMPONENT, Options, World};

const WAIT: Duration = Duration::from_secs(5);
/// `registrar.nonce_secs` (its minimum): the stale test waits it out.
const NONCE_SECS: u64 = 10;

fn add_user(file: &std::path::Path, user: &str, password: &str) {
    let status = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["user", "add", user, "--realm", COMPONENT, "--file"])
        .arg(file)
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(format!("{password}\n").as_bytes())?;
            c.wait()
        })
        .expect("parley user add");
    assert!(status.success());
}

/// alice (`wonderland`) and bob (`builder`) in the users file; REGISTERs
/// limited to 2/s with a burst of 10 per source; every source untrusted.
fn world() -> (World, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    add_user(&users, "alice", "wonderland");
    add_user(&users, "bob", "builder");
    let world = World::start(Options {
        sip_extra: "trusted_peers = []\n".into(),
        extra: format!(
            "[registrar]\nusers_file = \"{}\"\nnonce_secs = {NONCE_SECS}\n\
             registers_per_second = 2\nregister_burst = 10\n",
            users.display()
        ),
        ..Options::default()
    });
    (world, dir)
}

fn register(
    from: SocketAddr,
    user: &str,
    branch: &str,
    cseq: u32,
    contact: &str,
    extra: &str,
) -> String {
    format!(
        "REGISTER sip:{COMPONENT} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@{COMPONENT}>;tag={user}-{branch}\r\n\
         To: <sip:{user}@{COMPONENT}>\r\n\
         Call-ID: {user}-{from}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <{contact}>\r\n\
         Expires: 600\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// The answer to a challenge, as a phone computes it.
fn authorization(challenge: &Message, user: &str, password: &str) -> String {
    let challenges: Vec<Challenge> = challenge
        .header_values(&ezk_sip_types::Name::from("WWW-Authenticate".to_owned()))
        .iter()
        .map(|v| Challenge::parse(v).expect("challenge parses"))
        .collect();
    let chosen = choose(&challenges).expect("a supported challenge").clone();
    DigestSession::new(chosen, &mut StdRng::seed_from_u64(5))
        .authorize(
            &Credentials {
                username: user.into(),
                password: password.into(),
            },
            "REGISTER",
            &format!("sip:{COMPONENT}"),
            b"",
        )
        .expect("authorizes")
}

fn status(m: &Message) -> u16 {
    validate::response(m).map_or(0, |h| h.status)
}

/// The attacker: a bare UDP socket on 127.0.0.2.
struct Attacker {
    socket: UdpSocket,
    addr: SocketAddr,
    parley: SocketAddr,
}

impl Attacker {
    async fn bind(parley: SocketAddr) -> Attacker {
        let socket = UdpSocket::bind("127.0.0.2:0")
            .await
            .expect("bind 127.0.0.2 (Linux routes all of 127/8 to lo)");
        let addr = socket.local_addr().expect("address");
        Attacker {
            socket,
            addr,
            parley,
        }
    }

    async fn send(&self, text: &str) {
        self.socket
            .send_to(text.as_bytes(), self.parley)
            .await
            .expect("send");
    }

    /// The next final response whose top Via branch is `z9hG4bK<branch>`.
    async fn answer(&self, branch: &str) -> Message {
        let wanted = format!("z9hG4bK{branch}");
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, _) = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no answer to {branch} within {WAIT:?}"))
                .expect("recv");
            let Ok(m) = Message::parse(Bytes::copy_from_slice(&buf[..n]), ParseLimits::default())
            else {
                continue;
            };
            if validate::response(&m)
                .is_ok_and(|h| h.status >= 200 && h.branch.as_deref() == Some(wanted.as_str()))
            {
                return m;
            }
        }
    }

    async fn exchange(&self, text: &str, branch: &str) -> Message {
        self.send(text).await;
        self.answer(branch).await
    }
}

fn metric(world: &World, sample: &str) -> f64 {
    world.parley.metric_opt(sample).unwrap_or(0.0)
}

/// The second phone registers with its password (401, then 200).
async fn register_phone(world: &World, phone: &Phone) {
    let parley = world.sip_addr();
    let first = register(phone.addr, "bob", "bob1", 1, &phone.contact(), "");
    let challenge = phone
        .request(&first, "z9hG4bKbob1", parley, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sip_phone::status(&challenge), 401, "{challenge:?}");
    let auth = authorization(&challenge.msg, "bob", "builder");
    let second = register(
        phone.addr,
        "bob",
        "bob2",
        2,
        &phone.contact(),
        &format!("Authorization: {auth}\r\n"),
    );
    let ok = phone
        .request(&second, "z9hG4bKbob2", parley, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sip_phone::status(&ok), 200, "{ok:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_stale_and_flooding_registers_are_refused_while_another_phone_registers() {
    let (world, _dir) = world();
    let attacker = Attacker::bind(world.sip_addr()).await;
    let from = attacker.addr;
    let alice_contact = format!("sip:alice@{from}");

    // A registration the attacker has seen: challenged, answered, bound.
    let challenge = attacker
        .exchange(&register(from, "alice", "a1", 1, &alice_contact, ""), "a1")
        .await;
    assert_eq!(status(&challenge), 401);
    let auth = authorization(&challenge, "alice", "wonderland");
    let ok = attacker
        .exchange(
            &register(
                from,
                "alice",
                "a2",
                2,
                &alice_contact,
                &format!("Authorization: {auth}\r\n"),
            ),
            "a2",
        )
        .await;
    assert_eq!(status(&ok), 200);
    assert_eq!(metric(&world, "parley_registrar_bindings"), 1.0);

    // RFC 7616 §3.4: the same Authorization again (nonce count not raised),
    // now binding the attacker's own contact: challenged, nothing bound.
    let replay = attacker
        .exchange(
            &register(
                from,
                "alice",
                "a3",
                3,
                "sip:mallory@127.0.0.2:9",
                &format!("Authorization: {auth}\r\n"),
            ),
            "a3",
        )
        .await;
    assert_eq!(status(&replay), 401, "a replay is challenged");
    assert_eq!(
        metric(&world, r#"parley_registrar_auth_total{outcome="replay"}"#),
        1.0
    );
    assert_eq!(metric(&world, "parley_registrar_bindings"), 1.0);

    // RFC 7616 §3.3: a right answer to a nonce past `nonce_secs` gets a
    // new challenge with stale=true and binds nothing. The second phone
    // registers while the nonce ages.
    let challenge = attacker
        .exchange(
            &register(from, "alice", "a4", 4, "sip:mallory@127.0.0.2:9", ""),
            "a4",
        )
        .await;
    assert_eq!(status(&challenge), 401);
    let old = authorization(&challenge, "alice", "wonderland");
    let phone = Phone::bind("bob").await;
    register_phone(&world, &phone).await;
    assert_eq!(metric(&world, "parley_registrar_bindings"), 2.0);
    tokio::time::sleep(Duration::from_secs(NONCE_SECS + 1)).await;
    let stale = attacker
        .exchange(
            &register(
                from,
                "alice",
                "a5",
                5,
                "sip:mallory@127.0.0.2:9",
                &format!("Authorization: {old}\r\n"),
            ),
            "a5",
        )
        .await;
    assert_eq!(status(&stale), 401);
    let again = stale.header("WWW-Authenticate").unwrap_or_default();
    assert!(again.contains("stale=true"), "{again}");
    assert_eq!(
        metric(&world, r#"parley_registrar_auth_total{outcome="stale"}"#),
        1.0
    );
    assert_eq!(metric(&world, "parley_registrar_bindings"), 2.0);

    // A flood: 40 REGISTERs at 20/s from 127.0.0.2, over a bucket of 10
    // refilled at 2/s. Meanwhile an XMPP user's message reaches bob.
    let flood = tokio::spawn(async move {
        let mut answers = Vec::new();
        for i in 0..40 {
            let branch = format!("f{i}");
            let m = attacker
                .exchange(
                    &register(
                        from,
                        "alice",
                        &branch,
                        10 + i,
                        "sip:mallory@127.0.0.2:9",
                        "",
                    ),
                    &branch,
                )
                .await;
            answers.push((status(&m), m.header("Retry-After")));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answers
    });
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='during-flood' type='chat'><body>still here?</body></message>"
        ))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !phone
        .requests("MESSAGE")
        .iter()
        .any(|(_, r)| r.body().contains("still here?"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob never got the message\n{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (head, _) = phone.requests("MESSAGE").remove(0);
    assert_eq!(
        head.request_uri.as_str(),
        phone.contact(),
        "sent to bob's contact"
    );

    let answers = flood.await.expect("the flood task");
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    let challenged = answers.iter().filter(|(s, _)| *s == 401).count();
    assert!(
        refused.len() >= 15 && challenged >= 10,
        "503s {} and 401s {challenged}: {answers:?}",
        refused.len()
    );
    assert!(
        refused.iter().all(|(_, retry)| retry
            .as_deref()
            .and_then(|r| r.parse::<u32>().ok())
            .is_some_and(|s| s >= 1)),
        "every 503 says when to retry: {refused:?}"
    );
    assert_eq!(
        metric(
            &world,
            r#"parley_limit_rejections_total{limit="registrar_rate"}"#
        ),
        refused.len() as f64
    );
    assert_eq!(
        metric(&world, "parley_registrar_bindings"),
        2.0,
        "alice and bob only"
    );
}
