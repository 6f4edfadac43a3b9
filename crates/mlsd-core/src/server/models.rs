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

use crate::design::{self, Artifact, Versioned};
use crate::registry::Registry;
use crate::serve::{ApiError, Metrics, Slot};

type SwapHook = Box<dyn Fn(&str) + Send + Sync>;

/// The serving model of design `M`: a registry version in a hot-swappable slot.
pub struct Models<M: Artifact> {
    registry: Registry,
    slot: Slot<Versioned<M>>,
    metrics: Arc<Metrics>,
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
        Ok(Models::with(registry, metrics, current))
    }

    /// Serves `current`, already loaded (and follows the registry from then on).
    pub fn with(registry: Registry, metrics: Arc<Metrics>, current: Versioned<M>) -> Models<M> {
        metrics.set_model_version(&current.version);
        Models {
            registry,
            slot: Slot::new(current),
            metrics,
            hooks: Mutex::new(Vec::new()),
            changing: Mutex::new(()),
        }
    }

    /// The version serving now; held by the caller for as long as it needs it.
    pub fn get(&self) -> Arc<Versioned<M>> {
        // Talking point: hot swap — one Arc per request, so a concurrent promote or rollback
        // cannot change the model mid-request, and each answer names the version that scored it.
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
        if self.get().version == version {
            return Ok(());
        }
        let next = design::load::<M>(&self.registry, Some(version)).map_err(registry_error)?;
        if let Some(why) = self.get().model.refuses(&next.model) {
            return Err(ApiError::new(StatusCode::CONFLICT, "refused", why));
        }
        self.metrics.set_model_version(&next.version);
        self.slot.replace(next);
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
            loop {
                tick.tick().await;
                let Some(models) = weak.upgrade() else { break };
                // Loading a version reads and decodes files: off the async workers.
                let checked = tokio::task::spawn_blocking(move || models.follow_pointer()).await;
                if let Ok(Err(e)) = checked {
                    eprintln!("model watch: {}", e.message);
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
}

impl<M: Artifact> ModelAdmin for Models<M> {
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
        let pointer = self.registry.rollback(M::DESIGN).map_err(registry_error)?;
        let version = pointer.current.unwrap_or_default();
        self.swap_to(&version)?;
        Ok(version)
    }
}

pub(crate) fn registry_error(e: crate::Error) -> ApiError {
    match e {
        crate::Error::VersionNotFound { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "unknown_version", e.to_string())
        }
        crate::Error::CorruptedVersion { .. }
        | crate::Error::IncompleteVersion { .. }
        | crate::Error::NothingToRollBack { .. }
        | crate::Error::Json { .. }
        | crate::Error::Config(_) => ApiError::new(StatusCode::CONFLICT, "refused", e.to_string()),
        other => ApiError::internal(other),
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
