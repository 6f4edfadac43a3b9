//! Stage 6 (streaming side) — texts on a Redis Stream, scored and counted in their topics'
//! windows by consumers in a group (the same log as the other designs: [`mlsd_core::events`]).
//!
//! ```text
//! posts, reviews ─{text, topic}─► {prefix}:texts ─► consumer a ─score → record─► Redis topics
//!                                                └─► consumer b (takes over a's pending)
//! ```
//!
//! Talking points: event time, not processing time — a text counts in the second its entry
//! was appended (the stream id's milliseconds), so a redelivered text lands in the same
//! bucket; at-least-once made harmless by the event's id (a text counted once per id); bad
//! entries (not JSON, empty or too long text, bad topic) are dead-lettered with the reason.
//!
//! Simplification: one stream, no partitions by topic; the consumer scores with the model
//! current when it started.

use std::time::Duration;

use mlsd_core::events::{Consumer, Delivery};
use mlsd_core::online_state::StateError;
use serde::{Deserialize, Serialize};

use crate::artifact::Label;
use crate::artifact::SentimentArtifact;
use crate::data::TextProblem;
use crate::topics::{TopicStore, TopicText};

/// What flows on the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextEvent {
    pub text: String,
    pub topic: String,
}

/// `n` generated gadget reviews with their topics as `(event id, event)` pairs, ids
/// `text:<i>` (what `mlsd sentiment produce` appends).
pub fn generated(n: usize, seed: u64) -> Vec<(String, TextEvent)> {
    crate::reviews::generate(crate::reviews::Domain::Gadgets, n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let topic = e.topic.unwrap_or_else(|| "general".into());
            (
                format!("text:{i}"),
                TextEvent {
                    text: e.text,
                    topic,
                },
            )
        })
        .collect()
}

/// What one [`apply_batch`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Applied {
    /// Texts taken over from a consumer that stopped acknowledging (delivered again).
    pub reclaimed: usize,
    /// Texts counted in their topic.
    pub counted: usize,
    /// Texts whose id was counted before (redeliveries).
    pub duplicates: usize,
    /// Entries that were not valid texts (moved to the dead-letter stream).
    pub dead_letters: usize,
}

impl Applied {
    pub fn events(&self) -> usize {
        self.counted + self.duplicates + self.dead_letters
    }
}

/// What a consumer checks a text against (the server's limits).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_text_chars: usize,
    pub max_topic_chars: usize,
}

/// One step of a consumer: [`Consumer::step`] applying [`apply`].
pub fn apply_batch(
    consumer: &Consumer,
    topics: &dyn TopicStore,
    model: &SentimentArtifact,
    limits: Limits,
    batch: usize,
    claim_after: Duration,
) -> Result<Applied, StateError> {
    let step = consumer.step(batch, claim_after, |consumer, deliveries| {
        apply(consumer, topics, model, limits, deliveries)
    })?;
    Ok(Applied {
        reclaimed: step.reclaimed,
        ..step.applied
    })
}

/// Scores and counts deliveries (one round trip for all of them) without acknowledging.
pub fn apply(
    consumer: &Consumer,
    topics: &dyn TopicStore,
    model: &SentimentArtifact,
    limits: Limits,
    deliveries: &[Delivery],
) -> Result<Applied, StateError> {
    let mut applied = Applied::default();
    let mut texts = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        match check(delivery, limits) {
            Ok((event, second)) => {
                let p = model.predict(&event.text);
                texts.push(TopicText {
                    topic: event.topic.trim().to_string(),
                    second,
                    positive: p.label == Label::Positive,
                    probability: p.probability,
                    // The producer's id (a producer's retry is a duplicate too), else the
                    // entry's (a redelivery is).
                    id: Some(if delivery.event_id.is_empty() {
                        delivery.entry.clone()
                    } else {
                        delivery.event_id.clone()
                    }),
                });
            }
            Err(why) => {
                consumer.dead_letter(delivery, &why)?;
                applied.dead_letters += 1;
            }
        }
    }
    applied.counted = topics.record(&texts)?;
    applied.duplicates = texts.len() - applied.counted;
    Ok(applied)
}

/// The delivery as a text the HTTP API would accept, with the second it was appended.
fn check(delivery: &Delivery, limits: Limits) -> Result<(TextEvent, u64), String> {
    let event: TextEvent = delivery
        .parse()
        .map_err(|why| format!("not a text event: {why}"))?;
    if let Some(problem) = TextProblem::of(&event.text, limits.max_text_chars) {
        return Err(problem.code().to_string());
    }
    if event.topic.trim().is_empty() || event.topic.chars().count() > limits.max_topic_chars {
        return Err("invalid_topic".into());
    }
    let millis: u64 = delivery
        .entry
        .split('-')
        .next()
        .and_then(|ms| ms.parse().ok())
        .ok_or_else(|| format!("entry id {:?} is not ms-seq", delivery.entry))?;
    Ok((event, millis / 1_000))
}
