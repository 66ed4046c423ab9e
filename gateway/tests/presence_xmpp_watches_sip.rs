//! RFC 8048 §5.2 and §6.3: an XMPP user subscribes to a SIP user. Parley sends
//! SUBSCRIBE (Event: presence, Accept: application/pidf+xml), answers
//! `subscribed` with the first active NOTIFY (§5.2.1 F14), turns the NOTIFY's
//! PIDF into `<presence/>` (F15), and
//! turns `unsubscribe` into SUBSCRIBE with Expires: 0 followed by `unsubscribed`.

mod support;

use std::time::Duration;

use parley_harness::sipp::Sipp;
use support::{
    COMPONENT, Options, World, sipp_agent_accepts, sipp_agent_notifies, sipp_subscribe_ok,
};

/// sipp as bob's presence agent: 200 to juliet's SUBSCRIBE (which must carry Event: presence
/// and Accept: application/pidf+xml), NOTIFY active with his PIDF, then 200
/// to the un-SUBSCRIBE and NOTIFY terminated.
fn notifier() -> String {
    let accept = sipp_agent_accepts(
        "200 OK",
        r#"<ereg regexp="^ *presence" search_in="hdr" header="Event:" check_it="true" assign_to="ev"/>
<ereg regexp="application/pidf\+xml" search_in="hdr" header="Accept:" check_it="true" assign_to="acc"/>
"#,
    );
    let open = sipp_agent_notifies(1, "active;expires=600", BOB_PIDF);
    let ended = sipp_agent_notifies(2, "terminated;reason=timeout", "");
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="presence notifier">
{accept}<Reference variables="ev,acc"/>
{open}<recv request="SUBSCRIBE"><action>
<ereg regexp="^ *0$" search_in="hdr" header="Expires:" check_it="true" assign_to="unsub"/>
</action></recv>
<Reference variables="unsub"/>
{unsubscribed}{ended}</scenario>
"#,
        unsubscribed = sipp_subscribe_ok(0),
    )
}

const BOB_PIDF: &str = r#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@sip.example.net"><tuple id="t1"><status><basic>open</basic></status><note>At the balcony</note></tuple></presence>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_user_subscribes_to_sip_user_and_sees_presence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notifier.xml");
    std::fs::write(&path, notifier()).expect("write scenario");
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
    world.assert_sipp(&out);
    assert_eq!(out.received("SUBSCRIBE "), 2, "{}", out.report());
}
