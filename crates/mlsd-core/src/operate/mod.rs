//! The production loop, replayed in accelerated time, the same for every design: days of
//! simulated traffic through the design's serving path, labels that land days later, a
//! label-free estimate, a retraining policy, and every new model through shadow and canary
//! gates ([`crate::lifecycle`]) before it answers everyone.
//!
//! ```text
//! day d: [policy: retrain?] ─► serve (primary answers; candidate shadows or answers its canary)
//!          ▲                        │
//!          │                        ▼
//!   alarm ◄┴─ monitor: labels of day d−delay (realised), estimate of day d (no labels)
//!                                   │
//!                                   ▼
//!                 gates: evidence of the stage ─► canary wider / promote / roll back
//! ```
//!
//! A design implements [`World`] (its simulator, its serving path, its training job, its
//! metric); [`run`] does the rest and reports per day what a dashboard would show — the
//! realised metric (known only after the label delay; here in hindsight), the estimate, the
//! version serving and what happened — plus days to detect a drift, days to recover, retrains
//! and their compute time, and the share of traffic a stale model answered.
//!
//! Talking points: retraining on a schedule vs on a trigger (cost vs reaction time); label
//! delay sets the floor on detection when the estimate is blind (concept drift); a broken
//! candidate is stopped by the gates before it answers more than the canary's share.
//!
//! Simplification: models live in memory for the replay (the servers load them from the
//! registry); latency and error budgets are measured by the servers, not here.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::lifecycle::{Decision, DecisionLog, Gates, Rollout, Stage};
use evidence::{alarm, day_log, evidence, pooled, pooled_estimate, References};

mod evidence;
mod report;
pub use report::{chart, policy_table, OperateReport};

/// What a design brings to the loop.
pub trait World {
    /// A trained model, held in memory for the replay.
    type Model;
    /// The design's error (a rollout decision that cannot be logged is a core error).
    type Error: From<crate::Error>;
    /// The guardrail metric (higher is better), e.g. `average_precision`, `accuracy`.
    fn metric_name(&self) -> &'static str;
    /// Days from a request to its label.
    fn label_delay_days(&self) -> u32;
    /// Simulated days before the loop's day 0: the history the first model trains on.
    fn warmup_days(&self) -> u32;
    /// Trains on the labelled requests of world days `from..to`; `broken` trains with the
    /// design's deliberate bug (one an offline evaluation on the same pipeline cannot see).
    fn train(&mut self, from: u32, to: u32, broken: bool) -> Result<Self::Model, Self::Error>;
    /// Serves world day `day`: each request's features computed once, through the design's
    /// serving path, and scored by every model of `models` (`scores[m][i]`).
    fn serve(&mut self, day: u32, models: &[&Self::Model]) -> Result<Traffic, Self::Error>;
    /// The guardrail metric of `scores` on labelled requests (`None`: undefined, e.g. no
    /// positive among them).
    fn metric(&self, labels: &[bool], scores: &[f64]) -> Option<f64>;
    /// What the calibrated `scores` imply the metric is, with no labels.
    fn estimate(&self, scores: &[f64]) -> Option<f64>;
    /// The rollout gates that fit this design's traffic and label volume.
    fn gates(&self) -> Gates;
    /// How far the metric may trail its target before monitoring raises an alarm: above the
    /// week-to-week noise of the design's metric.
    fn alarm_margin(&self) -> f64 {
        0.05
    }
    /// The action `model` takes on each of its `scores` (alert, block, positive): what
    /// shadow agreement compares.
    fn decide(&self, model: &Self::Model, scores: &[f64]) -> Vec<bool>;
}

/// One day of requests.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Whose request (card, user, machine): what the canary hashes.
    pub entities: Vec<u64>,
    /// The label each request will get after the delay; `None` when it never gets one
    /// (sampled out, censored).
    pub labels: Vec<Option<bool>>,
    /// `scores[m][i]`: model `m` on request `i`.
    pub scores: Vec<Vec<f64>>,
}

/// When the loop retrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Never: the first model serves to the end.
    Never,
    /// Every `retrain_every` days.
    Scheduled,
    /// When monitoring raises an alarm (labelled metric or estimate below the model's own
    /// reference by more than the margin).
    Triggered,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::Never, Policy::Scheduled, Policy::Triggered];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Never => "never",
            Policy::Scheduled => "scheduled",
            Policy::Triggered => "triggered",
        }
    }
}

/// The loop's settings, with the defaults `mlsd operate` uses.
#[derive(Debug, Clone, Serialize)]
pub struct OperateConfig {
    /// Days replayed.
    pub days: u32,
    /// The day (from 0) the design's drift starts; `None`: no drift.
    pub drift_at: Option<u32>,
    pub policy: Policy,
    /// Scheduled: retrain every this many days (default 14).
    pub retrain_every: u32,
    /// Labelled days each training run uses, ending at the newest labelled day (default 21).
    pub train_days: u32,
    /// Days each rollout stage lasts at least before its gates are checked (default 2).
    pub stage_days: u32,
    /// The rollout gates (`None`: the design's own, [`World::gates`]).
    pub gates: Option<Gates>,
    /// Alarm when the labelled metric trails the target (the first model's first two weeks
    /// in service), or the estimate the serving model's own first week, by more than this
    /// (`None`: the design's own, [`World::alarm_margin`]).
    pub alarm_margin: Option<f64>,
    /// Days pooled by the labelled alarm, the reference and the recovery check (default 7).
    pub smooth_days: u32,
    /// Days pooled by the estimate's alarm (default 2: no labels to wait for).
    pub estimate_days: u32,
    /// Recovered: the pooled realised metric back within this of its pre-drift level
    /// (default 0.03).
    pub recover_tolerance: f64,
    /// The day a deliberately broken candidate is registered (default 10; `None`: none).
    pub broken_at: Option<u32>,
}

impl Default for OperateConfig {
    fn default() -> Self {
        OperateConfig {
            days: 120,
            drift_at: Some(60),
            policy: Policy::Triggered,
            retrain_every: 14,
            train_days: 21,
            stage_days: 2,
            gates: None,
            alarm_margin: None,
            smooth_days: 7,
            estimate_days: 2,
            recover_tolerance: 0.03,
            broken_at: Some(10),
        }
    }
}

/// A day as it was logged: what each version scored and who answered.
struct DayLog {
    entities: Vec<u64>,
    labels: Vec<Option<bool>>,
    served: Vec<f64>,
    primary: Vec<f64>,
    /// The candidate's scores and the share it answered, when one was rolling out.
    candidate: Option<(Vec<f64>, Stage)>,
    /// Whether the answering model was trained only on data from before the drift.
    stale: Vec<bool>,
}

struct Candidate<M> {
    model: M,
    rollout: Rollout,
    broken: bool,
    started: u32,
    stage_since: u32,
    trained_until: u32,
}

/// The serving model and what monitoring compares it with.
struct Primary<M> {
    version: String,
    model: M,
    since: u32,
    trained_until: u32,
}

/// Replays `cfg.days` days of `world` under `cfg.policy`; each rollout decision is also
/// appended to `log`.
pub fn run<W: World>(
    world: &mut W,
    design: &str,
    cfg: &OperateConfig,
    log: Option<&DecisionLog>,
) -> Result<OperateReport, W::Error> {
    let (delay, start) = (world.label_delay_days(), world.warmup_days());
    let first_to = start.saturating_sub(delay);
    let model = world.train(first_to.saturating_sub(cfg.train_days), first_to, false)?;
    let mut replay = Replay {
        cfg,
        log,
        delay,
        start,
        drift: cfg.drift_at.map(|d| start + d),
        versions: 1,
        primary: Primary {
            version: "v1".to_string(),
            model,
            since: start,
            trained_until: first_to,
        },
        candidate: None,
        logs: Vec::new(),
        out: OperateReport::new(design, world.metric_name(), cfg, delay),
        alarming: false,
        alarm_pending: false,
        last_retrain: None,
        references: References::default(),
    };
    for w in start..start + cfg.days {
        let mut events = Vec::new();
        replay.start_candidate(world, w, &mut events)?;
        replay.serve(world, w)?;
        let serving = replay.primary.version.clone();
        replay.check_gates(world, w, &mut events)?;
        replay.monitor(world, w, &mut events);
        replay
            .out
            .push_day(w - start, world, &replay.logs, &serving, events);
    }
    replay.out.finish(world, &replay.logs, cfg);
    Ok(replay.out)
}

/// The loop's state between days.
struct Replay<'a, M> {
    cfg: &'a OperateConfig,
    log: Option<&'a DecisionLog>,
    delay: u32,
    /// The world day of the loop's day 0, and of the drift.
    start: u32,
    drift: Option<u32>,
    versions: u32,
    primary: Primary<M>,
    candidate: Option<Candidate<M>>,
    logs: Vec<DayLog>,
    out: OperateReport,
    /// An alarm raised yesterday (logged once per episode) / not yet acted on (triggered).
    alarming: bool,
    alarm_pending: bool,
    last_retrain: Option<u32>,
    references: References,
}

impl<M> Replay<'_, M> {
    /// Step 1, the start of the day: a new candidate, if the policy (or the broken-model
    /// drill) says so.
    fn start_candidate<W: World<Model = M>>(
        &mut self,
        world: &mut W,
        w: u32,
        events: &mut Vec<String>,
    ) -> Result<(), W::Error> {
        let (cfg, day) = (self.cfg, w - self.start);
        let idle = self.candidate.is_none();
        let retrain = idle
            && match cfg.policy {
                Policy::Never => false,
                Policy::Scheduled => day > 0 && day % cfg.retrain_every.max(1) == 0,
                // Talking point [retraining]: a trigger retrains on evidence, not on the calendar;
                // it waits for a rollout to end and for a week of new labels since the last
                // retrain.
                Policy::Triggered => {
                    self.alarm_pending
                        && self
                            .last_retrain
                            .is_none_or(|r| w >= r + cfg.smooth_days.max(1))
                }
            };
        let broken = idle && cfg.broken_at == Some(day);
        if !(retrain || broken) {
            return Ok(());
        }
        let to = w.saturating_sub(self.delay);
        let from = to.saturating_sub(cfg.train_days);
        let t = Instant::now();
        let model = world.train(from, to, broken)?;
        self.versions += 1;
        let version = format!("v{}", self.versions);
        if broken {
            self.out.broken_candidate = Some(version.clone());
            events.push(format!("{version} registered with a training bug"));
        } else {
            self.out.retrains += 1;
            self.out.retrain_seconds += t.elapsed().as_secs_f64();
            self.last_retrain = Some(w);
            self.alarm_pending = false;
            let (from, to) = (i64::from(from), i64::from(to));
            let start = i64::from(self.start);
            events.push(format!(
                "retrain {version} on days {}..{}",
                from - start,
                to - start
            ));
        }
        let mut rollout = Rollout::new(version, cfg.gates.clone().unwrap_or_else(|| world.gates()));
        if let Some(d) = rollout.start(&format!("day {day}")) {
            self.record(d)?;
        }
        self.candidate = Some(Candidate {
            model,
            rollout,
            broken,
            started: w,
            stage_since: w,
            trained_until: to,
        });
        Ok(())
    }

    /// Step 2, serve: the primary scores everything; a candidate scores the same requests.
    fn serve<W: World<Model = M>>(&mut self, world: &mut W, w: u32) -> Result<(), W::Error> {
        let mut models: Vec<&M> = vec![&self.primary.model];
        if let Some(c) = &self.candidate {
            models.push(&c.model);
        }
        let traffic = world.serve(w, &models)?;
        let n = traffic.entities.len();
        if traffic.labels.len() != n
            || traffic.scores.len() != models.len()
            || traffic.scores.iter().any(|s| s.len() != n)
        {
            return Err(crate::Error::Config(format!(
                "day {w}: {n} requests but {} labels and {:?} scores for {} models",
                traffic.labels.len(),
                traffic.scores.iter().map(Vec::len).collect::<Vec<_>>(),
                models.len()
            ))
            .into());
        }
        let candidate = self.candidate.as_ref();
        self.logs
            .push(day_log(traffic, &self.primary, candidate, self.drift));
        if let Some(c) = candidate.filter(|c| c.broken) {
            let share = c.rollout.stage.traffic_percent();
            self.out.broken_candidate_max_share = self.out.broken_candidate_max_share.max(share);
        }
        Ok(())
    }

    /// Step 3, the candidate's gates, at the end of each stage's minimum days.
    fn check_gates<W: World<Model = M>>(
        &mut self,
        world: &W,
        w: u32,
        events: &mut Vec<String>,
    ) -> Result<(), W::Error> {
        let Some(mut c) = self.candidate.take() else {
            return Ok(());
        };
        if w + 1 < c.stage_since + self.cfg.stage_days.max(1) {
            self.candidate = Some(c);
            return Ok(());
        }
        let evidence = evidence(
            world,
            &c,
            &self.primary,
            &self.logs,
            self.start,
            w,
            self.delay,
        );
        let Some(d) = c
            .rollout
            .check(&evidence, &format!("day {}", w - self.start))
        else {
            self.candidate = Some(c);
            return Ok(());
        };
        events.push(format!("{} {}: {}", d.version, stage_name(d.to), d.reason));
        c.stage_since = w + 1;
        let to = d.to;
        self.record(d)?;
        match to {
            Stage::Promoted => {
                self.out.broken_candidate_promoted |= c.broken;
                // A new model: its estimate is compared with its own first week.
                self.alarm_pending = false;
                self.primary = Primary {
                    version: c.rollout.version.clone(),
                    model: c.model,
                    since: w + 1,
                    trained_until: c.trained_until,
                };
            }
            Stage::Rejected | Stage::RolledBack => {}
            _ => self.candidate = Some(c),
        }
        Ok(())
    }

    /// Step 4, monitoring: what is observable today — labels up to day w − delay, and the
    /// estimate of today's scores.
    fn monitor<W: World<Model = M>>(&mut self, world: &W, w: u32, events: &mut Vec<String>) {
        let since = self.primary.since;
        let refs = &mut self.references;
        let Some(why) = alarm(
            world, self.cfg, &self.logs, refs, self.start, since, w, self.delay,
        ) else {
            self.alarming = false;
            return;
        };
        match self.drift {
            Some(d) if w >= d => {
                self.out.detect_days.get_or_insert(w - d);
            }
            _ => self.out.false_alarms += 1,
        }
        if !self.alarming {
            events.push(format!("alarm: {why}"));
        }
        self.alarming = true;
        self.alarm_pending = true;
    }

    fn record(&mut self, d: Decision) -> crate::Result<()> {
        if let Some(log) = self.log {
            log.append(&d)?;
        }
        self.out.decisions.push(d);
        Ok(())
    }
}

fn stage_name(stage: Stage) -> String {
    match stage {
        Stage::Canary(p) => format!("canary {p} %"),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.get("stage").and_then(|s| s.as_str()).map(str::to_string))
            .unwrap_or_default()
            .replace('_', " "),
    }
}
