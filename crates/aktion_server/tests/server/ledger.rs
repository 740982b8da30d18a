//! The credits ledger under concurrency, retries, random operation sequences and crashes.

use std::sync::Arc;
use std::time::Duration;

use aktion_server::ledger::{self, Abandoned, ReservationStatus, Settlement};
use aktion_server::{ApiError, Db, auth};

use crate::common::{self, TestDb, test_config};

const LEASE: Duration = Duration::from_secs(3600);

async fn new_user(db: &Db, email: &str, credits: i64) -> i64 {
    let user = auth::create_user(
        db,
        email,
        "ledger-bench-passphrase",
        false,
        0,
        test_config().password_cost,
    )
    .await
    .expect("create user");
    if credits > 0 {
        ledger::grant(db, user.id, credits, "test grant", None)
            .await
            .expect("grant");
    }
    user.id
}

async fn assert_invariants(db: &Db, context: &str) {
    let violations = ledger::check_invariants(db)
        .await
        .expect("check invariants");
    assert!(violations.is_empty(), "{context}: {violations:#?}");
}

async fn min_balance_after(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(MIN(balance_after), 0) FROM ledger_entries")
        .fetch_one(&db.pool)
        .await
        .expect("min balance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_reservations_never_overspend() {
    for test_db in common::all().await {
        let db = common::connect(&test_db).await;
        let user = new_user(&db, "racer@example.com", 10).await;
        let db = Arc::new(db);
        let mut tasks = Vec::new();
        for i in 0..64_i64 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                let amount = 1 + i % 3;
                match ledger::reserve(&db, user, amount, "race", None, LEASE).await {
                    Ok(r) => {
                        // Half of the winners are charged, half released.
                        if i % 2 == 0 {
                            ledger::charge(&db, r.id).await.expect("charge");
                            (amount, amount)
                        } else {
                            ledger::release(&db, r.id, "test").await.expect("release");
                            (amount, 0)
                        }
                    }
                    Err(ApiError::InsufficientCredits { .. }) => (0, 0),
                    Err(e) => panic!("{}: reserve failed: {e:#}", test_db.name),
                }
            }));
        }
        let mut charged = 0;
        let mut reserved_ok = 0;
        for task in tasks {
            let (reserved, c) = task.await.expect("task");
            charged += c;
            reserved_ok += i64::from(reserved > 0);
        }
        let balance = ledger::balance(&db, user).await.expect("balance");
        assert_eq!(balance, 10 - charged, "{}: grants - charges", test_db.name);
        assert!(balance >= 0);
        assert!(
            reserved_ok > 0,
            "{}: some reservation must win",
            test_db.name
        );
        assert!(charged <= 10);
        assert!(min_balance_after(&db).await >= 0, "{}", test_db.name);
        assert_invariants(&db, test_db.name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_reservation_with_the_same_key_is_charged_once() {
    for test_db in common::all().await {
        let db = Arc::new(common::connect(&test_db).await);
        let user = new_user(&db, "retry@example.com", 10).await;
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                let r = ledger::reserve(&db, user, 4, "job", Some("key-1"), LEASE)
                    .await
                    .expect("reserve");
                let settled = ledger::charge(&db, r.id).await.expect("charge");
                (r.id, settled)
            }));
        }
        let mut ids = Vec::new();
        let mut settled_now = 0;
        for task in tasks {
            let (id, settled) = task.await.expect("task");
            ids.push(id);
            settled_now += i32::from(matches!(settled, Settlement::Settled { .. }));
        }
        ids.dedup();
        assert_eq!(
            ids.len(),
            1,
            "{}: one reservation for one key",
            test_db.name
        );
        assert_eq!(settled_now, 1, "{}: charged exactly once", test_db.name);
        assert_eq!(ledger::balance(&db, user).await.expect("balance"), 6);
        // The same key with another amount is a different request.
        assert!(matches!(
            ledger::reserve(&db, user, 5, "job", Some("key-1"), LEASE).await,
            Err(ApiError::IdempotencyKeyReused)
        ));
        // A grant with an operation key is applied once too.
        let first = ledger::grant(&db, user, 3, "promo", Some("promo-1"))
            .await
            .expect("grant");
        let again = ledger::grant(&db, user, 3, "promo", Some("promo-1"))
            .await
            .expect("grant again");
        assert_eq!(first.entry_id, again.entry_id);
        assert!(again.replayed && !first.replayed);
        assert_eq!(ledger::balance(&db, user).await.expect("balance"), 9);
        assert_invariants(&db, test_db.name).await;
    }
}

#[tokio::test]
async fn settlement_rules() {
    for test_db in common::all().await {
        let db = common::connect(&test_db).await;
        let user = new_user(&db, "rules@example.com", 5).await;
        assert!(matches!(
            ledger::reserve(&db, user, 6, "too much", None, LEASE).await,
            Err(ApiError::InsufficientCredits {
                needed: 6,
                available: 5
            })
        ));
        assert!(matches!(
            ledger::reserve(&db, user, 0, "zero", None, LEASE).await,
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            ledger::reserve(&db, 999_999, 1, "nobody", None, LEASE).await,
            Err(ApiError::NotFound(_))
        ));
        let r = ledger::reserve(&db, user, 5, "all", None, LEASE)
            .await
            .expect("reserve");
        assert_eq!(r.status, ReservationStatus::Open);
        assert_eq!(ledger::balance(&db, user).await.expect("balance"), 0);
        assert_eq!(
            ledger::charge(&db, r.id).await.expect("charge"),
            Settlement::Settled { balance: 0 }
        );
        assert_eq!(
            ledger::charge(&db, r.id).await.expect("charge again"),
            Settlement::AlreadyDone
        );
        assert!(matches!(
            ledger::release(&db, r.id, "late").await,
            Err(ApiError::AlreadySettled(_))
        ));
        assert!(matches!(
            ledger::charge(&db, 424_242).await,
            Err(ApiError::NotFound(_))
        ));
        let page = ledger::ledger_page(&db, user, 2, None).await.expect("page");
        assert_eq!(page.entries.len(), 2);
        assert_eq!(page.entries[0].kind, aktion_api::LedgerKind::Charge);
        let rest = ledger::ledger_page(&db, user, 2, page.next_before)
            .await
            .expect("page 2");
        assert_eq!(rest.entries.len(), 1);
        assert_eq!(rest.entries[0].kind, aktion_api::LedgerKind::Grant);
        assert_eq!(rest.next_before, None);
        assert_invariants(&db, test_db.name).await;
    }
}

#[tokio::test]
async fn reservations_left_by_a_crashed_server_are_released_at_start() {
    for test_db in common::all().await {
        let db = common::connect(&test_db).await;
        let user = new_user(&db, "crash@example.com", 10).await;
        // An expired lease (its server died long ago) and, on PostgreSQL, a live one that
        // another instance may still be working on.
        let dead = ledger::reserve(&db, user, 3, "job", None, Duration::ZERO)
            .await
            .expect("reserve");
        let live = ledger::reserve(&db, user, 2, "job", None, LEASE)
            .await
            .expect("reserve");
        let charged = ledger::reserve(&db, user, 1, "job", None, Duration::ZERO)
            .await
            .expect("reserve");
        ledger::charge(&db, charged.id).await.expect("charge");
        db.pool.close().await; // the "crash": nothing settled
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (state, released) = aktion_server::start(&test_db.url, test_config())
            .await
            .expect("restart");
        let db = state.db;
        let balance = ledger::balance(&db, user).await.expect("balance");
        if test_db.name == "sqlite" {
            assert_eq!(released, 2, "SQLite: every open reservation is released");
            assert_eq!(balance, 9);
        } else {
            assert_eq!(released, 1, "PostgreSQL: only the expired lease");
            assert_eq!(balance, 7);
            assert!(
                ledger::renew_lease(&db, live.id, LEASE)
                    .await
                    .expect("renew")
            );
        }
        assert!(matches!(
            ledger::charge(&db, dead.id).await,
            Err(ApiError::AlreadySettled(_))
        ));
        assert_eq!(
            ledger::settle_abandoned(&db, Abandoned::All)
                .await
                .expect("settle"),
            u64::from(test_db.name != "sqlite")
        );
        assert_eq!(ledger::balance(&db, user).await.expect("balance"), 9);
        assert_invariants(&db, test_db.name).await;
    }
}

/// One user's expected state in the model.
#[derive(Default)]
struct Model {
    balance: i64,
    open: Vec<(i64, i64)>,
    settled: Vec<(i64, bool)>,
}

async fn random_run(test_db: &TestDb, db: &mut Db, run: u64) {
    let mut rng = fastrand::Rng::with_seed(run);
    let mut users = Vec::new();
    for u in 0..3 {
        users.push((
            new_user(db, &format!("r{run}u{u}@example.com"), 0).await,
            Model::default(),
        ));
    }
    for step in 0..30 {
        let which = rng.usize(..users.len());
        let context = format!("{} run {run} step {step}", test_db.name);
        match rng.u8(..10) {
            0..=1 => {
                let n = rng.i64(1..8);
                let (id, model) = &mut users[which];
                ledger::grant(db, *id, n, "random", None)
                    .await
                    .expect("grant");
                model.balance += n;
            }
            2..=4 => {
                let n = rng.i64(1..6);
                let (id, model) = &mut users[which];
                match ledger::reserve(db, *id, n, "random", None, Duration::ZERO).await {
                    Ok(r) => {
                        assert!(model.balance >= n, "{context}: overspent");
                        model.balance -= n;
                        model.open.push((r.id, n));
                    }
                    Err(ApiError::InsufficientCredits { available, .. }) => {
                        assert!(model.balance < n, "{context}: refused with enough credits");
                        assert_eq!(available, model.balance, "{context}");
                    }
                    Err(e) => panic!("{context}: {e:#}"),
                }
            }
            5..=6 => {
                let (_, model) = &mut users[which];
                if !model.open.is_empty() {
                    let (rid, _) = model.open.remove(rng.usize(..model.open.len()));
                    let s = ledger::charge(db, rid).await.expect("charge");
                    assert!(matches!(s, Settlement::Settled { .. }), "{context}");
                    model.settled.push((rid, true));
                }
            }
            7 => {
                let (_, model) = &mut users[which];
                if !model.open.is_empty() {
                    let (rid, n) = model.open.remove(rng.usize(..model.open.len()));
                    ledger::release(db, rid, "random").await.expect("release");
                    model.balance += n;
                    model.settled.push((rid, false));
                }
            }
            8 => {
                // A retry of an already settled reservation changes nothing.
                let (_, model) = &users[which];
                if let Some(&(rid, was_charged)) = model.settled.last() {
                    let again = if was_charged {
                        ledger::charge(db, rid).await
                    } else {
                        ledger::release(db, rid, "retry").await
                    };
                    assert_eq!(again.expect("retry"), Settlement::AlreadyDone, "{context}");
                }
            }
            _ => {
                // Crash and restart: open reservations (all with expired leases) are released.
                db.pool.close().await;
                tokio::time::sleep(Duration::from_millis(2)).await;
                let (state, released) = aktion_server::start(&test_db.url, test_config())
                    .await
                    .expect("restart");
                *db = state.db;
                let mut expected = 0;
                for (_, model) in &mut users {
                    expected += model.open.len();
                    for (rid, n) in model.open.drain(..) {
                        model.balance += n;
                        model.settled.push((rid, false));
                    }
                }
                assert!(
                    usize::try_from(released).expect("count") >= expected,
                    "{context}"
                );
            }
        }
        for (id, model) in &users {
            let balance = ledger::balance(db, *id).await.expect("balance");
            assert_eq!(
                balance, model.balance,
                "{context}: balance differs from the model"
            );
        }
    }
    assert_invariants(db, &format!("{} run {run}", test_db.name)).await;
}

#[tokio::test]
async fn seeded_random_runs_keep_the_invariants() {
    let runs: u64 = std::env::var("AKTION_LEDGER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    for test_db in common::all().await {
        let mut db = common::connect(&test_db).await;
        for run in 0..runs {
            random_run(&test_db, &mut db, run).await;
        }
        assert!(min_balance_after(&db).await >= 0);
    }
}

#[tokio::test]
async fn in_memory_sqlite_is_one_database() {
    let (state, _) = aktion_server::start("sqlite::memory:", test_config())
        .await
        .expect("start in memory");
    let db = state.db;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            new_user(&db, &format!("mem{i}@example.com"), 2).await
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(users, 8);
    assert_invariants(&db, "memory").await;
}
