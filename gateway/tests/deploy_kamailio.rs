//! Parley behind a real Kamailio running `deploy/kamailio/kamailio.cfg`: a
//! phone's MESSAGE to an XMPP user goes phone → Kamailio → Parley → Prosody,
//! and an XMPP user's message goes Parley → Kamailio (`sip.outbound_proxy`,
//! loose-routed) → the phone registered with Kamailio. RFC 3261 §16.6: the
//! proxy decrements Max-Forwards (step 3) and adds its own Via (step 8), and
//! §16.3 step 3 refuses a request with Max-Forwards 0 (483). The config's own
//! rule: a phone may not send From an XMPP domain (403).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    /// Parley's outbound proxy is Kamailio's gateway socket.
    fn start() -> World {
        World::start_with(true)
    }

    /// `outbound_proxy: false`: Parley sends to the Request-URI's host, so
    /// only a route set can bring its requests back through Kamailio.
    fn start_with(outbound_proxy: bool) -> World {
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
{proxy}t1_ms = 100

[metrics]
listen = "{metrics}"

[store]
path = "{store}"

[messages]
delivery_window_ms = 300
"#,
            server = prosody.component_addr(),
            proxy = if outbound_proxy {
                format!("outbound_proxy = \"{}\"\n", kamailio.outbound_proxy())
            } else {
                String::new()
            },
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

/// The Via header values (top first) of every received request starting with
/// `start` in a sipp message log.
fn all_vias_of_received(messages_log: &str, start: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
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
            found.push(
                block
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
                    .collect(),
            );
        }
    }
    found
}

/// The Via header values of the first received request starting with `start`.
fn vias_of_received(messages_log: &str, start: &str) -> Vec<String> {
    all_vias_of_received(messages_log, start)
        .into_iter()
        .next()
        .unwrap_or_default()
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
    // Started before Prosody and Kamailio (they need its address): its
    // clock covers their start on a loaded machine too.
    let phone: SippUas = Sipp::new(&path)
        .timeout(Duration::from_secs(40))
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

/// A subscriber's SUBSCRIBE for juliet's presence, sent to Kamailio.
fn subscribe() -> String {
    support::sipp_subscribe(1, "600")
}

/// Juliet approves bob's subscription when it reaches her.
async fn approve(world: &World, juliet: &mut XmppClient) {
    let bob = format!("bob@{COMPONENT}");
    let request = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "presence" && e.attr("type") == Some("subscribe")
        })
        .await
        .unwrap_or_else(|| panic!("no subscribe reached juliet\n{}", world.logs()));
    assert_eq!(request.attr("from"), Some(bob.as_str()));
    juliet
        .send_xml(&format!("<presence to='{bob}' type='subscribed'/>"))
        .await;
}

/// One NOTIFY as the phone got it.
#[derive(Debug)]
struct Notify {
    state: String,
    vias: Vec<String>,
}

/// A presence subscriber on a plain UDP socket (sipp cannot take the 200 and
/// a NOTIFY in either order without losing one): subscribe to juliet through
/// Kamailio, answer every NOTIFY with 200 until one is `active`, un-SUBSCRIBE
/// (Expires: 0) through Kamailio with a preloaded Route (RFC 3261 §8.1.2, its
/// outbound proxy) to the remote target, until a `terminated` NOTIFY and the
/// 200 are in. Requests are resent every 500 ms until answered. Returns every
/// NOTIFY received, or a transcript of what went wrong.
fn subscribe_and_unsubscribe(kamailio: SocketAddr) -> Result<Vec<Notify>, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let call_id = format!("kamailio-presence-{}", local.port());
    let mut transcript = String::new();
    let mut notifies = Vec::new();
    let mut to_tag: Option<String> = None;
    let mut remote_target: Option<String> = None;
    // Phase 1: SUBSCRIBE until 200 and an active NOTIFY; phase 2: un-SUBSCRIBE
    // until its 200 and a terminated NOTIFY.
    for cseq in [1, 2] {
        let dialog = match (&to_tag, &remote_target) {
            (Some(tag), Some(target)) if cseq == 2 => Some((tag.as_str(), target.as_str())),
            _ if cseq == 2 => return Err(format!("no dialog after the 200\n{transcript}")),
            _ => None,
        };
        let request = subscribe_request(local, kamailio, &call_id, cseq, dialog);
        let wanted_state = if cseq == 1 { "active" } else { "terminated" };
        let (mut answered, mut notified) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut resend = Instant::now();
        let mut buf = vec![0u8; 65536];
        while !(answered && notified) {
            if Instant::now() > deadline {
                return Err(format!(
                    "phase {cseq}: answered={answered} notified={notified}\n{transcript}"
                ));
            }
            if !answered && Instant::now() >= resend {
                socket
                    .send_to(request.as_bytes(), kamailio)
                    .map_err(|e| e.to_string())?;
                transcript.push_str(&format!(">>> {request}\n"));
                resend = Instant::now() + Duration::from_millis(500);
            }
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            transcript.push_str(&format!("<<< {msg}\n"));
            if msg.starts_with("SIP/2.0 ") {
                if !header(&msg, "CSeq").is_some_and(|c| c.starts_with(&format!("{cseq} "))) {
                    continue;
                }
                if !msg.starts_with("SIP/2.0 200") {
                    return Err(format!("phase {cseq}: refused\n{transcript}"));
                }
                answered = true;
                if cseq == 1 {
                    to_tag = header(&msg, "To")
                        .and_then(|t| t.split(";tag=").nth(1))
                        .map(|t| t.split([';', '>']).next().unwrap_or_default().to_owned());
                    remote_target = header(&msg, "Contact").map(angle_uri);
                }
            } else if msg.starts_with("NOTIFY ") {
                let answer = notify_answer(&msg);
                socket
                    .send_to(answer.as_bytes(), from)
                    .map_err(|e| e.to_string())?;
                // RFC 6665 §3.2: NOTIFY is a target refresh request; RFC 3261
                // §12.2.2: its Contact replaces the dialog's remote target.
                if let Some(contact) = header(&msg, "Contact") {
                    remote_target = Some(angle_uri(contact));
                }
                let state = header(&msg, "Subscription-State")
                    .unwrap_or_default()
                    .to_owned();
                notified |= state.starts_with(wanted_state);
                notifies.push(Notify {
                    state,
                    vias: via_values(&msg),
                });
            }
        }
    }
    Ok(notifies)
}

/// A SUBSCRIBE for juliet's presence from bob. In the dialog (`to_tag` and
/// `target` known): the un-SUBSCRIBE (Expires: 0) to the remote target, with a
/// Route to `proxy` (RFC 3261 §8.1.2: the phone's outbound proxy, loose-routing).
fn subscribe_request(
    local: SocketAddr,
    proxy: SocketAddr,
    call_id: &str,
    cseq: u32,
    dialog: Option<(&str, &str)>,
) -> String {
    let juliet = format!("sip:juliet@{XMPP_DOMAIN}");
    let (uri, route, to_tag, expires) = match dialog {
        Some((tag, target)) => (
            target.to_owned(),
            format!("Route: <sip:{proxy};lr>\r\n"),
            format!(";tag={tag}"),
            0,
        ),
        None => (juliet.clone(), String::new(), String::new(), 600),
    };
    format!(
        "SUBSCRIBE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}-{cseq}\r\n\
         {route}\
         Max-Forwards: 70\r\n\
         From: <sip:bob@{COMPONENT}>;tag=bob\r\n\
         To: <{juliet}>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} SUBSCRIBE\r\n\
         Contact: <sip:bob@{local}>\r\n\
         Event: presence\r\n\
         Accept: application/pidf+xml\r\n\
         Expires: {expires}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The value of the first header `name` (full or compact form) in `msg`.
fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let compact = match name {
        "Contact" => "m",
        "To" => "t",
        "Via" => "v",
        _ => "",
    };
    msg.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        let n = n.trim();
        (n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(compact)).then(|| v.trim())
    })
}

/// Every Via value of `msg`, top first (comma-separated values split).
fn via_values(msg: &str) -> Vec<String> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case("via") || n.eq_ignore_ascii_case("v")).then_some(v)
        })
        .flat_map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `sip:x@h:p` out of `<sip:x@h:p>;params` (or a bare URI).
fn angle_uri(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].to_owned(),
        _ => value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// RFC 3261 §8.2.6.2: a 200 to `notify` with its Vias, From, To, Call-ID and
/// CSeq copied.
fn notify_answer(notify: &str) -> String {
    let mut answer = String::from("SIP/2.0 200 OK\r\n");
    for line in notify.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        if ["via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"]
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h))
        {
            answer.push_str(line);
            answer.push_str("\r\n");
        }
    }
    answer.push_str("Content-Length: 0\r\n\r\n");
    answer
}

/// A phone subscribes to juliet's presence through Kamailio, gets NOTIFY
/// pending, active (she approves) and terminated (it un-SUBSCRIBEs), each
/// NOTIFY through Kamailio (RFC 3261 §16.6 step 8: its Via on top), and its
/// un-SUBSCRIBE is loose-routed by Kamailio to Parley's Contact (§16.12).
async fn subscribe_through_kamailio(world: World) {
    let mut juliet = XmppClient::connect(&world.prosody, "juliet", PASSWORD).await;
    let proxy = world.kamailio.public_addr();
    let phone = std::thread::spawn(move || subscribe_and_unsubscribe(proxy));
    approve(&world, &mut juliet).await;
    let notifies = phone
        .join()
        .expect("phone thread")
        .unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
    let states: Vec<&str> = notifies.iter().map(|n| n.state.as_str()).collect();
    assert!(
        states.iter().any(|s| s.starts_with("pending")),
        "{states:?}"
    );
    // Each NOTIFY came through Kamailio: its Via on top, Parley's below.
    let kamailio_ports = [world.kamailio.public_port, world.kamailio.gateway_port];
    for Notify { vias, .. } in &notifies {
        assert_eq!(vias.len(), 2, "{vias:?}");
        assert!(
            kamailio_ports
                .iter()
                .any(|p| vias[0].starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{p};"))),
            "top Via is not Kamailio's: {vias:?}"
        );
        assert!(
            vias[1].starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{};", world.sip_port)),
            "second Via is not Parley's: {vias:?}"
        );
    }
}

/// RFC 6665 §4.1.2 and §4.2: a presence subscription dialog through Kamailio,
/// with Parley's `sip.outbound_proxy` at Kamailio as deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_dialog_through_kamailio_reaches_the_phone() {
    subscribe_through_kamailio(World::start()).await;
}

/// RFC 3261 §8.1.2: a request with a Route header "SHOULD be sent to the
/// locations derived from its topmost value" — for Parley's NOTIFYs, the
/// Record-Route Kamailio put on the SUBSCRIBE (§16.6 step 4, §12.1.1). Without
/// an outbound proxy, only that route brings them back through Kamailio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_follows_the_record_route_without_an_outbound_proxy() {
    subscribe_through_kamailio(World::start_with(false)).await;
}

/// RFC 3261 §12.1.1: "the UAS MUST copy all Record-Route header field values
/// from the request into the response" that establishes the dialog, so that
/// the subscriber's route set also goes through Kamailio. Kamailio's UDP
/// workers may forward Parley's first NOTIFY ahead of the 200, and RFC 6665
/// §4.1.2.4 says "the subscriber MUST be prepared to receive NOTIFY requests
/// before the SUBSCRIBE transaction has completed": the phone takes it and
/// still waits for the 200. (It leaves that NOTIFY unanswered: sipp would
/// only send its 200 at the SUBSCRIBE's next retransmission time, after the
/// SUBSCRIBE's own 200 had arrived and been refused as unexpected.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_answer_through_kamailio_carries_its_record_route() {
    let world = World::start();
    let public = world.kamailio.public_port;
    let check = format!(
        r#"<ereg regexp="&lt;sip:127\.0\.0\.1:{public};lr" search_in="hdr" header="Record-Route:" check_it="true" assign_to="rr"/>"#
    );
    let scenario = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="subscribe via kamailio">
{subscribe}<recv request="NOTIFY" optional="true"/>
<recv response="200"><action>{check}</action></recv>
<Reference variables="rr"/>
</scenario>
"#,
        subscribe = subscribe(),
    );
    let out = Sipp::new(world.scenario("subscribe.xml", &scenario))
        .timeout(Duration::from_secs(10))
        .run_uac(world.kamailio.public_addr());
    assert!(out.success, "{}\n{}", out.report(), world.logs());
}
