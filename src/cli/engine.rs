//! Where a batch job runs: in this process (default) or on Apache Spark through Spark Connect
//! (`--engine spark`, the `spark` cargo feature). The SQL is the design's `export` module's;
//! `crate::spark` sends it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// polars and Rust in this process.
    InProcess,
    /// The design's SQL on a Spark Connect server (`--spark-remote`); needs a build with
    /// `--features spark`.
    Spark,
}

/// The engine flags every batch job with a Spark path shares.
#[derive(Args, Clone)]
pub struct EngineArgs {
    #[arg(long, value_enum, default_value = "in-process")]
    pub engine: Engine,
    /// The Spark Connect server (`scripts/spark.sh start` prints the local one's).
    #[arg(
        long,
        env = "MLSD_SPARK_REMOTE",
        default_value = "sc://127.0.0.1:15002"
    )]
    pub spark_remote: String,
}

impl EngineArgs {
    /// Ok for the in-process engine; for Spark, why this binary cannot (a build without the
    /// `spark` feature reaches here with `--engine spark`).
    pub fn in_process_only(&self) -> Result<()> {
        if self.engine == Engine::Spark {
            bail!(
                "this mlsd was built without Spark: run scripts/spark.sh install, then \
                 cargo build --release --features spark (docs/benchmarks.md, \"Batch on Apache Spark\")"
            );
        }
        Ok(())
    }
}

/// A location Spark can read: a local path made absolute (the server does not share our
/// working directory), anything with a scheme (`s3://…`, `hdfs://…`) as given.
pub fn spark_location(path: &Path) -> Result<String> {
    let text = path.to_string_lossy();
    if text.contains("://") {
        return Ok(text.into_owned());
    }
    let absolute: PathBuf = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("while resolving a relative path for Spark")?
            .join(path)
    };
    Ok(absolute.to_string_lossy().into_owned())
}
