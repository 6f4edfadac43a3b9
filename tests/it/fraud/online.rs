//! Online/offline parity: replaying simulated traffic through the online feature store gives
//! the same features as the offline polars pipeline (training/serving skew test).

use std::collections::{HashMap, VecDeque};

use fraud_detector::features::{compute, to_matrix, FeatureSpec};
use fraud_detector::online::{transactions_of, FeatureStore, InMemoryFeatureStore, Transaction};
use fraud_detector::simulate::simulate;
use polars::prelude::*;

use crate::common::{small_chapter3, small_featured, small_simulation};

fn ints(df: &DataFrame, name: &str) -> Vec<i64> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::Int64))
        .expect("column");
    c.i64().expect("i64").into_no_null_iter().collect()
}

fn floats(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .expect("column")
        .f64()
        .expect("f64")
        .into_no_null_iter()
        .collect()
}

/// One replayed payment: its online features, and whether its card paid twice in that second
/// (offline windows cannot order such payments, so they see each other; online ones do not).
pub(super) struct Replayed {
    pub features: Vec<f64>,
    pub same_second_tie: bool,
}

/// Replays a featured, time-sorted frame through a fresh online store, delivering each label
/// exactly when its delay has passed, as investigators would.
fn replay(featured: &DataFrame, spec: &FeatureSpec) -> Vec<Replayed> {
    replay_through(&InMemoryFeatureStore::new(spec.clone()), featured, spec)
}

/// [`replay`] through `store` (the Redis store's parity test replays through both).
pub(super) fn replay_through(
    store: &dyn FeatureStore,
    featured: &DataFrame,
    spec: &FeatureSpec,
) -> Vec<Replayed> {
    let payments = transactions_of(featured).expect("transactions");
    let second = |tx: &Transaction| (tx.customer_id, tx.datetime_ms / 1000);
    let mut per_card_second: HashMap<(i64, i64), usize> = HashMap::new();
    for (tx, _) in &payments {
        *per_card_second.entry(second(tx)).or_default() += 1;
    }
    let delay_ms = spec.delay_days as i64 * 86_400_000;
    let mut pending: VecDeque<(i64, i64, bool)> = VecDeque::new();
    payments
        .iter()
        .map(|(tx, fraud)| {
            while pending.front().is_some_and(|p| p.0 <= tx.datetime_ms) {
                let (_, id, fraud) = pending.pop_front().expect("front");
                assert!(store.record_label(id, fraud).expect("label"));
            }
            let features = store.observe(tx).expect("observe");
            pending.push_back((tx.datetime_ms + delay_ms, tx.transaction_id, *fraud));
            Replayed {
                features,
                same_second_tie: per_card_second[&second(tx)] > 1,
            }
        })
        .collect()
}

#[test]
fn replayed_traffic_gets_the_offline_features_to_1e_9() {
    let spec = FeatureSpec::default();
    let names = spec.names();
    let mut cfg = small_simulation();
    cfg.n_days = 80;
    let (df, _) = simulate(&cfg).expect("simulate");
    let featured = compute(df, &spec).expect("features"); // sorted by time, then id
    let offline = to_matrix(&featured, &names).expect("matrix");
    let n = featured.height();
    assert!(n >= 10_000, "{n} transactions");
    let card_columns: Vec<usize> = (0..names.len())
        .filter(|&j| names[j].starts_with("customer_id"))
        .collect();
    let (mut worst, mut tied_rows) = (0.0f64, 0usize);
    for (i, row) in replay(&featured, &spec).iter().enumerate() {
        tied_rows += usize::from(row.same_second_tie);
        for (j, value) in row.features.iter().enumerate() {
            if row.same_second_tie && card_columns.contains(&j) {
                continue;
            }
            let diff = (value - offline[[i, j]]).abs();
            assert!(
                diff <= 1e-9,
                "row {i} feature {}: online {value}, offline {}",
                names[j],
                offline[[i, j]]
            );
            worst = worst.max(diff);
        }
    }
    // Ties must stay rare, or the comparison above would be hollow.
    assert!(
        tied_rows * 1000 < n,
        "{tied_rows} of {n} rows share a card and a second"
    );
    println!("parity over {n} transactions: max |online − offline| = {worst:e}; {tied_rows} rows with same-second card ties skipped for card features");
}

#[test]
fn batch_scores_equal_scores_from_the_online_store() {
    use fraud_detector::artifact::FraudArtifact;
    use fraud_detector::batch::{score_frame, DecisionThresholds};
    use fraud_detector::config::ModelConfig;
    use fraud_detector::train::{fit, ModelKind};
    use ndarray::Array2;

    let spec = FeatureSpec::default();
    let names = spec.names();
    let (x, y, _) = small_chapter3();
    let model = fit(
        ModelKind::GradientBoosting,
        x,
        y,
        &names,
        &ModelConfig::default(),
    )
    .expect("fit");
    // A calibration, so the test covers it: batch and online must apply it alike.
    let artifact = FraudArtifact {
        spec: spec.clone(),
        model,
        calibration: Some(mlsd_core::metrics::Platt { a: 0.8, b: -0.5 }),
        thresholds: None,
    };
    let (df, _) = simulate(&small_simulation()).expect("simulate");
    let batch = score_frame(df, &artifact, &DecisionThresholds::default()).expect("batch");
    let featured = small_featured();
    assert_eq!(
        ints(&batch, "transaction_id"),
        ints(featured, "transaction_id"),
        "batch keeps the feature order"
    );
    let batch_scores = floats(&batch, "fraud_score");
    let mut worst = 0.0f64;
    for (i, row) in replay(featured, &spec).into_iter().enumerate() {
        if row.same_second_tie {
            continue;
        }
        let one = Array2::from_shape_vec((1, row.features.len()), row.features).expect("row");
        let online = artifact.probabilities(one.view()).expect("score")[0];
        worst = worst.max((online - batch_scores[i]).abs());
    }
    assert!(worst <= 1e-9, "batch and online scores differ by {worst}");
}
