//! Helpers shared by the endpoint's integration tests.

#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use parley_sip::OutgoingRequest;

/// A MESSAGE to `uri` with a text/plain body.
pub fn message_to(uri: String, body: &'static str) -> OutgoingRequest {
    OutgoingRequest {
        method: "MESSAGE".into(),
        request_uri: uri.clone(),
        from: "sip:alice@127.0.0.1".into(),
        to: uri,
        call_id: None,
        headers: vec![],
        body: Some(("text/plain".into(), Bytes::from_static(body.as_bytes()))),
    }
}

/// A MESSAGE as a peer would send it, with `branch` and `body`.
pub fn raw_message(branch: &str, body: &str) -> String {
    format!(
        "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=a1\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: {branch}@test\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The status code of a response's first line.
pub fn status_of(response: &[u8]) -> u16 {
    std::str::from_utf8(response)
        .ok()
        .and_then(|s| s.get(8..11))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub mod dns;
