//! RFC 7701 §7.1 over real TCP on 127.0.0.1: a participant's NICKNAME
//! reaches the chat room's application, whose answer comes back; a room that
//! does not answer in time is a 408; a session that is no chat room answers
//! 501 (RFC 4975 §12).

#![allow(clippy::unwrap_used)]

mod driver_common;

use std::time::Duration;

use driver_common::*;
use parley_msrp::endpoint::{EndpointConfig, Role, SessionEvent};
use parley_msrp::session::{Event, NicknameRequests};
use parley_msrp::status::StatusCode;

/// `room` passive on `a` taking NICKNAMEs, `user` active on `b`.
async fn room_pair(
    a: &parley_msrp::endpoint::Endpoint,
    b: &parley_msrp::endpoint::Endpoint,
    nicknames: NicknameRequests,
) -> (
    parley_msrp::endpoint::SessionHandle,
    parley_msrp::endpoint::SessionHandle,
) {
    let room_uri = uri("msrp", a.local_addr().unwrap(), "room1");
    let user_uri = uri("msrp", b.local_addr().unwrap(), "user1");
    let mut room_spec = spec(room_uri.clone(), user_uri.clone(), Role::Passive);
    room_spec.options.nickname_requests = nicknames;
    let mut room = a.open(room_spec).await.unwrap();
    let mut user = b
        .open(spec(user_uri, room_uri, Role::Active))
        .await
        .unwrap();
    assert_eq!(next(&mut user).await, SessionEvent::Bound);
    assert_eq!(next(&mut room).await, SessionEvent::Bound);
    match next(&mut user).await {
        SessionEvent::Msrp(Event::Response { status, .. }) => assert!(status.is_success()),
        other => panic!("expected the bodiless SEND's 200, got {other:?}"),
    }
    (room, user)
}

async fn nickname_response(user: &mut parley_msrp::endpoint::SessionHandle) -> (String, u16) {
    match next(user).await {
        SessionEvent::Msrp(Event::NicknameResponse {
            transaction_id,
            status,
        }) => (transaction_id.as_str().to_owned(), status.0),
        other => panic!("expected a NICKNAME response, got {other:?}"),
    }
}

/// RFC 7701 §9.2 over TCP: 425 for a taken nickname, then 200.
#[tokio::test]
async fn rfc7701_9_2_nickname_is_answered_by_the_room_application() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut room, mut user) = room_pair(&a, &b, NicknameRequests::Application).await;

    let first = user.send_nickname("Alice the great").unwrap();
    let SessionEvent::Msrp(Event::NicknameRequest {
        transaction_id,
        nickname,
    }) = next(&mut room).await
    else {
        panic!("expected a NICKNAME request")
    };
    assert_eq!(nickname, "Alice the great");
    room.answer_nickname(&transaction_id, StatusCode::NICKNAME_UNAVAILABLE)
        .unwrap();
    assert_eq!(
        nickname_response(&mut user).await,
        (first.as_str().to_owned(), 425)
    );

    let second = user.send_nickname("Alice in Wonderland").unwrap();
    let SessionEvent::Msrp(Event::NicknameRequest { transaction_id, .. }) = next(&mut room).await
    else {
        panic!("expected a NICKNAME request")
    };
    room.answer_nickname(&transaction_id, StatusCode::OK)
        .unwrap();
    assert_eq!(
        nickname_response(&mut user).await,
        (second.as_str().to_owned(), 200)
    );
    // Answered once only.
    assert!(
        room.answer_nickname(&transaction_id, StatusCode::OK)
            .is_err()
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// RFC 4975 §7.1.1's timer covers NICKNAME too: no answer, a 408.
#[tokio::test]
async fn unanswered_nickname_times_out_as_408() {
    let quick = EndpointConfig {
        transaction_timeout: Duration::from_millis(300),
        ..config()
    };
    let a = endpoint(config()).await;
    let b = endpoint(quick).await;
    let (mut room, mut user) = room_pair(&a, &b, NicknameRequests::Application).await;
    let tid = user.send_nickname("Slow").unwrap();
    assert!(matches!(
        next(&mut room).await,
        SessionEvent::Msrp(Event::NicknameRequest { .. })
    ));
    assert_eq!(
        nickname_response(&mut user).await,
        (tid.as_str().to_owned(), 408)
    );
    assert_eq!(b.stats().transaction_timeouts, 1);
    a.shutdown().await;
    b.shutdown().await;
}

/// RFC 4975 §12: a session that is no chat room answers NICKNAME with 501.
#[tokio::test]
async fn nickname_to_a_plain_chat_session_is_501() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (_room, mut user) = room_pair(&a, &b, NicknameRequests::Unsupported).await;
    let tid = user.send_nickname("Alice").unwrap();
    assert_eq!(
        nickname_response(&mut user).await,
        (tid.as_str().to_owned(), 501)
    );
    a.shutdown().await;
    b.shutdown().await;
}
