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
    };
    ndjson::ingest(body, limits, &mut sink).await?;
    Ok(Json(sink.summary))
}
