//! The batch paths on Apache Spark, through Spark Connect (the `spark` cargo feature).
//!
//! A design exports its batch job as SQL ([`mlsd_core::sql::Script`]); this module sends the
//! statements to a Spark Connect server (`sc://host:port`: a cluster's, or the local one
//! `scripts/spark.sh start` runs), in order, and reads small results back as Arrow batches.
//! The data never passes through this process: Spark reads the input location and writes
//! Parquet itself, so the same command scales from a laptop to a cluster.
//!
//! Talking point: distributed processing — the client is thin; the work is SQL windows and
//! CASEs that Spark partitions by key across its executors.

use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use arrow::array::{
    Array, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, StringArray,
};
use arrow::record_batch::RecordBatch;
use mlsd_core::sql::Script;
use spark_connect::SparkSession;

/// A session on a Spark Connect server, with the seconds it took to open.
pub struct Spark {
    session: SparkSession,
    /// Connecting and running a first trivial query (the session start-up a job pays once).
    pub start_seconds: f64,
    pub version: String,
}

impl Spark {
    /// Opens a session on `remote` (`sc://host:port`) and checks it answers.
    pub fn connect(remote: &str) -> Result<Spark> {
        if !remote.starts_with("sc://") {
            bail!("a Spark Connect address looks like sc://host:port, not {remote:?}");
        }
        let t = Instant::now();
        let session = SparkSession::builder()
            .remote(remote)
            .get_or_create()
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("while connecting to Spark Connect at {remote}"))?;
        let spark = Spark {
            session,
            start_seconds: 0.0,
            version: String::new(),
        };
        spark
            .query("SELECT 1")
            .with_context(|| format!("Spark Connect at {remote} did not answer a query"))?;
        let version = spark.session.version().map_err(|e| anyhow!("{e}"))?;
        Ok(Spark {
            start_seconds: t.elapsed().as_secs_f64(),
            version,
            ..spark
        })
    }

    /// Runs one statement and returns what it produced (empty for DDL and writes).
    pub fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let refused = || format!("Spark refused: {}", abbreviate(sql));
        let frame = self
            .session
            .sql(sql)
            .map_err(|e| anyhow!("{e}"))
            .with_context(refused)?;
        frame
            .collect_record_batches()
            .map_err(|e| anyhow!("{e}"))
            .with_context(refused)
    }

    /// Runs every statement of `script`, in order.
    pub fn run(&self, script: &Script) -> Result<()> {
        for statement in script.statements() {
            self.query(statement)?;
        }
        Ok(())
    }
}

/// The first line-ish of a statement, for error messages (a model's SQL can be megabytes).
fn abbreviate(sql: &str) -> String {
    let mut s: String = sql.chars().take(160).collect();
    if s.len() < sql.len() {
        s.push_str(" …");
    }
    s
}

/// The rows of a result as strings and numbers, for tests and summaries.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Null,
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// Columns by name → values, row-major, from Arrow batches (BIGINT, INT, DOUBLE, FLOAT,
/// STRING, BOOLEAN; anything else is an error).
pub fn rows(batches: &[RecordBatch]) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let Some(first) = batches.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let names: Vec<String> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut out = Vec::new();
    for batch in batches {
        let columns = batch.columns();
        for i in 0..batch.num_rows() {
            let row = columns
                .iter()
                .map(|c| value(c.as_ref(), i))
                .collect::<Result<Vec<_>>>()?;
            out.push(row);
        }
    }
    Ok((names, out))
}

fn value(column: &dyn Array, i: usize) -> Result<Value> {
    if column.is_null(i) {
        return Ok(Value::Null);
    }
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        return Ok(Value::Int(a.value(i)));
    }
    if let Some(a) = any.downcast_ref::<Int32Array>() {
        return Ok(Value::Int(i64::from(a.value(i))));
    }
    if let Some(a) = any.downcast_ref::<Float64Array>() {
        return Ok(Value::Float(a.value(i)));
    }
    if let Some(a) = any.downcast_ref::<Float32Array>() {
        return Ok(Value::Float(f64::from(a.value(i))));
    }
    if let Some(a) = any.downcast_ref::<BooleanArray>() {
        return Ok(Value::Bool(a.value(i)));
    }
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return Ok(Value::Text(a.value(i).to_string()));
    }
    bail!(
        "a result column of type {} (expected a number or a string)",
        column.data_type()
    )
}
