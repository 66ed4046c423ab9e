//! Via sent-by and Contact name an address the peer can reach (RFC 3261
//! §18.1.1: sent-by is "the address ... at which it wishes to receive the
//! responses"; §8.1.1.8: Contact is where the peer sends later requests):
//! never the `0.0.0.0` of a wildcard listener, and the configured
//! `advertise` host when Parley sits behind NAT or a load balancer.

use std::time::Duration;

use parley_sip::config::Advertise;
use parley_sip::dialog::{Dialog, DialogId};
use parley_sip::{Endpoint, EndpointConfig, OutgoingRequest, Transport};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Binds an endpoint on `listen`, sends a NOTIFY (which carries a Contact,
/// RFC 6665 §3.1.4) to a loopback socket, and returns the datagram's Via and
/// Contact header values with the endpoint's listen port and its
/// `Endpoint::contact` for that socket.
async fn notify_headers(listen: &str, advertise: Option<&str>) -> (String, String, u16, String) {
    let shutdown = CancellationToken::new();
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("peer");
    let peer_addr = peer.local_addr().expect("addr");
    let config = EndpointConfig {
        listen: vec![listen.parse().expect("listen")],
        advertise: advertise.map(|a| a.parse::<Advertise>().expect("advertise")),
        ..EndpointConfig::default()
    };
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    let port = endpoint.local_addr(Transport::Udp).expect("udp").port();
    let mut dialog = Dialog {
        id: DialogId {
            call_id: "advertise-1@test".into(),
            local_tag: "ours".into(),
            remote_tag: "theirs".into(),
        },
        local_uri: "sip:juliet@xmpp.example".into(),
        remote_uri: "sip:bob@sip.example".into(),
        remote_target: format!("sip:bob@{peer_addr}"),
        route_set: vec![],
        local_seq: 1,
        remote_seq: Some(1),
    };
    let request = OutgoingRequest::in_dialog(
        dialog.next_request("NOTIFY"),
        vec![
            ("Event".into(), "presence".into()),
            ("Subscription-State".into(), "active;expires=60".into()),
        ],
        None,
    );
    let contact = endpoint.contact(Some("juliet"), Transport::Udp, peer_addr);
    let sender = tokio::spawn(async move { endpoint.send_request(request).await });
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), peer.recv_from(&mut buf))
        .await
        .expect("a NOTIFY in time")
        .expect("recv");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .to_owned()
    };
    let (via, contact_sent) = (header("Via"), header("Contact"));
    sender.abort();
    shutdown.cancel();
    assert_eq!(
        contact_sent, contact,
        "Endpoint::contact and the NOTIFY agree"
    );
    (via, contact_sent, port, contact)
}

#[tokio::test]
async fn a_wildcard_listener_names_the_interface_that_faces_the_peer() {
    let (via, contact, port, _) = notify_headers("udp:0.0.0.0:0", None).await;
    assert!(
        via.starts_with(&format!("SIP/2.0/UDP 127.0.0.1:{port};")),
        "{via}"
    );
    assert_eq!(contact, format!("<sip:juliet@127.0.0.1:{port}>"));
    assert!(!via.contains("0.0.0.0") && !contact.contains("0.0.0.0"));
}

#[tokio::test]
async fn the_advertised_host_goes_into_via_and_contact_with_the_listen_port() {
    let (via, contact, port, _) =
        notify_headers("udp:127.0.0.1:0", Some("sip-gw.example.net")).await;
    assert!(
        via.starts_with(&format!("SIP/2.0/UDP sip-gw.example.net:{port};")),
        "{via}"
    );
    assert_eq!(contact, format!("<sip:juliet@sip-gw.example.net:{port}>"));
}

#[tokio::test]
async fn an_advertised_port_replaces_the_listen_port() {
    let (via, contact, _, _) = notify_headers("udp:0.0.0.0:0", Some("[2001:db8::5]:5080")).await;
    assert!(via.starts_with("SIP/2.0/UDP [2001:db8::5]:5080;"), "{via}");
    assert_eq!(contact, "<sip:juliet@[2001:db8::5]:5080>");
}
