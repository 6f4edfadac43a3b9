//! Model behaviour: every model beats random by a clear margin on the chapter-3 protocol,
//! moves in the expected direction, and survives the registry round trip unchanged.

use fraud_detector::artifact;
use fraud_detector::config::{ModelConfig, ProtocolConfig};
use fraud_detector::evaluate::evaluate;
use fraud_detector::features::{compute, FeatureSpec};
use fraud_detector::simulate::simulate;
use fraud_detector::train::{fit, ModelKind};
use mlsd_core::registry::Registry;

use crate::common::{fit_and_register, small_chapter3, small_featured};

#[test]
fn every_model_beats_random_by_a_clear_margin() {
    let names = FeatureSpec::default().names();
    let (eval, _) = evaluate(
        small_featured(),
        &names,
        &ProtocolConfig::default(),
        &ModelConfig::default(),
        &ModelKind::ALL,
        |_| {},
    )
    .expect("evaluate");
    let base_rate = eval.test_frauds as f64 / eval.test_rows as f64;
    let random = eval
        .models
        .iter()
        .find(|m| m.name == "random")
        .expect("random row");
    assert!(random.average_precision < 3.0 * base_rate, "{random:?}");
    for m in eval.models.iter().filter(|m| m.name != "random") {
        assert!(
            m.average_precision > (5.0 * base_rate).max(random.average_precision + 0.15),
            "{} AP {:.3} vs random {:.3} (base rate {:.4})",
            m.name,
            m.average_precision,
            random.average_precision,
            base_rate
        );
        assert!(m.auc > 0.6, "{} AUC {:.3}", m.name, m.auc);
    }
}

#[test]
fn larger_amounts_raise_the_fraud_score() {
    let spec = FeatureSpec::default();
    let names = spec.names();
    let (x, y, test) = small_chapter3();
    for kind in [ModelKind::LogisticRegression, ModelKind::GradientBoosting] {
        let model = fit(kind, x, y, &names, &ModelConfig::default()).expect("fit");
        let mut big = test.clone();
        big.column_mut(0).fill(1_000.0);
        let before: f64 = model.predict_proba(test.view()).expect("p").iter().sum();
        let after: f64 = model.predict_proba(big.view()).expect("p").iter().sum();
        assert!(after > before * 2.0, "{}: {before} → {after}", kind.name());
    }
}

#[test]
fn a_registered_model_scores_exactly_as_before_and_refuses_wrong_inputs() {
    let names = FeatureSpec::default().names();
    let (_, _, test) = small_chapter3();
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    for kind in ModelKind::ALL {
        let (m, expected) = fit_and_register(&registry, kind);
        let loaded = artifact::load(&registry, Some(&m.version)).expect("load");
        let got = loaded
            .artifact
            .model
            .predict_proba(test.view())
            .expect("scores");
        assert_eq!(
            expected,
            got,
            "{} changed after the round trip",
            kind.name()
        );
        assert_eq!(loaded.profile.features.len(), names.len());
        assert!(loaded
            .artifact
            .model
            .predict_proba(test.slice(ndarray::s![.., ..3]))
            .is_err());
    }
}

#[test]
fn the_default_simulation_reaches_the_published_quality() {
    use fraud_detector::config::SimulationConfig;
    use fraud_detector::evaluate::PUBLISHED;
    // The full default run (1.8 M transactions), exactly what `mlsd fraud evaluate` does.
    let (df, _) = simulate(&SimulationConfig::default()).expect("simulate");
    let spec = FeatureSpec::default();
    let featured = compute(df, &spec).expect("features");
    let (eval, _) = evaluate(
        &featured,
        &spec.names(),
        &ProtocolConfig::default(),
        &ModelConfig::default(),
        &ModelKind::ALL,
        |_| {},
    )
    .expect("evaluate");
    let get = |name: &str| {
        eval.models
            .iter()
            .find(|m| m.name == name)
            .expect("model row")
    };
    let lr = get("logistic_regression");
    assert!(lr.auc >= 0.85 && lr.average_precision >= 0.55, "{lr:?}");
    let best = eval
        .models
        .iter()
        .map(|m| m.average_precision)
        .fold(0.0, f64::max);
    assert!(best >= 0.60, "best AP {best}");
    // Logistic regression and boosting land near the published AUC and AP (the handbook's
    // trees and forest are trained differently from ours, so they have no published row).
    for name in ["logistic_regression", "gradient_boosting"] {
        let (ours, published) = (
            get(name),
            PUBLISHED
                .iter()
                .find(|p| p.ours == Some(name))
                .expect("row"),
        );
        assert!(
            (ours.auc - published.auc).abs() < 0.03,
            "{ours:?} vs {published:?}"
        );
        assert!(
            (ours.average_precision - published.average_precision).abs() < 0.05,
            "{ours:?} vs {published:?}"
        );
    }
}

#[test]
fn calibration_fixes_the_undersampled_trees_and_the_review_threshold_meets_the_budget() {
    use fraud_detector::artifact::calibrate;
    use fraud_detector::config::DecisionBudget;
    use fraud_detector::evaluate::{chapter3_split, labels};
    use fraud_detector::features::to_matrix;
    let names = FeatureSpec::default().names();
    let protocol = ProtocolConfig::default();
    let split = chapter3_split(small_featured(), &protocol).expect("split");
    let (x, y) = (
        to_matrix(&split.train, &names).expect("x"),
        labels(&split.train).expect("y"),
    );
    let (x_test, y_test) = (
        to_matrix(&split.test, &names).expect("x test"),
        labels(&split.test).expect("y test"),
    );
    let cfg = ModelConfig::default();
    // An unlimited tree trained on 10 legit rows per fraud: its leaf rates overstate fraud
    // about a hundredfold at a 0.8 % base rate.
    let kind = ModelKind::UndersampledTree;
    let model = fit(kind, &x, &y, &names, &cfg).expect("fit");
    let budget = DecisionBudget::default();
    let (_, report) = calibrate(
        kind,
        (&x, &y),
        protocol.train_days,
        &names,
        &cfg,
        &budget,
        &model,
        (&x_test, &y_test),
    )
    .expect("calibrate");
    println!("{report:?}");
    assert!(
        report.ece_calibrated < report.ece_raw / 2.0,
        "calibration should fix the leaf rates: {report:?}"
    );
    // The review threshold sends the budget to review (ties at the threshold may add a few).
    assert!(
        (budget.reviews_per_day..=1.2 * budget.reviews_per_day).contains(&report.reviews_per_day),
        "{report:?}"
    );
    assert!(report.thresholds.review <= report.thresholds.block);
}

/// The chapter-5 protocol's mechanics on the small world (its 140 days end 2018-08-19, so the
/// folds start earlier than the handbook's): every setting is validated on four weekly folds,
/// each family's best by mean validation AP is the one tested, on four later folds.
#[test]
fn chapter5_chooses_each_familys_setting_on_validation_folds_only() {
    use fraud_detector::model_selection::{chapter5, Candidate, Chapter5Config};
    let names = FeatureSpec::default().names();
    let base = ModelConfig::default();
    let boosting = |depth, rounds, rate| Candidate {
        kind: ModelKind::GradientBoosting,
        setting: format!("{depth}/{rounds}/{rate}"),
        config: ModelConfig {
            boosting_max_depth: depth,
            boosting_iterations: rounds,
            boosting_learning_rate: rate,
            ..base.clone()
        },
        card_ratios: false,
    };
    let grid = vec![
        Candidate {
            kind: ModelKind::LogisticRegression,
            setting: "default".into(),
            config: base.clone(),
            card_ratios: false,
        },
        boosting(1, 5, 0.3),
        boosting(3, 30, 0.1),
        Candidate {
            setting: "3/30/0.1 + ratios".into(),
            card_ratios: true,
            ..boosting(3, 30, 0.1)
        },
    ];
    let cfg = Chapter5Config {
        start: "2018-06-20".into(),
        ..Chapter5Config::default()
    };
    let report = chapter5(small_featured(), &names, &cfg, &grid, |_| {}).expect("chapter 5");
    assert_eq!(
        report.validation_starts,
        ["2018-06-06", "2018-05-30", "2018-05-23", "2018-05-16"]
    );
    assert_eq!(
        report.test_starts,
        ["2018-07-11", "2018-07-04", "2018-06-27", "2018-06-20"]
    );
    // The feature set is a family of its own: the 15 features' best is reported beside the
    // best with the card amount ratios.
    assert_eq!(report.tried.len(), 4);
    assert_eq!(report.models.len(), 3);
    let chosen = report
        .models
        .iter()
        .find(|m| m.model == "gradient_boosting" && !m.setting.contains("ratios"))
        .expect("boosting");
    assert!(report
        .models
        .iter()
        .any(|m| m.setting == "3/30/0.1 + ratios"));
    let best_validation = report
        .tried
        .iter()
        .filter(|t| t.model == "gradient_boosting" && !t.setting.contains("ratios"))
        .map(|t| t.validation.average_precision.mean)
        .fold(f64::MIN, f64::max);
    assert_eq!(chosen.validation.average_precision.mean, best_validation);
    for m in &report.models {
        let ap = m.test.average_precision;
        assert!(ap.mean > 0.1 && ap.mean < 1.0 && ap.std >= 0.0, "{m:?}");
        assert!(m.test.auc.mean > 0.6, "{m:?}");
    }
}

#[test]
fn each_runnable_mistake_moves_the_number_the_way_the_doc_says() {
    use fraud_detector::pipeline::PipelineConfig;
    let (transactions, _) =
        fraud_detector::simulate::simulate(&crate::common::small_simulation()).expect("simulate");
    let runs = fraud_detector::mistakes::run(&["all"], &transactions, &PipelineConfig::default())
        .expect("mistakes");
    let by = |name: &str| runs.iter().find(|m| m.name == name).expect("run");
    // Leaks flatter the offline number; the scaler barely moves it; accuracy cannot tell a
    // model from "approve everything"; the skewed feature moves alerts, not AP.
    for leak in [
        "random-split",
        "label-delay-ignored",
        "compromised-cards-kept",
    ] {
        let m = by(leak);
        assert!(m.mistaken > m.honest, "{m:?}");
    }
    assert!(by("label-delay-ignored").damage() > 0.05);
    assert!(by("scaler-on-all-rows").damage().abs() < 0.02);
    let accuracy = by("accuracy-at-base-rate");
    assert!(
        accuracy.damage().abs() < 0.02 && accuracy.mistaken > 0.95,
        "{accuracy:?}"
    );
    let skew = by("training-serving-skew");
    let changed: usize = skew.lesson["nothing errors and AP barely moves, yet ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the lesson counts the alerts that changed");
    assert!(changed > 0 && skew.damage().abs() < 0.05, "{skew:?}");
    assert!(fraud_detector::mistakes::run(
        &["no-such-mistake"],
        &transactions,
        &PipelineConfig::default()
    )
    .is_err());
}
