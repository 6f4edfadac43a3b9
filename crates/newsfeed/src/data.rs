//! Stage 1 — data: MIND-format logs and the simulator's logs in one schema, parsed at the edge.
//!
//! ```text
//! MIND behaviors.tsv + news.tsv (MLSD_DATA_DIR) ─┐
//! the news-service simulator (crate::simulate)   ─┴─► Log { items, impressions (time order) }
//!                                                        bad rows ─► Quarantine (by reason)
//! ```
//!
//! An [`Impression`] is one feed open: who, when, what they had clicked before (the history
//! the ranker may use), and every item shown with what the user did with it. MIND logs only
//! clicks; the simulator also logs the position, the dwell, shares and hides.
//!
//! Talking points: the log is produced by the ranker that served it (exposure and position
//! bias); labels arrive at different delays (a click in seconds, a long dwell in minutes, an
//! integrity flag in hours); malformed rows are quarantined and counted, never dropped
//! silently.

use std::collections::HashMap;
use std::path::Path;

use mlsd_core::validate::{Quarantine, ValidationReport};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A dwell at least this long (seconds) is a "long dwell": the user read the article.
pub const LONG_DWELL: f32 = 30.0;

/// One article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The source's id (`N12345` in MIND, `a17` in the simulator).
    pub key: String,
    /// Topic index into [`Log::topics`], when known (most MIND history ids are not in the
    /// sample's news.tsv).
    pub topic: Option<u16>,
    pub publisher: Option<u32>,
    /// Seconds; `None` when the source does not say (MIND: first seen is the proxy).
    pub published: Option<i64>,
}

/// What a user did with one shown item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// Index into [`Log::items`].
    pub item: u32,
    /// 0-based slot on the page (MIND shuffles its lists: the index in the line).
    pub position: u16,
    pub click: bool,
    /// Seconds read (0 without a click; MIND does not log it).
    pub dwell: f32,
    pub share: bool,
    pub hide: bool,
}

impl Shown {
    pub fn long_dwell(&self) -> bool {
        self.click && self.dwell >= LONG_DWELL
    }
}

/// One feed open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    pub id: u64,
    /// Index into the user table of the source.
    pub user: u32,
    /// Seconds since the epoch (the simulator: since its start).
    pub time: i64,
    /// Items the user clicked before this impression, oldest first.
    pub history: Vec<u32>,
    pub shown: Vec<Shown>,
}

/// A log: items and impressions in time order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Log {
    pub source: String,
    pub topics: Vec<String>,
    pub items: Vec<Item>,
    pub users: usize,
    pub impressions: Vec<Impression>,
}

impl Log {
    /// Sorts impressions by (time, id): every consumer replays them in this order.
    pub fn sort(&mut self) {
        self.impressions.sort_by_key(|i| (i.time, i.id));
    }

    pub fn clicks(&self) -> usize {
        let shown = self.impressions.iter().flat_map(|i| &i.shown);
        shown.filter(|s| s.click).count()
    }
}

/// A loaded source and what validation did to it.
#[derive(Debug)]
pub struct Loaded {
    pub log: Log,
    pub validation: ValidationReport,
    pub quarantine: Quarantine,
}

/// Interns string ids into dense indices.
#[derive(Default)]
struct Interner {
    index: HashMap<String, u32>,
    keys: Vec<String>,
}

impl Interner {
    fn id(&mut self, key: &str) -> u32 {
        if let Some(&i) = self.index.get(key) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.index.insert(key.to_owned(), i);
        self.keys.push(key.to_owned());
        i
    }
}

/// Parses MIND's `M/D/YYYY h:mm:ss AM/PM` into seconds since the epoch (the logs' clock, UTC).
pub fn parse_mind_time(text: &str) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(text.trim(), "%m/%d/%Y %I:%M:%S %p")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

fn parse_shown(field: &str, items: &mut Interner) -> Option<Vec<Shown>> {
    let mut shown = Vec::new();
    for (position, token) in field.split_whitespace().enumerate() {
        let (key, label) = token.rsplit_once('-')?;
        let click = match label {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        if !key.starts_with('N') || position > u16::MAX as usize {
            return None;
        }
        shown.push(Shown {
            item: items.id(key),
            position: position as u16,
            click,
            dwell: 0.0,
            share: false,
            hide: false,
        });
    }
    (!shown.is_empty()).then_some(shown)
}

/// Talking point [cleaning]: a malformed line is quarantined with its reason, never dropped.
/// Loads `behaviors.tsv` and `news.tsv` of a MIND-format folder. A behaviour line with the
/// wrong field count, an unreadable time, a malformed impression list or a repeated impression
/// id is quarantined; a news line only lends its category to an id (a malformed one is
/// quarantined too, and the item stays without a topic).
pub fn load_mind(dir: &Path) -> Result<Loaded> {
    let behaviors = dir.join("behaviors.tsv");
    let text = read_text(&behaviors)?;
    let (mut items, mut users) = (Interner::default(), Interner::default());
    let mut quarantine = Quarantine::default();
    let mut impressions = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    let mut input = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        input += 1;
        let row = i as u64 + 1;
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 5 {
            quarantine.reject(row, "wrong_field_count", line);
            continue;
        }
        let Ok(id) = fields[0].trim().parse::<u64>() else {
            quarantine.reject(row, "bad_impression_id", line);
            continue;
        };
        let Some(time) = parse_mind_time(fields[2]) else {
            quarantine.reject(row, "bad_time", line);
            continue;
        };
        if fields[1].trim().is_empty() {
            quarantine.reject(row, "missing_user", line);
            continue;
        }
        let Some(shown) = parse_shown(fields[4], &mut items) else {
            quarantine.reject(row, "bad_impressions", line);
            continue;
        };
        if !seen_ids.insert(id) {
            quarantine.reject(row, "duplicate_impression_id", line);
            continue;
        }
        let history = fields[3].split_whitespace().map(|k| items.id(k)).collect();
        impressions.push(Impression {
            id,
            user: users.id(fields[1].trim()),
            time,
            history,
            shown,
        });
    }
    let validation = ValidationReport::new(input, impressions.len(), &quarantine)?;
    let (topics, topic_of) = mind_topics(&dir.join("news.tsv"), &items, &mut quarantine)?;
    let items = items
        .keys
        .into_iter()
        .map(|key| Item {
            topic: topic_of.get(&key).copied(),
            key,
            publisher: None,
            published: None,
        })
        .collect();
    let mut log = Log {
        source: "mind-small-sample".into(),
        topics,
        items,
        users: users.keys.len(),
        impressions,
    };
    log.sort();
    Ok(Loaded {
        log,
        validation,
        quarantine,
    })
}

/// Categories of the news ids the behaviours mention.
fn mind_topics(
    path: &Path,
    items: &Interner,
    quarantine: &mut Quarantine,
) -> Result<(Vec<String>, HashMap<String, u16>)> {
    let text = read_text(path)?;
    let mut topics = Interner::default();
    let mut topic_of = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split('\t');
        match (fields.next(), fields.next()) {
            (Some(id), Some(category)) if !category.trim().is_empty() => {
                if items.index.contains_key(id) {
                    topic_of.insert(id.to_owned(), topics.id(category.trim()) as u16);
                }
            }
            _ if line.trim().is_empty() => {}
            // Offset so news rows never collide with behaviour rows in the quarantine file.
            _ => quarantine.reject(1_000_000 + i as u64 + 1, "news_without_category", line),
        }
    }
    Ok((topics.keys, topic_of))
}

/// Writes `log` in the MIND format (`behaviors.tsv`, `news.tsv` with the topic as category) into
/// `dir`, times counted from 2019-11-09 00:00 (the sample's first day): what `load_mind` reads.
pub fn write_mind(log: &Log, dir: &Path) -> Result<()> {
    use std::fmt::Write as _;
    let io = |e: std::io::Error| Error::Read {
        path: dir.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let start = chrono::NaiveDate::from_ymd_opt(2019, 11, 9)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0);
    let key = |i: u32| format!("N{}", i + 1);
    let mut behaviors = String::new();
    for imp in &log.impressions {
        let time = chrono::DateTime::from_timestamp(start + imp.time, 0).unwrap_or_default();
        let history: Vec<String> = imp.history.iter().map(|&h| key(h)).collect();
        let shown: Vec<String> = imp
            .shown
            .iter()
            .map(|s| format!("{}-{}", key(s.item), u8::from(s.click)))
            .collect();
        let _ = writeln!(
            behaviors,
            "{}\tU{}\t{}\t{}\t{}",
            imp.id + 1,
            imp.user + 1,
            time.format("%-m/%-d/%Y %-I:%M:%S %p"),
            history.join(" "),
            shown.join(" ")
        );
    }
    let mut news = String::new();
    for (i, item) in log.items.iter().enumerate() {
        let topic = item
            .topic
            .and_then(|t| log.topics.get(t as usize))
            .map_or("unknown", String::as_str);
        let _ = writeln!(
            news,
            "{}\t{topic}\t{topic}\t{}\t\t\t[]\t[]",
            key(i as u32),
            item.key
        );
    }
    std::fs::write(dir.join("behaviors.tsv"), behaviors).map_err(io)?;
    std::fs::write(dir.join("news.tsv"), news).map_err(io)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mind_time_is_twelve_hour_clock() {
        let am = parse_mind_time("11/9/2019 12:05:00 AM").unwrap();
        let pm = parse_mind_time("11/9/2019 12:05:00 PM").unwrap();
        assert_eq!(pm - am, 12 * 3600);
        assert!(parse_mind_time("13/40/2019 1:00:00 PM").is_none());
    }

    #[test]
    fn malformed_impression_lists_are_refused() {
        let mut items = Interner::default();
        assert!(parse_shown("N1-1 N2-0", &mut items).is_some());
        assert!(parse_shown("N1-2", &mut items).is_none());
        assert!(parse_shown("N1", &mut items).is_none());
        assert!(parse_shown("", &mut items).is_none());
    }
}
