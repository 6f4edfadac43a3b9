//! The fraud scoring API over real HTTP on 127.0.0.1:0: answers, every kind of bad input
//! (4xx with a JSON body, never a 500), metrics, and promote/rollback without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fraud_detector::ingest::IngestConfig;
use fraud_detector::serve::{self, ServeConfig};
use fraud_detector::train::ModelKind;
use mlsd_core::registry::Registry;
use mlsd_core::server::ServerConfig;

use crate::common::{admin_token, fit_and_register, http, post_admin, post_json, small_simulation};

/// A registry with two versions (logistic regression, promoted; a depth-2 tree, not).
pub(super) fn registry(dir: &std::path::Path) -> Registry {
    let registry = Registry::open(dir);
    let (first, _) = fit_and_register(&registry, ModelKind::LogisticRegression);
    registry.promote("fraud", &first.version).expect("promote");
    fit_and_register(&registry, ModelKind::UndersampledTreeDepth2);
    registry
}

pub(super) fn config() -> ServeConfig {
    let mut config = ServeConfig {
        max_batch: 100,
        ..ServeConfig::new(IngestConfig::for_simulation(&small_simulation()).expect("limits"))
    };
    config.server = ServerConfig {
        body_limit: 64 * 1024,
        max_in_flight: 256,
        timeout: Duration::from_secs(5),
        watch_every: Duration::from_millis(100),
        admin_token: Some(admin_token()),
        ..config.server
    };
    config
}

/// [`config`] with the shared server settings changed by `f`.
fn config_with(f: impl FnOnce(&mut ServerConfig)) -> ServeConfig {
    let mut config = config();
    f(&mut config.server);
    config
}

async fn start(registry: Registry) -> SocketAddr {
    start_with(registry, config()).await.0
}

pub(super) async fn start_with(
    registry: Registry,
    config: ServeConfig,
) -> (SocketAddr, Arc<serve::AppState>) {
    let state = serve::state(registry, config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    state.watch_registry();
    tokio::spawn(mlsd_core::serve::serve(
        listener,
        serve::router(state.clone()),
        mlsd_core::serve::IDLE_TIMEOUT,
        std::future::pending(),
    ));
    (addr, state)
}

pub(super) fn payment(id: i64, amount: &str) -> String {
    format!(
        r#"{{"transaction_id": {id}, "tx_datetime": "2018-08-20 12:00:00", "customer_id": 3, "terminal_id": 7, "tx_amount": {amount}}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_health_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = start(registry(dir.path())).await;
    assert_eq!(http(addr, "GET", "/health", None, b"").await.0, 200);
    let (status, body) = http(addr, "GET", "/ready", None, b"").await;
    assert_eq!(status, 200);
    assert!(body.contains("v0001"), "{body}");

    let (status, body) = post_json(addr, "/v1/fraud/score", &payment(1, "42.5")).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let p = v["probability"].as_f64().expect("probability");
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(v["model_version"], "v0001");
    assert!(["approve", "review", "block"].contains(&v["decision"].as_str().expect("decision")));
    assert!(v["latency_ms"].as_f64().expect("latency") >= 0.0);
    // A huge amount is scored as riskier than a small one by the same model.
    let (_, big) = post_json(addr, "/v1/fraud/score", &payment(2, "5000")).await;
    let big: serde_json::Value = serde_json::from_str(&big).expect("json");
    assert!(big["probability"].as_f64().expect("p") > p);

    let batch = format!(
        r#"{{"transactions": [{}, {}]}}"#,
        payment(3, "10"),
        payment(4, "20")
    );
    let (status, body) = post_json(addr, "/v1/fraud/score/batch", &batch).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["results"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let (status, _) = post_json(
        addr,
        "/v1/fraud/labels",
        r#"{"transaction_id": 1, "fraud": true}"#,
    )
    .await;
    assert_eq!(status, 200);

    let (status, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"mlsd_fraud_requests_total{route="/v1/fraud/score",status="200"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains("mlsd_fraud_request_duration_seconds_bucket"));
    assert!(metrics.contains(r#"mlsd_fraud_model_info{version="v0001"} 1"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_a_4xx_with_a_json_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = start(registry(dir.path())).await;
    let huge = format!(
        r#"{{"transactions": [{}]}}"#,
        vec![payment(1, "1"); 2000].join(",")
    );
    let cases: Vec<(&str, String, Option<&str>, u16, &str)> = vec![
        (
            "malformed JSON",
            "{\"transaction_id\": 1,".into(),
            Some("application/json"),
            400,
            "malformed_json",
        ),
        (
            "missing field",
            r#"{"transaction_id": 1}"#.into(),
            Some("application/json"),
            422,
            "invalid_body",
        ),
        (
            "extra field",
            payment(1, "1").replace('}', r#", "extra": 1}"#),
            Some("application/json"),
            422,
            "invalid_body",
        ),
        (
            "wrong type",
            payment(1, "\"ten\""),
            Some("application/json"),
            422,
            "invalid_body",
        ),
        (
            "NaN amount",
            payment(1, "NaN"),
            Some("application/json"),
            400,
            "malformed_json",
        ),
        (
            // serde_json refuses numbers beyond f64 while parsing.
            "infinite amount",
            payment(1, "1e999"),
            Some("application/json"),
            400,
            "malformed_json",
        ),
        (
            "negative amount",
            payment(1, "-5"),
            Some("application/json"),
            422,
            "invalid_amount",
        ),
        (
            "absurd amount",
            payment(1, "1e300"),
            Some("application/json"),
            422,
            "invalid_amount",
        ),
        (
            "unknown card",
            payment(1, "5").replace("\"customer_id\": 3", "\"customer_id\": 999999"),
            Some("application/json"),
            422,
            "unknown_customer",
        ),
        (
            "unknown terminal",
            payment(1, "5").replace("\"terminal_id\": 7", "\"terminal_id\": -1"),
            Some("application/json"),
            422,
            "unknown_terminal",
        ),
        (
            "bad datetime",
            payment(1, "5").replace("2018-08-20 12:00:00", "yesterday"),
            Some("application/json"),
            422,
            "invalid_datetime",
        ),
        // Ingestion quarantines these; the API refuses them with the same parser.
        (
            "year 1900",
            payment(1, "5").replace("2018-08-20 12:00:00", "1900-01-01 00:00:00"),
            Some("application/json"),
            422,
            "invalid_datetime",
        ),
        (
            "year 9999",
            payment(1, "5").replace("2018-08-20 12:00:00", "9999-12-31T23:59:59Z"),
            Some("application/json"),
            422,
            "invalid_datetime",
        ),
        (
            "no such day",
            payment(1, "5").replace("2018-08-20 12:00:00", "2019-02-29 12:00:00"),
            Some("application/json"),
            422,
            "invalid_datetime",
        ),
        (
            "not JSON",
            payment(1, "5"),
            Some("text/plain"),
            415,
            "not_json",
        ),
        ("no content type", payment(1, "5"), None, 415, "not_json"),
        (
            "oversize body",
            huge,
            Some("application/json"),
            413,
            "body_too_large",
        ),
    ];
    for (what, body, content_type, status, code) in cases {
        let (got, text) = http(
            addr,
            "POST",
            "/v1/fraud/score",
            content_type,
            body.as_bytes(),
        )
        .await;
        assert_eq!(got, status, "{what}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{what}: body is not JSON: {text}"));
        assert_eq!(v["error"]["code"], code, "{what}: {text}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {text}"
        );
    }
    let oversize_batch = format!(
        r#"{{"transactions": [{}]}}"#,
        vec![payment(1, "1"); 101].join(",")
    );
    let (status, text) = post_json(addr, "/v1/fraud/score/batch", &oversize_batch).await;
    assert_eq!(
        (status, text.contains("invalid_batch_size")),
        (422, true),
        "{text}"
    );
    let (status, text) = post_json(
        addr,
        "/v1/fraud/labels",
        r#"{"transaction_id": 424242, "fraud": true}"#,
    )
    .await;
    assert_eq!(
        (status, text.contains("unknown_transaction")),
        (404, true),
        "{text}"
    );
    let (status, text) = http(addr, "GET", "/nope", None, b"").await;
    assert_eq!((status, text.contains("not_found")), (404, true), "{text}");
    let (status, text) = post_admin(addr, "/admin/models/v0042/promote").await;
    assert_eq!(
        (status, text.contains("unknown_version")),
        (404, true),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_rollback_switch_the_serving_model_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry(dir.path());
    let addr = start(registry.clone()).await;
    let version = |body: String| {
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["model_version"].clone()
    };
    assert_eq!(
        version(post_json(addr, "/v1/fraud/score", &payment(1, "9")).await.1),
        "v0001"
    );
    // Through the admin endpoint …
    assert_eq!(post_admin(addr, "/admin/models/v0002/promote").await.0, 200);
    assert_eq!(
        version(post_json(addr, "/v1/fraud/score", &payment(2, "9")).await.1),
        "v0002"
    );
    assert_eq!(post_admin(addr, "/admin/models/rollback").await.0, 200);
    assert_eq!(
        version(post_json(addr, "/v1/fraud/score", &payment(3, "9")).await.1),
        "v0001"
    );
    // … and through the registry (what `mlsd models promote` does), picked up by the watcher.
    registry.promote("fraud", "v0002").expect("promote");
    let mut seen = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        seen = version(post_json(addr, "/v1/fraud/score", &payment(4, "9")).await.1).to_string();
        if seen == "\"v0002\"" {
            break;
        }
    }
    assert_eq!(seen, "\"v0002\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = start(registry(dir.path())).await;
    let (status, body) = http(addr, "GET", "/openapi.json", None, b"").await;
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    for (method, path) in [
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/v1/models"),
        ("post", "/v1/fraud/score"),
        ("post", "/v1/fraud/score/batch"),
        ("post", "/v1/fraud/labels"),
        ("get", "/v1/fraud/drift"),
        ("post", "/admin/models/{version}/promote"),
        ("post", "/admin/models/rollback"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    // Request and error schemas are generated from the Rust types.
    let schemas = &doc["components"]["schemas"];
    for name in ["ScoreRequest", "ScoreResponse", "ErrorBody", "Decision"] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    let required = schemas["ScoreRequest"]["required"].to_string();
    for field in [
        "transaction_id",
        "tx_datetime",
        "customer_id",
        "terminal_id",
        "tx_amount",
    ] {
        assert!(required.contains(field), "{field} not required: {required}");
    }
}

/// `n` payments on distinct cards and terminals, a minute apart (no shared history, so
/// their features do not depend on the order they arrive in).
pub fn independent_payments(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"transaction_id": {i}, "tx_datetime": "2018-08-20 {:02}:{:02}:00", "customer_id": {}, "terminal_id": {}, "tx_amount": {}}}"#,
                (i / 60) % 24,
                i % 60,
                i % 600,
                i % 1200,
                5 + (i * 37) % 300
            )
            .into_bytes()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micro_batched_answers_equal_one_by_one_answers() {
    use mlsd_core::loadgen::{run, Load, Target};
    use mlsd_core::serve::MicroBatchConfig;
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry(dir.path());
    let (plain, _) = start_with(registry.clone(), config()).await;
    let batched_config = config_with(|s| {
        s.micro_batch = Some(MicroBatchConfig {
            max_batch: 16,
            max_wait: Duration::from_millis(5),
            queue_depth: 256,
        })
    });
    let (batched, _) = start_with(registry, batched_config).await;
    let bodies = Arc::new(independent_payments(64));
    let load = Load::Closed {
        concurrency: 16,
        duration: Duration::from_secs(30),
        max_requests: 64,
    };
    let mut answers = Vec::new();
    for addr in [plain, batched] {
        let target = Target::post(addr, "/v1/fraud/score", bodies.clone());
        let (report, outcomes) = run(&target, load, true).await.expect("load");
        assert_eq!(report.ok, 64, "{report:?}");
        answers.push(
            outcomes
                .iter()
                .map(|o| {
                    let v: serde_json::Value = serde_json::from_slice(&o.body).expect("json");
                    (v["transaction_id"].as_i64(), v["probability"].as_f64())
                })
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(answers[0], answers[1]);
    let (_, metrics) = http(batched, "GET", "/metrics", None, b"").await;
    let batches: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mlsd_fraud_micro_batch_size_sum "))
        .and_then(|v| v.parse().ok())
        .expect("batch sizes on /metrics");
    assert_eq!(batches, 64.0, "every request went through the batcher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_week_replayed_through_the_api_gets_the_batch_scores() {
    use fraud_detector::replay;
    use fraud_detector::simulate::{date_to_epoch_ms, simulate};
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry(dir.path());
    let (transactions, _) = simulate(&small_simulation()).expect("simulate");
    let from = date_to_epoch_ms("2018-08-08").expect("date");
    let spec = fraud_detector::features::FeatureSpec::default();
    let plan = replay::plan(
        &transactions,
        from,
        from + 7 * 86_400_000,
        spec.history_days(),
    )
    .expect("plan");
    let (addr, state) = start_with(registry.clone(), config()).await;
    state.warm_up(&plan.history).expect("warm up");
    let answers = replay::replay(addr, &plan.live).await.expect("replay");
    let loaded = fraud_detector::artifact::load(&registry, Some("v0001")).expect("load");
    let agreement =
        replay::compare(&plan, &answers, &loaded.artifact, &Default::default()).expect("compare");
    println!("{agreement:?}");
    assert!(agreement.compared >= 5_000, "{agreement:?}");
    assert!(
        agreement.same_second_ties * 100 < agreement.replayed,
        "{agreement:?}"
    );
    assert!(agreement.max_abs_diff <= 1e-9, "{agreement:?}");
    assert_eq!(agreement.decision_mismatches, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_drift_window_flags_drifted_traffic_and_not_unshifted_traffic() {
    use fraud_detector::replay;
    use fraud_detector::simulate::{date_to_epoch_ms, simulate};
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry(dir.path());
    let spec = fraud_detector::features::FeatureSpec::default();
    // As in the monitoring test: a fresh 60-day world to 2018-08-13, drifted from 2018-08-01.
    let start = "2018-06-15";
    let end = date_to_epoch_ms("2018-08-14").expect("date");
    let mut verdicts = Vec::new();
    for drifted in [false, true] {
        let mut world = fraud_detector::config::SimulationConfig {
            seed: 7,
            start_date: start.into(),
            n_days: 60,
            ..small_simulation()
        };
        if drifted {
            world.drift.from_day = Some(47);
            world.drift.amount_factor = 1.5;
            world.drift.activity_factor = 1.5;
        }
        let (transactions, _) = simulate(&world).expect("simulate");
        let plan = replay::plan(
            &transactions,
            end - 7 * 86_400_000,
            end,
            spec.history_days(),
        )
        .expect("plan");
        let config = config_with(|s| {
            s.drift_window = 20_000;
            s.drift_min = 1_000;
        });
        let (addr, state) = start_with(registry.clone(), config).await;
        state.warm_up(&plan.history).expect("warm up");
        let (_, before) = http(addr, "GET", "/v1/fraud/drift", None, b"").await;
        let before: serde_json::Value = serde_json::from_str(&before).expect("json");
        assert!(
            before["report"].is_null(),
            "no verdict on an empty window: {before}"
        );
        for chunk in plan.live.chunks(100) {
            let body = serde_json::json!({"transactions": chunk.iter().map(|tx| serde_json::json!({
                "transaction_id": tx.transaction_id,
                "tx_datetime": chrono::DateTime::from_timestamp_millis(tx.datetime_ms)
                    .expect("time").format("%Y-%m-%d %H:%M:%S").to_string(),
                "customer_id": tx.customer_id,
                "terminal_id": tx.terminal_id,
                "tx_amount": tx.amount,
            })).collect::<Vec<_>>()});
            let (status, text) = post_json(addr, "/v1/fraud/score/batch", &body.to_string()).await;
            assert_eq!(status, 200, "{text}");
        }
        let (_, after) = http(addr, "GET", "/v1/fraud/drift", None, b"").await;
        let after: serde_json::Value = serde_json::from_str(&after).expect("json");
        assert_eq!(after["window"].as_u64(), Some(plan.live.len() as u64));
        let (_, metrics) = http(addr, "GET", "/metrics", None, b"").await;
        assert!(metrics.contains("mlsd_fraud_drift_share "), "{metrics}");
        println!(
            "drifted={drifted}: share {}, dataset drift {}",
            after["report"]["drift_share"], after["report"]["dataset_drift"]
        );
        verdicts.push(after["report"]["dataset_drift"].as_bool());
    }
    assert_eq!(verdicts, [Some(false), Some(true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_503_and_the_server_recovers() {
    use mlsd_core::serve::MicroBatchConfig;
    let dir = tempfile::tempdir().expect("tempdir");
    // Two permits, and a micro-batcher that holds requests for 2 s: two requests fill the
    // server, deterministically.
    let config = config_with(|s| {
        s.max_in_flight = 2;
        s.micro_batch = Some(MicroBatchConfig {
            max_batch: 64,
            max_wait: Duration::from_secs(2),
            queue_depth: 64,
        });
    });
    let (addr, _) = start_with(registry(dir.path()), config).await;
    let held: Vec<_> = (0..2)
        .map(|i| {
            tokio::spawn(async move { post_json(addr, "/v1/fraud/score", &payment(i, "5")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = post_json(addr, "/v1/fraud/score", &payment(9, "5")).await;
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(v["error"]["code"], "overloaded");
    for h in held {
        let (status, body) = h.await.expect("task");
        assert_eq!(status, 200, "{body}");
    }
    // Load gone: served again.
    assert_eq!(
        post_json(addr, "/v1/fraud/score", &payment(10, "5"))
            .await
            .0,
        200
    );
}

/// A batch of payments `from..from + n`.
fn batch(from: i64, n: i64) -> String {
    let payments: Vec<String> = (from..from + n).map(|i| payment(i, "5")).collect();
    format!(r#"{{"transactions": [{}]}}"#, payments.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_admitted_by_their_rows_not_as_one_request_each() {
    use mlsd_core::accelerator::ModelCost;
    let dir = tempfile::tempdir().expect("tempdir");
    // A budget of 10 rows, and a model call that holds a batch's rows for a second.
    let config = config_with(|s| {
        s.max_rows_in_flight = 10;
        s.simulated_model = Some(ModelCost {
            per_call: Duration::from_secs(1),
            per_row: Duration::ZERO,
        });
    });
    let (addr, _) = start_with(registry(dir.path()), config).await;
    let held =
        tokio::spawn(async move { post_json(addr, "/v1/fraud/score/batch", &batch(0, 6)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // 6 + 6 rows would pass the budget: shed at once, before any work.
    let (status, body) = post_json(addr, "/v1/fraud/score/batch", &batch(100, 6)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("rows in flight"), "{body}");
    // 6 + 4 fit.
    let (status, body) = post_json(addr, "/v1/fraud/score/batch", &batch(200, 4)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = held.await.expect("task");
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    assert!(
        metrics.contains("mlsd_fraud_rows_shed_total 6"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queueing_delay_over_the_limit_sheds_new_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A limit no runtime can meet: every probe measures more than 1 ns.
    let config = config_with(|s| s.max_queue_delay = Some(Duration::from_nanos(1)));
    let (addr, _) = start_with(registry(dir.path()), config).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // a few probes
    let (status, body) = post_json(addr, "/v1/fraud/score", &payment(1, "5")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("queueing delay"), "{body}");
}
