//! Stage 3b — the production architecture: **retrieve → rank → re-rank**.
//!
//! ```text
//!                 ┌─ ANN over taste vectors (IVF, BPR embeddings) ── user vector ───┐
//! user + session ─┼─ ANN over the session (mean of recent items' vectors) ──────────┼─► ~200
//!                 ├─ co-occurrence neighbours of the recent items (SAR) ────────────┤  candidates
//!                 └─ popular now, overall and in the user's categories (cold start) ┘
//!     ─► features (9) ─► learned linear ranker ─► rules: drop seen and bought items,
//!                                                  at most N per category (diversity) ─► top k
//! ```
//!
//! Talking points:
//! - **candidate generation vs ranking**: retrieval must be cheap and high-recall over the whole
//!   catalogue; the ranker may be expensive per item because it only sees ~200;
//! - the ranker **learns** how to weigh the sources and the context (recency, price, the
//!   session) from a *later* window than the one its candidate models were fitted on — the
//!   same time order production has, so it never trains on its own inputs' future;
//! - **freshness**: the session features are what real-time serving adds over a nightly batch;
//! - **business rules** last: no already-bought items, a diverse page.

use std::collections::{HashMap, HashSet, VecDeque};

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ann::{top, Ivf};
use crate::models::{Bpr, BprConfig, CooccurrenceConfig, ItemCooccurrence};
use crate::movielens::Rating;
use crate::shop::{EventKind, Product, Shop, DAY};
use crate::{Error, Result};

/// The ranker's inputs, in order.
pub const FEATURES: [&str; 9] = [
    "taste_score",       // BPR: user vector · item vector + item bias
    "session_score",     // mean vector of the recent items · item vector
    "cooccurrence",      // Σ Jaccard similarity to the recent items
    "log_popularity",    // log(1 + events in the last `popularity_days`)
    "log_age_days",      // log(1 + days on sale): recency of the product
    "category_affinity", // share of the user's history in the item's category
    "session_category",  // share of the recent items in the item's category
    "last_category",     // 1 when the item is in the category of the user's latest event
    "price_gap",         // |log price − the user's mean log price|
];

/// Two-stage settings with their defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TwoStageConfig {
    /// Embeddings for the ANN stage (BPR on implicit events).
    pub bpr: BprConfig,
    pub cooccurrence: CooccurrenceConfig,
    /// IVF clusters and how many are probed per query.
    pub ann_lists: usize,
    pub ann_probe: usize,
    /// Candidates from the user's taste vector and from the session vector.
    pub ann_candidates: usize,
    pub session_candidates: usize,
    /// Co-occurrence neighbours taken per recent item.
    pub neighbours_per_item: usize,
    /// Popular items added (overall, and per favourite category).
    pub popular_candidates: usize,
    /// Items that make up "the session" (the most recent ones).
    pub recent_items: usize,
    /// Window for the popularity feature, in days.
    pub popularity_days: i64,
    /// The ranker learns from this many days before the cutoff (the candidate models are fitted
    /// on what came before).
    pub label_days: i64,
    /// Negatives sampled per user for the ranker (all positives are kept).
    pub negatives_per_user: usize,
    /// Point-in-time "next item" examples sampled from the label window (0: none).
    pub next_item_examples: usize,
    /// Diversity rule: at most this many items of one category in a list.
    pub max_per_category: usize,
    pub seed: u64,
    /// Candidates from EASE over the user's whole history (0: the source is off, as in
    /// versions trained before it existed).
    #[serde(default)]
    pub ease_candidates: usize,
    /// EASE's L2 penalty and the neighbours kept per item.
    #[serde(default = "default_ease_lambda")]
    pub ease_lambda: f64,
    #[serde(default = "default_ease_neighbours")]
    pub ease_neighbours: usize,
}

fn default_ease_lambda() -> f64 {
    200.0
}

fn default_ease_neighbours() -> usize {
    50
}

impl Default for TwoStageConfig {
    fn default() -> Self {
        TwoStageConfig {
            bpr: BprConfig {
                factors: 32,
                epochs: 30,
                learning_rate: 0.05,
                regularisation: 0.002,
                seed: 42,
            },
            cooccurrence: CooccurrenceConfig {
                half_life_days: 14.0,
            },
            ann_lists: 32,
            ann_probe: 8,
            ann_candidates: 100,
            session_candidates: 50,
            neighbours_per_item: 20,
            popular_candidates: 30,
            recent_items: 10,
            popularity_days: 7,
            label_days: 7,
            negatives_per_user: 30,
            next_item_examples: 4_000,
            max_per_category: 4,
            seed: 42,
            ease_candidates: 0,
            ease_lambda: default_ease_lambda(),
            ease_neighbours: default_ease_neighbours(),
        }
    }
}

/// What is known about a shopper at a moment: the inputs of the profile and session features.
/// Updated by every event — from the log for the batch snapshot, live for real-time serving.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    pub seen: HashSet<u32>,
    pub bought: HashSet<u32>,
    /// Most recent last, each item once.
    pub recent: VecDeque<u32>,
    /// Event weight per category.
    pub category_weight: Vec<f32>,
    pub total_weight: f32,
    log_price_sum: f64,
    priced: u32,
    pub events: u32,
}

impl UserState {
    pub fn new(categories: usize) -> Self {
        UserState {
            category_weight: vec![0.0; categories],
            ..UserState::default()
        }
    }

    /// Folds one event in (ids outside the catalogue are ignored: callers validate first).
    pub fn observe(&mut self, item: u32, kind: EventKind, catalog: &[Product], keep: usize) {
        let Some(p) = catalog.get(item as usize).filter(|_| item > 0) else {
            return;
        };
        self.events += 1;
        self.seen.insert(item);
        if kind == EventKind::Purchase {
            self.bought.insert(item);
        }
        self.recent.retain(|&i| i != item);
        self.recent.push_back(item);
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
        if let Some(w) = self.category_weight.get_mut(p.category as usize) {
            *w += kind.weight();
            self.total_weight += kind.weight();
        }
        self.log_price_sum += f64::from(p.price).ln();
        self.priced += 1;
    }

    /// Event weight in `category` (0 for categories this state has no slot for).
    pub fn category_weight(&self, category: usize) -> f32 {
        self.category_weight.get(category).copied().unwrap_or(0.0)
    }

    fn mean_log_price(&self) -> Option<f64> {
        (self.priced > 0).then(|| self.log_price_sum / f64::from(self.priced))
    }
}

/// Every user's state after `events` (ids beyond `n_users` are skipped).
pub fn user_states(
    events: &[Rating],
    n_users: usize,
    catalog: &[Product],
    categories: usize,
    keep: usize,
) -> Vec<UserState> {
    let mut states = vec![UserState::new(categories); n_users];
    for e in events {
        if let (Some(s), Some(kind)) = (
            states.get_mut(e.user as usize),
            EventKind::from_weight(e.rating),
        ) {
            s.observe(e.item, kind, catalog, keep);
        }
    }
    states
}

/// Which horizon a list is ranked for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The precomputed snapshot: ranked for the next week, as of the last batch run.
    Batch,
    /// Ranked now, with the session so far, for the next event.
    Realtime,
}

/// Where a candidate came from (the first source that proposed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Taste,
    Session,
    Cooccurrence,
    /// EASE's item-item weights summed over the user's whole history.
    Ease,
    Popular,
}

/// Stage 1: the candidate models, fitted on everything before `now`.
#[derive(Serialize, Deserialize)]
struct Retrieval {
    bpr: Bpr,
    sar: ItemCooccurrence,
    ivf: Ivf,
    /// Events per item in the popularity window.
    popularity: Vec<f32>,
    popular: Vec<u32>,
    popular_by_category: Vec<Vec<u32>>,
    /// Users the embeddings know (had events before `now`).
    known_user: Vec<bool>,
    /// EASE's strongest neighbours per item (empty: the source is off).
    #[serde(default)]
    ease: Vec<Vec<(u32, f32)>>,
}

impl Retrieval {
    fn fit(events: &[Rating], now: i64, shop: &Shop, cfg: &TwoStageConfig) -> Result<Retrieval> {
        let (n_users, n_items) = (shop.n_users(), shop.n_items());
        // BPR and SAR learn from (user, item) pairs: one per pair, weighted by the best stage.
        let mut best: HashMap<(u32, u32), Rating> = HashMap::new();
        for e in events {
            let entry = best.entry((e.user, e.item)).or_insert(*e);
            if e.rating > entry.rating {
                entry.rating = e.rating;
            }
            entry.timestamp = entry.timestamp.max(e.timestamp);
        }
        let mut pairs: Vec<Rating> = best.into_values().collect();
        pairs.sort_by_key(|r| (r.user, r.item));
        let bpr = Bpr::fit(&pairs, n_users, n_items, &cfg.bpr)?;
        let sar = ItemCooccurrence::fit(&pairs, n_users, n_items, &cfg.cooccurrence)?;
        let ease = if cfg.ease_candidates > 0 {
            crate::item_item::ease_neighbours(
                &pairs,
                n_items,
                cfg.ease_lambda,
                cfg.ease_neighbours,
            )?
        } else {
            Vec::new()
        };
        // Talking point: maximum inner product search through cosine clusters: the item bias is
        // one more coordinate (the query's is 1).
        let dims = bpr.factors() + 1;
        let mut vectors = Vec::with_capacity(n_items * dims);
        for i in 0..n_items as u32 {
            match bpr.item_vector(i) {
                Some((v, b)) if i > 0 => {
                    vectors.extend_from_slice(v);
                    vectors.push(b);
                }
                _ => vectors.extend(std::iter::repeat_n(0.0, dims)),
            }
        }
        let ivf = Ivf::build(vectors, dims, cfg.ann_lists, 10, cfg.seed);
        let mut popularity = vec![0.0f32; n_items];
        let from = now - cfg.popularity_days * DAY;
        for e in events.iter().filter(|e| e.timestamp >= from) {
            popularity[e.item as usize] += 1.0;
        }
        let ranked = |filter: &dyn Fn(&Product) -> bool, n: usize| -> Vec<u32> {
            let mut hits: Vec<(u32, f32)> = shop
                .products
                .iter()
                .skip(1)
                .filter(|p| filter(p))
                .map(|p| (p.id, popularity[p.id as usize]))
                .collect();
            top(&mut hits, n);
            hits.into_iter().map(|(i, _)| i).collect()
        };
        let day = ((now - shop.start) / DAY).max(0) as u32;
        let popular = ranked(&|p| p.added_day <= day, 200);
        let popular_by_category = (0..shop.config.categories as u16)
            .map(|c| ranked(&|p| p.category == c && p.added_day <= day, 50))
            .collect();
        let mut known_user = vec![false; n_users];
        for e in events {
            known_user[e.user as usize] = true;
        }
        Ok(Retrieval {
            bpr,
            sar,
            ivf,
            popularity,
            popular,
            popular_by_category,
            known_user,
            ease,
        })
    }
}

/// The learned ranker: standardised features, one weight each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinearRanker {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub weights: Vec<f64>,
    pub intercept: f64,
}

fn named(r: &LinearRanker) -> Vec<(String, f64)> {
    FEATURES
        .iter()
        .map(|s| s.to_string())
        .zip(r.weights.iter().copied())
        .collect()
}

impl LinearRanker {
    /// Scores nothing (all weights zero) until a ranker is fitted.
    fn neutral() -> Self {
        LinearRanker {
            mean: vec![0.0; FEATURES.len()],
            std: vec![1.0; FEATURES.len()],
            weights: vec![0.0; FEATURES.len()],
            intercept: 0.0,
        }
    }

    /// The logit of "the user takes this item".
    pub fn score(&self, x: &[f64]) -> f64 {
        self.intercept
            + x.iter()
                .zip(&self.mean)
                .zip(&self.std)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s)
                .sum::<f64>()
    }
}

/// How the ranker was trained and how good retrieval is, in numbers.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingReport {
    pub label_window_days: i64,
    pub users: usize,
    pub rows: usize,
    pub positives: usize,
    /// Share of the items users took in the label window that retrieval proposed.
    pub candidate_recall: f64,
    /// Mean candidates per user.
    pub candidates_per_user: f64,
    /// Recall@100 of the IVF index against exact search, on the users' taste vectors.
    pub ann_recall_at_100: f64,
    /// Standardised weights of the ranker trained on the next week (batch snapshot) and on the
    /// next event (real-time).
    pub batch_weights: Vec<(String, f64)>,
    pub realtime_weights: Vec<(String, f64)>,
    pub seconds: f64,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub item: u32,
    /// Ranker probability that the user takes the item.
    pub score: f32,
    pub category: u16,
    pub price: f32,
}

/// The fitted two-stage recommender, as of `now`.
#[derive(Serialize, Deserialize)]
pub struct TwoStage {
    pub config: TwoStageConfig,
    pub catalog: Vec<Product>,
    pub categories: usize,
    /// Events up to here were used; the snapshot and states are as of this time.
    pub now: i64,
    retrieval: Retrieval,
    /// Trained on "what will the user take next week" (the batch snapshot's horizon).
    pub batch_ranker: LinearRanker,
    /// Trained on "what will the user take next", point in time (real-time serving).
    pub realtime_ranker: LinearRanker,
    /// Each user's state at `now` (the batch view).
    pub users: Vec<UserState>,
    /// Products on sale at `now`.
    on_sale_day: u32,
}

impl TwoStage {
    /// Fits on the shop's events before `until`: the ranker on the last `label_days` of them
    /// (with candidate models fitted before that), then the candidate models again on all.
    pub fn fit(
        shop: &Shop,
        until: i64,
        cfg: &TwoStageConfig,
    ) -> Result<(TwoStage, TrainingReport)> {
        let t = std::time::Instant::now();
        let label_from = until - cfg.label_days * DAY;
        let early = shop.between(i64::MIN, label_from);
        if early.is_empty() {
            return Err(Error::Config(
                "no events before the ranker's label window".into(),
            ));
        }
        let mut model = TwoStage::assemble(shop, early, label_from, cfg)?;

        // Labels: what each user took in the window that they had not seen before it.
        let mut taken: HashMap<u32, HashSet<u32>> = HashMap::new();
        for e in shop.between(label_from, until) {
            let seen = model
                .users
                .get(e.user as usize)
                .is_some_and(|s| s.seen.contains(&e.item));
            if !seen {
                taken.entry(e.user).or_default().insert(e.item);
            }
        }
        let mut users: Vec<u32> = taken.keys().copied().collect();
        users.sort_unstable();
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let (mut covered, mut relevant, mut proposed) = (0usize, 0usize, 0usize);
        for &u in &users {
            let state = model.state(u);
            let candidates = model.candidates(u, &state);
            proposed += candidates.len();
            let positives = &taken[&u];
            relevant += positives.len();
            let session = model.session_vector(&state);
            let mut negatives = Vec::new();
            for &(item, _) in &candidates {
                let x = model.features(u, &state, session.as_deref(), item);
                if positives.contains(&item) {
                    covered += 1;
                    xs.push(x);
                    ys.push(true);
                } else {
                    negatives.push(x);
                }
            }
            negatives.shuffle(&mut rng);
            for x in negatives.into_iter().take(cfg.negatives_per_user) {
                xs.push(x);
                ys.push(false);
            }
        }
        // Point-in-time examples: replay the window event by event; before a sampled event,
        // the state is exactly what serving would have had, and the event's item is the one
        // positive among that moment's candidates.
        // Talking point [features]: point-in-time correctness — features as of the moment of the
        // label, never after it; this is also what teaches the ranker what a fresh session is
        // worth.
        let window = shop.between(label_from, until);
        let keep = (cfg.next_item_examples as f64 / window.len().max(1) as f64).min(1.0);
        let (mut next_xs, mut next_ys) = (Vec::new(), Vec::new());
        let mut live: HashMap<u32, UserState> = HashMap::new();
        for e in window {
            let Some(kind) = EventKind::from_weight(e.rating) else {
                continue;
            };
            let state = live.entry(e.user).or_insert_with(|| model.state(e.user));
            if keep > 0.0 && !state.seen.contains(&e.item) && rand::Rng::gen_bool(&mut rng, keep) {
                let candidates = model.candidates(e.user, state);
                let session = model.session_vector(state);
                let mut negatives = Vec::new();
                for &(item, _) in &candidates {
                    let x = model.features(e.user, state, session.as_deref(), item);
                    if item == e.item {
                        next_xs.push(x);
                        next_ys.push(true);
                    } else {
                        negatives.push(x);
                    }
                }
                negatives.shuffle(&mut rng);
                for x in negatives.into_iter().take(cfg.negatives_per_user / 3) {
                    next_xs.push(x);
                    next_ys.push(false);
                }
            }
            state.observe(e.item, kind, &model.catalog, cfg.recent_items);
        }
        let batch_ranker = fit_ranker(&xs, &ys)?;
        let realtime_ranker = fit_ranker(&next_xs, &next_ys)?;
        let positives = ys.iter().chain(&next_ys).filter(|&&y| y).count();
        let ann_recall_at_100 = {
            let queries: Vec<Vec<f32>> = users
                .iter()
                .take(200)
                .filter_map(|&u| model.taste_query(u))
                .collect();
            model.retrieval.ivf.recall_at(&queries, 100, cfg.ann_probe)
        };

        // Serve with candidate models that saw everything up to `until`.
        let mut fitted = TwoStage::assemble(shop, shop.between(i64::MIN, until), until, cfg)?;
        fitted.batch_ranker = batch_ranker.clone();
        fitted.realtime_ranker = realtime_ranker.clone();
        model = fitted;
        let report = TrainingReport {
            label_window_days: cfg.label_days,
            users: users.len(),
            rows: ys.len() + next_ys.len(),
            positives,
            candidate_recall: covered as f64 / relevant.max(1) as f64,
            candidates_per_user: proposed as f64 / users.len().max(1) as f64,
            ann_recall_at_100,
            batch_weights: named(&batch_ranker),
            realtime_weights: named(&realtime_ranker),
            seconds: t.elapsed().as_secs_f64(),
        };
        Ok((model, report))
    }

    /// Candidate models and user states from `events` (all before `now`), with a neutral
    /// ranker until one is fitted.
    fn assemble(
        shop: &Shop,
        events: &[Rating],
        now: i64,
        cfg: &TwoStageConfig,
    ) -> Result<TwoStage> {
        let categories = shop.config.categories;
        Ok(TwoStage {
            config: cfg.clone(),
            catalog: shop.products.clone(),
            categories,
            now,
            retrieval: Retrieval::fit(events, now, shop, cfg)?,
            batch_ranker: LinearRanker::neutral(),
            realtime_ranker: LinearRanker::neutral(),
            users: user_states(
                events,
                shop.n_users(),
                &shop.products,
                categories,
                cfg.recent_items,
            ),
            on_sale_day: ((now - shop.start) / DAY).max(0) as u32,
        })
    }

    /// The state of `user` at `now` (a fresh one for users never seen).
    pub fn state(&self, user: u32) -> UserState {
        self.users
            .get(user as usize)
            .cloned()
            .unwrap_or_else(|| UserState::new(self.categories))
    }

    /// Whether `item` is a product on sale at `now`.
    pub fn is_on_sale(&self, item: u32) -> bool {
        item > 0
            && self
                .catalog
                .get(item as usize)
                .is_some_and(|p| p.added_day <= self.on_sale_day)
    }

    fn taste_query(&self, user: u32) -> Option<Vec<f32>> {
        if !self
            .retrieval
            .known_user
            .get(user as usize)
            .copied()
            .unwrap_or(false)
        {
            return None;
        }
        let mut q = self.retrieval.bpr.user_vector(user)?.to_vec();
        q.push(1.0);
        Some(q)
    }

    /// The user's BPR factors, when the embeddings know the user (the batch job's user table).
    pub fn user_factors(&self, user: u32) -> Option<Vec<f32>> {
        self.taste_query(user).map(|mut q| {
            q.pop();
            q
        })
    }

    /// An item's BPR factors and bias (the batch job's item table).
    pub fn item_factors(&self, item: u32) -> Option<(&[f32], f32)> {
        self.retrieval.bpr.item_vector(item)
    }

    /// Factors per user and item.
    pub fn factors(&self) -> usize {
        self.retrieval.bpr.factors()
    }

    /// Stage 1 for the batch job, as the ranker sees it: each candidate the rules keep (never
    /// bought, never seen), with its category and its features in [`FEATURES`] order.
    pub fn candidate_rows(&self, user: u32, state: &UserState) -> Vec<(u32, u16, Vec<f64>)> {
        let session = self.session_vector(state);
        self.candidates(user, state)
            .into_iter()
            .filter(|(item, _)| !state.bought.contains(item) && !state.seen.contains(item))
            .map(|(item, _)| {
                let features = self.features(user, state, session.as_deref(), item);
                (item, self.catalog[item as usize].category, features)
            })
            .collect()
    }

    fn session_vector(&self, state: &UserState) -> Option<Vec<f32>> {
        let k = self.retrieval.bpr.factors();
        let mut sum = vec![0.0f32; k];
        let mut n = 0;
        for &item in &state.recent {
            if let Some((v, _)) = self.retrieval.bpr.item_vector(item) {
                sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
                n += 1;
            }
        }
        (n > 0).then(|| sum.into_iter().map(|s| s / n as f32).collect())
    }

    /// Stage 1: the union of every source's candidates (seen items and products not on sale
    /// are never proposed).
    pub fn candidates(&self, user: u32, state: &UserState) -> Vec<(u32, Source)> {
        let cfg = &self.config;
        let r = &self.retrieval;
        let mut out: Vec<(u32, Source)> = Vec::with_capacity(256);
        let mut taken: HashSet<u32> = HashSet::with_capacity(256);
        let skip = |i: u32| state.seen.contains(&i) || !self.is_on_sale(i);
        let mut add = |item: u32, source: Source, out: &mut Vec<(u32, Source)>| {
            if !skip(item) && taken.insert(item) {
                out.push((item, source));
            }
        };
        if let Some(q) = self.taste_query(user) {
            for (i, _) in r.ivf.search(&q, cfg.ann_candidates, cfg.ann_probe, skip) {
                add(i, Source::Taste, &mut out);
            }
        }
        if let Some(mut q) = self.session_vector(state) {
            q.push(0.0);
            for (i, _) in r
                .ivf
                .search(&q, cfg.session_candidates, cfg.ann_probe, skip)
            {
                add(i, Source::Session, &mut out);
            }
        }
        for &recent in state.recent.iter().rev() {
            for (i, _) in r.sar.similar(recent, cfg.neighbours_per_item) {
                add(i, Source::Cooccurrence, &mut out);
            }
        }
        if !r.ease.is_empty() && cfg.ease_candidates > 0 {
            // Talking point: a closed-form item-item model as one more retrieval source —
            // it reads the whole history, where the session sources read the last items.
            let mut scores: HashMap<u32, f32> = HashMap::new();
            for &j in &state.seen {
                for &(i, w) in r.ease.get(j as usize).map_or(&[][..], Vec::as_slice) {
                    *scores.entry(i).or_insert(0.0) += w;
                }
            }
            let mut ranked: Vec<(u32, f32)> =
                scores.into_iter().filter(|&(i, _)| !skip(i)).collect();
            top(&mut ranked, cfg.ease_candidates);
            for (i, _) in ranked {
                add(i, Source::Ease, &mut out);
            }
        }
        // Cold start and freshness: what sells now, overall and in the user's two favourite
        // categories.
        let mut favourite: Vec<usize> = (0..self.categories).collect();
        favourite.sort_by(|&a, &b| {
            state
                .category_weight(b)
                .total_cmp(&state.category_weight(a))
                .then(a.cmp(&b))
        });
        for &i in r.popular.iter().take(cfg.popular_candidates * 2) {
            add(i, Source::Popular, &mut out);
        }
        if state.total_weight > 0.0 {
            for &c in favourite.iter().take(2) {
                for &i in r.popular_by_category[c].iter().take(cfg.popular_candidates) {
                    add(i, Source::Popular, &mut out);
                }
            }
        }
        out
    }

    /// The ranker's inputs for one (user, item); see [`FEATURES`].
    fn features(
        &self,
        user: u32,
        state: &UserState,
        session: Option<&[f32]>,
        item: u32,
    ) -> Vec<f64> {
        let r = &self.retrieval;
        let p = &self.catalog[item as usize];
        let (v, bias) = r.bpr.item_vector(item).unwrap_or((&[], 0.0));
        let dot = |a: &[f32]| f64::from(a.iter().zip(v).map(|(x, y)| x * y).sum::<f32>());
        let taste = self
            .taste_query(user)
            .map_or(0.0, |q| dot(&q[..q.len() - 1]) + f64::from(bias));
        let session_score = session.map_or(0.0, dot);
        let cooc: f32 = state
            .recent
            .iter()
            .map(|&j| r.sar.similarity(j, item))
            .sum();
        let share = |w: f32, total: f32| {
            if total > 0.0 {
                f64::from(w / total)
            } else {
                0.0
            }
        };
        let category = p.category as usize;
        let session_in_category = state
            .recent
            .iter()
            .filter(|&&j| {
                self.catalog
                    .get(j as usize)
                    .is_some_and(|q| q.category == p.category)
            })
            .count();
        let price_gap = state
            .mean_log_price()
            .map_or(0.0, |m| (f64::from(p.price).ln() - m).abs());
        vec![
            taste,
            session_score,
            f64::from(cooc),
            f64::from(r.popularity[item as usize]).ln_1p(),
            f64::from(self.on_sale_day.saturating_sub(p.added_day)).ln_1p(),
            share(state.category_weight(category), state.total_weight),
            session_in_category as f64 / state.recent.len().max(1) as f64,
            f64::from(u8::from(
                state
                    .recent
                    .back()
                    .and_then(|&j| self.catalog.get(j as usize))
                    .is_some_and(|q| q.category == p.category),
            )),
            price_gap,
        ]
    }

    /// The `k` most popular products right now that the user has not seen: the cold-start
    /// answer, and the baseline every list must beat.
    pub fn popular(&self, state: &UserState, k: usize) -> Vec<u32> {
        self.retrieval
            .popular
            .iter()
            .copied()
            .filter(|i| !state.seen.contains(i))
            .take(k)
            .collect()
    }

    /// The top `k` for `user` given their `state` — the model's full path: retrieve, rank,
    /// then the rules.
    pub fn recommend(
        &self,
        user: u32,
        state: &UserState,
        k: usize,
        mode: Mode,
    ) -> Vec<Recommendation> {
        let ranker = match mode {
            Mode::Batch => &self.batch_ranker,
            Mode::Realtime => &self.realtime_ranker,
        };
        let candidates = self.candidates(user, state);
        let session = self.session_vector(state);
        let mut scored: Vec<(u32, f32)> = candidates
            .iter()
            .map(|&(item, _)| {
                let logit = ranker.score(&self.features(user, state, session.as_deref(), item));
                (item, (1.0 / (1.0 + (-logit).exp())) as f32)
            })
            .collect();
        let n = scored.len();
        top(&mut scored, n);
        self.apply_rules(state, scored, k)
    }

    /// Business rules on a ranked list: never an item the user bought (or already saw), at
    /// most `max_per_category` per category — filled from the rest when too few remain.
    fn apply_rules(
        &self,
        state: &UserState,
        ranked: Vec<(u32, f32)>,
        k: usize,
    ) -> Vec<Recommendation> {
        let mut per_category: HashMap<u16, usize> = HashMap::new();
        let mut chosen = Vec::with_capacity(k);
        let mut overflow = Vec::new();
        for (item, score) in ranked {
            // Talking point: rules after the model — the model ranks, the business decides
            // what may be shown. Retrieval already dropped seen items; checked again here
            // because this rule must hold whatever stage 1 does.
            if state.bought.contains(&item) || state.seen.contains(&item) {
                continue;
            }
            let p = &self.catalog[item as usize];
            let rec = Recommendation {
                item,
                score,
                category: p.category,
                price: p.price,
            };
            let n = per_category.entry(p.category).or_insert(0);
            if chosen.len() < k && *n < self.config.max_per_category {
                *n += 1;
                chosen.push(rec);
            } else {
                overflow.push(rec);
            }
        }
        let missing = k.saturating_sub(chosen.len());
        chosen.extend(overflow.into_iter().take(missing));
        chosen
    }
}

fn fit_ranker(xs: &[Vec<f64>], ys: &[bool]) -> Result<LinearRanker> {
    let n = xs.len();
    let d = FEATURES.len();
    let mut mean = vec![0.0; d];
    let mut std = vec![0.0; d];
    for x in xs {
        mean.iter_mut().zip(x).for_each(|(m, v)| *m += v / n as f64);
    }
    for x in xs {
        std.iter_mut()
            .zip(x.iter().zip(&mean))
            .for_each(|(s, (v, m))| *s += (v - m).powi(2) / n as f64);
    }
    let std: Vec<f64> = std.into_iter().map(|v| v.sqrt().max(1e-9)).collect();
    let z = Array2::from_shape_fn((n, d), |(i, j)| (xs[i][j] - mean[j]) / std[j]);
    let data = Dataset::new(z, Array1::from(ys.to_vec()));
    let fitted = LogisticRegression::default()
        .alpha(1e-4)
        .max_iterations(200)
        .fit(&data)
        .map_err(|e| Error::Config(format!("ranker: {e}")))?;
    // linfa's "positive" class is the more frequent label (here: not taken): flip if so.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    Ok(LinearRanker {
        mean,
        std,
        weights: fitted.params().iter().map(|w| sign * w).collect(),
        intercept: sign * fitted.intercept(),
    })
}
