//! Stage 7 — drift in language: is the text arriving now still the text the model learned?
//!
//! Five checks of current texts against reference texts (held-out training texts saved in the
//! artifact):
//!
//! | check | statistic | why |
//! |---|---|---|
//! | out-of-vocabulary rate | mean share of a text's n-grams the model never saw (difference) | new words carry no weight: the model goes quiet |
//! | length | Jensen-Shannon distance of the token-count histograms | tweets vs reviews; long texts dilute bigrams |
//! | words | JS distance of the word frequency distributions | the topic or the slang moved |
//! | predictions | JS distance of the probability histograms | what users see moved, whatever the cause |
//! | domain classifier | ROC AUC of naive Bayes telling current from reference on held-out halves | catches any learnable difference, including ones no hand-made statistic looks at |
//!
//! Talking points: a distance alone means nothing — two samples of the *same* text differ by
//! chance, and the more so the smaller they are — so the first four are judged against a
//! permutation null (pool both samples, reshuffle, recompute; the observed value must exceed
//! every shuffled one: p < 1/(permutations + 1)) *and* a minimum effect size; the domain
//! classifier's AUC against chance (0.5) plus three standard errors of the null
//! Mann–Whitney statistic. No labels are needed for any check: in production labels arrive
//! late or never, and "the confidence distribution moved" is the early warning.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::artifact::SentimentArtifact;
use crate::models::{Classifier, NaiveBayes};
use crate::text::{tokenize, TextConfig, Vectorizer};

/// Settings of the checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TextDriftConfig {
    /// Shuffles per permutation null.
    pub permutations: usize,
    /// Smallest out-of-vocabulary rate difference that counts (0.03: three points).
    pub min_oov_difference: f64,
    /// Smallest Jensen-Shannon distance that counts.
    pub min_js: f64,
    /// Smallest AUC above 0.5 that counts (besides three null standard errors).
    pub min_auc_margin: f64,
    pub seed: u64,
}

impl Default for TextDriftConfig {
    fn default() -> Self {
        TextDriftConfig {
            permutations: 100,
            min_oov_difference: 0.03,
            min_js: 0.05,
            min_auc_margin: 0.05,
            seed: 42,
        }
    }
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub statistic: f64,
    /// The value the statistic must exceed: the permutation null's maximum or the AUC bound,
    /// and never less than the minimum effect.
    pub threshold: f64,
    pub drifted: bool,
}

/// Everything the checks measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextDriftReport {
    pub reference_texts: usize,
    pub current_texts: usize,
    pub oov_rate_reference: f64,
    pub oov_rate_current: f64,
    pub mean_tokens_reference: f64,
    pub mean_tokens_current: f64,
    pub share_positive_reference: f64,
    pub share_positive_current: f64,
    /// Mean |P(positive) − 0.5| × 2: 1 is certain, 0 a coin flip.
    pub confidence_reference: f64,
    pub confidence_current: f64,
    pub checks: Vec<Check>,
    /// Any check drifted.
    pub drifted: bool,
}

/// What the checks need from each text, computed once.
struct Profile {
    oov: f64,
    tokens: usize,
    words: Vec<u32>,
    probability: f64,
}

const LENGTH_BUCKETS: usize = 16; // 0–3, 4–7, …, ≥ 60 tokens
const PROBABILITY_BUCKETS: usize = 10;

/// Jensen-Shannon distance (natural log, so 0 to √ln 2 ≈ 0.83) of two count vectors.
fn js_of_counts(mut p: Vec<f64>, mut q: Vec<f64>) -> f64 {
    for v in [&mut p, &mut q] {
        let total: f64 = v.iter().sum();
        if total > 0.0 {
            v.iter_mut().for_each(|x| *x /= total);
        }
    }
    mlsd_core::drift::jensen_shannon_distance(&p, &q)
}

fn histogram_js(
    profiles: &[Profile],
    a: &[usize],
    b: &[usize],
    buckets: usize,
    bucket: fn(&Profile) -> usize,
) -> f64 {
    let mut p = vec![0.0; buckets];
    let mut q = vec![0.0; buckets];
    for &i in a {
        p[bucket(&profiles[i]).min(buckets - 1)] += 1.0;
    }
    for &i in b {
        q[bucket(&profiles[i]).min(buckets - 1)] += 1.0;
    }
    js_of_counts(p, q)
}

fn words_js(profiles: &[Profile], a: &[usize], b: &[usize], vocabulary: usize) -> f64 {
    let mut p = vec![0.0; vocabulary];
    let mut q = vec![0.0; vocabulary];
    for &i in a {
        for &w in &profiles[i].words {
            p[w as usize] += 1.0;
        }
    }
    for &i in b {
        for &w in &profiles[i].words {
            q[w as usize] += 1.0;
        }
    }
    js_of_counts(p, q)
}

fn mean(profiles: &[Profile], idx: &[usize], f: fn(&Profile) -> f64) -> f64 {
    idx.iter().map(|&i| f(&profiles[i])).sum::<f64>() / idx.len().max(1) as f64
}

/// Compares `current` texts with `reference` texts through `model`.
/// Talking point [drift]: language drifts: vocabulary, length, words, predictions and a domain
/// classifier.
pub fn check(
    model: &SentimentArtifact,
    reference: &[String],
    current: &[String],
    cfg: &TextDriftConfig,
) -> TextDriftReport {
    let mut vocabulary: HashMap<String, u32> = HashMap::new();
    let profiles: Vec<Profile> = reference
        .iter()
        .chain(current)
        .map(|text| {
            let tokens = tokenize(text);
            let words = tokens
                .iter()
                .map(|t| {
                    let next = vocabulary.len() as u32;
                    *vocabulary.entry(t.clone()).or_insert(next)
                })
                .collect();
            Profile {
                oov: model.vectorizer.unknown_share(text),
                tokens: tokens.len(),
                words,
                probability: model.predict(text).probability,
            }
        })
        .collect();
    let n_ref = reference.len();
    let a: Vec<usize> = (0..n_ref).collect();
    let b: Vec<usize> = (n_ref..profiles.len()).collect();
    let vocabulary = vocabulary.len();

    // The four statistics of a split of the pooled texts into (reference-sized, rest).
    let statistics = |a: &[usize], b: &[usize]| -> [f64; 4] {
        [
            (mean(&profiles, a, |p| p.oov) - mean(&profiles, b, |p| p.oov)).abs(),
            histogram_js(&profiles, a, b, LENGTH_BUCKETS, |p| p.tokens / 4),
            words_js(&profiles, a, b, vocabulary),
            histogram_js(&profiles, a, b, PROBABILITY_BUCKETS, |p| {
                (p.probability * PROBABILITY_BUCKETS as f64) as usize
            }),
        ]
    };
    let observed = statistics(&a, &b);
    let mut null_max = [0.0f64; 4];
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut pooled: Vec<usize> = (0..profiles.len()).collect();
    for _ in 0..cfg.permutations {
        pooled.shuffle(&mut rng);
        let (x, y) = pooled.split_at(n_ref);
        for (m, s) in null_max.iter_mut().zip(statistics(x, y)) {
            *m = m.max(s);
        }
    }
    let floors = [cfg.min_oov_difference, cfg.min_js, cfg.min_js, cfg.min_js];
    let names = ["out_of_vocabulary_rate", "length", "words", "predictions"];
    let mut checks: Vec<Check> = names
        .iter()
        .zip(observed)
        .zip(null_max.iter().zip(floors))
        .map(|((name, statistic), (&null, floor))| {
            let threshold = null.max(floor);
            Check {
                name: name.to_string(),
                statistic,
                threshold,
                drifted: statistic > threshold,
            }
        })
        .collect();
    checks.push(domain_classifier(reference, current, cfg));
    let drifted = checks.iter().any(|c| c.drifted);
    let confidence = |p: &Profile| (p.probability - 0.5).abs() * 2.0;
    TextDriftReport {
        reference_texts: n_ref,
        current_texts: current.len(),
        oov_rate_reference: mean(&profiles, &a, |p| p.oov),
        oov_rate_current: mean(&profiles, &b, |p| p.oov),
        mean_tokens_reference: mean(&profiles, &a, |p| p.tokens as f64),
        mean_tokens_current: mean(&profiles, &b, |p| p.tokens as f64),
        share_positive_reference: mean(&profiles, &a, |p| f64::from(u8::from(p.probability > 0.5))),
        share_positive_current: mean(&profiles, &b, |p| f64::from(u8::from(p.probability > 0.5))),
        confidence_reference: mean(&profiles, &a, confidence),
        confidence_current: mean(&profiles, &b, confidence),
        checks,
        drifted,
    }
}

/// Trains naive Bayes (hashed 1–2-grams, so words the sentiment model never saw count) to tell
/// current (positive class) from reference on half of each, and measures its ROC AUC on the
/// other halves.
fn domain_classifier(reference: &[String], current: &[String], cfg: &TextDriftConfig) -> Check {
    let hashing = Vectorizer::fit(
        [],
        &TextConfig {
            hashing_bits: Some(18),
            ..TextConfig::default()
        },
    );
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed);
    // Balanced classes: with ten times more current texts, every word would lean "current"
    // and the classifier would learn the sizes, not the language.
    let n = reference.len().min(current.len());
    let mut halves = |texts: &[String], label: bool| {
        let mut idx: Vec<usize> = (0..texts.len()).collect();
        idx.shuffle(&mut rng);
        idx.truncate(n);
        let (fit, eval) = idx.split_at(idx.len() / 2);
        let rows = |ids: &[usize]| -> Vec<(Vec<u32>, bool)> {
            ids.iter()
                .map(|&i| (hashing.transform(&texts[i]), label))
                .collect()
        };
        (rows(fit), rows(eval))
    };
    let (ref_fit, ref_eval) = halves(reference, false);
    let (cur_fit, cur_eval) = halves(current, true);
    let (xs, ys): (Vec<Vec<u32>>, Vec<bool>) = ref_fit.into_iter().chain(cur_fit).unzip();
    let nb = NaiveBayes::fit(&xs, &ys, hashing.dims(), 1.0);
    let (eval_x, eval_y): (Vec<Vec<u32>>, Vec<bool>) = ref_eval.into_iter().chain(cur_eval).unzip();
    let scores: Vec<f64> = eval_x.iter().map(|x| nb.score(x)).collect();
    let auc = mlsd_core::metrics::roc_auc(&eval_y, &scores).unwrap_or(0.5);
    // Under "no difference" the AUC is a Mann–Whitney statistic with variance
    // (n₁ + n₂ + 1) / (12 n₁ n₂).
    let n1 = eval_y.iter().filter(|&&y| y).count().max(1) as f64;
    let n2 = (eval_y.len() as f64 - n1).max(1.0);
    let se = ((n1 + n2 + 1.0) / (12.0 * n1 * n2)).sqrt();
    let threshold = 0.5 + (3.0 * se).max(cfg.min_auc_margin);
    Check {
        name: "domain_classifier_auc".into(),
        statistic: auc,
        threshold,
        drifted: auc > threshold,
    }
}

/// The report as a short table.
pub fn render(report: &TextDriftReport) -> String {
    let mut out = format!(
        "{} reference vs {} current texts: out-of-vocabulary {:.1} % → {:.1} %, tokens {:.1} → {:.1}, \
         positive {:.1} % → {:.1} %, confidence {:.2} → {:.2}\n\n| check | statistic | threshold | drifted |\n|---|---|---|---|\n",
        report.reference_texts,
        report.current_texts,
        100.0 * report.oov_rate_reference,
        100.0 * report.oov_rate_current,
        report.mean_tokens_reference,
        report.mean_tokens_current,
        100.0 * report.share_positive_reference,
        100.0 * report.share_positive_current,
        report.confidence_reference,
        report.confidence_current,
    );
    for c in &report.checks {
        out.push_str(&format!(
            "| {} | {:.3} | {:.3} | {} |\n",
            c.name,
            c.statistic,
            c.threshold,
            if c.drifted { "yes" } else { "no" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reviews::{generate, Domain};

    fn texts(domain: Domain, n: usize, seed: u64) -> Vec<String> {
        generate(domain, n, seed)
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    #[test]
    fn ten_seeds_fresh_samples_of_the_same_domain_pass_and_another_domain_is_flagged() {
        let (model, _) = SentimentArtifact::train_with_holdout(
            &generate(Domain::Gadgets, 3_000, 1),
            &TextConfig::default(),
        );
        let reference = &model.reference_texts;
        let (mut false_alarms, mut detections) = (Vec::new(), 0);
        for seed in 0..10 {
            let cfg = TextDriftConfig {
                seed,
                ..TextDriftConfig::default()
            };
            let same = check(
                &model,
                reference,
                &texts(Domain::Gadgets, 500, 100 + seed),
                &cfg,
            );
            if same.drifted {
                false_alarms.push(render(&same));
            }
            let other = check(
                &model,
                reference,
                &texts(Domain::Travel, 500, 200 + seed),
                &cfg,
            );
            detections += usize::from(other.drifted);
            for name in ["out_of_vocabulary_rate", "words", "domain_classifier_auc"] {
                let c = other.checks.iter().find(|c| c.name == name).expect("check");
                assert!(c.drifted, "{name}: {}", render(&other));
            }
            assert!(other.oov_rate_current > same.oov_rate_current + 0.1);
        }
        eprintln!(
            "text drift over 10 seeds: {} false alarms, {detections} detections",
            false_alarms.len()
        );
        // Five checks at ~1 % each: one false alarm in ten is possible, two would be a bug.
        assert!(false_alarms.len() <= 1, "{false_alarms:#?}");
        assert_eq!(detections, 10);
    }
}
