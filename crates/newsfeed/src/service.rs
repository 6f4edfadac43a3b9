//! The simulated service: the simulator's users meet a feed built by [`crate::feed`], the log
//! is what that feed produced, and the day's numbers include what only the simulator knows.
//!
//! ```text
//! World::sessions(day) ─► for each feed open: alive listings + user history + counters
//!   ─► feed::build (a policy: scorer + re-ranking) ─► World::react ─► the impression
//!   ─► counters.update, the user's history, the log          (real time, as the server does)
//! ```
//!
//! Talking points: the logs the next model learns from are produced by the current one (the
//! feedback loop); engagement, coverage and diversity per day; true relevance beside clicks.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::data::{Impression, Log, Shown};
use crate::features::{Counters, FeatureConfig};
use crate::feed::{self, FeedConfig, Listing, Request, Scorer};
use crate::simulate::{Session, World, DAY};

/// A feed policy: how candidates are scored and how the page is re-ranked.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    pub scorer: Scorer<'a>,
    pub feed: &'a FeedConfig,
}

/// The service's state: what a server would hold.
#[derive(Debug, Clone)]
pub struct Service {
    pub counters: Counters,
    /// Per user: clicked articles, oldest first.
    pub histories: Vec<Vec<u32>>,
    listings: Vec<Listing>,
    pub log: Log,
}

/// One day of a policy, with the simulator's truth beside the logged outcomes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayStats {
    pub day: u32,
    pub sessions: usize,
    pub clicks: usize,
    /// Clicks read for ≥ 30 s.
    pub reads: usize,
    pub dwell_minutes: f64,
    pub shares: usize,
    pub hides: usize,
    /// Share of served slots holding clickbait (clickbait > 0.5).
    pub clickbait_served: f64,
    /// Flagged-later articles that users looked at before the flag.
    pub violations_seen: usize,
    /// Distinct articles served / articles alive at some point of the day.
    pub coverage: f64,
    /// Entropy (bits) of the topics served.
    pub topic_entropy: f64,
    /// Mean nDCG@10 of the pages against true relevance (ideal: the best alive articles).
    pub true_ndcg_at_10: f64,
}

impl DayStats {
    pub fn clicks_per_session(&self) -> f64 {
        self.clicks as f64 / self.sessions.max(1) as f64
    }
    pub fn reads_per_session(&self) -> f64 {
        self.reads as f64 / self.sessions.max(1) as f64
    }
}

impl Service {
    pub fn new(world: &World, features: FeatureConfig) -> Service {
        let mut counters = Counters::new(features);
        let mut since: HashMap<u32, i64> = HashMap::new();
        let listings = world
            .articles
            .iter()
            .enumerate()
            .map(|(i, a)| {
                counters.publish(i as u32, Some(a.topic), Some(a.published));
                Listing {
                    item: i as u32,
                    topic: a.topic,
                    publisher: a.publisher,
                    published: a.published,
                    flagged: a.flagged_at(&world.cfg),
                    // Articles are in publication order: the first one seen is the first.
                    publisher_since: *since.entry(a.publisher).or_insert(a.published),
                }
            })
            .collect();
        Service {
            counters,
            histories: vec![Vec::new(); world.users.len()],
            listings,
            log: world.empty_log(),
        }
    }

    /// The service as a version's snapshot left it, continuing in `world` (which holds the
    /// snapshot's articles and any published after it). Histories are as the snapshot keeps
    /// them (the latest `history_cap` clicks); the log starts empty.
    pub fn resume(world: &World, snapshot: &crate::artifact::Snapshot) -> Service {
        let mut service = Service::new(world, snapshot.counters.config.clone());
        let mut counters = snapshot.counters.clone();
        for (i, a) in world.articles.iter().enumerate() {
            counters.publish(i as u32, Some(a.topic), Some(a.published));
        }
        service.counters = counters;
        for (&user, history) in &snapshot.histories {
            if let Some(h) = service.histories.get_mut(user as usize) {
                h.clone_from(history);
            }
        }
        service
    }

    /// The catalogue as the service knows it, in publication order.
    pub fn listings(&self) -> &[Listing] {
        &self.listings
    }

    /// Serves every feed open of `day` with `policy`; the users react, the service learns.
    pub fn run_day(&mut self, world: &World, day: u32, policy: Policy) -> DayStats {
        self.run_sessions(
            world,
            day,
            policy.feed.max_age_hours,
            |_, req| feed::build(req, policy.scorer, policy.feed).items,
            |_, _| {},
        )
    }

    /// The day's feed opens with any page builder (an experiment's arms, an interleaving);
    /// `observe` sees each session's page reaction.
    pub fn run_sessions(
        &mut self,
        world: &World,
        day: u32,
        max_age: f64,
        mut page_for: impl FnMut(&Session, &Request) -> Vec<u32>,
        mut observe: impl FnMut(&Session, &[Shown]),
    ) -> DayStats {
        let mut stats = DayStats {
            day,
            ..DayStats::default()
        };
        let (mut served, mut topics) = (HashSet::new(), vec![0usize; world.cfg.topics]);
        let mut ndcg = 0.0;
        let day_end = i64::from(day + 1) * DAY - 1;
        let alive_today = world.alive(day_end, max_age + 24.0).len();
        for session in world.sessions(day) {
            let range = world.alive(session.time, max_age);
            let history = &self.histories[session.user as usize];
            let request = Request {
                history,
                time: session.time,
                alive: &self.listings[range.clone()],
                counters: &self.counters,
                seed: session.seed,
            };
            let page = page_for(&session, &request);
            let shown = world.react(&session, &page);
            observe(&session, &shown);
            ndcg += true_ndcg(world, session.user, session.time, &page, range);
            for s in &shown {
                let a = &world.articles[s.item as usize];
                served.insert(s.item);
                topics[a.topic as usize] += 1;
                stats.clicks += usize::from(s.click);
                stats.reads += usize::from(s.long_dwell());
                stats.dwell_minutes += f64::from(s.dwell) / 60.0;
                stats.shares += usize::from(s.share);
                stats.hides += usize::from(s.hide);
                stats.clickbait_served += f64::from(u8::from(a.clickbait > 0.5));
                let examined = s.click || s.hide;
                stats.violations_seen += usize::from(a.violation && examined);
            }
            let impression = Impression {
                id: self.log.impressions.len() as u64,
                user: session.user,
                time: session.time,
                history: history.clone(),
                shown,
            };
            self.counters.update(&impression);
            let clicks = impression.shown.iter().filter(|s| s.click).map(|s| s.item);
            self.histories[session.user as usize].extend(clicks);
            self.log.impressions.push(impression);
            stats.sessions += 1;
        }
        let slots: usize = topics.iter().sum();
        stats.clickbait_served /= slots.max(1) as f64;
        stats.coverage = served.len() as f64 / alive_today.max(1) as f64;
        stats.topic_entropy = entropy(&topics);
        stats.true_ndcg_at_10 = ndcg / stats.sessions.max(1) as f64;
        stats
    }
}

/// nDCG@10 of a page against true relevance, the ideal being the best alive articles.
fn true_ndcg(
    world: &World,
    user: u32,
    time: i64,
    page: &[u32],
    alive: std::ops::Range<usize>,
) -> f64 {
    let rel = |i: usize| world.relevance(user, &world.articles[i], time);
    let dcg = |gains: &mut dyn Iterator<Item = f64>| -> f64 {
        gains
            .take(10)
            .enumerate()
            .map(|(r, g)| (2f64.powf(g) - 1.0) / ((r + 2) as f64).log2())
            .sum()
    };
    let mut best: Vec<f64> = alive.map(rel).collect();
    best.sort_by(|a, b| b.total_cmp(a));
    let ideal = dcg(&mut best.into_iter());
    if ideal <= 0.0 {
        return 0.0;
    }
    dcg(&mut page.iter().map(|&i| rel(i as usize))) / ideal
}

/// Shannon entropy (bits) of counts.
pub fn entropy(counts: &[usize]) -> f64 {
    let total: usize = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Baseline;
    use crate::simulate::WorldConfig;

    #[test]
    fn a_day_is_deterministic_and_logged() {
        let world = World::new(&WorldConfig {
            users: 60,
            articles_per_day: 40,
            days: 2,
            ..WorldConfig::default()
        });
        let cfg = FeedConfig::default();
        let policy = Policy {
            scorer: Scorer::Baseline(Baseline::SmoothedCtr),
            feed: &cfg,
        };
        let run = || {
            let mut s = Service::new(&world, FeatureConfig::default());
            let a = s.run_day(&world, 0, policy);
            let b = s.run_day(&world, 1, policy);
            (a, b, s.log.impressions.len())
        };
        let (a, b, n) = run();
        assert_eq!((a.clone(), b.clone(), n), run());
        assert_eq!(n, a.sessions + b.sessions);
        assert!(b.clicks > 0 && b.coverage > 0.0 && b.true_ndcg_at_10 > 0.0);
        assert!((entropy(&[1, 1]) - 1.0).abs() < 1e-12);
    }
}
