//! Hyperparameter selection on a *validation* window, never on the test window.
//!
//! The chapter-3 protocol trains on 2018-07-25..07-31 and tests on 08-08..08-14. To choose
//! hyperparameters we shift the whole protocol one fortnight earlier: train on 07-11..07-17,
//! test on 07-25..07-31 — all before the real test period. `ModelConfig`'s defaults for
//! boosting come from this run (the cheapest setting within 0.005 AP of the best).
//!
//! Run: `cargo run --release --example tune`

use fraud_detector::config::{ModelConfig, ProtocolConfig, SimulationConfig};
use fraud_detector::evaluate::{chapter3_split, labels, score_split};
use fraud_detector::features::{compute, to_matrix, FeatureSpec};
use fraud_detector::simulate::simulate;
use fraud_detector::train::{fit, ModelKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (df, _) = simulate(&SimulationConfig::default())?;
    let spec = FeatureSpec::default();
    let names = spec.names();
    let featured = compute(df, &spec)?;
    let validation = ProtocolConfig {
        train_start: "2018-07-11".into(),
        ..ProtocolConfig::default()
    };
    let split = chapter3_split(&featured, &validation)?;
    let (x, y) = (to_matrix(&split.train, &names)?, labels(&split.train)?);
    let x_val = to_matrix(&split.test, &names)?;
    let run = |kind: ModelKind,
               cfg: ModelConfig,
               label: String|
     -> Result<(), Box<dyn std::error::Error>> {
        let t = std::time::Instant::now();
        let model = fit(kind, &x, &y, &names, &cfg)?;
        let scores = model.predict_proba(x_val.view())?;
        let r = score_split(kind.name(), &scores, &split.test, validation.top_k)?;
        println!(
            "{:<18} {label:<34} AUC {:.3}  AP {:.3}  CP@100 {:.3}  ({:.1} s)",
            kind.name(),
            r.auc,
            r.average_precision,
            r.card_precision_at_100,
            t.elapsed().as_secs_f64()
        );
        Ok(())
    };
    for (iterations, learning_rate, depth) in [
        (100, 0.3, 6),
        (100, 0.1, 6),
        (300, 0.05, 4),
        (200, 0.1, 5),
        (100, 0.1, 3),
        (50, 0.1, 4),
    ] {
        let cfg = ModelConfig {
            boosting_iterations: iterations,
            boosting_learning_rate: learning_rate,
            boosting_max_depth: depth,
            ..ModelConfig::default()
        };
        run(
            ModelKind::GradientBoosting,
            cfg,
            format!("rounds {iterations}, lr {learning_rate}, depth {depth}"),
        )?;
    }
    for (trees, share, ratio) in [(100, 0.5, 10), (50, 0.5, 10), (100, 0.3, 10), (100, 0.5, 5)] {
        let cfg = ModelConfig {
            forest_trees: trees,
            forest_feature_share: share,
            tree_negatives_per_positive: ratio,
            ..ModelConfig::default()
        };
        run(
            ModelKind::UndersampledForest,
            cfg,
            format!("trees {trees}, features {share}, legit/fraud {ratio}"),
        )?;
    }
    Ok(())
}
