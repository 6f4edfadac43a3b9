//! The stages chained — the file to read first.
//!
//! ```text
//! simulate (seeded fleet, run to failure) ─► features (windows, sensors chosen on training)
//!   ─► train (RUL model) ─► validate (other machines: residuals → risk, cost → alert threshold)
//!   ─► register (the registry version the server and the batch job load)
//! ```
//!
//! The published protocols (C-MAPSS, AI4I) and the policy comparison are in
//! [`crate::evaluate`]; serving in [`crate::serve`]; the nightly job in [`crate::batch`].

use mlsd_core::registry::{Manifest, Registry};

use crate::artifact::{self, MaintenanceArtifact, TrainConfig, Validation};
use crate::Result;

/// Trains on the simulator, registers the version and promotes it.
pub fn train_and_register(
    registry: &Registry,
    cfg: &TrainConfig,
    promote: bool,
) -> Result<(Manifest, MaintenanceArtifact, Validation)> {
    let (model, training, validation) = artifact::train(cfg)?;
    let manifest = artifact::register(registry, &model, &training, &validation, cfg)?;
    if promote {
        registry.promote(crate::DESIGN, &manifest.version)?;
    }
    Ok((manifest, model, validation))
}
