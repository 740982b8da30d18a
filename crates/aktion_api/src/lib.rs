//! Wire types of the Aktion account API (`/v1/…`), shared by `aktion-server` and its clients.
//!
//! Plain serde structs only: this crate must not depend on tokio, axum, sqlx, reqwest or egui, so
//! the desktop app and the server can both use it without pulling in each other's stacks.
//! Credits are whole numbers (`i64`); times are Unix milliseconds (`i64`), UTC.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Header carrying the client's idempotency key on state-changing requests.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The one JSON error body of every 4xx/5xx answer: `{code, message, fields?}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `insufficient_credits`, `invalid_json`.
    pub code: String,
    /// Human-readable message; never contains secrets.
    pub message: String,
    /// Per-field validation messages, when the request had invalid fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

/// `POST /v1/auth/register` and `POST /v1/auth/login`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Answer of register and login: a bearer token for `Authorization: Bearer …`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    pub token: String,
    /// Unix milliseconds after which the token is no longer accepted.
    pub expires_at: i64,
    pub user: Me,
}

/// `GET /v1/me`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    /// Spendable credits (grants minus charges minus open reservations).
    pub balance: i64,
    pub is_admin: bool,
    pub data_sharing: DataSharingStatus,
    /// The address was confirmed (the starter grant is paid then).
    #[serde(default = "yes")]
    pub email_verified: bool,
    /// Wants a mail when a job of over a minute finishes.
    #[serde(default)]
    pub generation_mails: bool,
    /// Credits owed from a refunded or disputed payment; new work waits until it is paid.
    #[serde(default)]
    pub debt: i64,
}

fn yes() -> bool {
    true
}

/// Opt-in status of training-data sharing (PRODUCT.md §5.3).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSharingStatus {
    pub opt_in: bool,
    /// Unix milliseconds of the latest opt-in, if opted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_in_at: Option<i64>,
}

/// `PUT /v1/me/data-sharing`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSharingUpdate {
    pub opt_in: bool,
}

/// `POST /v1/auth/logout` answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedOut {
    pub logged_out: bool,
}

/// `GET /v1/pricing`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pricing {
    pub items: Vec<PriceItem>,
    /// Percent off the membership for the caller (10 when opted in to data sharing, else 0).
    /// Node credits are not discounted: the seed's discount is on the membership.
    pub discount_percent: u32,
    /// Why the discount applies (or how to get it).
    pub discount_reason: String,
}

/// Price of one node kind.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceItem {
    /// Node kind id, e.g. `character`, `epic_scene`.
    pub node_kind: String,
    pub label: String,
    /// List price in credits.
    pub credits: i64,
    /// Typical duration as the seed states it, e.g. `~30s`, `10-15min`.
    pub typical_duration: String,
}

/// Kind of a ledger entry (PRODUCT.md §5.2).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Credits added (starter grant, admin grant).
    Grant,
    /// Credits set aside for a job; subtracted from the balance.
    Reserve,
    /// A reservation turned into a charge; the balance does not change again.
    Charge,
    /// A reservation given back; added to the balance.
    Release,
}

/// One ledger entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub kind: LedgerKind,
    /// Change of the spendable balance (negative for reservations, 0 for charges).
    pub delta: i64,
    /// Credits concerned (for a charge: the credits charged).
    pub amount: i64,
    /// Balance after this entry.
    pub balance_after: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<i64>,
    pub reason: String,
    pub created_at: i64,
}

/// `GET /v1/ledger?limit=&before=` (newest first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// Query of `GET /v1/ledger`.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    /// 1–200, default 50.
    #[serde(default)]
    pub limit: Option<u32>,
    /// Only entries with an id below this.
    #[serde(default)]
    pub before: Option<i64>,
}

/// `POST /v1/admin/credits/grant`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub email: String,
    /// Credits to add, ≥ 1.
    pub credits: i64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Answer of a grant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantResponse {
    pub email: String,
    pub balance: i64,
    pub entry_id: i64,
}

/// `GET /healthz`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub database: String,
}

/// `PUT /v1/blobs/{blake3}` answer: the blob is stored and readable by its uploader.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// BLAKE3 of the bytes, 64 lowercase hex digits.
    pub hash: String,
    pub size: i64,
    pub content_type: String,
}

/// One input of a generation: a blob the caller uploaded, or text.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GenerationInput {
    /// The BLAKE3 hash of a blob uploaded with `PUT /v1/blobs/{blake3}`.
    Blob(String),
    Text(String),
}

/// `POST /v1/generations`: run one node kind on the account route.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationRequest {
    /// Node kind id, e.g. `t2i`, `coherent_scene`.
    pub kind: String,
    /// Parameter values by parameter id (prompt, seed, strength, ...).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Wired inputs by input id; list inputs (character references) take several.
    #[serde(default)]
    pub inputs: BTreeMap<String, Vec<GenerationInput>>,
}

/// Where a generation is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationState {
    /// Accepted and paid for (credits reserved); not yet sent to the provider.
    Queued,
    /// Being sent to the provider.
    Submitting,
    /// At the provider.
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl GenerationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Submitting => "submitting",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "submitting" => Self::Submitting,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// One output file of a generation, downloadable by its owner.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationOutput {
    pub hash: String,
    pub content_type: String,
    pub size: i64,
    /// `/v1/blobs/{hash}` (needs the owner's bearer token).
    pub url: String,
}

/// `GET /v1/generations/{id}`, and each event of its SSE stream.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub id: String,
    pub kind: String,
    pub state: GenerationState,
    /// 0.0–1.0 when the provider reports progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f32>,
    /// Human-readable detail: queue position, the provider's error, why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Credits reserved for it (charged on success, released otherwise).
    pub credits: i64,
    pub outputs: Vec<GenerationOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
}

/// `POST /v1/generations/{id}/rating`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 to 5.
    pub rating: u8,
}

/// One shared training-data record (PRODUCT.md §5.3).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedRecord {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<String>,
    pub node_kind: String,
    /// `image`, `video` or `audio`.
    pub output_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub settings: serde_json::Value,
    /// BLAKE3 hashes of the character references used.
    pub character_refs: Vec<String>,
    /// BLAKE3 hashes (or text) of the other inputs.
    pub input_refs: Vec<String>,
    pub output_hash: String,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    pub created_at: i64,
}

/// `GET /v1/me/shared-data?limit=&before=` (newest first).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedDataPage {
    pub records: Vec<SharedRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// `DELETE /v1/me/shared-data` answer.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedDataDeleted {
    /// Records erased, with their files.
    pub deleted: u64,
}

/// `POST /v1/training-data`: share a result produced on another route (direct, ComfyUI). The
/// output must first be uploaded with `PUT /v1/blobs/{blake3}`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingDataSubmission {
    pub node_kind: String,
    pub output_hash: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub character_refs: Vec<String>,
    #[serde(default)]
    pub input_refs: Vec<String>,
    #[serde(default)]
    pub generation_ms: Option<i64>,
    #[serde(default)]
    pub rating: Option<u8>,
}

/// Answer of `POST /v1/training-data`: `stored` is false (and nothing was kept) when the caller
/// is not opted in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingDataStored {
    pub stored: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<i64>,
}

/// One group of `GET /v1/stats/training-data`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingStatsGroup {
    pub node_kind: String,
    pub output_type: String,
    pub count: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_generation_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_rating: Option<f64>,
    pub rated: i64,
}

/// `GET /v1/stats/training-data`: aggregates only, never a record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingStats {
    pub groups: Vec<TrainingStatsGroup>,
}

/// One line of the admin JSONL export: a record, its owner and where its file is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub user_id: i64,
    /// Storage key of the output file (private, under the user's prefix).
    pub file: String,
    #[serde(flatten)]
    pub record: SharedRecord,
}

/// `POST /v1/beta-signups` (JSON, or the landing page's form).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetaSignup {
    pub email: String,
}

/// The same answer whether or not the email was already signed up.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetaSignupAccepted {
    pub message: String,
}

/// `GET /v1/admin/beta-signups`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetaSignupList {
    pub signups: Vec<BetaSignupEntry>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BetaSignupEntry {
    pub email: String,
    pub created_at: i64,
    /// When an admin invited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<i64>,
}

/// Query of the paginated lists (`limit` 1–200, `before` an id from `next_before`).
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_omits_absent_fields_and_round_trips() {
        let body = ErrorBody {
            code: "invalid_json".into(),
            message: "bad".into(),
            fields: None,
        };
        let text = serde_json::to_string(&body).expect("serialise");
        assert_eq!(text, r#"{"code":"invalid_json","message":"bad"}"#);
        let back: ErrorBody = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, body);
    }

    #[test]
    fn ledger_kind_is_snake_case() {
        assert_eq!(
            serde_json::to_string(&LedgerKind::Release).expect("serialise"),
            r#""release""#
        );
    }

    #[test]
    fn credentials_reject_unknown_fields() {
        let err = serde_json::from_str::<Credentials>(r#"{"email":"a","password":"b","x":1}"#);
        assert!(err.is_err());
    }
}

/// `POST /v1/auth/verify-email`: the token of a verification link.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailVerification {
    pub token: String,
}

/// `POST /v1/auth/password-reset`: mail a reset link to this address if it has an account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// `POST /v1/auth/password-reset/confirm`: the link's token and the new password.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub password: String,
}

/// `POST /v1/me/password`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `DELETE /v1/me`: the password confirms it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletion {
    pub password: String,
}

/// `GET|PUT /v1/me/email-preferences`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailPreferences {
    /// A mail when a job of over a minute finishes.
    pub generation_finished: bool,
}

/// An accepted request and what happens next.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub message: String,
}

/// Answer of change password and sign out everywhere.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsEnded {
    /// Sessions that stopped working.
    pub sessions_ended: u64,
}

/// `POST /v1/admin/beta-signups/invite`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub emails: Vec<String>,
}

/// Answer of an invitation: how many sign-ups were newly invited (already invited ones and
/// unknown addresses are skipped).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteResult {
    pub invited: u64,
}

/// `POST /v1/billing/checkout`: what to buy — `"membership"` or a credit pack's `item` from
/// `GET /v1/billing`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    pub item: String,
}

/// A Stripe-hosted page to open in the browser (Checkout or the Customer Portal).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedPage {
    pub url: String,
}

/// A credit pack on sale.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditPack {
    /// What to send as `item` to buy it.
    pub item: String,
    pub credits: i64,
}

/// The caller's membership.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipStatus {
    /// Stripe's subscription status (`active`, `past_due`, `canceled`, …).
    pub status: String,
    /// Unix milliseconds of the next renewal (or of the end, when cancelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renews_at: Option<i64>,
    pub cancel_at_period_end: bool,
    /// The data-sharing discount is on the subscription.
    pub discounted: bool,
}

/// One purchase.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseEntry {
    /// `pack` or `membership`.
    pub kind: String,
    pub credits: i64,
    /// In the currency's minor unit (cents).
    pub amount: i64,
    pub currency: String,
    pub refunded_amount: i64,
    pub created_at: i64,
}

/// `GET /v1/billing`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MembershipStatus>,
    /// Whether a membership is on sale here.
    pub membership_offered: bool,
    /// Percent off the membership at checkout (10 while opted in to data sharing).
    pub discount_percent: u32,
    pub packs: Vec<CreditPack>,
    /// Credits owed from a refunded or disputed payment.
    pub debt: i64,
    /// Newest first.
    pub purchases: Vec<PurchaseEntry>,
}

/// Answer to Stripe's webhook delivery.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookReceived {
    pub received: bool,
    /// The event was seen before and changed nothing now.
    pub duplicate: bool,
}

/// Whose records `GET /v1/stats/training-data` aggregates.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatsScope {
    /// The caller's own (the default).
    #[default]
    Mine,
    /// Everyone's (admin only).
    All,
}

/// Query of `GET /v1/stats/training-data`.
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    #[serde(default)]
    pub scope: Option<StatsScope>,
}

/// `POST /v1/problem-reports`: what "Report a problem" sends — the node kind, route, provider,
/// error and take metadata, never keys or files.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemReport {
    pub node_kind: String,
    /// `draft`, `account`, `direct` or `comfyui`.
    pub route: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub error: String,
    /// Take metadata: model, parameters, duration, app version… (scalars only).
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Answer of a problem report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemReportStored {
    pub id: i64,
}

/// `POST /v1/training-data/rating`: the user's 1–5 rating of a result they shared from another
/// route, by its output's hash.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedRating {
    pub output_hash: String,
    pub rating: u8,
}

/// How many of the caller's shared records took the rating (0 when none has that output).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedRated {
    pub rated: u64,
}
