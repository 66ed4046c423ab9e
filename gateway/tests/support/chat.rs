//! What the chat-session tests (RFC 7573 over RFC 4975 MSRP) share: the
//! `[sessions]` config, SDP offers and answers as a phone writes and reads
//! them, and a phone's session opened from the SIP side (§5, Figure 2)
//! with the harness's independent MSRP peer on the phone's end.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use parley_harness::msrp_peer::{MsrpFrame, MsrpPeer};
use parley_harness::xmpp_client::XmppClient;
use tokio::net::TcpListener;
use tokio_xmpp::minidom::Element;

use crate::sip_phone::{Call, Dialog, Phone, status};

/// How long any one thing may take to arrive.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A phone's MSRP end: a listening socket (so its `a=path` names a port
/// that is really its own) and the URI it offers.
pub(crate) struct PhoneMsrp {
    pub(crate) listener: TcpListener,
    pub(crate) uri: String,
}

impl PhoneMsrp {
    pub(crate) async fn bind(session_id: &str) -> PhoneMsrp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the phone's MSRP socket");
        let port = listener.local_addr().expect("its address").port();
        PhoneMsrp {
            listener,
            uri: format!("msrp://127.0.0.1:{port}/{session_id};tcp"),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.listener.local_addr().expect("its address").port()
    }
}

/// A phone's SDP for an `m=message` stream (RFC 4975 §8.1, RFC 7573 §5
/// F17): its `a=path`, `a=accept-types` as given, then `extra` attribute
/// lines (`a=setup:…`, `a=accept-wrapped-types:…`), each ending in CRLF.
pub(crate) fn sdp(msrp: &PhoneMsrp, accept_types: &str, extra: &str) -> String {
    format!(
        "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\na=accept-types:{accept_types}\r\n\
         a=path:{path}\r\n{extra}",
        port = msrp.port(),
        path = msrp.uri,
    )
}

/// The value of `a=<name>` in the media section of `sdp`, if any.
pub(crate) fn attr(sdp: &str, name: &str) -> Option<String> {
    let media = sdp.split_once("m=message")?.1;
    media
        .lines()
        .find_map(|l| l.strip_prefix(&format!("a={name}:")))
        .map(|v| v.trim().to_owned())
}

/// The `m=` line of `sdp`.
pub(crate) fn m_line(sdp: &str) -> String {
    sdp.lines()
        .find(|l| l.starts_with("m="))
        .unwrap_or_else(|| panic!("no m= line in {sdp}"))
        .to_owned()
}

/// Where an `msrp://host:port/id;tcp` URI is reached (RFC 4975 §6).
pub(crate) fn path_addr(uri: &str) -> SocketAddr {
    let authority = uri
        .strip_prefix("msrp://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("not an msrp URI: {uri}"));
    authority.parse().unwrap_or_else(|e| panic!("{uri}: {e}"))
}

/// A chat session a phone opened with an XMPP user (RFC 7573 §5, F17–F22):
/// the INVITE's 200 and its SDP answer, the ACKed dialog, and the phone's
/// MSRP connection to the `a=path` of the answer (RFC 4975 §5.4: the
/// offerer connects when the answer is `passive`).
pub(crate) struct PhoneSession {
    pub(crate) call: Call,
    pub(crate) dialog: Dialog,
    pub(crate) answer_sdp: String,
    /// Parley's `a=path`.
    pub(crate) parley_path: String,
    pub(crate) peer: MsrpPeer,
    pub(crate) msrp: PhoneMsrp,
}

/// `phone` calls `sip:<xmpp_user>` at Parley (`parley_sip`) with an offer
/// of `accept_types` and `extra` attributes, and connects to the answer.
pub(crate) async fn open_from_phone(
    phone: &Phone,
    parley_sip: SocketAddr,
    xmpp_user: &str,
    call_id: &str,
    accept_types: &str,
    extra: &str,
) -> PhoneSession {
    let msrp = PhoneMsrp::bind(&format!("{}{}", phone.user, call_id.len())).await;
    let offer = sdp(&msrp, accept_types, extra);
    let call = phone
        .invite(
            &format!("sip:{xmpp_user}"),
            parley_sip,
            call_id,
            &offer,
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&call.answer), 200, "{:?}", call.answer);
    let dialog = call.dialog.clone().expect("a 2xx makes a dialog");
    let answer_sdp = call.answer.body();
    let parley_path = attr(&answer_sdp, "path").unwrap_or_else(|| panic!("{answer_sdp}"));
    let peer = MsrpPeer::connect(path_addr(&parley_path), &msrp.uri, &parley_path).await;
    PhoneSession {
        call,
        dialog,
        answer_sdp,
        parley_path,
        peer,
        msrp,
    }
}

/// The peer's SEND of `body` as `content_type`, and the 200 Parley must
/// answer it with (RFC 4975 §7.2).
pub(crate) async fn phone_says(
    peer: &mut MsrpPeer,
    message_id: &str,
    content_type: &str,
    body: &str,
    extra: &[&str],
) {
    let tid = peer
        .send(message_id, content_type, body.as_bytes(), extra)
        .await;
    let answer = next_frame(peer).await;
    assert_eq!(
        (answer.transaction_id.as_str(), answer.status),
        (tid.as_str(), Some(200)),
        "{answer:?}"
    );
}

/// The next frame on `peer` within [`WAIT`].
pub(crate) async fn next_frame(peer: &mut MsrpPeer) -> MsrpFrame {
    peer.next_frame(WAIT).await.expect("an MSRP frame in time")
}

/// The next request (`SEND`, `REPORT`) on `peer`, responses skipped.
pub(crate) async fn next_request(peer: &mut MsrpPeer) -> MsrpFrame {
    loop {
        let frame = next_frame(peer).await;
        if frame.method.is_some() {
            return frame;
        }
    }
}

/// The next `<message/>` to `client` for which `pred` holds, within [`WAIT`].
pub(crate) async fn message_where(
    client: &mut XmppClient,
    what: &str,
    pred: impl Fn(&Element) -> bool,
) -> Element {
    client
        .recv_matching(WAIT, |e| e.name() == "message" && pred(e))
        .await
        .unwrap_or_else(|| panic!("{} got no message with {what}", client.jid()))
}

/// The next `<message/>` with a `<body/>` to `client`.
pub(crate) async fn chat_message(client: &mut XmppClient) -> Element {
    message_where(client, "a body", |e| {
        e.get_child("body", "jabber:client").is_some()
    })
    .await
}

/// Whether `message` has the chat state `state` (XEP-0085).
pub(crate) fn has_chat_state(message: &Element, state: &str) -> bool {
    message.has_child(state, "http://jabber.org/protocol/chatstates")
}

/// The next `<message/>` with chat state `state` to `client`.
pub(crate) async fn chat_state(client: &mut XmppClient, state: &str) -> Element {
    message_where(client, state, |e| has_chat_state(e, state)).await
}
