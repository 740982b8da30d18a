//! `AKTION_STORAGE_URL=s3://…` against a minimal S3-compatible server (path-style PUT, GET,
//! HEAD, DELETE on a loopback port): `aktion-server admin doctor` writes, reads back and deletes
//! its probe through `object_store`'s S3 client, signed (`SigV4`) with the `AWS_*` credentials.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

const BIN: &str = env!("CARGO_BIN_EXE_aktion-server");

#[derive(Default)]
struct Bucket {
    objects: Mutex<BTreeMap<String, Bytes>>,
    seen: Mutex<Vec<(Method, String, Option<String>)>>,
}

impl Bucket {
    /// Logs a request (method, path, its Authorization header); returns the header.
    fn record(&self, method: Method, path: String, headers: &HeaderMap) -> Option<String> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((method, path, auth.clone()));
        auth
    }
}

async fn object(
    State(bucket): State<Arc<Bucket>>,
    Path((name, key)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = bucket.record(method.clone(), format!("{name}/{key}"), &headers);
    if name != "aktion-test" || !auth.is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256")) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let mut objects = bucket
        .objects
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let meta = |len: usize| {
        [
            (header::CONTENT_LENGTH, len.to_string()),
            (header::ETAG, "\"e1\"".to_owned()),
            (
                header::LAST_MODIFIED,
                "Wed, 25 Nov 2026 10:00:00 GMT".to_owned(),
            ),
        ]
    };
    match method {
        Method::PUT => {
            objects.insert(key, body);
            (StatusCode::OK, [(header::ETAG, "\"e1\"")]).into_response()
        }
        Method::GET => match objects.get(&key) {
            Some(b) => (StatusCode::OK, meta(b.len()), b.clone()).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        Method::HEAD => match objects.get(&key) {
            Some(b) => (StatusCode::OK, meta(b.len())).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
        Method::DELETE => {
            objects.remove(&key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

fn doctor(db: &std::path::Path, storage: &str, addr: std::net::SocketAddr) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["admin", "doctor"])
        .env("AKTION_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("AKTION_STORAGE_URL", storage)
        .env("AWS_ENDPOINT", format!("http://{addr}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI-secret-never-printed",
        )
        .env("AWS_REGION", "us-east-1");
    cmd
}

/// `POST /{bucket}?delete` (S3's `DeleteObjects`, which `object_store` uses for deletes).
async fn bulk_delete(
    State(bucket): State<Arc<Bucket>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = bucket.record(Method::DELETE, name.clone(), &headers);
    if method != Method::POST || name != "aktion-test" || auth.is_none() {
        return StatusCode::FORBIDDEN.into_response();
    }
    let text = String::from_utf8_lossy(&body);
    let mut deleted = String::new();
    for part in text.split("<Key>").skip(1) {
        let key = part.split("</Key>").next().unwrap_or_default();
        bucket
            .objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        let _ = write!(deleted, "<Deleted><Key>{key}</Key></Deleted>");
    }
    (
        StatusCode::OK,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult>{deleted}</DeleteResult>"),
    )
        .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_an_s3_bucket_through_the_s3_protocol() {
    let bucket = Arc::new(Bucket::default());
    let app = Router::new()
        .route("/{name}/{*key}", any(object))
        .route("/{name}", any(bulk_delete))
        .with_state(Arc::clone(&bucket));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = doctor(&dir.path().join("s3.db"), "s3://aktion-test/prod", addr);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("doctor");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("storage: s3://aktion-test/prod (write, read, delete ok)"),
        "{said}"
    );
    assert!(!said.contains("never-printed"));
    let seen = bucket.seen.lock().unwrap().clone();
    let methods: Vec<&Method> = seen.iter().map(|(m, _, _)| m).collect();
    assert!(
        methods.contains(&&Method::PUT)
            && methods.contains(&&Method::GET)
            && methods.contains(&&Method::DELETE),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(
            |(_, path, _)| path.starts_with("aktion-test/prod/doctor/probe-")
                || path == "aktion-test"
        ),
        "keys under the prefix: {seen:?}"
    );
    assert!(
        bucket
            .objects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty(),
        "the probe was deleted"
    );

    // A bucket that refuses: doctor fails and says so.
    let dir2 = tempfile::tempdir().unwrap();
    let mut cmd = doctor(&dir2.path().join("s3.db"), "s3://another-bucket", addr);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("doctor");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(said.contains("FAILED"), "{said}");
    assert!(
        !said.contains("never-printed")
            && !String::from_utf8_lossy(&out.stderr).contains("never-printed")
    );
}
