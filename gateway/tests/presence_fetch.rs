//! RFC 8048 §7, presence "polling", end to end against Prosody and sipp.
//!
//! §7.1: an XMPP probe for a SIP contact becomes "a SUBSCRIBE request with an
//! Expires header value of zero ("0") in a new dialog"; the NOTIFY it
//! triggers (RFC 6665 §4.4.3: "terminated", reason "timeout") becomes one
//! `<presence/>` for the prober; a failed fetch is `unavailable`. RFC 8048
//! §8.1: a burst of probes is one SUBSCRIBE.
//!
//! §7.2: a SIP SUBSCRIBE with Expires: 0 gets 200 and one NOTIFY
//! `terminated;reason=timeout` with the XMPP user's current state, probed
//! from her server "if it does not already have presence information"; no
//! `subscribe` reaches her and no subscription stays.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use parley_harness::sipp::SippUas;
use parley_harness::xmpp_client::XmppClient;
use support::{COMPONENT, Options, World, XMPP_DOMAIN};

const BOB_PIDF: &str = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@sip.example.net"><tuple id="t1"><status><basic>open</basic></status><note>At the balcony</note></tuple></presence>"#;

/// sipp as bob's presence agent for fetches: checks each SUBSCRIBE is a
/// fetch (Expires: 0, Event: presence, Accept: PIDF, From an XMPP user),
/// waits `hold_ms`, then `answer` (from [`fetch_ok`] or [`fetch_refused`]),
/// then `after`.
fn notifier(hold_ms: u32, answer: &str, after: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="fetch notifier">
<recv request="SUBSCRIBE"><action>
<ereg regexp="^ *0$" search_in="hdr" header="Expires:" check_it="true" assign_to="zero"/>
<ereg regexp="^ *presence" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
<ereg regexp="application/pidf\+xml" search_in="hdr" header="Accept:" check_it="true" assign_to="acc"/>
<ereg regexp="sip:(juliet|romeo)@{XMPP_DOMAIN}&gt;" search_in="hdr" header="From:" check_it="true" assign_to="who"/>
<ereg regexp="&lt;.*$" search_in="hdr" header="From:" check_it="true" assign_to="subfrom"/>
<ereg regexp="&lt;[^&gt;]*&gt;" search_in="hdr" header="To:" check_it="true" assign_to="subto"/>
<ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="subcontact"/>
<ereg regexp="[^ ].*$" search_in="hdr" header="Via:" check_it="true" assign_to="subvia"/>
<ereg regexp="[0-9]+ SUBSCRIBE" search_in="hdr" header="CSeq:" check_it="true" assign_to="subcseq"/>
</action></recv>
<Reference variables="zero,ev,acc,who,subfrom,subto,subcontact,subvia,subcseq"/>
<pause milliseconds="{hold_ms}"/>
{answer}{after}</scenario>
"#
    )
}

/// The 200 to the fetch SUBSCRIBE, Expires: 0.
const FETCH_200: &str = r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 0
Content-Length: 0

]]></send>
"#;

/// The fetch's one NOTIFY, terminated;reason=timeout with `pidf` (RFC 6665 §4.4.3).
fn fetch_notify(pidf: &str) -> String {
    format!(
        r#"<send><![CDATA[
NOTIFY [$subcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: [$subto];tag=[pid]bob
To: [$subfrom]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
Subscription-State: terminated;reason=timeout
Content-Type: application/pidf+xml
Content-Length: [len]

{pidf}
]]></send>
"#
    )
}

/// 200, then the NOTIFY, which Parley answers 200.
fn fetch_ok(pidf: &str) -> String {
    format!(
        "{FETCH_200}{}<recv response=\"200\"/>\n",
        fetch_notify(pidf)
    )
}

/// The NOTIFY first, then the 200, as RFC 6665 §4.1.2.4 allows. (sipp
/// takes the 200's headers from the SUBSCRIBE as captured: its `[last_…]`
/// would be the NOTIFY's 200 by then.)
fn fetch_notify_first(pidf: &str) -> String {
    format!(
        r#"{}<recv response="200"/>
<send><![CDATA[
SIP/2.0 200 OK
Via: [$subvia]
From: [$subfrom]
To: [$subto];tag=[pid]bob
Call-ID: [call_id]
CSeq: [$subcseq]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 0
Content-Length: 0

]]></send>
"#,
        fetch_notify(pidf)
    )
}

/// A NOTIFY in the fetch's dialog after its final one: the dialog is gone,
/// so RFC 6665 §4.1.3's 481.
const LATE_NOTIFY_GETS_481: &str = r#"<send><![CDATA[
NOTIFY [$subcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: [$subto];tag=[pid]bob
To: [$subfrom]
Call-ID: [call_id]
CSeq: 2 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
Subscription-State: terminated;reason=timeout
Content-Length: 0

]]></send>
<recv response="481"/>
"#;

fn fetch_refused(code: u16, reason: &str) -> String {
    format!(
        r#"<send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#
    )
}

/// A world whose SIP requests go to a sipp UAS running `scenario` for `calls` calls.
fn world_with_notifier(scenario: &str, calls: u32) -> (World, SippUas) {
    World::start_with_uas(
        scenario,
        |uas| uas.calls(calls).timeout(Duration::from_secs(20)),
        Options::default(),
    )
}

/// The distinct dialogs sipp saw SUBSCRIBEs in (UDP retransmissions count once).
fn fetch_dialogs(out: &parley_harness::sipp::SippOutcome) -> std::collections::BTreeSet<String> {
    out.messages_log
        .split("-----------------------------------------------")
        .filter(|block| block.contains("message received") && block.contains("\nSUBSCRIBE "))
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("Call-ID:"))
                .map(|c| c.trim().to_owned())
        })
        .collect()
}

fn bob() -> String {
    format!("bob@{COMPONENT}")
}

fn from_bob(e: &tokio_xmpp::minidom::Element) -> bool {
    e.name() == "presence"
        && e.attr("from")
            .is_some_and(|f| f.split('/').next() == Some(bob().as_str()))
}

/// Wait for a metric sample to reach `want` (gauges follow within 50 ms).
async fn metric_reaches(world: &World, sample: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = world.parley.metric(sample);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sample} = {got}, want {want}\n{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fetches(direction: &str, outcome: &str) -> String {
    format!(r#"parley_presence_fetches_total{{direction="{direction}",outcome="{outcome}"}}"#)
}

/// No stanza matching `pred` within `wait`.
async fn nothing_like(
    world: &World,
    client: &mut XmppClient,
    wait: Duration,
    what: &str,
    pred: impl FnMut(&tokio_xmpp::minidom::Element) -> bool,
) {
    if let Some(e) = client.recv_matching(wait, pred).await {
        panic!(
            "unexpected {what}: {}\n{}",
            String::from(&e),
            world.parley.log()
        );
    }
}

/// RFC 8048 §7.1 with the probe Prosody sends for juliet at login (RFC 6121
/// §4.3.1; her roster says she is subscribed to bob): one SUBSCRIBE with
/// Expires: 0, the NOTIFY's PIDF (here overtaking the 200, RFC 6665
/// §4.1.2.4) becomes bob's presence for her. The fetch
/// is not a subscription: no `unsubscribed`, nothing kept, and a NOTIFY in
/// its dialog afterwards gets 481.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_at_login_is_answered_by_a_fetch() {
    let (world, uas) = world_with_notifier(
        &notifier(0, &fetch_notify_first(BOB_PIDF), LATE_NOTIFY_GETS_481),
        1,
    );
    world.prosody.set_roster("juliet", &[(&bob(), "to")]);
    let mut juliet = world.client("juliet").await;
    juliet.send_xml("<presence/>").await;
    let seen = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            from_bob(e) && e.attr("type").is_none()
        })
        .await
        .unwrap_or_else(|| panic!("no presence from bob\n{}", world.parley.log()));
    assert_eq!(
        support::child_text(&seen, "status").as_deref(),
        Some("At the balcony")
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    world.assert_sipp(&out);
    assert_eq!(fetch_dialogs(&out).len(), 1, "{}", out.report());
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_secs(1),
        "presence from bob after the fetch",
        from_bob,
    )
    .await;
    metric_reaches(&world, &fetches("xmpp_to_sip", "presence"), 1.0).await;
    metric_reaches(
        &world,
        r#"parley_registry_entries{kind="sip_subscriptions_out"}"#,
        0.0,
    )
    .await;
}

/// RFC 8048 §7.1: a fetch refused (404) answers the probe `unavailable`
/// (RFC 6121 §4.3.2 rule 3), not `unsubscribed`: no subscription ended; the
/// answer carries the probe's id (§4.3.2.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_fetch_answers_unavailable() {
    let (world, uas) = world_with_notifier(&notifier(0, &fetch_refused(404, "Not Found"), ""), 1);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<presence to='{}' type='probe' id='probe-1'/>",
            bob()
        ))
        .await;
    let answer = juliet
        .recv_matching(Duration::from_secs(10), from_bob)
        .await
        .unwrap_or_else(|| panic!("no answer from bob\n{}", world.parley.log()));
    assert_eq!(
        answer.attr("type"),
        Some("unavailable"),
        "{}",
        String::from(&answer)
    );
    // RFC 6121 §4.3.2.1: with no available resource to report, the answer
    // "SHOULD mirror the 'id' of the user's presence probe".
    assert_eq!(
        answer.attr("id"),
        Some("probe-1"),
        "{}",
        String::from(&answer)
    );
    let out = tokio::task::block_in_place(|| uas.wait());
    world.assert_sipp(&out);
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_secs(1),
        "a second answer",
        from_bob,
    )
    .await;
    metric_reaches(&world, &fetches("xmpp_to_sip", "refused"), 1.0).await;
}

/// RFC 8048 §8.1: five probes at once are one SUBSCRIBE (which bob's agent
/// holds half a second) and one answer; three more right
/// after are answered from it. Romeo's probe is not: his fetch is his own
/// (RFC 8048 §8.2), a second SUBSCRIBE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_probes_is_one_subscribe_per_prober() {
    let (world, uas) = world_with_notifier(&notifier(500, &fetch_ok(BOB_PIDF), ""), 2);
    let mut juliet = world.client("juliet").await;
    let probe = format!("<presence to='{}' type='probe'/>", bob());
    for _ in 0..5 {
        juliet.send_xml(&probe).await;
    }
    let Some(first) = juliet
        .recv_matching(Duration::from_secs(10), from_bob)
        .await
    else {
        let out = uas.stop();
        panic!(
            "no answer from bob\n{}\n{}",
            out.report(),
            world.parley.log()
        );
    };

    assert_eq!(
        support::child_text(&first, "status").as_deref(),
        Some("At the balcony")
    );
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_millis(500),
        "a second answer to one burst",
        from_bob,
    )
    .await;
    for _ in 0..3 {
        juliet.send_xml(&probe).await;
    }
    for _ in 0..3 {
        let again = juliet
            .recv_matching(Duration::from_secs(5), from_bob)
            .await
            .unwrap_or_else(|| panic!("no answer from the reused fetch\n{}", world.parley.log()));
        assert_eq!(
            support::child_text(&again, "status").as_deref(),
            Some("At the balcony")
        );
    }
    let mut romeo = world.client("romeo").await;
    romeo.send_xml(&probe).await;
    let his = romeo
        .recv_matching(Duration::from_secs(10), from_bob)
        .await
        .unwrap_or_else(|| panic!("no answer for romeo\n{}", world.parley.log()));
    assert!(his.attr("type").is_none(), "{}", String::from(&his));
    let out = tokio::task::block_in_place(|| uas.wait());
    world.assert_sipp(&out);
    assert_eq!(fetch_dialogs(&out).len(), 2, "{}", out.report());
    assert!(
        out.messages_log
            .contains(&format!("From: <sip:romeo@{XMPP_DOMAIN}>")),
        "{}",
        out.report()
    );
    metric_reaches(&world, &fetches("xmpp_to_sip", "presence"), 2.0).await;
    metric_reaches(&world, &fetches("xmpp_to_sip", "cached"), 3.0).await;
    let coalesced = world.parley.metric(&fetches("xmpp_to_sip", "coalesced"));
    assert_eq!(coalesced, 4.0, "{}", world.parley.log());
}

// ---- §7.2: SIP → XMPP, over a raw UDP socket standing for bob's phone ----

/// Bob's phone: one UDP socket, requests out, requests and responses in.
struct Phone {
    socket: UdpSocket,
    parley: SocketAddr,
}

impl Phone {
    fn new(parley: SocketAddr) -> Phone {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        Phone { socket, parley }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("addr")
    }

    /// A SUBSCRIBE to juliet's presence in a new dialog.
    fn subscribe(&self, call_id: &str, expires: u32) {
        let local = self.addr();
        let text = format!(
            "SUBSCRIBE sip:juliet@{XMPP_DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:bob@{COMPONENT}>;tag=b-{call_id}\r\n\
             To: <sip:juliet@{XMPP_DOMAIN}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 SUBSCRIBE\r\n\
             Contact: <sip:bob@{local}>\r\n\
             Event: presence\r\n\
             Accept: application/pidf+xml\r\n\
             Expires: {expires}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        self.socket
            .send_to(text.as_bytes(), self.parley)
            .expect("send");
    }

    /// The next message within `wait` (retransmissions of one already seen skipped).
    fn recv(&self, wait: Duration, seen: &mut Vec<String>) -> Option<String> {
        let deadline = Instant::now() + wait;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            let (n, _) = self.socket.recv_from(&mut buf).ok()?;
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if seen.contains(&text) {
                continue;
            }
            seen.push(text.clone());
            return Some(text);
        }
    }

    /// 200 to a request (its Via, From, To, Call-ID and CSeq copied).
    fn ok(&self, request: &str) {
        let mut response = String::from("SIP/2.0 200 OK\r\n");
        for line in request.lines() {
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            if ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str()) {
                response.push_str(line);
                response.push_str("\r\n");
            }
        }
        response.push_str("Content-Length: 0\r\n\r\n");
        self.socket
            .send_to(response.as_bytes(), self.parley)
            .expect("send");
    }
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(message: &str) -> &str {
    message.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Bob fetches juliet's presence (call `call_id`): the 200 says Expires: 0,
/// then exactly one NOTIFY terminated;reason=timeout with a PIDF body,
/// answered 200. Returns that body.
fn fetch_from_phone(world: &World, phone: &Phone, call_id: &str) -> String {
    let mut seen = Vec::new();
    phone.subscribe(call_id, 0);
    let mut notify = None;
    let mut ok = None;
    while notify.is_none() || ok.is_none() {
        let m = phone
            .recv(Duration::from_secs(10), &mut seen)
            .unwrap_or_else(|| panic!("ok={ok:?} notify={notify:?}\n{}", world.parley.log()));
        if header(&m, "Call-ID") != Some(call_id) {
            continue;
        }
        if m.starts_with("SIP/2.0 ") {
            assert!(m.starts_with("SIP/2.0 200"), "{m}");
            assert_eq!(header(&m, "Expires"), Some("0"), "{m}");
            ok = Some(m);
        } else if m.starts_with("NOTIFY ") {
            phone.ok(&m);
            notify = Some(m);
        }
    }
    let notify = notify.unwrap_or_default();
    assert_eq!(
        header(&notify, "Subscription-State"),
        Some("terminated;reason=timeout"),
        "{notify}"
    );
    assert_eq!(
        header(&notify, "Content-Type"),
        Some("application/pidf+xml"),
        "{notify}\n{}",
        world.parley.log()
    );
    // One NOTIFY, nothing more in that dialog.
    if let Some(m) = phone.recv(Duration::from_secs(1), &mut seen)
        && header(&m, "Call-ID") == Some(call_id)
    {
        panic!("more after the fetch's NOTIFY: {m}");
    }
    body(&notify).to_owned()
}

/// Juliet online with `status`, processed by Prosody once the roster
/// request sent after it is answered (one session's stanzas go in order).
async fn juliet_online(world: &World, status: &str) -> XmppClient {
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!("<presence><status>{status}</status></presence>"))
        .await;
    juliet
        .send_xml("<iq type='get' id='sync'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.name() == "iq" && e.attr("id") == Some("sync")
        })
        .await
        .expect("roster result");
    juliet
}

fn is_subscribe(e: &tokio_xmpp::minidom::Element) -> bool {
    e.name() == "presence" && e.attr("type") == Some("subscribe")
}

/// RFC 8048 §7.2: Parley knows nothing of juliet, so it probes her as bob;
/// her roster lets bob see her (subscription `from`), so her server answers
/// with her presence (RFC 6121 §4.3.2 rule 4), which the NOTIFY carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_fetch_probes_her_and_notifies_her_presence() {
    let world = World::start(Options::default());
    world.prosody.set_roster("juliet", &[(&bob(), "from")]);
    let mut juliet = juliet_online(&world, "In the garden").await;
    let phone = Phone::new(world.sip_addr());
    let pidf = tokio::task::block_in_place(|| fetch_from_phone(&world, &phone, "fetch-probe"));
    assert!(pidf.contains("<basic>open</basic>"), "{pidf}");
    assert!(pidf.contains("In the garden"), "{pidf}");
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_secs(1),
        "subscribe",
        is_subscribe,
    )
    .await;
    metric_reaches(&world, &fetches("sip_to_xmpp", "presence"), 1.0).await;
    metric_reaches(
        &world,
        r#"parley_registry_entries{kind="sip_subscriptions_in"}"#,
        0.0,
    )
    .await;
}

/// RFC 8048 §7.2 for a SIP user she never approved. RFC 6121 §4.3.2 rule 1
/// has her server answer the probe `unsubscribed`, but Prosody 0.12 routes
/// that through its outbound roster logic, which drops it for a contact not
/// in her roster ("outbound presence unsubscribed" in its debug log, nothing
/// sent): no answer comes. After the bounded wait (2 s) the NOTIFY goes out
/// anyway, with a PIDF with no tuple (offline, RFC 3856 §6.6), and she has
/// been asked nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_fetch_without_her_approval_waits_then_shows_nothing_and_asks_her_nothing() {
    let world = World::start(Options::default());
    let mut juliet = juliet_online(&world, "In the garden").await;
    let phone = Phone::new(world.sip_addr());
    let asked = Instant::now();
    let pidf = tokio::task::block_in_place(|| fetch_from_phone(&world, &phone, "fetch-unknown"));
    assert!(pidf.contains("urn:ietf:params:xml:ns:pidf"), "{pidf}");
    assert!(!pidf.contains("<tuple"), "{pidf}");
    assert!(!pidf.contains("In the garden"), "{pidf}");
    nothing_like(
        &world,
        &mut juliet,
        Duration::from_secs(1),
        "subscribe",
        is_subscribe,
    )
    .await;
    assert!(
        asked.elapsed() >= Duration::from_millis(1900),
        "NOTIFY after {:?}, before the probe wait ran out",
        asked.elapsed()
    );
    metric_reaches(&world, &fetches("sip_to_xmpp", "timeout"), 1.0).await;
}

/// RFC 8048 §7.2, "if it does not already have presence information": with
/// bob's own subscription active, his fetch in a new dialog is answered from
/// it without a probe, and that subscription carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_fetch_during_his_subscription_answers_from_it() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml("<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    juliet
        .send_xml("<presence><status>On the balcony</status></presence>")
        .await;
    let phone = Phone::new(world.sip_addr());
    let mut seen = Vec::new();
    phone.subscribe("live", 600);
    let request = juliet
        .recv_matching(Duration::from_secs(10), is_subscribe)
        .await
        .unwrap_or_else(|| panic!("no subscribe reached juliet\n{}", world.parley.log()));
    assert_eq!(request.attr("from"), Some(bob().as_str()));
    juliet
        .send_xml(&format!("<presence to='{}' type='subscribed'/>", bob()))
        .await;
    // NOTIFY pending, then active ones until one carries her status.
    let active = tokio::task::block_in_place(|| {
        loop {
            let m = phone
                .recv(Duration::from_secs(10), &mut seen)
                .unwrap_or_else(|| panic!("no active NOTIFY\n{}", world.parley.log()));
            if m.starts_with("NOTIFY ") {
                phone.ok(&m);
                if body(&m).contains("On the balcony") {
                    break m;
                }
            }
        }
    });
    assert!(
        header(&active, "Subscription-State").is_some_and(|s| s.starts_with("active")),
        "{active}"
    );
    let pidf = tokio::task::block_in_place(|| fetch_from_phone(&world, &phone, "fetch-known"));
    assert_eq!(pidf, body(&active));
    metric_reaches(&world, &fetches("sip_to_xmpp", "known"), 1.0).await;
    metric_reaches(
        &world,
        r#"parley_registry_entries{kind="sip_subscriptions_in"}"#,
        1.0,
    )
    .await;
}
