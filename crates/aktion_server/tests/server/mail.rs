//! Email delivered to a real SMTP server (aiosmtpd from `PyPI`, started here; each message parsed
//! by Python's email package): every template once with two server instances sharing the
//! database, the links in the delivered mails working, SMTP down (mails wait, nothing else
//! fails), and a server killed with mails queued delivering them after its restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aktion_server::mail::{self, Links, Mail, To};
use aktion_server::{AppState, Config};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common;
use crate::http::{request, send};

const PASSWORD: &str = "correct horse";
const BIN: &str = env!("CARGO_BIN_EXE_aktion-server");

/// The aiosmtpd sink; killed on drop.
struct Sink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn python() -> Option<PathBuf> {
    if let Ok(python) = std::env::var("AKTION_TEST_PYTHON") {
        return Some(PathBuf::from(python));
    }
    assert!(
        std::env::var_os("AKTION_REQUIRE_PYTHON_TOOLS").is_none(),
        "AKTION_TEST_PYTHON is not set: `cargo xtask test` makes the aiosmtpd environment"
    );
    eprintln!("SMTP tests skipped: AKTION_TEST_PYTHON is not set");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

impl Sink {
    fn start(python: &Path, port: u16) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tmp");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/smtp_sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("sink output");
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        Self { child, port, dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first.
    fn messages(&self) -> Vec<Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json"))
            .collect()
    }

    /// Waits until `done` holds for the messages (at most 60 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let messages = self.messages();
            if done(&messages) {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}; received: {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(smtp: Option<String>) -> Config {
    let mut config = common::test_config();
    "http://studio.test".clone_into(&mut config.site_url);
    config.mail = mail::MailConfig {
        smtp_url: smtp,
        from: "Aktion Studio <studio@aktion.test>".to_owned(),
        poll: Duration::from_millis(100),
        retry_base: Duration::from_millis(200),
        ..mail::MailConfig::default()
    };
    config
}

fn of(messages: &[Value], to: &str, subject_part: &str) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| {
            m["to"].as_str().is_some_and(|t| t.contains(to))
                && m["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains(subject_part))
        })
        .cloned()
        .collect()
}

/// Opens a link of a delivered mail on the server (it was written for `http://studio.test`).
async fn follow(
    state: &AppState,
    method: &str,
    link: &str,
    form: Option<&str>,
) -> (StatusCode, String) {
    let path = link
        .strip_prefix("http://studio.test")
        .expect("a link to the studio");
    let mut builder = Request::builder().method(method).uri(path);
    if form.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = aktion_server::app(state.clone())
        .oneshot(
            builder
                .body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned())))
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn text_link(mail: &Value, path: &str) -> String {
    common::link_in(mail["text"].as_str().expect("text part"), path)
        .unwrap_or_else(|| panic!("no {path} link in {mail:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "one story through every template")]
async fn every_template_is_delivered_once_by_two_instances_and_its_links_work() {
    let Some(python) = python() else {
        return;
    };
    for test_db in common::all().await {
        let sink = Sink::start(&python, free_port());
        let a = aktion_server::start(&test_db.url, config(Some(sink.url())))
            .await
            .expect("instance a")
            .0;
        let b = aktion_server::start(&test_db.url, config(Some(sink.url())))
            .await
            .expect("instance b")
            .0;

        // verify-email, then welcome once the delivered link is followed.
        let session = send(
            &a,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "mia@example.com", "password": PASSWORD})),
            ),
        )
        .await;
        assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
        let token = session.body["token"].as_str().expect("token").to_owned();
        let got = sink
            .wait_for("the verification mail", |m| {
                !of(m, "mia@", "Confirm").is_empty()
            })
            .await;
        let verify = of(&got, "mia@", "Confirm").remove(0);
        assert_eq!(verify["content_type"], "multipart/alternative");
        assert!(
            verify["html"]
                .as_str()
                .is_some_and(|h| h.contains("<a href=")),
            "{verify:#}"
        );
        assert_eq!(verify["mail_from"], "studio@aktion.test");
        let (status, page) = follow(&b, "GET", &text_link(&verify, "/account/verify"), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let me = send(&a, request("GET", "/v1/me", Some(&token), None)).await;
        assert_eq!(me.body["balance"], 5, "grant paid on verification");

        // password-reset, followed from the delivered mail.
        let reset = send(
            &b,
            request(
                "POST",
                "/v1/auth/password-reset",
                None,
                Some(json!({"email": "mia@example.com"})),
            ),
        )
        .await;
        assert_eq!(reset.status, StatusCode::ACCEPTED);
        let got = sink
            .wait_for("the reset mail", |m| !of(m, "mia@", "Reset").is_empty())
            .await;
        let link = text_link(&of(&got, "mia@", "Reset").remove(0), "/account/reset");
        let token_part = link.split("token=").nth(1).expect("token");
        let (status, page) = follow(
            &a,
            "POST",
            "http://studio.test/account/reset",
            Some(&format!(
                "token={token_part}&password=another+long+password"
            )),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");

        // registration-attempt, beta-invitation, generation-finished, receipt.
        let again = send(
            &a,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "mia@example.com", "password": PASSWORD})),
            ),
        )
        .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let admin = aktion_server::auth::create_user(
            &a.db,
            "boss@example.com",
            PASSWORD,
            true,
            0,
            a.config.password_cost,
        )
        .await
        .expect("admin");
        let (admin_token, _) =
            aktion_server::auth::create_session(&a.db, admin.id, Duration::from_secs(600))
                .await
                .expect("session");
        let mut invitees = Vec::new();
        for i in 0..30 {
            let email = format!("guest{i}@example.com");
            let joined = send(
                &b,
                request(
                    "POST",
                    "/v1/beta-signups",
                    None,
                    Some(json!({"email": email})),
                ),
            )
            .await;
            assert_eq!(joined.status, StatusCode::ACCEPTED);
            invitees.push(email);
        }
        let invited = send(
            &a,
            request(
                "POST",
                "/v1/admin/beta-signups/invite",
                Some(&admin_token),
                Some(json!({"emails": invitees})),
            ),
        )
        .await;
        assert_eq!(invited.body["invited"], 30, "{}", invited.body);
        let user = aktion_server::auth::user_by_email(&a.db, "mia@example.com")
            .await
            .expect("db")
            .expect("user");
        aktion_server::accounts::set_generation_mails(&a.db, user.id, true)
            .await
            .expect("prefs");
        let links = Links::of(&a);
        let mut tx = a.db.begin_write().await.expect("tx");
        aktion_server::accounts::generation_finished_in(
            &mut tx,
            &links,
            user.id,
            "g42",
            "coherent_scene",
            754_000,
            true,
        )
        .await
        .expect("finished");
        mail::enqueue(
            &mut tx,
            &links,
            To {
                user_id: Some(user.id),
                email: &user.email,
            },
            &Mail::Receipt {
                what: "500 credits".into(),
                amount: "€9.00".into(),
                credits: 500,
            },
            Some("receipt:test"),
        )
        .await
        .expect("receipt");
        tx.commit().await.expect("commit");

        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&a.db.pool)
            .await
            .expect("count");
        let got = sink
            .wait_for("every mail", |m| {
                m.len() >= usize::try_from(total).unwrap_or(0)
            })
            .await;
        // Give a double delivery the time to show.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let got_now = sink.messages();
        assert_eq!(
            got_now.len(),
            got.len(),
            "{}: nothing delivered twice",
            test_db.name
        );
        let mut ids: Vec<&str> = got_now
            .iter()
            .map(|m| m["message_id"].as_str().expect("id"))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            ids.len(),
            got_now.len(),
            "{}: one delivery per message",
            test_db.name
        );
        assert_eq!(i64::try_from(got_now.len()).expect("len"), total);
        for (subject, count) in [
            ("Confirm", 1),
            ("Welcome", 1),
            ("Reset", 1),
            ("tried to sign up", 1),
            ("beta invitation", 30),
            ("is ready", 1),
            ("receipt", 1),
        ] {
            let n = got_now
                .iter()
                .filter(|m| m["subject"].as_str().is_some_and(|s| s.contains(subject)))
                .count();
            assert_eq!(n, count, "{}: {subject}", test_db.name);
        }
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL OR body_text <> ''",
        )
        .fetch_one(&a.db.pool)
        .await
        .expect("count");
        assert_eq!(left, 0, "every row sent, its single-use links wiped");

        // The optional mail carries a working unsubscribe, in the body and for one click.
        let finished = of(&got_now, "mia@", "is ready").remove(0);
        let header_link = finished["list_unsubscribe"]
            .as_str()
            .expect("List-Unsubscribe")
            .trim_matches(['<', '>'])
            .to_owned();
        assert_eq!(
            finished["list_unsubscribe_post"],
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(text_link(&finished, "/account/unsubscribe"), header_link);
        let (status, _) =
            follow(&b, "POST", &header_link, Some("List-Unsubscribe=One-Click")).await;
        assert_eq!(status, StatusCode::OK);
        let prefs = aktion_server::auth::user_by_email(&a.db, "mia@example.com")
            .await
            .expect("db")
            .expect("user");
        assert!(!prefs.notify_generation_finished, "unsubscribed");
        for state in [a, b] {
            state.shutdown.cancel();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_mails_wait_and_go_when_it_returns() {
    let Some(python) = python() else {
        return;
    };
    let test_db = common::sqlite();
    let port = free_port();
    let state = aktion_server::start(
        &test_db.url,
        config(Some(format!("smtp://127.0.0.1:{port}"))),
    )
    .await
    .expect("start")
    .0;
    // Nothing listens: registration still works, the mail waits with its error.
    let made = send(
        &state,
        request(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"email": "wait@example.com", "password": PASSWORD})),
        ),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row: (Option<String>, i64, Option<i64>) =
            sqlx::query_as("SELECT last_error, attempts, sent_at FROM outbox")
                .fetch_one(&state.db.pool)
                .await
                .expect("row");
        if row.0.is_some() {
            assert!(row.1 >= 1 && row.2.is_none(), "{row:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no attempt was made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let me = send(
        &state,
        request(
            "GET",
            "/v1/me",
            Some(made.body["token"].as_str().expect("token")),
            None,
        ),
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "the rest of the server works");
    // SMTP comes back on that port: the retry delivers it.
    let sink = Sink::start(&python, port);
    let got = sink.wait_for("the waiting mail", |m| m.len() == 1).await;
    assert!(
        got[0]["subject"]
            .as_str()
            .is_some_and(|s| s.contains("Confirm"))
    );
    state.shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_with_mails_queued_sends_them_after_its_restart() {
    let Some(python) = python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let db_url = format!("sqlite://{}", dir.path().join("aktion.db").display());
    let spawn = |smtp: Option<&str>| {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env("AKTION_DATABASE_URL", &db_url)
            .env(
                "AKTION_STORAGE_URL",
                format!("file://{}", dir.path().join("blobs").display()),
            )
            .env("AKTION_BIND", format!("127.0.0.1:{port}"))
            .env("AKTION_MAIL_FROM", "Aktion Studio <studio@aktion.test>")
            .env("RUST_LOG", "warn")
            .env_remove("AKTION_SMTP_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = smtp {
            cmd.env("AKTION_SMTP_URL", url);
        }
        (cmd.spawn().expect("spawn aktion-server"), port)
    };
    let (first, port) = spawn(None);
    let first = Killed(first);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = json!({"email": "queued@example.com", "password": PASSWORD});
    let (status, made) =
        crate::crash::http(addr, "POST", "/v1/auth/register", None, Some(&body)).await;
    assert_eq!(status, 201, "{made}");
    // Killed (SIGKILL) with the mail in the outbox.
    drop(first);
    let sink = Sink::start(&python, free_port());
    let (second, _) = spawn(Some(&sink.url()));
    let _second = Killed(second);
    let got = sink
        .wait_for("the queued mail after the restart", |m| m.len() == 1)
        .await;
    assert!(
        got[0]["to"]
            .as_str()
            .is_some_and(|t| t.contains("queued@example.com"))
    );
    let link = text_link(&got[0], "/account/verify");
    assert!(
        link.starts_with(&format!("http://{addr}/account/verify?token=")),
        "{link}"
    );
}

/// A child process killed (SIGKILL, like a crash) when dropped, also when a test fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
