//! Settings → **Inputs & deployments** (issue #15): where A2E's local inputs are hosted (an
//! S3-compatible bucket, fal's storage, A2E's undocumented upload only when turned on), and the
//! studio's own RunComfy deployments: each RunComfy kind's deployment id and where each of its
//! inputs goes in the deployment's workflow (node id and input name), checked against the
//! deployed workflow through RunComfy's management API when the key allows.
//!
//! The forms live here; the window asks for writes and checks with [`SettingsRequest`]s, which
//! run on the app's runtime like every other Settings request.

use std::collections::BTreeMap;

use aktion_graph::{Catalog, PortType};
use aktion_providers::{Encode, FieldMap, KindConfig, ProvidersConfig, Target};

use super::AppCommand;
use super::settings::SettingsRequest;
use crate::setup::{DeploymentMapping, Prefs};

/// The input-hosting form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostingForm {
    pub bucket: String,
    pub endpoint: String,
    pub region: String,
    /// Typed, not saved yet (kept in the secret store when saved; cleared then).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub a2e_presigned_upload: bool,
}

impl HostingForm {
    pub fn from_prefs(prefs: &Prefs) -> Self {
        Self {
            bucket: prefs.input_bucket.clone().unwrap_or_default(),
            endpoint: prefs.input_bucket_endpoint.clone().unwrap_or_default(),
            region: prefs.input_bucket_region.clone().unwrap_or_default(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            a2e_presigned_upload: prefs.a2e_presigned_upload,
        }
    }

    /// Writes the form into `prefs`; an error when the bucket address is not one.
    pub fn apply(&self, prefs: &mut Prefs) -> Result<(), String> {
        let bucket = self.bucket.trim();
        if !bucket.is_empty()
            && aktion_providers::hosting::BucketConfig::parse_url(bucket).is_none()
        {
            return Err(format!(
                "`{bucket}` is not a bucket address (e.g. s3://studio-inputs/aktion)"
            ));
        }
        let endpoint = self.endpoint.trim().trim_end_matches('/');
        let address = endpoint.starts_with("https://") || endpoint.starts_with("http://");
        if !endpoint.is_empty() && !address {
            return Err(format!(
                "`{endpoint}` is not an address (e.g. https://s3.eu-central-1.amazonaws.com)"
            ));
        }
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        prefs.input_bucket = some(bucket);
        prefs.input_bucket_endpoint = some(endpoint);
        prefs.input_bucket_region = some(&self.region);
        prefs.a2e_presigned_upload = self.a2e_presigned_upload;
        Ok(())
    }
}

/// One row of a deployment mapping: a kind input or parameter → node id and input name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappingRow {
    pub from: String,
    pub node: String,
    pub input: String,
}

/// A RunComfy kind's deployment form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploymentForm {
    pub deployment_id: String,
    pub rows: Vec<MappingRow>,
}

impl DeploymentForm {
    fn from_config(kind: &KindConfig) -> Self {
        let deployment_id = match &kind.target {
            Target::RunComfy { deployment_id } => deployment_id.clone(),
            _ => String::new(),
        };
        Self {
            deployment_id,
            rows: kind
                .inputs
                .iter()
                .map(|m| {
                    let mut parts = m.to.splitn(3, '/');
                    let node = parts.next().unwrap_or_default().to_owned();
                    let _inputs = parts.next();
                    MappingRow {
                        from: m.from.clone(),
                        node,
                        input: parts.next().unwrap_or_default().to_owned(),
                    }
                })
                .collect(),
        }
    }

    /// The mapping as the provider configuration takes it. `shipped` lends each row its
    /// encoding (e.g. Sequence's size → width and height) and whether it is required.
    pub fn to_mapping(&self, shipped: &KindConfig) -> Result<DeploymentMapping, String> {
        let mut inputs = Vec::new();
        for row in &self.rows {
            let (from, node, input) = (row.from.trim(), row.node.trim(), row.input.trim());
            if from.is_empty() && node.is_empty() && input.is_empty() {
                continue;
            }
            let valid = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
            };
            if !valid(from) || !valid(node) || !valid(input) {
                return Err(format!(
                    "each row needs an input, a node id and an input name (`{from}` → `{node}` / `{input}`)"
                ));
            }
            let like = shipped
                .inputs
                .iter()
                .find(|m| m.from == from && m.to.rsplit('/').next() == Some(input))
                .or_else(|| shipped.inputs.iter().find(|m| m.from == from));
            let mut map = FieldMap::new(from, &format!("{node}/inputs/{input}"));
            if let Some(like) = like {
                map.required = like.required;
                if like.to.rsplit('/').next() == Some(input) {
                    map.encode = like.encode.clone();
                }
            } else {
                map.encode = Encode::Json;
            }
            inputs.push(map);
        }
        Ok(DeploymentMapping {
            deployment_id: self.deployment_id.trim().to_owned(),
            inputs,
        })
    }
}

/// The shipped RunComfy kinds (`sequence`, `coherent_scene`), as the defaults have them.
pub fn shipped_runcomfy_kinds() -> BTreeMap<String, KindConfig> {
    aktion_providers::config::default_kinds()
        .into_iter()
        .filter(|(_, k)| matches!(k.target, Target::RunComfy { .. }))
        .collect()
}

/// The forms for each RunComfy kind: the saved mapping, else the shipped one.
pub fn forms(
    prefs: &Prefs,
    shipped: &BTreeMap<String, KindConfig>,
) -> BTreeMap<String, DeploymentForm> {
    shipped
        .iter()
        .map(|(kind, cfg)| {
            let mut config = ProvidersConfig::from_lookup(|_| None);
            config.kinds.insert(kind.clone(), cfg.clone());
            if let Some(saved) = prefs.deployments.get(kind) {
                config.map_deployment(kind, &saved.deployment_id, &saved.inputs);
            }
            (
                kind.clone(),
                DeploymentForm::from_config(&config.kinds[kind]),
            )
        })
        .collect()
}

/// What a row of `kind` can map: its inputs (a list input item by item) and parameters.
fn mappable(kind: &str) -> Vec<String> {
    let Some(schema) = Catalog::builtin().get(kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for input in &schema.inputs {
        if input.ty == PortType::ImageList {
            out.extend((1..=6).map(|i| format!("image_{i}")));
        } else {
            out.push(input.id.clone());
        }
    }
    for p in &schema.params {
        if !out.contains(&p.id) {
            out.push(p.id.clone());
        }
    }
    out
}

/// The window's state for this tab.
#[derive(Debug, Default)]
pub struct DeploymentsUi {
    pub hosting: HostingForm,
    pub forms: BTreeMap<String, DeploymentForm>,
    /// The shipped mapping per RunComfy kind (read once, when the tab first opens).
    pub shipped: BTreeMap<String, KindConfig>,
    /// The last check of each kind's mapping: whether it lands, and what was found.
    pub checks: BTreeMap<String, (bool, Vec<String>)>,
    pub checking: std::collections::BTreeSet<String>,
    loaded: bool,
}

impl DeploymentsUi {
    /// Fills the forms from the settings (once).
    pub fn load(&mut self, prefs: &Prefs) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        self.shipped = shipped_runcomfy_kinds();
        self.hosting = HostingForm::from_prefs(prefs);
        self.forms = forms(prefs, &self.shipped);
    }

    /// The form of `kind` back to the shipped mapping.
    pub fn reset(&mut self, kind: &str) {
        if let Some(cfg) = self.shipped.get(kind) {
            self.forms
                .insert(kind.to_owned(), DeploymentForm::from_config(cfg));
        }
        self.checks.remove(kind);
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>, env_bucket: bool) {
        egui::ScrollArea::vertical()
            .max_height(520.0)
            .show(ui, |ui| {
                self.hosting_ui(ui, commands, env_bucket);
                ui.add_space(6.0);
                ui.separator();
                self.deployments_ui(ui, commands);
            });
    }

    fn hosting_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>, env_bucket: bool) {
        ui.label(egui::RichText::new("Input hosting").strong());
        ui.label(
            egui::RichText::new(
                "A2E takes inputs only as public URLs. Local inputs go to your S3-compatible \
                 bucket (presigned links that expire), else to fal's storage when a fal key is \
                 set. With neither, those nodes stop before anything is sent.",
            )
            .weak(),
        );
        let h = &mut self.hosting;
        egui::Grid::new("input-hosting")
            .num_columns(2)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                for (label, value, hint, secret) in [
                    ("Bucket", &mut h.bucket, "s3://studio-inputs/aktion", false),
                    (
                        "Bucket endpoint",
                        &mut h.endpoint,
                        "empty for AWS; https://… for R2, MinIO, B2",
                        false,
                    ),
                    ("Bucket region", &mut h.region, "us-east-1", false),
                    (
                        "Access key id",
                        &mut h.access_key_id,
                        "kept in the keychain",
                        true,
                    ),
                    (
                        "Secret access key",
                        &mut h.secret_access_key,
                        "kept in the keychain",
                        true,
                    ),
                ] {
                    let l = ui.label(label).id;
                    ui.add(
                        egui::TextEdit::singleline(value)
                            .password(secret)
                            .hint_text(hint)
                            .desired_width(300.0),
                    )
                    .labelled_by(l);
                    ui.end_row();
                }
            });
        ui.checkbox(
            &mut h.a2e_presigned_upload,
            "Use A2E's own upload (not in A2E's documentation; may stop working)",
        );
        ui.horizontal(|ui| {
            if ui.button("Save hosting").clicked() {
                commands.push(AppCommand::Settings(SettingsRequest::SaveHosting));
            }
        });
        if env_bucket {
            ui.label(
                egui::RichText::new("AKTION_INPUT_BUCKET is set in the environment and wins.")
                    .weak()
                    .small(),
            );
        }
    }

    fn deployments_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>) {
        ui.label(egui::RichText::new("RunComfy deployments").strong());
        ui.label(
            egui::RichText::new(
                "Each kind runs on a deployment of your RunComfy account. Map its inputs to the \
                 node ids and input names of the deployed workflow (as in its API export); \
                 Check reads the workflow through RunComfy's management API.",
            )
            .weak(),
        );
        let kinds: Vec<String> = self.forms.keys().cloned().collect();
        for kind in kinds {
            let title = Catalog::builtin()
                .get(&kind)
                .map_or(kind.as_str(), |k| k.title.as_str())
                .to_owned();
            let options = mappable(&kind);
            ui.add_space(4.0);
            ui.label(egui::RichText::new(&title).strong());
            let Some(form) = self.forms.get_mut(&kind) else {
                continue;
            };
            ui.horizontal(|ui| {
                let l = ui.label(format!("{title} deployment")).id;
                ui.add(
                    egui::TextEdit::singleline(&mut form.deployment_id)
                        .hint_text("deployment id")
                        .desired_width(300.0),
                )
                .labelled_by(l);
            });
            let remove = mapping_grid(ui, &kind, &title, form, &options);
            if let Some(i) = remove {
                form.rows.remove(i);
            }
            ui.horizontal(|ui| {
                if ui.button(format!("Map an input of {title}")).clicked() {
                    form.rows.push(MappingRow::default());
                }
                let busy = self.checking.contains(&kind);
                if ui
                    .add_enabled(
                        !busy,
                        egui::Button::new(if busy {
                            "Checking…".to_owned()
                        } else {
                            format!("Check {title}")
                        }),
                    )
                    .clicked()
                {
                    commands.push(AppCommand::Settings(SettingsRequest::CheckDeployment(
                        kind.clone(),
                    )));
                }
                if ui.button(format!("Save {title}")).clicked() {
                    commands.push(AppCommand::Settings(SettingsRequest::SaveDeployment(
                        kind.clone(),
                    )));
                }
                if ui.button(format!("Reset {title}")).clicked() {
                    commands.push(AppCommand::Settings(SettingsRequest::ResetDeployment(
                        kind.clone(),
                    )));
                }
            });
            if let Some((ok, lines)) = self.checks.get(&kind) {
                let color = if *ok {
                    egui::Color32::from_rgb(120, 200, 140)
                } else {
                    egui::Color32::from_rgb(240, 160, 110)
                };
                for line in lines {
                    ui.label(egui::RichText::new(line).color(color));
                }
            }
        }
    }
}

/// The rows of a kind's mapping; returns the row whose remove button was pressed.
fn mapping_grid(
    ui: &mut egui::Ui,
    kind: &str,
    title: &str,
    form: &mut DeploymentForm,
    options: &[String],
) -> Option<usize> {
    let mut remove = None;
    egui::Grid::new(("mapping", kind))
        .num_columns(5)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            for (i, row) in form.rows.iter_mut().enumerate() {
                let l = ui.label(format!("input {}", i + 1)).on_hover_text(title).id;
                egui::ComboBox::from_id_salt(("from", kind, i))
                    .selected_text(if row.from.is_empty() {
                        "input…"
                    } else {
                        &row.from
                    })
                    .width(110.0)
                    .show_ui(ui, |ui| {
                        for o in options {
                            ui.selectable_value(&mut row.from, o.clone(), o);
                        }
                    })
                    .response
                    .labelled_by(l);
                ui.add(
                    egui::TextEdit::singleline(&mut row.node)
                        .hint_text("node id")
                        .desired_width(50.0),
                )
                .labelled_by(l)
                .on_hover_text(format!("{title}: node id for {}", row.from));
                ui.add(
                    egui::TextEdit::singleline(&mut row.input)
                        .hint_text("input name")
                        .min_size(egui::vec2(110.0, 0.0))
                        .desired_width(110.0),
                )
                .labelled_by(l)
                .on_hover_text(format!("{title}: input name for {}", row.from));
                if ui
                    .small_button("Remove")
                    .on_hover_text("Remove this row")
                    .clicked()
                {
                    remove = Some(i);
                }
                ui.end_row();
            }
        });
    remove
}

/// Checks `kind`'s mapping as the form has it against the deployed workflow.
pub async fn check(
    providers: aktion_providers::Providers,
    shipped: KindConfig,
    form: DeploymentForm,
) -> (bool, Vec<String>) {
    let mapping = match form.to_mapping(&shipped) {
        Ok(m) => m,
        Err(e) => return (false, vec![e]),
    };
    if mapping.deployment_id.is_empty() {
        return (false, vec!["no deployment id".to_owned()]);
    }
    let mut kind = shipped;
    kind.target = Target::RunComfy {
        deployment_id: mapping.deployment_id.clone(),
    };
    if !mapping.inputs.is_empty() {
        kind.inputs = mapping.inputs;
    }
    match providers.deployment_workflow(&mapping.deployment_id).await {
        Ok(Some(workflow)) => {
            let problems = aktion_providers::runcomfy::mapping_problems(&workflow, &kind);
            if problems.is_empty() {
                (
                    true,
                    vec![format!(
                        "every input lands on deployment {}'s workflow",
                        mapping.deployment_id
                    )],
                )
            } else {
                (false, problems)
            }
        }
        Ok(None) => (
            true,
            vec![
                "this key cannot read the deployment's workflow: the mapping is taken as given"
                    .to_owned(),
            ],
        ),
        Err(e) => (false, vec![e.to_string()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_round_trip_through_the_settings_and_keep_encodings() {
        let shipped = shipped_runcomfy_kinds();
        assert_eq!(
            shipped.keys().map(String::as_str).collect::<Vec<_>>(),
            ["coherent_scene", "sequence"]
        );
        let prefs = Prefs::default();
        let forms = forms(&prefs, &shipped);
        let seq = &forms["sequence"];
        assert!(
            seq.rows
                .iter()
                .any(|r| r.from == "first_frame" && r.node == "52" && r.input == "image")
        );
        let mut edited = seq.clone();
        edited.deployment_id = "studio-wan".into();
        for row in &mut edited.rows {
            if row.from == "prompt" {
                row.node = "16".into();
            }
        }
        let mapping = edited.to_mapping(&shipped["sequence"]).expect("valid");
        assert_eq!(mapping.deployment_id, "studio-wan");
        let prompt = mapping
            .inputs
            .iter()
            .find(|m| m.from == "prompt")
            .expect("prompt");
        assert_eq!(prompt.to, "16/inputs/text");
        // The size rows keep their lookup tables; the frames stay required.
        let width = mapping
            .inputs
            .iter()
            .find(|m| m.from == "size" && m.to.ends_with("/width"))
            .expect("width");
        assert!(matches!(width.encode, Encode::Lookup(_)));
        assert!(
            mapping
                .inputs
                .iter()
                .find(|m| m.from == "first_frame")
                .expect("ff")
                .required
        );

        let mut prefs = Prefs::default();
        prefs.deployments.insert("sequence".into(), mapping);
        let again = super::forms(&prefs, &shipped);
        assert_eq!(again["sequence"], edited);

        // Half-filled rows are refused with what is missing.
        let mut bad = edited;
        bad.rows.push(MappingRow {
            from: "prompt".into(),
            node: String::new(),
            input: "text".into(),
        });
        assert!(bad.to_mapping(&shipped["sequence"]).is_err());
        // Epic Scene's prompt can be mapped (its list items are image_1..image_6).
        assert!(mappable("coherent_scene").contains(&"prompt".to_owned()));
        assert!(mappable("coherent_scene").contains(&"image_6".to_owned()));
    }

    #[test]
    fn hosting_refuses_what_is_not_an_address() {
        let mut prefs = Prefs::default();
        let mut form = HostingForm {
            bucket: "studio inputs".into(),
            ..HostingForm::default()
        };
        assert!(form.apply(&mut prefs).is_err());
        form.bucket = "s3://studio-inputs/aktion".into();
        form.endpoint = "minio:9000".into();
        assert!(form.apply(&mut prefs).is_err());
        form.endpoint = "http://127.0.0.1:9000/".into();
        form.a2e_presigned_upload = true;
        form.apply(&mut prefs).expect("valid");
        assert_eq!(
            prefs.input_bucket.as_deref(),
            Some("s3://studio-inputs/aktion")
        );
        assert_eq!(
            prefs.input_bucket_endpoint.as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert!(prefs.a2e_presigned_upload);
        assert_eq!(prefs.input_bucket_region, None);
    }
}
