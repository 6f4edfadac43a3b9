//! A capacity estimate from measured figures: how many cores, replicas, bytes of state and of
//! storage a design needs at a stated peak, and what that costs at a stated price.
//!
//! ```text
//! this machine: max goodput of the real-time endpoint (mlsd bench serve) ÷ its cores
//!             + resident bytes per entity of the online state (measured building it)
//!             + bytes per event of the design's traffic
//!   × the demand (peak req/s, entities, events a day) ÷ the assumptions (headroom, …)
//!   ─► cores, replicas behind a balancer, memory, storage a day, cost a day
//! ```
//!
//! Talking point [capacity]: size from a measured per-core throughput, never a guess, and
//! print every assumption beside the answer so a reader can change the one they doubt.

use serde::Serialize;

/// What was measured on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Cores of the machine the benchmark ran on (client and server shared them).
    pub cores: usize,
    /// Maximum goodput of one request per row (req/s, closed loop).
    pub max_rps: f64,
    /// p99 at the benchmark's reference load (ms, open loop).
    pub p99_ms: f64,
    /// The reference load the p99 was measured at (req/s).
    pub reference_rps: f64,
    /// Where the throughput came from (a bench.json, or a quick run just now).
    pub source: String,
    /// Resident bytes per entity of the online state and what an entity is, when measured.
    pub state: Option<EntityState>,
    /// Mean bytes of one event as the API receives it (JSON).
    pub bytes_per_event: f64,
}

/// The online state's size per entity, measured.
#[derive(Debug, Clone, Serialize)]
pub struct EntityState {
    /// What one entity is (a card, a user, a machine).
    pub entity: &'static str,
    pub bytes_per_entity: f64,
    /// How it was measured.
    pub how: String,
}

/// What the estimate is asked for.
#[derive(Debug, Clone, Serialize)]
pub struct Demand {
    pub peak_rps: f64,
    pub p99_ms: f64,
    pub entities: f64,
    /// Events a day (default: peak ÷ peak-to-mean × 86,400).
    pub events_per_day: f64,
}

/// The assumptions, printed with the answer.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// Share of a core's measured maximum a replica is planned at (queues grow near 100 %).
    pub utilisation: f64,
    /// Cores per replica.
    pub cores_per_replica: usize,
    /// Replicas kept for availability even when one would carry the load (N + 1).
    pub min_replicas: usize,
    /// Price of one core for one hour, in dollars.
    pub price_per_core_hour: f64,
    /// Peak traffic over mean traffic.
    pub peak_to_mean: f64,
    /// Whether each replica keeps the whole online state (in memory) or one shared store does.
    pub state_per_replica: bool,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            utilisation: 0.6,
            cores_per_replica: 2,
            min_replicas: 2,
            price_per_core_hour: 0.04,
            peak_to_mean: 3.0,
            state_per_replica: true,
        }
    }
}

/// The answer.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub rps_per_core: f64,
    pub cores_for_peak: usize,
    pub replicas: usize,
    pub cores: usize,
    /// Online state in bytes, over all replicas (None: not measured for this design).
    pub state_bytes: Option<f64>,
    pub events_bytes_per_day: f64,
    pub cost_per_day: f64,
    /// False when this machine's p99 at its reference load is already over the budget.
    pub latency_budget_met: bool,
}

/// Sizes `demand` from `measured` under `assumptions`.
pub fn estimate(measured: &Measured, demand: &Demand, a: &Assumptions) -> Estimate {
    // Client and server shared the benchmark's cores: per core this undercounts the server.
    let rps_per_core = measured.max_rps / measured.cores.max(1) as f64;
    let usable = (rps_per_core * a.utilisation).max(f64::MIN_POSITIVE);
    let cores_for_peak = (demand.peak_rps / usable).ceil().max(1.0) as usize;
    let per_replica = a.cores_per_replica.max(1);
    let replicas = cores_for_peak.div_ceil(per_replica).max(a.min_replicas);
    let cores = replicas * per_replica;
    let holders = if a.state_per_replica {
        replicas as f64
    } else {
        1.0
    };
    Estimate {
        rps_per_core,
        cores_for_peak,
        replicas,
        cores,
        state_bytes: measured
            .state
            .as_ref()
            .map(|s| s.bytes_per_entity * demand.entities * holders),
        events_bytes_per_day: demand.events_per_day * measured.bytes_per_event,
        cost_per_day: cores as f64 * 24.0 * a.price_per_core_hour,
        latency_budget_met: measured.p99_ms <= demand.p99_ms,
    }
}

/// Resident memory of this process in bytes (Linux `/proc/self/statm`; None elsewhere).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured() -> Measured {
        Measured {
            cores: 2,
            max_rps: 20_000.0,
            p99_ms: 1.5,
            reference_rps: 1_000.0,
            source: "test".into(),
            state: Some(EntityState {
                entity: "card",
                bytes_per_entity: 1_000.0,
                how: "test".into(),
            }),
            bytes_per_event: 200.0,
        }
    }

    #[test]
    fn the_arithmetic_is_the_one_printed() {
        let demand = Demand {
            peak_rps: 30_000.0,
            p99_ms: 1.0,
            entities: 1e6,
            events_per_day: 1e9,
        };
        let e = estimate(&measured(), &demand, &Assumptions::default());
        // 10,000 req/s per core × 0.6 = 6,000 usable: 5 cores, 3 replicas of 2.
        assert_eq!((e.cores_for_peak, e.replicas, e.cores), (5, 3, 6));
        assert_eq!(e.state_bytes, Some(3e9));
        assert_eq!(e.events_bytes_per_day, 2e11);
        assert!((e.cost_per_day - 6.0 * 24.0 * 0.04).abs() < 1e-9);
        assert!(
            !e.latency_budget_met,
            "1.5 ms measured against a 1 ms budget"
        );
    }

    #[test]
    fn a_small_peak_still_gets_the_replicas_kept_for_availability() {
        let demand = Demand {
            peak_rps: 10.0,
            p99_ms: 50.0,
            entities: 0.0,
            events_per_day: 0.0,
        };
        let e = estimate(&measured(), &demand, &Assumptions::default());
        assert_eq!((e.cores_for_peak, e.replicas), (1, 2));
        assert!(e.latency_budget_met);
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|b| b > 0));
        }
    }
}
