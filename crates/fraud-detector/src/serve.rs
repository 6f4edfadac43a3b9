//! Stage 9 — the real-time scoring API (axum), on the shared serving toolkit.
//!
//! ```text
//! client ─POST /v1/fraud/score─► parse + validate ─► online feature store ─► model ─► decision
//!                                 (422 on bad input)   (card + terminal windows)   (Arc of the
//!                                                                                   current version)
//!                                          (optional micro-batcher gathers concurrent requests)
//! investigators ─POST /v1/fraud/labels─► feature store (terminal risk, after the delay)
//! every scored row ─► sliding window ─GET /v1/fraud/drift─► drift vs the training profile
//! registry pointer.json ─watched every second─► hot swap (promote / rollback, no restart)
//! ```
//!
//! Talking points: latency budget (features from memory, µs-scale models), training/serving
//! skew (the artifact's spec drives the store; parity is tested), micro-batching, hot swap
//! and rollback, monitoring live traffic, bad input → 4xx with a JSON body, overload → 503,
//! graceful shutdown. The contract is published at `/openapi.json`, generated from the
//! handlers below.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mlsd_core::accelerator::{Accelerator, ModelCost};
use mlsd_core::drift::{drift_report, DriftReport, ReferenceProfile, SlidingWindow};
use mlsd_core::registry::Registry;
use mlsd_core::serve::{
    batcher_and_device, with_common_layers, ApiError, ApiJson, ErrorBody, Limits, Metrics,
    MicroBatchConfig, MicroBatcher, QueueDelay, Slot,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::artifact::{self, FraudArtifact};
use crate::batch::{Decision, DecisionThresholds};
use crate::ingest::IngestConfig;
use crate::monitor::DRIFT_SHARE;
use crate::online::{self, FeatureStore, InMemoryFeatureStore, Transaction};
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
    /// Gather concurrent `/v1/fraud/score` requests into batches (off: score each alone).
    pub micro_batch: Option<MicroBatchConfig>,
    /// Recent scored rows kept for `/v1/fraud/drift`.
    pub drift_window: usize,
    /// Fewest rows in the window before drift is reported (fewer: too noisy to judge).
    pub drift_min_rows: usize,
    /// Shed new requests while the runtime's queueing delay exceeds this, and refuse a
    /// simulated-model call queued behind more work than this (`None`: only the in-flight
    /// limit sheds). Needs a tokio runtime when the state is built.
    pub max_queue_delay: Option<Duration>,
    /// A simulated heavier model in front of the real one (benchmarks only; `None`: off).
    pub simulated_model: Option<ModelCost>,
}

impl ServeConfig {
    /// The defaults `mlsd serve fraud` starts with, for a world with these known ids.
    pub fn new(limits: IngestConfig) -> Self {
        ServeConfig {
            thresholds: DecisionThresholds::default(),
            body_limit: 1 << 20,
            max_in_flight: 512,
            timeout: Duration::from_secs(1),
            max_batch: 1_000,
            watch_every: Duration::from_secs(1),
            limits,
            micro_batch: None,
            // About five days of the default simulation's traffic (a weekly cycle is ~69 k).
            drift_window: 50_000,
            drift_min_rows: 1_000,
            // Off by default in the library: on a shared test machine, the OS descheduling the
            // runtime would read as queueing. `mlsd serve` turns it on (100 ms).
            max_queue_delay: None,
            simulated_model: None,
        }
    }
}

/// A loaded model, its training profile, and the version that names it in responses.
pub struct Serving {
    pub version: String,
    pub model_name: String,
    pub artifact: FraudArtifact,
    pub profile: ReferenceProfile,
}

type ScoreResult = std::result::Result<ScoreResponse, ApiError>;

/// Everything that turns parsed payments into scores: shared by the handlers and the
/// micro-batcher's worker.
pub struct Scorer {
    model: Slot<Serving>,
    store: Box<dyn FeatureStore>,
    window: Mutex<SlidingWindow>,
    thresholds: DecisionThresholds,
    metrics: Arc<Metrics>,
}

impl Scorer {
    /// Features (in order, through the store), then one model call for all of `txs`.
    fn score(&self, txs: &[Transaction]) -> std::result::Result<Vec<ScoreResponse>, ApiError> {
        // Talking point: hot swap — one Arc per call, so a concurrent promote or rollback
        // cannot change the model mid-request, and each answer names the version that scored it.
        let serving = self.model.get();
        let rows: Vec<Vec<f64>> = txs.iter().map(|tx| self.store.observe(tx)).collect();
        let width = rows.first().map_or(0, Vec::len);
        let x = Array2::from_shape_vec((rows.len(), width), rows.concat())
            .map_err(ApiError::internal)?;
        let scores = serving
            .artifact
            .model
            .predict_proba(x.view())
            .map_err(ApiError::internal)?;
        if scores.len() != txs.len() {
            return Err(ApiError::internal("the model returned a score per row"));
        }
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        Ok(txs
            .iter()
            .zip(rows)
            .zip(scores)
            .map(|((tx, features), probability)| {
                self.metrics.observe_score(probability);
                window.push(features, probability);
                ScoreResponse {
                    transaction_id: tx.transaction_id,
                    probability,
                    decision: self.thresholds.decide(probability),
                    model_version: serving.version.clone(),
                    latency_ms: 0.0,
                }
            })
            .collect())
    }

    /// Scores a micro-batch; a failure fails every request of the batch alike.
    fn score_each(&self, txs: Vec<Transaction>) -> Vec<ScoreResult> {
        match self.score(&txs) {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(e) => txs.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

pub struct AppState {
    registry: Registry,
    queue_delay: Option<Arc<QueueDelay>>,
    scorer: Arc<Scorer>,
    batcher: Option<MicroBatcher<Transaction, ScoreResult>>,
    accelerator: Option<Arc<Accelerator>>,
    config: ServeConfig,
    metrics: Arc<Metrics>,
}

fn load_serving(registry: &Registry, version: Option<&str>) -> Result<Serving> {
    let loaded = artifact::load(registry, version)?;
    Ok(Serving {
        version: loaded.manifest.version,
        model_name: loaded.manifest.model_name,
        artifact: loaded.artifact,
        profile: loaded.profile,
    })
}

/// Background tasks (the micro-batcher, the queue-delay probe) need a runtime to run on.
fn need_runtime(what: &str) -> Result<()> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| {
            Error::Config(format!(
                "{what} needs a tokio runtime: build the state inside it"
            ))
        })
}

/// Loads the current model and builds the state (feature store from the model's spec).
/// With micro-batching on, call it inside a tokio runtime (the batcher is a task).
pub fn state(registry: Registry, config: ServeConfig) -> Result<Arc<AppState>> {
    config.thresholds.check()?;
    let serving = load_serving(&registry, None)?;
    let metrics = Arc::new(Metrics::new("mlsd_fraud"));
    metrics.set_model_version(&serving.version);
    let store = Box::new(InMemoryFeatureStore::new(serving.artifact.spec.clone()));
    let scorer = Arc::new(Scorer {
        model: Slot::new(serving),
        store,
        window: Mutex::new(SlidingWindow::new(config.drift_window)),
        thresholds: config.thresholds,
        metrics: metrics.clone(),
    });
    let worker = scorer.clone();
    let (batcher, accelerator) = batcher_and_device(
        config.micro_batch,
        config.simulated_model,
        &metrics,
        move |txs| worker.score_each(txs),
    )
    .map_err(Error::Config)?;
    let queue_delay = match config.max_queue_delay {
        None => None,
        Some(_) => {
            need_runtime("queue-delay shedding")?;
            Some(QueueDelay::spawn(Duration::from_millis(5)))
        }
    };
    Ok(Arc::new(AppState {
        registry,
        queue_delay,
        scorer,
        batcher,
        accelerator,
        config,
        metrics,
    }))
}

impl AppState {
    /// Bootstraps the online feature store from history (see [`online::warm_up`]).
    pub fn warm_up(&self, history: &[(Transaction, bool)]) {
        online::warm_up(self.scorer.store.as_ref(), history);
    }

    /// The version serving now.
    pub fn serving_version(&self) -> String {
        self.scorer.model.get().version.clone()
    }
}

/// The routes, with metrics, shedding, timeout and the body limit around them.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = Limits {
        in_flight: Arc::new(Semaphore::new(state.config.max_in_flight)),
        timeout: state.config.timeout,
        max_queue_delay: state.queue_delay.clone().zip(state.config.max_queue_delay),
    };
    let routes = Router::new()
        .route("/health", get(mlsd_core::serve::health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/models", get(models))
        .route("/v1/fraud/score", post(score))
        .route("/v1/fraud/score/batch", post(score_batch))
        .route("/v1/fraud/labels", post(label))
        .route("/v1/fraud/drift", get(drift))
        .route("/admin/models/{version}/promote", post(promote))
        .route("/admin/models/rollback", post(rollback));
    with_common_layers(
        routes,
        limits,
        state.config.body_limit,
        state.metrics.clone(),
    )
    .with_state(state)
}

/// The OpenAPI 3.1 document of this API, generated from the handlers' annotations and the
/// request and response types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mlsd fraud detector",
        description = "Real-time card-fraud scoring with an online feature store, drift monitoring and hot model swaps. Every error is a JSON body {\"error\": {\"code\", \"message\"}}."
    ),
    paths(
        mlsd_core::serve::health,
        ready,
        metrics,
        openapi,
        models,
        score,
        score_batch,
        label,
        drift,
        promote,
        rollback
    )
)]
pub struct ApiDoc;

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
                if current != state.serving_version() {
                    if let Err(e) = swap_to(&state, &current) {
                        eprintln!("model watch: keeping {}: {e}", state.serving_version());
                    }
                }
            }
        }
    })
}

fn swap_to(state: &AppState, version: &str) -> Result<()> {
    // Load and verify outside the slot; the swap itself is one pointer store.
    let serving = load_serving(&state.registry, Some(version))?;
    if serving.artifact.spec != state.scorer.model.get().artifact.spec {
        return Err(Error::Artifact(format!(
            "{version} uses a different feature spec; the online store cannot serve it without a rebuild"
        )));
    }
    state.metrics.set_model_version(&serving.version);
    state.scorer.model.replace(serving);
    // The window's scores came from the old model: start prediction drift afresh.
    state
        .scorer
        .window
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready`: a model is loaded and verified.
    pub status: String,
    pub model_version: String,
    pub model: String,
}

/// Readiness: a verified model is loaded (the server does not listen before that).
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready to score", body = Ready)))]
async fn ready(State(state): State<Arc<AppState>>) -> Json<Ready> {
    let m = state.scorer.model.get();
    Json(Ready {
        status: "ready".into(),
        model_version: m.version.clone(),
        model: m.model_name.clone(),
    })
}

/// Prometheus metrics: requests by route and status, latency, scores, micro-batch sizes,
/// the latest drift check, the model version.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<Arc<AppState>>) -> String {
    state.metrics.render()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    pub version: String,
    pub current: bool,
    /// Model kind; absent when the version does not verify.
    pub model: Option<String>,
    pub metrics: Option<BTreeMap<String, f64>>,
    /// Why the version cannot be loaded, if it cannot.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelsResponse {
    /// The version this server scores with (may lag the registry by one watch interval).
    pub serving: String,
    pub versions: Vec<VersionSummary>,
}

/// The registry's versions, which one is current and which one serves.
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "Registry versions", body = ModelsResponse)))]
async fn models(
    State(state): State<Arc<AppState>>,
) -> std::result::Result<Json<ModelsResponse>, ApiError> {
    let versions = state.registry.list(DESIGN).map_err(ApiError::internal)?;
    Ok(Json(ModelsResponse {
        serving: state.serving_version(),
        versions: versions
            .into_iter()
            .map(|v| VersionSummary {
                version: v.version,
                current: v.is_current,
                model: v.manifest.as_ref().map(|m| m.model_name.clone()),
                metrics: v.manifest.map(|m| m.metrics),
                problem: v.problem,
            })
            .collect(),
    }))
}

/// A payment as clients send it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    pub transaction_id: i64,
    /// `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339.
    pub tx_datetime: String,
    pub customer_id: i64,
    pub terminal_id: i64,
    pub tx_amount: f64,
}

impl From<&Transaction> for ScoreRequest {
    /// The request a client would send for `tx` (replays, benchmarks, tests).
    fn from(tx: &Transaction) -> Self {
        ScoreRequest {
            transaction_id: tx.transaction_id,
            tx_datetime: chrono::DateTime::from_timestamp_millis(tx.datetime_ms)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                .unwrap_or_default(),
            customer_id: tx.customer_id,
            terminal_id: tx.terminal_id,
            tx_amount: tx.amount,
        }
    }
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreResponse {
    pub transaction_id: i64,
    /// Estimated probability that the payment is fraudulent.
    pub probability: f64,
    pub decision: Decision,
    /// The registry version that scored this payment.
    pub model_version: String,
    /// Server-side time from parsed request to answer (features + model, and the
    /// micro-batch wait when batching is on).
    pub latency_ms: f64,
}

/// Scores one payment: online features, model, decision.
#[utoipa::path(post, path = "/v1/fraud/score", tag = "fraud", request_body = ScoreRequest,
    responses(
        (status = 200, description = "Scored", body = ScoreResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Missing, unknown or invalid field", body = ErrorBody),
        (status = 503, description = "Overloaded or over the time budget", body = ErrorBody)))]
async fn score(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<ScoreRequest>,
) -> std::result::Result<Json<ScoreResponse>, ApiError> {
    let t = Instant::now();
    let tx = req.parse(&state.config.limits)?;
    let mut answer = match &state.batcher {
        Some(batcher) => batcher.submit(tx).await??,
        None => {
            if let Some(device) = &state.accelerator {
                device.call(1, state.config.max_queue_delay).await?;
            }
            state
                .scorer
                .score(std::slice::from_ref(&tx))?
                .pop()
                .ok_or_else(|| ApiError::internal("no score"))?
        }
    };
    answer.latency_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(Json(answer))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to `max_batch` payments, in time order; scored whole or not at all.
    pub transactions: Vec<ScoreRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub model_version: String,
    /// One answer per payment, in request order.
    pub results: Vec<ScoreResponse>,
}

/// Scores many payments in one call (one model call for all of them).
#[utoipa::path(post, path = "/v1/fraud/score/batch", tag = "fraud", request_body = BatchRequest,
    responses(
        (status = 200, description = "Scored", body = BatchResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "Invalid batch size or an invalid payment (named by index)", body = ErrorBody),
        (status = 503, description = "Overloaded", body = ErrorBody)))]
async fn score_batch(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> std::result::Result<Json<BatchResponse>, ApiError> {
    let t = Instant::now();
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
    if let Some(device) = &state.accelerator {
        device.call(txs.len(), state.config.max_queue_delay).await?;
    }
    let mut results = state.scorer.score(&txs)?;
    let latency_ms = t.elapsed().as_secs_f64() * 1e3;
    for r in &mut results {
        r.latency_ms = latency_ms;
    }
    Ok(Json(BatchResponse {
        model_version: results
            .first()
            .map(|r| r.model_version.clone())
            .unwrap_or_default(),
        results,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    pub transaction_id: i64,
    /// Confirmed fraud (true) or confirmed legitimate (false).
    pub fraud: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LabelResponse {
    pub transaction_id: i64,
    pub recorded: bool,
}

/// A confirmed label for a payment scored earlier (it feeds terminal risk after the delay).
#[utoipa::path(post, path = "/v1/fraud/labels", tag = "fraud", request_body = LabelRequest,
    responses(
        (status = 200, description = "Recorded", body = LabelResponse),
        (status = 422, description = "Unknown or expired transaction, or an invalid body", body = ErrorBody)))]
async fn label(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<LabelRequest>,
) -> std::result::Result<Json<LabelResponse>, ApiError> {
    if !state
        .scorer
        .store
        .record_label(req.transaction_id, req.fraud)
    {
        return Err(ApiError::invalid(
            "unknown_transaction",
            format!(
                "transaction {} was not scored here recently",
                req.transaction_id
            ),
        ));
    }
    Ok(Json(LabelResponse {
        transaction_id: req.transaction_id,
        recorded: true,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DriftResponse {
    pub model_version: String,
    /// Scored rows in the sliding window now.
    pub window_rows: usize,
    /// Rows needed before a verdict is given.
    pub min_rows: usize,
    /// Per-feature and prediction drift against the training profile; null until the
    /// window holds `min_rows` rows.
    #[schema(value_type = Option<Object>)]
    pub report: Option<DriftReport>,
}

/// Drift of the most recent scored traffic against the serving model's training profile
/// (Evidently's test choice per feature, prediction drift, share of drifted features).
#[utoipa::path(get, path = "/v1/fraud/drift", tag = "monitoring",
    responses((status = 200, description = "Drift of the sliding window", body = DriftResponse)))]
async fn drift(State(state): State<Arc<AppState>>) -> Json<DriftResponse> {
    let serving = state.scorer.model.get();
    // One copy of the window, taken under the lock; the statistics run after it is released,
    // so scoring is never held up by a drift check.
    let (columns, scores) = state
        .scorer
        .window
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .columns(serving.profile.features.len());
    let rows = scores.len();
    let report = (rows >= state.config.drift_min_rows)
        .then(|| drift_report(&serving.profile, &columns, Some(&scores), DRIFT_SHARE));
    if let Some(r) = &report {
        // Talking point: drift as a metric — the latest check is a gauge an alert can watch.
        state.metrics.set_gauge(
            "drift_share",
            "Share of drifted features in the latest check.",
            r.drift_share,
        );
        state.metrics.set_gauge(
            "dataset_drift",
            "1 when the latest check found dataset drift.",
            f64::from(u8::from(r.dataset_drift)),
        );
    }
    Json(DriftResponse {
        model_version: serving.version.clone(),
        window_rows: rows,
        min_rows: state.config.drift_min_rows,
        report,
    })
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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServingResponse {
    /// The version serving after the change.
    pub serving: String,
}

/// Promotes a registry version and swaps it in (atomically; in-flight requests finish with
/// the old model).
#[utoipa::path(post, path = "/admin/models/{version}/promote", tag = "models",
    params(("version" = String, Path, description = "Registry version, e.g. v0002")),
    responses(
        (status = 200, description = "Serving the promoted version", body = ServingResponse),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "The version does not verify or cannot be served", body = ErrorBody)))]
async fn promote(
    State(state): State<Arc<AppState>>,
    Path(version): Path<String>,
) -> std::result::Result<Json<ServingResponse>, ApiError> {
    state
        .registry
        .promote(DESIGN, &version)
        .map_err(registry_error)?;
    swap_to(&state, &version)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()))?;
    Ok(Json(ServingResponse { serving: version }))
}

/// Moves `current` back to the previously promoted version and swaps it in.
#[utoipa::path(post, path = "/admin/models/rollback", tag = "models",
    responses(
        (status = 200, description = "Serving the previous version", body = ServingResponse),
        (status = 409, description = "Nothing to roll back to", body = ErrorBody)))]
async fn rollback(
    State(state): State<Arc<AppState>>,
) -> std::result::Result<Json<ServingResponse>, ApiError> {
    let pointer = state.registry.rollback(DESIGN).map_err(registry_error)?;
    let version = pointer.current.unwrap_or_default();
    swap_to(&state, &version)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()))?;
    Ok(Json(ServingResponse { serving: version }))
}
