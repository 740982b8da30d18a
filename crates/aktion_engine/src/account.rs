//! The `account` route: nodes run on the user's Aktion account, through `aktion-server`'s
//! generation proxy (the server holds the provider keys and the credits).
//!
//! An idempotency key is journaled *before* the generation is requested, and the generation id
//! right after; a crash, a restart or a lost answer therefore asks for the same generation again
//! (the server replays it) instead of paying twice. While the server cannot be reached the node
//! shows "waiting for network" and keeps its journal entry; it goes on when the network returns.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aktion_account::{AccountClient, AccountError};
use aktion_api::{Generation, GenerationInput, GenerationRequest, GenerationState};
use aktion_graph::{KindSchema, PortType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::executor::{BoxFuture, ExecError, Executor, Job, JobContext, JobOutput, TakeMeta};

/// How long the app waits for a generation the server still reports as active.
const ACCOUNT_WAIT_CEILING: std::time::Duration = std::time::Duration::from_secs(3 * 60 * 60);

/// Jobs at once on the account route (the server queues per provider itself).
pub const DEFAULT_ACCOUNT_CONCURRENCY: usize = 4;
/// How often a running generation is asked for its state.
const POLL: Duration = Duration::from_secs(1);
/// Longest pause between attempts while the server cannot be reached.
const MAX_OFFLINE_PAUSE: Duration = Duration::from_secs(30);

/// What the journal keeps for an account job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct AccountJob {
    route: String,
    /// Sent as `Idempotency-Key`: the same key always means the same generation.
    key: String,
    #[serde(default)]
    generation: Option<String>,
}

/// The signed-in account the route uses; the app swaps it on sign-in and sign-out, and the
/// next job uses the new one.
pub type AccountSession = Arc<RwLock<Option<AccountClient>>>;

/// Runs generating nodes on the account route.
#[derive(Clone, Debug)]
pub struct AccountExecutor {
    session: AccountSession,
    poll: Duration,
}

impl AccountExecutor {
    /// `client` is `None` when nobody is signed in: every job then fails with how to sign in.
    pub fn new(client: Option<AccountClient>) -> Self {
        Self::with_session(Arc::new(RwLock::new(client)))
    }

    /// Uses (and follows changes of) a session the app holds.
    pub fn with_session(session: AccountSession) -> Self {
        Self {
            session,
            poll: POLL,
        }
    }

    /// Polls every `poll` instead of every second (tests).
    #[must_use]
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    async fn run(self, job: Job, ctx: JobContext) -> Result<JobOutput, ExecError> {
        let current = self.session.read().ok().and_then(|c| c.clone());
        let Some(client) = current.filter(AccountClient::is_signed_in) else {
            return Err(ExecError::failed(
                "sign in to your Aktion account to use the account route \
                 (in the app, or set AKTION_ACCOUNT_URL and AKTION_ACCOUNT_TOKEN)",
            ));
        };
        let started = std::time::Instant::now();
        let resumed = ctx
            .journal
            .resume_handle()
            .and_then(|v| serde_json::from_value::<AccountJob>(v).ok())
            .filter(|e| e.route == "account");
        let mut entry = if let Some(e) = resumed {
            ctx.progress(None, "resuming on your account");
            e
        } else {
            let e = AccountJob {
                route: "account".to_owned(),
                key: new_key(&job.signature),
                generation: None,
            };
            record(&ctx, &e);
            e
        };
        let generation = if let Some(id) = entry.generation.clone() {
            id
        } else {
            let request = self.request(&client, &job, &ctx).await?;
            let created = self
                .until_online(&ctx, || client.create_generation(&request, &entry.key))
                .await
                .map_err(|e| refusal(&ctx, &e))?;
            entry.generation = Some(created.id.clone());
            record(&ctx, &entry);
            created.id
        };
        let done = self.follow(&client, &ctx, &generation).await?;
        let outputs = self.download(&client, &ctx, &done).await?;
        ctx.journal.clear();
        Ok(JobOutput {
            outputs,
            meta: TakeMeta {
                provider: "account".to_owned(),
                model: job.kind.id.clone(),
                credits: u32::try_from(done.credits).unwrap_or(0),
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                generation: Some(generation.clone()),
                ..TakeMeta::default()
            },
        })
    }

    /// Parameters as JSON; wired files uploaded by hash (once per content); text as text.
    async fn request(
        &self,
        client: &AccountClient,
        job: &Job,
        ctx: &JobContext,
    ) -> Result<GenerationRequest, ExecError> {
        let params: BTreeMap<String, Value> = job
            .params
            .iter()
            .filter(|(id, v)| job.kind.param(id).is_some() && !v.is_null())
            .map(|(id, v)| (id.clone(), v.clone()))
            .collect();
        let mut inputs = BTreeMap::new();
        for schema in &job.kind.inputs {
            let mut wired: Vec<_> = job.inputs_named(&schema.id).collect();
            if wired.is_empty() {
                continue;
            }
            wired.sort_by_key(|i| i.slot);
            let mut values = Vec::with_capacity(wired.len());
            for input in wired {
                let bytes = ctx.read(&input.output.hash)?;
                if schema.ty == PortType::Text {
                    values.push(GenerationInput::Text(
                        String::from_utf8_lossy(&bytes).into_owned(),
                    ));
                    continue;
                }
                ctx.progress(None, "uploading inputs");
                let mime = input.output.mime.clone();
                let info = self
                    .until_online(ctx, || client.put_blob(bytes.clone(), &mime))
                    .await
                    .map_err(|e| refusal(ctx, &e))?;
                values.push(GenerationInput::Blob(info.hash));
            }
            inputs.insert(schema.id.clone(), values);
        }
        Ok(GenerationRequest {
            kind: job.kind.id.clone(),
            params,
            inputs,
        })
    }

    /// Polls the generation until it ends, reporting its progress; a cancel here cancels it on
    /// the server (its credits are released there).
    async fn follow(
        &self,
        client: &AccountClient,
        ctx: &JobContext,
        id: &str,
    ) -> Result<Generation, ExecError> {
        loop {
            let polled = tokio::select! {
                () = ctx.cancel.cancelled() => {
                    if let Err(e) = client.cancel_generation(id).await {
                        tracing::warn!(generation = %id, "cancel on the server failed: {e}");
                    } else {
                        ctx.journal.clear();
                    }
                    return Err(ExecError::Cancelled);
                }
                g = self.until_online(ctx, || client.generation(id)) => g,
            };
            let g = polled.map_err(|e| refusal(ctx, &e))?;
            match g.state {
                GenerationState::Succeeded => return Ok(g),
                GenerationState::Failed => {
                    ctx.journal.clear();
                    return Err(ExecError::failed(g.message.unwrap_or_else(|| {
                        "the generation failed; credits released".into()
                    })));
                }
                GenerationState::Cancelled => {
                    ctx.journal.clear();
                    return Err(ExecError::failed(
                        "the generation was cancelled on the server; credits released",
                    ));
                }
                GenerationState::Queued | GenerationState::Submitting => {
                    ctx.progress(None, g.message.unwrap_or_else(|| "queued".into()));
                }
                GenerationState::Running => {
                    ctx.progress(g.progress, g.message.unwrap_or_else(|| "running".into()));
                }
            }
            tokio::select! {
                () = ctx.cancel.cancelled() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
        }
    }

    async fn download(
        &self,
        client: &AccountClient,
        ctx: &JobContext,
        g: &Generation,
    ) -> Result<Vec<aktion_cache::CachedOutput>, ExecError> {
        if g.outputs.is_empty() {
            return Err(ExecError::failed(
                "the generation finished without any output",
            ));
        }
        let mut stored = Vec::with_capacity(g.outputs.len());
        for (i, out) in g.outputs.iter().enumerate() {
            ctx.progress(Some(1.0), "downloading");
            let bytes = self
                .until_online(ctx, || client.get_blob(&out.hash))
                .await
                .map_err(|e| refusal(ctx, &e))?;
            let ext = out.content_type.rsplit('/').next().unwrap_or("bin");
            stored.push(ctx.store(&bytes, &out.content_type, &format!("output-{i}.{ext}"))?);
        }
        Ok(stored)
    }

    /// Runs `call` until the server answers, pausing with a growing delay (shown as "waiting
    /// for network") while it cannot be reached. A cancel ends the wait.
    async fn until_online<T, F, Fut>(&self, ctx: &JobContext, call: F) -> Result<T, AccountError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, AccountError>>,
    {
        let mut pause = Duration::from_secs(1).min(self.poll.max(Duration::from_millis(50)));
        loop {
            match call().await {
                Err(e) if e.is_offline() => {
                    ctx.progress(None, "waiting for network");
                    tracing::info!("account server unreachable: {e}");
                    tokio::select! {
                        () = ctx.cancel.cancelled() => return Err(e),
                        () = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(MAX_OFFLINE_PAUSE);
                }
                other => return other,
            }
        }
    }
}

/// A refusal as the node's error; the journal entry goes (nothing is running for it).
fn refusal(ctx: &JobContext, e: &AccountError) -> ExecError {
    if ctx.cancel.is_cancelled() {
        return ExecError::Cancelled;
    }
    ctx.journal.clear();
    match e {
        AccountError::Api { code, .. } if code == "unauthorized" => {
            ExecError::failed("your session has ended: sign in to your Aktion account again")
        }
        AccountError::Api { code, message, .. } if code == "insufficient_credits" => {
            ExecError::failed(format!("{message}: add credits to your account"))
        }
        other => ExecError::failed(other.to_string()),
    }
}

/// A fresh idempotency key for one attempt at a node (a new attempt after a failure must not
/// replay the failed generation).
fn new_key(signature: &str) -> String {
    let short: String = signature.chars().take(16).collect();
    format!("aktion-{short}-{}", uuid::Uuid::new_v4().simple())
}

fn record(ctx: &JobContext, entry: &AccountJob) {
    match serde_json::to_value(entry) {
        Ok(v) => {
            if let Err(e) = ctx.journal.record(v) {
                tracing::warn!(
                    "cannot journal an account job; a restart may pay for it again: {e}"
                );
            }
        }
        Err(e) => tracing::warn!("cannot serialise an account job: {e}"),
    }
}

impl Executor for AccountExecutor {
    fn version(&self, kind: &KindSchema) -> String {
        // The server decides the provider and model; results of the account route are kept
        // apart from the other routes' by this.
        format!("account:1:{}", kind.id)
    }

    fn limit(&self, _kind: &KindSchema) -> (String, usize) {
        ("account".to_owned(), DEFAULT_ACCOUNT_CONCURRENCY)
    }

    /// The server holds the kind's real limit (its provider configuration's) and answers with a
    /// failure, its reservation released, when a job passes it; the app only stops waiting
    /// after a ceiling well past any provider's limit, so a paid result is never abandoned by
    /// the client's clock.
    fn time_limit(&self, kind: &KindSchema) -> std::time::Duration {
        crate::executor::catalog_limit(kind).max(ACCOUNT_WAIT_CEILING)
    }

    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>> {
        Box::pin(self.clone().run(job, ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_attempt_and_fit_the_header() {
        let a = new_key("abcdef0123456789abcdef");
        let b = new_key("abcdef0123456789abcdef");
        assert_ne!(a, b);
        assert!(a.len() <= 255 && a.bytes().all(|c| c.is_ascii_graphic()));
    }
}
