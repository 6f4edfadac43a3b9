//! The shop protocol: a time split on the seeded shop, the two-stage model against single
//! models, and the test week replayed for batch vs real-time.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::Serialize;

use super::{ranking_row, RankingRow};
use crate::item_item::{ItemItem, ItemItemConfig};
use crate::models::{recommend, Bpr, CategoryPopularity, ItemCooccurrence, Popularity, Ranker};
use crate::Result;

/// The shop protocol: train on everything before the last `test_days`, recommend 10 new items
/// per user, compare with what each user took in the test days (items they had not seen).
///
/// Talking point: a *time* split, as production has — the models never see the test week,
/// new products arrive in it, and the two-stage ranker's label window is the week before.
#[derive(Debug, Clone, Serialize)]
pub struct ShopReport {
    pub protocol: &'static str,
    pub train_events: usize,
    pub test_events: usize,
    pub users: usize,
    pub models: Vec<RankingRow>,
    pub two_stage: crate::two_stage::TrainingReport,
    /// The test week replayed event by event: batch snapshot vs real-time lists.
    pub replay: crate::monitor::ReplayReport,
}

/// Every how many new-to-the-user events of the test week the replay scores (bounds its cost).
pub const REPLAY_STRIDE: usize = 4;

/// Runs the shop protocol (see [`ShopReport`]).
pub fn shop(
    shop: &crate::shop::Shop,
    test_days: u32,
    cfg: &crate::two_stage::TwoStageConfig,
    k: usize,
) -> Result<(ShopReport, crate::two_stage::TwoStage)> {
    use crate::two_stage::TwoStage;
    let until = shop.day_start(shop.config.days.saturating_sub(test_days));
    let train = shop.between(i64::MIN, until);
    let test = shop.between(until, i64::MAX);
    let (n_users, n_items) = (shop.n_users(), shop.n_items());
    let mut seen: HashMap<u32, HashSet<u32>> = HashMap::new();
    for r in train {
        seen.entry(r.user).or_default().insert(r.item);
    }
    let mut relevant: HashMap<u32, HashSet<u32>> = HashMap::new();
    for r in test {
        if !seen.get(&r.user).is_some_and(|s| s.contains(&r.item)) {
            relevant.entry(r.user).or_default().insert(r.item);
        }
    }
    let mut users: Vec<u32> = relevant.keys().copied().collect();
    users.sort_unstable();
    // Products not on sale at the cutoff cannot be recommended by anyone.
    let cutoff_day = shop.config.days.saturating_sub(test_days);
    let mut unavailable: HashSet<u32> = shop
        .products
        .iter()
        .filter(|p| p.added_day > cutoff_day)
        .map(|p| p.id)
        .collect();
    unavailable.insert(0);

    let t = Instant::now();
    let (two_stage, training) = TwoStage::fit(shop, until, cfg)?;
    let two_stage_seconds = t.elapsed().as_secs_f64();
    // (name, model, training seconds) for the single models.
    let mut fits: Vec<(&str, Box<dyn Ranker>, f64)> = Vec::new();
    let timed = |f: &dyn Fn() -> Result<Box<dyn Ranker>>| -> Result<(Box<dyn Ranker>, f64)> {
        let t = Instant::now();
        let m = f()?;
        Ok((m, t.elapsed().as_secs_f64()))
    };
    let (m, s) = timed(&|| Ok(Box::new(Popularity::fit(train, n_items)) as Box<dyn Ranker>))?;
    fits.push(("popularity", m, s));
    let (m, s) = timed(&|| {
        let category = shop.products.iter().map(|p| p.category).collect();
        Ok(Box::new(CategoryPopularity::fit(train, n_users, category)?) as Box<dyn Ranker>)
    })?;
    fits.push(("popularity_by_category", m, s));
    let (m, s) = timed(&|| {
        Ok(Box::new(ItemCooccurrence::fit(
            train,
            n_users,
            n_items,
            &cfg.cooccurrence,
        )?) as Box<dyn Ranker>)
    })?;
    fits.push(("item_cooccurrence", m, s));
    let (m, s) =
        timed(&|| Ok(Box::new(Bpr::fit(train, n_users, n_items, &cfg.bpr)?) as Box<dyn Ranker>))?;
    fits.push(("bpr", m, s));
    let (m, s) = timed(&|| {
        let ease = ItemItemConfig::Ease {
            lambda: cfg.ease_lambda,
            emphasis: 0.0,
        };
        Ok(Box::new(ItemItem::fit(train, n_users, n_items, ease)?) as Box<dyn Ranker>)
    })?;
    fits.push(("ease", m, s));

    let mut rows = Vec::new();
    for (name, model, train_seconds) in &fits {
        rows.push(ranking_row(
            name,
            &users,
            &relevant,
            k,
            n_items - 1,
            *train_seconds,
            |u| {
                let mut skip = seen.get(&u).cloned().unwrap_or_default();
                skip.extend(unavailable.iter().copied());
                recommend(model.as_ref(), u, n_items, &skip, k)
            },
        ));
    }
    // The two-stage model applies its own rules (seen items, products not on sale).
    rows.push(ranking_row(
        "two_stage",
        &users,
        &relevant,
        k,
        n_items - 1,
        two_stage_seconds,
        |u| {
            let state = two_stage.state(u);
            two_stage
                .recommend(u, &state, k, crate::two_stage::Mode::Batch)
                .into_iter()
                .map(|r| r.item)
                .collect()
        },
    ));
    Ok((
        ShopReport {
            protocol: "shop",
            train_events: train.len(),
            test_events: test.len(),
            users: users.len(),
            models: rows,
            two_stage: training,
            replay: crate::monitor::replay(&two_stage, test, k, REPLAY_STRIDE),
        },
        two_stage,
    ))
}

fn weights(w: &[(String, f64)]) -> String {
    w.iter()
        .map(|(n, w)| format!("{n} {w:+.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shop protocol's table, with how the two-stage ranker was trained.
pub fn render_shop(report: &ShopReport) -> String {
    let mut out = format!(
        "Seeded shop, time split: {} training events, {} test events, {} users with new items in the test week\n\n\
         | model | P@10 | R@10 | nDCG@10 | MAP | coverage | train s |\n|---|---|---|---|---|---|---|\n",
        report.train_events, report.test_events, report.users
    );
    for m in &report.models {
        out.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} |\n",
            m.name,
            m.precision_at_10,
            m.recall_at_10,
            m.ndcg_at_10,
            m.map,
            m.coverage,
            m.train_seconds
        ));
    }
    let r = &report.replay;
    out.push_str(&format!(
        "\nReplay of the test week ({} events, each scored before it is applied): the next item was in the list {:.1} % of the time for the batch snapshot, {:.1} % for real-time, {:.1} % for popularity.\n",
        r.events,
        100.0 * r.batch_hit_rate,
        100.0 * r.realtime_hit_rate,
        100.0 * r.popularity_hit_rate
    ));
    let t = &report.two_stage;
    out.push_str(&format!(
        "\nTwo-stage: {:.0} candidates per user hold {:.1} % of the items users went on to take \
         (label week); IVF recall@100 vs exact search {:.3}; rankers trained on {} rows ({} positive) \
         from {} users.\nBatch ranker (next week), standardised weights: {}\nReal-time ranker (next event): {}\n",
        t.candidates_per_user,
        100.0 * t.candidate_recall,
        t.ann_recall_at_100,
        t.rows,
        t.positives,
        t.users,
        weights(&t.batch_weights),
        weights(&t.realtime_weights),
    ));
    out
}
