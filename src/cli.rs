//! The `mlsd` command line. Each command parses its arguments into the crates' typed
//! configs, runs a pipeline stage, and prints a human summary (or one JSON object with
//! `--json`). Errors go to stderr with their causes, and the exit code is 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use fraud_detector::config::{DriftInjection, SimulationConfig};
use fraud_detector::evaluate::render_table;
use fraud_detector::ingest::{ingest, write_accepted, IngestConfig};
use fraud_detector::pipeline::{self, PipelineConfig};
use fraud_detector::simulate::{date_to_epoch_ms, simulate, write_transactions};
use fraud_detector::train::ModelKind;
use indicatif::{ProgressBar, ProgressStyle};
use mlsd_core::accelerator::ModelCost;
use mlsd_core::registry::Registry;
use mlsd_core::report::{sha256_file, RunDir};
use mlsd_core::serve::MicroBatchConfig;

mod recommender_cmd;
mod sentiment_cmd;

#[derive(Parser)]
#[command(
    name = "mlsd",
    version,
    about = "ML system-design interview answers as runnable systems",
    long_about = "ML system-design interview answers as runnable systems.\n\n\
                  Start with `mlsd demo`: it simulates card transactions, validates them, \
                  computes features, trains and evaluates six models on the \
                  Fraud-Detection-Handbook protocol, and registers the best one."
)]
struct Cli {
    /// Folder for run outputs (one sub-folder per run).
    #[arg(long, global = true, env = "MLSD_RUNS_DIR", default_value = "runs")]
    runs_dir: PathBuf,
    /// Model registry folder [default: <runs-dir>/registry].
    #[arg(long, global = true, env = "MLSD_REGISTRY")]
    registry: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the fraud pipeline end to end, then the recommender and sentiment demos, and
    /// print a summary.
    Demo(DemoArgs),
    /// The fraud detector's stages.
    #[command(subcommand)]
    Fraud(FraudCommand),
    /// The recommender's stages (MovieLens-100k from the data directory).
    #[command(subcommand)]
    Recommender(recommender_cmd::RecommenderCommand),
    /// The sentiment design: text pipeline, models from a lexicon to NBSVM, 10-fold CV,
    /// training, batch scoring, synthetic reviews.
    #[command(subcommand)]
    Sentiment(sentiment_cmd::SentimentCommand),
    /// Inspect and move the model registry's `current` pointer.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Serve a design's real-time API (the current registry version; promotions and
    /// rollbacks are picked up without a restart). Stops on Ctrl-C or SIGTERM after draining.
    #[command(subcommand)]
    Serve(ServeCommand),
    /// Benchmarks (loopback only, every run bounded in requests and time).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Real-time vs micro-batched vs batch endpoints of a design's API, served in-process:
    /// closed-loop concurrency sweep (maximum throughput), open-loop runs at a reference load
    /// and at fractions of saturation (latency corrected for coordinated omission), plus the
    /// offline batch job. Writes bench.json and bench.csv into a run folder.
    Serve(BenchServeArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Design {
    Fraud,
    Recommender,
    Sentiment,
}

#[derive(Args)]
pub struct BenchServeArgs {
    #[arg(long, value_enum)]
    design: Design,
    /// A small world and short runs (seconds, for CI smoke tests); numbers are not for quoting.
    #[arg(long)]
    quick: bool,
    /// The load every mode is compared at, in rows (payments) per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Rows per request in batch mode.
    #[arg(long, default_value_t = 100, value_parser = positive)]
    batch_size: usize,
    /// The servers shed new requests while their queueing delay (the runtime's, and the
    /// simulated model's queue) exceeds this (ms); 0 turns it off (in-flight limit only).
    #[arg(long, default_value_t = 20)]
    max_queue_delay_ms: u64,
    /// Most requests per micro-batch in microbatch mode.
    #[arg(long, default_value_t = MicroBatchConfig::default().max_batch, value_parser = positive)]
    micro_batch_max: usize,
    /// Longest wait for a micro-batch to fill in microbatch mode, in microseconds (0: take
    /// what is queued, never wait).
    #[arg(long, default_value_t = MicroBatchConfig::default().max_wait.as_micros() as u64)]
    micro_batch_wait_us: u64,
    /// Target a server already running on loopback (e.g. http://127.0.0.1:8081, started with
    /// `mlsd serve <design>` and its default world) instead of starting one per mode in-process;
    /// the modes then share it, with the server's own cache and micro-batching settings
    /// (fraud and sentiment: realtime and batch endpoints; recommender: batch and realtime
    /// lists).
    #[arg(long, value_parser = loopback_url)]
    url: Option<std::net::SocketAddr>,
    /// Put a simulated heavier model in front of the real one, on a device of its own: every
    /// model call also costs this many microseconds, whatever its size. With the real models
    /// (microseconds) HTTP saturates first; a model cost makes the model the bottleneck, well
    /// below what the load generator can offer on the same cores (the overload runs in
    /// docs/benchmarks.md). 0 with --sim-row-us 0: off. At most 10 s.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    sim_call_us: u64,
    /// The simulated model's cost per row of a call, in microseconds (at most 10 s).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    sim_row_us: u64,
    /// Print one JSON object: {"design", "modes": [{"mode", "rps", "rows_per_s", "p50_ms", "p99_ms", "errors", "shed", …}], …}.
    #[arg(long)]
    json: bool,
}

/// A limit in milliseconds where 0 means off.
fn millis_or_off(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl BenchServeArgs {
    fn max_queue_delay(&self) -> Option<Duration> {
        millis_or_off(self.max_queue_delay_ms)
    }

    /// The micro-batcher of the `microbatch` mode.
    fn micro_batch(&self) -> MicroBatchConfig {
        MicroBatchConfig {
            max_batch: self.micro_batch_max,
            max_wait: Duration::from_micros(self.micro_batch_wait_us),
            ..MicroBatchConfig::default()
        }
    }

    /// The simulated model of `--sim-call-us` / `--sim-row-us`, if any.
    fn simulated_model(&self) -> Option<ModelCost> {
        (self.sim_call_us > 0 || self.sim_row_us > 0).then(|| ModelCost {
            per_call: Duration::from_micros(self.sim_call_us),
            per_row: Duration::from_micros(self.sim_row_us),
        })
    }
}

#[derive(Subcommand)]
enum ServeCommand {
    /// POST /v1/fraud/score, /v1/fraud/score/batch, /v1/fraud/labels; GET /v1/fraud/drift,
    /// /health, /ready, /metrics, /openapi.json, /v1/models; POST
    /// /admin/models/{version}/promote, /admin/models/rollback.
    Fraud(ServeArgs),
    /// GET /v1/recommender/users/{id}/recommendations?k=&mode=batch|realtime; POST
    /// /v1/recommender/events; GET /v1/recommender/drift, /health, /ready, /metrics,
    /// /openapi.json. Fits the two-stage model on the seeded shop and runs the batch job first.
    Recommender(recommender_cmd::ServeRecommenderArgs),
    /// POST /v1/sentiment, /v1/sentiment/batch, /v1/sentiment/stream (NDJSON); GET
    /// /v1/sentiment/live?topic= (Server-Sent Events), /v1/sentiment/drift, /health, /ready,
    /// /metrics, /openapi.json. Serves the registry's current sentiment model.
    Sentiment(sentiment_cmd::ServeSentimentArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// Scores at or above this are sent to review.
    #[arg(long, default_value_t = 0.3)]
    review_threshold: f64,
    /// Scores at or above this are blocked.
    #[arg(long, default_value_t = 0.8)]
    block_threshold: f64,
    #[command(flatten)]
    limits: LimitsArgs,
    /// Largest request body, in bytes (413 above).
    #[arg(long, default_value_t = 1 << 20)]
    body_limit: usize,
    /// Gather concurrent /v1/fraud/score requests into micro-batches.
    #[arg(long)]
    micro_batch: bool,
    /// Most requests per micro-batch.
    #[arg(long, default_value_t = MicroBatchConfig::default().max_batch, value_parser = positive)]
    micro_batch_max: usize,
    /// Longest wait for a micro-batch to fill, in microseconds.
    #[arg(long, default_value_t = MicroBatchConfig::default().max_wait.as_micros() as u64)]
    micro_batch_wait_us: u64,
    /// Scored rows kept for the live drift check (GET /v1/fraud/drift).
    #[arg(long, default_value_t = 50_000)]
    drift_window: usize,
    /// Bootstrap the online feature store from this transactions file before serving (the
    /// history a new replica needs; without it, windows start empty).
    #[arg(long)]
    warm_from: Option<PathBuf>,
    /// The simulated world whose cards and terminals are known.
    #[command(flatten)]
    sim: SimArgs,
}

/// Overload protection, the same for every design's server.
#[derive(Args)]
struct LimitsArgs {
    /// Requests in flight before new ones are shed with 503.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Time budget per request, in milliseconds (503 when exceeded).
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Shed new requests with 503 while the runtime's queueing delay exceeds this many
    /// milliseconds (CPU saturation that the in-flight limit cannot see); 0 turns it off.
    #[arg(long, default_value_t = 100)]
    max_queue_delay_ms: u64,
}

impl LimitsArgs {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    fn max_queue_delay(&self) -> Option<Duration> {
        millis_or_off(self.max_queue_delay_ms)
    }
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    sim: SimArgs,
    /// Days of the test period replayed through the real-time API (at most the label
    /// delay, 7, so no live labels are needed).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=7))]
    replay_days: u32,
    /// Print the report as one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum FraudCommand {
    /// Simulate transactions (Fraud-Detection-Handbook process) into a Parquet or CSV file.
    Generate {
        /// Output file; `.csv` writes CSV, anything else Parquet.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        sim: SimArgs,
        #[command(flatten)]
        drift: DriftArgs,
    },
    /// Validate a transaction file: accepted rows to Parquet, bad rows to a quarantine CSV.
    Ingest {
        /// Input file (`.parquet` or `.csv`).
        #[arg(long)]
        input: PathBuf,
        /// Where accepted rows go [default: <run folder>/accepted.parquet].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The simulation the file should come from (defines known ids and the period).
        #[command(flatten)]
        sim: SimArgs,
        #[arg(long)]
        json: bool,
    },
    /// Train one model (or all, keeping the best by AP) on the chapter-3 training window
    /// and register it.
    Train {
        /// Input file (`.parquet` or `.csv`); it is validated first.
        #[arg(long)]
        input: PathBuf,
        /// Model to train, or `best` to train all and keep the best.
        #[arg(long, default_value = "best", value_parser = parse_model)]
        model: ModelChoice,
        /// Register without promoting to `current`.
        #[arg(long)]
        no_promote: bool,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// Evaluate every model on the chapter-3 protocol (default: the default simulation).
    Evaluate {
        /// Evaluate on this file instead of simulating.
        #[arg(long)]
        input: Option<PathBuf>,
        #[command(flatten)]
        sim: SimArgs,
        /// Print one JSON object: {"protocol", "models": [{"name", "auc", …}]}.
        #[arg(long)]
        json: bool,
    },
    /// Score every transaction of a file with a registered model (features computed in
    /// batch), write scores and approve/review/block decisions to Parquet, print rows/s.
    BatchScore {
        /// Transactions to score (`.parquet` or `.csv`); validated first.
        #[arg(long)]
        input: PathBuf,
        /// Where scored rows go (Parquet).
        #[arg(long)]
        output: PathBuf,
        /// Registry version to score with [default: the current one].
        #[arg(long)]
        version: Option<String>,
        /// Scores at or above this are sent to review.
        #[arg(long, default_value_t = 0.3)]
        review_threshold: f64,
        /// Scores at or above this are blocked.
        #[arg(long, default_value_t = 0.8)]
        block_threshold: f64,
        #[command(flatten)]
        sim: SimArgs,
        #[arg(long)]
        json: bool,
    },
    /// Compare the last days of a transaction file with the current model's reference
    /// profile: per-feature drift (Evidently's test choice), prediction drift, dataset drift.
    /// Writes drift.json and drift.md into a run folder.
    Monitor {
        /// Current transactions (`.parquet` or `.csv`), with enough history for the windows.
        #[arg(long)]
        current: PathBuf,
        /// Days at the end of the file that form the current window.
        #[arg(long, default_value_t = 7)]
        window_days: u32,
        /// Registry version to compare with [default: the current one].
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        sim: SimArgs,
        /// Print one JSON object: {"dataset_drift", "drift_share", "features": [{"name", "test", "statistic", "drift"}], …}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List versions, their metrics, and which one is current.
    List {
        #[arg(long, default_value = fraud_detector::DESIGN)]
        design: String,
        #[arg(long)]
        json: bool,
    },
    /// Make a version current (it must verify against its checksums).
    Promote {
        version: String,
        #[arg(long, default_value = fraud_detector::DESIGN)]
        design: String,
    },
    /// Move `current` back to the previously promoted version.
    Rollback {
        #[arg(long, default_value = fraud_detector::DESIGN)]
        design: String,
    },
}

/// Size of the simulated world (defaults: the handbook's).
#[derive(Args, Clone)]
struct SimArgs {
    /// Seed for every random step.
    #[arg(long, default_value_t = SimulationConfig::default().seed)]
    seed: u64,
    /// Number of customers (cards).
    #[arg(long, default_value_t = SimulationConfig::default().n_customers)]
    customers: usize,
    /// Number of terminals.
    #[arg(long, default_value_t = SimulationConfig::default().n_terminals)]
    terminals: usize,
    /// Days to simulate.
    #[arg(long, default_value_t = SimulationConfig::default().n_days)]
    days: u32,
    /// First simulated day.
    #[arg(long, default_value_t = SimulationConfig::default().start_date)]
    start_date: String,
}

/// Drift injection for monitoring experiments (all off by default).
#[derive(Args, Clone)]
struct DriftArgs {
    /// First day (YYYY-MM-DD) with drift; required by the options below.
    #[arg(long)]
    drift_from: Option<String>,
    /// Spending shift: multiply every amount from the drift day on.
    #[arg(long, default_value_t = 1.0)]
    drift_amount_factor: f64,
    /// Activity shift: multiply every card's transactions per day.
    #[arg(long, default_value_t = 1.0)]
    drift_activity_factor: f64,
    /// New fraud pattern: this many cards a day make bursts of small night-time payments at
    /// far-away terminals ("card testing", fraud scenario 4).
    #[arg(long, default_value_t = 0)]
    drift_card_testing: usize,
}

#[derive(Clone, Copy)]
enum ModelChoice {
    Best,
    One(ModelKind),
}

/// A count that must be at least 1 (batch sizes).
/// `http://127.0.0.1:8081` (or `127.0.0.1:8081`) → a loopback socket address; anything else is
/// refused: the load generator never targets another machine.
fn loopback_url(s: &str) -> Result<std::net::SocketAddr, String> {
    let host = s
        .strip_prefix("http://")
        .unwrap_or(s)
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    let addr: std::net::SocketAddr = host
        .parse()
        .map_err(|_| format!("{s:?} is not http://<loopback ip>:<port>"))?;
    mlsd_core::loadgen::ensure_loopback(addr).map_err(|e| e.to_string())?;
    Ok(addr)
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a whole number ≥ 1, got {s:?}")),
    }
}

fn parse_model(s: &str) -> Result<ModelChoice, String> {
    if s == "best" {
        return Ok(ModelChoice::Best);
    }
    ModelKind::from_name(s)
        .map(ModelChoice::One)
        .ok_or_else(|| {
            let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
            format!(
                "unknown model {s:?}; expected best or one of {}",
                names.join(", ")
            )
        })
}

impl SimArgs {
    fn config(&self) -> SimulationConfig {
        SimulationConfig {
            seed: self.seed,
            n_customers: self.customers,
            n_terminals: self.terminals,
            n_days: self.days,
            start_date: self.start_date.clone(),
            ..SimulationConfig::default()
        }
    }
}

impl DriftArgs {
    fn injection(&self, start_date: &str) -> Result<DriftInjection> {
        let from_day = match &self.drift_from {
            None => {
                if self.drift_amount_factor != 1.0
                    || self.drift_activity_factor != 1.0
                    || self.drift_card_testing > 0
                {
                    bail!("drift options need --drift-from YYYY-MM-DD");
                }
                None
            }
            Some(date) => {
                let days = (date_to_epoch_ms(date)? - date_to_epoch_ms(start_date)?) / 86_400_000;
                if days < 0 {
                    bail!("--drift-from {date} is before the simulation starts ({start_date})");
                }
                Some(days as u32)
            }
        };
        Ok(DriftInjection {
            from_day,
            amount_factor: self.drift_amount_factor,
            activity_factor: self.drift_activity_factor,
            card_testing_per_day: self.drift_card_testing,
        })
    }
}

/// A multi-threaded tokio runtime whose threads are named `name`.
fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .build()
        .with_context(|| format!("while starting the {name} runtime"))
}

/// Ingests `path` with the validation rules of the simulated world `sim`.
fn ingest_file(path: &Path, sim: &SimulationConfig) -> Result<fraud_detector::ingest::Ingested> {
    ingest(path, &IngestConfig::for_simulation(sim)?)
        .with_context(|| format!("while ingesting {}", path.display()))
}

/// A spinner on stderr (hidden when stderr is not a terminal or output is JSON).
fn spinner(hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let registry = Registry::open(
        cli.registry
            .clone()
            .unwrap_or_else(|| cli.runs_dir.join("registry")),
    );
    match cli.command {
        Command::Demo(args) => demo(&cli.runs_dir, &registry, &args),
        Command::Fraud(cmd) => fraud(&cli.runs_dir, &registry, cmd),
        Command::Recommender(cmd) => recommender_cmd::run(&cli.runs_dir, cmd),
        Command::Sentiment(cmd) => sentiment_cmd::run(&cli.runs_dir, &registry, cmd),
        Command::Models(cmd) => models(&registry, cmd),
        Command::Serve(ServeCommand::Fraud(args)) => serve_fraud(registry, &args),
        Command::Serve(ServeCommand::Recommender(args)) => recommender_cmd::serve(&args),
        Command::Serve(ServeCommand::Sentiment(args)) => sentiment_cmd::serve(&registry, &args),
        Command::Bench(BenchCommand::Serve(args)) => bench_serve(&cli.runs_dir, &args),
    }
}

fn serve_fraud(registry: Registry, args: &ServeArgs) -> Result<()> {
    use fraud_detector::serve;
    let sim = args.sim.config();
    let config = serve::ServeConfig {
        thresholds: fraud_detector::batch::DecisionThresholds {
            review: args.review_threshold,
            block: args.block_threshold,
        },
        body_limit: args.body_limit,
        max_in_flight: args.limits.max_in_flight,
        timeout: args.limits.timeout(),
        micro_batch: args.micro_batch.then(|| MicroBatchConfig {
            max_batch: args.micro_batch_max,
            max_wait: Duration::from_micros(args.micro_batch_wait_us),
            ..MicroBatchConfig::default()
        }),
        drift_window: args.drift_window,
        max_queue_delay: args.limits.max_queue_delay(),
        ..serve::ServeConfig::new(IngestConfig::for_simulation(&sim)?)
    };
    let history = match &args.warm_from {
        Some(path) => {
            fraud_detector::online::transactions_of(&ingest_file(path, &sim)?.transactions)?
        }
        None => Vec::new(),
    };
    runtime("server")?.block_on(async move {
        let state =
            serve::state(registry, config).context("while loading the current fraud model")?;
        if !history.is_empty() {
            state.warm_up(&history);
            eprintln!("online store warmed with {} payments", history.len());
        }
        serve::watch_registry(state.clone());
        serve_until_signal(args.addr, serve::router(state), || {}).await
    })
}

/// Binds `addr`, prints the bound address (scripts and tests read it), serves `router` until
/// Ctrl-C or SIGTERM, then drains in-flight requests.
async fn serve_until_signal(
    addr: std::net::SocketAddr,
    router: axum::Router,
    on_signal: impl FnOnce() + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("while binding {addr}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let shutdown = async move {
        mlsd_core::serve::shutdown_signal().await;
        on_signal();
    };
    mlsd_core::serve::serve(listener, router, shutdown).await?;
    println!("stopped after draining in-flight requests");
    Ok(())
}

/// Everything `mlsd demo` reports: the offline pipeline, the online replay, the drift check.
#[derive(serde::Serialize)]
struct DemoReport {
    #[serde(flatten)]
    pipeline: pipeline::PipelineReport,
    serving: DemoServing,
    monitoring: DemoMonitoring,
    recommender: recommender_cmd::DemoRecommender,
    sentiment: sentiment_cmd::DemoSentiment,
}

#[derive(serde::Serialize)]
struct DemoServing {
    url: String,
    model_version: String,
    warmed_with: usize,
    replay_from: String,
    replay_days: u32,
    agreement: fraud_detector::replay::Agreement,
    /// The server's own drift check over the replayed traffic (GET /v1/fraud/drift).
    live_drift: serde_json::Value,
}

#[derive(serde::Serialize)]
struct DemoMonitoring {
    drift_from: String,
    injection: String,
    unshifted: mlsd_core::drift::DriftReport,
    drifted: mlsd_core::drift::DriftReport,
}

/// What `mlsd bench serve` reports.
#[derive(serde::Serialize)]
struct BenchReport {
    design: &'static str,
    quick: bool,
    model_version: String,
    /// Payments that warmed each server's online store before the runs.
    warmed_with: usize,
    reference_rows_per_s: f64,
    micro_batch_max: usize,
    micro_batch_wait_us: u64,
    modes: Vec<mlsd_core::loadgen::ModeResult>,
    /// The offline batch job over the same period (history included), I/O included.
    batch_job: fraud_detector::batch::BatchSummary,
    run_dir: PathBuf,
}

fn bench_serve_fraud(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    use fraud_detector::{bench, serve};
    let run_dir = RunDir::create(runs_dir, "bench-serve-fraud")?;
    let registry = Registry::open(run_dir.file("registry"));
    let sim = if args.quick {
        SimulationConfig {
            n_customers: 600,
            n_terminals: 1_200,
            n_days: 140,
            ..SimulationConfig::default()
        }
    } else {
        SimulationConfig::default()
    };
    let bar = spinner(args.json);
    bar.set_message("simulating, training and registering a logistic regression");
    let world = bench::world(&sim, &registry)?;
    let plan = sweep_plan(args);
    let single = Arc::new(bench::single_bodies(&world.plan.live)?);
    let batched = Arc::new(bench::batch_bodies(&world.plan.live, args.batch_size)?);
    let config = |micro_batch: Option<MicroBatchConfig>| serve::ServeConfig {
        // Fewer permits than the load generator's connections, so overload is shed; and
        // shedding on queueing delay, which is what CPU saturation looks like.
        max_in_flight: 64,
        max_queue_delay: args.max_queue_delay(),
        max_batch: args.batch_size.max(1),
        micro_batch,
        simulated_model: args.simulated_model(),
        ..serve::ServeConfig::new(world.limits.clone())
    };
    // Servers and load generator get separate runtimes (threads): the generator's own backlog
    // must not stall the servers' tasks, and each server's queueing-delay probe must see only
    // the server's queue. They still share the machine's cores.
    let (server_rt, client_rt) = (runtime("server")?, runtime("load")?);
    let (servers, targets) = server_rt.block_on(post_modes(
        args,
        ("/v1/fraud/score", single),
        ("/v1/fraud/score/batch", batched),
        |micro_batch| {
            let state = serve::state(registry.clone(), config(micro_batch))?;
            state.warm_up(&world.plan.history);
            Ok(serve::router(state))
        },
    ))?;
    let modes = run_modes(&server_rt, &client_rt, servers, &targets, &plan, &bar)?;
    bar.set_message("batch job");
    let loaded = fraud_detector::artifact::load(&registry, None)?;
    let batch_job = fraud_detector::batch::batch_score(
        world.plan.frame.clone(),
        &run_dir.file("scores.parquet"),
        &loaded.artifact,
        &Default::default(),
    )?;
    bar.finish_and_clear();
    let report = BenchReport {
        design: "fraud",
        quick: args.quick,
        model_version: world.model_version,
        warmed_with: world.plan.history.len(),
        reference_rows_per_s: args.rate,
        micro_batch_max: args.micro_batch_max,
        micro_batch_wait_us: args.micro_batch_wait_us,
        modes,
        batch_job,
        run_dir: run_dir.path.clone(),
    };
    let batch_job_line = format!(
        "batch job (features + scores + Parquet, {} rows): {:.0} rows/s",
        report.batch_job.rows, report.batch_job.rows_per_second
    );
    report_bench(
        &run_dir,
        "fraud",
        args,
        &report.modes,
        &report,
        batch_job_line,
    )
}

/// The three modes of a scoring API as load targets — one row per request, the same through
/// the micro-batcher, and the batch endpoint — each on an in-process server built by
/// `router(micro_batch)`; or, with `--url`, one running server's two endpoints (micro-batching
/// is then that server's own setting). Call on the servers' runtime.
async fn post_modes(
    args: &BenchServeArgs,
    (single_path, single): (&str, Arc<Vec<Vec<u8>>>),
    (batch_path, batched): (&str, Arc<Vec<Vec<u8>>>),
    router: impl Fn(Option<MicroBatchConfig>) -> Result<axum::Router>,
) -> Result<(
    Vec<mlsd_core::serve::Running>,
    Vec<mlsd_core::loadgen::ModeTarget>,
)> {
    use mlsd_core::loadgen::{ModeTarget, Target};
    let modes = [
        ("realtime", None, single_path, single.clone(), 1),
        (
            "microbatch",
            Some(args.micro_batch()),
            single_path,
            single,
            1,
        ),
        ("batch", None, batch_path, batched, args.batch_size),
    ];
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for (mode, micro_batch, path, bodies, rows) in modes {
        let addr = match args.url {
            // A running server has one micro-batching setting: its endpoint is measured once.
            Some(_) if micro_batch.is_some() => continue,
            Some(addr) => addr,
            None => {
                let server = mlsd_core::serve::Running::start(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    router(micro_batch)?,
                )
                .await?;
                let addr = server.addr;
                servers.push(server);
                addr
            }
        };
        targets.push(ModeTarget {
            mode,
            target: Target::post(addr, path, bodies),
            rows_per_request: rows,
        });
    }
    Ok((servers, targets))
}

fn bench_serve(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    if args.url.is_some() && args.simulated_model().is_some() {
        bail!("--sim-call-us and --sim-row-us apply to in-process servers; a server given by --url runs its own model");
    }
    match args.design {
        Design::Fraud => bench_serve_fraud(runs_dir, args),
        Design::Recommender => recommender_cmd::bench_serve(runs_dir, args),
        Design::Sentiment => sentiment_cmd::bench_serve(runs_dir, args),
    }
}

/// Drives every mode's target from the load runtime, then stops the in-process servers
/// (draining them).
fn run_modes(
    server_rt: &tokio::runtime::Runtime,
    client_rt: &tokio::runtime::Runtime,
    servers: Vec<mlsd_core::serve::Running>,
    targets: &[mlsd_core::loadgen::ModeTarget],
    plan: &mlsd_core::loadgen::SweepPlan,
    bar: &ProgressBar,
) -> Result<Vec<mlsd_core::loadgen::ModeResult>> {
    let modes = client_rt.block_on(mlsd_core::loadgen::compare_modes(targets, plan, |m| {
        bar.set_message(m.to_string())
    }))?;
    server_rt.block_on(async {
        for server in servers {
            server.stop().await?;
        }
        anyhow::Ok(())
    })?;
    Ok(modes)
}

/// The runs every `bench serve` design makes: a short smoke test with `--quick`.
fn sweep_plan(args: &BenchServeArgs) -> mlsd_core::loadgen::SweepPlan {
    use mlsd_core::loadgen::SweepPlan;
    if args.quick {
        SweepPlan {
            concurrency: vec![1, 8],
            reference_rows_per_s: args.rate,
            saturation_fractions: vec![0.5, 2.0],
            step: Duration::from_millis(500),
            max_requests: 5_000,
            connections: 128,
        }
    } else {
        SweepPlan {
            concurrency: vec![1, 2, 4, 8, 16, 32, 64],
            reference_rows_per_s: args.rate,
            saturation_fractions: vec![0.25, 0.5, 0.75, 0.9, 1.0, 2.0],
            step: Duration::from_secs(3),
            max_requests: 200_000,
            connections: 128,
        }
    }
}

/// Writes bench.json, bench.csv and the latency plots (SVG and PNG) into the run folder, then
/// prints the report as one JSON object (`--json`) or as the headline table, the design's
/// batch-job line and where the files are.
fn report_bench(
    run_dir: &RunDir,
    design: &str,
    args: &BenchServeArgs,
    modes: &[mlsd_core::loadgen::ModeResult],
    report: &impl serde::Serialize,
    batch_job_line: String,
) -> Result<()> {
    let mut json = serde_json::to_value(report)?;
    if let (Some(cost), Some(fields)) = (args.simulated_model(), json.as_object_mut()) {
        fields.insert(
            "simulated_model".into(),
            serde_json::json!({
                "per_call_us": cost.per_call.as_micros(),
                "per_row_us": cost.per_row.as_micros(),
            }),
        );
    }
    mlsd_core::report::write_json(&run_dir.file("bench.json"), &json)?;
    mlsd_core::report::atomic_write(
        &run_dir.file("bench.csv"),
        mlsd_core::loadgen::to_csv(modes).as_bytes(),
    )?;
    for (name, chart) in mlsd_core::loadgen::charts(design, modes) {
        mlsd_core::report::atomic_write(
            &run_dir.file(&format!("{name}.svg")),
            chart.to_svg().as_bytes(),
        )?;
        mlsd_core::report::atomic_write(&run_dir.file(&format!("{name}.png")), &chart.to_png())?;
    }
    if args.json {
        println!("{json}");
        return Ok(());
    }
    print_bench(&format!("{design} API"), args, modes);
    println!(
        "{batch_job_line}{}",
        if args.simulated_model().is_some() {
            " (the real model only: the simulated cost is not applied to the batch job)"
        } else {
            ""
        }
    );
    println!(
        "\nEvery run: {}; plots: latency_closed_loop.svg/.png, latency_open_loop.svg/.png",
        run_dir.file("bench.csv").display()
    );
    Ok(())
}

/// The headline table of a serving benchmark.
fn print_bench(what: &str, args: &BenchServeArgs, modes: &[mlsd_core::loadgen::ModeResult]) {
    println!(
        "mlsd bench serve — {what} in-process on loopback (client and server share this machine's cores){}{}\n",
        match args.simulated_model() {
            Some(cost) => format!(
                "; SIMULATED model cost {} µs per call + {} µs per row",
                cost.per_call.as_micros(),
                cost.per_row.as_micros()
            ),
            None => String::new(),
        },
        if args.quick { "; QUICK: smoke test, not for quoting" } else { "" }
    );
    let rows: Vec<Vec<String>> = modes
        .iter()
        .map(|m| {
            vec![
                m.mode.to_string(),
                m.rows_per_request.to_string(),
                format!("{:.0}", m.rps),
                format!("{:.0}", m.rows_per_s),
                format!("{:.3}", m.p50_ms),
                format!("{:.3}", m.p99_ms),
                m.errors.to_string(),
                m.shed.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        mlsd_core::report::markdown_table(
            &[
                "mode",
                "rows/request",
                "max req/s",
                "max rows/s",
                &format!("p50 ms @ {} rows/s", args.rate),
                &format!("p99 ms @ {} rows/s", args.rate),
                "errors",
                "shed (503)",
            ],
            &rows
        )
    );
}

fn demo(runs_dir: &Path, registry: &Registry, args: &DemoArgs) -> Result<()> {
    let run_dir = RunDir::create(runs_dir, "demo").context("while creating the run folder")?;
    let cfg = PipelineConfig {
        simulation: args.sim.config(),
        ..PipelineConfig::default()
    };
    let bar = spinner(args.json);
    let report = pipeline::run(&cfg, &run_dir.path, registry, |stage| {
        bar.set_message(format!("fraud pipeline: {stage}"));
    })
    .context("while running the fraud pipeline")?;
    bar.set_message("serving: replaying the test period through the API");
    let serving = demo_serving(&report, registry, &cfg, args.replay_days)
        .context("while replaying the test period through the API")?;
    bar.set_message("monitoring: unshifted and drifted worlds");
    let monitoring = demo_monitoring(registry, &cfg).context("while checking drift")?;
    let recommender = recommender_cmd::demo(|stage| bar.set_message(stage.to_string()))
        .context("while running the recommender demo")?;
    let sentiment = sentiment_cmd::demo(registry, |stage| bar.set_message(stage.to_string()))
        .context("while running the sentiment demo")?;
    bar.finish_and_clear();
    let demo = DemoReport {
        pipeline: report,
        serving,
        monitoring,
        recommender,
        sentiment,
    };
    mlsd_core::report::write_json(&run_dir.file("demo.json"), &demo)?;
    if args.json {
        println!("{}", serde_json::to_string(&demo)?);
        return Ok(());
    }
    print_demo(&demo, registry);
    Ok(())
}

/// Starts the API in-process, warms its online store with the history before the test
/// period, replays the first `days` test days one request at a time, and compares the
/// answers with batch scores of the same payments.
fn demo_serving(
    report: &pipeline::PipelineReport,
    registry: &Registry,
    cfg: &PipelineConfig,
    days: u32,
) -> Result<DemoServing> {
    use fraud_detector::{replay, serve};
    let data = report.run_dir.join("transactions.parquet");
    let transactions = ingest_file(&data, &cfg.simulation)?.transactions;
    let p = &cfg.protocol;
    let from = p.test_start_ms()?;
    let to = from + i64::from(days) * 86_400_000;
    let plan = replay::plan(&transactions, from, to, cfg.features.history_days())?;
    drop(transactions);
    let config = serve::ServeConfig::new(IngestConfig::for_simulation(&cfg.simulation)?);
    let (answers, live_drift, url, version) = runtime("demo")?.block_on(async {
        let state = serve::state(registry.clone(), config)?;
        state.warm_up(&plan.history);
        let server = mlsd_core::serve::Running::start(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            serve::router(state.clone()),
        )
        .await?;
        let answers = replay::replay(server.addr, &plan.live).await?;
        let mut client = mlsd_core::loadgen::Client::connect(server.addr).await?;
        let drift = client.request("GET", "/v1/fraud/drift", None).await?;
        let live_drift: serde_json::Value = serde_json::from_slice(&drift.body)?;
        let url = format!("http://{}", server.addr);
        server.stop().await?;
        anyhow::Ok((answers, live_drift, url, state.serving_version()))
    })?;
    let loaded = fraud_detector::artifact::load(registry, Some(&version))?;
    let agreement = replay::compare(&plan, &answers, &loaded.artifact, &Default::default())?;
    Ok(DemoServing {
        url,
        model_version: version,
        warmed_with: plan.history.len(),
        replay_from: epoch_ms_to_date(from),
        replay_days: days,
        agreement,
        live_drift,
    })
}

fn epoch_ms_to_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Monitors the last week of two fresh worlds against the current model's profile: one
/// unshifted, one with spending, activity and a new fraud pattern injected two weeks
/// before its end.
fn demo_monitoring(registry: &Registry, cfg: &PipelineConfig) -> Result<DemoMonitoring> {
    let loaded = fraud_detector::artifact::load(registry, None)?;
    let sim = SimulationConfig {
        seed: cfg.simulation.seed + 1,
        ..cfg.simulation.clone()
    };
    let drift_day = sim.n_days.saturating_sub(14);
    let injection = DriftInjection {
        from_day: Some(drift_day),
        amount_factor: 1.5,
        activity_factor: 1.5,
        card_testing_per_day: sim.n_customers / 100,
    };
    let check = |drift: DriftInjection| -> Result<mlsd_core::drift::DriftReport> {
        let (transactions, _) = simulate(&SimulationConfig {
            drift,
            ..sim.clone()
        })?;
        Ok(fraud_detector::monitor::monitor(
            transactions,
            &loaded.artifact.spec,
            &loaded.profile,
            &loaded.artifact.model,
            7,
        )?)
    };
    Ok(DemoMonitoring {
        drift_from: epoch_ms_to_date(
            date_to_epoch_ms(&sim.start_date)? + i64::from(drift_day) * 86_400_000,
        ),
        injection: format!(
            "amounts ×{}, payments per card ×{}, {} card-testing cards a day",
            injection.amount_factor, injection.activity_factor, injection.card_testing_per_day
        ),
        unshifted: check(DriftInjection::default())?,
        drifted: check(injection)?,
    })
}

fn print_demo(demo: &DemoReport, registry: &Registry) {
    let report = &demo.pipeline;
    let s = &report.simulation;
    let v = &report.validation;
    let t = &report.timings;
    println!(
        "mlsd demo — fraud detector (Fraud-Detection-Handbook simulator, chapter-3 protocol)\n"
    );
    println!(
        "1. simulate  {} transactions, {} frauds ({:.3} %) in {:.1} s  [published: {} / {} ({:.3} %)]",
        s.transactions,
        s.frauds,
        100.0 * s.fraud_rate,
        t.simulate_seconds,
        s.published_transactions,
        s.published_frauds,
        100.0 * s.published_frauds as f64 / s.published_transactions as f64
    );
    println!(
        "2. ingest    {} rows: {} accepted, {} quarantined {:?}",
        v.input_rows, v.accepted_rows, v.quarantined_rows, v.quarantined_by_reason
    );
    println!(
        "3. features  15 features in {:.2} s ({:.0} rows/s)",
        t.features_seconds, t.feature_rows_per_second
    );
    let e = &report.evaluation;
    println!(
        "4. evaluate  train {} rows ({} frauds), test {} rows ({} frauds) after removing known-compromised cards\n",
        e.train_rows, e.train_frauds, e.test_rows, e.test_frauds
    );
    println!("{}", render_table(e));
    println!(
        "5. register  {} {} (AP {:.3}) promoted to current in {}",
        report.registered.version,
        report.registered.model_name,
        report
            .registered
            .metrics
            .get("average_precision")
            .copied()
            .unwrap_or(f64::NAN),
        registry.root().display()
    );
    let sv = &demo.serving;
    let a = &sv.agreement;
    println!(
        "6. serve     {} serving {}; online store warmed with {} earlier payments",
        sv.url, sv.model_version, sv.warmed_with
    );
    println!(
        "             replayed {} day(s) from {}: {} payments, one request at a time: p50 {:.3} ms, p99 {:.3} ms (client side, HTTP included)",
        sv.replay_days, sv.replay_from, a.replayed, a.p50_ms, a.p99_ms
    );
    println!(
        "             API vs batch: max |Δscore| = {:e} over {} payments ({} same-second card ties not comparable); decisions differ on {}",
        a.max_abs_diff, a.compared, a.same_second_ties, a.decision_mismatches
    );
    println!(
        "             decisions: {} approve, {} review, {} block",
        a.decisions[0], a.decisions[1], a.decisions[2]
    );
    let live = &sv.live_drift;
    println!(
        "             live drift window (GET /v1/fraud/drift): {} rows, drift share {}, dataset drift {}",
        live["window_rows"],
        live["report"]["drift_share"]
            .as_f64()
            .map_or("n/a".to_string(), |x| format!("{x:.2}")),
        live["report"]["dataset_drift"]
    );
    let m = &demo.monitoring;
    println!(
        "7. monitor   last 7 days of two fresh worlds vs {}'s training profile (drift injected from {}: {})",
        sv.model_version, m.drift_from, m.injection
    );
    for (name, r) in [("unshifted", &m.unshifted), ("drifted", &m.drifted)] {
        let drifted: Vec<&str> = r
            .features
            .iter()
            .filter(|f| f.drift)
            .map(|f| f.name.as_str())
            .collect();
        println!(
            "             {name:<9}  dataset drift {:<5}  share {:.2} ({} of {} features), prediction drift {}{}",
            r.dataset_drift,
            r.drift_share,
            drifted.len(),
            r.features.len(),
            r.prediction.as_ref().is_some_and(|p| p.drift),
            if drifted.is_empty() {
                String::new()
            } else {
                format!(": {}", drifted.join(", "))
            }
        );
    }
    recommender_cmd::print_demo(&demo.recommender);
    sentiment_cmd::print_demo(&demo.sentiment);
    println!("\nRun folder: {}", report.run_dir.display());
}

fn fraud(runs_dir: &Path, registry: &Registry, cmd: FraudCommand) -> Result<()> {
    match cmd {
        FraudCommand::Generate { out, sim, drift } => {
            let mut cfg = sim.config();
            cfg.drift = drift.injection(&cfg.start_date)?;
            let t = std::time::Instant::now();
            let (mut df, summary) = simulate(&cfg).context("while simulating")?;
            write_transactions(&mut df, &out)
                .with_context(|| format!("while writing {}", out.display()))?;
            println!(
                "wrote {}: {} transactions, {} frauds ({:.3} %) in {:.2} s [published default run: {} / {}]",
                out.display(),
                summary.transactions,
                summary.frauds,
                100.0 * summary.fraud_rate,
                t.elapsed().as_secs_f64(),
                summary.published_transactions,
                summary.published_frauds
            );
            println!("frauds by scenario: {:?}", &summary.frauds_by_scenario[1..]);
            Ok(())
        }
        FraudCommand::Ingest {
            input,
            out,
            sim,
            json,
        } => {
            let ingested = ingest_file(&input, &sim.config())?;
            let run_dir = RunDir::create(runs_dir, "fraud-ingest")?;
            let out = out.unwrap_or_else(|| run_dir.file("accepted.parquet"));
            let mut accepted = ingested.transactions;
            write_accepted(&mut accepted, &out)?;
            ingested
                .quarantine
                .write_csv(&run_dir.file("quarantine.csv"))?;
            mlsd_core::report::write_json(&run_dir.file("validation.json"), &ingested.report)?;
            if json {
                println!("{}", serde_json::to_string(&ingested.report)?);
            } else {
                let r = &ingested.report;
                println!(
                    "{} rows: {} accepted → {}, {} quarantined → {}",
                    r.input_rows,
                    r.accepted_rows,
                    out.display(),
                    r.quarantined_rows,
                    run_dir.file("quarantine.csv").display()
                );
                for (reason, n) in &r.quarantined_by_reason {
                    println!("  {reason}: {n}");
                }
            }
            Ok(())
        }
        FraudCommand::Train {
            input,
            model,
            no_promote,
            sim,
        } => {
            let mut cfg = PipelineConfig {
                simulation: sim.config(),
                ..PipelineConfig::default()
            };
            if let ModelChoice::One(kind) = model {
                cfg.kinds = vec![kind];
            }
            let ingested = ingest_file(&input, &cfg.simulation)?;
            let bar = spinner(false);
            bar.set_message("features");
            let (featured, _) = pipeline::featurize(ingested.transactions, &cfg.features)?;
            let (evaluation, manifest) = pipeline::evaluate_and_register(
                &featured,
                &sha256_file(&input)?,
                &cfg,
                registry,
                !no_promote,
                |m| bar.set_message(format!("training {m}")),
            )?;
            bar.finish_and_clear();
            println!("{}", render_table(&evaluation));
            println!(
                "registered {} {} in {}{}",
                manifest.version,
                manifest.model_name,
                registry.root().display(),
                if no_promote { "" } else { " (now current)" }
            );
            Ok(())
        }
        FraudCommand::BatchScore {
            input,
            output,
            version,
            review_threshold,
            block_threshold,
            sim,
            json,
        } => {
            let loaded = fraud_detector::artifact::load(registry, version.as_deref())
                .context("while loading the model to score with")?;
            let t = std::time::Instant::now();
            let ingested = ingest_file(&input, &sim.config())?;
            let read_seconds = t.elapsed().as_secs_f64();
            let thresholds = fraud_detector::batch::DecisionThresholds {
                review: review_threshold,
                block: block_threshold,
            };
            let mut summary = fraud_detector::batch::batch_score(
                ingested.transactions,
                &output,
                &loaded.artifact,
                &thresholds,
            )?;
            // Rows/s with I/O: reading and validating the input counts too.
            summary.seconds += read_seconds;
            summary.rows_per_second = summary.rows as f64 / summary.seconds.max(1e-9);
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                println!(
                    "scored {} rows with {} ({}) in {:.2} s ({:.0} rows/s, I/O included) → {}",
                    summary.rows,
                    loaded.manifest.version,
                    loaded.manifest.model_name,
                    summary.seconds,
                    summary.rows_per_second,
                    output.display()
                );
                println!(
                    "decisions: {} approve, {} review, {} block (quarantined on input: {})",
                    summary.approve,
                    summary.review,
                    summary.block,
                    ingested.report.quarantined_rows
                );
            }
            Ok(())
        }
        FraudCommand::Monitor {
            current,
            window_days,
            version,
            sim,
            json,
        } => {
            let loaded = fraud_detector::artifact::load(registry, version.as_deref())
                .context("while loading the model to compare with")?;
            let ingested = ingest_file(&current, &sim.config())?;
            let report = fraud_detector::monitor::monitor(
                ingested.transactions,
                &loaded.artifact.spec,
                &loaded.profile,
                &loaded.artifact.model,
                window_days,
            )?;
            let run_dir = RunDir::create(runs_dir, "fraud-monitor")?;
            mlsd_core::report::write_json(&run_dir.file("drift.json"), &report)?;
            mlsd_core::report::atomic_write(
                &run_dir.file("drift.md"),
                report.to_markdown().as_bytes(),
            )?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "model {} ({}) vs the last {window_days} days of {}:\n",
                    loaded.manifest.version,
                    loaded.manifest.model_name,
                    current.display()
                );
                println!("{}", report.to_markdown());
                println!("Report: {}", run_dir.path.display());
            }
            Ok(())
        }
        FraudCommand::Evaluate { input, sim, json } => {
            let cfg = PipelineConfig {
                simulation: sim.config(),
                ..PipelineConfig::default()
            };
            let bar = spinner(json);
            let transactions = match &input {
                Some(path) => {
                    bar.set_message("ingest");
                    let ingested = ingest_file(path, &cfg.simulation)?;
                    ingested.transactions
                }
                None => {
                    bar.set_message("simulate");
                    simulate(&cfg.simulation)?.0
                }
            };
            bar.set_message("features");
            let (featured, _) = pipeline::featurize(transactions, &cfg.features)?;
            let names = cfg.features.names();
            let (evaluation, _) = fraud_detector::evaluate::evaluate(
                &featured,
                &names,
                &cfg.protocol,
                &cfg.models,
                &cfg.kinds,
                |m| bar.set_message(format!("training {m}")),
            )?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&evaluation)?);
            } else {
                println!(
                    "chapter-3 protocol: train {} rows ({} frauds), test {} rows ({} frauds)\n",
                    evaluation.train_rows,
                    evaluation.train_frauds,
                    evaluation.test_rows,
                    evaluation.test_frauds
                );
                println!("{}", render_table(&evaluation));
            }
            Ok(())
        }
    }
}

fn models(registry: &Registry, cmd: ModelsCommand) -> Result<()> {
    match cmd {
        ModelsCommand::List { design, json } => {
            let versions = registry.list(&design)?;
            if json {
                println!("{}", serde_json::to_string(&versions)?);
                return Ok(());
            }
            if versions.is_empty() {
                println!("no {design} models in {}", registry.root().display());
            }
            for v in versions {
                let mark = if v.is_current { "*" } else { " " };
                match (&v.manifest, &v.problem) {
                    (Some(m), _) => println!(
                        "{mark} {}  {:<22} {}  created {}  data {}",
                        v.version,
                        m.model_name,
                        // The design's headline metric: AP for fraud, else every metric.
                        match m.metrics.get("average_precision") {
                            Some(ap) => format!("AP {ap:.3}"),
                            None => m
                                .metrics
                                .iter()
                                .map(|(k, v)| format!("{k} {v:.3}"))
                                .collect::<Vec<_>>()
                                .join(", "),
                        },
                        m.created_at,
                        &m.training_data_sha256[..m.training_data_sha256.len().min(12)]
                    ),
                    (None, Some(p)) => println!("{mark} {}  BROKEN: {p}", v.version),
                    (None, None) => println!("{mark} {}", v.version),
                }
            }
            Ok(())
        }
        ModelsCommand::Promote { version, design } => {
            let p = registry.promote(&design, &version)?;
            println!("{design}: current is now {}", p.current.unwrap_or_default());
            Ok(())
        }
        ModelsCommand::Rollback { design } => {
            let p = registry.rollback(&design)?;
            println!(
                "{design}: rolled back, current is now {}",
                p.current.unwrap_or_default()
            );
            Ok(())
        }
    }
}
