//! Test databases: a fresh SQLite file per test, and a fresh PostgreSQL database per test when
//! `AKTION_TEST_POSTGRES_URL` names a server (skipped with a note otherwise).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aktion_server::auth::{LoginLimits, PasswordCost};
use aktion_server::{AppState, Config, Db};

/// A database a test runs against; the SQLite file is removed on drop.
pub struct TestDb {
    pub name: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// Cheap hashing and small limits so tests run fast.
pub fn test_config() -> Config {
    Config {
        starter_grant: 5,
        password_cost: PasswordCost {
            memory_kib: 1024,
            passes: 1,
        },
        login_limits: LoginLimits {
            per_email: 3,
            per_ip: 1000,
            window: Duration::from_secs(60),
            delay_base: Duration::from_millis(1500),
            delay_cap: Duration::from_secs(3),
        },
        max_body_bytes: 4096,
        // Tests run in parallel against one PostgreSQL (max_connections 100 by default).
        db_max_connections: Some(4),
        ..Config::default()
    }
}

pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    TestDb {
        name: "sqlite",
        url,
        _dir: Some(dir),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A new, empty PostgreSQL database on the server of `AKTION_TEST_POSTGRES_URL`.
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("AKTION_TEST_POSTGRES_URL") else {
        eprintln!("note: AKTION_TEST_POSTGRES_URL not set; PostgreSQL variant skipped");
        return None;
    };
    let name = format!(
        "aktion_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..)
    );
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("connect to AKTION_TEST_POSTGRES_URL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url.as_str(), String::new()),
    };
    let (server, _) = base.rsplit_once('/').expect("postgres URL with a path");
    Some(TestDb {
        name: "postgres",
        url: format!("{server}/{name}{query}"),
        _dir: None,
    })
}

/// SQLite always, PostgreSQL when configured.
pub async fn all() -> Vec<TestDb> {
    let mut dbs = vec![sqlite()];
    dbs.extend(postgres().await);
    dbs
}

pub async fn start(db: &TestDb) -> AppState {
    aktion_server::start(&db.url, test_config())
        .await
        .expect("start server")
        .0
}

pub async fn connect(db: &TestDb) -> Db {
    start(db).await.db
}

/// The link of the newest mail of `template` to `email` in the outbox (the test reads what
/// the SMTP server would be given).
pub async fn mailed_link(state: &AppState, email: &str, template: &str, path: &str) -> String {
    let body: String = sqlx::query_scalar(
        "SELECT body_text FROM outbox WHERE lower(recipient) = lower($1) AND template = $2 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(email)
    .bind(template)
    .fetch_one(&state.db.pool)
    .await
    .unwrap_or_else(|e| panic!("no {template} mail to {email}: {e}"));
    link_in(&body, path).unwrap_or_else(|| panic!("no {path} link in: {body}"))
}

/// The first `http…` URL in `text` whose path starts with `path`.
pub fn link_in(text: &str, path: &str) -> Option<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http"))
        .find(|w| w.contains(path))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_owned())
}

/// Follows the verification link mailed to `email` through the router, as a mail reader
/// would; returns the page's status and text.
pub async fn confirm_email(state: &AppState, email: &str) -> (axum::http::StatusCode, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let link = mailed_link(state, email, "verify-email", "/account/verify").await;
    let path = &link[link.find("/account/").expect("account path")..];
    let response = aktion_server::app(state.clone())
        .oneshot(
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
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
