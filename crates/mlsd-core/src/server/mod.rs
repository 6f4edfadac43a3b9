//! One server skeleton for every design: the settings they share, the model slot that follows
//! the registry, and the routes every API has.
//!
//! ```text
//! design routes (its own handlers, its own state)     ─┐
//! / (dashboard) /docs /health /ready /metrics /openapi ─┼─► common layers (metrics, body
//! /v1/models  /admin/models/{v}/promote  …/rollback    ─┤    limit, shedding, time budget,
//! /admin/models/{v}/rollout  /admin/rollout             ─┘    JSON 404)
//! registry pointer.json ─watched─► Models<M> ─hot swap─► the design's handlers (one Arc each)
//! ```
//!
//! A design writes its request handlers and an [`Artifact`]; [`Kit`] gives it the limits, the
//! micro-batcher and the simulated model, [`Models`] the versioned model with promote, rollback
//! and registry watching, and [`app`] the operational routes around its own.
//!
//! Talking points: hot swap and rollback with no failed request (readers take one `Arc` per
//! request); a version is checked before the pointer moves, so a refused promote changes
//! nothing; the same contract on every design (tested once, in `tests/it/contract.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Html;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::ToSchema;

use crate::accelerator::{Accelerator, ModelCost};
use crate::design::Artifact;
use crate::registry::Registry;
use crate::serve::{
    with_common_layers, ApiError, Limits, Metrics, MicroBatchConfig, MicroBatcher, QueueDelay, Shed,
};

mod admin;
pub mod contract;
mod live;
mod models;
pub mod ndjson;
mod rollout;

pub use admin::AdminToken;
pub use live::{Bounded, CacheStats, DriftResponse, Recent};
pub use models::{ModelAdmin, Models, ModelsResponse, ServingResponse, VersionSummary};
pub use rollout::{Candidate, RolloutStatus, Route};
/// A design's routes: `OpenApiRouter::new().routes(routes!(handler))`, each route declared
/// once, by its handler's `#[utoipa::path]` (path, method, answers).
pub use utoipa_axum::router::OpenApiRouter;

/// The settings every design's server has, with their defaults (a design overrides some).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body (bytes).
    pub body_limit: usize,
    /// Requests in flight before shedding with 503.
    pub max_in_flight: usize,
    /// Time budget per request (503 `timeout` past it).
    pub timeout: Duration,
    /// Shed new requests while the runtime's queueing delay exceeds this, and refuse a
    /// simulated-model call queued behind more work than this (`None`: only the in-flight
    /// limit sheds). Off in the library: on a shared test machine the OS descheduling the
    /// runtime reads as queueing; `mlsd serve` turns it on (100 ms).
    pub max_queue_delay: Option<Duration>,
    /// `Some`: the design's single-item path goes through a micro-batcher.
    pub micro_batch: Option<MicroBatchConfig>,
    /// A simulated heavier model in front of the real one (benchmarks only; `None`: off).
    pub simulated_model: Option<ModelCost>,
    /// How often the registry pointer is checked for promotions and rollbacks.
    pub watch_every: Duration,
    /// Recent traffic kept for the live drift check, and the least before it reports.
    pub drift_window: usize,
    pub drift_min: usize,
    /// The token the admin routes require (`None`: they answer 403 `admin_disabled`).
    pub admin_token: Option<AdminToken>,
    /// Rows (payments, texts) being scored at once across batch requests; a batch that would
    /// pass this is shed with 503 before any work (see [`Kit::admit_rows`]).
    pub max_rows_in_flight: usize,
    /// What a candidate must show in shadow and at each canary step (checked every
    /// `watch_every`); see `POST /admin/models/{version}/rollout`.
    pub rollout: crate::lifecycle::Gates,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 1 << 20,
            max_in_flight: 512,
            timeout: Duration::from_secs(1),
            max_queue_delay: None,
            micro_batch: None,
            simulated_model: None,
            watch_every: Duration::from_secs(1),
            drift_window: 50_000,
            drift_min: 1_000,
            admin_token: None,
            max_rows_in_flight: 16_384,
            rollout: crate::lifecycle::Gates::default(),
        }
    }
}

/// What a server's settings build: metrics, the limits, and the optional simulated model.
pub struct Kit {
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    queue_delay: Option<Arc<QueueDelay>>,
    accelerator: Option<Arc<Accelerator>>,
    /// One permit: heavy work (drift checks) runs one at a time, see [`Kit::heavy`].
    heavy: Arc<Semaphore>,
    /// One permit per row being scored by a batch request, see [`Kit::admit_rows`].
    rows: Arc<Semaphore>,
}

impl Kit {
    /// Metrics named `mlsd_<design>_…`; with queue-delay shedding or a simulated model, call
    /// it inside a tokio runtime.
    pub fn new(design: &str, config: ServerConfig) -> Result<Kit, String> {
        let metrics = Arc::new(Metrics::new(&format!("mlsd_{design}")));
        let queue_delay = match config.max_queue_delay {
            None => None,
            Some(_) => {
                tokio::runtime::Handle::try_current()
                    .map_err(|_| "queue-delay shedding needs a tokio runtime".to_string())?;
                Some(QueueDelay::spawn(Duration::from_millis(5)))
            }
        };
        let accelerator = Accelerator::spawn_if(config.simulated_model)
            .map_err(|e| format!("cannot start the simulated accelerator: {e}"))?;
        Ok(Kit {
            metrics,
            queue_delay,
            accelerator,
            heavy: Arc::new(Semaphore::new(1)),
            rows: Arc::new(Semaphore::new(config.max_rows_in_flight)),
            config,
        })
    }

    /// Runs CPU-heavy work (a drift check: 10–100 ms of statistics) on the blocking pool, one
    /// such job at a time per server; later callers wait for the permit (within their time
    /// budget).
    ///
    /// Talking point: the async workers only ever run short steps. A drift check on them
    /// stalled every request queued behind it (issue 15 measured `/health` going from 0.4 ms
    /// to ~90 ms with four clients polling drift); off them, and one at a time, it can take at
    /// most one core.
    pub async fn heavy<S: Send + Sync + 'static, T: Send + 'static>(
        &self,
        state: &Arc<S>,
        work: fn(&S) -> T,
    ) -> Result<T, ApiError> {
        let _permit = self
            .heavy
            .acquire()
            .await
            .map_err(|_| ApiError::internal("the heavy-work gate was closed"))?;
        let state = state.clone();
        tokio::task::spawn_blocking(move || work(&state))
            .await
            .map_err(ApiError::internal)
    }

    /// Admits a batch of `rows` by the work it brings, not as one request: the returned
    /// permit holds `rows` of the server's row budget until dropped; 503 when the rows in
    /// flight would pass `max_rows_in_flight` (or the batch alone is larger than it).
    ///
    /// Talking point: admission by predicted work. The in-flight limit counts a 4,096-row
    /// batch as one request, so under overload it admits more work than the cores can finish
    /// within the budget (issue 15 measured an accepted p99 of 6.84 s); counting rows keeps
    /// what is admitted finishable and sheds the rest at once.
    pub fn admit_rows(&self, rows: usize) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
        let n = u32::try_from(rows).unwrap_or(u32::MAX);
        self.rows.clone().try_acquire_many_owned(n).map_err(|_| {
            self.metrics.add_counter(
                "rows_shed_total",
                "Rows of batch requests shed because the row budget was full.",
                rows as f64,
            );
            ApiError::overloaded(format!(
                "{rows} rows would pass the {} rows in flight this server scores at once; retry later",
                self.config.max_rows_in_flight
            ))
        })
    }

    /// The micro-batcher the settings ask for (if any): each batch runs `work` and makes one
    /// call to the simulated model. Call it inside a tokio runtime (the batcher is a task).
    pub fn micro_batcher<I, O, F>(&self, work: F) -> Result<Option<MicroBatcher<I, O>>, String>
    where
        I: Send + 'static,
        O: Send + 'static,
        F: Fn(Vec<I>) -> Vec<O> + Send + 'static,
    {
        let Some(config) = self.config.micro_batch else {
            return Ok(None);
        };
        tokio::runtime::Handle::try_current()
            .map_err(|_| "micro-batching needs a tokio runtime".to_string())?;
        Ok(Some(MicroBatcher::spawn_on(
            config,
            self.metrics.clone(),
            self.accelerator.clone(),
            work,
        )))
    }

    /// Pays the simulated model's cost for `rows` rows (nothing without one); 503 when its
    /// queue holds more than the admission limit.
    pub async fn call_model(&self, rows: usize) -> Result<(), ApiError> {
        match &self.accelerator {
            Some(device) => device.call(rows, self.config.max_queue_delay).await,
            None => Ok(()),
        }
    }

    /// The kit and the registry's current version of `M`: the first lines of every design's
    /// `state` (with queue-delay shedding or a simulated model, call it in a tokio runtime).
    pub fn open<M: Artifact>(
        registry: Registry,
        config: ServerConfig,
    ) -> crate::Result<(Kit, Arc<Models<M>>)> {
        let kit = Kit::new(M::DESIGN, config).map_err(crate::Error::Config)?;
        let models =
            Models::load(registry, kit.metrics.clone())?.with_gates(kit.config.rollout.clone());
        Ok((kit, Arc::new(models)))
    }

    fn limits(&self) -> Limits {
        Limits {
            in_flight: Arc::new(Semaphore::new(self.config.max_in_flight)),
            timeout: self.config.timeout,
            max_queue_delay: self.queue_delay.clone().zip(self.config.max_queue_delay),
        }
    }
}

/// `GET /ready`: the model serving, and what the design adds (vocabulary size, snapshot …).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// `ready`: a verified model is loaded (the server does not listen before that).
    pub status: String,
    pub model_version: String,
    pub model: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

type ReadyDetails = Box<dyn Fn() -> serde_json::Map<String, serde_json::Value> + Send + Sync>;
type ReadyCheck = Box<dyn Fn() -> Result<(), ApiError> + Send + Sync>;
type BeforeRender = Box<dyn Fn(&Metrics) + Send + Sync>;
type Constraints = Box<dyn FnOnce(&mut utoipa::openapi::OpenApi) + Send + Sync>;

/// What the operational routes answer from: a design's models, metrics and contract.
pub struct Ops {
    models: Arc<dyn ModelAdmin>,
    metrics: Arc<Metrics>,
    admin_token: Option<AdminToken>,
    openapi: utoipa::openapi::OpenApi,
    details: ReadyDetails,
    check: ReadyCheck,
    before_render: BeforeRender,
    constraints: Option<Constraints>,
}

impl Ops {
    /// `api` is the design's own document (title, description); [`app`] adds every route.
    pub fn new(models: Arc<dyn ModelAdmin>, kit: &Kit, api: utoipa::openapi::OpenApi) -> Ops {
        let mut openapi = api;
        let said = openapi.info.description.take().unwrap_or_default();
        openapi.info.description = Some(format!(
            "{said} Every error is a JSON body {{\"error\": {{\"code\", \"message\"}}}}."
        ));
        // The admin routes' credential, as the document states it (`security` on each route).
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "admin_token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        Ops {
            models,
            metrics: kit.metrics.clone(),
            admin_token: kit.config.admin_token.clone(),
            openapi,
            details: Box::new(serde_json::Map::new),
            check: Box::new(|| Ok(())),
            before_render: Box::new(|_| {}),
            constraints: None,
        }
    }

    /// Fields the design adds to `/ready`, read from its state (held weakly: the routes do
    /// not keep the state alive).
    pub fn ready_details<T: Send + Sync + 'static>(
        mut self,
        state: &Arc<T>,
        details: fn(&T) -> serde_json::Map<String, serde_json::Value>,
    ) -> Ops {
        let state = Arc::downgrade(state);
        self.details = Box::new(move || state.upgrade().map(|s| details(&s)).unwrap_or_default());
        self
    }

    /// What must hold for `/ready` to answer 200 besides a loaded model (its online state
    /// reachable and loaded, …); an error is answered as it is (a 503), so a load balancer
    /// stops sending this replica traffic until it holds again.
    pub fn readiness<T: Send + Sync + 'static>(
        mut self,
        state: &Arc<T>,
        check: fn(&T) -> Result<(), ApiError>,
    ) -> Ops {
        let state = Arc::downgrade(state);
        self.check = Box::new(move || state.upgrade().map_or(Ok(()), |s| check(&s)));
        self
    }

    /// Gauges the design sets from its state just before `/metrics` renders (cache counts,
    /// sessions, topics …).
    pub fn gauges<T: Send + Sync + 'static>(
        mut self,
        state: &Arc<T>,
        gauges: fn(&T, &Metrics),
    ) -> Ops {
        let state = Arc::downgrade(state);
        self.before_render = Box::new(move |m| {
            if let Some(s) = state.upgrade() {
                gauges(&s, m);
            }
        });
        self
    }
}

impl Ops {
    /// The rules the design's handlers apply with this server's settings (known ids, batch
    /// sizes, text lengths), written by `constraints` into the whole assembled document —
    /// long-lived routes included — once, when [`app`] builds it. See [`contract`].
    pub fn constraints<T: Send + Sync + 'static>(
        mut self,
        state: &Arc<T>,
        constraints: fn(&T, &mut utoipa::openapi::OpenApi),
    ) -> Ops {
        let state = state.clone();
        self.constraints = Some(Box::new(move |api| constraints(&state, api)));
        self
    }
}

/// A design's API: its own `routes` (on its `state`) plus the operational ones, with the
/// common layers around both; the OpenAPI document is assembled from the same routers, so a
/// route cannot be served without being documented or documented without being served.
/// `long_lived` routes (streams, live feeds) are counted in the metrics but keep their own
/// bounds instead of the per-request time budget and shedding.
pub fn app<S: Clone + Send + Sync + 'static>(
    kit: &Kit,
    mut ops: Ops,
    state: S,
    routes: OpenApiRouter<S>,
    long_lived: OpenApiRouter<S>,
) -> Router {
    use utoipa_axum::routes;
    let (routes, api) = routes.with_state::<()>(state.clone()).split_for_parts();
    let (long_lived, long_api) = long_lived.with_state::<()>(state).split_for_parts();
    let operations = OpenApiRouter::<Arc<Ops>>::new()
        .routes(routes!(crate::serve::health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(docs))
        .routes(routes!(index))
        .routes(routes!(models))
        .routes(routes!(admin::promote))
        .routes(routes!(admin::rollback))
        .routes(routes!(admin::start_rollout))
        .routes(routes!(admin::rollout_status));
    for part in [api, long_api, operations.get_openapi().clone()] {
        ops.openapi.merge(part);
    }
    if let Some(constraints) = ops.constraints.take() {
        constraints(&mut ops.openapi);
    }
    let (operations, _) = operations.with_state::<()>(Arc::new(ops)).split_for_parts();
    let app = with_common_layers(
        routes.merge(operations),
        kit.limits(),
        kit.config.body_limit,
        kit.metrics.clone(),
    );
    app.merge(long_lived.layer(axum::middleware::from_fn_with_state(
        kit.metrics.clone(),
        crate::serve::track,
    )))
}

/// The API docs page: this server's OpenAPI document rendered in the browser, with a form
/// to try each route. Self-contained (no CDN), so it works offline.
#[utoipa::path(get, path = "/docs", tag = "operations", responses((status = 200, description = "HTML page", body = String, content_type = "text/html"), Shed))]
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

/// Where a browser lands: the live dashboard — requests/s, p50/p99, 503s, rows by model
/// version and role (shadow, canary), the design's own counters and gauges as shares (decision
/// tiers, labels, cache hits) and its drift check — drawn from this server's own `/metrics`,
/// `/ready`, `/v1/models` and drift route. Self-contained (no CDN), so it works offline.
// Talking point: a dashboard needs no extra service to be useful on a laptop; in production
// the same `/metrics` feed Prometheus and Grafana.
#[utoipa::path(get, path = "/", tag = "operations", responses((status = 200, description = "HTML page", body = String, content_type = "text/html"), Shed))]
async fn index() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

/// Readiness: a verified model is loaded (the server does not listen before that) and what the
/// design needs besides is there (e.g. its online state in Redis); 503 otherwise.
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "Ready", body = Ready), Shed))]
async fn ready(State(ops): State<Arc<Ops>>) -> Result<Json<Ready>, ApiError> {
    (ops.check)()?;
    let (model_version, model) = ops.models.serving();
    Ok(Json(Ready {
        status: "ready".into(),
        model_version,
        model,
        details: (ops.details)(),
    }))
}

/// Prometheus metrics: requests by route and status, latency, scores, micro-batch sizes, the
/// model version, and the design's own gauges.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"), Shed))]
async fn metrics(State(ops): State<Arc<Ops>>) -> String {
    (ops.before_render)(&ops.metrics);
    ops.metrics.render()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document", body = Object), Shed))]
async fn openapi(State(ops): State<Arc<Ops>>) -> Json<utoipa::openapi::OpenApi> {
    Json(ops.openapi.clone())
}

/// The registry's versions, which one is current and which one serves.
#[utoipa::path(get, path = "/v1/models", tag = "models", responses((status = 200, description = "Registry versions", body = ModelsResponse), Shed))]
async fn models(State(ops): State<Arc<Ops>>) -> Result<Json<ModelsResponse>, ApiError> {
    ops.models.list().map(Json)
}
