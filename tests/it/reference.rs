//! Our metrics and drift tests against the libraries people check them with: AUC, average
//! precision and nDCG against scikit-learn, KS and chi-square against SciPy, on fixed inputs.
//! The inputs and the libraries' answers are in `tests/data/reference_values.json`, made by
//! `scripts/reference_values.py` (which names the library versions); no Python runs here.

use std::collections::HashSet;

use mlsd_core::drift::{column_drift, ks_p_value, ks_statistic, DriftTest, FeatureProfile};
use mlsd_core::metrics::{average_precision, roc_auc, top_k};
use serde_json::Value;

fn cases(kind: &str) -> Vec<Value> {
    let text = include_str!("../data/reference_values.json");
    let all: Value = serde_json::from_str(text).expect("reference values parse");
    all[kind].as_array().expect("a list of cases").clone()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn close(ours: f64, theirs: f64, tolerance: f64, what: &str) {
    assert!(
        (ours - theirs).abs() <= tolerance,
        "{what}: ours {ours}, reference {theirs} (|Δ| {:.2e} > {tolerance:.0e})",
        (ours - theirs).abs()
    );
    println!("{what}: ours {ours:.12}, reference {theirs:.12}");
}

#[test]
fn roc_auc_and_average_precision_match_scikit_learn_with_ties() {
    for case in cases("ranking") {
        let name = case["name"].as_str().unwrap_or("?");
        let labels: Vec<bool> = case["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .map(|b| b.as_bool().expect("bool"))
            .collect();
        let scores = floats(&case["scores"]);
        let auc = roc_auc(&labels, &scores).expect("auc");
        close(
            auc,
            case["roc_auc"].as_f64().expect("auc"),
            1e-12,
            &format!("AUC, {name}"),
        );
        let ap = average_precision(&labels, &scores).expect("ap");
        let theirs = case["average_precision"].as_f64().expect("ap");
        close(ap, theirs, 1e-12, &format!("AP, {name}"));
    }
}

#[test]
fn ndcg_matches_scikit_learn_with_binary_gains() {
    for case in cases("ndcg") {
        let name = case["name"].as_str().unwrap_or("?");
        let recommended: Vec<u32> = floats(&case["recommended"])
            .iter()
            .map(|&x| x as u32)
            .collect();
        let relevant: HashSet<u32> = floats(&case["relevant"])
            .iter()
            .map(|&x| x as u32)
            .collect();
        let k = case["k"].as_u64().expect("k") as usize;
        let ours = top_k(&recommended, &relevant, k)
            .expect("relevant items")
            .ndcg;
        close(
            ours,
            case["ndcg"].as_f64().expect("ndcg"),
            1e-12,
            &format!("nDCG@{k}, {name}"),
        );
    }
}

#[test]
fn ks_statistic_and_p_value_match_scipy() {
    for case in cases("ks") {
        let name = case["name"].as_str().unwrap_or("?");
        let mut a = floats(&case["reference"]);
        let mut b = floats(&case["current"]);
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let d = ks_statistic(&a, &b);
        close(
            d,
            case["statistic"].as_f64().expect("d"),
            1e-12,
            &format!("KS D, {name}"),
        );
        // SciPy's asymptotic p-value is the plain Kolmogorov distribution at √(nm/(n+m))·D;
        // ours adds Stephens' small-sample correction, so the two agree to a few per cent of
        // the p-value (2.7 % at most on these cases), not to the last digit.
        let theirs = case["p_value_asymp"].as_f64().expect("p");
        let ours = ks_p_value(d, a.len(), b.len());
        close(ours, theirs, 0.05 * theirs, &format!("KS p, {name}"));
        // The drift check compares the current sample with the reference's 1,001-quantile
        // sketch, not the reference rows: same verdict at 0.05 as the exact test.
        let profile = FeatureProfile::new("x", &a);
        let drift = column_drift(&profile, &b);
        assert_eq!(drift.test, DriftTest::Ks, "{name}");
        assert_eq!(
            drift.statistic <= 0.05,
            theirs <= 0.05,
            "{name}: {drift:?} vs {theirs}"
        );
    }
}

#[test]
fn chi_square_p_values_match_scipy() {
    for case in cases("chi_square") {
        let name = case["name"].as_str().unwrap_or("?");
        // A reference column holding category i `counts[i]` times (values 0, 1, 2 …).
        let column = |counts: &Value| -> Vec<f64> {
            floats(counts)
                .iter()
                .enumerate()
                .flat_map(|(i, &n)| std::iter::repeat_n(i as f64, n as usize))
                .collect()
        };
        let reference = column(&case["reference_counts"]);
        let current = column(&case["current_counts"]);
        let profile = FeatureProfile::new("category", &reference);
        let drift = column_drift(&profile, &current);
        assert_eq!(drift.test, DriftTest::ChiSquare, "{name}");
        let theirs = case["p_value"].as_f64().expect("p");
        close(
            drift.statistic,
            theirs,
            1e-9 * theirs.max(1e-3),
            &format!("χ² p, {name}"),
        );
    }
}
