//! Bad files lose nothing: every input row is accepted or quarantined with a reason, and
//! a file that cannot be read at all is a clear error, never a panic.

use std::io::Write;

use fraud_detector::ingest::{ingest, IngestConfig};
use fraud_detector::simulate::{simulate, write_transactions};

use crate::common::tiny_simulation;

/// Writes the tiny simulation as CSV and returns (path, header, data lines).
fn clean_csv(dir: &std::path::Path) -> (std::path::PathBuf, String, Vec<String>) {
    let (mut df, _) = simulate(&tiny_simulation()).expect("simulate");
    let path = dir.join("clean.csv");
    write_transactions(&mut df, &path).expect("write csv");
    let text = std::fs::read_to_string(&path).expect("read back");
    let mut lines = text.lines().map(str::to_string);
    let header = lines.next().expect("header");
    (path, header, lines.collect())
}

fn config() -> IngestConfig {
    IngestConfig::for_simulation(&tiny_simulation()).expect("config")
}

#[test]
fn a_clean_file_is_accepted_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _, lines) = clean_csv(dir.path());
    let got = ingest(&path, &config()).expect("ingest");
    assert_eq!(got.report.input_rows, lines.len());
    assert_eq!(got.report.accepted_rows, lines.len());
    assert!(got.quarantine.is_empty());
}

#[test]
fn every_kind_of_corruption_is_quarantined_and_counts_add_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, header, lines) = clean_csv(dir.path());
    // Columns: transaction_id, tx_datetime, customer_id, terminal_id, tx_amount,
    //          tx_time_seconds, tx_time_days, tx_fraud, tx_fraud_scenario
    let edit = |i: usize, col: usize, value: &str| -> String {
        let mut f: Vec<String> = lines[i].split(',').map(str::to_string).collect();
        f[col] = value.to_string();
        f.join(",")
    };
    let truncated = lines[5][..lines[5].len() / 2].to_string();
    let corrupted: Vec<(String, &str)> = vec![
        (truncated, "wrong_field_count"),
        (format!("{},extra", lines[6]), "wrong_field_count"),
        (edit(7, 4, "abc"), "unparseable_tx_amount"),
        (edit(8, 2, "1.5"), "unparseable_customer_id"),
        (edit(9, 1, "yesterday"), "unparseable_tx_datetime"),
        (edit(10, 4, "NaN"), "non_finite_amount"),
        (edit(11, 4, "inf"), "non_finite_amount"),
        (edit(12, 4, "-12.50"), "negative_amount"),
        (edit(13, 4, "1e300"), "absurd_amount"),
        (edit(14, 4, ""), "missing_value"),
        (edit(15, 2, "999999"), "unknown_customer"),
        (edit(16, 3, "-1"), "unknown_terminal"),
        (edit(17, 7, "2"), "invalid_label"),
        (edit(18, 1, "2031-01-01 00:00:00"), "timestamp_out_of_range"),
        (edit(19, 5, "1"), "inconsistent_time_fields"),
        (lines[20].clone(), "duplicate_transaction_id"),
    ];
    let path = dir.path().join("corrupted.csv");
    let mut f = std::fs::File::create(&path).expect("create");
    writeln!(f, "{header}").expect("write");
    for line in &lines {
        writeln!(f, "{line}").expect("write");
    }
    for (line, _) in &corrupted {
        writeln!(f, "{line}").expect("write");
    }
    f.write_all(b"\xff\xfe not utf-8\n\n").expect("write");
    drop(f);

    let got = ingest(&path, &config()).expect("a corrupted file is still ingested");
    let r = &got.report;
    let input = lines.len() + corrupted.len() + 1; // + the invalid UTF-8 line; blank lines are not rows
    assert_eq!(r.input_rows, input);
    assert_eq!(r.accepted_rows + r.quarantined_rows, r.input_rows);
    // The clean rows are all kept (the duplicate's first copy included) …
    assert_eq!(r.accepted_rows, lines.len());
    // … and each corrupted row is quarantined under its own reason, with its raw line.
    for (i, (line, reason)) in corrupted.iter().enumerate() {
        let source_row = (lines.len() + i + 1) as u64;
        let q = got
            .quarantine
            .rows
            .iter()
            .find(|q| q.source_row == source_row)
            .unwrap_or_else(|| panic!("row {source_row} ({reason}) was not quarantined"));
        assert_eq!(&q.reason, reason, "row {source_row}: {line}");
        assert_eq!(&q.record, line);
    }
    assert_eq!(r.quarantined_by_reason["invalid_utf8"], 1);
    assert_eq!(r.quarantined_by_reason["non_finite_amount"], 2);

    // The quarantine file has one line per quarantined row, plus its header.
    let qfile = dir.path().join("quarantine.csv");
    got.quarantine.write_csv(&qfile).expect("write quarantine");
    let written = std::fs::read_to_string(&qfile).expect("read quarantine");
    assert_eq!(written.lines().count(), r.quarantined_rows + 1);
}

/// The typed formats this build reads: Arrow streams always, Parquet with its feature.
fn typed_extensions() -> Vec<&'static str> {
    let mut extensions = vec!["arrows"];
    if cfg!(feature = "parquet") {
        extensions.push("parquet");
    }
    extensions
}

#[test]
fn typed_input_is_validated_by_the_same_rules() {
    for extension in typed_extensions() {
        typed_input_is_validated(extension);
    }
}

fn typed_input_is_validated(extension: &str) {
    use polars::prelude::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let (df, _) = simulate(&tiny_simulation()).expect("simulate");
    let n = df.height();
    // Break two amounts and duplicate the first row.
    let mut amounts: Vec<f64> = df
        .column("tx_amount")
        .expect("col")
        .f64()
        .expect("f64")
        .into_no_null_iter()
        .collect();
    amounts[3] = -5.0;
    amounts[4] = f64::NAN;
    let mut broken = df.clone();
    broken
        .with_column(Column::new("tx_amount".into(), amounts))
        .expect("replace");
    let mut broken = broken.vstack(&df.slice(0, 1)).expect("append duplicate");
    let path = dir.path().join(format!("broken.{extension}"));
    write_transactions(&mut broken, &path).expect("write");
    let got = ingest(&path, &config()).expect("ingest");
    assert_eq!(got.report.input_rows, n + 1);
    assert_eq!(got.report.accepted_rows, n - 2);
    assert_eq!(got.report.quarantined_by_reason["negative_amount"], 1);
    assert_eq!(got.report.quarantined_by_reason["non_finite_amount"], 1);
    assert_eq!(
        got.report.quarantined_by_reason["duplicate_transaction_id"],
        1
    );
}

/// The Fraud-Detection-Handbook publishes its transactions with upper-case column names,
/// nanosecond timestamps (pandas) and the pandas index as an extra column; they are read as
/// they are, in every format.
#[test]
fn the_handbooks_own_schema_is_accepted_as_published() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().expect("tempdir");
    let (df, _) = simulate(&tiny_simulation()).expect("simulate");
    let n = df.height();
    let mut columns: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if c.name() == "tx_datetime" {
                c = c
                    .cast(&DataType::Datetime(TimeUnit::Nanoseconds, None))
                    .expect("ns");
            }
            let upper = c.name().to_uppercase();
            c.rename(upper.into());
            c
        })
        .collect();
    columns.insert(
        0,
        Column::new(
            "__index_level_0__".into(),
            (0..n as i64).collect::<Vec<_>>(),
        ),
    );
    let mut handbook = DataFrame::new_infer_height(columns).expect("frame");
    for extension in typed_extensions() {
        let path = dir.path().join(format!("handbook.{extension}"));
        mlsd_core::frames::write(&mut handbook, &path).expect("write");
        let got = ingest(&path, &config()).expect("ingest");
        assert_eq!(got.report.accepted_rows, n, "{extension}");
        for column in df.columns() {
            let read = got.transactions.column(column.name()).expect("column");
            assert!(
                read.equals(column),
                "{extension}: {} differs",
                column.name()
            );
        }
    }
    // CSV with the handbook's header.
    let (_, header, lines) = clean_csv(dir.path());
    let path = dir.path().join("handbook.csv");
    let text = format!("{}\n{}\n", header.to_uppercase(), lines.join("\n"));
    std::fs::write(&path, text).expect("write");
    let got = ingest(&path, &config()).expect("ingest");
    assert_eq!(got.report.accepted_rows, lines.len());
}

#[test]
fn unreadable_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = ingest(&dir.path().join("nope.arrows"), &config())
        .err()
        .expect("error");
    assert!(missing.to_string().contains("no such file"), "{missing}");

    let (df, _) = simulate(&tiny_simulation()).expect("simulate");
    for (extension, name) in [("arrows", "Arrow IPC stream"), ("parquet", "Parquet")] {
        if !typed_extensions().contains(&extension) {
            continue;
        }
        let path = dir.path().join(format!("t.{extension}"));
        write_transactions(&mut df.clone(), &path).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
        let truncated = ingest(&path, &config()).err().expect("error");
        assert!(
            truncated
                .to_string()
                .contains(&format!("not a readable {name} file")),
            "{truncated}"
        );
    }
    let unknown = dir.path().join("t.xlsx");
    std::fs::write(&unknown, "x").expect("write");
    let err = ingest(&unknown, &config()).err().expect("error");
    assert!(err.to_string().contains("use .arrows"), "{err}");

    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "a,b,c\n1,2,3\n").expect("write");
    let wrong_header = ingest(&csv, &config()).err().expect("error");
    assert!(
        wrong_header.to_string().contains("header lacks column"),
        "{wrong_header}"
    );
}
