//! The serving model of a design: a registry version in a hot-swappable slot, promote and
//! rollback that check before they move the pointer, and a watcher that follows the registry.
//!
//! Talking points: hot swap and rollback with no failed request (readers take one `Arc` per
//! request); a refused promote changes nothing; rollback is a pointer move, not a retrain.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rollout::{Candidate, Mirror, RolloutStatus};
use crate::design::{self, Artifact, Versioned};
use crate::lifecycle::{DecisionLog, Gates, Rollout};
use crate::registry::Registry;
use crate::serve::{ApiError, Metrics, Slot};

type SwapHook = Box<dyn Fn(&str) + Send + Sync>;

/// The serving model of design `M`: a registry version in a hot-swappable slot.
pub struct Models<M: Artifact> {
    pub(super) registry: Registry,
    slot: Slot<Versioned<M>>,
    pub(super) metrics: Arc<Metrics>,
    /// The version rolling out, if any, at its stage (read once per request).
    pub(super) candidate: Slot<Option<Arc<Candidate<M>>>>,
    /// Its rollout's state machine (changed by the admin route and the watcher's checks).
    pub(super) rollout: Mutex<Option<Rollout>>,
    pub(super) gates: Gates,
    pub(super) decisions: DecisionLog,
    pub(super) mirror: Mirror,
    /// Set by a design whose handlers call [`Models::route`] and report to the candidate.
    pub(super) rollouts_enabled: std::sync::atomic::AtomicBool,
    /// Run after every swap, with the new version (drop caches and windows the old model
    /// filled).
    hooks: Mutex<Vec<SwapHook>>,
    /// Held across every change (promote, rollback, the watcher's check), so the watcher never
    /// reads the pointer between a swap and the pointer write that goes with it.
    changing: Mutex<()>,
}

impl<M: Artifact> Models<M> {
    /// Loads the registry's current version of `M`'s design.
    pub fn load(registry: Registry, metrics: Arc<Metrics>) -> crate::Result<Models<M>> {
        let current = design::load::<M>(&registry, None)?;
        metrics.set_model_version(&current.version);
        let decisions = DecisionLog::new(registry.root().join(M::DESIGN).join("decisions.jsonl"));
        Ok(Models {
            registry,
            slot: Slot::new(current),
            metrics,
            candidate: Slot::new(None),
            rollout: Mutex::new(None),
            gates: Gates::default(),
            decisions,
            mirror: Mirror::spawn(M::DESIGN),
            rollouts_enabled: std::sync::atomic::AtomicBool::new(false),
            hooks: Mutex::new(Vec::new()),
            changing: Mutex::new(()),
        })
    }

    /// The gates a rollout on this server must pass (default: [`Gates::default`]).
    pub fn with_gates(mut self, gates: Gates) -> Self {
        self.gates = gates;
        self
    }

    /// The version serving now; held by the caller for as long as it needs it.
    pub fn get(&self) -> Arc<Versioned<M>> {
        // Talking point [rollback]: hot swap — one Arc per request, so a concurrent promote or
        // rollback cannot change the model mid-request, and each answer names the version that
        // scored it.
        self.slot.get()
    }

    /// Adds a hook run after every swap.
    pub fn on_swap(&self, hook: impl Fn(&str) + Send + Sync + 'static) {
        self.hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(hook));
    }

    /// Loads, verifies and decodes `version`, checks it may replace the serving one, then
    /// swaps it in. Nothing changes when any step fails.
    fn swap_to(&self, version: &str) -> Result<(), ApiError> {
        let serving = self.get();
        if serving.version == version {
            return Ok(());
        }
        let next = design::load::<M>(&self.registry, Some(version)).map_err(registry_error)?;
        if let Some(why) = serving.model.refuses(&next.model) {
            return Err(ApiError::new(StatusCode::CONFLICT, "refused", why));
        }
        self.metrics.set_model_version(&next.version);
        self.slot.replace(next);
        tracing::info!(target: "mlsd::models", design = M::DESIGN, from = %serving.version, to = version, "model swapped");
        for hook in self.hooks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            hook(version);
        }
        Ok(())
    }

    /// Swaps to the version the registry pointer names, if another one serves.
    fn follow_pointer(&self) -> Result<(), ApiError> {
        let _changing = self.change();
        let Ok(Some(current)) = self.registry.pointer(M::DESIGN).map(|p| p.current) else {
            return Ok(());
        };
        self.swap_to(&current).map_err(|e| {
            let serving = self.get().version.clone();
            ApiError::new(
                e.status,
                e.code,
                format!("{}: keeping {serving}: {}", M::DESIGN, e.message),
            )
        })
    }

    fn change(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks the registry pointer every `every` and follows it (a `mlsd models promote` or
    /// `rollback` takes effect without a restart). Ends when the server's state is dropped.
    pub fn watch(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            // The watcher retries every tick; the log says so once per distinct problem.
            let mut last_problem = String::new();
            loop {
                tick.tick().await;
                let Some(models) = weak.upgrade() else { break };
                // Loading a version reads and decodes files: off the async workers.
                let checked = tokio::task::spawn_blocking(move || {
                    models.check_rollout();
                    models.follow_pointer()
                })
                .await;
                match checked {
                    Ok(Err(e)) if e.message != last_problem => {
                        tracing::warn!(target: "mlsd::models", design = M::DESIGN, problem = %e.message, "not following the registry pointer");
                        last_problem = e.message;
                    }
                    Ok(Ok(())) => last_problem.clear(),
                    _ => {}
                }
            }
        })
    }
}

/// What the admin routes need of a design's models, whatever the design.
pub trait ModelAdmin: Send + Sync + 'static {
    fn serving(&self) -> (String, String);
    fn list(&self) -> Result<ModelsResponse, ApiError>;
    fn promote(&self, version: &str) -> Result<String, ApiError>;
    fn rollback(&self) -> Result<String, ApiError>;
    fn start_rollout(&self, version: &str) -> Result<RolloutStatus, ApiError>;
    fn rollout_status(&self) -> Result<RolloutStatus, ApiError>;
}

impl<M: Artifact> ModelAdmin for Models<M> {
    fn start_rollout(&self, version: &str) -> Result<RolloutStatus, ApiError> {
        Models::start_rollout(self, version)
    }

    fn rollout_status(&self) -> Result<RolloutStatus, ApiError> {
        Models::rollout_status(self)
    }

    fn serving(&self) -> (String, String) {
        let m = self.get();
        (m.version.clone(), m.model_name.clone())
    }

    fn list(&self) -> Result<ModelsResponse, ApiError> {
        let versions = self.registry.list(M::DESIGN).map_err(ApiError::internal)?;
        Ok(ModelsResponse {
            serving: self.get().version.clone(),
            versions: versions
                .into_iter()
                .map(|v| VersionSummary {
                    version: v.version,
                    current: v.is_current,
                    model: v.manifest.as_ref().map(|m| m.model_name.clone()),
                    metrics: v.manifest.map(|m| m.metrics),
                    problem: v.problem,
                })
                .collect(),
        })
    }

    fn promote(&self, version: &str) -> Result<String, ApiError> {
        let _changing = self.change();
        // Swap first: a version that does not load or cannot serve never reaches the pointer.
        self.swap_to(version)?;
        self.registry
            .promote(M::DESIGN, version)
            .map_err(registry_error)?;
        Ok(version.to_string())
    }

    fn rollback(&self) -> Result<String, ApiError> {
        let _changing = self.change();
        let pointer = self
            .registry
            .rollback_plan(M::DESIGN)
            .map_err(registry_error)?;
        let version = pointer.current.clone().unwrap_or_default();
        // As for promote: swap first, so a version that cannot serve never reaches the pointer.
        self.swap_to(&version)?;
        self.registry
            .commit_rollback(M::DESIGN, &pointer)
            .map_err(registry_error)?;
        Ok(version)
    }
}

/// A registry error as an answer that names versions, never the server's paths (a refusal or
/// an internal error is logged in full).
pub(crate) fn registry_error(e: crate::Error) -> ApiError {
    use crate::Error as E;
    let refused = |message: String| {
        tracing::info!(target: "mlsd::models", error = %e, "registry change refused");
        ApiError::new(StatusCode::CONFLICT, "refused", message)
    };
    match &e {
        E::VersionNotFound {
            design, version, ..
        } => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_version",
            format!("no version {version} of {design} in the registry"),
        ),
        E::CorruptedVersion {
            design,
            version,
            file,
            ..
        } => refused(format!(
            "{design}/{version} is corrupted ({file} does not match its manifest's checksum)"
        )),
        E::IncompleteVersion {
            design, version, ..
        } => refused(format!(
            "{design}/{version} is incomplete (no manifest): it was never finished"
        )),
        E::NothingToRollBack { .. } | E::Config(_) => refused(e.to_string()),
        E::Json { .. } => refused("a registry file is not valid JSON".into()),
        _ => ApiError::internal(e),
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionSummary {
    pub version: String,
    pub current: bool,
    /// Model kind; absent when the version does not verify.
    pub model: Option<String>,
    pub metrics: Option<BTreeMap<String, f64>>,
    /// Why the version cannot be loaded, if it cannot.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelsResponse {
    /// The version this server answers with (may lag the registry by one watch interval).
    pub serving: String,
    pub versions: Vec<VersionSummary>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServingResponse {
    /// The version serving after the change.
    pub serving: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{LoadedVersion, NewVersion};

    /// A served "model" that is its file's text; one whose text starts with `incompatible`
    /// may not replace a serving one (as fraud refuses another feature spec).
    struct Toy(String);

    impl Artifact for Toy {
        const DESIGN: &'static str = "toy";

        fn decode(version: &LoadedVersion) -> crate::Result<Self> {
            let text = version.file("model.txt").unwrap_or_default();
            Ok(Toy(String::from_utf8_lossy(text).into_owned()))
        }

        fn refuses(&self, next: &Self) -> Option<String> {
            next.0
                .starts_with("incompatible")
                .then(|| "incompatible".to_string())
        }
    }

    fn register(registry: &Registry, text: &str) -> String {
        let manifest = registry
            .register(NewVersion {
                design: "toy".into(),
                model_name: "toy".into(),
                code_version: "test".into(),
                training_data_sha256: "sha".into(),
                feature_names: Vec::new(),
                config: serde_json::json!({}),
                metrics: BTreeMap::new(),
                files: vec![("model.txt".into(), text.as_bytes().to_vec())],
            })
            .expect("register");
        manifest.version
    }

    #[test]
    fn a_refused_promote_or_rollback_leaves_the_model_and_the_pointer_as_they_were() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(dir.path());
        let old = register(&registry, "incompatible old");
        let new = register(&registry, "new");
        let other = register(&registry, "incompatible other");
        registry.promote("toy", &old).expect("promote");
        registry.promote("toy", &new).expect("promote");
        let models =
            Models::<Toy>::load(registry.clone(), Arc::new(Metrics::new("t"))).expect("load");
        let pointer = registry.pointer("toy").expect("pointer");
        for refused in [models.promote(&other), models.rollback()] {
            let e = refused.expect_err("refused");
            assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "refused"));
            assert_eq!(models.get().version, new);
            assert_eq!(registry.pointer("toy").expect("pointer"), pointer);
        }
    }

    #[test]
    fn a_rollout_needs_a_routing_design_runs_one_at_a_time_and_its_gates_decide() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(dir.path());
        let old = register(&registry, "old");
        let new = register(&registry, "new");
        registry.promote("toy", &old).expect("promote");
        let models = Models::<Toy>::load(registry.clone(), Arc::new(Metrics::new("t")))
            .expect("load")
            .with_gates(crate::lifecycle::Gates {
                min_evaluated: 10,
                canary_steps: vec![50],
                ..Default::default()
            });
        let code = |r: Result<RolloutStatus, ApiError>| r.map(|s| s.candidate).map_err(|e| e.code);
        assert_eq!(code(models.start_rollout(&new)), Err("rollout_unsupported"));
        models.enable_rollouts();
        assert_eq!(
            code(models.start_rollout(&old)),
            Err("refused"),
            "already serving"
        );
        assert_eq!(code(models.start_rollout(&new)), Ok(Some(new.clone())));
        assert_eq!(code(models.start_rollout(&new)), Err("rollout_in_progress"));
        // Shadow: no decision before enough evidence, then the canary.
        let candidate = || models.route().candidate.expect("a candidate");
        models.check_rollout();
        assert_eq!(candidate().percent, 0);
        candidate().record(10, 0, 0, std::time::Duration::from_millis(1));
        models.check_rollout();
        assert_eq!(candidate().percent, 50);
        // Disagreeing on half of the canary's requests: rolled back, the old model serves.
        candidate().record(10, 5, 0, std::time::Duration::from_millis(1));
        models.check_rollout();
        assert!(models.route().candidate.is_none());
        assert_eq!(models.get().version, old);
        let decisions = models.rollout_status().expect("status").decisions;
        let stages: Vec<_> = decisions.iter().map(|d| d.to).collect();
        use crate::lifecycle::Stage;
        assert_eq!(
            stages,
            [Stage::Shadow, Stage::Canary(50), Stage::RolledBack]
        );
        assert!(
            decisions[2].reason.contains("differ"),
            "{}",
            decisions[2].reason
        );

        // Decisions that agree but scores that moved: the score-shift gate rejects in shadow.
        models.start_rollout(&new).expect("a new rollout");
        let ours: Vec<f64> = (0..200).map(|i| f64::from(i) / 200.0).collect();
        let shifted: Vec<f64> = ours.iter().map(|p| (p + 0.5).min(1.0)).collect();
        candidate().compare_scores(&ours, &shifted);
        candidate().record(200, 0, 0, std::time::Duration::from_millis(1));
        models.check_rollout();
        let last = models
            .rollout_status()
            .expect("status")
            .decisions
            .pop()
            .expect("one");
        assert_eq!(last.to, Stage::Rejected);
        assert!(last.reason.contains("PSI"), "{}", last.reason);
    }

    #[test]
    fn a_rollout_whose_promotion_fails_logs_a_rollback_not_a_promotion() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = Registry::open(dir.path());
        let old = register(&registry, "old");
        let new = register(&registry, "new");
        registry.promote("toy", &old).expect("promote");
        let models = Models::<Toy>::load(registry, Arc::new(Metrics::new("t")))
            .expect("load")
            .with_gates(crate::lifecycle::Gates {
                min_evaluated: 1,
                canary_steps: vec![],
                ..Default::default()
            });
        models.enable_rollouts();
        models.start_rollout(&new).expect("in shadow");
        // The version's file changes on disk after it was loaded: it no longer verifies.
        std::fs::write(
            dir.path().join("toy").join(&new).join("model.txt"),
            "tampered",
        )
        .expect("tamper");
        let candidate = models.route().candidate.expect("a candidate");
        candidate.record(1, 0, 0, std::time::Duration::from_millis(1));
        models.check_rollout();
        let decisions = models.rollout_status().expect("status").decisions;
        let last = decisions.last().expect("a decision");
        use crate::lifecycle::Stage;
        assert_eq!((last.from, last.to), (Stage::Promoted, Stage::RolledBack));
        assert!(last.reason.contains("promotion failed"), "{}", last.reason);
        assert_eq!(models.get().version, old);
        assert!(models.route().candidate.is_none());
    }
}
