//! # Recommender (e-commerce) — the interview answer as code
//!
//! **Problem.** Show each user the few items (out of thousands) they are most likely to want
//! next. ML objective: rank items per user; measure with precision / recall / nDCG@10 and MAP
//! offline (and CTR or conversion online), and RMSE only when predicting explicit ratings.
//!
//! **Stages**, one file each, in pipeline order:
//!
//! 1. [`movielens`] — load the MovieLens-100k files (ratings, items, users), quarantine bad
//!    lines; [`shop`] — the seeded e-commerce shop (the default: sessions, funnel, new products)
//! 2. [`split`] — the two published protocols' splits: 5-fold CV (Surprise) and a 75/25 split
//!    stratified by item (Microsoft Recommenders); the shop uses a time split
//! 3. [`models`] — global mean and biases (baselines), popularity, item co-occurrence (SAR),
//!    BPR, biased matrix factorisation (Surprise's SVD); [`item_item`] — EASE and RP3beta,
//!    item-item models with no training loop; [`ann`] — an IVF index over item
//!    embeddings; [`two_stage`] — retrieve → rank → rules, with a batch and a real-time ranker
//! 4. [`evaluate`] — both published protocols beside the published tables, and the shop's
//!    time split with its batch-vs-real-time replay
//! 5. [`batch`] — every user's top N precomputed into a snapshot (the batch-serving path);
//!    [`export`] — the same ranking as factor tables, candidate rows and SQL (Spark);
//!    [`artifact`] — the fitted model, its snapshot and drift reference as a registry version
//! 6. [`serve`] — the HTTP API: snapshot lookups, real-time re-ranking with the live session,
//!    TTL cache, cold start; [`sessions`] — the live sessions, in memory or in Redis;
//!    [`stream`] — shop events on Redis Streams, recorded by consumers in a group
//! 7. [`monitor`] — item-popularity and user-activity drift, new items, the online proxy
//!
//! [`pipeline`] chains them for the CLI, the demo, the benchmarks and the tests (read it
//! first); [`config`] holds the run's settings; [`bench`] the production-shaped traffic.
//!
//! Talking point [objective]: two horizons, two objectives: the next week's items (batch) and the
//! next click (real time).
//! Talking point [constraints]: a list per page view within tens of milliseconds, for users with no
//! history too.

mod error;
pub mod config;
pub mod movielens;
pub mod shop;
pub mod split;
pub mod models;
pub mod item_item;
pub mod ratings;
pub mod ann;
pub mod two_stage;
pub mod evaluate;
pub mod batch;
pub mod export;
pub mod artifact;
pub mod sessions;
pub mod stream;
pub mod serve;
pub mod monitor;
pub mod pipeline;
pub mod bench;

pub use error::{Error, Result};

/// The design's name in the registry and on the command line.
pub const DESIGN: &str = "recommender";
