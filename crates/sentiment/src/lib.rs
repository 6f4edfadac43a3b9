//! # Real-time sentiment API — the interview answer as code
//!
//! **Problem.** Label short texts (reviews, posts) positive or negative fast enough to keep up
//! with a stream, and report how sentiment moves per topic. ML objective: binary
//! classification, measured by accuracy on a balanced benchmark (and calibration, because
//! downstream aggregates average probabilities).
//!
//! **Stages**, one file each, in pipeline order:
//!
//! 1. [`data`] — the sentence-polarity files (Windows-1252, decoded at the edge) and generic
//!    labelled text (JSON Lines, CSV) with bad rows quarantined; [`reviews`] — the embedded
//!    default, seeded synthetic reviews with topics
//! 2. [`text`] — normalisation, tokenisation, negation scope, 1–2-grams, a vocabulary with a
//!    minimum document frequency or feature hashing → sparse binary vectors
//! 3. [`models`] — multinomial naive Bayes, a linear SVM, NBSVM (naive-Bayes log-count
//!    ratios scaling the SVM), logistic regression on TF-IDF, Platt calibration, all sparse;
//!    [`ensemble`] — word + character NBSVM with C and β chosen by inner CV (the best classical
//!    model here); [`lexicon`] — the rule-based baseline (VADER's lexicon); `encoder` (the
//!    `encoder` feature) — a frozen sentence encoder (all-MiniLM-L6-v2) and a classifier on it
//! 4. [`evaluate`] — 10-fold cross-validation beside Wang & Manning's published table, with
//!    confusion matrices, calibration and error examples; [`out_of_domain`] — trained on movie
//!    reviews, scored on Amazon reviews and NYT editorials rated by people, beside the VADER
//!    lexicon and the shipped default model; `cascade` (the `encoder` feature) — NBSVM first,
//!    the encoder for the unsure, in domain and out
//! 5. [`artifact`] — vectoriser + NBSVM + calibration + drift reference, versioned together
//! 6. [`batch`] — a file of texts scored on every core; [`serve`] — single, batch, NDJSON
//!    stream ingest, a Server-Sent-Events feed of per-topic rolling windows with alerts,
//!    micro-batching, a text cache, limits; [`topics`] — the per-topic windows, in memory or
//!    in Redis; [`stream`] — texts on Redis Streams, counted by consumers in a group
//! 7. [`monitor`] — drift in language: vocabulary, length, words, predictions, a domain
//!    classifier, each against a permutation null or chance
//!
//! [`pipeline`] chains the stages (read it first); [`config`] groups the settings; [`bench`]
//! is the production-shaped traffic of the serving benchmark. Retraining and rollback go
//! through the shared registry: `mlsd sentiment train` registers and promotes a version,
//! `mlsd models rollback --design sentiment` moves back, and a running server follows both.
//!
//! Talking point [objective]: the label of a text and a calibrated probability, or "undecided";
//! per-topic windows and alerts.
//! Talking point [constraints]: thousands of texts a second on a few cores; an alert must be rare
//! when nothing changed.

mod error;
pub mod config;
pub mod data;
pub mod reviews;
pub mod text;
pub mod models;
#[cfg(feature = "encoder")]
pub mod cascade;
#[cfg(feature = "encoder")]
pub mod encoder;
pub mod ensemble;
pub mod lexicon;
pub mod evaluate;
pub mod out_of_domain;
pub mod artifact;
pub mod batch;
pub mod topics;
pub mod stream;
pub mod serve;
pub mod monitor;
pub mod pipeline;
pub mod bench;
pub mod operate;

pub use error::{Error, Result};

/// The design's name on the command line.
pub const DESIGN: &str = "sentiment";
