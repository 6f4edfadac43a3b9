//! Stage 1 (the embedded default) — a seeded news service whose users' true preferences are
//! known.
//!
//! ```text
//! users (topic interests, activity) ─┐
//! publishers (quality, clickbait)    ─┼─► articles (topic, quality, clickbait, publish time,
//!   some start publishing later       │             integrity violation flagged hours later)
//!                                     └─► sessions: the feed shows a page; the user examines
//!                                         slot p with P = 1/(p+1) (position bias), clicks,
//!                                         reads (quality), shares, hides (clickbait, violations)
//! ```
//!
//! Clickbait raises the click probability and lowers the chance a click becomes a read: a
//! ranker that maximises clicks serves it. Because the simulator knows each user's interests,
//! [`World::relevance`] gives the **true relevance** of an article (the probability the user
//! reads it if they look at it), which no logged data can give.
//!
//! Talking points: position bias (examination falls with the slot; the log shows positions);
//! freshness (attraction halves every 6 hours); clickbait (clicks without reads); delayed
//! labels (an integrity violation is flagged 12 hours after publication); one seed drives all
//! randomness (articles and users from the world seed, each session from its own stream, so
//! two rankers face the same users at the same moments).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Normal};
use serde::{Deserialize, Serialize};

use crate::data::{Item, Log, Shown};

/// The simulator's knobs, with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorldConfig {
    pub seed: u64,
    pub topics: usize,
    pub users: usize,
    pub publishers: usize,
    /// Share of publishers that only start publishing on `new_publisher_day`.
    pub new_publisher_share: f64,
    pub new_publisher_day: u32,
    pub articles_per_day: usize,
    pub days: u32,
    /// Feed opens per user per day, on average (activity varies between users).
    pub sessions_per_user_day: f64,
    /// Hours for an article's attraction to halve.
    pub freshness_half_life_hours: f64,
    /// Share of articles that break the rules; flagged `integrity_delay_hours` after publishing.
    pub integrity_rate: f64,
    pub integrity_delay_hours: f64,
    /// A breaking-news surge `(day, topic)`: from that day half of the articles are on the
    /// topic and every user's interest in it rises by 0.4 (the drift scenario). `None` = an
    /// ordinary month.
    pub surge: Option<(u32, usize)>,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            seed: 42,
            topics: 12,
            users: 1_000,
            publishers: 40,
            new_publisher_share: 0.2,
            new_publisher_day: 3,
            articles_per_day: 200,
            days: 10,
            sessions_per_user_day: 1.0,
            freshness_half_life_hours: 6.0,
            integrity_rate: 0.02,
            integrity_delay_hours: 12.0,
            surge: None,
        }
    }
}

/// An article as the simulator knows it (the service sees only topic, publisher and time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub topic: u16,
    pub publisher: u32,
    /// Hidden: how good it is to read (standard normal scale).
    pub quality: f64,
    /// Hidden: how much the headline over-promises (0..1).
    pub clickbait: f64,
    pub published: i64,
    pub violation: bool,
}

impl Article {
    /// When the integrity team flags it (`None`: never).
    pub fn flagged_at(&self, cfg: &WorldConfig) -> Option<i64> {
        self.violation
            .then(|| self.published + (cfg.integrity_delay_hours * 3600.0) as i64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Hidden: interest in each topic (0..1, two or three strong ones).
    pub interests: Vec<f64>,
    /// Feed opens per day.
    pub activity: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Publisher {
    pub quality: f64,
    pub clickbait: f64,
    pub first_day: u32,
}

/// One feed open the world asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub user: u32,
    pub time: i64,
    /// The seed of this session's behaviour (the same whatever ranker serves it).
    pub seed: u64,
}

/// The generated world.
#[derive(Debug, Clone)]
pub struct World {
    pub cfg: WorldConfig,
    pub users: Vec<User>,
    pub publishers: Vec<Publisher>,
    /// In publication order.
    pub articles: Vec<Article>,
}

pub const DAY: i64 = 86_400;

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl World {
    pub fn new(cfg: &WorldConfig) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let normal = Normal::new(0.0, 1.0).expect("unit normal");
        let activity = Gamma::new(2.0, cfg.sessions_per_user_day / 2.0).expect("positive shape");
        let users = (0..cfg.users)
            .map(|_| {
                let mut interests: Vec<f64> =
                    (0..cfg.topics).map(|_| 0.1 * rng.gen::<f64>()).collect();
                for _ in 0..rng.gen_range(2..=3) {
                    interests[rng.gen_range(0..cfg.topics)] = 0.5 + 0.5 * rng.gen::<f64>();
                }
                User {
                    interests,
                    activity: activity.sample(&mut rng),
                }
            })
            .collect();
        let late = (cfg.publishers as f64 * cfg.new_publisher_share).round() as usize;
        let publishers = (0..cfg.publishers)
            .map(|p| Publisher {
                quality: normal.sample(&mut rng),
                clickbait: rng.gen::<f64>().powi(2),
                first_day: if p >= cfg.publishers - late {
                    cfg.new_publisher_day
                } else {
                    0
                },
            })
            .collect();
        let mut world = World {
            cfg: cfg.clone(),
            users,
            publishers,
            articles: Vec::new(),
        };
        for day in 0..cfg.days {
            world.publish_day(day, &mut rng);
        }
        world
    }

    fn publish_day(&mut self, day: u32, rng: &mut ChaCha8Rng) {
        let cfg = &self.cfg;
        let normal = Normal::new(0.0, 1.0).expect("unit normal");
        let active: Vec<u32> = (0..self.publishers.len() as u32)
            .filter(|&p| self.publishers[p as usize].first_day <= day)
            .collect();
        let surge = cfg.surge.filter(|&(from, _)| day >= from).map(|(_, t)| t);
        let mut day_articles: Vec<Article> = (0..cfg.articles_per_day)
            .map(|_| {
                let publisher = active[rng.gen_range(0..active.len())];
                let p = self.publishers[publisher as usize];
                let topic = match surge {
                    // Talking point: breaking news — half of the day's articles on one topic.
                    Some(t) if rng.gen::<f64>() < 0.5 => t as u16,
                    _ => rng.gen_range(0..cfg.topics) as u16,
                };
                Article {
                    topic,
                    publisher,
                    quality: 0.7 * p.quality + 0.7 * normal.sample(rng),
                    clickbait: (p.clickbait + 0.15 * normal.sample(rng)).clamp(0.0, 1.0),
                    published: i64::from(day) * DAY + rng.gen_range(0..DAY),
                    violation: rng.gen::<f64>() < cfg.integrity_rate * (1.0 + 2.0 * p.clickbait),
                }
            })
            .collect();
        day_articles.sort_by_key(|a| a.published);
        self.articles.extend(day_articles);
    }

    /// The day's feed opens in time order, each with its own behaviour seed.
    pub fn sessions(&self, day: u32) -> Vec<Session> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed ^ (0x5e55_1000 + u64::from(day)));
        let mut sessions = Vec::new();
        for (u, user) in self.users.iter().enumerate() {
            let mut opens = user.activity;
            while opens > 0.0 {
                if opens >= 1.0 || rng.gen::<f64>() < opens {
                    // Waking hours: 6:00 to 24:00.
                    let time = i64::from(day) * DAY + rng.gen_range(6 * 3600..DAY);
                    sessions.push(Session {
                        user: u as u32,
                        time,
                        seed: rng.gen(),
                    });
                }
                opens -= 1.0;
            }
        }
        sessions.sort_by_key(|s| (s.time, s.user));
        sessions
    }

    /// The user's interest in the topic, raised by a breaking-news surge once it started.
    fn interest(&self, user: u32, a: &Article, time: i64) -> f64 {
        let base = self.users[user as usize].interests[a.topic as usize];
        match self.cfg.surge {
            Some((day, topic)) if topic == a.topic as usize && time >= i64::from(day) * DAY => {
                (base + 0.4).min(1.0)
            }
            _ => base,
        }
    }

    fn freshness(&self, a: &Article, time: i64) -> f64 {
        let age_h = (time - a.published).max(0) as f64 / 3600.0;
        0.5f64.powf(age_h / self.cfg.freshness_half_life_hours)
    }

    /// P(click | the user examines it).
    pub fn p_click(&self, user: u32, a: &Article, time: i64) -> f64 {
        let i = self.interest(user, a, time);
        sigmoid(-3.0 + 4.0 * i + 2.5 * a.clickbait + 0.2 * a.quality)
            * (0.3 + 0.7 * self.freshness(a, time))
    }

    /// P(a click becomes a read of ≥ 30 s).
    pub fn p_read(&self, user: u32, a: &Article, time: i64) -> f64 {
        sigmoid(-0.5 + 1.5 * a.quality + 2.0 * self.interest(user, a, time) - 3.5 * a.clickbait)
    }

    fn p_share(&self, user: u32, a: &Article, time: i64) -> f64 {
        sigmoid(-3.5 + 1.5 * a.quality + 1.5 * self.interest(user, a, time))
    }

    fn p_hide(&self, user: u32, a: &Article, time: i64) -> f64 {
        let i = self.interest(user, a, time);
        let violation = if a.violation { 3.0 } else { 0.0 };
        sigmoid(-4.5 + 3.0 * a.clickbait + 2.0 * (0.5 - i) + violation)
    }

    /// True relevance: the probability that the user reads the article if they look at it.
    // Talking point [metrics]: the ground truth logged data never has — what the user would value,
    // independent of where (or whether) the ranker showed it.
    pub fn relevance(&self, user: u32, a: &Article, time: i64) -> f64 {
        self.p_click(user, a, time) * self.p_read(user, a, time)
    }

    /// P(the user looks at slot `position`) (0-based).
    pub fn p_examine(position: usize) -> f64 {
        1.0 / (position as f64 + 1.0)
    }

    /// What the user does with a page (article indices, best slot first).
    pub fn react(&self, session: &Session, page: &[u32]) -> Vec<Shown> {
        let mut rng = ChaCha8Rng::seed_from_u64(session.seed);
        page.iter()
            .enumerate()
            .map(|(p, &item)| {
                let a = &self.articles[item as usize];
                // One draw per decision in a fixed order: the stream does not depend on the
                // outcome, so a page that differs in one slot reacts the same elsewhere.
                let u: [f64; 6] = rng.gen();
                let examined = u[0] < Self::p_examine(p);
                let click = examined && u[1] < self.p_click(session.user, a, session.time);
                let read = click && u[2] < self.p_read(session.user, a, session.time);
                let share = read && u[3] < self.p_share(session.user, a, session.time);
                let hide = examined && !click && u[4] < self.p_hide(session.user, a, session.time);
                let dwell = match (click, read) {
                    (true, true) => 30.0 + 90.0 * u[5],
                    (true, false) => 3.0 + 20.0 * u[5],
                    _ => 0.0,
                };
                Shown {
                    item,
                    position: p as u16,
                    click,
                    dwell: dwell as f32,
                    share,
                    hide,
                }
            })
            .collect()
    }

    /// Articles published in `[time − max_age, time]`.
    pub fn alive(&self, time: i64, max_age_hours: f64) -> std::ops::Range<usize> {
        let from = time - (max_age_hours * 3600.0) as i64;
        let start = self.articles.partition_point(|a| a.published < from);
        let end = self.articles.partition_point(|a| a.published <= time);
        start..end
    }

    /// The items table of a log of this world (what the service knows of each article).
    pub fn items(&self) -> Vec<Item> {
        self.articles
            .iter()
            .enumerate()
            .map(|(i, a)| Item {
                key: format!("a{i}"),
                topic: Some(a.topic),
                publisher: Some(a.publisher),
                published: Some(a.published),
            })
            .collect()
    }

    /// An empty log of this world, ready for impressions.
    pub fn empty_log(&self) -> Log {
        Log {
            source: format!("simulator (seed {})", self.cfg.seed),
            topics: (0..self.cfg.topics).map(|t| format!("topic{t}")).collect(),
            items: self.items(),
            users: self.users.len(),
            impressions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> WorldConfig {
        WorldConfig {
            users: 50,
            articles_per_day: 30,
            days: 3,
            ..WorldConfig::default()
        }
    }

    #[test]
    fn one_seed_one_world() {
        let (a, b) = (World::new(&small()), World::new(&small()));
        assert_eq!(a.articles, b.articles);
        assert_eq!(a.sessions(1), b.sessions(1));
        let other = World::new(&WorldConfig { seed: 7, ..small() });
        assert_ne!(a.articles, other.articles);
    }

    #[test]
    fn clickbait_gets_clicks_not_reads() {
        let w = World::new(&small());
        let mut a = w.articles[0];
        a.quality = 0.0;
        let t = a.published;
        let (honest, bait) = (
            Article {
                clickbait: 0.0,
                ..a
            },
            Article {
                clickbait: 1.0,
                ..a
            },
        );
        assert!(w.p_click(0, &bait, t) > w.p_click(0, &honest, t));
        assert!(w.p_read(0, &bait, t) < w.p_read(0, &honest, t));
        assert!(w.relevance(0, &bait, t) < w.relevance(0, &honest, t));
    }

    #[test]
    fn lower_slots_are_examined_less() {
        assert!(World::p_examine(0) > World::p_examine(1));
        assert!(World::p_examine(1) > World::p_examine(9));
    }
}
