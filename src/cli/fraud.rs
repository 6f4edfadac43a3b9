//! `mlsd fraud …`, `mlsd serve fraud`, the demo's fraud block and the fraud serving
//! benchmark: a thin layer over the fraud-detector crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use fraud_detector::config::{DriftInjection, SimulationConfig};
use fraud_detector::evaluate::render_table;
use fraud_detector::ingest::{ingest, write_accepted, IngestConfig};
use fraud_detector::pipeline::{self, PipelineConfig};
use fraud_detector::simulate::{date_to_epoch_ms, simulate, write_transactions};
use fraud_detector::train::ModelKind;
use mlsd_core::online_state::StateBackend;
use mlsd_core::registry::Registry;
use mlsd_core::report::{sha256_file, RunDir};
use mlsd_core::serve::MicroBatchConfig;
use mlsd_core::server::ServerConfig;

use super::bench::{report_bench, run_post_modes, BenchServeArgs};
use super::common::{
    emit_monitor, positive, runtime, serve_until_signal, spinner, DriftFound, LimitsArgs, StateArgs,
};

#[derive(Subcommand)]
pub enum Command {
    /// Simulate transactions (Fraud-Detection-Handbook process) into an Arrow stream (.arrows) or CSV file.
    Generate {
        /// Output file: `.arrows` (Arrow IPC stream), `.csv`, or `.parquet` with the `parquet` feature.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        sim: SimArgs,
        #[command(flatten)]
        drift: DriftArgs,
    },
    /// Validate a transaction file: accepted rows to an Arrow stream, bad rows to a quarantine CSV.
    Ingest {
        /// Input file (`.arrows`, `.csv`, or `.parquet` with the `parquet` feature).
        #[arg(long)]
        input: PathBuf,
        /// Where accepted rows go [default: <run folder>/accepted.arrows].
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
        /// Input file (`.arrows`, `.csv`, or `.parquet` with the `parquet` feature); it is validated first.
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
    /// Evaluate every model on the handbook's chapter-3 protocol, or (`--protocol ch5`) choose
    /// each family's setting on prequential validation weeks and report four test weeks
    /// (default data: the default simulation).
    Evaluate {
        /// `ch3`: one train/delay/test window, every model. `ch5`: prequential model
        /// selection (4 weekly folds; logistic regression and boosting grids; about a minute
        /// and a half).
        #[arg(long, value_enum, default_value = "ch3")]
        protocol: FraudProtocol,
        /// Evaluate on this file instead of simulating.
        #[arg(long)]
        input: Option<PathBuf>,
        #[command(flatten)]
        sim: SimArgs,
        /// Print one JSON object: {"protocol", "models": [{"name", "auc", …}]}.
        #[arg(long)]
        json: bool,
        /// Run a classic mistake beside the honest protocol and print both numbers: one of
        /// random-split, scaler-on-all-rows, label-delay-ignored, compromised-cards-kept,
        /// accuracy-at-base-rate, training-serving-skew, or `all` (a markdown table; the
        /// fraud design doc's table is this output).
        #[arg(long, value_name = "NAME")]
        mistake: Option<String>,
    },
    /// Score every transaction of a file with a registered model (features computed in
    /// batch), write scores and approve/review/block decisions to a file, print rows/s.
    /// `--engine spark` runs the same job as SQL on a Spark Connect server.
    BatchScore {
        /// Transactions to score (`.arrows`, `.csv`, or `.parquet` with the `parquet` feature); validated first.
        /// Spark reads `.csv` or `.parquet`, local or on a cluster's storage (`s3://…`).
        #[arg(long)]
        input: PathBuf,
        /// Where scored rows go (format by extension, as for the input; with Spark a Parquet
        /// folder, quarantined rows in `<output>.quarantine`).
        #[arg(long)]
        output: PathBuf,
        #[command(flatten)]
        engine: super::engine::EngineArgs,
        /// Registry version to score with [default: the current one].
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        #[command(flatten)]
        sim: SimArgs,
        #[arg(long)]
        json: bool,
    },
    /// Print the batch job as SQL (Spark SQL): validation, the 15 windowed features, the
    /// registered model with its calibration, and the decision tiers — to paste into a
    /// warehouse or run on Spark. Generated from the version's own spec and weights.
    ExportSql {
        /// The transactions' location in the warehouse (`.csv` or `.parquet`).
        #[arg(long, default_value = "transactions.csv")]
        input: String,
        /// Also write scored (and quarantined) rows there as Parquet.
        #[arg(long)]
        output: Option<String>,
        /// Registry version to export [default: the current one].
        #[arg(long)]
        version: Option<String>,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        #[command(flatten)]
        sim: SimArgs,
    },
    /// Compare the last days of a transaction file with the current model's reference
    /// profile: per-feature drift (Evidently's test choice), prediction drift, dataset drift.
    /// Writes drift.json and drift.md into a run folder.
    Monitor {
        /// Current transactions (`.arrows`, `.csv`, or `.parquet` with the `parquet` feature), with enough history for the windows.
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
        /// Exit with status 2 when dataset drift is found (for cron and CI; errors exit 1).
        #[arg(long)]
        fail_on_drift: bool,
    },
    /// Append the default world's test-week payments (and their fraud labels) to the event
    /// log on Redis Streams (`<prefix>:events`).
    Produce(super::streams::ProduceArgs),
    /// Apply the event log to the Redis feature store as one consumer of a group, taking over
    /// what dead consumers left unacknowledged; acknowledges after applying.
    Consume(super::streams::ConsumeArgs),
}

/// Operator overrides of a version's approve / review / block thresholds.
#[derive(Args, Clone, Copy)]
pub struct ThresholdArgs {
    /// Calibrated probability at or above which a payment goes to review [default: the
    /// version's own, chosen from the alert budget of 100 reviews a day]
    #[arg(long)]
    review_threshold: Option<f64>,
    /// Calibrated probability at or above which a payment is blocked [default: the version's
    /// own, 0.9]
    #[arg(long)]
    block_threshold: Option<f64>,
}

impl ThresholdArgs {
    fn get(&self) -> fraud_detector::batch::ThresholdOverride {
        fraud_detector::batch::ThresholdOverride {
            review: self.review_threshold,
            block: self.block_threshold,
        }
    }
}

/// Size of the simulated world (defaults: the handbook's).
#[derive(Args, Clone)]
pub struct SimArgs {
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
pub struct DriftArgs {
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
pub enum ModelChoice {
    Best,
    One(ModelKind),
}

pub fn parse_model(s: &str) -> Result<ModelChoice, String> {
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
    pub fn config(&self) -> SimulationConfig {
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
    pub fn injection(&self, start_date: &str) -> Result<DriftInjection> {
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

/// Ingests `path` with the validation rules of the simulated world `sim`.
pub fn ingest_file(
    path: &Path,
    sim: &SimulationConfig,
) -> Result<fraud_detector::ingest::Ingested> {
    ingest(path, &IngestConfig::for_simulation(sim)?)
        .with_context(|| format!("while ingesting {}", path.display()))
}

/// `mlsd fraud batch-score --engine spark`.
#[cfg(feature = "spark")]
#[allow(clippy::too_many_arguments)]
fn batch_on_spark(
    registry: &Registry,
    engine: &super::engine::EngineArgs,
    input: &Path,
    output: &Path,
    version: Option<String>,
    thresholds: ThresholdArgs,
    sim: &SimArgs,
    json: bool,
) -> Result<()> {
    let loaded = fraud_detector::artifact::load(registry, version.as_deref())
        .context("while loading the model to score with")?;
    let thresholds = thresholds.get().apply(loaded.artifact.thresholds())?;
    let cfg = IngestConfig::for_simulation(&sim.config())?;
    let run = super::spark_jobs::fraud_batch(
        &engine.spark_remote,
        input,
        output,
        &cfg,
        &loaded.artifact,
        &thresholds,
    )?;
    if json {
        println!("{}", serde_json::to_string(&run)?);
        return Ok(());
    }
    println!(
        "scored {} rows with {} ({}) on Spark {} in {:.2} s ({:.0} rows/s; the session's start, {:.2} s, not included) → {}",
        run.rows,
        loaded.manifest.version,
        loaded.manifest.model_name,
        run.spark_version,
        run.job_seconds,
        run.rows_per_second,
        run.session_seconds,
        output.display()
    );
    println!(
        "decisions: {}; quarantined: {}",
        run.counted("decision"),
        run.counted("quarantine")
    );
    Ok(())
}

/// `mlsd fraud …`.
pub fn run(runs_dir: &Path, registry: &Registry, cmd: Command) -> Result<()> {
    match cmd {
        Command::Produce(args) => super::streams::produce(&args),
        Command::Consume(args) => super::streams::consume(&args),
        Command::Generate { out, sim, drift } => {
            mlsd_core::frames::writable(&out)?;
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
        Command::Ingest {
            input,
            out,
            sim,
            json,
        } => {
            if let Some(out) = &out {
                mlsd_core::frames::writable(out)?;
            }
            let ingested = ingest_file(&input, &sim.config())?;
            let run_dir = RunDir::create(runs_dir, "fraud-ingest")?;
            let out = out.unwrap_or_else(|| run_dir.file("accepted.arrows"));
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
        Command::Train {
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
        Command::ExportSql {
            input,
            output,
            version,
            thresholds,
            sim,
        } => {
            let loaded = fraud_detector::artifact::load(registry, version.as_deref())
                .context("while loading the model to export")?;
            let thresholds = thresholds.get().apply(loaded.artifact.thresholds())?;
            let Some(format) = fraud_detector::export::SourceFormat::of(&input) else {
                bail!("--input must name a .csv or .parquet location, not {input}");
            };
            let script = fraud_detector::export::script(
                &input,
                format,
                &IngestConfig::for_simulation(&sim.config())?,
                &loaded.artifact,
                &thresholds,
                output.as_deref(),
            )
            .map_err(|why| anyhow::anyhow!("the model has no SQL form: {why}"))?;
            println!(
                "-- mlsd fraud batch job, model {} ({}), Spark SQL\n",
                loaded.manifest.version, loaded.manifest.model_name
            );
            print!("{}", script.render());
            Ok(())
        }
        Command::BatchScore {
            input,
            output,
            engine,
            version,
            thresholds,
            sim,
            json,
        } => {
            #[cfg(feature = "spark")]
            if engine.engine == super::engine::Engine::Spark {
                return batch_on_spark(
                    registry, &engine, &input, &output, version, thresholds, &sim, json,
                );
            }
            engine.in_process_only()?;
            mlsd_core::frames::writable(&output)?;
            let loaded = fraud_detector::artifact::load(registry, version.as_deref())
                .context("while loading the model to score with")?;
            let t = std::time::Instant::now();
            let ingested = ingest_file(&input, &sim.config())?;
            let read_seconds = t.elapsed().as_secs_f64();
            let thresholds = thresholds.get().apply(loaded.artifact.thresholds())?;
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
        Command::Monitor {
            current,
            window_days,
            version,
            sim,
            json,
            fail_on_drift,
        } => {
            let loaded = fraud_detector::artifact::load(registry, version.as_deref())
                .context("while loading the model to compare with")?;
            let ingested = ingest_file(&current, &sim.config())?;
            let report = fraud_detector::monitor::monitor(
                ingested.transactions,
                &loaded.artifact,
                &loaded.profile,
                window_days,
            )?;
            let title = format!(
                "Drift: model {} ({}) vs the last {window_days} days of {}",
                loaded.manifest.version,
                loaded.manifest.model_name,
                current.display()
            );
            let value = serde_json::to_value(&report)?;
            let run_dir = emit_monitor(runs_dir, "fraud", &title, &value, json, || {
                format!("{title}:\n\n{}", report.to_markdown())
            })?;
            mlsd_core::report::atomic_write(
                &run_dir.file("drift.md"),
                report.to_markdown().as_bytes(),
            )?;
            if fail_on_drift && report.dataset_drift {
                return Err(DriftFound {
                    share: report.drift_share,
                }
                .into());
            }
            Ok(())
        }
        Command::Evaluate {
            protocol,
            input,
            sim,
            json,
            mistake,
        } => {
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
            if let Some(name) = mistake {
                anyhow::ensure!(
                    matches!(protocol, FraudProtocol::Ch3),
                    "--mistake runs on the chapter-3 protocol (drop --protocol ch5)"
                );
                bar.set_message(format!("mistake {name}"));
                let runs = fraud_detector::mistakes::run(&[name.as_str()], &transactions, &cfg)?;
                bar.finish_and_clear();
                return super::common::print_mistakes("fraud", &runs, json);
            }
            bar.set_message("features");
            let (featured, _) = pipeline::featurize(transactions, &cfg.features)?;
            let names = cfg.features.names();
            if let FraudProtocol::Ch5 = protocol {
                use fraud_detector::model_selection::{self, Chapter5Config};
                let ch5 = Chapter5Config {
                    window: cfg.protocol.clone(),
                    ..Chapter5Config::default()
                };
                let grid = model_selection::default_grid(&cfg.models);
                let report = model_selection::chapter5(&featured, &names, &ch5, &grid, |m| {
                    bar.set_message(m.to_string())
                })?;
                bar.finish_and_clear();
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    println!(
                        "chapter-5 protocol: validation folds from {}, test folds from {} (each: 7 training days, 7 days' delay, 7 test days)\n",
                        report.validation_starts.join(", "),
                        report.test_starts.join(", ")
                    );
                    println!("{}", model_selection::render(&report));
                }
                return Ok(());
            }
            let (evaluation, _) = fraud_detector::evaluate::evaluate(
                &featured,
                &names,
                &cfg.protocol,
                &cfg.models,
                &cfg.kinds,
                |m| bar.set_message(format!("training {m}")),
            )?;
            bar.finish_and_clear();
            let run_dir = RunDir::create(runs_dir, "fraud-evaluate")?;
            let value = serde_json::to_value(&evaluation)?;
            super::common::emit_evaluation(&run_dir, &value, json, || {
                format!(
                    "chapter-3 protocol: train {} rows ({} frauds), test {} rows ({} frauds)\n\n{}",
                    evaluation.train_rows,
                    evaluation.train_frauds,
                    evaluation.test_rows,
                    evaluation.test_frauds,
                    render_table(&evaluation)
                )
            })
        }
    }
}

/// Which of the handbook's protocols `mlsd fraud evaluate` runs.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FraudProtocol {
    Ch3,
    Ch5,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    #[command(flatten)]
    thresholds: ThresholdArgs,
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
    /// history a new replica needs; without it, windows start empty). With a shared `--state`
    /// that another replica has loaded already, it is not loaded again.
    #[arg(long)]
    warm_from: Option<PathBuf>,
    /// Where the card and terminal windows live.
    #[command(flatten)]
    state: StateArgs,
    /// The simulated world whose cards and terminals are known.
    #[command(flatten)]
    sim: SimArgs,
}

/// `mlsd serve fraud`.
pub fn serve(registry: Registry, args: &ServeArgs) -> Result<()> {
    use fraud_detector::serve;
    let sim = args.sim.config();
    let mut config = serve::ServeConfig {
        thresholds: args.thresholds.get(),
        state: args.state.backend("fraud")?,
        ..serve::ServeConfig::new(IngestConfig::for_simulation(&sim)?)
    };
    config.server = ServerConfig {
        body_limit: args.body_limit,
        micro_batch: args.micro_batch.then(|| MicroBatchConfig {
            max_batch: args.micro_batch_max,
            max_wait: Duration::from_micros(args.micro_batch_wait_us),
            ..MicroBatchConfig::default()
        }),
        drift_window: args.drift_window,
        ..args.limits.apply(config.server)?
    };
    let history = match &args.warm_from {
        Some(path) => {
            fraud_detector::online::transactions_of(&ingest_file(path, &sim)?.transactions)?
        }
        None => Vec::new(),
    };
    let idle = args.limits.idle_timeout();
    runtime("server")?.block_on(async move {
        let state =
            serve::state(registry, config).context("while loading the current fraud model")?;
        let shared = state.config().state.describe();
        match state.warm_up(&history) {
            Ok(true) => eprintln!(
                "online store ({shared}) loaded with {} payments",
                history.len()
            ),
            Ok(false) => eprintln!("online store ({shared}) already loaded by another replica"),
            Err(e) => bail!("cannot load the online store ({shared}): {e}"),
        }
        if state.config().state != StateBackend::InMemory {
            state.keep_loaded(Arc::new(history), Duration::from_secs(1));
        }
        state.watch_registry();
        serve_until_signal(args.addr, serve::router(state), idle, || {}).await
    })
}

/// One `/v1/fraud/score` body per payment of the default world's test week (what `mlsd serve
/// fraud` knows the cards and terminals of), without training anything.
pub fn live_bodies() -> Result<Vec<Vec<u8>>> {
    let (transactions, _) = simulate(&SimulationConfig::default())?;
    let plan = fraud_detector::replay::test_period(&transactions, &Default::default(), 0)?;
    Ok(fraud_detector::bench::single_bodies(&plan.live)?)
}

/// What `mlsd demo` shows of the fraud design: the offline pipeline, the online replay, the
/// drift check.
#[derive(serde::Serialize)]
pub struct Demo {
    #[serde(flatten)]
    pub pipeline: pipeline::PipelineReport,
    pub serving: pipeline::ServedReplay,
    pub monitoring: pipeline::FreshWorlds,
}

/// The fraud pipeline end to end, then the API replay and the drift check.
pub fn demo(
    run_dir: &Path,
    registry: &Registry,
    sim: &SimArgs,
    replay_days: u32,
    progress: impl Fn(&str),
) -> Result<Demo> {
    let cfg = PipelineConfig {
        simulation: sim.config(),
        ..PipelineConfig::default()
    };
    let report = pipeline::run(&cfg, run_dir, registry, |stage| {
        progress(&format!("fraud pipeline: {stage}"));
    })
    .context("while running the fraud pipeline")?;
    progress("serving: replaying the test period through the API");
    let serving = pipeline::replay_through_the_api(&report, registry, &cfg, replay_days)
        .context("while replaying the test period through the API")?;
    progress("monitoring: unshifted and drifted worlds");
    let monitoring =
        pipeline::monitor_fresh_worlds(registry, &cfg).context("while checking drift")?;
    Ok(Demo {
        pipeline: report,
        serving,
        monitoring,
    })
}

/// The demo's fraud block.
pub fn print_demo(demo: &Demo, registry: &Registry) {
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
    let metric = |name: &str| {
        report
            .registered
            .metrics
            .get(name)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "5. register  {} {} (AP {:.3}) promoted to current in {}",
        report.registered.version,
        report.registered.model_name,
        metric("average_precision"),
        registry.root().display()
    );
    println!(
        "             calibrated (Platt on out-of-fold scores of the training week): calibration error on the test week {:.3} → {:.3}; review at P ≥ {:.3} (100 payments a day on the training week), block at P ≥ {:.2}",
        metric("ece_raw"),
        metric("ece_calibrated"),
        metric("review_threshold"),
        metric("block_threshold")
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
        live["window"],
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
}

/// What `mlsd bench serve --design fraud` reports beside every design's fields.
#[derive(serde::Serialize)]
struct BenchFields {
    model_version: String,
    /// Payments that warmed each server's online store before the runs.
    warmed_with: usize,
    /// The offline batch job over the same period (history included), I/O included.
    batch_job: fraud_detector::batch::BatchSummary,
}

/// `mlsd bench serve --design fraud`.
pub fn bench_serve(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
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
    let single = Arc::new(bench::single_bodies(&world.plan.live)?);
    let batched = Arc::new(bench::batch_bodies(&world.plan.live, args.batch_size)?);
    let base = serve::ServeConfig {
        max_batch: args.batch_size.max(1),
        ..serve::ServeConfig::new(world.limits.clone())
    };
    let modes = run_post_modes(
        args,
        &base.server,
        ("/v1/fraud/score", single),
        ("/v1/fraud/score/batch", batched),
        |server| {
            let config = serve::ServeConfig {
                server,
                ..base.clone()
            };
            let state = serve::state(registry.clone(), config)?;
            // Every server starts with the card and terminal windows of the history.
            state.warm_up(&world.plan.history)?;
            Ok(serve::router(state))
        },
        &bar,
    )?;
    bar.set_message("batch job");
    let loaded = fraud_detector::artifact::load(&registry, None)?;
    let batch_job = fraud_detector::batch::batch_score(
        world.plan.frame.clone(),
        &run_dir.file("scores.arrows"),
        &loaded.artifact,
        &Default::default(),
    )?;
    bar.finish_and_clear();
    let batch_job_line = format!(
        "batch job (features + scores + Arrow stream file, {} rows): {:.0} rows/s",
        batch_job.rows, batch_job.rows_per_second
    );
    let fields = BenchFields {
        model_version: world.model_version,
        warmed_with: world.plan.history.len(),
        batch_job,
    };
    report_bench(&run_dir, "fraud", args, &modes, fields, batch_job_line)
}
