//! Stage 3 — models: baselines, and a multi-task ranker (one head per engagement) combined into
//! one value score with stated weights.
//!
//! ```text
//! feature rows ─► head "click"      P(click | shown)        ─┐
//!              ─► head "long_dwell" P(read ≥ 30 s | shown)   ─┼─► value = Σ weight × P
//!              ─► head "share"      P(share | shown)         ─┤
//!              ─► head "hide"       P(hide | shown)          ─┘   (hide weighs negative)
//! ```
//!
//! Talking points: a baseline first (random, recency, popularity, a smoothed CTR — the last
//! is what the MIND anchor computes); one engagement is not the objective (ranking by click
//! probability alone rewards clickbait); the weights are a product decision, stated and
//! versioned with the model; the position enters training only and is a constant at serving
//! (the position-bias correction of PAL, RecSys 2019).

use mlsd_tabular::{Estimator, Learner, ModelConfig, Scaler};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Shown;
use crate::features::{POSITION, WIDTH};
use crate::{Error, Result};

/// A score that needs no training.
/// Talking point [rules-baseline]: recency, popularity and a smoothed CTR: what a feed ships before
/// a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Baseline {
    Random,
    /// Newest first (publication time, or first seen).
    Recency,
    /// Most clicks so far.
    Popularity,
    /// The anchor's online smoothed CTR: (clicks + 0.1) / (impressions + 2).
    SmoothedCtr,
    /// The article's CTR among users who clicked what this user clicked.
    PersonalCtr,
}

impl Baseline {
    pub const ALL: [Baseline; 5] = [
        Baseline::Random,
        Baseline::Recency,
        Baseline::Popularity,
        Baseline::SmoothedCtr,
        Baseline::PersonalCtr,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Baseline::Random => "random",
            Baseline::Recency => "recency",
            Baseline::Popularity => "popularity",
            Baseline::SmoothedCtr => "smoothed CTR",
            Baseline::PersonalCtr => "personal CTR (co-clicks)",
        }
    }

    /// Scores rows of [`features::Counters::features`]; `rng` only for `Random`.
    pub fn score(self, rows: &[[f64; WIDTH]], rng: &mut ChaCha8Rng) -> Vec<f64> {
        rows.iter()
            .map(|r| match self {
                Baseline::Random => rng.gen::<f64>(),
                Baseline::Recency => -r[5],
                Baseline::Popularity => r[2],
                // Talking point [baseline]: the anchor's online smoothed CTR, reproduced to the
                // third decimal.
                Baseline::SmoothedCtr => (r[2].exp_m1() + 0.1) / (r[1].exp_m1() + 2.0),
                Baseline::PersonalCtr => r[6],
            })
            .collect()
    }
}

/// The engagements the ranker predicts, one head each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Head {
    Click,
    LongDwell,
    Share,
    Hide,
}

impl Head {
    pub const ALL: [Head; 4] = [Head::Click, Head::LongDwell, Head::Share, Head::Hide];

    pub fn name(self) -> &'static str {
        match self {
            Head::Click => "click",
            Head::LongDwell => "long_dwell",
            Head::Share => "share",
            Head::Hide => "hide",
        }
    }

    pub fn label(self, s: &Shown) -> bool {
        match self {
            Head::Click => s.click,
            Head::LongDwell => s.long_dwell(),
            Head::Share => s.share,
            Head::Hide => s.hide,
        }
    }
}

/// The value weights: what one predicted engagement is worth. Stated, not learned — a product
/// decision (Twitter's open-sourced home ranker weighs a like 0.5, a reply 27, negative
/// feedback −74).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights(pub Vec<(Head, f64)>);

impl Weights {
    /// Click-through only: the ranker an engagement-at-all-costs team ships.
    pub fn ctr_only() -> Self {
        Weights(vec![(Head::Click, 1.0)])
    }
    /// The multi-objective default: a read is worth 3 clicks, a share 5, a hide −10.
    pub fn value() -> Self {
        Weights(vec![
            (Head::Click, 1.0),
            (Head::LongDwell, 3.0),
            (Head::Share, 5.0),
            (Head::Hide, -10.0),
        ])
    }
}

/// Which learner the heads use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    Logistic,
    Boosting,
}

impl Family {
    fn learner(self) -> Learner {
        match self {
            Family::Logistic => Learner::NewtonLogistic,
            Family::Boosting => Learner::GradientBoosting,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Family::Logistic => "logistic regression",
            Family::Boosting => "gradient boosting",
        }
    }
}

/// How to train a ranker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankerSpec {
    pub family: Family,
    pub weights: Weights,
    /// Train with the position as a feature (set to 0 when serving): the bias correction.
    pub position_feature: bool,
    pub model: ModelConfig,
}

impl RankerSpec {
    pub fn new(family: Family, weights: Weights, position_feature: bool, seed: u64) -> Self {
        RankerSpec {
            family,
            weights,
            position_feature,
            model: ModelConfig {
                seed,
                logistic_alpha: 1.0,
                logistic_max_iterations: 25,
                boosting_iterations: 200,
                boosting_learning_rate: 0.05,
                boosting_max_depth: 2,
                ..ModelConfig::default()
            },
        }
    }
}

/// A trained multi-task ranker.
#[derive(Serialize, Deserialize)]
pub struct Ranker {
    pub spec: RankerSpec,
    scaler: Scaler,
    heads: Vec<(Head, f64, Estimator)>,
}

impl std::fmt::Debug for Ranker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranker").field("spec", &self.spec).finish()
    }
}

/// Training rows with every head's label.
#[derive(Debug, Default, Clone)]
pub struct TrainingSet {
    pub rows: Vec<[f64; WIDTH]>,
    pub shown: Vec<Shown>,
}

impl TrainingSet {
    pub fn push(&mut self, rows: Vec<[f64; WIDTH]>, shown: &[Shown]) {
        self.rows.extend(rows);
        self.shown.extend_from_slice(shown);
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn matrix(rows: &[[f64; WIDTH]], position: bool) -> Array2<f64> {
    let mut x = Array2::zeros((rows.len(), WIDTH));
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate() {
            x[[i, j]] = if j == POSITION && !position { 0.0 } else { *v };
        }
    }
    x
}

impl Ranker {
    /// Fits one head per weighted engagement on `set`.
    pub fn fit(spec: RankerSpec, set: &TrainingSet) -> Result<Ranker> {
        if set.is_empty() {
            return Err(Error::Train("no training rows".into()));
        }
        let x = matrix(&set.rows, spec.position_feature);
        let scaler = Scaler::fit(&x);
        let mut heads = Vec::new();
        for &(head, weight) in &spec.weights.0 {
            let y: Vec<bool> = set.shown.iter().map(|s| head.label(s)).collect();
            if !y.iter().any(|&l| l) || y.iter().all(|&l| l) {
                return Err(Error::Train(format!(
                    "head {} has one class only in {} rows",
                    head.name(),
                    y.len()
                )));
            }
            let fit = Estimator::fit(spec.family.learner(), &scaler, &x, &y, &spec.model)
                .map_err(Error::Train)?;
            heads.push((head, weight, fit));
        }
        Ok(Ranker {
            spec,
            scaler,
            heads,
        })
    }

    /// Each head's probability for each row (serving: the position column is zeroed).
    pub fn heads(&self, rows: &[[f64; WIDTH]]) -> Vec<(Head, Vec<f64>)> {
        let x = matrix(rows, false);
        self.heads
            .iter()
            .map(|(h, _, e)| (*h, e.predict_proba(&self.scaler, x.view())))
            .collect()
    }

    /// The value score of each row: Σ weight × P(engagement).
    // Talking point [objective]: one score from several predicted engagements, weights stated.
    pub fn score(&self, rows: &[[f64; WIDTH]]) -> Vec<f64> {
        let x = matrix(rows, false);
        let mut value = vec![0.0; rows.len()];
        for (_, w, e) in &self.heads {
            for (v, p) in value
                .iter_mut()
                .zip(e.predict_proba(&self.scaler, x.view()))
            {
                *v += w * p;
            }
        }
        value
    }

    pub fn name(&self) -> String {
        let objective = if self.spec.weights.0.len() == 1 {
            "CTR"
        } else {
            "multi-objective"
        };
        format!("{} ({objective})", self.spec.family.name())
    }
}

/// The seeded generator baselines use.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
