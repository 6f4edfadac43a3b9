//! Typed settings of the maintenance design, with commented defaults: one place to read what
//! a run uses. The defaults live beside the code that uses them; this groups them.

use crate::artifact::TrainConfig;
use crate::evaluate::{Ai4iConfig, FleetProtocol};
use crate::serve::ServeConfig;

/// Everything a maintenance run is configured by.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceConfig {
    /// The fleet protocol: simulator (seed 42, 730 days), 100 / 40 / 100 machines for
    /// training / validation / test, 30-reading windows, RUL capped at 125, costs 50,000 per
    /// failure, 5,000 per service, 2,000 per day down, 3 crews a day.
    pub fleet: FleetProtocol,
    /// AI4I: 5 stratified folds (seed 42), alert budget 5 % of machines.
    pub ai4i: Ai4iConfig,
    /// What `mlsd maintenance train` registers: gradient boosting on the training machines,
    /// alert threshold chosen by cost on the validation machines, risk horizon 30 cycles.
    pub train: TrainConfig,
    /// The API: batch and history sizes, stream bounds, drift window.
    pub serve: ServeConfig,
}
