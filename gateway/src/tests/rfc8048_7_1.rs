//! RFC 8048 §7.1, XMPP to SIP polling: a probe for a SIP contact becomes a
//! SUBSCRIBE with Expires: 0 in a new dialog (Example 22 → Example 23), and
//! the one NOTIFY that fetch brings (RFC 6665 §4.4.3) becomes one
//! `<presence/>` for the prober. One test per step; the SIP side is the
//! test's peer, the XMPP side the in-memory component.

use std::time::Duration;

use parley_sip::wire::Message as SipWire;

use super::romeo::{notify, notify_answer};
use super::world::{World, shape};

/// The SUBSCRIBE's header fields Example 23 shows.
const SUBSCRIBE: &[&str] = &[
    "From", "To", "Call-ID", "CSeq", "Event", "Accept", "Expires", "Contact",
];

/// Romeo's presence as his presence server would NOTIFY it: open, with a
/// note (RFC 3863 §4.1.4, mapped to `<status/>` by RFC 8048 §6.3 Table 2).
const PIDF_OPEN: &str = "<?xml version='1.0' encoding='UTF-8'?>\n\
<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@sip.example.net'>\n\
  <tuple id='ID-dr4hcr0st3lup4c'>\n\
    <status>\n\
      <basic>open</basic>\n\
    </status>\n\
    <note>Wherefore art thou?</note>\n\
  </tuple>\n\
</presence>";

/// Example 22 with the test's domains and an `id`, as Juliet's server
/// sends it.
const PROBE: &str = "<presence from='juliet@xmpp.example/chamber' to='romeo@sip.example.net' \
     type='probe' id='probe-1'/>";

/// The `<presence/>` Juliet's chamber resource gets for [`PIDF_OPEN`].
const ROMEO_OPEN: &str = "<presence from='romeo@sip.example.net' \
     to='juliet@xmpp.example/chamber'><status>Wherefore art thou?</status></presence>";

/// The `unavailable` Juliet's chamber resource gets when the fetch tells
/// nothing, with the probe's id mirrored (RFC 6121 §4.3.2.1).
const ROMEO_UNAVAILABLE: &str = "<presence from='romeo@sip.example.net' \
     to='juliet@xmpp.example/chamber' id='probe-1' type='unavailable'></presence>";

/// Romeo's presence server's one NOTIFY in the fetch dialog `subscribe`
/// made: `terminated;reason=timeout` (RFC 6665 §4.4.3), `pidf` its body
/// (none when empty).
fn fetch_notify(world: &World, subscribe: &SipWire, pidf: &str) -> String {
    notify(world, subscribe, 1, "terminated;reason=timeout", pidf)
}

/// Example 22 in, and the SUBSCRIBE it became.
async fn probed(world: &World) -> SipWire {
    world.stanza_in(PROBE);
    world.sip_out().await
}

/// Example 22 → Example 23:
///
/// ```text
/// <presence from='juliet@example.com/chamber' to='romeo@example.net' type='probe'/>
///
/// SUBSCRIBE sip:romeo@example.net SIP/2.0
/// From: <sip:juliet@example.com>;tag=j89d
/// Call-ID: 2398B737-566F-4CBB-A21A-1F8EEF7AF423
/// Event: presence
/// CSeq: 1 SUBSCRIBE
/// Contact: <sip:juliet@example.com>;gr=yn0cl4bnw0yr3vym
/// Accept: application/pidf+xml
/// Expires: 0
/// ```
///
/// "a SUBSCRIBE request with an Expires header value of zero ("0") in a
/// new dialog": no To tag, a fresh Call-ID and From tag, CSeq 1. Parley's
/// Contact is its own address (where the NOTIFY must come).
#[tokio::test]
async fn example_22_probe_becomes_example_23_subscribe_expires_0() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    assert_eq!(
        shape(&subscribe, SUBSCRIBE, true).replace(&world.endpoint_addr().to_string(), "{gw}"),
        "SUBSCRIBE sip:romeo@sip.example.net SIP/2.0\n\
         From: <sip:juliet@xmpp.example>;tag=*\n\
         To: <sip:romeo@sip.example.net>\n\
         Call-ID: *\n\
         CSeq: 1 SUBSCRIBE\n\
         Event: presence\n\
         Accept: application/pidf+xml\n\
         Expires: 0\n\
         Contact: <sip:juliet@{gw}>\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// Example 23's SUBSCRIBE answered 200 (Expires: 0), then its NOTIFY:
/// "As described in [RFC3856], this causes a NOTIFY to be sent to the
/// subscriber, just as a presence probe does". The NOTIFY is answered 200
/// and its PIDF becomes one `<presence/>` to the resource that probed
/// (RFC 6121 §4.3.2 answers "the user" who probed), from Romeo's bare JID
/// (RFC 8048 §6.3 Table 2, "From | from"), the note as `<status/>`.
#[tokio::test]
async fn notify_after_the_2xx_becomes_one_presence_to_the_prober() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    world.sip_answer(&subscribe, "200 OK", "Expires: 0\n").await;
    world.no_stanza_out(Duration::from_millis(50)).await;
    world
        .sip_in(&fetch_notify(&world, &subscribe, PIDF_OPEN))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    assert_eq!(world.stanza_out().await, ROMEO_OPEN);
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.no_sip_out(Duration::from_millis(50)).await;
}

/// RFC 6665 §4.1.2.4: "the subscriber MUST be prepared to receive NOTIFY
/// requests before the SUBSCRIBE transaction has completed." The fetch's
/// NOTIFY arriving first is answered at once and held until the 2xx; then
/// the same one `<presence/>`.
#[tokio::test]
async fn notify_before_the_2xx_becomes_one_presence_after_it() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    world
        .sip_in(&fetch_notify(&world, &subscribe, PIDF_OPEN))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.sip_answer(&subscribe, "200 OK", "Expires: 0\n").await;
    assert_eq!(world.stanza_out().await, ROMEO_OPEN);
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// A SIP error to the fetch: nothing is known of Romeo, and the prober
/// hears `unavailable` (RFC 6121 §4.3.2 rule 3), the probe's id mirrored:
/// "the contact's server SHOULD mirror the 'id' of the user's presence
/// probe" (RFC 6121 §4.3.2.1). No `unsubscribed`: a fetch holds no
/// authorization to cancel.
#[tokio::test]
async fn sip_error_to_the_fetch_is_unavailable_with_the_probe_id() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    world.sip_answer(&subscribe, "404 Not Found", "").await;
    assert_eq!(world.stanza_out().await, ROMEO_UNAVAILABLE);
    world.no_stanza_out(Duration::from_millis(50)).await;
}

/// RFC 6665 §4.1.2.3: "subscribers need to be prepared to receive final
/// NOTIFY requests both with and without state". Without (no body), the
/// fetch learnt nothing usable: `unavailable` with the probe's id.
#[tokio::test]
async fn notify_without_a_body_is_unavailable_with_the_probe_id() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    world.sip_answer(&subscribe, "200 OK", "Expires: 0\n").await;
    world.sip_in(&fetch_notify(&world, &subscribe, "")).await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    assert_eq!(world.stanza_out().await, ROMEO_UNAVAILABLE);
}

/// A probe while Juliet's own subscription to Romeo (RFC 8048 §5.2, F1–F15)
/// has had an active NOTIFY: that NOTIFY already says what a fetch would,
/// so the probe is answered from it and no SUBSCRIBE goes out (RFC 6665
/// §4.4.3: polling "should be used only sparingly").
#[tokio::test]
async fn probe_during_a_live_subscription_is_answered_from_its_notify() {
    let mut world = World::start().await;
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='subscribe'/>",
    );
    let subscribe = world.sip_out().await;
    world
        .sip_answer(&subscribe, "200 OK", "Expires: 3600\n")
        .await;
    world
        .sip_in(&notify(
            &world,
            &subscribe,
            1,
            "active;expires=3600",
            PIDF_OPEN,
        ))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example' type='subscribed'></presence>"
    );
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example'>\
         <status>Wherefore art thou?</status></presence>"
    );

    world.stanza_in(PROBE);
    assert_eq!(world.stanza_out().await, ROMEO_OPEN);
    world.no_sip_out(Duration::from_millis(100)).await;
}

/// RFC 8048 §8.1: "There exists the possibility of an amplification attack
/// ... against a SIP Presence Server". Probes of one pair (Juliet, Romeo)
/// while a fetch is in flight join it: one SUBSCRIBE, however many probes
/// (Prosody probes from each resource at login), and one `<presence/>` per
/// probing address, the repeated probe from the chamber answered once.
#[tokio::test]
async fn probes_of_one_pair_share_one_fetch() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    // Answered at once, so that no retransmission (Timer E, RFC 3261
    // §17.1.2.2) is taken for a second SUBSCRIBE; the fetch still waits
    // for its NOTIFY.
    world.sip_answer(&subscribe, "200 OK", "Expires: 0\n").await;
    world.stanza_in(PROBE);
    world.stanza_in(
        "<presence from='juliet@xmpp.example/balcony' to='romeo@sip.example.net' \
         type='probe' id='probe-2'/>",
    );
    world.no_sip_out(Duration::from_millis(150)).await;
    world.no_stanza_out(Duration::from_millis(10)).await;
    world
        .sip_in(&fetch_notify(&world, &subscribe, PIDF_OPEN))
        .await;
    assert_eq!(
        notify_answer(&world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    assert_eq!(world.stanza_out().await, ROMEO_OPEN);
    assert_eq!(
        world.stanza_out().await,
        "<presence from='romeo@sip.example.net' to='juliet@xmpp.example/balcony'>\
         <status>Wherefore art thou?</status></presence>"
    );
    world.no_stanza_out(Duration::from_millis(50)).await;
    world.no_sip_out(Duration::from_millis(50)).await;
}

/// RFC 8048 §8.1 again: a probe of the same pair soon after a fetch
/// finished is answered with what it found (for `FETCH_REUSE`), without a
/// second SUBSCRIBE.
#[tokio::test]
async fn a_probe_soon_after_a_fetch_reuses_its_answer() {
    let mut world = World::start().await;
    let subscribe = probed(&world).await;
    world.sip_answer(&subscribe, "200 OK", "Expires: 0\n").await;
    world
        .sip_in(&fetch_notify(&world, &subscribe, PIDF_OPEN))
        .await;
    notify_answer(&world).await;
    assert_eq!(world.stanza_out().await, ROMEO_OPEN);

    world.stanza_in(PROBE);
    assert_eq!(world.stanza_out().await, ROMEO_OPEN);
    world.no_sip_out(Duration::from_millis(100)).await;
}
