//! Read this first: the stages chained, as `mlsd sentiment train`, the demo, the benchmarks
//! and the tests run them — choose the training data ([`training_data`]: a labelled file, the
//! sentence-polarity files, or the embedded reviews) → hold out every 10th text, train
//! NBSVM-bigram, calibrate on the hold-out ([`crate::artifact`]) → register with the hold-out
//! metrics and the data's fingerprint, promote ([`train_and_register`]) → serve
//! ([`crate::serve`]) → watch the language drift ([`crate::monitor`]).

use std::path::Path;

use mlsd_core::registry::{Manifest, Registry};
use mlsd_core::report::{sha256_file, sha256_hex};

use crate::artifact::{Holdout, SentimentArtifact};
use crate::config::SentimentConfig;
use crate::data::{self, Example};
use crate::{Error, Result, DESIGN};

/// Where training texts come from, and their fingerprint for the registry.
pub struct TrainingData {
    pub examples: Vec<Example>,
    pub source: String,
    pub sha256: String,
    pub quarantined: usize,
    /// The embedded synthetic reviews (the model will be marked synthetic-only).
    pub synthetic: bool,
}

/// `labelled` (JSON Lines or CSV), else rt-polarity from `data_dir`, else the embedded reviews.
pub fn training_data(data_dir: Option<&Path>, labelled: Option<&Path>) -> Result<TrainingData> {
    if let Some(path) = labelled {
        let loaded = data::load_labelled(path)?;
        return Ok(TrainingData {
            source: path.display().to_string(),
            sha256: sha256_file(path)?,
            quarantined: loaded.quarantine.len(),
            examples: loaded.examples,
            synthetic: false,
        });
    }
    if let Some(dir) = data_dir {
        let folder = data::folder(Some(dir))?;
        return Ok(TrainingData {
            examples: data::load_rt_polarity(&folder)?,
            source: folder.display().to_string(),
            sha256: format!(
                "{}+{}",
                sha256_file(&folder.join("rt-polarity.pos"))?,
                sha256_file(&folder.join("rt-polarity.neg"))?
            ),
            quarantined: 0,
            synthetic: false,
        });
    }
    let loaded = crate::reviews::embedded();
    Ok(TrainingData {
        source: "embedded reviews (datasets/sentiment/reviews.jsonl)".into(),
        sha256: sha256_hex(crate::reviews::EMBEDDED_JSONL.as_bytes()),
        quarantined: loaded.quarantine.len(),
        examples: loaded.examples,
        synthetic: true,
    })
}

/// NBSVM-bigram with its hold-out (calibration, drift reference), registered with the
/// hold-out metrics and the data's fingerprint, and promoted when asked.
pub fn train_and_register(
    registry: &Registry,
    data: TrainingData,
    promote: bool,
) -> Result<(Manifest, SentimentArtifact, Holdout)> {
    let config = SentimentConfig::default();
    let (positive, negative) = (
        data.examples.iter().filter(|e| e.positive).count(),
        data.examples.iter().filter(|e| !e.positive).count(),
    );
    if positive == 0 || negative == 0 {
        return Err(Error::Config(format!(
            "{} needs positive and negative texts ({} usable, {} quarantined)",
            data.source,
            data.examples.len(),
            data.quarantined
        )));
    }
    let (mut artifact, holdout) =
        SentimentArtifact::train_with_holdout(&data.examples, &config.text);
    artifact.synthetic_only = data.synthetic;
    let manifest = artifact.register(
        registry,
        data.sha256,
        [
            ("holdout_accuracy".to_string(), holdout.accuracy),
            ("holdout_ece".to_string(), holdout.ece),
        ]
        .into(),
    )?;
    if promote {
        registry.promote(DESIGN, &manifest.version)?;
    }
    Ok((manifest, artifact, holdout))
}
