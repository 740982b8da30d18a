//! The evaluation engine: plans what requested outputs need, runs independent nodes concurrently
//! on tokio with per-provider limits, reports progress, cancels, keeps a job journal so that a
//! provider job in flight is resumed, not paid for again, after a restart. One executor per
//! route behind [`Executor`]; the local and draft executors live here.
//!
//! Must never depend on egui, sqlx or axum.

pub mod account;
pub mod draft;
pub mod events;
pub mod executor;
pub mod journal;
pub mod kept;
pub mod local;
pub mod plan;
pub mod provider;
pub mod run;
pub mod takes;

pub use account::{AccountExecutor, AccountSession};
pub use executor::{
    BoxFuture, ExecError, Executor, Job, JobContext, JobInput, JobOutput, TakeMeta,
};
pub use journal::{JobSnapshot, Journal, JournalEntry, JournalSlot};
pub use provider::ProviderExecutor;
pub use run::{
    Engine, EngineError, Event, NodeReport, NodeStatus, Plan, RunHandle, RunRequest, RunSummary,
    Wake,
};

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How many CPU-bound jobs to run at once.
pub fn cpu_parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
}
