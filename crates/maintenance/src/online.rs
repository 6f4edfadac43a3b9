//! The online per-machine state: the readings of the current life's window, kept as they
//! arrive, and the features of the newest one — the same [`window_features`] the offline
//! table uses, so the server and training cannot disagree (a parity test replays a fleet).
//!
//! ```text
//! reading(machine, cycle, values) ─► checks (order, count, bounds) ─► ring buffer (window)
//!                                                                    ─► window_features ─► row
//! service / failure                ─► a new life: the buffer empties, the age restarts
//! ```
//!
//! Talking points: online features equal offline ones (training/serving skew); state size
//! (machines × window × sensors × 8 bytes); bad readings refused with a reason, never stored;
//! sensor health counted per sensor (missing, stuck, spike).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::data::Reading;
use crate::features::{window_features, FeatureSpec};

/// Why a reading was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not as many values as the fleet has sensors.
    WrongSensorCount,
    /// The cycle is not after the machine's last one in this life.
    OutOfOrder,
    /// A value outside what the sensor can physically read.
    Impossible,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::WrongSensorCount => "wrong_sensor_count",
            Refusal::OutOfOrder => "out_of_order_cycle",
            Refusal::Impossible => "impossible_value",
        }
    }
}

/// Per-sensor health counters: missing values, readings equal to the previous one (stuck),
/// and values more than `spike_sds` standard deviations from the window mean.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SensorHealth {
    pub readings: u64,
    pub missing: u64,
    pub stuck: u64,
    pub spikes: u64,
}

/// One machine's online state.
#[derive(Debug, Clone)]
pub struct MachineState {
    window: VecDeque<Reading>,
    /// First cycle of the current life.
    life_start: Option<u32>,
    /// Readings accepted in this life.
    pub readings: u64,
}

impl MachineState {
    pub fn new(spec: &FeatureSpec) -> MachineState {
        MachineState {
            window: VecDeque::with_capacity(spec.window),
            life_start: None,
            readings: 0,
        }
    }

    /// The last accepted cycle of this life.
    pub fn last_cycle(&self) -> Option<u32> {
        self.window.back().map(|r| r.cycle)
    }

    /// Checks `reading` against this machine's life and the sensors' bounds; on success it
    /// joins the window and the newest feature row comes back. `health`, when given, counts
    /// the reading's missing, stuck and spiking values per sensor.
    pub fn push(
        &mut self,
        spec: &FeatureSpec,
        bounds: &[(f64, f64)],
        reading: Reading,
        health: Option<&mut [SensorHealth]>,
    ) -> Result<Vec<f64>, Refusal> {
        if reading.values.len() != spec.sensors.len() {
            return Err(Refusal::WrongSensorCount);
        }
        if self.last_cycle().is_some_and(|last| reading.cycle <= last) {
            return Err(Refusal::OutOfOrder);
        }
        let outside = reading
            .values
            .iter()
            .zip(bounds)
            .any(|(v, (lo, hi))| v.is_finite() && (*v < *lo || *v > *hi));
        if outside || reading.values.iter().any(|v| v.is_infinite()) {
            return Err(Refusal::Impossible);
        }
        if let Some(health) = health {
            self.count_health(spec, &reading, health);
        }
        if self.window.len() == spec.window {
            self.window.pop_front();
        }
        let start = *self.life_start.get_or_insert(reading.cycle);
        let age = f64::from(reading.cycle) - f64::from(start) + 1.0;
        self.window.push_back(reading);
        self.readings += 1;
        // Talking point [features]: training/serving skew — the offline table's own function, on
        // the ring buffer instead of a slice of history.
        Ok(window_features(spec, self.window.iter(), age))
    }

    fn count_health(&self, spec: &FeatureSpec, reading: &Reading, health: &mut [SensorHealth]) {
        for (j, (v, h)) in reading.values.iter().zip(health.iter_mut()).enumerate() {
            h.readings += 1;
            if !v.is_finite() {
                h.missing += 1;
                continue;
            }
            // One pass over the window's finite values: count, mean, variance, the last one.
            let (mut n, mut sum, mut squares, mut last) = (0.0, 0.0, 0.0, None);
            for x in self
                .window
                .iter()
                .filter_map(|r| r.values.get(j).filter(|x| x.is_finite()))
            {
                n += 1.0;
                sum += x;
                squares += x * x;
                last = Some(*x);
            }
            if last == Some(*v) && spec.used.contains(&j) {
                h.stuck += 1;
            }
            if n >= 5.0 {
                let mean = sum / n;
                let sd = (squares / n - mean * mean).max(0.0).sqrt();
                if sd > 0.0 && (v - mean).abs() > 6.0 * sd {
                    h.spikes += 1;
                }
            }
        }
    }

    /// A service or a failure: the next reading starts a new life.
    pub fn renew(&mut self) {
        self.window.clear();
        self.life_start = None;
        self.readings = 0;
    }
}

/// Plausible bounds per sensor from the training readings: the observed range widened by
/// its width on each side (a reading outside cannot come from a working sensor).
pub fn bounds(fleet: &crate::data::Fleet) -> Vec<(f64, f64)> {
    (0..fleet.sensors.len())
        .map(|j| {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for v in fleet
                .machines
                .iter()
                .flat_map(|m| &m.readings)
                .filter_map(|r| r.values.get(j))
                .filter(|v| v.is_finite())
            {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            if lo > hi {
                return (f64::NEG_INFINITY, f64::INFINITY);
            }
            let width = (hi - lo).max(hi.abs().max(1.0) * 0.1);
            (lo - width, hi + width)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FeatureSpec {
        FeatureSpec {
            sensors: vec!["a".into()],
            used: vec![0],
            window: 3,
            short: 1,
            fill: vec![0.0],
            dropped: vec![],
        }
    }

    #[test]
    fn readings_out_of_order_or_impossible_are_refused_and_change_nothing() {
        let spec = spec();
        let bounds = [(0.0, 10.0)];
        let mut health = vec![SensorHealth::default()];
        let mut s = MachineState::new(&spec);
        let r = |cycle, v| Reading {
            cycle,
            values: vec![v],
        };
        assert!(s.push(&spec, &bounds, r(1, 1.0), Some(&mut health)).is_ok());
        assert_eq!(
            s.push(&spec, &bounds, r(1, 2.0), Some(&mut health)),
            Err(Refusal::OutOfOrder)
        );
        assert_eq!(
            s.push(&spec, &bounds, r(2, 99.0), Some(&mut health)),
            Err(Refusal::Impossible)
        );
        let wrong = Reading {
            cycle: 2,
            values: vec![],
        };
        assert_eq!(
            s.push(&spec, &bounds, wrong, Some(&mut health)),
            Err(Refusal::WrongSensorCount)
        );
        assert_eq!(s.readings, 1);
        let row = s
            .push(&spec, &bounds, r(2, f64::NAN), Some(&mut health))
            .expect("missing is fine");
        assert_eq!(row[0], 1.0); // the mean skips the missing value
        assert_eq!(health[0].missing, 1);
        s.renew();
        let row = s
            .push(&spec, &bounds, r(1, 4.0), Some(&mut health))
            .expect("new life");
        assert_eq!(row[4], 1.0); // age restarts
    }
}
