//! The talking-point index: the interview's talking points × every design, generated into
//! `docs/talking-points.md` by `mlsd talking-points`.
//!
//! ```text
//! POINTS (what an interviewer asks)  ×  DESIGNS  ─►  one Cell each (cells.rs)
//! Cell::Built { test, number, command } + the code's `// Talking point [key]:` markers
//!                                        ─►  links to the marker lines and the test
//! Cell::NotBuilt(reason)                 ─►  an honest "not built", with why
//! ```
//!
//! Nothing in the index can dangle: [`check`] refuses a built cell without a marker of its key
//! in the design's crate (or the shared core), a test that is not a `fn` in its file, a number or
//! a command no doc prints, a marker whose key names no talking point or whose
//! cell says "not built", and a missing cell. The integration test
//! `talking_points::the_committed_index_is_fresh_and_nothing_dangles` runs [`check`] and compares
//! [`render`] with the committed file, so a moved line makes it stale and CI says so.

mod cells;
mod render;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use cells::CELLS;
pub use render::render;

/// Where the index is written, from the repository's root.
pub const INDEX: &str = "docs/talking-points.md";

/// One talking point of the interview answer (the article's 23, in its order).
pub struct Point {
    pub key: &'static str,
    pub section: &'static str,
    pub title: &'static str,
}

const fn point(section: &'static str, key: &'static str, title: &'static str) -> Point {
    Point {
        key,
        section,
        title,
    }
}

pub const POINTS: [Point; 23] = [
    point(
        "problem definition",
        "objective",
        "business goal → ML objective",
    ),
    point(
        "problem definition",
        "metrics",
        "offline and online metrics",
    ),
    point(
        "problem definition",
        "constraints",
        "constraints (latency, budget, base rate)",
    ),
    point(
        "problem definition",
        "rules-baseline",
        "a rules baseline: do we need ML?",
    ),
    point("data", "labels", "sources and labels, incl. their delay"),
    point("data", "cleaning", "cleaning and validation"),
    point(
        "data",
        "features",
        "features: point in time, no training/serving skew",
    ),
    point("model selection", "baseline", "a simple baseline first"),
    point(
        "model selection",
        "comparison",
        "models compared on a published protocol",
    ),
    point(
        "model selection",
        "trade-offs",
        "trade-offs (quality vs cost vs latency)",
    ),
    point("architecture", "batch-vs-real-time", "batch vs real-time"),
    point("architecture", "api", "the API and its contract"),
    point("architecture", "storage", "storage and the feature store"),
    point(
        "scalability",
        "load-balancing",
        "load balancing and replicas",
    ),
    point("scalability", "distributed", "distributed processing"),
    point("scalability", "caching", "caching"),
    point("monitoring", "drift", "data and prediction drift"),
    point("monitoring", "versioning", "model and data versioning"),
    point("monitoring", "retraining", "retraining triggers"),
    point(
        "production readiness",
        "testing",
        "testing (bad input, parity, faults)",
    ),
    point("production readiness", "rollback", "rollback"),
    point(
        "production readiness",
        "experiments",
        "A/B, shadow and canary",
    ),
    point("production readiness", "capacity", "capacity estimate"),
];

/// A design: its column of the index.
pub struct Design {
    pub key: &'static str,
    pub title: &'static str,
    /// Where its `// Talking point [key]:` markers are looked for first.
    pub crate_dir: &'static str,
    /// The design doc: a cell's number and command are looked for here first (then in
    /// [`SHARED_DOCS`]; commands also in the README).
    pub doc: &'static str,
}

pub const DESIGNS: [Design; 5] = [
    Design {
        key: "fraud",
        title: "fraud detector",
        crate_dir: "crates/fraud-detector",
        doc: "docs/designs/fraud-detector.md",
    },
    Design {
        key: "recommender",
        title: "recommender",
        crate_dir: "crates/recommender",
        doc: "docs/designs/recommender.md",
    },
    Design {
        key: "sentiment",
        title: "sentiment API",
        crate_dir: "crates/sentiment",
        doc: "docs/designs/sentiment-api.md",
    },
    Design {
        key: "maintenance",
        title: "predictive maintenance",
        crate_dir: "crates/maintenance",
        doc: "docs/designs/predictive-maintenance.md",
    },
    Design {
        key: "newsfeed",
        title: "news feed",
        crate_dir: "crates/newsfeed",
        doc: "docs/designs/news-feed.md",
    },
];

/// Shared code: a built cell with no marker in its design's crate links the core's.
const SHARED_DIRS: [&str; 3] = ["crates/mlsd-core", "crates/tabular", "src"];

/// Docs every design's numbers may be quoted from, after its own.
const SHARED_DOCS: [&str; 2] = ["docs/production-loop.md", "docs/benchmarks.md"];

/// The files the index quotes — every design doc, the shared docs, the README and the tests
/// the cells name — each read once (a missing one reads as empty, so its quotes dangle).
pub struct Texts(HashMap<&'static str, String>);

impl Texts {
    pub fn load(root: &Path) -> Texts {
        let docs = DESIGNS
            .iter()
            .map(|d| d.doc)
            .chain(SHARED_DOCS)
            .chain(["README.md"]);
        let tests = CELLS.iter().filter_map(|(_, _, c)| match c {
            Cell::Built { test, .. } => Some(test.0),
            Cell::NotBuilt(_) => None,
        });
        let read = |p: &'static str| (p, std::fs::read_to_string(root.join(p)).unwrap_or_default());
        Texts(docs.chain(tests).map(read).collect())
    }

    fn get(&self, path: &str) -> &str {
        self.0.get(path).map_or("", String::as_str)
    }

    /// The first doc (the design's own, then the shared ones) that prints `number`.
    pub fn source_doc(&self, design: &Design, number: &str) -> Option<&'static str> {
        std::iter::once(design.doc)
            .chain(SHARED_DOCS)
            .find(|doc| self.get(doc).contains(number))
    }

    /// Whether the design doc, a shared doc or the README shows `command`.
    fn shows_command(&self, design: &Design, command: &str) -> bool {
        std::iter::once(design.doc)
            .chain(SHARED_DOCS)
            .chain(["README.md"])
            .any(|doc| self.get(doc).contains(command))
    }

    /// Line of `fn name(` in the test file `file`, if it is there.
    fn test_line(&self, file: &str, name: &str) -> Option<usize> {
        let needle = format!("fn {name}(");
        self.get(file)
            .lines()
            .position(|l| l.contains(&needle))
            .map(|i| i + 1)
    }
}

/// What a design has for one talking point.
pub enum Cell {
    Built {
        /// The test that shows it: (file, `fn` name).
        test: (&'static str, &'static str),
        /// A measured number, exactly as the design doc (else a shared doc) prints it.
        number: &'static str,
        /// The command behind the number, as a doc or the README prints it.
        command: &'static str,
    },
    NotBuilt(&'static str),
}

/// One `// Talking point [key]:` line in the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub key: String,
    /// Path from the repository root, `/`-separated.
    pub file: String,
    pub line: usize,
    /// What the marker's line says after `]:` (the sentence to say in an interview).
    pub says: String,
}

/// Every keyed marker under `dirs` (sorted by file, then line).
pub fn markers(root: &Path, dirs: &[&str]) -> std::io::Result<Vec<Marker>> {
    let mut files = Vec::new();
    for dir in dirs {
        rust_files(&root.join(dir), &mut files)?;
    }
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path)?;
        let file = relative(root, &path);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some((key, first)) = marker_key(line) {
                found.push(Marker {
                    key: key.to_string(),
                    file: file.clone(),
                    line: i + 1,
                    says: sentence(first, &lines[i + 1..]),
                });
            }
        }
    }
    Ok(found)
}

/// A marker's text: its first line and the comment lines that continue it (up to the next
/// marker, a `Simplification:` or the end of the comment), joined into one line.
fn sentence(first: &str, after: &[&str]) -> String {
    let mut words = vec![first.trim().to_string()];
    for line in after.iter().map(|l| l.trim_start()) {
        let comment = line.trim_start_matches('/').trim_start_matches('!').trim();
        let ends = !line.starts_with("//")
            || comment.is_empty()
            || comment.starts_with("Talking point")
            || comment.starts_with("Simplification");
        if ends {
            break;
        }
        words.push(comment.to_string());
    }
    words.join(" ").trim().to_string()
}

/// The key and the text after it of a `// Talking point [key]: …` comment line (`//`, `///`
/// or `//!`).
fn marker_key(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    if !line.starts_with("//") {
        return None;
    }
    let comment = line.trim_start_matches('/').trim_start_matches('!');
    let rest = comment.trim_start().strip_prefix("Talking point [")?;
    let (key, after) = rest.split_once(']')?;
    Some((key, after.strip_prefix(':')?))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The cell of (design, point).
pub fn cell(design: &str, point: &str) -> Option<&'static Cell> {
    CELLS
        .iter()
        .find(|(d, p, _)| *d == design && *p == point)
        .map(|(_, _, c)| c)
}

/// The markers keyed `point` under `dir`.
fn keyed_in<'a>(all: &'a [Marker], point: &str, dir: &str) -> Vec<&'a Marker> {
    let prefix = format!("{dir}/");
    all.iter()
        .filter(|m| m.key == point && m.file.starts_with(&prefix))
        .collect()
}

/// The markers a built cell links: its design's, else the shared core's.
pub fn links<'a>(design: &Design, point: &str, all: &'a [Marker]) -> Vec<&'a Marker> {
    let own = keyed_in(all, point, design.crate_dir);
    if !own.is_empty() {
        return own;
    }
    SHARED_DIRS
        .iter()
        .flat_map(|d| keyed_in(all, point, d))
        .collect()
}

/// Every keyed marker of every design and of the shared code under `root`.
pub fn all_markers(root: &Path) -> std::io::Result<Vec<Marker>> {
    let mut dirs: Vec<&str> = DESIGNS.iter().map(|d| d.crate_dir).collect();
    dirs.extend(SHARED_DIRS);
    markers(root, &dirs)
}

/// Everything that dangles or is missing; empty when the index is sound.
pub fn check(root: &Path) -> std::io::Result<Vec<String>> {
    let all = all_markers(root)?;
    let texts = Texts::load(root);
    let mut problems = Vec::new();
    for m in &all {
        if !POINTS.iter().any(|p| p.key == m.key) {
            problems.push(format!(
                "{}:{}: no talking point is keyed {:?}",
                m.file, m.line, m.key
            ));
        }
    }
    for design in &DESIGNS {
        for point in &POINTS {
            let n = CELLS
                .iter()
                .filter(|(d, p, _)| *d == design.key && *p == point.key)
                .count();
            if n != 1 {
                problems.push(format!("{} × {}: {n} cells, want 1", design.key, point.key));
                continue;
            }
            match cell(design.key, point.key) {
                Some(Cell::Built {
                    test,
                    number,
                    command,
                }) => {
                    if links(design, point.key, &all).is_empty() {
                        problems.push(format!(
                            "{} × {}: no `Talking point [{}]:` marker in {} or the core",
                            design.key, point.key, point.key, design.crate_dir
                        ));
                    }
                    if texts.test_line(test.0, test.1).is_none() {
                        problems.push(format!(
                            "{} × {}: no fn {} in {}",
                            design.key, point.key, test.1, test.0
                        ));
                    }
                    if texts.source_doc(design, number).is_none() {
                        problems.push(format!(
                            "{} × {}: neither {} nor {} prints {number:?}",
                            design.key,
                            point.key,
                            design.doc,
                            SHARED_DOCS.join(" nor ")
                        ));
                    }
                    if !texts.shows_command(design, command) {
                        problems.push(format!(
                            "{} × {}: no doc shows the command {command:?}",
                            design.key, point.key
                        ));
                    }
                }
                Some(Cell::NotBuilt(_)) => {
                    // The code claims it: a design's own marker means the cell is built.
                    if let Some(m) = keyed_in(&all, point.key, design.crate_dir).first() {
                        problems.push(format!(
                            "{} × {}: marked not built, but {}:{} makes the point",
                            design.key, point.key, m.file, m.line
                        ));
                    }
                }
                None => {}
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_keys_are_read_from_every_comment_style() {
        assert_eq!(
            marker_key("    // Talking point [drift]: x"),
            Some(("drift", " x"))
        );
        assert_eq!(
            marker_key("/// Talking point [api]: x"),
            Some(("api", " x"))
        );
        assert_eq!(marker_key("//! Talking point [api]:"), Some(("api", "")));
        assert_eq!(marker_key("// Talking point: unkeyed"), None);
        assert_eq!(marker_key("// Talking point [drift] no colon"), None);
        assert_eq!(marker_key("let s = \"Talking point [x]:\";"), None);
    }

    #[test]
    fn every_design_has_one_cell_per_point() {
        for d in &DESIGNS {
            for p in &POINTS {
                let n = CELLS
                    .iter()
                    .filter(|(a, b, _)| *a == d.key && *b == p.key)
                    .count();
                assert_eq!(n, 1, "{} × {}", d.key, p.key);
            }
        }
    }
}
