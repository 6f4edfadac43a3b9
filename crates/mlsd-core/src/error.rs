use std::path::PathBuf;

/// Everything that can go wrong in the shared core, named after what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("polars failed while {context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("{path}: {why}")]
    Format { path: PathBuf, why: String },
    #[error("invalid JSON in {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("metric {metric} is undefined: {why}")]
    Metric { metric: &'static str, why: String },
    #[error("validation bookkeeping is broken: {input} input rows but {accepted} accepted + {quarantined} quarantined")]
    Unbalanced {
        input: usize,
        accepted: usize,
        quarantined: usize,
    },
    #[error("model {design}/{version} not found in the registry at {root}")]
    VersionNotFound {
        design: String,
        version: String,
        root: PathBuf,
    },
    #[error("model {design}/{version} is incomplete (no manifest): it was never finished; delete {path}")]
    IncompleteVersion {
        design: String,
        version: String,
        path: PathBuf,
    },
    #[error("model {design}/{version} is corrupted: {file} has sha256 {actual}, the manifest says {expected}; refusing to load it")]
    CorruptedVersion {
        design: String,
        version: String,
        file: String,
        expected: String,
        actual: String,
    },
    #[error("no model of design {design} has been promoted yet (run `mlsd {design} train` or `mlsd models promote`)")]
    NoCurrentVersion { design: String },
    #[error("network error while {context}: {source}")]
    Network {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("nothing to roll back to for {design}: {current} is the first promoted version")]
    NothingToRollBack { design: String, current: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A network failure with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Network {
            context: context.into(),
            source,
        }
    }

    /// Wraps a polars error with what we were doing when it happened.
    pub fn polars(context: impl Into<String>) -> impl FnOnce(polars::error::PolarsError) -> Error {
        let context = context.into();
        move |source| Error::Polars { context, source }
    }
}
