//! An event log on Redis Streams: producers append, consumers read in a consumer group and
//! acknowledge, and a consumer that died is taken over by another, which resumes where it
//! stopped.
//!
//! ```text
//! producer ─XADD─► stream ─XREADGROUP─► consumer a ─apply─► state ─XACK─► (done)
//!                     │                      ✗ dies between apply and ack
//!                     └──XAUTOCLAIM (idle ≥ t)──► consumer b: applies a's pending events again
//! ```
//!
//! Talking points:
//! - at-least-once delivery: an event is pending until acknowledged, so a consumer that dies
//!   after applying an event but before acknowledging it has that event delivered again;
//! - duplicates made harmless: every event carries its own id (the transaction id, the event
//!   id), and the state it updates is keyed by it (set semantics, `HSETNX`), so applying an
//!   event twice changes nothing — exactly-once *effect* from at-least-once delivery;
//! - bad events lose nothing: an entry that is not a valid event goes to a dead-letter stream
//!   with the reason and is acknowledged, so it neither blocks the group nor disappears.
//!
//! Simplification: one stream per event kind, no partitioning (a Kafka topic would have
//! partitions keyed by card); the streams are not trimmed (`MAXLEN`), which production would do
//! once every group has acknowledged.

use std::sync::Arc;
use std::time::Duration;

use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use serde::{de::DeserializeOwned, Serialize};

use crate::online_state::{RedisState, StateError};

/// One delivered entry: its position in the stream, the event's own id and its body (JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The stream entry id (`ms-seq`), what `XACK` takes.
    pub entry: String,
    /// The producer's id for the event (what makes re-applying it harmless).
    pub event_id: String,
    pub body: String,
}

impl Delivery {
    /// The body as a `T`, or why not (the caller dead-letters it).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(&self.body).map_err(|e| e.to_string())
    }
}

/// One stream (`stream`) and its dead letters (`stream:dead`).
#[derive(Clone)]
pub struct EventLog {
    state: Arc<RedisState>,
    stream: String,
}

impl EventLog {
    pub fn new(state: Arc<RedisState>, stream: impl Into<String>) -> Self {
        EventLog {
            state,
            stream: stream.into(),
        }
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Appends events in one pipelined round trip; returns their entry ids.
    pub fn append<T: Serialize>(&self, events: &[(String, T)]) -> Result<Vec<String>, StateError> {
        let mut bodies = Vec::with_capacity(events.len());
        for (id, event) in events {
            let body = serde_json::to_string(event)
                .map_err(|e| StateError::Malformed(format!("event {id}: {e}")))?;
            bodies.push((id, body));
        }
        self.state.run(|con| {
            let mut pipe = redis::pipe();
            for (id, body) in &bodies {
                pipe.cmd("XADD")
                    .arg(&self.stream)
                    .arg("*")
                    .arg("id")
                    .arg(id.as_str())
                    .arg("body")
                    .arg(body.as_str());
            }
            pipe.query(con)
        })
    }

    /// Creates consumer group `group` reading from the start (idempotent: an existing group
    /// keeps its position).
    pub fn create_group(&self, group: &str) -> Result<(), StateError> {
        let made = self.state.run(|con| {
            redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.stream)
                .arg(group)
                .arg("0")
                .arg("MKSTREAM")
                .query::<String>(con)
        });
        match made {
            Err(StateError::Unavailable(e)) if e.contains("BUSYGROUP") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Entries delivered to the group and not yet acknowledged.
    pub fn pending(&self, group: &str) -> Result<usize, StateError> {
        self.state.run(|con| {
            let summary: redis::Value = redis::cmd("XPENDING")
                .arg(&self.stream)
                .arg(group)
                .query(con)?;
            Ok(match summary {
                redis::Value::Array(parts) => match parts.first() {
                    Some(redis::Value::Int(n)) => *n as usize,
                    _ => 0,
                },
                _ => 0,
            })
        })
    }

    /// Up to `count` entries after position `after` (`0-0`: from the start), in stream
    /// order, for a reader outside any consumer group ([`crate::follow`]).
    pub fn read_after(&self, after: &str, count: usize) -> Result<Vec<Delivery>, StateError> {
        let reply: Option<StreamReadReply> = self.state.run(|con| {
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(after)
                .query(con)
        })?;
        Ok(deliveries(reply))
    }

    /// Entries in the stream (delivered or not).
    pub fn entries(&self) -> Result<usize, StateError> {
        self.state
            .run(|con| redis::cmd("XLEN").arg(&self.stream).query(con))
    }

    /// Entries dead-lettered so far.
    pub fn dead_letters(&self) -> Result<usize, StateError> {
        self.state.run(|con| {
            redis::cmd("XLEN")
                .arg(format!("{}:dead", self.stream))
                .query(con)
        })
    }

    /// A consumer named `name` in `group`.
    pub fn consumer(&self, group: &str, name: &str) -> Consumer {
        Consumer {
            log: self.clone(),
            group: group.to_string(),
            name: name.to_string(),
        }
    }
}

/// One member of a consumer group.
pub struct Consumer {
    log: EventLog,
    group: String,
    name: String,
}

impl Consumer {
    /// Up to `count` entries never delivered to the group before.
    pub fn read(&self, count: usize) -> Result<Vec<Delivery>, StateError> {
        let reply: Option<StreamReadReply> = self.log.state.run(|con| {
            redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&self.group)
                .arg(&self.name)
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(&self.log.stream)
                .arg(">")
                .query(con)
        })?;
        Ok(deliveries(reply))
    }

    /// Takes over up to `count` entries another consumer was given and has not acknowledged
    /// for at least `min_idle` (a dead consumer's work). Returns them for applying again.
    pub fn claim_stale(
        &self,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, StateError> {
        let mut claimed = Vec::new();
        let mut start = "0-0".to_string();
        loop {
            let reply: StreamAutoClaimReply = self.log.state.run(|con| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.log.stream)
                    .arg(&self.group)
                    .arg(&self.name)
                    .arg(min_idle.as_millis() as u64)
                    .arg(&start)
                    .arg("COUNT")
                    .arg(count)
                    .query(con)
            })?;
            claimed.extend(reply.claimed.into_iter().map(|e| delivery(e.id, &e.map)));
            if reply.next_stream_id == "0-0" || claimed.len() >= count {
                return Ok(claimed);
            }
            start = reply.next_stream_id;
        }
    }

    /// One step of an aggregator: take over up to `batch` events another consumer left
    /// pending for `claim_after` (presumed dead), or else read up to `batch` new ones; `apply`
    /// them in stream order; acknowledge them. Returns how many were taken over, how many
    /// were handled, and what `apply` returned. Nothing handled: the stream is drained for now.
    pub fn step<T>(
        &self,
        batch: usize,
        claim_after: Duration,
        apply: impl FnOnce(&Consumer, &[Delivery]) -> Result<T, StateError>,
    ) -> Result<Step<T>, StateError> {
        // Talking point: at-least-once — a dead consumer's unacknowledged events come first
        // and are applied again (harmless when applying is idempotent by event id); events
        // are acknowledged only after they were applied.
        let mut deliveries = self.claim_stale(claim_after, batch)?;
        let reclaimed = deliveries.len();
        if deliveries.is_empty() {
            deliveries = self.read(batch)?;
        }
        let applied = apply(self, &deliveries)?;
        self.ack(&deliveries)?;
        Ok(Step {
            reclaimed,
            handled: deliveries.len(),
            applied,
        })
    }

    /// Acknowledges entries (applied, or dead-lettered): they will not be delivered again.
    pub fn ack(&self, deliveries: &[Delivery]) -> Result<usize, StateError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        self.log.state.run(|con| {
            redis::cmd("XACK")
                .arg(&self.log.stream)
                .arg(&self.group)
                .arg(
                    deliveries
                        .iter()
                        .map(|d| d.entry.as_str())
                        .collect::<Vec<_>>(),
                )
                .query(con)
        })
    }

    /// Moves an entry that is not a valid event to `stream:dead` with `reason`, then
    /// acknowledges it (bad input is kept and counted, and does not block the group).
    pub fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<(), StateError> {
        self.log.state.run(|con| {
            redis::pipe()
                .cmd("XADD")
                .arg(format!("{}:dead", self.log.stream))
                .arg("*")
                .arg("entry")
                .arg(&delivery.entry)
                .arg("id")
                .arg(&delivery.event_id)
                .arg("body")
                .arg(&delivery.body)
                .arg("reason")
                .arg(reason)
                .cmd("XACK")
                .arg(&self.log.stream)
                .arg(&self.group)
                .arg(&delivery.entry)
                .query::<()>(con)
        })
    }
}

/// What one [`Consumer::step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<T> {
    /// Events taken over from a consumer that stopped acknowledging (delivered again).
    pub reclaimed: usize,
    /// Events applied or dead-lettered, then acknowledged.
    pub handled: usize,
    /// What the design's `apply` reported.
    pub applied: T,
}

/// The entries of an `XREAD`/`XREADGROUP` reply (none for a nil reply), in stream order.
fn deliveries(reply: Option<StreamReadReply>) -> Vec<Delivery> {
    reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .map(|e| delivery(e.id, &e.map))
        .collect()
}

fn delivery(entry: String, map: &std::collections::HashMap<String, redis::Value>) -> Delivery {
    let text = |field: &str| match map.get(field) {
        Some(redis::Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Some(redis::Value::SimpleString(s)) => s.clone(),
        _ => String::new(),
    };
    Delivery {
        entry,
        event_id: text("id"),
        body: text("body"),
    }
}
