//! The `draft` route: offline, instant, free previews for every generating kind, marked as
//! drafts in their metadata and in the pictures themselves (PRODUCT.md §4.3).

use aktion_graph::KindSchema;
use aktion_media::{Clip, DecodeLimits, RgbaImage};

use crate::executor::{BoxFuture, ExecError, Executor, Job, JobContext, JobOutput, TakeMeta};

/// Version of the draft renderers; part of every draft signature. Bump it when a renderer's
/// output changes.
pub const DRAFT_VERSION: &str = "draft-2";

/// Frames per second of draft clips: enough to read motion, cheap to encode.
const CLIP_FPS: u32 = 12;
/// Longest draft clip.
const MAX_CLIP_SECONDS: f32 = 6.0;

/// Renders draft previews on the machine's cores. Clips are H.264 MP4 (with the sound, for
/// lip sync and talking portraits), made in-process.
#[derive(Debug, Default)]
pub struct DraftExecutor;

impl Executor for DraftExecutor {
    fn version(&self, _kind: &KindSchema) -> String {
        DRAFT_VERSION.to_owned()
    }

    fn limit(&self, _kind: &KindSchema) -> (String, usize) {
        ("draft".into(), crate::cpu_parallelism())
    }

    fn execute(
        &self,
        job: Job,
        ctx: JobContext,
    ) -> BoxFuture<'static, Result<JobOutput, ExecError>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || render(&job, &ctx))
                .await
                .map_err(|e| ExecError::failed(format!("the draft renderer stopped: {e}")))?
        })
    }
}

fn media_err(e: &aktion_media::MediaError) -> ExecError {
    ExecError::failed(format!("draft: {e}"))
}

/// The prompt: the wired text input, else the node's own field.
fn prompt(job: &Job, ctx: &JobContext) -> Result<String, ExecError> {
    match job.input("prompt") {
        Some(i) => {
            let bytes = ctx.read(&i.output.hash)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        None => Ok(job.param_str("prompt").to_owned()),
    }
}

fn image_input(
    job: &Job,
    ctx: &JobContext,
    input: &str,
    slot: u32,
) -> Result<RgbaImage, ExecError> {
    let i = job
        .inputs_named(input)
        .find(|i| i.slot == slot)
        .ok_or_else(|| ExecError::failed(format!("input `{input}` is not connected")))?;
    let bytes = ctx.read(&i.output.hash)?;
    let (kind, _) = aktion_media::sniff(&bytes);
    if kind == aktion_media::MediaKind::Video {
        return aktion_media::first_frame(&bytes).map_err(|e| media_err(&e));
    }
    aktion_media::decode_image(&bytes, &DecodeLimits::default()).map_err(|e| media_err(&e))
}

fn aspect_size(aspect: &str) -> (u32, u32) {
    match aspect {
        "1:1" => (768, 768),
        "9:16" => (576, 1024),
        "4:3" => (1024, 768),
        "3:4" => (768, 1024),
        "2.39:1" => (1024, 428),
        _ => (1024, 576),
    }
}

#[expect(clippy::too_many_lines, reason = "one arm per node kind, each short")]
fn render(job: &Job, ctx: &JobContext) -> Result<JobOutput, ExecError> {
    let seed = job.seed();
    let kind = job.kind.id.as_str();
    ctx.progress(Some(0.0), "drawing draft");
    let prompt = prompt(job, ctx)?;
    let still = |img: RgbaImage| Rendered::Still(img);
    let rendered = match kind {
        "character" => {
            let (w, h) = aspect_size(job.param_str("aspect_ratio"));
            let title = format!("Character · {}", job.param_str("style"));
            still(
                aktion_media::draft::placeholder_card(&title, &prompt, w, h, seed)
                    .map_err(|e| media_err(&e))?,
            )
        }
        "t2i" => {
            let (w, h) = aspect_size(job.param_str("aspect_ratio"));
            still(
                aktion_media::draft::placeholder_card(&job.kind.title, &prompt, w, h, seed)
                    .map_err(|e| media_err(&e))?,
            )
        }
        "sketch_to_image" => {
            let sketch = image_input(job, ctx, "sketch", 0)?;
            let side: u32 = job.param_str("resolution").parse().unwrap_or(512);
            let (w, h) = fit(sketch.width(), sketch.height(), side.clamp(256, 1024));
            still(
                aktion_media::draft::shaded_sketch(&sketch, &prompt, w, h, seed)
                    .map_err(|e| media_err(&e))?,
            )
        }
        "i2i" => {
            let img = image_input(job, ctx, "image", 0)?;
            let strength = job.param_f64("strength").unwrap_or(0.6) as f32;
            still(
                aktion_media::draft::restyle(&img, &prompt, strength, seed)
                    .map_err(|e| media_err(&e))?,
            )
        }
        "action_pose" => {
            let character = image_input(job, ctx, "character", 0)?;
            let pose = image_input(job, ctx, "pose", 0)?;
            let strength = job.param_f64("pose_strength").unwrap_or(1.0) as f32;
            still(
                aktion_media::draft::pose_composite(&character, &pose, strength, &prompt)
                    .map_err(|e| media_err(&e))?,
            )
        }
        "coherent_scene" => {
            let images = (0..6)
                .map(|slot| image_input(job, ctx, "images", slot))
                .collect::<Result<Vec<_>, _>>()?;
            still(aktion_media::draft::scene_layout(&images, &prompt).map_err(|e| media_err(&e))?)
        }
        "i2v" => {
            let img = image_input(job, ctx, "image", 0)?;
            let seconds = (job.param_f64("duration").unwrap_or(5.0) as f32).min(MAX_CLIP_SECONDS);
            let (w, h) = fit(img.width(), img.height(), 640);
            Rendered::Clip(
                aktion_media::draft::animatic_pan(&img, &prompt, seconds, CLIP_FPS, w, h, seed)
                    .map_err(|e| media_err(&e))?,
                None,
            )
        }
        "sequence" => {
            let first = image_input(job, ctx, "first_frame", 0)?;
            let last = image_input(job, ctx, "last_frame", 0)?;
            let (sw, sh) = parse_size(job.param_str("size"));
            let (w, h) = fit(sw, sh, 640);
            let fps = u32::try_from(
                job.params
                    .get("fps")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(16),
            )
            .unwrap_or(16);
            let length = job
                .params
                .get("length")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(81);
            // Same duration as the real shot, at the draft frame rate.
            let seconds = (length as f32 / fps.max(1) as f32).min(MAX_CLIP_SECONDS);
            let frames = ((seconds * CLIP_FPS as f32).round() as u32).max(2);
            Rendered::Clip(
                aktion_media::draft::animatic_crossfade(
                    &first, &last, &prompt, frames, CLIP_FPS, w, h,
                )
                .map_err(|e| media_err(&e))?,
                None,
            )
        }
        "t2v" | "lip_sync" => {
            let (picture_input, max_seconds) = if kind == "t2v" {
                ("portrait", job.param_f64("duration").unwrap_or(10.0) as f32)
            } else {
                ("video", MAX_CLIP_SECONDS)
            };
            let still_img = image_input(job, ctx, picture_input, 0)?;
            let audio_in = job
                .input("audio")
                .ok_or_else(|| ExecError::failed("input `audio` is not connected"))?;
            let audio = aktion_media::decode_audio(&ctx.read(&audio_in.output.hash)?)
                .map_err(|e| media_err(&e))?;
            let (w, h) = fit(still_img.width(), still_img.height(), 640);
            let clip = aktion_media::draft::waveform_clip(
                &still_img,
                &audio,
                CLIP_FPS,
                w,
                h,
                max_seconds.min(MAX_CLIP_SECONDS),
            )
            .map_err(|e| media_err(&e))?;
            // The sound goes with the pictures, cut to the clip's length.
            let mut sound = audio;
            let keep = (f64::from(clip.seconds()) * f64::from(sound.sample_rate)) as usize;
            sound.samples.truncate(keep);
            Rendered::Clip(clip, Some(sound))
        }
        other => {
            return Err(ExecError::failed(format!(
                "no draft renderer for `{other}`"
            )));
        }
    };
    if ctx.cancel.is_cancelled() {
        return Err(ExecError::Cancelled);
    }
    ctx.progress(Some(0.8), "encoding draft");
    let base = format!("{kind}-draft");
    let outputs = match rendered {
        Rendered::Still(img) => {
            let png = aktion_media::encode_png(
                &img,
                &[
                    ("aktion:draft", "true"),
                    ("aktion:kind", kind),
                    ("aktion:prompt", &prompt),
                ],
            )
            .map_err(|e| media_err(&e))?;
            vec![ctx.store(&png, "image/png", &format!("{base}.png"))?]
        }
        Rendered::Clip(clip, sound) => {
            let mp4 =
                aktion_media::encode_h264_mp4(&clip, sound.as_ref()).map_err(|e| media_err(&e))?;
            vec![ctx.store(&mp4, "video/mp4", &format!("{base}.mp4"))?]
        }
    };
    Ok(JobOutput {
        outputs,
        meta: TakeMeta {
            provider: "draft".into(),
            model: DRAFT_VERSION.into(),
            draft: true,
            ..TakeMeta::default()
        },
    })
}

enum Rendered {
    Still(RgbaImage),
    /// Pictures, and the sound that goes with them.
    Clip(Clip, Option<aktion_media::Audio>),
}

/// Scales `(w, h)` so its longer side is `max`, keeping even sizes for video encoders.
fn fit(w: u32, h: u32, max: u32) -> (u32, u32) {
    let (w, h) = (w.max(1), h.max(1));
    let scale = max as f32 / w.max(h) as f32;
    let even = |v: f32| ((v.round() as u32).max(2) / 2) * 2;
    (even(w as f32 * scale), even(h as f32 * scale))
}

fn parse_size(s: &str) -> (u32, u32) {
    s.split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((832, 480))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_even_sizes() {
        assert_eq!(fit(1920, 1080, 640), (640, 360));
        assert_eq!(fit(480, 832, 640), (368, 640));
        assert_eq!(fit(0, 0, 640), (640, 640));
        assert_eq!(parse_size("640x640"), (640, 640));
        assert_eq!(parse_size("junk"), (832, 480));
    }
}
