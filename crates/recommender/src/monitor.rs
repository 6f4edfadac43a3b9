//! Stage 7 — monitoring: is the world still the one the model was trained on, and is the
//! model still useful in it?
//!
//! - **item-popularity drift**: Jensen–Shannon distance between the reference and current
//!   distributions of events over items;
//! - **new items**: share of current events on products the reference period never saw;
//! - **user-activity drift**: JS distance between the distributions of events per active user;
//! - **online proxy**: replay a period event by event and count how often the item a shopper
//!   took next was in the list we would have shown them — batch snapshot vs real-time.
//!
//! Talking point: a JS distance alone has no scale — with 1,500 items and 20 k events, two
//! samples of the *same* distribution are already ~0.1 apart. The alarm compares it with a
//! permutation null (reference and current pooled, shuffled, split again, seeded), and asks for
//! a minimum effect on top, so sampling noise and slow catalogue growth do not page anyone.

use std::collections::{HashMap, HashSet};

use mlsd_core::drift::jensen_shannon_distance;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::movielens::Rating;
use crate::shop::EventKind;
use crate::two_stage::{Mode, TwoStage};

/// Alarm settings.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorConfig {
    /// Permutations behind the null distribution of each JS distance.
    pub permutations: usize,
    /// Alarm when the distance is above the null's maximum by at least this much.
    pub min_effect: f64,
    /// Alarm when new products take more than this share of events.
    pub max_new_item_share: f64,
    pub seed: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            permutations: 20,
            min_effect: 0.05,
            max_new_item_share: 0.25,
            seed: 42,
        }
    }
}

/// One distance with its null.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JsCheck {
    pub distance: f64,
    /// Largest distance over the permutations (what chance alone gives at these sizes).
    pub null_max: f64,
    pub drift: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorReport {
    pub reference_events: usize,
    pub current_events: usize,
    pub item_popularity: JsCheck,
    pub user_activity: JsCheck,
    pub active_users_reference: usize,
    pub active_users_current: usize,
    /// Share of current events on items with no reference event.
    pub new_item_share: f64,
    pub new_items_drift: bool,
    /// Any alarm.
    pub drift: bool,
}

fn shares<'a>(blocks: impl Iterator<Item = &'a Vec<usize>>, bins: usize) -> Vec<f64> {
    let mut counts = vec![0.0; bins];
    let mut n = 0.0;
    for &l in blocks.flatten() {
        counts[l] += 1.0;
        n += 1.0;
    }
    counts.into_iter().map(|c| c / f64::max(n, 1.0)).collect()
}

/// JS distance between two samples of labels in `0..bins`, and its permutation null. The
/// samples come in blocks (one per user) and the permutation moves whole blocks.
///
/// Talking point [drift]: events are not independent — a shopper's session stays in one category,
/// so shuffling single events would understate chance variation and raise false alarms; shuffling
/// whole users keeps that structure in the null.
fn js_check(a: &[Vec<usize>], b: &[Vec<usize>], bins: usize, cfg: &MonitorConfig) -> JsCheck {
    let distance = jensen_shannon_distance(&shares(a.iter(), bins), &shares(b.iter(), bins));
    let mut pooled: Vec<&Vec<usize>> = a.iter().chain(b).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut null_max = 0.0f64;
    for _ in 0..cfg.permutations {
        pooled.shuffle(&mut rng);
        let (x, y) = pooled.split_at(a.len());
        null_max = null_max.max(jensen_shannon_distance(
            &shares(x.iter().copied(), bins),
            &shares(y.iter().copied(), bins),
        ));
    }
    JsCheck {
        distance,
        null_max,
        drift: distance > null_max + cfg.min_effect,
    }
}

/// Events grouped by user (users in id order), each mapped by `label`.
fn by_user(events: &[Rating], label: impl Fn(&Rating) -> usize) -> Vec<Vec<usize>> {
    let mut users: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for e in events {
        users.entry(e.user).or_default().push(label(e));
    }
    users.into_values().collect()
}

/// Events per active user, in doubling bins (1, 2, 3–4, 5–8, …, 129+): one block per user.
fn activity_bins(events: &[Rating]) -> Vec<Vec<usize>> {
    by_user(events, |_| 0)
        .into_iter()
        .map(|e| vec![(usize::BITS - (e.len().max(1) - 1).leading_zeros()).min(8) as usize])
        .collect()
}

/// Compares the `current` events with the `reference` events.
pub fn check(
    reference: &[Rating],
    current: &[Rating],
    n_items: usize,
    cfg: &MonitorConfig,
) -> MonitorReport {
    let items =
        |events: &[Rating]| by_user(events, |e| (e.item as usize).min(n_items.saturating_sub(1)));
    let item_popularity = js_check(&items(reference), &items(current), n_items.max(1), cfg);
    let (ra, ca) = (activity_bins(reference), activity_bins(current));
    let user_activity = js_check(&ra, &ca, 9, cfg);
    let known: HashSet<u32> = reference.iter().map(|e| e.item).collect();
    let new_item_share = current.iter().filter(|e| !known.contains(&e.item)).count() as f64
        / current.len().max(1) as f64;
    let new_items_drift = new_item_share > cfg.max_new_item_share;
    MonitorReport {
        reference_events: reference.len(),
        current_events: current.len(),
        drift: item_popularity.drift || user_activity.drift || new_items_drift,
        item_popularity,
        user_activity,
        active_users_reference: ra.len(),
        active_users_current: ca.len(),
        new_item_share,
        new_items_drift,
    }
}

/// The online proxy: how often the next item a shopper took was in the list we would have
/// shown at that moment.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    pub k: usize,
    /// Events scored (new-to-the-user items only: a list never repeats what was seen).
    pub events: usize,
    /// The batch snapshot: each user's list as of the model's cutoff, however old.
    pub batch_hit_rate: f64,
    /// Real-time: the list re-ranked with every event up to that moment.
    pub realtime_hit_rate: f64,
    /// The most popular unseen products (what a cold-start answer would show).
    pub popularity_hit_rate: f64,
}

/// Replays `events` (after the model's cutoff, in time order): every event updates the live
/// state; every `stride`-th new-to-the-user event is scored against the three lists first.
pub fn replay(model: &TwoStage, events: &[Rating], k: usize, stride: usize) -> ReplayReport {
    let mut live: HashMap<u32, crate::two_stage::UserState> = HashMap::new();
    let mut batch: HashMap<u32, HashSet<u32>> = HashMap::new();
    let (mut n, mut hit_batch, mut hit_live, mut hit_pop) = (0usize, 0usize, 0usize, 0usize);
    let mut candidates = 0usize;
    for e in events {
        let Some(kind) = EventKind::from_weight(e.rating) else {
            continue;
        };
        let state = live.entry(e.user).or_insert_with(|| model.state(e.user));
        if !state.seen.contains(&e.item) {
            candidates += 1;
            if candidates.is_multiple_of(stride.max(1)) {
                n += 1;
                let snapshot = batch.entry(e.user).or_insert_with(|| {
                    let at_cutoff = model.state(e.user);
                    model
                        .recommend(e.user, &at_cutoff, k, Mode::Batch)
                        .into_iter()
                        .map(|r| r.item)
                        .collect()
                });
                hit_batch += usize::from(snapshot.contains(&e.item));
                let fresh = model.recommend(e.user, state, k, Mode::Realtime);
                hit_live += usize::from(fresh.iter().any(|r| r.item == e.item));
                hit_pop += usize::from(model.popular(state, k).contains(&e.item));
            }
        }
        state.observe(e.item, kind, &model.catalog, model.config.recent_items);
    }
    let rate = |h: usize| h as f64 / n.max(1) as f64;
    ReplayReport {
        k,
        events: n,
        batch_hit_rate: rate(hit_batch),
        realtime_hit_rate: rate(hit_live),
        popularity_hit_rate: rate(hit_pop),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(user: u32, item: u32) -> Rating {
        Rating {
            user,
            item,
            rating: 1.0,
            timestamp: 0,
        }
    }

    #[test]
    fn the_same_distribution_is_not_drift_and_a_moved_one_is() {
        let cfg = MonitorConfig::default();
        // 2,000 events over 20 items, the same shares twice.
        let a: Vec<Rating> = (0..2000).map(|i| ev(i % 300, 1 + (i * 7 % 20))).collect();
        let b: Vec<Rating> = (0..2000).map(|i| ev(i % 300, 1 + (i * 11 % 20))).collect();
        let same = check(&a, &b, 21, &cfg);
        assert!(!same.item_popularity.drift, "{same:?}");
        assert_eq!(same.new_item_share, 0.0);
        // Half the traffic moves to two items.
        let c: Vec<Rating> = (0..2000)
            .map(|i| {
                ev(
                    i % 300,
                    if i % 2 == 0 {
                        1 + (i % 4 / 2)
                    } else {
                        1 + (i * 7 % 20)
                    },
                )
            })
            .collect();
        let moved = check(&a, &c, 21, &cfg);
        assert!(moved.item_popularity.drift && moved.drift, "{moved:?}");
        // New items: every current event on an item the reference never had.
        let d: Vec<Rating> = (0..100).map(|i| ev(i, 20)).collect();
        let only_old: Vec<Rating> = (0..100).map(|i| ev(i, 1)).collect();
        assert!(check(&only_old, &d, 21, &cfg).new_items_drift);
    }

    #[test]
    fn activity_bins_double() {
        let events: Vec<Rating> = [1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4]
            .iter()
            .map(|&u| ev(u, 1))
            .collect();
        // user 1: 1 event → bin 0; 2: 2 → 1; 3: 3 → 2; 4: 5 → 3.
        assert_eq!(activity_bins(&events), [[0], [1], [2], [3]]);
    }
}
