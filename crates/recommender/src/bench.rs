//! Stage 8 — the traffic for serving benchmarks (`mlsd bench serve --design recommender`): a
//! fitted shop registered as the current version, and list requests for users in a seeded
//! order.
//!
//! Talking points: benchmark with production-shaped traffic — every user once in a shuffled
//! order (no hot key flattering the cache), and only users with history: a user without any
//! gets the popular list with no model call, and under shedding those cheap answers would
//! survive out of proportion and flatter the real-time mode's goodput.

use mlsd_core::registry::Registry;

use crate::config::RecommenderConfig;
use crate::pipeline::{BatchSummary, World};
use crate::shop::ShopConfig;
use crate::Result;

/// A registered model and the users to ask for.
pub struct BenchWorld {
    pub model_version: String,
    pub batch_job: BatchSummary,
    /// Users with history, in the shop's seeded order.
    pub users: Vec<u32>,
}

/// Fits `shop`, registers and promotes the model into `registry`, and picks the users.
pub fn world(shop: &ShopConfig, registry: &Registry) -> Result<BenchWorld> {
    let config = RecommenderConfig {
        shop: shop.clone(),
        ..RecommenderConfig::default()
    };
    let world = World::fit(&config)?;
    let manifest = crate::artifact::register(registry, &world, &config)?;
    registry.promote(crate::DESIGN, &manifest.version)?;
    let users = world
        .users_in_seeded_order()
        .into_iter()
        .filter(|&u| world.model.state(u).events > 0)
        .collect();
    Ok(BenchWorld {
        model_version: manifest.version,
        batch_job: world.batch_summary(),
        users,
    })
}

/// One list request per user: `GET …/users/{id}/recommendations?k=&mode=`.
pub fn list_paths(users: &[u32], k: usize, mode: &str) -> Vec<String> {
    users
        .iter()
        .map(|u| format!("/v1/recommender/users/{u}/recommendations?k={k}&mode={mode}"))
        .collect()
}
