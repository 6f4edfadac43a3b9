//! Sentiment benchmarks (criterion). Inputs come from the seeded review generator and the
//! embedded reviews, built outside the timed loops.
//!
//! - `features/vectorise`: one text → its sorted feature ids (tokenise, 1–2-grams, vocabulary);
//! - `predict/single`: one text end to end (features, NBSVM, calibration);
//! - `predict/batch/<n>`: n texts in one call, reported per text (a linear model has no fixed
//!   cost per call to amortise: expect the same per-text time at every size);
//! - `train/nbsvm_embedded`: vocabulary + NBSVM + calibration on the 2,000 embedded reviews;
//! - `monitor/check/1000`: one text-drift check (four permutation nulls of 100 shuffles and
//!   the domain classifier) of 1,000 texts against the model's reference.
//!
//! Run: `cargo bench --bench sentiment` (add `-- --quick` for a fast, rougher pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentiment::artifact::SentimentArtifact;
use sentiment::monitor::{check, TextDriftConfig};
use sentiment::reviews::{embedded, generate, Domain};
use sentiment::text::TextConfig;

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
}

criterion_group!(sentiment_benches, benches);
criterion_main!(sentiment_benches);
