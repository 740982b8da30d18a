//! The account lifecycle (PRODUCT.md §5.8) through the router: verification pays the starter
//! grant once, reset and change password end sessions, sign out everywhere, delete my account
//! erases personal data but keeps the ledger, unsubscribe, invite-only registration, disabled
//! accounts; each across users. On SQLite and PostgreSQL.

use aktion_api::{Me, SessionResponse};
use aktion_server::AppState;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::common;
use crate::http::{request, send};

const PASSWORD: &str = "correct horse";

async fn page(
    state: &AppState,
    method: &str,
    uri: &str,
    form: Option<&str>,
) -> (StatusCode, String) {
    let mut builder = Request::builder().method(method).uri(uri);
    let body = match form {
        Some(form) => {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form.to_owned())
        }
        None => Body::empty(),
    };
    let response = aktion_server::app(state.clone())
        .oneshot(builder.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let csp = response
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    assert!(
        csp.is_some_and(|c| c.contains("default-src 'none'")),
        "{uri}: pages carry a strict CSP"
    );
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn path_of(link: &str) -> &str {
    &link[link.find("/account/").expect("account path")..]
}

async fn register(state: &AppState, email: &str) -> SessionResponse {
    let answer = send(
        state,
        request(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        ),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.parse()
}

async fn me(state: &AppState, token: &str) -> (StatusCode, Option<Me>) {
    let answer = send(state, request("GET", "/v1/me", Some(token), None)).await;
    let me = (answer.status == StatusCode::OK).then(|| answer.parse());
    (answer.status, me)
}

async fn login(state: &AppState, email: &str, password: &str) -> (StatusCode, Option<String>) {
    let answer = send(
        state,
        request(
            "POST",
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        ),
    )
    .await;
    let token = (answer.status == StatusCode::OK).then(|| answer.parse::<SessionResponse>().token);
    (answer.status, token)
}

async fn outbox_count(state: &AppState, email: &str, template: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE lower(recipient) = lower($1) AND template = $2",
    )
    .bind(email)
    .bind(template)
    .fetch_one(&state.db.pool)
    .await
    .expect("count")
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, step by step")]
async fn verification_pays_the_starter_grant_once_and_links_are_single_use() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let session = register(&state, "vera@example.com").await;
        assert!(!session.user.email_verified);
        assert_eq!(session.user.balance, 0, "{}: no grant before", test_db.name);
        assert_eq!(
            outbox_count(&state, "vera@example.com", "verify-email").await,
            1
        );

        // A second link replaces the first; the first stops working.
        let first = common::mailed_link(
            &state,
            "vera@example.com",
            "verify-email",
            "/account/verify",
        )
        .await;
        let resend = send(
            &state,
            request("POST", "/v1/me/verify-email", Some(&session.token), None),
        )
        .await;
        assert_eq!(resend.status, StatusCode::ACCEPTED, "{}", resend.body);
        let second = common::mailed_link(
            &state,
            "vera@example.com",
            "verify-email",
            "/account/verify",
        )
        .await;
        assert_ne!(first, second);
        let (status, text) = page(&state, "GET", path_of(&first), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert!(
            text.contains("invalid, was already used or has expired"),
            "{text}"
        );

        let (status, text) = page(&state, "GET", path_of(&second), None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert!(
            text.contains("vera@example.com is confirmed") && text.contains("5 credits"),
            "{text}"
        );
        let (_, me_now) = me(&state, &session.token).await;
        let me_now = me_now.expect("me");
        assert!(me_now.email_verified);
        assert_eq!(me_now.balance, 5);
        assert_eq!(outbox_count(&state, "vera@example.com", "welcome").await, 1);

        // Used once: again is refused and pays nothing; the API way too.
        let (status, _) = page(&state, "GET", path_of(&second), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let token = second.split("token=").nth(1).expect("token");
        let api = send(
            &state,
            request(
                "POST",
                "/v1/auth/verify-email",
                None,
                Some(json!({"token": token})),
            ),
        )
        .await;
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", api.body);
        assert_eq!(api.error().code, "invalid_link");
        let resend = send(
            &state,
            request("POST", "/v1/me/verify-email", Some(&session.token), None),
        )
        .await;
        assert_eq!(resend.status, StatusCode::CONFLICT, "already verified");
        assert_eq!(
            me(&state, &session.token).await.1.expect("me").balance,
            5,
            "paid once"
        );

        // Hostile tokens: a clear 400, never a 500.
        for bad in [
            "",
            "zz",
            &"a".repeat(5000),
            "%00",
            "'; DROP TABLE users; --",
        ] {
            let (status, _) = page(
                &state,
                "GET",
                &format!("/account/verify?token={}", urlencode(bad)),
                None,
            )
            .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        }
        // An expired link.
        let other = register(&state, "late@example.com").await;
        sqlx::query("UPDATE account_tokens SET expires_at = 1")
            .execute(state.db.writer())
            .await
            .expect("expire");
        let link = common::mailed_link(
            &state,
            "late@example.com",
            "verify-email",
            "/account/verify",
        )
        .await;
        let (status, _) = page(&state, "GET", path_of(&link), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(me(&state, &other.token).await.1.expect("me").balance, 0);
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, step by step")]
async fn password_reset_answers_alike_and_ends_every_session() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let a = register(&state, "reset@example.com").await;
        let (_, second_device) = login(&state, "reset@example.com", PASSWORD).await;
        let second_device = second_device.expect("login");

        let known = send(
            &state,
            request(
                "POST",
                "/v1/auth/password-reset",
                None,
                Some(json!({"email": "Reset@Example.com"})),
            ),
        )
        .await;
        let unknown = send(
            &state,
            request(
                "POST",
                "/v1/auth/password-reset",
                None,
                Some(json!({"email": "nobody@example.com"})),
            ),
        )
        .await;
        assert_eq!(known.status, StatusCode::ACCEPTED);
        assert_eq!(
            (known.status, &known.body),
            (unknown.status, &unknown.body),
            "no enumeration"
        );
        assert_eq!(
            outbox_count(&state, "nobody@example.com", "password-reset").await,
            0
        );
        assert_eq!(
            outbox_count(&state, "reset@example.com", "password-reset").await,
            1
        );

        let link = common::mailed_link(
            &state,
            "reset@example.com",
            "password-reset",
            "/account/reset",
        )
        .await;
        let (status, form) = page(&state, "GET", path_of(&link), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            form.contains("name=\"password\"") && form.contains("type=\"hidden\""),
            "{form}"
        );
        let token = link.split("token=").nth(1).expect("token");
        // Too short: refused, the token still works.
        let (status, _) = page(
            &state,
            "POST",
            "/account/reset",
            Some(&format!("token={token}&password=short")),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, text) = page(
            &state,
            "POST",
            "/account/reset",
            Some(&format!("token={token}&password=a+new+long+password")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        for token in [&a.token, &second_device] {
            assert_eq!(
                me(&state, token).await.0,
                StatusCode::UNAUTHORIZED,
                "every session ended"
            );
        }
        assert_eq!(
            login(&state, "reset@example.com", PASSWORD).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, fresh) = login(&state, "reset@example.com", "a new long password").await;
        assert_eq!(status, StatusCode::OK);
        // The link proved the address: verified, grant paid.
        let now = me(&state, &fresh.expect("token")).await.1.expect("me");
        assert!(now.email_verified);
        assert_eq!(now.balance, 5);
        // Single use.
        let again = send(
            &state,
            request(
                "POST",
                "/v1/auth/password-reset/confirm",
                None,
                Some(json!({"token": token, "password": "yet another password"})),
            ),
        )
        .await;
        assert_eq!(
            again.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            again.body
        );
        // The page without a token asks for a link, and answers alike too.
        let (status, text) = page(
            &state,
            "POST",
            "/account/reset-request",
            Some("email=nobody%40example.com"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("If an account uses this address"), "{text}");
    }
}

#[tokio::test]
async fn change_password_and_sign_out_everywhere() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let here = register(&state, "pw@example.com").await.token;
        let (_, there) = login(&state, "pw@example.com", PASSWORD).await;
        let there = there.expect("login");
        let other = register(&state, "bystander@example.com").await.token;

        let wrong = send(&state, request("POST", "/v1/me/password", Some(&here), Some(json!({"current_password": "not my password", "new_password": "a brand new password"})))).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
        let weak = send(
            &state,
            request(
                "POST",
                "/v1/me/password",
                Some(&here),
                Some(json!({"current_password": PASSWORD, "new_password": "short"})),
            ),
        )
        .await;
        assert_eq!(weak.status, StatusCode::BAD_REQUEST);
        let changed = send(
            &state,
            request(
                "POST",
                "/v1/me/password",
                Some(&here),
                Some(json!({"current_password": PASSWORD, "new_password": "a brand new password"})),
            ),
        )
        .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        assert_eq!(changed.body["sessions_ended"], 1);
        assert_eq!(
            me(&state, &here).await.0,
            StatusCode::OK,
            "this session stays"
        );
        assert_eq!(
            me(&state, &there).await.0,
            StatusCode::UNAUTHORIZED,
            "the other ends"
        );
        assert_eq!(
            me(&state, &other).await.0,
            StatusCode::OK,
            "other users untouched"
        );
        assert_eq!(
            login(&state, "pw@example.com", PASSWORD).await.0,
            StatusCode::UNAUTHORIZED
        );

        let (_, third) = login(&state, "pw@example.com", "a brand new password").await;
        let all = send(
            &state,
            request("POST", "/v1/auth/logout-all", Some(&here), None),
        )
        .await;
        assert_eq!(all.status, StatusCode::OK);
        assert_eq!(all.body["sessions_ended"], 2);
        for token in [&here, &third.expect("login")] {
            assert_eq!(me(&state, token).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            me(&state, &other).await.0,
            StatusCode::OK,
            "other users untouched"
        );
        let anonymous = send(&state, request("POST", "/v1/auth/logout-all", None, None)).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn deleting_an_account_erases_personal_data_and_keeps_the_ledger() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let session = register(&state, "gone@example.com").await;
        common::confirm_email(&state, "gone@example.com").await;
        let keep = register(&state, "keep@example.com").await.token;
        let opt_in = send(
            &state,
            request(
                "PUT",
                "/v1/me/data-sharing",
                Some(&session.token),
                Some(json!({"opt_in": true})),
            ),
        )
        .await;
        assert_eq!(opt_in.status, StatusCode::OK);
        let ledger_rows = |state: AppState| async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM ledger_entries")
                .fetch_one(&state.db.pool)
                .await
                .expect("count")
        };
        let before = ledger_rows(state.clone()).await;

        let wrong = send(
            &state,
            request(
                "DELETE",
                "/v1/me",
                Some(&session.token),
                Some(json!({"password": "not the password"})),
            ),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let by_other = send(
            &state,
            request(
                "DELETE",
                "/v1/me",
                Some(&keep),
                Some(json!({"password": "not the password"})),
            ),
        )
        .await;
        assert_eq!(
            by_other.status,
            StatusCode::UNAUTHORIZED,
            "another user's password does not delete anything"
        );
        let deleted = send(
            &state,
            request(
                "DELETE",
                "/v1/me",
                Some(&session.token),
                Some(json!({"password": PASSWORD})),
            ),
        )
        .await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);

        assert_eq!(me(&state, &session.token).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            login(&state, "gone@example.com", PASSWORD).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            ledger_rows(state.clone()).await,
            before,
            "{}: ledger kept",
            test_db.name
        );
        let personal: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users WHERE email LIKE '%gone@%') \
             + (SELECT COUNT(*) FROM outbox WHERE recipient LIKE '%gone@%') \
             + (SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.deleted_at IS NOT NULL) \
             + (SELECT COUNT(*) FROM users WHERE deleted_at IS NOT NULL AND data_sharing_opt_in = 1)",
        )
        .fetch_one(&state.db.pool)
        .await
        .expect("count");
        assert_eq!(personal, 0, "{}: nothing personal left", test_db.name);
        // The address is free again, for a new account that starts from nothing.
        let again = register(&state, "gone@example.com").await;
        assert_eq!(again.user.balance, 0);
        assert_eq!(
            me(&state, &keep).await.0,
            StatusCode::OK,
            "the other account stays"
        );
    }
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, step by step")]
async fn unsubscribe_links_are_signed_and_a_get_changes_nothing() {
    for test_db in common::all().await {
        let state = common::start(&test_db).await;
        let session = register(&state, "news@example.com").await;
        let on = send(
            &state,
            request(
                "PUT",
                "/v1/me/email-preferences",
                Some(&session.token),
                Some(json!({"generation_finished": true})),
            ),
        )
        .await;
        assert_eq!(on.status, StatusCode::OK, "{}", on.body);
        assert!(
            me(&state, &session.token)
                .await
                .1
                .expect("me")
                .generation_mails
        );
        let user = aktion_server::auth::user_by_email(&state.db, "news@example.com")
            .await
            .expect("db")
            .expect("user");
        // A finished job of over a minute queues the optional mail with its unsubscribe link.
        let mut tx = state.db.begin_write().await.expect("tx");
        aktion_server::accounts::generation_finished_in(
            &mut tx,
            &aktion_server::mail::Links::of(&state),
            user.id,
            "g1",
            "t2i",
            61_000,
            true,
        )
        .await
        .expect("mail");
        aktion_server::accounts::generation_finished_in(
            &mut tx,
            &aktion_server::mail::Links::of(&state),
            user.id,
            "g2",
            "t2i",
            59_000,
            true,
        )
        .await
        .expect("short job");
        tx.commit().await.expect("commit");
        assert_eq!(
            outbox_count(&state, "news@example.com", "generation-finished").await,
            1,
            "only jobs over a minute"
        );
        let link = common::mailed_link(
            &state,
            "news@example.com",
            "generation-finished",
            "/account/unsubscribe",
        )
        .await;

        let (status, text) = page(&state, "GET", path_of(&link), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("<form method=\"post\""), "{text}");
        assert!(
            me(&state, &session.token)
                .await
                .1
                .expect("me")
                .generation_mails,
            "a GET changes nothing"
        );
        // Another user's id with this signature, or a forged one: refused.
        let forged =
            path_of(&link).replace(&format!("u={}", user.id), &format!("u={}", user.id + 1));
        assert_eq!(
            page(&state, "POST", &forged, Some("")).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            page(&state, "POST", "/account/unsubscribe?u=1&sig=00", Some(""))
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            page(&state, "GET", "/account/unsubscribe", None).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // One click (RFC 8058) posts to the same address.
        let (status, _) = page(
            &state,
            "POST",
            path_of(&link),
            Some("List-Unsubscribe=One-Click"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !me(&state, &session.token)
                .await
                .1
                .expect("me")
                .generation_mails
        );
        let mut tx = state.db.begin_write().await.expect("tx");
        aktion_server::accounts::generation_finished_in(
            &mut tx,
            &aktion_server::mail::Links::of(&state),
            user.id,
            "g3",
            "t2i",
            600_000,
            true,
        )
        .await
        .expect("mail");
        tx.commit().await.expect("commit");
        assert_eq!(
            outbox_count(&state, "news@example.com", "generation-finished").await,
            1,
            "honoured"
        );
    }
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one story, step by step")]
async fn invite_only_registration_and_owner_told_of_attempts() {
    for test_db in common::all().await {
        let mut config = common::test_config();
        config.invite_only = true;
        let state = aktion_server::start(&test_db.url, config)
            .await
            .expect("start")
            .0;
        let admin = aktion_server::auth::create_user(
            &state.db,
            "boss@example.com",
            PASSWORD,
            true,
            0,
            state.config.password_cost,
        )
        .await
        .expect("admin");
        let (_, admin_token) = login(&state, &admin.email, PASSWORD).await;
        let admin_token = admin_token.expect("login");
        for email in ["first@example.com", "second@example.com"] {
            let joined = send(
                &state,
                request(
                    "POST",
                    "/v1/beta-signups",
                    None,
                    Some(json!({"email": email})),
                ),
            )
            .await;
            assert_eq!(joined.status, StatusCode::ACCEPTED);
        }
        let refused = send(
            &state,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "first@example.com", "password": PASSWORD})),
            ),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(refused.error().code, "invitation_required");

        let user_token = register_plain(&state, "boss2@example.com").await;
        assert!(user_token.is_none(), "no invitation, no account");
        let not_admin = aktion_server::auth::create_user(
            &state.db,
            "user@example.com",
            PASSWORD,
            false,
            0,
            state.config.password_cost,
        )
        .await
        .expect("user");
        let (_, user_token) = login(&state, &not_admin.email, PASSWORD).await;
        let invite = |token: String| {
            request(
                "POST",
                "/v1/admin/beta-signups/invite",
                Some(&token),
                Some(
                    json!({"emails": ["first@example.com", "FIRST@example.com", "unknown@example.com"]}),
                ),
            )
        };
        assert_eq!(
            send(&state, invite(user_token.expect("login")))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let invited = send(&state, invite(admin_token.clone())).await;
        assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
        assert_eq!(invited.body["invited"], 1);
        assert_eq!(
            send(&state, invite(admin_token.clone())).await.body["invited"],
            0,
            "once"
        );
        assert_eq!(
            outbox_count(&state, "first@example.com", "beta-invitation").await,
            1
        );
        let made = send(
            &state,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "First@example.com", "password": PASSWORD})),
            ),
        )
        .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let second = send(
            &state,
            request(
                "POST",
                "/v1/auth/register",
                None,
                Some(json!({"email": "second@example.com", "password": PASSWORD})),
            ),
        )
        .await;
        assert_eq!(second.status, StatusCode::FORBIDDEN, "not invited yet");

        // Registering a taken address tells its owner, once a day.
        for _ in 0..2 {
            let taken = send(
                &state,
                request(
                    "POST",
                    "/v1/auth/register",
                    None,
                    Some(json!({"email": "first@example.com", "password": PASSWORD})),
                ),
            )
            .await;
            assert_eq!(taken.status, StatusCode::CONFLICT);
        }
        assert_eq!(
            outbox_count(&state, "first@example.com", "registration-attempt").await,
            1
        );
    }
}

async fn register_plain(state: &AppState, email: &str) -> Option<String> {
    let answer = send(
        state,
        request(
            "POST",
            "/v1/auth/register",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        ),
    )
    .await;
    (answer.status == StatusCode::CREATED).then(|| answer.parse::<SessionResponse>().token)
}
