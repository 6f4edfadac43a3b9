//! The online feature store in Redis (`--state redis://…`): the same windows as
//! [`super::InMemoryFeatureStore`], shared by every replica and kept across restarts.
//!
//! ```text
//! {prefix}:card:{customer}    sorted set  "txid:cents" scored by time   (last 30 d + lateness)
//! {prefix}:term:{terminal}    sorted set  txid scored by time           (delay + 30 d + lateness)
//! {prefix}:fraud:{terminal}   sorted set  confirmed frauds by time
//! {prefix}:seen               hash        txid → "terminal:time" (late labels find their
//!                                          terminal; the idempotency key of every payment)
//! {prefix}:warm               string      set once history is loaded
//! ```
//!
//! Talking points:
//! - one round trip per payment: a Lua script records the payment, expires old state and
//!   computes every window server-side, atomically; a micro-batch is one pipelined round trip;
//! - idempotency: `HSETNX` on the transaction id — a payment delivered twice (a client's retry,
//!   a redelivered stream event, two replicas warming up at once) is counted once;
//! - no answers from empty state: without the `warm` key (never warmed, or Redis restarted
//!   without its data) the script refuses with `COLD`, and the server sheds with 503.
//!
//! Simplification: the label script builds one key from another's value, which a Redis Cluster
//! forbids (keys must be declared); on a cluster the terminal would travel with the label.

use std::sync::Arc;
use std::time::Duration;

use mlsd_core::online_state::{RedisState, StateError};

use super::{assemble, customer_horizon, terminal_horizon, FeatureStore, Transaction, DAY_MS};
use crate::features::{to_cents, FeatureSpec};

/// Payments per pipelined round trip while loading history.
const WARM_CHUNK: usize = 1_000;

/// Records one payment (unless seen) and returns `fresh, (n, cents) per customer window,
/// (n, frauds) per terminal window`.
const OBSERVE: &str = r"
local card, pay, frauds, seen, warm = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if ARGV[1] ~= 'warm' and redis.call('EXISTS', warm) == 0 then
  return redis.error_reply('COLD the fraud state was never loaded (or Redis restarted without its data)')
end
local id, t = ARGV[2], ARGV[3]
local fresh = redis.call('HSETNX', seen, id, ARGV[5] .. ':' .. t)
if fresh == 1 then
  redis.call('ZADD', card, t, id .. ':' .. ARGV[4])
  redis.call('ZADD', pay, t, id)
end
redis.call('ZREMRANGEBYSCORE', card, '-inf', ARGV[6])
local expired = redis.call('ZRANGEBYSCORE', pay, '-inf', ARGV[7])
for i = 1, #expired, 1000 do
  redis.call('HDEL', seen, unpack(expired, i, math.min(i + 999, #expired)))
end
redis.call('ZREMRANGEBYSCORE', pay, '-inf', ARGV[7])
redis.call('ZREMRANGEBYSCORE', frauds, '-inf', ARGV[7])
local out = {fresh}
local ncw = tonumber(ARGV[10])
local rows = redis.call('ZRANGEBYSCORE', card, '(' .. ARGV[9], t, 'WITHSCORES')
for i = 1, ncw do
  local from = tonumber(ARGV[10 + i])
  local n, cents = 0, 0
  for j = 1, #rows, 2 do
    if tonumber(rows[j + 1]) > from then
      n = n + 1
      cents = cents + tonumber(string.match(rows[j], ':(%-?%d+)$'))
    end
  end
  out[#out + 1] = n
  out[#out + 1] = cents
end
local at = 11 + ncw
for i = 1, tonumber(ARGV[at]) do
  local from = '(' .. ARGV[at + i]
  out[#out + 1] = redis.call('ZCOUNT', pay, from, ARGV[8])
  out[#out + 1] = redis.call('ZCOUNT', frauds, from, ARGV[8])
end
return out
";

/// Sets or clears a payment's fraud label; 0 when the payment is unknown (or expired).
const LABEL: &str = r"
if ARGV[1] ~= 'warm' and redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('COLD the fraud state was never loaded (or Redis restarted without its data)')
end
local v = redis.call('HGET', KEYS[1], ARGV[2])
if not v then return 0 end
local terminal, t = string.match(v, '^(%-?%d+):(%-?%d+)$')
local key = ARGV[4] .. terminal
if ARGV[3] == '1' then redis.call('ZADD', key, t, ARGV[2]) else redis.call('ZREM', key, ARGV[2]) end
return 1
";

/// Online features in Redis, under one key prefix.
pub struct RedisFeatureStore {
    spec: FeatureSpec,
    redis: Arc<RedisState>,
    prefix: String,
    observe: redis::Script,
    label: redis::Script,
}

impl RedisFeatureStore {
    /// A store under `prefix` (e.g. `mlsd:fraud`) on `url`; every round trip is bounded by
    /// `timeout`. Does not connect yet.
    pub fn open(
        spec: FeatureSpec,
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, StateError> {
        let (observe, label) = (redis::Script::new(OBSERVE), redis::Script::new(LABEL));
        let redis = RedisState::open(url, timeout, vec![observe.clone(), label.clone()])?;
        Ok(RedisFeatureStore {
            spec,
            redis: Arc::new(redis),
            prefix: prefix.to_string(),
            observe,
            label,
        })
    }

    /// The connection pool (for tests and the event log on the same server).
    pub fn redis(&self) -> &Arc<RedisState> {
        &self.redis
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn observe_call(&self, tx: &Transaction, mode: &str) -> redis::ScriptInvocation<'_> {
        let t = tx.datetime_ms;
        let p = &self.prefix;
        let mut call = self.observe.prepare_invoke();
        call.key(format!("{p}:card:{}", tx.customer_id))
            .key(format!("{p}:term:{}", tx.terminal_id))
            .key(format!("{p}:fraud:{}", tx.terminal_id))
            .key(format!("{p}:seen"))
            .key(format!("{p}:warm"));
        let card_from: Vec<i64> = self
            .spec
            .customer_windows
            .iter()
            .map(|&w| t - w as i64 * DAY_MS)
            .collect();
        let end = t - self.spec.delay_days as i64 * DAY_MS;
        call.arg(mode)
            .arg(tx.transaction_id)
            .arg(t)
            .arg(to_cents(tx.amount))
            .arg(tx.terminal_id)
            .arg(t - customer_horizon(&self.spec))
            .arg(t - terminal_horizon(&self.spec))
            .arg(end)
            .arg(card_from.iter().copied().min().unwrap_or(t))
            .arg(card_from.len())
            .arg(&card_from)
            .arg(self.spec.terminal_windows.len());
        for &w in &self.spec.terminal_windows {
            call.arg(end - w as i64 * DAY_MS);
        }
        call
    }

    fn label_call(
        &self,
        transaction_id: i64,
        fraud: bool,
        mode: &str,
    ) -> redis::ScriptInvocation<'_> {
        let p = &self.prefix;
        let mut call = self.label.prepare_invoke();
        call.key(format!("{p}:seen"))
            .key(format!("{p}:warm"))
            .arg(mode)
            .arg(transaction_id)
            .arg(u8::from(fraud))
            .arg(format!("{p}:fraud:"));
        call
    }

    /// The features from one script reply.
    fn features(&self, tx: &Transaction, reply: &[i64]) -> Result<Vec<f64>, StateError> {
        let (nc, nt) = (
            self.spec.customer_windows.len(),
            self.spec.terminal_windows.len(),
        );
        if reply.len() != 1 + 2 * (nc + nt) {
            return Err(StateError::Malformed(format!(
                "the observe script returned {} values for {nc} + {nt} windows",
                reply.len()
            )));
        }
        let pairs: Vec<(i64, i64)> = reply[1..].chunks(2).map(|p| (p[0], p[1])).collect();
        Ok(assemble(tx, &pairs[..nc], &pairs[nc..]))
    }
}

impl FeatureStore for RedisFeatureStore {
    fn observe(&self, tx: &Transaction) -> Result<Vec<f64>, StateError> {
        self.observe_all(std::slice::from_ref(tx))?
            .pop()
            .ok_or_else(|| StateError::Malformed("no reply to the observe script".into()))
    }

    fn observe_all(&self, txs: &[Transaction]) -> Result<Vec<Vec<f64>>, StateError> {
        if txs.is_empty() {
            return Ok(Vec::new());
        }
        // Talking point [storage]: one network round trip per request — every payment of a
        // micro-batch is one script call in one pipeline; the windows are computed where the data
        // is.
        let replies: Vec<Vec<i64>> = self.redis.run(|con| {
            let mut pipe = redis::pipe();
            for tx in txs {
                pipe.invoke_script(&self.observe_call(tx, "serve"));
            }
            pipe.query(con)
        })?;
        if replies.len() != txs.len() {
            return Err(StateError::Malformed(format!(
                "{} replies to {} payments",
                replies.len(),
                txs.len()
            )));
        }
        txs.iter()
            .zip(&replies)
            .map(|(tx, reply)| self.features(tx, reply))
            .collect()
    }

    fn record_label(&self, transaction_id: i64, fraud: bool) -> Result<bool, StateError> {
        let found: i64 = self
            .redis
            .run(|con| self.label_call(transaction_id, fraud, "serve").invoke(con))?;
        Ok(found == 1)
    }

    /// Pipelined, [`WARM_CHUNK`] payments per round trip; sets the `warm` key when done.
    fn load_history(&self, ordered: &[&(Transaction, bool)]) -> Result<(), StateError> {
        for chunk in ordered.chunks(WARM_CHUNK) {
            self.redis.run(|con| {
                let mut pipe = redis::pipe();
                for (tx, fraud) in chunk {
                    pipe.invoke_script(&self.observe_call(tx, "warm")).ignore();
                    if *fraud {
                        pipe.invoke_script(&self.label_call(tx.transaction_id, true, "warm"))
                            .ignore();
                    }
                }
                pipe.query::<()>(con)
            })?;
        }
        self.redis.run(|con| {
            redis::cmd("SET")
                .arg(format!("{}:warm", self.prefix))
                .arg(ordered.len())
                .query::<()>(con)
        })
    }

    fn is_cold(&self) -> Result<bool, StateError> {
        let warm: bool = self.redis.run(|con| {
            redis::cmd("EXISTS")
                .arg(format!("{}:warm", self.prefix))
                .query(con)
        })?;
        Ok(!warm)
    }

    fn ready(&self) -> Result<(), StateError> {
        if self.is_cold()? {
            return Err(StateError::Cold(format!(
                "{} holds no fraud state under {} (never loaded, or Redis restarted without its data)",
                self.redis.url(),
                self.prefix
            )));
        }
        Ok(())
    }
}
