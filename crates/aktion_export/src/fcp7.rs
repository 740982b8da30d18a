//! Final Cut Pro 7 XML (`xmeml` version 5), which Premiere Pro and DaVinci Resolve import: one
//! sequence, a video track of the shots and an audio track of their sound, `clipitem`s with
//! timeline `start`/`end` and source `in`/`out` in frames, each `file` defined once (later uses
//! refer to its id) with a `pathurl` relative to the export folder.

use std::collections::BTreeSet;

use crate::otio::sound_of;
use crate::timeline::{Clip, Kind, Media, Timeline};
use crate::xml::Xml;

fn rate(x: &mut Xml, fps: u32) {
    x.open("rate", &[]);
    x.text("timebase", &fps.to_string());
    x.text("ntsc", "FALSE");
    x.close();
}

struct Files<'t> {
    media: Vec<&'t Media>,
    defined: BTreeSet<String>,
}

impl Files<'_> {
    fn id(&self, m: &Media) -> String {
        let i = self
            .media
            .iter()
            .position(|n| n.name == m.name)
            .unwrap_or(0);
        format!("file-{}", i + 1)
    }

    /// The `file` element: in full the first time, by id after.
    fn write(&mut self, x: &mut Xml, m: &Media, fps: u32, fallback_frames: u64) {
        let id = self.id(m);
        if !self.defined.insert(id.clone()) {
            x.empty("file", &[("id", &id)]);
            return;
        }
        x.open("file", &[("id", &id)]);
        x.text("name", &m.name);
        x.text("pathurl", &m.url());
        rate(x, fps);
        x.text("duration", &m.frames.unwrap_or(fallback_frames).to_string());
        x.open("media", &[]);
        if m.kind != Kind::Audio {
            x.open("video", &[]);
            x.open("samplecharacteristics", &[]);
            x.text("width", &m.width.to_string());
            x.text("height", &m.height.to_string());
            x.close();
            x.close();
        }
        if m.has_audio {
            x.open("audio", &[]);
            x.text("channelcount", "1");
            x.close();
        }
        x.close();
        x.close();
    }
}

#[expect(clippy::too_many_arguments, reason = "one clipitem's fields")]
fn clipitem(
    x: &mut Xml,
    files: &mut Files<'_>,
    id: &str,
    clip: &Clip,
    media: &Media,
    start: u64,
    source_in: u64,
    frames: u64,
    fps: u32,
) {
    x.open("clipitem", &[("id", id)]);
    x.text("name", &clip.name);
    x.text("enabled", "TRUE");
    x.text(
        "duration",
        &media.frames.unwrap_or(source_in + frames).to_string(),
    );
    rate(x, fps);
    x.text("start", &start.to_string());
    x.text("end", &(start + frames).to_string());
    x.text("in", &source_in.to_string());
    x.text("out", &(source_in + frames).to_string());
    files.write(x, media, fps, source_in + frames);
    if !clip.description.is_empty() || !clip.dialogue.is_empty() {
        x.open("comments", &[]);
        if !clip.description.is_empty() {
            x.text("mastercomment1", &clip.description);
        }
        if !clip.dialogue.is_empty() {
            x.text("mastercomment2", &clip.dialogue);
        }
        x.close();
    }
    x.close();
}

pub fn write(timeline: &Timeline) -> String {
    let fps = timeline.fps;
    let (starts, total) = timeline.starts();
    let mut files = Files {
        media: timeline.media(),
        defined: BTreeSet::new(),
    };
    let mut x = Xml::new("xmeml");
    x.open("xmeml", &[("version", "5")]);
    x.open("sequence", &[("id", "sequence-1")]);
    x.text("name", &timeline.name);
    x.text("duration", &total.to_string());
    rate(&mut x, fps);
    x.open("media", &[]);
    x.open("video", &[]);
    x.open("format", &[]);
    x.open("samplecharacteristics", &[]);
    rate(&mut x, fps);
    x.text("width", &timeline.width.to_string());
    x.text("height", &timeline.height.to_string());
    x.text("pixelaspectratio", "square");
    x.close();
    x.close();
    x.open("track", &[]);
    for (clip, &start) in timeline.clips.iter().zip(&starts) {
        if let Some(m) = &clip.media {
            let id = format!("clipitem-v{}", clip.index + 1);
            clipitem(
                &mut x,
                &mut files,
                &id,
                clip,
                m,
                start,
                clip.source_in,
                clip.frames,
                fps,
            );
        }
    }
    x.close();
    x.close();
    x.open("audio", &[]);
    x.open("track", &[]);
    for (clip, &start) in timeline.clips.iter().zip(&starts) {
        if let Some((m, source_in)) = sound_of(clip) {
            let available = m.frames.unwrap_or(clip.frames).saturating_sub(source_in);
            let frames = clip.frames.min(available);
            if frames > 0 {
                let id = format!("clipitem-a{}", clip.index + 1);
                clipitem(
                    &mut x, &mut files, &id, clip, m, start, source_in, frames, fps,
                );
            }
        }
    }
    x.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::sample;

    #[test]
    fn clipitems_carry_timeline_and_source_frames() {
        let xml = write(&sample());
        assert!(xml.contains("<xmeml version=\"5\">"));
        assert!(xml.contains("<start>0</start>"));
        assert!(xml.contains("<in>12</in>"));
        assert!(xml.contains("<out>84</out>"));
        assert!(xml.contains("<start>72</start>"));
        assert!(xml.contains("<end>210</end>"));
        assert!(xml.contains("<pathurl>media/001_rooftop_aaaaaaaa.mp4</pathurl>"));
        // The rooftop clip's own sound refers to the file already defined.
        assert!(xml.contains("<file id=\"file-1\"/>"));
        assert_eq!(xml.matches("<clipitem ").count(), 5);
    }
}
