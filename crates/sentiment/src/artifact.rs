//! Stage 5 — the saved model: the fitted vectoriser and the classifier, versioned together in
//! the shared model registry (one file, checksummed by the registry's manifest).
//!
//! Talking point: training/serving skew — the vectoriser's vocabulary and settings travel with
//! the weights, so the server featurises exactly as training did.

use std::collections::BTreeMap;

use mlsd_core::registry::{NewVersion, Registry};
use serde::{Deserialize, Serialize};

use crate::data::Example;
use crate::models::{Classifier, NbSvm, SvmConfig};
use crate::text::{TextConfig, Vectorizer};
use crate::{Error, Result, DESIGN};

/// The file name of the artifact inside a registry version.
pub const FILE: &str = "model.json";

/// A trained sentiment model: vectoriser + NBSVM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentimentArtifact {
    pub vectorizer: Vectorizer,
    pub model: NbSvm,
    pub trained_on: usize,
}

/// One prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub text: String,
    /// `positive` or `negative`.
    pub label: String,
    /// The model's decision value (> 0: positive); its size is the margin, not a probability.
    pub score: f64,
}

impl SentimentArtifact {
    /// NBSVM with bigrams (α = 1, β = 0.25, C = 1) on `examples`.
    pub fn train(examples: &[Example], text: &TextConfig) -> SentimentArtifact {
        let vectorizer = Vectorizer::fit(examples.iter().map(|e| e.text.as_str()), text);
        let xs: Vec<Vec<u32>> = examples
            .iter()
            .map(|e| vectorizer.transform(&e.text))
            .collect();
        let ys: Vec<bool> = examples.iter().map(|e| e.positive).collect();
        let model = NbSvm::fit(
            &xs,
            &ys,
            vectorizer.dims(),
            1.0,
            0.25,
            &SvmConfig::default(),
        );
        SentimentArtifact {
            vectorizer,
            model,
            trained_on: examples.len(),
        }
    }

    pub fn predict(&self, text: &str) -> Prediction {
        let score = self.model.score(&self.vectorizer.transform(text));
        Prediction {
            text: text.to_string(),
            label: if score > 0.0 { "positive" } else { "negative" }.to_string(),
            score,
        }
    }

    /// Registers this artifact as a new version (not promoted).
    pub fn register(
        &self,
        registry: &Registry,
        training_data_sha256: String,
        metrics: BTreeMap<String, f64>,
    ) -> Result<mlsd_core::registry::Manifest> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Config(e.to_string()))?;
        registry
            .register(NewVersion {
                design: DESIGN.to_string(),
                model_name: "nbsvm_bigram".to_string(),
                code_version: env!("CARGO_PKG_VERSION").to_string(),
                training_data_sha256,
                feature_names: vec![format!("{} n-grams", self.vectorizer.dims())],
                config: serde_json::to_value(&self.vectorizer.config)
                    .map_err(|e| Error::Config(e.to_string()))?,
                metrics,
                files: vec![(FILE.to_string(), bytes)],
            })
            .map_err(|e| Error::Config(format!("registry: {e}")))
    }

    /// Reads an artifact file (a registry version's `model.json`, or a copy of it).
    pub fn from_bytes(bytes: &[u8], origin: &std::path::Path) -> Result<SentimentArtifact> {
        serde_json::from_slice(bytes).map_err(|e| Error::Input {
            path: origin.to_path_buf(),
            why: format!("not a sentiment model: {e}"),
        })
    }

    /// The registry's current version.
    pub fn load_current(registry: &Registry) -> Result<(String, SentimentArtifact)> {
        let loaded = registry
            .load_current(DESIGN)
            .map_err(|e| Error::Config(format!("registry: {e}")))?;
        let bytes = loaded
            .file(FILE)
            .ok_or_else(|| Error::Config(format!("{} has no {FILE}", loaded.manifest.version)))?;
        let artifact = SentimentArtifact::from_bytes(bytes, registry.root())?;
        Ok((loaded.manifest.version, artifact))
    }
}
