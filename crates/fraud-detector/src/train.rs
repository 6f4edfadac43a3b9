//! Stage 3 — the models, from what a bank runs before ML to gradient boosting.
//!
//! The learned models are the shared tabular crate's (`mlsd-tabular`: scaler, probability
//! trees, forest, boosting, undersampling); this file names them for the design, adds the
//! rules baseline, and keeps the fitted scaler with the estimator.
//!
//! | model | crate | why it is here |
//! |---|---|---|
//! | `rules` | ours | the baseline every fraud team starts from: static limits and hot lists |
//! | `logistic_regression` | linfa-logistic | fast, explainable, calibrated-ish; the handbook's workhorse |
//! | `undersampled_tree_depth2` | linfa-trees | three questions a human can audit |
//! | `undersampled_tree` | linfa-trees | unlimited depth: memorises, shows overfitting |
//! | `undersampled_forest` | linfa-ensemble | bagged trees on feature subsets: variance down |
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

use mlsd_core::sql::double_of;
use mlsd_tabular::{Learner, Scaler};
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::{Error, Result};

/// Every model this design trains, in the order the evaluation table prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Rules,
    LogisticRegression,
    /// Not the handbook's "decision tree, depth 2": trained on undersampled rows (10 legit per
    /// fraud) with each leaf's fraud rate re-estimated on all training rows. Versions
    /// registered under the old names still load.
    #[serde(alias = "decision_tree_depth2")]
    UndersampledTreeDepth2,
    #[serde(alias = "decision_tree")]
    UndersampledTree,
    /// linfa's forest on the undersampled rows (the handbook's forest sees every row).
    #[serde(alias = "random_forest")]
    UndersampledForest,
    GradientBoosting,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Rules,
        ModelKind::LogisticRegression,
        ModelKind::UndersampledTreeDepth2,
        ModelKind::UndersampledTree,
        ModelKind::UndersampledForest,
        ModelKind::GradientBoosting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Rules => "rules",
            ModelKind::LogisticRegression => "logistic_regression",
            ModelKind::UndersampledTreeDepth2 => "undersampled_tree_depth2",
            ModelKind::UndersampledTree => "undersampled_tree",
            ModelKind::UndersampledForest => "undersampled_forest",
            ModelKind::GradientBoosting => "gradient_boosting",
        }
    }

    /// The kind called `name`; the earlier names (`decision_tree_depth2`, `decision_tree`,
    /// `random_forest`) are still understood.
    pub fn from_name(name: &str) -> Option<ModelKind> {
        let name = match name {
            "decision_tree_depth2" => "undersampled_tree_depth2",
            "decision_tree" => "undersampled_tree",
            "random_forest" => "undersampled_forest",
            other => other,
        };
        ModelKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Talking point [rules-baseline]: do we need ML? Measure the lift over the rules a bank runs
/// without it. The rules baseline: what a fraud team deploys before any model.
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

    /// [`RulesModel::score`] as SQL over the feature expressions `columns`, hits added in the
    /// same order.
    pub fn sql(&self, columns: &[String]) -> Result<String, String> {
        let (amount, avg, risk) = (
            &columns[self.amount],
            &columns[self.card_avg_30d],
            &columns[self.terminal_risk_30d],
        );
        Ok(format!(
            "(0.0D + CASE WHEN {amount} > {} THEN 0.5D ELSE 0.0D END \
             + CASE WHEN {risk} > 0.0D THEN 0.3D ELSE 0.0D END \
             + CASE WHEN {amount} > {} * {avg} THEN 0.2D ELSE 0.0D END)",
            double_of("the amount limit", self.amount_limit)?,
            double_of("the spike ratio", self.spike_ratio)?
        ))
    }
}

/// A fitted estimator: the rules baseline, or one of the shared tabular models.
#[derive(Debug, Serialize, Deserialize)]
pub enum Estimator {
    Rules(RulesModel),
    /// Serialised as the tabular estimator itself (`{"Logistic": …}`), as versions registered
    /// before the models moved to `mlsd-tabular` were: they still load.
    #[serde(untagged)]
    Learned(mlsd_tabular::Estimator),
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
            Estimator::Learned(m) => m.predict_proba(&self.scaler, x),
        })
    }
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
    let learner = match kind {
        ModelKind::Rules => None,
        // Talking point [baseline]: logistic regression is the model to beat — fast, calibratable,
        // explainable.
        ModelKind::LogisticRegression => Some(Learner::LogisticRegression),
        ModelKind::UndersampledTreeDepth2 => Some(Learner::DecisionTree { max_depth: Some(2) }),
        ModelKind::UndersampledTree => Some(Learner::DecisionTree { max_depth: None }),
        // Talking point [trade-offs]: the forest buys AP with ~100× the prediction time of logistic
        // regression.
        ModelKind::UndersampledForest => Some(Learner::RandomForest),
        ModelKind::GradientBoosting => Some(Learner::GradientBoosting),
    };
    let estimator = match learner {
        None => Estimator::Rules(RulesModel::new(feature_names)?),
        Some(learner) => Estimator::Learned(
            mlsd_tabular::Estimator::fit(learner, &scaler, x, y, cfg).map_err(&err)?,
        ),
    };
    Ok(FraudModel {
        kind,
        feature_names: feature_names.to_vec(),
        scaler,
        estimator,
    })
}
