//! `aktion run --route account` against a real `aktion-server` (started in this process, with
//! the fake providers behind it): the generating nodes run on the user's account, their credits
//! are charged once, a second run is all cached and charges nothing, and without a session the
//! nodes fail with how to sign in.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use aktion_account::AccountClient;
use aktion_fakes::{Fake, Step};
use aktion_providers::{ProviderKind, ProvidersConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aktion");
const KEY: &str = "sk_SERVER_HELD_e2e";

struct Backend {
    runtime: tokio::runtime::Runtime,
    fakes: Vec<Fake>,
    addr: SocketAddr,
    state: aktion_server::AppState,
    _dir: tempfile::TempDir,
}

impl Backend {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tmp");
        let db_url = format!("sqlite://{}", dir.path().join("server.db").display());
        let (fakes, addr, state) = runtime.block_on(async {
            let fakes = aktion_fakes::start_all().await.expect("fakes");
            for f in &fakes {
                f.require_key(KEY);
                f.set_script(vec![Step::Queued(0), Step::Running(0.5), Step::Succeed]);
            }
            let vars: Vec<(String, String)> = fakes
                .iter()
                .map(|f| (f.flavor.env_var().to_owned(), f.base_url()))
                .chain(
                    [
                        "REPLICATE_API_TOKEN",
                        "RUNCOMFY_API_TOKEN",
                        "A2E_API_KEY",
                        "FAL_KEY",
                    ]
                    .map(|k| (k.to_owned(), KEY.to_owned())),
                )
                .chain([("WAN_FUN_INP_DEPLOYMENT_ID".to_owned(), "wan-e2e".to_owned())])
                .collect();
            let mut providers = ProvidersConfig::from_lookup(|name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            });
            for p in [
                ProviderKind::Replicate,
                ProviderKind::RunComfy,
                ProviderKind::A2e,
                ProviderKind::Fal,
            ] {
                providers.endpoint_mut(p).poll_interval = Duration::from_millis(100);
            }
            let config = aktion_server::Config {
                starter_grant: 100,
                providers,
                ..aktion_server::Config::default()
            };
            let (state, _) = aktion_server::start(&db_url, config).await.expect("server");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(aktion_server::serve(
                listener,
                state.clone(),
                std::future::pending(),
            ));
            (fakes, addr, state)
        });
        Self {
            runtime,
            fakes,
            addr,
            state,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn client(&self, token: Option<String>) -> AccountClient {
        AccountClient::new(&self.url(), token).expect("client")
    }

    /// A new account on the server, its address confirmed with the mailed link's token; its
    /// session token.
    fn register(&self, email: &str) -> String {
        let token = self
            .runtime
            .block_on(self.client(None).register(email, "correct horse"))
            .expect("register")
            .token;
        let client = self.client(Some(token.clone()));
        let me = self.runtime.block_on(async {
            let text: String = sqlx::query_scalar(
                "SELECT body_text FROM outbox WHERE recipient = $1 AND template = 'verify-email'",
            )
            .bind(email)
            .fetch_one(&self.state.db.pool)
            .await
            .expect("the verification mail");
            let link_token = text
                .split("token=")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .expect("a link with a token");
            client.verify_email(link_token).await.expect("verified")
        });
        assert_eq!(me.balance, 100, "the starter grant, paid on verification");
        token
    }

    fn submissions(&self) -> usize {
        self.fakes.iter().map(Fake::submissions).sum()
    }
}

/// A copy of the example storyboard at `project`; its document.
fn storyboard(project: &Path) -> Value {
    crate::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/storyboard.aktion"),
        project,
    );
    serde_json::from_slice(&std::fs::read(project.join("project.json")).expect("read"))
        .expect("json")
}

const IMAGE_KINDS: [&str; 6] = [
    "character",
    "t2i",
    "sketch_to_image",
    "i2i",
    "action_pose",
    "coherent_scene",
];

fn run(
    project: &Path,
    cache: &Path,
    url: &str,
    token: Option<&str>,
    nodes: &[String],
) -> (i32, Value, String) {
    let mut c = Command::new(BIN);
    // A secret store of the test's own: never the developer's keychain or saved session.
    c.env("AKTION_CACHE_DIR", cache)
        .env("AKTION_CONFIG_DIR", cache.join("config"))
        .env("AKTION_SECRETS", "file")
        .env("AKTION_ACCOUNT_URL", url)
        .env_remove("AKTION_ACCOUNT_TOKEN")
        .args([
            "run",
            project.to_str().expect("utf8"),
            "--route",
            "account",
            "--json",
        ]);
    if let Some(t) = token {
        c.env("AKTION_ACCOUNT_TOKEN", t);
    }
    for n in nodes {
        c.args(["--node", n]);
    }
    let out = c.output().expect("aktion runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().expect("code"), json, stderr)
}

#[test]
fn the_storyboard_runs_on_the_account_route_and_is_charged_once() {
    let backend = Backend::start();
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("project");
    let doc = storyboard(&project);
    let nodes: Vec<String> = doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| IMAGE_KINDS.contains(&n["kind"].as_str().unwrap_or("")))
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(nodes.len(), IMAGE_KINDS.len());

    // Without a session: each node fails and says how to sign in; nothing is charged.
    let (code, report, _) = run(
        &project,
        &dir.path().join("cache"),
        &backend.url(),
        None,
        &nodes,
    );
    assert_eq!(code, 1, "{report}");
    let first = crate::node_of_kind(&report, "t2i");
    assert!(
        first["error"].as_str().unwrap_or("").contains("sign in"),
        "{first}"
    );

    let token = backend.register("director@example.com");
    let client = backend.client(Some(token.clone()));
    let before = backend.submissions();
    let (code, report, stderr) = run(
        &project,
        &dir.path().join("cache"),
        &backend.url(),
        Some(&token),
        &nodes,
    );
    assert_eq!(code, 0, "{report}\n{stderr}");
    for kind in IMAGE_KINDS {
        let n = crate::node_of_kind(&report, kind);
        assert_eq!(n["status"], "done", "{kind}: {n}");
        assert_eq!(n["outputs"][0]["mime"], "image/png", "{kind}");
    }
    assert!(
        !stderr.contains(&token),
        "the session token never reaches the output"
    );
    let submitted = backend.submissions() - before;
    assert_eq!(submitted, IMAGE_KINDS.len(), "one provider job per node");
    // 2 + 2 + 1 + 5 + 2 + 10 credits, from the server's prices.
    let me = backend.runtime.block_on(client.me()).expect("me");
    assert_eq!(me.balance, 100 - 22);

    // Again: every node cached; nothing submitted, nothing charged.
    let (code, report, _) = run(
        &project,
        &dir.path().join("cache"),
        &backend.url(),
        Some(&token),
        &nodes,
    );
    assert_eq!(code, 0, "{report}");
    for n in report["nodes"].as_array().expect("nodes") {
        let generating = IMAGE_KINDS.contains(&n["kind"].as_str().unwrap_or(""));
        assert!(
            n["status"] == "cached" || !generating && n["status"] == "skipped",
            "{n}"
        );
    }
    assert_eq!(report["credits"], 0, "{report}");
    assert_eq!(backend.submissions() - before, submitted);
    assert_eq!(
        backend.runtime.block_on(client.me()).expect("me").balance,
        78
    );
}

#[test]
fn an_account_job_waits_for_the_network_and_goes_on_when_it_returns() {
    let backend = Backend::start();
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("project");
    let doc = storyboard(&project);
    let t2i = crate::id_of_kind(&doc, "t2i");
    let token = backend.register("late@example.com");

    // The app's address leads nowhere for now (nothing listens on the port)...
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(BIN)
        .env("AKTION_CACHE_DIR", dir.path().join("cache"))
        .env("AKTION_CONFIG_DIR", dir.path().join("config"))
        .env("AKTION_SECRETS", "file")
        .env("AKTION_ACCOUNT_URL", format!("http://127.0.0.1:{port}"))
        .env("AKTION_ACCOUNT_TOKEN", &token)
        .args([
            "run",
            project.to_str().expect("utf8"),
            "--route",
            "account",
            "--json",
        ])
        .args(["--node", &t2i])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aktion runs");
    std::thread::sleep(Duration::from_millis(2500));
    // ...then the network returns: the port forwards to the server.
    let target = backend.addr;
    backend.runtime.spawn(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the returning port");
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    let out = child.wait_with_output().expect("aktion ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(out.status.code(), Some(0), "{report}\n{stderr}");
    assert!(stderr.contains("waiting for network"), "{stderr}");
    let node = crate::node_of_kind(&report, "t2i");
    assert_eq!(node["status"], "done", "{node}");
    let me = backend
        .runtime
        .block_on(backend.client(Some(token)).me())
        .expect("me");
    assert_eq!(me.balance, 100 - 2, "charged once");
}

#[test]
fn keys_and_the_session_come_from_the_secret_store_never_the_project() {
    let backend = Backend::start();
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("project");
    let doc = storyboard(&project);
    let t2i = crate::id_of_kind(&doc, "t2i");
    let token = backend.register("kept@example.com");
    // What Settings saves where no keychain exists (AKTION_SECRETS=file forces it here).
    let config = dir.path().join("config");
    let store = aktion_account::secrets::SecretStore::file_only(&config);
    store
        .set(aktion_account::secrets::ACCOUNT_TOKEN, &token)
        .expect("token");
    store.set("A2E_API_KEY", KEY).expect("key");
    let a2e_url = backend
        .fakes
        .iter()
        .find(|f| f.flavor == aktion_fakes::Flavor::A2e)
        .expect("a2e")
        .base_url();
    let run_on = |route: &str, cache: &str| {
        let out = Command::new(BIN)
            .env("AKTION_CACHE_DIR", dir.path().join(cache))
            .env("AKTION_CONFIG_DIR", &config)
            .env("AKTION_SECRETS", "file")
            .env("AKTION_ACCOUNT_URL", backend.url())
            .env("AKTION_A2E_BASE_URL", &a2e_url)
            .env_remove("AKTION_ACCOUNT_TOKEN")
            .env_remove("A2E_API_KEY")
            .args([
                "run",
                project.to_str().expect("utf8"),
                "--route",
                route,
                "--json",
            ])
            .args(["--node", &t2i])
            .output()
            .expect("aktion runs");
        let report: Value = serde_json::from_slice(&out.stdout).expect("json");
        (
            out.status.code(),
            report,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, report, stderr) = run_on("account", "cache-account");
    assert_eq!(
        code,
        Some(0),
        "the session from the store: {report}\n{stderr}"
    );
    let (code, report, stderr) = run_on("direct", "cache-direct");
    assert_eq!(
        code,
        Some(0),
        "the A2E key from the store: {report}\n{stderr}"
    );
    for text in [
        std::fs::read_to_string(project.join("project.json")).expect("project"),
        report.to_string(),
        stderr,
    ] {
        assert!(!text.contains(KEY) && !text.contains(&token));
    }
}
