//! `Providers`: the single entry point an engine executor uses. It dispatches on the provider
//! of a node kind (for submit) or of a journaled `JobHandle` (for everything else).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::RequestBuilder;

use crate::config::{Endpoint, KindConfig, ProvidersConfig};
use crate::download::{DownloadLimits, Downloaded, stream_to};
use crate::error::{ProviderError, Result};
use crate::hosting::Bucket;
use crate::http::{Http, Repeat};
use crate::request::JobRequest;
use crate::secret::ApiKey;
use crate::{JobHandle, JobState, Output, ProviderKind, a2e, comfyui, fal, replicate, runcomfy};

/// Provider clients sharing one HTTP client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Providers {
    pub(crate) http: Http,
    pub(crate) config: std::sync::Arc<ProvidersConfig>,
    /// The input bucket, when one is configured (or why it cannot be used: that fails only
    /// the nodes that need it).
    pub(crate) bucket: Option<std::result::Result<std::sync::Arc<Bucket>, String>>,
}

impl Providers {
    pub fn new(config: ProvidersConfig) -> Result<Self> {
        let bucket = config
            .input_host
            .bucket
            .as_ref()
            .map(|b| Bucket::new(b).map(std::sync::Arc::new));
        Ok(Self {
            http: Http::new(config.http.clone(), config.trusted_hosts())?,
            config: std::sync::Arc::new(config),
            bucket,
        })
    }

    /// Configuration from the environment (see `ProvidersConfig::from_lookup`).
    pub fn from_env() -> Result<Self> {
        Self::new(ProvidersConfig::from_env())
    }

    pub fn config(&self) -> &ProvidersConfig {
        &self.config
    }

    pub(crate) fn kind(&self, kind: &str) -> Result<&KindConfig> {
        self.config.kinds.get(kind).ok_or_else(|| {
            ProviderError::Config(format!("no provider configured for node kind {kind:?}"))
        })
    }

    pub(crate) fn endpoint(&self, provider: ProviderKind) -> &Endpoint {
        self.config.endpoint(provider)
    }

    pub(crate) fn key(&self, provider: ProviderKind) -> Option<&ApiKey> {
        self.endpoint(provider).key.as_ref()
    }

    /// Adds the provider's auth header. ComfyUI has none unless a key was configured for a proxy.
    pub(crate) fn auth(&self, provider: ProviderKind, rb: RequestBuilder) -> RequestBuilder {
        match (provider, self.key(provider)) {
            (ProviderKind::Fal, Some(k)) => {
                match reqwest::header::HeaderValue::from_str(&format!("Key {}", k.expose())) {
                    // Sensitive values are left out of reqwest's and hyper's debug output, as
                    // `bearer_auth` does for the other providers.
                    Ok(mut value) => {
                        value.set_sensitive(true);
                        rb.header(reqwest::header::AUTHORIZATION, value)
                    }
                    // A key with control characters cannot be sent; the provider answers 401.
                    Err(_) => rb,
                }
            }
            (_, Some(k)) => rb.bearer_auth(k.expose()),
            (_, None) => rb,
        }
    }

    pub(crate) fn require_key(&self, provider: ProviderKind) -> Result<()> {
        if provider != ProviderKind::ComfyUi && self.key(provider).is_none() {
            return Err(ProviderError::Config(format!(
                "no API key configured for {provider}"
            )));
        }
        Ok(())
    }

    /// Sends with auth and the retry policy; see `Http::send`.
    pub(crate) async fn send(
        &self,
        provider: ProviderKind,
        repeat: Repeat,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<reqwest::Response> {
        self.http
            .send(provider, self.key(provider), repeat, || {
                self.auth(provider, build(&self.http.client))
                    .timeout(self.http.settings.request_timeout)
            })
            .await
    }

    pub(crate) async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        provider: ProviderKind,
        repeat: Repeat,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<T> {
        let resp = self.send(provider, repeat, build).await?;
        match crate::http::read_json(provider, resp).await {
            // The provider accepted the submit but we lost its answer (and so the job id): a
            // retry by the caller would start a second job.
            Err(e) if matches!(repeat, Repeat::Submit { .. }) && e.is_retryable() => {
                Err(ProviderError::SubmitOutcomeUnknown {
                    provider,
                    message: e.to_string(),
                })
            }
            other => other,
        }
    }

    /// Submits a job for `request.kind`. The submit itself is retried only when the provider
    /// provably did not receive it, so a returned error never hides a second paid job.
    pub async fn submit(&self, request: &JobRequest) -> Result<JobHandle> {
        let kind = self.kind(&request.kind)?;
        let provider = kind.target.provider();
        self.require_key(provider)?;
        match provider {
            ProviderKind::Replicate => replicate::submit(self, kind, request).await,
            ProviderKind::RunComfy => runcomfy::submit(self, kind, request).await,
            ProviderKind::A2e => a2e::submit(self, kind, request).await,
            ProviderKind::Fal => fal::submit(self, kind, request).await,
            ProviderKind::ComfyUi => comfyui::submit(self, kind, request).await,
        }
    }

    /// Asks the provider once for the job's state (with retries on transient errors).
    pub async fn poll(&self, handle: &JobHandle) -> Result<JobState> {
        match handle.provider {
            ProviderKind::Replicate => replicate::poll(self, handle).await,
            ProviderKind::RunComfy => runcomfy::poll(self, handle).await,
            ProviderKind::A2e => a2e::poll(self, handle).await,
            ProviderKind::Fal => fal::poll(self, handle).await,
            ProviderKind::ComfyUi => comfyui::poll(self, handle).await,
        }
    }

    /// Asks the provider to stop the job. Succeeds when the job is cancelled or was already over.
    pub async fn cancel(&self, handle: &JobHandle) -> Result<()> {
        match handle.provider {
            ProviderKind::Replicate => replicate::cancel(self, handle).await,
            ProviderKind::RunComfy => runcomfy::cancel(self, handle).await,
            ProviderKind::A2e => a2e::cancel(self, handle).await,
            ProviderKind::Fal => fal::cancel(self, handle).await,
            ProviderKind::ComfyUi => comfyui::cancel(self, handle).await,
        }
    }

    /// Polls until the job ends, reporting each state change to `on_state`, within the node
    /// kind's overall timeout counted from `handle.submitted_at_unix` (so a resumed job does not
    /// get a fresh budget). On timeout the job is cancelled at the provider, best effort.
    pub async fn wait(
        &self,
        handle: &JobHandle,
        on_state: &mut (dyn FnMut(&JobState) + Send),
    ) -> Result<Vec<Output>> {
        let budget = self.kind(&handle.kind)?.timeout();
        let elapsed = Duration::from_secs(unix_now().saturating_sub(handle.submitted_at_unix));
        let deadline = tokio::time::Instant::now() + budget.saturating_sub(elapsed);
        let provider = handle.provider;
        let mut reporter = Reporter {
            last: None,
            on_state,
        };
        let end = match provider {
            // ComfyUI pushes progress over its websocket; HTTP polling is the fallback.
            ProviderKind::ComfyUi => comfyui::watch(self, handle, deadline, &mut reporter).await?,
            _ => self.poll_until(handle, deadline, &mut reporter).await?,
        };
        match end {
            Some(JobState::Succeeded { outputs }) => Ok(outputs),
            Some(JobState::Failed { reason, retryable }) => Err(ProviderError::JobFailed {
                provider,
                reason,
                retryable,
            }),
            Some(JobState::Cancelled) => Err(ProviderError::Cancelled { provider }),
            _ => {
                if let Err(e) = self.cancel(handle).await {
                    tracing::warn!(%provider, error = %e, "cancel after timeout failed");
                }
                Err(ProviderError::JobTimeout {
                    provider,
                    after: budget,
                })
            }
        }
    }

    /// Polls every `poll_interval` until the job ends (`Some(terminal state)`) or `deadline`
    /// passes (`None`).
    pub(crate) async fn poll_until(
        &self,
        handle: &JobHandle,
        deadline: tokio::time::Instant,
        reporter: &mut Reporter<'_>,
    ) -> Result<Option<JobState>> {
        let interval = self.endpoint(handle.provider).poll_interval;
        loop {
            match tokio::time::timeout_at(deadline, self.poll(handle)).await {
                Err(_elapsed) => return Ok(None),
                Ok(Ok(state)) => {
                    reporter.report(&state);
                    if state.is_terminal() {
                        return Ok(Some(state));
                    }
                }
                // The retry loop already waited; keep polling until the deadline rather than
                // fail a 15-minute job over a flaky minute.
                Ok(Err(e)) if e.is_retryable() => {
                    tracing::warn!(provider = %handle.provider, error = %e, "poll failed, will poll again");
                }
                Ok(Err(e)) => return Err(e),
            }
            if tokio::time::Instant::now() + interval >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Streams one output into `sink` (the engine's cache writer), checking size and type.
    pub async fn download(
        &self,
        output: &Output,
        limits: DownloadLimits,
        sink: &mut (dyn std::io::Write + Send),
    ) -> Result<Downloaded> {
        self.download_with(output, limits, &mut |chunk| sink.write_all(chunk))
            .await
    }

    /// Like [`Self::download`], with a callback per chunk.
    pub async fn download_with(
        &self,
        output: &Output,
        limits: DownloadLimits,
        on_chunk: &mut (dyn FnMut(&[u8]) -> std::io::Result<()> + Send),
    ) -> Result<Downloaded> {
        let provider = output.provider;
        let base_url = &self.endpoint(provider).base_url;
        if let Err(why) = output_url_allowed(base_url, &output.url) {
            return Err(ProviderError::Decode {
                provider,
                message: format!("refused to fetch the output URL it returned: {why}"),
            });
        }
        let send_key = key_allowed_for(provider, base_url, &output.url);
        let key = self.key(provider);
        let resp = self
            .http
            .send(provider, key, Repeat::Idempotent, || {
                let rb = self.http.client.get(&output.url);
                if send_key { self.auth(provider, rb) } else { rb }
            })
            .await
            .map_err(|e| match e {
                ProviderError::Gone { provider: ProviderKind::Replicate, .. } => ProviderError::Gone {
                    provider,
                    message: "output no longer exists (Replicate deletes API outputs after an hour); run the node again".into(),
                },
                other => other,
            })?;
        stream_to(provider, resp, limits, on_chunk).await
    }
}

/// Output URLs come from provider responses, so they are checked before anything is fetched:
/// the configured API's own origin (a local ComfyUI, a test server), or `https://` to a public
/// host — never plain `http://` elsewhere, never a loopback, private, link-local or otherwise
/// internal address (a provider's answer must not make this machine or the server reach into
/// its own network).
pub fn output_url_allowed(base_url: &str, url: &str) -> std::result::Result<(), String> {
    let target = reqwest::Url::parse(url).map_err(|e| format!("not a URL ({e})"))?;
    if reqwest::Url::parse(base_url).is_ok_and(|base| base.origin() == target.origin()) {
        return Ok(());
    }
    crate::guard::public_https(&target)
}

/// Output URLs come from provider responses; the key is only sent to the configured API
/// origin, and for Replicate to its delivery CDN, which requires it.
fn key_allowed_for(provider: ProviderKind, base_url: &str, url: &str) -> bool {
    let Ok(target) = reqwest::Url::parse(url) else {
        return false;
    };
    let Ok(base) = reqwest::Url::parse(base_url) else {
        return false;
    };
    if target.origin() == base.origin() {
        return true;
    }
    provider == ProviderKind::Replicate
        && target.scheme() == "https"
        && target
            .host_str()
            .is_some_and(|h| h == "replicate.delivery" || h.ends_with(".replicate.delivery"))
}

pub(crate) fn new_handle(
    provider: ProviderKind,
    request: &JobRequest,
    job_id: String,
    status_url: String,
    result_url: Option<String>,
    cancel_url: Option<String>,
) -> JobHandle {
    JobHandle {
        provider,
        kind: request.kind.clone(),
        job_id,
        status_url,
        result_url,
        cancel_url,
        submitted_at_unix: unix_now(),
    }
}

/// Forwards state changes (not repeats) to the caller's callback.
pub(crate) struct Reporter<'a> {
    last: Option<JobState>,
    on_state: &'a mut (dyn FnMut(&JobState) + Send),
}

impl Reporter<'_> {
    pub(crate) fn report(&mut self, state: &JobState) {
        if self.last.as_ref() != Some(state) {
            (self.on_state)(state);
            self.last = Some(state.clone());
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Percent-encodes one path segment (job ids come from providers; never trust them raw in a URL).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':') {
            out.push(char::from(b));
        } else {
            // Writing into a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Guesses a content type from a file name, for outputs whose JSON names no type.
pub(crate) fn content_type_for(name: &str) -> Option<String> {
    let ext = name.rsplit('.').next()?.to_ascii_lowercase();
    Some(
        match ext.as_str() {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "webp" => "image/webp",
            "gif" => "image/gif",
            "mp4" => "video/mp4",
            "webm" => "video/webm",
            "mov" => "video/quicktime",
            "mp3" => "audio/mpeg",
            "wav" => "audio/wav",
            _ => return None,
        }
        .to_owned(),
    )
}

#[cfg(test)]
mod output_url_tests {
    use super::output_url_allowed;

    #[test]
    fn output_urls_must_be_public_https_or_the_apis_own_origin() {
        let base = "http://127.0.0.1:8188";
        for ok in [
            "http://127.0.0.1:8188/view?filename=a.png",
            "https://replicate.delivery/x/out.png",
            "https://v3.fal.media/files/out.mp4",
            "https://8.8.8.8/out.png",
        ] {
            assert!(output_url_allowed(base, ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://cdn.example.com/out.png",
            "https://127.0.0.1/out.png",
            "https://10.1.2.3/out.png",
            "https://192.168.0.7/out.png",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[::ffff:10.0.0.1]/x",
            "https://localhost/x",
            "https://metadata.google.internal/x",
            "https://intranet/x",
            "http://127.0.0.1:9999/other-port",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(output_url_allowed(base, refused).is_err(), "{refused}");
        }
    }
}
