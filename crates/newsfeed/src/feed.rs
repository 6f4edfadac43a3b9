//! Stage 4 — the funnel: candidate sources → ranking → re-ranking → the page. The simulator,
//! the evaluation and the server all build a page with [`build`].
//!
//! ```text
//! alive articles (last 48 h)   hundreds (production: millions)
//!   ─► candidate sources       followed topics · fresh-and-popular · co-clicked · new publishers
//!   ─► ranking                 value = Σ weight × P(engagement), or a baseline score
//!   ─► re-ranking              freshness boost · MMR diversity by topic · topic cap ·
//!                              flagged articles removed · exploration slots
//!   ─► the page                tens
//! ```
//!
//! Talking points: retrieval is cheap and recall-oriented, ranking is expensive and
//! precision-oriented; several sources so one signal's blind spot is another's strength (a new
//! publisher has no clicks: only its own slot lets it be seen); diversity and freshness are
//! re-ranking rules on top of the model, each with a measured relevance cost; exploration buys
//! the data the next model learns from.

use std::collections::HashSet;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::features::{Counters, WIDTH};
use crate::models::{Baseline, Ranker};

/// Funnel settings, with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedConfig {
    /// Articles on a page.
    pub page: usize,
    /// Articles older than this are not candidates (hours).
    pub max_age_hours: f64,
    /// Most candidates each source contributes.
    pub per_source: usize,
    /// Publishers seen for less than this are "new" (days).
    pub new_publisher_days: f64,
    /// Diversity: MMR trade-off (0 = off, 1 = topics only). A candidate already on the page
    /// in the same topic costs `mmr` of the best normalised value.
    pub mmr: f64,
    /// At most this many articles of one topic on a page (`None` = no cap).
    pub topic_cap: Option<usize>,
    /// Added to the normalised value × the article's freshness (0..1, half-life 6 h).
    pub freshness_boost: f64,
    /// Slots given to a random candidate (exploration), placed at random positions.
    pub exploration_slots: usize,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            page: 10,
            max_age_hours: 48.0,
            per_source: 40,
            new_publisher_days: 3.0,
            mmr: 0.0,
            topic_cap: None,
            freshness_boost: 0.0,
            exploration_slots: 0,
        }
    }
}

/// What the service knows about an article (the simulator's hidden quality stays hidden).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub item: u32,
    pub topic: u16,
    pub publisher: u32,
    pub published: i64,
    /// When the integrity team flagged it (`None` = not flagged yet).
    pub flagged: Option<i64>,
    /// When the publisher's first article appeared.
    pub publisher_since: i64,
}

/// How candidates are scored.
#[derive(Debug, Clone, Copy)]
pub enum Scorer<'a> {
    Baseline(Baseline),
    Model(&'a Ranker),
}

impl Scorer<'_> {
    pub fn score(&self, rows: &[[f64; WIDTH]], rng: &mut ChaCha8Rng) -> Vec<f64> {
        match self {
            Scorer::Baseline(b) => b.score(rows, rng),
            Scorer::Model(m) => m.score(rows),
        }
    }
}

/// Counts and timings of one page's funnel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    pub alive: usize,
    /// Per source: followed topics, fresh-and-popular, co-clicked, new publishers.
    pub sources: [usize; 4],
    /// Distinct candidates after the flagged ones were removed.
    pub candidates: usize,
    pub flagged_removed: usize,
    pub retrieve_us: f64,
    pub rank_us: f64,
    pub rerank_us: f64,
}

/// A built page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<u32>,
    /// Per slot: was it an exploration slot.
    pub explored: Vec<bool>,
    pub funnel: Funnel,
}

/// Everything a page is built from.
pub struct Request<'a> {
    pub history: &'a [u32],
    pub time: i64,
    /// Articles alive now (published in the last `max_age_hours`), any order.
    pub alive: &'a [Listing],
    pub counters: &'a Counters,
    pub seed: u64,
}

/// Builds one page through the funnel.
pub fn build(req: &Request, scorer: Scorer, cfg: &FeedConfig) -> Page {
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    let started = Instant::now();
    let (candidates, mut funnel) = retrieve(req, cfg);
    funnel.retrieve_us = micros(started);
    let started = Instant::now();
    let ids: Vec<u32> = candidates.iter().map(|l| l.item).collect();
    let rows = req.counters.features(req.history, &ids, req.time, None);
    let scores = scorer.score(&rows, &mut rng);
    funnel.rank_us = micros(started);
    let started = Instant::now();
    let mut page = rerank(&candidates, &scores, req.time, cfg, &mut rng);
    funnel.rerank_us = micros(started);
    page.funnel = funnel;
    page
}

fn micros(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e6
}

/// The candidate sources, unioned, flagged articles removed.
// Talking point: several cheap sources, each recall-oriented, before the expensive ranker.
pub fn retrieve(req: &Request, cfg: &FeedConfig) -> (Vec<Listing>, Funnel) {
    let c = req.counters;
    let n = cfg.per_source;
    let mut funnel = Funnel {
        alive: req.alive.len(),
        ..Funnel::default()
    };
    // Followed topics: the two the user clicked most.
    let mut topic_counts = std::collections::HashMap::<u16, usize>::new();
    for &h in req.history {
        if let Some(t) = c.item(h).topic {
            *topic_counts.entry(t).or_default() += 1;
        }
    }
    let mut followed: Vec<(u16, usize)> = topic_counts.into_iter().collect();
    followed.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let followed: Vec<u16> = followed.iter().take(2).map(|t| t.0).collect();
    let mut by_time: Vec<&Listing> = req.alive.iter().collect();
    by_time.sort_by(|a, b| b.published.cmp(&a.published).then(a.item.cmp(&b.item)));
    let topical = by_time
        .iter()
        .filter(|l| followed.contains(&l.topic))
        .take(n);
    // Fresh and popular: decayed clicks (half-life 6 h).
    let half_life = c.config.half_life_hours * 3600.0;
    let mut popular: Vec<(f64, &Listing)> = req
        .alive
        .iter()
        .map(|l| (c.item(l.item).slow.at(req.time, half_life).1, l))
        .collect();
    popular.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.item.cmp(&b.1.item)));
    // Co-clicked with the user's latest clicks.
    let alive: std::collections::HashMap<u32, &Listing> =
        req.alive.iter().map(|l| (l.item, l)).collect();
    let co: Vec<&Listing> = c
        .co_clicked(req.history, 10)
        .filter_map(|i| alive.get(&i).copied())
        .take(n)
        .collect();
    // New publishers: their own slot in the funnel, or nobody ever sees them.
    let new_since = req.time - (cfg.new_publisher_days * 86_400.0) as i64;
    let fresh_publishers = by_time.iter().filter(|l| l.publisher_since >= new_since);
    let sources: [Vec<&Listing>; 4] = [
        topical.copied().collect(),
        popular.iter().take(n).map(|p| p.1).collect(),
        co,
        fresh_publishers.take(n / 4).copied().collect(),
    ];
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (k, source) in sources.iter().enumerate() {
        funnel.sources[k] = source.len();
        for l in source {
            if !seen.insert(l.item) {
                continue;
            }
            // Talking point: integrity — a flagged article never reaches a page again.
            if l.flagged.is_some_and(|t| t <= req.time) {
                funnel.flagged_removed += 1;
                continue;
            }
            out.push(**l);
        }
    }
    funnel.candidates = out.len();
    (out, funnel)
}

/// Re-ranking: freshness boost, MMR diversity, topic cap, then exploration slots.
pub fn rerank(
    candidates: &[Listing],
    scores: &[f64],
    time: i64,
    cfg: &FeedConfig,
    rng: &mut ChaCha8Rng,
) -> Page {
    let (lo, hi) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &s| {
            (l.min(s), h.max(s))
        });
    let span = (hi - lo).max(1e-12);
    let value: Vec<f64> = candidates
        .iter()
        .zip(scores)
        .map(|(l, s)| {
            let fresh = 0.5f64.powf((time - l.published).max(0) as f64 / (6.0 * 3600.0));
            (s - lo) / span + cfg.freshness_boost * fresh
        })
        .collect();
    let mut left: Vec<usize> = (0..candidates.len()).collect();
    let mut chosen: Vec<usize> = Vec::new();
    let mut per_topic = std::collections::HashMap::<u16, usize>::new();
    let slots = cfg.page.min(candidates.len());
    while chosen.len() < slots && !left.is_empty() {
        // Talking point [trade-offs]: MMR — value minus similarity to what is already on the page.
        let best = left
            .iter()
            .enumerate()
            .filter(|(_, &i)| {
                cfg.topic_cap.is_none_or(|cap| {
                    per_topic.get(&candidates[i].topic).copied().unwrap_or(0) < cap
                })
            })
            .map(|(k, &i)| {
                let same = chosen
                    .iter()
                    .any(|&j| candidates[j].topic == candidates[i].topic);
                (k, value[i] - if same { cfg.mmr } else { 0.0 })
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((k, _)) = best else { break };
        let i = left.remove(k);
        *per_topic.entry(candidates[i].topic).or_default() += 1;
        chosen.push(i);
    }
    let mut items: Vec<u32> = chosen.iter().map(|&i| candidates[i].item).collect();
    let mut explored = vec![false; items.len()];
    // Talking point: exploration — a few random candidates at random slots, so the log holds
    // outcomes for what the model would never have shown.
    let mut pool: Vec<u32> = left.iter().map(|&i| candidates[i].item).collect();
    pool.shuffle(rng);
    for item in pool
        .into_iter()
        .take(cfg.exploration_slots.min(items.len()))
    {
        let slot = rng.gen_range(0..items.len());
        if explored[slot] {
            continue;
        }
        items[slot] = item;
        explored[slot] = true;
    }
    Page {
        items,
        explored,
        funnel: Funnel::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(item: u32, topic: u16) -> Listing {
        Listing {
            item,
            topic,
            publisher: 0,
            published: 0,
            flagged: None,
            publisher_since: -1_000_000,
        }
    }

    #[test]
    fn mmr_and_caps_spread_topics() {
        let c: Vec<Listing> = (0..6)
            .map(|i| listing(i, if i < 4 { 0 } else { 1 }))
            .collect();
        let scores = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        let cfg = FeedConfig {
            page: 3,
            ..FeedConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(rerank(&c, &scores, 0, &cfg, &mut rng).items, vec![0, 1, 2]);
        let diverse = FeedConfig {
            mmr: 0.9,
            ..cfg.clone()
        };
        assert_eq!(
            rerank(&c, &scores, 0, &diverse, &mut rng).items,
            vec![0, 4, 1]
        );
        let capped = FeedConfig {
            topic_cap: Some(1),
            ..cfg
        };
        assert_eq!(rerank(&c, &scores, 0, &capped, &mut rng).items, vec![0, 4]);
    }

    #[test]
    fn flagged_articles_never_reach_a_page() {
        let mut alive: Vec<Listing> = (0..5).map(|i| listing(i, 0)).collect();
        alive[0].flagged = Some(10);
        let counters = Counters::default();
        let history = [];
        let req = Request {
            history: &history,
            time: 100,
            alive: &alive,
            counters: &counters,
            seed: 1,
        };
        let (c, f) = retrieve(&req, &FeedConfig::default());
        assert!(c.iter().all(|l| l.item != 0));
        assert_eq!(f.flagged_removed, 1);
    }
}
