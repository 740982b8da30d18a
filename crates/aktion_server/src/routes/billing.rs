//! Billing over HTTP (PRODUCT.md §5.6): Checkout and the Customer Portal for the app (which
//! opens the returned URL in the browser), the caller's billing status, and Stripe's webhook.

use aktion_api::{BillingStatus, CheckoutRequest, ErrorBody, HostedPage, WebhookReceived};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::{ApiJson, AuthUser, IdempotencyKey};
use crate::{ApiError, AppState, billing, idempotency};

/// Longest `item` of a checkout request.
pub(crate) const ITEM_MAX: usize = 255;

/// A Stripe Checkout session for a credit pack or the membership; open its URL in a browser.
/// The data-sharing member's 10 % coupon is on membership checkouts.
#[utoipa::path(post, path = "/v1/billing/checkout", tag = "billing", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses((status = 200, body = HostedPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 503, description = "billing is not set up here, or Stripe cannot be reached", body = ErrorBody)))]
pub(super) async fn checkout(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<CheckoutRequest>,
) -> Result<Response, ApiError> {
    crate::auth::check_text("item", &body.item, ITEM_MAX)?;
    let request = json!({"op": "checkout", "item": body.item});
    idempotency::run_for_user(
        &state.db,
        auth.user.id,
        key.as_deref(),
        &request,
        idempotency::Rerun::Safe,
        || async {
            let url = billing::checkout(&state, &auth.user, &body.item, key.as_deref()).await?;
            Ok((StatusCode::OK, HostedPage { url }))
        },
    )
    .await
}

/// A Stripe Customer Portal session (cards, invoices, cancelling).
#[utoipa::path(post, path = "/v1/billing/portal", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = HostedPage), (status = 401, body = ErrorBody),
        (status = 503, description = "billing is not set up here, or Stripe cannot be reached", body = ErrorBody)))]
pub(super) async fn portal(
    State(state): State<AppState>,
    auth: AuthUser,
    IdempotencyKey(_key): IdempotencyKey,
) -> Result<Json<HostedPage>, ApiError> {
    // A portal session is short-lived and harmless to make twice.
    let url = billing::portal(&state, &auth.user).await?;
    Ok(Json(HostedPage { url }))
}

/// Membership, renewal, discount, packs on sale, debt and purchases.
#[utoipa::path(get, path = "/v1/billing", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = BillingStatus), (status = 401, body = ErrorBody),
        (status = 503, description = "billing is not set up here", body = ErrorBody)))]
pub(super) async fn status(
    State(state): State<AppState>,
    auth: AuthUser,
) -> Result<Json<BillingStatus>, ApiError> {
    Ok(Json(billing::status(&state, &auth.user).await?))
}

/// Stripe's webhook: unauthenticated, accepted only with a valid `Stripe-Signature`. Each
/// event is applied once by id, in effect order.
#[utoipa::path(post, path = "/v1/billing/webhook", tag = "billing",
    request_body(content = String, description = "a Stripe event, signed", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    responses((status = 200, body = WebhookReceived),
        (status = 400, description = "bad signature or malformed event; nothing applied", body = ErrorBody),
        (status = 503, description = "billing is not set up here", body = ErrorBody)))]
pub(super) async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookReceived>, ApiError> {
    let Some(cfg) = state.config.billing.as_ref() else {
        return Err(ApiError::Unavailable(
            "billing is not set up on this server".to_owned(),
        ));
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = crate::db::now_ms() / 1000;
    if let Err(e) = billing::verify_signature(&body, header, &cfg.webhook_secrets, now) {
        tracing::warn!("Stripe webhook refused: {e}");
        return Err(ApiError::bad_request("bad_signature", e.to_string()));
    }
    let duplicate = billing::receive(&state, &body).await?;
    Ok(Json(WebhookReceived {
        received: true,
        duplicate,
    }))
}

/// Where Checkout and the Portal send the browser back.
pub(super) async fn done_page() -> Response {
    super::lifecycle::page(
        StatusCode::OK,
        "Thank you",
        "<p>Your payment is being confirmed. Go back to Aktion Studio: your balance and \
         membership update there within moments.</p>",
    )
}

pub(super) async fn cancelled_page() -> Response {
    super::lifecycle::page(
        StatusCode::OK,
        "Nothing was charged",
        "<p>The checkout was cancelled. Go back to Aktion Studio whenever you like.</p>",
    )
}
