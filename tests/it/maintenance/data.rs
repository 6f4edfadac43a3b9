//! NASA C-MAPSS FD001 and AI4I 2020 from `MLSD_DATA_DIR`, through `mlsd maintenance evaluate
//! --json` (the documented shape and the acceptance numbers in one run), and the leak guard.
//! Each test prints SKIPPED without the data.

use maintenance::evaluate::{self, Ai4iConfig};
use serde_json::Value;

use crate::common::data_dir;

/// `mlsd maintenance evaluate --protocol <protocol> --json`, with every model row checked for
/// the documented keys.
pub fn evaluate_json(protocol: &str, model_keys: &[&str]) -> Value {
    let runs = tempfile::tempdir().expect("tempdir");
    let args = ["maintenance", "evaluate", "--protocol", protocol, "--json"];
    let (ok, out, err) = crate::common::mlsd(&args, runs.path());
    assert!(ok, "{protocol}: {err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    for m in v["models"].as_array().expect("models") {
        for key in model_keys {
            assert!(
                m[key].is_number() || m[key].is_string(),
                "{protocol}: {key} in {m}"
            );
        }
    }
    v
}

fn best(v: &Value, key: &str, lowest: bool) -> (String, f64) {
    let rows = v["models"].as_array().expect("models");
    let mut pairs: Vec<(String, f64)> = rows
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_string(),
                m[key].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    pairs.sort_by(|a, b| a.1.total_cmp(&b.1));
    if lowest {
        pairs.remove(0)
    } else {
        pairs.pop().expect("a row")
    }
}

#[test]
fn cmapss_fd001_best_model_reaches_rmse_13_and_nasa_score_300_and_beats_both_baselines() {
    if data_dir("cmapss-fd001").is_none() {
        return;
    }
    let v = evaluate_json("cmapss", &["name", "rmse", "nasa_score", "train_seconds"]);
    assert_eq!(v["protocol"], "cmapss-fd001");
    assert_eq!(
        (v["train_engines"].as_u64(), v["test_engines"].as_u64()),
        (Some(100), Some(100))
    );
    assert_eq!(
        (v["train_rows"].as_u64(), v["quarantined_rows"].as_u64()),
        (Some(20_631), Some(0))
    );
    let (name, rmse) = best(&v, "rmse", true);
    let row = v["models"]
        .as_array()
        .and_then(|r| r.iter().find(|m| m["name"] == name.as_str()))
        .expect("row");
    assert!(
        rmse <= 13.0 && row["nasa_score"].as_f64().is_some_and(|s| s <= 300.0),
        "{row}"
    );
    let rmse_of = |prefix: &str| {
        v["models"]
            .as_array()
            .and_then(|r| {
                r.iter()
                    .find(|m| m["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            })
            .and_then(|m| m["rmse"].as_f64())
            .expect("baseline")
    };
    assert!(rmse < rmse_of("weibull") / 2.0 && rmse_of("weibull") < rmse_of("mean"));
    // The flat sensors of FD001 are dropped, the wear sensors kept.
    let dropped = v["sensors_dropped"].to_string();
    for flat in [
        "sensor_1\"",
        "sensor_5\"",
        "sensor_10\"",
        "sensor_16\"",
        "sensor_18\"",
        "sensor_19\"",
    ] {
        assert!(
            dropped.contains(flat),
            "{flat} should be dropped: {dropped}"
        );
    }
    // On the test engines' true lives the predictive policy is the cheapest.
    let cost = |name: &str| {
        v["policies"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == name))
            .and_then(|p| p["cost_per_1000_cycles"].as_f64())
            .expect("policy")
    };
    assert!(
        cost("predictive") < cost("fixed interval")
            && cost("fixed interval") < cost("run to failure")
    );
}

#[test]
fn ai4i_models_without_failure_modes_reach_ap_and_f1_090_and_stay_under_the_leak_guard() {
    if data_dir("ai4i2020").is_none() {
        return;
    }
    let v = evaluate_json(
        "ai4i",
        &["name", "average_precision", "f1", "precision", "recall"],
    );
    assert_eq!(v["protocol"], "ai4i2020");
    assert_eq!(
        (v["rows"].as_u64(), v["failures"].as_u64()),
        (Some(10_000), Some(339))
    );
    // No failure-mode column is an input.
    let inputs = v["features"].to_string().to_lowercase();
    for mode in maintenance::data::AI4I_FAILURE_MODES {
        assert!(
            !inputs.contains(&format!("\"{}\"", mode.to_lowercase())),
            "{mode} is an input"
        );
    }
    let (_, ap) = best(&v, "average_precision", false);
    let (_, f1) = best(&v, "f1", false);
    assert!(ap >= 0.90 && f1 >= 0.90, "AP {ap}, F1 {f1}");
    // Leak guard: above F1 0.95 the failure modes leaked in (a leak-free ceiling is ~0.92).
    for m in v["models"].as_array().expect("models") {
        assert!(
            m["f1"].as_f64().is_some_and(|f| f <= 0.95),
            "{m}: failure-mode columns leaked?"
        );
    }
}

#[test]
fn the_leak_guard_fires_when_the_failure_modes_are_inputs() {
    let Some(dir) = data_dir("ai4i2020") else {
        return;
    };
    let path = dir.join("ai4i2020").join("ai4i2020.csv");
    let leaky = evaluate::ai4i(&path, &Ai4iConfig::default(), true).expect("protocol");
    let best = leaky.models.iter().map(|m| m.f1).fold(0.0, f64::max);
    assert!(
        best > 0.95,
        "with the failure modes as inputs the best F1 is {best}"
    );
}

#[test]
fn the_documented_physics_reproduces_the_heat_power_and_overstrain_flags() {
    let Some(dir) = data_dir("ai4i2020") else {
        return;
    };
    let set =
        maintenance::data::load_ai4i(&dir.join("ai4i2020").join("ai4i2020.csv")).expect("load");
    let (mut hits, mut differ) = (0, 0);
    for (m, modes) in set.loaded.fleet.machines.iter().zip(&set.failure_modes) {
        let row = maintenance::models::ai4i_row(&m.kind, &m.readings[0].values);
        let rule = maintenance::models::ai4i_rules(&row);
        // HDF, PWF, OSF: the three modes the documentation gives as physics.
        differ += usize::from(rule != (modes[1] || modes[2] || modes[3]));
        if rule {
            hits += 1;
            assert!(
                matches!(m.end, maintenance::data::End::Failed(_)),
                "machine {} hits a rule without a failure",
                m.id
            );
        }
    }
    assert_eq!(
        differ, 0,
        "rows where the rules and the HDF|PWF|OSF flags disagree"
    );
    assert!(hits > 250, "{hits} rule hits");
}

#[test]
fn the_leaked_outcome_mistake_looks_near_perfect_and_the_honest_model_does_not() {
    let Some(dir) = data_dir("ai4i2020") else {
        return;
    };
    let path = dir.join("ai4i2020").join("ai4i2020.csv");
    let runs = maintenance::mistakes::run(&["all"], &path, &Default::default()).expect("mistakes");
    let leak = &runs[0];
    assert_eq!(leak.name, "leaked-outcome");
    assert!(leak.mistaken > 0.95 && leak.honest < 0.95, "{leak:?}");
}
