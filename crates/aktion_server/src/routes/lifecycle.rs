//! The account lifecycle over HTTP (PRODUCT.md §5.8): JSON endpoints for the app, and the small
//! server-rendered pages the mailed links open (verify, reset, unsubscribe), which work without
//! JavaScript.

use aktion_api::{
    AccountDeletion, Done, EmailPreferences, EmailVerification, ErrorBody, InviteRequest,
    InviteResult, Me, PasswordChange, PasswordResetConfirm, PasswordResetRequest, SessionsEnded,
};
use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::account::me_of;
use super::{AdminUser, ApiJson, AuthUser, IdempotencyKey};
use crate::mail::{Links, esc};
use crate::{ApiError, AppState, accounts, auth, beta, idempotency};

/// Confirm an email address with the token of the mailed link (the app's way; the link opens
/// `/account/verify`). Pays the starter grant.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "accounts",
    request_body = EmailVerification,
    responses((status = 200, body = Me),
        (status = 400, body = ErrorBody),
        (status = 422, description = "invalid, used or expired link", body = ErrorBody)))]
pub(super) async fn verify_email(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<EmailVerification>,
) -> Result<Response, ApiError> {
    let scope = format!("verify:{}", auth::token_hash(&body.token));
    keyed(
        &state,
        &scope,
        key,
        json!({"op": "verify-email"}),
        || async {
            let user = accounts::verify_email(&state, &body.token).await?;
            Ok((StatusCode::OK, me_of(&user)))
        },
    )
    .await
}

/// [`idempotency::run`] in `scope` for any serialisable answer.
async fn keyed<F, Fut, T>(
    state: &AppState,
    scope: &str,
    key: Option<String>,
    request: serde_json::Value,
    op: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, T), ApiError>>,
    T: serde::Serialize,
{
    idempotency::run(
        &state.db,
        scope,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let (status, answer) = op().await?;
            Ok((status, super::to_value(&answer)?))
        },
    )
    .await
}

/// Mail a new verification link (three an hour).
#[utoipa::path(post, path = "/v1/me/verify-email", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, body = Done), (status = 401, body = ErrorBody),
        (status = 409, description = "already verified", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub(super) async fn resend_verification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, ApiError> {
    let scope = format!("user:{}", auth.user.id);
    keyed(
        &state,
        &scope,
        key,
        json!({"op": "resend-verification"}),
        || async {
            accounts::resend_verification(&state, &auth.user).await?;
            Ok((
                StatusCode::ACCEPTED,
                Done {
                    message: format!("a new link is on its way to {}", auth.user.email),
                },
            ))
        },
    )
    .await
}

const RESET_ANSWER: &str =
    "if an account uses this address, a link to choose a new password is on its way";

/// Ask for a password-reset link. The same answer whether or not the address has an account.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "accounts",
    request_body = PasswordResetRequest,
    responses((status = 202, body = Done), (status = 400, body = ErrorBody)))]
pub(super) async fn password_reset(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> Result<Response, ApiError> {
    auth::normalize_email(&body.email)?;
    let scope = format!("reset:{}", auth::token_hash(&body.email.to_lowercase()));
    keyed(
        &state,
        &scope,
        key,
        json!({"op": "password-reset"}),
        || async {
            accounts::request_reset(&state, &body.email).await?;
            Ok((
                StatusCode::ACCEPTED,
                Done {
                    message: RESET_ANSWER.to_owned(),
                },
            ))
        },
    )
    .await
}

/// Set a new password with a reset link's token; every session ends.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "accounts",
    request_body = PasswordResetConfirm,
    responses((status = 200, body = Done),
        (status = 400, description = "a password of the wrong length", body = ErrorBody),
        (status = 422, description = "invalid, used or expired link (`invalid_link`), or a password attackers try first (`weak_password`: breached, repeated or consecutive characters)", body = ErrorBody),
        (status = 503, description = "too many password checks at once; see Retry-After", body = ErrorBody)))]
pub(super) async fn password_reset_confirm(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<PasswordResetConfirm>,
) -> Result<Response, ApiError> {
    let scope = format!("reset-confirm:{}", auth::token_hash(&body.token));
    // The password is part of the request's fingerprint (a hash), never stored.
    let request = json!({"op": "password-reset-confirm", "password": body.password});
    keyed(&state, &scope, key, request, || async {
        accounts::reset_password(&state, &body.token, &body.password).await?;
        Ok((
            StatusCode::OK,
            Done {
                message: "password changed; sign in with the new one".to_owned(),
            },
        ))
    })
    .await
}

/// Change the password; every other session ends.
#[utoipa::path(post, path = "/v1/me/password", tag = "accounts", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 200, body = SessionsEnded), (status = 400, body = ErrorBody),
        (status = 401, description = "not signed in, or the current password is wrong", body = ErrorBody),
        (status = 422, description = "a password attackers try first (`weak_password`: breached, repeated or consecutive characters, or the email address)", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    let scope = format!("user:{}", auth.user.id);
    let request = json!({"op": "change-password", "new": body.new_password});
    keyed(&state, &scope, key, request, || async {
        let ended = accounts::change_password(
            &state,
            &auth.user,
            &auth.token,
            &body.current_password,
            &body.new_password,
        )
        .await?;
        Ok((
            StatusCode::OK,
            SessionsEnded {
                sessions_ended: ended,
            },
        ))
    })
    .await
}

/// Sign out everywhere: every session of the account ends, this one too.
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = SessionsEnded), (status = 401, body = ErrorBody)))]
pub(super) async fn logout_all(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // As with logout: the session is checked inside the keyed operation, so a retry of a
    // sign-out that went through replays its answer although the token no longer works.
    let token = super::bearer_of(&headers)?.ok_or(ApiError::Unauthorized)?;
    let scope = format!("session:{}", auth::token_hash(&token));
    keyed(&state, &scope, key, json!({"op": "logout-all"}), || async {
        let user = auth::session_user(&state.db, &token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let ended = accounts::sign_out_everywhere(&state.db, user.id).await?;
        Ok((
            StatusCode::OK,
            SessionsEnded {
                sessions_ended: ended,
            },
        ))
    })
    .await
}

/// Delete the account: sessions, shared data, files and personal data are erased; the
/// credit ledger keeps its rows without them.
#[utoipa::path(delete, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    request_body = AccountDeletion,
    responses((status = 200, body = Done), (status = 400, body = ErrorBody),
        (status = 401, description = "not signed in, or the password is wrong", body = ErrorBody),
        (status = 409, description = "generations still running", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn delete_me(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AccountDeletion>,
) -> Result<Response, ApiError> {
    let token = super::bearer_of(&headers)?.ok_or(ApiError::Unauthorized)?;
    let scope = format!("session:{}", auth::token_hash(&token));
    let request = json!({"op": "delete-account", "password": body.password});
    keyed(&state, &scope, key, request, || async {
        let user = auth::session_user(&state.db, &token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        accounts::delete_account(&state, &user, &body.password).await?;
        Ok((
            StatusCode::OK,
            Done {
                message: "your account and everything in it were deleted".to_owned(),
            },
        ))
    })
    .await
}

/// Which optional mails the caller gets.
#[utoipa::path(get, path = "/v1/me/email-preferences", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = EmailPreferences), (status = 401, body = ErrorBody)))]
pub(super) async fn email_preferences(auth: AuthUser) -> Json<EmailPreferences> {
    Json(EmailPreferences {
        generation_finished: auth.user.notify_generation_finished,
    })
}

/// Ask for (or stop) a mail when a job of over a minute finishes.
#[utoipa::path(put, path = "/v1/me/email-preferences", tag = "accounts", security(("bearer" = [])),
    request_body = EmailPreferences,
    responses((status = 200, body = EmailPreferences), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn set_email_preferences(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<EmailPreferences>,
) -> Result<Response, ApiError> {
    let request = json!({"op": "email-preferences", "on": body.generation_finished});
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            accounts::set_generation_mails(&state.db, auth.user.id, body.generation_finished)
                .await?;
            Ok((StatusCode::OK, body.clone()))
        },
    )
    .await
}

/// Most addresses one invitation request may name.
pub(crate) const INVITE_MAX: usize = 500;

/// Invite beta sign-ups (admin only): each gets an invitation mail, once.
#[utoipa::path(post, path = "/v1/admin/beta-signups/invite", tag = "admin",
    security(("bearer" = [])), request_body = InviteRequest,
    responses((status = 200, body = InviteResult), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn admin_invite(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<InviteRequest>,
) -> Result<Response, ApiError> {
    if body.emails.is_empty() || body.emails.len() > INVITE_MAX {
        return Err(ApiError::invalid_field("emails", "1 to 500 addresses"));
    }
    for email in &body.emails {
        auth::normalize_email(email)?;
    }
    let request = super::to_value(&body)?;
    idempotency::run_for_user(
        &state.db,
        admin.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let invited = beta::invite(&state, &body.emails).await?;
            Ok((StatusCode::OK, InviteResult { invited }))
        },
    )
    .await
}

// ---- Pages the mailed links open -------------------------------------------------------

/// A small page in the landing page's colours, with a strict CSP (no scripts at all).
pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — Aktion Studio</title><style>\
         body{{margin:0;background:#0d0c12;color:#f3efe6;font-family:system-ui,sans-serif}}\
         main{{max-width:30rem;margin:10vh auto;padding:0 1.5rem}}\
         h1{{font-size:1.6rem}} p{{line-height:1.5;color:#e4ddd0}}\
         input{{display:block;width:100%;box-sizing:border-box;font-size:1rem;padding:.7rem;\
         margin:.3rem 0 1rem;border-radius:4px;border:1px solid #6b6472;background:#1b1922;color:#f3efe6}}\
         button{{font-size:1rem;font-weight:700;padding:.7rem 1.4rem;border:0;border-radius:4px;\
         background:#f3b35c;color:#17130c;cursor:pointer}}\
         .err{{background:rgba(170,60,60,.4);padding:.6rem .9rem;border-radius:4px}}\
         </style></head><body><main><h1>{title}</h1>{body}</main></body></html>",
        title = esc(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error_page(e: &ApiError) -> Response {
    let (status, _) = e.status_and_code();
    page(
        status,
        "That did not work",
        &format!("<p class=\"err\">{}</p>", esc(&e.body().message)),
    )
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

/// `GET /account/verify?token=…`: confirms the address (the link is the proof; a mail
/// scanner following it confirms what the mail's recipient would).
pub(super) async fn verify_page(
    State(state): State<AppState>,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = query.ok().and_then(|Query(q)| q.token).unwrap_or_default();
    match accounts::verify_email(&state, &token).await {
        Ok(user) => page(
            StatusCode::OK,
            "Email confirmed",
            &format!(
                "<p>{} is confirmed. Your balance is {} credits. Go back to Aktion Studio; \
                 Account shows it at once.</p>",
                esc(&user.email),
                user.balance
            ),
        ),
        Err(e) => error_page(&e),
    }
}

/// `GET /account/reset?token=…`: the form for a new password (without a token: the form to
/// ask for a link).
pub(super) async fn reset_page(
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let token = query.ok().and_then(|Query(q)| q.token).unwrap_or_default();
    if token.is_empty() {
        return page(
            StatusCode::OK,
            "Reset your password",
            "<form method=\"post\" action=\"/account/reset-request\">\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" required autocomplete=\"email\">\
             <button type=\"submit\">Mail me a link</button></form>",
        );
    }
    page(
        StatusCode::OK,
        "Choose a new password",
        &format!(
            "<form method=\"post\" action=\"/account/reset\">\
             <input type=\"hidden\" name=\"token\" value=\"{}\">\
             <label for=\"password\">New password (at least {} characters)</label>\
             <input id=\"password\" name=\"password\" type=\"password\" required minlength=\"{}\" \
             autocomplete=\"new-password\">\
             <button type=\"submit\">Set password</button></form>\
             <p>Every device signed in to your account is signed out.</p>",
            esc(&token),
            auth::NEW_PASSWORD_MIN,
            auth::NEW_PASSWORD_MIN
        ),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct ResetForm {
    token: String,
    password: String,
}

/// `POST /account/reset` (form).
pub(super) async fn reset_submit(
    State(state): State<AppState>,
    form: Result<Form<ResetForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(&ApiError::bad_request(
            "invalid_form",
            "the form was incomplete",
        ));
    };
    match accounts::reset_password(&state, &form.token, &form.password).await {
        Ok(()) => page(
            StatusCode::OK,
            "Password changed",
            "<p>Sign in to Aktion Studio with your new password.</p>",
        ),
        Err(e) => error_page(&e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EmailForm {
    email: String,
}

/// `POST /account/reset-request` (form): the same answer whatever the address.
pub(super) async fn reset_request_submit(
    State(state): State<AppState>,
    form: Result<Form<EmailForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(&ApiError::bad_request(
            "invalid_form",
            "the form was incomplete",
        ));
    };
    match accounts::request_reset(&state, form.email.trim()).await {
        Ok(()) => page(
            StatusCode::OK,
            "Check your mail",
            &format!("<p>{}.</p>", esc(&upper_first(RESET_ANSWER))),
        ),
        Err(e) => error_page(&e),
    }
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().chain(chars).collect::<String>()
    })
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct UnsubscribeQuery {
    u: Option<i64>,
    sig: Option<String>,
}

/// `GET /account/unsubscribe?u=…&sig=…`: a page with one button (a GET changes nothing, so
/// link scanners do not unsubscribe anyone).
pub(super) async fn unsubscribe_page(
    State(state): State<AppState>,
    query: Result<Query<UnsubscribeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (Some(u), Some(sig)) = (q.u, q.sig) else {
        return bad_unsubscribe();
    };
    if !Links::of(&state).unsubscribe_ok(u, &sig) {
        return bad_unsubscribe();
    }
    page(
        StatusCode::OK,
        "Stop optional mails",
        &format!(
            "<p>Stop \"generation finished\" and other optional mails? Mails about your \
             account itself (sign-in links, receipts) still come.</p>\
             <form method=\"post\" action=\"/account/unsubscribe?u={u}&amp;sig={}\">\
             <button type=\"submit\">Unsubscribe</button></form>",
            esc(&sig)
        ),
    )
}

fn bad_unsubscribe() -> Response {
    error_page(&ApiError::Unverified {
        code: "invalid_link",
        message: "this unsubscribe link is not valid".to_owned(),
    })
}

/// `POST /account/unsubscribe?u=…&sig=…`: the page's button, and mail programs' one-click
/// unsubscribe (RFC 8058) on the `List-Unsubscribe` address.
pub(super) async fn unsubscribe_submit(
    State(state): State<AppState>,
    query: Result<Query<UnsubscribeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (Some(u), Some(sig)) = (q.u, q.sig) else {
        return bad_unsubscribe();
    };
    if !Links::of(&state).unsubscribe_ok(u, &sig) {
        return bad_unsubscribe();
    }
    match accounts::unsubscribe(&state.db, u).await {
        Ok(()) => page(
            StatusCode::OK,
            "Unsubscribed",
            "<p>No more optional mails. Turn them on again in the app under Account.</p>",
        ),
        Err(e) => error_page(&e),
    }
}
