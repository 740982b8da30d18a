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

mod driver;
mod settle;
mod store;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aktion_providers::Providers;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use self::driver::{record_blob, resume, spawn, spawn_watcher, store_blob};
pub use self::store::{
    GenerationRow, blob_of, cancel, check_cancel_rate, create, current, owned, rate, settings_of,
    stored_bytes,
};

const ACTIVE: &str = "('queued', 'submitting', 'running')";
const TERMINAL: &str = "('succeeded', 'failed', 'cancelled')";
/// How often a driver looks for a cancel requested through another instance.
const CANCEL_CHECK: Duration = Duration::from_secs(1);
/// Server errors after which a generation fails (and is released) instead of being driven again.
const MAX_DRIVER_FAILURES: i64 = 3;
/// Pause before waiting again on a job whose provider could not be reached.
const RECONNECT_PAUSE: Duration = Duration::from_secs(5);

/// The jobs this instance drives, and change notifications for progress streams.
#[derive(Debug)]
pub struct Jobs {
    pub providers: Providers,
    /// This instance's id in `generations.worker`.
    pub instance: String,
    local: Mutex<HashMap<String, CancellationToken>>,
    /// Submits between "sent to the provider" and "provider job stored".
    submitting: std::sync::atomic::AtomicUsize,
    changes: broadcast::Sender<String>,
}

impl Jobs {
    pub fn new(providers: Providers) -> Self {
        Self {
            providers,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            local: Mutex::new(HashMap::new()),
            submitting: std::sync::atomic::AtomicUsize::new(0),
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

    /// Waits (at most `limit`) until no submit is half-way: its provider job stored, a
    /// restart resumes it rather than failing it as "stopped while sending".
    pub async fn drain_submits(&self, limit: Duration) {
        let until = tokio::time::Instant::now() + limit;
        while self.submitting.load(std::sync::atomic::Ordering::Acquire) > 0
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Ids of the generations driven here.
    fn ids(&self) -> Vec<String> {
        self.local
            .lock()
            .map(|l| l.keys().cloned().collect())
            .unwrap_or_default()
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
