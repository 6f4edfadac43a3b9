//! The two long-lived routes: `POST /v1/sentiment/stream` (NDJSON in, scored as lines arrive,
//! answered with a summary) and `GET /v1/sentiment/live` (Server-Sent Events of a topic's
//! windows).
//!
//! Talking point: streaming vs request/response — one connection for many texts, and a feed
//! that pushes instead of being polled.

use super::*;

/// One line of a stream. Other fields (ids, timestamps, labels) are ignored: producers add
/// them, and refusing a whole line for an extra field would lose the text.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StreamRecord {
    /// As in a single request; a bad line is counted by reason, not refused with the stream.
    #[schema(min_length = 1)]
    text: String,
    #[serde(default)]
    #[schema(min_length = 1)]
    topic: Option<String>,
}

/// What a stream ingest did.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct StreamSummary {
    /// Lines scored and counted in their topics.
    pub accepted: u64,
    /// Lines refused, by reason (`invalid_utf8`, `malformed_json`, `empty_text`, …).
    pub rejected: BTreeMap<String, u64>,
    /// The first ten refused lines, with their reasons.
    pub first_rejections: Vec<Rejection>,
    pub positive: u64,
    /// `true` when the stream ended because it sat idle (no bytes for `stream_idle`).
    pub idle_timeout: bool,
}

/// A refused line of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    /// 1-based line number.
    pub line: u64,
    pub reason: String,
}

impl StreamSummary {
    fn reject(&mut self, line: u64, reason: &str) {
        *self.rejected.entry(reason.to_string()).or_insert(0) += 1;
        if self.first_rejections.len() < 10 {
            self.first_rejections.push(Rejection {
                line,
                reason: reason.to_string(),
            });
        }
    }
}

/// Stream ingest: NDJSON (`{"text", "topic"?}` per line, other fields ignored), scored as
/// lines arrive (a client may hold the connection open and keep writing); answers with a
/// summary when the body ends.
/// Bad lines are counted by reason and skipped; the stream goes on.
#[utoipa::path(post, path = "/v1/sentiment/stream", tag = "sentiment", request_body(content = Vec<StreamRecord>, content_type = "application/x-ndjson", description = "One StreamRecord per line (the array's items, one JSON object each)"), responses((status = 200, description = "Summary of the stream: lines scored, and lines refused by reason", body = StreamSummary), (status = 400, description = "The body broke off mid-stream", body = ErrorBody), (status = 413, description = "Stream larger than max_stream_bytes (lines before the limit were counted)", body = ErrorBody), (status = 415, description = "Not NDJSON", body = ErrorBody), (status = 503, description = "Too many concurrent streams", body = ErrorBody)))]
pub(super) async fn stream(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StreamSummary>, ApiError> {
    ndjson::check_ndjson(&headers)?;
    let _permit = ndjson::stream_slot(&state.streams)?;
    let limits = StreamLimits {
        max_bytes: state.config.max_stream_bytes,
        max_line: state.config.max_text_chars * 4 + 1_024, // UTF-8 text + JSON around it
        idle: state.config.stream_idle,
    };
    let mut sink = Sink {
        state: &state,
        summary: StreamSummary::default(),
    };
    ndjson::ingest(body, limits, &mut sink).await?;
    Ok(Json(sink.summary))
}

/// The sentiment side of a stream: each line scored and recorded, or refused with a reason.
struct Sink<'a> {
    state: &'a AppState,
    summary: StreamSummary,
}

impl StreamSink for Sink<'_> {
    fn line(&mut self, raw: &[u8], line_no: u64) {
        self.state.ingest_line(raw, line_no, &mut self.summary);
    }
    fn reject(&mut self, line_no: u64, reason: &str) {
        self.summary.reject(line_no, reason);
    }
    fn accepted(&self) -> u64 {
        self.summary.accepted
    }
    fn idle_timeout(&mut self) {
        self.summary.idle_timeout = true;
    }
}

impl AppState {
    /// One NDJSON line of a stream: parsed, checked, scored and recorded — or counted as
    /// refused with its reason.
    fn ingest_line(&self, raw: &[u8], line_no: u64, summary: &mut StreamSummary) {
        let Ok(line) = std::str::from_utf8(raw) else {
            summary.reject(line_no, "invalid_utf8");
            return;
        };
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let req: StreamRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) => {
                summary.reject(line_no, "malformed_json");
                return;
            }
        };
        let checked = check_text(&req.text, self.config.max_text_chars)
            .and_then(|()| self.check_topic(req.topic.as_deref()));
        let topic = match checked {
            Ok(topic) => topic,
            Err(e) => {
                summary.reject(line_no, e.code);
                return;
            }
        };
        let scored = match self.cache.get(&req.text) {
            Some(hit) => hit,
            None => {
                let s = score(&self.models.get().model, &req.text);
                self.cache.put(&req.text, s);
                s
            }
        };
        // A line the topic store could not count is rejected by that reason (the producer
        // can resend it), never counted as accepted.
        if let Err(e) = self.record(&[&req.text], topic, &[scored]) {
            summary.reject(line_no, e.code);
            return;
        }
        summary.accepted += 1;
        summary.positive += u64::from(scored.label == Label::Positive);
    }
}

/// The live feed: Server-Sent Events, one `aggregate` event with the topic's rolling windows
/// every `live_interval`, for at most `live_max` (then the client reconnects).
#[utoipa::path(get, path = "/v1/sentiment/live", tag = "sentiment", params(("topic" = String, Query, description = "The topic to follow (not blank, at most max_topic_chars characters)")), responses((status = 200, description = "text/event-stream of `aggregate` events (TopicAggregate as JSON)", body = TopicAggregate, content_type = "text/event-stream"), (status = 422, description = "No topic or a bad one", body = ErrorBody), (status = 503, description = "Too many subscribers", body = ErrorBody)))]
pub(super) async fn live(
    State(state): Shared,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let mut topic = None;
    for pair in query.as_deref().unwrap_or("").split('&') {
        if let Some(value) = pair.strip_prefix("topic=") {
            topic = Some(percent_decode(value).ok_or_else(|| {
                ApiError::invalid(
                    "invalid_topic",
                    "the topic is not valid percent-encoded UTF-8",
                )
            })?);
        }
    }
    let topic = topic
        .ok_or_else(|| ApiError::invalid("missing_topic", "name the topic to follow: ?topic=…"))?;
    let topic = state
        .check_topic(Some(&topic))?
        .map(str::to_string)
        .unwrap_or_default();
    let permit = state.subscribers.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_subscribers",
            "every live slot is taken; retry later",
        )
    })?;
    let mut interval = tokio::time::interval(state.config.live_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = tokio::time::Instant::now() + state.config.live_max;
    let closing = state.closing.subscribe();
    let feed = futures_util::stream::unfold(
        (state, topic, interval, closing, permit),
        move |(state, topic, mut interval, mut closing, permit)| async move {
            if *closing.borrow() {
                return None;
            }
            tokio::select! {
                _ = interval.tick() => {}
                _ = closing.changed() => return None,
                _ = tokio::time::sleep_until(deadline) => return None,
            }
            // A store that cannot answer now gives an `unavailable` event, and the feed goes
            // on: the next tick may find it back.
            let event = match state.aggregate(&topic) {
                Ok(aggregate) => Event::default()
                    .event("aggregate")
                    .json_data(&aggregate)
                    .unwrap_or_else(|_| Event::default().comment("unserialisable aggregate")),
                Err(e) => Event::default().event("unavailable").data(e.to_string()),
            };
            Some((Ok(event), (state, topic, interval, closing, permit)))
        },
    );
    Ok(Sse::new(feed).keep_alive(KeepAlive::default()))
}

/// `%XX` and `+` decoding of a query value; `None` when it is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_of_topics() {
        assert_eq!(percent_decode("caf%C3%A9+bar").as_deref(), Some("café bar"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%FF"), None);
        assert_eq!(percent_decode("%4"), Some("%4".to_string()));
    }
}
