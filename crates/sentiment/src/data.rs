//! Stage 1 — labelled texts, parsed at the edge.
//!
//! The sentence-polarity dataset ("MR", Pang & Lee 2005): `rt-polarity.pos` and
//! `rt-polarity.neg`, one lower-cased, tokenised snippet per line, 5,331 each, read from
//! `<data dir>/rt-polarity/` (`--data-dir` or `MLSD_DATA_DIR`; never copied into the repository).
//!
//! Talking point: encodings are part of the schema. The files are **Windows-1252**: bytes
//! 0x80–0x9F are curly quotes and dashes, not Latin-1's control characters — and 0x85 (…)
//! decoded as Latin-1 is NEL, which many line splitters treat as a line break, silently turning
//! one snippet into two. We decode the code page ourselves and split on `\n` only.

use std::path::{Path, PathBuf};

use mlsd_core::validate::Quarantine;
use serde::Serialize;

use crate::{Error, Result};

/// The folder name inside the data directory.
pub const FOLDER: &str = "rt-polarity";

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub text: String,
    pub positive: bool,
    /// What the text is about, when the source says (the live feed aggregates per topic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// Windows-1252's 0x80–0x9F (the rest of the byte range is Latin-1); unassigned bytes decode to
/// U+FFFD.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž',
    '\u{FFFD}', '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{FFFD}',
    'ž', 'Ÿ',
];

/// Windows-1252 → UTF-8.
pub fn cp1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH[(b - 0x80) as usize],
            _ => char::from(b),
        })
        .collect()
}

/// Non-empty lines, split on `\n` only (a trailing `\r` is dropped).
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
}

/// `<data_dir>/rt-polarity`, or a clear error naming the setting when there is none.
pub fn folder(data_dir: Option<&Path>) -> Result<PathBuf> {
    let dir = data_dir.ok_or_else(|| {
        Error::Config(
            "no data directory: pass --data-dir <dir> or set MLSD_DATA_DIR (the folder that holds rt-polarity/)".into(),
        )
    })?;
    let folder = dir.join(FOLDER);
    if !folder.join("rt-polarity.pos").is_file() {
        return Err(Error::Input {
            path: folder,
            why: "no rt-polarity.pos here (expected the sentence-polarity files)".into(),
        });
    }
    Ok(folder)
}

/// Both files, positives first, in file order.
pub fn load_rt_polarity(folder: &Path) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (file, positive) in [("rt-polarity.pos", true), ("rt-polarity.neg", false)] {
        let path = folder.join(file);
        let bytes = std::fs::read(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        out.extend(lines(&cp1252(&bytes)).map(|l| Example {
            text: l.to_string(),
            positive,
            topic: None,
        }));
    }
    Ok(out)
}

/// Labelled texts read from a file, and the rows refused on the way.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub examples: Vec<Example>,
    pub quarantine: Quarantine,
}

/// The longest text accepted from a file (characters), the same bound the API enforces.
pub const MAX_TEXT_CHARS: usize = 5_000;

/// A label as files spell it: `positive`/`negative`, `pos`/`neg`, `1`/`0`, `true`/`false`.
pub fn parse_label(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "positive" | "pos" | "1" | "true" => Some(true),
        "negative" | "neg" | "0" | "false" => Some(false),
        _ => None,
    }
}

/// Why a text cannot be scored — the one check behind both file quarantines and the API's 422s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// Nothing but whitespace.
    Empty,
    /// More characters than the limit.
    TooLong { chars: usize },
}

impl TextProblem {
    pub fn of(text: &str, max_chars: usize) -> Option<TextProblem> {
        if text.trim().is_empty() {
            return Some(TextProblem::Empty);
        }
        // Bytes bound characters from above: count characters only when it could matter.
        if text.len() > max_chars {
            let chars = text.chars().count();
            if chars > max_chars {
                return Some(TextProblem::TooLong { chars });
            }
        }
        None
    }

    /// The reason code quarantines and error bodies carry.
    pub fn code(self) -> &'static str {
        match self {
            TextProblem::Empty => "empty_text",
            TextProblem::TooLong { .. } => "text_too_long",
        }
    }
}

/// One text and its label, checked: non-empty after trimming, at most [`MAX_TEXT_CHARS`].
fn example(
    text: &str,
    label: &str,
    topic: Option<&str>,
) -> std::result::Result<Example, &'static str> {
    let text = text.trim();
    if let Some(problem) = TextProblem::of(text, MAX_TEXT_CHARS) {
        return Err(problem.code());
    }
    let positive = parse_label(label).ok_or("unknown_label")?;
    Ok(Example {
        text: text.to_string(),
        positive,
        topic: topic
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from),
    })
}

/// Generic labelled text: JSON Lines (`{"text", "label", "topic"?}` per line) or CSV with a
/// header naming `text` and `label` (and optionally `topic`) columns, RFC 4180 quoting.
/// The format is chosen by the extension (`.jsonl`/`.ndjson` or `.csv`).
///
/// Talking point [cleaning]: bad rows are quarantined with a reason and counted, never dropped
/// silently and never fatal: one unreadable line must not cost the other 10,000.
pub fn load_labelled(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "jsonl" | "ndjson" => Ok(parse_jsonl(&bytes)),
        "csv" => parse_csv(&bytes).map_err(|why| Error::Input {
            path: path.to_path_buf(),
            why,
        }),
        _ => Err(Error::Input {
            path: path.to_path_buf(),
            why: "expected a .jsonl, .ndjson or .csv file".into(),
        }),
    }
}

/// One JSON Lines record: `{"text": "...", "label": "positive", "topic": "..."}`.
#[derive(serde::Deserialize)]
struct JsonRecord {
    text: String,
    label: serde_json::Value,
    #[serde(default)]
    topic: Option<String>,
}

/// JSON Lines, one record per `\n`-terminated line; invalid UTF-8 quarantines its line only.
pub fn parse_jsonl(bytes: &[u8]) -> Loaded {
    let mut loaded = Loaded::default();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let row = i as u64 + 1;
        let Ok(line) = std::str::from_utf8(raw) else {
            loaded
                .quarantine
                .reject(row, "invalid_utf8", String::from_utf8_lossy(raw));
            continue;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let record: JsonRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) => {
                loaded.quarantine.reject(row, "malformed_json", line);
                continue;
            }
        };
        let label = match &record.label {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match example(&record.text, &label, record.topic.as_deref()) {
            Ok(e) => loaded.examples.push(e),
            Err(reason) => loaded.quarantine.reject(row, reason, line),
        }
    }
    loaded
}

/// A CSV record as bytes: the line it starts on and its fields.
type RawRecord = (u64, Vec<Vec<u8>>);

/// RFC 4180 records: fields separated by commas, quoted fields may hold commas, newlines and
/// doubled quotes. Returns each record (fields as raw bytes: the delimiters are ASCII, so
/// splitting bytes splits UTF-8 text correctly) with the line it starts on, and whether the
/// last one ended inside an unterminated quote.
fn csv_records(bytes: &[u8]) -> (Vec<RawRecord>, bool) {
    let mut records = Vec::new();
    let (mut fields, mut field) = (Vec::new(), Vec::new());
    let (mut quoted, mut line, mut start) = (false, 1u64, 1u64);
    let mut bytes = bytes.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match (quoted, b) {
            (true, b'"') if bytes.peek() == Some(&b'"') => {
                bytes.next();
                field.push(b'"');
            }
            (true, b'"') => quoted = false,
            (true, b) => {
                line += u64::from(b == b'\n');
                field.push(b);
            }
            (false, b'"') if field.is_empty() => quoted = true,
            (false, b',') => fields.push(std::mem::take(&mut field)),
            (false, b'\r') if bytes.peek() == Some(&b'\n') => {}
            (false, b'\n') => {
                fields.push(std::mem::take(&mut field));
                records.push((start, std::mem::take(&mut fields)));
                line += 1;
                start = line;
            }
            (false, b) => field.push(b),
        }
    }
    if !field.is_empty() || !fields.is_empty() || quoted {
        fields.push(field);
        records.push((start, fields));
    }
    (records, quoted)
}

/// A record's fields as text, or `None` when one is not UTF-8.
fn utf8_fields(fields: Vec<Vec<u8>>) -> Option<Vec<String>> {
    fields
        .into_iter()
        .map(|f| String::from_utf8(f).ok())
        .collect()
}

/// A record as it reads, for the quarantine file (invalid bytes shown as U+FFFD).
fn lossy_row(fields: &[Vec<u8>]) -> String {
    let fields: Vec<_> = fields.iter().map(|f| String::from_utf8_lossy(f)).collect();
    fields.join(",")
}

/// CSV with a header; the header must name `text` and `label`.
/// A row with bytes that are not UTF-8 is quarantined (`invalid_utf8`), not repaired: a
/// replaced character would change the text the model learns from.
pub fn parse_csv(bytes: &[u8]) -> std::result::Result<Loaded, String> {
    let (records, unterminated) = csv_records(bytes);
    let last = records.len().saturating_sub(1);
    let mut records = records.into_iter().enumerate();
    let (_, (_, header)) = records.next().ok_or("empty file: expected a header row")?;
    let header = utf8_fields(header).ok_or("the header row is not UTF-8")?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(text_col), Some(label_col)) = (column("text"), column("label")) else {
        return Err(format!(
            "the header must name `text` and `label` columns, it has {header:?}"
        ));
    };
    let topic_col = column("topic");
    let mut loaded = Loaded::default();
    for (i, (row, raw)) in records {
        if unterminated && i == last {
            loaded
                .quarantine
                .reject(row, "unterminated_quote", lossy_row(&raw));
            continue;
        }
        let Some(fields) = utf8_fields(raw.clone()) else {
            loaded
                .quarantine
                .reject(row, "invalid_utf8", lossy_row(&raw));
            continue;
        };
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if fields.len() != header.len() {
            loaded
                .quarantine
                .reject(row, "wrong_field_count", fields.join(","));
            continue;
        }
        let topic = topic_col.map(|c| fields[c].as_str());
        match example(&fields[text_col], &fields[label_col], topic) {
            Ok(e) => loaded.examples.push(e),
            Err(reason) => loaded.quarantine.reject(row, reason, fields.join(",")),
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_rows_that_do_not_parse_are_quarantined_with_a_reason_and_the_rest_load() {
        let mut bytes =
            b"{\"text\": \"great phone\", \"label\": \"positive\", \"topic\": \"screen\"}\n\
            {\"text\": \"awful\", \"label\": 0}\n\
            \n\
            {\"text\": \"no label\"}\n\
            {\"text\": \"   \", \"label\": \"neg\"}\n\
            {\"text\": \"meh\", \"label\": \"neutral\"}\n"
                .to_vec();
        bytes.extend_from_slice(b"{\"text\": \"caf\xe9\", \"label\": 1}\n");
        let loaded = parse_jsonl(&bytes);
        assert_eq!(loaded.examples.len(), 2);
        assert_eq!(loaded.examples[0].topic.as_deref(), Some("screen"));
        assert!(!loaded.examples[1].positive);
        let reasons: Vec<(u64, &str)> = loaded
            .quarantine
            .rows
            .iter()
            .map(|r| (r.source_row, r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (4, "malformed_json"),
                (5, "empty_text"),
                (6, "unknown_label"),
                (7, "invalid_utf8")
            ]
        );
    }

    #[test]
    fn csv_quoting_holds_commas_quotes_and_newlines() {
        let text = "id,label,text,topic\r\n\
            1,positive,\"good, really \"\"good\"\"\",battery\r\n\
            2,neg,\"two\nlines\",\r\n\
            3,maybe,what,x\n\
            4,1,too,many,fields\n\
            5,pos,\"never closed\n";
        let loaded = parse_csv(text.as_bytes()).expect("header");
        assert_eq!(loaded.examples.len(), 2);
        assert_eq!(loaded.examples[0].text, "good, really \"good\"");
        assert_eq!(loaded.examples[0].topic.as_deref(), Some("battery"));
        assert_eq!(loaded.examples[1].text, "two\nlines");
        assert_eq!(loaded.examples[1].topic, None);
        let reasons: Vec<(u64, &str)> = loaded
            .quarantine
            .rows
            .iter()
            .map(|r| (r.source_row, r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (5, "unknown_label"),
                (6, "wrong_field_count"),
                (7, "unterminated_quote")
            ]
        );
        assert!(parse_csv(b"words,only\n").is_err());
    }

    #[test]
    fn a_csv_row_with_bytes_that_are_not_utf8_is_quarantined_not_repaired() {
        let bytes = b"text,label\ncaf\xe9 ok,positive\n\"fine, \xe2\x9c\x93\",negative\nbad,\xff\n";
        let loaded = parse_csv(bytes).expect("header");
        let texts: Vec<&str> = loaded.examples.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(texts, ["fine, \u{2713}"]);
        let rows: Vec<(u64, &str, &str)> = loaded
            .quarantine
            .rows
            .iter()
            .map(|r| (r.source_row, r.reason.as_str(), r.record.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (2, "invalid_utf8", "caf\u{fffd} ok,positive"),
                (4, "invalid_utf8", "bad,\u{fffd}")
            ]
        );
    }

    #[test]
    fn windows_1252_is_not_latin_1_and_nel_does_not_split_a_line() {
        let bytes = b"it\x92s good \x85 really\r\ncaf\xe9 \x93ok\x94\n\n";
        let text = cp1252(bytes);
        assert_eq!(text, "it’s good … really\r\ncafé “ok”\n\n");
        let got: Vec<&str> = lines(&text).collect();
        assert_eq!(got, ["it’s good … really", "café “ok”"]);
    }
}
