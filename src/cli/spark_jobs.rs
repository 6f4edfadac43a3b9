//! The batch jobs on Spark (`--engine spark`): each sends its design's exported SQL through
//! [`crate::spark`] and reports rows/s with the session start kept apart from the job.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use fraud_detector::artifact::FraudArtifact;
use fraud_detector::batch::DecisionThresholds;
use fraud_detector::export::{self, SourceFormat};
use fraud_detector::ingest::IngestConfig;
use serde::Serialize;

use super::engine::spark_location;
use crate::spark::{rows, Spark};

/// What a Spark batch run reports.
#[derive(Debug, Serialize)]
pub struct SparkRun {
    pub engine: &'static str,
    pub spark_version: String,
    /// Connecting and a first query: paid once per session, not per job.
    pub session_seconds: f64,
    /// The job itself: reading, validating, features, scoring, writing Parquet, counting.
    pub job_seconds: f64,
    pub rows: i64,
    pub rows_per_second: f64,
    /// (kind, name, count): rows per decision and quarantined rows per reason.
    pub counts: Vec<(String, String, i64)>,
}

impl SparkRun {
    /// The counts of one kind as "n name, n name" ("none" when there are none).
    pub fn counted(&self, kind: &str) -> String {
        let items: Vec<String> = self
            .counts
            .iter()
            .filter(|c| c.0 == kind)
            .map(|c| format!("{} {}", c.2, c.1))
            .collect();
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    }
}

/// `mlsd fraud batch-score --engine spark`: validation, features, model and tiers as SQL on
/// Spark; scored rows to `output` (a Parquet folder), quarantined ones beside it.
pub fn fraud_batch(
    remote: &str,
    input: &Path,
    output: &Path,
    cfg: &IngestConfig,
    artifact: &FraudArtifact,
    thresholds: &DecisionThresholds,
) -> Result<SparkRun> {
    let location = spark_location(input)?;
    let Some(format) = SourceFormat::of(&location) else {
        bail!("Spark reads .csv or .parquet transactions, not {location} (convert with mlsd fraud ingest --out x.csv)");
    };
    if !output.to_string_lossy().ends_with(".parquet") {
        bail!("Spark writes a Parquet folder: give --output a name ending in .parquet");
    }
    let out = spark_location(output)?;
    let script = export::script(&location, format, cfg, artifact, thresholds, Some(&out))
        .map_err(|why| anyhow!("the model has no SQL form: {why}"))?;
    let spark = Spark::connect(remote)?;
    let t = Instant::now();
    spark.run(&script)?;
    let (_, summary) = rows(&spark.query(export::SUMMARY)?)?;
    spark.query("DROP VIEW IF EXISTS scored")?;
    let job_seconds = t.elapsed().as_secs_f64();
    let counts = counts(&summary);
    let scored: i64 = counts
        .iter()
        .filter(|c| c.0 == "decision")
        .map(|c| c.2)
        .sum();
    Ok(SparkRun {
        engine: "spark",
        spark_version: spark.version.clone(),
        session_seconds: spark.start_seconds,
        job_seconds,
        rows: scored,
        rows_per_second: scored as f64 / job_seconds.max(1e-9),
        counts,
    })
}

/// What the recommender's Spark batch run reports.
#[derive(Debug, Serialize)]
pub struct PrecomputeRun {
    pub spark_version: String,
    pub session_seconds: f64,
    /// Stage 1 in this process: the factor tables and candidate rows written as CSV.
    pub export_seconds: f64,
    pub tables: recommender::export::TableRows,
    /// The ranking on Spark: reading the tables, scoring every candidate, window ranks,
    /// writing Parquet.
    pub job_seconds: f64,
    pub candidates_per_second: f64,
    pub users: i64,
    pub list_rows: i64,
}

/// `mlsd recommender batch --engine spark`: stage 1 exported to `tables` (a folder Spark can
/// read), the ranking and the rules as SQL on Spark, the lists to `output` (Parquet).
pub fn recommender_batch(
    remote: &str,
    model: &recommender::two_stage::TwoStage,
    k: usize,
    tables: &Path,
    output: &Path,
) -> Result<PrecomputeRun> {
    if !output.to_string_lossy().ends_with(".parquet") {
        bail!("Spark writes a Parquet folder: give --out a name ending in .parquet");
    }
    let t = Instant::now();
    let rows_written = recommender::export::write_tables(model, tables)?;
    let export_seconds = t.elapsed().as_secs_f64();
    let script = recommender::export::script(
        &spark_location(tables)?,
        model,
        k,
        Some(&spark_location(output)?),
    )
    .map_err(|why| anyhow!("the ranker has no SQL form: {why}"))?;
    let spark = Spark::connect(remote)?;
    let t = Instant::now();
    spark.run(&script)?;
    let (_, counts) = rows(&spark.query("SELECT COUNT(DISTINCT user), COUNT(*) FROM lists")?)?;
    spark.query("DROP VIEW IF EXISTS lists")?;
    let job_seconds = t.elapsed().as_secs_f64();
    let count = |j: usize| counts.first().and_then(|r| r[j].as_i64()).unwrap_or(0);
    Ok(PrecomputeRun {
        spark_version: spark.version.clone(),
        session_seconds: spark.start_seconds,
        export_seconds,
        tables: rows_written,
        job_seconds,
        candidates_per_second: rows_written.candidates as f64 / job_seconds.max(1e-9),
        users: count(0),
        list_rows: count(1),
    })
}

/// `mlsd maintenance batch --engine spark`: the fleet job as SQL on Spark; the schedule to
/// `output` (Parquet), refused lines beside it.
pub fn maintenance_batch(
    remote: &str,
    artifact: &maintenance::artifact::MaintenanceArtifact,
    input: &Path,
    output: &Path,
) -> Result<SparkRun> {
    if !output.to_string_lossy().ends_with(".parquet") {
        bail!("Spark writes a Parquet folder: give --out a name ending in .parquet");
    }
    let script = maintenance::export::script(
        &spark_location(input)?,
        artifact,
        Some(&spark_location(output)?),
    )
    .map_err(|why| anyhow!("the model has no SQL form: {why}"))?;
    let spark = Spark::connect(remote)?;
    let t = Instant::now();
    spark.run(&script)?;
    let (_, summary) = rows(&spark.query(maintenance::export::SUMMARY)?)?;
    let (_, lines) = rows(&spark.query("SELECT COUNT(*) FROM checked")?)?;
    spark.query("DROP VIEW IF EXISTS schedule")?;
    let job_seconds = t.elapsed().as_secs_f64();
    let readings = lines.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
    Ok(SparkRun {
        engine: "spark",
        spark_version: spark.version.clone(),
        session_seconds: spark.start_seconds,
        job_seconds,
        rows: readings,
        rows_per_second: readings as f64 / job_seconds.max(1e-9),
        counts: counts(&summary),
    })
}

/// (kind, name, count) rows of a summary query.
fn counts(summary: &[Vec<crate::spark::Value>]) -> Vec<(String, String, i64)> {
    summary
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or_default().to_string(),
                r[1].as_str().unwrap_or_default().to_string(),
                r[2].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}
