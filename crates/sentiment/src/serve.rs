//! Stage 6 — serving: request/response scoring, a stream ingest and a live per-topic feed
//! (axum, on the shared serving toolkit the other designs use).
//!
//! ```text
//! POST /v1/sentiment          one text ─► cache ─miss─► (micro-batcher) ─► vectorise → NBSVM → Platt
//! POST /v1/sentiment/batch    up to 4,096 texts in one call
//! POST /v1/sentiment/stream   NDJSON, one {"text", "topic"} per line, scored as lines arrive;
//!                             bad lines are quarantined and counted, the rest go on
//!        every scored text with a topic ─► per-topic 1-second buckets ─► rolling windows
//! GET  /v1/sentiment/live?topic=…  Server-Sent Events: the topic's windows every second, and
//!                                  an alert when the short window departs from the long one
//! GET  /v1/sentiment/drift    the recent texts against the model's reference texts
//! ```
//!
//! Talking points: streaming vs request/response (the stream endpoint holds one connection
//! for many texts and answers with a summary; the live feed pushes instead of being polled);
//! micro-batching; a cache for repeated texts (retweets, copy-pasted reviews) with its hit
//! rate on `/metrics`; limits (text length, batch size, body size, topics, subscribers) with
//! 4xx JSON errors; overload → 503.
//!
//! The per-topic windows live in a [`TopicStore`]: this process's memory by default, or Redis
//! (`state: StateBackend::Redis`) so that every replica's texts count in one topic's windows.
//! A Redis that is down or slow sheds the requests that carry a topic with 503 (the text is
//! not lost: the client retries it), and a stream line it could not count is counted by that
//! reason in the stream's summary.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::{Json, Router};
use futures_util::Stream;
use mlsd_core::design::Versioned;
use mlsd_core::lifecycle::entity_of;
use mlsd_core::online_state::{StateBackend, StateError};
use mlsd_core::registry::Registry;
use mlsd_core::serve::{
    check_batch_size, ApiError, ApiJson, ErrorBody, JsonErrors, Metrics, MicroBatcher, Shed,
};
use mlsd_core::server::ndjson::{self, StreamLimits, StreamSink};
use mlsd_core::server::{
    app, CacheStats, Candidate, DriftResponse, Kit, Models, OpenApiRouter, Ops, Recent, Route,
    ServerConfig,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::routes;

use crate::artifact::SentimentArtifact;
use crate::data::TextProblem;
use crate::monitor::{self, TextDriftConfig};
use crate::topics::{
    Bucket, InMemoryTopics, RedisTopics, TopicStore, TopicText, PROBABILITY_UNITS,
};

/// Server settings with their defaults.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// What every design's server has (limits, time budget, micro-batching, drift window …).
    pub server: ServerConfig,
    /// Longest text (characters); longer ones get 422 (a review is ~100).
    pub max_text_chars: usize,
    /// Most texts in one batch request.
    pub max_batch: usize,
    /// Predictions kept for repeated texts (0: no cache).
    pub cache_capacity: usize,
    /// The rolling windows of the live feed, shortest first.
    pub windows: Vec<Duration>,
    /// How often the live feed pushes a topic's windows.
    pub live_interval: Duration,
    /// Longest a live connection stays open (clients reconnect; SSE does it by itself).
    pub live_max: Duration,
    pub max_live_subscribers: usize,
    /// Concurrent stream ingests, their size bound, and how long one may sit idle.
    pub max_streams: usize,
    pub max_stream_bytes: usize,
    pub stream_idle: Duration,
    /// Distinct topics tracked in memory (a new one past the limit evicts the stalest), and
    /// the longest topic name.
    pub max_topics: usize,
    pub max_topic_chars: usize,
    /// An alert needs this many texts in the short window and a departure of this many
    /// standard errors from the long window's share of positives.
    pub alert_min_count: usize,
    pub alert_z: f64,
    /// Where the topic windows live: this process (the default) or a Redis shared by
    /// replicas.
    pub state: StateBackend,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            server: ServerConfig {
                // 4,096 texts of ~250 bytes.
                body_limit: 1 << 20,
                // Recent texts kept for `/v1/sentiment/drift`, and the fewest before it reports.
                drift_window: 5_000,
                drift_min: 200,
                ..ServerConfig::default()
            },
            max_text_chars: crate::data::MAX_TEXT_CHARS,
            max_batch: 4_096,
            cache_capacity: 100_000,
            windows: vec![
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
            live_interval: Duration::from_secs(1),
            live_max: Duration::from_secs(600),
            max_live_subscribers: 256,
            max_streams: 64,
            max_stream_bytes: 64 << 20,
            stream_idle: Duration::from_secs(10),
            max_topics: 1_000,
            max_topic_chars: 64,
            alert_min_count: 30,
            // Four standard errors: the feed re-tests every second, so a 3σ rule would
            // fire by chance every few minutes on a busy topic.
            alert_z: 4.0,
            state: StateBackend::InMemory,
        }
    }
}

/// A prediction without its text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Scored {
    /// `positive`, `negative`, or `undecided` (no word of the text was seen in training).
    pub label: Label,
    /// NBSVM's decision value (> 0: positive).
    pub score: f64,
    /// Calibrated P(positive).
    pub probability: f64,
}

pub use crate::artifact::Label;

/// A two-generation cache: lookups promote entries from the old map to the new one; when the
/// new one is full, the old one is dropped whole. Memory stays under `capacity` entries and
/// what is used often survives — most of LRU's benefit for two hash lookups.
struct TextCache {
    capacity: usize,
    maps: Mutex<(HashMap<String, Scored>, HashMap<String, Scored>)>,
    stats: CacheStats,
}

impl TextCache {
    fn new(capacity: usize) -> Self {
        TextCache {
            capacity,
            maps: Mutex::new((HashMap::new(), HashMap::new())),
            stats: CacheStats::default(),
        }
    }

    /// Forgets every prediction (another model serves now).
    fn clear(&self) {
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        maps.0.clear();
        maps.1.clear();
    }

    fn get(&self, text: &str) -> Option<Scored> {
        if self.capacity == 0 {
            return None;
        }
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        let (young, old) = &mut *maps;
        let found = match young.get(text) {
            Some(s) => Some(*s),
            None => old.remove(text).inspect(|s| {
                young.insert(text.to_string(), *s);
            }),
        };
        self.stats.record(found.is_some());
        found
    }

    fn put(&self, text: &str, scored: Scored) {
        if self.capacity == 0 {
            return;
        }
        let mut maps = self.maps.lock().unwrap_or_else(|p| p.into_inner());
        if maps.0.len() >= self.capacity / 2 {
            maps.1 = std::mem::take(&mut maps.0);
        }
        maps.0.insert(text.to_string(), scored);
    }
}

/// One rolling window of a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WindowAggregate {
    pub seconds: u64,
    pub count: u64,
    /// Share of texts labelled positive (0 when empty).
    pub share_positive: f64,
    /// Mean calibrated P(positive) (0 when empty).
    pub mean_probability: f64,
}

/// What the live feed pushes for a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopicAggregate {
    pub topic: String,
    /// Texts on this topic since the server started.
    pub total: u64,
    pub windows: Vec<WindowAggregate>,
    /// Set when the shortest window's share of positives departs from the longest one's by
    /// `alert_z` standard errors (with at least `alert_min_count` texts).
    pub alert: Option<String>,
}

/// The longest window: how long buckets are kept.
fn horizon(windows: &[Duration]) -> Duration {
    let longest = windows.iter().map(|w| w.as_secs()).max().unwrap_or(1);
    Duration::from_secs(longest.max(1))
}

/// Now, in whole Unix seconds (the bucket a text scored now goes to).
fn unix_second() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Each window's aggregate at second `now` from the topic's `buckets`.
fn windows(windows: &[Duration], buckets: &[Bucket], now: u64) -> Vec<WindowAggregate> {
    windows
        .iter()
        .map(|w| {
            let seconds = w.as_secs().max(1);
            let (mut count, mut positives, mut units) = (0u64, 0u64, 0u64);
            for b in buckets.iter().filter(|b| b.second + seconds > now) {
                count += b.count;
                positives += b.positives;
                units += b.probability_units;
            }
            WindowAggregate {
                seconds,
                count,
                share_positive: positives as f64 / count.max(1) as f64,
                mean_probability: units as f64 / PROBABILITY_UNITS / count.max(1) as f64,
            }
        })
        .collect()
}

/// What every handler is given: the server's state.
type Shared = State<Arc<AppState>>;

/// Everything the handlers share.
pub struct AppState {
    kit: Kit,
    models: Arc<Models<SentimentArtifact>>,
    cache: Arc<TextCache>,
    batcher: Option<MicroBatcher<String, Scored>>,
    /// Per-topic buckets of the live feed.
    topics: Arc<dyn TopicStore>,
    recent: Arc<Recent<String>>,
    streams: Arc<Semaphore>,
    subscribers: Arc<Semaphore>,
    /// Flips to true when the server shuts down: live feeds end so draining can finish.
    closing: watch::Sender<bool>,
    config: ServeConfig,
}

/// Loads the registry's current sentiment model and builds the state. With micro-batching or
/// queue-delay shedding on, call it inside a tokio runtime.
pub fn state(registry: Registry, config: ServeConfig) -> crate::Result<Arc<AppState>> {
    let (kit, models) = Kit::open::<SentimentArtifact>(registry, config.server.clone())?;
    // The single and batch routes go through `Models::route` (the stream and the live feed
    // are the primary's): shadow and canary work here.
    models.enable_rollouts();
    let cache = Arc::new(TextCache::new(config.cache_capacity));
    let recent = Arc::new(Recent::new(config.server.drift_window));
    let (stale_cache, stale_texts) = (cache.clone(), recent.clone());
    // Cached predictions and the drift window came from the old model.
    models.on_swap(move |_| {
        stale_cache.clear();
        stale_texts.clear();
    });
    let horizon = horizon(&config.windows);
    let topics: Arc<dyn TopicStore> = match &config.state {
        StateBackend::InMemory => Arc::new(InMemoryTopics::new(config.max_topics, horizon)),
        StateBackend::Redis {
            url,
            prefix,
            timeout,
        } => Arc::new(
            RedisTopics::open(url, prefix, horizon, *timeout)
                .map_err(|e| crate::Error::Config(e.to_string()))?,
        ),
    };
    let m = models.clone();
    let batcher = kit
        .micro_batcher(move |texts: Vec<String>| {
            let serving = m.get();
            texts.iter().map(|t| score(&serving.model, t)).collect()
        })
        .map_err(crate::Error::Config)?;
    Ok(Arc::new(AppState {
        kit,
        models,
        cache,
        batcher,
        topics,
        recent,
        streams: Arc::new(Semaphore::new(config.max_streams)),
        subscribers: Arc::new(Semaphore::new(config.max_live_subscribers)),
        closing: watch::Sender::new(false),
        config,
    }))
}

/// What a candidate's answers `mine` show next to the primary's `theirs` on the same texts —
/// labels that differ, the probabilities, the time — recorded for its gates and on `/metrics`.
fn compare(
    candidate: &Candidate<SentimentArtifact>,
    role: &'static str,
    metrics: &Metrics,
    theirs: &[Scored],
    mine: &[Scored],
    took: Duration,
) {
    let differ = mine
        .iter()
        .zip(theirs)
        .filter(|(m, t)| m.label != t.label)
        .count();
    let probabilities = |s: &[Scored]| s.iter().map(|s| s.probability).collect::<Vec<f64>>();
    let scores = (&probabilities(theirs)[..], &probabilities(mine)[..]);
    candidate.compared(
        metrics,
        role,
        scores,
        (mine.len() as u64, differ as u64),
        took,
    );
}

fn score(model: &SentimentArtifact, text: &str) -> Scored {
    let p = model.predict(text);
    Scored {
        label: p.label,
        score: p.score,
        probability: p.probability,
    }
}

impl AppState {
    /// (hits, misses) of the text cache so far.
    pub fn cache_counts(&self) -> (u64, u64) {
        self.cache.stats.counts()
    }

    /// The version serving now.
    pub fn serving_version(&self) -> String {
        self.models.get().version.clone()
    }

    /// Follows the registry pointer (promotions and rollbacks from the CLI, no restart).
    pub fn watch_registry(&self) -> tokio::task::JoinHandle<()> {
        self.models.watch(self.config.server.watch_every)
    }

    /// Ends every live feed (call on shutdown, before draining: an SSE response never ends
    /// by itself).
    pub fn close_live_feeds(&self) {
        self.closing.send_replace(true);
    }

    /// Scores one checked text: the cache, then the micro-batcher or the model.
    async fn score_one(
        &self,
        serving: &SentimentArtifact,
        text: &str,
    ) -> Result<(Scored, bool), ApiError> {
        // Talking point [caching]: caching — repeated texts (retweets, pasted reviews) cost one
        // hash lookup; the hit and miss counters on /metrics say whether the memory is worth it.
        if let Some(hit) = self.cache.get(text) {
            return Ok((hit, true));
        }
        // Talking point: micro-batching — concurrent requests share one model call; it pays
        // only for a model with a fixed cost per call (docs/benchmarks.md: not this one).
        let scored = match &self.batcher {
            Some(b) => b.submit(text.to_string()).await?,
            None => {
                self.kit.call_model(1).await?;
                score(serving, text)
            }
        };
        self.cache.put(text, scored);
        Ok((scored, false))
    }

    /// The candidate that answers this request, if a canary takes it: the entity is the
    /// topic when given (a topic's live aggregate then comes from one model), else the text
    /// (a batch: its first text), so a repeated request meets the same model.
    fn canary<'a>(
        &self,
        route: &'a Route<SentimentArtifact>,
        topic: Option<&str>,
        text: &str,
    ) -> Option<&'a Arc<Candidate<SentimentArtifact>>> {
        // Talking point [experiments]: canary by entity, not by request.
        let entity = entity_of(topic.unwrap_or(text).as_bytes());
        route
            .candidate
            .as_ref()
            .filter(|c| c.percent > 0 && c.answers(entity))
    }

    /// The canary's answers to `texts` (the primary scores them too, for the comparison;
    /// neither goes through the text cache, which holds the primary's answers).
    fn canary_answers(
        &self,
        primary: &Versioned<SentimentArtifact>,
        canary: &Candidate<SentimentArtifact>,
        texts: &[String],
    ) -> Vec<Scored> {
        let started = Instant::now();
        let answers: Vec<Scored> = texts
            .iter()
            .map(|t| score(&canary.model.model, t))
            .collect();
        let took = started.elapsed();
        let theirs: Vec<Scored> = texts.iter().map(|t| score(&primary.model, t)).collect();
        compare(canary, "canary", &self.kit.metrics, &theirs, &answers, took);
        answers
    }

    /// Shadow: a candidate in shadow scores a copy of `texts` on the mirror thread and is
    /// compared with the primary's `answers`, which alone are returned.
    fn shadow(&self, route: &Route<SentimentArtifact>, texts: Vec<String>, answers: &[Scored]) {
        let Some(candidate) = route.candidate.clone().filter(|c| c.percent == 0) else {
            return;
        };
        let (theirs, metrics) = (answers.to_vec(), self.kit.metrics.clone());
        self.models.mirror(move || {
            let started = Instant::now();
            let mine: Vec<Scored> = texts
                .iter()
                .map(|t| score(&candidate.model.model, t))
                .collect();
            compare(
                &candidate,
                "shadow",
                &metrics,
                &theirs,
                &mine,
                started.elapsed(),
            );
        });
    }

    /// Records scored texts: the drift window, the score histogram, the topic's buckets (one
    /// round trip for all of them with Redis). A topic store that cannot count them is a 503:
    /// the client retries, and the texts are not lost from the windows.
    fn record(
        &self,
        texts: &[&str],
        topic: Option<&str>,
        scored: &[Scored],
    ) -> Result<(), ApiError> {
        for (text, s) in texts.iter().zip(scored) {
            self.kit.metrics.observe_score(s.probability);
            self.recent.extend([text.to_string()]);
        }
        let positive = scored.iter().filter(|s| s.label == Label::Positive).count();
        for (counter, n) in [
            ("predictions_positive_total", positive),
            ("predictions_negative_total", scored.len() - positive),
        ] {
            let help = "Texts answered with this label.";
            self.kit.metrics.add_counter(counter, help, n as f64);
        }
        let Some(topic) = topic else { return Ok(()) };
        let second = unix_second();
        let texts: Vec<TopicText> = scored
            .iter()
            .map(|s| TopicText {
                topic: topic.to_string(),
                second,
                positive: s.label == Label::Positive,
                probability: s.probability,
                id: None,
            })
            .collect();
        self.topics.record(&texts)?;
        Ok(())
    }

    /// The topic's rolling windows now (zeros for a topic not seen yet).
    pub fn aggregate(&self, topic: &str) -> Result<TopicAggregate, StateError> {
        let now = unix_second();
        let horizon = horizon(&self.config.windows).as_secs();
        let (total, buckets) = self.topics.buckets(topic, now, horizon)?;
        let windows = windows(&self.config.windows, &buckets, now);
        let alert = self.alert(topic, &windows);
        Ok(TopicAggregate {
            topic: topic.to_string(),
            total,
            windows,
            alert,
        })
    }

    /// Talking point: an alert with a false-alarm budget. "Sentiment dropped" must be more
    /// than noise: the short window needs enough texts, and its share of positives must sit
    /// `alert_z` binomial standard errors from the long window's.
    fn alert(&self, topic: &str, windows: &[WindowAggregate]) -> Option<String> {
        let (short, long) = (windows.first()?, windows.last()?);
        if windows.len() < 2 || (short.count as usize) < self.config.alert_min_count {
            return None;
        }
        let p = long.share_positive.clamp(0.01, 0.99);
        let se = (p * (1.0 - p) / short.count as f64).sqrt();
        let z = (short.share_positive - long.share_positive) / se;
        (z.abs() >= self.config.alert_z).then(|| {
            format!(
                "{topic}: {:.0} % positive in the last {} s vs {:.0} % over {} s (z = {z:+.1})",
                100.0 * short.share_positive,
                short.seconds,
                100.0 * long.share_positive,
                long.seconds
            )
        })
    }

    /// 422 unless the topic is short (as sent) and non-blank; the topic counted is trimmed.
    fn check_topic<'a>(&self, topic: Option<&'a str>) -> Result<Option<&'a str>, ApiError> {
        let Some(topic) = topic else {
            return Ok(None);
        };
        let too_long = topic.chars().count() > self.config.max_topic_chars;
        let topic = topic.trim();
        if topic.is_empty() || too_long {
            return Err(ApiError::invalid(
                "invalid_topic",
                format!("a topic is 1 to {} characters", self.config.max_topic_chars),
            ));
        }
        Ok(Some(topic))
    }
}

/// 422 for an empty or too long text.
fn check_text(text: &str, max_chars: usize) -> Result<(), ApiError> {
    match TextProblem::of(text, max_chars) {
        None => Ok(()),
        Some(p @ TextProblem::Empty) => Err(ApiError::invalid(p.code(), "text is empty")),
        Some(p @ TextProblem::TooLong { chars }) => Err(ApiError::invalid(
            p.code(),
            format!("text has {chars} characters; the limit is {max_chars}"),
        )),
    }
}

impl AppState {
    /// The cache's hits and misses and the topics tracked, for `/metrics`.
    fn set_gauges(&self, m: &Metrics) {
        self.cache.stats.export(m, "Predictions");
        let Some((topics, evicted)) = self.topics.counts() else {
            return;
        };
        m.set_gauge("topics", "Topics with live aggregates.", topics as f64);
        m.set_counter(
            "topics_evicted_total",
            "Topics evicted (the stalest) to admit a new one.",
            evicted as f64,
        );
    }
}

/// One text to score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SentimentRequest {
    /// Not blank, at most `max_text_chars` characters.
    #[schema(min_length = 1)]
    pub text: String,
    /// Counted in this topic's live aggregates when given (not blank, at most
    /// `max_topic_chars` characters).
    #[serde(default)]
    #[schema(min_length = 1)]
    pub topic: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SentimentResponse {
    #[serde(flatten)]
    pub scored: Scored,
    /// Served from the text cache.
    pub cached: bool,
    pub model_version: String,
}

/// Scores one text.
#[utoipa::path(post, path = "/v1/sentiment", tag = "sentiment", request_body = SentimentRequest, responses((status = 200, description = "Scored", body = SentimentResponse), (status = 422, description = "Unknown field, empty or too long text, bad topic", body = ErrorBody), JsonErrors))]
async fn predict(
    State(state): Shared,
    ApiJson(req): ApiJson<SentimentRequest>,
) -> Result<Json<SentimentResponse>, ApiError> {
    check_text(&req.text, state.config.max_text_chars)?;
    let topic = state.check_topic(req.topic.as_deref())?;
    let route = state.models.route();
    if let Some(canary) = state.canary(&route, topic, &req.text) {
        let scored = state.canary_answers(&route.primary, canary, std::slice::from_ref(&req.text));
        let scored = scored
            .first()
            .copied()
            .ok_or_else(|| ApiError::internal("no answer"))?;
        state.record(&[&req.text], topic, &[scored])?;
        return Ok(Json(SentimentResponse {
            scored,
            cached: false,
            model_version: canary.model.version.clone(),
        }));
    }
    let serving = &route.primary;
    let started = Instant::now();
    let (scored, cached) = state.score_one(&serving.model, &req.text).await?;
    let took = started.elapsed().as_secs_f64();
    (state.kit.metrics).observe_version(&serving.version, "primary", &[scored.probability], took);
    state.shadow(&route, vec![req.text.clone()], &[scored]);
    state.record(&[&req.text], topic, &[scored])?;
    Ok(Json(SentimentResponse {
        scored,
        cached,
        model_version: serving.version.clone(),
    }))
}

/// Many texts in one call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to `max_batch` texts, each as in a single request.
    #[schema(min_items = 1)]
    pub texts: Vec<String>,
    /// One topic for all of them, when given.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub topic: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// In request order.
    pub predictions: Vec<Scored>,
    pub model_version: String,
}

/// Scores up to `max_batch` texts (default 4,096) in one call; one bad text refuses the
/// batch with its index (nothing is half-applied).
#[utoipa::path(post, path = "/v1/sentiment/batch", tag = "sentiment", request_body = BatchRequest, responses((status = 200, description = "Scored, in order", body = BatchResponse), (status = 422, description = "Empty or too large batch; a bad text (its index is named)", body = ErrorBody), JsonErrors))]
async fn predict_batch(
    State(state): Shared,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    check_batch_size(req.texts.len(), state.config.max_batch, "texts")?;
    for (i, text) in req.texts.iter().enumerate() {
        check_text(text, state.config.max_text_chars)
            .map_err(|e| ApiError::invalid(e.code, format!("texts[{i}]: {}", e.message)))?;
    }
    let topic = state.check_topic(req.topic.as_deref())?;
    let _rows = state.kit.admit_rows(req.texts.len())?;
    state.kit.metrics.observe_batch(req.texts.len());
    // Talking point [batch-vs-real-time]: the batch path skips the cache and the micro-batcher — it
    // is already a batch, and its texts are rarely repeats of single requests.
    state.kit.call_model(req.texts.len()).await?;
    let route = state.models.route();
    let first = req.texts.first().map_or("", String::as_str);
    let (predictions, version) = match state.canary(&route, topic, first) {
        Some(canary) => (
            state.canary_answers(&route.primary, canary, &req.texts),
            &canary.model.version,
        ),
        None => {
            let started = Instant::now();
            let serving = &route.primary;
            let predictions: Vec<Scored> =
                req.texts.iter().map(|t| score(&serving.model, t)).collect();
            let probabilities: Vec<f64> = predictions.iter().map(|s| s.probability).collect();
            let took = started.elapsed().as_secs_f64();
            state
                .kit
                .metrics
                .observe_version(&serving.version, "primary", &probabilities, took);
            state.shadow(&route, req.texts.clone(), &predictions);
            (predictions, &serving.version)
        }
    };
    let texts: Vec<&str> = req.texts.iter().map(String::as_str).collect();
    state.record(&texts, topic, &predictions)?;
    Ok(Json(BatchResponse {
        predictions,
        model_version: version.clone(),
    }))
}

/// The recent texts (up to `drift_window`) against the model's reference texts: vocabulary,
/// length, word and prediction shifts, and a domain classifier. No report for a model saved
/// without reference texts.
#[utoipa::path(get, path = "/v1/sentiment/drift", tag = "monitoring", responses((status = 200, description = "Drift of the recent texts", body = DriftResponse), Shed))]
async fn drift(State(state): Shared) -> Result<Json<DriftResponse>, ApiError> {
    state.kit.heavy(&state, drift_now).await.map(Json)
}

/// The drift check itself (CPU: ~75 ms on a 5,000-text window), off the async workers.
fn drift_now(state: &AppState) -> DriftResponse {
    let serving = state.models.get();
    let current = state.recent.snapshot();
    let reference = &serving.model.reference_texts;
    DriftResponse::check(
        &serving.version,
        &current,
        state.config.server.drift_min,
        |current| {
            (!reference.is_empty()).then(|| {
                monitor::check(
                    &serving.model,
                    reference,
                    current,
                    &TextDriftConfig::default(),
                )
            })
        },
    )
}

/// The sentiment routes' OpenAPI 3.1 document (the operational routes are merged in).
#[derive(OpenApi)]
#[openapi(info(
    title = "mlsd sentiment",
    description = "Real-time sentiment: single and batch scoring, an NDJSON stream ingest and a Server-Sent-Events feed of rolling per-topic aggregates."
))]
pub struct ApiDoc;

/// The sentiment routes plus every design's operational ones, with the common layers around
/// the request/response routes; the two long-lived routes (stream ingest, live feed) have
/// their own bounds instead of the per-request time budget.
pub fn router(state: Arc<AppState>) -> Router {
    let ops = Ops::new(state.models.clone(), &state.kit, ApiDoc::openapi())
        .readiness(&state, |s| Ok(s.topics.ready()?))
        .ready_details(&state, |s| {
            // n-grams in the model's vocabulary.
            let features = s.models.get().model.vectorizer.dims();
            serde_json::Map::from_iter([
                ("features".to_string(), features.into()),
                ("state".to_string(), s.config.state.describe().into()),
            ])
        })
        .gauges(&state, AppState::set_gauges)
        .constraints(&state, text_constraints);
    let routes = OpenApiRouter::new()
        .routes(routes!(predict))
        .routes(routes!(predict_batch))
        .routes(routes!(drift));
    let long_lived = OpenApiRouter::new()
        .routes(routes!(stream::stream))
        .routes(routes!(stream::live));
    app(&state.kit, ops, state.clone(), routes, long_lived)
}

/// The rules [`check_text`], [`AppState::check_topic`] and the batch size check apply with
/// this server's settings, stated in the document; the live feed described as its events.
fn text_constraints(state: &AppState, api: &mut utoipa::openapi::OpenApi) {
    use mlsd_core::server::contract::Target::{self, Field, Items, Param};
    use mlsd_core::server::contract::{item_range, length_range, pattern, sse_events, NOT_BLANK};
    let text = |api: &mut utoipa::openapi::OpenApi, target: Target<'_>, max: usize| {
        length_range(api, target, 1, max);
        pattern(api, target, NOT_BLANK);
    };
    let config = &state.config;
    let (max_text, max_topic) = (config.max_text_chars, config.max_topic_chars);
    for schema in ["SentimentRequest", "BatchRequest", "StreamRecord"] {
        text(api, Field(schema, "topic"), max_topic);
    }
    text(api, Field("SentimentRequest", "text"), max_text);
    text(api, Field("StreamRecord", "text"), max_text);
    item_range(api, Field("BatchRequest", "texts"), 1, config.max_batch);
    text(api, Items("BatchRequest", "texts"), max_text);
    text(api, Param("/v1/sentiment/live", "topic"), max_topic);
    sse_events(api, "/v1/sentiment/live", "aggregate", "TopicAggregate");
}

mod stream;

pub use stream::{Rejection, StreamRecord, StreamSummary};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_generation_cache_stays_bounded_and_keeps_what_is_used() {
        let cache = TextCache::new(4);
        let s = Scored {
            label: Label::Positive,
            score: 1.0,
            probability: 0.7,
        };
        for t in ["a", "b", "c", "d", "e"] {
            cache.put(t, s);
            assert!(cache.get("a").is_some() || t == "e", "{t}");
        }
        let maps = cache.maps.lock().expect("maps");
        assert!(maps.0.len() + maps.1.len() <= 4);
    }
}
