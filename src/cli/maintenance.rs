//! `mlsd maintenance …`, `mlsd serve maintenance`, the demo's maintenance block and its
//! serving benchmark: a thin layer over the maintenance crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;
use maintenance::artifact::{MaintenanceArtifact, TrainConfig};
use maintenance::evaluate;
use maintenance::policy::CostModel;
use mlsd_core::registry::Registry;
use mlsd_core::report::{markdown_table, RunDir};

use super::bench::{report_bench, run_post_modes, BenchServeArgs};
use super::common::{
    emit_evaluation, emit_monitor, positive, runtime, serve_until_signal, spinner, LimitsArgs,
    StateArgs,
};

#[derive(Subcommand)]
pub enum Command {
    /// Evaluate on a protocol: `cmapss` (NASA C-MAPSS FD001, RMSE and NASA score of the last
    /// cycle of the 100 test engines), `ai4i` (AI4I 2020, 5 stratified folds, no failure-mode
    /// columns), `fleet` (the simulator: RUL models, then run to failure vs the best fixed
    /// interval vs the predictive policy, priced on the same test machines).
    Evaluate {
        #[arg(long, value_enum)]
        protocol: Protocol,
        /// Folder holding `cmapss-fd001/` and `ai4i2020/` (never copied into the repository).
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        costs: CostArgs,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// With `--protocol ai4i`: run a classic mistake beside the honest protocol —
        /// `leaked-outcome` (the failure-mode flags as inputs) or `all` — and print both numbers.
        #[arg(long, value_name = "NAME")]
        mistake: Option<String>,
    },
    /// Write the simulator's readings as the batch job's input (CSV: machine_id, cycle, one
    /// column per sensor; the current life of every machine).
    Generate {
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        machines: u32,
        #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=3_650))]
        days: u32,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Train gradient boosting on the simulator's training machines, choose the alert
    /// threshold by cost on validation machines, register (and promote unless --no-promote).
    Train {
        #[command(flatten)]
        costs: CostArgs,
        #[arg(long)]
        no_promote: bool,
    },
    /// The nightly fleet job: score a readings CSV with the current model into a schedule.
    /// `--engine spark` runs the same job as SQL on a Spark Connect server.
    Batch {
        #[arg(long)]
        input: PathBuf,
        /// The schedule (CSV); with Spark a `.parquet` folder, refused lines in
        /// `<out>.quarantine`.
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        engine: super::engine::EngineArgs,
    },
    /// Print the nightly fleet job as SQL (Spark SQL): parsing and checks, each machine's
    /// window as an array, the features, the current model and the schedule — to paste into
    /// a warehouse or run on Spark.
    ExportSql {
        /// The readings' location (a CSV file or folder of them).
        #[arg(long, default_value = "readings.csv")]
        input: String,
        /// Also write the schedule there as Parquet.
        #[arg(long)]
        output: Option<String>,
    },
    /// Per-sensor drift of a simulated month of readings against the current model's training
    /// profile, with or without a recalibrated sensor.
    Monitor {
        /// Recalibrate this sensor (index in the model's sensor list) by --offset-sds.
        #[arg(long)]
        recalibrate: Option<usize>,
        #[arg(long, default_value_t = 1.0)]
        offset_sds: f64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    Cmapss,
    Ai4i,
    Fleet,
}

/// The cost model's flags.
#[derive(clap::Args, Clone)]
pub struct CostArgs {
    /// Cost of an unplanned failure.
    #[arg(long, default_value_t = 50_000.0)]
    failure_cost: f64,
    /// Cost of a planned service.
    #[arg(long, default_value_t = 5_000.0)]
    maintenance_cost: f64,
    /// Cost per day a machine is down.
    #[arg(long, default_value_t = 2_000.0)]
    downtime_cost: f64,
    /// Services the crews can do per day.
    #[arg(long, default_value_t = 3, value_parser = positive)]
    crews: usize,
}

impl CostArgs {
    fn model(&self) -> Result<CostModel> {
        for (name, v) in [
            ("--failure-cost", self.failure_cost),
            ("--maintenance-cost", self.maintenance_cost),
            ("--downtime-cost", self.downtime_cost),
        ] {
            anyhow::ensure!(
                v.is_finite() && v >= 0.0,
                "{name} must be a finite amount ≥ 0, got {v}"
            );
        }
        Ok(CostModel {
            failure_cost: self.failure_cost,
            maintenance_cost: self.maintenance_cost,
            downtime_cost: self.downtime_cost,
            crews_per_day: self.crews,
        })
    }
}

fn data_dir(dir: Option<&Path>) -> Result<PathBuf> {
    dir.map(Path::to_path_buf).context(
        "no data directory: pass --data-dir or set MLSD_DATA_DIR to the folder holding cmapss-fd001/ and ai4i2020/",
    )
}

/// `mlsd maintenance …`.
pub fn run(runs_dir: &Path, registry: &Registry, cmd: Command) -> Result<()> {
    match cmd {
        Command::Evaluate {
            protocol,
            data_dir: dir,
            costs,
            json,
            mistake,
        } => match mistake {
            Some(name) => {
                anyhow::ensure!(
                    matches!(protocol, Protocol::Ai4i),
                    "--mistake runs on --protocol ai4i (the maintenance design's mistakes: {})",
                    maintenance::mistakes::ALL.join(", ")
                );
                let path = data_dir(dir.as_deref())?
                    .join("ai4i2020")
                    .join("ai4i2020.csv");
                let runs =
                    maintenance::mistakes::run(&[name.as_str()], &path, &Default::default())?;
                super::common::print_mistakes("maintenance", &runs, json)
            }
            None => run_evaluate(runs_dir, protocol, dir.as_deref(), &costs, json),
        },
        Command::Generate {
            machines,
            days,
            seed,
            out,
        } => {
            let base = maintenance::simulate::FleetConfig {
                seed,
                cycles: days,
                ..Default::default()
            };
            let fleet =
                maintenance::simulate::run_to_failure(&evaluate::fleet_part(&base, 1, machines));
            let rows = maintenance::batch::write_readings_csv(&fleet, &out)?;
            println!("{rows} readings of {machines} machines → {}", out.display());
            Ok(())
        }
        Command::Train { costs, no_promote } => {
            let cfg = TrainConfig {
                costs: costs.model()?,
                ..TrainConfig::default()
            };
            let (manifest, model, v) =
                maintenance::pipeline::train_and_register(registry, &cfg, !no_promote)?;
            println!(
                "{} {} on {} sensors; validation machines: RMSE {:.2}, alert at predicted RUL ≤ {} cycles, {:.0} per machine-year{}",
                manifest.version,
                manifest.model_name,
                model.spec.used.len(),
                v.rmse,
                v.alert_rul,
                v.cost_per_machine_year,
                if no_promote { "" } else { "; promoted to current" }
            );
            Ok(())
        }
        Command::ExportSql { input, output } => {
            let (version, model) = current(registry)?;
            let script = maintenance::export::script(&input, &model, output.as_deref())
                .map_err(|why| anyhow::anyhow!("the model has no SQL form: {why}"))?;
            println!("-- mlsd maintenance fleet job, model {version}, Spark SQL\n");
            print!("{}", script.render());
            Ok(())
        }
        Command::Batch { input, out, engine } => {
            let (version, model) = current(registry)?;
            #[cfg(feature = "spark")]
            if engine.engine == super::engine::Engine::Spark {
                let run = super::spark_jobs::maintenance_batch(
                    &engine.spark_remote,
                    &model,
                    &input,
                    &out,
                )?;
                println!(
                    "{} readings scored with {version} on Spark {} in {:.2} s ({:.0} readings/s; the session's start, {:.2} s, not included): {}; refused: {} → {}",
                    run.rows, run.spark_version, run.job_seconds, run.rows_per_second, run.session_seconds,
                    run.counted("schedule"), run.counted("quarantine"), out.display()
                );
                return Ok(());
            }
            engine.in_process_only()?;
            let b = maintenance::batch::score_file(&model, &input, &out)?;
            println!(
                "{} readings of {} machines scored with {version} in {:.2} s ({:.0} readings/s, I/O included); {} alerts; {} rows quarantined → {}",
                b.readings, b.machines, b.seconds, b.readings_per_second, b.alerts, b.quarantined, out.display()
            );
            Ok(())
        }
        Command::Monitor {
            recalibrate,
            offset_sds,
            seed,
            json,
        } => {
            let (version, model) = current(registry)?;
            let report =
                maintenance::monitor::simulated_month(&model, recalibrate, offset_sds, seed)?;
            let title = format!(
                "{} simulated readings against {version}'s training profile",
                report.readings
            );
            let value = serde_json::to_value(&report)?;
            emit_monitor(runs_dir, "maintenance", &title, &value, json, || {
                format!(
                    "{title}: {}",
                    if report.alarm {
                        format!("drift in {}", report.drifted_sensors.join(", "))
                    } else {
                        "no sensor drifted".to_string()
                    }
                )
            })?;
            Ok(())
        }
    }
}

fn current(registry: &Registry) -> Result<(String, MaintenanceArtifact)> {
    let v = mlsd_core::design::load::<MaintenanceArtifact>(registry, None).context(
        "no current maintenance model: run `mlsd maintenance train` (seconds) or `mlsd demo`",
    )?;
    Ok((v.version, v.model))
}

fn run_evaluate(
    runs_dir: &Path,
    protocol: Protocol,
    dir: Option<&Path>,
    costs: &CostArgs,
    json: bool,
) -> Result<()> {
    let bar = spinner(json);
    let (name, value, table) = match protocol {
        Protocol::Cmapss => {
            bar.set_message("C-MAPSS FD001: six RUL models");
            let dir = evaluate::cmapss_dir(&data_dir(dir)?)?;
            let kinds = maintenance::models::RulKind::ALL;
            let r = evaluate::cmapss(&dir, &Default::default(), &Default::default(), &kinds)?;
            let table = format!(
                "C-MAPSS FD001: {} training engines ({} rows), last cycle of {} test engines, RUL capped at 125; sensors used: {}\n\n{}\nPolicies on the test engines (true RUL; renewal reward):\n\n{}",
                r.train_engines,
                r.train_rows,
                r.test_engines,
                r.sensors_used.join(", "),
                rul_table("model", &r.models, true),
                table(
                    &["policy", "interval / margin", "cost per 1,000 cycles", "failures", "services", "unused cycles"],
                    &r.policies,
                    |p| vec![p.name.clone(), parameter(p.parameter), format!("{:.0}", p.cost_per_1000_cycles), p.failures.to_string(), p.services.to_string(), format!("{:.0}", p.unused_cycles)],
                )
            );
            ("cmapss", serde_json::to_value(&r)?, table)
        }
        Protocol::Ai4i => {
            bar.set_message("AI4I 2020: five classifiers, 5 folds");
            let path = data_dir(dir)?.join("ai4i2020").join("ai4i2020.csv");
            let r = evaluate::ai4i(&path, &Default::default(), false)?;
            let three = |v: f64| format!("{v:.3}");
            let table = format!(
                "AI4I 2020: {} rows, {} failures; inputs: {}\n\n{}",
                r.rows,
                r.failures,
                r.features.join(", "),
                table(
                    &["model", "AP", "F1", "precision", "recall", "recall @5 %"],
                    &r.models,
                    |m| vec![
                        m.name.clone(),
                        three(m.average_precision),
                        three(m.f1),
                        three(m.precision),
                        three(m.recall),
                        three(m.recall_at_budget)
                    ],
                )
            );
            ("ai4i", serde_json::to_value(&r)?, table)
        }
        Protocol::Fleet => {
            bar.set_message("fleet simulator: models and three policies");
            let p = evaluate::FleetProtocol {
                costs: costs.model()?,
                ..Default::default()
            };
            let r = evaluate::fleet(&p)?;
            let table = format!(
                "Fleet simulator: {} / {} / {} machines (train / validation / test), {} days\n\n{}\n{}",
                r.machines.train,
                r.machines.validation,
                r.machines.test,
                r.machines.days,
                rul_table("RUL model", &r.models, false),
                policy_table("policy (test machines)", &r.policies)
            );
            ("fleet", serde_json::to_value(&r)?, table)
        }
    };
    bar.finish_and_clear();
    let run_dir = RunDir::create(runs_dir, &format!("maintenance-evaluate-{name}"))?;
    emit_evaluation(&run_dir, &value, json, || table)
}

/// A markdown table of `items`, one row each.
fn table<T>(headers: &[&str], items: &[T], row: impl Fn(&T) -> Vec<String>) -> String {
    markdown_table(headers, &items.iter().map(row).collect::<Vec<_>>())
}

fn parameter(p: Option<f64>) -> String {
    p.map_or("-".into(), |v| format!("{v}"))
}

/// RUL models: RMSE (and the NASA score where the protocol has one) and training time.
fn rul_table(what: &str, models: &[evaluate::RulRow], nasa: bool) -> String {
    let two = |v: f64| format!("{v:.2}");
    if nasa {
        table(&[what, "RMSE", "NASA score", "train s"], models, |m| {
            vec![
                m.name.clone(),
                two(m.rmse),
                format!("{:.0}", m.nasa_score),
                two(m.train_seconds),
            ]
        })
    } else {
        table(&[what, "RMSE", "train s"], models, |m| {
            vec![m.name.clone(), two(m.rmse), two(m.train_seconds)]
        })
    }
}

/// The fleet policies priced on the test machines.
fn policy_table(what: &str, policies: &[maintenance::policy::PolicyOutcome]) -> String {
    let headers = [
        what,
        "interval / RUL threshold",
        "cost per machine-year",
        "failures",
        "services",
    ];
    table(&headers, policies, |o| {
        vec![
            o.name.clone(),
            parameter(o.parameter),
            format!("{:.0}", o.cost_per_machine_year),
            o.failures.to_string(),
            o.services.to_string(),
        ]
    })
}

/// `mlsd serve maintenance`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8083")]
    addr: std::net::SocketAddr,
    /// Gather concurrent POST /v1/maintenance/score requests into micro-batches.
    #[arg(long)]
    micro_batch: bool,
    #[command(flatten)]
    limits: LimitsArgs,
    /// Where the writes go: `memory` (this process) or a Redis URL whose log every replica
    /// applies (readings and events posted to any replica reach all of them).
    #[command(flatten)]
    state: StateArgs,
}

/// `mlsd serve maintenance`.
pub fn serve(registry: Registry, args: &ServeArgs) -> Result<()> {
    use maintenance::serve;
    let mut config = serve::ServeConfig {
        state: args.state.backend(maintenance::DESIGN)?,
        ..serve::ServeConfig::default()
    };
    let shared = config.state.describe();
    config.server = mlsd_core::server::ServerConfig {
        micro_batch: args
            .micro_batch
            .then(mlsd_core::serve::MicroBatchConfig::default),
        ..args.limits.apply(config.server)?
    };
    let idle = args.limits.idle_timeout();
    runtime("server")?.block_on(async move {
        let state = serve::state(registry, config).context(
            "no current maintenance model: run `mlsd maintenance train` (seconds) or `mlsd demo`",
        )?;
        eprintln!(
            "serving maintenance model {} (writes: {shared})",
            state.serving_version()
        );
        state.watch_registry();
        serve_until_signal(args.addr, serve::router(state), idle, || {}).await
    })
}

/// What `mlsd demo` shows of the maintenance design.
#[derive(serde::Serialize)]
pub struct Demo {
    pub version: String,
    pub validation: maintenance::artifact::Validation,
    pub fleet: evaluate::FleetReport,
    /// What the API answered after a month of readings from 200 machines.
    pub served: serde_json::Value,
}

pub fn demo(registry: &Registry, progress: impl Fn(&str)) -> Result<Demo> {
    progress("maintenance: simulating a fleet, pricing three policies");
    let fleet = evaluate::fleet(&evaluate::FleetProtocol::default())?;
    progress("maintenance: training and registering the RUL model");
    let (manifest, _, validation) =
        maintenance::pipeline::train_and_register(registry, &TrainConfig::default(), true)?;
    progress("maintenance: serving a month of readings");
    let served = runtime("maintenance demo")?.block_on(demo_serving(registry))?;
    Ok(Demo {
        version: manifest.version,
        validation,
        fleet,
        served,
    })
}

async fn demo_serving(registry: &Registry) -> Result<serde_json::Value> {
    use maintenance::serve;
    use mlsd_core::loadgen::Client;
    let state = serve::state(registry.clone(), serve::ServeConfig::default())?;
    let server =
        mlsd_core::serve::Running::start("127.0.0.1:0".parse()?, serve::router(state)).await?;
    let mut client = Client::connect(server.addr).await?;
    let fleet = maintenance::bench::fleet(200, 1, 120);
    let mut accepted = 0;
    for body in maintenance::bench::reading_bodies(&fleet, 500)? {
        let r = client
            .request_as(
                "POST",
                "/v1/maintenance/readings",
                "application/json",
                Some(&body),
            )
            .await?;
        anyhow::ensure!(
            r.status == 200,
            "POST /v1/maintenance/readings: {} {}",
            r.status,
            r.text()
        );
        accepted += 1;
    }
    let bad = br#"{"readings": [{"machine_id": 999999, "cycle": 1, "values": [1,2,3,4,5,6,7,8]}]}"#;
    let refused = client
        .request_as(
            "POST",
            "/v1/maintenance/readings",
            "application/json",
            Some(bad),
        )
        .await?;
    let alerts = client
        .request_as("GET", "/v1/maintenance/alerts", "application/json", None)
        .await?;
    let alerts: serde_json::Value = serde_json::from_slice(&alerts.body)?;
    server.stop().await?;
    Ok(serde_json::json!({
        "machines": 200,
        "requests": accepted,
        "alerts": alerts["alerts"].as_array().map_or(0, Vec::len),
        "today": alerts["today"],
        "unknown_machine_status": refused.status,
    }))
}

pub fn print_demo(d: &Demo) {
    println!(
        "\nPredictive maintenance (fleet simulator, seed 42; registry version {})",
        d.version
    );
    let f = &d.fleet;
    println!(
        "{}",
        rul_table("RUL model (test machines, random cut)", &f.models, false)
    );
    println!(
        "{}",
        policy_table("policy (100 test machines, 2 years)", &f.policies)
    );
    println!(
        "Served: {} machines × 120 days of readings in {} requests → {} machines in alert, today's crews: {}; an unknown machine got {}",
        d.served["machines"],
        d.served["requests"],
        d.served["alerts"],
        d.served["today"],
        d.served["unknown_machine_status"]
    );
}

/// `mlsd bench serve --design maintenance`: stateless scoring of machine histories
/// (real-time, micro-batched, batch), a risk query at the reference rate, the batch job.
pub fn bench_serve(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    use maintenance::{bench, serve};
    let run_dir = RunDir::create(runs_dir, "bench-serve-maintenance")?;
    let registry = Registry::open(run_dir.file("registry"));
    let bar = spinner(args.json);
    bar.set_message("training the RUL model on the simulator");
    let (manifest, model, _) =
        maintenance::pipeline::train_and_register(&registry, &TrainConfig::default(), true)?;
    // Machines the model never saw (ids past training and validation).
    let fleet = bench::fleet(200, 300_001, 365);
    let histories = bench::histories(&fleet, 5_000, model.spec.window);
    let single = Arc::new(bench::score_bodies(&histories)?);
    let batched = Arc::new(bench::batch_bodies(&histories, args.batch_size)?);
    let base = serve::ServeConfig::default();
    let modes = run_post_modes(
        args,
        &base.server,
        ("/v1/maintenance/score", single),
        ("/v1/maintenance/score/batch", batched),
        |server| {
            let config = serve::ServeConfig {
                server,
                ..base.clone()
            };
            Ok(serve::router(serve::state(registry.clone(), config)?))
        },
        &bar,
    )?;
    bar.set_message("batch job");
    let input = run_dir.file("readings.csv");
    let machines = if args.quick { 100 } else { 1_000 };
    let base = maintenance::simulate::FleetConfig {
        seed: 7,
        cycles: 365,
        ..Default::default()
    };
    maintenance::batch::write_readings_csv(
        &maintenance::simulate::run_to_failure(&evaluate::fleet_part(&base, 1, machines)),
        &input,
    )?;
    let batch_job = maintenance::batch::score_file(&model, &input, &run_dir.file("schedule.csv"))?;
    bar.finish_and_clear();
    let line = format!(
        "batch job (read, online state, score, write the schedule; {} readings of {} machines): {:.0} readings/s",
        batch_job.readings, batch_job.machines, batch_job.readings_per_second
    );
    #[derive(serde::Serialize)]
    struct Fields {
        model_version: String,
        batch_job: maintenance::batch::BatchReport,
    }
    let fields = Fields {
        model_version: manifest.version,
        batch_job,
    };
    report_bench(&run_dir, "maintenance", args, &modes, fields, line)
}
