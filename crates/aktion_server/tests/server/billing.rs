//! Billing (PRODUCT.md §5.6) against a local Stripe stand-in that follows the documented request
//! format (form encoding, `Idempotency-Key` on every POST, the pinned `Stripe-Version`, known
//! parameters only) and refuses anything else; webhooks signed as Stripe documents it by a
//! test-side signer that Stripe's own Python library agrees with. On SQLite and PostgreSQL.

use aktion_server::AppState;
use aktion_server::billing::{BillingConfig, Pack, STRIPE_API_VERSION};
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common;
use crate::http::{request, send};

use aktion_fakes::stripe::SECRET_KEY;
const WEBHOOK_SECRET: &str = "whsec_test_aktion";

pub(crate) use aktion_fakes::stripe::{Seen, start as start_stand_in};

pub(crate) fn billing_config(base_url: &str) -> BillingConfig {
    BillingConfig {
        secret_key: SECRET_KEY.to_owned(),
        webhook_secrets: vec![WEBHOOK_SECRET.to_owned()],
        base_url: base_url.to_owned(),
        membership_price: Some("price_member".to_owned()),
        membership_credits: 1000,
        packs: vec![
            Pack {
                price: "price_500".into(),
                credits: 500,
            },
            Pack {
                price: "price_1200".into(),
                credits: 1200,
            },
        ],
        coupon: "aktion-member-10".to_owned(),
    }
}

async fn start(test_db: &common::TestDb, base_url: &str) -> AppState {
    let mut config = common::test_config();
    config.billing = Some(billing_config(base_url));
    aktion_server::start(&test_db.url, config)
        .await
        .expect("start")
        .0
}

/// The test-side signer: `t=…,v1=hex(HMAC-SHA256(secret, "t.payload"))`, as Stripe documents.
fn sign(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex = mac
        .finalize()
        .into_bytes()
        .iter()
        .fold(String::new(), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
            out
        });
    format!("t={t},v1={hex}")
}

fn now_secs() -> i64 {
    aktion_server::db::now_ms() / 1000
}

async fn deliver(state: &AppState, payload: &str, signature: Option<&str>) -> crate::http::Answer {
    let mut builder =
        axum::http::Request::post("/v1/billing/webhook").header("content-type", "application/json");
    if let Some(sig) = signature {
        builder = builder.header("stripe-signature", sig);
    }
    send(
        state,
        builder
            .body(axum::body::Body::from(payload.to_owned()))
            .expect("request"),
    )
    .await
}

fn event(id: &str, kind: &str, created: i64, object: &Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": created, "api_version": STRIPE_API_VERSION,
           "livemode": false, "data": {"object": object}})
    .to_string()
}

fn pack_paid(session: &str, user_id: i64, credits: i64, intent: &str) -> Value {
    json!({"id": session, "object": "checkout.session", "mode": "payment", "payment_status": "paid",
           "client_reference_id": user_id.to_string(), "metadata": {"user_id": user_id.to_string(), "credits": credits.to_string()},
           "amount_total": 900, "currency": "eur", "payment_intent": intent})
}

fn refund(intent: &str, amount: i64, refunded: i64) -> Value {
    json!({"id": format!("ch_{intent}"), "object": "charge", "payment_intent": intent, "amount": amount, "amount_refunded": refunded})
}

async fn me(state: &AppState, token: &str) -> Value {
    send(state, request("GET", "/v1/me", Some(token), None))
        .await
        .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "one story: buy, replay, tamper, reorder, refund, dispute"
)]
async fn webhooks_grant_once_in_effect_order_and_refunds_become_debt() {
    for test_db in common::all().await {
        let (stripe_url, _stand_in) = start_stand_in().await;
        let state = start(&test_db, &stripe_url).await;
        let token = crate::proxy::register(&state, "buyer@example.com").await;
        let user = aktion_server::auth::user_by_email(&state.db, "buyer@example.com")
            .await
            .expect("db")
            .expect("user");
        assert_eq!(me(&state, &token).await["balance"], 5);
        let t = now_secs();

        let paid = event(
            "evt_1",
            "checkout.session.completed",
            t,
            &pack_paid("cs_1", user.id, 500, "pi_1"),
        );
        let ok = deliver(&state, &paid, Some(&sign(&paid, WEBHOOK_SECRET, t))).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        assert_eq!(ok.body["duplicate"], false);
        assert_eq!(me(&state, &token).await["balance"], 505, "{}", test_db.name);
        // Replayed (Stripe retries): once.
        for _ in 0..3 {
            let again = deliver(
                &state,
                &paid,
                Some(&sign(&paid, WEBHOOK_SECRET, now_secs())),
            )
            .await;
            assert_eq!(again.status, StatusCode::OK);
            assert_eq!(again.body["duplicate"], true);
        }
        assert_eq!(me(&state, &token).await["balance"], 505, "granted once");

        // Bad signatures: 400, nothing granted.
        let other = event(
            "evt_2",
            "checkout.session.completed",
            t,
            &pack_paid("cs_2", user.id, 9999, "pi_x"),
        );
        let tampered = other.replace("9999", "99999");
        let bad = [
            (tampered.clone(), Some(sign(&other, WEBHOOK_SECRET, t))),
            (other.clone(), Some(sign(&other, WEBHOOK_SECRET, t - 301))),
            (other.clone(), Some(sign(&other, "whsec_wrong", t))),
            (other.clone(), None),
            (other.clone(), Some("t=abc,v1=00".to_owned())),
            (other.clone(), Some("garbage".to_owned())),
        ];
        for (payload, sig) in bad {
            let refused = deliver(&state, &payload, sig.as_deref()).await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{sig:?}: {}",
                refused.body
            );
            assert_eq!(refused.error().code, "bad_signature");
        }
        assert_eq!(me(&state, &token).await["balance"], 505, "nothing granted");
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE id = 'evt_2'")
                .fetch_one(&state.db.pool)
                .await
                .expect("count");
        assert_eq!(stored, 0, "a refused event is not even stored");
        // Malformed but signed: a clear 400, nothing stored.
        for junk in ["{", "[]", "{\"type\":\"x\"}", &"9".repeat(100)] {
            let answer = deliver(&state, junk, Some(&sign(junk, WEBHOOK_SECRET, t))).await;
            assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{junk}");
        }

        // Out of order: the refund of pi_2 arrives before its checkout; it waits, then applies.
        let early_refund = event("evt_3", "charge.refunded", t, &refund("pi_2", 900, 900));
        let answer = deliver(
            &state,
            &early_refund,
            Some(&sign(&early_refund, WEBHOOK_SECRET, t)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            me(&state, &token).await["balance"],
            505,
            "nothing to take back yet"
        );
        let late_checkout = event(
            "evt_4",
            "checkout.session.completed",
            t - 10,
            &pack_paid("cs_3", user.id, 300, "pi_2"),
        );
        deliver(
            &state,
            &late_checkout,
            Some(&sign(&late_checkout, WEBHOOK_SECRET, t)),
        )
        .await;
        assert_eq!(
            me(&state, &token).await["balance"],
            505,
            "granted, then refunded: in effect order"
        );

        // Credits spent, then the purchase refunded: what the balance cannot cover is debt.
        let reservation = aktion_server::ledger::reserve(
            &state.db,
            user.id,
            450,
            "a long render",
            None,
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("reserve");
        aktion_server::ledger::charge(&state.db, reservation.id)
            .await
            .expect("charge");
        assert_eq!(me(&state, &token).await["balance"], 55);
        let refunded = event("evt_5", "charge.refunded", t, &refund("pi_1", 900, 900));
        deliver(&state, &refunded, Some(&sign(&refunded, WEBHOOK_SECRET, t))).await;
        let now = me(&state, &token).await;
        assert_eq!(
            (now["balance"].as_i64(), now["debt"].as_i64()),
            (Some(0), Some(445)),
            "{}: {now}",
            test_db.name
        );
        let refused = send(
            &state,
            request(
                "POST",
                "/v1/generations",
                Some(&token),
                Some(crate::proxy::t2i()),
            ),
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::PAYMENT_REQUIRED,
            "{}",
            refused.body
        );
        assert_eq!(refused.error().code, "debt");
        assert!(
            refused.error().message.contains("owes 445 credits"),
            "{}",
            refused.body
        );

        // A purchase pays the debt first.
        let pack = event(
            "evt_6",
            "checkout.session.completed",
            t,
            &pack_paid("cs_4", user.id, 1200, "pi_3"),
        );
        deliver(&state, &pack, Some(&sign(&pack, WEBHOOK_SECRET, t))).await;
        let now = me(&state, &token).await;
        assert_eq!(
            (now["balance"].as_i64(), now["debt"].as_i64()),
            (Some(755), Some(0))
        );
        // A dispute takes that purchase's credits back.
        let dispute = event(
            "evt_7",
            "charge.dispute.created",
            t,
            &json!({"id": "dp_1", "object": "dispute", "charge": "ch_pi_3", "payment_intent": "pi_3", "amount": 900}),
        );
        deliver(&state, &dispute, Some(&sign(&dispute, WEBHOOK_SECRET, t))).await;
        let now = me(&state, &token).await;
        assert_eq!(
            (now["balance"].as_i64(), now["debt"].as_i64()),
            (Some(0), Some(445))
        );
        // A partial refund of the disputed purchase takes nothing more.
        let partial = event("evt_8", "charge.refunded", t, &refund("pi_3", 900, 450));
        deliver(&state, &partial, Some(&sign(&partial, WEBHOOK_SECRET, t))).await;
        assert_eq!(me(&state, &token).await["debt"], 445);

        let violations = aktion_server::ledger::check_invariants(&state.db)
            .await
            .expect("check");
        assert!(violations.is_empty(), "{}: {violations:?}", test_db.name);
        let billing = send(&state, request("GET", "/v1/billing", Some(&token), None)).await;
        assert_eq!(billing.status, StatusCode::OK, "{}", billing.body);
        assert_eq!(billing.body["purchases"].as_array().map(Vec::len), Some(3));
        assert_eq!(billing.body["debt"], 445);
        let receipts: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE template = 'receipt'")
                .fetch_one(&state.db.pool)
                .await
                .expect("count");
        assert_eq!(receipts, 3, "one receipt per purchase");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[expect(
    clippy::too_many_lines,
    reason = "checkout, portal and the discount, step by step"
)]
async fn checkout_and_portal_speak_stripes_format_and_the_discount_follows_the_opt_in() {
    for test_db in common::all().await {
        // A Stripe account per database: customer ids and idempotency keys are per account.
        let (stripe_url, stand_in) = start_stand_in().await;
        // Without Stripe configured: 503 with a clear message, the rest works.
        let plain = common::start(&test_db).await;
        let token = crate::proxy::register(&plain, "plain@example.com").await;
        let no = send(
            &plain,
            request(
                "POST",
                "/v1/billing/checkout",
                Some(&token),
                Some(json!({"item": "price_500"})),
            ),
        )
        .await;
        assert_eq!(no.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            no.error().message.contains("billing is not set up"),
            "{}",
            no.body
        );
        assert_eq!(
            send(&plain, request("GET", "/v1/me", Some(&token), None))
                .await
                .status,
            StatusCode::OK
        );
        plain.shutdown.cancel();

        let state = start(&test_db, &stripe_url).await;
        let member = crate::proxy::register(&state, "member@example.com").await;
        let other = crate::proxy::register(&state, "other@example.com").await;
        crate::proxy::opt_in(&state, &member, true).await;

        let buy = |token: &str, item: &str, key: Option<&str>| {
            let mut r = request(
                "POST",
                "/v1/billing/checkout",
                Some(token),
                Some(json!({"item": item})),
            );
            if let Some(key) = key {
                r.headers_mut()
                    .insert("idempotency-key", key.parse().expect("header"));
            }
            r
        };
        let unknown = send(&state, buy(&member, "price_free", None)).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
        let m = send(&state, buy(&member, "membership", Some("k1"))).await;
        assert_eq!(m.status, StatusCode::OK, "{}", m.body);
        assert!(
            m.body["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://checkout.stripe.test/"))
        );
        let again = send(&state, buy(&member, "membership", Some("k1"))).await;
        assert_eq!(again.body, m.body, "a retried checkout is the same session");
        let o = send(&state, buy(&other, "membership", None)).await;
        assert_eq!(o.status, StatusCode::OK, "{}", o.body);
        let p = send(&state, buy(&member, "price_1200", None)).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);

        let seen = stand_in.lock().expect("lock").seen.clone();
        let sessions: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.path == "/v1/checkout/sessions")
            .collect();
        assert_eq!(sessions.len(), 3, "{seen:#?}");
        let param = |s: &Seen, k: &str| {
            s.params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let member_id = aktion_server::auth::user_by_email(&state.db, "member@example.com")
            .await
            .expect("db")
            .expect("user")
            .id;
        assert_eq!(param(sessions[0], "mode").as_deref(), Some("subscription"));
        assert_eq!(
            param(sessions[0], "discounts[0][coupon]").as_deref(),
            Some("aktion-member-10"),
            "the opted-in member's discount"
        );
        assert_eq!(
            param(sessions[0], "client_reference_id"),
            Some(member_id.to_string())
        );
        assert_eq!(
            param(sessions[1], "discounts[0][coupon]"),
            None,
            "not for a user who is not opted in"
        );
        assert_eq!(param(sessions[2], "mode").as_deref(), Some("payment"));
        assert_eq!(
            param(sessions[2], "metadata[credits]").as_deref(),
            Some("1200")
        );
        assert_eq!(
            param(sessions[2], "discounts[0][coupon]"),
            None,
            "the discount is the membership's"
        );
        assert!(
            seen.iter().any(|s| s.path == "/v1/coupons"),
            "the coupon was made"
        );
        assert!(
            seen.iter().all(|s| s.idempotency_key.is_some()),
            "every POST is idempotent"
        );
        let customers = seen.iter().filter(|s| s.path == "/v1/customers").count();
        assert_eq!(customers, 2, "one customer per account");

        let portal = send(
            &state,
            request("POST", "/v1/billing/portal", Some(&member), None),
        )
        .await;
        assert_eq!(portal.status, StatusCode::OK, "{}", portal.body);
        assert!(
            portal.body["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://billing.stripe.test/"))
        );
        let anonymous = send(&state, request("POST", "/v1/billing/portal", None, None)).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

        // The membership starts (webhook); opting out takes the discount off for the renewal.
        let customer: String =
            sqlx::query_scalar("SELECT customer_id FROM billing_customers WHERE user_id = $1")
                .bind(member_id)
                .fetch_one(&state.db.pool)
                .await
                .expect("customer");
        let t = now_secs();
        let started = event(
            "evt_s1",
            "customer.subscription.updated",
            t,
            &json!({"id": "sub_1", "object": "subscription", "customer": customer, "status": "active", "current_period_end": t + 30 * 86_400, "cancel_at_period_end": false, "discount": {"coupon": {"id": "aktion-member-10"}}}),
        );
        assert_eq!(
            deliver(&state, &started, Some(&sign(&started, WEBHOOK_SECRET, t)))
                .await
                .status,
            StatusCode::OK
        );
        let invoice = event(
            "evt_i1",
            "invoice.paid",
            t,
            &json!({"id": "in_1", "object": "invoice", "customer": customer, "subscription": "sub_1", "amount_paid": 810, "currency": "eur", "billing_reason": "subscription_create", "lines": {"data": [{"period": {"end": t + 30 * 86_400}}]}}),
        );
        assert_eq!(
            deliver(&state, &invoice, Some(&sign(&invoice, WEBHOOK_SECRET, t)))
                .await
                .status,
            StatusCode::OK
        );
        let status = send(&state, request("GET", "/v1/billing", Some(&member), None))
            .await
            .body;
        assert_eq!(status["membership"]["status"], "active");
        assert_eq!(status["membership"]["discounted"], true);
        assert_eq!(status["discount_percent"], 10);
        assert_eq!(
            me(&state, &member).await["balance"],
            5 + 1000,
            "the month's credits"
        );
        // An older event delivered late changes nothing.
        let late = event(
            "evt_s0",
            "customer.subscription.updated",
            t - 100,
            &json!({"id": "sub_1", "object": "subscription", "customer": customer, "status": "incomplete", "cancel_at_period_end": false, "discount": null}),
        );
        deliver(&state, &late, Some(&sign(&late, WEBHOOK_SECRET, t))).await;
        let status = send(&state, request("GET", "/v1/billing", Some(&member), None))
            .await
            .body;
        assert_eq!(status["membership"]["status"], "active", "in effect order");

        crate::proxy::opt_in(&state, &member, false).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let dropped = stand_in
                .lock()
                .expect("lock")
                .seen
                .iter()
                .any(|s| s.method == "DELETE" && s.path == "/v1/subscriptions/sub_1/discount");
            if dropped {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the discount was not taken off"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let status = send(&state, request("GET", "/v1/billing", Some(&member), None))
            .await
            .body;
        assert_eq!(status["discount_percent"], 0);
        // Another user's billing shows nothing of it.
        let theirs = send(&state, request("GET", "/v1/billing", Some(&other), None))
            .await
            .body;
        assert!(theirs.get("membership").is_none(), "{theirs}");
        assert_eq!(theirs["purchases"].as_array().map(Vec::len), Some(0));
    }
}

#[test]
fn the_stand_in_speaks_the_pinned_version() {
    assert_eq!(aktion_fakes::stripe::STRIPE_API_VERSION, STRIPE_API_VERSION);
}

/// The signer here and the server's verifier agree with Stripe's own library (`stripe` from
/// `PyPI`, in the test command's virtual environment).
#[tokio::test]
async fn signatures_agree_with_stripes_python_library() {
    let Ok(python) = std::env::var("AKTION_TEST_PYTHON") else {
        assert!(
            std::env::var_os("AKTION_REQUIRE_PYTHON_TOOLS").is_none(),
            "AKTION_TEST_PYTHON is not set"
        );
        eprintln!("stripe check skipped: AKTION_TEST_PYTHON is not set");
        return;
    };
    let (stripe_url, _stand_in) = start_stand_in().await;
    let test_db = common::sqlite();
    let state = start(&test_db, &stripe_url).await;
    let t = now_secs();
    let payload = event("evt_py", "customer.created", t, &json!({"id": "cus_py"}));
    let ours = sign(&payload, WEBHOOK_SECRET, t);
    let script = r#"
import sys, stripe
payload, header, secret, t = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=300)
try:
    stripe.WebhookSignature.verify_header(payload + " ", header, secret, tolerance=300)
    sys.exit("tampered payload accepted")
except stripe.SignatureVerificationError:
    pass
print("t=%s,v1=%s" % (t, stripe.WebhookSignature._compute_signature("%s.%s" % (t, payload), secret)))
"#;
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            script,
            &payload,
            &ours,
            WEBHOOK_SECRET,
            &t.to_string(),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "stripe refused our signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(theirs, ours, "the same signature");
    let answer = deliver(&state, &payload, Some(&theirs)).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "the server takes Stripe's signature: {}",
        answer.body
    );
}
