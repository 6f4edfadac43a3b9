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
//! The per-machine state lives in this process (16 shards). With `state: StateBackend::Redis`
//! every write (readings, stream lines, events) goes through a log every replica applies in
//! order ([`replicated`]), so any replica answers for any machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Json, Router};
use mlsd_core::follow::{Follower, Position};
use mlsd_core::online_state::StateBackend;
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
    /// This process only (the default), or writes replicated through a log in Redis.
    pub state: StateBackend,
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
            state: StateBackend::InMemory,
        }
    }
}

mod machines;
mod replicated;
mod score;
mod stream;

pub use machines::{AlertsResponse, EventKind, EventRequest, EventResponse, MachineResponse};
pub use score::{
    History, HistoryReading, ScoreBatchRequest, ScoreBatchResponse, ScoreResponse, Scored,
};
pub use stream::StreamSummary;

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
    /// The replicated log's follower, with `state: StateBackend::Redis`; the last entry
    /// applied, and what applying the latest entries did (for the handlers that appended them).
    follower: OnceLock<Follower>,
    log_position: Mutex<Position>,
    outcomes: Mutex<BTreeMap<Position, replicated::Outcome>>,
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
    let state = Arc::new(AppState {
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
        follower: OnceLock::new(),
        log_position: Mutex::new(Position::default()),
        outcomes: Mutex::new(BTreeMap::new()),
        config,
    });
    let follower = mlsd_core::follow::follow(&state, &state.config.state, replicated::apply)
        .map_err(|e| crate::Error::Config(e.to_string()))?;
    if let Some(follower) = follower {
        let _ = state.follower.set(follower);
    }
    Ok(state)
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
        let row = tracked.state.push(
            &model.spec,
            &model.bounds,
            reading.clone(),
            Some(&mut health),
        )?;
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
            // Talking point [experiments]: shadow traffic off the answer path (a bounded queue; a
            // full one drops the copy, never the request).
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
        // Talking point [experiments]: canary by machine — one machine is assessed by one model.
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
    let rows = (mine.len() as u64, differ as u64);
    candidate.compared(metrics, role, (&risks(theirs), &risks(mine)), rows, took);
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
    let (assessments, refused) = match state.follower.get() {
        Some(follower) => {
            let entry = replicated::LogEntry::Readings {
                readings: req.readings,
            };
            let position = replicated::append(&state, follower, &entry).await?;
            replicated::readings_outcome(&state, position)?
        }
        None => state.ingest(&route, checked),
    };
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
        let (mut machines, mut in_alert) = (0, 0);
        for shard in &self.shards {
            let shard = lock(shard);
            machines += shard.len();
            in_alert += shard
                .values()
                .filter(|t| t.latest.as_ref().is_some_and(|a| a.alert))
                .count();
        }
        m.set_gauge(
            "machines_tracked",
            "Machines with online state.",
            machines as f64,
        );
        m.set_gauge(
            "machines_in_alert",
            "Machines whose latest assessment is an alert (what the crews are sent to).",
            in_alert as f64,
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
        .readiness(&state, |s| match s.follower.get() {
            Some(follower) => Ok(follower.ready()?),
            None => Ok(()),
        })
        .ready_details(&state, |s| {
            let sensors = s.models.get().model.spec.sensors.clone();
            serde_json::Map::from_iter([
                ("sensors".to_string(), sensors.into()),
                ("state".to_string(), s.config.state.describe().into()),
                (
                    "log_position".to_string(),
                    lock(&s.log_position).to_string().into(),
                ),
            ])
        })
        .gauges(&state, AppState::set_gauges)
        .constraints(&state, constraints);
    let routes = OpenApiRouter::new()
        .routes(routes!(readings))
        .routes(routes!(machines::machine))
        .routes(routes!(machines::alerts))
        .routes(routes!(machines::event))
        .routes(routes!(score::score))
        .routes(routes!(score::score_batch))
        .routes(routes!(drift));
    let long_lived = OpenApiRouter::new().routes(routes!(stream::stream));
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
