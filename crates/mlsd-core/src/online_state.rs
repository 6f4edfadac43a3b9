//! Online state in Redis: the connection pool, the time budget on every round trip, and the
//! one error a design's store turns into a 503.
//!
//! Every design keeps online state (fraud's card and terminal windows, the recommender's
//! sessions, sentiment's topic windows). In one process a `HashMap` behind a lock is enough;
//! behind a load balancer it is not: a second replica would answer from different state and a
//! restart would forget everything. [`RedisState`] is the shared piece a design's Redis backend
//! is built on; the design keeps its own keys and Lua scripts.
//!
//! Talking points:
//! - shared state vs routing by key: with state in Redis any replica can answer any request
//!   (one network round trip per request, ~0.1 ms on loopback); routing by key (consistent
//!   hashing on the card) keeps state local and fast, but a replica's death loses its keys;
//! - a dependency's failure is not the model's: a round trip that exceeds its budget or a
//!   Redis that is down becomes [`StateError::Unavailable`], which the servers answer with 503
//!   (shed, retry elsewhere) — never a 500, never an answer from empty state
//!   ([`StateError::Cold`]).
//!
//! Simplification: the synchronous client, pooled, with socket timeouts; one round trip per
//! call (scripts and pipelines make it one per request). A Redis Cluster would need the keys
//! of one script in one hash slot (`{card}` hash tags); we run one Redis.

use std::sync::Mutex;

/// The client crate, for callers that run their own commands through [`RedisState::run`].
pub use redis;
use std::time::Duration;

/// Connections kept open for reuse (more are opened on demand and closed after use).
const IDLE_CONNECTIONS: usize = 16;

/// Why online state could not be read or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    /// Redis is down, refused, or did not answer within the time budget.
    #[error("online state unavailable: {0}")]
    Unavailable(String),
    /// Redis answers but holds none of the state it must (never warmed up, or restarted
    /// without its data): answering from it would be answering from empty history.
    #[error("online state is empty: {0}")]
    Cold(String),
    /// A reply that does not have the shape the store wrote (a bug or a foreign key).
    #[error("online state is malformed: {0}")]
    Malformed(String),
}

/// A pool of connections to one Redis, each round trip bounded by `timeout`.
pub struct RedisState {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    timeout: Duration,
    url: String,
    /// Lua scripts loaded into every new connection's server (EVALSHA needs them there; a
    /// restarted Redis has forgotten them, and its connections are new).
    scripts: Vec<redis::Script>,
}

impl RedisState {
    /// Parses `url` (`redis://127.0.0.1:6379[/db]`) without connecting: a server that starts
    /// before Redis reports not-ready until Redis answers.
    pub fn open(
        url: &str,
        timeout: Duration,
        scripts: Vec<redis::Script>,
    ) -> Result<Self, StateError> {
        let client = redis::Client::open(url)
            .map_err(|e| StateError::Unavailable(format!("invalid Redis URL {url:?}: {e}")))?;
        Ok(RedisState {
            client,
            idle: Mutex::new(Vec::new()),
            timeout,
            url: url.to_string(),
            scripts,
        })
    }

    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn connect(&self) -> Result<redis::Connection, StateError> {
        let unavailable =
            |e: redis::RedisError| StateError::Unavailable(format!("{}: {e}", self.url));
        let mut con = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(unavailable)?;
        con.set_read_timeout(Some(self.timeout))
            .map_err(unavailable)?;
        con.set_write_timeout(Some(self.timeout))
            .map_err(unavailable)?;
        for script in &self.scripts {
            script.load(&mut con).map_err(unavailable)?;
        }
        Ok(con)
    }

    /// Runs `f` on a pooled connection. A connection that saw any error is closed rather than
    /// returned (it may hold half a reply), so the next call starts clean.
    pub fn run<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StateError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut con = match pooled {
            Some(con) => con,
            None => self.connect()?,
        };
        match f(&mut con) {
            Ok(value) => {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE_CONNECTIONS {
                    idle.push(con);
                }
                Ok(value)
            }
            Err(e) => Err(classify(&self.url, e)),
        }
    }

    /// One `PING` (what readiness checks).
    pub fn ping(&self) -> Result<(), StateError> {
        self.run(|con| redis::cmd("PING").query::<String>(con))
            .map(|_| ())
    }
}

/// A script's `COLD …` error reply means empty state; everything else on the wire means
/// Redis is unavailable for this call.
fn classify(url: &str, e: redis::RedisError) -> StateError {
    let text = e.to_string();
    if text.contains("COLD") {
        StateError::Cold(text)
    } else {
        StateError::Unavailable(format!("{url}: {text}"))
    }
}

/// The Redis URL tests run against (`MLSD_REDIS_URL`, set by `.ci/run` after it starts one),
/// or `None` with a line saying the test is skipped.
pub fn test_url(test: &str) -> Option<String> {
    match std::env::var("MLSD_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "SKIPPED {test}: MLSD_REDIS_URL is unset (scripts/redis.sh start prints one)"
            );
            None
        }
    }
}

/// A key prefix no other test or process uses (tests share one Redis and run in parallel).
pub fn unique_prefix(name: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "mlsd-test:{name}:{}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Deletes every key under `prefix` (SCAN, not KEYS: it does not block the server).
pub fn delete_prefix(state: &RedisState, prefix: &str) -> Result<usize, StateError> {
    state.run(|con| {
        let mut cursor = 0u64;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query(con)?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL").arg(&keys).query::<usize>(con)?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    })
}

impl From<StateError> for crate::serve::ApiError {
    /// Always a 503: the request was fine, this replica cannot answer it now (a balancer
    /// retries it elsewhere, a client later).
    fn from(e: StateError) -> Self {
        use axum::http::StatusCode;
        let code = match e {
            StateError::Unavailable(_) => "state_unavailable",
            StateError::Cold(_) => "state_cold",
            StateError::Malformed(_) => "state_malformed",
        };
        crate::serve::ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, e.to_string())
    }
}

/// Where a server keeps its online state (`--state`).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StateBackend {
    /// In the server's memory (the default): fastest, gone on restart, one replica's own.
    #[default]
    InMemory,
    /// In Redis, shared by every replica pointing at it.
    Redis {
        url: String,
        /// Keys start with this (`mlsd:<design>` by default), so designs and tests can share
        /// one Redis.
        prefix: String,
        /// The budget of one round trip; past it the request is shed with 503.
        timeout: Duration,
    },
}

impl StateBackend {
    /// `memory` or a `redis://host:port[/db]` URL, with `design`'s default key prefix and
    /// `timeout` per round trip.
    pub fn parse(value: &str, design: &str, timeout: Duration) -> Result<Self, String> {
        match value {
            "memory" | "" => Ok(StateBackend::InMemory),
            url if url.starts_with("redis://") => Ok(StateBackend::Redis {
                url: url.to_string(),
                prefix: format!("mlsd:{design}"),
                timeout,
            }),
            other => Err(format!(
                "--state {other:?}: expected `memory` or a redis://host:port URL"
            )),
        }
    }

    /// What `/ready` and logs call it.
    pub fn describe(&self) -> String {
        match self {
            StateBackend::InMemory => "memory".into(),
            StateBackend::Redis { url, prefix, .. } => format!("{url} ({prefix}:*)"),
        }
    }
}
