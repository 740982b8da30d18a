//! The executor interface: one executor per route (draft, account, direct, comfyui) plus the
//! local one for files, prompts and sketches. The engine plans and schedules; executors compute
//! one node's outputs and put them in the cache.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use aktion_cache::{BlobHash, Cache, CachedOutput};
pub use aktion_graph::TakeMeta;
use aktion_graph::{KindSchema, NodeId, Route};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, EventSender};
use crate::journal::JournalSlot;

/// A boxed future, so executors can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One filled input of a job: the upstream node's primary output, already in the cache.
#[derive(Clone, Debug, PartialEq)]
pub struct JobInput {
    pub input: String,
    pub slot: u32,
    pub output: CachedOutput,
}

/// Everything an executor needs to compute one node.
#[derive(Clone, Debug)]
pub struct Job {
    pub node: NodeId,
    pub kind: KindSchema,
    pub title: String,
    pub params: BTreeMap<String, Value>,
    pub signature: String,
    /// `None` for local kinds.
    pub route: Option<Route>,
    pub inputs: Vec<JobInput>,
    /// The project folder (for reading imported assets).
    pub project_root: PathBuf,
    /// How long the job may take (the route's limit for its kind).
    pub time_limit: std::time::Duration,
}

impl Job {
    /// The inputs wired into `input`, by slot.
    pub fn inputs_named<'a>(&'a self, input: &'a str) -> impl Iterator<Item = &'a JobInput> + 'a {
        self.inputs.iter().filter(move |i| i.input == input)
    }

    /// The input wired into `input` slot 0.
    pub fn input(&self, input: &str) -> Option<&JobInput> {
        self.inputs.iter().find(|i| i.input == input && i.slot == 0)
    }

    pub fn param_str(&self, id: &str) -> &str {
        self.params.get(id).and_then(Value::as_str).unwrap_or("")
    }

    pub fn param_f64(&self, id: &str) -> Option<f64> {
        self.params.get(id).and_then(Value::as_f64)
    }

    pub fn seed(&self) -> u64 {
        self.params.get("seed").and_then(Value::as_u64).unwrap_or(0)
    }
}

/// What a finished job produced. The outputs are already stored in the cache.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobOutput {
    pub outputs: Vec<CachedOutput>,
    pub meta: TakeMeta,
}

/// Why a job did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("cancelled")]
    Cancelled,
    #[error("timed out after {0} s")]
    Timeout(u64),
    #[error("{message}")]
    Failed { message: String, retryable: bool },
    #[error("waiting for the network: {0}")]
    Offline(String),
}

impl ExecError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed {
            message: message.into(),
            retryable: false,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                retryable: true,
                ..
            } | Self::Offline(_)
        )
    }
}

/// What an executor may use while it runs.
pub struct JobContext {
    pub cache: Cache,
    pub cancel: CancellationToken,
    /// The provider job this node started before a restart, if any, and where to record a new
    /// one so that a restart resumes instead of paying again.
    pub journal: JournalSlot,
    pub(crate) node: NodeId,
    pub(crate) events: EventSender,
}

impl JobContext {
    /// Reports progress: `fraction` in `0.0..=1.0` when known, and a short message
    /// ("queued (3)", "retrying (2)", "step 12/20").
    pub fn progress(&self, fraction: Option<f32>, message: impl Into<String>) {
        let _ = self.events.send(Event::Progress {
            node: self.node,
            fraction: fraction.map(|f| f.clamp(0.0, 1.0)),
            message: message.into(),
        });
    }

    /// A progress reporter that outlives a borrow of the context (for callbacks that must be
    /// `'static`, like a provider client's retry observer).
    pub fn reporter(&self) -> impl Fn(Option<f32>, String) + Send + Sync + 'static {
        let events = self.events.clone();
        let node = self.node;
        move |fraction, message| {
            let _ = events.send(Event::Progress {
                node,
                fraction: fraction.map(|f| f.clamp(0.0, 1.0)),
                message,
            });
        }
    }

    /// Stores bytes in the cache as one output of this job.
    pub fn store(&self, bytes: &[u8], mime: &str, name: &str) -> Result<CachedOutput, ExecError> {
        let hash = self
            .cache
            .put_bytes(bytes)
            .map_err(|e| ExecError::failed(format!("cannot store the result: {e:#}")))?;
        Ok(CachedOutput {
            hash,
            mime: mime.to_owned(),
            name: name.to_owned(),
            bytes: bytes.len() as u64,
        })
    }

    /// Reads an input's bytes from the cache, verified against its hash.
    pub fn read(&self, hash: &BlobHash) -> Result<Vec<u8>, ExecError> {
        match self.cache.read_blob(hash) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(ExecError::failed(format!(
                "an input ({}) is missing from the cache; run again to recompute it",
                &hash.to_hex()[..12]
            ))),
            Err(e) => Err(ExecError::failed(format!("cannot read an input: {e:#}"))),
        }
    }
}

/// The catalog's time limit for `kind` (the draft and local routes' and the default).
pub fn catalog_limit(kind: &KindSchema) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(kind.timeout_seconds.max(1)))
}

/// Computes nodes for one route.
pub trait Executor: Send + Sync + 'static {
    /// Names what computes `kind` (renderer or provider model version). It is part of every
    /// signature, so a new model version never reuses an old result.
    fn version(&self, kind: &KindSchema) -> String;

    /// The concurrency group `kind` runs in and how many jobs of that group may run at once
    /// (e.g. one group per provider).
    fn limit(&self, kind: &KindSchema) -> (String, usize);

    /// How long a job of `kind` may take on this route before it is given up. The catalog's
    /// figure by default; a route whose service allows longer (a provider configuration's
    /// `timeout_secs`) says so, so a job the provider allows 20 minutes is never cut at 10.
    fn time_limit(&self, kind: &KindSchema) -> std::time::Duration {
        catalog_limit(kind)
    }

    /// Runs one job. Must watch `ctx.cancel`.
    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>>;
}
