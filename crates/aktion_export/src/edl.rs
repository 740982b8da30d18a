//! CMX3600 EDL: one video track, cuts only, non-drop frame. Each event's reel is `S` and the
//! shot's place (`S001`; CMX reels are at most 8 characters), the clip's name and file follow
//! as `* FROM CLIP NAME:` / `* FROM CLIP:` comments (Avid's convention, which OTIO's reader
//! follows), then the shot's description. Record time starts at 01:00:00:00.

use std::fmt::Write as _;

use crate::timecode;
use crate::timeline::Timeline;

/// One line of an EDL comment: no line breaks, nothing the reader would take as a new event.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(200)
        .collect()
}

pub fn write(timeline: &Timeline) -> String {
    let fps = timeline.fps;
    let mut out = String::new();
    let _ = writeln!(out, "TITLE: {}", comment(&timeline.name));
    let _ = writeln!(out, "FCM: NON-DROP FRAME\n");
    let (starts, _) = timeline.starts();
    let mut event = 0;
    for (clip, start) in timeline.clips.iter().zip(starts) {
        let Some(media) = &clip.media else { continue };
        event += 1;
        let reel = format!("S{:03}", (clip.index + 1) % 10_000_000);
        let src_in = clip.source_in;
        let src_out = src_in + clip.frames;
        let _ = writeln!(
            out,
            "{event:03}  {reel:<8} V     C        {} {} {} {}",
            timecode(src_in, fps, 0),
            timecode(src_out, fps, 0),
            timecode(start, fps, 1),
            timecode(start + clip.frames, fps, 1),
        );
        let _ = writeln!(out, "* FROM CLIP NAME: {}", comment(&clip.name));
        let _ = writeln!(out, "* FROM CLIP: {}", media.url());
        if !clip.description.is_empty() {
            let _ = writeln!(
                out,
                "* SHOT {}: {}",
                clip.number,
                comment(&clip.description)
            );
        }
        if clip.needs_longer_take {
            let _ = writeln!(out, "* NEEDS A LONGER TAKE");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::sample;

    #[test]
    fn events_are_contiguous_and_named() {
        let edl = write(&sample());
        let events: Vec<&str> = edl.lines().filter(|l| l.starts_with("00")).collect();
        assert_eq!(events.len(), 3);
        assert!(events[0].contains("00:00:00:12 00:00:03:12 01:00:00:00 01:00:03:00"));
        assert!(events[1].contains("01:00:03:00 01:00:05:00"));
        assert!(events[2].contains("01:00:05:00 01:00:08:18"));
        assert!(edl.contains("* FROM CLIP NAME: Mara, close"));
        assert!(edl.contains("* FROM CLIP: media/003_chase_dddddddd.mp4"));
        assert!(edl.contains("TITLE: Night & Day"));
    }
}
