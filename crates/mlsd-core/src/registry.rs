//! A file-system model registry: versioned artifacts with checksums, a `current` pointer,
//! promote and rollback.
//!
//! ```text
//! <root>/<design>/v0001/manifest.json   metadata + sha256 of every other file
//! <root>/<design>/v0001/model.json      the artifact (model + fitted preprocessing + spec)
//! <root>/<design>/v0001/profile.json    the reference profile for drift checks
//! <root>/<design>/pointer.json          {"current": "v0002", "history": ["v0001"]}
//! ```
//!
//! Talking points: model versioning (a version is immutable and self-describing: training
//! data hash, config, metrics, code version); rollback is a pointer move, not a retrain;
//! a half-written or tampered version is refused, never served.
//!
//! In production: an object store (S3/GCS) plus a metadata DB (MLflow, SageMaker Model
//! Registry); the same ideas — immutable versions, checksums, an alias that moves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::{atomic_write, sha256_hex, write_json};
use crate::{Error, Result};

const MANIFEST: &str = "manifest.json";
const POINTER: &str = "pointer.json";

/// What describes a version; written last, and covering every other file by checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub design: String,
    pub version: String,
    pub model_name: String,
    pub created_at: String,
    /// Version of the code that trained it (the crate version).
    pub code_version: String,
    /// sha256 of the training data file: the data version.
    pub training_data_sha256: String,
    pub feature_names: Vec<String>,
    pub config: serde_json::Value,
    pub metrics: BTreeMap<String, f64>,
    /// File name → sha256 of its bytes.
    pub files: BTreeMap<String, String>,
}

/// The inputs of [`Registry::register`].
pub struct NewVersion {
    pub design: String,
    pub model_name: String,
    pub code_version: String,
    pub training_data_sha256: String,
    pub feature_names: Vec<String>,
    pub config: serde_json::Value,
    pub metrics: BTreeMap<String, f64>,
    /// Artifact files (name, bytes), e.g. `model.json` and `profile.json`.
    pub files: Vec<(String, Vec<u8>)>,
}

/// A version read back with every checksum verified.
#[derive(Debug, Clone)]
pub struct LoadedVersion {
    pub manifest: Manifest,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl LoadedVersion {
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }
}

/// Which version serves, and the promotions before it (most recent last).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub current: Option<String>,
    pub history: Vec<String>,
}

/// One row of [`Registry::list`].
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    pub version: String,
    pub is_current: bool,
    /// The manifest, when the version verifies.
    pub manifest: Option<Manifest>,
    /// Why it does not verify, otherwise.
    pub problem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// `v` and four or more digits: the only names [`Registry::register`] writes.
pub fn is_version_name(name: &str) -> bool {
    name.len() >= 5 && name.starts_with('v') && name[1..].bytes().all(|b| b.is_ascii_digit())
}

fn version_number(name: &str) -> Option<u32> {
    name.strip_prefix('v').and_then(|n| n.parse().ok())
}

impl Registry {
    pub fn open(root: impl Into<PathBuf>) -> Registry {
        Registry { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn design_dir(&self, design: &str) -> PathBuf {
        self.root.join(design)
    }

    /// Version folder names of a design, oldest first (verified or not).
    pub fn versions(&self, design: &str) -> Result<Vec<String>> {
        let dir = self.design_dir(design);
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Read {
            path: dir.clone(),
            source,
        })?;
        let mut versions: Vec<(u32, String)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                version_number(&name).map(|n| (n, name))
            })
            .collect();
        versions.sort();
        Ok(versions.into_iter().map(|(_, n)| n).collect())
    }

    /// Writes a new immutable version: files into a staging folder, manifest last, then one
    /// rename makes it visible. Returns its manifest.
    /// Talking point [versioning]: a version is immutable and names its data (the training
    /// file's sha256), its config and its metrics; every file is checked against it on load.
    pub fn register(&self, new: NewVersion) -> Result<Manifest> {
        // A metric that is not a number would be written as JSON `null` and the manifest
        // would never load again: refuse it here, with its name.
        if let Some((name, value)) = new.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::Config(format!(
                "metric {name} is {value}; a version records finite metrics only (check the training data: one class only, or too few rows?)"
            )));
        }
        let design_dir = self.design_dir(&new.design);
        let next = self
            .versions(&new.design)?
            .iter()
            .filter_map(|v| version_number(v))
            .max()
            .unwrap_or(0)
            + 1;
        let version = format!("v{next:04}");
        let staging = design_dir.join(format!(".staging-{version}-{}", std::process::id()));
        let mut files = BTreeMap::new();
        for (name, bytes) in &new.files {
            atomic_write(&staging.join(name), bytes)?;
            files.insert(name.clone(), sha256_hex(bytes));
        }
        let manifest = Manifest {
            design: new.design.clone(),
            version: version.clone(),
            model_name: new.model_name,
            created_at: chrono::Utc::now().to_rfc3339(),
            code_version: new.code_version,
            training_data_sha256: new.training_data_sha256,
            feature_names: new.feature_names,
            config: new.config,
            metrics: new.metrics,
            files,
        };
        write_json(&staging.join(MANIFEST), &manifest)?;
        let target = design_dir.join(&version);
        std::fs::rename(&staging, &target).map_err(|source| Error::Write {
            path: target,
            source,
        })?;
        Ok(manifest)
    }

    /// Reads a version and verifies every file against the manifest's checksums.
    pub fn load(&self, design: &str, version: &str) -> Result<LoadedVersion> {
        let dir = self.design_dir(design).join(version);
        // Talking point: parse at the edge — only names the registry writes (`v0001`)
        // reach the file system; `../other/v0001` is not a version, whatever exists there.
        if !is_version_name(version) || !dir.is_dir() {
            return Err(Error::VersionNotFound {
                design: design.into(),
                version: version.into(),
                root: self.root.clone(),
            });
        }
        let manifest_path = dir.join(MANIFEST);
        if !manifest_path.exists() {
            return Err(Error::IncompleteVersion {
                design: design.into(),
                version: version.into(),
                path: dir,
            });
        }
        let manifest: Manifest =
            serde_json::from_slice(&read_file(&manifest_path)?).map_err(|source| Error::Json {
                path: manifest_path.clone(),
                source,
            })?;
        let mut files = BTreeMap::new();
        for (name, expected) in &manifest.files {
            let path = dir.join(name);
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(_) => {
                    return Err(Error::CorruptedVersion {
                        design: design.into(),
                        version: version.into(),
                        file: name.clone(),
                        expected: expected.clone(),
                        actual: "<missing>".into(),
                    })
                }
            };
            let actual = sha256_hex(&bytes);
            if &actual != expected {
                return Err(Error::CorruptedVersion {
                    design: design.into(),
                    version: version.into(),
                    file: name.clone(),
                    expected: expected.clone(),
                    actual,
                });
            }
            files.insert(name.clone(), bytes);
        }
        Ok(LoadedVersion { manifest, files })
    }

    pub fn pointer(&self, design: &str) -> Result<Pointer> {
        let path = self.design_dir(design).join(POINTER);
        if !path.exists() {
            return Ok(Pointer::default());
        }
        serde_json::from_slice(&read_file(&path)?).map_err(|source| Error::Json { path, source })
    }

    /// Writes a pointer from [`Registry::rollback_plan`], after checking its `current` still
    /// verifies.
    pub fn commit_rollback(&self, design: &str, pointer: &Pointer) -> Result<()> {
        if let Some(version) = &pointer.current {
            self.load(design, version)?;
        }
        self.write_pointer(design, pointer)
    }

    fn write_pointer(&self, design: &str, pointer: &Pointer) -> Result<()> {
        write_json(&self.design_dir(design).join(POINTER), pointer)
    }

    /// Loads the version the `current` pointer names.
    pub fn load_current(&self, design: &str) -> Result<LoadedVersion> {
        match self.pointer(design)?.current {
            Some(v) => self.load(design, &v),
            None => Err(Error::NoCurrentVersion {
                design: design.into(),
            }),
        }
    }

    /// Makes `version` current after verifying it; the previous current goes on the history.
    pub fn promote(&self, design: &str, version: &str) -> Result<Pointer> {
        self.load(design, version)?;
        let mut pointer = self.pointer(design)?;
        if pointer.current.as_deref() == Some(version) {
            return Ok(pointer);
        }
        if let Some(previous) = pointer.current.take() {
            pointer.history.push(previous);
        }
        pointer.current = Some(version.to_string());
        self.write_pointer(design, &pointer)?;
        Ok(pointer)
    }

    /// Moves `current` back to the previously promoted version that still verifies.
    pub fn rollback(&self, design: &str) -> Result<Pointer> {
        let pointer = self.rollback_plan(design)?;
        self.write_pointer(design, &pointer)?;
        Ok(pointer)
    }

    /// The pointer [`Registry::rollback`] would write, without writing it: a server checks the
    /// version can serve first, so a refused rollback leaves the pointer where it was.
    pub fn rollback_plan(&self, design: &str) -> Result<Pointer> {
        let mut pointer = self.pointer(design)?;
        let current = pointer
            .current
            .clone()
            .ok_or_else(|| Error::NoCurrentVersion {
                design: design.into(),
            })?;
        while let Some(previous) = pointer.history.pop() {
            // Talking point [rollback]: never roll back onto a broken artifact.
            if self.load(design, &previous).is_ok() {
                pointer.current = Some(previous);
                return Ok(pointer);
            }
        }
        Err(Error::NothingToRollBack {
            design: design.into(),
            current,
        })
    }

    /// Every version with its verification status.
    pub fn list(&self, design: &str) -> Result<Vec<VersionStatus>> {
        let current = self.pointer(design)?.current;
        Ok(self
            .versions(design)?
            .into_iter()
            .map(|version| {
                let (manifest, problem) = match self.load(design, &version) {
                    Ok(v) => (Some(v.manifest), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                VersionStatus {
                    is_current: current.as_deref() == Some(version.as_str()),
                    version,
                    manifest,
                    problem,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_version(tag: &str) -> NewVersion {
        NewVersion {
            design: "fraud".into(),
            model_name: tag.into(),
            code_version: "0.0.0".into(),
            training_data_sha256: "abc".into(),
            feature_names: vec!["x".into()],
            config: serde_json::json!({"seed": 1}),
            metrics: BTreeMap::from([("ap".to_string(), 0.5)]),
            files: vec![(
                "model.json".into(),
                format!("{{\"m\":\"{tag}\"}}").into_bytes(),
            )],
        }
    }

    #[test]
    fn versions_are_numbered_promoted_and_rolled_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path());
        let v1 = reg.register(new_version("a")).expect("register");
        let v2 = reg.register(new_version("b")).expect("register");
        assert_eq!(
            (v1.version.as_str(), v2.version.as_str()),
            ("v0001", "v0002")
        );
        assert!(matches!(
            reg.load_current("fraud"),
            Err(Error::NoCurrentVersion { .. })
        ));
        reg.promote("fraud", "v0001").expect("promote");
        reg.promote("fraud", "v0002").expect("promote");
        assert_eq!(
            reg.load_current("fraud").expect("load").manifest.model_name,
            "b"
        );
        let p = reg.rollback("fraud").expect("rollback");
        assert_eq!(p.current.as_deref(), Some("v0001"));
        assert!(matches!(
            reg.rollback("fraud"),
            Err(Error::NothingToRollBack { .. })
        ));
        let listed = reg.list("fraud").expect("list");
        assert_eq!(listed.len(), 2);
        assert!(listed[0].is_current && !listed[1].is_current);
    }

    #[test]
    fn a_tampered_file_is_detected_and_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path());
        reg.register(new_version("a")).expect("register");
        let model = dir.path().join("fraud/v0001/model.json");
        std::fs::write(&model, b"{\"m\":\"evil\"}").expect("tamper");
        let err = reg.load("fraud", "v0001").expect_err("must refuse");
        assert!(matches!(err, Error::CorruptedVersion { .. }), "{err}");
        assert!(err.to_string().contains("model.json"));
        assert!(reg.promote("fraud", "v0001").is_err());
    }

    #[test]
    fn a_version_without_manifest_is_incomplete() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("fraud/v0001")).expect("mkdir");
        let reg = Registry::open(dir.path());
        let err = reg.load("fraud", "v0001").expect_err("must refuse");
        assert!(matches!(err, Error::IncompleteVersion { .. }));
        // A new registration skips over the broken number instead of overwriting it.
        assert_eq!(
            reg.register(new_version("a")).expect("register").version,
            "v0002"
        );
    }

    #[test]
    fn a_non_finite_metric_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path());
        let mut bad = new_version("a");
        bad.metrics.insert("holdout_ece".into(), f64::NAN);
        let err = reg.register(bad).expect_err("NaN would be written as null");
        assert!(err.to_string().contains("holdout_ece"), "{err}");
        assert!(reg.versions("fraud").expect("versions").is_empty());
    }

    #[test]
    fn names_that_are_not_versions_never_reach_the_file_system() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("other/v0001")).expect("mkdir");
        let reg = Registry::open(dir.path().join("designs"));
        for name in ["../other/v0001", "v1", "current", ""] {
            assert!(
                matches!(reg.load("x", name), Err(Error::VersionNotFound { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn rollback_skips_versions_that_no_longer_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::open(dir.path());
        for tag in ["a", "b", "c"] {
            let v = reg.register(new_version(tag)).expect("register");
            reg.promote("fraud", &v.version).expect("promote");
        }
        std::fs::write(dir.path().join("fraud/v0002/model.json"), b"x").expect("tamper");
        assert_eq!(
            reg.rollback("fraud").expect("rollback").current.as_deref(),
            Some("v0001")
        );
    }
}
