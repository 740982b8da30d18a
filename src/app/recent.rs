//! Recent projects, kept in the platform config folder (`AKTION_CONFIG_DIR` overrides it), and
//! a place for new boards in the platform data folder.

use std::path::{Path, PathBuf};

/// How many recent projects are remembered.
pub const MAX_RECENT: usize = 8;

fn recent_file(dir: &Path) -> PathBuf {
    dir.join("recent.json")
}

/// The remembered projects, newest first; folders that no longer exist are left out.
pub fn load_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(bytes) = std::fs::read(recent_file(dir)) else {
        return Vec::new();
    };
    let list: Vec<PathBuf> = serde_json::from_slice(&bytes).unwrap_or_default();
    list.into_iter()
        .filter(|p| p.exists())
        .take(MAX_RECENT)
        .collect()
}

/// Puts `project` first in the list (atomically written).
pub fn remember_in(dir: &Path, project: &Path) -> std::io::Result<()> {
    let mut list = load_in(dir);
    let project = project
        .canonicalize()
        .unwrap_or_else(|_| project.to_path_buf());
    list.retain(|p| *p != project);
    list.insert(0, project);
    list.truncate(MAX_RECENT);
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec_pretty(&list).map_err(std::io::Error::other)?;
    aktion_graph::project::atomic_write(&recent_file(dir), &text)
}

/// A fresh folder for a new board: `Untitled N.aktion` under the platform data folder (or
/// `AKTION_PROJECTS_DIR`).
pub fn new_project_dir() -> PathBuf {
    let base = match std::env::var_os("AKTION_PROJECTS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => directories::ProjectDirs::from("studio", "Aktion", "Aktion Studio")
            .map_or_else(|| PathBuf::from("."), |d| d.data_dir().join("Boards")),
    };
    (1..10_000)
        .map(|n| base.join(format!("Untitled {n}.aktion")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| base.join("Untitled.aktion"))
}

/// Whether a finished job is worth a desktop notification: it ran (not cached) for a minute or
/// more while the window was not focused (PRODUCT.md §4.3).
pub fn should_notify(ran_secs: u64, cached: bool, focused: bool) -> bool {
    ran_secs >= 60 && !cached && !focused
}

/// The command that shows a desktop notification: `osascript` on macOS, `notify-send`
/// elsewhere.
pub fn notify_command(title: &str, body: &str) -> std::process::Command {
    if cfg!(target_os = "macos") {
        let script = format!(
            "display notification {:?} with title {:?}",
            body.replace('"', "'"),
            title.replace('"', "'")
        );
        let mut c = std::process::Command::new("osascript");
        c.args(["-e", &script]);
        c
    } else {
        let mut c = std::process::Command::new("notify-send");
        c.args(["--app-name=Aktion Studio", title, body]);
        c
    }
}

/// Tells the desktop that a long job finished (best effort; nothing happens where there is no
/// notification service). Never blocks the UI: the child is not waited for beyond its start.
pub fn notify(spawner: &super::task::Spawner, title: &str, body: &str) {
    if let Ok(mut child) = notify_command(title, body).spawn() {
        // Reap it off the UI thread so no zombie is left behind.
        spawner.detach(move || {
            let _ = child.wait();
        });
    }
}

/// Shows a file in the platform's file manager (best effort, never blocks).
pub fn reveal(spawner: &super::task::Spawner, path: &Path) {
    let child = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
            .arg("-R")
            .arg(path)
            .spawn()
    } else if cfg!(target_os = "windows") {
        std::process::Command::new("explorer")
            .arg(format!("/select,{}", path.display()))
            .spawn()
    } else {
        let dir = path.parent().unwrap_or(path);
        std::process::Command::new("xdg-open").arg(dir).spawn()
    };
    match child {
        Ok(mut child) => spawner.detach(move || {
            let _ = child.wait();
        }),
        Err(e) => tracing::warn!("cannot open the file manager: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_uncached_jobs_finishing_unfocused_notify() {
        assert!(should_notify(61, false, false));
        assert!(!should_notify(59, false, false), "short jobs do not");
        assert!(!should_notify(600, true, false), "cache hits do not");
        assert!(!should_notify(600, false, true), "the user is looking");
    }

    #[test]
    fn the_notification_names_the_app_and_the_node() {
        let c = notify_command("Aktion Studio", "Epic scene: the showdown is done");
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if cfg!(target_os = "macos") {
            assert_eq!(c.get_program(), "osascript");
            assert!(args[1].contains("Epic scene: the showdown is done"));
        } else {
            assert_eq!(c.get_program(), "notify-send");
            assert_eq!(
                args,
                [
                    "--app-name=Aktion Studio",
                    "Aktion Studio",
                    "Epic scene: the showdown is done"
                ]
            );
        }
    }

    #[test]
    fn recent_projects_are_newest_first_unique_bounded_and_existing() {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = dir.path().join("config");
        let projects: Vec<PathBuf> = (0..10)
            .map(|i| {
                let p = dir.path().join(format!("p{i}.aktion"));
                std::fs::create_dir_all(&p).expect("mkdir");
                p
            })
            .collect();
        for p in &projects {
            remember_in(&cfg, p).expect("remember");
        }
        remember_in(&cfg, &projects[9]).expect("again");
        let list = load_in(&cfg);
        assert_eq!(list.len(), MAX_RECENT);
        assert!(list[0].ends_with("p9.aktion"));
        assert!(list[1].ends_with("p8.aktion"));
        std::fs::remove_dir_all(&projects[8]).expect("rm");
        assert!(
            !load_in(&cfg).iter().any(|p| p.ends_with("p8.aktion")),
            "gone folders drop out"
        );
        std::fs::write(recent_file(&cfg), b"{garbage").expect("corrupt");
        assert!(load_in(&cfg).is_empty(), "a corrupt list reads as empty");
    }
}
