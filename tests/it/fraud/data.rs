//! Data tests: no leakage. A feature may only use the past, and a fraud label only once its
//! investigation delay has passed.

use fraud_detector::features::{compute, FeatureSpec};
use fraud_detector::simulate::simulate;
use polars::prelude::*;

use crate::common::small_simulation;

const DAY_MS: i64 = 86_400_000;

fn ms(df: &DataFrame) -> Vec<i64> {
    df.column("tx_datetime")
        .and_then(|c| c.cast(&DataType::Int64))
        .expect("datetime")
        .i64()
        .expect("i64")
        .into_no_null_iter()
        .collect()
}

fn feature(df: &DataFrame, name: &str) -> Vec<f64> {
    df.column(name)
        .expect("feature")
        .f64()
        .expect("f64")
        .into_no_null_iter()
        .collect()
}

fn small_world() -> DataFrame {
    let mut cfg = small_simulation();
    cfg.n_days = 80;
    simulate(&cfg).expect("simulate").0
}

#[test]
fn features_of_the_past_do_not_change_when_the_future_is_removed() {
    let spec = FeatureSpec::default();
    let all = compute(small_world(), &spec).expect("features");
    let times = ms(&all);
    let cutoff = times[0] - times[0].rem_euclid(DAY_MS) + 60 * DAY_MS;
    let past_only = all
        .clone()
        .lazy()
        .filter(col("tx_datetime").cast(DataType::Int64).lt(lit(cutoff)))
        // Drop the derived features (tx_amount is a feature and an input: keep it).
        .drop(cols(spec.names().into_iter().filter(|n| n != "tx_amount")))
        .collect()
        .expect("filter");
    let recomputed = compute(past_only, &spec).expect("features");
    let n = recomputed.height();
    assert!(n > 1000 && n < all.height());
    for name in spec.names() {
        let (a, b) = (feature(&all, &name), feature(&recomputed, &name));
        let worst = a[..n]
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-9,
            "{name} changed by {worst} when future rows were removed"
        );
    }
}

/// Sets `tx_fraud` to 1 for rows whose time satisfies `pick`.
fn relabel(df: &DataFrame, pick: impl Fn(i64) -> bool) -> DataFrame {
    let labels: Vec<i64> = ms(df)
        .into_iter()
        .zip(
            df.column("tx_fraud")
                .expect("labels")
                .i64()
                .expect("i64")
                .into_no_null_iter(),
        )
        .map(|(t, f)| if pick(t) { 1 } else { f })
        .collect();
    let mut out = df.clone();
    out.with_column(Column::new("tx_fraud".into(), labels))
        .expect("replace");
    out
}

#[test]
fn terminal_risk_ignores_labels_younger_than_the_delay() {
    let spec = FeatureSpec::default();
    let world = small_world();
    let times = ms(&world);
    let day = |d: i64| times[0] - times[0].rem_euclid(DAY_MS) + d * DAY_MS;
    let risk_on_day_60 = |df: DataFrame| -> Vec<f64> {
        let f = compute(df, &spec).expect("features");
        let t = ms(&f);
        let risk = feature(&f, "terminal_id_risk_30day_window");
        t.iter()
            .zip(risk)
            .filter(|(t, _)| **t >= day(60) && **t < day(61))
            .map(|(_, r)| r)
            .collect()
    };
    let baseline = risk_on_day_60(world.clone());
    assert!(!baseline.is_empty());
    // Every payment from day 54 on "turns out to be fraud": day 60's features cannot know.
    let recent = risk_on_day_60(relabel(&world, |t| t >= day(54)));
    assert_eq!(
        baseline, recent,
        "labels younger than 7 days leaked into terminal risk"
    );
    // The same relabelling two weeks earlier must show (so the check above can fail).
    let older = risk_on_day_60(relabel(&world, |t| t >= day(40) && t < day(50)));
    assert_ne!(
        baseline, older,
        "labels older than the delay should be visible"
    );
}
