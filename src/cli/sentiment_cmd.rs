//! `mlsd sentiment …`: a thin layer over the sentiment crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use mlsd_core::registry::Registry;
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
    /// Train NBSVM (bigrams) on all of rt-polarity and register it in the model registry
    /// (promoted to current unless --no-promote); the hold-out accuracy of a 90/10 split is
    /// recorded with it.
    Train {
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        no_promote: bool,
    },
    /// Label every line of a text file with a registered model.
    Predict {
        /// `current` (the registry's current sentiment version) or a path to a model.json.
        #[arg(long, default_value = "current")]
        model: String,
        /// One text per line.
        #[arg(long)]
        input: PathBuf,
        /// One JSON object per line: {"text", "label", "score"}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    Cv10,
}

/// `mlsd sentiment …`.
pub fn run(runs_dir: &Path, registry: &Registry, cmd: SentimentCommand) -> Result<()> {
    use sentiment::{data, evaluate};
    let (data_dir, json) = match cmd {
        SentimentCommand::Evaluate {
            protocol: Protocol::Cv10,
            data_dir,
            json,
        } => (data_dir, json),
        SentimentCommand::Train {
            data_dir,
            no_promote,
        } => return train(registry, data_dir.as_deref(), no_promote),
        SentimentCommand::Predict { model, input, json } => {
            return predict(registry, &model, &input, json)
        }
    };
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

/// `mlsd sentiment train`.
fn train(registry: &Registry, data_dir: Option<&Path>, no_promote: bool) -> Result<()> {
    use sentiment::artifact::SentimentArtifact;
    use sentiment::data;
    use sentiment::text::TextConfig;
    let folder = data::folder(data_dir)?;
    let examples = data::load_rt_polarity(&folder)?;
    // Hold-out check on a seeded 90/10 split (every 10th snippet), then the model on all.
    let (held_out, rest): (Vec<_>, Vec<_>) = examples
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 10 == 0);
    let rest: Vec<data::Example> = rest.into_iter().map(|(_, e)| e).collect();
    let probe = SentimentArtifact::train(&rest, &TextConfig::default());
    let correct = held_out
        .iter()
        .filter(|(_, e)| (probe.predict(&e.text).label == "positive") == e.positive)
        .count();
    let accuracy = correct as f64 / held_out.len().max(1) as f64;
    let artifact = SentimentArtifact::train(&examples, &TextConfig::default());
    let sha = format!(
        "{}+{}",
        mlsd_core::report::sha256_file(&folder.join("rt-polarity.pos"))?,
        mlsd_core::report::sha256_file(&folder.join("rt-polarity.neg"))?
    );
    let manifest = artifact.register(
        registry,
        sha,
        [("holdout_accuracy".to_string(), accuracy)].into(),
    )?;
    if !no_promote {
        registry.promote(sentiment::DESIGN, &manifest.version)?;
    }
    println!(
        "{} nbsvm_bigram on {} snippets ({} n-grams); hold-out accuracy (every 10th snippet) {:.4}{}",
        manifest.version,
        artifact.trained_on,
        artifact.vectorizer.dims(),
        accuracy,
        if no_promote { "" } else { "; promoted to current" }
    );
    Ok(())
}

/// `mlsd sentiment predict`.
fn predict(registry: &Registry, model: &str, input: &Path, json: bool) -> Result<()> {
    use sentiment::artifact::SentimentArtifact;
    let artifact = if model == "current" {
        SentimentArtifact::load_current(registry)?.1
    } else {
        let path = Path::new(model);
        let bytes =
            std::fs::read(path).with_context(|| format!("while reading {}", path.display()))?;
        SentimentArtifact::from_bytes(&bytes, path)?
    };
    let bytes =
        std::fs::read(input).with_context(|| format!("while reading {}", input.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8: {e}", input.display()))?;
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in sentiment::data::lines(&text) {
        let p = artifact.predict(line);
        if json {
            writeln!(out, "{}", serde_json::to_string(&p)?)?;
        } else {
            writeln!(out, "{}\t{:+.3}\t{}", p.label, p.score, p.text)?;
        }
    }
    out.flush()?;
    Ok(())
}
