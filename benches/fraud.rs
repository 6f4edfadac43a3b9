//! Fraud detector benchmarks (criterion):
//! - `features/rows`: feature computation throughput (rows/s) on simulated transactions;
//! - `predict/<model>/<batch>`: scoring latency for one transaction vs batches, per model;
//! - `train/logistic_regression`: training time on the chapter-3 training window.
//!
//! Inputs come from the seeded simulator and are built outside the timed loops.
//! Run: `cargo bench --bench fraud` (add `-- --quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fraud_detector::config::{ModelConfig, ProtocolConfig, SimulationConfig};
use fraud_detector::evaluate::{chapter3_split, labels};
use fraud_detector::features::{compute, to_matrix, FeatureSpec};
use fraud_detector::simulate::simulate;
use fraud_detector::train::{fit, ModelKind};
use ndarray::Axis;

fn world(customers: usize) -> polars::prelude::DataFrame {
    let cfg = SimulationConfig {
        n_customers: customers,
        n_terminals: customers * 2,
        n_days: 140,
        ..SimulationConfig::default()
    };
    simulate(&cfg).expect("simulate").0
}

fn features(c: &mut Criterion) {
    let spec = FeatureSpec::default();
    let mut group = c.benchmark_group("features");
    group.sample_size(10);
    for customers in [500, 2_000] {
        let df = world(customers);
        group.throughput(Throughput::Elements(df.height() as u64));
        group.bench_with_input(BenchmarkId::new("rows", df.height()), &df, |b, df| {
            b.iter(|| compute(df.clone(), &spec).expect("features"))
        });
    }
    group.finish();
}

fn predict_and_train(c: &mut Criterion) {
    let spec = FeatureSpec::default();
    let names = spec.names();
    let featured = compute(world(2_000), &spec).expect("features");
    let split = chapter3_split(&featured, &ProtocolConfig::default()).expect("split");
    let x = to_matrix(&split.train, &names).expect("x");
    let y = labels(&split.train).expect("y");
    let test = to_matrix(&split.test, &names).expect("x test");
    let cfg = ModelConfig::default();

    let mut group = c.benchmark_group("predict");
    group.sample_size(20);
    for kind in ModelKind::ALL {
        let model = fit(kind, &x, &y, &names, &cfg).expect("fit");
        for batch in [1usize, 64, 1024, 4096] {
            let rows = test.select(
                Axis(0),
                &(0..batch).map(|i| i % test.nrows()).collect::<Vec<_>>(),
            );
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new(kind.name(), batch), &rows, |b, rows| {
                b.iter(|| model.predict_proba(rows.view()).expect("scores"))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("logistic_regression", x.nrows()), |b| {
        b.iter(|| fit(ModelKind::LogisticRegression, &x, &y, &names, &cfg).expect("fit"))
    });
    group.finish();
}

criterion_group!(benches, features, predict_and_train);
criterion_main!(benches);
