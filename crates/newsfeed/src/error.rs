use std::path::PathBuf;

/// Everything that can fail in the news-feed design, named after what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not usable: {why}")]
    Input { path: PathBuf, why: String },
    #[error("training failed: {0}")]
    Train(String),
    #[error(transparent)]
    Core(#[from] mlsd_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
