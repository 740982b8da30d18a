//! Billing through Stripe (PRODUCT.md §5.6): Checkout sessions for credit packs and the monthly
//! membership, the Customer Portal, and the webhook that alone grants credits and changes
//! memberships.
//!
//! Stripe's REST API is spoken as documented: form-encoded bodies with bracketed keys, an
//! `Idempotency-Key` on every POST, the API version pinned by `Stripe-Version`. Webhooks are
//! verified as Stripe documents (`Stripe-Signature: t=…,v1=…`, HMAC-SHA256 of `t.payload` with
//! the endpoint secret, constant-time compare, five minutes of tolerance, any of several `v1`
//! signatures and any of several configured secrets during a rotation). Each event is stored
//! by id in the transaction that applies it, so a repeat changes nothing; an event that depends
//! on one not yet received (a refund before its checkout) waits and is applied when that one
//! lands, so the effect follows the order things happened in, not the order of delivery.
//! Refunds and disputes take credits back (`clawback` ledger entries); what the balance cannot
//! cover becomes debt, which blocks new reservations until a purchase pays it.

use std::time::Duration;

use aktion_api::{BillingStatus, CreditPack, MembershipStatus, PurchaseEntry};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use sqlx::{Any, Transaction};

use crate::auth::User;
use crate::db::now_ms;
use crate::mail::{self, Links, Mail, To};
use crate::{ApiError, AppState, ledger};

/// The Stripe API version every request pins (the shapes below are this version's).
pub const STRIPE_API_VERSION: &str = "2024-06-20";
/// How far a webhook's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;
/// The data-sharing member's discount on the membership.
pub const MEMBER_DISCOUNT_PERCENT: u32 = 10;
/// `item` of the membership at checkout.
pub const MEMBERSHIP_ITEM: &str = "membership";

/// A credit pack: a one-time Stripe price and the credits it buys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pack {
    pub price: String,
    pub credits: i64,
}

/// Stripe settings (`STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET`, `AKTION_STRIPE_BASE_URL`,
/// prices by configuration). Without them billing answers 503.
#[derive(Clone)]
pub struct BillingConfig {
    pub secret_key: String,
    /// Endpoint secrets (`whsec_…`); several while one is being rotated.
    pub webhook_secrets: Vec<String>,
    /// `https://api.stripe.com`, or a stand-in in tests.
    pub base_url: String,
    /// The monthly membership's recurring price (`STRIPE_MEMBERSHIP_PRICE`).
    pub membership_price: Option<String>,
    /// Credits each paid membership month grants (`STRIPE_MEMBERSHIP_CREDITS`).
    pub membership_credits: i64,
    /// `STRIPE_CREDIT_PACKS`: `price_…:500,price_…:1200`.
    pub packs: Vec<Pack>,
    /// The 10 % coupon (`STRIPE_MEMBER_COUPON`); made through the API when missing.
    pub coupon: String,
}

impl std::fmt::Debug for BillingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingConfig")
            .field("secret_key", &"[redacted]")
            .field(
                "webhook_secrets",
                &format!("[{} redacted]", self.webhook_secrets.len()),
            )
            .field("base_url", &self.base_url)
            .field("membership_price", &self.membership_price)
            .field("membership_credits", &self.membership_credits)
            .field("packs", &self.packs)
            .field("coupon", &self.coupon)
            .finish()
    }
}

impl BillingConfig {
    /// Parses `STRIPE_CREDIT_PACKS` (`price:credits` pairs, comma-separated).
    pub fn parse_packs(text: &str) -> Result<Vec<Pack>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (price, credits) = pair
                    .split_once(':')
                    .ok_or_else(|| format!("STRIPE_CREDIT_PACKS: {pair:?} is not price:credits"))?;
                let credits: i64 = credits
                    .trim()
                    .parse()
                    .ok()
                    .filter(|c| (1..=10_000_000).contains(c))
                    .ok_or_else(|| format!("STRIPE_CREDIT_PACKS: bad credits in {pair:?}"))?;
                Ok(Pack {
                    price: price.trim().to_owned(),
                    credits,
                })
            })
            .collect()
    }
}

fn config(state: &AppState) -> Result<&BillingConfig, ApiError> {
    state.config.billing.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "billing is not set up on this server (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET); \
             everything else works"
                .to_owned(),
        )
    })
}

// ---- Webhook signatures -----------------------------------------------------------------

/// Why a `Stripe-Signature` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("the signature's timestamp is more than five minutes from now")]
    Expired,
    #[error("no signature matches")]
    Mismatch,
}

fn hmac_hex(secret: &str, timestamp: &str, payload: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize()
        .into_bytes()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            use std::fmt::Write as _;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Checks a `Stripe-Signature` header against `payload` (the raw body) as Stripe documents it.
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secrets: &[String],
    now_secs: i64,
) -> Result<(), SignatureError> {
    if header.len() > 4096 {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let at: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if (now_secs - at).abs() > SIGNATURE_TOLERANCE_SECS {
        return Err(SignatureError::Expired);
    }
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let expected = hmac_hex(secret, t, payload);
        if signatures
            .iter()
            .any(|s| crate::auth::same_secret(s.as_bytes(), expected.as_bytes()))
        {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

// ---- Stripe's REST API ------------------------------------------------------------------

/// Calls Stripe (form-encoded, idempotent POSTs, the pinned version).
async fn stripe(
    state: &AppState,
    method: reqwest::Method,
    path: &str,
    params: &[(String, String)],
    idempotency_key: &str,
) -> Result<Value, ApiError> {
    let cfg = config(state)?;
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut request = state
        .http
        .request(
            method.clone(),
            format!("{}{path}", cfg.base_url.trim_end_matches('/')),
        )
        .bearer_auth(&cfg.secret_key)
        .header("Stripe-Version", STRIPE_API_VERSION)
        .timeout(Duration::from_secs(30));
    if method == reqwest::Method::POST {
        request = request
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
    }
    let response = request.send().await.map_err(|e| {
        tracing::warn!("Stripe {path}: {e}");
        ApiError::Unavailable("the payment service cannot be reached; try again".to_owned())
    })?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| {
        ApiError::Unavailable(format!("the payment service's answer broke off: {e}"))
    })?;
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let message = value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let code = value
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    tracing::warn!("Stripe {path} answered {status}: {code} {message}");
    Err(ApiError::Unavailable(format!(
        "the payment service refused ({status}{}): {message}",
        if code.is_empty() {
            String::new()
        } else {
            format!(", {code}")
        }
    )))
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "call sites pass literals, numbers and strings alike"
)]
fn p(key: &str, value: impl ToString) -> (String, String) {
    (key.to_owned(), value.to_string())
}

/// The user's Stripe customer, made on first use (one per account, whatever the retries).
async fn customer(state: &AppState, user: &User) -> Result<String, ApiError> {
    let known: Option<String> =
        sqlx::query_scalar("SELECT customer_id FROM billing_customers WHERE user_id = $1")
            .bind(user.id)
            .fetch_optional(&state.db.pool)
            .await?;
    if let Some(id) = known {
        return Ok(id);
    }
    let made = stripe(
        state,
        reqwest::Method::POST,
        "/v1/customers",
        &[p("email", &user.email), p("metadata[user_id]", user.id)],
        &format!("aktion-customer-{}", user.id),
    )
    .await?;
    let id = made
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::Unavailable("the payment service answered without an id".into()))?
        .to_owned();
    sqlx::query(
        "INSERT INTO billing_customers (user_id, customer_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user.id)
    .bind(&id)
    .bind(now_ms())
    .execute(state.db.writer())
    .await?;
    let stored: String =
        sqlx::query_scalar("SELECT customer_id FROM billing_customers WHERE user_id = $1")
            .bind(user.id)
            .fetch_one(&state.db.pool)
            .await?;
    Ok(stored)
}

/// Makes sure the member coupon exists (10 % off, forever).
async fn ensure_coupon(state: &AppState) -> Result<String, ApiError> {
    let cfg = config(state)?;
    let made = stripe(
        state,
        reqwest::Method::POST,
        "/v1/coupons",
        &[
            p("id", &cfg.coupon),
            p("percent_off", MEMBER_DISCOUNT_PERCENT),
            p("duration", "forever"),
            p("name", "Data-sharing member"),
        ],
        &format!("aktion-coupon-{}", cfg.coupon),
    )
    .await;
    match made {
        Ok(_) => Ok(cfg.coupon.clone()),
        // Made before (by another instance, or more than a day ago).
        Err(ApiError::Unavailable(m)) if m.contains("resource_already_exists") => {
            Ok(cfg.coupon.clone())
        }
        Err(e) => Err(e),
    }
}

/// A Checkout session for `item` (a pack's price or the membership); its URL. The opted-in
/// user's membership checkout carries the member coupon.
pub async fn checkout(
    state: &AppState,
    user: &User,
    item: &str,
    request_key: Option<&str>,
) -> Result<String, ApiError> {
    let cfg = config(state)?;
    let membership = item == MEMBERSHIP_ITEM;
    let (price, credits) = if membership {
        let price = cfg.membership_price.clone().ok_or_else(|| {
            ApiError::invalid_field("item", "no membership is on sale on this server")
        })?;
        (price, 0)
    } else {
        let pack = cfg
            .packs
            .iter()
            .find(|p| p.price == item)
            .ok_or_else(|| ApiError::invalid_field("item", "not a credit pack on sale here"))?;
        (pack.price.clone(), pack.credits)
    };
    let customer = customer(state, user).await?;
    let site = Links::of(state).site;
    let mut params = vec![
        p(
            "mode",
            if membership {
                "subscription"
            } else {
                "payment"
            },
        ),
        p("customer", &customer),
        p("client_reference_id", user.id),
        p("line_items[0][price]", &price),
        p("line_items[0][quantity]", 1),
        p(
            "success_url",
            format!("{site}/billing/done?session_id={{CHECKOUT_SESSION_ID}}"),
        ),
        p("cancel_url", format!("{site}/billing/cancelled")),
        p("metadata[user_id]", user.id),
        p("metadata[item]", item),
        p("metadata[credits]", credits),
    ];
    if membership {
        params.push(p("subscription_data[metadata][user_id]", user.id));
        if user.data_sharing_opt_in {
            params.push(p("discounts[0][coupon]", ensure_coupon(state).await?));
        }
    } else {
        params.push(p("payment_intent_data[metadata][user_id]", user.id));
    }
    let key = match request_key {
        Some(k) => format!(
            "aktion-checkout-{}-{}",
            user.id,
            blake3::hash(k.as_bytes()).to_hex()
        ),
        None => format!(
            "aktion-checkout-{}-{}",
            user.id,
            uuid::Uuid::new_v4().simple()
        ),
    };
    let session = stripe(
        state,
        reqwest::Method::POST,
        "/v1/checkout/sessions",
        &params,
        &key,
    )
    .await?;
    session
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Unavailable("the payment service answered without a URL".into()))
}

/// A Customer Portal session (cards, invoices, cancelling); its URL.
pub async fn portal(state: &AppState, user: &User) -> Result<String, ApiError> {
    config(state)?;
    let customer = customer(state, user).await?;
    let site = Links::of(state).site;
    let session = stripe(
        state,
        reqwest::Method::POST,
        "/v1/billing_portal/sessions",
        &[
            p("customer", &customer),
            p("return_url", format!("{site}/billing/done")),
        ],
        &format!("aktion-portal-{}", uuid::Uuid::new_v4().simple()),
    )
    .await?;
    session
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Unavailable("the payment service answered without a URL".into()))
}

/// After the data-sharing toggle: puts the member coupon on the user's subscription or takes
/// it off, so the next renewal is charged accordingly. Best effort (logged); the webhook's
/// subscription events record what Stripe holds.
pub async fn sync_member_discount(state: &AppState, user_id: i64, opted_in: bool) {
    if state.config.billing.is_none() {
        return;
    }
    let sub: Option<(String, i64)> = match sqlx::query_as(
        "SELECT subscription_id, discounted FROM memberships WHERE user_id = $1 \
         AND status IN ('active', 'trialing', 'past_due')",
    )
    .bind(user_id)
    .fetch_optional(&state.db.pool)
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("membership discount: {e}");
            return;
        }
    };
    let Some((subscription, discounted)) = sub else {
        return;
    };
    let result = if opted_in && discounted == 0 {
        match ensure_coupon(state).await {
            Ok(coupon) => stripe(
                state,
                reqwest::Method::POST,
                &format!("/v1/subscriptions/{subscription}"),
                &[p("discounts[0][coupon]", coupon)],
                &format!("aktion-discount-on-{subscription}-{}", now_ms() / 60_000),
            )
            .await
            .map(|_| ()),
            Err(e) => Err(e),
        }
    } else if !opted_in && discounted != 0 {
        stripe(
            state,
            reqwest::Method::DELETE,
            &format!("/v1/subscriptions/{subscription}/discount"),
            &[],
            "",
        )
        .await
        .map(|_| ())
    } else {
        return;
    };
    match result {
        Ok(()) => {
            if let Err(e) = sqlx::query("UPDATE memberships SET discounted = $1 WHERE user_id = $2")
                .bind(i64::from(opted_in))
                .bind(user_id)
                .execute(state.db.writer())
                .await
            {
                tracing::warn!("membership discount: {e}");
            }
        }
        Err(e) => tracing::warn!("membership discount of user {user_id}: {e}"),
    }
}

// ---- Webhook events ---------------------------------------------------------------------

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Applied,
    /// Waits for the event it depends on.
    Waiting(String),
    /// Not an event billing acts on.
    Ignored,
}

/// Receives one verified webhook body: stores the event once and applies it (and whatever
/// was waiting for it). Returns whether it was a repeat.
pub async fn receive(state: &AppState, payload: &[u8]) -> Result<bool, ApiError> {
    let event: Value = serde_json::from_slice(payload)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("event: {e}")))?;
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 255)
        .ok_or_else(|| ApiError::bad_request("invalid_event", "the event has no id"))?;
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("invalid_event", "the event has no type"))?;
    let created = event.get("created").and_then(Value::as_i64).unwrap_or(0);
    let mut tx = state.db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO stripe_events (id, type, created, payload, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(created)
    .bind(String::from_utf8_lossy(payload).as_ref())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        tx.rollback().await?;
        return Ok(true);
    }
    let links = Links::of(state);
    let outcome = apply(&mut tx, state, &links, &event).await?;
    mark(&mut tx, id, &outcome).await?;
    if outcome == Outcome::Applied {
        // Whatever waited (a refund that came before its checkout) may go now.
        let waiting: Vec<String> = sqlx::query_scalar(
            "SELECT payload FROM stripe_events WHERE applied_at IS NULL AND note IS NOT NULL \
             ORDER BY created, received_at",
        )
        .fetch_all(&mut *tx)
        .await?;
        for payload in waiting {
            let Ok(waiting_event) = serde_json::from_str::<Value>(&payload) else {
                continue;
            };
            let outcome = apply(&mut tx, state, &links, &waiting_event).await?;
            if let Some(waiting_id) = waiting_event.get("id").and_then(Value::as_str)
                && !matches!(outcome, Outcome::Waiting(_))
            {
                mark(&mut tx, waiting_id, &outcome).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(false)
}

async fn mark(
    tx: &mut Transaction<'static, Any>,
    id: &str,
    outcome: &Outcome,
) -> Result<(), ApiError> {
    let (applied, note) = match outcome {
        Outcome::Applied => (Some(now_ms()), None),
        Outcome::Ignored => (Some(now_ms()), Some("ignored".to_owned())),
        Outcome::Waiting(why) => (None, Some(why.clone())),
    };
    sqlx::query("UPDATE stripe_events SET applied_at = $1, note = $2 WHERE id = $3")
        .bind(applied)
        .bind(note)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn int_at(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(|x| {
        x.as_i64()
            .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    })
}

async fn user_of_customer(
    tx: &mut Transaction<'static, Any>,
    customer: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    let Some(customer) = customer else {
        return Ok(None);
    };
    Ok(
        sqlx::query_scalar("SELECT user_id FROM billing_customers WHERE customer_id = $1")
            .bind(customer)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

async fn apply(
    tx: &mut Transaction<'static, Any>,
    state: &AppState,
    links: &Links,
    event: &Value,
) -> Result<Outcome, ApiError> {
    let object = event
        .pointer("/data/object")
        .cloned()
        .unwrap_or(Value::Null);
    let created = event.get("created").and_then(Value::as_i64).unwrap_or(0);
    match event.get("type").and_then(Value::as_str).unwrap_or("") {
        "checkout.session.completed" => checkout_completed(tx, links, &object).await,
        "invoice.paid" => invoice_paid(tx, state, links, &object).await,
        "customer.subscription.updated" | "customer.subscription.created" => {
            subscription_changed(tx, &object, created, false).await
        }
        "customer.subscription.deleted" => subscription_changed(tx, &object, created, true).await,
        "charge.refunded" => charge_refunded(tx, &object).await,
        "charge.dispute.created" => dispute_created(tx, &object).await,
        _ => Ok(Outcome::Ignored),
    }
}

fn money(amount: i64, currency: &str) -> String {
    format!(
        "{}.{:02} {}",
        amount / 100,
        amount % 100,
        currency.to_uppercase()
    )
}

async fn checkout_completed(
    tx: &mut Transaction<'static, Any>,
    links: &Links,
    session: &Value,
) -> Result<Outcome, ApiError> {
    let Some(session_id) = str_at(session, "/id") else {
        return Ok(Outcome::Ignored);
    };
    if !matches!(
        str_at(session, "/payment_status"),
        Some("paid" | "no_payment_required")
    ) {
        return Ok(Outcome::Ignored);
    }
    let user_id = match int_at(session, "/client_reference_id")
        .or_else(|| int_at(session, "/metadata/user_id"))
    {
        Some(id) => id,
        None => match user_of_customer(tx, str_at(session, "/customer")).await? {
            Some(id) => id,
            None => return Ok(Outcome::Ignored),
        },
    };
    let email: Option<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(email) = email else {
        return Ok(Outcome::Ignored);
    };
    let amount = int_at(session, "/amount_total").unwrap_or(0).max(0);
    let currency = str_at(session, "/currency").unwrap_or("eur").to_owned();
    if str_at(session, "/mode") == Some("subscription") {
        return membership_started(
            tx,
            links,
            session,
            user_id,
            &email,
            &money(amount, &currency),
        )
        .await;
    }
    let credits = int_at(session, "/metadata/credits").unwrap_or(0).max(0);
    sqlx::query(
        "INSERT INTO purchases (user_id, kind, checkout_session, payment_intent, credits, amount, \
         currency, created_at) VALUES ($1, 'pack', $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (checkout_session) DO NOTHING",
    )
    .bind(user_id)
    .bind(session_id)
    .bind(str_at(session, "/payment_intent"))
    .bind(credits)
    .bind(amount)
    .bind(&currency)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if credits > 0 {
        ledger::grant_in(
            tx,
            user_id,
            credits,
            &format!("bought {credits} credits"),
            Some(&format!("stripe:{session_id}")),
        )
        .await?;
        ledger::settle_debt_in(tx, user_id).await?;
    }
    mail::enqueue(
        tx,
        links,
        To {
            user_id: Some(user_id),
            email: &email,
        },
        &Mail::Receipt {
            what: format!("{credits} credits"),
            amount: money(amount, &currency),
            credits,
        },
        Some(&format!("receipt:{session_id}")),
    )
    .await?;
    Ok(Outcome::Applied)
}

/// A membership checkout: the subscription is recorded (its credits and purchase row come
/// with its paid invoice) and the receipt mailed.
async fn membership_started(
    tx: &mut Transaction<'static, Any>,
    links: &Links,
    session: &Value,
    user_id: i64,
    email: &str,
    amount: &str,
) -> Result<Outcome, ApiError> {
    let session_id = str_at(session, "/id").unwrap_or_default();
    // The membership's credits and its purchase row come with its paid invoice.
    if let Some(subscription) = str_at(session, "/subscription") {
        sqlx::query(
            "INSERT INTO memberships (user_id, subscription_id, status, discounted, \
             event_created, updated_at) VALUES ($1, $2, 'active', $3, 0, $4) \
             ON CONFLICT (user_id) DO UPDATE SET subscription_id = excluded.subscription_id, \
             status = CASE WHEN memberships.subscription_id = excluded.subscription_id \
               THEN memberships.status ELSE 'active' END, \
             discounted = excluded.discounted, updated_at = excluded.updated_at",
        )
        .bind(user_id)
        .bind(subscription)
        .bind(i64::from(
            int_at(session, "/total_details/amount_discount").unwrap_or(0) > 0,
        ))
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
    }
    mail::enqueue(
        tx,
        links,
        To {
            user_id: Some(user_id),
            email,
        },
        &Mail::Receipt {
            what: "the Aktion Studio membership".to_owned(),
            amount: amount.to_owned(),
            credits: 0,
        },
        Some(&format!("receipt:{session_id}")),
    )
    .await?;
    Ok(Outcome::Applied)
}

async fn invoice_paid(
    tx: &mut Transaction<'static, Any>,
    state: &AppState,
    links: &Links,
    invoice: &Value,
) -> Result<Outcome, ApiError> {
    let (Some(invoice_id), Some(_subscription)) =
        (str_at(invoice, "/id"), str_at(invoice, "/subscription"))
    else {
        return Ok(Outcome::Ignored);
    };
    let Some(user_id) = user_of_customer(tx, str_at(invoice, "/customer")).await? else {
        return Ok(Outcome::Waiting("customer not known yet".to_owned()));
    };
    let credits = state
        .config
        .billing
        .as_ref()
        .map_or(0, |c| c.membership_credits)
        .max(0);
    let amount = int_at(invoice, "/amount_paid").unwrap_or(0).max(0);
    let currency = str_at(invoice, "/currency").unwrap_or("eur").to_owned();
    let inserted = sqlx::query(
        "INSERT INTO purchases (user_id, kind, invoice, payment_intent, credits, amount, \
         currency, created_at) VALUES ($1, 'membership', $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (invoice) DO NOTHING",
    )
    .bind(user_id)
    .bind(invoice_id)
    .bind(str_at(invoice, "/payment_intent"))
    .bind(credits)
    .bind(amount)
    .bind(&currency)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if inserted && credits > 0 {
        ledger::grant_in(
            tx,
            user_id,
            credits,
            &format!("membership month: {credits} credits"),
            Some(&format!("stripe:{invoice_id}")),
        )
        .await?;
        ledger::settle_debt_in(tx, user_id).await?;
    }
    if let Some(end) = int_at(invoice, "/lines/data/0/period/end") {
        sqlx::query(
            "UPDATE memberships SET current_period_end = $1, updated_at = $2 WHERE user_id = $3",
        )
        .bind(end.saturating_mul(1000))
        .bind(now_ms())
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    }
    // The first invoice's receipt is the checkout's; renewals get their own.
    if str_at(invoice, "/billing_reason") == Some("subscription_cycle") {
        let email: Option<String> =
            sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user_id)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(email) = email {
            mail::enqueue(
                tx,
                links,
                To {
                    user_id: Some(user_id),
                    email: &email,
                },
                &Mail::Receipt {
                    what: "a month of the Aktion Studio membership".to_owned(),
                    amount: money(amount, &currency),
                    credits,
                },
                Some(&format!("receipt:{invoice_id}")),
            )
            .await?;
        }
    }
    Ok(Outcome::Applied)
}

async fn subscription_changed(
    tx: &mut Transaction<'static, Any>,
    subscription: &Value,
    event_created: i64,
    deleted: bool,
) -> Result<Outcome, ApiError> {
    let Some(id) = str_at(subscription, "/id") else {
        return Ok(Outcome::Ignored);
    };
    let user_id = match user_of_customer(tx, str_at(subscription, "/customer")).await? {
        Some(u) => u,
        None => match int_at(subscription, "/metadata/user_id") {
            Some(u) => u,
            None => return Ok(Outcome::Waiting("customer not known yet".to_owned())),
        },
    };
    let status = if deleted {
        "canceled"
    } else {
        str_at(subscription, "/status").unwrap_or("active")
    };
    let period_end = int_at(subscription, "/current_period_end").map(|s| s.saturating_mul(1000));
    let cancel_at_end = subscription
        .get("cancel_at_period_end")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let discounted = subscription.get("discount").is_some_and(|d| !d.is_null());
    // Only a newer event changes the row: a late `updated` cannot undo a `deleted`.
    sqlx::query(
        "INSERT INTO memberships (user_id, subscription_id, status, current_period_end, \
         cancel_at_period_end, discounted, event_created, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (user_id) DO UPDATE SET subscription_id = excluded.subscription_id, \
           status = excluded.status, current_period_end = excluded.current_period_end, \
           cancel_at_period_end = excluded.cancel_at_period_end, \
           discounted = excluded.discounted, event_created = excluded.event_created, \
           updated_at = excluded.updated_at \
         WHERE memberships.event_created <= excluded.event_created",
    )
    .bind(user_id)
    .bind(id)
    .bind(status)
    .bind(period_end)
    .bind(i64::from(cancel_at_end))
    .bind(i64::from(discounted))
    .bind(event_created)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(Outcome::Applied)
}

/// The purchase a charge paid for, by payment intent or invoice.
async fn purchase_of_charge(
    tx: &mut Transaction<'static, Any>,
    charge: &Value,
) -> Result<Option<(i64, i64, i64, i64, i64)>, ApiError> {
    let by = [
        ("payment_intent", str_at(charge, "/payment_intent")),
        ("invoice", str_at(charge, "/invoice")),
    ];
    for (column, value) in by {
        let Some(value) = value else { continue };
        let found = sqlx::query_as(&format!(
            "SELECT id, user_id, credits, amount, credits_taken_back FROM purchases \
             WHERE {column} = $1 ORDER BY id LIMIT 1"
        ))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

async fn charge_refunded(
    tx: &mut Transaction<'static, Any>,
    charge: &Value,
) -> Result<Outcome, ApiError> {
    let Some((purchase, user_id, credits, amount, taken)) = purchase_of_charge(tx, charge).await?
    else {
        return Ok(Outcome::Waiting("purchase not known yet".to_owned()));
    };
    let refunded = int_at(charge, "/amount_refunded")
        .unwrap_or(0)
        .clamp(0, amount.max(0));
    // Credits back in proportion to the money back (all of them for a full refund).
    let due_total = if amount > 0 {
        i64::try_from(i128::from(credits) * i128::from(refunded) / i128::from(amount))
            .unwrap_or(credits)
    } else {
        credits
    };
    let due = (due_total - taken).max(0);
    ledger::claw_back_in(
        tx,
        user_id,
        due,
        &format!("refund of a purchase: {due} credits taken back"),
    )
    .await?;
    sqlx::query(
        "UPDATE purchases SET refunded_amount = $1, credits_taken_back = credits_taken_back + $2 \
         WHERE id = $3",
    )
    .bind(refunded)
    .bind(due)
    .bind(purchase)
    .execute(&mut **tx)
    .await?;
    Ok(Outcome::Applied)
}

async fn dispute_created(
    tx: &mut Transaction<'static, Any>,
    dispute: &Value,
) -> Result<Outcome, ApiError> {
    let Some((purchase, user_id, credits, _amount, taken)) =
        purchase_of_charge(tx, dispute).await?
    else {
        return Ok(Outcome::Waiting("purchase not known yet".to_owned()));
    };
    let due = (credits - taken).max(0);
    ledger::claw_back_in(
        tx,
        user_id,
        due,
        &format!("disputed payment: {due} credits taken back"),
    )
    .await?;
    sqlx::query(
        "UPDATE purchases SET disputed = 1, credits_taken_back = credits_taken_back + $1 \
         WHERE id = $2",
    )
    .bind(due)
    .bind(purchase)
    .execute(&mut **tx)
    .await?;
    Ok(Outcome::Applied)
}

// ---- The caller's billing ---------------------------------------------------------------

/// `GET /v1/billing`.
pub async fn status(state: &AppState, user: &User) -> Result<BillingStatus, ApiError> {
    let cfg = config(state)?;
    let membership: Option<(String, Option<i64>, i64, i64)> = sqlx::query_as(
        "SELECT status, current_period_end, cancel_at_period_end, discounted FROM memberships \
         WHERE user_id = $1",
    )
    .bind(user.id)
    .fetch_optional(&state.db.pool)
    .await?;
    let purchases: Vec<(String, i64, i64, String, i64, i64)> = sqlx::query_as(
        "SELECT kind, credits, amount, currency, refunded_amount, created_at FROM purchases \
         WHERE user_id = $1 ORDER BY id DESC LIMIT 100",
    )
    .bind(user.id)
    .fetch_all(&state.db.pool)
    .await?;
    Ok(BillingStatus {
        membership: membership.map(|(status, renews_at, cancel, discounted)| MembershipStatus {
            status,
            renews_at,
            cancel_at_period_end: cancel != 0,
            discounted: discounted != 0,
        }),
        membership_offered: cfg.membership_price.is_some(),
        discount_percent: if user.data_sharing_opt_in {
            MEMBER_DISCOUNT_PERCENT
        } else {
            0
        },
        packs: cfg
            .packs
            .iter()
            .map(|p| CreditPack {
                item: p.price.clone(),
                credits: p.credits,
            })
            .collect(),
        debt: user.debt,
        purchases: purchases
            .into_iter()
            .map(
                |(kind, credits, amount, currency, refunded_amount, created_at)| PurchaseEntry {
                    kind,
                    credits,
                    amount,
                    currency,
                    refunded_amount,
                    created_at,
                },
            )
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(secret: &str, t: i64, payload: &[u8]) -> String {
        format!("t={t},v1={}", hmac_hex(secret, &t.to_string(), payload))
    }

    #[test]
    fn signatures_verify_as_stripe_documents() {
        let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
        let secrets = vec!["whsec_old".to_owned(), "whsec_new".to_owned()];
        let now = 1_800_000_000;
        assert_eq!(
            verify_signature(body, &header("whsec_new", now, body), &secrets, now),
            Ok(())
        );
        // Several v1 signatures (Stripe during a rotation): any one matching is enough.
        let two = format!(
            "t={now},v1={},v1={},v0=ignored",
            hmac_hex("whsec_other", &now.to_string(), body),
            hmac_hex("whsec_old", &now.to_string(), body)
        );
        assert_eq!(verify_signature(body, &two, &secrets, now), Ok(()));
        assert_eq!(
            verify_signature(body, &header("whsec_new", now - 301, body), &secrets, now),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_signature(b"{}", &header("whsec_new", now, body), &secrets, now),
            Err(SignatureError::Mismatch),
            "tampered body"
        );
        assert_eq!(
            verify_signature(body, &header("whsec_wrong", now, body), &secrets, now),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "t=1", "v1=abc", "t=x,v1=ab", &"t=1,v1=".repeat(1000)] {
            assert!(
                verify_signature(body, bad, &secrets, now).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn packs_parse_from_configuration() {
        assert_eq!(
            BillingConfig::parse_packs("price_a:500, price_b:1200").expect("packs"),
            vec![
                Pack {
                    price: "price_a".into(),
                    credits: 500
                },
                Pack {
                    price: "price_b".into(),
                    credits: 1200
                }
            ]
        );
        assert!(BillingConfig::parse_packs("price_a").is_err());
        assert!(BillingConfig::parse_packs("price_a:0").is_err());
        assert!(BillingConfig::parse_packs("price_a:x").is_err());
        assert_eq!(BillingConfig::parse_packs("").expect("none"), vec![]);
    }
}
