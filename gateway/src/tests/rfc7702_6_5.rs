//! RFC 7702 §6.5 (F55–F58): the SIP user's REFER in the room session
//! invites another user through the room (XEP-0045 §7.8.2 mediated
//! invitation) and gets Example 43's NOTIFY. Literal SIP in, literal XML
//! and SIP out.

use std::time::Duration;

use parley_sip::wire::StartLine;

use super::rfc7702_6::{Joined, attr, in_dialog, join, next_sip, status};

/// Example 42 (F55) in the dialog of the join, with its headers.
fn refer(ok: &parley_sip::wire::Message, cseq: u32, refer_to: Option<&str>) -> String {
    let refer_to = refer_to.map_or(String::new(), |r| format!("Refer-To: {r}\n"));
    in_dialog(
        ok,
        "REFER",
        cseq,
        &format!(
            "Contact: <sip:romeo@{{peer}}>\nAccept: message/sipfrag\n{refer_to}Supported: replaces\n"
        ),
    )
}

/// Example 42 → 200 (F56) → Example 43's NOTIFY (terminated, 100 Trying)
/// and the mediated invitation of Example 22's form (F58).
#[tokio::test]
async fn rfc7702_6_5_example_42_refer_invites_through_the_room_and_notifies() {
    let Joined {
        mut world,
        ok,
        me,
        phone: _phone,
    } = join("refer1").await;
    world
        .sip_in(&refer(&ok, 4, Some("<sip:benvolio@example.com>")))
        .await;
    let mut answered = false;
    let mut notify = None;
    while !(answered && notify.is_some()) {
        let m = next_sip(&world).await;
        match m.start {
            StartLine::Response { status: 200, .. } => {
                assert_eq!(m.header("CSeq").as_deref(), Some("4 REFER"));
                answered = true;
            }
            StartLine::Request { ref method, .. } if method == "NOTIFY" => {
                assert!(answered, "the NOTIFY follows the 200");
                notify = Some(m);
            }
            _ => panic!("unexpected {m:?}"),
        }
    }
    let notify = notify.expect("a NOTIFY");
    assert_eq!(notify.header("Call-ID").as_deref(), Some("refer1"));
    assert_eq!(notify.header("Event").as_deref(), Some("refer"));
    assert_eq!(
        notify.header("Subscription-State").as_deref(),
        Some("terminated;reason=noresource")
    );
    assert_eq!(
        notify.header("Content-Type").as_deref(),
        Some("message/sipfrag;version=2.0")
    );
    assert_eq!(&notify.body[..], b"SIP/2.0 100 Trying\r\n");
    world.sip_answer(&notify, "200 OK", "").await;
    let invitation = world.stanza_out().await;
    let id = attr(&invitation, "id");
    assert_eq!(
        invitation.replace(&me, "ME").replace(&id, "ID"),
        "<message from='ME' to='capulet@rooms.example.com' id='ID'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <invite to='benvolio@example.com'/></x></message>"
    );
}

/// Hostile: a REFER whose Refer-To names no XMPP user gets the 4xx a
/// Request-URI naming it would (RFC 7247 §6.4: another scheme 416, a SIP
/// user of Parley's own domain 404), none 400, a `method=BYE` (RFC 4579
/// §5.11, removal) 501; nothing goes to the room and the session goes on.
#[tokio::test]
async fn a_refer_to_no_xmpp_user_is_refused_and_nothing_reaches_the_room() {
    let Joined {
        mut world,
        ok,
        phone: _phone,
        ..
    } = join("refer2").await;
    let cases = [
        (Some("<tel:+15551234567>"), 416),
        (Some("<http://example.com/ben>"), 416),
        (Some("<sip:juliet@sip.example.net>"), 404),
        (None, 400),
        (Some("<sip:benvolio@example.com;method=BYE>"), 501),
    ];
    for (cseq, (refer_to, expected)) in (4..).zip(cases) {
        world.sip_in(&refer(&ok, cseq, refer_to)).await;
        let answer = next_sip(&world).await;
        assert_eq!(status(&answer), expected, "{refer_to:?}");
    }
    world.no_stanza_out(Duration::from_millis(150)).await;
    world.sip_in(&in_dialog(&ok, "BYE", 20, "")).await;
    assert_eq!(status(&next_sip(&world).await), 200);
}
