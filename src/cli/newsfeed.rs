//! `mlsd newsfeed …`: a thin layer over the newsfeed crate.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use mlsd_core::registry::Registry;
use mlsd_core::report::{markdown_table, RunDir};
use newsfeed::artifact::{NewsfeedArtifact, TrainConfig};
use newsfeed::evaluate::{self, ModelRow};

use super::bench::{report_bench, BenchServeArgs};
use super::common::{emit_monitor, runtime, serve_until_signal, spinner, LimitsArgs, StateArgs};

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
        /// With `--protocol sim`: run a classic mistake beside the honest design — `ctr-only`,
        /// `no-exploration` or `all` — and print both numbers.
        #[arg(long, value_name = "NAME")]
        mistake: Option<String>,
    },
    /// Simulate the news service with the logging policy, train the multi-objective ranker,
    /// serve one validation day with it, register (and promote unless --no-promote).
    Train {
        #[arg(long)]
        no_promote: bool,
    },
    /// Run the news simulator for N days with the logging policy (smoothed CTR, 3 exploration
    /// slots) and print each day; with --out, write the log in the MIND format (behaviors.tsv,
    /// news.tsv), which `evaluate --protocol mind --data-dir` reads from `<out>/mind-small-sample`.
    Simulate {
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=365))]
        days: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The batch candidate job: every known user's top-100 pool from the current version's
    /// snapshot (retrieved and ranked), users per second.
    Batch {
        #[arg(long, default_value_t = 100)]
        pool: usize,
    },
    /// The served topic mix of two simulated days after the cutoff against the current
    /// version's reference day, ordinary or with a breaking-news surge in topic 0.
    Monitor {
        #[arg(long)]
        surge: bool,
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
pub fn run(runs_dir: &Path, registry: &Registry, cmd: Command) -> Result<()> {
    match cmd {
        Command::Evaluate {
            protocol,
            data_dir,
            seed,
            tune,
            json,
            mistake,
        } => match mistake {
            Some(name) => {
                anyhow::ensure!(
                    matches!(protocol, Protocol::Sim),
                    "--mistake runs on --protocol sim (the news feed's mistakes: {})",
                    newsfeed::mistakes::ALL.join(", ")
                );
                let cfg = newsfeed::experiments::SimConfig {
                    seed,
                    ..Default::default()
                };
                let runs = newsfeed::mistakes::run(&[name.as_str()], &cfg)?;
                super::common::print_mistakes("newsfeed", &runs, json)
            }
            None => run_evaluate(runs_dir, protocol, data_dir.as_deref(), seed, tune, json),
        },
        Command::Train { no_promote } => {
            let (manifest, model, t) = newsfeed::pipeline::train_and_register(
                registry,
                &TrainConfig::default(),
                !no_promote,
            )?;
            println!(
                "{} {} on {} rows in {:.1} s; validation day: {:.3} reads and {:.3} clicks per session, {:.1} % clickbait served{}",
                manifest.version,
                model.ranker.name(),
                t.rows,
                t.seconds,
                t.reads_per_session,
                t.clicks_per_session,
                100.0 * t.clickbait_served,
                if no_promote { "" } else { "; promoted to current" }
            );
            Ok(())
        }
        Command::Simulate { days, seed, out } => simulate(days, seed, out.as_deref()),
        Command::Batch { pool } => {
            let current = current(registry)?;
            let (_, r) = newsfeed::batch::candidate_pools(&current.model, pool);
            println!(
                "{} users' top-{} pools from {} ({:.0} candidates each) in {:.2} s: {:.0} users/s",
                r.users, r.pool, current.version, r.mean_candidates, r.seconds, r.users_per_second
            );
            Ok(())
        }
        Command::Monitor { surge, json } => {
            let current = current(registry)?;
            let r =
                newsfeed::monitor::simulated_days(&TrainConfig::default(), &current.model, surge);
            let title = format!(
                "Two simulated days{} served by {} against its reference days",
                if surge { " with a topic surge" } else { "" },
                current.version
            );
            let value = serde_json::to_value(&r)?;
            emit_monitor(runs_dir, "newsfeed", &title, &value, json, || {
                format!(
                    "{} slots served over two days against {}'s reference days: topic mix Jensen-Shannon distance {:.3} ({}; threshold {}), clicked mix {:.3}, rising topic {:?}; topic entropy {:.2} bits; hide rate {:.3}; mean age {:.1} h",
                    r.current.slots,
                    current.version,
                    r.topic_distance,
                    if r.topic_drift { "drift" } else { "no drift" },
                    newsfeed::monitor::TOPIC_DRIFT,
                    r.clicked_topic_distance.unwrap_or(f64::NAN),
                    r.rising_topic.map(|(t, d)| format!("topic {t} {:+.1} points", 100.0 * d)),
                    r.current.topic_entropy,
                    r.current.hide_rate,
                    r.current.mean_age_hours
                )
            })?;
            Ok(())
        }
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
    if let Some(days) = value.get("feedback_loop") {
        let days: Vec<newsfeed::experiments::LoopDay> = serde_json::from_value(days.clone())?;
        let chart = feedback_chart(&days);
        mlsd_core::report::atomic_write(
            &run_dir.file("feedback_loop.svg"),
            chart.to_svg().as_bytes(),
        )?;
        mlsd_core::report::atomic_write(&run_dir.file("feedback_loop.png"), &chart.to_png())?;
    }
    super::common::emit_evaluation(&run_dir, &value, json, || table)
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
                    "{} / {} / {} h / {}",
                    cfg.features.co_strength,
                    cfg.features.history_cap,
                    cfg.warmup_hours,
                    cfg.logistic_alpha
                ),
                m.name.clone(),
                f(m.auc),
                f(m.ndcg_at_10),
            ]);
        }
    }
    let headers = [
        "co strength / history / warm-up / LR alpha",
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
        "News simulator: {} training rows, {} logged test lists; {:.1} s\n\nOffline (the test day's logged lists re-ordered; true = the simulator's relevance):\n\n{}\nOnline (per session, the same users and sessions):\n\n{}\nPosition bias (click heads; true = the click probability once the user looks, free of the slot):\n\n{}\nDiversity (multi-objective boosting, MMR strength):\n\n{}\nFeedback loop (retrained daily on its own log; reads per session = engagement):\n\n{}\nExperiment, {} vs {} over {} days: A/B reads per user {:.3} vs {:.3} (sd {:.3}) → {:.0} users for 80 % power; interleaving prefers A for {:.0} % of deciding users (mean credit {:.3}, sd {:.3}) → {:.0} users; ratio {:.1}×\n",
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

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8084")]
    addr: std::net::SocketAddr,
    #[command(flatten)]
    limits: LimitsArgs,
    /// Where the writes go: `memory` (this process) or a Redis URL whose log every replica
    /// applies (articles and events posted to any replica reach all of them).
    #[command(flatten)]
    state: StateArgs,
}

/// `mlsd serve newsfeed`.
pub fn serve(registry: Registry, args: &ServeArgs) -> Result<()> {
    use newsfeed::serve;
    let mut config = serve::ServeConfig {
        state: args.state.backend(newsfeed::DESIGN)?,
        ..serve::ServeConfig::default()
    };
    config.server = args.limits.apply(config.server)?;
    let idle = args.limits.idle_timeout();
    let shared = config.state.describe();
    runtime("server")?.block_on(async move {
        let state = serve::state(registry, config).context(
            "no current newsfeed model: run `mlsd newsfeed train` (seconds) or `mlsd demo`",
        )?;
        eprintln!(
            "serving newsfeed model {} (writes: {shared})",
            state.serving_version()
        );
        state.watch_registry();
        serve_until_signal(args.addr, serve::router(state), idle, || {}).await
    })
}

fn current(registry: &Registry) -> Result<mlsd_core::design::Versioned<NewsfeedArtifact>> {
    mlsd_core::design::load::<NewsfeedArtifact>(registry, None)
        .context("no current newsfeed model: run `mlsd newsfeed train` (seconds) or `mlsd demo`")
}

/// What `mlsd demo` shows of the news-feed design.
#[derive(serde::Serialize)]
pub struct Demo {
    pub version: String,
    pub training: newsfeed::artifact::Training,
    pub ordinary: newsfeed::monitor::MonitorReport,
    pub surge: newsfeed::monitor::MonitorReport,
    /// What the API answered: feeds, events, fresh articles.
    pub served: serde_json::Value,
}

pub fn demo(registry: &Registry, progress: impl Fn(&str)) -> Result<Demo> {
    progress("news feed: simulating a week of logs, training the multi-objective ranker");
    let cfg = TrainConfig::default();
    let (manifest, model, training) = newsfeed::pipeline::train_and_register(registry, &cfg, true)?;
    progress("news feed: an ordinary day and a breaking-news surge against the reference");
    let ordinary = newsfeed::monitor::simulated_days(&cfg, &model, false);
    let surge = newsfeed::monitor::simulated_days(&cfg, &model, true);
    progress("news feed: serving feeds, events and fresh articles");
    let served = runtime("news-feed demo")?.block_on(demo_serving(registry, &model))?;
    Ok(Demo {
        version: manifest.version,
        training,
        ordinary,
        surge,
        served,
    })
}

async fn demo_serving(registry: &Registry, model: &NewsfeedArtifact) -> Result<serde_json::Value> {
    use mlsd_core::loadgen::Client;
    use newsfeed::serve;
    let state = serve::state(registry.clone(), serve::ServeConfig::default())?;
    let server =
        mlsd_core::serve::Running::start("127.0.0.1:0".parse()?, serve::router(state)).await?;
    let mut client = Client::connect(server.addr).await?;
    let users: Vec<u32> = model.snapshot.histories.keys().take(100).copied().collect();
    let mut first = Vec::new();
    for &u in &users {
        let path = format!("/v1/newsfeed/users/{u}/feed?k=10");
        let r = client
            .request_as("GET", &path, "application/json", None)
            .await?;
        anyhow::ensure!(r.status == 200, "GET {path}: {} {}", r.status, r.text());
        first.push(serde_json::from_str::<serde_json::Value>(&r.text())?);
    }
    let funnel = first
        .first()
        .map(|f| f["funnel"].clone())
        .unwrap_or_default();
    // Each user reads the top article of their feed.
    let events: Vec<serde_json::Value> = users
        .iter()
        .zip(&first)
        .map(|(u, f)| serde_json::json!({ "user_id": u, "article_id": f["items"][0]["article_id"], "kind": "click", "position": 0, "dwell_seconds": 60.0 }))
        .collect();
    let body = serde_json::json!({ "events": events }).to_string();
    let r = client
        .request_as(
            "POST",
            "/v1/newsfeed/events",
            "application/json",
            Some(body.as_bytes()),
        )
        .await?;
    anyhow::ensure!(r.status == 202, "POST events: {} {}", r.status, r.text());
    let articles: Vec<serde_json::Value> = (0..5)
        .map(|t| serde_json::json!({ "topic": t, "publisher": 900 + t }))
        .collect();
    let body = serde_json::json!({ "articles": articles }).to_string();
    let r = client
        .request_as(
            "POST",
            "/v1/newsfeed/articles",
            "application/json",
            Some(body.as_bytes()),
        )
        .await?;
    anyhow::ensure!(r.status == 201, "POST articles: {} {}", r.status, r.text());
    let fresh: Vec<u64> = serde_json::from_str::<serde_json::Value>(&r.text())?["article_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default();
    let (mut changed, mut with_fresh) = (0, 0);
    for (&u, before) in users.iter().zip(&first) {
        let r = client
            .request_as(
                "GET",
                &format!("/v1/newsfeed/users/{u}/feed?k=10"),
                "application/json",
                None,
            )
            .await?;
        let after: serde_json::Value = serde_json::from_str(&r.text())?;
        changed += usize::from(after["items"] != before["items"]);
        let ids = after["items"].as_array().cloned().unwrap_or_default();
        with_fresh += usize::from(
            ids.iter()
                .any(|i| i["article_id"].as_u64().is_some_and(|a| fresh.contains(&a))),
        );
    }
    server.stop().await?;
    Ok(
        serde_json::json!({ "users": users.len(), "funnel": funnel, "changed": changed, "with_fresh": with_fresh }),
    )
}

pub fn print_demo(d: &Demo) {
    let t = &d.training;
    println!(
        "\nPersonalized news feed (news simulator, seed 42; registry version {})",
        d.version
    );
    println!(
        "Multi-objective ranker (click, long dwell, share, hide; boosting, position-corrected) on {} logged slots; 3 days served: {:.3} reads and {:.3} clicks per session, {:.1} % clickbait served",
        t.rows, t.reads_per_session, t.clicks_per_session, 100.0 * t.clickbait_served
    );
    let f = &d.served["funnel"];
    println!(
        "Funnel of one feed: {} alive articles → {} candidates (sources {}) → 10 on the page; retrieve {:.0} µs, rank {:.0} µs, re-rank {:.0} µs",
        f["alive"], f["candidates"], f["sources"], f["retrieve_us"].as_f64().unwrap_or(0.0), f["rank_us"].as_f64().unwrap_or(0.0), f["rerank_us"].as_f64().unwrap_or(0.0)
    );
    println!(
        "Served: {} users' feeds; after one click each and 5 fresh articles, {} feeds changed and {} show a fresh article",
        d.served["users"], d.served["changed"], d.served["with_fresh"]
    );
    println!(
        "Topic mix vs the reference days (Jensen-Shannon, drift at {}): ordinary days {:.3}, breaking-news surge {:.3} ({})",
        newsfeed::monitor::TOPIC_DRIFT,
        d.ordinary.topic_distance,
        d.surge.topic_distance,
        if d.surge.topic_drift && !d.ordinary.topic_drift { "detected, no false alarm" } else { "check the thresholds" }
    );
    println!("Objectives, position bias, feedback loops, A/B vs interleaving: mlsd newsfeed evaluate --protocol sim (about a minute)");
}

/// `mlsd bench serve --design newsfeed`: feed opens (real time, and through the cache),
/// engagement events, and the batch candidate job.
pub fn bench_serve(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    use mlsd_core::loadgen::{ModeTarget, Target};
    use newsfeed::{bench, serve};
    use std::sync::Arc;
    let run_dir = RunDir::create(runs_dir, "bench-serve-newsfeed")?;
    let registry = Registry::open(run_dir.file("registry"));
    let bar = spinner(args.json);
    bar.set_message("simulating the news service, training and registering the ranker");
    let mut cfg = TrainConfig::default();
    if args.quick {
        cfg.world.users = 300;
        cfg.world.articles_per_day = 100;
    }
    let (_, model, _) = newsfeed::pipeline::train_and_register(&registry, &cfg, true)?;
    let (_, batch_job) = newsfeed::batch::candidate_pools(&model, 100);
    let plan = super::bench::sweep_plan(args);
    let paths = Arc::new(bench::feed_paths(&model, 20_000, 10));
    let events = Arc::new(bench::event_bodies(&model, 5_000, 10));
    let (server_rt, client_rt) = (runtime("server")?, runtime("load")?);
    let (servers, targets, cached_state) = server_rt.block_on(async {
        let (mut servers, mut targets, mut cached_state) = (Vec::new(), Vec::new(), None);
        if let Some(addr) = args.url {
            targets.push(ModeTarget {
                mode: "realtime",
                target: Target::get(addr, paths.clone()),
                rows_per_request: 1,
            });
            return anyhow::Ok((servers, targets, cached_state));
        }
        for (mode, ttl) in [("realtime", 0), ("cached", 600), ("events", 0)] {
            let mut config = serve::ServeConfig {
                cache_ttl: std::time::Duration::from_secs(ttl),
                ..serve::ServeConfig::default()
            };
            config.server = args.server(config.server, None);
            let state = serve::state(registry.clone(), config)?;
            if mode == "cached" {
                cached_state = Some(state.clone());
            }
            let server = mlsd_core::serve::Running::start(
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                serve::router(state),
            )
            .await?;
            let target = match mode {
                "events" => Target::post(server.addr, "/v1/newsfeed/events", events.clone()),
                _ => Target::get(server.addr, paths.clone()),
            };
            let rows_per_request = if mode == "events" { 10 } else { 1 };
            targets.push(ModeTarget {
                mode,
                target,
                rows_per_request,
            });
            servers.push(server);
        }
        anyhow::Ok((servers, targets, cached_state))
    })?;
    let modes = super::bench::run_modes(&server_rt, &client_rt, servers, &targets, &plan, &bar)?;
    bar.finish_and_clear();
    let cache_hit_rate = cached_state.map(|s| {
        let (hits, misses) = s.cache_counts();
        hits as f64 / (hits + misses).max(1) as f64
    });
    let b = &batch_job;
    let line = format!(
        "batch candidate job: top {} for {} users ({:.0} candidates each) in {:.2} s ({:.0} users/s){}; events mode rows = events (10 per request)",
        b.pool,
        b.users,
        b.mean_candidates,
        b.seconds,
        b.users_per_second,
        cache_hit_rate.map_or(String::new(), |r| format!("; cached mode hit rate {r:.3}"))
    );
    #[derive(serde::Serialize)]
    struct Fields {
        batch_job: newsfeed::batch::BatchReport,
        cache_hit_rate: Option<f64>,
    }
    report_bench(
        &run_dir,
        "newsfeed",
        args,
        &modes,
        Fields {
            batch_job,
            cache_hit_rate,
        },
        line,
    )
}

/// Coverage and engagement per day of the feedback loop, with and without exploration.
fn feedback_chart(days: &[newsfeed::experiments::LoopDay]) -> mlsd_core::plot::Chart {
    use mlsd_core::plot::{Chart, Series};
    let series =
        |explore: bool, what: &str, f: fn(&newsfeed::experiments::LoopDay) -> f64| Series {
            name: format!(
                "{what}, {}",
                if explore {
                    "exploration"
                } else {
                    "no exploration"
                }
            ),
            points: days
                .iter()
                .filter(|d| d.exploration == explore)
                .map(|d| (f64::from(d.day), f(d)))
                .collect(),
        };
    Chart {
        title: "Feedback loop: retrained daily on its own log".into(),
        x_label: "day".into(),
        y_label: "coverage (share of alive articles served) / reads per session".into(),
        log_y: false,
        series: vec![
            series(false, "coverage", |d| d.coverage),
            series(true, "coverage", |d| d.coverage),
            series(false, "reads/session", |d| d.engagement),
            series(true, "reads/session", |d| d.engagement),
        ],
    }
}

fn simulate(days: u32, seed: u64, out: Option<&Path>) -> Result<()> {
    use newsfeed::feed::Scorer;
    use newsfeed::models::Baseline;
    use newsfeed::service::{Policy, Service};
    use newsfeed::simulate::{World, WorldConfig};
    let world = World::new(&WorldConfig {
        seed,
        days,
        ..WorldConfig::default()
    });
    let mut service = Service::new(&world, newsfeed::features::FeatureConfig::default());
    let logging = newsfeed::artifact::logging_feed();
    let mut rows = Vec::new();
    for day in 0..days {
        let scorer = Scorer::Baseline(Baseline::SmoothedCtr);
        let d = service.run_day(
            &world,
            day,
            Policy {
                scorer,
                feed: &logging,
            },
        );
        rows.push(vec![
            day.to_string(),
            d.sessions.to_string(),
            format!("{:.3}", d.clicks_per_session()),
            format!("{:.3}", d.reads_per_session()),
            format!("{:.1} %", 100.0 * d.clickbait_served),
            format!("{:.3}", d.coverage),
            d.violations_seen.to_string(),
        ]);
    }
    let headers = [
        "day",
        "sessions",
        "clicks/session",
        "reads/session",
        "clickbait served",
        "coverage",
        "violations seen",
    ];
    println!(
        "News simulator, seed {seed}, logging policy (smoothed CTR, 3 exploration slots):\n\n{}",
        markdown_table(&headers, &rows)
    );
    if let Some(dir) = out {
        let folder = dir.join("mind-small-sample");
        newsfeed::data::write_mind(&service.log, &folder)?;
        println!(
            "{} impressions in the MIND format → {}",
            service.log.impressions.len(),
            folder.display()
        );
    }
    Ok(())
}

/// `mlsd bench load --design newsfeed`: 10,000 engagement events, one per
/// `POST /v1/newsfeed/events` body: users 1–2,000 on articles 0–499 (every trained catalogue
/// holds them), one in five a click; the same list every run.
pub fn event_bodies() -> Result<Vec<Vec<u8>>> {
    // SplitMix64 of the event's index: spread, fixed, no generator state to carry.
    let mix = |i: u64| {
        let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..10_000u64)
        .map(|i| {
            let r = mix(i);
            let click = r.is_multiple_of(5);
            let event = serde_json::json!({
                "user_id": 1 + (r >> 8) % 2_000,
                "article_id": (r >> 24) % 500,
                "kind": if click { "click" } else { "impression" },
                "position": (r >> 40) % 10,
                "dwell_seconds": if click { 45.0 } else { 0.0 },
            });
            Ok(serde_json::to_vec(
                &serde_json::json!({ "events": [event] }),
            )?)
        })
        .collect()
}
