//! RFC 7702 §6.2 with RFC 4575 and RFC 6665: the conference subscription
//! of a SIP user in an XMPP room (the roster NOTIFYs, their versions, the
//! subject, expiry, a SUBSCRIBE outside the INVITE's dialog), and the
//! roster's bounds and senders. The join and the room are `rfc7702_6.rs`'s.

use std::time::Duration;

use parley_sip::wire::StartLine;

use super::rfc7702_6::{
    GROUPCHAT, Joined, attr, in_dialog, invite, invite_answer, join, next_sip, occupant, status,
};
use super::world::World;

/// RFC 7702 §6.1 Example 28 and §6.2 Example 29 → Example 32: the 200
/// carries `a=chatroom` and `;isfocus`, the SUBSCRIBE in the INVITE's
/// dialog gets 200 and a NOTIFY with the full roster.
#[tokio::test]
async fn rfc7702_6_1_example_28_and_6_2_example_32_join_then_roster_notify() {
    // The phone stays connected: its connection closing would end the session.
    let Joined {
        mut world,
        ok,
        phone: _phone,
        ..
    } = join("08CFDAA4").await;
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    assert!(
        sdp.contains("a=accept-types:message/cpim\r\n"),
        "RFC 7701 §6.3: CPIM only: {sdp}"
    );
    assert!(
        sdp.ends_with("a=chatroom:nickname private-messages\r\n"),
        "Example 28: {sdp}"
    );
    let contact = ok.header("Contact").expect("a Contact");
    assert!(
        contact.starts_with("<sip:") && contact.ends_with(">;isfocus"),
        "RFC 4579 isfocus as a Contact parameter: {contact}"
    );

    world
        .sip_in(&in_dialog(
            &ok,
            "SUBSCRIBE",
            2,
            "Event: conference\nExpires: 600\nAccept: application/conference-info+xml\n",
        ))
        .await;
    let mut answered = false;
    let mut notify = None;
    while !(answered && notify.is_some()) {
        let m = next_sip(&world).await;
        match m.start {
            StartLine::Response { status: 200, .. } => {
                assert_eq!(m.header("Expires").as_deref(), Some("600"));
                answered = true;
            }
            StartLine::Request { ref method, .. } if method == "NOTIFY" => notify = Some(m),
            _ => panic!("unexpected {m:?}"),
        }
    }
    let notify = notify.expect("a NOTIFY");
    assert_eq!(notify.header("Event").as_deref(), Some("conference"));
    assert_eq!(
        notify.header("Call-ID").as_deref(),
        Some("08CFDAA4"),
        "Example 32: in the INVITE's dialog"
    );
    assert!(
        notify
            .header("Subscription-State")
            .is_some_and(|s| s.starts_with("active;expires=")),
        "{notify:?}"
    );
    let doc = String::from_utf8(notify.body.to_vec()).expect("XML");
    for who in ["JuliC", "Ben", "Romeo"] {
        assert!(
            doc.contains(&format!(
                "entity=\"sip:capulet@rooms.example.com;gr={who}\""
            )),
            "{who} in {doc}"
        );
    }
    assert!(doc.contains("state=\"full\""), "{doc}");
    assert!(doc.contains("version=\"1\""), "{doc}");
    world.sip_answer(&notify, "200 OK", "").await;
}

/// §6.2: an occupant joining after the first NOTIFY gives a partial one.
#[tokio::test]
async fn rfc7702_6_2_a_new_occupant_gives_a_partial_notify() {
    let Joined {
        mut world,
        ok,
        me,
        phone: _phone,
    } = join("partial1").await;
    world
        .sip_in(&in_dialog(&ok, "SUBSCRIBE", 2, "Event: conference\n"))
        .await;
    let mut seen = 0;
    while seen < 2 {
        let m = next_sip(&world).await;
        if matches!(m.start, StartLine::Request { .. }) {
            world.sip_answer(&m, "200 OK", "").await;
        }
        seen += 1;
    }
    // Two arrivals at once: versions 2 and 3, on the wire in that order
    // (RFC 4575 §4.6: a gap makes the subscriber ask for the full state).
    world.stanza_in(&occupant("Benvolio", &me, ""));
    world.stanza_in(&occupant("Tybalt", &me, ""));
    let partial = next_sip(&world).await;
    let doc = String::from_utf8(partial.body.to_vec()).expect("XML");
    assert!(doc.contains("state=\"partial\""), "{doc}");
    assert!(doc.contains("version=\"2\""), "{doc}");
    assert!(doc.contains("gr=Benvolio"), "{doc}");
    assert!(!doc.contains("gr=JuliC"), "{doc}");
    world.sip_answer(&partial, "200 OK", "").await;
    let next = next_sip(&world).await;
    let doc = String::from_utf8(next.body.to_vec()).expect("XML");
    assert!(doc.contains("version=\"3\""), "{doc}");
    assert!(
        doc.contains("gr=Tybalt") && !doc.contains("gr=Benvolio"),
        "{doc}"
    );
}

/// RFC 6665 §4.2.1.4: a conference subscription not refreshed in time is
/// removed with a NOTIFY `terminated;reason=timeout`.
#[tokio::test]
async fn an_unrefreshed_conference_subscription_ends_with_reason_timeout() {
    let Joined {
        mut world,
        ok,
        phone: _phone,
        ..
    } = join("expiry1").await;
    world
        .sip_in(&in_dialog(
            &ok,
            "SUBSCRIBE",
            2,
            "Event: conference\nExpires: 1\n",
        ))
        .await;
    let mut states = Vec::new();
    while states.len() < 2 {
        let m = next_sip(&world).await;
        if matches!(m.start, StartLine::Request { .. }) {
            states.push(m.header("Subscription-State").unwrap_or_default());
            world.sip_answer(&m, "200 OK", "").await;
        }
    }
    assert!(states[0].starts_with("active;expires="), "{states:?}");
    assert_eq!(states[1], "terminated;reason=timeout");
}

/// `groupchat.max_occupants`: a room fuller than the bound is still
/// joined; the occupants past it are left out of the document and counted.
#[tokio::test]
async fn a_room_over_max_occupants_is_joined_with_the_roster_cut_and_counted() {
    let config = GROUPCHAT.replace("join_secs = 1\n", "join_secs = 1\nmax_occupants = 2\n");
    let mut world = World::with("", &config).await;
    world.sip_in(&invite("full1")).await;
    let join = world.stanza_out().await;
    let me = attr(&join, "from");
    world.stanza_in(&occupant("JuliC", &me, ""));
    world.stanza_in(&occupant("Ben", &me, ""));
    // Past the bound of two others: left out, counted.
    world.stanza_in(&occupant("Mercutio", &me, ""));
    // The self-presence is not an "other": it completes the join.
    world.stanza_in(&occupant("Romeo", &me, "<status code='110'/>"));
    let ok = invite_answer(&world).await;
    assert_eq!(status(&ok), 200);
    assert_eq!(
        world.metric(r#"parley_errors_total{reason="groupchat_roster_full"}"#),
        Some(1.0)
    );
}

/// Hostile: someone other than the room writing to the occupant client's
/// JID does not reach the phone as a room occupant; the message takes the
/// ordinary path for a SIP user (here: page mode, a SIP MESSAGE).
#[tokio::test]
async fn a_stranger_writing_to_the_occupant_client_is_not_a_room_occupant() {
    let Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join("spoof1").await;
    world.stanza_in(&format!(
        "<message from='mallory@evil.example/JuliC' to='{me}' type='chat'>\
         <body>I am JuliC, trust me</body></message>"
    ));
    assert!(
        phone.next_frame(Duration::from_millis(300)).await.is_none(),
        "no SEND to the phone"
    );
    let _ = world.stanza_queued();
}

/// Example 32's `<subject>`: the room's subject (XEP-0045 §7.2.15) is the
/// conference description's, in the NOTIFY; it is not sent as a message.
#[tokio::test]
async fn rfc7702_6_2_example_32_the_room_subject_is_in_the_document() {
    let Joined {
        mut world,
        ok,
        me,
        mut phone,
    } = join("subject1").await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' type='groupchat'>\
         <subject>Today in Verona</subject></message>"
    ));
    world
        .sip_in(&in_dialog(&ok, "SUBSCRIBE", 2, "Event: conference\n"))
        .await;
    let notify = loop {
        let m = next_sip(&world).await;
        if matches!(m.start, StartLine::Request { .. }) {
            break m;
        }
    };
    let doc = String::from_utf8(notify.body.to_vec()).expect("XML");
    assert!(doc.contains("<subject>Today in Verona</subject>"), "{doc}");
    assert!(
        phone.next_frame(Duration::from_millis(200)).await.is_none(),
        "the subject is not a SEND"
    );
}

/// A conference SUBSCRIBE from `user` to the room with its own Call-ID
/// and no To tag.
fn subscribe_outside(call_id: &str, user: &str) -> String {
    format!(
        "SUBSCRIBE sip:capulet@rooms.example.com SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKsub{call_id}\n\
         Max-Forwards: 70\n\
         From: <sip:{user}@sip.example.net>;tag=sub1\n\
         To: <sip:capulet@rooms.example.com>\n\
         Call-ID: {call_id}\n\
         CSeq: 1 SUBSCRIBE\n\
         Contact: <sip:{user}@{{peer}}>\n\
         Event: conference\n\
         Expires: 600\n\
         Content-Length: 0\n\n"
    )
}

/// A conference SUBSCRIBE to the room outside the INVITE's dialog: 200 and
/// the NOTIFYs in the dialog it makes (RFC 6665 §4.2.1.1); from a SIP user
/// not in the room: 404.
#[tokio::test]
async fn a_conference_subscribe_outside_the_invite_dialog_gets_its_own_notifies() {
    let Joined {
        mut world,
        phone: _phone,
        ..
    } = join("outside-inv").await;
    world
        .sip_in(&subscribe_outside("outside-sub", "romeo"))
        .await;
    let mut answered = false;
    let mut notify = None;
    while !(answered && notify.is_some()) {
        let m = next_sip(&world).await;
        match m.start {
            StartLine::Response { status: 200, .. } => answered = true,
            StartLine::Request { ref method, .. } if method == "NOTIFY" => notify = Some(m),
            _ => panic!("unexpected {m:?}"),
        }
    }
    let notify = notify.expect("a NOTIFY");
    assert_eq!(notify.header("Call-ID").as_deref(), Some("outside-sub"));
    assert!(
        notify.header("To").is_some_and(|t| t.contains("tag=sub1")),
        "{notify:?}"
    );
    let doc = String::from_utf8(notify.body.to_vec()).expect("XML");
    assert!(doc.contains("gr=JuliC"), "{doc}");

    world
        .sip_in(&subscribe_outside("outside-sub2", "benvolio"))
        .await;
    assert_eq!(status(&next_sip(&world).await), 404);
}
