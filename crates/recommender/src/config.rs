//! Typed settings of one recommender run on the seeded shop, with commented defaults.
//!
//! One seed drives all randomness: the shop's (`shop.seed`); the models' seeds are fixed in
//! [`TwoStageConfig`].

use serde::{Deserialize, Serialize};

use crate::shop::ShopConfig;
use crate::two_stage::TwoStageConfig;

/// Everything `mlsd recommender train`, the demo, the benchmarks and the tests fit with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecommenderConfig {
    /// The simulated shop (users, products, days, funnel, seed).
    pub shop: ShopConfig,
    /// Retrieval, ranking and rules.
    pub two_stage: TwoStageConfig,
    /// The last days of the shop the model never sees (default 7): the training cutoff is the
    /// start of day `shop.days − holdout_days`. Every stage is refitted for a new cutoff.
    pub holdout_days: u32,
    /// Items per precomputed list (default 50: the most a client may ask for).
    pub snapshot_k: usize,
    /// Worker threads of the batch job (default 2).
    pub workers: usize,
    /// Days before the cutoff that drift checks compare live events with (default 7).
    pub reference_days: i64,
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        RecommenderConfig {
            shop: ShopConfig::default(),
            two_stage: TwoStageConfig::default(),
            holdout_days: 7,
            snapshot_k: 50,
            workers: 2,
            reference_days: 7,
        }
    }
}

impl RecommenderConfig {
    /// The training cutoff as a day number of the shop.
    pub fn cutoff_day(&self) -> u32 {
        self.shop.days.saturating_sub(self.holdout_days)
    }
}
