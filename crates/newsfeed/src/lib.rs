//! # Personalized news feed — the interview answer as code
//!
//! **Problem.** Rank fresh articles (a half-life of hours) for each user at the moment they
//! open the feed, end to end well under 200 ms. ML objective: predicted engagements — a click,
//! a long dwell, a share, a hide — combined into one value score with stated weights, because
//! ranking by click probability alone rewards clickbait. The logs the next model learns from
//! are produced by the current one (position bias, feedback loops, filter bubbles), so
//! exploration, bias correction and experiments are part of the design, and offline metrics
//! on logged clicks are not the online truth.
//!
//! **Stages**, one file each, in pipeline order:
//!
//! 1. [`data`] — MIND-format logs and the simulator's logs in one schema, bad rows quarantined;
//!    [`simulate`] — the embedded default: a seeded news service whose users' true preferences
//!    are known, so true relevance can be measured
//! 2. [`features`] — online counters (smoothed and decayed CTRs, age, co-clicks, topic
//!    affinity), one function offline and online
//! 3. [`models`] — baselines and the multi-task ranker (logistic regression, boosting)
//! 4. [`feed`] — the funnel: candidate sources → ranking → re-ranking (diversity, freshness,
//!    integrity, exploration) → the page, with counts and timings per stage
//! 5. [`evaluate`] — the MIND protocol beside the published table; [`experiments`] — the
//!    simulator protocol on [`service`] (the simulated service day by day): logged clicks vs
//!    true relevance, objectives, position bias, diversity, the feedback loop; [`ab`] — A/B
//!    vs interleaving
//! 6. [`artifact`] — ranker + funnel settings + the service's snapshot + the monitoring
//!    reference, versioned
//! 7. [`batch`] — every known user's candidate pool, precomputed; [`serve`] — the feed at
//!    open time, new articles and engagement events applied at once
//! 8. [`monitor`] — served topic mix, CTR by position, freshness, hides, flagged articles
//!
//! [`pipeline`] chains the stages (read it first); [`config`] groups the settings; [`bench`] is the production-shaped
//! traffic of the serving benchmark.
//!
//!
//! Talking point [constraints]: fresh items (a half-life of hours) ranked per user at open time,
//! well under 200 ms.

mod error;
pub mod config;
pub mod data;
pub mod simulate;
pub mod features;
pub mod models;
pub mod feed;
pub mod evaluate;
pub mod mistakes;
pub mod service;
pub mod experiments;
pub mod ab;
pub mod artifact;
pub mod batch;
pub mod serve;
pub mod monitor;
pub mod pipeline;
pub mod bench;

pub use error::{Error, Result};

/// The design's name on the command line.
pub const DESIGN: &str = "newsfeed";
