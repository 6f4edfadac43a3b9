//! Offline metrics for ranking problems with rare positives.
//!
//! Talking point: with a 0.8 % fraud rate, "always legit" is 99.2 % accurate and useless.
//! We report ranking metrics instead: ROC AUC (threshold-free, but flattered by the huge
//! negative class), average precision (the area under the precision–recall curve, which
//! tracks what investigators actually see) and precision@k per entity and period (what a
//! team that can review k cases a day finds).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub(crate) fn check_inputs(
    metric: &'static str,
    labels: &[bool],
    scores: &[f64],
) -> Result<(usize, usize)> {
    if labels.len() != scores.len() {
        return Err(Error::Metric {
            metric,
            why: format!("{} labels but {} scores", labels.len(), scores.len()),
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(Error::Metric {
            metric,
            why: format!("score {i} is {}", scores[i]),
        });
    }
    let positives = labels.iter().filter(|&&l| l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Err(Error::Metric {
            metric,
            why: format!("needs both classes, got {positives} positives and {negatives} negatives"),
        });
    }
    Ok((positives, negatives))
}

/// Indices sorted by descending score (stable, so ties keep input order).
fn by_descending_score(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    order
}

/// How far predicted probabilities are from observed frequencies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Expected calibration error: Σ over equal-width bins of (bin share) × |mean predicted −
    /// observed positive rate|.
    pub ece: f64,
    /// Mean squared error of the probability against the 0/1 label.
    pub brier: f64,
    /// Per bin: (mean predicted, observed rate, count); empty bins are left out.
    pub bins: Vec<(f64, f64, usize)>,
}

/// Calibration of `probabilities` against `labels` over `bins` equal-width bins.
///
/// Talking point: accuracy does not care whether "0.9" means 90 %; an average of
/// probabilities per topic does. Naive Bayes is accurate and badly calibrated (its
/// independence assumption double-counts correlated words), so its probabilities are rescaled
/// (Platt) before anyone averages them.
pub fn calibration(labels: &[bool], probabilities: &[f64], bins: usize) -> Result<Calibration> {
    check_inputs("calibration", labels, probabilities)?;
    let bins = bins.max(1);
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); bins];
    let mut brier = 0.0;
    for (&y, &p) in labels.iter().zip(probabilities) {
        let p = p.clamp(0.0, 1.0);
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sums[b].0 += p;
        sums[b].1 += f64::from(u8::from(y));
        sums[b].2 += 1;
        brier += (p - f64::from(u8::from(y))).powi(2);
    }
    let n = labels.len() as f64;
    let bins: Vec<(f64, f64, usize)> = sums
        .into_iter()
        .filter(|s| s.2 > 0)
        .map(|(p, y, c)| (p / c as f64, y / c as f64, c))
        .collect();
    let ece = bins
        .iter()
        .map(|(p, y, c)| *c as f64 / n * (p - y).abs())
        .sum();
    Ok(Calibration {
        ece,
        brier: brier / n,
        bins,
    })
}

/// Area under the ROC curve: the probability that a random positive outranks a random
/// negative, ties counting one half (Mann–Whitney U with average ranks).
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Result<f64> {
    let (positives, negatives) = check_inputs("roc_auc", labels, scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += average_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Average precision as scikit-learn computes it: Σ (Rₙ − Rₙ₋₁) Pₙ over distinct score
/// thresholds, highest first (no interpolation).
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Result<f64> {
    let (positives, _) = check_inputs("average_precision", labels, scores)?;
    let (mut ap, mut last_recall) = (0.0, 0.0);
    for (tp, fp) in counts_by_threshold(labels, scores) {
        let recall = tp as f64 / positives as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
    }
    Ok(ap)
}

/// (true positives, false positives) at or above each distinct score, highest first: every
/// row at a threshold is counted before its pair is given (ties are one point). Inputs as
/// [`check_inputs`] accepts them.
pub(crate) fn counts_by_threshold(labels: &[bool], scores: &[f64]) -> Vec<(usize, usize)> {
    let order = by_descending_score(scores);
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut counts = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let threshold = scores[order[i]];
        while i < order.len() && scores[order[i]] == threshold {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        counts.push((tp, fp));
    }
    counts
}

/// Share of positives among the `k` highest scores (ties broken by input order).
pub fn precision_at_k(labels: &[bool], scores: &[f64], k: usize) -> Result<f64> {
    if labels.len() != scores.len() || k == 0 {
        return Err(Error::Metric {
            metric: "precision_at_k",
            why: format!("{} labels, {} scores, k = {k}", labels.len(), scores.len()),
        });
    }
    let order = by_descending_score(scores);
    let hits = order.iter().take(k).filter(|&&i| labels[i]).count();
    Ok(hits as f64 / k as f64)
}

/// One scored event for [`entity_precision_at_k`].
#[derive(Debug, Clone, Copy)]
pub struct ScoredEvent {
    pub period: i64,
    pub entity: i64,
    pub score: f64,
    pub label: bool,
}

/// What happens to an entity once it was found positive in an earlier period's top `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// It leaves the later periods (a compromised card that investigators confirmed is
    /// blocked, so alerting on it again finds nothing new). The Fraud-Detection-Handbook's
    /// `card_precision_top_k` (its default, `remove_detected_compromised_cards=True`).
    Removed,
    /// It stays and can fill the top `k` again in later periods.
    Kept,
}

/// Entity precision@k, averaged over periods: per period, each entity gets its highest score
/// and is positive if any of its events is; the top `k` entities are "investigated", and
/// precision is positives found / k. With entity = card, period = day and [`Found::Removed`]
/// this is the Fraud-Detection-Handbook's *Card Precision@k*.
///
/// Talking point: an alert budget (≈100 cards a day per team) is the real constraint, so
/// rank cards, not transactions — five alerts on one card cost one investigation, and a card
/// caught yesterday is blocked today, so finding it again is not a hit.
pub fn entity_precision_at_k(events: &[ScoredEvent], k: usize, found: Found) -> Result<f64> {
    if k == 0 || events.is_empty() {
        return Err(Error::Metric {
            metric: "entity_precision_at_k",
            why: format!("{} events, k = {k}", events.len()),
        });
    }
    let mut per_period: HashMap<i64, HashMap<i64, (f64, bool)>> = HashMap::new();
    for e in events {
        if !e.score.is_finite() {
            return Err(Error::Metric {
                metric: "entity_precision_at_k",
                why: format!("score {} for entity {}", e.score, e.entity),
            });
        }
        let slot = per_period
            .entry(e.period)
            .or_default()
            .entry(e.entity)
            .or_insert((f64::NEG_INFINITY, false));
        slot.0 = slot.0.max(e.score);
        slot.1 |= e.label;
    }
    let mut periods: Vec<_> = per_period.into_iter().collect();
    periods.sort_by_key(|(p, _)| *p);
    let mut caught: HashSet<i64> = HashSet::new();
    let mut total = 0.0;
    for (_, entities) in &periods {
        let mut ranked: Vec<(i64, f64, bool)> = entities
            .iter()
            .filter(|(e, _)| !caught.contains(e))
            .map(|(&e, &(s, l))| (e, s, l))
            .collect();
        // Highest score first; equal scores by entity id so the metric is deterministic.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let hits: Vec<i64> = ranked.iter().take(k).filter(|r| r.2).map(|r| r.0).collect();
        total += hits.len() as f64 / k as f64;
        if found == Found::Removed {
            caught.extend(hits);
        }
    }
    Ok(total / periods.len() as f64)
}

/// Top-k quality of one user's recommendation list against the items they actually chose.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct TopK {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    /// Average precision over the list, divided by the number of relevant items (not by k),
    /// as Microsoft Recommenders' "MAP" does.
    pub average_precision: f64,
}

/// Precision@k, recall@k, nDCG@k (binary relevance) and average precision of `recommended`
/// (best first; only the first `k` count) against `relevant`. `None` when nothing is relevant:
/// such a user has no ground truth and is left out of averages.
///
/// Talking point: offline ranking metrics reward putting what the user *did* choose near the
/// top; they say nothing about what the user would have liked but never saw (exposure bias),
/// which is why online metrics (CTR, conversion) have the last word.
pub fn top_k(
    recommended: &[u32],
    relevant: &std::collections::HashSet<u32>,
    k: usize,
) -> Option<TopK> {
    if relevant.is_empty() || k == 0 {
        return None;
    }
    let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
    for (rank, item) in recommended.iter().take(k).enumerate() {
        if relevant.contains(item) {
            hits += 1;
            dcg += 1.0 / ((rank + 2) as f64).log2();
            ap += hits as f64 / (rank + 1) as f64;
        }
    }
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|rank| 1.0 / ((rank + 2) as f64).log2())
        .sum();
    Some(TopK {
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant.len() as f64,
        ndcg: dcg / ideal,
        average_precision: ap / relevant.len() as f64,
    })
}

/// One ranked list's quality as MIND's official `evaluate.py` computes it: AUC of the scores
/// against the clicks, MRR (mean reciprocal rank of the clicked items) and nDCG@5 / @10 with
/// gain 2^y − 1 and a log2 discount. `None` for a list without both a click and a non-click:
/// `evaluate.py` cannot score those either, so they are left out of averages.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct ListMetrics {
    pub auc: f64,
    pub mrr: f64,
    pub ndcg_at_5: f64,
    pub ndcg_at_10: f64,
}

pub fn list_metrics(clicks: &[bool], scores: &[f64]) -> Option<ListMetrics> {
    let auc = roc_auc(clicks, scores).ok()?;
    let order = by_descending_score(scores);
    let clicked = clicks.iter().filter(|&&c| c).count() as f64;
    let mrr = order
        .iter()
        .enumerate()
        .filter(|(_, &i)| clicks[i])
        .map(|(rank, _)| 1.0 / (rank + 1) as f64)
        .sum::<f64>()
        / clicked;
    let gains: Vec<f64> = clicks.iter().map(|&c| f64::from(u8::from(c))).collect();
    Some(ListMetrics {
        auc,
        mrr,
        ndcg_at_5: ndcg_at(&gains, scores, 5)?,
        ndcg_at_10: ndcg_at(&gains, scores, 10)?,
    })
}

/// nDCG@k of `scores` against graded relevance `relevance` (gain 2^rel − 1, log2 discount;
/// ties broken by position, as a stable sort does). `None` when no item has a gain.
pub fn ndcg_at(relevance: &[f64], scores: &[f64], k: usize) -> Option<f64> {
    let dcg = |order: &[usize]| -> f64 {
        order
            .iter()
            .take(k)
            .enumerate()
            .map(|(rank, &i)| (2f64.powf(relevance[i]) - 1.0) / ((rank + 2) as f64).log2())
            .sum()
    };
    let mut ideal: Vec<usize> = (0..relevance.len()).collect();
    ideal.sort_by(|&a, &b| relevance[b].total_cmp(&relevance[a]));
    let best = dcg(&ideal);
    (best > 0.0).then(|| dcg(&by_descending_score(scores)) / best)
}

/// Talking point: calibration — an average of probabilities (a live feed) or a threshold on
/// one (an alert budget) needs "0.8" to mean 80 %. Platt scaling: P(positive | score) = σ(a·score + b), fitted by Newton's method on held-out
/// scores with Platt's smoothed targets ((N₊ + 1) / (N₊ + 2), 1 / (N₋ + 2)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    pub fn fit(scores: &[f64], ys: &[bool]) -> Platt {
        let n_pos = ys.iter().filter(|&&y| y).count() as f64;
        let n_neg = ys.len() as f64 - n_pos;
        let hi = (n_pos + 1.0) / (n_pos + 2.0);
        let lo = 1.0 / (n_neg + 2.0);
        let t: Vec<f64> = ys.iter().map(|&y| if y { hi } else { lo }).collect();
        // Cross-entropy of σ(a·s + b) against the targets, computed stably.
        let loss = |a: f64, b: f64| -> f64 {
            scores
                .iter()
                .zip(&t)
                .map(|(&s, &ti)| {
                    let z = a * s + b;
                    // −[t ln σ(z) + (1 − t) ln(1 − σ(z))] = ln(1 + e^z) − t·z
                    z.max(0.0) + (-z.abs()).exp().ln_1p() - ti * z
                })
                .sum()
        };
        // Newton with backtracking (Lin, Lin & Weng 2007): plain Newton from a poor start
        // overshoots on large-margin scores (naive Bayes' log-odds reach ±50).
        let (mut a, mut b) = (0.0, ((n_pos + 1.0) / (n_neg + 1.0)).ln());
        let mut current = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-12, 0.0, 1e-12);
            for (&s, &ti) in scores.iter().zip(&t) {
                let p = logistic(a * s + b);
                let r = p - ti;
                let w = p * (1.0 - p);
                ga += r * s;
                gb += r;
                haa += w * s * s;
                hab += w * s;
                hbb += w;
            }
            if ga.abs() < 1e-7 && gb.abs() < 1e-7 {
                break;
            }
            let det = haa * hbb - hab * hab;
            if det.abs() < 1e-18 {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            let mut step = 1.0;
            while step > 1e-10 {
                let (na, nb) = (a - step * da, b - step * db);
                let next = loss(na, nb);
                if next < current + 1e-4 * step * (ga * -da + gb * -db) {
                    (a, b, current) = (na, nb, next);
                    break;
                }
                step /= 2.0;
            }
            if step <= 1e-10 {
                break;
            }
        }
        Platt { a, b }
    }

    /// The calibrated probability of a score.
    pub fn probability(&self, score: f64) -> f64 {
        logistic(self.a * score + self.b)
    }
}

impl Default for Platt {
    /// σ(score): the identity for a model whose score already is a log-odds.
    fn default() -> Self {
        Platt { a: 1.0, b: 0.0 }
    }
}

/// The logistic function σ(z) = 1 / (1 + e^−z).
pub fn logistic(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The log-odds of a probability, clamped away from 0 and 1 (a model's leaf rate or a
/// boosted tree's output can be exactly 0 or 1): the score Platt scaling calibrates.
pub fn log_odds(p: f64) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELS: [bool; 6] = [true, false, true, false, false, true];
    const SCORES: [f64; 6] = [0.9, 0.8, 0.7, 0.3, 0.2, 0.1];

    #[test]
    fn roc_auc_matches_a_hand_count_of_ordered_pairs() {
        // positives 0.9, 0.7, 0.1; negatives 0.8, 0.3, 0.2.
        // 0.9 beats 3, 0.7 beats 2, 0.1 beats 0 → 5 of 9 pairs.
        let auc = roc_auc(&LABELS, &SCORES).expect("defined");
        assert!((auc - 5.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        let auc = roc_auc(&[true, false], &[0.5, 0.5]).expect("defined");
        assert!((auc - 0.5).abs() < 1e-12);
    }

    #[test]
    fn average_precision_matches_a_hand_computation() {
        // hits at ranks 1, 3, 6: (1/1 + 2/3 + 3/6) / 3
        let ap = average_precision(&LABELS, &SCORES).expect("defined");
        assert!((ap - (1.0 + 2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn average_precision_groups_tied_scores() {
        // One threshold holds everything: precision 1/2 at recall 1.
        let ap = average_precision(&[true, false], &[0.3, 0.3]).expect("defined");
        assert!((ap - 0.5).abs() < 1e-12);
    }

    #[test]
    fn metrics_refuse_single_class_and_non_finite_scores() {
        assert!(roc_auc(&[true, true], &[0.1, 0.2]).is_err());
        assert!(average_precision(&[true, false], &[f64::NAN, 0.2]).is_err());
        assert!(roc_auc(&[true], &[0.1, 0.2]).is_err());
    }

    #[test]
    fn precision_at_k_counts_hits_in_the_top_k() {
        assert!((precision_at_k(&LABELS, &SCORES, 3).expect("ok") - 2.0 / 3.0).abs() < 1e-12);
    }

    fn e(period: i64, entity: i64, score: f64, label: bool) -> ScoredEvent {
        ScoredEvent {
            period,
            entity,
            score,
            label,
        }
    }

    #[test]
    fn entity_precision_takes_each_entitys_max_and_averages_periods() {
        let events = [
            // day 0: card 1 (fraud) max 0.9; card 2 (legit) 0.8 twice; card 3 (fraud) 0.1
            e(0, 1, 0.2, true),
            e(0, 1, 0.9, false),
            e(0, 2, 0.8, false),
            e(0, 2, 0.8, false),
            e(0, 3, 0.1, true),
            // day 1: card 1 legit 0.5, card 4 fraud 0.6
            e(1, 1, 0.5, false),
            e(1, 4, 0.6, true),
        ];
        // k = 2: day 0 → cards 1, 2 → 1 hit → 0.5; day 1 → cards 4, 1 → 1 hit → 0.5
        let cp = entity_precision_at_k(&events, 2, Found::Kept).expect("ok");
        assert!((cp - 0.5).abs() < 1e-12);
        // k = 1: day 0 → card 1 → 1; day 1 → card 4 → 1
        let cp = entity_precision_at_k(&events, 1, Found::Kept).expect("ok");
        assert!((cp - 1.0).abs() < 1e-12);
    }

    /// The handbook's `card_precision_top_k` worked by hand: a card caught in an earlier day's
    /// top k leaves the later days, so alerting on it again is neither a hit nor a slot used.
    #[test]
    fn card_precision_removes_cards_caught_on_earlier_days() {
        let events = [
            // day 0: card 1 fraud 0.9, card 2 legit 0.8, card 3 fraud 0.1 → top 2 = {1, 2}:
            // 1 hit (card 1 caught), CP 0.5
            e(0, 1, 0.9, true),
            e(0, 2, 0.8, false),
            e(0, 3, 0.1, true),
            // day 1: card 1 still scores highest and is still fraud; card 2 legit 0.7;
            // card 3 fraud 0.6. Removed: card 1 is gone → top 2 = {2, 3} → 1 hit → 0.5.
            // Kept: top 2 = {1, 2} → 1 hit → 0.5 as well — the difference shows on day 2.
            e(1, 1, 0.95, true),
            e(1, 2, 0.7, false),
            e(1, 3, 0.6, true),
            // day 2: cards 1 and 3 fraud at the top, card 4 legit below.
            // Removed: both were caught → top 2 = {4} → 0 hits → 0.
            // Kept: top 2 = {1, 3} → 2 hits → 1.
            e(2, 1, 0.9, true),
            e(2, 3, 0.8, true),
            e(2, 4, 0.1, false),
        ];
        let removed = entity_precision_at_k(&events, 2, Found::Removed).expect("ok");
        assert!(
            (removed - (0.5 + 0.5 + 0.0) / 3.0).abs() < 1e-12,
            "{removed}"
        );
        let kept = entity_precision_at_k(&events, 2, Found::Kept).expect("ok");
        assert!((kept - (0.5 + 0.5 + 1.0) / 3.0).abs() < 1e-12, "{kept}");
    }

    #[test]
    fn top_k_metrics_match_a_hand_computation() {
        let relevant: std::collections::HashSet<u32> = [1, 3, 7].into_iter().collect();
        // Hits at ranks 1 and 3 of a top-4 list; item 7 is never recommended.
        let m = top_k(&[1, 2, 3, 4, 7], &relevant, 4).expect("relevant items");
        assert!((m.precision - 0.5).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        // DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) + 1/log2(4).
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!((m.ndcg - 1.5 / idcg).abs() < 1e-12);
        // AP = (1/1 + 2/3) / 3 relevant items.
        assert!((m.average_precision - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        // A perfect list scores 1 everywhere it can.
        let perfect = top_k(&[7, 3, 1], &relevant, 3).expect("relevant");
        assert_eq!((perfect.precision, perfect.recall), (1.0, 1.0));
        assert!(
            (perfect.ndcg - 1.0).abs() < 1e-12 && (perfect.average_precision - 1.0).abs() < 1e-12
        );
        assert_eq!(top_k(&[1], &Default::default(), 10), None);
    }

    #[test]
    fn calibration_of_a_hand_computed_case() {
        // Bin [0.0, 0.5): p 0.2, 0.2 with labels 0, 1 → mean 0.2, rate 0.5.
        // Bin [0.5, 1.0]: p 0.8, 0.8 with labels 1, 1 → mean 0.8, rate 1.0.
        let c = calibration(&[false, true, true, true], &[0.2, 0.2, 0.8, 0.8], 2).expect("ok");
        assert_eq!(c.bins.len(), 2);
        assert!((c.ece - (0.5 * 0.3 + 0.5 * 0.2)).abs() < 1e-12, "{}", c.ece);
        let brier = (0.04 + 0.64 + 0.04 + 0.04) / 4.0;
        assert!((c.brier - brier).abs() < 1e-12);
    }

    #[test]
    fn list_metrics_follow_mind_evaluate() {
        // Clicked item ranked second of three: MRR 1/2, AUC 1/2, nDCG = (1/log2 3) / 1.
        let m = list_metrics(&[false, true, false], &[0.9, 0.5, 0.1]).unwrap();
        assert!((m.mrr - 0.5).abs() < 1e-12 && (m.auc - 0.5).abs() < 1e-12);
        assert!((m.ndcg_at_5 - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert!(list_metrics(&[true, true], &[0.1, 0.2]).is_none());
        // Graded: the better item first is perfect, swapped is not.
        assert!((ndcg_at(&[2.0, 1.0], &[1.0, 0.0], 10).unwrap() - 1.0).abs() < 1e-12);
        assert!(ndcg_at(&[2.0, 1.0], &[0.0, 1.0], 10).unwrap() < 1.0);
    }
}
