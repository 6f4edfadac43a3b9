//! Mistakes you can run (`mlsd newsfeed evaluate --protocol sim --mistake <name>`): the errors
//! of a feed answer, measured on the simulator, which knows what users value.
//!
//! ```text
//! simulator protocol ─► multi-objective ranker vs a CTR-only one, served online ─► ctr-only
//!                    ─► 30 days retrained on the feed's own log, with and without
//!                       exploration slots                                      ─► no-exploration
//! ```
//!
//! Talking points: ranking by click probability alone rewards clickbait; a model trained only
//! on what it chose to show narrows the catalogue day after day.

use mlsd_core::mistakes::{self, Mistake};

use crate::experiments::{simulate_protocol, LoopDay, OnlineRow, SimConfig, SimReport};
use crate::{Error, Result};

/// The mistakes, by their command-line names.
pub const ALL: [&str; 2] = ["ctr-only", "no-exploration"];

/// Runs the named mistakes (every one for `["all"]`); both come from one simulator run.
pub fn run(names: &[&str], cfg: &SimConfig) -> Result<Vec<Mistake>> {
    mistakes::select("news-feed", names, &ALL).map_err(Error::Config)?;
    from_report(names, &simulate_protocol(cfg)?)
}

/// The named mistakes, read from a simulator protocol's report.
pub fn from_report(names: &[&str], report: &SimReport) -> Result<Vec<Mistake>> {
    let names = mistakes::select("news-feed", names, &ALL).map_err(Error::Config)?;
    names
        .into_iter()
        .map(|name| match name {
            "ctr-only" => ctr_only(&report.online),
            "no-exploration" => no_exploration(&report.feedback_loop),
            other => Err(Error::Config(mistakes::unknown("news-feed", other, &ALL))),
        })
        .collect()
}

fn row<'a>(online: &'a [OnlineRow], name: &str) -> Result<&'a OnlineRow> {
    online
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| Error::Config(format!("the simulator protocol served no {name:?}")))
}

fn ctr_only(online: &[OnlineRow]) -> Result<Mistake> {
    let value = row(online, "gradient boosting (multi-objective)")?;
    let ctr = row(online, "gradient boosting (CTR)")?;
    Ok(Mistake {
        name: "ctr-only",
        what: "the feed ranked by predicted click probability alone (boosting, served online)",
        metric: "reads (≥ 30 s) per session".into(),
        honest: value.reads_per_session,
        mistaken: ctr.reads_per_session,
        lesson: format!(
            "the CTR ranker wins the metric it optimises — {:.3} clicks per session vs {:.3} — \
             by serving clickbait ({:.1} % of slots vs {:.1} %) that users leave at once",
            ctr.clicks_per_session,
            value.clicks_per_session,
            100.0 * ctr.clickbait_served,
            100.0 * value.clickbait_served
        ),
    })
}

fn no_exploration(days: &[LoopDay]) -> Result<Mistake> {
    // The last third of the loop: where the two runs have settled.
    let last = days.iter().map(|d| d.day).max().unwrap_or(0);
    let from = last - last / 3;
    let mean = |exploration: bool, f: fn(&LoopDay) -> f64| {
        let v: Vec<f64> = days
            .iter()
            .filter(|d| d.exploration == exploration && d.day >= from)
            .map(f)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    Ok(Mistake {
        name: "no-exploration",
        what: "retrained daily on its own log with no exploration slots",
        metric: format!("catalogue coverage, mean of days {from}–{last}"),
        honest: mean(true, |d| d.coverage),
        mistaken: mean(false, |d| d.coverage),
        lesson: format!(
            "a model learns only about what it chose to show, so the log narrows; the \
             short-term metric rewards it (reads per session {:.3} without exploration vs {:.3} \
             with) — the cost is in what the log can no longer teach, not in today's number",
            mean(false, |d| d.engagement),
            mean(true, |d| d.engagement)
        ),
    })
}
