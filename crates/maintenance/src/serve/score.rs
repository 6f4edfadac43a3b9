//! `POST /v1/maintenance/score` and `/score/batch`: a machine's recent readings in the body,
//! scored without touching the server's per-machine state — for clients that keep their own
//! state, and the serving benchmark (a body can be sent any number of times).

use super::*;

/// A machine's recent readings, scored without touching the server's state.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// The machine, when known: a canary then takes whole machines (without it, the
    /// history itself picks the model).
    #[serde(default, deserialize_with = "whole_option")]
    #[schema(minimum = 1)]
    pub machine_id: Option<u32>,
    /// 1 to `max_history` readings of one life, in cycle order (the last window is used).
    #[schema(min_items = 1)]
    pub readings: Vec<HistoryReading>,
}

/// [`mlsd_core::serve::whole`] for an optional field.
fn whole_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    mlsd_core::serve::whole(d).map(Some)
}

impl History {
    /// What a canary routes by: the machine, else the history's last reading.
    fn entity(&self) -> u64 {
        match self.machine_id {
            Some(id) => u64::from(id),
            None => {
                let last = self
                    .readings
                    .last()
                    .map(|r| format!("{}{:?}", r.cycle, r.values));
                mlsd_core::lifecycle::entity_of(last.unwrap_or_default().as_bytes())
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryReading {
    #[serde(deserialize_with = "mlsd_core::serve::whole")]
    #[schema(minimum = 1)]
    pub cycle: u32,
    /// One value per sensor; null = missing.
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub struct Scored {
    pub rul: f64,
    pub risk: f64,
    pub alert: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreResponse {
    #[serde(flatten)]
    pub scored: Scored,
    pub model_version: String,
}

impl AppState {
    /// The feature row of a history (the state machine checks order and bounds).
    fn history_row(&self, model: &MaintenanceArtifact, h: &History) -> Result<Vec<f64>, ApiError> {
        check_batch_size(h.readings.len(), self.config.max_history, "readings")?;
        if let Some(id) = h.machine_id.filter(|id| !model.inventory.contains_key(id)) {
            return Err(self.refuse(
                StatusCode::NOT_FOUND,
                "unknown_machine",
                format!("machine {id} is not in the plant's inventory"),
            ));
        }
        let mut state = MachineState::new(&model.spec);
        let mut row = Vec::new();
        for r in &h.readings {
            self.check_cycle(r.cycle)?;
            let reading = Reading {
                cycle: r.cycle,
                values: r.values.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            };
            row = state
                .push(&model.spec, &model.bounds, reading, None)
                .map_err(|refusal| self.refusal(refusal, model))?;
        }
        Ok(row)
    }
}

fn scored(a: Assessment) -> Scored {
    Scored {
        rul: a.rul,
        risk: a.risk,
        alert: a.alert,
    }
}

/// Scores one machine's recent readings (stateless; through the micro-batcher when on).
#[utoipa::path(post, path = "/v1/maintenance/score", tag = "maintenance", request_body = History, responses((status = 200, description = "Scored", body = ScoreResponse), (status = 404, description = "A machine_id not in the inventory", body = ErrorBody), (status = 422, description = "Empty or too long history, wrong sensor count, impossible value, cycles out of order", body = ErrorBody), JsonErrors))]
pub(super) async fn score(
    State(state): Shared,
    ApiJson(h): ApiJson<History>,
) -> Result<Json<ScoreResponse>, ApiError> {
    let route = state.models.route();
    let row = state.history_row(&route.primary.model, &h)?;
    let (a, version) = match (&state.batcher, &route.candidate) {
        // The micro-batcher scores with the primary; during a rollout requests are routed.
        (Some(b), None) => (b.submit(row).await?, route.primary.version.clone()),
        _ => {
            state.kit.call_model(1).await?;
            let (answers, versions) = state.assess_routed(&route, &[h.entity()], &[row]);
            match (answers.first(), versions.into_iter().next()) {
                (Some(a), Some(v)) => (*a, v),
                _ => return Err(ApiError::internal("no answer")),
            }
        }
    };
    state.kit.metrics.observe_score(a.risk);
    Ok(Json(ScoreResponse {
        scored: scored(a),
        model_version: version,
    }))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreBatchRequest {
    /// 1 to `max_score_batch` machines' histories.
    #[schema(min_items = 1)]
    pub machines: Vec<History>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreBatchResponse {
    pub scores: Vec<Scored>,
    /// The version behind each score (a canary's for the machines it takes).
    pub versions: Vec<String>,
    /// The primary version.
    pub model_version: String,
}

/// Scores many machines' histories in one call; one bad history refuses the call.
#[utoipa::path(post, path = "/v1/maintenance/score/batch", tag = "maintenance", request_body = ScoreBatchRequest, responses((status = 200, description = "Scored, in order", body = ScoreBatchResponse), (status = 404, description = "A machine_id not in the inventory", body = ErrorBody), (status = 422, description = "Empty or too large batch, a bad history", body = ErrorBody), JsonErrors))]
pub(super) async fn score_batch(
    State(state): Shared,
    ApiJson(req): ApiJson<ScoreBatchRequest>,
) -> Result<Json<ScoreBatchResponse>, ApiError> {
    check_batch_size(req.machines.len(), state.config.max_score_batch, "machines")?;
    let _rows = state.kit.admit_rows(req.machines.len())?;
    state.kit.metrics.observe_batch(req.machines.len());
    let route = state.models.route();
    let mut rows = Vec::with_capacity(req.machines.len());
    for (i, h) in req.machines.iter().enumerate() {
        rows.push(state.history_row(&route.primary.model, h).map_err(|e| {
            ApiError::new(e.status, e.code, format!("machines[{i}]: {}", e.message))
        })?);
    }
    state.kit.call_model(rows.len()).await?;
    let entities: Vec<u64> = req.machines.iter().map(History::entity).collect();
    let (answers, versions) = state.assess_routed(&route, &entities, &rows);
    Ok(Json(ScoreBatchResponse {
        scores: answers.into_iter().map(scored).collect(),
        versions,
        model_version: route.primary.version.clone(),
    }))
}
