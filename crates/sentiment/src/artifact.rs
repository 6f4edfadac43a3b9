//! Stage 5 — the saved model: the fitted vectoriser and the classifier, versioned together in
//! the shared model registry (one file, checksummed by the registry's manifest).
//!
//! Talking point: training/serving skew — the vectoriser's vocabulary and settings travel with
//! the weights, so the server featurises exactly as training did.

use std::collections::BTreeMap;

use mlsd_core::design::{json_file, Artifact, Registration};
use mlsd_core::registry::{LoadedVersion, Registry};
use serde::{Deserialize, Serialize};

use crate::data::Example;
use crate::models::{Classifier, NbSvm, Platt, SvmConfig};
use crate::text::{TextConfig, Vectorizer};
use crate::{Error, Result, DESIGN};

/// The file name of the artifact inside a registry version.
pub const FILE: &str = "model.json";

/// A trained sentiment model: vectoriser + NBSVM + the calibration of its scores, and a
/// sample of held-out training texts that drift checks compare live text with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentimentArtifact {
    pub vectorizer: Vectorizer,
    pub model: NbSvm,
    /// Score → probability (fitted on the hold-out; identity until then, and for artifacts
    /// saved before calibration existed).
    #[serde(default)]
    pub calibration: Platt,
    pub trained_on: usize,
    /// Held-out texts of the training distribution (at most [`REFERENCE_TEXTS`]; empty for
    /// older artifacts, which then report no drift).
    #[serde(default)]
    pub reference_texts: Vec<String>,
    /// Trained on the embedded synthetic reviews only: on real text (Amazon reviews, NYT
    /// editorials) such a model is at chance (`mlsd sentiment evaluate --protocol
    /// out-of-domain`), so the CLI and the server say so when they use it.
    #[serde(default)]
    pub synthetic_only: bool,
}

/// What the CLI and the server print when a model trained on synthetic reviews only is used.
pub const SYNTHETIC_WARNING: &str = "warning: this sentiment model was trained on the embedded \
synthetic reviews only and is at chance on real text (measured by \
`mlsd sentiment evaluate --protocol out-of-domain`). Train it on real labelled text (--data-dir with \
rt-polarity, or --labelled FILE) before trusting it on anything but the demo.";

/// Reference texts kept in the artifact for drift checks.
pub const REFERENCE_TEXTS: usize = 1_000;

/// What the hold-out said about a model before it was refitted on everything.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Holdout {
    pub texts: usize,
    pub accuracy: f64,
    /// Expected calibration error (10 bins) of Platt-scaled probabilities, cross-fitted: each
    /// half of the hold-out is measured with the scaling fitted on the other half.
    pub ece: f64,
}

/// What a prediction says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Positive,
    Negative,
    /// No word or word pair of the text was seen in training: the model has no evidence, its
    /// score is the bias alone.
    Undecided,
}

impl Label {
    /// The label of a text with feature set `features` and decision value `score`.
    ///
    /// Talking point: "I don't know" is an answer. A text with no known feature gets the bias
    /// alone, which used to be read as a confident "negative".
    pub fn of(features: &[u32], score: f64) -> Label {
        if features.is_empty() {
            Label::Undecided
        } else if score > 0.0 {
            Label::Positive
        } else {
            Label::Negative
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Positive => "positive",
            Label::Negative => "negative",
            Label::Undecided => "undecided",
        }
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub text: String,
    pub label: Label,
    /// The model's decision value (> 0: positive); its size is the margin, not a probability.
    pub score: f64,
    /// P(positive), calibrated on held-out texts: what aggregates average.
    pub probability: f64,
}

impl SentimentArtifact {
    /// NBSVM with bigrams (α = 1, β = 0.25, C = 1) on `examples`.
    pub fn train(examples: &[Example], text: &TextConfig) -> SentimentArtifact {
        let (vectorizer, xs, ys) = Vectorizer::fit_examples(examples, text);
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
            calibration: Platt::default(),
            trained_on: examples.len(),
            reference_texts: Vec::new(),
            synthetic_only: false,
        }
    }

    /// Holds out every 10th example, trains on the rest, and measures accuracy and
    /// calibration on the held-out texts; the calibration is fitted on them and up to
    /// [`REFERENCE_TEXTS`] of them are kept as the drift reference.
    ///
    /// Talking point [versioning]: the served model is the one the hold-out measured. Refitting on
    /// all data would gain ~10 % more examples but serve a model nobody evaluated, whose
    /// calibration was fitted to another model's scores, and whose "reference" texts it had
    /// memorised (an out-of-vocabulary rate of exactly 0).
    pub fn train_with_holdout(
        examples: &[Example],
        text: &TextConfig,
    ) -> (SentimentArtifact, Holdout) {
        let mut held_out: Vec<&Example> = Vec::new();
        let mut rest: Vec<Example> = Vec::new();
        for (i, e) in examples.iter().enumerate() {
            if i % 10 == 0 {
                held_out.push(e);
            } else {
                rest.push(e.clone());
            }
        }
        let mut artifact = SentimentArtifact::train(&rest, text);
        let scores: Vec<f64> = held_out.iter().map(|e| artifact.score(&e.text)).collect();
        let truth: Vec<bool> = held_out.iter().map(|e| e.positive).collect();
        let correct = scores
            .iter()
            .zip(&truth)
            .filter(|(s, y)| (**s > 0.0) == **y)
            .count();
        // Cross-fitted calibration error: fit on one half, measure on the other.
        let half = |parity: usize| -> (Vec<f64>, Vec<bool>) {
            scores
                .iter()
                .zip(&truth)
                .enumerate()
                .filter(|(i, _)| i % 2 == parity)
                .map(|(_, (s, y))| (*s, *y))
                .unzip()
        };
        let (even, odd) = (half(0), half(1));
        let mut ece = 0.0;
        for ((fit_s, fit_y), (eval_s, eval_y)) in [(&even, &odd), (&odd, &even)] {
            let platt = Platt::fit(fit_s, fit_y);
            let p: Vec<f64> = eval_s.iter().map(|&s| platt.probability(s)).collect();
            ece +=
                mlsd_core::metrics::calibration(eval_y, &p, 10).map_or(f64::NAN, |c| c.ece) / 2.0;
        }
        artifact.calibration = Platt::fit(&scores, &truth);
        artifact.reference_texts = held_out
            .iter()
            .take(REFERENCE_TEXTS)
            .map(|e| e.text.clone())
            .collect();
        let holdout = Holdout {
            texts: held_out.len(),
            accuracy: correct as f64 / held_out.len().max(1) as f64,
            ece,
        };
        (artifact, holdout)
    }

    /// The model's decision value for a text.
    pub fn score(&self, text: &str) -> f64 {
        self.model.score(&self.vectorizer.transform(text))
    }

    pub fn predict(&self, text: &str) -> Prediction {
        let features = self.vectorizer.transform(text);
        let score = self.model.score(&features);
        Prediction {
            text: text.to_string(),
            label: Label::of(&features, score),
            score,
            probability: self.calibration.probability(score),
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
        mlsd_core::design::register::<SentimentArtifact>(
            registry,
            Registration {
                model_name: "nbsvm_bigram".to_string(),
                training_data_sha256,
                feature_names: vec![format!("{} n-grams", self.vectorizer.dims())],
                config: serde_json::to_value(&self.vectorizer.config)
                    .map_err(|e| Error::Config(e.to_string()))?,
                metrics,
                files: vec![(FILE.to_string(), bytes)],
            },
        )
        .map_err(Error::from)
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
        let loaded = mlsd_core::design::load::<SentimentArtifact>(registry, None)?;
        Ok((loaded.version, loaded.model))
    }
}

impl Artifact for SentimentArtifact {
    const DESIGN: &'static str = DESIGN;

    /// Any sentiment model may replace another: the server keeps no state built from it but
    /// the cache and the drift window, and both are dropped on a swap.
    fn decode(version: &LoadedVersion) -> mlsd_core::Result<Self> {
        json_file(version, FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reviews::{generate, Domain};

    #[test]
    fn an_artifact_saved_before_calibration_and_references_still_loads() {
        let artifact =
            SentimentArtifact::train(&generate(Domain::Gadgets, 200, 1), &TextConfig::default());
        let mut old = serde_json::to_value(&artifact).expect("json");
        let fields = old.as_object_mut().expect("object");
        fields.remove("calibration");
        fields.remove("reference_texts");
        let bytes = serde_json::to_vec(&old).expect("bytes");
        let loaded =
            SentimentArtifact::from_bytes(&bytes, std::path::Path::new("old.json")).expect("load");
        assert_eq!(loaded.calibration, Platt::default());
        assert!(loaded.reference_texts.is_empty());
        let text = "the battery lasts two full days!";
        assert_eq!(loaded.predict(text), artifact.predict(text));
    }
}
