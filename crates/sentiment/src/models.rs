//! Stage 3 — models on sparse binary features.
//!
//! | model | what it learns | trade-off |
//! |---|---|---|
//! | [`NaiveBayes`] (multinomial, binarised) | per feature, the log ratio of its frequency in positive vs negative texts | one pass over the data, no tuning; strong on short texts; overconfident probabilities |
//! | [`LinearSvm`] | a hinge-loss separator | better on long texts; weaker than NB on snippets |
//! | [`NbSvm`] | an SVM on features scaled by NB's log-count ratios, interpolated towards their mean weight | the best of both (Wang & Manning 2012); one more knob (β) |
//! | [`LogisticRegression`] on [`TfIdf`] | log-odds from idf-weighted, length-normalised features | probabilities out of the box, the usual first model; below NB-weighted features on snippets |
//!
//! [`Platt`] turns any score into a calibrated probability (two parameters fitted on held-out
//! scores).
//!
//! Simplification: everything is sparse and written here. linfa's models take dense `ndarray`
//! matrices; 10,662 texts × ~130,000 unigram and bigram features dense would be 5.5 GB of f32,
//! for ~40 non-zeros per row.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Feature ids present in one text (sorted, distinct).
pub type Features = [u32];

/// b + Σ w_j over the features present (ids outside `w` count 0): every model's score.
fn sparse_dot(b: f64, w: &[f64], x: &Features) -> f64 {
    b + x.iter().filter_map(|&j| w.get(j as usize)).sum::<f64>()
}

/// Anything that gives a text's feature set a score (> 0: positive).
pub trait Classifier {
    fn score(&self, x: &Features) -> f64;
}

/// NB's log-count ratio r = log((p / ‖p‖₁) / (q / ‖q‖₁)) with p, q = α + the feature counts in
/// positive and negative texts, and the prior log(N₊ / N₋).
fn log_count_ratio(xs: &[Vec<u32>], ys: &[bool], dims: usize, alpha: f64) -> (Vec<f64>, f64) {
    let mut p = vec![alpha; dims];
    let mut q = vec![alpha; dims];
    for (x, &y) in xs.iter().zip(ys) {
        let counts = if y { &mut p } else { &mut q };
        for &j in x {
            if let Some(c) = counts.get_mut(j as usize) {
                *c += 1.0;
            }
        }
    }
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let r = p
        .iter()
        .zip(&q)
        .map(|(a, b)| ((a / sp) / (b / sq)).ln())
        .collect();
    let n_pos = ys.iter().filter(|&&y| y).count() as f64;
    let n_neg = ys.len() as f64 - n_pos;
    (r, (n_pos.max(1.0) / n_neg.max(1.0)).ln())
}

/// Multinomial naive Bayes on binarised features (Wang & Manning's MNB): the score is the
/// log-odds b + Σ r_j over the features present.
/// Talking point [baseline]: multinomial naive Bayes: the learned baseline, trained in one pass.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NaiveBayes {
    pub r: Vec<f64>,
    pub b: f64,
}

impl NaiveBayes {
    pub fn fit(xs: &[Vec<u32>], ys: &[bool], dims: usize, alpha: f64) -> NaiveBayes {
        let (r, b) = log_count_ratio(xs, ys, dims, alpha);
        NaiveBayes { r, b }
    }
}

impl Classifier for NaiveBayes {
    fn score(&self, x: &Features) -> f64 {
        sparse_dot(self.b, &self.r, x)
    }
}

/// L2-regularised, squared-hinge-loss linear SVM trained by dual coordinate descent (the
/// solver liblinear uses by default, Hsieh et al. 2008). Rows are sparse (id, value); with
/// `bias`, a feature of value 1 is appended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearSvm {
    pub w: Vec<f64>,
    pub b: f64,
}

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SvmConfig {
    pub c: f64,
    /// Most passes over the data; stops earlier when the largest projected-gradient violation
    /// is below `tolerance`.
    pub max_passes: usize,
    pub tolerance: f64,
    /// Learn an intercept (as a feature of value 1, regularised like the others). liblinear's
    /// default is no intercept (`-B -1`), which the published runs used.
    pub bias: bool,
    pub seed: u64,
}

impl Default for SvmConfig {
    /// liblinear's defaults (C = 1, ε = 0.1, no intercept) with a 1,000-pass cap.
    fn default() -> Self {
        SvmConfig {
            c: 1.0,
            max_passes: 1_000,
            tolerance: 0.1,
            bias: false,
            seed: 42,
        }
    }
}

impl LinearSvm {
    pub fn fit(rows: &[Vec<(u32, f64)>], ys: &[bool], dims: usize, cfg: &SvmConfig) -> LinearSvm {
        let n = rows.len();
        let mut w = vec![0.0; dims];
        let mut b = 0.0;
        let mut alpha = vec![0.0; n];
        let diag = 0.5 / cfg.c; // squared hinge: D_ii = 1 / (2C), no upper bound on α
        let bias = if cfg.bias { 1.0 } else { 0.0 }; // the bias feature's x_i² in Q_ii
        let y: Vec<f64> = ys.iter().map(|&p| if p { 1.0 } else { -1.0 }).collect();
        let qii: Vec<f64> = rows
            .iter()
            .map(|r| bias + r.iter().map(|(_, v)| v * v).sum::<f64>() + diag)
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        for _ in 0..cfg.max_passes {
            order.shuffle(&mut rng);
            let (mut max_pg, mut min_pg) = (f64::NEG_INFINITY, f64::INFINITY);
            for &i in &order {
                let row = &rows[i];
                let wx: f64 = b + row
                    .iter()
                    .map(|&(j, v)| w.get(j as usize).map_or(0.0, |wj| wj * v))
                    .sum::<f64>();
                let g = y[i] * wx - 1.0 + diag * alpha[i];
                let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
                max_pg = max_pg.max(pg);
                min_pg = min_pg.min(pg);
                if pg != 0.0 {
                    let old = alpha[i];
                    alpha[i] = (old - g / qii[i]).max(0.0);
                    let step = (alpha[i] - old) * y[i];
                    for &(j, v) in row {
                        if let Some(wj) = w.get_mut(j as usize) {
                            *wj += step * v;
                        }
                    }
                    if cfg.bias {
                        b += step;
                    }
                }
            }
            if max_pg - min_pg < cfg.tolerance {
                break;
            }
        }
        LinearSvm { w, b }
    }
}

impl Classifier for LinearSvm {
    fn score(&self, x: &Features) -> f64 {
        sparse_dot(self.b, &self.w, x)
    }
}

/// NBSVM (Wang & Manning 2012): an SVM on binarised features scaled by NB's log-count ratios
/// r, with weights interpolated towards their mean magnitude: w' = (1 − β)·w̄ + β·w.
///
/// Talking point: the interpolation trusts NB (β → 0: every feature weighs its r) or the SVM
/// (β = 1); 0.25 was their choice for every dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NbSvm {
    /// Per feature: r_j · w'_j (one multiply-add per feature present at scoring).
    pub weights: Vec<f64>,
    pub b: f64,
}

impl NbSvm {
    pub fn fit(
        xs: &[Vec<u32>],
        ys: &[bool],
        dims: usize,
        alpha: f64,
        beta: f64,
        svm: &SvmConfig,
    ) -> NbSvm {
        let mut one = NbSvm::fit_betas(xs, ys, dims, alpha, &[beta], svm);
        one.pop().unwrap_or(NbSvm {
            weights: Vec::new(),
            b: 0.0,
        })
    }

    /// One SVM fit, one model per interpolation β (β only mixes the fitted weights).
    pub fn fit_betas(
        xs: &[Vec<u32>],
        ys: &[bool],
        dims: usize,
        alpha: f64,
        betas: &[f64],
        svm: &SvmConfig,
    ) -> Vec<NbSvm> {
        let (r, _) = log_count_ratio(xs, ys, dims, alpha);
        let rows: Vec<Vec<(u32, f64)>> = xs
            .iter()
            .map(|x| x.iter().map(|&j| (j, r[j as usize])).collect())
            .collect();
        let m = LinearSvm::fit(&rows, ys, dims, svm);
        let mean = m.w.iter().map(|w| w.abs()).sum::<f64>() / dims.max(1) as f64;
        betas
            .iter()
            .map(|beta| NbSvm {
                weights: m
                    .w
                    .iter()
                    .zip(&r)
                    .map(|(w, r)| ((1.0 - beta) * mean + beta * w) * r)
                    .collect(),
                b: m.b,
            })
            .collect()
    }
}

impl Classifier for NbSvm {
    fn score(&self, x: &Features) -> f64 {
        sparse_dot(self.b, &self.weights, x)
    }
}

/// Inverse document frequencies: binary term frequency × idf, rows scaled to unit length
/// (scikit-learn's `TfidfVectorizer(binary=True)`, smooth idf).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TfIdf {
    pub idf: Vec<f64>,
}

impl TfIdf {
    /// idf_j = ln((1 + n) / (1 + df_j)) + 1 over the training texts' feature sets.
    pub fn fit(xs: &[Vec<u32>], dims: usize) -> TfIdf {
        let mut df = vec![0usize; dims];
        for x in xs {
            for &j in x {
                if let Some(d) = df.get_mut(j as usize) {
                    *d += 1;
                }
            }
        }
        let n = xs.len() as f64;
        TfIdf {
            idf: df
                .iter()
                .map(|&d| ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0)
                .collect(),
        }
    }

    /// The weighted, unit-length row of a feature set (unknown ids are dropped).
    pub fn row(&self, x: &Features) -> Vec<(u32, f64)> {
        let mut row: Vec<(u32, f64)> = x
            .iter()
            .filter_map(|&j| self.idf.get(j as usize).map(|&v| (j, v)))
            .collect();
        let norm = row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|(_, v)| *v /= norm);
        }
        row
    }
}

/// L2-regularised logistic regression, liblinear's objective ½‖w‖² + C Σ log(1 + e^(−y w·x)),
/// no intercept (liblinear's default; the classes are balanced), minimised by Nesterov's
/// accelerated gradient with the step from the largest eigenvalue of XᵀX (power iteration).
///
/// Simplification: full-batch gradients over sparse rows are exact and deterministic; at
/// millions of texts an SGD or a trust-region Newton solver (liblinear's) would replace them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogisticRegression {
    pub w: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn row_dot(w: &[f64], row: &[(u32, f64)]) -> f64 {
    row.iter()
        .map(|&(j, v)| w.get(j as usize).map_or(0.0, |wj| wj * v))
        .sum()
}

impl LogisticRegression {
    pub fn fit(
        rows: &[Vec<(u32, f64)>],
        ys: &[bool],
        dims: usize,
        c: f64,
        iterations: usize,
    ) -> LogisticRegression {
        let y: Vec<f64> = ys.iter().map(|&p| if p { 1.0 } else { -1.0 }).collect();
        // Xᵀ(X v) for the power iteration and the gradient's shape.
        let xt_x = |v: &[f64]| {
            let mut out = vec![0.0; dims];
            for row in rows {
                let d = row_dot(v, row);
                for &(j, x) in row {
                    out[j as usize] += d * x;
                }
            }
            out
        };
        let mut v = vec![1.0 / (dims.max(1) as f64).sqrt(); dims];
        let mut lambda_max = 1.0;
        for _ in 0..30 {
            let u = xt_x(&v);
            let norm = u.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            lambda_max = norm;
            v = u.into_iter().map(|a| a / norm).collect();
        }
        // ∇²F ≼ C/4 · XᵀX + I: the step 1/L, and μ = 1 for the momentum.
        let lipschitz = 0.25 * c * lambda_max + 1.0;
        let kappa = lipschitz;
        let momentum = (kappa.sqrt() - 1.0) / (kappa.sqrt() + 1.0);
        let mut w = vec![0.0; dims];
        let mut previous = w.clone();
        let mut lookahead = w.clone();
        let tolerance = 1e-6;
        for _ in 0..iterations {
            let mut grad = lookahead.clone(); // the regulariser's gradient
            for (row, &yi) in rows.iter().zip(&y) {
                let m = yi * row_dot(&lookahead, row);
                let g = -c * yi * sigmoid(-m);
                for &(j, x) in row {
                    grad[j as usize] += g * x;
                }
            }
            // Converged: no coordinate of the gradient above the tolerance.
            if grad.iter().all(|g| g.abs() < tolerance) {
                w.clone_from(&lookahead);
                break;
            }
            std::mem::swap(&mut previous, &mut w);
            for j in 0..dims {
                w[j] = lookahead[j] - grad[j] / lipschitz;
                lookahead[j] = w[j] + momentum * (w[j] - previous[j]);
            }
        }
        LogisticRegression { w }
    }

    /// The log-odds of a weighted row.
    pub fn decision(&self, row: &[(u32, f64)]) -> f64 {
        row_dot(&self.w, row)
    }
}

// Platt scaling is shared with every design that serves probabilities.
pub use mlsd_core::metrics::Platt;

/// The logistic function (a log-odds → a probability).
pub fn probability_of_log_odds(z: f64) -> f64 {
    sigmoid(z)
}

/// The SVM alone on binary features (Wang & Manning's SVM row).
pub fn fit_svm(xs: &[Vec<u32>], ys: &[bool], dims: usize, cfg: &SvmConfig) -> LinearSvm {
    let rows: Vec<Vec<(u32, f64)>> = xs
        .iter()
        .map(|x| x.iter().map(|&j| (j, 1.0)).collect())
        .collect();
    LinearSvm::fit(&rows, ys, dims, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feature 0 = "good", 1 = "bad", 2 = "film" (neutral).
    fn toy() -> (Vec<Vec<u32>>, Vec<bool>) {
        let xs = vec![
            vec![0, 2],
            vec![0],
            vec![0, 2],
            vec![1, 2],
            vec![1],
            vec![1, 2],
        ];
        (xs, vec![true, true, true, false, false, false])
    }

    #[test]
    fn naive_bayes_log_count_ratios_match_a_hand_computation() {
        let (xs, ys) = toy();
        let nb = NaiveBayes::fit(&xs, &ys, 3, 1.0);
        // p = 1 + (3, 0, 2) = (4, 1, 3), ‖p‖ = 8; q = (1, 4, 3), ‖q‖ = 8.
        assert!((nb.r[0] - (4.0f64 / 1.0).ln()).abs() < 1e-12);
        assert!((nb.r[1] - (1.0f64 / 4.0).ln()).abs() < 1e-12);
        assert!(nb.r[2].abs() < 1e-12);
        assert_eq!(nb.b, 0.0);
        assert!(nb.score(&[0, 2]) > 0.0 && nb.score(&[1]) < 0.0);
    }

    #[test]
    fn the_svm_and_nbsvm_separate_what_is_separable() {
        let (xs, ys) = toy();
        let svm = fit_svm(&xs, &ys, 3, &SvmConfig::default());
        let nbsvm = NbSvm::fit(&xs, &ys, 3, 1.0, 0.25, &SvmConfig::default());
        for (x, &y) in xs.iter().zip(&ys) {
            assert_eq!(svm.score(x) > 0.0, y, "svm on {x:?}");
            assert_eq!(nbsvm.score(x) > 0.0, y, "nbsvm on {x:?}");
        }
        assert!(svm.w[0] > 0.0 && svm.w[1] < 0.0);
    }

    #[test]
    fn logistic_regression_on_tfidf_separates_and_platt_recovers_a_known_slope() {
        let (xs, ys) = toy();
        let tfidf = TfIdf::fit(&xs, 3);
        // "film" is in 4 of 6 texts, "good" in 3: rarer features weigh more.
        assert!(tfidf.idf[0] > tfidf.idf[2]);
        let rows: Vec<_> = xs.iter().map(|x| tfidf.row(x)).collect();
        assert!((rows[0].iter().map(|(_, v)| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        let lr = LogisticRegression::fit(&rows, &ys, 3, 10.0, 300);
        for (row, &y) in rows.iter().zip(&ys) {
            assert_eq!(lr.decision(row) > 0.0, y);
        }
        // Labels drawn from σ(2s − 1) on a grid of scores: Platt finds a ≈ 2, b ≈ −1.
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for i in 0..400 {
            let s = -3.0 + 6.0 * f64::from(i) / 400.0;
            let p = sigmoid(2.0 * s - 1.0);
            for k in 0..20 {
                scores.push(s);
                labels.push(f64::from(k) + 0.5 < 20.0 * p);
            }
        }
        let platt = Platt::fit(&scores, &labels);
        assert!(
            (platt.a - 2.0).abs() < 0.1 && (platt.b + 1.0).abs() < 0.1,
            "{platt:?}"
        );
    }
}
