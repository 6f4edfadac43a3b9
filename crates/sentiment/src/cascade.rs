//! Stage 4 (continued, `encoder` feature) — the small-model-first cascade with a real second
//! tier: NBSVM-bigram answers when its calibrated probability is far from 0.5, the frozen
//! sentence encoder + logistic regression ([`crate::encoder`]) takes the rest.
//!
//! Measured twice: on rt-polarity's 10 folds (the folds of [`crate::evaluate::cv10`]), and
//! out of domain (trained on all of rt-polarity, scored on VADER's Amazon and NYT snippets, as
//! [`crate::out_of_domain`]). Everything the cascade needs is chosen inside each training fold:
//! NBSVM's Platt scaling from a 3-fold split of it, the classifier's C by a 3-fold inner CV.
//!
//! Talking points: escalate only the unsure — the cost is the share escalated times the large
//! model's cost; the band is a dial between accuracy and texts/s; a pretrained encoder is what
//! carries a classifier to text it never saw.

use std::time::Instant;

use serde::Serialize;

use crate::data::Example;
use crate::encoder::{EmbeddingClassifier, SentenceEncoder};
use crate::evaluate::{fold_std, seeded_folds};
use crate::lexicon::{Polarity, Vader};
use crate::models::{Classifier, NbSvm, Platt, SvmConfig};
use crate::out_of_domain::RatedSet;
use crate::text::{TextConfig, Vectorizer};

/// Settings of the protocol.
#[derive(Debug, Clone, Serialize)]
pub struct CascadeConfig {
    pub folds: usize,
    /// The shuffle of [`crate::evaluate::Cv10Config`] (same folds).
    pub seed: u64,
    /// Escalation bands: a text goes to the encoder when |P(positive) − 0.5| < band; 0.5
    /// escalates everything (the encoder alone).
    pub bands: Vec<f64>,
    /// The band of the out-of-domain rows (chosen before they were run: §4's band).
    pub ood_band: f64,
    /// C of the classifier on embeddings, chosen by inner CV from these.
    pub c_grid: Vec<f64>,
    pub workers: usize,
}

impl Default for CascadeConfig {
    fn default() -> Self {
        CascadeConfig {
            folds: 10,
            seed: 42,
            bands: vec![0.0, 0.1, 0.2, 0.3, 0.5],
            ood_band: 0.2,
            c_grid: vec![0.001, 0.003, 0.01, 0.03, 0.1],
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// One band's result on the 10 folds.
#[derive(Debug, Clone, Serialize)]
pub struct BandRow {
    pub name: String,
    pub band: f64,
    pub accuracy: f64,
    pub fold_std: f64,
    /// Share of texts sent to the encoder.
    pub escalated: f64,
    /// Texts per second per core at this band: NBSVM on every text, the encoder (embedding
    /// and classifier) on the escalated share, from the measured per-text costs.
    pub texts_per_second: f64,
}

/// One out-of-domain row.
#[derive(Debug, Clone, Serialize)]
pub struct OodRow {
    pub name: String,
    pub escalated: Vec<(String, f64)>,
    pub accuracy: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CascadeReport {
    pub protocol: &'static str,
    pub config: CascadeConfig,
    pub encoder: String,
    pub texts: usize,
    /// Mean WordPiece tokens per text, [CLS] and [SEP] included.
    pub mean_tokens: f64,
    /// Milliseconds per text, one core: the encoder (tokenise + forward pass), NBSVM.
    pub encoder_ms_per_text: f64,
    pub nbsvm_ms_per_text: f64,
    pub embed_seconds: f64,
    pub workers: usize,
    /// The C each fold's inner CV chose.
    pub chosen_c: Vec<f64>,
    /// Seconds per fold to fit both tiers (NBSVM with its Platt split, the classifier with its
    /// inner CV over `c_grid`), on the embeddings already computed.
    pub fit_seconds_per_fold: f64,
    pub models: Vec<BandRow>,
    pub out_of_domain: Vec<OodRow>,
}

/// NBSVM-bigram with Platt scaling fitted on a 3-fold split of its own training texts.
struct SmallModel {
    vectorizer: Vectorizer,
    model: NbSvm,
    platt: Platt,
}

impl SmallModel {
    fn fit(train: &[&Example], seed: u64) -> SmallModel {
        let text = TextConfig::default();
        let fit = |part: &[&Example]| {
            let (v, xs, ys) = Vectorizer::fit_examples(part.iter().copied(), &text);
            let m = NbSvm::fit(&xs, &ys, v.dims(), 1.0, 0.25, &SvmConfig::default());
            (v, m)
        };
        let inner = seeded_folds(train.len(), 3, seed);
        let (mut scores, mut truth) = (Vec::new(), Vec::new());
        for k in 0..3 {
            let part: Vec<&Example> = pick(train, &inner, |f| f != k);
            let (v, m) = fit(&part);
            for e in pick(train, &inner, |f| f == k) {
                scores.push(m.score(&v.transform(&e.text)));
                truth.push(e.positive);
            }
        }
        let platt = Platt::fit(&scores, &truth);
        let (vectorizer, model) = fit(train);
        SmallModel {
            vectorizer,
            model,
            platt,
        }
    }

    fn probability(&self, text: &str) -> f64 {
        self.platt
            .probability(self.model.score(&self.vectorizer.transform(text)))
    }
}

fn pick<T: Copy>(items: &[T], fold: &[usize], keep: impl Fn(usize) -> bool) -> Vec<T> {
    items
        .iter()
        .zip(fold)
        .filter(|(_, &f)| keep(f))
        .map(|(&x, _)| x)
        .collect()
}

/// The classifier on embeddings with C chosen by a 3-fold inner CV.
fn fit_classifier(xs: &[&[f32]], ys: &[bool], grid: &[f64], seed: u64) -> EmbeddingClassifier {
    let inner = seeded_folds(xs.len(), 3, seed);
    let mut best = (f64::NEG_INFINITY, grid.first().copied().unwrap_or(1.0));
    for &c in grid {
        let mut correct = 0usize;
        for k in 0..3 {
            let train_x = pick(xs, &inner, |f| f != k);
            let train_y = pick(ys, &inner, |f| f != k);
            let model = EmbeddingClassifier::fit(&train_x, &train_y, c);
            for (x, y) in pick(xs, &inner, |f| f == k)
                .into_iter()
                .zip(pick(ys, &inner, |f| f == k))
            {
                correct += usize::from((model.score(x) > 0.0) == y);
            }
        }
        let accuracy = correct as f64 / xs.len().max(1) as f64;
        if accuracy > best.0 {
            best = (accuracy, c);
        }
    }
    EmbeddingClassifier::fit(xs, ys, best.1)
}

/// The 10-fold cascade table, then the out-of-domain rows.
pub fn evaluate(
    encoder: &SentenceEncoder,
    encoder_name: &str,
    mr: &[Example],
    sets: &[RatedSet],
    cfg: &CascadeConfig,
) -> CascadeReport {
    // Timed from the raw text: the encoder's cost is tokenising and the forward pass.
    let t = Instant::now();
    let ids: Vec<Vec<u32>> = mr
        .iter()
        .map(|e| encoder.tokenizer.encode(&e.text))
        .collect();
    let embeddings = encoder.embed_ids(&ids, cfg.workers);
    let embed_seconds = t.elapsed().as_secs_f64();
    let tokens: usize = ids.iter().map(Vec::len).sum();
    let encoder_ms = embed_seconds * 1e3 * cfg.workers as f64 / mr.len().max(1) as f64;

    let folds = cfg.folds.max(2);
    let in_fold = seeded_folds(mr.len(), folds, cfg.seed);
    let mut per_band = vec![Vec::with_capacity(folds); cfg.bands.len()];
    let mut escalated = vec![0usize; cfg.bands.len()];
    let (mut chosen_c, mut nbsvm_seconds, mut fit_seconds) = (Vec::new(), 0.0, 0.0);
    let all: Vec<&Example> = mr.iter().collect();
    let all_x: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
    for f in 0..folds {
        let train: Vec<&Example> = pick(&all, &in_fold, |g| g != f);
        let train_x: Vec<&[f32]> = pick(&all_x, &in_fold, |g| g != f);
        let train_y: Vec<bool> = train.iter().map(|e| e.positive).collect();
        let t = Instant::now();
        let small = SmallModel::fit(&train, cfg.seed + f as u64);
        let large = fit_classifier(&train_x, &train_y, &cfg.c_grid, cfg.seed + f as u64);
        fit_seconds += t.elapsed().as_secs_f64();
        chosen_c.push(large.c);
        let test: Vec<usize> = (0..mr.len()).filter(|&i| in_fold[i] == f).collect();
        let t = Instant::now();
        let p: Vec<f64> = test
            .iter()
            .map(|&i| small.probability(&mr[i].text))
            .collect();
        nbsvm_seconds += t.elapsed().as_secs_f64();
        for (b, &band) in cfg.bands.iter().enumerate() {
            let mut correct = 0usize;
            for (&i, &p) in test.iter().zip(&p) {
                // Talking point: only the unsure go to the large model — the cost is the share
                // escalated times its cost, the band the dial between accuracy and texts/s.
                let positive = if (p - 0.5).abs() < band {
                    escalated[b] += 1;
                    large.score(&embeddings[i]) > 0.0
                } else {
                    p > 0.5
                };
                correct += usize::from(positive == mr[i].positive);
            }
            per_band[b].push(correct as f64 / test.len().max(1) as f64);
        }
    }
    let nbsvm_ms = nbsvm_seconds * 1e3 / mr.len().max(1) as f64;
    let models = cfg
        .bands
        .iter()
        .zip(per_band)
        .zip(escalated)
        .map(|((&band, accuracies), escalated)| {
            let share = escalated as f64 / mr.len().max(1) as f64;
            let mean = accuracies.iter().sum::<f64>() / accuracies.len().max(1) as f64;
            BandRow {
                name: band_name(band),
                band,
                accuracy: mean,
                fold_std: fold_std(&accuracies, mean),
                escalated: share,
                texts_per_second: 1e3 / (nbsvm_ms + share * encoder_ms),
            }
        })
        .collect();
    let out_of_domain = out_of_domain(encoder, mr, &embeddings, sets, cfg);
    CascadeReport {
        protocol: "cascade",
        config: cfg.clone(),
        encoder: encoder_name.to_string(),
        texts: mr.len(),
        mean_tokens: tokens as f64 / mr.len().max(1) as f64,
        encoder_ms_per_text: encoder_ms,
        nbsvm_ms_per_text: nbsvm_ms,
        embed_seconds,
        workers: cfg.workers,
        chosen_c,
        fit_seconds_per_fold: fit_seconds / folds as f64,
        models,
        out_of_domain,
    }
}

fn band_name(band: f64) -> String {
    if band <= 0.0 {
        "nbsvm_bigram alone".into()
    } else if band >= 0.5 {
        "minilm_lr alone".into()
    } else {
        format!("cascade, band {band}")
    }
}

/// Trained on all of `mr`; each set scored by the encoder alone, the cascade at the
/// configured band, and the lexicon first with the encoder for what it leaves undecided.
fn out_of_domain(
    encoder: &SentenceEncoder,
    mr: &[Example],
    embeddings: &[Vec<f32>],
    sets: &[RatedSet],
    cfg: &CascadeConfig,
) -> Vec<OodRow> {
    if sets.is_empty() {
        return Vec::new();
    }
    let all: Vec<&Example> = mr.iter().collect();
    let xs: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
    let ys: Vec<bool> = mr.iter().map(|e| e.positive).collect();
    let small = SmallModel::fit(&all, cfg.seed);
    let large = fit_classifier(&xs, &ys, &cfg.c_grid, cfg.seed);
    let vader = Vader::embedded().ok();
    let mut rows: Vec<OodRow> = [
        "minilm_lr alone",
        "cascade (nbsvm_bigram, else minilm_lr)",
        "vader, else minilm_lr",
    ]
    .into_iter()
    .map(|name| OodRow {
        name: name.into(),
        escalated: Vec::new(),
        accuracy: Vec::new(),
    })
    .collect();
    for set in sets {
        let texts: Vec<&str> = set.examples.iter().map(|e| e.text.as_str()).collect();
        let emb = encoder.embed(&texts, cfg.workers);
        let large_says: Vec<bool> = emb.iter().map(|x| large.score(x) > 0.0).collect();
        let n = texts.len().max(1) as f64;
        let accuracy = |says: &[bool]| {
            says.iter()
                .zip(&set.examples)
                .filter(|(s, e)| **s == e.positive)
                .count() as f64
                / n
        };
        let mut cascade = Vec::with_capacity(texts.len());
        let mut lexicon_first = Vec::with_capacity(texts.len());
        let (mut up_cascade, mut up_lexicon) = (0usize, 0usize);
        for (text, &large) in texts.iter().zip(&large_says) {
            let p = small.probability(text);
            cascade.push(if (p - 0.5).abs() < cfg.ood_band {
                up_cascade += 1;
                large
            } else {
                p > 0.5
            });
            let lexicon = vader
                .as_ref()
                .map_or(Polarity::Neutral, |v| v.polarity(text));
            lexicon_first.push(match lexicon {
                Polarity::Positive => true,
                Polarity::Negative => false,
                Polarity::Neutral => {
                    up_lexicon += 1;
                    large
                }
            });
        }
        let name = set.name.to_string();
        for (row, (says, up)) in rows.iter_mut().zip([
            (large_says.clone(), texts.len()),
            (cascade, up_cascade),
            (lexicon_first, up_lexicon),
        ]) {
            row.accuracy.push((name.clone(), accuracy(&says)));
            row.escalated.push((name.clone(), up as f64 / n));
        }
    }
    rows
}

/// The two tables.
pub fn render(r: &CascadeReport) -> String {
    let mut out = format!(
        "Encoder {}: {:.1} WordPiece tokens per text, {:.2} ms per text per core ({} texts embedded in {:.1} s on {} threads); NBSVM-bigram {:.3} ms per text.\n\
         Classifier C chosen per fold (inner CV): {:?}; both tiers fitted in {:.1} s per fold.\n\n\
         | model | accuracy (10-fold) | fold std | escalated | texts/s per core |\n|---|---|---|---|---|\n",
        r.encoder, r.mean_tokens, r.encoder_ms_per_text, r.texts, r.embed_seconds, r.workers,
        r.nbsvm_ms_per_text, r.chosen_c, r.fit_seconds_per_fold
    );
    for m in &r.models {
        out += &format!(
            "| {} | {:.2} % | {:.2} | {:.1} % | {:.0} |\n",
            m.name,
            100.0 * m.accuracy,
            100.0 * m.fold_std,
            100.0 * m.escalated,
            m.texts_per_second
        );
    }
    if !r.out_of_domain.is_empty() {
        out += "\nOut of domain (trained on all of rt-polarity):\n\n| model | set | accuracy | escalated |\n|---|---|---|---|\n";
        for row in &r.out_of_domain {
            for ((set, a), (_, e)) in row.accuracy.iter().zip(&row.escalated) {
                out += &format!("| {} | {set} | {a:.3} | {:.1} % |\n", row.name, 100.0 * e);
            }
        }
    }
    out
}
