//! `mlsd fraud produce` and `mlsd fraud consume`: the fraud design's event log on Redis Streams
//! from the command line (see `fraud_detector::stream`). A consumer killed at any point
//! (`kill -9`) loses nothing: another one started with `--claim-after-ms` takes over its
//! unacknowledged events, and applying an event twice changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use fraud_detector::config::{ProtocolConfig, SimulationConfig};
use fraud_detector::features::FeatureSpec;
use fraud_detector::online::{warm_up, FeatureStore, RedisFeatureStore};
use fraud_detector::stream::{apply_batch, FraudEvent};
use mlsd_core::events::EventLog;
use mlsd_core::online_state::StateBackend;

use super::common::positive;

/// Where the stream and the store are.
#[derive(Args)]
pub struct StreamArgs {
    /// The Redis holding the store and the stream (`redis://127.0.0.1:6379`).
    #[arg(long, env = "MLSD_STATE")]
    state: String,
    /// The budget of one round trip, in ms.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    state_timeout_ms: u64,
}

impl StreamArgs {
    /// The Redis store and its event log (`<prefix>:events`).
    fn open(&self) -> Result<(RedisFeatureStore, EventLog)> {
        let timeout = Duration::from_millis(self.state_timeout_ms);
        let StateBackend::Redis { url, prefix, .. } =
            StateBackend::parse(&self.state, "fraud", timeout).map_err(anyhow::Error::msg)?
        else {
            bail!("--state must be a redis:// URL: the event log lives in Redis");
        };
        let store = RedisFeatureStore::open(FeatureSpec::default(), &url, &prefix, timeout)?;
        let log = EventLog::new(Arc::clone(store.redis()), format!("{prefix}:events"));
        Ok((store, log))
    }
}

#[derive(Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Payments to append: the first N of the default world's test week, each followed by its
    /// label when it is a fraud.
    #[arg(long, default_value_t = 10_000, value_parser = positive)]
    payments: usize,
}

/// `mlsd fraud produce`.
pub fn produce(args: &ProduceArgs) -> Result<()> {
    let (_, log) = args.stream.open()?;
    let (transactions, _) = fraud_detector::simulate::simulate(&SimulationConfig::default())?;
    let plan = fraud_detector::replay::test_period(&transactions, &ProtocolConfig::default(), 0)?;
    // The period's own rows with their labels (no history before it: they are `plan.live`).
    let payments = fraud_detector::online::transactions_of(&plan.frame)?;
    let mut events = Vec::new();
    for (tx, fraud) in payments.iter().take(args.payments) {
        events.push(FraudEvent::Payment(*tx));
        if *fraud {
            events.push(FraudEvent::Label {
                transaction_id: tx.transaction_id,
                fraud: true,
            });
        }
    }
    for chunk in events.chunks(1_000) {
        log.append(&FraudEvent::keyed(chunk))?;
    }
    println!(
        "appended {} events ({} payments) to {}; {} entries in it now",
        events.len(),
        args.payments.min(payments.len()),
        log.stream(),
        log.entries()?
    );
    Ok(())
}

#[derive(Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// The consumer group (created at the stream's start if missing).
    #[arg(long, default_value = "aggregators")]
    group: String,
    /// This consumer's name within the group.
    #[arg(long)]
    name: String,
    /// Events per read (and per acknowledgement).
    #[arg(long, default_value_t = 200, value_parser = positive)]
    batch: usize,
    /// Take over events another consumer was given and has not acknowledged for this long
    /// (it is presumed dead).
    #[arg(long, default_value_t = 30_000)]
    claim_after_ms: u64,
    /// Stop when the stream has nothing new (instead of polling for more).
    #[arg(long)]
    until_idle: bool,
}

/// `mlsd fraud consume`.
pub fn consume(args: &ConsumeArgs) -> Result<()> {
    let (store, log) = args.stream.open()?;
    if store.is_cold()? {
        // Payments apply to windows that must exist: an empty history is a history.
        warm_up(&store, &[])?;
    }
    log.create_group(&args.group)?;
    let consumer = log.consumer(&args.group, &args.name);
    let claim_after = Duration::from_millis(args.claim_after_ms);
    let (started, mut total, mut reclaimed, mut dead) = (Instant::now(), 0usize, 0usize, 0usize);
    loop {
        let applied = apply_batch(&consumer, &store, args.batch, claim_after)
            .with_context(|| format!("consuming {}", log.stream()))?;
        total += applied.events();
        reclaimed += applied.reclaimed;
        dead += applied.dead_letters;
        if applied.events() > 0 {
            eprintln!("{}: {total} events applied", args.name);
            continue;
        }
        if args.until_idle {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "{}: {total} events applied in {:.1} s ({reclaimed} taken over from other consumers, {dead} dead-lettered); {} pending in group {}",
        args.name,
        started.elapsed().as_secs_f64(),
        log.pending(&args.group)?,
        args.group
    );
    Ok(())
}
