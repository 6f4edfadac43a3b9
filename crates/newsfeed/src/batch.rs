//! Stage 7a — the batch candidate job: every known user's candidate pool, retrieved and
//! ranked from the snapshot, as a larger service would precompute nightly.
//!
//! ```text
//! snapshot (counters, histories, catalogue) ─► per user: retrieve → rank ─► top `pool` ids
//! ```
//!
//! Talking points: batch vs real-time — a precomputed pool is cheap to serve but blind to
//! this session's clicks and to articles published since the job ran; the real-time path
//! re-ranks at open time.
//!
//! Simplification: at this catalogue size (hundreds of alive articles) the server retrieves
//! live in tens of microseconds, so it does not read these pools; with millions of articles
//! retrieval would come from them (or from an ANN index), and only ranking would run live.

use std::time::Instant;

use serde::Serialize;

use crate::artifact::NewsfeedArtifact;
use crate::feed::{self, Request, Scorer};

/// What the job did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    pub users: usize,
    pub pool: usize,
    pub mean_candidates: f64,
    pub seconds: f64,
    pub users_per_second: f64,
}

/// Each known user's top `pool` articles at the snapshot's cutoff: (user, ids best first).
/// Talking point [batch-vs-real-time]: candidate pools precomputed in batch, ranked in real time at
/// open.
pub fn candidate_pools(
    model: &NewsfeedArtifact,
    pool: usize,
) -> (Vec<(u32, Vec<u32>)>, BatchReport) {
    let started = Instant::now();
    let s = &model.snapshot;
    let alive = s.alive(model.feed.max_age_hours);
    let mut candidates = 0usize;
    let pools: Vec<(u32, Vec<u32>)> = s
        .histories
        .iter()
        .map(|(&user, history)| {
            let req = Request {
                history,
                time: s.as_of,
                alive: &alive,
                counters: &s.counters,
                seed: u64::from(user),
            };
            let (found, _) = feed::retrieve(&req, &model.feed);
            candidates += found.len();
            let ids: Vec<u32> = found.iter().map(|l| l.item).collect();
            let rows = s.counters.features(history, &ids, s.as_of, None);
            let mut rng = crate::models::rng(u64::from(user));
            let scores = Scorer::Model(&model.ranker).score(&rows, &mut rng);
            let mut order: Vec<usize> = (0..ids.len()).collect();
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            (user, order.iter().take(pool).map(|&i| ids[i]).collect())
        })
        .collect();
    let seconds = started.elapsed().as_secs_f64();
    let users = pools.len();
    let report = BatchReport {
        users,
        pool,
        mean_candidates: candidates as f64 / users.max(1) as f64,
        seconds,
        users_per_second: users as f64 / seconds.max(1e-9),
    };
    (pools, report)
}
