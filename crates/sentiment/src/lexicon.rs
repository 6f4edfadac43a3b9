//! Stage 3 (baseline) — a rule-based scorer in the style of VADER (Hutto & Gilbert 2014): no
//! training, a lexicon of 7,520 rated tokens and a few rules.
//!
//! Rules kept from VADER: negation in the 3 tokens before a word flips and damps it (× −0.74);
//! boosters ("very") and dampeners ("slightly") in those 3 tokens shift it by 0.293 (less with
//! distance); an ALL-CAPS word in mixed-case text is emphasised (0.733); "but" halves what came
//! before and weighs what follows by 1.5; up to 4 exclamation marks add 0.292 each; the sum is
//! squashed to a compound score in (−1, 1) by s / √(s² + 15). Positive at compound ≥ 0.05,
//! negative at ≤ −0.05, neutral (no decision) in between.
//!
//! Simplification: VADER's idiom list, emoji handling and "least"/"kind of" special cases are
//! left out. Talking points: the zero-training baseline every model must beat, and the
//! small-fast-model tier of a cascade (it needs no vectoriser and no model file).
//!
//! The lexicon (MIT) is shipped in `datasets/vader/` with its license and compiled in.

use std::collections::HashMap;

use crate::{Error, Result};

const LEXICON: &str = include_str!("../../../datasets/vader/vader_lexicon.txt");

const NEGATIONS: [&str; 22] = [
    "not", "no", "never", "none", "nope", "nor", "nothing", "nowhere", "neither", "without",
    "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "werent", "wont",
    "wouldnt", "rarely",
];

const BOOSTERS: [&str; 30] = [
    "absolutely",
    "amazingly",
    "awfully",
    "completely",
    "considerably",
    "decidedly",
    "deeply",
    "enormously",
    "entirely",
    "especially",
    "exceptionally",
    "extremely",
    "fabulously",
    "greatly",
    "highly",
    "hugely",
    "incredibly",
    "intensely",
    "particularly",
    "purely",
    "quite",
    "really",
    "remarkably",
    "so",
    "substantially",
    "thoroughly",
    "totally",
    "tremendously",
    "utterly",
    "very",
];

const DAMPENERS: [&str; 12] = [
    "almost",
    "barely",
    "hardly",
    "kinda",
    "less",
    "little",
    "marginally",
    "occasionally",
    "partly",
    "scarcely",
    "slightly",
    "somewhat",
];

/// Talking point [rules-baseline]: do we need ML? A published rule-based scorer is the baseline to
/// beat. The lexicon: token → mean valence (−4 to 4).
pub struct Vader {
    valence: HashMap<String, f64>,
}

/// A decision of the rule-based scorer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Positive,
    Negative,
    Neutral,
}

impl Vader {
    /// The shipped lexicon.
    pub fn embedded() -> Result<Vader> {
        Vader::parse(LEXICON)
    }

    /// `token \t mean valence \t …` per line (a token listed twice: the later line wins); a line
    /// that does not parse is an error naming it.
    pub fn parse(text: &str) -> Result<Vader> {
        let mut valence = HashMap::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut fields = line.split('\t');
            let (Some(token), Some(Ok(v))) = (fields.next(), fields.next().map(str::parse::<f64>))
            else {
                return Err(Error::Config(format!("lexicon line {}: {line:?}", n + 1)));
            };
            valence.insert(token.to_string(), v);
        }
        Ok(Vader { valence })
    }

    pub fn len(&self) -> usize {
        self.valence.len()
    }

    pub fn is_empty(&self) -> bool {
        self.valence.is_empty()
    }

    /// The compound score in (−1, 1).
    pub fn compound(&self, text: &str) -> f64 {
        let words: Vec<&str> = text.split_whitespace().collect();
        let mixed_case = words.iter().any(|w| w.chars().any(char::is_lowercase))
            && words.iter().any(|w| is_shouting(w));
        let bare: Vec<String> = words
            .iter()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                    .to_lowercase()
            })
            .collect();
        let but = bare.iter().position(|w| w == "but");
        let mut sum = 0.0;
        for (i, word) in bare.iter().enumerate() {
            let Some(&base) = self.valence.get(word) else {
                continue;
            };
            if BOOSTERS.contains(&word.as_str()) || DAMPENERS.contains(&word.as_str()) {
                continue; // modifiers modify; they are not sentiment themselves
            }
            let mut v = base;
            if mixed_case && is_shouting(words[i]) {
                v += 0.733 * v.signum();
            }
            for d in 1..=3usize.min(i) {
                let before = bare[i - d].as_str();
                let fade = [1.0, 0.95, 0.9][d - 1];
                if BOOSTERS.contains(&before) {
                    v += 0.293 * fade * v.signum();
                } else if DAMPENERS.contains(&before) {
                    v -= 0.293 * fade * v.signum();
                }
                if NEGATIONS.contains(&before) || before.ends_with("n't") {
                    v *= -0.74;
                }
            }
            if let Some(b) = but {
                v *= if i < b {
                    0.5
                } else if i > b {
                    1.5
                } else {
                    1.0
                };
            }
            sum += v;
        }
        let bangs = text.matches('!').count().min(4) as f64;
        if sum != 0.0 {
            sum += 0.292 * bangs * sum.signum();
        }
        sum / (sum * sum + 15.0).sqrt()
    }

    pub fn polarity(&self, text: &str) -> Polarity {
        match self.compound(text) {
            c if c >= 0.05 => Polarity::Positive,
            c if c <= -0.05 => Polarity::Negative,
            _ => Polarity::Neutral,
        }
    }
}

fn is_shouting(word: &str) -> bool {
    word.chars().filter(|c| c.is_alphabetic()).count() > 1
        && word.chars().all(|c| !c.is_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_move_the_score_the_way_vader_does() {
        let v = Vader::embedded().expect("lexicon");
        // 7,520 lines; 14 tokens ("lol", "ok", …) are listed twice, and the later line wins, as in
        // VADER's own dictionary.
        assert_eq!(v.len(), 7_506);
        let c = |t: &str| v.compound(t);
        assert!(c("a good film") > 0.05);
        assert!(c("a very good film") > c("a good film"), "booster");
        assert!(c("a slightly good film") < c("a good film"), "dampener");
        assert!(c("not a good film") < 0.0, "negation flips");
        assert!(
            c("the plot is n't good") < 0.0,
            "the corpus's split-off n't negates too"
        );
        assert!(
            c("a GOOD film") > c("a good film"),
            "caps emphasis in mixed case"
        );
        assert!(c("a good film!!") > c("a good film"), "exclamation");
        assert!(
            c("good acting but a terrible plot") < 0.0,
            "what follows 'but' weighs more"
        );
        assert_eq!(
            v.polarity("the film is ninety minutes long"),
            Polarity::Neutral
        );
        assert!(Vader::parse("good\tnot-a-number").is_err());
    }
}
