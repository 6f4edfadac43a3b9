//! Logs, to stderr, with `tracing`. `RUST_LOG` says what to log, in the `target=level` list
//! syntax (`info`; `warn,mlsd::http=info`); without it `mlsd serve` logs at `info` — one line
//! per request — and every other command at `warn`, so the demo's in-process servers stay
//! quiet. `--log-format json` (or `MLSD_LOG_FORMAT=json`) writes one JSON object per line, for
//! a log shipper.
//!
//! Targets: `mlsd::http` (request lines, internal errors), `mlsd::models` (swaps, refused
//! registry changes, a registry pointer the server cannot follow), `mlsd::admin` (every call
//! of an admin route, with its outcome).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-11-30T10:00:00.000000Z  INFO mlsd::http: request method=GET route=/health …`
    #[default]
    Text,
    /// `{"timestamp": …, "level": "INFO", "target": "mlsd::http", "method": "GET", …}`
    Json,
}

/// Installs the process' log subscriber; `default_level` applies when `RUST_LOG` is unset or
/// does not parse (then a warning says so).
pub fn init(default_level: tracing::Level, format: LogFormat) {
    let default = Targets::new().with_default(default_level);
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec.parse::<Targets>().unwrap_or_else(|e| {
            eprintln!("warning: ignoring RUST_LOG={spec:?} ({e}); logging at {default_level}");
            default
        }),
        _ => default,
    };
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    // A second init (never in the binary) is not an error worth stopping for.
    let _ = match format {
        LogFormat::Text => registry.with(layer).try_init(),
        LogFormat::Json => registry.with(layer.json().flatten_event(true)).try_init(),
    };
}
