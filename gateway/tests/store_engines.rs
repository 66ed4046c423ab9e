//! The store on both engines (design §4, §4a; issue 25): the same tests run
//! against the embedded SQLite file and a real PostgreSQL started by the
//! harness; the ownership tests (leases, claims, fencing, steals, hand-offs)
//! run where instances share a store, on PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use parley_gateway::config::StoreConfig;
use parley_gateway::store::{
    Loaded, Opened, Owner, RowKind, Settings, Store, StoreEvent, StoreTask, StoreUrl, WatchRow,
    WatcherRow,
};
use parley_harness::postgres::Postgres;
use parley_sip::dialog::{Dialog, DialogId};

/// Where a test's store lives.
enum Engine {
    Sqlite(tempfile::TempDir),
    Postgres(Postgres),
}

impl Engine {
    fn sqlite() -> Engine {
        Engine::Sqlite(tempfile::tempdir().expect("a store directory"))
    }

    fn postgres() -> Engine {
        Engine::Postgres(Postgres::start())
    }

    /// The store settings of instance `instance` (`None`: a minted id), with
    /// a lease of `lease_ms`.
    fn config(&self, instance: Option<&str>, lease_ms: u64) -> Settings {
        let mut settings = match self {
            Engine::Sqlite(dir) => Settings::embedded(dir.path()),
            Engine::Postgres(pg) => Settings {
                url: url(&pg.url()),
                ..Settings::embedded(Path::new("/nonexistent"))
            },
        };
        settings.instance = instance.map(str::to_owned);
        settings.lease = Duration::from_millis(lease_ms);
        settings
    }

    async fn open(&self) -> (Store, StoreTask, Loaded, Opened) {
        Store::open(&self.config(None, 10_000), |_| {}).await
    }
}

fn url(text: &str) -> StoreUrl {
    toml::from_str::<StoreConfig>(&format!("url = \"{text}\""))
        .expect("a store url")
        .url
}

fn dialog(call_id: &str) -> Dialog {
    Dialog {
        id: DialogId {
            call_id: call_id.into(),
            local_tag: "l1".into(),
            remote_tag: "r1".into(),
        },
        local_uri: "sip:juliet@xmpp.example".into(),
        remote_uri: "sip:bob@sip.example.net".into(),
        remote_target: "sip:bob@127.0.0.1:5062".into(),
        route_set: vec!["<sip:p1.example;lr>".into(), "<sip:p2.example;lr>".into()],
        local_seq: 7,
        remote_seq: Some(3),
    }
}

fn watch(call_id: &str) -> WatchRow {
    WatchRow {
        call_id: call_id.into(),
        watcher: "juliet@xmpp.example".into(),
        contact: format!("bob-{call_id}@sip.example.net"),
        expires_at: 1_900_000_000,
        last_pidf: None,
        dialog: Some(dialog(call_id)),
    }
}

fn watcher(call_id: &str) -> WatcherRow {
    WatcherRow {
        call_id: call_id.into(),
        watcher: format!("bob-{call_id}@sip.example.net"),
        target: "juliet@xmpp.example".into(),
        expires_at: 1_900_000_000,
        active: true,
        last_pidf: Some("<presence/>".into()),
        dialog: dialog(call_id),
    }
}

fn sorted(loaded: &Loaded) -> (Vec<WatchRow>, Vec<WatcherRow>) {
    let mut watches = loaded.watches.clone();
    watches.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    let mut watchers = loaded.watchers.clone();
    watchers.sort_by(|a, b| a.call_id.cmp(&b.call_id));
    (watches, watchers)
}

/// The next event within 5 s.
async fn next_event(events: &mut mpsc::Receiver<StoreEvent>) -> StoreEvent {
    timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("a store event within 5 s")
        .expect("the events channel is open")
}

/// Events until `wanted` arrives (within 5 s); panics if it does not.
async fn wait_for(events: &mut mpsc::Receiver<StoreEvent>, wanted: &StoreEvent) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, events.recv()).await {
            Ok(Some(event)) if &event == wanted => return,
            Ok(Some(_)) => {}
            Ok(None) => panic!("events ended before {wanted:?}"),
            Err(_) => panic!("no {wanted:?} within 5 s"),
        }
    }
}

/// Runs each named test body on both engines.
macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Engine::sqlite()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Engine::postgres()).await;
                }
            )+
        }
    };
}

on_both_engines!(
    rows_written_are_loaded_after_reopen_in_both_directions,
    owners_are_found_by_the_pair,
    handoffs_come_back_oldest_first_and_once,
    a_schema_from_a_newer_parley_is_left_untouched,
    a_v1_store_migrates_keeping_its_rows,
    a_refresh_moves_only_the_expiry_and_the_cseq,
);

async fn rows_written_are_loaded_after_reopen_in_both_directions(engine: Engine) {
    let (store, task, loaded, opened) = engine.open().await;
    assert_eq!(opened, Opened::Persistent);
    assert!(store.is_persistent());
    assert_eq!(store.is_shared(), matches!(engine, Engine::Postgres(_)));
    assert!(loaded.is_empty());
    store.put_watch(watch("c1"));
    store.put_watch(WatchRow {
        dialog: None,
        ..watch("c2")
    });
    store.put_watch(WatchRow {
        dialog: None,
        ..watch("c5")
    });
    store.delete_watch("c5");
    // An update in place keeps one row.
    store.put_watch(WatchRow {
        last_pidf: Some("<pidf/>".into()),
        dialog: None,
        ..watch("c2")
    });
    store.put_watcher(watcher("c3"));
    store.put_watcher(watcher("c4"));
    store.delete_watcher("c4");
    task.close(&store).await;

    let (store, task, loaded, opened) = engine.open().await;
    assert_eq!(opened, Opened::Persistent);
    let (watches, watchers) = sorted(&loaded);
    assert_eq!(
        watches,
        vec![
            watch("c1"),
            WatchRow {
                dialog: None,
                last_pidf: Some("<pidf/>".into()),
                ..watch("c2")
            }
        ]
    );
    assert_eq!(watchers, vec![watcher("c3")]);
    task.close(&store).await;
}

/// A refresh in the dialog (`Store::refresh_watch`) changes the expiry and
/// our CSeq and nothing else of the row; it never makes a row that is not
/// there.
async fn a_refresh_moves_only_the_expiry_and_the_cseq(engine: Engine) {
    let (store, task, _, _) = engine.open().await;
    store.put_watch(WatchRow {
        last_pidf: Some("<pidf/>".into()),
        ..watch("c1")
    });
    store.refresh_watch("c1", 1_900_003_600, 8);
    store.refresh_watch("c1", 1_900_007_200, 9);
    store.refresh_watch("gone", 1_900_003_600, 2);
    task.close(&store).await;

    let (store, task, loaded, _) = engine.open().await;
    let mut dialog = dialog("c1");
    dialog.local_seq = 9;
    assert_eq!(
        sorted(&loaded).0,
        vec![WatchRow {
            expires_at: 1_900_007_200,
            last_pidf: Some("<pidf/>".into()),
            dialog: Some(dialog),
            ..watch("c1")
        }]
    );
    task.close(&store).await;
}

async fn owners_are_found_by_the_pair(engine: Engine) {
    let (store, task, _, _) = engine.open().await;
    store.put_watch(watch("c1"));
    store.put_watcher(watcher("c2"));
    store.flush().await;
    let me = |call_id: &str| {
        Some(Owner {
            id: Some(store.instance_id().to_owned()),
            live: true,
            call_id: call_id.into(),
        })
    };
    let w = watch("c1");
    assert_eq!(
        store.owner_of_watch(&w.watcher, &w.contact).await.unwrap(),
        me("c1")
    );
    let w = watcher("c2");
    assert_eq!(
        store.owner_of_watcher(&w.watcher, &w.target).await.unwrap(),
        me("c2")
    );
    assert_eq!(
        store
            .owner_of_watch("nobody@xmpp.example", "bob@sip.example.net")
            .await
            .unwrap(),
        None
    );
    task.close(&store).await;
}

async fn handoffs_come_back_oldest_first_and_once(engine: Engine) {
    let (store, task, _, _) = engine.open().await;
    let me = store.instance_id().to_owned();
    for payload in [b"first".to_vec(), b"second".to_vec(), vec![0, 255, 1]] {
        store.hand_off(&me, payload).await.unwrap();
    }
    store
        .hand_off("someone-else", b"not mine".to_vec())
        .await
        .unwrap();
    assert_eq!(
        store.take_handoffs().await.unwrap(),
        vec![b"first".to_vec(), b"second".to_vec(), vec![0, 255, 1]]
    );
    assert!(store.take_handoffs().await.unwrap().is_empty());
    task.close(&store).await;
}

/// A newer schema is never migrated or removed. SQLite runs without
/// persistence (as before issue 25); PostgreSQL waits for a Parley that knows
/// it (an instance on a shared store never runs memory-only), and opens once
/// the database is one it knows.
async fn a_schema_from_a_newer_parley_is_left_untouched(engine: Engine) {
    let (store, task, _, _) = engine.open().await;
    task.close(&store).await;
    match &engine {
        Engine::Sqlite(dir) => {
            let file = dir.path().join("parley.sqlite3");
            let mut conn = sqlite(&file).await;
            sqlx::raw_sql("PRAGMA user_version = 99")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            let (store, _task, _, opened) = engine.open().await;
            assert_eq!(opened, Opened::MemoryOnly);
            assert!(!store.is_persistent());
            assert!(
                file.exists(),
                "the newer store must not be moved or deleted"
            );
        }
        Engine::Postgres(pg) => {
            let mut conn = postgres(pg).await;
            let known: i64 = sqlx::query_scalar("SELECT version FROM parley_schema")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            sqlx::raw_sql("UPDATE parley_schema SET version = 99")
                .execute(&mut conn)
                .await
                .unwrap();
            let errors = Arc::new(Mutex::new(Vec::new()));
            let seen = Arc::clone(&errors);
            let config = engine.config(None, 10_000);
            let opening = tokio::spawn(async move {
                Store::open(&config, move |kind| seen.lock().unwrap().push(kind)).await
            });
            let deadline = Instant::now() + Duration::from_secs(5);
            while errors.lock().unwrap().is_empty() {
                assert!(Instant::now() < deadline, "no error counted within 5 s");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(!opening.is_finished(), "opened a newer schema");
            assert_eq!(errors.lock().unwrap()[0], "store_unreachable");
            let version: i64 = sqlx::query_scalar("SELECT version FROM parley_schema")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(version, 99, "the newer schema was touched");
            sqlx::query("UPDATE parley_schema SET version = $1")
                .bind(known)
                .execute(&mut conn)
                .await
                .unwrap();
            let (store, task, _, opened) = timeout(Duration::from_secs(10), opening)
                .await
                .expect("opened once the schema is known")
                .unwrap();
            assert_eq!(opened, Opened::Persistent);
            task.close(&store).await;
        }
    }
}

/// A store written by a v1 Parley (no owners, no instances): its rows are
/// claimed by the first instance that opens it, dialogs intact.
async fn a_v1_store_migrates_keeping_its_rows(engine: Engine) {
    let v1_rows = "INSERT INTO watches VALUES ('w1', 'juliet@xmpp.example', 'bob-w1@sip.example.net',
            1900000000, NULL, 'l1', 'r1', 'sip:juliet@xmpp.example', 'sip:bob@sip.example.net',
            'sip:bob@127.0.0.1:5062', '<sip:p1.example;lr>' || char(10) || '<sip:p2.example;lr>', 7, 3);
        INSERT INTO watchers VALUES ('w2', 'bob-w2@sip.example.net', 'juliet@xmpp.example',
            1900000000, 1, '<presence/>', 'l1', 'r1', 'sip:juliet@xmpp.example', 'sip:bob@sip.example.net',
            'sip:bob@127.0.0.1:5062', '<sip:p1.example;lr>' || char(10) || '<sip:p2.example;lr>', 7, 3);";
    let v1_tables = "CREATE TABLE watches (call_id TEXT PRIMARY KEY, watcher TEXT NOT NULL,
            contact TEXT NOT NULL, expires_at BIGINT NOT NULL, last_pidf TEXT,
            d_local_tag TEXT, d_remote_tag TEXT, d_local_uri TEXT, d_remote_uri TEXT,
            d_remote_target TEXT, d_route_set TEXT, d_local_seq BIGINT, d_remote_seq BIGINT);
        CREATE TABLE watchers (call_id TEXT PRIMARY KEY, watcher TEXT NOT NULL,
            target TEXT NOT NULL, expires_at BIGINT NOT NULL, active BIGINT NOT NULL, last_pidf TEXT,
            d_local_tag TEXT, d_remote_tag TEXT, d_local_uri TEXT, d_remote_uri TEXT,
            d_remote_target TEXT, d_route_set TEXT, d_local_seq BIGINT, d_remote_seq BIGINT);";
    match &engine {
        Engine::Sqlite(dir) => {
            let mut conn = sqlite(&dir.path().join("parley.sqlite3")).await;
            // v1 as released, with its own INTEGER columns.
            sqlx::raw_sql(sqlx::AssertSqlSafe(v1_tables.replace("BIGINT", "INTEGER")))
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::raw_sql(v1_rows).execute(&mut conn).await.unwrap();
            sqlx::raw_sql("PRAGMA user_version = 1")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        Engine::Postgres(pg) => {
            let mut conn = postgres(pg).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "{v1_tables} CREATE TABLE parley_schema (version BIGINT NOT NULL);
                 INSERT INTO parley_schema VALUES (1); {}",
                v1_rows.replace("char(10)", "chr(10)")
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    let (store, task, loaded, opened) = engine.open().await;
    assert_eq!(opened, Opened::Persistent);
    let (watches, watchers) = sorted(&loaded);
    assert_eq!(
        watches,
        vec![WatchRow {
            contact: "bob-w1@sip.example.net".into(),
            ..watch("w1")
        }]
    );
    assert_eq!(watchers, vec![watcher("w2")]);
    let w = watcher("w2");
    assert_eq!(
        store.owner_of_watcher(&w.watcher, &w.target).await.unwrap(),
        Some(Owner {
            id: Some(store.instance_id().to_owned()),
            live: true,
            call_id: "w2".into(),
        })
    );
    task.close(&store).await;
}

/// SQLite is one instance: nothing is ever orphaned, and no event comes.
#[tokio::test]
async fn sqlite_has_no_orphans_and_no_events() {
    let engine = Engine::sqlite();
    let (store, task, _, _) = engine.open().await;
    store.put_watch(watch("c1"));
    store.flush().await;
    assert!(store.claim_orphans(100).await.unwrap().is_empty());
    let mut events = store.take_events().expect("the events, once");
    assert!(store.take_events().is_none());
    assert!(
        timeout(Duration::from_millis(200), events.recv())
            .await
            .is_err(),
        "SQLite sent an event"
    );
    task.close(&store).await;
}

async fn sqlite(file: &Path) -> sqlx::SqliteConnection {
    sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true),
    )
    .await
    .expect("open the SQLite file")
}

async fn postgres(pg: &Postgres) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(&pg.url())
        .await
        .expect("connect to the test PostgreSQL")
}

/// Two instances on one PostgreSQL, `lease_ms` each.
async fn pair(engine: &Engine, lease_ms: u64) -> ((Store, StoreTask), (Store, StoreTask)) {
    let (a, a_task, _, _) = Store::open(&engine.config(Some("a"), lease_ms), |_| {}).await;
    let (b, b_task, _, _) = Store::open(&engine.config(Some("b"), lease_ms), |_| {}).await;
    ((a, a_task), (b, b_task))
}

/// A's lease runs out (it stopped renewing: as if killed); B claims A's rows
/// with their dialogs, and A, still alive after all, is told it lost them.
#[tokio::test]
async fn an_expired_lease_lets_another_instance_claim_the_rows() {
    let engine = Engine::postgres();
    let ((a, _a_task), (b, b_task)) = pair(&engine, 1000).await;
    let mut a_events = a.take_events().unwrap();
    // A listens once its listener reports the first Handoff.
    wait_for(&mut a_events, &StoreEvent::Handoff).await;
    a.put_watch(watch("c1"));
    a.put_watcher(watcher("c2"));
    a.flush().await;
    // A's lease is live: nothing to claim yet.
    assert!(b.claim_orphans(100).await.unwrap().is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    let claimed = loop {
        b.renew_lease().await.unwrap();
        let claimed = b.claim_orphans(100).await.unwrap();
        if !claimed.is_empty() {
            break claimed;
        }
        assert!(
            Instant::now() < deadline,
            "A's rows not claimable within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(sorted(&claimed), (vec![watch("c1")], vec![watcher("c2")]));
    let b_owns = Some(Owner {
        id: Some("b".into()),
        live: true,
        call_id: "c1".into(),
    });
    let w = watch("c1");
    assert_eq!(
        a.owner_of_watch(&w.watcher, &w.contact).await.unwrap(),
        b_owns
    );
    let mut lost = HashSet::new();
    while lost.len() < 2 {
        match next_event(&mut a_events).await {
            StoreEvent::Lost { kind, call_id } => {
                lost.insert((kind, call_id));
            }
            StoreEvent::Handoff | StoreEvent::Released => {}
        }
    }
    assert_eq!(
        lost,
        HashSet::from([
            (RowKind::Watch, "c1".into()),
            (RowKind::Watcher, "c2".into())
        ])
    );
    // A renews late: it hears its lease had lapsed.
    assert_eq!(
        a.renew_lease().await.unwrap(),
        parley_gateway::store::Renewal::Lapsed
    );
    assert_eq!(
        b.renew_lease().await.unwrap(),
        parley_gateway::store::Renewal::Renewed
    );
    b_task.close(&b).await;
}

/// Two survivors claiming a dead instance's rows at the same time split them:
/// every row goes to exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_claiming_at_once_split_the_rows_without_overlap() {
    let engine = Engine::postgres();
    let Engine::Postgres(pg) = &engine else {
        unreachable!()
    };
    let (b, b_task, _, _) = Store::open(&engine.config(Some("b"), 10_000), |_| {}).await;
    let (c, c_task, _, _) = Store::open(&engine.config(Some("c"), 10_000), |_| {}).await;
    let (a, a_task, _, _) = Store::open(&engine.config(Some("a"), 10_000), |_| {}).await;
    for i in 0..300 {
        a.put_watch(watch(&format!("w{i:03}")));
        a.put_watcher(watcher(&format!("s{i:03}")));
    }
    a.flush().await;
    // A dies (its rows now belong to an instance with no lease).
    drop(a_task);
    let mut conn = postgres(pg).await;
    sqlx::raw_sql("UPDATE watches SET owner = 'dead'; UPDATE watchers SET owner = 'dead'")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut by_b = Vec::new();
    let mut by_c = Vec::new();
    loop {
        let (from_b, from_c) = tokio::join!(b.claim_orphans(40), c.claim_orphans(40));
        let (from_b, from_c) = (from_b.unwrap(), from_c.unwrap());
        if from_b.is_empty() && from_c.is_empty() {
            break;
        }
        by_b.push(from_b);
        by_c.push(from_c);
    }
    let ids = |all: &[Loaded]| -> Vec<String> {
        all.iter()
            .flat_map(|l| {
                l.watches
                    .iter()
                    .map(|w| w.call_id.clone())
                    .chain(l.watchers.iter().map(|w| w.call_id.clone()))
            })
            .collect()
    };
    let (b_ids, c_ids) = (ids(&by_b), ids(&by_c));
    let b_set: HashSet<_> = b_ids.iter().cloned().collect();
    let c_set: HashSet<_> = c_ids.iter().cloned().collect();
    assert_eq!(b_set.len(), b_ids.len(), "B claimed a row twice");
    assert_eq!(c_set.len(), c_ids.len(), "C claimed a row twice");
    assert!(b_set.is_disjoint(&c_set), "a row claimed by both");
    assert_eq!(b_set.len() + c_set.len(), 600, "every row claimed");
    assert!(
        !b_set.is_empty() && !c_set.is_empty(),
        "one of them claimed nothing: {} / {}",
        b_set.len(),
        c_set.len()
    );
    b_task.close(&b).await;
    c_task.close(&c).await;
}

/// A write to a row another instance owns changes nothing and is reported.
#[tokio::test]
async fn writes_to_a_row_owned_elsewhere_are_fenced_and_reported() {
    let engine = Engine::postgres();
    let Engine::Postgres(pg) = &engine else {
        unreachable!()
    };
    let (a, a_task, _, _) = engine.open().await;
    let mut events = a.take_events().unwrap();
    a.put_watch(watch("c1"));
    a.put_watcher(watcher("c2"));
    a.flush().await;
    let mut conn = postgres(pg).await;
    sqlx::raw_sql("UPDATE watches SET owner = 'other'; UPDATE watchers SET owner = 'other'")
        .execute(&mut conn)
        .await
        .unwrap();
    a.put_watch(WatchRow {
        last_pidf: Some("<changed/>".into()),
        ..watch("c1")
    });
    a.delete_watcher("c2");
    a.refresh_watch("c1", 1_950_000_000, 99);
    a.flush().await;
    let pidf: Option<String> =
        sqlx::query_scalar("SELECT last_pidf FROM watches WHERE call_id = 'c1'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(pidf, None, "a fenced write changed the row");
    let expires: i64 = sqlx::query_scalar("SELECT expires_at FROM watches WHERE call_id = 'c1'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(expires, 1_900_000_000, "a fenced refresh changed the row");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM watchers WHERE call_id = 'c2'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 1, "a fenced delete removed the row");
    wait_for(
        &mut events,
        &StoreEvent::Lost {
            kind: RowKind::Watch,
            call_id: "c1".into(),
        },
    )
    .await;
    wait_for(
        &mut events,
        &StoreEvent::Lost {
            kind: RowKind::Watcher,
            call_id: "c2".into(),
        },
    )
    .await;
    // The refresh, fenced after the delete.
    wait_for(
        &mut events,
        &StoreEvent::Lost {
            kind: RowKind::Watch,
            call_id: "c1".into(),
        },
    )
    .await;
    a_task.close(&a).await;
}

/// A clean stop hands the lease back: the other instance hears it and claims
/// at once, long before the 60 s lease would have run out.
#[tokio::test]
async fn release_lets_another_instance_claim_at_once() {
    let engine = Engine::postgres();
    let ((a, a_task), (b, b_task)) = pair(&engine, 60_000).await;
    let mut b_events = b.take_events().unwrap();
    // B's listener reports a first Handoff once it listens; a release
    // before that would go unheard (B would claim at its next poll).
    wait_for(&mut b_events, &StoreEvent::Handoff).await;
    a.put_watch(watch("c1"));
    assert!(b.claim_orphans(100).await.unwrap().is_empty());
    a_task.close(&a).await;
    wait_for(&mut b_events, &StoreEvent::Released).await;
    let claimed = b.claim_orphans(100).await.unwrap();
    assert_eq!(claimed.watches, vec![watch("c1")]);
    b_task.close(&b).await;
}

/// An in-dialog request reached B: B takes that one row over, A is told at
/// once, and A's other rows stay A's.
#[tokio::test]
async fn a_steal_moves_one_row_and_tells_its_owner() {
    let engine = Engine::postgres();
    let ((a, a_task), (b, b_task)) = pair(&engine, 10_000).await;
    let mut a_events = a.take_events().unwrap();
    // A listens once its listener reports the first Handoff.
    wait_for(&mut a_events, &StoreEvent::Handoff).await;
    a.put_watch(watch("c1"));
    a.put_watch(watch("c2"));
    a.put_watcher(watcher("c3"));
    a.flush().await;
    let (row, previous) = b.steal_watch("c1").await.unwrap().expect("the row");
    assert_eq!((row, previous.as_deref()), (watch("c1"), Some("a")));
    let (row, previous) = b.steal_watcher("c3").await.unwrap().expect("the row");
    assert_eq!((row, previous.as_deref()), (watcher("c3"), Some("a")));
    assert!(b.steal_watch("no-such-call").await.unwrap().is_none());
    wait_for(
        &mut a_events,
        &StoreEvent::Lost {
            kind: RowKind::Watch,
            call_id: "c1".into(),
        },
    )
    .await;
    wait_for(
        &mut a_events,
        &StoreEvent::Lost {
            kind: RowKind::Watcher,
            call_id: "c3".into(),
        },
    )
    .await;
    let owner = |id: &str, call_id: &str| {
        Some(Owner {
            id: Some(id.into()),
            live: true,
            call_id: call_id.into(),
        })
    };
    let (w1, w2) = (watch("c1"), watch("c2"));
    assert_eq!(
        b.owner_of_watch(&w1.watcher, &w1.contact).await.unwrap(),
        owner("b", "c1")
    );
    assert_eq!(
        b.owner_of_watch(&w2.watcher, &w2.contact).await.unwrap(),
        owner("a", "c2")
    );
    // Stealing back from oneself tells nobody.
    let (_, previous) = b.steal_watch("c1").await.unwrap().expect("the row");
    assert_eq!(previous, None);
    a_task.close(&a).await;
    b_task.close(&b).await;
}

/// Work for A that reached B: B hands it off through the store, A hears
/// `Handoff` and takes it, oldest first.
#[tokio::test]
async fn a_handoff_reaches_its_owner_with_an_event() {
    let engine = Engine::postgres();
    let ((a, a_task), (b, b_task)) = pair(&engine, 10_000).await;
    let mut a_events = a.take_events().unwrap();
    // The listener's first Handoff (on connecting) may come first.
    while timeout(Duration::from_millis(300), a_events.recv())
        .await
        .is_ok()
    {}
    b.hand_off("a", b"<presence from='juliet@xmpp.example'/>".to_vec())
        .await
        .unwrap();
    b.hand_off("a", b"<presence type='unavailable'/>".to_vec())
        .await
        .unwrap();
    assert_eq!(next_event(&mut a_events).await, StoreEvent::Handoff);
    assert_eq!(
        a.take_handoffs().await.unwrap(),
        vec![
            b"<presence from='juliet@xmpp.example'/>".to_vec(),
            b"<presence type='unavailable'/>".to_vec()
        ]
    );
    assert!(b.take_handoffs().await.unwrap().is_empty());
    a_task.close(&a).await;
    b_task.close(&b).await;
}

/// A dead owner's waiting hand-offs go to whoever claims its rows.
#[tokio::test]
async fn a_dead_owners_handoffs_move_to_the_claimer() {
    let engine = Engine::postgres();
    let ((a, a_task), (b, b_task)) = pair(&engine, 10_000).await;
    b.hand_off("a", b"for a".to_vec()).await.unwrap();
    a.release().await.unwrap();
    b.claim_orphans(100).await.unwrap();
    assert_eq!(b.take_handoffs().await.unwrap(), vec![b"for a".to_vec()]);
    drop(a_task);
    b_task.close(&b).await;
}

/// Instances starting together on a fresh database migrate it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_at_once_migrate_a_fresh_database_once() {
    let engine = Engine::postgres();
    let configs: Vec<Settings> = (0..4)
        .map(|i| engine.config(Some(&format!("i{i}")), 10_000))
        .collect();
    let opens = configs
        .into_iter()
        .map(|c| async move { Store::open(&c, |_| {}).await });
    let opened = timeout(Duration::from_secs(20), futures_join_all(opens))
        .await
        .expect("all open within 20 s");
    for (store, task, _, opened) in opened {
        assert_eq!(opened, Opened::Persistent);
        task.close(&store).await;
    }
}

/// A shared store out of reach is waited for, counted, never run without.
#[tokio::test]
async fn an_unreachable_postgres_is_waited_for_not_run_without() {
    let port = parley_harness::port::free_tcp_port();
    let config = Settings {
        url: url(&format!(
            "postgres://parley:hunter2@127.0.0.1:{port}/parley"
        )),
        ..Settings::embedded(Path::new("/nonexistent"))
    };
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let opening = tokio::spawn(async move {
        Store::open(&config, move |kind| seen.lock().unwrap().push(kind)).await
    });
    // A try gives up after the pool's 5 s connect timeout.
    let deadline = Instant::now() + Duration::from_secs(10);
    while errors.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no failed try counted within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!opening.is_finished(), "gave up waiting for the store");
    assert!(
        errors
            .lock()
            .unwrap()
            .iter()
            .all(|k| *k == "store_unreachable")
    );
    opening.abort();
}

/// `join_all` without another dependency: each future on its own task.
async fn futures_join_all<F, T>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}
