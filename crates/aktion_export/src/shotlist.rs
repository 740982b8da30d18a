//! The shot list as CSV (RFC 4180: comma-separated, fields quoted when they hold a comma, a
//! quote or a line break, CRLF line ends), one row per shot, header first. The same columns
//! `aktion import-shots` reads back.

use crate::timeline::{Media, Timeline};

pub const COLUMNS: [&str; 14] = [
    "number",
    "title",
    "duration",
    "description",
    "dialogue",
    "shot_type",
    "angle",
    "movement",
    "lens",
    "status",
    "prompt",
    "seed",
    "model",
    "media",
];

/// A field, quoted when it must be; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet shows a prompt instead of running it as a formula.
pub fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

pub fn write(timeline: &Timeline) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for clip in &timeline.clips {
        let seconds = clip.frames as f64 / f64::from(timeline.fps.max(1));
        let row = [
            clip.number.clone(),
            clip.name.clone(),
            format!("{seconds:.3}"),
            clip.description.clone(),
            clip.dialogue.clone(),
            clip.camera.shot_type.clone(),
            clip.camera.angle.clone(),
            clip.camera.movement.clone(),
            clip.camera.lens.clone(),
            if clip.media.is_none() {
                "missing take".to_owned()
            } else if clip.needs_longer_take {
                "needs a longer take".to_owned()
            } else {
                clip.status.label().to_owned()
            },
            clip.facts.prompt.clone(),
            clip.facts.seed.map(|s| s.to_string()).unwrap_or_default(),
            clip.facts.model.clone(),
            clip.media.as_ref().map(Media::url).unwrap_or_default(),
        ];
        let row: Vec<String> = row.iter().map(|f| field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::tests::sample;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\"\nnow"), "\"say \"\"hi\"\"\nnow\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        let csv = write(&sample());
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.starts_with("number,title,duration"));
        assert!(csv.contains("2,\"Mara, close\",2.000,"));
        assert!(csv.contains("needs a longer take"));
    }
}
