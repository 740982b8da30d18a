//! The jobs panel: queued and running jobs with progress, elapsed time, time left and cancel.

use aktion_graph::{Catalog, NodeId};
use eframe::egui;

use super::Studio;
use super::view::RunStatus;

impl Studio {
    pub(super) fn jobs_ui(&mut self, ui: &mut egui::Ui) {
        let active: Vec<(NodeId, RunStatus)> = self
            .status
            .iter()
            .filter(|(_, s)| matches!(s, RunStatus::Queued | RunStatus::Running { .. }))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new("Jobs").strong());
            let done = self
                .status
                .values()
                .filter(|s| matches!(s, RunStatus::Done { .. }))
                .count();
            let failed = self
                .status
                .values()
                .filter(|s| matches!(s, RunStatus::Failed(_)))
                .count();
            ui.label(format!(
                "{} active · {done} done · {failed} failed",
                active.len()
            ));
        });
        for (id, s) in active {
            ui.horizontal(|ui| {
                let title = self
                    .state
                    .doc
                    .node(id)
                    .map(|n| n.display_title(Catalog::builtin()).to_owned())
                    .unwrap_or_default();
                ui.label(title);
                match s {
                    RunStatus::Running { fraction, message } => {
                        let typical = self
                            .state
                            .doc
                            .node(id)
                            .and_then(|n| Catalog::builtin().get(&n.kind))
                            .map_or(30, |k| k.typical_seconds);
                        let elapsed = self
                            .started
                            .get(&id)
                            .map_or(0.0, |t| t.elapsed().as_secs_f32());
                        let text = format!("{message} · {}", eta_text(elapsed, fraction, typical));
                        ui.add(
                            egui::ProgressBar::new(fraction.unwrap_or(0.0))
                                .desired_width(260.0)
                                .text(text),
                        );
                    }
                    _ => {
                        ui.label("queued");
                    }
                }
                if ui.small_button("Cancel").clicked()
                    && let Some(r) = &self.run
                {
                    r.cancel_node(id);
                }
            });
        }
    }
}

/// "12 s · ~40 s left": elapsed time and an estimate from progress (or the kind's typical
/// duration while a provider reports none).
pub(super) fn eta_text(elapsed: f32, fraction: Option<f32>, typical_seconds: u32) -> String {
    let left = match fraction {
        Some(f) if f > 0.05 => elapsed * (1.0 - f) / f,
        _ => (typical_seconds as f32 - elapsed).max(0.0),
    };
    let fmt = |s: f32| {
        let s = s.round() as u64;
        if s >= 60 {
            format!("{} min {} s", s / 60, s % 60)
        } else {
            format!("{s} s")
        }
    };
    if left < 1.0 {
        format!("{} · finishing", fmt(elapsed))
    } else {
        format!("{} · ~{} left", fmt(elapsed), fmt(left))
    }
}
