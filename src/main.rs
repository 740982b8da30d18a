//! Aktion Studio: the desktop app and its command line. `main` only parses arguments, sets up
//! logging and hands over.

use std::process::ExitCode;

use aktion::{app, cli, examples};

use clap::Parser as _;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AKTION_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Usage errors are unusable input (exit 2); --help and --version are successes.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        None => app::run(None),
        Some(cli::Command::Open { project }) => app::run(Some(project)),
        Some(cli::Command::Run {
            project,
            nodes,
            route,
            json,
            no_save,
        }) => cli::run(
            &project,
            &nodes,
            route.as_deref(),
            json,
            if no_save {
                cli::Keep::Nothing
            } else {
                cli::Keep::Takes
            },
        ),
        Some(cli::Command::Validate { project, json }) => cli::validate(&project, json),
        Some(cli::Command::Cost {
            project,
            nodes,
            route,
            json,
        }) => cli::cost(&project, &nodes, route.as_deref(), json),
        Some(cli::Command::Cache { action }) => cli::cache(&action),
        Some(cli::Command::ImportShots {
            project,
            file,
            template,
            route,
            json,
        }) => cli::import_shots(&project, &file, &template, route.as_deref(), json),
        Some(cli::Command::Conform {
            project,
            edit,
            json,
        }) => cli::conform(&project, &edit, json),
        Some(cli::Command::Export {
            project,
            format,
            out,
            size,
            panels,
            json,
        }) => cli::export(&project, &format, &out, size.as_deref(), panels, json),
        Some(cli::Command::MakeExample { which, dir }) => examples::make(&which, &dir),
    };
    cli::exit(result)
}
