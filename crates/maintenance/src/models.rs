//! Stage 3 — models for the two tasks.
//!
//! | task | baseline | models |
//! |---|---|---|
//! | remaining useful life (regression, capped target) | the training mean; a Weibull life table (what a plant engineer already has) | ridge, random forest, gradient boosting, and the forest + boosting average |
//! | failure within a horizon (AI4I, classification) | the dataset's documented physics as rules | logistic regression, a decision tree, gradient boosting, boosting with the rules' flags first |
//!
//! Talking points: "do we need ML?" (the rules and the life table come first); model choice
//! and trade-offs (training time in every table); predictions clipped to what the target can
//! be (never a negative life).

use mlsd_tabular::{
    Estimator, Learner, ModelConfig, RegressionConfig, Regressor, RegressorKind, Scaler,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::{Fleet, Machine};
use crate::{Error, Result};

/// The RUL models compared on one protocol, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulKind {
    /// Constant: the mean capped life of the training rows.
    Mean,
    /// Weibull fitted to the training lives: E[T − t | T > t] from the age alone.
    Weibull,
    Ridge,
    RandomForest,
    GradientBoosting,
    /// The mean of the forest's and the booster's predictions.
    ForestBoostingAverage,
}

impl RulKind {
    pub const ALL: [RulKind; 6] = [
        RulKind::Mean,
        RulKind::Weibull,
        RulKind::Ridge,
        RulKind::RandomForest,
        RulKind::GradientBoosting,
        RulKind::ForestBoostingAverage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RulKind::Mean => "mean (baseline)",
            RulKind::Weibull => "weibull life table (baseline)",
            RulKind::Ridge => "ridge",
            RulKind::RandomForest => "random forest",
            RulKind::GradientBoosting => "gradient boosting",
            // Talking point [trade-offs]: two fitted models averaged: lower error for twice the
            // prediction cost.
            RulKind::ForestBoostingAverage => "forest + boosting average",
        }
    }

    /// The registry's model name.
    pub fn id(self) -> &'static str {
        match self {
            RulKind::Mean => "mean",
            RulKind::Weibull => "weibull",
            RulKind::Ridge => "ridge",
            RulKind::RandomForest => "random_forest",
            RulKind::GradientBoosting => "gradient_boosting",
            RulKind::ForestBoostingAverage => "forest_boosting_average",
        }
    }

    pub fn parse(s: &str) -> Option<RulKind> {
        RulKind::ALL.into_iter().find(|k| k.id() == s)
    }
}

/// A fitted RUL model: predictions are clipped to `[0, cap]`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RulModel {
    pub kind: RulKind,
    pub cap: f64,
    parts: Vec<Regressor>,
    weibull: Option<Weibull>,
}

impl RulModel {
    /// Fits `kind` on feature rows `x` with capped targets `y` (`lives`: the training lives,
    /// for the Weibull table).
    pub fn fit(
        kind: RulKind,
        x: &Array2<f64>,
        y: &[f64],
        lives: &[f64],
        cap: f64,
        cfg: &RegressionConfig,
    ) -> Result<RulModel> {
        let fit = |k| Regressor::fit(k, x, y, cfg).map_err(Error::Train);
        let (parts, weibull) = match kind {
            RulKind::Mean => (vec![fit(RegressorKind::Mean)?], None),
            RulKind::Weibull => (vec![], Some(Weibull::fit(lives)?)),
            RulKind::Ridge => (vec![fit(RegressorKind::Ridge)?], None),
            RulKind::RandomForest => (vec![fit(RegressorKind::RandomForest)?], None),
            RulKind::GradientBoosting => (vec![fit(RegressorKind::GradientBoosting)?], None),
            RulKind::ForestBoostingAverage => (
                vec![
                    fit(RegressorKind::RandomForest)?,
                    fit(RegressorKind::GradientBoosting)?,
                ],
                None,
            ),
        };
        Ok(RulModel {
            kind,
            cap,
            parts,
            weibull,
        })
    }

    /// Predicted remaining life of each row, in `[0, cap]`. The age is the rows' last column.
    pub fn predict(&self, x: &Array2<f64>) -> Vec<f64> {
        let raw: Vec<f64> = match &self.weibull {
            Some(w) => x
                .rows()
                .into_iter()
                .map(|r| w.mean_residual_life(r[r.len() - 1]))
                .collect(),
            None => {
                let all: Vec<Vec<f64>> = self.parts.iter().map(|p| p.predict(x.view())).collect();
                (0..x.nrows())
                    .map(|i| all.iter().map(|p| p[i]).sum::<f64>() / all.len().max(1) as f64)
                    .collect()
            }
        };
        // Talking point: a life is never negative and the target never exceeds the cap.
        raw.into_iter().map(|v| v.clamp(0.0, self.cap)).collect()
    }
}

impl RulModel {
    // Used by the fleet job's SQL export (`export.rs`).
    /// The predicted remaining life as SQL over the feature columns, clamped to [0, cap].
    pub fn sql(&self, columns: &[String]) -> Result<String, String> {
        if self.weibull.is_some() {
            return Err("the Weibull life table has no SQL form".into());
        }
        let parts = self
            .parts
            .iter()
            .map(|p| p.sql(columns))
            .collect::<Result<Vec<_>, _>>()?;
        let raw = format!(
            "({} / {})",
            mlsd_core::sql::sum(&parts),
            mlsd_core::sql::double_of("the number of parts", self.parts.len().max(1) as f64)?
        );
        Ok(format!(
            "LEAST(GREATEST({raw}, 0.0D), {})",
            mlsd_core::sql::double_of("the cap", self.cap)?
        ))
    }
}

/// Rows as an ndarray matrix (all rows have `width` columns).
pub fn matrix(rows: &[Vec<f64>], width: usize) -> Array2<f64> {
    let mut m = Array2::zeros((rows.len(), width));
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().take(width).enumerate() {
            m[[i, j]] = *v;
        }
    }
    m
}

/// A two-parameter Weibull life distribution, fitted to complete lives by maximum
/// likelihood (Newton on the shape).
///
/// Talking point [baseline]: the reliability engineer's baseline — a fleet-wide life table knows
/// only the machine's age, no sensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weibull {
    pub shape: f64,
    pub scale: f64,
}

impl Weibull {
    pub fn fit(lives: &[f64]) -> Result<Weibull> {
        let lives: Vec<f64> = lives.iter().copied().filter(|l| *l > 0.0).collect();
        if lives.len() < 2 {
            return Err(Error::Train("a Weibull fit needs two lives".into()));
        }
        let n = lives.len() as f64;
        let mean_ln = lives.iter().map(|l| l.ln()).sum::<f64>() / n;
        let mut k: f64 = 2.0;
        for _ in 0..100 {
            let (mut s0, mut s1, mut s2) = (0.0, 0.0, 0.0);
            for l in &lives {
                let (p, ln) = (l.powf(k), l.ln());
                s0 += p;
                s1 += p * ln;
                s2 += p * ln * ln;
            }
            let f = s1 / s0 - 1.0 / k - mean_ln;
            let df = (s2 * s0 - s1 * s1) / (s0 * s0) + 1.0 / (k * k);
            let next = (k - f / df).clamp(0.05, 50.0);
            if (next - k).abs() < 1e-10 {
                k = next;
                break;
            }
            k = next;
        }
        let scale = (lives.iter().map(|l| l.powf(k)).sum::<f64>() / n).powf(1.0 / k);
        Ok(Weibull { shape: k, scale })
    }

    fn survival(&self, t: f64) -> f64 {
        (-(t.max(0.0) / self.scale).powf(self.shape)).exp()
    }

    /// E[T − t | T > t], by the trapezoid rule over the survival curve.
    pub fn mean_residual_life(&self, t: f64) -> f64 {
        let s_t = self.survival(t);
        if s_t < 1e-12 {
            return 0.0;
        }
        let (step, mut area, mut u) = (self.scale / 200.0, 0.0, t);
        while self.survival(u) > 1e-9 * s_t && u < t + 20.0 * self.scale {
            area += 0.5 * (self.survival(u) + self.survival(u + step)) * step;
            u += step;
        }
        area / s_t
    }
}

/// The lives that ended in a failure (their length in cycles).
pub fn failed_lives(fleet: &Fleet) -> Vec<f64> {
    fleet
        .machines
        .iter()
        .filter_map(|m: &Machine| match m.end {
            crate::data::End::Failed(at) => {
                let first = m.readings.first().map_or(1, |r| r.cycle);
                Some(f64::from(at) - f64::from(first) + 1.0)
            }
            crate::data::End::Censored(_) => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// AI4I: failure classification

/// The classifiers compared on AI4I, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Rules,
    LogisticRegression,
    DecisionTree,
    GradientBoosting,
    RulesThenBoosting,
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Rules,
        FailureKind::LogisticRegression,
        FailureKind::DecisionTree,
        FailureKind::GradientBoosting,
        FailureKind::RulesThenBoosting,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Rules => "physics rules (baseline)",
            FailureKind::LogisticRegression => "logistic regression",
            FailureKind::DecisionTree => "decision tree (depth 6)",
            FailureKind::GradientBoosting => "gradient boosting",
            FailureKind::RulesThenBoosting => "rules, then boosting",
        }
    }
}

/// AI4I model inputs: the five readings, the type as one-hot, and three physical quantities
/// the documentation names (power, the temperature gap, wear × torque). Nothing else: the
/// failure-mode columns never reach this function.
pub const AI4I_FEATURES: [&str; 11] = [
    "air_temperature_k",
    "process_temperature_k",
    "rotational_speed_rpm",
    "torque_nm",
    "tool_wear_min",
    "type_l",
    "type_m",
    "type_h",
    "power_w",
    "temperature_gap_k",
    "wear_torque",
];

/// One AI4I feature row from a machine snapshot (`kind` L/M/H, values as in
/// [`crate::data::AI4I_SENSORS`]).
pub fn ai4i_row(kind: &str, v: &[f64]) -> Vec<f64> {
    let (air, process, rpm, torque, wear) = (v[0], v[1], v[2], v[3], v[4]);
    let one_hot = |k: &str| f64::from(u8::from(kind == k));
    vec![
        air,
        process,
        rpm,
        torque,
        wear,
        one_hot("L"),
        one_hot("M"),
        one_hot("H"),
        torque * rpm * std::f64::consts::TAU / 60.0,
        process - air,
        wear * torque,
    ]
}

/// The dataset's documented failure physics on the inputs alone: heat dissipation (gap
/// < 8.6 K and < 1,380 rpm), power outside 3,500–9,000 W, overstrain (wear × torque above
/// 11,000 / 12,000 / 13,000 min·Nm for L / M / H).
///
/// Talking point [rules-baseline]: "do we need ML?" — these three rules reproduce the HDF, PWF and
/// OSF flags and are the baseline every model is compared with.
pub fn ai4i_rules(row: &[f64]) -> bool {
    let (rpm, power, gap, strain) = (row[2], row[8], row[9], row[10]);
    let limit = if row[5] > 0.5 {
        11_000.0
    } else if row[6] > 0.5 {
        12_000.0
    } else {
        13_000.0
    };
    (gap < 8.6 && rpm < 1_380.0) || !(3_500.0..=9_000.0).contains(&power) || strain > limit
}

/// A fitted failure classifier.
pub struct FailureModel {
    pub kind: FailureKind,
    scaler: Scaler,
    estimator: Option<Estimator>,
}

impl FailureModel {
    pub fn fit(kind: FailureKind, x: &Array2<f64>, y: &[bool], cfg: &ModelConfig) -> Result<Self> {
        let scaler = Scaler::fit(x);
        let learner = match kind {
            FailureKind::Rules => None,
            FailureKind::LogisticRegression => Some(Learner::LogisticRegression),
            FailureKind::DecisionTree => Some(Learner::DecisionTree { max_depth: Some(6) }),
            FailureKind::GradientBoosting | FailureKind::RulesThenBoosting => {
                Some(Learner::GradientBoosting)
            }
        };
        let estimator = match learner {
            Some(l) => Some(Estimator::fit(l, &scaler, x, y, cfg).map_err(Error::Train)?),
            None => None,
        };
        Ok(FailureModel {
            kind,
            scaler,
            estimator,
        })
    }

    /// A score per row (higher = more likely to fail): probabilities, or for the rules 1 for
    /// a rule hit and the tool wear (scaled below 1) as the tie-breaker.
    pub fn score(&self, x: &Array2<f64>) -> Vec<f64> {
        let rules = |r: ndarray::ArrayView1<f64>| {
            let row = r.to_vec();
            f64::from(u8::from(ai4i_rules(&row)))
        };
        match (&self.estimator, self.kind) {
            (None, _) => x
                .rows()
                .into_iter()
                .map(|r| rules(r) + r[4] / 1_000.0)
                .collect(),
            (Some(e), FailureKind::RulesThenBoosting) => e
                .predict_proba(&self.scaler, x.view())
                .into_iter()
                .zip(x.rows())
                .map(|(p, r)| rules(r) + p)
                .collect(),
            (Some(e), _) => e.predict_proba(&self.scaler, x.view()),
        }
    }
}
