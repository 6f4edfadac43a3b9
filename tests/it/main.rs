//! The integration tests: one binary, one module per design, plus what spans designs.
//!
//! - `cli`: the `mlsd` binary end to end (demo, determinism of `generate`, JSON shapes, errors,
//!   the serving benchmarks' quick runs)
//! - `contract`: what every design's server keeps, run against all of them — health, ready,
//!   metrics, an OpenAPI document matching the routes, JSON 4xx, 503 under overload,
//!   promote and rollback under load with no failed request, following the registry
//! - `dashboard`: the live page at `/` of every server, rendered in headless Chromium while
//!   traffic flows (needs Chromium: `scripts/chromium.sh install`; SKIPPED without)
//! - `logs`: `mlsd serve`'s request lines (text and JSON) and `x-request-id`
//! - `reference`: AUC, AP, nDCG, KS and χ² against scikit-learn and SciPy (committed values)
//! - `crash`: writers (training, promote, rollback, ingest) killed at many points never leave
//!   a broken registry or a torn file
//! - `fraud`: corrupted input loses nothing, no leakage (`data`), model behaviour and
//!   calibration (`models`), online = offline features (`online`), drift rates over 20 seeds
//!   (`monitor`), the scoring API over HTTP (`api`), the windows in Redis = in memory, a dead
//!   and a slow Redis, replicas sharing it, a consumer killed mid-stream (`redis_state`; needs
//!   `MLSD_REDIS_URL`, SKIPPED without)
//! - `recommender`: MovieLens-100k from `MLSD_DATA_DIR` (`movielens`), the seeded shop —
//!   two-stage vs single models, rules, batch job, freshness, drift (`shop`), the API (`api`),
//!   sessions in Redis = in memory, replicas sharing them, a dead Redis, a consumer killed
//!   mid-stream (`redis_state`; needs `MLSD_REDIS_URL`, SKIPPED without)
//! - `sentiment`: rt-polarity from `MLSD_DATA_DIR` — loader, 10-fold CV bars, text drift on
//!   real text (`rt_polarity`), the API with its stream and live feed (`api`), topic windows
//!   in Redis = in memory, replicas sharing them, a dead Redis, a consumer killed mid-stream
//!   (`redis_state`; needs `MLSD_REDIS_URL`, SKIPPED without); the cascade's sentence encoder
//!   on a tiny model the test writes and on the real one (`encoder`; needs `--features encoder`,
//!   and `scripts/encoder.sh install` for the real model; SKIPPED without)
//! - `maintenance`, `newsfeed`: the published protocols from `MLSD_DATA_DIR`, the simulators'
//!   claims, the APIs, and their writes replicated by a log in Redis — replicas agree, a late
//!   one replays the log, a dead Redis refuses writes (`redis_state`; SKIPPED without
//!   `MLSD_REDIS_URL`)
//! - `operate`: the production loop replayed on fraud and sentiment — per retraining policy,
//!   recovery from an injected drift, the broken candidate stopped by the gates, the estimate
//!   vs the realised metric
//! - `spark`: the batch paths as SQL on Apache Spark against the in-process pipeline, row by
//!   row — fraud's validation, features and every model family; the recommender's lists; the
//!   maintenance fleet job's refusals, features and schedule
//!   (needs `--features spark` and `MLSD_SPARK_REMOTE`; SKIPPED without)
//! - `talking_points`: `docs/talking-points.md` is fresh and no link, test name, number or
//!   command in it dangles; the check fails on each kind of dangling
//! - `common`: shared fixtures (small worlds, HTTP helpers)

mod common;
mod cli;
mod contract;
mod crash;
mod dashboard;
mod fraud;
mod logs;
mod maintenance;
mod newsfeed;
mod operate;
mod reference;
mod recommender;
mod sentiment;
mod spark;
mod talking_points;
