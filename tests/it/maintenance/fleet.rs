//! The simulator: policies priced on the same machines, online/offline feature parity,
//! monitoring's false alarms and power, the batch job.

use maintenance::data::Reading;
use maintenance::evaluate;
use maintenance::features::{self, FeatureConfig, FeatureSpec, Rows};
use maintenance::online::{MachineState, SensorHealth};
use maintenance::simulate::{self, FleetConfig};

#[test]
fn the_predictive_policy_costs_less_than_run_to_failure_and_the_best_fixed_interval() {
    let keys = ["name", "rmse", "train_seconds"];
    let r = super::data::evaluate_json("fleet", &keys);
    assert_eq!(r["protocol"], "fleet-simulator");
    let cost = |name: &str| {
        let policies = r["policies"].as_array().expect("policies");
        let p = policies.iter().find(|p| p["name"] == name).expect("policy");
        for key in ["cost_per_machine_year", "failures", "services"] {
            assert!(p[key].is_number(), "{key} in {p}");
        }
        p["cost_per_machine_year"].as_f64().expect("cost")
    };
    let (rtf, fixed, predictive) = (
        cost("run to failure"),
        cost("fixed interval"),
        cost("predictive"),
    );
    assert!(
        predictive < fixed && fixed < rtf,
        "{predictive} / {fixed} / {rtf}"
    );
    // Every learned RUL model beats the mean on machines it never saw.
    let rmse: Vec<f64> = r["models"]
        .as_array()
        .expect("models")
        .iter()
        .filter_map(|m| m["rmse"].as_f64())
        .collect();
    assert!(rmse[2..].iter().all(|e| *e < rmse[0]), "{rmse:?}");
}

#[test]
fn online_features_equal_offline_features_over_a_replayed_fleet() {
    let fleet = simulate::run_to_failure(&FleetConfig {
        machines: 20,
        cycles: 400,
        ..FleetConfig::default()
    });
    let spec = FeatureSpec::fit(&fleet, &FeatureConfig::default());
    let offline = features::table(&spec, &fleet, Rows::Labelled, f64::INFINITY);
    let unbounded = vec![(f64::NEG_INFINITY, f64::INFINITY); spec.sensors.len()];
    let mut health = vec![SensorHealth::default(); spec.sensors.len()];
    let (mut compared, mut worst) = (0, 0.0f64);
    let mut k = 0;
    for m in &fleet.machines {
        if !matches!(m.end, maintenance::data::End::Failed(_)) {
            continue; // the offline table (uncapped) labels failed lives only
        }
        let mut state = MachineState::new(&spec);
        for r in &m.readings {
            let online = state
                .push(
                    &spec,
                    &unbounded,
                    Reading {
                        cycle: r.cycle,
                        values: r.values.clone(),
                    },
                    Some(&mut health),
                )
                .expect("in order");
            let row = &offline.rows[k];
            assert_eq!(
                offline.keys[k].0,
                fleet
                    .machines
                    .iter()
                    .position(|x| std::ptr::eq(x, m))
                    .expect("machine")
            );
            for (a, b) in online.iter().zip(row) {
                worst = worst.max((a - b).abs());
            }
            k += 1;
            compared += 1;
        }
    }
    assert_eq!(compared, offline.rows.len());
    assert!(compared > 1_000, "{compared}");
    assert!(
        worst <= 1e-9,
        "online and offline features differ by {worst}"
    );
}

#[test]
fn monitor_alarms_on_a_recalibrated_sensor_and_not_on_an_unshifted_fleet() {
    let model = super::model();
    // False alarms: eight unshifted months.
    for seed in 1..=8 {
        let r = maintenance::monitor::simulated_month(model, None, 0.0, seed).expect("month");
        assert!(!r.alarm, "seed {seed}: {:?}", r.drifted_sensors);
    }
    // Power: a recalibration of two noise units on each sensor the model reads.
    for &j in &model.spec.used {
        let r = maintenance::monitor::simulated_month(model, Some(j), 2.0, 7).expect("month");
        assert_eq!(
            r.drifted_sensors,
            vec![model.spec.sensors[j].clone()],
            "sensor {j}"
        );
    }
}

#[test]
fn the_batch_job_writes_a_schedule_and_quarantines_bad_rows() {
    let model = super::model();
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("readings.csv");
    let fleet = simulate::run_to_failure(&evaluate::fleet_part(
        &FleetConfig {
            cycles: 90,
            ..Default::default()
        },
        1,
        30,
    ));
    let rows = maintenance::batch::write_readings_csv(&fleet, &input).expect("write");
    let mut text = std::fs::read_to_string(&input).expect("read");
    text.push_str("999999,1,1,2,3,4,5,6,7,8\n1,x,1,2,3,4,5,6,7,8\n2,5,1,2\n");
    std::fs::write(&input, text).expect("write");
    let out = dir.path().join("schedule.csv");
    let b = maintenance::batch::score_file(model, &input, &out).expect("batch");
    assert_eq!(b.readings, rows + 3);
    assert_eq!(b.quarantined_by_reason["unknown_machine"], 1);
    assert_eq!(b.quarantined_by_reason["bad_cycle"], 1);
    assert_eq!(b.quarantined_by_reason["wrong_field_count"], 1);
    assert_eq!(b.machines, 30);
    let schedule = std::fs::read_to_string(&out).expect("schedule");
    assert_eq!(schedule.lines().count(), 31);
}
