//! The machines' state replicated by a log in Redis: readings posted to one replica and then
//! to another continue one machine's life (the second knows the first's cycles), both assess
//! it alike, an out-of-order reading is refused on either, a stream's lines are applied by
//! every replica, and a replica started later replays the log. A dead Redis refuses writes
//! with 503. Needs `MLSD_REDIS_URL` (`.ci/run` starts a Redis); SKIPPED without it, except
//! the dead-Redis test.

use std::net::SocketAddr;
use std::time::Duration;

use mlsd_core::online_state::{delete_prefix, test_url, unique_prefix, RedisState, StateBackend};
use mlsd_core::registry::Registry;
use serde_json::{json, Value};

use crate::common::{caught_up, http, redis_backend};

async fn start(registry: &Registry, state: StateBackend) -> mlsd_core::serve::Running {
    let config = maintenance::serve::ServeConfig {
        state,
        ..maintenance::serve::ServeConfig::default()
    };
    let state = maintenance::serve::state(registry.clone(), config).expect("state");
    mlsd_core::serve::Running::start(
        "127.0.0.1:0".parse().expect("addr"),
        maintenance::serve::router(state),
    )
    .await
    .expect("start")
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let kind = if path.ends_with("/stream") {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let (status, text) = http(addr, method, path, Some(kind), body.as_bytes()).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, value)
}

fn reading(machine: u32, cycle: u32) -> Value {
    let v = f64::from(cycle) * 0.05;
    json!({ "machine_id": machine, "cycle": cycle, "values": [1.0, 55.0 + v, 2.0, 4.5, 30.0, null, 45.0, 21.0] })
}

fn readings(machine: u32, cycles: std::ops::RangeInclusive<u32>) -> String {
    let list: Vec<Value> = cycles.map(|c| reading(machine, c)).collect();
    json!({ "readings": list }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_read_on_one_replica_continues_on_another_and_a_late_one_replays_it() {
    let Some(url) = test_url("maintenance replicated log") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    super::trained(&registry);
    let prefix = unique_prefix("maintenance-log");
    let a = start(&registry, redis_backend(&url, &prefix)).await;
    let b = start(&registry, redis_backend(&url, &prefix)).await;
    let (s, body) = call(
        a.addr,
        "POST",
        "/v1/maintenance/readings",
        &readings(3, 1..=40),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, ready_a) = call(a.addr, "GET", "/ready", "").await;
    caught_up(b.addr, &ready_a["log_position"]).await;
    // b knows a's 40 cycles: 41.. continue the life, 40 is out of order on b too.
    let (s, body) = call(
        b.addr,
        "POST",
        "/v1/maintenance/readings",
        &readings(3, 41..=45),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, refused) = call(
        b.addr,
        "POST",
        "/v1/maintenance/readings",
        &readings(3, 40..=40),
    )
    .await;
    assert_eq!(
        (s, &refused["error"]["code"]),
        (422, &json!("out_of_order_cycle")),
        "{refused}"
    );
    // A stream of 20 lines for machine 4 and one bad line, on b.
    let mut ndjson: String = (1..=20).map(|c| format!("{}\n", reading(4, c))).collect();
    ndjson.push_str("{not json\n");
    let (s, summary) = call(b.addr, "POST", "/v1/maintenance/readings/stream", &ndjson).await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(summary["accepted"], 20, "{summary}");
    assert_eq!(summary["rejected"]["malformed_json"], 1, "{summary}");
    let (_, ready_b) = call(b.addr, "GET", "/ready", "").await;
    caught_up(a.addr, &ready_b["log_position"]).await;
    for machine in [3, 4] {
        let path = format!("/v1/maintenance/machines/{machine}");
        let (_, on_a) = call(a.addr, "GET", &path, "").await;
        let (_, on_b) = call(b.addr, "GET", &path, "").await;
        assert_eq!(on_a, on_b, "machine {machine}");
    }
    // A replica started now replays the log to the same machines.
    let late = start(&registry, redis_backend(&url, &prefix)).await;
    caught_up(late.addr, &ready_b["log_position"]).await;
    let (_, on_late) = call(late.addr, "GET", "/v1/maintenance/machines/3", "").await;
    let (_, on_a) = call(a.addr, "GET", "/v1/maintenance/machines/3", "").await;
    assert_eq!(on_late, on_a);
    assert_eq!(on_late["latest"]["cycle"], 45, "{on_late}");
    let state = RedisState::open(&url, Duration::from_secs(1), Vec::new()).expect("redis");
    let _ = delete_prefix(&state, &prefix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_refuses_readings_with_503() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    super::trained(&registry);
    // Nothing listens on port 1; no Redis needed.
    let server = start(&registry, redis_backend("redis://127.0.0.1:1", "dead")).await;
    let (s, body) = call(
        server.addr,
        "POST",
        "/v1/maintenance/readings",
        &readings(3, 1..=2),
    )
    .await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (503, &json!("state_unavailable")),
        "{body}"
    );
    let (s, body) = call(
        server.addr,
        "POST",
        "/v1/maintenance/readings/stream",
        &format!("{}\n", reading(3, 1)),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["rejected"]["state_unavailable"], 1, "{body}");
}
