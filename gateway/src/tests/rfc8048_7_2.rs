//! RFC 8048 §7.2, SIP to XMPP polling: a SUBSCRIBE with Expires: 0 in a
//! new dialog (Example 24) is answered 200 and becomes a probe of the XMPP
//! user (Example 25); her server's answer becomes the one NOTIFY of the
//! fetch, `terminated;reason=timeout` (RFC 6665 §4.4.3), and nothing is
//! kept. One test per step; the SIP side is the test's peer, the XMPP side
//! the in-memory component.

use std::time::Duration;

use tokio::time::Instant;

use parley_sip::wire::Message as SipWire;

use super::world::{World, shape};
use crate::presence::fetch::{PROBE_GATHER, PROBE_WAIT};

/// Example 24 with the test's domains (and the To header field every
/// request carries, RFC 3261 §8.1.1), `expires` its Expires.
fn subscribe(expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKna998sk\n\
         From: <sip:romeo@sip.example.net>;tag=yt66\n\
         To: <sip:juliet@xmpp.example>\n\
         Call-ID: 717B1B84-F080-4F12-9F44-0EC1ADE767B9\n\
         Event: presence\n\
         Max-Forwards: 70\n\
         CSeq: 1 SUBSCRIBE\n\
         Contact: <sip:romeo@{{peer}}>;gr=dr4hcr0st3lup4c\n\
         Expires: {expires}\n\
         Content-Length: 0\n\
         \n"
    )
}

/// Example 25 with the test's domains.
const PROBE: &str =
    "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='probe'></presence>";

/// The NOTIFY's header fields RFC 8048 §5.3's Examples 14 and 16 show.
const NOTIFY: &[&str] = &[
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Event",
    "Subscription-State",
    "Content-Type",
];

/// The fetch's NOTIFY as comparable text, with the peer's address as `{peer}`.
const FETCH_NOTIFY: &str = "NOTIFY sip:romeo@{peer} SIP/2.0\n\
     From: <sip:juliet@xmpp.example>;tag=*\n\
     To: <sip:romeo@sip.example.net>;tag=*\n\
     Call-ID: 717B1B84-F080-4F12-9F44-0EC1ADE767B9\n\
     CSeq: 1 NOTIFY\n\
     Event: presence\n\
     Subscription-State: terminated;reason=timeout\n\
     Content-Type: application/pidf+xml\n";

/// A PIDF document for Juliet with no tuple: RFC 3863 §4.1.1 allows "any
/// number (including 0)", and RFC 3856 §6.6 has a notifier show a watcher
/// it withholds presence from "offline".
const PIDF_NO_TUPLE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
     <presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:juliet@xmpp.example\">\n\
     </presence>\n";

/// The next SIP message, as comparable text with the peer's address as `{peer}`.
async fn next(world: &World, names: &[&str]) -> (SipWire, String) {
    let m = world.sip_out().await;
    let text = shape(&m, names, false).replace(&world.peer_addr().to_string(), "{peer}");
    (m, text)
}

/// Example 24 in; its 200 (returned) out, then Example 25 to Juliet.
async fn probed(world: &mut World) -> SipWire {
    world.sip_in(&subscribe(0)).await;
    let ok = world.sip_out().await;
    assert_eq!(world.stanza_out().await, PROBE);
    ok
}

/// Example 24 → Example 25:
///
/// ```text
/// SUBSCRIBE sip:juliet@example.com SIP/2.0
/// From: <sip:romeo@example.net>;tag=yt66
/// Call-ID: 717B1B84-F080-4F12-9F44-0EC1ADE767B9
/// Expires: 0
///
/// <presence from='romeo@example.net' to='juliet@example.com' type='probe'/>
/// ```
///
/// "A presence-aware SIP-to-XMPP gateway translates such a SIP request into
/// a <presence/> stanza of type "probe" if it does not already have
/// presence information about the contact". The SUBSCRIBE gets 200 with
/// Expires: 0 (RFC 6665 §4.2.1.1: the response's Expires is the granted
/// duration, none here) and no NOTIFY until Juliet's server answers.
#[tokio::test]
async fn example_24_fetch_is_answered_200_and_becomes_example_25_probe() {
    let mut world = World::start().await;
    world.sip_in(&subscribe(0)).await;
    let (_, ok) = next(&world, &["From", "To", "Call-ID", "CSeq", "Expires"]).await;
    assert_eq!(
        ok,
        "SIP/2.0 200 OK\n\
         From: <sip:romeo@sip.example.net>;tag=*\n\
         To: <sip:juliet@xmpp.example>;tag=*\n\
         Call-ID: 717B1B84-F080-4F12-9F44-0EC1ADE767B9\n\
         CSeq: 1 SUBSCRIBE\n\
         Expires: 0\n"
    );
    assert_eq!(world.stanza_out().await, PROBE);
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.no_sip_out(Duration::from_millis(100)).await;
}

/// Juliet's server answers the probe with her presence (RFC 6121 §4.3.2):
/// the fetch's one NOTIFY goes out in the dialog the 200 made, "containing
/// resource state" with a "Subscription-State" "value of "terminated" and a
/// "reason" parameter of "timeout"" (RFC 6665 §4.4.3), her presence as PIDF
/// (RFC 8048 §6.2). She hears nothing more: no `subscribe`, since a fetch
/// asks for no authorization.
#[tokio::test]
async fn her_presence_becomes_one_notify_terminated_timeout_with_pidf() {
    let mut world = World::start().await;
    let ok = probed(&mut world).await;
    world.stanza_in("<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>");
    world.reap_after(PROBE_GATHER);
    let (notify, text) = next(&world, NOTIFY).await;
    assert_eq!(text, FETCH_NOTIFY);
    assert_eq!(
        notify.header("To").as_deref(),
        Some("<sip:romeo@sip.example.net>;tag=yt66"),
        "in the dialog Example 24 began"
    );
    assert_eq!(notify.header("From"), ok.header("To"), "the 200's To tag");
    assert_eq!(
        String::from_utf8_lossy(&notify.body),
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
    world.sip_answer(&notify, "200 OK", "").await;
    world.no_sip_out(Duration::from_millis(100)).await;
    world.no_stanza_out(Duration::from_millis(10)).await;
}

/// Juliet's server refuses the probe with `unsubscribed` (RFC 6121 §4.3.2
/// rule 1: the prober is not authorised): the NOTIFY still goes out, with a
/// PIDF with no tuple, as RFC 3856 §6.6 would have a withheld presence
/// look — "typically ... by indicating "offline"" — and no `unsubscribed`
/// reaches the SIP side as a refusal.
#[tokio::test]
async fn unsubscribed_becomes_the_notify_with_a_pidf_with_no_tuple() {
    let mut world = World::start().await;
    probed(&mut world).await;
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='unsubscribed'/>",
    );
    let (notify, text) = next(&world, NOTIFY).await;
    assert_eq!(text, FETCH_NOTIFY);
    assert_eq!(String::from_utf8_lossy(&notify.body), PIDF_NO_TUPLE);
    world.sip_answer(&notify, "200 OK", "").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Juliet's server says nothing (as `presence/fetch/` notes Prosody 0.12 does for
/// a prober she has not approved): after `PROBE_WAIT` the NOTIFY goes out anyway,
/// with the PIDF with no tuple, so the SIP fetch always ends (RFC 6665
/// §4.4.3: the fetch's NOTIFY "will" be sent). The reaper's ticks just
/// before and at `PROBE_WAIT` after the probe.
#[tokio::test]
async fn no_answer_within_probe_wait_becomes_the_notify_with_no_tuple() {
    let mut world = World::start().await;
    let before = Instant::now();
    probed(&mut world).await;
    world.reap_at(before + PROBE_WAIT - Duration::from_millis(1));
    world.no_sip_out(Duration::from_millis(100)).await;
    world.reap_after(PROBE_WAIT);
    let (notify, text) = next(&world, NOTIFY).await;
    assert_eq!(text, FETCH_NOTIFY);
    assert_eq!(String::from_utf8_lossy(&notify.body), PIDF_NO_TUPLE);
    world.sip_answer(&notify, "200 OK", "").await;
}

/// "Polling" leaves nothing behind (RFC 6665 §4.4.3: "an immediate fetch
/// without a persistent subscription"): no store row, and no subscription —
/// Juliet's later presence NOTIFYs nobody, and a refresh in the fetch's
/// dialog finds none (481, RFC 3261 §12.2.2). A lasting SUBSCRIBE in the
/// same world is stored, so the store is seen to be written at all.
#[tokio::test]
async fn a_fetch_keeps_no_store_row_and_no_subscription() {
    let mut world = World::persistent().await;
    let ok = probed(&mut world).await;
    world.stanza_in("<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>");
    world.reap_after(PROBE_GATHER);
    let (notify, _) = next(&world, NOTIFY).await;
    world.sip_answer(&notify, "200 OK", "").await;

    let stored = world.stored().await;
    assert!(stored.watchers.is_empty(), "{stored:?}");
    assert!(stored.watches.is_empty(), "{stored:?}");

    world.stanza_in("<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net'/>");
    world.no_sip_out(Duration::from_millis(100)).await;
    world.no_stanza_out(Duration::from_millis(10)).await;

    let to = ok.header("To").expect("the 200 has a To");
    let refresh = subscribe(600)
        .replace("To: <sip:juliet@xmpp.example>", &format!("To: {to}"))
        .replace("CSeq: 1 SUBSCRIBE", "CSeq: 2 SUBSCRIBE")
        .replace("z9hG4bKna998sk", "z9hG4bKrefresh");
    world.sip_in(&refresh).await;
    let (_, answer) = next(&world, &["CSeq"]).await;
    assert_eq!(
        answer,
        "SIP/2.0 481 Call/Transaction Does Not Exist\nCSeq: 2 SUBSCRIBE\n"
    );

    // The control: a lasting subscription (a new dialog) is kept.
    world
        .sip_in(
            &subscribe(600)
                .replace("717B1B84", "817B1B84")
                .replace("tag=yt66", "tag=yt67")
                .replace("z9hG4bKna998sk", "z9hG4bKlasting"),
        )
        .await;
    let (_, ok) = next(&world, &["CSeq", "Expires"]).await;
    assert_eq!(ok, "SIP/2.0 200 OK\nCSeq: 1 SUBSCRIBE\nExpires: 600\n");
    let stored = world.stored().await;
    assert_eq!(
        stored
            .watchers
            .iter()
            .map(|w| (w.call_id.as_str(), w.watcher.as_str(), w.target.as_str()))
            .collect::<Vec<_>>(),
        [(
            "817B1B84-F080-4F12-9F44-0EC1ADE767B9",
            "romeo@sip.example.net",
            "juliet@xmpp.example"
        )]
    );
}
