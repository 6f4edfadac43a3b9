//! Stage 3 (continued) — rating models past biased MF: SVD++, item kNN on baseline residuals,
//! and a blend of them fitted on held-out ratings (the Netflix Prize recipe in miniature).
//!
//! | model | predicts | trade-off |
//! |---|---|---|
//! | [`SvdPlusPlus`] (Koren 2008) | μ + b_u + b_i + q_iᵀ(p_u + \|N(u)\|^−½ Σ_{j∈N(u)} y_j) | *which* items a user rated is evidence too; one more factor table; slower epochs |
//! | [`ItemKnn`] (Koren 2010's neighbourhood model; Surprise's `KNNBaseline`) | the baseline plus the similarity-weighted residuals of the user's k most similar rated items | explainable ("because you rated X"); similarity table O(items²) |
//! | [`Blend`] | a least-squares combination of the models' predictions | learns how much to trust each; needs held-out ratings to fit on |
//!
//! Talking point: models that err differently add up — MF sees global taste factors, the
//! neighbourhood model sees local item-to-item structure; blending them beat every single model
//! in the Netflix Prize.

use std::collections::HashMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::models::{check_ratings, dot, factor_table, init_normal, BiasedMf, Biases, MfConfig};
use crate::movielens::Rating;
use crate::Result;

/// SVD++ settings (Surprise 1.1's `SVDpp` defaults).
#[derive(Debug, Clone, Serialize)]
pub struct SvdPpConfig {
    pub factors: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub regularisation: f32,
    pub init_std: f32,
    pub seed: u64,
}

impl Default for SvdPpConfig {
    fn default() -> Self {
        SvdPpConfig {
            factors: 20,
            epochs: 20,
            learning_rate: 0.007,
            regularisation: 0.02,
            init_std: 0.1,
            seed: 42,
        }
    }
}

/// SVD++ fitted by SGD, one user at a time.
pub struct SvdPlusPlus {
    k: usize,
    biases: Biases,
    p: Vec<f32>,
    q: Vec<f32>,
    /// Each user's p_u + |N(u)|^−½ Σ y_j, computed once after training.
    user_vector: Vec<f32>,
}

/// Each user's ratings (in input order).
fn by_user(train: &[Rating], n_users: usize) -> Vec<Vec<(u32, f32)>> {
    let mut out = vec![Vec::new(); n_users];
    for r in train {
        out[r.user as usize].push((r.item, r.rating));
    }
    out
}

impl SvdPlusPlus {
    pub fn fit(
        train: &[Rating],
        n_users: usize,
        n_items: usize,
        cfg: &SvdPpConfig,
    ) -> Result<Self> {
        check_ratings(train, n_users, n_items)?;
        let k = cfg.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let normal = init_normal(cfg.init_std)?;
        let p = factor_table(&mut rng, &normal, n_users, k);
        let q = factor_table(&mut rng, &normal, n_items, k);
        let mut y = factor_table(&mut rng, &normal, n_items, k);
        let mut m = SvdPlusPlus {
            k,
            biases: Biases::new(train, n_users, n_items),
            p,
            q,
            user_vector: vec![0.0; n_users * k],
        };
        let users = by_user(train, n_users);
        let (lr, reg) = (cfg.learning_rate, cfg.regularisation);
        let mut order: Vec<usize> = (0..n_users).filter(|&u| !users[u].is_empty()).collect();
        let mut z = vec![0.0f32; k];
        let mut z_grad = vec![0.0f32; k];
        for _ in 0..cfg.epochs {
            order.shuffle(&mut rng);
            for &u in &order {
                let rated = &users[u];
                let norm = 1.0 / (rated.len() as f32).sqrt();
                // Simplification ("fast SVD++"): the implicit sum is computed once per user
                // per epoch and the y_j updated once after the user's ratings, not after each.
                z.iter_mut().for_each(|v| *v = 0.0);
                for &(j, _) in rated {
                    for (zv, yv) in z.iter_mut().zip(&y[j as usize * k..(j as usize + 1) * k]) {
                        *zv += yv * norm;
                    }
                }
                z_grad.iter_mut().for_each(|v| *v = 0.0);
                for &(i, rating) in rated {
                    let i = i as usize;
                    let pu = &mut m.p[u * k..(u + 1) * k];
                    let qi = &mut m.q[i * k..(i + 1) * k];
                    let interaction: f32 = qi
                        .iter()
                        .zip(pu.iter().zip(&z))
                        .map(|(q, (p, z))| q * (p + z))
                        .sum();
                    let b = &m.biases;
                    let err = rating - (b.mean + b.user[u] + b.item[i] + interaction);
                    m.biases.step(u, i, err, lr, reg);
                    for f in 0..k {
                        let (p0, q0) = (pu[f], qi[f]);
                        pu[f] += lr * (err * q0 - reg * p0);
                        qi[f] += lr * (err * (p0 + z[f]) - reg * q0);
                        z_grad[f] += err * q0;
                    }
                }
                let steps = rated.len() as f32;
                for &(j, _) in rated {
                    for (yv, g) in y[j as usize * k..(j as usize + 1) * k]
                        .iter_mut()
                        .zip(&z_grad)
                    {
                        *yv += lr * (g * norm - steps * reg * *yv);
                    }
                }
            }
        }
        for (u, rated) in users.iter().enumerate() {
            let norm = 1.0 / (rated.len().max(1) as f32).sqrt();
            let out = &mut m.user_vector[u * k..(u + 1) * k];
            out.copy_from_slice(&m.p[u * k..(u + 1) * k]);
            for &(j, _) in rated {
                for (o, yv) in out.iter_mut().zip(&y[j as usize * k..(j as usize + 1) * k]) {
                    *o += yv * norm;
                }
            }
        }
        Ok(m)
    }

    /// The predicted rating, clipped to 1–5; unknown users or items use what is known.
    pub fn predict(&self, user: u32, item: u32) -> f32 {
        let (u, i, k) = (user as usize, item as usize, self.k);
        self.biases.predict(user, item, || {
            dot(
                &self.user_vector[u * k..(u + 1) * k],
                &self.q[i * k..(i + 1) * k],
            )
        })
    }
}

/// Item kNN settings (Surprise's `KNNBaseline` with `pearson_baseline`, item-based).
#[derive(Debug, Clone, Serialize)]
pub struct KnnConfig {
    /// Neighbours used per prediction.
    pub k: usize,
    /// Similarities from n common raters are shrunk by (n − 1) / (n − 1 + shrinkage).
    pub shrinkage: f32,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            k: 40,
            shrinkage: 100.0,
        }
    }
}

/// The baseline μ + b_u + b_i plus the similarity-weighted baseline residuals of the user's
/// `k` most similar rated items.
pub struct ItemKnn {
    baseline: BiasedMf,
    n_items: usize,
    /// Shrunk Pearson correlation of baseline residuals (row-major items × items).
    similarity: Vec<f32>,
    /// Each user's (item, residual).
    rated: HashMap<u32, Vec<(u32, f32)>>,
    k: usize,
}

impl ItemKnn {
    pub fn fit(train: &[Rating], n_users: usize, n_items: usize, cfg: &KnnConfig) -> Result<Self> {
        check_ratings(train, n_users, n_items)?;
        let baseline = BiasedMf::fit(
            train,
            n_users,
            n_items,
            &MfConfig {
                factors: 0,
                ..MfConfig::default()
            },
        )?;
        let mut rated: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for r in train {
            let residual = r.rating - baseline.predict(r.user, r.item);
            rated.entry(r.user).or_default().push((r.item, residual));
        }
        let n = n_items;
        let (mut sxy, mut sxx, mut count) =
            (vec![0.0f32; n * n], vec![0.0f32; n * n], vec![0u32; n * n]);
        for items in rated.values() {
            for &(i, ri) in items {
                let row = i as usize * n;
                for &(j, rj) in items {
                    let c = row + j as usize;
                    sxy[c] += ri * rj;
                    sxx[c] += ri * ri;
                    count[c] += 1;
                }
            }
        }
        // Talking point: shrink similarities built on few common raters towards 0.
        let mut similarity = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let c = i * n + j;
                let denom = (sxx[c] * sxx[j * n + i]).sqrt();
                if i != j && count[c] > 1 && denom > 0.0 {
                    let shrink = (count[c] - 1) as f32 / ((count[c] - 1) as f32 + cfg.shrinkage);
                    similarity[c] = shrink * sxy[c] / denom;
                }
            }
        }
        Ok(ItemKnn {
            baseline,
            n_items: n,
            similarity,
            rated,
            k: cfg.k,
        })
    }

    pub fn predict(&self, user: u32, item: u32) -> f32 {
        let base = self.baseline.predict(user, item);
        let (Some(items), true) = (self.rated.get(&user), (item as usize) < self.n_items) else {
            return base;
        };
        let row = &self.similarity[item as usize * self.n_items..][..self.n_items];
        let mut neighbours: Vec<(f32, f32)> = items
            .iter()
            .map(|&(j, residual)| (row[j as usize], residual))
            .filter(|(s, _)| *s > 0.0)
            .collect();
        let k = self.k.min(neighbours.len());
        if k == 0 {
            return base;
        }
        neighbours.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let (num, den) = neighbours[..k]
            .iter()
            .fold((0.0, 0.0), |(n, d), (s, r)| (n + s * r, d + s));
        (base + num / den).clamp(1.0, 5.0)
    }
}

/// Least-squares weights (with an intercept) of the models' predictions, fitted on ratings the
/// models did not train on.
#[derive(Debug, Clone, Serialize)]
pub struct Blend {
    /// Intercept first, then one weight per model.
    pub weights: Vec<f64>,
}

impl Blend {
    /// `predictions[r][m]`: model m's prediction of held-out rating r; `truth[r]` the rating.
    pub fn fit(predictions: &[Vec<f32>], truth: &[f32], ridge: f64) -> Result<Blend> {
        let m = predictions.first().map_or(0, Vec::len) + 1;
        let mut xtx = vec![0.0f64; m * m];
        let mut xty = vec![0.0f64; m];
        for (row, &t) in predictions.iter().zip(truth) {
            let x: Vec<f64> = std::iter::once(1.0)
                .chain(row.iter().map(|&v| f64::from(v)))
                .collect();
            for a in 0..m {
                xty[a] += x[a] * f64::from(t);
                for b in 0..m {
                    xtx[a * m + b] += x[a] * x[b];
                }
            }
        }
        for a in 1..m {
            xtx[a * m + a] += ridge;
        }
        let inverse = crate::item_item::spd_inverse(xtx, m)?;
        let weights = (0..m)
            .map(|a| (0..m).map(|b| inverse[a * m + b] * xty[b]).sum())
            .collect();
        Ok(Blend { weights })
    }

    pub fn predict(&self, row: &[f32]) -> f32 {
        let v = self.weights[0]
            + self.weights[1..]
                .iter()
                .zip(row)
                .map(|(w, &x)| w * f64::from(x))
                .sum::<f64>();
        (v as f32).clamp(1.0, 5.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: u32, item: u32, rating: f32) -> Rating {
        Rating {
            user,
            item,
            rating,
            timestamp: 0,
        }
    }

    #[test]
    fn the_blend_recovers_known_weights() {
        // truth = 0.5 + 0.7·a + 0.2·b exactly.
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|i| vec![1.0 + (i % 5) as f32, 1.0 + (i % 7) as f32 * 0.5])
            .collect();
        let truth: Vec<f32> = rows.iter().map(|x| 0.5 + 0.7 * x[0] + 0.2 * x[1]).collect();
        let b = Blend::fit(&rows, &truth, 0.0).expect("fit");
        for (w, want) in b.weights.iter().zip([0.5, 0.7, 0.2]) {
            assert!((w - want).abs() < 1e-4, "{:?}", b.weights);
        }
    }

    #[test]
    fn neighbours_pull_a_prediction_towards_similar_items() {
        // Users 1–6 rate items 1 and 2 alike (both high or both low); user 7 loved item 1.
        let mut train = Vec::new();
        for u in 1..=6u32 {
            let v = if u % 2 == 0 { 5.0 } else { 1.0 };
            train.extend([r(u, 1, v), r(u, 2, v), r(u, 3, 3.0)]);
        }
        train.extend([r(7, 1, 5.0), r(7, 3, 3.0), r(8, 1, 1.0), r(8, 3, 3.0)]);
        let knn = ItemKnn::fit(
            &train,
            9,
            4,
            &KnnConfig {
                k: 5,
                shrinkage: 0.0,
            },
        )
        .expect("fit");
        assert!(
            knn.predict(7, 2) > knn.predict(8, 2),
            "{} vs {}",
            knn.predict(7, 2),
            knn.predict(8, 2)
        );
        let svdpp = SvdPlusPlus::fit(&train, 9, 4, &SvdPpConfig::default()).expect("fit");
        let p = svdpp.predict(7, 2);
        assert!((1.0..=5.0).contains(&p));
        assert!(SvdPlusPlus::fit(&[r(1, 9, 4.0)], 2, 4, &SvdPpConfig::default()).is_err());
    }
}
