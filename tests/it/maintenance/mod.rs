//! The maintenance design: the published protocols on real data from `MLSD_DATA_DIR`, the
//! simulator's policies, online/offline parity, monitoring, the API's bad input.

pub mod data;
mod fleet;
mod api;

use maintenance::artifact::{self, MaintenanceArtifact, TrainConfig};

/// A trained model registered and promoted in `registry` (the default training run: ~2 s).
pub fn trained(registry: &mlsd_core::registry::Registry) -> MaintenanceArtifact {
    let (_, model, _) =
        maintenance::pipeline::train_and_register(registry, &TrainConfig::default(), true)
            .expect("train");
    model
}

/// The default training run without a registry.
pub fn model() -> MaintenanceArtifact {
    artifact::train(&TrainConfig::default()).expect("train").0
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
