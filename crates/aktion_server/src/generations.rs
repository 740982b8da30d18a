//! The generation proxy: a node kind run on the account route, server-side, with the server's
//! provider keys (PRODUCT.md §5.1a, §5.2).
//!
//! `create` reserves the price and stores the generation (`queued`); a driver task then submits
//! it through `aktion_providers`, stores the provider's job handle *before* waiting (so a
//! restart polls the same job instead of paying twice), follows its progress, streams the
//! outputs into the blob store, and charges on success or releases on failure, cancellation or
//! timeout. The state change and the settlement are separate transactions; whatever a crash
//! leaves between them is finished by [`resume`] at start (and, on PostgreSQL, by the periodic
//! sweep of every instance): a terminal generation with an open reservation is settled the way
//! its state says, an active one whose lease ran out is driven again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use aktion_api::{
    Generation, GenerationInput, GenerationOutput, GenerationRequest, GenerationState,
};
use aktion_graph::{Catalog, KindSchema, PortType};
use aktion_providers::{
    DownloadLimits, InputFile, InputValue, JobHandle, JobRequest, JobState, MediaKind,
    ProviderError, Providers,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row as _;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::auth::User;
use crate::db::DbKind;
use crate::db::now_ms;
use crate::ledger::{self, Settlement};
use crate::storage::{BlobHash, Storage};
use crate::{ApiError, AppState, pricing, training};

const ACTIVE: &str = "('queued', 'submitting', 'running')";
const TERMINAL: &str = "('succeeded', 'failed', 'cancelled')";
/// How often a driver looks for a cancel requested through another instance.
const CANCEL_CHECK: Duration = Duration::from_secs(1);
/// Pause before waiting again on a job whose provider could not be reached.
const RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// The jobs this instance drives, and change notifications for progress streams.
#[derive(Debug)]
pub struct Jobs {
    pub providers: Providers,
    /// This instance's id in `generations.worker`.
    pub instance: String,
    local: Mutex<HashMap<String, CancellationToken>>,
    changes: broadcast::Sender<String>,
}

impl Jobs {
    pub fn new(providers: Providers) -> Self {
        Self {
            providers,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            local: Mutex::new(HashMap::new()),
            changes: broadcast::channel(256).0,
        }
    }

    /// Ids of generations whose state or progress changed on this instance.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    fn notify(&self, id: &str) {
        // No subscriber is fine.
        let _ = self.changes.send(id.to_owned());
    }

    /// Generations driven by this instance right now.
    pub fn running(&self) -> usize {
        self.local.lock().map_or(0, |l| l.len())
    }

    fn token(&self, id: &str) -> Option<CancellationToken> {
        self.local.lock().ok()?.get(id).cloned()
    }
}

/// One stored output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOutput {
    pub hash: String,
    pub content_type: String,
    pub size: i64,
}

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
    pub rating: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, kind, request, state, progress_permille, message, credits, \
    reservation_id, provider_job, outputs, cancel_requested, rating, created_at, started_at, finished_at";

fn row_from(row: &sqlx::any::AnyRow) -> Result<GenerationRow, ApiError> {
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

async fn load(db: &crate::Db, id: &str) -> Result<GenerationRow, ApiError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM generations WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ApiError::NotFound("generation"))?;
    row_from(&row)
}

/// The caller's generation `id`; another user's is 404, as if it did not exist.
pub async fn owned(db: &crate::Db, user_id: i64, id: &str) -> Result<GenerationRow, ApiError> {
    if id.is_empty() || id.len() > 64 {
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

/// Checks a request against the node catalog: a generating kind the server prices, known
/// parameters with valid values, known inputs of the right type (blobs the caller owns), and
/// every required input present. Returns the kind and its price.
async fn check(
    db: &crate::Db,
    user: &User,
    req: &GenerationRequest,
) -> Result<(&'static KindSchema, i64), ApiError> {
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
            .map_err(|e| ApiError::invalid_field(id, &e))?;
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
                (PortType::Text, GenerationInput::Text(t)) if t.len() <= 20_000 => {}
                (PortType::Text, _) => {
                    return Err(ApiError::invalid_field(
                        id,
                        "text of at most 20,000 bytes expected",
                    ));
                }
                (_, GenerationInput::Blob(hash)) => {
                    let hash = BlobHash::parse(hash).map_err(|_| {
                        ApiError::invalid_field(id, "a BLAKE3 hash of an uploaded blob expected")
                    })?;
                    if blob_of(db, user.id, &hash).await?.is_none() {
                        return Err(ApiError::invalid_field(
                            id,
                            "no such blob: upload it first with PUT /v1/blobs/{blake3}",
                        ));
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
async fn create_in_one_statement(
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
fn new_row(
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
        rating: None,
        created_at: now,
        started_at: None,
        finished_at: None,
    }
}

fn lease_ms(state: &AppState) -> i64 {
    i64::try_from(state.config.generation_lease.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Drives generation `id` on this instance unless it already does.
pub fn spawn(state: &AppState, id: &str) {
    let token = CancellationToken::new();
    {
        let Ok(mut local) = state.jobs.local.lock() else {
            return;
        };
        if local.contains_key(id) {
            return;
        }
        local.insert(id.to_owned(), token.clone());
    }
    let state = state.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        state.metrics.generation_started();
        let result = drive(&state, &id, &token).await;
        state.metrics.generation_stopped();
        if let Ok(mut local) = state.jobs.local.lock() {
            local.remove(&id);
        }
        if let Err(e) = result {
            // The row stays as it is; its lease runs out and a sweep (or the next start)
            // drives it again.
            tracing::error!(generation = %id, "generation stopped on a server error: {e}");
        }
    });
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

/// Waits until generation `id` changes on this instance (or the channel lags).
pub async fn changed(rx: &mut broadcast::Receiver<String>, id: &str) {
    loop {
        match rx.recv().await {
            Ok(changed) if changed == id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// Settles what a crash left behind and drives generations nobody drives: all active ones
/// (`all`, SQLite at start, when this server owns the database alone) or those whose lease
/// ran out (PostgreSQL, shared by instances). Returns how many it picked up.
pub async fn resume(state: &AppState, all: bool) -> Result<usize, ApiError> {
    let now = now_ms();
    let cutoff = if all { i64::MAX } else { now };
    let abandoned: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM generations WHERE state IN {ACTIVE} AND lease_until < $1 ORDER BY created_at"
    ))
    .bind(cutoff)
    .fetch_all(&state.db.pool)
    .await?;
    let mut picked = 0;
    for id in abandoned {
        let claimed = sqlx::query(&format!(
            "UPDATE generations SET worker = $1, lease_until = $2 \
             WHERE id = $3 AND state IN {ACTIVE} AND lease_until < $4"
        ))
        .bind(&state.jobs.instance)
        .bind(now + lease_ms(state))
        .bind(&id)
        .bind(cutoff)
        .execute(state.db.writer())
        .await?
        .rows_affected()
            == 1;
        if claimed {
            spawn(state, &id);
            picked += 1;
        }
    }
    let unsettled: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT g.id FROM generations g JOIN reservations r ON r.id = g.reservation_id \
         WHERE r.status = 'open' AND g.state IN {TERMINAL}"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    for id in unsettled {
        let row = load(&state.db, &id).await?;
        settle(state, &row).await?;
        picked += 1;
    }
    Ok(picked)
}

enum Stop {
    Cancelled,
    Failed(String),
    /// The database or the blob store failed: leave the row for a later resume.
    Internal(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Self::Internal(e)
    }
}

async fn drive(state: &AppState, id: &str, token: &CancellationToken) -> Result<(), ApiError> {
    let row = load(&state.db, id).await?;
    if row.state.is_terminal() {
        return settle(state, &row).await;
    }
    let outcome = work(state, &row, token).await;
    let (end, outputs) = match outcome {
        Ok(outputs) => (GenerationState::Succeeded, outputs),
        Err(Stop::Cancelled) => (GenerationState::Cancelled, Vec::new()),
        Err(Stop::Failed(message)) => {
            finish(state, &row, GenerationState::Failed, Some(&message), &[]).await?;
            return Ok(());
        }
        Err(Stop::Internal(e)) => return Err(e),
    };
    let message = (end == GenerationState::Cancelled).then_some("cancelled; credits released");
    finish(state, &row, end, message, &outputs).await
}

/// Keeps this instance's generations: renews their leases (and their reservations') in one
/// statement per tick, and turns a cancel requested through another instance into a cancel
/// here. One task per instance, however many generations it drives; it ends with the state.
pub fn spawn_watcher(state: &AppState) {
    let db = state.db.clone();
    let jobs = std::sync::Arc::downgrade(&state.jobs);
    let lease = state.config.generation_lease;
    let reservation_lease = state.config.reservation_lease;
    let renew_every = (lease / 3).max(CANCEL_CHECK);
    tokio::spawn(async move {
        let mut last_renew = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(CANCEL_CHECK).await;
            let Some(jobs) = jobs.upgrade() else {
                return;
            };
            if jobs.running() == 0 {
                continue;
            }
            if let Err(e) = watch_once(
                &db,
                &jobs,
                lease,
                reservation_lease,
                &mut last_renew,
                renew_every,
            )
            .await
            {
                tracing::warn!("keeping this instance's generations: {e}");
            }
        }
    });
}

async fn watch_once(
    db: &crate::Db,
    jobs: &Jobs,
    lease: Duration,
    reservation_lease: Duration,
    last_renew: &mut tokio::time::Instant,
    renew_every: Duration,
) -> Result<(), ApiError> {
    let cancelled: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM generations WHERE worker = $1 AND cancel_requested = 1 AND state IN {ACTIVE}"
    ))
    .bind(&jobs.instance)
    .fetch_all(&db.pool)
    .await?;
    for id in cancelled {
        if let Some(token) = jobs.token(&id) {
            token.cancel();
        }
    }
    if last_renew.elapsed() < renew_every {
        return Ok(());
    }
    *last_renew = tokio::time::Instant::now();
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4);
    let now = now_ms();
    sqlx::query(&format!(
        "UPDATE generations SET lease_until = $1 WHERE worker = $2 AND state IN {ACTIVE}"
    ))
    .bind(now + ms(lease))
    .bind(&jobs.instance)
    .execute(db.writer())
    .await?;
    sqlx::query(&format!(
        "UPDATE reservations SET lease_until = $1 WHERE status = 'open' AND id IN \
         (SELECT reservation_id FROM generations WHERE worker = $2 AND state IN {ACTIVE})"
    ))
    .bind(now + ms(reservation_lease))
    .bind(&jobs.instance)
    .execute(db.writer())
    .await?;
    Ok(())
}

async fn set_state(
    state: &AppState,
    id: &str,
    to: GenerationState,
    provider_job: Option<&str>,
) -> Result<(), ApiError> {
    sqlx::query(&format!(
        "UPDATE generations SET state = $1, provider_job = COALESCE($2, provider_job), \
         started_at = COALESCE(started_at, $3) WHERE id = $4 AND state IN {ACTIVE}"
    ))
    .bind(to.as_str())
    .bind(provider_job)
    .bind(now_ms())
    .bind(id)
    .execute(state.db.writer())
    .await?;
    state.jobs.notify(id);
    Ok(())
}

async fn work(
    state: &AppState,
    row: &GenerationRow,
    token: &CancellationToken,
) -> Result<Vec<StoredOutput>, Stop> {
    if row.cancel_requested || token.is_cancelled() {
        return Err(Stop::Cancelled);
    }
    let providers = &state.jobs.providers;
    let handle: JobHandle = match &row.provider_job {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| ApiError::Internal(format!("stored provider job: {e}")))?,
        None if row.state == GenerationState::Submitting => {
            // The submit may or may not have reached the provider; submitting again could run
            // (and pay for) it twice, so the job ends here and the user is not charged.
            return Err(Stop::Failed(
                "the server stopped while sending this job to the provider; credits released"
                    .to_owned(),
            ));
        }
        None => {
            let request = build_request(state, row).await?;
            set_state(state, &row.id, GenerationState::Submitting, None).await?;
            // Not raced against a cancel: a submit dropped half-way could leave a paid job at
            // the provider that nobody knows of. A cancel during it is honoured right after
            // (the wait below starts by cancelling at the provider).
            let handle = providers
                .submit(&request)
                .await
                .map_err(|e| Stop::Failed(e.to_string()))?;
            let json = serde_json::to_string(&handle)
                .map_err(|e| ApiError::Internal(format!("serialise job handle: {e}")))?;
            // Stored before waiting: from here on a restart resumes this provider job.
            set_state(state, &row.id, GenerationState::Running, Some(&json)).await?;
            handle
        }
    };
    let (tx, rx) = watch::channel(None::<JobState>);
    let progress = tokio::spawn(write_progress(state.clone(), row.id.clone(), rx));
    let mut report = |s: &JobState| {
        let _ = tx.send(Some(s.clone()));
    };
    let outputs = loop {
        let waited = tokio::select! {
            () = token.cancelled() => {
                progress.abort();
                if let Err(e) = providers.cancel(&handle).await {
                    tracing::warn!(generation = %row.id, "cancel at the provider failed: {e}");
                }
                return Err(Stop::Cancelled);
            }
            r = providers.wait(&handle, &mut report) => r,
        };
        match waited {
            Ok(outputs) => break outputs,
            // The provider could not be reached: the job keeps its provider id; wait again
            // (the kind's overall timeout still counts from the submit).
            Err(
                e @ (ProviderError::Transport { .. }
                | ProviderError::Timeout { .. }
                | ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }),
            ) => {
                tracing::warn!(generation = %row.id, "provider unreachable, waiting: {e}");
                tokio::select! {
                    () = token.cancelled() => {}
                    () = tokio::time::sleep(RECONNECT_PAUSE) => {}
                }
            }
            Err(ProviderError::Cancelled { .. }) => {
                progress.abort();
                return Err(Stop::Cancelled);
            }
            Err(e) => {
                progress.abort();
                return Err(Stop::Failed(e.to_string()));
            }
        }
    };
    progress.abort();
    store_outputs(state, row, token, &outputs).await
}

/// Streams each output from the provider into the blob store, owned by the generation's user.
async fn store_outputs(
    state: &AppState,
    row: &GenerationRow,
    token: &CancellationToken,
    outputs: &[aktion_providers::Output],
) -> Result<Vec<StoredOutput>, Stop> {
    let providers = &state.jobs.providers;
    let expected = expected_media(&row.kind);
    let mut stored = Vec::with_capacity(outputs.len());
    for output in outputs {
        let mut buf = Vec::new();
        let limits = DownloadLimits {
            max_bytes: state.config.max_output_bytes,
            expected,
        };
        let mut sink = |chunk: &[u8]| {
            buf.extend_from_slice(chunk);
            Ok(())
        };
        let downloaded = tokio::select! {
            () = token.cancelled() => return Err(Stop::Cancelled),
            d = providers.download_with(output, limits, &mut sink) => d,
        };
        let downloaded = downloaded.map_err(|e| Stop::Failed(e.to_string()))?;
        let hash = BlobHash::of(&buf);
        let size = i64::try_from(buf.len()).unwrap_or(i64::MAX);
        store_blob(
            state,
            row.user_id,
            &hash,
            &downloaded.content_type,
            Bytes::from(buf),
        )
        .await?;
        stored.push(StoredOutput {
            hash: hash.to_string(),
            content_type: downloaded.content_type,
            size,
        });
    }
    if stored.is_empty() {
        return Err(Stop::Failed("the provider returned no output".to_owned()));
    }
    Ok(stored)
}

/// Writes the blob (once per content) and makes it readable by `user_id`.
pub async fn store_blob(
    state: &AppState,
    user_id: i64,
    hash: &BlobHash,
    content_type: &str,
    bytes: Bytes,
) -> Result<bool, ApiError> {
    let key = Storage::blob_key(hash);
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    if !state.storage.exists(&key).await? {
        state.storage.put(&key, bytes).await?;
    }
    let added = sqlx::query(
        "INSERT INTO blobs (user_id, hash, size, content_type, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (user_id, hash) DO NOTHING",
    )
    .bind(user_id)
    .bind(hash.as_str())
    .bind(size)
    .bind(content_type)
    .bind(now_ms())
    .execute(state.db.writer())
    .await?
    .rows_affected()
        == 1;
    Ok(added)
}

fn expected_media(kind: &str) -> MediaKind {
    match Catalog::builtin().get(kind).map(|k| k.output) {
        Some(PortType::Video) => MediaKind::Video,
        Some(PortType::Audio) => MediaKind::Audio,
        _ => MediaKind::Image,
    }
}

async fn write_progress(state: AppState, id: String, mut rx: watch::Receiver<Option<JobState>>) {
    while rx.changed().await.is_ok() {
        let Some(job) = rx.borrow_and_update().clone() else {
            continue;
        };
        let (permille, message) = match job {
            JobState::Queued { position: Some(p) } => {
                (None, Some(format!("queued at the provider (position {p})")))
            }
            JobState::Queued { position: None } | JobState::Submitted => {
                (None, Some("queued at the provider".to_owned()))
            }
            JobState::Running { fraction } => (
                fraction.map(|f| (f.clamp(0.0, 1.0) * 1000.0).round() as i64),
                None,
            ),
            _ => continue,
        };
        let written = sqlx::query(
            "UPDATE generations SET progress_permille = COALESCE($1, progress_permille), message = $2 \
             WHERE id = $3 AND state = 'running'",
        )
        .bind(permille)
        .bind(message)
        .bind(&id)
        .execute(state.db.writer())
        .await;
        if written.is_ok() {
            state.jobs.notify(&id);
        }
    }
}

/// Turns the stored request into a provider request: parameters as JSON, text as strings,
/// blobs as signed URLs under `AKTION_PUBLIC_URL` when it is set (providers fetch them), or
/// as the bytes themselves (each client sends them the way its provider accepts files).
async fn build_request(state: &AppState, row: &GenerationRow) -> Result<JobRequest, ApiError> {
    let mut request = JobRequest::new(&row.kind);
    for (id, value) in &row.request.params {
        request
            .inputs
            .insert(id.clone(), InputValue::Json(value.clone()));
    }
    let schema = Catalog::builtin().get(&row.kind);
    for (id, items) in &row.request.inputs {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.push(match item {
                GenerationInput::Text(text) => InputValue::Json(Value::String(text.clone())),
                GenerationInput::Blob(hash) => blob_input(state, row.user_id, id, hash).await?,
            });
        }
        let is_list = schema
            .and_then(|k| k.input(id))
            .is_some_and(|i| i.ty == PortType::ImageList);
        if is_list {
            request.insert_list(id, values);
        } else if let Some(first) = values.into_iter().next() {
            request.inputs.insert(id.clone(), first);
        }
    }
    request.add_aliases();
    Ok(request)
}

async fn blob_input(
    state: &AppState,
    user_id: i64,
    input: &str,
    hash: &str,
) -> Result<InputValue, ApiError> {
    let hash = BlobHash::parse(hash)?;
    let (content_type, _) = blob_of(&state.db, user_id, &hash)
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    if let Some(url) = crate::signing::signed_blob_url(state, &hash) {
        return Ok(InputValue::Url(url));
    }
    let bytes = state
        .storage
        .get(&Storage::blob_key(&hash))
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    let ext = content_type.rsplit('/').next().unwrap_or("bin");
    Ok(InputValue::File(InputFile::new(
        bytes.to_vec(),
        &content_type,
        &format!("{input}.{ext}"),
    )))
}

/// Moves a generation to its end state and settles its credits in one transaction (once: a
/// concurrent cancel and success cannot both win), then records it as training data when its
/// owner shares.
async fn finish(
    state: &AppState,
    row: &GenerationRow,
    to: GenerationState,
    message: Option<&str>,
    outputs: &[StoredOutput],
) -> Result<(), ApiError> {
    let outputs_json = serde_json::to_string(outputs)
        .map_err(|e| ApiError::Internal(format!("serialise outputs: {e}")))?;
    let mut tx = state.db.begin_write().await?;
    let moved = sqlx::query(&format!(
        "UPDATE generations SET state = $1, message = $2, outputs = $3, finished_at = $4, \
         progress_permille = CASE WHEN $1 = 'succeeded' THEN 1000 ELSE progress_permille END \
         WHERE id = $5 AND state IN {ACTIVE}"
    ))
    .bind(to.as_str())
    .bind(message)
    .bind(outputs_json)
    .bind(now_ms())
    .bind(&row.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let charged = if moved {
        settle_in(&mut tx, row, to).await?
    } else {
        false
    };
    tx.commit().await?;
    if moved {
        state.metrics.generation_finished(&row.kind, to.as_str());
        if charged {
            state.metrics.credits_charged(row.credits);
        }
    }
    state.jobs.notify(&row.id);
    if moved && to == GenerationState::Succeeded {
        let now = load(&state.db, &row.id).await?;
        if let Err(e) = training::record_generation(state, &now).await {
            tracing::error!(generation = %row.id, "storing the training-data record: {e}");
        }
    }
    Ok(())
}

/// Settles the reservation of a generation that ended as `to`: charged on success, released
/// otherwise. Returns true when it charged now.
async fn settle_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    row: &GenerationRow,
    to: GenerationState,
) -> Result<bool, ApiError> {
    let Some(reservation) = row.reservation_id else {
        return Ok(false);
    };
    let settled = match to {
        GenerationState::Succeeded => {
            ledger::settle_in(
                tx,
                reservation,
                ledger::ReservationStatus::Charged,
                "charge",
            )
            .await
        }
        GenerationState::Failed | GenerationState::Cancelled => {
            ledger::settle_in(
                tx,
                reservation,
                ledger::ReservationStatus::Released,
                &format!("generation {} {}", row.id, to.as_str()),
            )
            .await
        }
        _ => return Ok(false),
    };
    match settled {
        Ok(Settlement::Settled { .. }) => Ok(to == GenerationState::Succeeded),
        Ok(Settlement::AlreadyDone) => Ok(false),
        Err(ApiError::AlreadySettled(id)) => {
            tracing::error!(generation = %row.id, "reservation {id} was settled the other way");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Settles a generation that is over but whose reservation is still open (a server stopped
/// between the two, before they shared a transaction, or the database failed at commit).
async fn settle(state: &AppState, row: &GenerationRow) -> Result<(), ApiError> {
    let mut tx = state.db.begin_write().await?;
    let charged = settle_in(&mut tx, row, row.state).await?;
    tx.commit().await?;
    if charged {
        state.metrics.credits_charged(row.credits);
    }
    if row.state == GenerationState::Succeeded
        && let Err(e) = training::record_generation(state, row).await
    {
        tracing::error!(generation = %row.id, "storing the training-data record: {e}");
    }
    Ok(())
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
        return Err(ApiError::bad_request(
            "not_succeeded",
            "only a succeeded generation can be rated",
        ));
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
