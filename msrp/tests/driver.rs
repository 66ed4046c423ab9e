//! The tokio driver over real TCP on 127.0.0.1: two endpoints in one
//! process, one session passive (RFC 6135 `a=setup:passive`) and one
//! active, messages both ways, a message chunked over the wire (RFC 4975
//! §5.1), a success REPORT back (§7.1.3), connection reuse (§5.4).

#![allow(clippy::unwrap_used)]

mod driver_common;

use driver_common::*;
use parley_msrp::endpoint::{Role, SessionEvent};
use parley_msrp::session::Event;
use parley_msrp::wire::SuccessReport;

#[tokio::test]
async fn active_and_passive_exchange_messages_chunks_and_a_report() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    // §5.4: the active side connects and sends a bodiless SEND at once; the
    // passive side binds the session on it (both see Bound, the active one
    // the SEND's 200) — all inside `pair`.
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;

    // Phone -> gateway, with Success-Report: yes.
    phone
        .send(message("hello1", "hello gateway", SuccessReport::Yes))
        .unwrap();
    assert_eq!(next_message(&mut gw).await, "hello gateway");
    // §7.1.3: the receiver "MUST send a success report": it reaches the phone.
    match next_not_ok(&mut phone).await {
        SessionEvent::Msrp(Event::Report {
            message_id, status, ..
        }) => {
            assert_eq!(message_id.as_str(), "hello1");
            assert!(status.code.is_success());
        }
        other => panic!("expected a REPORT, got {other:?}"),
    }

    // Gateway -> phone, 5000 bytes in 2048-byte chunks, put back together.
    let body: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let frames_before = a.stats().frames_out;
    gw.send(message("big1", body.clone(), SuccessReport::No))
        .unwrap();
    assert_eq!(next_message(&mut phone).await, body);
    assert!(
        a.stats().frames_out - frames_before >= 3,
        "three chunks went out"
    );

    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.sessions_open, sb.sessions_open), (1, 1));
    assert_eq!((sa.connections_open, sb.connections_open), (1, 1));
    assert_eq!((sa.connections_accepted, sb.connections_opened), (1, 1));
    // In at the gateway: the bodiless SEND and the message (the chunks' 200s
    // may still be on the way); at the phone: two 200s, the REPORT, 3 chunks.
    assert!(sa.frames_in >= 2, "{sa:?}");
    assert!(sb.frames_in >= 6, "{sb:?}");
    assert!(sa.bytes_in > 0 && sb.bytes_out > 0);

    // §5.4: a second session to the same host, port and scheme reuses the
    // connection; the passive side binds it on the same connection.
    let (mut gw2, mut phone2) = pair(&a, &b, "gw2", "phone2").await;
    assert_eq!(b.stats().connections_opened, 1);
    assert_eq!(b.stats().connections_reused, 1);
    assert_eq!(a.stats().connections_accepted, 1);
    still_works(&mut gw2, &mut phone2, "second").await;
    still_works(&mut gw, &mut phone, "first").await;

    // Closing one session leaves the connection to the other.
    gw2.close();
    phone2.close();
    still_works(&mut gw, &mut phone, "after-close").await;
    assert_eq!(a.stats().sessions_open, 1);

    a.shutdown().await;
    // §5.4: the connection's end fails its sessions.
    assert!(matches!(
        next_not_ok(&mut phone).await,
        SessionEvent::Closed(_)
    ));
    b.shutdown().await;
}

#[tokio::test]
async fn an_active_session_to_a_closed_port_fails_to_open() {
    let b = endpoint(config()).await;
    // A port nothing listens on: bind one, learn it, drop it.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let local = uri("msrp", b.local_addr().unwrap(), "p9");
    let error = b
        .open(spec(local, uri("msrp", free, "g9"), Role::Active))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("connecting"), "{error}");
    assert_eq!(b.stats().sessions_open, 0);
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_sessions_share_one_connection_on_a_threaded_runtime() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let mut pairs = Vec::new();
    for i in 0..20 {
        pairs.push(pair(&a, &b, &format!("gw{i}"), &format!("phone{i}")).await);
    }
    // §5.4: one connection for the same scheme, host and port.
    assert_eq!(b.stats().connections_opened, 1);
    assert_eq!(b.stats().connections_reused, 19);
    let tasks: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, (mut gw, mut phone))| {
            tokio::spawn(async move {
                for round in 0..5 {
                    still_works(&mut gw, &mut phone, &format!("s{i}r{round}")).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // The tasks dropped their handles: dropping closes a session.
    assert_eq!(a.stats().sessions_open, 0);
    assert_eq!(b.stats().sessions_open, 0);
    assert_eq!(a.stats().responses_481, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_closed_at_once() {
    let a = endpoint(parley_msrp::endpoint::EndpointConfig {
        max_connections: 1,
        ..config()
    })
    .await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair(&a, &b, "gw1", "phone1").await;
    let mut extra = RawPeer::connect(a.local_addr().unwrap()).await;
    assert!(extra.closed().await);
    still_works(&mut gw, &mut phone, "at-limit").await;
}
