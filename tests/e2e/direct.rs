//! `aktion run --route direct` against the fake providers of `aktion_fakes`, started in this
//! process and reached through the base-URL variables: the example storyboard completes, and a
//! killed run started again polls the same provider job instead of submitting a second one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aktion_fakes::{Fake, Flavor, OutputSpec, Step};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aktion");
const KEY: &str = "sk_E2E_KEY_never_print_me";
const BUCKET_SECRET: &str = "e2e-bucket-secret-never-print-me";
const KEY_VARS: [&str; 4] = [
    "REPLICATE_API_TOKEN",
    "RUNCOMFY_API_TOKEN",
    "A2E_API_KEY",
    "FAL_KEY",
];

struct Fakes {
    runtime: tokio::runtime::Runtime,
    all: Vec<Fake>,
}

impl Fakes {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let all = runtime
            .block_on(aktion_fakes::start_all())
            .expect("fakes start");
        for f in &all {
            f.require_key(KEY);
            // Short scripts keep real-time polling quick.
            f.set_script(vec![Step::Queued(0), Step::Running(0.5), Step::Succeed]);
            // The studio's Wan deployment runs the shipped Sequence workflow (its node ids).
            if f.flavor == Flavor::RunComfy
                && let aktion_providers::Target::ComfyUi { workflow } =
                    &aktion_providers::default_comfyui_kinds()["sequence"].target
            {
                f.add_deployment("wan-fun-inp-e2e", workflow.clone());
            }
        }
        Self { runtime, all }
    }

    fn get(&self, flavor: Flavor) -> &Fake {
        self.all
            .iter()
            .find(|f| f.flavor == flavor)
            .expect("every flavor")
    }

    fn submissions(&self) -> usize {
        self.all.iter().map(Fake::submissions).sum()
    }
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples");
        crate::copy_dir(
            &examples.join("storyboard.aktion"),
            &dir.path().join("project"),
        );
        // Poll every second (A2E's default is five) so the test is quick in real time.
        let config = serde_json::json!({
            "poll_interval_secs": { "replicate": 1, "runcomfy": 1, "a2e": 1, "fal": 1, "comfyui": 1 }
        });
        std::fs::write(dir.path().join("providers.json"), config.to_string()).expect("config");
        Self { dir }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    fn cmd(&self, fakes: &Fakes, nodes: &[&str]) -> Command {
        self.cmd_on(fakes, "direct", nodes)
    }

    fn cmd_on(&self, fakes: &Fakes, route: &str, nodes: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("AKTION_CACHE_DIR", self.cache());
        // A secret store of the test's own: a key removed from the environment must not be
        // found in the developer's keychain.
        c.env("AKTION_CONFIG_DIR", self.dir.path().join("config"));
        c.env("AKTION_SECRETS", "file");
        c.env(
            "AKTION_PROVIDERS_CONFIG",
            self.dir.path().join("providers.json"),
        );
        c.env_remove("AKTION_LOG");
        for f in &fakes.all {
            c.env(f.flavor.env_var(), f.base_url());
        }
        for var in KEY_VARS {
            c.env(var, KEY);
        }
        c.env("WAN_FUN_INP_DEPLOYMENT_ID", "wan-fun-inp-e2e");
        let project = self.dir.path().join("project");
        c.args(["run", project.to_str().expect("utf8")]);
        c.args(["--route", route, "--json"]);
        for n in nodes {
            c.args(["--node", n]);
        }
        c
    }

    fn run(&self, fakes: &Fakes, nodes: &[&str]) -> (i32, Value, String) {
        self.run_on(fakes, "direct", nodes)
    }

    fn run_on(&self, fakes: &Fakes, route: &str, nodes: &[&str]) -> (i32, Value, String) {
        report_of(
            &self
                .cmd_on(fakes, route, nodes)
                .output()
                .expect("aktion runs"),
        )
    }
}

/// `aktion run --json`'s exit code, report and stderr.
fn report_of(out: &Output) -> (i32, Value, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().expect("exit code"), json, stderr)
}

fn node<'a>(report: &'a Value, kind: &str) -> &'a Value {
    crate::node_of_kind(report, kind)
}

/// The ids of the project's nodes of these kinds.
fn ids(sandbox: &Sandbox, kinds: &[&str]) -> Vec<String> {
    let bytes = std::fs::read(sandbox.dir.path().join("project/project.json")).expect("project");
    let doc: Value = serde_json::from_slice(&bytes).expect("json");
    kinds.iter().map(|k| crate::id_of_kind(&doc, k)).collect()
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            found.push(path);
        }
    }
    found
}

const IMAGE_KINDS: [&str; 6] = [
    "character",
    "t2i",
    "sketch_to_image",
    "i2i",
    "action_pose",
    "coherent_scene",
];

#[test]
fn the_storyboard_runs_on_the_direct_route_against_the_fakes() {
    let fakes = Fakes::start();
    let sandbox = Sandbox::new();
    // Each fake serves one file type; the image nodes run first with PNGs...
    let image_nodes = ids(&sandbox, &IMAGE_KINDS);
    let args: Vec<&str> = image_nodes.iter().map(String::as_str).collect();
    let (code, report, stderr) = sandbox.run(&fakes, &args);
    assert_eq!(code, 0, "{report}\n{stderr}");
    for kind in IMAGE_KINDS {
        let n = node(&report, kind);
        assert_eq!(n["status"], "done", "{kind}: {n}");
        assert_eq!(n["draft"], false, "{kind}");
        assert_eq!(n["outputs"][0]["mime"], "image/png", "{kind}");
    }
    assert!(stderr.contains("running"), "progress on stderr: {stderr}");

    // ...then, serving MP4s, the whole board: the images are cached, the videos run.
    fakes.get(Flavor::A2e).set_output(OutputSpec::mp4());
    fakes.get(Flavor::RunComfy).set_output(OutputSpec::mp4());
    let before = fakes.submissions();
    let (code, report, stderr) = sandbox.run(&fakes, &[]);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(report["success"], true);
    for kind in IMAGE_KINDS {
        assert_eq!(node(&report, kind)["status"], "cached", "{kind}");
    }
    for kind in ["t2v", "i2v", "lip_sync", "sequence"] {
        let n = node(&report, kind);
        assert_eq!(n["status"], "done", "{kind}: {n}");
        assert_eq!(n["outputs"][0]["mime"], "video/mp4", "{kind}");
    }
    assert_eq!(fakes.submissions() - before, 4, "only the four videos ran");
    assert!(
        files_containing(&sandbox.cache(), KEY.as_bytes()).is_empty(),
        "no key in the cache or the journal"
    );
    assert!(!stderr.contains(KEY));
    drop(fakes.runtime);
}

/// `aktion run --route comfyui` with `AKTION_COMFYUI_URL` pointing at the fake ComfyUI, which
/// validates every prompt as ComfyUI does: the storyboard's kinds with a shipped workflow run on
/// it; the three that stock ComfyUI cannot make fail with a message that says what to add.
#[test]
fn the_storyboard_runs_on_the_comfyui_route_against_the_fake() {
    const COMFY_IMAGES: [&str; 5] = ["character", "t2i", "sketch_to_image", "i2i", "action_pose"];
    const NO_WORKFLOW: [(&str, &str); 3] = [
        ("t2v", "Talking Portrait"),
        ("lip_sync", "Lip Sync"),
        ("coherent_scene", "Epic Scene"),
    ];
    let fakes = Fakes::start();
    let comfy = fakes.get(Flavor::ComfyUi);
    let sandbox = Sandbox::new();
    let image_nodes = ids(&sandbox, &COMFY_IMAGES);
    let args: Vec<&str> = image_nodes.iter().map(String::as_str).collect();
    let (code, report, stderr) = sandbox.run_on(&fakes, "comfyui", &args);
    assert_eq!(code, 0, "{report}\n{stderr}");
    for kind in COMFY_IMAGES {
        let n = node(&report, kind);
        assert_eq!(n["status"], "done", "{kind}: {n}");
        assert_eq!(n["outputs"][0]["mime"], "image/png", "{kind}");
    }
    assert_eq!(comfy.submissions(), 5);
    assert!(stderr.contains("running"), "progress on stderr: {stderr}");

    comfy.set_output(OutputSpec::mp4());
    let (code, report, stderr) = sandbox.run_on(&fakes, "comfyui", &[]);
    assert_eq!(code, 1, "three kinds have no workflow: {report}\n{stderr}");
    for kind in COMFY_IMAGES {
        assert_eq!(node(&report, kind)["status"], "cached", "{kind}");
    }
    for kind in ["i2v", "sequence"] {
        let n = node(&report, kind);
        assert_eq!(n["status"], "done", "{kind}: {n}");
        assert_eq!(n["outputs"][0]["mime"], "video/mp4", "{kind}");
    }
    for (kind, title) in NO_WORKFLOW {
        let n = node(&report, kind);
        let error = n["error"].as_str().unwrap_or_default();
        // Lip Sync may be skipped because its Talking Portrait input failed.
        if kind == "lip_sync" && n["status"] != "failed" {
            continue;
        }
        assert_eq!(n["status"], "failed", "{kind}: {n}");
        assert!(
            error.contains(&format!(
                "no ComfyUI workflow is configured for {title} nodes"
            )) && error.contains(&format!("comfyui:{kind}")),
            "{kind}: {error}"
        );
    }
    assert_eq!(comfy.submissions(), 7, "only the two videos ran");
    // Nothing went to the hosted providers.
    for flavor in [
        Flavor::Replicate,
        Flavor::RunComfy,
        Flavor::A2e,
        Flavor::Fal,
    ] {
        assert_eq!(fakes.get(flavor).submissions(), 0, "{flavor:?}");
    }
    drop(fakes.runtime);
}

#[test]
fn a_killed_direct_run_resumes_polling_without_submitting_again() {
    let fakes = Fakes::start();
    let replicate = fakes.get(Flavor::Replicate);
    // Long enough (one poll a second) to kill the run mid-job.
    let mut script = vec![Step::Queued(0)];
    script.extend((0..8).map(|i| Step::Running(i as f32 / 8.0)));
    script.push(Step::Succeed);
    replicate.set_script(script);
    let sandbox = Sandbox::new();
    let target = ids(&sandbox, &["sketch_to_image"]);
    let before = replicate.submissions();

    let mut child = sandbox
        .cmd(&fakes, &[target[0].as_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let journal = sandbox.cache().join("journal");
    let started = Instant::now();
    while std::fs::read_dir(&journal).map_or(0, Iterator::count) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the job was never journaled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(replicate.submissions() - before, 1);

    let (code, report, stderr) = sandbox.run(&fakes, &[target[0].as_str()]);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert_eq!(node(&report, "sketch_to_image")["status"], "done");
    assert_eq!(
        replicate.submissions() - before,
        1,
        "resumed, not submitted again: {stderr}"
    );
    assert!(stderr.contains("resuming"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(&journal).map_or(0, Iterator::count),
        0,
        "journal cleared"
    );
}

#[test]
fn a_missing_key_fails_only_its_nodes_and_names_the_variable() {
    let fakes = Fakes::start();
    let sandbox = Sandbox::new();
    let target = ids(&sandbox, &["sketch_to_image", "t2i"]);
    let mut cmd = sandbox.cmd(&fakes, &[target[0].as_str(), target[1].as_str()]);
    cmd.env_remove("REPLICATE_API_TOKEN");
    let out = cmd.output().expect("aktion runs");
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(out.status.code(), Some(1), "{report}");
    let s2i = node(&report, "sketch_to_image");
    assert_eq!(s2i["status"], "failed");
    assert_eq!(
        s2i["error"],
        "no API key for replicate: set REPLICATE_API_TOKEN"
    );
    assert_eq!(
        node(&report, "t2i")["status"],
        "done",
        "A2E has its key: {report}"
    );
    assert_eq!(fakes.get(Flavor::Replicate).submissions(), 0);
}

/// Issue #15, against the strict fakes (only what PROVIDERS.md marks [V]): with a fal key, fal's
/// storage hosts A2E's inputs and every generating node is done; with an S3-compatible bucket
/// instead, the same, A2E fetching its inputs through presigned URLs; with neither, the A2E nodes
/// with local inputs fail before anything is sent, with the message that says what to set up,
/// and everything else is done.
#[test]
#[expect(
    clippy::too_many_lines,
    reason = "three set-ups of one board, each checked where its inputs went"
)]
fn a2e_inputs_are_hosted_where_the_user_chose_or_nothing_is_sent() {
    const A2E_WITH_FILES: [&str; 5] = ["character", "action_pose", "t2v", "i2v", "lip_sync"];
    let fakes = Fakes::start();
    let a2e = fakes.get(Flavor::A2e);
    // Each fake serves one file type: the image nodes first with PNGs, then the whole board
    // with MP4s (the images cached).
    let run_board = |sandbox: &Sandbox, tweak: &dyn Fn(&mut Command)| {
        for f in &fakes.all {
            f.set_output(OutputSpec::png());
        }
        let image_nodes = ids(sandbox, &IMAGE_KINDS);
        let args: Vec<&str> = image_nodes.iter().map(String::as_str).collect();
        let mut cmd = sandbox.cmd(&fakes, &args);
        tweak(&mut cmd);
        cmd.output().expect("aktion runs");
        for flavor in [Flavor::A2e, Flavor::RunComfy] {
            fakes.get(flavor).set_output(OutputSpec::mp4());
        }
        let mut cmd = sandbox.cmd(&fakes, &[]);
        tweak(&mut cmd);
        report_of(&cmd.output().expect("aktion runs"))
    };
    let all_done = |report: &Value, stderr: &str| {
        for n in report["nodes"].as_array().expect("nodes") {
            assert!(
                matches!(n["status"].as_str(), Some("done" | "cached")),
                "{n}\n{stderr}"
            );
        }
    };

    // 1. A2E, Replicate, RunComfy and fal keys: fal's storage hosts A2E's inputs.
    let sandbox = Sandbox::new();
    let (code, report, stderr) = run_board(&sandbox, &|_| {});
    assert_eq!(code, 0, "{report}\n{stderr}");
    all_done(&report, &stderr);
    let fal_hosted = a2e.fetched();
    let fal_origin = fakes.get(Flavor::Fal).base_url();
    assert!(!fal_hosted.is_empty());
    assert!(
        fal_hosted.iter().all(|u| u.starts_with(&fal_origin)),
        "{fal_hosted:?}"
    );

    // 2. A bucket instead of a fal key: inputs fetched from presigned URLs, nothing on fal.
    let bucket = fakes
        .runtime
        .block_on(aktion_fakes::s3::Bucket::start(
            "studio-inputs",
            "AKIDE2EBUCKET",
        ))
        .expect("bucket");
    let sandbox = Sandbox::new();
    let fal_before = fakes.get(Flavor::Fal).seen().len();
    let fetched_before = a2e.fetched().len();
    let endpoint = bucket.endpoint();
    let (code, report, stderr) = run_board(&sandbox, &|cmd| {
        cmd.env_remove("FAL_KEY")
            .env("AKTION_INPUT_BUCKET", "s3://studio-inputs/aktion")
            .env("AKTION_INPUT_BUCKET_ENDPOINT", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIDE2EBUCKET")
            .env("AWS_SECRET_ACCESS_KEY", BUCKET_SECRET);
    });
    assert_eq!(code, 0, "{report}\n{stderr}");
    all_done(&report, &stderr);
    let from_bucket = &a2e.fetched()[fetched_before..];
    assert!(!from_bucket.is_empty());
    assert!(
        from_bucket
            .iter()
            .all(|u| u.starts_with(&bucket.endpoint()) && u.contains("X-Amz-Signature=")),
        "{from_bucket:?}"
    );
    assert!(
        bucket
            .seen()
            .iter()
            .any(|s| s.method == "GET" && s.presigned)
    );
    assert_eq!(
        fakes.get(Flavor::Fal).seen().len(),
        fal_before,
        "no input went to a host the user did not choose"
    );
    // No key, bucket secret or presigned URL signature in the project, cache or journal.
    for secret in [KEY, BUCKET_SECRET] {
        assert!(
            files_containing(sandbox.dir.path(), secret.as_bytes()).is_empty(),
            "{secret} written to disk"
        );
        assert!(!stderr.contains(secret));
    }
    assert!(
        files_containing(sandbox.dir.path(), b"X-Amz-Signature").is_empty(),
        "a presigned URL was kept"
    );

    // 3. Neither: the A2E nodes with local inputs fail before submitting; the rest are done.
    let sandbox = Sandbox::new();
    let a2e_before = a2e.submissions();
    let others_before: usize = fakes
        .all
        .iter()
        .filter(|f| f.flavor != Flavor::A2e)
        .map(Fake::submissions)
        .sum();
    let (code, report, _) = run_board(&sandbox, &|cmd| {
        cmd.env_remove("FAL_KEY");
    });
    assert_eq!(code, 1, "{report}");
    for kind in A2E_WITH_FILES {
        let n = node(&report, kind);
        if n["status"] == "blocked" {
            continue; // downstream of another A2E node that failed
        }
        assert_eq!(n["status"], "failed", "{kind}: {n}");
        let error = n["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("takes inputs only as public URLs")
                && error.contains("S3-compatible bucket")
                && error.contains("FAL_KEY")
                && error.contains("account route"),
            "{kind}: {error}"
        );
    }
    assert_eq!(node(&report, "character")["status"], "failed");
    // Only Text to Image (a prompt, no files) reached A2E.
    assert_eq!(a2e.submissions() - a2e_before, 1, "{report}");
    for kind in ["t2i", "sketch_to_image", "i2i"] {
        let status = node(&report, kind)["status"].clone();
        assert!(status == "done" || status == "cached", "{kind}: {status}");
    }
    let others: usize = fakes
        .all
        .iter()
        .filter(|f| f.flavor != Flavor::A2e)
        .map(Fake::submissions)
        .sum();
    assert!(others > others_before, "the rest ran");
    drop(bucket);
    drop(fakes.runtime);
}
