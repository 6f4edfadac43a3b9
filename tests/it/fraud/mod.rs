//! The fraud detector: data, models, online features, monitoring, the API.

mod corrupted_input;
mod data;
mod models;
mod online;
mod monitor;
pub mod api;
