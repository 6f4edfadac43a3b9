//! Stage 6 — the saved feed: ranker + funnel settings + the service's state at the cutoff +
//! the monitoring reference, versioned together in the registry.
//!
//! ```text
//! simulator, days 0..7 (logging policy) ─► log ─► multi-objective ranker (position-corrected)
//! days 8..10 served by that ranker       ─► validation and the reference (topic mix, CTR by
//!                                           position, freshness, hides)
//! the service's counters, histories and catalogue at the end ─► the snapshot the server loads
//! ```
//!
//! Talking points: model versioning; the snapshot is the batch-precomputed state the real-time
//! path starts from (counters, co-click index, user histories); the value weights travel
//! with the model they were trained for.

use std::collections::BTreeMap;

use mlsd_core::design::{deflated_json_bytes, deflated_json_file, Artifact, Registration};
use mlsd_core::registry::{LoadedVersion, Manifest, Registry};
use serde::{Deserialize, Serialize};

use crate::features::{Counters, FeatureConfig};
use crate::feed::{FeedConfig, Listing, Scorer};
use crate::models::{Baseline, Family, Ranker, RankerSpec, Weights};
use crate::monitor::{self, FeedReference};
use crate::service::{Policy, Service};
use crate::simulate::{World, WorldConfig, DAY};
use crate::{Result, DESIGN};

const FILE: &str = "feed.json.zz";

/// The service's state at the cutoff: what the real-time path starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The server's clock starts here (seconds).
    pub as_of: i64,
    pub counters: Counters,
    /// Users' clicked articles (latest `history_cap`), by user id.
    pub histories: BTreeMap<u32, Vec<u32>>,
    /// The catalogue: every article the service knows, in publication order.
    pub listings: Vec<Listing>,
    pub topics: usize,
}

impl Snapshot {
    /// Articles published in the last `max_age_hours` before the cutoff.
    pub fn alive(&self, max_age_hours: f64) -> Vec<Listing> {
        let from = self.as_of - (max_age_hours * 3600.0) as i64;
        let alive = |l: &&Listing| l.published >= from && l.published <= self.as_of;
        self.listings.iter().filter(alive).copied().collect()
    }
}

/// What the server holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewsfeedArtifact {
    pub ranker: Ranker,
    pub feed: FeedConfig,
    pub snapshot: Snapshot,
    pub reference: FeedReference,
}

impl Artifact for NewsfeedArtifact {
    const DESIGN: &'static str = DESIGN;
    fn decode(version: &LoadedVersion) -> mlsd_core::Result<Self> {
        deflated_json_file(version, FILE)
    }
}

/// How `mlsd newsfeed train` builds a version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub world: WorldConfig,
    pub features: FeatureConfig,
    /// Days logged by the logging policy (day 0 warms the counters up).
    pub log_days: u32,
    /// Days then served by the new ranker: validation and the monitoring reference (one day's
    /// topic mix is too noisy a reference: 200 articles over 12 topics a day).
    pub reference_days: u32,
    pub family: Family,
    /// The serving funnel: one exploration slot per page.
    pub feed: FeedConfig,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            world: WorldConfig::default(),
            features: FeatureConfig {
                history_cap: 10,
                ..FeatureConfig::default()
            },
            log_days: 8,
            reference_days: 3,
            family: Family::Boosting,
            feed: FeedConfig {
                exploration_slots: 1,
                ..FeedConfig::default()
            },
            seed: 42,
        }
    }
}

/// What training measured.
#[derive(Debug, Clone, Serialize)]
pub struct Training {
    pub rows: usize,
    /// sha256 of the training log (its impressions as JSON): the data version.
    pub log_sha256: String,
    pub seconds: f64,
    /// The reference days served by the new ranker, per session.
    pub reads_per_session: f64,
    pub clicks_per_session: f64,
    pub clickbait_served: f64,
}

/// The logging policy every training run starts from: smoothed CTR, three exploration slots.
pub fn logging_feed() -> FeedConfig {
    FeedConfig {
        exploration_slots: 3,
        ..FeedConfig::default()
    }
}

/// Simulates the logging days, trains the ranker, serves a validation day with it.
pub fn train(cfg: &TrainConfig) -> Result<(NewsfeedArtifact, Training)> {
    let started = std::time::Instant::now();
    let world = World::new(&WorldConfig {
        days: cfg.log_days + cfg.reference_days,
        ..cfg.world.clone()
    });
    let mut service = Service::new(&world, cfg.features.clone());
    let logging = logging_feed();
    for day in 0..cfg.log_days {
        let scorer = Scorer::Baseline(Baseline::SmoothedCtr);
        service.run_day(
            &world,
            day,
            Policy {
                scorer,
                feed: &logging,
            },
        );
    }
    let rows = crate::experiments::training_rows(&service, 1, cfg.log_days);
    let spec = RankerSpec::new(cfg.family, Weights::value(), true, cfg.seed);
    let ranker = Ranker::fit(spec, &rows)?;
    let (served, validation) = serve_reference(&world, &mut service, &ranker, cfg);
    let reference = FeedReference::from_served(&served, world.cfg.topics);
    let end = cfg.log_days + cfg.reference_days;
    let snapshot = snapshot_of(&service, &world, i64::from(end) * DAY);
    let log = serde_json::to_vec(&service.log.impressions)
        .map_err(|e| crate::Error::Config(e.to_string()))?;
    let training = Training {
        rows: rows.len(),
        log_sha256: mlsd_core::report::sha256_hex(&log),
        seconds: started.elapsed().as_secs_f64(),
        reads_per_session: validation.reads_per_session,
        clicks_per_session: validation.clicks_per_session,
        clickbait_served: validation.clickbait_served,
    };
    let artifact = NewsfeedArtifact {
        ranker,
        feed: cfg.feed.clone(),
        snapshot,
        reference,
    };
    Ok((artifact, training))
}

/// The reference days served by the new ranker: their slots and their summed numbers.
pub fn serve_reference(
    world: &World,
    service: &mut Service,
    ranker: &Ranker,
    cfg: &TrainConfig,
) -> (Vec<monitor::Served>, crate::experiments::OnlineRow) {
    let mut served = Vec::new();
    let mut days = Vec::new();
    for day in cfg.log_days..cfg.log_days + cfg.reference_days {
        days.push(service.run_sessions(
            world,
            day,
            cfg.feed.max_age_hours,
            |_, req| crate::feed::build(req, Scorer::Model(ranker), &cfg.feed).items,
            |session, shown| served.extend(monitor::served(world, session.time, shown)),
        ));
    }
    (served, crate::experiments::online_row("validation", &days))
}

fn snapshot_of(service: &Service, world: &World, as_of: i64) -> Snapshot {
    let cap = service.counters.config.history_cap;
    let histories = service
        .histories
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.is_empty())
        .map(|(u, h)| (u as u32, h[h.len().saturating_sub(cap)..].to_vec()))
        .collect();
    Snapshot {
        as_of,
        counters: service.counters.clone(),
        histories,
        listings: service.listings().to_vec(),
        topics: world.cfg.topics,
    }
}

/// Writes a registry version (not promoted).
pub fn register(
    registry: &Registry,
    model: &NewsfeedArtifact,
    training: &Training,
    cfg: &TrainConfig,
) -> Result<Manifest> {
    let metrics = BTreeMap::from([
        ("training_rows".to_string(), training.rows as f64),
        (
            "validation_reads_per_session".to_string(),
            training.reads_per_session,
        ),
        (
            "validation_clicks_per_session".to_string(),
            training.clicks_per_session,
        ),
        (
            "validation_clickbait_served".to_string(),
            training.clickbait_served,
        ),
    ]);
    let config = serde_json::to_value(cfg).map_err(|e| crate::Error::Config(e.to_string()))?;
    Ok(mlsd_core::design::register::<NewsfeedArtifact>(
        registry,
        Registration {
            model_name: model.ranker.name(),
            training_data_sha256: training.log_sha256.clone(),
            feature_names: crate::features::names(),
            config,
            metrics,
            files: vec![deflated_json_bytes(FILE, model)?],
        },
    )?)
}
