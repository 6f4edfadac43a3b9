//! Drift monitoring on simulated traffic: unshifted worlds do not raise dataset drift, and
//! worlds with injected drift do — over 20 seeds each, with the rates stated and asserted.

use fraud_detector::artifact;
use fraud_detector::config::{ModelConfig, SimulationConfig};
use fraud_detector::features::FeatureSpec;
use fraud_detector::monitor::monitor;
use fraud_detector::simulate::{date_to_epoch_ms, simulate};
use fraud_detector::train::{fit, ModelKind};

use crate::common::{small_chapter3, small_simulation};

const SEEDS: u64 = 20;

#[test]
fn dataset_drift_is_rare_without_a_shift_and_reliable_with_one() {
    // Reference: the model and profile of the small world with the default seed.
    let spec = FeatureSpec::default();
    let names = spec.names();
    let (x, y, _) = small_chapter3();
    let model = fit(
        ModelKind::LogisticRegression,
        x,
        y,
        &names,
        &ModelConfig::default(),
    )
    .expect("fit");
    let profile =
        artifact::reference_profile(x, &names, &model.predict_proba(x.view()).expect("scores"));
    let served = artifact::FraudArtifact {
        spec: spec.clone(),
        model,
        calibration: None,
        thresholds: None,
    };

    // Current worlds: 60 days to 2018-08-13 (enough history for the 30 + 7-day windows).
    // Injected drift: from 2018-08-01, 50 % larger amounts and 50 % more payments per card.
    let start = "2018-06-15";
    let drift_day = ((date_to_epoch_ms("2018-08-01").expect("date")
        - date_to_epoch_ms(start).expect("date"))
        / 86_400_000) as u32;
    let world = |seed: u64, drifted: bool| -> SimulationConfig {
        let mut cfg = SimulationConfig {
            seed,
            start_date: start.into(),
            n_days: 60,
            ..small_simulation()
        };
        if drifted {
            cfg.drift.from_day = Some(drift_day);
            cfg.drift.amount_factor = 1.5;
            cfg.drift.activity_factor = 1.5;
        }
        cfg
    };
    let (mut false_alarms, mut detections) = (0, 0);
    for seed in 1..=SEEDS {
        for drifted in [false, true] {
            let (current, _) = simulate(&world(seed, drifted)).expect("simulate");
            let report = monitor(current, &served, &profile, 7).expect("monitor");
            match (drifted, report.dataset_drift) {
                (false, true) => false_alarms += 1,
                (true, true) => detections += 1,
                _ => {}
            }
        }
    }
    println!("over {SEEDS} seeds: {false_alarms} false alarms, {detections} detections");
    // Stated rates: false alarms ≤ 5 % (at most 1 of 20), detection ≥ 95 % (at least 19 of 20).
    assert!(
        false_alarms <= 1,
        "{false_alarms} false alarms in {SEEDS} unshifted worlds"
    );
    assert!(
        detections >= 19,
        "{detections} detections in {SEEDS} drifted worlds"
    );
}
