//! The news-feed server's handlers and request/response types: parse at the edge, then the
//! state functions of `serve.rs` do the work.

use super::*;

/// One article of a feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedItem {
    pub article_id: u32,
    /// 0-based slot.
    pub position: u16,
    pub topic: u16,
    pub publisher: u32,
    pub age_hours: f64,
    /// Placed by the exploration slot, not by the ranker.
    pub explored: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedResponse {
    pub user_id: u32,
    /// The registry version that ranked the page.
    pub model_version: String,
    /// The server's clock when the page was built (seconds).
    pub now: i64,
    /// `realtime` (built now) or `cache` (built within the TTL, no event since).
    pub source: String,
    pub items: Vec<FeedItem>,
    /// Counts and timings of each stage.
    #[schema(value_type = Object)]
    pub funnel: Funnel,
}

fn parse_k(raw: Option<&str>, max_k: usize) -> Result<usize, ApiError> {
    let mut k = 10usize.min(max_k);
    for (key, value) in mlsd_core::serve::query_pairs(raw) {
        match key {
            "k" => k = mlsd_core::serve::parse_k(value, max_k)?,
            other => {
                return Err(ApiError::invalid(
                    "unknown_parameter",
                    format!("unknown query parameter {other:?} (k)"),
                ))
            }
        }
    }
    Ok(k)
}

fn parse_user(text: &str) -> Result<u32, ApiError> {
    mlsd_core::serve::whole_text(text)
        .and_then(|u| u32::try_from(u).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_user",
                format!("user id must be a whole number from 0, got {text:?}"),
            )
        })
}

/// The user's feed now: candidate sources → ranker → re-ranking, over the live counters.
#[utoipa::path(get, path = "/v1/newsfeed/users/{user_id}/feed", tag = "newsfeed", params(("user_id" = u32, Path, description = "0 or more; a user never seen gets a cold-start feed"), ("k" = Option<usize>, Query, description = "1 to max_k (50); default 10")), responses((status = 200, description = "The page", body = FeedResponse), (status = 400, description = "user_id is not a number", body = ErrorBody), (status = 422, description = "Invalid k or parameter", body = ErrorBody), Shed))]
pub async fn feed(
    State(state): Shared,
    Path(user): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<FeedResponse>, ApiError> {
    let user = parse_user(&user)?;
    let k = parse_k(query.as_deref(), state.config.max_k)?;
    let version = state.serving_version();
    if let Some((at, cached)) = lock(&state.cache).get(&(user, k)).cloned() {
        if at.elapsed() < state.config.cache_ttl && cached.model_version == version {
            state.cache_stats.record(true);
            let mut hit = (*cached).clone();
            hit.source = "cache".into();
            return Ok(Json(hit));
        }
    }
    state.cache_stats.record(false);
    let s = state.clone();
    let response = tokio::task::spawn_blocking(move || build_feed(&s, user, k))
        .await
        .map_err(ApiError::internal)?;
    let mut cache = lock(&state.cache);
    if cache.len() >= state.config.cache_capacity {
        let ttl = state.config.cache_ttl;
        cache.retain(|_, (at, _)| at.elapsed() < ttl);
    }
    if cache.len() < state.config.cache_capacity {
        cache.insert((user, k), (Instant::now(), Arc::new(response.clone())));
    }
    Ok(Json(response))
}

/// A new article.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleIn {
    /// A topic index of the catalogue (`GET /ready` says how many).
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub topic: u16,
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub publisher: u32,
    /// Seconds; defaults to the server's clock. The article is a candidate from then.
    #[serde(default, deserialize_with = "mlsd_core::serve::whole_opt")]
    pub published: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticlesRequest {
    #[schema(min_items = 1)]
    pub articles: Vec<ArticleIn>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArticlesResponse {
    /// The ids given to the articles, in request order.
    pub article_ids: Vec<u32>,
}

/// Publishes articles: they are candidates of the next feed.
#[utoipa::path(post, path = "/v1/newsfeed/articles", tag = "newsfeed", request_body = ArticlesRequest, responses((status = 201, description = "Published", body = ArticlesResponse), (status = 422, description = "Unknown topic, a time before the clock's window, or too many", body = ErrorBody), JsonErrors))]
pub async fn articles(
    State(state): Shared,
    ApiJson(req): ApiJson<ArticlesRequest>,
) -> Result<(StatusCode, Json<ArticlesResponse>), ApiError> {
    mlsd_core::serve::check_batch_size(req.articles.len(), state.config.max_articles, "articles")?;
    state.sync();
    let topics = read(&state.live).topics;
    for a in &req.articles {
        if usize::from(a.topic) >= topics {
            return Err(ApiError::invalid(
                "unknown_topic",
                format!("topic must be 0 to {}, got {}", topics - 1, a.topic),
            ));
        }
        if a.published.is_some_and(|t| !(0..=MAX_TIME).contains(&t)) {
            return Err(ApiError::invalid(
                "invalid_time",
                format!("published must be 0 to {MAX_TIME} seconds"),
            ));
        }
    }
    if let Some(follower) = state.follower.get() {
        // Every replica publishes them, in log order: the ids are the same everywhere.
        let entry = replicated::LogEntry::Articles {
            articles: req.articles,
        };
        let position = replicated::append(&state, follower, &entry).await?;
        let ids = replicated::assigned(&state, position);
        return Ok((
            StatusCode::CREATED,
            Json(ArticlesResponse { article_ids: ids }),
        ));
    }
    let ids = publish(&mut write(&state.live), &req.articles);
    // Every cached feed predates these candidates.
    lock(&state.cache).clear();
    Ok((
        StatusCode::CREATED,
        Json(ArticlesResponse { article_ids: ids }),
    ))
}

/// The latest time an article or event may carry (year 2100).
pub const MAX_TIME: i64 = 4_102_444_800;

/// What the user did with a served slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Shown, nothing done.
    Impression,
    Click,
    /// Clicked and shared.
    Share,
    /// Shown and hidden ("not interested").
    Hide,
}

/// One served slot and its outcome.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub user_id: u32,
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    pub article_id: u32,
    pub kind: EventKind,
    /// The slot it was shown at (0-based).
    #[serde(default, deserialize_with = "mlsd_core::serve::whole")]
    #[schema(maximum = 1000)]
    pub position: u16,
    /// Seconds read, for a click or share.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 86400)]
    pub dwell_seconds: f32,
    /// Seconds; defaults to the server's clock.
    #[serde(default, deserialize_with = "mlsd_core::serve::whole_opt")]
    pub timestamp: Option<i64>,
}

impl EventIn {
    pub fn shown(&self) -> Shown {
        let click = matches!(self.kind, EventKind::Click | EventKind::Share);
        Shown {
            item: self.article_id,
            position: self.position,
            click,
            dwell: if click { self.dwell_seconds } else { 0.0 },
            share: self.kind == EventKind::Share,
            hide: self.kind == EventKind::Hide,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsRequest {
    #[schema(min_items = 1)]
    pub events: Vec<EventIn>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventsResponse {
    pub accepted: usize,
    /// Users whose counters, history and cached feeds were updated.
    pub users: usize,
}

/// Engagement events: counters and histories update now, the users' cached feeds are dropped.
#[utoipa::path(post, path = "/v1/newsfeed/events", tag = "newsfeed", request_body = EventsRequest, responses((status = 202, description = "Applied", body = EventsResponse), (status = 404, description = "An unknown article (nothing applied)", body = ErrorBody), (status = 422, description = "A bad dwell, time or too many events", body = ErrorBody), JsonErrors))]
pub async fn events(
    State(state): Shared,
    ApiJson(req): ApiJson<EventsRequest>,
) -> Result<(StatusCode, Json<EventsResponse>), ApiError> {
    mlsd_core::serve::check_batch_size(req.events.len(), state.config.max_events, "events")?;
    state.sync();
    {
        let live = read(&state.live);
        for e in &req.events {
            if e.article_id as usize >= live.listings.len() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_article",
                    format!("article {} does not exist (nothing applied)", e.article_id),
                ));
            }
            if !e.dwell_seconds.is_finite() || !(0.0..=86_400.0).contains(&e.dwell_seconds) {
                return Err(ApiError::invalid(
                    "invalid_dwell",
                    "dwell_seconds must be 0 to 86400",
                ));
            }
            if usize::from(e.position) > 1_000 {
                return Err(ApiError::invalid(
                    "invalid_position",
                    "position must be 0 to 1000",
                ));
            }
            if e.timestamp.is_some_and(|t| !(0..=MAX_TIME).contains(&t)) {
                return Err(ApiError::invalid(
                    "invalid_time",
                    format!("timestamp must be 0 to {MAX_TIME} seconds"),
                ));
            }
        }
    }
    let users = match state.follower.get() {
        Some(follower) => {
            let mut users: Vec<u32> = req.events.iter().map(|e| e.user_id).collect();
            users.sort_unstable();
            users.dedup();
            let accepted = req.events.len();
            let entry = replicated::LogEntry::Events { events: req.events };
            replicated::append(&state, follower, &entry).await?;
            return Ok((
                StatusCode::ACCEPTED,
                Json(EventsResponse {
                    accepted,
                    users: users.len(),
                }),
            ));
        }
        None => apply_events(&state, &req.events),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(EventsResponse {
            accepted: req.events.len(),
            users,
        }),
    ))
}

/// Served topic mix against the version's reference day; CTR by position.
#[utoipa::path(get, path = "/v1/newsfeed/drift", tag = "newsfeed", responses((status = 200, description = "The check (report null until the window holds drift_min slots)", body = DriftResponse), Shed))]
pub async fn drift(State(state): Shared) -> Result<Json<DriftResponse>, ApiError> {
    state.kit.heavy(&state, drift_now).await.map(Json)
}

fn drift_now(state: &AppState) -> DriftResponse {
    let serving = state.models.get();
    let window = state.served.snapshot();
    let clicked = state.clicked.snapshot();
    DriftResponse::check(
        &serving.version,
        &window,
        state.config.server.drift_min,
        |w| {
            let r = monitor::report(&serving.model.reference, w, &clicked);
            state.kit.metrics.set_gauge(
                "topic_mix_js",
                "Jensen-Shannon distance of the served topic mix to the reference, latest check.",
                r.topic_distance,
            );
            Some(r)
        },
    )
}

/// The rules the handlers apply, stated in the document.
pub fn request_constraints(state: &AppState, api: &mut utoipa::openapi::OpenApi) {
    use mlsd_core::server::contract::{item_range, number_range, Target};
    let path = "/v1/newsfeed/users/{user_id}/feed";
    let (ids, time) = (f64::from(u32::MAX), MAX_TIME as f64);
    number_range(api, Target::Param(path, "user_id"), 0.0, ids);
    number_range(
        api,
        Target::Param(path, "k"),
        1.0,
        state.config.max_k as f64,
    );
    let last_topic = read(&state.live).topics.saturating_sub(1) as f64;
    // Any article id parses; one the catalogue does not hold is a 404 (the catalogue grows
    // while the server runs, so no bound stated at start would stay true).
    for (schema, field, max) in [
        ("EventIn", "user_id", ids),
        ("EventIn", "article_id", ids),
        ("EventIn", "timestamp", time),
        ("ArticleIn", "topic", last_topic),
        ("ArticleIn", "publisher", ids),
        ("ArticleIn", "published", time),
    ] {
        number_range(api, Target::Field(schema, field), 0.0, max);
    }
    let (articles, events) = (state.config.max_articles, state.config.max_events);
    item_range(
        api,
        Target::Field("ArticlesRequest", "articles"),
        1,
        articles,
    );
    item_range(api, Target::Field("EventsRequest", "events"), 1, events);
}
