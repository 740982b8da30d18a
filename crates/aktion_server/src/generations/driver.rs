//! Driving a generation: the task that submits it, follows the provider's job, stores outputs and progress; leases, the watcher and resume at start.

use std::time::Duration;

use aktion_api::{GenerationInput, GenerationState};
use aktion_graph::{Catalog, PortType};
use aktion_providers::{
    DownloadLimits, InputFile, InputValue, JobHandle, JobRequest, JobState, MediaKind,
    ProviderError,
};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_util::sync::CancellationToken;

use crate::db::now_ms;
use crate::storage::{BlobHash, ReceiveError, Storage};
use crate::{ApiError, AppState};

use super::settle::{finish, settle};
use super::store::{GenerationRow, blob_of, load};
use super::{
    ACTIVE, CANCEL_CHECK, Jobs, MAX_DRIVER_FAILURES, RECONNECT_PAUSE, StoredOutput, TERMINAL,
};

pub(super) fn lease_ms(state: &AppState) -> i64 {
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
        // At most `limits.drivers` generations drive at once; the rest (say, everything a
        // restart picked up) wait here for a slot, their leases kept by the watcher.
        let Some(_slot) = state.gates.drivers.wait_for().await else {
            return;
        };
        state.metrics.generation_started();
        let result = drive(&state, &id, &token).await;
        state.metrics.generation_stopped();
        if let Ok(mut local) = state.jobs.local.lock() {
            local.remove(&id);
        }
        if let Err(e) = result {
            // Given up: the lease is cleared (the watcher renews only what runs here), so the
            // next sweep drives it again; after a few failures it fails and is released.
            tracing::error!(generation = %id, "generation stopped on a server error: {e}");
            if let Err(e) = give_up(&state, &id).await {
                tracing::error!(generation = %id, "giving the generation up: {e}");
            }
        }
    });
}

/// Counts a submit in flight for [`Jobs::drain_submits`] while alive.
struct Submitting<'a>(&'a Jobs);

impl<'a> Submitting<'a> {
    fn new(jobs: &'a Jobs) -> Self {
        jobs.submitting
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Self(jobs)
    }
}

impl Drop for Submitting<'_> {
    fn drop(&mut self) {
        self.0
            .submitting
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A driver that failed on a server error gives generation `id` up: worker and lease cleared,
/// the failure counted.
async fn give_up(state: &AppState, id: &str) -> Result<(), ApiError> {
    sqlx::query(&format!(
        "UPDATE generations SET worker = NULL, lease_until = 0, \
         driver_failures = driver_failures + 1 \
         WHERE id = $1 AND worker = $2 AND state IN {ACTIVE}"
    ))
    .bind(id)
    .bind(&state.jobs.instance)
    .execute(state.db.writer())
    .await?;
    Ok(())
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

pub(super) enum Stop {
    Cancelled,
    Failed(String),
    /// Another instance owns the generation now (this one's lease ran out): stop touching it.
    Lost,
    /// The database or the blob store failed: leave the row for a later resume.
    Internal(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Self::Internal(e)
    }
}

pub(super) async fn drive(
    state: &AppState,
    id: &str,
    token: &CancellationToken,
) -> Result<(), ApiError> {
    let row = load(&state.db, id).await?;
    if row.state.is_terminal() {
        return settle(state, &row).await;
    }
    if row.driver_failures >= MAX_DRIVER_FAILURES {
        let message = "the server could not run this job (it failed several times); \
                       credits released";
        return finish(state, &row, GenerationState::Failed, Some(message), &[]).await;
    }
    let outcome = work(state, &row, token).await;
    let (end, outputs) = match outcome {
        Ok(outputs) => (GenerationState::Succeeded, outputs),
        Err(Stop::Cancelled) => (GenerationState::Cancelled, Vec::new()),
        Err(Stop::Lost) => {
            tracing::warn!(generation = %id, "another instance took this generation over; stopped");
            return Ok(());
        }
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

pub(super) async fn watch_once(
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
    // Only what runs here: a generation whose driver stopped must let its lease run out.
    let ids = jobs.ids();
    for chunk in ids.chunks(500) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE generations SET lease_until = $1 \
             WHERE worker = $2 AND state IN {ACTIVE} AND id IN ({list})"
        );
        let mut renew = sqlx::query(&sql).bind(now + ms(lease)).bind(&jobs.instance);
        for id in chunk {
            renew = renew.bind(id);
        }
        renew.execute(db.writer()).await?;
        let sql = format!(
            "UPDATE reservations SET lease_until = $1 WHERE status = 'open' AND id IN \
             (SELECT reservation_id FROM generations \
              WHERE worker = $2 AND state IN {ACTIVE} AND id IN ({list}))"
        );
        let mut renew = sqlx::query(&sql)
            .bind(now + ms(reservation_lease))
            .bind(&jobs.instance);
        for id in chunk {
            renew = renew.bind(id);
        }
        renew.execute(db.writer()).await?;
    }
    Ok(())
}

/// Moves generation `id` on, fenced: only while this instance owns it. [`Stop::Lost`] when it
/// does not any more (its lease ran out and another instance claimed it).
pub(super) async fn set_state(
    state: &AppState,
    id: &str,
    to: GenerationState,
    provider_job: Option<&str>,
) -> Result<(), Stop> {
    let moved = sqlx::query(&format!(
        "UPDATE generations SET state = $1, provider_job = COALESCE($2, provider_job), \
         started_at = COALESCE(started_at, $3) WHERE id = $4 AND state IN {ACTIVE} AND worker = $5"
    ))
    .bind(to.as_str())
    .bind(provider_job)
    .bind(now_ms())
    .bind(id)
    .bind(&state.jobs.instance)
    .execute(state.db.writer())
    .await
    .map_err(ApiError::from)?
    .rows_affected();
    state.jobs.notify(id);
    if moved == 1 { Ok(()) } else { Err(Stop::Lost) }
}

pub(super) async fn work(
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
            // Waiting for the input budget is waiting in the queue: a cancel ends it.
            let (request, _inputs_held) = tokio::select! {
                built = build_request(state, row) => built?,
                () = token.cancelled() => return Err(Stop::Cancelled),
            };
            let _submitting = Submitting::new(&state.jobs);
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

/// Streams each output from the provider into the blob store, owned by the generation's user:
/// spooled to a temporary file while it downloads (never held whole in memory), then sent to
/// the store part by part.
pub(super) async fn store_outputs(
    state: &AppState,
    row: &GenerationRow,
    token: &CancellationToken,
    outputs: &[aktion_providers::Output],
) -> Result<Vec<StoredOutput>, Stop> {
    let mut added = Vec::new();
    let result = store_each(state, row, token, outputs, &mut added).await;
    if result.is_err() {
        // Cancelled or failed between outputs: the ones already recorded for this user (and
        // only those the user did not have before) go again.
        for hash in added {
            let dropped = sqlx::query("DELETE FROM blobs WHERE user_id = $1 AND hash = $2")
                .bind(row.user_id)
                .bind(hash.as_str())
                .execute(state.db.writer())
                .await;
            if let Err(e) = dropped {
                tracing::warn!(generation = %row.id, "dropping a partial output: {e}");
            }
        }
    }
    result
}

async fn store_each(
    state: &AppState,
    row: &GenerationRow,
    token: &CancellationToken,
    outputs: &[aktion_providers::Output],
    added: &mut Vec<BlobHash>,
) -> Result<Vec<StoredOutput>, Stop> {
    let providers = &state.jobs.providers;
    let expected = expected_media(&row.kind);
    let mut stored = Vec::with_capacity(outputs.len());
    for output in outputs {
        let spool = tempfile::tempfile()
            .map_err(|e| ApiError::Internal(format!("spool file for an output: {e}")))?;
        let mut writer = std::io::BufWriter::with_capacity(256 * 1024, spool);
        let limits = DownloadLimits {
            max_bytes: state.config.max_output_bytes,
            expected,
        };
        let mut sink = |chunk: &[u8]| {
            use std::io::Write as _;
            writer.write_all(chunk)
        };
        let downloaded = tokio::select! {
            () = token.cancelled() => return Err(Stop::Cancelled),
            d = providers.download_with(output, limits, &mut sink) => d,
        };
        let downloaded = downloaded.map_err(|e| Stop::Failed(e.to_string()))?;
        let spool = writer
            .into_inner()
            .map_err(|e| ApiError::Internal(format!("spooling an output: {e}")))?;
        let received = state
            .storage
            .receive(file_chunks(spool), state.config.max_output_bytes)
            .await
            .map_err(|e| match e {
                ReceiveError::Storage(e) => Stop::Internal(e),
                ReceiveError::Empty => Stop::Failed("the provider returned an empty file".into()),
                ReceiveError::TooLarge => Stop::Failed("the provider's output is too large".into()),
                ReceiveError::Body(e) => Stop::Internal(ApiError::Internal(e)),
            })?;
        state.storage.commit(&received).await?;
        let size = i64::try_from(received.size).unwrap_or(i64::MAX);
        if record_blob(
            state,
            row.user_id,
            &received.hash,
            &downloaded.content_type,
            size,
        )
        .await?
        {
            added.push(received.hash.clone());
        }
        stored.push(StoredOutput {
            hash: received.hash.to_string(),
            content_type: downloaded.content_type,
            size,
        });
    }
    if stored.is_empty() {
        return Err(Stop::Failed("the provider returned no output".to_owned()));
    }
    Ok(stored)
}

/// A file read from its start in chunks of 1 MiB.
fn file_chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
    use std::io::Seek as _;
    let file = {
        let mut file = file;
        file.rewind().map(|()| tokio::fs::File::from_std(file))
    };
    Box::pin(futures_util::stream::unfold(
        Some(file),
        |file| async move {
            use tokio::io::AsyncReadExt as _;
            let mut file = match file? {
                Ok(file) => file,
                Err(e) => return Some((Err(e), None)),
            };
            let mut buf = vec![0_u8; 1024 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Bytes::from(buf)), Some(Ok(file))))
                }
                Err(e) => Some((Err(e), None)),
            }
        },
    ))
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
    record_blob(state, user_id, hash, content_type, size).await
}

/// Makes stored blob `hash` readable by `user_id` (and counted in their storage); true when
/// the user did not have it yet.
pub async fn record_blob(
    state: &AppState,
    user_id: i64,
    hash: &BlobHash,
    content_type: &str,
    size: i64,
) -> Result<bool, ApiError> {
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

pub(super) fn expected_media(kind: &str) -> MediaKind {
    match Catalog::builtin().get(kind).map(|k| k.output) {
        Some(PortType::Video) => MediaKind::Video,
        Some(PortType::Audio) => MediaKind::Audio,
        _ => MediaKind::Image,
    }
}

pub(super) async fn write_progress(
    state: AppState,
    id: String,
    mut rx: watch::Receiver<Option<JobState>>,
) {
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
             WHERE id = $3 AND state = 'running' AND worker = $4",
        )
        .bind(permille)
        .bind(message)
        .bind(&id)
        .bind(&state.jobs.instance)
        .execute(state.db.writer())
        .await;
        if written.is_ok() {
            state.jobs.notify(&id);
        }
    }
}

/// Turns the stored request into a provider request: parameters as JSON, text as strings,
/// blobs as signed URLs under `AKTION_PUBLIC_URL` when it is set (providers fetch them), or
/// as the bytes themselves (each client sends them the way its provider accepts files). Bytes
/// are read only within the instance's input budget; the permit returned holds them until the
/// request is dropped.
pub(super) async fn build_request(
    state: &AppState,
    row: &GenerationRow,
) -> Result<(JobRequest, Option<OwnedSemaphorePermit>), ApiError> {
    let mut request = JobRequest::new(&row.kind);
    for (id, value) in &row.request.params {
        request
            .inputs
            .insert(id.clone(), InputValue::Json(value.clone()));
    }
    // Every blob is looked up once, first: the sizes of those sent as bytes count against the
    // budget before any is read.
    let mut found: std::collections::HashMap<&str, BlobSource> = std::collections::HashMap::new();
    let mut held = 0_u64;
    for item in row.request.inputs.values().flatten() {
        let GenerationInput::Blob(text) = item else {
            continue;
        };
        if found.contains_key(text.as_str()) {
            continue;
        }
        let hash = BlobHash::parse(text)?;
        let (content_type, size) = blob_of(&state.db, row.user_id, &hash)
            .await?
            .ok_or(ApiError::NotFound("blob"))?;
        let source = if let Some(url) = crate::signing::signed_blob_url(state, &hash) {
            BlobSource::Url(url)
        } else {
            held = held.saturating_add(u64::try_from(size).unwrap_or(0));
            BlobSource::Bytes(hash, content_type)
        };
        found.insert(text, source);
    }
    let permit = state.gates.input_bytes.take(held).await;
    let schema = Catalog::builtin().get(&row.kind);
    for (id, items) in &row.request.inputs {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.push(match item {
                GenerationInput::Text(text) => InputValue::Json(Value::String(text.clone())),
                GenerationInput::Blob(hash) => match &found[hash.as_str()] {
                    BlobSource::Url(url) => InputValue::Url(url.clone()),
                    BlobSource::Bytes(hash, content_type) => {
                        blob_bytes(state, id, hash, content_type).await?
                    }
                },
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
    Ok((request, permit))
}

/// How a stored input reaches the provider.
enum BlobSource {
    /// A signed URL under `AKTION_PUBLIC_URL`, fetched by the provider.
    Url(String),
    /// The bytes themselves, read from storage.
    Bytes(BlobHash, String),
}

/// Reads a stored input to send as a file named after its input.
async fn blob_bytes(
    state: &AppState,
    input: &str,
    hash: &BlobHash,
    content_type: &str,
) -> Result<InputValue, ApiError> {
    let bytes = state
        .storage
        .get(&Storage::blob_key(hash))
        .await?
        .ok_or(ApiError::NotFound("blob"))?;
    let ext = content_type.rsplit('/').next().unwrap_or("bin");
    // One copy into the shared buffer the provider client sends from (not via a Vec first).
    Ok(InputValue::File(InputFile::new(
        &bytes[..],
        content_type,
        &format!("{input}.{ext}"),
    )))
}
