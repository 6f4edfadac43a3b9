//! The integration tests: one binary, one module per family.
//!
//! - `cli`: the `mlsd` binary end to end (demo, determinism of `generate`, JSON shapes, errors)
//! - `corrupted_input`: bad files lose nothing: accepted + quarantined = input
//! - `data`: no leakage — features see only the past, and labels only after their delay
//! - `models`: behaviour — every model beats random by a clear margin, the default run reaches
//!   the quality bar, artifacts round-trip
//! - `online`: the online feature store computes what the offline pipeline computes
//! - `monitor`: drift checks — false-alarm and detection rates over 20 seeds
//! - `api`: the scoring API over HTTP — answers, bad input, metrics, hot swap, overload
//! - `recommender`: MovieLens-100k from `MLSD_DATA_DIR` — loader, both published protocols
//! - `shop`: the recommender on the seeded shop — two-stage vs single models, rules, batch
//!   job, batch vs real-time freshness, drift
//! - `sentiment`: rt-polarity from `MLSD_DATA_DIR` — Windows-1252 loader, 10-fold CV bars,
//!   text drift on real text
//! - `recommender_api`: the recommender API over HTTP — both modes, fresh events, cache,
//!   cold start, bad input, shedding, drift
//! - `sentiment_api`: the sentiment API over HTTP — single, batch, cache, bad input, the
//!   NDJSON stream, the live SSE feed and its alert, micro-batching, drift, shutdown
//! - `contract`: what every design's server keeps, run against all of them — health, ready,
//!   metrics, an OpenAPI document matching the routes, JSON 4xx, 503 under overload,
//!   promote and rollback under load with no failed request, following the registry

mod common;
mod cli;
mod corrupted_input;
mod data;
mod models;
mod online;
mod monitor;
mod api;
mod recommender;
mod shop;
mod recommender_api;
mod sentiment;
mod sentiment_api;
mod contract;
