//! Stage 2 — features: online counters replayed in time order, one function offline and online.
//!
//! ```text
//! impression (user, time, history, candidates) ─► Counters::features ─► one row per candidate
//!                                               ◄─ Counters::update(impression with outcomes)
//! ```
//!
//! Every row is computed from what happened strictly **before** its impression: the
//! evaluation replays the log through [`Counters`] (score, then learn the outcome), and the
//! server keeps the same counters live and updates them from engagement events. There is no
//! second implementation for serving, so no training/serving skew in the features.
//!
//! Talking points: point-in-time features; freshness (an article's age, decayed counts with a
//! half-life of hours); smoothed rates (an article shown twice has no CTR worth the name);
//! collaborative signal without embeddings (the CTR of an article among users who clicked
//! what this user clicked); features relative to the other candidates of the same list (a
//! ranker is judged within the list); the position as a training-only feature.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::data::{Impression, Shown};

/// Feature settings, with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Half-life of the decayed counts (hours).
    pub half_life_hours: f64,
    /// Half-life of the trend counts (hours).
    pub trend_half_life_hours: f64,
    /// Beta prior of an article's CTR: `prior_ctr` worth `prior_strength` impressions.
    pub prior_ctr: f64,
    pub prior_strength: f64,
    /// Weight (in co-impressions) of the article's own CTR in its personalised CTR.
    pub co_strength: f64,
    /// History items used for the collaborative counts (the latest ones). 50 and a strength
    /// of 20 won on the MIND validation day (`evaluate --protocol mind --tune`).
    pub history_cap: usize,
    /// Ages are capped here (hours); an article nobody has seen yet counts as this old.
    pub max_age_hours: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            half_life_hours: 6.0,
            trend_half_life_hours: 1.0,
            prior_ctr: 0.1,
            prior_strength: 10.0,
            co_strength: 20.0,
            history_cap: 50,
            max_age_hours: 200.0,
        }
    }
}

/// Names of the raw features, in row order; the list-relative copies follow with a `rel_`
/// prefix, then the position.
pub const RAW: [&str; 12] = [
    "log_ctr",
    "log_impressions",
    "log_clicks",
    "log_ctr_6h",
    "log_ctr_1h",
    "log_age_hours",
    "log_personal_ctr",
    "log_co_impressions",
    "topic_affinity",
    "long_dwell_rate",
    "share_rate",
    "hide_rate",
];

/// Columns of a feature row: raw, list-relative, position.
pub const WIDTH: usize = 2 * RAW.len() + 1;

/// The position column (training-only: constant 0 when serving).
pub const POSITION: usize = WIDTH - 1;

pub fn names() -> Vec<String> {
    let mut names: Vec<String> = RAW.iter().map(|s| s.to_string()).collect();
    names.extend(RAW.iter().map(|s| format!("rel_{s}")));
    names.push("position".into());
    names
}

/// Counts decayed with a half-life, brought forward lazily.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Decayed {
    impressions: f64,
    clicks: f64,
    at: i64,
}

impl Decayed {
    pub fn at(&self, now: i64, half_life: f64) -> (f64, f64) {
        let f = 0.5f64.powf((now - self.at).max(0) as f64 / half_life);
        (self.impressions * f, self.clicks * f)
    }
    fn add(&mut self, now: i64, half_life: f64, click: bool) {
        let (i, c) = self.at(now, half_life);
        *self = Decayed {
            impressions: i + 1.0,
            clicks: c + f64::from(u8::from(click)),
            at: now.max(self.at),
        };
    }
}

/// Everything known about one article so far.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ItemStats {
    pub impressions: u32,
    pub clicks: u32,
    pub long_dwells: u32,
    pub shares: u32,
    pub hides: u32,
    pub first_seen: Option<i64>,
    pub published: Option<i64>,
    pub topic: Option<u16>,
    pub slow: Decayed,
    fast: Decayed,
}

impl ItemStats {
    /// The smoothed CTR (the anchor's online smoothed CTR uses its own prior).
    pub fn ctr(&self, cfg: &FeatureConfig) -> f64 {
        (f64::from(self.clicks) + cfg.prior_strength * cfg.prior_ctr)
            / (f64::from(self.impressions) + cfg.prior_strength)
    }
    /// Hours since publication (first seen when unknown), capped.
    pub fn age_hours(&self, now: i64, cfg: &FeatureConfig) -> f64 {
        match self.published.or(self.first_seen) {
            Some(t) => ((now - t).max(0) as f64 / 3600.0).min(cfg.max_age_hours),
            None => cfg.max_age_hours,
        }
    }
}

/// The online state: per-article counters and the collaborative co-engagement table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub config: FeatureConfig,
    pub items: Vec<ItemStats>,
    /// (history item, shown item) → (co-impressions, co-clicks).
    co: HashMap<u64, (u32, u32)>,
    /// History item → items clicked by users who had clicked it (latest first, bounded): the
    /// collaborative candidate source's index.
    co_clicked: HashMap<u32, Vec<u32>>,
    pub impressions: u64,
}

/// Items kept per history item in the co-click index.
const CO_CLICKED: usize = 30;

fn pair(history: u32, item: u32) -> u64 {
    (u64::from(history) << 32) | u64::from(item)
}

impl Counters {
    pub fn new(config: FeatureConfig) -> Self {
        Counters {
            config,
            ..Default::default()
        }
    }

    /// The stats of `item`, grown on first sight.
    pub fn item_mut(&mut self, item: u32) -> &mut ItemStats {
        let i = item as usize;
        if self.items.len() <= i {
            self.items.resize(i + 1, ItemStats::default());
        }
        &mut self.items[i]
    }

    pub fn item(&self, item: u32) -> ItemStats {
        self.items.get(item as usize).copied().unwrap_or_default()
    }

    /// Registers an article before anyone sees it (its topic and publication time).
    pub fn publish(&mut self, item: u32, topic: Option<u16>, published: Option<i64>) {
        let s = self.item_mut(item);
        s.topic = topic.or(s.topic);
        s.published = published.or(s.published);
    }

    fn recent_history<'a>(&self, history: &'a [u32]) -> &'a [u32] {
        &history[history.len().saturating_sub(self.config.history_cap)..]
    }

    /// One row per candidate, computed from what the counters know now. `positions` are the
    /// slots the items were shown at (training); `None` = serving (position 0 for all).
    pub fn features(
        &self,
        history: &[u32],
        candidates: &[u32],
        now: i64,
        positions: Option<&[u16]>,
    ) -> Vec<[f64; WIDTH]> {
        let cfg = &self.config;
        let recent = self.recent_history(history);
        let topics = topic_shares(history.iter().filter_map(|&h| self.item(h).topic));
        let mut rows: Vec<[f64; WIDTH]> = candidates
            .iter()
            .enumerate()
            .map(|(k, &item)| {
                let s = self.item(item);
                let ctr = s.ctr(cfg);
                let (si, sc) = s.slow.at(now, cfg.half_life_hours * 3600.0);
                let (fi, fc) = s.fast.at(now, cfg.trend_half_life_hours * 3600.0);
                let (co_i, co_c) = recent.iter().fold((0.0, 0.0), |(i, c), &h| {
                    let (a, b) = self.co.get(&pair(h, item)).copied().unwrap_or_default();
                    (i + f64::from(a), c + f64::from(b))
                });
                let personal = (co_c + cfg.co_strength * ctr) / (co_i + cfg.co_strength);
                let clicks = f64::from(s.clicks);
                let mut row = [0.0; WIDTH];
                let raw = [
                    ctr.ln(),
                    f64::from(s.impressions).ln_1p(),
                    clicks.ln_1p(),
                    ((sc + cfg.prior_strength * cfg.prior_ctr) / (si + cfg.prior_strength)).ln(),
                    ((fc + cfg.prior_strength * cfg.prior_ctr) / (fi + cfg.prior_strength)).ln(),
                    s.age_hours(now, cfg).ln_1p(),
                    personal.ln(),
                    co_i.ln_1p(),
                    s.topic
                        .map_or(0.0, |t| topics.get(&t).copied().unwrap_or(0.0)),
                    (f64::from(s.long_dwells) + 0.5) / (clicks + 1.0),
                    (f64::from(s.shares) + 0.05) / (clicks + 1.0),
                    (f64::from(s.hides) + 0.02) / (f64::from(s.impressions) + 1.0),
                ];
                row[..RAW.len()].copy_from_slice(&raw);
                row[POSITION] = positions
                    .and_then(|p| p.get(k))
                    .map_or(0.0, |&p| f64::from(p));
                row
            })
            .collect();
        relative(&mut rows);
        rows
    }

    /// Learns one impression's outcomes (after it was scored).
    pub fn update(&mut self, impression: &Impression) {
        let now = impression.time;
        let (slow, fast) = (
            self.config.half_life_hours * 3600.0,
            self.config.trend_half_life_hours * 3600.0,
        );
        for shown in &impression.shown {
            self.record(shown, now, slow, fast);
        }
        let cap = self.config.history_cap;
        let recent = &impression.history[impression.history.len().saturating_sub(cap)..];
        for &h in recent {
            for shown in &impression.shown {
                let e = self.co.entry(pair(h, shown.item)).or_default();
                e.0 += 1;
                e.1 += u32::from(shown.click);
                if shown.click {
                    let list = self.co_clicked.entry(h).or_default();
                    list.retain(|&i| i != shown.item);
                    list.insert(0, shown.item);
                    list.truncate(CO_CLICKED);
                }
            }
        }
        self.impressions += 1;
    }

    fn record(&mut self, shown: &Shown, now: i64, slow: f64, fast: f64) {
        let s = self.item_mut(shown.item);
        s.first_seen.get_or_insert(now);
        s.impressions += 1;
        s.clicks += u32::from(shown.click);
        s.long_dwells += u32::from(shown.long_dwell());
        s.shares += u32::from(shown.share);
        s.hides += u32::from(shown.hide);
        s.slow.add(now, slow, shown.click);
        s.fast.add(now, fast, shown.click);
    }

    /// Items co-clicked with any of the latest `last` history items, most recent first.
    pub fn co_clicked(&self, history: &[u32], last: usize) -> impl Iterator<Item = u32> + '_ {
        let recent: Vec<u32> = history.iter().rev().take(last).copied().collect();
        recent
            .into_iter()
            .flat_map(|h| self.co_clicked.get(&h).into_iter().flatten().copied())
    }

    /// Entries in the co-engagement table (its memory is ~17 bytes each).
    pub fn co_pairs(&self) -> usize {
        self.co.len()
    }
}

/// Share of each topic among the given ones, divided by n + 1 (one click of shrinkage: a
/// single click on a topic is not a 100 % affinity).
fn topic_shares(topics: impl Iterator<Item = u16>) -> HashMap<u16, f64> {
    let mut counts: HashMap<u16, f64> = HashMap::new();
    let mut total = 0.0;
    for t in topics {
        *counts.entry(t).or_default() += 1.0;
        total += 1.0;
    }
    for v in counts.values_mut() {
        *v /= total + 1.0;
    }
    counts
}

/// Fills the list-relative columns: each raw feature minus its mean over the list.
// Talking point [features]: a ranker is judged within a list, so "fresher than the other
// candidates" says more than "6 hours old".
fn relative(rows: &mut [[f64; WIDTH]]) {
    if rows.is_empty() {
        return;
    }
    let n = rows.len() as f64;
    for j in 0..RAW.len() {
        let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
        for r in rows.iter_mut() {
            r[RAW.len() + j] = r[j] - mean;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(item: u32, click: bool) -> Shown {
        Shown {
            item,
            position: 0,
            click,
            dwell: if click { 40.0 } else { 0.0 },
            share: false,
            hide: false,
        }
    }

    #[test]
    fn features_see_only_the_past() {
        let mut c = Counters::new(FeatureConfig::default());
        let before = c.features(&[], &[7], 100, None);
        let imp = Impression {
            id: 1,
            user: 0,
            time: 100,
            history: vec![3],
            shown: vec![shown(7, true)],
        };
        // Scoring the impression gives the same row however often it is asked.
        assert_eq!(before, c.features(&[], &[7], 100, None));
        c.update(&imp);
        let after = c.features(&[3], &[7], 200, None);
        assert!(after[0][0] > before[0][0], "a click raises the CTR feature");
        assert!(
            after[0][6] > before[0][6],
            "a co-click raises the personal CTR"
        );
    }

    #[test]
    fn decayed_counts_halve_after_a_half_life() {
        let mut d = Decayed::default();
        d.add(0, 3600.0, true);
        let (i, c) = d.at(3600, 3600.0);
        assert!((i - 0.5).abs() < 1e-12 && (c - 0.5).abs() < 1e-12);
    }

    #[test]
    fn relative_columns_sum_to_zero_over_a_list() {
        let mut rows = vec![[0.0; WIDTH]; 3];
        for (k, r) in rows.iter_mut().enumerate() {
            r[0] = k as f64;
        }
        relative(&mut rows);
        let s: f64 = rows.iter().map(|r| r[RAW.len()]).sum();
        assert!(s.abs() < 1e-12);
    }
}
