//! A re-INVITE or UPDATE in a room session (RFC 4028 refreshes, RFC 3261
//! §14): answered as chat sessions answer them, without a session timer
//! (the room's 200 had no Session-Expires, RFC 4028 §7.2).

use std::time::Duration;

use parley_sip::wire::{Message as SipWire, StartLine};

use super::rfc7702_6::{Joined, in_dialog, join, next_sip, status};

/// A re-INVITE of the phone in the dialog of `ok`, offering `path`, asking
/// for a session timer.
fn reinvite(ok: &SipWire, cseq: u32, path: &str) -> String {
    let sdp = format!(
        "v=0\r\no=romeo 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/MSRP *\r\na=accept-types:message/cpim text/plain text/html\r\n\
         a=path:{path}\r\na=chatroom:nickname private-messages\r\n"
    );
    let request = in_dialog(
        ok,
        "INVITE",
        cseq,
        "Contact: <sip:romeo@{peer}>\nSupported: timer\nSession-Expires: 1800\n\
         Content-Type: application/sdp\n",
    );
    request.replace(
        "Content-Length: 0\n\n",
        &format!("Content-Length: {}\n\n{sdp}", sdp.len()),
    )
}

/// RFC 4028 §7.4 refreshes: a re-INVITE that keeps the MSRP path gets 200
/// with the SDP answered before and no Session-Expires (§7.2: no session
/// expiration); an UPDATE without an offer gets 200; a re-INVITE moving
/// the session to another path gets 488 (RFC 3261 §14.2) and the session
/// goes on: a BYE still ends it.
#[tokio::test]
async fn a_room_session_refresh_gets_200_and_a_moved_path_488() {
    let Joined {
        mut world,
        ok,
        me,
        phone: _phone,
    } = join("refresh1").await;
    world
        .sip_in(&reinvite(&ok, 2, "msrp://127.0.0.1:7313/ansp71weztas;tcp"))
        .await;
    let answer = next_sip_response(&world).await;
    assert_eq!(status(&answer), 200);
    assert_eq!(
        answer.body, ok.body,
        "the same SDP as the 200 to the INVITE"
    );
    assert_eq!(answer.header("Session-Expires"), None);
    world.sip_send(&in_dialog(&ok, "ACK", 2, "")).await;

    world.sip_in(&in_dialog(&ok, "UPDATE", 3, "")).await;
    let answer = next_sip_response(&world).await;
    assert_eq!(status(&answer), 200);
    assert!(answer.body.is_empty());

    world
        .sip_in(&reinvite(&ok, 4, "msrp://127.0.0.1:7314/elsewhere;tcp"))
        .await;
    let answer = next_sip_response(&world).await;
    assert_eq!(status(&answer), 488);
    // The ACK of a non-2xx is in the INVITE's transaction (RFC 3261 §17.1.1.3).
    let ack = in_dialog(&ok, "ACK", 4, "").replace("z9hG4bKACK4", "z9hG4bKINVITE4");
    world.sip_send(&ack).await;
    world.no_stanza_out(Duration::from_millis(100)).await;

    world.sip_in(&in_dialog(&ok, "BYE", 5, "")).await;
    assert_eq!(status(&next_sip(&world).await), 200);
    assert_eq!(
        world.stanza_out().await.replace(&me, "ME"),
        "<presence from='ME' to='capulet@rooms.example.com/Romeo' type='unavailable'></presence>"
    );
}

/// The next final response Parley sends (a 2xx to a re-INVITE included).
async fn next_sip_response(world: &super::world::World) -> SipWire {
    loop {
        let m = world.sip_out().await;
        match m.start {
            StartLine::Response { status, .. } if status >= 200 => return m,
            _ => {}
        }
    }
}
