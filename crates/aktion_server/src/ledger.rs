//! The credits ledger (PRODUCT.md §5.2): grants, reservations, charges and releases.
//!
//! `users.balance` is the spendable balance. A reservation subtracts its amount at once (with a
//! conditional `UPDATE … WHERE balance >= $amount`, so two racing reservations can never both
//! take the last credits), a charge settles it without changing the balance again, a release adds
//! it back. Every change writes a ledger entry with the balance after it, in the same
//! transaction. Each function is one transaction; on SQLite it is `BEGIN IMMEDIATE`.

use std::time::Duration;

use aktion_api::{LedgerEntry, LedgerKind, LedgerPage};
use sqlx::{Any, Row, Transaction};

use crate::ApiError;
use crate::db::{Db, DbKind, is_unique_violation, now_ms};

/// State of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Open,
    Charged,
    Released,
}

impl ReservationStatus {
    fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "open" => Ok(Self::Open),
            "charged" => Ok(Self::Charged),
            "released" => Ok(Self::Released),
            other => Err(ApiError::Internal(format!(
                "unknown reservation status {other:?}"
            ))),
        }
    }
}

/// A reservation as returned by [`reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: i64,
    pub user_id: i64,
    pub amount: i64,
    pub status: ReservationStatus,
    /// True when an earlier call with the same operation key made it (nothing new was reserved).
    pub replayed: bool,
}

/// Result of [`charge`] or [`release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Settled now; the user's balance after it.
    Settled { balance: i64 },
    /// It was already settled the same way (a retry); nothing changed.
    AlreadyDone,
}

/// Result of [`grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub entry_id: i64,
    pub balance: i64,
    /// True when an earlier call with the same operation key made it.
    pub replayed: bool,
}

/// One row of `ledger_entries` to insert.
struct NewEntry<'a> {
    user_id: i64,
    kind: &'a str,
    delta: i64,
    amount: i64,
    balance_after: i64,
    reservation_id: Option<i64>,
    op_key: Option<&'a str>,
    reason: &'a str,
}

async fn insert_entry(tx: &mut sqlx::AnyConnection, e: NewEntry<'_>) -> Result<i64, ApiError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger_entries \
         (user_id, kind, delta, amount, balance_after, reservation_id, op_key, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(e.user_id)
    .bind(e.kind)
    .bind(e.delta)
    .bind(e.amount)
    .bind(e.balance_after)
    .bind(e.reservation_id)
    .bind(e.op_key)
    .bind(e.reason)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    Ok(id)
}

/// Adds `amount` credits. With `op_key`, a second call with the same key for the same user
/// changes nothing and returns the first result.
pub async fn grant(
    db: &Db,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
) -> Result<Granted, ApiError> {
    if amount <= 0 {
        return Err(ApiError::invalid_field("credits", "must be at least 1"));
    }
    match grant_once(db, user_id, amount, reason, op_key).await {
        Err(ApiError::Database(e)) if op_key.is_some() && is_unique_violation(&e) => {
            // A concurrent call with the same key won; answer with its result.
            grant_once(db, user_id, amount, reason, op_key).await
        }
        other => other,
    }
}

async fn grant_once(
    db: &Db,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
) -> Result<Granted, ApiError> {
    let mut tx = db.begin_write().await?;
    let granted = grant_in(&mut tx, user_id, amount, reason, op_key).await?;
    tx.commit().await?;
    Ok(granted)
}

/// [`grant`] inside the caller's write transaction (a new account and its starter grant
/// commit together).
pub async fn grant_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
) -> Result<Granted, ApiError> {
    if let Some(key) = op_key {
        let existing: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT id, balance_after, amount FROM ledger_entries \
             WHERE user_id = $1 AND op_key = $2 AND kind = 'grant'",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((entry_id, balance, first_amount)) = existing {
            if first_amount != amount {
                return Err(ApiError::IdempotencyKeyReused);
            }
            return Ok(Granted {
                entry_id,
                balance,
                replayed: true,
            });
        }
    }
    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET balance = balance + $1 WHERE id = $2 RETURNING balance",
    )
    .bind(amount)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(balance) = balance else {
        return Err(ApiError::NotFound("user"));
    };
    let entry_id = insert_entry(
        tx,
        NewEntry {
            user_id,
            kind: "grant",
            delta: amount,
            amount,
            balance_after: balance,
            reservation_id: None,
            op_key,
            reason,
        },
    )
    .await?;
    Ok(Granted {
        entry_id,
        balance,
        replayed: false,
    })
}

/// Takes up to `amount` credits back (a refund or dispute): as much as the balance covers, as
/// one `clawback` entry; the rest is added to the user's debt, which blocks new reservations
/// until a purchase pays it. Returns (taken, added to debt).
pub async fn claw_back_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: i64,
    amount: i64,
    reason: &str,
) -> Result<(i64, i64), ApiError> {
    if amount <= 0 {
        return Ok((0, 0));
    }
    let Some(before) = lock_balance(tx, user_id).await? else {
        return Err(ApiError::NotFound("user"));
    };
    let taken = before.min(amount);
    let balance: i64 = sqlx::query_scalar(
        "UPDATE users SET balance = balance - $1, debt = debt + $2 WHERE id = $3 RETURNING balance",
    )
    .bind(taken)
    .bind(amount - taken)
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    if taken > 0 {
        insert_entry(
            tx,
            NewEntry {
                user_id,
                kind: "clawback",
                delta: -taken,
                amount: taken,
                balance_after: balance,
                reservation_id: None,
                op_key: None,
                reason,
            },
        )
        .await?;
    }
    Ok((taken, amount - taken))
}

/// The user's balance, with the row locked for the rest of the transaction (a no-op update:
/// PostgreSQL then holds the row; SQLite's write transaction holds the database).
async fn lock_balance(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: i64,
) -> Result<Option<i64>, ApiError> {
    Ok(
        sqlx::query_scalar("UPDATE users SET balance = balance WHERE id = $1 RETURNING balance")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Pays as much of the user's debt as the balance covers (after a purchase), as a `clawback`
/// entry. Returns what was paid.
pub async fn settle_debt_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: i64,
) -> Result<i64, ApiError> {
    let Some(balance) = lock_balance(tx, user_id).await? else {
        return Err(ApiError::NotFound("user"));
    };
    let debt: i64 = sqlx::query_scalar("SELECT debt FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?;
    let pay = debt.min(balance);
    if pay <= 0 {
        return Ok(0);
    }
    let after: i64 = sqlx::query_scalar(
        "UPDATE users SET balance = balance - $1, debt = debt - $1 WHERE id = $2          AND balance >= $1 AND debt >= $1 RETURNING balance",
    )
    .bind(pay)
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    insert_entry(
        tx,
        NewEntry {
            user_id,
            kind: "clawback",
            delta: -pay,
            amount: pay,
            balance_after: after,
            reservation_id: None,
            op_key: None,
            reason: "pays the debt of a refunded or disputed payment",
        },
    )
    .await?;
    Ok(pay)
}

/// Reserves `amount` credits for a job, or fails with [`ApiError::InsufficientCredits`].
///
/// The reservation holds a lease of `lease`; one whose lease ran out is released by
/// [`settle_abandoned`]. With `op_key`, a retried call returns the first reservation and
/// reserves nothing more.
pub async fn reserve(
    db: &Db,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
    lease: Duration,
) -> Result<Reservation, ApiError> {
    if amount <= 0 {
        return Err(ApiError::invalid_field("amount", "must be at least 1"));
    }
    match reserve_once(db, user_id, amount, reason, op_key, lease, true).await {
        Err(ApiError::Database(e)) if op_key.is_some() && is_unique_violation(&e) => {
            reserve_once(db, user_id, amount, reason, op_key, lease, false).await
        }
        other => other,
    }
}

async fn reserve_once(
    db: &Db,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
    lease: Duration,
    first_attempt: bool,
) -> Result<Reservation, ApiError> {
    let mut tx = db.begin_write().await?;
    let reservation = reserve_in(
        &mut tx,
        db.kind,
        user_id,
        amount,
        reason,
        op_key,
        lease,
        first_attempt,
    )
    .await?;
    if !reservation.replayed {
        tx.commit().await?;
    }
    Ok(reservation)
}

/// [`reserve`] inside the caller's write transaction, so the job it pays for is stored in the
/// same commit. The caller commits (a replay changed nothing) and, on a unique violation of
/// `op_key`, retries in a new transaction with `first_attempt` false.
///
/// A first attempt does not look for an earlier reservation with `op_key`: the reservation's
/// insert fails on the key's unique constraint when there is one, the caller drops the
/// transaction (so the balance change is rolled back) and the retry looks. That saves a round
/// trip on every new request; replays, which are rare, pay one more.
#[expect(
    clippy::too_many_arguments,
    reason = "the ledger's reservation, spelled out"
)]
pub async fn reserve_in(
    tx: &mut Transaction<'static, Any>,
    kind: DbKind,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
    lease: Duration,
    first_attempt: bool,
) -> Result<Reservation, ApiError> {
    if amount <= 0 {
        return Err(ApiError::invalid_field("amount", "must be at least 1"));
    }
    let look = !first_attempt;
    if look && let Some(earlier) = earlier_reservation(tx, user_id, amount, op_key).await? {
        return Ok(earlier);
    }
    let now = now_ms();
    let lease_until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2));
    let id = if kind == DbKind::Postgres {
        // One statement: the user's row lock is held for one round trip and the commit, not
        // three. The hot path of a busy account: about 1.5x the reservations/s of the three
        // statements in the reservations bench (64 tasks, one account, fsync off, 2 cores).
        sqlx::query_scalar::<_, i64>(&pg_reserve_sql(None))
            .bind(amount)
            .bind(user_id)
            .bind(op_key)
            .bind(reason)
            .bind(lease_until)
            .bind(now)
            .fetch_optional(&mut **tx)
            .await?
    } else {
        reserve_statements(tx, user_id, amount, reason, op_key, lease_until, now).await?
    };
    let Some(id) = id else {
        // Not reserved: a retry of a request that was reserved when the balance allowed it
        // is a replay, not a refusal.
        if !look && let Some(earlier) = earlier_reservation(tx, user_id, amount, op_key).await? {
            return Ok(earlier);
        }
        let available: Option<i64> = sqlx::query_scalar("SELECT balance FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await?;
        return match available {
            None => Err(ApiError::NotFound("user")),
            Some(available) => Err(ApiError::InsufficientCredits {
                needed: amount,
                available,
            }),
        };
    };
    Ok(Reservation {
        id,
        user_id,
        amount,
        status: ReservationStatus::Open,
        replayed: false,
    })
}

/// PostgreSQL's one-statement reservation (binds: `$1` amount, `$2` user id, `$3` op key,
/// `$4` reason, `$5` lease until, `$6` now; answers the new reservation's id, or no row when
/// the balance is too low). `then` is one more data-modifying CTE run in the same statement,
/// reading the reservation as `r` and binding from `$7` on: a job stored with its payment
/// needs neither `BEGIN` nor `COMMIT` round trips.
pub fn pg_reserve_sql(then: Option<&str>) -> String {
    let then = then
        .map(|cte| format!(", j AS ({cte})"))
        .unwrap_or_default();
    format!(
        "WITH u AS ( \
           UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1 \
           RETURNING balance), \
         r AS ( \
           INSERT INTO reservations \
             (user_id, amount, status, op_key, reason, lease_until, created_at) \
           SELECT $2, $1, 'open', $3, $4, $5, $6 FROM u RETURNING id), \
         e AS ( \
           INSERT INTO ledger_entries (user_id, kind, delta, amount, balance_after, \
             reservation_id, reason, created_at) \
           SELECT $2, 'reserve', -$1, $1, u.balance, r.id, $4, $6 FROM u, r){then} \
         SELECT id FROM r"
    )
}

/// The reservation made earlier under `op_key`, as a replay (422 when it was for another
/// amount).
async fn earlier_reservation(
    tx: &mut Transaction<'static, Any>,
    user_id: i64,
    amount: i64,
    op_key: Option<&str>,
) -> Result<Option<Reservation>, ApiError> {
    let Some(key) = op_key else {
        return Ok(None);
    };
    let existing: Option<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, amount, status FROM reservations WHERE user_id = $1 AND op_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((id, first_amount, status)) = existing else {
        return Ok(None);
    };
    if first_amount != amount {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(Some(Reservation {
        id,
        user_id,
        amount,
        status: ReservationStatus::parse(&status)?,
        replayed: true,
    }))
}

/// The reservation as separate statements (SQLite, where DML in a `WITH` is not allowed);
/// `None` when the balance is too low or the user is unknown.
async fn reserve_statements(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    amount: i64,
    reason: &str,
    op_key: Option<&str>,
    lease_until: i64,
    now: i64,
) -> Result<Option<i64>, ApiError> {
    let balance: Option<i64> = sqlx::query_scalar(
        "UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1 RETURNING balance",
    )
    .bind(amount)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(balance) = balance else {
        return Ok(None);
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reservations (user_id, amount, status, op_key, reason, lease_until, created_at) \
         VALUES ($1, $2, 'open', $3, $4, $5, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(amount)
    .bind(op_key)
    .bind(reason)
    .bind(lease_until)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    insert_entry(
        tx,
        NewEntry {
            user_id,
            kind: "reserve",
            delta: -amount,
            amount,
            balance_after: balance,
            reservation_id: Some(id),
            op_key: None,
            reason,
        },
    )
    .await?;
    Ok(Some(id))
}

/// Turns an open reservation into a charge. Charging a charged reservation again is a no-op
/// ([`Settlement::AlreadyDone`]); charging a released one is [`ApiError::AlreadySettled`].
pub async fn charge(db: &Db, reservation_id: i64) -> Result<Settlement, ApiError> {
    settle(db, reservation_id, ReservationStatus::Charged, "charge").await
}

/// Gives an open reservation back. Releasing a released reservation again is a no-op;
/// releasing a charged one is [`ApiError::AlreadySettled`].
pub async fn release(db: &Db, reservation_id: i64, reason: &str) -> Result<Settlement, ApiError> {
    settle(db, reservation_id, ReservationStatus::Released, reason).await
}

async fn settle(
    db: &Db,
    reservation_id: i64,
    to: ReservationStatus,
    reason: &str,
) -> Result<Settlement, ApiError> {
    let mut tx = db.begin_write().await?;
    let settled = settle_in(&mut tx, reservation_id, to, reason).await?;
    tx.commit().await?;
    Ok(settled)
}

/// Charges (`to` = charged) or releases an open reservation inside the caller's write
/// transaction, so a job's end state and its settlement commit together. Settling it the same
/// way again is [`Settlement::AlreadyDone`]; the other way, [`ApiError::AlreadySettled`].
pub async fn settle_in(
    tx: &mut Transaction<'static, Any>,
    reservation_id: i64,
    to: ReservationStatus,
    reason: &str,
) -> Result<Settlement, ApiError> {
    let (status_text, kind) = match to {
        ReservationStatus::Charged => ("charged", "charge"),
        ReservationStatus::Released => ("released", "release"),
        ReservationStatus::Open => {
            return Err(ApiError::Internal("cannot settle to open".to_owned()));
        }
    };
    let row: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE reservations SET status = $1, settled_at = $2 \
         WHERE id = $3 AND status = 'open' RETURNING user_id, amount",
    )
    .bind(status_text)
    .bind(now_ms())
    .bind(reservation_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((user_id, amount)) = row else {
        let status: Option<String> =
            sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
                .bind(reservation_id)
                .fetch_optional(&mut **tx)
                .await?;
        return match status {
            None => Err(ApiError::NotFound("reservation")),
            Some(s) if ReservationStatus::parse(&s)? == to => Ok(Settlement::AlreadyDone),
            Some(_) => Err(ApiError::AlreadySettled(reservation_id)),
        };
    };
    let (delta, balance) = if to == ReservationStatus::Released {
        let balance: i64 = sqlx::query_scalar(
            "UPDATE users SET balance = balance + $1 WHERE id = $2 RETURNING balance",
        )
        .bind(amount)
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?;
        (amount, balance)
    } else {
        let balance: i64 = sqlx::query_scalar("SELECT balance FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
        (0, balance)
    };
    insert_entry(
        tx,
        NewEntry {
            user_id,
            kind,
            delta,
            amount,
            balance_after: balance,
            reservation_id: Some(reservation_id),
            op_key: None,
            reason,
        },
    )
    .await?;
    Ok(Settlement::Settled { balance })
}

/// Extends the lease of an open reservation (the job holding it is still alive).
pub async fn renew_lease(db: &Db, reservation_id: i64, lease: Duration) -> Result<bool, ApiError> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
    let done =
        sqlx::query("UPDATE reservations SET lease_until = $1 WHERE id = $2 AND status = 'open'")
            .bind(now_ms().saturating_add(lease_ms))
            .bind(reservation_id)
            .execute(db.writer())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Which open reservations [`settle_abandoned`] releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Every open reservation: right for a server that owns its database alone (SQLite), at
    /// start, before it takes any job.
    All,
    /// Only those whose lease ran out: right when several instances share one PostgreSQL.
    LeaseExpired,
}

/// Releases reservations left open by a crashed server, except those of generations still
/// running (their driver settles them; see `generations::resume`). Returns how many were
/// released.
pub async fn settle_abandoned(db: &Db, which: Abandoned) -> Result<u64, ApiError> {
    let cutoff = match which {
        Abandoned::All => i64::MAX,
        Abandoned::LeaseExpired => now_ms(),
    };
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM reservations WHERE status = 'open' AND lease_until < $1 AND id NOT IN \
         (SELECT reservation_id FROM generations WHERE reservation_id IS NOT NULL \
         AND state IN ('queued', 'submitting', 'running')) ORDER BY id",
    )
    .bind(cutoff)
    .fetch_all(&db.pool)
    .await?;
    let mut released = 0;
    for id in ids {
        // A job may settle it between the SELECT and here; then this is a no-op or a conflict.
        match release(db, id, "released at start: server stopped during the job").await {
            Ok(Settlement::Settled { .. }) => released += 1,
            Ok(Settlement::AlreadyDone) | Err(ApiError::AlreadySettled(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(released)
}

/// The spendable balance of a user.
pub async fn balance(db: &Db, user_id: i64) -> Result<i64, ApiError> {
    sqlx::query_scalar("SELECT balance FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ApiError::NotFound("user"))
}

fn parse_kind(kind: &str) -> Result<LedgerKind, ApiError> {
    Ok(match kind {
        "grant" => LedgerKind::Grant,
        "reserve" => LedgerKind::Reserve,
        "charge" => LedgerKind::Charge,
        "release" => LedgerKind::Release,
        other => return Err(ApiError::Internal(format!("unknown ledger kind {other:?}"))),
    })
}

/// A page of a user's ledger, newest first.
pub async fn ledger_page(
    db: &Db,
    user_id: i64,
    limit: u32,
    before: Option<i64>,
) -> Result<LedgerPage, ApiError> {
    let limit = i64::from(limit.clamp(1, 200));
    let rows = sqlx::query(
        "SELECT id, kind, delta, amount, balance_after, reservation_id, reason, created_at \
         FROM ledger_entries WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(user_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit + 1)
    .fetch_all(&db.pool)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: String = row.try_get("kind")?;
        entries.push(LedgerEntry {
            id: row.try_get("id")?,
            kind: parse_kind(&kind)?,
            delta: row.try_get("delta")?,
            amount: row.try_get("amount")?,
            balance_after: row.try_get("balance_after")?,
            reservation_id: row.try_get("reservation_id")?,
            reason: row.try_get("reason")?,
            created_at: row.try_get("created_at")?,
        });
    }
    let more = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(LedgerPage {
        entries,
        next_before,
    })
}

/// Checks the ledger's invariants for every user and returns each violation found
/// (sums are cast to BIGINT: PostgreSQL sums BIGINT as NUMERIC, which `Any` cannot decode):
/// balance ≥ 0; balance = Σ deltas; balance = grants − charges − claw-backs − open
/// reservations;
/// each reservation has one reserve entry and a settle entry iff it is settled.
pub async fn check_invariants(db: &Db) -> Result<Vec<String>, ApiError> {
    let mut violations = Vec::new();
    let users: Vec<(i64, i64)> = sqlx::query_as("SELECT id, balance FROM users ORDER BY id")
        .fetch_all(&db.pool)
        .await?;
    for (user_id, balance) in users {
        if balance < 0 {
            violations.push(format!("user {user_id}: balance {balance} < 0"));
        }
        let sums: (i64, i64, i64) = sqlx::query_as(
            "SELECT \
               CAST(COALESCE(SUM(delta), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN kind = 'grant' THEN amount ELSE 0 END), 0) AS BIGINT), \
               CAST(COALESCE(SUM(CASE WHEN kind IN ('charge', 'clawback') THEN amount ELSE 0 END), 0) AS BIGINT) \
             FROM ledger_entries WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(&db.pool)
        .await?;
        let open: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM reservations \
             WHERE user_id = $1 AND status = 'open'",
        )
        .bind(user_id)
        .fetch_one(&db.pool)
        .await?;
        let (deltas, grants, charges) = sums;
        if deltas != balance {
            violations.push(format!(
                "user {user_id}: balance {balance} != sum of deltas {deltas}"
            ));
        }
        if grants - charges - open != balance {
            violations.push(format!(
                "user {user_id}: balance {balance} != grants {grants} - charges {charges} - open {open}"
            ));
        }
    }
    let bad: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT r.id, r.status, \
           (SELECT COUNT(*) FROM ledger_entries e WHERE e.reservation_id = r.id AND e.kind = 'reserve'), \
           (SELECT COUNT(*) FROM ledger_entries e WHERE e.reservation_id = r.id AND e.kind <> 'reserve') \
         FROM reservations r ORDER BY r.id",
    )
    .fetch_all(&db.pool)
    .await?;
    for (id, status, reserves, settles) in bad {
        let want_settles = i64::from(status != "open");
        if reserves != 1 || settles != want_settles {
            violations.push(format!(
                "reservation {id} ({status}): {reserves} reserve and {settles} settle entries"
            ));
        }
    }
    Ok(violations)
}
