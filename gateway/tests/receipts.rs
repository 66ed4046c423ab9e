//! RFC 5438 (IMDN) ↔ XEP-0184 (receipts) and XEP-0333 (displayed markers),
//! end to end through real Prosody and sipp:
//! - XMPP `<request/>` + `<markable/>` → CPIM MESSAGE with `imdn.Message-ID` and
//!   `imdn.Disposition-Notification: positive-delivery, display` (§7.1.1) → the
//!   SIP peer's delivery and display notifications (§7.2.1.1, §7.2.1.2) →
//!   `<received id/>` and `<displayed id/>` at the XMPP sender;
//! - the reverse: a SIP IM asking for positive-delivery (§12.1.3.1) reaches XMPP
//!   with `<request/>`, and the client's `<received/>` becomes the IMDN;
//! - a peer that answers 415 to CPIM (baresip) gets the text again as
//!   text/plain without the request, and from then on directly; no receipt is
//!   ever claimed;
//! - XEP-0030: the component and its users advertise receipts.

mod support;

use std::time::Duration;

use parley_harness::sipp::SippUas;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text, uas_message};

const NS_RECEIPTS: &str = "urn:xmpp:receipts";
const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";

/// A sipp UAS running `scenario` and a world whose outbound proxy it is.
fn world_with_uas(scenario: &str) -> (World, SippUas) {
    World::start_with_uas(scenario, |uas| uas, Options::default())
}

const OK_200: &str = r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#;

/// An IMDN for Message-ID `[$mid]` sent by bob back to juliet through the
/// peer it came from (parley), in the MESSAGE's call.
fn imdn_back(cseq: u32, kind: &str, status: &str) -> String {
    format!(
        r#"<send retrans="100"><![CDATA[
MESSAGE sip:juliet@{XMPP_DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:bob@{COMPONENT}>;tag=[pid]imdn{cseq}
To: <sip:juliet@{XMPP_DOMAIN}>
Call-ID: [call_id]
CSeq: {cseq} MESSAGE
Content-Type: message/cpim
Content-Length: [len]

From: <sip:bob@{COMPONENT}>
To: <sip:juliet@{XMPP_DOMAIN}>
NS: imdn <urn:ietf:params:imdn>
imdn.Message-ID: back{cseq}
DateTime: 2026-11-25T07:44:57Z

Content-Type: message/imdn+xml
Content-Disposition: notification

<?xml version="1.0" encoding="UTF-8"?><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>[$mid]</message-id><datetime>2026-11-25T07:44:55Z</datetime><{kind}><status><{status}/></status></{kind}></imdn>
]]></send>
<recv response="200"/>
"#
    )
}

/// RFC 5438 §7.1.1 → §7.2.1.1/§7.2.1.2 ↔ XEP-0184 §5 and XEP-0333 §4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_receipt_request_becomes_imdn_and_the_imdns_come_back_as_received_and_displayed() {
    let scenario = format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="uas-imdn">
<recv request="MESSAGE"><action>
<ereg regexp="^ *message/cpim" search_in="hdr" header="Content-Type:" check_it="true" assign_to="ct"/>
<ereg regexp="NS: imdn &lt;urn:ietf:params:imdn&gt;" search_in="body" check_it="true" assign_to="ns"/>
<ereg regexp="imdn\.Disposition-Notification: positive-delivery, display" search_in="body" check_it="true" assign_to="dn"/>
<ereg regexp="DateTime: 20[0-9][0-9]-" search_in="body" check_it="true" assign_to="dt"/>
<ereg regexp="imdn\.Message-ID: ([0-9a-f]+)" search_in="body" check_it="true" assign_to="all,mid"/>
<ereg regexp="Content-Type: text/plain;charset=UTF-8" search_in="body" check_it="true" assign_to="inner"/>
<ereg regexp="hello with a receipt" search_in="body" check_it="true" assign_to="text"/>
</action></recv>
<Reference variables="ct,ns,dn,dt,all,inner,text"/>
{OK_200}{delivered}{displayed}</scenario>
"#,
        delivered = imdn_back(2, "delivery-notification", "delivered"),
        displayed = imdn_back(3, "display-notification", "displayed"),
    );
    let (world, uas) = world_with_uas(&scenario);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='r1' type='chat'><body>hello with a receipt</body>\
             <request xmlns='{NS_RECEIPTS}'/><markable xmlns='{NS_MARKERS}'/></message>"
        ))
        .await;
    let received = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.get_child("received", NS_RECEIPTS).is_some()
        })
        .await
        .unwrap_or_else(|| panic!("no <received/>\n{}", world.parley.log()));
    assert_eq!(received.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    assert_eq!(received.attr("type"), Some("chat"));
    let r = received
        .get_child("received", NS_RECEIPTS)
        .expect("received");
    assert_eq!(r.attr("id"), Some("r1"));
    assert!(child_text(&received, "body").is_none());
    let displayed = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.get_child("displayed", NS_MARKERS).is_some()
        })
        .await
        .unwrap_or_else(|| panic!("no <displayed/>\n{}", world.parley.log()));
    let d = displayed
        .get_child("displayed", NS_MARKERS)
        .expect("displayed");
    assert_eq!(d.attr("id"), Some("r1"));
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(
        world
            .parley
            .metric(r#"parley_receipts_total{direction="xmpp_to_sip",kind="delivered"}"#),
        1.0
    );
}

/// RFC 5438 §12.1.3.1: a SIP IM asking for positive-delivery reaches XMPP with
/// `<request/>` (and `<markable/>` for display); the client's `<received/>`
/// becomes a §7.2.1.1 delivery notification to the SIP sender — "the IM
/// Recipient populates the SIP Request-URI and the SIP To header field using
/// the address that appeared in the SIP From header field in the IM", here a
/// GRUU (RFC 5627), which is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_imdn_request_reaches_xmpp_and_received_becomes_a_delivery_notification() {
    let uas_xml = uas_message(
        &[
            ("To", &format!("sip:alice@{COMPONENT};gr=urn:uuid:f81d4fae")),
            ("From", &format!("sip:juliet@{XMPP_DOMAIN}")),
            ("Content-Type", "^ *message/cpim"),
            ("body", "Content-Disposition: notification"),
            ("body", "imdn\\.Message-ID: [0-9a-f]{32}"),
            ("body", "<message-id>zy0y5CadA~Lb</message-id>"),
            ("body", "<datetime>2026-11-25T07:44:55Z</datetime>"),
            ("body", "<delivery-notification><status><delivered/>"),
        ],
        Some((200, "OK")),
    );
    let (world, uas) = world_with_uas(&uas_xml);
    let mut juliet = world.client("juliet").await;
    let cpim = format!(
        "From: <sip:alice@{COMPONENT}>\n\
         To: <sip:juliet@{XMPP_DOMAIN}>\n\
         DateTime: 2026-11-25T07:44:55Z\n\
         NS: imdn <urn:ietf:params:imdn>\n\
         imdn.Message-ID: zy0y5CadA~Lb\n\
         imdn.Disposition-Notification: positive-delivery, negative-delivery, display\n\
         \n\
         Content-Type: text/plain\n\
         Content-Length: 19\n\
         \n\
         CPIM héllo ✓ <&>"
    );
    let msg = SipMessage {
        from: &format!("sip:alice@{COMPONENT};gr=urn:uuid:f81d4fae"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "imdn-request-call",
        content_type: "message/cpim",
        headers: &[],
        body: &cpim,
        expect: 200,
    };
    let sender = std::thread::spawn({
        let sipp = msg.sipp(world.scenario("uac-imdn.xml", &msg.scenario()));
        let addr = world.sip_addr();
        move || sipp.run_uac(addr)
    });
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| panic!("juliet got no message\n{}", world.parley.log()));
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("CPIM héllo ✓ <&>")
    );
    assert!(
        got.get_child("request", NS_RECEIPTS).is_some(),
        "{}",
        String::from(&got)
    );
    assert!(
        got.get_child("markable", NS_MARKERS).is_some(),
        "{}",
        String::from(&got)
    );
    let id = got.attr("id").expect("an id to acknowledge").to_owned();
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
    // Someone else acknowledging it is not the recipient: ignored.
    let mut romeo = world.client("romeo").await;
    romeo
        .send_xml(&format!(
            "<message to='alice@{COMPONENT}' id='forged'><received xmlns='{NS_RECEIPTS}' id='{id}'/></message>"
        ))
        .await;
    juliet
        .send_xml(&format!(
            "<message to='alice@{COMPONENT}' id='ack1'><received xmlns='{NS_RECEIPTS}' id='{id}'/></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(out.received("MESSAGE "), 1, "{}", out.report());
    // The ack itself is not a text message: nothing bounces back.
    support::assert_no_error(&mut juliet, Duration::from_millis(500)).await;
}

/// real-clients/baresip-1.0-rx-cpim-415.sip: baresip answers 415 to CPIM.
/// RFC 3261 §21.4.13: the text goes again as text/plain, without the receipt
/// request; the next message to that peer goes as text/plain directly; the
/// XMPP sender gets neither an error nor a receipt nobody sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_refusing_cpim_gets_plain_text_and_no_receipt_is_claimed() {
    let scenario = r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="uas-baresip-415">
<recv request="MESSAGE"><action>
<ereg regexp="^ *message/cpim" search_in="hdr" header="Content-Type:" check_it="true" assign_to="c1"/>
</action></recv>
<send><![CDATA[
SIP/2.0 415 Unsupported Media Type
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas
[last_Call-ID:]
[last_CSeq:]
Accept: text/plain
Content-Length: 0

]]></send>
<recv request="MESSAGE"><action>
<ereg regexp="^ *text/plain" search_in="hdr" header="Content-Type:" check_it="true" assign_to="c2"/>
<ereg regexp="^first$" search_in="body" check_it="true" assign_to="b2"/>
</action></recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<recv request="MESSAGE"><action>
<ereg regexp="^ *text/plain" search_in="hdr" header="Content-Type:" check_it="true" assign_to="c3"/>
<ereg regexp="^second$" search_in="body" check_it="true" assign_to="b3"/>
</action></recv>
<Reference variables="c1,c2,b2,c3,b3"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#;
    let (world, uas) = world_with_uas(scenario);
    let mut juliet = world.client("juliet").await;
    for (id, text) in [("p1", "first"), ("p2", "second")] {
        juliet
            .send_xml(&format!(
                "<message to='bob@{COMPONENT}' id='{id}'><body>{text}</body>\
                 <thread>t415</thread><request xmlns='{NS_RECEIPTS}'/></message>"
            ))
            .await;
        // One at a time, so that the second one finds the 415 remembered.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let delivered = r#"parley_messages_total{direction="xmpp_to_sip",outcome="delivered"}"#;
        let want = if id == "p1" { 1.0 } else { 2.0 };
        while world.parley.metric(delivered) < want {
            assert!(
                std::time::Instant::now() < deadline,
                "{id} not delivered\n{}",
                world.parley.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(out.received("MESSAGE "), 3, "{}", out.report());
    let anything = juliet
        .recv_matching(Duration::from_secs(1), |e| {
            e.attr("type") == Some("error") || e.get_child("received", NS_RECEIPTS).is_some()
        })
        .await;
    assert!(anything.is_none(), "nothing may be claimed: {anything:?}");
    assert_eq!(
        world
            .parley
            .metric(r#"parley_receipts_total{direction="xmpp_to_sip",kind="dropped"}"#),
        2.0
    );
    assert_eq!(
        world
            .parley
            .metric(r#"parley_sip_peer_refusals_total{content="cpim"}"#),
        1.0
    );
}

/// XEP-0030 §3.1 with XEP-0184 §4 / XEP-0333 §3 / XEP-0085: the component
/// and a SIP user at it advertise the features that work; a bare user JID is
/// answered as an account; an unmappable one is item-not-found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disco_on_component_and_users_lists_receipts_markers_and_chat_states() {
    let world = World::start(Options {
        send_chat_states: true,
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    const DISCO: &str = "http://jabber.org/protocol/disco#info";
    let features = |iq: &tokio_xmpp::minidom::Element| -> Vec<String> {
        iq.get_child("query", DISCO)
            .map(|q| {
                q.children()
                    .filter(|c| c.name() == "feature")
                    .filter_map(|c| c.attr("var").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut ask = async |to: &str, id: &str| {
        juliet
            .send_xml(&format!(
                "<iq type='get' to='{to}' id='{id}'><query xmlns='{DISCO}'/></iq>"
            ))
            .await;
        juliet
            .recv_matching(Duration::from_secs(5), |e| {
                e.name() == "iq" && e.attr("id") == Some(id)
            })
            .await
            .unwrap_or_else(|| panic!("no answer to {id}\n{}", world.parley.log()))
    };
    let component = ask(COMPONENT, "d1").await;
    let bob = ask(&format!("bob@{COMPONENT}"), "d2").await;
    let nobody = ask(&format!("a\\40b.example@{COMPONENT}"), "d3").await;
    for iq in [&component, &bob] {
        assert_eq!(iq.attr("type"), Some("result"), "{}", String::from(iq));
        let f = features(iq);
        for want in [
            NS_RECEIPTS,
            NS_MARKERS,
            "http://jabber.org/protocol/chatstates",
        ] {
            assert!(f.iter().any(|x| x == want), "{want} in {f:?}");
        }
    }
    let identity = bob
        .get_child("query", DISCO)
        .and_then(|q| q.get_child("identity", DISCO))
        .expect("identity");
    assert_eq!(identity.attr("category"), Some("account"));
    // Foreign domains are refused by default: that address maps to no SIP user.
    assert_eq!(
        nobody.attr("type"),
        Some("error"),
        "{}",
        String::from(&nobody)
    );
    assert!(String::from(&nobody).contains("item-not-found"));
}
