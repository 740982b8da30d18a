//! The `direct` and `comfyui` routes: nodes run at a hosted provider with the user's own key, or
//! on the user's ComfyUI server, through `aktion_providers`.
//!
//! A job is submitted once: its [`JobHandle`] is journaled before the executor waits on it, and
//! a later run (after a crash or a restart) polls that handle again instead of paying twice.
//! The journal is cleared when the job is over for good (success, a failure at the provider,
//! a cancel); it is kept when only the connection failed, so the next run resumes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use aktion_cache::CachedOutput;
use aktion_graph::{KindSchema, PortType, Route};
use aktion_providers::{
    DownloadLimits, InputFile, InputValue, JobHandle, JobRequest, JobState, KindConfig, Output,
    ProviderError, ProviderKind, Providers, ProvidersConfig, Target,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::executor::{BoxFuture, ExecError, Executor, Job, JobContext, JobOutput, TakeMeta};
use crate::journal::JournalSlot;

/// Jobs at once per hosted provider, unless configured otherwise.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 4;
/// Largest output accepted from a provider (a long 1080p video fits).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1024 * 1024 * 1024;
/// How often a failed submit, wait or download is tried again on top of the client's own
/// retries, each time reported as "retrying (n)".
const EXTRA_ATTEMPTS: u32 = 3;

/// Runs generating nodes at a provider. One instance per route.
#[derive(Clone, Debug)]
pub struct ProviderExecutor {
    route: Route,
    providers: Providers,
    concurrency: BTreeMap<ProviderKind, usize>,
    max_output_bytes: u64,
}

impl ProviderExecutor {
    /// The `direct` route: every kind the configuration maps to a provider.
    pub fn direct(config: ProvidersConfig) -> Result<Self, ProviderError> {
        Ok(Self::new(Route::Direct, Providers::new(config)?))
    }

    /// The `comfyui` route: kinds whose configuration is a ComfyUI workflow. An entry named
    /// `comfyui:<kind>` wins over `<kind>`, so one configuration can hold both routes.
    pub fn comfyui(mut config: ProvidersConfig) -> Result<Self, ProviderError> {
        let all = std::mem::take(&mut config.kinds);
        let is_comfy = |k: &KindConfig| k.target.provider() == ProviderKind::ComfyUi;
        for (name, kind) in &all {
            if name.contains(':') || !is_comfy(kind) {
                continue;
            }
            config.kinds.insert(name.clone(), kind.clone());
        }
        for (name, kind) in all {
            if let Some(plain) = name.strip_prefix("comfyui:")
                && is_comfy(&kind)
            {
                config.kinds.insert(plain.to_owned(), kind);
            }
        }
        Ok(Self::new(Route::Comfyui, Providers::new(config)?))
    }

    fn new(route: Route, providers: Providers) -> Self {
        Self {
            route,
            providers,
            concurrency: BTreeMap::new(),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    /// How many jobs of `provider` may run at once (at least one).
    #[must_use]
    pub fn with_concurrency(mut self, provider: ProviderKind, jobs: usize) -> Self {
        self.concurrency.insert(provider, jobs.max(1));
        self
    }

    #[must_use]
    pub fn with_max_output_bytes(mut self, bytes: u64) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    fn kind_config(&self, kind: &str) -> Option<&KindConfig> {
        self.providers.config().kinds.get(kind)
    }

    async fn run(self, job: Job, ctx: JobContext) -> Result<JobOutput, ExecError> {
        let started = tokio::time::Instant::now();
        let Some(config) = self.kind_config(&job.kind.id).cloned() else {
            return Err(ExecError::failed(match self.route {
                Route::Comfyui => format!(
                    "no ComfyUI workflow is configured for {} nodes: stock ComfyUI cannot make them; add a workflow as `comfyui:{}` under `kinds` in the provider configuration",
                    job.kind.title, job.kind.id
                ),
                route => format!(
                    "no provider is configured for {} nodes on the {route} route",
                    job.kind.title
                ),
            }));
        };
        let provider = config.target.provider();
        if provider != ProviderKind::ComfyUi
            && self.providers.config().endpoint(provider).key.is_none()
        {
            return Err(ExecError::failed(format!(
                "no API key for {}: set {}",
                slug(provider),
                aktion_providers::key_variable(provider).unwrap_or("its key variable")
            )));
        }

        let handle = if let Some(handle) = resumable(&ctx.journal, &job.kind.id, provider) {
            ctx.progress(None, format!("resuming the {provider} job"));
            handle
        } else {
            let request = build_request(&job, &ctx)?;
            let handle = tokio::select! {
                () = ctx.cancel.cancelled() => return Err(ExecError::Cancelled),
                h = self.submit(&request, &ctx) => h?,
            };
            // Journal before waiting: a crash from here on resumes this job.
            match serde_json::to_value(&handle) {
                Ok(v) => {
                    if let Err(e) = ctx.journal.record(v) {
                        tracing::warn!(error = %e, "cannot journal a provider job; a restart would submit it again");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot serialise a job handle"),
            }
            handle
        };

        // From here on, a cancel (ours, or the engine dropping this future after a cancel)
        // stops the job at the provider. A drop without a cancel is a crash or a shutdown: the
        // journal stays and the next run resumes.
        let mut guard = CancelGuard {
            providers: self.providers.clone(),
            handle: Some(handle.clone()),
            cancel: ctx.cancel.clone(),
            journal: ctx.journal.clone(),
        };
        let (deadline, budget) = deadline(&job, &handle, started);
        let finished = tokio::select! {
            () = ctx.cancel.cancelled() => return Err(ExecError::Cancelled),
            () = tokio::time::sleep_until(deadline) => {
                // The kind's time is up: stop paying for the job and forget it, rather than let
                // the engine drop this future and leave the job running and journaled.
                guard.disarm();
                release(self.providers.clone(), handle, ctx.journal.clone());
                return Err(ExecError::Timeout(budget.as_secs()));
            }
            r = self.finish(&handle, &config, &ctx) => r,
        };
        match finished {
            Ok(outputs) => {
                guard.disarm();
                ctx.journal.clear();
                Ok(JobOutput {
                    outputs,
                    meta: TakeMeta {
                        provider: slug(provider).to_owned(),
                        model: target_id(&config.target),
                        unused: unused(&config, &job.kind),
                        ..TakeMeta::default()
                    },
                })
            }
            Err(e) => {
                guard.disarm();
                if job_may_live(&e) {
                    tracing::info!(%provider, error = %e, "provider job kept in the journal to resume");
                } else {
                    ctx.journal.clear();
                }
                Err(exec_error(&e))
            }
        }
    }

    /// Submits, trying again only when the client says the provider provably did not get it.
    async fn submit(&self, request: &JobRequest, ctx: &JobContext) -> Result<JobHandle, ExecError> {
        let mut attempt = 0;
        loop {
            match self.providers.submit(request).await {
                Ok(h) => return Ok(h),
                Err(e) if e.is_retryable() && attempt < EXTRA_ATTEMPTS => {
                    attempt += 1;
                    retry_pause(ctx, attempt, &e).await;
                }
                Err(e) => return Err(exec_error(&e)),
            }
        }
    }

    /// Waits for the job and downloads its outputs into the cache.
    async fn finish(
        &self,
        handle: &JobHandle,
        config: &KindConfig,
        ctx: &JobContext,
    ) -> Result<Vec<CachedOutput>, ProviderError> {
        let mut attempt = 0;
        let outputs = loop {
            let progress = |state: &JobState| report(ctx, state);
            let mut progress = progress;
            match self.providers.wait(handle, &mut progress).await {
                Ok(o) => break o,
                Err(e) if job_may_live(&e) && attempt < EXTRA_ATTEMPTS => {
                    attempt += 1;
                    retry_pause(ctx, attempt, &e).await;
                }
                Err(e) => return Err(e),
            }
        };
        if outputs.is_empty() {
            return Err(ProviderError::Provider {
                provider: handle.provider,
                status: None,
                message: "the job finished without any output".into(),
            });
        }
        let count = outputs.len();
        let mut stored = Vec::with_capacity(count);
        for (i, output) in outputs.iter().enumerate() {
            ctx.progress(
                Some(1.0),
                if count > 1 {
                    format!("downloading {}/{count}", i + 1)
                } else {
                    "downloading".to_owned()
                },
            );
            stored.push(self.download(output, config, ctx, i).await?);
        }
        Ok(stored)
    }

    async fn download(
        &self,
        output: &Output,
        config: &KindConfig,
        ctx: &JobContext,
        index: usize,
    ) -> Result<CachedOutput, ProviderError> {
        let limits = DownloadLimits {
            max_bytes: self.max_output_bytes,
            expected: config.output,
        };
        let sink_err = |e: aktion_cache::CacheError| {
            ProviderError::Sink(std::io::Error::other(format!("the cache: {e:#}")))
        };
        let mut attempt = 0;
        loop {
            let mut writer = ctx
                .cache
                .writer(Some(self.max_output_bytes))
                .map_err(sink_err)?;
            match self.providers.download(output, limits, &mut writer).await {
                Ok(got) => {
                    let hash = writer.finish().map_err(sink_err)?;
                    let name = output
                        .file_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| format!("output-{index}"));
                    return Ok(CachedOutput {
                        hash,
                        mime: got.content_type,
                        name,
                        bytes: got.bytes,
                    });
                }
                Err(e) if e.is_retryable() && attempt < EXTRA_ATTEMPTS => {
                    attempt += 1;
                    retry_pause(ctx, attempt, &e).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Executor for ProviderExecutor {
    fn version(&self, kind: &KindSchema) -> String {
        match self.kind_config(&kind.id) {
            Some(config) => {
                // The service's address is part of what computes the result (a fake, a proxy,
                // another region): hashed in, never written out (it may carry credentials).
                let base = &self
                    .providers
                    .config()
                    .endpoint(config.target.provider())
                    .base_url;
                format!(
                    "{}:{}:{}",
                    slug(config.target.provider()),
                    target_id(&config.target),
                    config_digest(config, base)
                )
            }
            None => format!("{}-unconfigured", self.route),
        }
    }

    fn time_limit(&self, kind: &KindSchema) -> std::time::Duration {
        self.kind_config(&kind.id).map_or_else(
            || crate::executor::catalog_limit(kind),
            |c| std::time::Duration::from_secs(c.timeout_secs.max(1)),
        )
    }

    fn limit(&self, kind: &KindSchema) -> (String, usize) {
        let Some(provider) = self.kind_config(&kind.id).map(|c| c.target.provider()) else {
            return (format!("{}:unconfigured", self.route), 1);
        };
        let default = if provider == ProviderKind::ComfyUi {
            // One GPU: ComfyUI queues prompts itself, one at a time.
            1
        } else {
            DEFAULT_PROVIDER_CONCURRENCY
        };
        let jobs = self.concurrency.get(&provider).copied().unwrap_or(default);
        (format!("{}:{}", self.route, slug(provider)), jobs)
    }

    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>> {
        // Retries deep inside a client (a 429 or 503 answered with Retry-After) show on the
        // node as "retrying (n)", like the executor's own.
        let report = ctx.reporter();
        let observer: aktion_providers::RetryObserver = std::sync::Arc::new(move |n| {
            report(
                None,
                format!("retrying ({}) in {} s", n.attempt, n.delay.as_secs().max(1)),
            );
        });
        Box::pin(aktion_providers::observe_retries(
            observer,
            self.clone().run(job, ctx),
        ))
    }
}

/// Cancels the job at the provider and forgets it when dropped after a cancel.
struct CancelGuard {
    providers: Providers,
    handle: Option<JobHandle>,
    cancel: CancellationToken,
    journal: JournalSlot,
}

impl CancelGuard {
    fn disarm(&mut self) {
        self.handle = None;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        let Some(handle) = self.handle.take() else {
            return;
        };
        if !self.cancel.is_cancelled() {
            return;
        }
        release(self.providers.clone(), handle, self.journal.clone());
    }
}

/// Cancels a job at the provider in the background, then forgets it. When the cancel fails the
/// job stays journaled, and the next run finds out how it ended.
fn release(providers: Providers, handle: JobHandle, journal: JournalSlot) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        match providers.cancel(&handle).await {
            Ok(()) => journal.clear(),
            Err(e) => {
                tracing::warn!(provider = %handle.provider, error = %e, "cancel at the provider failed");
            }
        }
    });
}

/// When this job must give up, and the kind's time budget. The engine times the job out too,
/// from when it started, but by dropping it; ending a little before lets the executor cancel at
/// the provider. A resumed job counts from its submission, so a restart never buys more time.
fn deadline(
    job: &Job,
    handle: &JobHandle,
    started: tokio::time::Instant,
) -> (tokio::time::Instant, std::time::Duration) {
    let budget = job.time_limit;
    let margin = (budget / 10).min(std::time::Duration::from_secs(1));
    let by_engine = started + budget.saturating_sub(margin);
    let since_submit = std::time::Duration::from_secs(
        (crate::now_ms() / 1000).saturating_sub(handle.submitted_at_unix),
    );
    let by_submit = tokio::time::Instant::now() + budget.saturating_sub(since_submit);
    (by_engine.min(by_submit), budget)
}

/// The journaled handle, when it belongs to this kind and provider.
fn resumable(journal: &JournalSlot, kind: &str, provider: ProviderKind) -> Option<JobHandle> {
    let value = journal.resume_handle()?;
    match serde_json::from_value::<JobHandle>(value) {
        Ok(h) if h.kind == kind && h.provider == provider => Some(h),
        // Another route's or an older format's entry: it cannot be polled here.
        _ => {
            journal.clear();
            None
        }
    }
}

/// The kind's parameters and inputs the configured model does not take, by id, each once (a
/// prompt is both an input and a parameter): shown on the take as "not used by this model".
fn unused(config: &KindConfig, kind: &KindSchema) -> Vec<String> {
    let mut names = config.unmapped(kind.params.iter().map(|p| p.id.as_str()));
    let inputs = kind
        .inputs
        .iter()
        .map(|i| (i.id.as_str(), i.ty == PortType::ImageList));
    for name in config.unmapped_inputs(inputs) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The provider request: every parameter as JSON, wired inputs as files (or text), the prompt
/// from the wire or the node's own field.
fn build_request(job: &Job, ctx: &JobContext) -> Result<JobRequest, ExecError> {
    let mut request = JobRequest::new(&job.kind.id);
    for (name, value) in &job.params {
        request
            .inputs
            .insert(name.clone(), InputValue::Json(value.clone()));
    }
    for schema in &job.kind.inputs {
        let mut wired: Vec<_> = job.inputs_named(&schema.id).collect();
        if wired.is_empty() {
            continue;
        }
        wired.sort_by_key(|i| i.slot);
        match schema.ty {
            PortType::Text => {
                let bytes = ctx.read(&wired[0].output.hash)?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                request
                    .inputs
                    .insert(schema.id.clone(), InputValue::Json(Value::String(text)));
            }
            PortType::ImageList => {
                let files = wired
                    .iter()
                    .map(|i| input_file(ctx, &schema.id, i))
                    .collect::<Result<Vec<_>, _>>()?;
                request.insert_list(&schema.id, files);
            }
            _ => {
                let file = input_file(ctx, &schema.id, wired[0])?;
                request.inputs.insert(schema.id.clone(), file);
            }
        }
    }
    request.add_aliases();
    Ok(request)
}

fn input_file(
    ctx: &JobContext,
    input: &str,
    wired: &crate::executor::JobInput,
) -> Result<InputValue, ExecError> {
    let bytes = ctx.read(&wired.output.hash)?;
    let mime = &wired.output.mime;
    let name = if wired.output.name.is_empty() {
        format!("{input}.{}", extension(mime))
    } else {
        wired.output.name.clone()
    };
    Ok(InputValue::File(InputFile::new(bytes, mime, &name)))
}

fn extension(mime: &str) -> &'static str {
    match mime {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        _ => "bin",
    }
}

fn report(ctx: &JobContext, state: &JobState) {
    match state {
        JobState::Submitted => ctx.progress(Some(0.0), "submitted"),
        JobState::Queued {
            position: Some(p), ..
        } => ctx.progress(Some(0.0), format!("queued ({p})")),
        JobState::Queued { position: None } => ctx.progress(Some(0.0), "queued"),
        JobState::Running { fraction } => ctx.progress(*fraction, "running"),
        JobState::Succeeded { .. } => ctx.progress(Some(1.0), "finished"),
        JobState::Failed { .. } | JobState::Cancelled => {}
    }
}

async fn retry_pause(ctx: &JobContext, attempt: u32, error: &ProviderError) {
    tracing::debug!(attempt, error = %error, "retrying");
    ctx.progress(None, format!("retrying ({attempt})"));
    let wait = error
        .retry_after()
        .unwrap_or_else(|| std::time::Duration::from_secs(2u64.pow(attempt)));
    tokio::time::sleep(wait).await;
}

/// Whether the job may still be running at the provider after this error (only the
/// connection failed), so it stays journaled.
fn job_may_live(e: &ProviderError) -> bool {
    matches!(
        e,
        ProviderError::Transport { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::RateLimited { .. }
            | ProviderError::Server { .. }
    )
}

/// The node's error: the provider's message (already free of keys), classified.
fn exec_error(e: &ProviderError) -> ExecError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(message, ": {s}");
        source = s.source();
    }
    match e {
        ProviderError::JobTimeout { after, .. } => ExecError::Timeout(after.as_secs()),
        ProviderError::Transport { .. } | ProviderError::Timeout { .. } => {
            ExecError::Offline(message)
        }
        ProviderError::Config(m) => ExecError::failed(m.clone()),
        _ => ExecError::Failed {
            message,
            retryable: e.is_retryable(),
        },
    }
}

/// The provider's name as the user types it (`replicate`, `runcomfy`, ...).
fn slug(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Replicate => "replicate",
        ProviderKind::RunComfy => "runcomfy",
        ProviderKind::A2e => "a2e",
        ProviderKind::Fal => "fal",
        ProviderKind::ComfyUi => "comfyui",
    }
}

/// Model version, model, deployment, feature or workflow: what the provider runs.
fn target_id(target: &Target) -> String {
    match target {
        Target::Replicate { version, model } => version
            .clone()
            .or_else(|| model.clone())
            .unwrap_or_default(),
        Target::RunComfy { deployment_id } => deployment_id.clone(),
        Target::A2e { feature } => feature.clone(),
        Target::Fal { model_id } => model_id.clone(),
        Target::ComfyUi { .. } => "workflow".to_owned(),
    }
}

/// A short, stable digest of the whole kind configuration (workflow, input mapping, fixed
/// fields), so editing any of it never reuses an old result. FNV-1a over the JSON, whose object
/// keys are sorted.
fn config_digest(config: &KindConfig, base_url: &str) -> String {
    let mut json = serde_json::to_vec(config).unwrap_or_default();
    json.push(0);
    json.extend_from_slice(base_url.trim_end_matches('/').as_bytes());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_address_is_part_of_the_version_but_never_shown() {
        let mk = |base: &str| {
            let mut config = ProvidersConfig::from_lookup(|_| None);
            config.endpoint_mut(ProviderKind::A2e).base_url = base.to_owned();
            ProviderExecutor::direct(config).unwrap()
        };
        let kind = aktion_graph::Catalog::builtin().get("t2i").unwrap();
        let a = mk("https://video.a2e.ai").version(kind);
        let b = mk("http://user:secret@127.0.0.1:9999").version(kind);
        assert_ne!(a, b, "another service never reuses a result");
        assert_eq!(a, mk("https://video.a2e.ai/").version(kind));
        assert!(!b.contains("secret") && !b.contains("127.0.0.1"));
    }

    #[test]
    fn only_connection_failures_keep_a_job_journaled() {
        let p = ProviderKind::Replicate;
        assert!(job_may_live(&ProviderError::Transport {
            provider: p,
            message: "reset".into()
        }));
        assert!(!job_may_live(&ProviderError::JobFailed {
            provider: p,
            reason: "worker died".into(),
            retryable: true
        }));
        assert!(!job_may_live(&ProviderError::Cancelled { provider: p }));
    }

    #[test]
    fn errors_keep_the_providers_message() {
        let e = exec_error(&ProviderError::JobFailed {
            provider: ProviderKind::RunComfy,
            reason: "CUDA out of memory".into(),
            retryable: false,
        });
        assert_eq!(e.to_string(), "RunComfy: job failed: CUDA out of memory");
        assert!(matches!(
            exec_error(&ProviderError::Transport {
                provider: ProviderKind::A2e,
                message: "down".into()
            }),
            ExecError::Offline(_)
        ));
    }

    #[test]
    fn versions_name_provider_and_model_and_change_with_the_config() {
        let config = ProvidersConfig::from_lookup(|_| None);
        let exec = ProviderExecutor::direct(config.clone()).expect("builds");
        let catalog = aktion_graph::Catalog::builtin();
        let kind = catalog.get("sketch_to_image").expect("kind");
        let v1 = exec.version(kind);
        assert!(
            v1.starts_with(&format!(
                "replicate:{}:",
                aktion_providers::config::SCRIBBLE_VERSION
            )),
            "{v1}"
        );
        let mut changed = config;
        if let Some(k) = changed.kinds.get_mut("sketch_to_image") {
            k.target = Target::Replicate {
                version: Some("v2".into()),
                model: None,
            };
        }
        let v2 = ProviderExecutor::direct(changed)
            .expect("builds")
            .version(kind);
        assert!(v2.starts_with("replicate:v2:"), "{v2}");
        assert_eq!(
            exec.limit(kind),
            ("direct:replicate".to_owned(), DEFAULT_PROVIDER_CONCURRENCY)
        );
    }

    #[test]
    fn the_comfyui_route_keeps_only_workflows() {
        let mut config = ProvidersConfig::from_lookup(|_| None);
        config.kinds.insert(
            "comfyui:t2i".into(),
            KindConfig {
                target: Target::ComfyUi {
                    workflow: serde_json::json!({}),
                },
                inputs: Vec::new(),
                fixed: Value::Null,
                output: aktion_providers::MediaKind::Image,
                timeout_secs: 60,
            },
        );
        let exec = ProviderExecutor::comfyui(config).expect("builds");
        let kinds: Vec<&String> = exec.providers().config().kinds.keys().collect();
        // The shipped workflows, none of the hosted targets; a configured one replaces its own.
        let shipped = aktion_providers::default_comfyui_kinds();
        assert_eq!(kinds, shipped.keys().collect::<Vec<_>>());
        assert_eq!(
            exec.kind_config("t2i").map(|k| k.timeout_secs),
            Some(60),
            "the configured workflow wins over the shipped one"
        );
        let catalog = aktion_graph::Catalog::builtin();
        let t2i = catalog.get("t2i").expect("kind");
        assert_eq!(exec.limit(t2i), ("comfyui:comfyui".to_owned(), 1));
    }
}
