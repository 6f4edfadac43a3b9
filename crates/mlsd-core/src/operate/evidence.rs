//! What the loop computes from its day logs: who answered, the evidence a candidate's gates
//! read, the pooled metrics and the alarm.

use super::{Candidate, DayLog, OperateConfig, Primary, Traffic, World};
use crate::lifecycle::{in_canary, Evidence, Stage};

pub(super) fn day_log<M>(
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
pub(super) fn evidence<W: World>(
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
        // The replay's gates read labels and decisions; after a drift a good retrain's
        // scores should move, so their shift is not a gate here.
        score_shift: None,
        labelled: labels.len() as u64,
    }
}

/// The served scores and labels of world days `from..=to` that have a label.
pub(super) fn pooled(logs: &[DayLog], start: u32, from: u32, to: u32) -> (Vec<bool>, Vec<f64>) {
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

pub(super) fn pooled_estimate<W: World>(
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
/// What monitoring compares with, each computed once its days are complete (not again every
/// day): the realised target, and the estimate of the serving model's first week (`since`).
#[derive(Default)]
pub(super) struct References {
    target: Option<Option<f64>>,
    estimate: Option<(u32, Option<f64>)>,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn alarm<W: World>(
    world: &W,
    cfg: &OperateConfig,
    logs: &[DayLog],
    refs: &mut References,
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
        let reference = match refs.estimate {
            Some((of, reference)) if of == since => reference,
            _ => {
                refs.estimate
                    .insert((since, estimate(since, reference_end)))
                    .1
            }
        };
        if let (Some(now), Some(reference)) = (estimate(w + 1 - m, w), reference) {
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
        let target = *refs.target.get_or_insert_with(|| metric(start, target_end));
        if let (Some(now), Some(target)) = (metric(labelled_until + 1 - n, labelled_until), target)
        {
            if now < target - margin {
                return Some(format!("realised {now:.3} vs the target {target:.3}"));
            }
        }
    }
    None
}
