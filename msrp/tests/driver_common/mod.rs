//! Helpers shared by the driver tests: endpoints on 127.0.0.1 port 0,
//! session specs, a raw TCP peer that writes bytes and reads frames.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use parley_msrp::endpoint::{
    Endpoint, EndpointConfig, Role, SessionEvent, SessionHandle, SessionOptions, SessionSpec,
};
use parley_msrp::session::{Event, NewMessage};
use parley_msrp::uri::Uri;
use parley_msrp::wire::{Decoder, FailureReport, Frame, Limits, MessageId, SuccessReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long a test waits for one event or frame.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn config() -> EndpointConfig {
    EndpointConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..EndpointConfig::default()
    }
}

pub async fn endpoint(config: EndpointConfig) -> Endpoint {
    Endpoint::bind(config, CancellationToken::new())
        .await
        .unwrap()
}

pub fn uri(scheme: &str, addr: SocketAddr, id: &str) -> Uri {
    Uri::parse(&format!("{scheme}://{addr}/{id};tcp")).unwrap()
}

pub fn spec(local: Uri, remote: Uri, role: Role) -> SessionSpec {
    SessionSpec {
        local,
        remote_path: vec![remote],
        role,
        options: SessionOptions {
            limits: parley_msrp::chunk::ReassemblyLimits {
                max_message_size: 64 * 1024,
                max_incomplete: 4,
            },
            ..SessionOptions::default()
        },
    }
}

pub fn message(id: &str, body: impl Into<Bytes>, success: SuccessReport) -> NewMessage {
    NewMessage {
        message_id: MessageId::new(id).unwrap(),
        content_type: "text/plain".into(),
        body: body.into(),
        success_report: success,
        failure_report: FailureReport::Yes,
    }
}

pub async fn next(handle: &mut SessionHandle) -> SessionEvent {
    next_within(handle, WAIT).await
}

pub async fn next_within(handle: &mut SessionHandle, wait: Duration) -> SessionEvent {
    tokio::time::timeout(wait, handle.next_event())
        .await
        .expect("an event in time")
        .expect("session open")
}

/// The next event that is not a transaction response with 200.
pub async fn next_not_ok(handle: &mut SessionHandle) -> SessionEvent {
    loop {
        match next(handle).await {
            SessionEvent::Msrp(Event::Response { status, .. }) if status.is_success() => {}
            other => return other,
        }
    }
}

/// The body of the next message the session delivers (200s skipped).
pub async fn next_message(handle: &mut SessionHandle) -> Bytes {
    match next_not_ok(handle).await {
        SessionEvent::Msrp(Event::Message(delivered)) => delivered.message.body,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// A bound pair over TCP: `gw` passive on `a`, `phone` active on `b`.
pub async fn pair(
    a: &Endpoint,
    b: &Endpoint,
    gw_id: &str,
    phone_id: &str,
) -> (SessionHandle, SessionHandle) {
    let gw_uri = uri("msrp", a.local_addr().unwrap(), gw_id);
    let phone_uri = uri("msrp", b.local_addr().unwrap(), phone_id);
    let mut gw = a
        .open(spec(gw_uri.clone(), phone_uri.clone(), Role::Passive))
        .await
        .unwrap();
    let mut phone = b.open(spec(phone_uri, gw_uri, Role::Active)).await.unwrap();
    assert_eq!(next(&mut phone).await, SessionEvent::Bound);
    assert_eq!(next(&mut gw).await, SessionEvent::Bound);
    // The bodiless SEND's 200 (§5.4).
    match next(&mut phone).await {
        SessionEvent::Msrp(Event::Response { status, .. }) => assert!(status.is_success()),
        other => panic!("expected the bodiless SEND's 200, got {other:?}"),
    }
    (gw, phone)
}

/// Both directions still carry messages.
pub async fn still_works(gw: &mut SessionHandle, phone: &mut SessionHandle, tag: &str) {
    phone
        .send(message(
            &format!("{tag}p"),
            format!("from phone {tag}"),
            SuccessReport::No,
        ))
        .unwrap();
    assert_eq!(next_message(gw).await, format!("from phone {tag}"));
    gw.send(message(
        &format!("{tag}g"),
        format!("from gw {tag}"),
        SuccessReport::No,
    ))
    .unwrap();
    assert_eq!(next_message(phone).await, format!("from gw {tag}"));
}

/// A hand-driven peer on one TCP connection.
pub struct RawPeer {
    pub stream: TcpStream,
    decoder: Decoder,
}

impl RawPeer {
    pub async fn connect(addr: SocketAddr) -> RawPeer {
        RawPeer {
            stream: TcpStream::connect(addr).await.unwrap(),
            decoder: Decoder::new(Limits::default()),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame, or `None` when the endpoint closed the connection.
    pub async fn frame(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.poll_frame().unwrap() {
                return Some(frame);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
                .await
                .expect("a frame or EOF in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.handle_bytes(&buf[..n]);
        }
    }

    /// Waits, with no timeout of its own, until the endpoint closes the connection.
    pub async fn closed_eventually(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.stream.read(&mut buf).await {
            if n == 0 {
                return;
            }
        }
    }

    /// Whether the endpoint closed the connection (EOF or reset).
    pub async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(WAIT, self.stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

/// A SEND with a body.
pub fn send(tid: &str, to: &Uri, from: &Uri, range: &str, flag: char, body: &str) -> Vec<u8> {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
         Byte-Range: {range}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}{flag}\r\n"
    )
    .into_bytes()
}

/// A bodiless SEND (§5.4's first request of the active side).
pub fn bodiless(tid: &str, to: &Uri, from: &Uri) -> Vec<u8> {
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
         Byte-Range: 1-0/0\r\n-------{tid}$\r\n"
    )
    .into_bytes()
}
