//! The server under attack (issue: server hardening): registration and login limits, the
//! starter-grant budget, gates answering 503, on SQLite and PostgreSQL.

use std::net::SocketAddr;
use std::time::Duration;

use aktion_server::{AppState, Config};
use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::common;
use crate::http::{Answer, request, send};

/// A JSON request as if from `peer`, optionally through a proxy that forwarded `xff`.
fn from(peer: &str, xff: Option<&str>, uri: &str, body: &serde_json::Value) -> Request<Body> {
    let mut req = request("POST", uri, None, Some(body.clone()));
    let addr: SocketAddr = peer.parse().expect("peer");
    req.extensions_mut().insert(ConnectInfo(addr));
    if let Some(xff) = xff {
        req.headers_mut()
            .insert("x-forwarded-for", xff.parse().expect("header"));
    }
    req
}

fn creds(email: &str, password: &str) -> serde_json::Value {
    json!({"email": email, "password": password})
}

async fn start_with(test_db: &common::TestDb, edit: impl FnOnce(&mut Config)) -> AppState {
    let mut config = common::test_config();
    edit(&mut config);
    aktion_server::start(&test_db.url, config)
        .await
        .expect("start")
        .0
}

async fn register_from(state: &AppState, peer: &str, xff: Option<&str>, email: &str) -> Answer {
    send(
        state,
        from(
            peer,
            xff,
            "/v1/auth/register",
            &creds(email, "correct horse battery"),
        ),
    )
    .await
}

#[tokio::test]
async fn registration_is_limited_per_address_ipv6_per_64_and_in_all() {
    for test_db in common::all().await {
        let state = start_with(&test_db, |c| {
            c.limits.register_per_address = 2;
            c.limits.register_per_hour = 5;
        })
        .await;
        let db = test_db.name;
        for (i, peer) in ["[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2"]
            .iter()
            .enumerate()
        {
            let ok = register_from(&state, peer, None, &format!("v6-{i}@example.com")).await;
            assert_eq!(ok.status, StatusCode::CREATED, "{db}: {}", ok.body);
        }
        // A third address of the same /64 is the same subscriber.
        let third =
            register_from(&state, "[2001:db8:1:2:abcd::1]:3", None, "v6-3@example.com").await;
        assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{db}");
        assert_eq!(third.error().code, "rate_limited");
        assert!(third.headers.contains_key(header::RETRY_AFTER));
        // The next /64 is someone else.
        let other = register_from(&state, "[2001:db8:1:3::1]:4", None, "v6-4@example.com").await;
        assert_eq!(other.status, StatusCode::CREATED, "{db}");
        for (i, peer) in ["192.0.2.1:5", "192.0.2.2:6"].iter().enumerate() {
            let ok = register_from(&state, peer, None, &format!("v4-{i}@example.com")).await;
            assert_eq!(ok.status, StatusCode::CREATED, "{db}: {}", ok.body);
        }
        // Five in all this hour: a sixth address is refused too.
        let global = register_from(&state, "192.0.2.3:7", None, "v4-9@example.com").await;
        assert_eq!(global.status, StatusCode::TOO_MANY_REQUESTS, "{db}");
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&state.db.pool)
            .await
            .expect("count");
        assert_eq!(users, 5, "{db}");
    }
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let test_db = common::sqlite();
    // No proxy configured: a made-up X-Forwarded-For buys nothing.
    let state = start_with(&test_db, |c| c.limits.register_per_address = 1).await;
    let first = register_from(&state, "198.51.100.1:1", Some("1.1.1.1"), "a@example.com").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let spoofed = register_from(&state, "198.51.100.1:1", Some("2.2.2.2"), "b@example.com").await;
    assert_eq!(spoofed.status, StatusCode::TOO_MANY_REQUESTS);
    // Behind a trusted proxy: each forwarded client has its own count, and the proxy itself
    // is not one client for everybody.
    let test_db = common::sqlite();
    let state = start_with(&test_db, |c| {
        c.limits.register_per_address = 1;
        c.limits.trusted_proxies = "10.0.0.0/8".parse().expect("list");
    })
    .await;
    for (i, client) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        let ok = register_from(
            &state,
            "10.1.2.3:80",
            Some(&format!("6.6.6.6, {client}")),
            &format!("c{i}@example.com"),
        )
        .await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    }
    // A client varying the left-most (its own) entry is still counted by what the proxy saw.
    let again = register_from(
        &state,
        "10.1.2.3:80",
        Some("7.7.7.7, 203.0.113.1"),
        "c9@example.com",
    )
    .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn starter_grants_are_off_by_default_and_capped_per_day() {
    assert_eq!(
        Config::default().starter_grant,
        0,
        "no free credits by default"
    );
    for test_db in common::all().await {
        let state = start_with(&test_db, |c| {
            c.starter_grant = 5;
            c.limits.starter_grant_daily_budget = 12;
            c.limits.register_per_address = 100;
        })
        .await;
        let mut balances = Vec::new();
        for i in 0..4 {
            let peer = format!("192.0.2.{}:1", i + 1);
            let answer = register_from(&state, &peer, None, &format!("g{i}@example.com")).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
            assert_eq!(
                answer.body["user"]["balance"], 0,
                "nothing before verification"
            );
            let email = format!("g{i}@example.com");
            let (status, page) = common::confirm_email(&state, &email).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let user = aktion_server::auth::user_by_email(&state.db, &email)
                .await
                .expect("db")
                .expect("user");
            balances.push(user.balance);
        }
        assert_eq!(
            balances,
            [5, 5, 0, 0],
            "{}: 12 a day covers two",
            test_db.name
        );
        let granted: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) FROM ledger_entries WHERE kind = 'grant'",
        )
        .fetch_one(&state.db.pool)
        .await
        .expect("sum");
        assert_eq!(granted, 10);
    }
}

#[tokio::test]
async fn password_hashing_is_gated_and_register_checks_the_email_first() {
    let test_db = common::sqlite();
    let state = start_with(&test_db, |c| {
        c.limits.hashing = 1;
        c.limits.gate_wait = Duration::from_millis(100);
    })
    .await;
    let made = register_from(&state, "192.0.2.1:1", None, "taken@example.com").await;
    assert_eq!(made.status, StatusCode::CREATED);
    // Every hashing slot busy (a flood of logins would hold them).
    let slot = state.gates.hashing.enter().await.expect("the one slot");
    let login = send(
        &state,
        from(
            "192.0.2.2:1",
            None,
            "/v1/auth/login",
            &creds("taken@example.com", "correct horse battery"),
        ),
    )
    .await;
    assert_eq!(login.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(login.error().code, "busy");
    assert!(login.headers.contains_key(header::RETRY_AFTER));
    // A taken email is answered without hashing anything: no slot needed.
    let taken = register_from(&state, "192.0.2.3:1", None, "taken@example.com").await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    let fresh = register_from(&state, "192.0.2.4:1", None, "fresh@example.com").await;
    assert_eq!(fresh.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(slot);
    let fresh = register_from(&state, "192.0.2.4:1", None, "fresh@example.com").await;
    assert_eq!(fresh.status, StatusCode::CREATED);
}

#[tokio::test]
async fn parallel_guesses_cannot_pass_a_check_made_before_counting() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let made = register_from(&state, "192.0.2.1:1", None, "owner@example.com").await;
        assert_eq!(made.status, StatusCode::CREATED);
        let guesses = (0..20).map(|i| {
            let state = state.clone();
            async move {
                send(
                    &state,
                    from(
                        &format!("198.51.100.{}:1", i + 1),
                        None,
                        "/v1/auth/login",
                        &creds("owner@example.com", &format!("guess number {i}")),
                    ),
                )
                .await
                .status
            }
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let checked = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let limited = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        // test_config: 3 attempts per email pass at once.
        assert_eq!(
            (checked, limited),
            (3, 17),
            "{}: {statuses:?}",
            test_db.name
        );
    }
}

#[tokio::test]
async fn the_owner_gets_in_after_a_delay_not_a_lockout() {
    let test_db = common::sqlite();
    let state = common::start(&test_db).await;
    let made = register_from(&state, "192.0.2.1:1", None, "owner@example.com").await;
    assert_eq!(made.status, StatusCode::CREATED);
    let login = |password: &'static str| {
        let state = state.clone();
        async move {
            send(
                &state,
                from(
                    "203.0.113.7:1",
                    None,
                    "/v1/auth/login",
                    &creds("owner@example.com", password),
                ),
            )
            .await
        }
    };
    for _ in 0..3 {
        assert_eq!(login("wrong guess!").await.status, StatusCode::UNAUTHORIZED);
    }
    let waiting = login("correct horse battery").await;
    assert_eq!(waiting.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = waiting.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    // test_config's first delay is 1.5 s: after it, the right password works.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let owner = login("correct horse battery").await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    // …and the delays are over.
    assert_eq!(login("wrong guess!").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn new_passwords_need_twelve_characters_and_older_accounts_still_sign_in() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let short = send(
            &state,
            from(
                "192.0.2.1:1",
                None,
                "/v1/auth/register",
                &creds("new@example.com", "eleven char"),
            ),
        )
        .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST);
        assert!(
            short
                .error()
                .fields
                .expect("fields")
                .contains_key("password")
        );
        // An account made when eight characters were enough.
        let hash =
            aktion_server::auth::hash_password("eight ch".to_owned(), state.config.password_cost)
                .await
                .expect("hash");
        aktion_server::auth::insert_user(
            &state.db,
            &aktion_server::auth::NewUser {
                email: "old@example.com",
                password_hash: &hash,
                is_admin: false,
                starter_grant: 0,
                daily_budget: None,
                verified: true,
            },
        )
        .await
        .expect("old account");
        let login = send(
            &state,
            from(
                "192.0.2.2:1",
                None,
                "/v1/auth/login",
                &creds("old@example.com", "eight ch"),
            ),
        )
        .await;
        assert_eq!(
            login.status,
            StatusCode::OK,
            "{}: {}",
            test_db.name,
            login.body
        );
    }
}

#[tokio::test]
async fn new_passwords_attackers_try_first_are_refused_with_the_reason() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let mut peer = 10;
        let mut register = async |email: &str, password: &str| {
            peer += 1;
            send(
                &state,
                from(
                    &format!("192.0.2.{peer}:1"),
                    None,
                    "/v1/auth/register",
                    &creds(email, password),
                ),
            )
            .await
        };
        for (password, reason) in [
            // In the breached list, in any case.
            ("PassWord123456", "breached"),
            ("1qaz2wsx3edc4rfv", "breached"),
            ("aaaaaaaaaaaaaa", "repeated"),
            ("abcabcabcabc", "repeated"),
            ("abcdefghijklm", "consecutive"),
            ("9876543210/.", "consecutive"),
            ("filmmaker.jo2026!", "email"),
        ] {
            let answer = register("filmmaker.jo@example.com", password).await;
            assert_eq!(
                answer.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}: {password}: {}",
                test_db.name,
                answer.body
            );
            let error = answer.error();
            assert_eq!(error.code, "weak_password");
            let why = &error.fields.expect("fields")["password"];
            assert!(why.contains(reason), "{password}: {why}");
            assert!(
                !answer.body.to_string().contains(password),
                "the password is not echoed"
            );
        }
        // A passphrase of ordinary words is fine, and no account was made by the refusals.
        let ok = register("filmmaker.jo@example.com", "blue heron at dawn").await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    }
}
