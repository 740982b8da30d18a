//! The command line (PRODUCT.md §4.7): `run`, `validate`, `cost`, `cache`, `export`, `conform`,
//! `import-shots`. Exit codes: 0 success, 1 a node failed, 2 unusable input.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aktion_cache::{Cache, CacheOptions};
use aktion_engine::{Engine, Event, NodeStatus, RunRequest, RunSummary};
use aktion_graph::{Catalog, Document, NodeId, Route};
use aktion_providers::ProvidersConfig;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::setup::Setup;

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
        /// Leave the project untouched (by default each result is kept as a take of its node
        /// and the project is saved).
        #[arg(long)]
        no_save: bool,
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
    /// Hand the sequence to editors: the animatic, a timeline, the shot list, or the whole
    /// project as one zip.
    Export {
        project: PathBuf,
        #[arg(long, value_name = "mp4|pdf|otio|otioz|fcp7xml|fcpxml|edl|csv|bundle")]
        format: String,
        /// The file to write; media are collected in a `media/` folder beside it.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// The animatic's picture size, e.g. `1280x720` (default: the first clip's).
        #[arg(long, value_name = "WxH")]
        size: Option<String>,
        /// Panels a storyboard PDF page holds.
        #[arg(long, value_name = "1|3|6")]
        panels: Option<u8>,
        /// Print a JSON report on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Make the sequence follow an edit of one of its exports (`.otio`, or FCP7 XML from
    /// Premiere or Resolve): order, in-points and lengths; the project is saved.
    Conform {
        project: PathBuf,
        edit: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Make shots from a CSV shot list or a Fountain screenplay: each row (scene) becomes a
    /// copy of the template in its own frame, with the row's fields put into its prompts
    /// (`{description}`), and a shot at the end of the sequence; the project is saved. Prints
    /// what running the new shots would cost.
    ImportShots {
        project: PathBuf,
        /// A `.csv` (or `.tsv`) shot list whose header names the fields, or a `.fountain`
        /// screenplay.
        file: PathBuf,
        /// The frame (its id or title) or the node ids (comma-separated) copied per row.
        #[arg(long, value_name = "FRAME_OR_NODE_IDS")]
        template: String,
        /// Price the batch on this route.
        #[arg(long, value_name = "draft|account|direct|comfyui")]
        route: Option<String>,
        /// Print a JSON report on stdout.
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

pub use crate::setup::Failure;

pub fn exit(result: Result<u8, Failure>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("aktion: {}", f.message());
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
    Ok(Cache::open_default(CacheOptions::default()).context("cannot open the cache")?)
}

/// The engine with every route this build can run, from the process's surroundings
/// ([`Setup::from_process`]).
pub fn engine(cache: Cache) -> Result<Arc<Engine>, Failure> {
    let setup = Setup::from_process();
    setup.engine(cache, setup.account_session())
}

/// The process's provider settings ([`Setup::providers_config`]).
pub fn providers_config() -> Result<ProvidersConfig, Failure> {
    Setup::from_process().providers_config()
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
            let s = cache.stats()?;
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
            cache.clear()?;
            println!("cache cleared");
        }
    }
    Ok(0)
}

/// What `aktion run` does with the project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Each result becomes (or re-activates) a take of its node; the project is saved
    /// atomically when that changed it.
    Takes,
    /// The project is left untouched (`--no-save`).
    Nothing,
}

pub fn run(
    project: &Path,
    nodes: &[String],
    route: Option<&str>,
    json_out: bool,
    keep: Keep,
) -> Result<u8, Failure> {
    let (root, doc) = load(project)?;
    let mut kept = doc.clone();
    let targets = parse_nodes(&doc, nodes)?;
    let force = parse_route(route)?;
    let engine = engine(open_cache()?)?;
    let titles: std::collections::BTreeMap<NodeId, String> = doc
        .nodes
        .values()
        .map(|n| (n.id, n.display_title(Catalog::builtin()).to_owned()))
        .collect();
    let mut req = RunRequest::new(doc.clone(), root.clone());
    req.targets = targets;
    req.force_route = force;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
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
                    Some(ev) => {
                        printer.event(&ev);
                        if let Event::Done { node, signature, result, .. } = &ev {
                            aktion_engine::takes::record_take(&mut kept, *node, signature, result);
                        }
                    }
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
    if keep == Keep::Takes && kept != doc {
        // Saved atomically: a crash leaves the old project.json whole.
        aktion_graph::project::save(&root, &kept)
            .context("the results are in the cache, but the project could not be saved")?;
    }

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
                "draft": r.meta.as_ref().is_some_and(|m| m.draft),
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

/// Parses `1280x720`.
fn parse_size(size: &str) -> Result<(u32, u32), Failure> {
    let bad = || Failure::input(format!("`{size}` is not a picture size like 1280x720"));
    let (w, h) = size.split_once(['x', 'X', '×']).ok_or_else(bad)?;
    let (w, h) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if !(16..=4096).contains(&w) || !(16..=4096).contains(&h) {
        return Err(Failure::input(format!(
            "{w}×{h}: each side must be 16–4096 pixels"
        )));
    }
    Ok((w, h))
}

/// `aktion export PROJECT --format F --out PATH`: exit 0, or 2 for unusable input (an unknown
/// format, an empty sequence, shots without takes, an unwritable place).
pub fn export(
    project: &Path,
    format: &str,
    out: &Path,
    size: Option<&str>,
    panels: Option<u8>,
    json_out: bool,
) -> Result<u8, Failure> {
    let size = size.map(parse_size).transpose()?;
    let (root, doc) = load(project)?;
    if format == "bundle" {
        let cache = open_cache()?;
        let bundled =
            crate::app::export::export_bundle(&doc, &cache, &root, out).map_err(Failure::input)?;
        if json_out {
            println!(
                "{}",
                json!({ "format": "bundle", "path": out, "assets": bundled.assets,
                        "takes": bundled.takes, "missing": bundled.missing })
            );
        } else {
            eprintln!(
                "wrote {} ({} assets, {} takes{})",
                out.display(),
                bundled.assets,
                bundled.takes,
                if bundled.missing > 0 {
                    format!(", {} missing", bundled.missing)
                } else {
                    String::new()
                }
            );
        }
        return Ok(0);
    }
    let format: aktion_export::Format = format
        .parse()
        .map_err(|e: aktion_export::ExportError| Failure::input(e.to_string()))?;
    let started = std::time::Instant::now();
    let mut last = 0u32;
    let mut progress = |done: f32| {
        // Whole percents on stderr, each once.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "0..=100"
        )]
        let pct = (done * 100.0) as u32;
        if pct >= last + 10 {
            last = pct;
            eprint!("\r{pct}%");
        }
        true
    };
    let mut options = aktion_export::Options {
        size,
        panels,
        progress: Some(&mut progress),
    };
    let report = aktion_export::export(&doc, Catalog::builtin(), &root, format, out, &mut options)
        .map_err(|e| Failure::input(e.to_string()))?;
    if last > 0 {
        eprintln!();
    }
    let seconds = report.frames as f64 / f64::from(report.fps.max(1));
    if json_out {
        println!(
            "{}",
            json!({
                "format": format.as_str(), "path": report.path, "shots": report.shots,
                "frames": report.frames, "fps": report.fps, "seconds": seconds,
                "media": report.media, "elapsed_ms": started.elapsed().as_millis(),
            })
        );
    } else {
        eprintln!(
            "wrote {}: {} shots, {seconds:.2} s at {} fps{}",
            report.path.display(),
            report.shots,
            report.fps,
            if report.media > 0 {
                format!(", {} media files", report.media)
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}

/// `aktion conform PROJECT EDIT`: the sequence follows the edit; the project is saved. Exit 0,
/// or 2 when the edit cannot be read or matches no shot (nothing changes then).
pub fn conform(project: &Path, edit: &Path, json_out: bool) -> Result<u8, Failure> {
    use aktion_export::conform;
    let (root, mut doc) = load(project)?;
    let clips = conform::read_path(edit).map_err(Failure::input)?;
    let catalog = Catalog::builtin();
    let result = conform::conform(&doc, &clips, |shot| {
        aktion_export::timeline::clip_length_ms(&doc, catalog, &root, shot)
    })
    .map_err(|e| Failure::input(e.to_string()))?;
    doc.sequence = result.sequence.clone();
    aktion_graph::project::save(&root, &doc).map_err(|e| Failure::input(e.to_string()))?;
    if json_out {
        let ids =
            |v: &[aktion_graph::ShotId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        println!(
            "{}",
            json!({
                "shots": result.sequence.shots.len(),
                "changed": result.changed,
                "needs_longer_take": ids(&result.longer),
                "removed": result.removed.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
                "unmatched": result.unmatched,
            })
        );
    } else {
        eprintln!("{}", result.summary());
    }
    Ok(0)
}

/// `aktion import-shots PROJECT FILE --template …`: the shot list becomes shots made from the
/// template; the project is saved. Exit 0, or 2 when the file or the template cannot be used
/// (nothing changes then).
pub fn import_shots(
    project: &Path,
    file: &Path,
    template: &str,
    route: Option<&str>,
    json_out: bool,
) -> Result<u8, Failure> {
    use aktion_graph::{batch, shotlist};
    let (root, mut doc) = load(project)?;
    let force = parse_route(route)?;
    let list = shotlist::read_path(file).map_err(Failure::input)?;
    let template =
        batch::template_from_spec(&doc, template).map_err(|e| Failure::input(e.to_string()))?;
    let catalog = Catalog::builtin();
    let made =
        batch::plan(&doc, catalog, &list, &template).map_err(|e| Failure::input(e.to_string()))?;
    aktion_graph::edit::apply_all(&mut doc, catalog, made.edits.clone())
        .map_err(|e| Failure::input(e.to_string()))?;
    // The batch's price: what running its shots (and what they need) would cost now.
    let engine = engine(open_cache()?)?;
    let mut req = RunRequest::new(doc.clone(), root.clone());
    req.targets.clone_from(&made.shot_nodes);
    req.force_route = force;
    let plan = engine
        .plan(&req)
        .map_err(|e| Failure::input(e.to_string()))?;
    aktion_graph::project::save(&root, &doc).map_err(|e| Failure::input(e.to_string()))?;
    if json_out {
        println!(
            "{}",
            json!({
                "shots": made.shots.len(),
                "nodes": made.nodes.len(),
                "shot_nodes": made.shot_nodes.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "fields": list.fields,
                "uses": made.uses,
                "credits": plan.cost.total,
                "to_run": plan.cost.to_run,
            })
        );
    } else {
        eprintln!(
            "imported {} shot(s) from {}: {} node(s) in {} frame(s); running them would cost {} credit(s) ({} node(s) to run)",
            made.shots.len(),
            file.display(),
            made.nodes.len(),
            made.shots.len(),
            plan.cost.total,
            plan.cost.to_run
        );
        if made.uses.is_empty() {
            eprintln!(
                "note: the template's prompts name no {{field}}, so every copy asks for the same picture"
            );
        }
    }
    Ok(0)
}
