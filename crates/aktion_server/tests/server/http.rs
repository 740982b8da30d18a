//! The HTTP API through the router (`oneshot`) and over a real socket.

use std::net::SocketAddr;

use aktion_api::{ErrorBody, GrantResponse, LedgerPage, Me, Pricing, SessionResponse};
use aktion_server::{AppState, auth};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use crate::common;

pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn error(&self) -> ErrorBody {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("not an error body ({e}): {}", self.body))
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.body.clone())
            .unwrap_or_else(|e| panic!("unexpected body ({e}): {}", self.body))
    }
}

pub(crate) async fn send(state: &AppState, request: Request<Body>) -> Answer {
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
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{status}: body is not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Answer {
        status,
        headers,
        body,
    }
}

pub(crate) fn request(
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request")
}

async fn register(state: &AppState, email: &str) -> SessionResponse {
    let answer = send(
        state,
        request(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"email": email, "password": "correct horse"})),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let mut session: SessionResponse = answer.parse();
    assert_eq!(session.user.balance, 0, "the grant waits for verification");
    let (status, page) = common::confirm_email(state, email).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    session.user = send(state, request("GET", "/v1/me", Some(&session.token), None))
        .await
        .parse();
    session
}

#[tokio::test]
async fn accounts_register_login_me_logout() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let session = register(&state, "Ada@Example.com").await;
        assert_eq!(session.user.email, "ada@example.com");
        assert_eq!(session.user.balance, 5, "starter grant");
        assert!(!session.user.is_admin);

        let me: Me = send(&state, request("GET", "/v1/me", Some(&session.token), None))
            .await
            .parse();
        assert_eq!(me.balance, 5);
        assert!(!me.data_sharing.opt_in);

        let dup = send(
            &state,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "ada@example.com", "password": "another one again"})),
            ),
        )
        .await;
        assert_eq!(dup.status, StatusCode::CONFLICT);
        assert_eq!(dup.error().code, "email_taken");

        let bad = send(
            &state,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "nope", "password": "short"})),
            ),
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.error().fields.expect("fields").contains_key("email"));

        let login = send(
            &state,
            request(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({"email": "ADA@example.com", "password": "correct horse"})),
            ),
        )
        .await;
        assert_eq!(login.status, StatusCode::OK);
        let second: SessionResponse = login.parse();
        assert_ne!(second.token, session.token);

        // Tokens are stored hashed only.
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE token_hash = $1")
            .bind(&session.token)
            .fetch_one(&state.db.pool)
            .await
            .expect("count");
        assert_eq!(stored, 0);

        let out = send(
            &state,
            request("POST", "/v1/auth/logout", Some(&session.token), None),
        )
        .await;
        assert_eq!(out.status, StatusCode::OK);
        let gone = send(&state, request("GET", "/v1/me", Some(&session.token), None)).await;
        assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
        assert_eq!(gone.error().code, "unauthorized");
        let still = send(&state, request("GET", "/v1/me", Some(&second.token), None)).await;
        assert_eq!(still.status, StatusCode::OK, "other sessions stay");

        for auth_header in ["Bearer nonsense", "Basic abc", ""] {
            let r = Request::builder()
                .uri("/v1/me")
                .header(header::AUTHORIZATION, auth_header)
                .body(Body::empty())
                .expect("request");
            let answer = send(&state, r).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{auth_header:?}");
        }
        let none = send(&state, request("GET", "/v1/me", None, None)).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED);
        let anonymous_logout = send(&state, request("POST", "/v1/auth/logout", None, None)).await;
        assert_eq!(anonymous_logout.status, StatusCode::UNAUTHORIZED);
        let ledger = send(&state, request("GET", "/v1/ledger", None, None)).await;
        assert_eq!(ledger.status, StatusCode::UNAUTHORIZED);
        let grant = send(
            &state,
            request(
                "POST",
                "/v1/admin/credits/grant",
                None,
                Some(json!({"email": "ada@example.com", "credits": 1})),
            ),
        )
        .await;
        assert_eq!(grant.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn login_is_rate_limited_per_email() {
    let test_db = common::sqlite();
    let state = common::start(&test_db).await;
    register(&state, "limit@example.com").await;
    for _ in 0..3 {
        let wrong = send(
            &state,
            request(
                "POST",
                "/v1/auth/login",
                None,
                Some(json!({"email": "limit@example.com", "password": "wrong password"})),
            ),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.error().code, "bad_credentials");
    }
    // Even the right password is refused while the limit holds.
    let limited = send(
        &state,
        request(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"email": "limit@example.com", "password": "correct horse"})),
        ),
    )
    .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error().code, "rate_limited");
    assert!(limited.headers.contains_key(header::RETRY_AFTER));
    // Unknown emails answer like wrong passwords.
    let unknown = send(
        &state,
        request(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"email": "ghost@example.com", "password": "whatever1"})),
        ),
    )
    .await;
    assert_eq!(unknown.error().code, "bad_credentials");
}

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario across pricing, grants and the ledger"
)]
async fn pricing_ledger_and_admin_grants() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let user = register(&state, "user@example.com").await;
        let admin = register(&state, "admin@example.com").await;
        let admin_id = auth::user_by_email(&state.db, "admin@example.com")
            .await
            .expect("lookup")
            .expect("admin exists")
            .id;
        auth::set_admin(&state.db, admin_id, true)
            .await
            .expect("set admin");

        let anonymous: Pricing = send(&state, request("GET", "/v1/pricing", None, None))
            .await
            .parse();
        assert_eq!(anonymous.discount_percent, 0);
        let epic = anonymous
            .items
            .iter()
            .find(|i| i.node_kind == "coherent_scene")
            .expect("epic scene");
        assert_eq!(epic.credits, 10);
        let opt_in = send(
            &state,
            request(
                "PUT",
                "/v1/me/data-sharing",
                Some(&user.token),
                Some(json!({"opt_in": true})),
            ),
        )
        .await;
        assert_eq!(opt_in.status, StatusCode::OK, "{}", opt_in.body);
        let member: Pricing = send(
            &state,
            request("GET", "/v1/pricing", Some(&user.token), None),
        )
        .await
        .parse();
        assert_eq!(member.discount_percent, 10);
        let me: Me = send(&state, request("GET", "/v1/me", Some(&user.token), None))
            .await
            .parse();
        assert!(me.data_sharing.opt_in && me.data_sharing.opted_in_at.is_some());

        let grant = json!({"email": "user@example.com", "credits": 7});
        let forbidden = send(
            &state,
            request(
                "POST",
                "/v1/admin/credits/grant",
                Some(&user.token),
                Some(grant.clone()),
            ),
        )
        .await;
        assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
        assert_eq!(forbidden.error().code, "forbidden");

        let keyed = |body: Value, key: &str| {
            Request::builder()
                .method("POST")
                .uri("/v1/admin/credits/grant")
                .header(header::AUTHORIZATION, format!("Bearer {}", admin.token))
                .header(header::CONTENT_TYPE, "application/json")
                .header("Idempotency-Key", key)
                .body(Body::from(body.to_string()))
                .expect("request")
        };
        let first = send(&state, keyed(grant.clone(), "grant-1")).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let again = send(&state, keyed(grant.clone(), "grant-1")).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body, first.body, "replayed answer");
        assert!(again.headers.contains_key("idempotent-replayed"));
        let granted: GrantResponse = first.parse();
        assert_eq!(granted.balance, 12);
        let reused = send(
            &state,
            keyed(
                json!({"email": "user@example.com", "credits": 8}),
                "grant-1",
            ),
        )
        .await;
        assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reused.error().code, "idempotency_key_reused");
        let missing = send(
            &state,
            keyed(
                json!({"email": "nobody@example.com", "credits": 1}),
                "grant-2",
            ),
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let bad_key = send(&state, keyed(grant.clone(), "bad key with spaces")).await;
        assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);

        let me: Me = send(&state, request("GET", "/v1/me", Some(&user.token), None))
            .await
            .parse();
        assert_eq!(me.balance, 12, "granted once");

        let page: LedgerPage = send(
            &state,
            request("GET", "/v1/ledger?limit=1", Some(&user.token), None),
        )
        .await
        .parse();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].amount, 7);
        let before = page.next_before.expect("more pages");
        let rest: LedgerPage = send(
            &state,
            request(
                "GET",
                &format!("/v1/ledger?limit=50&before={before}"),
                Some(&user.token),
                None,
            ),
        )
        .await
        .parse();
        assert_eq!(rest.entries.len(), 1, "starter grant");
        assert_eq!(rest.next_before, None);
        // Admin's ledger does not show the user's entries.
        let theirs: LedgerPage = send(
            &state,
            request("GET", "/v1/ledger", Some(&admin.token), None),
        )
        .await
        .parse();
        assert!(theirs.entries.iter().all(|e| e.amount == 5));
        for query in ["limit=0", "limit=abc", "limit=500", "foo=1"] {
            let bad = send(
                &state,
                request(
                    "GET",
                    &format!("/v1/ledger?{query}"),
                    Some(&user.token),
                    None,
                ),
            )
            .await;
            assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
            bad.error();
        }
    }
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "a table of cases")]
async fn malformed_requests_get_json_4xx() {
    let test_db = common::sqlite();
    let state = common::start(&test_db).await;
    let session = register(&state, "m@example.com").await;
    let raw = |method: &str, uri: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", session.token));
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).expect("request")
    };
    let json_ct = Some("application/json");
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            raw("POST", "/v1/auth/login", json_ct, b"{not json".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            raw("POST", "/v1/auth/login", json_ct, b"".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            raw(
                "POST",
                "/v1/auth/login",
                json_ct,
                br#"{"email":1}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw("POST", "/v1/auth/login", json_ct, br"[1,2,3]".to_vec()),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw("POST", "/v1/auth/login", json_ct, vec![0xff, 0xfe, 0x00]),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            raw(
                "POST",
                "/v1/auth/login",
                Some("text/plain"),
                br#"{"email":"a@b.c","password":"x"}"#.to_vec(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw("POST", "/v1/auth/register", None, b"{}".to_vec()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(
                "POST",
                "/v1/auth/register",
                json_ct,
                format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "x".repeat(10_000)).into_bytes(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            raw(
                "PUT",
                "/v1/me/data-sharing",
                json_ct,
                br#"{"opt_in":"yes"}"#.to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            raw("GET", "/v1/nothing-here", None, Vec::new()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            raw("PATCH", "/v1/me", None, Vec::new()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            raw("GET", "/v1/auth/login", None, Vec::new()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (req, status, code) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let answer = send(&state, req).await;
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert_eq!(answer.error().code, code, "{what}");
    }
}

async fn http_exchange(addr: SocketAddr, raw_request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw_request).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no answer in time to {:?}: got {:?}",
            String::from_utf8_lossy(&raw_request[..raw_request.len().min(60)]),
            String::from_utf8_lossy(&out)
        )
    });
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn real_socket_health_and_bad_input() {
    let test_db = common::sqlite();
    let state = common::start(&test_db).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            aktion_server::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });

    let (status, body) = http_exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""status":"ok""#), "{body}");

    let junk = b"{\"email\": ";
    let req = format!(
        "POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        junk.len()
    );
    let (status, body) = http_exchange(addr, &[req.as_bytes(), junk].concat()).await;
    assert_eq!(status, 400, "{body}");
    let error: ErrorBody = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(error.code, "invalid_json");

    // A declared body far over the limit is refused without reading it.
    let (status, body) = http_exchange(
        addr,
        b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{",
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        serde_json::from_str::<ErrorBody>(&body)
            .expect("JSON error body")
            .code,
        "payload_too_large"
    );

    // Garbage that is not HTTP: the connection is refused or answered with a 4xx, and the
    // server keeps serving.
    let (status, _) = http_exchange(addr, b"\x00\x01 garbage\r\n\r\n").await;
    assert!(status == 0 || (400..500).contains(&status), "{status}");
    let (status, _) = http_exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(!server.is_finished(), "server still running");
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_one_idempotent_grant_apply_once() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let admin = register(&state, "boss@example.com").await;
        register(&state, "target@example.com").await;
        let admin_id = auth::user_by_email(&state.db, "boss@example.com")
            .await
            .expect("lookup")
            .expect("exists")
            .id;
        auth::set_admin(&state.db, admin_id, true)
            .await
            .expect("set admin");
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let state = state.clone();
            let token = admin.token.clone();
            tasks.push(tokio::spawn(async move {
                let req = Request::builder()
                    .method("POST")
                    .uri("/v1/admin/credits/grant")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("Idempotency-Key", "same-grant")
                    .body(Body::from(
                        json!({"email": "target@example.com", "credits": 3}).to_string(),
                    ))
                    .expect("request");
                let answer = send(&state, req).await;
                (answer.status, answer.body)
            }));
        }
        let mut ok_bodies = Vec::new();
        for task in tasks {
            let (status, body) = task.await.expect("task");
            match status {
                StatusCode::OK => ok_bodies.push(body),
                StatusCode::CONFLICT => {
                    assert_eq!(body["code"], "request_in_progress", "{}", test_db.name);
                }
                other => panic!("{}: unexpected {other}: {body}", test_db.name),
            }
        }
        assert!(!ok_bodies.is_empty(), "{}", test_db.name);
        assert!(
            ok_bodies.windows(2).all(|w| w[0] == w[1]),
            "{}: every answer is the first one",
            test_db.name
        );
        let target = auth::user_by_email(&state.db, "target@example.com")
            .await
            .expect("lookup")
            .expect("exists");
        assert_eq!(target.balance, 5 + 3, "{}: granted once", test_db.name);
    }
}
