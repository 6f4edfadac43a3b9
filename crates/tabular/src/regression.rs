//! Regressors: a number per row (remaining useful life, demand, time to event), fitted on
//! raw features.
//!
//! | regressor | how | why it is here |
//! |---|---|---|
//! | mean | the training target's mean | the floor every model must beat |
//! | ridge | least squares with an L2 penalty on standardised features (closed form) | linear, explainable, seconds to refit |
//! | random forest | bagged CART trees (variance reduction) on quantile bins, a feature subset per split | robust default, little tuning |
//! | gradient boosting | forust's histogram booster, squared loss | the usual winner on tabular data |
//!
//! One seed ([`RegressionConfig::seed`]) drives the bootstraps, the feature subsets and the
//! booster's sampling.

use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::scaler::Scaler;

/// Hyperparameters of the regressors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionConfig {
    pub seed: u64,
    /// Ridge's L2 penalty on standardised features, per row (0.01: weights shrink by ~1 %).
    pub ridge_alpha: f64,
    /// Trees in the forest.
    pub forest_trees: usize,
    /// Depth limit of each forest tree.
    pub forest_max_depth: usize,
    /// Fewest rows in a forest leaf.
    pub forest_min_leaf: usize,
    /// Share of the features each split may look at (random subspace).
    pub forest_feature_share: f64,
    /// Quantile bins per feature for the forest's split search.
    pub forest_bins: usize,
    /// Boosting rounds, shrinkage, depth, row subsample per round.
    pub boosting_iterations: usize,
    pub boosting_learning_rate: f32,
    pub boosting_max_depth: usize,
    pub boosting_subsample: f32,
}

impl Default for RegressionConfig {
    fn default() -> Self {
        RegressionConfig {
            seed: 42,
            ridge_alpha: 0.01,
            forest_trees: 100,
            forest_max_depth: 12,
            forest_min_leaf: 5,
            forest_feature_share: 0.33,
            forest_bins: 32,
            boosting_iterations: 300,
            boosting_learning_rate: 0.05,
            boosting_max_depth: 4,
            boosting_subsample: 0.8,
        }
    }
}

/// Which regressor to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegressorKind {
    Mean,
    Ridge,
    RandomForest,
    GradientBoosting,
}

/// A fitted regressor of any kind, with the scaler it was fitted with.
#[derive(Serialize, Deserialize)]
pub enum Regressor {
    Mean(f64),
    Ridge {
        scaler: Scaler,
        intercept: f64,
        weights: Vec<f64>,
    },
    Forest(Vec<RegressionTree>),
    Boosting(Box<GradientBooster>),
}

impl std::fmt::Debug for Regressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Regressor::Mean(m) => write!(f, "Mean({m})"),
            Regressor::Ridge { weights, .. } => write!(f, "Ridge({} weights)", weights.len()),
            Regressor::Forest(trees) => write!(f, "Forest({} trees)", trees.len()),
            Regressor::Boosting(_) => f.write_str("Boosting"),
        }
    }
}

impl Regressor {
    /// Fits `kind` on features `x` and targets `y`; the error says why.
    pub fn fit(
        kind: RegressorKind,
        x: &Array2<f64>,
        y: &[f64],
        cfg: &RegressionConfig,
    ) -> Result<Regressor, String> {
        if x.nrows() != y.len() || y.is_empty() {
            return Err(format!(
                "{} rows of features, {} targets",
                x.nrows(),
                y.len()
            ));
        }
        if y.iter().any(|v| !v.is_finite()) || x.iter().any(|v| !v.is_finite()) {
            return Err("non-finite feature or target".into());
        }
        Ok(match kind {
            RegressorKind::Mean => Regressor::Mean(y.iter().sum::<f64>() / y.len() as f64),
            RegressorKind::Ridge => fit_ridge(x, y, cfg.ridge_alpha)?,
            RegressorKind::RandomForest => Regressor::Forest(fit_forest(x, y, cfg)),
            RegressorKind::GradientBoosting => {
                let (data, n, m) = crate::estimator::column_major(x.view());
                let mut booster = GradientBooster::default()
                    .set_objective_type(ObjectiveType::SquaredLoss)
                    .set_iterations(cfg.boosting_iterations)
                    .set_learning_rate(cfg.boosting_learning_rate)
                    .set_max_depth(cfg.boosting_max_depth)
                    .set_subsample(cfg.boosting_subsample)
                    .set_parallel(false)
                    .set_seed(cfg.seed);
                booster
                    .fit_unweighted(&Matrix::new(&data, n, m), y, None)
                    .map_err(|e| e.to_string())?;
                Regressor::Boosting(Box::new(booster))
            }
        })
    }

    /// One prediction per row of `x`.
    pub fn predict(&self, x: ArrayView2<f64>) -> Vec<f64> {
        match self {
            Regressor::Mean(m) => vec![*m; x.nrows()],
            Regressor::Ridge {
                scaler,
                intercept,
                weights,
            } => scaler
                .transform(x)
                .axis_iter(Axis(0))
                .map(|r| intercept + r.iter().zip(weights).map(|(a, w)| a * w).sum::<f64>())
                .collect(),
            Regressor::Forest(trees) => x
                .axis_iter(Axis(0))
                .map(|r| {
                    let row = r
                        .as_slice()
                        .map(<[f64]>::to_vec)
                        .unwrap_or_else(|| r.to_vec());
                    trees.iter().map(|t| t.predict(&row)).sum::<f64>() / trees.len().max(1) as f64
                })
                .collect(),
            Regressor::Boosting(b) => {
                let (data, n, m) = crate::estimator::column_major(x);
                b.predict(&Matrix::new(&data, n, m), false)
            }
        }
    }
}

/// Ridge in closed form: `(ZᵀZ + αn·I) w = Zᵀ(y − ȳ)` on standardised `Z`, solved by
/// Cholesky (the matrix is symmetric positive definite for α > 0).
fn fit_ridge(x: &Array2<f64>, y: &[f64], alpha: f64) -> Result<Regressor, String> {
    let scaler = Scaler::fit(x);
    let z = scaler.transform(x.view());
    let (n, m) = (z.nrows(), z.ncols());
    let mean = y.iter().sum::<f64>() / n as f64;
    let mut a = z.t().dot(&z);
    for j in 0..m {
        a[[j, j]] += alpha * n as f64 + 1e-9;
    }
    let centred: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let b: Vec<f64> = (0..m)
        .map(|j| z.column(j).iter().zip(&centred).map(|(a, b)| a * b).sum())
        .collect();
    let weights = cholesky_solve(&a, &b).ok_or("ridge system is not positive definite")?;
    Ok(Regressor::Ridge {
        scaler,
        intercept: mean,
        weights,
    })
}

/// Solves `a x = b` for a symmetric positive definite `a`; `None` if it is not.
pub(crate) fn cholesky_solve(a: &Array2<f64>, b: &[f64]) -> Option<Vec<f64>> {
    let m = b.len();
    let mut l = Array2::<f64>::zeros((m, m));
    for i in 0..m {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - s;
                if d <= 0.0 {
                    return None;
                }
                l[[i, j]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    let mut y = vec![0.0; m];
    for i in 0..m {
        y[i] = (b[i] - (0..i).map(|k| l[[i, k]] * y[k]).sum::<f64>()) / l[[i, i]];
    }
    let mut x = vec![0.0; m];
    for i in (0..m).rev() {
        x[i] = (y[i] - (i + 1..m).map(|k| l[[k, i]] * x[k]).sum::<f64>()) / l[[i, i]];
    }
    Some(x)
}

/// A CART regression tree, flattened: node `i` splits on `feature < threshold` or is a leaf.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegressionTree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

impl RegressionTree {
    /// The tree as nested `CASE WHEN x < t THEN … ELSE … END` over the SQL `columns`.
    pub fn sql(&self, columns: &[String]) -> Result<String, String> {
        self.node_sql(0, columns)
    }

    fn node_sql(&self, i: usize, columns: &[String]) -> Result<String, String> {
        use mlsd_core::sql::double_of;
        match self.nodes.get(i) {
            Some(Node::Leaf(v)) => double_of("a leaf value", *v),
            Some(Node::Split {
                feature,
                threshold,
                left,
                right,
            }) => Ok(format!(
                "CASE WHEN {} < {} THEN {} ELSE {} END",
                columns
                    .get(*feature)
                    .ok_or_else(|| format!("a tree splits on feature {feature}"))?,
                double_of("a threshold", *threshold)?,
                self.node_sql(*left, columns)?,
                self.node_sql(*right, columns)?
            )),
            None => Err(format!("the tree has no node {i}")),
        }
    }

    pub fn predict(&self, row: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes.get(i) {
                Some(Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                }) => {
                    i = if row[*feature] < *threshold {
                        *left
                    } else {
                        *right
                    }
                }
                Some(Node::Leaf(v)) => return *v,
                None => return 0.0,
            }
        }
    }
}

/// Quantile cut points of every column (at most `bins − 1` distinct values each).
fn cut_points(x: &Array2<f64>, bins: usize) -> Vec<Vec<f64>> {
    x.axis_iter(Axis(1))
        .map(|c| {
            let mut v = c.to_vec();
            v.sort_by(f64::total_cmp);
            let mut cuts: Vec<f64> = (1..bins)
                .map(|b| v[(b * v.len() / bins).min(v.len() - 1)])
                .collect();
            cuts.dedup();
            cuts
        })
        .collect()
}

fn fit_forest(x: &Array2<f64>, y: &[f64], cfg: &RegressionConfig) -> Vec<RegressionTree> {
    let cuts = cut_points(x, cfg.forest_bins.max(2));
    // Bin index of every value once: the split search then only adds up histograms.
    let binned: Vec<Vec<u8>> = x
        .axis_iter(Axis(1))
        .zip(&cuts)
        .map(|(c, cut)| {
            c.iter()
                .map(|v| cut.partition_point(|t| t <= v) as u8)
                .collect()
        })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let m = x.ncols();
    let per_split = ((m as f64 * cfg.forest_feature_share).ceil() as usize).clamp(1, m);
    (0..cfg.forest_trees)
        .map(|_| {
            let rows: Vec<usize> = (0..y.len()).map(|_| rng.gen_range(0..y.len())).collect();
            let mut grower = Grower {
                binned: &binned,
                cuts: &cuts,
                y,
                per_split,
                cfg,
                rng: ChaCha8Rng::seed_from_u64(rng.gen()),
                nodes: Vec::new(),
            };
            grower.grow(rows, 0);
            RegressionTree {
                nodes: grower.nodes,
            }
        })
        .collect()
}

struct Grower<'a> {
    binned: &'a [Vec<u8>],
    cuts: &'a [Vec<f64>],
    y: &'a [f64],
    per_split: usize,
    cfg: &'a RegressionConfig,
    rng: ChaCha8Rng,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    /// Grows the subtree of `rows`, returning its node index.
    fn grow(&mut self, rows: Vec<usize>, depth: usize) -> usize {
        let id = self.nodes.len();
        let mean = rows.iter().map(|&r| self.y[r]).sum::<f64>() / rows.len().max(1) as f64;
        self.nodes.push(Node::Leaf(mean));
        if depth >= self.cfg.forest_max_depth || rows.len() < 2 * self.cfg.forest_min_leaf {
            return id;
        }
        let Some((feature, bin)) = self.best_split(&rows) else {
            return id;
        };
        let (left, right): (Vec<usize>, Vec<usize>) = rows
            .into_iter()
            .partition(|&r| (self.binned[feature][r] as usize) <= bin);
        let l = self.grow(left, depth + 1);
        let r = self.grow(right, depth + 1);
        self.nodes[id] = Node::Split {
            feature,
            // bins ≤ `bin` hold values below cut `bin`.
            threshold: self.cuts[feature][bin],
            left: l,
            right: r,
        };
        id
    }

    /// The (feature, last bin on the left) that most reduces the squared error, among a
    /// random subset of features.
    fn best_split(&mut self, rows: &[usize]) -> Option<(usize, usize)> {
        let m = self.binned.len();
        let features = sample(&mut self.rng, m, self.per_split);
        let total: f64 = rows.iter().map(|&r| self.y[r]).sum();
        let n = rows.len() as f64;
        let min_leaf = self.cfg.forest_min_leaf as f64;
        let mut best: Option<(f64, usize, usize)> = None;
        for f in features.iter() {
            let bins = self.cuts[f].len() + 1;
            if bins < 2 {
                continue;
            }
            let (mut sums, mut counts) = (vec![0.0; bins], vec![0.0; bins]);
            for &r in rows {
                let b = self.binned[f][r] as usize;
                sums[b] += self.y[r];
                counts[b] += 1.0;
            }
            let (mut ls, mut lc) = (0.0, 0.0);
            for b in 0..bins - 1 {
                ls += sums[b];
                lc += counts[b];
                let rc = n - lc;
                if lc < min_leaf || rc < min_leaf {
                    continue;
                }
                // Maximising Σ² / n of both sides minimises the squared error.
                let gain = ls * ls / lc + (total - ls).powi(2) / rc;
                if best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, f, b));
                }
            }
        }
        let (gain, f, b) = best?;
        (gain > total * total / n + 1e-12).then_some((f, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = 3·x0 − 2·x1 + a step in x2, no noise.
    fn toy() -> (Array2<f64>, Vec<f64>) {
        let x = Array2::from_shape_fn((600, 3), |(i, j)| {
            ((i * (7 + 5 * j) + j) % 101) as f64 / 10.0
        });
        let y = x
            .axis_iter(Axis(0))
            .map(|r| 3.0 * r[0] - 2.0 * r[1] + if r[2] > 5.0 { 4.0 } else { 0.0 })
            .collect();
        (x, y)
    }

    fn rmse(a: &[f64], b: &[f64]) -> f64 {
        (a.iter().zip(b).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / a.len() as f64).sqrt()
    }

    #[test]
    fn every_regressor_beats_the_mean_and_ridge_recovers_a_line() {
        let (x, y) = toy();
        let cfg = RegressionConfig {
            forest_trees: 20,
            ..RegressionConfig::default()
        };
        let mean = Regressor::fit(RegressorKind::Mean, &x, &y, &cfg).expect("mean");
        let floor = rmse(&mean.predict(x.view()), &y);
        for kind in [
            RegressorKind::Ridge,
            RegressorKind::RandomForest,
            RegressorKind::GradientBoosting,
        ] {
            let model = Regressor::fit(kind, &x, &y, &cfg).expect("fit");
            let err = rmse(&model.predict(x.view()), &y);
            assert!(err < floor / 3.0, "{kind:?}: {err} vs mean {floor}");
        }
        // Without the step, ridge is exact.
        let line: Vec<f64> = x
            .axis_iter(Axis(0))
            .map(|r| 3.0 * r[0] - 2.0 * r[1])
            .collect();
        let cfg = RegressionConfig {
            ridge_alpha: 0.0,
            ..cfg
        };
        let ridge = Regressor::fit(RegressorKind::Ridge, &x, &line, &cfg).expect("ridge");
        assert!(rmse(&ridge.predict(x.view()), &line) < 1e-6);
    }

    #[test]
    fn a_forest_round_trips_through_json_and_refuses_non_finite_input() {
        let (x, y) = toy();
        let cfg = RegressionConfig {
            forest_trees: 5,
            ..RegressionConfig::default()
        };
        let model = Regressor::fit(RegressorKind::RandomForest, &x, &y, &cfg).expect("fit");
        let back: Regressor =
            serde_json::from_str(&serde_json::to_string(&model).expect("json")).expect("back");
        assert_eq!(back.predict(x.view()), model.predict(x.view()));
        let mut bad = y.clone();
        bad[3] = f64::NAN;
        assert!(Regressor::fit(RegressorKind::Ridge, &x, &bad, &cfg).is_err());
    }
}
