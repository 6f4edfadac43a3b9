use std::path::PathBuf;

/// Everything that can fail in the fraud pipeline, named after what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("input {path} is not usable: {why}")]
    Input { path: PathBuf, why: String },
    #[error("polars failed while {context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },
    #[error("training {model} failed: {why}")]
    Train { model: String, why: String },
    #[error(
        "the {split} split is empty or has a single class ({why}); simulate more days or customers"
    )]
    Split { split: &'static str, why: String },
    #[error("model artifact: {0}")]
    Artifact(String),
    #[error(transparent)]
    Core(#[from] mlsd_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a polars error with what we were doing when it happened.
    pub fn polars(context: impl Into<String>) -> impl FnOnce(polars::error::PolarsError) -> Error {
        let context = context.into();
        move |source| Error::Polars { context, source }
    }
}
