//! Stage 6 (online state) — the shoppers' live sessions: in this process, or in Redis shared by
//! every replica.
//!
//! ```text
//! event ─► SessionStore::record ─┬─ InMemorySessions: the user's folded state, LRU-bounded
//!                                └─ RedisSessions: the event appended to the user's list
//! real-time list ◄─ SessionStore::state: the model's state of the user at its cutoff + every
//!                   event since (folded here, by the same `UserState::observe`)
//! ```
//!
//! Talking points:
//! - shared state vs routing by key: with `--state redis://…` any replica answers any user with
//!   the same list (the session is in Redis); in memory, a balancer must route a user to the
//!   replica holding their session (hashing on the user id), and a restart forgets it;
//! - event sourcing: Redis keeps the session's events, not a serialized state, so both stores
//!   fold the same events with the same function and give the same state bit for bit (the
//!   parity test), and a model swap needs no migration (sessions are keyed by model version:
//!   the new model's users start from its own cutoff);
//! - idempotency: an event may carry its `event_id` (a retry, a redelivered stream entry);
//!   an id seen before in the session is not counted again, in either store.
//!
//! Simplification: a session's list grows with its events and lives `session_ttl` after the
//! last one (a production store would compact it into the folded state every N events); the
//! popularity the cold-start answer and the ranker use is the model's, computed at its cutoff
//! and shipped with it, so every replica already agrees on it — there is no live popularity
//! counter to share.
//!
//! Talking point [load-balancing]: sessions live in Redis, so any replica behind the balancer
//! answers any user alike.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mlsd_core::online_state::{redis, RedisState, StateError};
use mlsd_core::server::Bounded;
use serde::{Deserialize, Serialize};

use crate::shop::EventKind;
use crate::two_stage::{TwoStage, UserState};

/// One shopper event as the store takes it (from the HTTP API or the event stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopEvent {
    /// The producer's id for the event, if it has one: a second event with the same id in a
    /// session is a duplicate (a retry), recorded once.
    #[serde(default)]
    pub event_id: Option<String>,
    pub user_id: u32,
    pub item_id: u32,
    pub kind: EventKind,
}

/// What recording an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Events in the user's session since the model's cutoff (this one included).
    pub session_events: u32,
    /// The event's id was seen before in this session: nothing changed.
    pub duplicate: bool,
}

/// Where sessions live. Every call names the model (and its registry version) the session
/// grows from.
pub trait SessionStore: Send + Sync {
    /// Adds one event (callers validate the user and the item first).
    fn record(
        &self,
        model: &TwoStage,
        version: &str,
        event: &ShopEvent,
    ) -> Result<Recorded, StateError>;

    /// The user's state now: the model's state at its cutoff plus the session's events.
    fn state(&self, model: &TwoStage, version: &str, user: u32) -> Result<UserState, StateError>;

    /// A new model is serving: sessions grown from the old one's states are dropped (a no-op
    /// where sessions are keyed by version).
    fn model_swapped(&self);

    /// Whether the store can answer (a Redis that answers `PING`).
    fn ready(&self) -> Result<(), StateError>;

    /// Live sessions and sessions evicted so far, where the store knows them cheaply.
    fn counts(&self) -> Option<(usize, u64)>;
}

/// A session in memory: the folded state and the event ids it has seen.
#[derive(Clone)]
struct Live {
    state: UserState,
    ids: HashSet<String>,
}

/// Sessions in this process: at most `max_sessions`, the least recently active evicted first
/// (they fall back to the model's state as of its cutoff).
pub struct InMemorySessions {
    table: RwLock<Bounded<u32, Live>>,
}

impl InMemorySessions {
    pub fn new(max_sessions: usize) -> Self {
        InMemorySessions {
            table: RwLock::new(Bounded::new(max_sessions)),
        }
    }
}

/// Events in `state` beyond what the model knew of `user` at its cutoff.
fn since_cutoff(model: &TwoStage, user: u32, state: &UserState) -> u32 {
    let base = model.users.get(user as usize).map_or(0, |u| u.events);
    state.events.saturating_sub(base)
}

impl SessionStore for InMemorySessions {
    fn record(&self, model: &TwoStage, _: &str, e: &ShopEvent) -> Result<Recorded, StateError> {
        let mut table = self.table.write().unwrap_or_else(|p| p.into_inner());
        let live = table.touch(e.user_id, || Live {
            state: model.state(e.user_id),
            ids: HashSet::new(),
        });
        let duplicate = e
            .event_id
            .as_ref()
            .is_some_and(|id| !live.ids.insert(id.clone()));
        if !duplicate {
            let keep = model.config.recent_items;
            live.state.observe(e.item_id, e.kind, &model.catalog, keep);
        }
        Ok(Recorded {
            session_events: since_cutoff(model, e.user_id, &live.state),
            duplicate,
        })
    }

    fn state(&self, model: &TwoStage, _: &str, user: u32) -> Result<UserState, StateError> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        Ok(table
            .get(&user)
            .map(|live| live.state.clone())
            .unwrap_or_else(|| model.state(user)))
    }

    fn model_swapped(&self) {
        self.table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    fn ready(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn counts(&self) -> Option<(usize, u64)> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        Some((table.len(), table.evicted()))
    }
}

/// Appends an event unless its id is already in the session's id set; extends both keys'
/// lives. KEYS: the session's event list, its id set. ARGV: the encoded event, its id ('' for
/// none), the TTL in seconds. Returns {events in the list, 1 if a duplicate}.
const RECORD: &str = r"
if ARGV[2] ~= '' then
  if redis.call('SADD', KEYS[2], ARGV[2]) == 0 then
    return {redis.call('LLEN', KEYS[1]), 1}
  end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {n, 0}
";

/// Sessions in Redis, shared by every replica given the same URL and prefix.
pub struct RedisSessions {
    redis: Arc<RedisState>,
    prefix: String,
    ttl: Duration,
    record: redis::Script,
}

impl RedisSessions {
    /// Opens (without connecting) the sessions under `prefix`, each kept `ttl` after its last
    /// event, every round trip bounded by `timeout`.
    pub fn open(
        url: &str,
        prefix: &str,
        ttl: Duration,
        timeout: Duration,
    ) -> Result<Self, StateError> {
        let record = redis::Script::new(RECORD);
        Ok(RedisSessions {
            redis: Arc::new(RedisState::open(url, timeout, vec![record.clone()])?),
            prefix: prefix.to_string(),
            ttl,
            record,
        })
    }

    pub fn redis(&self) -> &Arc<RedisState> {
        &self.redis
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The session's list key; the `{user}` hash tag keeps a user's keys in one slot.
    fn key(&self, version: &str, user: u32) -> String {
        format!("{}:session:{version}:{{{user}}}", self.prefix)
    }
}

/// `item` and the stage's letter: `"123p"`.
fn encode(item: u32, kind: EventKind) -> String {
    let letter = match kind {
        EventKind::View => 'v',
        EventKind::Cart => 'c',
        EventKind::Purchase => 'p',
    };
    format!("{item}{letter}")
}

fn decode(entry: &str) -> Result<(u32, EventKind), StateError> {
    let malformed = || StateError::Malformed(format!("session entry {entry:?}"));
    let (kind, digits) = match entry.as_bytes().last() {
        Some(b'v') => (EventKind::View, &entry[..entry.len() - 1]),
        Some(b'c') => (EventKind::Cart, &entry[..entry.len() - 1]),
        Some(b'p') => (EventKind::Purchase, &entry[..entry.len() - 1]),
        _ => return Err(malformed()),
    };
    Ok((digits.parse().map_err(|_| malformed())?, kind))
}

impl SessionStore for RedisSessions {
    fn record(&self, _: &TwoStage, version: &str, e: &ShopEvent) -> Result<Recorded, StateError> {
        // The list is the session: the model's own events for the user are not in it.
        let key = self.key(version, e.user_id);
        let (n, duplicate): (u32, u8) = self.redis.run(|con| {
            // Talking point: one round trip per event — the id check, the append and both
            // expiries run atomically in one script.
            self.record
                .key(&key)
                .key(format!("{key}:ids"))
                .arg(encode(e.item_id, e.kind))
                .arg(e.event_id.as_deref().unwrap_or(""))
                .arg(self.ttl.as_secs().max(1))
                .invoke(con)
        })?;
        Ok(Recorded {
            session_events: n,
            duplicate: duplicate == 1,
        })
    }

    fn state(&self, model: &TwoStage, version: &str, user: u32) -> Result<UserState, StateError> {
        let entries: Vec<String> = self.redis.run(|con| {
            redis::cmd("LRANGE")
                .arg(self.key(version, user))
                .arg(0)
                .arg(-1)
                .query(con)
        })?;
        // Talking point [storage]: event sourcing — the session is its events, folded by the
        // function the in-memory store uses, so both stores give the same state.
        let mut state = model.state(user);
        let keep = model.config.recent_items;
        for entry in &entries {
            let (item, kind) = decode(entry)?;
            state.observe(item, kind, &model.catalog, keep);
        }
        Ok(state)
    }

    fn model_swapped(&self) {}

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

    #[test]
    fn entries_round_trip_and_junk_is_malformed() {
        for kind in [EventKind::View, EventKind::Cart, EventKind::Purchase] {
            assert_eq!(
                decode(&encode(4_294_967_295, kind)).ok(),
                Some((u32::MAX, kind))
            );
        }
        for junk in ["", "p", "12x", "-1v", "1.5c", "99999999999v"] {
            assert!(
                matches!(decode(junk), Err(StateError::Malformed(_))),
                "{junk}"
            );
        }
    }
}
