//! Public URLs for local inputs, for providers that take inputs only as URLs (A2E, PROVIDERS.md
//! §3.1: "All inputs are URLs"). A file is put where the user chose, in this order:
//!
//! 1. A2E's presigned upload (`POST /api/v1/r2/upload-presigned-url`), only when the user turned
//!    it on: PROVIDERS.md marks it [C] (seen in public code, not in A2E's documentation).
//! 2. An S3-compatible bucket the user configured: the file is written with the bucket's
//!    credentials and handed over as a presigned GET URL (through `object_store`), valid for an
//!    hour by default.
//! 3. fal's documented storage (PROVIDERS.md §4.5, fal-js `storage.ts`), by itself when a fal key
//!    is set and no bucket is configured.
//!
//! With none of these the node fails before anything is submitted, with a message that says
//! what to set up. A file never goes to a host the user did not choose.

use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStoreExt as _;
use object_store::signer::{Method, Signer as _};

use crate::ProviderKind;
use crate::client::Providers;
use crate::error::{ProviderError, Result};
use crate::request::InputFile;
use crate::secret::ApiKey;

/// The variable naming the input bucket: `s3://bucket[/prefix]`.
pub const INPUT_BUCKET_ENV: &str = "AKTION_INPUT_BUCKET";
/// The bucket's S3 endpoint for S3-compatible services (`MinIO`, R2, B2...); AWS when unset.
pub const INPUT_BUCKET_ENDPOINT_ENV: &str = "AKTION_INPUT_BUCKET_ENDPOINT";
/// Turns on A2E's presigned upload ([C] in PROVIDERS.md) when `1`, `true` or `yes`.
pub const A2E_PRESIGNED_UPLOAD_ENV: &str = "AKTION_A2E_PRESIGNED_UPLOAD";

/// What the user told us about hosting inputs.
#[derive(Debug, Clone, Default)]
pub struct InputHostConfig {
    /// Try A2E's own presigned upload ([C]); off unless the user turns it on.
    pub a2e_presigned_upload: bool,
    pub bucket: Option<BucketConfig>,
}

/// An S3-compatible bucket with presigned GET URLs.
#[derive(Clone)]
pub struct BucketConfig {
    /// `s3://bucket[/prefix]`.
    pub url: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<ApiKey>,
    /// How long a presigned URL works.
    pub url_ttl: Duration,
}

impl std::fmt::Debug for BucketConfig {
    // The secret stays out of logs; the rest helps when a bucket is refused.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "set"))
            .field("url_ttl", &self.url_ttl)
            .finish_non_exhaustive()
    }
}

impl BucketConfig {
    /// `(bucket, prefix)` of `s3://bucket[/prefix]`.
    pub fn parse_url(url: &str) -> Option<(String, String)> {
        let rest = url.trim().strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = !bucket.is_empty()
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        valid.then(|| (bucket.to_owned(), prefix.trim_matches('/').to_owned()))
    }
}

/// Where a provider's inputs go, as chosen from the configuration.
#[derive(Debug, Clone)]
pub(crate) enum InputHost {
    A2ePresigned,
    Bucket(Arc<Bucket>),
    FalStorage,
}

/// A built bucket client.
#[derive(Debug)]
pub(crate) struct Bucket {
    store: object_store::aws::AmazonS3,
    prefix: String,
    ttl: Duration,
}

impl Bucket {
    pub(crate) fn new(config: &BucketConfig) -> std::result::Result<Self, String> {
        let Some((bucket, prefix)) = BucketConfig::parse_url(&config.url) else {
            return Err(format!(
                "the input bucket {:?} is not an address like s3://bucket/prefix",
                config.url
            ));
        };
        let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) else {
            return Err(
                "the input bucket needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Settings → Providers → Input hosting)"
                    .into(),
            );
        };
        let mut builder = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(config.region.clone())
            .with_access_key_id(id.clone())
            .with_secret_access_key(secret.expose().to_owned());
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| format!("the input bucket cannot be used: {e}"))?;
        Ok(Self {
            store,
            prefix,
            ttl: config.url_ttl,
        })
    }

    /// Writes the file under a content-addressed name and returns a presigned GET URL.
    async fn host(&self, file: &InputFile) -> Result<String> {
        let hash = content_hex(&file.bytes);
        let name = sanitize(&file.file_name);
        let key = if self.prefix.is_empty() {
            format!("aktion-inputs/{hash}/{name}")
        } else {
            format!("{}/aktion-inputs/{hash}/{name}", self.prefix)
        };
        let path = object_store::path::Path::from(key);
        let failed = |what: &str, e: &dyn std::fmt::Display| ProviderError::Hosting {
            message: format!("the input bucket: {what}: {e}"),
        };
        self.store
            .put(&path, object_store::PutPayload::from(file.bytes.to_vec()))
            .await
            .map_err(|e| failed("cannot write the input", &e))?;
        let url = self
            .store
            .signed_url(Method::GET, &path, self.ttl)
            .await
            .map_err(|e| failed("cannot sign its URL", &e))?;
        Ok(url.to_string())
    }
}

/// The content hash for object names, blake3 as everywhere else in the project: the same file
/// is written once, two different files never share a name, and the name tells nothing about
/// the user.
fn content_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// A file name safe in an object key and a URL.
fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if clean.trim_matches(['.', '_']).is_empty() {
        "input".to_owned()
    } else {
        clean
    }
}

/// What to tell the user when a URL-only provider has nowhere to put a local input.
pub fn no_host_message(provider: ProviderKind) -> String {
    format!(
        "{provider} takes inputs only as public URLs, and no place to host this node's files is set up. \
         Set up one of: an S3-compatible bucket (Settings → Providers → Input hosting, or {INPUT_BUCKET_ENV}=s3://bucket/prefix \
         with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or a fal key (FAL_KEY: fal's storage hosts the files); \
         or run this node on the account route, where the server signs the URLs. Nothing was sent."
    )
}

impl Providers {
    /// The host for `provider`'s inputs, in the documented order; `None` when there is none.
    /// A bucket that is configured but unusable (no credentials, a bad address) is an error,
    /// never a reason to fall back to another host.
    pub(crate) fn input_host(&self, provider: ProviderKind) -> Result<Option<InputHost>> {
        if provider == ProviderKind::A2e && self.config.input_host.a2e_presigned_upload {
            return Ok(Some(InputHost::A2ePresigned));
        }
        match &self.bucket {
            Some(Ok(bucket)) => return Ok(Some(InputHost::Bucket(Arc::clone(bucket)))),
            Some(Err(why)) => return Err(ProviderError::Config(why.clone())),
            None => {}
        }
        if self.key(ProviderKind::Fal).is_some() {
            return Ok(Some(InputHost::FalStorage));
        }
        Ok(None)
    }

    /// Puts `file` on `host` and returns the URL the provider will fetch.
    pub(crate) async fn host_input(&self, host: &InputHost, file: InputFile) -> Result<String> {
        let limits = self.config.uploads;
        if file.bytes.len() > limits.upload_max {
            return Err(ProviderError::TooLarge {
                provider: ProviderKind::A2e,
                what: "input file",
                limit: limits.upload_max as u64,
            });
        }
        match host {
            InputHost::A2ePresigned => crate::a2e::presigned_upload(self, file).await,
            InputHost::Bucket(bucket) => bucket.host(&file).await,
            InputHost::FalStorage => crate::fal::upload(self, file).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_urls_parse_and_bad_ones_are_refused() {
        assert_eq!(
            BucketConfig::parse_url("s3://studio-inputs/aktion/"),
            Some(("studio-inputs".into(), "aktion".into()))
        );
        assert_eq!(
            BucketConfig::parse_url("s3://b"),
            Some(("b".into(), String::new()))
        );
        for bad in ["", "s3://", "https://b/x", "s3://Upper/x", "s3://a b"] {
            assert_eq!(BucketConfig::parse_url(bad), None, "{bad}");
        }
    }

    #[test]
    fn object_names_are_safe_and_secrets_stay_out_of_debug() {
        assert_eq!(sanitize("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize("été.png"), "_t_.png");
        assert_eq!(sanitize("..."), "input");
        let config = BucketConfig {
            url: "s3://b".into(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: Some("AKID".into()),
            secret_access_key: Some(ApiKey::new("very-secret")),
            url_ttl: Duration::from_secs(60),
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("very-secret") && !shown.contains("AKID"),
            "{shown}"
        );
        assert_ne!(content_hex(b"a"), content_hex(b"b"));
    }
}
