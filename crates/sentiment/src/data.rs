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

use serde::Serialize;

use crate::{Error, Result};

/// The folder name inside the data directory.
pub const FOLDER: &str = "rt-polarity";

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Example {
    pub text: String,
    pub positive: bool,
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
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_is_not_latin_1_and_nel_does_not_split_a_line() {
        let bytes = b"it\x92s good \x85 really\r\ncaf\xe9 \x93ok\x94\n\n";
        let text = cp1252(bytes);
        assert_eq!(text, "it’s good … really\r\ncafé “ok”\n\n");
        let got: Vec<&str> = lines(&text).collect();
        assert_eq!(got, ["it’s good … really", "café “ok”"]);
    }
}
