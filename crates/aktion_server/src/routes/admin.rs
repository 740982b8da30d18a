//! The admin dashboard (PRODUCT.md §5.9): server-rendered pages under `/admin` that work
//! without JavaScript. Signing in sets a session cookie (`HttpOnly`, `SameSite=Strict`, path
//! `/admin`); every form carries a CSRF token derived from the session (a keyed hash), and a
//! form without it is refused; every page has a CSP that allows no script at all. A signed-in
//! user without the admin role gets 403 on every page. Charts are SVG drawn here.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use crate::analytics::{self, Series};
use crate::auth::{self, User};
use crate::db::now_ms;
use crate::{ApiError, AppState, beta, ledger, mail, training};

const COOKIE: &str = "aktion_admin";
/// Days the charts cover.
const DAYS: i64 = 30;

/// A signed-in admin and the session's CSRF token.
pub(super) struct Admin {
    user: User,
    csrf: String,
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

fn csrf_of(state: &AppState, session_token: &str) -> String {
    blake3::keyed_hash(
        &state.signing_key,
        format!("csrf:{}", auth::token_hash(session_token)).as_bytes(),
    )
    .to_hex()[..32]
        .to_owned()
}

/// Why a page is not shown.
pub(super) enum Refusal {
    SignIn,
    Forbidden,
    Error(ApiError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/admin/login").into_response(),
            Self::Forbidden => plain_page(
                StatusCode::FORBIDDEN,
                "Admins only",
                html! { p { "This account does not have the admin role." } },
            ),
            Self::Error(e) => {
                let (status, _) = e.status_and_code();
                plain_page(
                    status,
                    "Something went wrong",
                    html! { p { (e.body().message) } },
                )
            }
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Error(e)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let token = cookie_token(&parts.headers).ok_or(Refusal::SignIn)?;
        let user = match auth::session_user(&state.db, &token).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(Refusal::SignIn),
            Err(ApiError::AccountDisabled) => return Err(Refusal::Forbidden),
            Err(e) => return Err(Refusal::Error(e)),
        };
        if !user.is_admin {
            return Err(Refusal::Forbidden);
        }
        Ok(Self {
            csrf: csrf_of(state, &token),
            user,
        })
    }
}

/// The pairs of a form body (repeated names kept, as checkboxes send them).
fn form_pairs(body: &Bytes) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses a form whose CSRF token is missing or not this session's.
fn check_csrf(admin: &Admin, pairs: &[(String, String)]) -> Result<(), Box<Response>> {
    let sent = field(pairs, "csrf").unwrap_or("");
    let ok = crate::auth::same_secret(sent.as_bytes(), admin.csrf.as_bytes());
    if ok {
        Ok(())
    } else {
        Err(Box::new(plain_page(
            StatusCode::FORBIDDEN,
            "Form refused",
            html! { p { "This form has no valid CSRF token (it expired, or it was not sent from this dashboard). Reload the page and try again." } },
        )))
    }
}

fn headers_for_page(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

const STYLE: &str = "body{margin:0;font-family:system-ui,sans-serif;background:#f6f4ef;color:#1d1a22}\
header{background:#17131f;color:#f3efe6;padding:.6rem 1.2rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}\
header a{color:#f3b35c;text-decoration:none}header a.on{color:#fff;font-weight:700}\
header form{margin-left:auto}main{padding:1.2rem;max-width:72rem}\
table{border-collapse:collapse;width:100%;background:#fff;margin:.6rem 0 1.2rem}\
td,th{border-bottom:1px solid #e3ded3;padding:.35rem .5rem;text-align:left;font-size:.92rem;vertical-align:top}\
th{background:#efe9dd}.num{text-align:right;font-variant-numeric:tabular-nums}\
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;padding:.8rem 1rem;border-radius:6px;min-width:10rem}\
.card b{display:block;font-size:1.5rem}.warn{background:#fff1d6;padding:.6rem .9rem;border-radius:4px}\
.err{color:#9b1c1c}button{background:#f3b35c;border:0;border-radius:4px;padding:.35rem .8rem;font-weight:700;cursor:pointer}\
input{padding:.3rem .4rem;border:1px solid #bbb;border-radius:3px}svg{background:#fff;border-radius:6px}";

fn plain_page(status: StatusCode, title: &str, body: Markup) -> Response {
    let body = PreEscaped(body.into_string());
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Aktion Studio admin" }
                style { (PreEscaped(STYLE)) }
            }
            body { main { h1 { (title) } (body) } }
        }
    };
    let mut response = (status, Html(markup.into_string())).into_response();
    headers_for_page(&mut response);
    response
}

const NAV: &[(&str, &str)] = &[
    ("/admin", "Overview"),
    ("/admin/users", "Users"),
    ("/admin/signups", "Beta sign-ups"),
    ("/admin/generations", "Generations"),
    ("/admin/credits", "Credits"),
    ("/admin/revenue", "Revenue"),
    ("/admin/training", "Training data"),
    ("/admin/reports", "Reports"),
];

fn page(admin: &Admin, current: &str, title: &str, body: Markup) -> Response {
    let body = PreEscaped(body.into_string());
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Aktion Studio admin" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Aktion Studio admin" }
                    @for (href, label) in NAV {
                        a href=(href) class=[(*href == current).then_some("on")] { (label) }
                    }
                    form method="post" action="/admin/logout" {
                        input type="hidden" name="csrf" value=(admin.csrf);
                        span { (admin.user.email) " " }
                        button type="submit" { "Sign out" }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    };
    let mut response = Html(markup.into_string()).into_response();
    headers_for_page(&mut response);
    response
}

fn csrf_field(admin: &Admin) -> Markup {
    html! { input type="hidden" name="csrf" value=(admin.csrf); }
}

/// `YYYY-MM-DD` of a day number.
fn day_label(day: i64) -> String {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn time_label(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!(
        "{} {:02}:{:02}",
        day_label(ms.div_euclid(analytics::DAY_MS)),
        minutes / 60,
        minutes % 60
    )
}

/// A bar chart of one or two series (stacked side by side), drawn as SVG.
#[expect(clippy::cast_precision_loss, reason = "chart coordinates")]
fn chart(title: &str, series: &[(&str, &str, &Series)]) -> Markup {
    let (w, h, pad) = (720.0_f64, 180.0_f64, 28.0_f64);
    let days = series.first().map_or(0, |s| s.2.len());
    let max = series
        .iter()
        .flat_map(|s| s.2.iter().map(|(_, v)| *v))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let slot = if days == 0 {
        0.0
    } else {
        (w - pad) / days as f64
    };
    let bar = (slot / series.len().max(1) as f64 * 0.8).max(1.0);
    html! {
        figure {
            figcaption { strong { (title) } @for (label, color, s) in series {
                " · " span style=(format!("color:{color}")) { "■ " } (label) ": " (s.iter().map(|(_, v)| v).sum::<i64>())
            } }
            svg role="img" aria-label=(title) width=(w) height=(h + 20.0) viewBox=(format!("0 0 {w} {}", h + 20.0)) xmlns="http://www.w3.org/2000/svg" {
                line x1=(pad) y1=(h) x2=(w) y2=(h) stroke="#999" {}
                text x="2" y="12" font-size="10" fill="#666" { (max as i64) }
                text x="2" y=(h) font-size="10" fill="#666" { "0" }
                @for (i, (label, color, s)) in series.iter().enumerate() {
                    @for (j, (day, v)) in s.iter().enumerate() {
                        @let bh = (*v as f64 / max) * (h - 16.0);
                        @let x = pad + j as f64 * slot + i as f64 * bar;
                        rect x=(format!("{x:.1}")) y=(format!("{:.1}", h - bh)) width=(format!("{bar:.1}")) height=(format!("{bh:.1}")) fill=(color) {
                            title { (day_label(*day)) " " (label) ": " (v) }
                        }
                    }
                }
                @if let Some(s) = series.first() {
                    @if let (Some(first), Some(last)) = (s.2.first(), s.2.last()) {
                        text x=(pad) y=(h + 14.0) font-size="10" fill="#666" { (day_label(first.0)) }
                        text x=(w - 60.0) y=(h + 14.0) font-size="10" fill="#666" { (day_label(last.0)) }
                    }
                }
            }
        }
    }
}

// ---- Sign-in ----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(super) struct LoginQuery {
    error: Option<String>,
}

pub(super) async fn login_page(
    query: Result<Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let failed = query.ok().and_then(|Query(q)| q.error).is_some();
    plain_page(
        StatusCode::OK,
        "Sign in",
        html! {
            @if failed { p.err { "Wrong email or password, or too many attempts; wait and try again." } }
            form method="post" action="/admin/login" {
                p { label for="email" { "Email" } br; input id="email" name="email" type="email" required autocomplete="username"; }
                p { label for="password" { "Password" } br; input id="password" name="password" type="password" required autocomplete="current-password"; }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub(super) async fn login_submit(
    State(state): State<AppState>,
    super::ClientIp(ip): super::ClientIp,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let (Some(email), Some(password)) = (field(&pairs, "email"), field(&pairs, "password")) else {
        return Redirect::to("/admin/login?error=1").into_response();
    };
    if auth::normalize_email(email).is_err() || auth::check_password(password).is_err() {
        return Redirect::to("/admin/login?error=1").into_response();
    }
    if state.limiter.attempt(&state.db, email, ip).await.is_err() {
        return Redirect::to("/admin/login?error=1").into_response();
    }
    let found = {
        let Ok(_slot) = state.gates.hashing.enter().await else {
            return Redirect::to("/admin/login?error=1").into_response();
        };
        auth::authenticate(&state.db, email, password, state.config.password_cost).await
    };
    let Ok(Some(user)) = found else {
        return Redirect::to("/admin/login?error=1").into_response();
    };
    let _ = state.limiter.succeeded(&state.db, email, ip).await;
    let Ok((token, _)) = auth::create_session(
        &state.db,
        user.id,
        std::time::Duration::from_secs(12 * 3600),
    )
    .await
    else {
        return Refusal::Error(ApiError::Internal("session".into())).into_response();
    };
    let secure = if state.config.site_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let mut response = Redirect::to("/admin").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=43200{secure}"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) async fn logout_submit(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = check_csrf(&admin, &form_pairs(&body)) {
        return *refused;
    }
    if let Some(token) = cookie_token(&headers) {
        let _ = auth::delete_session(&state.db, &token).await;
    }
    let mut response = Redirect::to("/admin/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "aktion_admin=; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

// ---- Overview -----------------------------------------------------------------------------

pub(super) async fn overview(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Response, Refusal> {
    let db = &state.db;
    let dau = analytics::daily_active_users(db, DAYS).await?;
    let (started, succeeded, failed) = analytics::generations_per_day(db, DAYS).await?;
    let credits = analytics::credits_per_day(db, DAYS).await?;
    let outbox = mail::counts(db).await?;
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE deleted_at IS NULL")
        .fetch_one(&db.pool)
        .await
        .map_err(ApiError::from)?;
    let total = |s: &Series| s.iter().map(|(_, v)| v).sum::<i64>();
    let finished = total(&succeeded) + total(&failed);
    #[expect(clippy::cast_precision_loss, reason = "counts")]
    let rate = (finished > 0).then(|| 100.0 * total(&succeeded) as f64 / finished as f64);
    Ok(page(
        &admin,
        "/admin",
        "Overview",
        html! {
            @if state.config.mail.smtp_url.is_none() {
                p.warn { "AKTION_SMTP_URL is not set: mails wait in the outbox (" (outbox.waiting) " waiting) and go out when it is." }
            }
            div.cards {
                div.card { "Accounts" b { (users) } }
                div.card { "Active today" b { (dau.last().map_or(0, |d| d.1)) } }
                div.card { "Generations (30 days)" b { (total(&started)) } }
                div.card { "Success rate" b { (rate.map_or_else(|| "—".to_owned(), |r| format!("{r:.1} %"))) } }
                div.card { "Credits charged (30 days)" b { (total(&credits.charged)) } }
                div.card { "Mail" b { (outbox.sent) " sent" } (outbox.waiting) " waiting · " (outbox.failed) " failed" }
            }
            (chart("Daily active users", &[("users", "#6b4fbb", &dau)]))
            (chart("Generations per day", &[("succeeded", "#2f8f5b", &succeeded), ("failed", "#c0392b", &failed)]))
            (chart("Credits per day", &[("charged", "#d98e04", &credits.charged), ("sold", "#2f6fb0", &credits.sold)]))
        },
    ))
}

// ---- Users --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub(super) struct UsersQuery {
    q: Option<String>,
    done: Option<String>,
}

type UserRow = (i64, String, i64, i64, i64, Option<i64>, Option<i64>, i64);

pub(super) async fn users(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let search = q.q.clone().unwrap_or_default();
    let pattern = format!(
        "%{}%",
        search.trim().to_lowercase().replace(['\\', '%', '_'], "")
    );
    let rows: Vec<UserRow> = sqlx::query_as(
        "SELECT id, email, balance, debt, is_admin, email_verified_at, disabled_at, created_at \
         FROM users WHERE deleted_at IS NULL AND email LIKE $1 ORDER BY id DESC LIMIT 200",
    )
    .bind(&pattern)
    .fetch_all(&state.db.pool)
    .await
    .map_err(ApiError::from)?;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    Ok(page(
        &admin,
        "/admin/users",
        "Users",
        html! {
            @if let Some(done) = &q.done { p.warn role="status" { (done) } }
            form method="get" action="/admin/users" {
                input name="q" value=(search) placeholder="email contains…" aria-label="Search users";
                " " button type="submit" { "Search" }
            }
            table {
                tr { th { "Email" } th.num { "Balance" } th.num { "Debt" } th { "Verified" } th { "Role" } th { "Since" } th { "Grant credits" } th { "Access" } }
                @for (id, email, balance, debt, is_admin, verified, disabled, created) in &rows {
                    tr {
                        td { (email) }
                        td.num { (balance) }
                        td.num { (debt) }
                        td { @if verified.is_some() { "yes" } @else { "no" } }
                        td { @if *is_admin != 0 { "admin" } @else { "user" } }
                        td { (day_label(created / analytics::DAY_MS)) }
                        td {
                            form method="post" action="/admin/users/grant" {
                                (csrf_field(&admin))
                                input type="hidden" name="user_id" value=(id);
                                input type="hidden" name="nonce" value=(format!("{nonce}-{id}"));
                                input name="credits" type="number" min="1" max="1000000" required size="6" aria-label=(format!("Credits for {email}"));
                                " " input name="reason" placeholder="reason" size="12" aria-label=(format!("Reason for {email}"));
                                " " button type="submit" { "Grant" }
                            }
                        }
                        td {
                            form method="post" action="/admin/users/access" {
                                (csrf_field(&admin))
                                input type="hidden" name="user_id" value=(id);
                                @if disabled.is_some() {
                                    input type="hidden" name="disable" value="0";
                                    "disabled " button type="submit" { "Enable" }
                                } @else {
                                    input type="hidden" name="disable" value="1";
                                    button type="submit" { "Disable" }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn back_to(path: &str, done: &str) -> Response {
    let encoded: String = url::form_urlencoded::byte_serialize(done.as_bytes()).collect();
    Redirect::to(&format!("{path}?done={encoded}")).into_response()
}

pub(super) async fn grant_submit(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Response, Refusal> {
    let pairs = form_pairs(&body);
    if let Err(refused) = check_csrf(&admin, &pairs) {
        return Ok(*refused);
    }
    let user_id: i64 = field(&pairs, "user_id")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let credits: i64 = field(&pairs, "credits")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if !(1..=1_000_000).contains(&credits) {
        return Ok(back_to(
            "/admin/users",
            "Credits must be a whole number from 1 to 1,000,000.",
        ));
    }
    let reason = field(&pairs, "reason")
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if let Some(r) = reason {
        auth::check_text("reason", r, super::account::GRANT_REASON_MAX)?;
    }
    let target = auth::user_by_id(&state.db, user_id).await?;
    let reason = reason.map_or_else(|| format!("granted by {}", admin.user.email), str::to_owned);
    // The form's nonce makes a double submit grant once.
    let key = field(&pairs, "nonce").map(|n| format!("admin-form:{n}"));
    let granted = ledger::grant(&state.db, target.id, credits, &reason, key.as_deref()).await?;
    Ok(back_to(
        "/admin/users",
        &format!(
            "Granted {credits} credits to {}; balance {}.",
            target.email, granted.balance
        ),
    ))
}

pub(super) async fn access_submit(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Response, Refusal> {
    let pairs = form_pairs(&body);
    if let Err(refused) = check_csrf(&admin, &pairs) {
        return Ok(*refused);
    }
    let user_id: i64 = field(&pairs, "user_id")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let disable = field(&pairs, "disable") == Some("1");
    if disable && user_id == admin.user.id {
        return Ok(back_to(
            "/admin/users",
            "You cannot disable your own account.",
        ));
    }
    let target = auth::user_by_id(&state.db, user_id).await?;
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
        .bind(disable.then(now_ms))
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(ApiError::from)?;
    if disable {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(ApiError::from)?;
    }
    tx.commit().await.map_err(ApiError::from)?;
    Ok(back_to(
        "/admin/users",
        &format!(
            "{} is {}.",
            target.email,
            if disable {
                "disabled and signed out"
            } else {
                "enabled"
            }
        ),
    ))
}

// ---- Beta sign-ups ------------------------------------------------------------------------

pub(super) async fn signups(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let done = query.ok().and_then(|Query(q)| q.done);
    let list = beta::list(&state.db).await?;
    Ok(page(
        &admin,
        "/admin/signups",
        "Beta sign-ups",
        html! {
            @if let Some(done) = &done { p.warn role="status" { (done) } }
            @if state.config.invite_only { p { "Registration is by invitation only (AKTION_INVITE_ONLY)." } }
            form method="post" action="/admin/signups/invite" {
                (csrf_field(&admin))
                table {
                    tr { th { "Invite" } th { "Email" } th { "Signed up" } th { "Invited" } }
                    @for s in &list {
                        tr {
                            td { @if s.invited_at.is_none() { input type="checkbox" name="email" value=(s.email) aria-label=(format!("Invite {}", s.email)); } }
                            td { (s.email) }
                            td { (time_label(s.created_at)) }
                            td { (s.invited_at.map(time_label).unwrap_or_default()) }
                        }
                    }
                }
                button type="submit" { "Invite selected" }
            }
        },
    ))
}

pub(super) async fn invite_submit(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Response, Refusal> {
    let pairs = form_pairs(&body);
    if let Err(refused) = check_csrf(&admin, &pairs) {
        return Ok(*refused);
    }
    let emails: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "email")
        .map(|(_, v)| v.clone())
        .filter(|e| auth::normalize_email(e).is_ok())
        .take(super::lifecycle::INVITE_MAX)
        .collect();
    if emails.is_empty() {
        return Ok(back_to(
            "/admin/signups",
            "Tick at least one sign-up to invite.",
        ));
    }
    let invited = beta::invite(&state, &emails).await?;
    Ok(back_to(
        "/admin/signups",
        &format!("Invited {invited}; their invitations are in the outbox."),
    ))
}

// ---- Generations, credits, revenue --------------------------------------------------------

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |s| format!("{s:.1} s"))
}

pub(super) async fn generations(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Response, Refusal> {
    let kinds = analytics::generations_by_kind(&state.db, DAYS).await?;
    let failures = analytics::recent_failures(&state.db, 25).await?;
    let (_, succeeded, failed) = analytics::generations_per_day(&state.db, DAYS).await?;
    Ok(page(
        &admin,
        "/admin/generations",
        "Generations",
        html! {
            (chart("Finished per day", &[("succeeded", "#2f8f5b", &succeeded), ("failed", "#c0392b", &failed)]))
            h2 { "By kind and provider (30 days)" }
            table {
                tr { th { "Kind" } th { "Provider" } th.num { "Count" } th.num { "Success rate" } th.num { "p50" } th.num { "p95" } }
                @for k in &kinds {
                    tr {
                        td { (k.kind) } td { (k.provider) } td.num { (k.count) }
                        td.num { (k.success_rate().map_or_else(|| "—".to_owned(), |r| format!("{r:.1} %"))) }
                        td.num { (secs(k.p50_secs)) } td.num { (secs(k.p95_secs)) }
                    }
                }
            }
            h2 { "Recent failures" }
            table {
                tr { th { "When" } th { "Kind" } th { "Generation" } th { "Message" } }
                @for f in &failures {
                    tr { td { (time_label(f.at)) } td { (f.kind) } td { code { (f.id) } } td.err { (f.message) } }
                }
            }
        },
    ))
}

pub(super) async fn credits(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Response, Refusal> {
    let c = analytics::credits_per_day(&state.db, DAYS).await?;
    Ok(page(
        &admin,
        "/admin/credits",
        "Credits",
        html! {
            (chart("Granted and sold", &[("granted", "#6b4fbb", &c.granted), ("sold", "#2f6fb0", &c.sold)]))
            (chart("Charged and released", &[("charged", "#d98e04", &c.charged), ("released", "#2f8f5b", &c.released)]))
            table {
                tr { th { "Day" } th.num { "Granted" } th.num { "Sold" } th.num { "Charged" } th.num { "Released" } th.num { "Taken back" } }
                @for (i, (day, granted)) in c.granted.iter().enumerate().rev() {
                    tr {
                        td { (day_label(*day)) } td.num { (granted) }
                        td.num { (c.sold.get(i).map_or(0, |x| x.1)) }
                        td.num { (c.charged.get(i).map_or(0, |x| x.1)) }
                        td.num { (c.released.get(i).map_or(0, |x| x.1)) }
                        td.num { (c.taken_back.get(i).map_or(0, |x| x.1)) }
                    }
                }
            }
        },
    ))
}

fn money(minor: i64, currency: &str) -> String {
    format!(
        "{}.{:02} {}",
        minor / 100,
        (minor % 100).abs(),
        currency.to_uppercase()
    )
}

pub(super) async fn revenue(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Response, Refusal> {
    let by_currency = analytics::revenue_per_day(&state.db, DAYS).await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT id, type, received_at, applied_at, note FROM stripe_events ORDER BY received_at DESC LIMIT 30",
    )
    .fetch_all(&state.db.pool)
    .await
    .map_err(ApiError::from)?;
    Ok(page(
        &admin,
        "/admin/revenue",
        "Revenue",
        html! {
            @if state.config.billing.is_none() { p.warn { "Stripe is not configured on this server (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)." } }
            @if by_currency.is_empty() { p { "No purchases in the last 30 days." } }
            @for (currency, (paid, refunded)) in &by_currency {
                @let total: i64 = paid.iter().map(|d| d.1).sum();
                @let back: i64 = refunded.iter().map(|d| d.1).sum();
                h2 { (currency.to_uppercase()) ": " (money(total, currency)) " paid, " (money(back, currency)) " refunded" }
                (chart(&format!("Paid per day ({})", currency.to_uppercase()), &[("paid", "#2f6fb0", paid), ("refunded", "#c0392b", refunded)]))
            }
            h2 { "Latest Stripe events" }
            table {
                tr { th { "Received" } th { "Event" } th { "Type" } th { "Applied" } }
                @for (id, kind, received, applied, note) in &events {
                    tr {
                        td { (time_label(*received)) } td { code { (id) } } td { (kind) }
                        td { @match (applied, note) {
                            (Some(_), Some(n)) => { (n) }
                            (Some(at), None) => { (time_label(*at)) }
                            (None, Some(n)) => { "waiting: " (n) }
                            (None, None) => { "—" }
                        } }
                    }
                }
            }
        },
    ))
}

// ---- Training data and its export ---------------------------------------------------------

type ExportRow = (String, String, i64, i64, Option<String>, i64, Option<i64>);

fn export_sig(state: &AppState, id: &str, expires: i64) -> String {
    blake3::keyed_hash(
        &state.signing_key,
        format!("export:{id}:{expires}").as_bytes(),
    )
    .to_hex()
    .to_string()
}

pub(super) async fn training_page(
    State(state): State<AppState>,
    admin: Admin,
    query: Result<Query<UsersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Refusal> {
    let done = query.ok().and_then(|Query(q)| q.done);
    let groups = training::stats(&state.db).await?.groups;
    let exports: Vec<ExportRow> = sqlx::query_as(
        "SELECT id, status, records, bytes, error, created_at, finished_at FROM exports \
         ORDER BY created_at DESC LIMIT 20",
    )
    .fetch_all(&state.db.pool)
    .await
    .map_err(ApiError::from)?;
    let expires = now_ms() / 1000 + 3600;
    Ok(page(
        &admin,
        "/admin/training",
        "Training data",
        html! {
            @if let Some(done) = &done { p.warn role="status" { (done) } }
            table {
                tr { th { "Node kind" } th { "Output" } th.num { "Records" } th.num { "Avg. time" } th.num { "Avg. rating" } th.num { "Rated" } }
                @for g in &groups {
                    tr {
                        td { (g.node_kind) } td { (g.output_type) } td.num { (g.count) }
                        td.num { (g.avg_generation_ms.map_or_else(|| "—".to_owned(), |ms| format!("{:.1} s", ms / 1000.0))) }
                        td.num { (g.avg_rating.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"))) }
                        td.num { (g.rated) }
                    }
                }
            }
            form method="post" action="/admin/training/export" {
                (csrf_field(&admin))
                button type="submit" { "Export all records as JSONL" }
                " The file is written to the blob store in the background; its download link below works for an hour."
            }
            h2 { "Exports" }
            table {
                tr { th { "Started" } th { "Status" } th.num { "Records" } th.num { "Bytes" } th { "Download" } }
                @for (id, status, records, bytes, error, created, _finished) in &exports {
                    tr {
                        td { (time_label(*created)) } td { (status) @if let Some(e) = error { " " span.err { (e) } } }
                        td.num { (records) } td.num { (bytes) }
                        td { @if status == "done" {
                            a href=(format!("/admin/exports/{id}/download?expires={expires}&sig={}", export_sig(&state, id, expires))) download=(format!("training-{id}.jsonl")) { "Download JSONL" }
                        } }
                    }
                }
            }
        },
    ))
}

pub(super) async fn export_submit(
    State(state): State<AppState>,
    admin: Admin,
    body: Bytes,
) -> Result<Response, Refusal> {
    if let Err(refused) = check_csrf(&admin, &form_pairs(&body)) {
        return Ok(*refused);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let key = format!("exports/{id}.jsonl");
    sqlx::query(
        "INSERT INTO exports (id, requested_by, status, storage_key, created_at) \
         VALUES ($1, $2, 'running', $3, $4)",
    )
    .bind(&id)
    .bind(admin.user.id)
    .bind(&key)
    .bind(now_ms())
    .execute(state.db.writer())
    .await
    .map_err(ApiError::from)?;
    let job = state.clone();
    tokio::spawn(async move {
        let result = write_export(&job, &key).await;
        let (status, records, bytes, error) = match result {
            Ok((records, bytes)) => ("done", records, bytes, None),
            Err(e) => ("failed", 0, 0, Some(e.to_string())),
        };
        if let Err(e) = sqlx::query(
            "UPDATE exports SET status = $1, records = $2, bytes = $3, error = $4, \
             finished_at = $5 WHERE id = $6",
        )
        .bind(status)
        .bind(records)
        .bind(bytes)
        .bind(error)
        .bind(now_ms())
        .bind(&id)
        .execute(job.db.writer())
        .await
        {
            tracing::error!("training export {id}: {e}");
        }
    });
    Ok(back_to(
        "/admin/training",
        "Export started; reload to see it finish.",
    ))
}

/// Writes every record as JSON Lines to `key` in the blob store (spooled through a temporary
/// file, never whole in memory while reading the database). Returns (records, bytes).
async fn write_export(state: &AppState, key: &str) -> Result<(i64, i64), ApiError> {
    use std::io::{Seek, Write};
    let mut spool = tempfile::tempfile().map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut after = 0;
    let mut records: i64 = 0;
    while let Some((page, last, n)) = training::export_page(&state.db, after).await? {
        spool
            .write_all(&page)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        after = last;
        records += i64::try_from(n).unwrap_or(0);
    }
    let size = spool
        .stream_position()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    spool
        .rewind()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        std::io::Read::read_to_end(&mut spool, &mut out).map(|_| out)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    state.storage.put(key, Bytes::from(bytes)).await?;
    Ok((records, len))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct SignedQuery {
    expires: Option<i64>,
    sig: Option<String>,
}

/// `GET /admin/exports/{id}/download?expires=…&sig=…`: the signed link (no cookie needed, so it
/// can be handed to whoever processes the data; it expires in an hour).
pub(super) async fn export_download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<SignedQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let (Some(expires), Some(sig)) = (q.expires, q.sig) else {
        return Refusal::Forbidden.into_response();
    };
    let want = export_sig(&state, &id, expires);
    let valid = want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            == 0;
    if !valid || expires < now_ms() / 1000 {
        return plain_page(
            StatusCode::FORBIDDEN,
            "Link expired",
            html! { p { "This download link is not valid or has expired; open Training data again for a new one." } },
        );
    }
    let key: Option<String> = match sqlx::query_scalar(
        "SELECT storage_key FROM exports WHERE id = $1 AND status = 'done'",
    )
    .bind(&id)
    .fetch_optional(&state.db.pool)
    .await
    {
        Ok(k) => k,
        Err(e) => return Refusal::Error(e.into()).into_response(),
    };
    let Some(key) = key else {
        return Refusal::Error(ApiError::NotFound("export")).into_response();
    };
    match state.storage.get(&key).await {
        Ok(Some(bytes)) => {
            let mut response = Body::from(bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            if let Ok(v) =
                HeaderValue::from_str(&format!("attachment; filename=\"training-{id}.jsonl\""))
            {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(None) => Refusal::Error(ApiError::NotFound("export file")).into_response(),
        Err(e) => Refusal::Error(e).into_response(),
    }
}

// ---- Problem reports ----------------------------------------------------------------------

/// id, reporter's email, kind, route, provider, error, metadata (JSON), time.
type ReportRow = (
    i64,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
);
/// id, type, received, applied, note.
type EventRow = (String, String, i64, Option<i64>, Option<String>);

pub(super) async fn reports(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Response, Refusal> {
    let rows: Vec<ReportRow> = sqlx::query_as(
        "SELECT r.id, u.email, r.node_kind, r.route, r.provider, r.error, r.metadata, r.created_at \
         FROM problem_reports r LEFT JOIN users u ON u.id = r.user_id ORDER BY r.id DESC LIMIT 100",
    )
    .fetch_all(&state.db.pool)
    .await
    .map_err(ApiError::from)?;
    Ok(page(
        &admin,
        "/admin/reports",
        "Problem reports",
        html! {
            @if rows.is_empty() { p { "No reports." } }
            table {
                tr { th { "When" } th { "From" } th { "Kind" } th { "Route" } th { "Provider" } th { "Error" } th { "Take" } }
                @for (_id, email, kind, route, provider, error, metadata, at) in &rows {
                    @let meta: BTreeMap<String, serde_json::Value> = serde_json::from_str(metadata).unwrap_or_default();
                    tr {
                        td { (time_label(*at)) } td { (email.clone().unwrap_or_else(|| "(deleted account)".to_owned())) }
                        td { (kind) } td { (route) } td { (provider.clone().unwrap_or_default()) } td.err { (error) }
                        td { @for (k, v) in &meta { (k) ": " (v.to_string()) br; } }
                    }
                }
            }
        },
    ))
}
