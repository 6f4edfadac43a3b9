//! # Predictive maintenance — the interview answer as code
//!
//! **Problem.** A fleet of machines streams sensor readings; decide which machines to service
//! and when, so that unplanned failures, planned services and downtime cost the least. ML
//! objective: remaining useful life (regression on a capped target) and failure within a
//! horizon (classification); the business metric is cost per machine-year, and the decision
//! threshold is chosen by cost, not by RMSE. Labels come late and **censored** (a serviced
//! machine never shows when it would have failed), failures are rare, sensors break and drift,
//! and splits are by machine, never by row.
//!
//! **Stages**, one file each, in pipeline order:
//!
//! 1. [`data`] — NASA C-MAPSS FD001 and AI4I 2020 into one schema ([`data::Fleet`]: machines,
//!    their readings and how each life ended), bad rows quarantined; [`simulate`] — the
//!    embedded default, a seeded fleet with hidden degradation, sensor faults and drift knobs
//! 2. [`features`] — rolling windows of the informative sensors (mean, deviation, slope, the
//!    latest level) and the capped RUL target, censoring handled
//! 3. [`models`] — baselines (the mean, a Weibull life table, the physics rules of AI4I), ridge,
//!    a random forest, gradient boosting; failure classifiers
//! 4. [`evaluate`] — the C-MAPSS and AI4I protocols beside the published tables; the fleet
//!    protocol: models, then policies priced on the same test machines
//! 5. [`policy`] — the cost model and three policies: run to failure, a fixed interval, the
//!    predictive one (thresholds chosen on validation machines)
//! 6. [`artifact`] — spec + model + risk table + alert threshold + drift reference, versioned
//! 7. [`online`] — the per-machine state serving and batch share; [`batch`] — the nightly fleet
//!    job; [`export`] — the same job as SQL (Spark); [`serve`] — readings (batch and NDJSON stream), machines, alerts, events, stateless
//!    scoring, drift
//! 8. [`monitor`] — per-sensor drift, sensor health, prediction drift, realised error as
//!    failures and services arrive
//!
//! [`pipeline`] chains the stages (read it first); [`config`] groups the settings; [`bench`] is
//! the production-shaped traffic of the serving benchmark. Retraining and rollback go through
//! the shared registry: `mlsd maintenance train` registers and promotes a version, shadow and
//! canary roll one out under traffic, and `mlsd models rollback --design maintenance` moves
//! back; a running server follows all three.

mod error;
pub mod config;
pub mod data;
pub mod simulate;
pub mod features;
pub mod models;
pub mod evaluate;
pub mod mistakes;
pub mod policy;
pub mod artifact;
pub mod online;
pub mod batch;
pub mod export;
pub mod serve;
pub mod monitor;
pub mod pipeline;
pub mod bench;

pub use error::{Error, Result};

/// The design's name on the command line.
pub const DESIGN: &str = "maintenance";
