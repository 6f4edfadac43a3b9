//! `mlsd capacity <design>`: a sizing estimate from this machine's measured figures — the
//! real-time endpoint's maximum goodput (the latest `mlsd bench serve --design <design>` run,
//! or a quick one now), the online state's resident bytes per entity (measured by building it,
//! where the design has per-entity state in process), the bytes of one event of the design's
//! traffic — with every assumption printed beside the answer.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use mlsd_core::capacity::{estimate, resident_bytes, Assumptions, Demand, EntityState, Measured};

use super::bench::Design;

#[derive(Args)]
pub struct CapacityArgs {
    #[arg(value_enum)]
    design: Design,
    /// Peak requests per second to serve.
    #[arg(long)]
    peak_qps: f64,
    /// The p99 latency budget of one request (ms).
    #[arg(long, default_value_t = 50.0)]
    p99_ms: f64,
    /// Entities with online state (cards, users, machines).
    #[arg(long, default_value_t = 0.0)]
    entities: f64,
    /// Events a day [default: peak ÷ --peak-to-mean × 86,400].
    #[arg(long)]
    events_per_day: Option<f64>,
    /// A `bench.json` of `mlsd bench serve` [default: the design's latest run in the runs
    /// folder; none: a quick run now].
    #[arg(long)]
    bench: Option<PathBuf>,
    /// Share of the measured maximum a replica is planned at.
    #[arg(long, default_value_t = Assumptions::default().utilisation)]
    utilisation: f64,
    #[arg(long, default_value_t = Assumptions::default().cores_per_replica)]
    cores_per_replica: usize,
    /// Replicas kept for availability (N + 1) whatever the load.
    #[arg(long, default_value_t = Assumptions::default().min_replicas)]
    min_replicas: usize,
    /// Dollars per core-hour (an on-demand cloud vCPU is a few cents).
    #[arg(long, default_value_t = Assumptions::default().price_per_core_hour)]
    price_per_core_hour: f64,
    #[arg(long, default_value_t = Assumptions::default().peak_to_mean)]
    peak_to_mean: f64,
    /// The online state is held once — sharded by key across the replicas, or in one store
    /// such as Redis — instead of a full copy on every replica.
    #[arg(long)]
    shared_state: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(runs_dir: &Path, args: &CapacityArgs) -> Result<()> {
    let design = args.design.name();
    // The state first, before the bench traffic is built: resident memory only grows when the
    // allocator has no freed memory to reuse, so the less was freed before, the truer it is.
    // Simplification: still approximate — the simulation's temporaries are freed before the
    // store is built (see the fraud doc's §10 on how far that moves the figure).
    let state = state_per_entity(args.design)?;
    let file = match &args.bench {
        Some(file) => file.clone(),
        None => match latest_bench(runs_dir, design) {
            Some(file) => file,
            None if args.json => bail!(
                "no `mlsd bench serve --design {design}` run under {}: run it first (or pass --bench FILE)",
                runs_dir.display()
            ),
            None => {
                println!("No benchmark of {design} yet: measuring now (mlsd bench serve --quick).\n");
                quick_bench(runs_dir, args.design)?;
                latest_bench(runs_dir, design).context("the quick benchmark wrote no bench.json")?
            }
        },
    };
    let mut measured = from_bench(&file)?;
    measured.bytes_per_event = bytes_per_event(args.design)?;
    measured.state = state;
    let demand = Demand {
        peak_rps: args.peak_qps,
        p99_ms: args.p99_ms,
        entities: args.entities,
        events_per_day: args
            .events_per_day
            .unwrap_or(args.peak_qps / args.peak_to_mean * 86_400.0),
    };
    let assumptions = Assumptions {
        utilisation: args.utilisation,
        cores_per_replica: args.cores_per_replica,
        min_replicas: args.min_replicas,
        price_per_core_hour: args.price_per_core_hour,
        peak_to_mean: args.peak_to_mean,
        state_per_replica: !args.shared_state,
    };
    let e = estimate(&measured, &demand, &assumptions);
    if args.json {
        let out = serde_json::json!({ "design": design, "measured": measured, "demand": demand,
            "assumptions": assumptions, "estimate": e });
        println!("{out}");
        return Ok(());
    }
    print!(
        "{}",
        super::capacity_report::render(design, &measured, &demand, &assumptions, &e)
    );
    Ok(())
}

/// The newest `bench-serve-<design>-*/bench.json` under `runs_dir` (run folders sort by time).
fn latest_bench(runs_dir: &Path, design: &str) -> Option<PathBuf> {
    let prefix = format!("bench-serve-{design}-");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(runs_dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
                && p.join("bench.json").is_file()
        })
        .collect();
    runs.sort();
    runs.pop().map(|p| p.join("bench.json"))
}

fn quick_bench(runs_dir: &Path, design: Design) -> Result<()> {
    #[derive(clap::Parser)]
    struct Wrap {
        #[command(flatten)]
        bench: super::bench::BenchServeArgs,
    }
    use clap::Parser;
    let args = Wrap::try_parse_from(["bench", "--design", design.name(), "--quick"])?;
    super::bench::run(runs_dir, &args.bench)?;
    println!();
    Ok(())
}

/// The real-time mode's figures from a `bench.json`.
fn from_bench(file: &Path) -> Result<Measured> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let modes = json["modes"]
        .as_array()
        .context("bench.json has no modes")?;
    let realtime = modes
        .iter()
        .find(|m| m["mode"] == "realtime")
        .or_else(|| modes.first())
        .context("bench.json has no mode")?;
    let number = |v: &serde_json::Value, what: &str| {
        v.as_f64()
            .with_context(|| format!("bench.json: {what} is not a number"))
    };
    let this_machine = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (cores, cores_note) = match json["cores"].as_u64() {
        Some(c) => (c as usize, ""),
        None => (this_machine, ", cores not recorded: this machine's assumed"),
    };
    let quick = if json["quick"].as_bool() == Some(true) {
        ", QUICK (a smoke figure)"
    } else {
        ""
    };
    Ok(Measured {
        cores,
        max_rps: number(&realtime["rps"], "rps")?,
        p99_ms: number(&realtime["p99_ms"], "p99_ms")?,
        reference_rps: number(&json["reference_rows_per_s"], "reference_rows_per_s")?,
        source: format!("{}{quick}{cores_note}", file.display()),
        state: None,
        bytes_per_event: 0.0,
    })
}

/// Mean bytes of one request body of the design's benchmark traffic.
fn bytes_per_event(design: Design) -> Result<f64> {
    let bodies = match design {
        Design::Fraud => super::fraud::live_bodies()?,
        Design::Recommender => super::recommender::event_bodies()?,
        Design::Sentiment => super::sentiment::topic_bodies()?,
        Design::Newsfeed => super::newsfeed::event_bodies()?,
        Design::Maintenance => {
            let fleet = maintenance::bench::fleet(50, 300_001, 60);
            maintenance::bench::reading_bodies(&fleet, 1)?
        }
    };
    let total: usize = bodies.iter().map(Vec::len).sum();
    Ok(total as f64 / bodies.len().max(1) as f64)
}

/// Resident bytes per entity of the design's in-process online state, measured by building it
/// for the default world; `None` where the design keeps no per-entity state in process here.
fn state_per_entity(design: Design) -> Result<Option<EntityState>> {
    match design {
        Design::Fraud => fraud_state().map(Some),
        // Simplification: only the fraud store is measured; the others' state (user sessions,
        // machine windows, feed counters) is not sized here yet.
        _ => Ok(None),
    }
}

/// The fraud store after streaming the default world through it, as the server does: every
/// payment observed, its label recorded (the store keeps 30 days per card, 37 per terminal).
fn fraud_state() -> Result<EntityState> {
    use fraud_detector::config::SimulationConfig;
    use fraud_detector::features::FeatureSpec;
    use fraud_detector::online::{transactions_of, InMemoryFeatureStore};
    let cfg = SimulationConfig::default();
    let (frame, _) = fraud_detector::simulate::simulate(&cfg)?;
    let mut history = transactions_of(&frame)?;
    history.sort_by_key(|(tx, _)| (tx.datetime_ms, tx.transaction_id));
    drop(frame);
    let before = resident_bytes().context("resident memory is only read on Linux")?;
    let store = InMemoryFeatureStore::new(FeatureSpec::default());
    for (tx, fraud) in &history {
        store.observe(tx);
        store.record_label(tx.transaction_id, *fraud);
    }
    let after = resident_bytes().context("resident memory is only read on Linux")?;
    let cards = cfg.n_customers as f64;
    drop(store);
    Ok(EntityState {
        entity: "card",
        bytes_per_entity: after.saturating_sub(before) as f64 / cards,
        how: format!(
            "resident memory grown by the in-memory store after {} payments of the default world ({} cards, {} terminals), ÷ cards",
            history.len(),
            cfg.n_customers,
            cfg.n_terminals
        ),
    })
}
