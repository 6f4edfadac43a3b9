//! The production loop over simulated months (`mlsd operate sentiment`): the sentiment
//! design's [`World`] for [`mlsd_core::operate`].
//!
//! Each day, reviews from the seeded generator arrive from 10,000 authors; a sample of them
//! (10 % by default) goes to human annotators and comes back labelled the next day — the
//! only labels this design ever gets. A retrain fits the served model (NBSVM with its
//! hold-out calibration) on the trailing weeks of those labelled samples.
//!
//! The drift: from `drift_at`, the shop starts selling trips — most reviews are about hotels
//! ([`Domain::Travel`]: the same grammar, none of the aspect words). It is covariate shift:
//! the model meets words it never saw, its scores fall towards the middle, and the
//! label-free estimate (expected accuracy from calibrated probabilities) falls with them the
//! same day — unlike the fraud design's concept drift.
//!
//! The broken candidate: the labels joined to the wrong texts (the annotation file read one
//! row off). Its decisions disagree with the primary's on about half of the reviews, which
//! the shadow stage sees without a single label.
//!
//! Simplification: the replay calls the artifact in-process (no HTTP).

use mlsd_core::estimate::expected_accuracy;
use mlsd_core::lifecycle::Gates;
use mlsd_core::operate::{Traffic, World};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::artifact::SentimentArtifact;
use crate::data::Example;
use crate::reviews::{generate, Domain};
use crate::text::TextConfig;
use crate::{Error, Result};

/// The world's settings, with the defaults `mlsd operate sentiment` uses.
#[derive(Debug, Clone)]
pub struct SentimentWorldConfig {
    pub seed: u64,
    /// Reviews a day (default 2,000).
    pub reviews_per_day: usize,
    /// Share of reviews sent to annotators (default 0.1).
    pub labelled_share: f64,
    /// Share of reviews about travel from the drift on (default 0.6).
    pub travel_share: f64,
    /// Days simulated before the replay's day 0 (default 21).
    pub warmup_days: u32,
    pub text: TextConfig,
}

impl Default for SentimentWorldConfig {
    fn default() -> Self {
        SentimentWorldConfig {
            seed: 42,
            reviews_per_day: 2_000,
            labelled_share: 0.1,
            travel_share: 0.6,
            warmup_days: 21,
            text: TextConfig::default(),
        }
    }
}

/// One day's reviews: who wrote them, and whether each was sent for a label.
struct Day {
    reviews: Vec<Example>,
    authors: Vec<u64>,
    sampled: Vec<bool>,
}

/// The simulated review stream, one day at a time.
pub struct SentimentWorld {
    days: Vec<Day>,
    cfg: SentimentWorldConfig,
}

impl SentimentWorld {
    pub fn new(cfg: SentimentWorldConfig, days: u32, drift_at: Option<u32>) -> Result<Self> {
        if !(0.0..=1.0).contains(&cfg.labelled_share) || !(0.0..=1.0).contains(&cfg.travel_share) {
            return Err(Error::Config("shares must be in [0, 1]".into()));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let drift_from = drift_at.map(|d| cfg.warmup_days + d);
        let days = (0..cfg.warmup_days + days)
            .map(|day| {
                let travel = match drift_from {
                    Some(from) if day >= from => cfg.travel_share,
                    _ => 0.0,
                };
                let n_travel = (cfg.reviews_per_day as f64 * travel).round() as usize;
                let seed = cfg.seed ^ (u64::from(day) << 20);
                let mut reviews = generate(Domain::Gadgets, cfg.reviews_per_day - n_travel, seed);
                reviews.extend(generate(Domain::Travel, n_travel, seed + 1));
                let n = reviews.len();
                Day {
                    reviews,
                    authors: (0..n).map(|_| rng.gen_range(0..10_000)).collect(),
                    sampled: (0..n).map(|_| rng.gen_bool(cfg.labelled_share)).collect(),
                }
            })
            .collect();
        Ok(SentimentWorld { days, cfg })
    }
}

impl World for SentimentWorld {
    type Model = SentimentArtifact;
    type Error = Error;

    fn metric_name(&self) -> &'static str {
        "accuracy"
    }

    fn label_delay_days(&self) -> u32 {
        1
    }

    fn warmup_days(&self) -> u32 {
        self.cfg.warmup_days
    }

    fn train(&mut self, from: u32, to: u32, broken: bool) -> Result<SentimentArtifact> {
        let mut labelled: Vec<Example> = self.days[from as usize..to as usize]
            .iter()
            .flat_map(|d| {
                d.reviews
                    .iter()
                    .zip(&d.sampled)
                    .filter(|(_, s)| **s)
                    .map(|(e, _)| e.clone())
            })
            .collect();
        if labelled.len() < 20 {
            return Err(Error::Config(format!(
                "{} labelled reviews in days {from}..{to}: too few to train",
                labelled.len()
            )));
        }
        if broken {
            // The deliberate bug: each label joined to the next row's text.
            let first = labelled[0].positive;
            for i in 0..labelled.len() - 1 {
                labelled[i].positive = labelled[i + 1].positive;
            }
            if let Some(last) = labelled.last_mut() {
                last.positive = first;
            }
        }
        Ok(SentimentArtifact::train_with_holdout(&labelled, &self.cfg.text).0)
    }

    fn serve(&mut self, day: u32, models: &[&SentimentArtifact]) -> Result<Traffic> {
        let d = &self.days[day as usize];
        Ok(Traffic {
            entities: d.authors.clone(),
            // Talking point [labels]: only the annotated sample is ever labelled.
            labels: d
                .reviews
                .iter()
                .zip(&d.sampled)
                .map(|(e, s)| s.then_some(e.positive))
                .collect(),
            scores: models
                .iter()
                .map(|m| {
                    d.reviews
                        .iter()
                        .map(|e| m.predict(&e.text).probability)
                        .collect()
                })
                .collect(),
        })
    }

    fn metric(&self, labels: &[bool], scores: &[f64]) -> Option<f64> {
        (!labels.is_empty()).then(|| {
            let right = labels
                .iter()
                .zip(scores)
                .filter(|(y, p)| (**p >= 0.5) == **y)
                .count();
            right as f64 / labels.len() as f64
        })
    }

    fn estimate(&self, scores: &[f64]) -> Option<f64> {
        expected_accuracy(scores).ok()
    }

    /// Four days of annotated samples (~800) before the canary widens, and a margin of 0.03:
    /// accuracy on 800 paired samples moves by ~0.015 by chance.
    fn gates(&self) -> Gates {
        Gates {
            min_evaluated: 400,
            min_labelled: 800,
            guardrail_margin: 0.03,
            ..Gates::default()
        }
    }

    fn decide(&self, _: &SentimentArtifact, scores: &[f64]) -> Vec<bool> {
        scores.iter().map(|&p| p >= 0.5).collect()
    }
}
