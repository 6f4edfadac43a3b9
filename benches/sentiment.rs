//! Sentiment benchmarks (criterion). Inputs come from the seeded review generator and the
//! embedded reviews, built outside the timed loops.
//!
//! - `features/vectorise`: one text → its sorted feature ids (tokenise, 1–2-grams, vocabulary);
//! - `predict/single`: one text end to end (features, NBSVM, calibration);
//! - `predict/batch/<n>`: n texts in one call, reported per text (a linear model has no fixed
//!   cost per call to amortise: expect the same per-text time at every size);
//! - `train/nbsvm_embedded`: vocabulary + NBSVM + calibration on the 2,000 embedded reviews;
//! - `monitor/check/1000`: one text-drift check (four permutation nulls of 100 shuffles and
//!   the domain classifier) of 1,000 texts against the model's reference;
//! - `topics/record`, `topics/windows_300s`: one scored text into its topic's bucket, and a
//!   topic's buckets of the longest window read back — in memory, and with `MLSD_REDIS_URL`
//!   set, in Redis (`…_redis`: one round trip each, on loopback; the read is a pipeline of
//!   300 `HMGET`s).
//!
//! Run: `cargo bench --bench sentiment` (add `-- --quick` for a fast, rougher pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentiment::artifact::SentimentArtifact;
use sentiment::monitor::{check, TextDriftConfig};
use sentiment::reviews::{embedded, generate, Domain};
use sentiment::text::TextConfig;
use sentiment::topics::{InMemoryTopics, RedisTopics, TopicStore, TopicText};

fn benches(c: &mut Criterion) {
    let examples = embedded().examples;
    let (model, _) = SentimentArtifact::train_with_holdout(&examples, &TextConfig::default());
    let texts: Vec<String> = generate(Domain::Gadgets, 4_096, 11)
        .into_iter()
        .map(|e| e.text)
        .collect();
    let one = texts[0].as_str();

    let mut group = c.benchmark_group("features");
    group.throughput(Throughput::Elements(1));
    group.bench_function("vectorise", |b| b.iter(|| model.vectorizer.transform(one)));
    group.finish();

    let mut group = c.benchmark_group("predict");
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| b.iter(|| model.predict(one)));
    for n in [1usize, 16, 256, 4_096] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batch", n), &n, |b, &n| {
            b.iter(|| {
                texts[..n]
                    .iter()
                    .map(|t| model.predict(t))
                    .collect::<Vec<_>>()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("train");
    group.sample_size(10);
    group.throughput(Throughput::Elements(examples.len() as u64));
    group.bench_function("nbsvm_embedded", |b| {
        b.iter(|| SentimentArtifact::train_with_holdout(&examples, &TextConfig::default()))
    });
    group.finish();

    let current = &texts[..1_000];
    let mut group = c.benchmark_group("monitor");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("check", current.len()), |b| {
        b.iter(|| {
            check(
                &model,
                &model.reference_texts,
                current,
                &TextDriftConfig::default(),
            )
        })
    });
    group.finish();
    topics(c);
}

/// The topic store's two calls, in memory and in Redis.
fn topics(c: &mut Criterion) {
    let horizon = std::time::Duration::from_secs(300);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text = |n: u64| TopicText {
        topic: format!("topic {}", n % 10),
        second: now - 299 + n % 300,
        positive: !n.is_multiple_of(3),
        probability: 0.7,
        id: None,
    };
    let mut stores: Vec<(&str, Box<dyn TopicStore>)> =
        vec![("", Box::new(InMemoryTopics::new(1_000, horizon)))];
    let prefix = format!("mlsd-bench:sentiment:{}", std::process::id());
    match std::env::var("MLSD_REDIS_URL") {
        Ok(url) => {
            let timeout = std::time::Duration::from_secs(1);
            let redis = RedisTopics::open(&url, &prefix, horizon, timeout).expect("url");
            stores.push(("_redis", Box::new(redis)));
        }
        Err(_) => eprintln!("SKIPPED topics/*_redis: MLSD_REDIS_URL is unset"),
    }
    let mut group = c.benchmark_group("topics");
    for (suffix, store) in &stores {
        // Every second of the window holds texts of topic 0.
        let filled: Vec<TopicText> = (0..3_000).map(text).collect();
        store.record(&filled).expect("fill");
        let mut n = 0;
        group.bench_function(format!("record{suffix}"), |b| {
            b.iter(|| {
                n += 1;
                store.record(std::slice::from_ref(&text(n)))
            })
        });
        group.bench_function(format!("windows_300s{suffix}"), |b| {
            b.iter(|| store.buckets("topic 0", now, 300).expect("buckets"))
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

criterion_group!(sentiment_benches, benches);
criterion_main!(sentiment_benches);
