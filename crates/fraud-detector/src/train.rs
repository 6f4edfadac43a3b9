//! Stage 3 — the models, from what a bank runs before ML to gradient boosting.
//!
//! | model | crate | why it is here |
//! |---|---|---|
//! | `rules` | ours | the baseline every fraud team starts from: static limits and hot lists |
//! | `logistic_regression` | linfa-logistic | fast, explainable, calibrated-ish; the handbook's workhorse |
//! | `decision_tree_depth2` | linfa-trees | three questions a human can audit |
//! | `decision_tree` | linfa-trees | unlimited depth: memorises, shows overfitting |
//! | `random_forest` | linfa-ensemble | bagged trees on feature subsets: variance down |
//! | `gradient_boosting` | forust-ml | XGBoost-style boosted trees, the usual winner on tabular data |
//!
//! Talking points:
//! - class imbalance (~0.8 % fraud): we do *not* resample for logistic regression and
//!   boosting — AUC and AP are ranking metrics, so re-weighting only shifts the intercept.
//!   For linfa's trees we undersample legit rows (10 per fraud by default): their leaves hold
//!   a majority label and are pruned when both children agree, so on raw data they collapse
//!   to "always legit"; undersampling also cuts their training time ten-fold;
//! - training/serving skew: the fitted scaler and the feature spec are saved *in* the model;
//! - linfa's trees predict labels only, so after fitting we re-estimate each leaf's fraud
//!   rate on the training rows (see [`ProbabilityTree`]) to get a score that ranks.

use forust_ml::objective::ObjectiveType;
use forust_ml::{GradientBooster, Matrix};
use linfa::prelude::*;
use linfa_ensemble::EnsembleLearnerParams;
use linfa_logistic::{FittedLogisticRegression, LogisticRegression};
use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::{Error, Result};

/// Every model this design trains, in the order the evaluation table prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Rules,
    LogisticRegression,
    DecisionTreeDepth2,
    DecisionTree,
    RandomForest,
    GradientBoosting,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Rules,
        ModelKind::LogisticRegression,
        ModelKind::DecisionTreeDepth2,
        ModelKind::DecisionTree,
        ModelKind::RandomForest,
        ModelKind::GradientBoosting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Rules => "rules",
            ModelKind::LogisticRegression => "logistic_regression",
            ModelKind::DecisionTreeDepth2 => "decision_tree_depth2",
            ModelKind::DecisionTree => "decision_tree",
            ModelKind::RandomForest => "random_forest",
            ModelKind::GradientBoosting => "gradient_boosting",
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Standardisation fitted on the training split only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Scaler {
    /// Talking point: fit the scaler on the train split only — fitting on all rows leaks
    /// test statistics into training.
    pub fn fit(x: &Array2<f64>) -> Scaler {
        let n = x.nrows().max(1) as f64;
        let mean: Vec<f64> = x.axis_iter(Axis(1)).map(|c| c.sum() / n).collect();
        let std = x
            .axis_iter(Axis(1))
            .zip(&mean)
            .map(|(c, m)| {
                let s = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n).sqrt();
                if s > 0.0 {
                    s
                } else {
                    1.0
                }
            })
            .collect();
        Scaler { mean, std }
    }

    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        let mut out = x.to_owned();
        for (j, mut c) in out.axis_iter_mut(Axis(1)).enumerate() {
            c.mapv_inplace(|v| (v - self.mean[j]) / self.std[j]);
        }
        out
    }
}

/// The rules baseline: what a fraud team deploys before any model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesModel {
    /// A static amount limit (the simulator's scenario-1 threshold, a limit a bank would
    /// have learned from past losses).
    pub amount_limit: f64,
    /// Amount above this multiple of the card's 30-day average is a spending spike.
    pub spike_ratio: f64,
    amount: usize,
    card_avg_30d: usize,
    terminal_risk_30d: usize,
}

impl RulesModel {
    fn new(feature_names: &[String]) -> Result<RulesModel> {
        let find = |name: &str| {
            feature_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| Error::Train {
                    model: "rules".into(),
                    why: format!("needs feature {name}"),
                })
        };
        Ok(RulesModel {
            amount_limit: 220.0,
            spike_ratio: 3.0,
            amount: find("tx_amount")?,
            card_avg_30d: find("customer_id_avg_amount_30day_window")?,
            terminal_risk_30d: find("terminal_id_risk_30day_window")?,
        })
    }

    /// Weighted rule hits in [0, 1]: over the limit (0.5), a terminal with confirmed fraud in
    /// the last month (0.3), a spending spike for this card (0.2).
    fn score(&self, x: ArrayView2<f64>) -> Vec<f64> {
        x.axis_iter(Axis(0))
            .map(|r| {
                let mut s = 0.0;
                if r[self.amount] > self.amount_limit {
                    s += 0.5;
                }
                if r[self.terminal_risk_30d] > 0.0 {
                    s += 0.3;
                }
                if r[self.amount] > self.spike_ratio * r[self.card_avg_30d] {
                    s += 0.2;
                }
                s
            })
            .collect()
    }
}

/// A flattened decision tree whose leaves hold a fraud probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbabilityTree {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    /// `x[feature] < threshold` goes left (linfa's prediction rule).
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf {
        probability: f64,
    },
}

impl ProbabilityTree {
    /// Copies linfa's tree, then sets each leaf to its (Laplace-smoothed) fraud rate among
    /// the training rows `x`, `y` that reach it.
    fn from_linfa(
        tree: &DecisionTree<f64, bool>,
        x: ArrayView2<f64>,
        y: &[bool],
    ) -> ProbabilityTree {
        fn copy(node: &TreeNode<f64, bool>, nodes: &mut Vec<Node>) -> usize {
            let id = nodes.len();
            nodes.push(Node::Leaf { probability: 0.0 });
            if !node.is_leaf() {
                let (feature, threshold, _) = node.split();
                let children = node.children();
                let (Some(l), Some(r)) = (children[0].as_deref(), children[1].as_deref()) else {
                    return id;
                };
                let left = copy(l, nodes);
                let right = copy(r, nodes);
                nodes[id] = Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                };
            }
            id
        }
        let mut nodes = Vec::new();
        copy(tree.root_node(), &mut nodes);
        let mut tree = ProbabilityTree { nodes };
        let mut counts = vec![(0.0f64, 0.0f64); tree.nodes.len()];
        for (row, &label) in x.axis_iter(Axis(0)).zip(y) {
            let leaf = tree.leaf_of(|j| row[j]);
            counts[leaf].0 += f64::from(u8::from(label));
            counts[leaf].1 += 1.0;
        }
        for (node, (frauds, total)) in tree.nodes.iter_mut().zip(counts) {
            if let Node::Leaf { probability } = node {
                *probability = (frauds + 1.0) / (total + 2.0);
            }
        }
        tree
    }

    /// The leaf a row reaches; `value(j)` is the row's feature `j`.
    fn leaf_of(&self, value: impl Fn(usize) -> f64) -> usize {
        let mut i = 0;
        while let Node::Split {
            feature,
            threshold,
            left,
            right,
        } = &self.nodes[i]
        {
            i = if value(*feature) < *threshold {
                *left
            } else {
                *right
            };
        }
        i
    }

    fn probability(&self, value: impl Fn(usize) -> f64) -> f64 {
        match self.nodes[self.leaf_of(value)] {
            Node::Leaf { probability } => probability,
            Node::Split { .. } => 0.0,
        }
    }

    pub fn n_leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf { .. }))
            .count()
    }
}

/// A fitted estimator of any kind.
#[derive(Serialize, Deserialize)]
pub enum Estimator {
    Rules(RulesModel),
    Logistic(FittedLogisticRegression<f64, bool>),
    Tree(ProbabilityTree),
    /// Each tree with the feature subset it was trained on.
    Forest(Vec<(Vec<usize>, ProbabilityTree)>),
    Boosting(Box<GradientBooster>),
}

impl std::fmt::Debug for Estimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Estimator::Rules(r) => r.fmt(f),
            Estimator::Logistic(m) => m.fmt(f),
            Estimator::Tree(t) => write!(f, "Tree({} leaves)", t.n_leaves()),
            Estimator::Forest(trees) => write!(f, "Forest({} trees)", trees.len()),
            // GradientBooster has no Debug.
            Estimator::Boosting(_) => f.write_str("Boosting"),
        }
    }
}

/// The saved artifact: estimator + the preprocessing it was fitted with + its inputs.
#[derive(Debug, Serialize, Deserialize)]
pub struct FraudModel {
    pub kind: ModelKind,
    pub feature_names: Vec<String>,
    pub scaler: Scaler,
    pub estimator: Estimator,
}

impl FraudModel {
    /// Fraud probability (or score in [0, 1]) for each row of raw, unscaled features.
    pub fn predict_proba(&self, x: ArrayView2<f64>) -> Result<Vec<f64>> {
        if x.ncols() != self.feature_names.len() {
            return Err(Error::Artifact(format!(
                "model expects {} features, got {}",
                self.feature_names.len(),
                x.ncols()
            )));
        }
        Ok(match &self.estimator {
            Estimator::Rules(r) => r.score(x),
            Estimator::Logistic(m) => {
                let p = m.predict_probabilities(&self.scaler.transform(x));
                // linfa's "positive" class is the *more frequent* label (here: legit), not
                // the larger value, so read which one it is before using the probability.
                if m.labels().pos.class {
                    p.to_vec()
                } else {
                    p.iter().map(|p| 1.0 - p).collect()
                }
            }
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
        })
    }
}

fn column_major(x: ArrayView2<f64>) -> (Vec<f64>, usize, usize) {
    let mut data = Vec::with_capacity(x.len());
    for c in x.axis_iter(Axis(1)) {
        data.extend(c.iter());
    }
    (data, x.nrows(), x.ncols())
}

/// Keeps every fraud and `ratio` random legit rows per fraud (seeded).
fn undersample(x: &Array2<f64>, y: &[bool], ratio: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let positives: Vec<usize> = (0..y.len()).filter(|&i| y[i]).collect();
    let mut negatives: Vec<usize> = (0..y.len()).filter(|&i| !y[i]).collect();
    negatives.shuffle(&mut rng);
    negatives.truncate(positives.len() * ratio);
    let mut keep: Vec<usize> = positives.into_iter().chain(negatives).collect();
    keep.sort_unstable();
    let xs = x.select(Axis(0), &keep);
    let ys = keep.iter().map(|&i| y[i]).collect();
    (xs, ys)
}

fn train_error(kind: ModelKind) -> impl Fn(String) -> Error {
    move |why| Error::Train {
        model: kind.name().into(),
        why,
    }
}

/// Fits one model on raw training features `x` (rows × `feature_names`) and labels `y`.
pub fn fit(
    kind: ModelKind,
    x: &Array2<f64>,
    y: &[bool],
    feature_names: &[String],
    cfg: &ModelConfig,
) -> Result<FraudModel> {
    let err = train_error(kind);
    if x.nrows() != y.len() || x.ncols() != feature_names.len() {
        return Err(err(format!(
            "{}×{} features for {} labels",
            x.nrows(),
            x.ncols(),
            y.len()
        )));
    }
    let positives = y.iter().filter(|&&l| l).count();
    if positives == 0 || positives == y.len() {
        return Err(err(format!(
            "needs both classes, got {positives} frauds in {} rows",
            y.len()
        )));
    }
    let scaler = Scaler::fit(x);
    let estimator = match kind {
        ModelKind::Rules => Estimator::Rules(RulesModel::new(feature_names)?),
        ModelKind::LogisticRegression => {
            // Talking point: no resampling for a ranking metric — it would only move the
            // intercept, and AUC/AP do not see the intercept.
            let data = Dataset::new(scaler.transform(x.view()), Array1::from(y.to_vec()));
            let model = LogisticRegression::default()
                .alpha(cfg.logistic_alpha)
                .max_iterations(cfg.logistic_max_iterations)
                .fit(&data)
                .map_err(|e| err(e.to_string()))?;
            Estimator::Logistic(model)
        }
        ModelKind::DecisionTreeDepth2 | ModelKind::DecisionTree => {
            let depth = (kind == ModelKind::DecisionTreeDepth2).then_some(2);
            // Talking point: class imbalance — undersample legit rows for the trees only.
            let (xs, ys) = undersample(x, y, cfg.tree_negatives_per_positive, cfg.seed);
            let data = Dataset::new(xs.clone(), Array1::from(ys.clone()));
            let tree = DecisionTree::params()
                .max_depth(depth)
                .fit(&data)
                .map_err(|e| err(e.to_string()))?;
            Estimator::Tree(ProbabilityTree::from_linfa(&tree, xs.view(), &ys))
        }
        ModelKind::RandomForest => {
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
            .map_err(|e| err(e.to_string()))?;
            let trees = forest
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
                .collect();
            Estimator::Forest(trees)
        }
        ModelKind::GradientBoosting => {
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
                .map_err(|e| err(e.to_string()))?;
            Estimator::Boosting(Box::new(booster))
        }
    };
    Ok(FraudModel {
        kind,
        feature_names: feature_names.to_vec(),
        scaler,
        estimator,
    })
}
