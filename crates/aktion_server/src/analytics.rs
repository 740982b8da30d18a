//! Usage analytics for the admin dashboard (PRODUCT.md §5.9, §5.10), computed from the shared
//! database so every instance shows the same: daily active users, generations (count, success
//! rate, p50/p95 time by kind and provider, recent failures), credits per day (granted,
//! charged, released, taken back, sold), revenue from Stripe purchases, and the outbox.

use std::collections::BTreeMap;

use crate::db::now_ms;
use crate::{ApiError, Db};

pub const DAY_MS: i64 = 86_400_000;

/// Today as a day number (days since 1970-01-01, UTC).
pub fn today() -> i64 {
    now_ms() / DAY_MS
}

/// A value per day, oldest first, for `days` days up to today (missing days are 0).
pub type Series = Vec<(i64, i64)>;

fn fill(days: i64, rows: impl IntoIterator<Item = (i64, i64)>) -> Series {
    let first = today() - days + 1;
    let mut by_day: BTreeMap<i64, i64> = (first..=today()).map(|d| (d, 0)).collect();
    for (day, value) in rows {
        if let Some(v) = by_day.get_mut(&day) {
            *v += value;
        }
    }
    by_day.into_iter().collect()
}

/// Distinct signed-in users per day.
pub async fn daily_active_users(db: &Db, days: i64) -> Result<Series, ApiError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT day, COUNT(*) FROM user_days WHERE day > $1 GROUP BY day ORDER BY day",
    )
    .bind(today() - days)
    .fetch_all(&db.pool)
    .await?;
    Ok(fill(days, rows))
}

/// Generations started, succeeded and failed per day.
pub async fn generations_per_day(db: &Db, days: i64) -> Result<(Series, Series, Series), ApiError> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000 AS day, COUNT(*), \
           CAST(COALESCE(SUM(CASE WHEN state = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM generations WHERE created_at >= $1 GROUP BY created_at / 86400000",
    )
    .bind((today() - days + 1) * DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    Ok((
        fill(days, rows.iter().map(|r| (r.0, r.1))),
        fill(days, rows.iter().map(|r| (r.0, r.2))),
        fill(days, rows.iter().map(|r| (r.0, r.3))),
    ))
}

/// Credits per day by ledger kind, and credits sold (purchases).
#[derive(Debug, Clone, Default)]
pub struct CreditDays {
    pub granted: Series,
    pub charged: Series,
    pub released: Series,
    pub taken_back: Series,
    pub sold: Series,
}

pub async fn credits_per_day(db: &Db, days: i64) -> Result<CreditDays, ApiError> {
    let since = (today() - days + 1) * DAY_MS;
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000 AS day, kind, CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
         FROM ledger_entries WHERE created_at >= $1 GROUP BY created_at / 86400000, kind",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    let sold: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000 AS day, CAST(COALESCE(SUM(credits), 0) AS BIGINT) \
         FROM purchases WHERE created_at >= $1 GROUP BY created_at / 86400000",
    )
    .bind(since)
    .fetch_all(&db.pool)
    .await?;
    let of = |kind: &str| {
        fill(
            days,
            rows.iter()
                .filter(|r| r.1 == kind)
                .map(|r| (r.0, r.2))
                .collect::<Vec<_>>(),
        )
    };
    Ok(CreditDays {
        // Purchases are grants too; "granted" shows the free ones (starter, admin).
        granted: {
            let all = of("grant");
            let sold = fill(days, sold.clone());
            all.iter()
                .zip(&sold)
                .map(|((d, g), (_, s))| (*d, (g - s).max(0)))
                .collect()
        },
        charged: of("charge"),
        released: of("release"),
        taken_back: of("clawback"),
        sold: fill(days, sold),
    })
}

/// Money in per day and currency: (paid, refunded), minor units.
pub async fn revenue_per_day(
    db: &Db,
    days: i64,
) -> Result<BTreeMap<String, (Series, Series)>, ApiError> {
    let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT created_at / 86400000 AS day, currency, CAST(COALESCE(SUM(amount), 0) AS BIGINT), \
           CAST(COALESCE(SUM(refunded_amount), 0) AS BIGINT) \
         FROM purchases WHERE created_at >= $1 GROUP BY created_at / 86400000, currency",
    )
    .bind((today() - days + 1) * DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    let mut out = BTreeMap::new();
    let currencies: std::collections::BTreeSet<String> = rows.iter().map(|r| r.1.clone()).collect();
    for c in currencies {
        let paid = fill(days, rows.iter().filter(|r| r.1 == c).map(|r| (r.0, r.2)));
        let refunded = fill(days, rows.iter().filter(|r| r.1 == c).map(|r| (r.0, r.3)));
        out.insert(c, (paid, refunded));
    }
    Ok(out)
}

/// Generations of one kind over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct KindStats {
    pub kind: String,
    pub provider: String,
    pub count: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Seconds from request to result of the succeeded ones.
    pub p50_secs: Option<f64>,
    pub p95_secs: Option<f64>,
}

impl KindStats {
    /// Succeeded out of finished (succeeded + failed), in percent.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.succeeded + self.failed;
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        (finished > 0).then(|| 100.0 * self.succeeded as f64 / finished as f64)
    }
}

/// The `q` quantile (0–1) of sorted values (nearest rank).
pub fn quantile(sorted: &[i64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index within the slice"
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    #[expect(clippy::cast_precision_loss, reason = "milliseconds far below 2^52")]
    Some(sorted[rank - 1] as f64 / 1000.0)
}

/// Count, success rate and p50/p95 time by kind (with its provider), over `days`.
pub async fn generations_by_kind(db: &Db, days: i64) -> Result<Vec<KindStats>, ApiError> {
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT kind, state, created_at, finished_at FROM generations WHERE created_at >= $1",
    )
    .bind((today() - days + 1) * DAY_MS)
    .fetch_all(&db.pool)
    .await?;
    let mut by_kind: BTreeMap<String, (i64, i64, i64, Vec<i64>)> = BTreeMap::new();
    for (kind, state, created, finished) in rows {
        let entry = by_kind.entry(kind).or_default();
        entry.0 += 1;
        match state.as_str() {
            "succeeded" => {
                entry.1 += 1;
                if let Some(f) = finished {
                    entry.3.push((f - created).max(0));
                }
            }
            "failed" => entry.2 += 1,
            _ => {}
        }
    }
    Ok(by_kind
        .into_iter()
        .map(|(kind, (count, succeeded, failed, mut times))| {
            times.sort_unstable();
            let provider = aktion_graph::Catalog::builtin()
                .get(&kind)
                .and_then(|k| k.provider.as_ref())
                .map_or_else(|| "—".to_owned(), |p| format!("{} ({})", p.name, p.model));
            KindStats {
                provider,
                count,
                succeeded,
                failed,
                p50_secs: quantile(&times, 0.5),
                p95_secs: quantile(&times, 0.95),
                kind,
            }
        })
        .collect())
}

/// id, kind, message, finished, created.
type FailureRow = (String, String, Option<String>, Option<i64>, i64);

/// A failed generation for the dashboard.
#[derive(Debug, Clone)]
pub struct Failure {
    pub id: String,
    pub kind: String,
    pub message: String,
    pub at: i64,
}

pub async fn recent_failures(db: &Db, limit: i64) -> Result<Vec<Failure>, ApiError> {
    let rows: Vec<FailureRow> = sqlx::query_as(
        "SELECT id, kind, message, finished_at, created_at FROM generations \
         WHERE state = 'failed' ORDER BY COALESCE(finished_at, created_at) DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, message, finished, created)| Failure {
            id,
            kind,
            message: message.unwrap_or_else(|| "(no message)".to_owned()),
            at: finished.unwrap_or(created),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<i64> = (1..=100).map(|s| s * 1000).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.95), Some(95.0));
        assert_eq!(quantile(&[7000], 0.95), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn series_cover_every_day_up_to_today() {
        let s = fill(7, [(today(), 3), (today() - 2, 1), (today() - 30, 9)]);
        assert_eq!(s.len(), 7);
        assert_eq!(s.last(), Some(&(today(), 3)));
        assert_eq!(
            s.iter().map(|x| x.1).sum::<i64>(),
            4,
            "days outside the window dropped"
        );
    }
}
