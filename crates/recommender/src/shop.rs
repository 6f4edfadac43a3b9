//! Stage 1 (embedded default) — a seeded e-commerce shop: products, shoppers and their
//! sessions, so the demo and most tests need no downloaded data.
//!
//! What the generator puts in, so that each model has something real to find:
//! - **latent tastes**: every category has a centre in a small taste space; products sit near
//!   their category's centre, shoppers near one or two favourite categories;
//! - **long-tail popularity**: a Zipf-like appeal per product (a few best sellers, a long tail);
//! - **sessions**: a shopper browses several products per visit, often staying in the category
//!   of the previous view (so the *current session* predicts the next click — the signal
//!   real-time serving has and a nightly batch does not);
//! - **funnel**: view → cart → purchase, with cheaper and better-matching products converting
//!   more;
//! - **new products** arriving every day (cold-start items), and optionally a **trend shift**
//!   from a given day on (popularity reshuffled: what monitoring should catch);
//! - **activity**: a few heavy shoppers, many occasional ones.
//!
//! Output: [`Shop`] — the catalogue and the event log, in the same [`Rating`] schema as
//! MovieLens (an event's weight is its funnel stage: view 1, cart 3, purchase 5).
//!
//! Talking points: problem definition (implicit feedback, sessions), data generation with a
//! known ground truth, cold start, drift injected on purpose.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};
use serde::{Deserialize, Serialize};

use crate::movielens::Rating;
use crate::{Error, Result};

/// One product of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    /// 1-based (id 0 is unused, as in MovieLens).
    pub id: u32,
    pub category: u16,
    /// Price in the shop's currency.
    pub price: f32,
    /// Day the product went on sale (0 = at launch).
    pub added_day: u32,
}

/// A funnel stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    View,
    Cart,
    Purchase,
}

impl EventKind {
    /// The implicit-feedback weight of the stage (stored as the event's "rating").
    pub fn weight(self) -> f32 {
        match self {
            EventKind::View => 1.0,
            EventKind::Cart => 3.0,
            EventKind::Purchase => 5.0,
        }
    }

    /// The stage a stored weight stands for.
    pub fn from_weight(weight: f32) -> Option<EventKind> {
        [EventKind::View, EventKind::Cart, EventKind::Purchase]
            .into_iter()
            .find(|k| k.weight() == weight)
    }
}

/// Shop settings; every default is what `mlsd demo` uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopConfig {
    pub seed: u64,
    pub users: usize,
    /// Products on sale at launch.
    pub launch_items: usize,
    /// Products added per day after launch.
    pub new_items_per_day: usize,
    pub categories: usize,
    pub days: u32,
    /// Mean visits (sessions) per shopper over all `days` (heavy-tailed across shoppers).
    pub sessions_per_user: f64,
    /// Mean products viewed per session.
    pub views_per_session: f64,
    /// Chance the next view stays in the previous view's category.
    pub stay_in_category: f64,
    /// Zipf exponent of product appeal (larger: a longer, thinner tail).
    pub popularity_exponent: f64,
    /// Weight of taste vs appeal when a shopper picks what to view.
    pub taste_weight: f64,
    /// Chance a view goes to the cart, for a well-matched, averagely priced product.
    pub cart_rate: f64,
    /// Chance a cart becomes a purchase.
    pub purchase_rate: f64,
    /// From this day on, product appeal is reshuffled (a trend shift); `None`: no shift.
    pub trend_shift_day: Option<u32>,
    /// Dimensions of the taste space.
    pub taste_dims: usize,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            seed: 42,
            users: 3_000,
            launch_items: 1_200,
            new_items_per_day: 6,
            categories: 12,
            days: 56,
            sessions_per_user: 6.0,
            views_per_session: 5.0,
            stay_in_category: 0.6,
            popularity_exponent: 0.9,
            taste_weight: 2.5,
            cart_rate: 0.25,
            purchase_rate: 0.5,
            trend_shift_day: None,
            taste_dims: 8,
        }
    }
}

impl ShopConfig {
    /// A shop small enough for tests and quick benchmarks (1,000 users, 35 days; about a second
    /// to fit).
    pub fn small() -> Self {
        ShopConfig {
            users: 1_000,
            launch_items: 500,
            new_items_per_day: 3,
            days: 35,
            ..ShopConfig::default()
        }
    }
}

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// The generated shop: catalogue, event log, and the time the log starts.
#[derive(Debug, Clone)]
pub struct Shop {
    pub config: ShopConfig,
    /// Indexed by id (entry 0 is a placeholder).
    pub products: Vec<Product>,
    /// Every event, in time order.
    pub events: Vec<Rating>,
    /// Unix time of day 0.
    pub start: i64,
}

/// 2026-01-05 00:00 UTC, a Monday: day 0 of every generated shop.
pub const START: i64 = 1_767_571_200;

fn normal_vec(rng: &mut ChaCha8Rng, dims: usize, std: f64) -> Vec<f64> {
    let n = Normal::new(0.0, std).expect("a positive constant standard deviation");
    (0..dims).map(|_| n.sample(rng)).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Samples an index with probability proportional to `weights[i]` among those `allowed`.
fn sample_weighted(
    rng: &mut ChaCha8Rng,
    weights: &[f64],
    allowed: impl Fn(usize) -> bool,
) -> Option<usize> {
    let total: f64 = (0..weights.len())
        .filter(|&i| allowed(i))
        .map(|i| weights[i])
        .sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut left = rng.gen_range(0.0..total);
    let mut last = None;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 && allowed(i) {
            last = Some(i);
            if left < w {
                return Some(i);
            }
            left -= w;
        }
    }
    last // rounding left a sliver past the end
}

impl Shop {
    /// Generates the shop `config` describes (the same config always gives the same shop).
    pub fn generate(config: &ShopConfig) -> Result<Shop> {
        if config.users == 0
            || config.launch_items == 0
            || config.categories == 0
            || config.days == 0
        {
            return Err(Error::Config(
                "a shop needs users, products, categories and days".into(),
            ));
        }
        let c = config;
        let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
        let d = c.taste_dims.max(1);

        // Categories: a centre in taste space and a typical price.
        let centres: Vec<Vec<f64>> = (0..c.categories)
            .map(|_| normal_vec(&mut rng, d, 1.0))
            .collect();
        let price_dist = LogNormal::new(3.5, 0.8).map_err(|e| Error::Config(e.to_string()))?;
        let base_price: Vec<f64> = (0..c.categories)
            .map(|_| price_dist.sample(&mut rng))
            .collect();

        // Products: near their category's centre; a Zipf appeal by a random rank.
        let n_items = c.launch_items + c.new_items_per_day * (c.days as usize - 1);
        let mut products = vec![Product {
            id: 0,
            category: 0,
            price: 0.0,
            added_day: 0,
        }];
        let mut item_taste = vec![vec![0.0; d]];
        let spread = LogNormal::new(0.0, 0.4).map_err(|e| Error::Config(e.to_string()))?;
        for i in 1..=n_items {
            let category = rng.gen_range(0..c.categories);
            let added_day = if i <= c.launch_items {
                0
            } else {
                1 + ((i - c.launch_items - 1) / c.new_items_per_day.max(1)) as u32
            };
            let noise = normal_vec(&mut rng, d, 0.5);
            item_taste.push(
                centres[category]
                    .iter()
                    .zip(noise)
                    .map(|(a, b)| a + b)
                    .collect(),
            );
            products.push(Product {
                id: i as u32,
                category: category as u16,
                price: (base_price[category] * spread.sample(&mut rng)).max(1.0) as f32,
                added_day,
            });
        }
        let appeal = |rng: &mut ChaCha8Rng| -> Vec<f64> {
            let mut ranks: Vec<usize> = (1..=n_items).collect();
            rand::seq::SliceRandom::shuffle(ranks.as_mut_slice(), rng);
            std::iter::once(f64::NEG_INFINITY)
                .chain(
                    ranks
                        .iter()
                        .map(|&r| -c.popularity_exponent * (r as f64).ln()),
                )
                .collect()
        };
        let appeal_before = appeal(&mut rng);
        let appeal_after = match c.trend_shift_day {
            Some(_) => appeal(&mut rng),
            None => appeal_before.clone(),
        };

        // Shoppers: a taste near one or two favourite categories, an activity level, a budget.
        let activity = LogNormal::new(0.0, 0.8).map_err(|e| Error::Config(e.to_string()))?;
        let mut events = Vec::new();
        let mut weights = vec![0.0f64; n_items + 1];
        for user in 1..=c.users as u32 {
            let a = rng.gen_range(0..c.categories);
            let b = rng.gen_range(0..c.categories);
            let mix: f64 = rng.gen_range(0.5..1.0);
            let noise = normal_vec(&mut rng, d, 0.3);
            let taste: Vec<f64> = (0..d)
                .map(|k| mix * centres[a][k] + (1.0 - mix) * centres[b][k] + noise[k])
                .collect();
            let budget = base_price[a] * spread.sample(&mut rng);
            let sessions = Poisson::new((c.sessions_per_user * activity.sample(&mut rng)).max(0.05))
                .map_err(|e| Error::Config(e.to_string()))?
                .sample(&mut rng) as usize;
            // Taste affinity of every product for this shopper, computed once.
            let affinity: Vec<f64> = item_taste
                .iter()
                .map(|v| c.taste_weight * dot(&taste, v) / d as f64)
                .collect();
            for _ in 0..sessions {
                let t0 = START + rng.gen_range(0..i64::from(c.days) * DAY);
                let day = ((t0 - START) / DAY) as u32;
                let appeal = match c.trend_shift_day {
                    Some(shift) if day >= shift => &appeal_after,
                    _ => &appeal_before,
                };
                let views = 1 + Poisson::new(c.views_per_session.max(1.0) - 1.0 + 1e-9)
                    .map_err(|e| Error::Config(e.to_string()))?
                    .sample(&mut rng) as usize;
                // This visit's choice weights: taste × appeal, products on sale that day only.
                for (w, p) in weights.iter_mut().zip(&products).skip(1) {
                    let i = p.id as usize;
                    *w = if p.added_day <= day {
                        (affinity[i] + appeal[i]).exp()
                    } else {
                        0.0
                    };
                }
                let mut t = t0;
                let mut previous: Option<u16> = None;
                for _ in 0..views {
                    let stay = previous.filter(|_| rng.gen_bool(c.stay_in_category));
                    let Some(item) = sample_weighted(&mut rng, &weights, |i| {
                        stay.is_none_or(|s| products[i].category == s)
                    }) else {
                        break;
                    };
                    let p = &products[item];
                    previous = Some(p.category);
                    events.push(Rating {
                        user,
                        item: item as u32,
                        rating: EventKind::View.weight(),
                        timestamp: t,
                    });
                    // Funnel: better-matched and cheaper-than-budget products convert more.
                    let fit = 1.0 / (1.0 + (-(affinity[item] - 0.5)).exp());
                    let price_ok = (budget / f64::from(p.price)).min(1.5) / 1.5;
                    if rng.gen_bool((c.cart_rate * 2.0 * fit * price_ok).clamp(0.0, 1.0)) {
                        t += rng.gen_range(5..120);
                        events.push(Rating {
                            user,
                            item: item as u32,
                            rating: EventKind::Cart.weight(),
                            timestamp: t,
                        });
                        if rng.gen_bool(c.purchase_rate.clamp(0.0, 1.0)) {
                            t += rng.gen_range(30..600);
                            events.push(Rating {
                                user,
                                item: item as u32,
                                rating: EventKind::Purchase.weight(),
                                timestamp: t,
                            });
                        }
                    }
                    t += rng.gen_range(10..300);
                }
            }
        }
        // Time order, ties by user then item (deterministic).
        events.sort_by_key(|e| (e.timestamp, e.user, e.item, e.rating as u8));
        Ok(Shop {
            config: c.clone(),
            products,
            events,
            start: START,
        })
    }

    /// Number of user ids (including the unused 0).
    pub fn n_users(&self) -> usize {
        self.config.users + 1
    }

    /// Number of item ids (including the unused 0).
    pub fn n_items(&self) -> usize {
        self.products.len()
    }

    /// Unix time at the start of `day`.
    pub fn day_start(&self, day: u32) -> i64 {
        self.start + i64::from(day) * DAY
    }

    /// Events with `from ≤ time < to`.
    pub fn between(&self, from: i64, to: i64) -> &[Rating] {
        let a = self.events.partition_point(|e| e.timestamp < from);
        let b = self.events.partition_point(|e| e.timestamp < to);
        &self.events[a..b]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ShopConfig {
        ShopConfig {
            users: 300,
            launch_items: 200,
            new_items_per_day: 2,
            days: 28,
            ..ShopConfig::default()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_shop_and_another_seed_does_not() {
        let a = Shop::generate(&small()).expect("shop");
        let b = Shop::generate(&small()).expect("shop");
        assert_eq!(a.events, b.events);
        let c = Shop::generate(&ShopConfig { seed: 7, ..small() }).expect("shop");
        assert_ne!(a.events, c.events);
    }

    #[test]
    fn the_funnel_narrows_and_popularity_has_a_long_tail() {
        let shop = Shop::generate(&small()).expect("shop");
        let count = |k: EventKind| {
            shop.events
                .iter()
                .filter(|e| e.rating == k.weight())
                .count()
        };
        let (views, carts, buys) = (
            count(EventKind::View),
            count(EventKind::Cart),
            count(EventKind::Purchase),
        );
        assert!(
            views > 3 * carts && carts > buys && buys > 0,
            "{views} {carts} {buys}"
        );
        let mut per_item = vec![0usize; shop.n_items()];
        for e in &shop.events {
            per_item[e.item as usize] += 1;
        }
        per_item.sort_unstable_by(|a, b| b.cmp(a));
        let top_tenth: usize = per_item[..shop.n_items() / 10].iter().sum();
        assert!(
            top_tenth * 3 > shop.events.len(),
            "the top 10 % of products should take over a third of events: {top_tenth} of {}",
            shop.events.len()
        );
    }

    #[test]
    fn new_products_are_only_seen_after_they_arrive() {
        let shop = Shop::generate(&small()).expect("shop");
        assert!(shop.products.iter().any(|p| p.added_day > 0));
        for e in &shop.events {
            let day = ((e.timestamp - shop.start) / DAY) as u32;
            assert!(shop.products[e.item as usize].added_day <= day);
        }
        assert!(shop
            .events
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp));
    }
}
