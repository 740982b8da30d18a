//! The command line (PRODUCT.md §4.7): `run`, `validate`, `cost`, `cache`. Exit codes: 0 success,
//! 1 a node failed, 2 unusable input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aktion_account::AccountClient;
use aktion_cache::{Cache, CacheOptions};
use aktion_engine::{
    AccountExecutor, Engine, Event, NodeStatus, ProviderExecutor, RunRequest, RunSummary,
};
use aktion_graph::{Catalog, Document, NodeId, Route};
use aktion_providers::ProvidersConfig;
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "aktion",
    version,
    about = "Aktion Studio: a node-graph editor for AI film pre-production"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open a project in the app.
    Open { project: PathBuf },
    /// Evaluate a project without a window.
    Run {
        project: PathBuf,
        /// Only these nodes (and what they need). Repeatable.
        #[arg(long = "node", value_name = "ID")]
        nodes: Vec<String>,
        /// Run every generating node on this route.
        #[arg(long, value_name = "draft|account|direct|comfyui")]
        route: Option<String>,
        /// Print a JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Check a project and report every problem.
    Validate {
        project: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The credits a run would cost now (cached nodes cost nothing).
    Cost {
        project: PathBuf,
        #[arg(long = "node", value_name = "ID")]
        nodes: Vec<String>,
        #[arg(long, value_name = "draft|account|direct|comfyui")]
        route: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Inspect or clear the local result cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Write an example project made entirely from media this program draws itself.
    #[command(hide = true)]
    MakeExample {
        /// `storyboard` (every node kind), `small`, or `landing-clip` (then DIR is the GIF file).
        which: String,
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Entries, blobs, size and limit.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached result.
    Clear,
}

/// A failure with its exit code; the message is printed once, by `main`.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }
}

pub fn exit(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("aktion: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn load(project: &Path) -> Result<(PathBuf, Document), Failure> {
    aktion_graph::project::load(project, Catalog::builtin())
        .map_err(|e| Failure::input(format!("{e:#} ({})", project.display())))
}

fn parse_route(route: Option<&str>) -> Result<Option<Route>, Failure> {
    route
        .map(|r| r.parse::<Route>().map_err(Failure::input))
        .transpose()
}

fn parse_nodes(doc: &Document, ids: &[String]) -> Result<Vec<NodeId>, Failure> {
    ids.iter()
        .map(|s| {
            let id: NodeId = s
                .parse()
                .map_err(|_| Failure::input(format!("`{s}` is not a node id")))?;
            if doc.nodes.contains_key(&id) {
                Ok(id)
            } else {
                Err(Failure::input(format!("no node {id} in the project")))
            }
        })
        .collect()
}

fn open_cache() -> Result<Cache, Failure> {
    Cache::open_default(CacheOptions::default()).map_err(|e| Failure {
        code: 1,
        message: format!("cannot open the cache: {e:#}"),
    })
}

/// The engine with every route this build can run: draft always; direct and comfyui when their
/// clients can be built. A missing key is not an error here: it fails only the nodes that need
/// that provider, with the variable to set.
pub fn engine(cache: Cache) -> Result<Arc<Engine>, Failure> {
    engine_with_session(cache, account_session())
}

/// [`engine`] with the account route following `session` (the app signs in and out there).
pub fn engine_with_session(
    cache: Cache,
    session: aktion_engine::AccountSession,
) -> Result<Arc<Engine>, Failure> {
    let mut engine =
        Engine::new(Arc::new(Catalog::builtin().clone()), cache).map_err(|e| Failure {
            code: 1,
            message: format!("cannot open the job journal: {e:#}"),
        })?;
    engine = engine.with_route(
        Route::Account,
        Arc::new(AccountExecutor::with_session(session)),
    );
    let config = providers_config()?;
    set_routes_from(&engine, config);
    Ok(Arc::new(engine))
}

/// Rebuilds the direct and comfyui executors from the settings in force now (after Settings →
/// Providers saved a key or an address). Jobs already running finish on the old ones.
pub fn set_provider_routes(
    engine: &Engine,
    store: Option<&aktion_account::secrets::SecretStore>,
    config_dir: Option<&Path>,
) -> Result<(), String> {
    let config = providers_config_in(store, config_dir).map_err(|f| f.message)?;
    set_routes_from(engine, config);
    Ok(())
}

fn set_routes_from(engine: &Engine, config: ProvidersConfig) {
    match ProviderExecutor::direct(config.clone()) {
        Ok(direct) => engine.set_route(Route::Direct, Arc::new(direct)),
        Err(e) => tracing::warn!("the direct route is unavailable: {e:#}"),
    }
    match ProviderExecutor::comfyui(config) {
        Ok(comfy) => engine.set_route(Route::Comfyui, Arc::new(comfy)),
        Err(e) => tracing::warn!("the comfyui route is unavailable: {e:#}"),
    }
}

/// The account server's address (`AKTION_ACCOUNT_URL`).
pub const ACCOUNT_URL_ENV: &str = "AKTION_ACCOUNT_URL";
/// A session token for the account route without the app's sign-in (`AKTION_ACCOUNT_TOKEN`).
pub const ACCOUNT_TOKEN_ENV: &str = "AKTION_ACCOUNT_TOKEN";
/// Where the account server is when nothing else is said.
pub const DEFAULT_ACCOUNT_URL: &str = "https://api.aktion.studio";

/// The account server's address: `AKTION_ACCOUNT_URL`, or the default.
pub fn account_url() -> String {
    std::env::var(ACCOUNT_URL_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ACCOUNT_URL.to_owned())
}

/// The account session at start: the server of `AKTION_ACCOUNT_URL` (or the default) with the
/// token of `AKTION_ACCOUNT_TOKEN` or, failing that, the one kept in the secret store; without
/// one the account route's nodes fail with how to sign in.
pub fn account_session() -> aktion_engine::AccountSession {
    Arc::new(std::sync::RwLock::new(account_client()))
}

fn account_client() -> Option<AccountClient> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let url = account_url();
    let token = var(ACCOUNT_TOKEN_ENV).or_else(|| {
        secrets()
            .and_then(|s| s.get(aktion_account::secrets::ACCOUNT_TOKEN).ok())
            .flatten()
    });
    match AccountClient::new(&url, token) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("the account route is unavailable: {e}");
            None
        }
    }
}

/// Provider settings: defaults, then the file named by `AKTION_PROVIDERS_CONFIG`, then what the
/// user set in Settings → Providers (keys in the secret store, the ComfyUI address), then the
/// environment (base URLs `AKTION_*_BASE_URL`, `AKTION_COMFYUI_URL`, keys under the providers'
/// usual variable names), which wins.
pub fn providers_config() -> Result<ProvidersConfig, Failure> {
    providers_config_in(
        secrets().as_ref(),
        crate::app::recent::config_dir().as_deref(),
    )
}

/// [`providers_config`] with the keys of `store` and the settings kept in `config_dir`.
pub fn providers_config_in(
    store: Option<&aktion_account::secrets::SecretStore>,
    config_dir: Option<&Path>,
) -> Result<ProvidersConfig, Failure> {
    let prefs = config_dir
        .map(crate::app::settings::Prefs::load)
        .unwrap_or_default();
    ProvidersConfig::from_file_and(|name| {
        let env = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        env.or_else(|| {
            if name == aktion_providers::base_url_var(aktion_providers::ProviderKind::ComfyUi) {
                return prefs.comfyui_url.clone();
            }
            // Keys the user saved in Settings → Providers; nothing else comes from there.
            if !aktion_providers::KEY_VARIABLES.contains(&name) {
                return None;
            }
            store?.get(name).ok().flatten()
        })
    })
    .map_err(Failure::input)
}

/// The secret store: the system keychain, or a private file in the config folder where there
/// is none (or with `AKTION_SECRETS=file`).
pub fn secrets() -> Option<aktion_account::secrets::SecretStore> {
    let dir = crate::app::recent::config_dir()?;
    Some(
        if std::env::var("AKTION_SECRETS").is_ok_and(|v| v == "file") {
            aktion_account::secrets::SecretStore::file_only(&dir)
        } else {
            aktion_account::secrets::SecretStore::open(&dir)
        },
    )
}

pub fn validate(project: &Path, json_out: bool) -> Result<u8, Failure> {
    let (_, doc) = load(project)?;
    if json_out {
        println!(
            "{}",
            json!({ "valid": true, "nodes": doc.nodes.len(), "wires": doc.wires.len() })
        );
    } else {
        println!(
            "valid: {} nodes, {} wires",
            doc.nodes.len(),
            doc.wires.len()
        );
    }
    Ok(0)
}

pub fn cost(
    project: &Path,
    nodes: &[String],
    route: Option<&str>,
    json_out: bool,
) -> Result<u8, Failure> {
    let (root, doc) = load(project)?;
    let targets = parse_nodes(&doc, nodes)?;
    let force = parse_route(route)?;
    let engine = engine(open_cache()?)?;
    let mut req = RunRequest::new(doc, root);
    req.targets = targets;
    req.force_route = force;
    let plan = engine
        .plan(&req)
        .map_err(|e| Failure::input(e.to_string()))?;
    if json_out {
        println!(
            "{}",
            json!({
                "credits": plan.cost.total,
                "to_run": plan.cost.to_run,
                "cached": plan.cost.cached,
                "nodes": plan.cost.lines,
            })
        );
    } else {
        println!(
            "{} credits: {} node(s) to run, {} cached",
            plan.cost.total, plan.cost.to_run, plan.cost.cached
        );
    }
    Ok(0)
}

pub fn cache(action: &CacheAction) -> Result<u8, Failure> {
    let cache = open_cache()?;
    match action {
        CacheAction::Stats { json: json_out } => {
            let s = cache.stats().map_err(|e| Failure {
                code: 1,
                message: format!("{e:#}"),
            })?;
            if *json_out {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            } else {
                println!(
                    "{} entries, {} blobs, {} of {} bytes, in {}",
                    s.entries,
                    s.blobs,
                    s.bytes,
                    s.max_bytes,
                    s.root.display()
                );
            }
        }
        CacheAction::Clear => {
            cache.clear().map_err(|e| Failure {
                code: 1,
                message: format!("{e:#}"),
            })?;
            println!("cache cleared");
        }
    }
    Ok(0)
}

pub fn run(
    project: &Path,
    nodes: &[String],
    route: Option<&str>,
    json_out: bool,
) -> Result<u8, Failure> {
    let (root, doc) = load(project)?;
    let targets = parse_nodes(&doc, nodes)?;
    let force = parse_route(route)?;
    let engine = engine(open_cache()?)?;
    let titles: std::collections::BTreeMap<NodeId, String> = doc
        .nodes
        .values()
        .map(|n| (n.id, n.display_title(Catalog::builtin()).to_owned()))
        .collect();
    let mut req = RunRequest::new(doc, root);
    req.targets = targets;
    req.force_route = force;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: 1,
            message: format!("cannot start the runtime: {e}"),
        })?;
    let summary = runtime.block_on(async {
        let handle = engine
            .start(req)
            .map_err(|e| Failure::input(e.to_string()))?;
        let mut handle = handle;
        let mut printer = Progress::new(titles);
        let mut interrupted = false;
        loop {
            tokio::select! {
                ev = handle.events.recv() => match ev {
                    Some(ev) => printer.event(&ev),
                    None => break,
                },
                _ = tokio::signal::ctrl_c(), if !interrupted => {
                    interrupted = true;
                    eprintln!("interrupted: cancelling the running jobs");
                    handle.cancel();
                }
            }
        }
        Ok::<RunSummary, Failure>(handle.finish().await)
    })?;

    if json_out {
        println!("{}", json_report(&summary));
    } else {
        println!(
            "{} ran, {} cached, {} failed, {} blocked, {} cancelled; {} credits; {} ms",
            summary.ran,
            summary.cached,
            summary.failed,
            summary.blocked,
            summary.cancelled,
            summary.credits,
            summary.elapsed_ms
        );
    }
    Ok(u8::from(!summary.success()))
}

fn json_report(summary: &RunSummary) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = summary
        .nodes
        .iter()
        .map(|r| {
            let outputs: Vec<serde_json::Value> = r
                .outputs
                .iter()
                .zip(&r.output_paths)
                .map(|(o, p)| json!({ "path": p, "mime": o.mime, "hash": o.hash.to_hex(), "bytes": o.bytes, "name": o.name }))
                .collect();
            json!({
                "id": r.node,
                "kind": r.kind,
                "title": r.title,
                "status": r.status,
                "cached": r.status == NodeStatus::Cached,
                "evaluated": r.status == NodeStatus::Done,
                "signature": r.signature,
                "outputs": outputs,
                "error": r.error,
                "credits": r.credits,
                "draft": r.meta.as_ref().and_then(|m| m.get("draft")).and_then(serde_json::Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    json!({
        "nodes": nodes,
        "totals": {
            "nodes": summary.nodes.len(),
            "ran": summary.ran,
            "cached": summary.cached,
            "failed": summary.failed,
            "blocked": summary.blocked,
            "cancelled": summary.cancelled,
        },
        "credits": summary.credits,
        "elapsed_ms": summary.elapsed_ms,
        "success": summary.success(),
    })
}

/// Progress lines on stderr.
struct Progress {
    titles: std::collections::BTreeMap<NodeId, String>,
    total: usize,
    finished: usize,
}

impl Progress {
    fn new(titles: std::collections::BTreeMap<NodeId, String>) -> Self {
        Self {
            titles,
            total: 0,
            finished: 0,
        }
    }

    fn name(&self, id: NodeId) -> String {
        let short = id.to_string();
        let short = short.get(..8).unwrap_or(&short).to_owned();
        match self.titles.get(&id) {
            Some(t) => format!("{t} ({short})"),
            None => short,
        }
    }

    /// One "[ n/total] what node: detail" line for a node that has finished one way or another.
    fn finish(
        &mut self,
        err: &mut impl std::io::Write,
        what: &str,
        node: NodeId,
        detail: &str,
    ) -> std::io::Result<()> {
        self.finished += 1;
        let name = self.name(node);
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        writeln!(
            err,
            "[{:>3}/{}] {what} {name}{detail}",
            self.finished, self.total
        )
    }

    fn event(&mut self, ev: &Event) {
        let mut err = std::io::stderr().lock();
        let _ = match ev {
            Event::Planned {
                to_run,
                cached,
                blocked,
                credits,
            } => {
                self.total = to_run + cached + blocked;
                writeln!(
                    err,
                    "plan: {to_run} to run, {cached} cached, {blocked} blocked, {credits} credits"
                )
            }
            Event::Queued { .. } => Ok(()),
            Event::Started { node } => writeln!(err, "  running  {}", self.name(*node)),
            Event::Progress {
                node,
                fraction,
                message,
            } => match fraction {
                Some(f) => writeln!(
                    err,
                    "  {:>3.0}%     {} {message}",
                    f * 100.0,
                    self.name(*node)
                ),
                None => writeln!(err, "           {} {message}", self.name(*node)),
            },
            Event::Done { node, cached, .. } => self.finish(
                &mut err,
                if *cached { "cached " } else { "done   " },
                *node,
                "",
            ),
            Event::Failed { node, error } => self.finish(&mut err, "FAILED ", *node, error),
            Event::Blocked { node, reason } => self.finish(&mut err, "blocked", *node, reason),
            Event::Cancelled { node } => self.finish(&mut err, "cancelled", *node, ""),
        };
    }
}
