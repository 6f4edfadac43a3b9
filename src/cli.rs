//! The `mlsd` command line. Each command parses its arguments into the crates' typed
//! configs, runs a pipeline stage, and prints a human summary (or one JSON object with
//! `--json`). Errors go to stderr with their causes, and the exit code is 1.

//!
//! One module per design, each exporting the same items — `Command` and `run` (its
//! subcommands), `ServeArgs` and `serve`, `Demo`, `demo` and `print_demo` (its demo section),
//! `bench_serve` (its serving-benchmark traffic) — and the shared parts beside them: `common`
//! (parsers, runtime, limits, the serve loop), `bench` (the benchmark harness), `models` (the
//! registry), `demo` (every design's section in turn). This file only dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mlsd_core::registry::Registry;

mod common;
mod engine;
#[cfg(feature = "spark")]
mod spark_jobs;
mod streams;
mod logs;
mod bench;
mod capacity;
mod capacity_report;
mod models;
mod demo;
mod fraud;
mod interview;
mod interview_live;
mod recommender;
mod sentiment;
mod maintenance;
mod newsfeed;
mod operate;

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
    /// Log lines as text or one JSON object per line (stderr; `RUST_LOG` picks what, e.g.
    /// `info`; `mlsd serve` logs every request at `info` by default, other commands `warn`).
    #[arg(
        long,
        global = true,
        env = "MLSD_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: logs::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the fraud pipeline end to end, then the recommender and sentiment demos, and
    /// print a summary.
    Demo(demo::DemoArgs),
    /// The fraud detector's stages.
    #[command(subcommand)]
    Fraud(fraud::Command),
    /// The recommender's stages: MovieLens-100k protocols from the data directory, the seeded
    /// shop's training, evaluation and batch job.
    #[command(subcommand)]
    Recommender(recommender::Command),
    /// The sentiment design: text pipeline, models from a lexicon to NBSVM, 10-fold CV,
    /// training, batch scoring, synthetic reviews.
    #[command(subcommand)]
    Sentiment(sentiment::Command),
    /// Predictive maintenance: C-MAPSS and AI4I protocols from the data directory, the fleet
    /// simulator's policies (run to failure, fixed interval, predictive), training, the
    /// nightly batch job, sensor drift.
    #[command(subcommand)]
    Maintenance(maintenance::Command),
    /// Personalized news feed: the MIND protocol from the data directory, the news
    /// simulator's experiments (objectives, position bias, feedback loops, A/B vs interleaving).
    #[command(subcommand)]
    Newsfeed(newsfeed::Command),
    /// The production loop replayed over simulated days: late labels, a label-free estimate,
    /// retraining (never / scheduled / triggered), shadow and canary gates, a deliberately
    /// broken candidate. Writes report.json, decisions-<policy>.jsonl and a plot.
    Operate(operate::OperateArgs),
    /// Inspect and move the model registry's `current` pointer.
    #[command(subcommand)]
    Models(models::Command),
    /// Serve a design's real-time API (the current registry version; promotions and
    /// rollbacks are picked up without a restart). Stops on Ctrl-C or SIGTERM after draining.
    #[command(subcommand)]
    Serve(ServeCommand),
    /// Benchmarks (loopback only, every run bounded in requests and time).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Regenerate docs/talking-points.md (the interview's talking points × every design: code
    /// line, test, measured number, or why not built) from the code's `// Talking point [key]:`
    /// markers and src/talking_points/cells.rs; `--check` only reports what dangles or is stale.
    TalkingPoints(TalkingPointsArgs),
    /// A sizing estimate for a peak load: cores, replicas behind a load balancer, online-state
    /// memory, events stored a day and cost a day, from this machine's measured figures (the
    /// latest `mlsd bench serve` run, or a quick one now), with every assumption printed.
    Capacity(capacity::CapacityArgs),
    /// Walk a design's answer in interview order (requirements → framing → data → model →
    /// evaluation → serving → monitoring → scaling → trade-offs): each talking point with its
    /// code line, test and number — run live now where a quick command measures it — then the
    /// questions asked next and where the code answers them. `--time 45` trims it to fit.
    Interview(interview::InterviewArgs),
}

#[derive(clap::Args)]
struct TalkingPointsArgs {
    /// The repository's root (the index links relative to it).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Write nothing; fail when the committed file is stale or anything dangles.
    #[arg(long)]
    check: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Real-time vs micro-batched vs batch endpoints of a design's API, served in-process:
    /// closed-loop concurrency sweep (maximum throughput), open-loop runs at a reference load
    /// and at fractions of saturation (latency corrected for coordinated omission), plus the
    /// offline batch job. Writes bench.json and bench.csv into a run folder.
    Serve(bench::BenchServeArgs),
    /// One open-loop run at a fixed rate against a running server or load balancer (--url):
    /// every request's fate counted (2xx, 503, other status, failed connection). For failover
    /// runs (`scripts/scale-out.sh` kills a replica in the middle of one).
    Load(bench::BenchLoadArgs),
}

/// Every server also answers GET /health, /ready, /metrics, /openapi.json, /docs, /v1/models
/// and, with an admin token (--admin-token-file or MLSD_ADMIN_TOKEN), POST
/// /admin/models/{version}/promote and /admin/models/rollback; it follows the registry.
#[derive(Subcommand)]
enum ServeCommand {
    /// POST /v1/fraud/score, /v1/fraud/score/batch, /v1/fraud/labels; GET /v1/fraud/drift.
    Fraud(fraud::ServeArgs),
    /// GET /v1/recommender/users/{id}/recommendations?k=&mode=batch|realtime; POST
    /// /v1/recommender/events; GET /v1/recommender/drift. Serves the registry's current
    /// recommender (`mlsd recommender train`) with the snapshot registered beside it.
    Recommender(recommender::ServeArgs),
    /// POST /v1/sentiment, /v1/sentiment/batch, /v1/sentiment/stream (NDJSON); GET
    /// /v1/sentiment/live?topic= (Server-Sent Events), /v1/sentiment/drift. Serves the
    /// registry's current sentiment model.
    Sentiment(sentiment::ServeArgs),
    /// POST /v1/maintenance/readings, /v1/maintenance/readings/stream (NDJSON),
    /// /v1/maintenance/machines/{id}/events, /v1/maintenance/score, /v1/maintenance/score/batch;
    /// GET /v1/maintenance/machines/{id}, /v1/maintenance/alerts, /v1/maintenance/drift.
    Maintenance(maintenance::ServeArgs),
    /// GET /v1/newsfeed/users/{id}/feed?k=, /v1/newsfeed/drift; POST /v1/newsfeed/articles,
    /// /v1/newsfeed/events. Serves the registry's current feed from its snapshot.
    Newsfeed(newsfeed::ServeArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.command {
        Command::Serve(_) => tracing::Level::INFO,
        _ => tracing::Level::WARN,
    };
    logs::init(level, cli.log_format);
    mlsd_core::design::set_code_version(code_version());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<common::DriftFound>() => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The crate version and, when built from a git checkout, the commit (`0.1.0+1a2b3c4d5e6f`,
/// with `-dirty` when the tree had uncommitted changes): what a registered model records.
fn code_version() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("MLSD_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => format!("{version}+{commit}"),
        _ => version.to_string(),
    }
}

fn run(cli: Cli) -> Result<()> {
    let runs_dir = &cli.runs_dir;
    let registry = Registry::open(cli.registry.unwrap_or_else(|| runs_dir.join("registry")));
    match cli.command {
        Command::Demo(args) => demo::run(runs_dir, &registry, &args),
        Command::Fraud(cmd) => fraud::run(runs_dir, &registry, cmd),
        Command::Recommender(cmd) => recommender::run(runs_dir, &registry, cmd),
        Command::Sentiment(cmd) => sentiment::run(runs_dir, &registry, cmd),
        Command::Maintenance(cmd) => maintenance::run(runs_dir, &registry, cmd),
        Command::Newsfeed(cmd) => newsfeed::run(runs_dir, &registry, cmd),
        Command::Operate(args) => operate::run(runs_dir, &args),
        Command::Models(cmd) => models::run(&registry, cmd),
        Command::Serve(ServeCommand::Fraud(args)) => fraud::serve(registry, &args),
        Command::Serve(ServeCommand::Recommender(args)) => recommender::serve(registry, &args),
        Command::Serve(ServeCommand::Sentiment(args)) => sentiment::serve(registry, &args),
        Command::Serve(ServeCommand::Maintenance(args)) => maintenance::serve(registry, &args),
        Command::Serve(ServeCommand::Newsfeed(args)) => newsfeed::serve(registry, &args),
        Command::Bench(BenchCommand::Serve(args)) => bench::run(runs_dir, &args),
        Command::Bench(BenchCommand::Load(args)) => bench::load(&args),
        Command::TalkingPoints(args) => talking_points(&args),
        Command::Capacity(args) => capacity::run(runs_dir, &args),
        Command::Interview(args) => interview::run(runs_dir, &args),
    }
}

fn talking_points(args: &TalkingPointsArgs) -> Result<()> {
    use crate::talking_points::{check, render, INDEX};
    let problems = check(&args.root)?;
    for p in &problems {
        eprintln!("dangling: {p}");
    }
    let fresh = render(&args.root)?;
    let path = args.root.join(INDEX);
    if args.check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != fresh {
            anyhow::bail!("{} is stale: run `mlsd talking-points`", path.display());
        }
    } else {
        std::fs::write(&path, &fresh)?;
        println!("wrote {}", path.display());
    }
    anyhow::ensure!(
        problems.is_empty(),
        "{} problems in the talking-point index",
        problems.len()
    );
    Ok(())
}
