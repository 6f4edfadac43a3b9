//! Stage 6 (serving side) — the online feature store: the same 15 features as
//! [`crate::features`], kept up to date one transaction (and one late label) at a time.
//!
//! Offline, polars recomputes windows over the whole history; online, a scorer has
//! milliseconds and sees one payment. So the store keeps, per card, the payments of the last
//! 30 days with running sums and, per terminal, those of the last 7 + 30 days and the times
//! of its confirmed frauds, all in time order: each window is two binary searches and a
//! difference of running sums, whatever the card's or terminal's history.
//!
//! Talking points:
//! - training/serving skew: one [`FeatureSpec`] drives both paths, and a parity test replays
//!   simulated traffic through this store and compares every feature with the polars output;
//! - late labels: [`FeatureStore::record_label`] is a separate call that arrives days later;
//!   terminal risk only counts payments older than the delay, whose labels are in by then;
//! - streaming vs batch features: bounded state (a month of events per key), O(log n) work
//!   per payment, and keys spread over independently locked shards, so one hot card or
//!   terminal (issue 15 measured 61,000 payments on one: ~1 s per batch with full scans under
//!   one lock) slows nobody else.
//!
//! In production: the state lives in Redis or a streaming job's state store (Flink), keyed
//! and sharded by card and terminal; this trait is the seam for that backend.
//! Simplification: a payment that arrives out of time order is inserted in place, which
//! costs O(payments after it) for its key (live traffic is nearly ordered), and one more than
//! [`MAX_LATENESS_MS`] late may miss the oldest part of its windows.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::features::{to_cents, FeatureSpec};
use crate::schema::{CUSTOMER_ID, TERMINAL_ID, TRANSACTION_ID, TX_AMOUNT, TX_DATETIME, TX_FRAUD};
use crate::{Error, Result};
use mlsd_core::online_state::StateError;

mod redis_store;
pub use redis_store::RedisFeatureStore;

pub(crate) const DAY_MS: i64 = 86_400_000;
/// Independently locked shards per table (cards, terminals, transaction ids).
const SHARDS: usize = 64;
/// History is kept this much longer than the longest window, so a payment that arrives up to
/// this late still finds all of its window (one arriving later may miss its oldest part).
pub(crate) const MAX_LATENESS_MS: i64 = 7 * DAY_MS;

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
/// [`crate::features::add_features`] computes for the same history, and apply a payment seen
/// before (a retry, a redelivered event) only once: its id is its idempotency key.
///
/// Two backends: [`InMemoryFeatureStore`] (the default: one process) and
/// [`RedisFeatureStore`] (`--state redis://…`: replicas share it, restarts keep it).
pub trait FeatureStore: Send + Sync {
    /// Records `tx` (unless its id was seen already) and returns its features (in
    /// [`FeatureSpec::names`] order), computed over the history up to and including `tx`.
    fn observe(&self, tx: &Transaction) -> Result<Vec<f64>, StateError>;
    /// [`FeatureStore::observe`] for each payment in order (one round trip for a remote store).
    fn observe_all(&self, txs: &[Transaction]) -> Result<Vec<Vec<f64>>, StateError> {
        txs.iter().map(|tx| self.observe(tx)).collect()
    }
    /// A confirmed label for an earlier transaction (fraud or not; applying it twice changes
    /// nothing). Unknown ids are ignored and reported as `false`.
    fn record_label(&self, transaction_id: i64, fraud: bool) -> Result<bool, StateError>;
    /// Loads history, in time order (see [`warm_up`]).
    fn load_history(&self, ordered: &[&(Transaction, bool)]) -> Result<(), StateError> {
        for (tx, fraud) in ordered {
            self.observe(tx)?;
            if *fraud {
                self.record_label(tx.transaction_id, true)?;
            }
        }
        Ok(())
    }
    /// Whether this store still needs [`warm_up`] (a shared store another replica warmed
    /// does not).
    fn is_cold(&self) -> Result<bool, StateError> {
        Ok(true)
    }
    /// Whether it can answer now (what `/ready` reports).
    fn ready(&self) -> Result<(), StateError> {
        Ok(())
    }
}

/// A card's payments within the longest customer window (+ the lateness allowance), in time order, each with the
/// running total of amounts (cents) up to and including it.
#[derive(Default)]
struct Card {
    payments: VecDeque<(i64, i64)>,
    /// The running total before the first kept payment (what expired payments summed to).
    base: i64,
}

impl Card {
    fn total_before(&self, index: usize) -> i64 {
        match index {
            0 => self.base,
            i => self.payments[i - 1].1,
        }
    }

    /// Inserts a payment after any at the same time (O(1) for a payment in time order).
    fn insert(&mut self, t: i64, cents: i64) {
        let at = self.payments.partition_point(|&(ti, _)| ti <= t);
        let total = self.total_before(at) + cents;
        self.payments.insert(at, (t, total));
        for later in self.payments.range_mut(at + 1..) {
            later.1 += cents;
        }
    }

    fn expire(&mut self, until: i64) {
        while self.payments.front().is_some_and(|&(ti, _)| ti <= until) {
            if let Some((_, total)) = self.payments.pop_front() {
                self.base = total;
            }
        }
    }

    /// Payment count and total cents in (from, to].
    fn window(&self, from: i64, to: i64) -> (usize, i64) {
        let lo = self.payments.partition_point(|&(ti, _)| ti <= from);
        let hi = self.payments.partition_point(|&(ti, _)| ti <= to);
        let n = hi.saturating_sub(lo);
        (
            n,
            if n > 0 {
                self.total_before(hi) - self.total_before(lo)
            } else {
                0
            },
        )
    }
}

/// A terminal's payments within delay + the longest terminal window (+ the lateness
/// allowance), and the times of
/// those confirmed as fraud, both in time order.
#[derive(Default)]
struct Terminal {
    payments: VecDeque<(i64, i64)>,
    frauds: VecDeque<(i64, i64)>,
}

fn count_in(times: &VecDeque<(i64, i64)>, from: i64, to: i64) -> usize {
    let lo = times.partition_point(|&(ti, _)| ti <= from);
    times
        .partition_point(|&(ti, _)| ti <= to)
        .saturating_sub(lo)
}

fn insert_sorted(times: &mut VecDeque<(i64, i64)>, entry: (i64, i64)) {
    let at = times.partition_point(|e| *e <= entry);
    times.insert(at, entry);
}

/// A table split over [`SHARDS`] mutexes by key.
struct Sharded<V>(Vec<Mutex<HashMap<i64, V>>>);

impl<V> Sharded<V> {
    fn new() -> Self {
        Sharded((0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect())
    }

    fn shard(&self, key: i64) -> MutexGuard<'_, HashMap<i64, V>> {
        // Fibonacci hashing spreads consecutive ids over the shards.
        let index = ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % SHARDS;
        self.0[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The in-process store (the default backend).
pub struct InMemoryFeatureStore {
    spec: FeatureSpec,
    cards: Sharded<Card>,
    terminals: Sharded<Terminal>,
    /// Recent transaction id → (terminal, time), so a late label finds its terminal; dropped
    /// when the payment leaves the terminal's horizon.
    seen: Sharded<(i64, i64)>,
}

impl InMemoryFeatureStore {
    pub fn new(spec: FeatureSpec) -> Self {
        InMemoryFeatureStore {
            spec,
            cards: Sharded::new(),
            terminals: Sharded::new(),
            seen: Sharded::new(),
        }
    }

    /// The card's payment count and total cents per customer window, (t − n days, t].
    fn card_windows(&self, tx: &Transaction, fresh: bool) -> Vec<(i64, i64)> {
        let t = tx.datetime_ms;
        let mut cards = self.cards.shard(tx.customer_id);
        let card = cards.entry(tx.customer_id).or_default();
        if fresh {
            card.insert(t, to_cents(tx.amount));
        }
        card.expire(t - customer_horizon(&self.spec));
        self.spec
            .customer_windows
            .iter()
            .map(|&w| {
                let (n, cents) = card.window(t - w as i64 * DAY_MS, t);
                (n as i64, cents)
            })
            .collect()
    }

    /// The terminal's payment and fraud counts per terminal window, and the ids of payments
    /// that left its horizon.
    fn terminal_windows(&self, tx: &Transaction, fresh: bool) -> (Vec<(i64, i64)>, Vec<i64>) {
        let t = tx.datetime_ms;
        let until = t - terminal_horizon(&self.spec);
        let mut terminals = self.terminals.shard(tx.terminal_id);
        let terminal = terminals.entry(tx.terminal_id).or_default();
        if fresh {
            insert_sorted(&mut terminal.payments, (t, tx.transaction_id));
        }
        let mut expired = Vec::new();
        while let Some(&(ti, id)) = terminal.payments.front() {
            if ti > until {
                break;
            }
            terminal.payments.pop_front();
            expired.push(id);
        }
        while terminal.frauds.front().is_some_and(|&(ti, _)| ti <= until) {
            terminal.frauds.pop_front();
        }
        // Talking point: late labels online — the terminal's windows end at t − d, so only
        // payments whose labels have had time to arrive count: (t − d − n, t − d].
        let end = t - self.spec.delay_days as i64 * DAY_MS;
        let counts = self
            .spec
            .terminal_windows
            .iter()
            .map(|&w| {
                let from = end - w as i64 * DAY_MS;
                let n = count_in(&terminal.payments, from, end) as i64;
                (n, count_in(&terminal.frauds, from, end) as i64)
            })
            .collect();
        (counts, expired)
    }

    /// [`FeatureStore::observe`], which cannot fail in process.
    pub fn observe(&self, tx: &Transaction) -> Vec<f64> {
        // Talking point: idempotency key — a payment seen before (a client's retry, an event
        // delivered twice) is scored again but counted once.
        let fresh = {
            let mut seen = self.seen.shard(tx.transaction_id);
            match seen.entry(tx.transaction_id) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert((tx.terminal_id, tx.datetime_ms));
                    true
                }
            }
        };
        let cards = self.card_windows(tx, fresh);
        // One shard lock at a time: never two held together, so no lock order to get wrong.
        let (terminals, expired) = self.terminal_windows(tx, fresh);
        for id in expired {
            self.seen.shard(id).remove(&id);
        }
        assemble(tx, &cards, &terminals)
    }

    /// [`FeatureStore::record_label`], which cannot fail in process.
    pub fn record_label(&self, transaction_id: i64, fraud: bool) -> bool {
        let Some((terminal_id, t)) = self
            .seen
            .shard(transaction_id)
            .get(&transaction_id)
            .copied()
        else {
            return false;
        };
        let mut terminals = self.terminals.shard(terminal_id);
        let frauds = &mut terminals.entry(terminal_id).or_default().frauds;
        let known = frauds.binary_search(&(t, transaction_id));
        match (fraud, known) {
            (true, Err(at)) => frauds.insert(at, (t, transaction_id)),
            (false, Ok(at)) => {
                frauds.remove(at);
            }
            _ => {}
        }
        true
    }
}

impl FeatureStore for InMemoryFeatureStore {
    fn observe(&self, tx: &Transaction) -> Result<Vec<f64>, StateError> {
        Ok(InMemoryFeatureStore::observe(self, tx))
    }

    fn record_label(&self, transaction_id: i64, fraud: bool) -> Result<bool, StateError> {
        Ok(InMemoryFeatureStore::record_label(
            self,
            transaction_id,
            fraud,
        ))
    }
}

/// How far back a card's payments are kept: the longest customer window + the lateness allowance.
pub(crate) fn customer_horizon(spec: &FeatureSpec) -> i64 {
    spec.customer_windows.iter().copied().max().unwrap_or(0) as i64 * DAY_MS + MAX_LATENESS_MS
}

/// How far back a terminal's payments (and their labels) are kept: the label delay + the
/// longest terminal window + the lateness allowance.
pub(crate) fn terminal_horizon(spec: &FeatureSpec) -> i64 {
    let longest = spec.terminal_windows.iter().copied().max().unwrap_or(0);
    (spec.delay_days + longest) as i64 * DAY_MS + MAX_LATENESS_MS
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
pub fn warm_up(
    store: &dyn FeatureStore,
    history: &[(Transaction, bool)],
) -> Result<(), StateError> {
    let mut ordered: Vec<&(Transaction, bool)> = history.iter().collect();
    ordered.sort_by_key(|(tx, _)| (tx.datetime_ms, tx.transaction_id));
    store.load_history(&ordered)
}

/// The features of a payment from the amount, the calendar and the window sums a store
/// returns: per customer window (count, total cents), per terminal window (count, frauds).
/// One function, so both stores do the same floating-point operations in the same order.
pub(crate) fn assemble(
    tx: &Transaction,
    cards: &[(i64, i64)],
    terminals: &[(i64, i64)],
) -> Vec<f64> {
    let (weekend, night) = calendar_flags(tx.datetime_ms);
    let mut out = Vec::with_capacity(3 + 2 * (cards.len() + terminals.len()));
    out.extend([tx.amount, weekend, night]);
    for &(n, cents) in cards {
        let n = n as f64;
        out.push(n);
        // The same operations, in the same order, as the polars expression.
        out.push(if n > 0.0 {
            cents as f64 / (n * 100.0)
        } else {
            0.0
        });
    }
    for &(n, frauds) in terminals {
        let (n, frauds) = (n as f64, frauds as f64);
        out.push(n);
        out.push(if n > 0.0 { frauds / n } else { 0.0 });
    }
    out
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

    /// The features by brute force over every payment seen so far (what the store must equal,
    /// in any arrival order).
    fn scanned(spec: &FeatureSpec, seen: &[(Transaction, bool)], tx: &Transaction) -> Vec<f64> {
        let t = tx.datetime_ms;
        let (weekend, night) = calendar_flags(t);
        let mut out = vec![tx.amount, weekend, night];
        for &w in &spec.customer_windows {
            let from = t - w as i64 * DAY_MS;
            let (n, cents) = seen
                .iter()
                .filter(|(p, _)| p.customer_id == tx.customer_id)
                .filter(|(p, _)| p.datetime_ms > from && p.datetime_ms <= t)
                .fold((0.0, 0i64), |(n, c), (p, _)| {
                    (n + 1.0, c + to_cents(p.amount))
                });
            out.push(n);
            out.push(if n > 0.0 {
                cents as f64 / (n * 100.0)
            } else {
                0.0
            });
        }
        let end = t - spec.delay_days as i64 * DAY_MS;
        for &w in &spec.terminal_windows {
            let from = end - w as i64 * DAY_MS;
            let (n, f) = seen
                .iter()
                .filter(|(p, _)| p.terminal_id == tx.terminal_id)
                .filter(|(p, _)| p.datetime_ms > from && p.datetime_ms <= end)
                .fold((0.0, 0.0), |(n, f), (_, fraud)| {
                    (n + 1.0, f + f64::from(u8::from(*fraud)))
                });
            out.push(n);
            out.push(if n > 0.0 { f / n } else { 0.0 });
        }
        out
    }

    #[test]
    fn out_of_order_payments_and_corrected_labels_match_a_full_scan() {
        let spec = FeatureSpec::default();
        let store = InMemoryFeatureStore::new(spec.clone());
        let mut x: u64 = 42;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) % m
        };
        let mut seen: Vec<(Transaction, bool)> = Vec::new();
        let mut clock = START;
        for id in 0..3_000 {
            // Mostly forward in time, one payment in five up to two days late.
            clock += next(3_600_000) as i64 * 3;
            let late = if next(5) == 0 {
                next(2 * DAY_MS as u64) as i64
            } else {
                0
            };
            let tx = Transaction {
                transaction_id: id,
                datetime_ms: clock - late,
                customer_id: next(4) as i64,
                terminal_id: next(3) as i64,
                amount: (next(20_000) as f64) / 100.0,
            };
            let features = store.observe(&tx);
            seen.push((tx, false));
            assert_eq!(features, scanned(&spec, &seen, &tx), "payment {id}");
            // Labels for payments a few days back; one in ten later corrected to genuine.
            if id >= 50 && next(4) == 0 {
                let k = id as usize - 50;
                let (earlier, _) = seen[k];
                if clock - earlier.datetime_ms < 30 * DAY_MS {
                    let fraud = next(10) != 0;
                    assert!(store.record_label(earlier.transaction_id, fraud));
                    seen[k].1 = fraud;
                }
            }
        }
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
