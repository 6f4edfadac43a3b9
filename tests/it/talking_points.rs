//! The talking-point index (`docs/talking-points.md`): fresh, and nothing in it dangles — and the
//! check that says so fails on each kind of dangling link it promises to catch.

use std::path::{Path, PathBuf};

use mlsd::talking_points::{check, render, INDEX};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_committed_index_is_fresh_and_nothing_dangles() {
    let problems = check(root()).expect("the repository reads");
    assert!(problems.is_empty(), "the index dangles: {problems:#?}");
    let committed = std::fs::read_to_string(root().join(INDEX)).unwrap_or_default();
    let fresh = render(root()).expect("the repository reads");
    assert!(
        committed == fresh,
        "{INDEX} is stale: run `cargo run --release -- talking-points` and commit it"
    );
}

/// A copy of what the index reads: the code, the tests and the docs.
fn copy_of_the_repository() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for part in ["crates", "src", "tests", "docs", "README.md"] {
        copy(&root().join(part), &dir.path().join(part));
    }
    dir
}

fn copy(from: &Path, to: &PathBuf) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read_dir") {
            let entry = entry.expect("entry");
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).expect("copy");
    }
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replace(from, to)).expect("write");
}

#[test]
fn the_check_catches_a_renamed_test_a_lost_number_a_stray_marker_and_a_false_not_built() {
    let dir = copy_of_the_repository();
    let d = dir.path();
    assert!(check(d).expect("reads").is_empty(), "the copy starts sound");
    // A test renamed, a number the design doc no longer prints, a key nobody defined, a design
    // whose code makes a point its cell calls not built, and a marker lost.
    edit(
        d,
        "tests/it/fraud/data.rs",
        "fn terminal_risk_ignores_labels_younger_than_the_delay(",
        "fn renamed(",
    );
    edit(
        d,
        "docs/designs/fraud-detector.md",
        "0.28–1.54 ms",
        "0.3–1.5 ms",
    );
    edit(
        d,
        "crates/fraud-detector/src/ingest.rs",
        "Talking point [cleaning]:",
        "Talking point [clean]:",
    );
    edit(
        d,
        "crates/fraud-detector/src/online.rs",
        "// Talking point:",
        "// Talking point [caching]:",
    );
    let problems = check(d).expect("reads").join("\n");
    for expected in [
        "fraud × labels: no fn terminal_risk_ignores_labels_younger_than_the_delay",
        "fraud × constraints: neither docs/designs/fraud-detector.md",
        "no talking point is keyed \"clean\"",
        "fraud × cleaning: no `Talking point [cleaning]:` marker",
        "fraud × caching: marked not built, but crates/fraud-detector/src/online.rs",
    ] {
        assert!(
            problems.contains(expected),
            "missed {expected:?} in:\n{problems}"
        );
    }
    // And a stale file is told apart from a fresh one.
    assert_ne!(
        render(d).expect("reads"),
        std::fs::read_to_string(d.join(INDEX)).unwrap_or_default()
    );
}
