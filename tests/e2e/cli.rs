//! The `aktion` binary on the example projects: draft runs, caching, edits, kills, corruption,
//! refusals and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aktion");

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples")
}

/// A copy of an example project in a temp folder, with its own cache.
pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new(example: &str) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        crate::copy_dir(&examples().join(example), &dir.path().join("project"));
        Self { dir }
    }

    pub(crate) fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub(crate) fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("AKTION_CACHE_DIR", self.dir.path().join("cache"));
        // A secret store of the test's own: never the developer's keychain.
        c.env("AKTION_CONFIG_DIR", self.dir.path().join("config"));
        c.env("AKTION_SECRETS", "file");
        c.env_remove("AKTION_LOG");
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("aktion runs")
    }

    pub(crate) fn run_json(&self, extra: &[&str]) -> (i32, Value) {
        let project = self.project();
        let mut args = vec![
            "run",
            project.to_str().expect("utf8"),
            "--route",
            "draft",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().expect("exit code"), json)
    }
}

fn count(report: &Value, status: &str) -> usize {
    report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["status"] == status)
        .count()
}

#[test]
fn the_storyboard_runs_on_the_draft_route_then_is_all_cached_then_reruns_only_an_edit() {
    let sb = Sandbox::new("storyboard.aktion");
    let (code, first) = sb.run_json(&[]);
    assert_eq!(code, 0, "{first:#}");
    let nodes = first["nodes"].as_array().expect("nodes");
    // Every node kind of the catalog is on the board, and every node has an output file.
    let kinds: std::collections::BTreeSet<&str> =
        nodes.iter().filter_map(|n| n["kind"].as_str()).collect();
    for k in aktion_graph::Catalog::builtin().iter() {
        assert!(
            kinds.contains(k.id.as_str()),
            "the storyboard lacks a {} node",
            k.id
        );
    }
    for n in nodes {
        assert_eq!(n["status"], "done", "{n:#}");
        let outputs = n["outputs"].as_array().expect("outputs");
        assert!(!outputs.is_empty(), "{n:#}");
        for o in outputs {
            let path = o["path"].as_str().expect("path");
            let bytes = std::fs::read(path).expect("output file exists");
            assert_eq!(bytes.len() as u64, o["bytes"].as_u64().expect("bytes"));
            assert_eq!(
                blake3::hash(&bytes).to_hex().as_str(),
                o["hash"].as_str().expect("hash")
            );
        }
        let generating = aktion_graph::Catalog::builtin()
            .get(n["kind"].as_str().expect("kind"))
            .expect("kind")
            .is_generating();
        assert_eq!(
            n["draft"], generating,
            "draft outputs are marked as drafts: {n:#}"
        );
    }
    assert_eq!(first["credits"], 0);

    let (code, second) = sb.run_json(&[]);
    assert_eq!(code, 0);
    assert_eq!(second["totals"]["ran"], 0, "{second:#}");
    assert_eq!(count(&second, "cached"), nodes.len());

    // Edit one prompt: that node and its dependents run, nothing else.
    let file = sb.project().join("project.json");
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let edited = doc["nodes"]
        .as_array_mut()
        .expect("nodes")
        .iter_mut()
        .find(|n| n["kind"] == "sketch_to_image")
        .expect("sketch_to_image");
    edited["params"]["prompt"] = Value::from("Mara blocks a kick instead");
    let edited_id = edited["id"].as_str().expect("id").to_owned();
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let (code, third) = sb.run_json(&[]);
    assert_eq!(code, 0);
    let ran: std::collections::BTreeSet<&str> = third["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["status"] == "done")
        .filter_map(|n| n["kind"].as_str())
        .collect();
    // sketch_to_image feeds the sequence and the epic scene.
    assert_eq!(
        ran,
        ["coherent_scene", "sequence", "sketch_to_image"]
            .into_iter()
            .collect(),
        "{third:#}"
    );
    assert!(
        third["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n["id"] == edited_id.as_str() && n["status"] == "done")
    );
}

#[test]
fn a_killed_run_continues_from_the_cache_and_corrupt_blobs_are_recomputed() {
    let sb = Sandbox::new("storyboard.aktion");
    let project = sb.project();
    let mut child = sb
        .cmd()
        .args(["run", project.to_str().expect("utf8"), "--route", "draft"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it once a few nodes are done.
    let stderr = child.stderr.take().expect("stderr");
    let mut done = 0;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        if line.expect("line").contains("] done") {
            done += 1;
            if done == 4 {
                break;
            }
        }
    }
    child.kill().expect("kill");
    let _ = child.wait();

    let (code, report) = sb.run_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    assert!(
        count(&report, "cached") >= 4,
        "finished nodes are not run again: {report:#}"
    );
    assert_eq!(
        count(&report, "cached") + count(&report, "done"),
        report["nodes"].as_array().expect("nodes").len()
    );

    // Corrupt one cached output: the next run detects it and recomputes that node.
    let victim = crate::node_of_kind(&report, "t2i");
    let path = victim["outputs"][0]["path"]
        .as_str()
        .expect("path")
        .to_owned();
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt");
    let (code, again) = sb.run_json(&[]);
    assert_eq!(code, 0);
    let v = again["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == victim["id"])
        .expect("victim");
    assert_eq!(
        v["status"], "done",
        "a corrupt blob is a miss, recomputed: {again:#}"
    );
    let fixed = std::fs::read(v["outputs"][0]["path"].as_str().expect("path")).expect("read");
    assert_eq!(
        blake3::hash(&fixed).to_hex().as_str(),
        v["outputs"][0]["hash"].as_str().expect("hash")
    );
}

#[test]
fn running_one_node_runs_only_what_it_needs() {
    let sb = Sandbox::new("small.aktion");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(sb.project().join("project.json")).expect("read"))
            .expect("json");
    let t2i = crate::node_of_kind(&doc, "t2i")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (code, report) = sb.run_json(&["--node", &t2i]);
    assert_eq!(code, 0);
    let kinds: Vec<&str> = report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.len(),
        2,
        "the prompt and the t2i, not the i2v: {report:#}"
    );
    assert!(!kinds.contains(&"i2v"));
}

#[test]
fn bad_projects_exit_2_with_the_problem_named_and_stay_untouched() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "newer",
            r#"{"format":"aktion-studio-project","version":7,"nodes":[]}"#,
            "newer",
        ),
        (
            "truncated",
            r#"{"format":"aktion-studio-project","version":1,"nodes":[{"id":"#,
            "not valid JSON",
        ),
        (
            "unknown",
            r#"{"format":"aktion-studio-project","version":1,"nodes":[{"id":"00000000-0000-4000-8000-000000000001","kind":"teleporter","pos":[0,0]}]}"#,
            "unknown node kind `teleporter`",
        ),
        (
            "dangling",
            r#"{"format":"aktion-studio-project","version":1,"nodes":[{"id":"00000000-0000-4000-8000-000000000001","kind":"t2i","pos":[0,0]}],"wires":[{"from":"00000000-0000-4000-8000-000000000009","to":"00000000-0000-4000-8000-000000000001","input":"prompt"}]}"#,
            "dangling wire",
        ),
        (
            "wrong_type",
            r#"{"format":"aktion-studio-project","version":1,"nodes":[{"id":"00000000-0000-4000-8000-000000000001","kind":"audio","pos":[0,0]},{"id":"00000000-0000-4000-8000-000000000002","kind":"i2v","pos":[0,0]}],"wires":[{"from":"00000000-0000-4000-8000-000000000001","to":"00000000-0000-4000-8000-000000000002","input":"image"}]}"#,
            "takes image, not audio",
        ),
        (
            "cycle",
            r#"{"format":"aktion-studio-project","version":1,"nodes":[{"id":"00000000-0000-4000-8000-000000000001","kind":"i2i","pos":[0,0]},{"id":"00000000-0000-4000-8000-000000000002","kind":"i2i","pos":[0,0]}],"wires":[{"from":"00000000-0000-4000-8000-000000000001","to":"00000000-0000-4000-8000-000000000002","input":"image"},{"from":"00000000-0000-4000-8000-000000000002","to":"00000000-0000-4000-8000-000000000001","input":"image"}]}"#,
            "cycle",
        ),
    ];
    let dir = tempfile::tempdir().expect("tmp");
    for (name, text, needle) in cases {
        let root = dir.path().join(name);
        std::fs::create_dir_all(&root).expect("mkdir");
        let file = root.join("project.json");
        std::fs::write(&file, text).expect("write");
        for verb in ["run", "validate", "cost"] {
            let out = Command::new(BIN)
                .env("AKTION_CACHE_DIR", dir.path().join("cache"))
                .args([verb, root.to_str().expect("utf8")])
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{verb} {name}: {stderr}");
            assert!(stderr.contains(needle), "{verb} {name}: {stderr}");
            assert_eq!(
                std::fs::read_to_string(&file).expect("read"),
                *text,
                "{name} untouched"
            );
        }
    }
    let out = Command::new(BIN)
        .args(["run", "/nonexistent/project"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let sb = Sandbox::new("small.aktion");
    let p = sb.project();
    let out = sb.run(&["run", p.to_str().expect("utf8"), "--node", "not-an-id"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sb.run(&[
        "run",
        p.to_str().expect("utf8"),
        "--node",
        "00000000-0000-4000-8000-00000000dead",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node"));
    let out = sb.run(&[
        "run",
        p.to_str().expect("utf8"),
        "--route",
        "carrier-pigeon",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_failing_node_exits_1_and_reports_its_error() {
    let sb = Sandbox::new("small.aktion");
    // Point the i2v's source at a file that is not an image: its import fails, dependents block.
    let file = sb.project().join("project.json");
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    let broken = aktion_graph::project::import_asset_bytes(
        &sb.project(),
        "broken.png",
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .expect("import");
    doc["nodes"]
        .as_array_mut()
        .expect("nodes")
        .push(serde_json::json!({
            "id": "00000000-0000-4000-8000-0000000000aa", "kind": "image", "pos": [0, 400],
            "params": { "file": broken.to_value() }
        }));
    // The new wire replaces the t2i's into the i2v.
    let i2v = crate::id_of_kind(&doc, "i2v");
    let wires = doc["wires"].as_array_mut().expect("wires");
    wires.retain(|w| w["to"] != i2v.as_str());
    wires.push(serde_json::json!({
        "from": "00000000-0000-4000-8000-0000000000aa", "to": i2v, "input": "image"
    }));
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let (code, report) = sb.run_json(&[]);
    assert_eq!(code, 1, "{report:#}");
    let bad = report["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == "00000000-0000-4000-8000-0000000000aa")
        .expect("bad node");
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"].as_str().expect("error").contains("broken.png"),
        "{bad:#}"
    );
    assert_eq!(
        count(&report, "blocked"),
        1,
        "the i2v waits on it: {report:#}"
    );
    assert_eq!(count(&report, "done"), 2, "the prompt and t2i still run");
}

#[test]
fn validate_cost_and_cache_commands() {
    let sb = Sandbox::new("small.aktion");
    let p = sb.project();
    let p = p.to_str().expect("utf8");
    let out = sb.run(&["validate", p, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["nodes"], 3);

    let out = sb.run(&["cost", p, "--route", "account", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["credits"], 2 + 8, "t2i + i2v at the seed's prices");
    let out = sb.run(&["cost", p, "--route", "draft", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["credits"], 0);

    let (code, _) = sb.run_json(&[]);
    assert_eq!(code, 0);
    let out = sb.run(&["cache", "stats", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["entries"], 3);
    let out = sb.run(&["cache", "clear"]);
    assert_eq!(out.status.code(), Some(0));
    let out = sb.run(&["cache", "stats", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["entries"], 0);
}

#[test]
fn results_are_kept_in_the_project_so_a_cleared_cache_or_another_machine_runs_nothing() {
    let sb = Sandbox::new("storyboard.aktion");
    let (code, first) = sb.run_json(&[]);
    assert_eq!(code, 0, "{first:#}");
    let nodes = first["nodes"].as_array().expect("nodes").len();
    assert_eq!(count(&first, "done"), nodes);

    // Every node now has a take in the saved project, its files in takes/ by content hash.
    let saved: Value =
        serde_json::from_slice(&std::fs::read(sb.project().join("project.json")).expect("read"))
            .expect("json");
    for n in saved["nodes"].as_array().expect("nodes") {
        let takes = n["takes"].as_array().expect("takes were recorded");
        assert_eq!(takes.len(), 1, "{n:#}");
        for o in takes[0]["outputs"].as_array().expect("outputs") {
            let hash = o["hash"].as_str().expect("hash");
            let bytes = std::fs::read(sb.project().join("takes").join(hash)).expect("take file");
            assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash);
        }
    }

    // The cache is cleared: every take still opens and plays from the project, nothing runs
    // again, every node is reported cached.
    let out = sb.run(&["cache", "clear"]);
    assert!(out.status.success());
    let mut played = 0;
    for n in saved["nodes"].as_array().expect("nodes") {
        for o in n["takes"][0]["outputs"].as_array().expect("outputs") {
            let bytes = std::fs::read(
                sb.project()
                    .join("takes")
                    .join(o["hash"].as_str().expect("hash")),
            )
            .expect("take file");
            let mime = o["mime"].as_str().expect("mime");
            if mime.starts_with("video/") {
                let clip = aktion_media::Video::open(bytes).expect("the clip opens");
                let frames = clip.frames(Some(320)).expect("frames").count();
                assert_eq!(frames, clip.info().frames, "every frame of {n:#}");
                played += 1;
            } else if mime.starts_with("audio/") {
                assert!(aktion_media::decode_audio(&bytes).expect("sound").seconds() > 0.0);
                played += 1;
            } else if mime.starts_with("image/") {
                aktion_media::decode_image(&bytes, &aktion_media::DecodeLimits::default())
                    .expect("picture");
                played += 1;
            }
        }
    }
    assert!(played >= 12, "{played} takes played");
    let (code, second) = sb.run_json(&[]);
    assert_eq!(code, 0, "{second:#}");
    assert_eq!(second["totals"]["ran"], 0, "{second:#}");
    assert_eq!(count(&second, "cached"), nodes);

    // The project copied to a fresh folder, run with a fresh cache (another machine): the same.
    let elsewhere = tempfile::tempdir().expect("tmp");
    crate::copy_dir(&sb.project(), &elsewhere.path().join("project"));
    let out = Command::new(BIN)
        .env("AKTION_CACHE_DIR", elsewhere.path().join("cache"))
        .env("AKTION_CONFIG_DIR", elsewhere.path().join("config"))
        .env("AKTION_SECRETS", "file")
        .args([
            "run",
            elsewhere.path().join("project").to_str().expect("utf8"),
            "--route",
            "draft",
            "--json",
        ])
        .output()
        .expect("aktion runs");
    let third: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(third["totals"]["ran"], 0, "{third:#}");
    assert_eq!(count(&third, "cached"), nodes);

    // --no-save leaves the project untouched.
    let before = std::fs::read(sb.project().join("project.json")).expect("read");
    let file = sb.project().join("project.json");
    let mut doc: Value = serde_json::from_slice(&before).expect("json");
    doc["nodes"]
        .as_array_mut()
        .expect("nodes")
        .iter_mut()
        .find(|n| n["kind"] == "sketch_to_image")
        .expect("sketch_to_image")["params"]["prompt"] = Value::from("Mara ducks instead");
    let edited = serde_json::to_vec_pretty(&doc).expect("json");
    std::fs::write(&file, &edited).expect("write");
    let (code, fourth) = sb.run_json(&["--no-save"]);
    assert_eq!(code, 0, "{fourth:#}");
    assert!(fourth["totals"]["ran"].as_u64().expect("ran") >= 1);
    assert_eq!(std::fs::read(&file).expect("read"), edited, "untouched");
}

/// The ordinary files of the media issue's "Why" (H.264 Baseline/Main/High with B-frames,
/// faststart and moov-at-end, fragmented MP4, MOV, 852×480 and 9:16, 1080p, rotation; MP3, M4A,
/// FLAC, Ogg, stereo WAV), made by Debian's ffmpeg before the tests, each wired into a Lip Sync
/// and run on the draft route with no ffmpeg within reach: every one runs, and every result is
/// an H.264 MP4 with sound that the app's own decoder reads.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "builds the board, runs it and checks 14 results"
)]
fn the_ordinary_files_wired_into_lip_sync_run_on_the_draft_route_without_ffmpeg() {
    let Some(fixtures) = std::env::var_os("AKTION_MEDIA_FIXTURES").map(PathBuf::from) else {
        assert!(
            std::env::var_os("AKTION_REQUIRE_MEDIA_FIXTURES").is_none(),
            "AKTION_MEDIA_FIXTURES is not set"
        );
        eprintln!("skipped: no media fixtures (cargo xtask media-fixtures)");
        return;
    };
    let videos = [
        "baseline.mp4",
        "main-moov-at-end.mp4",
        "high-480p-aac.mp4",
        "bench-1080p.mp4",
        "fragmented.mp4",
        "clip.mov",
        "portrait-9x16.mp4",
        "hd-1080p.mp4",
        "rotated-90.mp4",
    ];
    let sounds = [
        "tone.mp3",
        "tone.m4a",
        "tone.flac",
        "tone.ogg",
        "stereo.wav",
    ];
    let sb = Sandbox::new("small.aktion");
    let root = sb.project();
    let import = |name: &str| {
        let bytes = std::fs::read(fixtures.join(name)).expect("fixture");
        aktion_graph::project::import_asset_bytes(&root, name, &bytes)
            .expect("import")
            .to_value()
    };
    let mut nodes = Vec::new();
    let mut wires = Vec::new();
    let mut id = 0u32;
    let mut node = |kind: &str, title: &str, params: Value| {
        id += 1;
        let node_id = format!("00000000-0000-4000-8000-{id:012x}");
        nodes.push(serde_json::json!({
            "id": node_id, "kind": kind, "title": title, "pos": [0, f64::from(id) * 200.0],
            "params": params
        }));
        node_id
    };
    let default_video = node(
        "video",
        "default clip",
        serde_json::json!({"file": import("baseline.mp4")}),
    );
    let default_sound = node(
        "audio",
        "default sound",
        serde_json::json!({"file": import("stereo.wav")}),
    );
    let mut syncs = Vec::new();
    for name in videos.iter().chain(&sounds) {
        let is_video = videos.contains(name);
        let source = node(
            if is_video { "video" } else { "audio" },
            name,
            serde_json::json!({"file": import(name)}),
        );
        let sync = node(
            "lip_sync",
            &format!("sync {name}"),
            serde_json::json!({"seed": 1}),
        );
        let (video, sound) = if is_video {
            (source, default_sound.clone())
        } else {
            (default_video.clone(), source)
        };
        wires.push(serde_json::json!({"from": video, "to": sync, "input": "video"}));
        wires.push(serde_json::json!({"from": sound, "to": sync, "input": "audio"}));
        syncs.push(((*name).to_owned(), sync));
    }
    let file = root.join("project.json");
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    doc["nodes"] = Value::Array(nodes);
    doc["wires"] = Value::Array(wires);
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");

    let mut cmd = sb.cmd();
    cmd.env("AKTION_FFMPEG", "/nonexistent/ffmpeg")
        .env("PATH", "/nonexistent")
        .args([
            "run",
            root.to_str().expect("utf8"),
            "--route",
            "draft",
            "--json",
        ]);
    let out = cmd.output().expect("aktion runs");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let by_id = |wanted: &str| {
        report["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["id"] == wanted)
            .cloned()
            .expect("node in the report")
    };
    assert_eq!(syncs.len(), 14);
    for (name, sync) in &syncs {
        let node = by_id(sync);
        assert_eq!(node["status"], "done", "{name}: {node:#}");
        let output = &node["outputs"][0];
        assert_eq!(output["mime"], "video/mp4", "{name}");
        let bytes = std::fs::read(output["path"].as_str().expect("path")).expect("output");
        let clip = aktion_media::Video::open(bytes.clone()).expect("the draft clip decodes");
        assert!(clip.info().codec.starts_with("H.264"), "{name}");
        assert!(clip.info().frames >= 2, "{name}");
        let sound = aktion_media::decode_audio(&bytes).expect("its sound decodes");
        assert!(
            sound.seconds() > 0.2,
            "{name}: {} s of sound",
            sound.seconds()
        );
    }
}
