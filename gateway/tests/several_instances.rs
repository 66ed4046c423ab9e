//! Two Parley instances for one component domain, as deployed: both attached
//! to one ejabberd (it accepts several XEP-0114 connections for a domain and
//! routes each stanza to one of them), behind one Kamailio running
//! `deploy/kamailio/kamailio.cfg` with `WITH_DISPATCHER` (a hash over the XMPP
//! user for new requests, OPTIONS probing, failover to the next instance).
//! Each instance has its own SQLite store: this is about MESSAGE traffic
//! (RFC 3428, mapped per RFC 7572) and connections, not presence.
//!
//! RFC 3261 §16.7 step 6: a proxy that gets no final answer from a branch
//! (its own 408) may try other locations; Kamailio does so with `ds_next_dst`.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parley_harness::ejabberd::{Ejabberd, EjabberdConfig};
use parley_harness::kamailio::{Dispatcher, Kamailio, KamailioConfig, instance_uri};
use parley_harness::parley::{InstanceConfig, Parley};
use parley_harness::port::{free_tcp_port, free_udp_tcp_ports};
use parley_harness::sipp::{Sipp, SippOutcome, SippUas};
use parley_harness::xmpp_client::XmppClient;
use support::{child_text, uas_message};

/// ejabberd's host for c2s users.
const XMPP_DOMAIN: &str = "xmpp.example";
/// Parley's component domain, also the SIP domain Kamailio serves.
const COMPONENT: &str = "sip.example.net";
const PASSWORD: &str = "pw-for-tests";
/// The XMPP users. Kamailio's hash over `user@domain` sends some of them to
/// each of two instances (a fixed function of these names: checked below).
const USERS: [&str; 6] = ["juliet", "romeo", "nurse", "tybalt", "mercutio", "benvolio"];
/// Parley's delivery window (the 200 to a MESSAGE comes when it closes).
const WINDOW_MS: u64 = 300;
/// Kamailio's wait for an instance's final answer: above the window.
const FR_TIMER_MS: u32 = 1500;
/// Seconds between Kamailio's OPTIONS probes.
const PING_INTERVAL_S: u32 = 1;
/// Messages per direction and phase.
const N: usize = 24;

/// ejabberd, Kamailio with the dispatcher, two Parley instances.
struct World {
    ejabberd: Ejabberd,
    kamailio: Kamailio,
    /// `None` once killed.
    instances: Vec<Option<Parley>>,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
}

impl World {
    fn start() -> World {
        let ejabberd = Ejabberd::start(EjabberdConfig {
            domain: XMPP_DOMAIN.into(),
            component_domain: COMPONENT.into(),
            component_secret: "component-secret-for-ejabberd".into(),
        });
        for user in USERS {
            ejabberd.add_user(user, PASSWORD);
        }
        let ports = free_udp_tcp_ports(2);
        let kamailio = Kamailio::start_dispatching(
            KamailioConfig {
                sip_domain: COMPONENT.into(),
                xmpp_domains: vec![XMPP_DOMAIN.into()],
                parley_uri: String::new(),
            },
            Dispatcher {
                instances: ports.iter().map(|p| instance_uri(*p)).collect(),
                ping_interval_s: PING_INTERVAL_S,
                fr_timer_ms: FR_TIMER_MS,
            },
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let instances = ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let metrics: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
                let store = format!(
                    "path = \"{}\"",
                    dir.path().join(format!("store-{i}")).display()
                );
                let config = InstanceConfig {
                    component: COMPONENT,
                    xmpp_server: &ejabberd.component_addr(),
                    secret: ejabberd.component_secret(),
                    sip_port: *port,
                    outbound_proxy: &kamailio.outbound_proxy(),
                    metrics,
                    store: &store,
                    delivery_window_ms: WINDOW_MS,
                    keepalive_secs: None,
                }
                .to_toml();
                let parley = Parley::start(
                    &PathBuf::from(env!("CARGO_BIN_EXE_parley")),
                    &config,
                    metrics,
                );
                parley.wait_ready(Duration::from_secs(20));
                Some(parley)
            })
            .collect();
        let world = World {
            ejabberd,
            kamailio,
            instances,
            ports,
            dir,
        };
        world.wait_all_active();
        world
    }

    /// Until Kamailio takes both instances as up.
    fn wait_all_active(&self) {
        if let Err(e) = self.kamailio.wait_instances_up(Duration::from_secs(10)) {
            panic!("{e}\n{}", self.logs());
        }
    }

    fn parley(&self, i: usize) -> &Parley {
        self.instances[i].as_ref().expect("instance alive")
    }

    fn scenario(&self, name: &str, xml: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, xml).expect("write scenario");
        path
    }

    /// Every server's log, for failure messages.
    fn logs(&self) -> String {
        let mut s = format!("--- kamailio ---\n{}", self.kamailio.log());
        for (i, p) in self.instances.iter().enumerate() {
            if let Some(p) = p {
                s.push_str(&format!("\n--- parley {i} ---\n{}", p.log()));
            }
        }
        s
    }

    /// Register `sip:<user>@<COMPONENT>` with Kamailio at `contact`.
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
        assert!(out.success, "REGISTER failed:\n{}", out.report());
    }

    /// A sipp UAC sending `calls` MESSAGEs from alice through Kamailio's
    /// public socket, to the users of `USERS` in turn, each with the body
    /// `<tag> <user> <call number>`, each expecting 200.
    fn send_sip_messages(&self, tag: &str, calls: usize) -> Sipp {
        let users: String = USERS.iter().map(|u| format!("{u};\n")).collect();
        let csv = self.dir.path().join(format!("users-{tag}.csv"));
        std::fs::write(&csv, format!("SEQUENTIAL\n{users}")).expect("write csv");
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="messages">
<send retrans="500"><![CDATA[
MESSAGE sip:[field0]@{XMPP_DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:alice@{COMPONENT}>;tag=[pid]-[call_number]
To: <sip:[field0]@{XMPP_DOMAIN}>
Call-ID: [call_id]
CSeq: 1 MESSAGE
Content-Type: text/plain
Content-Length: [len]

{tag} [field0] [call_number]
]]></send>
<recv response="200" timeout="15000"/>
</scenario>
"#
        );
        Sipp::new(self.scenario(&format!("uac-{tag}.xml"), &xml))
            .arg("-inf")
            .arg(&csv.display().to_string())
            .arg("-cid_str")
            .arg(&format!("{tag}-%u-%p@%s"))
            .calls(u32::try_from(calls).expect("few calls"))
            .rate(20)
            .timeout(Duration::from_secs(30))
    }

    /// `parley_messages_total{direction, outcome="delivered"}` of instance `i`.
    fn delivered(&self, i: usize, direction: &str) -> f64 {
        self.parley(i).metric(&format!(
            r#"parley_messages_total{{direction="{direction}",outcome="delivered"}}"#
        ))
    }
}

/// The XMPP users, logged in to ejabberd.
async fn log_in(world: &World) -> Vec<XmppClient> {
    let mut clients = Vec::new();
    for user in USERS {
        clients.push(
            XmppClient::connect_to(
                &world.ejabberd.c2s_addr(),
                &format!("{user}@{XMPP_DOMAIN}"),
                PASSWORD,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", world.ejabberd.log())),
        );
    }
    clients
}

/// The bodies of `<message/>`s the clients receive until `want` arrived in
/// all or `timeout` passed, per body: how many times.
async fn collect_bodies(
    clients: &mut [XmppClient],
    want: usize,
    timeout: Duration,
) -> BTreeMap<String, usize> {
    let deadline = Instant::now() + timeout;
    let mut got = BTreeMap::new();
    while got.values().sum::<usize>() < want && Instant::now() < deadline {
        for client in clients.iter_mut() {
            while let Some(m) = client
                .recv_matching(Duration::from_millis(20), |e| e.name() == "message")
                .await
            {
                let body = child_text(&m, "body").unwrap_or_default();
                *got.entry(body.trim_end().to_owned()).or_default() += 1;
            }
        }
    }
    got
}

/// Each XMPP user sends `per_user` messages to bob, body `<tag> <user> <i>`.
async fn send_xmpp_messages(clients: &mut [XmppClient], tag: &str, per_user: usize) -> Vec<String> {
    let mut bodies = Vec::new();
    for i in 0..per_user {
        for (client, user) in clients.iter_mut().zip(USERS) {
            let body = format!("{tag} {user} {i}");
            client
                .send_xml(&format!(
                    "<message to='bob@{COMPONENT}' id='{tag}-{user}-{i}' type='chat'><body>{body}</body></message>"
                ))
                .await;
            bodies.push(body);
        }
    }
    bodies
}

/// The bodies of the MESSAGEs a sipp UAS received (retransmissions once).
fn received_bodies(out: &SippOutcome, tag: &str) -> BTreeMap<String, usize> {
    // A retransmission repeats the Call-ID: count each Call-ID's body once.
    let mut by_call = BTreeMap::new();
    let mut call_id = String::new();
    for line in out.messages_log.lines() {
        if let Some(id) = line.strip_prefix("Call-ID:") {
            call_id = id.trim().to_owned();
        } else if line.starts_with(&format!("{tag} ")) {
            by_call.insert(call_id.clone(), line.trim_end().to_owned());
        }
    }
    let mut bodies = BTreeMap::new();
    for body in by_call.into_values() {
        *bodies.entry(body).or_default() += 1;
    }
    bodies
}

fn each_once(bodies: &[String]) -> BTreeMap<String, usize> {
    bodies.iter().map(|b| (b.clone(), 1)).collect()
}

/// Messages in both directions through both instances; then one instance is
/// killed (SIGKILL) with a MESSAGE in its delivery window, and every later
/// message goes through the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_carry_messages_both_ways_and_survive_a_kill() {
    // bob's phone: every XMPP→SIP MESSAGE of both phases.
    let uas_path = tempfile::tempdir().expect("temp dir");
    let uas_xml = uas_path.path().join("uas.xml");
    std::fs::write(&uas_xml, uas_message(&[], Some((200, "OK")))).expect("write scenario");
    let phone: SippUas = Sipp::new(&uas_xml)
        .calls(u32::try_from(2 * N).expect("few"))
        .timeout(Duration::from_secs(120))
        .spawn_uas();
    let mut world = tokio::task::block_in_place(World::start);
    world.register("bob", phone.addr());
    let mut clients = log_in(&world).await;

    // OPTIONS through Kamailio to an XMPP user: answered by an instance
    // (its Allow lists MESSAGE; Kamailio would not).
    let options = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="options">
<send retrans="500"><![CDATA[
OPTIONS sip:juliet@{XMPP_DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:alice@{COMPONENT}>;tag=[pid]-[call_number]
To: <sip:juliet@{XMPP_DOMAIN}>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Content-Length: 0

]]></send>
<recv response="200" timeout="5000"><action>
<ereg regexp="MESSAGE" search_in="hdr" header="Allow:" check_it="true" assign_to="allow"/>
</action></recv>
<Reference variables="allow"/>
</scenario>
"#
    );
    let out = Sipp::new(world.scenario("options.xml", &options))
        .timeout(Duration::from_secs(10))
        .run_uac(world.kamailio.public_addr());
    assert!(out.success, "OPTIONS:\n{}\n{}", out.report(), world.logs());

    // Phase 1: N each way, both instances up.
    let sender = std::thread::spawn({
        let sipp = world.send_sip_messages("p1", N);
        let proxy = world.kamailio.public_addr();
        move || sipp.run_uac(proxy)
    });
    let got = collect_bodies(&mut clients, N, Duration::from_secs(30)).await;
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.logs());
    assert_eq!(out.received("SIP/2.0 200"), N, "{}", out.report());
    assert_eq!(got.values().sum::<usize>(), N, "{got:?}");
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    let sent_p1 = send_xmpp_messages(&mut clients, "x1", N / USERS.len()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while world.delivered(0, "xmpp_to_sip") + world.delivered(1, "xmpp_to_sip") < N as f64 {
        assert!(
            Instant::now() < deadline,
            "XMPP→SIP phase 1 not delivered\n{}",
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let per_instance: Vec<(f64, f64)> = (0..2)
        .map(|i| {
            (
                world.delivered(i, "sip_to_xmpp"),
                world.delivered(i, "xmpp_to_sip"),
            )
        })
        .collect();
    println!("phase 1 (sip→xmpp, xmpp→sip) per instance: {per_instance:?}");
    assert_eq!(per_instance.iter().map(|p| p.0).sum::<f64>(), N as f64);
    assert_eq!(per_instance.iter().map(|p| p.1).sum::<f64>(), N as f64);
    for (i, (to_xmpp, to_sip)) in per_instance.iter().enumerate() {
        assert!(
            *to_xmpp > 0.0,
            "instance {i} carried no SIP→XMPP message: {per_instance:?}"
        );
        assert!(
            *to_sip > 0.0,
            "instance {i} carried no XMPP→SIP message: {per_instance:?}"
        );
    }

    // juliet's instance, from Kamailio's log of phase 1.
    let juliet_at = |port: u16| {
        world.kamailio.log().contains(&format!(
            "to sip:juliet@{XMPP_DOMAIN} dispatched to {}",
            instance_uri(port)
        ))
    };
    let victim = (0..2)
        .find(|i| juliet_at(world.ports[*i]))
        .unwrap_or_else(|| {
            panic!(
                "juliet's MESSAGEs were dispatched nowhere\n{}",
                world.logs()
            )
        });
    let survivor = 1 - victim;
    assert!(
        !juliet_at(world.ports[survivor]),
        "juliet's new requests went to both"
    );

    // A MESSAGE in flight at the kill: its stanza reached juliet, its
    // delivery window is open. Kamailio gets no answer within FR_TIMER,
    // marks the instance down and sends the MESSAGE to the survivor, which
    // delivers it again and answers 200: the sender sees one 200, late;
    // juliet sees the message twice.
    let log_mark = world.kamailio.log().len();
    let inflight = support::SipMessage {
        from: &format!("sip:alice@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "inflight-at-kill",
        content_type: "text/plain",
        headers: &[],
        body: "in flight at the kill",
        expect: 200,
    };
    let started = Instant::now();
    let sender = std::thread::spawn({
        let sipp = inflight.sipp(world.scenario("inflight.xml", &inflight.scenario()));
        let proxy = world.kamailio.public_addr();
        move || (sipp.run_uac(proxy), started.elapsed())
    });
    let first = collect_bodies(&mut clients[..1], 1, Duration::from_secs(10)).await;
    assert_eq!(
        first.get("in flight at the kill"),
        Some(&1),
        "{first:?}\n{}",
        world.logs()
    );
    let mut killed = world.instances[victim].take().expect("victim alive");
    killed.kill();
    let killed_at = Instant::now();
    let second = collect_bodies(&mut clients[..1], 1, Duration::from_secs(15)).await;
    let (out, answered_after) = sender.join().expect("sipp thread");
    assert!(
        out.success,
        "in-flight MESSAGE:\n{}\n{}",
        out.report(),
        world.logs()
    );
    assert_eq!(out.received("SIP/2.0 200"), 1, "{}", out.report());
    assert_eq!(
        second.get("in flight at the kill"),
        Some(&1),
        "the survivor did not deliver it again: {second:?}\n{}",
        world.logs()
    );
    let kamailio_after = world.kamailio.log()[log_mark..].to_owned();
    let victim_uri = instance_uri(world.ports[victim]);
    assert!(
        kamailio_after.contains(&format!(
            "MESSAGE inflight-at-kill: no answer from {victim_uri}, marked down"
        )) && kamailio_after.contains(&format!(
            "MESSAGE inflight-at-kill redispatched to {}",
            instance_uri(world.ports[survivor])
        )),
        "{kamailio_after}"
    );
    println!("in-flight MESSAGE: 200 after {answered_after:?} (FR_TIMER {FR_TIMER_MS} ms)");
    // The probes keep it down (event_route[dispatcher:dst-down] logged it
    // when the failure route or a probe marked it).
    world
        .kamailio
        .wait_log_since(
            log_mark,
            &format!("Parley instance {victim_uri} down"),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("{victim_uri} never marked down\n{}", world.logs()));
    println!(
        "victim marked down within {:?} of the kill",
        killed_at.elapsed()
    );

    // Phase 2: N each way, every one through the survivor.
    let before = (
        world.delivered(survivor, "sip_to_xmpp"),
        world.delivered(survivor, "xmpp_to_sip"),
    );
    let sender = std::thread::spawn({
        let sipp = world.send_sip_messages("p2", N);
        let proxy = world.kamailio.public_addr();
        move || sipp.run_uac(proxy)
    });
    let got = collect_bodies(&mut clients, N, Duration::from_secs(30)).await;
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.logs());
    assert_eq!(out.received("SIP/2.0 200"), N, "{}", out.report());
    assert_eq!(got.values().sum::<usize>(), N, "{got:?}");
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    let sent_p2 = send_xmpp_messages(&mut clients, "x2", N / USERS.len()).await;
    let phone_out = tokio::task::block_in_place(|| phone.wait());
    assert!(
        phone_out.success,
        "{}\n{}",
        phone_out.report(),
        world.logs()
    );
    assert_eq!(received_bodies(&phone_out, "x1"), each_once(&sent_p1));
    assert_eq!(received_bodies(&phone_out, "x2"), each_once(&sent_p2));
    assert_eq!(
        world.delivered(survivor, "sip_to_xmpp") - before.0,
        N as f64,
        "SIP→XMPP after the kill, at the survivor"
    );
    assert_eq!(
        world.delivered(survivor, "xmpp_to_sip") - before.1,
        N as f64,
        "XMPP→SIP after the kill, at the survivor"
    );
    // Inactive instances are not selected: no phase-2 request went to it.
    let kamailio_after = world.kamailio.log()[log_mark..].to_owned();
    assert!(
        !kamailio_after.lines().any(
            |l| l.contains("MESSAGE p2-") && l.contains(&format!("dispatched to {victim_uri}"))
        ),
        "{kamailio_after}"
    );
    // No XMPP sender got an error back.
    for client in &mut clients {
        let error = client
            .recv_matching(Duration::from_millis(100), |e| {
                e.attr("type") == Some("error")
            })
            .await;
        assert!(error.is_none(), "unexpected error: {error:?}");
    }
}
