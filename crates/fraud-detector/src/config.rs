//! Typed configuration with commented defaults. The defaults are the published parameters of
//! the Fraud-Detection-Handbook simulator and its chapter-3 protocol; one `seed` drives every
//! random step (simulation, undersampling, bootstraps, boosting).

use serde::{Deserialize, Serialize};

/// The transaction simulator (stage 0). See `simulate.rs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationConfig {
    /// Seed for every random draw of the simulation.
    pub seed: u64,
    /// Customers at uniform (x, y) in [0, 100]² (handbook: 5,000).
    pub n_customers: usize,
    /// Terminals at uniform (x, y) in [0, 100]² (handbook: 10,000).
    pub n_terminals: usize,
    /// Days simulated, starting on `start_date` (handbook: 183 from 2018-04-01).
    pub n_days: u32,
    /// First simulated day, `YYYY-MM-DD`.
    pub start_date: String,
    /// A customer uses the terminals within this distance (handbook: 5, ~100 terminals).
    pub radius: f64,
    /// Scenario 1: any amount above this is fraud (handbook: 220).
    pub large_amount_threshold: f64,
    /// Scenario 2: terminals compromised per day (handbook: 2) …
    pub compromised_terminals_per_day: usize,
    /// … whose transactions are all fraudulent for this many days (handbook: 28).
    pub terminal_compromise_days: u32,
    /// Scenario 3: customers (cards) compromised per day (handbook: 3) …
    pub compromised_customers_per_day: usize,
    /// … for this many days (handbook: 14) …
    pub customer_compromise_days: u32,
    /// … during which this share of their transactions (handbook: 1/3) …
    pub customer_fraud_share: f64,
    /// … has its amount multiplied by this (handbook: 5) and is fraud.
    pub customer_fraud_amount_factor: f64,
    /// Optional drift injected from a given day on (for the monitoring stage).
    pub drift: DriftInjection,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            seed: 42,
            n_customers: 5_000,
            n_terminals: 10_000,
            n_days: 183,
            start_date: "2018-04-01".into(),
            radius: 5.0,
            large_amount_threshold: 220.0,
            compromised_terminals_per_day: 2,
            terminal_compromise_days: 28,
            compromised_customers_per_day: 3,
            customer_compromise_days: 14,
            customer_fraud_share: 1.0 / 3.0,
            customer_fraud_amount_factor: 5.0,
            drift: DriftInjection::default(),
        }
    }
}

/// Drift knobs. All off by default; each applies to days ≥ `from_day`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftInjection {
    /// First day index (0 = `start_date`) with drift; `None` disables every knob below.
    pub from_day: Option<u32>,
    /// Spending shift: every customer's amounts are multiplied by this (1.0 = none).
    pub amount_factor: f64,
    /// Activity shift: every customer's transactions per day are multiplied by this.
    pub activity_factor: f64,
    /// New fraud pattern ("card testing"): this many cards a day make a burst of small
    /// night-time payments at far-away terminals, all fraudulent (scenario 4).
    pub card_testing_per_day: usize,
}

impl Default for DriftInjection {
    fn default() -> Self {
        DriftInjection {
            from_day: None,
            amount_factor: 1.0,
            activity_factor: 1.0,
            card_testing_per_day: 0,
        }
    }
}

/// How the served model's probabilities become actions, chosen when it is registered (see
/// `artifact::calibrate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionBudget {
    /// Payments investigators can review a day (the handbook's budget: 100 cards a day).
    pub reviews_per_day: f64,
    /// Calibrated probability at which a payment is blocked outright: nine in ten blocked
    /// payments are fraud, if the calibration holds.
    pub block_probability: f64,
}

impl Default for DecisionBudget {
    fn default() -> Self {
        DecisionBudget {
            reviews_per_day: 100.0,
            block_probability: 0.9,
        }
    }
}

/// The evaluation protocol (handbook chapter 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolConfig {
    /// First training day (handbook: 2018-07-25).
    pub train_start: String,
    /// Training days (handbook: 7).
    pub train_days: u32,
    /// Days between training and test, during which labels are not yet known (handbook: 7).
    pub delay_days: u32,
    /// Test days (handbook: 7).
    pub test_days: u32,
    /// Cards investigated per day for Card Precision@k (handbook: 100).
    pub top_k: usize,
}

impl ProtocolConfig {
    /// First millisecond of the test period (after the training days and the label delay).
    pub fn test_start_ms(&self) -> crate::Result<i64> {
        Ok(crate::simulate::date_to_epoch_ms(&self.train_start)?
            + i64::from(self.train_days + self.delay_days) * 86_400_000)
    }
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            train_start: "2018-07-25".into(),
            train_days: 7,
            delay_days: 7,
            test_days: 7,
            top_k: 100,
        }
    }
}

/// Model hyperparameters: the shared tabular models' settings (defaults tuned on this
/// design's validation window, see `examples/tune.rs`).
pub use mlsd_tabular::ModelConfig;
