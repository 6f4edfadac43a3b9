//! Stage 6 — the saved model: feature spec, RUL model, sensor bounds, the risk table, the
//! cost-chosen alert threshold and the drift reference, versioned together in the registry.
//!
//! ```text
//! train machines (run to failure) ─► spec + model
//! validation machines             ─► residuals (RUL → risk of failing within the horizon)
//!                                 ─► alert threshold h (lowest simulated cost)
//! training readings               ─► per-sensor reference profile + bounds
//! ```
//!
//! Talking points: training/serving skew (the spec travels with the model); model versioning;
//! a risk the operator can read (P(fail within 30 days), from held-out residuals, not the
//! training fit); the alert threshold is a cost decision, stored with the model it was
//! chosen for.

use std::collections::BTreeMap;

use mlsd_core::design::{json_bytes, json_file, Artifact, Registration};
use mlsd_core::drift::ReferenceProfile;
use mlsd_core::registry::{LoadedVersion, Manifest, Registry};
use mlsd_tabular::RegressionConfig;
use serde::{Deserialize, Serialize};

use crate::data::Fleet;
use crate::evaluate::{fleet_part, rul_errors};
use crate::features::{self, FeatureConfig, FeatureSpec, Rows};
use crate::models::{self, matrix, RulKind, RulModel};
use crate::policy::{self, CostModel};
use crate::simulate::{self, FleetConfig, MachineSim};
use crate::{Result, DESIGN};

/// The file name of the artifact inside a registry version.
pub const FILE: &str = "model.json";

/// What the server holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct MaintenanceArtifact {
    pub spec: FeatureSpec,
    pub model: RulModel,
    /// Per sensor: the plausible range (a reading outside is refused as impossible).
    pub bounds: Vec<(f64, f64)>,
    /// Held-out `true − predicted` RUL, sorted: the spread that turns a prediction into a risk.
    pub residuals: Vec<f64>,
    /// Risk horizon (cycles): risk = P(failure within it).
    pub horizon: f64,
    /// Alert when the predicted RUL is at most this (chosen by cost on validation machines).
    pub alert_rul: f64,
    pub costs: CostModel,
    /// The plant's machines (id → type): readings for another id are refused.
    pub inventory: BTreeMap<u32, String>,
    /// Training readings per sensor and training predictions: the drift reference.
    pub reference: ReferenceProfile,
}

impl Artifact for MaintenanceArtifact {
    const DESIGN: &'static str = DESIGN;
    fn decode(version: &LoadedVersion) -> mlsd_core::Result<Self> {
        json_file(version, FILE)
    }
    /// Another sensor list cannot replace this one in a running server: the per-machine
    /// windows hold readings in this order.
    fn refuses(&self, next: &Self) -> Option<String> {
        (next.spec.sensors != self.spec.sensors).then(|| {
            format!(
                "its sensors {:?} differ from the serving {:?}",
                next.spec.sensors, self.spec.sensors
            )
        })
    }
}

/// One assessment of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    /// Predicted remaining useful life (cycles, capped).
    pub rul: f64,
    /// P(failure within `horizon` cycles).
    pub risk: f64,
    /// The cost rule says: service it.
    pub alert: bool,
}

impl MaintenanceArtifact {
    /// Assessments of feature rows.
    pub fn assess(&self, rows: &[Vec<f64>]) -> Vec<Assessment> {
        if rows.is_empty() {
            return Vec::new();
        }
        let predicted = self.model.predict(&matrix(rows, self.spec.width()));
        predicted
            .into_iter()
            .map(|rul| Assessment {
                rul,
                risk: self.risk(rul),
                alert: rul <= self.alert_rul,
            })
            .collect()
    }

    /// Share of held-out residuals `r` with `rul + r ≤ horizon`.
    pub fn risk(&self, rul: f64) -> f64 {
        if self.residuals.is_empty() {
            return f64::from(u8::from(rul <= self.horizon));
        }
        let limit = self.horizon - rul;
        self.residuals.partition_point(|r| *r <= limit) as f64 / self.residuals.len() as f64
    }
}

/// Settings of a training run on the simulator.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub fleet: FleetConfig,
    pub train_machines: u32,
    pub validation_machines: u32,
    /// Machines in the plant's inventory (ids 1..=n).
    pub inventory: u32,
    pub features: FeatureConfig,
    pub model: RegressionConfig,
    pub kind: RulKind,
    pub costs: CostModel,
    pub horizon: f64,
    pub thresholds: Vec<f64>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        let protocol = crate::evaluate::FleetProtocol::default();
        TrainConfig {
            fleet: protocol.fleet,
            train_machines: protocol.train_machines,
            validation_machines: protocol.validation_machines,
            inventory: 1_000,
            features: protocol.features,
            model: protocol.model,
            kind: protocol.served,
            costs: protocol.costs,
            horizon: 30.0,
            thresholds: protocol.thresholds,
        }
    }
}

/// What the validation machines said about the trained model.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub rmse: f64,
    pub nasa_score: f64,
    pub alert_rul: f64,
    pub cost_per_machine_year: f64,
    pub failures: u64,
    pub services: u64,
}

/// Trains on the simulator's training machines and validates on others.
pub fn train(cfg: &TrainConfig) -> Result<(MaintenanceArtifact, Fleet, Validation)> {
    let train = simulate::run_to_failure(&fleet_part(&cfg.fleet, 1, cfg.train_machines));
    train_on(&train, cfg)
}

/// Trains on `train` (any fleet in the simulator's sensor layout) and validates on the
/// simulator's validation machines.
pub fn train_on(
    train: &Fleet,
    cfg: &TrainConfig,
) -> Result<(MaintenanceArtifact, Fleet, Validation)> {
    let cap = cfg.features.rul_cap;
    let spec = FeatureSpec::fit(train, &cfg.features);
    let tr = features::table(&spec, train, Rows::Labelled, cap);
    let x = matrix(&tr.rows, spec.width());
    let model = RulModel::fit(
        cfg.kind,
        &x,
        &tr.targets,
        &models::failed_lives(train),
        cap,
        &cfg.model,
    )?;
    let validation = fleet_part(&cfg.fleet, 100_001, cfg.validation_machines);
    let held = features::table(
        &spec,
        &simulate::run_to_failure(&validation),
        Rows::Labelled,
        cap,
    );
    let predicted = model.predict(&matrix(&held.rows, spec.width()));
    let (rmse, nasa_score, _) = rul_errors(&predicted, &held.targets);
    let mut residuals: Vec<f64> = held
        .targets
        .iter()
        .zip(&predicted)
        .map(|(t, p)| t - p)
        .collect();
    residuals.sort_by(f64::total_cmp);
    let chosen = policy::best_threshold(&validation, &spec, &model, &cfg.costs, &cfg.thresholds);
    let alert_rul = chosen.parameter.unwrap_or(0.0);
    let train_predictions = model.predict(&x);
    let names: Vec<&str> = train.sensors.iter().map(String::as_str).collect();
    let columns: Vec<Vec<f64>> = (0..names.len())
        .map(|j| {
            train
                .machines
                .iter()
                .flat_map(|m| &m.readings)
                .map(|r| r.values[j])
                .collect()
        })
        .collect();
    let reference =
        ReferenceProfile::from_columns(&names, &columns).with_prediction(&train_predictions);
    let inventory = (1..=cfg.inventory)
        .map(|id| (id, MachineSim::new(&cfg.fleet, id).kind.to_string()))
        .collect();
    let artifact = MaintenanceArtifact {
        bounds: crate::online::bounds(train),
        spec,
        model,
        residuals,
        horizon: cfg.horizon,
        alert_rul,
        costs: cfg.costs.clone(),
        inventory,
        reference,
    };
    let report = Validation {
        rmse,
        nasa_score,
        alert_rul,
        cost_per_machine_year: chosen.cost_per_machine_year,
        failures: chosen.failures,
        services: chosen.services,
    };
    Ok((artifact, train.clone(), report))
}

/// Registers `artifact` as a new (not yet promoted) version.
pub fn register(
    registry: &Registry,
    artifact: &MaintenanceArtifact,
    training: &Fleet,
    validation: &Validation,
    cfg: &TrainConfig,
) -> Result<Manifest> {
    // The data version: the training fleet itself, every reading.
    let data = serde_json::to_vec(training).map_err(|e| crate::Error::Config(e.to_string()))?;
    let metrics = BTreeMap::from([
        ("validation_rmse".to_string(), validation.rmse),
        ("validation_nasa_score".to_string(), validation.nasa_score),
        ("alert_rul".to_string(), validation.alert_rul),
        (
            "validation_cost_per_machine_year".to_string(),
            validation.cost_per_machine_year,
        ),
    ]);
    let config = serde_json::json!({
        "features": cfg.features,
        "model": cfg.model,
        "kind": cfg.kind,
        "costs": cfg.costs,
        "horizon": cfg.horizon,
    });
    Ok(mlsd_core::design::register::<MaintenanceArtifact>(
        registry,
        Registration {
            model_name: cfg.kind.id().to_string(),
            training_data_sha256: mlsd_core::report::sha256_hex(&data),
            feature_names: artifact.spec.names(),
            config,
            metrics,
            files: vec![json_bytes(FILE, artifact)?],
        },
    )?)
}
