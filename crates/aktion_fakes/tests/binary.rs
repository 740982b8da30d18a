//! The `aktion-fakes` binary prints one `export VAR=url` line per provider and serves on them.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn binary_prints_base_urls_for_every_provider() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aktion-fakes"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(5)
        .map(|l| l.expect("utf-8 line"))
        .collect();
    child.kill().expect("child stops");
    child.wait().expect("child reaped");

    for (line, var) in lines.iter().zip([
        "AKTION_REPLICATE_BASE_URL",
        "AKTION_RUNCOMFY_BASE_URL",
        "AKTION_A2E_BASE_URL",
        "AKTION_FAL_BASE_URL",
        "AKTION_COMFYUI_URL",
    ]) {
        assert!(
            line.starts_with(&format!("export {var}=http://127.0.0.1:")),
            "{line}"
        );
    }
    assert!(
        lines[0].ends_with("/v1"),
        "Replicate's base URL carries /v1: {}",
        lines[0]
    );
}
