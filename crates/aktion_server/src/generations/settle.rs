//! Settling a finished generation: charging on success, releasing the reservation otherwise, once.

use aktion_api::GenerationState;

use crate::db::now_ms;
use crate::ledger::{self, Settlement};
use crate::{ApiError, AppState, training};

use super::store::{GenerationRow, load};
use super::{ACTIVE, StoredOutput};

/// Moves a generation to its end state and settles its credits in one transaction (once: a
/// concurrent cancel and success cannot both win; fenced: only while this instance owns it,
/// so a driver whose lease ran out cannot settle what another instance now drives), then
/// records it as training data when its owner shares.
pub(super) async fn finish(
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
         WHERE id = $5 AND state IN {ACTIVE} AND worker = $6"
    ))
    .bind(to.as_str())
    .bind(message)
    .bind(outputs_json)
    .bind(now_ms())
    .bind(&row.id)
    .bind(&state.jobs.instance)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let charged = if moved {
        settle_in(&mut tx, row, to).await?
    } else {
        false
    };
    if moved && to != GenerationState::Cancelled {
        // The owner's "finished" mail commits with the result, or not at all.
        crate::accounts::generation_finished_in(
            &mut tx,
            &crate::mail::Links::of(state),
            row.user_id,
            &row.id,
            &row.kind,
            now_ms() - row.created_at,
            to == GenerationState::Succeeded,
        )
        .await?;
    }
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
pub(super) async fn settle_in(
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
pub(super) async fn settle(state: &AppState, row: &GenerationRow) -> Result<(), ApiError> {
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
