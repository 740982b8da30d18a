//! The landing page with its JOIN BETA form (works without JavaScript), health, metrics and the
//! OpenAPI document.

use std::sync::Arc;

use aktion_api::{BetaSignup, BetaSignupAccepted, BetaSignupList, ErrorBody, Health};
use axum::extract::{Form, FromRequest, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{AdminUser, ApiJson};
use crate::{ApiError, AppState, beta, idempotency};

/// The looping background clip, drawn by `aktion make-example landing-clip`.
const CLIP: &[u8] = include_bytes!("../../assets/landing.gif");

#[derive(Debug, Default, Deserialize)]
pub(super) struct LandingQuery {
    joined: Option<String>,
    error: Option<String>,
}

/// The landing page.
#[utoipa::path(get, path = "/", tag = "site",
    responses((status = 200, description = "the landing page", content_type = "text/html")))]
pub(super) async fn landing(
    query: Result<Query<LandingQuery>, axum::extract::rejection::QueryRejection>,
) -> Html<String> {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let notice = if query.joined.is_some() {
        r#"<p class="notice ok" role="status">Thanks — you're on the list. We'll write when your seat opens.</p>"#
    } else if query.error.is_some() {
        r#"<p class="notice err" role="alert">That doesn't look like an email address. Try again?</p>"#
    } else {
        ""
    };
    Html(LANDING.replace("{notice}", notice))
}

const LANDING: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Aktion Studio — AI film pre-production</title>
<style>
  html, body { margin: 0; height: 100%; background: #0d0c12; color: #f3efe6;
    font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  .bg { position: fixed; inset: 0; width: 100%; height: 100%; object-fit: cover;
    filter: saturate(0.9) brightness(0.55); z-index: 0; }
  main { position: relative; z-index: 1; min-height: 100%; display: flex; flex-direction: column;
    justify-content: center; padding: 8vh 8vw; box-sizing: border-box; max-width: 56rem; }
  .beta { display: inline-block; font-size: 0.8rem; letter-spacing: 0.2em; border: 1px solid #f3b35c;
    color: #f3b35c; padding: 0.2rem 0.6rem; border-radius: 2px; width: max-content; }
  h1 { font-size: clamp(2.4rem, 6vw, 4.5rem); margin: 1rem 0 0.5rem; letter-spacing: -0.02em; }
  p.lede { font-size: clamp(1.05rem, 2vw, 1.35rem); line-height: 1.5; max-width: 38rem; color: #e4ddd0; }
  form { display: flex; gap: 0.6rem; flex-wrap: wrap; margin-top: 1.8rem; }
  label.sr { position: absolute; left: -9999px; }
  input[type=email] { flex: 1 1 16rem; font-size: 1.1rem; padding: 0.85rem 1rem; border-radius: 4px;
    border: 1px solid #6b6472; background: rgba(13, 12, 18, 0.75); color: #f3efe6; }
  button { font-size: 1.05rem; font-weight: 700; letter-spacing: 0.12em; padding: 0.85rem 1.6rem;
    border: 0; border-radius: 4px; background: #f3b35c; color: #17130c; cursor: pointer; }
  button:hover, button:focus { background: #ffc77a; }
  .notice { margin-top: 1rem; padding: 0.7rem 1rem; border-radius: 4px; max-width: 36rem; }
  .ok { background: rgba(60, 140, 90, 0.35); } .err { background: rgba(170, 60, 60, 0.4); }
  footer { margin-top: 3rem; font-size: 0.85rem; color: #b8b0a3; }
  @media (max-width: 600px) {
    main { padding: 7vh 6vw 5vh; justify-content: flex-end; }
    .bg { object-position: 30% center; filter: saturate(0.9) brightness(0.45); }
    h1 { font-size: 2.3rem; }
    form { flex-direction: column; }
    input[type=email], button { width: 100%; box-sizing: border-box; flex: none; }
  }
</style>
</head>
<body>
<img class="bg" src="/landing/clip.gif" alt="">
<main>
  <span class="beta">PRIVATE BETA</span>
  <h1>Aktion Studio</h1>
  <p class="lede">Lay out characters, sketches, photos, shots and scenes as nodes on one board,
  wire them, and run them. Generated results are kept, so nothing is paid for twice.</p>
  <form method="post" action="/v1/beta-signups">
    <label class="sr" for="email">Email</label>
    <input id="email" name="email" type="email" required autocomplete="email" placeholder="you@studio.com">
    <button type="submit">JOIN BETA</button>
  </form>
  {notice}
  <footer>A native desktop app for Linux, macOS and Windows.</footer>
</main>
</body>
</html>
"#;

/// The background clip.
pub(super) async fn clip() -> Response {
    let mut response = CLIP.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

/// JOIN BETA. JSON gets `202` with the same message for a new and a known email; the landing
/// page's form (no JavaScript) is redirected back to the page with a notice.
#[utoipa::path(post, path = "/v1/beta-signups", tag = "site",
    request_body(content = BetaSignup, description = "JSON, or the form field `email` (application/x-www-form-urlencoded)"),
    responses((status = 202, body = BetaSignupAccepted),
        (status = 303, description = "form posts: back to the landing page"),
        (status = 400, body = ErrorBody)))]
pub(super) async fn beta_signup(State(state): State<AppState>, req: Request) -> Response {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let email = match Form::<BetaSignup>::from_request(req, &state).await {
            Ok(Form(body)) => body.email,
            Err(_) => return Redirect::to("/?error=email").into_response(),
        };
        // A form field as typed: surrounding spaces are the browser's, not the address's.
        return match beta::sign_up(&state.db, email.trim()).await {
            Ok(_) => {
                state.metrics.beta_signup();
                Redirect::to("/?joined=1").into_response()
            }
            Err(ApiError::BadRequest { .. }) => Redirect::to("/?error=email").into_response(),
            Err(e) => e.into_response(),
        };
    }
    let key = match idempotency::key_from(req.headers()) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let body = match ApiJson::<BetaSignup>::from_request(req, &state).await {
        Ok(ApiJson(body)) => body,
        Err(e) => return e.into_response(),
    };
    // The answer is the same for everybody and every email, so one anonymous scope is safe.
    let request =
        serde_json::json!({"op": "beta-signup", "email": body.email.trim().to_lowercase()});
    let answered = idempotency::run(
        &state.db,
        "anonymous:beta",
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            beta::sign_up(&state.db, &body.email).await?;
            state.metrics.beta_signup();
            let accepted = BetaSignupAccepted {
                message: "Thanks — you're on the list.".to_owned(),
            };
            let value = serde_json::to_value(&accepted)
                .map_err(|e| ApiError::Internal(format!("serialise answer: {e}")))?;
            Ok((StatusCode::ACCEPTED, value))
        },
    )
    .await;
    answered.unwrap_or_else(IntoResponse::into_response)
}

/// Every beta sign-up (admin only).
#[utoipa::path(get, path = "/v1/admin/beta-signups", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = BetaSignupList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub(super) async fn admin_beta_signups(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<BetaSignupList>, ApiError> {
    Ok(Json(BetaSignupList {
        signups: beta::list(&state.db).await?,
    }))
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "site",
    responses((status = 200, body = Health), (status = 500, body = ErrorBody)))]
pub(super) async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&state.db.pool)
        .await?;
    Ok(Json(Health {
        status: if one == 1 { "ok" } else { "degraded" }.to_owned(),
        database: state.db.kind.name().to_owned(),
    }))
}

/// Prometheus metrics (OpenMetrics text). With `AKTION_METRICS_TOKEN` set, only for
/// `Authorization: Bearer <that token>`.
#[utoipa::path(get, path = "/metrics", tag = "site",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"),
        (status = 401, description = "AKTION_METRICS_TOKEN is set and was not given", body = ErrorBody)))]
pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(expected) = &state.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as hashes: the time taken says nothing about the token.
        if blake3::hash(given.as_bytes()) != blake3::hash(expected.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    let mut response = state.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}

/// The served document.
#[derive(Clone)]
pub(super) struct OpenApiText(pub Arc<String>);

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "site",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub(super) async fn openapi_json(Extension(OpenApiText(doc)): Extension<OpenApiText>) -> Response {
    let mut response = doc.as_str().to_owned().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
