//! Makes `/openapi.json` state exactly what the server enforces (PRODUCT.md §5.4): every
//! constraint a handler checks (email and text patterns, lengths, ranges, the node kinds and
//! each kind's own parameters and inputs) and every status a route can answer (the guards and
//! extractors every route passes through included), so a client generated from the document
//! never sends a request the server rejects, and nothing the document forbids is accepted.
//! The constants come from the checks themselves, so the two cannot drift apart.

use aktion_graph::catalog::InputSchema;
use aktion_graph::{Catalog, KindSchema, ParamKind, ParamSchema, PortType};
use serde_json::{Map, Value, json};

use crate::auth::{
    EMAIL_MAX_LEN, EMAIL_PATTERN, NEW_PASSWORD_MIN, PASSWORD_MAX, PASSWORD_MIN, TEXT_MAX,
    TEXT_PATTERN,
};
use crate::training::MAX_GENERATION_MS;

const HASH_PATTERN: &str = "^[0-9a-fA-F]{64}$";
/// What `idempotency::key_from` accepts: 1–255 visible ASCII characters.
const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// The document as served.
pub fn exact(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    tighten_schemas(&mut doc);
    tighten_operations(&mut doc);
    doc
}

fn email() -> Value {
    json!({"type": "string", "pattern": EMAIL_PATTERN, "maxLength": EMAIL_MAX_LEN})
}

fn text(max: usize) -> Value {
    json!({"type": "string", "pattern": TEXT_PATTERN, "maxLength": max})
}

fn int64(min: i64, max: i64) -> Value {
    json!({"type": "integer", "format": "int64", "minimum": min, "maximum": max})
}

fn nullable(mut schema: Value) -> Value {
    if let Some(ty) = schema.get("type").cloned() {
        schema["type"] = json!([ty, "null"]);
    }
    schema
}

fn set(doc: &mut Value, schema: &str, property: &str, value: Value) {
    if let Some(props) = doc
        .pointer_mut(&format!("/components/schemas/{schema}/properties"))
        .and_then(Value::as_object_mut)
    {
        props.insert(property.to_owned(), value);
    }
}

fn tighten_schemas(doc: &mut Value) {
    set(doc, "Credentials", "email", email());
    set(
        doc,
        "Credentials",
        "password",
        json!({"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX}),
    );
    // A new account's password is longer than signing in needs (older accounts keep theirs).
    if let Some(mut new_account) = doc.pointer("/components/schemas/Credentials").cloned() {
        new_account["properties"]["password"]["minLength"] = json!(NEW_PASSWORD_MIN);
        new_account["description"] = json!("Email and password of a new account.");
        doc["components"]["schemas"]["NewAccount"] = new_account;
        if let Some(schema) = doc.pointer_mut(
            "/paths/~1v1~1auth~1register/post/requestBody/content/application~1json/schema",
        ) {
            *schema = json!({"$ref": "#/components/schemas/NewAccount"});
        }
    }
    set(doc, "BetaSignup", "email", email());
    tighten_account_schemas(doc);
    tighten_report_schema(doc);
    set(doc, "GrantRequest", "email", email());
    set(doc, "GrantRequest", "credits", int64(1, 1_000_000_000));
    set(
        doc,
        "GrantRequest",
        "reason",
        nullable(text(super::account::GRANT_REASON_MAX)),
    );
    set(
        doc,
        "RatingRequest",
        "rating",
        json!({"type": "integer", "minimum": 1, "maximum": 5}),
    );
    let kinds: Vec<&KindSchema> = Catalog::builtin()
        .iter()
        .filter(|k| k.is_generating())
        .collect();
    let kind_ids: Vec<&str> = kinds.iter().map(|k| k.id.as_str()).collect();
    set(
        doc,
        "TrainingDataSubmission",
        "node_kind",
        json!({"type": "string", "enum": kind_ids}),
    );
    set(
        doc,
        "TrainingDataSubmission",
        "output_hash",
        json!({"type": "string", "pattern": HASH_PATTERN}),
    );
    set(
        doc,
        "TrainingDataSubmission",
        "prompt",
        nullable(text(TEXT_MAX)),
    );
    set(
        doc,
        "TrainingDataSubmission",
        "generation_ms",
        nullable(int64(0, MAX_GENERATION_MS)),
    );
    set(
        doc,
        "TrainingDataSubmission",
        "rating",
        json!({"type": ["integer", "null"], "minimum": 1, "maximum": 5}),
    );
    set(
        doc,
        "TrainingDataSubmission",
        "character_refs",
        json!({"type": "array", "items": {"type": "string"}, "maxItems": 16}),
    );
    set(
        doc,
        "TrainingDataSubmission",
        "input_refs",
        json!({"type": "array", "items": {"type": "string"}, "maxItems": 32}),
    );
    // A generation request is one of the kinds, each with its own parameters and inputs.
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let one_of: Vec<Value> = kinds.iter().map(|k| generation_request(k)).collect();
        schemas.insert(
            "GenerationRequest".to_owned(),
            json!({
                "description": "A node kind to run, with its parameters and inputs (blobs you uploaded, or text).",
                "oneOf": one_of,
            }),
        );
    }
}

/// What this server sells: `item` of a checkout is the membership (when one is on sale) or one
/// of the configured packs.
pub fn checkout_items(doc: &mut Value, billing: Option<&crate::billing::BillingConfig>) {
    let mut items: Vec<String> = Vec::new();
    if let Some(cfg) = billing {
        if cfg.membership_price.is_some() {
            items.push(crate::billing::MEMBERSHIP_ITEM.to_owned());
        }
        items.extend(cfg.packs.iter().map(|p| p.price.clone()));
    }
    if items.is_empty() {
        // Nothing on sale: every checkout answers 503 whatever it names.
        items.push(crate::billing::MEMBERSHIP_ITEM.to_owned());
    }
    set(
        doc,
        "CheckoutRequest",
        "item",
        json!({"type": "string", "enum": items}),
    );
}

/// "Report a problem" and shared-record ratings (PRODUCT.md §5.10).
fn tighten_report_schema(doc: &mut Value) {
    use super::feedback::{META_KEY_MAX, META_MAX_ENTRIES, META_TEXT_MAX, PROVIDER_MAX, ROUTES};
    let kinds: Vec<&str> = Catalog::builtin().iter().map(|k| k.id.as_str()).collect();
    for (property, schema) in [
        (
            "rating",
            json!({"type": "integer", "minimum": 1, "maximum": 5}),
        ),
        (
            "output_hash",
            json!({"type": "string", "pattern": HASH_PATTERN}),
        ),
    ] {
        set(doc, "SharedRating", property, schema);
    }
    set(
        doc,
        "ProblemReport",
        "node_kind",
        json!({"type": "string", "enum": kinds}),
    );
    set(
        doc,
        "ProblemReport",
        "route",
        json!({"type": "string", "enum": ROUTES}),
    );
    set(
        doc,
        "ProblemReport",
        "provider",
        nullable(text(PROVIDER_MAX)),
    );
    set(doc, "ProblemReport", "error", text(TEXT_MAX));
    set(
        doc,
        "ProblemReport",
        "metadata",
        json!({
            "type": "object",
            "maxProperties": META_MAX_ENTRIES,
            "propertyNames": {"pattern": TEXT_PATTERN, "maxLength": META_KEY_MAX},
            "additionalProperties": {"anyOf": [
                {"type": "string", "pattern": TEXT_PATTERN, "maxLength": META_TEXT_MAX},
                {"type": "number"}, {"type": "boolean"}, {"type": "null"}
            ]}
        }),
    );
}

/// The account lifecycle's requests (PRODUCT.md §5.8).
fn tighten_account_schemas(doc: &mut Value) {
    let token = json!({"type": "string", "pattern": crate::accounts::TOKEN_PATTERN});
    let new_password =
        json!({"type": "string", "minLength": NEW_PASSWORD_MIN, "maxLength": PASSWORD_MAX});
    let password = json!({"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX});
    set(doc, "EmailVerification", "token", token.clone());
    set(doc, "PasswordResetRequest", "email", email());
    set(doc, "PasswordResetConfirm", "token", token);
    set(
        doc,
        "PasswordResetConfirm",
        "password",
        new_password.clone(),
    );
    set(doc, "PasswordChange", "current_password", password.clone());
    set(doc, "PasswordChange", "new_password", new_password);
    set(doc, "AccountDeletion", "password", password);
    set(
        doc,
        "InviteRequest",
        "emails",
        json!({"type": "array", "items": email(), "minItems": 1,
               "maxItems": super::lifecycle::INVITE_MAX}),
    );
}

fn generation_request(kind: &KindSchema) -> Value {
    let mut params = Map::new();
    for p in &kind.params {
        params.insert(p.id.clone(), param(p));
    }
    let mut inputs = Map::new();
    let mut required_inputs = Vec::new();
    for i in &kind.inputs {
        inputs.insert(i.id.clone(), input(i));
        // Required unless a parameter stands in for it (a prompt typed on the node).
        if i.required_slots() > 0 && i.fallback_param.is_none() {
            required_inputs.push(i.id.clone());
        }
    }
    let mut inputs_schema = json!({
        "type": "object",
        "properties": inputs,
        "additionalProperties": false,
    });
    if !required_inputs.is_empty() {
        inputs_schema["required"] = json!(required_inputs);
    }
    let properties = json!({
        "kind": {"type": "string", "const": kind.id},
        "params": {"type": "object", "properties": params, "additionalProperties": false},
        "inputs": inputs_schema,
    });
    let mut required = vec!["kind"];
    if !required_inputs.is_empty() {
        required.push("inputs");
    }
    json!({
        "type": "object",
        "title": kind.id,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn param(p: &ParamSchema) -> Value {
    match &p.kind {
        ParamKind::Text { .. } => text(TEXT_MAX),
        ParamKind::Int { min, max, .. } => int64(*min, *max),
        ParamKind::Float { min, max, .. } => {
            json!({"type": "number", "minimum": min, "maximum": max})
        }
        ParamKind::Choice { options, .. } => json!({"type": "string", "enum": options}),
        ParamKind::Bool { .. } => json!({"type": "boolean"}),
        ParamKind::Seed => {
            json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})
        }
        // Not parameters of a generating kind today; described loosely, checked fully.
        ParamKind::Asset { .. } | ParamKind::Strokes | ParamKind::Crop => json!({}),
    }
}

fn input(i: &InputSchema) -> Value {
    let item = if i.ty == PortType::Text {
        json!({"type": "object", "properties": {"text": text(TEXT_MAX)},
               "required": ["text"], "additionalProperties": false})
    } else {
        json!({"type": "object", "properties": {"blob": {"type": "string", "pattern": HASH_PATTERN}},
               "required": ["blob"], "additionalProperties": false})
    };
    json!({
        "type": "array",
        "items": item,
        "minItems": i.required_slots().max(1),
        "maxItems": i.slot_count(),
    })
}

/// Statuses every operation of a kind can answer besides its own, and the `Idempotency-Key`
/// header wherever it is read.
fn tighten_operations(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !matches!(method.as_str(), "get" | "put" | "post" | "delete" | "patch") {
                continue;
            }
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            if let Some(Value::Array(params)) = op.get_mut("parameters") {
                for p in params.iter_mut() {
                    tighten_parameter(path, p);
                }
            }
            let has_query = op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let keyed = matches!(method.as_str(), "put" | "post" | "delete")
                && !matches!(path.as_str(), "/v1/auth/register" | "/v1/auth/login");
            let mut extra: Vec<(&str, &str)> = vec![
                (
                    "503",
                    "busy (too many requests at once, or the request took too long); see Retry-After",
                ),
                ("500", "internal error (logged; the body says no more)"),
            ];
            if op.contains_key("requestBody") {
                extra.extend([
                    (
                        "400",
                        "the body is not valid JSON or not the documented shape",
                    ),
                    ("413", "the body is larger than the server accepts"),
                    ("415", "the body's Content-Type is not the documented one"),
                ]);
            }
            if has_query {
                extra.push(("400", "a query parameter is not valid"));
            }
            if op.contains_key("security") {
                extra.extend([
                    ("401", "missing, malformed or expired session token"),
                    ("403", "the account is disabled (`account_disabled`)"),
                ]);
            }
            if path.contains('{') {
                extra.push(("404", "no such resource (or not yours)"));
            }
            if keyed {
                extra.extend([
                    ("400", "malformed Idempotency-Key"),
                    (
                        "409",
                        "a request with this Idempotency-Key is in progress, or its outcome is unknown",
                    ),
                    ("422", "this Idempotency-Key was used for a different request"),
                ]);
            }
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                for (status, description) in extra {
                    responses.entry(status.to_owned()).or_insert_with(|| {
                        json!({
                            "description": description,
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        })
                    });
                }
            }
            if keyed
                && let Value::Array(params) = op.entry("parameters").or_insert_with(|| json!([]))
                && !params.iter().any(|p| {
                    p["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case("idempotency-key"))
                })
            {
                params.push(json!({
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": false,
                    "description": "makes retries safe: a retry with the same key gets the first answer",
                    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                }));
            }
        }
    }
}

/// A parameter as the extractors read it: path hashes by pattern, query values never `null`
/// (absent is how a query says "none"), `limit` 1–200, integers within 64 bits.
fn tighten_parameter(path: &str, p: &mut Value) {
    let name = p["name"].as_str().unwrap_or_default().to_owned();
    if p["in"] == "path" && name == "blake3" && path.starts_with("/v1/blobs/") {
        p["schema"] = json!({"type": "string", "pattern": HASH_PATTERN});
    }
    if p["in"] == "header" && name.eq_ignore_ascii_case("idempotency-key") {
        p["schema"] = json!({"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN});
    }
    if p["in"] != "query" {
        return;
    }
    if let Some(Value::Array(types)) = p.pointer("/schema/type").cloned()
        && let Some(ty) = types.into_iter().find(|t| t != "null")
    {
        p["schema"]["type"] = ty;
    }
    let is_int = p["schema"]["type"] == "integer";
    if name == "limit" {
        p["schema"] = json!({"type": "integer", "minimum": 1, "maximum": 200});
    } else if is_int {
        p["schema"] = int64(i64::MIN, i64::MAX);
    }
}
