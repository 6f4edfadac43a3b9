//! What a server keeps of live traffic: the recent window drift is checked on, the answer
//! of every drift endpoint, and a cache's hit counts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::serve::Metrics;

/// Hits and misses of a cache in front of the model (repeated texts, real-time lists).
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheStats {
    pub fn record(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// hits / (hits + misses); 0 before any lookup.
    pub fn hit_rate(&self) -> f64 {
        let (hits, misses) = self.counts();
        hits as f64 / (hits + misses).max(1) as f64
    }

    /// `<prefix>_cache_hits_total` and `_cache_misses_total` on `/metrics` (the hit rate is
    /// their ratio, for PromQL); `what` names the cached answers ("predictions", …).
    pub fn export(&self, m: &Metrics, what: &str) {
        // Talking point: the cache's hit rate is the number that says whether it earns its
        // memory: rate(hits_total) / (rate(hits_total) + rate(misses_total)).
        let (hits, misses) = self.counts();
        m.set_counter(
            "cache_hits_total",
            &format!("{what} served from the cache."),
            hits as f64,
        );
        m.set_counter(
            "cache_misses_total",
            &format!("{what} computed (cache misses)."),
            misses as f64,
        );
    }
}

/// The most recent `capacity` items of live traffic (rows, texts, events), for drift checks.
pub struct Recent<T> {
    capacity: usize,
    items: Mutex<VecDeque<T>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            items: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds items, dropping the oldest past the capacity.
    pub fn extend(&self, new: impl IntoIterator<Item = T>) {
        let mut items = self.lock();
        items.extend(new);
        let excess = items.len().saturating_sub(self.capacity);
        items.drain(..excess);
    }

    /// A copy, oldest first: taken under the lock, so checks run after it is released and
    /// never hold up traffic.
    pub fn snapshot(&self) -> Vec<T> {
        self.lock().iter().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}

/// The body of every design's `GET /v1/<design>/drift`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DriftResponse {
    /// The version whose reference the window is compared with.
    pub model_version: String,
    /// Items (rows, texts, events) in the live window now.
    pub window: usize,
    /// Items needed before a verdict is given (fewer: too noisy to judge).
    pub min_window: usize,
    /// The design's drift report; null until the window holds `min_window` items.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

impl DriftResponse {
    /// Runs `check` on the window when it holds enough items.
    pub fn check<T, R: Serialize>(
        model_version: &str,
        window: &[T],
        min_window: usize,
        check: impl FnOnce(&[T]) -> Option<R>,
    ) -> DriftResponse {
        let report = (window.len() >= min_window)
            .then(|| check(window))
            .flatten()
            .and_then(|r| serde_json::to_value(r).ok());
        DriftResponse {
            model_version: model_version.to_string(),
            window: window.len(),
            min_window,
            report,
        }
    }
}
