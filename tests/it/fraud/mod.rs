//! The fraud detector: data, models, online features, monitoring, the API.

mod corrupted_input;
mod data;
mod models;
mod online;
mod redis_state;
mod monitor;
pub mod api;
