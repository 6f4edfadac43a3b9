//! Stage 6a — batch scoring: a file of texts (one per line) → a JSON Lines file of
//! predictions, the lines split over worker threads.
//!
//! Talking point: batch vs real-time. The same model scores a night's backlog at file speed
//! with no HTTP, JSON-per-request or queueing in the way; `mlsd bench serve --design
//! sentiment` sets its texts/s beside the API's.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::artifact::SentimentArtifact;
use crate::{Error, Result};

/// What a batch run did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub texts: usize,
    /// Lines that were not UTF-8 (written as `{"line", "error"}` records, not scored).
    pub invalid: usize,
    pub workers: usize,
    /// Read, score, serialise and write.
    pub seconds: f64,
    pub texts_per_second: f64,
}

/// The non-blank lines of a file with their 1-based line numbers, as raw bytes (split on `\n`,
/// a trailing `\r` dropped): a line that is not UTF-8 is the caller's to mark, not a reason to
/// refuse the file.
pub fn numbered_lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// The record written in place of line `n` when it is not UTF-8 (by `batch` and `predict`).
pub fn invalid_line(n: usize) -> serde_json::Value {
    serde_json::json!({"line": n, "error": "invalid_utf8"})
}

/// Scores every non-empty line of `input` into `output` (`{"text", "label", "score",
/// "probability"}` per line, input order).
pub fn score_file(
    model: &SentimentArtifact,
    input: &Path,
    output: &Path,
    workers: usize,
) -> Result<BatchSummary> {
    let t = Instant::now();
    let bytes = std::fs::read(input).map_err(|source| Error::Read {
        path: input.to_path_buf(),
        source,
    })?;
    let lines = numbered_lines(&bytes);
    let workers = workers.clamp(1, 64);
    let chunk = lines.len().div_ceil(workers).max(1);
    let parts: Vec<(String, usize)> = std::thread::scope(|scope| -> Result<_> {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut out = String::with_capacity(part.len() * 160);
                    let mut invalid = 0;
                    for &(n, raw) in part {
                        let record = match std::str::from_utf8(raw) {
                            Ok(text) => serde_json::to_string(&model.predict(text)),
                            Err(_) => {
                                invalid += 1;
                                serde_json::to_string(&invalid_line(n))
                            }
                        };
                        out.push_str(&record.unwrap_or_default());
                        out.push('\n');
                    }
                    (out, invalid)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| Error::Config("a batch worker panicked".into()))
            })
            .collect()
    })?;
    let invalid = parts.iter().map(|(_, i)| i).sum();
    let out: String = parts.into_iter().map(|(s, _)| s).collect();
    mlsd_core::report::atomic_write(output, out.as_bytes())
        .map_err(|e| Error::Config(format!("writing {}: {e}", output.display())))?;
    let seconds = t.elapsed().as_secs_f64();
    Ok(BatchSummary {
        texts: lines.len(),
        invalid,
        workers,
        seconds,
        texts_per_second: lines.len() as f64 / seconds.max(1e-9),
    })
}
