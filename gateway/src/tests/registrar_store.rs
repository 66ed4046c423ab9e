//! Issue 22 item 4 with the store: the registrar's users in `sip_users`
//! (`registrar.users = "store"`), a store that cannot answer (503, RFC 3261
//! §21.5.4), and bindings that survive a restart.

use std::time::Duration;

use parley_sip::auth::server::UserHashes;
use parley_sip::wire::Message as SipWire;

use super::rfc3261_10_3_registrar::{self as registrar_tests, register, status};
use super::world::{COMPONENT, World, shape};
use crate::store::{Admin, Settings, SipUser};

const STORE_USERS: &str = "[registrar]\nusers = \"store\"\nmin_expires = 60\n";

/// The Authorization a phone with `password` sends after the 401 `challenge`.
fn authorization(challenge: &SipWire, password: &str) -> String {
    registrar_tests::authorization(
        challenge,
        "WWW-Authenticate",
        password,
        "REGISTER",
        &format!("sip:{COMPONENT}"),
    )
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

/// `[registrar]` over the users file in `dir` holding alice.
fn file_users(dir: &tempfile::TempDir) -> String {
    let users = dir.path().join("users");
    crate::users_file::add_user(&users, "alice", COMPONENT, "wonderland").expect("alice");
    format!(
        "[registrar]\nusers_file = \"{}\"\nmin_expires = 60\n",
        users.display()
    )
}

/// RFC 3261 §10.3 step 7 ("Each binding record records the Call-ID and
/// CSeq values"): a REGISTER's binding is written to the store with its
/// absolute expiry, Call-ID, CSeq, `+sip.instance`/`reg-id` and source; an
/// un-REGISTER deletes it.
#[tokio::test]
async fn a_binding_is_written_to_the_store_and_deleted_with_it() {
    let users = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("a store directory");
    let mut world = World::persistent_in(dir, &file_users(&users)).await;
    world
        .sip_in(&register("o1", 1, "600", "").replace(
            "Contact: <sip:alice@{peer}>",
            "Contact: <sip:alice@{peer}>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1",
        ))
        .await;
    let challenge = world.sip_out().await;
    let auth = authorization(&challenge, "wonderland");
    world
        .sip_in(
            &register("o2", 2, "600", &format!("Authorization: {auth}\n")).replace(
                "Contact: <sip:alice@{peer}>",
                "Contact: <sip:alice@{peer}>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1",
            ),
        )
        .await;
    assert_eq!(status(&world.sip_out().await), 200);
    world.flush_store().await;
    let now = crate::store::unix_after(Duration::ZERO);
    let rows = world.store().bindings(now).await.expect("readable");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0].row;
    let peer = world.peer_addr();
    assert_eq!(
        (
            row.aor.as_str(),
            row.contact.clone(),
            row.call_id.as_str(),
            row.cseq
        ),
        (
            "alice@sip.example.net",
            format!("sip:alice@{peer}"),
            "alice-registration",
            2
        )
    );
    assert!((now + 598..=now + 601).contains(&row.expires_at), "{row:?}");
    assert_eq!(
        row.sip_instance.as_deref(),
        Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
    );
    assert_eq!(row.reg_id, Some(1));
    assert!(
        row.received
            .as_deref()
            .is_some_and(|r| r.contains(&peer.to_string())),
        "{row:?}"
    );

    assert_eq!(
        status(&register_with(&mut world, 3, "0", "wonderland").await),
        200
    );
    world.flush_store().await;
    assert!(
        world
            .store()
            .bindings(now)
            .await
            .expect("readable")
            .is_empty()
    );
}

/// A restart keeps the bindings (RFC 3261 §10.3: the location service
/// outlives the process), with their Call-ID and CSeq (step 7 still
/// refuses an older REGISTER), and drops those that ended meanwhile.
#[tokio::test]
async fn bindings_survive_a_restart_and_ended_ones_are_dropped() {
    let users = tempfile::tempdir().expect("tempdir");
    let now = crate::store::unix_after(Duration::ZERO);
    let mut world = World::over_store(&file_users(&users), |peer, store| {
        let row = |user: &str, expires_at| crate::store::BindingRow {
            aor: format!("{user}@{COMPONENT}"),
            contact: format!("sip:{user}@{peer}"),
            expires_at,
            call_id: "alice-registration".into(),
            cseq: 50,
            sip_instance: None,
            reg_id: None,
            received: None,
        };
        store.put_binding(row("alice", now + 600));
        store.put_binding(row("bob", now.saturating_sub(1)));
    })
    .await;
    let peer = world.peer_addr();
    // The poller takes the bindings up within its first poll.
    tokio::time::sleep(crate::registrar::POLL).await;
    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='alice@{COMPONENT}'><body>hi</body></message>"
    ));
    let message = world.sip_out().await;
    assert_eq!(
        shape(&message, &["To"], false),
        format!("MESSAGE sip:alice@{peer} SIP/2.0\nTo: <sip:alice@{COMPONENT}>\n")
    );
    world.sip_answer(&message, "200 OK", "").await;
    // Bob's binding had ended: his message goes to the outbound proxy by AOR.
    world.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='bob@{COMPONENT}'><body>hi</body></message>"
    ));
    let message = world.sip_out().await;
    assert!(
        shape(&message, &[], false).starts_with(&format!("MESSAGE sip:bob@{COMPONENT} SIP/2.0")),
        "{}",
        shape(&message, &[], false)
    );
    world.sip_answer(&message, "200 OK", "").await;
    // §10.3 step 7: the restored Call-ID and CSeq still order REGISTERs.
    assert_eq!(
        status(&register_with(&mut world, 10, "0", "wonderland").await),
        400
    );
    world.reap_after(Duration::ZERO);
    assert_eq!(world.metric("parley_registrar_bindings"), Some(1.0));
}

/// Two instances on one PostgreSQL store (the harness's, on loopback) with
/// `registrar.users = "store"`: a user added once registers at either; a
/// phone registered through instance A is reached by an XMPP user's message
/// that instance B carries (B routes by A's binding, read within a poll);
/// un-REGISTERed through B, A forgets its own copy too;
/// the database stopped, REGISTER gets 503 + Retry-After once the users'
/// copy is stale, never 200, and the gateway stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_registered_at_one_instance_is_reached_through_another() {
    let mut pg = parley_harness::postgres::Postgres::start();
    let store = |id: &str| {
        format!(
            "[store]\nurl = \"{}\"\ninstance = \"{id}\"\n\n{STORE_USERS}",
            pg.url()
        )
    };
    let settings = toml::from_str::<crate::config::StoreConfig>(&format!("url = \"{}\"", pg.url()))
        .expect("store section")
        .settings();
    let admin = Admin::open(&settings)
        .await
        .expect("the shared store opens");
    admin.put_user(&alice("wonderland")).await.expect("alice");
    admin.close().await;

    let mut a = World::with("", &store("a")).await;
    let mut b = World::with("", &store("b")).await;
    assert_eq!(status(&first_challenge(&mut a).await), 401);
    assert_eq!(
        status(&register_with(&mut a, 1, "600", "wonderland").await),
        200
    );
    a.flush_store().await;
    let phone = a.peer_addr();

    // B learns the binding within a poll or two.
    tokio::time::sleep(crate::registrar::POLL * 3).await;
    b.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='alice@{COMPONENT}'><body>via b</body></message>"
    ));
    // B's next hop is its outbound proxy (its test peer); the Request-URI
    // is the contact A bound (RFC 3261 §10: the location service).
    let message = b.sip_out().await;
    assert_eq!(
        shape(&message, &["To"], false),
        format!("MESSAGE sip:alice@{phone} SIP/2.0\nTo: <sip:alice@{COMPONENT}>\n")
    );
    assert!(
        String::from_utf8_lossy(&message.body).contains("via b"),
        "{message:?}"
    );
    b.sip_answer(&message, "200 OK", "").await;

    // The phone un-REGISTERs that contact through B: A, which bound it,
    // drops its own copy once the store shows it gone, and routes by AOR.
    let contact = format!("Contact: <sip:alice@{phone}>");
    b.sip_in(&register("u1", 30, "0", "").replace("Contact: <sip:alice@{peer}>", &contact))
        .await;
    let auth = authorization(&b.sip_out().await, "wonderland");
    b.sip_in(
        &register("u2", 31, "0", &format!("Authorization: {auth}\n"))
            .replace("Contact: <sip:alice@{peer}>", &contact),
    )
    .await;
    assert_eq!(status(&b.sip_out().await), 200);
    b.flush_store().await;
    tokio::time::sleep(crate::registrar::GRACE + crate::registrar::POLL * 2).await;
    a.stanza_in(&format!(
        "<message from='juliet@xmpp.example/balcony' to='alice@{COMPONENT}'><body>gone</body></message>"
    ));
    let message = a.sip_out().await;
    assert!(
        shape(&message, &[], false).starts_with(&format!("MESSAGE sip:alice@{COMPONENT} SIP/2.0")),
        "{}",
        shape(&message, &[], false)
    );
    a.sip_answer(&message, "200 OK", "").await;

    // The database stops answering: after the users' copy is stale, 503.
    pg.pause();
    tokio::time::sleep(crate::registrar::STORE_STALE + crate::registrar::POLL * 2).await;
    b.sip_in(&register("down", 20, "600", "")).await;
    let answer = b.sip_out().await;
    assert_eq!(status(&answer), 503);
    assert!(answer.header("Retry-After").is_some());
    pg.start_again();
}
