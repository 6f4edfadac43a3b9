//! The embedded default: a seeded generator of short labelled product reviews with topics.
//!
//! Written for this project (no third-party text): a small grammar of clauses about the
//! aspects of a product — "the battery is not great", "delivery took forever", "love the
//! camera but the price is a joke" — with the phenomena that make sentiment hard on purpose:
//! negation that flips a word ("not bad at all"), contrast where the last clause decides
//! ("… but …"), intensifiers, sarcasm ("oh great, the screen cracked again", labelled
//! negative), and 4 % label noise (annotators disagree). Each review names its topic (the
//! aspect), which the live feed aggregates on.
//!
//! Two domains share the grammar and none of the aspect vocabulary: [`Domain::Gadgets`] (the
//! default: the model is trained on it) and [`Domain::Travel`] (hotel reviews), which the drift
//! tests use as "the same task, different language".
//!
//! `datasets/sentiment/reviews.jsonl` is this generator's output (2,000 gadget reviews, seed
//! 42), shipped so the demo and the tests have labelled text with no download; a test checks
//! the file is exactly what the generator writes.
//!
//! Simplification: synthetic text is far more regular than people's; a model scores much
//! higher on it than on rt-polarity. It exercises the pipeline; quality claims come from the
//! real data.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Example;

/// The shipped file's content (`datasets/sentiment/reviews.jsonl`).
pub const EMBEDDED_JSONL: &str = include_str!("../../../datasets/sentiment/reviews.jsonl");

/// How many reviews the shipped file holds and the seed that wrote them.
pub const EMBEDDED_LEN: usize = 2_000;
pub const EMBEDDED_SEED: u64 = 42;

/// Whose language the reviews speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// Phones and gadgets bought online.
    Gadgets,
    /// Hotel stays.
    Travel,
}

/// An aspect: its topic name, the ways a review names it, and fixed phrases about it.
struct Aspect {
    topic: &'static str,
    nouns: &'static [&'static str],
    positive: &'static [&'static str],
    negative: &'static [&'static str],
}

const GADGETS: [Aspect; 6] = [
    Aspect {
        topic: "battery",
        nouns: &["battery", "battery life", "charger"],
        positive: &[
            "lasts two full days",
            "charges in no time",
            "easily gets me through the day",
        ],
        negative: &[
            "dies before lunch",
            "drains overnight",
            "takes hours to charge",
        ],
    },
    Aspect {
        topic: "screen",
        nouns: &["screen", "display", "touchscreen"],
        positive: &[
            "is bright even in sunlight",
            "looks crisp",
            "has gorgeous colours",
        ],
        negative: &[
            "scratched in a week",
            "has dead pixels",
            "flickers constantly",
        ],
    },
    Aspect {
        topic: "camera",
        nouns: &["camera", "lens", "photos"],
        positive: &[
            "takes stunning pictures",
            "handles low light well",
            "focuses instantly",
        ],
        negative: &[
            "takes blurry pictures",
            "is useless at night",
            "keeps crashing",
        ],
    },
    Aspect {
        topic: "delivery",
        nouns: &["delivery", "courier", "shipping"],
        positive: &[
            "arrived a day early",
            "was tracked the whole way",
            "came well packed",
        ],
        negative: &[
            "took forever",
            "arrived with a crushed box",
            "got lost twice",
        ],
    },
    Aspect {
        topic: "support",
        nouns: &["support", "customer service", "help desk"],
        positive: &[
            "sorted it out in minutes",
            "replied the same day",
            "replaced it without fuss",
        ],
        negative: &[
            "never answered",
            "kept me on hold for an hour",
            "refused the refund",
        ],
    },
    Aspect {
        topic: "price",
        nouns: &["price", "deal", "value"],
        positive: &[
            "is a steal",
            "beats every other shop",
            "was worth every penny",
        ],
        negative: &["is a rip-off", "doubled after a week", "is far too high"],
    },
];

const TRAVEL: [Aspect; 5] = [
    Aspect {
        topic: "room",
        nouns: &["room", "bed", "bathroom"],
        positive: &["was spotless", "had a view of the harbour", "felt huge"],
        negative: &[
            "smelled of smoke",
            "had mould in the corners",
            "was tiny and dark",
        ],
    },
    Aspect {
        topic: "staff",
        nouns: &["staff", "receptionist", "concierge"],
        positive: &[
            "remembered our names",
            "upgraded us for free",
            "booked us a table",
        ],
        negative: &[
            "ignored us at check-in",
            "lost our reservation",
            "charged us twice",
        ],
    },
    Aspect {
        topic: "breakfast",
        nouns: &["breakfast", "buffet", "coffee"],
        positive: &[
            "had fresh pastries every morning",
            "was served until noon",
            "was cooked to order",
        ],
        negative: &[
            "ran out by eight",
            "was cold and stale",
            "cost extra every morning",
        ],
    },
    Aspect {
        topic: "location",
        nouns: &["location", "neighbourhood", "street"],
        positive: &[
            "is steps from the old town",
            "is quiet at night",
            "is close to the metro",
        ],
        negative: &[
            "is miles from anything",
            "is loud until dawn",
            "felt unsafe after dark",
        ],
    },
    Aspect {
        topic: "pool",
        nouns: &["pool", "spa", "sauna"],
        positive: &[
            "was heated and calm",
            "had loungers for everyone",
            "stayed open late",
        ],
        negative: &[
            "was closed all week",
            "was packed and murky",
            "had no towels",
        ],
    },
];

const POSITIVE_WORDS: [&str; 12] = [
    "great",
    "excellent",
    "fantastic",
    "good",
    "lovely",
    "superb",
    "brilliant",
    "solid",
    "impressive",
    "perfect",
    "decent",
    "amazing",
];
const NEGATIVE_WORDS: [&str; 12] = [
    "terrible",
    "awful",
    "bad",
    "poor",
    "disappointing",
    "useless",
    "horrible",
    "cheap",
    "flimsy",
    "mediocre",
    "dreadful",
    "annoying",
];
const INTENSIFIERS: [&str; 6] = ["really", "very", "so", "incredibly", "pretty", "quite"];
const OPENERS: [&str; 8] = [
    "honestly,",
    "overall",
    "well,",
    "to be fair,",
    "after a month,",
    "so far",
    "i have to say",
    "update:",
];
const CLOSERS: [&str; 8] = [
    "!",
    ".",
    "!!",
    "...",
    " :)",
    " :(",
    ". would not change it",
    ". meh",
];

/// The polarity-neutral vocabulary of a domain.
fn aspects(domain: Domain) -> &'static [Aspect] {
    match domain {
        Domain::Gadgets => &GADGETS,
        Domain::Travel => &TRAVEL,
    }
}

/// The topics of a domain, in a stable order.
pub fn topics(domain: Domain) -> Vec<&'static str> {
    aspects(domain).iter().map(|a| a.topic).collect()
}

/// One clause about `aspect` with the given polarity.
fn clause(rng: &mut ChaCha8Rng, aspect: &Aspect, positive: bool) -> String {
    let noun = aspect.nouns.choose(rng).copied().unwrap_or(aspect.topic);
    let (own, other) = if positive {
        (&POSITIVE_WORDS, &NEGATIVE_WORDS)
    } else {
        (&NEGATIVE_WORDS, &POSITIVE_WORDS)
    };
    fn word(rng: &mut ChaCha8Rng, list: &[&'static str; 12]) -> &'static str {
        list.choose(rng).copied().unwrap_or("ok")
    }
    match rng.gen_range(0..6) {
        // "the camera is really great"
        0 | 1 => {
            let intens = if rng.gen_bool(0.4) {
                format!("{} ", INTENSIFIERS.choose(rng).copied().unwrap_or("very"))
            } else {
                String::new()
            };
            format!("the {noun} is {intens}{}", word(rng, own))
        }
        // Negation flips the word: "the screen is not bad at all" (positive).
        2 => {
            let tail = if rng.gen_bool(0.5) { " at all" } else { "" };
            format!("the {noun} is not {}{tail}", word(rng, other))
        }
        // A fixed phrase about the aspect.
        3 | 4 => {
            let phrases = if positive {
                aspect.positive
            } else {
                aspect.negative
            };
            format!(
                "the {noun} {}",
                phrases.choose(rng).copied().unwrap_or("is ok")
            )
        }
        // A verb of liking.
        _ => {
            let verb = if positive {
                ["love", "really like", "can recommend"]
            } else {
                ["hate", "regret buying for", "cannot stand"]
            };
            format!(
                "i {} the {noun}",
                verb.choose(rng).copied().unwrap_or("like")
            )
        }
    }
}

/// `n` reviews in `domain` from `seed`; half positive in expectation.
pub fn generate(domain: Domain, n: usize, seed: u64) -> Vec<Example> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let aspects = aspects(domain);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let aspect = &aspects[rng.gen_range(0..aspects.len())];
        let positive = rng.gen_bool(0.5);
        let mut text = match rng.gen_range(0..10) {
            // Contrast: the clause after "but" decides, and names the topic.
            0..=1 => {
                let other = &aspects[rng.gen_range(0..aspects.len())];
                format!(
                    "{} but {}",
                    clause(&mut rng, other, !positive),
                    clause(&mut rng, aspect, positive)
                )
            }
            // Sarcasm: a positive word, a negative fact.
            2 if !positive => {
                let fact = aspect.negative.choose(&mut rng).copied().unwrap_or("broke");
                let noun = aspect.nouns.first().copied().unwrap_or(aspect.topic);
                format!("oh great, the {noun} {fact} again")
            }
            _ => clause(&mut rng, aspect, positive),
        };
        if rng.gen_bool(0.3) {
            text = format!("{} {text}", OPENERS.choose(&mut rng).copied().unwrap_or(""));
        }
        text.push_str(CLOSERS.choose(&mut rng).copied().unwrap_or("."));
        // Annotators disagree on a few.
        let label = if rng.gen_bool(0.04) {
            !positive
        } else {
            positive
        };
        out.push(Example {
            text,
            positive: label,
            topic: Some(aspect.topic.to_string()),
        });
    }
    out
}

/// One JSON Lines record per example: `{"text", "label", "topic"}`.
pub fn to_jsonl(examples: &[Example]) -> String {
    let mut out = String::new();
    for e in examples {
        let record = serde_json::json!({
            "text": e.text,
            "label": if e.positive { "positive" } else { "negative" },
            "topic": e.topic,
        });
        out.push_str(&record.to_string());
        out.push('\n');
    }
    out
}

/// The shipped reviews, read through the same JSON Lines loader as any user file.
pub fn embedded() -> crate::data::Loaded {
    crate::data::parse_jsonl(EMBEDDED_JSONL.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_file_is_exactly_what_the_generator_writes() {
        let written = to_jsonl(&generate(Domain::Gadgets, EMBEDDED_LEN, EMBEDDED_SEED));
        assert!(
            written == EMBEDDED_JSONL,
            "datasets/sentiment/reviews.jsonl is stale: regenerate it with `mlsd sentiment generate`"
        );
        let loaded = embedded();
        assert_eq!(loaded.examples.len(), EMBEDDED_LEN);
        assert!(loaded.quarantine.is_empty());
    }

    #[test]
    fn reviews_are_balanced_seeded_and_the_domains_share_no_topic() {
        let a = generate(Domain::Gadgets, 1_000, 7);
        assert_eq!(a, generate(Domain::Gadgets, 1_000, 7));
        let positives = a.iter().filter(|e| e.positive).count();
        assert!((430..=570).contains(&positives), "{positives}");
        let gadgets = topics(Domain::Gadgets);
        let travel = topics(Domain::Travel);
        assert!(gadgets.iter().all(|t| !travel.contains(t)));
        assert!(a
            .iter()
            .all(|e| gadgets.contains(&e.topic.as_deref().unwrap_or(""))));
    }
}
