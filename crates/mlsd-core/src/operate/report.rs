//! What a replay reports: per day, and the figures that compare policies.

use serde::Serialize;

use super::{pooled, pooled_estimate, DayLog, OperateConfig, World};
use crate::lifecycle::Decision;
use crate::plot::{Chart, Series};

/// One replayed day (`mlsd operate --json` prints these).
#[derive(Debug, Clone, Serialize)]
pub struct OperateDay {
    pub day: u32,
    /// The realised metric of the day's answers (known after the label delay; `null` when
    /// the day's labels do not define it).
    pub metric: Option<f64>,
    /// The label-free estimate from the day's calibrated scores (known the same day).
    pub estimated_metric: Option<f64>,
    /// The primary version (answers all traffic outside a canary).
    pub serving_version: String,
    /// What happened, `;`-separated (`null` on a quiet day).
    pub event: Option<String>,
}

/// One policy's replay.
#[derive(Debug, Clone, Serialize)]
pub struct OperateReport {
    pub design: String,
    pub policy: String,
    pub metric_name: String,
    pub label_delay_days: u32,
    pub drift_at: Option<u32>,
    pub days: Vec<OperateDay>,
    /// Days from the drift to the first alarm (labelled metric or estimate); `null`: none.
    pub detect_days: Option<u32>,
    /// Days from the drift until the pooled realised metric is back within the tolerance of
    /// its pre-drift level; `null`: not within the replay.
    pub recover_days: Option<u32>,
    /// Retrains the policy ran, and their total compute time.
    pub retrains: u32,
    pub retrain_seconds: f64,
    /// Alarms raised before the drift (false alarms), counted per day.
    pub false_alarms: u32,
    /// Share of the requests after the drift answered by a model trained only on pre-drift
    /// data.
    pub stale_share: Option<f64>,
    /// The pooled realised metric over the `smooth_days` before the drift.
    pub pre_drift_metric: Option<f64>,
    /// Mean |estimate − realised| over non-overlapping `smooth_days` windows, before and
    /// after the drift.
    pub estimate_error_before_drift: Option<f64>,
    pub estimate_error_after_drift: Option<f64>,
    /// The deliberately broken candidate: its version, the largest traffic share it ever
    /// answered (%), and whether it was promoted (the gates must say no).
    pub broken_candidate: Option<String>,
    pub broken_candidate_max_share: u8,
    pub broken_candidate_promoted: bool,
    /// Every rollout decision, in order (also in the run folder's `decisions.jsonl`).
    pub decisions: Vec<Decision>,
    #[serde(skip)]
    pub(super) smooth_days: u32,
}

impl OperateReport {
    pub(super) fn new(design: &str, metric: &str, cfg: &OperateConfig, delay: u32) -> Self {
        OperateReport {
            design: design.to_string(),
            policy: cfg.policy.name().to_string(),
            metric_name: metric.to_string(),
            label_delay_days: delay,
            drift_at: cfg.drift_at,
            days: Vec::new(),
            detect_days: None,
            recover_days: None,
            retrains: 0,
            retrain_seconds: 0.0,
            false_alarms: 0,
            stale_share: None,
            pre_drift_metric: None,
            estimate_error_before_drift: None,
            estimate_error_after_drift: None,
            broken_candidate: None,
            broken_candidate_max_share: 0,
            broken_candidate_promoted: false,
            decisions: Vec::new(),
            smooth_days: cfg.smooth_days.max(1),
        }
    }

    pub(super) fn push_day<W: World>(
        &mut self,
        day: u32,
        world: &W,
        logs: &[DayLog],
        serving: &str,
        events: Vec<String>,
    ) {
        let Some(l) = logs.last() else { return };
        let (labels, scores): (Vec<bool>, Vec<f64>) = l
            .labels
            .iter()
            .zip(&l.served)
            .filter_map(|(y, s)| y.map(|y| (y, *s)))
            .unzip();
        self.days.push(OperateDay {
            day,
            metric: world.metric(&labels, &scores),
            estimated_metric: world.estimate(&l.served),
            serving_version: serving.to_string(),
            event: (!events.is_empty()).then(|| events.join("; ")),
        });
    }

    /// The figures computed in hindsight, over the whole replay.
    pub(super) fn finish<W: World>(&mut self, world: &W, logs: &[DayLog], cfg: &OperateConfig) {
        let n = self.smooth_days;
        let realised = |from: u32, to: u32| {
            let (y, s) = pooled(logs, 0, from, to);
            world.metric(&y, &s)
        };
        let estimated = |from: u32, to: u32| pooled_estimate(world, logs, 0, from, to);
        let errors = |from: u32, to: u32| {
            let gaps: Vec<f64> = (from..to)
                .step_by(n as usize)
                .filter(|&d| d + n <= to)
                .filter_map(|d| Some((estimated(d, d + n - 1)? - realised(d, d + n - 1)?).abs()))
                .collect();
            (!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64)
        };
        let days = cfg.days.min(logs.len() as u32);
        let Some(drift) = cfg.drift_at.filter(|&d| d < days) else {
            self.estimate_error_before_drift = errors(0, days);
            return;
        };
        self.estimate_error_before_drift = errors(0, drift);
        self.estimate_error_after_drift = errors(drift, days);
        self.pre_drift_metric = drift
            .checked_sub(n)
            .and_then(|from| realised(from, drift - 1));
        if let Some(level) = self.pre_drift_metric {
            // Talking point: recovery is judged on the realised metric, pooled over a week
            // that lies wholly after the drift.
            self.recover_days = (drift + n - 1..days)
                .find(|&d| {
                    realised(d + 1 - n, d).is_some_and(|m| m >= level - cfg.recover_tolerance)
                })
                .map(|d| d - drift);
        }
        let after: Vec<bool> = logs[drift as usize..days as usize]
            .iter()
            .flat_map(|l| l.stale.iter().copied())
            .collect();
        self.stale_share = (!after.is_empty())
            .then(|| after.iter().filter(|&&s| s).count() as f64 / after.len() as f64);
    }
}

/// The realised metric per day of each policy's replay (and the first one's estimate).
pub fn chart(reports: &[OperateReport]) -> Chart {
    let mut series: Vec<Series> = reports
        .iter()
        .map(|r| Series {
            name: format!("{} (realised)", r.policy),
            points: r
                .days
                .iter()
                .filter_map(|d| d.metric.map(|m| (f64::from(d.day), m)))
                .collect(),
        })
        .collect();
    if let Some(r) = reports.first() {
        series.push(Series {
            name: format!("{} (estimated, no labels)", r.policy),
            points: r
                .days
                .iter()
                .filter_map(|d| d.estimated_metric.map(|m| (f64::from(d.day), m)))
                .collect(),
        });
    }
    let (design, metric) = reports
        .first()
        .map(|r| (r.design.as_str(), r.metric_name.as_str()))
        .unwrap_or_default();
    let drift = reports.first().and_then(|r| r.drift_at);
    Chart {
        title: match drift {
            Some(d) => format!("{design}: daily {metric} by retraining policy (drift on day {d})"),
            None => format!("{design}: daily {metric} by retraining policy"),
        },
        x_label: "day".into(),
        y_label: format!("{metric} of the day's answers"),
        log_y: false,
        series,
    }
}

/// One markdown row per policy: the comparison the design docs print.
pub fn policy_table(reports: &[OperateReport]) -> String {
    let opt = |v: Option<u32>| v.map_or("—".to_string(), |d| d.to_string());
    let num = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.3}"));
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            let last_week = r.days.len().saturating_sub(r.smooth_days as usize);
            let tail: Vec<f64> = r.days[last_week..]
                .iter()
                .filter_map(|d| d.metric)
                .collect();
            let mean = (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64);
            vec![
                r.policy.clone(),
                opt(r.detect_days),
                opt(r.recover_days),
                r.retrains.to_string(),
                format!("{:.1}", r.retrain_seconds),
                r.stale_share
                    .map_or("—".into(), |s| format!("{:.0} %", s * 100.0)),
                num(mean),
                format!(
                    "{} % max, promoted: {}",
                    r.broken_candidate_max_share, r.broken_candidate_promoted
                ),
            ]
        })
        .collect();
    crate::report::markdown_table(
        &[
            "policy",
            "detect (days)",
            "recover (days)",
            "retrains",
            "retrain s",
            "stale share",
            "last week's daily metric",
            "broken candidate",
        ],
        &rows,
    )
}
