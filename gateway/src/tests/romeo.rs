//! Romeo's side of the RFC 8048 §5.2 tests: his presence server's NOTIFYs
//! and PIDF, and the flow up to F15 that several files start from.

use std::time::Duration;

use tokio::time::Instant;

use parley_sip::wire::Message as SipWire;

use super::world::{World, shape};

/// The SUBSCRIBE's header fields RFC 8048 Example 2 shows.
pub(super) const SUBSCRIBE: &[&str] = &[
    "From", "To", "Call-ID", "CSeq", "Event", "Accept", "Expires", "Contact",
];

/// RFC 8048 Example 4's PIDF with the test's domains.
pub(super) const PIDF_AWAY: &str = "<?xml version='1.0' encoding='UTF-8'?>\n\
<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='pres:romeo@sip.example.net'>\n\
  <tuple id='ID-dr4hcr0st3lup4c'>\n\
    <status>\n\
      <basic>open</basic>\n\
      <show xmlns='jabber:client'>away</show>\n\
    </status>\n\
  </tuple>\n\
</presence>";

/// RFC 8048 Example 6 (F15) as [`PIDF_AWAY`] gives it.
pub(super) const ROMEO_AWAY: &str = "<presence from='romeo@sip.example.net' \
     to='juliet@xmpp.example'><show>away</show></presence>";

/// RFC 8048 Example 5 (F14).
pub(super) const ROMEO_SUBSCRIBED: &str = "<presence from='romeo@sip.example.net' \
     to='juliet@xmpp.example' type='subscribed'></presence>";

/// A NOTIFY from Romeo's presence server in the dialog `subscribe` made
/// (Example 4's shape): `state` as Subscription-State, `pidf` its body (none
/// when empty). Its Via branch is its own per dialog and CSeq, or the
/// endpoint would take it for a retransmission (RFC 3261 §17.2.3).
pub(super) fn notify(
    world: &World,
    subscribe: &SipWire,
    cseq: u32,
    state: &str,
    pidf: &str,
) -> String {
    let call_id = subscribe.header("Call-ID").expect("a Call-ID");
    let content_type = if pidf.is_empty() {
        String::new()
    } else {
        "Content-Type: application/pidf+xml\n".to_owned()
    };
    format!(
        "NOTIFY {gw} SIP/2.0\n\
         Via: SIP/2.0/UDP {peer};branch=z9hG4bKnotify{cseq}{dialog}\n\
         From: <sip:romeo@sip.example.net>;tag=peer-tag\n\
         To: {juliet}\n\
         Call-ID: {call_id}\n\
         Event: presence\n\
         Subscription-State: {state}\n\
         Max-Forwards: 70\n\
         CSeq: {cseq} NOTIFY\n\
         Contact: <sip:romeo@{peer}>\n\
         {content_type}\
         Content-Length: {len}\n\
         \n\
         {pidf}",
        gw = subscribe
            .header("Contact")
            .expect("the SUBSCRIBE has a Contact")
            .trim_start_matches('<')
            .split('>')
            .next()
            .expect("a Contact URI"),
        peer = world.peer_addr(),
        juliet = subscribe.header("From").expect("a From"),
        len = pidf.len(),
        dialog = call_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>(),
    )
}

/// The answer a NOTIFY got: start line and CSeq.
pub(super) async fn notify_answer(world: &World) -> String {
    shape(&world.sip_out().await, &["CSeq"], false)
}

/// RFC 8048 F1–F5: Juliet's `subscribe`, the SUBSCRIBE it became
/// (returned) answered 200 with `granted` (an Expires line) and Romeo's GRUU
/// as Contact (Example 3), To tag `peer-tag`. Returns the SUBSCRIBE and the
/// instant before the 200 was sent.
pub(super) async fn f5_granted(world: &mut World, granted: &str) -> (SipWire, Instant) {
    world.stanza_in(
        "<presence from='juliet@xmpp.example' to='romeo@sip.example.net' type='subscribe'/>",
    );
    let subscribe = world.sip_out().await;
    let before = Instant::now();
    world
        .sip_answer(
            &subscribe,
            "200 OK",
            &format!("Contact: <sip:romeo@sip.example.net;gr=dr4hcr0st3lup4c>\n{granted}"),
        )
        .await;
    // RFC 8048 §5.2.1: the 200 alone tells Juliet nothing; the wait also
    // lets the 200 reach the subscription.
    world.no_stanza_out(Duration::from_millis(50)).await;
    (subscribe, before)
}

/// F1–F15: [`f5_granted`], then Romeo's first active NOTIFY (Example 4),
/// answered, and Juliet's `subscribed` and presence. Returns the SUBSCRIBE
/// and the instants around the 200.
pub(super) async fn f15_active(world: &mut World, granted: &str) -> (SipWire, Instant, Instant) {
    let (subscribe, before) = f5_granted(world, granted).await;
    world
        .sip_in(&notify(
            world,
            &subscribe,
            1,
            "active;expires=600",
            PIDF_AWAY,
        ))
        .await;
    assert_eq!(
        notify_answer(world).await,
        "SIP/2.0 200 OK\nCSeq: 1 NOTIFY\n"
    );
    assert_eq!(world.stanza_out().await, ROMEO_SUBSCRIBED);
    assert_eq!(world.stanza_out().await, ROMEO_AWAY);
    (subscribe, before, Instant::now())
}
