//! # mlsd — ML system-design interview answers as runnable Rust systems
//!
//! ## Layout
//!
//! | where | what |
//! |---|---|
//! | `crates/mlsd-core` | shared core: validation + quarantine, metrics, drift, model registry, reports, serving toolkit, load generator |
//! | `crates/fraud-detector` | the fraud design: simulate → ingest → features → train → evaluate → register → online store, batch scoring, monitoring, API, replay, serving benchmark traffic |
//! | `crates/recommender` | the recommender design: MovieLens loader and a seeded shop → splits → popularity, co-occurrence, BPR, MF → two-stage retrieve → rank → rules → both published protocols and a time split → batch snapshot → real-time API → drift monitoring |
//! | `crates/sentiment` | the sentiment design (offline half): rt-polarity loader → text pipeline → MNB, SVM, NBSVM → 10-fold CV |
//! | `src/cli.rs`, `src/cli/` | the `mlsd` command line (a thin layer over the crates) |
//! | `tests/` | one integration-test binary: CLI end to end, corrupted input, model behaviour, HTTP API |
//! | `benches/` | criterion benchmarks: feature throughput, single vs batch prediction, online store, drift check |
//!
//! ## Talking points → code
//!
//! | talking point | where |
//! |---|---|
//! | problem definition, base rate, delayed labels | `crates/fraud-detector/src/lib.rs`, `simulate.rs` |
//! | data cleaning, quarantine, counts that add up | `crates/mlsd-core/src/validate.rs`, `crates/fraud-detector/src/ingest.rs` |
//! | point-in-time features, label delay | `crates/fraud-detector/src/features.rs` |
//! | class imbalance, model choice and trade-offs | `crates/fraud-detector/src/train.rs` |
//! | time-based split, AP and Card Precision@100 | `crates/fraud-detector/src/evaluate.rs`, `crates/mlsd-core/src/metrics.rs` |
//! | training/serving skew (spec + scaler saved with the model) | `crates/fraud-detector/src/artifact.rs` |
//! | model and data versioning, rollback | `crates/mlsd-core/src/registry.rs` |
//! | drift statistics and monitoring | `crates/mlsd-core/src/drift.rs`, `crates/fraud-detector/src/monitor.rs` |
//! | online features, streaming vs batch, exact parity | `crates/fraud-detector/src/online.rs`, `batch.rs` |
//! | serving: bad input → 4xx, shedding, metrics, hot swap, graceful shutdown, OpenAPI | `crates/mlsd-core/src/serve.rs`, `crates/fraud-detector/src/serve.rs` |
//! | micro-batching | `crates/mlsd-core/src/serve.rs` (`MicroBatcher`) |
//! | overload: admission by predicted wait, when micro-batching pays (a simulated heavier model) | `crates/mlsd-core/src/accelerator.rs`, `mlsd bench serve --sim-call-us` |
//! | monitoring live traffic (sliding-window drift) | `crates/mlsd-core/src/drift.rs` (`SlidingWindow`), `GET /v1/fraud/drift` |
//! | batch vs real-time agreement, end to end | `crates/fraud-detector/src/replay.rs` |
//! | explicit vs implicit feedback; ranking metrics (nDCG, MAP) | `crates/recommender/src/models.rs`, `evaluate.rs`, `crates/mlsd-core/src/metrics.rs` (`top_k`) |
//! | candidate generation vs ranking, ANN retrieval, business rules | `crates/recommender/src/two_stage.rs`, `ann.rs` |
//! | batch precompute vs real-time freshness, caching, cold start | `crates/recommender/src/batch.rs`, `serve.rs`, `evaluate.rs` (replay) |
//! | drift with a permutation null (popularity, activity, new items) | `crates/recommender/src/monitor.rs` |
//! | latency percentiles, coordinated omission, saturation | `crates/mlsd-core/src/loadgen.rs`, `mlsd bench serve` |
//!
//! `rg "Talking point"` lists every spot in the code where one is made.

pub mod cli;
