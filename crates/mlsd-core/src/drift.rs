//! Data drift: a compact reference profile saved with every model, and per-feature tests
//! that compare it with a current window, choosing the test the way Evidently does.
//!
//! Evidently's defaults (from its source; see `../shared/anchors.md`): with ≤ 1000 reference
//! rows, a numerical column with > 5 distinct values uses the two-sample Kolmogorov–Smirnov
//! test (drift if p ≤ 0.05), 3–5 distinct values chi-square (p < 0.05), ≤ 2 a Z-test for
//! proportions (p < 0.05). With more rows, numerical columns use the Wasserstein distance
//! normalised by the reference standard deviation (drift if ≥ 0.1), the others the
//! Jensen–Shannon distance (≥ 0.1). PSI is reported beside, never chosen automatically.
//!
//! Talking points: monitoring ("ML failures do not raise errors"), the reference profile
//! travels with the model, and big samples make p-values useless — hence distances.
//!
//! Simplification: the profile keeps a 1001-point quantile sketch of each feature instead of
//! the raw reference rows, so distribution tests run against the sketch; the test choice and
//! p-values still use the true reference row count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Number of quantile points kept per feature (every 0.1 %).
const SKETCH_POINTS: usize = 1001;
/// Columns with at most this many distinct values also keep exact category counts.
const MAX_CATEGORIES: usize = 20;
/// Reference rows up to which Evidently uses statistical tests rather than distances.
const SMALL_REFERENCE: usize = 1000;

/// Distribution summary of one feature in the reference (training) window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    pub count: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    /// Distinct values, counted up to `MAX_CATEGORIES + 1`.
    pub n_unique: usize,
    /// Quantiles at 0, 0.001, …, 1 (empty when the column was empty).
    pub quantiles: Vec<f64>,
    /// Exact (value, count) pairs for low-cardinality columns.
    pub categories: Option<Vec<(f64, usize)>>,
}

/// The reference profile saved beside a model: one [`FeatureProfile`] per feature, and one
/// of the model's scores on the same rows (for prediction drift).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    pub rows: usize,
    pub features: Vec<FeatureProfile>,
    #[serde(default)]
    pub prediction: Option<FeatureProfile>,
}

impl ReferenceProfile {
    /// Profiles `columns[i]` under `names[i]`. Non-finite values are ignored.
    pub fn from_columns(names: &[&str], columns: &[Vec<f64>]) -> Self {
        let features: Vec<FeatureProfile> = names
            .iter()
            .zip(columns)
            .map(|(name, values)| FeatureProfile::new(name, values))
            .collect();
        ReferenceProfile {
            rows: columns.first().map_or(0, Vec::len),
            features,
            prediction: None,
        }
    }

    /// Adds the profile of the model's scores on the reference rows.
    pub fn with_prediction(mut self, scores: &[f64]) -> Self {
        self.prediction = Some(FeatureProfile::new("prediction", scores));
        self
    }

    pub fn feature(&self, name: &str) -> Option<&FeatureProfile> {
        self.features.iter().find(|f| f.name == name)
    }
}

fn finite_sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Quantile at level `q` of sorted data, with linear interpolation (numpy's default).
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn sketch(sorted: &[f64]) -> Vec<f64> {
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..SKETCH_POINTS)
        .map(|i| quantile_sorted(sorted, i as f64 / (SKETCH_POINTS - 1) as f64))
        .collect()
}

fn category_counts(sorted: &[f64]) -> (usize, Option<Vec<(f64, usize)>>) {
    let mut counts: Vec<(f64, usize)> = Vec::new();
    for &x in sorted {
        match counts.last_mut() {
            Some((v, c)) if *v == x => *c += 1,
            _ => {
                if counts.len() > MAX_CATEGORIES {
                    return (counts.len(), None);
                }
                counts.push((x, 1));
            }
        }
    }
    let n = counts.len();
    (n, (n <= MAX_CATEGORIES).then_some(counts))
}

impl FeatureProfile {
    pub fn new(name: &str, values: &[f64]) -> Self {
        let sorted = finite_sorted(values);
        let count = sorted.len();
        let mean = if count > 0 {
            sorted.iter().sum::<f64>() / count as f64
        } else {
            0.0
        };
        let var = if count > 1 {
            sorted.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (count - 1) as f64
        } else {
            0.0
        };
        let (n_unique, categories) = category_counts(&sorted);
        FeatureProfile {
            name: name.to_string(),
            count,
            mean,
            std: var.sqrt(),
            min: sorted.first().copied().unwrap_or(0.0),
            max: sorted.last().copied().unwrap_or(0.0),
            n_unique,
            quantiles: sketch(&sorted),
            categories,
        }
    }
}

/// The test applied to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftTest {
    Ks,
    ChiSquare,
    ZTest,
    #[serde(rename = "wasserstein_normed")]
    Wasserstein,
    JensenShannon,
}

impl DriftTest {
    /// Evidently's automatic choice, from the reference row count and distinct values.
    pub fn choose(reference_rows: usize, n_unique: usize) -> DriftTest {
        if reference_rows <= SMALL_REFERENCE {
            match n_unique {
                0..=2 => DriftTest::ZTest,
                3..=5 => DriftTest::ChiSquare,
                _ => DriftTest::Ks,
            }
        } else if n_unique > 5 {
            DriftTest::Wasserstein
        } else {
            DriftTest::JensenShannon
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DriftTest::Ks => "ks",
            DriftTest::ChiSquare => "chi_square",
            DriftTest::ZTest => "z_test",
            DriftTest::Wasserstein => "wasserstein_normed",
            DriftTest::JensenShannon => "jensen_shannon",
        }
    }
}

/// The verdict for one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    pub name: String,
    pub test: DriftTest,
    /// The test statistic (a p-value for KS, chi-square and Z; a distance otherwise).
    pub statistic: f64,
    pub threshold: f64,
    pub drift: bool,
    /// Population stability index over reference deciles (or categories), for reference.
    pub psi: f64,
    /// The shares the index compares: the histogram a report draws (absent in reports
    /// written before it existed, and when either side is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<Bins>,
}

/// Reference and current shares per bin: reference deciles (or categories, with a last bin for
/// values the reference never had).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Compares `current` values of a feature with its reference profile.
pub fn column_drift(reference: &FeatureProfile, current: &[f64]) -> ColumnDrift {
    let cur = finite_sorted(current);
    let test = DriftTest::choose(reference.count, reference.n_unique);
    let (statistic, threshold, drift) = if cur.is_empty() || reference.quantiles.is_empty() {
        (f64::NAN, f64::NAN, false)
    } else {
        match test {
            DriftTest::Ks => {
                let d = ks_statistic(&reference.quantiles, &cur);
                let p = ks_p_value(d, reference.count, cur.len());
                (p, 0.05, p <= 0.05)
            }
            DriftTest::ChiSquare => {
                let p = chi_square_p(reference, &cur);
                (p, 0.05, p < 0.05)
            }
            DriftTest::ZTest => {
                let p = z_test_p(reference, &cur);
                (p, 0.05, p < 0.05)
            }
            DriftTest::Wasserstein => {
                let w = wasserstein_normed(reference, &cur);
                (w, 0.1, w >= 0.1)
            }
            DriftTest::JensenShannon => {
                let (r, c) = binned_shares(reference, &cur, 20);
                let js = jensen_shannon_distance(&r, &c);
                (js, 0.1, js >= 0.1)
            }
        }
    };
    let bins = (!cur.is_empty() && !reference.quantiles.is_empty()).then(|| {
        let (reference, current) = binned_shares(reference, &cur, 10);
        Bins { reference, current }
    });
    let psi = bins.as_ref().map_or(f64::NAN, |b| {
        population_stability_index(&b.reference, &b.current)
    });
    ColumnDrift {
        name: reference.name.clone(),
        test,
        statistic,
        threshold,
        drift,
        psi,
        bins,
    }
}

/// Drift of a whole window: every feature, the share that drifted, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Rows in the current window.
    pub rows: usize,
    /// True when at least `share_threshold` of the features drifted (Evidently: 0.5).
    pub dataset_drift: bool,
    pub drift_share: f64,
    pub share_threshold: f64,
    pub features: Vec<ColumnDrift>,
    /// Drift of the model's score distribution, when the profile has one.
    pub prediction: Option<ColumnDrift>,
}

/// Compares current columns (same order and names as the profile's features) and, if given,
/// current scores with the reference profile.
pub fn drift_report(
    reference: &ReferenceProfile,
    current: &[Vec<f64>],
    scores: Option<&[f64]>,
    share_threshold: f64,
) -> DriftReport {
    let features: Vec<ColumnDrift> = reference
        .features
        .iter()
        .zip(current)
        .map(|(profile, values)| column_drift(profile, values))
        .collect();
    let drifted = features.iter().filter(|f| f.drift).count();
    let drift_share = drifted as f64 / features.len().max(1) as f64;
    let prediction = match (&reference.prediction, scores) {
        (Some(profile), Some(scores)) => Some(column_drift(profile, scores)),
        _ => None,
    };
    DriftReport {
        rows: current.first().map_or(0, Vec::len),
        // Talking point: one drifting feature is noise; many at once is a changed world.
        dataset_drift: drift_share >= share_threshold,
        drift_share,
        share_threshold,
        features,
        prediction,
    }
}

/// The last `capacity` scored rows (features and score) a server saw: the "current" side
/// of a drift check on live traffic.
///
/// Talking point: monitoring live traffic — the server keeps a bounded sliding window in
/// memory and compares it with the training profile on demand; no second pipeline, no
/// labels needed. In production the same rows would also be logged for offline analysis.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    capacity: usize,
    rows: std::collections::VecDeque<(Vec<f64>, f64)>,
}

impl SlidingWindow {
    pub fn new(capacity: usize) -> Self {
        SlidingWindow {
            capacity: capacity.max(1),
            rows: std::collections::VecDeque::with_capacity(capacity.clamp(1, 1 << 16)),
        }
    }

    /// Adds a row, forgetting the oldest one when full.
    pub fn push(&mut self, features: Vec<f64>, score: f64) {
        if self.rows.len() == self.capacity {
            self.rows.pop_front();
        }
        self.rows.push_back((features, score));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn clear(&mut self) {
        self.rows.clear();
    }

    /// The window as `n_features` columns and the scores: a copy, so a caller can release
    /// the lock around the window before the (milliseconds-long) drift computation.
    pub fn columns(&self, n_features: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let mut columns = vec![Vec::with_capacity(self.rows.len()); n_features];
        let mut scores = Vec::with_capacity(self.rows.len());
        for (features, score) in &self.rows {
            for (column, value) in columns.iter_mut().zip(features) {
                column.push(*value);
            }
            scores.push(*score);
        }
        (columns, scores)
    }

    /// Drift of the window against `reference` (features in the profile's order).
    pub fn drift(&self, reference: &ReferenceProfile, share_threshold: f64) -> DriftReport {
        let (columns, scores) = self.columns(reference.features.len());
        drift_report(reference, &columns, Some(&scores), share_threshold)
    }
}

impl DriftReport {
    /// A markdown rendering for people.
    pub fn to_markdown(&self) -> String {
        let mut rows: Vec<Vec<String>> = self
            .features
            .iter()
            .chain(self.prediction.iter())
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.test.name().to_string(),
                    format!("{:.4}", f.statistic),
                    format!("{}", f.threshold),
                    if f.drift {
                        "**drift**".into()
                    } else {
                        "ok".into()
                    },
                    format!("{:.3}", f.psi),
                ]
            })
            .collect();
        rows.sort_by_key(|r| r[4] == "ok");
        format!(
            "# Drift report\n\n{} rows in the current window. Dataset drift: **{}** ({:.0} % of features drifted; threshold {:.0} %).\n\n{}",
            self.rows,
            if self.dataset_drift { "yes" } else { "no" },
            100.0 * self.drift_share,
            100.0 * self.share_threshold,
            crate::report::markdown_table(&["feature", "test", "statistic", "threshold", "verdict", "PSI"], &rows)
        )
    }
}

/// Share of the sorted sample `s` that is ≤ x.
fn ecdf(s: &[f64], x: f64) -> f64 {
    s.partition_point(|&v| v <= x) as f64 / s.len() as f64
}

/// Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two ECDFs.
pub fn ks_statistic(a_sorted: &[f64], b_sorted: &[f64]) -> f64 {
    a_sorted
        .iter()
        .chain(b_sorted)
        .map(|&x| (ecdf(a_sorted, x) - ecdf(b_sorted, x)).abs())
        .fold(0.0, f64::max)
}

/// Asymptotic two-sided p-value of the KS statistic `d` for sample sizes `n` and `m`
/// (Kolmogorov distribution with Stephens' small-sample correction).
pub fn ks_p_value(d: f64, n: usize, m: usize) -> f64 {
    let en = ((n * m) as f64 / (n + m) as f64).sqrt();
    let lambda = (en + 0.12 + 0.11 / en) * d;
    if lambda < 1e-3 {
        return 1.0;
    }
    let mut sum = 0.0;
    for j in 1..=100 {
        let term = 2.0 * (-1f64).powi(j - 1) * (-2.0 * (j as f64 * lambda).powi(2)).exp();
        sum += term;
        if term.abs() < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

fn quantile_of(sorted_or_sketch: &[f64], q: f64) -> f64 {
    quantile_sorted(sorted_or_sketch, q)
}

/// Wasserstein-1 distance between the reference sketch and the current sample, divided by
/// the reference standard deviation (Evidently floors that at 0.001).
pub fn wasserstein_normed(reference: &FeatureProfile, current_sorted: &[f64]) -> f64 {
    let n = reference.quantiles.len();
    let w = (0..n)
        .map(|i| {
            let q = i as f64 / (n - 1) as f64;
            (reference.quantiles[i] - quantile_of(current_sorted, q)).abs()
        })
        .sum::<f64>()
        / n as f64;
    w / reference.std.max(0.001)
}

/// Bins reference and current into matching shares: exact categories for low-cardinality
/// columns, reference quantile bins otherwise.
fn binned_shares(reference: &FeatureProfile, cur: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    if let Some(cats) = &reference.categories {
        let total = reference.count.max(1) as f64;
        let mut r: Vec<f64> = cats.iter().map(|(_, c)| *c as f64 / total).collect();
        let mut c = vec![0.0; cats.len() + 1]; // last bin: values the reference never had
        for x in cur {
            match cats.iter().position(|(v, _)| v == x) {
                Some(i) => c[i] += 1.0,
                None => c[cats.len()] += 1.0,
            }
        }
        r.push(0.0);
        let n = cur.len().max(1) as f64;
        c.iter_mut().for_each(|v| *v /= n);
        return (r, c);
    }
    let mut edges: Vec<f64> = (1..bins)
        .map(|i| quantile_of(&reference.quantiles, i as f64 / bins as f64))
        .collect();
    edges.dedup();
    let k = edges.len() + 1;
    let share = |sample: &[f64]| {
        let mut counts = vec![0.0; k];
        for &x in sample {
            counts[edges.partition_point(|&e| e < x)] += 1.0;
        }
        let n = sample.len().max(1) as f64;
        counts.iter().map(|c| c / n).collect::<Vec<f64>>()
    };
    (share(&reference.quantiles), share(cur))
}

/// Jensen–Shannon distance (square root of the divergence, natural log), as scipy computes it.
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> f64 {
    let kl = |a: &[f64], m: &[f64]| -> f64 {
        a.iter()
            .zip(m)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| x * (x / y).ln())
            .sum()
    };
    let m: Vec<f64> = p.iter().zip(q).map(|(a, b)| (a + b) / 2.0).collect();
    ((kl(p, &m) + kl(q, &m)) / 2.0).max(0.0).sqrt()
}

/// Population stability index Σ (c − r)·ln(c / r), shares floored at 1e-4.
pub fn population_stability_index(r: &[f64], c: &[f64]) -> f64 {
    r.iter()
        .zip(c)
        .map(|(&a, &b)| {
            let (a, b) = (a.max(1e-4), b.max(1e-4));
            (b - a) * (b / a).ln()
        })
        .sum()
}

fn counts_over_categories(reference: &FeatureProfile, cur: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let cats = reference.categories.as_ref()?;
    let r: Vec<f64> = cats.iter().map(|(_, c)| *c as f64).collect();
    let mut c = vec![0.0; cats.len()];
    let mut by_value = BTreeMap::new();
    for (i, (v, _)) in cats.iter().enumerate() {
        by_value.insert(v.to_bits(), i);
    }
    for x in cur {
        if let Some(&i) = by_value.get(&x.to_bits()) {
            c[i] += 1.0;
        }
    }
    Some((r, c))
}

/// Chi-square goodness of fit of current counts against reference proportions.
fn chi_square_p(reference: &FeatureProfile, cur: &[f64]) -> f64 {
    let Some((r, c)) = counts_over_categories(reference, cur) else {
        return f64::NAN;
    };
    let (rt, ct) = (r.iter().sum::<f64>(), c.iter().sum::<f64>());
    if rt == 0.0 || ct == 0.0 || r.len() < 2 {
        return 1.0;
    }
    let stat: f64 = r
        .iter()
        .zip(&c)
        .filter(|(re, _)| **re > 0.0)
        .map(|(re, obs)| {
            let expected = re / rt * ct;
            (obs - expected).powi(2) / expected
        })
        .sum();
    gamma_q((r.len() - 1) as f64 / 2.0, stat / 2.0)
}

/// Two-proportion Z-test on the share of the reference's first category.
fn z_test_p(reference: &FeatureProfile, cur: &[f64]) -> f64 {
    let Some((r, c)) = counts_over_categories(reference, cur) else {
        return f64::NAN;
    };
    let (n1, n2) = (reference.count as f64, cur.len() as f64);
    let (p1, p2) = (r[0] / n1, c[0] / n2);
    let pooled = (r[0] + c[0]) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return if p1 == p2 { 1.0 } else { 0.0 };
    }
    let z = (p1 - p2) / se;
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// ln Γ(x) by the Lanczos approximation (g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_prefix = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..1000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        (1.0 - sum * ln_prefix.exp()).clamp(0.0, 1.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..1000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (ln_prefix.exp() * h).clamp(0.0, 1.0)
    }
}

/// Complementary error function, via Q(1/2, x²) for x ≥ 0.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - erfc(-x)
    } else {
        gamma_q(0.5, x * x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, n: usize) -> Vec<f64> {
        // A tiny deterministic uniform generator, so these tests need no RNG crate.
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn special_functions_match_reference_values() {
        // erfc(1) = 0.157299207050285; chi-square(df=2) survival at 5.991 ≈ 0.05;
        // Γ(5) = 24.
        assert!((erfc(1.0) - 0.157_299_207_050_285).abs() < 1e-12);
        assert!((gamma_q(1.0, 5.991_464_547 / 2.0) - 0.05).abs() < 1e-9);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        // Kolmogorov: P(K > 1.358) ≈ 0.05 for large samples.
        assert!((ks_p_value(1.358 / (5000f64).sqrt(), 10_000, 10_000) - 0.05).abs() < 2e-3);
    }

    #[test]
    fn the_test_is_chosen_as_evidently_does() {
        assert_eq!(DriftTest::choose(500, 2), DriftTest::ZTest);
        assert_eq!(DriftTest::choose(500, 4), DriftTest::ChiSquare);
        assert_eq!(DriftTest::choose(500, 50), DriftTest::Ks);
        assert_eq!(DriftTest::choose(5000, 50), DriftTest::Wasserstein);
        assert_eq!(DriftTest::choose(5000, 2), DriftTest::JensenShannon);
    }

    #[test]
    fn same_distribution_does_not_drift_and_a_shift_does() {
        let reference = FeatureProfile::new("x", &lcg(1, 20_000));
        let same = lcg(2, 5_000);
        let shifted: Vec<f64> = lcg(3, 5_000).iter().map(|x| x + 0.2).collect();
        let a = column_drift(&reference, &same);
        let b = column_drift(&reference, &shifted);
        assert_eq!(a.test, DriftTest::Wasserstein);
        assert!(!a.drift, "{a:?}");
        assert!(b.drift, "{b:?}");
        assert!(b.psi > a.psi);
        // W1 of a 0.2 shift over std √(1/12) ≈ 0.693
        assert!(
            (b.statistic - 0.2 / (1.0f64 / 12.0).sqrt()).abs() < 0.02,
            "{b:?}"
        );
    }

    #[test]
    fn small_references_use_p_values() {
        let reference = FeatureProfile::new("x", &lcg(4, 800));
        let same = column_drift(&reference, &lcg(5, 800));
        let shifted: Vec<f64> = lcg(6, 800).iter().map(|x| x * 0.7).collect();
        let moved = column_drift(&reference, &shifted);
        assert_eq!(same.test, DriftTest::Ks);
        assert!(!same.drift && moved.drift, "{same:?} {moved:?}");
    }

    #[test]
    fn binary_columns_use_proportions() {
        let flags = |share: f64, n: usize| -> Vec<f64> {
            (0..n)
                .map(|i| f64::from((i as f64) < share * n as f64))
                .collect()
        };
        let small = FeatureProfile::new("flag", &flags(0.3, 900));
        assert_eq!(
            column_drift(&small, &flags(0.3, 900)).test,
            DriftTest::ZTest
        );
        assert!(!column_drift(&small, &flags(0.31, 900)).drift);
        assert!(column_drift(&small, &flags(0.45, 900)).drift);
        let large = FeatureProfile::new("flag", &flags(0.3, 9000));
        let js = column_drift(&large, &flags(0.6, 9000));
        assert_eq!(js.test, DriftTest::JensenShannon);
        assert!(js.drift);
    }

    #[test]
    fn jensen_shannon_is_zero_for_equal_and_bounded_for_disjoint() {
        assert!(jensen_shannon_distance(&[0.5, 0.5], &[0.5, 0.5]).abs() < 1e-12);
        let d = jensen_shannon_distance(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((d - std::f64::consts::LN_2.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn the_sliding_window_keeps_the_latest_rows_and_sees_a_shift() {
        let x = lcg(7, 20_000);
        let reference =
            ReferenceProfile::from_columns(&["x"], std::slice::from_ref(&x)).with_prediction(&x);
        let mut window = SlidingWindow::new(3_000);
        for v in lcg(8, 5_000) {
            window.push(vec![v], v);
        }
        assert_eq!(window.len(), 3_000);
        let calm = window.drift(&reference, 0.5);
        assert_eq!(calm.rows, 3_000);
        assert!(!calm.dataset_drift, "{calm:?}");
        // 3,000 shifted rows push every unshifted one out of the window.
        for v in lcg(9, 3_000) {
            window.push(vec![v + 0.3], v + 0.3);
        }
        let moved = window.drift(&reference, 0.5);
        assert!(moved.dataset_drift, "{moved:?}");
        assert!(moved.prediction.is_some_and(|p| p.drift));
        window.clear();
        assert!(window.is_empty());
    }
}
