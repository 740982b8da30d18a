//! Reservations per second over HTTP (PRODUCT.md §7): 64 concurrent clients, each on its own
//! keep-alive connection, `POST /v1/generations` with a fresh `Idempotency-Key` on one hot
//! account, against the real router on a loopback socket. Each accepted request reserves the
//! price and stores the generation in one ledger transaction. Measured twice: as an API-only
//! instance, and as an instance that also drives every generation (submits it to a fake
//! provider in this process, stores the job, polls once), all on the same cores. Then every key is sent again (each
//! must replay, reserving nothing), and one more request must be refused with 402: zero double
//! spends, zero overspends, invariants checked.
//!
//! `cargo bench -p aktion_server --bench http_reservations` (PostgreSQL too when
//! `AKTION_TEST_POSTGRES_URL` names a server; databases `aktion_bench_http_api` and `_all`, recreated).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aktion_fakes::{Fake, Flavor, Step};
use aktion_providers::{ProviderKind, ProvidersConfig};
use aktion_server::auth::PasswordCost;
use aktion_server::{Config, auth, ledger};
use anyhow::{Context, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 64;
const PER_CLIENT: usize = 40;
const PRICE: i64 = 2; // t2i

/// A minimal HTTP/1.1 keep-alive client: enough for JSON answers with Content-Length.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    async fn post(
        &mut self,
        path: &str,
        token: &str,
        key: &str,
        body: &str,
    ) -> anyhow::Result<u16> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\
             Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .context("status line")?;
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .context("content-length")?;
                let total = end + 4 + length;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                self.buf.drain(..total);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed");
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

const BODY: &str = r#"{"kind":"t2i","params":{"prompt":"a lighthouse at dusk"}}"#;

/// Every client sends `PER_CLIENT` requests on its connection, keys `bench-{client}-{i}` (the
/// same keys again when `retry`); each must be accepted (202). Returns the count and the time.
async fn phase(
    addr: SocketAddr,
    token: Arc<str>,
    body: &'static str,
    retry: bool,
) -> anyhow::Result<(u32, Duration)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let token = Arc::clone(&token);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut statuses = Vec::with_capacity(PER_CLIENT);
            for i in 0..PER_CLIENT {
                let key = format!("bench-{client}-{i}");
                statuses.push(conn.post("/v1/generations", &token, &key, body).await?);
            }
            anyhow::Ok(statuses)
        }));
    }
    let mut accepted = 0u32;
    for task in tasks {
        for status in task.await?? {
            let what = if retry { "a retry" } else { "a request" };
            ensure!(status == 202, "{what} answered {status}");
            accepted += 1;
        }
    }
    Ok((accepted, started.elapsed()))
}

async fn run(name: &str, url: &str, a2e: &Fake, drive: bool) -> anyhow::Result<()> {
    let mut providers = ProvidersConfig::from_lookup(|var| match var {
        "AKTION_A2E_BASE_URL" => Some(a2e.base_url()),
        "A2E_API_KEY" => Some("bench-key".to_owned()),
        _ => None,
    });
    // One poll after the submit, then the jobs just wait: the bench measures the server.
    providers.endpoint_mut(ProviderKind::A2e).poll_interval = Duration::from_secs(300);
    let config = Config {
        password_cost: PasswordCost {
            memory_kib: 1024,
            passes: 1,
        },
        starter_grant: 0,
        providers,
        drive_generations: drive,
        ..Config::default()
    };
    let (state, _) = aktion_server::start(url, config).await?;
    let total = CLIENTS * PER_CLIENT;
    let user = auth::create_user(
        &state.db,
        "bench@example.com",
        "ledger-bench-passphrase",
        false,
        0,
        state.config.password_cost,
    )
    .await?;
    ledger::grant(
        &state.db,
        user.id,
        i64::try_from(total)? * PRICE,
        "bench",
        None,
    )
    .await?;
    let (token, _) = auth::create_session(&state.db, user.id, Duration::from_secs(3600)).await?;
    let token: Arc<str> = token.into();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = aktion_server::app(state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let (accepted, elapsed) = phase(addr, Arc::clone(&token), BODY, false).await?;
    let after_first = ledger::balance(&state.db, user.id).await?;
    let (replayed, retry_elapsed) = phase(addr, Arc::clone(&token), BODY, true).await?;
    let after_retries = ledger::balance(&state.db, user.id).await?;
    let mut extra = Conn::open(addr).await?;
    let refused = extra
        .post("/v1/generations", &token, "one-too-many", BODY)
        .await?;
    let generations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM generations")
        .fetch_one(&state.db.pool)
        .await?;
    let violations = ledger::check_invariants(&state.db).await?;
    let failed: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT state, message FROM generations WHERE state IN ('failed', 'cancelled') LIMIT 3",
    )
    .fetch_all(&state.db.pool)
    .await?;
    if !failed.is_empty() {
        println!("{name}: generations that ended: {failed:?}");
    }
    let name = if drive {
        format!("{name}, API + drivers")
    } else {
        format!("{name}, API only")
    };
    println!(
        "{name}: {accepted} generations accepted (each a reservation) in {:.2} s = {:.0} reservations/s over HTTP, \
         {CLIENTS} clients; {replayed} retries replayed in {:.2} s ({:.0}/s); balance {after_first} -> {after_retries} after retries; \
         one more: {refused}; {generations} generations stored; {} invariant violations",
        elapsed.as_secs_f64(),
        f64::from(accepted) / elapsed.as_secs_f64(),
        retry_elapsed.as_secs_f64(),
        f64::from(replayed) / retry_elapsed.as_secs_f64(),
        violations.len()
    );
    ensure!(
        after_first == 0 && after_retries == 0,
        "double spend or lost reservation"
    );
    ensure!(
        refused == 402,
        "overspend: the request past the balance got {refused}"
    );
    ensure!(
        generations == i64::try_from(total)?,
        "retries created generations"
    );
    ensure!(violations.is_empty(), "ledger invariants: {violations:?}");
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a2e = Fake::start(Flavor::A2e).await?;
    a2e.set_script(vec![Step::Running(0.5)]);
    let dir = tempfile::tempdir()?;
    for drive in [false, true] {
        let file = dir.path().join(format!("bench-{drive}.db"));
        run(
            "sqlite",
            &format!("sqlite://{}", file.display()),
            &a2e,
            drive,
        )
        .await?;
    }
    if let Ok(admin_url) = std::env::var("AKTION_TEST_POSTGRES_URL") {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await?;
        let base = admin_url
            .split_once('?')
            .map_or(admin_url.as_str(), |(b, _)| b);
        let (server, _) = base
            .rsplit_once('/')
            .context("postgres URL without a path")?;
        for drive in [false, true] {
            let name = format!("aktion_bench_http_{}", if drive { "all" } else { "api" });
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
                .execute(&mut conn)
                .await?;
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            run("postgres", &format!("{server}/{name}"), &a2e, drive).await?;
        }
    } else {
        println!("postgres: skipped (AKTION_TEST_POSTGRES_URL not set)");
    }
    Ok(())
}
