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
    // Exports are plain data in, files out: no UI, no async, no network, no engine.
    (
        "aktion_export",
        &[
            "egui",
            "eframe",
            "tokio",
            "reqwest",
            "aktion_engine",
            "aktion_cache",
        ],
    ),
    // Sound output builds on a fresh Debian: no ALSA or libpulse C libraries.
    (
        "aktion_sound",
        &[
            "egui",
            "eframe",
            "tokio",
            "reqwest",
            "aktion_graph",
            "aktion_media",
            "alsa-sys",
            "libpulse-sys",
        ],
    ),
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
    (
        "aktion",
        &["sqlx", "axum", "aktion_server", "alsa-sys", "libpulse-sys"],
    ),
];

/// Every package the workspace resolves, with the packages it uses when it ships (normal
/// dependencies, on any platform; dev-dependencies, fakes in tests, may cross lines).
fn shipped_graph() -> (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, Vec<String>>,
) {
    // The host's platform only: offline, the packages of other platforms are not at hand.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc runs");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--locked",
            "--filter-platform",
            &host,
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
    let names = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    let edges = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .expect("deps")
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k["kind"].is_null()))
                })
                .map(|d| d["pkg"].as_str().expect("pkg").to_owned())
                .collect();
            (n["id"].as_str().expect("id").to_owned(), deps)
        })
        .collect();
    (names, edges)
}

/// Checks `rules` against the graph: every rule must name a package of the workspace, and no
/// package may reach a forbidden one through any chain of shipped dependencies.
fn violations(
    rules: &[(&str, &[&str])],
    names: &std::collections::BTreeMap<String, String>,
    edges: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut found = Vec::new();
    for (krate, forbidden) in rules {
        let Some(root) = names.iter().find(|(_, n)| n == krate).map(|(id, _)| id) else {
            found.push(format!(
                "the rule for `{krate}` matches no crate (renamed?)"
            ));
            continue;
        };
        // Walk down, remembering how each package was reached (for the message).
        let mut via: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
        let mut stack = vec![root.as_str()];
        while let Some(id) = stack.pop() {
            for dep in edges.get(id).into_iter().flatten() {
                if via.contains_key(dep.as_str()) || dep == root {
                    continue;
                }
                via.insert(dep.as_str(), id);
                stack.push(dep.as_str());
            }
        }
        for dep in via.keys() {
            let Some(dep_name) = names.get(*dep) else {
                continue;
            };
            if !forbidden.contains(&dep_name.as_str()) {
                continue;
            }
            let mut chain = vec![dep_name.clone()];
            let mut at = *dep;
            while let Some(parent) = via.get(at) {
                chain.push(names.get(*parent).cloned().unwrap_or_default());
                at = parent;
            }
            chain.reverse();
            found.push(format!("{krate} reaches {dep_name}: {}", chain.join(" → ")));
        }
    }
    found
}

#[test]
fn crates_depend_only_in_the_allowed_directions() {
    let (names, edges) = shipped_graph();
    let found = violations(RULES, &names, &edges);
    assert!(found.is_empty(), "forbidden edges: {found:#?}");
}

#[test]
fn a_rule_naming_no_crate_or_a_transitive_edge_is_reported() {
    let (names, edges) = shipped_graph();
    // A renamed crate must not silently skip its rule.
    let found = violations(&[("aktion_grpah", &["tokio"])], &names, &edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("matches no crate"), "{found:?}");
    // The app reaches tokio's internals only through tokio: caught, with the chain.
    let found = violations(&[("aktion", &["mio"])], &names, &edges);
    assert!(
        found
            .iter()
            .any(|f| f.contains("aktion reaches mio") && f.contains("tokio")),
        "{found:?}"
    );
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
