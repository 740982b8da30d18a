//! The dependency directions of STYLE.md, read from `cargo metadata` so they cannot drift.

use std::process::Command;

/// (crate, crates it must never depend on)
const RULES: &[(&str, &[&str])] = &[
    (
        "aktion_graph",
        &[
            "egui",
            "eframe",
            "tokio",
            "reqwest",
            "sqlx",
            "axum",
            "aktion_engine",
            "aktion_cache",
            "aktion_media",
        ],
    ),
    (
        "aktion_api",
        &["egui", "eframe", "tokio", "reqwest", "sqlx", "axum"],
    ),
    (
        "aktion_canvas",
        &[
            "aktion_graph",
            "aktion_engine",
            "aktion_cache",
            "aktion_media",
            "aktion_providers",
            "tokio",
        ],
    ),
    (
        "aktion_cache",
        &["egui", "eframe", "tokio", "aktion_graph", "aktion_engine"],
    ),
    ("aktion_media", &["egui", "eframe", "tokio", "reqwest"]),
    (
        "aktion_providers",
        &["egui", "eframe", "sqlx", "axum", "aktion_graph"],
    ),
    ("aktion_engine", &["egui", "eframe", "sqlx", "axum"]),
    (
        "aktion_account",
        &[
            "egui",
            "eframe",
            "sqlx",
            "axum",
            "aktion_engine",
            "aktion_server",
        ],
    ),
    ("aktion_server", &["egui", "eframe", "aktion_engine"]),
    ("aktion", &["sqlx", "axum", "aktion_server"]),
];

#[test]
fn crates_depend_only_in_the_allowed_directions() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let packages = meta["packages"].as_array().expect("packages");
    let mut checked = 0;
    let mut violations = Vec::new();
    for pkg in packages {
        let name = pkg["name"].as_str().expect("name");
        let Some((_, forbidden)) = RULES.iter().find(|(n, _)| *n == name) else {
            continue;
        };
        checked += 1;
        for dep in pkg["dependencies"].as_array().expect("deps") {
            // Only what ships: dev-dependencies (fake servers in tests) may cross lines.
            if !dep["kind"].is_null() {
                continue;
            }
            let dep_name = dep["name"].as_str().expect("dep name");
            if forbidden.contains(&dep_name) {
                violations.push(format!("{name} depends on {dep_name}"));
            }
        }
    }
    assert!(
        checked >= 4,
        "the rules must match real crates ({checked} matched)"
    );
    assert!(violations.is_empty(), "forbidden edges: {violations:?}");
}

#[test]
fn no_openssl_anywhere() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"))
        .expect("Cargo.lock");
    for banned in [
        "name = \"openssl-sys\"",
        "name = \"openssl\"",
        "name = \"native-tls\"",
    ] {
        assert!(!lock.contains(banned), "Cargo.lock contains {banned}");
    }
}
