//! Conform: an edit made from an export comes back (`.otio`, or FCP7 XML from Premiere or
//! Resolve) and the sequence follows it. Shots are found by the `aktion.shot` metadata the
//! export wrote, else by their media file (its name carries the take's hash), else by name;
//! they are put in the edit's order and given the edit's in-points and lengths. A shot the edit
//! made longer than its take is marked "needs a longer take" (its hold is longer than the clip);
//! shots the edit left out are taken out of the sequence and listed; clips the edit added that
//! are no shot are listed too. Nodes and takes are never touched, so nothing is run again.

use std::collections::BTreeSet;

use aktion_graph::sequence::{frames_to_ms, ms_to_frames};
use aktion_graph::{Document, Sequence, Shot, ShotId};
use serde_json::Value;

/// Largest edit file read.
pub const MAX_EDIT_BYTES: usize = 64 * 1024 * 1024;

/// Why an edit could not be read. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ConformError {
    #[error("the edit is not {0}: {1}")]
    Syntax(&'static str, String),
    #[error("the edit has no video track")]
    NoVideo,
    #[error("the edit file is {0} bytes, over the 64 MiB limit")]
    TooLarge(usize),
    #[error("no clip of the edit is a shot of this sequence (was it exported from this project?)")]
    NothingMatched,
}

/// One clip of the edit's first video track, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct EditClip {
    pub name: String,
    /// `metadata.aktion.shot` (OTIO only).
    pub shot: Option<ShotId>,
    /// The media file's name, without folders.
    pub file: String,
    /// First frame used and length on the timeline, at `fps`.
    pub source_in: u64,
    pub frames: u64,
    pub fps: f64,
}

/// What a conform does to the sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Conformed {
    pub sequence: Sequence,
    /// Shots now longer than their takes (to be run again with the new duration).
    pub longer: Vec<ShotId>,
    /// Shots the edit left out, taken out of the sequence.
    pub removed: Vec<Shot>,
    /// Clips of the edit that are no shot (names).
    pub unmatched: Vec<String>,
    /// Shots whose order, in-point or length changed.
    pub changed: usize,
}

impl Conformed {
    /// One line for the status bar.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "conformed to the edit: {} shot(s), {} changed",
            self.sequence.shots.len(),
            self.changed
        )];
        if !self.longer.is_empty() {
            parts.push(format!("{} need a longer take", self.longer.len()));
        }
        if !self.removed.is_empty() {
            let names: Vec<String> = self
                .removed
                .iter()
                .map(|s| {
                    if s.title.is_empty() {
                        s.id.to_string()
                    } else {
                        s.title.clone()
                    }
                })
                .collect();
            parts.push(format!(
                "{} left out of the edit and removed: {}",
                self.removed.len(),
                names.join(", ")
            ));
        }
        if !self.unmatched.is_empty() {
            parts.push(format!(
                "{} clip(s) of the edit are no shot: {}",
                self.unmatched.len(),
                self.unmatched.join(", ")
            ));
        }
        parts.join("; ")
    }
}

fn frames_of(time: &Value) -> Option<(f64, f64)> {
    let value = time.get("value")?.as_f64()?;
    let rate = time.get("rate")?.as_f64()?;
    (value.is_finite() && rate.is_finite() && rate > 0.0 && value >= 0.0).then_some((value, rate))
}

/// Reads the edit at `path`: FCP7 XML for a `.xml` file, OpenTimelineIO otherwise. The
/// message names the file.
pub fn read_path(path: &std::path::Path) -> Result<Vec<EditClip>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let xml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
    if xml {
        read_fcp7(&bytes)
    } else {
        read_otio(&bytes)
    }
    .map_err(|e| format!("{e} ({})", path.display()))
}

/// The clips of an `.otio` timeline's first video track.
pub fn read_otio(text: &[u8]) -> Result<Vec<EditClip>, ConformError> {
    if text.len() > MAX_EDIT_BYTES {
        return Err(ConformError::TooLarge(text.len()));
    }
    let v: Value = serde_json::from_slice(text)
        .map_err(|e| ConformError::Syntax("OpenTimelineIO JSON", e.to_string()))?;
    let tracks = v
        .pointer("/tracks/children")
        .and_then(Value::as_array)
        .ok_or_else(|| ConformError::Syntax("an OpenTimelineIO timeline", "no tracks".into()))?;
    let video = tracks
        .iter()
        .find(|t| t.get("kind").and_then(Value::as_str) == Some("Video"))
        .ok_or(ConformError::NoVideo)?;
    let mut clips = Vec::new();
    for item in video
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let schema = item
            .get("OTIO_SCHEMA")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !schema.starts_with("Clip.") {
            continue;
        }
        let range = item.get("source_range");
        let (Some((start, rate)), Some((duration, _))) = (
            range.and_then(|r| r.get("start_time")).and_then(frames_of),
            range.and_then(|r| r.get("duration")).and_then(frames_of),
        ) else {
            continue;
        };
        let key = item
            .get("active_media_reference_key")
            .and_then(Value::as_str)
            .unwrap_or("DEFAULT_MEDIA");
        let url = item
            .pointer(&format!("/media_references/{key}/target_url"))
            .or_else(|| item.pointer("/media_reference/target_url"))
            .and_then(Value::as_str)
            .unwrap_or("");
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked finite and non-negative; rounded frames"
        )]
        clips.push(EditClip {
            name: item
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            shot: item
                .pointer("/metadata/aktion/shot")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .map(ShotId),
            file: file_name(url),
            source_in: start.round() as u64,
            frames: duration.round() as u64,
            fps: rate,
        });
    }
    Ok(clips)
}

fn file_name(url: &str) -> String {
    url.rsplit(['/', '\\']).next().unwrap_or("").to_owned()
}

/// The clips of an FCP7 XML (xmeml) sequence's first video track.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the XML events, elements tracked by path"
)]
pub fn read_fcp7(text: &[u8]) -> Result<Vec<EditClip>, ConformError> {
    use quick_xml::events::Event;
    if text.len() > MAX_EDIT_BYTES {
        return Err(ConformError::TooLarge(text.len()));
    }
    let mut reader = quick_xml::Reader::from_reader(text);
    let mut path: Vec<String> = Vec::new();
    let mut clips = Vec::new();
    let mut current: Option<(EditClip, [Option<u64>; 4])> = None;
    let mut tracks_seen = 0usize;
    let mut in_first_video_track = false;
    let mut seq_rate: Option<f64> = None;
    let mut buf = Vec::new();
    // Text of the element being read: quick-xml hands entities (`&amp;`) over separately.
    let mut content = String::new();
    let bad = |e: &dyn std::fmt::Display| ConformError::Syntax("FCP7 XML", e.to_string());
    loop {
        match reader.read_event_into(&mut buf).map_err(|e| bad(&e))? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if name == "track" && path.last().is_some_and(|p| p == "video") {
                    tracks_seen += 1;
                    in_first_video_track = tracks_seen == 1;
                }
                if name == "clipitem" && in_first_video_track {
                    current = Some((
                        EditClip {
                            name: String::new(),
                            shot: None,
                            file: String::new(),
                            source_in: 0,
                            frames: 0,
                            fps: seq_rate.unwrap_or(24.0),
                        },
                        [None; 4],
                    ));
                }
                path.push(name);
                content.clear();
                if path.len() > 64 {
                    return Err(bad(&"elements nest deeper than 64"));
                }
            }
            Event::Text(t) => content.push_str(&t.decode().map_err(|e| bad(&e))?),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    content.push(c);
                } else {
                    match r.decode().map_err(|e| bad(&e))?.as_ref() {
                        "amp" => content.push('&'),
                        "lt" => content.push('<'),
                        "gt" => content.push('>'),
                        "quot" => content.push('"'),
                        "apos" => content.push('\''),
                        _ => {}
                    }
                }
            }
            Event::End(_) => {
                let leaf = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str);
                let text = std::mem::take(&mut content).trim().to_owned();
                if leaf == "timebase" && parent == Some("rate") && seq_rate.is_none() {
                    seq_rate = text
                        .parse()
                        .ok()
                        .filter(|r: &f64| r.is_finite() && *r > 0.0);
                }
                if let Some((clip, fields)) = current.as_mut() {
                    match (parent, leaf.as_str()) {
                        (Some("clipitem"), "name") => clip.name = text,
                        (Some("clipitem"), "start") => fields[0] = text.parse().ok(),
                        (Some("clipitem"), "end") => fields[1] = text.parse().ok(),
                        (Some("clipitem"), "in") => fields[2] = text.parse().ok(),
                        (Some("clipitem"), "out") => fields[3] = text.parse().ok(),
                        (Some("file"), "pathurl") => clip.file = file_name(&text),
                        (Some("rate"), "timebase") => {
                            if let Ok(r) = text.parse::<f64>()
                                && r.is_finite()
                                && r > 0.0
                            {
                                clip.fps = r;
                            }
                        }
                        _ => {}
                    }
                }
                if leaf == "track" && in_first_video_track {
                    in_first_video_track = false;
                }
                if leaf == "clipitem"
                    && let Some((mut clip, [start, end, cin, _out])) = current.take()
                    && let (Some(start), Some(end)) = (start, end)
                    && end > start
                {
                    clip.frames = end - start;
                    clip.source_in = cin.unwrap_or(0);
                    clips.push(clip);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if tracks_seen == 0 {
        return Err(ConformError::NoVideo);
    }
    Ok(clips)
}

/// Finds the shot each clip is: by id, by media file (the export named it
/// `NNN_title_HASH8.ext`, HASH8 the start of the take's content hash), by name.
fn match_shot(doc: &Document, clip: &EditClip, taken: &BTreeSet<ShotId>) -> Option<ShotId> {
    let seq = &doc.sequence;
    let free = |s: &&Shot| !taken.contains(&s.id);
    if let Some(id) = clip.shot
        && seq.shot(id).is_some()
        && !taken.contains(&id)
    {
        return Some(id);
    }
    let stem = clip
        .file
        .rsplit_once('.')
        .map_or(clip.file.as_str(), |(s, _)| s);
    if let Some(hash8) = stem
        .rsplit_once('_')
        .map(|(_, h)| h)
        .filter(|h| h.len() == 8)
    {
        let by_file = seq.shots.iter().filter(free).find(|s| {
            s.take(doc)
                .and_then(|t| t.outputs.first())
                .is_some_and(|o| o.hash.starts_with(hash8))
        });
        if let Some(s) = by_file {
            return Some(s.id);
        }
    }
    seq.shots
        .iter()
        .filter(free)
        .find(|s| !clip.name.is_empty() && (s.title == clip.name))
        .map(|s| s.id)
}

/// The sequence conformed to `clips`. `clip_ms` gives a shot's clip length (`None`: a still
/// or no take).
pub fn conform(
    doc: &Document,
    clips: &[EditClip],
    mut clip_ms: impl FnMut(&Shot) -> Option<u64>,
) -> Result<Conformed, ConformError> {
    let seq = &doc.sequence;
    let mut taken = BTreeSet::new();
    let mut shots = Vec::new();
    let mut unmatched = Vec::new();
    let mut longer = Vec::new();
    let mut changed = 0;
    for clip in clips {
        let Some(id) = match_shot(doc, clip, &taken) else {
            unmatched.push(if clip.name.is_empty() {
                clip.file.clone()
            } else {
                clip.name.clone()
            });
            continue;
        };
        taken.insert(id);
        let Some(old) = seq.shot(id) else { continue };
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a frame rate of an edit, positive and small"
        )]
        let edit_fps = (clip.fps.round() as u32).max(1);
        let to_ms = |frames: u64| frames_to_ms(frames, edit_fps);
        let length = clip_ms(old);
        let mut shot = old.clone();
        let duration = to_ms(clip.frames).min(aktion_graph::sequence::MAX_SHOT_MS);
        // Unchanged (to the frame) stays exactly as it was.
        let fps = seq.fps;
        let same_length = ms_to_frames(old.duration_ms(length), fps) == ms_to_frames(duration, fps);
        let in_ms = to_ms(clip.source_in).min(aktion_graph::sequence::MAX_SHOT_MS);
        let same_in = length.is_none()
            || ms_to_frames(old.used(length.unwrap_or(0)).0, fps) == ms_to_frames(in_ms, fps);
        if !(same_length && same_in) {
            match length {
                Some(len) => {
                    shot.in_ms = in_ms.min(len);
                    if shot.in_ms + duration <= len {
                        shot.out_ms = Some(shot.in_ms + duration);
                        shot.hold_ms = None;
                    } else {
                        shot.out_ms = None;
                        shot.hold_ms = Some(duration);
                    }
                }
                None => shot.hold_ms = Some(duration),
            }
        }
        if shot.needs_longer_take(length) {
            longer.push(shot.id);
        }
        if shot != *old || seq.position(id) != Some(shots.len()) {
            changed += 1;
        }
        shots.push(shot);
    }
    if shots.is_empty() {
        return Err(ConformError::NothingMatched);
    }
    let removed: Vec<Shot> = seq
        .shots
        .iter()
        .filter(|s| !taken.contains(&s.id))
        .cloned()
        .collect();
    Ok(Conformed {
        sequence: Sequence {
            shots,
            ..seq.clone()
        },
        longer,
        removed,
        unmatched,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_edits_get_their_reason() {
        assert!(matches!(read_otio(b"{"), Err(ConformError::Syntax(..))));
        assert!(matches!(read_otio(b"[]"), Err(ConformError::Syntax(..))));
        assert!(matches!(
            read_otio(br#"{"tracks":{"children":[{"kind":"Audio","children":[]}]}}"#),
            Err(ConformError::NoVideo)
        ));
        // Negative, infinite or missing times are skipped, not trusted.
        let odd = br#"{"tracks":{"children":[{"kind":"Video","children":[
            {"OTIO_SCHEMA":"Clip.2","name":"a","source_range":{"start_time":{"value":-5,"rate":24},"duration":{"value":10,"rate":24}}},
            {"OTIO_SCHEMA":"Clip.2","name":"b","source_range":{"start_time":{"value":0,"rate":0},"duration":{"value":10,"rate":24}}},
            {"OTIO_SCHEMA":"Clip.2","name":"c","source_range":{"start_time":{"value":2,"rate":24},"duration":{"value":30,"rate":24}}}
        ]}]}}"#;
        let clips = read_otio(odd).expect("reads");
        assert_eq!(clips.len(), 1);
        assert_eq!((clips[0].source_in, clips[0].frames), (2, 30));
        assert!(matches!(
            read_fcp7(b"<xmeml><sequence>"),
            Err(ConformError::NoVideo | ConformError::Syntax(..))
        ));
        assert!(read_fcp7(b"not xml <<<").is_err());
        let deep = "<a>".repeat(100);
        assert!(read_fcp7(deep.as_bytes()).is_err());
    }

    #[test]
    fn fcp7_clipitems_are_read_in_order() {
        let xml = br#"<?xml version="1.0"?><xmeml version="5"><sequence><rate><timebase>24</timebase></rate>
          <media><video><track>
            <clipitem id="a"><name>Two</name><rate><timebase>24</timebase></rate><start>0</start><end>48</end><in>0</in><out>48</out>
              <file id="f2"><pathurl>media/002_two_bbbbbbbb.png</pathurl></file></clipitem>
            <clipitem id="b"><name>One</name><start>48</start><end>120</end><in>12</in><out>84</out>
              <file id="f1"><pathurl>file:///x/media/001_one_aaaaaaaa.mp4</pathurl></file></clipitem>
          </track><track><clipitem><name>Other track</name><start>0</start><end>5</end></clipitem></track></video></media></sequence></xmeml>"#;
        let clips = read_fcp7(xml).expect("reads");
        assert_eq!(clips.len(), 2);
        assert_eq!(clips[0].name, "Two");
        assert_eq!(clips[1].file, "001_one_aaaaaaaa.mp4");
        assert_eq!((clips[1].source_in, clips[1].frames), (12, 72));
    }
}
