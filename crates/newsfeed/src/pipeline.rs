//! The stages chained — the file to read first.
//!
//! ```text
//! simulate (seeded news service, a logging policy with exploration) ─► log
//!   ─► features (counters replayed in time order: each row sees only its past)
//!   ─► train (multi-task ranker: click, long dwell, share, hide; position-corrected)
//!   ─► validate (one day served by the new ranker: reads, clicks, clickbait, the reference)
//!   ─► register (ranker + funnel settings + snapshot + reference: one registry version)
//! ```
//!
//! The published protocol (MIND) is in [`crate::evaluate`]; what only a simulator can show
//! (true relevance, position bias, feedback loops, experiments) in [`crate::experiments`];
//! serving in [`crate::serve`]; monitoring in [`crate::monitor`].

use mlsd_core::registry::{Manifest, Registry};

use crate::artifact::{self, NewsfeedArtifact, TrainConfig, Training};
use crate::Result;

/// Trains on the simulator, registers the version and promotes it.
pub fn train_and_register(
    registry: &Registry,
    cfg: &TrainConfig,
    promote: bool,
) -> Result<(Manifest, NewsfeedArtifact, Training)> {
    let (model, training) = artifact::train(cfg)?;
    let manifest = artifact::register(registry, &model, &training, cfg)?;
    if promote {
        registry.promote(crate::DESIGN, &manifest.version)?;
    }
    Ok((manifest, model, training))
}
