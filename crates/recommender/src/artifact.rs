//! Stage 5b — the fitted recommender as a registry version, and what the server holds.
//!
//! A version holds the fitted two-stage model (embeddings, IVF index, co-occurrence, both
//! rankers, every user's state at the cutoff), the batch job's snapshot computed with it, and
//! the model's last training week (the reference of drift checks); its manifest names the
//! training cutoff, the config and the training data's sha256.
//!
//! Talking points: model versioning (a recommender is a version like any other model:
//! promote and rollback are pointer moves, not refits); a snapshot names the model version it
//! was computed with and the server refuses any other.

use std::collections::BTreeMap;

use mlsd_core::design::{deflated_json_bytes, deflated_json_file, Artifact, Registration};
use mlsd_core::registry::{LoadedVersion, Manifest, Registry};
use sha2::{Digest, Sha256};

use crate::batch::Snapshot;
use crate::config::RecommenderConfig;
use crate::movielens::Rating;
use crate::pipeline::World;
use crate::two_stage::{TwoStage, FEATURES};
use crate::{Result, DESIGN};

// Deflated JSON: the item-item similarity alone is n_items² floats.
const MODEL_FILE: &str = "model.json.zz";
const SNAPSHOT_FILE: &str = "snapshot.json.zz";
const REFERENCE_FILE: &str = "reference.json.zz";

/// What the recommender server holds: the model, the snapshot computed with it, and the
/// events drift is measured against.
pub struct RecommenderServed {
    pub model: TwoStage,
    pub snapshot: Snapshot,
    pub reference: Vec<Rating>,
}

impl Artifact for RecommenderServed {
    const DESIGN: &'static str = DESIGN;

    /// Any recommender may replace another: the server drops its live sessions and cached
    /// lists on a swap (they were built on the old model's user states).
    fn decode(version: &LoadedVersion) -> mlsd_core::Result<Self> {
        let model: TwoStage = deflated_json_file(version, MODEL_FILE)?;
        let mut snapshot: Snapshot = deflated_json_file(version, SNAPSHOT_FILE)?;
        if snapshot.model_as_of != model.now {
            return Err(mlsd_core::Error::Config(format!(
                "{}: the snapshot is as of {}, the model as of {}",
                version.manifest.version, snapshot.model_as_of, model.now
            )));
        }
        snapshot.model_version = version.manifest.version.clone();
        Ok(RecommenderServed {
            model,
            snapshot,
            reference: deflated_json_file(version, REFERENCE_FILE)?,
        })
    }
}

/// sha256 of the training events (user, item, weight, time; little-endian): the data version.
pub fn events_sha256(events: &[Rating]) -> String {
    let mut hash = Sha256::new();
    for e in events {
        hash.update(e.user.to_le_bytes());
        hash.update(e.item.to_le_bytes());
        hash.update(e.rating.to_le_bytes());
        hash.update(e.timestamp.to_le_bytes());
    }
    format!("{:x}", hash.finalize())
}

/// Writes a new registry version for a fitted world (not promoted).
pub fn register(
    registry: &Registry,
    world: &World,
    config: &RecommenderConfig,
) -> Result<Manifest> {
    let training = world.shop.between(i64::MIN, world.model.now);
    let t = &world.training;
    let metrics = BTreeMap::from([
        ("candidate_recall".to_string(), t.candidate_recall),
        ("candidates_per_user".to_string(), t.candidates_per_user),
        ("ann_recall_at_100".to_string(), t.ann_recall_at_100),
        ("ranker_rows".to_string(), t.rows as f64),
        ("training_seconds".to_string(), t.seconds),
    ]);
    let mut config_json =
        serde_json::to_value(config).map_err(|e| crate::Error::Config(e.to_string()))?;
    config_json["cutoff"] = world.model.now.into();
    Ok(mlsd_core::design::register::<RecommenderServed>(
        registry,
        Registration {
            model_name: "two_stage".into(),
            training_data_sha256: events_sha256(training),
            feature_names: FEATURES.iter().map(|f| f.to_string()).collect(),
            config: config_json,
            metrics,
            files: vec![
                deflated_json_bytes(MODEL_FILE, &world.model)?,
                deflated_json_bytes(SNAPSHOT_FILE, &world.snapshot)?,
                deflated_json_bytes(REFERENCE_FILE, &world.reference)?,
            ],
        },
    )?)
}
