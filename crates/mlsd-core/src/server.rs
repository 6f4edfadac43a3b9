//! One server skeleton for every design: the settings they share, the model slot that follows
//! the registry, and the routes every API has.
//!
//! ```text
//! design routes (its own handlers, its own state)  ─┐
//! /health /ready /metrics /openapi.json             ─┼─► common layers (metrics, body limit,
//! /v1/models  /admin/models/{v}/promote  …/rollback ─┘    shedding, time budget, JSON 404)
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

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::accelerator::{Accelerator, ModelCost};
use crate::design::{self, Artifact, Versioned};
use crate::registry::Registry;
use crate::serve::{
    with_common_layers, ApiError, ErrorBody, Limits, Metrics, MicroBatchConfig, MicroBatcher,
    QueueDelay, Shed, Slot,
};

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
        }
    }
}

/// What a server's settings build: metrics, the limits, and the optional simulated model.
pub struct Kit {
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    queue_delay: Option<Arc<QueueDelay>>,
    accelerator: Option<Arc<Accelerator>>,
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
            config,
            metrics,
            queue_delay,
            accelerator,
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
        let models = Models::load(registry, kit.metrics.clone())?;
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

type SwapHook = Box<dyn Fn(&str) + Send + Sync>;

/// The serving model of design `M`: a registry version in a hot-swappable slot.
pub struct Models<M: Artifact> {
    registry: Registry,
    slot: Slot<Versioned<M>>,
    metrics: Arc<Metrics>,
    /// Run after every swap, with the new version (drop caches and windows the old model
    /// filled).
    hooks: Mutex<Vec<SwapHook>>,
    /// Held across every change (promote, rollback, the watcher's check), so the watcher never
    /// reads the pointer between a swap and the pointer write that goes with it.
    changing: Mutex<()>,
}

impl<M: Artifact> Models<M> {
    /// Loads the registry's current version of `M`'s design.
    pub fn load(registry: Registry, metrics: Arc<Metrics>) -> crate::Result<Models<M>> {
        let current = design::load::<M>(&registry, None)?;
        Ok(Models::with(registry, metrics, current))
    }

    /// Serves `current`, already loaded (and follows the registry from then on).
    pub fn with(registry: Registry, metrics: Arc<Metrics>, current: Versioned<M>) -> Models<M> {
        metrics.set_model_version(&current.version);
        Models {
            registry,
            slot: Slot::new(current),
            metrics,
            hooks: Mutex::new(Vec::new()),
            changing: Mutex::new(()),
        }
    }

    /// The version serving now; held by the caller for as long as it needs it.
    pub fn get(&self) -> Arc<Versioned<M>> {
        // Talking point: hot swap — one Arc per request, so a concurrent promote or rollback
        // cannot change the model mid-request, and each answer names the version that scored it.
        self.slot.get()
    }

    /// Adds a hook run after every swap.
    pub fn on_swap(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        self.hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(hook));
    }

    /// Loads, verifies and decodes `version`, checks it may replace the serving one, then
    /// swaps it in. Nothing changes when any step fails.
    fn swap_to(&self, version: &str) -> Result<(), ApiError> {
        if self.get().version == version {
            return Ok(());
        }
        let next = design::load::<M>(&self.registry, Some(version)).map_err(registry_error)?;
        if let Some(why) = self.get().model.refuses(&next.model) {
            return Err(ApiError::new(StatusCode::CONFLICT, "refused", why));
        }
        self.metrics.set_model_version(&next.version);
        self.slot.replace(next);
        for hook in self.hooks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            hook(version);
        }
        Ok(())
    }

    /// Swaps to the version the registry pointer names, if another one serves.
    fn follow_pointer(&self) -> Result<(), ApiError> {
        let _changing = self.change();
        let Ok(Some(current)) = self.registry.pointer(M::DESIGN).map(|p| p.current) else {
            return Ok(());
        };
        self.swap_to(&current).map_err(|e| {
            let serving = self.get().version.clone();
            ApiError::new(
                e.status,
                e.code,
                format!("{}: keeping {serving}: {}", M::DESIGN, e.message),
            )
        })
    }

    fn change(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the registry pointer every `every` and follows it (a `mlsd models promote` or
    /// `rollback` takes effect without a restart). Ends when the server's state is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(models) = weak.upgrade() else { break };
                // Loading a version reads and decodes files: off the async workers.
                let checked = tokio::task::spawn_blocking(move || models.follow_pointer()).await;
                if let Ok(Err(e)) = checked {
                    eprintln!("model watch: {}", e.message);
                }
            }
        })
    }
}

/// What the admin routes need of a design's models, whatever the design.
pub trait ModelAdmin: Send + Sync + 'static {
    fn serving(&self) -> (String, String);
    fn list(&self) -> Result<ModelsResponse, ApiError>;
    fn promote(&self, version: &str) -> Result<String, ApiError>;
    fn rollback(&self) -> Result<String, ApiError>;
}

impl<M: Artifact> ModelAdmin for Models<M> {
    fn serving(&self) -> (String, String) {
        let m = self.get();
        (m.version.clone(), m.model_name.clone())
    }

    fn list(&self) -> Result<ModelsResponse, ApiError> {
        let versions = self.registry.list(M::DESIGN).map_err(ApiError::internal)?;
        Ok(ModelsResponse {
            serving: self.get().version.clone(),
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
        })
    }

    fn promote(&self, version: &str) -> Result<String, ApiError> {
        let _changing = self.change();
        // Swap first: a version that does not load or cannot serve never reaches the pointer.
        self.swap_to(version)?;
        self.registry
            .promote(M::DESIGN, version)
            .map_err(registry_error)?;
        Ok(version.to_string())
    }

    fn rollback(&self) -> Result<String, ApiError> {
        let _changing = self.change();
        let pointer = self.registry.rollback(M::DESIGN).map_err(registry_error)?;
        let version = pointer.current.unwrap_or_default();
        self.swap_to(&version)?;
        Ok(version)
    }
}

fn registry_error(e: crate::Error) -> ApiError {
    match e {
        crate::Error::VersionNotFound { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_version", e.to_string())
        }
        crate::Error::CorruptedVersion { .. }
        | crate::Error::IncompleteVersion { .. }
        | crate::Error::NothingToRollBack { .. }
        | crate::Error::Json { .. }
        | crate::Error::Config(_) => ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()),
        other => ApiError::internal(other),
    }
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
    /// The version this server answers with (may lag the registry by one watch interval).
    pub serving: String,
    pub versions: Vec<VersionSummary>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServingResponse {
    /// The version serving after the change.
    pub serving: String,
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
type BeforeRender = Box<dyn Fn(&Metrics) + Send + Sync>;

/// What the operational routes answer from: a design's models, metrics and contract.
pub struct Ops {
    models: Arc<dyn ModelAdmin>,
    metrics: Arc<Metrics>,
    openapi: utoipa::openapi::OpenApi,
    details: ReadyDetails,
    before_render: BeforeRender,
}

impl Ops {
    /// `api` is the design's own OpenAPI document; the operational routes are added to it.
    pub fn new(models: Arc<dyn ModelAdmin>, kit: &Kit, api: utoipa::openapi::OpenApi) -> Ops {
        let mut openapi = api;
        openapi.merge(OpsApi::openapi());
        let said = openapi.info.description.take().unwrap_or_default();
        openapi.info.description = Some(format!(
            "{said} Every error is a JSON body {{\"error\": {{\"code\", \"message\"}}}}."
        ));
        Ops {
            models,
            metrics: kit.metrics.clone(),
            openapi,
            details: Box::new(serde_json::Map::new),
            before_render: Box::new(|_| {}),
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

/// The operational routes' contract, merged into every design's document.
#[derive(OpenApi)]
#[openapi(paths(
    crate::serve::health,
    ready,
    metrics,
    openapi,
    models,
    promote,
    rollback
))]
struct OpsApi;

/// A design's API: its own routes plus the operational ones, with the common layers around
/// both. `long_lived` routes (streams, live feeds) are counted in the metrics but keep their
/// own bounds instead of the per-request time budget and shedding.
pub fn app(kit: &Kit, ops: Ops, routes: Router, long_lived: Option<Router>) -> Router {
    let operations = Router::new()
        .route("/health", get(crate::serve::health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/models", get(models))
        .route("/admin/models/{version}/promote", post(promote))
        .route("/admin/models/rollback", post(rollback))
        .with_state(Arc::new(ops));
    let app = with_common_layers(
        routes.merge(operations),
        kit.limits(),
        kit.config.body_limit,
        kit.metrics.clone(),
    );
    match long_lived {
        None => app,
        Some(long) => app.merge(long.layer(axum::middleware::from_fn_with_state(
            kit.metrics.clone(),
            crate::serve::track,
        ))),
    }
}

/// Readiness: a verified model is loaded (the server does not listen before that).
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "Ready", body = Ready), Shed))]
async fn ready(State(ops): State<Arc<Ops>>) -> Json<Ready> {
    let (model_version, model) = ops.models.serving();
    Json(Ready {
        status: "ready".into(),
        model_version,
        model,
        details: (ops.details)(),
    })
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

/// Promotes a registry version and swaps it in (atomically; in-flight requests finish with
/// the old model). The version is loaded and checked first: a refusal changes nothing.
#[utoipa::path(post, path = "/admin/models/{version}/promote", tag = "models", params(("version" = String, Path, description = "Registry version, e.g. v0002")), responses((status = 200, description = "Serving the promoted version", body = ServingResponse), (status = 404, description = "No such version", body = ErrorBody), (status = 409, description = "The version does not verify or cannot be served", body = ErrorBody), Shed))]
async fn promote(
    State(ops): State<Arc<Ops>>,
    Path(version): Path<String>,
) -> Result<Json<ServingResponse>, ApiError> {
    let models = ops.models.clone();
    let serving = off_the_runtime(move || models.promote(&version)).await?;
    Ok(Json(ServingResponse { serving }))
}

/// Runs a registry change (files read and decoded, maybe for seconds) on the blocking pool,
/// so requests keep being answered meanwhile.
async fn off_the_runtime(
    change: impl FnOnce() -> Result<String, ApiError> + Send + 'static,
) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(change)
        .await
        .map_err(ApiError::internal)?
}

/// Moves `current` back to the previously promoted version and swaps it in.
#[utoipa::path(post, path = "/admin/models/rollback", tag = "models", responses((status = 200, description = "Serving the previous version", body = ServingResponse), (status = 409, description = "Nothing to roll back to", body = ErrorBody), Shed))]
async fn rollback(State(ops): State<Arc<Ops>>) -> Result<Json<ServingResponse>, ApiError> {
    let models = ops.models.clone();
    let serving = off_the_runtime(move || models.rollback()).await?;
    Ok(Json(ServingResponse { serving }))
}

/// Hits and misses of a cache in front of the model (repeated texts, real-time lists).
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheStats {
    pub fn record(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// hits / (hits + misses); 0 before any lookup.
    pub fn hit_rate(&self) -> f64 {
        let (hits, misses) = self.counts();
        hits as f64 / (hits + misses).max(1) as f64
    }

    /// `<prefix>_cache_hits`, `_cache_misses` and `_cache_hit_rate` on `/metrics`; `what` names
    /// the cached answers ("predictions", "real-time lists").
    pub fn export(&self, m: &Metrics, what: &str) {
        // Talking point: the cache's hit rate is the number that says whether it earns its
        // memory.
        let (hits, misses) = self.counts();
        m.set_gauge(
            "cache_hits",
            &format!("{what} served from the cache."),
            hits as f64,
        );
        m.set_gauge("cache_misses", &format!("{what} computed."), misses as f64);
        m.set_gauge(
            "cache_hit_rate",
            &format!("hits / (hits + misses) of the {what} cache."),
            self.hit_rate(),
        );
    }
}

/// The most recent `capacity` items of live traffic (rows, texts, events), for drift checks.
pub struct Recent<T> {
    capacity: usize,
    items: Mutex<VecDeque<T>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            items: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds items, dropping the oldest past the capacity.
    pub fn extend(&self, new: impl IntoIterator<Item = T>) {
        let mut items = self.lock();
        items.extend(new);
        let excess = items.len().saturating_sub(self.capacity);
        items.drain(..excess);
    }

    /// A copy, oldest first: taken under the lock, so checks run after it is released and
    /// never hold up traffic.
    pub fn snapshot(&self) -> Vec<T> {
        self.lock().iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// The body of every design's `GET /v1/<design>/drift`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DriftResponse {
    /// The version whose reference the window is compared with.
    pub model_version: String,
    /// Items (rows, texts, events) in the live window now.
    pub window: usize,
    /// Items needed before a verdict is given (fewer: too noisy to judge).
    pub min_window: usize,
    /// The design's drift report; null until the window holds `min_window` items.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

impl DriftResponse {
    /// Runs `check` on the window when it holds enough items.
    pub fn check<T, R: Serialize>(
        model_version: &str,
        window: &[T],
        min_window: usize,
        check: impl FnOnce(&[T]) -> Option<R>,
    ) -> DriftResponse {
        let report = (window.len() >= min_window)
            .then(|| check(window))
            .flatten()
            .and_then(|r| serde_json::to_value(r).ok());
        DriftResponse {
            model_version: model_version.to_string(),
            window: window.len(),
            min_window,
            report,
        }
    }
}
