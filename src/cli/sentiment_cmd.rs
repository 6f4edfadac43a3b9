//! `mlsd sentiment …`: a thin layer over the sentiment crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use mlsd_core::report::RunDir;

use super::spinner;

#[derive(Subcommand)]
pub enum SentimentCommand {
    /// Evaluate the models on the sentence-polarity data beside Wang & Manning's table.
    Evaluate {
        /// `cv10`: 10-fold cross-validation accuracy.
        #[arg(long, value_enum)]
        protocol: Protocol,
        /// Folder holding `rt-polarity/` (never copied into the repository).
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Print one JSON object: {"protocol", "models": [{"name", "accuracy", …}]}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    Cv10,
}

/// `mlsd sentiment …`.
pub fn run(runs_dir: &Path, cmd: SentimentCommand) -> Result<()> {
    use sentiment::{data, evaluate};
    let SentimentCommand::Evaluate {
        protocol: Protocol::Cv10,
        data_dir,
        json,
    } = cmd;
    let folder = data::folder(data_dir.as_deref())?;
    let examples = data::load_rt_polarity(&folder)
        .with_context(|| format!("while loading {}", folder.display()))?;
    let run_dir = RunDir::create(runs_dir, "sentiment-evaluate")?;
    let bar = spinner(json);
    bar.set_message("10-fold cross-validation");
    let report = evaluate::cv10(&examples, &evaluate::Cv10Config::default());
    bar.finish_and_clear();
    let value = serde_json::to_value(&report)?;
    mlsd_core::report::write_json(&run_dir.file("evaluation.json"), &value)?;
    if json {
        println!("{value}");
        return Ok(());
    }
    println!("Sentence polarity from {}\n", folder.display());
    println!("{}", evaluate::render(&report));
    println!("Report: {}", run_dir.path.display());
    Ok(())
}
