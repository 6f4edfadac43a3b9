//! BERT's uncased tokenizer: basic splitting (lower case, accents stripped, punctuation split
//! off, CJK characters one each) then WordPiece (greedy longest match, `##` continuations).
//!
//! Simplification: punctuation is ASCII punctuation plus the Unicode General Punctuation,
//! Supplemental Punctuation and CJK Symbols blocks (Python's tokenizer asks for category P*);
//! accents are dropped as any combining mark after NFD (it drops category Mn).

use std::collections::HashMap;
use std::path::Path;

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::bert::{io, unusable};
use crate::Result;

/// A WordPiece vocabulary (one token per line of `vocab.txt`, the line number its id).
pub struct WordPiece {
    ids: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
    /// Longest sequence, `[CLS]` and `[SEP]` included.
    pub max_len: usize,
}

/// Words longer than this many characters become `[UNK]` (as BERT's tokenizer).
const MAX_WORD_CHARS: usize = 100;

impl WordPiece {
    pub fn read(path: &Path, max_len: usize) -> Result<WordPiece> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let ids: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let special = |t: &str| {
            ids.get(t)
                .copied()
                .ok_or_else(|| unusable(path, format!("the vocabulary has no {t}")))
        };
        Ok(WordPiece {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            ids,
            max_len: max_len.max(2),
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The pieces of `text`, without `[CLS]`/`[SEP]` (for tests and for reading).
    pub fn pieces(&self, text: &str) -> Vec<String> {
        let by_id: HashMap<u32, &str> = self.ids.iter().map(|(t, &i)| (i, t.as_str())).collect();
        self.piece_ids(text)
            .into_iter()
            .map(|i| by_id.get(&i).copied().unwrap_or("[UNK]").to_string())
            .collect()
    }

    /// `[CLS] pieces… [SEP]`, the pieces cut to fit `max_len`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::with_capacity(32);
        ids.push(self.cls);
        ids.extend(self.piece_ids(text).into_iter().take(self.max_len - 2));
        ids.push(self.sep);
        ids
    }

    fn piece_ids(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for word in basic_words(text) {
            self.word_pieces(&word, &mut out);
        }
        out
    }

    /// Greedy longest-match-first; a word with any unmatched part is one `[UNK]`.
    fn word_pieces(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let mark = out.len();
        let mut start = 0;
        let mut candidate = String::new();
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str("##");
                }
                candidate.extend(&chars[start..end]);
                if let Some(&id) = self.ids.get(&candidate) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => out.push(id),
                None => {
                    out.truncate(mark);
                    out.push(self.unk);
                    return;
                }
            }
            start = end;
        }
    }
}

/// Lower case, accents stripped, split on white space and around punctuation and CJK.
pub fn basic_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    for c in text.chars().flat_map(char::to_lowercase).nfd() {
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !c.is_whitespace()) {
            continue;
        }
        if is_combining_mark(c) {
            continue;
        }
        if c.is_whitespace() {
            flush(&mut current, &mut words);
        } else if is_punctuation(c) || is_cjk(c) {
            flush(&mut current, &mut words);
            words.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    flush(&mut current, &mut words);
    words
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c, '\u{2000}'..='\u{206F}' | '\u{2E00}'..='\u{2E7F}' | '\u{3000}'..='\u{303F}')
        || matches!(c, '¡' | '§' | '«' | '¶' | '·' | '»' | '¿')
}

fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{20000}'..='\u{2A6DF}'
        | '\u{2A700}'..='\u{2B73F}' | '\u{2B740}'..='\u{2B81F}' | '\u{2B820}'..='\u{2CEAF}'
        | '\u{F900}'..='\u{FAFF}' | '\u{2F800}'..='\u{2FA1F}')
}
