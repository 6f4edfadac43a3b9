//! News-feed benchmarks (criterion): the stages of one feed open on the trained version's
//! snapshot, built outside the timed loops.
//!
//! - `stage/retrieve`: the four candidate sources over the alive articles;
//! - `stage/features`: feature rows of the candidates (counters, co-clicks, list-relative);
//! - `stage/rank`: the multi-objective ranker (4 boosted heads) on those rows;
//! - `stage/rerank`: MMR, caps, exploration on the scored candidates;
//! - `feed/open`: the whole funnel for one user (what the server's read lock covers);
//! - `events/impression`: one impression of 10 slots into the counters.
//!
//! Run: `cargo bench --bench newsfeed` (add `-- --quick` for a fast, rougher pass).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use newsfeed::artifact::{self, TrainConfig};
use newsfeed::data::{Impression, Shown};
use newsfeed::feed::{self, Listing, Request, Scorer};
use rand::SeedableRng;

fn benches(c: &mut Criterion) {
    let (model, _) = artifact::train(&TrainConfig::default()).expect("train");
    let s = &model.snapshot;
    let alive: Vec<Listing> = s.alive(model.feed.max_age_hours);
    let users: Vec<(&u32, &Vec<u32>)> = s.histories.iter().collect();
    let request = |i: usize| {
        let (user, history) = users[i % users.len()];
        Request {
            history,
            time: s.as_of,
            alive: &alive,
            counters: &s.counters,
            seed: u64::from(*user),
        }
    };
    let req = request(0);
    let (candidates, _) = feed::retrieve(&req, &model.feed);
    let ids: Vec<u32> = candidates.iter().map(|l| l.item).collect();
    let rows = s.counters.features(req.history, &ids, s.as_of, None);
    let scores = model.ranker.score(&rows);

    let mut group = c.benchmark_group("stage");
    group.throughput(Throughput::Elements(1));
    group.bench_function("retrieve", |b| b.iter(|| feed::retrieve(&req, &model.feed)));
    group.bench_function("features", |b| {
        b.iter(|| s.counters.features(req.history, &ids, s.as_of, None))
    });
    group.bench_function("rank", |b| b.iter(|| model.ranker.score(&rows)));
    group.bench_function("rerank", |b| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        b.iter(|| feed::rerank(&candidates, &scores, s.as_of, &model.feed, &mut rng))
    });
    group.finish();

    let mut group = c.benchmark_group("feed");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("open", |b| {
        b.iter(|| {
            i += 1;
            feed::build(&request(i), Scorer::Model(&model.ranker), &model.feed)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(1));
    let mut counters = s.counters.clone();
    let (_, history) = users[0];
    let mut t = s.as_of;
    group.bench_function("impression", |b| {
        b.iter(|| {
            t += 1;
            let shown = ids
                .iter()
                .take(10)
                .enumerate()
                .map(|(p, &item)| Shown {
                    item,
                    position: p as u16,
                    click: p == 0,
                    dwell: if p == 0 { 40.0 } else { 0.0 },
                    share: false,
                    hide: false,
                })
                .collect();
            counters.update(&Impression {
                id: 0,
                user: 1,
                time: t,
                history: history.clone(),
                shown,
            })
        })
    });
    group.finish();
}

criterion_group!(newsfeed_benches, benches);
criterion_main!(newsfeed_benches);
