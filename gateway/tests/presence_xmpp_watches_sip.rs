//! RFC 8048 §5.2 and §6.3: an XMPP user subscribes to a SIP user. Parley sends
//! SUBSCRIBE (Event: presence, Accept: application/pidf+xml), answers
//! `subscribed` on the 2xx, turns the NOTIFY's PIDF into `<presence/>`, and
//! turns `unsubscribe` into SUBSCRIBE with Expires: 0 followed by `unsubscribed`.

mod support;

use std::time::Duration;

use parley_harness::sipp::Sipp;
use support::{COMPONENT, Options, World};

/// sipp as bob's presence agent: 200 to SUBSCRIBE, NOTIFY open with a note,
/// then 200 to the un-SUBSCRIBE and a terminating NOTIFY.
const NOTIFIER: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence notifier">
<recv request="SUBSCRIBE"><action>
<ereg regexp="^ *presence" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
<ereg regexp="application/pidf\+xml" search_in="hdr" header="Accept:" check_it="true" assign_to="acc"/>
<ereg regexp="&lt;.*$" search_in="hdr" header="From:" check_it="true" assign_to="subfrom"/>
<ereg regexp="&lt;[^&gt;]*&gt;" search_in="hdr" header="To:" check_it="true" assign_to="subto"/>
<ereg regexp="sip:[^&gt;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="subcontact"/>
</action></recv>
<Reference variables="ev,acc"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]bob
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:bob@[local_ip]:[local_port]>
Expires: 600
Content-Length: 0

]]></send>
<send><![CDATA[
NOTIFY [$subcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: [$subto];tag=[pid]bob
To: [$subfrom]
Call-ID: [call_id]
CSeq: 1 NOTIFY
Contact: <sip:bob@[local_ip]:[local_port]>
Event: presence
Subscription-State: active;expires=600
Content-Type: application/pidf+xml
Content-Length: [len]

<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@sip.example.net"><tuple id="t1"><status><basic>open</basic></status><note>At the balcony</note></tuple></presence>
]]></send>
<recv response="200"/>
<recv request="SUBSCRIBE"><action>
<ereg regexp="^ *0$" search_in="hdr" header="Expires:" check_it="true" assign_to="unsub"/>
</action></recv>
<Reference variables="unsub"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Expires: 0
Content-Length: 0

]]></send>
<send><![CDATA[
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
<recv response="200"/>
</scenario>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_user_subscribes_to_sip_user_and_sees_presence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notifier.xml");
    std::fs::write(&path, NOTIFIER).expect("write scenario");
    let uas = Sipp::new(&path)
        .timeout(Duration::from_secs(30))
        .spawn_uas();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", uas.addr())),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    let bob = format!("bob@{COMPONENT}");
    // RFC 6121 §2.1.6: only a resource that asked for the roster gets pushes.
    juliet
        .send_xml("<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    juliet
        .send_xml(&format!("<presence to='{bob}' type='subscribe'/>"))
        .await;
    // Prosody turns our `subscribed` into a roster push (subscription='to')
    // and then delivers bob's presence; gather both.
    let mut roster_to = false;
    let mut status = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(roster_to && status.is_some()) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(e) = juliet.recv(left).await else {
            panic!(
                "roster_to={roster_to} status={status:?}\n{}",
                world.parley.log()
            );
        };
        if e.name() == "iq" {
            let item = e
                .get_child("query", "jabber:iq:roster")
                .and_then(|q| q.get_child("item", "jabber:iq:roster"));
            if item.is_some_and(|i| {
                i.attr("jid") == Some(bob.as_str()) && i.attr("subscription") == Some("to")
            }) {
                roster_to = true;
            }
        }
        let from_bob = e
            .attr("from")
            .is_some_and(|f| f.split('/').next() == Some(bob.as_str()));
        if e.name() == "presence" && from_bob && e.attr("type").is_none() {
            status = support::child_text(&e, "status");
        }
    }
    assert_eq!(status.as_deref(), Some("At the balcony"));

    juliet
        .send_xml(&format!("<presence to='{bob}' type='unsubscribe'/>"))
        .await;
    let out = uas.wait();
    assert!(
        out.success,
        "{}\n--- parley ---\n{}",
        out.report(),
        world.parley.log()
    );
    assert_eq!(out.received("SUBSCRIBE "), 2, "{}", out.report());
}
