//! Batch scoring — the other half of "batch vs real-time": score a whole period at once
//! from files, with the same artifact (spec + scaler + model) the real-time path uses.
//!
//! Talking points: batch scoring is cheap per row and simple to operate, but its answers
//! are as old as the last run; fraud needs a decision before authorisation, so batch serves
//! back-testing, re-scoring after a model change, and investigators' daily queues, while
//! real-time scoring makes the approve/review/block call. Both must agree on every score —
//! a test replays the same transactions through the online feature store and compares.

use std::path::Path;
use std::time::Instant;

use polars::prelude::*;
use serde::Serialize;

use crate::artifact::FraudArtifact;
use crate::features::{compute, to_matrix};
use crate::schema::{CUSTOMER_ID, TERMINAL_ID, TRANSACTION_ID, TX_AMOUNT, TX_DATETIME};
use crate::{Error, Result};

// The approve / review / block tiers are the shared tabular crate's.
pub use mlsd_tabular::{Decision, DecisionThresholds};

/// Thresholds given by an operator: each one set replaces the version's own.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ThresholdOverride {
    pub review: Option<f64>,
    pub block: Option<f64>,
}

impl ThresholdOverride {
    /// `version`'s thresholds with the overridden ones replaced.
    pub fn over(&self, version: DecisionThresholds) -> DecisionThresholds {
        DecisionThresholds {
            review: self.review.unwrap_or(version.review),
            block: self.block.unwrap_or(version.block),
        }
    }

    /// [`ThresholdOverride::over`], checked (0 ≤ review ≤ block ≤ 1).
    pub fn apply(&self, version: DecisionThresholds) -> Result<DecisionThresholds> {
        let t = self.over(version);
        t.check().map_err(Error::Config)?;
        Ok(t)
    }
}

/// Features, scores and decisions for every transaction of a frame.
pub fn score_frame(
    transactions: DataFrame,
    artifact: &FraudArtifact,
    thresholds: &DecisionThresholds,
) -> Result<DataFrame> {
    thresholds.check().map_err(Error::Config)?;
    let featured = compute(transactions, &artifact.spec)?;
    let x = to_matrix(&featured, &artifact.spec.names())?;
    let scores = artifact.probabilities(x.view())?;
    let decisions: Vec<&str> = scores
        .iter()
        .map(|&s| thresholds.decide(s).name())
        .collect();
    featured
        .select([
            TRANSACTION_ID,
            TX_DATETIME,
            CUSTOMER_ID,
            TERMINAL_ID,
            TX_AMOUNT,
        ])
        .and_then(|mut df| {
            df.with_column(Column::new("fraud_score".into(), scores))?;
            df.with_column(Column::new("decision".into(), decisions))?;
            Ok(df)
        })
        .map_err(Error::polars("assembling scores"))
}

/// What a batch-scoring run reports.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub rows: usize,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub approve: usize,
    pub review: usize,
    pub block: usize,
}

/// Reads `input` (already validated rows), scores it, writes `output` (format by extension); timed with
/// I/O included.
pub fn batch_score(
    transactions: DataFrame,
    output: &Path,
    artifact: &FraudArtifact,
    thresholds: &DecisionThresholds,
) -> Result<BatchSummary> {
    let t = Instant::now();
    let mut scored = score_frame(transactions, artifact, thresholds)?;
    crate::simulate::write_transactions(&mut scored, output)?;
    let seconds = t.elapsed().as_secs_f64();
    let decisions = scored
        .column("decision")
        .and_then(|c| c.str().cloned())
        .map_err(Error::polars("counting decisions"))?;
    let count = |d: Decision| decisions.iter().filter(|v| *v == Some(d.name())).count();
    Ok(BatchSummary {
        rows: scored.height(),
        seconds,
        rows_per_second: scored.height() as f64 / seconds.max(1e-9),
        approve: count(Decision::Approve),
        review: count(Decision::Review),
        block: count(Decision::Block),
    })
}
