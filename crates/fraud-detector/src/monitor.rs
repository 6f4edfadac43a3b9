//! Stage 7 — monitoring: is the world the model sees still the world it was trained on?
//!
//! The reference profile saved with the model (training features and training scores) is
//! compared with the last `window_days` of current traffic, feature by feature, with
//! Evidently's automatic test choice (see `mlsd_core::drift`), plus the score distribution
//! (prediction drift) and the share of drifted features (dataset drift at ≥ 50 %).
//!
//! Talking points: ML failures do not raise errors — a model keeps answering while the
//! inputs move under it; drift on inputs is visible *now*, while performance can only be
//! measured once the labels land a week later; dataset drift is a retraining trigger.

use mlsd_core::drift::{drift_report, DriftReport, ReferenceProfile};
use ndarray::Axis;
use polars::prelude::*;

use crate::artifact::FraudArtifact;
use crate::features::{self, to_matrix};
use crate::schema::TX_DATETIME;
use crate::{Error, Result};

/// Evidently's default: the dataset drifts when half of the features do.
pub const DRIFT_SHARE: f64 = 0.5;

/// Keeps the rows of the last `days` days of a frame (by its latest timestamp).
pub fn last_days(featured: &DataFrame, days: u32) -> Result<DataFrame> {
    let ms = col(TX_DATETIME).cast(DataType::Int64);
    featured
        .clone()
        .lazy()
        .filter(ms.clone().gt(ms.max() - lit(days as i64 * 86_400_000)))
        .collect()
        .map_err(Error::polars("selecting the current window"))
}

/// Drift of `window` (featured rows) against the profile, with the served probabilities.
pub fn window_drift(
    window: &DataFrame,
    artifact: &FraudArtifact,
    profile: &ReferenceProfile,
) -> Result<DriftReport> {
    let x = to_matrix(window, &artifact.spec.names())?;
    if x.nrows() == 0 {
        return Err(Error::Config(
            "the current window has no transactions".into(),
        ));
    }
    let scores = artifact.probabilities(x.view())?;
    let columns: Vec<Vec<f64>> = x.axis_iter(Axis(1)).map(|c| c.to_vec()).collect();
    Ok(drift_report(profile, &columns, Some(&scores), DRIFT_SHARE))
}

/// Computes features over the end of `transactions` (the window and the history its
/// features need, so windows are complete) and reports drift of the last `window_days` days.
pub fn monitor(
    transactions: DataFrame,
    artifact: &FraudArtifact,
    profile: &ReferenceProfile,
    window_days: u32,
) -> Result<DriftReport> {
    let spec = &artifact.spec;
    // Only the window and its features' history: no point in featurising months of traffic.
    let recent = last_days(&transactions, window_days + spec.history_days())?;
    let featured = features::compute(recent, spec)?;
    window_drift(&last_days(&featured, window_days)?, artifact, profile)
}
