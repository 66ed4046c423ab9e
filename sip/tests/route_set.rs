//! RFC 3261 §8.1.2 and §12.2.1.1: a request with a route set goes to the
//! locations of its first Route URI (loose routing, `;lr`), not to the
//! Request-URI (the remote target) and not to the outbound proxy; a strict
//! router is refused. Real UDP sockets: the route's and the target's.

use std::time::Duration;

use parley_sip::dialog::{Dialog, DialogId};
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, TransactionError};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

fn dialog(route: &str, target: &str) -> Dialog {
    Dialog {
        id: DialogId {
            call_id: "route-1@test".into(),
            local_tag: "ours".into(),
            remote_tag: "theirs".into(),
        },
        local_uri: "sip:juliet@xmpp.example".into(),
        remote_uri: "sip:bob@sip.example".into(),
        remote_target: target.into(),
        route_set: vec![route.into()],
        local_seq: 1,
        remote_seq: Some(1),
    }
}

/// Sends the dialog's next NOTIFY with `outbound_proxy` configured; returns
/// which socket got it (0: the route's, 1: the target's, 2: the proxy's),
/// its bytes, and the send result once that socket answered 200.
async fn notify_via(
    route_lr: bool,
    outbound_proxy: Option<&str>,
) -> (Option<(usize, String)>, Result<u16, TransactionError>) {
    let shutdown = CancellationToken::new();
    let sockets = [
        UdpSocket::bind("127.0.0.1:0").await.expect("route"),
        UdpSocket::bind("127.0.0.1:0").await.expect("target"),
        UdpSocket::bind("127.0.0.1:0").await.expect("proxy"),
    ];
    let addr = |i: usize| sockets[i].local_addr().expect("addr");
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        outbound_proxy: outbound_proxy.map(|p| p.replace("PROXY", &addr(2).to_string())),
        ..EndpointConfig::default()
    };
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let lr = if route_lr { ";lr" } else { "" };
    let mut dialog = dialog(
        &format!("<sip:127.0.0.1:{}{lr}>", addr(0).port()),
        &format!("sip:bob@{}", addr(1)),
    );
    let request = OutgoingRequest::in_dialog(
        dialog.next_request("NOTIFY"),
        vec![
            ("Event".into(), "presence".into()),
            ("Subscription-State".into(), "active;expires=60".into()),
        ],
        None,
    );
    let sender = tokio::spawn(async move { endpoint.send_request(request).await });
    let mut bufs = [vec![0u8; 65_535], vec![0u8; 65_535], vec![0u8; 65_535]];
    let [b0, b1, b2] = &mut bufs;
    let received = tokio::time::timeout(Duration::from_secs(1), async {
        tokio::select! {
            r = sockets[0].recv_from(b0) => (0, r),
            r = sockets[1].recv_from(b1) => (1, r),
            r = sockets[2].recv_from(b2) => (2, r),
        }
    })
    .await;
    let got = match received {
        Ok((index, Ok((n, from)))) => {
            let text = String::from_utf8_lossy(&bufs[index][..n]).into_owned();
            let copy = |name: &str| {
                text.lines()
                    .find(|l| l.starts_with(&format!("{name}:")))
                    .unwrap_or_default()
                    .to_owned()
            };
            let response = format!(
                "SIP/2.0 200 OK\r\n{}\r\n{}\r\n{}\r\n{}\r\n{}\r\nContent-Length: 0\r\n\r\n",
                copy("Via"),
                copy("From"),
                copy("To"),
                copy("Call-ID"),
                copy("CSeq")
            );
            sockets[index]
                .send_to(response.as_bytes(), from)
                .await
                .expect("answer");
            Some((index, text))
        }
        _ => None,
    };
    let result = tokio::time::timeout(Duration::from_secs(5), sender)
        .await
        .expect("send_request ends")
        .expect("task")
        .map(|r| r.status);
    shutdown.cancel();
    (got, result)
}

/// RFC 3261 §8.1.2: "the procedures are applied to the first Route header
/// field value in the request (if one exists)"; §12.2.1.1: with a loose
/// first route the Request-URI is the remote target and Route the route set.
#[tokio::test]
async fn in_dialog_request_goes_to_the_first_loose_route() {
    let (got, result) = notify_via(true, None).await;
    let (index, text) = got.expect("the request arrived somewhere");
    assert_eq!(index, 0, "sent to the route, not the target:\n{text}");
    assert!(text.starts_with("NOTIFY sip:bob@127.0.0.1:"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("Route: <sip:127.0.0.1:") && l.ends_with(";lr>")),
        "{text}"
    );
    assert_eq!(result.expect("200"), 200);
}

/// RFC 3261 §8.1.2: "a UAC configured with an outbound proxy SHOULD attempt
/// to send the request to the location indicated in the first Route header
/// field value instead of adopting the policy of sending all messages to the
/// outbound proxy" — with a loose or a strict-style proxy URI alike.
#[tokio::test]
async fn first_route_wins_over_the_outbound_proxy() {
    for proxy in ["sip:PROXY;lr", "sip:PROXY"] {
        let (got, result) = notify_via(true, Some(proxy)).await;
        let (index, text) = got.expect("the request arrived somewhere");
        assert_eq!(index, 0, "{proxy}: sent to the route:\n{text}");
        assert_eq!(
            text.matches("Route:").count(),
            1,
            "the dialog's route set only, not the proxy's:\n{text}"
        );
        assert_eq!(result.expect("200"), 200);
    }
}

/// RFC 3261 §12.2.1.1: a first route without `;lr` is a strict router,
/// which this endpoint does not implement: the request is refused, not sent
/// to the remote target or the route with a loose-routing layout.
#[tokio::test]
async fn strict_first_route_is_refused_not_misrouted() {
    let (got, result) = notify_via(false, None).await;
    assert!(got.is_none(), "nothing sent: {got:?}");
    assert!(
        matches!(result, Err(TransactionError::InvalidRequest(_))),
        "{result:?}"
    );
}
