//! `POST /v1/maintenance/readings/stream`: NDJSON readings applied as lines arrive, through
//! the core's stream ingest (`mlsd_core::server::ndjson`, shared with the sentiment API).
//!
//! Talking point: streaming vs request/response — one connection for many readings, answered
//! with what was applied and what was refused, by reason; a bad line never stops the stream.

use super::*;

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
    /// With a replicated log: checked lines not appended yet, and the entries appended.
    pending: Vec<ReadingIn>,
    appended: Vec<(Position, usize)>,
}

impl Sink<'_> {
    /// Appends the pending lines as one log entry (a log that cannot take them refuses them
    /// as `state_unavailable`).
    fn flush(&mut self) {
        let Some(follower) = self.state.follower.get() else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let readings = std::mem::take(&mut self.pending);
        let n = readings.len();
        match follower.append("lines", &replicated::LogEntry::Lines { readings }) {
            Ok(position) => self.appended.push((position, n)),
            Err(_) => {
                *self
                    .summary
                    .rejected
                    .entry("state_unavailable".into())
                    .or_insert(0) += n as u64;
            }
        }
    }

    /// Waits until this replica applied the appended entries and counts what they did (lines
    /// it had not applied within the stream's idle bound count as `state_lagging`: they are
    /// in the log and every replica applies them).
    async fn settle(&mut self) {
        let Some(follower) = self.state.follower.get() else {
            return;
        };
        self.flush();
        if let Some(&(last, _)) = self.appended.last() {
            follower.wait_for(last, self.state.config.stream_idle).await;
        }
        for (position, n) in std::mem::take(&mut self.appended) {
            let Ok(lines) = replicated::lines_outcome(self.state, position) else {
                *self
                    .summary
                    .rejected
                    .entry("state_lagging".into())
                    .or_insert(0) += n as u64;
                continue;
            };
            for line in lines {
                match line {
                    Ok(alerts) => {
                        self.summary.accepted += 1;
                        self.summary.alerts += alerts;
                    }
                    Err(code) => self.reject(0, code),
                }
            }
        }
    }
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
        if self.state.follower.get().is_some() {
            // Applied by every replica, in log order; counted when the stream ends.
            self.pending.push(r);
            if self.pending.len() >= replicated::LINES_PER_ENTRY {
                self.flush();
            }
            return;
        }
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
pub(super) async fn stream(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<StreamSummary>, ApiError> {
    ndjson::check_ndjson(&headers)?;
    let _permit = ndjson::stream_slot(&state.streams)?;
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
        pending: Vec::new(),
        appended: Vec::new(),
    };
    ndjson::ingest(body, limits, &mut sink).await?;
    sink.settle().await;
    Ok(Json(sink.summary))
}
