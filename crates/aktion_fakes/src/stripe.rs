//! A Stripe stand-in for tests: the REST endpoints `aktion-server` calls, as Stripe documents
//! them (form-encoded bodies, `Idempotency-Key` on every POST with Stripe's replay and
//! "same key, other parameters" error, the pinned `Stripe-Version`, bearer secret key, known
//! parameters only: anything else is refused the way Stripe refuses it). It records what it
//! accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use serde_json::{Value, json};

/// The secret key the stand-in accepts.
pub const SECRET_KEY: &str = "sk_test_aktion";
/// The API version it speaks (the server pins the same).
pub const STRIPE_API_VERSION: &str = "2024-06-20";

/// One request the stand-in accepted.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub params: Vec<(String, String)>,
}

#[derive(Default)]
pub struct StandIn {
    pub seen: Vec<Seen>,
    answers: HashMap<String, (String, Value)>,
    coupons: Vec<String>,
    counter: u32,
}

pub type Shared = Arc<Mutex<StandIn>>;

fn stripe_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"type": "invalid_request_error", "code": code, "message": message}}),
        ),
    )
        .into_response()
}

/// The parameters Stripe documents for each endpoint this server calls (prefixes end in `[`).
fn allowed(path: &str) -> &'static [&'static str] {
    match path {
        "/v1/customers" => &["email", "metadata["],
        "/v1/checkout/sessions" => &[
            "mode",
            "customer",
            "client_reference_id",
            "line_items[0][price]",
            "line_items[0][quantity]",
            "success_url",
            "cancel_url",
            "metadata[",
            "subscription_data[metadata][",
            "payment_intent_data[metadata][",
            "discounts[0][coupon]",
        ],
        "/v1/coupons" => &["id", "percent_off", "duration", "name"],
        "/v1/billing_portal/sessions" => &["customer", "return_url"],
        p if p.starts_with("/v1/subscriptions/") => &["discounts[0][coupon]"],
        _ => &[],
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "the stand-in's checks, in Stripe's order"
)]
async fn stand_in_post(
    State(shared): State<Shared>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let path = format!("/v1/{rest}");
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {SECRET_KEY}"))
    {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "Invalid API Key provided",
        );
    }
    if headers.get("stripe-version").and_then(|v| v.to_str().ok()) != Some(STRIPE_API_VERSION) {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "version_invalid",
            "unexpected Stripe-Version",
        );
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "content_type",
            "form-encoded bodies only",
        );
    }
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "idempotency_key_missing",
            "every POST carries an Idempotency-Key here",
        );
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    for (name, _) in &params {
        let known = allowed(&path).iter().any(|a| {
            if a.ends_with('[') {
                name.starts_with(a)
            } else {
                name == a
            }
        });
        if !known {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "parameter_unknown",
                &format!("Received unknown parameter: {name}"),
            );
        }
    }
    let mut s = shared.lock().expect("lock");
    if let Some((first_body, answer)) = s.answers.get(&key).cloned() {
        if first_body != body {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        return (StatusCode::OK, axum::Json(answer)).into_response();
    }
    s.seen.push(Seen {
        method: "POST".into(),
        path: path.clone(),
        idempotency_key: Some(key.clone()),
        params: params.clone(),
    });
    s.counter += 1;
    let n = s.counter;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let answer = match path.as_str() {
        "/v1/customers" => {
            json!({"id": format!("cus_{n}"), "object": "customer", "email": get("email")})
        }
        "/v1/checkout/sessions" => {
            json!({"id": format!("cs_test_{n}"), "object": "checkout.session", "url": format!("https://checkout.stripe.test/c/pay/cs_test_{n}")})
        }
        "/v1/coupons" => {
            let id = get("id").unwrap_or_default();
            if s.coupons.contains(&id) {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "resource_already_exists",
                    "Coupon already exists.",
                );
            }
            s.coupons.push(id.clone());
            json!({"id": id, "object": "coupon", "percent_off": 10})
        }
        "/v1/billing_portal/sessions" => {
            json!({"id": format!("bps_{n}"), "url": format!("https://billing.stripe.test/p/session/{n}")})
        }
        p if p.starts_with("/v1/subscriptions/") => {
            json!({"id": p.trim_start_matches("/v1/subscriptions/"), "object": "subscription"})
        }
        _ => {
            return stripe_error(
                StatusCode::NOT_FOUND,
                "resource_missing",
                "Unrecognized request URL",
            );
        }
    };
    s.answers.insert(key, (body, answer.clone()));
    (StatusCode::OK, axum::Json(answer)).into_response()
}

async fn stand_in_delete_discount(
    State(shared): State<Shared>,
    Path(sub): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {SECRET_KEY}"))
    {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "Invalid API Key provided",
        );
    }
    shared.lock().expect("lock").seen.push(Seen {
        method: "DELETE".into(),
        path: format!("/v1/subscriptions/{sub}/discount"),
        idempotency_key: None,
        params: Vec::new(),
    });
    (
        StatusCode::OK,
        axum::Json(json!({"object": "discount", "deleted": true})),
    )
        .into_response()
}

pub async fn start() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = axum::Router::new()
        .route(
            "/v1/subscriptions/{sub}/discount",
            delete(stand_in_delete_discount),
        )
        .route("/v1/{*rest}", post(stand_in_post))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}
