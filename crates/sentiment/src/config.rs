//! Typed settings of the sentiment design, with commented defaults: one place to read what a
//! run uses. The defaults live beside the code that uses them; this groups them.

use crate::evaluate::Cv10Config;
use crate::serve::ServeConfig;
use crate::text::TextConfig;

/// Everything a sentiment run is configured by.
#[derive(Debug, Clone, Default)]
pub struct SentimentConfig {
    /// Normalisation, negation scope, 1–2-grams, vocabulary (minimum document frequency) or
    /// feature hashing — the vectoriser every model and the served artifact use.
    pub text: TextConfig,
    /// 10-fold cross-validation on the sentence-polarity data (folds, seed, models).
    pub cv10: Cv10Config,
    /// The API: limits, cache, live-feed windows and alerts, drift window.
    pub serve: ServeConfig,
}
