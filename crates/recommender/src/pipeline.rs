//! Read this first: the stages in order, as the CLI, the demo, the benchmarks and the tests
//! run them — generate the shop → fit the two-stage model on all but the held-out days →
//! precompute the batch snapshot → register ([`crate::artifact`]) → serve ([`crate::serve`])
//! → replay and monitor the held-out days ([`crate::evaluate`], [`crate::monitor`]).

use serde::Serialize;

use crate::batch::{precompute, Snapshot};
use crate::config::RecommenderConfig;
use crate::movielens::Rating;
use crate::serve::reference_events;
use crate::shop::{Shop, ShopConfig};
use crate::two_stage::{TrainingReport, TwoStage, TwoStageConfig};
use crate::Result;

/// The default holdout ([`RecommenderConfig::holdout_days`]): the model never sees these
/// days; replays and drift checks use them as "live" traffic.
pub const TEST_DAYS: u32 = 7;

/// Items per precomputed list by default (the most a client may ask for).
pub const SNAPSHOT_K: usize = 50;

/// A fitted shop and everything serving needs.
pub struct World {
    pub shop: Shop,
    pub model: TwoStage,
    pub training: TrainingReport,
    pub snapshot: Snapshot,
    /// The model's last training week: the reference of drift checks.
    pub reference: Vec<Rating>,
}

/// What the batch job did, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub users: usize,
    pub k: usize,
    pub seconds: f64,
    pub workers: usize,
    pub users_per_second: f64,
}

impl BatchSummary {
    pub fn of(snapshot: &Snapshot) -> Self {
        let users = snapshot.lists.len().saturating_sub(1);
        BatchSummary {
            users,
            k: snapshot.k,
            seconds: snapshot.seconds,
            workers: snapshot.workers,
            users_per_second: users as f64 / snapshot.seconds.max(1e-9),
        }
    }
}

impl World {
    /// Generates the shop, fits the model on all but the last `config.holdout_days`, runs the
    /// batch job.
    pub fn fit(config: &RecommenderConfig) -> Result<World> {
        let shop = Shop::generate(&config.shop)?;
        let until = shop.day_start(config.cutoff_day());
        let (model, training) = TwoStage::fit(&shop, until, &config.two_stage)?;
        let snapshot = precompute(&model, config.snapshot_k, config.workers)?;
        let reference = reference_events(&shop.events, until, config.reference_days);
        Ok(World {
            shop,
            model,
            training,
            snapshot,
            reference,
        })
    }

    /// [`World::fit`] with the default holdout, snapshot size and references.
    pub fn build(shop: &ShopConfig, two_stage: &TwoStageConfig, workers: usize) -> Result<World> {
        World::fit(&RecommenderConfig {
            shop: shop.clone(),
            two_stage: two_stage.clone(),
            workers,
            ..RecommenderConfig::default()
        })
    }

    /// The held-out week's events (the "live" traffic of replays and benchmarks).
    pub fn test_events(&self) -> &[Rating] {
        self.shop.between(self.model.now, i64::MAX)
    }

    /// Every user id once, in an order shuffled by the shop's seed (benchmark traffic).
    pub fn users_in_seeded_order(&self) -> Vec<u32> {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut users: Vec<u32> = (1..=self.shop.config.users as u32).collect();
        users.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            self.shop.config.seed,
        ));
        users
    }

    pub fn batch_summary(&self) -> BatchSummary {
        BatchSummary::of(&self.snapshot)
    }
}
