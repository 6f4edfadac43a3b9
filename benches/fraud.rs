//! Fraud detector benchmarks (criterion). Inputs come from the seeded simulator and are
//! built outside the timed loops.
//!
//! - `simulate/customers/<n>`: the transaction simulator (5,000 = the handbook's default run);
//! - `features/rows/<n>`: the 15 polars features, throughput in rows/s;
//! - `predict/<model>/<batch>`: scoring one transaction vs batches, per model (features given);
//! - `train/logistic_regression/<rows>`: fitting on the chapter-3 training window;
//! - `online/observe`: one payment through the warm online feature store (the real-time
//!   path's feature cost), and `online/observe_and_score_lr` with the model call;
//! - `drift/window/<rows>`: one drift check of a live window against a training profile.
//!
//! Run: `cargo bench --bench fraud` (add `-- --quick` for a fast, rougher pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fraud_detector::config::{ModelConfig, ProtocolConfig, SimulationConfig};
use fraud_detector::evaluate::{chapter3_split, labels};
use fraud_detector::features::{compute, to_matrix, FeatureSpec};
use fraud_detector::simulate::simulate;
use fraud_detector::train::{fit, ModelKind};
use ndarray::Axis;

fn config(customers: usize) -> SimulationConfig {
    SimulationConfig {
        n_customers: customers,
        n_terminals: customers * 2,
        ..SimulationConfig::default()
    }
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    for customers in [1_000, 5_000] {
        let cfg = config(customers);
        group.bench_with_input(BenchmarkId::new("customers", customers), &cfg, |b, cfg| {
            b.iter(|| simulate(cfg).expect("simulate"))
        });
    }
    group.finish();
}

fn features(c: &mut Criterion) {
    let spec = FeatureSpec::default();
    let mut group = c.benchmark_group("features");
    group.sample_size(10);
    for customers in [1_000, 5_000] {
        let (df, _) = simulate(&config(customers)).expect("simulate");
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
    let (df, _) = simulate(&SimulationConfig::default()).expect("simulate");
    let featured = compute(df, &spec).expect("features");
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
            let idx: Vec<usize> = (0..batch).map(|i| i % test.nrows()).collect();
            let rows = test.select(Axis(0), &idx);
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

fn online_and_drift(c: &mut Criterion) {
    use fraud_detector::artifact::reference_profile;
    use fraud_detector::online::{warm_up, FeatureStore, InMemoryFeatureStore, RedisFeatureStore};
    use fraud_detector::replay::plan;
    use mlsd_core::drift::SlidingWindow;

    let spec = FeatureSpec::default();
    let names = spec.names();
    let (df, _) = simulate(&SimulationConfig::default()).expect("simulate");
    // The test week of the chapter-3 protocol, with the history its windows need.
    let from = ProtocolConfig::default().test_start_ms().expect("date");
    let week = plan(&df, from, from + 7 * 86_400_000, spec.history_days()).expect("plan");
    let featured = compute(df, &spec).expect("features");
    let split = chapter3_split(&featured, &ProtocolConfig::default()).expect("split");
    let x = to_matrix(&split.train, &names).expect("x");
    let y = labels(&split.train).expect("y");
    let model = fit(
        ModelKind::LogisticRegression,
        &x,
        &y,
        &names,
        &ModelConfig::default(),
    )
    .expect("fit");

    let mut group = c.benchmark_group("online");
    group.throughput(Throughput::Elements(1));
    let store = InMemoryFeatureStore::new(spec.clone());
    warm_up(&store, &week.history).expect("in memory");
    // The week replays forever, a week later each time round, so time moves forward and
    // the store expires old payments as it would in production.
    let mut next = 0usize;
    let mut payment = || {
        let (round, i) = (next / week.live.len(), next % week.live.len());
        next += 1;
        let mut tx = week.live[i];
        tx.datetime_ms += round as i64 * 7 * 86_400_000;
        tx.transaction_id += round as i64 * 1_000_000_000;
        tx
    };
    group.bench_function("observe", |b| b.iter(|| store.observe(&payment())));
    // The same payments through the Redis store: one script round trip each on loopback
    // (MLSD_REDIS_URL, e.g. from `scripts/redis.sh start`; skipped without it).
    if let Ok(url) = std::env::var("MLSD_REDIS_URL") {
        let prefix = format!("mlsd-bench:fraud:{}", std::process::id());
        let timeout = std::time::Duration::from_secs(1);
        let redis = RedisFeatureStore::open(spec.clone(), &url, &prefix, timeout).expect("url");
        warm_up(&redis, &week.history).expect("load the week's history into Redis");
        group.bench_function("observe_redis", |b| {
            b.iter(|| redis.observe(&payment()).expect("redis"))
        });
        let _ = mlsd_core::online_state::delete_prefix(redis.redis(), &prefix);
    } else {
        eprintln!("SKIPPED online/observe_redis: MLSD_REDIS_URL is unset");
    }
    // One hot card paying at one hot terminal: 61,000 payments in its windows (issue 15's
    // flood), then one more every 40 s, so the windows stay that full.
    let hot = InMemoryFeatureStore::new(spec.clone());
    let hot_payment = |i: i64| fraud_detector::online::Transaction {
        transaction_id: 5_000_000_000 + i,
        datetime_ms: from + i * 40_000,
        customer_id: 1,
        terminal_id: 1,
        amount: 12.5,
    };
    for i in 0..61_000 {
        hot.observe(&hot_payment(i));
    }
    let mut i = 61_000;
    group.bench_function("observe_hot_key_61k", |b| {
        b.iter(|| {
            i += 1;
            hot.observe(&hot_payment(i))
        })
    });
    group.bench_function("observe_and_score_lr", |b| {
        b.iter(|| {
            let f = store.observe(&payment());
            let row = ndarray::Array2::from_shape_vec((1, f.len()), f).expect("row");
            model.predict_proba(row.view()).expect("score")
        })
    });
    group.finish();

    let profile = reference_profile(&x, &names, &model.predict_proba(x.view()).expect("scores"));
    let test = to_matrix(&split.test, &names).expect("x test");
    let scores = model.predict_proba(test.view()).expect("scores");
    let mut group = c.benchmark_group("drift");
    group.sample_size(20);
    for rows in [1_000usize, 20_000, 50_000] {
        let mut window = SlidingWindow::new(rows);
        for i in 0..rows {
            let r = i % test.nrows();
            window.push(test.row(r).to_vec(), scores[r]);
        }
        group.bench_with_input(BenchmarkId::new("window", rows), &window, |b, w| {
            b.iter(|| w.drift(&profile, 0.5))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    simulation,
    features,
    predict_and_train,
    online_and_drift
);
criterion_main!(benches);
