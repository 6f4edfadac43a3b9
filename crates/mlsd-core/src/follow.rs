//! Log-replicated state: every replica applies the same Redis Stream, in the same order, to its
//! own in-memory state — so replicas converge, and a restarted one rebuilds its state by
//! replaying the log.
//!
//! ```text
//! POST on replica a ─append─► {prefix}:log ─read in order─► replica a: apply → state
//!        └─ waits until a has applied it        └──────────► replica b: apply → state
//! ```
//!
//! Talking points:
//! - three ways to share online state, three trade-offs: a shared store (one copy, a round trip
//!   per read — `online_state`), routing by key (one copy per key, no hop, lost with its
//!   replica), and a replicated log (every replica holds everything, reads are local, a write
//!   is one append and is visible everywhere after the replication lag);
//! - exactly once by position: a follower reads entries by their position in the log (no
//!   consumer group, nothing to acknowledge or redeliver), and the state remembers the last
//!   position it applied, so re-reading the log (after a model swap or a restart) applies
//!   nothing twice;
//! - read-your-writes: the replica that took a write answers only after it has applied it.
//!
//! Simplification: the log is never trimmed or compacted into a snapshot (a restart replays
//! it all); the follower polls (every `every` when there is nothing new, at once after an
//! append in its own process) instead of blocking on `XREAD BLOCK`, which would exceed the
//! per-round-trip budget — so another replica sees a write up to `every` later.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::events::{Delivery, EventLog};
use crate::online_state::{RedisState, StateBackend, StateError};

/// A position in a stream: the entry id's `ms-seq` as numbers (`0-0` is before everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(pub u64, pub u64);

impl Position {
    pub fn parse(entry: &str) -> Option<Position> {
        let (ms, seq) = entry.split_once('-')?;
        Some(Position(ms.parse().ok()?, seq.parse().ok()?))
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}

/// One entry as a follower hands it over.
#[derive(Debug, Clone)]
pub struct Entry {
    pub position: Position,
    pub body: String,
}

impl Entry {
    /// The body as a `T`, or `None` after counting it in `log_entries_skipped_total` (only
    /// servers append, after checking: an unreadable entry is a bug, and skipping it on every
    /// replica keeps them equal).
    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        metrics: &crate::telemetry::Metrics,
    ) -> Option<T> {
        match serde_json::from_str(&self.body) {
            Ok(parsed) => Some(parsed),
            Err(e) => {
                eprintln!("log entry {} skipped: {e}", self.position);
                metrics.add_counter(
                    "log_entries_skipped_total",
                    "Entries of the replicated log that did not parse.",
                    1.0,
                );
                None
            }
        }
    }
}

/// With a Redis `backend`, follows its `{prefix}:log`, applying it to `target` with `apply`
/// (the target is held weakly: dropping it stops the applying); `None` in memory.
pub fn follow<S: Send + Sync + 'static>(
    target: &Arc<S>,
    backend: &StateBackend,
    apply: fn(&S, &[Entry]),
) -> Result<Option<Follower>, StateError> {
    let StateBackend::Redis {
        url,
        prefix,
        timeout,
    } = backend
    else {
        return Ok(None);
    };
    let redis = Arc::new(RedisState::open(url, *timeout, Vec::new())?);
    let log = EventLog::new(redis, format!("{prefix}:log"));
    let weak = Arc::downgrade(target);
    let follower = Follower::start(log, 500, Duration::from_millis(10), move |entries| {
        if let Some(target) = weak.upgrade() {
            apply(&target, entries);
        }
    });
    Ok(Some(follower))
}

struct Shared {
    /// The latest position read and handed to `apply`.
    read: tokio::sync::watch::Sender<Position>,
    /// Set to start again from the log's beginning (a new state to fill).
    rewind: AtomicBool,
    stop: AtomicBool,
    /// Why the last read failed, if it did.
    error: Mutex<Option<String>>,
    /// Set by this process's appends: the follower reads at once instead of at its next poll
    /// (other replicas see the entry at their next poll).
    poked: Mutex<bool>,
    poke: Condvar,
}

impl Shared {
    /// Sleeps up to `every`, or until an append in this process pokes.
    fn idle(&self, every: Duration) {
        let poked = self.poked.lock().unwrap_or_else(|p| p.into_inner());
        let (mut poked, _) = self
            .poke
            .wait_timeout_while(poked, every, |poked| !*poked)
            .unwrap_or_else(|p| p.into_inner());
        *poked = false;
    }
}

/// A thread that reads a log in order and hands every entry to `apply`; stopped when dropped.
pub struct Follower {
    log: EventLog,
    shared: Arc<Shared>,
}

impl Follower {
    /// Starts following `log` from its beginning: `apply` gets the entries in log order, in
    /// batches of up to `batch`; when there is nothing new the follower waits `every`.
    pub fn start(
        log: EventLog,
        batch: usize,
        every: Duration,
        mut apply: impl FnMut(&[Entry]) + Send + 'static,
    ) -> Follower {
        let shared = Arc::new(Shared {
            read: tokio::sync::watch::Sender::new(Position::default()),
            rewind: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            error: Mutex::new(None),
            poked: Mutex::new(false),
            poke: Condvar::new(),
        });
        let (thread_log, thread_shared) = (log.clone(), shared.clone());
        std::thread::spawn(move || {
            let (log, shared) = (thread_log, thread_shared);
            let mut after = Position::default();
            while !shared.stop.load(Ordering::Relaxed) {
                if shared.rewind.swap(false, Ordering::Relaxed) {
                    after = Position::default();
                }
                match log.read_after(&after.to_string(), batch) {
                    Ok(deliveries) => {
                        *shared.error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        let entries = entries(&deliveries);
                        if let Some(last) = entries.last() {
                            apply(&entries);
                            after = last.position;
                            shared.read.send_replace(after);
                        } else {
                            shared.idle(every);
                        }
                    }
                    Err(e) => {
                        *shared.error.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(e.to_string());
                        std::thread::sleep(every);
                    }
                }
            }
        });
        Follower { log, shared }
    }

    /// Appends `event` (its id `event_id`) to the log; returns its position.
    pub fn append<T: serde::Serialize>(
        &self,
        event_id: &str,
        event: &T,
    ) -> Result<Position, StateError> {
        let ids = self.log.append(&[(event_id.to_string(), event)])?;
        *self.shared.poked.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.poke.notify_one();
        ids.first()
            .and_then(|id| Position::parse(id))
            .ok_or_else(|| StateError::Malformed(format!("entry ids {ids:?}")))
    }

    /// Waits up to `timeout` until this follower has applied `position`; whether it did.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> bool {
        let mut read = self.shared.read.subscribe();
        let applied = tokio::time::timeout(timeout, read.wait_for(|p| *p >= position)).await;
        matches!(applied, Ok(Ok(_)))
    }

    /// Appends `event` and waits up to `timeout` until this follower has applied it. Returns
    /// its position and whether it was applied in time (it is in the log either way: every
    /// replica applies it).
    pub async fn append_and_wait<T: serde::Serialize>(
        &self,
        event_id: &str,
        event: &T,
        timeout: Duration,
    ) -> Result<(Position, bool), StateError> {
        let position = self.append(event_id, event)?;
        // Talking point [load-balancing]: read-your-writes — the replica that took the write
        // answers after it applied it; other replicas see it at their next poll.
        Ok((position, self.wait_for(position, timeout).await))
    }

    /// [`Follower::append_and_wait`] for a request handler: the position once this replica
    /// applied the entry, or 503 `state_lagging` when it did not within `timeout` (the entry
    /// is in the log and every replica applies it, but this answer cannot show its outcome),
    /// 503 `state_unavailable` when the log could not take it.
    pub async fn append_applied<T: serde::Serialize>(
        &self,
        event_id: &str,
        event: &T,
        timeout: Duration,
    ) -> Result<Position, crate::serve::ApiError> {
        let (position, applied) = self.append_and_wait(event_id, event, timeout).await?;
        if !applied {
            return Err(lagging(position));
        }
        Ok(position)
    }

    /// Reads the log again from its beginning (after the state was rebuilt).
    pub fn rewind(&self) {
        self.shared.rewind.store(true, Ordering::Relaxed);
    }

    /// The latest position applied.
    pub fn position(&self) -> Position {
        *self.shared.read.borrow()
    }

    /// Unavailable while the last read of the log failed.
    pub fn ready(&self) -> Result<(), StateError> {
        match self
            .shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            Some(e) => Err(StateError::Unavailable(e)),
            None => Ok(()),
        }
    }
}

/// The 503 for an entry appended at `position` that this replica has not applied yet.
pub fn lagging(position: Position) -> crate::serve::ApiError {
    crate::serve::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "state_lagging",
        format!("appended at {position}; this replica has not applied it yet"),
    )
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.poke.notify_one();
    }
}

fn entries(deliveries: &[Delivery]) -> Vec<Entry> {
    deliveries
        .iter()
        .filter_map(|d| {
            Some(Entry {
                position: Position::parse(&d.entry)?,
                body: d.body.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_as_the_stream_does() {
        let p = |s| Position::parse(s).expect(s);
        assert!(p("1700000000000-0") < p("1700000000000-1"));
        assert!(p("1700000000000-9") < p("1700000000001-0"));
        assert!(Position::default() < p("0-1"));
        assert_eq!(p("12-3").to_string(), "12-3");
        assert!(Position::parse("12").is_none() && Position::parse("a-1").is_none());
    }
}
