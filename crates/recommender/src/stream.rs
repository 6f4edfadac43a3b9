//! Stage 6 (streaming side) — shop events on a Redis Stream, applied to the shared sessions by
//! consumers in a group (the same log as the fraud design's payments: [`mlsd_core::events`]).
//!
//! ```text
//! storefront ─view/cart/purchase─► {prefix}:events ─► consumer a ─record─► Redis sessions
//!                                                 └─► consumer b (takes over a's pending)
//! ```
//!
//! Talking points: at-least-once delivery made harmless by the event id (a redelivered event
//! is a duplicate in its session, recorded once); bad events (an item not on sale, user 0,
//! not JSON) are dead-lettered with the reason and counted, never dropped silently.
//!
//! Simplification: one stream, no partitions by user.

use std::time::Duration;

use mlsd_core::events::{Consumer, Delivery};
use mlsd_core::online_state::StateError;
use serde::Serialize;

use crate::sessions::{SessionStore, ShopEvent};
use crate::two_stage::TwoStage;

/// What one [`apply_batch`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Applied {
    /// Events taken over from a consumer that stopped acknowledging (delivered again).
    pub reclaimed: usize,
    /// Events recorded in a session.
    pub recorded: usize,
    /// Events whose id the session had already recorded (redeliveries, producer retries).
    pub duplicates: usize,
    /// Entries that were not valid events (moved to the dead-letter stream).
    pub dead_letters: usize,
}

impl Applied {
    pub fn events(&self) -> usize {
        self.recorded + self.duplicates + self.dead_letters
    }
}

/// The stream's id for a shop event: the producer's, which every stream event must have.
pub fn keyed(events: &[ShopEvent]) -> Vec<(String, ShopEvent)> {
    events
        .iter()
        .map(|e| (e.event_id.clone().unwrap_or_default(), e.clone()))
        .collect()
}

/// One step of a consumer: [`Consumer::step`] applying [`apply`] for the model serving as
/// `version`.
pub fn apply_batch(
    consumer: &Consumer,
    sessions: &dyn SessionStore,
    model: &TwoStage,
    version: &str,
    batch: usize,
    claim_after: Duration,
) -> Result<Applied, StateError> {
    let step = consumer.step(batch, claim_after, |consumer, deliveries| {
        apply(consumer, sessions, model, version, deliveries)
    })?;
    Ok(Applied {
        reclaimed: step.reclaimed,
        ..step.applied
    })
}

/// Records deliveries in order without acknowledging them (all a consumer that dies before
/// acknowledging got to do).
pub fn apply(
    consumer: &Consumer,
    sessions: &dyn SessionStore,
    model: &TwoStage,
    version: &str,
    deliveries: &[Delivery],
) -> Result<Applied, StateError> {
    let mut applied = Applied::default();
    for delivery in deliveries {
        match check(model, delivery) {
            Ok(event) => {
                let recorded = sessions.record(model, version, &event)?;
                if recorded.duplicate {
                    applied.duplicates += 1;
                } else {
                    applied.recorded += 1;
                }
            }
            Err(why) => {
                consumer.dead_letter(delivery, &why)?;
                applied.dead_letters += 1;
            }
        }
    }
    Ok(applied)
}

/// The delivery as an event the HTTP API would accept too, its id the stream's.
fn check(model: &TwoStage, delivery: &Delivery) -> Result<ShopEvent, String> {
    let mut event: ShopEvent = delivery
        .parse()
        .map_err(|why| format!("not a shop event: {why}"))?;
    if delivery.event_id.is_empty() {
        return Err("a stream event needs an id".into());
    }
    if event.user_id == 0 {
        return Err("user_id must be 1 or more".into());
    }
    if !model.is_on_sale(event.item_id) {
        return Err(format!("item {} is not a product on sale", event.item_id));
    }
    event.event_id = Some(delivery.event_id.clone());
    Ok(event)
}
