//! Validation and quarantine: every input row ends up either accepted or quarantined with
//! a reason, and the counts always add up (`input = accepted + quarantined`).
//!
//! Two layers, as at any system boundary:
//! 1. *Parsing* (per design, at the edge): raw text becomes typed values; a line that cannot be
//!    parsed (wrong field count, a number that is not a number, invalid UTF-8) is quarantined
//!    with its raw text via [`Quarantine::reject`].
//! 2. *Rules* (here, in polars): typed rows are checked against ordered [`Rule`]s — nulls,
//!    ranges, unknown ids, duplicates. The first rule a row fails names its reason.
//!
//! Talking points: data cleaning; "malformed input is counted, never silently dropped".

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Name of the column that carries each row's position in its source file (1-based, header
/// excluded), so that a quarantined row can be found again.
pub const SOURCE_ROW: &str = "source_row";
const REASON: &str = "reason";

/// One validation rule: rows for which `fails` is true are quarantined with `reason`.
/// A null `fails` counts as passing, so put a "missing value" rule first.
pub struct Rule {
    pub reason: String,
    pub fails: Expr,
}

impl Rule {
    pub fn new(reason: impl Into<String>, fails: Expr) -> Self {
        Rule {
            reason: reason.into(),
            fails,
        }
    }
}

/// A quarantined row: where it came from, why it was refused, and its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantinedRow {
    pub source_row: u64,
    pub reason: String,
    pub record: String,
}

/// Counts per reason plus the rows themselves.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Quarantine {
    pub rows: Vec<QuarantinedRow>,
}

impl Quarantine {
    pub fn reject(
        &mut self,
        source_row: u64,
        reason: impl Into<String>,
        record: impl Into<String>,
    ) {
        self.rows.push(QuarantinedRow {
            source_row,
            reason: reason.into(),
            record: record.into(),
        });
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn counts_by_reason(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for row in &self.rows {
            *counts.entry(row.reason.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// Writes `source_row,reason,record` as CSV (records quoted), sorted by source row.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut rows = self.rows.clone();
        rows.sort_by_key(|r| r.source_row);
        let mut out = Vec::with_capacity(rows.len() * 64 + 32);
        let _ = writeln!(out, "source_row,reason,record");
        for row in &rows {
            let _ = writeln!(
                out,
                "{},{},\"{}\"",
                row.source_row,
                row.reason,
                row.record.replace('"', "\"\"")
            );
        }
        crate::report::atomic_write(path, &out)
    }
}

/// What a validation run did, for the run report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationReport {
    pub input_rows: usize,
    pub accepted_rows: usize,
    pub quarantined_rows: usize,
    pub quarantined_by_reason: BTreeMap<String, usize>,
}

impl ValidationReport {
    /// Builds the report and checks the invariant `input = accepted + quarantined`.
    pub fn new(input_rows: usize, accepted_rows: usize, quarantine: &Quarantine) -> Result<Self> {
        let quarantined_rows = quarantine.len();
        if input_rows != accepted_rows + quarantined_rows {
            return Err(Error::Unbalanced {
                input: input_rows,
                accepted: accepted_rows,
                quarantined: quarantined_rows,
            });
        }
        Ok(ValidationReport {
            input_rows,
            accepted_rows,
            quarantined_rows,
            quarantined_by_reason: quarantine.counts_by_reason(),
        })
    }
}

/// Applies `rules` in order to `df` (which must carry a [`SOURCE_ROW`] column). Returns the
/// accepted rows and adds every failing row to `quarantine`, its record rendered by `render`.
pub fn apply_rules(
    df: DataFrame,
    rules: &[Rule],
    quarantine: &mut Quarantine,
    render: impl Fn(&DataFrame, usize) -> String,
) -> Result<DataFrame> {
    // One pass: nested when/then/otherwise names the first failing rule (null = accepted).
    let reason = rules
        .iter()
        .rev()
        .fold(lit(NULL).cast(DataType::String), |otherwise, rule| {
            when(rule.fails.clone())
                .then(lit(rule.reason.clone()))
                .otherwise(otherwise)
        });
    let labelled = df
        .lazy()
        .with_column(reason.alias(REASON))
        .collect()
        .map_err(Error::polars("labelling rows with validation reasons"))?;

    let failed_mask = labelled
        .column(REASON)
        .map_err(Error::polars("reading the reason column"))?
        .is_not_null();
    let rejected = labelled
        .filter(&failed_mask)
        .map_err(Error::polars("selecting quarantined rows"))?;
    let accepted = labelled
        .filter(&!failed_mask)
        .map_err(Error::polars("selecting accepted rows"))?
        .drop(REASON)
        .map_err(Error::polars("dropping the reason column"))?;

    if rejected.height() > 0 {
        let reasons = rejected
            .column(REASON)
            .and_then(|c| c.str().cloned())
            .map_err(Error::polars("reading reasons"))?;
        let rows = rejected
            .column(SOURCE_ROW)
            .and_then(|c| c.cast(&DataType::UInt64))
            .map_err(Error::polars("reading source rows"))?;
        let rows = rows.u64().map_err(Error::polars("reading source rows"))?;
        let shown = rejected
            .drop(REASON)
            .map_err(Error::polars("dropping the reason column"))?;
        for i in 0..rejected.height() {
            quarantine.reject(
                rows.get(i).unwrap_or(0),
                reasons.get(i).unwrap_or("unknown"),
                render(&shown, i),
            );
        }
    }
    Ok(accepted)
}

/// Renders row `i` of `df` as comma-separated values (for the quarantine file).
pub fn render_row(df: &DataFrame, i: usize) -> String {
    df.columns()
        .iter()
        .filter(|c| c.name().as_str() != SOURCE_ROW)
        .map(|c| match c.get(i) {
            Ok(AnyValue::Null) | Err(_) => String::new(),
            Ok(v) => v.to_string().trim_matches('"').to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits a text file into lines at the edge, before any parsing: `(line number, line)` for
/// every non-empty line after the header, or a quarantine entry for bytes that are not UTF-8.
pub fn read_lines(
    path: &Path,
    quarantine: &mut Quarantine,
) -> Result<(String, Vec<(u64, String)>)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = bytes.split(|b| *b == b'\n').enumerate();
    let header = match lines.next() {
        Some((_, h)) => String::from_utf8_lossy(h)
            .trim_end_matches('\r')
            .to_string(),
        None => String::new(),
    };
    let mut out = Vec::new();
    for (i, raw) in lines {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row = i as u64; // header is line 0, so data rows are 1-based
        match std::str::from_utf8(raw) {
            Ok(line) => out.push((row, line.to_string())),
            Err(_) => quarantine.reject(row, "invalid_utf8", String::from_utf8_lossy(raw)),
        }
    }
    Ok((header, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            SOURCE_ROW => [1u64, 2, 3, 4, 5],
            "amount" => [Some(10.0), Some(-1.0), None, Some(f64::NAN), Some(5.0)],
        )
        .expect("static frame")
    }

    #[test]
    fn the_first_failing_rule_names_the_reason_and_counts_add_up() {
        let rules = [
            Rule::new("missing_value", col("amount").is_null()),
            Rule::new("non_finite_amount", col("amount").is_nan()),
            Rule::new("negative_amount", col("amount").lt(lit(0.0))),
        ];
        let mut q = Quarantine::default();
        let accepted = apply_rules(frame(), &rules, &mut q, render_row).expect("rules apply");
        assert_eq!(accepted.height(), 2);
        let report = ValidationReport::new(5, accepted.height(), &q).expect("balanced");
        assert_eq!(report.quarantined_rows, 3);
        assert_eq!(report.quarantined_by_reason["missing_value"], 1);
        assert_eq!(report.quarantined_by_reason["non_finite_amount"], 1);
        assert_eq!(report.quarantined_by_reason["negative_amount"], 1);
        let negative = q
            .rows
            .iter()
            .find(|r| r.reason == "negative_amount")
            .expect("row");
        assert_eq!(negative.source_row, 2);
        assert_eq!(negative.record, "-1.0");
    }

    #[test]
    fn an_unbalanced_report_is_an_error() {
        let q = Quarantine::default();
        assert!(matches!(
            ValidationReport::new(3, 2, &q),
            Err(Error::Unbalanced { .. })
        ));
    }

    #[test]
    fn invalid_utf8_lines_are_quarantined_not_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        std::fs::write(&path, b"a,b\n1,2\n\xff\xfe,3\n\n4,5\r\n").expect("write");
        let mut q = Quarantine::default();
        let (header, lines) = read_lines(&path, &mut q).expect("read");
        assert_eq!(header, "a,b");
        assert_eq!(lines, vec![(1, "1,2".to_string()), (4, "4,5".to_string())]);
        assert_eq!(q.rows[0].reason, "invalid_utf8");
        assert_eq!(q.rows[0].source_row, 2);
    }
}
