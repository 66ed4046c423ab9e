//! RFC 5627 (issue 22 item 4): the GRUUs Parley's registrar hands out and
//! the requests it sends to them; RFC 3261 §10.3 step 2 (Require) and the
//! Allow that lists REGISTER. The REGISTER is §9's message (1) with the
//! test's domain and the peer's address; the instance is §9's.

use parley_sip::wire::Message as SipWire;

use super::rfc3261_10_3_registrar::{registered, status, world_with};
use super::world::{COMPONENT, World, shape};

/// RFC 5627 §9 message (1)'s instance ID.
const INSTANCE: &str = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6";

/// §9 message (1): `Supported: gruu` and a Contact with `+sip.instance`.
fn register_gruu(call_id: &str, contact_user: &str) -> impl Fn(&str, u32, &str) -> String {
    let call_id = call_id.to_owned();
    let contact_user = contact_user.to_owned();
    move |branch, cseq, extra| {
        format!(
            "REGISTER sip:{COMPONENT} SIP/2.0\n\
             Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKnashds7{branch}\n\
             Max-Forwards: 70\n\
             From: Callee <sip:alice@{COMPONENT}>;tag=a73kszlfl\n\
             Supported: gruu\n\
             To: Callee <sip:alice@{COMPONENT}>\n\
             Call-ID: {call_id}\n\
             CSeq: {cseq} REGISTER\n\
             Contact: <sip:{contact_user}@{{peer}}>;+sip.instance=\"<{INSTANCE}>\"\n\
             {extra}Content-Length: 0\n\n"
        )
    }
}

/// The value of Contact parameter `name` (quotes taken off).
fn contact_param(ok: &SipWire, name: &str) -> String {
    let contact = ok.header("Contact").expect("a Contact");
    let address = parley_sip::wire::header::Address::parse(&contact).expect("Contact parses");
    address
        .param(name)
        .unwrap_or_else(|| panic!("no {name} in {contact}"))
        .to_owned()
}

/// The user part of a `sip:` URI.
fn user_of(uri: &str) -> &str {
    uri.trim_start_matches("sip:")
        .split('@')
        .next()
        .expect("a user part")
}

/// XMPP sends a message to `to`; returns the SIP request line it became.
async fn message_to(world: &mut World, to: &str) -> SipWire {
    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='{to}' id='m1'><body>hi</body></message>"
    ));
    world.sip_out().await
}

/// §5.2, §9 message (2): the 200 to a REGISTER with `Supported: gruu`
/// carries `pub-gruu` (the AOR with `gr`=instance ID, Appendix A.1) and a
/// `temp-gruu` that does not show the AOR (§3.1.2), beside the echoed
/// `+sip.instance`; a MESSAGE to the public GRUU (an XMPP full JID, RFC
/// 7247 §6.3) and one to the temporary GRUU go to the instance's contact,
/// with the `gr` gone from the Request-URI (§6.1).
#[tokio::test]
async fn rfc5627_9_register_gets_pub_and_temp_gruu_and_both_reach_the_contact() {
    let (mut world, _dir) = world_with("").await;
    let ok = registered(&mut world, 1, register_gruu("1j9FpLxk3uxtm8tn", "alice")).await;
    assert_eq!(status(&ok), 200);
    let peer = world.peer_addr();
    assert_eq!(
        contact_param(&ok, "pub-gruu"),
        format!("sip:alice@{COMPONENT};gr={INSTANCE}")
    );
    assert_eq!(contact_param(&ok, "+sip.instance"), format!("<{INSTANCE}>"));
    let temp = contact_param(&ok, "temp-gruu");
    assert!(
        temp.starts_with("sip:tgruu.") && temp.ends_with(&format!("@{COMPONENT};gr")),
        "{temp}"
    );
    assert!(!temp.contains("alice"), "§3.1.2: the AOR hidden: {temp}");
    assert!(ok.header("Require").is_none(), "§5.2: no gruu in Require");

    let message = message_to(&mut world, &format!("alice@{COMPONENT}/{INSTANCE}")).await;
    assert_eq!(
        shape(&message, &[], false),
        format!("MESSAGE sip:alice@{peer} SIP/2.0\n")
    );
    world.sip_answer(&message, "200 OK", "").await;

    let message = message_to(&mut world, &format!("{}@{COMPONENT}", user_of(&temp))).await;
    assert_eq!(
        shape(&message, &[], false),
        format!("MESSAGE sip:alice@{peer} SIP/2.0\n")
    );
    world.sip_answer(&message, "200 OK", "").await;
}

/// §5.1: a REGISTER refresh under another Call-ID invalidates the earlier
/// temporary GRUUs ("rejected by the domain with a 404 from this point
/// forward"); the new one works. A public GRUU of an instance with no
/// contact gets 480 (§6.1), which the XMPP sender hears as
/// recipient-unavailable (RFC 7247 §7).
#[tokio::test]
async fn rfc5627_5_1_new_call_id_invalidates_temp_gruus_and_unbound_public_gruu_is_480() {
    let (mut world, _dir) = world_with("").await;
    let first = registered(&mut world, 1, register_gruu("first-boot", "alice")).await;
    let old_temp = contact_param(&first, "temp-gruu");
    // §9 message (17): the phone rebooted; same instance, new Call-ID.
    let second = registered(&mut world, 3, register_gruu("second-boot", "alice2")).await;
    assert_eq!(status(&second), 200);
    let new_temp = contact_param(&second, "temp-gruu");
    assert_ne!(old_temp, new_temp);
    let peer = world.peer_addr();

    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='{}@{COMPONENT}' id='old'><body>hi</body></message>",
        user_of(&old_temp)
    ));
    let error = world.stanza_out().await;
    assert!(
        error.contains("type='error'") && error.contains("<item-not-found"),
        "404 → item-not-found: {error}"
    );

    let message = message_to(&mut world, &format!("{}@{COMPONENT}", user_of(&new_temp))).await;
    assert_eq!(
        shape(&message, &[], false),
        format!("MESSAGE sip:alice2@{peer} SIP/2.0\n"),
        "§6.1: the most recently refreshed contact of the instance"
    );
    world.sip_answer(&message, "200 OK", "").await;

    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='alice@{COMPONENT}/urn:uuid:00000000-0000-0000-0000-000000000000' id='gone'><body>hi</body></message>"
    ));
    let error = world.stanza_out().await;
    assert!(
        error.contains("type='error'") && error.contains("<recipient-unavailable"),
        "480 → recipient-unavailable: {error}"
    );
}

/// §6.1 with RFC 3261 §12.2.1.1: a phone whose SUBSCRIBE gave its public
/// GRUU as Contact gets the NOTIFYs of that dialog at its registered
/// contact: a GRUU is looked up in a dialog too, an AOR is not.
#[tokio::test]
async fn rfc5627_6_1_in_dialog_request_to_a_gruu_goes_to_the_contact() {
    let (mut world, _dir) = world_with("").await;
    let ok = registered(&mut world, 1, register_gruu("boot", "alice")).await;
    let pub_gruu = contact_param(&ok, "pub-gruu");
    let peer = world.peer_addr();
    world
        .sip_in(&format!(
            "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\n\
             Via: SIP/2.0/UDP {{peer}};branch=z9hG4bK9zz8\n\
             From: <sip:alice@{COMPONENT}>;tag=kkaz-\n\
             To: <sip:juliet@xmpp.example>\n\
             Call-ID: faif9a\n\
             Event: presence\n\
             Max-Forwards: 70\n\
             CSeq: 2 SUBSCRIBE\n\
             Supported: gruu\n\
             Contact: <{pub_gruu}>\n\
             Expires: 600\n\
             Content-Length: 0\n\n"
        ))
        .await;
    assert_eq!(status(&world.sip_out().await), 200);
    let notify = world.sip_out().await;
    assert_eq!(
        shape(&notify, &["Call-ID"], false),
        format!("NOTIFY sip:alice@{peer} SIP/2.0\nCall-ID: faif9a\n")
    );
    world.sip_answer(&notify, "200 OK", "").await;
}

/// RFC 3261 §10.3 step 2 and §8.2.2.3: a Require the registrar does not
/// support gets 420 listing it in Unsupported, before any challenge;
/// `Require: gruu` (RFC 5627 §5.1) is supported.
#[tokio::test]
async fn rfc3261_10_3_step_2_unknown_require_gets_420_with_unsupported() {
    let (mut world, _dir) = world_with("").await;
    let request = register_gruu("req", "alice");
    world
        .sip_in(&request("r1", 1, "Require: gruu, foo, bar\n"))
        .await;
    let refused = world.sip_out().await;
    assert_eq!(
        shape(&refused, &["Unsupported"], false),
        "SIP/2.0 420 Bad Extension\nUnsupported: foo, bar\n"
    );
    world.sip_in(&request("r2", 2, "Require: gruu\n")).await;
    assert_eq!(status(&world.sip_out().await), 401);
}

/// RFC 3261 §20.5: OPTIONS lists REGISTER in Allow when `[registrar]` is
/// set, and not otherwise.
#[tokio::test]
async fn options_allow_lists_register_only_with_a_registrar() {
    let options = "OPTIONS sip:sip.example.net SIP/2.0\n\
         Via: SIP/2.0/UDP {peer};branch=z9hG4bKopt1\n\
         From: <sip:probe@example.org>;tag=o1\n\
         To: <sip:sip.example.net>\n\
         Call-ID: options-1\n\
         CSeq: 1 OPTIONS\n\
         Max-Forwards: 70\n\
         Content-Length: 0\n\n";
    let (mut world, _dir) = world_with("").await;
    world.sip_in(options).await;
    assert_eq!(
        world.sip_out().await.header("Allow").as_deref(),
        Some("MESSAGE, NOTIFY, OPTIONS, REGISTER, SUBSCRIBE")
    );
    let mut plain = World::start().await;
    plain.sip_in(options).await;
    assert_eq!(
        plain.sip_out().await.header("Allow").as_deref(),
        Some("MESSAGE, NOTIFY, OPTIONS, SUBSCRIBE")
    );
}

/// Several contacts for one AOR: the 200 lists them best first, and a
/// request goes to the one with the highest `q` (RFC 3261 §16.6's order;
/// Parley does not fork).
#[tokio::test]
async fn several_contacts_route_to_the_highest_q() {
    let (mut world, _dir) = world_with("").await;
    let request = |branch: &str, cseq: u32, extra: &str| {
        format!(
            "REGISTER sip:{COMPONENT} SIP/2.0\n\
             Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKq{branch}\n\
             Max-Forwards: 70\n\
             From: <sip:alice@{COMPONENT}>;tag=q1\n\
             To: <sip:alice@{COMPONENT}>\n\
             Call-ID: two-phones\n\
             CSeq: {cseq} REGISTER\n\
             Contact: <sip:desk@{{peer}}>;q=0.5, <sip:mobile@{{peer}}>;q=0.9\n\
             Expires: 600\n\
             {extra}Content-Length: 0\n\n"
        )
    };
    let ok = registered(&mut world, 1, request).await;
    let peer = world.peer_addr();
    let contacts = ok.header_values(&ezk_sip_types::Name::from("Contact".to_owned()));
    assert_eq!(
        contacts.join(", "),
        format!("<sip:mobile@{peer}>;q=0.9;expires=600, <sip:desk@{peer}>;q=0.5;expires=600")
    );
    let message = message_to(&mut world, &format!("alice@{COMPONENT}")).await;
    assert_eq!(
        shape(&message, &[], false),
        format!("MESSAGE sip:mobile@{peer} SIP/2.0\n")
    );
    world.sip_answer(&message, "200 OK", "").await;
}

/// A GRUU-shaped address of a user the registrar does not have (one behind
/// `sip.outbound_proxy`) is not the registrar's to answer for: the request
/// leaves as addressed, `gr` and all.
#[tokio::test]
async fn gruu_of_a_user_not_in_the_users_file_is_sent_as_addressed() {
    let (mut world, _dir) = world_with("").await;
    let message = message_to(&mut world, &format!("carol@{COMPONENT}/{INSTANCE}")).await;
    assert_eq!(
        shape(&message, &[], false),
        format!("MESSAGE sip:carol@{COMPONENT};gr={INSTANCE} SIP/2.0\n")
    );
    world.sip_answer(&message, "200 OK", "").await;
}

/// §5.1: a Contact with `+sip.instance` that is the AOR itself, or one of
/// its GRUUs, "would cause a routing loop": 403, nothing bound.
#[tokio::test]
async fn rfc5627_5_1_contact_that_is_the_aor_or_its_gruu_gets_403() {
    let (mut world, _dir) = world_with("").await;
    let ok = registered(&mut world, 1, register_gruu("loop", "alice")).await;
    let pub_gruu = contact_param(&ok, "pub-gruu");
    for (cseq, contact) in [(3, format!("sip:alice@{COMPONENT}")), (5, pub_gruu)] {
        let request = register_gruu("loop", "alice");
        let looping = move |b: &str, c: u32, x: &str| {
            request(b, c, x).replace("<sip:alice@{peer}>", &format!("<{contact}>"))
        };
        let refused = registered(&mut world, cseq, looping).await;
        assert_eq!(status(&refused), 403, "{refused:?}");
    }
    assert_eq!(world.metric("parley_registrar_bindings"), Some(1.0));
}
