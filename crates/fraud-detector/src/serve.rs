//! Stage 9 — the real-time scoring API (axum), on the shared server skeleton.
//!
//! ```text
//! client ─POST /v1/fraud/score─► parse + validate ─► online feature store ─► model ─► decision
//!                                 (422 on bad input)   (card + terminal windows)   (Arc of the
//!                                                                                   current version)
//!                                          (optional micro-batcher gathers concurrent requests)
//! investigators ─POST /v1/fraud/labels─► feature store (terminal risk, after the delay)
//! every scored row ─► sliding window ─GET /v1/fraud/drift─► drift vs the training profile
//! ```
//!
//! What every design's server has — `/health`, `/ready`, `/metrics`, `/openapi.json`,
//! `/v1/models`, promote, rollback, registry watching, shedding, the time budget — comes from
//! `mlsd_core::server`; this file is only the fraud routes.
//!
//! Talking points: latency budget (features from memory, µs-scale models), training/serving
//! skew (the artifact's spec drives the store; parity is tested), micro-batching, monitoring
//! live traffic, bad input → 4xx with a JSON body.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use mlsd_core::drift::{drift_report, SlidingWindow};
use mlsd_core::registry::Registry;
use mlsd_core::serve::{
    check_batch_size, ApiError, ApiJson, ErrorBody, JsonErrors, Metrics, MicroBatcher, Shed,
};
use mlsd_core::server::{
    app, Candidate, DriftResponse, Kit, Models, OpenApiRouter, Ops, ServerConfig,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::routes;

use crate::artifact::FraudServed;
use crate::batch::{Decision, ThresholdOverride};
use crate::ingest::IngestConfig;
use crate::monitor::DRIFT_SHARE;
use crate::online::{self, FeatureStore, InMemoryFeatureStore, RedisFeatureStore, Transaction};
use crate::{Error, Result};
use mlsd_core::online_state::{StateBackend, StateError};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// What every design's server has (limits, time budget, micro-batching, drift window …).
    pub server: ServerConfig,
    /// Review and block thresholds set by the operator; the others (by default, both) are
    /// each version's own, chosen from the alert budget when it was registered.
    pub thresholds: ThresholdOverride,
    /// Largest batch in `/v1/fraud/score/batch`.
    pub max_batch: usize,
    /// Known ids and amount limits (the same rules as ingestion).
    pub limits: IngestConfig,
    /// Where the card and terminal windows live: in memory (default) or in Redis, shared by
    /// every replica.
    pub state: StateBackend,
}

impl ServeConfig {
    /// The defaults `mlsd serve fraud` starts with, for a world with these known ids.
    pub fn new(limits: IngestConfig) -> Self {
        ServeConfig {
            server: ServerConfig {
                // About five days of the default simulation's traffic (a weekly cycle is ~69 k).
                drift_window: 50_000,
                drift_min: 1_000,
                ..ServerConfig::default()
            },
            thresholds: ThresholdOverride::default(),
            max_batch: 1_000,
            limits,
            state: StateBackend::InMemory,
        }
    }
}

type ScoreResult = std::result::Result<ScoreResponse, ApiError>;

/// Everything that turns parsed payments into scores: shared by the handlers and the
/// micro-batcher's worker.
pub struct Scorer {
    models: Arc<Models<FraudServed>>,
    store: Box<dyn FeatureStore>,
    window: Arc<Mutex<SlidingWindow>>,
    thresholds: ThresholdOverride,
    metrics: Arc<Metrics>,
}

/// `/metrics`' counter of each decision tier (named once: they are counted on every request).
const DECISION_COUNTERS: [(Decision, &str); 3] = [
    (Decision::Approve, "decisions_approve_total"),
    (Decision::Review, "decisions_review_total"),
    (Decision::Block, "decisions_block_total"),
];

impl Scorer {
    /// Features (in order, through the store), then one model call for all of `txs`; with a
    /// candidate rolling out, it shadows them (off the answer path) or answers its canary.
    fn score(&self, txs: &[Transaction]) -> std::result::Result<Vec<ScoreResponse>, ApiError> {
        let route = self.models.route();
        let serving = &route.primary;
        // Talking point [load-balancing]: a store that is down or slow sheds (503, retried by the
        // balancer); it never becomes a 500 or an answer from empty state.
        let rows = self.store.observe_all(txs)?;
        let width = rows.first().map_or(0, Vec::len);
        let x = Array2::from_shape_vec((rows.len(), width), rows.concat())
            .map_err(ApiError::internal)?;
        let artifact = &serving.model.artifact;
        let started = Instant::now();
        let mut scores = artifact
            .probabilities(x.view())
            .map_err(ApiError::internal)?;
        self.metrics.observe_version(
            &serving.version,
            "primary",
            &scores,
            started.elapsed().as_secs_f64(),
        );
        // Checked against the version serving at start; a later version's own thresholds may
        // cross an override, and then the block tier wins.
        let thresholds = self.thresholds.over(artifact.thresholds());
        if scores.len() != txs.len() {
            return Err(ApiError::internal("the model returned a score per row"));
        }
        let mut versions = vec![serving.version.as_str(); txs.len()];
        let mut decisions: Vec<Decision> = scores.iter().map(|&p| thresholds.decide(p)).collect();
        if let Some(candidate) = &route.candidate {
            self.shadow(candidate, &x, (&scores, &decisions));
            let answered = self.canary(candidate, txs, &x, (&scores, &decisions));
            let own = self
                .thresholds
                .over(candidate.model.model.artifact.thresholds());
            for (i, p) in answered {
                scores[i] = p;
                decisions[i] = own.decide(p);
                versions[i] = candidate.model.version.as_str();
            }
        }
        // Talking point: the decisions are a metric too — a jump in the block tier's share is
        // the first thing a fraud team sees on the dashboard (`/`).
        for (tier, counter) in DECISION_COUNTERS {
            let n = decisions.iter().filter(|&&d| d == tier).count();
            let help = "Payments answered with this decision tier.";
            self.metrics.add_counter(counter, help, n as f64);
        }
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        Ok(txs
            .iter()
            .zip(rows)
            .zip(scores)
            .zip(decisions)
            .zip(versions)
            .map(|((((tx, features), probability), decision), version)| {
                self.metrics.observe_score(probability);
                window.push(features, probability);
                ScoreResponse {
                    transaction_id: tx.transaction_id,
                    probability,
                    decision,
                    model_version: version.to_string(),
                    latency_ms: 0.0,
                }
            })
            .collect())
    }

    /// Shadow: the candidate scores a copy of every row on the mirror thread; its answers
    /// are compared with the primary's and never returned.
    fn shadow(
        &self,
        candidate: &Arc<Candidate<FraudServed>>,
        x: &Array2<f64>,
        (scores, decisions): (&[f64], &[Decision]),
    ) {
        if candidate.percent > 0 {
            return;
        }
        let (candidate, x) = (candidate.clone(), x.clone());
        let (scores, decisions) = (scores.to_vec(), decisions.to_vec());
        let (thresholds, metrics) = (self.thresholds, self.metrics.clone());
        // Talking point [experiments]: shadow traffic off the answer path — a bounded queue; when
        // it is full the copy is dropped (and counted), never the request.
        self.models.mirror(move || {
            let started = Instant::now();
            match candidate.model.model.artifact.probabilities(x.view()) {
                Ok(mine) if mine.len() == scores.len() => {
                    let took = started.elapsed();
                    let primary = (scores.as_slice(), decisions.as_slice());
                    compare(
                        &candidate, "shadow", &metrics, thresholds, primary, &mine, took,
                    );
                }
                _ => {
                    let n = scores.len() as u64;
                    candidate.record(n, 0, n, started.elapsed());
                }
            }
        });
    }

    /// Canary: the candidate answers the rows whose card hashes into its share; if it fails,
    /// the primary's answers stand (the request does not fail) and the error is counted.
    fn canary(
        &self,
        candidate: &Candidate<FraudServed>,
        txs: &[Transaction],
        x: &Array2<f64>,
        (scores, decisions): (&[f64], &[Decision]),
    ) -> Vec<(usize, f64)> {
        // Talking point [experiments]: canary by entity — the card decides, so one customer sees
        // one model.
        let rows: Vec<usize> = (0..txs.len())
            .filter(|&i| candidate.percent > 0 && candidate.answers(txs[i].customer_id as u64))
            .collect();
        if rows.is_empty() {
            return Vec::new();
        }
        let started = Instant::now();
        let picked = x.select(ndarray::Axis(0), &rows);
        match candidate.model.model.artifact.probabilities(picked.view()) {
            Ok(mine) if mine.len() == rows.len() => {
                let took = started.elapsed();
                let primary: (Vec<f64>, Vec<Decision>) =
                    rows.iter().map(|&i| (scores[i], decisions[i])).unzip();
                let primary = (primary.0.as_slice(), primary.1.as_slice());
                compare(
                    candidate,
                    "canary",
                    &self.metrics,
                    self.thresholds,
                    primary,
                    &mine,
                    took,
                );
                rows.into_iter().zip(mine).collect()
            }
            _ => {
                candidate.record(rows.len() as u64, 0, rows.len() as u64, started.elapsed());
                Vec::new()
            }
        }
    }

    /// Scores a micro-batch; a failure fails every request of the batch alike.
    fn score_each(&self, txs: Vec<Transaction>) -> Vec<ScoreResult> {
        match self.score(&txs) {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(e) => txs.iter().map(|_| Err(e.clone())).collect(),
        }
    }
}

/// What a candidate's `mine` show next to the primary's scores and decisions on the same
/// rows — decisions that differ, the score distribution, the time — recorded for its gates and
/// on `/metrics` under `role`.
fn compare(
    candidate: &Candidate<FraudServed>,
    role: &'static str,
    metrics: &Metrics,
    thresholds: ThresholdOverride,
    (scores, decisions): (&[f64], &[Decision]),
    mine: &[f64],
    took: std::time::Duration,
) {
    let own = thresholds.over(candidate.model.model.artifact.thresholds());
    let differ = mine
        .iter()
        .zip(decisions)
        .filter(|(p, d)| own.decide(**p) != **d)
        .count();
    candidate.compared(
        metrics,
        role,
        (scores, mine),
        (mine.len() as u64, differ as u64),
        took,
    );
}

/// What every handler is given: the server's state.
type Shared = State<Arc<AppState>>;

pub struct AppState {
    kit: Kit,
    scorer: Arc<Scorer>,
    batcher: Option<MicroBatcher<Transaction, ScoreResult>>,
    config: ServeConfig,
}

/// Loads the current model and builds the state (feature store from the model's spec).
/// With micro-batching or queue-delay shedding on, call it inside a tokio runtime.
pub fn state(registry: Registry, config: ServeConfig) -> Result<Arc<AppState>> {
    let (kit, models) = Kit::open::<FraudServed>(registry, config.server.clone())?;
    config
        .thresholds
        .apply(models.get().model.artifact.thresholds())?;
    let spec = models.get().model.artifact.spec.clone();
    let store: Box<dyn FeatureStore> = match &config.state {
        StateBackend::InMemory => Box::new(InMemoryFeatureStore::new(spec)),
        StateBackend::Redis {
            url,
            prefix,
            timeout,
        } => Box::new(
            RedisFeatureStore::open(spec, url, prefix, *timeout)
                .map_err(|e| Error::Config(e.to_string()))?,
        ),
    };
    // Every scoring path goes through `Models::route`: shadow and canary work here.
    models.enable_rollouts();
    let window = Arc::new(Mutex::new(SlidingWindow::new(config.server.drift_window)));
    let stale = window.clone();
    // The window's scores came from the old model: start prediction drift afresh.
    models.on_swap(move |_| stale.lock().unwrap_or_else(|p| p.into_inner()).clear());
    let scorer = Arc::new(Scorer {
        models,
        store,
        window,
        thresholds: config.thresholds,
        metrics: kit.metrics.clone(),
    });
    let worker = scorer.clone();
    let batcher = kit
        .micro_batcher(move |txs| worker.score_each(txs))
        .map_err(Error::Config)?;
    Ok(Arc::new(AppState {
        kit,
        scorer,
        batcher,
        config,
    }))
}

impl AppState {
    /// Bootstraps the online feature store from history (see [`online::warm_up`]) unless it
    /// is a shared store another replica has loaded already. Returns whether it loaded.
    pub fn warm_up(
        &self,
        history: &[(Transaction, bool)],
    ) -> std::result::Result<bool, StateError> {
        let store = self.scorer.store.as_ref();
        if !store.is_cold()? {
            return Ok(false);
        }
        online::warm_up(store, history)?;
        Ok(true)
    }

    /// The serving model, its registry and its rollouts (what the admin routes act on).
    pub fn models(&self) -> &Arc<Models<FraudServed>> {
        &self.scorer.models
    }

    /// Reloads `history` whenever the shared store turns out empty (Redis restarted without
    /// its data), checking every `every`; until it is loaded again the server sheds (503) and
    /// `/ready` says why. Several replicas may reload at once: payments are idempotent.
    pub fn keep_loaded(
        self: &Arc<Self>,
        history: Arc<Vec<(Transaction, bool)>>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let state = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let (state, history) = (Arc::clone(&state), Arc::clone(&history));
                let reloaded =
                    tokio::task::spawn_blocking(move || match state.scorer.store.ready() {
                        Err(StateError::Cold(_)) => state
                            .warm_up(&history)
                            .map(|loaded| loaded.then_some(history.len())),
                        _ => Ok(None),
                    })
                    .await;
                match reloaded {
                    Ok(Ok(Some(n))) => {
                        tracing::warn!(target: "mlsd::state", payments = n, "online state was empty: reloaded")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(target: "mlsd::state", error = %e, "online state could not be reloaded")
                    }
                    _ => {}
                }
            }
        })
    }

    /// The settings it serves with.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// The version serving now.
    pub fn serving_version(&self) -> String {
        self.scorer.models.get().version.clone()
    }

    /// Follows the registry pointer (promotions and rollbacks from the CLI, no restart).
    pub fn watch_registry(&self) -> tokio::task::JoinHandle<()> {
        self.scorer.models.watch(self.config.server.watch_every)
    }
}

/// A payment as clients send it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreRequest {
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub transaction_id: i64,
    /// `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339, a real date of 2000 to 2099 (the same rule as
    /// ingestion).
    #[schema(example = "2018-08-20 12:00:00")]
    pub tx_datetime: String,
    /// A known card (`0` to the simulation's card count − 1).
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub customer_id: i64,
    /// A known terminal (`0` to the terminal count − 1).
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub terminal_id: i64,
    /// 0 to the largest plausible amount.
    #[schema(minimum = 0)]
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
        let datetime_ms = crate::schema::parse_datetime_ms(&self.tx_datetime).ok_or_else(|| {
            ApiError::invalid(
                "invalid_datetime",
                format!(
                    "tx_datetime {:?} is not a date-time of 2000 to 2099 as YYYY-MM-DD HH:MM:SS or RFC 3339",
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
    /// Estimated probability that the payment is fraudulent (calibrated: Platt scaling fitted
    /// on out-of-fold scores of the training window).
    pub probability: f64,
    pub decision: Decision,
    /// The registry version that scored this payment.
    pub model_version: String,
    /// Server-side time from parsed request to answer (features + model, and the
    /// micro-batch wait when batching is on).
    pub latency_ms: f64,
}

/// Scores one payment: online features, model, decision.
#[utoipa::path(post, path = "/v1/fraud/score", tag = "fraud", request_body = ScoreRequest, responses((status = 200, description = "Scored", body = ScoreResponse), (status = 422, description = "Missing, unknown or invalid field", body = ErrorBody), JsonErrors))]
async fn score(
    State(state): Shared,
    ApiJson(req): ApiJson<ScoreRequest>,
) -> std::result::Result<Json<ScoreResponse>, ApiError> {
    let t = Instant::now();
    let tx = req.parse(&state.config.limits)?;
    let mut answer = match &state.batcher {
        Some(batcher) => batcher.submit(tx).await??,
        None => {
            state.kit.call_model(1).await?;
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
    #[schema(min_items = 1)]
    pub transactions: Vec<ScoreRequest>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub model_version: String,
    /// One answer per payment, in request order.
    pub results: Vec<ScoreResponse>,
}

/// Scores many payments in one call (one model call for all of them).
#[utoipa::path(post, path = "/v1/fraud/score/batch", tag = "fraud", request_body = BatchRequest, responses((status = 200, description = "Scored", body = BatchResponse), (status = 422, description = "Invalid batch size or an invalid payment (named by index)", body = ErrorBody), JsonErrors))]
async fn score_batch(
    State(state): Shared,
    ApiJson(req): ApiJson<BatchRequest>,
) -> std::result::Result<Json<BatchResponse>, ApiError> {
    let t = Instant::now();
    check_batch_size(
        req.transactions.len(),
        state.config.max_batch,
        "transactions",
    )?;
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
    let _rows = state.kit.admit_rows(txs.len())?;
    state.kit.call_model(txs.len()).await?;
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
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
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
#[utoipa::path(post, path = "/v1/fraud/labels", tag = "fraud", request_body = LabelRequest, responses((status = 200, description = "Recorded", body = LabelResponse), (status = 404, description = "No such transaction scored here recently (unknown or expired)", body = ErrorBody), (status = 422, description = "An invalid body", body = ErrorBody), JsonErrors))]
async fn label(
    State(state): Shared,
    ApiJson(req): ApiJson<LabelRequest>,
) -> std::result::Result<Json<LabelResponse>, ApiError> {
    if !state
        .scorer
        .store
        .record_label(req.transaction_id, req.fraud)?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
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

/// Drift of the most recent scored traffic against the serving model's training profile
/// (Evidently's test choice per feature, prediction drift, share of drifted features).
#[utoipa::path(get, path = "/v1/fraud/drift", tag = "monitoring", responses((status = 200, description = "Drift of the sliding window", body = DriftResponse), Shed))]
async fn drift(State(state): Shared) -> Result<Json<DriftResponse>, ApiError> {
    state.kit.heavy(&state, drift_now).await.map(Json)
}

/// The drift check itself (CPU: ~20 ms for the default 50,000-row window).
fn drift_now(state: &AppState) -> DriftResponse {
    let serving = state.scorer.models.get();
    let profile = &serving.model.profile;
    // One copy of the window, taken under the lock; the statistics run after it is released,
    // so scoring is never held up by a drift check.
    let (columns, scores) = state
        .scorer
        .window
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .columns(profile.features.len());
    DriftResponse::check(
        &serving.version,
        &scores,
        state.config.server.drift_min,
        |scores| {
            let r = drift_report(profile, &columns, Some(scores), DRIFT_SHARE);
            // Talking point [drift]: drift as a metric — the latest check is a gauge an alert can
            // watch.
            let metrics = &state.kit.metrics;
            metrics.set_gauge(
                "drift_share",
                "Share of drifted features in the latest check.",
                r.drift_share,
            );
            metrics.set_gauge(
                "dataset_drift",
                "1 when the latest check found dataset drift.",
                f64::from(u8::from(r.dataset_drift)),
            );
            Some(r)
        },
    )
}

/// The fraud routes' OpenAPI 3.1 document (the operational routes are merged in by the
/// skeleton), generated from the handlers' annotations and types.
#[derive(OpenApi)]
#[openapi(info(
    title = "mlsd fraud detector",
    description = "Real-time card-fraud scoring with an online feature store, drift monitoring and hot model swaps."
))]
pub struct ApiDoc;

/// The fraud routes plus every design's operational ones, with the common layers.
pub fn router(state: Arc<AppState>) -> Router {
    let ops = Ops::new(state.scorer.models.clone(), &state.kit, ApiDoc::openapi())
        .constraints(&state, request_constraints)
        .readiness(&state, |s| Ok(s.scorer.store.ready()?))
        .ready_details(&state, |s| {
            let mut details = serde_json::Map::new();
            details.insert("state".into(), s.config.state.describe().into());
            details
        });
    let routes = OpenApiRouter::new()
        .routes(routes!(score))
        .routes(routes!(score_batch))
        .routes(routes!(label))
        .routes(routes!(drift));
    app(&state.kit, ops, state.clone(), routes, OpenApiRouter::new())
}

/// The rules [`ScoreRequest::parse`] and the batch size check apply with this server's
/// settings, stated in the document (known ids, amount, batch size).
fn request_constraints(state: &AppState, api: &mut utoipa::openapi::OpenApi) {
    use mlsd_core::server::contract::{item_range, number_range, pattern, Target};
    let config = &state.config;
    let limits = &config.limits;
    pattern(
        api,
        Target::Field("ScoreRequest", "tx_datetime"),
        crate::schema::DATETIME_PATTERN,
    );
    number_range(
        api,
        Target::Field("ScoreRequest", "customer_id"),
        0.0,
        (limits.n_customers - 1) as f64,
    );
    number_range(
        api,
        Target::Field("ScoreRequest", "terminal_id"),
        0.0,
        (limits.n_terminals - 1) as f64,
    );
    number_range(
        api,
        Target::Field("ScoreRequest", "tx_amount"),
        0.0,
        limits.max_amount,
    );
    item_range(
        api,
        Target::Field("BatchRequest", "transactions"),
        1,
        config.max_batch,
    );
}
