//! What the engine asks for, and how it becomes a provider request body.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::{Encode, FieldMap, KindConfig};
use crate::error::{ProviderError, Result};

/// A file the engine hands over as an input (a sketch, a reference photo, an audio clip).
#[derive(Clone, PartialEq, Eq)]
pub struct InputFile {
    pub bytes: Arc<[u8]>,
    pub content_type: String,
    pub file_name: String,
}

impl std::fmt::Debug for InputFile {
    // Bytes would flood logs; their size is what matters when debugging.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputFile")
            .field("file_name", &self.file_name)
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl InputFile {
    pub fn new(bytes: impl Into<Arc<[u8]>>, content_type: &str, file_name: &str) -> Self {
        Self {
            bytes: bytes.into(),
            content_type: content_type.into(),
            file_name: file_name.into(),
        }
    }

    pub(crate) fn data_uri(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.content_type,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

/// One node input value.
#[derive(Debug, Clone, PartialEq)]
pub enum InputValue {
    /// Text, numbers, booleans, enums: written as JSON.
    Json(Value),
    /// A local file; each client uploads it the way its provider accepts files.
    File(InputFile),
    /// Already reachable by the provider.
    Url(String),
    /// Several of the above (e.g. up to four character references).
    List(Vec<InputValue>),
}

impl From<&str> for InputValue {
    fn from(s: &str) -> Self {
        Self::Json(Value::String(s.to_owned()))
    }
}

/// A request to run one node kind.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobRequest {
    pub kind: String,
    pub inputs: BTreeMap<String, InputValue>,
}

impl JobRequest {
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            inputs: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<InputValue>) -> Self {
        self.inputs.insert(name.into(), value.into());
        self
    }

    /// Adds a list input (character references, scene images): as one list under `id`, and
    /// item by item as `image_1`, `image_2`, ... (RunComfy workflows take one `LoadImage` input
    /// per image).
    pub fn insert_list(&mut self, id: &str, items: Vec<InputValue>) {
        for (i, item) in items.iter().enumerate() {
            self.inputs.insert(format!("image_{}", i + 1), item.clone());
        }
        self.inputs.insert(id.to_owned(), InputValue::List(items));
    }

    /// Copies each value of [`INPUT_ALIASES`] to its provider name, unless that name is set.
    /// Call last, after every catalog input and parameter is in.
    pub fn add_aliases(&mut self) {
        for (from, to) in INPUT_ALIASES {
            if let Some(v) = self.inputs.get(*from).cloned() {
                self.inputs.entry((*to).to_owned()).or_insert(v);
            }
        }
    }
}

/// Catalog ids whose provider input has another name (the provider configuration speaks the
/// names of PROVIDERS.md; the catalog speaks the user's).
pub const INPUT_ALIASES: &[(&str, &str)] = &[("creativity", "guidance"), ("refs", "references")];

impl From<Value> for InputValue {
    fn from(v: Value) -> Self {
        Self::Json(v)
    }
}

impl From<InputFile> for InputValue {
    fn from(f: InputFile) -> Self {
        Self::File(f)
    }
}

/// Builds the provider's input object from `fixed` plus the mapped inputs; files are turned into
/// strings (URL, data URI or server-side name) by `upload`.
pub(crate) async fn build_input<F, Fut>(
    kind: &KindConfig,
    base: Value,
    request: &JobRequest,
    upload: F,
) -> Result<Value>
where
    F: Fn(InputFile) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let mut body = base;
    merge(&mut body, &kind.fixed);
    for map in &kind.inputs {
        let Some(value) = request.inputs.get(&map.from) else {
            if map.required {
                return Err(ProviderError::Config(format!(
                    "node kind {}: missing required input {:?}",
                    request.kind, map.from
                )));
            }
            continue;
        };
        let value = resolve(value, &upload).await?;
        let value = encode(&request.kind, map, value, get_path(&body, &map.to))?;
        set_path(&mut body, &map.to, value)?;
    }
    Ok(body)
}

async fn resolve<F, Fut>(value: &InputValue, upload: &F) -> Result<Value>
where
    F: Fn(InputFile) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    Ok(match value {
        InputValue::Json(v) => v.clone(),
        InputValue::Url(u) => Value::String(u.clone()),
        InputValue::File(f) => Value::String(upload(f.clone()).await?),
        InputValue::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                // Nested lists are not a thing any provider takes; flatten by one level only.
                out.push(Box::pin(resolve(item, upload)).await?);
            }
            Value::Array(out)
        }
    })
}

/// Applies the mapping's [`Encode`] to a resolved value; `current` is what the target holds
/// now (the workflow's default, or an earlier mapping's value).
fn encode(kind: &str, map: &FieldMap, value: Value, current: Option<&Value>) -> Result<Value> {
    let bad = |why: String| {
        ProviderError::Config(format!(
            "node kind {kind}: input {:?} cannot be written to {:?}: {why}",
            map.from, map.to
        ))
    };
    Ok(match (&map.encode, value) {
        (Encode::String, Value::Number(n)) => Value::String(n.to_string()),
        (Encode::Json | Encode::String, v) => v,
        (Encode::Lookup(table), v) => {
            let key = match &v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            table.get(&key).cloned().ok_or_else(|| {
                let known: Vec<&str> = table.keys().map(String::as_str).collect();
                bad(format!("{key:?} is not one of {}", known.join(", ")))
            })?
        }
        (
            Encode::Linear {
                scale,
                step,
                offset,
            },
            v,
        ) => {
            let n = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| bad(format!("{v} is not a number")))?;
            let step = if *step > 0.0 { *step } else { 1.0 };
            let out = (n * scale / step).round() * step + offset;
            if !out.is_finite() || out.abs() > 9.0e15 {
                return Err(bad(format!("{n} is out of range")));
            }
            // Rounded and range-checked just above.
            Value::from(out as i64)
        }
        (Encode::Append(pattern), v) => {
            let text = match &v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let base = current.and_then(Value::as_str).unwrap_or_default();
            if text.trim().is_empty() {
                Value::String(base.to_owned())
            } else {
                let suffix = pattern.replace("{}", text.trim());
                // A prompt left empty gets the suffix without its leading separator.
                let suffix = if base.trim().is_empty() {
                    suffix.trim_start_matches([',', ' ', ';', '.']).to_owned()
                } else {
                    suffix
                };
                Value::String(format!("{base}{suffix}"))
            }
        }
    })
}

/// The value at `a/b/c`, if there is one.
fn get_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('/')
        .try_fold(root, |node, part| match (node, part.parse::<usize>()) {
            (Value::Array(items), Ok(i)) => items.get(i),
            (node, _) => node.get(part),
        })
}

fn merge(into: &mut Value, from: &Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// Writes `value` at `a/b/c`, creating objects on the way; a numeric part indexes an array
/// (`input_images/1`: the second item, earlier ones `null` until written).
pub(crate) fn set_path(root: &mut Value, path: &str, value: Value) -> Result<()> {
    let crosses = || ProviderError::Config(format!("input path {path:?} crosses a non-object"));
    let mut node = root;
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        let index = part.parse::<usize>().ok().filter(|i| *i < 64);
        if node.is_null() {
            *node = if index.is_some() {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
        }
        let last = parts.peek().is_none();
        node = match (node, index) {
            (Value::Array(items), Some(i)) => {
                if items.len() <= i {
                    items.resize(i + 1, Value::Null);
                }
                &mut items[i]
            }
            (Value::Object(obj), _) => obj.entry(part.to_owned()).or_insert(Value::Null),
            _ => return Err(crosses()),
        };
        if last {
            *node = value;
            return Ok(());
        }
    }
    Err(ProviderError::Config("empty input path".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MediaKind;
    use crate::config::Target;
    use serde_json::json;

    fn kind(inputs: Vec<FieldMap>, fixed: Value) -> KindConfig {
        KindConfig {
            target: Target::RunComfy {
                deployment_id: "d".into(),
            },
            inputs,
            fixed,
            output: MediaKind::Image,
            timeout_secs: 1,
        }
    }

    #[tokio::test]
    async fn maps_inputs_to_paths_and_string_enums() {
        let k = kind(
            vec![
                FieldMap {
                    from: "img".into(),
                    to: "270/inputs/image".into(),
                    encode: Encode::Json,
                    required: true,
                },
                FieldMap {
                    from: "res".into(),
                    to: "image_resolution".into(),
                    encode: Encode::String,
                    required: false,
                },
                FieldMap {
                    from: "absent".into(),
                    to: "x".into(),
                    encode: Encode::Json,
                    required: false,
                },
            ],
            json!({"num_samples": "1"}),
        );
        let req = JobRequest::new("k")
            .with("img", InputFile::new(vec![1u8, 2, 3], "image/png", "a.png"))
            .with("res", json!(768));
        let body = build_input(&k, json!({}), &req, |f| async move {
            Ok(format!("up:{}", f.file_name))
        })
        .await
        .unwrap();
        assert_eq!(
            body,
            json!({"num_samples": "1", "image_resolution": "768", "270": {"inputs": {"image": "up:a.png"}}})
        );
    }

    #[tokio::test]
    async fn missing_required_input_is_a_clear_error() {
        let k = kind(
            vec![FieldMap {
                from: "img".into(),
                to: "a".into(),
                encode: Encode::Json,
                required: true,
            }],
            json!({}),
        );
        let err = build_input(&k, json!({}), &JobRequest::new("k"), |_| async {
            Ok(String::new())
        })
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("missing required input \"img\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn transforms_bridge_catalog_params_and_workflow_inputs() {
        let sizes: BTreeMap<String, Value> = [
            ("16:9".to_owned(), json!(1344)),
            ("1:1".to_owned(), json!(1024)),
        ]
        .into();
        let k = kind(
            vec![
                FieldMap::new("prompt", "6/inputs/text"),
                FieldMap::new("style", "6/inputs/text")
                    .encoded(Encode::Append(", {} style".into())),
                FieldMap::new("aspect_ratio", "5/inputs/width").encoded(Encode::Lookup(sizes)),
                FieldMap::new("duration", "55/inputs/length").encoded(Encode::Linear {
                    scale: 24.0,
                    step: 4.0,
                    offset: 1.0,
                }),
            ],
            json!({}),
        );
        let workflow =
            json!({"6": {"inputs": {"text": "default"}}, "5": {"inputs": {"width": 512}}});
        let no_upload = |_| async { Ok(String::new()) };
        let req = JobRequest::new("k")
            .with("prompt", "a knight")
            .with("style", "anime")
            .with("aspect_ratio", "16:9")
            .with("duration", json!(5.0));
        let body = build_input(&k, workflow.clone(), &req, no_upload)
            .await
            .unwrap();
        assert_eq!(body["6"]["inputs"]["text"], "a knight, anime style");
        assert_eq!(body["5"]["inputs"]["width"], 1344);
        assert_eq!(
            body["55"]["inputs"]["length"], 121,
            "5 s at 24 fps, 4k+1 frames"
        );

        // An empty prompt gets the style without a dangling comma; no style leaves the prompt.
        let req = JobRequest::new("k")
            .with("prompt", "")
            .with("style", "comic");
        let body = build_input(&k, workflow.clone(), &req, no_upload)
            .await
            .unwrap();
        assert_eq!(body["6"]["inputs"]["text"], "comic style");
        let req = JobRequest::new("k").with("prompt", "x").with("style", " ");
        let body = build_input(&k, workflow.clone(), &req, no_upload)
            .await
            .unwrap();
        assert_eq!(body["6"]["inputs"]["text"], "x");

        // Values the table or the arithmetic cannot take are errors that name the input.
        for (name, value, expect) in [
            (
                "aspect_ratio",
                json!("7:5"),
                "\"7:5\" is not one of 16:9, 1:1",
            ),
            ("aspect_ratio", json!(["16:9"]), "is not one of"),
            ("duration", json!("soon"), "is not a number"),
            ("duration", json!(1e300), "out of range"),
        ] {
            let req = JobRequest::new("k").with(name, value);
            let err = build_input(&k, workflow.clone(), &req, no_upload)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect) && err.contains(name), "{err}");
        }
        // Seconds given as text still count.
        let req = JobRequest::new("k").with("duration", "2.5");
        let body = build_input(&k, workflow, &req, no_upload).await.unwrap();
        assert_eq!(body["55"]["inputs"]["length"], 61);
    }

    #[test]
    fn transforms_are_data() {
        let map: FieldMap = serde_json::from_value(json!({
            "from": "duration", "to": "55/inputs/length",
            "encode": {"linear": {"scale": 16}}
        }))
        .unwrap();
        assert_eq!(
            map.encode,
            Encode::Linear {
                scale: 16.0,
                step: 1.0,
                offset: 0.0
            }
        );
        let map: FieldMap =
            serde_json::from_value(json!({"from": "s", "to": "t", "encode": {"lookup": {"a": 1}}}))
                .unwrap();
        assert!(matches!(map.encode, Encode::Lookup(t) if t["a"] == 1));
        assert!(
            serde_json::from_value::<FieldMap>(
                json!({"from": "s", "to": "t", "encode": "sideways"})
            )
            .is_err()
        );
    }

    #[test]
    fn numeric_parts_index_arrays() {
        let mut body = json!({});
        set_path(&mut body, "input_images/1", json!("pose")).unwrap();
        set_path(&mut body, "input_images/0", json!("character")).unwrap();
        set_path(&mut body, "a/b", json!(1)).unwrap();
        assert_eq!(
            body,
            json!({"input_images": ["character", "pose"], "a": {"b": 1}})
        );
        assert!(set_path(&mut body, "a/b/c", json!(1)).is_err());
        assert!(set_path(&mut body, "input_images/x", json!(1)).is_err());
    }

    #[test]
    fn data_uri_encodes_base64() {
        let f = InputFile::new(b"hi".to_vec(), "image/png", "x.png");
        assert_eq!(f.data_uri(), "data:image/png;base64,aGk=");
    }
}
