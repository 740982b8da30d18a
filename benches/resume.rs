//! Restart with a job in flight (PRODUCT.md §7: polling resumes ≤ 5 s after start, 0 duplicate
//! submits): `aktion run --route direct` is killed while its Replicate job runs (after the job is
//! journaled), then started again; the time from the new process's start to its first status
//! poll at the (fake) provider is measured, and the fake's submission count proves nothing was
//! submitted twice.
//!
//! `cargo bench -p aktion --bench resume`

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aktion_fakes::{Fake, Flavor, Route, Step};

const BIN: &str = env!("CARGO_BIN_EXE_aktion");

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn sketch_to_image_id(project: &Path) -> String {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("project.json")).expect("project"))
            .expect("json");
    doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["kind"] == "sketch_to_image")
        .and_then(|n| n["id"].as_str())
        .expect("a sketch_to_image node")
        .to_owned()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let fake = rt.block_on(Fake::start(Flavor::Replicate)).expect("fake");
    // Long enough to kill the first run mid-job, short enough to finish the second.
    let mut script = vec![Step::Queued(0)];
    script.extend((0..6).map(|i| Step::Running(i as f32 / 6.0)));
    script.push(Step::Succeed);
    fake.set_script(script);

    let mut resumed_after = Vec::new();
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("tmp");
        let project = dir.path().join("project");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/storyboard.aktion"),
            &project,
        );
        let node = sketch_to_image_id(&project);
        let cache = dir.path().join("cache");
        let command = || {
            let mut c = Command::new(BIN);
            c.env("AKTION_CACHE_DIR", &cache)
                .env("AKTION_CONFIG_DIR", dir.path().join("config"))
                .env("AKTION_SECRETS", "file")
                .env("AKTION_REPLICATE_BASE_URL", fake.base_url())
                .env("REPLICATE_API_TOKEN", "r8_bench")
                .args(["run", project.to_str().expect("utf8"), "--route", "direct"])
                .args(["--node", &node])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        };
        let submitted = fake.submissions();
        let mut first = command().spawn().expect("spawn");
        let journal = cache.join("journal");
        let t = Instant::now();
        while std::fs::read_dir(&journal).map_or(0, Iterator::count) == 0 {
            assert!(t.elapsed() < Duration::from_secs(60), "never journaled");
            std::thread::sleep(Duration::from_millis(20));
        }
        first.kill().expect("kill");
        let _ = first.wait();

        let polls_before = fake.seen().len();
        let started = tokio::time::Instant::now();
        let status = command().status().expect("second run");
        assert!(status.success(), "the resumed run completes");
        let first_poll = fake.seen()[polls_before..]
            .iter()
            .find(|s| s.route == Route::Status)
            .map(|s| s.at.duration_since(started))
            .expect("the resumed run polled the job");
        assert_eq!(
            fake.submissions() - submitted,
            1,
            "resumed, never submitted again"
        );
        println!(
            "round {round}: first poll {:.0} ms after the restart",
            first_poll.as_secs_f64() * 1000.0
        );
        resumed_after.push(first_poll);
    }
    resumed_after.sort();
    println!(
        "polling resumed after a restart: median {:.0} ms, worst {:.0} ms over {} restarts (goal ≤ 5 s); 0 duplicate submits",
        resumed_after[resumed_after.len() / 2].as_secs_f64() * 1000.0,
        resumed_after[resumed_after.len() - 1].as_secs_f64() * 1000.0,
        resumed_after.len()
    );
}
