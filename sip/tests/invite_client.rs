//! RFC 3261 §17.1.1, §9.1, §13.2.2.4: an INVITE sent by the endpoint to a
//! raw UDP peer — Timer A and B on a paused clock, the ACK of a rejection,
//! CANCEL after a provisional response, the ACK of a 2xx sent again for its
//! retransmission. Literal SIP bytes in and out.

use std::net::SocketAddr;
use std::time::Duration;

use parley_sip::{Endpoint, EndpointConfig, InviteClient, OutgoingRequest, TransactionError};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

struct Call {
    shutdown: CancellationToken,
    invite: InviteClient,
    peer: UdpSocket,
    /// The INVITE as the peer received it, and where from.
    request: String,
    from: SocketAddr,
}

impl Drop for Call {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A header line of `msg` (`Name: value`), as written.
fn line(msg: &str, name: &str) -> String {
    msg.lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_default()
        .to_owned()
}

impl Call {
    async fn start() -> Call {
        let shutdown = CancellationToken::new();
        let config = EndpointConfig {
            listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
            ..EndpointConfig::default()
        };
        let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
            .await
            .expect("bind");
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = peer.local_addr().expect("addr");
        let invite = endpoint
            .send_invite(OutgoingRequest {
                method: "INVITE".into(),
                request_uri: format!("sip:bob@{addr}"),
                from: "sip:juliet@xmpp.example".into(),
                to: "sip:bob@sip.example".into(),
                ..OutgoingRequest::default()
            })
            .await
            .expect("sent");
        let mut call = Call {
            shutdown,
            invite,
            peer,
            request: String::new(),
            from: addr,
        };
        let (request, from) = call.recv().await;
        call.request = request;
        call.from = from;
        call
    }

    async fn recv(&self) -> (String, SocketAddr) {
        let mut buf = vec![0u8; 65_535];
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(60), self.peer.recv_from(&mut buf))
                .await
                .expect("in time")
                .expect("recv");
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
    }

    /// A response to the INVITE (or, with `cseq`, to what has that CSeq line).
    fn response(&self, status: &str, to_tag: Option<&str>, extra: &str, of: &str) -> String {
        let to = match to_tag {
            Some(tag) => format!("{};tag={tag}", line(of, "To")),
            None => line(of, "To"),
        };
        format!(
            "SIP/2.0 {status}\r\n{}\r\n{}\r\n{to}\r\n{}\r\n{}\r\n{extra}Content-Length: 0\r\n\r\n",
            line(of, "Via"),
            line(of, "From"),
            line(of, "Call-ID"),
            line(of, "CSeq"),
        )
    }

    async fn send(&self, bytes: &str) {
        self.peer
            .send_to(bytes.as_bytes(), self.from)
            .await
            .expect("send");
    }
}

/// RFC 3261 §17.1.1.2: over UDP the INVITE goes again at T1, 2·T1, 4·T1 …
/// (no cap at T2) and Timer B ends it at 64·T1 with a timeout.
#[tokio::test(start_paused = true)]
async fn unanswered_invite_is_retransmitted_doubling_and_times_out_at_timer_b() {
    let mut call = Call::start().await;
    let start = Instant::now();
    let mut at = Vec::new();
    for _ in 0..6 {
        let (again, _) = call.recv().await;
        assert_eq!(again, call.request, "the same INVITE bytes");
        at.push((Instant::now() - start).as_millis());
    }
    assert_eq!(at, [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
    let outcome = call.invite.next_response().await.expect("an outcome");
    assert!(
        matches!(outcome, Err(TransactionError::Timeout)),
        "{outcome:?}"
    );
    assert_eq!((Instant::now() - start).as_millis(), 32_000);
    assert!(call.invite.next_response().await.is_none());
}

/// RFC 3261 §8.1.1.8, §17.1.1.3: the INVITE has a Contact; a 486 reaches
/// the caller and the transaction ACKs it — same branch and Request-URI,
/// the response's To tag, CSeq number with ACK — and ACKs it again when
/// it is retransmitted.
#[tokio::test]
async fn rejection_is_acked_by_the_transaction_and_again_for_its_retransmission() {
    let mut call = Call::start().await;
    assert!(call.request.starts_with("INVITE sip:bob@127.0.0.1:"));
    assert!(
        call.request.contains("\r\nContact: <sip:juliet@127.0.0.1:"),
        "{}",
        call.request
    );
    assert!(call.request.contains("\r\nCSeq: 1 INVITE\r\n"));
    call.send(&call.response("180 Ringing", Some("b1"), "", &call.request))
        .await;
    let ringing = call.invite.next_response().await.expect("180").expect("ok");
    assert_eq!(ringing.status, 180);
    let busy = call.response("486 Busy Here", Some("b1"), "", &call.request);
    call.send(&busy).await;
    let final_response = call.invite.next_response().await.expect("486").expect("ok");
    assert_eq!(final_response.status, 486);
    let (ack, _) = call.recv().await;
    let request_uri = call
        .request
        .lines()
        .next()
        .unwrap_or_default()
        .replacen("INVITE", "ACK", 1);
    assert!(ack.starts_with(&format!("{request_uri}\r\n")), "{ack}");
    assert_eq!(line(&ack, "Via"), line(&call.request, "Via"), "same branch");
    assert_eq!(line(&ack, "From"), line(&call.request, "From"));
    assert_eq!(
        line(&ack, "To"),
        format!("{};tag=b1", line(&call.request, "To"))
    );
    assert_eq!(line(&ack, "CSeq"), "CSeq: 1 ACK");
    call.send(&busy).await;
    let (again, _) = call.recv().await;
    assert_eq!(again, ack, "the same ACK for the retransmitted 486");
}

/// RFC 3261 §9.1: the CANCEL waits for a provisional response, then repeats
/// the INVITE's Request-URI, top Via (branch), From, To (no tag), Call-ID
/// and CSeq number with CANCEL; its 200 ends the cancel, the INVITE's 487
/// comes through the handle.
#[tokio::test]
async fn cancel_is_sent_after_a_provisional_response_with_the_invites_fields() {
    let call = Call::start().await;
    let Call { invite, .. } = &call;
    let cancel = async {
        let response = invite.cancel().await.expect("CANCEL answered");
        assert_eq!(response.status, 200);
    };
    let peer = async {
        // Nothing is sent before the 180.
        let early = tokio::time::timeout(Duration::from_millis(200), call.recv()).await;
        assert!(early.is_err() || early.as_ref().is_ok_and(|(m, _)| m.starts_with("INVITE")));
        call.send(&call.response("180 Ringing", Some("b1"), "", &call.request))
            .await;
        let (cancel, _) = loop {
            let (m, from) = call.recv().await;
            if m.starts_with("CANCEL") {
                break (m, from);
            }
        };
        let uri = call
            .request
            .lines()
            .next()
            .unwrap_or_default()
            .replacen("INVITE", "CANCEL", 1);
        assert!(cancel.starts_with(&format!("{uri}\r\n")), "{cancel}");
        assert_eq!(line(&cancel, "Via"), line(&call.request, "Via"));
        assert_eq!(line(&cancel, "From"), line(&call.request, "From"));
        assert_eq!(line(&cancel, "To"), line(&call.request, "To"));
        assert_eq!(line(&cancel, "Call-ID"), line(&call.request, "Call-ID"));
        assert_eq!(line(&cancel, "CSeq"), "CSeq: 1 CANCEL");
        call.send(&call.response("200 OK", Some("b1"), "", &cancel))
            .await;
        call.send(&call.response("487 Request Terminated", Some("b1"), "", &call.request))
            .await;
    };
    tokio::join!(cancel, peer);
    let mut invite = call;
    let mut statuses = Vec::new();
    while let Some(Ok(r)) = invite.invite.next_response().await {
        statuses.push(r.status);
        if r.status >= 200 {
            break;
        }
    }
    assert_eq!(statuses, [180, 487]);
    let (ack, _) = invite.recv().await;
    assert!(ack.starts_with("ACK "), "the 487 is ACKed: {ack}");
}

/// RFC 3261 §13.2.2.4: the 2xx goes to the caller; its ACK goes to the
/// 2xx's Contact with a new branch and the INVITE's CSeq number, and is sent
/// again when the 2xx is retransmitted.
#[tokio::test]
async fn ack_of_2xx_goes_to_the_contact_and_again_for_the_retransmitted_2xx() {
    let mut call = Call::start().await;
    let contact = format!(
        "Contact: <sip:bob@{}>\r\n",
        call.peer.local_addr().expect("addr")
    );
    let ok = call.response("200 OK", Some("b2"), &contact, &call.request);
    call.send(&ok).await;
    let response = call.invite.next_response().await.expect("200").expect("ok");
    assert_eq!(response.status, 200);
    let dialog = call
        .invite
        .send_ack(&response, vec![], None)
        .await
        .expect("ACK sent");
    assert_eq!(dialog.id.remote_tag, "b2");
    let (ack, _) = call.recv().await;
    let peer = call.peer.local_addr().expect("addr");
    assert!(
        ack.starts_with(&format!("ACK sip:bob@{peer} SIP/2.0\r\n")),
        "{ack}"
    );
    assert_ne!(
        line(&ack, "Via"),
        line(&call.request, "Via"),
        "a new branch"
    );
    assert_eq!(line(&ack, "CSeq"), "CSeq: 1 ACK");
    assert_eq!(
        line(&ack, "To"),
        format!("To: <sip:bob@sip.example>;tag=b2")
    );
    call.send(&ok).await;
    let (again, _) = call.recv().await;
    assert_eq!(again, ack, "the same ACK for the retransmitted 2xx");
}

/// RFC 3261 §13.2.2.4: a 2xx from a second fork (another To tag) reaches the
/// caller too, to be ACKed and ended with a BYE; a CANCEL after the final
/// response is not sent (§9.1: "an effective no-op").
#[tokio::test]
async fn a_second_forks_2xx_reaches_the_caller_and_cancel_after_final_is_refused() {
    let mut call = Call::start().await;
    let contact = format!("Contact: <sip:bob@{}>\r\n", call.from);
    call.send(&call.response("200 OK", Some("f1"), &contact, &call.request))
        .await;
    let first = call.invite.next_response().await.expect("200").expect("ok");
    assert_eq!(
        first.header("To").unwrap_or_default(),
        "<sip:bob@sip.example>;tag=f1"
    );
    call.send(&call.response("200 OK", Some("f2"), &contact, &call.request))
        .await;
    let second = call.invite.next_response().await.expect("200").expect("ok");
    assert_eq!(
        second.header("To").unwrap_or_default(),
        "<sip:bob@sip.example>;tag=f2"
    );
    let refused = call.invite.cancel().await;
    assert!(
        matches!(refused, Err(TransactionError::InvalidRequest(_))),
        "{refused:?}"
    );
    let nothing = tokio::time::timeout(Duration::from_millis(200), call.recv()).await;
    assert!(nothing.is_err(), "no CANCEL on the wire");
}
