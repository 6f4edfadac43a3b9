//! The recommender on the seeded shop: the two-stage model against single models, its rules,
//! batch vs real-time freshness, the batch job, and drift checks that fire on a trend shift
//! and stay quiet without one.

use std::collections::HashMap;

use recommender::batch::{precompute, Snapshot};
use recommender::evaluate;
use recommender::monitor::{self, MonitorConfig};
use recommender::pipeline::{World, TEST_DAYS};
use recommender::shop::ShopConfig;
use recommender::two_stage::{Mode, TwoStageConfig};

/// A shop small enough for a test (about a second to fit).
pub fn small_shop() -> ShopConfig {
    ShopConfig::small()
}

pub fn small_world() -> World {
    World::build(&small_shop(), &TwoStageConfig::default(), 2).expect("world")
}

#[test]
fn the_two_stage_model_beats_every_single_model_and_real_time_beats_the_snapshot() {
    // The demo's shop: the numbers docs/designs/recommender.md quotes.
    let shop = recommender::shop::Shop::generate(&ShopConfig::default()).expect("shop");
    let (report, _) =
        evaluate::shop(&shop, TEST_DAYS, &TwoStageConfig::default(), 10).expect("eval");
    let ndcg: HashMap<&str, f64> = report
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.ndcg_at_10))
        .collect();
    eprintln!("{}", evaluate::render_shop(&report));
    for single in [
        "popularity",
        "popularity_by_category",
        "item_cooccurrence",
        "bpr",
        "ease",
    ] {
        assert!(
            ndcg["two_stage"] > ndcg[single] * 1.1,
            "two-stage {:.3} vs {single} {:.3}",
            ndcg["two_stage"],
            ndcg[single]
        );
    }
    assert!(ndcg["bpr"] > ndcg["popularity"]);
    // EASE, one matrix inverse, beats the learned embeddings and co-occurrence alone here.
    assert!(ndcg["ease"] > ndcg["bpr"] && ndcg["ease"] > ndcg["item_cooccurrence"]);
    assert!(ndcg["popularity_by_category"] > ndcg["popularity"]);
    let r = &report.replay;
    assert!(r.events > 1_000, "{r:?}");
    assert!(
        r.realtime_hit_rate > r.batch_hit_rate * 1.05 && r.batch_hit_rate > r.popularity_hit_rate,
        "{r:?}"
    );
    assert!(
        report.two_stage.ann_recall_at_100 > 0.85,
        "{:?}",
        report.two_stage
    );
}

#[test]
fn lists_never_repeat_what_a_user_saw_and_stay_diverse() {
    let w = small_world();
    let max = w.model.config.max_per_category;
    for user in 1..w.model.users.len() as u32 {
        let state = w.model.state(user);
        for mode in [Mode::Batch, Mode::Realtime] {
            let list = w.model.recommend(user, &state, 10, mode);
            assert_eq!(list.len(), 10, "user {user}");
            let mut per_category: HashMap<u16, usize> = HashMap::new();
            for r in &list {
                assert!(!state.seen.contains(&r.item), "user {user} saw {}", r.item);
                assert!(w.model.is_on_sale(r.item));
                *per_category.entry(r.category).or_default() += 1;
            }
            assert!(
                per_category.values().all(|&n| n <= max),
                "user {user}: {per_category:?}"
            );
        }
    }
    // A state with no category slots at all (not one the model built) still gets a list.
    let empty = recommender::two_stage::UserState::default();
    assert_eq!(w.model.recommend(1, &empty, 10, Mode::Realtime).len(), 10);
}

#[test]
fn the_batch_job_is_the_model_per_user_whatever_the_number_of_workers() {
    let w = small_world();
    let one = precompute(&w.model, 20, 1).expect("one worker");
    let three = precompute(&w.model, 20, 3).expect("three workers");
    assert_eq!(one.lists, three.lists);
    assert_eq!(one.lists.len(), w.model.users.len());
    let user = 17;
    let direct = w
        .model
        .recommend(user, &w.model.state(user), 20, Mode::Batch);
    assert_eq!(one.lookup(user, 20).expect("known user"), direct.as_slice());
    // A snapshot round-trips through its file, and one from another model (another cutoff,
    // or another registry version) is refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snapshot.json");
    let mut named = one.clone();
    named.model_version = "v0001".into();
    named.write(&path).expect("write");
    assert_eq!(
        Snapshot::read(&path, &w.model, "v0001")
            .expect("read")
            .lists,
        one.lists
    );
    assert!(Snapshot::read(&path, &w.model, "v0002").is_err());
    let other = World::build(
        &ShopConfig {
            days: 34,
            ..small_shop()
        },
        &TwoStageConfig::default(),
        2,
    )
    .expect("other world");
    assert!(Snapshot::read(&path, &other.model, "v0001").is_err());
}

/// The reference (the last training week) and the held-out week of a generated shop.
fn weeks(
    cfg: &ShopConfig,
) -> (
    Vec<recommender::movielens::Rating>,
    Vec<recommender::movielens::Rating>,
    usize,
) {
    let shop = recommender::shop::Shop::generate(cfg).expect("shop");
    let cutoff = shop.day_start(cfg.days - TEST_DAYS);
    let reference = shop
        .between(cutoff - 7 * recommender::shop::DAY, cutoff)
        .to_vec();
    let current = shop.between(cutoff, i64::MAX).to_vec();
    (reference, current, shop.n_items())
}

#[test]
fn drift_checks_flag_a_trend_shift_and_not_an_ordinary_week_over_ten_seeds() {
    let cfg = MonitorConfig::default();
    let (mut false_alarms, mut detections) = (0, 0);
    for seed in 1..=10 {
        let quiet = ShopConfig {
            seed,
            ..small_shop()
        };
        let (reference, current, n_items) = weeks(&quiet);
        let ordinary = monitor::check(&reference, &current, n_items, &cfg);
        false_alarms += usize::from(ordinary.drift);
        let shifted = ShopConfig {
            trend_shift_day: Some(quiet.days - TEST_DAYS),
            ..quiet
        };
        let (reference, current, n_items) = weeks(&shifted);
        let trend = monitor::check(&reference, &current, n_items, &cfg);
        detections += usize::from(trend.item_popularity.drift);
        assert!(
            !trend.user_activity.drift,
            "the shift changes what, not how much: {trend:?}"
        );
        eprintln!(
            "seed {seed}: ordinary JS {:.3} (null max {:.3}), trend JS {:.3} (null max {:.3})",
            ordinary.item_popularity.distance,
            ordinary.item_popularity.null_max,
            trend.item_popularity.distance,
            trend.item_popularity.null_max
        );
    }
    assert!(
        false_alarms <= 1,
        "{false_alarms} false alarms in 10 ordinary weeks"
    );
    assert!(detections >= 9, "{detections} of 10 trend shifts detected");
}

/// EASE as a fifth candidate source (`--ease-candidates`): it proposes items the other
/// sources missed, so the candidates hold at least as many of the items users went on to take.
#[test]
fn ease_as_a_candidate_source_adds_recall() {
    let shop = recommender::shop::Shop::generate(&small_shop()).expect("shop");
    let recall = |ease_candidates| {
        let cfg = TwoStageConfig {
            ease_candidates,
            ..TwoStageConfig::default()
        };
        let (report, model) = evaluate::shop(&shop, TEST_DAYS, &cfg, 10).expect("eval");
        let from_ease = (1..model.users.len() as u32)
            .flat_map(|u| model.candidates(u, &model.state(u)))
            .filter(|(_, s)| *s == recommender::two_stage::Source::Ease)
            .count();
        (report.two_stage.candidate_recall, from_ease)
    };
    let (without, none) = recall(0);
    let (with, some) = recall(50);
    assert_eq!(none, 0);
    assert!(
        some > 0 && with >= without,
        "{with} vs {without}, {some} from EASE"
    );
}
