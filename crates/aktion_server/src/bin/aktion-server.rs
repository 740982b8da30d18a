//! `aktion-server`: serve the account API, or run an admin command against its database.

use std::net::SocketAddr;
use std::path::PathBuf;

use aktion_server::{AppState, Config, auth, ledger};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "aktion-server",
    version,
    about = "Aktion Studio account backend"
)]
struct Cli {
    /// `sqlite://FILE` or `postgres://…`; default: a SQLite file under the platform data folder.
    #[arg(long, env = "AKTION_DATABASE_URL", global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "AKTION_BIND", default_value = "127.0.0.1:8787")]
        bind: SocketAddr,
        /// Credits given to each new account.
        #[arg(long, env = "AKTION_STARTER_CREDITS", default_value_t = 20)]
        starter_credits: i64,
    },
    /// Administration commands.
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Create an account. The password comes from `AKTION_NEW_USER_PASSWORD`, or a random one is
    /// printed once.
    CreateUser {
        email: String,
        #[arg(long)]
        admin: bool,
    },
    /// Add credits to an account (a ledger grant).
    GrantCredits { email: String, credits: i64 },
    /// Check the schema and the ledger's invariants.
    Doctor,
}

fn default_database_url() -> Result<String> {
    let dirs = directories::ProjectDirs::from("com", "Aktion", "aktion-server")
        .context("no platform data folder; set AKTION_DATABASE_URL")?;
    let dir: PathBuf = dirs.data_dir().to_path_buf();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data folder {}", dir.display()))?;
    Ok(format!("sqlite://{}", dir.join("aktion.db").display()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let url = match cli.database_url {
        Some(url) => url,
        None => default_database_url()?,
    };
    match cli.command {
        Command::Serve {
            bind,
            starter_credits,
        } => serve(&url, bind, starter_credits).await,
        Command::Admin { command } => admin(&url, command).await,
    }
}

async fn serve(url: &str, bind: SocketAddr, starter_credits: i64) -> Result<()> {
    let config = Config {
        starter_grant: starter_credits,
        ..Config::default()
    };
    let (state, released) = aktion_server::start(url, config)
        .await
        .context("opening the database")?;
    if released > 0 {
        tracing::warn!("released {released} reservation(s) left open by a stopped server");
    }
    if state.db.kind == aktion_server::DbKind::Postgres {
        // Other instances may share the database: settle expired leases from time to time.
        let db = state.db.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = ledger::settle_abandoned(&db, ledger::Abandoned::LeaseExpired).await
                {
                    tracing::error!("settling expired reservations: {e:#}");
                }
            }
        });
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(
        "aktion-server listening on http://{} ({})",
        listener.local_addr()?,
        state.db.kind.name()
    );
    axum::serve(
        listener,
        aktion_server::app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM from a service manager or container runtime.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::warn!("no SIGTERM handler: {e:#}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

async fn admin(url: &str, command: Admin) -> Result<()> {
    let (state, _) = aktion_server::start(url, Config::default())
        .await
        .context("opening the database")?;
    let state: AppState = state;
    let db = &state.db;
    match command {
        Admin::CreateUser { email, admin } => {
            let (password, generated) = match std::env::var("AKTION_NEW_USER_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ => {
                    let (token, _) = auth::new_token()?;
                    (token[..24].to_owned(), true)
                }
            };
            let user = auth::create_user(
                db,
                &email,
                &password,
                admin,
                state.config.starter_grant,
                state.config.password_cost,
            )
            .await?;
            println!(
                "created {} (id {}, admin: {}, balance {})",
                user.email, user.id, user.is_admin, user.balance
            );
            if generated {
                println!("password (shown once): {password}");
            }
        }
        Admin::GrantCredits { email, credits } => {
            let user = auth::user_by_email(db, &email)
                .await?
                .with_context(|| format!("no account {email}"))?;
            let granted = ledger::grant(db, user.id, credits, "admin grant-credits", None).await?;
            println!("{}: balance {}", user.email, granted.balance);
        }
        Admin::Doctor => {
            println!("database: {} (connected)", db.kind.name());
            let mut ok = true;
            for (version, description, applied) in db.migration_status().await? {
                println!(
                    "migration {version} {description}: {}",
                    if applied { "applied" } else { "MISSING" }
                );
                ok &= applied;
            }
            let violations = ledger::check_invariants(db).await?;
            for v in &violations {
                println!("ledger: {v}");
            }
            println!("ledger invariants: {} violation(s)", violations.len());
            if !ok || !violations.is_empty() {
                bail!("doctor found problems");
            }
            println!("ok");
        }
    }
    Ok(())
}
