//! Experiments: an A/B test randomised by user vs team-draft interleaving, on the same users
//! and days, and how many users each needs to detect the difference.
//!
//! ```text
//! A/B           user → arm by a hash of the user id; metric: reads per user; a two-sample test
//! interleaving  every user sees one page merged from both rankers (team draft: the team with
//!               fewer picks, or a coin, picks its best unpicked article); a read credits the
//!               team of its slot; metric: per-user credit A − B; a one-sample test
//! users needed  80 % power, two-sided α = 0.05: A/B 2·2·(z_α/2 + z_β)²·σ²/δ², interleaving
//!               (z_α/2 + z_β)²·σ_d²/μ_d²
//! ```
//!
//! Talking points: offline metrics are not the online truth — experiments are; randomise by
//! user, not by request; interleaving compares two rankers within each user, removing the
//! between-user variance, so it needs far fewer users (Chapelle et al., 2012).

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::feed::{self, FeedConfig, Scorer};
use crate::models::Ranker;
use crate::service::Service;
use crate::simulate::World;

/// z_{0.975} + z_{0.8}: two-sided 5 % and 80 % power.
const Z: f64 = 1.959_964 + 0.841_621;

#[derive(Debug, Clone, Default, Serialize)]
pub struct AbResult {
    pub users: usize,
    /// Reads per user over the experiment, per arm.
    pub mean_a: f64,
    pub mean_b: f64,
    pub sd: f64,
    /// Users (both arms together) for 80 % power at this effect.
    pub users_needed: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InterleavingResult {
    pub users: usize,
    /// Share of users with a preference who preferred A.
    pub prefer_a: f64,
    /// Mean per-user credit A − B (reads) and its deviation.
    pub mean_difference: f64,
    pub sd: f64,
    pub users_needed: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Experiment {
    pub a: String,
    pub b: String,
    pub days: u32,
    pub ab: AbResult,
    pub interleaving: InterleavingResult,
    /// A/B users needed ÷ interleaving users needed.
    pub ratio: f64,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, var.sqrt())
}

/// Runs both designs from copies of `service` for `days` from `from`.
/// Talking point [experiments]: an A/B test randomised by user against team-draft interleaving,
/// users needed for the same power.
pub fn compare(
    world: &World,
    service: &Service,
    (a, b): (&Ranker, &Ranker),
    from: u32,
    days: u32,
) -> Experiment {
    let feed = FeedConfig::default();
    // A/B: one arm per user.
    let arm = |user: u32| (user.wrapping_mul(2_654_435_761) >> 16).is_multiple_of(2);
    let mut reads: HashMap<u32, f64> = HashMap::new();
    let mut s = service.clone();
    for day in from..from + days {
        s.run_sessions(
            world,
            day,
            feed.max_age_hours,
            |session, req| {
                let m = if arm(session.user) { a } else { b };
                feed::build(req, Scorer::Model(m), &feed).items
            },
            |session, shown| {
                let r = shown.iter().filter(|x| x.long_dwell()).count() as f64;
                *reads.entry(session.user).or_default() += r;
            },
        );
    }
    let (mut in_a, mut in_b) = (Vec::new(), Vec::new());
    for (&user, &r) in &reads {
        if arm(user) {
            in_a.push(r)
        } else {
            in_b.push(r)
        }
    }
    let ((mean_a, sd_a), (mean_b, sd_b)) = (mean_sd(&in_a), mean_sd(&in_b));
    let sd = ((sd_a.powi(2) + sd_b.powi(2)) / 2.0).sqrt();
    let delta = (mean_a - mean_b).abs().max(1e-12);
    let ab = AbResult {
        users: reads.len(),
        mean_a,
        mean_b,
        sd,
        users_needed: 2.0 * 2.0 * Z.powi(2) * sd.powi(2) / delta.powi(2),
    };
    let interleaving = interleave(world, service, (a, b), from, days, &feed);
    let ratio = ab.users_needed / interleaving.users_needed.max(1e-12);
    Experiment {
        a: a.name(),
        b: b.name(),
        days,
        ab,
        interleaving,
        ratio,
    }
}

fn interleave(
    world: &World,
    service: &Service,
    (a, b): (&Ranker, &Ranker),
    from: u32,
    days: u32,
    feed: &FeedConfig,
) -> InterleavingResult {
    let mut credit: HashMap<u32, f64> = HashMap::new();
    // The page's teams, from building it to the user's reaction (same session).
    let teams = std::cell::RefCell::new(Vec::new());
    let mut s = service.clone();
    for day in from..from + days {
        s.run_sessions(
            world,
            day,
            feed.max_age_hours,
            |session, req| {
                let la = feed::build(req, Scorer::Model(a), feed).items;
                let lb = feed::build(req, Scorer::Model(b), feed).items;
                let (page, team) = team_draft(&la, &lb, feed.page, session.seed);
                *teams.borrow_mut() = team;
                page
            },
            |session, shown| {
                let c = credit.entry(session.user).or_default();
                for (s, &is_a) in shown.iter().zip(teams.borrow().iter()) {
                    if s.long_dwell() {
                        *c += if is_a { 1.0 } else { -1.0 };
                    }
                }
            },
        );
    }
    let d: Vec<f64> = credit.values().copied().collect();
    let (mean, sd) = mean_sd(&d);
    let decided: Vec<&f64> = d.iter().filter(|&&x| x != 0.0).collect();
    InterleavingResult {
        users: d.len(),
        prefer_a: decided.iter().filter(|&&&x| x > 0.0).count() as f64
            / decided.len().max(1) as f64,
        mean_difference: mean,
        sd,
        users_needed: Z.powi(2) * sd.powi(2) / mean.abs().max(1e-12).powi(2),
    }
}

/// Team-draft interleaving of two ranked lists into `k` slots; `true` marks team A's picks.
pub fn team_draft(a: &[u32], b: &[u32], k: usize, seed: u64) -> (Vec<u32>, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7ea3);
    let (mut page, mut team) = (Vec::new(), Vec::new());
    let (mut na, mut nb) = (0, 0);
    let next = |list: &[u32], page: &[u32]| list.iter().copied().find(|i| !page.contains(i));
    while page.len() < k {
        let a_turn = na < nb || (na == nb && rng.gen::<bool>());
        let pick = if a_turn {
            next(a, &page)
                .map(|i| (i, true))
                .or_else(|| next(b, &page).map(|i| (i, false)))
        } else {
            next(b, &page)
                .map(|i| (i, false))
                .or_else(|| next(a, &page).map(|i| (i, true)))
        };
        let Some((item, is_a)) = pick else { break };
        page.push(item);
        team.push(is_a);
        if is_a {
            na += 1
        } else {
            nb += 1
        }
    }
    (page, team)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_draft_takes_turns_without_duplicates() {
        let (page, team) = team_draft(&[1, 2, 3, 4], &[2, 1, 5, 6], 4, 3);
        assert_eq!(page.len(), 4);
        let mut sorted = page.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "no article twice");
        let a = team.iter().filter(|&&t| t).count();
        assert_eq!(a, 2, "each team picks half");
    }
}
