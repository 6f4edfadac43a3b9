//! The machines' state replicated by a log (`--state redis://…`): sensor readings and service or
//! failure events are appended to one Redis Stream, and every replica applies the stream, in
//! order, to its own per-machine state ([`mlsd_core::follow`]) — so any replica answers for any
//! machine, and a restarted one replays the log.
//!
//! Why a log and not a shared store: a reading's assessment needs the machine's whole window
//! (30 cycles of every sensor, its rolling means and slopes), updated by every reading — state
//! that lives best next to the model. The log makes the *order* of a machine's readings the
//! same on every replica, so an out-of-order cycle is refused alike everywhere.

use mlsd_core::follow::{Entry, Follower, Position};

use super::*;

/// What the log holds: requests checked by the replica that took them (the checks that need
/// no machine state), applied on every replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogEntry {
    /// A `readings` call: applied in order, stopping at the first refused one.
    Readings { readings: Vec<ReadingIn> },
    /// Lines of a readings stream: each applied or refused on its own.
    Lines { readings: Vec<ReadingIn> },
    /// A service or a failure.
    Event {
        machine_id: u32,
        event: EventRequest,
    },
}

/// What a `readings` call did: the assessments, and the reading refused (with its index).
pub(super) type Ingested = (Vec<Assessed>, Option<(usize, Refusal)>);

/// What applying an entry did, kept for the handler that appended it.
#[derive(Debug)]
pub(super) enum Outcome {
    Readings(Vec<Assessed>, Option<(usize, Refusal)>),
    /// Per line: its alerts, or why it was refused.
    Lines(Vec<Result<u64, &'static str>>),
    Event(Option<EventResponse>),
}

/// Outcomes kept at most (the oldest are dropped first; their handlers have answered).
const KEEP_OUTCOMES: usize = 4_096;

/// Lines of a stream appended as one entry.
pub(super) const LINES_PER_ENTRY: usize = 256;

fn reading(r: &ReadingIn) -> (u32, Reading) {
    let values = r.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    (
        r.machine_id,
        Reading {
            cycle: r.cycle,
            values,
        },
    )
}

/// Applies entries past the state's position, in order, and keeps their outcomes.
pub(super) fn apply(state: &AppState, entries: &[Entry]) {
    let route = state.models.route();
    for entry in entries {
        let Some(parsed) = entry.parse::<LogEntry>(&state.kit.metrics) else {
            continue;
        };
        {
            // Talking point [storage]: exactly once by position — re-reading the log applies
            // nothing twice.
            let mut position = lock(&state.log_position);
            if entry.position <= *position {
                continue;
            }
            *position = entry.position;
        }
        let outcome = match parsed {
            LogEntry::Readings { readings } => {
                let (assessed, refused) =
                    state.ingest(&route, readings.iter().map(reading).collect());
                Outcome::Readings(assessed, refused)
            }
            LogEntry::Lines { readings } => Outcome::Lines(
                readings
                    .iter()
                    .map(|r| match state.ingest(&route, vec![reading(r)]) {
                        (_, Some((_, refusal))) => Err(refusal.code()),
                        (assessed, None) => Ok(assessed.iter().filter(|a| a.alert).count() as u64),
                    })
                    .collect(),
            ),
            LogEntry::Event { machine_id, event } => {
                Outcome::Event(state.close_life(&route.primary.model, machine_id, &event))
            }
        };
        let mut outcomes = lock(&state.outcomes);
        while outcomes.len() >= KEEP_OUTCOMES {
            outcomes.pop_first();
        }
        outcomes.insert(entry.position, outcome);
    }
}

/// Appends `entry` and waits (up to the request's time budget) until this replica applied it.
pub(super) async fn append(
    state: &AppState,
    follower: &Follower,
    entry: &LogEntry,
) -> Result<Position, ApiError> {
    let id = match entry {
        LogEntry::Readings { .. } => "readings",
        LogEntry::Lines { .. } => "lines",
        LogEntry::Event { .. } => "event",
    };
    follower
        .append_applied(id, entry, state.config.server.timeout)
        .await
}

fn outcome(state: &AppState, position: Position) -> Result<Outcome, ApiError> {
    lock(&state.outcomes)
        .remove(&position)
        .ok_or_else(|| mlsd_core::follow::lagging(position))
}

/// What applying a `readings` entry did.
pub(super) fn readings_outcome(state: &AppState, position: Position) -> Result<Ingested, ApiError> {
    match outcome(state, position)? {
        Outcome::Readings(assessed, refused) => Ok((assessed, refused)),
        _ => Err(ApiError::internal("a log entry's outcome of another kind")),
    }
}

/// What applying a `lines` entry did.
pub(super) fn lines_outcome(
    state: &AppState,
    position: Position,
) -> Result<Vec<Result<u64, &'static str>>, ApiError> {
    match outcome(state, position)? {
        Outcome::Lines(lines) => Ok(lines),
        _ => Err(ApiError::internal("a log entry's outcome of another kind")),
    }
}

/// What applying an `event` entry did.
pub(super) fn event_outcome(
    state: &AppState,
    position: Position,
) -> Result<Option<EventResponse>, ApiError> {
    match outcome(state, position)? {
        Outcome::Event(response) => Ok(response),
        _ => Err(ApiError::internal("a log entry's outcome of another kind")),
    }
}
