//! `mlsd demo`: every design's demo section in turn, one report with one field per design.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Args;
use mlsd_core::registry::Registry;
use mlsd_core::report::RunDir;

use super::common::spinner;
use super::{fraud, maintenance, newsfeed, recommender, sentiment};

#[derive(Args)]
pub struct DemoArgs {
    #[command(flatten)]
    sim: super::fraud::SimArgs,
    /// Days of the test period replayed through the real-time API (at most the label
    /// delay, 7, so no live labels are needed).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=7))]
    replay_days: u32,
    /// Print the report as one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Everything `mlsd demo` reports, one field per design.
#[derive(serde::Serialize)]
struct DemoReport {
    fraud: fraud::Demo,
    recommender: recommender::Demo,
    sentiment: sentiment::Demo,
    maintenance: maintenance::Demo,
    newsfeed: newsfeed::Demo,
}

/// Runs the designs' demo sections, writes demo.json, prints the summary.
pub fn run(runs_dir: &Path, registry: &Registry, args: &DemoArgs) -> Result<()> {
    let run_dir = RunDir::create(runs_dir, "demo").context("while creating the run folder")?;
    let bar = spinner(args.json);
    let progress = |stage: &str| bar.set_message(stage.to_string());
    let demo = DemoReport {
        fraud: fraud::demo(
            &run_dir.path,
            registry,
            &args.sim,
            args.replay_days,
            progress,
        )?,
        recommender: recommender::demo(registry, progress)
            .context("while running the recommender demo")?,
        sentiment: sentiment::demo(registry, progress)
            .context("while running the sentiment demo")?,
        maintenance: maintenance::demo(registry, progress)
            .context("while running the maintenance demo")?,
        newsfeed: newsfeed::demo(registry, progress).context("while running the news-feed demo")?,
    };
    bar.finish_and_clear();
    mlsd_core::report::write_json(&run_dir.file("demo.json"), &demo)?;
    if args.json {
        println!("{}", serde_json::to_string(&demo)?);
        return Ok(());
    }
    fraud::print_demo(&demo.fraud, registry);
    recommender::print_demo(&demo.recommender);
    sentiment::print_demo(&demo.sentiment);
    maintenance::print_demo(&demo.maintenance);
    newsfeed::print_demo(&demo.newsfeed);
    println!("\nRun folder: {}", demo.fraud.pipeline.run_dir.display());
    Ok(())
}
