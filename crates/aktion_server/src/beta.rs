//! Beta sign-ups (PRODUCT.md §5.5): validated, de-duplicated case-insensitively, and answered
//! the same way whether or not the email was already known (so the form tells nobody who signed
//! up).

use aktion_api::BetaSignupEntry;

use crate::db::now_ms;
use crate::mail::{self, Links, Mail, To};
use crate::{ApiError, AppState, Db, auth};

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
    let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT email, created_at, invited_at FROM beta_signups ORDER BY created_at, email_key",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(email, created_at, invited_at)| BetaSignupEntry {
            email,
            created_at,
            invited_at,
        })
        .collect())
}

/// Invites the sign-ups among `emails` not invited yet, each with an invitation mail in the
/// same transaction. Returns how many were invited.
pub async fn invite(state: &AppState, emails: &[String]) -> Result<u64, ApiError> {
    let links = Links::of(state);
    let mut invited = 0;
    let mut tx = state.db.begin_write().await?;
    for email in emails {
        let key = auth::normalize_email(email)?;
        let row: Option<String> = sqlx::query_scalar(
            "UPDATE beta_signups SET invited_at = $1 WHERE email_key = $2 AND invited_at IS NULL \
             RETURNING email",
        )
        .bind(now_ms())
        .bind(&key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(address) = row {
            mail::enqueue(
                &mut tx,
                &links,
                To {
                    user_id: None,
                    email: &address,
                },
                &Mail::BetaInvitation,
                Some(&format!("beta-invitation:{key}")),
            )
            .await?;
            invited += 1;
        }
    }
    tx.commit().await?;
    Ok(invited)
}

/// Whether `email` was invited (invite-only registration).
pub async fn is_invited(db: &Db, email: &str) -> Result<bool, ApiError> {
    let key = auth::normalize_email(email)?;
    let found: Option<Option<i64>> =
        sqlx::query_scalar("SELECT invited_at FROM beta_signups WHERE email_key = $1")
            .bind(key)
            .fetch_optional(&db.pool)
            .await?;
    Ok(matches!(found, Some(Some(_))))
}
