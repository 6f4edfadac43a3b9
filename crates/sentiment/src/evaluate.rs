//! Stage 4 — 10-fold cross-validation on the sentence-polarity data, beside Wang & Manning's
//! published table (`../shared/anchors.md`: binarised features, Laplace α = 1, β = 0.25,
//! liblinear C = 1).
//!
//! Simplification: our folds are a seeded shuffle (ChaCha8, seed 42) cut into 10 equal parts,
//! not the authors' fold files; the vocabulary of each fold is fitted on its training part only.

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::Example;
use crate::ensemble::{Ensemble, EnsembleConfig};
use crate::lexicon::{Polarity, Vader};
use crate::models::{
    fit_svm, probability_of_log_odds, Classifier, LogisticRegression, NaiveBayes, NbSvm, Platt,
    SvmConfig, TfIdf,
};
use crate::text::{TextConfig, Vectorizer};

/// Settings of the protocol.
#[derive(Debug, Clone, Serialize)]
pub struct Cv10Config {
    pub folds: usize,
    pub seed: u64,
    /// Laplace smoothing of the log-count ratios.
    pub alpha: f64,
    /// NBSVM interpolation.
    pub beta: f64,
    pub svm: SvmConfig,
    /// Logistic regression's C (liblinear's objective; 1 is its default) and its passes.
    pub lr_c: f64,
    pub lr_iterations: usize,
    /// Also run the word + character NBSVM ensemble (C and β chosen by inner CV inside each
    /// training fold; about a minute).
    pub ensemble: bool,
}

impl Default for Cv10Config {
    fn default() -> Self {
        Cv10Config {
            folds: 10,
            seed: 42,
            alpha: 1.0,
            beta: 0.25,
            svm: SvmConfig::default(),
            lr_c: 1.0,
            lr_iterations: 300,
            ensemble: true,
        }
    }
}

/// One model's result.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub name: String,
    /// Mean over folds, as a fraction.
    pub accuracy: f64,
    /// Standard deviation over folds.
    pub fold_std: f64,
    /// Whole 10-fold run: vectorise, fit, predict.
    pub seconds: f64,
    /// Share of texts with no decision (the lexicon's neutral band; counted as errors).
    pub no_decision: f64,
    /// Pooled over the test folds (undecided texts count as neither prediction).
    pub confusion: Confusion,
    /// Calibration of σ(score) where the score is a log-odds (naive Bayes, logistic
    /// regression); absent for margins (SVM, NBSVM).
    pub calibration_raw: Option<Calibrated>,
    /// Calibration after Platt scaling fitted on the pooled out-of-fold scores.
    pub calibration_platt: Option<Calibrated>,
    /// Per outer fold, the setting the inner folds chose (searched models only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chosen: Vec<String>,
    /// (fit seconds per fold with its search, µs to score one text) for searched models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<(f64, f64)>,
}

/// Counts of (truth, prediction) pairs; positive is the positive class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
    pub undecided: usize,
}

impl Confusion {
    /// From predictions (`None`: no decision) and the truth.
    pub fn of(predicted: &[Option<bool>], truth: &[bool]) -> Confusion {
        let mut c = Confusion::default();
        for (p, &y) in predicted.iter().zip(truth) {
            match (p, y) {
                (Some(true), true) => c.true_positive += 1,
                (Some(true), false) => c.false_positive += 1,
                (Some(false), false) => c.true_negative += 1,
                (Some(false), true) => c.false_negative += 1,
                (None, _) => c.undecided += 1,
            }
        }
        c
    }
}

/// Talking point [metrics]: accuracy on a balanced set, and calibration when the probability feeds
/// an average. Expected calibration error (10 bins) and Brier score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibrated {
    pub ece: f64,
    pub brier: f64,
}

fn calibrated(truth: &[bool], probabilities: &[f64]) -> Option<Calibrated> {
    mlsd_core::metrics::calibration(truth, probabilities, 10)
        .ok()
        .map(|c| Calibrated {
            ece: c.ece,
            brier: c.brier,
        })
}

/// A confident mistake, for error analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Mistake {
    pub text: String,
    pub positive: bool,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cv10Report {
    pub protocol: &'static str,
    pub examples: usize,
    pub folds: usize,
    pub models: Vec<ModelRow>,
    /// NBSVM-bigram's most confident mistakes: three false positives, three false negatives.
    pub mistakes: Vec<Mistake>,
    /// NBSVM-bigram's calibrated probabilities split at a confidence band: what a cascade
    /// would send to a larger model.
    pub escalation: Option<Escalation>,
}

/// Texts whose calibrated P(positive) lies within `band` of 0.5, and accuracy on each side.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Escalation {
    pub band: f64,
    /// Share of texts inside the band (escalated).
    pub share: f64,
    pub accuracy_inside: f64,
    pub accuracy_outside: f64,
}

impl Escalation {
    pub fn of(probabilities: &[f64], truth: &[bool], band: f64) -> Escalation {
        let (mut inside, mut inside_ok, mut outside_ok) = (0usize, 0usize, 0usize);
        for (&p, &y) in probabilities.iter().zip(truth) {
            let ok = usize::from((p > 0.5) == y);
            if (p - 0.5).abs() < band {
                inside += 1;
                inside_ok += ok;
            } else {
                outside_ok += ok;
            }
        }
        let outside = probabilities.len() - inside;
        Escalation {
            band,
            share: inside as f64 / probabilities.len().max(1) as f64,
            accuracy_inside: inside_ok as f64 / inside.max(1) as f64,
            accuracy_outside: outside_ok as f64 / outside.max(1) as f64,
        }
    }
}

/// Published MR accuracies (%): (our model, published row).
pub const PUBLISHED: [(&str, &str, f64); 6] = [
    ("nbsvm_bigram", "NBSVM-bigram", 79.38),
    ("mnb_bigram", "MNB-bigram", 79.03),
    ("nbsvm_unigram", "NBSVM-unigram", 78.05),
    ("mnb_unigram", "MNB-unigram", 77.94),
    ("svm_bigram", "SVM-bigram", 77.72),
    ("svm_unigram", "SVM-unigram", 76.23),
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Mnb,
    Svm,
    NbSvm,
    LrTfIdf,
}

/// A fitted fold model: scores a feature set.
enum Fitted {
    Linear(Box<dyn Classifier>),
    Lr(TfIdf, LogisticRegression),
}

impl Fitted {
    fn score(&self, x: &[u32]) -> f64 {
        match self {
            Fitted::Linear(m) => m.score(x),
            Fitted::Lr(tfidf, lr) => lr.decision(&tfidf.row(x)),
        }
    }
}

/// The fold (0..`folds`) of each of `n` items: a seeded shuffle cut into equal parts. The outer
/// folds of every protocol here and the inner folds of every search share it.
pub(crate) fn seeded_folds(n: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut in_fold = vec![0usize; n];
    for (position, &i) in order.iter().enumerate() {
        in_fold[i] = position * folds / n.max(1);
    }
    in_fold
}

/// Runs every model of the published table on the same folds.
pub fn cv10(examples: &[Example], cfg: &Cv10Config) -> Cv10Report {
    let folds = cfg.folds.max(2);
    let in_fold = seeded_folds(examples.len(), folds, cfg.seed);
    let mut models = Vec::new();
    let truth: Vec<bool> = examples.iter().map(|e| e.positive).collect();
    let mut mistakes = Vec::new();
    let mut escalation = None;
    for (name, kind, n) in [
        ("nbsvm_bigram", Kind::NbSvm, 2),
        ("mnb_bigram", Kind::Mnb, 2),
        ("nbsvm_unigram", Kind::NbSvm, 1),
        ("mnb_unigram", Kind::Mnb, 1),
        ("svm_bigram", Kind::Svm, 2),
        ("svm_unigram", Kind::Svm, 1),
        ("lr_tfidf_bigram", Kind::LrTfIdf, 2),
    ] {
        let t = Instant::now();
        let text = TextConfig {
            ngrams: n,
            ..TextConfig::default()
        };
        let mut accuracies = Vec::with_capacity(folds);
        let mut out_of_fold = vec![0.0; examples.len()];
        for f in 0..folds {
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for (i, (e, &g)) in examples.iter().zip(&in_fold).enumerate() {
                if g == f {
                    test.push((i, e));
                } else {
                    train.push(e);
                }
            }
            let (vectorizer, xs, ys) = Vectorizer::fit_examples(train.iter().copied(), &text);
            let dims = vectorizer.dims();
            let model = match kind {
                Kind::Mnb => Fitted::Linear(Box::new(NaiveBayes::fit(&xs, &ys, dims, cfg.alpha))),
                Kind::Svm => Fitted::Linear(Box::new(fit_svm(&xs, &ys, dims, &cfg.svm))),
                Kind::NbSvm => Fitted::Linear(Box::new(NbSvm::fit(
                    &xs, &ys, dims, cfg.alpha, cfg.beta, &cfg.svm,
                ))),
                Kind::LrTfIdf => {
                    let tfidf = TfIdf::fit(&xs, dims);
                    let rows: Vec<_> = xs.iter().map(|x| tfidf.row(x)).collect();
                    let lr = LogisticRegression::fit(&rows, &ys, dims, cfg.lr_c, cfg.lr_iterations);
                    Fitted::Lr(tfidf, lr)
                }
            };
            let mut correct = 0usize;
            for &(i, e) in &test {
                let score = model.score(&vectorizer.transform(&e.text));
                out_of_fold[i] = score;
                correct += usize::from((score > 0.0) == e.positive);
            }
            accuracies.push(correct as f64 / test.len().max(1) as f64);
        }
        let mean = accuracies.iter().sum::<f64>() / accuracies.len().max(1) as f64;
        let seconds = t.elapsed().as_secs_f64();
        let predicted: Vec<Option<bool>> = out_of_fold.iter().map(|&s| Some(s > 0.0)).collect();
        // Simplification: Platt's two parameters are fitted and measured on the same pooled
        // out-of-fold scores (2 parameters on 10,662 points: negligible optimism). The served
        // model fits them on its own hold-out.
        let platt = Platt::fit(&out_of_fold, &truth);
        let calibration_raw = matches!(kind, Kind::Mnb | Kind::LrTfIdf).then(|| {
            let p: Vec<f64> = out_of_fold
                .iter()
                .map(|&s| probability_of_log_odds(s))
                .collect();
            calibrated(&truth, &p)
        });
        let p: Vec<f64> = out_of_fold.iter().map(|&s| platt.probability(s)).collect();
        if name == "nbsvm_bigram" {
            mistakes = confident_mistakes(examples, &out_of_fold, 3);
            escalation = Some(Escalation::of(&p, &truth, 0.2));
        }
        models.push(ModelRow {
            name: name.to_string(),
            accuracy: mean,
            fold_std: fold_std(&accuracies, mean),
            seconds,
            no_decision: 0.0,
            confusion: Confusion::of(&predicted, &truth),
            calibration_raw: calibration_raw.flatten(),
            calibration_platt: calibrated(&truth, &p),
            chosen: Vec::new(),
            cost: None,
        });
    }
    if cfg.ensemble {
        models.push(ensemble_row(examples, &in_fold, folds, &truth));
    }
    // The rule-based baseline needs no training: scored on the same test folds, all at once.
    let t = Instant::now();
    if let Ok(vader) = Vader::embedded() {
        let (mut correct, mut neutral) = (0usize, 0usize);
        let mut per_fold = vec![(0usize, 0usize); folds];
        let mut predicted = Vec::with_capacity(examples.len());
        for (e, &f) in examples.iter().zip(&in_fold) {
            let polarity = vader.polarity(&e.text);
            let hit = match polarity {
                Polarity::Positive => e.positive,
                Polarity::Negative => !e.positive,
                Polarity::Neutral => {
                    neutral += 1;
                    false
                }
            };
            predicted.push(match polarity {
                Polarity::Positive => Some(true),
                Polarity::Negative => Some(false),
                Polarity::Neutral => None,
            });
            correct += usize::from(hit);
            per_fold[f].0 += usize::from(hit);
            per_fold[f].1 += 1;
        }
        let accuracies: Vec<f64> = per_fold
            .iter()
            .map(|&(c, n)| c as f64 / n.max(1) as f64)
            .collect();
        let mean = correct as f64 / examples.len().max(1) as f64;
        models.push(ModelRow {
            name: "vader".to_string(),
            accuracy: mean,
            fold_std: fold_std(&accuracies, mean),
            seconds: t.elapsed().as_secs_f64(),
            no_decision: neutral as f64 / examples.len().max(1) as f64,
            confusion: Confusion::of(&predicted, &truth),
            calibration_raw: None,
            calibration_platt: None,
            chosen: Vec::new(),
            cost: None,
        });
    }
    Cv10Report {
        protocol: "cv10",
        examples: examples.len(),
        folds,
        models,
        mistakes,
        escalation,
    }
}

/// The word + character NBSVM ensemble on the same outer folds; each training fold chooses
/// its own (C, β) on inner folds of itself.
fn ensemble_row(examples: &[Example], in_fold: &[usize], folds: usize, truth: &[bool]) -> ModelRow {
    let t = Instant::now();
    let cfg = EnsembleConfig::default();
    let mut accuracies = Vec::with_capacity(folds);
    let mut out_of_fold = vec![0.0; examples.len()];
    let mut chosen = Vec::with_capacity(folds);
    let (mut fit_s, mut predict_s, mut scored) = (0.0, 0.0, 0usize);
    for f in 0..folds {
        let train: Vec<&Example> = examples
            .iter()
            .zip(in_fold)
            .filter(|(_, &g)| g != f)
            .map(|(e, _)| e)
            .collect();
        let fit_t = Instant::now();
        let model = Ensemble::fit(&train, &cfg);
        fit_s += fit_t.elapsed().as_secs_f64();
        chosen.push(format!("C {}, β {}", model.c, model.beta));
        let mut correct = 0usize;
        let mut n = 0usize;
        let predict_t = Instant::now();
        for (i, (e, &g)) in examples.iter().zip(in_fold).enumerate() {
            if g == f {
                let score = model.score(&e.text);
                out_of_fold[i] = score;
                correct += usize::from((score > 0.0) == e.positive);
                n += 1;
            }
        }
        predict_s += predict_t.elapsed().as_secs_f64();
        scored += n;
        accuracies.push(correct as f64 / n.max(1) as f64);
    }
    let mean = accuracies.iter().sum::<f64>() / accuracies.len().max(1) as f64;
    let predicted: Vec<Option<bool>> = out_of_fold.iter().map(|&s| Some(s > 0.0)).collect();
    let platt = Platt::fit(&out_of_fold, truth);
    let p: Vec<f64> = out_of_fold.iter().map(|&s| platt.probability(s)).collect();
    ModelRow {
        name: "nbsvm_word_char_ensemble".into(),
        accuracy: mean,
        fold_std: fold_std(&accuracies, mean),
        seconds: t.elapsed().as_secs_f64(),
        no_decision: 0.0,
        confusion: Confusion::of(&predicted, truth),
        calibration_raw: None,
        calibration_platt: calibrated(truth, &p),
        chosen,
        cost: Some((
            fit_s / folds.max(1) as f64,
            1e6 * predict_s / scored.max(1) as f64,
        )),
    }
}

/// Standard deviation of the per-fold accuracies around `mean` (population form: the spread
/// of these ten folds).
pub(crate) fn fold_std(accuracies: &[f64], mean: f64) -> f64 {
    let var =
        accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accuracies.len().max(1) as f64;
    var.sqrt()
}

/// The `n` most confident false positives and the `n` most confident false negatives.
fn confident_mistakes(examples: &[Example], scores: &[f64], n: usize) -> Vec<Mistake> {
    let mut wrong: Vec<(usize, f64)> = scores
        .iter()
        .enumerate()
        .filter(|&(i, &s)| (s > 0.0) != examples[i].positive)
        .map(|(i, &s)| (i, s))
        .collect();
    wrong.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let pick = |positive_truth: bool| {
        wrong
            .iter()
            .filter(move |(i, _)| examples[*i].positive == positive_truth)
            .take(n)
            .map(|&(i, s)| Mistake {
                text: examples[i].text.clone(),
                positive: examples[i].positive,
                score: s,
            })
    };
    pick(false).chain(pick(true)).collect()
}

/// Our table beside the published one.
pub fn render(report: &Cv10Report) -> String {
    let mut out = format!(
        "{} snippets, {}-fold CV (seeded shuffle), binarised features, α = 1, β = 0.25, C = 1\n\n\
         | model | accuracy % | ± fold std | published % (Wang & Manning 2012) | seconds (all folds) |\n|---|---|---|---|---|\n",
        report.examples, report.folds
    );
    for m in &report.models {
        let published = PUBLISHED
            .iter()
            .find(|(name, _, _)| *name == m.name)
            .map_or("–".to_string(), |(_, row, acc)| {
                format!("{acc:.2} ({row})")
            });
        let published = if m.no_decision > 0.0 {
            format!(
                "{published}; no decision on {:.1} % (neutral band, counted wrong)",
                100.0 * m.no_decision
            )
        } else {
            published
        };
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {} | {:.1} |\n",
            m.name,
            100.0 * m.accuracy,
            100.0 * m.fold_std,
            published,
            m.seconds
        ));
    }
    for m in report.models.iter().filter(|m| !m.chosen.is_empty()) {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for c in &m.chosen {
            match counts.iter_mut().find(|(s, _)| s == c) {
                Some((_, n)) => *n += 1,
                None => counts.push((c.clone(), 1)),
            }
        }
        let chosen: Vec<String> = counts.iter().map(|(s, n)| format!("{s} in {n}")).collect();
        out.push_str(&format!(
            "\n{}: settings chosen by 3-fold CV inside each training fold: {} of {} folds",
            m.name,
            chosen.join(", "),
            m.chosen.len()
        ));
        if let Some((fit, micros)) = m.cost {
            out.push_str(&format!(
                "; {fit:.1} s to search and fit per fold, {micros:.0} µs to score one text"
            ));
        }
        out.push('\n');
    }
    out.push_str(
        "\nPooled over the test folds: confusion (positive = the positive class) and calibration \
         (ECE over 10 bins, Brier)\n\n\
         | model | TP | FP | TN | FN | undecided | ECE σ(score) | ECE Platt | Brier Platt |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let num = |c: Option<Calibrated>, f: fn(Calibrated) -> f64| {
        c.map_or("–".to_string(), |c| format!("{:.3}", f(c)))
    };
    for m in &report.models {
        let c = m.confusion;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            m.name,
            c.true_positive,
            c.false_positive,
            c.true_negative,
            c.false_negative,
            c.undecided,
            num(m.calibration_raw, |c| c.ece),
            num(m.calibration_platt, |c| c.ece),
            num(m.calibration_platt, |c| c.brier),
        ));
    }
    if let Some(e) = report.escalation {
        out.push_str(&format!(
            "\nA cascade's split (NBSVM-bigram, Platt probabilities): {:.1} % of texts have P within {} of 0.5 \
             and {:.1} % of them are right; the other {:.1} % are {:.1} % right\n",
            100.0 * e.share,
            e.band,
            100.0 * e.accuracy_inside,
            100.0 * (1.0 - e.share),
            100.0 * e.accuracy_outside
        ));
    }
    if !report.mistakes.is_empty() {
        out.push_str(
            "\nNBSVM-bigram's most confident mistakes (score > 0: predicted positive)\n\n",
        );
        for m in &report.mistakes {
            out.push_str(&format!(
                "- [{}, scored {:+.2}] {}\n",
                if m.positive { "positive" } else { "negative" },
                m.score,
                m.text
            ));
        }
    }
    out
}
