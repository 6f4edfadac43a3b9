//! Stage 2 — features: per machine and reading, rolling-window statistics of the informative
//! sensors, computed from that reading and the ones before it (never after).
//!
//! ```text
//! readings of one life ─► last `window` readings ─► per sensor: mean, std, slope, mean of the last `short`
//!                                                 + age (cycles since the life began)
//! ```
//!
//! The same function ([`window_features`]) computes a row offline (a slice of the history)
//! and online (the per-machine ring buffer of [`crate::online`]); a parity test replays a fleet
//! through both.
//!
//! Talking points: point-in-time features; training/serving skew; which sensors are dropped
//! and why (flat, or not related to the remaining life on the training machines); missing
//! values (a sensor that went silent) skipped, not read as zero.

use serde::{Deserialize, Serialize};

use crate::data::{Fleet, Machine, Reading};

/// What to compute, fitted on the training machines only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Every sensor of the fleet, in reading order.
    pub sensors: Vec<String>,
    /// The informative sensors (indices into `sensors`).
    pub used: Vec<usize>,
    /// Readings in the long window (C-MAPSS practice: 30) and the short one.
    pub window: usize,
    pub short: usize,
    /// Per used sensor: the training mean, used when a window has no finite value.
    pub fill: Vec<f64>,
    /// Sensors left out and why (`flat`, `uninformative`).
    pub dropped: Vec<(String, String)>,
}

/// Settings of [`FeatureSpec::fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Readings in the long window.
    pub window: usize,
    /// Readings in the short window (the latest level, less noisy than the last value).
    pub short: usize,
    /// A sensor with at most this many distinct values on the training machines is flat (a
    /// share of the mean would drop C-MAPSS sensors 8 and 13: about 2,388, moving in the
    /// second decimal as an engine wears).
    pub flat_values: usize,
    /// A sensor whose |correlation| with the capped remaining life is below this is dropped.
    pub min_correlation: f64,
    /// The piecewise-linear target's cap (cycles): "healthy" before it.
    pub rul_cap: f64,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            window: 30,
            short: 5,
            flat_values: 2,
            min_correlation: 0.2,
            rul_cap: 125.0,
        }
    }
}

impl FeatureSpec {
    /// Chooses the sensors on `train` (machines whose life ended in a failure).
    pub fn fit(train: &Fleet, cfg: &FeatureConfig) -> FeatureSpec {
        let n = train.sensors.len();
        let (mut used, mut fill, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for j in 0..n {
            let (mut xs, mut ys) = (Vec::new(), Vec::new());
            for m in &train.machines {
                for (i, r) in m.readings.iter().enumerate() {
                    let (Some(v), Some(rul)) = (r.values.get(j), m.rul(i)) else {
                        continue;
                    };
                    if v.is_finite() {
                        xs.push(*v);
                        ys.push(rul.min(cfg.rul_cap));
                    }
                }
            }
            let name = train.sensors[j].clone();
            let (mean, _) = mean_sd(&xs);
            if distinct(&xs) <= cfg.flat_values {
                dropped.push((name, "flat".to_string()));
            } else if correlation(&xs, &ys).abs() < cfg.min_correlation {
                dropped.push((name, "uninformative".to_string()));
            } else {
                used.push(j);
                fill.push(mean);
            }
        }
        FeatureSpec {
            sensors: train.sensors.clone(),
            used,
            window: cfg.window.max(2),
            short: cfg.short.clamp(1, cfg.window.max(2)),
            fill,
            dropped,
        }
    }

    /// Feature names, in row order.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for &j in &self.used {
            let s = &self.sensors[j];
            let (w, k) = (self.window, self.short);
            names.extend([
                format!("{s}_mean{w}"),
                format!("{s}_std{w}"),
                format!("{s}_slope{w}"),
                format!("{s}_mean{k}"),
            ]);
        }
        names.push("age".to_string());
        names
    }

    pub fn width(&self) -> usize {
        self.used.len() * 4 + 1
    }
}

/// The feature row of the newest reading of `window` (oldest first, at most `spec.window`
/// readings of one life), `age` cycles into the life.
pub fn window_features<'a>(
    spec: &FeatureSpec,
    window: impl Iterator<Item = &'a Reading> + Clone,
    age: f64,
) -> Vec<f64> {
    let mut row = Vec::with_capacity(spec.width());
    let len = window.clone().count();
    for (k, &j) in spec.used.iter().enumerate() {
        let points = window.clone().filter_map(|r| {
            r.values
                .get(j)
                .filter(|v| v.is_finite())
                .map(|v| (f64::from(r.cycle), *v))
        });
        let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
        for (x, y) in points.clone() {
            n += 1.0;
            sx += x;
            sy += y;
        }
        if n == 0.0 {
            row.extend([spec.fill[k], 0.0, 0.0, spec.fill[k]]);
            continue;
        }
        let (mx, my) = (sx / n, sy / n);
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for (x, y) in points {
            sxx += (x - mx) * (x - mx);
            sxy += (x - mx) * (y - my);
            syy += (y - my) * (y - my);
        }
        let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        let recent: Vec<f64> = window
            .clone()
            .skip(len.saturating_sub(spec.short))
            .filter_map(|r| r.values.get(j).copied().filter(|v| v.is_finite()))
            .collect();
        let short_mean = if recent.is_empty() {
            my
        } else {
            recent.iter().sum::<f64>() / recent.len() as f64
        };
        row.extend([my, (syy / n).sqrt(), slope, short_mean]);
    }
    row.push(age);
    row
}

/// The feature row of reading `i` of `machine`, from its history up to and including `i`.
pub fn features_at(spec: &FeatureSpec, machine: &Machine, i: usize) -> Vec<f64> {
    let start = (i + 1).saturating_sub(spec.window);
    let first = machine.readings.first().map_or(0, |r| r.cycle);
    let age = f64::from(machine.readings[i].cycle) - f64::from(first) + 1.0;
    window_features(spec, machine.readings[start..=i].iter(), age)
}

/// A feature table: rows, their machine and reading, and the capped RUL target where known.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub rows: Vec<Vec<f64>>,
    /// (index of the machine in its fleet, reading index)
    pub keys: Vec<(usize, usize)>,
    pub targets: Vec<f64>,
}

/// Which readings become rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Every reading with a known capped target (training).
    Labelled,
    /// The last reading of each life (the C-MAPSS test protocol).
    Last,
}

/// Feature rows of `fleet` with the piecewise-linear target `min(RUL, cap)`.
///
/// Talking point [labels]: censoring — a censored life (serviced, or still running) has no failure
/// time, but a reading more than `cap` cycles before the censoring has a known capped target
/// (`cap`: it was healthy). Readings closer to the censoring are left out, never labelled
/// "no failure".
pub fn table(spec: &FeatureSpec, fleet: &Fleet, rows: Rows, cap: f64) -> Table {
    let mut t = Table::default();
    for (mi, m) in fleet.machines.iter().enumerate() {
        let indices: Vec<usize> = match rows {
            Rows::Labelled => (0..m.readings.len()).collect(),
            Rows::Last => m.readings.len().checked_sub(1).into_iter().collect(),
        };
        for i in indices {
            let target = match m.rul(i) {
                Some(rul) => rul.min(cap),
                None => {
                    let left = f64::from(m.end.cycle()) - f64::from(m.readings[i].cycle);
                    if left >= cap {
                        cap
                    } else if rows == Rows::Labelled {
                        continue;
                    } else {
                        f64::NAN
                    }
                }
            };
            t.rows.push(features_at(spec, m, i));
            t.keys.push((mi, i));
            t.targets.push(target);
        }
    }
    t
}

pub(crate) fn mean_sd(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn distinct(xs: &[f64]) -> usize {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.dedup();
    v.len()
}

fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
    let ((mx, sx), (my, sy)) = (mean_sd(xs), mean_sd(ys));
    if sx == 0.0 || sy == 0.0 {
        return 0.0;
    }
    let cov = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (x - mx) * (y - my))
        .sum::<f64>()
        / xs.len() as f64;
    cov / (sx * sy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::End;

    fn machine(values: &[(u32, f64, f64)], end: End) -> Machine {
        Machine {
            id: 1,
            kind: "A".into(),
            readings: values
                .iter()
                .map(|&(cycle, a, b)| Reading {
                    cycle,
                    values: vec![a, b],
                })
                .collect(),
            end,
        }
    }

    #[test]
    fn a_window_sees_only_the_past_and_skips_missing_values() {
        let spec = FeatureSpec {
            sensors: vec!["a".into(), "b".into()],
            used: vec![0, 1],
            window: 3,
            short: 1,
            fill: vec![0.0, 9.0],
            dropped: vec![],
        };
        let m = machine(
            &[
                (1, 1.0, f64::NAN),
                (2, 2.0, f64::NAN),
                (3, 3.0, f64::NAN),
                (4, 100.0, 1.0),
            ],
            End::Failed(10),
        );
        let row = features_at(&spec, &m, 2);
        // a over cycles 1..3: mean 2, slope 1, last 3; b never finite → fill.
        assert_eq!(row[0], 2.0);
        assert!((row[2] - 1.0).abs() < 1e-12);
        assert_eq!(row[3], 3.0);
        assert_eq!(&row[4..8], &[9.0, 0.0, 0.0, 9.0]);
        assert_eq!(row[8], 3.0);
        // The reading at cycle 4 (a = 100) is in the future of row 2 and never seen.
        assert!(row[0] < 100.0);
    }

    #[test]
    fn censored_readings_near_the_end_are_left_out_and_far_ones_are_healthy() {
        let values: Vec<(u32, f64, f64)> = (1..=10).map(|c| (c, c as f64, 0.0)).collect();
        let fleet = Fleet {
            source: "t".into(),
            sensors: vec!["a".into(), "b".into()],
            machines: vec![machine(&values, End::Censored(10))],
        };
        let spec = FeatureSpec {
            sensors: fleet.sensors.clone(),
            used: vec![0],
            window: 3,
            short: 1,
            fill: vec![0.0],
            dropped: vec![],
        };
        let t = table(&spec, &fleet, Rows::Labelled, 4.0);
        // Cycles 1..=6 are ≥ 4 cycles before the censoring: target 4 (the cap).
        assert_eq!(t.rows.len(), 6);
        assert!(t.targets.iter().all(|&y| y == 4.0));
    }
}
