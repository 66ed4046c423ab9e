//! RFC 3261 §26.2.2: a `sips:` Request-URI "signifies that each hop over
//! which the request is forwarded, until the request reaches the SIP entity
//! responsible for the domain portion of the Request-URI, must be secured
//! with TLS", and "UDP is not a valid transport for SIPS". A plain peer
//! (a UDP socket and a TCP listener on one port, no TLS) stands where the
//! request would go; it must never receive a byte of it. A `sip:` proxy that
//! does speak TLS gets the request over TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parley_harness::pki::TestPki;
use parley_sip::config::{Timers, TlsConfig};
use parley_sip::{Endpoint, EndpointConfig, StatusCode, Transport};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

mod common;
use common::message_to;

/// A UDP socket and a TCP listener on one loopback port that count the bytes
/// anyone sends them in clear.
struct PlainPeer {
    addr: SocketAddr,
    bytes: Arc<AtomicUsize>,
    stop: CancellationToken,
}

impl PlainPeer {
    async fn start() -> PlainPeer {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let port = udp.local_addr().expect("udp addr").port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("udp addr");
        let bytes = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        tokio::spawn({
            let (bytes, stop) = (bytes.clone(), stop.clone());
            async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        r = udp.recv_from(&mut buf) => if let Ok((n, _)) = r {
                            bytes.fetch_add(n, Ordering::SeqCst);
                        },
                    }
                }
            }
        });
        tokio::spawn({
            let (bytes, stop) = (bytes.clone(), stop.clone());
            async move {
                loop {
                    let accepted = tokio::select! {
                        () = stop.cancelled() => return,
                        a = tcp.accept() => a,
                    };
                    let Ok((mut stream, _)) = accepted else {
                        continue;
                    };
                    let (bytes, stop) = (bytes.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 65536];
                        loop {
                            tokio::select! {
                                () = stop.cancelled() => return,
                                r = stream.read(&mut buf) => match r {
                                    // Cleartext SIP counts; anything else
                                    // (a TLS ClientHello) is refused by
                                    // closing, as a plain SIP peer would.
                                    Ok(n) if n > 0 && buf[..n].starts_with(b"MESSAGE ") => {
                                        bytes.fetch_add(n, Ordering::SeqCst);
                                    }
                                    _ => return,
                                },
                            }
                        }
                    });
                }
            }
        });
        PlainPeer { addr, bytes, stop }
    }

    fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }
}

impl Drop for PlainPeer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn client(
    tls: Option<TlsConfig>,
    outbound_proxy: Option<String>,
) -> (Endpoint, CancellationToken) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        tls,
        outbound_proxy,
        timers: Timers {
            t1: Duration::from_millis(50),
            ..Timers::default()
        },
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, shutdown)
}

/// Send a MESSAGE to `uri` (with `headers`) and report whether the plain
/// peer saw any of it; the request itself must fail (there is no TLS there).
async fn plain_peer_saw(
    peer: &PlainPeer,
    tls: Option<TlsConfig>,
    proxy: Option<String>,
    uri: String,
    headers: Vec<(String, String)>,
) -> (usize, String) {
    let (endpoint, stop) = client(tls, proxy).await;
    let mut request = message_to(uri, "secret");
    request.headers = headers;
    let result = tokio::time::timeout(Duration::from_secs(10), endpoint.send_request(request))
        .await
        .expect("the request ends within Timer F");
    stop.cancel();
    (peer.bytes(), format!("{result:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sips_request_uri_is_never_sent_over_udp_or_tcp() {
    let peer = PlainPeer::start().await;
    let a = peer.addr;
    for uri in [
        format!("sips:bob@{a}"),
        format!("sips:bob@{a};transport=udp"),
        format!("sips:bob@{a};transport=tcp"),
    ] {
        let (seen, result) =
            plain_peer_saw(&peer, Some(TlsConfig::default()), None, uri.clone(), vec![]).await;
        assert_eq!(seen, 0, "{uri} went out in clear: {result}");
        assert!(result.starts_with("Err"), "{uri}: {result}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sips_request_uri_without_tls_configured_is_not_sent_at_all() {
    let peer = PlainPeer::start().await;
    let uri = format!("sips:bob@{}", peer.addr);
    let (seen, result) = plain_peer_saw(&peer, None, None, uri, vec![]).await;
    assert_eq!(seen, 0, "went out in clear: {result}");
    assert!(result.starts_with("Err"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sips_request_uri_is_not_sent_through_a_plain_outbound_proxy() {
    let peer = PlainPeer::start().await;
    let proxy = format!("sip:{};lr", peer.addr);
    let (seen, result) = plain_peer_saw(
        &peer,
        Some(TlsConfig::default()),
        Some(proxy),
        "sips:bob@example.invalid".into(),
        vec![],
    )
    .await;
    assert_eq!(seen, 0, "went out in clear to the proxy: {result}");
    assert!(result.starts_with("Err"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sips_request_uri_is_not_sent_through_a_plain_route() {
    let peer = PlainPeer::start().await;
    let route = format!("<sip:{};lr>", peer.addr);
    let (seen, result) = plain_peer_saw(
        &peer,
        Some(TlsConfig::default()),
        None,
        "sips:bob@example.invalid".into(),
        vec![("Route".into(), route)],
    )
    .await;
    assert_eq!(seen, 0, "went out in clear to the route: {result}");
    assert!(result.starts_with("Err"), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sips_request_uri_reaches_a_sip_proxy_over_tls() {
    let pki = TestPki::new("Parley Test CA");
    let cert = pki.server("proxy", &["localhost"]);
    let proxy_config = EndpointConfig {
        listen: vec!["tls:127.0.0.1:0".parse().expect("listen")],
        tls: Some(TlsConfig {
            cert: Some(cert.cert),
            key: Some(cert.key),
            ..TlsConfig::default()
        }),
        ..EndpointConfig::default()
    };
    let stop_proxy = CancellationToken::new();
    let (proxy, mut incoming) = Endpoint::bind(proxy_config, stop_proxy.clone())
        .await
        .expect("bind the proxy");
    let port = proxy.local_addr(Transport::Tls).expect("tls").port();
    tokio::spawn(async move {
        while let Some(request) = incoming.recv().await {
            let status = if request.transport == Transport::Tls {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            request.respond(status, None, vec![], None);
        }
    });
    let (client, stop) = client(
        Some(TlsConfig {
            ca: Some(pki.ca()),
            ..TlsConfig::default()
        }),
        Some(format!("sip:localhost:{port};lr")),
    )
    .await;
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        client.send_request(message_to("sips:bob@example.invalid".into(), "secret")),
    )
    .await
    .expect("answered within Timer F")
    .expect("a response");
    assert_eq!(response.status, 200);
    stop.cancel();
    stop_proxy.cancel();
}
