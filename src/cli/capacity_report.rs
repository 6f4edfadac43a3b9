//! The text `mlsd capacity` prints: the answer, then what was measured and what was assumed.

use mlsd_core::capacity::{Assumptions, Demand, Estimate, Measured};

fn si(v: f64) -> String {
    let (value, unit) = match v {
        v if v >= 1e12 => (v / 1e12, " T"),
        v if v >= 1e9 => (v / 1e9, " G"),
        v if v >= 1e6 => (v / 1e6, " M"),
        v if v >= 1e3 => (v / 1e3, " k"),
        v => (v, " "),
    };
    format!("{value:.1}{unit}")
}

/// A count with its SI prefix: `57.6 M`, `12.0`.
fn count(v: f64) -> String {
    si(v).trim_end().to_string()
}

pub fn render(design: &str, m: &Measured, d: &Demand, a: &Assumptions, e: &Estimate) -> String {
    let state = match (&m.state, e.state_bytes) {
        (Some(s), Some(bytes)) => format!(
            "{}B ({}B per {} × {} {}s{})",
            si(bytes),
            si(s.bytes_per_entity),
            s.entity,
            count(d.entities),
            s.entity,
            if a.state_per_replica {
                format!(" × {} replicas", e.replicas)
            } else {
                ", held once".into()
            }
        ),
        _ => "not measured for this design (its doc discusses its state)".into(),
    };
    let latency = if e.latency_budget_met {
        format!(
            "met on this machine: p99 {:.2} ms at {:.0} req/s ≤ {:.0} ms",
            m.p99_ms, m.reference_rps, d.p99_ms
        )
    } else {
        format!(
            "NOT met on this machine: p99 {:.2} ms at {:.0} req/s > {:.0} ms — more replicas do not fix a slow request",
            m.p99_ms, m.reference_rps, d.p99_ms
        )
    };
    let how = m
        .state
        .as_ref()
        .map_or(String::new(), |s| format!("\n  state: {}", s.how));
    format!(
        "mlsd capacity {design}: {peak:.0} req/s at peak, p99 ≤ {p99:.0} ms, {entities} entities, {events} events a day

  cores for the peak   {cores_for_peak} ({rps_core:.0} req/s per core × {util:.0} % planned utilisation)
  replicas             {replicas} of {per} cores behind a load balancer ({total} cores; at least {min} for availability)
  online state         {state}
  events stored a day  {stored}B (raw JSON, {bpe:.0} B per event, before replication or compression)
  cost a day           ${cost:.2} ({total} cores × 24 h × ${price}/core-hour)
  latency budget       {latency}

Measured on this machine:
  throughput: {max:.0} req/s maximum goodput of one request per row on {mc} cores, client and server
    sharing them (so per core this undercounts the server) — {source}{how}
Assumed (change any with its flag):
  --utilisation {util_raw} --cores-per-replica {per} --min-replicas {min} --price-per-core-hour {price}
  --peak-to-mean {ptm}{shared}
",
        peak = d.peak_rps,
        p99 = d.p99_ms,
        entities = count(d.entities),
        events = count(d.events_per_day),
        cores_for_peak = e.cores_for_peak,
        rps_core = e.rps_per_core,
        util = a.utilisation * 100.0,
        replicas = e.replicas,
        per = a.cores_per_replica,
        total = e.cores,
        min = a.min_replicas,
        stored = si(e.events_bytes_per_day),
        bpe = m.bytes_per_event,
        cost = e.cost_per_day,
        price = a.price_per_core_hour,
        max = m.max_rps,
        mc = m.cores,
        source = m.source,
        util_raw = a.utilisation,
        ptm = a.peak_to_mean,
        shared = if a.state_per_replica { "" } else { " --shared-state" },
    )
}
