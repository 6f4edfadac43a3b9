//! `mlsd newsfeed …`: a thin layer over the newsfeed crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use mlsd_core::registry::Registry;
use mlsd_core::report::{markdown_table, RunDir};
use newsfeed::evaluate::{self, ModelRow};

use super::common::spinner;

#[derive(Subcommand)]
pub enum Command {
    /// Evaluate on a protocol: `mind` (the MIND-format sample, the last day as the test set,
    /// per-impression AUC / MRR / nDCG@5 / nDCG@10 as MIND's evaluate.py), `sim` (the news
    /// simulator: logged clicks and true relevance, CTR-only vs multi-objective, position
    /// bias, diversity, the feedback loop with and without exploration, A/B vs interleaving).
    Evaluate {
        #[arg(long, value_enum)]
        protocol: Protocol,
        /// Folder holding `mind-small-sample/` (never copied into the repository).
        #[arg(long, env = "MLSD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// MIND only: choose the feature settings on the validation day (the day before the
        /// test day, which is cut from the log) instead of evaluating.
        #[arg(long)]
        tune: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Protocol {
    Mind,
    Sim,
}

/// `mlsd newsfeed …`.
pub fn run(runs_dir: &Path, _registry: &Registry, cmd: Command) -> Result<()> {
    match cmd {
        Command::Evaluate {
            protocol,
            data_dir,
            seed,
            tune,
            json,
        } => run_evaluate(runs_dir, protocol, data_dir.as_deref(), seed, tune, json),
    }
}

fn run_evaluate(
    runs_dir: &Path,
    protocol: Protocol,
    dir: Option<&Path>,
    seed: u64,
    tune: bool,
    json: bool,
) -> Result<()> {
    let bar = spinner(json);
    let (name, value, table) = match protocol {
        Protocol::Mind => {
            bar.set_message("MIND sample: baselines and rankers, last day as the test set");
            let dir = dir
                .context("no data directory: pass --data-dir or set MLSD_DATA_DIR to the folder holding mind-small-sample/")?
                .join("mind-small-sample");
            let loaded = newsfeed::data::load_mind(&dir)?;
            if tune {
                bar.finish_and_clear();
                return print_tuning(&evaluate::tune_mind(&loaded.log, seed)?);
            }
            let r = evaluate::mind(&loaded.log, loaded.quarantine.len(), seed)?;
            let table = format!(
                "{}: {} training impressions ({} rows), {} test impressions (the last day, with a click and a non-click); {} rows quarantined; {:.1} s\n\n{}",
                r.source,
                r.train_impressions,
                r.train_rows,
                r.test_impressions,
                r.quarantined,
                r.seconds,
                list_table(&r.models)
            );
            ("mind", serde_json::to_value(&r)?, table)
        }
        Protocol::Sim => {
            bar.set_message("news simulator: rankers, position bias, diversity, 2 × 30-day feedback loop, A/B vs interleaving");
            let cfg = newsfeed::experiments::SimConfig {
                seed,
                ..Default::default()
            };
            let r = newsfeed::experiments::simulate_protocol(&cfg)?;
            ("sim", serde_json::to_value(&r)?, sim_tables(&r))
        }
    };
    bar.finish_and_clear();
    let run_dir = RunDir::create(runs_dir, &format!("newsfeed-evaluate-{name}"))?;
    mlsd_core::report::write_json(&run_dir.file("evaluation.json"), &value)?;
    if json {
        println!("{value}");
    } else {
        println!("{table}\nReport: {}", run_dir.path.display());
    }
    Ok(())
}

/// AUC, MRR, nDCG@5, nDCG@10 per model.
fn list_table(models: &[ModelRow]) -> String {
    let f = |v: f64| format!("{v:.4}");
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                f(m.auc),
                f(m.mrr),
                f(m.ndcg_at_5),
                f(m.ndcg_at_10),
            ]
        })
        .collect();
    markdown_table(&["model", "AUC", "MRR", "nDCG@5", "nDCG@10"], &rows)
}

/// The validation day's table, one row per feature setting.
fn print_tuning(runs: &[(evaluate::MindSettings, evaluate::MindReport)]) -> Result<()> {
    let f = |v: f64| format!("{v:.4}");
    let mut rows = Vec::new();
    for (cfg, r) in runs {
        for m in r
            .models
            .iter()
            .filter(|m| m.name.contains("ensemble") || m.name.contains("logistic"))
        {
            rows.push(vec![
                format!(
                    "{} / {} h / {}",
                    cfg.features.co_strength, cfg.warmup_hours, cfg.logistic_alpha
                ),
                m.name.clone(),
                f(m.auc),
                f(m.ndcg_at_10),
            ]);
        }
    }
    let headers = [
        "co strength / warm-up / LR alpha",
        "model",
        "AUC",
        "nDCG@10",
    ];
    println!(
        "Validation day (the test day cut from the log):\n\n{}",
        markdown_table(&headers, &rows)
    );
    Ok(())
}

/// The simulator protocol's tables.
fn sim_tables(r: &newsfeed::experiments::SimReport) -> String {
    let f = |v: f64| format!("{v:.3}");
    let offline = |rows: &[newsfeed::experiments::SimModelRow]| {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|m| {
                let l = &m.logged;
                vec![
                    l.name.clone(),
                    f(l.auc),
                    f(l.mrr),
                    f(l.ndcg_at_10),
                    f(m.true_ndcg_at_10),
                ]
            })
            .collect();
        markdown_table(&["model", "AUC", "MRR", "nDCG@10", "true nDCG@10"], &rows)
    };
    let online = |rows: &[newsfeed::experiments::OnlineRow]| {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|o| {
                vec![
                    o.name.clone(),
                    f(o.clicks_per_session),
                    f(o.reads_per_session),
                    f(o.dwell_minutes_per_session),
                    f(o.hides_per_session),
                    format!("{:.1} %", 100.0 * o.clickbait_served),
                    f(o.coverage),
                    f(o.topic_entropy),
                    f(o.true_ndcg_at_10),
                ]
            })
            .collect();
        let headers = [
            "policy",
            "clicks",
            "reads",
            "dwell min",
            "hides",
            "clickbait served",
            "coverage",
            "topic entropy",
            "true nDCG@10",
        ];
        markdown_table(&headers, &rows)
    };
    let loop_rows: Vec<Vec<String>> = r
        .feedback_loop
        .iter()
        .filter(|d| d.day % 5 == 4 || d.day == 0)
        .map(|d| {
            vec![
                d.day.to_string(),
                if d.exploration { "yes" } else { "no" }.into(),
                f(d.coverage),
                f(d.engagement),
                f(d.topic_entropy),
            ]
        })
        .collect();
    let e = &r.experiment;
    format!(
        "News simulator: {} training rows, {} logged test lists; {:.1} s\n\nOffline (the test day's logged lists re-ordered; true = the simulator's relevance):\n\n{}\nOnline (per session, the same users and sessions):\n\n{}\nPosition bias (click heads, against true relevance):\n\n{}\nDiversity (multi-objective boosting, MMR strength):\n\n{}\nFeedback loop (retrained daily on its own log; reads per session = engagement):\n\n{}\nExperiment, {} vs {} over {} days: A/B reads per user {:.3} vs {:.3} (sd {:.3}) → {:.0} users for 80 % power; interleaving prefers A for {:.0} % of deciding users (mean credit {:.3}, sd {:.3}) → {:.0} users; ratio {:.1}×\n",
        r.train_rows,
        r.test_impressions,
        r.seconds,
        offline(&r.models),
        online(&r.online),
        offline(&r.position_bias),
        online(&r.diversity),
        markdown_table(&["day", "exploration", "coverage", "engagement", "topic entropy"], &loop_rows),
        e.a,
        e.b,
        e.days,
        e.ab.mean_a,
        e.ab.mean_b,
        e.ab.sd,
        e.ab.users_needed,
        100.0 * e.interleaving.prefer_a,
        e.interleaving.mean_difference,
        e.interleaving.sd,
        e.interleaving.users_needed,
        e.ratio
    )
}
