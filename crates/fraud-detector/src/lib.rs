//! # Fraud detector (banking) — the interview answer as code
//!
//! **Problem.** A card network must decide, within tens of milliseconds of each payment,
//! whether to approve it, send it to an investigator, or block it. About 0.8 % of payments
//! are fraud; investigators can check ~100 cards a day; confirmed fraud labels arrive about a
//! week later. ML objective: rank transactions (and so cards) by fraud probability; measure
//! with average precision and Card Precision@100, never accuracy.
//!
//! **Stages**, one file each, in pipeline order (start with [`pipeline`]):
//!
//! 0. [`simulate`] — the Fraud-Detection-Handbook transaction simulator, seeded, with drift knobs
//! 1. [`ingest`] — read Arrow streams/CSV (Parquet as a feature), validate, quarantine bad rows with reasons
//! 2. [`features`] — the 15 windowed features (polars), label delay respected
//! 3. [`train`] — rules baseline, logistic regression, trees, random forest, boosting
//! 4. [`evaluate`] — chapter-3 protocol: AUC, AP, Card Precision@100, timings;
//!    [`model_selection`] — chapter 5: prequential folds, grid search on validation weeks
//! 5. [`artifact`] — model + feature spec + reference profile → the registry
//! 6. [`online`] — the same features, one transaction at a time, for real-time scoring, in
//!    memory or in Redis (shared by replicas); [`stream`] — payments and labels as events on a
//!    Redis Stream, applied by consumers in a group (at-least-once, idempotent)
//! 7. [`batch`] — score a whole period from files with the same artifact; [`export`] — the
//!    same batch path (validation, features, model) as SQL for a warehouse or Spark
//! 8. [`monitor`] — drift of current traffic against the model's reference profile
//! 9. [`serve`] — the real-time scoring API (axum): micro-batching, drift over live traffic,
//!    hot model swap, OpenAPI document
//! 10. [`replay`] — a period replayed through the API and compared with batch scores
//! 11. [`bench`] — production-shaped traffic for the serving benchmarks
//! 12. [`operate`] — the production loop over simulated months: late labels, estimate,
//!     retraining policies, shadow and canary gates, a broken candidate
//!
//! [`pipeline`] chains them; the `mlsd` binary is a thin CLI over it.
//!
//! Talking point [constraints]: a decision before authorisation completes, a base rate under 1 %,
//! ~100 alerts a day per investigator team, labels a week late — each shapes a stage above.

mod error;
pub mod config;
pub mod schema;
pub mod simulate;
pub mod ingest;
pub mod features;
pub mod train;
pub mod evaluate;
pub mod model_selection;
pub mod mistakes;
pub mod artifact;
pub mod online;
pub mod stream;
pub mod batch;
pub mod export;
pub mod monitor;
pub mod serve;
pub mod replay;
pub mod operate;
pub mod bench;
pub mod pipeline;

pub use error::{Error, Result};

/// The design's name in the registry and on the command line.
pub const DESIGN: &str = "fraud";
