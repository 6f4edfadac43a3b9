//! Mistakes you can run: the classic errors an interviewer probes, each measured beside the
//! honest number so the damage is a number, not a warning.
//!
//! ```text
//! design's evaluate --mistake <name> ─► the same data, model and metric twice:
//!                                       once as the protocol does it (honest),
//!                                       once with the mistake (mistaken)
//!                                    ─► Mistake { honest, mistaken } ─► a table row
//! ```
//!
//! Each design implements its own mistakes (they are about its data); this module is what
//! they share: the record and the table every design doc prints.

use serde::Serialize;

use crate::report::markdown_table;

/// One mistake, run.
#[derive(Debug, Clone, Serialize)]
pub struct Mistake {
    /// The command-line name (`--mistake random-split`).
    pub name: &'static str,
    /// The mistake in one sentence: what the careless version does.
    pub what: &'static str,
    /// The metric both versions are judged on, and where it was measured.
    pub metric: String,
    /// The honest number (the protocol as it should be run).
    pub honest: f64,
    /// The same number with the mistake.
    pub mistaken: f64,
    /// Why the mistaken number misleads, in one sentence (with the numbers that show it).
    pub lesson: String,
}

impl Mistake {
    /// Mistaken minus honest: how far the mistake moves the number.
    pub fn damage(&self) -> f64 {
        self.mistaken - self.honest
    }
}

/// The mistakes `names` asks for from a design's `all`: every one for `["all"]`, else each
/// name as given — all checked before any is run, so a typo fails before minutes of work.
pub fn select(
    design: &str,
    names: &[&str],
    all: &[&'static str],
) -> Result<Vec<&'static str>, String> {
    if names == ["all"] {
        return Ok(all.to_vec());
    }
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|a| *a == n)
                .copied()
                .ok_or_else(|| unknown(design, n, all))
        })
        .collect()
}

/// The error for a mistake a design does not have.
pub fn unknown(design: &str, name: &str, all: &[&str]) -> String {
    format!(
        "no mistake named {name:?}; the {design} design has {}",
        all.join(", ")
    )
}

/// The mistakes as a markdown table (what each design doc prints).
pub fn render(mistakes: &[Mistake]) -> String {
    let rows: Vec<Vec<String>> = mistakes
        .iter()
        .map(|m| {
            vec![
                format!("`{}`", m.name),
                m.what.to_string(),
                m.metric.clone(),
                format!("{:.3}", m.honest),
                format!("{:.3}", m.mistaken),
                format!("{:+.3}", m.damage()),
                m.lesson.clone(),
            ]
        })
        .collect();
    markdown_table(
        &[
            "mistake",
            "what it does",
            "metric",
            "honest",
            "mistaken",
            "moved by",
            "why it misleads",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_and_an_unknown_name_is_refused_before_anything_runs() {
        let all = ["a", "b"];
        assert_eq!(select("x", &["all"], &all), Ok(vec!["a", "b"]));
        assert_eq!(select("x", &["b"], &all), Ok(vec!["b"]));
        let err = select("x", &["b", "c"], &all).unwrap_err();
        assert!(err.contains("\"c\"") && err.contains("a, b"), "{err}");
    }

    #[test]
    fn the_table_shows_the_signed_damage() {
        let m = Mistake {
            name: "random-split",
            what: "w",
            metric: "AP".into(),
            honest: 0.6,
            mistaken: 0.75,
            lesson: "l".into(),
        };
        assert!((m.damage() - 0.15).abs() < 1e-12);
        let table = render(&[m]);
        assert!(
            table.contains("| `random-split` | w | AP | 0.600 | 0.750 | +0.150 | l |"),
            "{table}"
        );
    }
}
