//! Safe rollout, the same for every design: a candidate version moves
//!
//! ```text
//! registered ─► shadow ─► canary 10 % ─► canary 25 % ─► canary 50 % ─► promoted
//!                  │            │              │              │
//!                  ▼            └──────────────┴──────────────┴──► rolled back
//!               rejected
//! ```
//!
//! one stage at a time, each move a [`Decision`] with its reason and the evidence it was made
//! on, appended to a JSON Lines [`DecisionLog`]. [`Gates`] say what a stage must show before the
//! candidate moves on: enough evaluated traffic, no error or latency budget broken, decisions that
//! agree with the primary's, scores distributed like the primary's on the same requests, and a
//! guardrail metric no worse than the primary's by more than a margin (once labels have landed).
//!
//! Talking points:
//! - shadow before canary: in shadow the candidate scores real requests off the answer path, so a
//!   broken candidate is caught before any user sees one of its answers (`rejected`);
//! - canary by entity, not by request: [`in_canary`] hashes the card / user / machine, so one
//!   customer sees one model (a per-request coin flip would mix them, and hide per-entity harm);
//! - automatic rollback: a canary that breaks a gate goes back to the last good version at the
//!   next check, with the evidence in the log (KServe pins traffic back; Flagger rolls back after
//!   failed checks — its defaults inspired ours: success ≥ 99 %, p99 ≤ 500 ms, steps of 10 %).
//!
//! Simplification: the evidence is gathered by the caller (a server's per-version counters or
//! the `operate` replay); this module only decides, so it is the same for all of them.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a candidate version is in its rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "stage", content = "percent")]
pub enum Stage {
    Registered,
    /// Scores a copy of the traffic; its answers are never returned.
    Shadow,
    /// Answers this share (%) of the entities.
    Canary(u8),
    Promoted,
    /// Stopped in shadow: no user saw one of its answers.
    Rejected,
    /// Stopped during the canary: traffic went back to the primary.
    RolledBack,
}

impl Stage {
    /// The share of traffic this stage answers (%).
    pub fn traffic_percent(self) -> u8 {
        match self {
            Stage::Canary(p) => p,
            Stage::Promoted => 100,
            _ => 0,
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Stage::Promoted | Stage::Rejected | Stage::RolledBack)
    }
}

/// What a stage must show before the candidate moves on (a design picks its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gates {
    /// Requests (or labelled rows) a stage must evaluate before any decision.
    pub min_evaluated: u64,
    /// Largest share of failed requests (errors / evaluated).
    pub max_error_rate: f64,
    /// Largest p99 latency of the candidate's answers, in milliseconds.
    pub max_p99_ms: f64,
    /// Largest share of requests where the candidate's decision differs from the primary's.
    pub max_disagreement: f64,
    /// How far the candidate's guardrail metric may trail the primary's (same units).
    pub guardrail_margin: f64,
    /// `true` when a larger guardrail metric is better (AUC, AP, nDCG); `false` for RMSE.
    pub higher_is_better: bool,
    /// The canary's traffic shares, in order (%), each at most 100.
    pub canary_steps: Vec<u8>,
    /// Largest population stability index of the candidate's scores against the primary's
    /// on the same requests (0.25: the usual "significant shift").
    #[serde(default = "default_max_score_shift")]
    pub max_score_shift: f64,
    /// Labelled rows (paired: both versions scored them) the rollout must have before the
    /// canary widens past its first step or the candidate is promoted; 0: no labels needed
    /// (a server whose labels never come back to it).
    #[serde(default)]
    pub min_labelled: u64,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            min_evaluated: 1_000,
            max_error_rate: 0.01,
            max_p99_ms: 500.0,
            max_disagreement: 0.10,
            guardrail_margin: 0.02,
            higher_is_better: true,
            canary_steps: vec![10, 25, 50],
            max_score_shift: default_max_score_shift(),
            min_labelled: 0,
        }
    }
}

fn default_max_score_shift() -> f64 {
    0.25
}

/// What was observed of the candidate during its current stage (the caller resets it when
/// the stage changes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub evaluated: u64,
    pub errors: u64,
    pub p99_ms: f64,
    /// Share of requests where the candidate's decision differs from the primary's.
    pub disagreement: f64,
    /// PSI of the candidate's scores against the primary's on the same requests (`None`:
    /// not measured).
    #[serde(default)]
    pub score_shift: Option<f64>,
    /// The guardrail metric on labelled traffic, when labels have landed.
    pub candidate_metric: Option<f64>,
    pub primary_metric: Option<f64>,
    /// Rows both versions scored whose labels have landed (what the metrics are computed on).
    #[serde(default)]
    pub labelled: u64,
}

/// One move of one version, with why and on what evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub version: String,
    /// When, in the caller's clock (a timestamp, or a simulated day).
    pub at: String,
    pub from: Stage,
    pub to: Stage,
    pub reason: String,
    pub evidence: Evidence,
}

/// One candidate's rollout.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub version: String,
    pub stage: Stage,
    gates: Gates,
}

impl Rollout {
    pub fn new(version: impl Into<String>, gates: Gates) -> Rollout {
        Rollout {
            version: version.into(),
            stage: Stage::Registered,
            gates,
        }
    }

    /// Registered → shadow.
    pub fn start(&mut self, at: &str) -> Option<Decision> {
        (self.stage == Stage::Registered)
            .then(|| self.move_to(Stage::Shadow, at, "rollout started", Evidence::default()))
    }

    /// One check of the current stage on `evidence`: the move it causes, if any (none while
    /// the stage has seen too little traffic, or once the rollout is over).
    pub fn check(&mut self, evidence: &Evidence, at: &str) -> Option<Decision> {
        if self.stage.is_final() || self.stage == Stage::Registered {
            return None;
        }
        if evidence.evaluated < self.gates.min_evaluated {
            return None;
        }
        // Talking point: when labels come back, disagreeing with the primary is a reason to
        // wait for them, not a verdict — after a drift the primary is the one that is wrong.
        let disagrees = evidence.disagreement > self.gates.max_disagreement;
        if disagrees && self.labels_decide() && evidence.labelled < self.gates.min_labelled {
            return None;
        }
        // Talking point: a breach in shadow rejects (no user saw an answer); in the canary it
        // rolls back to the primary at once, with the evidence in the log.
        let to = match (self.breach(evidence), self.stage) {
            (Some(why), Stage::Shadow) => {
                return Some(self.move_to(Stage::Rejected, at, &why, evidence.clone()))
            }
            (Some(why), _) => {
                return Some(self.move_to(Stage::RolledBack, at, &why, evidence.clone()))
            }
            (None, Stage::Shadow) => self
                .gates
                .canary_steps
                .first()
                .map_or(Stage::Promoted, |&p| Stage::Canary(p)),
            // Talking point: with delayed labels the canary waits at its first step until
            // enough of its traffic is labelled; only the realised metric sees a model that is
            // wrong in ways its scores do not show.
            (None, Stage::Canary(_)) if evidence.labelled < self.gates.min_labelled => return None,
            (None, Stage::Canary(p)) => self
                .gates
                .canary_steps
                .iter()
                .find(|&&step| step > p)
                .map_or(Stage::Promoted, |&step| Stage::Canary(step)),
            (None, _) => return None,
        };
        let reason = format!("every gate held over {} evaluated", evidence.evaluated);
        Some(self.move_to(to, at, &reason, evidence.clone()))
    }

    /// The first gate `evidence` breaks, said in words.
    fn breach(&self, e: &Evidence) -> Option<String> {
        let g = &self.gates;
        let error_rate = e.errors as f64 / e.evaluated.max(1) as f64;
        if error_rate > g.max_error_rate {
            return Some(format!("error rate {error_rate:.4} > {}", g.max_error_rate));
        }
        if e.p99_ms > g.max_p99_ms {
            return Some(format!("p99 {:.1} ms > {} ms", e.p99_ms, g.max_p99_ms));
        }
        if e.disagreement > g.max_disagreement && !self.labels_decide() {
            return Some(format!(
                "decisions differ from the primary's on {:.3} of requests > {}",
                e.disagreement, g.max_disagreement
            ));
        }
        if let Some(psi) = e.score_shift.filter(|&psi| psi > g.max_score_shift) {
            return Some(format!(
                "its scores shifted from the primary's: PSI {psi:.3} > {}",
                g.max_score_shift
            ));
        }
        if let (Some(candidate), Some(primary)) = (e.candidate_metric, e.primary_metric) {
            let shortfall = if g.higher_is_better {
                primary - candidate
            } else {
                candidate - primary
            };
            if shortfall > g.guardrail_margin {
                return Some(format!(
                    "guardrail metric {candidate:.4} vs the primary's {primary:.4}: worse by more than {}",
                    g.guardrail_margin
                ));
            }
        }
        None
    }

    /// Labels come back to this rollout, so the guardrail metric judges a disagreeing
    /// candidate (without them, disagreement alone stops it).
    fn labels_decide(&self) -> bool {
        self.gates.min_labelled > 0
    }

    fn move_to(&mut self, to: Stage, at: &str, reason: &str, evidence: Evidence) -> Decision {
        let from = std::mem::replace(&mut self.stage, to);
        Decision {
            version: self.version.clone(),
            at: at.to_string(),
            from,
            to,
            reason: reason.to_string(),
            evidence,
        }
    }
}

/// The entity's bucket in 0..100: a fixed hash (SplitMix64's finaliser), the same in every
/// process and release, so an entity stays on one side of a canary as it widens.
pub fn canary_bucket(entity: u64) -> u8 {
    let mut z = entity.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % 100) as u8
}

/// An entity id for a design whose entity is text (a topic, a client name): FNV-1a 64 of its
/// bytes, the same in every process and release.
pub fn entity_of(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Whether `entity` is answered by a canary that takes `percent` % of the traffic. Widening
/// the canary only adds entities: one in the 10 % stays in at 25 %.
pub fn in_canary(entity: u64, percent: u8) -> bool {
    // Talking point: canary by entity — one card, user or machine sees one model.
    canary_bucket(entity) < percent
}

/// Decisions appended as JSON Lines, one object per line, flushed to disk per decision.
#[derive(Debug, Clone)]
pub struct DecisionLog {
    path: PathBuf,
}

impl DecisionLog {
    pub fn new(path: impl Into<PathBuf>) -> DecisionLog {
        DecisionLog { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, decision: &Decision) -> Result<()> {
        let io = |e| Error::io(format!("appending to {}", self.path.display()), e);
        let mut line = serde_json::to_vec(decision)
            .map_err(|e| Error::Config(format!("a decision that cannot be written: {e}")))?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_data().map_err(io)
    }

    /// Every decision in the log, in order; a torn last line (a crash mid-append) is skipped.
    pub fn read(&self) -> Result<Vec<Decision>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("reading {}", self.path.display()), e)),
        };
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy(evaluated: u64) -> Evidence {
        Evidence {
            evaluated,
            errors: 0,
            p99_ms: 3.0,
            disagreement: 0.02,
            candidate_metric: Some(0.87),
            primary_metric: Some(0.86),
            score_shift: Some(0.01),
            labelled: 0,
        }
    }

    #[test]
    fn a_canary_waits_at_its_first_step_for_labelled_evidence() {
        let gates = Gates {
            min_labelled: 500,
            ..Gates::default()
        };
        let mut r = Rollout::new("v2", gates);
        r.start("d0");
        let unlabelled = Evidence {
            candidate_metric: None,
            primary_metric: None,
            ..healthy(5_000)
        };
        assert_eq!(
            r.check(&unlabelled, "d1").map(|d| d.to),
            Some(Stage::Canary(10))
        );
        assert_eq!(
            r.check(&unlabelled, "d2"),
            None,
            "no labels yet: stays at 10 %"
        );
        let labelled = Evidence {
            labelled: 500,
            ..healthy(5_000)
        };
        assert_eq!(
            r.check(&labelled, "d9").map(|d| d.to),
            Some(Stage::Canary(25))
        );

        // A candidate that disagrees waits for labels, then the metric decides either way.
        let mut r = Rollout::new(
            "v3",
            Gates {
                min_labelled: 500,
                ..Gates::default()
            },
        );
        r.start("d0");
        let disagreeing = Evidence {
            disagreement: 0.3,
            ..unlabelled
        };
        assert_eq!(r.check(&disagreeing, "d1"), None, "waits for labels");
        let right = Evidence {
            disagreement: 0.3,
            ..labelled.clone()
        };
        assert_eq!(r.check(&right, "d2").map(|d| d.to), Some(Stage::Canary(10)));
        let wrong = Evidence {
            candidate_metric: Some(0.70),
            ..right
        };
        let d = r.check(&wrong, "d3").expect("a decision");
        assert_eq!(d.to, Stage::RolledBack);
        assert!(d.reason.contains("guardrail"), "{}", d.reason);
    }

    #[test]
    fn a_healthy_candidate_walks_every_canary_step_to_promoted() {
        let mut r = Rollout::new("v0002", Gates::default());
        assert_eq!(r.start("day 1").map(|d| d.to), Some(Stage::Shadow));
        // Too little traffic: no decision yet.
        assert_eq!(r.check(&healthy(999), "day 1"), None);
        let mut path = vec![r.stage];
        while let Some(d) = r.check(&healthy(5_000), "day 2") {
            path.push(d.to);
        }
        assert_eq!(
            path,
            [
                Stage::Shadow,
                Stage::Canary(10),
                Stage::Canary(25),
                Stage::Canary(50),
                Stage::Promoted
            ]
        );
        assert_eq!(r.check(&healthy(5_000), "day 3"), None, "promoted is final");
    }

    #[test]
    fn a_broken_candidate_is_rejected_in_shadow_and_a_bad_canary_rolled_back() {
        let mut r = Rollout::new("v0003", Gates::default());
        r.start("day 1");
        let broken = Evidence {
            candidate_metric: Some(0.50),
            ..healthy(5_000)
        };
        let d = r.check(&broken, "day 2").expect("a decision");
        assert_eq!((d.from, d.to), (Stage::Shadow, Stage::Rejected));
        assert!(d.reason.contains("guardrail"), "{}", d.reason);
        assert_eq!(Stage::Rejected.traffic_percent(), 0);

        let mut r = Rollout::new("v0004", Gates::default());
        r.start("day 1");
        r.check(&healthy(5_000), "day 2");
        assert_eq!(r.stage, Stage::Canary(10));
        let slow = Evidence {
            p99_ms: 900.0,
            ..healthy(5_000)
        };
        let d = r.check(&slow, "day 3").expect("a decision");
        assert_eq!((d.from, d.to), (Stage::Canary(10), Stage::RolledBack));
        assert!(d.reason.contains("p99"), "{}", d.reason);
        for (errors, disagreement, psi, why) in [
            (100, 0.0, 0.0, "error rate"),
            (0, 0.5, 0.0, "differ"),
            (0, 0.0, 0.9, "PSI"),
        ] {
            let mut r = Rollout::new("v0005", Gates::default());
            r.start("day 1");
            let e = Evidence {
                errors,
                disagreement,
                score_shift: Some(psi),
                ..healthy(5_000)
            };
            let d = r.check(&e, "day 2").expect("a decision");
            assert!(d.reason.contains(why), "{}", d.reason);
        }
    }

    #[test]
    fn lower_is_better_metrics_trip_the_guardrail_the_other_way() {
        let gates = Gates {
            higher_is_better: false,
            guardrail_margin: 0.01,
            ..Gates::default()
        };
        let rmse = |candidate, primary| Evidence {
            candidate_metric: Some(candidate),
            primary_metric: Some(primary),
            ..healthy(5_000)
        };
        let mut r = Rollout::new("v2", gates.clone());
        r.start("t0");
        assert_eq!(
            r.check(&rmse(0.93, 0.95), "t1").map(|d| d.to),
            Some(Stage::Canary(10))
        );
        let mut r = Rollout::new("v3", gates);
        r.start("t0");
        assert_eq!(
            r.check(&rmse(0.97, 0.95), "t1").map(|d| d.to),
            Some(Stage::Rejected)
        );
    }

    #[test]
    fn canary_membership_is_stable_nested_and_close_to_its_share() {
        let n = 100_000u64;
        for percent in [10u8, 25, 50] {
            let share = (0..n).filter(|&e| in_canary(e, percent)).count() as f64 / n as f64;
            assert!(
                (share - f64::from(percent) / 100.0).abs() < 0.01,
                "{percent}: {share}"
            );
        }
        // Widening only adds entities, and the answer never changes for an entity.
        assert!((0..n).all(|e| !in_canary(e, 10) || in_canary(e, 25)));
        assert_eq!(canary_bucket(42), canary_bucket(42));
        assert_eq!(canary_bucket(42), 13, "the hash is part of the contract");
        // FNV-1a's published test vectors.
        assert_eq!(entity_of(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(entity_of(b"a"), 0xAF63_DC4C_8601_EC8C);
    }

    #[test]
    fn the_decision_log_round_trips_and_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = DecisionLog::new(dir.path().join("decisions.jsonl"));
        assert!(log.read().expect("empty").is_empty());
        let mut r = Rollout::new("v0002", Gates::default());
        let started = r.start("day 1").expect("start");
        let moved = r.check(&healthy(5_000), "day 2").expect("move");
        log.append(&started).expect("append");
        log.append(&moved).expect("append");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(log.path())
            .expect("open");
        file.write_all(b"{\"version\": \"v00").expect("torn write");
        assert_eq!(log.read().expect("read"), [started, moved]);
        let first = std::fs::read_to_string(log.path()).expect("text");
        assert!(first.starts_with("{\"version\":\"v0002\""), "{first}");
    }
}
