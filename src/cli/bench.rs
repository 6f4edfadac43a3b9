//! `mlsd bench serve`: the harness every design's serving benchmark uses — the modes as load
//! targets, the sweep, the report files and the headline table. Each design module supplies
//! its traffic (`bench_serve`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::ProgressBar;
use mlsd_core::accelerator::ModelCost;
use mlsd_core::report::RunDir;
use mlsd_core::serve::MicroBatchConfig;
use mlsd_core::server::ServerConfig;

use super::common::{loopback_url, millis_or_off, positive, runtime};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Design {
    Fraud,
    Recommender,
    Sentiment,
    Maintenance,
    Newsfeed,
}

impl Design {
    /// The name on the command line and in run folders (`bench-serve-<name>-…`).
    pub fn name(self) -> &'static str {
        match self {
            Design::Fraud => "fraud",
            Design::Recommender => "recommender",
            Design::Sentiment => "sentiment",
            Design::Maintenance => "maintenance",
            Design::Newsfeed => "newsfeed",
        }
    }
}

#[derive(Args)]
pub struct BenchServeArgs {
    #[arg(long, value_enum)]
    pub design: Design,
    /// A small world and short runs (seconds, for CI smoke tests); numbers are not for quoting.
    #[arg(long)]
    pub quick: bool,
    /// The load every mode is compared at, in rows (payments) per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Rows per request in batch mode.
    #[arg(long, default_value_t = 100, value_parser = positive)]
    pub batch_size: usize,
    /// The servers shed new requests while their queueing delay (the runtime's, and the
    /// simulated model's queue) exceeds this (ms); 0 turns it off (in-flight limit only).
    #[arg(long, default_value_t = 20)]
    pub max_queue_delay_ms: u64,
    /// Most requests per micro-batch in microbatch mode.
    #[arg(long, default_value_t = MicroBatchConfig::default().max_batch, value_parser = positive)]
    pub micro_batch_max: usize,
    /// Longest wait for a micro-batch to fill in microbatch mode, in microseconds (0: take
    /// what is queued, never wait).
    #[arg(long, default_value_t = MicroBatchConfig::default().max_wait.as_micros() as u64)]
    pub micro_batch_wait_us: u64,
    /// Target a server already running on loopback (e.g. http://127.0.0.1:8081, started with
    /// `mlsd serve <design>` and its default world) instead of starting one per mode in-process;
    /// the modes then share it, with the server's own cache and micro-batching settings
    /// (fraud and sentiment: realtime and batch endpoints; recommender: batch and realtime
    /// lists).
    #[arg(long, value_parser = loopback_url)]
    pub url: Option<std::net::SocketAddr>,
    /// Put a simulated heavier model in front of the real one, on a device of its own: every
    /// model call also costs this many microseconds, whatever its size. With the real models
    /// (microseconds) HTTP saturates first; a model cost makes the model the bottleneck, well
    /// below what the load generator can offer on the same cores (the overload runs in
    /// docs/benchmarks.md). 0 with --sim-row-us 0: off. At most 10 s.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub sim_call_us: u64,
    /// The simulated model's cost per row of a call, in microseconds (at most 10 s).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub sim_row_us: u64,
    /// Print one JSON object: {"design", "modes": [{"mode", "rps", "rows_per_s", "p50_ms", "p99_ms", "errors", "shed", …}], …}.
    #[arg(long)]
    pub json: bool,
}

impl BenchServeArgs {
    pub fn max_queue_delay(&self) -> Option<Duration> {
        millis_or_off(self.max_queue_delay_ms)
    }

    /// The micro-batcher of the `microbatch` mode.
    pub fn micro_batch(&self) -> MicroBatchConfig {
        MicroBatchConfig {
            max_batch: self.micro_batch_max,
            max_wait: Duration::from_micros(self.micro_batch_wait_us),
            ..MicroBatchConfig::default()
        }
    }

    /// `base` (a design's defaults) as every benchmarked server runs: fewer permits than the
    /// load generator's connections, so overload is shed; shedding on queueing delay, which is
    /// what CPU saturation looks like; the simulated model, if any.
    pub fn server(
        &self,
        base: ServerConfig,
        micro_batch: Option<MicroBatchConfig>,
    ) -> ServerConfig {
        ServerConfig {
            max_in_flight: 64,
            max_queue_delay: self.max_queue_delay(),
            micro_batch,
            simulated_model: self.simulated_model(),
            ..base
        }
    }

    /// The simulated model of `--sim-call-us` / `--sim-row-us`, if any.
    pub fn simulated_model(&self) -> Option<ModelCost> {
        (self.sim_call_us > 0 || self.sim_row_us > 0).then(|| ModelCost {
            per_call: Duration::from_micros(self.sim_call_us),
            per_row: Duration::from_micros(self.sim_row_us),
        })
    }
}

#[derive(Args)]
pub struct BenchLoadArgs {
    /// The design whose traffic is sent: fraud, its default world's test week, one payment per
    /// POST /v1/fraud/score; recommender, the default shop's held-out week, one event per POST
    /// /v1/recommender/events; sentiment, generated reviews with their topics, one per POST
    /// /v1/sentiment; newsfeed, one engagement event per POST /v1/newsfeed/events (users 1–2,000
    /// on the catalogue's first 500 articles). Each is the path that writes the design's online
    /// state.
    #[arg(long, value_enum)]
    pub design: Design,
    /// The server or balancer on loopback, e.g. http://127.0.0.1:8080.
    #[arg(long, value_parser = loopback_url)]
    pub url: std::net::SocketAddr,
    /// Requests per second, on a fixed schedule (open loop).
    #[arg(long, default_value_t = 500.0)]
    pub rate: f64,
    /// How long, in seconds (at most 600).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// Keep-alive connections the schedule is spread over.
    #[arg(long, default_value_t = 32, value_parser = positive)]
    pub connections: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `mlsd bench load`: one open-loop run; prints what happened to every request.
pub fn load(args: &BenchLoadArgs) -> Result<()> {
    use mlsd_core::loadgen::{run, Load, Target};
    let (path, bodies) = match args.design {
        Design::Fraud => ("/v1/fraud/score", super::fraud::live_bodies()?),
        Design::Recommender => (
            "/v1/recommender/events",
            super::recommender::event_bodies()?,
        ),
        Design::Sentiment => ("/v1/sentiment", super::sentiment::topic_bodies()?),
        Design::Newsfeed => ("/v1/newsfeed/events", super::newsfeed::event_bodies()?),
        Design::Maintenance => bail!(
            "bench load does not send maintenance traffic (a machine's cycles must increase, so a replayed list refuses itself); use bench serve --url"
        ),
    };
    let target = Target::post(args.url, path, Arc::new(bodies));
    let load = Load::Open {
        rate: args.rate,
        duration: Duration::from_secs(args.seconds),
        connections: args.connections,
    };
    // Scripts wait for this line before they act during the run (a replica killed under load).
    eprintln!("load started: {} req/s for {} s", args.rate, args.seconds);
    let (report, _) = runtime("load")?.block_on(run(&target, load, false))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} requests in {:.1} s ({:.0}/s): {} ok, {} shed (503), {} errors {:?}; p50 {:.2} ms, p99 {:.2} ms",
            report.sent,
            report.seconds,
            report.rps,
            report.ok,
            report.shed,
            report.errors,
            report.error_statuses,
            report.p50_ms,
            report.p99_ms
        );
    }
    Ok(())
}

/// `mlsd bench serve`: the design's traffic against its modes.
pub fn run(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    if args.url.is_some() && args.simulated_model().is_some() {
        bail!("--sim-call-us and --sim-row-us apply to in-process servers; a server given by --url runs its own model");
    }
    match args.design {
        Design::Fraud => super::fraud::bench_serve(runs_dir, args),
        Design::Recommender => super::recommender::bench_serve(runs_dir, args),
        Design::Sentiment => super::sentiment::bench_serve(runs_dir, args),
        Design::Maintenance => super::maintenance::bench_serve(runs_dir, args),
        Design::Newsfeed => super::newsfeed::bench_serve(runs_dir, args),
    }
}

/// Runs the sweep of `args` against a scoring API's three modes (see [`post_modes`]), each on
/// a server `router` builds from its settings: `base` (the design's) as every benchmarked
/// server runs ([`BenchServeArgs::server`]) with the mode's micro-batcher.
///
/// Servers and load generator get separate runtimes (threads): the generator's own backlog
/// must not stall the servers' tasks, and each server's queueing-delay probe must see only the
/// server's queue. They still share the machine's cores.
pub fn run_post_modes(
    args: &BenchServeArgs,
    base: &ServerConfig,
    single: (&str, Arc<Vec<Vec<u8>>>),
    batched: (&str, Arc<Vec<Vec<u8>>>),
    router: impl Fn(ServerConfig) -> Result<axum::Router>,
    bar: &ProgressBar,
) -> Result<Vec<mlsd_core::loadgen::ModeResult>> {
    let (server_rt, client_rt) = (runtime("server")?, runtime("load")?);
    let (servers, targets) = server_rt.block_on(post_modes(args, single, batched, |mb| {
        router(args.server(base.clone(), mb))
    }))?;
    run_modes(
        &server_rt,
        &client_rt,
        servers,
        &targets,
        &sweep_plan(args),
        bar,
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

/// Drives every mode's target from the load runtime, then stops the in-process servers
/// (draining them).
pub fn run_modes(
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
pub fn sweep_plan(args: &BenchServeArgs) -> mlsd_core::loadgen::SweepPlan {
    use mlsd_core::loadgen::SweepPlan;
    if args.quick {
        SweepPlan {
            concurrency: vec![1, 8],
            reference_rows_per_s: args.rate,
            saturation_fractions: vec![0.5, 2.0],
            step: Duration::from_millis(300),
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

/// What every `mlsd bench serve` report holds, with the design's own fields beside.
#[derive(serde::Serialize)]
struct Report<'a, E> {
    design: &'a str,
    quick: bool,
    /// Cores of this machine (client and servers shared them): `mlsd capacity` divides by it.
    cores: usize,
    reference_rows_per_s: f64,
    micro_batch_max: usize,
    micro_batch_wait_us: u64,
    modes: &'a [mlsd_core::loadgen::ModeResult],
    /// The design's fields: the model version, the batch job, …
    #[serde(flatten)]
    design_fields: E,
    run_dir: &'a Path,
}

/// Writes bench.json (the common fields and the design's `design_fields`), bench.csv and the
/// latency plots (SVG and PNG) into the run folder, then prints the report as one JSON object
/// (`--json`) or as the headline table, the design's batch-job line and where the files are.
pub fn report_bench(
    run_dir: &RunDir,
    design: &str,
    args: &BenchServeArgs,
    modes: &[mlsd_core::loadgen::ModeResult],
    design_fields: impl serde::Serialize,
    batch_job_line: String,
) -> Result<()> {
    let mut json = serde_json::to_value(Report {
        design,
        quick: args.quick,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        reference_rows_per_s: args.rate,
        micro_batch_max: args.micro_batch_max,
        micro_batch_wait_us: args.micro_batch_wait_us,
        modes,
        design_fields,
        run_dir: &run_dir.path,
    })?;
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
pub fn print_bench(what: &str, args: &BenchServeArgs, modes: &[mlsd_core::loadgen::ModeResult]) {
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
