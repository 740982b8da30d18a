//! The account lifecycle (PRODUCT.md §5.8): email verification (which pays the starter grant),
//! password reset, change password, sign out everywhere, delete my account, unsubscribe and the
//! "generation finished" preference.
//!
//! Mailed links carry single-use tokens stored hashed in `account_tokens`; a token is consumed
//! by one conditional `UPDATE`, so two clicks cannot both use it.

use std::time::Duration;

use sqlx::{Any, Transaction};

use crate::auth::{self, User};
use crate::db::now_ms;
use crate::mail::{self, Links, Mail, To};
use crate::{ApiError, AppState, Db, ledger, limits};

/// How long a verification link works.
pub const VERIFY_TTL: Duration = Duration::from_secs(48 * 3600);
/// How long a password-reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);

/// Longest token a link may carry (the server makes 64 hex digits).
pub const TOKEN_MAX: usize = 128;
/// What the token field of a request must look like.
pub const TOKEN_PATTERN: &str = "^[0-9a-fA-F]{1,128}$";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }

    fn ttl(self) -> Duration {
        match self {
            Self::Verify => VERIFY_TTL,
            Self::Reset => RESET_TTL,
        }
    }
}

/// A new token for `user_id`; earlier unused tokens of the same purpose stop working.
async fn issue_token(
    tx: &mut Transaction<'static, Any>,
    user_id: i64,
    purpose: Purpose,
) -> Result<String, ApiError> {
    let (token, hash) = auth::new_token()?;
    let now = now_ms();
    sqlx::query("DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2")
        .bind(user_id)
        .bind(purpose.as_str())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(now.saturating_add(i64::try_from(purpose.ttl().as_millis()).unwrap_or(0)))
    .execute(&mut **tx)
    .await?;
    Ok(token)
}

/// Uses a token once: the user it was for, or a 400 when it is unknown, used or expired.
async fn consume_token(
    tx: &mut Transaction<'static, Any>,
    token: &str,
    purpose: Purpose,
) -> Result<i64, ApiError> {
    let invalid = || ApiError::Unverified {
        code: "invalid_link",
        message: "this link is invalid, was already used or has expired; ask for a new one"
            .to_owned(),
    };
    if token.is_empty() || token.len() > TOKEN_MAX || !token.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(invalid());
    }
    let now = now_ms();
    let user: Option<i64> = sqlx::query_scalar(
        "UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 \
         AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(auth::token_hash(token))
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    user.ok_or_else(invalid)
}

/// Inside the registration's transaction: a verification token and its mail.
pub async fn start_verification(
    tx: &mut Transaction<'static, Any>,
    links: &Links,
    user_id: i64,
    email: &str,
) -> Result<(), ApiError> {
    let token = issue_token(tx, user_id, Purpose::Verify).await?;
    let link = links.page(&format!("/account/verify?token={token}"));
    mail::enqueue(
        tx,
        links,
        To {
            user_id: Some(user_id),
            email,
        },
        &Mail::VerifyEmail { link },
        None,
    )
    .await?;
    Ok(())
}

/// Mails a new verification link (at most three an hour per account).
pub async fn resend_verification(state: &AppState, user: &User) -> Result<(), ApiError> {
    if user.email_verified {
        return Err(ApiError::Conflict {
            code: "already_verified",
            message: "this email address is already confirmed".to_owned(),
        });
    }
    let key = format!("verify-mail:{}", user.id);
    limits::hit_window(&state.db, &key, 3, Duration::from_secs(3600)).await?;
    let mut tx = state.db.begin_write().await?;
    start_verification(&mut tx, &Links::of(state), user.id, &user.email).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks the account verified and pays its starter grant (within the daily budget) with the
/// welcome mail, all in `tx`. Returns the credits paid; nothing when it was verified already.
pub async fn mark_verified_in(
    tx: &mut Transaction<'static, Any>,
    links: &Links,
    user_id: i64,
    daily_budget: Option<i64>,
) -> Result<Option<i64>, ApiError> {
    // The conditional update decides (and on PostgreSQL locks the row): one verification wins.
    let won = sqlx::query(
        "UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL \
         AND deleted_at IS NULL",
    )
    .bind(now_ms())
    .bind(user_id)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !won {
        return Ok(None);
    }
    let (due, email): (i64, String) =
        sqlx::query_as("SELECT starter_grant_due, email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
    let mut paid = 0;
    if due > 0 {
        let within = match daily_budget {
            Some(budget) => limits::take_from_daily_budget(tx, budget, due).await?,
            None => true,
        };
        if within {
            ledger::grant_in(tx, user_id, due, "starter grant", Some("starter-grant")).await?;
            paid = due;
        } else {
            tracing::warn!(
                "today's starter-grant budget is spent: account {user_id} verified without credits"
            );
        }
        sqlx::query("UPDATE users SET starter_grant_due = 0 WHERE id = $1")
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
    }
    mail::enqueue(
        tx,
        links,
        To {
            user_id: Some(user_id),
            email: &email,
        },
        &Mail::Welcome { credits: paid },
        Some(&format!("welcome:{user_id}")),
    )
    .await?;
    Ok(Some(paid))
}

/// Follows a verification link. Returns the verified user.
pub async fn verify_email(state: &AppState, token: &str) -> Result<User, ApiError> {
    let mut tx = state.db.begin_write().await?;
    let user_id = consume_token(&mut tx, token, Purpose::Verify).await?;
    mark_verified_in(
        &mut tx,
        &Links::of(state),
        user_id,
        Some(state.config.limits.starter_grant_daily_budget),
    )
    .await?;
    tx.commit().await?;
    auth::user_by_id(&state.db, user_id).await
}

/// Verifies an address by hand (`admin verify-email`): no budget, as an operator decides.
pub async fn verify_by_operator(state: &AppState, user_id: i64) -> Result<Option<i64>, ApiError> {
    let mut tx = state.db.begin_write().await?;
    let paid = mark_verified_in(&mut tx, &Links::of(state), user_id, None).await?;
    tx.commit().await?;
    Ok(paid)
}

/// Mails a reset link when `email` has a live account. The caller answers the same either
/// way. Limited to three mails an hour per address.
pub async fn request_reset(state: &AppState, email: &str) -> Result<(), ApiError> {
    let email = auth::normalize_email(email)?;
    let Some(user) = auth::user_by_email(&state.db, &email).await? else {
        return Ok(());
    };
    if user.disabled {
        return Ok(());
    }
    let key = auth::token_hash(&format!("reset-mail:{email}"));
    if limits::hit_window(&state.db, &key, 3, Duration::from_secs(3600))
        .await
        .is_err()
    {
        // Answering 429 here would tell who has an account.
        return Ok(());
    }
    let links = Links::of(state);
    let mut tx = state.db.begin_write().await?;
    let token = issue_token(&mut tx, user.id, Purpose::Reset).await?;
    let link = links.page(&format!("/account/reset?token={token}"));
    mail::enqueue(
        &mut tx,
        &links,
        To {
            user_id: Some(user.id),
            email: &user.email,
        },
        &Mail::PasswordReset { link },
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Mails the owner of a taken address that someone tried to register with it (at most once a
/// day).
pub async fn registration_attempted(state: &AppState, user: &User) -> Result<(), ApiError> {
    let links = Links::of(state);
    let day = now_ms() / 86_400_000;
    let mut tx = state.db.begin_write().await?;
    mail::enqueue(
        &mut tx,
        &links,
        To {
            user_id: Some(user.id),
            email: &user.email,
        },
        &Mail::RegistrationAttempt {
            reset_link: links.page("/account/reset"),
        },
        Some(&format!("registration-attempt:{}:{day}", user.id)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password from a reset link: every session ends, and the address counts as
/// verified (the link proved it).
pub async fn reset_password(state: &AppState, token: &str, password: &str) -> Result<(), ApiError> {
    // The account is known only once the token is consumed; the other checks need no email.
    auth::check_new_password(password, None)?;
    let hash = {
        let _slot = state.gates.hashing.enter().await?;
        auth::hash_password(password.to_owned(), state.config.password_cost).await?
    };
    let mut tx = state.db.begin_write().await?;
    let user_id = consume_token(&mut tx, token, Purpose::Reset).await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(&hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    mark_verified_in(
        &mut tx,
        &Links::of(state),
        user_id,
        Some(state.config.limits.starter_grant_daily_budget),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks the user's current password (within the hashing gate).
async fn check_current_password(
    state: &AppState,
    user_id: i64,
    password: &str,
) -> Result<(), ApiError> {
    auth::check_password(password)?;
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&state.db.pool)
        .await?;
    let ok = {
        let _slot = state.gates.hashing.enter().await?;
        auth::verify_password(password.to_owned(), stored).await?
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadCredentials)
    }
}

/// Changes the password; every other session of the user ends.
pub async fn change_password(
    state: &AppState,
    user: &User,
    session_token: &str,
    current: &str,
    new: &str,
) -> Result<u64, ApiError> {
    auth::check_new_password(new, Some(&user.email))?;
    state.limiter.attempt(&state.db, &user.email, None).await?;
    check_current_password(state, user.id, current).await?;
    state
        .limiter
        .succeeded(&state.db, &user.email, None)
        .await?;
    let hash = {
        let _slot = state.gates.hashing.enter().await?;
        auth::hash_password(new.to_owned(), state.config.password_cost).await?
    };
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
        .bind(user.id)
        .bind(auth::token_hash(session_token))
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(ended)
}

/// Ends every session of the user, this one too. Returns how many.
pub async fn sign_out_everywhere(db: &Db, user_id: i64) -> Result<u64, ApiError> {
    Ok(sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.writer())
        .await?
        .rows_affected())
}

/// Deletes the account: sessions, tokens, waiting mails, shared training data and its files,
/// uploaded blobs no other account has, and the prompts and outputs of its generations are
/// erased; the user row stays without personal data so the ledger keeps its history.
pub async fn delete_account(state: &AppState, user: &User, password: &str) -> Result<(), ApiError> {
    state.limiter.attempt(&state.db, &user.email, None).await?;
    check_current_password(state, user.id, password).await?;
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM generations WHERE user_id = $1 \
         AND state IN ('queued', 'submitting', 'running')",
    )
    .bind(user.id)
    .fetch_one(&state.db.pool)
    .await?;
    if active > 0 {
        return Err(ApiError::Conflict {
            code: "generations_running",
            message: format!(
                "{active} generation(s) are still running; cancel them or wait, then delete the account"
            ),
        });
    }
    // Sign-in ends first, so nothing new starts while files go.
    sign_out_everywhere(&state.db, user.id).await?;
    crate::training::delete_all(state, user.id).await?;
    let hashes: Vec<String> = sqlx::query_scalar("SELECT hash FROM blobs WHERE user_id = $1")
        .bind(user.id)
        .fetch_all(&state.db.pool)
        .await?;
    sqlx::query("DELETE FROM blobs WHERE user_id = $1")
        .bind(user.id)
        .execute(state.db.writer())
        .await?;
    for hash in hashes {
        let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE hash = $1")
            .bind(&hash)
            .fetch_one(&state.db.pool)
            .await?;
        if others == 0
            && let Ok(hash) = crate::storage::BlobHash::parse(&hash)
        {
            state
                .storage
                .delete(&crate::Storage::blob_key(&hash))
                .await?;
        }
    }
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM account_tokens WHERE user_id = $1",
        "DELETE FROM outbox WHERE user_id = $1 AND sent_at IS NULL",
        "UPDATE outbox SET recipient = '', body_text = '', body_html = '' WHERE user_id = $1",
        "UPDATE generations SET request = '{\"kind\":\"' || kind || '\"}', outputs = NULL, \
         message = NULL WHERE user_id = $1",
        "UPDATE problem_reports SET user_id = NULL WHERE user_id = $1",
    ] {
        sqlx::query(sql).bind(user.id).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM beta_signups WHERE email_key = $1")
        .bind(&user.email)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE users SET email = $1, password_hash = '!', is_admin = 0, \
         data_sharing_opt_in = 0, data_sharing_opted_in_at = NULL, email_verified_at = NULL, \
         starter_grant_due = 0, notify_generation_finished = 0, deleted_at = $2 WHERE id = $3",
    )
    .bind(format!("deleted-{}@deleted.invalid", user.id))
    .bind(now)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns every optional mail off for the user.
pub async fn unsubscribe(db: &Db, user_id: i64) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE users SET mail_unsubscribed_at = COALESCE(mail_unsubscribed_at, $1), \
         notify_generation_finished = 0 WHERE id = $2",
    )
    .bind(now_ms())
    .bind(user_id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Sets whether the user gets "generation finished" mails (asking again re-subscribes).
pub async fn set_generation_mails(db: &Db, user_id: i64, on: bool) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE users SET notify_generation_finished = $1, \
         mail_unsubscribed_at = CASE WHEN $1 = 1 THEN NULL ELSE mail_unsubscribed_at END \
         WHERE id = $2",
    )
    .bind(i64::from(on))
    .bind(user_id)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Within a generation's finishing transaction: the "generation finished" mail when the user
/// asked for it and the job took over a minute.
pub async fn generation_finished_in(
    tx: &mut Transaction<'static, Any>,
    links: &Links,
    user_id: i64,
    generation: &str,
    kind: &str,
    took_ms: i64,
    succeeded: bool,
) -> Result<(), ApiError> {
    if took_ms < 60_000 {
        return Ok(());
    }
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT email, notify_generation_finished FROM users WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((email, 1)) = row else {
        return Ok(());
    };
    mail::enqueue(
        tx,
        links,
        To {
            user_id: Some(user_id),
            email: &email,
        },
        &Mail::GenerationFinished {
            kind: aktion_graph::catalog::Catalog::builtin()
                .get(kind)
                .map_or_else(|| kind.to_owned(), |k| k.title.clone()),
            id: generation.to_owned(),
            seconds: took_ms / 1000,
            succeeded,
        },
        Some(&format!("generation-finished:{generation}")),
    )
    .await?;
    Ok(())
}
