//! Issue 22 item 4 with the store: the registrar's users in `sip_users`
//! (`registrar.users = "store"`), a store that cannot answer (503, RFC 3261
//! §21.5.4), and bindings that survive a restart.

use std::time::Duration;

use parley_sip::auth::server::UserHashes;
use parley_sip::auth::{Challenge, Credentials, DigestSession, choose};
use parley_sip::wire::{Message as SipWire, StartLine};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::world::{COMPONENT, World};
use crate::store::{Admin, Settings, SipUser};

const STORE_USERS: &str = "[registrar]\nusers = \"store\"\nmin_expires = 60\n";

fn status(m: &SipWire) -> u16 {
    match &m.start {
        StartLine::Response { status, .. } => *status,
        StartLine::Request { .. } => panic!("a response expected"),
    }
}

fn register(branch: &str, cseq: u32, expires: &str, extra: &str) -> String {
    format!(
        "REGISTER sip:{COMPONENT} SIP/2.0\n\
         Via: SIP/2.0/UDP {{peer}};branch=z9hG4bKst{branch}\n\
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

/// The Authorization a phone with `password` sends after `challenge`.
fn authorization(challenge: &SipWire, password: &str) -> String {
    let challenges: Vec<Challenge> = challenge
        .header_values(&ezk_sip_types::Name::from("WWW-Authenticate".to_owned()))
        .iter()
        .map(|v| Challenge::parse(v).expect("challenge parses"))
        .collect();
    let chosen = choose(&challenges).expect("a supported challenge").clone();
    DigestSession::new(chosen, &mut StdRng::seed_from_u64(3))
        .authorize(
            &Credentials {
                username: "alice".into(),
                password: password.into(),
            },
            "REGISTER",
            &format!("sip:{COMPONENT}"),
            b"",
        )
        .expect("authorizes")
}

/// REGISTER (CSeq `cseq`) answered with a challenge, then again with
/// credentials; the final answer.
async fn register_with(world: &mut World, cseq: u32, expires: &str, password: &str) -> SipWire {
    world
        .sip_in(&register(&format!("{cseq}a"), cseq, expires, ""))
        .await;
    let challenge = world.sip_out().await;
    assert_eq!(status(&challenge), 401);
    let auth = authorization(&challenge, password);
    world
        .sip_in(&register(
            &format!("{cseq}b"),
            cseq + 1,
            expires,
            &format!("Authorization: {auth}\n"),
        ))
        .await;
    world.sip_out().await
}

fn alice(password: &str) -> SipUser {
    SipUser {
        username: "alice".into(),
        realm: COMPONENT.into(),
        hashes: UserHashes::from_password("alice", COMPONENT, password),
    }
}

/// A store directory whose `sip_users` holds alice (password `wonderland`).
async fn store_with_alice() -> (tempfile::TempDir, Admin) {
    let dir = tempfile::tempdir().expect("a store directory");
    let admin = Admin::open(&Settings::embedded(dir.path()))
        .await
        .expect("the store opens");
    admin.put_user(&alice("wonderland")).await.expect("alice");
    (dir, admin)
}

/// Until the registrar's poller has read the users, REGISTER gets 503
/// (RFC 3261 §21.5.4); the first answer that is not.
async fn first_challenge(world: &mut World) -> SipWire {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut cseq = 100;
    loop {
        world
            .sip_in(&register(&format!("w{cseq}"), cseq, "600", ""))
            .await;
        let answer = world.sip_out().await;
        if status(&answer) != 503 || tokio::time::Instant::now() > deadline {
            return answer;
        }
        cseq += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `registrar.users = "store"`: a user added to `sip_users` registers, one
/// changed there is seen within the poll, one removed gets 404.
#[tokio::test]
async fn users_in_the_store_register_and_changes_are_seen_without_a_restart() {
    let (dir, admin) = store_with_alice().await;
    let mut world = World::persistent_in(dir, STORE_USERS).await;
    assert_eq!(status(&first_challenge(&mut world).await), 401);
    assert_eq!(
        status(&register_with(&mut world, 1, "600", "wonderland").await),
        200
    );

    admin
        .put_user(&alice("looking-glass"))
        .await
        .expect("new password");
    tokio::time::sleep(crate::registrar::POLL * 2).await;
    assert_eq!(
        status(&register_with(&mut world, 3, "600", "wonderland").await),
        401
    );
    assert_eq!(
        status(&register_with(&mut world, 5, "600", "looking-glass").await),
        200
    );

    assert!(
        admin
            .remove_user("alice", COMPONENT)
            .await
            .expect("removed")
    );
    tokio::time::sleep(crate::registrar::POLL * 2).await;
    world.sip_in(&register("gone", 7, "600", "")).await;
    assert_eq!(status(&world.sip_out().await), 404);
    admin.close().await;
}

/// RFC 3261 §21.5.4: with the users in a store that cannot be read (here
/// one running without persistence), REGISTER gets 503 with Retry-After,
/// not 404 and never 200, and the gateway goes on.
#[tokio::test]
async fn users_that_cannot_be_read_answer_register_503_with_retry_after() {
    let mut world = World::with("", STORE_USERS).await;
    world.sip_in(&register("x1", 1, "600", "")).await;
    let answer = world.sip_out().await;
    assert_eq!(status(&answer), 503);
    assert_eq!(
        answer.header("Retry-After").as_deref(),
        Some(crate::registrar::RETRY_AFTER_SECS.to_string().as_str())
    );
    assert_eq!(
        world.metric(r#"parley_registrar_auth_total{outcome="unavailable"}"#),
        Some(1.0)
    );
    world.sip_in(&register("x2", 2, "600", "")).await;
    assert_eq!(status(&world.sip_out().await), 503);
}
