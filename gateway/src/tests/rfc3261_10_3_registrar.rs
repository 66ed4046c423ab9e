//! RFC 3261 §10.3 (issue 22 item 4): Parley as the phones' registrar, with
//! digest (RFC 3261 §22, RFC 7616, RFC 8760). Literal REGISTERs from the
//! test's SIP peer (the phone), answered by our own digest client.

use parley_sip::auth::{Challenge, Credentials, DigestSession, choose};
use parley_sip::wire::{Message as SipWire, StartLine};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::world::{COMPONENT, World, shape};
use crate::users_file::add_user;

/// A world with `[registrar]` and alice (password `wonderland`) in its users file.
pub(super) async fn world_with(sip: &str) -> (World, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users");
    add_user(&users, "alice", COMPONENT, "wonderland").expect("alice added");
    let world = World::with_sip(
        sip,
        &format!(
            "[registrar]\nusers_file = \"{}\"\nmin_expires = 60\n",
            users.display()
        ),
    )
    .await;
    (world, dir)
}

pub(super) fn status(m: &SipWire) -> u16 {
    match &m.start {
        StartLine::Response { status, .. } => *status,
        StartLine::Request { .. } => panic!("a response expected"),
    }
}

/// A REGISTER of alice from `{peer}` (the in-process world fills it in).
pub(super) fn register(branch: &str, cseq: u32, expires: &str, extra: &str) -> String {
    format!(
        "REGISTER sip:{COMPONENT} SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKreg{branch}\n\
         Max-Forwards: 70\n\
         From: <sip:alice@{COMPONENT}>;tag=phone1\n\
         To: <sip:alice@{COMPONENT}>\n\
         Call-ID: alice-registration\n\
         CSeq: {cseq} REGISTER\n\
         Contact: <sip:alice@{{peer}}>\n\
         Expires: {expires}\n\
         {extra}Content-Length: 0\n\n"
    )
}

/// Answers the challenges of `answer` (header `name`) as a phone would.
pub(super) fn authorization(
    answer: &SipWire,
    name: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let challenges: Vec<Challenge> = answer
        .header_values(&ezk_sip_types::Name::from(name.to_owned()))
        .iter()
        .map(|v| Challenge::parse(v).expect("challenge parses"))
        .collect();
    assert_eq!(
        challenges.len(),
        2,
        "SHA-256 and MD5 offered (RFC 8760 §2.3)"
    );
    let chosen = choose(&challenges).expect("a supported challenge").clone();
    let mut session = DigestSession::new(chosen, &mut StdRng::seed_from_u64(9));
    session
        .authorize(
            &Credentials {
                username: "alice".into(),
                password: password.into(),
            },
            method,
            uri,
            b"",
        )
        .expect("authorizes")
}

/// §10.3 steps 3 and 8: REGISTER → 401 (§22.2) → REGISTER with
/// Authorization → 200 listing the binding with its expires; then a
/// MESSAGE from XMPP to alice goes to the registered contact (§10: the
/// location service), To still her address-of-record.
#[tokio::test]
async fn register_is_challenged_then_bound_and_messages_reach_the_contact() {
    let (mut world, _dir) = world_with("").await;
    world.sip_in(&register("b1", 1, "600", "")).await;
    let challenge = world.sip_out().await;
    assert_eq!(status(&challenge), 401);
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "wonderland",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    assert!(auth.contains("algorithm=SHA-256"), "{auth}");
    world
        .sip_in(&register(
            "b2",
            2,
            "600",
            &format!("Authorization: {auth}\n"),
        ))
        .await;
    let ok = world.sip_out().await;
    let peer = world.peer_addr();
    assert_eq!(
        shape(&ok, &["CSeq", "Contact"], false),
        format!("SIP/2.0 200 OK\nCSeq: 2 REGISTER\nContact: <sip:alice@{peer}>;expires=600\n")
    );
    assert!(ok.header("Date").is_some_and(|d| d.ends_with(" GMT")));
    assert_eq!(world.metric("parley_registrar_bindings"), Some(1.0));
    assert_eq!(
        world.metric(r#"parley_registrar_auth_total{outcome="accepted"}"#),
        Some(1.0)
    );

    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='alice@{COMPONENT}'><body>hi</body></message>"
    ));
    let message = world.sip_out().await;
    assert_eq!(
        shape(&message, &["To"], false),
        format!("MESSAGE sip:alice@{peer} SIP/2.0\nTo: <sip:alice@{COMPONENT}>\n")
    );
    world.sip_answer(&message, "200 OK", "").await;

    // RFC 7616 §3.4: the same nonce count again is a replay, challenged anew.
    world
        .sip_in(&register("b3", 3, "0", &format!("Authorization: {auth}\n")))
        .await;
    assert_eq!(status(&world.sip_out().await), 401);
    assert_eq!(
        world.metric(r#"parley_registrar_auth_total{outcome="replay"}"#),
        Some(1.0)
    );
    // §10.3 step 7: the same Call-ID with a CSeq not above the binding's
    // fails, and the binding stays.
    world.sip_in(&register("b4", 4, "0", "")).await;
    let challenge = world.sip_out().await;
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "wonderland",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    world
        .sip_in(&register("b5", 1, "0", &format!("Authorization: {auth}\n")))
        .await;
    assert_eq!(status(&world.sip_out().await), 400);
    assert_eq!(world.metric("parley_registrar_bindings"), Some(1.0));
}

/// §22.2 and §10.3 step 5: a wrong password is challenged again (RFC 7616
/// §3.3: not stale), an unknown user gets 404, and nothing is bound.
#[tokio::test]
async fn wrong_password_is_challenged_again_and_unknown_user_is_404() {
    let (mut world, _dir) = world_with("").await;
    world.sip_in(&register("b1", 1, "600", "")).await;
    let challenge = world.sip_out().await;
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "guess",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    world
        .sip_in(&register(
            "b2",
            2,
            "600",
            &format!("Authorization: {auth}\n"),
        ))
        .await;
    let again = world.sip_out().await;
    assert_eq!(status(&again), 401);
    let values = again.header_values(&ezk_sip_types::Name::from("WWW-Authenticate".to_owned()));
    assert!(!Challenge::parse(&values[0]).expect("parses").stale);
    assert_eq!(world.metric("parley_registrar_bindings"), Some(0.0));
    assert_eq!(
        world.metric(r#"parley_registrar_auth_total{outcome="refused"}"#),
        Some(1.0)
    );

    world
        .sip_in(&register("b3", 3, "600", "").replace(
            &format!("To: <sip:alice@{COMPONENT}>"),
            &format!("To: <sip:mallory@{COMPONENT}>"),
        ))
        .await;
    assert_eq!(status(&world.sip_out().await), 404);
}

/// §10.3 step 7: an expiry under `registrar.min_expires` gets 423 with
/// Min-Expires, and `Expires: 0` removes the binding.
#[tokio::test]
async fn brief_interval_gets_423_and_expires_zero_unbinds() {
    let (mut world, _dir) = world_with("").await;
    world.sip_in(&register("b1", 1, "30", "")).await;
    let challenge = world.sip_out().await;
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "wonderland",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    world
        .sip_in(&register(
            "b2",
            2,
            "30",
            &format!("Authorization: {auth}\n"),
        ))
        .await;
    let brief = world.sip_out().await;
    assert_eq!(
        shape(&brief, &["Min-Expires"], false),
        "SIP/2.0 423 Interval Too Brief\nMin-Expires: 60\n"
    );
    world.sip_in(&register("b3", 3, "300", "")).await;
    let challenge = world.sip_out().await;
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "wonderland",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    world
        .sip_in(&register(
            "b4",
            4,
            "300",
            &format!("Authorization: {auth}\n"),
        ))
        .await;
    assert_eq!(status(&world.sip_out().await), 200);
    assert_eq!(world.metric("parley_registrar_bindings"), Some(1.0));
    world.sip_in(&register("b5", 5, "0", "")).await;
    let challenge = world.sip_out().await;
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "wonderland",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    world
        .sip_in(&register("b6", 6, "0", &format!("Authorization: {auth}\n")))
        .await;
    let unbound = world.sip_out().await;
    assert_eq!(status(&unbound), 200);
    assert_eq!(unbound.header("Contact"), None);
    assert_eq!(world.metric("parley_registrar_bindings"), Some(0.0));
}

fn message_from_alice(cseq: u32, extra: &str) -> String {
    format!(
        "MESSAGE sip:juliet@xmpp.example SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKmsg{cseq}\n\
         Max-Forwards: 70\n\
         To: <sip:juliet@xmpp.example>\n\
         From: <sip:alice@{COMPONENT}>;tag=phone1\n\
         Call-ID: alice-message-{cseq}\n\
         CSeq: {cseq} MESSAGE\n\
         {extra}Content-Type: text/plain\n\
         Content-Length: 2\n\
         \n\
         hi"
    )
}

/// Issue 22 item 4, RFC 3261 §22.3: a MESSAGE from an untrusted source
/// whose From is a registrar user gets 407, not 403; with valid
/// Proxy-Authorization it is delivered. Another user of our domain from
/// there is still refused with 403.
#[tokio::test]
async fn untrusted_message_claiming_a_registrar_user_is_challenged_then_delivered() {
    let (mut world, _dir) = world_with("trusted_peers = []").await;
    world.sip_send(&message_from_alice(1, "")).await;
    assert!(!world.route_sip_if_admitted().await);
    let challenge = world.sip_out().await;
    assert_eq!(status(&challenge), 407);
    let auth = authorization(
        &challenge,
        "Proxy-Authenticate",
        "wonderland",
        "MESSAGE",
        "sip:juliet@xmpp.example",
    );
    world
        .sip_send(&message_from_alice(
            2,
            &format!("Proxy-Authorization: {auth}\n"),
        ))
        .await;
    assert!(world.route_sip_if_admitted().await);
    let stanza = world.stanza_out().await;
    assert!(
        stanza.contains(&format!("from='alice@{COMPONENT}")),
        "{stanza}"
    );

    world
        .sip_send(&message_from_alice(3, "").replace("sip:alice@", "sip:bob@"))
        .await;
    assert!(!world.route_sip_if_admitted().await);
    assert_eq!(status(&world.sip_out().await), 403);
}

/// Sends `request(branch, cseq, extra)`, answers its 401 with alice's
/// credentials and returns the answer to the authorized retry.
pub(super) async fn registered(
    world: &mut World,
    cseq: u32,
    request: impl Fn(&str, u32, &str) -> String,
) -> SipWire {
    world.sip_in(&request(&format!("a{cseq}"), cseq, "")).await;
    let challenge = world.sip_out().await;
    assert_eq!(status(&challenge), 401, "challenged first");
    let auth = authorization(
        &challenge,
        "WWW-Authenticate",
        "wonderland",
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    );
    world
        .sip_in(&request(
            &format!("b{cseq}"),
            cseq + 1,
            &format!("Authorization: {auth}\n"),
        ))
        .await;
    world.sip_out().await
}

/// RFC 3261 §12.2.1.1 against §10: a NOTIFY in the dialog of a
/// subscription alice's phone made goes to the dialog's remote target (the
/// SUBSCRIBE's Contact, here her address-of-record) and is not re-resolved
/// through the location service; an out-of-dialog MESSAGE to the same
/// address-of-record goes to her registered contact.
#[tokio::test]
async fn in_dialog_request_keeps_its_remote_target_out_of_dialog_goes_to_the_contact() {
    let (mut world, _dir) = world_with("").await;
    let ok = registered(&mut world, 1, |b, c, x| register(b, c, "600", x)).await;
    assert_eq!(status(&ok), 200);
    let peer = world.peer_addr();
    world
        .sip_in(&format!(
            "SUBSCRIBE sip:juliet@xmpp.example SIP/2.0\n\
             Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKsub1\n\
             From: <sip:alice@{COMPONENT}>;tag=sub1\n\
             To: <sip:juliet@xmpp.example>\n\
             Call-ID: alice-subscription\n\
             Event: presence\n\
             Max-Forwards: 70\n\
             CSeq: 1 SUBSCRIBE\n\
             Contact: <sip:alice@{COMPONENT}>\n\
             Expires: 600\n\
             Content-Length: 0\n\n"
        ))
        .await;
    assert_eq!(status(&world.sip_out().await), 200);
    let notify = world.sip_out().await;
    assert_eq!(
        shape(&notify, &["Call-ID"], false),
        format!("NOTIFY sip:alice@{COMPONENT} SIP/2.0\nCall-ID: alice-subscription\n"),
        "the remote target, not the contact {peer}"
    );
    world.sip_answer(&notify, "200 OK", "").await;
    let _ask = world.stanza_out().await;

    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='alice@{COMPONENT}'><body>hi</body></message>"
    ));
    let message = world.sip_out().await;
    assert_eq!(
        shape(&message, &["To"], false),
        format!("MESSAGE sip:alice@{peer} SIP/2.0\nTo: <sip:alice@{COMPONENT}>\n")
    );
    world.sip_answer(&message, "200 OK", "").await;
}
