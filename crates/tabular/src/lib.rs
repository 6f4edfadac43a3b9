//! # mlsd-tabular — the models every design on feature rows shares
//!
//! Fraud scores payments from windowed features; predictive maintenance scores machines from
//! sensor features. Both need the same handful of tabular models and the plumbing around them:
//!
//! | module | what it does | talking points |
//! |---|---|---|
//! | [`scaler`] | standardisation fitted on the training split only | leakage, training/serving skew |
//! | [`tree`] | linfa's trees flattened, each leaf holding a (smoothed) positive rate | scores that rank, not labels |
//! | [`estimator`] | logistic regression, a tree, a random forest, gradient boosting: fit and predict probabilities | model choice and trade-offs |
//! | [`sampling`] | undersampling the majority class (seeded) | class imbalance |
//! | [`decision`] | thresholds that turn a score into approve / review / block | costs of errors, alert budgets |
//! | [`sql`] | every estimator as one SQL expression (warehouse / Spark batch scoring) | distributed processing |
//! | [`newton`] | logistic regression by Newton's method: exact in a few steps | model choice, training cost |
//! | [`regression`] | a number per row: mean, ridge, a random forest, gradient boosting | baselines, model choice |
//!
//! A design keeps what is its own (fraud's rules baseline, its model names) and wraps an
//! [`Estimator`] with the [`Scaler`] it was fitted with. One seed ([`ModelConfig::seed`])
//! drives every random step.

pub mod scaler;
pub mod tree;
pub mod sampling;
pub mod estimator;
pub mod decision;
pub mod regression;
pub mod newton;
pub mod sql;

pub use decision::{Decision, DecisionThresholds};
pub use estimator::{Estimator, Learner, ModelConfig};
pub use regression::{RegressionConfig, Regressor, RegressorKind};
pub use scaler::Scaler;
pub use tree::ProbabilityTree;
