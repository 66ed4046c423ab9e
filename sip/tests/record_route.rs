//! RFC 3261 §12.1.1: the response that establishes a dialog carries the
//! request's Record-Route values, all of them, in order, parameters kept —
//! copied by the responder itself, whatever the caller passed. Real UDP bytes.

use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, Transport};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

mod common;
use common::status_of;

fn request(method: &str, to_tag: &str) -> String {
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKrr{method}{to_tag}\r\n\
         Record-Route: <sip:p2.example.com;lr;ftag=x>, <sip:p1.example.com;lr>\r\n\
         Record-Route: <sip:p0.example.com:5070;lr>;unknown=1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>{to_tag}\r\n\
         Call-ID: rr-{method}@test\r\n\
         CSeq: 1 {method}\r\n\
         Event: presence\r\n\
         Expires: 60\r\n\
         Contact: <sip:alice@127.0.0.1:5999>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn record_routes(response: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(response)
        .lines()
        .filter_map(|l| l.strip_prefix("Record-Route: ").map(str::to_owned))
        .collect()
}

/// Sends `raw`, answers it `status` with no Record-Route from the caller,
/// and returns the Record-Route lines of the response on the wire.
async fn answer(raw: String, status: StatusCode) -> Vec<String> {
    let shutdown = CancellationToken::new();
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        ..EndpointConfig::default()
    };
    let (endpoint, mut incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let target = endpoint.local_addr(Transport::Udp).expect("udp");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    peer.send_to(raw.as_bytes(), target).await.expect("send");
    let request = incoming.recv().await.expect("request delivered");
    let (_view, responder) = request.into_responder();
    responder.respond(
        status,
        None,
        vec![("Contact".to_owned(), "<sip:bob@127.0.0.1>".to_owned())],
        None,
    );
    let mut buf = vec![0u8; 65_535];
    let answer = loop {
        let (n, _) = peer.recv_from(&mut buf).await.expect("response");
        if status == status_of(&buf[..n]) {
            break buf[..n].to_vec();
        }
    };
    shutdown.cancel();
    record_routes(&answer)
}

const COPIED: [&str; 2] = [
    "<sip:p2.example.com;lr;ftag=x>, <sip:p1.example.com;lr>",
    "<sip:p0.example.com:5070;lr>;unknown=1",
];

/// RFC 3261 §12.1.1 / RFC 6665 §4.2.1: the 200 to an initial SUBSCRIBE
/// copies every Record-Route value in order, parameters included.
#[tokio::test]
async fn subscribe_2xx_copies_record_route_in_order() {
    assert_eq!(
        answer(request("SUBSCRIBE", ""), StatusCode::OK).await,
        COPIED
    );
}

/// RFC 3261 §12.1.1: the same for the 2xx to an initial INVITE.
#[tokio::test]
async fn invite_2xx_copies_record_route_in_order() {
    assert_eq!(answer(request("INVITE", ""), StatusCode::OK).await, COPIED);
}

/// RFC 3261 §12.1: a non-2xx final response establishes no dialog.
#[tokio::test]
async fn subscribe_rejection_carries_no_record_route() {
    assert!(
        answer(request("SUBSCRIBE", ""), StatusCode::FORBIDDEN)
            .await
            .is_empty()
    );
}

/// A MESSAGE creates no dialog (RFC 3428 §4), and a refresh inside a dialog
/// (To tag present) establishes none either.
#[tokio::test]
async fn non_dialog_creating_requests_get_no_record_route() {
    assert!(
        answer(request("MESSAGE", ""), StatusCode::OK)
            .await
            .is_empty()
    );
    assert!(
        answer(request("SUBSCRIBE", ";tag=b1"), StatusCode::OK)
            .await
            .is_empty()
    );
}
