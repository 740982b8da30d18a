//! The server under attack, continued: stored strings, statistics, metrics labels, request and
//! stream bounds, graceful stop — on SQLite and PostgreSQL.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aktion_api::Generation;
use aktion_fakes::{Fault, Route, Step};
use aktion_server::AppState;
use axum::body::Body;
use axum::http::{StatusCode, header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;
use crate::proxy::{
    Providers, empty, generate, json_req, make_admin, opt_in, register, req, running, send,
    start_limited, t2i, upload,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_strings_refuse_control_characters() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |_| {}).await;
        let a = register(&state, "a@example.com").await;
        let admin = make_admin(&state, "admin@example.com").await;
        let cases = [
            (
                "/v1/auth/register",
                None,
                json!({"email": "nul\u{0}@example.com", "password": "correct horse"}),
                "email",
            ),
            (
                "/v1/auth/login",
                None,
                json!({"email": "a@example.com\u{0}", "password": "correct horse"}),
                "email",
            ),
            (
                "/v1/generations",
                Some(&a),
                json!({"kind": "t2i", "params": {"prompt": "a\u{0}b"}}),
                "prompt",
            ),
            (
                "/v1/generations",
                Some(&a),
                json!({"kind": "t2i\u{1b}[2J", "params": {"prompt": "x"}}),
                "kind",
            ),
            (
                "/v1/admin/credits/grant",
                Some(&admin),
                json!({"email": "a@example.com", "credits": 1, "reason": "bell\u{7}"}),
                "reason",
            ),
            (
                "/v1/training-data",
                Some(&a),
                json!({"node_kind": "t2i", "output_hash": "a".repeat(64), "prompt": "\u{0}"}),
                "prompt",
            ),
            (
                "/v1/beta-signups",
                None,
                json!({"email": "x\u{0}@example.com"}),
                "email",
            ),
        ];
        for (path, token, body, field) in cases {
            let r = send(
                &state,
                json_req("POST", path, token.map(String::as_str), &body),
            )
            .await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (StatusCode::BAD_REQUEST, "invalid_field"),
                "{}: {path}: {}",
                db.name,
                r.text()
            );
            assert!(
                r.json()["fields"].get(field).is_some(),
                "{path}: {}",
                r.text()
            );
        }
        // Line breaks and tabs are text: a multi-line prompt is fine.
        let ok = generate(
            &state,
            &a,
            &json!({"kind": "t2i", "params": {"prompt": "line one\n\tline two"}}),
            None,
        )
        .await;
        assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text());
        // A NUL in a path is an unknown id, never a database error.
        let r = send(&state, empty("GET", "/v1/generations/%00", Some(&a))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_break_the_training_statistics() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |_| {}).await;
        let a = register(&state, "a@example.com").await;
        opt_in(&state, &a, true).await;
        let bytes = b"\x89PNG a shared output".to_vec();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        assert_eq!(
            upload(&state, &a, &bytes, "image/png").await.status,
            StatusCode::CREATED
        );
        let submit = |body: serde_json::Value| {
            let state = state.clone();
            let a = a.clone();
            async move {
                send(
                    &state,
                    json_req("POST", "/v1/training-data", Some(&a), &body),
                )
                .await
            }
        };
        for (field, body) in [
            (
                "generation_ms",
                json!({"node_kind": "t2i", "output_hash": hash, "generation_ms": i64::MAX}),
            ),
            (
                "generation_ms",
                json!({"node_kind": "t2i", "output_hash": hash, "generation_ms": -1}),
            ),
            (
                "node_kind",
                json!({"node_kind": "made-up-kind", "output_hash": hash}),
            ),
            (
                "node_kind",
                json!({"node_kind": "note", "output_hash": hash}),
            ),
        ] {
            let r = submit(body).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
            assert!(r.json()["fields"].get(field).is_some(), "{}", r.text());
        }
        for _ in 0..2 {
            let r = submit(
                json!({"node_kind": "t2i", "output_hash": hash, "generation_ms": 86_400_000}),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        }
        let aggregates = send(&state, empty("GET", "/v1/stats/training-data", Some(&a))).await;
        assert_eq!(aggregates.status, StatusCode::OK, "{}", aggregates.text());
        assert_eq!(
            aggregates.json()["groups"][0]["avg_generation_ms"],
            86_400_000.0
        );
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_labels_are_bounded_and_metrics_can_need_a_token() {
    let providers = Providers::start().await;
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |_| {}).await;
    for method in ["FOOBAR", "X-MADE-UP-1", "X-MADE-UP-2"] {
        let r = send(&state, empty(method, "/v1/me", None)).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let text = send(&state, empty("GET", "/metrics", None)).await.text();
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(
        !text.contains("FOOBAR") && !text.contains("MADE-UP"),
        "{text}"
    );
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |c| {
        c.metrics_token = Some("scrape-me".to_owned());
    })
    .await;
    assert_eq!(
        send(&state, empty("GET", "/metrics", None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&state, empty("GET", "/metrics", Some("wrong")))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&state, empty("GET", "/metrics", Some("scrape-me")))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_bounded_in_number_and_time() {
    let providers = Providers::start().await;
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |c| {
        c.limits.requests = 1;
        c.limits.request_timeout = Duration::from_millis(300);
        c.limits.upload_timeout = Duration::from_millis(300);
    })
    .await;
    let a = register(&state, "a@example.com").await;
    // A client that starts a body and never finishes it is cut off…
    let slow = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"{\"opt_in\": ",
    ))])
    .chain(futures_util::stream::pending());
    let started = Instant::now();
    let r = send(
        &state,
        req("PUT", "/v1/me/data-sharing", Some(&a))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(slow))
            .expect("request"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert!(started.elapsed() < Duration::from_secs(10));
    // …and while one request holds the only slot, the next is answered 503 at once.
    let held = state.gates.requests.try_enter().expect("the one slot");
    let r = send(&state, empty("GET", "/v1/me", Some(&a))).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    );
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    drop(held);
    assert_eq!(
        send(&state, empty("GET", "/v1/me", Some(&a))).await.status,
        StatusCode::OK
    );
}

use futures_util::StreamExt as _;

/// Serves `state` on a loopback port; the sender stops it.
fn serve(
    state: &AppState,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("addr");
    let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(aktion_server::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Opens a progress stream over a socket; returns it once the first event arrived, or the
/// status line when the server refused it.
async fn open_stream(addr: SocketAddr, token: &str, id: &str) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!(
            "GET /v1/generations/{id}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut seen = Vec::new();
    let mut buf = [0_u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: status") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("first event in time")
            .expect("read");
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if text.starts_with("HTTP/1.1") && !text.starts_with("HTTP/1.1 200") {
            return Err(text.lines().next().unwrap_or_default().to_owned());
        }
    }
    Ok(s)
}

/// True when the stream ends (EOF or the last chunk) within `limit`.
async fn ends(mut s: TcpStream, limit: Duration) -> bool {
    let mut buf = [0_u8; 4096];
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(n)) => {
                if String::from_utf8_lossy(&buf[..n]).contains("\r\n0\r\n\r\n")
                    || buf[..n].starts_with(b"0\r\n\r\n")
                {
                    return true;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_streams_are_capped_per_user_and_end_at_logout() {
    let providers = Providers::start().await;
    for f in &providers.fakes {
        f.set_script(vec![Step::Running(0.2); 400]);
    }
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |c| c.limits.sse_per_user = 2).await;
    let (addr, stop, server) = serve(&state);
    let a = register(&state, "a@example.com").await;
    let b = register(&state, "b@example.com").await;
    let ga: Generation = generate(&state, &a, &t2i(), None).await.parse();
    let gb: Generation = generate(&state, &b, &t2i(), None).await.parse();
    running(&state, &a, &ga.id).await;
    let one = open_stream(addr, &a, &ga.id).await.expect("first");
    let two = open_stream(addr, &a, &ga.id).await.expect("second");
    let refused = open_stream(addr, &a, &ga.id)
        .await
        .expect_err("third refused");
    assert!(refused.contains("429"), "{refused}");
    // Someone else is not affected by a's streams.
    let other = open_stream(addr, &b, &gb.id).await.expect("b's own");
    assert_eq!(state.streams.count(), 3);
    // Signing out ends a's streams within a poll.
    let r = send(&state, empty("POST", "/v1/auth/logout", Some(&a))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(ends(one, Duration::from_secs(5)).await, "ended at logout");
    assert!(ends(two, Duration::from_secs(5)).await, "ended at logout");
    drop(other);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_with_fifty_streams_open_is_quick_and_drains_submits() {
    let providers = Providers::start().await;
    for f in &providers.fakes {
        f.set_script(vec![Step::Running(0.2); 400]);
    }
    for db in common::all().await {
        let state = start_limited(&db, &providers, |c| {
            c.limits.sse_per_user = 64;
            c.limits.drain = Duration::from_secs(2);
        })
        .await;
        let (addr, stop, server) = serve(&state);
        let a = register(&state, "a@example.com").await;
        let g: Generation = generate(&state, &a, &t2i(), None).await.parse();
        running(&state, &a, &g.id).await;
        let mut streams = Vec::new();
        for _ in 0..50 {
            streams.push(open_stream(addr, &a, &g.id).await.expect("stream"));
        }
        assert_eq!(state.streams.count(), 50);
        let started = Instant::now();
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap_or_else(|_| panic!("{}: still serving 5 s after the stop", db.name))
            .expect("join")
            .expect("serve");
        eprintln!(
            "{}: stopped with 50 streams open in {:?}",
            db.name,
            started.elapsed()
        );
        for s in streams {
            assert!(ends(s, Duration::from_secs(1)).await);
        }
    }
    // A submit in flight is waited for (up to the drain time) before the server returns.
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |c| {
        c.limits.drain = Duration::from_millis(800);
    })
    .await;
    for f in &providers.fakes {
        f.push_fault(Route::Submit, Fault::Hang);
    }
    let (_addr, stop, server) = serve(&state);
    let a = register(&state, "a@example.com").await;
    let g: Generation = generate(&state, &a, &t2i(), None).await.parse();
    for _ in 0..100 {
        let now: Generation = send(
            &state,
            empty("GET", &format!("/v1/generations/{}", g.id), Some(&a)),
        )
        .await
        .parse();
        if now.state == aktion_api::GenerationState::Submitting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "returned after {:?} with a submit in flight",
        started.elapsed()
    );
}

/// Sends `request` twice with one Idempotency-Key: the second answer is the first, replayed.
async fn replayed(state: &AppState, make: impl Fn() -> axum::http::Request<Body>) -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let key = format!(
        "retry-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let with_key = || {
        let mut r = make();
        r.headers_mut()
            .insert("idempotency-key", key.parse().expect("header"));
        r
    };
    let first = send(state, with_key()).await;
    let second = send(state, with_key()).await;
    assert_eq!(first.status, second.status, "{}", second.text());
    assert_eq!(first.bytes, second.bytes, "the first answer again");
    assert_eq!(
        second
            .headers
            .get("idempotent-replayed")
            .map(axum::http::HeaderValue::as_bytes),
        Some(&b"true"[..]),
        "{}",
        second.text()
    );
    first.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_call_accepts_an_idempotency_key() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |_| {}).await;
        let a = register(&state, "a@example.com").await;
        let bytes = b"\x89PNG idempotent upload".to_vec();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let status = replayed(&state, || {
            req("PUT", &format!("/v1/blobs/{hash}"), Some(&a))
                .header(header::CONTENT_TYPE, "image/png")
                .body(Body::from(bytes.clone()))
                .expect("request")
        })
        .await;
        assert_eq!(status, 201, "the replay is the first answer, not 200");
        let g: Generation = generate(&state, &a, &t2i(), None).await.parse();
        let path = format!("/v1/generations/{}/cancel", g.id);
        assert_eq!(
            replayed(&state, || empty("POST", &path, Some(&a))).await,
            202
        );
        let done = crate::proxy::finished(&state, &a, &g.id).await;
        assert_eq!(done.state, aktion_api::GenerationState::Cancelled);
        let rating = format!("/v1/generations/{}/rating", g.id);
        // (A cancelled generation cannot be rated: the refusal is replayed as well.)
        replayed(&state, || {
            json_req("POST", &rating, Some(&a), &json!({"rating": 4}))
        })
        .await;
        assert_eq!(
            replayed(&state, || empty("DELETE", "/v1/me/shared-data", Some(&a))).await,
            200
        );
        assert_eq!(
            replayed(&state, || {
                json_req(
                    "POST",
                    "/v1/beta-signups",
                    None,
                    &json!({"email": "fan@example.com"}),
                )
            })
            .await,
            202
        );
        // A logout retried after it went through gets its answer, not 401.
        assert_eq!(
            replayed(&state, || empty("POST", "/v1/auth/logout", Some(&a))).await,
            200
        );
        assert_eq!(
            send(&state, empty("GET", "/v1/me", Some(&a))).await.status,
            StatusCode::UNAUTHORIZED
        );
        // The same key for another request: 422.
        let b = register(&state, "b@example.com").await;
        let keyed = |body: serde_json::Value| {
            let mut r = json_req("PUT", "/v1/me/data-sharing", Some(&b), &body);
            r.headers_mut()
                .insert("idempotency-key", "k".parse().expect("header"));
            r
        };
        assert_eq!(
            send(&state, keyed(json!({"opt_in": true}))).await.status,
            StatusCode::OK
        );
        assert_eq!(
            send(&state, keyed(json!({"opt_in": false}))).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_record_is_never_made_twice_by_taking_its_key_over() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |_| {}).await;
        let a = register(&state, "a@example.com").await;
        opt_in(&state, &a, true).await;
        let bytes = b"\x89PNG shared".to_vec();
        let hash = blake3::hash(&bytes).to_hex().to_string();
        upload(&state, &a, &bytes, "image/png").await;
        let body = json!({"node_kind": "t2i", "output_hash": hash});
        let user_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'a@example.com'")
            .fetch_one(&state.db.pool)
            .await
            .expect("user");
        // The first request claimed the key two minutes ago and its server died before
        // answering: whether its record was stored is unknown.
        let request = json!({"op": "training-data", "body": {
            "node_kind": "t2i", "output_hash": hash, "prompt": null, "settings": {},
            "character_refs": [], "input_refs": [], "generation_ms": null, "rating": null}});
        let fingerprint = blake3::hash(request.to_string().as_bytes())
            .to_hex()
            .to_string();
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES ($1, 'k', $2, $3)",
        )
        .bind(format!("user:{user_id}"))
        .bind(&fingerprint)
        .bind(aktion_server::db::now_ms() - 120_000)
        .execute(state.db.writer())
        .await
        .expect("stale claim");
        let mut retry = json_req("POST", "/v1/training-data", Some(&a), &body);
        retry
            .headers_mut()
            .insert("idempotency-key", "k".parse().expect("header"));
        let r = send(&state, retry).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (StatusCode::CONFLICT, "request_outcome_unknown"),
            "{}: {}",
            db.name,
            r.text()
        );
        let records: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM training_records")
            .fetch_one(&state.db.pool)
            .await
            .expect("count");
        assert_eq!(records, 0, "nothing made a second time");
        eprintln!("{}: ok", db.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_cancel_loops_are_limited_per_user() {
    let providers = Providers::start().await;
    for f in &providers.fakes {
        f.set_script(vec![Step::Running(0.2); 400]);
    }
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |c| c.limits.cancels_per_hour = 3).await;
    let a = register(&state, "a@example.com").await;
    for _ in 0..3 {
        let g: Generation = generate(&state, &a, &t2i(), None).await.parse();
        running(&state, &a, &g.id).await;
        let path = format!("/v1/generations/{}/cancel", g.id);
        send(&state, empty("POST", &path, Some(&a))).await;
        crate::proxy::finished(&state, &a, &g.id).await;
    }
    let before = providers.submissions();
    let refused = generate(&state, &a, &t2i(), None).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{}",
        refused.text()
    );
    assert!(refused.headers.contains_key(header::RETRY_AFTER));
    assert_eq!(providers.submissions(), before, "nothing sent");
    // Someone else is not affected.
    let b = register(&state, "b@example.com").await;
    assert_eq!(
        generate(&state, &b, &t2i(), None).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_are_served_as_sandboxed_downloads_and_idle_sessions_end() {
    let providers = Providers::start().await;
    let db = common::sqlite();
    let state = start_limited(&db, &providers, |_| {}).await;
    let a = register(&state, "a@example.com").await;
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    let hash = blake3::hash(svg).to_hex().to_string();
    assert_eq!(
        upload(&state, &a, svg, "image/svg+xml").await.status,
        StatusCode::CREATED
    );
    let got = send(&state, empty("GET", &format!("/v1/blobs/{hash}"), Some(&a))).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.headers[header::CONTENT_DISPOSITION], "attachment");
    assert!(
        got.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .contains("sandbox")
    );
    assert_eq!(got.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // A session unused for longer than the idle timeout ends, whatever its expiry.
    assert_eq!(
        send(&state, empty("GET", "/v1/me", Some(&a))).await.status,
        StatusCode::OK
    );
    let idle = i64::try_from(aktion_server::auth::SESSION_IDLE.as_millis()).expect("ms");
    sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(aktion_server::db::now_ms() - idle - 1000)
        .execute(state.db.writer())
        .await
        .expect("age");
    assert_eq!(
        send(&state, empty("GET", "/v1/me", Some(&a))).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sweep_purges_what_expired_not_only_the_start() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |c| {
            c.idempotency_ttl = Duration::from_secs(60);
        })
        .await;
        let old = aktion_server::db::now_ms() - 3_600_000;
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, created_at) \
             VALUES ('user:1', 'old', 'f', 200, '{}', $1)",
        )
        .bind(old)
        .execute(state.db.writer())
        .await
        .expect("old record");
        sqlx::query(
            "INSERT INTO rate_counters (key, window_start, hits, last_at, delay_ms) \
             VALUES ('stale', $1, 3, $1, 0)",
        )
        .bind(old - 2 * 86_400_000)
        .execute(state.db.writer())
        .await
        .expect("old counter");
        // A server that has been running for a while: its periodic sweep, not a restart.
        aktion_server::sweep(&state, false).await.expect("sweep");
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM idempotency_keys) + (SELECT COUNT(*) FROM rate_counters)",
        )
        .fetch_one(&state.db.pool)
        .await
        .expect("count");
        assert_eq!(left, 0, "{}", db.name);
    }
}

#[tokio::test]
async fn a_disabled_account_is_refused_everywhere_as_documented() {
    let providers = Providers::start().await;
    for db in common::all().await {
        let state = start_limited(&db, &providers, |_| {}).await;
        let a = register(&state, "a@example.com").await;
        // Disabled behind the session's back (a session made just before the admin acted).
        sqlx::query("UPDATE users SET disabled_at = 1 WHERE email = $1")
            .bind("a@example.com")
            .execute(state.db.writer())
            .await
            .expect("disable");
        for (method, path) in [
            ("GET", "/v1/me"),
            ("GET", "/v1/ledger"),
            ("GET", "/v1/me/data-sharing"),
        ] {
            let answer = send(&state, empty(method, path, Some(&a))).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}: {path}", db.name);
            assert_eq!(answer.json()["code"], "account_disabled");
        }
        let doc = send(&state, empty("GET", "/openapi.json", None))
            .await
            .json();
        let mut secured = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                if op.get("security").is_some() {
                    secured += 1;
                    assert!(
                        op["responses"].get("403").is_some(),
                        "{method} {path} does not document 403"
                    );
                }
            }
        }
        assert!(secured > 10, "{secured}");
    }
}
