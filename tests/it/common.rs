//! Shared fixtures: small seeded simulations that still cover the chapter-3 windows.

use fraud_detector::config::SimulationConfig;

/// ~600 cards over 140 days (to 2018-08-18): enough for the train and test weeks.
pub fn small_simulation() -> SimulationConfig {
    SimulationConfig {
        n_customers: 600,
        n_terminals: 1_200,
        n_days: 140,
        ..SimulationConfig::default()
    }
}

/// A tiny world for file-handling tests.
pub fn tiny_simulation() -> SimulationConfig {
    SimulationConfig {
        n_customers: 50,
        n_terminals: 100,
        n_days: 20,
        ..SimulationConfig::default()
    }
}

/// Runs the `mlsd` binary with `args`; returns (success, stdout, stderr).
pub fn mlsd(args: &[&str], runs_dir: &std::path::Path) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsd"))
        .args(args)
        .env("MLSD_RUNS_DIR", runs_dir)
        .env_remove("MLSD_REGISTRY")
        .output()
        .expect("the mlsd binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
