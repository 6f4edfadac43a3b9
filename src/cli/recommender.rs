//! `mlsd recommender …`, `mlsd serve recommender`, the demo's recommender block and its
//! serving benchmark: a thin layer over the recommender crate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use mlsd_core::registry::Registry;
use mlsd_core::report::RunDir;
use recommender::config::RecommenderConfig;
use recommender::pipeline::World;
use recommender::shop::ShopConfig;
use recommender::two_stage::TwoStageConfig;

use super::bench::{report_bench, run_modes, sweep_plan, BenchServeArgs};
use super::common::{
    emit_evaluation, positive, runtime, serve_until_signal, spinner, LimitsArgs, StateArgs,
};

#[derive(Subcommand)]
pub enum Command {
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
        /// Seed of the folds (surprise) or of the split and its validation split
        /// (recommenders); the protocols' own seeds are 0 and 42. Another seed shows how much
        /// a number moves with the random split alone.
        #[arg(long)]
        seed: Option<u64>,
        /// With --test: the rating models fitted on this file and scored on --test (both in
        /// the `u.data` format, e.g. MovieLens's u1.base / u1.test) instead of the 5 folds.
        #[arg(long, requires = "test")]
        train: Option<PathBuf>,
        #[arg(long, requires = "train")]
        test: Option<PathBuf>,
        /// Shop protocol: candidates from EASE in the two-stage model's retrieval (0: off, the
        /// default — on the shop it adds recall but not list quality; see the design doc).
        #[arg(long, default_value_t = TwoStageConfig::default().ease_candidates)]
        ease_candidates: usize,
    },
    /// Fit the two-stage model on the seeded shop (all but the last --holdout-days), run the
    /// batch job with it, and register model, snapshot and drift reference as a new version
    /// (promoted to current unless --no-promote).
    Train {
        /// Days at the end of the shop the model never sees: the training cutoff.
        #[arg(long, default_value_t = RecommenderConfig::default().holdout_days)]
        holdout_days: u32,
        /// Seed of the shop (every random step).
        #[arg(long, default_value_t = ShopConfig::default().seed)]
        seed: u64,
        #[arg(long)]
        no_promote: bool,
    },
    /// The batch job: every user's top 50 with the registry's current version, into a
    /// snapshot file that names the version (`mlsd serve recommender --snapshot` loads it).
    /// `--engine spark` ranks on Spark instead: stage 1 is exported as tables, the ranker and
    /// the rules run as SQL, the lists are written as Parquet.
    Batch {
        /// Where to write the snapshot (JSON); with Spark, the lists (a `.parquet` folder).
        #[arg(long)]
        out: PathBuf,
        /// Worker threads of the batch job (in process).
        #[arg(long, default_value_t = 2, value_parser = positive)]
        workers: usize,
        #[command(flatten)]
        engine: super::engine::EngineArgs,
        /// With Spark: the folder the factor tables and candidates are written to, which the
        /// Spark workers must be able to read [default: <out>.tables].
        #[arg(long)]
        tables: Option<PathBuf>,
    },
    /// Write the batch job's tables (BPR factors, stage 1's candidates with their features)
    /// as CSV and print the SQL that ranks them into every user's top N (Spark SQL), to paste
    /// into a warehouse or run on Spark. Generated from the current version.
    ExportSql {
        /// Folder to write users.csv, items.csv and candidates.csv into.
        #[arg(long)]
        tables: PathBuf,
        /// Where the SQL reads the tables from [default: --tables, made absolute].
        #[arg(long)]
        location: Option<String>,
        /// Also write the lists there as Parquet.
        #[arg(long)]
        output: Option<String>,
    },
    /// Append the default shop's events after the serving model's cutoff to the event log on
    /// Redis Streams (`<prefix>:events`).
    Produce(super::streams::ShopProduceArgs),
    /// Record the event log in the Redis sessions as one consumer of a group, taking over what
    /// dead consumers left unacknowledged; acknowledges after recording.
    Consume(super::streams::ShopConsumeArgs),
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
pub fn run(runs_dir: &Path, registry: &Registry, cmd: Command) -> Result<()> {
    use recommender::evaluate::{self, EvalConfig};
    use recommender::movielens;
    use recommender::shop::ShopConfig;
    let (protocol, data_dir, json, seed, pair, ease_candidates) = match cmd {
        Command::Evaluate {
            protocol,
            data_dir,
            json,
            seed,
            train,
            test,
            ease_candidates,
        } => (
            protocol,
            data_dir,
            json,
            seed,
            train.zip(test),
            ease_candidates,
        ),
        Command::Train {
            holdout_days,
            seed,
            no_promote,
        } => {
            let config = RecommenderConfig {
                shop: ShopConfig {
                    seed,
                    ..ShopConfig::default()
                },
                holdout_days,
                ..RecommenderConfig::default()
            };
            return train(registry, &config, !no_promote);
        }
        Command::Batch {
            out,
            workers,
            engine,
            tables,
        } => {
            #[cfg(feature = "spark")]
            if engine.engine == super::engine::Engine::Spark {
                return batch_on_spark(registry, &engine, &out, tables);
            }
            engine.in_process_only()?;
            let _ = tables;
            return batch(registry, &out, workers);
        }
        Command::ExportSql {
            tables,
            location,
            output,
        } => return export_sql(registry, &tables, location, output),
        Command::Produce(args) => return super::streams::shop_produce(registry, &args),
        Command::Consume(args) => return super::streams::shop_consume(registry, &args),
    };
    let run_dir = RunDir::create(runs_dir, "recommender-evaluate")?;
    let bar = spinner(json);
    bar.set_message("training and evaluating");
    if let Protocol::Shop = protocol {
        let shop = recommender::shop::Shop::generate(&ShopConfig::default())?;
        let two_stage = TwoStageConfig {
            ease_candidates,
            ..TwoStageConfig::default()
        };
        let (report, _) = evaluate::shop(&shop, SHOP_TEST_DAYS, &two_stage, 10)?;
        bar.finish_and_clear();
        let value = serde_json::to_value(&report)?;
        return emit_evaluation(&run_dir, &value, json, || evaluate::render_shop(&report));
    }
    let folder = movielens::folder(data_dir.as_deref())?;
    if let Some((train, test)) = pair {
        let [(train_rows, train_report), (test_rows, test_report)] =
            movielens::load_pair(&folder, &train, &test)?;
        let report = evaluate::rating_pair(train_rows, test_rows, &EvalConfig::default())?;
        bar.finish_and_clear();
        let value = serde_json::json!({
            "report": report,
            "train_file": train_report,
            "test_file": test_report,
        });
        return emit_evaluation(&run_dir, &value, json, || {
            let mut text = String::new();
            for (path, r) in [(&train, &train_report), (&test, &test_report)] {
                text.push_str(&format!(
                    "{}: {} lines, {} ratings accepted, {} quarantined {:?}\n",
                    path.display(),
                    r.input_rows,
                    r.accepted_rows,
                    r.quarantined_rows,
                    r.quarantined_by_reason
                ));
            }
            format!("{text}\n{}", evaluate::render_surprise(&report))
        });
    }
    let data =
        movielens::load(&folder).with_context(|| format!("while loading {}", folder.display()))?;
    let mut cfg = EvalConfig::default();
    if let Some(seed) = seed {
        (cfg.fold_seed, cfg.split_seed) = (seed, seed);
    }
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
    emit_evaluation(&run_dir, &value, json, || {
        let r = &data.report;
        format!(
            "MovieLens-100k from {}: {} ratings read, {} accepted, {} quarantined; {} users, {} items\n\n{table}",
            folder.display(),
            r.input_rows,
            r.accepted_rows,
            r.quarantined_rows,
            data.users.len(),
            data.items.len()
        )
    })
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to bind (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8081")]
    addr: std::net::SocketAddr,
    /// Serve this batch snapshot (from `mlsd recommender batch`) instead of the one registered
    /// with the model; it must name the serving version (it is refused otherwise).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Seconds a real-time list is reused for the same user (0: no cache).
    #[arg(long, default_value_t = 30)]
    cache_ttl_s: u64,
    /// Live sessions kept at most; past it the least recently active are evicted.
    #[arg(long, default_value_t = recommender::serve::ServeConfig::default().max_sessions)]
    max_sessions: usize,
    /// Where the live sessions are.
    #[command(flatten)]
    state: StateArgs,
    #[command(flatten)]
    limits: LimitsArgs,
}

/// `mlsd recommender train`: fit, run the batch job, register (and promote).
fn train(registry: &Registry, config: &RecommenderConfig, promote: bool) -> Result<()> {
    let bar = spinner(false);
    bar.set_message("generating the shop, fitting the two-stage model, running the batch job");
    let world = World::fit(config).context("while fitting the recommender on the seeded shop")?;
    let manifest = recommender::artifact::register(registry, &world, config)?;
    if promote {
        registry.promote(recommender::DESIGN, &manifest.version)?;
    }
    bar.finish_and_clear();
    let t = &world.training;
    println!(
        "{} two_stage fitted on days 0–{} of the shop in {:.1} s (candidate recall {:.3}, IVF recall@100 {:.3}); snapshot of {} users; registered in {}{}",
        manifest.version,
        config.cutoff_day().saturating_sub(1),
        t.seconds,
        t.candidate_recall,
        t.ann_recall_at_100,
        world.batch_summary().users,
        registry.root().display(),
        if promote { " (now current)" } else { "" }
    );
    Ok(())
}

/// `mlsd serve recommender`.
pub fn serve(registry: Registry, args: &ServeArgs) -> Result<()> {
    use recommender::serve;
    let mut config = serve::ServeConfig {
        cache_ttl: Duration::from_secs(args.cache_ttl_s),
        max_sessions: args.max_sessions,
        state: args.state.backend(recommender::DESIGN)?,
        ..serve::ServeConfig::default()
    };
    config.server = args.limits.apply(config.server)?;
    let idle = args.limits.idle_timeout();
    runtime("server")?.block_on(async move {
        let state = serve::state(registry, config)
            .context("while loading the current recommender (run `mlsd recommender train`)")?;
        if let Some(path) = &args.snapshot {
            state.load_snapshot(path)?;
            eprintln!("snapshot loaded from {}", path.display());
        }
        eprintln!(
            "serving recommender {} (sessions: {})",
            state.serving_version(),
            args.state.backend(recommender::DESIGN)?.describe()
        );
        state.watch_registry();
        serve_until_signal(args.addr, serve::router(state), idle, || {}).await
    })
}

/// `mlsd recommender export-sql`.
fn export_sql(
    registry: &Registry,
    tables: &Path,
    location: Option<String>,
    output: Option<String>,
) -> Result<()> {
    use recommender::artifact::RecommenderServed;
    let serving = mlsd_core::design::load::<RecommenderServed>(registry, None)
        .context("while loading the current recommender (run `mlsd recommender train`)")?;
    let model = &serving.model.model;
    let rows = recommender::export::write_tables(model, tables)?;
    let location = match location {
        Some(l) => l,
        None => super::engine::spark_location(tables)?,
    };
    let script = recommender::export::script(
        &location,
        model,
        serving.model.snapshot.k,
        output.as_deref(),
    )
    .map_err(|why| anyhow::anyhow!("the ranker has no SQL form: {why}"))?;
    println!(
        "-- mlsd recommender batch job, model {}, Spark SQL; tables in {}: {} users, {} items, {} candidates\n",
        serving.version,
        tables.display(),
        rows.users,
        rows.items,
        rows.candidates
    );
    print!("{}", script.render());
    Ok(())
}

/// `mlsd recommender batch --engine spark`.
#[cfg(feature = "spark")]
fn batch_on_spark(
    registry: &Registry,
    engine: &super::engine::EngineArgs,
    out: &Path,
    tables: Option<PathBuf>,
) -> Result<()> {
    use recommender::artifact::RecommenderServed;
    let serving = mlsd_core::design::load::<RecommenderServed>(registry, None)
        .context("while loading the current recommender (run `mlsd recommender train`)")?;
    let tables = tables.unwrap_or_else(|| PathBuf::from(format!("{}.tables", out.display())));
    let run = super::spark_jobs::recommender_batch(
        &engine.spark_remote,
        &serving.model.model,
        serving.model.snapshot.k,
        &tables,
        out,
    )?;
    println!(
        "stage 1 in process: {} candidates for {} users exported in {:.2} s → {}",
        run.tables.candidates,
        run.tables.users,
        run.export_seconds,
        tables.display()
    );
    println!(
        "ranked on Spark {} in {:.2} s ({:.0} candidates/s; the session's start, {:.2} s, not included): top {} for {} users ({} rows) → {}",
        run.spark_version,
        run.job_seconds,
        run.candidates_per_second,
        run.session_seconds,
        serving.model.snapshot.k,
        run.users,
        run.list_rows,
        out.display()
    );
    Ok(())
}

/// `mlsd recommender batch`: the current version's batch job, written to a file.
fn batch(registry: &Registry, out: &Path, workers: usize) -> Result<()> {
    use recommender::artifact::RecommenderServed;
    let serving = mlsd_core::design::load::<RecommenderServed>(registry, None)
        .context("while loading the current recommender (run `mlsd recommender train`)")?;
    let model = &serving.model.model;
    let mut snapshot = recommender::batch::precompute(model, serving.model.snapshot.k, workers)?;
    snapshot.model_version = serving.version.clone();
    let t = std::time::Instant::now();
    snapshot.write(out)?;
    let write = t.elapsed().as_secs_f64();
    let b = recommender::pipeline::BatchSummary::of(&snapshot);
    // Talking point: the batch job's cost with its I/O — what a nightly run pays for every
    // user, against the real-time path's per-request cost.
    println!(
        "top {} for {} users with {} in {:.2} s on {} workers ({:.0} users/s); written in {:.2} s ({:.0} users/s with I/O) → {}",
        b.k,
        b.users,
        serving.version,
        b.seconds,
        b.workers,
        b.users_per_second,
        write,
        b.users as f64 / (b.seconds + write).max(1e-9),
        out.display()
    );
    Ok(())
}

/// The recommender part of `mlsd demo`.
#[derive(serde::Serialize)]
pub struct Demo {
    pub shop: ShopSummary,
    pub evaluation: recommender::evaluate::ShopReport,
    pub batch: recommender::pipeline::BatchSummary,
    pub serving: DemoRecommenderServing,
    /// An ordinary week and a trend-shift week, each against the week before.
    pub ordinary_week: recommender::monitor::MonitorReport,
    pub trend_shift_week: recommender::monitor::MonitorReport,
}

#[derive(serde::Serialize)]
pub struct ShopSummary {
    pub users: usize,
    pub products: usize,
    pub events: usize,
    pub views: usize,
    pub carts: usize,
    pub purchases: usize,
    pub days: u32,
}

#[derive(serde::Serialize)]
pub struct DemoRecommenderServing {
    pub url: String,
    pub user: u32,
    /// Top 5 before and after the user browsed one category (items and their categories).
    pub before: Vec<(u32, u16)>,
    pub after: Vec<(u32, u16)>,
    pub batch_after: Vec<(u32, u16)>,
    pub browsed_category: u16,
    /// Test-week events posted through the API, then GET /v1/recommender/drift.
    pub events_posted: usize,
    pub live_drift: serde_json::Value,
    pub cache_hit_rate: f64,
}

fn shop_summary(shop: &recommender::shop::Shop) -> ShopSummary {
    use recommender::shop::EventKind;
    let count = |k: EventKind| {
        shop.events
            .iter()
            .filter(|e| e.rating == k.weight())
            .count()
    };
    ShopSummary {
        users: shop.config.users,
        products: shop.n_items() - 1,
        events: shop.events.len(),
        views: count(EventKind::View),
        carts: count(EventKind::Cart),
        purchases: count(EventKind::Purchase),
        days: shop.config.days,
    }
}

/// Generates the shop, evaluates, runs the batch job, registers the model, serves it on a free
/// loopback port, shows a real-time list react to a session, posts test-week events, checks
/// drift.
pub fn demo(registry: &Registry, progress: impl Fn(&str)) -> Result<Demo> {
    use recommender::monitor::{check, MonitorConfig};
    use recommender::pipeline::{SNAPSHOT_K, TEST_DAYS};
    use recommender::shop::{Shop, DAY};
    progress("recommender: generating the shop and evaluating");
    let shop_cfg = ShopConfig::default();
    let shop = Shop::generate(&shop_cfg)?;
    let (evaluation, model) =
        recommender::evaluate::shop(&shop, TEST_DAYS, &TwoStageConfig::default(), 10)?;
    progress("recommender: batch job");
    let snapshot = recommender::batch::precompute(&model, SNAPSHOT_K, 2)?;
    let batch = recommender::pipeline::BatchSummary::of(&snapshot);
    let reference = recommender::serve::reference_events(&shop.events, model.now, 7);
    let test: Vec<recommender::movielens::Rating> = shop.between(model.now, i64::MAX).to_vec();
    let world = World {
        shop,
        model,
        training: evaluation.two_stage.clone(),
        snapshot,
        reference,
    };
    let manifest =
        recommender::artifact::register(registry, &world, &RecommenderConfig::default())?;
    registry.promote(recommender::DESIGN, &manifest.version)?;
    let shop = world.shop;
    progress("recommender: serving");
    let serving = runtime("recommender demo")?.block_on(demo_serving(&shop, registry, &test))?;
    progress("recommender: drift on an ordinary and a trend-shift week");
    let weeks = |cfg: &ShopConfig| -> Result<recommender::monitor::MonitorReport> {
        let shop = Shop::generate(cfg)?;
        let cutoff = shop.day_start(cfg.days - TEST_DAYS);
        Ok(check(
            shop.between(cutoff - 7 * DAY, cutoff),
            shop.between(cutoff, i64::MAX),
            shop.n_items(),
            &MonitorConfig::default(),
        ))
    };
    Ok(Demo {
        shop: shop_summary(&shop),
        evaluation,
        batch,
        serving,
        ordinary_week: weeks(&shop_cfg)?,
        trend_shift_week: weeks(&ShopConfig {
            trend_shift_day: Some(shop_cfg.days - TEST_DAYS),
            ..shop_cfg.clone()
        })?,
    })
}

async fn demo_serving(
    shop: &recommender::shop::Shop,
    registry: &Registry,
    test: &[recommender::movielens::Rating],
) -> Result<DemoRecommenderServing> {
    use mlsd_core::loadgen::Client;
    use recommender::serve;
    use recommender::shop::EventKind;
    let state = serve::state(registry.clone(), serve::ServeConfig::default())?;
    let server =
        mlsd_core::serve::Running::start("127.0.0.1:0".parse()?, serve::router(state.clone()))
            .await?;
    let mut client = Client::connect(server.addr).await?;
    let mut get = async |path: String| -> Result<serde_json::Value> {
        let r = client.request("GET", &path, None).await?;
        anyhow::ensure!(r.status == 200, "GET {path}: {} {}", r.status, r.text());
        Ok(serde_json::from_slice(&r.body)?)
    };
    let top = |v: &serde_json::Value| -> Vec<(u32, u16)> {
        v["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["item"].as_u64().unwrap_or(0) as u32,
                            r["category"].as_u64().unwrap_or(0) as u16,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let user = 42u32;
    let list = |mode: &str| format!("/v1/recommender/users/{user}/recommendations?k=5&mode={mode}");
    let before = top(&get(list("realtime")).await?);
    // The user browses the most popular products of a category their list does not show.
    let serving = state.serving();
    let model = &serving.model.model;
    let shown: std::collections::HashSet<u16> = before.iter().map(|&(_, c)| c).collect();
    let category = (0..shop.config.categories as u16)
        .find(|c| !shown.contains(c))
        .unwrap_or(0);
    let browsed: Vec<u32> = model
        .popular(&model.state(user), 500)
        .into_iter()
        .filter(|&i| shop.products[i as usize].category == category)
        .take(3)
        .collect();
    let mut post = Client::connect(server.addr).await?;
    let mut post_event = async |event: serve::EventRequest| -> Result<()> {
        let body = serde_json::to_vec(&event)?;
        let r = post
            .request("POST", "/v1/recommender/events", Some(&body))
            .await?;
        anyhow::ensure!(r.status == 202, "POST event: {} {}", r.status, r.text());
        Ok(())
    };
    for &item in &browsed {
        post_event(serve::EventRequest {
            user_id: user,
            item_id: item,
            kind: EventKind::View,
            timestamp: None,
            event_id: None,
        })
        .await?;
    }
    let after = top(&get(list("realtime")).await?);
    let batch_after = top(&get(list("batch")).await?);
    // A slice of the held-out week through the API, every event and a real-time list for its
    // user, so the cache sees traffic and the drift window fills.
    let mut events_posted = 0;
    for e in test.iter().filter(|e| model.is_on_sale(e.item)).take(3_000) {
        post_event(serve::EventRequest {
            user_id: e.user,
            item_id: e.item,
            kind: EventKind::from_weight(e.rating).unwrap_or(EventKind::View),
            timestamp: Some(e.timestamp),
            event_id: None,
        })
        .await?;
        events_posted += 1;
        if events_posted % 3 == 0 {
            get(format!(
                "/v1/recommender/users/{}/recommendations?k=10&mode=realtime",
                e.user
            ))
            .await?;
            get(format!(
                "/v1/recommender/users/{}/recommendations?k=10&mode=realtime",
                e.user
            ))
            .await?;
        }
    }
    let live_drift = get("/v1/recommender/drift".to_string()).await?;
    let (hits, misses) = state.cache_counts();
    let url = format!("http://{}", server.addr);
    server.stop().await?;
    Ok(DemoRecommenderServing {
        url,
        user,
        before,
        after,
        batch_after,
        browsed_category: category,
        events_posted,
        live_drift,
        cache_hit_rate: hits as f64 / (hits + misses).max(1) as f64,
    })
}

/// The recommender block of the demo's printout.
pub fn print_demo(d: &Demo) {
    let s = &d.shop;
    println!(
        "\nmlsd demo — recommender (seeded e-commerce shop, time split: last {} days held out)\n",
        recommender::pipeline::TEST_DAYS
    );
    println!(
        "1. generate  {} users, {} products, {} events over {} days: {} views → {} carts → {} purchases",
        s.users, s.products, s.events, s.days, s.views, s.carts, s.purchases
    );
    println!("2. evaluate  (retrieve → rank → rules vs single models)\n");
    println!("{}", recommender::evaluate::render_shop(&d.evaluation));
    let b = &d.batch;
    println!(
        "3. batch     top {} for all {} users in {:.2} s on {} workers ({:.0} users/s)",
        b.k, b.users, b.seconds, b.workers, b.users_per_second
    );
    let v = &d.serving;
    let show = |l: &[(u32, u16)]| {
        l.iter()
            .map(|(i, c)| format!("{i}(c{c})"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "4. serve     {}: user {} browses 3 products of category {}",
        v.url, v.user, v.browsed_category
    );
    println!("             real-time before: {}", show(&v.before));
    println!("             real-time after:  {}", show(&v.after));
    println!(
        "             batch after:      {}  (the snapshot does not know the session)",
        show(&v.batch_after)
    );
    let r = &v.live_drift["report"];
    println!(
        "             {} held-out events posted; real-time cache hit rate {:.2}; live drift: item-popularity JS {:.3} (null max {:.3}), new-item share {:.3}, drift {}",
        v.events_posted,
        v.cache_hit_rate,
        r["item_popularity"]["distance"].as_f64().unwrap_or(f64::NAN),
        r["item_popularity"]["null_max"].as_f64().unwrap_or(f64::NAN),
        r["new_item_share"].as_f64().unwrap_or(f64::NAN),
        r["drift"]
    );
    println!("5. monitor   held-out week vs the week before:");
    for (name, m) in [
        ("ordinary", &d.ordinary_week),
        ("trend shift", &d.trend_shift_week),
    ] {
        println!(
            "             {name:<11}  item-popularity JS {:.3} (null max {:.3}) drift {:<5}  user activity JS {:.3} drift {:<5}  new-item share {:.3}",
            m.item_popularity.distance,
            m.item_popularity.null_max,
            m.item_popularity.drift,
            m.user_activity.distance,
            m.user_activity.drift,
            m.new_item_share
        );
    }
}

/// What `mlsd bench serve --design recommender` reports beside every design's fields.
#[derive(serde::Serialize)]
struct BenchFields {
    /// Users the requests cycle through (those with history).
    users: usize,
    /// Hit rate of the `cached` mode's TTL cache over all its runs (absent with `--url`).
    cache_hit_rate: Option<f64>,
    /// The batch job: every user's top 50, precomputed.
    batch_job: recommender::pipeline::BatchSummary,
}

/// `mlsd bench serve --design recommender`: the batch snapshot lookup, real-time re-ranking
/// (cache off), the same micro-batched, and real-time behind the TTL cache, each on its own
/// in-process server.
pub fn bench_serve(runs_dir: &Path, args: &BenchServeArgs) -> Result<()> {
    use mlsd_core::loadgen::{ModeTarget, Target};
    use recommender::serve;
    use std::sync::Arc;
    let run_dir = RunDir::create(runs_dir, "bench-serve-recommender")?;
    let registry = Registry::open(run_dir.file("registry"));
    let shop = if args.quick {
        ShopConfig::small()
    } else {
        ShopConfig::default()
    };
    let bar = spinner(args.json);
    bar.set_message(
        "generating the shop, fitting and registering the model, running the batch job",
    );
    let world = recommender::bench::world(&shop, &registry)?;
    let (batch_job, users) = (world.batch_job, world.users);
    let plan = sweep_plan(args);
    let paths = |mode: &str| Arc::new(recommender::bench::list_paths(&users, 10, mode));
    let config = |cache_ttl: Duration, micro_batch| {
        let mut config = serve::ServeConfig {
            cache_ttl,
            ..serve::ServeConfig::default()
        };
        config.server = args.server(config.server, micro_batch);
        config
    };
    let (server_rt, client_rt) = (runtime("server")?, runtime("load")?);
    let (servers, targets, cached_state) = server_rt.block_on(async {
        let mut servers = Vec::new();
        let mut targets = Vec::new();
        let mut cached_state = None;
        if let Some(addr) = args.url {
            // One external server, both list modes (its own cache settings apply).
            for mode in ["batch", "realtime"] {
                targets.push(ModeTarget {
                    mode,
                    target: Target::get(addr, paths(mode)),
                    rows_per_request: 1,
                });
            }
            return anyhow::Ok((servers, targets, cached_state));
        }
        for (mode, path_mode, ttl, micro_batch) in [
            ("batch", "batch", Duration::ZERO, None),
            ("realtime", "realtime", Duration::ZERO, None),
            (
                "microbatch",
                "realtime",
                Duration::ZERO,
                Some(args.micro_batch()),
            ),
            ("cached", "realtime", Duration::from_secs(600), None),
        ] {
            let state = serve::state(registry.clone(), config(ttl, micro_batch))?;
            if mode == "cached" {
                cached_state = Some(state.clone());
            }
            let server = mlsd_core::serve::Running::start(
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                serve::router(state),
            )
            .await?;
            targets.push(ModeTarget {
                mode,
                target: Target::get(server.addr, paths(path_mode)),
                rows_per_request: 1,
            });
            servers.push(server);
        }
        anyhow::Ok((servers, targets, cached_state))
    })?;
    let modes = run_modes(&server_rt, &client_rt, servers, &targets, &plan, &bar)?;
    bar.finish_and_clear();
    let cache_hit_rate = cached_state.map(|s| {
        let (hits, misses) = s.cache_counts();
        hits as f64 / (hits + misses).max(1) as f64
    });
    let b = &batch_job;
    let batch_job_line = format!(
        "batch job: top {} for all {} users in {:.2} s on {} workers ({:.0} users/s){}",
        b.k,
        b.users,
        b.seconds,
        b.workers,
        b.users_per_second,
        cache_hit_rate.map_or(String::new(), |r| format!("; cached mode hit rate {r:.3}"))
    );
    let fields = BenchFields {
        users: users.len(),
        cache_hit_rate,
        batch_job,
    };
    report_bench(
        &run_dir,
        "recommender",
        args,
        &modes,
        fields,
        batch_job_line,
    )
}

/// `mlsd bench load --design recommender`: the default shop's events after the default
/// cutoff (what `mlsd recommender train` holds out) on products already on sale then (the
/// model answers 404 for the week's new ones), one `POST /v1/recommender/events` body each.
pub fn event_bodies() -> Result<Vec<Vec<u8>>> {
    use recommender::shop::{EventKind, Shop, DAY};
    let config = RecommenderConfig::default();
    let shop = Shop::generate(&config.shop)?;
    let cutoff = shop.start + i64::from(config.cutoff_day()) * DAY;
    let bodies = shop
        .events
        .iter()
        .filter(|e| e.timestamp >= cutoff)
        .filter(|e| {
            let on_sale = |p: &recommender::shop::Product| p.added_day <= config.cutoff_day();
            shop.products.get(e.item as usize).is_some_and(on_sale)
        })
        .map(|e| {
            let kind = EventKind::from_weight(e.rating).unwrap_or(EventKind::View);
            serde_json::to_vec(&serde_json::json!({
                "user_id": e.user, "item_id": e.item, "kind": kind
            }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(
        !bodies.is_empty(),
        "the default shop has no held-out events"
    );
    Ok(bodies)
}
