//! Stage 6 (streaming side) — payments and late labels as events on a Redis Stream, applied to
//! the shared online store by consumers in a group.
//!
//! ```text
//! acquirer ─payment─┐                     ┌─► aggregator a ─observe / record_label─► Redis store
//!                   ├─► {prefix}:events ──┤   (dies: its unacknowledged events are claimed)
//! investigators ─label┘  (one stream: a    └─► aggregator b ─ … ─► the same store
//!                        label follows its payment)
//! ```
//!
//! Talking points:
//! - at-least-once + idempotent = effectively once: the payment's transaction id is the
//!   store's idempotency key (`HSETNX`), a label sets (or clears) membership in a set, so an
//!   event applied twice changes nothing ([`mlsd_core::events`] has the delivery side);
//! - one stream for payments and labels keeps a label behind its payment;
//! - bad events are dead-lettered with the reason, counted, and acknowledged.
//!
//! Simplification: one stream, no partitions by card; a consumer applies one batch per round
//! trip and acknowledges after applying (so a crash redelivers at most one batch).

use std::time::Duration;

use mlsd_core::events::{Consumer, Delivery};
use mlsd_core::online_state::StateError;
use serde::{Deserialize, Serialize};

use crate::online::{FeatureStore, Transaction};

/// What flows on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FraudEvent {
    /// A payment to record (its features are computed as it is applied).
    Payment(Transaction),
    /// An investigator's verdict on an earlier payment.
    Label { transaction_id: i64, fraud: bool },
}

impl FraudEvent {
    /// The producer's id for the event: what makes applying it twice harmless.
    pub fn event_id(&self) -> String {
        match self {
            FraudEvent::Payment(tx) => format!("payment:{}", tx.transaction_id),
            FraudEvent::Label {
                transaction_id,
                fraud,
            } => format!("label:{transaction_id}:{}", u8::from(*fraud)),
        }
    }

    /// `(event id, event)` pairs for [`mlsd_core::events::EventLog::append`].
    pub fn keyed(events: &[FraudEvent]) -> Vec<(String, FraudEvent)> {
        events.iter().map(|e| (e.event_id(), *e)).collect()
    }
}

/// What one [`apply_batch`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Applied {
    /// Events taken over from a consumer that stopped acknowledging (delivered again).
    pub reclaimed: usize,
    pub payments: usize,
    pub labels: usize,
    /// Labels for payments the store does not know (expired, or never seen).
    pub unknown_labels: usize,
    /// Entries that were not valid events (moved to the dead-letter stream).
    pub dead_letters: usize,
}

impl Applied {
    pub fn events(&self) -> usize {
        self.payments + self.labels + self.unknown_labels + self.dead_letters
    }
}

/// One step of an aggregator ([`Consumer::step`] with [`apply`]): take over events another
/// consumer left pending for `claim_after`, or read up to `batch` new ones; apply them in
/// stream order; acknowledge. Returns what it did (nothing: the stream is drained for now).
pub fn apply_batch(
    consumer: &Consumer,
    store: &dyn FeatureStore,
    batch: usize,
    claim_after: Duration,
) -> Result<Applied, StateError> {
    let step = consumer.step(batch, claim_after, |consumer, deliveries| {
        let mut applied = Applied::default();
        apply(consumer, store, deliveries, &mut applied)?;
        Ok(applied)
    })?;
    Ok(Applied {
        reclaimed: step.reclaimed,
        ..step.applied
    })
}

/// Applies deliveries in order without acknowledging them (what a consumer does before it
/// acknowledges, and all a consumer that dies in between got to do).
pub fn apply(
    consumer: &Consumer,
    store: &dyn FeatureStore,
    deliveries: &[Delivery],
    applied: &mut Applied,
) -> Result<(), StateError> {
    for delivery in deliveries {
        match delivery.parse::<FraudEvent>() {
            Ok(FraudEvent::Payment(tx)) => {
                store.observe(&tx)?;
                applied.payments += 1;
            }
            Ok(FraudEvent::Label {
                transaction_id,
                fraud,
            }) => {
                if store.record_label(transaction_id, fraud)? {
                    applied.labels += 1;
                } else {
                    applied.unknown_labels += 1;
                }
            }
            Err(why) => {
                consumer.dead_letter(delivery, &format!("not a fraud event: {why}"))?;
                applied.dead_letters += 1;
            }
        }
    }
    Ok(())
}
