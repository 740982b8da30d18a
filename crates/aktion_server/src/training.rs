//! Opt-in training-data sharing (PRODUCT.md §5.3): records of opted-in users' successful
//! generations (and of results they share from other routes), their own list and erase, the
//! aggregated stats and the admin export. Nothing is stored for a user who is not opted in.

use aktion_api::{
    ExportRecord, GenerationInput, SharedDataPage, SharedRecord, TrainingDataStored,
    TrainingDataSubmission, TrainingStats, TrainingStatsGroup,
};
use serde_json::Value;
use sqlx::Row as _;

use crate::auth::{self, User};
use crate::db::now_ms;
use crate::generations::{self, GenerationRow};
use crate::storage::{BlobHash, Storage};
use crate::{ApiError, AppState, Db};

/// Inputs that hold character references.
const CHARACTER_INPUTS: &[&str] = &["refs", "character"];

/// `image`, `video`, `audio` or `other` from a content type.
pub fn output_type(content_type: &str) -> &'static str {
    match content_type.split('/').next() {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        _ => "other",
    }
}

struct NewRecord<'a> {
    user_id: i64,
    generation_id: Option<&'a str>,
    node_kind: &'a str,
    prompt: Option<String>,
    settings: Value,
    character_refs: Vec<String>,
    input_refs: Vec<String>,
    output: &'a BlobHash,
    content_type: &'a str,
    generation_ms: Option<i64>,
    rating: Option<i64>,
}

/// Copies the output into the user's private prefix and stores the record; a second call for
/// the same generation stores nothing more. Returns the record id when one was stored.
async fn store(state: &AppState, record: NewRecord<'_>) -> Result<Option<i64>, ApiError> {
    let key = Storage::training_key(record.user_id, record.output);
    if !state.storage.exists(&key).await? {
        let bytes = state
            .storage
            .get(&Storage::blob_key(record.output))
            .await?
            .ok_or(ApiError::NotFound("blob"))?;
        state.storage.put(&key, bytes).await?;
    }
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO training_records (user_id, generation_id, node_kind, output_type, prompt, \
         settings, character_refs, input_refs, output_hash, output_key, content_type, \
         generation_ms, rating, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (generation_id) DO NOTHING RETURNING id",
    )
    .bind(record.user_id)
    .bind(record.generation_id)
    .bind(record.node_kind)
    .bind(output_type(record.content_type))
    .bind(record.prompt)
    .bind(record.settings.to_string())
    .bind(Value::from(record.character_refs).to_string())
    .bind(Value::from(record.input_refs).to_string())
    .bind(record.output.as_str())
    .bind(&key)
    .bind(record.content_type)
    .bind(record.generation_ms)
    .bind(record.rating)
    .bind(now_ms())
    .fetch_optional(state.db.writer())
    .await?;
    if id.is_some() {
        state.metrics.training_record();
    }
    Ok(id)
}

/// Records a succeeded generation if its owner is opted in now.
pub async fn record_generation(state: &AppState, row: &GenerationRow) -> Result<(), ApiError> {
    let user = auth::user_by_id(&state.db, row.user_id).await?;
    if !user.data_sharing_opt_in {
        return Ok(());
    }
    let Some(output) = row.outputs.first() else {
        return Ok(());
    };
    let hash = BlobHash::parse(&output.hash)?;
    let mut character_refs = Vec::new();
    let mut input_refs = Vec::new();
    let mut prompt = row
        .request
        .params
        .get("prompt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    for (id, items) in &row.request.inputs {
        for item in items {
            match item {
                GenerationInput::Blob(h) if CHARACTER_INPUTS.contains(&id.as_str()) => {
                    character_refs.push(h.clone());
                }
                GenerationInput::Blob(h) => input_refs.push(h.clone()),
                // A wired prompt wins over the prompt field, as on the board.
                GenerationInput::Text(t) if id == "prompt" => prompt = Some(t.clone()),
                GenerationInput::Text(t) => input_refs.push(t.clone()),
            }
        }
    }
    let generation_ms = match (row.started_at, row.finished_at) {
        (Some(s), Some(f)) => Some(f - s),
        _ => row.finished_at.map(|f| f - row.created_at),
    };
    let settings = serde_json::to_value(generations::settings_of(&row.request))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    store(
        state,
        NewRecord {
            user_id: row.user_id,
            generation_id: Some(&row.id),
            node_kind: &row.kind,
            prompt,
            settings,
            character_refs,
            input_refs,
            output: &hash,
            content_type: &output.content_type,
            generation_ms,
            rating: row.rating,
        },
    )
    .await?;
    Ok(())
}

/// Longest generation time a record may state: 24 hours.
pub const MAX_GENERATION_MS: i64 = 86_400_000;

/// `POST /v1/training-data`: a result made on another route, shared when opted in.
pub async fn submit(
    state: &AppState,
    user: &User,
    body: TrainingDataSubmission,
) -> Result<TrainingDataStored, ApiError> {
    // A kind of the catalog only: anything else would be a group of its own in everybody's
    // statistics.
    if !aktion_graph::Catalog::builtin()
        .get(&body.node_kind)
        .is_some_and(aktion_graph::KindSchema::is_generating)
    {
        return Err(ApiError::invalid_field(
            "node_kind",
            "not a generating node kind of the catalog",
        ));
    }
    if body.rating.is_some_and(|r| !(1..=5).contains(&r)) {
        return Err(ApiError::invalid_field("rating", "1 to 5"));
    }
    // Bounded, so the sums of the statistics cannot overflow.
    if body
        .generation_ms
        .is_some_and(|ms| !(0..=MAX_GENERATION_MS).contains(&ms))
    {
        return Err(ApiError::invalid_field(
            "generation_ms",
            "0 to 86,400,000 (24 hours)",
        ));
    }
    if let Some(prompt) = &body.prompt {
        crate::auth::check_text("prompt", prompt, crate::auth::TEXT_MAX)?;
    }
    if body.character_refs.len() > 16 || body.input_refs.len() > 32 {
        return Err(ApiError::invalid_field("input_refs", "too many references"));
    }
    let hash = BlobHash::parse(&body.output_hash)
        .map_err(|_| ApiError::invalid_field("output_hash", "64 hex digits expected"))?;
    // Opted out: skipped silently (the client calls this after every generation).
    if !user.data_sharing_opt_in {
        return Ok(TrainingDataStored {
            stored: false,
            record_id: None,
        });
    }
    let (content_type, _) = generations::blob_of(&state.db, user.id, &hash)
        .await?
        // Unknown to this user: like any resource they do not have (upload it first).
        .ok_or(ApiError::NotFound("blob"))?;
    let record_id = store(
        state,
        NewRecord {
            user_id: user.id,
            generation_id: None,
            node_kind: &body.node_kind,
            prompt: body.prompt,
            settings: Value::Object(body.settings),
            character_refs: body.character_refs,
            input_refs: body.input_refs,
            output: &hash,
            content_type: &content_type,
            generation_ms: body.generation_ms,
            rating: body.rating.map(i64::from),
        },
    )
    .await?;
    Ok(TrainingDataStored {
        stored: record_id.is_some(),
        record_id,
    })
}

const RECORD_COLUMNS: &str = "id, user_id, generation_id, node_kind, output_type, prompt, settings, \
    character_refs, input_refs, output_hash, output_key, content_type, generation_ms, rating, created_at";

fn record_from(row: &sqlx::any::AnyRow) -> Result<(i64, String, SharedRecord), ApiError> {
    let json = |name: &str| -> Result<Value, ApiError> {
        let text: String = row.try_get(name)?;
        serde_json::from_str(&text).map_err(|e| ApiError::Internal(format!("stored {name}: {e}")))
    };
    let strings = |v: Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let rating: Option<i64> = row.try_get("rating")?;
    Ok((
        row.try_get("user_id")?,
        row.try_get("output_key")?,
        SharedRecord {
            id: row.try_get("id")?,
            generation_id: row.try_get("generation_id")?,
            node_kind: row.try_get("node_kind")?,
            output_type: row.try_get("output_type")?,
            prompt: row.try_get("prompt")?,
            settings: json("settings")?,
            character_refs: strings(json("character_refs")?),
            input_refs: strings(json("input_refs")?),
            output_hash: row.try_get("output_hash")?,
            content_type: row.try_get("content_type")?,
            generation_ms: row.try_get("generation_ms")?,
            rating: rating.and_then(|r| u8::try_from(r).ok()),
            created_at: row.try_get("created_at")?,
        },
    ))
}

/// The caller's own records, newest first.
pub async fn list(
    db: &Db,
    user_id: i64,
    limit: u32,
    before: Option<i64>,
) -> Result<SharedDataPage, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM training_records WHERE user_id = $1 AND id < $2 \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(user_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::from(limit) + 1)
    .fetch_all(&db.pool)
    .await?;
    let mut records = rows
        .iter()
        .map(|r| record_from(r).map(|(_, _, rec)| rec))
        .collect::<Result<Vec<_>, _>>()?;
    let next_before = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(|r| r.id)
    } else {
        None
    };
    Ok(SharedDataPage {
        records,
        next_before,
    })
}

/// Erases the caller's records and their files. Files go first, so a failure part-way leaves
/// records that a retry erases.
pub async fn delete_all(state: &AppState, user_id: i64) -> Result<u64, ApiError> {
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT output_key FROM training_records WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&state.db.pool)
            .await?;
    for key in &keys {
        // Keys were derived by the server; still, never touch another user's prefix.
        if key.starts_with(&format!("training/{user_id}/")) {
            state.storage.delete(key).await?;
        }
    }
    let deleted = sqlx::query("DELETE FROM training_records WHERE user_id = $1")
        .bind(user_id)
        .execute(state.db.writer())
        .await?
        .rows_affected();
    Ok(deleted)
}

/// Counts, average generation time and average rating by node kind and output type.
pub async fn stats(db: &Db) -> Result<TrainingStats, ApiError> {
    stats_where(db, None).await
}

/// [`stats`] of one user's records only.
pub async fn stats_of(db: &Db, user_id: i64) -> Result<TrainingStats, ApiError> {
    stats_where(db, Some(user_id)).await
}

async fn stats_where(db: &Db, user_id: Option<i64>) -> Result<TrainingStats, ApiError> {
    // Averages are computed here from sums cast to BIGINT: PostgreSQL's SUM and AVG of BIGINT are
    // NUMERIC, which the Any driver cannot decode.
    let filter = if user_id.is_some() {
        "WHERE user_id = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT node_kind, output_type, COUNT(*) AS n, \
         CAST(COALESCE(SUM(generation_ms), 0) AS BIGINT) AS ms_sum, COUNT(generation_ms) AS ms_n, \
         CAST(COALESCE(SUM(rating), 0) AS BIGINT) AS rating_sum, COUNT(rating) AS rated \
         FROM training_records {filter} GROUP BY node_kind, output_type \
         ORDER BY node_kind, output_type"
    );
    let mut query = sqlx::query(&sql);
    if let Some(id) = user_id {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&db.pool).await?;
    let mut groups = Vec::with_capacity(rows.len());
    for row in rows {
        let ms_sum: i64 = row.try_get("ms_sum")?;
        let ms_n: i64 = row.try_get("ms_n")?;
        let rating_sum: i64 = row.try_get("rating_sum")?;
        let rated: i64 = row.try_get("rated")?;
        groups.push(TrainingStatsGroup {
            node_kind: row.try_get("node_kind")?,
            output_type: row.try_get("output_type")?,
            count: row.try_get("n")?,
            avg_generation_ms: (ms_n > 0).then(|| ms_sum as f64 / ms_n as f64),
            avg_rating: (rated > 0).then(|| rating_sum as f64 / rated as f64),
            rated,
        });
    }
    Ok(TrainingStats { groups })
}

/// Every record with its owner and file, oldest first, one JSON object per line.
pub async fn export_jsonl(db: &Db, out: &mut impl std::io::Write) -> Result<u64, ApiError> {
    let mut after = 0i64;
    let mut written = 0u64;
    while let Some((page, next, n)) = export_page(db, after).await? {
        out.write_all(&page)
            .map_err(|e| ApiError::Internal(format!("export: {e}")))?;
        after = next;
        written += n;
    }
    Ok(written)
}

/// The JSON Lines of the (at most 500) records after id `after`, the last id and how many;
/// `None` past the end. The HTTP export streams these pages one by one instead of building the
/// whole export in memory.
pub async fn export_page(db: &Db, after: i64) -> Result<Option<(Vec<u8>, i64, u64)>, ApiError> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM training_records WHERE id > $1 ORDER BY id LIMIT 500"
    ))
    .bind(after)
    .fetch_all(&db.pool)
    .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut page = Vec::new();
    let mut last = after;
    let mut n = 0;
    for row in &rows {
        let (user_id, file, record) = record_from(row)?;
        last = record.id;
        serde_json::to_writer(
            &mut page,
            &ExportRecord {
                user_id,
                file,
                record,
            },
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        page.push(b'\n');
        n += 1;
    }
    Ok(Some((page, last, n)))
}
