//! `mlsd sentiment …`, `mlsd serve sentiment`, the demo's sentiment block and its serving
//! benchmark: a thin layer over the sentiment crate.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Subcommand;
use mlsd_core::registry::Registry;
use mlsd_core::report::RunDir;
use sentiment::artifact::SentimentArtifact;
use sentiment::pipeline::{train_and_register, training_data};

use super::bench::{report_bench, run_post_modes, BenchServeArgs};
use super::common::{
    emit_evaluation, positive, runtime, serve_until_signal, spinner, LimitsArgs, StateArgs,
};

#[derive(Subcommand)]
pub enum Command {
    /// Evaluate the models on the sentence-polarity data beside Wang & Manning's table.
    Evaluate {
        /// `cv10`: 10-fold cross-validation accuracy. `out-of-domain`: trained on all of
        /// rt-polarity, accuracy on VADER's human-rated Amazon and NYT snippets. `cascade`:
        /// NBSVM first, the unsure escalated to a frozen sentence encoder (needs a build with
        /// `--features encoder` and `scripts/encoder.sh install`), on both.
        #[arg(long, value_enum)]
        protocol: Protocol,
        /// The sentence encoder's folder for `cascade` (default: where
        /// `scripts/encoder.sh install` puts it).
        #[arg(long, env = "MLSD_ENCODER_DIR")]
        encoder_dir: Option<PathBuf>,
        /// Folder holding `rt-polarity/` (and `vader-groundtruth/` for out-of-domain; never
        /// copied into the repository).
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Print one JSON object: {"protocol", "models": [{"name", "accuracy", …}]}.
        #[arg(long)]
        json: bool,
    },
    /// Train NBSVM (bigrams) and register it in the model registry (promoted to current
    /// unless --no-promote). Data: --labelled FILE, else rt-polarity from --data-dir /
    /// MLSD_DATA_DIR, else the embedded reviews. Every 10th text is held out first: its
    /// accuracy and calibration error are recorded, the calibration is fitted on it.
    Train {
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Labelled texts: .jsonl ({"text", "label", "topic"?} per line) or .csv (header
        /// with text,label[,topic]); bad rows are quarantined and counted. Wins over the
        /// data directory.
        #[arg(long)]
        labelled: Option<PathBuf>,
        #[arg(long)]
        no_promote: bool,
    },
    /// The batch job: score every line of a text file into a JSON Lines file on several
    /// threads ({"text", "label", "score", "probability"} per line, input order).
    Batch {
        #[arg(long, default_value = "current")]
        model: String,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 2, value_parser = positive)]
        workers: usize,
    },
    /// Write seeded synthetic reviews as JSON Lines (the embedded default is `--domain
    /// gadgets --n 2000 --seed 42`).
    Generate {
        #[arg(long, value_enum, default_value = "gadgets")]
        domain: DomainArg,
        #[arg(long, default_value_t = 2_000)]
        n: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Text drift from files: compare the lines of --current with the model's reference texts
    /// (held-out training texts saved in the version) on vocabulary, length, words,
    /// predictions and a domain classifier — the checks `GET /v1/sentiment/drift` runs on live
    /// traffic, without a server. Lines that are not UTF-8 are counted and skipped.
    Monitor {
        #[arg(long, default_value = "current")]
        model: String,
        /// One text per line.
        #[arg(long)]
        current: PathBuf,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Label every line of a text file with a registered model. Prints, per non-blank line,
    /// `label<TAB>score<TAB>text` (or with --json {"text", "label", "score", "probability"}):
    /// label is positive, negative, or undecided (no word of the text was seen in training);
    /// score is the decision value (> 0 positive, its size a margin); probability is the
    /// calibrated P(positive). A line that is not UTF-8 is printed as `error` ({"line",
    /// "error": "invalid_utf8"}) and the rest are scored.
    Predict {
        /// `current` (the registry's current sentiment version) or a path to a model.json.
        #[arg(long, default_value = "current")]
        model: String,
        /// One text per line.
        #[arg(long)]
        input: PathBuf,
        /// One JSON object per line: {"text", "label", "score", "probability"}.
        #[arg(long)]
        json: bool,
    },
    /// Append generated reviews with their topics to the texts' log on Redis Streams
    /// (`<prefix>:texts`).
    Produce(super::streams::TextProduceArgs),
    /// Score the texts' log with the current model into the Redis topic windows as one
    /// consumer of a group, taking over what dead consumers left unacknowledged.
    Consume(super::streams::TextConsumeArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    Cv10,
    OutOfDomain,
    Cascade,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DomainArg {
    Gadgets,
    Travel,
}

impl From<DomainArg> for sentiment::reviews::Domain {
    fn from(d: DomainArg) -> Self {
        match d {
            DomainArg::Gadgets => sentiment::reviews::Domain::Gadgets,
            DomainArg::Travel => sentiment::reviews::Domain::Travel,
        }
    }
}

/// `mlsd sentiment …`.
pub fn run(runs_dir: &Path, registry: &Registry, cmd: Command) -> Result<()> {
    use sentiment::{data, evaluate};
    let (protocol, data_dir, encoder_dir, json) = match cmd {
        Command::Produce(args) => return super::streams::text_produce(&args),
        Command::Consume(args) => return super::streams::text_consume(registry, &args),
        Command::Evaluate {
            protocol,
            data_dir,
            encoder_dir,
            json,
        } => (protocol, data_dir, encoder_dir, json),
        Command::Train {
            data_dir,
            labelled,
            no_promote,
        } => {
            return train(
                registry,
                data_dir.as_deref(),
                labelled.as_deref(),
                no_promote,
            )
        }
        Command::Batch {
            model,
            input,
            out,
            workers,
        } => {
            let (version, artifact) = load_model(registry, &model)?;
            let b = sentiment::batch::score_file(&artifact, &input, &out, workers)?;
            println!(
                "{} texts scored with {version} in {:.2} s on {} workers ({:.0} texts/s, I/O included){} → {}",
                b.texts,
                b.seconds,
                b.workers,
                b.texts_per_second,
                if b.invalid > 0 {
                    format!("; {} lines not UTF-8 (recorded as errors)", b.invalid)
                } else {
                    String::new()
                },
                out.display()
            );
            return Ok(());
        }
        Command::Generate {
            domain,
            n,
            seed,
            out,
        } => {
            let reviews = sentiment::reviews::generate(domain.into(), n, seed);
            mlsd_core::report::atomic_write(
                &out,
                sentiment::reviews::to_jsonl(&reviews).as_bytes(),
            )?;
            println!("{n} reviews → {}", out.display());
            return Ok(());
        }
        Command::Predict { model, input, json } => return predict(registry, &model, &input, json),
        Command::Monitor {
            model,
            current,
            json,
        } => return monitor(runs_dir, registry, &model, &current, json),
    };
    if let Protocol::Cascade = protocol {
        return cascade(runs_dir, data_dir.as_deref(), encoder_dir, json);
    }
    let folder = data::folder(data_dir.as_deref())?;
    let examples = data::load_rt_polarity(&folder)
        .with_context(|| format!("while loading {}", folder.display()))?;
    let run_dir = RunDir::create(runs_dir, "sentiment-evaluate")?;
    let bar = spinner(json);
    if let Protocol::OutOfDomain = protocol {
        use sentiment::out_of_domain;
        let dir = data_dir
            .as_deref()
            .context("out-of-domain needs --data-dir")?;
        let sets = out_of_domain::load_sets(dir).with_context(|| {
            format!(
                "while loading {}",
                dir.join(out_of_domain::FOLDER).display()
            )
        })?;
        bar.set_message("training on rt-polarity, scoring Amazon and NYT snippets");
        let synthetic = sentiment::reviews::embedded().examples;
        let report = out_of_domain::out_of_domain(&examples, &synthetic, sets);
        bar.finish_and_clear();
        let value = serde_json::to_value(&report)?;
        return emit_evaluation(&run_dir, &value, json, || {
            format!(
                "Trained on {} ({} texts); scored on {}\n\n{}",
                folder.display(),
                examples.len(),
                dir.join(out_of_domain::FOLDER).display(),
                out_of_domain::render(&report)
            )
        });
    }
    bar.set_message("10-fold cross-validation");
    let report = evaluate::cv10(&examples, &evaluate::Cv10Config::default());
    bar.finish_and_clear();
    let value = serde_json::to_value(&report)?;
    emit_evaluation(&run_dir, &value, json, || {
        format!(
            "Sentence polarity from {}\n\n{}",
            folder.display(),
            evaluate::render(&report)
        )
    })
}

/// `mlsd sentiment evaluate --protocol cascade`: NBSVM, then the sentence encoder for the
/// unsure, on the 10 folds and out of domain (when `vader-groundtruth/` is in the data folder).
#[cfg(feature = "encoder")]
fn cascade(
    runs_dir: &Path,
    data_dir: Option<&Path>,
    encoder_dir: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use sentiment::{cascade, data, encoder, out_of_domain};
    let folder = data::folder(data_dir)?;
    let examples = data::load_rt_polarity(&folder)
        .with_context(|| format!("while loading {}", folder.display()))?;
    let dir = encoder_dir.unwrap_or_else(encoder::default_dir);
    let model = encoder::SentenceEncoder::load(&dir).with_context(|| {
        format!(
            "while loading the sentence encoder from {} (scripts/encoder.sh install)",
            dir.display()
        )
    })?;
    let sets = match data_dir {
        Some(d) if d.join(out_of_domain::FOLDER).is_dir() => out_of_domain::load_sets(d)?,
        _ => Vec::new(),
    };
    let bar = spinner(json);
    bar.set_message("embedding rt-polarity, then 10 folds and the out-of-domain sets");
    let report = cascade::evaluate(
        &model,
        "all-MiniLM-L6-v2",
        &examples,
        &sets,
        &cascade::CascadeConfig::default(),
    );
    bar.finish_and_clear();
    let run_dir = RunDir::create(runs_dir, "sentiment-evaluate")?;
    let value = serde_json::to_value(&report)?;
    emit_evaluation(&run_dir, &value, json, || {
        format!(
            "Trained and scored on {}\n\n{}",
            folder.display(),
            cascade::render(&report)
        )
    })
}

#[cfg(not(feature = "encoder"))]
fn cascade(_: &Path, _: Option<&Path>, _: Option<PathBuf>, _: bool) -> Result<()> {
    anyhow::bail!(
        "this mlsd was built without the encoder feature: \
         cargo run --release --features encoder -- sentiment evaluate --protocol cascade \
         (after scripts/encoder.sh install)"
    )
}

/// `mlsd sentiment train`.
fn train(
    registry: &Registry,
    data_dir: Option<&Path>,
    labelled: Option<&Path>,
    no_promote: bool,
) -> Result<()> {
    let data = training_data(data_dir, labelled)?;
    let source = data.source.clone();
    let quarantined = data.quarantined;
    let (manifest, artifact, holdout) = train_and_register(registry, data, !no_promote)?;
    if artifact.synthetic_only {
        eprintln!("{}", sentiment::artifact::SYNTHETIC_WARNING);
    }
    println!(
        "{} nbsvm_bigram on {} texts from {} ({} quarantined; {} n-grams); hold-out (every 10th text): accuracy {:.4}, calibration error {:.3}{}",
        manifest.version,
        artifact.trained_on,
        source,
        quarantined,
        artifact.vectorizer.dims(),
        holdout.accuracy,
        holdout.ece,
        if no_promote { "" } else { "; promoted to current" }
    );
    Ok(())
}

/// `mlsd sentiment predict`.
fn predict(registry: &Registry, model: &str, input: &Path, json: bool) -> Result<()> {
    let (_, artifact) = load_model(registry, model)?;
    let bytes =
        std::fs::read(input).with_context(|| format!("while reading {}", input.display()))?;
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut invalid = Vec::new();
    // As the batch job does: a line that is not UTF-8 is marked where it stands, the rest
    // are scored.
    for (n, raw) in sentiment::batch::numbered_lines(&bytes) {
        match std::str::from_utf8(raw) {
            Ok(line) => {
                let p = artifact.predict(line);
                if json {
                    writeln!(out, "{}", serde_json::to_string(&p)?)?;
                } else {
                    writeln!(out, "{}\t{:+.3}\t{}", p.label, p.score, p.text)?;
                }
            }
            Err(_) => {
                invalid.push(n);
                if json {
                    writeln!(out, "{}", sentiment::batch::invalid_line(n))?;
                } else {
                    writeln!(out, "error\t\tline {n} is not UTF-8")?;
                }
            }
        }
    }
    out.flush()?;
    if !invalid.is_empty() {
        eprintln!(
            "{} line(s) of {} are not UTF-8 and were not scored: {invalid:?}",
            invalid.len(),
            input.display()
        );
    }
    Ok(())
}

/// `mlsd sentiment monitor`.
fn monitor(
    runs_dir: &Path,
    registry: &Registry,
    model: &str,
    current: &Path,
    json: bool,
) -> Result<()> {
    use sentiment::monitor;
    let (version, artifact) = load_model(registry, model)?;
    if artifact.reference_texts.is_empty() {
        anyhow::bail!(
            "{version} keeps no reference texts (trained before drift checks existed): retrain it"
        );
    }
    let bytes =
        std::fs::read(current).with_context(|| format!("while reading {}", current.display()))?;
    let mut invalid = 0usize;
    let texts: Vec<String> = sentiment::batch::numbered_lines(&bytes)
        .into_iter()
        .filter_map(|(_, raw)| match std::str::from_utf8(raw) {
            Ok(t) => Some(t.to_string()),
            Err(_) => {
                invalid += 1;
                None
            }
        })
        .collect();
    if texts.is_empty() {
        anyhow::bail!("{} holds no text lines to compare", current.display());
    }
    let report = monitor::check(
        &artifact,
        &artifact.reference_texts,
        &texts,
        &monitor::TextDriftConfig::default(),
    );
    let title = format!(
        "{} texts of {} vs {}'s {} reference texts{}",
        texts.len(),
        current.display(),
        version,
        artifact.reference_texts.len(),
        if invalid > 0 {
            format!(" ({invalid} lines not UTF-8, skipped)")
        } else {
            String::new()
        }
    );
    let value = serde_json::to_value(&report)?;
    super::common::emit_monitor(runs_dir, "sentiment", &title, &value, json, || {
        format!(
            "{title}\n\n{}\ndrift: {}",
            monitor::render(&report),
            report.drifted
        )
    })?;
    Ok(())
}

/// `mlsd serve sentiment`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8082")]
    addr: std::net::SocketAddr,
    /// Predictions kept for repeated texts (0: no cache).
    #[arg(long, default_value_t = 100_000)]
    cache_capacity: usize,
    /// Gather concurrent POST /v1/sentiment requests into micro-batches.
    #[arg(long)]
    micro_batch: bool,
    /// Longest a live (SSE) connection stays open, in seconds; clients reconnect by themselves.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    live_max_secs: u64,
    #[command(flatten)]
    limits: LimitsArgs,
    /// Where the per-topic windows live.
    #[command(flatten)]
    state: StateArgs,
}

/// The model a command names: the registry's current version or a model.json file.
fn load_model(registry: &Registry, model: &str) -> Result<(String, SentimentArtifact)> {
    let loaded = if model == "current" {
        SentimentArtifact::load_current(registry).with_context(|| {
            "no current sentiment model: run `mlsd sentiment train` (embedded reviews, a second) or `mlsd demo`"
        })?
    } else {
        let path = Path::new(model);
        let bytes =
            std::fs::read(path).with_context(|| format!("while reading {}", path.display()))?;
        (
            path.display().to_string(),
            SentimentArtifact::from_bytes(&bytes, path)?,
        )
    };
    if loaded.1.synthetic_only {
        eprintln!("{}", sentiment::artifact::SYNTHETIC_WARNING);
    }
    Ok(loaded)
}

pub fn serve(registry: Registry, args: &ServeArgs) -> Result<()> {
    use sentiment::serve;
    let mut config = serve::ServeConfig {
        cache_capacity: args.cache_capacity,
        live_max: Duration::from_secs(args.live_max_secs),
        state: args.state.backend(sentiment::DESIGN)?,
        ..serve::ServeConfig::default()
    };
    config.server = mlsd_core::server::ServerConfig {
        micro_batch: args
            .micro_batch
            .then(mlsd_core::serve::MicroBatchConfig::default),
        ..args.limits.apply(config.server)?
    };
    let idle = args.limits.idle_timeout();
    if let Ok((_, current)) = SentimentArtifact::load_current(&registry) {
        if current.synthetic_only {
            eprintln!("{}", sentiment::artifact::SYNTHETIC_WARNING);
        }
    }
    runtime("server")?.block_on(async move {
        let state = serve::state(registry, config).context(
            "no current sentiment model: run `mlsd sentiment train` (embedded reviews, a second) or `mlsd demo`",
        )?;
        eprintln!(
            "serving sentiment model {} (topic windows: {})",
            state.serving_version(),
            args.state.backend(sentiment::DESIGN)?.describe()
        );
        state.watch_registry();
        let closing = state.clone();
        serve_until_signal(args.addr, serve::router(state), idle, move || {
            // Live feeds never end by themselves: end them so draining can finish.
            closing.close_live_feeds()
        })
        .await
    })
}

/// What `mlsd demo` shows of the sentiment design.
#[derive(serde::Serialize)]
pub struct Demo {
    pub version: String,
    pub trained_on: usize,
    pub features: usize,
    pub holdout: sentiment::artifact::Holdout,
    #[serde(flatten)]
    pub served: DemoServed,
}

/// What the demo saw through the API.
#[derive(serde::Serialize)]
pub struct DemoServed {
    /// (text, label, P(positive), served from the cache).
    pub singles: Vec<(String, String, f64, bool)>,
    pub stream: serde_json::Value,
    /// The first live-feed event for one topic after the stream.
    pub live_topic: String,
    pub live: serde_json::Value,
    pub drift_same_domain: serde_json::Value,
    pub drift_other_domain: serde_json::Value,
}

/// Trains on the embedded reviews, registers and promotes the model, serves it in-process,
/// and drives every endpoint once.
pub fn demo(registry: &Registry, progress: impl Fn(&str)) -> Result<Demo> {
    progress("sentiment: training NBSVM on the embedded reviews");
    let (manifest, model, holdout) =
        train_and_register(registry, training_data(None, None)?, true)?;
    progress("sentiment: serving, streaming, following a topic");
    let version = manifest.version.clone();
    let (trained_on, features) = (model.trained_on, model.vectorizer.dims());
    let served = runtime("sentiment demo")?.block_on(demo_serving(registry))?;
    Ok(Demo {
        version,
        trained_on,
        features,
        holdout,
        served,
    })
}

/// One request to the demo's server; anything but 200 is an error naming the route.
async fn call(
    client: &mut mlsd_core::loadgen::Client,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Result<serde_json::Value> {
    let (content_type, bytes) = body.map_or(("application/json", None), |(t, b)| (t, Some(b)));
    let r = client.request_as(method, path, content_type, bytes).await?;
    anyhow::ensure!(
        r.status == 200,
        "{method} {path}: {} {}",
        r.status,
        r.text()
    );
    Ok(serde_json::from_slice(&r.body)?)
}

async fn demo_serving(registry: &Registry) -> Result<DemoServed> {
    use mlsd_core::loadgen::{read_sse, Client};
    use sentiment::reviews::{generate, to_jsonl, Domain};
    use sentiment::serve;
    const NDJSON: &str = "application/x-ndjson";
    let config = serve::ServeConfig {
        live_interval: Duration::from_millis(100),
        ..serve::ServeConfig::default()
    };
    let state = serve::state(registry.clone(), config)?;
    let server =
        mlsd_core::serve::Running::start("127.0.0.1:0".parse()?, serve::router(state.clone()))
            .await?;
    let mut client = Client::connect(server.addr).await?;
    let mut singles = Vec::new();
    for text in [
        "the battery lasts two full days!",
        "the screen is not bad at all",
        "oh great, the camera keeps crashing again",
        "the battery lasts two full days!",
    ] {
        let body = serde_json::json!({ "text": text, "topic": "demo" }).to_string();
        let json = ("application/json", body.as_bytes());
        let v = call(&mut client, "POST", "/v1/sentiment", Some(json)).await?;
        singles.push((
            text.to_string(),
            v["label"].as_str().unwrap_or("?").to_string(),
            v["probability"].as_f64().unwrap_or(f64::NAN),
            v["cached"].as_bool().unwrap_or(false),
        ));
    }
    // A stream of fresh reviews (another seed than the training file) with two bad lines.
    let mut reviews = to_jsonl(&generate(Domain::Gadgets, 1_000, 7));
    reviews.push_str("{not json\n{\"text\": \"   \", \"topic\": \"battery\"}\n");
    let stream = "/v1/sentiment/stream";
    let summary = call(
        &mut client,
        "POST",
        stream,
        Some((NDJSON, reviews.as_bytes())),
    )
    .await?;
    let live_topic = "battery".to_string();
    let events = read_sse(
        server.addr,
        &format!("/v1/sentiment/live?topic={live_topic}"),
        1,
        Duration::from_secs(5),
    )
    .await?;
    let live = events
        .first()
        .map(|(_, data)| serde_json::from_str(data))
        .transpose()?
        .unwrap_or(serde_json::Value::Null);
    let drift_same_domain = call(&mut client, "GET", "/v1/sentiment/drift", None).await?;
    // Then hotel reviews arrive: same task, other words.
    let travel = to_jsonl(&generate(Domain::Travel, 1_000, 8));
    call(
        &mut client,
        "POST",
        stream,
        Some((NDJSON, travel.as_bytes())),
    )
    .await?;
    let drift_other_domain = call(&mut client, "GET", "/v1/sentiment/drift", None).await?;
    state.close_live_feeds();
    server.stop().await?;
    Ok(DemoServed {
        singles,
        stream: summary,
        live_topic,
        live,
        drift_same_domain,
        drift_other_domain,
    })
}

/// The demo's sentiment block.
pub fn print_demo(demo: &Demo) {
    let d = demo;
    println!(
        "\nSentiment (embedded synthetic reviews: {} texts, every 10th held out)\n  \
         {} nbsvm_bigram on {} texts, {} n-grams: hold-out accuracy {:.3}, calibration error {:.3}; registered and promoted\n  \
         (synthetic-only: at chance on real text; `mlsd sentiment evaluate --protocol out-of-domain` measures it)",
        d.trained_on + d.holdout.texts,
        d.version,
        d.trained_on,
        d.features,
        d.holdout.accuracy,
        d.holdout.ece
    );
    let d = &demo.served;
    for (text, label, p, cached) in &d.singles {
        println!(
            "  POST /v1/sentiment {text:?} → {label} (P = {p:.2}){}",
            if *cached { ", from the cache" } else { "" }
        );
    }
    let rejected: u64 = d.stream["rejected"]
        .as_object()
        .map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
    println!(
        "  POST /v1/sentiment/stream (NDJSON): {} lines scored, {} refused {}",
        d.stream["accepted"], rejected, d.stream["rejected"]
    );
    let windows: Vec<String> = d.live["windows"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| {
                    format!(
                        "{} s: {} texts, {:.0} % positive",
                        w["seconds"],
                        w["count"],
                        100.0 * w["share_positive"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "  GET /v1/sentiment/live?topic={} (SSE) → {}",
        d.live_topic,
        windows.join("; ")
    );
    let verdict = |v: &serde_json::Value| -> String {
        let r = &v["report"];
        if r.is_null() {
            return format!("not enough texts yet ({})", v["window"]);
        }
        let flagged: Vec<&str> = r["checks"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter(|c| c["drifted"].as_bool() == Some(true))
                    .filter_map(|c| c["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "{} texts, out-of-vocabulary {:.1} %: {}",
            r["current_texts"],
            100.0 * r["oov_rate_current"].as_f64().unwrap_or(0.0),
            if flagged.is_empty() {
                "no drift".to_string()
            } else {
                format!("DRIFT ({})", flagged.join(", "))
            }
        )
    };
    println!(
        "  GET /v1/sentiment/drift: after the review stream {}; after 1,000 hotel reviews {}",
        verdict(&d.drift_same_domain),
        verdict(&d.drift_other_domain)
    );
}

/// What `mlsd bench serve --design sentiment` reports beside every design's fields.
#[derive(serde::Serialize)]
struct BenchFields {
    model_version: String,
    batch_job: sentiment::batch::BatchSummary,
}

/// `mlsd bench serve --design sentiment`.
pub fn bench_serve(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    use sentiment::{bench, serve};
    let run_dir = RunDir::create(runs_dir, "bench-serve-sentiment")?;
    let registry = Registry::open(run_dir.file("registry"));
    let bar = spinner(args.json);
    bar.set_message("training NBSVM on the embedded reviews");
    let (manifest, model, _) = train_and_register(&registry, training_data(None, None)?, true)?;
    let version = manifest.version;
    // Texts the model has not seen (another seed), built before any timing.
    let texts = bench::texts(5_000, 11);
    let single = Arc::new(bench::single_bodies(&texts)?);
    let batched = Arc::new(bench::batch_bodies(&texts, args.batch_size)?);
    let base = serve::ServeConfig {
        // The model is measured, not the cache (5,000 texts cycle: a cache would hit).
        cache_capacity: 0,
        ..serve::ServeConfig::default()
    };
    let modes = run_post_modes(
        args,
        &base.server,
        ("/v1/sentiment", single),
        ("/v1/sentiment/batch", batched),
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
    let n = if args.quick { 20_000 } else { 200_000 };
    let input = run_dir.file("texts.txt");
    mlsd_core::report::atomic_write(&input, bench::text_file(n, 12).as_bytes())?;
    let batch_job =
        sentiment::batch::score_file(&model, &input, &run_dir.file("predictions.jsonl"), 2)?;
    bar.finish_and_clear();
    let b = &batch_job;
    let batch_job_line = format!(
        "batch job (read, score, write JSON Lines; {} texts, {} workers): {:.0} texts/s",
        b.texts, b.workers, b.texts_per_second
    );
    let fields = BenchFields {
        model_version: version,
        batch_job,
    };
    report_bench(&run_dir, "sentiment", args, &modes, fields, batch_job_line)
}

/// `mlsd bench load --design sentiment`: 5,000 generated reviews with their topics, one
/// `POST /v1/sentiment` body each (each counted in its topic's windows).
pub fn topic_bodies() -> Result<Vec<Vec<u8>>> {
    use sentiment::reviews::{generate, Domain};
    generate(Domain::Gadgets, 5_000, 11)
        .into_iter()
        .map(|e| {
            let topic = e.topic.unwrap_or_else(|| "general".into());
            Ok(serde_json::to_vec(
                &serde_json::json!({ "text": e.text, "topic": topic }),
            )?)
        })
        .collect()
}
