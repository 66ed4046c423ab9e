//! RFC 3261 §22.2–22.3, RFC 2617: outbound requests challenged by a real sipp
//! with 401 and 407 are retried once with a correct digest.

use parley_harness::sipp::{Sipp, scenario};
use parley_sip::{Endpoint, EndpointConfig};
use tokio_util::sync::CancellationToken;

mod common;
use common::message_to;

async fn ua_with_credentials(password: &str) -> (Endpoint, CancellationToken) {
    let config = EndpointConfig {
        listen: vec!["udp:127.0.0.1:0".parse().expect("listen")],
        credentials: vec![parley_sip::config::Credential {
            realm: "parley.test".into(),
            username: "alice".into(),
            password: password.into(),
        }],
        ..EndpointConfig::default()
    };
    let shutdown = CancellationToken::new();
    let (endpoint, _incoming) = Endpoint::bind(config, shutdown.clone())
        .await
        .expect("bind");
    (endpoint, shutdown)
}

async fn digest_roundtrip(status: u16, password: &str) -> (u16, parley_sip::Stats) {
    let (status, stats, _) = digest_roundtrip_logged(status, password).await;
    (status, stats)
}

async fn digest_roundtrip_logged(status: u16, password: &str) -> (u16, parley_sip::Stats, String) {
    let (endpoint, shutdown) = ua_with_credentials(password).await;
    let uas = Sipp::new(scenario(&format!("uas-message-digest-{status}.xml"))).spawn_uas();
    let response = endpoint
        .send_request(message_to(uas.uri("bob"), "secret message"))
        .await
        .expect("final response");
    let out = uas.wait();
    assert!(out.success, "{}", out.report());
    let stats = endpoint.stats();
    shutdown.cancel();
    (response.status, stats, out.messages_log)
}

/// RFC 3261 §22.2, RFC 2617 §3.2.2: a 401 is answered once with an
/// Authorization that sipp's verifyauth accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn www_authenticate_challenge_is_answered_with_correct_digest() {
    let (status, stats) = digest_roundtrip(401, "s3cret").await;
    assert_eq!(status, 200);
    assert_eq!(stats.auth_retries, 1);
}

/// RFC 3261 §22.3: a 407 is answered with Proxy-Authorization. sipp's
/// verifyauth reads only Authorization, so the digest in the captured
/// Proxy-Authorization is recomputed here from RFC 2617 §3.2.2 directly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_authenticate_challenge_is_answered_with_correct_digest() {
    let (status, stats, log) = digest_roundtrip_logged(407, "s3cret").await;
    assert_eq!(status, 200);
    assert_eq!(stats.auth_retries, 1);
    let header = log
        .lines()
        .find_map(|l| l.strip_prefix("Proxy-Authorization:"))
        .unwrap_or_else(|| panic!("no Proxy-Authorization in\n{log}"));
    let param = |name: &str| -> String {
        let start = header
            .find(&format!("{name}="))
            .unwrap_or_else(|| panic!("{name} missing in {header}"))
            + name.len()
            + 1;
        let rest = &header[start..];
        match rest.strip_prefix('"') {
            Some(quoted) => quoted[..quoted.find('"').expect("closing quote")].to_owned(),
            None => rest
                .split(|c: char| c == ',' || c.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_owned(),
        }
    };
    let hex = |s: String| -> String {
        use md5::{Digest, Md5};
        Md5::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    // RFC 2617 §3.2.2.1-3 with qop=auth: response = MD5(HA1:nonce:nc:cnonce:qop:HA2).
    let ha1 = hex("alice:parley.test:s3cret".to_owned());
    let ha2 = hex(format!("MESSAGE:{}", param("uri")));
    let expected = hex(format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        param("nonce"),
        param("nc"),
        param("cnonce")
    ));
    assert_eq!(param("response"), expected, "{header}");
}

/// The verification is real: a wrong password gets sipp's 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_by_the_challenger() {
    let (status, _) = digest_roundtrip(401, "wrong").await;
    assert_eq!(status, 403);
}
