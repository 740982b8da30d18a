use std::fmt;

use serde::{Deserialize, Serialize};

/// The hosted (or local) services this crate talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Replicate,
    #[serde(rename = "runcomfy")]
    RunComfy,
    A2e,
    Fal,
    #[serde(rename = "comfyui")]
    ComfyUi,
}

impl ProviderKind {
    /// Every provider, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Replicate,
        Self::RunComfy,
        Self::A2e,
        Self::Fal,
        Self::ComfyUi,
    ];
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Replicate => "Replicate",
            Self::RunComfy => "RunComfy",
            Self::A2e => "A2E",
            Self::Fal => "fal",
            Self::ComfyUi => "ComfyUI",
        })
    }
}

/// What a node expects an output to be; used to check downloaded content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

impl MediaKind {
    pub(crate) fn mime_prefix(self) -> &'static str {
        match self {
            Self::Image => "image/",
            Self::Video => "video/",
            Self::Audio => "audio/",
        }
    }
}

/// One generated file at the provider, ready to be downloaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub provider: ProviderKind,
    /// Absolute URL to GET. For ComfyUI this is a `/view?...` URL on the user's server.
    pub url: String,
    /// The content type the provider announced in its JSON, if any (the HTTP header is checked
    /// again on download).
    pub content_type: Option<String>,
    pub file_name: Option<String>,
}

/// The one job model for all providers. Provider statuses map onto it in each client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobState {
    /// Accepted by the provider, nothing more known yet.
    Submitted,
    /// Waiting for a worker; `position` 0 means next, when the provider reports it.
    Queued {
        position: Option<u32>,
    },
    /// Running; `fraction` in 0.0..=1.0 when the provider reports progress.
    Running {
        fraction: Option<f32>,
    },
    Succeeded {
        outputs: Vec<Output>,
    },
    /// `retryable` says whether submitting the same job again may succeed (e.g. a worker crash
    /// or expired outputs) as opposed to an error in the inputs.
    Failed {
        reason: String,
        retryable: bool,
    },
    Cancelled,
}

impl JobState {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Succeeded { .. } | Self::Failed { .. } | Self::Cancelled
        )
    }
}

/// Everything needed to poll, cancel and collect a job again after a restart. The engine
/// journals it right after `submit` returns. It holds no secrets: keys come from configuration
/// at poll time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobHandle {
    pub provider: ProviderKind,
    /// Node kind id (`t2i`, `coherent_scene`, ...), to find the per-kind timeout again.
    pub kind: String,
    /// The provider's job id (`id`, `request_id`, `_id` or `prompt_id`).
    pub job_id: String,
    /// Where to ask for the status.
    pub status_url: String,
    /// Where the outputs are, when the provider separates them from the status.
    pub result_url: Option<String>,
    pub cancel_url: Option<String>,
    /// Seconds since the Unix epoch when the provider accepted the job; drives the overall
    /// per-kind timeout across restarts.
    pub submitted_at_unix: u64,
}

/// Parses the last tqdm progress line of a log, the convention Replicate's official clients use
/// (`76%|███     | 7568/10000 [00:33<00:10]`). Returns current/total as a fraction.
pub(crate) fn tqdm_fraction(logs: &str) -> Option<f32> {
    logs.lines().rev().find_map(|line| {
        // tqdm redraws with carriage returns; only the last segment of a line is current.
        let line = line.rsplit('\r').next().unwrap_or(line).trim();
        let (percent, rest) = line.split_once('%')?;
        percent.trim().parse::<u32>().ok()?;
        let rest = rest.trim_start().strip_prefix('|')?;
        let (_, after_bar) = rest.split_once('|')?;
        let counts = after_bar.split_whitespace().next()?;
        let (cur, total) = counts.split_once('/')?;
        let cur: f32 = cur.parse().ok()?;
        let total: f32 = total.parse().ok()?;
        (total > 0.0).then(|| (cur / total).clamp(0.0, 1.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tqdm_last_line_wins() {
        let logs = "loading\n 10%|█         | 1/10 [00:01<00:09]\n 76%|███████▋  | 7568/10000 [00:33<00:10, 229.00it/s]\n";
        let f = tqdm_fraction(logs).unwrap();
        assert!((f - 0.7568).abs() < 1e-4);
        assert_eq!(tqdm_fraction("no progress here"), None);
        assert_eq!(tqdm_fraction("50%|bar| x/y"), None);
    }

    #[test]
    fn handle_roundtrips_through_json() {
        let h = JobHandle {
            provider: ProviderKind::Fal,
            kind: "i2v".into(),
            job_id: "r1".into(),
            status_url: "http://x/status".into(),
            result_url: Some("http://x".into()),
            cancel_url: None,
            submitted_at_unix: 5,
        };
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<JobHandle>(&json).unwrap(), h);
    }
}
