//! RFC 4028 session timers on RFC 7573 chat sessions, and the phone's
//! re-INVITEs and UPDATEs: literal SIP in and out over loopback UDP; the
//! timers driven by the reaper's tick at future instants.

use std::time::Duration;

use parley_sip::wire::{Message as SipWire, StartLine};
use tokio::time::Instant;

use super::world::{WAIT, World};

const SESSIONS: &str = "[sessions]\nenabled = true\nmsrp_listen = \"127.0.0.1:0\"\n";

const PATH: &str = "msrp://127.0.0.1:7313/ansp71weztas;tcp";

fn offer(path: &str) -> String {
    format!(
        "v=0\r\no=romeo 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 7313 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{path}\r\n"
    )
}

/// Romeo's INVITE with an MSRP offer and `extra` header lines.
fn invite(extra: &str) -> String {
    let sdp = offer(PATH);
    format!(
        "INVITE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKinv1\n\
         Max-Forwards: 70\n\
         To: <sip:juliet@xmpp.example>\n\
         From: <sip:romeo@sip.example.net>;tag=786\n\
         Call-ID: st1\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:romeo@{{peer}}>\n\
         {extra}\
         Content-Type: application/sdp\n\
         Content-Length: {len}\n\
         \n\
         {sdp}",
        len = sdp.len(),
    )
}

/// A request of Romeo's in the dialog the 200 `ok` made.
fn in_dialog(ok: &SipWire, method: &str, cseq: u32, extra: &str, sdp: Option<&str>) -> String {
    let (ct, body) = match sdp {
        Some(b) => ("Content-Type: application/sdp\n", b),
        None => ("", ""),
    };
    format!(
        "{method} sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bK{method}{cseq}\n\
         Max-Forwards: 70\n\
         To: {to}\n\
         From: <sip:romeo@sip.example.net>;tag=786\n\
         Call-ID: st1\n\
         CSeq: {cseq} {method}\n\
         Contact: <sip:romeo@{{peer}}>\n\
         {extra}{ct}\
         Content-Length: {len}\n\n{body}",
        to = ok.header("To").expect("the 200 has a To"),
        len = body.len(),
    )
}

/// The next final response (100 Trying and 200 retransmissions to the
/// INVITE skipped when `skip_invite_200`).
async fn final_response(world: &World, cseq_method: &str) -> SipWire {
    loop {
        let m = world.sip_out().await;
        if let StartLine::Response { status, .. } = m.start
            && status >= 200
            && m.header("CSeq").is_some_and(|c| c.ends_with(cseq_method))
        {
            return m;
        }
    }
}

fn status(m: &SipWire) -> u16 {
    match m.start {
        StartLine::Response { status, .. } => status,
        StartLine::Request { .. } => 0,
    }
}

/// INVITE → 200 → ACK; the 200.
async fn open(world: &mut World, extra: &str) -> SipWire {
    world.sip_in(&invite(extra)).await;
    let ok = final_response(world, "1 INVITE").await;
    assert_eq!(status(&ok), 200, "{ok:?}");
    world.sip_send(&in_dialog(&ok, "ACK", 1, "", None)).await;
    ok
}

/// §9: the 200 copies the Session-Expires, Table 2 row 4 (the UAC supports
/// timers and named no refresher) leaves the refreshes to the phone, and
/// with `refresher=uac` the 200 "MUST" carry `Require: timer`. The phone's
/// UPDATE refreshes it (§7.4) and gets the same.
#[tokio::test]
async fn a_session_timer_is_granted_and_the_phones_update_refreshes_it() {
    let mut world = World::with("", SESSIONS).await;
    let ok = open(&mut world, "Supported: timer\nSession-Expires: 1800\n").await;
    assert_eq!(
        ok.header("Session-Expires").as_deref(),
        Some("1800;refresher=uac")
    );
    assert_eq!(ok.header("Require").as_deref(), Some("timer"));
    world
        .sip_in(&in_dialog(
            &ok,
            "UPDATE",
            2,
            "Supported: timer\nSession-Expires: 1800;refresher=uac\n",
            None,
        ))
        .await;
    let refreshed = final_response(&world, "2 UPDATE").await;
    assert_eq!(status(&refreshed), 200, "{refreshed:?}");
    assert_eq!(
        refreshed.header("Session-Expires").as_deref(),
        Some("1800;refresher=uac")
    );
    assert!(refreshed.body.is_empty(), "no offer, no answer");
}

/// §7.4: a refresh re-INVITE keeps the session; Parley answers with the
/// SDP it sent before, byte for byte ("the same value for the origin field").
#[tokio::test]
async fn a_reinvite_that_keeps_the_path_gets_the_same_answer() {
    let mut world = World::with("", SESSIONS).await;
    let ok = open(&mut world, "").await;
    let sdp = offer(PATH);
    world
        .sip_in(&in_dialog(&ok, "INVITE", 2, "", Some(&sdp)))
        .await;
    let again = final_response(&world, "2 INVITE").await;
    assert_eq!(status(&again), 200, "{again:?}");
    assert_eq!(again.body, ok.body);
    world.sip_send(&in_dialog(&ok, "ACK", 2, "", None)).await;
}

/// RFC 3261 §14.2: a re-INVITE Parley cannot take (its MSRP path moves)
/// gets 488, and the session stays as it was: the next refresh is taken.
#[tokio::test]
async fn a_reinvite_that_moves_the_session_gets_488_and_the_session_stays() {
    let mut world = World::with("", SESSIONS).await;
    let ok = open(&mut world, "").await;
    let moved = offer("msrp://127.0.0.1:7314/other;tcp");
    world
        .sip_in(&in_dialog(&ok, "INVITE", 2, "", Some(&moved)))
        .await;
    let refused = final_response(&world, "2 INVITE").await;
    assert_eq!(status(&refused), 488);
    let sdp = offer(PATH);
    world
        .sip_in(&in_dialog(&ok, "INVITE", 3, "", Some(&sdp)))
        .await;
    assert_eq!(status(&final_response(&world, "3 INVITE").await), 200);
}

/// §9: below the minimum (90 s), 422 with Min-SE, and no session.
#[tokio::test]
async fn a_session_interval_below_90_s_gets_422_with_min_se() {
    let mut world = World::with("", SESSIONS).await;
    world
        .sip_in(&invite("Supported: timer\nSession-Expires: 60\n"))
        .await;
    let answer = final_response(&world, "1 INVITE").await;
    assert_eq!(status(&answer), 422);
    assert_eq!(answer.header("Min-SE").as_deref(), Some("90"));
    assert_eq!(
        world.metric(r#"parley_msrp_session_refusals_total{reason="interval_too_small"}"#),
        Some(1.0)
    );
}

/// §10: the phone refreshes and none comes: "slightly before the session
/// expiration" (the minimum of 32 s and a third of the interval) Parley
/// sends BYE, and the XMPP user gets `<gone/>` (RFC 7573 §6.1).
#[tokio::test]
async fn a_session_the_phone_does_not_refresh_ends_with_bye_and_gone() {
    let mut world = World::with("", SESSIONS).await;
    let ok = open(&mut world, "Supported: timer\nSession-Expires: 90\n").await;
    assert_eq!(
        ok.header("Session-Expires").as_deref(),
        Some("90;refresher=uac")
    );
    let start = Instant::now();
    world.reap_at(start + Duration::from_secs(50));
    world.no_sip_out(Duration::from_millis(200)).await;
    world.reap_at(start + Duration::from_secs(61));
    let bye = loop {
        let m = world.sip_out().await;
        if matches!(&m.start, StartLine::Request { method, .. } if method.as_str() == "BYE") {
            break m;
        }
    };
    world.sip_answer(&bye, "200 OK", "").await;
    assert!(world.stanza_out().await.contains("<gone"));
}

/// §9 Table 2 row 1: the phone asks for a timer without supporting the
/// extension, so Parley refreshes, at half the interval, with an UPDATE
/// since the phone allows one (§7.4), `refresher=uac` and Supported.
#[tokio::test]
async fn parley_refreshes_with_update_at_half_the_interval() {
    let mut world = World::with("", SESSIONS).await;
    let ok = open(
        &mut world,
        "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\nSession-Expires: 120\n",
    )
    .await;
    assert_eq!(
        ok.header("Session-Expires").as_deref(),
        Some("120;refresher=uas")
    );
    let start = Instant::now();
    world.reap_at(start + Duration::from_secs(61));
    let update = tokio::time::timeout(WAIT, async {
        loop {
            let m = world.sip_out().await;
            if matches!(&m.start, StartLine::Request { method, .. } if method.as_str() == "UPDATE")
            {
                return m;
            }
        }
    })
    .await
    .expect("an UPDATE in time");
    assert_eq!(
        update.header("Session-Expires").as_deref(),
        Some("120;refresher=uac")
    );
    assert_eq!(update.header("Supported").as_deref(), Some("timer"));
    assert!(update.body.is_empty());
    world
        .sip_answer(&update, "200 OK", "Session-Expires: 120;refresher=uac\n")
        .await;
    // Refreshed: no BYE at the old expiry (retransmissions of the UPDATE
    // that crossed the 200 aside).
    world.reap_at(start + Duration::from_secs(110));
    let quiet_until = tokio::time::Instant::now() + Duration::from_millis(400);
    while let Some(m) = world
        .sip_out_within(quiet_until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert_eq!(
            m.header("CSeq"),
            update.header("CSeq"),
            "only the UPDATE again: {m:?}"
        );
    }
}
