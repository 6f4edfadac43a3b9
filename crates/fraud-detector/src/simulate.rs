//! Stage 0 — simulate card transactions with the generative process of the
//! Fraud-Detection-Handbook (Le Borgne et al., chapters 3 and 5), implemented from its
//! published description, with optional drift injection.
//!
//! Why simulate: real card data cannot be shared, and a known generative process lets tests
//! check what a model should find. The process, all knobs in [`SimulationConfig`]:
//! - customers and terminals at uniform positions in [0, 100]²; a customer pays at the
//!   terminals within `radius` (chosen uniformly);
//! - per customer: mean amount ~ U(5, 100), std = mean / 2, transactions/day ~ U(0, 4);
//! - per day: Poisson(transactions/day) payments, time of day ~ N(12 h, 20 000 s) kept if it
//!   falls inside the day, amount ~ N(mean, std) (redrawn from U(0, 2·mean) if negative),
//!   rounded to cents;
//! - fraud scenarios: (1) amount > 220; (2) two terminals a day compromised for 28 days;
//!   (3) three cards a day compromised for 14 days, a third of their payments ×5.
//!
//! Talking points: problem definition (labels, base rate ~0.8 %), delayed labels (scenarios 2
//! and 3 are only learnable from *past* confirmed frauds), drift (see [`DriftInjection`]).
//!
//! Determinism: one ChaCha8 stream seeded by `seed` is consumed in a fixed order, so the same
//! seed and options give byte-identical files.

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson};
use serde::Serialize;

use crate::config::SimulationConfig;
use crate::schema;
use crate::{Error, Result};

const DAY_SECONDS: i64 = 86_400;

/// Published result of the same process (handbook, default parameters).
pub const PUBLISHED_TRANSACTIONS: usize = 1_754_155;
pub const PUBLISHED_FRAUDS: usize = 14_681;

struct Customer {
    x: f64,
    y: f64,
    mean_amount: f64,
    std_amount: f64,
    tx_per_day: f64,
    terminals: Vec<i64>,
}

#[derive(Clone, Copy)]
struct Tx {
    seconds: i64,
    customer: i64,
    terminal: i64,
    amount: f64,
    fraud: i64,
    scenario: i64,
}

/// Counts that describe a simulation, printed beside the published ones.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationSummary {
    pub transactions: usize,
    pub frauds: usize,
    pub fraud_rate: f64,
    /// Frauds by scenario: index 1..=4 (0 unused).
    pub frauds_by_scenario: [usize; 5],
    pub published_transactions: usize,
    pub published_frauds: usize,
}

/// Parses a `YYYY-MM-DD` date into milliseconds since the Unix epoch (UTC midnight).
pub fn date_to_epoch_ms(date: &str) -> Result<i64> {
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .map_err(|e| Error::Config(format!("date {date:?} is not YYYY-MM-DD: {e}")))?;
    Ok(d.and_hms_opt(0, 0, 0)
        .map(|dt| dt.and_utc().timestamp_millis())
        .unwrap_or_default())
}

/// Epoch milliseconds → `YYYY-MM-DD` (UTC); empty for a time chrono cannot represent.
pub fn epoch_ms_to_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn check(cfg: &SimulationConfig) -> Result<()> {
    let bad = |what: &str| Err(Error::Config(what.to_string()));
    if cfg.n_customers == 0 || cfg.n_terminals == 0 || cfg.n_days == 0 {
        return bad("customers, terminals and days must be positive");
    }
    if cfg.compromised_terminals_per_day > cfg.n_terminals
        || cfg.compromised_customers_per_day > cfg.n_customers
        || cfg.drift.card_testing_per_day > cfg.n_customers
    {
        return bad("more compromised terminals/cards per day than exist");
    }
    if !(0.0..=1.0).contains(&cfg.customer_fraud_share) {
        return bad("customer_fraud_share must be in [0, 1]");
    }
    if !(cfg.radius > 0.0 && cfg.drift.amount_factor > 0.0 && cfg.drift.activity_factor >= 0.0) {
        return bad("radius and drift factors must be positive");
    }
    date_to_epoch_ms(&cfg.start_date).map(|_| ())
}

/// Runs the simulation and returns the transactions as a DataFrame in [`schema`] order,
/// sorted by time, with `transaction_id` = row index.
pub fn simulate(cfg: &SimulationConfig) -> Result<(DataFrame, SimulationSummary)> {
    check(cfg)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);

    // Customer and terminal profiles.
    let mut customers: Vec<Customer> = (0..cfg.n_customers)
        .map(|_| {
            let (x, y) = (rng.gen_range(0.0..100.0), rng.gen_range(0.0..100.0));
            let mean_amount = rng.gen_range(5.0..100.0);
            let tx_per_day = rng.gen_range(0.0..4.0);
            Customer {
                x,
                y,
                mean_amount,
                std_amount: mean_amount / 2.0,
                tx_per_day,
                terminals: Vec::new(),
            }
        })
        .collect();
    let terminals: Vec<(f64, f64)> = (0..cfg.n_terminals)
        .map(|_| (rng.gen_range(0.0..100.0), rng.gen_range(0.0..100.0)))
        .collect();
    let r2 = cfg.radius * cfg.radius;
    for c in &mut customers {
        c.terminals = terminals
            .iter()
            .enumerate()
            .filter(|(_, (tx, ty))| (c.x - tx).powi(2) + (c.y - ty).powi(2) < r2)
            .map(|(i, _)| i as i64)
            .collect();
    }

    // Legitimate behaviour, customer by customer, day by day.
    let time_of_day = Normal::new(DAY_SECONDS as f64 / 2.0, 20_000.0)
        .map_err(|e| Error::Config(format!("time-of-day distribution: {e}")))?;
    let drift_from = cfg.drift.from_day.unwrap_or(u32::MAX);
    let mut txs: Vec<Tx> = Vec::with_capacity(cfg.n_customers * cfg.n_days as usize * 2);
    for (cid, c) in customers.iter().enumerate() {
        for day in 0..cfg.n_days {
            let drifted = day >= drift_from;
            let (amount_f, activity_f) = if drifted {
                (cfg.drift.amount_factor, cfg.drift.activity_factor)
            } else {
                (1.0, 1.0)
            };
            let lambda = c.tx_per_day * activity_f;
            let n = if lambda > 0.0 {
                Poisson::new(lambda)
                    .map(|p| p.sample(&mut rng) as usize)
                    .unwrap_or(0)
            } else {
                0
            };
            let (mean, std) = (c.mean_amount * amount_f, c.std_amount * amount_f);
            for _ in 0..n {
                let t = time_of_day.sample(&mut rng) as i64;
                if t <= 0 || t >= DAY_SECONDS {
                    continue;
                }
                let mut amount = mean + std * rng.sample::<f64, _>(rand_distr::StandardNormal);
                if amount < 0.0 {
                    amount = rng.gen_range(0.0..2.0 * mean);
                }
                let amount = (amount * 100.0).round() / 100.0;
                if c.terminals.is_empty() {
                    continue;
                }
                let terminal = c.terminals[rng.gen_range(0..c.terminals.len())];
                txs.push(Tx {
                    seconds: day as i64 * DAY_SECONDS + t,
                    customer: cid as i64,
                    terminal,
                    amount,
                    fraud: 0,
                    scenario: 0,
                });
            }
        }
    }

    // Drift: a new fraud pattern, card testing — small night-time payments far from home.
    if cfg.drift.card_testing_per_day > 0 {
        for day in drift_from..cfg.n_days {
            for cid in sample(&mut rng, cfg.n_customers, cfg.drift.card_testing_per_day) {
                for _ in 0..5 {
                    let t = rng.gen_range(0..6 * 3600);
                    let amount = (rng.gen_range(1.0..5.0) * 100.0_f64).round() / 100.0;
                    txs.push(Tx {
                        seconds: day as i64 * DAY_SECONDS + t,
                        customer: cid as i64,
                        terminal: rng.gen_range(0..cfg.n_terminals) as i64,
                        amount,
                        fraud: 1,
                        scenario: 4,
                    });
                }
            }
        }
    }

    // Time order defines transaction ids; ties keep generation order (stable sort).
    txs.sort_by_key(|t| t.seconds);

    // Scenario 1: large amounts.
    for t in txs
        .iter_mut()
        .filter(|t| t.amount > cfg.large_amount_threshold)
    {
        t.fraud = 1;
        t.scenario = 1;
    }
    // Scenario 2: compromised terminals — every payment there for the next N days.
    // Talking point: this fraud is only learnable from *confirmed* past frauds at the same
    // terminal, i.e. from labels that arrive with a delay (see features.rs).
    let mut by_terminal: Vec<Vec<usize>> = vec![Vec::new(); cfg.n_terminals];
    let mut by_customer: Vec<Vec<usize>> = vec![Vec::new(); cfg.n_customers];
    for (i, t) in txs.iter().enumerate() {
        by_terminal[t.terminal as usize].push(i);
        by_customer[t.customer as usize].push(i);
    }
    let in_window = |t: &Tx, day: u32, len: u32| {
        let d = t.seconds / DAY_SECONDS;
        d >= day as i64 && d < (day + len) as i64
    };
    for day in 0..cfg.n_days {
        for term in sample(&mut rng, cfg.n_terminals, cfg.compromised_terminals_per_day) {
            for &i in &by_terminal[term] {
                if in_window(&txs[i], day, cfg.terminal_compromise_days) {
                    txs[i].fraud = 1;
                    txs[i].scenario = 2;
                }
            }
        }
    }
    // Scenario 3: compromised cards — a share of the next N days' payments, amount ×5.
    for day in 0..cfg.n_days {
        for cust in sample(&mut rng, cfg.n_customers, cfg.compromised_customers_per_day) {
            let window: Vec<usize> = by_customer[cust]
                .iter()
                .copied()
                .filter(|&i| in_window(&txs[i], day, cfg.customer_compromise_days))
                .collect();
            let k = (window.len() as f64 * cfg.customer_fraud_share).floor() as usize;
            for j in sample(&mut rng, window.len(), k) {
                let t = &mut txs[window[j]];
                t.amount = (t.amount * cfg.customer_fraud_amount_factor * 100.0).round() / 100.0;
                t.fraud = 1;
                t.scenario = 3;
            }
        }
    }

    let start_ms = date_to_epoch_ms(&cfg.start_date)?;
    let mut summary = SimulationSummary {
        transactions: txs.len(),
        frauds: 0,
        fraud_rate: 0.0,
        frauds_by_scenario: [0; 5],
        published_transactions: PUBLISHED_TRANSACTIONS,
        published_frauds: PUBLISHED_FRAUDS,
    };
    for t in &txs {
        if t.fraud == 1 {
            summary.frauds += 1;
            summary.frauds_by_scenario[t.scenario as usize] += 1;
        }
    }
    summary.fraud_rate = summary.frauds as f64 / summary.transactions.max(1) as f64;

    let df = schema::transactions_frame(
        (0..txs.len() as i64).collect(),
        txs.iter().map(|t| start_ms + t.seconds * 1000).collect(),
        txs.iter().map(|t| t.customer).collect(),
        txs.iter().map(|t| t.terminal).collect(),
        txs.iter().map(|t| t.amount).collect(),
        txs.iter().map(|t| t.seconds).collect(),
        txs.iter().map(|t| t.seconds / DAY_SECONDS).collect(),
        txs.iter().map(|t| t.fraud).collect(),
        txs.iter().map(|t| t.scenario).collect(),
    )?;
    Ok((df, summary))
}

/// Writes transactions to `path`: an Arrow stream (`.arrows`), CSV (`.csv`) or, with the
/// `parquet` feature, Parquet — see [`mlsd_core::frames`].
pub fn write_transactions(df: &mut DataFrame, path: &Path) -> Result<()> {
    Ok(mlsd_core::frames::write(df, path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimulationConfig {
        SimulationConfig {
            n_customers: 200,
            n_terminals: 400,
            n_days: 60,
            ..SimulationConfig::default()
        }
    }

    #[test]
    fn same_seed_same_transactions_and_another_seed_differs() {
        let (a, _) = simulate(&small()).expect("simulate");
        let (b, _) = simulate(&small()).expect("simulate");
        let (c, _) = simulate(&SimulationConfig { seed: 7, ..small() }).expect("simulate");
        assert!(a.equals(&b));
        assert!(!a.equals(&c));
    }

    #[test]
    fn every_scenario_produces_frauds_and_amounts_are_cents() {
        let (df, s) = simulate(&small()).expect("simulate");
        assert!(
            s.frauds_by_scenario[1] > 0
                && s.frauds_by_scenario[2] > 0
                && s.frauds_by_scenario[3] > 0
        );
        assert_eq!(s.frauds_by_scenario[4], 0, "card testing is off by default");
        let amounts = df
            .column("tx_amount")
            .and_then(|c| c.f64().cloned())
            .expect("amounts");
        for a in amounts.into_no_null_iter() {
            assert!(
                a >= 0.0 && ((a * 100.0).round() - a * 100.0).abs() < 1e-6,
                "{a}"
            );
        }
    }

    #[test]
    fn card_testing_drift_adds_scenario_four_after_its_day() {
        let mut cfg = small();
        cfg.drift.from_day = Some(30);
        cfg.drift.card_testing_per_day = 2;
        let (df, s) = simulate(&cfg).expect("simulate");
        assert!(s.frauds_by_scenario[4] > 0);
        let out = df
            .lazy()
            .filter(col("tx_fraud_scenario").eq(lit(4i64)))
            .select([col("tx_time_days").min()])
            .collect()
            .expect("query");
        let first = out
            .column("tx_time_days")
            .and_then(|c| c.i64().map(|s| s.get(0)))
            .expect("day");
        assert!(first >= Some(30));
    }

    #[test]
    fn nonsense_configuration_is_an_error_not_a_panic() {
        assert!(simulate(&SimulationConfig {
            n_customers: 0,
            ..small()
        })
        .is_err());
        assert!(simulate(&SimulationConfig {
            start_date: "April".into(),
            ..small()
        })
        .is_err());
    }
}
