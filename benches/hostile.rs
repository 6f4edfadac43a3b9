//! Liveness under hostile load (criterion): how long `GET /health` takes while other clients
//! do the most expensive things the API allows, on loopback.
//!
//! - `health/idle`: the sentiment server with nothing else to do (the baseline);
//! - `health/drift_storm`: the sentiment server while four clients poll
//!   `GET /v1/sentiment/drift` back to back over a full 5,000-text window (~75 ms of CPU each);
//! - `health/hot_key_flood`: the fraud server while two clients post batches of 100 payments
//!   of one card at one terminal back to back (the key's history grows all run long).
//!
//! - `score/primary_only` and `score/with_shadow`: `POST /v1/fraud/score` one payment at a
//!   time, without and with a candidate in shadow (it scores a copy of each request on the
//!   mirror thread; the gates are set so it stays in shadow): the cost of shadow traffic on
//!   the answer's latency.
//!
//! Criterion reports the median; each function also prints the p50 and p99 of every request
//! it timed (the issue-15 measurement: `/health` went from 0.44 ms to a median of 87 ms in a
//! drift storm when drift checks ran on the async workers).
//!
//! Run: `cargo bench --bench hostile` (add `-- --quick` for a fast, rougher pass).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mlsd_core::loadgen::Client;
use mlsd_core::registry::Registry;
use mlsd_core::serve::Running;

/// A server on its own two-worker runtime (as `mlsd serve` on a 2-core machine).
struct Server {
    addr: SocketAddr,
    _running: Running,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Builds the router inside the server's runtime (its state spawns tasks) and serves it.
    fn start(dir: tempfile::TempDir, router: impl FnOnce() -> axum::Router) -> Server {
        let rt = runtime(2);
        let running = rt.block_on(async {
            Running::start("127.0.0.1:0".parse().expect("addr"), router())
                .await
                .expect("start")
        });
        Server {
            addr: running.addr,
            _running: running,
            _runtime: rt,
            _dir: dir,
        }
    }
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime")
}

fn sentiment_server() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    let data = sentiment::pipeline::training_data(None, None).expect("embedded reviews");
    sentiment::pipeline::train_and_register(&registry, data, true).expect("register");
    Server::start(dir, || {
        let state = sentiment::serve::state(registry, Default::default()).expect("state");
        sentiment::serve::router(state)
    })
}

/// The fraud server; with `shadow`, a second version of the same training job in shadow.
fn fraud_server(shadow: bool) -> Server {
    use fraud_detector::config::SimulationConfig;
    use fraud_detector::ingest::IngestConfig;
    use fraud_detector::pipeline::{evaluate_and_register, featurize, PipelineConfig};
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    let sim = SimulationConfig {
        n_customers: 600,
        n_terminals: 1_200,
        n_days: 140,
        ..SimulationConfig::default()
    };
    let (df, _) = fraud_detector::simulate::simulate(&sim).expect("simulate");
    let cfg = PipelineConfig {
        kinds: vec![fraud_detector::train::ModelKind::LogisticRegression],
        ..PipelineConfig::default()
    };
    let (featured, _) = featurize(df, &cfg.features).expect("features");
    evaluate_and_register(&featured, "bench", &cfg, &registry, true, |_| {}).expect("register");
    if shadow {
        evaluate_and_register(&featured, "bench", &cfg, &registry, false, |_| {})
            .expect("register");
    }
    let limits = IngestConfig::for_simulation(&sim).expect("limits");
    Server::start(dir, || {
        let mut config = fraud_detector::serve::ServeConfig::new(limits);
        // A candidate that never leaves shadow, whatever it sees.
        config.server.rollout.min_evaluated = u64::MAX;
        let state = fraud_detector::serve::state(registry, config).expect("state");
        if shadow {
            let status = state.models().start_rollout("v0002").expect("in shadow");
            assert_eq!(status.candidate.as_deref(), Some("v0002"));
        }
        fraud_detector::serve::router(state)
    })
}

/// Times `POST /v1/fraud/score` (one payment, a new card each time).
fn score(c: &mut Criterion, name: &str, addr: SocketAddr) {
    timed(c, "score", name, addr, |n| {
        let body = format!(
            r#"{{"transaction_id": {n}, "tx_datetime": "2018-08-20 12:00:00", "customer_id": {}, "terminal_id": {}, "tx_amount": 42.5}}"#,
            n % 600,
            n % 1_200
        );
        ("POST", "/v1/fraud/score", Some(body.into_bytes()))
    });
}

/// Times `GET /health`.
fn health(c: &mut Criterion, name: &str, addr: SocketAddr) {
    timed(c, "health", name, addr, |_| ("GET", "/health", None));
}

/// Times the `n`-th request `request(n)` gives, over one keep-alive connection; prints the
/// p50/p99 of every request it timed (nothing when the bench was filtered out).
fn timed(
    c: &mut Criterion,
    group: &str,
    name: &str,
    addr: SocketAddr,
    mut request: impl FnMut(u64) -> (&'static str, &'static str, Option<Vec<u8>>),
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut client = rt.block_on(Client::connect(addr)).expect("connect");
    let mut samples: Vec<Duration> = Vec::new();
    let mut n = 0u64;
    let mut g = c.benchmark_group(group);
    g.sample_size(30);
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let (method, path, body) = request(n);
                let t = Instant::now();
                let answer = rt.block_on(client.request(method, path, body.as_deref()));
                let took = t.elapsed();
                assert_eq!(answer.expect("answer").status, 200);
                samples.push(took);
                total += took;
            }
            total
        })
    });
    g.finish();
    if samples.is_empty() {
        return;
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    println!(
        "{group}/{name}: {} requests, p50 {:.3} ms, p99 {:.3} ms",
        samples.len(),
        at(0.5),
        at(0.99)
    );
}

/// Requests the storm clients sent, by answer.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    other: AtomicU64,
}

impl Tally {
    fn count(&self, status: Option<u16>) {
        let counter = if status == Some(200) {
            &self.ok
        } else {
            &self.other
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `load` on `clients` tasks of a runtime of their own until `stop` is set.
fn storm<F, Fut>(clients: usize, load: F) -> (tokio::runtime::Runtime, Arc<AtomicBool>, Arc<Tally>)
where
    F: Fn(Arc<AtomicBool>, Arc<Tally>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = runtime(1);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    for _ in 0..clients {
        rt.spawn(load(stop.clone(), tally.clone()));
    }
    (rt, stop, tally)
}

/// Stops a storm and prints what its clients got.
fn calm(name: &str, (rt, stop, tally): (tokio::runtime::Runtime, Arc<AtomicBool>, Arc<Tally>)) {
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(5));
    println!(
        "{name}: the storm's requests answered 200: {}, otherwise: {}",
        tally.ok.load(Ordering::Relaxed),
        tally.other.load(Ordering::Relaxed)
    );
}

fn benches(c: &mut Criterion) {
    let server = sentiment_server();
    health(c, "idle", server.addr);

    // A full drift window, then four clients asking for a drift check back to back.
    let addr = server.addr;
    let texts: Vec<String> = sentiment::bench::texts(5_000, 3);
    runtime(1).block_on(async {
        let mut client = Client::connect(addr).await.expect("connect");
        for chunk in texts.chunks(1_000) {
            let body = serde_json::json!({ "texts": chunk }).to_string();
            let answer = client.request("POST", "/v1/sentiment/batch", Some(body.as_bytes()));
            assert_eq!(answer.await.expect("answer").status, 200);
        }
    });
    let drift = storm(4, move |stop, tally| async move {
        let Ok(mut client) = Client::connect(addr).await else {
            return tally.count(None);
        };
        while !stop.load(Ordering::Relaxed) {
            let answer = client.request("GET", "/v1/sentiment/drift", None).await;
            tally.count(answer.ok().map(|a| a.status));
        }
    });
    health(c, "drift_storm", addr);
    calm("drift_storm", drift);

    // Batches of one card at one terminal, back to back from two clients.
    for (name, shadow) in [("primary_only", false), ("with_shadow", true)] {
        let server = fraud_server(shadow);
        score(c, name, server.addr);
    }

    let server = fraud_server(false);
    let addr = server.addr;
    let next = Arc::new(AtomicI64::new(0));
    let flood = storm(2, move |stop, tally| {
        let next = next.clone();
        async move {
            let Ok(mut client) = Client::connect(addr).await else {
                return tally.count(None);
            };
            while !stop.load(Ordering::Relaxed) {
                let from = next.fetch_add(100, Ordering::Relaxed);
                let payments: Vec<String> = (from..from + 100)
                    .map(|i| {
                        let at = chrono::DateTime::from_timestamp(1_533_081_600 + i, 0)
                            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default();
                        format!(
                            r#"{{"transaction_id": {i}, "tx_datetime": "{at}", "customer_id": 1, "terminal_id": 1, "tx_amount": 12.5}}"#
                        )
                    })
                    .collect();
                let body = format!(r#"{{"transactions": [{}]}}"#, payments.join(","));
                let answer = client.request("POST", "/v1/fraud/score/batch", Some(body.as_bytes()));
                tally.count(answer.await.ok().map(|a| a.status));
            }
        }
    });
    health(c, "hot_key_flood", addr);
    calm("hot_key_flood", flood);
}

criterion_group!(hostile, benches);
criterion_main!(hostile);
