//! The MIND-format sample from `MLSD_DATA_DIR` through `mlsd newsfeed evaluate --protocol mind
//! --json`: the documented shape, the anchor's baselines reproduced, the models above them.
//! Prints SKIPPED without the data.

use serde_json::Value;

use crate::common::data_dir;

fn row<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["models"]
        .as_array()
        .and_then(|r| r.iter().find(|m| m["name"] == name))
        .unwrap_or_else(|| panic!("no row {name} in {v}"))
}

#[test]
fn mind_sample_reproduces_the_anchor_baselines_and_the_models_beat_the_smoothed_ctr() {
    if data_dir("mind-small-sample").is_none() {
        return;
    }
    let runs = tempfile::tempdir().expect("tempdir");
    let args = ["newsfeed", "evaluate", "--protocol", "mind", "--json"];
    let (ok, out, err) = crate::common::mlsd(&args, runs.path());
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["protocol"], "mind");
    // The anchor's test set: 968 impressions of 2019-11-14 with a click and a non-click.
    assert_eq!(v["test_impressions"].as_u64(), Some(968));
    assert_eq!(v["quarantined"].as_u64(), Some(0));
    for m in v["models"].as_array().expect("models") {
        for key in ["auc", "mrr", "ndcg_at_5", "ndcg_at_10"] {
            assert!(
                m[key].as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)),
                "{key} in {m}"
            );
        }
    }
    // anchors.md, computed outside the project on the same split.
    let close = |m: &Value, key: &str, want: f64| {
        let got = m[key].as_f64().unwrap_or(f64::NAN);
        assert!(
            (got - want).abs() < 0.0015,
            "{}: {key} {got} vs {want}",
            m["name"]
        );
    };
    let ctr = row(&v, "smoothed CTR");
    for (key, want) in [
        ("auc", 0.596),
        ("mrr", 0.265),
        ("ndcg_at_5", 0.278),
        ("ndcg_at_10", 0.336),
    ] {
        close(ctr, key, want);
    }
    let popularity = row(&v, "popularity");
    for (key, want) in [
        ("auc", 0.540),
        ("mrr", 0.234),
        ("ndcg_at_5", 0.240),
        ("ndcg_at_10", 0.297),
    ] {
        close(popularity, key, want);
    }
    close(row(&v, "recency"), "auc", 0.541);
    let best = |key: &str| {
        v["models"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m[key].as_f64())
            .fold(0.0, f64::max)
    };
    // Our best against the anchor's online smoothed CTR (0.596 / 0.336). The target
    // (AUC ≥ 0.62) is not reached: docs/designs/news-feed.md says so.
    assert!(best("auc") >= 0.61, "{}", best("auc"));
    assert!(best("ndcg_at_10") >= 0.35, "{}", best("ndcg_at_10"));
}

#[test]
fn a_malformed_behaviours_line_is_quarantined_not_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let behaviors = "1\tU1\t11/9/2019 8:00:00 AM\tN1 N2\tN3-1 N4-0\n\
                     2\tU2\tnot a time\tN1\tN3-0\n\
                     3\tU2\t11/9/2019 9:00:00 AM\t\tN3-7\n\
                     4\tU3\t11/10/2019 9:00:00 AM\tN3\tN4-1 N5-0\n";
    std::fs::write(dir.path().join("behaviors.tsv"), behaviors).expect("write");
    std::fs::write(dir.path().join("news.tsv"), "N3\tsports\tfootball\tTitle\n").expect("write");
    let loaded = newsfeed::data::load_mind(dir.path()).expect("load");
    assert_eq!(loaded.log.impressions.len(), 2);
    let reasons = loaded.quarantine.counts_by_reason();
    assert_eq!(reasons.get("bad_time"), Some(&1));
    assert_eq!(reasons.get("bad_impressions"), Some(&1));
    assert_eq!(loaded.validation.input_rows, 4);
    let n3 = loaded.log.items.iter().find(|i| i.key == "N3").expect("N3");
    assert_eq!(
        n3.topic.map(|t| loaded.log.topics[t as usize].as_str()),
        Some("sports")
    );
}

#[test]
fn a_simulated_log_written_in_the_mind_format_reads_back_whole() {
    let runs = tempfile::tempdir().expect("tempdir");
    let out = runs.path().join("sim");
    let out_s = out.to_str().expect("path");
    let args = ["newsfeed", "simulate", "--days", "2", "--out", out_s];
    let (ok, stdout, stderr) = crate::common::mlsd(&args, runs.path());
    assert!(ok, "{stderr}");
    let loaded = newsfeed::data::load_mind(&out.join("mind-small-sample")).expect("load");
    assert!(
        loaded.quarantine.is_empty(),
        "{:?}",
        loaded.quarantine.counts_by_reason()
    );
    let n = loaded.log.impressions.len();
    assert!(
        n > 0 && stdout.contains(&format!("{n} impressions in the MIND format")),
        "{stdout}"
    );
    assert!(loaded.log.clicks() > 0);
    assert!(loaded.log.items.iter().any(|i| i.topic.is_some()));
}
