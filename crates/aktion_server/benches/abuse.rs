//! The server under abuse (PRODUCT.md §7 "Server under abuse"), on loopback only and bounded:
//! the real `aktion-server` binary with its production defaults (Argon2id at 19 MiB, the
//! default limits), a trusted proxy on 127.0.0.1 so a thousand clients have a thousand
//! addresses, then
//!   1. 1,000 concurrent anonymous requests, half registrations and half logins;
//!   2. 100 concurrent 100 MiB uploads (distinct bytes each, streamed by the clients);
//!   3. 50 progress streams open on a running generation, then SIGTERM: time to exit.
//!
//! Reports the server's peak resident memory (`VmHWM`) and the answer mix of each phase, on
//! SQLite and then, when `AKTION_TEST_POSTGRES_URL` names a PostgreSQL server (the one
//! `cargo xtask test` starts, or any where the user may `CREATE DATABASE`), on a fresh database
//! there. `cargo bench -p aktion_server --bench abuse`; the figures go in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aktion_fakes::{Fake, Flavor, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CLIENTS: usize = 1_000;
const UPLOADS: usize = 100;
const UPLOAD_BYTES: usize = 100 * 1024 * 1024;
const STREAMS: usize = 50;
const STREAM_USERS: usize = 7;
const KEY: &str = "bench-provider-key";

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            let dir = tempfile::tempdir()?;
            let sqlite = format!("sqlite://{}", dir.path().join("abuse.db").display());
            if std::env::var("BENCH_DATABASES").is_ok_and(|d| d == "postgres") {
                drop(sqlite);
            } else {
                println!("== SQLite");
                run(&sqlite).await?;
            }
            if let Ok(admin) = std::env::var("AKTION_TEST_POSTGRES_URL") {
                println!("== PostgreSQL");
                run(&fresh_postgres(&admin).await?).await?;
            }
            Ok(())
        })
}

/// A new, empty database on the PostgreSQL server of `admin_url`.
async fn fresh_postgres(admin_url: &str) -> anyhow::Result<String> {
    let name = format!("aktion_abuse_{}_{}", std::process::id(), fastrand::u32(..));
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let (server, _) = base
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("a PostgreSQL URL with a path"))?;
    Ok(format!("{server}/{name}{query}"))
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Threads and resident memory now, for the report.
fn now_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("Threads:") || l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn server_command(dir: &std::path::Path, db: &str, a2e: &Fake) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aktion-server"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AKTION_DATABASE_URL", db)
        .env(
            "AKTION_STORAGE_URL",
            format!("file://{}", dir.join("blobs").display()),
        )
        .env("AKTION_A2E_BASE_URL", a2e.base_url())
        .env("A2E_API_KEY", KEY)
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".to_owned()),
        );
    // The allocator's tunables pass through (to compare allocator settings).
    for (k, v) in std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_")) {
        c.env(k, v);
    }
    c
}

async fn start(dir: &std::path::Path, db: &str, a2e: &Fake) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let child = server_command(dir, db, a2e)
        .arg("serve")
        .env("AKTION_BIND", addr.to_string())
        .env("AKTION_TRUSTED_PROXIES", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let server = Server { child, addr };
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server did not start")
}

/// One HTTP/1.1 request on its own connection; the status (0 when the connection failed).
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return CONNECT_FAILED;
    };
    let sent = async {
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        Ok::<_, std::io::Error>(())
    }
    .await;
    status_of(&mut s, sent.is_ok()).await
}

async fn status_of(s: &mut TcpStream, sent: bool) -> u16 {
    let mut buf = vec![0_u8; 512];
    let mut got = 0;
    // The server may answer (503, 413) before reading the whole body.
    let mut ended = NO_ANSWER_CLOSED;
    while got < 12 {
        match tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf[got..])).await {
            Ok(Ok(0)) => break,
            Ok(Err(_)) => {
                ended = NO_ANSWER_RESET;
                break;
            }
            Err(_) => {
                ended = NO_ANSWER_TIMEOUT;
                break;
            }
            Ok(Ok(n)) => got += n,
        }
    }
    let _ = sent;
    std::str::from_utf8(&buf[..got.min(12)])
        .ok()
        .and_then(|l| l.get(9..12))
        .and_then(|c| c.parse().ok())
        .unwrap_or(ended)
}

/// Pseudo-statuses for requests that got no HTTP answer, so the tally says why.
const CONNECT_FAILED: u16 = 1;
const NO_ANSWER_CLOSED: u16 = 2;
const NO_ANSWER_RESET: u16 = 3;
const NO_ANSWER_TIMEOUT: u16 = 4;

fn json_head(path: &str, xff: &str, token: Option<&str>, len: usize) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nX-Forwarded-For: {xff}\r\n{auth}Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

fn tally(statuses: &[u16]) -> String {
    let mut mix: BTreeMap<u16, usize> = BTreeMap::new();
    for s in statuses {
        *mix.entry(*s).or_default() += 1;
    }
    mix.iter()
        .map(|(s, n)| match *s {
            CONNECT_FAILED => format!("connect-failed×{n}"),
            NO_ANSWER_CLOSED => format!("closed-without-answer×{n}"),
            NO_ANSWER_RESET => format!("reset×{n}"),
            NO_ANSWER_TIMEOUT => format!("no-answer-in-120s×{n}"),
            _ => format!("{s}×{n}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn sign_in(addr: SocketAddr, email: &str) -> anyhow::Result<String> {
    let body = format!(r#"{{"email":"{email}","password":"correct horse battery"}}"#);
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(json_head("/v1/auth/login", "10.0.0.1", None, body.len()).as_bytes())
        .await?;
    s.write_all(body.as_bytes()).await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    let start = text
        .find("\"token\":\"")
        .ok_or_else(|| anyhow::anyhow!("{text}"))?
        + 9;
    Ok(text[start..start + 64].to_owned())
}

#[expect(clippy::too_many_lines, reason = "one scenario, phase by phase")]
async fn run(db: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let a2e = Fake::start(Flavor::A2e).await?;
    a2e.require_key(KEY);
    a2e.set_script(vec![Step::Running(0.1); 100_000]);
    // Accounts with credits for the uploads and the generations (a user may hold 8 progress
    // streams, so 50 streams take 7 users).
    for u in 0..STREAM_USERS {
        let email = format!("bench{u}@example.com");
        let made = server_command(dir.path(), db, &a2e)
            .args(["admin", "create-user", &email])
            .env("AKTION_NEW_USER_PASSWORD", "correct horse battery")
            .output()?;
        anyhow::ensure!(made.status.success(), "{made:?}");
        let granted = server_command(dir.path(), db, &a2e)
            .args(["admin", "grant-credits", &email, "1000"])
            .output()?;
        anyhow::ensure!(granted.status.success(), "{granted:?}");
    }
    let server = start(dir.path(), db, &a2e).await?;
    let addr = server.addr;
    let pid = server.child.id();
    println!(
        "aktion-server (pid {pid}) on {addr}; idle: {} KiB",
        peak_kib(pid)
    );

    // 1. A thousand anonymous callers at once, each from its own address.
    let started = Instant::now();
    let calls = (0..CLIENTS).map(|i| async move {
        let xff = format!("198.18.{}.{}", i / 250, i % 250 + 1);
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        let register = match only.as_str() {
            "register" => true,
            "login" => false,
            _ => i % 2 == 0,
        };
        let (path, email) = if register {
            ("/v1/auth/register", format!("new{i}@example.com"))
        } else {
            ("/v1/auth/login", format!("someone{i}@example.com"))
        };
        let body = format!(r#"{{"email":"{email}","password":"a guess of twelve"}}"#);
        if only == "healthz" {
            let head = "GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
            return request(addr, head, b"").await;
        }
        request(
            addr,
            &json_head(path, &xff, None, body.len()),
            body.as_bytes(),
        )
        .await
    });
    let statuses = futures_util::future::join_all(calls).await;
    println!(
        "1,000 concurrent register/login: {:.1} s; answers {}; peak {} KiB (after: {})",
        started.elapsed().as_secs_f64(),
        tally(&statuses),
        peak_kib(pid),
        now_of(pid)
    );

    // 2. A hundred 100 MiB uploads at once, each of different bytes, streamed.
    let token = sign_in(addr, "bench0@example.com").await?;
    let started = Instant::now();
    let uploads = (0..UPLOADS).map(|i| {
        let token = token.clone();
        async move {
            let mut chunk = vec![0_u8; 1024 * 1024];
            for (j, b) in chunk.iter_mut().enumerate() {
                *b = u8::try_from(j % 251).unwrap_or(0);
            }
            chunk[..8].copy_from_slice(&u64::try_from(i).unwrap_or(0).to_le_bytes());
            let mut hasher = blake3::Hasher::new();
            for _ in 0..UPLOAD_BYTES / chunk.len() {
                hasher.update(&chunk);
            }
            let hash = hasher.finalize().to_hex().to_string();
            let head = format!(
                "PUT /v1/blobs/{hash} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Type: video/mp4\r\nContent-Length: {UPLOAD_BYTES}\r\nConnection: close\r\n\r\n"
            );
            let Ok(mut s) = TcpStream::connect(addr).await else {
                return 0;
            };
            let sent = async {
                s.write_all(head.as_bytes()).await?;
                for _ in 0..UPLOAD_BYTES / chunk.len() {
                    s.write_all(&chunk).await?;
                }
                Ok::<_, std::io::Error>(())
            }
            .await;
            status_of(&mut s, sent.is_ok()).await
        }
    });
    let statuses = futures_util::future::join_all(uploads).await;
    println!(
        "100 concurrent 100 MiB uploads: {:.1} s; answers {}; peak {} KiB",
        started.elapsed().as_secs_f64(),
        tally(&statuses),
        peak_kib(pid)
    );

    // 3. Fifty progress streams on running generations, then SIGTERM.
    let mut streams = Vec::new();
    for u in 0..STREAM_USERS {
        let token = sign_in(addr, &format!("bench{u}@example.com")).await?;
        let body = r#"{"kind":"t2i","params":{"prompt":"a lighthouse"}}"#;
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(json_head("/v1/generations", "10.0.0.1", Some(&token), body.len()).as_bytes())
            .await?;
        s.write_all(body.as_bytes()).await?;
        let mut text = String::new();
        s.read_to_string(&mut text).await?;
        let start_at = text
            .find("\"id\":\"")
            .ok_or_else(|| anyhow::anyhow!("{text}"))?
            + 6;
        let id = text[start_at..start_at + 32].to_owned();
        while streams.len() < STREAMS.min((u + 1) * 8) {
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(
                format!(
                    "GET /v1/generations/{id}/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
            let mut buf = [0_u8; 1024];
            let n = s.read(&mut buf).await?;
            anyhow::ensure!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            streams.push(s);
        }
    }
    let peak = peak_kib(pid);
    let mut server = server;
    let stopped = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.child.wait();
        (status, server)
    })
    .await?;
    println!(
        "graceful stop with {STREAMS} progress streams open: {:.2} s ({:?}); peak of the whole run {peak} KiB",
        stopped.elapsed().as_secs_f64(),
        exited.0,
    );
    drop(streams);
    Ok(())
}
