//! The cascade's sentence encoder (`--features encoder`): the loader and forward pass on a
//! tiny model the project writes (against a plain-loop reference of BERT's equations), the
//! tokenizer, broken model files, and — when `scripts/encoder.sh install` has run — the real
//! all-MiniLM-L6-v2 against the similarities sentence-transformers publishes for it.

#[cfg(feature = "encoder")]
mod with_feature {
    use std::collections::BTreeMap;

    use sentiment::encoder::{bert, tiny, SentenceEncoder};

    type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

    /// y = x·Wᵀ + b, row by row, W stored [out, in].
    fn linear(t: &Tensors, name: &str, x: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let (shape, w) = &t[&format!("{name}.weight")];
        let b = &t[&format!("{name}.bias")].1;
        let (outputs, inputs) = (shape[0], shape[1]);
        x.iter()
            .map(|row| {
                (0..outputs)
                    .map(|o| b[o] + (0..inputs).map(|i| row[i] * w[o * inputs + i]).sum::<f32>())
                    .collect()
            })
            .collect()
    }

    fn norm(t: &Tensors, name: &str, x: &mut [Vec<f32>]) {
        let g = &t[&format!("{name}.weight")].1;
        let b = &t[&format!("{name}.bias")].1;
        for row in x {
            let n = row.len() as f32;
            let mean = row.iter().sum::<f32>() / n;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - mean) / (var + 1e-12).sqrt() * g[j] + b[j];
            }
        }
    }

    fn add(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<Vec<f32>> {
        a.iter()
            .zip(b)
            .map(|(r, s)| r.iter().zip(s).map(|(x, y)| x + y).collect())
            .collect()
    }

    /// BERT's equations for one text, written out with loops (no ndarray), then mean-pooled
    /// and normalised.
    fn reference(t: &Tensors, ids: &[u32]) -> Vec<f32> {
        let cfg = tiny::config();
        let (h, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        let d = h / heads;
        let table = |name: &str, row: usize| t[name].1[row * h..(row + 1) * h].to_vec();
        let mut x: Vec<Vec<f32>> = ids
            .iter()
            .enumerate()
            .map(|(p, &id)| {
                let (w, pos, tt) = (
                    table("embeddings.word_embeddings.weight", id as usize),
                    table("embeddings.position_embeddings.weight", p),
                    table("embeddings.token_type_embeddings.weight", 0),
                );
                (0..h).map(|j| w[j] + pos[j] + tt[j]).collect()
            })
            .collect();
        norm(t, "embeddings.LayerNorm", &mut x);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let q = linear(t, &format!("{p}.attention.self.query"), &x);
            let k = linear(t, &format!("{p}.attention.self.key"), &x);
            let v = linear(t, &format!("{p}.attention.self.value"), &x);
            let mut ctx = vec![vec![0.0f32; h]; x.len()];
            for head in 0..heads {
                let cols = head * d..(head + 1) * d;
                for i in 0..x.len() {
                    let scores: Vec<f32> = (0..x.len())
                        .map(|j| {
                            cols.clone().map(|c| q[i][c] * k[j][c]).sum::<f32>() / (d as f32).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f32::MIN, f32::max);
                    let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                    let z: f32 = e.iter().sum();
                    for c in cols.clone() {
                        ctx[i][c] = (0..x.len()).map(|j| e[j] / z * v[j][c]).sum();
                    }
                }
            }
            let mut a = add(&linear(t, &format!("{p}.attention.output.dense"), &ctx), &x);
            norm(t, &format!("{p}.attention.output.LayerNorm"), &mut a);
            let mut inner = linear(t, &format!("{p}.intermediate.dense"), &a);
            for row in &mut inner {
                for v in row.iter_mut() {
                    *v = bert::gelu(*v);
                }
            }
            x = add(&linear(t, &format!("{p}.output.dense"), &inner), &a);
            norm(t, &format!("{p}.output.LayerNorm"), &mut x);
        }
        let mean: Vec<f32> = (0..h)
            .map(|j| x.iter().map(|r| r[j]).sum::<f32>() / x.len() as f32)
            .collect();
        let len = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
        mean.iter().map(|v| v / len).collect()
    }

    const TEXTS: [&str; 4] = [
        "The movie was great!",
        "not a good film.",
        "Unlikeable, dull films",
        "fun",
    ];

    #[test]
    fn the_tiny_model_loads_and_matches_a_plain_loop_reference_alone_and_in_a_batch() {
        let dir = tempfile::tempdir().expect("dir");
        let weights = tiny::write(dir.path(), 7).expect("write tiny model");
        let encoder = SentenceEncoder::load(dir.path()).expect("load tiny model");
        assert_eq!(encoder.dims(), 8);
        let batch = encoder.embed(&TEXTS, 2);
        assert_eq!(batch.len(), TEXTS.len());
        for (text, got) in TEXTS.iter().zip(&batch) {
            let want = reference(&weights, &encoder.tokenizer.encode(text));
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-5,
                    "{text}: {got:?} vs the reference {want:?}"
                );
            }
            let alone = &encoder.embed(&[text], 1)[0];
            for (g, a) in got.iter().zip(alone) {
                assert!(
                    (g - a).abs() < 1e-5,
                    "{text}: batch {got:?} vs alone {alone:?}"
                );
            }
            let length = got.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!((length - 1.0).abs() < 1e-5, "{text}: length {length}");
        }
        // Different texts, different embeddings; a random model is no encoder of meaning.
        assert_ne!(batch[0], batch[1]);
        // The sequence limit of sentence_bert_config.json (12) cuts long texts, whatever their
        // length, to [CLS] + 10 pieces + [SEP].
        let long = "fun ".repeat(40);
        assert_eq!(encoder.tokenizer.encode(&long).len(), 12);
        assert_eq!(encoder.embed(&[&long], 1)[0].len(), 8);
    }

    #[test]
    fn wordpiece_lowercases_strips_accents_splits_punctuation_and_takes_the_longest_pieces() {
        let dir = tempfile::tempdir().expect("dir");
        tiny::write(dir.path(), 1).expect("write tiny model");
        let encoder = SentenceEncoder::load(dir.path()).expect("load");
        assert_eq!(
            encoder.tokenizer.pieces("Unlikeable FILMS, café!"),
            ["un", "##like", "##able", "film", "##s", ",", "[UNK]", "!"]
        );
        // Control characters go, combining accents go, tabs are white space.
        assert_eq!(
            encoder.tokenizer.pieces("\tThe\u{301} \u{0}movie"),
            ["the", "movie"]
        );
        assert_eq!(encoder.tokenizer.pieces(""), Vec::<String>::new());
        let ids = encoder.tokenizer.encode("");
        assert_eq!(ids, [2, 3], "[CLS] [SEP] for an empty text");
    }

    #[test]
    fn broken_model_files_get_an_error_naming_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("dir");
        let weights = tiny::write(dir.path(), 3).expect("write");
        let path = dir.path().join("model.safetensors");
        let error = |dir: &std::path::Path| match SentenceEncoder::load(dir) {
            Ok(_) => panic!("a broken model loaded"),
            Err(e) => e.to_string(),
        };
        // Truncated: the header says more than the file holds.
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
        let e = error(dir.path());
        assert!(
            e.contains("model.safetensors") && e.contains("offsets"),
            "{e}"
        );
        // A tensor missing.
        let mut missing = weights.clone();
        missing.remove("encoder.layer.1.output.dense.bias");
        tiny::write_safetensors(&path, &missing).expect("write");
        let e = error(dir.path());
        assert!(
            e.contains("no f32 tensor encoder.layer.1.output.dense.bias"),
            "{e}"
        );
        // A tensor of the wrong shape.
        let mut wrong = weights.clone();
        wrong.insert(
            "encoder.layer.0.attention.self.key.weight".into(),
            (vec![4, 8], vec![0.0; 32]),
        );
        tiny::write_safetensors(&path, &wrong).expect("write");
        let e = error(dir.path());
        assert!(
            e.contains("has shape [4, 8], the config needs [8, 8]"),
            "{e}"
        );
        // Not a safetensors file at all.
        std::fs::write(&path, b"hello").expect("write");
        assert!(error(dir.path()).contains("shorter than a safetensors header"));
        // No model at all.
        let empty = tempfile::tempdir().expect("dir");
        let e = error(empty.path());
        assert!(e.contains("config.json"), "{e}");
    }

    #[test]
    fn the_cascade_escalates_more_as_the_band_widens_and_its_ends_are_the_two_models_alone() {
        use sentiment::cascade::{evaluate, CascadeConfig};
        let dir = tempfile::tempdir().expect("dir");
        tiny::write(dir.path(), 5).expect("write");
        let encoder = SentenceEncoder::load(dir.path()).expect("load");
        let examples: Vec<_> = sentiment::reviews::embedded()
            .examples
            .into_iter()
            .take(600)
            .collect();
        let cfg = CascadeConfig {
            folds: 3,
            c_grid: vec![0.1, 1.0],
            ..CascadeConfig::default()
        };
        let report = evaluate(&encoder, "tiny", &examples, &[], &cfg);
        let rows = &report.models;
        assert_eq!(rows.len(), cfg.bands.len());
        assert_eq!(rows[0].escalated, 0.0, "band 0 is NBSVM alone");
        assert_eq!(
            rows[rows.len() - 1].escalated,
            1.0,
            "band 0.5 escalates every text"
        );
        for pair in rows.windows(2) {
            assert!(pair[0].escalated <= pair[1].escalated, "{pair:?}");
            assert!(
                pair[0].texts_per_second >= pair[1].texts_per_second,
                "{pair:?}"
            );
        }
        // NBSVM learns the synthetic reviews; a random tiny encoder knows nothing of them:
        // escalating everything to it must cost accuracy.
        assert!(rows[0].accuracy > 0.75, "{rows:?}");
        assert!(
            rows[rows.len() - 1].accuracy < rows[0].accuracy - 0.1,
            "{rows:?}"
        );
        assert_eq!(report.chosen_c.len(), 3);
        assert!(report.out_of_domain.is_empty());
    }

    /// The installed model, or None after saying SKIPPED.
    fn installed(test: &str) -> Option<SentenceEncoder> {
        let dir = sentiment::encoder::default_dir();
        if !dir.join("model.safetensors").exists() {
            eprintln!(
                "SKIPPED {test}: no model in {} (scripts/encoder.sh install)",
                dir.display()
            );
            return None;
        }
        Some(SentenceEncoder::load(&dir).expect("the installed model loads"))
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn all_minilm_l6_v2_gives_the_similarities_sentence_transformers_publishes() {
        let Some(encoder) =
            installed("all_minilm_l6_v2_gives_the_similarities_sentence_transformers_publishes")
        else {
            return;
        };
        // sentence-transformers' README (quickstart, all-MiniLM-L6-v2): 0.6660, 0.1046, 0.1411.
        let e = encoder.embed(
            &[
                "The weather is lovely today.",
                "It's so sunny outside!",
                "He drove to the stadium.",
            ],
            2,
        );
        for ((i, j), published) in [((0, 1), 0.6660), ((0, 2), 0.1046), ((1, 2), 0.1411)] {
            let ours = cosine(&e[i], &e[j]);
            assert!(
                (ours - published).abs() < 5e-4,
                "similarity {i}-{j}: ours {ours:.4}, published {published}"
            );
        }
        // Punctuation is split off before WordPiece; the vocabulary knows these words whole.
        assert_eq!(
            encoder.tokenizer.pieces("It's so sunny!"),
            ["it", "'", "s", "so", "sunny", "!"]
        );
    }
}

#[cfg(not(feature = "encoder"))]
#[test]
fn without_the_feature_the_cascade_protocol_says_how_to_build_it() {
    eprintln!("SKIPPED sentiment::encoder (the model tests): built without --features encoder");
    let runs = tempfile::tempdir().expect("dir");
    let data = tempfile::tempdir().expect("dir");
    let data_dir = data.path().to_string_lossy().into_owned();
    let (ok, _, stderr) = crate::common::mlsd(
        &[
            "sentiment",
            "evaluate",
            "--protocol",
            "cascade",
            "--data-dir",
            &data_dir,
        ],
        runs.path(),
    );
    assert!(!ok);
    assert!(stderr.contains("--features encoder"), "{stderr}");
}
