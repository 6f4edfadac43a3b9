//! Stage 7b — serving: readings in, per-machine risk and alerts out (axum, on the shared
//! serving skeleton the other designs use).
//!
//! ```text
//! POST /v1/maintenance/readings         1..max_batch readings ─► per-machine online state ─► RUL, risk, alert
//! POST /v1/maintenance/readings/stream  NDJSON, one reading per line; bad lines counted by reason
//! POST /v1/maintenance/machines/{id}/events   a service or a failure: a new life; realised error
//! GET  /v1/maintenance/machines/{id}    the machine's latest assessment
//! GET  /v1/maintenance/alerts           machines in alert, most urgent first; today's crews
//! POST /v1/maintenance/score(/batch)    stateless: a machine's recent readings in the body
//! GET  /v1/maintenance/drift            sensor drift, sensor health, prediction drift, realised RMSE
//! ```
//!
//! Talking points: streaming ingest vs request/response; online state per machine (the same
//! features as training, parity-tested); bad readings (unknown machine, wrong sensor count,
//! out-of-order cycle, impossible value) get 4xx JSON and are counted on `/metrics`; the alert
//! is the cost rule stored with the model.
//!
//! Simplification: the per-machine state lives in this process (16 shards); with replicas it
//! would move to a shared store or readings would be routed by machine id.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use mlsd_core::registry::Registry;
use mlsd_core::serve::{
    check_batch_size, ApiError, ApiJson, ErrorBody, JsonErrors, Metrics, MicroBatcher, Shed,
};
use mlsd_core::server::ndjson::{self, StreamLimits, StreamSink};
use mlsd_core::server::{
    app, Candidate, DriftResponse, Kit, Models, OpenApiRouter, Ops, Recent, Route, ServerConfig,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::routes;

use crate::artifact::{Assessment, MaintenanceArtifact};
use crate::data::Reading;
use crate::monitor::{self, HealthRates, MonitorReport, Realised};
use crate::online::{MachineState, Refusal, SensorHealth};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub server: ServerConfig,
    /// Most readings in one `readings` call, and most machines in one `score/batch` call.
    pub max_batch: usize,
    /// Most readings in one `score` history (a window is 30), and most histories in one
    /// `score/batch` call (both bound the body: 100 × 60 readings is ~1.3 MB of JSON).
    pub max_history: usize,
    pub max_score_batch: usize,
    pub max_streams: usize,
    pub max_stream_bytes: usize,
    pub stream_idle: std::time::Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            server: ServerConfig {
                // 100 histories of 60 readings of 8 sensors, with room for long numbers.
                body_limit: 4 << 20,
                drift_window: 20_000,
                drift_min: 1_000,
                ..ServerConfig::default()
            },
            max_batch: 1_000,
            max_history: 60,
            max_score_batch: 100,
            max_streams: 16,
            max_stream_bytes: 256 << 20,
            stream_idle: std::time::Duration::from_secs(10),
        }
    }
}

const SHARDS: usize = 16;

/// The largest cycle a reading may carry (a daily reading for 2,700 years).
pub const MAX_CYCLE: u32 = 1_000_000;

/// One machine as the server knows it.
struct Tracked {
    state: MachineState,
    latest: Option<Assessed>,
    /// This life's predictions (cycle, RUL), bounded by the cap: what a late failure scores.
    predictions: VecDeque<(u32, f64)>,
}

pub struct AppState {
    kit: Kit,
    models: Arc<Models<MaintenanceArtifact>>,
    shards: Vec<Mutex<HashMap<u32, Tracked>>>,
    health: Mutex<Vec<SensorHealth>>,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    realised: Mutex<Realised>,
    recent: Arc<Recent<Reading>>,
    recent_predictions: Arc<Recent<f64>>,
    batcher: Option<MicroBatcher<Vec<f64>, Assessment>>,
    streams: Arc<Semaphore>,
    config: ServeConfig,
}

type Shared = State<Arc<AppState>>;

/// Loads the registry's current maintenance model and builds the state. With micro-batching
/// on, call it inside a tokio runtime.
pub fn state(registry: Registry, config: ServeConfig) -> crate::Result<Arc<AppState>> {
    let (kit, models) = Kit::open::<MaintenanceArtifact>(registry, config.server.clone())?;
    // Every scoring path goes through `route`: shadow and canary work here.
    models.enable_rollouts();
    let recent = Arc::new(Recent::new(config.server.drift_window));
    let recent_predictions = Arc::new(Recent::new(config.server.drift_window));
    let stale = recent_predictions.clone();
    // Predictions of the old model are not this model's distribution.
    models.on_swap(move |_| stale.clear());
    let m = models.clone();
    let batcher = kit
        .micro_batcher(move |rows: Vec<Vec<f64>>| m.get().model.assess(&rows))
        .map_err(crate::Error::Config)?;
    let sensors = models.get().model.spec.sensors.len();
    Ok(Arc::new(AppState {
        kit,
        models,
        shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        health: Mutex::new(vec![SensorHealth::default(); sensors]),
        refused: Mutex::new(BTreeMap::new()),
        realised: Mutex::new(Realised::default()),
        recent,
        recent_predictions,
        batcher,
        streams: Arc::new(Semaphore::new(config.max_streams)),
        config,
    }))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One reading as a client sends it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingIn {
    /// A machine of the plant's inventory.
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    #[schema(minimum = 1)]
    pub machine_id: u32,
    /// Cycle (day) of the reading, after the machine's last one in this life.
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    #[schema(minimum = 1)]
    pub cycle: u32,
    /// One value per sensor, in the model's sensor order (`GET /ready` lists them); null =
    /// missing.
    pub values: Vec<Option<f64>>,
}

/// A reading's assessment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Assessed {
    pub machine_id: u32,
    pub cycle: u32,
    /// Predicted remaining useful life (cycles, capped at 125).
    pub rul: f64,
    /// P(failure within the horizon, 30 cycles).
    pub risk: f64,
    /// The cost rule says: service it.
    pub alert: bool,
    /// The version that assessed it (a canary's for the machines it takes).
    pub model_version: String,
}

impl Assessed {
    fn new(machine_id: u32, cycle: u32, a: Assessment, model_version: String) -> Self {
        Assessed {
            machine_id,
            cycle,
            rul: a.rul,
            risk: a.risk,
            alert: a.alert,
            model_version,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingsRequest {
    /// 1 to `max_batch` readings, applied in order.
    #[schema(min_items = 1)]
    pub readings: Vec<ReadingIn>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadingsResponse {
    /// In request order.
    pub assessments: Vec<Assessed>,
    pub model_version: String,
}

impl AppState {
    fn count_refusal(&self, code: &'static str) {
        *lock(&self.refused).entry(code).or_insert(0) += 1;
    }

    fn refuse(&self, status: StatusCode, code: &'static str, message: String) -> ApiError {
        self.count_refusal(code);
        ApiError::new(status, code, message)
    }

    /// Checks what can be checked without the machine's state.
    fn check(&self, model: &MaintenanceArtifact, r: &ReadingIn) -> Result<Reading, ApiError> {
        self.check_cycle(r.cycle)?;
        if !model.inventory.contains_key(&r.machine_id) {
            return Err(self.refuse(
                StatusCode::NOT_FOUND,
                "unknown_machine",
                format!("machine {} is not in the plant's inventory", r.machine_id),
            ));
        }
        let reading = Reading {
            cycle: r.cycle,
            values: r.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        };
        if reading.values.len() != model.spec.sensors.len() {
            return Err(self.refusal(Refusal::WrongSensorCount, model));
        }
        Ok(reading)
    }

    /// Cycles count from 1 to [`MAX_CYCLE`].
    fn check_cycle(&self, cycle: u32) -> Result<(), ApiError> {
        if cycle == 0 || cycle > MAX_CYCLE {
            return Err(self.refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_cycle",
                format!("cycles count from 1 to {MAX_CYCLE}"),
            ));
        }
        Ok(())
    }

    /// The 422 for `refusal`, counted.
    fn refusal(&self, refusal: Refusal, model: &MaintenanceArtifact) -> ApiError {
        self.count_refusal(refusal.code());
        refusal_error(refusal, model)
    }

    /// Applies one checked reading to its machine's state; its feature row comes back.
    fn apply(
        &self,
        model: &MaintenanceArtifact,
        id: u32,
        reading: Reading,
    ) -> Result<Vec<f64>, Refusal> {
        let mut shard = lock(&self.shards[id as usize % SHARDS]);
        let tracked = shard.entry(id).or_insert_with(|| Tracked {
            state: MachineState::new(&model.spec),
            latest: None,
            predictions: VecDeque::new(),
        });
        let mut health = lock(&self.health);
        let row = tracked
            .state
            .push(&model.spec, &model.bounds, reading.clone(), &mut health)?;
        drop((health, shard));
        self.recent.extend([reading]);
        Ok(row)
    }

    /// Records a machine's newest assessment (what `GET /machines/{id}`, the alerts and a
    /// later failure report read).
    fn remember(&self, a: &Assessed, cap: f64) {
        let mut shard = lock(&self.shards[a.machine_id as usize % SHARDS]);
        if let Some(t) = shard.get_mut(&a.machine_id) {
            t.latest = Some(a.clone());
            t.predictions.push_back((a.cycle, a.rul));
            if t.predictions.len() > 2 * cap as usize {
                t.predictions.pop_front();
            }
        }
        drop(shard);
        self.recent_predictions.extend([a.rul]);
    }

    /// Applies checked readings in order and assesses them through the route; on a refused
    /// reading, the ones before it stay applied and assessed, and the refusal comes back with
    /// its index.
    fn ingest(
        &self,
        route: &Route<MaintenanceArtifact>,
        checked: Vec<(u32, Reading)>,
    ) -> (Vec<Assessed>, Option<(usize, Refusal)>) {
        let model = &route.primary.model;
        let (mut keys, mut rows, mut refused) = (Vec::new(), Vec::new(), None);
        for (i, (id, reading)) in checked.into_iter().enumerate() {
            let cycle = reading.cycle;
            match self.apply(model, id, reading) {
                Ok(row) => {
                    keys.push((id, cycle));
                    rows.push(row);
                }
                Err(refusal) => {
                    self.count_refusal(refusal.code());
                    refused = Some((i, refusal));
                    break;
                }
            }
        }
        let entities: Vec<u64> = keys.iter().map(|(id, _)| u64::from(*id)).collect();
        let (answers, versions) = self.assess_routed(route, &entities, &rows);
        let assessed: Vec<Assessed> = keys
            .iter()
            .zip(answers)
            .zip(versions)
            .map(|((&(id, cycle), a), v)| Assessed::new(id, cycle, a, v))
            .collect();
        for a in &assessed {
            self.remember(a, model.model.cap);
        }
        (assessed, refused)
    }

    /// Assesses `rows` with the route's primary, and with its candidate: a shadow copy on the
    /// mirror thread, or the canary's own answers for the machines it takes. Returns each
    /// row's assessment and the version that made it.
    fn assess_routed(
        &self,
        route: &Route<MaintenanceArtifact>,
        entities: &[u64],
        rows: &[Vec<f64>],
    ) -> (Vec<Assessment>, Vec<String>) {
        let primary = &route.primary;
        let started = Instant::now();
        let mut answers = primary.model.assess(rows);
        let risks: Vec<f64> = answers.iter().map(|a| a.risk).collect();
        let took = started.elapsed().as_secs_f64();
        self.kit
            .metrics
            .observe_version(&primary.version, "primary", &risks, took);
        let mut versions = vec![primary.version.clone(); rows.len()];
        let Some(candidate) = route.candidate.clone() else {
            return (answers, versions);
        };
        if candidate.percent == 0 {
            let (rows, theirs, metrics) =
                (rows.to_vec(), answers.clone(), self.kit.metrics.clone());
            // Talking point: shadow traffic off the answer path (a bounded queue; a full one
            // drops the copy, never the request).
            self.models.mirror(move || {
                let started = Instant::now();
                let mine = candidate.model.model.assess(&rows);
                compare(
                    &candidate,
                    "shadow",
                    &metrics,
                    &theirs,
                    &mine,
                    started.elapsed(),
                );
            });
            return (answers, versions);
        }
        // Talking point: canary by machine — one machine is assessed by one model.
        let picked: Vec<usize> = (0..rows.len())
            .filter(|&i| candidate.answers(entities[i]))
            .collect();
        if picked.is_empty() {
            return (answers, versions);
        }
        let started = Instant::now();
        let mine = candidate
            .model
            .model
            .assess(&picked.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>());
        let theirs: Vec<Assessment> = picked.iter().map(|&i| answers[i]).collect();
        compare(
            &candidate,
            "canary",
            &self.kit.metrics,
            &theirs,
            &mine,
            started.elapsed(),
        );
        for (&i, a) in picked.iter().zip(mine) {
            answers[i] = a;
            versions[i] = candidate.model.version.clone();
        }
        (answers, versions)
    }
}

/// The 422 a refused reading gets.
fn refusal_error(refusal: Refusal, model: &MaintenanceArtifact) -> ApiError {
    let message = match refusal {
        Refusal::WrongSensorCount => format!(
            "send one value per sensor ({}), null when missing",
            model.spec.sensors.join(", ")
        ),
        Refusal::OutOfOrder => "the cycle is not after the machine's last reading".into(),
        Refusal::Impossible => "a value is outside what the sensor can read".into(),
    };
    ApiError::invalid(refusal.code(), message)
}

/// What a candidate's assessments `mine` show next to the primary's `theirs` on the same rows
/// — alerts that differ, the risk distributions, the time — for its gates and `/metrics`.
fn compare(
    candidate: &Candidate<MaintenanceArtifact>,
    role: &'static str,
    metrics: &Metrics,
    theirs: &[Assessment],
    mine: &[Assessment],
    took: Duration,
) {
    let differ = mine
        .iter()
        .zip(theirs)
        .filter(|(m, t)| m.alert != t.alert)
        .count();
    let risks = |a: &[Assessment]| a.iter().map(|a| a.risk).collect::<Vec<f64>>();
    let (ours, primary) = (risks(mine), risks(theirs));
    metrics.observe_version(&candidate.model.version, role, &ours, took.as_secs_f64());
    candidate.compare_scores(&primary, &ours);
    candidate.record(mine.len() as u64, differ as u64, 0, took);
}

/// Readings of one or more machines, applied in order; every reading is checked before any
/// is applied (unknown machine 404, wrong sensor count or impossible value 422); a cycle out
/// of order refuses the call at that reading (the ones before it stay applied, and the
/// message says how many).
#[utoipa::path(post, path = "/v1/maintenance/readings", tag = "maintenance", request_body = ReadingsRequest, responses((status = 200, description = "Assessed, in order", body = ReadingsResponse), (status = 404, description = "A machine not in the inventory", body = ErrorBody), (status = 422, description = "Empty or too large batch, wrong sensor count, impossible value, cycle out of order", body = ErrorBody), JsonErrors))]
async fn readings(
    State(state): Shared,
    ApiJson(req): ApiJson<ReadingsRequest>,
) -> Result<Json<ReadingsResponse>, ApiError> {
    check_batch_size(req.readings.len(), state.config.max_batch, "readings")?;
    let _rows = state.kit.admit_rows(req.readings.len())?;
    let route = state.models.route();
    let model = &route.primary.model;
    let mut checked = Vec::with_capacity(req.readings.len());
    for r in &req.readings {
        let reading = state.check(model, r)?;
        let outside = reading
            .values
            .iter()
            .zip(&model.bounds)
            .any(|(v, (lo, hi))| v.is_finite() && (*v < *lo || *v > *hi));
        if outside {
            return Err(state.refusal(Refusal::Impossible, model));
        }
        checked.push((r.machine_id, reading));
    }
    let (assessments, refused) = state.ingest(&route, checked);
    if let Some((i, refusal)) = refused {
        let e = refusal_error(refusal, model);
        return Err(ApiError::new(
            e.status,
            e.code,
            format!("readings[{i}]: {} ({i} applied before it)", e.message),
        ));
    }
    Ok(Json(ReadingsResponse {
        assessments,
        model_version: route.primary.version.clone(),
    }))
}

/// What a readings stream did.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct StreamSummary {
    /// Readings applied.
    pub accepted: u64,
    /// Lines refused, by reason (`malformed_json`, `unknown_machine`, `out_of_order_cycle`, …).
    pub rejected: BTreeMap<String, u64>,
    /// Lines of readings that raised an alert.
    pub alerts: u64,
    /// `true` when the stream ended because it sat idle.
    pub idle_timeout: bool,
}

struct Sink<'a> {
    state: &'a AppState,
    /// Taken once per stream: a swap mid-stream does not mix versions in one summary.
    route: Route<MaintenanceArtifact>,
    summary: StreamSummary,
}

impl StreamSink for Sink<'_> {
    fn line(&mut self, raw: &[u8], line_no: u64) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(r) = serde_json::from_slice::<ReadingIn>(raw) else {
            self.reject(line_no, "malformed_json");
            return;
        };
        let reading = match self.state.check(&self.route.primary.model, &r) {
            Ok(reading) => reading,
            Err(e) => return self.reject(line_no, e.code),
        };
        let (assessed, refused) = self
            .state
            .ingest(&self.route, vec![(r.machine_id, reading)]);
        if let Some((_, refusal)) = refused {
            return self.reject(line_no, refusal.code());
        }
        self.summary.accepted += 1;
        self.summary.alerts += assessed.iter().filter(|a| a.alert).count() as u64;
    }
    fn reject(&mut self, _line_no: u64, reason: &str) {
        *self.summary.rejected.entry(reason.to_string()).or_insert(0) += 1;
    }
    fn accepted(&self) -> u64 {
        self.summary.accepted
    }
    fn idle_timeout(&mut self) {
        self.summary.idle_timeout = true;
    }
}

/// NDJSON stream of readings (one `ReadingIn` per line), applied as lines arrive; bad lines
/// are counted by reason and the stream goes on.
#[utoipa::path(post, path = "/v1/maintenance/readings/stream", tag = "maintenance", request_body(content = Vec<ReadingIn>, content_type = "application/x-ndjson", description = "One ReadingIn per line"), responses((status = 200, description = "Lines applied and refused by reason", body = StreamSummary), (status = 400, description = "The body broke off", body = ErrorBody), (status = 413, description = "Stream larger than max_stream_bytes", body = ErrorBody), (status = 415, description = "Not NDJSON", body = ErrorBody), (status = 503, description = "Too many concurrent streams", body = ErrorBody)))]
async fn stream(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StreamSummary>, ApiError> {
    ndjson::check_ndjson(&headers)?;
    let _permit = state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "every stream slot is taken; retry later",
        )
    })?;
    let route = state.models.route();
    let limits = StreamLimits {
        max_bytes: state.config.max_stream_bytes,
        max_line: 64 + 32 * route.primary.model.spec.sensors.len(),
        idle: state.config.stream_idle,
    };
    let mut sink = Sink {
        state: &state,
        route,
        summary: StreamSummary::default(),
    };
    ndjson::ingest(body, limits, &mut sink).await?;
    Ok(Json(sink.summary))
}

fn machine_id(text: &str) -> Result<u32, ApiError> {
    mlsd_core::serve::whole_text(text)
        .and_then(|u| u32::try_from(u).ok())
        .filter(|&u| u > 0)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_machine",
                format!("machine id must be a whole number from 1, got {text:?}"),
            )
        })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MachineResponse {
    pub machine_id: u32,
    /// Machine type.
    pub kind: String,
    /// Readings in the current life.
    pub readings: u64,
    /// The latest assessment; null before the first reading of this life.
    pub latest: Option<Assessed>,
    pub model_version: String,
}

/// A machine's latest assessment.
#[utoipa::path(get, path = "/v1/maintenance/machines/{machine_id}", tag = "maintenance", params(("machine_id" = u32, Path, description = "1 or more")), responses((status = 200, description = "The machine", body = MachineResponse), (status = 400, description = "Not a machine id", body = ErrorBody), (status = 404, description = "Not in the inventory", body = ErrorBody), Shed))]
async fn machine(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<MachineResponse>, ApiError> {
    let id = machine_id(&id)?;
    let serving = state.models.get();
    let kind = serving.model.inventory.get(&id).cloned().ok_or_else(|| {
        state.refuse(
            StatusCode::NOT_FOUND,
            "unknown_machine",
            format!("machine {id} is not in the inventory"),
        )
    })?;
    let shard = lock(&state.shards[id as usize % SHARDS]);
    let (readings, latest) = shard
        .get(&id)
        .map_or((0, None), |t| (t.state.readings, t.latest.clone()));
    Ok(Json(MachineResponse {
        machine_id: id,
        kind,
        readings,
        latest,
        model_version: serving.version.clone(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertsResponse {
    /// Machines in alert, lowest predicted RUL first.
    pub alerts: Vec<Assessed>,
    /// The first `crews_per_day` of them: today's services.
    pub today: Vec<u32>,
    pub model_version: String,
}

/// The machines the cost rule says to service, most urgent first.
#[utoipa::path(get, path = "/v1/maintenance/alerts", tag = "maintenance", responses((status = 200, description = "Machines in alert", body = AlertsResponse), Shed))]
async fn alerts(State(state): Shared) -> Json<AlertsResponse> {
    let serving = state.models.get();
    let mut alerts: Vec<Assessed> = Vec::new();
    for shard in &state.shards {
        for (id, t) in lock(shard).iter() {
            if let Some(a) = t.latest.as_ref().filter(|a| a.alert && a.machine_id == *id) {
                alerts.push(a.clone());
            }
        }
    }
    alerts.sort_by(|a, b| {
        a.rul
            .total_cmp(&b.rul)
            .then(a.machine_id.cmp(&b.machine_id))
    });
    let today = alerts
        .iter()
        .take(serving.model.costs.crews_per_day)
        .map(|a| a.machine_id)
        .collect();
    Json(AlertsResponse {
        alerts,
        today,
        model_version: serving.version.clone(),
    })
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Planned maintenance: the life is censored here.
    Service,
    /// The machine failed: every prediction of this life gets its truth.
    Failure,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    pub kind: EventKind,
    /// The cycle it happened (at or after the last reading).
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    #[schema(minimum = 1)]
    pub cycle: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    pub machine_id: u32,
    /// Predictions of the closed life that got a truth, and those censoring hides.
    pub scored: u64,
    pub censored: u64,
}

/// A service or a failure: the machine starts a new life, and the closed life's predictions
/// are scored against what happened (late labels, censored by services).
#[utoipa::path(post, path = "/v1/maintenance/machines/{machine_id}/events", tag = "maintenance", params(("machine_id" = u32, Path, description = "1 or more")), request_body = EventRequest, responses((status = 200, description = "Recorded", body = EventResponse), (status = 400, description = "Not a machine id", body = ErrorBody), (status = 404, description = "Not in the inventory", body = ErrorBody), (status = 422, description = "Before the machine's last reading", body = ErrorBody), JsonErrors))]
async fn event(
    State(state): Shared,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EventRequest>,
) -> Result<Json<EventResponse>, ApiError> {
    let id = machine_id(&id)?;
    state.check_cycle(req.cycle)?;
    let serving = state.models.get();
    if !serving.model.inventory.contains_key(&id) {
        return Err(state.refuse(
            StatusCode::NOT_FOUND,
            "unknown_machine",
            format!("machine {id} is not in the inventory"),
        ));
    }
    let mut shard = lock(&state.shards[id as usize % SHARDS]);
    let Some(t) = shard.get_mut(&id) else {
        return Ok(Json(EventResponse {
            machine_id: id,
            scored: 0,
            censored: 0,
        }));
    };
    if t.state.last_cycle().is_some_and(|last| req.cycle < last) {
        drop(shard);
        return Err(state.refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_order_cycle",
            "the event is before the machine's last reading".into(),
        ));
    }
    let predictions: Vec<(u32, f64)> = t.predictions.drain(..).collect();
    t.state.renew();
    t.latest = None;
    drop(shard);
    let mut one = Realised::default();
    let (failed, end) = (req.kind == EventKind::Failure, req.cycle);
    // A failure at cycle c means the last reading was at most c − 1: remaining life counts
    // to the failure cycle, as in training.
    one.close(&predictions, end, failed, serving.model.model.cap);
    lock(&state.realised).close(&predictions, end, failed, serving.model.model.cap);
    Ok(Json(EventResponse {
        machine_id: id,
        scored: one.scored,
        censored: one.censored,
    }))
}

/// A machine's recent readings, scored without touching the server's state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// The machine, when known: a canary then takes whole machines (without it, the
    /// history itself picks the model).
    #[serde(default, deserialize_with = "whole_option")]
    #[schema(minimum = 1)]
    pub machine_id: Option<u32>,
    /// 1 to `max_history` readings of one life, in cycle order (the last window is used).
    #[schema(min_items = 1)]
    pub readings: Vec<HistoryReading>,
}

/// [`mlsd_core::serve::whole`] for an optional field.
fn whole_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    mlsd_core::serve::whole(d).map(Some)
}

impl History {
    /// What a canary routes by: the machine, else the history's last reading.
    fn entity(&self) -> u64 {
        match self.machine_id {
            Some(id) => u64::from(id),
            None => {
                let last = self
                    .readings
                    .last()
                    .map(|r| format!("{}{:?}", r.cycle, r.values));
                mlsd_core::lifecycle::entity_of(last.unwrap_or_default().as_bytes())
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryReading {
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    #[schema(minimum = 1)]
    pub cycle: u32,
    /// One value per sensor; null = missing.
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct Scored {
    pub rul: f64,
    pub risk: f64,
    pub alert: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreResponse {
    #[serde(flatten)]
    pub scored: Scored,
    pub model_version: String,
}

impl AppState {
    /// The feature row of a history (the state machine checks order and bounds).
    fn history_row(&self, model: &MaintenanceArtifact, h: &History) -> Result<Vec<f64>, ApiError> {
        check_batch_size(h.readings.len(), self.config.max_history, "readings")?;
        if let Some(id) = h.machine_id.filter(|id| !model.inventory.contains_key(id)) {
            return Err(self.refuse(
                StatusCode::NOT_FOUND,
                "unknown_machine",
                format!("machine {id} is not in the plant's inventory"),
            ));
        }
        let mut state = MachineState::new(&model.spec);
        let mut health = vec![SensorHealth::default(); model.spec.sensors.len()];
        let mut row = Vec::new();
        for r in &h.readings {
            self.check_cycle(r.cycle)?;
            let reading = Reading {
                cycle: r.cycle,
                values: r.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            };
            row = state
                .push(&model.spec, &model.bounds, reading, &mut health)
                .map_err(|refusal| self.refusal(refusal, model))?;
        }
        Ok(row)
    }
}

fn scored(a: Assessment) -> Scored {
    Scored {
        rul: a.rul,
        risk: a.risk,
        alert: a.alert,
    }
}

/// Scores one machine's recent readings (stateless; through the micro-batcher when on).
#[utoipa::path(post, path = "/v1/maintenance/score", tag = "maintenance", request_body = History, responses((status = 200, description = "Scored", body = ScoreResponse), (status = 404, description = "A machine_id not in the inventory", body = ErrorBody), (status = 422, description = "Empty or too long history, wrong sensor count, impossible value, cycles out of order", body = ErrorBody), JsonErrors))]
async fn score(
    State(state): Shared,
    ApiJson(h): ApiJson<History>,
) -> Result<Json<ScoreResponse>, ApiError> {
    let route = state.models.route();
    let row = state.history_row(&route.primary.model, &h)?;
    let (a, version) = match (&state.batcher, &route.candidate) {
        // The micro-batcher scores with the primary; during a rollout requests are routed.
        (Some(b), None) => (b.submit(row).await?, route.primary.version.clone()),
        _ => {
            state.kit.call_model(1).await?;
            let (answers, versions) = state.assess_routed(&route, &[h.entity()], &[row]);
            match (answers.first(), versions.into_iter().next()) {
                (Some(a), Some(v)) => (*a, v),
                _ => return Err(ApiError::internal("no answer")),
            }
        }
    };
    state.kit.metrics.observe_score(a.risk);
    Ok(Json(ScoreResponse {
        scored: scored(a),
        model_version: version,
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreBatchRequest {
    /// 1 to `max_score_batch` machines' histories.
    #[schema(min_items = 1)]
    pub machines: Vec<History>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreBatchResponse {
    pub scores: Vec<Scored>,
    /// The version behind each score (a canary's for the machines it takes).
    pub versions: Vec<String>,
    /// The primary version.
    pub model_version: String,
}

/// Scores many machines' histories in one call; one bad history refuses the call.
#[utoipa::path(post, path = "/v1/maintenance/score/batch", tag = "maintenance", request_body = ScoreBatchRequest, responses((status = 200, description = "Scored, in order", body = ScoreBatchResponse), (status = 404, description = "A machine_id not in the inventory", body = ErrorBody), (status = 422, description = "Empty or too large batch, a bad history", body = ErrorBody), JsonErrors))]
async fn score_batch(
    State(state): Shared,
    ApiJson(req): ApiJson<ScoreBatchRequest>,
) -> Result<Json<ScoreBatchResponse>, ApiError> {
    check_batch_size(req.machines.len(), state.config.max_score_batch, "machines")?;
    let _rows = state.kit.admit_rows(req.machines.len())?;
    state.kit.metrics.observe_batch(req.machines.len());
    let route = state.models.route();
    let mut rows = Vec::with_capacity(req.machines.len());
    for (i, h) in req.machines.iter().enumerate() {
        rows.push(state.history_row(&route.primary.model, h).map_err(|e| {
            ApiError::new(e.status, e.code, format!("machines[{i}]: {}", e.message))
        })?);
    }
    state.kit.call_model(rows.len()).await?;
    let entities: Vec<u64> = req.machines.iter().map(History::entity).collect();
    let (answers, versions) = state.assess_routed(&route, &entities, &rows);
    Ok(Json(ScoreBatchResponse {
        scores: answers.into_iter().map(scored).collect(),
        versions,
        model_version: route.primary.version.clone(),
    }))
}

/// Drift, health and realised performance together.
#[derive(Debug, Serialize, Deserialize)]
pub struct Monitoring {
    pub drift: Option<MonitorReport>,
    pub health: Vec<HealthRates>,
    pub realised: Realised,
    pub realised_rmse: Option<f64>,
}

/// The recent readings against the model's training profile, per-sensor health, prediction
/// drift and the realised error from reported failures and services.
#[utoipa::path(get, path = "/v1/maintenance/drift", tag = "monitoring", responses((status = 200, description = "Drift of the recent readings", body = DriftResponse), Shed))]
async fn drift(State(state): Shared) -> Result<Json<DriftResponse>, ApiError> {
    state.kit.heavy(&state, drift_now).await.map(Json)
}

fn drift_now(state: &AppState) -> DriftResponse {
    let serving = state.models.get();
    let readings = state.recent.snapshot();
    let predictions = state.recent_predictions.snapshot();
    let model = &serving.model;
    let health = monitor::health_rates(&model.spec.sensors, &lock(&state.health));
    let realised = lock(&state.realised).clone();
    let mut response = DriftResponse::check(
        &serving.version,
        &readings,
        state.config.server.drift_min,
        |r| Some(monitor::check(model, r, Some(&predictions))),
    );
    let body = Monitoring {
        drift: response
            .report
            .take()
            .and_then(|v| serde_json::from_value(v).ok()),
        health,
        realised_rmse: realised.rmse(),
        realised,
    };
    response.report = serde_json::to_value(body).ok();
    response
}

impl AppState {
    fn set_gauges(&self, m: &Metrics) {
        for (code, n) in lock(&self.refused).iter() {
            m.set_counter(
                &format!("refused_{code}_total"),
                "Readings and requests refused for this reason.",
                *n as f64,
            );
        }
        let machines: usize = self.shards.iter().map(|s| lock(s).len()).sum();
        m.set_gauge(
            "machines_tracked",
            "Machines with online state.",
            machines as f64,
        );
        let serving = self.models.get();
        for (name, h) in serving
            .model
            .spec
            .sensors
            .iter()
            .zip(lock(&self.health).iter())
        {
            let n = h.readings.max(1) as f64;
            m.set_gauge(
                &format!("sensor_{name}_missing_ratio"),
                "Share of readings with this sensor missing.",
                h.missing as f64 / n,
            );
            m.set_gauge(
                &format!("sensor_{name}_stuck_ratio"),
                "Share of readings equal to the sensor's previous one.",
                h.stuck as f64 / n,
            );
        }
    }

    pub fn watch_registry(&self) -> tokio::task::JoinHandle<()> {
        self.models.watch(self.config.server.watch_every)
    }

    pub fn serving_version(&self) -> String {
        self.models.get().version.clone()
    }
}

/// The maintenance routes' OpenAPI 3.1 document (the operational routes are merged in).
#[derive(OpenApi)]
#[openapi(info(
    title = "mlsd maintenance",
    description = "Predictive maintenance: sensor readings per machine (batch or NDJSON stream) into an online state, remaining useful life, failure risk and cost-based alerts; stateless scoring of a history; drift, sensor health and realised error."
))]
pub struct ApiDoc;

pub fn router(state: Arc<AppState>) -> Router {
    let ops = Ops::new(state.models.clone(), &state.kit, ApiDoc::openapi())
        .ready_details(&state, |s| {
            let sensors = s.models.get().model.spec.sensors.clone();
            serde_json::Map::from_iter([("sensors".to_string(), sensors.into())])
        })
        .gauges(&state, AppState::set_gauges)
        .constraints(&state, constraints);
    let routes = OpenApiRouter::new()
        .routes(routes!(readings))
        .routes(routes!(machine))
        .routes(routes!(alerts))
        .routes(routes!(event))
        .routes(routes!(score))
        .routes(routes!(score_batch))
        .routes(routes!(drift));
    let long_lived = OpenApiRouter::new().routes(routes!(stream));
    app(&state.kit, ops, state.clone(), routes, long_lived)
}

/// The bounds the handlers apply, stated in the document from this server's settings.
fn constraints(state: &AppState, api: &mut utoipa::openapi::OpenApi) {
    use mlsd_core::server::contract::Target::{Field, Param};
    use mlsd_core::server::contract::{item_range, number_range, tuple_ranges};
    let serving = state.models.get();
    let model = &serving.model;
    let c = &state.config;
    let last_machine = model.inventory.keys().next_back().copied().unwrap_or(1);
    for schema in ["ReadingIn", "History"] {
        number_range(
            api,
            Field(schema, "machine_id"),
            1.0,
            f64::from(last_machine),
        );
    }
    number_range(
        api,
        Param("/v1/maintenance/machines/{machine_id}", "machine_id"),
        1.0,
        f64::from(last_machine),
    );
    number_range(
        api,
        Param("/v1/maintenance/machines/{machine_id}/events", "machine_id"),
        1.0,
        f64::from(last_machine),
    );
    for schema in ["ReadingIn", "HistoryReading", "EventRequest"] {
        number_range(api, Field(schema, "cycle"), 1.0, f64::from(MAX_CYCLE));
    }
    item_range(api, Field("ReadingsRequest", "readings"), 1, c.max_batch);
    item_range(
        api,
        Field("ScoreBatchRequest", "machines"),
        1,
        c.max_score_batch,
    );
    item_range(api, Field("History", "readings"), 1, c.max_history);
    // Each sensor's plausible range: a value outside is refused as impossible.
    tuple_ranges(api, Field("ReadingIn", "values"), &model.bounds);
    tuple_ranges(api, Field("HistoryReading", "values"), &model.bounds);
}
