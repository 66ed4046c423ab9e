//! RFC 3994 isComposing ↔ XEP-0085 chat states, both ways, and RFC 7572 §7
//! rich text degrading to plain text, end to end through Prosody and sipp:
//! - XMPP `<composing/>`/`<paused/>` → isComposing `active`/`idle`, never a
//!   text MESSAGE;
//! - the RFC 3994 §5 examples from SIP → `<composing/>`/`<paused/>` without a
//!   `<body/>`;
//! - a peer that answers 415 to isComposing gets none again (RFC 3994 §4:
//!   the composer "MUST cease transmitting status messages"), while text
//!   still flows;
//! - SIP `text/html` arrives with its text as `<body/>`; XHTML-IM from XMPP
//!   goes as its plain `<body/>`.

mod support;

use std::time::Duration;

use parley_harness::sipp::SippUas;
use support::{COMPONENT, Options, SipMessage, World, XMPP_DOMAIN, child_text, uas_message};

const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";

fn world_with_uas(scenario: &str) -> (World, SippUas) {
    World::start_with_uas(
        scenario,
        |uas| uas,
        Options {
            send_chat_states: true,
            ..Options::default()
        },
    )
}

/// One `recv MESSAGE` with checks, then `answer` (`200 OK`, `415 …`).
fn recv_and_answer(n: usize, checks: &[(&str, &str)], answer: &str) -> String {
    let actions: String = checks
        .iter()
        .enumerate()
        .map(|(i, (where_, re))| {
            let re = re.replace('<', "&lt;").replace('>', "&gt;");
            if *where_ == "body" {
                format!("<ereg regexp=\"{re}\" search_in=\"body\" check_it=\"true\" assign_to=\"v{n}_{i}\"/>\n")
            } else {
                format!("<ereg regexp=\"{re}\" search_in=\"hdr\" header=\"{where_}:\" check_it=\"true\" assign_to=\"v{n}_{i}\"/>\n")
            }
        })
        .collect();
    let vars: Vec<String> = (0..checks.len()).map(|i| format!("v{n}_{i}")).collect();
    format!(
        r#"<recv request="MESSAGE"><action>
{actions}</action></recv>
<Reference variables="{vars}"/>
<send><![CDATA[
SIP/2.0 {answer}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#,
        vars = vars.join(",")
    )
}

fn scenario(parts: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<scenario name=\"uas\">\n{}</scenario>\n",
        parts.concat()
    )
}

/// XEP-0085 → RFC 3994 §3.2: composing → `active`, paused → `idle`; the
/// body is the isComposing document, never the text of a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_composing_and_paused_become_iscomposing_active_and_idle() {
    let iscomposing = ("Content-Type", "^ *application/im-iscomposing\\+xml");
    let uas = scenario(&[
        recv_and_answer(
            1,
            &[iscomposing, ("body", "<state>active</state>")],
            "200 OK",
        ),
        recv_and_answer(2, &[iscomposing, ("body", "<state>idle</state>")], "200 OK"),
    ]);
    let (world, uas) = world_with_uas(&uas);
    let mut juliet = world.client("juliet").await;
    for state in ["composing", "paused"] {
        // The same <thread/> (→ Call-ID) keeps both in one sipp call.
        juliet
            .send_xml(&format!(
                "<message to='bob@{COMPONENT}' type='chat'><thread>cs-thread</thread>\
                 <{state} xmlns='{NS_CHATSTATES}'/></message>"
            ))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(out.received("MESSAGE "), 2, "{}", out.report());
    assert!(
        !out.messages_log.contains("Content-Type: text/plain"),
        "a chat state became text:\n{}",
        out.report()
    );
}

/// RFC 3994 §5, both examples, from SIP: `active` → `<composing/>`, `idle` →
/// `<paused/>` (XEP-0085 §2: "had been composing but now has stopped"), with no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc3994_examples_from_sip_become_composing_and_paused_without_a_body() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    const ACTIVE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing
iscomposing.xsd">
  <state>active</state>
  <contenttype>text/plain</contenttype>
  <refresh>90</refresh>
</isComposing>"#;
    const IDLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<isComposing xmlns="urn:ietf:params:xml:ns:im-iscomposing"
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
xsi:schemaLocation="urn:ietf:params:xml:ns:im-composing
iscomposing.xsd">
  <state>idle</state>
  <lastactive>2003-01-27T10:43:00Z</lastactive>
  <contenttype>audio</contenttype>
</isComposing>"#;
    for (n, (body, state)) in [(ACTIVE, "composing"), (IDLE, "paused")]
        .into_iter()
        .enumerate()
    {
        let call_id = format!("rfc3994-5-{n}");
        let msg = SipMessage {
            from: &format!("sip:bob@{COMPONENT}"),
            to: &format!("sip:juliet@{XMPP_DOMAIN}"),
            call_id: &call_id,
            content_type: "application/im-iscomposing+xml",
            headers: &[],
            body,
            expect: 200,
        };
        let sender = std::thread::spawn({
            let sipp = msg.sipp(world.scenario(&format!("uac-{n}.xml"), &msg.scenario()));
            let addr = world.sip_addr();
            move || sipp.run_uac(addr)
        });
        let got = juliet
            .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
            .await
            .unwrap_or_else(|| panic!("juliet got no {state}\n{}", world.parley.log()));
        let out = sender.join().expect("sipp thread");
        assert!(out.success, "{}\n{}", out.report(), world.parley.log());
        assert!(
            got.get_child(state, NS_CHATSTATES).is_some(),
            "{state}: {}",
            String::from(&got)
        );
        assert!(child_text(&got, "body").is_none(), "{}", String::from(&got));
    }
}

/// RFC 3994 §4: after a 415 to isComposing, no more status messages to that
/// peer; text messages still go (as text/plain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_refusing_iscomposing_gets_no_more_chat_states_but_still_text() {
    let uas = scenario(&[
        recv_and_answer(
            1,
            &[("Content-Type", "^ *application/im-iscomposing\\+xml")],
            "415 Unsupported Media Type",
        ),
        recv_and_answer(
            2,
            &[("Content-Type", "^ *text/plain"), ("body", "^typed it$")],
            "200 OK",
        ),
    ]);
    let (world, uas) = world_with_uas(&uas);
    let mut juliet = world.client("juliet").await;
    let composing = format!(
        "<message to='bob@{COMPONENT}' type='chat'><thread>t</thread>\
         <composing xmlns='{NS_CHATSTATES}'/></message>"
    );
    juliet.send_xml(&composing).await;
    let refused = r#"parley_sip_peer_refusals_total{content="iscomposing"}"#;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while world.parley.metric(refused) < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "415 not noted\n{}",
            world.parley.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    juliet.send_xml(&composing).await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' type='chat' id='t1'><thread>t</thread>\
             <body>typed it</body><active xmlns='{NS_CHATSTATES}'/></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    assert_eq!(out.received("MESSAGE "), 2, "{}", out.report());
    support::assert_no_error(&mut juliet, Duration::from_millis(500)).await;
}

/// RFC 7572 §7: SIP text/html → `<body/>` with the text (plus XHTML-IM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_html_arrives_with_its_text_as_body() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "html-call",
        content_type: "text/html;charset=UTF-8",
        headers: &[],
        body: "<html><body><p>Hi <b>there</b>, ünï</p></body></html>",
        expect: 200,
    };
    let sender = std::thread::spawn({
        let sipp = msg.sipp(world.scenario("uac-html.xml", &msg.scenario()));
        let addr = world.sip_addr();
        move || sipp.run_uac(addr)
    });
    let got = juliet
        .recv_matching(Duration::from_secs(10), |e| e.name() == "message")
        .await
        .unwrap_or_else(|| panic!("juliet got no message\n{}", world.parley.log()));
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
    let body = child_text(&got, "body").expect("a plain body");
    assert_eq!(body.trim(), "Hi there, ünï");
}

/// XEP-0071 §8: the `<body/>` beside `<html/>` is the text; it goes as
/// text/plain, the markup does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xhtml_im_goes_to_sip_as_its_plain_body() {
    let uas = uas_message(
        &[
            ("Content-Type", "^ *text/plain"),
            ("body", "^Hi there, ünï$"),
        ],
        Some((200, "OK")),
    );
    let (world, uas) = world_with_uas(&uas);
    let mut juliet = world.client("juliet").await;
    juliet
        .send_xml(&format!(
            "<message to='bob@{COMPONENT}' id='x1'><body>Hi there, ünï</body>\
             <html xmlns='http://jabber.org/protocol/xhtml-im'>\
             <body xmlns='http://www.w3.org/1999/xhtml'><p>Hi <strong>there</strong>, ünï</p></body>\
             </html></message>"
        ))
        .await;
    let out = uas.wait();
    world.assert_sipp(&out);
    assert!(
        !out.messages_log.contains("<strong>"),
        "markup leaked:\n{}",
        out.report()
    );
}

/// RFC 3994 §3.3: the receiver goes idle when "the refresh interval
/// expires" — a SIP `active` with `<refresh>1</refresh>` and nothing after
/// it becomes `<composing/>`, then `<paused/>` about a second later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composing_from_sip_turns_paused_when_its_refresh_runs_out() {
    let world = World::start(Options::default());
    let mut juliet = world.client("juliet").await;
    let msg = SipMessage {
        from: &format!("sip:bob@{COMPONENT}"),
        to: &format!("sip:juliet@{XMPP_DOMAIN}"),
        call_id: "refresh-1",
        content_type: "application/im-iscomposing+xml",
        headers: &[],
        body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
               <isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\">\
               <state>active</state><refresh>1</refresh></isComposing>",
        expect: 200,
    };
    let sender = std::thread::spawn({
        let sipp = msg.sipp(world.scenario("uac-refresh.xml", &msg.scenario()));
        let addr = world.sip_addr();
        move || sipp.run_uac(addr)
    });
    let composing = juliet
        .recv_matching(Duration::from_secs(10), |e| {
            e.get_child("composing", NS_CHATSTATES).is_some()
        })
        .await
        .unwrap_or_else(|| panic!("no composing\n{}", world.parley.log()));
    let shown = std::time::Instant::now();
    let out = sender.join().expect("sipp thread");
    assert!(out.success, "{}\n{}", out.report(), world.parley.log());
    let paused = juliet
        .recv_matching(Duration::from_secs(5), |e| {
            e.get_child("paused", NS_CHATSTATES).is_some()
        })
        .await
        .unwrap_or_else(|| panic!("no paused after the refresh\n{}", world.parley.log()));
    let after = shown.elapsed();
    assert!(
        after >= Duration::from_millis(700),
        "paused too early: {after:?}"
    );
    assert_eq!(paused.attr("from"), composing.attr("from"));
    assert!(child_text(&paused, "body").is_none());
}
