//! Reservations per second through the ledger library with 64 concurrent tasks on one hot
//! account (each reserves 1 credit and charges it), on SQLite and, when
//! `AKTION_TEST_POSTGRES_URL` names a server, on PostgreSQL (database `aktion_bench`, recreated).
//! `cargo bench -p aktion_server --bench reservations`; the HTTP figure of PRODUCT.md §7 needs
//! the generation endpoint and is measured later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aktion_server::auth::PasswordCost;
use aktion_server::{Config, auth, ledger};

const TASKS: usize = 64;
const PER_TASK: usize = 50;

async fn run(name: &str, url: &str) -> anyhow::Result<()> {
    let (state, _) = aktion_server::start(url, Config::default()).await?;
    let db = Arc::new(state.db);
    let cost = PasswordCost {
        memory_kib: 1024,
        passes: 1,
    };
    let user = auth::create_user(
        &db,
        "bench@example.com",
        "ledger-bench-passphrase",
        false,
        0,
        cost,
    )
    .await?;
    let credits = i64::try_from(TASKS * PER_TASK)?;
    ledger::grant(&db, user.id, credits, "bench", None).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let db = Arc::clone(&db);
        tasks.push(tokio::spawn(async move {
            for _ in 0..PER_TASK {
                let r = ledger::reserve(&db, user.id, 1, "bench", None, Duration::from_secs(60))
                    .await?;
                ledger::charge(&db, r.id).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = start.elapsed();
    let balance = ledger::balance(&db, user.id).await?;
    let violations = ledger::check_invariants(&db).await?;
    println!(
        "{name}: {} reservations (+ charges) in {:.2} s = {:.0} reservations/s; final balance {balance}; {} invariant violations",
        TASKS * PER_TASK,
        elapsed.as_secs_f64(),
        (TASKS * PER_TASK) as f64 / elapsed.as_secs_f64(),
        violations.len()
    );
    anyhow::ensure!(balance == 0 && violations.is_empty(), "ledger broken");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    run(
        "sqlite",
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
    )
    .await?;
    if let Ok(admin_url) = std::env::var("AKTION_TEST_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await?;
        sqlx::raw_sql("DROP DATABASE IF EXISTS aktion_bench")
            .execute(&mut conn)
            .await?;
        sqlx::raw_sql("CREATE DATABASE aktion_bench")
            .execute(&mut conn)
            .await?;
        let base = admin_url
            .split_once('?')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let (server, _) = base
            .rsplit_once('/')
            .ok_or_else(|| anyhow::anyhow!("postgres URL without a path"))?;
        run("postgres", &format!("{server}/aktion_bench")).await?;
    } else {
        println!("postgres: skipped (AKTION_TEST_POSTGRES_URL not set)");
    }
    Ok(())
}
