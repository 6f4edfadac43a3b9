//! The learned estimators, fitted and predicting probabilities of the positive class.
//!
//! | learner | crate | why it is here |
//! |---|---|---|
//! | logistic regression | linfa-logistic | fast, explainable; ranks well on standardised features |
//! | decision tree (depth-limited or not) | linfa-trees | a few questions a human can audit; unlimited, it memorises |
//! | random forest | linfa-ensemble | bagged trees on feature subsets: variance down |
//! | gradient boosting | forust-ml | XGBoost-style boosted trees, the usual winner on tabular data |
//!
//! Trees and the forest train on undersampled rows ([`crate::sampling`]) and score with the
//! leaf rates of [`ProbabilityTree`]; logistic regression and boosting train on every row.

use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use linfa::prelude::*;
use linfa_ensemble::EnsembleLearnerParams;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::newton::Logit;
use crate::sampling::undersample;
use crate::scaler::Scaler;
use crate::tree::ProbabilityTree;

/// Model hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Seed for undersampling, bootstraps and boosting.
    pub seed: u64,
    /// Negative rows kept per positive when training tree models (see [`crate::sampling`]).
    pub tree_negatives_per_positive: usize,
    /// Trees in the random forest (handbook: 100).
    pub forest_trees: usize,
    /// Depth limit of the forest's trees (`None` = unlimited).
    pub forest_max_depth: Option<usize>,
    /// Share of features each forest tree sees (random subspace).
    pub forest_feature_share: f64,
    /// Logistic regression L2 penalty.
    pub logistic_alpha: f64,
    /// Logistic regression optimiser iterations.
    pub logistic_max_iterations: u64,
    /// Boosting rounds (XGBoost's default: 100).
    pub boosting_iterations: usize,
    /// Shrinkage per round. XGBoost's default is 0.3; 0.1 was chosen on the validation
    /// window (fraud's `examples/tune.rs`), where 0.3 overfits.
    pub boosting_learning_rate: f32,
    /// Depth of each boosted tree. XGBoost's default is 6; 3 ties it on the validation
    /// window at half the cost.
    pub boosting_max_depth: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            seed: 42,
            tree_negatives_per_positive: 10,
            forest_trees: 100,
            forest_max_depth: None,
            forest_feature_share: 0.5,
            logistic_alpha: 1e-4,
            logistic_max_iterations: 200,
            boosting_iterations: 100,
            boosting_learning_rate: 0.1,
            boosting_max_depth: 3,
        }
    }
}

/// Which estimator to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learner {
    LogisticRegression,
    /// Logistic regression by Newton's method ([`crate::newton`]): the same model, fitted
    /// exactly in a few steps (fraud and maintenance keep linfa's for their published rows).
    NewtonLogistic,
    /// A single tree, depth-limited or (`None`) not.
    DecisionTree {
        max_depth: Option<usize>,
    },
    RandomForest,
    GradientBoosting,
}

/// A fitted estimator of any kind.
#[derive(Serialize, Deserialize)]
pub enum Estimator {
    Logistic(FittedLogisticRegression<f64, bool>),
    Newton(Logit),
    Tree(ProbabilityTree),
    /// Each tree with the feature subset it was trained on.
    Forest(Vec<(Vec<usize>, ProbabilityTree)>),
    Boosting(Box<GradientBooster>),
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Estimator::Logistic(m) => m.fmt(f),
            Estimator::Newton(m) => m.fmt(f),
            Estimator::Tree(t) => write!(f, "Tree({} leaves)", t.n_leaves()),
            Estimator::Forest(trees) => write!(f, "Forest({} trees)", trees.len()),
            // GradientBooster has no Debug.
            Estimator::Boosting(_) => f.write_str("Boosting"),
        }
    }
}

pub(crate) fn column_major(x: ArrayView2<f64>) -> (Vec<f64>, usize, usize) {
    let mut data = Vec::with_capacity(x.len());
    for c in x.axis_iter(Axis(1)) {
        data.extend(c.iter());
    }
    (data, x.nrows(), x.ncols())
}

impl Estimator {
    /// Fits `learner` on raw features `x` (the estimators that need scaled inputs get them
    /// through `scaler`, fitted on the same rows) and labels `y`. The error says why, for the
    /// design's own error type.
    pub fn fit(
        learner: Learner,
        scaler: &Scaler,
        x: &Array2<f64>,
        y: &[bool],
        cfg: &ModelConfig,
    ) -> Result<Estimator, String> {
        Ok(match learner {
            Learner::LogisticRegression => {
                // Talking point: no resampling for a ranking metric — it would only move the
                // intercept, and AUC/AP do not see the intercept.
                let data = Dataset::new(scaler.transform(x.view()), Array1::from(y.to_vec()));
                let model = LogisticRegression::default()
                    .alpha(cfg.logistic_alpha)
                    .max_iterations(cfg.logistic_max_iterations)
                    .fit(&data)
                    .map_err(|e| e.to_string())?;
                Estimator::Logistic(model)
            }
            Learner::NewtonLogistic => Estimator::Newton(Logit::fit(
                &scaler.transform(x.view()),
                y,
                cfg.logistic_alpha,
                cfg.logistic_max_iterations as usize,
            )?),
            Learner::DecisionTree { max_depth } => {
                // Talking point: class imbalance — undersample the negatives for the trees only.
                let (xs, ys) = undersample(x, y, cfg.tree_negatives_per_positive, cfg.seed);
                let data = Dataset::new(xs.clone(), Array1::from(ys.clone()));
                let tree = DecisionTree::params()
                    .max_depth(max_depth)
                    .fit(&data)
                    .map_err(|e| e.to_string())?;
                Estimator::Tree(ProbabilityTree::from_linfa(&tree, xs.view(), &ys))
            }
            Learner::RandomForest => Estimator::Forest(fit_forest(x, y, cfg)?),
            Learner::GradientBoosting => {
                let (data, n, m) = column_major(x.view());
                let target: Vec<f64> = y.iter().map(|&l| f64::from(u8::from(l))).collect();
                let mut booster = GradientBooster::default()
                    .set_objective_type(ObjectiveType::LogLoss)
                    .set_iterations(cfg.boosting_iterations)
                    .set_learning_rate(cfg.boosting_learning_rate)
                    .set_max_depth(cfg.boosting_max_depth)
                    .set_seed(cfg.seed);
                booster
                    .fit_unweighted(&Matrix::new(&data, n, m), &target, None)
                    .map_err(|e| e.to_string())?;
                Estimator::Boosting(Box::new(booster))
            }
        })
    }

    /// P(positive) for each row of raw features `x` (`scaler` is the one it was fitted with).
    pub fn predict_proba(&self, scaler: &Scaler, x: ArrayView2<f64>) -> Vec<f64> {
        match self {
            Estimator::Logistic(m) => {
                let p = m.predict_probabilities(&scaler.transform(x));
                // linfa's "positive" class is the *more frequent* label (here: negative), not
                // the larger value, so read which one it is before using the probability.
                if m.labels().pos.class {
                    p.to_vec()
                } else {
                    p.iter().map(|p| 1.0 - p).collect()
                }
            }
            Estimator::Newton(m) => m.predict(scaler.transform(x).view()),
            Estimator::Tree(t) => x
                .axis_iter(Axis(0))
                .map(|r| t.probability(|j| r[j]))
                .collect(),
            Estimator::Forest(trees) => x
                .axis_iter(Axis(0))
                .map(|r| {
                    let total: f64 = trees
                        .iter()
                        .map(|(features, t)| t.probability(|j| r[features[j]]))
                        .sum();
                    total / trees.len().max(1) as f64
                })
                .collect(),
            Estimator::Boosting(b) => {
                let (data, n, m) = column_major(x);
                let logits = b.predict(&Matrix::new(&data, n, m), false);
                logits
                    .into_iter()
                    .map(|z| 1.0 / (1.0 + (-z).exp()))
                    .collect()
            }
        }
    }
}

/// Bagged trees on feature subsets (seeded), each scoring with its leaf rates.
fn fit_forest(
    x: &Array2<f64>,
    y: &[bool],
    cfg: &ModelConfig,
) -> Result<Vec<(Vec<usize>, ProbabilityTree)>, String> {
    let (xs, ys) = undersample(x, y, cfg.tree_negatives_per_positive, cfg.seed);
    let data = Dataset::new(xs.clone(), Array1::from(ys.clone()));
    let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let forest = EnsembleLearnerParams::new_fixed_rng(
        DecisionTree::params().max_depth(cfg.forest_max_depth),
        rng,
    )
    .ensemble_size(cfg.forest_trees)
    .bootstrap_proportion(1.0)
    .feature_proportion(cfg.forest_feature_share)
    .fit(&data)
    .map_err(|e| e.to_string())?;
    Ok(forest
        .models
        .iter()
        .zip(&forest.model_features)
        .map(|(tree, features)| {
            let sub = xs.select(Axis(1), features);
            (
                features.clone(),
                ProbabilityTree::from_linfa(tree, sub.view(), &ys),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 400 rows, 5 % positive, the label readable from feature 0 (with noise in feature 1).
    fn toy() -> (Array2<f64>, Vec<bool>) {
        let n = 400;
        let y: Vec<bool> = (0..n).map(|i| i % 20 == 0).collect();
        let x = Array2::from_shape_fn((n, 2), |(i, j)| match j {
            0 => f64::from(u8::from(y[i])) * 3.0 + (i % 7) as f64 * 0.1,
            _ => ((i * 37) % 11) as f64,
        });
        (x, y)
    }

    #[test]
    fn every_learner_ranks_every_positive_above_every_negative_on_separable_rows() {
        let (x, y) = toy();
        let scaler = Scaler::fit(&x);
        let cfg = ModelConfig {
            forest_trees: 10,
            boosting_iterations: 20,
            ..ModelConfig::default()
        };
        for learner in [
            Learner::LogisticRegression,
            Learner::DecisionTree { max_depth: Some(2) },
            Learner::DecisionTree { max_depth: None },
            Learner::RandomForest,
            Learner::GradientBoosting,
        ] {
            let model = Estimator::fit(learner, &scaler, &x, &y, &cfg).expect("fit");
            let p = model.predict_proba(&scaler, x.view());
            assert_eq!(p.len(), y.len());
            assert!(p.iter().all(|p| (0.0..=1.0).contains(p)), "{learner:?}");
            let lowest_positive = (0..y.len())
                .filter(|&i| y[i])
                .map(|i| p[i])
                .fold(1.0, f64::min);
            let highest_negative = (0..y.len())
                .filter(|&i| !y[i])
                .map(|i| p[i])
                .fold(0.0, f64::max);
            assert!(
                lowest_positive > highest_negative,
                "{learner:?}: {lowest_positive} vs {highest_negative}"
            );
        }
    }

    #[test]
    fn a_fitted_estimator_round_trips_through_json() {
        let (x, y) = toy();
        let scaler = Scaler::fit(&x);
        let cfg = ModelConfig::default();
        let model =
            Estimator::fit(Learner::LogisticRegression, &scaler, &x, &y, &cfg).expect("fit");
        let json = serde_json::to_string(&model).expect("json");
        assert!(json.starts_with("{\"Logistic\":"), "{}", &json[..40]);
        let back: Estimator = serde_json::from_str(&json).expect("back");
        assert_eq!(
            back.predict_proba(&scaler, x.view()),
            model.predict_proba(&scaler, x.view())
        );
    }
}
