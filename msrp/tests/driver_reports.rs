//! The tokio driver with `SessionOptions::application_reports` over real TCP
//! on 127.0.0.1: the gateway's session delivers a message with
//! Success-Report `yes` and sends the REPORT (RFC 4975 §7.1.3) only when
//! the application says the recipient got it (RFC 7573 §7); failure
//! REPORTs (§7.1.4) the same way; unknown Message-IDs are errors; messages
//! forgotten past the bound are counted.

#![allow(clippy::unwrap_used)]

mod driver_common;

use driver_common::*;
use parley_msrp::ReportError;
use parley_msrp::endpoint::{DriverError, Endpoint, Role, SessionEvent, SessionHandle};
use parley_msrp::session::Event;
use parley_msrp::status::StatusCode;
use parley_msrp::wire::{MessageId, SuccessReport};

/// A bound pair over TCP: `gw` passive on `a`, deciding its REPORTs, with
/// at most `max_awaiting` messages awaiting one; `phone` active on `b`.
async fn pair_reporting(
    a: &Endpoint,
    b: &Endpoint,
    max_awaiting: usize,
) -> (SessionHandle, SessionHandle) {
    let gw_uri = uri("msrp", a.local_addr().unwrap(), "gwrep");
    let phone_uri = uri("msrp", b.local_addr().unwrap(), "phonerep");
    let mut gw_spec = spec(gw_uri.clone(), phone_uri.clone(), Role::Passive);
    gw_spec.options.application_reports = true;
    gw_spec.options.max_awaiting_reports = max_awaiting;
    let mut gw = a.open(gw_spec).await.unwrap();
    let mut phone = b.open(spec(phone_uri, gw_uri, Role::Active)).await.unwrap();
    assert_eq!(next(&mut phone).await, SessionEvent::Bound);
    assert_eq!(next(&mut gw).await, SessionEvent::Bound);
    match next(&mut phone).await {
        SessionEvent::Msrp(Event::Response { status, .. }) => assert!(status.is_success()),
        other => panic!("expected the bodiless SEND's 200, got {other:?}"),
    }
    (gw, phone)
}

fn id(text: &str) -> MessageId {
    MessageId::new(text).unwrap()
}

#[tokio::test]
async fn success_report_goes_out_when_the_application_says_so() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair_reporting(&a, &b, 8).await;

    phone
        .send(message("asked1", "receipt please", SuccessReport::Yes))
        .unwrap();
    assert_eq!(next_message(&mut gw).await, "receipt please");
    // Had the session reported on arrival, the REPORT would reach the phone
    // before this message from the gateway: one connection, in order.
    gw.send(message("marker1", "marker", SuccessReport::No))
        .unwrap();
    assert_eq!(next_message(&mut phone).await, "marker");

    // The XMPP recipient's <received/> (RFC 7573 §7): now the REPORT.
    assert_eq!(gw.report_success(&id("asked1")), Ok(true));
    match next_not_ok(&mut phone).await {
        SessionEvent::Msrp(Event::Report {
            message_id, status, ..
        }) => {
            assert_eq!(message_id, id("asked1"));
            assert_eq!(status.code, StatusCode::OK);
        }
        other => panic!("expected the success REPORT, got {other:?}"),
    }
    // Reported on, so forgotten.
    assert_eq!(
        gw.report_success(&id("asked1")),
        Err(DriverError::Report(ReportError::UnknownMessage))
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn failure_report_goes_out_when_delivery_fails_later() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, mut phone) = pair_reporting(&a, &b, 8).await;
    // Failure-Report: yes (the helper's), Success-Report: no.
    phone
        .send(message("fails1", "to nowhere", SuccessReport::No))
        .unwrap();
    assert_eq!(next_message(&mut gw).await, "to nowhere");
    assert_eq!(
        gw.report_failure(&id("fails1"), StatusCode::REQUEST_TIMEOUT),
        Ok(true)
    );
    match next_not_ok(&mut phone).await {
        SessionEvent::Msrp(Event::Report {
            message_id, status, ..
        }) => {
            assert_eq!(message_id, id("fails1"));
            assert_eq!(status.code, StatusCode::REQUEST_TIMEOUT);
        }
        other => panic!("expected the failure REPORT, got {other:?}"),
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn unknown_message_id_and_closed_session_are_errors() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (gw, _phone) = pair_reporting(&a, &b, 8).await;
    assert_eq!(
        gw.report_success(&id("never")),
        Err(DriverError::Report(ReportError::UnknownMessage))
    );
    assert_eq!(
        gw.report_failure(&id("never"), StatusCode::OK),
        Err(DriverError::Report(ReportError::NotAFailure(
            StatusCode::OK
        )))
    );
    gw.close();
    assert_eq!(gw.report_success(&id("never")), Err(DriverError::Closed));
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn messages_forgotten_past_the_bound_are_counted() {
    let a = endpoint(config()).await;
    let b = endpoint(config()).await;
    let (mut gw, phone) = pair_reporting(&a, &b, 1).await;
    for m in ["first1", "second1"] {
        phone.send(message(m, m, SuccessReport::Yes)).unwrap();
    }
    assert_eq!(next_message(&mut gw).await, "first1");
    // The second message's arrival forgets the first, owed a REPORT.
    assert_eq!(
        next(&mut gw).await,
        SessionEvent::Msrp(Event::ReportForgotten(id("first1")))
    );
    assert_eq!(next_message(&mut gw).await, "second1");
    assert_eq!(a.stats().reports_forgotten, 1);
    assert_eq!(
        gw.report_success(&id("first1")),
        Err(DriverError::Report(ReportError::UnknownMessage))
    );
    assert_eq!(gw.report_success(&id("second1")), Ok(true));
    a.shutdown().await;
    b.shutdown().await;
}
