//! Online/offline parity: replaying simulated traffic through the online feature store gives
//! the same features as the offline polars pipeline (training/serving skew test).

use std::collections::{HashMap, VecDeque};

use fraud_detector::features::{compute, to_matrix, FeatureSpec};
use fraud_detector::online::{FeatureStore, InMemoryFeatureStore, Transaction};
use fraud_detector::simulate::simulate;
use polars::prelude::*;

use crate::common::small_simulation;

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

#[test]
fn replayed_traffic_gets_the_offline_features_to_1e_9() {
    let spec = FeatureSpec::default();
    let names = spec.names();
    let mut cfg = small_simulation();
    cfg.n_days = 80;
    let (df, _) = simulate(&cfg).expect("simulate");
    let featured = compute(df, &spec).expect("features"); // sorted by time, then id
    let offline = to_matrix(&featured, &names).expect("matrix");
    let ids = ints(&featured, "transaction_id");
    let ms = ints(&featured, "tx_datetime");
    let cards = ints(&featured, "customer_id");
    let terminals = ints(&featured, "terminal_id");
    let amounts = floats(&featured, "tx_amount");
    let frauds = ints(&featured, "tx_fraud");
    let n = ids.len();
    assert!(n >= 10_000, "{n} transactions");

    // Two payments of one card in the same second see each other offline (a time window
    // cannot order them) but not online; their card features are compared separately.
    let mut per_card_second: HashMap<(i64, i64), usize> = HashMap::new();
    for i in 0..n {
        *per_card_second.entry((cards[i], ms[i] / 1000)).or_default() += 1;
    }
    let card_columns: Vec<usize> = (0..names.len())
        .filter(|&j| names[j].starts_with("customer_id"))
        .collect();

    let store = InMemoryFeatureStore::new(spec.clone());
    let delay_ms = spec.delay_days as i64 * 86_400_000;
    // Labels arrive exactly when the delay has passed.
    let mut pending: VecDeque<(i64, i64, bool)> = VecDeque::new();
    let (mut worst, mut tied_rows) = (0.0f64, 0usize);
    for i in 0..n {
        while pending.front().is_some_and(|p| p.0 <= ms[i]) {
            let (_, id, fraud) = pending.pop_front().expect("front");
            assert!(store.record_label(id, fraud));
        }
        let online = store.observe(&Transaction {
            transaction_id: ids[i],
            datetime_ms: ms[i],
            customer_id: cards[i],
            terminal_id: terminals[i],
            amount: amounts[i],
        });
        pending.push_back((ms[i] + delay_ms, ids[i], frauds[i] == 1));
        let tied = per_card_second[&(cards[i], ms[i] / 1000)] > 1;
        tied_rows += usize::from(tied);
        for (j, value) in online.iter().enumerate() {
            if tied && card_columns.contains(&j) {
                continue;
            }
            let diff = (value - offline[[i, j]]).abs();
            assert!(
                diff <= 1e-9,
                "row {i} ({}) feature {}: online {value}, offline {}",
                ids[i],
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
    use fraud_detector::config::{ModelConfig, ProtocolConfig};
    use fraud_detector::evaluate::{chapter3_split, labels};
    use fraud_detector::train::{fit, ModelKind};
    use ndarray::Array2;

    let spec = FeatureSpec::default();
    let names = spec.names();
    let (df, _) = simulate(&small_simulation()).expect("simulate");
    let featured = compute(df.clone(), &spec).expect("features");
    let split = chapter3_split(&featured, &ProtocolConfig::default()).expect("split");
    let x = to_matrix(&split.train, &names).expect("x");
    let y = labels(&split.train).expect("y");
    let model = fit(
        ModelKind::GradientBoosting,
        &x,
        &y,
        &names,
        &ModelConfig::default(),
    )
    .expect("fit");
    let artifact = FraudArtifact {
        spec: spec.clone(),
        model,
    };

    let batch = score_frame(df, &artifact, &DecisionThresholds::default()).expect("batch");
    let batch_scores = floats(&batch, "fraud_score");
    let ids = ints(&batch, "transaction_id");
    let ms = ints(&batch, "tx_datetime");
    let cards = ints(&batch, "customer_id");
    let terminals = ints(&batch, "terminal_id");
    let amounts = floats(&batch, "tx_amount");
    let frauds = ints(&featured, "tx_fraud");
    assert_eq!(
        ids,
        ints(&featured, "transaction_id"),
        "batch keeps the feature order"
    );

    let store = InMemoryFeatureStore::new(spec.clone());
    let delay_ms = spec.delay_days as i64 * 86_400_000;
    let mut pending: VecDeque<(i64, i64, bool)> = VecDeque::new();
    let mut worst = 0.0f64;
    let mut per_card_second: HashMap<(i64, i64), usize> = HashMap::new();
    for i in 0..ids.len() {
        *per_card_second.entry((cards[i], ms[i] / 1000)).or_default() += 1;
    }
    for i in 0..ids.len() {
        while pending.front().is_some_and(|p| p.0 <= ms[i]) {
            let (_, id, fraud) = pending.pop_front().expect("front");
            store.record_label(id, fraud);
        }
        let features = store.observe(&Transaction {
            transaction_id: ids[i],
            datetime_ms: ms[i],
            customer_id: cards[i],
            terminal_id: terminals[i],
            amount: amounts[i],
        });
        pending.push_back((ms[i] + delay_ms, ids[i], frauds[i] == 1));
        if per_card_second[&(cards[i], ms[i] / 1000)] > 1 {
            continue; // same-second ties: see the parity test above
        }
        let row = Array2::from_shape_vec((1, features.len()), features).expect("row");
        let online = artifact.model.predict_proba(row.view()).expect("score")[0];
        worst = worst.max((online - batch_scores[i]).abs());
    }
    assert!(worst <= 1e-9, "batch and online scores differ by {worst}");
}
