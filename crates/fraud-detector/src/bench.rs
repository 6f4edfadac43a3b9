//! Stage 11 — the traffic for serving benchmarks (`mlsd bench serve --design fraud`): a
//! simulated world, a logistic regression trained and registered on its chapter-3 window,
//! the history that warms the online store, and the test week as request bodies.
//!
//! Talking points: benchmark with production-shaped traffic (real ids, real time order,
//! warm feature windows), not the same request a million times.

use mlsd_core::registry::Registry;

use crate::config::SimulationConfig;
use crate::ingest::IngestConfig;
use crate::online::Transaction;
use crate::pipeline::{self, PipelineConfig};
use crate::replay::{self, ReplayPlan};
use crate::serve::{BatchRequest, ScoreRequest};
use crate::simulate::simulate;
use crate::train::ModelKind;
use crate::{Error, Result};

/// A registered model and the traffic to send it.
pub struct BenchWorld {
    pub limits: IngestConfig,
    /// Payments before the test week, to warm each server's online store.
    pub plan: ReplayPlan,
    pub model_version: String,
}

/// Simulates `simulation`, trains and promotes a logistic regression into `registry`, and
/// cuts the test week as live traffic.
pub fn world(simulation: &SimulationConfig, registry: &Registry) -> Result<BenchWorld> {
    let cfg = PipelineConfig {
        simulation: simulation.clone(),
        kinds: vec![ModelKind::LogisticRegression],
        ..PipelineConfig::default()
    };
    let (transactions, _) = simulate(&cfg.simulation)?;
    let (featured, _) = pipeline::featurize(transactions.clone(), &cfg.features)?;
    // No file to hash: the data is named by the simulation that made it.
    let data = format!("in-memory simulation, seed {}", simulation.seed);
    let (_, manifest) =
        pipeline::evaluate_and_register(&featured, &data, &cfg, registry, true, |_| {})?;
    drop(featured);
    let plan = replay::test_period(&transactions, &cfg.protocol, cfg.features.history_days())?;
    Ok(BenchWorld {
        limits: IngestConfig::for_simulation(simulation)?,
        plan,
        model_version: manifest.version,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Config(format!("encoding a request: {e}")))
}

/// One `/v1/fraud/score` body per payment.
pub fn single_bodies(live: &[Transaction]) -> Result<Vec<Vec<u8>>> {
    live.iter()
        .map(|tx| encode(&ScoreRequest::from(tx)))
        .collect()
}

/// `/v1/fraud/score/batch` bodies of `size` consecutive payments.
pub fn batch_bodies(live: &[Transaction], size: usize) -> Result<Vec<Vec<u8>>> {
    live.chunks(size.max(1))
        .filter(|chunk| chunk.len() == size.max(1))
        .map(|chunk| {
            encode(&BatchRequest {
                transactions: chunk.iter().map(ScoreRequest::from).collect(),
            })
        })
        .collect()
}
