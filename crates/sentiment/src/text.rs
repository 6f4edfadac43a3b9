//! Stage 2 — text → sparse binary features.
//!
//! normalise (lower case) → tokenise (whitespace, then punctuation split off the ends of each
//! word; Unicode-aware: letters and digits of any script stay in words) → optional negation
//! scope (`not good .` → `not NOT_good .`) → 1- and 2-grams → a vocabulary fitted on the
//! training texts (minimum document frequency) or feature hashing → the set of feature ids
//! present (binarised: presence, not counts).
//!
//! Talking points: the vectoriser is part of the model (saved and versioned with it, or
//! training/serving skew follows); binarised bigrams are what make a linear model strong on
//! short texts ("not good"); hashing bounds memory and needs no vocabulary, at the price of
//! collisions and no way back from an id to a word.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// How texts become features.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextConfig {
    /// Largest n-gram (1: words only; 2: words and pairs).
    pub ngrams: usize,
    /// Talking point [features]: negation scope, n-grams — the features a bag of words misses.
    /// Mark the words after a negation, up to the next punctuation, with `NOT_`.
    pub negation: bool,
    /// Drop n-grams found in fewer training texts than this.
    pub min_df: usize,
    /// `Some(bits)`: hash n-grams into 2^bits ids instead of fitting a vocabulary.
    pub hashing_bits: Option<u32>,
    /// `Some((lo, hi))`: character n-grams of lengths lo..=hi inside each token padded by a
    /// space (scikit-learn's `char_wb`) instead of word n-grams — spelling variants, word
    /// pieces and unseen inflections still share features.
    #[serde(default)]
    pub char_ngrams: Option<(usize, usize)>,
}

impl Default for TextConfig {
    /// Wang & Manning's setting: unigrams and bigrams, every n-gram kept, no negation marking.
    fn default() -> Self {
        TextConfig {
            ngrams: 2,
            negation: false,
            min_df: 1,
            hashing_bits: None,
            char_ngrams: None,
        }
    }
}

/// Lower-cased tokens: whitespace-separated words with leading and trailing punctuation split
/// off as tokens of their own (`good!!` → `good`, `!!`; `don't` and `...` stay whole).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for chunk in text.split_whitespace() {
        let chunk = chunk.to_lowercase();
        let start = chunk.find(char::is_alphanumeric);
        let end = chunk.rfind(char::is_alphanumeric);
        match (start, end) {
            (Some(s), Some(e)) => {
                let e = e + chunk[e..].chars().next().map_or(1, char::len_utf8);
                // A run of punctuation stays one token ("!!!", "...", "--").
                tokens.extend(
                    [&chunk[..s], &chunk[s..e], &chunk[e..]]
                        .into_iter()
                        .filter(|t| !t.is_empty())
                        .map(String::from),
                );
            }
            _ => tokens.push(chunk),
        }
    }
    tokens
}

const NEGATIONS: [&str; 12] = [
    "not", "no", "never", "n't", "cannot", "nothing", "nobody", "none", "nor", "neither",
    "without", "hardly",
];

/// Prefixes `NOT_` to the tokens after a negation word, until punctuation ends the scope.
pub fn mark_negation(tokens: &mut [String]) {
    let mut negated = false;
    for t in tokens.iter_mut() {
        if t.chars().all(|c| !c.is_alphanumeric() && c != '\'') {
            negated = false; // punctuation closes the scope
        } else if NEGATIONS.contains(&t.as_str()) || t.ends_with("n't") {
            negated = true;
        } else if negated {
            *t = format!("NOT_{t}");
        }
    }
}

/// The n-grams of a text under `config` (1-grams, then 2-grams joined by a space, …).
pub fn ngrams(text: &str, config: &TextConfig) -> Vec<String> {
    let mut tokens = tokenize(text);
    if config.negation {
        mark_negation(&mut tokens);
    }
    if let Some((lo, hi)) = config.char_ngrams {
        return char_ngrams(&tokens, lo.max(1), hi);
    }
    let mut out = Vec::with_capacity(tokens.len() * config.ngrams.max(1));
    for n in 1..=config.ngrams.max(1) {
        for window in tokens.windows(n) {
            out.push(window.join(" "));
        }
    }
    out
}

/// Character n-grams of each token padded by a space (` good ` → ` g`, `go`, …, `od `); a
/// padded token shorter than `n` is one n-gram of its own.
fn char_ngrams(tokens: &[String], lo: usize, hi: usize) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        let padded: Vec<char> = std::iter::once(' ')
            .chain(t.chars())
            .chain(std::iter::once(' '))
            .collect();
        for n in lo..=hi {
            if padded.len() <= n {
                out.push(padded.iter().collect());
                break;
            }
            out.extend(padded.windows(n).map(|w| w.iter().collect::<String>()));
        }
    }
    out
}

/// A fitted vectoriser: the config and the vocabulary (empty when hashing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vectorizer {
    pub config: TextConfig,
    vocabulary: HashMap<String, u32>,
}

/// FNV-1a, 64-bit: a hash that is the same on every machine and run (std's is seeded).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Vectorizer {
    /// Fits the vocabulary on `texts` (ids in sorted n-gram order, so a refit on the same texts
    /// gives the same ids).
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>, config: &TextConfig) -> Vectorizer {
        let mut vocabulary = HashMap::new();
        if config.hashing_bits.is_none() {
            let mut df: HashMap<String, usize> = HashMap::new();
            for text in texts {
                let mut grams = ngrams(text, config);
                grams.sort_unstable();
                grams.dedup();
                for g in grams {
                    *df.entry(g).or_insert(0) += 1;
                }
            }
            let mut kept: Vec<String> = df
                .into_iter()
                .filter(|(_, n)| *n >= config.min_df)
                .map(|(g, _)| g)
                .collect();
            kept.sort_unstable();
            vocabulary = kept.into_iter().zip(0u32..).collect();
        }
        Vectorizer {
            config: config.clone(),
            vocabulary,
        }
    }

    /// Fits the vocabulary on `examples` and returns it with their feature sets and labels —
    /// what every model's training starts from.
    pub fn fit_examples<'a, I>(
        examples: I,
        config: &TextConfig,
    ) -> (Vectorizer, Vec<Vec<u32>>, Vec<bool>)
    where
        I: IntoIterator<Item = &'a crate::data::Example> + Clone,
    {
        let vectorizer = Vectorizer::fit(
            examples.clone().into_iter().map(|e| e.text.as_str()),
            config,
        );
        let (xs, ys) = examples
            .into_iter()
            .map(|e| (vectorizer.transform(&e.text), e.positive))
            .unzip();
        (vectorizer, xs, ys)
    }

    /// Number of feature ids.
    pub fn dims(&self) -> usize {
        match self.config.hashing_bits {
            Some(bits) => 1usize << bits,
            None => self.vocabulary.len(),
        }
    }

    /// The sorted, distinct feature ids present in `text` (unknown n-grams are dropped).
    pub fn transform(&self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = ngrams(text, &self.config)
            .iter()
            .filter_map(|g| match self.config.hashing_bits {
                Some(bits) => Some((fnv1a(g) & ((1u64 << bits) - 1)) as u32),
                None => self.vocabulary.get(g).copied(),
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The share of a text's n-grams the vocabulary does not know (0 when hashing).
    pub fn unknown_share(&self, text: &str) -> f64 {
        if self.config.hashing_bits.is_some() {
            return 0.0;
        }
        let grams = ngrams(text, &self.config);
        let unknown = grams
            .iter()
            .filter(|g| !self.vocabulary.contains_key(*g))
            .count();
        unknown as f64 / grams.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_punctuation_off_words_in_any_script() {
        assert_eq!(
            tokenize("Good!!  \"Très BIEN\", don't (München)… --"),
            ["good", "!!", "\"", "très", "bien", "\",", "don't", "(", "münchen", ")…", "--"]
        );
    }

    #[test]
    fn negation_scope_ends_at_punctuation() {
        let mut t = tokenize("it is not good , but never boring . fine");
        mark_negation(&mut t);
        assert_eq!(
            t.join(" "),
            "it is not NOT_good , but never NOT_boring . fine"
        );
    }

    #[test]
    fn bigrams_vocabulary_min_df_and_hashing() {
        let config = TextConfig {
            min_df: 2,
            ..TextConfig::default()
        };
        let v = Vectorizer::fit(["a good film", "a good plot", "bad"], &config);
        // Kept (in 2 texts): "a", "good", "a good".
        assert_eq!(v.dims(), 3);
        assert_eq!(v.transform("a good good day").len(), 3);
        assert!((v.unknown_share("a bad day") - 4.0 / 5.0).abs() < 1e-12);
        let hashed = Vectorizer::fit(
            [],
            &TextConfig {
                hashing_bits: Some(10),
                ..TextConfig::default()
            },
        );
        assert_eq!(hashed.dims(), 1024);
        let ids = hashed.transform("a good film");
        assert_eq!(ids.len(), 5, "3 words + 2 pairs, no collision expected");
        assert_eq!(ids, hashed.transform("a good film"));
    }
}
