//! Stage 9 — the real-time scoring API (axum), on the shared serving toolkit.
//!
//! ```text
//! client ─POST /v1/fraud/score─► parse + validate ─► online feature store ─► model ─► decision
//!                                 (422 on bad input)   (card + terminal windows)   (Arc of the
//!                                                                                   current version)
//! investigators ─POST /v1/fraud/labels─► feature store (terminal risk, after the delay)
//! registry pointer.json ─watched every second─► hot swap (promote / rollback, no restart)
//! ```
//!
//! Talking points: latency budget (features from memory, µs-scale models), training/serving
//! skew (the artifact's spec drives the store; parity is tested), hot swap and rollback,
//! bad input → 4xx with a JSON body, overload → 503, graceful shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use mlsd_core::registry::Registry;
use mlsd_core::serve::{
    not_found, shed_and_time_out, track, ApiError, ApiJson, Limits, Metrics, Slot,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::artifact::{self, FraudArtifact};
use crate::batch::{Decision, DecisionThresholds};
use crate::ingest::IngestConfig;
use crate::online::{FeatureStore, InMemoryFeatureStore, Transaction};
use crate::{Error, Result, DESIGN};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub thresholds: DecisionThresholds,
    /// Largest request body (bytes).
    pub body_limit: usize,
    /// Requests in flight before shedding with 503.
    pub max_in_flight: usize,
    /// Time budget per request.
    pub timeout: Duration,
    /// Largest batch in `/v1/fraud/score/batch`.
    pub max_batch: usize,
    /// How often the registry pointer is checked for promotions and rollbacks.
    pub watch_every: Duration,
    /// Known ids and amount limits (the same rules as ingestion).
    pub limits: IngestConfig,
}

/// A loaded model and the version that names it in responses.
pub struct Serving {
    pub version: String,
    pub model_name: String,
    pub artifact: FraudArtifact,
}

pub struct AppState {
    registry: Registry,
    model: Slot<Serving>,
    store: Box<dyn FeatureStore>,
    config: ServeConfig,
    metrics: Arc<Metrics>,
}

fn load_serving(registry: &Registry, version: Option<&str>) -> Result<Serving> {
    let loaded = artifact::load(registry, version)?;
    Ok(Serving {
        version: loaded.manifest.version,
        model_name: loaded.manifest.model_name,
        artifact: loaded.artifact,
    })
}

/// Loads the current model and builds the state (feature store from the model's spec).
pub fn state(registry: Registry, config: ServeConfig) -> Result<Arc<AppState>> {
    config.thresholds.check()?;
    let serving = load_serving(&registry, None)?;
    let metrics = Arc::new(Metrics::new("mlsd_fraud"));
    metrics.set_model_version(&serving.version);
    let store = Box::new(InMemoryFeatureStore::new(serving.artifact.spec.clone()));
    Ok(Arc::new(AppState {
        registry,
        model: Slot::new(serving),
        store,
        config,
        metrics,
    }))
}

/// The routes, with metrics, shedding, timeout and the body limit around them.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = Limits {
        in_flight: Arc::new(Semaphore::new(state.config.max_in_flight)),
        timeout: state.config.timeout,
    };
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"status": "alive"})) }),
        )
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/fraud/score", post(score))
        .route("/v1/fraud/score/batch", post(score_batch))
        .route("/v1/fraud/labels", post(label))
        .route("/admin/models/{version}/promote", post(promote))
        .route("/admin/models/rollback", post(rollback))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(limits, shed_and_time_out))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.body_limit,
        ))
        .layer(middleware::from_fn_with_state(state.metrics.clone(), track))
        .with_state(state)
}

/// Checks the registry pointer every `watch_every` and swaps the model when it moved
/// (a `mlsd models promote` or `rollback` from the CLI takes effect without a restart).
pub fn watch_registry(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config.watch_every);
        loop {
            tick.tick().await;
            let Ok(pointer) = state.registry.pointer(DESIGN) else {
                continue;
            };
            if let Some(current) = pointer.current {
                if current != state.model.get().version {
                    if let Err(e) = swap_to(&state, &current) {
                        eprintln!("model watch: keeping {}: {e}", state.model.get().version);
                    }
                }
            }
        }
    })
}

fn swap_to(state: &AppState, version: &str) -> Result<()> {
    // Load and verify outside the slot; the swap itself is one pointer store.
    let serving = load_serving(&state.registry, Some(version))?;
    if serving.artifact.spec != state.model.get().artifact.spec {
        return Err(Error::Artifact(format!(
            "{version} uses a different feature spec; the online store cannot serve it without a rebuild"
        )));
    }
    state.metrics.set_model_version(&serving.version);
    state.model.replace(serving);
    Ok(())
}

async fn ready(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let m = state.model.get();
    Json(serde_json::json!({"status": "ready", "model_version": m.version, "model": m.model_name}))
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

async fn models(
    State(state): State<Arc<AppState>>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    let versions = state.registry.list(DESIGN).map_err(ApiError::internal)?;
    let serving = state.model.get();
    Ok(Json(serde_json::json!({
        "serving": serving.version,
        "versions": versions.iter().map(|v| serde_json::json!({
            "version": v.version,
            "current": v.is_current,
            "model": v.manifest.as_ref().map(|m| m.model_name.clone()),
            "metrics": v.manifest.as_ref().map(|m| m.metrics.clone()),
            "problem": v.problem,
        })).collect::<Vec<_>>(),
    })))
}

/// A payment as clients send it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    pub transaction_id: i64,
    /// `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
    pub tx_datetime: String,
    pub customer_id: i64,
    pub terminal_id: i64,
    pub tx_amount: f64,
}

impl ScoreRequest {
    /// Parse, don't validate: the raw request becomes a [`Transaction`] or a 422 naming the
    /// field, with the same rules as batch ingestion.
    fn parse(&self, limits: &IngestConfig) -> std::result::Result<Transaction, ApiError> {
        let datetime_ms = chrono::DateTime::parse_from_rfc3339(&self.tx_datetime)
            .map(|d| d.timestamp_millis())
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(&self.tx_datetime, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|d| d.and_utc().timestamp_millis())
            })
            .map_err(|_| {
                ApiError::invalid(
                    "invalid_datetime",
                    format!(
                        "tx_datetime {:?} is not YYYY-MM-DD HH:MM:SS or RFC 3339",
                        self.tx_datetime
                    ),
                )
            })?;
        if !self.tx_amount.is_finite() || self.tx_amount < 0.0 || self.tx_amount > limits.max_amount
        {
            return Err(ApiError::invalid(
                "invalid_amount",
                format!(
                    "tx_amount {} must be between 0 and {}",
                    self.tx_amount, limits.max_amount
                ),
            ));
        }
        if !(0..limits.n_customers).contains(&self.customer_id) {
            return Err(ApiError::invalid(
                "unknown_customer",
                format!("customer_id {} is not a known card", self.customer_id),
            ));
        }
        if !(0..limits.n_terminals).contains(&self.terminal_id) {
            return Err(ApiError::invalid(
                "unknown_terminal",
                format!("terminal_id {} is not a known terminal", self.terminal_id),
            ));
        }
        if self.transaction_id < 0 {
            return Err(ApiError::invalid(
                "invalid_transaction_id",
                "transaction_id must be ≥ 0",
            ));
        }
        Ok(Transaction {
            transaction_id: self.transaction_id,
            datetime_ms,
            customer_id: self.customer_id,
            terminal_id: self.terminal_id,
            amount: self.tx_amount,
        })
    }
}

/// The answer for one payment.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScoreResponse {
    pub transaction_id: i64,
    pub probability: f64,
    pub decision: Decision,
    pub model_version: String,
    /// Server-side time from parsed request to answer (features + model).
    pub latency_ms: f64,
}

fn score_one(
    state: &AppState,
    serving: &Serving,
    tx: &Transaction,
) -> std::result::Result<ScoreResponse, ApiError> {
    let t = Instant::now();
    let features = state.store.observe(tx);
    let row = Array2::from_shape_vec((1, features.len()), features).map_err(ApiError::internal)?;
    let probability = serving
        .artifact
        .model
        .predict_proba(row.view())
        .map_err(ApiError::internal)?
        .first()
        .copied()
        .ok_or_else(|| ApiError::internal("model returned no score"))?;
    state.metrics.observe_score(probability);
    Ok(ScoreResponse {
        transaction_id: tx.transaction_id,
        probability,
        decision: state.config.thresholds.decide(probability),
        model_version: serving.version.clone(),
        latency_ms: t.elapsed().as_secs_f64() * 1e3,
    })
}

async fn score(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<ScoreRequest>,
) -> std::result::Result<Json<ScoreResponse>, ApiError> {
    let tx = req.parse(&state.config.limits)?;
    // Talking point: hot swap — one Arc per request, so a concurrent promote or rollback
    // cannot change the model mid-request, and the answer names the version that scored it.
    let serving = state.model.get();
    Ok(Json(score_one(&state, &serving, &tx)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub transactions: Vec<ScoreRequest>,
}

async fn score_batch(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    if req.transactions.is_empty() || req.transactions.len() > state.config.max_batch {
        return Err(ApiError::invalid(
            "invalid_batch_size",
            format!(
                "a batch holds 1 to {} transactions, got {}",
                state.config.max_batch,
                req.transactions.len()
            ),
        ));
    }
    // Validate everything first: a batch is scored whole or not at all.
    let txs = req
        .transactions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.parse(&state.config.limits)
                .map_err(|e| ApiError::invalid(e.code, format!("transactions[{i}]: {}", e.message)))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let serving = state.model.get();
    let results = txs
        .iter()
        .map(|tx| score_one(&state, &serving, tx))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Json(
        serde_json::json!({ "model_version": serving.version, "results": results }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    pub transaction_id: i64,
    pub fraud: bool,
}

async fn label(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<LabelRequest>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    if !state.store.record_label(req.transaction_id, req.fraud) {
        return Err(ApiError::invalid(
            "unknown_transaction",
            format!(
                "transaction {} was not scored here recently",
                req.transaction_id
            ),
        ));
    }
    Ok(Json(
        serde_json::json!({"transaction_id": req.transaction_id, "recorded": true}),
    ))
}

fn registry_error(e: mlsd_core::Error) -> ApiError {
    match e {
        mlsd_core::Error::VersionNotFound { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_version", e.to_string())
        }
        mlsd_core::Error::CorruptedVersion { .. }
        | mlsd_core::Error::IncompleteVersion { .. }
        | mlsd_core::Error::NothingToRollBack { .. } => {
            ApiError::new(StatusCode::CONFLICT, "refused", e.to_string())
        }
        other => ApiError::internal(other),
    }
}

async fn promote(
    State(state): State<Arc<AppState>>,
    Path(version): Path<String>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    state
        .registry
        .promote(DESIGN, &version)
        .map_err(registry_error)?;
    swap_to(&state, &version)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()))?;
    Ok(Json(serde_json::json!({"serving": version})))
}

async fn rollback(
    State(state): State<Arc<AppState>>,
) -> std::result::Result<Json<serde_json::Value>, ApiError> {
    let pointer = state.registry.rollback(DESIGN).map_err(registry_error)?;
    let version = pointer.current.unwrap_or_default();
    swap_to(&state, &version)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()))?;
    Ok(Json(serde_json::json!({"serving": version})))
}
