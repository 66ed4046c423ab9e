//! RFC 7572 §5 (Table 2, SIP → XMPP): a SIP MESSAGE reaches the XMPP user as `<message/>`
//! with no `type` (or `normal`), from the mapped JID, with the exact body;
//! Subject → `<subject/>`, Call-ID → `<thread/>`, Content-Language → `xml:lang`;
//! the SIP sender gets 200 once the message was handed over and no error came back.

mod support;

use std::time::Duration;

use parley_harness::sipp::SippTransport;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_message_reaches_xmpp_user_with_exact_body_subject_thread_and_lang() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let body = "Grüße, Julia! <&>\"' 🌹";
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "rfc7572-table1-call",
        content_type: "text/plain;charset=UTF-8",
        headers: &["Subject: Balcony", "Content-Language: de"],
        body,
        expect: 200,
    };
    let sender = std::thread::spawn({
        let sipp = msg.sipp(world.scenario("uac-table1.xml", &msg.scenario()));
        let addr = world.sip_addr();
        move || sipp.run_uac(addr)
    });
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| panic!("juliet got no message\n{}", world.parley.log()));
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());

    assert_eq!(got.attr("from"), Some(&*format!("bob@{COMPONENT}")));
    // RFC 7572 §5: no type attribute, or type='normal'.
    assert!(
        matches!(got.attr("type"), None | Some("normal")),
        "type={:?}",
        got.attr("type")
    );
    // sipp ends the body with CRLF; XML line-end normalisation turns that into LF.
    let received = child_text(&got, "body").expect("a body");
    assert_eq!(received.replace("\r\n", "\n"), format!("{body}\n"));
    assert_eq!(child_text(&got, "subject").as_deref(), Some("Balcony"));
    assert_eq!(
        child_text(&got, "thread").as_deref(),
        Some("rfc7572-table1-call")
    );
    // minidom (the client library) hands the stanza's xml:lang down to its
    // children, so read it where the client sees it: on the body.
    const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";
    let lang = got.attr_ns(NS_XML, "lang").or_else(|| {
        got.get_child("body", "jabber:client")?
            .attr_ns(NS_XML, "lang")
    });
    assert_eq!(lang, Some("de"), "{}", String::from(&got));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_message_over_tcp_is_delivered_too() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let msg = SipMessage {
        from: &format!("sip:carol@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "tcp-call",
        content_type: "text/plain",
        headers: &[],
        body: "over tcp",
        expect: 200,
    };
    let addr = world.sip_addr();
    let sipp = msg
        .sipp(world.scenario("uac-tcp.xml", &msg.scenario()))
        .transport(SippTransport::Tcp);
    let sender = std::thread::spawn(move || sipp.run_uac(addr));
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| panic!("juliet got no message\n{}", world.parley.log()));
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}", out.report());
    assert_eq!(got.attr("from"), Some(&*format!("carol@{COMPONENT}")));
    assert_eq!(
        child_text(&got, "body").map(|b| b.trim_end().to_owned()),
        Some("over tcp".to_owned())
    );
}
