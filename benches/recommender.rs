//! Recommender benchmarks (criterion). Inputs come from the seeded shop and are built outside
//! the timed loops.
//!
//! - `shop/generate`: the default shop (3,000 users, 56 days);
//! - `serve/batch_lookup`: one user's top 10 from the precomputed snapshot;
//! - `serve/realtime`: one user's top 10 re-ranked now (retrieve → rank → rules), for a user
//!   with history and for a newcomer with a 3-event session;
//! - `retrieve/candidates`: the retrieval stage alone for one user (2 IVF searches,
//!   co-occurrence neighbours, popular) — the rest of `serve/realtime` is features and ranking;
//! - `realtime_users/<n>`: real-time lists for n users in one call, per user (no per-call cost
//!   to amortise: the same per-user time at every size);
//! - `batch_job/users`: the whole snapshot (every user's top 50) on one thread, per user;
//! - `monitor/check/<events>`: one drift check (JS with its permutation null) of a window;
//! - `sessions/record`, `sessions/state_20_events`: one event into a session, and a user's
//!   state read back after 20 session events — in memory, and with `MLSD_REDIS_URL` set, in
//!   Redis (`…_redis`: one round trip each, on loopback).
//!
//! Run: `cargo bench --bench recommender` (add `-- --quick` for a fast, rougher pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use recommender::batch::precompute;
use recommender::monitor::{check, MonitorConfig};
use recommender::pipeline::World;
use recommender::sessions::{InMemorySessions, RedisSessions, SessionStore, ShopEvent};
use recommender::shop::{EventKind, Shop, ShopConfig};
use recommender::two_stage::{Mode, TwoStageConfig};

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("shop");
    group.sample_size(10);
    group.bench_function("generate", |b| {
        b.iter(|| Shop::generate(&ShopConfig::default()).expect("shop"))
    });
    group.finish();

    let world = World::build(&ShopConfig::default(), &TwoStageConfig::default(), 2).expect("world");
    let model = &world.model;
    let user = 42;
    let state = model.state(user);
    let mut newcomer = model.state(1_000_000);
    for item in model.popular(&newcomer, 3) {
        newcomer.observe(
            item,
            EventKind::View,
            &model.catalog,
            model.config.recent_items,
        );
    }

    let mut group = c.benchmark_group("serve");
    group.bench_function("batch_lookup", |b| {
        b.iter(|| world.snapshot.lookup(user, 10).map(<[_]>::len))
    });
    group.bench_function(BenchmarkId::new("realtime", "known_user"), |b| {
        b.iter(|| model.recommend(user, &state, 10, Mode::Realtime))
    });
    group.bench_function(BenchmarkId::new("realtime", "newcomer_3_events"), |b| {
        b.iter(|| model.recommend(1_000_000, &newcomer, 10, Mode::Realtime))
    });
    group.finish();

    let mut group = c.benchmark_group("retrieve");
    group.bench_function("candidates", |b| b.iter(|| model.candidates(user, &state)));
    group.finish();

    let mut group = c.benchmark_group("realtime_users");
    group.sample_size(10);
    for n in [1usize, 16, 256, 2_048] {
        let users: Vec<u32> = (1..=n as u32).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &users, |b, users| {
            b.iter(|| {
                users
                    .iter()
                    .map(|&u| model.recommend(u, &model.users[u as usize], 10, Mode::Realtime))
                    .collect::<Vec<_>>()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("batch_job");
    group.sample_size(10);
    group.throughput(Throughput::Elements(model.users.len() as u64 - 1));
    group.bench_function("users", |b| {
        b.iter(|| precompute(model, 50, 1).expect("snapshot"))
    });
    group.finish();

    let mut group = c.benchmark_group("monitor");
    group.sample_size(10);
    let events = world.test_events();
    for n in [1_000usize, 10_000] {
        let current = &events[..n.min(events.len())];
        group.bench_with_input(BenchmarkId::new("check", n), &current, |b, current| {
            b.iter(|| {
                check(
                    &world.reference,
                    current,
                    world.shop.n_items(),
                    &MonitorConfig::default(),
                )
            })
        });
    }
    group.finish();
    sessions(c, &world);
}

/// The session store's two calls, in memory and in Redis.
fn sessions(c: &mut Criterion, world: &World) {
    let model = &world.model;
    let items = model.popular(&model.state(1_000_000), 20);
    let event = |n: usize, user: u32| ShopEvent {
        event_id: None,
        user_id: user,
        item_id: items[n % items.len()],
        kind: EventKind::View,
    };
    let mut group = c.benchmark_group("sessions");
    let mut stores: Vec<(&str, Box<dyn SessionStore>)> =
        vec![("", Box::new(InMemorySessions::new(100_000)))];
    let prefix = format!("mlsd-bench:recommender:{}", std::process::id());
    match std::env::var("MLSD_REDIS_URL") {
        Ok(url) => {
            let day = std::time::Duration::from_secs(86_400);
            let timeout = std::time::Duration::from_secs(1);
            let redis = RedisSessions::open(&url, &prefix, day, timeout).expect("url");
            stores.push(("_redis", Box::new(redis)));
        }
        Err(_) => eprintln!("SKIPPED sessions/*_redis: MLSD_REDIS_URL is unset"),
    }
    for (suffix, store) in &stores {
        // One reader with a 20-event session; the writer spreads over 2,000 users.
        for n in 0..20 {
            store.record(model, "bench", &event(n, 7)).expect("record");
        }
        let mut n = 0;
        group.bench_function(format!("record{suffix}"), |b| {
            b.iter(|| {
                n += 1;
                store.record(model, "bench", &event(n, 10 + (n % 2_000) as u32))
            })
        });
        group.bench_function(format!("state_20_events{suffix}"), |b| {
            b.iter(|| store.state(model, "bench", 7).expect("state"))
        });
    }
    group.finish();
    if let Ok(url) = std::env::var("MLSD_REDIS_URL") {
        let timeout = std::time::Duration::from_secs(1);
        if let Ok(state) = mlsd_core::online_state::RedisState::open(&url, timeout, Vec::new()) {
            let _ = mlsd_core::online_state::delete_prefix(&state, &prefix);
        }
    }
}

criterion_group!(recommender_benches, benches);
criterion_main!(recommender_benches);
