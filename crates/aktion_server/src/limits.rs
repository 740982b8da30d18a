//! Abuse limits (PRODUCT.md §5.4): who the client is (a trusted proxy list decides whether
//! `X-Forwarded-For` counts; IPv6 clients counted per /64), counters shared by every instance
//! through the database (registrations per address and in all, login attempts with growing
//! delays per email, the daily budget of starter grants), and gates — semaphores that bound the
//! work anonymous callers can start and answer 503 with `Retry-After` when full.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ApiError;
use crate::db::{Db, now_ms};

/// Addresses of reverse proxies whose `X-Forwarded-For` is believed
/// (`AKTION_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges). Empty: the peer
/// address is the client, whatever headers say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("`{item}` is not an IP address or CIDR range"))?,
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer itself unless it is a trusted proxy; then the
    /// right-most address of `X-Forwarded-For` that is not a trusted proxy (the left-most
    /// entries are whatever the client sent and are never believed).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.contains(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage from the proxy chain: keep the nearest address known.
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The key a client address is counted under: an IPv4 address by itself, an IPv6 address by
/// its /64 (one subscriber usually holds a whole /64, so counting /128s counts nothing).
pub fn address_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

/// Password hashes computed at once, and the threads that compute them: one per core, 2–16.
pub fn hashing_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .clamp(2, 16)
}

/// Limits of registration, login and the work anonymous callers can cause.
#[derive(Debug, Clone)]
pub struct Limits {
    pub trusted_proxies: TrustedProxies,
    /// Registrations per client address (IPv6: per /64) per hour.
    pub register_per_address: u32,
    /// Registrations per hour in all, across instances.
    pub register_per_hour: u32,
    /// Credits all starter grants together may give per UTC day.
    pub starter_grant_daily_budget: i64,
    /// Argon2 hashes computed at once (each holds 19 MiB at the default cost).
    pub hashing: usize,
    /// Blob uploads received at once.
    pub uploads: usize,
    /// Generations driven at once by this instance.
    pub drivers: usize,
    /// Bytes of stored inputs held in memory at once to send to providers as files (without
    /// `AKTION_PUBLIC_URL`); a generation whose inputs do not fit waits for others to be sent.
    pub input_bytes: u64,
    /// How long a request waits for a free slot of a gate before it is answered 503.
    pub gate_wait: Duration,
    /// Bytes of blobs one user may keep (uploads and outputs).
    pub user_storage_bytes: u64,
    /// Progress streams one user may hold open.
    pub sse_per_user: usize,
    /// Progress streams open at once on this instance.
    pub sse_total: usize,
    /// Requests handled at once by this instance.
    pub requests: usize,
    /// Time to answer a request (uploads: `upload_timeout`); past it, 503.
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    /// Cancelled generations one user may have per hour before new ones are refused.
    pub cancels_per_hour: u32,
    /// Longest wait at shutdown for generations being sent to a provider.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            trusted_proxies: TrustedProxies::default(),
            register_per_address: 5,
            register_per_hour: 300,
            starter_grant_daily_budget: 5_000,
            hashing: hashing_threads(),
            uploads: 8,
            drivers: 64,
            input_bytes: 512 * 1024 * 1024,
            gate_wait: Duration::from_secs(2),
            user_storage_bytes: 5 * 1024 * 1024 * 1024,
            sse_per_user: 8,
            sse_total: 1024,
            requests: 1024,
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(600),
            cancels_per_hour: 30,
            drain: Duration::from_secs(10),
        }
    }
}

/// A bounded amount of concurrent work of one kind.
#[derive(Debug, Clone)]
pub struct Gate {
    what: &'static str,
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl Gate {
    pub fn new(what: &'static str, slots: usize, wait: Duration) -> Self {
        Self {
            what,
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
        }
    }

    /// A slot, waiting at most the gate's wait; 503 with `Retry-After` when none frees up.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::Busy {
                what: self.what,
                retry_after_secs: 2,
            }),
        }
    }

    /// A slot now, or 503.
    pub fn try_enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy {
                what: self.what,
                retry_after_secs: 2,
            })
    }

    /// A slot, however long it takes (background work that must run eventually).
    pub async fn wait_for(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().acquire_owned().await.ok()
    }

    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

/// A budget of bytes held at once, shared by everything that takes from it; a taker waits
/// until its bytes are free. A taker larger than the whole budget takes all of it (and so runs
/// alone) rather than never.
#[derive(Debug, Clone)]
pub struct ByteBudget {
    total: u32,
    bytes: Arc<Semaphore>,
}

impl ByteBudget {
    /// Budgets above 4 GiB are held to 4 GiB (a semaphore counts in `u32`).
    pub fn new(total: u64) -> Self {
        let total = u32::try_from(total).unwrap_or(u32::MAX).max(1);
        Self {
            total,
            bytes: Arc::new(Semaphore::new(total as usize)),
        }
    }

    /// Waits until `bytes` are free and holds them until the permit is dropped. `None` only
    /// when nothing is to be held.
    pub async fn take(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let n = u32::try_from(bytes).unwrap_or(u32::MAX).min(self.total);
        if n == 0 {
            return None;
        }
        self.bytes.clone().acquire_many_owned(n).await.ok()
    }

    /// Bytes free now.
    pub fn available(&self) -> u64 {
        self.bytes.available_permits() as u64
    }
}

/// The gates of one instance.
#[derive(Debug, Clone)]
pub struct Gates {
    pub hashing: Gate,
    pub uploads: Gate,
    pub drivers: Gate,
    pub requests: Gate,
    /// Stored inputs read into memory to be sent to a provider.
    pub input_bytes: ByteBudget,
}

impl Gates {
    pub fn new(limits: &Limits) -> Self {
        Self {
            hashing: Gate::new("password checks", limits.hashing, limits.gate_wait),
            uploads: Gate::new("uploads", limits.uploads, limits.gate_wait),
            drivers: Gate::new("generations", limits.drivers, limits.gate_wait),
            requests: Gate::new("requests", limits.requests, Duration::ZERO),
            input_bytes: ByteBudget::new(limits.input_bytes),
        }
    }
}

/// Progress streams open now, per user and in all; a slot is given back when its
/// [`StreamSlot`] is dropped (the stream ended or the client went away).
#[derive(Debug, Default)]
pub struct Streams {
    open: std::sync::Mutex<(usize, std::collections::HashMap<i64, usize>)>,
}

/// One open progress stream.
#[derive(Debug)]
pub struct StreamSlot {
    streams: Arc<Streams>,
    user_id: i64,
}

impl Streams {
    /// A slot for one more stream of `user_id`: 429 past the per-user cap (one user cannot
    /// starve the others), 503 past the instance's.
    pub fn open(self: &Arc<Self>, user_id: i64, limits: &Limits) -> Result<StreamSlot, ApiError> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| ApiError::Internal("stream counts poisoned".to_owned()))?;
        let (total, per_user) = &mut *open;
        if *total >= limits.sse_total {
            return Err(ApiError::Busy {
                what: "progress streams",
                retry_after_secs: 5,
            });
        }
        let mine = per_user.entry(user_id).or_insert(0);
        if *mine >= limits.sse_per_user {
            return Err(ApiError::RateLimited {
                retry_after_secs: 5,
            });
        }
        *mine += 1;
        *total += 1;
        Ok(StreamSlot {
            streams: self.clone(),
            user_id,
        })
    }

    /// Streams open now.
    pub fn count(&self) -> usize {
        self.open.lock().map_or(0, |o| o.0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.streams.open.lock() {
            let (total, per_user) = &mut *open;
            *total = total.saturating_sub(1);
            if let Some(mine) = per_user.get_mut(&self.user_id) {
                *mine = mine.saturating_sub(1);
                if *mine == 0 {
                    per_user.remove(&self.user_id);
                }
            }
        }
    }
}

/// Middleware bounding every request: at most `limits.requests` at once (503 past it, before
/// anything is read) and each answered within its time (`upload_timeout` for blob uploads,
/// `request_timeout` otherwise; a slow client sending its body included), or 503.
pub async fn guard(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let Ok(_slot) = state.gates.requests.try_enter() else {
        return ApiError::Busy {
            what: "requests",
            retry_after_secs: 1,
        }
        .into_response();
    };
    let limits = &state.config.limits;
    let limit =
        if req.method() == axum::http::Method::PUT && req.uri().path().starts_with("/v1/blobs/") {
            limits.upload_timeout
        } else {
            limits.request_timeout
        };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Busy {
            what: "work: the request took too long",
            retry_after_secs: 1,
        }
        .into_response(),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn retry_after(ms_left: i64) -> ApiError {
    let secs = u64::try_from(ms_left.max(0)).unwrap_or(0).div_ceil(1000);
    ApiError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

/// Counts one hit of `key` in a fixed window of `window`; refused (429 with the time until
/// the window ends) when `limit` hits were counted already. Check and count are one
/// statement, so parallel requests cannot all pass a check made before any of them counted.
pub async fn hit_window(db: &Db, key: &str, limit: u32, window: Duration) -> Result<(), ApiError> {
    let now = now_ms();
    let stale = now - ms(window);
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO rate_counters (key, window_start, hits, last_at, delay_ms) \
         VALUES ($1, $2, 1, $2, 0) \
         ON CONFLICT (key) DO UPDATE SET \
           hits = CASE WHEN rate_counters.window_start <= $3 THEN 1 \
             ELSE rate_counters.hits + 1 END, \
           window_start = CASE WHEN rate_counters.window_start <= $3 THEN $2 \
             ELSE rate_counters.window_start END, \
           last_at = $2 \
         WHERE rate_counters.window_start <= $3 OR rate_counters.hits < $4 \
         RETURNING hits",
    )
    .bind(key)
    .bind(now)
    .bind(stale)
    .bind(i64::from(limit))
    .fetch_optional(db.writer())
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    let start: Option<i64> =
        sqlx::query_scalar("SELECT window_start FROM rate_counters WHERE key = $1")
            .bind(key)
            .fetch_optional(db.writer())
            .await?;
    Err(retry_after(start.unwrap_or(now) + ms(window) - now))
}

/// Takes back one hit of `key` (a login that turned out to be the account's owner).
pub async fn unhit(db: &Db, key: &str) -> Result<(), ApiError> {
    sqlx::query("UPDATE rate_counters SET hits = hits - 1 WHERE key = $1 AND hits > 0")
        .bind(key)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Growing delays: the first `free` attempts of `key` pass at once; after that each attempt
/// must wait `base`, then twice as long as the last wait, up to `cap`; an attempt during a
/// wait is refused (429 with the time left) and does not lengthen it. The count starts again
/// once `key` was quiet for `quiet`. Counted before the work it guards, in one statement.
pub async fn hit_delay(db: &Db, key: &str, delays: Delays) -> Result<(), ApiError> {
    let now = now_ms();
    let stale = now - ms(delays.quiet);
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO rate_counters (key, window_start, hits, last_at, delay_ms) \
         VALUES ($1, $2, 1, $2, CASE WHEN $4 <= 1 THEN $5 ELSE 0 END) \
         ON CONFLICT (key) DO UPDATE SET \
           hits = CASE WHEN rate_counters.last_at <= $3 THEN 1 ELSE rate_counters.hits + 1 END, \
           delay_ms = CASE \
             WHEN rate_counters.last_at <= $3 THEN CASE WHEN $4 <= 1 THEN $5 ELSE 0 END \
             WHEN rate_counters.hits + 1 < $4 THEN 0 \
             WHEN rate_counters.delay_ms * 2 < $5 THEN $5 \
             WHEN rate_counters.delay_ms * 2 > $6 THEN $6 \
             ELSE rate_counters.delay_ms * 2 END, \
           window_start = CASE WHEN rate_counters.last_at <= $3 THEN $2 \
             ELSE rate_counters.window_start END, \
           last_at = $2 \
         WHERE rate_counters.last_at <= $3 \
           OR rate_counters.last_at + rate_counters.delay_ms <= $2 \
         RETURNING hits",
    )
    .bind(key)
    .bind(now)
    .bind(stale)
    .bind(i64::from(delays.free))
    .bind(ms(delays.base))
    .bind(ms(delays.cap))
    .fetch_optional(db.writer())
    .await?;
    if counted.is_some() {
        return Ok(());
    }
    let next: Option<i64> =
        sqlx::query_scalar("SELECT last_at + delay_ms FROM rate_counters WHERE key = $1")
            .bind(key)
            .fetch_optional(db.writer())
            .await?;
    Err(retry_after(next.unwrap_or(now) - now))
}

/// Forgets `key` (a successful login ends its delays).
pub async fn forget(db: &Db, key: &str) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM rate_counters WHERE key = $1")
        .bind(key)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Drops counters nobody touched for `older_than`.
pub async fn purge(db: &Db, older_than: Duration) -> Result<u64, ApiError> {
    Ok(sqlx::query("DELETE FROM rate_counters WHERE last_at < $1")
        .bind(now_ms() - ms(older_than))
        .execute(db.writer())
        .await?
        .rows_affected())
}

/// The schedule of [`hit_delay`].
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    pub free: u32,
    pub base: Duration,
    pub cap: Duration,
    pub quiet: Duration,
}

/// Takes `amount` credits out of today's (UTC) starter-grant budget inside `tx`; false when
/// the budget cannot cover it (the grant is then not paid, and says so in the log).
pub async fn take_from_daily_budget(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    budget: i64,
    amount: i64,
) -> Result<bool, ApiError> {
    if amount > budget {
        return Ok(false);
    }
    let now = now_ms();
    let day = now.div_euclid(86_400_000);
    let key = format!("starter-grant-budget:{day}");
    let counted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO rate_counters (key, window_start, hits, last_at, delay_ms) \
         VALUES ($1, $2, $3, $2, 0) \
         ON CONFLICT (key) DO UPDATE SET hits = rate_counters.hits + $3, last_at = $2 \
         WHERE rate_counters.hits + $3 <= $4 \
         RETURNING hits",
    )
    .bind(&key)
    .bind(now)
    .bind(amount)
    .bind(budget)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(counted.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        // No proxies configured: the header is whatever the client made up.
        assert_eq!(
            none.client(ip("203.0.113.9"), &headers(&["1.1.1.1"])),
            ip("203.0.113.9")
        );
        let proxies: TrustedProxies = "10.0.0.0/8, ::1".parse().expect("list");
        // From the proxy: the right-most untrusted hop, never a spoofed left-most one.
        assert_eq!(
            proxies.client(
                ip("10.0.0.2"),
                &headers(&["6.6.6.6, 198.51.100.7, 10.0.0.5"])
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            proxies.client(ip("::1"), &headers(&["6.6.6.6", "198.51.100.7:4431"])),
            ip("198.51.100.7")
        );
        // Not from a proxy: the header is ignored.
        assert_eq!(
            proxies.client(ip("192.0.2.1"), &headers(&["6.6.6.6"])),
            ip("192.0.2.1")
        );
        // From the proxy without a header, or with garbage: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers(&[])),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers(&["nonsense"])),
            ip("10.0.0.2")
        );
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.example".parse::<TrustedProxies>().is_err());
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(ip("192.0.2.1")), "192.0.2.1");
    }

    async fn db() -> Db {
        let db = Db::connect("sqlite::memory:").await.expect("db");
        db.migrate().await.expect("migrate");
        db
    }

    #[tokio::test]
    async fn window_counts_and_refuses_past_the_limit() {
        let db = db().await;
        for _ in 0..3 {
            hit_window(&db, "k", 3, Duration::from_secs(60))
                .await
                .expect("under the limit");
        }
        assert!(matches!(
            hit_window(&db, "k", 3, Duration::from_secs(60)).await,
            Err(ApiError::RateLimited { retry_after_secs }) if (1..=60).contains(&retry_after_secs)
        ));
        unhit(&db, "k").await.expect("unhit");
        hit_window(&db, "k", 3, Duration::from_secs(60))
            .await
            .expect("one taken back");
        hit_window(&db, "other", 3, Duration::from_secs(60))
            .await
            .expect("keys are separate");
    }

    #[tokio::test]
    async fn delays_grow_and_end() {
        let db = db().await;
        let delays = Delays {
            free: 2,
            base: Duration::from_millis(150),
            cap: Duration::from_millis(300),
            quiet: Duration::from_secs(60),
        };
        hit_delay(&db, "e", delays).await.expect("1st free");
        hit_delay(&db, "e", delays)
            .await
            .expect("2nd free, starts a wait");
        assert!(
            hit_delay(&db, "e", delays).await.is_err(),
            "inside the wait"
        );
        tokio::time::sleep(Duration::from_millis(170)).await;
        hit_delay(&db, "e", delays).await.expect("after the wait");
        let delay: i64 = sqlx::query_scalar("SELECT delay_ms FROM rate_counters WHERE key = 'e'")
            .fetch_one(&db.pool)
            .await
            .expect("row");
        assert_eq!(delay, 300, "doubled");
        tokio::time::sleep(Duration::from_millis(320)).await;
        hit_delay(&db, "e", delays).await.expect("after the wait");
        let delay: i64 = sqlx::query_scalar("SELECT delay_ms FROM rate_counters WHERE key = 'e'")
            .fetch_one(&db.pool)
            .await
            .expect("row");
        assert_eq!(delay, 300, "capped");
        forget(&db, "e").await.expect("forget");
        hit_delay(&db, "e", delays).await.expect("free again");
    }

    #[tokio::test]
    async fn the_daily_budget_is_never_exceeded() {
        let db = db().await;
        for (amount, ok) in [(40, true), (50, true), (20, false), (10, true), (1, false)] {
            let mut tx = db.begin_write().await.expect("tx");
            assert_eq!(
                take_from_daily_budget(&mut tx, 100, amount)
                    .await
                    .expect("budget"),
                ok,
                "{amount}"
            );
            tx.commit().await.expect("commit");
        }
        let mut tx = db.begin_write().await.expect("tx");
        assert!(
            !take_from_daily_budget(&mut tx, 100, 101)
                .await
                .expect("budget")
        );
    }
}
