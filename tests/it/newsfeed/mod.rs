//! The news-feed design: the MIND protocol on the sample from `MLSD_DATA_DIR`, and the
//! simulator protocol's claims (objectives, position bias, exploration, experiments).

mod data;
mod sim;
mod api;
mod redis_state;

use newsfeed::artifact::TrainConfig;
use newsfeed::simulate::WorldConfig;

/// A small, fast training run for tests that need a registry version (~0.5 s).
pub fn quick_training() -> TrainConfig {
    TrainConfig {
        world: WorldConfig {
            users: 200,
            articles_per_day: 60,
            ..WorldConfig::default()
        },
        log_days: 4,
        reference_days: 1,
        ..TrainConfig::default()
    }
}
