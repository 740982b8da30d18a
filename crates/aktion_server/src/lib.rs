//! `aktion-server`: the Aktion Studio account backend — accounts, sessions, the credits ledger
//! and pricing over HTTP (axum), stored in SQLite (default) or PostgreSQL (sqlx).
//!
//! The generation proxy calls the ledger through [`ledger`] (`reserve`, `charge`, `release`).
//! This crate may use `aktion_api`, `aktion_providers` and `aktion_graph`; it must never depend
//! on egui, eframe or `aktion_engine` (STYLE.md).

pub mod auth;
pub mod db;
mod error;
mod idempotency;
pub mod ledger;
pub mod pricing;
mod routes;

use std::sync::Arc;
use std::time::Duration;

pub use db::{Db, DbKind};
pub use error::ApiError;
pub use routes::app;

/// Server settings that are not per-request.
#[derive(Debug, Clone)]
pub struct Config {
    /// Credits given to each new account (`AKTION_STARTER_CREDITS`).
    pub starter_grant: i64,
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            starter_grant: 20,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            max_body_bytes: 64 * 1024,
            password_cost: auth::PasswordCost::default(),
            login_limits: auth::LoginLimits::default(),
            reservation_lease: Duration::from_secs(45 * 60),
            db_max_connections: None,
            idempotency_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Shared state of the handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub limiter: Arc<auth::LoginLimiter>,
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let limiter = Arc::new(auth::LoginLimiter::new(config.login_limits));
        Self {
            db,
            config: Arc::new(config),
            limiter,
        }
    }
}

/// Connects, runs the migrations and settles reservations left open by a crashed server
/// (all of them on SQLite, which one server owns; those whose lease ran out on PostgreSQL,
/// which several instances may share). Returns the state and how many were released.
pub async fn start(database_url: &str, config: Config) -> Result<(AppState, u64), ApiError> {
    let db = Db::connect_with(database_url, config.db_max_connections).await?;
    db.migrate().await?;
    let which = match db.kind {
        DbKind::Sqlite => ledger::Abandoned::All,
        DbKind::Postgres => ledger::Abandoned::LeaseExpired,
    };
    let released = ledger::settle_abandoned(&db, which).await?;
    auth::purge_expired_sessions(&db).await?;
    idempotency::purge(&db, config.idempotency_ttl).await?;
    Ok((AppState::new(db, config), released))
}
