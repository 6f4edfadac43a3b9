//! What a server keeps of live traffic: the recent window drift is checked on, the answer
//! of every drift endpoint, a cache's hit counts, and per-client tables with a size bound.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::serve::Metrics;

/// A table clients grow (sessions by user, …) that never holds more than `capacity`
/// entries: when full, the least recently used tenth is evicted at once, so each insert costs
/// O(log n) amortised instead of a scan per new key.
///
/// Talking point: every table a client can grow needs a bound and an eviction rule;
/// otherwise a flood of new keys is a memory leak on demand.
#[derive(Debug)]
pub struct Bounded<K, V> {
    entries: HashMap<K, (u64, V)>,
    clock: u64,
    capacity: usize,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    pub fn new(capacity: usize) -> Self {
        Bounded {
            entries: HashMap::new(),
            clock: 0,
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// The entry for `key`, created by `new` if absent; either way it becomes the most
    /// recently used.
    pub fn touch(&mut self, key: K, new: impl FnOnce() -> V) -> &mut V {
        self.clock += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.evict_least_recent();
        }
        let clock = self.clock;
        let entry = self.entries.entry(key).or_insert_with(|| (clock, new()));
        entry.0 = clock;
        &mut entry.1
    }

    fn evict_least_recent(&mut self) {
        let mut ages: Vec<(u64, K)> = self
            .entries
            .iter()
            .map(|(k, (used, _))| (*used, k.clone()))
            .collect();
        let n = (self.capacity / 10).max(1);
        ages.select_nth_unstable_by_key(n - 1, |(used, _)| *used);
        for (_, key) in ages.into_iter().take(n) {
            self.entries.remove(&key);
        }
        self.evicted += n as u64;
    }

    /// Reads without making the entry more recent.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries evicted so far.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_table_evicts_the_least_recently_used_tenth() {
        let mut table = Bounded::new(10);
        for key in 0..10 {
            *table.touch(key, || 0) += 1;
        }
        *table.touch(0, || 0) += 1; // 0 is now the most recent; 1 the least
        table.touch(10, || 0);
        assert_eq!(table.len(), 10);
        assert_eq!(table.evicted(), 1);
        assert!(table.get(&1).is_none(), "the least recent went");
        assert_eq!(
            table.get(&0),
            Some(&2),
            "a used entry stays, with its value"
        );
        for key in 100..10_000 {
            table.touch(key, || 0);
        }
        assert!(table.len() <= 10);
    }
}
