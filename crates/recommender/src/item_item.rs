//! Stage 3 (continued) — item-item models with no training loop: EASE and RP3beta.
//!
//! Both score a user by summing one row of an item × item weight matrix per item in their
//! history; they differ in where the weights come from.
//!
//! | model | weights | cost on MovieLens-100k (1,682 items) | trade-off |
//! |---|---|---|---|
//! | EASE (Steck 2019) | closed-form ridge regression of each item's column on all others, zero diagonal | one 1,682 × 1,682 SPD inverse | O(items³) time and O(items²) memory: fine to ~50 k items, not for a 10 M catalogue |
//! | EDLAE (Steck 2020) | EASE with a penalty that grows with each item's count (dropout's closed form) | the same inverse | best ranker here, one more knob |
//! | RP3beta (Paudel et al. 2017) | a 3-step random walk item → user → item, raised to α, divided by the target's popularity^β | one sparse co-occurrence pass | cheap, explainable ("users who took X took Y"), tunable popularity penalty; below EASE |
//!
//! Talking point: simple, well-tuned linear item-item models beat most neural recommenders on
//! MovieLens-size data (Dacrema et al., "Are we really making much progress?", RecSys 2019) —
//! the baseline to beat before a GPU is bought.

use std::collections::HashMap;

use serde::Serialize;

use crate::models::Ranker;
use crate::movielens::Rating;
use crate::{Error, Result};

/// Hyper-parameters of the two models (chosen on a validation split of the training rows by
/// [`crate::evaluate`], never on the test rows).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum ItemItemConfig {
    /// L2 penalty added to the Gram matrix's diagonal: λ for every item plus `emphasis` × the
    /// item's own count. `emphasis` 0 is EASE; above 0 it is EDLAE (Steck, NeurIPS 2020: the
    /// closed form of training with dropout probability p on the input, `emphasis` = p/(1−p)),
    /// which penalises popular items' weights more.
    Ease { lambda: f64, emphasis: f64 },
    /// Walk probability exponent α (< 1 flattens) and popularity penalty β.
    Rp3beta { alpha: f64, beta: f64 },
}

impl std::fmt::Display for ItemItemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemItemConfig::Ease {
                lambda,
                emphasis: 0.0,
            } => write!(f, "λ {lambda}"),
            ItemItemConfig::Ease { lambda, emphasis } => {
                write!(f, "λ {lambda}, emphasis {emphasis}")
            }
            ItemItemConfig::Rp3beta { alpha, beta } => write!(f, "α {alpha}, β {beta}"),
        }
    }
}

/// A dense item × item weight matrix and each user's training items.
pub struct ItemItem {
    n_items: usize,
    /// Row `i`: what having item `i` adds to every item's score (row-major, `n_items²`).
    weights: Vec<f32>,
    history: HashMap<u32, Vec<u32>>,
}

impl ItemItem {
    /// Fits the model `cfg` names on implicit feedback (who interacted with what; stars ignored).
    pub fn fit(
        train: &[Rating],
        n_users: usize,
        n_items: usize,
        cfg: ItemItemConfig,
    ) -> Result<ItemItem> {
        crate::models::check_ids(train, n_users, n_items)?;
        let history = histories(train);
        let weights = match cfg {
            ItemItemConfig::Ease { lambda, emphasis } => {
                ease_weights(&history, n_items, lambda, emphasis)?
            }
            ItemItemConfig::Rp3beta { alpha, beta } => {
                rp3beta_weights(&history, n_items, alpha, beta)
            }
        };
        Ok(ItemItem {
            n_items,
            weights,
            history,
        })
    }
}

impl Ranker for ItemItem {
    fn scores(&self, user: u32, out: &mut [f32]) {
        out.iter_mut().for_each(|s| *s = 0.0);
        let n = self.n_items.min(out.len());
        for &i in self.history.get(&user).map_or(&[][..], Vec::as_slice) {
            let row = &self.weights[i as usize * self.n_items..][..n];
            for (s, w) in out.iter_mut().zip(row) {
                *s += w;
            }
        }
    }
}

/// EASE's weights kept sparse: for each item, its `keep` largest positive weights towards
/// other items (row `i`: what having item `i` adds to each neighbour's score).
///
/// Simplification: a dense item × item table is 9 MB for the shop's 1,530 products and would
/// be saved with every version; the top 50 per item keep the retrieval and fit in ~0.6 MB.
pub fn ease_neighbours(
    train: &[Rating],
    n_items: usize,
    lambda: f64,
    keep: usize,
) -> Result<Vec<Vec<(u32, f32)>>> {
    if let Some(r) = train.iter().find(|r| r.item as usize >= n_items) {
        return Err(Error::Config(format!(
            "item {} is outside the {n_items} items",
            r.item
        )));
    }
    let weights = ease_weights(&histories(train), n_items, lambda, 0.0)?;
    Ok((0..n_items)
        .map(|i| {
            let mut row: Vec<(u32, f32)> = weights[i * n_items..(i + 1) * n_items]
                .iter()
                .enumerate()
                .filter(|(_, &w)| w > 0.0)
                .map(|(j, &w)| (j as u32, w))
                .collect();
            row.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            row.truncate(keep);
            row
        })
        .collect())
}

/// Each user's distinct items, sorted.
fn histories(train: &[Rating]) -> HashMap<u32, Vec<u32>> {
    let mut history: HashMap<u32, Vec<u32>> = HashMap::new();
    for r in train {
        history.entry(r.user).or_default().push(r.item);
    }
    for items in history.values_mut() {
        items.sort_unstable();
        items.dedup();
    }
    history
}

/// Co-occurrence counts `XᵀX` (row-major `n × n`): how many users have both items.
fn gram(history: &HashMap<u32, Vec<u32>>, n: usize) -> Vec<f64> {
    let mut g = vec![0.0; n * n];
    for items in history.values() {
        for &i in items {
            let row = &mut g[i as usize * n..][..n];
            for &j in items {
                row[j as usize] += 1.0;
            }
        }
    }
    g
}

/// EASE: `P = (XᵀX + Λ)⁻¹`, `B = I − P · diag(1/diag(P))`, so `B[i][j] = −P[i][j] / P[j][j]`
/// off the diagonal and 0 on it (an item may not predict itself); `Λ = λI` for EASE and
/// `λI + emphasis · diag(XᵀX)` for EDLAE.
fn ease_weights(
    history: &HashMap<u32, Vec<u32>>,
    n: usize,
    lambda: f64,
    emphasis: f64,
) -> Result<Vec<f32>> {
    if lambda.is_nan() || lambda <= 0.0 || emphasis.is_nan() || emphasis < 0.0 {
        return Err(Error::Config(format!(
            "EASE needs λ > 0 and emphasis ≥ 0, got {lambda} and {emphasis}"
        )));
    }
    let mut g = gram(history, n);
    for i in 0..n {
        // Talking point: EDLAE's penalty grows with the item's count, so a popular item cannot
        // buy its way into every list through large weights.
        g[i * n + i] += lambda + emphasis * g[i * n + i];
    }
    // Talking point [trade-offs]: the whole model is one matrix inverse — no epochs, no learning
    // rate, no negative sampling; λ is the only knob.
    let p = spd_inverse(g, n)?;
    let mut b = vec![0.0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                b[i * n + j] = (-p[i * n + j] / p[j * n + j]) as f32;
            }
        }
    }
    Ok(b)
}

/// RP3beta: `W[i][j] = (Σ_u x_ui x_uj / (deg(i) deg(u)))^α / deg(j)^β`, zero diagonal.
fn rp3beta_weights(history: &HashMap<u32, Vec<u32>>, n: usize, alpha: f64, beta: f64) -> Vec<f32> {
    let mut degree = vec![0.0f64; n];
    for items in history.values() {
        for &i in items {
            degree[i as usize] += 1.0;
        }
    }
    let mut walk = vec![0.0f64; n * n];
    for items in history.values() {
        let user_step = 1.0 / items.len() as f64;
        for &i in items {
            let row = &mut walk[i as usize * n..][..n];
            for &j in items {
                row[j as usize] += user_step;
            }
        }
    }
    let mut w = vec![0.0f32; n * n];
    for i in 0..n {
        if degree[i] == 0.0 {
            continue;
        }
        for j in 0..n {
            let p = walk[i * n + j] / degree[i];
            if i != j && p > 0.0 {
                // Talking point: β > 0 divides by the target's popularity — the knob that
                // trades accuracy for reaching the long tail.
                w[i * n + j] = (p.powf(alpha) / degree[j].powf(beta)) as f32;
            }
        }
    }
    w
}

/// The inverse of a symmetric positive definite `n × n` matrix (row-major) by Cholesky:
/// `A = L Lᵀ`, `M = L⁻¹` row by row, `A⁻¹ = Mᵀ M`. About n³/2 multiply-adds, all on contiguous
/// rows (1,682 items: ~2.4 G, about a second on one core).
pub fn spd_inverse(mut a: Vec<f64>, n: usize) -> Result<Vec<f64>> {
    if a.len() != n * n {
        return Err(Error::Config(format!(
            "{} values for a {n} × {n} matrix",
            a.len()
        )));
    }
    // Cholesky in place, row by row: the lower triangle of `a` becomes L.
    for i in 0..n {
        let (above, rest) = a.split_at_mut(i * n);
        let row_i = &mut rest[..n];
        for j in 0..i {
            let row_j = &above[j * n..j * n + j + 1];
            row_i[j] = (row_i[j] - dot(&row_i[..j], &row_j[..j])) / row_j[j];
        }
        let d = row_i[i] - dot(&row_i[..i], &row_i[..i]);
        if d.is_nan() || d <= 0.0 {
            return Err(Error::Config(format!(
                "matrix is not positive definite (pivot {i}: {d})"
            )));
        }
        row_i[i] = d.sqrt();
    }
    // M = L⁻¹ (lower triangular), built row by row: M[i] = (e_i − Σ_{k<i} L[i][k] M[k]) / L[i][i].
    let mut m = vec![0.0f64; n * n];
    for i in 0..n {
        let (above, rest) = m.split_at_mut(i * n);
        let row = &mut rest[..n];
        row[i] = 1.0;
        for k in 0..i {
            let l = a[i * n + k];
            if l != 0.0 {
                let mk = &above[k * n..k * n + k + 1];
                for (r, v) in row[..=k].iter_mut().zip(mk) {
                    *r -= l * v;
                }
            }
        }
        let d = a[i * n + i];
        row[..=i].iter_mut().for_each(|v| *v /= d);
    }
    // A⁻¹ = Mᵀ M: accumulate each row k of M as an outer product (lower triangle), then mirror.
    let mut inv = vec![0.0f64; n * n];
    for k in 0..n {
        let mk = &m[k * n..k * n + k + 1];
        for (i, &mi) in mk.iter().enumerate() {
            if mi != 0.0 {
                let row = &mut inv[i * n..i * n + i + 1];
                for (r, v) in row.iter_mut().zip(&mk[..=i]) {
                    *r += mi * v;
                }
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            inv[j * n + i] = inv[i * n + j];
        }
    }
    Ok(inv)
}

/// A dot product in four independent sums, so the compiler can vectorise it (one running
/// sum is a dependency chain it may not reorder).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a4.zip(b4) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        // A = Bᵀ B + I for a fixed B: symmetric positive definite.
        let n = 7;
        let b: Vec<f64> = (0..n * n)
            .map(|v| ((v * 37 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[k * n + i] * b[k * n + j]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let inv = spd_inverse(a.clone(), n).expect("spd");
        for i in 0..n {
            for j in 0..n {
                let v: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-9, "({i}, {j}): {v}");
            }
        }
        let not_spd = vec![1.0, 2.0, 2.0, 1.0];
        assert!(spd_inverse(not_spd, 2).is_err());
    }

    fn r(user: u32, item: u32) -> Rating {
        Rating {
            user,
            item,
            rating: 5.0,
            timestamp: 0,
        }
    }

    #[test]
    fn items_taken_together_recommend_each_other_and_never_themselves() {
        // Users 1–3 take items 1 and 2 together; users 4–5 take item 3 alone with item 4.
        let train = [
            r(1, 1),
            r(1, 2),
            r(2, 1),
            r(2, 2),
            r(3, 1),
            r(3, 2),
            r(4, 3),
            r(4, 4),
            r(5, 3),
            r(6, 1),
        ];
        for cfg in [
            ItemItemConfig::Ease {
                lambda: 1.0,
                emphasis: 0.0,
            },
            ItemItemConfig::Ease {
                lambda: 1.0,
                emphasis: 1.0,
            },
            ItemItemConfig::Rp3beta {
                alpha: 1.0,
                beta: 0.5,
            },
        ] {
            let model = ItemItem::fit(&train, 7, 5, cfg).expect("fit");
            let mut s = vec![0.0; 5];
            model.scores(6, &mut s); // user 6 has item 1 only
            assert!(s[2] > s[3] && s[2] > s[4], "{cfg:?}: {s:?}");
            assert_eq!(model.weights[5 + 1], 0.0); // item 1 → item 1
            model.scores(99, &mut s); // unknown user: no evidence, all zero
            assert!(s.iter().all(|&v| v == 0.0));
        }
        let bad = [r(1, 9)];
        let ease = ItemItemConfig::Ease {
            lambda: 1.0,
            emphasis: 0.0,
        };
        assert!(ItemItem::fit(&bad, 7, 5, ease).is_err());
    }
}
