//! Stage 1 — ingest a transaction file with validation and quarantine.
//!
//! Parse, don't validate: raw text becomes typed columns once, here at the edge; everything
//! downstream trusts the accepted frame. Arrow streams (and Parquet) carry types; CSV lines are parsed field by
//! field, and a line that cannot be parsed is quarantined with its raw text. Typed rows then
//! pass ordered rules (polars expressions): nulls, non-finite or negative or absurd amounts,
//! timestamps outside the expected period, inconsistent time fields, unknown customers or
//! terminals, invalid labels, duplicate transaction ids (the first arrival wins).
//!
//! Talking points: data cleaning and validation; "bad input loses nothing" — every input row
//! is accepted or quarantined with a reason, and `input = accepted + quarantined` is checked.

use std::collections::HashMap;
use std::path::Path;

use mlsd_core::validate::{
    apply_rules, read_lines, render_row, Quarantine, Rule, ValidationReport, SOURCE_ROW,
};
use polars::prelude::*;
use serde::Serialize;

use crate::config::SimulationConfig;
use crate::schema::{self, ColumnKind, COLUMNS};
use crate::simulate::date_to_epoch_ms;
use crate::{Error, Result};

/// What "valid" means for a transaction; derived from the simulation's master data.
#[derive(Debug, Clone, Serialize)]
pub struct IngestConfig {
    /// Known customer ids are `0..n_customers`.
    pub n_customers: i64,
    /// Known terminal ids are `0..n_terminals`.
    pub n_terminals: i64,
    /// Expected period: `[start_ms, end_ms)` in epoch milliseconds.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Amounts above this are data errors, not big spenders.
    pub max_amount: f64,
}

impl IngestConfig {
    /// Simplification: the master data here is the simulator's id range; a bank would join
    /// against its card and terminal tables.
    pub fn for_simulation(sim: &SimulationConfig) -> Result<Self> {
        let start_ms = date_to_epoch_ms(&sim.start_date)?;
        Ok(IngestConfig {
            n_customers: sim.n_customers as i64,
            n_terminals: sim.n_terminals as i64,
            start_ms,
            end_ms: start_ms + sim.n_days as i64 * 86_400_000,
            max_amount: 1_000_000.0,
        })
    }
}

/// The accepted transactions, what was quarantined, and the counts.
pub struct Ingested {
    pub transactions: DataFrame,
    pub quarantine: Quarantine,
    pub report: ValidationReport,
}

/// Reads and validates a transaction file (`.arrows`, `.csv` or `.parquet`).
pub fn ingest(path: &Path, cfg: &IngestConfig) -> Result<Ingested> {
    if !path.is_file() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            why: "no such file".into(),
        });
    }
    let mut quarantine = Quarantine::default();
    let is_csv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let (typed, input_rows, raw_lines) = if is_csv {
        parse_csv(path, &mut quarantine)?
    } else {
        let (df, n) = read_typed(path, &mut quarantine)?;
        (df, n, HashMap::new())
    };

    // Quarantined records show the raw line for CSV input, the typed values otherwise.
    let render = |df: &DataFrame, i: usize| -> String {
        let row = df
            .column(SOURCE_ROW)
            .ok()
            .and_then(|c| c.get(i).ok())
            .and_then(|v| v.extract::<u64>());
        match row.and_then(|r| raw_lines.get(&r)) {
            Some(line) => line.clone(),
            None => render_row(df, i),
        }
    };
    let checked = apply_rules(typed, &rules(cfg), &mut quarantine, render)?;
    // Duplicates are judged among rows that are otherwise valid, so a broken first copy
    // does not condemn a good second one.
    let duplicates = [Rule::new(
        "duplicate_transaction_id",
        col(schema::TRANSACTION_ID).is_first_distinct().not(),
    )];
    let accepted = apply_rules(checked, &duplicates, &mut quarantine, render)?
        .drop(SOURCE_ROW)
        .map_err(Error::polars("dropping the source row column"))?;
    // Talking point [cleaning]: nothing is lost — this fails unless input = accepted + quarantined.
    let report = ValidationReport::new(input_rows, accepted.height(), &quarantine)?;
    Ok(Ingested {
        transactions: accepted,
        quarantine,
        report,
    })
}

/// The ordered validation rules; the first one a row fails names its reason.
pub fn rules(cfg: &IngestConfig) -> Vec<Rule> {
    use schema::*;
    let any_null = COLUMNS
        .iter()
        .map(|(name, _)| col(*name).is_null())
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    let ms = col(TX_DATETIME).cast(DataType::Int64);
    let amount = col(TX_AMOUNT);
    let out_of = |c: &str, n: i64| col(c).lt(lit(0i64)).or(col(c).gt_eq(lit(n)));
    vec![
        Rule::new("missing_value", any_null),
        Rule::new("invalid_transaction_id", col(TRANSACTION_ID).lt(lit(0i64))),
        Rule::new(
            "non_finite_amount",
            amount.clone().is_nan().or(amount.clone().is_infinite()),
        ),
        Rule::new("negative_amount", amount.clone().lt(lit(0.0))),
        Rule::new("absurd_amount", amount.gt(lit(cfg.max_amount))),
        Rule::new(
            "timestamp_out_of_range",
            ms.clone()
                .lt(lit(cfg.start_ms))
                .or(ms.clone().gt_eq(lit(cfg.end_ms))),
        ),
        Rule::new(
            "inconsistent_time_fields",
            (ms - lit(cfg.start_ms))
                .neq(col(TX_TIME_SECONDS) * lit(1000i64))
                .or((col(TX_TIME_DAYS) * lit(86_400i64)).gt(col(TX_TIME_SECONDS)))
                .or(((col(TX_TIME_DAYS) + lit(1i64)) * lit(86_400i64)).lt_eq(col(TX_TIME_SECONDS))),
        ),
        Rule::new("unknown_customer", out_of(CUSTOMER_ID, cfg.n_customers)),
        Rule::new("unknown_terminal", out_of(TERMINAL_ID, cfg.n_terminals)),
        Rule::new(
            "invalid_label",
            col(TX_FRAUD)
                .neq(lit(0i64))
                .and(col(TX_FRAUD).neq(lit(1i64))),
        ),
    ]
}

/// Reads a typed file (Arrow stream or Parquet) and casts its columns to the schema; a value
/// that does not fit its column's type quarantines its row.
fn read_typed(path: &Path, quarantine: &mut Quarantine) -> Result<(DataFrame, usize)> {
    let raw = mlsd_core::frames::read(path).map_err(|e| match e {
        mlsd_core::Error::Format { path, why } => Error::Input { path, why },
        other => other.into(),
    })?;
    let input_rows = raw.height();
    let mut columns = Vec::with_capacity(COLUMNS.len() + 1);
    let mut cast_failed: Vec<Option<&'static str>> = vec![None; input_rows];
    let file_names: Vec<String> = raw
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    for (name, kind) in COLUMNS {
        let original = find_column(&file_names, name)
            .and_then(|i| raw.columns().get(i))
            .ok_or_else(|| Error::Input {
                path: path.to_path_buf(),
                why: format!("missing column {name:?} (expected {:?})", column_names()),
            })?;
        let mut cast = original
            .cast(&kind.dtype()) // non-strict: a value that does not fit becomes null
            .map_err(|e| Error::Input {
                path: path.to_path_buf(),
                why: format!("column {name:?} cannot be read as {:?}: {e}", kind.dtype()),
            })?;
        cast.rename(name.into());
        // A value that was there but does not fit the type is a row-level problem.
        let lost = original.is_not_null() & cast.is_null();
        for (i, l) in lost.iter().enumerate() {
            if l == Some(true) && cast_failed[i].is_none() {
                cast_failed[i] = Some(name);
            }
        }
        columns.push(cast);
    }
    columns.push(Column::new(
        SOURCE_ROW.into(),
        (1..=input_rows as u64).collect::<Vec<_>>(),
    ));
    let df = DataFrame::new_infer_height(columns).map_err(Error::polars("assembling columns"))?;
    let bad: Vec<bool> = cast_failed.iter().map(Option::is_some).collect();
    for (i, reason) in cast_failed.iter().enumerate() {
        if let Some(name) = reason {
            quarantine.reject(
                i as u64 + 1,
                format!("wrong_type_{name}"),
                render_row(&raw, i),
            );
        }
    }
    let keep =
        BooleanChunked::from_slice("keep".into(), &bad.iter().map(|b| !b).collect::<Vec<_>>());
    let df = df
        .filter(&keep)
        .map_err(Error::polars("dropping wrongly typed rows"))?;
    Ok((df, input_rows))
}

/// Where schema column `name` is among a file's columns: the exact name, else the same name in
/// another case — the Fraud-Detection-Handbook publishes its transactions with upper-case
/// names (`TRANSACTION_ID`, `TX_DATETIME`, …), and its files are read as they are.
fn find_column<S: AsRef<str>>(file_names: &[S], name: &str) -> Option<usize> {
    let exact = file_names.iter().position(|n| n.as_ref() == name);
    exact.or_else(|| {
        file_names
            .iter()
            .position(|n| n.as_ref().eq_ignore_ascii_case(name))
    })
}

fn column_names() -> Vec<&'static str> {
    COLUMNS.iter().map(|(n, _)| *n).collect()
}

/// Typed column buffers for CSV parsing (`None` = empty field).
#[derive(Default)]
struct Buffers {
    ints: Vec<Vec<Option<i64>>>,
    floats: Vec<Option<f64>>,
    datetimes: Vec<Option<i64>>,
    rows: Vec<u64>,
}

fn parse_csv(
    path: &Path,
    quarantine: &mut Quarantine,
) -> Result<(DataFrame, usize, HashMap<u64, String>)> {
    let (header, lines) = read_lines(path, quarantine)?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    // Map file columns to schema columns by name, so column order does not matter.
    let mut position = Vec::with_capacity(COLUMNS.len());
    for (name, _) in COLUMNS {
        let i = find_column(&names, name).ok_or_else(|| Error::Input {
            path: path.to_path_buf(),
            why: format!("header lacks column {name:?}: got {header:?}"),
        })?;
        position.push(i);
    }
    let input_rows = lines.len() + quarantine.len();
    let n_int = COLUMNS
        .iter()
        .filter(|(_, k)| *k == ColumnKind::Int)
        .count();
    let mut buf = Buffers {
        ints: vec![Vec::with_capacity(lines.len()); n_int],
        ..Buffers::default()
    };
    let mut raw_lines = HashMap::new();
    'lines: for (row, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != names.len() {
            quarantine.reject(row, "wrong_field_count", line);
            continue;
        }
        let mut ints = Vec::with_capacity(n_int);
        let (mut float, mut datetime) = (None, None);
        for ((name, kind), &i) in COLUMNS.iter().zip(&position) {
            let field = fields[i];
            let parsed = if field.is_empty() {
                Some(())
            } else {
                match kind {
                    ColumnKind::Int => field.parse::<i64>().ok().map(|v| ints.push(Some(v))),
                    ColumnKind::Float => field.parse::<f64>().ok().map(|v| float = Some(v)),
                    ColumnKind::Datetime => {
                        schema::parse_datetime_ms(field).map(|v| datetime = Some(v))
                    }
                }
            };
            if parsed.is_none() {
                quarantine.reject(row, format!("unparseable_{name}"), line);
                continue 'lines;
            }
            if field.is_empty() && *kind == ColumnKind::Int {
                ints.push(None);
            }
        }
        for (column, v) in buf.ints.iter_mut().zip(ints) {
            column.push(v);
        }
        buf.floats.push(float);
        buf.datetimes.push(datetime);
        buf.rows.push(row);
        raw_lines.insert(row, line);
    }
    let mut ints = buf.ints.into_iter();
    let mut columns = Vec::with_capacity(COLUMNS.len() + 1);
    for (name, kind) in COLUMNS {
        let series = match kind {
            ColumnKind::Int => Series::new(name.into(), ints.next().unwrap_or_default()),
            ColumnKind::Float => Series::new(name.into(), std::mem::take(&mut buf.floats)),
            ColumnKind::Datetime => Series::new(name.into(), std::mem::take(&mut buf.datetimes))
                .cast(&kind.dtype())
                .map_err(Error::polars("casting datetimes"))?,
        };
        columns.push(series.into_column());
    }
    columns.push(Column::new(SOURCE_ROW.into(), buf.rows));
    let df =
        DataFrame::new_infer_height(columns).map_err(Error::polars("assembling CSV columns"))?;
    Ok((df, input_rows, raw_lines))
}

/// Writes the accepted transactions (format by extension, as [`write_transactions`]).
///
/// [`write_transactions`]: crate::simulate::write_transactions
pub fn write_accepted(df: &mut DataFrame, path: &Path) -> Result<()> {
    crate::simulate::write_transactions(df, path)
}
