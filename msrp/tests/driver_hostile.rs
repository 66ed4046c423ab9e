//! Issue 21's hostile input against the driver over real TCP, each while a
//! session between two endpoints keeps working: garbage on the port (that
//! connection closed), a SEND for a session that does not exist (481,
//! RFC 4975 §5.4/§7.3) or is bound to another connection (506, §5.4), a
//! Byte-Range total of 10 MB (413, RFC 7573 §8), a connection that never
//! sends (closed after the first-frame timeout), a peer that never answers
//! our SEND (§7.1.1's timer: a 408 event).

#![allow(clippy::unwrap_used)]

mod driver_common;

use std::time::Duration;

use driver_common::*;
use parley_msrp::StatusCode;
use parley_msrp::endpoint::{EndpointConfig, Role, SessionEvent};
use parley_msrp::session::Event;
use parley_msrp::wire::SuccessReport;

#[tokio::test]
async fn garbage_closes_only_its_connection() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;

    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    raw.write(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n").await;
    assert!(raw.closed().await, "garbage: the connection is closed");
    assert_eq!(a.stats().fatal_decode_errors, 1);

    still_works(&mut gw, &mut phone, "after-garbage").await;
    assert_eq!(a.stats().connections_open, 1);
}

#[tokio::test]
async fn send_for_no_session_is_481_and_for_a_bound_one_506() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;
    let gw_uri = uri("msrp", a.local_addr().unwrap(), "gw1");
    let nobody = uri("msrp", a.local_addr().unwrap(), "nosuchsession");

    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    let me = uri("msrp", raw.local_addr(), "intruder");
    // §5.4: "If no match exists, the node MUST reject the request with a 481".
    raw.write(&send("t1", &nobody, &me, "1-2/2", '$', "hi"))
        .await;
    let response = raw.frame().await.unwrap();
    assert_eq!(response.status_code(), Some(StatusCode::NO_SESSION));
    assert_eq!(response.transaction_id.as_str(), "t1");
    // §5.4: "If the session is already in use, it MUST reject the request
    // with a 506 response." gw1 is bound to the phone's connection.
    raw.write(&send("t2", &gw_uri, &me, "1-2/2", '$', "hi"))
        .await;
    let response = raw.frame().await.unwrap();
    assert_eq!(
        response.status_code(),
        Some(StatusCode::SESSION_ON_OTHER_CONNECTION)
    );
    let stats = a.stats();
    assert_eq!((stats.responses_481, stats.responses_506), (1, 1));

    // Nothing reached the session; it keeps working.
    still_works(&mut gw, &mut phone, "after-intruder").await;
}

#[tokio::test]
async fn ten_megabyte_total_is_413_and_the_session_goes_on() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;

    // A second passive session on the gateway, with a hand-driven peer.
    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    let gw2_uri = uri("msrp", a.local_addr().unwrap(), "gw2");
    let me = uri("msrp", raw.local_addr(), "raw2");
    let mut gw2 = a
        .open(spec(gw2_uri.clone(), me.clone(), Role::Passive))
        .await
        .unwrap();
    // RFC 7573 §8 / RFC 4975 §10.5: a message over the limit gets 413.
    raw.write(&send("big1", &gw2_uri, &me, "1-4/10485760", '+', "abcd"))
        .await;
    let response = raw.frame().await.unwrap();
    assert_eq!(response.status_code(), Some(StatusCode::STOP_SENDING));
    assert_eq!(next(&mut gw2).await, SessionEvent::Bound);
    assert!(matches!(
        next(&mut gw2).await,
        SessionEvent::Msrp(Event::Refused(_))
    ));
    assert_eq!(a.stats().responses_413, 1);

    // The same connection and session still take a message of fair size.
    raw.write(&send("ok1", &gw2_uri, &me, "1-5/5", '$', "small"))
        .await;
    let response = raw.frame().await.unwrap();
    assert_eq!(response.status_code(), Some(StatusCode::OK));
    assert_eq!(next_message(&mut gw2).await, "small");

    still_works(&mut gw, &mut phone, "after-413").await;
}

fn paused_config() -> EndpointConfig {
    EndpointConfig {
        first_frame_timeout: Duration::from_secs(5),
        // Far away, so the paused clock's jumps never reach them by accident.
        idle_timeout: Duration::from_secs(3600),
        bind_timeout: Duration::from_secs(3600),
        ..config()
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_never_sends_is_closed_after_the_first_frame_timeout() {
    let a = endpoint(paused_config()).await;
    let b = endpoint(paused_config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;

    let start = tokio::time::Instant::now();
    let mut silent = RawPeer::connect(a.local_addr().unwrap()).await;
    assert!(silent.closed().await, "closed for silence");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
    assert_eq!(a.stats().idle_closes, 1);

    still_works(&mut gw, &mut phone, "after-silence").await;
}

#[tokio::test(start_paused = true)]
async fn a_passive_session_nobody_binds_fails_after_the_bind_timeout() {
    let a = endpoint(EndpointConfig {
        bind_timeout: Duration::from_secs(30),
        ..paused_config()
    })
    .await;
    let local = uri("msrp", a.local_addr().unwrap(), "lonely");
    let remote = uri("msrp", "127.0.0.1:9".parse().unwrap(), "nobody");
    let mut gw = a.open(spec(local, remote, Role::Passive)).await.unwrap();
    assert_eq!(
        next_within(&mut gw, Duration::from_secs(60)).await,
        SessionEvent::Closed(parley_msrp::endpoint::CloseReason::BindTimeout)
    );
    assert_eq!(a.stats().sessions_open, 0);
    // §5.4: a passive session cannot send before it is bound.
    assert!(gw.send(message("x", "x", SuccessReport::No)).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_send_without_response_is_reported_as_408_after_30_seconds() {
    let a = endpoint(paused_config()).await;
    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    let gw_uri = uri("msrp", a.local_addr().unwrap(), "gw1");
    let me = uri("msrp", raw.local_addr(), "mute");
    let mut gw = a
        .open(spec(gw_uri.clone(), me.clone(), Role::Passive))
        .await
        .unwrap();
    // The raw peer is the active side: its bodiless SEND binds the session.
    raw.write(&bodiless("b1", &gw_uri, &me)).await;
    assert_eq!(
        raw.frame().await.unwrap().status_code(),
        Some(StatusCode::OK)
    );
    assert_eq!(next(&mut gw).await, SessionEvent::Bound);

    let start = tokio::time::Instant::now();
    gw.send(message("unanswered", "hello?", SuccessReport::No))
        .unwrap();
    let sent = raw.frame().await.unwrap();
    assert_eq!(sent.message_id().unwrap().as_str(), "unanswered");
    // §7.1.1: no 200 "within 30 seconds": the user is told (a 408, §10.4).
    match next_within(&mut gw, Duration::from_secs(60)).await {
        SessionEvent::Msrp(Event::Response { message_id, status }) => {
            assert_eq!(message_id.as_str(), "unanswered");
            assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        }
        other => panic!("expected a 408, got {other:?}"),
    }
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "{waited:?}"
    );
    assert_eq!(a.stats().transaction_timeouts, 1);

    // A late 200 is dropped, not reported twice.
    let late = parley_msrp::session::response(&sent, StatusCode::OK, &me);
    raw.write(&late.to_bytes()).await;
    gw.send(message("second", "still there?", SuccessReport::No))
        .unwrap();
    let second = raw.frame().await.unwrap();
    raw.write(&parley_msrp::session::response(&second, StatusCode::OK, &me).to_bytes())
        .await;
    match next(&mut gw).await {
        SessionEvent::Msrp(Event::Response { message_id, status }) => {
            assert_eq!(message_id.as_str(), "second");
            assert!(status.is_success());
        }
        other => panic!("expected the second SEND's 200, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_carrying_no_session_is_closed_after_the_idle_timeout() {
    let a = endpoint(EndpointConfig {
        idle_timeout: Duration::from_secs(60),
        bind_timeout: Duration::from_secs(3600),
        ..config()
    })
    .await;
    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    let me = uri("msrp", raw.local_addr(), "idle");
    let nobody = uri("msrp", a.local_addr().unwrap(), "nobody");
    raw.write(&send("i1", &nobody, &me, "1-2/2", '$', "hi"))
        .await;
    assert_eq!(
        raw.frame().await.unwrap().status_code(),
        Some(StatusCode::NO_SESSION)
    );
    let start = tokio::time::Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(120), raw.closed_eventually()).await;
    assert!(closed.is_ok(), "closed for idleness");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(59) && waited < Duration::from_secs(61),
        "{waited:?}"
    );
    assert_eq!(a.stats().idle_closes, 1);
}

#[tokio::test]
async fn shutdown_ends_every_session() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;
    let lonely = uri("msrp", a.local_addr().unwrap(), "lonely");
    let remote = uri("msrp", "127.0.0.1:9".parse().unwrap(), "nobody");
    let mut waiting = a.open(spec(lonely, remote, Role::Passive)).await.unwrap();
    a.shutdown().await;
    for handle in [&mut gw, &mut waiting] {
        assert_eq!(
            next_not_ok(handle).await,
            SessionEvent::Closed(parley_msrp::endpoint::CloseReason::Shutdown)
        );
        assert_eq!(handle.next_event().await, None);
    }
    assert!(matches!(
        next_not_ok(&mut phone).await,
        SessionEvent::Closed(parley_msrp::endpoint::CloseReason::ConnectionLost)
    ));
    assert_eq!(a.stats().sessions_open, 0);
    assert_eq!(a.stats().connections_open, 0);
    b.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn sends_awaiting_responses_are_bounded_and_partial_ones_run_no_timer() {
    let a = endpoint(paused_config()).await;
    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    let gw_uri = uri("msrp", a.local_addr().unwrap(), "gw1");
    let me = uri("msrp", raw.local_addr(), "mute");
    let mut spec = spec(gw_uri.clone(), me.clone(), Role::Passive);
    spec.options.max_pending = 2;
    let mut gw = a.open(spec).await.unwrap();
    raw.write(&bodiless("b1", &gw_uri, &me)).await;
    raw.frame().await.unwrap();
    assert_eq!(next(&mut gw).await, SessionEvent::Bound);

    // §7.1.1: with "partial" the sender "does not have to run a timer".
    for i in 0..3 {
        let mut m = message(&format!("partial{i}"), "p", SuccessReport::No);
        m.failure_report = parley_msrp::wire::FailureReport::Partial;
        gw.send(m).unwrap();
        raw.frame().await.unwrap();
    }
    for i in 0..2 {
        gw.send(message(&format!("yes{i}"), "y", SuccessReport::No))
            .unwrap();
        raw.frame().await.unwrap();
    }
    // Two SENDs await a 200: the third is refused, not queued without bound.
    let refused = gw.send(message("yes2", "y", SuccessReport::No));
    assert_eq!(refused, Err(parley_msrp::endpoint::DriverError::Busy));

    let mut timed_out = Vec::new();
    for _ in 0..2 {
        match next_within(&mut gw, Duration::from_secs(60)).await {
            SessionEvent::Msrp(Event::Response { message_id, status }) => {
                assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
                timed_out.push(message_id.as_str().to_owned());
            }
            other => panic!("expected a 408, got {other:?}"),
        }
    }
    timed_out.sort();
    assert_eq!(timed_out, ["yes0", "yes1"]);
    assert_eq!(a.stats().transaction_timeouts, 2);
    gw.send(message("yes3", "y", SuccessReport::No)).unwrap();
}

#[tokio::test]
async fn an_oversized_header_section_closes_only_its_connection() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;
    let mut raw = RawPeer::connect(a.local_addr().unwrap()).await;
    // The default limit is 8 KiB of start line and header fields.
    let mut head = b"MSRP h1 SEND\r\n".to_vec();
    for i in 0..1000 {
        head.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "x".repeat(20)).as_bytes());
    }
    raw.stream.set_nodelay(true).unwrap();
    // The endpoint may close before all is written; the write error is fine.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut raw.stream, &head).await;
    assert!(
        raw.closed().await,
        "oversized head: the connection is closed"
    );
    assert_eq!(a.stats().fatal_decode_errors, 1);
    still_works(&mut gw, &mut phone, "after-oversize").await;
}

#[tokio::test]
async fn a_full_events_channel_holds_the_reader_and_loses_nothing() {
    let a = endpoint(EndpointConfig {
        event_capacity: 1,
        ..config()
    })
    .await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;
    for i in 0..10 {
        phone
            .send(message(
                &format!("m{i}"),
                format!("n{i}"),
                SuccessReport::No,
            ))
            .unwrap();
    }
    // Nobody reads the gateway's events for a while.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..10 {
        assert_eq!(next_message(&mut gw).await, format!("n{i}"));
    }
    still_works(&mut gw, &mut phone, "after-backpressure").await;
}
