//! Read this first: the pipeline, stage by stage.
//!
//! ```text
//! simulate ─► transactions.arrows ─► ingest (validate, quarantine) ─► features
//!     ─► evaluate every model on the chapter-3 split ─► register the best (by AP) ─► promote
//!     ─► serve it and replay test days through the API, compared with batch scores
//!        ([`replay_through_the_api`]) ─► monitor fresh worlds, one drifted ([`monitor_fresh_worlds`])
//! ```
//!
//! Every stage writes what it did into the run folder, so a run can be audited afterwards:
//! `transactions.arrows`, `quarantine.csv`, `validation.json`, `evaluation.json`,
//! `report.md`. The model itself goes to the registry (see [`crate::artifact`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mlsd_core::registry::{Manifest, Registry};
use mlsd_core::report::{sha256_file, write_json};
use mlsd_core::validate::ValidationReport;
use polars::prelude::DataFrame;
use serde::Serialize;

use crate::artifact::{self, FraudArtifact};
use crate::config::{DecisionBudget, ModelConfig, ProtocolConfig, SimulationConfig};
use crate::evaluate::{chapter3_split, evaluate, labels, render_table, Evaluation};
use crate::features::{self, to_matrix, FeatureSpec};
use crate::ingest::{ingest, IngestConfig};
use crate::simulate::{epoch_ms_to_date, simulate, write_transactions, SimulationSummary};
use crate::train::ModelKind;
use crate::{Error, Result, DESIGN};

/// Everything a pipeline run depends on. Defaults = the handbook's setup.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineConfig {
    pub simulation: SimulationConfig,
    pub features: FeatureSpec,
    pub protocol: ProtocolConfig,
    pub models: ModelConfig,
    pub kinds: Vec<ModelKind>,
    /// The alert budget the served model's thresholds are chosen from.
    pub decisions: DecisionBudget,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            simulation: SimulationConfig::default(),
            features: FeatureSpec::default(),
            protocol: ProtocolConfig::default(),
            models: ModelConfig::default(),
            kinds: ModelKind::ALL.to_vec(),
            decisions: DecisionBudget::default(),
        }
    }
}

/// Timings of the data stages, for the run report.
#[derive(Debug, Clone, Serialize)]
pub struct StageTimings {
    pub simulate_seconds: f64,
    pub ingest_seconds: f64,
    pub features_seconds: f64,
    pub feature_rows_per_second: f64,
}

/// What `mlsd demo` reports at the end.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    pub run_dir: PathBuf,
    pub simulation: SimulationSummary,
    pub validation: ValidationReport,
    pub timings: StageTimings,
    pub evaluation: Evaluation,
    pub registered: Manifest,
}

/// Computes features and times it.
pub fn featurize(transactions: DataFrame, spec: &FeatureSpec) -> Result<(DataFrame, f64)> {
    let t = Instant::now();
    let featured = features::compute(transactions, spec)?;
    Ok((featured, t.elapsed().as_secs_f64()))
}

/// Evaluates `cfg.kinds` on the chapter-3 split, registers the best by average precision,
/// and promotes it when `promote` is set.
pub fn evaluate_and_register(
    featured: &DataFrame,
    training_data_sha256: &str,
    cfg: &PipelineConfig,
    registry: &Registry,
    promote: bool,
    progress: impl FnMut(&str),
) -> Result<(Evaluation, Manifest)> {
    let names = cfg.features.names();
    let (evaluation, fitted) = evaluate(
        featured,
        &names,
        &cfg.protocol,
        &cfg.models,
        &cfg.kinds,
        progress,
    )?;
    // Talking point [metrics]: model selection by the offline metric that matches the cost (AP),
    // with the rules baseline in the same table so the lift of ML over rules is explicit.
    // `fitted[i]` matches `evaluation.models[i]`; the trailing "random" row has no model.
    let best = evaluation
        .models
        .iter()
        .cloned()
        .zip(fitted)
        .max_by(|a, b| a.0.average_precision.total_cmp(&b.0.average_precision))
        .ok_or_else(|| Error::Config("no model to evaluate".into()))?;
    let split = chapter3_split(featured, &cfg.protocol)?;
    let x_train = to_matrix(&split.train, &names)?;
    let y_train = labels(&split.train)?;
    let (x_test, y_test) = (to_matrix(&split.test, &names)?, labels(&split.test)?);
    let (platt, calibration) = artifact::calibrate(
        best.1.kind,
        (&x_train, &y_train),
        cfg.protocol.train_days,
        &names,
        &cfg.models,
        &cfg.decisions,
        &best.1,
        (&x_test, &y_test),
    )?;
    let art = FraudArtifact {
        spec: cfg.features.clone(),
        model: best.1,
        calibration: Some(platt),
        thresholds: Some(calibration.thresholds),
    };
    let profile =
        artifact::reference_profile(&x_train, &names, &art.probabilities(x_train.view())?);
    let metrics = BTreeMap::from([
        ("ece_raw".to_string(), calibration.ece_raw),
        ("ece_calibrated".to_string(), calibration.ece_calibrated),
        (
            "review_threshold".to_string(),
            calibration.thresholds.review,
        ),
        ("block_threshold".to_string(), calibration.thresholds.block),
        ("auc".to_string(), best.0.auc),
        ("average_precision".to_string(), best.0.average_precision),
        (
            "card_precision_at_100".to_string(),
            best.0.card_precision_at_100,
        ),
        ("train_seconds".to_string(), best.0.train_seconds),
    ]);
    let config = serde_json::json!({
        "features": cfg.features,
        "protocol": cfg.protocol,
        "models": cfg.models,
        "decisions": cfg.decisions,
    });
    let manifest = artifact::register(
        registry,
        &art,
        &profile,
        training_data_sha256,
        config,
        metrics,
    )?;
    if promote {
        registry.promote(DESIGN, &manifest.version)?;
    }
    Ok((evaluation, manifest))
}

/// The whole offline pipeline into `run_dir`, registering into `registry`.
pub fn run(
    cfg: &PipelineConfig,
    run_dir: &Path,
    registry: &Registry,
    mut progress: impl FnMut(&str),
) -> Result<PipelineReport> {
    progress("simulate");
    let t = Instant::now();
    let (mut transactions, simulation) = simulate(&cfg.simulation)?;
    let data_path = run_dir.join("transactions.arrows");
    write_transactions(&mut transactions, &data_path)?;
    drop(transactions);
    let simulate_seconds = t.elapsed().as_secs_f64();

    progress("ingest");
    let t = Instant::now();
    let ingested = ingest(&data_path, &IngestConfig::for_simulation(&cfg.simulation)?)?;
    ingested
        .quarantine
        .write_csv(&run_dir.join("quarantine.csv"))?;
    write_json(&run_dir.join("validation.json"), &ingested.report)?;
    let ingest_seconds = t.elapsed().as_secs_f64();

    progress("features");
    let rows = ingested.transactions.height();
    let (featured, features_seconds) = featurize(ingested.transactions, &cfg.features)?;

    let sha = sha256_file(&data_path)?;
    let (evaluation, registered) =
        evaluate_and_register(&featured, &sha, cfg, registry, true, &mut progress)?;
    let report = PipelineReport {
        run_dir: run_dir.to_path_buf(),
        simulation,
        validation: ingested.report,
        timings: StageTimings {
            simulate_seconds,
            ingest_seconds,
            features_seconds,
            feature_rows_per_second: rows as f64 / features_seconds.max(1e-9),
        },
        evaluation,
        registered,
    };
    write_json(&run_dir.join("evaluation.json"), &report.evaluation)?;
    write_json(&run_dir.join("report.json"), &report)?;
    mlsd_core::report::atomic_write(
        &run_dir.join("report.md"),
        render_table(&report.evaluation).as_bytes(),
    )?;
    Ok(report)
}

/// What replaying test days through the real-time API found.
#[derive(Debug, Clone, Serialize)]
pub struct ServedReplay {
    pub url: String,
    pub model_version: String,
    /// Payments that warmed the online store before the replay.
    pub warmed_with: usize,
    pub replay_from: String,
    pub replay_days: u32,
    pub agreement: crate::replay::Agreement,
    /// The server's own drift check over the replayed traffic (`GET /v1/fraud/drift`).
    pub live_drift: serde_json::Value,
}

/// Starts the API in-process on a free loopback port, warms its online store with the history
/// before the test period, replays the first `days` test days one request at a time, and
/// compares the answers with batch scores of the same payments.
pub fn replay_through_the_api(
    report: &PipelineReport,
    registry: &Registry,
    cfg: &PipelineConfig,
    days: u32,
) -> Result<ServedReplay> {
    use crate::{replay, serve};
    let limits = IngestConfig::for_simulation(&cfg.simulation)?;
    let transactions = ingest(&report.run_dir.join("transactions.arrows"), &limits)?.transactions;
    let from = cfg.protocol.test_start_ms()?;
    let to = from + i64::from(days) * 86_400_000;
    let plan = replay::plan(&transactions, from, to, cfg.features.history_days())?;
    drop(transactions);
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| mlsd_core::Error::io("starting the demo's runtime", e))?;
    let (answers, live_drift, url, version) = runtime.block_on(async {
        let state = serve::state(registry.clone(), serve::ServeConfig::new(limits))?;
        state
            .warm_up(&plan.history)
            .map_err(|e| mlsd_core::Error::Config(e.to_string()))?;
        let server = mlsd_core::serve::Running::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            serve::router(state.clone()),
        )
        .await
        .map_err(|e| mlsd_core::Error::io("starting the API", e))?;
        let answers = replay::replay(server.addr, &plan.live).await?;
        let mut client = mlsd_core::loadgen::Client::connect(server.addr).await?;
        let drift = client
            .request("GET", "/v1/fraud/drift", None)
            .await
            .map_err(|e| mlsd_core::Error::io("asking the API for its drift check", e))?;
        let live_drift: serde_json::Value = serde_json::from_slice(&drift.body)
            .map_err(|e| Error::Artifact(format!("the drift answer is not JSON: {e}")))?;
        let url = format!("http://{}", server.addr);
        server
            .stop()
            .await
            .map_err(|e| mlsd_core::Error::io("stopping the API", e))?;
        Ok::<_, Error>((answers, live_drift, url, state.serving_version()))
    })?;
    let loaded = artifact::load(registry, Some(&version))?;
    let thresholds = loaded.artifact.thresholds();
    let agreement = replay::compare(&plan, &answers, &loaded.artifact, &thresholds)?;
    Ok(ServedReplay {
        url,
        model_version: version,
        warmed_with: plan.history.len(),
        replay_from: epoch_ms_to_date(from),
        replay_days: days,
        agreement,
        live_drift,
    })
}

/// The last week of two fresh worlds against the current model's profile.
#[derive(Debug, Clone, Serialize)]
pub struct FreshWorlds {
    pub drift_from: String,
    pub injection: String,
    pub unshifted: mlsd_core::drift::DriftReport,
    pub drifted: mlsd_core::drift::DriftReport,
}

/// Monitors the last week of two fresh worlds (the next seed) against the current model's
/// profile: one unshifted, one with spending, activity and a new fraud pattern injected two
/// weeks before its end.
pub fn monitor_fresh_worlds(registry: &Registry, cfg: &PipelineConfig) -> Result<FreshWorlds> {
    use crate::config::DriftInjection;
    let loaded = artifact::load(registry, None)?;
    let sim = SimulationConfig {
        seed: cfg.simulation.seed + 1,
        ..cfg.simulation.clone()
    };
    let drift_day = sim.n_days.saturating_sub(14);
    let injection = DriftInjection {
        from_day: Some(drift_day),
        amount_factor: 1.5,
        activity_factor: 1.5,
        card_testing_per_day: sim.n_customers / 100,
    };
    let check = |drift: DriftInjection| -> Result<mlsd_core::drift::DriftReport> {
        let (transactions, _) = simulate(&SimulationConfig {
            drift,
            ..sim.clone()
        })?;
        crate::monitor::monitor(transactions, &loaded.artifact, &loaded.profile, 7)
    };
    Ok(FreshWorlds {
        drift_from: epoch_ms_to_date(
            crate::simulate::date_to_epoch_ms(&sim.start_date)? + i64::from(drift_day) * 86_400_000,
        ),
        injection: format!(
            "amounts ×{}, payments per card ×{}, {} card-testing cards a day",
            injection.amount_factor, injection.activity_factor, injection.card_testing_per_day
        ),
        unshifted: check(DriftInjection::default())?,
        drifted: check(injection)?,
    })
}
