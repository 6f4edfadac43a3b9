//! Stage 4 — evaluation on published protocols, our table beside the published one.
//!
//! - **C-MAPSS FD001** (`cmapss`): train on the 100 run-to-failure engines (every cycle, target
//!   `min(RUL, 125)`), score the last cycle of each of the 100 test engines against
//!   `RUL_FD001.txt` (capped at 125 as the cited works do); RMSE and the NASA score
//!   `Σ exp(−d/13) − 1 (d < 0), exp(d/10) − 1 (d ≥ 0)`, `d = predicted − true` (late costs more).
//! - **AI4I 2020** (`ai4i`): 5 seeded stratified folds; each test fold's model is trained on
//!   three folds and its threshold (best F1) chosen on the fourth, never on the test fold;
//!   average precision over the pooled out-of-fold scores, F1 / precision / recall over the
//!   pooled decisions, recall at an alert budget.
//!
//! Talking points: splits by machine (C-MAPSS: engines, never rows); thresholds chosen on
//! validation, never on the test set; a leak guard (F1 above 0.95 on AI4I means the
//! failure-mode columns leaked in); training time beside every metric.

use std::path::Path;
use std::time::Instant;

use mlsd_core::curves::{curves, Curves};
use mlsd_core::metrics::average_precision;
use mlsd_tabular::{ModelConfig, RegressionConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::data::{self, CmapssSplit, End, Fleet, Machine};
use crate::features::{self, FeatureConfig, FeatureSpec, Rows};
use crate::models::{self, FailureKind, FailureModel, RulKind, RulModel};
use crate::policy::{self, CostModel, Policy, PolicyOutcome};
use crate::simulate::{self, FleetConfig};
use crate::{Error, Result};

/// One RUL model's row of the C-MAPSS table.
#[derive(Debug, Clone, Serialize)]
pub struct RulRow {
    pub name: String,
    pub rmse: f64,
    pub nasa_score: f64,
    pub mae: f64,
    /// RMSE against the uncapped true RUL (C-MAPSS: some test engines have more than 125
    /// cycles left).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse_uncapped: Option<f64>,
    pub train_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CmapssReport {
    pub protocol: &'static str,
    pub train_engines: usize,
    pub train_rows: usize,
    pub test_engines: usize,
    pub quarantined_rows: usize,
    /// The sensors used and the ones dropped, with why.
    pub sensors_used: Vec<String>,
    pub sensors_dropped: Vec<(String, String)>,
    pub features: usize,
    pub models: Vec<RulRow>,
    /// Run to failure, the best fixed interval and the predictive policy priced on the test
    /// engines with their true RUL (see [`engine_policies`]).
    pub policies: Vec<EnginePolicy>,
}

/// RMSE and the NASA asymmetric score of `predicted` against `truth`.
pub fn rul_errors(predicted: &[f64], truth: &[f64]) -> (f64, f64, f64) {
    let n = predicted.len().max(1) as f64;
    let (mut se, mut ae, mut score) = (0.0, 0.0, 0.0);
    for (p, t) in predicted.iter().zip(truth) {
        let d = p - t;
        se += d * d;
        ae += d.abs();
        // Talking point [metrics]: a late prediction (d > 0: the engine fails before we said) costs
        // more.
        score += if d < 0.0 {
            (-d / 13.0).exp() - 1.0
        } else {
            (d / 10.0).exp() - 1.0
        };
    }
    ((se / n).sqrt(), score, ae / n)
}

/// The C-MAPSS FD001 protocol on `dir` (holding the three FD001 files).
pub fn cmapss(
    dir: &Path,
    feature_cfg: &FeatureConfig,
    model_cfg: &RegressionConfig,
    kinds: &[RulKind],
) -> Result<CmapssReport> {
    let train = data::load_cmapss(dir, CmapssSplit::Train)?;
    let test = data::load_cmapss(dir, CmapssSplit::Test)?;
    let cap = feature_cfg.rul_cap;
    // Talking point [comparison]: splits by machine — the 100 test engines are other engines, never
    // rows of the training ones; the sensors are chosen on the training engines only.
    let spec = FeatureSpec::fit(&train.fleet, feature_cfg);
    let tr = features::table(&spec, &train.fleet, Rows::Labelled, cap);
    let te = features::table(&spec, &test.fleet, Rows::Last, cap);
    let (x, xt) = (
        models::matrix(&tr.rows, spec.width()),
        models::matrix(&te.rows, spec.width()),
    );
    let uncapped: Vec<f64> = te
        .keys
        .iter()
        .map(|&(m, i)| test.fleet.machines[m].rul(i).unwrap_or(f64::NAN))
        .collect();
    let lives = models::failed_lives(&train.fleet);
    let mut rows = Vec::new();
    for fitted in fit_each(kinds, (&x, &tr.targets), &lives, cap, model_cfg, &xt)? {
        let (rmse, nasa_score, mae) = rul_errors(&fitted.predicted, &te.targets);
        rows.push(RulRow {
            name: fitted.kind.name().to_string(),
            rmse,
            nasa_score,
            mae,
            rmse_uncapped: Some(rul_errors(&fitted.predicted, &uncapped).0),
            train_seconds: fitted.train_seconds,
        });
    }
    let policies = engine_policies(
        &train.fleet,
        &test.fleet,
        &spec,
        cap,
        model_cfg,
        &CostModel::default(),
    )?;
    Ok(CmapssReport {
        protocol: "cmapss-fd001",
        train_engines: train.fleet.machines.len(),
        train_rows: tr.rows.len(),
        test_engines: test.fleet.machines.len(),
        quarantined_rows: train.quarantine.len() + test.quarantine.len(),
        sensors_used: spec.used.iter().map(|&j| spec.sensors[j].clone()).collect(),
        sensors_dropped: spec.dropped.clone(),
        features: spec.width(),
        models: rows,
        policies,
    })
}

/// One model of a comparison: its predictions on the test rows and its training time.
struct Fitted {
    kind: RulKind,
    predicted: Vec<f64>,
    train_seconds: f64,
    /// `None` for the forest + boosting average, which is not refitted (see [`fit_each`]).
    model: Option<RulModel>,
}

/// Fits every kind once on `(x, y)` and predicts `xt`. The forest + boosting average reuses
/// the two fitted models when both are in `kinds` (its predictions are their mean, its
/// training time their sum) instead of fitting them again.
fn fit_each(
    kinds: &[RulKind],
    (x, y): (&ndarray::Array2<f64>, &[f64]),
    lives: &[f64],
    cap: f64,
    cfg: &RegressionConfig,
    xt: &ndarray::Array2<f64>,
) -> Result<Vec<Fitted>> {
    let mut out: Vec<Fitted> = Vec::new();
    for &kind in kinds {
        let find = |k: RulKind| out.iter().find(|f| f.kind == k);
        if let (RulKind::ForestBoostingAverage, Some(f), Some(b)) = (
            kind,
            find(RulKind::RandomForest),
            find(RulKind::GradientBoosting),
        ) {
            let predicted = f
                .predicted
                .iter()
                .zip(&b.predicted)
                .map(|(a, b)| (a + b) / 2.0)
                .collect();
            let train_seconds = f.train_seconds + b.train_seconds;
            out.push(Fitted {
                kind,
                predicted,
                train_seconds,
                model: None,
            });
            continue;
        }
        let started = Instant::now();
        let model = RulModel::fit(kind, x, y, lives, cap, cfg)?;
        let train_seconds = started.elapsed().as_secs_f64();
        out.push(Fitted {
            kind,
            predicted: model.predict(xt),
            train_seconds,
            model: Some(model),
        });
    }
    Ok(out)
}

/// A policy priced on whole engine lives (renewal reward: total cost over total cycles run).
#[derive(Debug, Clone, Serialize)]
pub struct EnginePolicy {
    pub name: String,
    /// The fixed interval, or the safety margin subtracted from the predicted RUL (cycles).
    pub parameter: Option<f64>,
    pub cost_per_1000_cycles: f64,
    pub failures: usize,
    pub services: usize,
    /// Cycles of life thrown away by servicing early, summed.
    pub unused_cycles: f64,
}

/// How a life ends under a policy: serviced at `age`, or failed at the life's end.
fn price(
    lives: &[(f64, Option<f64>)],
    costs: &CostModel,
    name: &str,
    parameter: Option<f64>,
) -> EnginePolicy {
    use crate::simulate::{FAILURE_DOWNTIME, SERVICE_DOWNTIME};
    let failure = costs.failure_cost + f64::from(FAILURE_DOWNTIME) * costs.downtime_cost;
    let service = costs.maintenance_cost + f64::from(SERVICE_DOWNTIME) * costs.downtime_cost;
    let (mut cost, mut cycles, mut failures, mut services, mut unused) = (0.0, 0.0, 0, 0, 0.0);
    for &(life, planned) in lives {
        match planned.filter(|&a| a < life) {
            Some(age) => {
                cost += service;
                cycles += age.max(1.0);
                services += 1;
                unused += life - age;
            }
            None => {
                cost += failure;
                cycles += life;
                failures += 1;
            }
        }
    }
    EnginePolicy {
        name: name.to_string(),
        parameter,
        cost_per_1000_cycles: 1_000.0 * cost / cycles.max(1.0),
        failures,
        services,
        unused_cycles: unused,
    }
}

/// The three policies on C-MAPSS engines, priced by renewal reward with the fleet's cost
/// model: run to failure; service at a fixed age `T` (chosen on the training lives); service
/// at `cut + predicted RUL − m` (the margin `m` chosen on 20 training engines held out and cut
/// at seeded random cycles, the model fitted on the other 80). Then all three on the 100 test
/// engines, whose life is their last cycle plus the true RUL.
///
/// Simplification: the predictive policy decides once, at the cut (a real one would re-decide
/// every cycle with more data); an engine's life is its own, whatever the policy (no
/// feedback from servicing).
pub fn engine_policies(
    train: &Fleet,
    test: &Fleet,
    spec: &FeatureSpec,
    cap: f64,
    cfg: &RegressionConfig,
    costs: &CostModel,
) -> Result<Vec<EnginePolicy>> {
    let split = |keep: bool| Fleet {
        machines: train
            .machines
            .iter()
            .filter(|m| (m.id % 5 == 0) == keep)
            .cloned()
            .collect(),
        ..train.clone()
    };
    let (fit, held) = (split(false), split(true));
    let tr = features::table(spec, &fit, Rows::Labelled, cap);
    let model = RulModel::fit(
        RulKind::GradientBoosting,
        &models::matrix(&tr.rows, spec.width()),
        &tr.targets,
        &[],
        cap,
        cfg,
    )?;
    // Per life: (length, predicted remaining life at the cut, age at the cut).
    let at_cut = |fleet: &Fleet| -> Vec<(f64, f64, f64)> {
        let t = features::table(spec, fleet, Rows::Last, cap);
        let predicted = model.predict(&models::matrix(&t.rows, spec.width()));
        t.keys
            .iter()
            .zip(predicted)
            .map(|(&(m, i), p)| {
                let machine = &fleet.machines[m];
                let age = f64::from(machine.readings[i].cycle);
                (f64::from(machine.end.cycle()), p, age)
            })
            .collect()
    };
    let predictive = |lives: &[(f64, f64, f64)], margin: f64| {
        let planned: Vec<(f64, Option<f64>)> = lives
            .iter()
            .map(|&(life, p, age)| (life, Some(age + (p - margin).max(0.0))))
            .collect();
        price(&planned, costs, "predictive", Some(margin))
    };
    let fixed = |lives: &[f64], t: f64| {
        let planned: Vec<(f64, Option<f64>)> = lives.iter().map(|&l| (l, Some(t))).collect();
        price(&planned, costs, "fixed interval", Some(t))
    };
    let cheapest = |a: &EnginePolicy, b: &EnginePolicy| {
        a.cost_per_1000_cycles.total_cmp(&b.cost_per_1000_cycles)
    };
    let fit_lives = models::failed_lives(&fit);
    let interval = (10..=400)
        .map(|t| fixed(&fit_lives, f64::from(t)))
        .min_by(cheapest)
        .and_then(|p| p.parameter)
        .unwrap_or(0.0);
    let validation = at_cut(&truncated(&held, 42));
    let margin = (0..=60)
        .map(|m| predictive(&validation, f64::from(m)))
        .min_by(cheapest)
        .and_then(|p| p.parameter)
        .unwrap_or(0.0);
    let lives = at_cut(test);
    let lengths: Vec<f64> = lives.iter().map(|l| l.0).collect();
    let never: Vec<(f64, Option<f64>)> = lengths.iter().map(|&l| (l, None)).collect();
    Ok(vec![
        price(&never, costs, "run to failure", None),
        fixed(&lengths, interval),
        predictive(&lives, margin),
    ])
}

/// One classifier's row of the AI4I table.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRow {
    pub name: String,
    pub average_precision: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    /// Recall when only the top `alert_budget` share of machines can be inspected.
    pub recall_at_budget: f64,
    pub train_seconds: f64,
    /// ROC, precision–recall and (for probabilities) reliability curves of the out-of-fold
    /// scores, for the report's charts.
    pub curves: Curves,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ai4iReport {
    pub protocol: &'static str,
    pub rows: usize,
    pub failures: usize,
    pub quarantined_rows: usize,
    pub features: Vec<&'static str>,
    pub alert_budget: f64,
    pub models: Vec<FailureRow>,
}

/// Settings of the AI4I protocol.
#[derive(Debug, Clone)]
pub struct Ai4iConfig {
    pub folds: usize,
    pub seed: u64,
    /// Share of machines that can be inspected (the alert budget).
    pub alert_budget: f64,
    pub model: ModelConfig,
}

impl Default for Ai4iConfig {
    fn default() -> Self {
        Ai4iConfig {
            folds: 5,
            seed: 42,
            alert_budget: 0.05,
            model: ModelConfig::default(),
        }
    }
}

/// The AI4I protocol on `path`. `leak_failure_modes` appends the five failure-mode columns to
/// the inputs — only for the test that proves the leak guard would see it and for
/// `--mistake leaked-outcome` ([`crate::mistakes`]).
pub fn ai4i(path: &Path, cfg: &Ai4iConfig, leak_failure_modes: bool) -> Result<Ai4iReport> {
    let set = data::load_ai4i(path)?;
    let fleet = &set.loaded.fleet;
    let mut rows: Vec<Vec<f64>> = fleet
        .machines
        .iter()
        .map(|m| models::ai4i_row(&m.kind, &m.readings[0].values))
        .collect();
    if leak_failure_modes {
        for (r, modes) in rows.iter_mut().zip(&set.failure_modes) {
            r.extend(modes.iter().map(|&m| f64::from(u8::from(m))));
        }
    }
    let y: Vec<bool> = fleet
        .machines
        .iter()
        .map(|m| matches!(m.end, data::End::Failed(_)))
        .collect();
    let width = rows.first().map_or(0, Vec::len);
    let folds = stratified_folds(&y, cfg.folds.max(3), cfg.seed);
    let mut table = Vec::new();
    for kind in FailureKind::ALL {
        let (mut scores, mut decided) = (vec![0.0; y.len()], vec![false; y.len()]);
        let started = Instant::now();
        for k in 0..folds.len() {
            let val = (k + 1) % folds.len();
            let train: Vec<usize> = (0..folds.len())
                .filter(|&f| f != k && f != val)
                .flat_map(|f| folds[f].iter().copied())
                .collect();
            let pick = |idx: &[usize]| {
                (
                    models::matrix(
                        &idx.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>(),
                        width,
                    ),
                    idx.iter().map(|&i| y[i]).collect::<Vec<bool>>(),
                )
            };
            let (xtr, ytr) = pick(&train);
            let model = FailureModel::fit(kind, &xtr, &ytr, &cfg.model)?;
            let (xv, yv) = pick(&folds[val]);
            // Talking point: the threshold comes from the validation fold, never the test fold.
            let threshold = best_f1_threshold(&model.score(&xv), &yv);
            let (xt, _) = pick(&folds[k]);
            for (&i, s) in folds[k].iter().zip(model.score(&xt)) {
                scores[i] = s;
                decided[i] = s >= threshold;
            }
        }
        let train_seconds = started.elapsed().as_secs_f64() / folds.len() as f64;
        let (precision, recall, f1) = prf(&decided, &y);
        table.push(FailureRow {
            name: kind.name().to_string(),
            average_precision: average_precision(&y, &scores)?,
            f1,
            precision,
            recall,
            recall_at_budget: recall_at_budget(&scores, &y, cfg.alert_budget),
            train_seconds,
            curves: curves(&y, &scores, 200)?,
        });
    }
    Ok(Ai4iReport {
        protocol: "ai4i2020",
        rows: y.len(),
        failures: y.iter().filter(|&&f| f).count(),
        quarantined_rows: set.loaded.quarantine.len(),
        features: models::AI4I_FEATURES.to_vec(),
        alert_budget: cfg.alert_budget,
        models: table,
    })
}

/// Row indices in `k` folds, each with its share of positives (seeded).
pub fn stratified_folds(y: &[bool], k: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut folds = vec![Vec::new(); k];
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        idx.shuffle(&mut rng);
        for (n, i) in idx.into_iter().enumerate() {
            folds[n % k].push(i);
        }
    }
    folds
}

/// The score threshold with the best F1 on `(scores, y)`.
pub fn best_f1_threshold(scores: &[f64], y: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = y.iter().filter(|&&v| v).count() as f64;
    let (mut tp, mut best, mut threshold) = (0.0, -1.0, f64::INFINITY);
    for (n, &i) in order.iter().enumerate() {
        tp += f64::from(u8::from(y[i]));
        // Only between distinct scores: a threshold cannot split ties.
        if order.get(n + 1).is_some_and(|&j| scores[j] == scores[i]) {
            continue;
        }
        let f1 = 2.0 * tp / (n as f64 + 1.0 + positives);
        if f1 > best {
            (best, threshold) = (f1, scores[i]);
        }
    }
    threshold
}

/// Precision, recall and F1 of decisions against labels.
pub fn prf(decided: &[bool], y: &[bool]) -> (f64, f64, f64) {
    let tp = decided.iter().zip(y).filter(|(d, y)| **d && **y).count() as f64;
    let flagged = decided.iter().filter(|&&d| d).count() as f64;
    let positives = y.iter().filter(|&&v| v).count() as f64;
    let precision = if flagged > 0.0 { tp / flagged } else { 0.0 };
    let recall = if positives > 0.0 { tp / positives } else { 0.0 };
    let f1 = if tp > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

fn recall_at_budget(scores: &[f64], y: &[bool], share: f64) -> f64 {
    let k = ((scores.len() as f64 * share).round() as usize).max(1);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let caught = order.iter().take(k).filter(|&&i| y[i]).count() as f64;
    let positives = y.iter().filter(|&&v| v).count() as f64;
    if positives > 0.0 {
        caught / positives
    } else {
        0.0
    }
}

/// The C-MAPSS folder under a data directory, or why it is not usable.
pub fn cmapss_dir(data_dir: &Path) -> Result<std::path::PathBuf> {
    let dir = data_dir.join("cmapss-fd001");
    if dir.join("train_FD001.txt").is_file() {
        Ok(dir)
    } else {
        Err(Error::Input {
            path: dir,
            why: "train_FD001.txt not found (see datasets/README.md)".into(),
        })
    }
}

/// Settings of the fleet protocol (the simulator): disjoint machines for training,
/// validation (choosing the interval and the threshold) and test.
#[derive(Debug, Clone)]
pub struct FleetProtocol {
    pub fleet: FleetConfig,
    pub train_machines: u32,
    pub validation_machines: u32,
    pub test_machines: u32,
    pub features: FeatureConfig,
    pub model: RegressionConfig,
    /// The model the predictive policy uses.
    pub served: RulKind,
    pub costs: CostModel,
    /// Fixed intervals (cycles) and predicted-RUL thresholds tried on validation.
    pub intervals: Vec<u32>,
    pub thresholds: Vec<f64>,
}

impl Default for FleetProtocol {
    fn default() -> Self {
        FleetProtocol {
            fleet: FleetConfig::default(),
            train_machines: 100,
            validation_machines: 40,
            test_machines: 100,
            features: FeatureConfig::default(),
            model: RegressionConfig {
                boosting_iterations: 150,
                boosting_learning_rate: 0.1,
                forest_trees: 50,
                ..RegressionConfig::default()
            },
            served: RulKind::GradientBoosting,
            costs: CostModel::default(),
            intervals: (2..=24).map(|k| k * 15).collect(),
            thresholds: (0..=12).map(|k| f64::from(k) * 5.0).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    pub protocol: &'static str,
    pub machines: FleetSplit,
    pub failures_in_training: usize,
    pub sensors_used: Vec<String>,
    pub sensors_dropped: Vec<(String, String)>,
    /// RUL models on one random reading of every failed test life (the C-MAPSS protocol
    /// mirrored on the simulator).
    pub models: Vec<RulRow>,
    pub served_model: String,
    /// Chosen on validation machines.
    pub chosen_interval: f64,
    pub chosen_threshold: f64,
    /// On the test machines, cheapest last.
    pub policies: Vec<PolicyOutcome>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct FleetSplit {
    pub train: u32,
    pub validation: u32,
    pub test: u32,
    pub days: u32,
}

/// A split of the simulated fleet: machines `first_id..first_id + machines`.
pub fn fleet_part(base: &FleetConfig, first_id: u32, machines: u32) -> FleetConfig {
    FleetConfig {
        first_id,
        machines,
        ..base.clone()
    }
}

/// The fleet protocol: RUL models compared, then run to failure, the best fixed interval
/// and the predictive policy priced on the same test machines.
pub fn fleet(p: &FleetProtocol) -> Result<FleetReport> {
    let train = simulate::run_to_failure(&fleet_part(&p.fleet, 1, p.train_machines));
    let validation = fleet_part(&p.fleet, 100_001, p.validation_machines);
    let test = fleet_part(&p.fleet, 200_001, p.test_machines);
    let cap = p.features.rul_cap;
    let spec = FeatureSpec::fit(&train, &p.features);
    let tr = features::table(&spec, &train, Rows::Labelled, cap);
    let x = models::matrix(&tr.rows, spec.width());
    let lives = models::failed_lives(&train);
    // Test lives cut at a seeded random reading, as C-MAPSS's test engines are.
    let cut = truncated(&simulate::run_to_failure(&test), p.fleet.seed);
    let te = features::table(&spec, &cut, Rows::Last, cap);
    let xt = models::matrix(&te.rows, spec.width());
    let mut rows = Vec::new();
    let mut served = None;
    for fitted in fit_each(&RulKind::ALL, (&x, &tr.targets), &lives, cap, &p.model, &xt)? {
        let (rmse, nasa_score, mae) = rul_errors(&fitted.predicted, &te.targets);
        rows.push(RulRow {
            name: fitted.kind.name().to_string(),
            rmse,
            nasa_score,
            mae,
            rmse_uncapped: None,
            train_seconds: fitted.train_seconds,
        });
        if fitted.kind == p.served {
            served = fitted.model;
        }
    }
    let model = match served {
        Some(model) => model,
        None => RulModel::fit(p.served, &x, &tr.targets, &lives, cap, &p.model)?,
    };
    let interval = policy::best_interval(&validation, &p.costs, &p.intervals);
    let threshold = policy::best_threshold(&validation, &spec, &model, &p.costs, &p.thresholds);
    let (t, h) = (
        interval.parameter.unwrap_or(0.0),
        threshold.parameter.unwrap_or(0.0),
    );
    let mut policies = vec![
        policy::simulate(&test, &Policy::RunToFailure, &p.costs),
        policy::simulate(&test, &Policy::FixedInterval(t as u32), &p.costs),
        policy::simulate(
            &test,
            &Policy::Predictive {
                spec: &spec,
                model: &model,
                threshold: h,
            },
            &p.costs,
        ),
    ];
    policies.sort_by(|a, b| b.total_cost.total_cmp(&a.total_cost));
    Ok(FleetReport {
        protocol: "fleet-simulator",
        machines: FleetSplit {
            train: p.train_machines,
            validation: p.validation_machines,
            test: p.test_machines,
            days: p.fleet.cycles,
        },
        failures_in_training: lives.len(),
        sensors_used: spec.used.iter().map(|&j| spec.sensors[j].clone()).collect(),
        sensors_dropped: spec.dropped.clone(),
        models: rows,
        served_model: p.served.name().to_string(),
        chosen_interval: t,
        chosen_threshold: h,
        policies,
    })
}

/// Every failed life cut after a seeded random reading (lives still running are dropped).
pub fn truncated(fleet: &Fleet, seed: u64) -> Fleet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7472_756e_6361_7465);
    let machines = fleet
        .machines
        .iter()
        .filter(|m| matches!(m.end, End::Failed(_)) && !m.readings.is_empty())
        .map(|m| {
            let keep = rng.gen_range(1..=m.readings.len());
            Machine {
                readings: m.readings[..keep].to_vec(),
                ..m.clone()
            }
        })
        .collect();
    Fleet {
        machines,
        ..fleet.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nasa_score_punishes_late_predictions_more() {
        let (rmse, late, _) = rul_errors(&[110.0], &[100.0]);
        let (_, early, _) = rul_errors(&[90.0], &[100.0]);
        assert_eq!(rmse, 10.0);
        assert!((late - (1f64.exp() - 1.0)).abs() < 1e-12);
        assert!(early < late);
    }

    #[test]
    fn the_f1_threshold_and_folds_behave() {
        let scores = [0.9, 0.8, 0.7, 0.2, 0.1];
        let y = [true, true, false, true, false];
        // Flag the top two: P 1, R 2/3, F1 0.8; the top four: P 3/4, R 1, F1 0.857.
        assert_eq!(best_f1_threshold(&scores, &y), 0.2);
        let folds = stratified_folds(&[true, false, true, false, false, true], 3, 1);
        assert!(folds.iter().all(|f| f.len() == 2));
    }
}
