//! Stage 5 — the batch job: every user's top N, precomputed into a snapshot the server loads.
//!
//! Talking points:
//! - **batch vs real-time**: a lookup in a precomputed list is constant-time and cannot be
//!   overloaded by the model, but it is stale until the next run — it does not know the
//!   session happening now, nor products added since;
//! - **distributed processing**: users are independent, so the job partitions them across
//!   workers (threads here; Spark or Beam executors over a cluster in production) and the
//!   snapshot is the concatenation of the partitions;
//! - **versioning**: a snapshot names the registry version and cutoff of the model it was
//!   computed with; the server refuses one that does not match its model.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::two_stage::{Mode, Recommendation, TwoStage};
use crate::{Error, Result};

/// Every user's precomputed list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The registry version of the model that computed it (empty in files written before
    /// versions were recorded).
    #[serde(default)]
    pub model_version: String,
    /// The model's cutoff (Unix seconds): the lists know nothing after it.
    pub model_as_of: i64,
    /// Items per list.
    pub k: usize,
    /// Indexed by user id (entry 0 unused; users with no history get the cold-start list).
    pub lists: Vec<Vec<Recommendation>>,
    /// Wall-clock seconds the job took and the workers it used.
    pub seconds: f64,
    pub workers: usize,
}

impl Snapshot {
    /// The first `k` of `user`'s list; `None` for users the snapshot does not know.
    pub fn lookup(&self, user: u32, k: usize) -> Option<&[Recommendation]> {
        let list = self.lists.get(user as usize).filter(|_| user > 0)?;
        Some(&list[..k.min(list.len())])
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Config(e.to_string()))?;
        std::fs::write(path, bytes).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a snapshot and checks it was computed with `model`, registry version `version`.
    pub fn read(path: &Path, model: &TwoStage, version: &str) -> Result<Snapshot> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| Error::Input {
            path: path.to_path_buf(),
            why: format!("not a snapshot: {e}"),
        })?;
        if snapshot.model_version != version || snapshot.model_as_of != model.now {
            return Err(Error::Input {
                path: path.to_path_buf(),
                why: format!(
                    "computed with model {:?} as of {}; this server serves {version} as of {}",
                    snapshot.model_version, snapshot.model_as_of, model.now
                ),
            });
        }
        Ok(snapshot)
    }
}

/// Runs the batch job: `k` items for every user the model knows, over `workers` threads.
/// The snapshot names no version until the model is registered (the registry fills it in).
pub fn precompute(model: &TwoStage, k: usize, workers: usize) -> Result<Snapshot> {
    let t = Instant::now();
    let users: Vec<u32> = (0..model.users.len() as u32).collect();
    let workers = workers.clamp(1, users.len().max(1));
    let chunk = users.len().div_ceil(workers).max(1);
    // Talking point [distributed]: partition by user; no coordination between partitions.
    let parts: Vec<Vec<Vec<Recommendation>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = users
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&u| match u {
                            0 => Vec::new(),
                            u => model.recommend(u, &model.users[u as usize], k, Mode::Batch),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .collect::<std::result::Result<Vec<_>, _>>()
    })
    .map_err(|_| Error::Config("a batch worker panicked; no snapshot written".into()))?;
    Ok(Snapshot {
        model_version: String::new(),
        model_as_of: model.now,
        k,
        lists: parts.into_iter().flatten().collect(),
        seconds: t.elapsed().as_secs_f64(),
        workers,
    })
}
