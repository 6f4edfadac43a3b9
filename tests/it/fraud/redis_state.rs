//! Online state in Redis: the Redis store gives exactly the in-memory store's features (which
//! `online` proves equal to the offline pipeline's), refuses to answer from empty state,
//! sheds a slow Redis within its budget, and an aggregator killed between applying events and
//! acknowledging them loses none and counts none twice. Needs `MLSD_REDIS_URL` (`.ci/run`
//! starts a Redis with `scripts/redis.sh`); each test says SKIPPED without it, except those
//! that need no server (a dead Redis).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fraud_detector::features::{compute, FeatureSpec};
use fraud_detector::online::{
    warm_up, FeatureStore, InMemoryFeatureStore, RedisFeatureStore, Transaction,
};
use fraud_detector::simulate::simulate;
use fraud_detector::stream::{apply, apply_batch, Applied, FraudEvent};
use mlsd_core::events::EventLog;
use mlsd_core::online_state::{delete_prefix, test_url, unique_prefix, StateError};

use mlsd_core::online_state::StateBackend;

use super::api::{config, payment, registry, start_with};
use super::online::replay_through;
use crate::common::{http, post_json, small_simulation};

const BUDGET: Duration = Duration::from_millis(500);

fn redis_store(url: &str, name: &str) -> RedisFeatureStore {
    RedisFeatureStore::open(FeatureSpec::default(), url, &unique_prefix(name), BUDGET)
        .expect("open")
}

/// Deletes the store's keys when the test ends (passing or not).
struct Cleanup<'a>(&'a RedisFeatureStore);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = delete_prefix(self.0.redis(), self.0.prefix());
    }
}

#[test]
fn the_redis_store_replays_simulated_traffic_with_exactly_the_in_memory_features() {
    let Some(url) = test_url("redis parity") else {
        return;
    };
    let spec = FeatureSpec::default();
    let mut cfg = small_simulation();
    cfg.n_days = 25;
    let (df, _) = simulate(&cfg).expect("simulate");
    let featured = compute(df, &spec).expect("features");
    let redis = redis_store(&url, "parity");
    let _cleanup = Cleanup(&redis);
    warm_up(&redis, &[]).expect("an empty history is a history");
    let remote = replay_through(&redis, &featured, &spec);
    let local = replay_through(&InMemoryFeatureStore::new(spec.clone()), &featured, &spec);
    assert_eq!(remote.len(), local.len());
    assert!(remote.len() > 5_000, "{} payments", remote.len());
    for (i, (r, l)) in remote.iter().zip(&local).enumerate() {
        // Bit for bit: the same sums, assembled by the same function.
        assert_eq!(r.features, l.features, "payment {i}");
    }
    println!(
        "redis parity: {} payments, identical features",
        remote.len()
    );
}

/// Payments mostly in time order, one in five up to two days late, one in ten sent twice
/// (a retry), labels set and corrected; both stores must answer the same to every call.
#[test]
fn out_of_order_payments_retries_and_corrected_labels_match_in_both_stores() {
    let Some(url) = test_url("redis retries") else {
        return;
    };
    let redis = redis_store(&url, "retries");
    let _cleanup = Cleanup(&redis);
    let memory = InMemoryFeatureStore::new(FeatureSpec::default());
    warm_up(&redis, &[]).expect("warm");
    let mut x: u64 = 7;
    let mut next = |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut clock = 1_522_540_800_000i64;
    let mut sent: Vec<Transaction> = Vec::new();
    for id in 0..1_500 {
        clock += next(3_600_000) as i64 * 3;
        let late = if next(5) == 0 {
            next(2 * 86_400_000) as i64
        } else {
            0
        };
        let tx = if next(10) == 0 && !sent.is_empty() {
            sent[next(sent.len() as u64) as usize] // a retry of an earlier payment
        } else {
            Transaction {
                transaction_id: id,
                datetime_ms: clock - late,
                customer_id: next(4) as i64,
                terminal_id: next(3) as i64,
                amount: next(20_000) as f64 / 100.0,
            }
        };
        sent.push(tx);
        assert_eq!(
            redis.observe(&tx).expect("redis"),
            memory.observe(&tx),
            "payment {id}"
        );
        if next(4) == 0 {
            let target = sent[next(sent.len() as u64) as usize].transaction_id;
            let fraud = next(10) != 0;
            assert_eq!(
                redis.record_label(target, fraud).expect("label"),
                memory.record_label(target, fraud),
                "label for {target}"
            );
        }
    }
    // A micro-batch is one pipelined round trip and answers as one call at a time would.
    let batch: Vec<Transaction> = sent[..50].to_vec();
    let remote = redis.observe_all(&batch).expect("batch");
    let local: Vec<Vec<f64>> = batch.iter().map(|tx| memory.observe(tx)).collect();
    assert_eq!(remote, local);
}

#[test]
fn an_empty_or_restarted_redis_is_refused_not_answered_from() {
    let Some(url) = test_url("redis cold") else {
        return;
    };
    let redis = redis_store(&url, "cold");
    let _cleanup = Cleanup(&redis);
    let tx = Transaction {
        transaction_id: 1,
        datetime_ms: 1_522_540_800_000,
        customer_id: 1,
        terminal_id: 1,
        amount: 10.0,
    };
    assert!(redis.is_cold().expect("reachable"));
    assert!(matches!(redis.observe(&tx), Err(StateError::Cold(_))));
    assert!(matches!(
        redis.record_label(1, true),
        Err(StateError::Cold(_))
    ));
    assert!(matches!(redis.ready(), Err(StateError::Cold(_))));
    warm_up(&redis, &[(tx, true)]).expect("warm");
    assert!(redis.ready().is_ok());
    assert_eq!(
        redis.observe(&tx).expect("served")[3],
        1.0,
        "the warmed payment counts once"
    );
    // Redis restarted without its data: the same as never loaded.
    delete_prefix(redis.redis(), redis.prefix()).expect("flush");
    assert!(matches!(redis.observe(&tx), Err(StateError::Cold(_))));
}

#[test]
fn a_redis_that_is_down_is_unavailable_within_the_budget() {
    // Nothing listens on port 1; no Redis needed.
    let store = RedisFeatureStore::open(FeatureSpec::default(), "redis://127.0.0.1:1", "x", BUDGET)
        .expect("a URL is all open needs");
    assert!(matches!(store.ready(), Err(StateError::Unavailable(_))));
    assert!(matches!(
        store.record_label(1, true),
        Err(StateError::Unavailable(_))
    ));
}

/// A TCP relay to `upstream` that holds every chunk for `delay` (a slow network or Redis).
fn slow_relay(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        std::thread::sleep(delay);
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    addr
}

#[test]
fn a_slow_redis_is_shed_within_the_budget_instead_of_waited_for() {
    let Some(url) = test_url("redis slow") else {
        return;
    };
    let upstream: SocketAddr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("a redis://host:port URL");
    let relay = slow_relay(upstream, Duration::from_millis(400));
    let prefix = unique_prefix("slow");
    let store = RedisFeatureStore::open(
        FeatureSpec::default(),
        &format!("redis://{relay}"),
        &prefix,
        Duration::from_millis(100),
    )
    .expect("open");
    let started = Instant::now();
    let answer = store.ready();
    assert!(
        matches!(answer, Err(StateError::Unavailable(_))),
        "{answer:?}"
    );
    // Not a performance assert: without the budget this call would block for seconds.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// The kill test: aggregator `a` applies part of the stream and dies before acknowledging its
/// last batch; `b` takes over `a`'s pending events and the rest. Every event is applied at
/// least once (`b` re-applies `a`'s unacknowledged batch), and the store ends exactly as if
/// each had been applied once.
#[test]
fn an_aggregator_killed_before_acknowledging_loses_nothing_and_counts_nothing_twice() {
    let Some(url) = test_url("redis consumer kill") else {
        return;
    };
    let store = redis_store(&url, "stream");
    let _cleanup = Cleanup(&store);
    warm_up(&store, &[]).expect("warm");
    let log = EventLog::new(
        Arc::clone(store.redis()),
        format!("{}:events", store.prefix()),
    );
    let mut cfg = small_simulation();
    cfg.n_days = 10;
    let (df, _) = simulate(&cfg).expect("simulate");
    let payments = fraud_detector::online::transactions_of(&df).expect("payments");
    let mut events = Vec::new();
    for (i, (tx, fraud)) in payments.iter().take(2_000).enumerate() {
        events.push(FraudEvent::Payment(*tx));
        if *fraud || i % 7 == 0 {
            events.push(FraudEvent::Label {
                transaction_id: tx.transaction_id,
                fraud: *fraud,
            });
        }
    }
    log.append(&FraudEvent::keyed(&events)).expect("produce");
    log.append(&[("garbage".to_string(), "not an event")])
        .expect("a bad event");
    log.create_group("aggregators").expect("group");

    // a: five batches applied and acknowledged, then a sixth applied and never acknowledged.
    let a = log.consumer("aggregators", "a");
    for _ in 0..5 {
        apply_batch(&a, &store, 200, Duration::from_secs(3600)).expect("a");
    }
    let unacked = a.read(200).expect("a reads its last batch");
    let mut died = Applied::default();
    apply(&a, &store, &unacked, &mut died).expect("a applies it");
    assert_eq!(
        died.events(),
        unacked.len(),
        "a applied its last batch before dying"
    );
    drop(a); // killed: no XACK
    assert_eq!(log.pending("aggregators").expect("pending"), unacked.len());

    // b: takes over what a left pending (idle ≥ 0 ms here; minutes in production), then reads on.
    let b = log.consumer("aggregators", "b");
    let mut reclaimed = 0;
    loop {
        let done = apply_batch(&b, &store, 200, Duration::ZERO).expect("b");
        if done.events() == 0 {
            break;
        }
        reclaimed += done.reclaimed;
    }
    assert_eq!(
        reclaimed,
        unacked.len(),
        "b re-applied every event a had not acknowledged"
    );
    assert!(reclaimed > 0);
    assert_eq!(
        log.pending("aggregators").expect("pending"),
        0,
        "nothing left unacknowledged"
    );
    assert_eq!(
        log.dead_letters().expect("dead"),
        1,
        "the bad event was kept, not lost"
    );

    // Exactly-once effect: the store equals one that saw each event once, in order.
    let once = InMemoryFeatureStore::new(FeatureSpec::default());
    for event in &events {
        match event {
            FraudEvent::Payment(tx) => {
                once.observe(tx);
            }
            FraudEvent::Label {
                transaction_id,
                fraud,
            } => {
                once.record_label(*transaction_id, *fraud);
            }
        }
    }
    // Probes on every card and terminal that paid (ids beyond the stream, so new payments).
    let last = payments[1_999].0;
    for (k, (tx, _)) in payments.iter().take(2_000).enumerate().step_by(13) {
        let probe = Transaction {
            transaction_id: 10_000_000 + k as i64,
            datetime_ms: last.datetime_ms + 1,
            ..*tx
        };
        assert_eq!(
            store.observe(&probe).expect("probe"),
            once.observe(&probe),
            "card {}",
            tx.customer_id
        );
    }
    println!(
        "consumer kill: {} events, {} re-delivered after the kill, 0 lost, 0 counted twice, 1 dead letter",
        events.len(),
        reclaimed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_redis_is_down_is_not_ready_and_sheds_with_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config();
    config.state = StateBackend::parse("redis://127.0.0.1:1", "fraud", BUDGET).expect("url");
    let (addr, state) = start_with(registry(dir.path()), config).await;
    assert!(state.warm_up(&[]).is_err(), "nothing to load into");
    let (status, body) = http(addr, "GET", "/ready", None, b"").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("state_unavailable"), "{body}");
    let (status, body) = post_json(addr, "/v1/fraud/score", &payment(1, "10.0")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("state_unavailable"), "{body}");
    let (status, _) = http(addr, "GET", "/health", None, b"").await;
    assert_eq!(status, 200, "alive, just not ready");
}

/// Two replicas on one Redis: a payment scored by one is known to the other (its label is
/// recorded there), and its windows count it once whichever replica scores the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_share_the_cards_windows() {
    let Some(url) = test_url("redis replicas") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry(dir.path());
    let prefix = unique_prefix("replicas");
    let replica = || {
        let mut config = config();
        config.state = StateBackend::Redis {
            url: url.clone(),
            prefix: prefix.clone(),
            timeout: BUDGET,
        };
        config
    };
    let (a, state_a) = start_with(registry.clone(), replica()).await;
    assert!(
        state_a.warm_up(&[]).expect("loads"),
        "the first replica loads the history"
    );
    let (b, state_b) = start_with(registry, replica()).await;
    assert!(
        !state_b.warm_up(&[]).expect("reachable"),
        "the second finds it loaded"
    );
    assert_eq!(http(b, "GET", "/ready", None, b"").await.0, 200);
    let (status, body) = post_json(a, "/v1/fraud/score", &payment(41, "25.0")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post_json(
        b,
        "/v1/fraud/labels",
        r#"{"transaction_id": 41, "fraud": true}"#,
    )
    .await;
    assert_eq!(status, 200, "replica b knows a's payment: {body}");
    // The same payment retried on b, then a new one on a: the card has paid twice, not three times.
    assert_eq!(
        post_json(b, "/v1/fraud/score", &payment(41, "25.0"))
            .await
            .0,
        200
    );
    let (status, body) = post_json(a, "/v1/fraud/score", &payment(42, "25.0")).await;
    assert_eq!(status, 200, "{body}");
    let redis = mlsd_core::online_state::RedisState::open(&url, BUDGET, Vec::new()).expect("open");
    let card: usize = redis
        .run(|con| {
            mlsd_core::online_state::redis::cmd("ZCARD")
                .arg(format!("{prefix}:card:3"))
                .query(con)
        })
        .expect("zcard");
    assert_eq!(card, 2);
    delete_prefix(&redis, &prefix).expect("cleanup");
}

/// `mlsd fraud produce` then `mlsd fraud consume`: every payment reaches the store, nothing
/// stays pending. (scripts/scale-out.sh kills a consumer process with SIGKILL midway.)
#[test]
fn the_cli_appends_the_week_and_a_consumer_applies_every_event() {
    let Some(url) = test_url("redis cli stream") else {
        return;
    };
    // Database 9 is this test's alone (the CLI's keys have the design's fixed prefix).
    let url = format!("{}/9", url.trim_end_matches('/'));
    let redis = mlsd_core::online_state::RedisState::open(&url, BUDGET, Vec::new()).expect("open");
    redis
        .run(|con| mlsd_core::online_state::redis::cmd("FLUSHDB").query::<()>(con))
        .expect("flush");
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out, err) = crate::common::mlsd(
        &["fraud", "produce", "--state", &url, "--payments", "3000"],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("(3000 payments)"), "{out}");
    let (ok, out, err) = crate::common::mlsd(
        &[
            "fraud",
            "consume",
            "--state",
            &url,
            "--name",
            "a",
            "--until-idle",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("; 0 pending in group aggregators"), "{out}");
    let payments: usize = redis
        .run(|con| {
            mlsd_core::online_state::redis::cmd("HLEN")
                .arg("mlsd:fraud:seen")
                .query(con)
        })
        .expect("hlen");
    assert_eq!(payments, 3000);
    let _ = redis.run(|con| mlsd_core::online_state::redis::cmd("FLUSHDB").query::<()>(con));
}

/// Redis restarted without its data under a running replica: it sheds (`state_cold`) until
/// `keep_loaded` has reloaded its history, then answers again, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reloads_its_history_when_redis_comes_back_empty() {
    let Some(url) = test_url("redis reload") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = unique_prefix("reload");
    let mut config = config();
    config.state = StateBackend::Redis {
        url: url.clone(),
        prefix: prefix.clone(),
        timeout: BUDGET,
    };
    let (addr, state) = start_with(registry(dir.path()), config).await;
    assert!(state.warm_up(&[]).expect("loads"));
    assert_eq!(
        post_json(addr, "/v1/fraud/score", &payment(7, "10.0"))
            .await
            .0,
        200
    );
    let redis = mlsd_core::online_state::RedisState::open(&url, BUDGET, Vec::new()).expect("open");
    delete_prefix(&redis, &prefix).expect("Redis loses its data");
    let (status, body) = post_json(addr, "/v1/fraud/score", &payment(8, "10.0")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("state_cold"), "{body}");
    state.keep_loaded(Arc::new(Vec::new()), Duration::from_millis(50));
    let mut ready = 0;
    for _ in 0..100 {
        ready = http(addr, "GET", "/ready", None, b"").await.0;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, 200, "reloaded within 5 s");
    assert_eq!(
        post_json(addr, "/v1/fraud/score", &payment(8, "10.0"))
            .await
            .0,
        200
    );
    delete_prefix(&redis, &prefix).expect("cleanup");
}
