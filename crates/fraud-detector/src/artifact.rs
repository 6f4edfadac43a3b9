//! Stage 5 — package a trained model for the registry.
//!
//! One artifact = the estimator + its fitted scaler (inside [`FraudModel`]) + the feature
//! spec + a reference profile of the training features (for drift checks) + metadata
//! (training-data hash, config, metrics, code version) in the registry's manifest.
//!
//! Talking points: training/serving skew (serving loads the same spec and scaler that
//! training used), model and data versioning, rollback (see `mlsd_core::registry`).

use std::collections::BTreeMap;

use mlsd_core::design::{json_file, Artifact};
use mlsd_core::drift::ReferenceProfile;
use mlsd_core::registry::{LoadedVersion, Manifest, NewVersion, Registry};
use ndarray::{Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::features::FeatureSpec;
use crate::train::FraudModel;
use crate::{Error, Result, DESIGN};

const MODEL_FILE: &str = "model.json";
const PROFILE_FILE: &str = "profile.json";

// Talking point: training/serving skew — the feature spec and the fitted scaler travel
// inside the artifact, so serving cannot compute features differently from training.
/// What serving needs to score a transaction exactly as training did.
#[derive(Debug, Serialize, Deserialize)]
pub struct FraudArtifact {
    pub spec: FeatureSpec,
    pub model: FraudModel,
}

/// A profile of each training feature's distribution and of the model's scores on the same
/// rows, for drift checks.
pub fn reference_profile(
    x_train: &Array2<f64>,
    names: &[String],
    model: &FraudModel,
) -> Result<ReferenceProfile> {
    let columns: Vec<Vec<f64>> = x_train.axis_iter(Axis(1)).map(|c| c.to_vec()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let scores = model.predict_proba(x_train.view())?;
    Ok(ReferenceProfile::from_columns(&names, &columns).with_prediction(&scores))
}

/// Writes a new registry version for `artifact`.
pub fn register(
    registry: &Registry,
    artifact: &FraudArtifact,
    profile: &ReferenceProfile,
    training_data_sha256: &str,
    config: serde_json::Value,
    metrics: BTreeMap<String, f64>,
) -> Result<Manifest> {
    let files = vec![
        (MODEL_FILE.to_string(), to_json(artifact)?),
        (PROFILE_FILE.to_string(), to_json(profile)?),
    ];
    Ok(registry.register(NewVersion {
        design: DESIGN.into(),
        model_name: artifact.model.kind.name().into(),
        code_version: mlsd_core::design::code_version(),
        training_data_sha256: training_data_sha256.into(),
        feature_names: artifact.model.feature_names.clone(),
        config,
        metrics,
        files,
    })?)
}

/// What the fraud server holds (and what a registry version decodes to): the model with its
/// feature spec, and the training profile live traffic is compared with.
pub struct FraudServed {
    pub artifact: FraudArtifact,
    pub profile: ReferenceProfile,
}

impl Artifact for FraudServed {
    const DESIGN: &'static str = DESIGN;

    fn decode(version: &LoadedVersion) -> mlsd_core::Result<Self> {
        Ok(FraudServed {
            artifact: json_file(version, MODEL_FILE)?,
            profile: json_file(version, PROFILE_FILE)?,
        })
    }

    /// The online store computes the serving model's features: a model trained on another
    /// spec would read wrong columns.
    fn refuses(&self, next: &Self) -> Option<String> {
        (self.artifact.spec != next.artifact.spec).then(|| {
            "it uses a different feature spec; the online store cannot serve it without a rebuild"
                .to_string()
        })
    }
}

/// A verified version, decoded.
pub struct LoadedArtifact {
    pub manifest: Manifest,
    pub artifact: FraudArtifact,
    pub profile: ReferenceProfile,
}

/// Loads `version`, or the current one, verifying checksums.
pub fn load(registry: &Registry, version: Option<&str>) -> Result<LoadedArtifact> {
    let loaded = mlsd_core::design::load::<FraudServed>(registry, version)?;
    Ok(LoadedArtifact {
        manifest: loaded.manifest,
        artifact: loaded.model.artifact,
        profile: loaded.model.profile,
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Artifact(e.to_string()))
}
