//! Kill the real `aktion-server` process during a generation (provider: the fakes, in this
//! process) and start it again: the job is resumed at the provider (never submitted twice) and
//! charged once, or released when the provider failed it meanwhile. On SQLite and PostgreSQL.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aktion_fakes::{Flavor, Step};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;
use crate::proxy::Providers;

const BIN: &str = env!("CARGO_BIN_EXE_aktion-server");

/// One HTTP/1.1 exchange with `Connection: close`; returns the status and the JSON body.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(db_url: &str, dir: &Path, providers: &Providers) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let config = dir.join("providers.json");
        std::fs::write(
            &config,
            json!({"poll_interval_secs": {"a2e": 1}}).to_string(),
        )
        .expect("config");
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("AKTION_DATABASE_URL", db_url)
            .env(
                "AKTION_STORAGE_URL",
                format!("file://{}", dir.join("blobs").display()),
            )
            .env("AKTION_BIND", addr.to_string())
            .env("AKTION_STARTER_CREDITS", "20")
            .env("AKTION_GENERATION_LEASE_SECS", "2")
            .env("AKTION_PROVIDERS_CONFIG", &config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for f in &providers.fakes {
            cmd.env(f.flavor.env_var(), f.base_url());
        }
        cmd.env("A2E_API_KEY", crate::proxy::KEY);
        let child = cmd.spawn().expect("spawn aktion-server");
        let server = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn kill(mut self) {
        // SIGKILL: no graceful shutdown, exactly like a crash.
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for(addr: SocketAddr, token: &str, id: &str, done: impl Fn(&str) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, g) = http(
            addr,
            "GET",
            &format!("/v1/generations/{id}"),
            Some(token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{g}");
        if done(g["state"].as_str().unwrap_or_default()) {
            return g;
        }
        assert!(Instant::now() < deadline, "generation stuck: {g}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn balance(addr: SocketAddr, token: &str) -> i64 {
    http(addr, "GET", "/v1/me", Some(token), None).await.1["balance"]
        .as_i64()
        .expect("balance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one story: two crashes, then the doctor"
)]
async fn killed_during_a_generation_the_server_resumes_it_and_charges_once() {
    let providers = Providers::start().await;
    let a2e = providers.get(Flavor::A2e);
    for db in common::all().await {
        let dir = tempfile::tempdir().expect("tmp");
        let server = Server::start(&db.url, dir.path(), &providers).await;
        let addr = server.addr;
        let (status, session) = http(
            addr,
            "POST",
            "/v1/auth/register",
            None,
            Some(&json!({"email": "a@example.com", "password": "correct horse"})),
        )
        .await;
        assert_eq!(status, 201, "{session}");
        let token = session["token"].as_str().expect("token").to_owned();
        assert_eq!(
            balance(addr, &token).await,
            0,
            "the grant waits for verification"
        );
        // An operator confirms the address (the mailed link is tested in `mail.rs`).
        let verified = Command::new(BIN)
            .args(["admin", "verify-email", "a@example.com"])
            .env("AKTION_DATABASE_URL", &db.url)
            .env(
                "AKTION_STORAGE_URL",
                format!("file://{}", dir.path().join("blobs").display()),
            )
            .output()
            .expect("admin verify-email");
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
        assert_eq!(
            balance(addr, &token).await,
            20,
            "starter grant paid on verification"
        );
        let t2i = json!({"kind": "t2i", "params": {"prompt": "a ship of light"}});

        // 1. Killed while the provider runs the job; it finishes while the server is down.
        a2e.set_script(vec![
            Step::Queued(0),
            Step::Running(0.3),
            Step::Running(0.6),
            Step::Succeed,
        ]);
        let submitted = providers.submissions();
        let (status, g) = http(addr, "POST", "/v1/generations", Some(&token), Some(&t2i)).await;
        assert_eq!(status, 202, "{g}");
        let id = g["id"].as_str().expect("id").to_owned();
        wait_for(addr, &token, &id, |s| s == "running").await;
        server.kill();
        assert_eq!(providers.submissions() - submitted, 1);
        let server = Server::start(&db.url, dir.path(), &providers).await;
        let addr = server.addr;
        let g = wait_for(addr, &token, &id, |s| {
            s != "running" && s != "queued" && s != "submitting"
        })
        .await;
        assert_eq!(g["state"], "succeeded", "{g}");
        assert_eq!(
            providers.submissions() - submitted,
            1,
            "resumed, never submitted again"
        );
        assert_eq!(balance(addr, &token).await, 18, "charged exactly once");
        let (_, out) = http(
            addr,
            "GET",
            g["outputs"][0]["url"].as_str().expect("url"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            out,
            Value::Null,
            "the output is downloadable (binary, not JSON)"
        );

        // 2. Killed while running; the provider fails the job meanwhile: released, not lost.
        a2e.set_script(vec![Step::Running(0.1); 50]);
        let (_, g) = http(addr, "POST", "/v1/generations", Some(&token), Some(&t2i)).await;
        let id = g["id"].as_str().expect("id").to_owned();
        wait_for(addr, &token, &id, |s| s == "running").await;
        assert_eq!(balance(addr, &token).await, 16, "reserved");
        server.kill();
        a2e.set_script(vec![Step::Fail("worker crashed".into())]);
        let server = Server::start(&db.url, dir.path(), &providers).await;
        let addr = server.addr;
        let g = wait_for(addr, &token, &id, |s| s == "failed" || s == "succeeded").await;
        assert_eq!(g["state"], "failed", "{g}");
        assert_eq!(
            balance(addr, &token).await,
            18,
            "released after the restart"
        );

        // The ledger's invariants hold, as the admin doctor sees them.
        let (status, ledger) = http(addr, "GET", "/v1/ledger?limit=200", Some(&token), None).await;
        assert_eq!(status, 200);
        let kinds: Vec<&str> = ledger["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            kinds,
            ["release", "reserve", "charge", "reserve", "grant"],
            "{ledger}"
        );
        drop(server);
        let doctor = Command::new(BIN)
            .args(["admin", "doctor"])
            .env("AKTION_DATABASE_URL", &db.url)
            .env(
                "AKTION_STORAGE_URL",
                format!("file://{}", dir.path().join("blobs").display()),
            )
            .output()
            .expect("doctor");
        let said = String::from_utf8_lossy(&doctor.stdout);
        assert!(
            doctor.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&doctor.stderr)
        );
        assert!(
            said.contains("ledger invariants: 0 violation(s)") && said.contains("storage: file://"),
            "{said}"
        );
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "set-up through the library, then each command"
)]
async fn admin_commands_report_training_data_and_beta_signups() {
    let dir = tempfile::tempdir().expect("tmp");
    let db_url = format!("sqlite://{}", dir.path().join("admin.db").display());
    let storage = format!("file://{}", dir.path().join("blobs").display());
    {
        let config = aktion_server::Config {
            storage_url: storage.clone(),
            ..common::test_config()
        };
        let (state, _) = aktion_server::start(&db_url, config).await.expect("start");
        let user = aktion_server::auth::create_user(
            &state.db,
            "a@example.com",
            "correct horse",
            false,
            5,
            state.config.password_cost,
        )
        .await
        .expect("user");
        sqlx::query(
            "UPDATE users SET data_sharing_opt_in = 1, data_sharing_opted_in_at = 1 WHERE id = $1",
        )
        .bind(user.id)
        .execute(&state.db.pool)
        .await
        .expect("opt in");
        let user = aktion_server::auth::user_by_id(&state.db, user.id)
            .await
            .expect("user");
        let bytes = bytes::Bytes::from_static(b"\x89PNG shared output");
        let hash = aktion_server::storage::BlobHash::of(&bytes);
        aktion_server::generations::store_blob(&state, user.id, &hash, "image/png", bytes)
            .await
            .expect("blob");
        for rating in [4, 2] {
            let stored = aktion_server::training::submit(
                &state,
                &user,
                aktion_api::TrainingDataSubmission {
                    node_kind: "t2i".into(),
                    output_hash: hash.to_string(),
                    prompt: Some("a lighthouse".into()),
                    settings: serde_json::Map::new(),
                    character_refs: vec![],
                    input_refs: vec![],
                    generation_ms: Some(3000),
                    rating: Some(rating),
                },
            )
            .await
            .expect("submit");
            assert!(stored.stored);
        }
        for email in ["Fan@Studio.com", "fan@studio.com", "other@studio.com"] {
            aktion_server::beta::sign_up(&state.db, email)
                .await
                .expect("sign up");
        }
    }
    let admin = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("admin")
            .args(args)
            .env("AKTION_DATABASE_URL", &db_url)
            .env("AKTION_STORAGE_URL", &storage)
            .output()
            .expect("admin");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stats = admin(&["training-stats"]);
    let line = stats
        .lines()
        .find(|l| l.starts_with("t2i"))
        .unwrap_or_else(|| panic!("{stats}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..4], ["t2i", "image", "2", "3.0"], "{stats}");
    assert!(line.contains("3.00 (2)"), "average rating of two: {line}");

    let out = dir.path().join("export.jsonl");
    let said = admin(&["export-training-data", "--out", out.to_str().expect("utf8")]);
    assert!(said.contains("wrote 2 record(s)"), "{said}");
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .expect("export")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| {
        l["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("training/"))
            && l["prompt"] == "a lighthouse"
    }));
    assert!(!dir.path().join("export.jsonl.partial").exists());

    let signups = admin(&["beta-signups"]);
    assert!(
        signups.contains("Fan@Studio.com") && signups.contains("other@studio.com"),
        "{signups}"
    );
    assert!(
        signups.contains("2 sign-up(s)"),
        "de-duplicated case-insensitively: {signups}"
    );
}
