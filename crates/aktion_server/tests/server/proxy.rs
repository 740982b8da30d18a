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

const KEY: &str = "sk_SERVER_HELD_never_print";

pub struct Raw {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|_| {
            panic!(
                "{}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.json())
            .unwrap_or_else(|e| panic!("{}: unexpected body ({e}): {}", self.status, self.json()))
    }

    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    fn text(&self) -> String {
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

fn req(method: &str, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b
}

fn json_req(method: &str, uri: &str, token: Option<&str>, body: &Value) -> Request<Body> {
    req(method, uri, token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

fn empty(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
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

async fn register(state: &AppState, email: &str) -> String {
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
    r.parse::<SessionResponse>().token
}

async fn make_admin(state: &AppState, email: &str) -> String {
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

async fn balance(state: &AppState, token: &str) -> i64 {
    send(state, empty("GET", "/v1/me", Some(token)))
        .await
        .parse::<Me>()
        .balance
}

async fn upload(state: &AppState, token: &str, bytes: &[u8], content_type: &str) -> Raw {
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

fn png() -> Vec<u8> {
    aktion_fakes::OutputSpec::png().bytes.to_vec()
}

async fn generate(state: &AppState, token: &str, body: &Value, key: Option<&str>) -> Raw {
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
async fn finished(state: &AppState, token: &str, id: &str) -> Generation {
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
            (hash.as_str(), bytes.len() as i64)
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
            (StatusCode::BAD_REQUEST, "hash_mismatch")
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
