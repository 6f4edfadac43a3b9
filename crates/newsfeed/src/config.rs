//! Typed settings of the news-feed design, with commented defaults: one place to read what a
//! run uses. The defaults live beside the code that uses them; this groups them.

use crate::artifact::TrainConfig;
use crate::evaluate::MindSettings;
use crate::experiments::SimConfig;
use crate::serve::ServeConfig;

/// Everything a news-feed run is configured by.
#[derive(Debug, Clone, Default)]
pub struct NewsfeedConfig {
    /// The MIND protocol: collaborative prior 20 co-impressions over the last 50 history
    /// items, no warm-up, L2 penalty 1 (chosen on the validation day by `--tune`).
    pub mind: MindSettings,
    /// The simulator protocol: 1,000 users, 12 topics, 40 publishers (8 new on day 3), 200
    /// articles a day, 8 logged days, 3 online days, a 30-day feedback loop with 0 or 2
    /// exploration slots, MMR 0 / 0.2 / 0.5, seed 42.
    pub sim: SimConfig,
    /// What `mlsd newsfeed train` registers: 8 logged days, boosting on the value weights
    /// (click 1, read 3, share 5, hide −10), position-corrected, 3 reference days, one
    /// exploration slot per page of 10, candidates up to 48 h old.
    pub train: TrainConfig,
    /// The API: k up to 50, 1,000 events and 100 articles per call, a 30-s feed cache.
    pub serve: ServeConfig,
}
