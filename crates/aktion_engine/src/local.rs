//! The local executor: file nodes (image, audio, video), prompts and sketches. Always on this
//! machine, whatever the route, and never needs the network.

use aktion_graph::KindSchema;
use aktion_graph::project::{AssetRef, read_asset};
use aktion_graph::sketch::Stroke;
use aktion_media::{DecodeLimits, MediaKind};

use crate::executor::{BoxFuture, ExecError, Executor, Job, JobContext, JobOutput, TakeMeta};

/// Computes the local kinds.
#[derive(Debug, Default)]
pub struct LocalExecutor;

impl Executor for LocalExecutor {
    fn version(&self, _kind: &KindSchema) -> String {
        aktion_graph::signature::LOCAL_VERSION.to_owned()
    }

    fn limit(&self, _kind: &KindSchema) -> (String, usize) {
        ("local".into(), crate::cpu_parallelism())
    }

    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || run_local(&job, &ctx))
                .await
                .map_err(|e| ExecError::failed(format!("the local job stopped: {e}")))?
        })
    }
}

fn run_local(job: &Job, ctx: &JobContext) -> Result<JobOutput, ExecError> {
    let output = match job.kind.id.as_str() {
        "prompt" => {
            let text = job.param_str("text");
            ctx.store(text.as_bytes(), "text/plain; charset=utf-8", "prompt.txt")?
        }
        "sketch" => {
            let strokes: Vec<Stroke> = job
                .params
                .get("strokes")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| ExecError::failed(format!("the sketch is unreadable: {e}")))?
                .unwrap_or_default();
            let dim = |k: &str, d: i64| {
                u32::try_from(
                    job.params
                        .get(k)
                        .and_then(serde_json::Value::as_i64)
                        .unwrap_or(d),
                )
                .unwrap_or(512)
            };
            let img = aktion_media::rasterise_sketch(
                &strokes,
                dim("width", 768),
                dim("height", 512),
                [255, 255, 255, 255],
            )
            .map_err(|e| ExecError::failed(format!("cannot draw the sketch: {e}")))?;
            let png = aktion_media::encode_png(&img, &[("aktion:kind", "sketch")])
                .map_err(|e| ExecError::failed(e.to_string()))?;
            ctx.store(&png, "image/png", "sketch.png")?
        }
        "image" | "audio" | "video" => file_output(job, ctx)?,
        other => return Err(ExecError::failed(format!("`{other}` is not a local kind"))),
    };
    Ok(JobOutput {
        outputs: vec![output],
        meta: TakeMeta {
            provider: "local".into(),
            model: aktion_graph::signature::LOCAL_VERSION.into(),
            ..TakeMeta::default()
        },
    })
}

fn file_output(job: &Job, ctx: &JobContext) -> Result<aktion_cache::CachedOutput, ExecError> {
    let asset = job
        .params
        .get("file")
        .and_then(AssetRef::from_value)
        .ok_or_else(|| ExecError::failed("no file: drop or pick one"))?;
    let bytes =
        read_asset(&job.project_root, &asset).map_err(|e| ExecError::failed(format!("{e:#}")))?;
    let (kind, mime) = aktion_media::sniff(&bytes);
    let want = match job.kind.id.as_str() {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Video,
    };
    // Animated GIF, APNG and WebP are clips too: the app plays them without ffmpeg.
    let animated = matches!(mime, "image/gif" | "image/apng" | "image/webp");
    if kind != want && !(want == MediaKind::Video && animated) {
        return Err(ExecError::failed(format!(
            "`{}` is not a supported {} file",
            asset.name, job.kind.id
        )));
    }
    if job.kind.id == "image" {
        // Decoding proves the file is whole and within limits before anything downstream
        // spends credits on it.
        let img = aktion_media::decode_image(&bytes, &DecodeLimits::default())
            .map_err(|e| ExecError::failed(format!("`{}`: {e}", asset.name)))?;
        if let Some(crop) = crop_rect(job, img.width(), img.height()) {
            let (x, y, w, h) = crop;
            let cropped = image::imageops::crop_imm(&img, x, y, w, h).to_image();
            let png = aktion_media::encode_png(&cropped, &[])
                .map_err(|e| ExecError::failed(e.to_string()))?;
            return ctx.store(
                &png,
                "image/png",
                &format!("{}-crop.png", stem(&asset.name)),
            );
        }
    }
    ctx.store(&bytes, mime, &asset.name)
}

fn crop_rect(job: &Job, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
    let c = job.params.get("crop").filter(|v| !v.is_null())?;
    let f = |k: &str| c.get(k).and_then(serde_json::Value::as_f64);
    let (x, y, w, h) = (f("x")?, f("y")?, f("w")?, f("h")?);
    let (fw, fh) = (f64::from(width), f64::from(height));
    let px = (x * fw).round().clamp(0.0, fw - 1.0) as u32;
    let py = (y * fh).round().clamp(0.0, fh - 1.0) as u32;
    let pw = ((w * fw).round() as u32).clamp(1, width - px);
    let ph = ((h * fh).round() as u32).clamp(1, height - py);
    Some((px, py, pw, ph))
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}
