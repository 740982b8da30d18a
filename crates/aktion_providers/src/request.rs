//! What the engine asks for, and how it becomes a provider request body.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::config::{Encode, KindConfig};
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
        let value = match (map.encode, value) {
            (Encode::String, Value::Number(n)) => Value::String(n.to_string()),
            (_, v) => v,
        };
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

fn merge(into: &mut Value, from: &Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        for (k, v) in from {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// Writes `value` at `a/b/c`, creating objects on the way.
pub(crate) fn set_path(root: &mut Value, path: &str, value: Value) -> Result<()> {
    let mut node = root;
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            if node.is_null() {
                *node = Value::Object(Map::new());
            } else {
                return Err(ProviderError::Config(format!(
                    "input path {path:?} crosses a non-object"
                )));
            }
        }
        let Value::Object(obj) = node else {
            return Err(ProviderError::Config(format!(
                "input path {path:?} crosses a non-object"
            )));
        };
        if parts.peek().is_none() {
            obj.insert(part.to_owned(), value);
            return Ok(());
        }
        node = obj.entry(part.to_owned()).or_insert(Value::Null);
    }
    Err(ProviderError::Config("empty input path".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MediaKind;
    use crate::config::{FieldMap, Target};
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

    #[test]
    fn data_uri_encodes_base64() {
        let f = InputFile::new(b"hi".to_vec(), "image/png", "x.png");
        assert_eq!(f.data_uri(), "data:image/png;base64,aGk=");
    }
}
