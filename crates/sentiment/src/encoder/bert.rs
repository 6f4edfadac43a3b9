//! A BERT encoder's forward pass on ndarray, read from a safetensors file — enough for
//! sentence-transformers' MiniLM models (post-layer-norm BERT, absolute positions, erf GELU).
//!
//! Simplification: inference only, f32, one segment (token type 0), no attention mask: each
//! text's attention runs over its own tokens, so nothing is padded. The linear layers run on
//! the rows of a whole batch at once (one matrix product per layer), the attention per text.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use serde::Deserialize;

use crate::{Error, Result};

/// The fields of a Hugging Face `config.json` this forward pass uses.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

impl BertConfig {
    pub fn read(path: &Path) -> Result<BertConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        let cfg: BertConfig =
            serde_json::from_str(&text).map_err(|e| unusable(path, e.to_string()))?;
        if cfg.hidden_act != "gelu" {
            return Err(unusable(
                path,
                format!(
                    "hidden_act {:?}: only \"gelu\" (erf) is implemented",
                    cfg.hidden_act
                ),
            ));
        }
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(unusable(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    cfg.hidden_size, cfg.num_attention_heads
                ),
            ));
        }
        Ok(cfg)
    }
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Read {
        path: path.into(),
        source,
    }
}

pub(crate) fn unusable(path: &Path, why: impl Into<String>) -> Error {
    Error::Input {
        path: path.into(),
        why: why.into(),
    }
}

/// A tensor as stored: its shape and its values in row-major order.
pub type Tensor = (Vec<usize>, Vec<f32>);

/// The f32 tensors of a safetensors file by name (other dtypes, such as BERT's int64
/// `position_ids` buffer, are skipped).
pub fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let bad = |why: String| unusable(path, why);
    let header_len = bytes
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| bad("shorter than a safetensors header".into()))?;
    let data_start = usize::try_from(header_len)
        .ok()
        .and_then(|n| n.checked_add(8))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| bad(format!("header length {header_len} runs past the file")))?;
    let header: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..data_start]).map_err(|e| bad(format!("header: {e}")))?;
    let data = &bytes[data_start..];
    let mut tensors = HashMap::new();
    for (name, entry) in header {
        if name == "__metadata__" || entry.get("dtype").and_then(|d| d.as_str()) != Some("F32") {
            continue;
        }
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone())
            .map_err(|e| bad(format!("{name}: shape: {e}")))?;
        let [start, end]: [usize; 2] = serde_json::from_value(entry["data_offsets"].clone())
            .map_err(|e| bad(format!("{name}: data_offsets: {e}")))?;
        let count: usize = shape.iter().product();
        let raw = data
            .get(start..end)
            .filter(|r| r.len() == count * 4)
            .ok_or_else(|| {
                bad(format!(
                    "{name}: offsets {start}..{end} do not hold {shape:?} f32"
                ))
            })?;
        let values = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name, (shape, values));
    }
    Ok(tensors)
}

struct Linear {
    /// `[out, in]`, as stored: y = x·Wᵀ + b.
    w: Array2<f32>,
    b: Array1<f32>,
}

impl Linear {
    fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        x.dot(&self.w.t()) + &self.b
    }
}

struct LayerNorm {
    gamma: Array1<f32>,
    beta: Array1<f32>,
    eps: f32,
}

impl LayerNorm {
    fn forward(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A loaded encoder.
pub struct Bert {
    pub config: BertConfig,
    word: Array2<f32>,
    position: Array2<f32>,
    token_type: Array2<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

/// Takes named tensors out of the map, checking their shapes.
struct Weights<'a> {
    path: &'a Path,
    tensors: HashMap<String, Tensor>,
}

impl Weights<'_> {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let (found, values) = self
            .tensors
            .remove(name)
            .ok_or_else(|| unusable(self.path, format!("no f32 tensor {name}")))?;
        if found != shape {
            return Err(unusable(
                self.path,
                format!("{name} has shape {found:?}, the config needs {shape:?}"),
            ));
        }
        Ok(values)
    }

    fn matrix(&mut self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>> {
        let values = self.take(name, &[rows, cols])?;
        Array2::from_shape_vec((rows, cols), values).map_err(|e| unusable(self.path, e.to_string()))
    }

    fn vector(&mut self, name: &str, len: usize) -> Result<Array1<f32>> {
        Ok(Array1::from(self.take(name, &[len])?))
    }

    fn linear(&mut self, name: &str, inputs: usize, outputs: usize) -> Result<Linear> {
        Ok(Linear {
            w: self.matrix(&format!("{name}.weight"), outputs, inputs)?,
            b: self.vector(&format!("{name}.bias"), outputs)?,
        })
    }

    fn norm(&mut self, name: &str, len: usize, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm {
            gamma: self.vector(&format!("{name}.weight"), len)?,
            beta: self.vector(&format!("{name}.bias"), len)?,
            eps: eps as f32,
        })
    }
}

impl Bert {
    /// Reads `config.json` and `model.safetensors` from `dir`. Tensor names may carry a
    /// `bert.` prefix (a `BertForMaskedLM`-style checkpoint) or none (a bare `BertModel`).
    pub fn load(dir: &Path) -> Result<Bert> {
        let config = BertConfig::read(&dir.join("config.json"))?;
        let path = dir.join("model.safetensors");
        let mut tensors = read_safetensors(&path)?;
        if tensors.keys().any(|k| k.starts_with("bert.")) {
            tensors = tensors
                .into_iter()
                .map(|(k, v)| (k.strip_prefix("bert.").map_or(k.clone(), String::from), v))
                .collect();
        }
        let mut w = Weights {
            path: &path,
            tensors,
        };
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let word = w.matrix("embeddings.word_embeddings.weight", config.vocab_size, h)?;
        let position = w.matrix(
            "embeddings.position_embeddings.weight",
            config.max_position_embeddings,
            h,
        )?;
        let token_type = w.matrix(
            "embeddings.token_type_embeddings.weight",
            config.type_vocab_size,
            h,
        )?;
        let embedding_norm = w.norm("embeddings.LayerNorm", h, eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: w.linear(&format!("{p}.attention.self.query"), h, h)?,
                key: w.linear(&format!("{p}.attention.self.key"), h, h)?,
                value: w.linear(&format!("{p}.attention.self.value"), h, h)?,
                attention_out: w.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h, eps)?,
                intermediate: w.linear(
                    &format!("{p}.intermediate.dense"),
                    h,
                    config.intermediate_size,
                )?,
                output: w.linear(&format!("{p}.output.dense"), config.intermediate_size, h)?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"), h, eps)?,
            });
        }
        Ok(Bert {
            config,
            word,
            position,
            token_type,
            embedding_norm,
            layers,
        })
    }

    /// The last hidden states of a batch of token-id sequences, stacked: row r of the result
    /// belongs to the text whose span (in `spans`, cumulative) holds r.
    /// Every id must be below the vocabulary size and every sequence within
    /// `max_position_embeddings` (the tokenizer guarantees both).
    pub fn hidden_states(&self, batch: &[Vec<u32>]) -> Array2<f32> {
        let h = self.config.hidden_size;
        let rows: usize = batch.iter().map(Vec::len).sum();
        let mut x = Array2::<f32>::zeros((rows, h));
        let mut r = 0;
        for ids in batch {
            for (position, &id) in ids.iter().enumerate() {
                let mut row = x.row_mut(r);
                row += &self.word.row(id as usize);
                row += &self.position.row(position);
                row += &self.token_type.row(0);
                r += 1;
            }
        }
        self.embedding_norm.forward(&mut x);
        for layer in &self.layers {
            x = self.layer(layer, x, batch);
        }
        x
    }

    fn layer(&self, layer: &Layer, x: Array2<f32>, batch: &[Vec<u32>]) -> Array2<f32> {
        let q = layer.query.forward(x.view());
        let k = layer.key.forward(x.view());
        let v = layer.value.forward(x.view());
        let heads = self.config.num_attention_heads;
        let d = self.config.hidden_size / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut context = Array2::<f32>::zeros(x.raw_dim());
        let mut start = 0;
        for ids in batch {
            let end = start + ids.len();
            for head in 0..heads {
                let cols = s![start..end, head * d..(head + 1) * d];
                let mut scores = q.slice(cols).dot(&k.slice(cols).t()) * scale;
                softmax_rows(&mut scores);
                context.slice_mut(cols).assign(&scores.dot(&v.slice(cols)));
            }
            start = end;
        }
        let mut attended = layer.attention_out.forward(context.view()) + &x;
        layer.attention_norm.forward(&mut attended);
        let mut inner = layer.intermediate.forward(attended.view());
        inner.mapv_inplace(gelu);
        let mut out = layer.output.forward(inner.view()) + &attended;
        layer.output_norm.forward(&mut out);
        out
    }

    /// Mean of each text's token states (sentence-transformers' mean pooling over an all-ones
    /// mask), scaled to unit length.
    pub fn embed(&self, batch: &[Vec<u32>]) -> Vec<Vec<f32>> {
        let states = self.hidden_states(batch);
        let mut start = 0;
        batch
            .iter()
            .map(|ids| {
                let end = start + ids.len();
                let mean = states
                    .slice(s![start..end, ..])
                    .mean_axis(Axis(0))
                    .unwrap_or_else(|| Array1::zeros(self.config.hidden_size));
                start = end;
                let norm = mean.dot(&mean).sqrt().max(1e-12);
                mean.iter().map(|v| v / norm).collect()
            })
            .collect()
    }
}

fn softmax_rows(scores: &mut Array2<f32>) {
    for mut row in scores.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
}

/// GELU with the exact (erf) form, as BERT's "gelu".
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7; f32 resolution is ~6e-8
/// near 1).
pub fn erf(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() as f64);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let y = 1.0 - poly * (-(x as f64) * (x as f64)).exp();
    (if x < 0.0 { -y } else { y }) as f32
}
