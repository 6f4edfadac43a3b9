//! Stage 4 (continued) — out of domain: train on movie-review sentences, score text the model
//! never saw the like of, beside a lexicon that needs no training.
//!
//! The sets are VADER's human-rated snippets (Hutto & Gilbert, ICWSM 2014): Amazon product
//! reviews and New York Times editorials, each the mean of 20 raters on −4 … +4. The usual
//! binary protocol keeps |rating| ≥ 0.5 and labels by the sign. Nothing is tuned on them: every
//! setting is the in-domain one, so these are reports, not a model selection.
//!
//! Talking points: in-domain accuracy says little about a user's own text — the number to
//! quote before a sentiment API is trusted is the one measured on text like theirs; "no
//! evidence" must be an answer (`undecided`), not a confident label; a model trained on
//! synthetic text looks fine on the demo and is at chance on real text.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::artifact::{Label, SentimentArtifact};
use crate::data::{lines, Example};
use crate::lexicon::{Polarity, Vader};
use crate::models::{fit_svm, Classifier, NaiveBayes, SvmConfig};
use crate::text::{TextConfig, Vectorizer};
use crate::{Error, Result};

/// Where the snippets live under the data directory.
pub const FOLDER: &str = "vader-groundtruth";

/// The two sets: (name, file).
pub const SETS: [(&str, &str); 2] = [
    ("amazon", "amazonReviewSnippets_GroundTruth.txt"),
    ("nyt", "nytEditorialSnippets_GroundTruth.txt"),
];

/// Snippets with |rating| below this are near-neutral and dropped (the usual binary protocol).
pub const MIN_ABS_RATING: f64 = 0.5;

/// One rated set, as kept for the binary protocol.
#[derive(Debug, Clone, Serialize)]
pub struct RatedSet {
    pub name: &'static str,
    #[serde(skip)]
    pub examples: Vec<Example>,
    pub kept: usize,
    pub positive: usize,
    /// Near-neutral snippets left out (|rating| < 0.5).
    pub near_neutral: usize,
    /// Lines that are not `id<TAB>rating<TAB>text` with a finite rating.
    pub malformed: usize,
}

/// Reads both sets from `<data_dir>/vader-groundtruth/`.
pub fn load_sets(data_dir: &Path) -> Result<Vec<RatedSet>> {
    let folder = data_dir.join(FOLDER);
    SETS.iter()
        .map(|&(name, file)| {
            let path = folder.join(file);
            let bytes = std::fs::read(&path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?;
            Ok(parse_set(name, &String::from_utf8_lossy(&bytes)))
        })
        .collect()
}

/// Parses `id<TAB>mean rating<TAB>text` lines; malformed lines are counted, not fatal.
pub fn parse_set(name: &'static str, text: &str) -> RatedSet {
    let mut set = RatedSet {
        name,
        examples: Vec::new(),
        kept: 0,
        positive: 0,
        near_neutral: 0,
        malformed: 0,
    };
    for line in lines(text) {
        let mut fields = line.splitn(3, '\t');
        let (_, rating, snippet) = (fields.next(), fields.next(), fields.next());
        let rating = rating.and_then(|r| r.trim().parse::<f64>().ok());
        match (rating, snippet.map(str::trim)) {
            (Some(r), Some(s)) if r.is_finite() && !s.is_empty() => {
                if r.abs() < MIN_ABS_RATING {
                    set.near_neutral += 1;
                    continue;
                }
                set.positive += usize::from(r > 0.0);
                set.examples.push(Example {
                    text: s.to_string(),
                    positive: r > 0.0,
                    topic: None,
                });
            }
            _ => set.malformed += 1,
        }
    }
    set.kept = set.examples.len();
    set
}

/// One model on one set.
#[derive(Debug, Clone, Serialize)]
pub struct SetScore {
    pub set: &'static str,
    /// Correct / kept snippets; an undecided snippet counts as wrong (the API gave no answer).
    pub accuracy: f64,
    /// Share of snippets the model left undecided (no known feature; VADER: |compound| < 0.05).
    pub undecided: f64,
    /// Correct / decided snippets: how good the model is when it answers.
    pub decided_accuracy: f64,
}

/// One model on every set.
#[derive(Debug, Clone, Serialize)]
pub struct OodRow {
    pub name: String,
    pub trained_on: &'static str,
    pub sets: Vec<SetScore>,
    /// Training (none for the lexicon; the cascades reuse fitted models) and scoring both sets.
    pub seconds: f64,
}

/// What `mlsd sentiment evaluate --protocol out-of-domain` prints.
#[derive(Debug, Clone, Serialize)]
pub struct OodReport {
    pub protocol: &'static str,
    pub sets: Vec<RatedSet>,
    pub models: Vec<OodRow>,
}

/// Published reference, binary accuracy on the kept snippets: the `vaderSentiment` 3.3.2
/// package (`../shared/datasets/vader-groundtruth/PROVENANCE.md`): (amazon, nyt).
pub const PUBLISHED_VADER: (f64, f64) = (0.624, 0.598);

/// Trains the in-domain models on `mr` (all of it) and the shipped default on `synthetic`,
/// and scores every set with each and with the lexicon.
pub fn out_of_domain(mr: &[Example], synthetic: &[Example], sets: Vec<RatedSet>) -> OodReport {
    let mut models = Vec::new();
    let text = TextConfig::default();
    let mut fitted = Vec::new();
    for (name, kind) in [
        ("nbsvm_bigram", Linear::NbSvm),
        ("mnb_bigram", Linear::Mnb),
        ("svm_bigram", Linear::Svm),
    ] {
        let t = Instant::now();
        let model = fit_linear(kind, mr, &text);
        let sets = score_sets(&sets, |s| model.label(s));
        models.push(OodRow {
            name: name.into(),
            trained_on: "rt-polarity (movie-review sentences)",
            sets,
            seconds: t.elapsed().as_secs_f64(),
        });
        fitted.push(model);
    }
    let nbsvm = &fitted[0];
    // The model `mlsd sentiment train` registers when given no data.
    let t = Instant::now();
    let (default, _) = SentimentArtifact::train_with_holdout(synthetic, &text);
    models.push(OodRow {
        name: "nbsvm_bigram (shipped default)".into(),
        trained_on: "the embedded synthetic reviews",
        sets: score_sets(&sets, |s| default.predict(s).label),
        seconds: t.elapsed().as_secs_f64(),
    });
    if let Ok(vader) = Vader::embedded() {
        let lexicon = |s: &str| match vader.polarity(s) {
            Polarity::Positive => Label::Positive,
            Polarity::Negative => Label::Negative,
            Polarity::Neutral => Label::Undecided,
        };
        let t = Instant::now();
        let scored = score_sets(&sets, lexicon);
        models.push(OodRow {
            name: "vader".into(),
            trained_on: "nothing (lexicon and rules)",
            sets: scored,
            seconds: t.elapsed().as_secs_f64(),
        });
        // Talking point [trade-offs]: a cascade — the lexicon answers when it is sure, the learned
        // model takes what the lexicon leaves undecided. The cascades reuse the models fitted
        // above: their seconds are scoring only.
        let t = Instant::now();
        let scored = score_sets(&sets, |s| match lexicon(s) {
            Label::Undecided => nbsvm.label(s),
            decided => decided,
        });
        models.push(OodRow {
            name: "vader, else nbsvm_bigram".into(),
            trained_on: "rt-polarity for the undecided",
            sets: scored,
            seconds: t.elapsed().as_secs_f64(),
        });
        let t = Instant::now();
        let scored = score_sets(&sets, |s| match lexicon(s) {
            Label::Undecided => default.predict(s).label,
            decided => decided,
        });
        models.push(OodRow {
            name: "vader, else the shipped default".into(),
            trained_on: "synthetic reviews for the undecided",
            sets: scored,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    OodReport {
        protocol: "out-of-domain",
        sets,
        models,
    }
}

#[derive(Clone, Copy)]
enum Linear {
    NbSvm,
    Mnb,
    Svm,
}

/// A vectoriser and a linear model fitted on every example.
struct FittedLinear {
    vectorizer: Vectorizer,
    model: Box<dyn Classifier>,
}

impl FittedLinear {
    fn label(&self, text: &str) -> Label {
        let x = self.vectorizer.transform(text);
        Label::of(&x, self.model.score(&x))
    }
}

fn fit_linear(kind: Linear, examples: &[Example], text: &TextConfig) -> FittedLinear {
    let (vectorizer, xs, ys) = Vectorizer::fit_examples(examples, text);
    let dims = vectorizer.dims();
    let svm = SvmConfig::default();
    let model: Box<dyn Classifier> = match kind {
        Linear::NbSvm => Box::new(crate::models::NbSvm::fit(&xs, &ys, dims, 1.0, 0.25, &svm)),
        Linear::Mnb => Box::new(NaiveBayes::fit(&xs, &ys, dims, 1.0)),
        Linear::Svm => Box::new(fit_svm(&xs, &ys, dims, &svm)),
    };
    FittedLinear { vectorizer, model }
}

fn score_sets(sets: &[RatedSet], label: impl Fn(&str) -> Label) -> Vec<SetScore> {
    sets.iter()
        .map(|set| {
            let (mut correct, mut undecided) = (0usize, 0usize);
            for e in &set.examples {
                match label(&e.text) {
                    Label::Undecided => undecided += 1,
                    l => correct += usize::from((l == Label::Positive) == e.positive),
                }
            }
            let n = set.examples.len();
            SetScore {
                set: set.name,
                accuracy: correct as f64 / n.max(1) as f64,
                undecided: undecided as f64 / n.max(1) as f64,
                decided_accuracy: correct as f64 / (n - undecided).max(1) as f64,
            }
        })
        .collect()
}

/// The table: one row per model, accuracy (undecided share) per set, the published VADER row.
pub fn render(report: &OodReport) -> String {
    let mut rows: Vec<Vec<String>> = report
        .models
        .iter()
        .map(|m| {
            let mut row = vec![m.name.clone(), m.trained_on.to_string()];
            for s in &m.sets {
                row.push(format!(
                    "{:.3} ({:.1} % undecided; {:.3} when decided)",
                    s.accuracy,
                    100.0 * s.undecided,
                    s.decided_accuracy
                ));
            }
            row.push(format!("{:.2}", m.seconds));
            row
        })
        .collect();
    rows.push(vec![
        "vaderSentiment 3.3.2 (published)".into(),
        "nothing (lexicon and rules)".into(),
        format!("{:.3}", PUBLISHED_VADER.0),
        format!("{:.3}", PUBLISHED_VADER.1),
        "–".into(),
    ]);
    let mut header = vec!["model".to_string(), "trained on".to_string()];
    for s in &report.sets {
        header.push(format!("{} (n = {})", s.name, s.kept));
    }
    header.push("s".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    mlsd_core::report::markdown_table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_neutral_and_malformed_lines_are_counted_not_kept() {
        let text = "1\t2.5\tgreat value\r\n2\t-0.2\tit is a box\r\n3\t-1.5\tbroke in a day\r\n\
                    4\tnot-a-number\tx\r\n5\t1.0\r\n6\tNaN\tnan rating\r\n";
        let set = parse_set("t", text);
        assert_eq!((set.kept, set.positive), (2, 1));
        assert_eq!((set.near_neutral, set.malformed), (1, 3));
        assert!(set.examples[0].positive && !set.examples[1].positive);
    }

    #[test]
    fn undecided_counts_against_accuracy_and_is_reported() {
        let set = parse_set("t", "1\t2\tgood\n2\t-2\tbad\n3\t2\tzzz\n4\t-2\tqqq\n");
        let scores = score_sets(&[set], |t| match t {
            "good" => Label::Positive,
            "bad" => Label::Positive,
            _ => Label::Undecided,
        });
        assert_eq!(scores[0].accuracy, 0.25);
        assert_eq!(scores[0].undecided, 0.5);
    }
}
