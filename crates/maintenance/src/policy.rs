//! Stage 5 — decisions, not scores: a cost model turns predictions into a maintenance
//! schedule, and three policies are priced on the same simulated machines.
//!
//! ```text
//! every day, every running machine: reading ─► online state ─► features ─► predicted RUL
//!   policy: run to failure | service at a fixed age T | service when predicted RUL ≤ h
//!   crews per day: the most urgent machines first, the rest wait
//!   cost = failures × (failure + downtime) + services × (maintenance + downtime)
//! ```
//!
//! `T` and `h` are chosen on validation machines (by total cost), then every policy runs on
//! test machines it never saw; the simulator knows every failure, so costs are exact.
//!
//! Talking points: business objective → ML objective (cost per machine-year, not RMSE);
//! thresholds by expected cost on validation, never the test set; capacity constraints
//! (crews) in the decision.

use serde::{Deserialize, Serialize};

use crate::features::FeatureSpec;
use crate::models::{matrix, RulModel};
use crate::online::MachineState;
use crate::simulate::{FleetConfig, MachineSim, Step, FAILURE_DOWNTIME, SERVICE_DOWNTIME};

/// What failures, services and downtime cost, and how many services a day can take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostModel {
    /// An unplanned failure: repair, scrap, collateral damage.
    pub failure_cost: f64,
    /// A planned service: parts and labour.
    pub maintenance_cost: f64,
    /// Per day a machine is down (lost production).
    pub downtime_cost: f64,
    /// Services the crews can do per day.
    pub crews_per_day: usize,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            failure_cost: 50_000.0,
            maintenance_cost: 5_000.0,
            downtime_cost: 2_000.0,
            crews_per_day: 3,
        }
    }
}

/// A maintenance policy.
pub enum Policy<'a> {
    RunToFailure,
    /// Service every machine at this age (cycles into its life).
    FixedInterval(u32),
    /// Service when the predicted remaining life is at most `threshold` cycles.
    Predictive {
        spec: &'a FeatureSpec,
        model: &'a RulModel,
        threshold: f64,
    },
}

/// What a policy did and cost on a fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyOutcome {
    pub name: String,
    /// The interval (cycles) or predicted-RUL threshold it ran with, if any.
    pub parameter: Option<f64>,
    pub cost_per_machine_year: f64,
    pub failures: u64,
    pub services: u64,
    pub downtime_days: u64,
    pub total_cost: f64,
}

/// Runs `policy` on the machines of `fleet` for `fleet.cycles` days.
pub fn simulate(fleet: &FleetConfig, policy: &Policy<'_>, costs: &CostModel) -> PolicyOutcome {
    let ids = fleet.first_id..fleet.first_id + fleet.machines;
    let mut sims: Vec<MachineSim> = ids.map(|id| MachineSim::new(fleet, id)).collect();
    let spec = match policy {
        Policy::Predictive { spec, .. } => Some(*spec),
        _ => None,
    };
    let mut states: Vec<Option<MachineState>> =
        sims.iter().map(|_| spec.map(MachineState::new)).collect();
    let unbounded = spec.map_or(Vec::new(), |s| {
        vec![(f64::NEG_INFINITY, f64::INFINITY); s.sensors.len()]
    });
    let mut down = vec![0u32; sims.len()];
    let (mut failures, mut services, mut downtime) = (0u64, 0u64, 0u64);
    for _ in 0..fleet.cycles {
        let mut rows: Vec<(usize, Vec<f64>)> = Vec::new();
        for (i, sim) in sims.iter_mut().enumerate() {
            if down[i] > 0 {
                down[i] -= 1;
                downtime += 1;
                sim.day += 1;
                continue;
            }
            match sim.step() {
                Step::Failed => {
                    failures += 1;
                    down[i] = FAILURE_DOWNTIME;
                    sim.renew();
                    if let Some(s) = states[i].as_mut() {
                        s.renew();
                    }
                }
                Step::Reading(r) => {
                    if let (Some(state), Some(spec)) = (states[i].as_mut(), spec) {
                        if let Ok(row) = state.push(spec, &unbounded, r, None) {
                            rows.push((i, row));
                        }
                    } else {
                        rows.push((i, Vec::new()));
                    }
                }
            }
        }
        // Who wants a service today, most urgent first.
        let mut wanted: Vec<(f64, usize)> = match policy {
            Policy::RunToFailure => Vec::new(),
            Policy::FixedInterval(t) => rows
                .iter()
                .filter(|(i, _)| sims[*i].age >= *t)
                .map(|(i, _)| (-f64::from(sims[*i].age), *i))
                .collect(),
            Policy::Predictive {
                spec,
                model,
                threshold,
            } => {
                let x = matrix(
                    &rows.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
                    spec.width(),
                );
                let predicted = if rows.is_empty() {
                    Vec::new()
                } else {
                    model.predict(&x)
                };
                rows.iter()
                    .zip(predicted)
                    .filter(|(_, p)| *p <= *threshold)
                    .map(|((i, _), p)| (p, *i))
                    .collect()
            }
        };
        wanted.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Talking point [constraints]: capacity — only `crews_per_day` services a day; the rest
        // wait.
        for &(_, i) in wanted.iter().take(costs.crews_per_day) {
            services += 1;
            down[i] = SERVICE_DOWNTIME;
            sims[i].renew();
            if let Some(s) = states[i].as_mut() {
                s.renew();
            }
        }
    }
    let total_cost = failures as f64
        * (costs.failure_cost + f64::from(FAILURE_DOWNTIME) * costs.downtime_cost)
        + services as f64
            * (costs.maintenance_cost + f64::from(SERVICE_DOWNTIME) * costs.downtime_cost);
    let machine_years = f64::from(fleet.machines) * f64::from(fleet.cycles) / 365.0;
    let (name, parameter) = match policy {
        Policy::RunToFailure => ("run to failure", None),
        Policy::FixedInterval(t) => ("fixed interval", Some(f64::from(*t))),
        Policy::Predictive { threshold, .. } => ("predictive", Some(*threshold)),
    };
    PolicyOutcome {
        name: name.to_string(),
        parameter,
        cost_per_machine_year: total_cost / machine_years.max(1e-9),
        failures,
        services,
        downtime_days: downtime,
        total_cost,
    }
}

/// The fixed interval with the lowest cost on `validation` among `grid`.
pub fn best_interval(validation: &FleetConfig, costs: &CostModel, grid: &[u32]) -> PolicyOutcome {
    grid.iter()
        .map(|&t| simulate(validation, &Policy::FixedInterval(t), costs))
        .min_by(|a, b| a.total_cost.total_cmp(&b.total_cost))
        .unwrap_or_else(|| simulate(validation, &Policy::RunToFailure, costs))
}

/// The predicted-RUL threshold with the lowest cost on `validation` among `grid`.
///
/// Talking point [objective]: the threshold is chosen by expected cost on validation machines,
/// never on the test fleet.
pub fn best_threshold(
    validation: &FleetConfig,
    spec: &FeatureSpec,
    model: &RulModel,
    costs: &CostModel,
    grid: &[f64],
) -> PolicyOutcome {
    grid.iter()
        .map(|&threshold| {
            let policy = Policy::Predictive {
                spec,
                model,
                threshold,
            };
            simulate(validation, &policy, costs)
        })
        .min_by(|a, b| a.total_cost.total_cmp(&b.total_cost))
        .unwrap_or_else(|| simulate(validation, &Policy::RunToFailure, costs))
}
