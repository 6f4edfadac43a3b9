//! The recommender API over real HTTP on 127.0.0.1:0: batch and real-time lists, fresh events
//! changing the real-time answer (and not the batch one), the cache and its hit rate, cold
//! start, every kind of bad input, shedding, drift.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use mlsd_core::registry::Registry;
use recommender::serve::{self, AppState, ServeConfig};
use recommender::shop::Shop;
use serde_json::Value;

use crate::common::{http, post_json};
use crate::recommender::shop::small_world;

/// The small shop's world, fitted and registered once per test binary (the servers only read
/// the registry); the shop is kept for building requests.
pub fn registered_small_world() -> &'static (tempfile::TempDir, Registry, Shop) {
    static WORLD: OnceLock<(tempfile::TempDir, Registry, Shop)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(dir.path());
        let w = small_world();
        let config = recommender::config::RecommenderConfig {
            shop: crate::recommender::shop::small_shop(),
            ..Default::default()
        };
        let manifest = recommender::artifact::register(&registry, &w, &config).expect("register");
        registry
            .promote(recommender::DESIGN, &manifest.version)
            .expect("promote");
        (dir, registry, w.shop)
    })
}

/// The small shop's model behind a server; returns the shop for building requests.
pub(super) async fn start(config: ServeConfig) -> (SocketAddr, Arc<AppState>, Shop) {
    let (_, registry, shop) = registered_small_world();
    let state = serve::state(registry.clone(), config).expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(mlsd_core::serve::serve(
        listener,
        serve::router(state.clone()),
        mlsd_core::serve::IDLE_TIMEOUT,
        std::future::pending(),
    ));
    (addr, state, shop.clone())
}

pub(super) async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, None, b"").await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, value)
}

pub(super) fn items(v: &Value) -> Vec<u64> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["item"].as_u64().expect("item id"))
        .collect()
}

pub(super) fn event(user: u32, item: u32, kind: &str) -> String {
    format!(r#"{{"user_id": {user}, "item_id": {item}, "kind": "{kind}"}}"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_events_change_the_real_time_list_and_not_the_batch_one() {
    let (addr, state, shop) = start(ServeConfig::default()).await;
    let serving = state.serving();
    let model = &serving.model.model;
    let user = 11u32;
    let path =
        |mode: &str| format!("/v1/recommender/users/{user}/recommendations?k=10&mode={mode}");
    let (s, batch_before) = get_json(addr, &path("batch")).await;
    assert_eq!(
        (s, batch_before["source"].as_str()),
        (200, Some("snapshot"))
    );
    let (_, live_before) = get_json(addr, &path("realtime")).await;
    assert_eq!(live_before["source"], "realtime");
    let (_, cached) = get_json(addr, &path("realtime")).await;
    assert_eq!(cached["source"], "cache");
    assert_eq!(items(&cached), items(&live_before));

    // A burst of interest in one category the list does not lead with.
    let shown: HashSet<u64> = items(&live_before).into_iter().collect();
    let leading = live_before["items"][0]["category"]
        .as_u64()
        .expect("category");
    let target = (0..shop.config.categories as u16)
        .find(|&c| u64::from(c) != leading)
        .expect("another category");
    let browsed: Vec<u32> = model
        .popular(&model.state(user), 400)
        .into_iter()
        .filter(|&i| shop.products[i as usize].category == target && !shown.contains(&u64::from(i)))
        .take(5)
        .collect();
    assert_eq!(browsed.len(), 5);
    for (n, &item) in browsed.iter().enumerate() {
        let kind = if n == 4 { "cart" } else { "view" };
        let (s, body) = post_json(addr, "/v1/recommender/events", &event(user, item, kind)).await;
        assert_eq!(s, 202, "{body}");
    }
    let (_, live_after) = get_json(addr, &path("realtime")).await;
    assert_eq!(
        live_after["source"], "realtime",
        "the user's events invalidate the cache"
    );
    let after = items(&live_after);
    assert_ne!(after, items(&live_before));
    for item in &browsed {
        assert!(
            !after.contains(&u64::from(*item)),
            "a browsed item is not recommended again"
        );
    }
    let in_target = |v: &Value| {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["category"].as_u64() == Some(u64::from(target)))
            .count()
    };
    assert!(
        in_target(&live_after) > in_target(&live_before),
        "before {live_before}\nafter {live_after}"
    );
    // The snapshot is stale by design: the same list until the next batch run.
    let (_, batch_after) = get_json(addr, &path("batch")).await;
    assert_eq!(items(&batch_after), items(&batch_before));

    let (hits, misses) = state.cache_counts();
    assert_eq!((hits, misses), (1, 2));
    let (_, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    // Counters by Prometheus' conventions; the hit rate (1 / 3) is their ratio, for PromQL.
    for expected in [
        "# TYPE mlsd_recommender_cache_hits_total counter",
        "mlsd_recommender_cache_hits_total 1",
        "mlsd_recommender_cache_misses_total 2",
    ] {
        assert!(metrics.contains(expected), "{expected} in {metrics}");
    }
    assert!(
        metrics.contains("mlsd_recommender_live_sessions 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_gets_popular_items_then_a_session_of_their_own() {
    let (addr, state, shop) = start(ServeConfig::default()).await;
    let serving = state.serving();
    let model = &serving.model.model;
    let newcomer = 10_000_000u32;
    let path = format!("/v1/recommender/users/{newcomer}/recommendations?k=5&mode=realtime");
    let (s, cold) = get_json(addr, &path).await;
    assert_eq!((s, cold["source"].as_str()), (200, Some("cold_start")));
    let popular: Vec<u64> = model
        .popular(&model.state(newcomer), 5)
        .into_iter()
        .map(u64::from)
        .collect();
    assert_eq!(items(&cold), popular);
    let (_, batch) = get_json(addr, &path.replace("realtime", "batch")).await;
    assert_eq!(batch["source"], "cold_start");
    let item = shop.products[7].id;
    let (s, body) = post_json(
        addr,
        "/v1/recommender/events",
        &event(newcomer, item, "view"),
    )
    .await;
    assert_eq!(
        (s, body.contains("\"session_events\":1")),
        (202, true),
        "{body}"
    );
    let (_, warm) = get_json(addr, &path).await;
    assert_eq!(warm["source"], "realtime");
    assert!(!items(&warm).contains(&u64::from(item)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_users_keeps_the_session_table_within_its_bound() {
    let (addr, _, shop) = start(ServeConfig {
        max_sessions: 50,
        ..ServeConfig::default()
    })
    .await;
    let item = shop.products[3].id;
    for user in 1_000_000..1_000_400u32 {
        let (s, body) = post_json(addr, "/v1/recommender/events", &event(user, item, "view")).await;
        assert_eq!(s, 202, "{body}");
    }
    let (_, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("mlsd_recommender_{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    assert!(value("live_sessions") <= 50.0, "{metrics}");
    // 400 new users into 50 places: at least 350 evicted.
    assert!(value("sessions_evicted_total") >= 350.0, "{metrics}");
    // The latest user keeps their session.
    let path = "/v1/recommender/users/1000399/recommendations?mode=realtime";
    let (_, list) = get_json(addr, path).await;
    assert_eq!(list["source"], "realtime", "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_input_gets_a_4xx_with_a_json_error() {
    let (addr, _, shop) = start(ServeConfig::default()).await;
    let not_on_sale = shop.n_items() as u32 + 5;
    // (method, path, content type, body, status, error code)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/v1/recommender/users/abc/recommendations",
            None,
            String::new(),
            400,
            "invalid_user",
        ),
        (
            "GET",
            "/v1/recommender/users/0/recommendations",
            None,
            String::new(),
            400,
            "invalid_user",
        ),
        (
            "GET",
            "/v1/recommender/users/-3/recommendations",
            None,
            String::new(),
            400,
            "invalid_user",
        ),
        (
            "GET",
            "/v1/recommender/users/1/recommendations?k=0",
            None,
            String::new(),
            422,
            "invalid_k",
        ),
        (
            "GET",
            "/v1/recommender/users/1/recommendations?k=51",
            None,
            String::new(),
            422,
            "invalid_k",
        ),
        (
            "GET",
            "/v1/recommender/users/1/recommendations?k=ten",
            None,
            String::new(),
            422,
            "invalid_k",
        ),
        (
            "GET",
            "/v1/recommender/users/1/recommendations?mode=nightly",
            None,
            String::new(),
            422,
            "invalid_mode",
        ),
        (
            "GET",
            "/v1/recommender/users/1/recommendations?page=2",
            None,
            String::new(),
            422,
            "unknown_parameter",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            "{".into(),
            400,
            "malformed_json",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("text/plain"),
            event(1, 1, "view"),
            415,
            "not_json",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            r#"{"user_id": 1, "item_id": 1}"#.into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            event(1, 1, "like"),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            r#"{"user_id": -1, "item_id": 1, "kind": "view"}"#.into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            r#"{"user_id": 1, "item_id": 1, "kind": "view", "x": 1}"#.into(),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            event(0, 1, "view"),
            422,
            "invalid_user",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            event(1, 0, "view"),
            404,
            "unknown_item",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            event(1, not_on_sale, "view"),
            404,
            "unknown_item",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            format!("[{}]", event(1, 1, "view")),
            422,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/recommender/events",
            Some("application/json"),
            format!(
                r#"{{"user_id": 1, "item_id": 1, "kind": "view", "pad": "{}"}}"#,
                "x".repeat(70_000)
            ),
            413,
            "body_too_large",
        ),
        (
            "GET",
            "/v1/recommender/nothing",
            None,
            String::new(),
            404,
            "not_found",
        ),
    ];
    for (method, path, content_type, body, status, code) in cases {
        let (s, answer) = http(addr, method, path, content_type, body.as_bytes()).await;
        let json: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {answer}"));
        assert_eq!(
            (s, json["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path} {body:.80}: {answer}"
        );
    }
    // Nothing bad reached the state: the valid request still works.
    let (s, _) = http(
        addr,
        "GET",
        "/v1/recommender/users/1/recommendations",
        None,
        b"",
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_openapi_and_shedding_work_as_for_the_fraud_api() {
    let (addr, _, shop) = start(ServeConfig::default()).await;
    let (s, ready) = get_json(addr, "/ready").await;
    assert_eq!(
        (s, ready["snapshot_users"].as_u64()),
        (200, Some(shop.config.users as u64))
    );
    let (_, doc) = get_json(addr, "/openapi.json").await;
    for route in [
        "/health",
        "/ready",
        "/metrics",
        "/v1/recommender/events",
        "/v1/recommender/users/{user_id}/recommendations",
        "/v1/recommender/drift",
    ] {
        assert!(
            doc["paths"].get(route).is_some(),
            "{route} missing from the OpenAPI document"
        );
    }
    for schema in ["EventRequest", "RecommendationsResponse", "ErrorBody"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
    // No permits: every request is shed with a JSON 503, none is half-served.
    let mut no_permits = ServeConfig::default();
    no_permits.server.max_in_flight = 0;
    let (shedding, _, _) = start(no_permits).await;
    let (s, body) = http(
        shedding,
        "GET",
        "/v1/recommender/users/1/recommendations",
        None,
        b"",
    )
    .await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("\"overloaded\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_endpoint_reports_once_enough_events_arrived() {
    let mut config = ServeConfig::default();
    config.server.drift_min = 500;
    let (addr, state, shop) = start(config).await;
    let (_, empty) = get_json(addr, "/v1/recommender/drift").await;
    assert_eq!(
        (empty["window"].as_u64(), empty["report"].is_null()),
        (Some(0), true)
    );
    let mut client = mlsd_core::loadgen::Client::connect(addr)
        .await
        .expect("client");
    let mut sent = 0;
    let serving = state.serving();
    let model = &serving.model.model;
    for e in shop
        .between(model.now, i64::MAX)
        .iter()
        .filter(|e| model.is_on_sale(e.item))
        .take(600)
    {
        let kind = recommender::shop::EventKind::from_weight(e.rating).expect("kind");
        let body = serde_json::json!({"user_id": e.user, "item_id": e.item, "kind": kind, "timestamp": e.timestamp});
        let r = client
            .request(
                "POST",
                "/v1/recommender/events",
                Some(body.to_string().as_bytes()),
            )
            .await
            .expect("post");
        assert_eq!(r.status, 202, "{}", r.text());
        sent += 1;
    }
    let (_, report) = get_json(addr, "/v1/recommender/drift").await;
    assert_eq!(report["window"].as_u64(), Some(sent));
    assert!(
        report["report"]["item_popularity"]["distance"]
            .as_f64()
            .expect("distance")
            > 0.0
    );
    let (_, metrics) = http(addr, "GET", "/metrics", None, b"").await;
    assert!(
        metrics.contains("mlsd_recommender_item_popularity_js"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_serve_can_target_a_running_server_by_url() {
    let (addr, state, _) = start(ServeConfig::default()).await;
    // The quick bench's shop is the small shop this server runs, so its users exist here.
    let url = format!("http://{addr}");
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = [
            "bench",
            "serve",
            "--design",
            "recommender",
            "--quick",
            "--json",
            "--url",
            &url,
        ];
        crate::common::mlsd(&args, dir.path())
    })
    .await
    .expect("bench task");
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    let modes: Vec<&str> = report["modes"]
        .as_array()
        .expect("modes")
        .iter()
        .filter_map(|m| m["mode"].as_str())
        .collect();
    assert_eq!(modes, ["batch", "realtime"]);
    assert!(report["cache_hit_rate"].is_null());
    let served = report["modes"][1]["reference"]["ok"].as_u64().expect("ok");
    assert!(served > 0);
    // The traffic reached this server: its real-time lists were computed or cached here.
    let (hits, misses) = state.cache_counts();
    assert!(hits + misses >= served, "{hits} + {misses} < {served}");
    // Anything but loopback is refused before a request is sent.
    let stderr = bench_refused(&["--url", "http://10.1.2.3:80"]).await;
    assert!(stderr.contains("only targets loopback"), "{stderr}");
    // A running server has its own model: a simulated cost cannot be put in front of it.
    let stderr = bench_refused(&["--sim-call-us", "500", "--url", &format!("http://{addr}")]).await;
    assert!(stderr.contains("--sim-call-us"), "{stderr}");
}

/// `mlsd bench serve --design recommender --quick <extra>`, which must fail: its stderr.
async fn bench_refused(extra: &[&str]) -> String {
    let args: Vec<String> = ["bench", "serve", "--design", "recommender", "--quick"]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect();
    let (ok, _, stderr) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("tempdir");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::common::mlsd(&args, dir.path())
    })
    .await
    .expect("task");
    assert!(!ok, "the bench ran: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micro_batched_real_time_lists_equal_the_unbatched_ones() {
    let plain = ServeConfig {
        cache_ttl: std::time::Duration::ZERO,
        ..ServeConfig::default()
    };
    let mut batched = plain.clone();
    batched.server.micro_batch = Some(mlsd_core::serve::MicroBatchConfig::default());
    let (one_by_one, _, _) = start(plain).await;
    let (in_batches, _, _) = start(batched).await;
    // Concurrent requests, so the batcher really groups some of them.
    let calls: Vec<_> = (1..=24u32)
        .map(|user| {
            tokio::spawn(async move {
                let path =
                    format!("/v1/recommender/users/{user}/recommendations?k=10&mode=realtime");
                let (s, batched) = get_json(in_batches, &path).await;
                assert_eq!(s, 200, "{batched}");
                let (_, alone) = get_json(one_by_one, &path).await;
                (batched, alone)
            })
        })
        .collect();
    for call in calls {
        let (batched, alone) = call.await.expect("task");
        assert_eq!(batched["source"], alone["source"]);
        assert_eq!(items(&batched), items(&alone));
        assert!(!items(&batched).is_empty(), "{batched}");
    }
    let (_, metrics) = http(in_batches, "GET", "/metrics", None, b"").await;
    assert!(
        metrics.contains("mlsd_recommender_micro_batch_size_count"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_batch_run_of_the_serving_version_replaces_the_snapshot_and_another_is_refused() {
    let (addr, state, _) = start(ServeConfig::default()).await;
    let serving = state.serving();
    let model = &serving.model.model;
    // A batch run with k = 5 (the registered one has 50), so the swap is visible.
    let mut rerun = recommender::batch::precompute(model, 5, 2).expect("batch job");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snapshot.json");
    rerun.model_version = "v0002".into();
    rerun.write(&path).expect("write");
    let refused = state
        .load_snapshot(&path)
        .expect_err("another version's lists");
    assert!(refused.to_string().contains("v0002"), "{refused}");
    rerun.model_version = serving.version.clone();
    rerun.write(&path).expect("write");
    state
        .load_snapshot(&path)
        .expect("the serving version's lists");
    let user = (1..rerun.lists.len())
        .find(|&u| rerun.lists[u].len() == 5)
        .expect("a user with history");
    let path = format!("/v1/recommender/users/{user}/recommendations?k=10&mode=batch");
    let (_, list) = get_json(addr, &path).await;
    assert_eq!(list["source"], "snapshot", "{list}");
    assert_eq!(
        items(&list).len(),
        5,
        "the newer run's lists hold 5: {list}"
    );
    assert_eq!(list["model_version"], serving.version.as_str());
}
