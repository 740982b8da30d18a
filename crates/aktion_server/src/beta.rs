//! Beta sign-ups (PRODUCT.md §5.5): validated, de-duplicated case-insensitively, and answered
//! the same way whether or not the email was already known (so the form tells nobody who signed
//! up).

use aktion_api::BetaSignupEntry;

use crate::db::now_ms;
use crate::{ApiError, Db, auth};

/// Records `email`; true when it was new. The answer to the client must not depend on it.
pub async fn sign_up(db: &Db, email: &str) -> Result<bool, ApiError> {
    let key = auth::normalize_email(email)?;
    let inserted = sqlx::query(
        "INSERT INTO beta_signups (email_key, email, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (email_key) DO NOTHING",
    )
    .bind(&key)
    .bind(email)
    .bind(now_ms())
    .execute(db.writer())
    .await?
    .rows_affected()
        == 1;
    Ok(inserted)
}

/// Every sign-up, oldest first.
pub async fn list(db: &Db) -> Result<Vec<BetaSignupEntry>, ApiError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT email, created_at FROM beta_signups ORDER BY created_at, email_key")
            .fetch_all(&db.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(email, created_at)| BetaSignupEntry { email, created_at })
        .collect())
}
