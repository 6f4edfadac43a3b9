//! Stage 7 — serving: a user's feed built at open time, new articles and engagement events
//! applied at once (axum, on the shared serving skeleton the other designs use).
//!
//! ```text
//! GET  /v1/newsfeed/users/{id}/feed?k=  TTL cache ─miss─► retrieve → rank → re-rank (per-stage
//!                                        latency on /metrics) over the live counters
//! POST /v1/newsfeed/articles             new articles: candidates at once
//! POST /v1/newsfeed/events               one event per served slot with its outcome
//!                                        (impression, click, share, hide): counters, the user's
//!                                        history, the user's cached feeds dropped
//! GET  /v1/newsfeed/drift                served topic mix vs the reference day, CTR by position
//! ```
//!
//! The server starts from the version's snapshot (the batch-precomputed counters, co-click
//! index, histories and catalogue) and keeps them live. Its clock is the log's: the snapshot's
//! cutoff, moved forward by the newest article or event time it receives.
//!
//! Talking points: real-time ranking at open time (fresh items, this session's clicks);
//! caching with invalidation on the user's own events; per-stage latency budget; bad input →
//! 4xx JSON.
//!
//! The live state is one `RwLock` in this process. With `state: StateBackend::Redis` the
//! writes (articles, events) go through a log every replica applies in order
//! ([`replicated`]), so replicas serve the same feeds and a restarted one catches up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use mlsd_core::follow::{Follower, Position};
use mlsd_core::online_state::StateBackend;
use mlsd_core::registry::Registry;
use mlsd_core::serve::{ApiError, ApiJson, ErrorBody, JsonErrors, Metrics, Shed};
use mlsd_core::server::{
    app, Bounded, CacheStats, DriftResponse, Kit, Models, OpenApiRouter, Ops, Recent, ServerConfig,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::routes;

use crate::artifact::{NewsfeedArtifact, Snapshot};
use crate::data::{Impression, Shown};
use crate::features::Counters;
use crate::feed::{self, Funnel, Listing, Request, Scorer};
use crate::monitor::{self, Served};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub server: ServerConfig,
    /// Largest `k` (default 10).
    pub max_k: usize,
    /// Most events, and most articles, in one call.
    pub max_events: usize,
    pub max_articles: usize,
    /// How long a feed is reused for the same user and `k` (dropped on the user's events).
    pub cache_ttl: Duration,
    pub cache_capacity: usize,
    /// Users whose live history is kept (least recently active evicted first).
    pub max_users: usize,
    /// This process only (the default), or writes replicated through a log in Redis.
    pub state: StateBackend,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            server: ServerConfig {
                body_limit: 256 << 10,
                drift_window: 50_000,
                drift_min: 1_000,
                ..ServerConfig::default()
            },
            max_k: 50,
            max_events: 1_000,
            max_articles: 100,
            cache_ttl: Duration::from_secs(30),
            cache_capacity: 100_000,
            max_users: 1_000_000,
            state: StateBackend::InMemory,
        }
    }
}

/// The live state: what the snapshot held, moved forward by articles and events.
struct Live {
    /// The version whose snapshot this state grew from.
    version: String,
    counters: Counters,
    histories: Bounded<u32, Vec<u32>>,
    /// The catalogue in publication order (new articles are appended).
    listings: Vec<Listing>,
    /// The server's clock (seconds): the newest time it has seen.
    now: i64,
    topics: usize,
    /// Per position: slots reported and clicks on them.
    by_position: [(u64, u64); monitor::POSITIONS],
    /// The last entry of the replicated log applied (none without one).
    log_position: Position,
}

impl Live {
    fn from_snapshot(version: &str, s: &Snapshot, max_users: usize) -> Live {
        let mut histories = Bounded::new(max_users);
        for (&user, h) in &s.histories {
            *histories.touch(user, Vec::new) = h.clone();
        }
        Live {
            version: version.to_string(),
            counters: s.counters.clone(),
            histories,
            listings: s.listings.clone(),
            now: s.as_of,
            topics: s.topics,
            by_position: [(0, 0); monitor::POSITIONS],
            log_position: Position::default(),
        }
    }

    /// Articles published in the last `max_age_hours` (the catalogue is in publication order).
    fn alive(&self, max_age_hours: f64) -> &[Listing] {
        let from = self.now - (max_age_hours * 3600.0) as i64;
        let start = self.listings.partition_point(|l| l.published < from);
        let end = self.listings.partition_point(|l| l.published <= self.now);
        &self.listings[start..end]
    }
}

type Cached = (Instant, Arc<FeedResponse>);

pub struct AppState {
    kit: Kit,
    models: Arc<Models<NewsfeedArtifact>>,
    live: Arc<RwLock<Live>>,
    cache: Arc<Mutex<HashMap<(u32, usize), Cached>>>,
    cache_stats: CacheStats,
    /// The slots served, and the clicked ones reported by events, for the drift check.
    served: Arc<Recent<Served>>,
    clicked: Arc<Recent<Served>>,
    /// The replicated log's follower, with `state: StateBackend::Redis`.
    follower: OnceLock<Follower>,
    /// Article ids assigned by log entries, for the handlers that appended them.
    assigned: Mutex<HashMap<Position, Vec<u32>>>,
    config: ServeConfig,
}

type Shared = State<Arc<AppState>>;

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads the registry's current feed and builds the state.
pub fn state(registry: Registry, config: ServeConfig) -> crate::Result<Arc<AppState>> {
    let (kit, models) = Kit::open::<NewsfeedArtifact>(registry, config.server.clone())?;
    let serving = models.get();
    let live = Live::from_snapshot(&serving.version, &serving.model.snapshot, config.max_users);
    let live = Arc::new(RwLock::new(live));
    let cache = Arc::new(Mutex::new(HashMap::new()));
    let served = Arc::new(Recent::new(config.server.drift_window));
    let clicked = Arc::new(Recent::new(config.server.drift_window));
    let (stale_cache, stale_served, stale_clicked) =
        (cache.clone(), served.clone(), clicked.clone());
    // Simplification: a swap restarts the live state from the new version's snapshot (its
    // counters were built with its own feature settings; `AppState::sync`); events since the
    // old cutoff are dropped.
    models.on_swap(move |_| {
        lock(&stale_cache).clear();
        stale_served.clear();
        stale_clicked.clear();
    });
    let state = Arc::new(AppState {
        kit,
        models,
        live,
        cache,
        cache_stats: CacheStats::default(),
        served,
        clicked,
        follower: OnceLock::new(),
        assigned: Mutex::new(HashMap::new()),
        config,
    });
    let follower = mlsd_core::follow::follow(&state, &state.config.state, replicated::apply)
        .map_err(|e| crate::Error::Config(e.to_string()))?;
    if let Some(follower) = follower {
        let _ = state.follower.set(follower);
    }
    Ok(state)
}

impl AppState {
    /// Restarts the live state from the serving version's snapshot after a swap.
    fn sync(&self) -> Arc<mlsd_core::design::Versioned<NewsfeedArtifact>> {
        let serving = self.models.get();
        if read(&self.live).version != serving.version {
            let mut live = write(&self.live);
            if live.version != serving.version {
                let max_users = self.config.max_users;
                *live = Live::from_snapshot(&serving.version, &serving.model.snapshot, max_users);
                // The new state applies the whole log again (its position is back to 0).
                if let Some(follower) = self.follower.get() {
                    follower.rewind();
                }
            }
        }
        serving
    }

    /// Follows the registry pointer (promotions and rollbacks from the CLI, no restart).
    pub fn watch_registry(&self) -> tokio::task::JoinHandle<()> {
        self.models.watch(self.config.server.watch_every)
    }

    pub fn serving_version(&self) -> String {
        self.models.get().version.clone()
    }

    /// (hits, misses) of the feed cache.
    pub fn cache_counts(&self) -> (u64, u64) {
        self.cache_stats.counts()
    }

    fn ready_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let serving = self.sync();
        let live = read(&self.live);
        serde_json::Map::from_iter([
            ("now".to_string(), live.now.into()),
            ("articles".to_string(), live.listings.len().into()),
            (
                "alive".to_string(),
                live.alive(serving.model.feed.max_age_hours).len().into(),
            ),
            ("topics".to_string(), live.topics.into()),
            ("state".to_string(), self.config.state.describe().into()),
            (
                "log_position".to_string(),
                live.log_position.to_string().into(),
            ),
        ])
    }

    fn set_gauges(&self, m: &Metrics) {
        self.cache_stats.export(m, "Feeds");
        let live = read(&self.live);
        m.set_gauge(
            "users",
            "Users with a live history.",
            live.histories.len() as f64,
        );
        for (p, (shown, clicks)) in live.by_position.iter().enumerate() {
            if *shown > 0 {
                let name = format!("ctr_position_{p}");
                m.set_gauge(
                    &name,
                    "Click-through rate of the slot (events so far).",
                    *clicks as f64 / *shown as f64,
                );
            }
        }
    }
}

mod replicated;
mod routes;

pub use routes::{
    ArticleIn, ArticlesRequest, ArticlesResponse, EventIn, EventKind, EventsRequest,
    EventsResponse, FeedItem, FeedResponse,
};

/// The news-feed routes' OpenAPI 3.1 document (the operational routes are merged in).
#[derive(OpenApi)]
#[openapi(info(
    title = "mlsd newsfeed",
    description = "A personalised news feed ranked at open time: candidate sources, a multi-objective ranker, diversity and freshness re-ranking; new articles and engagement events apply at once."
))]
pub struct ApiDoc;

/// The news-feed routes plus every design's operational ones.
pub fn router(state: Arc<AppState>) -> Router {
    let ops = Ops::new(state.models.clone(), &state.kit, ApiDoc::openapi())
        .readiness(&state, |s| match s.follower.get() {
            Some(follower) => Ok(follower.ready()?),
            None => Ok(()),
        })
        .ready_details(&state, AppState::ready_details)
        .gauges(&state, AppState::set_gauges)
        .constraints(&state, routes::request_constraints);
    let routes = OpenApiRouter::new()
        .routes(routes!(routes::feed))
        .routes(routes!(routes::articles))
        .routes(routes!(routes::events))
        .routes(routes!(routes::drift));
    app(&state.kit, ops, state.clone(), routes, OpenApiRouter::new())
}

/// Builds a user's page over the live state (read lock held for the ranking only).
fn build_feed(state: &AppState, user: u32, k: usize) -> FeedResponse {
    let started = std::time::Instant::now();
    let serving = state.sync();
    let model = &serving.model;
    let live = read(&state.live);
    let history: Vec<u32> = live.histories.get(&user).cloned().unwrap_or_default();
    let alive = live.alive(model.feed.max_age_hours);
    let cfg = feed::FeedConfig {
        page: k,
        ..model.feed.clone()
    };
    // One seed per (user, clock): the same request at the same moment gets the same page.
    let seed = u64::from(user) ^ (live.now as u64).rotate_left(17);
    let page = feed::build(
        &Request {
            history: &history,
            time: live.now,
            alive,
            counters: &live.counters,
            seed,
        },
        Scorer::Model(&model.ranker),
        &cfg,
    );
    let by_id: HashMap<u32, &Listing> = alive.iter().map(|l| (l.item, l)).collect();
    let items: Vec<FeedItem> = page
        .items
        .iter()
        .zip(&page.explored)
        .enumerate()
        .filter_map(|(position, (item, &explored))| {
            by_id.get(item).map(|l| FeedItem {
                article_id: *item,
                position: position as u16,
                topic: l.topic,
                publisher: l.publisher,
                age_hours: (live.now - l.published).max(0) as f64 / 3600.0,
                explored,
            })
        })
        .collect();
    let metrics = &state.kit.metrics;
    let took = started.elapsed().as_secs_f64();
    metrics.observe_version_rows(&serving.version, "primary", items.len() as u64, took);
    metrics.observe_stage("retrieve", page.funnel.retrieve_us / 1e6);
    metrics.observe_stage("rank", page.funnel.rank_us / 1e6);
    metrics.observe_stage("rerank", page.funnel.rerank_us / 1e6);
    state.served.extend(items.iter().map(|i| Served {
        topic: i.topic,
        position: i.position,
        age_hours: i.age_hours as f32,
        click: false,
        hide: false,
        flagged: false,
    }));
    FeedResponse {
        user_id: user,
        model_version: serving.version.clone(),
        now: live.now,
        source: "realtime".into(),
        items,
        funnel: page.funnel,
    }
}

/// Publishes checked articles: ids in catalogue order, each a candidate from its time.
fn publish(live: &mut Live, articles: &[ArticleIn]) -> Vec<u32> {
    let mut ids = Vec::with_capacity(articles.len());
    for a in articles {
        let published = a
            .published
            .unwrap_or(live.now)
            .max(live.listings.last().map_or(0, |l| l.published));
        live.now = live.now.max(published);
        let item = live.listings.len() as u32;
        let since = live
            .listings
            .iter()
            .find(|l| l.publisher == a.publisher)
            .map_or(published, |l| l.publisher_since);
        live.listings.push(Listing {
            item,
            topic: a.topic,
            publisher: a.publisher,
            published,
            flagged: None,
            publisher_since: since,
        });
        live.counters.publish(item, Some(a.topic), Some(published));
        ids.push(item);
    }
    ids
}

/// Applies checked events: one impression per user, in request order.
fn apply_events(state: &AppState, events: &[EventIn]) -> usize {
    state.sync();
    let mut live = write(&state.live);
    apply_events_to(state, &mut live, events)
}

/// [`apply_events`] on the state `live` (locked by the caller); drops the users' cached feeds.
fn apply_events_to(state: &AppState, live: &mut Live, events: &[EventIn]) -> usize {
    let mut by_user: Vec<(u32, Vec<Shown>, i64)> = Vec::new();
    for e in events {
        let time = e.timestamp.unwrap_or(live.now);
        live.now = live.now.max(time);
        let shown = e.shown();
        let p = (shown.position as usize).min(monitor::POSITIONS - 1);
        live.by_position[p].0 += 1;
        live.by_position[p].1 += u64::from(shown.click);
        match by_user.iter_mut().find(|(u, _, _)| *u == e.user_id) {
            Some((_, list, t)) => {
                list.push(shown);
                *t = (*t).max(time);
            }
            None => by_user.push((e.user_id, vec![shown], time)),
        }
    }
    let clicked: Vec<Served> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Click | EventKind::Share))
        .filter_map(|e| live.listings.get(e.article_id as usize).map(|l| (e, l)))
        .map(|(e, l)| Served {
            topic: l.topic,
            position: e.position,
            age_hours: ((live.now - l.published).max(0) as f64 / 3600.0) as f32,
            click: true,
            hide: false,
            flagged: false,
        })
        .collect();
    state.clicked.extend(clicked);
    let cap = live.counters.config.history_cap.max(1);
    for (user, shown, time) in &by_user {
        let history = live.histories.get(user).cloned().unwrap_or_default();
        let impression = Impression {
            id: 0,
            user: *user,
            time: *time,
            history,
            shown: shown.clone(),
        };
        live.counters.update(&impression);
        let h = live.histories.touch(*user, Vec::new);
        h.extend(shown.iter().filter(|s| s.click).map(|s| s.item));
        let excess = h.len().saturating_sub(cap);
        h.drain(..excess);
    }
    // Talking point [caching]: cache invalidation — a user's own events make their cached feeds
    // stale. (One removal per possible k: constant work per event, whatever the cache holds.)
    let mut cache = lock(&state.cache);
    for (user, _, _) in &by_user {
        for k in 1..=state.config.max_k {
            cache.remove(&(*user, k));
        }
    }
    by_user.len()
}
