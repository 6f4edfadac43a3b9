//! Run folders and reports: every command writes what it did (JSON for machines, markdown
//! for people) into a run folder, atomically, with content hashes for reproducibility.
//!
//! Talking point: data versioning — a model's manifest records the sha256 of the exact
//! data it was trained on, so "which data made this model?" has an answer.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed and
/// synced, then renamed over the target. Readers see the old file or the new one, never half.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |out| {
        out.write_all(bytes).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// [`atomic_write`] for content produced by a writer: `write` fills a temporary file beside
/// `path`, which is synced and renamed over `path` only if `write` succeeds (the temporary
/// file is removed otherwise), then the folder is synced so that the rename survives a crash.
/// A process killed at any point leaves the old file or the new one at `path`, never a torn one.
pub fn atomic_write_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    let write_err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let file = std::fs::File::create(&tmp).map_err(write_err)?;
    let mut out = std::io::BufWriter::new(file);
    let written = write(&mut out).and_then(|()| {
        let file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
        file.sync_all().map_err(write_err)
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(write_err)?;
    // Best effort: not every file system can sync a directory.
    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    Ok(())
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    atomic_write(path, &bytes)
}

/// Hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex sha256 of a file's content.
pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(sha256_hex(&bytes))
}

/// A folder for one run's outputs, e.g. `runs/fraud-evaluate-20261127-101500`.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `<root>/<name>-<UTC timestamp>` (with a numeric suffix if it already exists).
    pub fn create(root: &Path, name: &str) -> Result<RunDir> {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        let base = root.join(format!("{name}-{stamp}"));
        let mut path = base.clone();
        let mut n = 1;
        while path.exists() {
            n += 1;
            path = PathBuf::from(format!("{}-{n}", base.display()));
        }
        std::fs::create_dir_all(&path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok(RunDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// Renders a markdown table; numbers are formatted by the caller.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", headers.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(headers.len())));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_is_the_published_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        atomic_write(&path, b"one").expect("write");
        atomic_write(&path, b"two").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1);
    }

    #[test]
    fn markdown_table_has_a_separator_row() {
        let t = markdown_table(&["a", "b"], &[vec!["1".into(), "2".into()]]);
        assert_eq!(t, "| a | b |\n|---|---|\n| 1 | 2 |\n");
    }
}
