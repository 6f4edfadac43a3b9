//! Stage 6 (serving side) — the online feature store: the same 15 features as
//! [`crate::features`], kept up to date one transaction (and one late label) at a time.
//!
//! Offline, polars recomputes windows over the whole history; online, a scorer has
//! milliseconds and sees one payment. So the store keeps, per card, the payments of the last
//! 30 days and, per terminal, those of the last 7 + 30 days with their labels once known, and
//! answers each payment from those short lists.
//!
//! Talking points:
//! - training/serving skew: one [`FeatureSpec`] drives both paths, and a parity test replays
//!   simulated traffic through this store and compares every feature with the polars output;
//! - late labels: [`FeatureStore::record_label`] is a separate call that arrives days later;
//!   terminal risk only counts payments older than the delay, whose labels are in by then;
//! - streaming vs batch features: bounded state (≈ a month of events per key), O(window) work.
//!
//! In production: the state lives in Redis or a streaming job's state store (Flink), keyed
//! and sharded by card and terminal; this trait is the seam for that backend.
//! Simplification: one mutex around the in-memory state (shard it by key under load).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::features::{to_cents, FeatureSpec};
use crate::schema::{CUSTOMER_ID, TERMINAL_ID, TRANSACTION_ID, TX_AMOUNT, TX_DATETIME, TX_FRAUD};
use crate::{Error, Result};

const DAY_MS: i64 = 86_400_000;

/// A payment as the scorer receives it (already parsed and validated at the edge).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: i64,
    /// Milliseconds since the Unix epoch, UTC.
    pub datetime_ms: i64,
    pub customer_id: i64,
    pub terminal_id: i64,
    pub amount: f64,
}

/// Where serving gets features from. Implementations must compute exactly what
/// [`crate::features::add_features`] computes for the same history.
pub trait FeatureStore: Send + Sync {
    /// Records `tx` and returns its features (in [`FeatureSpec::names`] order), computed over
    /// the history up to and including `tx`.
    fn observe(&self, tx: &Transaction) -> Vec<f64>;
    /// A confirmed label for an earlier transaction (fraud or not). Unknown ids are ignored
    /// and reported as `false`.
    fn record_label(&self, transaction_id: i64, fraud: bool) -> bool;
}

#[derive(Default)]
struct Card {
    /// (time, amount in cents) of the card's payments within the longest customer window.
    payments: VecDeque<(i64, i64)>,
}

#[derive(Default)]
struct Terminal {
    /// (time, transaction id) within delay + the longest terminal window.
    payments: VecDeque<(i64, i64)>,
}

#[derive(Default)]
struct State {
    cards: HashMap<i64, Card>,
    terminals: HashMap<i64, Terminal>,
    /// Confirmed frauds among recent transactions (ids), for terminal risk.
    frauds: HashMap<i64, bool>,
    /// Recent transaction id → time, so labels for expired payments can be dropped.
    seen: HashMap<i64, i64>,
    /// Latest event time, to expire old state.
    now: i64,
}

/// The in-process store (the default backend).
pub struct InMemoryFeatureStore {
    spec: FeatureSpec,
    state: Mutex<State>,
}

impl InMemoryFeatureStore {
    pub fn new(spec: FeatureSpec) -> Self {
        InMemoryFeatureStore {
            spec,
            state: Mutex::new(State::default()),
        }
    }

    fn customer_horizon(&self) -> i64 {
        self.spec
            .customer_windows
            .iter()
            .copied()
            .max()
            .unwrap_or(0) as i64
            * DAY_MS
    }

    fn terminal_horizon(&self) -> i64 {
        let longest = self
            .spec
            .terminal_windows
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        (self.spec.delay_days + longest) as i64 * DAY_MS
    }
}

/// Weekend (Saturday or Sunday, UTC) and night (hour ≤ 6) flags of an epoch time.
pub fn calendar_flags(datetime_ms: i64) -> (f64, f64) {
    let days = datetime_ms.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday; Monday = 0 … Sunday = 6.
    let weekday = (days + 3).rem_euclid(7);
    let hour = datetime_ms.rem_euclid(DAY_MS) / 3_600_000;
    (
        f64::from(u8::from(weekday >= 5)),
        f64::from(u8::from(hour <= 6)),
    )
}

impl FeatureStore for InMemoryFeatureStore {
    fn observe(&self, tx: &Transaction) -> Vec<f64> {
        let mut guard = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = &mut *guard;
        let t = tx.datetime_ms;
        state.now = state.now.max(t);
        let mut out = Vec::with_capacity(
            3 + 2 * (self.spec.customer_windows.len() + self.spec.terminal_windows.len()),
        );
        let (weekend, night) = calendar_flags(t);
        out.extend([tx.amount, weekend, night]);

        // The card: append, expire, then sum each trailing window (t − n days, t].
        let card = state.cards.entry(tx.customer_id).or_default();
        card.payments.push_back((t, to_cents(tx.amount)));
        let horizon = self.customer_horizon();
        while card
            .payments
            .front()
            .is_some_and(|&(ti, _)| ti <= t - horizon)
        {
            card.payments.pop_front();
        }
        for &w in &self.spec.customer_windows {
            let from = t - w as i64 * DAY_MS;
            let (n, cents) = card
                .payments
                .iter()
                .filter(|(ti, _)| *ti > from && *ti <= t)
                .fold((0.0, 0i64), |(n, s), (_, c)| (n + 1.0, s + c));
            out.push(n);
            // The same operations, in the same order, as the polars expression.
            out.push(if n > 0.0 {
                cents as f64 / (n * 100.0)
            } else {
                0.0
            });
        }

        // Talking point: late labels online — the terminal's windows end at t − d, so only
        // payments whose labels have had time to arrive count: (t − d − n, t − d].
        let horizon = self.terminal_horizon();
        let terminal = state.terminals.entry(tx.terminal_id).or_default();
        terminal.payments.push_back((t, tx.transaction_id));
        while let Some(&(ti, id)) = terminal.payments.front() {
            if ti > t - horizon {
                break;
            }
            terminal.payments.pop_front();
            state.frauds.remove(&id);
            state.seen.remove(&id);
        }
        let end = t - self.spec.delay_days as i64 * DAY_MS;
        for &w in &self.spec.terminal_windows {
            let from = end - w as i64 * DAY_MS;
            let (n, frauds) = terminal
                .payments
                .iter()
                .filter(|(ti, _)| *ti > from && *ti <= end)
                .fold((0.0, 0.0), |(n, f), (_, id)| {
                    let fraud = state.frauds.get(id).copied().unwrap_or(false);
                    (n + 1.0, f + f64::from(u8::from(fraud)))
                });
            out.push(n);
            out.push(if n > 0.0 { frauds / n } else { 0.0 });
        }
        state.seen.insert(tx.transaction_id, t);
        out
    }

    fn record_label(&self, transaction_id: i64, fraud: bool) -> bool {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !state.seen.contains_key(&transaction_id) {
            return false;
        }
        state.frauds.insert(transaction_id, fraud);
        true
    }
}

/// The payments of a transactions frame, in frame order, each with its fraud label
/// (`false` when the frame has no `tx_fraud` column).
pub fn transactions_of(frame: &DataFrame) -> Result<Vec<(Transaction, bool)>> {
    let ints = |name: &str| -> Result<Vec<i64>> {
        let column = frame
            .column(name)
            .and_then(|c| c.cast(&DataType::Int64))
            .map_err(Error::polars(format!("reading {name}")))?;
        let values = column
            .i64()
            .map_err(Error::polars(format!("reading {name}")))?;
        values
            .iter()
            .map(|v| v.ok_or_else(|| Error::Config(format!("{name} has missing values"))))
            .collect()
    };
    let ids = ints(TRANSACTION_ID)?;
    let ms = ints(TX_DATETIME)?;
    let cards = ints(CUSTOMER_ID)?;
    let terminals = ints(TERMINAL_ID)?;
    let amounts = frame
        .column(TX_AMOUNT)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(Error::polars("reading tx_amount"))?;
    let amounts = amounts.f64().map_err(Error::polars("reading tx_amount"))?;
    let frauds = match frame.column(TX_FRAUD) {
        Ok(_) => ints(TX_FRAUD)?,
        Err(_) => vec![0; ids.len()],
    };
    (0..ids.len())
        .map(|i| {
            let amount = amounts
                .get(i)
                .ok_or_else(|| Error::Config("tx_amount has missing values".into()))?;
            Ok((
                Transaction {
                    transaction_id: ids[i],
                    datetime_ms: ms[i],
                    customer_id: cards[i],
                    terminal_id: terminals[i],
                    amount,
                },
                frauds[i] == 1,
            ))
        })
        .collect()
}

/// Loads history into a store: every payment is observed in time order and every confirmed
/// fraud recorded, so the next live payment gets the features it would get offline.
///
/// Talking point: a new serving replica starts cold; its online state is bootstrapped from
/// the offline store (here: a transactions file) before it takes traffic. Recording a label
/// right after its payment is safe: terminal risk only looks at payments older than the
/// label delay.
pub fn warm_up(store: &dyn FeatureStore, history: &[(Transaction, bool)]) {
    let mut ordered: Vec<&(Transaction, bool)> = history.iter().collect();
    ordered.sort_by_key(|(tx, _)| (tx.datetime_ms, tx.transaction_id));
    for (tx, fraud) in ordered {
        store.observe(tx);
        if *fraud {
            store.record_label(tx.transaction_id, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_522_540_800_000; // 2018-04-01 00:00 UTC, a Sunday

    #[test]
    fn calendar_flags_match_the_calendar() {
        assert_eq!(calendar_flags(START + 3 * 3_600_000), (1.0, 1.0)); // Sunday 03:00
        assert_eq!(calendar_flags(START + DAY_MS + 12 * 3_600_000), (0.0, 0.0)); // Monday noon
        assert_eq!(
            calendar_flags(START + 6 * DAY_MS + 6 * 3_600_000 + 59 * 60_000),
            (1.0, 1.0)
        ); // Saturday 06:59
        assert_eq!(
            calendar_flags(START + 6 * DAY_MS + 7 * 3_600_000),
            (1.0, 0.0)
        ); // Saturday 07:00
    }

    #[test]
    fn labels_count_only_after_the_delay_and_unknown_ids_are_refused() {
        let store = InMemoryFeatureStore::new(FeatureSpec::default());
        let tx = |id, day: i64| Transaction {
            transaction_id: id,
            datetime_ms: START + day * DAY_MS,
            customer_id: 1,
            terminal_id: 9,
            amount: 10.0,
        };
        store.observe(&tx(1, 0));
        assert!(store.record_label(1, true));
        assert!(!store.record_label(99, true));
        // Six days later the fraud is younger than the delay: invisible.
        let f = store.observe(&tx(2, 6));
        let names = FeatureSpec::default().names();
        let risk = names
            .iter()
            .position(|n| n == "terminal_id_risk_30day_window")
            .expect("feature");
        assert_eq!(f[risk], 0.0);
        // Eight days later it counts: 1 fraud of the 1 payment in (t − 37 d, t − 7 d].
        let f = store.observe(&tx(3, 8));
        assert_eq!(f[risk], 1.0);
        assert_eq!(f[risk - 1], 1.0);
    }
}
