//! The news-feed API's own routes: a fresh article and a user's engagement change the next
//! feed; the cache answers only until the user's own events; bad input gets a JSON 4xx.

use mlsd_core::registry::Registry;
use serde_json::{json, Value};

use crate::common::http;

async fn start(dir: &std::path::Path) -> mlsd_core::serve::Running {
    let registry = Registry::open(dir);
    let cfg = super::quick_training();
    newsfeed::pipeline::train_and_register(&registry, &cfg, true).expect("train");
    let state =
        newsfeed::serve::state(registry, newsfeed::serve::ServeConfig::default()).expect("state");
    mlsd_core::serve::Running::start(
        "127.0.0.1:0".parse().expect("addr"),
        newsfeed::serve::router(state),
    )
    .await
    .expect("start")
}

async fn call(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = http(
        addr,
        method,
        path,
        Some("application/json"),
        body.as_bytes(),
    )
    .await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}")),
    )
}

pub(super) fn ids(feed: &Value) -> Vec<u64> {
    feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["article_id"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_articles_and_engagement_change_the_next_feed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let addr = server.addr;
    let (s, first) = call(addr, "GET", "/v1/newsfeed/users/7/feed?k=20", "").await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["source"], "realtime");
    assert_eq!(ids(&first).len(), 20);
    assert!(first["model_version"]
        .as_str()
        .is_some_and(|v| v.starts_with('v')));
    let (_, again) = call(addr, "GET", "/v1/newsfeed/users/7/feed?k=20", "").await;
    assert_eq!(again["source"], "cache");
    assert_eq!(ids(&again), ids(&first));

    // The user reads three articles of the feed's first topic.
    let topic = first["items"][0]["topic"].as_u64().expect("topic");
    let events: Vec<Value> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["topic"].as_u64() == Some(topic))
        .take(3)
        .map(|i| json!({ "user_id": 7, "article_id": i["article_id"], "kind": "click", "position": i["position"], "dwell_seconds": 60.0 }))
        .collect();
    let (s, body) = call(
        addr,
        "POST",
        "/v1/newsfeed/events",
        &json!({ "events": events }).to_string(),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["users"], 1);
    let (_, after_events) = call(addr, "GET", "/v1/newsfeed/users/7/feed?k=20", "").await;
    assert_eq!(
        after_events["source"], "realtime",
        "the user's events dropped their cached feed"
    );
    assert_ne!(
        ids(&after_events),
        ids(&first),
        "engagement changes the next feed"
    );

    // Fresh articles on that topic are candidates at once and reach the page.
    let articles: Vec<Value> = (0..3)
        .map(|p| json!({ "topic": topic, "publisher": 9_000 + p }))
        .collect();
    let (s, body) = call(
        addr,
        "POST",
        "/v1/newsfeed/articles",
        &json!({ "articles": articles }).to_string(),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let new: Vec<u64> = body["article_ids"]
        .as_array()
        .expect("ids")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(new.len(), 3);
    let (_, fresh) = call(addr, "GET", "/v1/newsfeed/users/7/feed?k=20", "").await;
    assert_eq!(fresh["source"], "realtime");
    assert_eq!(
        fresh["funnel"]["alive"].as_u64(),
        after_events["funnel"]["alive"].as_u64().map(|a| a + 3)
    );
    assert!(ids(&fresh).iter().any(|i| new.contains(i)), "{fresh}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_a_json_4xx_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let addr = server.addr;
    let (_, before) = call(addr, "GET", "/ready", "").await;
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        ("GET", "/v1/newsfeed/users/abc/feed", String::new(), 400, "invalid_user"),
        ("GET", "/v1/newsfeed/users/1/feed?k=0", String::new(), 422, "invalid_k"),
        ("GET", "/v1/newsfeed/users/1/feed?k=51", String::new(), 422, "invalid_k"),
        ("GET", "/v1/newsfeed/users/1/feed?page=2", String::new(), 422, "unknown_parameter"),
        (
            "POST",
            "/v1/newsfeed/events",
            json!({ "events": [{ "user_id": 1, "article_id": 0, "kind": "click" }, { "user_id": 1, "article_id": 99_999_999, "kind": "click" }] }).to_string(),
            404,
            "unknown_article",
        ),
        (
            "POST",
            "/v1/newsfeed/events",
            json!({ "events": [{ "user_id": 1, "article_id": 0, "kind": "click", "dwell_seconds": -5.0 }] }).to_string(),
            422,
            "invalid_dwell",
        ),
        (
            "POST",
            "/v1/newsfeed/events",
            json!({ "events": [{ "user_id": 1, "article_id": 0, "kind": "like" }] }).to_string(),
            422,
            "",
        ),
        (
            "POST",
            "/v1/newsfeed/articles",
            json!({ "articles": [{ "topic": 999, "publisher": 1 }] }).to_string(),
            422,
            "unknown_topic",
        ),
        (
            "POST",
            "/v1/newsfeed/articles",
            json!({ "articles": [{ "topic": 1, "publisher": 1, "colour": "red" }] }).to_string(),
            422,
            "",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (s, answer) = call(addr, method, path, &body).await;
        assert_eq!(s, status, "{method} {path} {body}: {answer}");
        if !code.is_empty() {
            assert_eq!(answer["error"]["code"], code, "{answer}");
        }
    }
    let (_, after) = call(addr, "GET", "/ready", "").await;
    assert_eq!(
        before["articles"], after["articles"],
        "a refused call publishes nothing"
    );
    assert_eq!(before["now"], after["now"], "a refused call moves no clock");
}
