//! The fraud scoring API over real HTTP on 127.0.0.1:0: answers, every kind of bad input
//! (4xx with a JSON body, never a 500), metrics, and promote/rollback without a restart.

use std::net::SocketAddr;
use std::time::Duration;

use fraud_detector::batch::DecisionThresholds;
use fraud_detector::ingest::IngestConfig;
use fraud_detector::serve::{self, ServeConfig};
use fraud_detector::train::ModelKind;
use mlsd_core::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{fit_and_register, small_simulation};

/// A registry with two versions (logistic regression, promoted; a depth-2 tree, not).
fn registry(dir: &std::path::Path) -> Registry {
    let registry = Registry::open(dir);
    let (first, _) = fit_and_register(&registry, ModelKind::LogisticRegression);
    registry.promote("fraud", &first.version).expect("promote");
    fit_and_register(&registry, ModelKind::DecisionTreeDepth2);
    registry
}

async fn start(registry: Registry) -> SocketAddr {
    let config = ServeConfig {
        thresholds: DecisionThresholds::default(),
        body_limit: 64 * 1024,
        max_in_flight: 256,
        timeout: Duration::from_secs(5),
        max_batch: 100,
        watch_every: Duration::from_millis(100),
        limits: IngestConfig::for_simulation(&small_simulation()).expect("limits"),
    };
    let state = serve::state(registry, config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    serve::watch_registry(state.clone());
    tokio::spawn(mlsd_core::serve::serve(
        listener,
        serve::router(state),
        std::future::pending(),
    ));
    addr
}

/// A minimal HTTP/1.1 client: one request per connection; returns (status, body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    http(
        addr,
        "POST",
        path,
        Some("application/json"),
        body.as_bytes(),
    )
    .await
}

fn payment(id: i64, amount: &str) -> String {
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
        (422, true),
        "{text}"
    );
    let (status, text) = http(addr, "GET", "/nope", None, b"").await;
    assert_eq!((status, text.contains("not_found")), (404, true), "{text}");
    let (status, text) = post_json(addr, "/admin/models/v0042/promote", "").await;
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
    assert_eq!(
        post_json(addr, "/admin/models/v0002/promote", "").await.0,
        200
    );
    assert_eq!(
        version(post_json(addr, "/v1/fraud/score", &payment(2, "9")).await.1),
        "v0002"
    );
    assert_eq!(post_json(addr, "/admin/models/rollback", "").await.0, 200);
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
