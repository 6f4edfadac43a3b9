//! The seam between the core and a design: what a design serves, and how it comes out of the
//! registry.
//!
//! A design implements [`Artifact`] for the thing its server holds (fraud: the model with its
//! feature spec and training profile; recommender: the two-stage model with its snapshot;
//! sentiment: vectoriser + NBSVM + calibration). The core then gives it, for free: loading a
//! verified version ([`load`]), a hot-swappable slot that watches the registry, `GET
//! /v1/models`, promote and rollback ([`crate::server::Models`]).
//!
//! Talking point: model versioning — the server never holds "a model", it holds a registry
//! version, and every answer can name it.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;

use crate::registry::{LoadedVersion, Manifest, Registry};
use crate::{Error, Result};

/// What a design's server holds, rebuilt from a registry version.
pub trait Artifact: Sized + Send + Sync + 'static {
    /// The design's registry folder and metric prefix (`fraud`, `recommender`, `sentiment`).
    const DESIGN: &'static str;

    /// Decodes a verified version (its checksummed files) into the served model.
    fn decode(version: &LoadedVersion) -> Result<Self>;

    /// Why `next` may not replace `self` in a running server (e.g. a different feature spec
    /// the online store was built for); `None`: it may.
    fn refuses(&self, next: &Self) -> Option<String> {
        let _ = next;
        None
    }
}

/// A decoded model and the registry version it came from.
pub struct Versioned<M> {
    pub version: String,
    /// The manifest's model kind, e.g. `random_forest`.
    pub model_name: String,
    pub manifest: Manifest,
    pub model: M,
}

/// Loads `version` (or the current one) of `M`'s design, verified and decoded.
pub fn load<M: Artifact>(registry: &Registry, version: Option<&str>) -> Result<Versioned<M>> {
    let loaded = match version {
        Some(v) => registry.load(M::DESIGN, v)?,
        None => registry.load_current(M::DESIGN)?,
    };
    let model = M::decode(&loaded)?;
    Ok(Versioned {
        version: loaded.manifest.version.clone(),
        model_name: loaded.manifest.model_name.clone(),
        manifest: loaded.manifest,
        model,
    })
}

/// A version of `M`'s design as a design registers it: the seam fills in the design and the
/// code version.
pub struct Registration {
    /// The model kind, e.g. `random_forest`, `two_stage`, `nbsvm_bigram`.
    pub model_name: String,
    /// sha256 of the training data: the data version.
    pub training_data_sha256: String,
    pub feature_names: Vec<String>,
    pub config: serde_json::Value,
    pub metrics: std::collections::BTreeMap<String, f64>,
    /// Artifact files (name, bytes), e.g. from [`json_bytes`].
    pub files: Vec<(String, Vec<u8>)>,
}

/// Writes a new, immutable version of `M`'s design (not promoted).
pub fn register<M: Artifact>(registry: &Registry, r: Registration) -> Result<Manifest> {
    registry.register(crate::registry::NewVersion {
        design: M::DESIGN.to_string(),
        model_name: r.model_name,
        code_version: code_version(),
        training_data_sha256: r.training_data_sha256,
        feature_names: r.feature_names,
        config: r.config,
        metrics: r.metrics,
        files: r.files,
    })
}

/// A file of a version, with the path that names it in errors (`design/version/name`).
fn version_file<'a>(
    version: &'a LoadedVersion,
    name: &str,
) -> Result<(&'a [u8], std::path::PathBuf)> {
    let path = std::path::PathBuf::from(format!(
        "{}/{}/{name}",
        version.manifest.design, version.manifest.version
    ));
    match version.file(name) {
        Some(bytes) => Ok((bytes, path)),
        None => Err(Error::Config(format!("{} is missing", path.display()))),
    }
}

/// One JSON file of a version, decoded (the usual body of [`Artifact::decode`]).
pub fn json_file<T: DeserializeOwned>(version: &LoadedVersion, name: &str) -> Result<T> {
    let (bytes, path) = version_file(version, name)?;
    serde_json::from_slice(bytes).map_err(|source| Error::Json { path, source })
}

/// Serialises a value for [`crate::registry::NewVersion::files`].
pub fn json_bytes<T: serde::Serialize>(name: &str, value: &T) -> Result<(String, Vec<u8>)> {
    serde_json::to_vec(value)
        .map(|bytes| (name.to_string(), bytes))
        .map_err(|e| Error::Config(format!("cannot serialise {name}: {e}")))
}

/// Like [`json_bytes`], deflated (zlib): for large models (a dense item-item matrix is
/// tens of MB of JSON and a few of deflate).
pub fn deflated_json_bytes<T: serde::Serialize>(
    name: &str,
    value: &T,
) -> Result<(String, Vec<u8>)> {
    let (name, json) = json_bytes(name, value)?;
    Ok((name, miniz_oxide::deflate::compress_to_vec_zlib(&json, 1)))
}

/// A file written by [`deflated_json_bytes`], inflated and decoded.
pub fn deflated_json_file<T: DeserializeOwned>(version: &LoadedVersion, name: &str) -> Result<T> {
    let (bytes, path) = version_file(version, name)?;
    let json = miniz_oxide::inflate::decompress_to_vec_zlib(bytes)
        .map_err(|e| Error::Config(format!("{} does not inflate: {e:?}", path.display())))?;
    serde_json::from_slice(&json).map_err(|source| Error::Json { path, source })
}

static CODE_VERSION: OnceLock<String> = OnceLock::new();

/// Records what built this process (the `mlsd` binary sets the crate version and the git
/// commit it was built from, once, at start).
pub fn set_code_version(version: String) {
    let _ = CODE_VERSION.set(version);
}

/// The code version a registered model records: what [`set_code_version`] set, or the crate
/// version when nothing did (library users, unit tests).
pub fn code_version() -> String {
    CODE_VERSION
        .get()
        .cloned()
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
}
