//! OpenTimelineIO: `.otio` (JSON, schema `Timeline.1`) and `.otioz` (a zip of `version.txt`,
//! `content.otio` and the media, as OTIO's own bundle adapter lays it out).
//!
//! One video track (each shot a `Clip.2` with an `ExternalReference.1` relative to the export
//! folder) and one audio track (the shot's dialogue file, or the clip's own sound; `Gap.1`
//! elsewhere). Every clip carries `metadata.aktion`: prompt, seed, model, route, credits, node,
//! take, and the shot's id, number and fields, which is how a conform finds it again.

use std::io::Write as _;

use serde_json::{Value, json};

use crate::ExportError;
use crate::timeline::{Clip, Kind, Media, Timeline};

fn time(value: u64, fps: u32) -> Value {
    json!({ "OTIO_SCHEMA": "RationalTime.1", "rate": f64::from(fps), "value": value as f64 })
}

fn range(start: u64, duration: u64, fps: u32) -> Value {
    json!({
        "OTIO_SCHEMA": "TimeRange.1",
        "start_time": time(start, fps),
        "duration": time(duration, fps),
    })
}

/// A still has no length of its own; it is given the longest any shot holds it (editors'
/// importers want a range on every file).
fn reference(media: &Media, fps: u32, still_frames: u64) -> Value {
    json!({
        "OTIO_SCHEMA": "ExternalReference.1",
        "name": media.name,
        "target_url": media.url(),
        "available_range": range(0, media.frames.unwrap_or(still_frames), fps),
        "available_image_bounds": null,
        "metadata": {},
    })
}

/// The `aktion` metadata of a clip.
pub fn metadata(clip: &Clip) -> Value {
    let f = &clip.facts;
    json!({
        "aktion": {
            "shot": clip.shot.to_string(),
            "number": clip.number,
            "prompt": f.prompt,
            "seed": f.seed,
            "model": f.model,
            "route": f.route,
            "credits": f.credits,
            "node": f.node.to_string(),
            "take": f.take.map(|t| t.0.to_string()),
            "description": clip.description,
            "dialogue": clip.dialogue,
            "camera": {
                "shot_type": clip.camera.shot_type,
                "angle": clip.camera.angle,
                "movement": clip.camera.movement,
                "lens": clip.camera.lens,
            },
            "status": clip.status.label(),
        }
    })
}

fn clip_item(name: &str, media: &Media, start: u64, frames: u64, fps: u32, meta: &Value) -> Value {
    json!({
        "OTIO_SCHEMA": "Clip.2",
        "name": name,
        "metadata": meta,
        "source_range": range(start, frames, fps),
        "effects": [],
        "markers": [],
        "enabled": true,
        "color": null,
        "media_references": { "DEFAULT_MEDIA": reference(media, fps, start + frames) },
        "active_media_reference_key": "DEFAULT_MEDIA",
    })
}

fn gap(frames: u64, fps: u32) -> Value {
    json!({
        "OTIO_SCHEMA": "Gap.1",
        "name": "",
        "metadata": {},
        "source_range": range(0, frames, fps),
        "effects": [],
        "markers": [],
        "enabled": true,
        "color": null,
    })
}

fn track(name: &str, kind: &str, children: &[Value]) -> Value {
    json!({
        "OTIO_SCHEMA": "Track.1",
        "name": name,
        "kind": kind,
        "metadata": {},
        "source_range": null,
        "effects": [],
        "markers": [],
        "enabled": true,
        "color": null,
        "children": children,
    })
}

/// The sound a shot brings: its dialogue file, else its clip's own track.
pub fn sound_of(clip: &Clip) -> Option<(&Media, u64)> {
    if let Some(d) = &clip.dialogue_audio {
        return Some((d, 0));
    }
    clip.media
        .as_ref()
        .filter(|m| m.kind == Kind::Video && m.has_audio)
        .map(|m| (m, clip.source_in))
}

/// The timeline as OTIO JSON.
pub fn write(timeline: &Timeline) -> String {
    let fps = timeline.fps;
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for clip in &timeline.clips {
        match &clip.media {
            Some(media) => video.push(clip_item(
                &clip.name,
                media,
                clip.source_in,
                clip.frames,
                fps,
                &metadata(clip),
            )),
            None => video.push(gap(clip.frames, fps)),
        }
        match sound_of(clip) {
            Some((media, start)) => {
                let available = media.frames.unwrap_or(clip.frames).saturating_sub(start);
                let frames = clip.frames.min(available);
                if frames > 0 {
                    audio.push(clip_item(
                        &format!("{} (sound)", clip.name),
                        media,
                        start,
                        frames,
                        fps,
                        &metadata(clip),
                    ));
                }
                if frames < clip.frames {
                    audio.push(gap(clip.frames - frames, fps));
                }
            }
            None => audio.push(gap(clip.frames, fps)),
        }
    }
    let doc = json!({
        "OTIO_SCHEMA": "Timeline.1",
        "name": timeline.name,
        "metadata": { "aktion": { "fps": fps, "width": timeline.width, "height": timeline.height } },
        "global_start_time": time(0, fps),
        "tracks": {
            "OTIO_SCHEMA": "Stack.1",
            "name": "tracks",
            "metadata": {},
            "source_range": null,
            "effects": [],
            "markers": [],
            "enabled": true,
            "color": null,
            "children": [track("V1", "Video", &video), track("A1", "Audio", &audio)],
        },
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// The `.otioz` bundle: `version.txt`, `content.otio` (deflated) and `media/` (stored).
pub fn bundle(timeline: &Timeline) -> Result<Vec<u8>, ExportError> {
    let zip_err = |e: zip::result::ZipError| ExportError::Write {
        path: "the .otioz bundle".into(),
        source: std::io::Error::other(e),
    };
    let io_err = |e: std::io::Error| ExportError::Write {
        path: "the .otioz bundle".into(),
        source: e,
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    zip.start_file("version.txt", deflated).map_err(zip_err)?;
    zip.write_all(b"1.0.0").map_err(io_err)?;
    zip.start_file("content.otio", deflated).map_err(zip_err)?;
    zip.write_all(write(timeline).as_bytes()).map_err(io_err)?;
    for media in timeline.media() {
        let bytes = std::fs::read(&media.source).map_err(|source| ExportError::Read {
            path: media.source.clone(),
            source,
        })?;
        zip.start_file(media.url(), stored).map_err(zip_err)?;
        zip.write_all(&bytes).map_err(io_err)?;
    }
    let cursor = zip.finish().map_err(zip_err)?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::sample;

    #[test]
    fn clips_and_gaps_add_up_on_both_tracks() {
        let t = sample();
        let v: Value = serde_json::from_str(&write(&t)).expect("json");
        let tracks = v["tracks"]["children"].as_array().expect("tracks");
        let total = |track: &Value| {
            track["children"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    c["source_range"]["duration"]["value"]
                        .as_f64()
                        .unwrap_or(0.0)
                })
                .sum::<f64>()
        };
        let (_, frames) = t.starts();
        assert!((total(&tracks[0]) - frames as f64).abs() < 0.5);
        assert!((total(&tracks[1]) - frames as f64).abs() < 0.5);
        let first = &tracks[0]["children"][0];
        assert_eq!(first["OTIO_SCHEMA"], "Clip.2");
        assert_eq!(
            first["media_references"]["DEFAULT_MEDIA"]["target_url"],
            "media/001_rooftop_aaaaaaaa.mp4"
        );
        assert_eq!(first["metadata"]["aktion"]["seed"], 7);
        assert_eq!(first["metadata"]["aktion"]["route"], "draft");
    }
}
