//! Accounts: Argon2id password hashes, random session tokens stored as BLAKE3 hashes, users,
//! and the login rate limiter.

use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sqlx::Row;

use crate::db::{Db, is_unique_violation, now_ms};
use crate::{ApiError, ledger};

/// Argon2id cost. The default is the OWASP minimum (19 MiB, 2 passes); tests use less.
#[derive(Debug, Clone, Copy)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub passes: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            passes: Params::DEFAULT_T_COST,
        }
    }
}

fn argon2(cost: PasswordCost) -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(cost.memory_kib, cost.passes, 1, None)
        .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a password with Argon2id on a blocking thread.
pub async fn hash_password(password: String, cost: PasswordCost) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0_u8; 16];
        getrandom::fill(&mut salt).map_err(|e| ApiError::Internal(format!("getrandom: {e}")))?;
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
        argon2(cost)?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("hash task: {e}")))?
}

/// Checks a password against a stored PHC hash on a blocking thread (the hash's own
/// parameters are used, so raising the cost later keeps old hashes valid).
pub async fn verify_password(password: String, stored: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Err(ApiError::Internal(
                "stored password hash unreadable".to_owned(),
            ));
        };
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| ApiError::Internal(format!("verify task: {e}")))?
}

/// A new random session token (256 bits, hex) and the hash that is stored.
pub fn new_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("getrandom: {e}")))?;
    let token = bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    });
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: only its BLAKE3 hash, so a database leak yields no sessions.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// Normalises and checks an email address (trimmed, lower-case, one `@`, a dot in the domain).
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split('@').count() == 2
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(ApiError::invalid_field(
            "email",
            "not a valid email address",
        ))
    }
}

/// Checks a new password's length (8–1024 characters).
pub fn check_password(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < 8 {
        return Err(ApiError::invalid_field("password", "at least 8 characters"));
    }
    if n > 1024 {
        return Err(ApiError::invalid_field(
            "password",
            "at most 1024 characters",
        ));
    }
    Ok(())
}

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub is_admin: bool,
    pub balance: i64,
    pub data_sharing_opt_in: bool,
    pub data_sharing_opted_in_at: Option<i64>,
}

const USER_COLUMNS: &str =
    "id, email, is_admin, balance, data_sharing_opt_in, data_sharing_opted_in_at";

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, ApiError> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        balance: row.try_get("balance")?,
        data_sharing_opt_in: row.try_get::<i64, _>("data_sharing_opt_in")? != 0,
        data_sharing_opted_in_at: row.try_get("data_sharing_opted_in_at")?,
    })
}

/// Creates a user with a hashed password and gives the starter grant (if > 0).
pub async fn create_user(
    db: &Db,
    email: &str,
    password: &str,
    is_admin: bool,
    starter_grant: i64,
    cost: PasswordCost,
) -> Result<User, ApiError> {
    let email = normalize_email(email)?;
    check_password(password)?;
    let hash = hash_password(password.to_owned(), cost).await?;
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (email, password_hash, is_admin, balance, created_at) \
         VALUES ($1, $2, $3, 0, $4) RETURNING id",
    )
    .bind(&email)
    .bind(&hash)
    .bind(i64::from(is_admin))
    .bind(now_ms())
    .fetch_one(db.writer())
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Err(ApiError::EmailTaken),
        Err(e) => return Err(e.into()),
    };
    if starter_grant > 0 {
        ledger::grant(
            db,
            id,
            starter_grant,
            "starter grant",
            Some("starter-grant"),
        )
        .await?;
    }
    user_by_id(db, id).await
}

/// Looks a user up by id.
pub async fn user_by_id(db: &Db, id: i64) -> Result<User, ApiError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    user_from_row(&row)
}

/// Looks a user up by (normalised) email.
pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>, ApiError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Sets or clears the admin role.
pub async fn set_admin(db: &Db, user_id: i64, is_admin: bool) -> Result<(), ApiError> {
    sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
        .bind(i64::from(is_admin))
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Checks email and password; `None` when either is wrong (the same answer for both, and
/// about the same time: an unknown email still costs one Argon2 hash of `cost`).
pub async fn authenticate(
    db: &Db,
    email: &str,
    password: &str,
    cost: PasswordCost,
) -> Result<Option<User>, ApiError> {
    let Ok(email) = normalize_email(email) else {
        hash_password(password.to_owned(), cost).await?;
        return Ok(None);
    };
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&db.pool)
            .await?;
    let Some((id, stored)) = row else {
        hash_password(password.to_owned(), cost).await?;
        return Ok(None);
    };
    if verify_password(password.to_owned(), stored).await? {
        Ok(Some(user_by_id(db, id).await?))
    } else {
        Ok(None)
    }
}

/// Starts a session; returns the token (shown once) and its expiry.
pub async fn create_session(
    db: &Db,
    user_id: i64,
    ttl: Duration,
) -> Result<(String, i64), ApiError> {
    let (token, hash) = new_token()?;
    let now = now_ms();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2));
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(db.writer())
    .await?;
    Ok((token, expires_at))
}

/// The user of a live session token.
pub async fn session_user(db: &Db, token: &str) -> Result<Option<User>, ApiError> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    match id {
        Some(id) => Ok(Some(user_by_id(db, id).await?)),
        None => Ok(None),
    }
}

/// Ends a session; true if it existed.
pub async fn delete_session(db: &Db, token: &str) -> Result<bool, ApiError> {
    let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes sessions past their expiry; returns how many.
pub async fn purge_expired_sessions(db: &Db) -> Result<u64, ApiError> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

/// Limits of the login rate limiter.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed logins allowed per email within `window`.
    pub per_email: u32,
    /// Failed logins allowed per client IP within `window`.
    pub per_ip: u32,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_email: 5,
            per_ip: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Counts failed logins per email and per IP in a fixed window, in the database: every
/// instance sharing it sees the same counts, so spreading attempts over instances gains
/// nothing. Keys are stored hashed (the email a client typed may be anything).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: LoginLimits,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self { limits }
    }

    fn email_key(email: &str) -> String {
        token_hash(&format!("email:{}", email.trim().to_lowercase()))
    }

    fn keys_with(email: &str, ip: Option<IpAddr>, limits: LoginLimits) -> Vec<(String, u32)> {
        let mut keys = vec![(Self::email_key(email), limits.per_email)];
        if let Some(ip) = ip {
            keys.push((token_hash(&format!("ip:{ip}")), limits.per_ip));
        }
        keys
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Fails with [`ApiError::RateLimited`] while the email or the IP is over its limit.
    pub async fn check(&self, db: &Db, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let now = now_ms();
        for (key, limit) in Self::keys_with(email, ip, self.limits) {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT window_start, failures FROM login_failures WHERE key = $1")
                    .bind(&key)
                    .fetch_optional(&db.pool)
                    .await?;
            if let Some((start, failures)) = row {
                let left = start + self.window_ms() - now;
                if left > 0 && failures >= i64::from(limit) {
                    let secs = u64::try_from(left / 1000).unwrap_or(0).max(1);
                    return Err(ApiError::RateLimited {
                        retry_after_secs: secs,
                    });
                }
            }
        }
        Ok(())
    }

    /// Records one failed login (a new window starts when the last one is over).
    pub async fn failed(&self, db: &Db, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let now = now_ms();
        for (key, _) in Self::keys_with(email, ip, self.limits) {
            sqlx::query(
                "INSERT INTO login_failures (key, window_start, failures) VALUES ($1, $2, 1) \
                 ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN login_failures.window_start <= $3 THEN 1 \
                   ELSE login_failures.failures + 1 END, \
                 window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 \
                   ELSE login_failures.window_start END",
            )
            .bind(&key)
            .bind(now)
            .bind(now - self.window_ms())
            .execute(db.writer())
            .await?;
        }
        Ok(())
    }

    /// Forgets the email's failures after a successful login.
    pub async fn succeeded(&self, db: &Db, email: &str) -> Result<(), ApiError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(Self::email_key(email))
            .execute(db.writer())
            .await?;
        Ok(())
    }

    /// Drops counts whose window is over.
    pub async fn purge(&self, db: &Db) -> Result<u64, ApiError> {
        Ok(
            sqlx::query("DELETE FROM login_failures WHERE window_start < $1")
                .bind(now_ms() - self.window_ms())
                .execute(db.writer())
                .await?
                .rows_affected(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        for bad in ["", "a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c", "a@c."] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tokens_are_random_and_only_hashes_are_kept() {
        let (a, ha) = new_token().expect("token");
        let (b, _) = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), ha);
        assert_ne!(ha, a);
    }

    #[tokio::test]
    async fn limiter_blocks_after_the_limit_per_email_and_per_ip_across_instances() {
        let db = Db::connect("sqlite::memory:").await.expect("db");
        db.migrate().await.expect("migrate");
        let limits = LoginLimits {
            per_email: 2,
            per_ip: 3,
            window: Duration::from_secs(60),
        };
        // Two limiters over one database: two server instances.
        let (one, two) = (LoginLimiter::new(limits), LoginLimiter::new(limits));
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        one.failed(&db, "a@x.io", ip).await.expect("count");
        assert!(two.check(&db, "a@x.io", ip).await.is_ok());
        two.failed(&db, "A@x.io", ip).await.expect("count");
        assert!(matches!(
            one.check(&db, "a@x.io", None).await,
            Err(ApiError::RateLimited { retry_after_secs }) if (1..=60).contains(&retry_after_secs)
        ));
        assert!(one.check(&db, "b@x.io", ip).await.is_ok());
        one.failed(&db, "b@x.io", ip).await.expect("count");
        assert!(
            two.check(&db, "c@x.io", ip).await.is_err(),
            "IP limit of 3 reached"
        );
        assert!(two.check(&db, "c@x.io", None).await.is_ok());
        one.succeeded(&db, "a@x.io").await.expect("forget");
        assert!(two.check(&db, "a@x.io", None).await.is_ok());
        // Stored keys are hashes, never the typed email.
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM login_failures")
            .fetch_all(&db.pool)
            .await
            .expect("keys");
        assert!(keys.iter().all(|k| k.len() == 64 && !k.contains('@')));
    }
}
