//! The traffic for serving benchmarks (`mlsd bench serve --design maintenance`): machines the
//! model never saw (other ids than training and validation), as `score` histories, readings
//! for the online state, and risk queries.
//!
//! Talking points: benchmark with production-shaped traffic — real windows of degrading
//! machines with sensor faults, not one constant reading.

use crate::data::{Fleet, Machine};
use crate::evaluate::fleet_part;
use crate::simulate::{self, FleetConfig};
use crate::{Error, Result};

/// A fleet of `machines` machines from id `first_id`, run for `days`.
pub fn fleet(machines: u32, first_id: u32, days: u32) -> Fleet {
    let base = FleetConfig {
        cycles: days,
        ..FleetConfig::default()
    };
    simulate::run_to_failure(&fleet_part(&base, first_id, machines))
}

fn encode(value: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Config(format!("encoding a request: {e}")))
}

fn values(r: &crate::data::Reading) -> Vec<Option<f64>> {
    r.values
        .iter()
        .map(|v| v.is_finite().then_some(*v))
        .collect()
}

/// The last `window` readings of `machine` up to reading `i`, as a `History` body.
fn history(machine: &Machine, i: usize, window: usize) -> serde_json::Value {
    let start = (i + 1).saturating_sub(window);
    let readings: Vec<serde_json::Value> = machine.readings[start..=i]
        .iter()
        .map(|r| serde_json::json!({ "cycle": r.cycle, "values": values(r) }))
        .collect();
    serde_json::json!({ "readings": readings })
}

/// Histories: every `step`-th reading of every life (with at least one reading), `n` in all.
pub fn histories(fleet: &Fleet, n: usize, window: usize) -> Vec<serde_json::Value> {
    let mut out = Vec::with_capacity(n);
    'all: for step in [7, 3, 1] {
        for m in &fleet.machines {
            for i in (0..m.readings.len()).step_by(step) {
                out.push(history(m, i, window));
                if out.len() == n {
                    break 'all;
                }
            }
        }
    }
    out
}

/// One `POST /v1/maintenance/score` body per history.
pub fn score_bodies(histories: &[serde_json::Value]) -> Result<Vec<Vec<u8>>> {
    histories.iter().map(encode).collect()
}

/// `POST /v1/maintenance/score/batch` bodies of `size` histories.
pub fn batch_bodies(histories: &[serde_json::Value], size: usize) -> Result<Vec<Vec<u8>>> {
    histories
        .chunks(size.max(1))
        .map(|c| encode(&serde_json::json!({ "machines": c })))
        .collect()
}

/// Readings of the last life of every machine as `POST /v1/maintenance/readings` bodies of
/// `size` readings, in cycle order across the fleet (a day of the whole fleet, then the next).
pub fn reading_bodies(fleet: &Fleet, size: usize) -> Result<Vec<Vec<u8>>> {
    let mut last: std::collections::BTreeMap<u32, &Machine> = Default::default();
    for m in &fleet.machines {
        last.insert(m.id, m);
    }
    let longest = last.values().map(|m| m.readings.len()).max().unwrap_or(0);
    let mut readings = Vec::new();
    for i in 0..longest {
        for m in last.values() {
            if let Some(r) = m.readings.get(i) {
                readings.push(serde_json::json!({ "machine_id": m.id, "cycle": r.cycle, "values": values(r) }));
            }
        }
    }
    readings
        .chunks(size.max(1))
        .map(|c| encode(&serde_json::json!({ "readings": c })))
        .collect()
}
