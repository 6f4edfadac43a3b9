//! The `mlsd` binary end to end, on small simulations.

use crate::common::{mlsd, mlsd_status};

/// The small world of `common::small_simulation`, as command-line options.
const SMALL: [&str; 6] = ["--customers", "600", "--terminals", "1200", "--days", "140"];

/// `mlsd <command…> <SMALL options>`.
fn with_small(command: &[&str]) -> Vec<String> {
    command
        .iter()
        .chain(SMALL.iter())
        .map(|s| s.to_string())
        .collect()
}

fn run(args: &[String], dir: &std::path::Path) -> (bool, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    mlsd(&args, dir)
}

fn sha256(path: &std::path::Path) -> String {
    mlsd_core::report::sha256_file(path).expect("hash")
}

#[test]
fn generate_is_byte_identical_for_the_same_seed_and_differs_for_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = ["--customers", "100", "--terminals", "200", "--days", "30"];
    let mut hashes = Vec::new();
    for (name, seed) in [
        ("a.arrows", "7"),
        ("b.arrows", "7"),
        ("c.arrows", "8"),
        ("d.csv", "7"),
        ("e.csv", "7"),
    ] {
        let out = dir.path().join(name);
        let out_s = out.to_string_lossy().to_string();
        let mut args = vec!["fraud", "generate", "--seed", seed, "--out", &out_s];
        args.extend(small);
        let (ok, stdout, stderr) = mlsd(&args, dir.path());
        assert!(ok, "{stderr}");
        assert!(stdout.contains("transactions"), "{stdout}");
        hashes.push(sha256(&out));
    }
    assert_eq!(hashes[0], hashes[1], "same seed, same Arrow stream bytes");
    assert_ne!(hashes[0], hashes[2], "another seed, other data");
    assert_eq!(hashes[3], hashes[4], "same seed, same csv bytes");
}

#[test]
fn the_demo_runs_end_to_end_and_registers_a_current_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = run(&with_small(&["demo"]), dir.path());
    assert!(ok, "demo failed: {stderr}");
    for expected in [
        "1. simulate",
        "2. ingest",
        "3. features",
        "| model | AUC |",
        "logistic_regression",
        "gradient_boosting",
        "promoted to current",
        "6. serve",
        "API vs batch: max |Δscore|",
        "decisions differ on 0",
        "7. monitor",
        "drifted    dataset drift true",
        "mlsd demo — recommender",
        "| two_stage |",
        "3. batch     top 50 for all 3000 users",
        "(the snapshot does not know the session)",
        "3000 held-out events posted",
        "5. monitor",
        "Sentiment (embedded synthetic reviews: 2000 texts",
        "registered and promoted",
        "→ positive (P = 0.91), from the cache",
        "POST /v1/sentiment/stream (NDJSON): 1000 lines scored, 2 refused",
        "GET /v1/sentiment/live?topic=battery (SSE) → 10 s: 153 texts",
        "after the review stream 1004 texts",
        "Personalized news feed (news simulator, seed 42",
        "feeds changed",
        "(detected, no false alarm)",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in:\n{stdout}"))
            .to_string()
    };
    let drift = line("GET /v1/sentiment/drift:");
    let (same, other) = drift.split_once("hotel reviews").expect("both checks");
    assert!(
        same.contains(": no drift;") && other.contains("DRIFT ("),
        "{drift}"
    );
    assert!(line("ordinary ").contains("drift false  user"), "{stdout}");
    assert!(line("trend shift ").contains("drift true "), "{stdout}");
    let after = line("real-time after:");
    let batch_after = line("batch after:");
    assert_ne!(
        after.split(':').nth(1),
        batch_after.split(':').nth(1),
        "{stdout}"
    );
    // The registry now lists one current version, and there is nothing to roll back to.
    let (ok, listed, _) = mlsd(&["models", "list"], dir.path());
    assert!(ok);
    assert!(listed.contains("* v0001"), "{listed}");
    let (ok, _, stderr) = mlsd(&["models", "rollback"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("nothing to roll back"), "{stderr}");
    // The served model is calibrated (on out-of-fold training scores, measured on the test
    // week) and its thresholds come from the alert budget; every design registered one
    // version, recording the commit that built the binary.
    let (ok, listed, _) = mlsd(&["models", "list", "--json"], dir.path());
    assert!(ok);
    let versions: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    let m = &versions[0]["manifest"];
    let metric = |name: &str| m["metrics"][name].as_f64().unwrap_or(f64::NAN);
    // (On the small world the winner is boosting, already near-calibrated by its log loss:
    // calibration must keep it so. `models::calibration_fixes_…` checks a model it must fix.)
    assert!(metric("ece_calibrated") < 0.01, "{m}");
    let (review, block) = (metric("review_threshold"), metric("block_threshold"));
    assert!(0.0 < review && review <= block && block <= 1.0, "{m}");
    assert!(
        m["code_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("0.1.0")),
        "{m}"
    );
    for design in ["recommender", "sentiment"] {
        let (ok, listed, _) = mlsd(&["models", "list", "--design", design], dir.path());
        assert!(ok && listed.contains("* v0001"), "{design}: {listed}");
    }
}

#[test]
fn evaluate_json_has_the_documented_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = run(&with_small(&["fraud", "evaluate", "--json"]), dir.path());
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["protocol"], "handbook-ch3");
    let models = v["models"].as_array().expect("models");
    assert_eq!(models.len(), 7, "six models and the random scorer");
    for m in models {
        for key in [
            "name",
            "auc",
            "average_precision",
            "card_precision_at_100",
            "train_seconds",
            "predict_seconds",
        ] {
            assert!(m.get(key).is_some(), "{key} missing in {m}");
        }
        // Every trained model carries its curves (the seeded random scorer does not).
        let roc = m["curves"]["roc"].as_array();
        assert_eq!(roc.is_some(), m["name"] != "random", "{}", m["name"]);
        if let Some(roc) = roc {
            assert_eq!(roc.first(), Some(&serde_json::json!([0.0, 0.0])));
            assert_eq!(roc.last(), Some(&serde_json::json!([1.0, 1.0])));
            assert!(roc.len() <= 200, "thinned");
        }
    }
    // The run folder has the same report as JSON and as a page with the curves.
    let page = read_run_file(dir.path(), "fraud-evaluate", "evaluation.html");
    for chart in [">ROC<", ">Precision–recall<", ">Reliability (calibration)<"] {
        assert!(page.contains(chart), "{chart} missing");
    }
    assert!(page.contains(">undersampled_forest<") && !page.contains("<script"));
}

/// The file `name` of the only run folder starting with `prefix` under `runs`.
fn read_run_file(runs: &std::path::Path, prefix: &str, name: &str) -> String {
    let folders: Vec<std::path::PathBuf> = std::fs::read_dir(runs)
        .expect("runs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    std::fs::read_to_string(folders[0].join(name)).expect("the run file")
}

#[test]
fn operate_json_has_the_documented_shape_and_the_run_folder_its_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["operate", "sentiment", "--days", "30", "--drift-at", "15"];
    let mut json: Vec<&str> = args.to_vec();
    json.extend(["--policy", "triggered", "--json"]);
    let (ok, stdout, stderr) = mlsd(&json, dir.path());
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(
        (&v["design"], &v["policy"]),
        (&"sentiment".into(), &"triggered".into())
    );
    for key in [
        "detect_days",
        "recover_days",
        "retrains",
        "broken_candidate_promoted",
    ] {
        assert!(v.get(key).is_some(), "{key} missing");
    }
    assert_eq!(v["broken_candidate_promoted"], false);
    let days = v["days"].as_array().expect("days");
    assert_eq!(days.len(), 30);
    for key in [
        "day",
        "metric",
        "estimated_metric",
        "serving_version",
        "event",
    ] {
        assert!(days[0].get(key).is_some(), "{key} missing in {}", days[0]);
    }
    // Without --policy: the three policies compared, and the run folder's files.
    let (ok, stdout, stderr) = mlsd(&args, dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("| never |") && stdout.contains("| triggered |"),
        "{stdout}"
    );
    let run = std::fs::read_dir(dir.path())
        .expect("runs")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("operate-"))
        })
        .max()
        .expect("a run folder");
    for file in [
        "report.json",
        "operate.png",
        "operate.svg",
        "policies.md",
        "decisions-never.jsonl",
    ] {
        assert!(
            run.join(file).exists(),
            "{file} missing in {}",
            run.display()
        );
    }
}

#[test]
fn train_then_promote_and_rollback_move_the_current_pointer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("tx.arrows").to_string_lossy().to_string();
    assert!(
        run(
            &with_small(&["fraud", "generate", "--out", &data]),
            dir.path()
        )
        .0
    );
    for model in ["logistic_regression", "undersampled_tree_depth2"] {
        let args = with_small(&["fraud", "train", "--input", &data, "--model", model]);
        let (ok, stdout, stderr) = run(&args, dir.path());
        assert!(ok, "{stderr}");
        assert!(stdout.contains("(now current)"), "{stdout}");
    }
    let (_, listed, _) = mlsd(&["models", "list"], dir.path());
    assert!(listed.contains("* v0002"), "{listed}");
    let (ok, stdout, _) = mlsd(&["models", "rollback"], dir.path());
    assert!(ok && stdout.contains("v0001"), "{stdout}");
    let (ok, stdout, _) = mlsd(&["models", "promote", "v0002"], dir.path());
    assert!(ok && stdout.contains("v0002"), "{stdout}");
    let (ok, _, stderr) = mlsd(&["models", "promote", "v0009"], dir.path());
    assert!(!ok && stderr.contains("not found"), "{stderr}");

    // Monitoring the current model: the training data itself does not drift; a world with
    // 50 % larger amounts and 50 % more payments from 2018-08-01 does.
    let drifted = dir
        .path()
        .join("drifted.arrows")
        .to_string_lossy()
        .to_string();
    let mut args = with_small(&[
        "fraud",
        "generate",
        "--out",
        &drifted,
        "--drift-from",
        "2018-08-01",
    ]);
    args.extend(
        [
            "--drift-amount-factor",
            "1.5",
            "--drift-activity-factor",
            "1.5",
        ]
        .map(String::from),
    );
    assert!(run(&args, dir.path()).0);
    for (file, expected) in [(&data, false), (&drifted, true)] {
        let (ok, stdout, stderr) = run(
            &with_small(&["fraud", "monitor", "--current", file, "--json"]),
            dir.path(),
        );
        assert!(ok, "{stderr}");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
        assert_eq!(v["dataset_drift"], expected, "{file}: {v}");
        // What cron or CI runs: the exit status says whether drift was found (2), not only
        // whether the command failed (1).
        let args = with_small(&["fraud", "monitor", "--current", file, "--fail-on-drift"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = mlsd_status(&args, dir.path());
        assert_eq!(code, Some(if expected { 2 } else { 0 }), "{file}: {stderr}");
        assert!(v["drift_share"].is_number());
        for f in v["features"].as_array().expect("features") {
            for key in ["name", "test", "statistic", "drift", "bins"] {
                assert!(f.get(key).is_some(), "{key} missing in {f}");
            }
        }
    }
    // Each run's page: a histogram per feature, the drifted ones flagged (two runs per file:
    // --json and --fail-on-drift).
    let pages: Vec<String> = std::fs::read_dir(dir.path())
        .expect("runs")
        .filter_map(|e| e.ok().map(|e| e.path().join("drift.html")))
        .filter(|p| p.is_file())
        .map(|p| std::fs::read_to_string(p).expect("page"))
        .collect();
    assert_eq!(pages.len(), 4);
    let flagged = pages
        .iter()
        .filter(|p| p.contains("<tr class=\"drift\">"))
        .count();
    assert!(
        flagged >= 2,
        "the drifted file's pages flag its drifted features"
    );
    assert!(pages
        .iter()
        .all(|p| p.matches("</span><br><svg").count() >= 10));
}

#[test]
fn bad_arguments_and_missing_files_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = mlsd(
        &["fraud", "ingest", "--input", "does-not-exist.csv"],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("no such file"), "{stderr}");
    let (ok, _, stderr) = mlsd(
        &["fraud", "train", "--input", "x.csv", "--model", "svm"],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("unknown model"), "{stderr}");
    let out = dir.path().join("x.arrows").to_string_lossy().to_string();
    let (ok, _, stderr) = mlsd(
        &[
            "fraud",
            "generate",
            "--out",
            &out,
            "--drift-card-testing",
            "3",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("--drift-from"), "{stderr}");
    let (ok, _, stderr) = mlsd(
        &["operate", "fraud", "--days", "30", "--drift-at", "30"],
        dir.path(),
    );
    assert!(!ok);
    assert!(
        stderr.contains("--drift-at 30 is not within the 30 days"),
        "{stderr}"
    );
    let (ok, _, stderr) = mlsd(&["operate", "sentiment", "--days", "0"], dir.path());
    assert!(!ok);
    assert!(stderr.contains("--days"), "{stderr}");
    // A format this build does not write is refused before any work, naming the way out.
    let parquet = dir.path().join("x.parquet").to_string_lossy().to_string();
    let args = ["fraud", "generate", "--out", &parquet, "--days", "2"];
    let (ok, _, stderr) = mlsd(&args, dir.path());
    if cfg!(feature = "parquet") {
        assert!(ok, "{stderr}");
    } else {
        assert!(!ok);
        assert!(stderr.contains("--features parquet"), "{stderr}");
    }
}

#[test]
fn bench_serve_quick_reports_every_mode_as_json() {
    let report = bench_quick("fraud", &[], &["realtime", "microbatch", "batch"]);
    assert_eq!(report["modes"][2]["rows_per_request"], 100);
    assert!(report["batch_job"]["rows_per_second"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
}

#[test]
fn bench_serve_quick_for_the_recommender_reports_every_mode_as_json() {
    let report = bench_quick(
        "recommender",
        &[],
        &["batch", "realtime", "microbatch", "cached"],
    );
    assert!(report["batch_job"]["users_per_second"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
    assert!(
        report["cache_hit_rate"].as_f64().is_some_and(|v| v > 0.5),
        "{report}"
    );
}

#[test]
fn bench_serve_quick_for_maintenance_reports_every_mode_and_the_batch_job_as_json() {
    let report = bench_quick("maintenance", &[], &["realtime", "microbatch", "batch"]);
    assert_eq!(report["modes"][2]["rows_per_request"], 100);
    for mode in report["modes"].as_array().expect("modes") {
        assert_eq!(mode["errors"], 0, "{mode}");
    }
    let job = &report["batch_job"];
    assert_eq!(job["machines"], 100);
    assert!(job["readings_per_second"].as_f64().is_some_and(|v| v > 0.0));
}

#[test]
fn bench_serve_quick_for_the_news_feed_reports_feeds_events_and_the_batch_candidate_job() {
    let report = bench_quick("newsfeed", &[], &["realtime", "cached", "events"]);
    assert_eq!(report["modes"][2]["rows_per_request"], 10);
    let job = &report["batch_job"];
    assert!(job["users"].as_u64().is_some_and(|u| u > 0), "{job}");
    assert!(
        job["users_per_second"].as_f64().is_some_and(|v| v > 0.0),
        "{job}"
    );
    assert!(
        report["cache_hit_rate"].as_f64().is_some_and(|r| r > 0.5),
        "{report}"
    );
}

#[test]
fn bench_serve_quick_for_sentiment_with_a_simulated_model_reports_every_mode_as_json() {
    // The simulated heavier model's path (the overload runs of docs/benchmarks.md); the other
    // designs' quick runs smoke-test the real models.
    let report = bench_quick(
        "sentiment",
        &["--sim-call-us", "200", "--sim-row-us", "50"],
        &["realtime", "microbatch", "batch"],
    );
    assert_eq!(
        report["simulated_model"],
        serde_json::json!({"per_call_us": 200, "per_row_us": 50})
    );
    assert_eq!(report["modes"][2]["rows_per_request"], 100);
    assert!(report["batch_job"]["texts_per_second"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
}

#[test]
fn sentiment_trains_on_a_labelled_csv_counting_bad_rows_and_predicts_with_probabilities() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The embedded reviews as CSV, plus three rows that cannot be used.
    let mut csv = String::from("label,text\n");
    for e in sentiment::reviews::embedded().examples {
        csv.push_str(&format!(
            "{},\"{}\"\n",
            if e.positive { "pos" } else { "neg" },
            e.text.replace('"', "\"\"")
        ));
    }
    csv.push_str("maybe,so-so\npos,\nneg,\"unterminated\n");
    let file = dir.path().join("labelled.csv");
    std::fs::write(&file, csv).expect("write");
    let (ok, stdout, stderr) = mlsd(
        &[
            "sentiment",
            "train",
            "--labelled",
            file.to_str().expect("path"),
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("v0001 nbsvm_bigram on 1800 texts from")
            && stdout.contains("(3 quarantined;"),
        "{stdout}"
    );
    let input = dir.path().join("texts.txt");
    // A line with a byte that is not UTF-8 and a line of words no review ever used.
    let mut texts = b"the battery lasts two full days!\nthe courier got lost twice.\n".to_vec();
    texts.extend_from_slice(b"caf\xe9 bad byte\nzxqv qwrtp\n");
    std::fs::write(&input, texts).expect("write");
    let (ok, stdout, stderr) = mlsd(
        &[
            "sentiment",
            "predict",
            "--input",
            input.to_str().expect("path"),
            "--json",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines[0]["label"], "positive");
    assert_eq!(lines[1]["label"], "negative");
    // The bad line is marked where it stands and the rest are still scored.
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[2]["line"], 3);
    assert_eq!(lines[2]["error"], "invalid_utf8");
    assert!(stderr.contains("not UTF-8"), "{stderr}");
    assert_eq!(
        lines[3]["label"], "undecided",
        "no evidence is not 'negative'"
    );
    let (ok, help, _) = mlsd(&["sentiment", "predict", "--help"], dir.path());
    assert!(
        ok && help.contains("undecided") && help.contains("probability"),
        "{help}"
    );
    for l in lines.iter().filter(|l| l.get("text").is_some()) {
        assert!(
            l["probability"]
                .as_f64()
                .is_some_and(|p| p > 0.0 && p < 1.0),
            "{l}"
        );
    }
}

/// Runs `mlsd bench serve --design <design> --quick --json <extra>` and checks what every
/// design reports: the modes, their numbers, the run folder's files and plots.
fn bench_quick(design: &str, extra: &[&str], expected: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["bench", "serve", "--design", design, "--quick", "--json"];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = mlsd(&args, dir.path());
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(report["design"], design);
    let modes = report["modes"].as_array().expect("modes");
    let names: Vec<&str> = modes.iter().filter_map(|m| m["mode"].as_str()).collect();
    assert_eq!(names, expected);
    for m in modes {
        for field in ["rps", "rows_per_s", "p50_ms", "p99_ms"] {
            assert!(m[field].as_f64().is_some_and(|v| v > 0.0), "{field} in {m}");
        }
        for field in ["errors", "shed"] {
            assert!(m[field].is_u64(), "{field} in {m}");
        }
        // Below saturation (1,000 rows/s) and a second after the overload run, requests are
        // served: no errors and most requests answered. (Not "never shed" nor "a tenth at most":
        // the server sheds what waited over its 20-ms queueing-delay limit, a wall-clock rule,
        // and on a busy test machine — the contract tests' load runs share these two cores —
        // the OS pauses it long enough to shed up to 15% of a run; seen in CI and reproduced
        // with three busy loops beside the test. A server wedged by the overload, or shedding
        // everything, still fails here.)
        for run in ["reference", "recovery"] {
            let r = &m[run];
            assert_eq!(r["errors"], 0, "{run}: {m}");
            let (ok, sent) = (r["ok"].as_u64(), r["sent"].as_u64());
            assert!(
                ok.zip(sent).is_some_and(|(ok, sent)| 2 * ok > sent),
                "{run}: {m}"
            );
        }
    }
    let run_dir = std::path::PathBuf::from(report["run_dir"].as_str().expect("run_dir"));
    for file in [
        "bench.json",
        "bench.csv",
        "latency_closed_loop.svg",
        "latency_closed_loop.png",
        "latency_open_loop.svg",
        "latency_open_loop.png",
    ] {
        assert!(
            run_dir.join(file).is_file(),
            "{file} missing in {}",
            run_dir.display()
        );
    }
    let svg = std::fs::read_to_string(run_dir.join("latency_open_loop.svg")).expect("svg");
    for mode in expected {
        assert!(svg.contains(mode), "{mode} missing from the plot");
    }
    report
}

#[test]
fn the_recommender_batch_job_writes_a_snapshot_for_every_user_naming_its_model_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("snapshot.json");
    let batch = ["recommender", "batch", "--out", out.to_str().expect("path")];
    let (ok, _, stderr) = mlsd(&batch, dir.path());
    assert!(!ok && stderr.contains("mlsd recommender train"), "{stderr}");
    let (ok, stdout, stderr) = mlsd(&["recommender", "train"], dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with("v0001 two_stage fitted on days 0–48"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = mlsd(&batch, dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("top 50 for 3000 users with v0001"),
        "{stdout}"
    );
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("snapshot file")).expect("JSON");
    assert_eq!(snapshot["model_version"], "v0001");
    let lists = snapshot["lists"].as_array().expect("lists");
    assert_eq!(lists.len(), 3001, "user ids 0..=3000");
    assert!(lists[1..]
        .iter()
        .all(|l| l.as_array().is_some_and(|l| l.len() == 50)));
}

/// A model trained on the embedded synthetic reviews is at chance on real text (issue 19's
/// out-of-domain finding), so training it and using it say so; one trained on real labelled
/// text does not.
#[test]
fn a_sentiment_model_trained_on_synthetic_reviews_is_flagged_at_train_and_predict_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsd"))
            .args(args)
            .env("MLSD_RUNS_DIR", dir.path())
            .env_remove("MLSD_REGISTRY")
            .env_remove("MLSD_DATA_DIR")
            .output()
            .expect("the mlsd binary runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warning = "trained on the embedded synthetic reviews only";
    assert!(run(&["sentiment", "train"]).contains(warning));
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, "great phone\n").expect("write");
    let input = input.to_str().expect("path");
    assert!(run(&["sentiment", "predict", "--input", input]).contains(warning));
    // Real labelled text (here: the same reviews as a file) is not flagged.
    let file = dir.path().join("labelled.jsonl");
    std::fs::write(&file, sentiment::reviews::EMBEDDED_JSONL).expect("write");
    let file = file.to_str().expect("path");
    assert!(!run(&["sentiment", "train", "--labelled", file]).contains(warning));
    assert!(!run(&["sentiment", "predict", "--input", input]).contains(warning));
}

/// `mlsd sentiment monitor --current FILE`: the text-drift checks from files, without a
/// server — hotel reviews drift from the gadget reviews the model learned, fresh gadget
/// reviews do not, and a bad byte is skipped, not fatal.
#[test]
fn sentiment_monitor_checks_text_drift_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = mlsd(
        &["sentiment", "train", "--labelled", &{
            let f = dir.path().join("labelled.jsonl");
            std::fs::write(&f, sentiment::reviews::EMBEDDED_JSONL).expect("write");
            f.to_str().expect("path").to_string()
        }],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let texts = |domain, seed| {
        let mut out: Vec<u8> = sentiment::reviews::generate(domain, 300, seed)
            .iter()
            .flat_map(|r| format!("{}\n", r.text).into_bytes())
            .collect();
        out.extend_from_slice(b"caf\xe9\n");
        let path = dir.path().join(format!("{domain:?}.txt"));
        std::fs::write(&path, out).expect("write");
        path
    };
    use sentiment::reviews::Domain;
    for (domain, drifted) in [(Domain::Travel, true), (Domain::Gadgets, false)] {
        let path = texts(domain, 7);
        let (ok, stdout, stderr) = mlsd(
            &[
                "sentiment",
                "monitor",
                "--current",
                path.to_str().expect("path"),
                "--json",
            ],
            dir.path(),
        );
        assert!(ok, "{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(report["current_texts"], 300, "the bad line is skipped");
        assert_eq!(report["drifted"], drifted, "{domain:?}: {stdout}");
    }
}

#[test]
fn capacity_sizes_from_a_bench_run_and_says_when_the_latency_budget_is_not_met() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bench = dir.path().join("bench.json");
    // A measured run as `mlsd bench serve` writes it: 20,000 req/s on 2 cores, p99 1.5 ms.
    let run = serde_json::json!({
        "design": "sentiment", "quick": false, "cores": 2, "reference_rows_per_s": 1000.0,
        "modes": [{ "mode": "realtime", "rps": 20000.0, "p99_ms": 1.5 }]
    });
    std::fs::write(&bench, run.to_string()).expect("write");
    let bench = bench.to_string_lossy().into_owned();
    let (ok, stdout, stderr) = mlsd(
        &[
            "capacity",
            "sentiment",
            "--bench",
            &bench,
            "--peak-qps",
            "30000",
            "--p99-ms",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let out: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let e = &out["estimate"];
    // 10,000 req/s per core × 0.6 = 6,000 usable: 5 cores, 3 replicas of 2, 6 cores a day.
    assert_eq!(
        (e["cores_for_peak"].as_u64(), e["replicas"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(e["latency_budget_met"], false);
    assert!(out["measured"]["bytes_per_event"]
        .as_f64()
        .is_some_and(|b| b > 10.0));
    // Without a run and with --json, it says what to run instead of guessing.
    let empty = tempfile::tempdir().expect("tempdir");
    let (ok, _, stderr) = mlsd(
        &["capacity", "fraud", "--peak-qps", "100", "--json"],
        empty.path(),
    );
    assert!(
        !ok && stderr.contains("mlsd bench serve --design fraud"),
        "{stderr}"
    );
}

#[test]
fn interview_fraud_walks_the_answer_in_order_with_live_numbers_and_trims_to_the_time_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out, stderr) = mlsd(&["interview", "fraud", "--time", "45"], dir.path());
    assert!(ok, "{stderr}\n{out}");
    assert!(!out.contains("FAILED"), "{out}");
    // Interview order, then the follow-up questions.
    let order = [
        "1. Requirements",
        "2. Framing",
        "3. Data",
        "4. Model",
        "5. Evaluation",
        "6. Serving",
        "7. Monitoring and rollout",
        "8. Scaling",
        "9. Trade-offs",
        "What the interviewer asks next",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| out.find(s).unwrap_or_else(|| panic!("no {s}: {out}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{at:?}");
    // 45 minutes: 20 points of 2 minutes and 5 for questions; the 3 least important wait.
    assert!(out.contains("20 talking points, about 45 minutes"), "{out}");
    assert!(
        out.contains("Left out for time, ready if asked: caching, load-balancing, distributed"),
        "{out}"
    );
    assert!(!out.contains("### caching"), "{out}");
    // Measured now on the default world: the baseline reproduces the doc's AP, the mistakes
    // inflate the number, drift is flagged on the shifted world only, and a size comes out.
    for live in [
        "now:  logistic_regression: AUC 0.872, AP 0.600",
        "label-delay-ignored` (",
        "0.600 honest vs 0.860 mistaken",
        "now:  the training world's last days: 0 % of the features drifted",
        "from 2018-08-01: 87 % of the features drifted",
        "DRIFT",
        "now:  for 2000 req/s at p99 ≤ 50 ms: 2 replicas",
        "now:  validated 1807837 rows: 1807837 accepted, 0 quarantined",
    ] {
        assert!(out.contains(live), "missing {live:?} in {out}");
    }
    // Every code line it points at is a talking-point marker in this repository.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let code: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("code: "))
        .collect();
    assert!(code.len() >= 20, "{out}");
    for place in code {
        let (file, line) = place.rsplit_once(':').expect("file:line");
        let text = std::fs::read_to_string(root.join(file)).expect("a file of the repository");
        let line: usize = line.parse().expect("a line number");
        assert!(
            text.lines()
                .nth(line - 1)
                .is_some_and(|l| l.contains("Talking point [")),
            "{place} is not a marker"
        );
    }
}
