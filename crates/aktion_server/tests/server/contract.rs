//! `/openapi.json` is exact: schemathesis (from `PyPI`, in the virtual environment `cargo xtask test`
//! makes; `AKTION_TEST_PYTHON` names its Python) runs every check against a server started here,
//! signed in as an admin with credits, for every operation but logout and the progress stream
//! (which end the session or never end; they have tests of their own), and must find nothing:
//! no schema-valid request refused, no schema-violating request accepted, no undocumented
//! status, no answer off its schema, no 5xx. On SQLite and on PostgreSQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common;

/// The `schemathesis` command of the test environment, if there is one.
fn schemathesis() -> Option<PathBuf> {
    let Ok(python) = std::env::var("AKTION_TEST_PYTHON") else {
        assert!(
            std::env::var_os("AKTION_REQUIRE_PYTHON_TOOLS").is_none(),
            "AKTION_TEST_PYTHON is not set: `cargo xtask test` makes the schemathesis environment"
        );
        eprintln!("schemathesis skipped: AKTION_TEST_PYTHON is not set");
        return None;
    };
    let st = Path::new(&python).with_file_name("schemathesis");
    assert!(
        st.is_file(),
        "{} is missing: the test environment lacks schemathesis",
        st.display()
    );
    Some(st)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_the_document_exact() {
    let Some(st) = schemathesis() else {
        return;
    };
    let config_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/schemathesis/schemathesis.toml");
    for db in common::all().await {
        let dir = tempfile::tempdir().expect("tmp");
        // Billing against the Stripe stand-in of the billing tests.
        let (stripe_url, _stand_in) = crate::billing::start_stand_in().await;
        let config = aktion_server::Config {
            billing: Some(crate::billing::billing_config(&stripe_url)),
            storage_url: format!("file://{}", dir.path().join("blobs").display()),
            max_body_bytes: aktion_server::Config::default().max_body_bytes,
            ..common::test_config()
        };
        let (state, _) = aktion_server::start(&db.url, config).await.expect("start");
        let admin = aktion_server::auth::create_user(
            &state.db,
            "contract@example.com",
            "correct horse battery",
            true,
            0,
            state.config.password_cost,
        )
        .await
        .expect("admin");
        aktion_server::ledger::grant(&state.db, admin.id, 1_000_000_000, "contract test", None)
            .await
            .expect("credits");
        let (token, _) =
            aktion_server::auth::create_session(&state.db, admin.id, Duration::from_secs(3600))
                .await
                .expect("session");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(aktion_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        let out = tokio::process::Command::new(&st)
            .arg("--config-file")
            .arg(&config_file)
            .arg("run")
            .arg(format!("http://{addr}/openapi.json"))
            .args(["--checks", "all"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["--exclude-path", "/v1/auth/logout"])
            .args(["--exclude-path", "/v1/auth/logout-all"])
            // Only a Stripe-signed body passes; its own tests sign them (billing.rs).
            .args(["--exclude-path", "/v1/billing/webhook"])
            .args(["--exclude-path", "/v1/generations/{id}/events"])
            .args(["--max-examples", "40", "--seed", "7"])
            .args(["--generation-database", "none", "--no-color"])
            .args(["--output-truncate", "false"])
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .current_dir(dir.path())
            .output()
            .await
            .expect("run schemathesis");
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: schemathesis found failures:\n{said}\n{}",
            db.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("passed"), "{said}");
        eprintln!(
            "{}: {}",
            db.name,
            said.lines()
                .rev()
                .find(|l| l.contains("generated"))
                .unwrap_or_default()
        );
    }
}
