//! Shot lists read from files (PRODUCT.md §4.8 "Shot list as batch"): a CSV shot list whose
//! header row names the fields, or a Fountain screenplay whose scenes become rows (heading,
//! action, dialogue). Each row is a map of field names to text; [`substitute`] puts a row's
//! fields into a template's prompts (`{description}`), and [`crate::batch`] turns rows into
//! shots.
//!
//! Everything here faces files from anywhere: sizes are bounded, text is checked, and a file
//! that cannot be read gives an error naming the line, never a partial list.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::sequence::MAX_TEXT;

/// Largest shot-list file read.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Most rows (scenes) one import makes into shots.
pub const MAX_ROWS: usize = 1_000;
/// Most columns a CSV shot list may have.
pub const MAX_COLUMNS: usize = 64;

/// One row of a shot list (one scene of a screenplay).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShotRow {
    /// The 1-based line of the file the row starts on.
    pub line: usize,
    /// Field name (see [`field_name`]) to its text; empty fields are left out.
    pub fields: BTreeMap<String, String>,
}

impl ShotRow {
    /// A field's text, empty when the row has none.
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map_or("", String::as_str)
    }
}

/// A whole shot list: the fields it names (in file order) and its rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShotList {
    pub fields: Vec<String>,
    pub rows: Vec<ShotRow>,
}

/// Which kind of file a shot list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Fountain,
}

impl Format {
    /// The format a file name says: `.fountain` (and `.spmd`, its old name) is a screenplay,
    /// `.csv`/`.tsv`/`.txt` a shot list. `None` for anything else.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "fountain" | "spmd" => Some(Self::Fountain),
            "csv" | "tsv" | "txt" => Some(Self::Csv),
            _ => None,
        }
    }
}

/// Why a shot list could not be read. Nothing is imported then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShotListError {
    #[error("the file is larger than {} MiB", MAX_FILE_BYTES / (1024 * 1024))]
    TooLarge,
    #[error("line {0}: the file is not UTF-8 text")]
    NotText(usize),
    #[error("the file has no header row naming the fields")]
    NoHeader,
    #[error("the shot list has a header but no rows")]
    NoRows,
    #[error("the screenplay has no scene headings (lines such as `INT. KITCHEN - NIGHT`)")]
    NoScenes,
    #[error("the shot list has more than {MAX_ROWS} rows; split it into several imports")]
    TooManyRows,
    #[error("the header names more than {MAX_COLUMNS} fields")]
    TooManyColumns,
    #[error("column {0} of the header has no name")]
    UnnamedColumn(usize),
    #[error("the header names the field `{0}` twice")]
    DuplicateField(String),
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Reads a shot list of either format.
pub fn read(bytes: &[u8], format: Format) -> Result<ShotList, ShotListError> {
    match format {
        Format::Csv => read_csv(bytes),
        Format::Fountain => read_fountain(bytes),
    }
}

/// Reads the shot list at `path`, its format told by its extension; the message names the file.
pub fn read_path(path: &std::path::Path) -> Result<ShotList, String> {
    use std::io::Read as _;
    let format = Format::from_path(path).ok_or_else(|| {
        format!(
            "{}: a shot list is a .csv (or .tsv) file or a .fountain screenplay",
            path.display()
        )
    })?;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    read(&bytes, format).map_err(|e| format!("{}: {e}", path.display()))
}

/// The field a header names, as templates write it: lower case, words joined by `_`, and the
/// usual spreadsheet names taken as ours ("Shot #" is `number`, "Shot size" is `shot_type`,
/// "Camera movement" is `movement`, "Length (s)" is `duration`).
pub fn field_name(header: &str) -> String {
    let mut name = String::new();
    for c in header.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    while name.ends_with('_') {
        name.pop();
    }
    let alias = match name.as_str() {
        "shot" | "shot_number" | "shot_no" | "no" | "nr" | "num" | "shot_num" => "number",
        "name" | "shot_title" | "heading" | "scene_heading" => "title",
        "desc" | "action" | "shot_description" | "notes" | "visual" => "description",
        "line" | "lines" | "dialog" | "audio" | "vo" => "dialogue",
        "type" | "shot_size" | "size" | "framing" => "shot_type",
        "camera_angle" => "angle",
        "camera_movement" | "move" | "camera_move" | "motion" => "movement",
        "focal_length" | "mm" => "lens",
        "length" | "length_s" | "duration_s" | "secs" | "seconds" | "time" => "duration",
        _ => "",
    };
    if alias.is_empty() {
        name
    } else {
        alias.to_string()
    }
}

/// Checks one field's text: bounded, no control characters but line breaks and tabs. Line
/// breaks are normalised to `\n`.
fn clean(text: &str, line: usize, field: &str) -> Result<String, ShotListError> {
    let text = text.trim().replace("\r\n", "\n").replace('\r', "\n");
    if text.len() > MAX_TEXT {
        return Err(ShotListError::Line {
            line,
            message: format!("`{field}` is longer than {} KiB", MAX_TEXT / 1024),
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ShotListError::Line {
            line,
            message: format!("`{field}` holds a control character"),
        });
    }
    Ok(text)
}

/// The delimiter a CSV file uses: `,` unless its first line has more `;` (spreadsheets in
/// locales with a decimal comma) or tabs.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |d: u8| count_byte(first, d);
    let (commas, semis, tabs) = (count(b','), count(b';'), count(b'\t'));
    if tabs > commas && tabs >= semis {
        b'\t'
    } else if semis > commas {
        b';'
    } else {
        b','
    }
}

/// Reads a CSV shot list: the first row names the fields, each further row is a shot. Rows with
/// every field empty are skipped; a row with more fields than the header is an error.
pub fn read_csv(bytes: &[u8]) -> Result<ShotList, ShotListError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ShotListError::TooLarge);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(bytes))
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    // The csv crate's own line numbers miss CRLF line ends (what Excel writes): count them
    // from the record's byte offset instead, onwards from the last one.
    let lines = std::cell::RefCell::new((0usize, 1usize));
    let line_of = |pos: Option<&csv::Position>| {
        let Some(pos) = pos else { return 0 };
        let mut at = usize::try_from(pos.byte())
            .unwrap_or(bytes.len())
            .min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        let (from, line) = &mut *lines.borrow_mut();
        if at < *from {
            (*from, *line) = (0, 1);
        }
        *line += count_byte(&bytes[*from..at], b'\n');
        *from = at;
        *line
    };
    let csv_error = |e: &csv::Error| ShotListError::Line {
        line: line_of(e.position()),
        message: format!("not a readable CSV row ({})", csv_kind(e)),
    };
    let header = loop {
        match records.next() {
            None => return Err(ShotListError::NoHeader),
            Some(Err(e)) => return Err(csv_error(&e)),
            Some(Ok(r)) if r.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) => {}
            Some(Ok(r)) => break r,
        }
    };
    let header_line = line_of(header.position());
    if header.len() > MAX_COLUMNS {
        return Err(ShotListError::TooManyColumns);
    }
    let mut fields = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let text = std::str::from_utf8(raw).map_err(|_| ShotListError::NotText(header_line))?;
        let name = field_name(text);
        if name.is_empty() {
            return Err(ShotListError::UnnamedColumn(i + 1));
        }
        if fields.contains(&name) {
            return Err(ShotListError::DuplicateField(name));
        }
        fields.push(name);
    }
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(&e))?;
        let line = line_of(record.position());
        if record.len() > fields.len() {
            return Err(ShotListError::Line {
                line,
                message: format!(
                    "the row has {} fields but the header names {}",
                    record.len(),
                    fields.len()
                ),
            });
        }
        let mut row = ShotRow {
            line,
            fields: BTreeMap::new(),
        };
        for (name, raw) in fields.iter().zip(record.iter()) {
            let text = std::str::from_utf8(raw).map_err(|_| ShotListError::NotText(line))?;
            let text = clean(text, line, name)?;
            if !text.is_empty() {
                row.fields.insert(name.clone(), text);
            }
        }
        if row.fields.is_empty() {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(ShotListError::TooManyRows);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(ShotListError::NoRows);
    }
    Ok(ShotList { fields, rows })
}

/// How often `byte` occurs (line counting on files of at most [`MAX_FILE_BYTES`]).
#[expect(
    clippy::naive_bytecount,
    reason = "a few MiB at most; not worth a crate"
)]
fn count_byte(bytes: &[u8], byte: u8) -> usize {
    bytes.iter().filter(|b| **b == byte).count()
}

fn csv_kind(e: &csv::Error) -> &'static str {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8",
        csv::ErrorKind::UnequalLengths { .. } => "uneven fields",
        _ => "malformed quoting",
    }
}

/// Fields a Fountain scene gives.
const FOUNTAIN_FIELDS: [&str; 6] = [
    "number",
    "title",
    "description",
    "dialogue",
    "characters",
    "scene",
];

/// Reads a Fountain screenplay (fountain.io): each scene heading starts a row with `title` (the
/// heading), `number` (its `#12A#` scene number, or its place), `scene` (the place, e.g.
/// `KITCHEN`), `description` (the action), `dialogue` (`NAME: line` per speech) and
/// `characters` (who speaks). Title page, notes, boneyard, sections, synopses, transitions and
/// page breaks are left out; emphasis marks are dropped.
pub fn read_fountain(bytes: &[u8]) -> Result<ShotList, ShotListError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ShotListError::TooLarge);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = count_byte(&bytes[..e.valid_up_to()], b'\n') + 1;
            return Err(ShotListError::NotText(line));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = strip_comments(text);
    let mut scenes: Vec<Scene> = Vec::new();
    let mut i = skip_title_page(&lines);
    while i < lines.len() {
        let (line_no, line) = (lines[i].0, lines[i].1.as_str());
        let trimmed = line.trim();
        let blank_before = i == 0 || lines[i - 1].1.trim().is_empty();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if blank_before && let Some((heading, number)) = scene_heading(trimmed) {
            if scenes.len() == MAX_ROWS {
                return Err(ShotListError::TooManyRows);
            }
            scenes.push(Scene::new(line_no, heading, number));
            i += 1;
            continue;
        }
        let Some(scene) = scenes.last_mut() else {
            // Text before the first scene (a cold open without a heading) is not a shot.
            i += 1;
            continue;
        };
        let next_blank = lines.get(i + 1).is_none_or(|l| l.1.trim().is_empty());
        if blank_before
            && !next_blank
            && let Some(name) = character(trimmed)
        {
            i += 1;
            let mut speech = Vec::new();
            while let Some((_, l)) = lines.get(i) {
                let l = l.trim();
                if l.is_empty() {
                    break;
                }
                if !(l.starts_with('(') && l.ends_with(')')) {
                    speech.push(plain(l));
                }
                i += 1;
            }
            if !speech.is_empty() {
                scene.dialogue.push(format!("{name}: {}", speech.join(" ")));
                if !scene.characters.contains(&name) {
                    scene.characters.push(name);
                }
            }
            continue;
        }
        if is_skipped(trimmed, blank_before, next_blank) {
            i += 1;
            continue;
        }
        let action = trimmed.strip_prefix('!').unwrap_or(trimmed);
        if blank_before && !scene.action.is_empty() {
            scene.action.push(String::new());
        }
        scene.action.push(plain(action));
        i += 1;
    }
    if scenes.is_empty() {
        return Err(ShotListError::NoScenes);
    }
    let mut rows = Vec::with_capacity(scenes.len());
    for (index, scene) in scenes.into_iter().enumerate() {
        rows.push(scene.into_row(index)?);
    }
    Ok(ShotList {
        fields: FOUNTAIN_FIELDS.iter().map(ToString::to_string).collect(),
        rows,
    })
}

struct Scene {
    line: usize,
    heading: String,
    number: Option<String>,
    action: Vec<String>,
    dialogue: Vec<String>,
    characters: Vec<String>,
}

impl Scene {
    fn new(line: usize, heading: String, number: Option<String>) -> Self {
        Self {
            line,
            heading,
            number,
            action: Vec::new(),
            dialogue: Vec::new(),
            characters: Vec::new(),
        }
    }

    fn into_row(self, index: usize) -> Result<ShotRow, ShotListError> {
        let place = scene_place(&self.heading);
        let number = self.number.unwrap_or_else(|| (index + 1).to_string());
        let description = self.action.join("\n");
        let description = description.trim_matches('\n');
        let values = [
            ("number", number.as_str()),
            ("title", self.heading.as_str()),
            ("description", description),
            ("dialogue", &self.dialogue.join("\n")),
            ("characters", &self.characters.join(", ")),
            ("scene", place.as_str()),
        ];
        let mut fields = BTreeMap::new();
        for (name, value) in values {
            let value = clean(value, self.line, name)?;
            if !value.is_empty() {
                fields.insert(name.to_string(), value);
            }
        }
        Ok(ShotRow {
            line: self.line,
            fields,
        })
    }
}

/// The lines of the script with `[[notes]]` and `/* boneyard */` removed (both may span
/// lines), numbered from 1.
fn strip_comments(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_note = false;
    let mut in_bone = false;
    for (i, line) in text.lines().enumerate() {
        let mut kept = String::with_capacity(line.len());
        let mut rest = line;
        while !rest.is_empty() {
            if in_bone {
                match rest.find("*/") {
                    Some(end) => {
                        in_bone = false;
                        rest = &rest[end + 2..];
                    }
                    None => rest = "",
                }
            } else if in_note {
                match rest.find("]]") {
                    Some(end) => {
                        in_note = false;
                        rest = &rest[end + 2..];
                    }
                    None => rest = "",
                }
            } else {
                let bone = rest.find("/*");
                let note = rest.find("[[");
                let next = match (bone, note) {
                    (Some(b), Some(n)) => Some((b.min(n), b < n)),
                    (Some(b), None) => Some((b, true)),
                    (None, Some(n)) => Some((n, false)),
                    (None, None) => None,
                };
                if let Some((at, opens_bone)) = next {
                    kept.push_str(&rest[..at]);
                    rest = &rest[at + 2..];
                    if opens_bone {
                        in_bone = true;
                    } else {
                        in_note = true;
                    }
                } else {
                    kept.push_str(rest);
                    rest = "";
                }
            }
        }
        out.push((i + 1, kept));
    }
    out
}

/// Where the script starts: after a title page (`Key: value` lines up to the first blank
/// line), or at the top.
fn skip_title_page(lines: &[(usize, String)]) -> usize {
    let Some((_, first)) = lines.first() else {
        return 0;
    };
    let is_key = |l: &str| {
        l.split_once(':').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.len() <= 32
                && k.chars()
                    .all(|c| c.is_alphanumeric() || c == ' ' || c == '_')
                && !k.starts_with(' ')
        })
    };
    if !is_key(first) || scene_heading(first.trim()).is_some() {
        return 0;
    }
    lines
        .iter()
        .position(|(_, l)| l.trim().is_empty())
        .unwrap_or(lines.len())
}

/// A scene heading: `INT.`, `EXT.`, `EST.`, `INT./EXT.`, `I/E` (any case) or a forced `.HEADING`
/// (not `...`); returns the heading and its `#number#`.
fn scene_heading(line: &str) -> Option<(String, Option<String>)> {
    let forced = line
        .strip_prefix('.')
        .filter(|rest| rest.chars().next().is_some_and(char::is_alphanumeric));
    let heading = if let Some(rest) = forced {
        rest
    } else {
        let upper = line.to_ascii_uppercase();
        let starts = ["INT./EXT", "INT/EXT", "I/E", "INT", "EXT", "EST"]
            .iter()
            .any(|p| {
                upper.starts_with(p)
                    && upper[p.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c == '.' || c == ' ')
            });
        if !starts {
            return None;
        }
        line
    };
    let (heading, number) = match heading.trim_end().strip_suffix('#') {
        Some(before) => match before.rfind('#') {
            Some(at) => {
                let number = before[at + 1..].trim();
                let ok = !number.is_empty()
                    && number
                        .chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.'));
                if ok {
                    (before[..at].trim_end(), Some(number.to_string()))
                } else {
                    (heading, None)
                }
            }
            None => (heading, None),
        },
        None => (heading, None),
    };
    let heading = plain(heading.trim());
    (!heading.is_empty()).then_some((heading, number))
}

/// The place of a scene heading: `INT. KITCHEN - NIGHT` is `KITCHEN`.
fn scene_place(heading: &str) -> String {
    let upper = heading.to_ascii_uppercase();
    let mut rest = heading;
    for p in [
        "INT./EXT.",
        "INT/EXT.",
        "INT./EXT",
        "INT/EXT",
        "I/E.",
        "I/E",
        "INT.",
        "EXT.",
        "EST.",
        "INT",
        "EXT",
        "EST",
    ] {
        let whole = |after: &str| p.ends_with('.') || after.is_empty() || after.starts_with(' ');
        if upper.starts_with(p) && whole(&upper[p.len()..]) {
            rest = &heading[p.len()..];
            break;
        }
    }
    let place = rest.split(" - ").next().unwrap_or(rest);
    place.trim().to_string()
}

/// A character cue: a line in capitals with at least one letter (extensions such as `(V.O.)`
/// and the dual-dialogue `^` allowed), or forced with `@`. Returns the name without them.
fn character(line: &str) -> Option<String> {
    let (forced, body) = match line.strip_prefix('@') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let body = body.trim_end_matches('^').trim();
    let name = body.split('(').next().unwrap_or(body).trim();
    if name.is_empty() {
        return None;
    }
    if !forced {
        let has_letter = name.chars().any(char::is_alphabetic);
        let capitals = name.chars().all(|c| !c.is_lowercase());
        // "CUT TO:" and other transitions end in a colon; they are not speakers.
        if !has_letter || !capitals || name.ends_with(':') || line.starts_with('!') {
            return None;
        }
    }
    Some(plain(name))
}

/// Lines that are not action: sections (`#`), synopses (`=`), page breaks (`===`),
/// transitions (`CUT TO:`, forced `>`), centered text (`>text<`) and lyrics (`~`).
fn is_skipped(line: &str, blank_before: bool, next_blank: bool) -> bool {
    if line.starts_with('#') || line.starts_with('=') || line.starts_with('~') {
        return true;
    }
    if line.starts_with('>') {
        return true;
    }
    let upper = line.chars().all(|c| !c.is_lowercase());
    blank_before && next_blank && upper && line.ends_with("TO:")
}

/// Text without Fountain's emphasis marks (`*`, `_`) and escapes (`\`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c != '*' && c != '_' {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The `{field}` names a text uses (written as [`field_name`] would spell them).
pub fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('}') else { break };
        let inner = &rest[..close];
        if is_placeholder(inner) {
            found.insert(inner.to_string());
            rest = &rest[close + 1..];
        }
    }
    found
}

fn is_placeholder(inner: &str) -> bool {
    !inner.is_empty()
        && inner.len() <= 64
        && inner
            .chars()
            .all(|c| c.is_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `text` with every `{field}` replaced by the row's field (empty when the row has none);
/// braces around anything else are left as they are.
pub fn substitute(text: &str, row: &ShotRow) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_placeholder(&after[..close]) => {
                out.push_str(row.get(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> ShotRow {
        ShotRow {
            line: 2,
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    #[test]
    fn headers_become_the_fields_templates_name() {
        assert_eq!(field_name("Shot #"), "number");
        assert_eq!(field_name(" Description "), "description");
        assert_eq!(field_name("Shot size"), "shot_type");
        assert_eq!(field_name("Camera Movement"), "movement");
        assert_eq!(field_name("Length (s)"), "duration");
        assert_eq!(field_name("Mood / Light"), "mood_light");
        assert_eq!(field_name("---"), "");
    }

    #[test]
    fn a_spreadsheet_export_reads_with_quotes_newlines_and_a_bom() {
        let csv = "\u{feff}Shot,Title,Description,Dialogue,Shot size\r\n\
                   1,Rooftop,\"Mara looks out, city below\",\"MARA: \"\"Not tonight.\"\"\",WS\r\n\
                   ,,,,\r\n\
                   2A,Stairs,\"She runs\ndown the stairs\",,CU\r\n";
        let list = read_csv(csv.as_bytes()).expect("reads");
        assert_eq!(
            list.fields,
            ["number", "title", "description", "dialogue", "shot_type"]
        );
        assert_eq!(list.rows.len(), 2, "the empty row is skipped");
        assert_eq!(
            list.rows[0].get("description"),
            "Mara looks out, city below"
        );
        assert_eq!(list.rows[0].get("dialogue"), "MARA: \"Not tonight.\"");
        assert_eq!(list.rows[1].get("number"), "2A");
        assert_eq!(list.rows[1].get("description"), "She runs\ndown the stairs");
        assert_eq!(list.rows[1].line, 4);
        assert_eq!(list.rows[1].get("dialogue"), "", "empty fields are absent");
    }

    #[test]
    fn semicolons_and_tabs_are_recognised() {
        let semi = read_csv(b"shot;description\n1;rain, then sun\n").expect("semicolons");
        assert_eq!(semi.rows[0].get("description"), "rain, then sun");
        let tabs = read_csv(b"shot\tdescription\n1\ta, b\n").expect("tabs");
        assert_eq!(tabs.rows[0].get("description"), "a, b");
    }

    #[test]
    fn malformed_shot_lists_are_named_with_their_line() {
        let err = |bytes: &[u8]| read_csv(bytes).expect_err("refused").to_string();
        assert_eq!(err(b""), "the file has no header row naming the fields");
        assert_eq!(
            err(b"shot,title\n"),
            "the shot list has a header but no rows"
        );
        assert_eq!(
            err(b"shot,,title\n1,2,3\n"),
            "column 2 of the header has no name"
        );
        assert_eq!(
            err(b"Title,title\nx,y\n"),
            "the header names the field `title` twice"
        );
        assert_eq!(
            err(b"shot,title\n1,a\n2,b,c\n"),
            "line 3: the row has 3 fields but the header names 2"
        );
        assert_eq!(
            err(b"shot,title\n1,\xff\xfe\n"),
            "line 2: the file is not UTF-8 text"
        );
        assert_eq!(
            err(b"shot,title\n1,a\x00b\n"),
            "line 2: `title` holds a control character"
        );
        let long = format!("shot,title\n1,{}\n", "x".repeat(MAX_TEXT + 1));
        assert!(err(long.as_bytes()).starts_with("line 2: `title` is longer"));
        let many = format!("shot\n{}", "1\n".repeat(MAX_ROWS + 1));
        assert_eq!(
            read_csv(many.as_bytes()).expect_err("too many"),
            ShotListError::TooManyRows
        );
        let wide = (0..=MAX_COLUMNS)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>();
        let wide = format!("{}\n", wide.join(","));
        assert_eq!(
            read_csv(wide.as_bytes()).expect_err("wide"),
            ShotListError::TooManyColumns
        );
        assert_eq!(
            read_csv(&vec![b'a'; MAX_FILE_BYTES + 1]).expect_err("huge"),
            ShotListError::TooLarge
        );
    }

    const SCRIPT: &str = "Title: Rooftop
Credit: written by
Author: A. Writer

FADE IN:

INT. KITCHEN - NIGHT #1#

Rain on the window. MARA (30s) stirs *cold* coffee.

She looks at the door.

MARA
(quietly)
Not tonight.

JONAS (V.O.)
You said that yesterday.

[[a note that spans
two lines]]
CUT TO:

EXT. ROOFTOP - CONTINUOUS

/* an old version
of the scene */
Wind. Mara climbs onto the ledge.

MARA ^
Jonas?

.FLASHBACK

A child runs through a field.

> THE END <
";

    #[test]
    fn a_screenplay_gives_a_row_per_scene() {
        let list = read_fountain(SCRIPT.as_bytes()).expect("reads");
        assert_eq!(list.rows.len(), 3);
        let kitchen = &list.rows[0];
        assert_eq!(kitchen.get("title"), "INT. KITCHEN - NIGHT");
        assert_eq!(kitchen.get("number"), "1");
        assert_eq!(kitchen.get("scene"), "KITCHEN");
        assert_eq!(
            kitchen.get("description"),
            "Rain on the window. MARA (30s) stirs cold coffee.\n\nShe looks at the door."
        );
        assert_eq!(
            kitchen.get("dialogue"),
            "MARA: Not tonight.\nJONAS: You said that yesterday."
        );
        assert_eq!(kitchen.get("characters"), "MARA, JONAS");
        assert_eq!(kitchen.line, 7);
        let roof = &list.rows[1];
        assert_eq!(roof.get("number"), "2", "its place when unnumbered");
        assert_eq!(roof.get("description"), "Wind. Mara climbs onto the ledge.");
        assert_eq!(roof.get("dialogue"), "MARA: Jonas?");
        let flash = &list.rows[2];
        assert_eq!(flash.get("title"), "FLASHBACK", "forced heading");
        assert_eq!(flash.get("description"), "A child runs through a field.");
    }

    #[test]
    fn screenplays_without_scenes_or_text_are_refused() {
        assert_eq!(
            read_fountain(b"Just some prose.\n\nMore prose.\n").expect_err("no scenes"),
            ShotListError::NoScenes
        );
        assert_eq!(
            read_fountain(b"INT. A\n\nok\n\xc3\x28\n").expect_err("bad utf-8"),
            ShotListError::NotText(4)
        );
        assert_eq!(
            read_fountain(b"").expect_err("empty"),
            ShotListError::NoScenes
        );
    }

    #[test]
    fn placeholders_are_substituted_and_other_braces_kept() {
        let r = row(&[("description", "Mara on the roof"), ("shot_type", "WS")]);
        assert_eq!(
            substitute("{shot_type} of {description}, {mood}", &r),
            "WS of Mara on the roof, "
        );
        assert_eq!(substitute("json {\"a\": 1} {", &r), "json {\"a\": 1} {");
        assert_eq!(substitute("{{description}}", &r), "{Mara on the roof}");
        assert_eq!(
            placeholders("{shot_type} {Not} {a b} {description}"),
            BTreeSet::from(["description".to_string(), "shot_type".to_string()])
        );
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048)) {
            let _ = read_csv(&bytes);
            let _ = read_fountain(&bytes);
            if let Ok(text) = std::str::from_utf8(&bytes) {
                let _ = substitute(text, &ShotRow::default());
                let _ = placeholders(text);
            }
        }

        #[test]
        fn fountain_like_text_never_panics(
            lines in proptest::collection::vec("(INT\\. |EXT |\\.|@|>|#|=|~|\\[\\[|/\\*|\\(|)?[A-Za-z #:()^*_\\\\\\]/]{0,20}", 0..40)
        ) {
            let text = lines.join("\n");
            if let Ok(list) = read_fountain(text.as_bytes()) {
                proptest::prop_assert!(!list.rows.is_empty());
            }
        }
    }
}
