//! Stage 5 — package a trained model for the registry.
//!
//! One artifact = the estimator + its fitted scaler (inside [`FraudModel`]) + the feature
//! spec + a reference profile of the training features (for drift checks) + metadata
//! (training-data hash, config, metrics, code version) in the registry's manifest.
//!
//! Talking points: training/serving skew (serving loads the same spec and scaler that
//! training used), model and data versioning, rollback (see `mlsd_core::registry`).

use std::collections::BTreeMap;

use mlsd_core::design::{json_file, Artifact, Registration};
use mlsd_core::drift::ReferenceProfile;
use mlsd_core::metrics::{log_odds, Platt};
use mlsd_core::registry::{LoadedVersion, Manifest, Registry};
use ndarray::{s, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::batch::DecisionThresholds;
use crate::config::{DecisionBudget, ModelConfig};
use crate::features::FeatureSpec;
use crate::train::{fit, FraudModel, ModelKind};
use crate::{Error, Result, DESIGN};

const MODEL_FILE: &str = "model.json";
const PROFILE_FILE: &str = "profile.json";

// Talking point [features]: training/serving skew — the feature spec and the fitted scaler travel
// inside the artifact, so serving cannot compute features differently from training.
/// What serving needs to score a transaction exactly as training did.
#[derive(Debug, Serialize, Deserialize)]
pub struct FraudArtifact {
    pub spec: FeatureSpec,
    pub model: FraudModel,
    /// Platt scaling of the model's log-odds, fitted on out-of-fold scores of the training
    /// window ([`calibrate`]); absent in versions registered before calibration, whose scores
    /// are served raw.
    #[serde(default)]
    pub calibration: Option<Platt>,
    /// Review and block thresholds on the calibrated probability, chosen from the alert
    /// budget ([`calibrate`]); absent: the defaults (0.3 / 0.8).
    #[serde(default)]
    pub thresholds: Option<DecisionThresholds>,
}

impl FraudArtifact {
    /// P(fraud) for each row of raw features: the model's score, calibrated when the version
    /// carries a calibration.
    pub fn probabilities(&self, x: ArrayView2<f64>) -> Result<Vec<f64>> {
        let scores = self.model.predict_proba(x)?;
        Ok(match &self.calibration {
            Some(platt) => scores
                .into_iter()
                .map(|s| platt.probability(log_odds(s)))
                .collect(),
            None => scores,
        })
    }

    /// The version's approve / review / block thresholds (the defaults when it has none).
    pub fn thresholds(&self) -> DecisionThresholds {
        self.thresholds.unwrap_or_default()
    }
}

/// A profile of each training feature's distribution and of the served probabilities on the
/// same rows (`scores`), for drift checks.
pub fn reference_profile(
    x_train: &Array2<f64>,
    names: &[String],
    scores: &[f64],
) -> ReferenceProfile {
    let columns: Vec<Vec<f64>> = x_train.axis_iter(Axis(1)).map(|c| c.to_vec()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    ReferenceProfile::from_columns(&names, &columns).with_prediction(scores)
}

/// What calibrating a model found, recorded in its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationReport {
    /// Expected calibration error (10 bins) on the test window, of the model's raw scores and
    /// of the calibrated probabilities (the calibration never saw the test window).
    pub ece_raw: f64,
    pub ece_calibrated: f64,
    pub thresholds: DecisionThresholds,
    /// Payments a day the review threshold sends to investigators on the training window.
    pub reviews_per_day: f64,
}

/// Talking point [objective]: thresholds on calibrated probabilities, sized to the alert budget.
///
/// The served model's scores are not probabilities (the trees' leaf rates come from
/// undersampled rows). `kind` is refitted on each half of the training window (by time) and
/// scores the other half; Platt scaling fitted on those out-of-fold scores maps the served
/// model's scores to probabilities. The review threshold is the calibrated probability above
/// which the out-of-fold scores send `budget.reviews_per_day` payments a day to review; the
/// block threshold is `budget.block_probability` (never below the review threshold).
#[allow(clippy::too_many_arguments)]
pub fn calibrate(
    kind: ModelKind,
    (x_train, y_train): (&Array2<f64>, &[bool]),
    train_days: u32,
    names: &[String],
    models: &ModelConfig,
    budget: &DecisionBudget,
    served: &FraudModel,
    (x_test, y_test): (&Array2<f64>, &[bool]),
) -> Result<(Platt, CalibrationReport)> {
    let half = x_train.nrows() / 2;
    let mut out_of_fold = vec![0.0; x_train.nrows()];
    for (fit_rows, score_rows) in [
        (half..x_train.nrows(), 0..half),
        (0..half, half..x_train.nrows()),
    ] {
        let x_fit = x_train.slice(s![fit_rows.clone(), ..]).to_owned();
        let model = fit(kind, &x_fit, &y_train[fit_rows], names, models)?;
        let scores = model.predict_proba(x_train.slice(s![score_rows.clone(), ..]))?;
        out_of_fold[score_rows].copy_from_slice(&scores);
    }
    let oof_log_odds: Vec<f64> = out_of_fold.iter().map(|&s| log_odds(s)).collect();
    let platt = Platt::fit(&oof_log_odds, y_train);
    let mut calibrated: Vec<f64> = oof_log_odds.iter().map(|&z| platt.probability(z)).collect();
    calibrated.sort_by(|a, b| b.total_cmp(a));
    let reviews = (budget.reviews_per_day * f64::from(train_days.max(1))).round() as usize;
    let review = calibrated
        .get(reviews.saturating_sub(1))
        .copied()
        .unwrap_or(0.0)
        .min(budget.block_probability);
    let thresholds = DecisionThresholds {
        review,
        block: budget.block_probability,
    };
    let raw = served.predict_proba(x_test.view())?;
    let served_calibrated: Vec<f64> = raw
        .iter()
        .map(|&s| platt.probability(log_odds(s)))
        .collect();
    let ece = |p: &[f64]| {
        mlsd_core::metrics::calibration(y_test, p, 10)
            .map(|c| c.ece)
            .map_err(Error::from)
    };
    let flagged = calibrated.iter().filter(|&&p| p >= review).count();
    Ok((
        platt,
        CalibrationReport {
            ece_raw: ece(&raw)?,
            ece_calibrated: ece(&served_calibrated)?,
            thresholds,
            reviews_per_day: flagged as f64 / f64::from(train_days.max(1)),
        },
    ))
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
    Ok(mlsd_core::design::register::<FraudServed>(
        registry,
        Registration {
            model_name: artifact.model.kind.name().into(),
            training_data_sha256: training_data_sha256.into(),
            feature_names: artifact.model.feature_names.clone(),
            config,
            metrics,
            files,
        },
    )?)
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
