//! Stage 3 — models, each a trade-off worth talking about.
//!
//! | model | learns from | answers | trade-off |
//! |---|---|---|---|
//! | global mean, biases | ratings | a predicted rating | the baselines any model must beat |
//! | [`Popularity`] | who interacted with what | the same list for everyone | no personalisation; the cold-start fallback |
//! | [`CategoryPopularity`] | the same, plus each user's categories | best sellers of the user's categories | barely personal; global popularity for users with no history |
//! | [`ItemCooccurrence`] (SAR) | items seen together, recency-weighted | "people who liked X also liked Y" | explainable, no training loop; only items with history |
//! | [`Bpr`] | who interacted with what (pairs: taken ≻ not taken) | the ranking objective itself; needs negative sampling and more epochs |
//! | [`BiasedMf`] (Surprise's SVD) | ratings | a rating for any (user, item) | a good RMSE (the blend in [`crate::ratings`] is better), yet ranks poorly: it learns *how much* a user likes what they chose to rate, not *what* they choose |
//!
//! Talking point: explicit vs implicit feedback. Which items a user rated at all carries most
//! of the ranking signal; a model trained to predict the stars ignores it.

use std::collections::HashSet;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::movielens::Rating;
use crate::{Error, Result};

/// Anything that scores every item for a user (higher = recommend first).
pub trait Ranker {
    /// Writes a score for every item id into `out` (indexed by item id).
    fn scores(&self, user: u32, out: &mut [f32]);
}

/// The `k` best-scored items for `user` that are not in `seen` (ties: lower id first).
pub fn recommend(
    ranker: &dyn Ranker,
    user: u32,
    n_items: usize,
    seen: &HashSet<u32>,
    k: usize,
) -> Vec<u32> {
    let mut scores = vec![0.0f32; n_items];
    ranker.scores(user, &mut scores);
    let mut candidates: Vec<u32> = (1..n_items as u32).filter(|i| !seen.contains(i)).collect();
    let k = k.min(candidates.len());
    if k == 0 {
        return Vec::new();
    }
    let by_score = |a: &u32, b: &u32| {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    // Talking point: top-k by partial selection, O(n) rather than a full sort.
    candidates.select_nth_unstable_by(k - 1, by_score);
    candidates.truncate(k);
    candidates.sort_by(by_score);
    candidates
}

/// Refuses interactions whose ids do not fit the model's tables (instead of panicking on them).
pub(crate) fn check_ids(train: &[Rating], n_users: usize, n_items: usize) -> Result<()> {
    match train
        .iter()
        .find(|r| r.user as usize >= n_users || r.item as usize >= n_items)
    {
        Some(r) => Err(Error::Config(format!(
            "rating of user {} for item {} is outside {n_users} users × {n_items} items",
            r.user, r.item
        ))),
        None => Ok(()),
    }
}

/// Most-interacted items first, the same for every user.
pub struct Popularity {
    counts: Vec<f32>,
}

impl Popularity {
    pub fn fit(train: &[Rating], n_items: usize) -> Self {
        let mut counts = vec![0.0; n_items];
        for r in train {
            if let Some(c) = counts.get_mut(r.item as usize) {
                *c += 1.0;
            }
        }
        Popularity { counts }
    }
}

impl Ranker for Popularity {
    fn scores(&self, _user: u32, out: &mut [f32]) {
        out.copy_from_slice(&self.counts[..out.len()]);
    }
}

/// Popularity within the categories a user favours: each item's count weighted by the share of
/// the user's interactions in its category. Users with no history (cold start) get the global
/// ranking.
pub struct CategoryPopularity {
    counts: Vec<f32>,
    /// Category of each item id.
    category: Vec<u16>,
    /// Per user: share of their interactions per category (empty: no history).
    shares: Vec<Vec<f32>>,
}

impl CategoryPopularity {
    pub fn fit(train: &[Rating], n_users: usize, category: Vec<u16>) -> Result<Self> {
        let n_items = category.len();
        check_ids(train, n_users, n_items)?;
        let n_categories = category.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let counts = Popularity::fit(train, n_items).counts;
        let mut shares = vec![Vec::new(); n_users];
        for r in train {
            let s = &mut shares[r.user as usize];
            if s.is_empty() {
                s.resize(n_categories, 0.0);
            }
            s[category[r.item as usize] as usize] += 1.0;
        }
        for s in &mut shares {
            let total: f32 = s.iter().sum();
            s.iter_mut().for_each(|x| *x /= total.max(1.0));
        }
        Ok(CategoryPopularity {
            counts,
            category,
            shares,
        })
    }
}

impl Ranker for CategoryPopularity {
    fn scores(&self, user: u32, out: &mut [f32]) {
        let shares = self.shares.get(user as usize).filter(|s| !s.is_empty());
        for (i, o) in out.iter_mut().enumerate() {
            // Talking point [rules-baseline]: cold-start fallback — no history, no categories:
            // global popularity.
            *o = match shares {
                // A small floor keeps every category's best sellers above unseen categories' tail.
                Some(s) => self.counts[i] * (s[self.category[i] as usize] + 0.01),
                None => self.counts[i],
            };
        }
    }
}

/// Settings of the item co-occurrence model (Microsoft Recommenders' SAR defaults for their
/// MovieLens benchmark).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CooccurrenceConfig {
    /// Half-life of a rating's weight, in days (older ratings count less).
    pub half_life_days: f64,
}

impl Default for CooccurrenceConfig {
    fn default() -> Self {
        CooccurrenceConfig {
            half_life_days: 30.0,
        }
    }
}

/// SAR: item-item Jaccard similarity from co-occurrence, scored against each user's
/// time-decayed ratings ("affinity").
#[derive(Serialize, Deserialize)]
pub struct ItemCooccurrence {
    n_items: usize,
    /// Row-major `n_items × n_items` Jaccard similarities.
    similarity: Vec<f32>,
    /// Per user: (item, affinity).
    affinity: Vec<Vec<(u32, f32)>>,
}

impl ItemCooccurrence {
    pub fn fit(
        train: &[Rating],
        n_users: usize,
        n_items: usize,
        cfg: &CooccurrenceConfig,
    ) -> Result<Self> {
        check_ids(train, n_users, n_items)?;
        let mut by_user: Vec<Vec<(u32, f32, i64)>> = vec![Vec::new(); n_users];
        for r in train {
            if let Some(items) = by_user.get_mut(r.user as usize) {
                items.push((r.item, r.rating, r.timestamp));
            }
        }
        let mut cooccurrence = vec![0.0f32; n_items * n_items];
        for items in &by_user {
            for &(a, _, _) in items {
                for &(b, _, _) in items {
                    cooccurrence[a as usize * n_items + b as usize] += 1.0;
                }
            }
        }
        let mut similarity = vec![0.0f32; n_items * n_items];
        for a in 0..n_items {
            let caa = cooccurrence[a * n_items + a];
            for b in 0..n_items {
                let cab = cooccurrence[a * n_items + b];
                if cab > 0.0 {
                    let cbb = cooccurrence[b * n_items + b];
                    similarity[a * n_items + b] = cab / (caa + cbb - cab);
                }
            }
        }
        // Talking point: recency — a rating's weight halves every `half_life_days`, counted
        // back from the newest rating in the training data.
        let newest = train.iter().map(|r| r.timestamp).max().unwrap_or(0);
        let half_life = cfg.half_life_days * 86_400.0;
        let affinity = by_user
            .into_iter()
            .map(|items| {
                items
                    .into_iter()
                    .map(|(item, rating, t)| {
                        let age = (newest - t) as f64;
                        (item, rating * 0.5f64.powf(age / half_life) as f32)
                    })
                    .collect()
            })
            .collect();
        Ok(ItemCooccurrence {
            n_items,
            similarity,
            affinity,
        })
    }
}

impl ItemCooccurrence {
    /// Jaccard similarity of two items (0 for unknown ids).
    pub fn similarity(&self, a: u32, b: u32) -> f32 {
        let (a, b) = (a as usize, b as usize);
        if a >= self.n_items || b >= self.n_items {
            return 0.0;
        }
        self.similarity[a * self.n_items + b]
    }

    /// The `n` items most similar to `item` (itself excluded), best first.
    pub fn similar(&self, item: u32, n: usize) -> Vec<(u32, f32)> {
        let i = item as usize;
        if i >= self.n_items {
            return Vec::new();
        }
        let mut hits: Vec<(u32, f32)> = self.similarity[i * self.n_items..][..self.n_items]
            .iter()
            .enumerate()
            .filter(|&(j, &s)| j != i && s > 0.0)
            .map(|(j, &s)| (j as u32, s))
            .collect();
        crate::ann::top(&mut hits, n);
        hits
    }
}

impl Ranker for ItemCooccurrence {
    fn scores(&self, user: u32, out: &mut [f32]) {
        out.fill(0.0);
        let Some(items) = self.affinity.get(user as usize) else {
            return;
        };
        for &(item, weight) in items {
            let row = &self.similarity[item as usize * self.n_items..][..self.n_items];
            for (o, s) in out.iter_mut().zip(row) {
                *o += weight * s;
            }
        }
    }
}

/// Biased matrix factorisation trained by SGD on ratings (Surprise's `SVD`):
/// r̂(u, i) = μ + b_u + b_i + q_iᵀ p_u, clipped to 1–5.
#[derive(Debug, Clone, Serialize)]
pub struct MfConfig {
    /// Latent factors (0: biases only, Surprise's baseline).
    pub factors: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub regularisation: f32,
    /// Standard deviation of the initial factors.
    pub init_std: f32,
    pub seed: u64,
}

impl Default for MfConfig {
    /// Surprise 1.1's `SVD` defaults.
    fn default() -> Self {
        MfConfig {
            factors: 100,
            epochs: 20,
            learning_rate: 0.005,
            regularisation: 0.02,
            init_std: 0.1,
            seed: 42,
        }
    }
}

/// The part every rating model shares: μ + b_u + b_i, and which users and items training saw.
/// Talking point [baseline]: the baselines any rating model must beat — the mean, then user and
/// item biases.
pub(crate) struct Biases {
    pub mean: f32,
    pub user: Vec<f32>,
    pub item: Vec<f32>,
    known_user: Vec<bool>,
    known_item: Vec<bool>,
}

impl Biases {
    /// Zero biases around the mean rating of `train`, with its users and items marked known.
    pub fn new(train: &[Rating], n_users: usize, n_items: usize) -> Biases {
        let mut b = Biases {
            mean: train.iter().map(|r| r.rating).sum::<f32>() / train.len().max(1) as f32,
            user: vec![0.0; n_users],
            item: vec![0.0; n_items],
            known_user: vec![false; n_users],
            known_item: vec![false; n_items],
        };
        for r in train {
            b.known_user[r.user as usize] = true;
            b.known_item[r.item as usize] = true;
        }
        b
    }

    /// One SGD step of both biases on an error.
    pub fn step(&mut self, u: usize, i: usize, err: f32, lr: f32, reg: f32) {
        self.user[u] += lr * (err - reg * self.user[u]);
        self.item[i] += lr * (err - reg * self.item[i]);
    }

    /// μ + the known biases + `interaction()` when both are known, clipped to 1–5: unknown
    /// users or items fall back to what is known (the global mean at worst).
    pub fn predict(&self, user: u32, item: u32, interaction: impl FnOnce() -> f32) -> f32 {
        let (u, i) = (user as usize, item as usize);
        let known_u = self.known_user.get(u).copied().unwrap_or(false);
        let known_i = self.known_item.get(i).copied().unwrap_or(false);
        let mut r = self.mean;
        if known_u {
            r += self.user[u];
        }
        if known_i {
            r += self.item[i];
        }
        if known_u && known_i {
            r += interaction();
        }
        r.clamp(1.0, 5.0)
    }
}

/// Refuses an empty training set, and ratings whose ids do not fit the tables.
pub(crate) fn check_ratings(train: &[Rating], n_users: usize, n_items: usize) -> Result<()> {
    if train.is_empty() {
        return Err(Error::Config("no ratings to train on".into()));
    }
    check_ids(train, n_users, n_items)
}

/// N(0, std²), the initial distribution of factor tables.
pub(crate) fn init_normal(std: f32) -> Result<Normal<f32>> {
    Normal::new(0.0f32, std).map_err(|e| Error::Config(format!("init_std: {e}")))
}

/// A `rows` × `k` factor table drawn from `normal` (row-major, in draw order).
pub(crate) fn factor_table(
    rng: &mut ChaCha8Rng,
    normal: &Normal<f32>,
    rows: usize,
    k: usize,
) -> Vec<f32> {
    (0..rows * k).map(|_| normal.sample(rng)).collect()
}

/// The factor tables' dot product for one (user, item).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub struct BiasedMf {
    k: usize,
    biases: Biases,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
}

impl BiasedMf {
    pub fn fit(train: &[Rating], n_users: usize, n_items: usize, cfg: &MfConfig) -> Result<Self> {
        check_ratings(train, n_users, n_items)?;
        let k = cfg.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let normal = init_normal(cfg.init_std)?;
        let user_factors = factor_table(&mut rng, &normal, n_users, k);
        let item_factors = factor_table(&mut rng, &normal, n_items, k);
        let mut m = BiasedMf {
            k,
            biases: Biases::new(train, n_users, n_items),
            user_factors,
            item_factors,
        };
        let (lr, reg) = (cfg.learning_rate, cfg.regularisation);
        for _ in 0..cfg.epochs {
            // Simplification: Surprise's order — the training ratings as given, every epoch.
            for r in train {
                let (u, i) = (r.user as usize, r.item as usize);
                let pu = &mut m.user_factors[u * k..(u + 1) * k];
                let qi = &mut m.item_factors[i * k..(i + 1) * k];
                let b = &m.biases;
                let err = r.rating - (b.mean + b.user[u] + b.item[i] + dot(pu, qi));
                m.biases.step(u, i, err, lr, reg);
                for (p, q) in pu.iter_mut().zip(qi.iter_mut()) {
                    let (p0, q0) = (*p, *q);
                    *p += lr * (err * q0 - reg * p0);
                    *q += lr * (err * p0 - reg * q0);
                }
            }
        }
        Ok(m)
    }

    /// The predicted rating, clipped to the 1–5 scale. Unknown users or items fall back to
    /// the parts that are known (the global mean at worst).
    pub fn predict(&self, user: u32, item: u32) -> f32 {
        let (u, i, k) = (user as usize, item as usize, self.k);
        self.biases.predict(user, item, || {
            dot(
                &self.user_factors[u * k..(u + 1) * k],
                &self.item_factors[i * k..(i + 1) * k],
            )
        })
    }
}

impl Ranker for BiasedMf {
    fn scores(&self, user: u32, out: &mut [f32]) {
        for (item, o) in out.iter_mut().enumerate() {
            *o = self.predict(user, item as u32);
        }
    }
}

/// Settings of BPR (the values of Microsoft Recommenders' Cornac BPR benchmark run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BprConfig {
    pub factors: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub regularisation: f32,
    pub seed: u64,
}

impl Default for BprConfig {
    fn default() -> Self {
        BprConfig {
            factors: 200,
            epochs: 100,
            learning_rate: 0.01,
            regularisation: 0.001,
            seed: 42,
        }
    }
}

/// Bayesian personalised ranking: matrix factorisation trained on implicit feedback with a
/// pairwise loss — for a user, an item they interacted with should outscore one they did not.
///
/// Talking point [labels]: the loss *is* the ranking task (pairs, not stars), and every
/// non-interacted item is a (noisy) negative, which is the signal rating-trained MF never sees.
#[derive(Serialize, Deserialize)]
pub struct Bpr {
    k: usize,
    item_bias: Vec<f32>,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
}

impl Bpr {
    pub fn fit(train: &[Rating], n_users: usize, n_items: usize, cfg: &BprConfig) -> Result<Self> {
        use rand::Rng;
        if train.is_empty() || n_items < 2 {
            return Err(Error::Config(
                "BPR needs interactions and at least two items".into(),
            ));
        }
        check_ids(train, n_users, n_items)?;
        let k = cfg.factors;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let normal = Normal::new(0.0f32, 0.01).map_err(|e| Error::Config(format!("init: {e}")))?;
        let mut user_factors: Vec<f32> =
            (0..n_users * k).map(|_| normal.sample(&mut rng)).collect();
        let mut item_factors: Vec<f32> =
            (0..n_items * k).map(|_| normal.sample(&mut rng)).collect();
        let mut item_bias = vec![0.0f32; n_items];
        let mut seen: Vec<HashSet<u32>> = vec![HashSet::new(); n_users];
        for r in train {
            seen[r.user as usize].insert(r.item);
        }
        let (lr, reg) = (cfg.learning_rate, cfg.regularisation);
        let mut diff = vec![0.0f32; k];
        for _ in 0..cfg.epochs {
            for _ in 0..train.len() {
                // A random (user, positive) pair and a random item the user did not take.
                let r = train[rng.gen_range(0..train.len())];
                let (u, i) = (r.user as usize, r.item as usize);
                let j = loop {
                    let j = rng.gen_range(1..n_items);
                    if !seen[u].contains(&(j as u32)) {
                        break j;
                    }
                };
                let pu = &user_factors[u * k..(u + 1) * k];
                let mut x = item_bias[i] - item_bias[j];
                for f in 0..k {
                    diff[f] = item_factors[i * k + f] - item_factors[j * k + f];
                    x += pu[f] * diff[f];
                }
                // d/dx ln σ(x) = σ(−x)
                let g = 1.0 / (1.0 + x.exp());
                item_bias[i] += lr * (g - reg * item_bias[i]);
                item_bias[j] += lr * (-g - reg * item_bias[j]);
                for f in 0..k {
                    let p = user_factors[u * k + f];
                    user_factors[u * k + f] += lr * (g * diff[f] - reg * p);
                    item_factors[i * k + f] += lr * (g * p - reg * item_factors[i * k + f]);
                    item_factors[j * k + f] += lr * (-g * p - reg * item_factors[j * k + f]);
                }
            }
        }
        Ok(Bpr {
            k,
            item_bias,
            user_factors,
            item_factors,
        })
    }
}

impl Bpr {
    /// Latent factors per vector.
    pub fn factors(&self) -> usize {
        self.k
    }

    /// A user's taste vector (`None` for ids outside the training tables).
    pub fn user_vector(&self, user: u32) -> Option<&[f32]> {
        let u = user as usize;
        self.user_factors.get(u * self.k..(u + 1) * self.k)
    }

    /// An item's vector and bias (`None` for ids outside the training tables).
    pub fn item_vector(&self, item: u32) -> Option<(&[f32], f32)> {
        let i = item as usize;
        Some((
            self.item_factors.get(i * self.k..(i + 1) * self.k)?,
            *self.item_bias.get(i)?,
        ))
    }
}

impl Ranker for Bpr {
    fn scores(&self, user: u32, out: &mut [f32]) {
        let k = self.k;
        let u = user as usize;
        let Some(pu) = self.user_factors.get(u * k..(u + 1) * k) else {
            out.copy_from_slice(&self.item_bias[..out.len()]);
            return;
        };
        for (i, o) in out.iter_mut().enumerate() {
            let qi = &self.item_factors[i * k..(i + 1) * k];
            *o = self.item_bias[i] + pu.iter().zip(qi).map(|(a, b)| a * b).sum::<f32>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: u32, item: u32, rating: f32) -> Rating {
        Rating {
            user,
            item,
            rating,
            timestamp: 0,
        }
    }

    #[test]
    fn recommend_skips_seen_items_and_breaks_ties_by_id() {
        let pop = Popularity::fit(&[r(1, 3, 5.0), r(2, 3, 4.0), r(1, 2, 1.0), r(2, 4, 1.0)], 6);
        let seen: HashSet<u32> = [3].into_iter().collect();
        assert_eq!(recommend(&pop, 1, 6, &seen, 3), [2, 4, 1]);
    }

    #[test]
    fn category_popularity_follows_the_users_categories_and_falls_back_to_global() {
        // Items 1-2 in category 0, items 3-4 in category 1.
        let train = [
            r(1, 1, 1.0),
            r(1, 2, 1.0),
            r(2, 3, 1.0),
            r(3, 3, 1.0),
            r(3, 4, 1.0),
            r(2, 1, 1.0),
        ];
        let m = CategoryPopularity::fit(&train, 5, vec![0, 0, 0, 1, 1]).expect("fit");
        let none = HashSet::new();
        // User 1 took only category 0: its best seller (item 1) first, then category 1's.
        assert_eq!(recommend(&m, 1, 5, &none, 2), [1, 2]);
        // User 4 has no history: the global order (items 1 and 3 have 2 events each; ties by id).
        assert_eq!(recommend(&m, 4, 5, &none, 2), [1, 3]);
        assert!(CategoryPopularity::fit(&train, 3, vec![0, 0, 0, 1, 1]).is_err());
    }

    #[test]
    fn cooccurrence_recommends_what_was_liked_together() {
        // Users 1 and 2 both took items 1 and 2; user 3 took item 1 only.
        let train = [
            r(1, 1, 5.0),
            r(1, 2, 5.0),
            r(2, 1, 4.0),
            r(2, 2, 4.0),
            r(2, 3, 1.0),
            r(3, 1, 5.0),
        ];
        let sar = ItemCooccurrence::fit(&train, 4, 5, &CooccurrenceConfig::default()).expect("fit");
        assert!(ItemCooccurrence::fit(&train, 4, 3, &CooccurrenceConfig::default()).is_err());
        let seen: HashSet<u32> = [1].into_iter().collect();
        assert_eq!(recommend(&sar, 3, 5, &seen, 1), [2]);
    }

    #[test]
    fn matrix_factorisation_learns_a_user_who_rates_high() {
        let mut train = Vec::new();
        for item in 1..30 {
            train.push(r(1, item, 5.0));
            train.push(r(2, item, 1.0));
            train.push(r(3, item, 3.0));
        }
        let mf = BiasedMf::fit(
            &train,
            4,
            31,
            &MfConfig {
                epochs: 100,
                ..MfConfig::default()
            },
        )
        .expect("fit");
        assert!(
            mf.predict(1, 30) > mf.predict(3, 30),
            "item 30 is unknown: biases decide"
        );
        assert!(mf.predict(1, 5) > 4.0 && mf.predict(2, 5) < 2.0);
        assert_eq!(
            mf.predict(99, 99),
            mf.biases.mean.clamp(1.0, 5.0),
            "unknown user and item"
        );
    }

    #[test]
    fn bpr_ranks_an_unseen_item_of_the_users_taste_first() {
        // Users 1-20 take items 1-5 (all but one each), users 21-40 take items 6-10.
        let mut train = Vec::new();
        for u in 1..=40u32 {
            let group = if u <= 20 { 0 } else { 5 };
            for i in 1..=5u32 {
                if i != 1 + u % 5 {
                    train.push(r(u, group + i, 5.0));
                }
            }
        }
        let cfg = BprConfig {
            factors: 8,
            epochs: 200,
            ..BprConfig::default()
        };
        let bpr = Bpr::fit(&train, 41, 11, &cfg).expect("fit");
        let seen: HashSet<u32> = train
            .iter()
            .filter(|x| x.user == 3)
            .map(|x| x.item)
            .collect();
        // User 3 did not take item 4 (1 + 3 % 5); it is the only unseen item of their group.
        assert_eq!(recommend(&bpr, 3, 11, &seen, 1), [4]);
    }
}
