//! # Recommender (e-commerce) — the interview answer as code
//!
//! **Problem.** Show each user the few items (out of thousands) they are most likely to want
//! next. ML objective: rank items per user; measure with precision / recall / nDCG@10 and MAP
//! offline (and CTR or conversion online), and RMSE only when predicting explicit ratings.
//!
//! **Stages**, one file each, in pipeline order:
//!
//! 1. [`movielens`] — load the MovieLens-100k files (ratings, items, users), quarantine bad lines
//! 2. [`split`] — the two published protocols' splits: 5-fold CV (Surprise) and a 75/25 split
//!    stratified by item (Microsoft Recommenders)
//! 3. [`models`] — global mean and biases (baselines), popularity, item co-occurrence (SAR),
//!    BPR, biased matrix factorisation (Surprise's SVD)
//! 4. [`evaluate`] — both protocols, beside the published tables
//!
//! Status: the offline half. The seeded e-commerce generator, the two-stage
//! (retrieve → rank → re-rank) architecture, serving, and monitoring come next.

mod error;
pub mod movielens;
pub mod shop;
pub mod split;
pub mod models;
pub mod ann;
pub mod two_stage;
pub mod evaluate;
pub mod batch;
pub mod serve;
pub mod monitor;
pub mod pipeline;

pub use error::{Error, Result};

/// The design's name in the registry and on the command line.
pub const DESIGN: &str = "recommender";
