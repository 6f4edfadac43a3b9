//! `mlsd <design> produce` and `mlsd <design> consume`: a design's event log on Redis Streams
//! from the command line (payments and labels for fraud, `fraud_detector::stream`; shop events
//! for the recommender, `recommender::stream`). A consumer killed at any point (`kill -9`)
//! loses nothing: another one started with `--claim-after-ms` takes over its unacknowledged
//! events, and applying an event twice changes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use fraud_detector::config::{ProtocolConfig, SimulationConfig};
use fraud_detector::features::FeatureSpec;
use fraud_detector::online::{warm_up, FeatureStore, RedisFeatureStore};
use fraud_detector::stream::FraudEvent;
use mlsd_core::events::{EventLog, Step};
use mlsd_core::online_state::StateBackend;
use mlsd_core::registry::Registry;

use super::common::positive;

/// Where the stream and the state are.
#[derive(Args)]
pub struct StreamArgs {
    /// The Redis holding the state and the stream (`redis://127.0.0.1:6379`).
    #[arg(long, env = "MLSD_STATE")]
    state: String,
    /// The budget of one round trip, in ms.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    state_timeout_ms: u64,
}

impl StreamArgs {
    /// `design`'s Redis: URL, key prefix, round-trip budget.
    fn redis(&self, design: &str) -> Result<(String, String, Duration)> {
        let timeout = Duration::from_millis(self.state_timeout_ms);
        match StateBackend::parse(&self.state, design, timeout).map_err(anyhow::Error::msg)? {
            StateBackend::Redis { url, prefix, .. } => Ok((url, prefix, timeout)),
            StateBackend::InMemory => {
                bail!("--state must be a redis:// URL: the event log lives in Redis")
            }
        }
    }

    /// The fraud store and its event log (`<prefix>:events`).
    fn fraud(&self) -> Result<(RedisFeatureStore, EventLog)> {
        let (url, prefix, timeout) = self.redis("fraud")?;
        let store = RedisFeatureStore::open(FeatureSpec::default(), &url, &prefix, timeout)?;
        let log = EventLog::new(Arc::clone(store.redis()), format!("{prefix}:events"));
        Ok((store, log))
    }

    /// The recommender's sessions and their event log (`<prefix>:events`).
    fn recommender(&self) -> Result<(recommender::sessions::RedisSessions, EventLog)> {
        let (url, prefix, timeout) = self.redis(recommender::DESIGN)?;
        let ttl = recommender::serve::ServeConfig::default().session_ttl;
        let sessions = recommender::sessions::RedisSessions::open(&url, &prefix, ttl, timeout)?;
        let log = EventLog::new(Arc::clone(sessions.redis()), format!("{prefix}:events"));
        Ok((sessions, log))
    }
}

/// What every consumer takes: its group, its name, its pace.
#[derive(Args)]
pub struct ConsumerArgs {
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

impl ConsumerArgs {
    fn claim_after(&self) -> Duration {
        Duration::from_millis(self.claim_after_ms)
    }

    /// Runs `step` until the stream is drained (`--until-idle`) or forever, polling every
    /// 100 ms when idle; `step` returns the consumer's step and how many events it
    /// dead-lettered. Prints the tally.
    fn drive(
        &self,
        log: &EventLog,
        mut step: impl FnMut() -> Result<(Step<()>, usize)>,
    ) -> Result<()> {
        log.create_group(&self.group)?;
        let (started, mut total, mut reclaimed, mut dead) = (Instant::now(), 0, 0, 0);
        loop {
            let (done, dead_now) = step().with_context(|| format!("consuming {}", log.stream()))?;
            total += done.handled;
            reclaimed += done.reclaimed;
            dead += dead_now;
            if done.handled > 0 {
                eprintln!("{}: {total} events applied", self.name);
                continue;
            }
            if self.until_idle {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "{}: {total} events applied in {:.1} s ({reclaimed} taken over from other consumers, {dead} dead-lettered); {} pending in group {}",
            self.name,
            started.elapsed().as_secs_f64(),
            log.pending(&self.group)?,
            self.group
        );
        Ok(())
    }
}

/// A design's step report as [`ConsumerArgs::drive`] counts it.
fn tally(reclaimed: usize, handled: usize, dead_letters: usize) -> (Step<()>, usize) {
    let step = Step {
        reclaimed,
        handled,
        applied: (),
    };
    (step, dead_letters)
}

/// The registry's current recommender (what the shop's events are checked against).
fn current_recommender(
    registry: &Registry,
) -> Result<mlsd_core::design::Versioned<recommender::artifact::RecommenderServed>> {
    mlsd_core::design::load(registry, None)
        .context("while loading the current recommender (run `mlsd recommender train`)")
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
    let (_, log) = args.stream.fraud()?;
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
    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// `mlsd fraud consume`.
pub fn consume(args: &ConsumeArgs) -> Result<()> {
    let (store, log) = args.stream.fraud()?;
    if store.is_cold()? {
        // Payments apply to windows that must exist: an empty history is a history.
        warm_up(&store, &[])?;
    }
    let c = &args.consumer;
    let consumer = log.consumer(&c.group, &c.name);
    c.drive(&log, || {
        let applied =
            fraud_detector::stream::apply_batch(&consumer, &store, c.batch, c.claim_after())?;
        Ok(tally(
            applied.reclaimed,
            applied.events(),
            applied.dead_letters,
        ))
    })
}

#[derive(Args)]
pub struct ShopProduceArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Events to append: the first N of the default shop's events after the serving model's
    /// cutoff, each with its id (`shop:<n>`).
    #[arg(long, default_value_t = 10_000, value_parser = positive)]
    events: usize,
}

/// `mlsd recommender produce`.
pub fn shop_produce(registry: &Registry, args: &ShopProduceArgs) -> Result<()> {
    use recommender::sessions::ShopEvent;
    use recommender::shop::{EventKind, Shop, ShopConfig};
    let (_, log) = args.stream.recommender()?;
    let serving = current_recommender(registry)?;
    let now = serving.model.model.now;
    let shop = Shop::generate(&ShopConfig::default())?;
    let events: Vec<ShopEvent> = shop
        .events
        .iter()
        .filter(|e| e.timestamp >= now)
        .take(args.events)
        .enumerate()
        .map(|(n, e)| ShopEvent {
            event_id: Some(format!("shop:{n}")),
            user_id: e.user,
            item_id: e.item,
            kind: EventKind::from_weight(e.rating).unwrap_or(EventKind::View),
        })
        .collect();
    for chunk in events.chunks(1_000) {
        log.append(&recommender::stream::keyed(chunk))?;
    }
    println!(
        "appended {} shop events to {}; {} entries in it now",
        events.len(),
        log.stream(),
        log.entries()?
    );
    Ok(())
}

#[derive(Args)]
pub struct ShopConsumeArgs {
    #[command(flatten)]
    stream: StreamArgs,
    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// `mlsd recommender consume`: shop events into the sessions of the serving model's version.
pub fn shop_consume(registry: &Registry, args: &ShopConsumeArgs) -> Result<()> {
    let (sessions, log) = args.stream.recommender()?;
    let serving = current_recommender(registry)?;
    let model = &serving.model.model;
    let c = &args.consumer;
    let consumer = log.consumer(&c.group, &c.name);
    c.drive(&log, || {
        let applied = recommender::stream::apply_batch(
            &consumer,
            &sessions,
            model,
            &serving.version,
            c.batch,
            c.claim_after(),
        )?;
        Ok(tally(
            applied.reclaimed,
            applied.events(),
            applied.dead_letters,
        ))
    })
}

impl StreamArgs {
    /// The sentiment topic windows and the texts' log (`<prefix>:texts`).
    fn sentiment(&self) -> Result<(sentiment::topics::RedisTopics, EventLog)> {
        let (url, prefix, timeout) = self.redis(sentiment::DESIGN)?;
        let config = sentiment::serve::ServeConfig::default();
        let horizon = config.windows.iter().max().copied().unwrap_or_default();
        let topics = sentiment::topics::RedisTopics::open(&url, &prefix, horizon, timeout)?;
        let log = EventLog::new(Arc::clone(topics.redis()), format!("{prefix}:texts"));
        Ok((topics, log))
    }
}

#[derive(Args)]
pub struct TextProduceArgs {
    #[command(flatten)]
    stream: StreamArgs,
    /// Texts to append: generated gadget reviews with their topics, ids `text:<n>`.
    #[arg(long, default_value_t = 10_000, value_parser = positive)]
    texts: usize,
    /// Seed of the generated reviews.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// `mlsd sentiment produce`.
pub fn text_produce(args: &TextProduceArgs) -> Result<()> {
    let (_, log) = args.stream.sentiment()?;
    let events = sentiment::stream::generated(args.texts, args.seed);
    for chunk in events.chunks(1_000) {
        log.append(chunk)?;
    }
    println!(
        "appended {} texts to {}; {} entries in it now",
        events.len(),
        log.stream(),
        log.entries()?
    );
    Ok(())
}

#[derive(Args)]
pub struct TextConsumeArgs {
    #[command(flatten)]
    stream: StreamArgs,
    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// `mlsd sentiment consume`: texts scored by the current model into the Redis topic windows
/// that `mlsd serve sentiment --state` replicas read.
pub fn text_consume(registry: &Registry, args: &TextConsumeArgs) -> Result<()> {
    use sentiment::artifact::SentimentArtifact;
    let (topics, log) = args.stream.sentiment()?;
    let (_, model) = SentimentArtifact::load_current(registry)
        .context("no current sentiment model: run `mlsd sentiment train`")?;
    let config = sentiment::serve::ServeConfig::default();
    let limits = sentiment::stream::Limits {
        max_text_chars: config.max_text_chars,
        max_topic_chars: config.max_topic_chars,
    };
    let c = &args.consumer;
    let consumer = log.consumer(&c.group, &c.name);
    c.drive(&log, || {
        let applied = sentiment::stream::apply_batch(
            &consumer,
            &topics,
            &model,
            limits,
            c.batch,
            c.claim_after(),
        )?;
        Ok(tally(
            applied.reclaimed,
            applied.events(),
            applied.dead_letters,
        ))
    })
}
