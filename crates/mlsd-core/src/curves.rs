//! The curves behind the threshold-free metrics — ROC, precision–recall and reliability
//! (calibration) — thinned to a few hundred points, for the HTML report of an `evaluate` run.
//!
//! Talking point: AUC and AP are areas; the curves show where a model wins — at the few
//! alerts a day a team can review (the left of the precision–recall curve), not on average.

use serde::{Deserialize, Serialize};

use crate::metrics::{calibration, check_inputs, counts_by_threshold};
use crate::Result;

/// One scorer's curves on one test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// (false-positive rate, true-positive rate) per distinct threshold, from (0, 0) to (1, 1).
    pub roc: Vec<(f64, f64)>,
    /// (recall, precision) per distinct threshold, highest threshold first.
    pub pr: Vec<(f64, f64)>,
    /// (mean predicted, observed rate, rows) per non-empty tenth of [0, 1]; empty when a score
    /// falls outside [0, 1] (a score, not a probability).
    pub calibration: Vec<(f64, f64, usize)>,
}

/// The curves of `scores` against `labels`, each thinned to at most `points` points (the
/// first and last kept).
pub fn curves(labels: &[bool], scores: &[f64], points: usize) -> Result<Curves> {
    let (positives, negatives) = check_inputs("curves", labels, scores)?;
    let mut roc = vec![(0.0, 0.0)];
    let mut pr = Vec::new();
    for (tp, fp) in counts_by_threshold(labels, scores) {
        let recall = tp as f64 / positives as f64;
        roc.push((fp as f64 / negatives as f64, recall));
        pr.push((recall, tp as f64 / (tp + fp) as f64));
    }
    let probabilities = scores.iter().all(|s| (0.0..=1.0).contains(s));
    let calibration = if probabilities {
        calibration(labels, scores, 10)?.bins
    } else {
        Vec::new()
    };
    Ok(Curves {
        roc: thin(&roc, points),
        pr: thin(&pr, points),
        calibration,
    })
}

/// At most `max` (≥ 2) of `points`, evenly spaced by index, the first and last included.
fn thin(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let max = max.max(2);
    if points.len() <= max {
        return points.to_vec();
    }
    let step = (points.len() - 1) as f64 / (max - 1) as f64;
    (0..max)
        .map(|k| points[((k as f64 * step).round() as usize).min(points.len() - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_ranking_reaches_the_top_left_corner_and_keeps_full_precision() {
        let labels = [true, true, false, false, false];
        let scores = [0.9, 0.8, 0.3, 0.2, 0.1];
        let c = curves(&labels, &scores, 100).expect("curves");
        assert_eq!(c.roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(c.roc.last(), Some(&(1.0, 1.0)));
        assert!(c.roc.contains(&(0.0, 1.0)), "{:?}", c.roc);
        assert_eq!(c.pr[..2], [(0.5, 1.0), (1.0, 1.0)]);
        assert_eq!(c.pr.last(), Some(&(1.0, 0.4)));
        let rows: usize = c.calibration.iter().map(|b| b.2).sum();
        assert_eq!(rows, 5);
    }

    #[test]
    fn ties_make_one_point_and_scores_outside_0_1_have_no_calibration() {
        let labels = [true, false, true, false];
        let scores = [2.0, 2.0, -1.0, -1.0];
        let c = curves(&labels, &scores, 100).expect("curves");
        assert_eq!(c.roc, vec![(0.0, 0.0), (0.5, 0.5), (1.0, 1.0)]);
        assert!(c.calibration.is_empty());
    }

    #[test]
    fn thinning_keeps_the_ends_and_the_bound() {
        let points: Vec<(f64, f64)> = (0..1000).map(|i| (i as f64, i as f64)).collect();
        let thinned = thin(&points, 50);
        assert_eq!(thinned.len(), 50);
        assert_eq!(thinned.first(), Some(&(0.0, 0.0)));
        assert_eq!(thinned.last(), Some(&(999.0, 999.0)));
        assert_eq!(thin(&points[..10], 50).len(), 10);
    }
}
