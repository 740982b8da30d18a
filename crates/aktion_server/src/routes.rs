//! HTTP routes, extractors and handlers.

use std::net::{IpAddr, SocketAddr};

use aktion_api::{
    Credentials, DataSharingStatus, DataSharingUpdate, GrantRequest, GrantResponse, Health,
    LedgerPage, LedgerQuery, LoggedOut, Me, Pricing, SessionResponse,
};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;

use crate::auth::{self, User};
use crate::db::now_ms;
use crate::{ApiError, AppState, idempotency, ledger, pricing};

/// The router of the whole API. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so login limits also count per IP.
pub fn app(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/auth/register", post(register))
        .route("/v1/auth/login", post(login))
        .route("/v1/auth/logout", post(logout))
        .route("/v1/me", get(me))
        .route(
            "/v1/me/data-sharing",
            get(data_sharing).put(set_data_sharing),
        )
        .route("/v1/pricing", get(get_pricing))
        .route("/v1/ledger", get(get_ledger))
        .route("/v1/admin/credits/grant", post(admin_grant))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(limit))
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
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let limit = u64::try_from(state.config.max_body_bytes).unwrap_or(u64::MAX);
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::PayloadTooLarge);
        }
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// The signed-in user of `Authorization: Bearer <token>`, or 401.
pub struct AuthUser {
    pub user: User,
    token: String,
}

fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
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

/// The peer's IP when the server was started with connect info.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

fn me_of(user: &User) -> Me {
    Me {
        email: user.email.clone(),
        balance: user.balance,
        is_admin: user.is_admin,
        data_sharing: DataSharingStatus {
            opt_in: user.data_sharing_opt_in,
            opted_in_at: user.data_sharing_opted_in_at,
        },
    }
}

async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let one: i64 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&state.db.pool)
        .await?;
    Ok(Json(Health {
        status: if one == 1 { "ok" } else { "degraded" }.to_owned(),
        database: state.db.kind.name().to_owned(),
    }))
}

async fn session_response(state: &AppState, user: &User) -> Result<SessionResponse, ApiError> {
    let (token, expires_at) =
        auth::create_session(&state.db, user.id, state.config.session_ttl).await?;
    Ok(SessionResponse {
        token,
        expires_at,
        user: me_of(user),
    })
}

// Register and login answer with a fresh token and so do not store their answers for
// Idempotency-Key replay (the token would sit in the database in clear); a retried
// register gets 409 `email_taken` and the client logs in.
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let user = auth::create_user(
        &state.db,
        &body.email,
        &body.password,
        false,
        state.config.starter_grant,
        state.config.password_cost,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(session_response(&state, &user).await?),
    ))
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<SessionResponse>, ApiError> {
    state.limiter.check(&body.email, ip)?;
    let Some(user) = auth::authenticate(
        &state.db,
        &body.email,
        &body.password,
        state.config.password_cost,
    )
    .await?
    else {
        state.limiter.failed(&body.email, ip);
        return Err(ApiError::BadCredentials);
    };
    state.limiter.succeeded(&body.email);
    Ok(Json(session_response(&state, &user).await?))
}

async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<LoggedOut>, ApiError> {
    auth::delete_session(&state.db, &auth.token).await?;
    Ok(Json(LoggedOut { logged_out: true }))
}

async fn me(auth: AuthUser) -> Json<Me> {
    Json(me_of(&auth.user))
}

async fn data_sharing(auth: AuthUser) -> Json<DataSharingStatus> {
    Json(me_of(&auth.user).data_sharing)
}

async fn set_data_sharing(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DataSharingUpdate>,
) -> Result<axum::response::Response, ApiError> {
    let key = idempotency::key_from(&headers)?;
    let scope = format!("user:{}", auth.user.id);
    let request = serde_json::json!({"op": "data-sharing", "opt_in": body.opt_in});
    idempotency::run(&state.db, &scope, key.as_deref(), &request, || async {
        // Opting in again keeps the first opt-in time; opting out clears it.
        sqlx::query(
            "UPDATE users SET data_sharing_opt_in = $1, data_sharing_opted_in_at = \
             CASE WHEN $1 = 0 THEN NULL ELSE COALESCE(data_sharing_opted_in_at, $2) END \
             WHERE id = $3",
        )
        .bind(i64::from(body.opt_in))
        .bind(now_ms())
        .bind(auth.user.id)
        .execute(&state.db.pool)
        .await?;
        let user = auth::user_by_id(&state.db, auth.user.id).await?;
        let status = me_of(&user).data_sharing;
        Ok((StatusCode::OK, to_value(&status)?))
    })
    .await
}

async fn get_pricing(MaybeUser(user): MaybeUser) -> Json<Pricing> {
    Json(pricing::pricing(
        user.is_some_and(|u| u.data_sharing_opt_in),
    ))
}

async fn get_ledger(
    State(state): State<AppState>,
    auth: AuthUser,
    query: Result<axum::extract::Query<LedgerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<LedgerPage>, ApiError> {
    let axum::extract::Query(query) = query?;
    if query.limit.is_some_and(|l| l == 0 || l > 200) {
        return Err(ApiError::invalid_field("limit", "1-200"));
    }
    Ok(Json(
        ledger::ledger_page(
            &state.db,
            auth.user.id,
            query.limit.unwrap_or(50),
            query.before,
        )
        .await?,
    ))
}

async fn admin_grant(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(body): ApiJson<GrantRequest>,
) -> Result<axum::response::Response, ApiError> {
    if !auth.user.is_admin {
        return Err(ApiError::Forbidden);
    }
    if body.credits <= 0 || body.credits > 1_000_000_000 {
        return Err(ApiError::invalid_field("credits", "1 to 1,000,000,000"));
    }
    let key = idempotency::key_from(&headers)?;
    let scope = format!("user:{}", auth.user.id);
    let request = serde_json::to_value(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    let op_key = key.as_ref().map(|k| format!("admin:{}:{k}", auth.user.id));
    idempotency::run(&state.db, &scope, key.as_deref(), &request, || async {
        let target = auth::user_by_email(&state.db, &body.email)
            .await?
            .ok_or(ApiError::NotFound("user"))?;
        let reason = body
            .reason
            .clone()
            .unwrap_or_else(|| format!("granted by {}", auth.user.email));
        let granted = ledger::grant(
            &state.db,
            target.id,
            body.credits,
            &reason,
            op_key.as_deref(),
        )
        .await?;
        let answer = GrantResponse {
            email: target.email,
            balance: granted.balance,
            entry_id: granted.entry_id,
        };
        Ok((StatusCode::OK, to_value(&answer)?))
    })
    .await
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(format!("serialise answer: {e}")))
}
