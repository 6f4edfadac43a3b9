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

use crate::lifecycle::{in_canary, Decision, DecisionLog, Evidence, Gates, Rollout, Stage};

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
    let mut versions = 1u32;
    let mut primary = Primary {
        version: "v1".to_string(),
        model: world.train(first_to.saturating_sub(cfg.train_days), first_to, false)?,
        since: start,
        trained_until: first_to,
    };
    let drift_world = cfg.drift_at.map(|d| start + d);
    let mut candidate: Option<Candidate<W::Model>> = None;
    let mut logs: Vec<DayLog> = Vec::new();
    let mut out = OperateReport::new(design, world.metric_name(), cfg, delay);
    // Alarm raised today (for the log) / not yet acted on (for the triggered policy).
    let (mut alarming, mut alarm_pending) = (false, false);
    let mut last_retrain: Option<u32> = None;
    for w in start..start + cfg.days {
        let day = w - start;
        let mut events: Vec<String> = Vec::new();
        // 1. Start of the day: a new candidate, if the policy (or the broken-model drill) says so.
        let wants_retrain = candidate.is_none()
            && match cfg.policy {
                Policy::Never => false,
                Policy::Scheduled => day > 0 && day % cfg.retrain_every.max(1) == 0,
                // Talking point: a trigger retrains on evidence, not on the calendar; it waits
                // for a rollout to end and for a week of new labels since the last retrain.
                Policy::Triggered => {
                    alarm_pending && last_retrain.is_none_or(|r| w >= r + cfg.smooth_days.max(1))
                }
            };
        let broken_now = cfg.broken_at == Some(day) && candidate.is_none();
        if wants_retrain || broken_now {
            let to = w.saturating_sub(delay);
            let t = Instant::now();
            let model = world.train(to.saturating_sub(cfg.train_days), to, broken_now)?;
            versions += 1;
            let version = format!("v{versions}");
            if broken_now {
                out.broken_candidate = Some(version.clone());
                events.push(format!("{version} registered with a training bug"));
            } else {
                out.retrains += 1;
                out.retrain_seconds += t.elapsed().as_secs_f64();
                last_retrain = Some(w);
                alarm_pending = false;
                let from = i64::from(to.saturating_sub(cfg.train_days)) - i64::from(start);
                let until = i64::from(to) - i64::from(start);
                events.push(format!("retrain {version} on days {from}..{until}"));
            }
            let gates = cfg.gates.clone().unwrap_or_else(|| world.gates());
            let mut rollout = Rollout::new(version, gates);
            if let Some(d) = rollout.start(&format!("day {day}")) {
                record(&mut out, log, d)?;
            }
            candidate = Some(Candidate {
                model,
                rollout,
                broken: broken_now,
                started: w,
                stage_since: w,
                trained_until: to,
            });
        }

        // 2. Serve: the primary scores everything; a candidate scores the same requests.
        let mut models: Vec<&W::Model> = vec![&primary.model];
        if let Some(c) = &candidate {
            models.push(&c.model);
        }
        let traffic = world.serve(w, &models)?;
        logs.push(day_log(traffic, &primary, candidate.as_ref(), drift_world));
        if let Some(c) = &candidate {
            let share = c.rollout.stage.traffic_percent();
            if c.broken {
                out.broken_candidate_max_share = out.broken_candidate_max_share.max(share);
            }
        }

        let serving = primary.version.clone();
        // 3. Gates, at the end of a stage's minimum days.
        if let Some(mut c) = candidate.take() {
            let mut over = false;
            if w + 1 >= c.stage_since + cfg.stage_days.max(1) {
                let evidence = evidence(world, &c, &primary, &logs, start, w, delay);
                if let Some(d) = c.rollout.check(&evidence, &format!("day {day}")) {
                    events.push(format!("{} {}: {}", d.version, stage_name(d.to), d.reason));
                    c.stage_since = w + 1;
                    over = d.to.is_final();
                    record(&mut out, log, d)?;
                }
            }
            match (over, c.rollout.stage) {
                (false, _) => candidate = Some(c),
                (true, Stage::Promoted) => {
                    out.broken_candidate_promoted |= c.broken;
                    // A new model: monitoring compares it with its own first week.
                    alarm_pending = false;
                    primary = Primary {
                        version: c.rollout.version.clone(),
                        model: c.model,
                        since: w + 1,
                        trained_until: c.trained_until,
                    };
                }
                (true, _) => {}
            }
        }

        // 4. Monitoring: what is observable today — labels up to day w − delay, and the
        // estimate of today's scores.
        if let Some(why) = alarm(world, cfg, &logs, start, primary.since, w, delay) {
            if drift_world.is_some_and(|d| w >= d) {
                out.detect_days.get_or_insert(w - drift_world.unwrap_or(w));
            } else {
                out.false_alarms += 1;
            }
            if !alarming {
                events.push(format!("alarm: {why}"));
            }
            alarming = true;
            alarm_pending = true;
        } else {
            alarming = false;
        }
        out.push_day(day, world, &logs, &serving, events);
    }
    out.finish(world, &logs, cfg);
    Ok(out)
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

fn record(out: &mut OperateReport, log: Option<&DecisionLog>, d: Decision) -> crate::Result<()> {
    if let Some(log) = log {
        log.append(&d)?;
    }
    out.decisions.push(d);
    Ok(())
}

fn day_log<M>(
    traffic: Traffic,
    primary: &Primary<M>,
    candidate: Option<&Candidate<M>>,
    drift_world: Option<u32>,
) -> DayLog {
    let mut scores = traffic.scores.into_iter();
    let p = scores.next().unwrap_or_default();
    let c = candidate.and_then(|c| scores.next().map(|s| (s, c)));
    let stale_primary = drift_world.is_some_and(|d| primary.trained_until <= d);
    let (served, stale): (Vec<f64>, Vec<bool>) = (0..p.len())
        .map(|i| match &c {
            Some((s, c)) if in_canary(traffic.entities[i], c.rollout.stage.traffic_percent()) => {
                (s[i], drift_world.is_some_and(|d| c.trained_until <= d))
            }
            _ => (p[i], stale_primary),
        })
        .unzip();
    DayLog {
        entities: traffic.entities,
        labels: traffic.labels,
        served,
        primary: p,
        candidate: c.map(|(s, c)| (s, c.rollout.stage)),
        stale,
    }
}

/// The evidence of a candidate's current stage (requests it scored, decisions that differ)
/// and of its whole rollout so far (paired metrics on the requests whose labels landed).
fn evidence<W: World>(
    world: &W,
    c: &Candidate<W::Model>,
    primary: &Primary<W::Model>,
    logs: &[DayLog],
    start: u32,
    w: u32,
    delay: u32,
) -> Evidence {
    let (mut evaluated, mut differ) = (0u64, 0u64);
    for l in &logs[(c.stage_since - start) as usize..=(w - start) as usize] {
        let Some((scores, stage)) = &l.candidate else {
            continue;
        };
        let mine = world.decide(&c.model, scores);
        let theirs = world.decide(&primary.model, &l.primary);
        for i in 0..scores.len() {
            // In the canary, the stage's evidence is the traffic the candidate answered.
            if matches!(stage, Stage::Canary(p) if !in_canary(l.entities[i], *p)) {
                continue;
            }
            evaluated += 1;
            differ += u64::from(mine[i] != theirs[i]);
        }
    }
    let (mut labels, mut ours, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let labelled_until = w.saturating_sub(delay);
    for day in c.started..=labelled_until.min(w) {
        let Some(l) = logs.get((day - start) as usize) else {
            continue;
        };
        let Some((scores, _)) = &l.candidate else {
            continue;
        };
        for (i, label) in l.labels.iter().enumerate() {
            if let Some(y) = label {
                labels.push(*y);
                ours.push(scores[i]);
                theirs.push(l.primary[i]);
            }
        }
    }
    Evidence {
        evaluated,
        errors: 0,
        p99_ms: 0.0,
        disagreement: differ as f64 / evaluated.max(1) as f64,
        candidate_metric: world.metric(&labels, &ours),
        primary_metric: world.metric(&labels, &theirs),
        labelled: labels.len() as u64,
    }
}

/// The served scores and labels of world days `from..=to` that have a label.
fn pooled(logs: &[DayLog], start: u32, from: u32, to: u32) -> (Vec<bool>, Vec<f64>) {
    let mut out = (Vec::new(), Vec::new());
    for day in from.max(start)..=to {
        let Some(l) = logs.get((day - start) as usize) else {
            continue;
        };
        for (label, &s) in l.labels.iter().zip(&l.served) {
            if let Some(y) = label {
                out.0.push(*y);
                out.1.push(s);
            }
        }
    }
    out
}

fn pooled_estimate<W: World>(
    world: &W,
    logs: &[DayLog],
    start: u32,
    from: u32,
    to: u32,
) -> Option<f64> {
    let scores: Vec<f64> = (from.max(start)..=to)
        .filter_map(|d| logs.get((d - start) as usize))
        .flat_map(|l| l.served.iter().copied())
        .collect();
    world.estimate(&scores)
}

/// Talking point: monitoring with delayed labels — the realised metric of the newest labelled
/// week against a fixed target (the first model's first two weeks), and the label-free estimate
/// of the last days against the serving model's own first week (each model's calibration has
/// its own bias); either trailing by the margin raises the alarm.
fn alarm<W: World>(
    world: &W,
    cfg: &OperateConfig,
    logs: &[DayLog],
    start: u32,
    since: u32,
    w: u32,
    delay: u32,
) -> Option<String> {
    let n = cfg.smooth_days.max(1);
    let reference_end = since + n - 1;
    let labelled_until = w.checked_sub(delay)?;
    let metric = |from, to| {
        let (y, s) = pooled(logs, start, from, to);
        world.metric(&y, &s)
    };
    let estimate = |from, to| pooled_estimate(world, logs, start, from, to);
    let margin = cfg.alarm_margin.unwrap_or_else(|| world.alarm_margin());
    let m = cfg.estimate_days.clamp(1, n);
    if w >= reference_end + m {
        if let (Some(now), Some(reference)) =
            (estimate(w + 1 - m, w), estimate(since, reference_end))
        {
            if now < reference - margin {
                return Some(format!(
                    "estimated {now:.3} vs {reference:.3} in its first week"
                ));
            }
        }
    }
    // The realised metric has a target that does not move: the first model's first two weeks.
    let target_end = start + 2 * n - 1;
    if labelled_until >= target_end + n {
        if let (Some(now), Some(target)) = (
            metric(labelled_until + 1 - n, labelled_until),
            metric(start, target_end),
        ) {
            if now < target - margin {
                return Some(format!("realised {now:.3} vs the target {target:.3}"));
            }
        }
    }
    None
}
