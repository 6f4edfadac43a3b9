//! Stage 7a — the nightly fleet job: a file of readings → every machine's current state →
//! a maintenance schedule, with its throughput.
//!
//! ```text
//! readings.csv (machine_id, cycle, one column per sensor; empty = missing)
//!   ─► parse at the edge (bad rows quarantined and counted) ─► per machine, in cycle order
//!   ─► the online state (the server's code) ─► the last reading's RUL, risk, alert
//!   ─► schedule.csv: machines by predicted RUL; the first `crews_per_day` are today's
//! ```
//!
//! Talking points: batch vs real time (the same features and model, scored for the whole
//! fleet at once); throughput in readings/s; bad rows counted, never fatal.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use mlsd_core::validate::Quarantine;
use serde::Serialize;

use crate::artifact::{Assessment, MaintenanceArtifact};
use crate::data::{Fleet, Reading};
use crate::online::{MachineState, SensorHealth};
use crate::{Error, Result};

/// Writes the readings of `fleet` as the batch job's input (one life per machine: the last).
pub fn write_readings_csv(fleet: &Fleet, path: &Path) -> Result<usize> {
    let mut last: BTreeMap<u32, &crate::data::Machine> = BTreeMap::new();
    for m in &fleet.machines {
        last.insert(m.id, m);
    }
    let mut out = format!("machine_id,cycle,{}\n", fleet.sensors.join(","));
    let mut rows = 0;
    for m in last.values() {
        for r in &m.readings {
            let _ = write!(out, "{},{}", m.id, r.cycle);
            for v in &r.values {
                if v.is_finite() {
                    let _ = write!(out, ",{v}");
                } else {
                    out.push(',');
                }
            }
            out.push('\n');
            rows += 1;
        }
    }
    mlsd_core::report::atomic_write(path, out.as_bytes())?;
    Ok(rows)
}

/// What the job did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub readings: usize,
    pub quarantined: usize,
    pub quarantined_by_reason: BTreeMap<String, usize>,
    pub machines: usize,
    pub alerts: usize,
    pub seconds: f64,
    pub readings_per_second: f64,
}

/// Scores `input` with `artifact`, writes the schedule to `output` (CSV) and the refused rows
/// beside it (`quarantine.csv`).
/// Talking point [batch-vs-real-time]: the nightly schedule from a file, the same state and model
/// as the streaming API.
pub fn score_file(
    artifact: &MaintenanceArtifact,
    input: &Path,
    output: &Path,
) -> Result<BatchReport> {
    let started = Instant::now();
    let mut quarantine = Quarantine::default();
    let (header, lines) = mlsd_core::validate::read_lines(input, &mut quarantine)?;
    let expected = format!("machine_id,cycle,{}", artifact.spec.sensors.join(","));
    if header.trim() != expected {
        return Err(Error::Input {
            path: input.to_path_buf(),
            why: format!("header {header:?}, expected {expected:?}"),
        });
    }
    let n = artifact.spec.sensors.len();
    let mut by_machine: BTreeMap<u32, Vec<(u64, Reading)>> = BTreeMap::new();
    for (row, line) in &lines {
        match parse_line(line, n) {
            Ok((id, reading)) if artifact.inventory.contains_key(&id) => {
                by_machine.entry(id).or_default().push((*row, reading));
            }
            Ok(_) => quarantine.reject(*row, "unknown_machine", line.as_str()),
            Err(reason) => quarantine.reject(*row, reason, line.as_str()),
        }
    }
    let mut health = vec![SensorHealth::default(); n];
    let mut latest: Vec<(u32, u32, Vec<f64>)> = Vec::new();
    for (id, mut readings) in by_machine {
        readings.sort_by_key(|(_, r)| r.cycle);
        let mut state = MachineState::new(&artifact.spec);
        let mut last = None;
        for (row, reading) in readings {
            let cycle = reading.cycle;
            match state.push(&artifact.spec, &artifact.bounds, reading, Some(&mut health)) {
                Ok(features) => last = Some((cycle, features)),
                Err(refusal) => {
                    quarantine.reject(row, refusal.code(), format!("machine {id} cycle {cycle}"))
                }
            }
        }
        if let Some((cycle, features)) = last {
            latest.push((id, cycle, features));
        }
    }
    let rows: Vec<Vec<f64>> = latest.iter().map(|(_, _, f)| f.clone()).collect();
    let assessed: Vec<Assessment> = artifact.assess(&rows);
    let mut schedule: Vec<(u32, u32, Assessment)> = latest
        .iter()
        .zip(assessed)
        .map(|((id, cycle, _), a)| (*id, *cycle, a))
        .collect();
    // Talking point: capacity — most urgent first; the crews take the first ones today.
    schedule.sort_by(|a, b| a.2.rul.total_cmp(&b.2.rul));
    let mut out = String::from("machine_id,cycle,predicted_rul,risk,alert,service_today\n");
    let mut today = 0;
    for (id, cycle, a) in &schedule {
        let service = a.alert && today < artifact.costs.crews_per_day;
        today += usize::from(service);
        let _ = writeln!(
            out,
            "{id},{cycle},{:.2},{:.4},{},{}",
            a.rul, a.risk, a.alert, service
        );
    }
    mlsd_core::report::atomic_write(output, out.as_bytes())?;
    if let Some(dir) = output.parent() {
        quarantine.write_csv(&dir.join("quarantine.csv"))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let readings = lines.len()
        + quarantine
            .counts_by_reason()
            .get("invalid_utf8")
            .copied()
            .unwrap_or(0);
    Ok(BatchReport {
        readings,
        quarantined: quarantine.len(),
        quarantined_by_reason: quarantine.counts_by_reason(),
        machines: schedule.len(),
        alerts: schedule.iter().filter(|s| s.2.alert).count(),
        seconds,
        readings_per_second: readings as f64 / seconds.max(1e-9),
    })
}

fn parse_line(line: &str, sensors: usize) -> std::result::Result<(u32, Reading), &'static str> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != sensors + 2 {
        return Err("wrong_field_count");
    }
    let id: u32 = fields[0].parse().map_err(|_| "bad_machine_id")?;
    let cycle: u32 = fields[1].parse().map_err(|_| "bad_cycle")?;
    let values: Option<Vec<f64>> = fields[2..]
        .iter()
        .map(|f| {
            if f.is_empty() {
                Some(f64::NAN) // a missing value: the features skip it
            } else {
                f.parse::<f64>().ok().filter(|v| v.is_finite())
            }
        })
        .collect();
    let values = values.ok_or("not_a_number")?;
    Ok((id, Reading { cycle, values }))
}
