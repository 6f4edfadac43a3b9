//! Stage 4 — evaluation on the two published MovieLens-100k protocols (see
//! `../shared/anchors.md`), printed beside the published numbers.
//!
//! - `surprise`: 5-fold shuffled CV on the ratings; RMSE, MAE and seconds for the whole 5-fold
//!   run per model (Surprise 1.1.2's README table);
//! - `recommenders`: 75/25 split stratified by item, seed 42; top-10 per user with items seen in
//!   training removed; precision@10, recall@10, nDCG@10, MAP (divided by the number of
//!   relevant items) and catalogue coverage (Microsoft Recommenders' benchmark notebook);
//! - the shop's time split ([`shop`]).
//!
//! This file holds the settings, the ranking protocol and what the protocols share; the
//! rating protocol and its models' blend are in `evaluate/ratings_protocol.rs`, the shop's in
//! `evaluate/shop_protocol.rs`.
//!
//! Talking points: pick the metric that matches the product (RMSE for "how many stars", ranking
//! metrics for "what to show"); the best RMSE model is not the best ranker.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use mlsd_core::metrics::top_k;
use serde::Serialize;

use crate::item_item::{ItemItem, ItemItemConfig};
use crate::models::{
    recommend, BiasedMf, Bpr, BprConfig, CooccurrenceConfig, ItemCooccurrence, MfConfig,
    Popularity, Ranker,
};
use crate::movielens::{Dataset, Rating};
use crate::ratings::{KnnConfig, SvdPpConfig};
use crate::split::stratified_by_item;
use crate::Result;

mod ratings_protocol;
mod shop_protocol;

pub use ratings_protocol::{
    rating_pair, render_surprise, surprise, RatingRow, SurpriseReport, PUBLISHED_SURPRISE,
    RATING_MODELS,
};
pub use shop_protocol::{render_shop, shop, ShopReport, REPLAY_STRIDE};

/// One ranking model under the Recommenders protocol.
#[derive(Debug, Clone, Serialize)]
pub struct RankingRow {
    pub name: String,
    pub precision_at_10: f64,
    pub recall_at_10: f64,
    pub ndcg_at_10: f64,
    pub map: f64,
    /// Share of the catalogue that appears in at least one user's top 10.
    pub coverage: f64,
    pub train_seconds: f64,
    /// Hyper-parameters chosen on a validation split of the training rows, if searched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<ItemItemConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecommendersReport {
    pub protocol: &'static str,
    pub train_rows: usize,
    pub test_rows: usize,
    /// Users with at least one test item (the ones averaged over).
    pub users: usize,
    pub models: Vec<RankingRow>,
}

/// A published Microsoft Recommenders row: (our model, published algorithm, MAP, nDCG@10,
/// P@10, R@10).
pub type PublishedRanking = (&'static str, &'static str, f64, f64, f64, f64);

/// A ranker's training step, run and timed by the protocol.
type FitRanker<'a> = Box<dyn Fn() -> Result<Box<dyn Ranker>> + 'a>;

pub const PUBLISHED_RECOMMENDERS: [PublishedRanking; 5] = [
    ("popularity", "—", f64::NAN, f64::NAN, f64::NAN, f64::NAN),
    ("item_cooccurrence", "SAR", 0.111, 0.382, 0.331, 0.176),
    ("bpr", "BPR (Cornac)", 0.132, 0.442, 0.388, 0.213),
    (
        "bivae",
        "BiVAE (GPU; not built here)",
        0.146,
        0.475,
        0.412,
        0.219,
    ),
    (
        "biased_mf",
        "SVD (rating-trained)",
        0.013,
        0.096,
        0.091,
        0.033,
    ),
];

fn n_users_items(ratings: &[Rating]) -> (usize, usize) {
    let users = ratings.iter().map(|r| r.user).max().unwrap_or(0) as usize + 1;
    let items = ratings.iter().map(|r| r.item).max().unwrap_or(0) as usize + 1;
    (users, items)
}

/// Settings of both protocols.
#[derive(Debug, Clone, Serialize)]
pub struct EvalConfig {
    pub folds: usize,
    /// Seed of the fold shuffle (Surprise's example uses `random_state=0`).
    pub fold_seed: u64,
    pub train_ratio: f64,
    /// Seed of the stratified split (Recommenders uses 42).
    pub split_seed: u64,
    pub k: usize,
    pub mf: MfConfig,
    pub svdpp: SvdPpConfig,
    pub knn: KnnConfig,
    pub cooccurrence: CooccurrenceConfig,
    pub bpr: BprConfig,
    /// EASE's λ values searched on the validation split.
    pub ease_grid: Vec<f64>,
    /// EDLAE's (λ, emphasis) pairs searched on the validation split.
    pub edlae_grid: Vec<(f64, f64)>,
    /// RP3beta's (α, β) pairs searched on the validation split.
    pub rp3beta_grid: Vec<(f64, f64)>,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            folds: 5,
            fold_seed: 0,
            train_ratio: 0.75,
            split_seed: 42,
            k: 10,
            mf: MfConfig::default(),
            svdpp: SvdPpConfig::default(),
            knn: KnnConfig::default(),
            cooccurrence: CooccurrenceConfig::default(),
            bpr: BprConfig::default(),
            ease_grid: vec![300.0, 500.0, 800.0, 1200.0],
            edlae_grid: [200.0, 400.0]
                .into_iter()
                .flat_map(|l| [2.0, 4.0, 8.0].map(|c| (l, c)))
                .collect(),
            rp3beta_grid: [0.6, 0.8, 1.0]
                .into_iter()
                .flat_map(|a| [0.3, 0.4, 0.5].map(|b| (a, b)))
                .collect(),
        }
    }
}

/// Averages the top-k metrics of `list_for(user)` over `users` against their relevant items,
/// with the share of a `catalogue`-sized catalogue shown to anyone.
fn ranking_row(
    name: &str,
    users: &[u32],
    relevant: &HashMap<u32, HashSet<u32>>,
    k: usize,
    catalogue: usize,
    train_seconds: f64,
    mut list_for: impl FnMut(u32) -> Vec<u32>,
) -> RankingRow {
    let (mut p, mut r, mut ndcg, mut map) = (0.0, 0.0, 0.0, 0.0);
    let mut shown: HashSet<u32> = HashSet::new();
    let empty = HashSet::new();
    for &u in users {
        let list = list_for(u);
        shown.extend(list.iter().copied());
        if let Some(m) = top_k(&list, relevant.get(&u).unwrap_or(&empty), k) {
            p += m.precision;
            r += m.recall;
            ndcg += m.ndcg;
            map += m.average_precision;
        }
    }
    let n = users.len().max(1) as f64;
    RankingRow {
        name: name.to_string(),
        precision_at_10: p / n,
        recall_at_10: r / n,
        ndcg_at_10: ndcg / n,
        map: map / n,
        coverage: shown.len() as f64 / catalogue.max(1) as f64,
        train_seconds,
        chosen: None,
    }
}

/// A train/test pair seen as top-k lists: what each user had in training (never
/// recommended again) and what they took in the test rows.
struct Holdout {
    seen: HashMap<u32, HashSet<u32>>,
    relevant: HashMap<u32, HashSet<u32>>,
    /// Users with at least one test item, sorted (the ones averaged over).
    users: Vec<u32>,
}

impl Holdout {
    fn new(train: &[Rating], test: &[Rating]) -> Holdout {
        let mut seen: HashMap<u32, HashSet<u32>> = HashMap::new();
        for r in train {
            seen.entry(r.user).or_default().insert(r.item);
        }
        let mut relevant: HashMap<u32, HashSet<u32>> = HashMap::new();
        for r in test {
            relevant.entry(r.user).or_default().insert(r.item);
        }
        let mut users: Vec<u32> = relevant.keys().copied().collect();
        users.sort_unstable();
        Holdout {
            seen,
            relevant,
            users,
        }
    }

    /// The protocol's metrics of `model`'s top-k lists.
    fn row(
        &self,
        name: &str,
        model: &dyn Ranker,
        n_items: usize,
        k: usize,
        catalogue: usize,
        train_seconds: f64,
    ) -> RankingRow {
        let empty = HashSet::new();
        ranking_row(
            name,
            &self.users,
            &self.relevant,
            k,
            catalogue,
            train_seconds,
            |u| recommend(model, u, n_items, self.seen.get(&u).unwrap_or(&empty), k),
        )
    }
}

/// The setting of `grid` with the best nDCG@k on a validation split of `train` (a quarter of
/// each item's training rows, stratified as the protocol is); ties keep the earlier setting.
///
/// Talking point [comparison]: hyper-parameters are chosen on data carved out of the training rows;
/// the test rows are scored once, with the chosen setting.
fn choose_on_validation(
    train: &[Rating],
    grid: &[ItemItemConfig],
    (n_users, n_items): (usize, usize),
    cfg: &EvalConfig,
) -> Result<ItemItemConfig> {
    let (fit_rows, valid_rows) =
        stratified_by_item(train, cfg.train_ratio, cfg.split_seed.wrapping_add(1));
    let fit: Vec<Rating> = fit_rows.iter().map(|&i| train[i]).collect();
    let valid: Vec<Rating> = valid_rows.iter().map(|&i| train[i]).collect();
    let holdout = Holdout::new(&fit, &valid);
    let mut best: Option<(f64, ItemItemConfig)> = None;
    for &setting in grid {
        let model = ItemItem::fit(&fit, n_users, n_items, setting)?;
        let ndcg = holdout.row("", &model, n_items, cfg.k, 1, 0.0).ndcg_at_10;
        if best.is_none_or(|(b, _)| ndcg > b) {
            best = Some((ndcg, setting));
        }
    }
    best.map(|(_, s)| s)
        .ok_or_else(|| crate::Error::Config("an empty hyper-parameter grid".into()))
}

/// The Recommenders protocol: top-k lists against the held-out items.
pub fn recommenders(data: &Dataset, cfg: &EvalConfig) -> Result<RecommendersReport> {
    let ratings = &data.ratings;
    let (n_users, n_items) = n_users_items(ratings);
    let (train_rows, test_rows) = stratified_by_item(ratings, cfg.train_ratio, cfg.split_seed);
    let train: Vec<Rating> = train_rows.iter().map(|&i| ratings[i]).collect();
    let test: Vec<Rating> = test_rows.iter().map(|&i| ratings[i]).collect();
    let holdout = Holdout::new(&train, &test);

    let fits: Vec<(&str, FitRanker)> = vec![
        (
            "popularity",
            Box::new(|| Ok(Box::new(Popularity::fit(&train, n_items)) as Box<dyn Ranker>)),
        ),
        (
            "item_cooccurrence",
            Box::new(|| {
                Ok(Box::new(ItemCooccurrence::fit(
                    &train,
                    n_users,
                    n_items,
                    &cfg.cooccurrence,
                )?) as Box<dyn Ranker>)
            }),
        ),
        (
            "bpr",
            Box::new(|| {
                Ok(Box::new(Bpr::fit(&train, n_users, n_items, &cfg.bpr)?) as Box<dyn Ranker>)
            }),
        ),
        (
            "biased_mf",
            Box::new(|| {
                Ok(Box::new(BiasedMf::fit(&train, n_users, n_items, &cfg.mf)?) as Box<dyn Ranker>)
            }),
        ),
    ];
    let mut rows = Vec::new();
    for (name, fit) in fits {
        let t = Instant::now();
        let model = fit()?;
        let train_seconds = t.elapsed().as_secs_f64();
        let row = holdout.row(
            name,
            model.as_ref(),
            n_items,
            cfg.k,
            data.items.len(),
            train_seconds,
        );
        rows.push(row);
    }
    let grids: [(&str, Vec<ItemItemConfig>); 3] = [
        (
            "rp3beta",
            cfg.rp3beta_grid
                .iter()
                .map(|&(alpha, beta)| ItemItemConfig::Rp3beta { alpha, beta })
                .collect(),
        ),
        (
            "ease",
            cfg.ease_grid
                .iter()
                .map(|&lambda| ItemItemConfig::Ease {
                    lambda,
                    emphasis: 0.0,
                })
                .collect(),
        ),
        (
            "edlae",
            cfg.edlae_grid
                .iter()
                .map(|&(lambda, emphasis)| ItemItemConfig::Ease { lambda, emphasis })
                .collect(),
        ),
    ];
    for (name, grid) in grids {
        let chosen = choose_on_validation(&train, &grid, (n_users, n_items), cfg)?;
        // Train seconds are the final fit only; the search costs one fit per setting.
        let t = Instant::now();
        let model = ItemItem::fit(&train, n_users, n_items, chosen)?;
        let train_seconds = t.elapsed().as_secs_f64();
        let mut row = holdout.row(
            name,
            &model,
            n_items,
            cfg.k,
            data.items.len(),
            train_seconds,
        );
        row.chosen = Some(chosen);
        rows.push(row);
    }
    Ok(RecommendersReport {
        protocol: "recommenders",
        train_rows: train_rows.len(),
        test_rows: test_rows.len(),
        users: holdout.users.len(),
        models: rows,
    })
}

fn cell(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.3}")
    }
}

/// Our Recommenders-protocol table beside the published one.
pub fn render_recommenders(report: &RecommendersReport) -> String {
    let rows: Vec<Vec<String>> = report
        .models
        .iter()
        .map(|m| {
            let p = PUBLISHED_RECOMMENDERS.iter().find(|p| p.0 == m.name);
            let pubcell = |f: fn(&PublishedRanking) -> f64| p.map_or("–".into(), |p| cell(f(p)));
            let name = match &m.chosen {
                Some(c) => format!("{} ({c})", m.name),
                None => m.name.clone(),
            };
            vec![
                name,
                cell(m.precision_at_10),
                pubcell(|p| p.4),
                cell(m.recall_at_10),
                pubcell(|p| p.5),
                cell(m.ndcg_at_10),
                pubcell(|p| p.3),
                cell(m.map),
                pubcell(|p| p.2),
                cell(m.coverage),
                format!("{:.2}", m.train_seconds),
                p.map_or("–".into(), |p| p.1.to_string()),
            ]
        })
        .collect();
    // Published rows we have no model for (BiVAE), so the table shows the bar.
    let mut rows = rows;
    for p in PUBLISHED_RECOMMENDERS
        .iter()
        .filter(|p| !report.models.iter().any(|m| m.name == p.0))
    {
        let mut row = vec![p.0.to_string()];
        for v in [p.4, p.5, p.3, p.2] {
            row.extend(["–".to_string(), cell(v)]);
        }
        row.extend(["–".into(), "–".into(), p.1.to_string()]);
        rows.push(row);
    }
    mlsd_core::report::markdown_table(
        &[
            "model",
            "P@10",
            "pub.",
            "R@10",
            "pub.",
            "nDCG@10",
            "pub.",
            "MAP",
            "pub.",
            "coverage",
            "train s",
            "published row",
        ],
        &rows,
    )
}
