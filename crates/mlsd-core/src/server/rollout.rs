//! Shadow and canary in the server skeleton, for every design: a candidate version next to the
//! serving one, moved through [`crate::lifecycle`]'s stages by the evidence its requests leave.
//!
//! ```text
//! POST /admin/models/{v}/rollout ─► shadow: the candidate scores a copy of the requests on
//!                                   the mirror thread; the answer is always the primary's
//!                      gates hold ─► canary p %: entities hashed into the canary get the
//!                                   candidate's answer (the primary scores them too, to compare)
//!                      gates hold ─► promoted (registry pointer moved, like a promote)
//!                     a gate breaks ─► rejected / rolled back (the primary answers everyone)
//! ```
//!
//! A design's handler asks [`Models::route`] once per request: who answers an entity, and
//! whether a candidate wants a copy; it reports what it saw with [`Candidate::record`]. The
//! registry watcher checks the gates every tick; each decision goes to
//! `<registry>/<design>/decisions.jsonl` and to `GET /admin/rollout`.
//!
//! Talking points: shadow traffic off the answer path (a bounded mirror queue: when it is
//! full, the copy is dropped and counted, never the request); a canary by entity; automatic
//! rollback on error rate, latency or disagreement, with no failed request — a candidate that
//! fails on a canary request is answered by the primary; a score-shift gate (PSI of the
//! candidate's scores against the primary's on the same requests) beside disagreement, which
//! is blind when the decision is rare.
//!
//! Simplification: the server's gates have no labels (fraud's arrive days later, through
//! `/v1/fraud/labels`); the realised-metric gate runs in `mlsd operate`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::models::registry_error;
use super::{Models, Recent};
use crate::design::{self, Artifact, Versioned};
use crate::drift::population_stability_index;
use crate::lifecycle::{in_canary, Decision, Evidence, Rollout, Stage};
use crate::serve::ApiError;

/// Copies of requests waiting for a shadow to score them; past this they are dropped.
const MIRROR_QUEUE: usize = 64;
/// Candidate latencies and score pairs kept for the p99 and score-shift gates (the newest).
const KEPT: usize = 4_096;

type Job = Box<dyn FnOnce() + Send>;

/// One thread that runs shadow scoring, fed by a bounded queue.
pub(super) struct Mirror {
    queue: SyncSender<Job>,
}

impl Mirror {
    pub(super) fn spawn(design: &str) -> Mirror {
        let (queue, jobs) = sync_channel::<Job>(MIRROR_QUEUE);
        let spawned = std::thread::Builder::new()
            .name(format!("{design}-mirror"))
            .spawn(move || {
                while let Ok(job) = jobs.recv() {
                    job();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "mlsd::models", error = %e, "no mirror thread: shadow copies will be dropped");
        }
        Mirror { queue }
    }
}

/// The version being rolled out, at its current stage, and what its requests showed.
pub struct Candidate<M> {
    pub model: Arc<Versioned<M>>,
    /// 0 in shadow; the canary's share of entities otherwise.
    pub percent: u8,
    evaluated: AtomicU64,
    differ: AtomicU64,
    errors: AtomicU64,
    /// The newest scoring times (µs) and scores of both versions on the same requests.
    latencies_us: Recent<u64>,
    primary_scores: Recent<f64>,
    scores: Recent<f64>,
}

impl<M> Candidate<M> {
    fn new(model: Arc<Versioned<M>>, percent: u8) -> Candidate<M> {
        Candidate {
            model,
            percent,
            evaluated: AtomicU64::new(0),
            differ: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latencies_us: Recent::new(KEPT),
            primary_scores: Recent::new(KEPT),
            scores: Recent::new(KEPT),
        }
    }

    /// Whether this candidate answers `entity` (never in shadow).
    pub fn answers(&self, entity: u64) -> bool {
        in_canary(entity, self.percent)
    }

    /// What both versions scored on the same requests (for the score-shift gate; only the
    /// newest [`KEPT`] of each are kept).
    pub fn compare_scores(&self, primary: &[f64], candidate: &[f64]) {
        self.primary_scores.extend(primary.iter().copied());
        self.scores.extend(candidate.iter().copied());
    }

    /// One comparison on the same requests, as every design's server makes it: the
    /// candidate's scores on `/metrics` under `role` (`shadow` or `canary`), both sides' scores
    /// for the score-shift gate, and `rows` answers of which `differ` were decided otherwise.
    pub fn compared(
        &self,
        metrics: &crate::serve::Metrics,
        role: &'static str,
        (primary, mine): (&[f64], &[f64]),
        (rows, differ): (u64, u64),
        took: Duration,
    ) {
        metrics.observe_version(&self.model.version, role, mine, took.as_secs_f64());
        self.compare_scores(primary, mine);
        self.record(rows, differ, 0, took);
    }

    /// `rows` the candidate scored in `took`, `differ` of them decided otherwise than the
    /// primary, `errors` of them failed.
    pub fn record(&self, rows: u64, differ: u64, errors: u64, took: Duration) {
        self.evaluated.fetch_add(rows, Ordering::Relaxed);
        self.differ.fetch_add(differ, Ordering::Relaxed);
        self.errors.fetch_add(errors, Ordering::Relaxed);
        self.latencies_us.extend([took.as_micros() as u64]);
    }

    fn evidence(&self) -> Evidence {
        let evaluated = self.evaluated.load(Ordering::Relaxed);
        let mut l = self.latencies_us.snapshot();
        l.sort_unstable();
        let p99 = l
            .get((l.len() * 99 / 100).min(l.len().saturating_sub(1)))
            .map_or(0.0, |&us| us as f64 / 1_000.0);
        Evidence {
            evaluated,
            errors: self.errors.load(Ordering::Relaxed),
            p99_ms: p99,
            disagreement: self.differ.load(Ordering::Relaxed) as f64 / evaluated.max(1) as f64,
            score_shift: self.score_shift(),
            ..Evidence::default()
        }
    }

    /// PSI of the candidate's scores against the primary's, over ten bins at the primary's
    /// deciles (`None` under 100 pairs).
    fn score_shift(&self) -> Option<f64> {
        let (primary, candidate) = (self.primary_scores.snapshot(), self.scores.snapshot());
        if primary.len() < 100 || candidate.len() < 100 {
            return None;
        }
        let mut sorted = primary.clone();
        sorted.sort_by(f64::total_cmp);
        let edges: Vec<f64> = (1..10).map(|i| sorted[i * sorted.len() / 10]).collect();
        let shares = |xs: &[f64]| {
            let mut counts = [0.0; 10];
            for x in xs {
                counts[edges.partition_point(|e| e < x)] += 1.0;
            }
            counts.map(|c| c / xs.len() as f64)
        };
        Some(population_stability_index(
            &shares(&primary),
            &shares(&candidate),
        ))
    }
}

/// Who answers a request: the primary, and the candidate if one is rolling out.
pub struct Route<M> {
    pub primary: Arc<Versioned<M>>,
    pub candidate: Option<Arc<Candidate<M>>>,
}

/// `GET /admin/rollout`, and the answer to starting one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RolloutStatus {
    pub serving: String,
    /// The candidate and its stage (`null` when none is rolling out).
    pub candidate: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub stage: Option<Stage>,
    /// The server's decisions, oldest first (from the decision log).
    #[schema(value_type = Vec<Object>)]
    pub decisions: Vec<Decision>,
}

impl<M: Artifact> Models<M> {
    /// The primary and the candidate (if any) for one request.
    pub fn route(&self) -> Route<M> {
        Route {
            primary: self.get(),
            candidate: self.candidate.get().as_ref().clone(),
        }
    }

    /// Says this design's handlers route requests through [`Models::route`] and report to the
    /// candidate; until a design does, starting a rollout answers 409 (its candidate would
    /// never gather evidence).
    pub fn enable_rollouts(&self) {
        self.rollouts_enabled.store(true, Ordering::Relaxed);
    }

    /// Runs `work` (a shadow's scoring) on the mirror thread; `false` when the queue is full
    /// and the copy was dropped (counted in `shadow_dropped_total`).
    pub fn mirror(&self, work: impl FnOnce() + Send + 'static) -> bool {
        match self.mirror.queue.try_send(Box::new(work)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.metrics.add_counter(
                    "shadow_dropped_total",
                    "Request copies a shadow candidate did not score because its queue was full.",
                    1.0,
                );
                false
            }
        }
    }

    /// Starts rolling out `version` (into shadow); 409 while another rollout runs or when the
    /// version cannot replace the serving one.
    pub fn start_rollout(&self, version: &str) -> Result<RolloutStatus, ApiError> {
        if !self.rollouts_enabled.load(Ordering::Relaxed) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "rollout_unsupported",
                format!(
                    "the {} server does not shadow or canary yet; use promote",
                    M::DESIGN
                ),
            ));
        }
        let mut control = self.rollout.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = control.as_ref() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "rollout_in_progress",
                format!("{} is rolling out; wait for its outcome", r.version),
            ));
        }
        let serving = self.get();
        if serving.version == version {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "refused",
                format!("{version} is already serving"),
            ));
        }
        let next = design::load::<M>(&self.registry, Some(version)).map_err(registry_error)?;
        if let Some(why) = serving.model.refuses(&next.model) {
            return Err(ApiError::new(StatusCode::CONFLICT, "refused", why));
        }
        let mut rollout = Rollout::new(version, self.gates.clone());
        if let Some(d) = rollout.start(&now()) {
            self.decide(&d);
        }
        self.candidate
            .replace(Some(Arc::new(Candidate::new(Arc::new(next), 0))));
        *control = Some(rollout);
        drop(control);
        self.rollout_status()
    }

    /// One check of the running rollout's gates (the registry watcher calls it every tick).
    pub(super) fn check_rollout(&self) {
        let mut control = self.rollout.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(rollout), Some(candidate)) =
            (control.as_mut(), self.candidate.get().as_ref().clone())
        else {
            return;
        };
        let evidence = candidate.evidence();
        self.publish(&evidence);
        let Some(d) = rollout.check(&evidence, &now()) else {
            return;
        };
        self.decide(&d);
        match d.to {
            Stage::Canary(p) => {
                // A new stage gathers its own evidence.
                self.candidate
                    .replace(Some(Arc::new(Candidate::new(candidate.model.clone(), p))));
            }
            Stage::Promoted => {
                *control = None;
                drop(control);
                if let Err(e) = super::ModelAdmin::promote(self, &d.version) {
                    // The log must not claim a promotion that did not happen.
                    self.decide(&Decision {
                        version: d.version.clone(),
                        at: now(),
                        from: Stage::Promoted,
                        to: Stage::RolledBack,
                        reason: format!("the promotion failed: {}", e.message),
                        evidence,
                    });
                }
                self.candidate.replace(None);
            }
            _ => {
                *control = None;
                self.candidate.replace(None);
            }
        }
    }

    /// The candidate's evidence at its current stage, as gauges on `/metrics`.
    fn publish(&self, e: &Evidence) {
        let m = &self.metrics;
        let error_rate = e.errors as f64 / e.evaluated.max(1) as f64;
        for (name, help, value) in [
            (
                "rollout_score_shift",
                "PSI of the candidate's scores against the primary's on the same requests.",
                e.score_shift.unwrap_or(0.0),
            ),
            (
                "rollout_stage_requests",
                "Requests the candidate scored at its current stage.",
                e.evaluated as f64,
            ),
            (
                "rollout_disagreement",
                "Share of the candidate's requests decided otherwise than by the primary.",
                e.disagreement,
            ),
            (
                "rollout_error_rate",
                "Share of the candidate's requests it failed to score.",
                error_rate,
            ),
            (
                "rollout_p99_seconds",
                "p99 of the candidate's scoring calls at its current stage.",
                e.p99_ms / 1_000.0,
            ),
        ] {
            m.set_gauge(name, help, value);
        }
    }

    fn decide(&self, d: &Decision) {
        tracing::info!(target: "mlsd::models", design = M::DESIGN, version = %d.version, from = ?d.from, to = ?d.to, reason = %d.reason, "rollout decision");
        if let Err(e) = self.decisions.append(d) {
            tracing::warn!(target: "mlsd::models", error = %e, "decision not logged");
        }
        self.metrics.set_gauge(
            "rollout_candidate_percent",
            "Share of entities the candidate answers (0 in shadow or with no candidate).",
            f64::from(d.to.traffic_percent() % 100),
        );
    }

    pub fn rollout_status(&self) -> Result<RolloutStatus, ApiError> {
        let candidate = self.candidate.get().as_ref().clone();
        let stage = self
            .rollout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|r| r.stage);
        Ok(RolloutStatus {
            serving: self.get().version.clone(),
            candidate: candidate.map(|c| c.model.version.clone()),
            stage,
            decisions: self.decisions.read().map_err(ApiError::internal)?,
        })
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
