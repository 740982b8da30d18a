//! The admin dashboard through the router (PRODUCT.md §5.9): sign-in by cookie, 403 for a
//! non-admin on every page, forms refused without their CSRF token, grant (once per form),
//! disable, invite, a failed generation on the generations page, the training export written
//! in the background and downloaded by its signed link. On SQLite and PostgreSQL.

use aktion_server::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::common;

const PAGES: &[&str] = &[
    "/admin",
    "/admin/users",
    "/admin/signups",
    "/admin/generations",
    "/admin/credits",
    "/admin/revenue",
    "/admin/training",
    "/admin/reports",
];

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

async fn fetch(
    state: &AppState,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Page {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    if form.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let response = aktion_server::app(state.clone())
        .oneshot(
            builder
                .body(form.map_or_else(Body::empty, |f| Body::from(f.to_owned())))
                .expect("request"),
        )
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
    Page {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Signs in through the form; the session cookie (`name=value`).
async fn sign_in(state: &AppState, email: &str, password: &str) -> Option<String> {
    let form = format!("email={}&password={}", enc(email), enc(password));
    let page = fetch(state, "POST", "/admin/login", None, Some(&form)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let cookie = page
        .headers
        .get(header::SET_COOKIE)?
        .to_str()
        .ok()?
        .to_owned();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/admin"),
        "{cookie}"
    );
    Some(cookie.split(';').next()?.to_owned())
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn csrf(page: &Page) -> String {
    let at = page
        .text
        .find("name=\"csrf\" value=\"")
        .expect("a CSRF field")
        + 19;
    page.text[at..at + 32].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(clippy::too_many_lines, reason = "one tour of the dashboard")]
async fn the_dashboard_is_admin_only_csrf_protected_and_does_its_jobs() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let cost = state.config.password_cost;
        aktion_server::auth::create_user(
            &state.db,
            "boss@example.com",
            "correct horse",
            true,
            0,
            cost,
        )
        .await
        .expect("admin");
        let user = aktion_server::auth::create_user(
            &state.db,
            "crew@example.com",
            "correct horse",
            false,
            5,
            cost,
        )
        .await
        .expect("user");

        // Not signed in: to the sign-in page; a wrong password: back with an error.
        for page in PAGES {
            let answer = fetch(&state, "GET", page, None, None).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{page}");
        }
        let login = fetch(&state, "GET", "/admin/login", None, None).await;
        assert_eq!(login.status, StatusCode::OK);
        assert!(
            login.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'")
        );
        assert!(!login.text.contains("<script"), "no JavaScript");
        let wrong = fetch(
            &state,
            "POST",
            "/admin/login",
            None,
            Some("email=boss%40example.com&password=not+the+password"),
        )
        .await;
        assert_eq!(wrong.headers[header::LOCATION], "/admin/login?error=1");

        // A non-admin: 403 on every page.
        let crew = sign_in(&state, "crew@example.com", "correct horse")
            .await
            .expect("cookie");
        for page in PAGES {
            let answer = fetch(&state, "GET", page, Some(&crew), None).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{}: {page}",
                test_db.name
            );
        }
        let forged = fetch(
            &state,
            "POST",
            "/admin/users/grant",
            Some(&crew),
            Some(&format!("user_id={}&credits=1000", user.id)),
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);

        let boss = sign_in(&state, "boss@example.com", "correct horse")
            .await
            .expect("cookie");
        for page in PAGES {
            let answer = fetch(&state, "GET", page, Some(&boss), None).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{}: {page}: {}",
                test_db.name,
                answer.text
            );
            assert!(
                answer.headers[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .expect("csp")
                    .contains("default-src 'none'")
            );
            assert!(!answer.text.contains("<script"), "{page}: no JavaScript");
        }
        let overview = fetch(&state, "GET", "/admin", Some(&boss), None).await;
        assert!(
            overview.text.contains("<svg"),
            "charts are SVG drawn on the server"
        );
        assert!(
            overview.text.contains("AKTION_SMTP_URL is not set"),
            "the outbox's state is said"
        );

        // Grant: refused without the CSRF token, or with another session's; once per form.
        let users = fetch(&state, "GET", "/admin/users?q=crew", Some(&boss), None).await;
        assert!(
            users.text.contains("crew@example.com") && !users.text.contains(">boss@example.com<")
        );
        let token = csrf(&users);
        let grant = format!("user_id={}&credits=40&reason=thanks&nonce=n1", user.id);
        let no_token = fetch(
            &state,
            "POST",
            "/admin/users/grant",
            Some(&boss),
            Some(&grant),
        )
        .await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        assert!(no_token.text.contains("CSRF"));
        let other_token = fetch(
            &state,
            "POST",
            "/admin/users/grant",
            Some(&boss),
            Some(&format!("{grant}&csrf=0123456789abcdef0123456789abcdef")),
        )
        .await;
        assert_eq!(other_token.status, StatusCode::FORBIDDEN);
        let balance = |state: AppState| async move {
            aktion_server::auth::user_by_email(&state.db, "crew@example.com")
                .await
                .expect("db")
                .expect("user")
                .balance
        };
        assert_eq!(
            balance(state.clone()).await,
            5,
            "nothing granted by refused forms"
        );
        for _ in 0..2 {
            let granted = fetch(
                &state,
                "POST",
                "/admin/users/grant",
                Some(&boss),
                Some(&format!("{grant}&csrf={token}")),
            )
            .await;
            assert_eq!(granted.status, StatusCode::SEE_OTHER, "{}", granted.text);
        }
        assert_eq!(
            balance(state.clone()).await,
            45,
            "{}: granted once",
            test_db.name
        );

        // Invite sign-ups, one or many.
        for email in ["a@example.com", "b@example.com", "c@example.com"] {
            aktion_server::beta::sign_up(&state.db, email)
                .await
                .expect("signup");
        }
        let invited = fetch(
            &state,
            "POST",
            "/admin/signups/invite",
            Some(&boss),
            Some(&format!(
                "csrf={token}&email=a%40example.com&email=b%40example.com"
            )),
        )
        .await;
        assert_eq!(invited.status, StatusCode::SEE_OTHER);
        let list = aktion_server::beta::list(&state.db).await.expect("list");
        let invited: Vec<&str> = list
            .iter()
            .filter(|s| s.invited_at.is_some())
            .map(|s| s.email.as_str())
            .collect();
        assert_eq!(invited, ["a@example.com", "b@example.com"]);

        // A failed generation shows with its message.
        sqlx::query(
            "INSERT INTO generations (id, user_id, kind, request, state, message, credits, lease_until, created_at, finished_at) \
             VALUES ('gfail1', $1, 't2i', '{\"kind\":\"t2i\"}', 'failed', 'A2E: the model is overloaded', 2, 0, $2, $2)",
        )
        .bind(user.id)
        .bind(aktion_server::db::now_ms())
        .execute(state.db.writer())
        .await
        .expect("insert");
        let generations = fetch(&state, "GET", "/admin/generations", Some(&boss), None).await;
        assert!(
            generations.text.contains("A2E: the model is overloaded"),
            "{}",
            generations.text
        );
        assert!(generations.text.contains("0.0 %"), "t2i's success rate");

        // The training export: written in the background, downloaded by its signed link.
        let started = fetch(
            &state,
            "POST",
            "/admin/training/export",
            Some(&boss),
            Some(&format!("csrf={token}")),
        )
        .await;
        assert_eq!(started.status, StatusCode::SEE_OTHER);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let link = loop {
            let page = fetch(&state, "GET", "/admin/training", Some(&boss), None).await;
            if let Some(at) = page.text.find("/admin/exports/") {
                let end = page.text[at..].find('"').expect("end") + at;
                break page.text[at..end].replace("&amp;", "&");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the export did not finish"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let file = fetch(&state, "GET", &link, None, None).await;
        assert_eq!(file.status, StatusCode::OK, "{}", file.text);
        assert!(
            file.headers[header::CONTENT_DISPOSITION]
                .to_str()
                .expect("cd")
                .starts_with("attachment")
        );
        let tampered = link.replace("sig=", "sig=0");
        assert_eq!(
            fetch(&state, "GET", &tampered, None, None).await.status,
            StatusCode::FORBIDDEN
        );

        // Disable: the user's sessions end and signing in is refused.
        let access = fetch(
            &state,
            "POST",
            "/admin/users/access",
            Some(&boss),
            Some(&format!("csrf={token}&user_id={}&disable=1", user.id)),
        )
        .await;
        assert_eq!(access.status, StatusCode::SEE_OTHER);
        assert_eq!(
            fetch(&state, "GET", "/admin", Some(&crew), None)
                .await
                .status,
            StatusCode::SEE_OTHER,
            "signed out"
        );
        let login = crate::http::send(
            &state,
            crate::http::request(
                "POST",
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"email": "crew@example.com", "password": "correct horse"})),
            ),
        )
        .await;
        assert_eq!(login.status, StatusCode::FORBIDDEN);
        assert_eq!(login.error().code, "account_disabled");

        // Signing out needs the token too.
        assert_eq!(
            fetch(&state, "POST", "/admin/logout", Some(&boss), Some(""))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let out = fetch(
            &state,
            "POST",
            "/admin/logout",
            Some(&boss),
            Some(&format!("csrf={token}")),
        )
        .await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(
            fetch(&state, "GET", "/admin", Some(&boss), None)
                .await
                .status,
            StatusCode::SEE_OTHER
        );
    }
}

#[tokio::test]
async fn problem_reports_are_checked_limited_and_listed_for_admins() {
    use crate::http::{request, send};
    use serde_json::json;
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let report = json!({"node_kind": "lip_sync", "route": "direct", "provider": "a2e",
            "error": "A2E: audio longer than 60 s", "metadata": {"model": "lipsync-v2", "duration_ms": 61000, "draft": false}});
        let stored = send(
            &state,
            request("POST", "/v1/problem-reports", None, Some(report.clone())),
        )
        .await;
        assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);
        for (bad, field) in [
            (
                json!({"node_kind": "nope", "route": "direct", "error": "x"}),
                "node_kind",
            ),
            (
                json!({"node_kind": "t2i", "route": "moon", "error": "x"}),
                "route",
            ),
            (
                json!({"node_kind": "t2i", "route": "direct", "error": "a\u{0}b"}),
                "error",
            ),
            (
                json!({"node_kind": "t2i", "route": "direct", "error": "x", "metadata": {"file": {"bytes": "…"}}}),
                "metadata",
            ),
        ] {
            let refused = send(
                &state,
                request("POST", "/v1/problem-reports", None, Some(bad)),
            )
            .await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
            assert!(
                refused.body["fields"].get(field).is_some(),
                "{field}: {}",
                refused.body
            );
        }
        let unknown = send(&state, request("POST", "/v1/problem-reports", None, Some(json!({"node_kind": "t2i", "route": "direct", "error": "x", "api_key": "r8_secret"})))).await;
        assert_eq!(
            unknown.status,
            StatusCode::BAD_REQUEST,
            "no field for keys to ride along in"
        );
        aktion_server::auth::create_user(
            &state.db,
            "boss@example.com",
            "correct horse",
            true,
            0,
            state.config.password_cost,
        )
        .await
        .expect("admin");
        let cookie = sign_in(&state, "boss@example.com", "correct horse")
            .await
            .expect("cookie");
        let page = fetch(&state, "GET", "/admin/reports", Some(&cookie), None).await;
        assert!(
            page.text.contains("A2E: audio longer than 60 s") && page.text.contains("lipsync-v2"),
            "{}",
            page.text
        );
        // Limited per sender (an anonymous sender counts as "unknown address" through the router).
        let mut last = StatusCode::CREATED;
        for _ in 0..25 {
            last = send(
                &state,
                request("POST", "/v1/problem-reports", None, Some(report.clone())),
            )
            .await
            .status;
        }
        assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn a_shared_record_is_rated_by_its_owner_only() {
    use crate::http::{request, send};
    use serde_json::json;
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let cost = state.config.password_cost;
        let a = aktion_server::auth::create_user(
            &state.db,
            "a@example.com",
            "correct horse",
            false,
            0,
            cost,
        )
        .await
        .expect("a");
        aktion_server::auth::create_user(
            &state.db,
            "b@example.com",
            "correct horse",
            false,
            0,
            cost,
        )
        .await
        .expect("b");
        let token = |email: &'static str| {
            let state = state.clone();
            async move {
                let user = aktion_server::auth::user_by_email(&state.db, email)
                    .await
                    .expect("db")
                    .expect("user");
                aktion_server::auth::create_session(
                    &state.db,
                    user.id,
                    std::time::Duration::from_secs(600),
                )
                .await
                .expect("session")
                .0
            }
        };
        let hash = "cd".repeat(32);
        sqlx::query(
            "INSERT INTO training_records (user_id, node_kind, output_type, settings, character_refs, \
             input_refs, output_hash, output_key, content_type, created_at) \
             VALUES ($1, 't2i', 'image', '{}', '[]', '[]', $2, $3, 'image/png', 1)",
        )
        .bind(a.id)
        .bind(&hash)
        .bind(format!("training/{}/{hash}", a.id))
        .execute(state.db.writer())
        .await
        .expect("record");
        let rate = |token: String, rating: u8| {
            request(
                "POST",
                "/v1/training-data/rating",
                Some(&token),
                Some(json!({"output_hash": hash, "rating": rating})),
            )
        };
        let by_b = send(&state, rate(token("b@example.com").await, 1)).await;
        assert_eq!(by_b.status, StatusCode::OK);
        assert_eq!(by_b.body["rated"], 0, "B cannot rate A's record");
        let by_a = send(&state, rate(token("a@example.com").await, 4)).await;
        assert_eq!(by_a.body["rated"], 1);
        assert_eq!(
            send(&state, rate(token("a@example.com").await, 9))
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
        let stored: Option<i64> = sqlx::query_scalar("SELECT rating FROM training_records")
            .fetch_one(&state.db.pool)
            .await
            .expect("rating");
        assert_eq!(stored, Some(4));
    }
}
