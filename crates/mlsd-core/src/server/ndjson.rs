//! Stream ingest for any design: an NDJSON body read line by line as it arrives, each line
//! handed to the design, bad lines counted by reason while the stream goes on.
//!
//! ```text
//! POST …/stream (Content-Type: application/x-ndjson)
//!   chunks ─► complete lines ─► StreamSink::line (parse, check, use — or reject with a reason)
//!   idle for `idle` ─► ends with idle_timeout; past `max_bytes` ─► 413 (earlier lines counted)
//! ```
//!
//! Talking points: streaming vs request/response (one connection for many items, answered
//! with a summary); a bad line never refuses the stream; every bound (bytes, line length,
//! idle time) stated and enforced.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;

use crate::serve::ApiError;

/// The bounds of one stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// The whole body.
    pub max_bytes: usize,
    /// One line (a longer one is refused as `line_too_long`, the rest of it skipped).
    pub max_line: usize,
    /// The longest silence before the stream is ended (as a success, marked idle).
    pub idle: Duration,
}

/// What a design does with the lines of a stream.
pub trait StreamSink {
    /// One complete line (without its `\n`), 1-based `line_no`.
    fn line(&mut self, raw: &[u8], line_no: u64);
    /// A line refused before it reached [`StreamSink::line`] (`line_too_long`).
    fn reject(&mut self, line_no: u64, reason: &str);
    /// Lines used so far (for the error messages).
    fn accepted(&self) -> u64;
    /// The stream ended because it sat idle for `idle`.
    fn idle_timeout(&mut self);
}

/// 415 unless the request says NDJSON.
pub fn check_ndjson(headers: &HeaderMap) -> Result<(), ApiError> {
    match crate::serve::media_type(headers).as_str() {
        "application/x-ndjson"
        | "application/jsonl"
        | "application/json-seq"
        | "application/ndjson" => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_ndjson",
            "send Content-Type: application/x-ndjson, one JSON object per line",
        )),
    }
}

/// One of a server's concurrent-stream slots, or 503 `too_many_streams` when all are taken.
pub fn stream_slot(
    slots: &std::sync::Arc<tokio::sync::Semaphore>,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "every stream slot is taken; retry later",
        )
    })
}

/// Reads `body` to its end (or to `limits.idle` of silence), handing every line to `sink`.
pub async fn ingest(
    body: Body,
    limits: StreamLimits,
    sink: &mut impl StreamSink,
) -> Result<(), ApiError> {
    let mut chunks = body.into_data_stream();
    let (mut pending, mut total, mut line_no, mut skipping) = (Vec::new(), 0usize, 0u64, false);
    loop {
        let chunk = match tokio::time::timeout(limits.idle, chunks.next()).await {
            Err(_) => {
                sink.idle_timeout();
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("the stream broke after {} lines: {e}", sink.accepted()),
                ))
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        total += chunk.len();
        if total > limits.max_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "stream_too_large",
                format!(
                    "the stream passed {} bytes; the {} lines before were used and counted",
                    limits.max_bytes,
                    sink.accepted()
                ),
            ));
        }
        pending.extend_from_slice(&chunk);
        // Every complete line of the buffer, then one drain (not one per line: a 64 KiB chunk
        // holds hundreds of lines, and shifting the rest each time is quadratic).
        let mut start = 0;
        while let Some(offset) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = &pending[start..start + offset];
            start += offset + 1;
            line_no += 1;
            if std::mem::take(&mut skipping) {
                continue; // the tail of a line already refused as too long
            }
            if line.len() > limits.max_line {
                sink.reject(line_no, "line_too_long");
                continue;
            }
            sink.line(line, line_no);
        }
        pending.drain(..start);
        // A line longer than any valid one is refused now, not buffered without bound; the
        // rest of it is dropped when it arrives.
        if pending.len() > limits.max_line && !skipping {
            sink.reject(line_no + 1, "line_too_long");
            skipping = true;
        }
        if skipping {
            pending.clear();
        }
        // Long streams yield between chunks so request/response traffic keeps its latency.
        tokio::task::yield_now().await;
    }
    if !pending.is_empty() && !skipping {
        line_no += 1;
        sink.line(&pending, line_no);
    }
    Ok(())
}
