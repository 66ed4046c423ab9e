//! RFC 7702 §5 end to end: an XMPP user (the harness's client on a real
//! Prosody) joins a SIP conference (the harness's focus and MSRP switch,
//! written from the RFCs with none of Parley's code) through the real
//! `parley` binary, whose outbound proxy the focus is. Two participants
//! are in already; the user sees them and its own presence (110), talks to
//! all and privately both ways, renames (a taken nickname first), and
//! leaves with the focus seeing the BYE; and a focus's hostile NOTIFYs.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use parley_harness::conference_focus::{ConferenceFocus, FocusOptions};
use parley_harness::port::free_tcp_port;
use parley_harness::xmpp_client::XmppClient;
use tokio_xmpp::minidom::Element;

use support::{COMPONENT, Options, World, XMPP_DOMAIN, child_text, error_condition, sessions_toml};

const WAIT: Duration = Duration::from_secs(10);
/// The conference as XMPP sees it: `montague@<component>` maps to
/// `sip:montague@<sip.domain>`, the focus's URI.
const ROOM: &str = "montague@sip.example.net";
const ROMEO: &str = "sip:romeo@example.org";
const BEN: &str = "sip:ben@example.org";

/// The focus (Romeo and Ben in), and Parley with `[conference]` whose
/// outbound proxy it is.
async fn start(max_occupants: usize) -> (World, ConferenceFocus) {
    let mut options = FocusOptions::new("montague");
    options.domain = Some(COMPONENT.into());
    let focus = ConferenceFocus::start_with(options).await;
    focus.add_participant(ROMEO, "Romeo").await;
    focus.add_participant(BEN, "Ben").await;
    let msrp: SocketAddr = ([127, 0, 0, 1], free_tcp_port()).into();
    let world = World::start(Options {
        outbound_proxy: Some(format!("sip:{}", focus.sip_addr())),
        extra: sessions_toml(
            msrp,
            &format!(
                "\n[conference]\nenabled = true\njoin_secs = 5\nmax_occupants = {max_occupants}\n"
            ),
        ),
        ..Options::default()
    });
    (world, focus)
}

fn has_status(e: &Element, code: &str) -> bool {
    e.children()
        .filter(|c| c.name() == "x")
        .flat_map(|x| x.children())
        .any(|s| s.name() == "status" && s.attr("code") == Some(code))
}

/// Example 1 → Example 10: the join, and the occupants' presence up to the
/// self-presence (110); the nicknames seen before it.
async fn join(juliet: &mut XmppClient, nick: &str) -> Vec<String> {
    juliet
        .send_xml(&format!(
            "<presence to='{ROOM}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
        ))
        .await;
    let mut before = Vec::new();
    loop {
        let p = juliet
            .recv_matching(WAIT, |e| {
                e.name() == "presence" && e.attr("from").is_some_and(|f| f.starts_with(ROOM))
            })
            .await
            .expect("the room's presence in time");
        assert_ne!(p.attr("type"), Some("error"), "{p:?}");
        let from = p.attr("from").unwrap_or_default().to_owned();
        if has_status(&p, "110") {
            assert_eq!(from, format!("{ROOM}/{nick}"));
            return before;
        }
        before.push(from.rsplit('/').next().unwrap_or_default().to_owned());
    }
}

async fn message_from(client: &mut XmppClient, from: &str, type_: &str) -> String {
    let m = client
        .recv_matching(WAIT, |e| {
            e.name() == "message"
                && e.attr("from") == Some(from)
                && e.attr("type") == Some(type_)
                && child_text(e, "body").is_some()
        })
        .await
        .unwrap_or_else(|| panic!("a {type_} message from {from}"));
    child_text(&m, "body").unwrap_or_default()
}

/// §5.1–§5.8 against the harness focus.
#[tokio::test(flavor = "multi_thread")]
async fn xmpp_user_joins_a_sip_conference_talks_renames_and_leaves() {
    let (world, focus) = start(200).await;
    let mut juliet = world.client("juliet").await;
    let juliet_sip = format!("sip:juliet@{XMPP_DOMAIN}");
    let seen = join(&mut juliet, "JuliC").await;
    assert!(
        seen.contains(&"Romeo".to_owned()) && seen.contains(&"Ben".to_owned()),
        "{seen:?}"
    );
    // F8–F9: the switch took the nickname.
    let roster = focus
        .wait_roster(WAIT, |r| {
            r.iter()
                .any(|e| e.uri == juliet_sip && e.nickname.as_deref() == Some("JuliC"))
        })
        .await;
    assert!(roster.is_some(), "{:?}", focus.roster().await);
    // 7702-3: the resourcepart Prosody bound is the INVITE's Contact's
    // `gr`, on Parley's address (the focus sends its requests there).
    let invite = focus
        .wait_request("INVITE", 1, WAIT)
        .await
        .expect("the focus logged the INVITE");
    let contact = invite.message.header("Contact").unwrap_or_default();
    let resource = juliet
        .jid()
        .rsplit_once('/')
        .map(|(_, r)| r)
        .unwrap_or_default();
    assert!(!resource.is_empty(), "{}", juliet.jid());
    assert!(
        contact.starts_with("<sip:juliet@127.0.0.1:")
            && contact.ends_with(&format!(";gr={resource}>")),
        "{contact}"
    );

    // §5.5.1: to all, reflected; Romeo to all.
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}' type='groupchat' id='g1'><body>Who knows where Romeo is?</body></message>"
        ))
        .await;
    let got = focus
        .wait_received(ROMEO, 1, WAIT)
        .await
        .expect("Romeo got the message");
    assert_eq!(got[0].text, "Who knows where Romeo is?");
    assert!(!got[0].private);
    assert_eq!(got[0].from, juliet_sip);
    assert_eq!(
        message_from(&mut juliet, &format!("{ROOM}/JuliC"), "groupchat").await,
        "Who knows where Romeo is?"
    );
    focus
        .participant_send(ROMEO, "Here I am")
        .await
        .expect("the switch takes Romeo's message");
    assert_eq!(
        message_from(&mut juliet, &format!("{ROOM}/Romeo"), "groupchat").await,
        "Here I am"
    );

    // §5.5.2: private both ways.
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}/Ben' type='chat'><body>Only to thee</body></message>"
        ))
        .await;
    // Ben has Juliet's and Romeo's messages to all, then this one.
    let got = focus
        .wait_received(BEN, 3, WAIT)
        .await
        .expect("Ben got the private message");
    assert!(got[2].private, "{got:?}");
    assert_eq!(got[2].text, "Only to thee");
    assert_eq!(got[2].from, juliet_sip);
    focus
        .participant_send_private(ROMEO, &juliet_sip, "Psst")
        .await
        .expect("the switch takes Romeo's private message");
    assert_eq!(
        message_from(&mut juliet, &format!("{ROOM}/Romeo"), "chat").await,
        "Psst"
    );

    // §5.6: a taken nickname (425 → <conflict/>), then a free one.
    juliet
        .send_xml(&format!("<presence to='{ROOM}/Romeo'/>"))
        .await;
    let error = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("type") == Some("error")
        })
        .await
        .expect("the conflict in time");
    assert_eq!(error_condition(&error).as_deref(), Some("cancel/conflict"));
    juliet
        .send_xml(&format!("<presence to='{ROOM}/CapuletGirl'/>"))
        .await;
    let gone = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(&format!("{ROOM}/JuliC")[..])
        })
        .await
        .expect("the 303 in time");
    assert!(has_status(&gone, "303"), "{gone:?}");
    let back = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence"
                && e.attr("from") == Some(&format!("{ROOM}/CapuletGirl")[..])
                && has_status(e, "110")
        })
        .await;
    assert!(back.is_some(), "the new nickname's presence");

    // §5.7: a mediated invitation → REFER; the harness's focus "dials
    // out" (a simulated participant, its user part as nickname), and the
    // roster's change reaches Juliet.
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}'><x xmlns='http://jabber.org/protocol/muc#user'>\
             <invite to='benvolio@{XMPP_DOMAIN}'/></x></message>"
        ))
        .await;
    let benvolio = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(&format!("{ROOM}/benvolio")[..])
        })
        .await;
    assert!(benvolio.is_some(), "{:?}", focus.roster().await);

    // §5.8: leave; the focus sees the BYE, the user its own unavailable.
    juliet
        .send_xml(&format!(
            "<presence to='{ROOM}/CapuletGirl' type='unavailable'/>"
        ))
        .await;
    assert!(
        focus.wait_request("BYE", 1, WAIT).await.is_some(),
        "the focus got a BYE"
    );
    let left = juliet
        .recv_matching(WAIT, |e| {
            e.name() == "presence" && e.attr("type") == Some("unavailable") && has_status(e, "110")
        })
        .await;
    assert!(left.is_some(), "the unavailable self-presence");
}

/// Hostile NOTIFYs: a body that is not XML (400) and more users than
/// `conference.max_occupants` (413); the occupancy goes on (a message
/// still reaches Romeo) until the user logs out, which is a BYE.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_conference_info_notifies_are_refused_and_the_session_lives() {
    let (world, focus) = start(3).await;
    let mut juliet = world.client("juliet").await;
    let juliet_sip = format!("sip:juliet@{XMPP_DOMAIN}");
    join(&mut juliet, "JuliC").await;
    let sent = focus
        .notify_raw(
            &juliet_sip,
            "application/conference-info+xml",
            b"<<< not xml",
        )
        .await;
    assert_eq!(sent, 1);
    let many: String = (0..10)
        .map(|i| {
            format!("<user entity='sip:u{i}@example.org'><display-text>U{i}</display-text></user>")
        })
        .collect();
    let doc = format!(
        "<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='{}' \
         state='full' version='99'><users>{many}</users></conference-info>",
        focus.uri()
    );
    focus
        .notify_raw(
            &juliet_sip,
            "application/conference-info+xml",
            doc.as_bytes(),
        )
        .await;
    for status in [400, 413] {
        let answered = focus
            .wait_sip(WAIT, |e| e.message.status() == Some(status))
            .await;
        assert!(
            answered.is_some(),
            "a {status} to the NOTIFY: {:?}",
            focus.sip_log().await
        );
    }
    juliet
        .send_xml(&format!(
            "<message to='{ROOM}' type='groupchat'><body>still here</body></message>"
        ))
        .await;
    let got = focus
        .wait_received(ROMEO, 1, WAIT)
        .await
        .expect("Romeo got it");
    assert_eq!(got[0].text, "still here");
    // §5.8 at logout: Prosody sends the unavailable presence to the
    // occupant JID it sent directed presence to (RFC 6121 §4.6.3) → BYE.
    juliet.disconnect().await;
    assert!(
        focus.wait_request("BYE", 1, WAIT).await.is_some(),
        "the focus got a BYE after the logout\n{}",
        world.logs()
    );
}
