//! # Real-time sentiment API — the interview answer as code (offline half)
//!
//! **Problem.** Label short texts (reviews, posts) positive or negative fast enough to keep up
//! with a stream, and report how sentiment moves per topic. ML objective: binary
//! classification, measured by accuracy on a balanced benchmark (and calibration, because
//! downstream aggregates average probabilities).
//!
//! **Stages**, one file each, in pipeline order:
//!
//! 1. [`data`] — the sentence-polarity files (Windows-1252, decoded at the edge), labelled
//! 2. [`text`] — normalisation, tokenisation, negation scope, 1–2-grams, a vocabulary with a
//!    minimum document frequency or feature hashing → sparse binary vectors
//! 3. [`models`] — multinomial naive Bayes, a linear SVM and NBSVM (naive-Bayes log-count
//!    ratios scaling the SVM), sparse; [`lexicon`] — the rule-based baseline (VADER's lexicon)
//! 4. [`evaluate`] — 10-fold cross-validation beside Wang & Manning's published table
//! 5. [`artifact`] — vectoriser + NBSVM saved together in the model registry; predictions
//!
//! Status: the offline half. Serving (single, batch, streaming with live aggregates),
//! micro-batching and text drift come next.

mod error;
pub mod data;
pub mod text;
pub mod models;
pub mod lexicon;
pub mod evaluate;
pub mod artifact;

pub use error::{Error, Result};

/// The design's name on the command line.
pub const DESIGN: &str = "sentiment";
