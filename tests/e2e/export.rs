//! `aktion export` of the example storyboard in every format, read by tools no one here wrote:
//! OpenTimelineIO and its adapters (a Python virtual environment `cargo xtask test` makes,
//! `AKTION_TEST_PYTHON`) and ffprobe (`AKTION_TEST_FFPROBE`). Refusals exit 2 with a message.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::cli::Sandbox;

/// The video track the sequence should make, at 24 fps: each shot's title and length (a
/// still 3 s unless held otherwise, a clip its take's length).
fn expected(project: &Path) -> Vec<Value> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(project.join("project.json")).expect("read"))
            .expect("json");
    let nodes = doc["nodes"].as_array().expect("nodes");
    doc["sequence"]["shots"]
        .as_array()
        .expect("the storyboard has a sequence")
        .iter()
        .map(|shot| {
            let node = nodes
                .iter()
                .find(|n| n["id"] == shot["node"])
                .expect("the shot's node");
            let take = node["takes"]
                .as_array()
                .and_then(|t| t.first())
                .expect("a take");
            let out = &take["outputs"][0];
            let frames = if out["mime"]
                .as_str()
                .is_some_and(|m| m.starts_with("video/"))
            {
                let bytes = std::fs::read(
                    project
                        .join("takes")
                        .join(out["hash"].as_str().expect("hash")),
                )
                .expect("take");
                let seconds = aktion_media::Video::open(bytes)
                    .expect("clip")
                    .info()
                    .duration;
                (seconds * 24.0).round() as u64
            } else {
                shot["hold_ms"].as_u64().unwrap_or(3_000) * 24 / 1000
            };
            json!({ "name": shot["title"], "frames": frames })
        })
        .collect()
}

/// ffprobe: H.264 (640×360) and AAC, the sequence's length within a frame, every frame
/// decodes.
fn check_mp4(path: &Path, total: u64) {
    if let Ok(ffprobe) = std::env::var("AKTION_TEST_FFPROBE") {
        let probe = Command::new(&ffprobe)
            .args(["-v", "error", "-count_frames", "-show_entries"])
            .arg("stream=codec_name,width,height,nb_read_frames:format=duration")
            .args(["-of", "json"])
            .arg(path)
            .output()
            .expect("ffprobe runs");
        assert!(
            probe.status.success(),
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        assert!(
            probe.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let info: Value = serde_json::from_slice(&probe.stdout).expect("json");
        let streams = info["streams"].as_array().expect("streams");
        let video = streams
            .iter()
            .find(|s| s["codec_name"] == "h264")
            .expect("H.264");
        assert!(streams.iter().any(|s| s["codec_name"] == "aac"), "{info:#}");
        assert_eq!(video["width"], 640);
        assert_eq!(video["height"], 360);
        assert_eq!(
            video["nb_read_frames"].as_str(),
            Some(total.to_string().as_str())
        );
        let seconds: f64 = info["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .expect("duration");
        assert!(
            (seconds - total as f64 / 24.0).abs() <= 1.0 / 24.0 + 0.03,
            "{seconds} s for {total} frames"
        );
    } else {
        eprintln!("ffprobe checks skipped: AKTION_TEST_FFPROBE is not set");
    }
}

/// poppler's `pdfinfo` counts the pages and `pdftotext` finds every shot's title and the
/// dialogue in the text.
fn check_pdf(path: &Path, pages: usize, want: &[Value]) {
    let Ok(dir) = std::env::var("AKTION_TEST_POPPLER") else {
        eprintln!("PDF checks skipped: AKTION_TEST_POPPLER is not set");
        return;
    };
    let dir = Path::new(&dir);
    let info = Command::new(dir.join("pdfinfo"))
        .arg(path)
        .output()
        .expect("pdfinfo runs");
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info = String::from_utf8_lossy(&info.stdout);
    let count = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(count, Some(pages), "{info}");
    assert!(info.contains("Rooftop showdown"), "the title: {info}");
    let text = Command::new(dir.join("pdftotext"))
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for w in want {
        let title = w["name"].as_str().expect("name");
        assert!(
            text.contains(title),
            "{title} in {}: {text}",
            path.display()
        );
    }
    assert!(text.contains("Not tonight."), "the dialogue: {text}");
    assert!(
        text.contains("MCU · eye level · static · 50mm"),
        "camera fields: {text}"
    );
}

fn python() -> Option<String> {
    let python = std::env::var("AKTION_TEST_PYTHON").ok();
    if python.is_none() {
        assert!(
            std::env::var_os("AKTION_REQUIRE_PYTHON_TOOLS").is_none(),
            "AKTION_TEST_PYTHON is not set: `cargo xtask test` makes the OpenTimelineIO environment"
        );
        eprintln!("OpenTimelineIO checks skipped: AKTION_TEST_PYTHON is not set");
    }
    python
}

#[test]
fn the_storyboard_exports_in_every_format_and_editors_tools_read_it() {
    let sb = Sandbox::new("storyboard.aktion");
    let (code, report) = sb.run_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    let project = sb.project();
    let out = sb.dir.path().join("hand-off");
    for (format, file) in [
        ("otio", "board.otio"),
        ("otioz", "board.otioz"),
        ("edl", "board.edl"),
        ("fcp7xml", "board.xml"),
        ("fcpxml", "board.fcpxml"),
        ("csv", "board.csv"),
        ("mp4", "board.mp4"),
        ("pdf", "board.pdf"),
        ("bundle", "board.zip"),
    ] {
        let path = out.join(file);
        let run = sb.run(&[
            "export",
            project.to_str().expect("utf8"),
            "--format",
            format,
            "--out",
            path.to_str().expect("utf8"),
            "--size",
            "640x360",
        ]);
        assert!(
            run.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(path.is_file(), "{format} wrote {}", path.display());
    }
    let want = expected(&project);
    assert_eq!(want.len(), 5);
    let total: u64 = want.iter().map(|w| w["frames"].as_u64().unwrap_or(0)).sum();

    // The shot list names every shot and its dialogue.
    let csv = std::fs::read_to_string(out.join("board.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.contains("Not tonight."));
    for w in &want {
        assert!(csv.contains(w["name"].as_str().expect("name")));
    }

    check_mp4(&out.join("board.mp4"), total);

    // The storyboard PDF: a title page and the shots at 3 a page (the default), then at 1 and
    // 6 a page; its text (titles, dialogue) is real text.
    for (panels, pages) in [(None, 3), (Some("1"), 6), (Some("6"), 2)] {
        let path = match panels {
            None => out.join("board.pdf"),
            Some(p) => {
                let path = out.join(format!("board-{p}.pdf"));
                let run = sb.run(&[
                    "export",
                    project.to_str().expect("utf8"),
                    "--format",
                    "pdf",
                    "--panels",
                    p,
                    "--out",
                    path.to_str().expect("utf8"),
                ]);
                assert!(
                    run.status.success(),
                    "{}",
                    String::from_utf8_lossy(&run.stderr)
                );
                path
            }
        };
        check_pdf(&path, pages, &want);
    }

    // OpenTimelineIO reads every timeline the same way, and converts the .otio to CMX3600 and
    // FCP7 XML with the same clips, order and lengths.
    if let Some(python) = python() {
        let expected_file = sb.dir.path().join("expected.json");
        std::fs::write(&expected_file, serde_json::to_vec(&want).expect("json")).expect("write");
        let check = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/tools/otio_check.py"))
            .arg(&out)
            .arg(&expected_file)
            .output()
            .expect("python runs");
        assert!(
            check.status.success(),
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn unusable_export_requests_exit_2_with_the_problem_named() {
    let sb = Sandbox::new("storyboard.aktion");
    let project = sb.project();
    let project = project.to_str().expect("utf8");
    let out = sb.dir.path().join("x.otio");
    let out = out.to_str().expect("utf8");
    let refuse = |args: &[&str], needle: &str| {
        let run = sb.run(args);
        let err = String::from_utf8_lossy(&run.stderr).into_owned();
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    refuse(
        &["export", project, "--format", "mov", "--out", out],
        "unknown export format `mov`",
    );
    // Nothing has run yet: every shot lacks its take.
    refuse(
        &["export", project, "--format", "otio", "--out", out],
        "have no take to show",
    );
    refuse(
        &[
            "export", project, "--format", "mp4", "--out", out, "--size", "9x9",
        ],
        "16–4096",
    );
    let small = Sandbox::new("small.aktion");
    let small_project = small.project();
    refuse(
        &[
            "export",
            small_project.to_str().expect("utf8"),
            "--format",
            "edl",
            "--out",
            out,
        ],
        "the sequence has no shots",
    );
    assert!(!Path::new(out).exists(), "nothing was written");
    // A shot list needs no takes: missing ones are listed as such.
    let csv = sb.dir.path().join("list.csv");
    let run = sb.run(&[
        "export",
        project,
        "--format",
        "csv",
        "--out",
        csv.to_str().expect("utf8"),
    ]);
    assert!(run.status.success());
    assert_eq!(
        std::fs::read_to_string(csv)
            .expect("csv")
            .matches("missing take")
            .count(),
        5
    );
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "export, edit, conform and check, in the order an editor's round trip goes"
)]
fn an_edit_of_the_otio_export_comes_back_reordered_retimed_and_nothing_runs_again() {
    let Some(python) = python() else {
        return;
    };
    let sb = Sandbox::new("storyboard.aktion");
    let (code, report) = sb.run_json(&[]);
    assert_eq!(code, 0, "{report:#}");
    let project = sb.project();
    let out = sb.dir.path().join("hand-off");
    let otio = out.join("board.otio");
    let run = sb.run(&[
        "export",
        project.to_str().expect("utf8"),
        "--format",
        "otio",
        "--out",
        otio.to_str().expect("utf8"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // The editor moves the last shot to the front, lengthens Mara's line past its take and
    // drops the Broker's close-up.
    let edited = out.join("edited.otio");
    let edit = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/tools/otio_edit.py"))
        .args([&otio, &edited])
        .args(["Mara speaks", "The Broker"])
        .output()
        .expect("python runs");
    assert!(
        edit.status.success(),
        "{}",
        String::from_utf8_lossy(&edit.stderr)
    );

    let before = expected(&project);
    let doc = |p: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(p.join("project.json")).expect("read")).expect("json")
    };
    let shots_before = doc(&project)["sequence"]["shots"].clone();
    let id_of = |title: &str| {
        shots_before
            .as_array()
            .expect("shots")
            .iter()
            .find(|s| s["title"] == title)
            .map(|s| s["id"].as_str().expect("id").to_owned())
            .expect("shot")
    };
    let run = sb.run(&[
        "conform",
        project.to_str().expect("utf8"),
        edited.to_str().expect("utf8"),
        "--json",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: Value = serde_json::from_slice(&run.stdout).expect("json");
    assert_eq!(result["needs_longer_take"], json!([id_of("Mara speaks")]));
    assert_eq!(result["removed"], json!([id_of("The Broker")]));
    assert_eq!(result["unmatched"], json!([]));

    let shots = doc(&project)["sequence"]["shots"].clone();
    let titles: Vec<&str> = shots
        .as_array()
        .expect("shots")
        .iter()
        .map(|s| s["title"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        titles,
        [
            "The punch",
            "The showdown",
            "Mara speaks",
            "Rooftop to punch"
        ]
    );
    let mara = &shots[2];
    let mara_frames = before
        .iter()
        .find(|b| b["name"] == "Mara speaks")
        .and_then(|b| b["frames"].as_u64())
        .expect("frames");
    assert_eq!(
        mara["hold_ms"].as_u64(),
        Some((mara_frames + 24) * 1000 / 24),
        "{mara:#}"
    );
    // Untouched shots keep their fields exactly.
    for title in ["The punch", "The showdown", "Rooftop to punch"] {
        let old = shots_before
            .as_array()
            .expect("shots")
            .iter()
            .find(|s| s["title"] == title)
            .expect("old");
        let new = shots
            .as_array()
            .expect("shots")
            .iter()
            .find(|s| s["title"] == title)
            .expect("new");
        assert_eq!(old, new, "{title}");
    }

    // Nothing on the board changed: every node is still cached.
    let (code, again) = sb.run_json(&[]);
    assert_eq!(code, 0, "{again:#}");
    let nodes = again["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["status"] == "cached"), "{again:#}");

    // An edit from another project, or not an edit at all: exit 2, nothing changed.
    let junk = out.join("junk.otio");
    std::fs::write(&junk, b"{ not json").expect("write");
    let run = sb.run(&[
        "conform",
        project.to_str().expect("utf8"),
        junk.to_str().expect("utf8"),
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("OpenTimelineIO"));
    assert_eq!(doc(&project)["sequence"]["shots"], shots);
}
