//! Blobs, the generation proxy (against the fake providers of `aktion_fakes`), training-data
//! sharing, beta sign-ups, metrics and the OpenAPI document, through the router; on SQLite and
//! on PostgreSQL when configured. Every endpoint is also tried by a second user.

use std::time::Duration;

use aktion_api::{
    BlobInfo, Generation, GenerationState, Me, SessionResponse, SharedDataPage, TrainingDataStored,
    TrainingStats,
};
use aktion_fakes::{Fake, Flavor, Step};
use aktion_providers::{ProviderKind, ProvidersConfig};
use aktion_server::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{self, TestDb};

pub const KEY: &str = "sk_SERVER_HELD_never_print";

pub struct Raw {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|_| {
            panic!(
                "{}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.json())
            .unwrap_or_else(|e| panic!("{}: unexpected body ({e}): {}", self.status, self.json()))
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

pub async fn send(state: &AppState, request: Request<Body>) -> Raw {
    let response = aktion_server::app(state.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Raw {
        status,
        headers,
        bytes,
    }
}

pub(crate) fn req(method: &str, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b
}

pub(crate) fn json_req(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &Value,
) -> Request<Body> {
    req(method, uri, token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub(crate) fn empty(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
    req(method, uri, token)
        .body(Body::empty())
        .expect("request")
}

/// Fakes of every provider, all requiring the server-held key, polled every 50 ms.
pub struct Providers {
    pub fakes: Vec<Fake>,
}

impl Providers {
    pub async fn start() -> Self {
        let fakes = aktion_fakes::start_all().await.expect("fakes");
        for f in &fakes {
            f.require_key(KEY);
            f.set_script(vec![Step::Queued(1), Step::Running(0.5), Step::Succeed]);
        }
        Self { fakes }
    }

    pub fn get(&self, flavor: Flavor) -> &Fake {
        self.fakes
            .iter()
            .find(|f| f.flavor == flavor)
            .expect("flavor")
    }

    pub fn config(&self) -> ProvidersConfig {
        let vars: Vec<(String, String)> = self
            .fakes
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
            .chain([("RUNCOMFY_USER_ID".to_owned(), "u1".to_owned())])
            .collect();
        let mut config = ProvidersConfig::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        });
        for p in [
            ProviderKind::Replicate,
            ProviderKind::RunComfy,
            ProviderKind::A2e,
            ProviderKind::Fal,
            ProviderKind::ComfyUi,
        ] {
            config.endpoint_mut(p).poll_interval = Duration::from_millis(50);
        }
        config
    }

    pub fn submissions(&self) -> usize {
        self.fakes.iter().map(Fake::submissions).sum()
    }
}

async fn start(db: &TestDb, providers: &Providers) -> AppState {
    let config = aktion_server::Config {
        providers: providers.config(),
        starter_grant: 20,
        max_blob_bytes: 256 * 1024,
        ..common::test_config()
    };
    aktion_server::start(&db.url, config)
        .await
        .expect("start")
        .0
}

pub(crate) async fn register(state: &AppState, email: &str) -> String {
    let r = send(
        state,
        json_req(
            "POST",
            "/v1/auth/register",
            None,
            &json!({"email": email, "password": "correct horse"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let (status, page) = crate::common::confirm_email(state, email).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    r.parse::<SessionResponse>().token
}

pub(crate) async fn make_admin(state: &AppState, email: &str) -> String {
    let token = register(state, email).await;
    let user = aktion_server::auth::user_by_email(&state.db, email)
        .await
        .expect("db")
        .expect("user");
    aktion_server::auth::set_admin(&state.db, user.id, true)
        .await
        .expect("admin");
    token
}

pub(crate) async fn balance(state: &AppState, token: &str) -> i64 {
    send(state, empty("GET", "/v1/me", Some(token)))
        .await
        .parse::<Me>()
        .balance
}

pub(crate) async fn upload(state: &AppState, token: &str, bytes: &[u8], content_type: &str) -> Raw {
    let hash = blake3::hash(bytes).to_hex().to_string();
    send(
        state,
        req("PUT", &format!("/v1/blobs/{hash}"), Some(token))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(bytes.to_vec()))
            .expect("request"),
    )
    .await
}

pub(crate) fn png() -> Vec<u8> {
    aktion_fakes::OutputSpec::png().bytes.to_vec()
}

pub(crate) async fn generate(
    state: &AppState,
    token: &str,
    body: &Value,
    key: Option<&str>,
) -> Raw {
    let mut r = req("POST", "/v1/generations", Some(token))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    send(
        state,
        r.body(Body::from(body.to_string())).expect("request"),
    )
    .await
}

/// Polls the generation until it is over (the fakes answer within a few polls).
pub(crate) async fn finished(state: &AppState, token: &str, id: &str) -> Generation {
    for _ in 0..400 {
        let g: Generation = send(
            state,
            empty("GET", &format!("/v1/generations/{id}"), Some(token)),
        )
        .await
        .parse();
        if g.state.is_terminal() {
            return g;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("generation {id} did not finish");
}

/// Waits (up to 4 s) until the generation is at the provider.
pub(crate) async fn running(state: &AppState, token: &str, id: &str) {
    for _ in 0..200 {
        let now: Generation = send(
            state,
            empty("GET", &format!("/v1/generations/{id}"), Some(token)),
        )
        .await
        .parse();
        if now.state == GenerationState::Running {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_upload_by_hash_and_only_owners_read_them() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start(&db, &providers).await;
        let a = register(&state, "a@example.com").await;
        let b = register(&state, "b@example.com").await;
        let bytes = png();
        let hash = blake3::hash(&bytes).to_hex().to_string();

        let first = upload(&state, &a, &bytes, "image/png").await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        let info: BlobInfo = first.parse();
        assert_eq!(
            (info.hash.as_str(), info.size),
            (hash.as_str(), i64::try_from(bytes.len()).unwrap())
        );
        assert_eq!(
            upload(&state, &a, &bytes, "image/png").await.status,
            StatusCode::OK
        );

        let got = send(&state, empty("GET", &format!("/v1/blobs/{hash}"), Some(&a))).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.bytes, bytes);
        assert_eq!(got.headers[header::CONTENT_TYPE], "image/png");

        // B cannot read A's blob, even knowing its hash; uploading the same bytes proves
        // possession and then B may (stored once).
        let other = send(&state, empty("GET", &format!("/v1/blobs/{hash}"), Some(&b))).await;
        assert_eq!(
            (other.status, other.code().as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
        assert_eq!(
            upload(&state, &b, &bytes, "image/png").await.status,
            StatusCode::CREATED
        );
        assert_eq!(
            send(&state, empty("GET", &format!("/v1/blobs/{hash}"), Some(&b)))
                .await
                .status,
            StatusCode::OK
        );

        // Wrong hash, bad hash, bad content type, too large, no session.
        let wrong = send(
            &state,
            req("PUT", &format!("/v1/blobs/{}", "ab".repeat(32)), Some(&a))
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from(bytes.clone()))
                .expect("request"),
        )
        .await;
        assert_eq!(
            (wrong.status, wrong.code().as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch")
        );
        for bad in ["xyz", "..%2F..%2Fetc%2Fpasswd", &"0".repeat(63)] {
            let r = send(
                &state,
                req("PUT", &format!("/v1/blobs/{bad}"), Some(&a))
                    .header(header::CONTENT_TYPE, "image/png")
                    .body(Body::from(bytes.clone()))
                    .expect("request"),
            )
            .await;
            assert!(r.status.is_client_error(), "{bad}: {}", r.status);
            r.json();
        }
        for ct in ["text/html", "application/json", "image/", "nonsense"] {
            let r = upload(&state, &a, b"<html>", ct).await;
            assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
            assert_eq!(r.code(), "unsupported_media_type");
        }
        let huge = vec![7u8; 300 * 1024];
        let r = upload(&state, &a, &huge, "image/png").await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
        let anon = send(
            &state,
            req("PUT", &format!("/v1/blobs/{hash}"), None)
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from(bytes.clone()))
                .expect("request"),
        )
        .await;
        assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            send(&state, empty("GET", &format!("/v1/blobs/{hash}"), None))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one story, step by step, on each database"
)]
async fn a_generation_runs_at_the_provider_streams_progress_and_is_charged_once() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start(&db, &providers).await;
        let a = register(&state, "a@example.com").await;
        let b = register(&state, "b@example.com").await;
        let before = providers.submissions();
        let body = json!({"kind": "t2i", "params": {"prompt": "a lighthouse at dusk", "seed": 7}});
        let created = generate(&state, &a, &body, Some("gen-1")).await;
        assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text());
        let g: Generation = created.parse();
        assert_eq!((g.state, g.credits), (GenerationState::Queued, 2));
        assert_eq!(balance(&state, &a).await, 18, "reserved at once");

        // The SSE stream: status events until the final one, then the stream ends.
        let events = send(
            &state,
            empty("GET", &format!("/v1/generations/{}/events", g.id), Some(&a)),
        )
        .await;
        assert_eq!(events.status, StatusCode::OK);
        assert!(
            events.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let text = events.text();
        let states: Vec<Generation> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).expect("event JSON"))
            .collect();
        assert!(text.contains("event: status"), "{text}");
        let last = states.last().expect("events");
        assert_eq!(last.state, GenerationState::Succeeded, "{text}");
        assert!(states.len() >= 2, "progress before the end: {text}");

        let done = finished(&state, &a, &g.id).await;
        assert_eq!(done.progress, Some(1.0));
        assert_eq!(done.outputs.len(), 1);
        let out = &done.outputs[0];
        assert_eq!(out.content_type, "image/png");
        let got = send(&state, empty("GET", &out.url, Some(&a))).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(blake3::hash(&got.bytes).to_hex().to_string(), out.hash);
        assert_eq!(
            balance(&state, &a).await,
            18,
            "charged: the reservation became the charge"
        );
        assert_eq!(providers.submissions() - before, 1);

        // A retry with the same key answers with the first generation and reserves nothing.
        let again = generate(&state, &a, &body, Some("gen-1")).await;
        assert_eq!(again.status, StatusCode::ACCEPTED);
        assert_eq!(again.parse::<Generation>().id, g.id);
        assert_eq!(balance(&state, &a).await, 18);
        assert_eq!(
            providers.submissions() - before,
            1,
            "no second provider job"
        );
        let reused = generate(
            &state,
            &a,
            &json!({"kind": "t2i", "params": {"prompt": "other"}}),
            Some("gen-1"),
        )
        .await;
        assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);

        // The ledger shows the reservation and its charge.
        let ledger = send(&state, empty("GET", "/v1/ledger", Some(&a)))
            .await
            .json();
        let kinds: Vec<&str> = ledger["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds[..2], ["charge", "reserve"], "{ledger}");

        // B sees none of it: status, events, cancel, rating, the output blob.
        for (method, uri, body) in [
            ("GET", format!("/v1/generations/{}", g.id), None),
            ("GET", format!("/v1/generations/{}/events", g.id), None),
            ("POST", format!("/v1/generations/{}/cancel", g.id), None),
            (
                "POST",
                format!("/v1/generations/{}/rating", g.id),
                Some(json!({"rating": 1})),
            ),
            ("GET", out.url.clone(), None),
        ] {
            let r = match body {
                Some(body) => send(&state, json_req(method, &uri, Some(&b), &body)).await,
                None => send(&state, empty(method, &uri, Some(&b))).await,
            };
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{method} {uri}: {}",
                r.text()
            );
        }
        // No session: 401 everywhere.
        for (method, uri) in [
            ("GET", format!("/v1/generations/{}", g.id)),
            ("GET", format!("/v1/generations/{}/events", g.id)),
            ("POST", format!("/v1/generations/{}/cancel", g.id)),
            ("POST", "/v1/generations".to_owned()),
        ] {
            assert_eq!(
                send(&state, empty(method, &uri, None)).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        eprintln!("{}: ok", db.name);
    }
}

async fn user_id(state: &AppState, email: &str) -> i64 {
    aktion_server::auth::user_by_email(&state.db, email)
        .await
        .expect("db")
        .expect("user")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one story, step by step, on each database"
)]
async fn failures_and_cancels_release_and_bad_requests_reserve_nothing() {
    let providers = Providers::start().await;
    let a2e = providers.get(Flavor::A2e);
    for db in common::all().await {
        let state = start(&db, &providers).await;
        let a = register(&state, "a@example.com").await;
        let t2i = json!({"kind": "t2i", "params": {"prompt": "a storm"}});

        // The provider fails the job: failed with its message, credits back.
        a2e.set_script(vec![
            Step::Queued(0),
            Step::Fail("content filter: nsfw".into()),
        ]);
        let g: Generation = generate(&state, &a, &t2i, None).await.parse();
        let done = finished(&state, &a, &g.id).await;
        assert_eq!(done.state, GenerationState::Failed);
        assert!(
            done.message.as_deref().unwrap_or("").contains("nsfw"),
            "{done:?}"
        );
        assert!(!done.message.as_deref().unwrap_or("").contains(KEY));
        assert_eq!(balance(&state, &a).await, 20, "released");

        // Cancelled while running: cancelled at the provider, credits back.
        a2e.set_script(vec![Step::Running(0.1); 400]);
        let cancels_before = a2e
            .seen()
            .iter()
            .filter(|s| s.route == aktion_fakes::Route::Cancel)
            .count();
        let g: Generation = generate(&state, &a, &t2i, None).await.parse();
        running(&state, &a, &g.id).await;
        let r = send(
            &state,
            empty(
                "POST",
                &format!("/v1/generations/{}/cancel", g.id),
                Some(&a),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        let done = finished(&state, &a, &g.id).await;
        assert_eq!(done.state, GenerationState::Cancelled);
        assert_eq!(balance(&state, &a).await, 20, "released");
        let cancels = a2e
            .seen()
            .iter()
            .filter(|s| s.route == aktion_fakes::Route::Cancel)
            .count();
        assert!(
            cancels > cancels_before,
            "cancelled at the provider too: {done:?} {:?}",
            a2e.seen()
                .iter()
                .rev()
                .take(6)
                .map(|s| (s.method.clone(), s.uri.clone(), s.status))
                .collect::<Vec<_>>()
        );
        // Cancelling again, or rating a cancelled one, changes nothing.
        let again = send(
            &state,
            empty(
                "POST",
                &format!("/v1/generations/{}/cancel", g.id),
                Some(&a),
            ),
        )
        .await;
        assert_eq!(
            again.parse::<Generation>().state,
            GenerationState::Cancelled
        );
        let rate = send(
            &state,
            json_req(
                "POST",
                &format!("/v1/generations/{}/rating", g.id),
                Some(&a),
                &json!({"rating": 5}),
            ),
        )
        .await;
        assert_eq!(
            (rate.status, rate.code().as_str()),
            (StatusCode::CONFLICT, "not_succeeded")
        );
        a2e.set_script(vec![Step::Queued(1), Step::Running(0.5), Step::Succeed]);

        // Not enough credits: 402, nothing reserved.
        let uid = user_id(&state, "a@example.com").await;
        let drain = aktion_server::ledger::reserve(
            &state.db,
            uid,
            19,
            "test drain",
            None,
            Duration::from_secs(600),
        )
        .await
        .expect("drain");
        let poor = generate(&state, &a, &t2i, None).await;
        assert_eq!(
            (poor.status, poor.code().as_str()),
            (StatusCode::PAYMENT_REQUIRED, "insufficient_credits")
        );
        aktion_server::ledger::release(&state.db, drain.id, "test")
            .await
            .expect("release");

        // Bad requests: each a 4xx JSON error, and nothing reserved or submitted.
        let other = register(&state, "b@example.com").await;
        let theirs = upload(&state, &other, b"\x89PNG other", "image/png")
            .await
            .parse::<BlobInfo>()
            .hash;
        let mine = upload(&state, &a, &png(), "image/png")
            .await
            .parse::<BlobInfo>()
            .hash;
        let submissions = providers.submissions();
        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (
                json!({"kind": "nope"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "prompt"}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "t2i", "params": {"prompt": "x", "wings": 2}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "t2i", "params": {"prompt": "x", "seed": "seven"}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "t2i", "params": {"prompt": "x", "aspect_ratio": "1:999"}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "t2i", "inputs": {"tail": [{"text": "x"}]}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "i2v", "params": {"prompt": "x"}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "i2v", "inputs": {"image": [{"blob": theirs}]}}),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                json!({"kind": "i2v", "inputs": {"image": [{"text": "not an image"}]}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "i2v", "inputs": {"image": [{"blob": "../../etc/passwd"}]}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "i2v", "inputs": {"image": [{"blob": mine}, {"blob": mine}]}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "i2v", "inputs": {"image": []}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "t2i", "inputs": {"prompt": [{"blob": mine}]}}),
                StatusCode::BAD_REQUEST,
                "invalid_field",
            ),
            (
                json!({"kind": "t2i", "params": {"prompt": "x"}, "extra": 1}),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (
                json!({"kind": 5}),
                StatusCode::BAD_REQUEST,
                "invalid_request",
            ),
            (json!([1, 2]), StatusCode::BAD_REQUEST, "invalid_request"),
            (
                json!({"kind": "t2i", "params": {"prompt": "x".repeat(5000)}}),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];
        for (body, status, code) in cases {
            let r = generate(&state, &a, &body, None).await;
            let shown = body.to_string();
            let shown = &shown[..shown.len().min(120)];
            assert_eq!(
                (r.status, r.code().as_str()),
                (status, code),
                "{shown}: {}",
                r.text()
            );
        }
        for raw in ["{", "", "null", "{\"kind\": \"t2i\", \"params\": 3}"] {
            let r = send(
                &state,
                req("POST", "/v1/generations", Some(&a))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(raw))
                    .expect("request"),
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw:?}: {}", r.text());
            r.json();
        }
        let no_type = send(
            &state,
            req("POST", "/v1/generations", Some(&a))
                .body(Body::from(t2i.to_string()))
                .expect("request"),
        )
        .await;
        assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(balance(&state, &a).await, 20);
        assert_eq!(providers.submissions(), submissions, "nothing submitted");
        let unknown = send(
            &state,
            empty("GET", "/v1/generations/does-not-exist", Some(&a)),
        )
        .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        let long = send(
            &state,
            empty(
                "GET",
                &format!("/v1/generations/{}", "x".repeat(5000)),
                Some(&a),
            ),
        )
        .await;
        assert_eq!(long.status, StatusCode::NOT_FOUND);
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_inputs_reach_the_provider_as_bytes_or_signed_urls() {
    let providers = Providers::start().await;
    let replicate = providers.get(Flavor::Replicate);
    let db = common::sqlite();
    let state = start(&db, &providers).await;
    let a = register(&state, "a@example.com").await;
    let sketch = png();
    let hash = upload(&state, &a, &sketch, "image/png")
        .await
        .parse::<BlobInfo>()
        .hash;
    let body = json!({"kind": "sketch_to_image", "params": {"prompt": "a knight"}, "inputs": {"sketch": [{"blob": hash}]}});
    let g: Generation = generate(&state, &a, &body, None).await.parse();
    assert_eq!(
        finished(&state, &a, &g.id).await.state,
        GenerationState::Succeeded
    );
    let sent = serde_json::to_string(&replicate.inputs()).expect("inputs");
    assert!(
        sent.contains("data:image/png;base64,"),
        "bytes as a data URI without a public URL"
    );

    // With AKTION_PUBLIC_URL the provider gets a signed, expiring URL it can fetch.
    let db2 = common::sqlite();
    let config = aktion_server::Config {
        providers: providers.config(),
        starter_grant: 20,
        public_url: Some("https://api.aktion.test/".to_owned()),
        ..common::test_config()
    };
    let state = aktion_server::start(&db2.url, config)
        .await
        .expect("start")
        .0;
    let a = register(&state, "a@example.com").await;
    upload(&state, &a, &sketch, "image/png").await;
    let g: Generation = generate(&state, &a, &body, None).await.parse();
    assert_eq!(
        finished(&state, &a, &g.id).await.state,
        GenerationState::Succeeded
    );
    let sent = serde_json::to_string(&replicate.inputs()).expect("inputs");
    let url = sent
        .split('"')
        .find(|s| s.starts_with("https://api.aktion.test/v1/signed/blobs/"))
        .map_or_else(|| panic!("a signed URL among the inputs"), str::to_owned);
    let path = url.strip_prefix("https://api.aktion.test").unwrap();
    let fetched = send(&state, empty("GET", path, None)).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text());
    assert_eq!(fetched.bytes, sketch);
    // Tampered, expired or malformed: 404, like an unknown blob.
    let tampered = path.replace("sig=", "sig=0");
    let expired = regex_replace_expires(path);
    for bad in [
        tampered.as_str(),
        expired.as_str(),
        &format!("/v1/signed/blobs/{hash}"),
        &format!("/v1/signed/blobs/{hash}?expires=x&sig=y"),
    ] {
        let r = send(&state, empty("GET", bad, None)).await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.status);
        assert_ne!(r.bytes, sketch);
    }
}

/// The same signed path with `expires` moved into the past (the signature no longer matches,
/// and even a matching one would be expired).
fn regex_replace_expires(path: &str) -> String {
    let (before, after) = path.split_once("expires=").expect("expires");
    let rest = after.split_once('&').map_or("", |(_, r)| r);
    format!("{before}expires=1&{rest}")
}

pub(crate) async fn opt_in(state: &AppState, token: &str, on: bool) {
    let r = send(
        state,
        json_req(
            "PUT",
            "/v1/me/data-sharing",
            Some(token),
            &json!({"opt_in": on}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn shared(state: &AppState, token: &str) -> SharedDataPage {
    send(state, empty("GET", "/v1/me/shared-data", Some(token)))
        .await
        .parse()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one story, step by step, on each database"
)]
async fn training_data_is_kept_only_while_opted_in_and_only_its_owner_sees_it() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start(&db, &providers).await;
        let a = register(&state, "a@example.com").await;
        let b = register(&state, "b@example.com").await;
        let admin = make_admin(&state, "admin@example.com").await;
        let a_id = user_id(&state, "a@example.com").await;
        let t2i = |prompt: &str| json!({"kind": "t2i", "params": {"prompt": prompt, "seed": 3, "aspect_ratio": "16:9"}});

        // Not opted in: nothing stored, silently.
        let g: Generation = generate(&state, &a, &t2i("not shared"), None).await.parse();
        assert_eq!(
            finished(&state, &a, &g.id).await.state,
            GenerationState::Succeeded
        );
        assert!(shared(&state, &a).await.records.is_empty());
        let out = upload(&state, &a, b"\x89PNG from elsewhere", "image/png")
            .await
            .parse::<BlobInfo>()
            .hash;
        let skipped: TrainingDataStored = send(
            &state,
            json_req(
                "POST",
                "/v1/training-data",
                Some(&a),
                &json!({"node_kind": "t2i", "output_hash": out}),
            ),
        )
        .await
        .parse();
        assert!(!skipped.stored);

        // Opted in: each success is recorded with the §5.3 fields, its file under A's prefix.
        opt_in(&state, &a, true).await;
        let g: Generation = generate(&state, &a, &t2i("a lighthouse"), None)
            .await
            .parse();
        let done = finished(&state, &a, &g.id).await;
        let page = shared(&state, &a).await;
        assert_eq!(page.records.len(), 1);
        let rec = &page.records[0];
        assert_eq!(rec.generation_id.as_deref(), Some(g.id.as_str()));
        assert_eq!(
            (rec.node_kind.as_str(), rec.output_type.as_str()),
            ("t2i", "image")
        );
        assert_eq!(rec.prompt.as_deref(), Some("a lighthouse"));
        assert_eq!(rec.settings, json!({"seed": 3, "aspect_ratio": "16:9"}));
        assert_eq!(rec.output_hash, done.outputs[0].hash);
        assert!(rec.generation_ms.is_some());
        let key = format!("training/{a_id}/{}", rec.output_hash);
        assert!(
            state.storage.exists(&key).await.unwrap(),
            "file in A's private prefix"
        );

        // Rating: on the generation and its record; out of range refused.
        let rated = send(
            &state,
            json_req(
                "POST",
                &format!("/v1/generations/{}/rating", g.id),
                Some(&a),
                &json!({"rating": 4}),
            ),
        )
        .await;
        assert_eq!(rated.parse::<Generation>().rating, Some(4));
        assert_eq!(shared(&state, &a).await.records[0].rating, Some(4));
        for bad in [
            json!({"rating": 0}),
            json!({"rating": 6}),
            json!({"rating": "5"}),
            json!({}),
        ] {
            let r = send(
                &state,
                json_req(
                    "POST",
                    &format!("/v1/generations/{}/rating", g.id),
                    Some(&a),
                    &bad,
                ),
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        }

        // A result from another route, shared by upload + POST.
        let stored: TrainingDataStored = send(&state, json_req("POST", "/v1/training-data", Some(&a), &json!({
            "node_kind": "sketch_to_image", "output_hash": out, "prompt": "direct route",
            "settings": {"creativity": 0.4}, "character_refs": [], "input_refs": ["abc"], "generation_ms": 1200, "rating": 5
        }))).await.parse();
        assert!(stored.stored);
        for bad in [
            json!({"node_kind": "t2i", "output_hash": "not-a-hash"}),
            json!({"node_kind": "", "output_hash": out}),
            json!({"node_kind": "t2i", "output_hash": out, "rating": 9}),
            json!({"node_kind": "t2i", "output_hash": out, "generation_ms": -1}),
            json!({"node_kind": "t2i", "output_hash": out, "wings": true}),
            json!({"node_kind": "t2i"}),
        ] {
            let r = send(
                &state,
                json_req("POST", "/v1/training-data", Some(&a), &bad),
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
            r.json();
        }
        // B cannot share A's blob, nor see, rate or erase A's records.
        opt_in(&state, &b, true).await;
        let r = send(
            &state,
            json_req(
                "POST",
                "/v1/training-data",
                Some(&b),
                &json!({"node_kind": "t2i", "output_hash": out}),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "not B's blob");
        assert!(shared(&state, &b).await.records.is_empty());
        let erased: Value = send(&state, empty("DELETE", "/v1/me/shared-data", Some(&b)))
            .await
            .json();
        assert_eq!(erased["deleted"], 0);
        assert_eq!(shared(&state, &a).await.records.len(), 2);

        // Stats: the caller's own aggregates; everyone's only for an admin.
        let theirs: TrainingStats = send(&state, empty("GET", "/v1/stats/training-data", Some(&b)))
            .await
            .parse();
        assert!(theirs.groups.is_empty(), "B has shared nothing: {theirs:?}");
        let all = send(
            &state,
            empty("GET", "/v1/stats/training-data?scope=all", Some(&b)),
        )
        .await;
        assert_eq!(
            all.status,
            StatusCode::FORBIDDEN,
            "global aggregates are admin-only"
        );
        let summary: TrainingStats =
            send(&state, empty("GET", "/v1/stats/training-data", Some(&a)))
                .await
                .parse();
        let t2i_group = summary
            .groups
            .iter()
            .find(|g| g.node_kind == "t2i")
            .expect("t2i");
        assert_eq!(
            (t2i_group.count, t2i_group.rated, t2i_group.avg_rating),
            (1, 1, Some(4.0))
        );
        let s2i = summary
            .groups
            .iter()
            .find(|g| g.node_kind == "sketch_to_image")
            .expect("s2i");
        assert_eq!(s2i.avg_generation_ms, Some(1200.0));
        assert_eq!(
            send(&state, empty("GET", "/v1/stats/training-data", None))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );

        // The admin export: JSONL with owners and file references; admins only.
        assert_eq!(
            send(
                &state,
                empty("GET", "/v1/admin/training-data/export", Some(&a))
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(&state, empty("GET", "/v1/admin/training-data/export", None))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let export = send(
            &state,
            empty("GET", "/v1/admin/training-data/export", Some(&admin)),
        )
        .await;
        assert_eq!(export.status, StatusCode::OK);
        assert_eq!(export.headers[header::CONTENT_TYPE], "application/x-ndjson");
        let lines: Vec<Value> = export
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| {
            l["user_id"] == a_id
                && l["file"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("training/{a_id}/"))
        }));
        assert!(!export.text().contains(KEY));

        // Opting out stops collection; "delete my shared data" erases records and files.
        opt_in(&state, &a, false).await;
        let g: Generation = generate(&state, &a, &t2i("after opting out"), None)
            .await
            .parse();
        finished(&state, &a, &g.id).await;
        assert_eq!(shared(&state, &a).await.records.len(), 2);
        let erased: Value = send(&state, empty("DELETE", "/v1/me/shared-data", Some(&a)))
            .await
            .json();
        assert_eq!(erased["deleted"], 2);
        assert!(shared(&state, &a).await.records.is_empty());
        assert!(!state.storage.exists(&key).await.unwrap(), "file erased");
        // The generation's own output (not shared data) is still the user's to download.
        assert_eq!(
            send(&state, empty("GET", &done.outputs[0].url, Some(&a)))
                .await
                .status,
            StatusCode::OK
        );
        for (method, uri) in [
            ("GET", "/v1/me/shared-data"),
            ("DELETE", "/v1/me/shared-data"),
            ("POST", "/v1/training-data"),
        ] {
            assert_eq!(
                send(&state, empty(method, uri, None)).await.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri}"
            );
        }
        let bad_page = send(&state, empty("GET", "/v1/me/shared-data?limit=0", Some(&a))).await;
        assert_eq!(bad_page.status, StatusCode::BAD_REQUEST);
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one story, step by step, on each database"
)]
async fn landing_page_and_beta_signups_work_without_javascript() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start(&db, &providers).await;
        let page = send(&state, empty("GET", "/", None)).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        assert!(html.contains(r#"<form method="post" action="/v1/beta-signups">"#));
        assert!(html.contains("JOIN BETA") && html.contains(r#"name="email""#));
        assert!(!html.contains("<script"), "no JavaScript needed");
        let clip = send(&state, empty("GET", "/landing/clip.gif", None)).await;
        assert_eq!(clip.headers[header::CONTENT_TYPE], "image/gif");
        assert!(clip.bytes.starts_with(b"GIF89a"));

        // The form: redirected back with a notice; a bad address gets one too.
        let form = |email: &str| {
            req("POST", "/v1/beta-signups", None)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("email={email}")))
                .expect("request")
        };
        let r = send(&state, form("Director%40Studio.com")).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.headers[header::LOCATION], "/?joined=1");
        let thanks = send(&state, empty("GET", "/?joined=1", None)).await.text();
        assert!(thanks.contains("on the list"));
        let r = send(&state, form("not-an-email")).await;
        assert_eq!(r.headers[header::LOCATION], "/?error=email");
        assert!(
            send(&state, empty("GET", "/?error=email", None))
                .await
                .text()
                .contains("doesn't look like an email")
        );
        let r = send(
            &state,
            req("POST", "/v1/beta-signups", None)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("%%%"))
                .expect("request"),
        )
        .await;
        assert_eq!(r.headers[header::LOCATION], "/?error=email");

        // JSON: the same answer for a new and a known email (any case).
        let first = send(
            &state,
            json_req(
                "POST",
                "/v1/beta-signups",
                None,
                &json!({"email": "new@studio.com"}),
            ),
        )
        .await;
        let known = send(
            &state,
            json_req(
                "POST",
                "/v1/beta-signups",
                None,
                &json!({"email": "DIRECTOR@studio.COM"}),
            ),
        )
        .await;
        assert_eq!(first.status, StatusCode::ACCEPTED);
        assert_eq!(
            (first.status, first.bytes.clone()),
            (known.status, known.bytes.clone())
        );
        for bad in [
            json!({"email": "nope"}),
            json!({"email": 3}),
            json!({}),
            json!({"email": "a@b.c".repeat(100)}),
        ] {
            let r = send(&state, json_req("POST", "/v1/beta-signups", None, &bad)).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
            r.json();
        }

        // Admins list them, de-duplicated.
        let user = register(&state, "user@example.com").await;
        let admin = make_admin(&state, "admin@example.com").await;
        assert_eq!(
            send(&state, empty("GET", "/v1/admin/beta-signups", Some(&user)))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            send(&state, empty("GET", "/v1/admin/beta-signups", None))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let list = send(&state, empty("GET", "/v1/admin/beta-signups", Some(&admin)))
            .await
            .json();
        let emails: Vec<&str> = list["signups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, ["Director@Studio.com", "new@studio.com"]);
        eprintln!("{}: ok", db.name);
    }
}

/// Every path of PRODUCT.md §5.1a's table.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("get", "/v1/pricing"),
    ("get", "/v1/ledger"),
    ("put", "/v1/blobs/{blake3}"),
    ("get", "/v1/blobs/{blake3}"),
    ("post", "/v1/generations"),
    ("get", "/v1/generations/{id}"),
    ("get", "/v1/generations/{id}/events"),
    ("post", "/v1/generations/{id}/cancel"),
    ("post", "/v1/generations/{id}/rating"),
    ("get", "/v1/me/data-sharing"),
    ("put", "/v1/me/data-sharing"),
    ("get", "/v1/me/shared-data"),
    ("delete", "/v1/me/shared-data"),
    ("post", "/v1/training-data"),
    ("get", "/v1/stats/training-data"),
    ("post", "/v1/beta-signups"),
    ("get", "/v1/admin/beta-signups"),
    ("get", "/v1/admin/training-data/export"),
    ("post", "/v1/admin/credits/grant"),
    ("get", "/"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

#[tokio::test]
async fn served_routes_match_openapi_json_and_metrics_count_them() {
    let providers = Providers::start().await;
    let db = common::sqlite();
    let state = start(&db, &providers).await;
    let doc = send(&state, empty("GET", "/openapi.json", None)).await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.push((method.to_owned(), path.clone()));
            }
        }
    }
    for (method, path) in CONTRACT {
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "{method} {path} missing from /openapi.json"
        );
    }
    // Every documented operation is served: the router answers with the handler (its own
    // status), never with the unknown-route fallback or 405.
    let hash = "ab".repeat(32);
    for (method, path) in &documented {
        let uri = path.replace("{blake3}", &hash).replace("{id}", "some-id");
        let r = send(&state, empty(&method.to_uppercase(), &uri, None)).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let routed = r.status != StatusCode::NOT_FOUND || !r.text().contains("route not found");
        assert!(routed, "{method} {path} is documented but not served");
    }
    // And what is not documented is not served.
    for (method, uri) in [
        ("GET", "/v1/admin"),
        ("DELETE", "/v1/ledger"),
        ("GET", "/v1/generations"),
        ("PATCH", "/v1/me/data-sharing"),
    ] {
        let r = send(&state, empty(method, uri, None)).await;
        assert!(
            matches!(
                r.status,
                StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ),
            "{method} {uri}: {}",
            r.status
        );
        r.json();
    }
    // Schemas of the bodies are there.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "GenerationRequest",
        "Generation",
        "ErrorBody",
        "SharedRecord",
        "Pricing",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }

    let metrics = send(&state, empty("GET", "/metrics", None)).await;
    assert!(
        metrics.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = metrics.text();
    assert!(
        text.contains(
            r#"aktion_http_requests_total{method="GET",route="/openapi.json",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/blobs/{blake3}""#),
        "routes by template, never raw paths: {text}"
    );
    assert!(!text.contains(&hash), "no ids in labels");
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_database_a_cancel_through_either_stops_the_job() {
    let providers = Providers::start().await;
    let a2e = providers.get(Flavor::A2e);
    a2e.set_script(vec![Step::Running(0.2); 400]);
    for db in common::all().await {
        let one = start(&db, &providers).await;
        let two = start(&db, &providers).await;
        let a = register(&one, "a@example.com").await;
        let g: Generation = generate(
            &one,
            &a,
            &json!({"kind": "t2i", "params": {"prompt": "x"}}),
            None,
        )
        .await
        .parse();
        // Instance two sees it (same database) and takes the cancel; instance one, which
        // drives it, stops it within a second or two.
        running(&two, &a, &g.id).await;
        let r = send(
            &two,
            empty(
                "POST",
                &format!("/v1/generations/{}/cancel", g.id),
                Some(&a),
            ),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let done = finished(&two, &a, &g.id).await;
        assert_eq!(done.state, GenerationState::Cancelled);
        assert_eq!(balance(&two, &a).await, 20);
        assert_eq!(
            one.jobs.running(),
            0,
            "the driver on instance one has stopped"
        );
        eprintln!("{}: ok", db.name);
    }
}

/// A server over `db` with the fakes and `edit` applied to its limits.
pub(crate) async fn start_limited(
    db: &TestDb,
    providers: &Providers,
    edit: impl FnOnce(&mut aktion_server::Config),
) -> AppState {
    let mut config = aktion_server::Config {
        providers: providers.config(),
        starter_grant: 20,
        max_blob_bytes: 256 * 1024,
        ..common::test_config()
    };
    edit(&mut config);
    aktion_server::start(&db.url, config)
        .await
        .expect("start")
        .0
}

pub(crate) fn t2i() -> Value {
    json!({"kind": "t2i", "params": {"prompt": "a lighthouse at dusk"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_streamed_gated_and_kept_within_a_quota() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |c| {
            c.limits.user_storage_bytes = 150_000;
            c.limits.uploads = 1;
            c.limits.gate_wait = Duration::from_millis(100);
        })
        .await;
        let a = register(&state, "a@example.com").await;
        let b = register(&state, "b@example.com").await;
        let first = vec![1_u8; 100_000];
        assert_eq!(
            upload(&state, &a, &first, "image/png").await.status,
            StatusCode::CREATED
        );
        // Over the quota: refused before a byte is read when the length is declared…
        let second = vec![2_u8; 100_000];
        let over = upload(&state, &a, &second, "image/png").await;
        assert_eq!(
            (over.status, over.code().as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
            "{}",
            over.text()
        );
        // …and while streaming when it is not.
        let hash = blake3::hash(&second).to_hex().to_string();
        let chunks = second
            .chunks(10_000)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>();
        let streamed = send(
            &state,
            req("PUT", &format!("/v1/blobs/{hash}"), Some(&a))
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .expect("request"),
        )
        .await;
        assert_eq!(streamed.code(), "quota_exceeded", "{}", streamed.text());
        // What you have already costs nothing; someone else has their own quota.
        assert_eq!(
            upload(&state, &a, &first, "image/png").await.status,
            StatusCode::OK
        );
        assert_eq!(
            upload(&state, &b, &second, "image/png").await.status,
            StatusCode::CREATED
        );
        // Larger than any blob may be, streamed without a length: 413 once past the limit.
        let huge = (0..40).map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![i; 10_000])));
        let big = send(
            &state,
            req("PUT", &format!("/v1/blobs/{}", "a".repeat(64)), Some(&b))
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from_stream(futures_util::stream::iter(huge)))
                .expect("request"),
        )
        .await;
        assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.text());
        let empty_body = upload(&state, &b, b"", "image/png").await;
        assert_eq!(
            (empty_body.status, empty_body.code().as_str()),
            (StatusCode::BAD_REQUEST, "empty_body")
        );
        let wrong = send(
            &state,
            req("PUT", &format!("/v1/blobs/{}", "b".repeat(64)), Some(&b))
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from(vec![3_u8; 1000]))
                .expect("request"),
        )
        .await;
        assert_eq!(wrong.code(), "hash_mismatch");
        // Nothing half-received was left in the store.
        assert_eq!(
            state
                .storage
                .purge_received(Duration::ZERO)
                .await
                .expect("purge"),
            0
        );
        // Every upload slot taken: 503 with Retry-After, nothing read.
        let slot = state.gates.uploads.enter().await.expect("the one slot");
        let busy = upload(&state, &b, &[4_u8; 500], "image/png").await;
        assert_eq!(
            (busy.status, busy.code().as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "busy")
        );
        assert!(busy.headers.contains_key(header::RETRY_AFTER));
        drop(slot);
        assert_eq!(
            upload(&state, &b, &[4_u8; 500], "image/png").await.status,
            StatusCode::CREATED
        );
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_drivers_are_bounded_and_a_restart_does_not_start_everything_at_once() {
    let providers = Providers::start().await;
    for f in &providers.fakes {
        f.set_script(vec![Step::Running(0.2); 60]);
    }
    for db in common::all().await {
        // An API-only instance stores three generations nobody drives yet.
        let api = start_limited(&db, &providers, |c| c.drive_generations = false).await;
        let a = register(&api, "a@example.com").await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            let g: Generation = generate(&api, &a, &t2i(), None).await.parse();
            ids.push(g.id);
        }
        let before = providers.submissions();
        // A worker with one driver slot picks all three up, and drives one at a time.
        let worker = start_limited(&db, &providers, |c| c.limits.drivers = 1).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(worker.jobs.running(), 3, "{}: all three are its", db.name);
        assert_eq!(providers.submissions() - before, 1, "{}", db.name);
        // Asked for a fourth while every slot is busy: 503, nothing reserved.
        let balance_before = balance(&worker, &a).await;
        let busy = generate(&worker, &a, &t2i(), None).await;
        assert_eq!(
            (busy.status, busy.code().as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            "{}",
            busy.text()
        );
        assert!(busy.headers.contains_key(header::RETRY_AFTER));
        assert_eq!(balance(&worker, &a).await, balance_before);
        for id in &ids {
            let r = send(
                &worker,
                empty("POST", &format!("/v1/generations/{id}/cancel"), Some(&a)),
            )
            .await;
            assert_eq!(r.status, StatusCode::ACCEPTED);
        }
        for id in &ids {
            assert_eq!(
                finished(&worker, &a, id).await.state,
                GenerationState::Cancelled
            );
        }
        assert_eq!(balance(&worker, &a).await, 20);
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_failing_on_a_server_error_lets_go_and_the_job_ends_released() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let api = start_limited(&db, &providers, |c| c.drive_generations = false).await;
        let a = register(&api, "a@example.com").await;
        let g: Generation = generate(&api, &a, &t2i(), None).await.parse();
        assert!(balance(&api, &a).await < 20, "reserved");
        // A stored provider job no driver can read: every attempt stops on a server error.
        sqlx::query(
            "UPDATE generations SET state = 'running', provider_job = '{not json' WHERE id = $1",
        )
        .bind(&g.id)
        .execute(&api.db.pool)
        .await
        .expect("corrupt");
        let worker = start_limited(&db, &providers, |_| {}).await;
        let mut done = None;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now: Generation = send(
                &worker,
                empty("GET", &format!("/v1/generations/{}", g.id), Some(&a)),
            )
            .await
            .parse();
            if now.state.is_terminal() {
                done = Some(now);
                break;
            }
            // The periodic sweep of a running server.
            aktion_server::sweep(&worker, false).await.expect("sweep");
        }
        let done = done.unwrap_or_else(|| panic!("{}: still active", db.name));
        assert_eq!(done.state, GenerationState::Failed);
        assert!(
            done.message
                .as_deref()
                .is_some_and(|m| m.contains("credits released")),
            "{:?}",
            done.message
        );
        assert_eq!(balance(&worker, &a).await, 20, "{}: released", db.name);
        let failures: i64 =
            sqlx::query_scalar("SELECT driver_failures FROM generations WHERE id = $1")
                .bind(&g.id)
                .fetch_one(&worker.db.pool)
                .await
                .expect("row");
        assert_eq!(failures, 3);
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_that_lost_its_lease_changes_nothing() {
    let providers = Providers::start().await;
    for f in &providers.fakes {
        let mut script = vec![Step::Running(0.2); 12];
        script.push(Step::Succeed);
        f.set_script(script);
    }
    for db in common::all().await {
        let one = start_limited(&db, &providers, |_| {}).await;
        let a = register(&one, "a@example.com").await;
        let g: Generation = generate(&one, &a, &t2i(), None).await.parse();
        running(&one, &a, &g.id).await;
        let reserved = balance(&one, &a).await;
        // Its lease ran out and another instance claimed it.
        sqlx::query("UPDATE generations SET worker = 'another-instance' WHERE id = $1")
            .bind(&g.id)
            .execute(&one.db.pool)
            .await
            .expect("claim");
        for _ in 0..200 {
            if one.jobs.running() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(
            one.jobs.running(),
            0,
            "{}: the job ended at the provider",
            db.name
        );
        let now: Generation = send(
            &one,
            empty("GET", &format!("/v1/generations/{}", g.id), Some(&a)),
        )
        .await
        .parse();
        assert_eq!(
            now.state,
            GenerationState::Running,
            "{}: only the owner moves it on",
            db.name
        );
        assert!(now.outputs.is_empty());
        assert_eq!(
            balance(&one, &a).await,
            reserved,
            "neither charged nor released"
        );
        eprintln!("{}: ok", db.name);
    }
}

/// Reads a generation's state.
async fn state_of(state: &AppState, token: &str, id: &str) -> GenerationState {
    send(
        state,
        empty("GET", &format!("/v1/generations/{id}"), Some(token)),
    )
    .await
    .parse::<Generation>()
    .state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_sent_as_bytes_stay_within_the_input_budget() {
    use aktion_fakes::{Fault, Route};
    let providers = Providers::start().await;
    let replicate = providers.get(Flavor::Replicate);
    for db in common::all().await {
        // Room for one 100 kB input at a time, not two.
        let state = start_limited(&db, &providers, |c| {
            c.limits.input_bytes = 150_000;
            c.providers.http.request_timeout = Duration::from_secs(1);
        })
        .await;
        let a = register(&state, "a@example.com").await;
        let sketch = |fill: u8| {
            let bytes = vec![fill; 100_000];
            let state = &state;
            let a = &a;
            async move {
                let hash = upload(state, a, &bytes, "image/png")
                    .await
                    .parse::<BlobInfo>()
                    .hash;
                json!({"kind": "sketch_to_image", "params": {"prompt": "a knight"},
                       "inputs": {"sketch": [{"blob": hash}]}})
            }
        };
        let first_body = sketch(1).await;
        let second_body = sketch(2).await;
        // The first one's submit hangs at the provider (until the 1 s timeout), its input held.
        replicate.push_fault(Route::Submit, Fault::Hang);
        let first: Generation = generate(&state, &a, &first_body, None).await.parse();
        for _ in 0..100 {
            if state_of(&state, &a, &first.id).await == GenerationState::Submitting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second: Generation = generate(&state, &a, &second_body, None).await.parse();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            state_of(&state, &a, &second.id).await,
            GenerationState::Queued,
            "{}: the second input waits for the first to be sent",
            db.name
        );
        // The first fails at its timeout (released), then the second is sent and succeeds.
        assert_eq!(
            finished(&state, &a, &first.id).await.state,
            GenerationState::Failed
        );
        assert_eq!(
            finished(&state, &a, &second.id).await.state,
            GenerationState::Succeeded,
            "{}",
            db.name
        );
        assert_eq!(state.gates.input_bytes.available(), 150_000);
        // A generation waiting for the budget can be cancelled.
        replicate.push_fault(Route::Submit, Fault::Hang);
        let third: Generation = generate(&state, &a, &first_body, None).await.parse();
        let fourth: Generation = generate(&state, &a, &second_body, None).await.parse();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let waiting = if state_of(&state, &a, &third.id).await == GenerationState::Queued {
            &third
        } else {
            &fourth
        };
        let cancelled = send(
            &state,
            empty(
                "POST",
                &format!("/v1/generations/{}/cancel", waiting.id),
                Some(&a),
            ),
        )
        .await;
        assert!(cancelled.status.is_success(), "{}", cancelled.text());
        assert_eq!(
            finished(&state, &a, &waiting.id).await.state,
            GenerationState::Cancelled
        );
    }
}
