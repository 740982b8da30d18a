//! Telling the caller about retries made inside a client (PRODUCT.md §6: the node shows
//! "retrying (n)"). The observer is task-local: an executor wraps one job's calls in
//! [`observe_retries`], and every retry of those calls, however deep in a client, reaches it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::ProviderKind;

/// One retry about to happen.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryNotice {
    pub provider: ProviderKind,
    /// 1 for the first retry.
    pub attempt: u32,
    /// How long the client waits before it (honouring `Retry-After`).
    pub delay: Duration,
    /// What went wrong (never contains a key).
    pub reason: String,
}

/// Receives the retries of the calls it observes.
pub type RetryObserver = Arc<dyn Fn(&RetryNotice) + Send + Sync>;

tokio::task_local! {
    static OBSERVER: RetryObserver;
}

/// Runs `fut` with `observer` told about every retry its provider calls make.
pub async fn observe_retries<F: Future>(observer: RetryObserver, fut: F) -> F::Output {
    OBSERVER.scope(observer, fut).await
}

pub(crate) fn notify(notice: &RetryNotice) {
    let _ = OBSERVER.try_with(|observer| observer(notice));
}
