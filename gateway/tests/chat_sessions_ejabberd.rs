//! RFC 7573 §5, Figure 2, behind a real ejabberd (attached through
//! `deploy/ejabberd/parley.yml`, as `deploy_ejabberd.rs` does): a phone's
//! INVITE opens an MSRP session with an ejabberd user, messages go both
//! ways, the phone's BYE becomes `<gone/>` (§6.1), and in a second session
//! her `<gone/>` becomes a BYE.

#[path = "support/chat.rs"]
mod chat;
#[path = "support/ejabberd_world.rs"]
mod ejabberd_world;
#[path = "support/sip_phone.rs"]
mod sip_phone;
mod support;

use chat::{PhoneSession, WAIT, chat_message, chat_state, next_request, phone_says};
use ejabberd_world::EjabberdWorld;
use sip_phone::{Phone, status};
use support::{COMPONENT, XMPP_DOMAIN, child_text};

/// romeo's phone opens a session with juliet.
async fn romeo_calls(world: &EjabberdWorld, phone: &Phone, call_id: &str) -> PhoneSession {
    chat::open_from_phone(
        phone,
        world.sip,
        &format!("juliet@{XMPP_DOMAIN}"),
        call_id,
        "text/plain",
        "a=setup:actpass\r\n",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figure_2_through_ejabberd_messages_both_ways_bye_and_gone() {
    let world = EjabberdWorld::start("", None);
    let mut juliet = world.juliet().await;
    let phone = Phone::bind("romeo").await;

    // F17–F25: the session opens and the phone's SEND reaches her.
    let mut s = romeo_calls(&world, &phone, "ejabberd-call-1").await;
    phone_says(&mut s.peer, "e1", "text/plain", "Art thou not Romeo?", &[]).await;
    let got = chat_message(&mut juliet).await;
    assert_eq!(got.attr("type"), Some("chat"));
    assert_eq!(got.attr("from"), Some(&*format!("romeo@{COMPONENT}")));
    assert_eq!(
        child_text(&got, "body").as_deref(),
        Some("Art thou not Romeo?")
    );
    assert_eq!(
        child_text(&got, "thread").as_deref(),
        Some("ejabberd-call-1")
    );

    // F26–F28: her reply arrives as a SEND.
    juliet
        .send_xml(&format!(
            "<message to='romeo@{COMPONENT}' type='chat' id='ej1'>\
             <body>Neither, fair saint.</body><thread>ejabberd-call-1</thread></message>"
        ))
        .await;
    let send = next_request(&mut s.peer).await;
    assert_eq!(send.method.as_deref(), Some("SEND"));
    assert_eq!(send.text(), "Neither, fair saint.");
    s.peer.respond(&send, 200, "OK").await;

    // F29–F32: the phone's BYE → 200 and `gone`.
    let ok = phone
        .in_dialog(&mut s.dialog, "BYE", WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&ok), 200, "{ok:?}");
    let gone = chat_state(&mut juliet, "gone").await;
    assert_eq!(
        child_text(&gone, "thread").as_deref(),
        Some("ejabberd-call-1")
    );

    // §6.1 the other way: a second session, ended by her `gone`.
    let mut second = romeo_calls(&world, &phone, "ejabberd-call-2").await;
    phone_says(&mut second.peer, "e2", "text/plain", "Again?", &[]).await;
    chat_message(&mut juliet).await;
    juliet
        .send_xml(&format!(
            "<message to='romeo@{COMPONENT}' type='chat'><thread>ejabberd-call-2</thread>\
             <gone xmlns='http://jabber.org/protocol/chatstates'/></message>"
        ))
        .await;
    let (_, bye) = phone
        .nth_request("BYE", 0, WAIT)
        .await
        .unwrap_or_else(|| panic!("no BYE\n{}", world.parley.log()));
    assert_eq!(bye.header("Call-ID"), "ejabberd-call-2");
    assert_eq!(world.parley.metric("parley_msrp_sessions"), 0.0);
}
