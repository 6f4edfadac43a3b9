//! Stage 6 — serving: batch lookups and real-time re-ranking behind one API (axum, on the
//! shared server skeleton: health, readiness, metrics, OpenAPI, models, promote, rollback and
//! registry watching come from `mlsd_core::server`).
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
//! its hits and misses as counters on `/metrics`), cold start, bad input → 4xx with a JSON
//! body, overload → 503.
//!
//! Sessions live in a [`SessionStore`]: this process's memory by default (bounded, least
//! recently active evicted), or Redis (`state: StateBackend::Redis`) so that replicas behind a
//! load balancer answer a user alike. A Redis that is down or slow sheds with 503.
//!
//! Simplification: the cache and the drift window stay per replica (a cached list is at most
//! `cache_ttl` old; drift is a sample, and each replica's is one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use mlsd_core::design::Versioned;
use mlsd_core::online_state::StateBackend;
use mlsd_core::registry::Registry;
use mlsd_core::serve::{
    ApiError, ApiJson, ErrorBody, JsonErrors, Metrics, MicroBatcher, Shed, Slot,
};
use mlsd_core::server::{
    app, CacheStats, Candidate, DriftResponse, Kit, Models, OpenApiRouter, Ops, Recent, Route,
    ServerConfig,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::routes;

use crate::artifact::RecommenderServed;
use crate::batch::Snapshot;
use crate::monitor::{self, MonitorConfig};
use crate::movielens::Rating;
use crate::sessions::{InMemorySessions, RedisSessions, SessionStore, ShopEvent};
use crate::shop::{EventKind, DAY};
use crate::two_stage::{Mode, Recommendation, TwoStage, UserState};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// What every design's server has (limits, time budget, micro-batching, drift window …).
    pub server: ServerConfig,
    /// Largest `k` a client may ask for (and the default when it asks for none: 10).
    pub max_k: usize,
    /// How long a real-time list is reused for the same user and `k`.
    pub cache_ttl: Duration,
    /// Cached lists kept at most (expired entries are dropped first; when still full, new
    /// lists are not cached).
    pub cache_capacity: usize,
    /// Live sessions kept at most in memory (a user state is a few kB at most: seen and
    /// bought items are bounded by the catalog).
    pub max_sessions: usize,
    /// Where sessions live: this process (the default) or a Redis shared by replicas.
    pub state: StateBackend,
    /// How long a session in Redis outlives its last event.
    pub session_ttl: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            server: ServerConfig {
                // An event is ~100 bytes.
                body_limit: 64 << 10,
                // Events kept for `/v1/recommender/drift`, and the fewest before it reports.
                drift_window: 50_000,
                drift_min: 1_000,
                ..ServerConfig::default()
            },
            max_k: 50,
            cache_ttl: Duration::from_secs(30),
            cache_capacity: 100_000,
            max_sessions: 100_000,
            state: StateBackend::InMemory,
            session_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// A real-time list and when it was computed.
type Cached = (Instant, Arc<Vec<Recommendation>>);

/// What the micro-batcher computes a real-time list from: user, live state, `k`.
type ListJob = (u32, UserState, usize);

/// What every handler is given: the server's state.
type Shared = State<Arc<AppState>>;

/// Everything the handlers share.
pub struct AppState {
    kit: Kit,
    models: Arc<Models<RecommenderServed>>,
    /// A newer batch run of the serving version (`--snapshot`); the version's own otherwise.
    snapshot: Slot<Option<Arc<Snapshot>>>,
    /// Users' live sessions: every event received since the model's cutoff.
    sessions: Arc<dyn SessionStore>,
    cache: Arc<Mutex<HashMap<(u32, usize), Cached>>>,
    cache_stats: CacheStats,
    /// Events received, for drift checks against the model's last training week.
    window: Arc<Recent<Rating>>,
    batcher: Option<MicroBatcher<ListJob, Vec<Recommendation>>>,
    config: ServeConfig,
}

/// Loads the registry's current recommender (model, snapshot, drift reference) and builds the
/// state. With micro-batching or queue-delay shedding on, call it inside a tokio runtime.
pub fn state(registry: Registry, config: ServeConfig) -> crate::Result<Arc<AppState>> {
    let (kit, models) = Kit::open::<RecommenderServed>(registry, config.server.clone())?;
    // The recommendations route goes through `Models::route`: shadow and canary work here.
    models.enable_rollouts();
    let sessions: Arc<dyn SessionStore> = match &config.state {
        StateBackend::InMemory => Arc::new(InMemorySessions::new(config.max_sessions)),
        StateBackend::Redis {
            url,
            prefix,
            timeout,
        } => Arc::new(
            RedisSessions::open(url, prefix, config.session_ttl, *timeout)
                .map_err(|e| crate::Error::Config(e.to_string()))?,
        ),
    };
    let cache = Arc::new(Mutex::new(HashMap::new()));
    let window = Arc::new(Recent::new(config.server.drift_window));
    let (stale_sessions, stale_cache, stale_events) =
        (sessions.clone(), cache.clone(), window.clone());
    // Simplification: a swap drops live sessions and cached lists (they grew from the old
    // model's user states) and the drift window; the new model knows users as of its cutoff.
    models.on_swap(move |_| {
        stale_sessions.model_swapped();
        stale_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        stale_events.clear();
    });
    let m = models.clone();
    let batcher = kit
        .micro_batcher(move |jobs: Vec<ListJob>| {
            let serving = m.get();
            jobs.iter()
                .map(|(user, live, k)| {
                    serving
                        .model
                        .model
                        .recommend(*user, live, *k, Mode::Realtime)
                })
                .collect()
        })
        .map_err(crate::Error::Config)?;
    Ok(Arc::new(AppState {
        kit,
        models,
        snapshot: Slot::new(None),
        sessions,
        cache,
        cache_stats: CacheStats::default(),
        window,
        batcher,
        config,
    }))
}

impl AppState {
    /// Replaces the batch snapshot with a newer run of the same model version (refused for
    /// another version: its lists would not match the real-time path).
    pub fn load_snapshot(&self, path: &std::path::Path) -> crate::Result<()> {
        let serving = self.models.get();
        let snapshot = Snapshot::read(path, &serving.model.model, &serving.version)?;
        self.snapshot.replace(Some(Arc::new(snapshot)));
        Ok(())
    }

    /// The model, snapshot and reference serving now, with their version.
    pub fn serving(&self) -> Arc<Versioned<RecommenderServed>> {
        self.models.get()
    }

    /// The version serving now.
    pub fn serving_version(&self) -> String {
        self.models.get().version.clone()
    }

    /// Follows the registry pointer (promotions and rollbacks from the CLI, no restart).
    pub fn watch_registry(&self) -> tokio::task::JoinHandle<()> {
        self.models.watch(self.config.server.watch_every)
    }

    /// The batch snapshot in use: the newer run if one was loaded for the serving version,
    /// else the version's own.
    fn snapshot_of<'a>(&self, serving: &'a RecommenderServed, version: &str) -> SnapshotRef<'a> {
        match self.snapshot.get().as_ref() {
            Some(newer) if newer.model_version == version => SnapshotRef::Newer(newer.clone()),
            _ => SnapshotRef::Own(&serving.snapshot),
        }
    }

    /// (hits, misses) of the real-time cache so far.
    pub fn cache_counts(&self) -> (u64, u64) {
        self.cache_stats.counts()
    }

    /// The model's cutoff, the users with a precomputed list and the batch job's time, for
    /// `/ready`.
    fn ready_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let serving = self.models.get();
        let snapshot = self.snapshot_of(&serving.model, &serving.version);
        let users = snapshot.lists.iter().filter(|l| !l.is_empty()).count();
        serde_json::Map::from_iter([
            ("model_as_of".to_string(), serving.model.model.now.into()),
            ("snapshot_users".to_string(), users.into()),
            ("snapshot_seconds".to_string(), snapshot.seconds.into()),
            ("state".to_string(), self.config.state.describe().into()),
        ])
    }

    /// The cache's counts and the live sessions, for `/metrics`.
    fn set_gauges(&self, m: &Metrics) {
        self.cache_stats.export(m, "Real-time lists");
        let Some((sessions, evicted)) = self.sessions.counts() else {
            return;
        };
        m.set_gauge(
            "live_sessions",
            "Users with events since the model's cutoff (at most max_sessions).",
            sessions as f64,
        );
        m.set_counter(
            "sessions_evicted_total",
            "Sessions evicted (least recently active) to stay within max_sessions.",
            evicted as f64,
        );
    }
}

enum SnapshotRef<'a> {
    Own(&'a Snapshot),
    Newer(Arc<Snapshot>),
}

impl std::ops::Deref for SnapshotRef<'_> {
    type Target = Snapshot;
    fn deref(&self) -> &Snapshot {
        match self {
            SnapshotRef::Own(s) => s,
            SnapshotRef::Newer(s) => s,
        }
    }
}

/// One shopper event as clients send it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    /// 1 or more; a user the model never saw starts a cold-start session.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub user_id: u32,
    /// A product on sale.
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub item_id: u32,
    pub kind: EventKind,
    /// Unix seconds; defaults to the model's cutoff (replays send their own).
    #[serde(default)]
    #[serde(deserialize_with = "mlsd_core::serve::whole_opt")]
    pub timestamp: Option<i64>,
    /// The client's id for this event (1–128 characters): a retry with the same id is
    /// recorded once.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub event_id: Option<String>,
}

/// The longest `event_id` accepted.
const MAX_EVENT_ID: usize = 128;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    pub user_id: u32,
    /// Events in the user's session since the model's cutoff.
    pub session_events: u32,
    /// The `event_id` was recorded before: this one changed nothing.
    pub duplicate: bool,
}

/// Records a view, cart or purchase: the user's next real-time list sees it.
#[utoipa::path(post, path = "/v1/recommender/events", tag = "recommender", request_body = EventRequest, responses((status = 202, description = "Recorded", body = EventResponse), (status = 404, description = "No such product on sale", body = ErrorBody), (status = 422, description = "Unknown field or user 0", body = ErrorBody), JsonErrors))]
async fn event(
    State(state): Shared,
    ApiJson(req): ApiJson<EventRequest>,
) -> Result<(StatusCode, Json<EventResponse>), ApiError> {
    let serving = state.models.get();
    let model = &serving.model.model;
    if req.user_id == 0 {
        return Err(ApiError::invalid(
            "invalid_user",
            "user_id must be 1 or more",
        ));
    }
    if !model.is_on_sale(req.item_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_item",
            format!("item {} is not a product on sale", req.item_id),
        ));
    }
    if req
        .event_id
        .as_ref()
        .is_some_and(|id| id.is_empty() || id.chars().count() > MAX_EVENT_ID)
    {
        return Err(ApiError::invalid(
            "invalid_event_id",
            format!("event_id is 1 to {MAX_EVENT_ID} characters"),
        ));
    }
    let timestamp = req.timestamp.unwrap_or(model.now);
    let shop_event = ShopEvent {
        event_id: req.event_id.clone(),
        user_id: req.user_id,
        item_id: req.item_id,
        kind: req.kind,
    };
    let recorded = state
        .sessions
        .record(model, &serving.version, &shop_event)?;
    if recorded.duplicate {
        return Ok((
            StatusCode::ACCEPTED,
            Json(EventResponse {
                user_id: req.user_id,
                session_events: recorded.session_events,
                duplicate: true,
            }),
        ));
    }
    // Talking point [caching]: cache invalidation — the user's own event makes their cached lists
    // stale. (One removal per possible k: constant work per event, whatever the cache holds.)
    {
        let mut cache = state.cache.lock().unwrap_or_else(|p| p.into_inner());
        for k in 1..=state.config.max_k {
            cache.remove(&(req.user_id, k));
        }
    }
    state.window.extend([Rating {
        user: req.user_id,
        item: req.item_id,
        rating: req.kind.weight(),
        timestamp,
    }]);
    Ok((
        StatusCode::ACCEPTED,
        Json(EventResponse {
            user_id: req.user_id,
            session_events: recorded.session_events,
            duplicate: false,
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
    /// Ranked now by the candidate in its canary (no snapshot or cache of its own).
    Canary,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendationsResponse {
    pub user_id: u32,
    pub mode: Mode,
    pub source: ListSource,
    /// The registry version that ranked (or precomputed) the list.
    pub model_version: String,
    /// The model's cutoff: batch lists know nothing after it.
    pub model_as_of: i64,
    pub items: Vec<Recommendation>,
}

fn parse_query(raw: Option<&str>, max_k: usize) -> Result<(usize, Mode), ApiError> {
    let (mut k, mut mode) = (10usize, Mode::Batch);
    for (key, value) in mlsd_core::serve::query_pairs(raw) {
        match key {
            "k" => k = mlsd_core::serve::parse_k(value, max_k)?,
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
#[utoipa::path(get, path = "/v1/recommender/users/{user_id}/recommendations", tag = "recommender", params(("user_id" = u32, Path, description = "1 or more"), ("k" = Option<usize>, Query, description = "1 to max_k (50); default 10"), ("mode" = Option<Mode>, Query, description = "batch (default) or realtime")), responses((status = 200, description = "The list", body = RecommendationsResponse), (status = 400, description = "user_id is not a number", body = ErrorBody), (status = 422, description = "Invalid k, mode or parameter", body = ErrorBody), Shed))]
async fn recommendations(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let user_id = mlsd_core::serve::whole_text(&user)
        .and_then(|u| u32::try_from(u).ok())
        .filter(|&u| u > 0);
    let user_id: u32 = user_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_user",
            format!("user id must be a whole number from 1, got {user:?}"),
        )
    })?;
    let (k, mode) = parse_query(query.as_deref(), state.config.max_k)?;
    let route = state.models.route();
    let serving = &route.primary;
    let model = &serving.model.model;
    let started = Instant::now();
    let (source, items) = match mode {
        // Talking point [batch-vs-real-time]: batch is a lookup in last night's snapshot; real time
        // ranks now, with the live session.
        Mode::Batch => {
            let snapshot = state.snapshot_of(&serving.model, &serving.version);
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
        Mode::Realtime => realtime(&state, model, &serving.version, user_id, k).await?,
    };
    let scores: Vec<f64> = items.iter().map(|r| f64::from(r.score)).collect();
    let took = started.elapsed().as_secs_f64();
    (state.kit.metrics).observe_version(&serving.version, "primary", &scores, took);
    // Talking point [experiments]: canary by user — one shopper sees one model's lists.
    let (source, items, answered_by) = match route
        .candidate
        .as_ref()
        .filter(|c| c.percent > 0 && c.answers(u64::from(user_id)))
    {
        Some(canary) => {
            let list = state.canary_list(canary, &serving.version, user_id, k, mode, &items)?;
            (ListSource::Canary, list, &canary.model)
        }
        None => {
            state.shadow(&route, user_id, k, mode, &items);
            (source, items, serving)
        }
    };
    for r in &items {
        state.kit.metrics.observe_score(f64::from(r.score));
    }
    Ok(Json(RecommendationsResponse {
        user_id,
        mode,
        source,
        model_version: answered_by.version.clone(),
        model_as_of: answered_by.model.model.now,
        items,
    }))
}

/// Whether two lists disagree: fewer than half of the shorter one's items in common.
fn lists_differ(a: &[Recommendation], b: &[Recommendation]) -> bool {
    let common = a
        .iter()
        .filter(|x| b.iter().any(|y| y.item == x.item))
        .count();
    2 * common < a.len().min(b.len())
}

impl AppState {
    /// The user's live session, or what `model` (serving as `version`) knew of them at its
    /// cutoff.
    fn user_state(
        &self,
        model: &TwoStage,
        version: &str,
        user_id: u32,
    ) -> Result<UserState, ApiError> {
        Ok(self.sessions.state(model, version, user_id)?)
    }

    /// The canary's list for a user it answers, compared with the primary's `primary` list.
    /// The session is the one recorded under the primary's `version`, folded onto the
    /// canary's own state of the user.
    fn canary_list(
        &self,
        canary: &Candidate<RecommenderServed>,
        version: &str,
        user_id: u32,
        k: usize,
        mode: Mode,
        primary: &[Recommendation],
    ) -> Result<Vec<Recommendation>, ApiError> {
        let started = Instant::now();
        let model = &canary.model.model.model;
        let live = self.user_state(model, version, user_id)?;
        let list = candidate_list(model, user_id, &live, k, mode);
        compare(
            canary,
            "canary",
            &self.kit.metrics,
            primary,
            &list,
            started.elapsed(),
        );
        Ok(list)
    }

    /// Shadow: a candidate in shadow ranks the same user on the mirror thread; only the
    /// primary's `primary` list is returned.
    fn shadow(
        &self,
        route: &Route<RecommenderServed>,
        user_id: u32,
        k: usize,
        mode: Mode,
        primary: &[Recommendation],
    ) {
        let Some(candidate) = route.candidate.clone().filter(|c| c.percent == 0) else {
            return;
        };
        // A shadow that cannot read the session is skipped: it must never fail the request.
        let version = &route.primary.version;
        let Ok(live) = self.user_state(&candidate.model.model.model, version, user_id) else {
            return;
        };
        let (theirs, metrics) = (primary.to_vec(), self.kit.metrics.clone());
        self.models.mirror(move || {
            let started = Instant::now();
            let model = &candidate.model.model.model;
            let list = candidate_list(model, user_id, &live, k, mode);
            compare(
                &candidate,
                "shadow",
                &metrics,
                &theirs,
                &list,
                started.elapsed(),
            );
        });
    }
}

/// A candidate's list: ranked for a user it knows, what is popular for one it does not (the
/// primary's cold-start rule, so the two are compared like for like).
fn candidate_list(
    model: &TwoStage,
    user_id: u32,
    state: &UserState,
    k: usize,
    mode: Mode,
) -> Vec<Recommendation> {
    if state.events == 0 {
        return cold_start(model, state, k);
    }
    model.recommend(user_id, state, k, mode)
}

/// What a candidate's list `mine` shows next to the primary's `theirs` for the same user —
/// whether they differ, the scores, the time — recorded for its gates and on `/metrics`.
fn compare(
    candidate: &Candidate<RecommenderServed>,
    role: &'static str,
    metrics: &Metrics,
    theirs: &[Recommendation],
    mine: &[Recommendation],
    took: Duration,
) {
    let scores = |l: &[Recommendation]| l.iter().map(|r| f64::from(r.score)).collect::<Vec<f64>>();
    let differ = u64::from(lists_differ(mine, theirs));
    candidate.compared(
        metrics,
        role,
        (&scores(theirs), &scores(mine)),
        (1, differ),
        took,
    );
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
    model: &TwoStage,
    version: &str,
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
            state.cache_stats.record(true);
            return Ok((ListSource::Cache, list.as_ref().clone()));
        }
    }
    state.cache_stats.record(false);
    let user_state = state.user_state(model, version, user_id)?;
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
            state.kit.call_model(1).await?;
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

/// Item-popularity drift, user-activity drift and the share of new items, for the events
/// received (the latest `drift_window`) against the end of the model's last training week
/// (the same time span as the window, one day at least).
#[utoipa::path(get, path = "/v1/recommender/drift", tag = "monitoring", responses((status = 200, description = "Drift of the received events", body = DriftResponse), Shed))]
async fn drift(State(state): Shared) -> Result<Json<DriftResponse>, ApiError> {
    state.kit.heavy(&state, drift_now).await.map(Json)
}

/// The drift check itself, off the async workers.
fn drift_now(state: &AppState) -> DriftResponse {
    let serving = state.models.get();
    let (model, reference) = (&serving.model.model, &serving.model.reference);
    let current = state.window.snapshot();
    DriftResponse::check(
        &serving.version,
        &current,
        state.config.server.drift_min,
        |current| {
            // Talking point: compare like with like — per-user activity over one day is not
            // activity over a week, so the reference is cut to the window's time span (one
            // day at least).
            let first = current.iter().map(|e| e.timestamp).min().unwrap_or(0);
            let last = current.iter().map(|e| e.timestamp).max().unwrap_or(0);
            let span = (last - first).max(DAY);
            let reference: Vec<Rating> = reference
                .iter()
                .filter(|e| e.timestamp >= model.now - span)
                .copied()
                .collect();
            let r = monitor::check(
                &reference,
                current,
                model.catalog.len(),
                &MonitorConfig::default(),
            );
            let metrics = &state.kit.metrics;
            metrics.set_gauge(
                "item_popularity_js",
                "Jensen-Shannon distance of item popularity, latest check.",
                r.item_popularity.distance,
            );
            metrics.set_gauge(
                "new_item_share",
                "Share of received events on items the reference week never saw.",
                r.new_item_share,
            );
            metrics.set_gauge(
                "drift",
                "1 when the latest check raised any drift alarm.",
                f64::from(u8::from(r.drift)),
            );
            Some(r)
        },
    )
}

/// The reference for drift checks: the model's last `days` of training events.
pub fn reference_events(events: &[Rating], model_as_of: i64, days: i64) -> Vec<Rating> {
    events
        .iter()
        .filter(|e| e.timestamp < model_as_of && e.timestamp >= model_as_of - days * DAY)
        .copied()
        .collect()
}

/// The recommender routes' OpenAPI 3.1 document (the operational routes are merged in).
#[derive(OpenApi)]
#[openapi(info(
    title = "mlsd recommender",
    description = "E-commerce recommendations: a precomputed batch snapshot and real-time re-ranking with the live session."
))]
pub struct ApiDoc;

/// The recommender routes plus every design's operational ones, with the common layers.
pub fn router(state: Arc<AppState>) -> Router {
    let ops = Ops::new(state.models.clone(), &state.kit, ApiDoc::openapi())
        .readiness(&state, |s| Ok(s.sessions.ready()?))
        .ready_details(&state, AppState::ready_details)
        .gauges(&state, AppState::set_gauges)
        .constraints(&state, request_constraints);
    let routes = OpenApiRouter::new()
        .routes(routes!(event))
        .routes(routes!(recommendations))
        .routes(routes!(drift));
    app(&state.kit, ops, state.clone(), routes, OpenApiRouter::new())
}

/// The rules the handlers apply to the path, query and event body, stated in the document
/// (`k` from this server's settings).
fn request_constraints(state: &AppState, api: &mut utoipa::openapi::OpenApi) {
    use mlsd_core::server::contract::{number_range, Target};
    let path = "/v1/recommender/users/{user_id}/recommendations";
    let ids = f64::from(u32::MAX);
    number_range(api, Target::Param(path, "user_id"), 1.0, ids);
    number_range(
        api,
        Target::Param(path, "k"),
        1.0,
        state.config.max_k as f64,
    );
    number_range(api, Target::Field("EventRequest", "user_id"), 1.0, ids);
    number_range(api, Target::Field("EventRequest", "item_id"), 0.0, ids);
}
