//! Stage 8 — monitoring a feed: what was served and what users did with it, against the
//! reference day served when the model was trained.
//!
//! ```text
//! served slots (topic, position, age, click, hide, flagged) ─► CTR by position
//!                                                           ─► topic mix of the served and
//!                                                              of the clicked: Jensen–Shannon
//!                                                              distance to the reference
//!                                                              (drift at ≥ 0.1, Evidently's
//!                                                              default for categories)
//!                                                           ─► diversity (topic entropy),
//!                                                              freshness, hide rate, flagged
//!                                                              articles that reached users
//!                                                              (the simulator knows the flags;
//!                                                              the server has no flag route)
//! ```
//!
//! Talking points: monitor what the feed served, not only the model's inputs; CTR by position
//! shows the position bias live; a breaking-news surge moves the topic mix (detected), an
//! ordinary day does not; integrity violations that reached users before the flag.

use mlsd_core::drift::jensen_shannon_distance;
use serde::{Deserialize, Serialize};

use crate::data::Shown;
use crate::simulate::World;

/// Topic-mix drift threshold (Jensen–Shannon distance), Evidently's default for categories.
pub const TOPIC_DRIFT: f64 = 0.1;
/// Positions with their own CTR (the rest are pooled into the last).
pub const POSITIONS: usize = 10;

/// One served slot and what the user did with it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Served {
    pub topic: u16,
    pub position: u16,
    pub age_hours: f32,
    pub click: bool,
    pub hide: bool,
    /// The article was later flagged as an integrity violation.
    pub flagged: bool,
}

/// The simulator's served slots of one session (the server builds them from its catalogue).
pub fn served<'a>(
    world: &'a World,
    time: i64,
    shown: &'a [Shown],
) -> impl Iterator<Item = Served> + 'a {
    shown.iter().map(move |s| {
        let a = &world.articles[s.item as usize];
        Served {
            topic: a.topic,
            position: s.position,
            age_hours: ((time - a.published).max(0) as f64 / 3600.0) as f32,
            click: s.click,
            hide: s.hide,
            flagged: a.violation,
        }
    })
}

/// What a window of served slots looks like.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedReference {
    pub slots: usize,
    pub topic_mix: Vec<f64>,
    /// Entropy (bits) of the topic mix: the diversity of what was served.
    pub topic_entropy: f64,
    /// Topic mix of the clicked slots.
    pub clicked_topic_mix: Vec<f64>,
    pub ctr_by_position: Vec<f64>,
    pub mean_age_hours: f64,
    pub hide_rate: f64,
    pub flagged_served: usize,
}

impl FeedReference {
    pub fn from_served(window: &[Served], topics: usize) -> FeedReference {
        let n = window.len().max(1) as f64;
        let mut mix = vec![0.0; topics.max(1)];
        let mut clicked_mix = vec![0.0; topics.max(1)];
        let clicked_n = window.iter().filter(|s| s.click).count().max(1) as f64;
        let (mut shown, mut clicks) = (vec![0.0; POSITIONS], vec![0.0; POSITIONS]);
        for s in window {
            if let Some(m) = mix.get_mut(s.topic as usize) {
                *m += 1.0 / n;
            }
            if let Some(m) = clicked_mix.get_mut(s.topic as usize).filter(|_| s.click) {
                *m += 1.0 / clicked_n;
            }
            let p = (s.position as usize).min(POSITIONS - 1);
            shown[p] += 1.0;
            clicks[p] += f64::from(u8::from(s.click));
        }
        let topic_entropy = mix
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.log2())
            .sum();
        FeedReference {
            slots: window.len(),
            topic_mix: mix,
            topic_entropy,
            clicked_topic_mix: clicked_mix,
            ctr_by_position: clicks
                .iter()
                .zip(&shown)
                .map(|(c, s)| if *s > 0.0 { c / s } else { 0.0 })
                .collect(),
            mean_age_hours: window.iter().map(|s| f64::from(s.age_hours)).sum::<f64>() / n,
            hide_rate: window.iter().filter(|s| s.hide).count() as f64 / n,
            flagged_served: window.iter().filter(|s| s.flagged).count(),
        }
    }
}

/// A window against the reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorReport {
    pub current: FeedReference,
    /// Jensen–Shannon distance of the served topic mix to the reference's.
    pub topic_distance: f64,
    /// The topic whose share grew most, and by how much.
    pub rising_topic: Option<(u16, f64)>,
    pub topic_drift: bool,
    /// The same for the clicked slots (`None` without clicks in the window).
    pub clicked_topic_distance: Option<f64>,
    pub clicked_topic_drift: bool,
}

/// A window of served slots and one of clicked slots (the same window when the slots carry
/// their clicks, as in the simulator) against the reference.
/// Talking point [drift]: the topic mix of what is served and clicked, against the version's
/// reference.
pub fn report(reference: &FeedReference, served: &[Served], clicked: &[Served]) -> MonitorReport {
    let topics = reference.topic_mix.len();
    let mut current = FeedReference::from_served(served, topics);
    current.clicked_topic_mix = FeedReference::from_served(clicked, topics).clicked_topic_mix;
    let topic_distance = jensen_shannon_distance(&reference.topic_mix, &current.topic_mix);
    let clicked_topic_distance = clicked
        .iter()
        .any(|s| s.click)
        .then(|| jensen_shannon_distance(&reference.clicked_topic_mix, &current.clicked_topic_mix));
    let rising_topic = current
        .topic_mix
        .iter()
        .zip(&reference.topic_mix)
        .enumerate()
        .map(|(t, (c, r))| (t as u16, c - r))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    MonitorReport {
        topic_drift: topic_distance >= TOPIC_DRIFT,
        clicked_topic_drift: clicked_topic_distance.is_some_and(|d| d >= TOPIC_DRIFT),
        clicked_topic_distance,
        current,
        topic_distance,
        rising_topic,
    }
}

/// Two days after the reference days served by `model`, ordinary or with a breaking-news
/// surge in topic 0 from the first of them, against the model's reference. The service
/// resumes from the version's snapshot (the state at the end of the reference days).
pub fn simulated_days(
    cfg: &crate::artifact::TrainConfig,
    model: &crate::artifact::NewsfeedArtifact,
    surge: bool,
) -> MonitorReport {
    use crate::feed::Scorer;
    let first = cfg.log_days + cfg.reference_days;
    let world = World::new(&crate::simulate::WorldConfig {
        days: first + 2,
        surge: surge.then_some((first, 0)),
        ..cfg.world.clone()
    });
    let mut service = crate::service::Service::resume(&world, &model.snapshot);
    let mut window = Vec::new();
    for day in first..first + 2 {
        service.run_sessions(
            &world,
            day,
            model.feed.max_age_hours,
            |_, req| crate::feed::build(req, Scorer::Model(&model.ranker), &model.feed).items,
            |session, shown| window.extend(served(&world, session.time, shown)),
        );
    }
    report(&model.reference, &window, &window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(topic: u16, position: u16, click: bool) -> Served {
        Served {
            topic,
            position,
            age_hours: 2.0,
            click,
            hide: false,
            flagged: false,
        }
    }

    #[test]
    fn one_topic_taking_over_is_drift_and_the_same_mix_is_not() {
        let base: Vec<Served> = (0..400).map(|i| slot((i % 4) as u16, 0, false)).collect();
        let reference = FeedReference::from_served(&base, 4);
        assert!(!report(&reference, &base, &base).topic_drift);
        let surge: Vec<Served> = (0..400)
            .map(|i| slot(if i % 2 == 0 { 0 } else { (i % 4) as u16 }, 0, false))
            .collect();
        let r = report(&reference, &surge, &surge);
        assert!(r.topic_drift, "{r:?}");
        assert_eq!(r.rising_topic.map(|t| t.0), Some(0));
    }

    #[test]
    fn ctr_is_per_position() {
        let w = [slot(0, 0, true), slot(0, 0, false), slot(0, 1, false)];
        let r = FeedReference::from_served(&w, 1);
        assert_eq!(&r.ctr_by_position[..2], &[0.5, 0.0]);
    }
}
