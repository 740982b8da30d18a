//! The jobs panel: queued and running jobs with progress, elapsed time, time left and cancel,
//! per run. A panel with no state of its own: it reads the [`PanelCtx`] and pushes commands.

use aktion_graph::{Catalog, NodeId};
use eframe::egui;

use super::AppCommand;
use super::panel::PanelCtx;
use super::view::RunStatus;

/// The jobs panel.
pub fn jobs_ui(ui: &mut egui::Ui, cx: &mut PanelCtx<'_>) {
    let catalog = Catalog::builtin();
    let state = cx.state;
    let runs = cx.runs;
    let title_of = |id: NodeId| {
        state
            .doc
            .node(id)
            .map(|n| n.display_title(catalog).to_owned())
            .or_else(|| runs.resumed.get(&id).map(|s| s.title.clone()))
            .unwrap_or_else(|| "deleted node".to_owned())
    };
    let mut commands = Vec::new();
    let active = runs
        .status
        .values()
        .filter(|s| matches!(s, RunStatus::Queued | RunStatus::Running { .. }))
        .count();
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("Jobs").strong());
        let done = runs
            .status
            .values()
            .filter(|s| matches!(s, RunStatus::Done { .. }))
            .count();
        let failed = runs
            .status
            .values()
            .filter(|s| matches!(s, RunStatus::Failed(_)))
            .count();
        ui.label(format!(
            "{} run(s) · {active} active · {done} done · {failed} failed",
            runs.runs().len()
        ));
    });
    for run in runs.runs() {
        let jobs: Vec<(NodeId, RunStatus)> = run
            .jobs
            .iter()
            .filter_map(|id| {
                runs.status
                    .get(id)
                    .filter(|s| matches!(s, RunStatus::Queued | RunStatus::Running { .. }))
                    .map(|s| (*id, s.clone()))
            })
            .collect();
        ui.horizontal(|ui| {
            ui.label(egui::RichText::new(&run.label).strong());
            ui.label(format!("{} job(s) going", jobs.len()));
            if ui
                .small_button("Cancel run")
                .on_hover_text("Cancel every job of this run; other runs go on")
                .clicked()
            {
                commands.push(AppCommand::CancelRun(run.id));
            }
        });
        for (id, s) in jobs {
            ui.horizontal(|ui| {
                ui.add_space(12.0);
                ui.label(title_of(id));
                match s {
                    RunStatus::Running { fraction, message } => {
                        let typical = state
                            .doc
                            .node(id)
                            .and_then(|n| catalog.get(&n.kind))
                            .map_or(30, |k| k.typical_seconds);
                        let elapsed = runs
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
                if ui.small_button("Cancel").clicked() {
                    commands.push(AppCommand::CancelJob(id));
                }
            });
        }
    }
    orphans_ui(ui, &runs.orphans, &mut commands);
    for cmd in commands {
        cx.send(cmd);
    }
}

/// Results whose node was deleted while they ran, each with "Restore node".
fn orphans_ui(ui: &mut egui::Ui, orphans: &[super::runs::Orphan], commands: &mut Vec<AppCommand>) {
    for (i, orphan) in orphans.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!(
                "{}: finished after its node was deleted; the result is kept",
                orphan.title
            ));
            if ui.small_button("Restore node").clicked() {
                commands.push(AppCommand::RestoreOrphan(i));
            }
        });
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
