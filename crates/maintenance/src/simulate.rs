//! Stage 1 (the embedded default) — a seeded fleet simulator.
//!
//! ```text
//! machine (type A/B/C, own wear rate) ─► hidden degradation d: grows faster the worse it gets,
//!                                        faster under high load; d ≥ 1 is a failure
//!   every cycle (a day): load regime (Markov) ─► 8 sensors = baseline(type) + load effect
//!                                                + gain·d^p (informative ones) + noise
//!                        sensor faults: missing (NaN), spikes, stuck values
//!   a failure or a service resets d (a new life begins); drift knobs: a recalibrated sensor,
//!   a new machine type
//! ```
//!
//! The simulator knows every machine's true failure time, so policies can be priced exactly
//! ([`crate::policy`]), which field data never allows (a serviced machine never shows when it
//! would have failed).
//!
//! Talking points: labels come late and censored; sensors break, drift and go missing; one
//! seed drives all randomness (each machine has its own stream, so machine 7 behaves the same
//! whichever others are simulated beside it).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::data::{End, Fleet, Machine, Reading};

/// The simulated sensors, in reading order. `load` is the operating setting (known to the
/// plant); `humidity` and `ambient_c` carry no wear signal.
pub const SENSORS: [&str; 8] = [
    "load",
    "bearing_temp_c",
    "vibration_rms",
    "oil_pressure_bar",
    "motor_current_a",
    "oil_particles_ppm",
    "humidity_pct",
    "ambient_c",
];

/// How each sensor reads: baseline, load effect, wear gain and exponent, noise.
const PHYSICS: [(f64, f64, f64, f64, f64); 8] = [
    (0.0, 1.0, 0.0, 1.0, 0.0),    // load: the regime itself
    (55.0, 12.0, 18.0, 2.0, 1.2), // bearing temperature rises late and fast
    (2.0, 1.5, 4.0, 1.5, 0.35),   // vibration
    (4.5, 0.8, -1.2, 1.0, 0.12),  // oil pressure falls
    (30.0, 14.0, 6.0, 1.2, 1.0),  // motor current
    (12.0, 2.0, 40.0, 3.0, 2.5),  // particles: only near the end
    (45.0, 0.0, 0.0, 1.0, 6.0),   // humidity: noise
    (21.0, 0.0, 0.0, 1.0, 2.0),   // ambient: noise
];

/// Machine types: (name, share of the fleet, wear-rate multiplier, baseline shift in noise
/// units applied to every sensor).
const TYPES: [(&str, f64, f64, f64); 3] = [
    ("A", 0.5, 1.0, 0.0),
    ("B", 0.3, 1.3, 0.5),
    ("C", 0.2, 0.8, -0.5),
];

/// Settings of the simulator, with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetConfig {
    pub seed: u64,
    /// Machines in the fleet.
    pub machines: u32,
    /// Cycles (days) simulated.
    pub cycles: u32,
    /// Mean life of a type-A machine at load 1.0, in cycles.
    pub mean_life: f64,
    /// Spread of the per-machine wear rate (log-normal sigma).
    pub rate_spread: f64,
    /// Per reading and sensor: probability of a missing value, of a spike, of a stuck spell
    /// starting (it lasts 5–20 readings).
    pub missing_rate: f64,
    pub spike_rate: f64,
    pub stuck_rate: f64,
    /// Drift: from this cycle on, this sensor reads this many noise units high.
    pub recalibration: Option<Recalibration>,
    /// Drift: this share of machines is a new type `D` (wears 1.6× faster, baselines shifted).
    pub new_type_share: f64,
    /// The first machine id (to simulate disjoint fleets for training, validation, test).
    pub first_id: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recalibration {
    pub sensor: usize,
    pub from_cycle: u32,
    pub offset_sds: f64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            seed: 42,
            machines: 100,
            cycles: 730,
            mean_life: 180.0,
            rate_spread: 0.25,
            missing_rate: 0.01,
            spike_rate: 0.002,
            stuck_rate: 0.001,
            recalibration: None,
            new_type_share: 0.0,
            first_id: 1,
        }
    }
}

/// One simulated machine: its hidden state and its own random stream.
pub struct MachineSim {
    pub id: u32,
    pub kind: &'static str,
    rate: f64,
    shift: f64,
    /// Hidden degradation (≥ 1: failed).
    pub degradation: f64,
    /// Cycle within the current life (1-based once a reading was taken).
    pub age: u32,
    /// The fleet's clock (drift knobs key on it).
    pub day: u32,
    load: f64,
    stuck: Vec<(u32, f64)>,
    last: Vec<f64>,
    rng: ChaCha8Rng,
    cfg: FleetConfig,
}

/// What one cycle of a machine produced.
pub enum Step {
    /// A reading of the running machine.
    Reading(Reading),
    /// The machine failed this cycle (no reading).
    Failed,
}

impl MachineSim {
    pub fn new(cfg: &FleetConfig, id: u32) -> MachineSim {
        let mut rng = ChaCha8Rng::seed_from_u64(
            cfg.seed ^ (u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let new_type = rng.gen::<f64>() < cfg.new_type_share;
        let (kind, rate, shift) = if new_type {
            ("D", 1.6, 1.5)
        } else {
            let u: f64 = rng.gen();
            let mut acc = 0.0;
            let mut chosen = TYPES[0];
            for t in TYPES {
                acc += t.1;
                if u < acc {
                    chosen = t;
                    break;
                }
            }
            (chosen.0, chosen.2, chosen.3)
        };
        let spread = Normal::new(0.0, cfg.rate_spread.max(0.0)).map_or(0.0, |n| n.sample(&mut rng));
        let mut m = MachineSim {
            id,
            kind,
            rate: rate * spread.exp(),
            shift,
            degradation: 0.0,
            age: 0,
            day: 0,
            load: 1.0,
            stuck: vec![(0, 0.0); SENSORS.len()],
            last: vec![f64::NAN; SENSORS.len()],
            rng,
            cfg: cfg.clone(),
        };
        m.renew();
        m
    }

    /// A new life: degradation back near zero (a repair is not a brand-new machine).
    pub fn renew(&mut self) {
        self.degradation = self.rng.gen_range(0.0..0.05);
        self.age = 0;
    }

    /// One cycle: the machine wears, then fails or reads its sensors.
    pub fn step(&mut self) -> Step {
        self.day += 1;
        if self.rng.gen::<f64>() < 0.05 {
            self.load = [0.7, 1.0, 1.4][self.rng.gen_range(0..3)];
        }
        // dd/dt = b·load·(0.5 + 2d): hits 1 after ln(5)/(2b) cycles at load 1.
        let b = 5f64.ln() / (2.0 * self.cfg.mean_life) * self.rate;
        let noise = (0.3 * self.normal()).exp();
        self.degradation += b * self.load * (0.5 + 2.0 * self.degradation) * noise;
        if self.degradation >= 1.0 {
            return Step::Failed;
        }
        self.age += 1;
        let values = (0..SENSORS.len()).map(|j| self.sense(j)).collect();
        Step::Reading(Reading {
            cycle: self.age,
            values,
        })
    }

    fn normal(&mut self) -> f64 {
        Normal::new(0.0, 1.0).map_or(0.0, |n| n.sample(&mut self.rng))
    }

    fn sense(&mut self, j: usize) -> f64 {
        let (base, load_effect, gain, power, sd) = PHYSICS[j];
        if j == 0 {
            return self.load;
        }
        let mut v = base
            + self.shift * sd
            + load_effect * (self.load - 1.0)
            + gain * self.degradation.powf(power)
            + sd * self.normal();
        if let Some(r) = self.cfg.recalibration {
            if r.sensor == j && self.day >= r.from_cycle {
                v += r.offset_sds * sd;
            }
        }
        // Sensor faults: a stuck spell repeats the last value; a spike; a missing value.
        let (left, held) = self.stuck[j];
        if left > 0 {
            self.stuck[j] = (left - 1, held);
            return held;
        }
        let u: f64 = self.rng.gen();
        let c = &self.cfg;
        let out = if u < c.missing_rate {
            f64::NAN
        } else if u < c.missing_rate + c.spike_rate {
            v + 12.0 * sd.max(0.1)
        } else if u < c.missing_rate + c.spike_rate + c.stuck_rate && self.last[j].is_finite() {
            let spell = self.rng.gen_range(5..=20);
            self.stuck[j] = (spell, self.last[j]);
            self.last[j]
        } else {
            v
        };
        if out.is_finite() {
            self.last[j] = out;
        }
        out
    }
}

/// Cycles a failed machine is down before its new life, and a serviced one.
pub const FAILURE_DOWNTIME: u32 = 10;
pub const SERVICE_DOWNTIME: u32 = 1;

/// The fleet run to failure for `cfg.cycles` days: every failure ends a life (`Failed`), the
/// machine is repaired and starts again; the life running at the end is `Censored`.
pub fn run_to_failure(cfg: &FleetConfig) -> Fleet {
    let mut machines = Vec::new();
    for id in cfg.first_id..cfg.first_id + cfg.machines {
        let mut sim = MachineSim::new(cfg, id);
        let mut readings = Vec::new();
        let mut down = 0;
        for _ in 0..cfg.cycles {
            if down > 0 {
                down -= 1;
                sim.day += 1;
                continue;
            }
            match sim.step() {
                Step::Reading(r) => readings.push(r),
                Step::Failed => {
                    let at = sim.age + 1;
                    machines.push(Machine {
                        id,
                        kind: sim.kind.to_string(),
                        readings: std::mem::take(&mut readings),
                        end: End::Failed(at),
                    });
                    sim.renew();
                    down = FAILURE_DOWNTIME;
                }
            }
        }
        if !readings.is_empty() {
            let at = sim.age;
            machines.push(Machine {
                id,
                kind: sim.kind.to_string(),
                readings,
                end: End::Censored(at),
            });
        }
    }
    Fleet {
        source: "simulator".into(),
        sensors: SENSORS.iter().map(|s| s.to_string()).collect(),
        machines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_fleet_and_lives_end_in_failures() {
        let cfg = FleetConfig {
            machines: 10,
            cycles: 400,
            ..FleetConfig::default()
        };
        let a = run_to_failure(&cfg);
        // Debug text: missing values are NaN, and NaN != NaN.
        assert_eq!(format!("{a:?}"), format!("{:?}", run_to_failure(&cfg)));
        let failed = a
            .machines
            .iter()
            .filter(|m| matches!(m.end, End::Failed(_)))
            .count();
        assert!(failed >= 10, "{failed} failures in 10 machine-years");
        // Failed lives: the failure is the cycle after the last reading.
        for m in &a.machines {
            if let End::Failed(at) = m.end {
                assert_eq!(m.readings.last().map(|r| r.cycle + 1), Some(at));
            }
        }
        let missing = a
            .machines
            .iter()
            .flat_map(|m| &m.readings)
            .filter(|r| r.values.iter().any(|v| v.is_nan()))
            .count();
        assert!(missing > 0, "sensor faults happen");
    }

    #[test]
    fn a_machine_behaves_the_same_whatever_is_simulated_beside_it() {
        let cfg = FleetConfig {
            machines: 5,
            cycles: 100,
            ..FleetConfig::default()
        };
        let all = run_to_failure(&cfg);
        let only = run_to_failure(&FleetConfig {
            machines: 1,
            first_id: 3,
            ..cfg
        });
        let third: Vec<&Machine> = all.machines.iter().filter(|m| m.id == 3).collect();
        assert_eq!(third.len(), only.machines.len());
        assert_eq!(format!("{:?}", third[0]), format!("{:?}", only.machines[0]));
    }
}
