//! HTTP clients for the hosted AI providers Aktion Studio runs nodes on (Replicate, RunComfy,
//! A2E, fal) and for a user's own ComfyUI server, behind one job model.
//!
//! The engine calls [`Providers::submit`], journals the returned [`JobHandle`], then
//! [`Providers::wait`] / [`Providers::poll`] and streams each [`Output`] into its cache with
//! [`Providers::download`]. After a restart it polls the journaled handle again; nothing is
//! submitted twice. Retries honour `Retry-After`, and a submit is only repeated when the provider
//! provably did not receive it.
//!
//! This crate is shared by the desktop app and the account server, so it must never depend on
//! egui, sqlx, axum or `aktion_graph`. TLS is rustls with the `ring` provider (no OpenSSL).

mod a2e;
mod check;
mod client;
mod comfyui;
pub mod config;
mod download;
mod error;
mod fal;
mod guard;
pub mod hosting;
mod http;
mod job;
mod replicate;
mod request;
mod retry;
pub mod runcomfy;
mod secret;

pub use check::{ConnectionCheck, key_variable};
pub use client::Providers;
pub use config::{
    CONFIG_FILE_ENV, ConfigFile, Encode, Endpoint, FieldMap, KEY_VARIABLES, KindConfig,
    ProvidersConfig, Target, UploadLimits, base_url_var, default_comfyui_kinds,
};
pub use download::{DownloadLimits, Downloaded};
pub use error::{ProviderError, Result};
pub use guard::TrustedHosts;
pub use http::{HttpSettings, RetryPolicy, build_client, parse_retry_after};
pub use job::{JobHandle, JobState, MediaKind, Output, ProviderKind};
pub use request::{INPUT_ALIASES, InputFile, InputValue, JobRequest};
pub use retry::{RetryNotice, RetryObserver, observe_retries};
pub use secret::ApiKey;
