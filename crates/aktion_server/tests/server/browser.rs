//! The admin dashboard driven in real headless Chromium (Debian's package) by Playwright
//! (`playwright-core` from npm), both installed by `cargo xtask test`: `tests/tools/dashboard.cjs`
//! signs in, grants credits, invites a sign-up, finds a failed generation, downloads the
//! training export, and checks 403 for a non-admin and a form without its CSRF token. With
//! `AKTION_ADMIN_SCREENSHOTS=DIR` the screenshots are kept there (the committed ones in
//! `crates/aktion_server/screenshots/` were made so).

use std::path::{Path, PathBuf};

use crate::common;

const PASSWORD: &str = "correct horse";
const FAILURE: &str = "RunComfy: the deployment ran out of GPU memory";

fn browser() -> Option<(PathBuf, PathBuf)> {
    if let (Some(chromium), Some(node_path)) = (
        std::env::var_os("AKTION_TEST_CHROMIUM"),
        std::env::var_os("AKTION_TEST_NODE_PATH"),
    ) {
        return Some((chromium.into(), node_path.into()));
    }
    assert!(
        std::env::var_os("AKTION_REQUIRE_BROWSER").is_none(),
        "AKTION_TEST_CHROMIUM / AKTION_TEST_NODE_PATH are not set: `cargo xtask test` installs them"
    );
    eprintln!("browser test skipped: AKTION_TEST_CHROMIUM is not set");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "the data the browser finds, then the browser"
)]
async fn the_dashboard_works_in_chromium_without_javascript() {
    let Some((chromium, node_path)) = browser() else {
        return;
    };
    let test_db = common::sqlite();
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = common::test_config();
    config.storage_url = format!("file://{}", dir.path().join("blobs").display());
    config.max_body_bytes = aktion_server::Config::default().max_body_bytes;
    let (state, _) = aktion_server::start(&test_db.url, config)
        .await
        .expect("start");
    let cost = state.config.password_cost;
    aktion_server::auth::create_user(&state.db, "boss@example.com", PASSWORD, true, 0, cost)
        .await
        .expect("admin");
    let crew =
        aktion_server::auth::create_user(&state.db, "crew@example.com", PASSWORD, false, 5, cost)
            .await
            .expect("user");
    for email in ["lena@example.com", "omar@example.com", "yuki@example.com"] {
        aktion_server::beta::sign_up(&state.db, email)
            .await
            .expect("sign-up");
    }
    let now = aktion_server::db::now_ms();
    for (id, state_name, message, took) in [
        ("g1", "succeeded", None, 41_000),
        ("g2", "succeeded", None, 63_000),
        ("g3", "failed", Some(FAILURE), 12_000),
    ] {
        sqlx::query(
            "INSERT INTO generations (id, user_id, kind, request, state, message, credits, \
             lease_until, created_at, finished_at) VALUES ($1, $2, 'sequence', '{\"kind\":\"sequence\"}', \
             $3, $4, 8, 0, $5, $6)",
        )
        .bind(id)
        .bind(crew.id)
        .bind(state_name)
        .bind(message)
        .bind(now - took)
        .bind(now)
        .execute(state.db.writer())
        .await
        .expect("generation");
    }
    sqlx::query(
        "INSERT INTO training_records (user_id, node_kind, output_type, prompt, settings, \
         character_refs, input_refs, output_hash, output_key, content_type, generation_ms, rating, created_at) \
         VALUES ($1, 't2i', 'image', 'a lighthouse at dusk', '{}', '[]', '[]', $2, $3, 'image/png', 41000, 4, $4)",
    )
    .bind(crew.id)
    .bind("ab".repeat(32))
    .bind(format!("training/{}/{}", crew.id, "ab".repeat(32)))
    .bind(now)
    .execute(state.db.writer())
    .await
    .expect("record");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(aktion_server::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let out = std::env::var_os("AKTION_ADMIN_SCREENSHOTS")
        .map_or_else(|| dir.path().join("shots"), PathBuf::from);
    std::fs::create_dir_all(&out).expect("screenshot folder");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/dashboard.cjs");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .env("NODE_PATH", &node_path)
        .env("BASE", format!("http://{addr}"))
        .env("CHROMIUM", &chromium)
        .env("OUT", &out)
        .env("ADMIN", "boss@example.com")
        .env("USER", "crew@example.com")
        .env("PASSWORD", PASSWORD)
        .env("FAILURE", FAILURE)
        .output()
        .await
        .expect("run node");
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(
        run.status.success(),
        "the dashboard in Chromium:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    // What the browser did is in the database.
    let crew_now = aktion_server::auth::user_by_id(&state.db, crew.id)
        .await
        .expect("user");
    assert_eq!(crew_now.balance, 30, "granted 25 through the form");
    let invited = aktion_server::beta::list(&state.db)
        .await
        .expect("list")
        .iter()
        .filter(|s| s.invited_at.is_some())
        .count();
    assert_eq!(invited, 1);
    for shot in [
        "login",
        "overview",
        "users",
        "signups",
        "generations",
        "credits",
        "revenue",
        "training",
        "reports",
        "forbidden",
        "landing-desktop",
        "landing-phone",
    ] {
        assert!(out.join(format!("{shot}.png")).is_file(), "{shot}.png");
    }
    let exported = std::fs::read_to_string(out.join("export.jsonl")).expect("export");
    assert!(exported.contains("a lighthouse at dusk"), "{exported}");
}
