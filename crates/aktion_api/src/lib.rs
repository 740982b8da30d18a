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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Answer of register and login: a bearer token for `Authorization: Bearer …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    pub token: String,
    /// Unix milliseconds after which the token is no longer accepted.
    pub expires_at: i64,
    pub user: Me,
}

/// `GET /v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub email: String,
    /// Spendable credits (grants minus charges minus open reservations).
    pub balance: i64,
    pub is_admin: bool,
    pub data_sharing: DataSharingStatus,
}

/// Opt-in status of training-data sharing (PRODUCT.md §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSharingStatus {
    pub opt_in: bool,
    /// Unix milliseconds of the latest opt-in, if opted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_in_at: Option<i64>,
}

/// `PUT /v1/me/data-sharing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSharingUpdate {
    pub opt_in: bool,
}

/// `POST /v1/auth/logout` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedOut {
    pub logged_out: bool,
}

/// `GET /v1/pricing`.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPage {
    pub entries: Vec<LedgerEntry>,
    /// Pass as `before` to get the next (older) page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_before: Option<i64>,
}

/// Query of `GET /v1/ledger`.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantResponse {
    pub email: String,
    pub balance: i64,
    pub entry_id: i64,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub database: String,
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
