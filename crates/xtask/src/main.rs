//! Project tasks, run as `cargo xtask <task>`:
//!
//! - `test`: installs what the tests need, then runs `cargo fmt --check`, clippy with
//!   `-D warnings` and every test of the workspace, in one shared target folder. `.ci/run` calls
//!   exactly this.
//!
//! Depends on nothing but std, so it builds in seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("postgres-check") => postgres_check(),
        _ => {
            eprintln!("usage: cargo xtask test | postgres-check");
            return ExitCode::from(2);
        }
    };
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
    step_env(name, program, args, &[])
}

fn step_env(name: &str, program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("==> {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
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
    // The account server's tests run against SQLite always and against a real PostgreSQL
    // started here (AKTION_TEST_POSTGRES_URL names one that already runs).
    let postgres = if Path::new("crates/aktion_server").is_dir() {
        Postgres::start()?
    } else {
        None
    };
    let url = std::env::var("AKTION_TEST_POSTGRES_URL")
        .ok()
        .or_else(|| postgres.as_ref().map(|p| p.url.clone()));
    let env: Vec<(&str, &str)> = url
        .as_deref()
        .map(|u| vec![("AKTION_TEST_POSTGRES_URL", u)])
        .unwrap_or_default();
    let result = step_env(
        "tests",
        &cargo,
        &["test", "--workspace", "--locked", "--no-fail-fast"],
        &env,
    );
    drop(postgres);
    result
}

/// Starts the test PostgreSQL, asks it a question and stops it (to check a machine's set-up).
fn postgres_check() -> Result<(), String> {
    let pg = Postgres::start()?.ok_or("no PostgreSQL available")?;
    step(
        "query",
        &pg.bin.join("psql").to_string_lossy(),
        &[&pg.url, "-c", "select version()"],
    )
}

/// A throwaway PostgreSQL cluster under `target/`, stopped and removed on drop.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    url: String,
}

impl Postgres {
    /// Installs Debian's server package when missing (CI runs as root), then initialises and
    /// starts a cluster on a free loopback port. `None` (with a note) where that is impossible,
    /// so the PostgreSQL tests skip instead of failing on a developer's laptop.
    fn start() -> Result<Option<Self>, String> {
        if std::env::var_os("AKTION_TEST_POSTGRES_URL").is_some() {
            return Ok(None);
        }
        let Some(bin) = postgres_bin().or_else(|| {
            install_postgres();
            postgres_bin()
        }) else {
            eprintln!("note: no PostgreSQL server found or installable; its tests will skip");
            return Ok(None);
        };
        let root = std::env::current_dir()
            .map_err(|e| e.to_string())?
            .join("target/xtask-postgres");
        let _ = std::fs::remove_dir_all(&root);
        let data = root.join("data");
        std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        // initdb refuses to run as root: run the server as the `postgres` user when we are root.
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_root {
            let _ = Command::new("chown")
                .args(["-R", "postgres", &root.to_string_lossy()])
                .status();
        }
        let run = |program: &Path, args: &[&str]| -> Result<(), String> {
            let mut cmd = if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            let status = cmd
                .args(args)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("{}: {e}", program.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} {} failed ({status})",
                    program.display(),
                    args.join(" ")
                ))
            }
        };
        let data_s = data.to_string_lossy().into_owned();
        let root_s = root.to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let opts = format!("-p {port} -k {root_s} -c listen_addresses=127.0.0.1 -c fsync=off");
        let log = root.join("server.log").to_string_lossy().into_owned();
        run(
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        )?;
        let pg = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/aktion_test"),
            bin,
            data,
        };
        run(
            &pg.bin.join("createdb"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "aktion_test",
            ],
        )?;
        eprintln!("==> PostgreSQL for the tests at {}", pg.url);
        Ok(Some(pg))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let ctl = self.bin.join("pg_ctl");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&ctl)
            .args(["-D", &data, "-m", "fast", "stop"])
            .stdout(Stdio::null())
            .status()
            .or_else(|_| {
                Command::new(&ctl)
                    .args(["-D", &data, "-m", "fast", "stop"])
                    .stdout(Stdio::null())
                    .status()
            });
    }
}

/// The newest installed server's `bin` folder (Debian keeps them per version).
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn install_postgres() {
    if Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        return;
    }
    eprintln!("==> installing PostgreSQL (apt-get) for the server tests");
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(&["install", "-y", "-q", "postgresql"]) {
        quiet(&["update", "-q"]);
        quiet(&["install", "-y", "-q", "postgresql"]);
    }
}
