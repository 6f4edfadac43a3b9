//! Topic windows in Redis: the Redis store keeps exactly the in-memory store's buckets (sums
//! in whole nanos, so the order texts arrive in does not matter), two replicas on one Redis
//! count each other's texts, a dead Redis sheds the texts that carry a topic with 503 (the
//! rest still answer), and a consumer killed before acknowledging loses no text and counts
//! none twice. Needs `MLSD_REDIS_URL` (`.ci/run` starts a Redis); each test says SKIPPED
//! without it, except the dead-Redis one.

use std::time::Duration;

use mlsd_core::events::EventLog;
use mlsd_core::online_state::{delete_prefix, test_url, unique_prefix};
use sentiment::reviews::{generate, Domain};
use sentiment::serve::ServeConfig;
use sentiment::stream::{apply, apply_batch, Limits, TextEvent};
use sentiment::topics::{InMemoryTopics, RedisTopics, TopicStore, TopicText};

use super::api::{model, start, stream};
use crate::common::{http, post_json, redis_backend};

const BUDGET: Duration = Duration::from_millis(500);
const HORIZON: Duration = Duration::from_secs(300);

/// Deletes the store's keys when the test ends (passing or not).
struct Cleanup<'a>(&'a RedisTopics);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = delete_prefix(self.0.redis(), self.0.prefix());
    }
}

fn redis_topics(url: &str, prefix: &str) -> RedisTopics {
    RedisTopics::open(url, prefix, HORIZON, BUDGET).expect("open")
}

/// 4,000 scored texts over 600 seconds on 5 topics: one in five up to 3 s late, one in ten
/// sent again with its id.
fn traffic() -> Vec<TopicText> {
    let model = model();
    let reviews = generate(Domain::Gadgets, 4_000, 17);
    let mut texts = Vec::new();
    for (i, r) in reviews.iter().enumerate() {
        let p = model.predict(&r.text);
        let late = if i % 5 == 0 { (i % 4) as u64 } else { 0 };
        let text = TopicText {
            topic: format!("topic {}", i % 5),
            second: 1_000 + (i as u64 * 600 / 4_000) - late.min(1_000),
            positive: p.label == sentiment::artifact::Label::Positive,
            probability: p.probability,
            id: Some(format!("t{i}")),
        };
        if i % 10 == 0 {
            texts.push(text.clone());
        }
        texts.push(text);
    }
    texts
}

#[test]
fn redis_topic_buckets_equal_the_in_memory_ones_exactly() {
    let Some(url) = test_url("sentiment redis parity") else {
        return;
    };
    let redis = redis_topics(&url, &unique_prefix("topics-parity"));
    let _cleanup = Cleanup(&redis);
    let memory = InMemoryTopics::new(1_000, HORIZON);
    let texts = traffic();
    let (mut in_redis, mut in_memory) = (0, 0);
    // Checked as the traffic goes: every 50 texts, each topic's buckets at the latest second.
    for chunk in texts.chunks(50) {
        in_redis += redis.record(chunk).expect("redis");
        in_memory += memory.record(chunk).expect("memory");
        let now = chunk.iter().map(|t| t.second).max().unwrap_or(0);
        for topic in 0..5 {
            let topic = format!("topic {topic}");
            let r = redis.buckets(&topic, now, 300).expect("redis buckets");
            let m = memory.buckets(&topic, now, 300).expect("memory buckets");
            assert_eq!(r, m, "{topic} at {now}");
        }
    }
    assert_eq!(in_redis, in_memory);
    assert_eq!(in_redis, 4_000, "retries counted once");
    println!(
        "sentiment redis parity: {} texts ({} retries) on 5 topics, identical buckets",
        texts.len(),
        texts.len() - 4_000
    );
}

fn redis_config(url: &str, prefix: &str) -> ServeConfig {
    ServeConfig {
        state: redis_backend(url, prefix),
        ..ServeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_redis_count_each_others_texts() {
    let Some(url) = test_url("sentiment redis replicas") else {
        return;
    };
    let prefix = unique_prefix("topics-replicas");
    let (a, state_a) = start(redis_config(&url, &prefix)).await;
    let (b, state_b) = start(redis_config(&url, &prefix)).await;
    let (lone, state_lone) = start(ServeConfig::default()).await;
    for (n, server) in [(3, &a), (5, &b), (2, &lone)] {
        for _ in 0..n {
            let body = r#"{"text": "the battery is great", "topic": "battery"}"#;
            let (s, reply) = post_json(server.addr, "/v1/sentiment", body).await;
            assert_eq!(s, 200, "{reply}");
        }
    }
    let on_a = state_a.aggregate("battery").expect("a");
    let on_b = state_b.aggregate("battery").expect("b");
    assert_eq!((on_a.total, on_b.total), (8, 8), "a and b share the topic");
    assert_eq!(on_a.windows, on_b.windows);
    assert_eq!(state_lone.aggregate("battery").expect("lone").total, 2);
    let _cleanup = Cleanup(&redis_topics(&url, &prefix));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_sheds_texts_with_a_topic_and_the_rest_still_answer() {
    // Nothing listens on port 1; no Redis needed.
    let (server, state) = start(redis_config("redis://127.0.0.1:1", "dead")).await;
    let addr = server.addr;
    let (s, body) = post_json(addr, "/v1/sentiment", r#"{"text": "fine", "topic": "x"}"#).await;
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("state_unavailable"), "{body}");
    let (s, body) = post_json(addr, "/v1/sentiment", r#"{"text": "fine"}"#).await;
    assert_eq!(s, 200, "no topic, no state needed: {body}");
    let ndjson = b"{\"text\": \"fine\", \"topic\": \"x\"}\n{\"text\": \"fine\"}\n";
    let (s, summary) = stream(addr, ndjson).await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(summary["accepted"], 1, "{summary}");
    assert_eq!(summary["rejected"]["state_unavailable"], 1, "{summary}");
    assert!(state.aggregate("x").is_err());
    let (ready, _) = http(addr, "GET", "/ready", None, b"").await;
    let (health, _) = http(addr, "GET", "/health", None, b"").await;
    assert_eq!((ready, health), (503, 200));
}

#[test]
fn a_consumer_killed_before_acknowledging_loses_no_text_and_counts_none_twice() {
    let Some(url) = test_url("sentiment consumer kill") else {
        return;
    };
    let prefix = unique_prefix("texts");
    let topics = redis_topics(&url, &prefix);
    let _cleanup = Cleanup(&topics);
    let log = EventLog::new(topics.redis().clone(), format!("{prefix}:texts"));
    let events = sentiment::stream::generated(1_000, 3);
    log.append(&events).expect("append");
    let junk = TextEvent {
        text: String::new(),
        topic: "battery".into(),
    };
    log.append(&[("junk".to_string(), junk)])
        .expect("append junk");
    log.create_group("g").expect("group");
    let (model, config) = (model(), ServeConfig::default());
    let limits = Limits {
        max_text_chars: config.max_text_chars,
        max_topic_chars: config.max_topic_chars,
    };
    let a = log.consumer("g", "a");
    for _ in 0..2 {
        apply_batch(&a, &topics, &model, limits, 150, Duration::from_secs(60)).expect("a");
    }
    // a scores and counts a third batch, then dies before acknowledging it.
    let lost = a.read(150).expect("read");
    apply(&a, &topics, &model, limits, &lost).expect("apply");
    let b = log.consumer("g", "b");
    let (mut reclaimed, mut duplicates, mut dead) = (0, 0, 0);
    loop {
        let step = apply_batch(&b, &topics, &model, limits, 150, Duration::ZERO).expect("b");
        if step.events() == 0 {
            break;
        }
        reclaimed += step.reclaimed;
        duplicates += step.duplicates;
        dead += step.dead_letters;
    }
    assert_eq!((reclaimed, duplicates, dead), (150, 150, 1));
    assert_eq!(log.pending("g").expect("pending"), 0);
    // Every topic's total is its number of texts: none lost, none twice.
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    for (_, e) in &events {
        *expected.entry(e.topic.clone()).or_default() += 1;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for (topic, n) in &expected {
        let (total, buckets) = topics.buckets(topic, now, 300).expect("buckets");
        assert_eq!(total, *n, "{topic}");
        assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), *n, "{topic}");
    }
    println!(
        "sentiment consumer kill: {} texts on {} topics, {reclaimed} taken over, {duplicates} duplicates counted once, 0 lost",
        events.len(),
        expected.len()
    );
}
