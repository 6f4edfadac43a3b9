//! `mlsd recommender …` and `mlsd serve recommender`: a thin layer over the recommender crate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mlsd_core::report::RunDir;
use recommender::batch::Snapshot;
use recommender::pipeline::World;
use recommender::shop::ShopConfig;
use recommender::two_stage::TwoStageConfig;

use super::{runtime, spinner};

#[derive(Subcommand)]
pub enum RecommenderCommand {
    /// Evaluate the models on a published MovieLens-100k protocol, beside the published table.
    Evaluate {
        /// `surprise`: 5-fold CV, RMSE / MAE / seconds. `recommenders`: 75/25 split stratified
        /// by item, top-10 precision, recall, nDCG, MAP.
        #[arg(long, value_enum)]
        protocol: Protocol,
        /// Folder holding `movielens-100k/` (never copied into the repository).
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Print one JSON object: {"protocol", "models": [{"name", …}]}.
        #[arg(long)]
        json: bool,
    },
    /// The batch job alone: fit the two-stage model on the seeded shop, precompute every
    /// user's top 50 into a snapshot file (`mlsd serve recommender --snapshot` loads it).
    Batch {
        /// Where to write the snapshot (JSON).
        #[arg(long)]
        out: PathBuf,
        /// Worker threads of the batch job.
        #[arg(long, default_value_t = 2, value_parser = super::positive)]
        workers: usize,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    Surprise,
    Recommenders,
    /// The seeded shop (no data directory): time split, two-stage vs single models.
    Shop,
}

/// The shop's last week is the test period (the ranker learns from the week before).
const SHOP_TEST_DAYS: u32 = 7;

/// `mlsd recommender …`.
pub fn run(runs_dir: &Path, cmd: RecommenderCommand) -> Result<()> {
    use recommender::evaluate::{self, EvalConfig};
    use recommender::movielens;
    use recommender::shop::ShopConfig;
    use recommender::two_stage::TwoStageConfig;
    let (protocol, data_dir, json) = match cmd {
        RecommenderCommand::Evaluate {
            protocol,
            data_dir,
            json,
        } => (protocol, data_dir, json),
        RecommenderCommand::Batch { out, workers } => return batch(&out, workers),
    };
    let run_dir = RunDir::create(runs_dir, "recommender-evaluate")?;
    let bar = spinner(json);
    bar.set_message("training and evaluating");
    if let Protocol::Shop = protocol {
        let shop = recommender::shop::Shop::generate(&ShopConfig::default())?;
        let (report, _) = evaluate::shop(&shop, SHOP_TEST_DAYS, &TwoStageConfig::default(), 10)?;
        bar.finish_and_clear();
        let value = serde_json::to_value(&report)?;
        mlsd_core::report::write_json(&run_dir.file("evaluation.json"), &value)?;
        if json {
            println!("{value}");
        } else {
            println!("{}", evaluate::render_shop(&report));
            println!("Report: {}", run_dir.path.display());
        }
        return Ok(());
    }
    let folder = movielens::folder(data_dir.as_deref())?;
    let data =
        movielens::load(&folder).with_context(|| format!("while loading {}", folder.display()))?;
    let cfg = EvalConfig::default();
    let (value, table) = match protocol {
        Protocol::Surprise => {
            let report = evaluate::surprise(&data, &cfg)?;
            (
                serde_json::to_value(&report)?,
                evaluate::render_surprise(&report),
            )
        }
        Protocol::Shop => unreachable!("handled above"),
        Protocol::Recommenders => {
            let report = evaluate::recommenders(&data, &cfg)?;
            (
                serde_json::to_value(&report)?,
                evaluate::render_recommenders(&report),
            )
        }
    };
    bar.finish_and_clear();
    mlsd_core::report::write_json(&run_dir.file("evaluation.json"), &value)?;
    if json {
        println!("{value}");
        return Ok(());
    }
    let r = &data.report;
    println!(
        "MovieLens-100k from {}: {} ratings read, {} accepted, {} quarantined; {} users, {} items\n",
        folder.display(),
        r.input_rows,
        r.accepted_rows,
        r.quarantined_rows,
        data.users.len(),
        data.items.len()
    );
    println!("{table}");
    println!("Report: {}", run_dir.path.display());
    Ok(())
}

#[derive(Args)]
pub struct ServeRecommenderArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: std::net::SocketAddr,
    /// Load this batch snapshot (from `mlsd recommender batch`) instead of running the job.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Seconds a real-time list is reused for the same user (0: no cache).
    #[arg(long, default_value_t = 30)]
    cache_ttl_s: u64,
    /// Requests in flight before new ones are shed with 503.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Time budget per request, in milliseconds (503 when exceeded).
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// Shed while the runtime's queueing delay exceeds this many milliseconds; 0: off.
    #[arg(long, default_value_t = 100)]
    max_queue_delay_ms: u64,
    /// Worker threads of the batch job run at start-up.
    #[arg(long, default_value_t = 2, value_parser = super::positive)]
    workers: usize,
}

/// The seeded shop's world: model fitted, batch job run.
pub fn world(workers: usize) -> Result<World> {
    World::build(&ShopConfig::default(), &TwoStageConfig::default(), workers)
        .context("while fitting the recommender on the seeded shop")
}

/// The server settings the CLI flags describe.
pub fn serve_config(args: &ServeRecommenderArgs) -> recommender::serve::ServeConfig {
    recommender::serve::ServeConfig {
        cache_ttl: Duration::from_secs(args.cache_ttl_s),
        max_in_flight: args.max_in_flight,
        timeout: Duration::from_millis(args.timeout_ms),
        max_queue_delay: (args.max_queue_delay_ms > 0)
            .then(|| Duration::from_millis(args.max_queue_delay_ms)),
        ..recommender::serve::ServeConfig::default()
    }
}

/// `mlsd serve recommender`.
pub fn serve(args: &ServeRecommenderArgs) -> Result<()> {
    use recommender::serve;
    let mut world = world(args.workers)?;
    if let Some(path) = &args.snapshot {
        world.snapshot = Snapshot::read(path, &world.model)?;
        eprintln!("snapshot loaded from {}", path.display());
    } else {
        let b = world.batch_summary();
        eprintln!(
            "batch job: top {} for {} users in {:.2} s on {} workers",
            b.k, b.users, b.seconds, b.workers
        );
    }
    let config = serve_config(args);
    runtime("server")?.block_on(async move {
        let state = serve::state(world.model, world.snapshot, world.reference, config)?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("while binding {}", args.addr))?;
        println!("listening on http://{}", listener.local_addr()?);
        use std::io::Write as _;
        std::io::stdout().flush()?;
        mlsd_core::serve::serve(
            listener,
            serve::router(state),
            mlsd_core::serve::shutdown_signal(),
        )
        .await?;
        println!("stopped after draining in-flight requests");
        Ok(())
    })
}

/// `mlsd recommender batch`.
fn batch(out: &Path, workers: usize) -> Result<()> {
    let world = world(workers)?;
    world.snapshot.write(out)?;
    let b = world.batch_summary();
    println!(
        "top {} for {} users in {:.2} s on {} workers ({:.0} users/s) → {}",
        b.k,
        b.users,
        b.seconds,
        b.workers,
        b.users_per_second,
        out.display()
    );
    Ok(())
}
