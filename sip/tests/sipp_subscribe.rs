//! RFC 6665 with a real sipp in both roles. As subscriber: SUBSCRIBE creates
//! a dialog, NOTIFYs arrive in it (active, then terminated), and the
//! un-SUBSCRIBE (Expires: 0) is sent inside it (§4.1.2.3). As notifier: a
//! SUBSCRIBE is accepted and NOTIFY sent in the dialog of the 200 (§4.2).

use std::time::Duration;

use parley_harness::sipp::{Sipp, scenario};
use parley_sip::StatusCode;
use parley_sip::dialog::{Dialog, DialogId};
use parley_sip::{Endpoint, EndpointConfig, IncomingRequest, OutgoingRequest};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

async fn next_notify(
    incoming: &mut Receiver<IncomingRequest>,
    dialog: &mut Dialog,
) -> (String, Vec<u8>) {
    let notify = timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("NOTIFY in time")
        .expect("open");
    assert_eq!(notify.method(), "NOTIFY");
    assert_eq!(
        DialogId::of_request(notify.view().message()).as_ref(),
        Some(&dialog.id)
    );
    dialog
        .handle_request(notify.view().message())
        .expect("in order");
    let state = notify.header("Subscription-State").unwrap_or_default();
    let body = notify.body().to_vec();
    notify.respond(StatusCode::OK, None, vec![], None);
    (state, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_lives_and_ends_inside_its_dialog() {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let uas = Sipp::new(scenario("uas-subscribe-notify.xml")).spawn_uas();

    let subscribe = OutgoingRequest {
        method: "SUBSCRIBE".into(),
        request_uri: uas.uri("romeo"),
        from: "<sip:juliet@xmpp.example>".into(),
        to: "<sip:romeo@sip.example>".into(),
        headers: vec![
            ("Event".into(), "presence".into()),
            ("Accept".into(), "application/pidf+xml".into()),
            ("Expires".into(), "600".into()),
        ],
        ..OutgoingRequest::default()
    };
    let response = endpoint.send_request(subscribe).await.expect("answered");
    assert_eq!(response.status, 200);
    let mut dialog = Dialog::from_response(response.message()).expect("dialog");

    let (state, body) = next_notify(&mut incoming, &mut dialog).await;
    assert_eq!(state, "active;expires=600");
    assert!(String::from_utf8_lossy(&body).contains("<basic>open</basic>"));

    let unsubscribe = OutgoingRequest::in_dialog(
        dialog.next_request("SUBSCRIBE"),
        vec![
            ("Event".into(), "presence".into()),
            ("Expires".into(), "0".into()),
        ],
        None,
    );
    let response = endpoint.send_request(unsubscribe).await.expect("answered");
    assert_eq!(response.status, 200);

    let (state, _) = next_notify(&mut incoming, &mut dialog).await;
    assert_eq!(state, "terminated;reason=timeout");
    let out = uas.wait();
    assert!(out.success, "{}", out.report());
    shutdown.cancel();
}

/// RFC 6665 §4.2 as notifier: sipp subscribes, the UA accepts with a Contact
/// and sends NOTIFY (active, PIDF) inside the dialog its 200 created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_is_accepted_and_notified_in_its_dialog() {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let target = endpoint
        .local_addr(parley_sip::Transport::Udp)
        .expect("udp");
    let sipp = tokio::task::spawn_blocking(move || {
        Sipp::new(scenario("uac-subscribe.xml")).run_uac(target)
    });
    let request = timeout(Duration::from_secs(5), incoming.recv())
        .await
        .expect("SUBSCRIBE in time")
        .expect("open");
    assert_eq!(request.method(), "SUBSCRIBE");
    assert_eq!(
        request.header("Accept").as_deref(),
        Some("application/pidf+xml")
    );
    let (view, responder) = request.into_responder();
    let mut dialog = Dialog::from_request(view.message(), responder.to_tag()).expect("dialog");
    responder.respond(
        StatusCode::OK,
        None,
        vec![
            ("Contact".into(), format!("<sip:juliet@{target}>")),
            ("Expires".into(), "600".into()),
        ],
        None,
    );
    let notify = OutgoingRequest::in_dialog(
        dialog.next_request("NOTIFY"),
        vec![
            ("Event".into(), "presence".into()),
            ("Subscription-State".into(), "active;expires=600".into()),
        ],
        Some((
            "application/pidf+xml".into(),
            bytes::Bytes::from_static(
                b"<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:juliet@xmpp.example'><tuple id='x'><status><basic>open</basic></status></tuple></presence>",
            ),
        )),
    );
    let answer = endpoint
        .send_request(notify)
        .await
        .expect("NOTIFY answered");
    assert_eq!(answer.status, 200);
    let out = sipp.await.expect("sipp thread");
    assert!(out.success, "{}", out.report());
    shutdown.cancel();
}
