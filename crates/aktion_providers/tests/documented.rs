//! Issue #15: providers as the services document them, against the strict fakes (only what
//! PROVIDERS.md marks [V]): A2E inputs hosted where the user chose (a bucket, fal's storage, the
//! [C] upload only when turned on) or the node fails before anything is sent; every input and
//! parameter sent; the studio's own RunComfy deployment mappings sent and checked.

use aktion_fakes::s3::Bucket;
use aktion_fakes::{Fake, Flavor};
use aktion_providers::hosting::{BucketConfig, InputHostConfig};
use aktion_providers::runcomfy::mapping_problems;
use aktion_providers::{
    ApiKey, FieldMap, InputFile, JobRequest, ProviderError, ProviderKind, Providers,
    ProvidersConfig, Target,
};
use serde_json::{Value, json};

const KEY: &str = "sk_documented_key";
const AWS_ID: &str = "AKIDFAKEBUCKET";
const AWS_SECRET: &str = "bucket-secret-never-logged";

fn png(name: &str, fill: u8) -> InputFile {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(200, fill);
    InputFile::new(bytes, "image/png", name)
}

fn config_for(fake: &Fake) -> ProvidersConfig {
    let mut cfg = ProvidersConfig::from_lookup(|_| None);
    let p = match fake.flavor {
        Flavor::A2e => ProviderKind::A2e,
        Flavor::RunComfy => ProviderKind::RunComfy,
        Flavor::Fal => ProviderKind::Fal,
        Flavor::Replicate => ProviderKind::Replicate,
        Flavor::ComfyUi => ProviderKind::ComfyUi,
    };
    let ep = cfg.endpoint_mut(p);
    ep.base_url = fake.base_url();
    ep.key = Some(ApiKey::new(KEY));
    cfg
}

async fn a2e() -> Fake {
    let fake = Fake::start(Flavor::A2e).await.expect("fake");
    fake.require_key(KEY);
    fake
}

fn i2v() -> JobRequest {
    JobRequest::new("i2v")
        .with("image", png("still.png", 1))
        .with("prompt", "she turns")
        .with("duration", json!(10))
}

#[tokio::test]
async fn without_a_host_an_a2e_node_with_files_fails_before_anything_is_sent() {
    let fake = a2e().await;
    let providers = Providers::new(config_for(&fake)).expect("client");
    let err = providers.submit(&i2v()).await.expect_err("no host");
    let ProviderError::Config(message) = &err else {
        panic!("{err:?}");
    };
    for part in [
        "S3-compatible bucket",
        "FAL_KEY",
        "account route",
        "Nothing was sent",
    ] {
        assert!(message.contains(part), "{message}");
    }
    assert!(fake.seen().is_empty(), "not one request reached A2E");
    // A node without local files needs no host.
    let t2i = JobRequest::new("t2i").with("prompt", "a lighthouse");
    providers.submit(&t2i).await.expect("prompt only");
    assert_eq!(fake.submissions(), 1);
}

#[tokio::test]
async fn a_configured_bucket_hosts_a2e_inputs_as_presigned_urls_even_with_a_fal_key() {
    let fake = a2e().await;
    let fal = Fake::start(Flavor::Fal).await.expect("fal");
    fal.require_key(KEY);
    let bucket = Bucket::start("studio-inputs", AWS_ID)
        .await
        .expect("bucket");
    let mut cfg = config_for(&fake);
    cfg.fal.key = Some(ApiKey::new(KEY));
    cfg.fal.base_url = fal.base_url();
    cfg.fal_storage_url = fal.base_url();
    cfg.input_host = InputHostConfig {
        a2e_presigned_upload: false,
        bucket: Some(BucketConfig {
            url: "s3://studio-inputs/aktion".into(),
            endpoint: Some(bucket.endpoint()),
            region: "us-east-1".into(),
            access_key_id: Some(AWS_ID.into()),
            secret_access_key: Some(ApiKey::new(AWS_SECRET)),
            url_ttl: std::time::Duration::from_secs(600),
        }),
    };
    let providers = Providers::new(cfg).expect("client");
    providers.submit(&i2v()).await.expect("submitted");
    let input = fake.last_input().expect("input");
    let url = input["image_url"].as_str().expect("url");
    assert!(url.starts_with(&bucket.endpoint()), "{url}");
    assert!(url.contains("X-Amz-Signature="), "presigned: {url}");
    assert!(!url.contains(AWS_SECRET));
    assert_eq!(fake.fetched(), [url.to_owned()], "A2E fetched it");
    let seen = bucket.seen();
    assert!(
        seen.iter()
            .any(|s| s.method == "PUT" && !s.presigned && s.status == 200)
    );
    assert!(
        seen.iter()
            .any(|s| s.method == "GET" && s.presigned && s.status == 200),
        "{seen:?}"
    );
    assert!(bucket.keys()[0].starts_with("aktion/aktion-inputs/"));
    assert_eq!(
        input["duration"],
        json!(10),
        "Image to Video's duration is sent"
    );
    // The bucket was chosen: nothing went to fal's storage.
    assert!(fal.seen().is_empty(), "{:?}", fal.seen());

    // A bucket without credentials is an error, not a reason to use another host.
    let mut cfg = config_for(&fake);
    cfg.fal.key = Some(ApiKey::new(KEY));
    cfg.input_host.bucket = Some(BucketConfig {
        url: "s3://studio-inputs".into(),
        endpoint: Some(bucket.endpoint()),
        region: "us-east-1".into(),
        access_key_id: None,
        secret_access_key: None,
        url_ttl: std::time::Duration::from_secs(600),
    });
    let err = Providers::new(cfg)
        .expect("client")
        .submit(&i2v())
        .await
        .expect_err("no credentials");
    assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}

#[tokio::test]
async fn the_undocumented_upload_is_tried_only_when_turned_on() {
    let fake = a2e().await;
    let mut cfg = config_for(&fake);
    cfg.input_host.a2e_presigned_upload = true;
    let providers = Providers::new(cfg).expect("client");
    // The strict fake implements only what A2E documents: the [C] endpoint is not there.
    let err = providers.submit(&i2v()).await.expect_err("strict");
    assert!(err.to_string().contains("Not Found"), "{err}");
    assert_eq!(fake.submissions(), 0);
    fake.allow_guessed_endpoints();
    providers
        .submit(&i2v())
        .await
        .expect("with the guessed endpoint");
    let url = fake.last_input().expect("input")["image_url"].clone();
    assert!(url.as_str().expect("url").contains("/files/"), "{url}");
}

#[tokio::test]
async fn action_pose_sends_the_character_and_the_pose_to_a_model_that_takes_both() {
    let fake = a2e().await;
    let fal = Fake::start(Flavor::Fal).await.expect("fal");
    fal.require_key(KEY);
    let mut cfg = config_for(&fake);
    cfg.fal.key = Some(ApiKey::new(KEY));
    cfg.fal_storage_url = fal.base_url();
    let providers = Providers::new(cfg).expect("client");
    let request = JobRequest::new("action_pose")
        .with("character", png("hero.png", 2))
        .with("pose", png("pose.png", 3))
        .with("prompt", "mid-leap");
    providers.submit(&request).await.expect("submitted");
    let input = fake.last_input().expect("input");
    let images = input["input_images"].as_array().expect("input_images");
    assert_eq!(images.len(), 2, "{input}");
    assert!(
        images[0].as_str().expect("url").contains("hero.png"),
        "character first"
    );
    assert!(
        images[1].as_str().expect("url").contains("pose.png"),
        "pose second"
    );
    let prompt = input["prompt"].as_str().expect("prompt");
    assert!(
        prompt.contains("first image") && prompt.ends_with(". mid-leap"),
        "{prompt}"
    );
    assert_eq!(fake.fetched().len(), 2);
}

/// A Wan 2.2 workflow exported with other node ids than the shipped one.
fn studio_wan() -> Value {
    json!({
        "12": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
        "13": {"class_type": "LoadImage", "inputs": {"image": "end.png"}},
        "16": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 0]}},
        "57": {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": 0}},
        "80": {"class_type": "SaveVideo", "inputs": {"filename_prefix": "video/ComfyUI"}}
    })
}

#[tokio::test]
async fn a_studio_deployment_mapping_is_sent_and_a_wrong_one_is_refused() {
    let fake = Fake::start(Flavor::RunComfy).await.expect("fake");
    fake.require_key(KEY);
    fake.add_deployment("studio-wan", studio_wan());
    let mut cfg = config_for(&fake);
    let mapping = vec![
        FieldMap::new("first_frame", "12/inputs/image").required(),
        FieldMap::new("last_frame", "13/inputs/image").required(),
        FieldMap::new("prompt", "16/inputs/text"),
        FieldMap::new("seed", "57/inputs/noise_seed"),
    ];
    assert!(cfg.map_deployment("sequence", "studio-wan", &mapping));
    let providers = Providers::new(cfg.clone()).expect("client");
    let request = JobRequest::new("sequence")
        .with("first_frame", png("a.png", 4))
        .with("last_frame", png("b.png", 5))
        .with("prompt", "dolly in")
        .with("seed", json!(99));

    // The management API returns the deployed workflow; the mapping lands on it.
    let workflow = providers
        .deployment_workflow("studio-wan")
        .await
        .expect("lookup")
        .expect("payload");
    assert!(mapping_problems(&workflow, &cfg.kinds["sequence"]).is_empty());
    providers.submit(&request).await.expect("submitted");
    let overrides = fake.last_input().expect("overrides");
    assert_eq!(overrides["16"]["inputs"]["text"], "dolly in");
    assert_eq!(overrides["57"]["inputs"]["noise_seed"], 99);
    assert!(
        overrides["12"]["inputs"]["image"]
            .as_str()
            .expect("image")
            .starts_with("data:image/png")
    );

    // The shipped mapping's ids are not this deployment's: found before a run, and refused by
    // RunComfy (the strict fake) if sent anyway.
    let shipped = ProvidersConfig::from_lookup(|_| None).kinds["sequence"].clone();
    let problems = mapping_problems(&workflow, &shipped);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("node 52 is not in the deployment's workflow")),
        "{problems:?}"
    );
    let mut wrong = cfg.clone();
    wrong.map_deployment("sequence", "", &shipped.inputs);
    let err = Providers::new(wrong)
        .expect("client")
        .submit(&request)
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("is not in the deployment's workflow"),
        "{err}"
    );
    // An input name the node lacks is refused too.
    let mut bad_input = cfg.clone();
    let mut m = mapping.clone();
    m[2] = FieldMap::new("prompt", "16/inputs/prompt");
    bad_input.map_deployment("sequence", "", &m);
    let err = Providers::new(bad_input)
        .expect("client")
        .submit(&request)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("has no input prompt"), "{err}");
    // A deployment the account does not have.
    let mut gone = cfg;
    gone.map_deployment("sequence", "no-such-deployment", &[]);
    assert!(
        Providers::new(gone)
            .expect("client")
            .submit(&request)
            .await
            .is_err()
    );
    assert_eq!(fake.submissions(), 1);
    let Target::RunComfy { deployment_id } = &shipped.target else {
        panic!("sequence is a RunComfy deployment");
    };
    assert!(deployment_id.is_empty(), "no default id: the studio's own");
}

#[tokio::test]
async fn strict_fakes_refuse_wrong_auth_schemes_and_undocumented_fields() {
    let client = reqwest::Client::new();
    for (flavor, path, wrong) in [
        (Flavor::Fal, "/fal-ai/flux/dev", "Bearer k"),
        (Flavor::Replicate, "/predictions", "Token k"),
        (Flavor::A2e, "/api/v1/userText2Image/start", "Key k"),
        (Flavor::RunComfy, "/prod/v1/deployments/x/inference", "k"),
    ] {
        let fake = Fake::start(flavor).await.expect("fake");
        let resp = client
            .post(format!("{}{path}", fake.base_url()))
            .header("Authorization", wrong)
            .json(&json!({}))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 401, "{flavor:?}");
    }
    // Fields the documentation does not define are refused.
    let fake = Fake::start(Flavor::A2e).await.expect("fake");
    let v: Value = client
        .post(format!("{}/api/v1/userImage2Video/start", fake.base_url()))
        .bearer_auth("k")
        .json(&json!({"image_url": "http://127.0.0.1:9/x.png", "video_time": 10}))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert!(
        v["msg"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field video_time")),
        "{v}"
    );
    let fake = Fake::start(Flavor::Replicate).await.expect("fake");
    let resp = client
        .post(format!("{}/predictions", fake.base_url()))
        .bearer_auth("k")
        .json(&json!({"version": "v", "input": {}, "priority": 1}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 422);
    assert_eq!(fake.submissions(), 0);
}
