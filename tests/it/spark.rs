//! The batch paths on Apache Spark against the in-process pipeline, row by row: fraud's
//! validation, 15 features and every model family's scores and decisions; the recommender's
//! all-users lists. Needs a build with `--features spark` and a Spark Connect server in
//! `MLSD_SPARK_REMOTE` (`.ci/run` starts one with `scripts/spark.sh`); each test says SKIPPED
//! without.
//!
//! Tolerance: features and tree paths are exact (integer counts, integer cents, the same
//! divisions); sums of products may differ in the last bits (linfa's dot product unrolls its
//! sum) and the JVM's `exp` differs from glibc's by an ulp now and then, so scores are
//! compared to a relative 1e-12, and a decision may differ only when its score is within that
//! of a threshold.

/// The server to test against, or None (after saying SKIPPED).
#[cfg_attr(not(feature = "spark"), allow(dead_code))]
fn remote(test: &str) -> Option<String> {
    if !cfg!(feature = "spark") {
        eprintln!("SKIPPED {test}: built without --features spark");
        return None;
    }
    match std::env::var("MLSD_SPARK_REMOTE") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            eprintln!(
                "SKIPPED {test}: MLSD_SPARK_REMOTE is not set (scripts/spark.sh start prints it)"
            );
            None
        }
    }
}

const SMALL: [&str; 6] = ["--customers", "600", "--terminals", "1200", "--days", "140"];

fn args<'a>(command: &[&'a str]) -> Vec<&'a str> {
    command.iter().copied().chain(SMALL).collect()
}

/// A small world as CSV with a logistic regression registered; returns (dir, csv path).
fn trained_world() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("tx.csv").to_string_lossy().into_owned();
    let (ok, _, stderr) =
        crate::common::mlsd(&args(&["fraud", "generate", "--out", &data]), dir.path());
    assert!(ok, "{stderr}");
    let train = args(&[
        "fraud",
        "train",
        "--input",
        &data,
        "--model",
        "logistic_regression",
    ]);
    let (ok, _, stderr) = crate::common::mlsd(&train, dir.path());
    assert!(ok, "{stderr}");
    (dir, data)
}

#[test]
fn export_sql_prints_the_registered_model_and_a_build_without_spark_says_how_to_get_it() {
    let (dir, data) = trained_world();
    let (ok, sql, stderr) = crate::common::mlsd(
        &args(&[
            "fraud",
            "export-sql",
            "--input",
            "s3://bank/tx.parquet",
            "--output",
            "s3://bank/scored.parquet",
        ]),
        dir.path(),
    );
    assert!(ok, "{stderr}");
    for part in [
        "USING parquet OPTIONS (path 's3://bank/tx.parquet')",
        "CREATE OR REPLACE TEMPORARY VIEW features",
        "RANGE BETWEEN 691199999 PRECEDING AND 604800000 PRECEDING", // (t − 7 − 1 days, t − 7 days]
        "EXP(",
        "INSERT OVERWRITE DIRECTORY 's3://bank/scored.parquet' USING parquet",
    ] {
        assert!(sql.contains(part), "{part} missing from:\n{sql}");
    }
    assert!(
        !sql.contains(" 0.8 "),
        "a double literal without its D suffix is a DECIMAL in Spark"
    );
    let out = dir
        .path()
        .join("scored.parquet")
        .to_string_lossy()
        .into_owned();
    let spark = args(&[
        "fraud",
        "batch-score",
        "--engine",
        "spark",
        "--input",
        &data,
        "--output",
        &out,
    ]);
    let (ok, _, stderr) = crate::common::mlsd(&spark, dir.path());
    if cfg!(feature = "spark") {
        // Without a server the connection fails with its address; with one it ran (the
        // end-to-end test below checks what it wrote).
        assert!(ok || stderr.contains("Spark Connect"), "{stderr}");
    } else {
        assert!(!ok && stderr.contains("--features spark"), "{stderr}");
    }
}

#[cfg(feature = "spark")]
mod parity {
    use std::collections::HashMap;

    use fraud_detector::artifact::FraudArtifact;
    use fraud_detector::batch::{score_frame, DecisionThresholds};
    use fraud_detector::config::ModelConfig;
    use fraud_detector::export::{self, SourceFormat};
    use fraud_detector::features::FeatureSpec;
    use fraud_detector::ingest::{ingest, IngestConfig};
    use fraud_detector::simulate::{simulate, write_transactions};
    use fraud_detector::train::{fit, ModelKind};
    use mlsd::spark::{rows, Spark, Value};
    use mlsd_core::metrics::Platt;
    use polars::prelude::*;

    use super::remote;
    use crate::common::{small_chapter3, small_simulation};

    const TOLERANCE: f64 = 1e-12;

    #[test]
    fn the_cli_scores_on_spark_with_the_decisions_of_the_in_process_job() {
        let Some(remote) = remote("fraud batch-score --engine spark") else {
            return;
        };
        let (dir, data) = super::trained_world();
        let run = |extra: &[&str], out: &str| -> serde_json::Value {
            let mut a = super::args(&[
                "fraud",
                "batch-score",
                "--input",
                &data,
                "--output",
                out,
                "--json",
            ]);
            a.extend_from_slice(extra);
            let (ok, stdout, stderr) = crate::common::mlsd(&a, dir.path());
            assert!(ok, "{stderr}");
            serde_json::from_str(stdout.trim()).expect("one JSON object")
        };
        let local_out = dir.path().join("scored.csv").to_string_lossy().into_owned();
        let spark_out = dir
            .path()
            .join("scored.parquet")
            .to_string_lossy()
            .into_owned();
        let local = run(&[], &local_out);
        let spark = run(
            &["--engine", "spark", "--spark-remote", &remote],
            &spark_out,
        );
        let count = |kind: &str, name: &str| {
            spark["counts"]
                .as_array()
                .expect("counts")
                .iter()
                .find(|c| c[0] == kind && c[1] == name)
                .map_or(0, |c| c[2].as_u64().expect("n"))
        };
        for decision in ["approve", "review", "block"] {
            assert_eq!(
                count("decision", decision),
                local[decision].as_u64().expect("n"),
                "{decision}: {spark} vs {local}"
            );
        }
        assert_eq!(spark["rows"], local["rows"]);
        assert!(spark["session_seconds"].as_f64().expect("s") > 0.0);
        let parts = std::fs::read_dir(&spark_out)
            .expect("Spark wrote a Parquet folder")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            .count();
        assert!(parts > 0, "no Parquet part files in {spark_out}");
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1e-300)
    }

    /// The small world as a CSV file, with its ingest rules.
    fn world_csv(dir: &std::path::Path) -> (std::path::PathBuf, IngestConfig) {
        let mut cfg = small_simulation();
        cfg.n_days = 70;
        let (mut df, _) = simulate(&cfg).expect("simulate");
        let path = dir.join("transactions.csv");
        write_transactions(&mut df, &path).expect("write");
        (
            path,
            IngestConfig::for_simulation(&cfg).expect("ingest config"),
        )
    }

    /// `column` of the in-process frame by transaction id.
    fn by_id(df: &DataFrame, column: &str) -> HashMap<i64, AnyValue<'static>> {
        let ids = df
            .column("transaction_id")
            .expect("ids")
            .i64()
            .expect("i64")
            .clone();
        let values = df.column(column).expect("column");
        ids.into_no_null_iter()
            .enumerate()
            .map(|(i, id)| (id, values.get(i).expect("value").into_static()))
            .collect()
    }

    fn number(v: &AnyValue) -> f64 {
        v.extract::<f64>().expect("a number")
    }

    #[test]
    fn every_fraud_feature_and_every_model_s_scores_on_spark_match_the_in_process_pipeline() {
        let Some(remote) = remote("fraud parity") else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let (path, cfg) = world_csv(dir.path());
        let location = path.to_string_lossy().into_owned();
        let accepted = ingest(&path, &cfg).expect("ingest").transactions;
        let spark = Spark::connect(&remote).expect("spark");
        let spec = FeatureSpec::default();
        let names = spec.names();
        let (x, y, _) = small_chapter3();
        let models = ModelConfig {
            // 100 unlimited trees are 2.6 MB of SQL (too large for a 2 GB driver); 10 show the same arithmetic.
            forest_trees: 10,
            ..ModelConfig::default()
        };
        let mut checked_features = false;
        for (kind, calibration) in [
            (ModelKind::Rules, None),
            (
                ModelKind::LogisticRegression,
                Some(Platt { a: 0.93, b: -0.41 }),
            ),
            (ModelKind::UndersampledTreeDepth2, None),
            (ModelKind::UndersampledTree, Some(Platt { a: 1.1, b: -2.0 })),
            (ModelKind::UndersampledForest, None),
            (ModelKind::GradientBoosting, Some(Platt { a: 0.8, b: 0.1 })),
        ] {
            let artifact = FraudArtifact {
                spec: spec.clone(),
                model: fit(kind, x, y, &names, &models).expect("fit"),
                calibration,
                thresholds: Some(DecisionThresholds {
                    review: 0.2,
                    block: 0.6,
                }),
            };
            let thresholds = artifact.thresholds();
            let script = export::script(
                &location,
                SourceFormat::Csv,
                &cfg,
                &artifact,
                &thresholds,
                None,
            )
            .expect("sql");
            spark.run(&script).expect("runs on spark");
            let local = score_frame(accepted.clone(), &artifact, &thresholds).expect("in process");
            if !checked_features {
                check_features(&spark, &accepted, &spec);
                checked_features = true;
            }
            let (_, remote_rows) = rows(
                &spark
                    .query("SELECT transaction_id, fraud_score, decision FROM scored")
                    .expect("scored"),
            )
            .expect("rows");
            assert_eq!(
                remote_rows.len(),
                local.height(),
                "{kind:?}: every accepted row scored"
            );
            let scores = by_id(&local, "fraud_score");
            let decisions = by_id(&local, "decision");
            let mut worst = 0.0f64;
            let (mut differ, mut review, mut block) = (0, 0, 0);
            for row in &remote_rows {
                let id = row[0].as_i64().expect("id");
                let (s, d) = (
                    row[1].as_f64().expect("score"),
                    row[2].as_str().expect("decision"),
                );
                let rust = number(&scores[&id]);
                assert!(
                    close(s, rust),
                    "{kind:?} payment {id}: spark {s} vs rust {rust}"
                );
                worst = worst.max((s - rust).abs() / rust.abs().max(1e-300));
                let rust_decision = decisions[&id].get_str().expect("str").to_string();
                if d != rust_decision {
                    differ += 1;
                    assert!(
                        close(s, thresholds.review) || close(s, thresholds.block),
                        "{kind:?} payment {id}: {d} vs {rust_decision} at score {s}"
                    );
                }
                review += usize::from(d == "review");
                block += usize::from(d == "block");
            }
            eprintln!(
                "{kind:?}: {} rows, worst relative score difference {worst:.1e}, {differ} decisions differ (at a threshold), {review} review, {block} block",
                remote_rows.len()
            );
            spark.query("DROP VIEW IF EXISTS scored").expect("uncache");
        }
    }

    /// Every feature of every accepted row: counts exact, averages and rates exact too (the
    /// same integer sums and divisions), compared with the same tolerance to be safe.
    fn check_features(spark: &Spark, accepted: &DataFrame, spec: &FeatureSpec) {
        let local = fraud_detector::features::compute(accepted.clone(), spec).expect("features");
        let names = spec.names();
        let select = format!("SELECT transaction_id, {} FROM features", names.join(", "));
        let (columns, remote_rows) = rows(&spark.query(&select).expect("features")).expect("rows");
        assert_eq!(remote_rows.len(), local.height());
        let mut exact = 0usize;
        for (j, name) in names.iter().enumerate() {
            assert_eq!(columns[j + 1], *name);
            let values = by_id(&local, name);
            for row in &remote_rows {
                let id = row[0].as_i64().expect("id");
                let (s, rust) = (row[j + 1].as_f64().expect("number"), number(&values[&id]));
                assert!(
                    close(s, rust),
                    "{name} of payment {id}: spark {s} vs rust {rust}"
                );
                exact += usize::from(s.to_bits() == rust.to_bits());
            }
        }
        let total = names.len() * remote_rows.len();
        eprintln!("features: {exact} of {total} values bit-identical");
        assert_eq!(
            exact, total,
            "features are integer sums and the same divisions"
        );
    }

    #[test]
    fn spark_quarantines_the_rows_ingest_quarantines_for_the_same_reasons() {
        let Some(remote) = remote("fraud quarantine parity") else {
            return;
        };
        let dir = tempfile::tempdir().expect("dir");
        let mut cfg = small_simulation();
        cfg.n_days = 10;
        let (mut df, _) = simulate(&cfg).expect("simulate");
        let path = dir.path().join("bad.csv");
        write_transactions(&mut df, &path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let good = lines[1].clone();
        let field = |line: &str, i: usize, v: &str| {
            let mut f: Vec<&str> = line.split(',').collect();
            f[i] = v;
            f.join(",")
        };
        lines.push(field(&good, 4, "-3.5")); // negative_amount
        lines.push(field(&field(&good, 0, "99999999"), 2, "100000")); // unknown_customer
        lines.push(field(&field(&good, 0, "99999998"), 3, "-1")); // unknown_terminal
        lines.push(field(&field(&good, 0, "99999997"), 7, "3")); // invalid_label
        lines.push(good.clone()); // duplicate_transaction_id
        lines.push(field(&field(&good, 0, "99999996"), 6, "9")); // inconsistent_time_fields
        lines.push(field(&good, 5, "")); // missing_value
        std::fs::write(&path, lines.join("\n") + "\n").expect("write");
        let ingest_cfg = IngestConfig::for_simulation(&cfg).expect("cfg");
        let local = ingest(&path, &ingest_cfg).expect("ingest");
        let spark = Spark::connect(&remote).expect("spark");
        let artifact = FraudArtifact {
            spec: FeatureSpec::default(),
            model: fit(
                ModelKind::Rules,
                &small_chapter3().0,
                &small_chapter3().1,
                &FeatureSpec::default().names(),
                &ModelConfig::default(),
            )
            .expect("rules"),
            calibration: None,
            thresholds: None,
        };
        let location = path.to_string_lossy().into_owned();
        let script = export::script(
            &location,
            SourceFormat::Csv,
            &ingest_cfg,
            &artifact,
            &artifact.thresholds(),
            None,
        )
        .expect("sql");
        spark.run(&script).expect("runs");
        let (_, counts) = rows(&spark.query(export::SUMMARY).expect("summary")).expect("rows");
        let mut remote_reasons: HashMap<String, i64> = HashMap::new();
        let mut scored = 0;
        for r in &counts {
            match (&r[0], &r[1], &r[2]) {
                (Value::Text(k), Value::Text(name), Value::Int(n)) if k == "quarantine" => {
                    remote_reasons.insert(name.clone(), *n);
                }
                (Value::Text(k), _, Value::Int(n)) if k == "decision" => scored += n,
                other => panic!("unexpected summary row {other:?}"),
            }
        }
        let local_reasons: HashMap<String, i64> = local
            .report
            .quarantined_by_reason
            .iter()
            .map(|(k, v)| (k.clone(), *v as i64))
            .collect();
        eprintln!("quarantined: spark {remote_reasons:?}, in process {local_reasons:?}");
        assert_eq!(remote_reasons, local_reasons);
        assert_eq!(remote_reasons.len(), 7, "every planted defect is caught");
        assert_eq!(scored as usize, local.transactions.height());
        spark.query("DROP VIEW IF EXISTS scored").expect("uncache");
    }

    #[test]
    fn the_recommender_s_lists_on_spark_are_the_batch_job_s_up_to_score_ties() {
        let Some(remote) = remote("recommender parity") else {
            return;
        };
        let world = crate::recommender::shop::small_world();
        let model = &world.model;
        let k = world.snapshot.k;
        let dir = tempfile::tempdir().expect("dir");
        let tables = recommender::export::write_tables(model, dir.path()).expect("tables");
        let script = recommender::export::script(&dir.path().to_string_lossy(), model, k, None)
            .expect("sql");
        let spark = Spark::connect(&remote).expect("spark");
        spark.run(&script).expect("runs");
        let (_, list_rows) = rows(
            &spark
                .query("SELECT user, rank, item, score FROM lists ORDER BY user, rank")
                .expect("lists"),
        )
        .expect("rows");
        spark.query("DROP VIEW IF EXISTS lists").expect("uncache");
        let mut lists: HashMap<i64, Vec<(u32, f32)>> = HashMap::new();
        for r in &list_rows {
            lists
                .entry(r[0].as_i64().expect("user"))
                .or_default()
                .push((
                    r[2].as_i64().expect("item") as u32,
                    r[3].as_f64().expect("score") as f32,
                ));
        }
        let (mut users, mut same, mut tied) = (0, 0, 0);
        for (user, local) in world.snapshot.lists.iter().enumerate().skip(1) {
            let remote = lists.remove(&(user as i64)).unwrap_or_default();
            if local.is_empty() {
                assert!(
                    remote.is_empty(),
                    "user {user}: Spark has a list where Rust has none"
                );
                continue;
            }
            users += 1;
            assert_eq!(remote.len(), local.len(), "user {user}: list length");
            let identical = remote
                .iter()
                .zip(local)
                .all(|(r, l)| r.0 == l.item && r.1 == l.score);
            if identical {
                same += 1;
                continue;
            }
            // Otherwise only items whose scores tie may trade places.
            for (i, (r, l)) in remote.iter().zip(local).enumerate() {
                let close = (r.1 - l.score).abs() <= 1e-6 * l.score.abs();
                assert!(close, "user {user} rank {i}: score {} vs {}", r.1, l.score);
                if r.0 != l.item {
                    assert!(
                        local
                            .iter()
                            .any(|o| o.item == r.0 && (o.score - r.1).abs() <= 1e-6 * r.1.abs()),
                        "user {user} rank {i}: item {} vs {} without a tie",
                        r.0,
                        l.item
                    );
                }
            }
            tied += 1;
        }
        assert!(
            lists.is_empty(),
            "Spark has lists for users Rust has none for"
        );
        eprintln!(
            "{} candidates for {users} users: {same} lists identical, {tied} equal up to ties",
            tables.candidates
        );
        assert!(
            users > 100 && same * 100 >= users * 99,
            "{same} of {users} identical"
        );
    }

    #[test]
    fn the_maintenance_schedule_on_spark_is_the_fleet_job_s_and_refuses_the_same_lines() {
        let Some(remote) = remote("maintenance parity") else {
            return;
        };
        use maintenance::evaluate;
        use maintenance::simulate::{self, FleetConfig};
        let model = crate::maintenance::model();
        let dir = tempfile::tempdir().expect("dir");
        let input = dir.path().join("readings.csv");
        let fleet = simulate::run_to_failure(&evaluate::fleet_part(
            &FleetConfig {
                cycles: 90,
                ..Default::default()
            },
            1,
            40,
        ));
        maintenance::batch::write_readings_csv(&fleet, &input).expect("write");
        let text = std::fs::read_to_string(&input).expect("read");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let width = lines[0].split(',').count();
        let good = lines[5].clone();
        let with = |i: usize, v: &str| {
            let mut f: Vec<&str> = good.split(',').collect();
            f[i] = v;
            f.join(",")
        };
        let huge = with(2, "1e9"); // impossible_value, for a cycle already accepted: out_of_order
        lines.insert(3, huge.clone());
        lines.push(format!("999999,1{}", ",1".repeat(width - 2))); // unknown_machine
        lines.push(with(1, "x")); // bad_cycle
        lines.push(with(0, "-4")); // bad_machine_id
        lines.push(with(3, "NaN")); // not_a_number
        lines.push("2,5,1,2".to_string()); // wrong_field_count
        lines.push(good.clone()); // out_of_order_cycle (a repeat)
        let machine = good.split(',').next().expect("id").to_string();
        lines.push(format!("{machine},100000{}", ",1e9".repeat(width - 2))); // impossible_value
        std::fs::write(&input, lines.join("\n") + "\n").expect("write");
        let out = dir.path().join("schedule.csv");
        let local = maintenance::batch::score_file(model, &input, &out).expect("batch");
        let spark = Spark::connect(&remote).expect("spark");
        let script =
            maintenance::export::script(&input.to_string_lossy(), model, None).expect("sql");
        spark.run(&script).expect("runs on spark");
        let (_, summary) =
            rows(&spark.query(maintenance::export::SUMMARY).expect("summary")).expect("rows");
        let mut refused: HashMap<String, usize> = HashMap::new();
        for r in &summary {
            if r[0].as_str() == Some("quarantine") {
                refused.insert(
                    r[1].as_str().expect("reason").to_string(),
                    r[2].as_i64().expect("n") as usize,
                );
            }
        }
        let expected: HashMap<String, usize> =
            local.quarantined_by_reason.clone().into_iter().collect();
        eprintln!("refused: spark {refused:?}, in process {expected:?}");
        assert_eq!(refused, expected);
        assert_eq!(
            expected.len(),
            7,
            "every planted defect is refused: {expected:?}"
        );
        // Every feature of every machine's latest reading, bit for bit.
        let mut last = std::collections::BTreeMap::new();
        for m in &fleet.machines {
            last.insert(i64::from(m.id), m);
        }
        let (columns, feature_rows) = rows(
            &spark
                .query("SELECT * FROM fleet_features")
                .expect("features"),
        )
        .expect("rows");
        let mut values = 0;
        let mut rul = HashMap::new();
        for r in &feature_rows {
            let m = last[&r[0].as_i64().expect("id")];
            let rust = maintenance::features::features_at(&model.spec, m, m.readings.len() - 1);
            rul.insert(
                i64::from(m.id),
                model.assess(std::slice::from_ref(&rust))[0].rul,
            );
            assert_eq!(columns.len(), rust.len() + 2);
            for (k, v) in rust.iter().enumerate() {
                let s = r[k + 2].as_f64().expect("feature");
                assert_eq!(
                    s.to_bits(),
                    v.to_bits(),
                    "machine {} {}: spark {s} vs rust {v}",
                    m.id,
                    columns[k + 2]
                );
                values += 1;
            }
        }
        eprintln!("{values} feature values bit-identical");
        let (_, schedule) = rows(
            &spark
                .query("SELECT machine_id, cycle, predicted_rul, risk, alert, service_today FROM schedule ORDER BY predicted_rul, machine_id")
                .expect("schedule"),
        )
        .expect("rows");
        spark.query("DROP VIEW IF EXISTS schedule").expect("drop");
        let written: Vec<String> = std::fs::read_to_string(&out)
            .expect("schedule")
            .lines()
            .skip(1)
            .map(str::to_string)
            .collect();
        assert_eq!(schedule.len(), written.len());
        assert_eq!(schedule.len(), 40);
        for r in &schedule {
            let (id, s) = (r[0].as_i64().expect("id"), r[2].as_f64().expect("rul"));
            assert_eq!(
                s.to_bits(),
                rul[&id].to_bits(),
                "machine {id}: spark {s} vs rust {}",
                rul[&id]
            );
        }
        for (r, line) in schedule.iter().zip(&written) {
            let truth = |v: &Value| match v {
                Value::Bool(b) => *b,
                _ => panic!("a boolean, got {v:?}"),
            };
            let formatted = format!(
                "{},{},{:.2},{:.4},{},{}",
                r[0].as_i64().expect("id"),
                r[1].as_i64().expect("cycle"),
                r[2].as_f64().expect("rul"),
                r[3].as_f64().expect("risk"),
                truth(&r[4]),
                truth(&r[5])
            );
            assert_eq!(&formatted, line);
        }
        eprintln!(
            "{} machines: predicted lives bit-identical, the schedules agree line by line",
            schedule.len()
        );
    }
}
