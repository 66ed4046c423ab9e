//! RFC 6665 §4.1–4.2 and RFC 3261 §12 over real UDP: one endpoint subscribes,
//! the other accepts with a Contact and sends a NOTIFY inside the dialog its
//! 200 created; the subscriber matches the NOTIFY to the dialog of its 200.

use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::dialog::{Dialog, DialogId};
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, Transport};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

async fn endpoint() -> (
    Endpoint,
    tokio::sync::mpsc::Receiver<parley_sip::IncomingRequest>,
    CancellationToken,
) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, incoming, shutdown)
}

#[tokio::test]
async fn notify_travels_in_the_dialog_the_subscribe_created() {
    let (subscriber, mut subscriber_in, stop_a) = endpoint().await;
    let (notifier, mut notifier_in, stop_b) = endpoint().await;
    let notifier_addr = notifier.local_addr(Transport::Udp).expect("udp");

    // Notifier: accept the SUBSCRIBE (200 + Contact + Expires), then NOTIFY in the dialog.
    let notifier_task = tokio::spawn({
        let notifier = notifier.clone();
        async move {
            let request = notifier_in.recv().await.expect("SUBSCRIBE");
            assert_eq!(request.method(), "SUBSCRIBE");
            assert_eq!(request.header("Event").as_deref(), Some("presence"));
            let (view, responder) = request.into_responder();
            let mut dialog =
                Dialog::from_request(view.message(), responder.to_tag()).expect("dialog");
            responder.respond(
                StatusCode::OK,
                None,
                vec![
                    ("Contact".into(), format!("<sip:romeo@{notifier_addr}>")),
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
                    bytes::Bytes::from_static(b"<presence/>"),
                )),
            );
            notifier
                .send_request(notify)
                .await
                .expect("NOTIFY answered")
                .status
        }
    });

    let subscribe = OutgoingRequest {
        method: "SUBSCRIBE".into(),
        request_uri: format!("sip:romeo@{notifier_addr}"),
        from: "<sip:juliet@xmpp.example>".into(),
        to: "<sip:romeo@sip.example>".into(),
        headers: vec![
            ("Event".into(), "presence".into()),
            ("Accept".into(), "application/pidf+xml".into()),
            ("Expires".into(), "600".into()),
        ],
        ..OutgoingRequest::default()
    };
    let response = subscriber.send_request(subscribe).await.expect("200");
    assert_eq!(response.status, 200);
    let dialog = Dialog::from_response(response.message()).expect("dialog");

    let notify = timeout(Duration::from_secs(2), subscriber_in.recv())
        .await
        .expect("NOTIFY in time")
        .expect("open");
    assert_eq!(notify.method(), "NOTIFY");
    assert_eq!(
        DialogId::of_request(notify.view().message()),
        Some(dialog.id.clone())
    );
    assert_eq!(notify.view().cseq(), 1);
    assert_eq!(notify.body(), b"<presence/>");
    notify.respond(StatusCode::OK, None, vec![], None);
    assert_eq!(notifier_task.await.expect("notifier"), 200);
    stop_a.cancel();
    stop_b.cancel();
}
