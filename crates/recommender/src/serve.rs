//! Stage 6 — serving: batch lookups and real-time re-ranking behind one API (axum, on the
//! shared serving toolkit the fraud API uses).
//!
//! ```text
//! GET …/users/{id}/recommendations?mode=batch ─► snapshot lookup (precomputed, O(1), stale)
//!                                  ?mode=realtime ─► TTL cache ─miss─► (micro-batcher) ─► retrieve
//!                                                      → rank → rules with the live session
//! POST /v1/recommender/events ─► the user's live session state (and drops their cached lists)
//!                             ─► the monitoring window ─GET /v1/recommender/drift─► drift checks
//! unknown user, no events ─► cold start: what is popular now
//! ```
//!
//! Talking points: batch vs real-time freshness (the snapshot does not know this session),
//! caching (a TTL cache in front of the expensive path, invalidated by the user's own events,
//! its hit rate on `/metrics`), cold start, bad input → 4xx with a JSON body, overload → 503.
//!
//! Simplification: session state lives in this process (one `RwLock`ed map), and it only
//! grows (one entry per user who posted an event, 1–2 KB each) until the next model replaces
//! the process. With several replicas behind a load balancer it would live in a shared store
//! with a TTL (Redis), or the balancer would route a user to the same replica (consistent
//! hashing on the user id).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use mlsd_core::accelerator::{Accelerator, ModelCost};
use mlsd_core::serve::{
    batcher_and_device, with_common_layers, ApiError, ApiJson, ErrorBody, Limits, Metrics,
    MicroBatchConfig, MicroBatcher, QueueDelay, Slot,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{OpenApi, ToSchema};

use crate::batch::Snapshot;
use crate::monitor::{self, MonitorConfig, MonitorReport};
use crate::movielens::Rating;
use crate::shop::{EventKind, DAY};
use crate::two_stage::{Mode, Recommendation, TwoStage, UserState};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Largest request body (bytes): an event is ~100 bytes.
    pub body_limit: usize,
    pub max_in_flight: usize,
    pub timeout: Duration,
    /// Largest `k` a client may ask for (and the default when it asks for none: 10).
    pub max_k: usize,
    /// How long a real-time list is reused for the same user and `k`.
    pub cache_ttl: Duration,
    /// Cached lists kept at most (expired entries are dropped first; when still full, new
    /// lists are not cached).
    pub cache_capacity: usize,
    /// Events kept for `/v1/recommender/drift`, and the fewest before it reports.
    pub drift_window: usize,
    pub drift_min_events: usize,
    /// Shed while the runtime's queueing delay, or the simulated model's queue, exceeds
    /// this (`None`: in-flight limit only).
    pub max_queue_delay: Option<Duration>,
    /// `Some`: real-time lists that miss the cache are computed in micro-batches.
    pub micro_batch: Option<MicroBatchConfig>,
    /// A simulated heavier model in front of the real one (benchmarks only; `None`: off).
    pub simulated_model: Option<ModelCost>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            body_limit: 64 << 10,
            max_in_flight: 512,
            timeout: Duration::from_secs(1),
            max_k: 50,
            cache_ttl: Duration::from_secs(30),
            cache_capacity: 100_000,
            drift_window: 50_000,
            drift_min_events: 1_000,
            max_queue_delay: None,
            micro_batch: None,
            simulated_model: None,
        }
    }
}

/// A real-time list and when it was computed.
type Cached = (Instant, Arc<Vec<Recommendation>>);

/// What the micro-batcher computes a real-time list from: user, live state, `k`.
type ListJob = (u32, UserState, usize);

/// Everything the handlers share.
pub struct AppState {
    model: Arc<TwoStage>,
    /// The latest batch run; replaced whole when a new one is loaded.
    snapshot: Slot<Snapshot>,
    /// Users' states including every event received since the model's cutoff.
    sessions: RwLock<HashMap<u32, UserState>>,
    cache: Mutex<HashMap<(u32, usize), Cached>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    /// Events received, for drift checks against the model's last training week.
    window: Mutex<std::collections::VecDeque<Rating>>,
    reference: Vec<Rating>,
    queue_delay: Option<Arc<QueueDelay>>,
    batcher: Option<MicroBatcher<ListJob, Vec<Recommendation>>>,
    accelerator: Option<Arc<Accelerator>>,
    config: ServeConfig,
    metrics: Arc<Metrics>,
}

/// Builds the state: the fitted model, its snapshot, and the reference events (the model's
/// last week of training data) drift is measured against. With queue-delay shedding on, call
/// it inside a tokio runtime.
pub fn state(
    model: TwoStage,
    snapshot: Snapshot,
    reference: Vec<Rating>,
    config: ServeConfig,
) -> crate::Result<Arc<AppState>> {
    state_shared(Arc::new(model), snapshot, reference, config)
}

/// [`state`] for a model several servers share (benchmarks run one server per mode).
pub fn state_shared(
    model: Arc<TwoStage>,
    snapshot: Snapshot,
    reference: Vec<Rating>,
    config: ServeConfig,
) -> crate::Result<Arc<AppState>> {
    if snapshot.model_as_of != model.now {
        return Err(crate::Error::Config(format!(
            "the snapshot was computed with a model as of {}, this one is as of {}",
            snapshot.model_as_of, model.now
        )));
    }
    let queue_delay = match config.max_queue_delay {
        None => None,
        Some(_) => {
            tokio::runtime::Handle::try_current().map_err(|_| {
                crate::Error::Config("queue-delay shedding needs a tokio runtime".into())
            })?;
            Some(QueueDelay::spawn(Duration::from_millis(5)))
        }
    };
    let metrics = Arc::new(Metrics::new("mlsd_recommender"));
    metrics.set_model_version(&format!("as-of-{}", model.now));
    let m = model.clone();
    let (batcher, accelerator) = batcher_and_device(
        config.micro_batch,
        config.simulated_model,
        &metrics,
        move |jobs: Vec<ListJob>| {
            jobs.iter()
                .map(|(user, live, k)| m.recommend(*user, live, *k, Mode::Realtime))
                .collect()
        },
    )
    .map_err(crate::Error::Config)?;
    Ok(Arc::new(AppState {
        model,
        snapshot: Slot::new(snapshot),
        sessions: RwLock::new(HashMap::new()),
        cache: Mutex::new(HashMap::new()),
        cache_hits: AtomicU64::new(0),
        cache_misses: AtomicU64::new(0),
        window: Mutex::new(std::collections::VecDeque::new()),
        reference,
        queue_delay,
        batcher,
        accelerator,
        config,
        metrics,
    }))
}

impl AppState {
    /// Replaces the batch snapshot (a new batch run); lists are looked up in the new one from
    /// the next request on.
    pub fn load_snapshot(&self, snapshot: Snapshot) -> crate::Result<()> {
        if snapshot.model_as_of != self.model.now {
            return Err(crate::Error::Config(
                "the snapshot does not match the serving model".into(),
            ));
        }
        self.snapshot.replace(snapshot);
        Ok(())
    }

    /// The serving model.
    pub fn model(&self) -> &TwoStage {
        &self.model
    }

    /// (hits, misses) of the real-time cache so far.
    pub fn cache_counts(&self) -> (u64, u64) {
        (
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed),
        )
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
        .route("/v1/recommender/events", post(event))
        .route(
            "/v1/recommender/users/{user_id}/recommendations",
            get(recommendations),
        )
        .route("/v1/recommender/drift", get(drift));
    with_common_layers(
        routes,
        limits,
        state.config.body_limit,
        state.metrics.clone(),
    )
    .with_state(state)
}

/// The OpenAPI 3.1 document of this API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mlsd recommender",
        description = "E-commerce recommendations: a precomputed batch snapshot and real-time re-ranking with the live session. Every error is a JSON body {\"error\": {\"code\", \"message\"}}."
    ),
    paths(
        mlsd_core::serve::health,
        ready,
        metrics,
        openapi,
        event,
        recommendations,
        drift
    )
)]
pub struct ApiDoc;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    pub status: String,
    /// The model's training cutoff (Unix seconds).
    pub model_as_of: i64,
    /// Users with a precomputed list, and how long the batch job took.
    pub snapshot_users: usize,
    pub snapshot_seconds: f64,
}

/// Readiness: a model and its snapshot are loaded (the server does not listen before that).
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, description = "Ready", body = Ready)))]
async fn ready(State(state): State<Arc<AppState>>) -> Json<Ready> {
    let snapshot = state.snapshot.get();
    Json(Ready {
        status: "ready".into(),
        model_as_of: state.model.now,
        snapshot_users: snapshot.lists.iter().filter(|l| !l.is_empty()).count(),
        snapshot_seconds: snapshot.seconds,
    })
}

/// Prometheus metrics: requests by route and status, latency, scores, the real-time cache's
/// hits, misses and hit rate, live sessions.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<Arc<AppState>>) -> String {
    let (hits, misses) = state.cache_counts();
    let m = &state.metrics;
    // Talking point: the cache's hit rate is the number that says whether it earns its memory.
    m.set_gauge(
        "cache_hits",
        "Real-time lists served from the cache.",
        hits as f64,
    );
    m.set_gauge("cache_misses", "Real-time lists computed.", misses as f64);
    m.set_gauge(
        "cache_hit_rate",
        "hits / (hits + misses) of the real-time cache.",
        hits as f64 / (hits + misses).max(1) as f64,
    );
    let sessions = state
        .sessions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .len();
    m.set_gauge(
        "live_sessions",
        "Users with events since the model's cutoff.",
        sessions as f64,
    );
    m.render()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// One shopper event as clients send it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// 1 or more; a user the model never saw starts a cold-start session.
    pub user_id: u32,
    /// A product on sale.
    pub item_id: u32,
    pub kind: EventKind,
    /// Unix seconds; defaults to the model's cutoff (replays send their own).
    #[serde(default)]
    pub timestamp: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    pub user_id: u32,
    /// Events this server holds for the user since the model's cutoff.
    pub session_events: u32,
}

/// Records a view, cart or purchase: the user's next real-time list sees it.
#[utoipa::path(post, path = "/v1/recommender/events", tag = "recommender", request_body = EventRequest,
    responses(
        (status = 202, description = "Recorded", body = EventResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Unknown field, user 0, or an item not on sale", body = ErrorBody),
        (status = 503, description = "Overloaded", body = ErrorBody)))]
async fn event(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<EventRequest>,
) -> Result<(StatusCode, Json<EventResponse>), ApiError> {
    let model = &state.model;
    if req.user_id == 0 {
        return Err(ApiError::invalid(
            "invalid_user",
            "user_id must be 1 or more",
        ));
    }
    if !model.is_on_sale(req.item_id) {
        return Err(ApiError::invalid(
            "unknown_item",
            format!("item {} is not a product on sale", req.item_id),
        ));
    }
    let timestamp = req.timestamp.unwrap_or(model.now);
    let session_events = {
        let mut sessions = state.sessions.write().unwrap_or_else(|p| p.into_inner());
        let s = sessions
            .entry(req.user_id)
            .or_insert_with(|| model.state(req.user_id));
        s.observe(
            req.item_id,
            req.kind,
            &model.catalog,
            model.config.recent_items,
        );
        s.events.saturating_sub(
            model
                .users
                .get(req.user_id as usize)
                .map_or(0, |u| u.events),
        )
    };
    // Talking point: cache invalidation — the user's own event makes their cached lists stale.
    // (One removal per possible k: constant work per event, whatever the cache holds.)
    {
        let mut cache = state.cache.lock().unwrap_or_else(|p| p.into_inner());
        for k in 1..=state.config.max_k {
            cache.remove(&(req.user_id, k));
        }
    }
    {
        let mut window = state.window.lock().unwrap_or_else(|p| p.into_inner());
        window.push_back(Rating {
            user: req.user_id,
            item: req.item_id,
            rating: req.kind.weight(),
            timestamp,
        });
        while window.len() > state.config.drift_window {
            window.pop_front();
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(EventResponse {
            user_id: req.user_id,
            session_events,
        }),
    ))
}

/// Where a list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListSource {
    /// Precomputed by the batch job.
    Snapshot,
    /// Computed now with the live session.
    Realtime,
    /// Computed earlier with the same session, within the cache's TTL.
    Cache,
    /// Nothing known about the user: what is popular now.
    ColdStart,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendationsResponse {
    pub user_id: u32,
    pub mode: Mode,
    pub source: ListSource,
    /// The model's cutoff: batch lists know nothing after it.
    pub model_as_of: i64,
    pub items: Vec<Recommendation>,
}

fn parse_query(raw: Option<&str>, max_k: usize) -> Result<(usize, Mode), ApiError> {
    let (mut k, mut mode) = (10usize, Mode::Batch);
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "k" => {
                k = value
                    .parse()
                    .ok()
                    .filter(|k| (1..=max_k).contains(k))
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "invalid_k",
                            format!("k must be 1 to {max_k}, got {value:?}"),
                        )
                    })?;
            }
            "mode" => {
                mode = match value {
                    "batch" => Mode::Batch,
                    "realtime" => Mode::Realtime,
                    other => {
                        return Err(ApiError::invalid(
                            "invalid_mode",
                            format!("mode must be batch or realtime, got {other:?}"),
                        ))
                    }
                }
            }
            other => {
                return Err(ApiError::invalid(
                    "unknown_parameter",
                    format!("unknown query parameter {other:?} (k, mode)"),
                ))
            }
        }
    }
    Ok((k, mode))
}

/// A user's top `k`: from the batch snapshot (`mode=batch`, the default) or re-ranked now with
/// the live session (`mode=realtime`).
#[utoipa::path(get, path = "/v1/recommender/users/{user_id}/recommendations", tag = "recommender",
    params(
        ("user_id" = u32, Path, description = "1 or more"),
        ("k" = Option<usize>, Query, description = "1 to max_k (50); default 10"),
        ("mode" = Option<Mode>, Query, description = "batch (default) or realtime")),
    responses(
        (status = 200, description = "The list", body = RecommendationsResponse),
        (status = 400, description = "user_id is not a number", body = ErrorBody),
        (status = 422, description = "Invalid k, mode or parameter", body = ErrorBody),
        (status = 503, description = "Overloaded", body = ErrorBody)))]
async fn recommendations(
    State(state): State<Arc<AppState>>,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let user_id: u32 = user.parse().ok().filter(|&u| u > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_user",
            format!("user id must be a whole number from 1, got {user:?}"),
        )
    })?;
    let (k, mode) = parse_query(query.as_deref(), state.config.max_k)?;
    let model = &state.model;
    let (source, items) = match mode {
        Mode::Batch => {
            let snapshot = state.snapshot.get();
            match snapshot.lookup(user_id, k) {
                Some(list) if list.len() >= k.min(snapshot.k) && !list.is_empty() => {
                    (ListSource::Snapshot, list.to_vec())
                }
                _ => (
                    ListSource::ColdStart,
                    cold_start(model, &UserState::default(), k),
                ),
            }
        }
        Mode::Realtime => realtime(&state, user_id, k).await?,
    };
    for r in &items {
        state.metrics.observe_score(f64::from(r.score));
    }
    Ok(Json(RecommendationsResponse {
        user_id,
        mode,
        source,
        model_as_of: model.now,
        items,
    }))
}

fn cold_start(model: &TwoStage, state: &UserState, k: usize) -> Vec<Recommendation> {
    model
        .popular(state, k)
        .into_iter()
        .map(|item| {
            let p = &model.catalog[item as usize];
            Recommendation {
                item,
                score: 0.0,
                category: p.category,
                price: p.price,
            }
        })
        .collect()
}

async fn realtime(
    state: &AppState,
    user_id: u32,
    k: usize,
) -> Result<(ListSource, Vec<Recommendation>), ApiError> {
    let key = (user_id, k);
    if let Some((at, list)) = state
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
    {
        if at.elapsed() < state.config.cache_ttl {
            state.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((ListSource::Cache, list.as_ref().clone()));
        }
    }
    state.cache_misses.fetch_add(1, Ordering::Relaxed);
    let model = &state.model;
    let user_state = state
        .sessions
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&user_id)
        .cloned()
        .unwrap_or_else(|| model.state(user_id));
    if user_state.events == 0 {
        return Ok((ListSource::ColdStart, cold_start(model, &user_state, k)));
    }
    // The expensive path runs outside every lock.
    let list = Arc::new(match &state.batcher {
        // Talking point: micro-batching — concurrent misses share one model call. The
        // real model has no per-call cost to share (criterion `realtime_users/n`: constant
        // per user); a model with one (the simulated accelerator) is where it pays.
        Some(batcher) => batcher.submit((user_id, user_state, k)).await?,
        None => {
            if let Some(device) = &state.accelerator {
                device.call(1, state.config.max_queue_delay).await?;
            }
            model.recommend(user_id, &user_state, k, Mode::Realtime)
        }
    });
    let mut cache = state.cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= state.config.cache_capacity {
        let ttl = state.config.cache_ttl;
        cache.retain(|_, (at, _)| at.elapsed() < ttl);
    }
    if cache.len() < state.config.cache_capacity {
        cache.insert(key, (Instant::now(), list.clone()));
    }
    Ok((ListSource::Realtime, list.as_ref().clone()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DriftResponse {
    pub window_events: usize,
    pub min_events: usize,
    /// Absent until the window holds `min_events`.
    #[schema(value_type = Option<Object>)]
    pub report: Option<MonitorReport>,
}

/// Item-popularity drift, user-activity drift and the share of new items, for the events
/// received (the latest `drift_window`) against the end of the model's last training week
/// (the same time span as the window, one day at least).
#[utoipa::path(get, path = "/v1/recommender/drift", tag = "monitoring",
    responses((status = 200, description = "Drift of the received events", body = DriftResponse)))]
async fn drift(State(state): State<Arc<AppState>>) -> Json<DriftResponse> {
    let current: Vec<Rating> = state
        .window
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .copied()
        .collect();
    // Talking point: compare like with like — per-user activity over one day is not activity
    // over a week, so the reference is cut to the window's time span (one day at least).
    let first = current.iter().map(|e| e.timestamp).min().unwrap_or(0);
    let last = current.iter().map(|e| e.timestamp).max().unwrap_or(0);
    let span = (last - first).max(DAY);
    let reference: Vec<Rating> = state
        .reference
        .iter()
        .filter(|e| e.timestamp >= state.model.now - span)
        .copied()
        .collect();
    let report = (current.len() >= state.config.drift_min_events).then(|| {
        monitor::check(
            &reference,
            &current,
            state.model.catalog.len(),
            &MonitorConfig::default(),
        )
    });
    if let Some(r) = &report {
        state.metrics.set_gauge(
            "item_popularity_js",
            "Jensen-Shannon distance of item popularity, latest check.",
            r.item_popularity.distance,
        );
        state.metrics.set_gauge(
            "new_item_share",
            "Share of received events on items the reference week never saw.",
            r.new_item_share,
        );
        state.metrics.set_gauge(
            "drift",
            "1 when the latest check raised any drift alarm.",
            f64::from(u8::from(r.drift)),
        );
    }
    Json(DriftResponse {
        window_events: current.len(),
        min_events: state.config.drift_min_events,
        report,
    })
}

/// The reference for drift checks: the model's last `days` of training events.
pub fn reference_events(events: &[Rating], model_as_of: i64, days: i64) -> Vec<Rating> {
    events
        .iter()
        .filter(|e| e.timestamp < model_as_of && e.timestamp >= model_as_of - days * DAY)
        .copied()
        .collect()
}
