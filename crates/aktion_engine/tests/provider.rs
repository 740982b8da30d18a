//! The `direct` and `comfyui` routes end to end inside the engine, against the fake providers of
//! `aktion_fakes` under tokio's paused clock: submit → progress → outputs in the cache, provider
//! failures, cancel, crash and resume without paying twice, and keys that never leak.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aktion_cache::{Cache, CacheOptions};
use aktion_engine::{Engine, Event, NodeStatus, ProviderExecutor, RunRequest, RunSummary};
use aktion_fakes::{Fake, Flavor, OutputSpec, Route as FakeRoute, Step};
use aktion_graph::{Catalog, Document, Node, NodeId, Route, Wire};
use aktion_providers::{ApiKey, ProviderKind, ProvidersConfig, Target, default_comfyui_kinds};
use serde_json::{Value, json};

const KEY: &str = "sk_ENGINE_TEST_KEY_never_print_me";

fn provider_of(flavor: Flavor) -> ProviderKind {
    match flavor {
        Flavor::Replicate => ProviderKind::Replicate,
        Flavor::RunComfy => ProviderKind::RunComfy,
        Flavor::A2e => ProviderKind::A2e,
        Flavor::Fal => ProviderKind::Fal,
        Flavor::ComfyUi => ProviderKind::ComfyUi,
    }
}

/// The default configuration pointed at `fake`, with `key` and a sequence deployment (the
/// shipped ComfyUI workflows are part of the defaults).
fn config(fake: &Fake, key: Option<&str>) -> ProvidersConfig {
    let mut cfg = ProvidersConfig::from_lookup(|_| None);
    let ep = cfg.endpoint_mut(provider_of(fake.flavor));
    ep.base_url = fake.base_url();
    ep.key = key.map(ApiKey::new);
    if let Some(seq) = cfg.kinds.get_mut("sequence") {
        seq.target = Target::RunComfy {
            deployment_id: "wan-fun-inp-test".into(),
        };
    }
    // The fake knows this deployment to run the shipped Wan workflow (its node ids).
    if fake.flavor == Flavor::RunComfy
        && let Target::ComfyUi { workflow } = &default_comfyui_kinds()["sequence"].target
    {
        fake.add_deployment("wan-fun-inp-test", workflow.clone());
    }
    cfg
}

struct Fixture {
    dir: tempfile::TempDir,
    doc: Document,
    fake: Fake,
    config: ProvidersConfig,
}

impl Fixture {
    async fn new(flavor: Flavor) -> Self {
        let fake = Fake::start(flavor).await.expect("fake starts");
        fake.require_key(KEY);
        fake.set_script(vec![Step::Queued(2), Step::Running(0.5), Step::Succeed]);
        let config = config(&fake, Some(KEY));
        Self {
            dir: tempfile::tempdir().expect("tmp"),
            doc: Document::default(),
            fake,
            config,
        }
    }

    fn cache_root(&self) -> std::path::PathBuf {
        self.dir.path().join("cache")
    }

    fn engine(&self) -> Arc<Engine> {
        let cache = Cache::open(self.cache_root(), CacheOptions::default()).expect("cache");
        let direct = ProviderExecutor::direct(self.config.clone()).expect("direct");
        let comfy = ProviderExecutor::comfyui(self.config.clone()).expect("comfyui");
        Arc::new(
            Engine::new(Arc::new(Catalog::builtin().clone()), cache)
                .expect("engine")
                .with_route(Route::Direct, Arc::new(direct))
                .with_route(Route::Comfyui, Arc::new(comfy)),
        )
    }

    fn add(&mut self, kind: &str, params: &[(&str, Value)]) -> NodeId {
        let mut n = Node::new(Catalog::builtin().get(kind).expect("kind"), [0.0, 0.0]);
        for (k, v) in params {
            n.params.insert((*k).into(), v.clone());
        }
        n.params.insert("seed".into(), 7.into());
        self.doc.add_node(n)
    }

    fn wire(&mut self, from: NodeId, to: NodeId, input: &str, slot: u32) {
        let w = Wire {
            from,
            to,
            input: input.into(),
            slot,
        };
        self.doc
            .connect(Catalog::builtin(), w, false)
            .expect("wire");
    }

    fn sketch(&mut self) -> NodeId {
        self.add("sketch", &[])
    }

    /// A run with the seeds as they are (fresh seeds per run have their own test).
    fn request(&self, route: Route) -> RunRequest {
        let mut req = RunRequest::new(self.doc.clone(), self.dir.path());
        req.force_route = Some(route);
        req.fresh_seeds = false;
        req
    }
}

async fn run(engine: &Arc<Engine>, req: RunRequest) -> (RunSummary, Vec<Event>) {
    let handle = engine.start(req).expect("start");
    let mut events = Vec::new();
    let summary = handle.finish_with(|e| events.push(e.clone())).await;
    (summary, events)
}

fn status(summary: &RunSummary, id: NodeId) -> NodeStatus {
    summary.report(id).expect("report").status
}

fn error(summary: &RunSummary, id: NodeId) -> String {
    summary
        .report(id)
        .expect("report")
        .error
        .clone()
        .unwrap_or_default()
}

/// The node ran, and its one output in the cache is the fake's file.
fn assert_output(summary: &RunSummary, id: NodeId, expected: &OutputSpec) {
    let r = summary.report(id).expect("report");
    assert_eq!(r.status, NodeStatus::Done, "{:?}", r.error);
    assert_eq!(r.outputs.len(), 1);
    assert_eq!(r.outputs[0].mime, expected.content_type);
    assert_eq!(r.outputs[0].bytes, expected.bytes.len() as u64);
    let bytes = std::fs::read(&r.output_paths[0]).expect("output in the cache");
    assert_eq!(&bytes[..], &expected.bytes[..]);
}

fn progress_messages(events: &[Event], node: NodeId) -> Vec<(Option<f32>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Progress {
                node: n,
                fraction,
                message,
            } if *n == node => Some((*fraction, message.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn t2i_runs_at_a2e_with_queue_and_progress() {
    let mut f = Fixture::new(Flavor::A2e).await;
    let t2i = f.add("t2i", &[("prompt", json!("a lighthouse in fog"))]);
    let engine = f.engine();
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, t2i, &OutputSpec::png());
    let progress = progress_messages(&events, t2i);
    // A2E reports statuses without positions or fractions.
    let messages: Vec<&str> = progress.iter().map(|(_, m)| m.as_str()).collect();
    assert!(messages.starts_with(&["queued", "running"]), "{progress:?}");
    assert_eq!(f.fake.submissions(), 1);
    let input = f.fake.last_input().expect("submitted");
    assert_eq!(input["prompt"], "a lighthouse in fog", "{input}");
    assert!(engine.journal().entries().is_empty(), "cleared once done");
    let meta = s.report(t2i).and_then(|r| r.meta.clone()).expect("meta");
    assert_eq!(meta.provider, "a2e");
    assert_eq!(meta.model, "userText2Image");

    // A second run is a cache hit: nothing is submitted again.
    let (s2, _) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s2, t2i), NodeStatus::Cached);
    assert_eq!(f.fake.submissions(), 1);
}

#[tokio::test(start_paused = true)]
async fn sketch_to_image_runs_at_replicate_with_the_wired_prompt_and_sketch() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    let sketch = f.sketch();
    let prompt = f.add("prompt", &[("text", json!("a castle at dusk"))]);
    let s2i = f.add(
        "sketch_to_image",
        &[
            ("prompt", json!("ignored: the wire wins")),
            ("creativity", json!(9)),
            ("resolution", json!(768)),
        ],
    );
    f.wire(sketch, s2i, "sketch", 0);
    f.wire(prompt, s2i, "prompt", 0);
    let engine = f.engine();
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, s2i, &OutputSpec::png());
    let progress = progress_messages(&events, s2i);
    assert!(
        progress
            .iter()
            .any(|(fr, m)| m == "running" && *fr == Some(0.5)),
        "Replicate's progress fraction: {progress:?}"
    );
    let input = f.fake.last_input().expect("submitted");
    assert_eq!(input["prompt"], "a castle at dusk", "{input}");
    assert_eq!(
        input["scale"], 9,
        "creativity is the guidance scale: {input}"
    );
    assert_eq!(input["image_resolution"], "768", "a string enum: {input}");
    let image = input["image"].as_str().unwrap_or_default();
    assert!(
        image.starts_with("data:image/png;base64,"),
        "the sketch goes inline: {}",
        &image[..image.len().min(40)]
    );
}

#[tokio::test(start_paused = true)]
async fn sequence_runs_at_runcomfy_and_downloads_a_video() {
    let mut f = Fixture::new(Flavor::RunComfy).await;
    f.fake.set_output(OutputSpec::mp4());
    let first = f.sketch();
    let last = f.add("sketch", &[("width", json!(320)), ("height", json!(240))]);
    let seq = f.add(
        "sequence",
        &[
            ("prompt", json!("the camera dollies in")),
            ("length", json!(49)),
        ],
    );
    f.wire(first, seq, "first_frame", 0);
    f.wire(last, seq, "last_frame", 0);
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, seq, &OutputSpec::mp4());
    let input = f.fake.last_input().expect("submitted");
    assert_eq!(
        input["6"]["inputs"]["text"], "the camera dollies in",
        "{input}"
    );
    assert_eq!(input["67"]["inputs"]["length"], 49, "{input}");
    assert!(input["52"]["inputs"]["image"].is_string(), "{input}");
    assert!(input["68"]["inputs"]["image"].is_string(), "{input}");
}

#[tokio::test(start_paused = true)]
async fn coherent_scene_sends_six_images_in_slot_order() {
    let mut f = Fixture::new(Flavor::RunComfy).await;
    let scene = f.add("coherent_scene", &[]);
    for slot in 0..6 {
        // Different sizes so every slot's image is a different file.
        let s = f.add(
            "sketch",
            &[("width", json!(200 + 10 * slot)), ("height", json!(200))],
        );
        f.wire(s, scene, "images", slot);
    }
    let engine = f.engine();
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, scene, &OutputSpec::png());
    let progress = progress_messages(&events, scene);
    assert!(
        progress.iter().any(|(_, m)| m == "queued (2)"),
        "RunComfy's queue position: {progress:?}"
    );
    let input = f.fake.last_input().expect("submitted");
    let images: Vec<String> = ["270", "276", "283", "290", "297", "304"]
        .iter()
        .map(|n| {
            input[*n]["inputs"]["image"]
                .as_str()
                .unwrap_or_else(|| panic!("node {n} has an image: {input}"))
                .to_owned()
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> = images.iter().collect();
    assert_eq!(distinct.len(), 6, "six different images");
}

#[tokio::test(start_paused = true)]
async fn t2i_runs_on_comfyui() {
    let mut f = Fixture::new(Flavor::ComfyUi).await;
    let t2i = f.add("t2i", &[("prompt", json!("a red door"))]);
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Comfyui)).await;
    assert_output(&s, t2i, &OutputSpec::png());
    assert_eq!(f.fake.submissions(), 1);
    let input = f.fake.last_input().expect("submitted");
    assert_eq!(input["6"]["inputs"]["text"], "a red door", "{input}");
    assert_eq!(input["3"]["inputs"]["seed"], 7, "{input}");
}

#[tokio::test(start_paused = true)]
async fn a_kind_without_a_comfyui_workflow_fails_clearly() {
    let mut f = Fixture::new(Flavor::ComfyUi).await;
    let scene = f.add("coherent_scene", &[]);
    for slot in 0..6 {
        let s = f.sketch();
        f.wire(s, scene, "images", slot);
    }
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Comfyui)).await;
    assert_eq!(status(&s, scene), NodeStatus::Failed);
    let message = error(&s, scene);
    assert!(
        message.contains("no ComfyUI workflow is configured for Epic Scene nodes")
            && message.contains("comfyui:coherent_scene"),
        "{message}"
    );
    assert_eq!(f.fake.submissions(), 0);
}

/// Every kind with a shipped ComfyUI workflow, run through the engine on the comfyui route
/// against a fake that validates prompts as ComfyUI does (node types, required inputs, link
/// types, ranges, option lists, uploaded files): the workflow is accepted, the node's
/// parameters land where the workflow reads them, and the output is in the cache.
#[tokio::test(start_paused = true)]
async fn every_shipped_comfyui_workflow_runs_with_its_parameters_in_place() {
    let mut f = Fixture::new(Flavor::ComfyUi).await;
    let still = f.sketch();
    let other = f.add("sketch", &[("width", json!(320)), ("height", json!(480))]);
    let t2i = f.add(
        "t2i",
        &[
            ("prompt", json!("a harbour at dawn")),
            ("aspect_ratio", json!("2.39:1")),
        ],
    );
    let character = f.add(
        "character",
        &[("prompt", json!("a ranger")), ("style", json!("anime"))],
    );
    let s2i = f.add(
        "sketch_to_image",
        &[
            ("prompt", json!("a castle")),
            ("creativity", json!(12.0)),
            ("resolution", json!("768")),
        ],
    );
    f.wire(still, s2i, "sketch", 0);
    let i2i = f.add(
        "i2i",
        &[("prompt", json!("at night")), ("strength", json!(0.35))],
    );
    f.wire(still, i2i, "image", 0);
    let pose = f.add(
        "action_pose",
        &[("prompt", json!("leaping")), ("pose_strength", json!(1.4))],
    );
    f.wire(still, pose, "character", 0);
    f.wire(other, pose, "pose", 0);
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Comfyui)).await;
    for node in [t2i, character, s2i, i2i, pose] {
        assert_output(&s, node, &OutputSpec::png());
    }

    // Videos: the image nodes above are cached now and not submitted again.
    f.fake.set_output(OutputSpec::mp4());
    let i2v = f.add(
        "i2v",
        &[("prompt", json!("waves")), ("duration", json!(3.0))],
    );
    f.wire(still, i2v, "image", 0);
    let seq = f.add(
        "sequence",
        &[
            ("prompt", json!("dolly in")),
            ("length", json!(49)),
            ("fps", json!(24)),
            ("size", json!("480x832")),
        ],
    );
    f.wire(still, seq, "first_frame", 0);
    f.wire(other, seq, "last_frame", 0);
    let (s, _) = run(&engine, f.request(Route::Comfyui)).await;
    assert_output(&s, i2v, &OutputSpec::mp4());
    assert_output(&s, seq, &OutputSpec::mp4());
    assert_eq!(f.fake.submissions(), 7, "one prompt per node, none twice");
    assert_parameters_in_place(&f.fake);
}

/// Each node's parameters, at the paths its shipped workflow reads them from.
fn assert_parameters_in_place(fake: &Fake) {
    // Each prompt, found by its saving node's file prefix.
    let prompts = fake.inputs();
    let prompt = |kind: &str| {
        prompts
            .values()
            .find(|p| {
                p.as_object()
                    .into_iter()
                    .flatten()
                    .any(|(_, n)| n["inputs"]["filename_prefix"] == json!(format!("aktion/{kind}")))
            })
            .unwrap_or_else(|| panic!("a prompt for {kind}"))
            .clone()
    };
    let p = prompt("t2i");
    assert_eq!(p["6"]["inputs"]["text"], "a harbour at dawn");
    assert_eq!(
        (&p["5"]["inputs"]["width"], &p["5"]["inputs"]["height"]),
        (&json!(1536), &json!(640)),
        "2.39:1 at SDXL's size"
    );
    assert_eq!(p["3"]["inputs"]["seed"], 7);
    let p = prompt("character");
    assert!(
        p["6"]["inputs"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("a ranger, anime style")),
        "{p}"
    );
    assert_eq!(p["5"]["inputs"]["height"], 1152, "the default 3:4");
    let p = prompt("sketch_to_image");
    assert_eq!(p["3"]["inputs"]["cfg"], 12.0);
    assert_eq!(p["14"]["inputs"]["megapixels"], 0.5625);
    assert!(
        p["10"]["inputs"]["image"]
            .as_str()
            .is_some_and(|n| n.starts_with("upload"))
    );
    let p = prompt("i2i");
    assert_eq!(p["3"]["inputs"]["denoise"], 0.35, "strength is the denoise");
    let p = prompt("action_pose");
    assert_eq!(
        p["13"]["inputs"]["strength"], 1.4,
        "pose strength steers the ControlNet"
    );
    assert_ne!(p["10"]["inputs"]["image"], p["16"]["inputs"]["image"]);
    let p = prompt("i2v");
    assert_eq!(
        p["55"]["inputs"]["length"], 73,
        "3 s at 24 fps, 4k+1 frames"
    );
    let p = prompt("sequence");
    assert_eq!(
        (&p["67"]["inputs"]["width"], &p["67"]["inputs"]["height"]),
        (&json!(480), &json!(832))
    );
    assert_eq!(p["67"]["inputs"]["length"], 49);
    assert_eq!(p["60"]["inputs"]["fps"], 24);
    assert_eq!(p["57"]["inputs"]["noise_seed"], 7);
}

/// A parameter the route's model does not take is named on the take, so the filmmaker knows
/// its value did not shape the result: ControlNet Scribble (i2i's direct route, as in the
/// seed) has no strength; the shipped ComfyUI workflow uses it as the denoise.
#[tokio::test(start_paused = true)]
async fn a_parameter_the_model_does_not_take_is_named_on_the_take() {
    for (flavor, route, unused) in [
        (Flavor::Replicate, Route::Direct, json!(["strength"])),
        (Flavor::ComfyUi, Route::Comfyui, json!([])),
    ] {
        let mut f = Fixture::new(flavor).await;
        let img = f.sketch();
        let i2i = f.add(
            "i2i",
            &[("prompt", json!("at night")), ("strength", json!(0.3))],
        );
        f.wire(img, i2i, "image", 0);
        let engine = f.engine();
        let (s, _) = run(&engine, f.request(route)).await;
        assert_output(&s, i2i, &OutputSpec::png());
        let meta = s.report(i2i).and_then(|r| r.meta.clone()).expect("meta");
        assert_eq!(json!(meta.unused), unused, "{route}: {meta:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_model_missing_on_the_comfyui_server_is_named_in_the_node_error() {
    let mut f = Fixture::new(Flavor::ComfyUi).await;
    f.fake.remove_model("sd_xl_base_1.0.safetensors");
    let t2i = f.add("t2i", &[("prompt", json!("a red door"))]);
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Comfyui)).await;
    assert_eq!(status(&s, t2i), NodeStatus::Failed);
    let message = error(&s, t2i);
    assert!(
        message.contains("does not have the model file \"sd_xl_base_1.0.safetensors\"")
            && message.contains("comfyui_models"),
        "{message}"
    );
    assert_eq!(f.fake.submissions(), 0, "a refused prompt is not a job");
    assert!(engine.journal().entries().is_empty(), "nothing to resume");
}

#[tokio::test(start_paused = true)]
async fn a_provider_failure_fails_the_node_with_the_providers_message() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    f.fake.set_script(vec![
        Step::Running(0.2),
        Step::Fail("NSFW content detected in the output".into()),
    ]);
    let sketch = f.sketch();
    let s2i = f.add("sketch_to_image", &[("prompt", json!("a knight"))]);
    f.wire(sketch, s2i, "sketch", 0);
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s, s2i), NodeStatus::Failed);
    assert!(
        error(&s, s2i).contains("NSFW content detected in the output"),
        "{}",
        error(&s, s2i)
    );
    assert!(
        engine.journal().entries().is_empty(),
        "a failed job is over"
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_key_fails_the_node_and_names_the_variable() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    f.config = config(&f.fake, None);
    let sketch = f.sketch();
    let s2i = f.add("sketch_to_image", &[("prompt", json!("a knight"))]);
    f.wire(sketch, s2i, "sketch", 0);
    let engine = f.engine();
    let (s, _) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s, s2i), NodeStatus::Failed);
    assert_eq!(
        error(&s, s2i),
        "no API key for replicate: set REPLICATE_API_TOKEN"
    );
    assert_eq!(f.fake.submissions(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_crash_then_a_new_run_resumes_the_journaled_job_without_submitting() {
    let mut f = Fixture::new(Flavor::RunComfy).await;
    let mut script = vec![Step::Queued(1)];
    script.extend((0..20).map(|i| Step::Running(i as f32 / 20.0)));
    script.push(Step::Succeed);
    f.fake.set_script(script);
    let scene = f.add("coherent_scene", &[]);
    for slot in 0..6 {
        let s = f.sketch();
        f.wire(s, scene, "images", slot);
    }
    {
        let engine = f.engine();
        let mut handle = engine.start(f.request(Route::Direct)).expect("start");
        // Wait until the job runs at the provider, then crash.
        while let Some(e) = handle.events.recv().await {
            if matches!(&e, Event::Progress { node, message, .. } if *node == scene && message == "running")
            {
                break;
            }
        }
        handle.abort();
        let _ = handle.finish().await;
    }
    assert_eq!(f.fake.submissions(), 1);
    let engine = f.engine();
    let entries = engine.journal().entries();
    assert_eq!(entries.len(), 1, "the provider job is journaled");
    assert_eq!(entries[0].handle["provider"], "runcomfy");

    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, scene, &OutputSpec::png());
    assert_eq!(f.fake.submissions(), 1, "resumed, not submitted again");
    assert!(
        progress_messages(&events, scene)
            .iter()
            .any(|(_, m)| m.starts_with("resuming")),
        "the resume is reported"
    );
    assert!(engine.journal().entries().is_empty(), "cleared once done");
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_node_cancels_the_job_at_the_provider() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    f.fake.set_script(
        (0..1000)
            .map(|i| Step::Running(i as f32 / 1000.0))
            .collect(),
    );
    let sketch = f.sketch();
    let s2i = f.add("sketch_to_image", &[("prompt", json!("slow"))]);
    f.wire(sketch, s2i, "sketch", 0);
    let engine = f.engine();
    let mut handle = engine.start(f.request(Route::Direct)).expect("start");
    while let Some(e) = handle.events.recv().await {
        if matches!(&e, Event::Progress { node, message, .. } if *node == s2i && message == "running")
        {
            break;
        }
    }
    assert!(handle.cancel_node(s2i));
    let s = handle.finish().await;
    assert_eq!(status(&s, s2i), NodeStatus::Cancelled);
    // The cancel request goes out in the background.
    for _ in 0..100 {
        if f.fake.seen().iter().any(|r| r.route == FakeRoute::Cancel)
            && engine.journal().entries().is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        f.fake.seen().iter().any(|r| r.route == FakeRoute::Cancel),
        "cancelled at the provider"
    );
    assert!(engine.journal().entries().is_empty(), "journal cleared");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| contains(&b, needle)) {
            found.push(path);
        }
    }
    found
}

#[tokio::test(start_paused = true)]
async fn the_api_key_appears_in_no_journal_cache_error_or_event() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    let mut script = vec![Step::Queued(0)];
    script.extend((0..5).map(|i| Step::Running(i as f32 / 5.0)));
    script.push(Step::Succeed);
    f.fake.set_script(script);
    let sketch = f.sketch();
    let ok = f.add("sketch_to_image", &[("prompt", json!("fine"))]);
    f.wire(sketch, ok, "sketch", 0);
    let mut all_events = Vec::new();
    let mut errors = Vec::new();

    // A crash leaves a journal entry on disk: search it while it is there.
    {
        let engine = f.engine();
        let mut handle = engine.start(f.request(Route::Direct)).expect("start");
        while let Some(e) = handle.events.recv().await {
            all_events.push(e.clone());
            if matches!(&e, Event::Progress { message, .. } if message == "running") {
                break;
            }
        }
        handle.abort();
        let _ = handle.finish().await;
        assert_eq!(engine.journal().entries().len(), 1);
        assert!(
            files_containing(engine.journal().dir(), KEY.as_bytes()).is_empty(),
            "no key in the journal"
        );
    }
    let engine = f.engine();
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s, ok), NodeStatus::Done);
    all_events.extend(events);

    // A wrong key (the provider answers 401) and a provider failure.
    f.fake.set_script(vec![Step::Fail("bad prompt".into())]);
    let bad = f.add("sketch_to_image", &[("prompt", json!("fails"))]);
    f.wire(sketch, bad, "sketch", 0);
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s, bad), NodeStatus::Failed);
    errors.push(error(&s, bad));
    all_events.extend(events);

    f.fake.require_key("sk_ANOTHER_key");
    let wrong = f.add("sketch_to_image", &[("prompt", json!("unauthorised"))]);
    f.wire(sketch, wrong, "sketch", 0);
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s, wrong), NodeStatus::Failed);
    errors.push(error(&s, wrong));
    all_events.extend(events);

    for e in &errors {
        assert!(!e.is_empty());
        assert!(!e.contains(KEY), "key in an error: {e}");
    }
    let events_json = serde_json::to_string(&all_events).expect("json");
    assert!(!events_json.contains(KEY), "key in an event");
    let summary_json = serde_json::to_string(&s).expect("json");
    assert!(!summary_json.contains(KEY), "key in the run summary");
    assert_eq!(
        files_containing(&f.cache_root(), KEY.as_bytes()),
        Vec::<std::path::PathBuf>::new(),
        "no key anywhere in the cache folder (blobs, index, journal)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_that_never_finishes_times_out_and_is_cancelled_at_the_provider() {
    let mut f = Fixture::new(Flavor::A2e).await;
    f.fake.set_script(vec![Step::Running(0.1)]);
    let t2i = f.add("t2i", &[("prompt", json!("forever"))]);
    let engine = f.engine();
    let start = tokio::time::Instant::now();
    let (s, _) = run(&engine, f.request(Route::Direct)).await;
    assert_eq!(status(&s, t2i), NodeStatus::Failed);
    assert_eq!(error(&s, t2i), "timed out after 600 s");
    assert!(
        start.elapsed() <= Duration::from_secs(600),
        "within the kind's budget"
    );
    for _ in 0..100 {
        if engine.journal().entries().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        f.fake.seen().iter().any(|r| r.route == FakeRoute::Cancel),
        "cancelled at the provider"
    );
    assert!(
        engine.journal().entries().is_empty(),
        "released, not resumed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_submit_is_retried_and_reported() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    // More 429s than the client retries on its own: the executor tries again on top.
    for _ in 0..10 {
        f.fake.push_fault(
            FakeRoute::Submit,
            aktion_fakes::Fault::Status {
                status: 429,
                retry_after: Some("2".into()),
            },
        );
    }
    let sketch = f.sketch();
    let s2i = f.add("sketch_to_image", &[("prompt", json!("busy"))]);
    f.wire(sketch, s2i, "sketch", 0);
    let engine = f.engine();
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, s2i, &OutputSpec::png());
    assert_eq!(f.fake.submissions(), 1, "one job despite the retries");
    let progress = progress_messages(&events, s2i);
    assert!(
        progress.iter().any(|(_, m)| m == "retrying (1)"),
        "{progress:?}"
    );
    // No retry came sooner than the Retry-After the fake asked for.
    let submits: Vec<tokio::time::Instant> = f
        .fake
        .seen()
        .iter()
        .filter(|r| r.route == FakeRoute::Submit)
        .map(|r| r.at)
        .collect();
    assert_eq!(submits.len(), 11);
    for pair in submits.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(2), "{submits:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_retry_shows_on_the_node_as_retrying_n() {
    let mut f = Fixture::new(Flavor::A2e).await;
    let t2i = f.add("t2i", &[("prompt", json!("a storm"))]);
    for _ in 0..2 {
        f.fake.push_fault(
            FakeRoute::Status,
            aktion_fakes::Fault::Status {
                status: 429,
                retry_after: Some("4".into()),
            },
        );
    }
    let engine = f.engine();
    let (s, events) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, t2i, &OutputSpec::png());
    let messages: Vec<String> = progress_messages(&events, t2i)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert!(
        messages.iter().any(|m| m == "retrying (1) in 4 s")
            && messages.iter().any(|m| m == "retrying (2) in 4 s"),
        "{messages:?}"
    );
    assert_eq!(f.fake.submissions(), 1);
}

/// The catalog gives Sequence 10 minutes; the provider configuration allows it 20. A job of 15
/// minutes finishes (it used to be cut at 10, after the provider had been paid).
#[tokio::test(start_paused = true)]
async fn a_job_within_its_configured_time_limit_is_not_cut_at_the_catalogs() {
    let mut f = Fixture::new(Flavor::RunComfy).await;
    f.fake.set_output(OutputSpec::mp4());
    let mut script = vec![Step::Running(0.05); 14];
    script.push(Step::Succeed);
    f.fake.set_script(script);
    f.config.endpoint_mut(ProviderKind::RunComfy).poll_interval = Duration::from_secs(60);
    assert_eq!(
        f.config.kinds.get("sequence").map(|k| k.timeout_secs),
        Some(20 * 60),
        "the shipped configuration allows Sequence 20 minutes"
    );
    assert_eq!(
        Catalog::builtin()
            .get("sequence")
            .map(|k| k.timeout_seconds),
        Some(600)
    );
    let first = f.sketch();
    let last = f.sketch();
    let seq = f.add("sequence", &[("prompt", json!("a long dolly shot"))]);
    f.wire(first, seq, "first_frame", 0);
    f.wire(last, seq, "last_frame", 0);
    let engine = f.engine();
    let start = tokio::time::Instant::now();
    let (s, _) = run(&engine, f.request(Route::Direct)).await;
    assert_output(&s, seq, &OutputSpec::mp4());
    assert!(
        start.elapsed() > Duration::from_secs(600),
        "the job took longer than the catalog's 10 minutes: {:?}",
        start.elapsed()
    );
}

/// Runs with fresh seeds (as the app and `aktion run` do) and records each `Done` as a take.
async fn run_recording(f: &mut Fixture, engine: &Arc<Engine>) -> RunSummary {
    let mut req = f.request(Route::Direct);
    req.fresh_seeds = true;
    let mut done = Vec::new();
    let summary = engine
        .start(req)
        .expect("start")
        .finish_with(|e| {
            if let Event::Done {
                node,
                signature,
                result,
                ..
            } = e
            {
                done.push((*node, signature.clone(), result.clone()));
            }
        })
        .await;
    for (node, signature, result) in done {
        aktion_engine::takes::record_take(&mut f.doc, node, &signature, &result).expect("take");
    }
    summary
}

/// Issue #15: an unpinned seed is drawn fresh for each run that is not a cache hit, a pinned one
/// is sent as it is; the take records the seed sent, the node takes it (so an unchanged node is
/// a cache hit, nothing sent), and the signature is made with it.
#[tokio::test(start_paused = true)]
async fn unpinned_seeds_are_fresh_per_run_and_pinned_ones_are_sent_as_they_are() {
    let mut f = Fixture::new(Flavor::Replicate).await;
    let sketch = f.sketch();
    let s2i = f.add("sketch_to_image", &[("prompt", json!("a castle"))]);
    f.wire(sketch, s2i, "sketch", 0);
    let engine = f.engine();
    let sent_seed = |f: &Fixture| f.fake.last_input().expect("input")["seed"].clone();

    let s1 = run_recording(&mut f, &engine).await;
    assert_eq!(status(&s1, s2i), NodeStatus::Done);
    let first = sent_seed(&f);
    assert!(first.is_u64(), "a seed is sent: {first}");
    assert_ne!(
        first,
        json!(7),
        "not the seed the node had: drawn for this run"
    );
    let node = f.doc.node(s2i).expect("node");
    assert_eq!(node.params["seed"], first, "the node shows the seed sent");
    let take = node.takes.last().expect("take");
    assert_eq!(take.meta.params["seed"], first, "the take records it");
    let sig1 = s1.report(s2i).expect("report").signature.clone();

    // Nothing changed: a cache hit, nothing sent, the seed stays.
    let before = f.fake.submissions();
    let s2 = run_recording(&mut f, &engine).await;
    assert_eq!(status(&s2, s2i), NodeStatus::Cached);
    assert_eq!(f.fake.submissions(), before);
    assert_eq!(s2.report(s2i).expect("report").signature, sig1);

    // An edit makes it run again: unpinned, with a new seed.
    f.doc
        .node_mut(s2i)
        .expect("node")
        .params
        .insert("prompt".into(), json!("a keep"));
    let s3 = run_recording(&mut f, &engine).await;
    assert_eq!(status(&s3, s2i), NodeStatus::Done);
    let second = sent_seed(&f);
    assert_ne!(second, first, "a new run, a new seed");

    // Pinned: the seed sent is the node's, run after run.
    f.doc.node_mut(s2i).expect("node").seed_pinned = true;
    for prompt in ["a tower", "a moat"] {
        f.doc
            .node_mut(s2i)
            .expect("node")
            .params
            .insert("prompt".into(), json!(prompt));
        let s = run_recording(&mut f, &engine).await;
        assert_eq!(status(&s, s2i), NodeStatus::Done, "{prompt}");
        assert_eq!(sent_seed(&f), second, "{prompt}: the pinned seed is sent");
    }
}
