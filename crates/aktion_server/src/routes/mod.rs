//! HTTP routes, extractors and handlers. Every route is registered through utoipa-axum's
//! `OpenApiRouter`, which adds the route and its `/openapi.json` entry in one call, so the
//! served routes and the document cannot drift apart (a test checks both directions).

mod account;
mod admin;
mod billing;
mod contract;
mod feedback;
mod generations;
mod lifecycle;
mod site;
mod training;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{self, User};
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aktion Studio account API",
        description = "Accounts, credits, the generation proxy, training-data sharing and beta sign-ups (PRODUCT.md §5)."
    ),
    modifiers(&BearerAuth),
    components(schemas(aktion_api::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The routes and their OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(site::landing))
        .routes(routes!(site::healthz))
        .routes(routes!(site::metrics))
        .routes(routes!(site::beta_signup))
        .routes(routes!(site::admin_beta_signups))
        .routes(routes!(account::register))
        .routes(routes!(account::login))
        .routes(routes!(account::logout))
        .routes(routes!(account::me, lifecycle::delete_me))
        .routes(routes!(lifecycle::verify_email))
        .routes(routes!(lifecycle::resend_verification))
        .routes(routes!(lifecycle::password_reset))
        .routes(routes!(lifecycle::password_reset_confirm))
        .routes(routes!(lifecycle::change_password))
        .routes(routes!(lifecycle::logout_all))
        .routes(routes!(
            lifecycle::email_preferences,
            lifecycle::set_email_preferences
        ))
        .routes(routes!(lifecycle::admin_invite))
        .routes(routes!(billing::checkout))
        .routes(routes!(billing::portal))
        .routes(routes!(billing::status))
        .routes(routes!(billing::webhook))
        .routes(routes!(feedback::report))
        .routes(routes!(account::data_sharing, account::set_data_sharing))
        .routes(routes!(account::get_pricing))
        .routes(routes!(account::get_ledger))
        .routes(routes!(account::admin_grant))
        .routes(routes!(generations::put_blob, generations::get_blob))
        .routes(routes!(generations::signed_blob))
        .routes(routes!(generations::create))
        .routes(routes!(generations::status))
        .routes(routes!(generations::events))
        .routes(routes!(generations::cancel))
        .routes(routes!(generations::rate))
        .routes(routes!(training::shared_data, training::delete_shared_data))
        .routes(routes!(training::submit))
        .routes(routes!(training::rate_shared))
        .routes(routes!(training::stats))
        .routes(routes!(training::admin_export))
        .routes(routes!(site::openapi_json))
        .split_for_parts()
}

/// The OpenAPI document of the served routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The router of the whole API. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so login limits also count per IP.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let (router, doc) = api();
    let mut exact = contract::exact(&doc);
    contract::checkout_items(&mut exact, state.config.billing.as_ref());
    let doc = Arc::new(serde_json::to_string_pretty(&exact).unwrap_or_else(|_| "{}".to_owned()));
    router
        // The landing page's looping background clip.
        .route("/landing/clip.gif", get(site::clip))
        // The admin dashboard (server-rendered, no JavaScript).
        .route("/admin", get(admin::overview))
        .route(
            "/admin/login",
            get(admin::login_page).post(admin::login_submit),
        )
        .route("/admin/logout", axum::routing::post(admin::logout_submit))
        .route("/admin/users", get(admin::users))
        .route(
            "/admin/users/grant",
            axum::routing::post(admin::grant_submit),
        )
        .route(
            "/admin/users/access",
            axum::routing::post(admin::access_submit),
        )
        .route("/admin/signups", get(admin::signups))
        .route(
            "/admin/signups/invite",
            axum::routing::post(admin::invite_submit),
        )
        .route("/admin/generations", get(admin::generations))
        .route("/admin/credits", get(admin::credits))
        .route("/admin/revenue", get(admin::revenue))
        .route("/admin/training", get(admin::training_page))
        .route(
            "/admin/training/export",
            axum::routing::post(admin::export_submit),
        )
        .route("/admin/exports/{id}/download", get(admin::export_download))
        .route("/admin/reports", get(admin::reports))
        .route("/billing/done", get(billing::done_page))
        .route("/billing/cancelled", get(billing::cancelled_page))
        // Pages the mailed links open (HTML forms, no JavaScript).
        .route("/account/verify", get(lifecycle::verify_page))
        .route(
            "/account/reset",
            get(lifecycle::reset_page).post(lifecycle::reset_submit),
        )
        .route(
            "/account/reset-request",
            axum::routing::post(lifecycle::reset_request_submit),
        )
        .route(
            "/account/unsubscribe",
            get(lifecycle::unsubscribe_page).post(lifecycle::unsubscribe_submit),
        )
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::Extension(site::OpenApiText(doc)))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::guard,
        ))
        .with_state(state)
}

/// `axum::Json` whose rejections are [`ApiError`]s (JSON bodies, 4xx).
pub struct ApiJson<T>(pub T);

impl<T> FromRequest<AppState> for ApiJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Refuse a declared oversized body at once instead of reading up to the limit first
        // (and waiting for a slow client to send it).
        let limit = u64::try_from(state.config.max_body_bytes).unwrap_or(u64::MAX);
        if declared_length(req.headers()).is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge);
        }
        let Json(mut value) = Json::<serde_json::Value>::from_request(req, state).await?;
        integral_floats_as_integers(&mut value);
        let value = serde_json::from_value::<T>(value).map_err(|e| {
            ApiError::bad_request(
                "invalid_request",
                format!("Failed to deserialize the JSON body into the target type: {e}"),
            )
        })?;
        Ok(Self(value))
    }
}

/// `2.0` is the integer 2 in JSON Schema (and so in the document): numbers with no fraction
/// become integers before the body is read into its type.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "integral and within ±9e15, exactly representable"
                )]
                let i = f as i64;
                *value = serde_json::Value::from(i);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The signed-in user of `Authorization: Bearer <token>`, or 401.
pub struct AuthUser {
    pub user: User,
    token: String,
}

fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
    bearer_of(&parts.headers)
}

/// The token of `Authorization: Bearer <token>`; `None` without the header, 401 when it is
/// malformed.
fn bearer_of(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or(ApiError::Unauthorized)?;
    Ok(Some(token.to_owned()))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?.ok_or(ApiError::Unauthorized)?;
        let user = auth::session_user(&state.db, &token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(Self { user, token })
    }
}

/// An admin, or 401 (not signed in) / 403 (signed in without the admin role).
pub struct AdminUser(pub User);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?.user;
        if user.is_admin {
            Ok(Self(user))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// Like [`AuthUser`] but optional: no header is `None`, a bad token is still 401.
pub struct MaybeUser(pub Option<User>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts)?.is_none() {
            return Ok(Self(None));
        }
        Ok(Self(Some(
            AuthUser::from_request_parts(parts, state).await?.user,
        )))
    }
}

/// The request's `Idempotency-Key`, if it sent one (400 when malformed).
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        crate::idempotency::key_from(&parts.headers).map(Self)
    }
}

/// The client's address when the server was started with connect info: the peer's, or with a
/// trusted proxy in front (`AKTION_TRUSTED_PROXIES`) the one it forwarded.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(
            |ConnectInfo(addr)| {
                state
                    .config
                    .limits
                    .trusted_proxies
                    .client(addr.ip(), &parts.headers)
            },
        )))
    }
}

/// A query string parsed into `T`, with rejections as [`ApiError`]s.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `limit` of a paginated list: 1–200, 50 when absent.
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        Some(l) if l == 0 || l > 200 => Err(ApiError::invalid_field("limit", "1-200")),
        Some(l) => Ok(l),
        None => Ok(50),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(format!("serialise answer: {e}")))
}
