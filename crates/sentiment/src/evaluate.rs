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
use crate::lexicon::{Polarity, Vader};
use crate::models::{fit_svm, Classifier, NaiveBayes, NbSvm, SvmConfig};
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
}

impl Default for Cv10Config {
    fn default() -> Self {
        Cv10Config {
            folds: 10,
            seed: 42,
            alpha: 1.0,
            beta: 0.25,
            svm: SvmConfig::default(),
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
}

#[derive(Debug, Clone, Serialize)]
pub struct Cv10Report {
    pub protocol: &'static str,
    pub examples: usize,
    pub folds: usize,
    pub models: Vec<ModelRow>,
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

#[derive(Clone, Copy)]
enum Kind {
    Mnb,
    Svm,
    NbSvm,
}

/// Runs every model of the published table on the same folds.
pub fn cv10(examples: &[Example], cfg: &Cv10Config) -> Cv10Report {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed));
    let folds = cfg.folds.max(2);
    let fold_of = |position: usize| position * folds / examples.len().max(1);
    let mut in_fold = vec![0usize; examples.len()];
    for (position, &i) in order.iter().enumerate() {
        in_fold[i] = fold_of(position);
    }
    let mut models = Vec::new();
    for (name, kind, n) in [
        ("nbsvm_bigram", Kind::NbSvm, 2),
        ("mnb_bigram", Kind::Mnb, 2),
        ("nbsvm_unigram", Kind::NbSvm, 1),
        ("mnb_unigram", Kind::Mnb, 1),
        ("svm_bigram", Kind::Svm, 2),
        ("svm_unigram", Kind::Svm, 1),
    ] {
        let t = Instant::now();
        let text = TextConfig {
            ngrams: n,
            ..TextConfig::default()
        };
        let mut accuracies = Vec::with_capacity(folds);
        for f in 0..folds {
            let (mut train, mut test) = (Vec::new(), Vec::new());
            for (e, &g) in examples.iter().zip(&in_fold) {
                if g == f {
                    test.push(e);
                } else {
                    train.push(e);
                }
            }
            let vectorizer = Vectorizer::fit(train.iter().map(|e| e.text.as_str()), &text);
            let xs: Vec<Vec<u32>> = train
                .iter()
                .map(|e| vectorizer.transform(&e.text))
                .collect();
            let ys: Vec<bool> = train.iter().map(|e| e.positive).collect();
            let dims = vectorizer.dims();
            let model: Box<dyn Classifier> = match kind {
                Kind::Mnb => Box::new(NaiveBayes::fit(&xs, &ys, dims, cfg.alpha)),
                Kind::Svm => Box::new(fit_svm(&xs, &ys, dims, &cfg.svm)),
                Kind::NbSvm => Box::new(NbSvm::fit(&xs, &ys, dims, cfg.alpha, cfg.beta, &cfg.svm)),
            };
            let correct = test
                .iter()
                .filter(|e| (model.score(&vectorizer.transform(&e.text)) > 0.0) == e.positive)
                .count();
            accuracies.push(correct as f64 / test.len().max(1) as f64);
        }
        let mean = accuracies.iter().sum::<f64>() / accuracies.len() as f64;
        let var =
            accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accuracies.len() as f64;
        models.push(ModelRow {
            name: name.to_string(),
            accuracy: mean,
            fold_std: var.sqrt(),
            seconds: t.elapsed().as_secs_f64(),
            no_decision: 0.0,
        });
    }
    // The rule-based baseline needs no training: scored on the same test folds, all at once.
    let t = Instant::now();
    if let Ok(vader) = Vader::embedded() {
        let (mut correct, mut neutral) = (0usize, 0usize);
        let mut per_fold = vec![(0usize, 0usize); folds];
        for (e, &f) in examples.iter().zip(&in_fold) {
            let hit = match vader.polarity(&e.text) {
                Polarity::Positive => e.positive,
                Polarity::Negative => !e.positive,
                Polarity::Neutral => {
                    neutral += 1;
                    false
                }
            };
            correct += usize::from(hit);
            per_fold[f].0 += usize::from(hit);
            per_fold[f].1 += 1;
        }
        let accuracies: Vec<f64> = per_fold
            .iter()
            .map(|&(c, n)| c as f64 / n.max(1) as f64)
            .collect();
        let mean = correct as f64 / examples.len().max(1) as f64;
        let var = accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>()
            / accuracies.len().max(1) as f64;
        models.push(ModelRow {
            name: "vader".to_string(),
            accuracy: mean,
            fold_std: var.sqrt(),
            seconds: t.elapsed().as_secs_f64(),
            no_decision: neutral as f64 / examples.len().max(1) as f64,
        });
    }
    Cv10Report {
        protocol: "cv10",
        examples: examples.len(),
        folds,
        models,
    }
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
    out
}
