//! Generations stored: the row, its views, creating one (price reserved with it), cancelling, reading and rating.

use std::collections::BTreeMap;

use aktion_api::{
    Generation, GenerationInput, GenerationOutput, GenerationRequest, GenerationState,
};
use aktion_graph::{Catalog, KindSchema, PortType};
use serde_json::Value;
use sqlx::Row as _;

use crate::auth::User;
use crate::db::{DbKind, now_ms};
use crate::ledger;
use crate::storage::BlobHash;
use crate::{ApiError, AppState, pricing};

use super::StoredOutput;
use super::driver::lease_ms;

/// A `generations` row.
#[derive(Debug, Clone)]
pub struct GenerationRow {
    pub id: String,
    pub user_id: i64,
    pub kind: String,
    pub request: GenerationRequest,
    pub state: GenerationState,
    pub progress_permille: Option<i64>,
    pub message: Option<String>,
    pub credits: i64,
    pub reservation_id: Option<i64>,
    pub provider_job: Option<String>,
    pub outputs: Vec<StoredOutput>,
    pub cancel_requested: bool,
    /// Times a driver gave this generation up on a server error.
    pub driver_failures: i64,
    pub rating: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

pub(super) const COLUMNS: &str = "id, user_id, kind, request, state, progress_permille, message, credits, \
    reservation_id, provider_job, outputs, cancel_requested, driver_failures, rating, created_at, \
    started_at, finished_at";

pub(super) fn row_from(row: &sqlx::any::AnyRow) -> Result<GenerationRow, ApiError> {
    let request: String = row.try_get("request")?;
    let state: String = row.try_get("state")?;
    let outputs: Option<String> = row.try_get("outputs")?;
    Ok(GenerationRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: row.try_get("kind")?,
        request: serde_json::from_str(&request)
            .map_err(|e| ApiError::Internal(format!("stored generation request: {e}")))?,
        state: GenerationState::parse(&state)
            .ok_or_else(|| ApiError::Internal(format!("unknown generation state {state:?}")))?,
        progress_permille: row.try_get("progress_permille")?,
        message: row.try_get("message")?,
        credits: row.try_get("credits")?,
        reservation_id: row.try_get("reservation_id")?,
        provider_job: row.try_get("provider_job")?,
        outputs: match outputs {
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| ApiError::Internal(format!("stored outputs: {e}")))?,
            None => Vec::new(),
        },
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        driver_failures: row.try_get("driver_failures")?,
        rating: row.try_get("rating")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl GenerationRow {
    /// The answer `POST /v1/generations` gave when it created this generation (replayed as is
    /// for a retry with the same `Idempotency-Key`).
    pub fn created_view(&self) -> Generation {
        Generation {
            state: GenerationState::Queued,
            progress: None,
            message: None,
            outputs: Vec::new(),
            rating: None,
            finished_at: None,
            ..self.view()
        }
    }

    /// The API view of this row.
    pub fn view(&self) -> Generation {
        Generation {
            id: self.id.clone(),
            kind: self.kind.clone(),
            state: self.state,
            progress: self.progress_permille.map(|p| p as f32 / 1000.0),
            message: self.message.clone(),
            credits: self.credits,
            outputs: self
                .outputs
                .iter()
                .map(|o| GenerationOutput {
                    hash: o.hash.clone(),
                    content_type: o.content_type.clone(),
                    size: o.size,
                    url: format!("/v1/blobs/{}", o.hash),
                })
                .collect(),
            rating: self.rating.and_then(|r| u8::try_from(r).ok()),
            created_at: self.created_at,
            finished_at: self.finished_at,
        }
    }
}

pub(super) async fn load(db: &crate::Db, id: &str) -> Result<GenerationRow, ApiError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM generations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ApiError::NotFound("generation"))?;
    row_from(&row)
}

/// The caller's generation `id`; another user's is 404, as if it did not exist.
pub async fn owned(db: &crate::Db, user_id: i64, id: &str) -> Result<GenerationRow, ApiError> {
    // Ids are 32 hex digits (a UUID): anything else is unknown, without asking the database
    // (a NUL would not even reach PostgreSQL).
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound("generation"));
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM generations WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?
    .ok_or(ApiError::NotFound("generation"))?;
    row_from(&row)
}

/// The content type of the caller's blob `hash`, if they uploaded (or generated) it.
pub async fn blob_of(
    db: &crate::Db,
    user_id: i64,
    hash: &BlobHash,
) -> Result<Option<(String, i64)>, ApiError> {
    Ok(
        sqlx::query_as("SELECT content_type, size FROM blobs WHERE user_id = $1 AND hash = $2")
            .bind(user_id)
            .bind(hash.as_str())
            .fetch_optional(&db.pool)
            .await?,
    )
}

/// Refuses a new generation (429) while `user_id` cancelled more than the allowed number in
/// the last hour: every cancel after a submit may cost the studio the provider's price while
/// the user gets everything back.
pub async fn check_cancel_rate(state: &AppState, user_id: i64) -> Result<(), ApiError> {
    let hour_ago = now_ms() - 3_600_000;
    let cancelled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM generations \
         WHERE user_id = $1 AND state = 'cancelled' AND finished_at > $2",
    )
    .bind(user_id)
    .bind(hour_ago)
    .fetch_one(&state.db.pool)
    .await?;
    if cancelled >= i64::from(state.config.limits.cancels_per_hour) {
        return Err(ApiError::RateLimited {
            retry_after_secs: 600,
        });
    }
    Ok(())
}

/// Bytes of blobs `user_id` keeps (uploads and outputs), for the storage quota.
pub async fn stored_bytes(db: &crate::Db, user_id: i64) -> Result<u64, ApiError> {
    let total: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// Checks a request against the node catalog: a generating kind the server prices, known
/// parameters with valid values, known inputs of the right type (blobs the caller owns), and
/// every required input present. Returns the kind and its price.
pub(super) async fn check(
    db: &crate::Db,
    user: &User,
    req: &GenerationRequest,
) -> Result<(&'static KindSchema, i64), ApiError> {
    if user.debt > 0 {
        return Err(ApiError::InDebt { debt: user.debt });
    }
    let schema = Catalog::builtin()
        .get(&req.kind)
        .filter(|k| k.is_generating())
        .ok_or_else(|| ApiError::invalid_field("kind", "not a generating node kind"))?;
    let credits = pricing::credits_for(&req.kind)
        .ok_or_else(|| ApiError::invalid_field("kind", "not offered on the account route"))?;
    for (id, value) in &req.params {
        let param = schema
            .param(id)
            .ok_or_else(|| ApiError::invalid_field(id, "unknown parameter"))?;
        aktion_graph::validate::check_param(param, Some(value))
            .map_err(|e| ApiError::invalid_field(id, &e.to_string()))?;
        if let (aktion_graph::ParamKind::Text { .. }, Some(text)) = (&param.kind, value.as_str()) {
            crate::auth::check_text(id, text, crate::auth::TEXT_MAX)?;
        }
    }
    for (id, items) in &req.inputs {
        let input = schema
            .input(id)
            .ok_or_else(|| ApiError::invalid_field(id, "unknown input"))?;
        if items.is_empty() || items.len() > input.slot_count() as usize {
            return Err(ApiError::invalid_field(
                id,
                &format!("1 to {} values expected", input.slot_count()),
            ));
        }
        for item in items {
            match (input.ty, item) {
                (PortType::Text, GenerationInput::Text(t)) => {
                    crate::auth::check_text(id, t, crate::auth::TEXT_MAX)?;
                }
                (PortType::Text, _) => {
                    return Err(ApiError::invalid_field(id, "text expected, not a blob"));
                }
                (_, GenerationInput::Blob(hash)) => {
                    let hash = BlobHash::parse(hash).map_err(|_| {
                        ApiError::invalid_field(id, "a BLAKE3 hash of an uploaded blob expected")
                    })?;
                    // Not this user's (or nobody's): like any resource they do not have.
                    if blob_of(db, user.id, &hash).await?.is_none() {
                        return Err(ApiError::NotFound("blob"));
                    }
                }
                (_, GenerationInput::Text(_)) => {
                    return Err(ApiError::invalid_field(id, "a blob expected, not text"));
                }
            }
        }
    }
    for input in &schema.inputs {
        let given = req.inputs.get(&input.id).map_or(0, Vec::len);
        let fallback = input
            .fallback_param
            .as_ref()
            .and_then(|p| req.params.get(p))
            .is_some_and(|v| v.as_str().is_none_or(|s| !s.trim().is_empty()));
        if given < input.required_slots() as usize && !fallback {
            return Err(ApiError::invalid_field(
                &input.id,
                &format!("required ({} value(s))", input.required_slots().max(1)),
            ));
        }
    }
    Ok((schema, credits))
}

/// Reserves the price and stores a `queued` generation in one transaction. `op_key` (from
/// `Idempotency-Key`) makes a retry return the first generation without reserving again (the
/// same key with another request is 422). Returns the generation and whether this call
/// created it.
pub async fn create(
    state: &AppState,
    user: &User,
    req: GenerationRequest,
    op_key: Option<&str>,
) -> Result<(GenerationRow, bool), ApiError> {
    let (_, credits) = check(&state.db, user, &req).await?;
    let op_key = op_key.map(|k| format!("generation:{k}"));
    let request_json = serde_json::to_string(&req)
        .map_err(|e| ApiError::Internal(format!("serialise request: {e}")))?;
    let drives = state.config.drive_generations;
    let now = now_ms();
    let worker = drives.then_some(state.jobs.instance.as_str());
    // Not driven here: claimable by a worker's sweep at once.
    let lease_until = if drives {
        now + lease_ms(state)
    } else {
        now - 1
    };
    if state.db.kind == DbKind::Postgres
        && let Some(row) = create_in_one_statement(
            state,
            user,
            &req,
            credits,
            op_key.as_deref(),
            &request_json,
            (worker, lease_until, now),
        )
        .await?
    {
        return Ok((row, true));
    }
    let first = state.db.kind == DbKind::Sqlite;
    for attempt in 0..2 {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = state.db.begin_write().await?;
        let reservation = match ledger::reserve_in(
            &mut tx,
            state.db.kind,
            user.id,
            credits,
            &format!("generation {id} ({})", req.kind),
            op_key.as_deref(),
            state.config.reservation_lease,
            first && attempt == 0,
        )
        .await
        {
            // A concurrent first call with the same key committed meanwhile: look again.
            Err(ApiError::Database(e)) if attempt == 0 && crate::db::is_unique_violation(&e) => {
                continue;
            }
            other => other?,
        };
        if reservation.replayed {
            drop(tx);
            let id: Option<String> =
                sqlx::query_scalar("SELECT id FROM generations WHERE reservation_id = $1")
                    .bind(reservation.id)
                    .fetch_optional(&state.db.pool)
                    .await?;
            let first = load(&state.db, &id.ok_or(ApiError::IdempotencyInProgress)?).await?;
            if first.request != req {
                return Err(ApiError::IdempotencyKeyReused);
            }
            return Ok((first, false));
        }
        sqlx::query(
            "INSERT INTO generations (id, user_id, kind, request, state, credits, reservation_id, \
             op_key, worker, lease_until, created_at) \
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(user.id)
        .bind(&req.kind)
        .bind(&request_json)
        .bind(credits)
        .bind(reservation.id)
        .bind(op_key.as_deref())
        .bind(worker)
        .bind(lease_until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Ok((
            new_row(id, user.id, req, credits, reservation.id, now),
            true,
        ));
    }
    Err(ApiError::IdempotencyInProgress)
}

/// PostgreSQL's fast path of [`create`]: reservation, ledger entry and generation in one
/// statement (one round trip, atomic without BEGIN/COMMIT). `None` when it stored nothing: not
/// enough credits, or a replay (the key's unique constraint), which the transaction path of
/// `create` tells apart.
pub(super) async fn create_in_one_statement(
    state: &AppState,
    user: &User,
    req: &GenerationRequest,
    credits: i64,
    op_key: Option<&str>,
    request_json: &str,
    (worker, lease_until, now): (Option<&str>, i64, i64),
) -> Result<Option<GenerationRow>, ApiError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let sql = ledger::pg_reserve_sql(Some(
        "INSERT INTO generations (id, user_id, kind, request, state, credits, \
         reservation_id, op_key, worker, lease_until, created_at) \
         SELECT $7, $2, $8, $9, 'queued', $1, r.id, $3, $10, $11, $6 FROM r",
    ));
    let reserved = sqlx::query_scalar::<_, i64>(&sql)
        .bind(credits)
        .bind(user.id)
        .bind(op_key)
        .bind(format!("generation {id} ({})", req.kind))
        .bind(now.saturating_add(
            i64::try_from(state.config.reservation_lease.as_millis()).unwrap_or(i64::MAX / 4),
        ))
        .bind(now)
        .bind(&id)
        .bind(&req.kind)
        .bind(request_json)
        .bind(worker)
        .bind(lease_until)
        .fetch_optional(state.db.writer())
        .await;
    match reserved {
        Ok(Some(reservation_id)) => Ok(Some(new_row(
            id,
            user.id,
            req.clone(),
            credits,
            reservation_id,
            now,
        ))),
        Ok(None) => Ok(None),
        Err(e) if crate::db::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The row `create` just stored.
pub(super) fn new_row(
    id: String,
    user_id: i64,
    req: GenerationRequest,
    credits: i64,
    reservation_id: i64,
    now: i64,
) -> GenerationRow {
    GenerationRow {
        id,
        user_id,
        kind: req.kind.clone(),
        request: req,
        state: GenerationState::Queued,
        progress_permille: None,
        message: None,
        credits,
        reservation_id: Some(reservation_id),
        provider_job: None,
        outputs: Vec::new(),
        cancel_requested: false,
        driver_failures: 0,
        rating: None,
        created_at: now,
        started_at: None,
        finished_at: None,
    }
}

/// Asks for a generation to stop: at once if this instance drives it, within a second through
/// the database otherwise.
pub async fn cancel(state: &AppState, row: &GenerationRow) -> Result<GenerationRow, ApiError> {
    if !row.state.is_terminal() {
        sqlx::query("UPDATE generations SET cancel_requested = 1 WHERE id = $1")
            .bind(&row.id)
            .execute(state.db.writer())
            .await?;
        if let Some(token) = state.jobs.token(&row.id) {
            token.cancel();
        }
    }
    load(&state.db, &row.id).await
}

/// The current row of `id` (for the progress stream).
pub async fn current(state: &AppState, user_id: i64, id: &str) -> Result<Generation, ApiError> {
    Ok(owned(&state.db, user_id, id).await?.view())
}

/// Sets the 1–5 rating of a succeeded generation (and of its training record, if shared).
pub async fn rate(
    state: &AppState,
    row: &GenerationRow,
    rating: u8,
) -> Result<GenerationRow, ApiError> {
    if !(1..=5).contains(&rating) {
        return Err(ApiError::invalid_field("rating", "1 to 5"));
    }
    if row.state != GenerationState::Succeeded {
        return Err(ApiError::Conflict {
            code: "not_succeeded",
            message: "only a succeeded generation can be rated".to_owned(),
        });
    }
    let mut tx = state.db.begin_write().await?;
    sqlx::query("UPDATE generations SET rating = $1 WHERE id = $2 AND user_id = $3")
        .bind(i64::from(rating))
        .bind(&row.id)
        .bind(row.user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE training_records SET rating = $1 WHERE generation_id = $2 AND user_id = $3",
    )
    .bind(i64::from(rating))
    .bind(&row.id)
    .bind(row.user_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.jobs.notify(&row.id);
    load(&state.db, &row.id).await
}

/// Parameters of a row without the prompt, for training records.
pub fn settings_of(request: &GenerationRequest) -> BTreeMap<String, Value> {
    request
        .params
        .iter()
        .filter(|(k, _)| k.as_str() != "prompt")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
