//! `aktion-server`: serve the account API, or run an admin command against its database.

use std::net::SocketAddr;
use std::path::PathBuf;

use aktion_server::{AppState, Config, auth, beta, ledger, training};
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
    /// `file:///DIR` or `s3://BUCKET[/PREFIX]` (S3 credentials, region and endpoint from the
    /// usual `AWS_*` variables); default: a blob folder under the platform data folder.
    #[arg(long, env = "AKTION_STORAGE_URL", global = true)]
    storage_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once at start")]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "AKTION_BIND", default_value = "127.0.0.1:8787")]
        bind: SocketAddr,
        /// Credits given to each new account once its email address is verified. 0 by default.
        #[arg(long, env = "AKTION_STARTER_CREDITS", default_value_t = 0,
              value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
        starter_credits: i64,
        #[command(flatten)]
        limits: LimitArgs,
        /// Where providers can reach this server (for signed input URLs), e.g.
        /// `https://api.example.com`; without it inputs are sent to providers as bytes.
        #[arg(long, env = "AKTION_PUBLIC_URL")]
        public_url: Option<String>,
        /// Seconds a generation stays with this instance without a renewal; after that another
        /// instance (or this one after a restart) picks it up.
        #[arg(long, env = "AKTION_GENERATION_LEASE_SECS", default_value_t = 120,
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        generation_lease_secs: u64,
        /// Accept requests but run no generation here: instances sharing one PostgreSQL with
        /// this one pick them up (within their sweep interval).
        #[arg(long, env = "AKTION_API_ONLY")]
        api_only: bool,
        #[command(flatten)]
        mail: MailArgs,
        #[command(flatten)]
        billing: BillingArgs,
    },
    /// Administration commands.
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
}

/// Stripe (PRODUCT.md §5.6). Without the key and the webhook secret billing answers 503.
#[derive(clap::Args)]
#[expect(
    clippy::struct_field_names,
    reason = "the flags' own names (--stripe-…)"
)]
struct BillingArgs {
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    stripe_secret_key: Option<String>,
    /// The webhook endpoint's signing secret; several, comma-separated, while rotating.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    stripe_webhook_secret: Option<String>,
    #[arg(
        long,
        env = "AKTION_STRIPE_BASE_URL",
        default_value = "https://api.stripe.com"
    )]
    stripe_base_url: String,
    /// The monthly membership's recurring price id.
    #[arg(long, env = "STRIPE_MEMBERSHIP_PRICE")]
    stripe_membership_price: Option<String>,
    /// Credits each paid membership month grants.
    #[arg(long, env = "STRIPE_MEMBERSHIP_CREDITS", default_value_t = 1000,
          value_parser = clap::value_parser!(i64).range(0..=10_000_000))]
    stripe_membership_credits: i64,
    /// Credit packs on sale: `price_…:500,price_…:1200`.
    #[arg(long, env = "STRIPE_CREDIT_PACKS", default_value = "")]
    stripe_credit_packs: String,
    /// The data-sharing member's 10 % coupon (made through the API when missing).
    #[arg(long, env = "STRIPE_MEMBER_COUPON", default_value = "aktion-member-10")]
    stripe_member_coupon: String,
}

impl std::fmt::Debug for BillingArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillingArgs").finish_non_exhaustive()
    }
}

impl BillingArgs {
    fn config(self) -> Result<Option<aktion_server::billing::BillingConfig>> {
        let (Some(secret_key), Some(secrets)) =
            (self.stripe_secret_key, self.stripe_webhook_secret)
        else {
            tracing::info!(
                "STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET not set: billing answers 503"
            );
            return Ok(None);
        };
        Ok(Some(aktion_server::billing::BillingConfig {
            secret_key,
            webhook_secrets: secrets
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            base_url: self.stripe_base_url,
            membership_price: self.stripe_membership_price,
            membership_credits: self.stripe_membership_credits,
            packs: aktion_server::billing::BillingConfig::parse_packs(&self.stripe_credit_packs)
                .map_err(anyhow::Error::msg)?,
            coupon: self.stripe_member_coupon,
        }))
    }
}

/// Email and registration (PRODUCT.md §5.5, §5.7).
#[derive(Debug, clap::Args)]
struct MailArgs {
    /// SMTP server of the outbox: `smtps://user:pass@host:465` (TLS), `smtp://host:587`
    /// (STARTTLS required) or `smtp://127.0.0.1:25` (plain, loopback only). Without it mails
    /// wait in the outbox.
    #[arg(long, env = "AKTION_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender of every mail, e.g. `Aktion Studio <hello@aktion.studio>`.
    #[arg(
        long,
        env = "AKTION_MAIL_FROM",
        default_value = "Aktion Studio <noreply@localhost>"
    )]
    mail_from: String,
    /// Registration only for beta sign-ups an admin invited (`1` or `true`).
    #[arg(long, env = "AKTION_INVITE_ONLY", value_parser = clap::builder::BoolishValueParser::new(),
          default_value = "false")]
    invite_only: bool,
}

/// Abuse limits (PRODUCT.md §5.4).
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated addresses or CIDR
    /// ranges. Without it the peer address is the client.
    #[arg(long, env = "AKTION_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: aktion_server::limits::TrustedProxies,
    /// Registrations per client address (IPv6: per /64) per hour.
    #[arg(long, env = "AKTION_REGISTER_PER_ADDRESS_PER_HOUR", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    register_per_address: u32,
    /// Registrations per hour in all.
    #[arg(long, env = "AKTION_REGISTER_PER_HOUR", default_value_t = 300,
          value_parser = clap::value_parser!(u32).range(1..))]
    register_per_hour: u32,
    /// Credits all starter grants together may give per UTC day.
    #[arg(long, env = "AKTION_STARTER_GRANT_DAILY_BUDGET", default_value_t = 5_000,
          value_parser = clap::value_parser!(i64).range(0..))]
    starter_grant_daily_budget: i64,
    /// Bytes of blobs (uploads and outputs) one user may keep.
    #[arg(long, env = "AKTION_USER_STORAGE_BYTES", default_value_t = 5 * 1024 * 1024 * 1024)]
    user_storage_bytes: u64,
    /// Generations this instance drives at once.
    #[arg(long, env = "AKTION_MAX_GENERATIONS", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_generations: u64,
    /// Bytes of stored inputs held in memory at once to send to providers as files (only
    /// without `AKTION_PUBLIC_URL`); generations past it wait their turn.
    #[arg(long, env = "AKTION_MAX_INPUT_BYTES", default_value_t = 512 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1_000_000..=4_294_967_295))]
    max_input_bytes: u64,
    /// Requests this instance handles at once; more are answered 503.
    #[arg(long, env = "AKTION_MAX_REQUESTS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_requests: u64,
    /// Bearer token `/metrics` needs; without it `/metrics` is public.
    #[arg(long, env = "AKTION_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Database connections in the pool (default: 16 on PostgreSQL, 4 readers on SQLite).
    #[arg(long, env = "AKTION_DB_MAX_CONNECTIONS",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    db_max_connections: Option<u32>,
}

impl LimitArgs {
    fn apply(self, config: &mut Config) {
        let l = &mut config.limits;
        l.trusted_proxies = self.trusted_proxies;
        l.register_per_address = self.register_per_address;
        l.register_per_hour = self.register_per_hour;
        l.starter_grant_daily_budget = self.starter_grant_daily_budget;
        l.user_storage_bytes = self.user_storage_bytes;
        l.drivers = usize::try_from(self.max_generations).unwrap_or(64);
        l.input_bytes = self.max_input_bytes;
        l.requests = usize::try_from(self.max_requests).unwrap_or(1024);
        config.db_max_connections = self.db_max_connections;
        config.metrics_token = self.metrics_token.filter(|t| !t.is_empty());
    }
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
    /// Check the schema, the blob storage and the ledger's invariants.
    Doctor,
    /// Shared training data by node kind and output type.
    TrainingStats,
    /// Every shared training-data record as JSON Lines, with file references.
    ExportTrainingData {
        #[arg(long, value_name = "FILE.jsonl")]
        out: PathBuf,
    },
    /// Everyone who asked to join the beta.
    BetaSignups,
    /// Confirm an account's email address by hand (pays its starter grant).
    VerifyEmail { email: String },
}

fn data_dir() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("com", "Aktion", "aktion-server")
        .context("no platform data folder; set AKTION_DATABASE_URL and AKTION_STORAGE_URL")?;
    let dir: PathBuf = dirs.data_dir().to_path_buf();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data folder {}", dir.display()))?;
    Ok(dir)
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
        None => format!("sqlite://{}", data_dir()?.join("aktion.db").display()),
    };
    let storage_url = match cli.storage_url {
        Some(url) => url,
        None => format!("file://{}", data_dir()?.join("blobs").display()),
    };
    let config = Config {
        storage_url,
        // Server-held provider keys under the seed's names, and AKTION_*_BASE_URL overrides.
        providers: aktion_providers::ProvidersConfig::from_env_and_file()
            .map_err(anyhow::Error::msg)?,
        ..Config::default()
    };
    match cli.command {
        Command::Serve {
            bind,
            starter_credits,
            limits,
            public_url,
            generation_lease_secs,
            api_only,
            mail,
            billing,
        } => {
            if starter_credits == 0 {
                tracing::info!("AKTION_STARTER_CREDITS is 0: new accounts start without credits");
            } else {
                tracing::info!(
                    "AKTION_STARTER_CREDITS={starter_credits}: paid when an account verifies \
                     its email; all grants together are capped at {} a day \
                     (AKTION_STARTER_GRANT_DAILY_BUDGET)",
                    limits.starter_grant_daily_budget
                );
            }
            let site_url = public_url
                .clone()
                .unwrap_or_else(|| format!("http://{bind}"));
            let mut config = Config {
                drive_generations: !api_only,
                starter_grant: starter_credits,
                site_url,
                invite_only: mail.invite_only,
                billing: billing.config()?,
                mail: aktion_server::mail::MailConfig {
                    smtp_url: mail.smtp_url,
                    from: mail.mail_from,
                    ..aktion_server::mail::MailConfig::default()
                },
                public_url,
                generation_lease: std::time::Duration::from_secs(generation_lease_secs),
                ..config
            };
            limits.apply(&mut config);
            serve(&url, bind, config).await
        }
        Command::Admin { command } => admin(&url, config, command).await,
    }
}

/// Connections the kernel keeps waiting to be accepted (capped by `net.core.somaxconn`). A burst
/// of clients while every core hashes passwords must queue, not overflow into resets; tokio's
/// `bind` asks for 1,024.
const LISTEN_BACKLOG: u32 = 4096;

fn listen(bind: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if bind.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's and tokio's `bind` do on Unix: a restarted server can take its port back at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(bind)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn serve(url: &str, bind: SocketAddr, config: Config) -> Result<()> {
    let (state, released) = aktion_server::start(url, config)
        .await
        .context("opening the database")?;
    if released > 0 {
        tracing::warn!("released {released} reservation(s) left open by a stopped server");
    }
    tracing::info!("blob storage: {}", state.storage.location);
    // Generations whose driver stopped (another instance died, or a database hiccup here)
    // are picked up again, and reservations nothing will finish are released.
    let sweeper = state.clone();
    let every = (state.config.generation_lease / 2).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(30),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = aktion_server::sweep(&sweeper, false).await {
                tracing::error!("sweeping abandoned generations and reservations: {e:#}");
            }
        }
    });
    let listener = listen(bind).with_context(|| format!("binding {bind}"))?;
    tracing::info!(
        "aktion-server listening on http://{} ({})",
        listener.local_addr()?,
        state.db.kind.name()
    );
    aktion_server::serve(listener, state, shutdown_signal()).await?;
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

async fn admin(url: &str, config: Config, command: Admin) -> Result<()> {
    // Opening the database without `start`: an admin command must not pick up (and then
    // abandon) generations a running server is driving.
    let db = aktion_server::Db::connect(url)
        .await
        .context("opening the database")?;
    db.migrate().await.context("migrating the database")?;
    let state = AppState::new(db, config)
        .await
        .context("opening the blob storage")?;
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
                email.trim(),
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
        Admin::Doctor => doctor(&state).await?,
        Admin::TrainingStats => training_stats(db).await?,
        Admin::ExportTrainingData { out } => export_training_data(db, &out).await?,
        Admin::BetaSignups => beta_signups(db).await?,
        Admin::VerifyEmail { email } => {
            let user = auth::user_by_email(db, &email)
                .await?
                .with_context(|| format!("no account {email}"))?;
            match aktion_server::accounts::verify_by_operator(&state, user.id).await? {
                Some(paid) => println!("{} verified; {paid} starter credits paid", user.email),
                None => println!("{} was already verified", user.email),
            }
        }
    }
    Ok(())
}

async fn doctor(state: &AppState) -> Result<()> {
    let db = &state.db;
    println!("database: {} (connected)", db.kind.name());
    let mut ok = true;
    for (version, description, applied) in db.migration_status().await? {
        println!(
            "migration {version} {description}: {}",
            if applied { "applied" } else { "MISSING" }
        );
        ok &= applied;
    }
    match state.storage.check().await {
        Ok(()) => println!(
            "storage: {} (write, read, delete ok)",
            state.storage.location
        ),
        Err(e) => {
            println!("storage: {}: FAILED: {e}", state.storage.location);
            ok = false;
        }
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
    Ok(())
}

async fn training_stats(db: &aktion_server::Db) -> Result<()> {
    let summary = training::stats(db).await?;
    if summary.groups.is_empty() {
        println!("no shared training data yet");
    }
    println!(
        "{:<16} {:<7} {:>7} {:>12} {:>10}",
        "node kind", "output", "records", "avg time", "avg rating"
    );
    for g in &summary.groups {
        println!(
            "{:<16} {:<7} {:>7} {:>12} {:>10}",
            g.node_kind,
            g.output_type,
            g.count,
            g.avg_generation_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{:.1} s", ms / 1000.0)),
            g.avg_rating
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2} ({})", g.rated)),
        );
    }
    Ok(())
}

async fn export_training_data(db: &aktion_server::Db, out: &std::path::Path) -> Result<()> {
    // Written next to the target and renamed, so a failed export leaves no half file.
    let tmp = out.with_extension("jsonl.partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let n = training::export_jsonl(db, &mut writer).await?;
    let file = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
    file.sync_all()?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    println!("wrote {n} record(s) to {}", out.display());
    Ok(())
}

async fn beta_signups(db: &aktion_server::Db) -> Result<()> {
    let signups = beta::list(db).await?;
    for s in &signups {
        println!("{}\t{}", s.email, s.created_at);
    }
    println!("{} sign-up(s)", signups.len());
    Ok(())
}
