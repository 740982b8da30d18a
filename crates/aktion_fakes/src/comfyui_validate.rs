//! ComfyUI's prompt validation (`execution.py` `validate_prompt` / `validate_inputs`), for the
//! stock nodes Aktion's shipped workflows use. Node schemas are in `comfyui_nodes.json`, as
//! ComfyUI's `/object_info` reports them (read from ComfyUI's sources). A workflow that would be
//! refused by a real server is refused here with the same error types and messages, so a broken
//! default workflow fails a test instead of a filmmaker's run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Debug, Deserialize)]
struct NodeSchema {
    #[serde(default)]
    required: BTreeMap<String, InputSpec>,
    #[serde(default)]
    optional: BTreeMap<String, InputSpec>,
    outputs: Vec<String>,
    #[serde(default)]
    output_node: bool,
}

#[derive(Debug, Deserialize)]
struct InputSpec {
    #[serde(rename = "type")]
    ty: String,
    min: Option<f64>,
    max: Option<f64>,
    options: Option<Vec<Value>>,
    /// A file list (`checkpoints`, `loras`, `input`...): any name the server has.
    folder: Option<String>,
}

static NODES: LazyLock<BTreeMap<String, NodeSchema>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("comfyui_nodes.json")).unwrap_or_else(|e| {
        tracing::error!(error = %e, "comfyui_nodes.json does not parse; the fake knows no nodes");
        BTreeMap::new()
    })
});

/// The model files of a ComfyUI set up as Aktion's README says, by `models/` folder.
const INSTALLED_MODELS: &[(&str, &str)] = &[
    ("checkpoints", "sd_xl_base_1.0.safetensors"),
    ("checkpoints", "v1-5-pruned-emaonly.safetensors"),
    ("controlnet", "control_v11p_sd15_scribble.pth"),
    ("controlnet", "control_v11p_sd15_openpose.pth"),
    ("diffusion_models", "wan2.2_ti2v_5B_fp16.safetensors"),
    (
        "diffusion_models",
        "wan2.2_fun_inpaint_high_noise_14B_fp8_scaled.safetensors",
    ),
    (
        "diffusion_models",
        "wan2.2_fun_inpaint_low_noise_14B_fp8_scaled.safetensors",
    ),
    (
        "loras",
        "wan2.2_i2v_lightx2v_4steps_lora_v1_high_noise.safetensors",
    ),
    (
        "loras",
        "wan2.2_i2v_lightx2v_4steps_lora_v1_low_noise.safetensors",
    ),
    ("text_encoders", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
    ("vae", "wan2.2_vae.safetensors"),
    ("vae", "wan_2.1_vae.safetensors"),
];

/// `GET /object_info/{class}` as ComfyUI answers it (V1 form: links as `["MODEL"]`, widgets as
/// `["INT", {min, max}]`, lists as `[[options...], {}]`), or `None` for an unknown class.
pub(crate) fn object_info(class: &str, installed: &Installed<'_>) -> Option<Value> {
    let schema = NODES.get(class)?;
    let section = |inputs: &BTreeMap<String, InputSpec>| -> Map<String, Value> {
        inputs
            .iter()
            .map(|(name, spec)| {
                let v = match (&spec.options, spec.folder.as_deref()) {
                    (Some(options), _) => json!([options, {}]),
                    (None, Some("input")) => json!([installed.inputs, {"image_upload": true}]),
                    (None, Some(folder)) => {
                        let files: Vec<&str> = INSTALLED_MODELS
                            .iter()
                            .filter(|(f, file)| {
                                *f == folder && !installed.missing_models.contains(*file)
                            })
                            .map(|(_, file)| *file)
                            .collect();
                        json!([files, {}])
                    }
                    (None, None) => {
                        let mut extra = Map::new();
                        if let Some(min) = spec.min {
                            extra.insert("min".into(), json!(min));
                        }
                        if let Some(max) = spec.max {
                            extra.insert("max".into(), json!(max));
                        }
                        json!([spec.ty, extra])
                    }
                };
                (name.clone(), v)
            })
            .collect()
    };
    Some(json!({ class: {
        "input": { "required": section(&schema.required), "optional": section(&schema.optional) },
        "output": schema.outputs,
        "output_node": schema.output_node,
        "name": class,
        "display_name": class,
        "category": "fake",
    }}))
}

/// What the fake server has installed.
pub(crate) struct Installed<'a> {
    /// Files in `input/` (uploads).
    pub inputs: &'a BTreeSet<String>,
    /// Model files the server lacks (everything else counts as installed).
    pub missing_models: &'a BTreeSet<String>,
}

fn error(ty: &str, message: &str, details: &str, extra: impl Into<Value>) -> Value {
    json!({ "type": ty, "message": message, "details": details, "extra_info": extra.into() })
}

/// `Ok(())` when ComfyUI would queue the prompt; otherwise the 400 body it would send.
pub(crate) fn validate(
    prompt: &Map<String, Value>,
    installed: &Installed<'_>,
) -> Result<(), Value> {
    // Every node's class must exist, before anything else is looked at.
    for (id, node) in prompt {
        let class = node.get("class_type").and_then(Value::as_str);
        if class.is_none_or(|c| !NODES.contains_key(c)) {
            let title = node
                .pointer("/_meta/title")
                .and_then(Value::as_str)
                .or(class)
                .unwrap_or("?");
            return Err(json!({
                "error": error(
                    "missing_node_type",
                    &format!("Node '{title}' not found. The custom node may not be installed."),
                    &format!("Node ID '#{id}'"),
                    json!({ "node_id": id, "class_type": class, "node_title": title }),
                ),
                "node_errors": {}
            }));
        }
    }
    let class_of = |id: &str| {
        prompt
            .get(id)
            .and_then(|n| n.get("class_type"))
            .and_then(Value::as_str)
            .and_then(|c| NODES.get(c))
    };
    let outputs: Vec<&String> = prompt
        .keys()
        .filter(|id| class_of(id).is_some_and(|s| s.output_node))
        .collect();
    if outputs.is_empty() {
        return Err(json!({
            "error": error("prompt_no_outputs", "Prompt has no outputs", "", json!({})),
            "node_errors": {}
        }));
    }

    let mut node_errors = Map::new();
    let mut reasons = Vec::new();
    for out in &outputs {
        // Only what an output needs is validated, each node once.
        let mut stack = vec![(*out).clone()];
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let errors = node_errors_of(prompt, &id, installed, &mut stack);
            if !errors.is_empty() {
                for e in &errors {
                    reasons.push(format!(
                        "{}: {}",
                        e["message"].as_str().unwrap_or_default(),
                        e["details"].as_str().unwrap_or_default()
                    ));
                }
                node_errors.insert(
                    id.clone(),
                    json!({
                        "errors": errors,
                        "dependent_outputs": [out],
                        "class_type": prompt[&id]["class_type"],
                    }),
                );
            }
        }
    }
    if node_errors.is_empty() {
        return Ok(());
    }
    Err(json!({
        "error": error(
            "prompt_outputs_failed_validation",
            "Prompt outputs failed validation",
            &reasons.join("\n"),
            json!({}),
        ),
        "node_errors": node_errors,
    }))
}

fn node_errors_of(
    prompt: &Map<String, Value>,
    id: &str,
    installed: &Installed<'_>,
    stack: &mut Vec<String>,
) -> Vec<Value> {
    let node = &prompt[id];
    let Some(schema) = node
        .get("class_type")
        .and_then(Value::as_str)
        .and_then(|c| NODES.get(c))
    else {
        return Vec::new();
    };
    let empty = Map::new();
    let inputs = node
        .get("inputs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut errors = Vec::new();
    let specs = schema
        .required
        .iter()
        .map(|(n, s)| (n, s, true))
        .chain(schema.optional.iter().map(|(n, s)| (n, s, false)));
    for (name, spec, required) in specs {
        let Some(value) = inputs.get(name) else {
            if required {
                errors.push(error(
                    "required_input_missing",
                    "Required input is missing",
                    name,
                    json!({ "input_name": name }),
                ));
            }
            continue;
        };
        if let Some(link) = value.as_array() {
            if let Some(e) = link_error(prompt, name, spec, link) {
                errors.push(e);
            } else if let Some(from) = link.first().and_then(Value::as_str) {
                stack.push(from.to_owned());
            }
            continue;
        }
        let value = value.get("__value__").unwrap_or(value);
        if let Some(e) = value_error(name, spec, value, installed) {
            errors.push(e);
        }
    }
    errors
}

fn link_error(
    prompt: &Map<String, Value>,
    name: &str,
    spec: &InputSpec,
    link: &[Value],
) -> Option<Value> {
    let (Some(from), Some(slot), 2) = (
        link.first().and_then(Value::as_str),
        link.get(1).and_then(Value::as_u64),
        link.len(),
    ) else {
        return Some(error(
            "bad_linked_input",
            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
            name,
            json!({ "input_name": name }),
        ));
    };
    let source = prompt
        .get(from)
        .and_then(|n| n.get("class_type"))
        .and_then(Value::as_str)
        .and_then(|c| NODES.get(c));
    let received = source.and_then(|s| usize::try_from(slot).ok().and_then(|i| s.outputs.get(i)));
    let Some(received) = received else {
        return Some(error(
            "exception_during_validation",
            "Exception when validating node",
            &format!("{name}: no output {slot} on node {from}"),
            json!({}),
        ));
    };
    let accepts = spec.ty == "*" || received == "*" || spec.ty.split(',').any(|t| t == received);
    (!accepts).then(|| {
        error(
            "return_type_mismatch",
            "Return type mismatch between linked nodes",
            &format!(
                "{name}, received_type({received}) mismatch input_type({})",
                spec.ty
            ),
            json!({ "input_name": name, "received_type": received, "linked_node": link }),
        )
    })
}

fn value_error(
    name: &str,
    spec: &InputSpec,
    value: &Value,
    installed: &Installed<'_>,
) -> Option<Value> {
    let extra = json!({ "input_name": name, "received_value": value });
    match spec.ty.as_str() {
        "INT" | "FLOAT" => {
            let n = value
                .as_f64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()));
            let Some(n) = n.filter(|n| spec.ty == "FLOAT" || n.fract() == 0.0) else {
                return Some(error(
                    "invalid_input_type",
                    &format!("Failed to convert an input value to a {} value", spec.ty),
                    &format!("{name}, {value}"),
                    extra,
                ));
            };
            if let Some(min) = spec.min.filter(|min| n < *min) {
                return Some(error(
                    "value_smaller_than_min",
                    &format!("Value {n} smaller than min of {min}"),
                    name,
                    extra,
                ));
            }
            if let Some(max) = spec.max.filter(|max| n > *max) {
                return Some(error(
                    "value_bigger_than_max",
                    &format!("Value {n} bigger than max of {max}"),
                    name,
                    extra,
                ));
            }
            None
        }
        "STRING" => (!value.is_string() && !value.is_number()).then(|| {
            error(
                "invalid_input_type",
                "Failed to convert an input value to a STRING value",
                &format!("{name}, {value}"),
                extra.clone(),
            )
        }),
        "BOOLEAN" => (!value.is_boolean()).then(|| {
            error(
                "invalid_input_type",
                "Failed to convert an input value to a BOOLEAN value",
                &format!("{name}, {value}"),
                extra.clone(),
            )
        }),
        "COMBO" => {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            if spec.folder.as_deref() == Some("input") {
                // LoadImage validates its file itself.
                return (!installed.inputs.contains(&text)).then(|| {
                    error(
                        "custom_validation_failed",
                        "Custom validation failed for node",
                        &format!("{name} - Invalid image file: {text}"),
                        json!({ "input_name": name }),
                    )
                });
            }
            let known = if let Some(options) = &spec.options {
                options.iter().any(|o| o == value)
            } else {
                !installed.missing_models.contains(&text)
            };
            (!known).then(|| {
                let list = match &spec.options {
                    Some(o) if o.len() <= 20 => format!(
                        "[{}]",
                        o.iter()
                            .map(|v| v
                                .as_str()
                                .map_or_else(|| v.to_string(), |s| format!("'{s}'")))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(o) => format!("(list of length {})", o.len()),
                    None => "['dreamshaper_8.safetensors']".to_owned(),
                };
                error(
                    "value_not_in_list",
                    "Value not in list",
                    &format!("{name}: '{text}' not in {list}"),
                    extra.clone(),
                )
            })
        }
        // A link type given a literal value: ComfyUI fails when it runs; refuse it here.
        _ => Some(error(
            "bad_linked_input",
            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
            name,
            json!({ "input_name": name }),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ComfyUI's own default text-to-image graph, with one uploaded image loaded beside it.
    fn good() -> Map<String, Value> {
        let v = json!({
            "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
            "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
            "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
            "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
            "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 8, "sampler_name": "euler",
                  "scheduler": "normal", "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                  "latent_image": ["5", 0]}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
            "10": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
            "11": {"class_type": "SaveImage", "inputs": {"filename_prefix": "copy", "images": ["10", 0]}}
        });
        v.as_object().cloned().unwrap_or_default()
    }

    fn check(prompt: &Map<String, Value>) -> Result<(), Value> {
        let inputs: BTreeSet<String> = ["in.png".to_owned()].into();
        let missing: BTreeSet<String> = ["gone.safetensors".to_owned()].into();
        validate(
            prompt,
            &Installed {
                inputs: &inputs,
                missing_models: &missing,
            },
        )
    }

    /// The first error's type and its node.
    fn refusal(prompt: &Map<String, Value>) -> (String, Option<String>, String) {
        let body = check(prompt).expect_err("refused");
        let nodes = body["node_errors"].as_object().cloned().unwrap_or_default();
        let first = nodes.iter().next();
        let (ty, details) = first.map_or_else(
            || {
                (
                    body["error"]["type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    body["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            },
            |(_, n)| {
                (
                    n["errors"][0]["type"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    n["errors"][0]["details"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            },
        );
        (ty, first.map(|(id, _)| id.clone()), details)
    }

    #[test]
    fn a_valid_graph_passes() {
        assert_eq!(check(&good()), Ok(()));
        // Wrapped list values and extra undeclared inputs are accepted, as ComfyUI does.
        let mut p = good();
        p["3"]["inputs"]["steps"] = json!({"__value__": 12});
        p["3"]["inputs"]["unknown_extra"] = json!(true);
        assert_eq!(check(&p), Ok(()));
    }

    /// One mistake: the value at a JSON pointer replaced (or removed, for `Value::Null`), the
    /// error type, the node it is reported on, and text of its details.
    struct Case(
        &'static str,
        Value,
        &'static str,
        Option<&'static str>,
        &'static str,
    );

    fn apply(Case(pointer, value, ..): &Case) -> Map<String, Value> {
        let mut p = Value::Object(good());
        let (parent, key) = pointer.rsplit_once('/').unwrap_or_default();
        let target = p.pointer_mut(parent).and_then(Value::as_object_mut);
        if let Some(obj) = target {
            if value.is_null() {
                obj.remove(key);
            } else {
                obj.insert(key.to_owned(), value.clone());
            }
        }
        p.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn each_kind_of_mistake_is_refused_as_comfyui_refuses_it() {
        #[rustfmt::skip]
        let cases = [
            Case("/3/class_type", json!("KSamplerPlus"), "missing_node_type", None, "Node 'KSamplerPlus' not found"),
            Case("/3/inputs/cfg", Value::Null, "required_input_missing", Some("3"), "cfg"),
            Case("/3/inputs/positive", json!(["4", 1]), "return_type_mismatch", Some("3"), "positive, received_type(CLIP) mismatch input_type(CONDITIONING)"),
            Case("/3/inputs/model", json!(["4"]), "bad_linked_input", Some("3"), "model"),
            Case("/3/inputs/model", json!(["4", 7]), "exception_during_validation", Some("3"), "no output 7"),
            Case("/3/inputs/cfg", json!(500), "value_bigger_than_max", Some("3"), "cfg"),
            Case("/5/inputs/width", json!(8), "value_smaller_than_min", Some("5"), "width"),
            Case("/5/inputs/width", json!("wide"), "invalid_input_type", Some("5"), "width"),
            Case("/5/inputs/width", json!(512.5), "invalid_input_type", Some("5"), "width"),
            Case("/3/inputs/scheduler", json!("sideways"), "value_not_in_list", Some("3"), "scheduler: 'sideways' not in ['simple'"),
            Case("/3/inputs/sampler_name", json!("x"), "value_not_in_list", Some("3"), "(list of length"),
            Case("/4/inputs/ckpt_name", json!("gone.safetensors"), "value_not_in_list", Some("4"), "ckpt_name: 'gone.safetensors'"),
            Case("/10/inputs/image", json!("never-uploaded.png"), "custom_validation_failed", Some("10"), "image - Invalid image file: never-uploaded.png"),
            Case("/8/inputs/vae", json!("not a link"), "bad_linked_input", Some("8"), "vae"),
        ];
        for case in &cases {
            let (got, at, details) = refusal(&apply(case));
            assert_eq!((got.as_str(), at.as_deref()), (case.2, case.3), "{details}");
            assert!(details.contains(case.4), "{}: {details}", case.2);
        }
        let mut no_outputs = good();
        no_outputs.retain(|id, _| id != "9" && id != "11");
        assert_eq!(refusal(&no_outputs).0, "prompt_no_outputs");
    }

    #[test]
    fn a_node_no_output_needs_is_not_validated() {
        // ComfyUI validates only what an output depends on.
        let mut p = good();
        p.insert("50".into(), json!({"class_type": "KSampler", "inputs": {}}));
        assert_eq!(check(&p), Ok(()));
    }

    #[test]
    fn the_node_schemas_parse() {
        assert!(NODES.len() >= 20, "{}", NODES.len());
        assert!(NODES["SaveVideo"].output_node && !NODES["KSampler"].output_node);
    }
}
