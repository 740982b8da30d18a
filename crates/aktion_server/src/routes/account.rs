//! Accounts, sessions, data-sharing status, pricing, the ledger and admin grants.

use aktion_api::{
    Credentials, DataSharingStatus, DataSharingUpdate, ErrorBody, GrantRequest, GrantResponse,
    LedgerPage, LedgerQuery, LoggedOut, Me, Pricing, SessionResponse,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{
    AdminUser, ApiJson, ApiQuery, AuthUser, ClientIp, IdempotencyKey, MaybeUser, page_limit,
    to_value,
};
use crate::auth::{self, User};
use crate::db::now_ms;
use crate::{ApiError, AppState, idempotency, ledger, limits, pricing};

pub(super) fn me_of(user: &User) -> Me {
    Me {
        email: user.email.clone(),
        balance: user.balance,
        is_admin: user.is_admin,
        data_sharing: DataSharingStatus {
            opt_in: user.data_sharing_opt_in,
            opted_in_at: user.data_sharing_opted_in_at,
        },
        email_verified: user.email_verified,
        generation_mails: user.notify_generation_finished,
        debt: user.debt,
    }
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
/// Create an account; answers with a session token and mails a verification link (the
/// starter grant is paid when the address is confirmed). With `AKTION_INVITE_ONLY=1` only
/// invited beta sign-ups may register.
#[utoipa::path(post, path = "/v1/auth/register", tag = "accounts",
    request_body(content = Credentials, description = "a password of at least 12 characters"),
    responses((status = 201, body = SessionResponse), (status = 400, body = ErrorBody),
        (status = 403, description = "invite-only and this address was not invited", body = ErrorBody),
        (status = 409, description = "email taken (the owner is told by mail)", body = ErrorBody),
        (status = 422, description = "a password attackers try first (`weak_password`: breached, repeated or consecutive characters, or the email address)", body = ErrorBody),
        (status = 429, description = "too many registrations from this address or in all; see Retry-After", body = ErrorBody),
        (status = 503, description = "too many password checks at once; see Retry-After", body = ErrorBody)))]
pub(super) async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    // Cheap checks first; the Argon2 hash (19 MiB, tens of ms) only for a request that can
    // succeed, and only within the hashing gate.
    let email = auth::normalize_email(&body.email)?;
    auth::check_new_password(&body.password, Some(&email))?;
    let limits = &state.config.limits;
    let hour = std::time::Duration::from_secs(3600);
    if let Some(ip) = ip {
        let key = auth::token_hash(&format!("register:{}", limits::address_key(ip)));
        limits::hit_window(&state.db, &key, limits.register_per_address, hour).await?;
    }
    limits::hit_window(&state.db, "register:all", limits.register_per_hour, hour).await?;
    if let Some(owner) = auth::user_by_email(&state.db, &email).await? {
        // The owner hears of it (once a day); the caller learns no more than the limits allow.
        if !owner.disabled {
            crate::accounts::registration_attempted(&state, &owner).await?;
        }
        return Err(ApiError::EmailTaken);
    }
    if state.config.invite_only && !crate::beta::is_invited(&state.db, &email).await? {
        return Err(ApiError::InvitationRequired);
    }
    let hash = {
        let _slot = state.gates.hashing.enter().await?;
        auth::hash_password(body.password, state.config.password_cost).await?
    };
    // The account and its verification mail commit together; the starter grant waits for
    // the address to be confirmed.
    let mut tx = state.db.begin_write().await?;
    let id = auth::insert_user_in(
        &mut tx,
        &auth::NewUser {
            email: &email,
            password_hash: &hash,
            is_admin: false,
            starter_grant: state.config.starter_grant,
            daily_budget: Some(limits.starter_grant_daily_budget),
            verified: false,
        },
    )
    .await?;
    crate::accounts::start_verification(&mut tx, &crate::mail::Links::of(&state), id, &email)
        .await?;
    tx.commit().await?;
    let user = auth::user_by_id(&state.db, id).await?;
    Ok((
        StatusCode::CREATED,
        Json(session_response(&state, &user).await?),
    ))
}

/// Sign in; answers with a session token. Rate-limited per email and per IP.
#[utoipa::path(post, path = "/v1/auth/login", tag = "accounts", request_body = Credentials,
    responses((status = 200, body = SessionResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "the account is disabled", body = ErrorBody),
        (status = 429, description = "too many attempts for this email or from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "too many password checks at once; see Retry-After", body = ErrorBody)))]
pub(super) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<SessionResponse>, ApiError> {
    // The document's shape first (nothing to count for what cannot be an account)…
    auth::normalize_email(&body.email)?;
    auth::check_password(&body.password)?;
    // …then counted before the password is checked: parallel guesses cannot all pass.
    state.limiter.attempt(&state.db, &body.email, ip).await?;
    let found = {
        let _slot = state.gates.hashing.enter().await?;
        auth::authenticate(
            &state.db,
            &body.email,
            &body.password,
            state.config.password_cost,
        )
        .await?
    };
    let Some(user) = found else {
        return Err(ApiError::BadCredentials);
    };
    state.limiter.succeeded(&state.db, &body.email, ip).await?;
    Ok(Json(session_response(&state, &user).await?))
}

/// End this session (the token stops working).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = LoggedOut), (status = 401, body = ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // The session is checked inside the keyed operation: a retry of a logout that went
    // through replays its answer although the token no longer works.
    let token = super::bearer_of(&headers)?.ok_or(ApiError::Unauthorized)?;
    let scope = format!("session:{}", auth::token_hash(&token));
    let request = serde_json::json!({"op": "logout"});
    idempotency::run(
        &state.db,
        &scope,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            if !auth::delete_session(&state.db, &token).await? {
                return Err(ApiError::Unauthorized);
            }
            Ok((StatusCode::OK, to_value(&LoggedOut { logged_out: true })?))
        },
    )
    .await
}

/// Email, credit balance, admin flag and data-sharing status.
#[utoipa::path(get, path = "/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(super) async fn me(auth: AuthUser) -> Json<Me> {
    Json(me_of(&auth.user))
}

/// Training-data sharing status and opt-in time.
#[utoipa::path(get, path = "/v1/me/data-sharing", tag = "training data", security(("bearer" = [])),
    responses((status = 200, body = DataSharingStatus), (status = 401, body = ErrorBody)))]
pub(super) async fn data_sharing(auth: AuthUser) -> Json<DataSharingStatus> {
    Json(me_of(&auth.user).data_sharing)
}

/// Opt in to or out of training-data sharing; takes effect at once.
#[utoipa::path(put, path = "/v1/me/data-sharing", tag = "training data", security(("bearer" = [])),
    request_body = DataSharingUpdate,
    responses((status = 200, body = DataSharingStatus), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn set_data_sharing(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<DataSharingUpdate>,
) -> Result<Response, ApiError> {
    let request = serde_json::json!({"op": "data-sharing", "opt_in": body.opt_in});
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            // Opting in again keeps the first opt-in time; opting out clears it.
            sqlx::query(
                "UPDATE users SET data_sharing_opt_in = $1, data_sharing_opted_in_at = \
             CASE WHEN $1 = 0 THEN NULL ELSE COALESCE(data_sharing_opted_in_at, $2) END \
             WHERE id = $3",
            )
            .bind(i64::from(body.opt_in))
            .bind(now_ms())
            .bind(auth.user.id)
            .execute(state.db.writer())
            .await?;
            let user = auth::user_by_id(&state.db, auth.user.id).await?;
            // The membership's discount follows: on now, or off from the next renewal.
            let sync = state.clone();
            tokio::spawn(async move {
                crate::billing::sync_member_discount(&sync, user.id, body.opt_in).await;
            });
            Ok((StatusCode::OK, me_of(&user).data_sharing))
        },
    )
    .await
}

/// Credits per node kind with typical durations, and the caller's membership discount.
#[utoipa::path(get, path = "/v1/pricing", tag = "credits",
    responses((status = 200, body = Pricing), (status = 401, body = ErrorBody)))]
pub(super) async fn get_pricing(MaybeUser(user): MaybeUser) -> Json<Pricing> {
    Json(pricing::pricing(
        user.is_some_and(|u| u.data_sharing_opt_in),
    ))
}

/// The caller's ledger entries, newest first.
#[utoipa::path(get, path = "/v1/ledger", tag = "credits", security(("bearer" = [])),
    params(LedgerQuery),
    responses((status = 200, body = LedgerPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(super) async fn get_ledger(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<LedgerPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    Ok(Json(
        ledger::ledger_page(&state.db, auth.user.id, limit, query.before).await?,
    ))
}

/// Longest reason of an admin grant.
pub(crate) const GRANT_REASON_MAX: usize = 200;

/// Add credits to an account (admin only).
#[utoipa::path(post, path = "/v1/admin/credits/grant", tag = "admin", security(("bearer" = [])),
    request_body = GrantRequest,
    responses((status = 200, body = GrantResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(super) async fn admin_grant(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<GrantRequest>,
) -> Result<Response, ApiError> {
    if body.credits <= 0 || body.credits > 1_000_000_000 {
        return Err(ApiError::invalid_field("credits", "1 to 1,000,000,000"));
    }
    auth::normalize_email(&body.email)?;
    if let Some(reason) = &body.reason {
        auth::check_text("reason", reason, GRANT_REASON_MAX)?;
    }
    let request = to_value(&body)?;
    let op_key = key.as_ref().map(|k| format!("admin:{}:{k}", admin.id));
    idempotency::run_for_user(
        &state.db,
        admin.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let target = auth::user_by_email(&state.db, &body.email)
                .await?
                .ok_or(ApiError::NotFound("user"))?;
            let reason = body
                .reason
                .clone()
                .unwrap_or_else(|| format!("granted by {}", admin.email));
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
            Ok((StatusCode::OK, answer))
        },
    )
    .await
}
