//! Predictive-maintenance benchmarks (criterion). Inputs come from the seeded fleet simulator,
//! built outside the timed loops.
//!
//! - `online/reading`: one reading through a machine's online state (checks, ring buffer,
//!   window features) — the readings/s one core sustains;
//! - `assess/single`, `assess/batch/<n>`: feature rows → RUL, risk, alert (gradient boosting);
//! - `features/offline_table`: the offline feature table of 20 machines over a year (every
//!   reading of a failed life), per row;
//! - `monitor/month`: a month of 200 machines against the training profile.
//!
//! Run: `cargo bench --bench maintenance` (add `-- --quick` for a fast, rougher pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use maintenance::artifact::{self, TrainConfig};
use maintenance::data::Reading;
use maintenance::features::{self, Rows};
use maintenance::online::{MachineState, SensorHealth};
use maintenance::simulate::{self, FleetConfig};

fn benches(c: &mut Criterion) {
    let (model, _, _) = artifact::train(&TrainConfig::default()).expect("train");
    let fleet = simulate::run_to_failure(&maintenance::evaluate::fleet_part(
        &FleetConfig {
            cycles: 365,
            ..FleetConfig::default()
        },
        300_001,
        20,
    ));
    let readings: Vec<Reading> = fleet
        .machines
        .iter()
        .flat_map(|m| m.readings.clone())
        .collect();
    let spec = &model.spec;
    let unbounded = vec![(f64::NEG_INFINITY, f64::INFINITY); spec.sensors.len()];

    let mut group = c.benchmark_group("online");
    group.throughput(Throughput::Elements(1));
    group.bench_function("reading", |b| {
        let mut state = MachineState::new(spec);
        let mut health = vec![SensorHealth::default(); spec.sensors.len()];
        let mut cycle = 0u32;
        let mut i = 0;
        b.iter(|| {
            cycle += 1;
            i = (i + 1) % readings.len();
            let r = Reading {
                cycle,
                values: readings[i].values.clone(),
            };
            state.push(spec, &unbounded, r, Some(&mut health))
        })
    });
    group.finish();

    let table = features::table(spec, &fleet, Rows::Labelled, f64::INFINITY);
    let mut group = c.benchmark_group("assess");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| b.iter(|| model.assess(&table.rows[..1])));
    for n in [16usize, 256, 1_000] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batch", n), &n, |b, &n| {
            b.iter(|| model.assess(&table.rows[..n]))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("features");
    group.throughput(Throughput::Elements(table.rows.len() as u64));
    group.sample_size(10);
    group.bench_function("offline_table", |b| {
        b.iter(|| features::table(spec, &fleet, Rows::Labelled, f64::INFINITY))
    });
    group.finish();

    let mut group = c.benchmark_group("monitor");
    group.sample_size(10);
    group.bench_function("month", |b| {
        b.iter(|| maintenance::monitor::simulated_month(&model, None, 0.0, 7))
    });
    group.finish();
}

criterion_group!(maintenance_benches, benches);
criterion_main!(maintenance_benches);
