//! `aktion-server`: the Aktion Studio account backend — accounts, sessions, the credits ledger
//! and pricing over HTTP (axum), stored in SQLite (default) or PostgreSQL (sqlx).
//!
//! The generation proxy calls the ledger through [`ledger`] (`reserve`, `charge`, `release`).
//! This crate may use `aktion_api`, `aktion_providers` and `aktion_graph`; it must never depend
//! on egui, eframe or `aktion_engine` (STYLE.md).

pub mod accounts;
pub mod analytics;
pub mod auth;
pub mod beta;
pub mod billing;
pub mod db;
mod error;
pub mod generations;
mod idempotency;
pub mod ledger;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod pricing;
mod routes;
pub mod signing;
pub mod storage;
pub mod training;

use std::sync::Arc;
use std::time::Duration;

pub use db::{Db, DbKind};
pub use error::ApiError;
pub use routes::{app, openapi};
pub use storage::Storage;

/// Server settings that are not per-request.
#[derive(Debug, Clone)]
pub struct Config {
    /// Credits given to each new account when its email is verified (`AKTION_STARTER_CREDITS`;
    /// 0 by default, so a studio decides to give money away).
    pub starter_grant: i64,
    /// Bearer token `/metrics` needs (`AKTION_METRICS_TOKEN`); `None`: public (bind the
    /// server to a private address then).
    pub metrics_token: Option<String>,
    /// Registration, login and resource limits (PRODUCT.md §5.4).
    pub limits: limits::Limits,
    pub session_ttl: Duration,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    pub password_cost: auth::PasswordCost,
    pub login_limits: auth::LoginLimits,
    /// How long a reservation stays open without its lease being renewed.
    pub reservation_lease: Duration,
    /// Pool size; `None` for the default of the database kind.
    pub db_max_connections: Option<u32>,
    /// How long stored answers for `Idempotency-Key` retries are kept.
    pub idempotency_ttl: Duration,
    /// Blob store: `file:///…`, `s3://bucket/…` or `memory://` (`AKTION_STORAGE_URL`).
    pub storage_url: String,
    /// Base URL the server is reachable at from providers (`AKTION_PUBLIC_URL`); inputs are
    /// then handed over as signed URLs, otherwise as bytes.
    pub public_url: Option<String>,
    pub signed_url_ttl: Duration,
    /// Largest accepted blob upload.
    pub max_blob_bytes: usize,
    /// Largest accepted provider output.
    pub max_output_bytes: u64,
    /// How long a generation stays with the instance driving it without a renewal.
    pub generation_lease: Duration,
    /// Provider endpoints and the server-held keys.
    pub providers: aktion_providers::ProvidersConfig,
    /// Base URL of the links in mails and of the account pages (`AKTION_PUBLIC_URL`, else the
    /// bind address).
    pub site_url: String,
    /// Registration needs an invitation from the beta list (`AKTION_INVITE_ONLY=1`).
    pub invite_only: bool,
    /// SMTP delivery of the outbox.
    pub mail: mail::MailConfig,
    /// Stripe (`None`: billing answers 503 and everything else works).
    pub billing: Option<billing::BillingConfig>,
    /// Whether this instance runs generations at the providers. An API-only instance
    /// (`--api-only`, sharing PostgreSQL with workers) stores them claimable at once, and the
    /// workers' sweep picks them up.
    pub drive_generations: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            starter_grant: 0,
            limits: limits::Limits::default(),
            metrics_token: None,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            // The largest valid request (src/routes/contract.rs) fits with room to spare.
            max_body_bytes: 256 * 1024,
            password_cost: auth::PasswordCost::default(),
            login_limits: auth::LoginLimits::default(),
            reservation_lease: Duration::from_secs(45 * 60),
            db_max_connections: None,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            storage_url: "memory://".to_owned(),
            public_url: None,
            signed_url_ttl: Duration::from_secs(3600),
            max_blob_bytes: 100 * 1024 * 1024,
            max_output_bytes: 512 * 1024 * 1024,
            generation_lease: Duration::from_secs(120),
            providers: aktion_providers::ProvidersConfig::from_lookup(|_| None),
            drive_generations: true,
            site_url: "http://127.0.0.1:8787".to_owned(),
            invite_only: false,
            mail: mail::MailConfig::default(),
            billing: None,
        }
    }
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub limiter: Arc<auth::LoginLimiter>,
    /// Bounds on concurrent password hashing, uploads, generation drivers and requests.
    pub gates: limits::Gates,
    pub storage: Storage,
    pub jobs: Arc<generations::Jobs>,
    pub metrics: Arc<metrics::Metrics>,
    /// Key of signed blob URLs, shared by every instance through the database.
    pub signing_key: Arc<[u8; 32]>,
    /// Open progress streams, per user and in all.
    pub streams: Arc<limits::Streams>,
    /// Cancelled when the server stops: progress streams end at once instead of holding the
    /// shutdown up.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// HTTP client of the server's own calls (Stripe).
    pub http: reqwest::Client,
}

impl AppState {
    /// State over an open, migrated database.
    pub async fn new(db: Db, config: Config) -> Result<Self, ApiError> {
        let limiter = Arc::new(auth::LoginLimiter::new(config.login_limits));
        // Built first: it installs the process's TLS provider (ring), which the S3 client
        // needs as well.
        let providers = aktion_providers::Providers::new(config.providers.clone())
            .map_err(|e| ApiError::Internal(format!("provider clients: {e}")))?;
        let storage = Storage::from_url(&config.storage_url)?;
        let signing_key = Arc::new(signing::load_or_create_key(&db).await?);
        let gates = limits::Gates::new(&config.limits);
        let http = reqwest::Client::builder()
            .user_agent(concat!("aktion-server/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError::Internal(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            db,
            gates,
            streams: Arc::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            config: Arc::new(config),
            limiter,
            storage,
            jobs: Arc::new(generations::Jobs::new(providers)),
            metrics: Arc::new(metrics::Metrics::new()),
            signing_key,
        })
    }
}

/// Connects, runs the migrations, picks up generations a stopped server left (all active ones
/// on SQLite, which one server owns; those whose lease ran out on PostgreSQL, which several
/// instances may share) and settles reservations nothing will finish. Returns the state and
/// how many reservations were released.
pub async fn start(database_url: &str, config: Config) -> Result<(AppState, u64), ApiError> {
    let db = Db::connect_with(database_url, config.db_max_connections).await?;
    db.migrate().await?;
    let state = AppState::new(db, config).await?;
    if state.config.drive_generations {
        generations::spawn_watcher(&state);
    }
    mail::spawn_worker(&state).map_err(ApiError::Internal)?;
    let released = sweep(&state, true).await?;
    Ok((state, released))
}

/// Serves the API on `listener` (with the peers' addresses, for login limits per IP) until
/// `shutdown` completes; requests in flight are finished first, progress streams end at once,
/// and generations being sent to a provider are given up to `limits.drain` to store their provider
/// job (so a restart resumes them instead of failing them).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let jobs = state.jobs.clone();
    let drain = state.config.limits.drain;
    let signal = async move {
        shutdown.await;
        token.cancel();
    };
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .await?;
    jobs.drain_submits(drain).await;
    Ok(())
}

/// Resumes abandoned generations, then releases open reservations that belong to no active
/// generation. `at_start` on SQLite takes everything (this server owns the database);
/// otherwise only expired leases are taken. Returns how many reservations were released.
pub async fn sweep(state: &AppState, at_start: bool) -> Result<u64, ApiError> {
    let all = at_start && state.db.kind == DbKind::Sqlite;
    if state.config.drive_generations {
        let resumed = generations::resume(state, all).await?;
        if resumed > 0 {
            tracing::info!("picked up {resumed} generation(s) left by a stopped server");
        }
    }
    let which = if all {
        ledger::Abandoned::All
    } else {
        ledger::Abandoned::LeaseExpired
    };
    let released = ledger::settle_abandoned(&state.db, which).await?;
    housekeeping(state).await;
    Ok(released)
}

/// Drops what expired: sessions, idempotency records, rate counters, uploads a stopped
/// server left half-received. Failures are logged; they never stop a sweep.
async fn housekeeping(state: &AppState) {
    let results = [
        ("sessions", auth::purge_expired_sessions(&state.db).await),
        ("rate counters", state.limiter.purge(&state.db).await),
        (
            "idempotency records",
            idempotency::purge(&state.db, state.config.idempotency_ttl).await,
        ),
        (
            "unfinished uploads",
            state
                .storage
                .purge_received(Duration::from_secs(3600))
                .await,
        ),
    ];
    for (what, result) in results {
        if let Err(e) = result {
            tracing::warn!("purging expired {what}: {e}");
        }
    }
}
