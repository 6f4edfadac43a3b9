//! The feed's live state replicated by a log (`--state redis://…`): new articles and engagement
//! events are appended to one Redis Stream, and every replica applies the stream, in order, to
//! its own live state ([`mlsd_core::follow`]).
//!
//! Why a log and not a shared store here: building a feed reads the whole live state (every
//! alive article's counters, the co-click index, the user's history) — hundreds of keys a
//! request, too many round trips for the 200-ms budget. Every replica keeps all of it in memory
//! instead and the writes are what is shared; article ids come out the same on every replica
//! because every replica publishes the same articles in the same order.

use mlsd_core::follow::{Entry, Follower, Position};

use super::*;

/// What the log holds: a checked request, applied as a unit (a request's events are one
/// impression per user, as without the log).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogEntry {
    Articles { articles: Vec<ArticleIn> },
    Events { events: Vec<EventIn> },
}

/// Article ids assigned by applying the log, kept for the handler that appended them (the
/// latest few; the handler reads them right after its entry is applied).
const KEEP_ASSIGNED: usize = 1_024;

/// Applies entries the live state has not applied yet, in order.
pub(super) fn apply(state: &AppState, entries: &[Entry]) {
    state.sync();
    for entry in entries {
        let Some(parsed) = entry.parse::<LogEntry>(&state.kit.metrics) else {
            continue;
        };
        let mut live = write(&state.live);
        // Talking point [storage]: exactly once by position — re-reading the log applies nothing
        // twice.
        if entry.position <= live.log_position {
            continue;
        }
        live.log_position = entry.position;
        match parsed {
            LogEntry::Articles { articles } => {
                let ids = publish(&mut live, &articles);
                drop(live);
                lock(&state.cache).clear();
                let mut assigned = lock(&state.assigned);
                if assigned.len() >= KEEP_ASSIGNED {
                    assigned.clear();
                }
                assigned.insert(entry.position, ids);
            }
            LogEntry::Events { events } => {
                apply_events_to(state, &mut live, &events);
            }
        }
    }
}

/// Appends `entry` and waits (up to the request's time budget) until this replica applied it.
pub(super) async fn append(
    state: &AppState,
    follower: &Follower,
    entry: &LogEntry,
) -> Result<Position, ApiError> {
    let id = match entry {
        LogEntry::Articles { .. } => "articles",
        LogEntry::Events { .. } => "events",
    };
    follower
        .append_applied(id, entry, state.config.server.timeout)
        .await
}

/// The article ids applying the entry at `position` assigned.
pub(super) fn assigned(state: &AppState, position: Position) -> Vec<u32> {
    lock(&state.assigned).remove(&position).unwrap_or_default()
}
