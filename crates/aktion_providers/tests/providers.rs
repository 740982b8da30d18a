//! The provider clients against the fake servers of `aktion_fakes`, under tokio's paused clock:
//! every retry delay and timeout is real tokio time that auto-advances, and nothing sleeps.

use std::time::Duration;

use aktion_fakes::{Fake, Fault, Flavor, OutputSpec, Route, Step};
use aktion_providers::{
    ApiKey, DownloadLimits, FieldMap, InputFile, JobHandle, JobRequest, JobState, KindConfig,
    MediaKind, ProviderError, ProviderKind, Providers, ProvidersConfig, Target,
};
use serde_json::{Value, json};

const KEY: &str = "sk_TEST_KEY_never_print_me";

fn provider_of(flavor: Flavor) -> ProviderKind {
    match flavor {
        Flavor::Replicate => ProviderKind::Replicate,
        Flavor::RunComfy => ProviderKind::RunComfy,
        Flavor::A2e => ProviderKind::A2e,
        Flavor::Fal => ProviderKind::Fal,
        Flavor::ComfyUi => ProviderKind::ComfyUi,
    }
}

/// Default config pointed at `fake`, plus two kinds the product does not route by default
/// (fal and ComfyUI are alternatives the user configures).
fn config(fake: &Fake) -> ProvidersConfig {
    let mut cfg = ProvidersConfig::from_lookup(|_| None);
    let ep = cfg.endpoint_mut(provider_of(fake.flavor));
    ep.base_url = fake.base_url();
    ep.key = Some(ApiKey::new(KEY));
    if fake.flavor == Flavor::Fal {
        cfg.fal_storage_url = fake.base_url();
    }
    cfg.kinds.insert(
        "fal_i2v".into(),
        KindConfig {
            target: Target::Fal {
                model_id: "fal-ai/wan/v2.2/image-to-video".into(),
            },
            inputs: vec![
                FieldMap::new("image", "image_url").required(),
                FieldMap::new("prompt", "prompt"),
            ],
            fixed: json!({}),
            output: MediaKind::Video,
            timeout_secs: 600,
        },
    );
    // The shipped Image to Video workflow, as the comfyui route runs it.
    let comfy_i2v = aktion_providers::default_comfyui_kinds().remove("i2v");
    cfg.kinds
        .insert("comfy_i2v".into(), comfy_i2v.expect("shipped i2v workflow"));
    cfg
}

async fn setup(flavor: Flavor) -> (Fake, Providers) {
    let fake = Fake::start(flavor).await.expect("fake starts");
    fake.require_key(KEY);
    let mut cfg = config(&fake);
    if flavor == Flavor::A2e {
        // A2E takes URLs only: with a fal key and no bucket, fal's storage hosts the inputs
        // (a strict fal fake of its own; it lives as long as the test process).
        let storage = Fake::start(Flavor::Fal).await.expect("fal fake starts");
        storage.require_key(KEY);
        cfg.fal.key = Some(ApiKey::new(KEY));
        cfg.fal_storage_url = storage.base_url();
        Box::leak(Box::new(storage));
    }
    let providers = Providers::new(cfg).expect("client builds");
    (fake, providers)
}

fn png(name: &str) -> InputFile {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(100, 1);
    InputFile::new(bytes, "image/png", name)
}

/// A typical request for each flavor's showcase node kind, and the output kind it yields.
fn request_for(flavor: Flavor) -> (JobRequest, MediaKind) {
    match flavor {
        Flavor::Replicate => (
            JobRequest::new("sketch_to_image")
                .with("sketch", png("sketch.png"))
                .with("prompt", "a castle at dusk")
                .with("resolution", json!(768)),
            MediaKind::Image,
        ),
        Flavor::RunComfy => {
            let mut r = JobRequest::new("coherent_scene");
            for i in 1..=6 {
                r = r.with(&format!("image_{i}"), png(&format!("ref{i}.png")));
            }
            (r, MediaKind::Image)
        }
        Flavor::A2e => (
            JobRequest::new("i2v")
                .with("image", png("still.png"))
                .with("prompt", "she turns"),
            MediaKind::Video,
        ),
        Flavor::Fal => (
            JobRequest::new("fal_i2v")
                .with("image", png("still.png"))
                .with("prompt", "pan left"),
            MediaKind::Video,
        ),
        Flavor::ComfyUi => (
            JobRequest::new("comfy_i2v")
                .with("image", png("still.png"))
                .with("prompt", "zoom"),
            MediaKind::Video,
        ),
    }
}

fn limits(expected: MediaKind) -> DownloadLimits {
    DownloadLimits {
        max_bytes: 1024 * 1024,
        expected,
    }
}

/// submit → wait (collecting states) → download every output.
async fn run(
    providers: &Providers,
    request: &JobRequest,
    expected: MediaKind,
) -> Result<(Vec<JobState>, Vec<Vec<u8>>), ProviderError> {
    let handle = providers.submit(request).await?;
    let mut states = Vec::new();
    let outputs = providers
        .wait(&handle, &mut |s| states.push(s.clone()))
        .await?;
    let mut files = Vec::new();
    for output in &outputs {
        let mut buf = Vec::new();
        providers
            .download(output, limits(expected), &mut buf)
            .await?;
        files.push(buf);
    }
    Ok((states, files))
}

#[tokio::test(start_paused = true)]
async fn every_provider_runs_a_full_lifecycle() {
    for flavor in Flavor::ALL {
        let (fake, providers) = setup(flavor).await;
        let (request, expected) = request_for(flavor);
        if expected == MediaKind::Video {
            fake.set_output(OutputSpec::mp4());
        }
        let (states, files) = run(&providers, &request, expected)
            .await
            .unwrap_or_else(|e| panic!("{flavor:?}: {e}"));
        assert_eq!(fake.submissions(), 1, "{flavor:?}");
        assert_eq!(files.len(), 1, "{flavor:?}: one output");
        let want = if expected == MediaKind::Video {
            OutputSpec::mp4()
        } else {
            OutputSpec::png()
        };
        assert_eq!(
            files[0],
            want.bytes.to_vec(),
            "{flavor:?}: downloaded bytes"
        );
        // Progress was reported on the way; ComfyUI over HTTP only knows queued/running.
        assert!(
            states.iter().any(|s| matches!(s, JobState::Queued { .. })),
            "{flavor:?}: {states:?}"
        );
        assert!(
            states.iter().any(|s| matches!(s, JobState::Running { .. })),
            "{flavor:?}: {states:?}"
        );
        if matches!(flavor, Flavor::Replicate) {
            assert!(
                states.contains(&JobState::Running {
                    fraction: Some(0.3)
                }),
                "tqdm progress: {states:?}"
            );
        }
        if matches!(flavor, Flavor::RunComfy | Flavor::Fal | Flavor::ComfyUi) {
            assert!(
                states.contains(&JobState::Queued { position: Some(1) }),
                "{flavor:?} queue position: {states:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn inputs_reach_each_provider_in_its_own_form() {
    // Replicate: small files inline as data URIs; ControlNet enums as strings.
    let (fake, p) = setup(Flavor::Replicate).await;
    p.submit(&request_for(Flavor::Replicate).0).await.unwrap();
    let input = fake.last_input().unwrap();
    assert!(
        input["image"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,")
    );
    assert_eq!(input["image_resolution"], json!("768"));
    assert_eq!(input["num_samples"], json!("1"));
    assert_eq!(input["prompt"], json!("a castle at dusk"));

    // RunComfy: overrides keyed by the six default LoadImage node ids.
    let (fake, p) = setup(Flavor::RunComfy).await;
    p.submit(&request_for(Flavor::RunComfy).0).await.unwrap();
    let overrides = fake.last_input().unwrap();
    for node in ["270", "276", "283", "290", "297", "304"] {
        assert!(
            overrides[node]["inputs"]["image"]
                .as_str()
                .unwrap()
                .starts_with("data:image/png"),
            "{node}"
        );
    }
    assert!(fake.seen().iter().any(|s| {
        s.uri
            .contains("/deployments/437a16af-d5ad-4eff-a6d9-3e094c5c0e6c/inference")
    }));

    // A2E: URLs only, so the file went to fal's storage first, and A2E fetched it from there.
    let (fake, p) = setup(Flavor::A2e).await;
    p.submit(&request_for(Flavor::A2e).0).await.unwrap();
    let input = fake.last_input().unwrap();
    let url = input["image_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&p.config().fal_storage_url), "{url}");
    assert_eq!(fake.fetched(), [url]);
    assert_eq!(input["name"], json!("aktion"));

    // fal: storage upload, then file_url in the input.
    let (fake, p) = setup(Flavor::Fal).await;
    p.submit(&request_for(Flavor::Fal).0).await.unwrap();
    assert!(
        fake.last_input().unwrap()["image_url"]
            .as_str()
            .unwrap()
            .contains("/files/")
    );

    // ComfyUI: uploaded by /upload/image, referenced by its server-side name.
    let (fake, p) = setup(Flavor::ComfyUi).await;
    p.submit(&request_for(Flavor::ComfyUi).0).await.unwrap();
    let prompt = fake.last_input().unwrap();
    assert!(
        prompt["56"]["inputs"]["image"]
            .as_str()
            .unwrap()
            .starts_with("upload")
    );
    assert_eq!(prompt["6"]["inputs"]["text"], json!("zoom"));
}

#[tokio::test(start_paused = true)]
async fn resumed_handle_polls_the_same_job_without_resubmitting() {
    for flavor in Flavor::ALL {
        let (fake, providers) = setup(flavor).await;
        let (request, expected) = request_for(flavor);
        let handle = providers.submit(&request).await.unwrap();
        providers.poll(&handle).await.unwrap();
        let journal = serde_json::to_string(&handle).unwrap();
        drop(providers);

        // "Restart": a new client from the same configuration and the journaled handle.
        let providers = Providers::new(config(&fake)).unwrap();
        let handle: JobHandle = serde_json::from_str(&journal).unwrap();
        let submits_before = fake
            .seen()
            .iter()
            .filter(|s| s.route == Route::Submit)
            .count();
        let outputs = providers.wait(&handle, &mut |_| {}).await.unwrap();
        let mut buf = Vec::new();
        if expected == MediaKind::Image {
            providers
                .download(&outputs[0], limits(expected), &mut buf)
                .await
                .unwrap();
        }
        assert_eq!(fake.submissions(), 1, "{flavor:?}");
        let submits_after = fake
            .seen()
            .iter()
            .filter(|s| s.route == Route::Submit)
            .count();
        assert_eq!(
            submits_before, submits_after,
            "{flavor:?}: no submit request after resuming"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn every_job_completes_under_30_percent_injected_5xx() {
    for flavor in Flavor::ALL {
        let (fake, providers) = setup(flavor).await;
        let (request, expected) = request_for(flavor);
        if expected == MediaKind::Video {
            fake.set_output(OutputSpec::mp4());
        }
        fake.set_random_5xx(0.3, 7);
        for _ in 0..6 {
            run(&providers, &request, expected)
                .await
                .unwrap_or_else(|e| panic!("{flavor:?}: {e}"));
        }
        assert_eq!(
            fake.submissions(),
            6,
            "{flavor:?}: one accepted submit per job"
        );
        assert!(
            fake.seen().iter().any(|s| s.status >= 500),
            "{flavor:?}: faults were injected"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn no_retry_comes_sooner_than_retry_after() {
    let (fake, providers) = setup(Flavor::Replicate).await;
    fake.push_fault(
        Route::Submit,
        Fault::Status {
            status: 429,
            retry_after: Some("7".into()),
        },
    );
    for _ in 0..3 {
        fake.push_fault(
            Route::Status,
            Fault::Status {
                status: 429,
                retry_after: Some("3".into()),
            },
        );
    }
    fake.push_fault(
        Route::Status,
        Fault::Status {
            status: 503,
            retry_after: Some("11".into()),
        },
    );
    let (request, expected) = request_for(Flavor::Replicate);
    run(&providers, &request, expected).await.unwrap();
    assert_eq!(fake.submissions(), 1);

    let seen = fake.seen();
    let mut checked = 0;
    for pair in seen.windows(2) {
        let (first, next) = (&pair[0], &pair[1]);
        if first.route != next.route || !matches!(first.status, 429 | 503) {
            continue;
        }
        let wanted = match (first.route, first.status) {
            (Route::Submit, _) => 7,
            (_, 503) => 11,
            _ => 3,
        };
        let gap = next.at - first.at;
        assert!(
            gap >= Duration::from_secs(wanted),
            "{:?} retried after {gap:?}, Retry-After was {wanted}s",
            first.route
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "every throttled request was retried: {seen:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_submit_that_may_have_landed_is_never_resent() {
    for flavor in [
        Flavor::Replicate,
        Flavor::RunComfy,
        Flavor::A2e,
        Flavor::Fal,
    ] {
        let (fake, providers) = setup(flavor).await;
        fake.push_fault(Route::Submit, Fault::FailAfterWork);
        let err = providers.submit(&request_for(flavor).0).await.unwrap_err();
        assert!(
            matches!(err, ProviderError::SubmitOutcomeUnknown { .. }),
            "{flavor:?}: {err}"
        );
        assert!(!err.is_retryable());
        let submits = fake
            .seen()
            .iter()
            .filter(|s| s.route == Route::Submit)
            .count();
        assert_eq!((fake.submissions(), submits), (1, 1), "{flavor:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_submit_that_hangs_is_not_resent() {
    let (fake, providers) = setup(Flavor::RunComfy).await;
    fake.push_fault(Route::Submit, Fault::Hang);
    let started = tokio::time::Instant::now();
    let err = providers
        .submit(&request_for(Flavor::RunComfy).0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::SubmitOutcomeUnknown { .. }),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "gave up only after the request timeout"
    );
    assert_eq!(
        fake.seen()
            .iter()
            .filter(|s| s.route == Route::Submit)
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date_is_honoured() {
    let (fake, providers) = setup(Flavor::A2e).await;
    let handle = providers.submit(&request_for(Flavor::A2e).0).await.unwrap();
    let when = std::time::SystemTime::now() + Duration::from_secs(6);
    fake.push_fault(
        Route::Status,
        Fault::Status {
            status: 429,
            retry_after: Some(httpdate::fmt_http_date(when)),
        },
    );
    providers.poll(&handle).await.unwrap();
    let polls: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.route == Route::Status)
        .collect();
    assert_eq!(polls.len(), 2);
    // HTTP dates have one-second resolution, so the wait is at least 5 s of the 6 asked for.
    assert!(
        polls[1].at - polls[0].at >= Duration::from_secs(5),
        "{:?}",
        polls[1].at - polls[0].at
    );
}

#[tokio::test(start_paused = true)]
async fn comfyui_checks_whether_an_ambiguous_submit_landed() {
    let (fake, providers) = setup(Flavor::ComfyUi).await;
    fake.push_fault(Route::Submit, Fault::FailAfterWork);
    let (request, expected) = request_for(Flavor::ComfyUi);
    fake.set_output(OutputSpec::mp4());
    let handle = providers.submit(&request).await.unwrap();
    assert_eq!(fake.submissions(), 1, "found in the queue, not sent again");
    let outputs = providers.wait(&handle, &mut |_| {}).await.unwrap();
    let mut buf = Vec::new();
    providers
        .download(&outputs[0], limits(expected), &mut buf)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn refused_submits_are_retried() {
    for status in [429, 503] {
        let (fake, providers) = setup(Flavor::Fal).await;
        fake.push_fault(
            Route::Submit,
            Fault::Status {
                status,
                retry_after: None,
            },
        );
        providers.submit(&request_for(Flavor::Fal).0).await.unwrap();
        assert_eq!(fake.submissions(), 1);
        assert_eq!(
            fake.seen()
                .iter()
                .filter(|s| s.route == Route::Submit)
                .count(),
            2
        );
    }
}

async fn failure(flavor: Flavor, script: Vec<Step>) -> ProviderError {
    let (fake, providers) = setup(flavor).await;
    fake.set_script(script);
    let (request, expected) = request_for(flavor);
    run(&providers, &request, expected)
        .await
        .expect_err("the scripted job fails")
}

#[tokio::test(start_paused = true)]
async fn provider_failures_end_in_clear_errors() {
    // RunComfy: an error envelope inside HTTP 200 on /result.
    let err = failure(
        Flavor::RunComfy,
        vec![
            Step::Running(0.5),
            Step::ErrorEnvelope("GPU worker lost".into()),
        ],
    )
    .await;
    assert!(
        matches!(&err, ProviderError::JobFailed { reason, .. } if reason.contains("GPU worker lost")),
        "{err}"
    );
    // RunComfy: a failed workflow.
    let err = failure(
        Flavor::RunComfy,
        vec![Step::Fail("CUDA out of memory".into())],
    )
    .await;
    assert!(err.to_string().contains("CUDA out of memory"), "{err}");

    // fal: the failure is inside COMPLETED, infrastructure errors are retryable.
    let err = failure(
        Flavor::Fal,
        vec![Step::Queued(0), Step::Fail("runner crashed".into())],
    )
    .await;
    assert!(
        matches!(&err, ProviderError::JobFailed { reason, retryable: true, .. } if reason.contains("runner crashed")),
        "{err}"
    );

    // Replicate: failed, aborted.
    let err = failure(
        Flavor::Replicate,
        vec![
            Step::Running(0.1),
            Step::Fail("NSFW content detected".into()),
        ],
    )
    .await;
    assert!(
        matches!(&err, ProviderError::JobFailed { reason, retryable: false, .. } if reason.contains("NSFW")),
        "{err}"
    );
    let err = failure(Flavor::Replicate, vec![Step::Queued(0), Step::Aborted]).await;
    assert!(
        matches!(&err, ProviderError::JobFailed { retryable: true, reason, .. } if reason.contains("aborted")),
        "{err}"
    );

    // A2E: a `code != 0` envelope with HTTP 200, and a failed task.
    let err = failure(
        Flavor::A2e,
        vec![
            Step::Queued(1),
            Step::ErrorEnvelope("insufficient coins".into()),
        ],
    )
    .await;
    assert!(
        matches!(&err, ProviderError::Provider { message, .. } if message.contains("insufficient coins")),
        "{err}"
    );
    let err = failure(
        Flavor::A2e,
        vec![Step::Running(0.5), Step::Fail("no face detected".into())],
    )
    .await;
    assert!(err.to_string().contains("no face detected"), "{err}");

    // ComfyUI: execution_error in history, named by node type.
    let err = failure(
        Flavor::ComfyUi,
        vec![
            Step::Running(0.5),
            Step::Fail("mat1 and mat2 shapes cannot be multiplied".into()),
        ],
    )
    .await;
    assert!(err.to_string().contains("KSampler: mat1 and mat2"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn replicate_outputs_deleted_after_an_hour() {
    let err = failure(
        Flavor::Replicate,
        vec![Step::Running(0.5), Step::DataRemoved],
    )
    .await;
    assert!(
        matches!(&err, ProviderError::JobFailed { retryable: true, reason, .. } if reason.contains("one hour")),
        "{err}"
    );

    // Outputs that vanish between success and download.
    let (fake, providers) = setup(Flavor::Replicate).await;
    fake.set_script(vec![Step::Succeed]);
    let handle = providers
        .submit(&request_for(Flavor::Replicate).0)
        .await
        .unwrap();
    let outputs = providers.wait(&handle, &mut |_| {}).await.unwrap();
    fake.set_script(vec![Step::DataRemoved]);
    let (fake2, providers2) = (fake, providers);
    // New jobs see the new script; make this job's files disappear by replacing it.
    let handle2 = providers2
        .submit(&request_for(Flavor::Replicate).0)
        .await
        .unwrap();
    let mut gone = outputs[0].clone();
    gone.url = gone.url.replace(&handle.job_id, &handle2.job_id);
    let err = providers2
        .download(&gone, limits(MediaKind::Image), &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Gone { message, .. } if message.contains("after an hour")),
        "{err}"
    );
    drop(fake2);
}

#[tokio::test(start_paused = true)]
async fn replicate_scribble_output_skips_the_detected_map() {
    let (fake, providers) = setup(Flavor::Replicate).await;
    let mut cfg = config(&fake);
    cfg.kinds.get_mut("sketch_to_image").unwrap().fixed =
        json!({"num_samples": "4", "image_resolution": "512"});
    let providers4 = Providers::new(cfg).unwrap();
    let handle = providers4
        .submit(&request_for(Flavor::Replicate).0)
        .await
        .unwrap();
    let outputs = providers4.wait(&handle, &mut |_| {}).await.unwrap();
    let names: Vec<String> = outputs
        .iter()
        .map(|o| o.url.rsplit('/').next().unwrap().to_owned())
        .collect();
    let id = &handle.job_id;
    assert_eq!(
        names,
        [1, 2, 3, 4].map(|i| format!("{id}-{i}.png")),
        "the map ({id}-0) is dropped"
    );
    drop(providers);
}

#[tokio::test(start_paused = true)]
async fn integer_enums_would_fail_validation() {
    let (fake, _) = setup(Flavor::Replicate).await;
    let mut cfg = config(&fake);
    // Someone "simplifies" the mapping to plain JSON: the fake rejects it like Replicate does.
    for map in &mut cfg.kinds.get_mut("sketch_to_image").unwrap().inputs {
        map.encode = aktion_providers::Encode::Json;
    }
    let providers = Providers::new(cfg).unwrap();
    let err = providers
        .submit(&request_for(Flavor::Replicate).0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Provider { status: Some(422), message, .. } if message.contains("Expected: string")),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn fal_polls_owner_app_paths_and_accepts_202() {
    let (fake, providers) = setup(Flavor::Fal).await;
    fake.set_output(OutputSpec::mp4());
    let (request, expected) = request_for(Flavor::Fal);
    run(&providers, &request, expected).await.unwrap();
    let seen = fake.seen();
    assert!(
        seen.iter()
            .any(|s| s.route == Route::Submit && s.uri == "/fal-ai/wan/v2.2/image-to-video")
    );
    let polls: Vec<&aktion_fakes::Seen> =
        seen.iter().filter(|s| s.route == Route::Status).collect();
    assert!(
        polls
            .iter()
            .all(|s| s.uri.starts_with("/fal-ai/wan/requests/")),
        "{polls:#?}"
    );
    assert!(polls.iter().any(|s| s.status == 202) && polls.iter().any(|s| s.status == 200));
    assert!(seen.iter().all(|s| s.route == Route::Upload
        || s.route == Route::Download
        || s.authorization.as_deref() == Some(&format!("Key {KEY}"))));
}

#[tokio::test(start_paused = true)]
async fn runcomfy_cancel_accepts_both_spellings() {
    for spelling in ["canceled", "cancelled"] {
        let (fake, providers) = setup(Flavor::RunComfy).await;
        fake.set_cancel_spelling(spelling);
        fake.set_script(vec![Step::Queued(3), Step::Running(0.2)]);
        let handle = providers
            .submit(&request_for(Flavor::RunComfy).0)
            .await
            .unwrap();
        providers.poll(&handle).await.unwrap();
        providers.cancel(&handle).await.unwrap();
        assert_eq!(
            providers.poll(&handle).await.unwrap(),
            JobState::Cancelled,
            "{spelling}"
        );
        let err = providers.wait(&handle, &mut |_| {}).await.unwrap_err();
        assert!(matches!(err, ProviderError::Cancelled { .. }));
    }
}

#[tokio::test(start_paused = true)]
async fn cancel_works_on_every_provider() {
    for flavor in Flavor::ALL {
        let (fake, providers) = setup(flavor).await;
        fake.set_script(vec![Step::Queued(0), Step::Running(0.2)]);
        let handle = providers.submit(&request_for(flavor).0).await.unwrap();
        providers.poll(&handle).await.unwrap();
        providers.poll(&handle).await.unwrap();
        providers
            .cancel(&handle)
            .await
            .unwrap_or_else(|e| panic!("{flavor:?}: {e}"));
        assert!(
            fake.seen().iter().any(|s| s.route == Route::Cancel),
            "{flavor:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn transport_faults_are_classified() {
    // A hang: the request times out (retryable), and `wait` rides it out.
    let (fake, providers) = setup(Flavor::A2e).await;
    let handle = providers.submit(&request_for(Flavor::A2e).0).await.unwrap();
    for _ in 0..9 {
        fake.push_fault(Route::Status, Fault::Hang);
    }
    let err = providers.poll(&handle).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Timeout { .. }) && err.is_retryable(),
        "{err}"
    );
    providers.wait(&handle, &mut |_| {}).await.unwrap();

    // Malformed JSON: a decode error, not a panic and not a retry storm.
    let (fake, providers) = setup(Flavor::Fal).await;
    let handle = providers.submit(&request_for(Flavor::Fal).0).await.unwrap();
    fake.push_fault(Route::Status, Fault::MalformedJson);
    let err = providers.poll(&handle).await.unwrap_err();
    assert!(matches!(err, ProviderError::Decode { .. }), "{err}");

    // Nobody listening: a transport error.
    let mut cfg = config(&fake);
    cfg.fal.base_url = "http://127.0.0.1:9".into();
    let err = Providers::new(cfg)
        .unwrap()
        .submit(&request_for(Flavor::Fal).0)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Transport { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn downloads_check_type_and_size() {
    let (fake, providers) = setup(Flavor::RunComfy).await;
    let handle = providers
        .submit(&request_for(Flavor::RunComfy).0)
        .await
        .unwrap();
    let outputs = providers.wait(&handle, &mut |_| {}).await.unwrap();

    fake.set_output(OutputSpec {
        content_type: "text/html".into(),
        extension: "png".into(),
        bytes: b"<html>login</html>".to_vec().into(),
    });
    let mut sink = Vec::new();
    let err = providers
        .download(&outputs[0], limits(MediaKind::Image), &mut sink)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::ContentType { .. }), "{err}");
    assert!(sink.is_empty(), "nothing of a wrong type reaches the cache");

    // Untyped bytes are accepted when they are what the node expects.
    let png = OutputSpec::png();
    fake.set_output(OutputSpec {
        content_type: "application/octet-stream".into(),
        ..png.clone()
    });
    let got = providers
        .download(&outputs[0], limits(MediaKind::Image), &mut Vec::new())
        .await
        .unwrap();
    assert_eq!(got.content_type, "image/png");

    fake.set_output(OutputSpec {
        bytes: vec![0x89; 3 * 1024 * 1024].into(),
        ..png
    });
    let err = providers
        .download(&outputs[0], limits(MediaKind::Image), &mut Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::TooLarge { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_job_that_never_finishes_times_out_and_is_cancelled() {
    let (fake, _) = setup(Flavor::RunComfy).await;
    fake.set_script(vec![Step::Queued(0), Step::Running(0.5)]);
    let cfg = config(&fake);
    assert_eq!(
        cfg.kinds["coherent_scene"].timeout(),
        Duration::from_secs(30 * 60)
    );
    let providers = Providers::new(cfg).unwrap();
    let handle = providers
        .submit(&request_for(Flavor::RunComfy).0)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = providers.wait(&handle, &mut |_| {}).await.unwrap_err();
    assert!(matches!(err, ProviderError::JobTimeout { .. }), "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(29 * 60) && waited <= Duration::from_secs(31 * 60),
        "{waited:?}"
    );
    assert!(
        fake.seen().iter().any(|s| s.route == Route::Cancel),
        "the provider job is cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn the_key_never_leaks() {
    let (fake, providers) = setup(Flavor::Replicate).await;
    let handle = providers
        .submit(&request_for(Flavor::Replicate).0)
        .await
        .unwrap();
    let journal = serde_json::to_string(&handle).unwrap();
    let outputs = providers.wait(&handle, &mut |_| {}).await.unwrap();
    let mut texts = vec![
        journal,
        format!("{providers:?}"),
        format!("{:?}", providers.config()),
        format!("{handle:?}"),
        format!("{outputs:?}"),
    ];

    // Errors: a wrong key, and failures of every kind.
    let mut cfg = config(&fake);
    cfg.replicate.key = Some(ApiKey::new("sk_WRONG_KEY_also_secret"));
    let err = Providers::new(cfg)
        .unwrap()
        .submit(&request_for(Flavor::Replicate).0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::Auth { status: 401, .. }),
        "{err}"
    );
    texts.push(format!("{err} {err:?}"));
    fake.push_fault(Route::Status, Fault::MalformedJson);
    texts.push(format!("{:?}", providers.poll(&handle).await));
    let err = failure(Flavor::A2e, vec![Step::ErrorEnvelope("bad".into())]).await;
    texts.push(format!("{err} {err:?}"));

    for text in &texts {
        assert!(
            !text.contains(KEY) && !text.contains("WRONG_KEY"),
            "key leaked in: {text}"
        );
    }
    // The key did reach the provider, as a header.
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.authorization.as_deref() == Some(&format!("Bearer {KEY}")))
    );
}

#[tokio::test(start_paused = true)]
async fn missing_keys_and_unknown_kinds_are_config_errors() {
    let fake = Fake::start(Flavor::A2e).await.unwrap();
    let mut cfg = config(&fake);
    cfg.a2e.key = None;
    let providers = Providers::new(cfg).unwrap();
    let err = providers
        .submit(&request_for(Flavor::A2e).0)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Config(m) if m.contains("no API key configured for A2E")),
        "{err}"
    );
    let err = providers
        .submit(&JobRequest::new("no_such_kind"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Config(_)));
    assert_eq!(fake.submissions(), 0);
    let _: Value = json!(null);
}

#[tokio::test(start_paused = true)]
async fn comfyui_progress_arrives_over_the_websocket() {
    let (fake, providers) = setup(Flavor::ComfyUi).await;
    fake.set_output(OutputSpec::mp4());
    let (request, expected) = request_for(Flavor::ComfyUi);
    let (states, files) = run(&providers, &request, expected).await.unwrap();
    assert!(
        states.contains(&JobState::Running {
            fraction: Some(0.3)
        }),
        "{states:?}"
    );
    assert!(
        states.contains(&JobState::Running {
            fraction: Some(0.8)
        }),
        "{states:?}"
    );
    assert_eq!(files.len(), 1);
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.uri.starts_with("/ws?clientId=aktion-") && s.status == 101)
    );
}

#[tokio::test(start_paused = true)]
async fn comfyui_falls_back_to_history_polling_without_a_websocket() {
    let (fake, providers) = setup(Flavor::ComfyUi).await;
    fake.disable_websocket();
    fake.set_output(OutputSpec::mp4());
    let (request, expected) = request_for(Flavor::ComfyUi);
    let (states, files) = run(&providers, &request, expected).await.unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        states.contains(&JobState::Running { fraction: None }),
        "{states:?}"
    );
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.uri.starts_with("/ws") && s.status == 404)
    );
}

#[tokio::test(start_paused = true)]
async fn replicate_uploads_large_inputs_through_the_files_api() {
    let (fake, providers) = setup(Flavor::Replicate).await;
    let mut big = b"\x89PNG\r\n\x1a\n".to_vec();
    big.resize(300 * 1024, 9);
    let request = JobRequest::new("sketch_to_image")
        .with("sketch", InputFile::new(big, "image/png", "big.png"))
        .with("prompt", "a tower");
    providers.submit(&request).await.unwrap();
    let image = fake.last_input().unwrap()["image"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        image.starts_with(&format!("http://{}/files/upload", fake.addr)),
        "{image}"
    );
    let upload = fake
        .seen()
        .into_iter()
        .find(|s| s.route == Route::Upload)
        .expect("files API used");
    assert_eq!(
        (upload.method.as_str(), upload.uri.as_str(), upload.status),
        ("POST", "/v1/files", 201)
    );
}

/// STYLE.md's layering rule, checked by machine: the provider crate is shared with the account
/// server, so it must not pull in UI, database or server crates, nor OpenSSL or aws-lc.
#[test]
fn provider_crate_keeps_its_dependency_rules() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "aktion_providers",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "-f",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        names.contains(&"reqwest") && names.contains(&"ring"),
        "{names:?}"
    );
    for forbidden in [
        "egui",
        "eframe",
        "sqlx",
        "axum",
        "aktion_graph",
        "openssl-sys",
        "openssl",
        "native-tls",
        "aws-lc-sys",
        "aws-lc-rs",
    ] {
        assert!(
            !names.contains(&forbidden),
            "aktion_providers depends on {forbidden}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retries_inside_a_client_are_told_to_the_observer() {
    let (fake, providers) = setup(Flavor::Replicate).await;
    for _ in 0..2 {
        fake.push_fault(
            Route::Status,
            Fault::Status {
                status: 503,
                retry_after: Some("2".into()),
            },
        );
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    let observer: aktion_providers::RetryObserver = std::sync::Arc::new(move |n| {
        log.lock().unwrap().push(n.clone());
    });
    let (request, expected) = request_for(Flavor::Replicate);
    aktion_providers::observe_retries(observer, run(&providers, &request, expected))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|n| n.attempt).collect::<Vec<_>>(),
        [1, 2],
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|n| n.delay >= Duration::from_secs(2) && n.provider == ProviderKind::Replicate)
    );
    assert!(seen[0].reason.contains("503"), "{}", seen[0].reason);
    // Outside an observed scope nothing is told (and nothing breaks).
    fake.push_fault(
        Route::Status,
        Fault::Status {
            status: 503,
            retry_after: Some("1".into()),
        },
    );
    let (request, expected) = request_for(Flavor::Replicate);
    run(&providers, &request, expected).await.unwrap();
}

/// Settings → Providers → Test connection, against each fake: a good key is accepted, a wrong
/// one refused, a missing one named by its variable, an unreachable address said so; nothing
/// is ever submitted.
#[tokio::test(start_paused = true)]
async fn connection_checks_say_whether_the_address_and_key_work() {
    for flavor in Flavor::ALL {
        let (fake, providers) = setup(flavor).await;
        let provider = provider_of(flavor);
        let check = providers.check(provider).await;
        assert!(check.ok, "{flavor:?}: {check:?}");
        assert!(
            check.summary.starts_with("connected"),
            "{flavor:?}: {check:?}"
        );
        if flavor == Flavor::ComfyUi {
            continue; // no key
        }
        let mut wrong = config(&fake);
        wrong.endpoint_mut(provider).key = Some(ApiKey::new("sk_wrong"));
        let check = Providers::new(wrong).unwrap().check(provider).await;
        assert!(!check.ok, "{flavor:?}: {check:?}");
        assert!(
            check.summary.contains("key was refused"),
            "{flavor:?}: {check:?}"
        );
        assert!(
            !format!("{check:?}").contains("sk_wrong"),
            "the key is never echoed"
        );

        let mut none = config(&fake);
        none.endpoint_mut(provider).key = None;
        let check = Providers::new(none).unwrap().check(provider).await;
        let var = aktion_providers::key_variable(provider).unwrap();
        assert_eq!(
            (check.ok, check.summary.as_str()),
            (
                false,
                format!("no API key: save one here or set {var}").as_str()
            )
        );
        assert_eq!(fake.submissions(), 0, "{flavor:?}: a check submits nothing");
    }

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut cfg = ProvidersConfig::from_lookup(|_| None);
    cfg.comfyui.base_url = format!("http://{addr}");
    cfg.http.retry.max_retries = 0;
    let check = Providers::new(cfg)
        .unwrap()
        .check(ProviderKind::ComfyUi)
        .await;
    assert!(
        !check.ok && check.summary.starts_with("cannot reach"),
        "{check:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_runcomfy_check_looks_up_each_configured_deployment() {
    let (fake, providers) = setup(Flavor::RunComfy).await;
    let check = providers.check(ProviderKind::RunComfy).await;
    assert!(
        check
            .details
            .iter()
            .any(|d| d.starts_with("coherent_scene: deployment") && d.ends_with("found")),
        "{check:?}"
    );
    assert!(
        check
            .details
            .iter()
            .any(|d| d.starts_with("sequence: no deployment id")),
        "{check:?}"
    );
    fake.remove_deployment(aktion_providers::config::COHERENT_DEPLOYMENT);
    let check = providers.check(ProviderKind::RunComfy).await;
    assert!(!check.ok, "{check:?}");
    assert!(
        check.details.iter().any(|d| d.ends_with("not found")),
        "{check:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_comfyui_check_lists_ready_kinds_and_missing_models() {
    let (fake, providers) = setup(Flavor::ComfyUi).await;
    let check = providers.check(ProviderKind::ComfyUi).await;
    assert!(
        check.summary.contains("ComfyUI 0.3.66 on cuda:0"),
        "{check:?}"
    );
    assert!(
        check.details[0]
            .starts_with("ready: action_pose, character, comfy_i2v, i2i, i2v, sequence"),
        "{check:?}"
    );
    assert_eq!(check.details.len(), 1, "{check:?}");

    fake.remove_model("control_v11p_sd15_openpose.pth");
    fake.remove_model("wan_2.1_vae.safetensors");
    let check = providers.check(ProviderKind::ComfyUi).await;
    assert!(check.ok, "reachable; the gaps are details: {check:?}");
    assert!(!check.details[0].contains("action_pose"), "{check:?}");
    assert!(check.details[0].contains("sketch_to_image"), "{check:?}");
    assert!(
        check
            .details
            .contains(&"action_pose needs control_v11p_sd15_openpose.pth".to_owned()),
        "{check:?}"
    );
    assert!(
        check
            .details
            .contains(&"sequence needs wan_2.1_vae.safetensors".to_owned()),
        "{check:?}"
    );
}
