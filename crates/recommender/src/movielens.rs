//! Stage 1 — the MovieLens-100k files, parsed at the edge into domain types.
//!
//! - `u.data`: `user \t item \t rating \t unix time`, one rating per line;
//! - `u.item`: `id|title|release date|video date|IMDb URL|19 genre flags`, **Latin-1** encoded
//!   (titles such as "Misérables" are not UTF-8);
//! - `u.user`: `id|age|gender|occupation|zip`.
//!
//! A line that does not parse, or a rating whose user or item is unknown or whose value is not
//! 1–5, is quarantined with its reason and counted; nothing is dropped silently.
//!
//! The files are read from `<data dir>/movielens-100k/` (`--data-dir` or `MLSD_DATA_DIR`) and
//! never copied into the repository: their license forbids redistribution.
//!
//! Talking points: data cleaning at the boundary, encodings are part of the schema, explicit
//! (ratings) vs implicit (the fact of having rated) feedback.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use mlsd_core::validate::{Quarantine, ValidationReport};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The folder name inside the data directory.
pub const FOLDER: &str = "movielens-100k";

/// One explicit rating.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub user: u32,
    pub item: u32,
    /// 1 to 5 stars.
    pub rating: f32,
    /// Seconds since the Unix epoch.
    pub timestamp: i64,
}

/// A movie (the "item" of the e-commerce design).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: u32,
    pub title: String,
    /// Indices into [`GENRES`].
    pub genres: Vec<u8>,
}

/// A user with the demographics the file gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: u32,
    pub age: u32,
    pub gender: String,
    pub occupation: String,
}

/// The 19 genres of `u.item`, in column order.
pub const GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The loaded dataset with what validation did.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub ratings: Vec<Rating>,
    pub items: Vec<Item>,
    pub users: Vec<User>,
    /// Counts for the ratings file: input = accepted + quarantined.
    pub report: ValidationReport,
    pub quarantine: Quarantine,
}

/// `<data_dir>/movielens-100k`, or a clear error naming the setting when there is none.
pub fn folder(data_dir: Option<&Path>) -> Result<PathBuf> {
    let dir = data_dir.ok_or_else(|| {
        Error::Config(
            "no data directory: pass --data-dir <dir> or set MLSD_DATA_DIR (the folder that holds movielens-100k/)".into(),
        )
    })?;
    let folder = dir.join(FOLDER);
    if !folder.join("u.data").is_file() {
        return Err(Error::Input {
            path: folder,
            why: "no u.data here (expected the MovieLens-100k files)".into(),
        });
    }
    Ok(folder)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Latin-1 → UTF-8: every byte is the code point of the same value.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Non-empty lines with their 1-based line numbers (`\n` only; a trailing `\r` is dropped).
fn lines(text: &str) -> impl Iterator<Item = (u64, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Talking point [cleaning]: every bad line is quarantined with its reason; input = accepted +
/// quarantined.
fn parse_items(text: &str, quarantine: &mut Quarantine) -> Vec<Item> {
    let mut items = Vec::new();
    for (n, line) in lines(text) {
        let fields: Vec<&str> = line.split('|').collect();
        let id = fields.first().and_then(|f| f.parse::<u32>().ok());
        match (id, fields.len()) {
            (Some(id), 24) => items.push(Item {
                id,
                title: fields[1].to_string(),
                genres: fields[5..]
                    .iter()
                    .enumerate()
                    .filter(|(_, flag)| **flag == "1")
                    .map(|(g, _)| g as u8)
                    .collect(),
            }),
            _ => quarantine.reject(n, "u.item: malformed line", line),
        }
    }
    items
}

fn parse_users(text: &str, quarantine: &mut Quarantine) -> Vec<User> {
    let mut users = Vec::new();
    for (n, line) in lines(text) {
        let fields: Vec<&str> = line.split('|').collect();
        let parsed = (fields.len() == 5)
            .then(|| {
                Some((
                    fields[0].parse::<u32>().ok()?,
                    fields[1].parse::<u32>().ok()?,
                ))
            })
            .flatten();
        match parsed {
            Some((id, age)) => users.push(User {
                id,
                age,
                gender: fields[2].to_string(),
                occupation: fields[3].to_string(),
            }),
            None => quarantine.reject(n, "u.user: malformed line", line),
        }
    }
    users
}

/// Parses `u.data` text; ratings of unknown users or items, or outside 1–5, are quarantined.
pub fn parse_ratings(
    text: &str,
    users: &HashSet<u32>,
    items: &HashSet<u32>,
    quarantine: &mut Quarantine,
) -> (Vec<Rating>, usize) {
    let mut ratings = Vec::new();
    let mut input = 0;
    for (n, line) in lines(text) {
        input += 1;
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != 4 {
            quarantine.reject(n, "wrong_field_count", line);
            continue;
        }
        let (Ok(user), Ok(item), Ok(rating), Ok(timestamp)) = (
            fields[0].trim().parse::<u32>(),
            fields[1].trim().parse::<u32>(),
            fields[2].trim().parse::<f32>(),
            fields[3].trim().parse::<i64>(),
        ) else {
            quarantine.reject(n, "unparseable_field", line);
            continue;
        };
        let reason = if !(1.0..=5.0).contains(&rating) {
            Some("rating_out_of_range")
        } else if !users.contains(&user) {
            Some("unknown_user")
        } else if !items.contains(&item) {
            Some("unknown_item")
        } else {
            None
        };
        match reason {
            Some(r) => quarantine.reject(n, r, line),
            None => ratings.push(Rating {
                user,
                item,
                rating,
                timestamp,
            }),
        }
    }
    (ratings, input)
}

/// Loads the three files from `folder` (see [`folder`]).
pub fn load(folder: &Path) -> Result<Dataset> {
    let mut side = Quarantine::default();
    let items = parse_items(&latin1(&read(&folder.join("u.item"))?), &mut side);
    let users = parse_users(&latin1(&read(&folder.join("u.user"))?), &mut side);
    if !side.is_empty() {
        return Err(Error::Input {
            path: folder.to_path_buf(),
            why: format!(
                "{} malformed lines in u.item / u.user, first: {:?}",
                side.len(),
                side.rows[0]
            ),
        });
    }
    let data = read(&folder.join("u.data"))?;
    let text = String::from_utf8(data).map_err(|_| Error::Input {
        path: folder.join("u.data"),
        why: "not UTF-8 (u.data holds only digits and tabs)".into(),
    })?;
    let user_ids: HashSet<u32> = users.iter().map(|u| u.id).collect();
    let item_ids: HashSet<u32> = items.iter().map(|i| i.id).collect();
    let mut quarantine = Quarantine::default();
    let (ratings, input) = parse_ratings(&text, &user_ids, &item_ids, &mut quarantine);
    let report = ValidationReport::new(input, ratings.len(), &quarantine)?;
    Ok(Dataset {
        ratings,
        items,
        users,
        report,
        quarantine,
    })
}

/// A user-supplied train/test pair in the `u.data` format (e.g. MovieLens's own `u1.base` /
/// `u1.test`), checked against the users and items of the dataset in `folder`; bad lines are
/// quarantined and counted per file.
pub fn load_pair(
    folder: &Path,
    train: &Path,
    test: &Path,
) -> Result<[(Vec<Rating>, ValidationReport); 2]> {
    let data = load(folder)?;
    let users: HashSet<u32> = data.users.iter().map(|u| u.id).collect();
    let items: HashSet<u32> = data.items.iter().map(|i| i.id).collect();
    let one = |path: &Path| -> Result<(Vec<Rating>, ValidationReport)> {
        let text = latin1(&read(path)?);
        let mut quarantine = Quarantine::default();
        let (ratings, input) = parse_ratings(&text, &users, &items, &mut quarantine);
        if ratings.is_empty() {
            return Err(Error::Input {
                path: path.to_path_buf(),
                why: format!(
                    "no usable rating in {input} lines (user<TAB>item<TAB>rating<TAB>timestamp)"
                ),
            });
        }
        let report = ValidationReport::new(input, ratings.len(), &quarantine)?;
        Ok((ratings, report))
    };
    Ok([one(train)?, one(test)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_bytes_become_the_same_code_points() {
        assert_eq!(latin1(b"Mis\xe9rables"), "Misérables");
    }

    #[test]
    fn bad_rating_lines_are_quarantined_with_reasons_and_counted() {
        let users: HashSet<u32> = [1, 2].into_iter().collect();
        let items: HashSet<u32> = [10, 20].into_iter().collect();
        let text = "1\t10\t4\t100\n2\t20\t5\t101\r\n\n1\t10\n1\tx\t3\t5\n1\t10\t9\t5\n3\t10\t4\t5\n1\t99\t4\t5\n";
        let mut q = Quarantine::default();
        let (ratings, input) = parse_ratings(text, &users, &items, &mut q);
        assert_eq!((ratings.len(), input), (2, 7));
        let reasons: Vec<&str> = q.rows.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "wrong_field_count",
                "unparseable_field",
                "rating_out_of_range",
                "unknown_user",
                "unknown_item"
            ]
        );
        assert_eq!(q.rows[0].source_row, 4, "line numbers count from 1");
        assert!(ValidationReport::new(input, ratings.len(), &q).is_ok());
    }

    #[test]
    fn a_missing_data_directory_says_which_setting_to_use() {
        let e = folder(None).expect_err("no dir").to_string();
        assert!(
            e.contains("--data-dir") && e.contains("MLSD_DATA_DIR"),
            "{e}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(folder(Some(dir.path())).is_err());
    }
}
