//! Stage 5b — the simulator protocol: what logged data alone can never show.
//!
//! ```text
//! days 0..7  a logging policy (smoothed CTR + 3 exploration slots); days 1..6 train
//! day 7      offline: each ranker re-orders the logged lists ─► metrics vs logged clicks AND
//!            vs true relevance
//! days 8..10 online: each ranker serves from the same state, the same users and sessions
//! rankers    CTR-only vs multi-objective (LR, boosting); naive vs position-corrected
//! re-ranking diversity (MMR) strength ─► topic entropy, coverage vs true relevance
//! feedback   30 days retrained daily on the system's own log, with and without exploration
//! experiments A/B by user vs team-draft interleaving: users needed for the same power
//! ```
//!
//! Talking points: offline metrics on logged clicks vs the online truth; clickbait; position
//! bias; filter bubbles and feedback loops; exploration; A/B tests and interleaving.

use std::collections::VecDeque;
use std::time::Instant;

use mlsd_core::metrics::{list_metrics, ndcg_at, ListMetrics};
use serde::Serialize;

use crate::evaluate::{rows_of, ModelRow};
use crate::features::{Counters, FeatureConfig};
use crate::feed::{FeedConfig, Scorer};
use crate::models::{Baseline, Family, Ranker, RankerSpec, TrainingSet, Weights};
use crate::service::{DayStats, Policy, Service};
use crate::simulate::{World, WorldConfig, DAY};
use crate::Result;

/// The simulator protocol's settings, with their defaults.
#[derive(Debug, Clone, Serialize)]
pub struct SimConfig {
    pub world: WorldConfig,
    pub features: FeatureConfig,
    /// Days logged by the logging policy before the test day (day 0 only warms counters up).
    pub log_days: u32,
    /// Days each ranker serves online from the same state.
    pub online_days: u32,
    /// Feedback-loop length and its exploration slots (per page of 10).
    pub feedback_days: u32,
    pub exploration_slots: usize,
    /// Days of its own log each daily retraining uses.
    pub retrain_window: u32,
    pub mmr: Vec<f64>,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            world: WorldConfig::default(),
            features: FeatureConfig {
                // Simulated histories grow all month; the latest ten carry the signal.
                history_cap: 10,
                ..FeatureConfig::default()
            },
            log_days: 8,
            online_days: 3,
            feedback_days: 30,
            exploration_slots: 2,
            retrain_window: 3,
            mmr: vec![0.0, 0.2, 0.5],
            seed: 42,
        }
    }
}

/// A ranker's row against logged clicks, plus its true relevance.
#[derive(Debug, Clone, Serialize)]
pub struct SimModelRow {
    #[serde(flatten)]
    pub logged: ModelRow,
    pub true_ndcg_at_10: f64,
}

/// A policy served online for `online_days`, summed.
#[derive(Debug, Clone, Serialize)]
pub struct OnlineRow {
    pub name: String,
    pub clicks_per_session: f64,
    pub reads_per_session: f64,
    pub dwell_minutes_per_session: f64,
    pub hides_per_session: f64,
    pub clickbait_served: f64,
    pub coverage: f64,
    pub topic_entropy: f64,
    pub true_ndcg_at_10: f64,
}

/// One day of the feedback loop.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LoopDay {
    pub day: u32,
    pub exploration: bool,
    pub coverage: f64,
    /// Reads (clicks kept ≥ 30 s) per session.
    pub engagement: f64,
    pub clicks_per_session: f64,
    pub topic_entropy: f64,
}

/// The simulator protocol's answer (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub protocol: &'static str,
    pub train_rows: usize,
    pub test_impressions: usize,
    pub models: Vec<SimModelRow>,
    pub online: Vec<OnlineRow>,
    pub position_bias: Vec<SimModelRow>,
    pub diversity: Vec<OnlineRow>,
    pub feedback_loop: Vec<LoopDay>,
    pub experiment: crate::ab::Experiment,
    pub seconds: f64,
}

/// Runs the whole protocol.
pub fn simulate_protocol(cfg: &SimConfig) -> Result<SimReport> {
    let started = Instant::now();
    let world = World::new(&WorldConfig {
        days: cfg.log_days + cfg.online_days,
        ..cfg.world.clone()
    });
    let logging = FeedConfig {
        exploration_slots: 3,
        ..FeedConfig::default()
    };
    let mut service = Service::new(&world, cfg.features.clone());
    for day in 0..cfg.log_days {
        let policy = Policy {
            scorer: Scorer::Baseline(Baseline::SmoothedCtr),
            feed: &logging,
        };
        service.run_day(&world, day, policy);
    }
    let (train, test) = split_log(&service, cfg.log_days - 1);
    let specs = [
        (Family::Logistic, Weights::ctr_only()),
        (Family::Boosting, Weights::ctr_only()),
        (Family::Logistic, Weights::value()),
        (Family::Boosting, Weights::value()),
    ];
    let rankers: Vec<Ranker> = specs
        .iter()
        .map(|(f, w)| Ranker::fit(RankerSpec::new(*f, w.clone(), true, cfg.seed), &train))
        .collect::<Result<_>>()?;
    let mut models: Vec<SimModelRow> = [Baseline::Random, Baseline::SmoothedCtr]
        .iter()
        .map(|&b| {
            let mut rng = crate::models::rng(cfg.seed);
            offline(&world, &test, b.name(), |r| b.score(r, &mut rng))
        })
        .collect();
    models.extend(
        rankers
            .iter()
            .map(|m| offline(&world, &test, &m.name(), |r| m.score(r))),
    );
    let page = FeedConfig::default();
    let online_start = cfg.log_days;
    let mut online = Vec::new();
    online.push(serve(
        &world,
        &service,
        Scorer::Baseline(Baseline::SmoothedCtr),
        &page,
        online_start,
        cfg.online_days,
        "smoothed CTR",
    ));
    for m in &rankers {
        online.push(serve(
            &world,
            &service,
            Scorer::Model(m),
            &page,
            online_start,
            cfg.online_days,
            &m.name(),
        ));
    }
    let position_bias = position_bias(&world, &train, &test, cfg.seed)?;
    let best = &rankers[3];
    let diversity = cfg
        .mmr
        .iter()
        .map(|&mmr| {
            let feed = FeedConfig {
                mmr,
                ..FeedConfig::default()
            };
            let name = format!("MMR {mmr}");
            serve(
                &world,
                &service,
                Scorer::Model(best),
                &feed,
                online_start,
                cfg.online_days,
                &name,
            )
        })
        .collect();
    let feedback_loop = feedback_loop(cfg)?;
    let experiment = crate::ab::compare(
        &world,
        &service,
        (&rankers[3], &rankers[1]),
        online_start,
        cfg.online_days,
    );
    Ok(SimReport {
        protocol: "sim",
        train_rows: train.len(),
        test_impressions: test.len(),
        models,
        online,
        position_bias,
        diversity,
        feedback_loop,
        experiment,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A logged test impression: its rows, what the user clicked, and the truth.
pub struct LoggedList {
    rows: Vec<[f64; crate::features::WIDTH]>,
    clicks: Vec<bool>,
    items: Vec<u32>,
    user: u32,
    time: i64,
}

/// Replays the service's log: days 1..`test_day` train (day 0 warms the counters up), the
/// test day's impressions become lists.
fn split_log(service: &Service, test_day: u32) -> (TrainingSet, Vec<LoggedList>) {
    let mut replay = Replay::new(service);
    let (mut train, mut test) = (TrainingSet::default(), Vec::new());
    let test_from = i64::from(test_day) * DAY;
    for imp in &service.log.impressions {
        let rows = rows_of(&replay.counters, imp);
        if imp.time >= test_from {
            test.push(LoggedList {
                rows,
                clicks: imp.shown.iter().map(|s| s.click).collect(),
                items: imp.shown.iter().map(|s| s.item).collect(),
                user: imp.user,
                time: imp.time,
            });
        } else if imp.time >= DAY {
            train.push(rows, &imp.shown);
        }
        replay.counters.update(imp);
    }
    (train, test)
}

/// Scores the logged lists: metrics against the logged clicks and nDCG@10 against the truth.
fn offline(
    world: &World,
    lists: &[LoggedList],
    name: &str,
    score: impl FnMut(&[[f64; crate::features::WIDTH]]) -> Vec<f64>,
) -> SimModelRow {
    offline_against(world, lists, name, World::relevance, score)
}

/// [`offline`] against another truth (`truth(world, user, article, time)`).
fn offline_against(
    world: &World,
    lists: &[LoggedList],
    name: &str,
    truth_of: fn(&World, u32, &crate::simulate::Article, i64) -> f64,
    mut score: impl FnMut(&[[f64; crate::features::WIDTH]]) -> Vec<f64>,
) -> SimModelRow {
    let (mut logged, mut truth) = (Vec::<ListMetrics>::new(), Vec::new());
    for l in lists {
        let s = score(&l.rows);
        logged.extend(list_metrics(&l.clicks, &s));
        let rel: Vec<f64> = l
            .items
            .iter()
            .map(|&i| truth_of(world, l.user, &world.articles[i as usize], l.time))
            .collect();
        truth.extend(ndcg_at(&rel, &s, 10));
    }
    SimModelRow {
        logged: ModelRow::mean(name, &logged),
        true_ndcg_at_10: truth.iter().sum::<f64>() / truth.len().max(1) as f64,
    }
}

/// Serves `days` from a copy of `service` with one policy; sums the days.
fn serve(
    world: &World,
    service: &Service,
    scorer: Scorer,
    feed: &FeedConfig,
    from: u32,
    days: u32,
    name: &str,
) -> OnlineRow {
    let mut s = service.clone();
    let stats: Vec<DayStats> = (from..from + days)
        .map(|d| s.run_day(world, d, Policy { scorer, feed }))
        .collect();
    online_row(name, &stats)
}

pub fn online_row(name: &str, stats: &[DayStats]) -> OnlineRow {
    let sessions = stats.iter().map(|s| s.sessions).sum::<usize>().max(1) as f64;
    let days = stats.len().max(1) as f64;
    let mean = |f: fn(&DayStats) -> f64| stats.iter().map(f).sum::<f64>() / days;
    OnlineRow {
        name: name.to_owned(),
        clicks_per_session: stats.iter().map(|s| s.clicks).sum::<usize>() as f64 / sessions,
        reads_per_session: stats.iter().map(|s| s.reads).sum::<usize>() as f64 / sessions,
        dwell_minutes_per_session: stats.iter().map(|s| s.dwell_minutes).sum::<f64>() / sessions,
        hides_per_session: stats.iter().map(|s| s.hides).sum::<usize>() as f64 / sessions,
        clickbait_served: mean(|s| s.clickbait_served),
        coverage: mean(|s| s.coverage),
        topic_entropy: mean(|s| s.topic_entropy),
        true_ndcg_at_10: mean(|s| s.true_ndcg_at_10),
    }
}

/// Naive (position ignored) vs corrected (position a training-only feature), click heads of
/// both families, scored on the test lists against what a click head should estimate: the
/// true click probability once the user looks (`World::p_click`, free of the slot).
// Talking point [labels]: position bias — the logged click on slot 1 is partly the slot's doing.
fn position_bias(
    world: &World,
    train: &TrainingSet,
    test: &[LoggedList],
    seed: u64,
) -> Result<Vec<SimModelRow>> {
    let mut rows = Vec::new();
    for family in [Family::Logistic, Family::Boosting] {
        for corrected in [false, true] {
            let m = Ranker::fit(
                RankerSpec::new(family, Weights::ctr_only(), corrected, seed),
                train,
            )?;
            let name = format!(
                "{}, {}",
                m.name(),
                if corrected {
                    "position-corrected"
                } else {
                    "naive"
                }
            );
            rows.push(offline_against(world, test, &name, World::p_click, |r| {
                m.score(r)
            }));
        }
    }
    Ok(rows)
}

/// 30 days retrained daily on the system's own log, with and without exploration slots.
// Talking point [retraining]: the feedback loop — a model trained only on what it chose to show.
fn feedback_loop(cfg: &SimConfig) -> Result<Vec<LoopDay>> {
    let world = World::new(&WorldConfig {
        days: cfg.feedback_days,
        ..cfg.world.clone()
    });
    let mut days = Vec::new();
    for explore in [false, true] {
        let feed = FeedConfig {
            exploration_slots: if explore { cfg.exploration_slots } else { 0 },
            ..FeedConfig::default()
        };
        let mut service = Service::new(&world, cfg.features.clone());
        let mut replay = Replay::new(&service);
        let mut window: VecDeque<TrainingSet> = VecDeque::new();
        let mut model: Option<Ranker> = None;
        for day in 0..cfg.feedback_days {
            let scorer = match &model {
                Some(m) => Scorer::Model(m),
                None => Scorer::Baseline(Baseline::Popularity),
            };
            let stats = service.run_day(
                &world,
                day,
                Policy {
                    scorer,
                    feed: &feed,
                },
            );
            days.push(LoopDay {
                day,
                exploration: explore,
                coverage: stats.coverage,
                engagement: stats.reads_per_session(),
                clicks_per_session: stats.clicks_per_session(),
                topic_entropy: stats.topic_entropy,
            });
            window.push_back(replay.advance(&service));
            if window.len() > cfg.retrain_window as usize {
                window.pop_front();
            }
            let mut rows = TrainingSet::default();
            for set in &window {
                rows.push(set.rows.clone(), &set.shown);
            }
            let spec = RankerSpec::new(Family::Logistic, Weights::value(), true, cfg.seed);
            // A window without both classes of a head keeps yesterday's model.
            if let Ok(m) = Ranker::fit(spec, &rows) {
                model = Some(m);
            }
        }
    }
    Ok(days)
}

/// Training rows of days `from..to` of a service's own log (every row sees only its past).
pub fn training_rows(service: &Service, from: u32, to: u32) -> TrainingSet {
    let mut replay = Replay::new(service);
    let mut set = TrainingSet::default();
    let (start, end) = (i64::from(from) * DAY, i64::from(to) * DAY);
    for imp in &service.log.impressions {
        if imp.time >= start && imp.time < end {
            set.push(rows_of(&replay.counters, imp), &imp.shown);
        }
        replay.counters.update(imp);
    }
    set
}

/// Training rows from a service's own log, replayed once in order (each row sees only its
/// past), a day at a time.
struct Replay {
    counters: Counters,
    next: usize,
}

impl Replay {
    fn new(service: &Service) -> Replay {
        let mut counters = Counters::new(service.counters.config.clone());
        for (i, item) in service.log.items.iter().enumerate() {
            counters.publish(i as u32, item.topic, item.published);
        }
        Replay { counters, next: 0 }
    }

    /// Rows of the impressions logged since the last call.
    fn advance(&mut self, service: &Service) -> TrainingSet {
        let mut set = TrainingSet::default();
        for imp in &service.log.impressions[self.next..] {
            set.push(rows_of(&self.counters, imp), &imp.shown);
            self.counters.update(imp);
        }
        self.next = service.log.impressions.len();
        set
    }
}
