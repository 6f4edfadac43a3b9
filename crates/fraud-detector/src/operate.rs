//! Stage 12 — the production loop over simulated months (`mlsd operate fraud`): the fraud
//! design's [`World`] for [`mlsd_core::operate`].
//!
//! Each day's payments go through the serving path's parts — the online feature store and
//! the served artifact's calibrated probabilities — and the features the store computed are
//! logged with the payment; labels come back 7 days later (the handbook's delay) and are
//! recorded in the store (terminal risk) and beside the logged features. A retrain fits
//! gradient boosting on the trailing labelled weeks of those logged features, then
//! calibrates it and sizes its alert threshold to the investigators' budget, as the pipeline
//! does. (Boosting, not logistic regression: a linear score cannot rank both "large amount"
//! and "tiny amounts at night" high, so a retrained logistic regression stayed at AP ~0.3
//! after the drift below; boosting also trains faster here.)
//!
//! The drift: from `drift_at`, a new fraud pattern (card testing: bursts of small night-time
//! payments at far-away terminals). It is concept drift for the served model — payments that
//! look like the legitimate small ones it saw now are fraud — so its scores do not move and
//! the label-free estimate cannot see it; only labels can, a week later.
//!
//! The broken candidate: the same training job with a unit bug (amounts in cents). Its
//! offline evaluation, on the same buggy features, looks fine; served on amounts in euros it
//! misses every large-amount fraud.
//!
//! Talking points: training on logged serving features (no training/serving skew by
//! construction), label delay as the floor on detection, a broken model stopped by the
//! realised metric at the canary's first step.
//!
//! Simplification: the replay calls the store and the artifact in-process (no HTTP; the
//! server's shadow and canary are tested over HTTP in `tests/it/rollout.rs`), and only
//! gradient boosting is retrained (seconds, not minutes, per retrain).

use mlsd_core::estimate::expected_average_precision;
use mlsd_core::lifecycle::Gates;
use mlsd_core::metrics::average_precision;
use mlsd_core::operate::{Traffic, World};
use ndarray::Array2;

use crate::artifact::{calibrate, FraudArtifact};
use crate::config::{DecisionBudget, DriftInjection, ModelConfig, SimulationConfig};
use crate::features::FeatureSpec;
use crate::online::{transactions_of, InMemoryFeatureStore, Transaction};
use crate::simulate::simulate;
use crate::train::{fit, ModelKind};
use crate::{Error, Result};

/// The world's settings, with the defaults `mlsd operate fraud` uses.
#[derive(Debug, Clone)]
pub struct FraudWorldConfig {
    /// The simulator (its `n_days` and `drift` are set from the replay's days and drift day).
    pub simulation: SimulationConfig,
    /// Days simulated before the replay's day 0 (the first model's history; default 60).
    pub warmup_days: u32,
    /// Card-testing cards a day from the drift on (default: customers / 250, 20 by default).
    pub card_testing_per_day: usize,
    pub models: ModelConfig,
    pub decisions: DecisionBudget,
}

impl Default for FraudWorldConfig {
    fn default() -> Self {
        let simulation = SimulationConfig::default();
        FraudWorldConfig {
            card_testing_per_day: simulation.n_customers / 250,
            simulation,
            warmup_days: 60,
            models: ModelConfig::default(),
            decisions: DecisionBudget::default(),
        }
    }
}

/// One day's payments as served: their logged features and their labels.
struct Day {
    payments: Vec<(Transaction, bool)>,
    features: Vec<Vec<f64>>,
}

/// The simulated bank, one day at a time.
pub struct FraudWorld {
    days: Vec<Day>,
    store: InMemoryFeatureStore,
    spec: FeatureSpec,
    cfg: FraudWorldConfig,
}

impl FraudWorld {
    /// Simulates `warmup_days + days` days (drift from `warmup_days + drift_at`) and serves
    /// the warm-up days through the store.
    pub fn new(cfg: FraudWorldConfig, days: u32, drift_at: Option<u32>) -> Result<FraudWorld> {
        let simulation = SimulationConfig {
            n_days: cfg.warmup_days + days,
            drift: match drift_at {
                Some(d) => DriftInjection {
                    from_day: Some(cfg.warmup_days + d),
                    card_testing_per_day: cfg.card_testing_per_day,
                    ..DriftInjection::default()
                },
                None => DriftInjection::default(),
            },
            ..cfg.simulation.clone()
        };
        let (frame, _) = simulate(&simulation)?;
        let start_ms = crate::simulate::date_to_epoch_ms(&simulation.start_date)?;
        let mut days: Vec<Day> = (0..simulation.n_days)
            .map(|_| Day {
                payments: Vec::new(),
                features: Vec::new(),
            })
            .collect();
        for (tx, fraud) in transactions_of(&frame)? {
            let day = ((tx.datetime_ms - start_ms) / 86_400_000) as usize;
            if let Some(d) = days.get_mut(day) {
                d.payments.push((tx, fraud));
            }
        }
        let spec = FeatureSpec::default();
        let mut world = FraudWorld {
            days,
            store: InMemoryFeatureStore::new(spec.clone()),
            spec,
            cfg,
        };
        for day in 0..world.cfg.warmup_days {
            world.observe(day);
        }
        Ok(world)
    }

    /// The store sees day `day`: first the labels that land today, then its payments (whose
    /// features are logged).
    fn observe(&mut self, day: u32) -> &Day {
        // Talking point: a label lands `delay_days` after its payment, not with it.
        if let Some(landed) = day.checked_sub(self.spec.delay_days) {
            for (tx, fraud) in &self.days[landed as usize].payments {
                if *fraud {
                    self.store.record_label(tx.transaction_id, true);
                }
            }
        }
        let d = &mut self.days[day as usize];
        d.features = d
            .payments
            .iter()
            .map(|(tx, _)| self.store.observe(tx))
            .collect();
        d
    }
}

impl World for FraudWorld {
    type Model = FraudArtifact;
    type Error = Error;

    fn metric_name(&self) -> &'static str {
        "average_precision"
    }

    fn label_delay_days(&self) -> u32 {
        self.spec.delay_days
    }

    fn warmup_days(&self) -> u32 {
        self.cfg.warmup_days
    }

    fn train(&mut self, from: u32, to: u32, broken: bool) -> Result<FraudArtifact> {
        let names = self.spec.names();
        let (mut rows, mut y) = (Vec::new(), Vec::new());
        for d in &self.days[from as usize..to as usize] {
            for ((_, fraud), features) in d.payments.iter().zip(&d.features) {
                rows.extend_from_slice(features);
                y.push(*fraud);
            }
        }
        if broken {
            // The deliberate bug: amounts in cents (every amount column ×100).
            for (i, value) in rows.iter_mut().enumerate() {
                if names[i % names.len()].contains("amount") {
                    *value *= 100.0;
                }
            }
        }
        let x = Array2::from_shape_vec((y.len(), names.len()), rows)
            .map_err(|e| Error::Config(format!("training rows: {e}")))?;
        let kind = ModelKind::GradientBoosting;
        let model = fit(kind, &x, &y, &names, &self.cfg.models)?;
        let (platt, report) = calibrate(
            kind,
            (&x, &y),
            to - from,
            &names,
            &self.cfg.models,
            &self.cfg.decisions,
            &model,
            (&x, &y),
        )?;
        Ok(FraudArtifact {
            spec: self.spec.clone(),
            model,
            calibration: Some(platt),
            thresholds: Some(report.thresholds),
        })
    }

    fn serve(&mut self, day: u32, models: &[&FraudArtifact]) -> Result<Traffic> {
        let width = self.spec.names().len();
        let d = self.observe(day);
        let x = Array2::from_shape_vec((d.features.len(), width), d.features.concat())
            .map_err(|e| Error::Config(format!("serving rows: {e}")))?;
        let scores = models
            .iter()
            .map(|m| m.probabilities(x.view()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Traffic {
            // Talking point: the canary hashes the card, so one customer sees one model.
            entities: d
                .payments
                .iter()
                .map(|(tx, _)| tx.customer_id as u64)
                .collect(),
            labels: d.payments.iter().map(|(_, fraud)| Some(*fraud)).collect(),
            scores,
        })
    }

    fn metric(&self, labels: &[bool], scores: &[f64]) -> Option<f64> {
        average_precision(labels, scores).ok()
    }

    fn estimate(&self, scores: &[f64]) -> Option<f64> {
        expected_average_precision(scores).ok()
    }

    /// About two days of labelled traffic (~150 frauds) before the canary widens: AP on
    /// fewer frauds moves by more than the guardrail's margin by chance.
    fn gates(&self) -> Gates {
        Gates {
            min_evaluated: 1_000,
            min_labelled: 20_000,
            ..Gates::default()
        }
    }

    /// A week's AP on ~560 frauds moves by ±0.04 by chance (0.65–0.72 before the drift, seed
    /// 42): a 0.05 margin raised false alarms, 0.08 does not.
    fn alarm_margin(&self) -> f64 {
        0.08
    }

    fn decide(&self, model: &FraudArtifact, scores: &[f64]) -> Vec<bool> {
        let review = model.thresholds().review;
        scores.iter().map(|&p| p >= review).collect()
    }
}
