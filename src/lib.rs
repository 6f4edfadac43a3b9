//! # mlsd — ML system-design interview answers as runnable Rust systems
//!
//! ## Layout
//!
//! | where | what |
//! |---|---|
//! | `crates/mlsd-core` | shared core: validation + quarantine, metrics, drift, model registry, the design seam (`design::Artifact`), one server skeleton (`server`: limits, hot swap, registry watching, `/ready` `/metrics` `/openapi.json` `/v1/models`, promote, rollback, shadow and canary), the production loop (`lifecycle`, `estimate`, `operate`), reports, load generator |
//! | `crates/fraud-detector` | the fraud design: simulate → ingest → features → train → evaluate → register → online store, batch scoring, monitoring, API, replay, serving benchmark traffic |
//! | `crates/recommender` | the recommender design: MovieLens loader and a seeded shop → splits → popularity, co-occurrence, BPR, MF → two-stage retrieve → rank → rules → both published protocols and a time split → batch snapshot → registry version → real-time API → drift monitoring |
//! | `crates/sentiment` | the sentiment design: rt-polarity and labelled-text loaders, synthetic reviews → text pipeline → VADER, MNB, SVM, NBSVM, LR → 10-fold CV, calibration → registry version → batch job and API (stream ingest, live SSE feed, cache, micro-batching) → text drift |
//! | `crates/maintenance` | the maintenance design: C-MAPSS, AI4I and a seeded fleet simulator → windowed sensor features → RUL baselines (mean, Weibull) and regressors, AI4I rules vs classifiers → published protocols → cost-based policies → registry version → per-machine online state, batch schedule and API (readings, NDJSON stream, alerts, events) → sensor drift and health |
//! | `crates/newsfeed` | the news-feed design: the MIND format and a seeded news service that knows true relevance → point-in-time counters → baselines and a multi-task ranker → the funnel (sources, ranking, re-ranking, exploration) → the MIND protocol and the simulator's experiments → registry version → batch pools and the feed API → topic-mix monitoring |
//! | `crates/tabular` | the tabular models fraud, maintenance and the news feed share: scaler, classifiers (incl. Newton logistic regression), regressors (ridge, a forest, boosting), undersampling, thresholds |
//! | `src/cli.rs`, `src/cli/` | the `mlsd` command line (a thin layer over the crates): `cli.rs` dispatches, one module per design with the same items, and the shared `common`, `bench`, `models`, `demo`, `capacity`, `interview` |
//! | `tests/` | one integration-test binary: CLI end to end, corrupted input, model behaviour, each design's HTTP API, and one contract every server keeps |
//! | `benches/` | criterion benchmarks per design: features and prediction, re-ranking vs lookup, vectorising, drift checks |
//!
//! Every design crate has the same stage files in pipeline order, and `pipeline.rs` (read it
//! first), `config.rs` and `bench.rs`; `docs/new-design.md` is the recipe for the next one.
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
//! | hyper-parameters on validation weeks, results as mean ± spread over test weeks | `crates/fraud-detector/src/model_selection.rs` |
//! | training/serving skew (spec + scaler saved with the model) | `crates/fraud-detector/src/artifact.rs` |
//! | model and data versioning, rollback | `crates/mlsd-core/src/registry.rs` |
//! | drift statistics and monitoring | `crates/mlsd-core/src/drift.rs`, `crates/fraud-detector/src/monitor.rs` |
//! | online features, streaming vs batch, exact parity | `crates/fraud-detector/src/online.rs`, `batch.rs` |
//! | serving: bad input → 4xx, shedding, metrics, graceful shutdown, OpenAPI | `crates/mlsd-core/src/serve.rs`, each design's `serve.rs` |
//! | hot swap, promote and rollback under load, following the registry — every design | `crates/mlsd-core/src/server/models.rs` (`Models`), `tests/it/contract.rs` |
//! | micro-batching | `crates/mlsd-core/src/serve.rs` (`MicroBatcher`) |
//! | overload: admission by predicted wait, when micro-batching pays (a simulated heavier model) | `crates/mlsd-core/src/accelerator.rs`, `mlsd bench serve --sim-call-us` |
//! | monitoring live traffic (sliding-window drift) | `crates/mlsd-core/src/drift.rs` (`SlidingWindow`), `GET /v1/fraud/drift` |
//! | batch vs real-time agreement, end to end | `crates/fraud-detector/src/replay.rs` |
//! | distributed processing: the batch job as SQL on Apache Spark (Spark Connect), parity-tested row by row | `crates/mlsd-core/src/sql.rs`, `crates/tabular/src/sql.rs`, each design's `export.rs`, `src/spark.rs`, `tests/it/spark.rs` |
//! | explicit vs implicit feedback; ranking metrics (nDCG, MAP) | `crates/recommender/src/models.rs`, `evaluate.rs`, `crates/mlsd-core/src/metrics.rs` (`top_k`) |
//! | candidate generation vs ranking, ANN retrieval, business rules | `crates/recommender/src/two_stage.rs`, `ann.rs` |
//! | simple closed-form models vs deep ones; blending models that err differently | `crates/recommender/src/item_item.rs` (EASE, RP3beta), `ratings.rs` (SVD++, kNN, blend) |
//! | batch precompute vs real-time freshness, caching, cold start | `crates/recommender/src/batch.rs`, `serve.rs`, `evaluate.rs` (replay) |
//! | drift with a permutation null (popularity, activity, new items) | `crates/recommender/src/monitor.rs` |
//! | latency percentiles, coordinated omission, saturation | `crates/mlsd-core/src/loadgen.rs`, `mlsd bench serve` |
//! | rule-based baseline vs learned models; text features (negation, n-grams) | `crates/sentiment/src/lexicon.rs`, `text.rs`, `models.rs` |
//! | published-protocol evaluation (10-fold CV) and calibration | `crates/sentiment/src/evaluate.rs`, `artifact.rs` (Platt on the hold-out) |
//! | nested CV for settings; out-of-domain accuracy before trusting a model; "undecided" | `crates/sentiment/src/ensemble.rs`, `out_of_domain.rs`, `artifact.rs` |
//! | streaming vs request/response, windowed aggregates, alerts with a false-alarm budget, caching | `crates/sentiment/src/serve.rs`, `serve/stream.rs`, `topics.rs` |
//! | drift in language (vocabulary, length, words, predictions, a domain classifier) | `crates/sentiment/src/monitor.rs` |
//! | censored labels, splits by machine, leakage (a failure-mode guard) | `crates/maintenance/src/data.rs`, `features.rs` (`table`), `tests/it/maintenance/data.rs` |
//! | baselines a plant already has (life table, physics rules) vs models | `crates/maintenance/src/models.rs`, `evaluate.rs` |
//! | decisions, not scores: cost-based thresholds, capacity, three policies priced | `crates/maintenance/src/policy.rs` |
//! | sensor drift on clustered data, sensor health, realised error under censoring | `crates/maintenance/src/monitor.rs` |
//! | one value from several engagements (click, read, share, hide); clickbait | `crates/newsfeed/src/models.rs` (`Weights`), `experiments.rs` |
//! | the funnel: candidate sources → ranking → re-ranking (MMR, caps, freshness, integrity, exploration) | `crates/newsfeed/src/feed.rs` |
//! | offline metrics on logged clicks vs true relevance; position bias (PAL) | `crates/newsfeed/src/experiments.rs`, `simulate.rs` (`relevance`) |
//! | feedback loops and exploration; A/B tests vs interleaving | `crates/newsfeed/src/experiments.rs` (`feedback_loop`), `ab.rs` |
//! | retraining: never vs schedule vs trigger, over simulated months with delayed labels | `crates/mlsd-core/src/operate/`, each design's `operate.rs`, `mlsd operate` |
//! | performance before labels land (CBPE) and where it fails (concept drift) | `crates/mlsd-core/src/estimate.rs` |
//! | safe rollout: shadow, canary by entity, automatic rollback, decision log — every server but the news feed's | `crates/mlsd-core/src/lifecycle.rs`, `crates/mlsd-core/src/server/rollout.rs` |
//!
//! `rg "Talking point"` lists every spot in the code where one is made. The generated index
//! `docs/talking-points.md` ([`talking_points`]; `mlsd talking-points`) goes further: the
//! interview's 23 talking points × every design, each a code line, a test and a measured number;
//! `mlsd interview <design>` walks them in interview order, measuring what it can live.

pub mod cli;
pub mod talking_points;
#[cfg(feature = "spark")]
pub mod spark;
