//! RFC 7702 §5 behind a real ejabberd: an ejabberd user joins the
//! harness's SIP conference through the `parley` binary (its outbound
//! proxy the focus), sees the participant and its own presence (110),
//! talks both ways and leaves with the focus seeing the BYE.

#[path = "support/ejabberd_world.rs"]
mod ejabberd_world;
mod support;

use std::time::Duration;

use parley_harness::conference_focus::{ConferenceFocus, FocusOptions};
use tokio_xmpp::minidom::Element;

use ejabberd_world::EjabberdWorld;
use support::{COMPONENT, XMPP_DOMAIN, child_text};

const WAIT: Duration = Duration::from_secs(10);
const ROOM: &str = "montague@sip.example.net";
const ROMEO: &str = "sip:romeo@example.org";

fn has_status(e: &Element, code: &str) -> bool {
    e.children()
        .filter(|c| c.name() == "x")
        .flat_map(|x| x.children())
        .any(|s| s.name() == "status" && s.attr("code") == Some(code))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_user_joins_a_sip_conference_talks_and_leaves() {
    let mut options = FocusOptions::new("montague");
    options.domain = Some(COMPONENT.into());
    let focus = ConferenceFocus::start_with(options).await;
    focus.add_participant(ROMEO, "Romeo").await;
    let world = EjabberdWorld::start(
        "\n[conference]\nenabled = true\njoin_secs = 5\n",
        Some(format!("sip:{}", focus.sip_addr())),
    );
    let mut juliet = world.juliet().await;
    juliet
        .send_xml(&format!(
            "<presence to='{ROOM}/JuliC'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    // Example 10: Romeo, then the self-presence.
    let romeo = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(&format!("{ROOM}/Romeo")[..])
        })
        .await;
    assert!(romeo.is_some(), "Romeo's presence\n{}", world.parley.log());
    let own = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence"
                && e.attr("from") == Some(&format!("{ROOM}/JuliC")[..])
                && has_status(e, "110")
        })
        .await;
    assert!(own.is_some(), "the self-presence");

    juliet
        .send_xml(&format!(
            "<message to='{ROOM}' type='groupchat'><body>Good morrow</body></message>"
        ))
        .await;
    let got = focus
        .wait_received(ROMEO, 1, WAIT)
        .await
        .expect("Romeo got the message");
    assert_eq!(got[0].text, "Good morrow");
    assert_eq!(got[0].from, format!("sip:juliet@{XMPP_DOMAIN}"));
    focus
        .participant_send(ROMEO, "Good morrow, fair maid")
        .await
        .expect("the switch takes it");
    let said = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "message"
                && e.attr("from") == Some(&format!("{ROOM}/Romeo")[..])
                && e.attr("type") == Some("groupchat")
        })
        .await
        .expect("Romeo's message");
    assert_eq!(
        child_text(&said, "body").as_deref(),
        Some("Good morrow, fair maid")
    );

    juliet
        .send_xml(&format!("<presence to='{ROOM}/JuliC' type='unavailable'/>"))
        .await;
    assert!(
        focus.wait_request("BYE", 1, WAIT).await.is_some(),
        "the focus got a BYE"
    );
}
