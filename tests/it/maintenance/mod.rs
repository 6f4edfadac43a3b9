//! The maintenance design: the published protocols on real data from `MLSD_DATA_DIR`, the
//! simulator's policies, online/offline parity, monitoring, the API's bad input.

pub mod data;
mod fleet;
mod api;
mod redis_state;

use std::sync::OnceLock;

use maintenance::artifact::{self, MaintenanceArtifact, TrainConfig, Validation};
use maintenance::data::Fleet;

/// The default training run (~2 s), once per test binary: the model, its training fleet and
/// what validation said.
fn default_run() -> &'static (MaintenanceArtifact, Fleet, Validation) {
    static RUN: OnceLock<(MaintenanceArtifact, Fleet, Validation)> = OnceLock::new();
    RUN.get_or_init(|| artifact::train(&TrainConfig::default()).expect("train"))
}

/// The default model, registered and promoted in `registry`.
pub fn trained(registry: &mlsd_core::registry::Registry) {
    let (model, fleet, validation) = default_run();
    let manifest = artifact::register(registry, model, fleet, validation, &TrainConfig::default())
        .expect("register");
    registry
        .promote(maintenance::DESIGN, &manifest.version)
        .expect("promote");
}

/// The default model.
pub fn model() -> &'static MaintenanceArtifact {
    &default_run().0
}

/// A faster training run for tests that only need a version (fewer boosting rounds, fewer
/// validation machines).
pub fn quick_training() -> TrainConfig {
    let mut cfg = TrainConfig::default();
    cfg.model.boosting_iterations = 30;
    cfg.train_machines = 30;
    cfg.validation_machines = 10;
    cfg.thresholds = vec![10.0, 20.0];
    cfg
}
