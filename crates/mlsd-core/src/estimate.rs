//! Performance before the labels land: confidence-based performance estimation (CBPE, as in
//! NannyML). A calibrated probability p says "positive with probability p", so over a window
//! of predictions the expected confusion matrix at any threshold is a sum of probabilities,
//! and from it the ROC AUC and average precision the model should be getting right now.
//!
//! Talking points:
//! - label delay: fraud labels take days, maintenance labels arrive at failure or never; a
//!   label-free estimate watches the model in the meantime;
//! - where it fails: it assumes the probabilities are calibrated *on today's data*. Covariate
//!   shift it follows (the scores move, the estimate moves with them); concept drift it cannot
//!   see (the same inputs now mean something else, the scores do not move, the estimate stays
//!   put while the realised metric falls) — the tests show the calibrated case holding to
//!   0.02 and the concept-drift case missing.

use crate::{Error, Result};

/// The ROC AUC that calibrated `probabilities` imply (expected true and false positives at
/// each threshold, trapezoids between them; tied scores form one step).
pub fn expected_roc_auc(probabilities: &[f64]) -> Result<f64> {
    let steps = expected_steps("expected_roc_auc", probabilities)?;
    let (positives, negatives) = steps.last().map_or((0.0, 0.0), |&(tp, fp)| (tp, fp));
    let (mut auc, mut last) = (0.0, (0.0, 0.0));
    for &(tp, fp) in &steps {
        auc += (fp - last.1) * (tp + last.0) / 2.0;
        last = (tp, fp);
    }
    Ok(auc / (positives * negatives))
}

/// The average precision that calibrated `probabilities` imply (the same step rule as
/// [`crate::metrics::average_precision`], on expected counts).
pub fn expected_average_precision(probabilities: &[f64]) -> Result<f64> {
    let steps = expected_steps("expected_average_precision", probabilities)?;
    let positives = steps.last().map_or(0.0, |&(tp, _)| tp);
    let (mut ap, mut last_recall) = (0.0, 0.0);
    for &(tp, fp) in &steps {
        let recall = tp / positives;
        ap += (recall - last_recall) * tp / (tp + fp);
        last_recall = recall;
    }
    Ok(ap)
}

/// The accuracy that calibrated `probabilities` imply when each is decided at 0.5: a
/// calibrated p is right with probability max(p, 1 − p).
pub fn expected_accuracy(probabilities: &[f64]) -> Result<f64> {
    if let Some(bad) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(Error::Metric {
            metric: "expected_accuracy",
            why: format!("{bad} is not a probability"),
        });
    }
    if probabilities.is_empty() {
        return Err(Error::Metric {
            metric: "expected_accuracy",
            why: "no probabilities".into(),
        });
    }
    let right: f64 = probabilities.iter().map(|&p| p.max(1.0 - p)).sum();
    Ok(right / probabilities.len() as f64)
}

/// Expected (true positives, false positives) after each distinct score, highest first.
fn expected_steps(metric: &'static str, probabilities: &[f64]) -> Result<Vec<(f64, f64)>> {
    if let Some(bad) = probabilities.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(Error::Metric {
            metric,
            why: format!("{bad} is not a probability"),
        });
    }
    let mut sorted = probabilities.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut steps: Vec<(f64, f64)> = Vec::new();
    let (mut tp, mut fp) = (0.0, 0.0);
    for (i, &p) in sorted.iter().enumerate() {
        // Talking point: a calibrated p is an expected label, so counts become sums of p.
        tp += p;
        fp += 1.0 - p;
        if sorted.get(i + 1) != Some(&p) {
            steps.push((tp, fp));
        }
    }
    if tp <= 0.0 || fp <= 0.0 {
        return Err(Error::Metric {
            metric,
            why: format!(
                "{} probabilities imply no expected positives or no expected negatives",
                probabilities.len()
            ),
        });
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{average_precision, roc_auc};

    /// A seeded uniform in [0, 1).
    fn uniform(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Scores with a 5 % base rate: the probability of each row, then a label drawn from it
    /// (calibrated), or from a probability the model no longer matches (concept drift).
    fn world(seed: u64, n: usize, drifted: bool) -> (Vec<f64>, Vec<bool>) {
        let mut s = seed;
        let (mut probs, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let z = 3.0 * uniform(&mut s) + 2.0 * uniform(&mut s) - 6.0;
            let p = 1.0 / (1.0 + (-z).exp());
            // After concept drift the same score means less: labels follow a flatter curve.
            let truth = if drifted { 0.3 * p + 0.7 * 0.05 } else { p };
            probs.push(p);
            labels.push(uniform(&mut s) < truth);
        }
        (probs, labels)
    }

    #[test]
    fn on_calibrated_scores_the_estimate_tracks_the_realised_metric_to_0_02() {
        // 20 worlds of 20,000 rows (~900 positives each): every estimate within 0.02 of the
        // realised AUC and AP (sampling noise at this size), and no bias on average.
        let (mut auc_errors, mut ap_errors) = (Vec::new(), Vec::new());
        for seed in 1..=20 {
            let (probs, labels) = world(seed, 20_000, false);
            let auc = roc_auc(&labels, &probs).expect("auc");
            let ap = average_precision(&labels, &probs).expect("ap");
            auc_errors.push(auc - expected_roc_auc(&probs).expect("auc"));
            ap_errors.push(ap - expected_average_precision(&probs).expect("ap"));
        }
        for errors in [&auc_errors, &ap_errors] {
            assert!(errors.iter().all(|e| e.abs() < 0.02), "{errors:?}");
            let mean = errors.iter().sum::<f64>() / errors.len() as f64;
            assert!(mean.abs() < 0.005, "biased by {mean}: {errors:?}");
        }
    }

    #[test]
    fn expected_accuracy_matches_the_realised_accuracy_of_calibrated_decisions() {
        let (probs, labels) = world(3, 20_000, false);
        let right = probs
            .iter()
            .zip(&labels)
            .filter(|(p, y)| (**p >= 0.5) == **y)
            .count() as f64;
        let realised = right / probs.len() as f64;
        let estimated = expected_accuracy(&probs).expect("accuracy");
        assert!(
            (estimated - realised).abs() < 0.01,
            "{estimated} vs {realised}"
        );
        assert!((expected_accuracy(&[0.9, 0.2]).expect("accuracy") - 0.85).abs() < 1e-12);
        assert!(expected_accuracy(&[]).is_err() && expected_accuracy(&[2.0]).is_err());
    }

    #[test]
    fn concept_drift_is_invisible_to_the_estimate() {
        let (probs, labels) = world(7, 20_000, true);
        let realised = average_precision(&labels, &probs).expect("ap");
        let estimated = expected_average_precision(&probs).expect("ap");
        // The scores did not move, so neither did the estimate; the truth did.
        assert!(
            estimated - realised > 0.05,
            "estimated {estimated:.4}, realised {realised:.4}"
        );
    }

    #[test]
    fn impossible_inputs_are_errors_not_numbers() {
        assert!(expected_roc_auc(&[0.2, 1.5]).is_err());
        assert!(
            expected_roc_auc(&[0.0, 0.0]).is_err(),
            "no expected positives"
        );
        assert!(
            expected_average_precision(&[1.0, 1.0]).is_err(),
            "no expected negatives"
        );
        assert!(expected_roc_auc(&[f64::NAN]).is_err());
        // Two rows, one sure positive and one sure negative: a perfect ranking.
        assert_eq!(expected_roc_auc(&[1.0, 0.0]).expect("auc"), 1.0);
        assert_eq!(expected_average_precision(&[1.0, 0.0]).expect("ap"), 1.0);
    }
}
