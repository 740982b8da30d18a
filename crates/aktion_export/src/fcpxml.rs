//! FCPXML 1.10 for Final Cut Pro: a library with one event and one project whose sequence's
//! spine holds each shot in order: clips as `asset-clip`s, stills as a `clip` holding a
//! `video` of the image, dialogue as a connected audio `asset-clip` (lane -1). Media are
//! `asset`s with a `media-rep` whose `src` is relative to the export folder. Times are
//! rationals of the sequence's frame duration (`72/24s`).

use crate::otio::sound_of;
use crate::timeline::{Kind, Media, Timeline};
use crate::xml::Xml;

fn t(frames: u64, fps: u32) -> String {
    if frames == 0 {
        "0s".to_owned()
    } else {
        format!("{frames}/{fps}s")
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "one document, written top to bottom in the order FCPXML nests it"
)]
pub fn write(timeline: &Timeline) -> String {
    let fps = timeline.fps;
    let mut x = Xml::new("fcpxml");
    x.open("fcpxml", &[("version", "1.10")]);
    x.open("resources", &[]);
    let (w, h) = (timeline.width.to_string(), timeline.height.to_string());
    let frame = format!("1/{fps}s");
    x.empty(
        "format",
        &[
            ("id", "r1"),
            ("frameDuration", &frame),
            ("width", &w),
            ("height", &h),
        ],
    );
    // One asset per media file, in first-use order.
    let media: Vec<&Media> = timeline.media();
    let id_of = |m: &Media| {
        media
            .iter()
            .position(|n| n.name == m.name)
            .map_or_else(String::new, |i| format!("r{}", i + 2))
    };
    for m in &media {
        let id = id_of(m);
        let duration = t(m.frames.unwrap_or(0), fps);
        let has_video = if m.kind == Kind::Audio { "0" } else { "1" };
        let has_audio = if m.has_audio { "1" } else { "0" };
        let mut attrs = vec![
            ("id", id.as_str()),
            ("name", m.name.as_str()),
            ("start", "0s"),
            ("duration", duration.as_str()),
            ("hasVideo", has_video),
            ("hasAudio", has_audio),
        ];
        if m.kind != Kind::Audio {
            attrs.push(("format", "r1"));
        }
        if m.has_audio {
            attrs.extend([
                ("audioSources", "1"),
                ("audioChannels", "1"),
                ("audioRate", "48000"),
            ]);
        }
        x.open("asset", &attrs);
        let src = m.url();
        x.empty("media-rep", &[("kind", "original-media"), ("src", &src)]);
        x.close();
    }
    x.close();
    x.open("library", &[]);
    x.open("event", &[("name", &timeline.name)]);
    x.open("project", &[("name", &timeline.name)]);
    let (starts, total) = timeline.starts();
    let total = t(total, fps);
    x.open(
        "sequence",
        &[
            ("format", "r1"),
            ("duration", &total),
            ("tcStart", "0s"),
            ("tcFormat", "NDF"),
            ("audioLayout", "stereo"),
            ("audioRate", "48k"),
        ],
    );
    x.open("spine", &[]);
    for (clip, start) in timeline.clips.iter().zip(starts) {
        let offset = t(start, fps);
        let duration = t(clip.frames, fps);
        let Some(m) = &clip.media else {
            x.empty(
                "gap",
                &[
                    ("name", "Missing take"),
                    ("offset", &offset),
                    ("start", "0s"),
                    ("duration", &duration),
                ],
            );
            continue;
        };
        let id = id_of(m);
        let local_start = t(clip.source_in, fps);
        if m.kind == Kind::Image {
            x.open(
                "clip",
                &[
                    ("name", &clip.name),
                    ("offset", &offset),
                    ("start", "0s"),
                    ("duration", &duration),
                    ("format", "r1"),
                    ("tcFormat", "NDF"),
                ],
            );
            if !clip.description.is_empty() {
                x.text("note", &clip.description);
            }
            x.empty(
                "video",
                &[
                    ("ref", &id),
                    ("offset", "0s"),
                    ("start", "0s"),
                    ("duration", &duration),
                ],
            );
        } else {
            x.open(
                "asset-clip",
                &[
                    ("ref", &id),
                    ("name", &clip.name),
                    ("offset", &offset),
                    ("start", &local_start),
                    ("duration", &duration),
                    ("tcFormat", "NDF"),
                ],
            );
            if !clip.description.is_empty() {
                x.text("note", &clip.description);
            }
        }
        // Dialogue from its own file, connected below the shot.
        if let Some(d) = clip
            .dialogue_audio
            .as_ref()
            .filter(|_| sound_of(clip).is_some())
        {
            let frames = clip.frames.min(d.frames.unwrap_or(clip.frames));
            let d_id = id_of(d);
            let local = if m.kind == Kind::Image {
                "0s".to_owned()
            } else {
                local_start.clone()
            };
            x.empty(
                "asset-clip",
                &[
                    ("ref", &d_id),
                    ("lane", "-1"),
                    ("name", &format!("{} (dialogue)", clip.name)),
                    ("offset", &local),
                    ("start", "0s"),
                    ("duration", &t(frames, fps)),
                ],
            );
        }
        x.close();
    }
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::sample;

    #[test]
    fn the_spine_holds_every_shot_in_order() {
        let xml = write(&sample());
        assert!(xml.contains("<fcpxml version=\"1.10\">"));
        let rooftop = xml.find("name=\"Rooftop\"").expect("rooftop");
        let mara = xml.find("name=\"Mara, close\"").expect("mara");
        let chase = xml.find("name=\"Chase\"").expect("chase");
        assert!(rooftop < mara && mara < chase);
        assert!(xml.contains("offset=\"0s\" start=\"12/24s\" duration=\"72/24s\""));
        assert!(xml.contains("offset=\"72/24s\" start=\"0s\" duration=\"48/24s\""));
        assert!(xml.contains("src=\"media/002_dialogue_cccccccc.wav\""));
        assert!(xml.contains("lane=\"-1\""));
        assert!(xml.contains("Night &amp; Day"));
    }
}
