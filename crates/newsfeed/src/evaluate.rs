//! Stage 5 — evaluation: the MIND protocol on the sample, beside the published table.
//!
//! ```text
//! log (time order) ─► replay: features from the counters ─► train rows (days before the last)
//!                             then learn the outcomes     ─► test lists (the last day)
//! test lists ─► baselines, logistic regression, boosting, an ensemble ─► AUC, MRR, nDCG@5/10
//! ```
//!
//! As MIND's official `evaluate.py`: metrics per impression, plain mean over impressions,
//! impressions without both a click and a non-click left out. Every score uses only what
//! happened before its impression (the counters are updated after scoring it).
//!
//! Talking points: a time split, not a random one (a random split lets tomorrow's clicks into
//! today's CTR); baselines first; offline metrics on logged clicks are not the online truth
//! (the simulator protocol in [`crate::experiments`] measures against true relevance).

use std::time::Instant;

use mlsd_core::metrics::{list_metrics, ListMetrics};
use serde::Serialize;

use crate::data::{Impression, Log};
use crate::features::{Counters, FeatureConfig, WIDTH};
use crate::models::{self, Baseline, Family, Ranker, RankerSpec, TrainingSet, Weights};
use crate::{Error, Result};

/// One model's row of a table.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    pub name: String,
    pub auc: f64,
    pub mrr: f64,
    pub ndcg_at_5: f64,
    pub ndcg_at_10: f64,
}

impl ModelRow {
    /// The plain mean over lists, as `evaluate.py`.
    pub fn mean(name: impl Into<String>, lists: &[ListMetrics]) -> ModelRow {
        let n = lists.len().max(1) as f64;
        let sum = |f: fn(&ListMetrics) -> f64| lists.iter().map(f).sum::<f64>() / n;
        ModelRow {
            name: name.into(),
            auc: sum(|m| m.auc),
            mrr: sum(|m| m.mrr),
            ndcg_at_5: sum(|m| m.ndcg_at_5),
            ndcg_at_10: sum(|m| m.ndcg_at_10),
        }
    }
}

/// The MIND protocol's answer (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct MindReport {
    pub protocol: &'static str,
    pub source: String,
    /// Impressions of the test day with both a click and a non-click (the anchor: 968).
    pub test_impressions: usize,
    pub train_impressions: usize,
    pub train_rows: usize,
    pub quarantined: usize,
    pub models: Vec<ModelRow>,
    pub seconds: f64,
}

/// A list to score: its feature rows and what the user clicked.
pub struct TestList {
    pub rows: Vec<[f64; WIDTH]>,
    pub clicks: Vec<bool>,
}

/// Replays `log`: impressions in `[train_from, split)` (seconds) become training rows, those
/// from `split` on test lists. Each impression is scored from the counters first, then its
/// outcomes are learned (earlier impressions only warm the counters up).
pub fn replay(
    log: &Log,
    cfg: &FeatureConfig,
    (train_from, split): (i64, i64),
) -> (TrainingSet, Vec<TestList>) {
    let mut counters = Counters::new(cfg.clone());
    for (i, item) in log.items.iter().enumerate() {
        counters.publish(i as u32, item.topic, item.published);
    }
    let (mut train, mut test) = (TrainingSet::default(), Vec::new());
    for imp in &log.impressions {
        let rows = rows_of(&counters, imp);
        if imp.time < train_from {
            // warm-up: counters only
        } else if imp.time < split {
            train.push(rows, &imp.shown);
        } else {
            test.push(TestList {
                rows,
                clicks: imp.shown.iter().map(|s| s.click).collect(),
            });
        }
        counters.update(imp);
    }
    (train, test)
}

/// Feature rows of an impression as it was logged (with positions: training only uses them).
pub fn rows_of(counters: &Counters, imp: &Impression) -> Vec<[f64; WIDTH]> {
    let items: Vec<u32> = imp.shown.iter().map(|s| s.item).collect();
    let positions: Vec<u16> = imp.shown.iter().map(|s| s.position).collect();
    counters.features(&imp.history, &items, imp.time, Some(&positions))
}

/// Scores every test list with `score` and averages the MIND metrics.
pub fn table_row(
    name: impl Into<String>,
    lists: &[TestList],
    mut score: impl FnMut(&[[f64; WIDTH]]) -> Vec<f64>,
) -> ModelRow {
    let metrics: Vec<ListMetrics> = lists
        .iter()
        .filter_map(|l| list_metrics(&l.clicks, &score(&l.rows)))
        .collect();
    ModelRow::mean(name, &metrics)
}

/// Standardises scores within a list (mean 0, deviation 1): what an ensemble of rankers on
/// different scales averages.
pub fn standardised(scores: &[f64]) -> Vec<f64> {
    let n = scores.len().max(1) as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
    scores.iter().map(|s| (s - mean) / sd.max(1e-12)).collect()
}

/// Start of the log's last calendar day (UTC): the MIND protocol's test day.
fn last_day(log: &Log) -> Result<i64> {
    let last = log
        .impressions
        .last()
        .ok_or_else(|| Error::Train("the log has no impressions".into()))?;
    Ok(last.time.div_euclid(86_400) * 86_400)
}

/// Settings of the MIND protocol's models, with the defaults [`tune_mind`] chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MindSettings {
    pub features: FeatureConfig,
    /// Impressions in the first hours of the log train nothing: the counters start empty
    /// there, so their rows look like no later row (a warm-up, as any replay needs).
    pub warmup_hours: i64,
    /// L2 penalty of the logistic regression.
    pub logistic_alpha: f64,
}

impl Default for MindSettings {
    fn default() -> Self {
        MindSettings {
            features: FeatureConfig::default(),
            warmup_hours: 0,
            logistic_alpha: 1.0,
        }
    }
}

/// The MIND protocol: the last calendar day (UTC) of the log is the test set.
pub fn mind(log: &Log, quarantined: usize, seed: u64) -> Result<MindReport> {
    mind_with(log, &MindSettings::default(), quarantined, seed)
}

/// The settings [`tune_mind`] compares: collaborative prior strength × history length ×
/// warm-up at the default penalty, then the L2 penalty at the default features.
pub fn tune_grid() -> Vec<MindSettings> {
    let base = MindSettings::default();
    let mut grid = Vec::new();
    for co_strength in [5.0, 20.0, 50.0] {
        for history_cap in [20, 50] {
            for warmup_hours in [0, 24] {
                let features = FeatureConfig {
                    co_strength,
                    history_cap,
                    ..base.features.clone()
                };
                grid.push(MindSettings {
                    features,
                    warmup_hours,
                    ..base.clone()
                });
            }
        }
    }
    for logistic_alpha in [0.1, 10.0] {
        grid.push(MindSettings {
            logistic_alpha,
            ..base.clone()
        });
    }
    grid
}

/// Chooses settings on a **validation** day: the test day is cut from the log, so the day
/// before it becomes the last day, and each setting of [`tune_grid`] runs the protocol on it.
/// The test day is never looked at; [`MindSettings`]' defaults come from this run.
pub fn tune_mind(log: &Log, seed: u64) -> Result<Vec<(MindSettings, MindReport)>> {
    let split = last_day(log)?;
    let mut before = log.clone();
    before.impressions.retain(|i| i.time < split);
    tune_grid()
        .into_iter()
        .map(|settings| {
            let report = mind_with(&before, &settings, 0, seed)?;
            Ok((settings, report))
        })
        .collect()
}

/// The MIND protocol with given settings.
pub fn mind_with(
    log: &Log,
    settings: &MindSettings,
    quarantined: usize,
    seed: u64,
) -> Result<MindReport> {
    let started = Instant::now();
    let split = last_day(log)?;
    let first = log.impressions.first().map_or(0, |i| i.time);
    let warm = first + settings.warmup_hours * 3600;
    let (train, test) = replay(log, &settings.features, (warm, split));
    let mut rng = models::rng(seed);
    let mut rows: Vec<ModelRow> = Baseline::ALL
        .iter()
        .map(|b| table_row(b.name(), &test, |r| b.score(r, &mut rng)))
        .collect();
    let fit = |family| {
        let mut spec = RankerSpec::new(family, Weights::ctr_only(), false, seed);
        spec.model.logistic_alpha = settings.logistic_alpha;
        Ranker::fit(spec, &train)
    };
    let train_impressions = log
        .impressions
        .iter()
        .filter(|i| i.time >= warm && i.time < split)
        .count();
    let (logistic, boosting) = (fit(Family::Logistic)?, fit(Family::Boosting)?);
    rows.push(table_row(logistic.name(), &test, |r| logistic.score(r)));
    rows.push(table_row(boosting.name(), &test, |r| boosting.score(r)));
    // Talking point [comparison]: an ensemble of rankers that err differently — equal weights,
    // fixed before looking at the test day (no weight is tuned on it).
    rows.push(table_row(
        "ensemble (LR + boosting + personal CTR)",
        &test,
        |r| {
            let parts = [
                standardised(&logistic.score(r)),
                standardised(&boosting.score(r)),
                standardised(&Baseline::PersonalCtr.score(r, &mut models::rng(0))),
            ];
            (0..r.len())
                .map(|i| parts.iter().map(|p| p[i]).sum())
                .collect()
        },
    ));
    let test_impressions = test
        .iter()
        .filter(|l| l.clicks.iter().any(|&c| c) && l.clicks.iter().any(|&c| !c))
        .count();
    Ok(MindReport {
        protocol: "mind",
        source: log.source.clone(),
        test_impressions,
        train_impressions,
        train_rows: train.len(),
        quarantined,
        models: rows,
        seconds: started.elapsed().as_secs_f64(),
    })
}
