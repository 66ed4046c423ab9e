//! RFC 8048 §5.3, SIP to XMPP: a SIP user subscribes to an XMPP contact
//! (F26–F32), is approved or rejected, and ends the dialog. One test per
//! step, each running the flow up to its step.

use std::time::Duration;

use parley_sip::wire::Message as SipWire;

use super::world::{World, shape};

/// F26, Example 11 with the test's domains, `expires` its Expires.
fn subscribe(cseq: u32, to_tag: &str, expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKsub{cseq}\n\
         From: <sip:romeo@sip.example.net>;tag=xfg9\n\
         To: <sip:juliet@xmpp.example>{to_tag}\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         Event: presence\n\
         Max-Forwards: 70\n\
         CSeq: {cseq} SUBSCRIBE\n\
         Contact: <sip:romeo@{{peer}}>;gr=dr4hcr0st3lup4c\n\
         Accept: application/pidf+xml\n\
         Expires: {expires}\n\
         Content-Length: 0\n\
         \n"
    )
}

/// The NOTIFY's header fields Examples 14 and 16 show.
const NOTIFY: &[&str] = &[
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Event",
    "Subscription-State",
    "Content-Type",
];

/// The next SIP message, as comparable text with the peer's address as `{peer}`.
async fn next(world: &World, names: &[&str]) -> (SipWire, String) {
    let m = world.sip_out().await;
    let text = shape(&m, names, false).replace(&world.peer_addr().to_string(), "{peer}");
    (m, text)
}

/// F26–F28: the SUBSCRIBE is accepted (200), the subscriber gets an
/// immediate NOTIFY "pending" (RFC 6665 §4.2.1.2), answered here, and
/// Juliet the request (Example 12). Returns the NOTIFY.
async fn f28_asked(world: &mut World) -> SipWire {
    world.sip_in(&subscribe(1, "", 3600)).await;
    let (_, ok) = next(world, &["Call-ID", "CSeq"]).await;
    assert_eq!(
        ok,
        "SIP/2.0 200 OK\nCall-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\nCSeq: 1 SUBSCRIBE\n"
    );
    let (pending, _) = next(world, NOTIFY).await;
    world.sip_answer(&pending, "200 OK", "").await;
    pending
}

/// F26 → F28, Example 11 → Example 12:
///
/// ```text
/// SUBSCRIBE sip:juliet@example.com SIP/2.0
/// From: <sip:romeo@example.net>;tag=xfg9
/// Event: presence
///
/// <presence from='romeo@example.net' to='juliet@example.com' type='subscribe'/>
/// ```
///
/// Before Juliet decides, the subscriber hears "pending" (RFC 6665
/// §4.2.1.2: the notifier "SHOULD immediately send a NOTIFY").
#[tokio::test]
async fn f28_subscribe_becomes_presence_subscribe_and_pending() {
    let mut world = World::start().await;
    world.sip_in(&subscribe(1, "", 3600)).await;
    let (_, ok) = next(&world, &["From", "To", "Call-ID", "CSeq"]).await;
    assert_eq!(
        ok,
        "SIP/2.0 200 OK\n\
         From: <sip:romeo@sip.example.net>;tag=*\n\
         To: <sip:juliet@xmpp.example>;tag=*\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         CSeq: 1 SUBSCRIBE\n"
    );
    let (pending, text) = next(&world, NOTIFY).await;
    assert_eq!(
        text,
        "NOTIFY sip:romeo@{peer} SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>;tag=*\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         CSeq: 1 NOTIFY\n\
         Event: presence\n\
         Subscription-State: pending\n"
    );
    world.sip_answer(&pending, "200 OK", "").await;
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='subscribe'>\
         </presence>"
    );
}

/// F31 → F32, Example 13 → Example 14: Juliet approves, and the subscriber
/// hears "active":
///
/// ```text
/// <presence from='juliet@example.com' to='romeo@example.net' type='subscribed'/>
///
/// NOTIFY sip:romeo@example.net SIP/2.0
/// Subscription-State: active
/// CSeq: 2 NOTIFY
/// ```
///
/// Parley probes Juliet first (RFC 6121 §4.3.2) and sends the active NOTIFY
/// with the PIDF of the presence that answers (RFC 8048 §6.2), so the
/// subscriber's first active state carries her presence. The `expires`
/// parameter counts down, so only its name is compared.
#[tokio::test]
async fn f32_subscribed_becomes_notify_active() {
    let mut world = World::start().await;
    f28_asked(&mut world).await;
    world.stanza_out().await;
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='subscribed'/>",
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='probe'>\
         </presence>"
    );
    world.stanza_in("<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>");
    let (active, text) = next(&world, NOTIFY).await;
    let expires = active_state(&text);
    assert_eq!(
        text.replace(&expires, "active;expires=*"),
        "NOTIFY sip:romeo@{peer} SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>;tag=*\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         CSeq: 2 NOTIFY\n\
         Event: presence\n\
         Subscription-State: active;expires=*\n\
         Content-Type: application/pidf+xml\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&active.body),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:juliet@xmpp.example\">\n \
         <tuple id=\"ID-balcony\">\n  \
         <status>\n   \
         <basic>open</basic>\n  \
         </status>\n  \
         <contact>sip:juliet@xmpp.example;gr=balcony</contact>\n \
         </tuple>\n\
         </presence>\n"
    );
    world.sip_answer(&active, "200 OK", "").await;
}

/// The `active;expires=N` value in `text`.
fn active_state(text: &str) -> String {
    let start = text
        .find("active;expires=")
        .expect("an active state with expires");
    let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
    text[start..end].to_owned()
}

/// Example 15 → Example 16: Juliet rejects, and the subscription ends:
///
/// ```text
/// <presence from='juliet@example.com' to='romeo@example.net' type='unsubscribed'/>
///
/// NOTIFY sip:romeo@example.net SIP/2.0
/// Subscription-State: terminated;reason=rejected
/// CSeq: 2 NOTIFY
/// ```
#[tokio::test]
async fn unsubscribed_becomes_notify_terminated_rejected() {
    let mut world = World::start().await;
    f28_asked(&mut world).await;
    world.stanza_out().await;
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='unsubscribed'/>",
    );
    let (terminated, text) = next(&world, NOTIFY).await;
    assert_eq!(
        text,
        "NOTIFY sip:romeo@{peer} SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>;tag=*\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         CSeq: 2 NOTIFY\n\
         Event: presence\n\
         Subscription-State: terminated;reason=rejected\n"
    );
    world.sip_answer(&terminated, "200 OK", "").await;
}

/// RFC 8048 §5.3.3, Example 17: the SIP user ends the dialog with a
/// SUBSCRIBE whose Expires is 0; it is answered 200 and the subscriber
/// gets its final NOTIFY "terminated" (RFC 6665 §4.2.1.2).
#[tokio::test]
async fn example_17_expires_0_ends_the_dialog() {
    let mut world = World::start().await;
    let pending = f28_asked(&mut world).await;
    world.stanza_out().await;
    let gw_tag = pending
        .header("From")
        .and_then(|f| f.split(";tag=").nth(1).map(str::to_owned))
        .expect("the NOTIFY's From has the gateway's tag");
    world
        .sip_in(&subscribe(66, &format!(";tag={gw_tag}"), 0))
        .await;
    let (_, ok) = next(&world, &["Call-ID", "CSeq"]).await;
    assert_eq!(
        ok,
        "SIP/2.0 200 OK\nCall-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\nCSeq: 66 SUBSCRIBE\n"
    );
    let (terminated, text) = next(&world, NOTIFY).await;
    assert!(text.contains("Subscription-State: terminated"), "{text}");
    world.sip_answer(&terminated, "200 OK", "").await;
    world.no_sip_out(Duration::from_millis(50)).await;
}

/// The gateway's tag, from the From of a NOTIFY it sent.
fn gateway_tag(notify: &SipWire) -> String {
    notify
        .header("From")
        .and_then(|f| f.split(";tag=").nth(1).map(str::to_owned))
        .expect("the NOTIFY's From has the gateway's tag")
}

/// RFC 6665 §4.2.1.2: "Upon successfully accepting or refreshing a
/// subscription, notifiers MUST send a NOTIFY request immediately to
/// communicate the current resource state": a refresh while Juliet has not
/// decided is answered 200 (with the Contact that names where the dialog is
/// held, RFC 6665 §3.1) and a NOTIFY "pending" follows in the same dialog.
#[tokio::test]
async fn a_refresh_while_pending_gets_a_notify_pending() {
    let mut world = World::start().await;
    let pending = f28_asked(&mut world).await;
    world.stanza_out().await;
    let tag = gateway_tag(&pending);
    world
        .sip_in(&subscribe(2, &format!(";tag={tag}"), 1800))
        .await;
    let (ok, text) = next(&world, &["Call-ID", "CSeq", "Expires"]).await;
    assert_eq!(
        text,
        "SIP/2.0 200 OK\nCall-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\nCSeq: 2 SUBSCRIBE\n\
         Expires: 1800\n"
    );
    assert!(ok.header("Contact").is_some(), "{ok:?}");
    let (again, text) = next(&world, NOTIFY).await;
    assert_eq!(
        text,
        "NOTIFY sip:romeo@{peer} SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>;tag=*\n\
         Call-ID: AA5A8BE5-CBB7-42B9-8181-6230012B1E11\n\
         CSeq: 2 NOTIFY\n\
         Event: presence\n\
         Subscription-State: pending\n"
    );
    assert_eq!(gateway_tag(&again), tag, "the same dialog");
    world.sip_answer(&again, "200 OK", "").await;
    world.no_sip_out(Duration::from_millis(50)).await;
}

/// RFC 6665 §4.2.1.2 once the subscription is active: the refresh gets a
/// NOTIFY "active" carrying Juliet's presence again, although the last
/// NOTIFY carried the same PIDF (it answers the refresh; a change in her
/// presence alone never repeats a PIDF).
#[tokio::test]
async fn a_refresh_while_active_repeats_her_current_presence() {
    let mut world = World::start().await;
    let pending = f28_asked(&mut world).await;
    world.stanza_out().await;
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='subscribed'/>",
    );
    world.stanza_out().await;
    world.stanza_in("<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>");
    let (active, _) = next(&world, NOTIFY).await;
    world.sip_answer(&active, "200 OK", "").await;
    // The same presence again changes nothing: no NOTIFY.
    world.stanza_in("<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>");
    world.no_sip_out(Duration::from_millis(50)).await;

    let tag = gateway_tag(&pending);
    world
        .sip_in(&subscribe(2, &format!(";tag={tag}"), 1800))
        .await;
    let (_, ok) = next(&world, &["CSeq"]).await;
    assert_eq!(ok, "SIP/2.0 200 OK\nCSeq: 2 SUBSCRIBE\n");
    let (again, text) = next(&world, NOTIFY).await;
    assert!(text.contains("CSeq: 3 NOTIFY\n"), "{text}");
    assert!(
        text.contains("Subscription-State: active;expires="),
        "{text}"
    );
    assert_eq!(again.body, active.body, "her presence as it is now");
    world.sip_answer(&again, "200 OK", "").await;
}
