//! Stage 6 (online state) — per-topic rolling windows: in this process, or in Redis shared by
//! every replica.
//!
//! ```text
//! scored text with a topic ─► TopicStore::record ─► the topic's bucket of this second
//!                                                   (count, positives, Σ P(positive))
//! live feed, every second ◄─ TopicStore::buckets ◄─ the buckets of the longest window
//!                            └─► windows(): 10 s / 60 s / 300 s aggregates
//! ```
//!
//! Talking points:
//! - windowed aggregates in per-second buckets of counts and sums: memory bounded by the
//!   longest window, not the traffic, and buckets from several replicas add up — which is why
//!   they are counts and sums, not averages;
//! - sums that add up in any order: P(positive) is summed as whole nanos (`u64`), so the
//!   in-memory and the Redis buckets agree exactly, whatever the order replicas add in (f64
//!   sums do not: `(a + b) + c ≠ a + (b + c)` in the last bits);
//! - shared state vs local state: with `--state redis://…` a topic's windows count the texts
//!   every replica scored; in memory, each replica sees only its own share;
//! - idempotency: a text may carry an id (a stream entry's); an id seen within the longest
//!   window is not counted again.
//!
//! Simplification: seconds are wall-clock Unix seconds of the replica that scored the text
//! (replicas' clocks are assumed in step, as NTP keeps them to milliseconds); a bucket's
//! keys expire with the longest window, a topic's total a day after its last text.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlsd_core::online_state::{redis, RedisState, StateError};

/// P(positive) is summed in these units (whole nanos): exact, associative sums.
pub const PROBABILITY_UNITS: f64 = 1e9;

/// One second of a topic's texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Unix second.
    pub second: u64,
    pub count: u64,
    pub positives: u64,
    /// Σ P(positive) × [`PROBABILITY_UNITS`], each term rounded.
    pub probability_units: u64,
}

/// One scored text as a topic store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicText {
    pub topic: String,
    /// Unix second it was scored.
    pub second: u64,
    pub positive: bool,
    /// Calibrated P(positive).
    pub probability: f64,
    /// The producer's id, when it has one: a second text with the same id is not counted.
    pub id: Option<String>,
}

impl TopicText {
    fn units(&self) -> u64 {
        // Talking point [load-balancing]: integer sums add up in any order, so every replica's
        // buckets agree.
        (self.probability.clamp(0.0, 1.0) * PROBABILITY_UNITS).round() as u64
    }
}

/// Where the topic windows live.
pub trait TopicStore: Send + Sync {
    /// Adds texts to their topics' buckets; returns how many were counted (not duplicates).
    fn record(&self, texts: &[TopicText]) -> Result<usize, StateError>;

    /// The topic's total and its buckets of the last `horizon` seconds up to `now`, oldest
    /// first (empty seconds left out).
    fn buckets(
        &self,
        topic: &str,
        now: u64,
        horizon: u64,
    ) -> Result<(u64, Vec<Bucket>), StateError>;

    /// Whether the store can answer (a Redis that answers `PING`).
    fn ready(&self) -> Result<(), StateError>;

    /// Topics tracked and topics evicted so far, where the store knows them cheaply.
    fn counts(&self) -> Option<(usize, u64)>;
}

/// Topics in this process: at most `max_topics` (a new one past the limit evicts the topic
/// whose latest text is the oldest; its aggregates restart if it comes back).
pub struct InMemoryTopics {
    max_topics: usize,
    horizon: u64,
    inner: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    topics: HashMap<String, (u64, VecDeque<Bucket>)>,
    evicted: u64,
    /// Ids seen within the horizon, oldest first.
    ids: VecDeque<(u64, String)>,
    seen: HashSet<String>,
}

impl InMemoryTopics {
    pub fn new(max_topics: usize, horizon: Duration) -> Self {
        InMemoryTopics {
            max_topics,
            horizon: horizon.as_secs().max(1),
            inner: Mutex::new(Tables::default()),
        }
    }
}

impl Tables {
    /// False for an id seen within the horizon (the text is a duplicate).
    fn first_sighting(&mut self, text: &TopicText, horizon: u64) -> bool {
        while self
            .ids
            .front()
            .is_some_and(|(s, _)| s + horizon <= text.second)
        {
            if let Some((_, id)) = self.ids.pop_front() {
                self.seen.remove(&id);
            }
        }
        let Some(id) = &text.id else { return true };
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.ids.push_back((text.second, id.clone()));
        true
    }

    fn admit(&mut self, topic: &str, max_topics: usize) {
        if self.topics.contains_key(topic) {
            return;
        }
        // Talking point: a table clients can grow is bounded, and a flood of junk topics
        // cannot lock real ones out: a new topic over the limit evicts the stalest.
        if self.topics.len() >= max_topics {
            let stalest = self
                .topics
                .iter()
                .min_by_key(|(_, (_, buckets))| buckets.back().map_or(0, |b| b.second))
                .map(|(name, _)| name.clone());
            if let Some(stalest) = stalest {
                self.topics.remove(&stalest);
                self.evicted += 1;
            }
        }
        self.topics.insert(topic.to_string(), Default::default());
    }
}

impl TopicStore for InMemoryTopics {
    fn record(&self, texts: &[TopicText]) -> Result<usize, StateError> {
        let mut t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut counted = 0;
        for text in texts {
            if !t.first_sighting(text, self.horizon) {
                continue;
            }
            t.admit(&text.topic, self.max_topics);
            let Some((total, buckets)) = t.topics.get_mut(&text.topic) else {
                continue;
            };
            *total += 1;
            counted += 1;
            // Buckets stay in time order; a text a second late joins its own second.
            let at = buckets.partition_point(|b| b.second < text.second);
            if buckets.get(at).is_none_or(|b| b.second != text.second) {
                let bucket = Bucket {
                    second: text.second,
                    ..Bucket::default()
                };
                buckets.insert(at, bucket);
            }
            if let Some(b) = buckets.get_mut(at) {
                b.count += 1;
                b.positives += u64::from(text.positive);
                b.probability_units += text.units();
            }
            let latest = buckets.back().map_or(0, |b| b.second);
            while buckets
                .front()
                .is_some_and(|b| b.second + self.horizon <= latest)
            {
                buckets.pop_front();
            }
        }
        Ok(counted)
    }

    fn buckets(
        &self,
        topic: &str,
        now: u64,
        horizon: u64,
    ) -> Result<(u64, Vec<Bucket>), StateError> {
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some((total, buckets)) = t.topics.get(topic) else {
            return Ok((0, Vec::new()));
        };
        let recent = buckets
            .iter()
            .filter(|b| b.second + horizon > now && b.second <= now)
            .copied()
            .collect();
        Ok((*total, recent))
    }

    fn ready(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn counts(&self) -> Option<(usize, u64)> {
        let t = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Some((t.topics.len(), t.evicted))
    }
}

/// Counts one text unless its id was seen; extends the keys' lives. KEYS: the bucket (a hash
/// of c, p, s), the topic's total, the id's marker. ARGV: positive (0/1), probability units,
/// the bucket's TTL, whether there is an id (0/1), the total's TTL. Returns 1 if counted.
const RECORD: &str = r"
if ARGV[4] == '1' then
  if not redis.call('SET', KEYS[3], 1, 'NX', 'EX', ARGV[3]) then return 0 end
end
redis.call('HINCRBY', KEYS[1], 'c', 1)
redis.call('HINCRBY', KEYS[1], 'p', ARGV[1])
redis.call('HINCRBY', KEYS[1], 's', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
";

/// How long a topic's total outlives its last text in Redis.
const TOTAL_TTL: u64 = 24 * 3600;

/// Topic windows in Redis, shared by every replica given the same URL and prefix.
pub struct RedisTopics {
    redis: Arc<RedisState>,
    prefix: String,
    horizon: u64,
    record: redis::Script,
}

impl RedisTopics {
    /// Opens (without connecting) the topics under `prefix`, buckets kept for `horizon`.
    pub fn open(
        url: &str,
        prefix: &str,
        horizon: Duration,
        timeout: Duration,
    ) -> Result<Self, StateError> {
        let record = redis::Script::new(RECORD);
        Ok(RedisTopics {
            redis: Arc::new(RedisState::open(url, timeout, vec![record.clone()])?),
            prefix: prefix.to_string(),
            horizon: horizon.as_secs().max(1),
            record,
        })
    }

    pub fn redis(&self) -> &Arc<RedisState> {
        &self.redis
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Keys never collide across topics: the second comes before the (free-form) topic name.
    fn bucket_key(&self, topic: &str, second: u64) -> String {
        format!("{}:topic-second:{second}:{topic}", self.prefix)
    }

    fn total_key(&self, topic: &str) -> String {
        format!("{}:topic-total:{topic}", self.prefix)
    }
}

impl TopicStore for RedisTopics {
    fn record(&self, texts: &[TopicText]) -> Result<usize, StateError> {
        if texts.is_empty() {
            return Ok(0);
        }
        let counted: Vec<u8> = self.redis.run(|con| {
            // Talking point [storage]: one round trip for a whole batch — a pipeline of one script
            // per text, each atomic.
            let mut pipe = redis::pipe();
            for text in texts {
                let id = text.id.as_deref().unwrap_or("");
                pipe.invoke_script(
                    self.record
                        .key(self.bucket_key(&text.topic, text.second))
                        .key(self.total_key(&text.topic))
                        .key(format!("{}:text-id:{id}", self.prefix))
                        .arg(u8::from(text.positive))
                        .arg(text.units())
                        .arg(self.horizon + 1)
                        .arg(u8::from(text.id.is_some()))
                        .arg(TOTAL_TTL),
                );
            }
            pipe.query(con)
        })?;
        Ok(counted.iter().map(|&c| usize::from(c)).sum())
    }

    fn buckets(
        &self,
        topic: &str,
        now: u64,
        horizon: u64,
    ) -> Result<(u64, Vec<Bucket>), StateError> {
        let seconds: Vec<u64> = (now.saturating_sub(horizon.max(1) - 1)..=now).collect();
        type Fields = (Option<u64>, Option<u64>, Option<u64>);
        let (total, fields): (Option<u64>, Vec<Fields>) = self.redis.run(|con| {
            let mut read = redis::pipe();
            for &second in &seconds {
                read.cmd("HMGET")
                    .arg(self.bucket_key(topic, second))
                    .arg(&["c", "p", "s"]);
            }
            let fields: Vec<Fields> = read.query(con)?;
            let total: Option<u64> = redis::cmd("GET").arg(self.total_key(topic)).query(con)?;
            Ok((total, fields))
        })?;
        let buckets = seconds
            .iter()
            .zip(fields)
            .filter_map(|(&second, (c, p, s))| {
                Some(Bucket {
                    second,
                    count: c?,
                    positives: p.unwrap_or(0),
                    probability_units: s.unwrap_or(0),
                })
            })
            .collect();
        Ok((total.unwrap_or(0), buckets))
    }

    fn ready(&self) -> Result<(), StateError> {
        self.redis.ping()
    }

    fn counts(&self) -> Option<(usize, u64)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(topic: &str, second: u64, positive: bool, id: Option<&str>) -> TopicText {
        TopicText {
            topic: topic.into(),
            second,
            positive,
            probability: if positive { 0.9 } else { 0.2 },
            id: id.map(str::to_string),
        }
    }

    #[test]
    fn buckets_stay_in_order_expire_with_the_horizon_and_ids_count_once() {
        let store = InMemoryTopics::new(10, Duration::from_secs(60));
        let texts = [
            text("a", 100, true, Some("x")),
            text("a", 102, false, None),
            text("a", 101, true, None),
            text("a", 100, true, Some("x")),
        ];
        assert_eq!(store.record(&texts).ok(), Some(3));
        let (total, buckets) = store.buckets("a", 102, 60).expect("buckets");
        assert_eq!(total, 3);
        let seconds: Vec<u64> = buckets.iter().map(|b| b.second).collect();
        assert_eq!(seconds, [100, 101, 102]);
        assert_eq!(buckets[0].probability_units, 900_000_000);
        store.record(&[text("a", 161, true, None)]).expect("later");
        let (_, buckets) = store.buckets("a", 161, 60).expect("buckets");
        let seconds: Vec<u64> = buckets.iter().map(|b| b.second).collect();
        assert_eq!(seconds, [102, 161], "100 and 101 left the 60-s horizon");
        // Past the horizon the id is forgotten: counted again.
        assert_eq!(
            store.record(&[text("a", 161, true, Some("x"))]).ok(),
            Some(1)
        );
    }
}
