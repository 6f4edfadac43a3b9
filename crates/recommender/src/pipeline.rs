//! The stages in order, as the CLI, the demo, the benchmarks and the tests run them:
//! generate the shop → fit the two-stage model on all but the last week → precompute the
//! batch snapshot → (serve) → replay and monitor the last week.

use std::path::PathBuf;

use serde::Serialize;

use crate::batch::{precompute, Snapshot};
use crate::movielens::Rating;
use crate::serve::reference_events;
use crate::shop::{Shop, ShopConfig};
use crate::two_stage::{TrainingReport, TwoStage, TwoStageConfig};
use crate::Result;

/// The last `TEST_DAYS` of the shop are held out: the model never sees them; replays and
/// drift checks use them as "live" traffic.
pub const TEST_DAYS: u32 = 7;

/// Items per precomputed list (the most a client may ask for).
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

/// Where a world's batch snapshot comes from.
#[derive(Debug, Clone)]
pub enum SnapshotSource {
    /// Run the batch job over this many worker threads.
    Compute { workers: usize },
    /// Read a snapshot file written by an earlier run of the job (refused if it was computed
    /// with another model).
    File(PathBuf),
}

impl World {
    /// Generates the shop, fits the model on all but the last [`TEST_DAYS`], runs the batch job
    /// over `workers` threads.
    pub fn build(shop: &ShopConfig, two_stage: &TwoStageConfig, workers: usize) -> Result<World> {
        World::build_with(shop, two_stage, SnapshotSource::Compute { workers })
    }

    /// [`World::build`], with the snapshot from `source`.
    pub fn build_with(
        shop: &ShopConfig,
        two_stage: &TwoStageConfig,
        source: SnapshotSource,
    ) -> Result<World> {
        let shop = Shop::generate(shop)?;
        let until = shop.day_start(shop.config.days.saturating_sub(TEST_DAYS));
        let (model, training) = TwoStage::fit(&shop, until, two_stage)?;
        let snapshot = match source {
            SnapshotSource::Compute { workers } => precompute(&model, SNAPSHOT_K, workers)?,
            SnapshotSource::File(path) => Snapshot::read(&path, &model)?,
        };
        let reference = reference_events(&shop.events, until, 7);
        Ok(World {
            shop,
            model,
            training,
            snapshot,
            reference,
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
