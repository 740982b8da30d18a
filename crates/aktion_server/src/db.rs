//! Database connection (SQLite or PostgreSQL through sqlx's `Any` driver) and migrations.
//!
//! The queries are written once, in SQL both databases accept (`$n` parameters, `RETURNING`,
//! integer flags and Unix-millisecond times). Only the migrations differ, for id columns.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::ApiError;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A pool plus the kind of database behind it.
///
/// On SQLite, writes go through a second pool of exactly one connection: writers then queue in
/// the pool (cheap, FIFO) instead of in SQLite's busy handler, which sleeps in steps of
/// milliseconds and, measured under 64 concurrent clients, left the database idle most of the
/// time. Reads use the main pool beside it (WAL). On PostgreSQL both are the same pool.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    writer: AnyPool,
    pub kind: DbKind,
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "accounts and ledger",
        include_str!("../migrations/sqlite/0001_accounts_and_ledger.sql"),
    ),
    (
        2,
        "generations, blobs and training data",
        include_str!("../migrations/sqlite/0002_generations_blobs_training.sql"),
    ),
    (
        3,
        "abuse limits",
        include_str!("../migrations/sqlite/0003_abuse_limits.sql"),
    ),
    (
        4,
        "accounts and email",
        include_str!("../migrations/sqlite/0004_accounts_and_email.sql"),
    ),
    (
        5,
        "billing",
        include_str!("../migrations/sqlite/0005_billing.sql"),
    ),
    (
        6,
        "admin dashboard",
        include_str!("../migrations/sqlite/0006_admin.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "accounts and ledger",
        include_str!("../migrations/postgres/0001_accounts_and_ledger.sql"),
    ),
    (
        2,
        "generations, blobs and training data",
        include_str!("../migrations/postgres/0002_generations_blobs_training.sql"),
    ),
    (
        3,
        "abuse limits",
        include_str!("../migrations/postgres/0003_abuse_limits.sql"),
    ),
    (
        4,
        "accounts and email",
        include_str!("../migrations/postgres/0004_accounts_and_email.sql"),
    ),
    (
        5,
        "billing",
        include_str!("../migrations/postgres/0005_billing.sql"),
    ),
    (
        6,
        "admin dashboard",
        include_str!("../migrations/postgres/0006_admin.sql"),
    ),
];

/// Migrations compiled into the binary (no `migrate!` macro, so no sqlx-macros build).
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> futures_core_box::BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

mod futures_core_box {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
}

impl Db {
    /// Connects to `sqlite://…` or `postgres://…` with the default pool size (4 for SQLite,
    /// 16 for PostgreSQL); SQLite files are created when missing.
    pub async fn connect(url: &str) -> Result<Self, ApiError> {
        Self::connect_with(url, None).await
    }

    /// Like [`Db::connect`] with at most `max_connections` pooled connections.
    pub async fn connect_with(url: &str, max_connections: Option<u32>) -> Result<Self, ApiError> {
        install_default_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(ApiError::Internal(
                "database URL must start with sqlite:// or postgres://".to_owned(),
            ));
        };
        let options = sqlx::any::AnyConnectOptions::from_str(&url_with_defaults(url, kind))?;
        let sqlite_pool = |max: u32| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(Duration::from_secs(60))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        Ok(())
                    })
                })
        };
        let (pool, writer) = match kind {
            // Each connection to `:memory:` would be a database of its own: one connection
            // serves both roles there.
            DbKind::Sqlite if url.contains(":memory:") => {
                let pool = sqlite_pool(1).connect_with(options).await?;
                (pool.clone(), pool)
            }
            // A few readers beside the one writer (WAL); every write transaction also starts
            // with BEGIN IMMEDIATE (see `Db::begin_write`).
            DbKind::Sqlite => {
                let writer = sqlite_pool(1).connect_with(options.clone()).await?;
                let pool = sqlite_pool(max_connections.unwrap_or(4))
                    .connect_with(options)
                    .await?;
                (pool, writer)
            }
            DbKind::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(max_connections.unwrap_or(16))
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        Ok(Self { pool, writer, kind })
    }

    /// The pool to run a write statement on (outside a transaction from [`Db::begin_write`]).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Applies the migrations of this database kind.
    pub async fn migrate(&self) -> Result<(), ApiError> {
        let source = match self.kind {
            DbKind::Sqlite => Embedded(SQLITE_MIGRATIONS),
            DbKind::Postgres => Embedded(POSTGRES_MIGRATIONS),
        };
        let migrator = Migrator::new(source).await?;
        migrator.run(&self.writer).await?;
        Ok(())
    }

    /// Versions of the migrations this binary knows and whether each is applied.
    pub async fn migration_status(&self) -> Result<Vec<(i64, String, bool)>, ApiError> {
        let known = match self.kind {
            DbKind::Sqlite => SQLITE_MIGRATIONS,
            DbKind::Postgres => POSTGRES_MIGRATIONS,
        };
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        Ok(known
            .iter()
            .map(|(v, d, _)| (*v, (*d).to_owned(), applied.contains(v)))
            .collect())
    }

    /// Opens a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken up
    /// front, so a read-then-write never fails with `SQLITE_BUSY` on upgrade (PRODUCT.md §7).
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, ApiError> {
        Ok(match self.kind {
            DbKind::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            DbKind::Postgres => self.writer.begin().await?,
        })
    }
}

fn url_with_defaults(url: &str, kind: DbKind) -> String {
    if kind == DbKind::Sqlite && !url.contains('?') && !url.contains(":memory:") {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// True when the error is a unique-constraint violation (a concurrent insert of the same key).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.message().contains("UNIQUE constraint failed")
                || db.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}
