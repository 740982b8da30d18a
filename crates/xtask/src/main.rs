//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: installs what the tests need, then runs `cargo fmt --check`, clippy with
//!   `-D warnings` and every test of the workspace, in one shared target folder. `.ci/run` calls
//!   exactly this.
//!
//! Depends on nothing but std, so it builds in seconds.

use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("test") {
        eprintln!("usage: cargo xtask test");
        return ExitCode::from(2);
    }
    let result = test();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one step, echoing it and timing it.
fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
    eprintln!("<== {name}: {status} in {:.0?}", started.elapsed());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn test() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    step("format", &cargo, &["fmt", "--all", "--", "--check"])?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // One `cargo test` builds every test target once and also runs doc tests; a separate
    // `--doc` pass after nextest rebuilt half the workspace with other features (measured).
    step(
        "tests",
        &cargo,
        &["test", "--workspace", "--locked", "--no-fail-fast"],
    )?;
    Ok(())
}
