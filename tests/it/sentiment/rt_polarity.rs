//! The sentiment models on the real sentence-polarity files, read from `MLSD_DATA_DIR` (CI
//! points it at `../shared/datasets`). Without it, each test prints that it was skipped.

use sentiment::data;
use sentiment::evaluate::{cv10, Cv10Config};

use crate::common::data_dir;

fn load() -> Option<Vec<data::Example>> {
    let dir = data_dir("rt-polarity")?;
    let folder = data::folder(Some(&dir)).expect("rt-polarity in MLSD_DATA_DIR");
    Some(data::load_rt_polarity(&folder).expect("load"))
}

#[test]
fn the_real_files_decode_as_windows_1252_into_5331_snippets_each() {
    let Some(examples) = load() else { return };
    let positives = examples.iter().filter(|e| e.positive).count();
    assert_eq!((positives, examples.len() - positives), (5_331, 5_331));
    // Windows-1252 bytes became their characters, never C1 controls.
    assert!(examples
        .iter()
        .all(|e| !e.text.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c))));
    assert!(examples
        .iter()
        .any(|e| e.text.contains('…') || e.text.contains('’')));
    assert!(examples.iter().any(|e| e.text.contains('é')));
}

#[test]
fn ten_fold_cv_reaches_the_published_bars_for_nbsvm_and_naive_bayes() {
    let Some(examples) = load() else { return };
    let report = cv10(&examples, &Cv10Config::default());
    eprintln!("{}", sentiment::evaluate::render(&report));
    let acc = |name: &str| {
        report
            .models
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.accuracy)
            .expect("model")
    };
    // The bars (published: NBSVM-bigram 0.7938, MNB-bigram 0.7903).
    assert!(acc("nbsvm_bigram") >= 0.790, "{}", acc("nbsvm_bigram"));
    assert!(acc("mnb_bigram") >= 0.785, "{}", acc("mnb_bigram"));
    // Issue 19's bar for a classical model: the word + character ensemble, its C and β chosen
    // inside each training fold, reaches 80 % and beats the published best NBSVM.
    let ensemble = acc("nbsvm_word_char_ensemble");
    assert!(
        ensemble >= 0.800 && ensemble > acc("nbsvm_bigram"),
        "{ensemble}"
    );
    let row = report
        .models
        .iter()
        .find(|m| m.name == "nbsvm_word_char_ensemble")
        .expect("ensemble");
    assert_eq!(row.chosen.len(), 10, "one inner-CV choice per outer fold");
    // The paper's ordering: bigrams help, NB features help the SVM.
    assert!(acc("nbsvm_bigram") > acc("svm_bigram"));
    assert!(acc("mnb_bigram") > acc("mnb_unigram"));
    assert!(acc("svm_bigram") > acc("svm_unigram"));
    // The zero-training lexicon baseline decides most texts and every learned model beats it.
    assert!(
        acc("vader") > 0.5 && acc("vader") < acc("svm_unigram"),
        "{}",
        acc("vader")
    );
    // The JSON shape the interface promises: {"protocol", "models": [{"name", "accuracy"}]}.
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["protocol"], "cv10");
    for m in json["models"].as_array().expect("models") {
        assert!(
            m["name"].is_string() && m["accuracy"].as_f64().is_some_and(|a| a > 0.5 && a < 1.0)
        );
    }
}

#[test]
fn train_registers_a_model_and_predict_labels_one_json_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Without a trained model, predict says what to run.
    let input = dir.path().join("texts.txt");
    std::fs::write(
        &input,
        "a gorgeous , witty , seductive movie .\n\nthe plot is n't good and the acting is worse .\n",
    )
    .expect("write");
    let input_s = input.to_str().expect("path");
    let (ok, _, stderr) =
        crate::common::mlsd(&["sentiment", "predict", "--input", input_s], dir.path());
    assert!(!ok && stderr.contains("mlsd sentiment train"), "{stderr}");
    if data_dir("rt-polarity").is_none() {
        return;
    }
    let (ok, stdout, stderr) = crate::common::mlsd(&["sentiment", "train"], dir.path());
    assert!(ok, "{stderr}");
    // 10,662 snippets, every 10th held out for calibration and the drift reference.
    assert!(
        stdout.contains("v0001 nbsvm_bigram on 9595 texts from"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = crate::common::mlsd(
        &["sentiment", "predict", "--input", input_s, "--json"],
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2, "the blank line is skipped");
    assert_eq!(lines[0]["label"], "positive");
    assert_eq!(lines[1]["label"], "negative");
    assert!(lines[0]["score"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(
        lines[1]["text"],
        "the plot is n't good and the acting is worse ."
    );
}

#[test]
fn text_drift_flags_product_reviews_and_not_held_out_movie_reviews() {
    use sentiment::artifact::SentimentArtifact;
    use sentiment::monitor::{check, render, TextDriftConfig};
    use sentiment::reviews::{generate, Domain};
    let Some(examples) = load() else { return };
    // Every 10th snippet (offset 5) is kept away from training and from the reference.
    let (unseen, training): (Vec<_>, Vec<_>) = examples
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 10 == 5);
    let training: Vec<data::Example> = training.into_iter().map(|(_, e)| e).collect();
    let (model, holdout) =
        SentimentArtifact::train_with_holdout(&training, &sentiment::text::TextConfig::default());
    assert!(holdout.accuracy > 0.75, "{holdout:?}");
    assert!(holdout.ece < 0.05, "{holdout:?}");
    let same: Vec<String> = unseen.into_iter().map(|(_, e)| e.text).collect();
    let cfg = TextDriftConfig::default();
    let report = check(&model, &model.reference_texts, &same, &cfg);
    eprintln!("held-out movie reviews:\n{}", render(&report));
    assert!(!report.drifted, "{}", render(&report));
    let gadgets: Vec<String> = generate(Domain::Gadgets, 1_000, 3)
        .into_iter()
        .map(|e| e.text)
        .collect();
    let report = check(&model, &model.reference_texts, &gadgets, &cfg);
    eprintln!("product reviews:\n{}", render(&report));
    assert!(report.drifted);
    for name in ["words", "length", "domain_classifier_auc"] {
        let c = report
            .checks
            .iter()
            .find(|c| c.name == name)
            .expect("check");
        assert!(c.drifted, "{name}: {}", render(&report));
    }
}

/// Out of domain (issue 19): trained on movie-review sentences, scored on VADER's human-rated
/// Amazon and NYT snippets. The shipped default (synthetic reviews) is at chance; the movie
/// models are well above it; the lexicon-first cascade clears 0.70 on both sets.
#[test]
fn out_of_domain_the_synthetic_default_is_at_chance_and_the_cascade_clears_070() {
    let Some(dir) = data_dir("vader-groundtruth") else {
        return;
    };
    let runs = tempfile::tempdir().expect("tempdir");
    let (ok, stdout, stderr) = crate::common::mlsd(
        &[
            "sentiment",
            "evaluate",
            "--protocol",
            "out-of-domain",
            "--data-dir",
            dir.to_str().expect("path"),
            "--json",
        ],
        runs.path(),
    );
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(report["protocol"], "out-of-domain");
    // PROVENANCE.md: 2,985 and 2,970 snippets kept at |rating| ≥ 0.5.
    let kept: Vec<u64> = report["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .map(|s| s["kept"].as_u64().expect("kept"))
        .collect();
    assert_eq!(kept, vec![2_985, 2_970]);
    let accuracy = |model: &str| -> Vec<f64> {
        let row = report["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["name"] == model)
            .unwrap_or_else(|| panic!("no row {model}"));
        row["sets"]
            .as_array()
            .expect("sets")
            .iter()
            .map(|s| s["accuracy"].as_f64().expect("accuracy"))
            .collect()
    };
    for a in accuracy("nbsvm_bigram (shipped default)") {
        assert!(
            (0.40..0.60).contains(&a),
            "the synthetic model is at chance: {a}"
        );
    }
    for a in accuracy("nbsvm_bigram") {
        assert!(a > 0.58, "{a}");
    }
    for a in accuracy("vader, else nbsvm_bigram") {
        assert!(a >= 0.70, "{a}");
    }
}
