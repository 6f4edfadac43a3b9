//! Sessions in Redis: the Redis store folds exactly the in-memory store's states, two replicas
//! on one Redis answer a user alike, a dead Redis sheds the session paths with 503 (the batch
//! path still answers), and a consumer killed between recording events and acknowledging them
//! loses none and counts none twice. Needs `MLSD_REDIS_URL` (`.ci/run` starts a Redis); each
//! test says SKIPPED without it, except the dead-Redis one.

use std::collections::HashMap;
use std::time::Duration;

use mlsd_core::events::EventLog;
use mlsd_core::online_state::{delete_prefix, test_url, unique_prefix};
use recommender::artifact::RecommenderServed;
use recommender::serve::ServeConfig;
use recommender::sessions::{InMemorySessions, RedisSessions, SessionStore, ShopEvent};
use recommender::shop::EventKind;
use recommender::stream::{apply, apply_batch, keyed};
use serde_json::Value;

use super::api::{event, get_json, items, registered_small_world, start};
use crate::common::{http, post_json, redis_backend};

const BUDGET: Duration = Duration::from_millis(500);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Deletes the sessions' keys when the test ends (passing or not).
struct Cleanup<'a>(&'a RedisSessions);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = delete_prefix(self.0.redis(), self.0.prefix());
    }
}

fn serving() -> mlsd_core::design::Versioned<RecommenderServed> {
    let (_, registry, _) = registered_small_world();
    mlsd_core::design::load::<RecommenderServed>(registry, None).expect("current version")
}

/// The small shop's events after the model's cutoff on products on sale, with ids `e<n>`.
fn fresh_events(n: usize) -> Vec<ShopEvent> {
    let (_, _, shop) = registered_small_world();
    let served = serving();
    let model = &served.model.model;
    shop.events
        .iter()
        .filter(|e| e.timestamp >= model.now && model.is_on_sale(e.item))
        .take(n)
        .enumerate()
        .map(|(i, e)| ShopEvent {
            event_id: Some(format!("e{i}")),
            user_id: e.user,
            item_id: e.item,
            kind: EventKind::from_weight(e.rating).unwrap_or(EventKind::View),
        })
        .collect()
}

#[test]
fn redis_sessions_fold_to_exactly_the_in_memory_states_with_retries_counted_once() {
    let Some(url) = test_url("recommender redis parity") else {
        return;
    };
    let served = serving();
    let (model, version) = (&served.model.model, served.version.as_str());
    let redis = RedisSessions::open(&url, &unique_prefix("rec-parity"), DAY, BUDGET).expect("open");
    let _cleanup = Cleanup(&redis);
    let memory = InMemorySessions::new(100_000);
    let events = fresh_events(3_000);
    assert!(events.len() >= 1_000, "{} fresh events", events.len());
    let mut duplicates = 0;
    for (i, e) in events.iter().enumerate() {
        // One in ten is sent again (a client's retry): recorded once in both.
        let sends = if i % 10 == 0 { 2 } else { 1 };
        for _ in 0..sends {
            let r = redis.record(model, version, e).expect("redis record");
            let m = memory.record(model, version, e).expect("memory record");
            assert_eq!(r, m, "event {i}");
            duplicates += usize::from(r.duplicate);
        }
    }
    assert_eq!(duplicates, events.len().div_ceil(10));
    let mut users: Vec<u32> = events.iter().map(|e| e.user_id).collect();
    users.sort_unstable();
    users.dedup();
    for &user in &users {
        let (r, m) = (
            redis.state(model, version, user).expect("redis state"),
            memory.state(model, version, user).expect("memory state"),
        );
        // Bit for bit: the same events folded by the same function.
        assert_eq!(r, m, "user {user}");
    }
    println!(
        "recommender redis parity: {} events ({duplicates} retries) over {} users, identical states",
        events.len(),
        users.len()
    );
}

fn redis_config(url: &str, prefix: &str) -> ServeConfig {
    ServeConfig {
        // No cache: every real-time list is computed from the session now.
        cache_ttl: Duration::ZERO,
        state: redis_backend(url, prefix),
        ..ServeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_answer_a_user_alike_and_a_lone_replica_does_not() {
    let Some(url) = test_url("recommender redis replicas") else {
        return;
    };
    let prefix = unique_prefix("rec-replicas");
    let (a, state_a, shop) = start(redis_config(&url, &prefix)).await;
    let (b, _, _) = start(redis_config(&url, &prefix)).await;
    let (lone, _, _) = start(ServeConfig {
        cache_ttl: Duration::ZERO,
        ..ServeConfig::default()
    })
    .await;
    let user = 3u32;
    let path = format!("/v1/recommender/users/{user}/recommendations?mode=realtime");
    let (_, before) = get_json(b, &path).await;
    // A burst of views in one category, on replica a only.
    let category = shop.products[5].category;
    let browsed: Vec<u32> = shop
        .products
        .iter()
        .skip(1)
        .filter(|p| p.category == category && p.added_day == 0)
        .take(6)
        .map(|p| p.id)
        .collect();
    for (n, &item) in browsed.iter().enumerate() {
        let body = event(user, item, "view").replace('}', &format!(r#", "event_id": "v{n}"}}"#));
        let (s, reply) = post_json(a, "/v1/recommender/events", &body).await;
        assert_eq!(s, 202, "{reply}");
    }
    let (_, on_a) = get_json(a, &path).await;
    let (_, on_b) = get_json(b, &path).await;
    let (_, on_lone) = get_json(lone, &path).await;
    assert_eq!(items(&on_a), items(&on_b), "b answers from a's session");
    assert_ne!(items(&before), items(&on_b), "the session changed b's list");
    assert_eq!(
        items(&on_lone),
        items(&before),
        "a replica without the session"
    );
    // A retry of the last event, sent to b: recorded once.
    let retry = event(user, browsed[5], "view").replace('}', r#", "event_id": "v5"}"#);
    let (s, reply) = post_json(b, "/v1/recommender/events", &retry).await;
    let reply: Value = serde_json::from_str(&reply).expect("json");
    assert_eq!(
        (s, &reply["duplicate"]),
        (202, &Value::Bool(true)),
        "{reply}"
    );
    assert_eq!(reply["session_events"], browsed.len(), "{reply}");
    let (_, ready) = get_json(a, "/ready").await;
    assert!(ready.to_string().contains("redis://"), "{ready}");
    let redis = RedisSessions::open(&url, &prefix, DAY, BUDGET).expect("open");
    let _cleanup = Cleanup(&redis);
    drop(state_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_sheds_the_session_paths_with_503_and_batch_lists_still_answer() {
    // Nothing listens on port 1; no Redis needed.
    let (addr, _, shop) = start(redis_config("redis://127.0.0.1:1", "dead")).await;
    let item = shop.products[3].id;
    let (s, body) = post_json(addr, "/v1/recommender/events", &event(3, item, "view")).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("state_unavailable"), "{body}");
    let realtime = "/v1/recommender/users/3/recommendations?mode=realtime";
    let (s, body) = get_json(addr, realtime).await;
    assert_eq!(s, 503, "{body}");
    let (s, body) = get_json(addr, "/v1/recommender/users/3/recommendations?mode=batch").await;
    assert_eq!(s, 200, "the snapshot needs no session: {body}");
    let (ready, _) = http(addr, "GET", "/ready", None, b"").await;
    let (health, _) = http(addr, "GET", "/health", None, b"").await;
    assert_eq!((ready, health), (503, 200));
}

#[test]
fn a_consumer_killed_before_acknowledging_loses_no_shop_event_and_counts_none_twice() {
    let Some(url) = test_url("recommender consumer kill") else {
        return;
    };
    let served = serving();
    let (model, version) = (&served.model.model, served.version.as_str());
    let prefix = unique_prefix("rec-stream");
    let sessions = RedisSessions::open(&url, &prefix, DAY, BUDGET).expect("open");
    let _cleanup = Cleanup(&sessions);
    let log = EventLog::new(sessions.redis().clone(), format!("{prefix}:events"));
    let events = fresh_events(1_500);
    log.append(&keyed(&events)).expect("append");
    // A bad entry: an item that is not on sale.
    let junk = ShopEvent {
        event_id: Some("junk".into()),
        user_id: 7,
        item_id: u32::MAX,
        kind: EventKind::View,
    };
    log.append(&keyed(&[junk])).expect("append junk");
    log.create_group("g").expect("group");
    let a = log.consumer("g", "a");
    for _ in 0..3 {
        apply_batch(&a, &sessions, model, version, 200, Duration::from_secs(60)).expect("a");
    }
    // a reads and records a fourth batch, then dies before acknowledging it.
    let lost = a.read(200).expect("read");
    apply(&a, &sessions, model, version, &lost).expect("apply");
    let b = log.consumer("g", "b");
    let (mut reclaimed, mut duplicates, mut dead) = (0, 0, 0);
    loop {
        let step = apply_batch(&b, &sessions, model, version, 200, Duration::ZERO).expect("b");
        if step.events() == 0 {
            break;
        }
        (reclaimed, duplicates, dead) = (
            reclaimed + step.reclaimed,
            duplicates + step.duplicates,
            dead + step.dead_letters,
        );
    }
    assert_eq!((reclaimed, duplicates, dead), (200, 200, 1));
    assert_eq!(log.pending("g").expect("pending"), 0);
    assert_eq!(log.dead_letters().expect("dead"), 1);
    // Every user's session holds exactly their events: none lost, none twice.
    let mut per_user: HashMap<u32, u32> = HashMap::new();
    for e in &events {
        *per_user.entry(e.user_id).or_default() += 1;
    }
    for (&user, &n) in &per_user {
        let state = sessions.state(model, version, user).expect("state");
        let base = model.state(user).events;
        assert_eq!(state.events - base, n, "user {user}");
    }
    println!(
        "recommender consumer kill: {} events, {reclaimed} taken over, {duplicates} duplicates recorded once, 0 lost",
        events.len()
    );
}
