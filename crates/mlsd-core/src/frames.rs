//! Data frames on disk: the file formats every design reads and writes, chosen by extension.
//!
//! | extension | format | in the default build |
//! |---|---|---|
//! | `.arrows` | Arrow IPC stream, zstd-compressed (polars) | yes — the default for files we write |
//! | `.csv` | CSV with a header; datetimes as `YYYY-MM-DD HH:MM:SS[.fff]` | yes (written here; each design parses its own CSV so that a bad line is quarantined, not fatal) |
//! | `.parquet` | Parquet (polars) | with `--features parquet` |
//!
//! Talking point (build time is a feature): polars' `parquet`, `csv`, `ipc` and `json` features
//! each switch on its streaming engine and cloud I/O (reqwest, rustls, object_store): 95 more
//! crates and ~3 more minutes in our cold build (docs/benchmarks.md). The Arrow IPC *stream*
//! format does not, so it is the default; Parquet stays one cargo feature away.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{Error, Result};

/// A file format we read or write, named by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Arrow IPC stream (`.arrows`).
    ArrowStream,
    /// Comma-separated values with a header (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`), with the `parquet` cargo feature.
    Parquet,
}

impl Format {
    /// The format a path's extension names; anything else is a clear error.
    pub fn from_path(path: &Path) -> Result<Format> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext.to_ascii_lowercase().as_str() {
            "arrows" => Ok(Format::ArrowStream),
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(unsupported(
                path,
                "unknown file extension: use .arrows (Arrow IPC stream), .csv or .parquet",
            )),
        }
    }
}

fn unsupported(path: &Path, why: &str) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

#[cfg(not(feature = "parquet"))]
const NO_PARQUET: &str = "Parquet support is not in this build: rebuild with `--features parquet` \
                          (it adds polars' streaming engine to the build), or use .arrows or .csv";

/// The format of `path` if this build can write it: check before the work, not after.
pub fn writable(path: &Path) -> Result<Format> {
    let format = Format::from_path(path)?;
    #[cfg(not(feature = "parquet"))]
    if format == Format::Parquet {
        return Err(unsupported(path, NO_PARQUET));
    }
    Ok(format)
}

/// Writes `df` to `path` in the format its extension names, creating parent folders;
/// atomically (a temporary file renamed over `path` once complete).
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let format = writable(path)?;
    // Talking point [testing]: a killed writer never leaves a torn file at the final path.
    crate::report::atomic_write_with(path, |out| match format {
        Format::ArrowStream => IpcStreamWriter::new(out)
            .with_compression(Some(IpcCompression::ZSTD(Default::default())))
            .finish(df)
            .map_err(Error::polars(format!("writing {}", path.display()))),
        Format::Csv => write_csv(df, out, path),
        #[cfg(feature = "parquet")]
        Format::Parquet => ParquetWriter::new(out)
            .finish(df)
            .map(|_| ())
            .map_err(Error::polars(format!("writing {}", path.display()))),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(unsupported(path, NO_PARQUET)),
    })
}

/// Reads a whole frame from an Arrow stream or Parquet file. CSV is not read here: a design
/// parses its own CSV so that a malformed line is quarantined instead of failing the file.
pub fn read(path: &Path) -> Result<DataFrame> {
    let format = Format::from_path(path)?;
    let open = || {
        std::fs::File::open(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let unreadable = |name: &str| {
        let path = path.to_path_buf();
        let name = name.to_string();
        move |e: PolarsError| Error::Format {
            path,
            why: format!("not a readable {name} file ({e})"),
        }
    };
    match format {
        Format::ArrowStream => IpcStreamReader::new(std::io::BufReader::new(open()?))
            .finish()
            .map_err(unreadable("Arrow IPC stream")),
        #[cfg(feature = "parquet")]
        Format::Parquet => ParquetReader::new(open()?)
            .finish()
            .map_err(unreadable("Parquet")),
        #[cfg(not(feature = "parquet"))]
        Format::Parquet => Err(unsupported(path, NO_PARQUET)),
        Format::Csv => Err(unsupported(
            path,
            "CSV is parsed by each design's own ingestion (it quarantines bad lines)",
        )),
    }
}

/// One column, typed for writing as text.
enum Cells {
    Int(Int64Chunked),
    Float(Float64Chunked),
    Bool(BooleanChunked),
    Text(StringChunked),
    /// Milliseconds since the Unix epoch.
    Datetime(Int64Chunked),
}

impl Cells {
    fn new(column: &Column, path: &Path) -> Result<Cells> {
        let series = column.as_materialized_series();
        let cast = |dtype: DataType| {
            series
                .cast(&dtype)
                .map_err(Error::polars(format!("preparing column {}", column.name())))
        };
        Ok(match series.dtype() {
            dt if dt.is_integer() => Cells::Int(
                cast(DataType::Int64)?
                    .i64()
                    .cloned()
                    .map_err(Error::polars("reading an integer column"))?,
            ),
            dt if dt.is_float() => Cells::Float(
                cast(DataType::Float64)?
                    .f64()
                    .cloned()
                    .map_err(Error::polars("reading a float column"))?,
            ),
            DataType::Boolean => Cells::Bool(
                series
                    .bool()
                    .cloned()
                    .map_err(Error::polars("reading a boolean column"))?,
            ),
            DataType::String => Cells::Text(
                series
                    .str()
                    .cloned()
                    .map_err(Error::polars("reading a text column"))?,
            ),
            DataType::Datetime(_, _) => Cells::Datetime(
                cast(DataType::Datetime(TimeUnit::Milliseconds, None))?
                    .cast(&DataType::Int64)
                    .map_err(Error::polars("reading a datetime column"))?
                    .i64()
                    .cloned()
                    .map_err(Error::polars("reading a datetime column"))?,
            ),
            other => {
                return Err(unsupported(
                    path,
                    &format!(
                        "column {:?} has type {other}, which the CSV writer does not write",
                        column.name().as_str()
                    ),
                ))
            }
        })
    }

    /// Writes row `i`; a null is an empty field.
    fn write(&self, i: usize, out: &mut impl Write) -> std::io::Result<()> {
        match self {
            Cells::Int(c) => c.get(i).map_or(Ok(()), |v| write!(out, "{v}")),
            Cells::Float(c) => c.get(i).map_or(Ok(()), |v| write!(out, "{v}")),
            Cells::Bool(c) => c.get(i).map_or(Ok(()), |v| write!(out, "{v}")),
            Cells::Text(c) => c.get(i).map_or(Ok(()), |v| write_quoted(v, out)),
            Cells::Datetime(c) => {
                match c.get(i).and_then(chrono::DateTime::from_timestamp_millis) {
                    Some(t) => write!(out, "{}", t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f")),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Quotes a field when it holds a separator, a quote or a line break (RFC 4180).
fn write_quoted(v: &str, out: &mut impl Write) -> std::io::Result<()> {
    if v.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", v.replace('"', "\"\""))
    } else {
        out.write_all(v.as_bytes())
    }
}

fn write_csv(df: &DataFrame, out: &mut impl Write, path: &Path) -> Result<()> {
    let io = |source| Error::Write {
        path: PathBuf::from(path),
        source,
    };
    let columns = df
        .columns()
        .iter()
        .map(|c| Cells::new(c, path))
        .collect::<Result<Vec<_>>>()?;
    let header: Vec<&str> = df.columns().iter().map(|c| c.name().as_str()).collect();
    writeln!(out, "{}", header.join(",")).map_err(io)?;
    for i in 0..df.height() {
        for (j, cells) in columns.iter().enumerate() {
            if j > 0 {
                out.write_all(b",").map_err(io)?;
            }
            cells.write(i, out).map_err(io)?;
        }
        out.write_all(b"\n").map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        let when = Series::new(
            "when".into(),
            [Some(1_533_081_600_000i64), None, Some(1_500)],
        )
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .expect("datetime");
        DataFrame::new_infer_height(vec![
            Column::new("id".into(), [1i64, 2, 3]),
            Column::new("amount".into(), [Some(1.5f64), None, Some(-0.25)]),
            Column::new("note".into(), ["plain", "a, \"quoted\" one", ""]),
            Column::new("flag".into(), [true, false, true]),
            when.into_column(),
        ])
        .expect("frame")
    }

    #[test]
    fn an_arrow_stream_round_trips_every_column_and_null() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("deep/x.arrows");
        let mut df = frame();
        write(&mut df, &path).expect("write");
        assert!(read(&path).expect("read").equals_missing(&df));
    }

    #[test]
    fn csv_quotes_what_needs_it_and_leaves_nulls_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        write(&mut frame(), &path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "id,amount,note,flag,when\n\
             1,1.5,plain,true,2018-08-01 00:00:00\n\
             2,,\"a, \"\"quoted\"\" one\",false,\n\
             3,-0.25,,true,1970-01-01 00:00:01.500\n"
        );
    }

    #[test]
    fn unknown_extensions_and_garbage_files_are_clear_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = write(&mut frame(), &dir.path().join("x.xlsx")).expect_err("unknown");
        assert!(err.to_string().contains("use .arrows"), "{err}");
        let garbage = dir.path().join("g.arrows");
        std::fs::write(&garbage, b"not arrow").expect("write");
        let err = read(&garbage).expect_err("garbage");
        assert!(
            err.to_string().contains("not a readable Arrow IPC stream"),
            "{err}"
        );
    }

    #[test]
    fn a_failed_write_leaves_the_previous_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.csv");
        write(&mut frame(), &path).expect("first write");
        let before = std::fs::read(&path).expect("read");
        let mut unwritable = frame();
        unwritable
            .with_column(Series::full_null("nothing".into(), 3, &DataType::Null).into_column())
            .expect("add a column of nulls");
        let err = write(&mut unwritable, &path).expect_err("a Null column is not written");
        assert!(err.to_string().contains("does not write"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), before);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["x.csv"], "no temporary file left behind");
    }

    #[cfg(not(feature = "parquet"))]
    #[test]
    fn parquet_without_the_feature_says_how_to_get_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = write(&mut frame(), &dir.path().join("x.parquet")).expect_err("no parquet");
        assert!(err.to_string().contains("--features parquet"), "{err}");
    }
}
