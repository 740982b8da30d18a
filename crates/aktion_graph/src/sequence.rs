//! The sequence: the film in outline (PRODUCT.md §4.8). An ordered list of shots, each pointing
//! to a node of the board (its active take, or a pinned one), with timing, dialogue,
//! description, camera fields and a status.
//!
//! Plain data: no UI types and no media. How long a clip is comes from outside (the app or the
//! exporter reads the take), so timing questions take the clip's length as an argument.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::document::{Document, NodeId, Take, TakeId};

/// How long a shot of a still (or of a node with no take yet) lasts unless told otherwise.
pub const STILL_MS: u64 = 3_000;
/// Frame rates a sequence may have (the editors' timelines take these).
pub const FPS_CHOICES: [u32; 5] = [24, 25, 30, 50, 60];
/// The longest a shot may be held (an hour): keeps sums and frame maths far from overflow.
pub const MAX_SHOT_MS: u64 = 3_600_000;
/// Most shots a sequence holds (a feature has a few thousand at most).
pub const MAX_SHOTS: usize = 10_000;
/// Longest text field of a shot, in bytes.
pub const MAX_TEXT: usize = 16 * 1024;

/// A shot's identity, stable across reorders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShotId(pub Uuid);

impl ShotId {
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl Default for ShotId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for ShotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a shot stands in review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShotStatus {
    #[default]
    Draft,
    Approved,
}

impl ShotStatus {
    pub fn label(self) -> &'static str {
        match self {
            ShotStatus::Draft => "draft",
            ShotStatus::Approved => "approved",
        }
    }
}

/// The camera fields of a shot list. Free text: studios name their shot types differently;
/// the app offers the usual ones (see [`SHOT_TYPES`] and the others).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Camera {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub shot_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub angle: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub movement: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub lens: String,
}

impl Camera {
    pub fn is_empty(&self) -> bool {
        self.shot_type.is_empty()
            && self.angle.is_empty()
            && self.movement.is_empty()
            && self.lens.is_empty()
    }

    /// "MS · eye level · dolly in · 35mm", the fields that are set.
    pub fn summary(&self) -> String {
        [&self.shot_type, &self.angle, &self.movement, &self.lens]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// Shot types the app suggests.
pub const SHOT_TYPES: [&str; 8] = ["EWS", "WS", "FS", "MS", "MCU", "CU", "ECU", "OTS"];
/// Camera angles the app suggests.
pub const ANGLES: [&str; 6] = [
    "eye level",
    "high",
    "low",
    "overhead",
    "dutch",
    "over the shoulder",
];
/// Camera movements the app suggests.
pub const MOVEMENTS: [&str; 8] = [
    "static",
    "pan",
    "tilt",
    "dolly in",
    "dolly out",
    "truck",
    "crane",
    "handheld",
];

/// One shot of the sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shot {
    pub id: ShotId,
    /// The node whose result the shot shows.
    pub node: NodeId,
    /// A pinned take; `None` follows the node's active take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub take: Option<TakeId>,
    /// The shot number as written on the board ("12A"); empty means its place in the sequence.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Where a clip starts being used, in ms from its start.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub in_ms: u64,
    /// Where a clip stops being used; `None` is its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_ms: Option<u64>,
    /// How long the shot lasts on the timeline when that is not simply the used part of its
    /// clip: a still's hold (3 s when unset), or an edit that made a clip's shot longer than
    /// its take (see [`Shot::needs_longer_take`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
    /// The audio node whose sound is the shot's dialogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialogue_node: Option<NodeId>,
    /// The line of dialogue as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dialogue: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Camera::is_empty")]
    pub camera: Camera,
    #[serde(default)]
    pub status: ShotStatus,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if signature"
)]
fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl Shot {
    /// A new draft shot of `node`, following its active take.
    pub fn new(node: NodeId) -> Self {
        Self {
            id: ShotId::new(),
            node,
            take: None,
            number: String::new(),
            title: String::new(),
            in_ms: 0,
            out_ms: None,
            hold_ms: None,
            dialogue_node: None,
            dialogue: String::new(),
            description: String::new(),
            camera: Camera::default(),
            status: ShotStatus::Draft,
        }
    }

    /// The take the shot shows: the pinned one while it exists, otherwise the node's active
    /// take. `None` when the node is gone or has no take.
    pub fn take<'d>(&self, doc: &'d Document) -> Option<&'d Take> {
        let node = doc.node(self.node)?;
        self.take
            .and_then(|id| node.takes.iter().find(|t| t.id == id))
            .or_else(|| node.active_take())
    }

    /// The used part of a clip `clip_ms` long: `(in, out)`, clamped into the clip and never
    /// reversed.
    pub fn used(&self, clip_ms: u64) -> (u64, u64) {
        let out = self.out_ms.unwrap_or(clip_ms).min(clip_ms);
        let start = self.in_ms.min(out);
        (start, out)
    }

    /// The shot's length on the timeline. `clip_ms` is its clip's length, or `None` for a
    /// still or a missing take.
    pub fn duration_ms(&self, clip_ms: Option<u64>) -> u64 {
        let ms = match clip_ms {
            Some(len) => {
                let (start, out) = self.used(len);
                self.hold_ms.unwrap_or(out - start)
            }
            None => self.hold_ms.unwrap_or(STILL_MS),
        };
        ms.min(MAX_SHOT_MS)
    }

    /// A clip's shot that lasts longer than the part of its take it uses (an editor lengthened
    /// it): the node should be run again with the new duration.
    pub fn needs_longer_take(&self, clip_ms: Option<u64>) -> bool {
        match (clip_ms, self.hold_ms) {
            (Some(len), Some(hold)) => {
                let (start, out) = self.used(len);
                hold > out - start
            }
            _ => false,
        }
    }

    /// Its number: the one written on it, or its 1-based place.
    pub fn number_at(&self, index: usize) -> String {
        if self.number.is_empty() {
            (index + 1).to_string()
        } else {
            self.number.clone()
        }
    }

    /// The text fields, for checks and search.
    fn texts(&self) -> [(&'static str, &str); 8] {
        [
            ("number", &self.number),
            ("title", &self.title),
            ("dialogue", &self.dialogue),
            ("description", &self.description),
            ("shot type", &self.camera.shot_type),
            ("angle", &self.camera.angle),
            ("movement", &self.camera.movement),
            ("lens", &self.camera.lens),
        ]
    }
}

/// The project's sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shots: Vec<Shot>,
    /// The timeline's frame rate (exports and the animatic).
    #[serde(default = "default_fps")]
    pub fps: u32,
}

fn default_fps() -> u32 {
    24
}

impl Default for Sequence {
    fn default() -> Self {
        Self {
            shots: Vec::new(),
            fps: default_fps(),
        }
    }
}

/// Something wrong with a sequence as read from a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SequenceIssue {
    #[error("the sequence's frame rate {0} is not one of 24, 25, 30, 50 or 60")]
    Fps(u32),
    #[error("the sequence has {0} shots; at most {MAX_SHOTS} are kept")]
    TooMany(usize),
    #[error("shot {0} appears twice in the sequence")]
    Duplicate(ShotId),
    #[error("shot {shot}: {field} is longer than {MAX_TEXT} bytes")]
    TooLong { shot: ShotId, field: &'static str },
    #[error("shot {shot}: {field} holds a control character")]
    Control { shot: ShotId, field: &'static str },
    #[error("shot {0}: a time is longer than an hour")]
    Time(ShotId),
}

impl Sequence {
    pub fn is_empty(&self) -> bool {
        self.shots.is_empty() && self.fps == default_fps()
    }

    pub fn position(&self, id: ShotId) -> Option<usize> {
        self.shots.iter().position(|s| s.id == id)
    }

    pub fn shot(&self, id: ShotId) -> Option<&Shot> {
        self.shots.iter().find(|s| s.id == id)
    }

    /// Shots whose node is no longer on the board: shown as missing, never dropped silently.
    pub fn missing<'s>(&'s self, doc: &'s Document) -> impl Iterator<Item = &'s Shot> + 's {
        self.shots
            .iter()
            .filter(move |s| doc.node(s.node).is_none())
    }

    /// The total running time, given each shot's clip length (`None` for stills and missing
    /// takes).
    pub fn running_ms(&self, mut clip_ms: impl FnMut(&Shot) -> Option<u64>) -> u64 {
        self.shots
            .iter()
            .map(|s| s.duration_ms(clip_ms(s)))
            .fold(0u64, u64::saturating_add)
    }

    /// Moves the shots in `ids` (in their current order) to sit before the shot now at
    /// `to` (an index into the current list; `len` is the end). Unknown ids are ignored.
    pub fn moved(&self, ids: &[ShotId], to: usize) -> Vec<Shot> {
        let to = to.min(self.shots.len());
        let moving: Vec<Shot> = self
            .shots
            .iter()
            .filter(|s| ids.contains(&s.id))
            .cloned()
            .collect();
        let before = self.shots[..to]
            .iter()
            .filter(|s| !ids.contains(&s.id))
            .count();
        let mut rest: Vec<Shot> = self
            .shots
            .iter()
            .filter(|s| !ids.contains(&s.id))
            .cloned()
            .collect();
        let tail = rest.split_off(before);
        rest.extend(moving);
        rest.extend(tail);
        rest
    }

    /// Checks what a file may hold: frame rate, counts, unique ids, text sizes, no control
    /// characters, times within an hour. Nodes that are gone are not an issue (the shot shows
    /// as missing).
    pub fn issues(&self) -> Vec<SequenceIssue> {
        let mut issues = Vec::new();
        if !FPS_CHOICES.contains(&self.fps) {
            issues.push(SequenceIssue::Fps(self.fps));
        }
        if self.shots.len() > MAX_SHOTS {
            issues.push(SequenceIssue::TooMany(self.shots.len()));
            return issues;
        }
        let mut seen = std::collections::BTreeSet::new();
        for shot in &self.shots {
            if !seen.insert(shot.id) {
                issues.push(SequenceIssue::Duplicate(shot.id));
            }
            for (field, text) in shot.texts() {
                if text.len() > MAX_TEXT {
                    issues.push(SequenceIssue::TooLong {
                        shot: shot.id,
                        field,
                    });
                } else if text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t')
                {
                    issues.push(SequenceIssue::Control {
                        shot: shot.id,
                        field,
                    });
                }
            }
            let times = [Some(shot.in_ms), shot.out_ms, shot.hold_ms];
            if times.into_iter().flatten().any(|t| t > MAX_SHOT_MS) {
                issues.push(SequenceIssue::Time(shot.id));
            }
        }
        issues
    }
}

/// A running time as editors read it: `12.4 s` under a minute, `1:05.2` from one up, rounded
/// to the tenth (the strip and the printed storyboard both write it so).
pub fn running_time(ms: u64) -> String {
    let tenths = (ms + 50) / 100;
    let (min, sec, tenth) = (tenths / 600, (tenths / 10) % 60, tenths % 10);
    if min == 0 {
        format!("{sec}.{tenth} s")
    } else {
        format!("{min}:{sec:02}.{tenth}")
    }
}

/// Milliseconds to whole frames at `fps`, rounded to the nearest frame.
pub fn ms_to_frames(ms: u64, fps: u32) -> u64 {
    (ms * u64::from(fps) + 500) / 1000
}

/// Whole frames at `fps` to milliseconds, rounded.
pub fn frames_to_ms(frames: u64, fps: u32) -> u64 {
    if fps == 0 {
        return 0;
    }
    (frames * 1000 + u64::from(fps) / 2) / u64::from(fps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shots(n: usize) -> Sequence {
        Sequence {
            shots: (0..n).map(|_| Shot::new(NodeId::new())).collect(),
            fps: 24,
        }
    }

    #[test]
    fn durations_follow_the_clip_the_trim_and_the_hold() {
        let mut shot = Shot::new(NodeId::new());
        assert_eq!(shot.duration_ms(None), STILL_MS);
        assert_eq!(shot.duration_ms(Some(5_000)), 5_000);
        shot.in_ms = 1_000;
        shot.out_ms = Some(4_000);
        assert_eq!(shot.duration_ms(Some(5_000)), 3_000);
        // A trim past the clip's end is clamped, never negative.
        shot.out_ms = Some(9_000);
        assert_eq!(shot.duration_ms(Some(5_000)), 4_000);
        shot.in_ms = 7_000;
        assert_eq!(shot.duration_ms(Some(5_000)), 0);
        shot.in_ms = 0;
        shot.out_ms = None;
        shot.hold_ms = Some(8_000);
        assert_eq!(shot.duration_ms(Some(5_000)), 8_000);
        assert!(shot.needs_longer_take(Some(5_000)));
        assert!(!shot.needs_longer_take(None), "a still is simply held");
        shot.hold_ms = Some(4_000);
        assert!(!shot.needs_longer_take(Some(5_000)));
        shot.hold_ms = Some(u64::MAX);
        assert_eq!(shot.duration_ms(None), MAX_SHOT_MS);
    }

    #[test]
    fn moving_shots_keeps_their_order_and_everyone_else() {
        let seq = shots(6);
        let ids: Vec<ShotId> = seq.shots.iter().map(|s| s.id).collect();
        let order = |v: &[Shot]| {
            v.iter()
                .map(|s| ids.iter().position(|i| *i == s.id).unwrap_or(99))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&seq.moved(&[ids[4]], 1)), [0, 4, 1, 2, 3, 5]);
        assert_eq!(order(&seq.moved(&[ids[0], ids[2]], 6)), [1, 3, 4, 5, 0, 2]);
        assert_eq!(order(&seq.moved(&[ids[1], ids[3]], 0)), [1, 3, 0, 2, 4, 5]);
        assert_eq!(order(&seq.moved(&[ids[5]], 99)), [0, 1, 2, 3, 4, 5]);
        assert_eq!(order(&seq.moved(&[ShotId::new()], 2)), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn hostile_sequences_are_named() {
        let mut seq = shots(2);
        seq.fps = 7;
        seq.shots[1].id = seq.shots[0].id;
        seq.shots[0].title = "a\u{0}b".into();
        seq.shots[0].description = "x".repeat(MAX_TEXT + 1);
        seq.shots[0].hold_ms = Some(MAX_SHOT_MS + 1);
        let issues = seq.issues();
        assert!(issues.contains(&SequenceIssue::Fps(7)));
        assert!(issues.contains(&SequenceIssue::Duplicate(seq.shots[0].id)));
        assert!(
            issues
                .iter()
                .any(|i| matches!(i, SequenceIssue::Control { field: "title", .. }))
        );
        assert!(issues.iter().any(|i| matches!(
            i,
            SequenceIssue::TooLong {
                field: "description",
                ..
            }
        )));
        assert!(issues.contains(&SequenceIssue::Time(seq.shots[0].id)));
        assert!(shots(3).issues().is_empty());
    }

    #[test]
    fn frames_and_milliseconds_round_trip() {
        for fps in FPS_CHOICES {
            for frames in [0, 1, 23, 24, 25, 71, 1_000, 86_400] {
                assert_eq!(ms_to_frames(frames_to_ms(frames, fps), fps), frames);
            }
        }
        assert_eq!(ms_to_frames(3_000, 24), 72);
        assert_eq!(frames_to_ms(0, 0), 0);
    }
}
