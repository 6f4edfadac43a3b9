//! `mlsd operate <design>`: the production loop replayed over simulated days, per retraining
//! policy — see `mlsd_core::operate` and each design's `operate.rs`.

use std::path::Path;

use anyhow::Result;
use clap::{Args, ValueEnum};
use mlsd_core::lifecycle::DecisionLog;
use mlsd_core::operate::{self, OperateConfig, OperateReport, Policy};
use mlsd_core::report::{atomic_write, write_json, RunDir};

#[derive(Clone, Copy, ValueEnum)]
pub enum Design {
    Fraud,
    Sentiment,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    Never,
    Scheduled,
    Triggered,
}

#[derive(Args)]
pub struct OperateArgs {
    /// The design replayed.
    #[arg(value_enum)]
    design: Design,
    /// Days replayed (after the design's warm-up history), 1 to 730.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=730))]
    days: u32,
    /// The day its drift starts (none when omitted).
    #[arg(long)]
    drift_at: Option<u32>,
    /// One retraining policy; all three, compared, when omitted.
    #[arg(long, value_enum)]
    policy: Option<PolicyArg>,
    /// Scheduled policy: retrain every this many days.
    #[arg(long, default_value_t = 14)]
    retrain_every: u32,
    /// Skip the deliberately broken candidate registered on day 10.
    #[arg(long)]
    no_broken_candidate: bool,
    /// Seed of the simulated world.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the report as JSON (one object with --policy, else an array).
    #[arg(long)]
    json: bool,
}

pub fn run(runs_dir: &Path, args: &OperateArgs) -> Result<()> {
    let design = match args.design {
        Design::Fraud => fraud_detector::DESIGN,
        Design::Sentiment => sentiment::DESIGN,
    };
    if let Some(d) = args.drift_at.filter(|&d| d >= args.days) {
        anyhow::bail!(
            "--drift-at {d} is not within the {} days replayed",
            args.days
        );
    }
    let run = RunDir::create(runs_dir, &format!("operate-{design}"))?;
    let policies: Vec<Policy> = match args.policy {
        Some(PolicyArg::Never) => vec![Policy::Never],
        Some(PolicyArg::Scheduled) => vec![Policy::Scheduled],
        Some(PolicyArg::Triggered) => vec![Policy::Triggered],
        None => Policy::ALL.to_vec(),
    };
    let mut reports = Vec::new();
    for policy in policies {
        let cfg = OperateConfig {
            days: args.days,
            drift_at: args.drift_at,
            policy,
            retrain_every: args.retrain_every,
            broken_at: (!args.no_broken_candidate).then_some(10),
            ..OperateConfig::default()
        };
        let log = DecisionLog::new(run.file(&format!("decisions-{}.jsonl", policy.name())));
        if !args.json {
            eprintln!(
                "replaying {} days of {design} under the {} policy …",
                args.days,
                policy.name()
            );
        }
        reports.push(replay(args, &cfg, &log)?);
    }
    write_json(&run.file("report.json"), &reports)?;
    let chart = operate::chart(&reports);
    atomic_write(&run.file("operate.svg"), chart.to_svg().as_bytes())?;
    atomic_write(&run.file("operate.png"), &chart.to_png())?;
    let table = operate::policy_table(&reports);
    atomic_write(&run.file("policies.md"), table.as_bytes())?;
    if args.json {
        match reports.as_slice() {
            [one] => println!("{}", serde_json::to_string(one)?),
            all => println!("{}", serde_json::to_string(all)?),
        }
        return Ok(());
    }
    print_summary(&reports, &table, &run);
    Ok(())
}

fn replay(args: &OperateArgs, cfg: &OperateConfig, log: &DecisionLog) -> Result<OperateReport> {
    Ok(match args.design {
        Design::Fraud => {
            let mut world_cfg = fraud_detector::operate::FraudWorldConfig::default();
            world_cfg.simulation.seed = args.seed;
            let mut world =
                fraud_detector::operate::FraudWorld::new(world_cfg, cfg.days, cfg.drift_at)?;
            operate::run(&mut world, fraud_detector::DESIGN, cfg, Some(log))?
        }
        Design::Sentiment => {
            let world_cfg = sentiment::operate::SentimentWorldConfig {
                seed: args.seed,
                ..Default::default()
            };
            let mut world =
                sentiment::operate::SentimentWorld::new(world_cfg, cfg.days, cfg.drift_at)?;
            operate::run(&mut world, sentiment::DESIGN, cfg, Some(log))?
        }
    })
}

fn print_summary(reports: &[OperateReport], table: &str, run: &RunDir) {
    let Some(first) = reports.first() else { return };
    println!(
        "{}: {} days, labels after {} days, drift {}; metric: {}\n",
        first.design,
        first.days.len(),
        first.label_delay_days,
        first
            .drift_at
            .map_or("none".to_string(), |d| format!("on day {d}")),
        first.metric_name
    );
    println!("{table}");
    for r in reports {
        println!("\n{} — what happened:", r.policy);
        for d in r.days.iter().filter(|d| d.event.is_some()) {
            println!(
                "  day {:>3}  {}",
                d.day,
                d.event.as_deref().unwrap_or_default()
            );
        }
    }
    println!(
        "\nrun folder: {} (report.json, decisions-<policy>.jsonl, operate.png, policies.md)",
        run.path.display()
    );
}
