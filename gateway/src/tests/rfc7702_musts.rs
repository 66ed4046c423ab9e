//! RFC 7701 requirements on the MSRP switch that Parley is for a SIP user
//! in an XMPP room (RFC 7702 §6: Parley answers the INVITE as the focus,
//! Contact `;isfocus`), each proved on its own: the rows of
//! `docs/rfc7702-rfc7701.md` that no other test proved. The room is
//! played by the test (`rfc7702_6::join`).
//!
//! Where RFC 7701 asks the switch to *reject the SEND* with a status, the
//! status is the response to the SEND (the room session answers it once
//! the CPIM wrapper is read, `MessageAnswers::Application`), and no REPORT
//! follows (RFC 4975 §7.1.4: the refusal was the report).

use std::time::Duration;

use super::rfc7702_6::{
    GROUPCHAT, Joined, attr, invite, invite_answer, invite_with_chatroom, join, join_with,
    next_frame, occupant, status,
};
use super::world::World;

/// A SEND of `content_type` and `body` from the phone, and the status of
/// Parley's response to it.
async fn status_of_send(
    phone: &mut parley_harness::msrp_peer::MsrpPeer,
    message_id: &str,
    content_type: &str,
    body: &str,
) -> Option<u16> {
    let tid = phone
        .send(message_id, content_type, body.as_bytes(), &[])
        .await;
    let answer = next_frame(phone).await;
    assert_eq!(answer.transaction_id, tid, "{answer:?}");
    answer.status
}

/// The `Status` code of the REPORT Parley sends for `message_id` (RFC 4975
/// §9: `Status = "Status:" SP namespace SP status-code [SP comment]`),
/// within a second: a failure REPORT, or a success one (200).
async fn reported_failure(
    phone: &mut parley_harness::msrp_peer::MsrpPeer,
    message_id: &str,
) -> Option<u16> {
    let frame = report(phone, message_id).await?;
    let status = frame
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Status"))?;
    status.1.split_whitespace().nth(1)?.parse().ok()
}

/// The REPORT Parley sends for `message_id` within a second.
async fn report(
    phone: &mut parley_harness::msrp_peer::MsrpPeer,
    message_id: &str,
) -> Option<parley_harness::msrp_peer::MsrpFrame> {
    loop {
        let frame = phone.next_frame(Duration::from_secs(1)).await?;
        let header = |name: &str| {
            frame
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if frame.method.as_deref() == Some("REPORT")
            && header("Message-ID").as_deref() == Some(message_id)
        {
            return Some(frame);
        }
    }
}

/// A CPIM wrapper from Romeo with `to` as its To header field(s).
fn cpim(to: &[&str], text: &str) -> String {
    let to: String = to.iter().map(|t| format!("To: {t}\r\n")).collect();
    format!(
        "{to}From: \"Romeo\" <sip:romeo@sip.example.net>\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{text}"
    )
}

/// RFC 7701 §6.1 (and §6.2 for a private one): "If the MSRP switch
/// receives a message containing several To header fields in the
/// Message/CPIM wrapper the MSRP switch MUST reject the MSRP SEND request
/// with a 403 response": the SEND's response is 403, no REPORT, nothing to
/// the room.
#[tokio::test]
async fn rfc7701_6_1_a_send_with_several_cpim_to_gets_403() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("must-to").await;
    let body = cpim(
        &[
            "<sip:capulet@rooms.example.com>",
            "<sip:capulet@rooms.example.com;gr=JuliC>",
        ],
        "To two at once",
    );
    let status = status_of_send(&mut phone, "m-two", "message/cpim", &body).await;
    assert_eq!(status, Some(403));
    assert_eq!(
        reported_failure(&mut phone, "m-two").await,
        None,
        "no REPORT"
    );
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §6.3: "If the MSRP switch receives an MSRP SEND request that
/// does not contain a Message/CPIM wrapper, the MSRP switch MUST reject
/// the request with a 415 response"; nothing reaches the room.
#[tokio::test]
async fn rfc7701_6_3_a_send_without_a_cpim_wrapper_gets_415() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("must-415").await;
    let status = status_of_send(&mut phone, "m-plain", "text/plain", "bare text").await;
    assert_eq!(status, Some(415));
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §6.2: "If this To header field does not contain the URI of a
/// participant of the chat room or if the To header field cannot be
/// resolved (e.g., caused by a mistyped URI), the MSRP switch MUST reject
/// the request with a 404 response": a To outside the room, one that is
/// no URI, and an occupant entity of a nickname nobody holds: the SEND's
/// response is 404, no REPORT.
#[tokio::test]
async fn rfc7701_6_2_a_send_to_no_participant_gets_404() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("must-404").await;
    for (id, to) in [
        ("m-out", "<sip:juliet@example.com>"),
        ("m-typo", "<not a uri>"),
        ("m-nobody", "<sip:capulet@rooms.example.com;gr=Nobody>"),
    ] {
        let status = status_of_send(&mut phone, id, "message/cpim", &cpim(&[to], "hi")).await;
        assert_eq!(status, Some(404), "To {to}");
        assert_eq!(reported_failure(&mut phone, id).await, None, "no REPORT");
    }
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §5.2: the focus "MUST set the 'accept-types' attribute for the
/// MSRP message media line to a value of 'Message/CPIM'" (the offer,
/// Example 27, has `message/cpim text/plain text/html`); §8: "A given
/// 'chat-token' value MUST NOT appear more than once in a 'chatroom'
/// attribute" (the offer's `a=chatroom:nickname private-messages` is not
/// echoed next to Parley's own).
#[tokio::test]
async fn rfc7701_5_2_and_8_the_answer_accepts_only_cpim_with_each_chat_token_once() {
    let Joined { ok, .. } = join("must-sdp").await;
    let sdp = String::from_utf8(ok.body.to_vec()).expect("SDP is text");
    let accept: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=accept-types:"))
        .collect();
    assert_eq!(accept, ["message/cpim"], "{sdp}");
    let chatroom: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=chatroom:"))
        .collect();
    assert_eq!(chatroom.len(), 1, "one a=chatroom line: {sdp}");
    let mut tokens: Vec<&str> = chatroom[0].split_whitespace().collect();
    let all = tokens.len();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), all, "a token twice: {sdp}");
}

/// RFC 7701 §6.3: "If the MSRP switch receives an MSRP SEND request where
/// the URI included in the From header field of the Message/CPIM wrapper is
/// not valid, (e.g., because it does not "belong" to the sender of the
/// message or is not a valid participant of the chat room), the MSRP switch
/// MUST reject the request with a 403 response": the SEND's response is
/// 403, no REPORT, nothing to the room.
#[tokio::test]
async fn rfc7701_6_3_a_send_whose_cpim_from_is_not_the_sender_gets_403() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("must-from").await;
    let body = "To: <sip:capulet@rooms.example.com>\r\nFrom: <sip:juliet@example.com>\r\n\r\n\
                Content-Type: text/plain\r\n\r\nnot from Romeo";
    let status = status_of_send(&mut phone, "m-from", "message/cpim", body).await;
    assert_eq!(status, Some(403));
    assert_eq!(
        reported_failure(&mut phone, "m-from").await,
        None,
        "no REPORT"
    );
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §5.2: "if the conference focus receives, from a participant's
/// endpoint, an SDP offer that does not include the value 'Message/CPIM'
/// in the 'accept-types' attribute for the MSRP message media line, the
/// conference focus SHOULD either reject the MSRP message media stream or
/// reject the complete SDP offer": the INVITE is refused and no join goes
/// to the room.
#[tokio::test]
async fn rfc7701_5_2_an_offer_without_cpim_is_refused_before_the_room() {
    let mut world = World::with("", GROUPCHAT).await;
    let example_27 = invite("must-nocpim");
    let (head, sdp) = example_27
        .split_once("\n\n")
        .expect("headers, then the SDP");
    let sdp = sdp.replace(
        "a=accept-types:message/cpim text/plain text/html",
        "a=accept-types:text/plain text/html",
    );
    let head: String = head
        .lines()
        .map(|l| match l.strip_prefix("Content-Length:") {
            Some(_) => format!("Content-Length: {}\n", sdp.len()),
            None => format!("{l}\n"),
        })
        .collect();
    world.sip_in(&format!("{head}\n{sdp}")).await;
    let answer = invite_answer(&world).await;
    let code = status(&answer);
    assert!(code >= 400, "refused: {answer:?}");
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §6.3: "MSRP switches MUST follow the success report and
/// failure report handling described in Section 7 of RFC 4975". A SEND to
/// the room asking `Success-Report: yes` gets its success REPORT when the
/// room reflects the message (RFC 7702 §6.3.1), not before; one the room
/// refuses (XEP-0045: a visitor may not speak, `<forbidden/>`) gets a
/// failure REPORT.
#[tokio::test]
async fn rfc7701_6_3_reports_follow_the_room() {
    let Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join("must-report").await;
    let to_room = ["<sip:capulet@rooms.example.com>"];
    let tid = phone
        .send(
            "m-ok",
            "message/cpim",
            cpim(&to_room, "reflect me").as_bytes(),
            &["Success-Report: yes"],
        )
        .await;
    assert_eq!(next_frame(&mut phone).await.transaction_id, tid);
    let out = world.stanza_out().await;
    let id = attr(&out, "id");
    // `groupchat.join_secs` (1 s here) bounds the wait for the reflection.
    assert!(
        phone.next_frame(Duration::from_millis(200)).await.is_none(),
        "no REPORT before the reflection"
    );
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/Romeo' to='{me}' id='{id}' type='groupchat'>\
         <body>reflect me</body></message>"
    ));
    assert_eq!(reported_failure(&mut phone, "m-ok").await, Some(200));

    let tid = phone
        .send(
            "m-no",
            "message/cpim",
            cpim(&to_room, "refuse me").as_bytes(),
            &[],
        )
        .await;
    assert_eq!(next_frame(&mut phone).await.transaction_id, tid);
    let out = world.stanza_out().await;
    let id = attr(&out, "id");
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com' to='{me}' id='{id}' type='error'>\
         <body>refuse me</body><error type='auth'>\
         <forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    ));
    let refused = report(&mut phone, "m-no").await.expect("a failure REPORT");
    let header = |name: &str| {
        refused
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let status: Option<u16> =
        header("Status").and_then(|s| s.split_whitespace().nth(1).and_then(|c| c.parse().ok()));
    assert!(status.is_some_and(|s| s >= 400), "{status:?}");
    // RFC 7701 §6.2: "Any potential REPORT request that the MSRP switch
    // sends to the sender MUST include a Message/CPIM wrapper containing
    // the original From header field ... and the To header field".
    assert_eq!(header("Content-Type").as_deref(), Some("message/cpim"));
    assert_eq!(
        String::from_utf8_lossy(&refused.body),
        "To: <sip:capulet@rooms.example.com>\r\n\
         From: \"Romeo\" <sip:romeo@sip.example.net>\r\n\r\n"
    );
}

/// RFC 7701 §6.3 with RFC 4975 §7.1.4 (a gateway "that waits for a
/// downstream network to indicate an error" sends 200, then a failure
/// REPORT): a message to the room that the room never reflects nor refuses
/// within `groupchat.join_secs` (1 s here) gets a failure REPORT 408 (§10.4:
/// "a downstream transaction did not complete in the allotted time")
/// carrying the CPIM wrapper, and no success REPORT.
#[tokio::test]
async fn rfc7701_6_3_a_message_the_room_never_reflects_gets_a_408_report() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("must-lost").await;
    let tid = phone
        .send(
            "m-lost",
            "message/cpim",
            cpim(&["<sip:capulet@rooms.example.com>"], "echo?").as_bytes(),
            &["Success-Report: yes"],
        )
        .await;
    assert_eq!(next_frame(&mut phone).await.transaction_id, tid);
    let _sent = world.stanza_out().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let frame = phone
            .next_frame(left)
            .await
            .expect("a REPORT within 5 s of a message the room never reflected");
        if frame.method.as_deref() == Some("REPORT") {
            break frame;
        }
    };
    let header = |name: &str| {
        refused
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("Message-ID").as_deref(), Some("m-lost"));
    assert_eq!(
        header("Status").and_then(|s| s.split_whitespace().nth(1).map(str::to_owned)),
        Some("408".to_owned())
    );
    assert_eq!(
        String::from_utf8_lossy(&refused.body),
        "To: <sip:capulet@rooms.example.com>\r\n\
         From: \"Romeo\" <sip:romeo@sip.example.net>\r\n\r\n"
    );
}

/// RFC 7701 §6.1: "the MSRP switch MUST evaluate the wrapped media types
/// that the recipient is able to accept": the XMPP room takes text (a
/// `<body/>`), so a CPIM wrapping anything else is refused (the SEND's
/// response 415) and nothing reaches the room.
#[tokio::test]
async fn rfc7701_6_1_a_wrapped_type_the_room_cannot_take_is_refused() {
    let Joined {
        mut world,
        mut phone,
        ..
    } = join("must-wrapped").await;
    let body = "To: <sip:capulet@rooms.example.com>\r\n\
                From: \"Romeo\" <sip:romeo@sip.example.net>\r\n\r\n\
                Content-Type: image/png\r\n\r\nPNG";
    let status = status_of_send(&mut phone, "m-png", "message/cpim", body).await;
    assert_eq!(status, Some(415));
    assert_eq!(
        reported_failure(&mut phone, "m-png").await,
        None,
        "no REPORT"
    );
    world.no_stanza_out(Duration::from_millis(300)).await;
}

/// RFC 7701 §7.1: "The MSRP switch MUST NOT automatically assign the same
/// nickname to more than one MSRP session established from the same URI":
/// Romeo's second INVITE to the room he is in enters it as `Romeo (2)`
/// (RFC 7702 §7), though a room may admit the same nickname for a second
/// resource of one bare JID (XEP-0045 §7.2.8).
#[tokio::test]
async fn rfc7701_7_1_a_second_session_of_one_uri_gets_a_nickname_of_its_own() {
    let config = GROUPCHAT.replace("max_rooms_per_user = 1", "max_rooms_per_user = 2");
    let mut world = World::with("", &config).await;
    world.sip_in(&invite("twin-1")).await;
    let first = world.stanza_out().await;
    assert_eq!(attr(&first, "to"), "capulet@rooms.example.com/Romeo");
    world.stanza_in(&occupant(
        "Romeo",
        &attr(&first, "from"),
        "<status code='110'/>",
    ));
    assert_eq!(status(&invite_answer(&world).await), 200);
    world.sip_in(&invite("twin-2")).await;
    let second = world.stanza_out().await;
    assert_eq!(attr(&second, "to"), "capulet@rooms.example.com/Romeo (2)");
    assert_ne!(attr(&second, "from"), attr(&first, "from"));
}

/// RFC 7701 §6.2: "The MSRP switch MUST NOT forward private messages to a
/// recipient that does not support private messaging": Romeo's offer has
/// `a=chatroom:nickname` without `private-messages` (§8), so JuliC's
/// private message is not sent to his phone and comes back to her as an
/// error (RFC 6120 §8.3.3.3 `feature-not-implemented`, "not implemented by
/// the intended recipient"); a groupchat message still reaches him.
#[tokio::test]
async fn rfc7701_6_2_no_private_message_reaches_a_phone_without_private_messages() {
    let Joined {
        mut world,
        me,
        mut phone,
        ..
    } = join_with(&invite_with_chatroom("must-nopm", "a=chatroom:nickname")).await;
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' id='pm1' type='chat'>\
         <body>psst</body></message>"
    ));
    assert_eq!(
        world.stanza_out().await,
        format!(
            "<message from='{me}' to='capulet@rooms.example.com/JuliC' id='pm1' type='error'>\
             <body>psst</body><error type='cancel'>\
             <feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             </error></message>"
        )
    );
    world.stanza_in(&format!(
        "<message from='capulet@rooms.example.com/JuliC' to='{me}' id='g1' type='groupchat'>\
         <body>all</body></message>"
    ));
    let send = next_frame(&mut phone).await;
    assert_eq!(send.method.as_deref(), Some("SEND"), "{send:?}");
    assert!(send.text().ends_with("all"), "{send:?}");
}
