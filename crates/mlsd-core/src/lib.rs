//! # mlsd-core — the parts every design shares
//!
//! Each design crate (`fraud-detector`, and the recommender, sentiment, news-feed and
//! maintenance designs that follow) is a pipeline of the same stages:
//!
//! ```text
//! ingest → validate/quarantine → features → train → evaluate → register → serve → monitor
//! ```
//!
//! The stage-independent machinery lives here, so that reading one design teaches the others:
//!
//! | module | what it does | interview talking points |
//! |---|---|---|
//! | [`frames`] | data frames on disk: Arrow IPC stream (default), CSV, Parquet (a cargo feature) | build time as a feature |
//! | [`validate`] | rules → accepted rows + a quarantine file with reasons and counts | data cleaning, "bad input loses nothing" |
//! | [`metrics`] | ROC AUC, average precision, precision@k per entity and period | offline metrics that fit the costs |
//! | [`curves`] | ROC, precision–recall and reliability curves, thinned for a report | where a model wins, calibration |
//! | [`drift`] | reference profiles and per-feature drift tests (Evidently's defaults) | monitoring, drift |
//! | [`registry`] | versioned, checksummed model artifacts; promote and rollback | model/data versioning, rollback |
//! | [`report`] | run folders, JSON + markdown reports, atomic writes, hashing | reproducibility |
//! | [`html`] | a run's JSON as one offline HTML page: its tables, curves and drift histograms | reports people read |
//! | [`telemetry`] | Prometheus metrics by its conventions: counters, latency per route, process metrics | monitoring |
//! | [`serve`] | HTTP toolkit: JSON errors, metrics, load shedding, timeouts, micro-batching, hot-swap slot, graceful shutdown | serving, monitoring, rollback |
//! | [`design`] | the seam a design implements: its served [`design::Artifact`], loaded from a registry version | model versioning |
//! | [`server`] | one server skeleton: shared settings, the model slot that follows the registry, `/ready` `/metrics` `/openapi.json` `/v1/models` promote and rollback, the live drift window | hot swap, rollback, one contract for every design |
//! | [`estimate`] | label-free performance estimates (CBPE): the ROC AUC and AP calibrated probabilities imply | delayed labels, monitoring without labels |
//! | [`lifecycle`] | safe rollout: registered → shadow → canary steps → promoted, or rejected / rolled back, decided by gates and logged as JSON Lines; canary membership by entity hash | shadow, canary, automatic rollback |
//! | [`operate`] | the production loop replayed over simulated days: delayed labels, estimate, retraining policy (never / scheduled / triggered), shadow and canary gates, a broken candidate | retraining triggers, label delay, safe rollout |
//! | [`accelerator`] | a simulated heavier model: calls costing `per_call + rows × per_row`, one at a time, off the runtime | overload and shedding, when micro-batching pays |
//! | [`loadgen`] | keep-alive HTTP client; open-loop (coordinated-omission corrected) and closed-loop load | latency budget, p99, saturation |
//! | [`plot`] | line charts as SVG and PNG for benchmark reports | |
//! | [`online_state`] | online state in Redis: pooled connections, a time budget per round trip, 503 instead of empty state | shared state vs routing by key, dependency failure |
//! | [`events`] | an event log on Redis Streams: consumer groups, acknowledgements, takeover of a dead consumer's events, dead letters | at-least-once delivery, idempotent consumers |
//! | [`sql`] | SQL text for warehouse and Spark batch paths: exact double literals, identifiers, scripts | distributed processing |
//! | [`follow`] | log-replicated state: every replica applies the same stream in order to its own memory; read-your-writes | replicated log vs shared store vs routing by key |
//!
//! Everything here is a library: errors are one [`Error`] enum, never a panic on data.

mod error;
pub mod validate;
pub mod frames;
pub mod metrics;
pub mod curves;
pub mod drift;
pub mod registry;
pub mod report;
pub mod html;
pub mod telemetry;
pub mod serve;
pub mod design;
pub mod server;
pub mod lifecycle;
pub mod operate;
pub mod estimate;
pub mod accelerator;
pub mod loadgen;
pub mod plot;
pub mod online_state;
pub mod events;
pub mod follow;
pub mod sql;
pub mod mistakes;
pub mod capacity;

pub use error::{Error, Result};
