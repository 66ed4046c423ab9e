//! RFC 7247 §7.1 (Table 2): when the XMPP side refuses a message Parley
//! forwarded from SIP, the SIP sender gets the mapped final response — not a
//! 200 and not a hang. Unmappable input is refused before it reaches XMPP
//! (design §2: `484`/`400`, never passed through raw). Every response
//! carries the header fields RFC 3261 requires with its code.

mod support;

use std::time::Duration;

use parley_harness::sipp::{Sipp, SippOutcome, SippTransport};
use parley_sip::auth::{Algorithm, Challenge, Qop};
use parley_sip::wire::{ParseLimits, StartLine};
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text};

/// Prosody bounces a message to a user that does not exist with
/// `<service-unavailable/>` (RFC 6121 §8.5.1); Table 2 note 5 makes that 403.
#[test]
fn unknown_xmpp_user_gets_the_mapped_sip_error() {
    // A long window proves the answer comes from the error, not the window.
    let world = World::start(Options {
        delivery_window_ms: Some(10_000),
        ..Options::default()
    });
    let started = std::time::Instant::now();
    SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:nobody@{XMPP_DOMAIN}"),
        call_id: "unknown-user",
        content_type: "text/plain",
        headers: &[],
        body: "is anyone there?",
        expect: 403,
    }
    .send(&world, SippTransport::Udp);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "answer waited for the window"
    );
}

/// design §2: an address that cannot be mapped is refused, never passed through.
#[test]
fn sip_user_of_a_foreign_domain_is_refused_when_policy_says_so() {
    let world = World::start(Options::default());
    SipMessage {
        from: "sip:mallory@elsewhere.example",
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "foreign-domain",
        content_type: "text/plain",
        headers: &[],
        body: "let me in",
        expect: 403,
    }
    .send(&world, SippTransport::Udp);
}

/// RFC 3428 §11.1 / RFC 7572: a body type Parley cannot translate gets 415.
#[test]
fn unsupported_media_type_gets_415() {
    let world = World::start(Options::default());
    SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "bad-media",
        content_type: "application/x-unknown-thing",
        headers: &[],
        body: "???",
        expect: 415,
    }
    .send(&world, SippTransport::Udp);
}

/// A header field a response must carry, with a check of its value.
type HeaderCheck = (&'static str, fn(&str) -> bool);

/// How the XMPP recipient refuses one MESSAGE, and what the SIP sender must get.
struct Row {
    /// The `<error/>` juliet's client sends back (RFC 6120 §8.3.2).
    error: &'static str,
    /// Address the MESSAGE to juliet's full JID (`;gr=` her resource).
    full_jid: bool,
    /// The final response code.
    code: u16,
    /// Each header field the response must carry.
    headers: &'static [HeaderCheck],
}

/// RFC 3261 §20.44, §22.4: a Digest challenge Parley's own client parser
/// reads, for the SIP domain, with a fresh 128-bit nonce and qop=auth.
fn is_challenge(value: &str) -> bool {
    let Ok(c) = Challenge::parse(value) else {
        return false;
    };
    c.realm == COMPONENT
        && c.nonce.len() == 32
        && c.nonce.bytes().all(|b| b.is_ascii_hexdigit())
        && c.algorithm == Algorithm::Md5
        && c.qop == [Qop::Auth]
        && !c.stale
}

/// RFC 7247 §7.1 Table 2 through the real stack: juliet's client (c2s, real
/// Prosody) answers each MESSAGE bob sends (sipp) with a stanza error, and
/// bob gets the row's code with the header fields RFC 3261 requires:
/// 401 WWW-Authenticate (§22.2), 407 Proxy-Authenticate (§22.3), 405 Allow
/// (§21.4.6), 301/302 Contact (§21.3.2, §21.3.3) mapped per RFC 7247 §6.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_errors_become_complete_sip_responses() {
    const STANZAS: &str = "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'";
    let rows = [
        Row {
            error: "<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
            full_jid: false,
            code: 401,
            headers: &[("WWW-Authenticate", is_challenge)],
        },
        Row {
            error: "<error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
            full_jid: false,
            code: 407,
            headers: &[("Proxy-Authenticate", is_challenge)],
        },
        // Note 1: feature-not-implemented for a full JID is 405; its Allow
        // lists what the address takes, which is not MESSAGE.
        Row {
            error: "<error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
            full_jid: true,
            code: 405,
            headers: &[("Allow", |v| v == "NOTIFY, OPTIONS, SUBSCRIBE")],
        },
        // Note 3, with RFC 6120 §8.3.3.5's own example address.
        Row {
            error: "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>\
                    xmpp:romeo@afterlife.example.net</gone></error>",
            full_jid: false,
            code: 301,
            headers: &[("Contact", |v| v == "<sip:romeo@afterlife.example.net>")],
        },
        Row {
            error: "<error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
            full_jid: false,
            code: 410,
            headers: &[],
        },
        // A plain JID at the component domain: the SIP user it stands for.
        Row {
            error: "<error type='modify'><redirect xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>\
                    alice@sip.example.net/desk</redirect></error>",
            full_jid: false,
            code: 302,
            headers: &[("Contact", |v| v == "<sip:alice@sip.example.net;gr=desk>")],
        },
        Row {
            error: "<error type='modify'><redirect xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
            full_jid: false,
            code: 480,
            headers: &[],
        },
    ];
    assert!(rows.iter().all(|r| r.error.contains(STANZAS)));
    let world = World::start(Options {
        // A long window proves each answer comes from the error, not the window.
        delivery_window_ms: Some(10_000),
        ..Options::default()
    });
    let mut juliet = world.client("juliet").await;
    let resource = juliet
        .jid()
        .split_once('/')
        .map(|(_, r)| r.to_owned())
        .expect("a bound resource");
    let mut nonces = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        let call_id = format!("row-{n}-{}", row.code);
        let to = if row.full_jid {
            format!("sip:juliet@{XMPP_DOMAIN};gr={resource}")
        } else {
            format!("sip:juliet@{XMPP_DOMAIN}")
        };
        let msg = SipMessage {
            from: &format!("sip:bob@{COMPONENT}"),
            to: &to,
            call_id: &call_id,
            content_type: "text/plain",
            headers: &[],
            body: &call_id,
            expect: row.code,
        };
        let sipp = msg.sipp(world.scenario(&format!("uac-{call_id}.xml"), &msg.scenario()));
        let addr = world.sip_addr();
        let sender = std::thread::spawn(move || sipp.transport(SippTransport::Udp).run_uac(addr));
        let got = juliet
            .recv_matching(Duration::from_secs(10), |e| {
                e.name() == "message" && child_text(e, "body").is_some_and(|b| b.trim() == call_id)
            })
            .await
            .unwrap_or_else(|| panic!("juliet got no {call_id}\n{}", world.parley.log()));
        if row.full_jid {
            assert_eq!(got.attr("to"), Some(juliet.jid()), "{call_id}");
        }
        juliet
            .send_xml(&format!(
                "<message to='{}' id='{}' type='error'>{}</message>",
                got.attr("from").expect("from"),
                got.attr("id").expect("id"),
                row.error
            ))
            .await;
        let out = sender.join().expect("sipp thread");
        world.assert_sipp(&out);
        let response = final_response(&out, row.code);
        for (name, check) in row.headers {
            // header() joins repeated fields with ", ", which no check accepts.
            let value = response.header(name).unwrap_or_default();
            assert!(
                check(&value),
                "{call_id}: {name}: {value:?}\n{}",
                out.report()
            );
            if let Ok(challenge) = Challenge::parse(&value) {
                nonces.push(challenge.nonce);
            }
        }
        for name in ["WWW-Authenticate", "Proxy-Authenticate", "Allow", "Contact"] {
            if !row.headers.iter().any(|(n, _)| *n == name) {
                assert_eq!(
                    response.header(name),
                    None,
                    "{call_id}: unexpected {name}\n{}",
                    out.report()
                );
            }
        }
    }
    // A fresh nonce for each challenge.
    assert_eq!(nonces.len(), 2);
    assert_ne!(nonces[0], nonces[1]);
}

/// RFC 3261 §8.2.1, §21.4.6: a method Parley does not handle gets 405 with
/// an Allow that lists the methods it does.
#[test]
fn unknown_method_gets_405_with_allow() {
    let world = World::start(Options::default());
    let scenario = world.scenario(
        "uac-info.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="info">
<send retrans="100"><![CDATA[
INFO sip:juliet@{XMPP_DOMAIN} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:bob@{COMPONENT}>;tag=[pid]
To: <sip:juliet@{XMPP_DOMAIN}>
Call-ID: [call_id]
CSeq: 1 INFO
Content-Length: 0

]]></send>
<recv response="405" timeout="15000"/>
</scenario>
"#
        ),
    );
    let out = Sipp::new(scenario)
        .timeout(Duration::from_secs(20))
        .run_uac(world.sip_addr());
    world.assert_sipp(&out);
    assert_eq!(
        final_response(&out, 405).header("Allow").as_deref(),
        Some("MESSAGE, NOTIFY, OPTIONS, SUBSCRIBE")
    );
}

/// RFC 3261 §21.4.13: a 415 "MUST return a list of acceptable formats using
/// the Accept, Accept-Encoding, or Accept-Language header field, depending on
/// the specific problem": a body of a type Parley does not take
/// (`application/octet-stream`) gets Accept, an unknown content coding
/// Accept and Accept-Encoding. (S/MIME bodies are taken: RFC 3923, see
/// `rfc3923_e2e.rs`.)
#[test]
fn unsupported_body_gets_415_listing_what_parley_accepts() {
    let world = World::start(Options::default());
    const ACCEPT: &str = "text/plain, text/html, message/cpim, message/imdn+xml, \
         application/im-iscomposing+xml, multipart/signed, application/pkcs7-mime";
    for (call_id, content_type, headers, accept_encoding) in [
        ("octet-body", "application/octet-stream", &[][..], None),
        (
            "compressed-body",
            "text/plain",
            &["Content-Encoding: compress"][..],
            Some("gzip, deflate, identity"),
        ),
    ] {
        let msg = SipMessage {
            from: &format!("sip:bob@{COMPONENT}"),
            to: &format!("sip:juliet@{XMPP_DOMAIN}"),
            call_id,
            content_type,
            headers,
            body: "MIIBsQYJKoZIhvcNAQcDoIIBojCCAZ4CAQAx",
            expect: 415,
        };
        let out = msg
            .sipp(world.scenario(&format!("uac-{call_id}.xml"), &msg.scenario()))
            .run_uac(world.sip_addr());
        world.assert_sipp(&out);
        let response = final_response(&out, 415);
        assert_eq!(
            response.header("Accept").as_deref(),
            Some(ACCEPT),
            "{call_id}"
        );
        assert_eq!(
            response.header("Accept-Encoding").as_deref(),
            accept_encoding,
            "{call_id}"
        );
    }
}

/// The last response with `code` that sipp received, parsed by Parley's own
/// SIP parser from sipp's message log.
fn final_response(out: &SippOutcome, code: u16) -> parley_sip::wire::Message {
    // messages.log: "----…----- <time>\nUDP message received [N] bytes :\n\n<message>".
    out.messages_log
        .split("\n-----")
        .filter_map(|block| {
            let (head, message) = block.split_once("\n\n")?;
            if !head.contains("message received") {
                return None;
            }
            let message = message.trim_start_matches(['\r', '\n']);
            let lines: Vec<&str> = message
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .collect();
            let wire = format!("{}\r\n\r\n", lines.join("\r\n"));
            parley_sip::wire::Message::parse(wire.into(), ParseLimits::default()).ok()
        })
        .filter(|m| matches!(m.start, StartLine::Response { status, .. } if status == code))
        .last()
        .unwrap_or_else(|| panic!("no {code} in the log:\n{}", out.report()))
}
