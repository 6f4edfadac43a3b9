//! Crash safety: writers killed with SIGKILL at many points — training (which registers a
//! version and moves the pointer), promote, rollback, ingestion — never leave a registry that
//! cannot be listed, a current version that does not load, or a torn file at a final path.
//! The kill times are fixed (a seeded sequence); where in its work each process is when it
//! dies varies from run to run, and the checks hold whatever it was.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mlsd_core::registry::Registry;

use crate::common::mlsd;

const SMALL: [&str; 6] = ["--customers", "600", "--terminals", "1200", "--days", "140"];

fn with_small<'a>(command: &[&'a str]) -> Vec<&'a str> {
    command.iter().chain(SMALL.iter()).copied().collect()
}

/// Starts `mlsd args` and kills it (SIGKILL) after `after`, unless it finished first.
fn kill_after(args: &[&str], runs: &Path, after: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsd"))
        .args(args)
        .env("MLSD_RUNS_DIR", runs)
        .env_remove("MLSD_REGISTRY")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mlsd starts");
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

/// Kill delays from 0 to `max_ms`, spread by a fixed linear-congruential sequence.
fn delays(n: usize, max_ms: u64) -> Vec<Duration> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            Duration::from_millis((x >> 33) % (max_ms + 1))
        })
        .collect()
}

/// `models list` answers, every version either verifies or says why not, and the current
/// one (if any) loads and verifies.
fn registry_is_sound(runs: &Path, registry: &Registry, context: &str) {
    let (ok, listed, stderr) = mlsd(&["models", "list"], runs);
    assert!(ok, "{context}: models list failed: {stderr}");
    let versions = registry.list(fraud_detector::DESIGN).expect("list");
    for v in &versions {
        assert!(
            v.manifest.is_some() || v.problem.is_some(),
            "{context}: {} neither loads nor says why: {listed}",
            v.version
        );
    }
    if let Ok(pointer) = registry.pointer(fraud_detector::DESIGN) {
        if pointer.current.is_some() {
            fraud_detector::artifact::load(registry, None)
                .unwrap_or_else(|e| panic!("{context}: the current version does not load: {e}"));
        }
    }
}

#[test]
fn killed_training_promotes_and_rollbacks_never_break_the_registry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path();
    let data = runs.join("tx.arrows").to_string_lossy().to_string();
    let (ok, _, stderr) = mlsd(&with_small(&["fraud", "generate", "--out", &data]), runs);
    assert!(ok, "{stderr}");
    let registry = Registry::open(runs.join("registry"));
    let train = with_small(&[
        "fraud",
        "train",
        "--input",
        &data,
        "--model",
        "undersampled_tree_depth2",
    ]);
    // Two finished versions first, so that promote and rollback have something to move.
    for _ in 0..2 {
        let (ok, _, stderr) = mlsd(&train, runs);
        assert!(ok, "{stderr}");
    }
    for (i, after) in delays(10, 1_500).into_iter().enumerate() {
        kill_after(&train, runs, after);
        registry_is_sound(
            runs,
            &registry,
            &format!("training killed after {after:?} (#{i})"),
        );
        let promote = [
            "models",
            "promote",
            if i % 2 == 0 { "v0001" } else { "v0002" },
        ];
        kill_after(&promote, runs, after / 20);
        registry_is_sound(
            runs,
            &registry,
            &format!("promote killed after {:?}", after / 20),
        );
        kill_after(&["models", "rollback"], runs, after / 20);
        registry_is_sound(
            runs,
            &registry,
            &format!("rollback killed after {:?}", after / 20),
        );
    }
    // A run that is not killed still works on whatever the kills left.
    let (ok, stdout, stderr) = mlsd(&train, runs);
    assert!(ok && stdout.contains("(now current)"), "{stdout}{stderr}");
    registry_is_sound(runs, &registry, "after a clean run");
}

#[test]
fn a_killed_ingest_leaves_no_torn_file_at_its_final_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path();
    let data = runs.join("tx.arrows").to_string_lossy().to_string();
    let (ok, _, stderr) = mlsd(&with_small(&["fraud", "generate", "--out", &data]), runs);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = mlsd(&with_small(&["fraud", "ingest", "--input", &data]), runs);
    assert!(ok, "{stderr}");
    let expected = mlsd_core::frames::read(Path::new(&data))
        .expect("input")
        .height();
    for (i, after) in delays(12, 800).into_iter().enumerate() {
        let out = runs.join(format!("accepted-{i}.arrows"));
        let out_s = out.to_string_lossy().to_string();
        let ingest = with_small(&["fraud", "ingest", "--input", &data, "--out", &out_s]);
        kill_after(&ingest, runs, after);
        if out.exists() {
            let frame = mlsd_core::frames::read(&out)
                .unwrap_or_else(|e| panic!("killed after {after:?}: a torn {out_s}: {e}"));
            assert_eq!(frame.height(), expected, "killed after {after:?}");
        }
    }
}
