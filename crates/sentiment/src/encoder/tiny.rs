//! A tiny BERT with seeded random weights, written in the real model's format
//! (`config.json`, `model.safetensors`, `vocab.txt`, pooling config), so the loader and the
//! forward pass are tested without downloading anything.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::bert::{io, BertConfig, Tensor};
use crate::Result;

/// The tiny model's vocabulary: the specials, a few words and pieces.
pub const VOCAB: [&str; 24] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "was", "great", "bad", "good",
    "not", "un", "##like", "##able", "##s", "a", "film", "!", ".", ",", "'", "fun", "dull",
];

/// The config of the tiny model: 2 layers, 2 heads of 4, 16 positions.
pub fn config() -> BertConfig {
    BertConfig {
        vocab_size: VOCAB.len(),
        hidden_size: 8,
        num_hidden_layers: 2,
        num_attention_heads: 2,
        intermediate_size: 16,
        max_position_embeddings: 16,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        hidden_act: "gelu".into(),
    }
}

/// Every tensor of a BERT with `cfg`'s shapes, by name: uniform in ±0.5 (layer-norm gains
/// around 1), from `seed`.
pub fn weights(cfg: &BertConfig, seed: u64) -> BTreeMap<String, Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = BTreeMap::new();
    let mut add = |name: String, shape: Vec<usize>, around: f32| {
        let n: usize = shape.iter().product();
        let values = (0..n)
            .map(|_| around + rng.gen_range(-0.5f32..0.5))
            .collect();
        out.insert(name, (shape, values));
    };
    let h = cfg.hidden_size;
    add(
        "embeddings.word_embeddings.weight".into(),
        vec![cfg.vocab_size, h],
        0.0,
    );
    add(
        "embeddings.position_embeddings.weight".into(),
        vec![cfg.max_position_embeddings, h],
        0.0,
    );
    add(
        "embeddings.token_type_embeddings.weight".into(),
        vec![cfg.type_vocab_size, h],
        0.0,
    );
    let norm = |add: &mut dyn FnMut(String, Vec<usize>, f32), p: &str| {
        add(format!("{p}.weight"), vec![h], 1.0);
        add(format!("{p}.bias"), vec![h], 0.0);
    };
    norm(&mut add, "embeddings.LayerNorm");
    for i in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{i}");
        for (name, outputs, inputs) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", cfg.intermediate_size, h),
            ("output.dense", h, cfg.intermediate_size),
        ] {
            add(format!("{p}.{name}.weight"), vec![outputs, inputs], 0.0);
            add(format!("{p}.{name}.bias"), vec![outputs], 0.0);
        }
        norm(&mut add, &format!("{p}.attention.output.LayerNorm"));
        norm(&mut add, &format!("{p}.output.LayerNorm"));
    }
    out
}

/// Writes `tensors` as a safetensors file (F32, little-endian), with an int64 buffer as real
/// BERT checkpoints carry (`embeddings.position_ids`), which the loader must skip.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut data: Vec<u8> = Vec::new();
    let positions: Vec<i64> = (0..4).collect();
    header.insert(
        "embeddings.position_ids".into(),
        serde_json::json!({"dtype": "I64", "shape": [1, 4], "data_offsets": [0, 32]}),
    );
    data.extend(positions.iter().flat_map(|p| p.to_le_bytes()));
    for (name, (shape, values)) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut head = serde_json::Value::Object(header).to_string().into_bytes();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut bytes = (head.len() as u64).to_le_bytes().to_vec();
    bytes.extend(head);
    bytes.extend(data);
    std::fs::write(path, bytes).map_err(|e| io(path, e))
}

/// Writes the tiny model into `dir` and returns its weights (for a reference computation).
pub fn write(dir: &Path, seed: u64) -> Result<BTreeMap<String, Tensor>> {
    std::fs::create_dir_all(dir.join("1_Pooling")).map_err(|e| io(dir, e))?;
    let cfg = config();
    let put = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| io(&path, e))
    };
    let config = serde_json::to_string_pretty(&cfg)
        .map_err(|e| super::bert::unusable(&dir.join("config.json"), e.to_string()))?;
    put("config.json", config)?;
    put("vocab.txt", VOCAB.join("\n") + "\n")?;
    put(
        "sentence_bert_config.json",
        r#"{"max_seq_length": 12, "do_lower_case": false}"#.into(),
    )?;
    put(
        "1_Pooling/config.json",
        r#"{"word_embedding_dimension": 8, "pooling_mode_mean_tokens": true}"#.into(),
    )?;
    let tensors = weights(&cfg, seed);
    write_safetensors(&dir.join("model.safetensors"), &tensors)?;
    Ok(tensors)
}
