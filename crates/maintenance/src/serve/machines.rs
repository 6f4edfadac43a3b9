//! A machine's latest assessment, the alerts with today's services, and the events (a service
//! or a failure) that close a life and score its predictions late.
//!
//! Talking points: labels arrive late and censored (a failure scores a whole life, a service
//! only what was 125 cycles before it); capacity (the crews take the most urgent first).

use super::*;

fn machine_id(text: &str) -> Result<u32, ApiError> {
    mlsd_core::serve::whole_text(text)
        .and_then(|u| u32::try_from(u).ok())
        .filter(|&u| u > 0)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_machine",
                format!("machine id must be a whole number from 1, got {text:?}"),
            )
        })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MachineResponse {
    pub machine_id: u32,
    /// Machine type.
    pub kind: String,
    /// Readings in the current life.
    pub readings: u64,
    /// The latest assessment; null before the first reading of this life.
    pub latest: Option<Assessed>,
    pub model_version: String,
}

/// A machine's latest assessment.
#[utoipa::path(get, path = "/v1/maintenance/machines/{machine_id}", tag = "maintenance", params(("machine_id" = u32, Path, description = "1 or more")), responses((status = 200, description = "The machine", body = MachineResponse), (status = 400, description = "Not a machine id", body = ErrorBody), (status = 404, description = "Not in the inventory", body = ErrorBody), Shed))]
pub(super) async fn machine(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<MachineResponse>, ApiError> {
    let id = machine_id(&id)?;
    let serving = state.models.get();
    let kind = serving.model.inventory.get(&id).cloned().ok_or_else(|| {
        state.refuse(
            StatusCode::NOT_FOUND,
            "unknown_machine",
            format!("machine {id} is not in the inventory"),
        )
    })?;
    let shard = lock(&state.shards[id as usize % SHARDS]);
    let (readings, latest) = shard
        .get(&id)
        .map_or((0, None), |t| (t.state.readings, t.latest.clone()));
    Ok(Json(MachineResponse {
        machine_id: id,
        kind,
        readings,
        latest,
        model_version: serving.version.clone(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertsResponse {
    /// Machines in alert, lowest predicted RUL first.
    pub alerts: Vec<Assessed>,
    /// The first `crews_per_day` of them: today's services.
    pub today: Vec<u32>,
    pub model_version: String,
}

/// The machines the cost rule says to service, most urgent first.
#[utoipa::path(get, path = "/v1/maintenance/alerts", tag = "maintenance", responses((status = 200, description = "Machines in alert", body = AlertsResponse), Shed))]
pub(super) async fn alerts(State(state): Shared) -> Json<AlertsResponse> {
    let serving = state.models.get();
    let mut alerts: Vec<Assessed> = Vec::new();
    for shard in &state.shards {
        for (id, t) in lock(shard).iter() {
            if let Some(a) = t.latest.as_ref().filter(|a| a.alert && a.machine_id == *id) {
                alerts.push(a.clone());
            }
        }
    }
    alerts.sort_by(|a, b| {
        a.rul
            .total_cmp(&b.rul)
            .then(a.machine_id.cmp(&b.machine_id))
    });
    let today = alerts
        .iter()
        .take(serving.model.costs.crews_per_day)
        .map(|a| a.machine_id)
        .collect();
    Json(AlertsResponse {
        alerts,
        today,
        model_version: serving.version.clone(),
    })
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Planned maintenance: the life is censored here.
    Service,
    /// The machine failed: every prediction of this life gets its truth.
    Failure,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    pub kind: EventKind,
    /// The cycle it happened (at or after the last reading).
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    #[schema(minimum = 1)]
    pub cycle: u32,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventResponse {
    pub machine_id: u32,
    /// Predictions of the closed life that got a truth, and those censoring hides.
    pub scored: u64,
    pub censored: u64,
}

/// A service or a failure: the machine starts a new life, and the closed life's predictions
/// are scored against what happened (late labels, censored by services).
#[utoipa::path(post, path = "/v1/maintenance/machines/{machine_id}/events", tag = "maintenance", params(("machine_id" = u32, Path, description = "1 or more")), request_body = EventRequest, responses((status = 200, description = "Recorded", body = EventResponse), (status = 400, description = "Not a machine id", body = ErrorBody), (status = 404, description = "Not in the inventory", body = ErrorBody), (status = 422, description = "Before the machine's last reading", body = ErrorBody), JsonErrors))]
pub(super) async fn event(
    State(state): Shared,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EventRequest>,
) -> Result<Json<EventResponse>, ApiError> {
    let id = machine_id(&id)?;
    state.check_cycle(req.cycle)?;
    let serving = state.models.get();
    if !serving.model.inventory.contains_key(&id) {
        return Err(state.refuse(
            StatusCode::NOT_FOUND,
            "unknown_machine",
            format!("machine {id} is not in the inventory"),
        ));
    }
    let outcome = match state.follower.get() {
        Some(follower) => {
            let entry = super::replicated::LogEntry::Event {
                machine_id: id,
                event: req,
            };
            let position = super::replicated::append(&state, follower, &entry).await?;
            super::replicated::event_outcome(&state, position)?
        }
        None => state.close_life(&serving.model, id, &req),
    };
    outcome.map(Json).ok_or_else(|| {
        state.refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "out_of_order_cycle",
            "the event is before the machine's last reading".into(),
        )
    })
}

impl AppState {
    /// Closes machine `id`'s life at `req`: its predictions are scored against what
    /// happened, and a new life starts. `None` when the event is before its last reading.
    pub(super) fn close_life(
        &self,
        model: &MaintenanceArtifact,
        id: u32,
        req: &EventRequest,
    ) -> Option<EventResponse> {
        let mut shard = lock(&self.shards[id as usize % SHARDS]);
        let Some(t) = shard.get_mut(&id) else {
            return Some(EventResponse {
                machine_id: id,
                scored: 0,
                censored: 0,
            });
        };
        if t.state.last_cycle().is_some_and(|last| req.cycle < last) {
            return None;
        }
        let predictions: Vec<(u32, f64)> = t.predictions.drain(..).collect();
        t.state.renew();
        t.latest = None;
        drop(shard);
        let mut one = Realised::default();
        let (failed, end) = (req.kind == EventKind::Failure, req.cycle);
        // A failure at cycle c means the last reading was at most c − 1: remaining life counts
        // to the failure cycle, as in training.
        one.close(&predictions, end, failed, model.model.cap);
        lock(&self.realised).close(&predictions, end, failed, model.model.cap);
        Some(EventResponse {
            machine_id: id,
            scored: one.scored,
            censored: one.censored,
        })
    }
}
