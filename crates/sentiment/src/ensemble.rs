//! Stage 3 (continued) — the best classical model here: NBSVM on word 1–3-grams plus NBSVM on
//! character 2–5-grams, their scores added, with C and β chosen by an inner cross-validation.
//!
//! Why two views: word n-grams carry phrases ("not good", "a waste of"); character n-grams
//! inside words carry spelling variants, inflections and word pieces the word vocabulary never
//! saw ("unwatchable", "overlong"). Each model's score is divided by its spread on the training
//! texts before adding, so neither view drowns the other.
//!
//! Talking points: hyper-parameters are chosen on folds of the *training* texts only (the
//! outer test fold is never looked at); an ensemble of two cheap linear models is the classical
//! answer to "can you do better without a GPU?"; it costs two vocabularies and two weight
//! vectors, and about twice the scoring time.

use serde::Serialize;

use crate::data::Example;
use crate::models::{Classifier, NbSvm, SvmConfig};
use crate::text::{TextConfig, Vectorizer};

/// Settings of the ensemble and its search.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleConfig {
    pub word: TextConfig,
    pub chars: TextConfig,
    /// SVM C values searched.
    pub c_grid: Vec<f64>,
    /// NBSVM β values searched (free: β mixes the weights of one fit).
    pub beta_grid: Vec<f64>,
    /// Inner folds over the training texts.
    pub inner_folds: usize,
    /// Laplace α of the NB ratios.
    pub alpha: f64,
    pub seed: u64,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            word: TextConfig {
                ngrams: 3,
                ..TextConfig::default()
            },
            chars: TextConfig {
                char_ngrams: Some((2, 5)),
                ..TextConfig::default()
            },
            c_grid: vec![0.1, 1.0],
            beta_grid: vec![0.25, 0.5],
            inner_folds: 3,
            alpha: 1.0,
            seed: 42,
        }
    }
}

/// One view: a vectoriser, its NBSVM and the spread its scores are divided by.
struct View {
    vectorizer: Vectorizer,
    model: NbSvm,
    scale: f64,
}

/// The fitted ensemble and the setting the inner folds chose.
/// Talking point [comparison]: settings chosen by inner CV inside each training fold, never on the
/// test fold.
pub struct Ensemble {
    views: Vec<View>,
    pub c: f64,
    pub beta: f64,
}

impl Ensemble {
    /// The ensemble's decision value (> 0: positive).
    pub fn score(&self, text: &str) -> f64 {
        self.views
            .iter()
            .map(|v| v.model.score(&v.vectorizer.transform(text)) / v.scale)
            .sum()
    }

    /// Chooses (C, β) on inner folds of `train`, then fits both views on all of it.
    pub fn fit(train: &[&Example], cfg: &EnsembleConfig) -> Ensemble {
        // Simplification: each vocabulary is fitted once on all training texts and reused by
        // the inner folds — vocabulary is unsupervised; the label-dependent NB ratios and SVM
        // weights are refitted on each inner training part.
        let ys: Vec<bool> = train.iter().map(|e| e.positive).collect();
        let views: Vec<(Vectorizer, Vec<Vec<u32>>)> = [&cfg.word, &cfg.chars]
            .into_iter()
            .map(|text| {
                let (v, xs, _) = Vectorizer::fit_examples(train.iter().copied(), text);
                (v, xs)
            })
            .collect();
        let (c, beta) = choose(&views, &ys, cfg);
        let svm = SvmConfig {
            c,
            ..SvmConfig::default()
        };
        let views = views
            .into_iter()
            .map(|(vectorizer, xs)| {
                let model = NbSvm::fit(&xs, &ys, vectorizer.dims(), cfg.alpha, beta, &svm);
                let scale = spread(&model, &xs);
                View {
                    vectorizer,
                    model,
                    scale,
                }
            })
            .collect();
        Ensemble { views, c, beta }
    }
}

/// Standard deviation of a model's scores on `xs` (1 when they do not vary).
fn spread(model: &NbSvm, xs: &[Vec<u32>]) -> f64 {
    let s: Vec<f64> = xs.iter().map(|x| model.score(x)).collect();
    let n = s.len().max(1) as f64;
    let mean = s.iter().sum::<f64>() / n;
    let sd = (s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    if sd > 0.0 {
        sd
    } else {
        1.0
    }
}

/// The (C, β) with the best inner-fold accuracy of the summed views; ties keep the earlier.
fn choose(views: &[(Vectorizer, Vec<Vec<u32>>)], ys: &[bool], cfg: &EnsembleConfig) -> (f64, f64) {
    let n = ys.len();
    let folds = cfg.inner_folds.max(2);
    let fold_of = crate::evaluate::seeded_folds(n, folds, cfg.seed);
    let settings: Vec<(f64, f64)> = cfg
        .c_grid
        .iter()
        .flat_map(|&c| cfg.beta_grid.iter().map(move |&b| (c, b)))
        .collect();
    let mut correct = vec![0usize; settings.len()];
    for f in 0..folds {
        let (fit_rows, held): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| fold_of[i] != f);
        let fit_ys: Vec<bool> = fit_rows.iter().map(|&i| ys[i]).collect();
        // Each view's rows of this inner training part, gathered once for every C.
        let fit_views: Vec<Vec<Vec<u32>>> = views
            .iter()
            .map(|(_, xs)| fit_rows.iter().map(|&i| xs[i].clone()).collect())
            .collect();
        for (ci, &c) in cfg.c_grid.iter().enumerate() {
            let svm = SvmConfig {
                c,
                ..SvmConfig::default()
            };
            // Per view: one model per β, each with its training spread.
            let per_view: Vec<Vec<(NbSvm, f64)>> = views
                .iter()
                .zip(&fit_views)
                .map(|((v, _), fit_xs)| {
                    NbSvm::fit_betas(fit_xs, &fit_ys, v.dims(), cfg.alpha, &cfg.beta_grid, &svm)
                        .into_iter()
                        .map(|m| {
                            let s = spread(&m, fit_xs);
                            (m, s)
                        })
                        .collect()
                })
                .collect();
            for bi in 0..cfg.beta_grid.len() {
                let slot = ci * cfg.beta_grid.len() + bi;
                for &i in &held {
                    let score: f64 = per_view
                        .iter()
                        .zip(views)
                        .map(|(models, (_, xs))| models[bi].0.score(&xs[i]) / models[bi].1)
                        .sum();
                    correct[slot] += usize::from((score > 0.0) == ys[i]);
                }
            }
        }
    }
    let best = (0..settings.len()).fold(0, |b, s| if correct[s] > correct[b] { s } else { b });
    settings.get(best).copied().unwrap_or((1.0, 0.25))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(text: &str, positive: bool) -> Example {
        Example {
            text: text.into(),
            positive,
            topic: None,
        }
    }

    #[test]
    fn the_character_view_scores_a_word_it_never_saw_whole() {
        let train: Vec<Example> = (0..30)
            .flat_map(|i| {
                [
                    e(&format!("a wonderful film number {i}"), true),
                    e(&format!("a dreadful film number {i}"), false),
                ]
            })
            .collect();
        let refs: Vec<&Example> = train.iter().collect();
        let m = Ensemble::fit(&refs, &EnsembleConfig::default());
        assert!(m.score("wonderfully made") > 0.0);
        assert!(m.score("dreadfully made") < 0.0);
        assert!(EnsembleConfig::default().c_grid.contains(&m.c));
    }
}
