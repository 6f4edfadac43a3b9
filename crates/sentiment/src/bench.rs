//! Stage 8 — the traffic for serving benchmarks (`mlsd bench serve --design sentiment`):
//! texts the model has not seen (another seed than the training file), as single-text and
//! batch request bodies, and a file of texts for the batch job.
//!
//! Talking points: benchmark with production-shaped traffic — distinct texts in a realistic
//! length mix, not one sentence a million times (which would measure the cache).

use crate::reviews::{generate, Domain};
use crate::{Error, Result};

/// `n` fresh review texts from `seed` (the embedded training file is seed 42).
pub fn texts(n: usize, seed: u64) -> Vec<String> {
    generate(Domain::Gadgets, n, seed)
        .into_iter()
        .map(|e| e.text)
        .collect()
}

fn encode(value: &serde_json::Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Config(format!("encoding a request: {e}")))
}

/// One `POST /v1/sentiment` body per text.
pub fn single_bodies(texts: &[String]) -> Result<Vec<Vec<u8>>> {
    texts
        .iter()
        .map(|t| encode(&serde_json::json!({ "text": t })))
        .collect()
}

/// `POST /v1/sentiment/batch` bodies of `size` texts (the last one may be shorter).
pub fn batch_bodies(texts: &[String], size: usize) -> Result<Vec<Vec<u8>>> {
    texts
        .chunks(size.max(1))
        .map(|c| encode(&serde_json::json!({ "texts": c })))
        .collect()
}

/// The batch job's input: one text per line.
pub fn text_file(n: usize, seed: u64) -> String {
    texts(n, seed).into_iter().map(|t| t + "\n").collect()
}
