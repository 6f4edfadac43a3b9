//! The recommender on the real MovieLens-100k files, read from `MLSD_DATA_DIR` (CI points it at
//! `../shared/datasets`). Without it, each test prints that it was skipped and passes: the data
//! may not be redistributed, so it cannot live in this repository.

use recommender::evaluate::{self, EvalConfig};
use recommender::movielens::{self, Dataset};

use crate::common::{data_dir, mlsd};

fn load() -> Option<Dataset> {
    let dir = data_dir("movielens-100k")?;
    let folder = movielens::folder(Some(&dir)).expect("movielens-100k in MLSD_DATA_DIR");
    Some(movielens::load(&folder).expect("load"))
}

#[test]
fn the_real_files_load_whole_with_latin1_titles() {
    let Some(data) = load() else { return };
    assert_eq!(data.ratings.len(), 100_000);
    assert_eq!((data.users.len(), data.items.len()), (943, 1_682));
    assert_eq!(data.report.quarantined_rows, 0);
    let title = |id: u32| {
        data.items
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.title.clone())
    };
    assert_eq!(title(543).as_deref(), Some("Misérables, Les (1995)"));
    // Toy Story: Animation, Children's, Comedy.
    let toy_story = data.items.iter().find(|i| i.id == 1).expect("item 1");
    let genres: Vec<&str> = toy_story
        .genres
        .iter()
        .map(|&g| movielens::GENRES[g as usize])
        .collect();
    assert_eq!(genres, ["Animation", "Children's", "Comedy"]);
}

#[test]
fn surprise_protocol_biased_mf_reaches_the_published_rmse_bar() {
    let Some(data) = load() else { return };
    let report = evaluate::surprise(&data, &EvalConfig::default()).expect("evaluate");
    println!("{}", evaluate::render_surprise(&report));
    let rmse = |name: &str| {
        report
            .models
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.rmse)
            .expect("model")
    };
    // The bar; Surprise publishes 0.934 for SVD and 0.944 for BaselineOnly.
    assert!(rmse("biased_mf") <= 0.94, "{report:?}");
    assert!(rmse("biased_mf") < rmse("baseline") && rmse("baseline") < rmse("global_mean"));
    // SVD++ lands on Surprise's 0.919; the blend of MF, SVD++ and both neighbourhood models,
    // weighted on held-out ratings, beats every member and reaches issue 19's 0.905.
    assert!(rmse("svdpp") <= 0.925, "{report:?}");
    for member in ["biased_mf", "svdpp", "item_knn", "user_knn"] {
        assert!(rmse("blend") < rmse(member) - 0.005, "{member}: {report:?}");
    }
    assert!(rmse("blend") <= 0.905, "{report:?}");
}

#[test]
fn recommenders_protocol_item_item_models_rank_best_and_rating_mf_ranks_poorly() {
    let Some(data) = load() else { return };
    let report = evaluate::recommenders(&data, &EvalConfig::default()).expect("evaluate");
    println!("{}", evaluate::render_recommenders(&report));
    let model = |name: &str| {
        report
            .models
            .iter()
            .find(|m| m.name == name)
            .cloned()
            .expect("model")
    };
    let (pop, sar, bpr, mf) = (
        model("popularity"),
        model("item_cooccurrence"),
        model("bpr"),
        model("biased_mf"),
    );
    let best = report
        .models
        .iter()
        .max_by(|a, b| a.ndcg_at_10.total_cmp(&b.ndcg_at_10))
        .expect("models");
    // The first bar for the best model (published: BPR 0.442 / 0.388, SAR 0.382 / 0.331).
    assert!(
        best.ndcg_at_10 >= 0.38 && best.precision_at_10 >= 0.33,
        "{best:?}"
    );
    // The closed-form item-item models rank best (EASE/EDLAE above BPR, published 0.442, and
    // near BiVAE's 0.475), with settings chosen on a validation split; the random walk beats
    // plain co-occurrence; personalisation beats popularity; the rating-trained model ranks
    // below popularity.
    let (rp3, ease, edlae) = (model("rp3beta"), model("ease"), model("edlae"));
    assert!(best.name == "ease" || best.name == "edlae", "{best:?}");
    for m in [&ease, &edlae] {
        assert!(
            m.ndcg_at_10 >= 0.46 && m.ndcg_at_10 > bpr.ndcg_at_10 + 0.02,
            "{m:?}"
        );
        assert!(m.chosen.is_some(), "{m:?}");
    }
    assert!(rp3.ndcg_at_10 > sar.ndcg_at_10, "{report:?}");
    assert!(
        sar.ndcg_at_10 > pop.ndcg_at_10 && bpr.ndcg_at_10 > sar.ndcg_at_10,
        "{report:?}"
    );
    assert!(mf.ndcg_at_10 < pop.ndcg_at_10, "{report:?}");
    assert!(
        pop.coverage < sar.coverage,
        "popularity shows everyone the same few items"
    );
    // The JSON `--protocol recommenders --json` prints (the same serialisation).
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["protocol"], "recommenders");
    for m in json["models"].as_array().expect("models") {
        for f in [
            "name",
            "precision_at_10",
            "recall_at_10",
            "ndcg_at_10",
            "map",
        ] {
            assert!(!m[f].is_null(), "{f} missing in {m}");
        }
    }
}

#[test]
fn the_evaluate_command_prints_the_documented_json() {
    let Some(dir) = data_dir("movielens-100k") else {
        return;
    };
    let runs = tempfile::tempdir().expect("tempdir");
    let dir = dir.to_string_lossy().to_string();
    // The recommenders protocol's JSON is the same serialisation of its report: checked in
    // `recommenders_protocol_…` without a second 21-s run here.
    for (protocol, fields) in [(
        "surprise",
        &["name", "rmse", "mae", "split_rmse", "seconds"][..],
    )] {
        let (ok, stdout, stderr) = mlsd(
            &[
                "recommender",
                "evaluate",
                "--protocol",
                protocol,
                "--data-dir",
                &dir,
                "--json",
            ],
            runs.path(),
        );
        assert!(ok, "{stderr}");
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
        assert_eq!(v["protocol"], protocol);
        let models = v["models"].as_array().expect("models");
        assert!(models.len() >= 3);
        for m in models {
            for f in fields {
                assert!(!m[*f].is_null(), "{f} missing in {m}");
            }
        }
    }
}

#[test]
fn without_a_data_directory_the_command_says_what_to_set() {
    let runs = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsd"))
        .args(["recommender", "evaluate", "--protocol", "surprise"])
        .env("MLSD_RUNS_DIR", runs.path())
        .env_remove("MLSD_DATA_DIR")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MLSD_DATA_DIR") && stderr.contains("--data-dir"),
        "{stderr}"
    );
}

/// `--train FILE --test FILE`: the rating models on a split of the reader's choosing, bad lines
/// quarantined and counted per file, one RMSE per split.
#[test]
fn the_rating_models_run_on_a_user_supplied_train_test_pair() {
    let Some(dir) = data_dir("movielens-100k") else {
        return;
    };
    let runs = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(dir.join("movielens-100k/u.data")).expect("u.data");
    let lines: Vec<&str> = text.lines().collect();
    let (train, test) = (runs.path().join("my.base"), runs.path().join("my.test"));
    std::fs::write(&train, lines[..80_000].join("\n")).expect("write");
    std::fs::write(
        &test,
        format!("{}\nnot\ta rating\n", lines[80_000..].join("\n")),
    )
    .expect("write");
    let dir = dir.to_string_lossy().to_string();
    let (ok, stdout, stderr) = mlsd(
        &[
            "recommender",
            "evaluate",
            "--protocol",
            "surprise",
            "--data-dir",
            &dir,
            "--train",
            train.to_str().expect("path"),
            "--test",
            test.to_str().expect("path"),
            "--json",
        ],
        runs.path(),
    );
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(v["train_file"]["accepted_rows"], 80_000);
    assert_eq!(v["test_file"]["accepted_rows"], 20_000);
    assert_eq!(v["test_file"]["quarantined_rows"], 1);
    assert_eq!(v["report"]["protocol"], "pair");
    let mf = v["report"]["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["name"] == "biased_mf")
        .expect("biased_mf")
        .clone();
    assert_eq!(mf["split_rmse"].as_array().map(Vec::len), Some(1));
    assert!(
        mf["rmse"].as_f64().is_some_and(|r| r > 0.85 && r < 1.0),
        "{mf}"
    );
    // --train alone is refused by the argument parser.
    let (ok, _, stderr) = mlsd(
        &[
            "recommender",
            "evaluate",
            "--protocol",
            "surprise",
            "--data-dir",
            &dir,
            "--train",
            "x",
        ],
        runs.path(),
    );
    assert!(!ok && stderr.contains("--test"), "{stderr}");
}
