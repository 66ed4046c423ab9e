//! RFC 3261 §9.2: a CANCEL received by the endpoint — 200 and the INVITE
//! answered 487 while it is pending (the TU told through its responder),
//! 200 and nothing else after the final response, 481 with no match. The
//! CANCEL never reaches the TU. Literal SIP bytes in and out over UDP.

use std::time::Duration;

use parley_sip::StatusCode;
use parley_sip::{Endpoint, EndpointConfig, IncomingRequest, Transport};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod common;
use common::status_of;

fn request(method: &str, branch: &str) -> String {
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: cancel1@test\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:alice@127.0.0.1:5999>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

struct Uas {
    shutdown: CancellationToken,
    incoming: mpsc::Receiver<IncomingRequest>,
    peer: UdpSocket,
    target: std::net::SocketAddr,
}

impl Drop for Uas {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Uas {
    async fn bind() -> Uas {
        let shutdown = CancellationToken::new();
        let config = EndpointConfig {
            listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
            ..EndpointConfig::default()
        };
        let (endpoint, incoming) = Endpoint::bind(config, shutdown.clone())
            .await
            .expect("bind");
        let target = endpoint.local_addr(Transport::Udp).expect("udp");
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        Uas {
            shutdown,
            incoming,
            peer,
            target,
        }
    }

    async fn send(&self, msg: &str) {
        self.peer
            .send_to(msg.as_bytes(), self.target)
            .await
            .expect("send");
    }

    async fn recv(&self) -> String {
        let mut buf = vec![0u8; 65_535];
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), self.peer.recv_from(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Sends an INVITE; returns it as the TU got it, after the 100.
    async fn invite(&mut self) -> IncomingRequest {
        self.send(&request("INVITE", "z9hG4bKc1")).await;
        assert_eq!(status_of(self.recv().await.as_bytes()), 100);
        self.incoming.recv().await.expect("INVITE delivered")
    }
}

fn line(msg: &str, name: &str) -> String {
    msg.lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_default()
        .to_owned()
}

/// RFC 3261 §9.2: a CANCEL of a pending INVITE gets 200, the INVITE gets 487
/// at once (the To tags alike), the TU learns of it, and its own answer
/// afterwards goes nowhere.
#[tokio::test]
async fn cancel_of_a_pending_invite_gets_200_and_the_invite_487() {
    let mut uas = Uas::bind().await;
    let invite = uas.invite().await;
    let (_, responder) = invite.into_responder();
    assert!(!responder.is_cancelled());
    uas.send(&request("CANCEL", "z9hG4bKc1")).await;
    let (a, b) = (uas.recv().await, uas.recv().await);
    let (terminated, ok) = if line(&a, "CSeq").ends_with("INVITE") {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(status_of(terminated.as_bytes()), 487, "{terminated}");
    assert_eq!(line(&terminated, "CSeq"), "CSeq: 1 INVITE");
    assert_eq!(status_of(ok.as_bytes()), 200, "{ok}");
    assert_eq!(line(&ok, "CSeq"), "CSeq: 1 CANCEL");
    assert_eq!(line(&ok, "To"), line(&terminated, "To"), "one To tag");
    tokio::time::timeout(Duration::from_secs(1), responder.cancelled())
        .await
        .expect("the TU is told");
    assert!(responder.is_cancelled());
    responder.respond(StatusCode::OK, None, vec![], None);
    while let Ok(more) = tokio::time::timeout(Duration::from_millis(700), uas.recv()).await {
        assert_eq!(
            status_of(more.as_bytes()),
            487,
            "only the 487 again (Timer G), never a 200"
        );
    }
    assert!(
        uas.incoming.try_recv().is_err(),
        "the CANCEL is not delivered"
    );
}

/// RFC 3261 §9.2: a CANCEL matching no transaction gets 481.
#[tokio::test]
async fn cancel_without_a_matching_invite_gets_481() {
    let mut uas = Uas::bind().await;
    uas.send(&request("CANCEL", "z9hG4bKnone")).await;
    let response = uas.recv().await;
    assert_eq!(status_of(response.as_bytes()), 481, "{response}");
    assert!(uas.incoming.try_recv().is_err());
}

/// RFC 3261 §9.2: after the final response a CANCEL "has no effect" but
/// still gets 200; no 487 follows.
#[tokio::test]
async fn cancel_after_the_final_response_gets_200_and_changes_nothing() {
    let mut uas = Uas::bind().await;
    let invite = uas.invite().await;
    invite.respond(StatusCode::BUSY_HERE, None, vec![], None);
    let busy = uas.recv().await;
    assert_eq!(status_of(busy.as_bytes()), 486);
    let ack = request("ACK", "z9hG4bKc1").replace("To: <sip:bob@127.0.0.1>", &line(&busy, "To"));
    uas.send(&ack).await;
    uas.send(&request("CANCEL", "z9hG4bKc1")).await;
    let response = uas.recv().await;
    assert_eq!(status_of(response.as_bytes()), 200, "{response}");
    assert_eq!(line(&response, "CSeq"), "CSeq: 1 CANCEL");
    assert_eq!(
        line(&response, "To"),
        line(&busy, "To"),
        "the INVITE's To tag"
    );
    let more = tokio::time::timeout(Duration::from_millis(700), uas.recv()).await;
    assert!(more.is_err(), "nothing more: {more:?}");
}
