//! The maintenance API's own routes: readings into the online state, every kind of bad
//! reading refused with a JSON 4xx and counted, the NDJSON stream, events and late truth.

use mlsd_core::registry::Registry;
use serde_json::{json, Value};

use crate::common::http;

async fn start(dir: &std::path::Path) -> mlsd_core::serve::Running {
    let registry = Registry::open(dir);
    super::trained(&registry);
    let state = maintenance::serve::state(registry, maintenance::serve::ServeConfig::default())
        .expect("state");
    mlsd_core::serve::Running::start(
        "127.0.0.1:0".parse().expect("addr"),
        maintenance::serve::router(state),
    )
    .await
    .expect("start")
}

async fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = http(
        addr,
        "POST",
        path,
        Some("application/json"),
        body.as_bytes(),
    )
    .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

fn reading(machine: u32, cycle: u32, v: f64) -> Value {
    json!({ "machine_id": machine, "cycle": cycle, "values": [1.0, 55.0 + v, 2.0, 4.5, 30.0, null, 45.0, 21.0] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_readings_of_every_kind_get_a_json_4xx_and_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let addr = server.addr;
    let ok = json!({ "readings": [reading(1, 1, 0.0), reading(1, 2, 0.5), reading(2, 1, 0.0)] });
    let (s, body) = post(addr, "/v1/maintenance/readings", &ok.to_string()).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["assessments"].as_array().map(Vec::len), Some(3));
    assert!(body["assessments"][0]["rul"]
        .as_f64()
        .is_some_and(|r| (0.0..=125.0).contains(&r)));
    let cases: Vec<(String, u16, &str)> = vec![
        (
            json!({ "readings": [reading(999_999, 1, 0.0)] }).to_string(),
            404,
            "unknown_machine",
        ),
        (
            json!({ "readings": [reading(1, 2, 0.0)] }).to_string(),
            422,
            "out_of_order_cycle",
        ),
        (
            json!({ "readings": [reading(1, 3, 1e9)] }).to_string(),
            422,
            "impossible_value",
        ),
        (
            json!({ "readings": [{ "machine_id": 1, "cycle": 3, "values": [1.0] }] }).to_string(),
            422,
            "wrong_sensor_count",
        ),
        (
            r#"{"readings": [{"machine_id": 1, "cycle": 3, "values": [NaN,1,1,1,1,1,1,1]}]}"#
                .to_string(),
            400,
            "malformed_json",
        ),
        (
            json!({ "readings": [] }).to_string(),
            422,
            "invalid_batch_size",
        ),
        (
            json!({ "readings": [{ "machine_id": 1, "cycle": 0.5, "values": [] }] }).to_string(),
            422,
            "",
        ),
    ];
    for (body, status, code) in cases {
        let (s, answer) = post(addr, "/v1/maintenance/readings", &body).await;
        assert_eq!(s, status, "{body} → {answer}");
        if !code.is_empty() {
            assert_eq!(answer["error"]["code"], code, "{body}");
        }
    }
    // A refused reading changed nothing: machine 1 is still at cycle 2.
    let (s, m) = http(addr, "GET", "/v1/maintenance/machines/1", None, b"").await;
    let m: Value = serde_json::from_str(&m).expect("json");
    assert_eq!(
        (s, m["latest"]["cycle"].as_u64(), m["readings"].as_u64()),
        (200, Some(2), Some(2))
    );
    for (path, status) in [
        ("/v1/maintenance/machines/999999", 404),
        ("/v1/maintenance/machines/x", 400),
    ] {
        assert_eq!(http(addr, "GET", path, None, b"").await.0, status, "{path}");
    }
    let (_, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    for code in [
        "unknown_machine",
        "out_of_order_cycle",
        "impossible_value",
        "wrong_sensor_count",
    ] {
        assert!(
            metrics.contains(&format!("mlsd_maintenance_refused_{code}_total 1"))
                || metrics.contains(&format!("mlsd_maintenance_refused_{code}_total 2")),
            "{code} not counted"
        );
    }
    server.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_counts_bad_lines_and_a_failure_scores_the_life_it_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let addr = server.addr;
    let mut lines: Vec<String> = (1..=40)
        .map(|c| reading(3, c, f64::from(c) * 0.1).to_string())
        .collect();
    lines.push("{not json".into());
    lines.push(reading(3, 5, 0.0).to_string()); // out of order
    lines.push(reading(424_242, 1, 0.0).to_string()); // unknown machine
    let body = lines.join("\n");
    let (s, text) = http(
        addr,
        "POST",
        "/v1/maintenance/readings/stream",
        Some("application/x-ndjson"),
        body.as_bytes(),
    )
    .await;
    let summary: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(s, 200, "{text}");
    assert_eq!(summary["accepted"], 40);
    assert_eq!(
        summary["rejected"],
        json!({ "malformed_json": 1, "out_of_order_cycle": 1, "unknown_machine": 1 })
    );
    let (s, e) = post(
        addr,
        "/v1/maintenance/machines/3/events",
        r#"{"kind": "failure", "cycle": 41}"#,
    )
    .await;
    assert_eq!(
        (s, e["scored"].as_u64(), e["censored"].as_u64()),
        (200, Some(40), Some(0))
    );
    // A new life: cycle 1 is accepted again.
    let (s, _) = post(
        addr,
        "/v1/maintenance/readings",
        &json!({ "readings": [reading(3, 1, 0.0)] }).to_string(),
    )
    .await;
    assert_eq!(s, 200);
    let (s, e) = post(
        addr,
        "/v1/maintenance/machines/3/events",
        r#"{"kind": "service", "cycle": 2}"#,
    )
    .await;
    assert_eq!(
        (s, e["scored"].as_u64(), e["censored"].as_u64()),
        (200, Some(0), Some(1))
    );
    let (s, _) = post(
        addr,
        "/v1/maintenance/machines/3/events",
        r#"{"kind": "explode", "cycle": 2}"#,
    )
    .await;
    assert_eq!(s, 422);
    server.stop().await.expect("stop");
}
