//! Shared fixtures: small seeded simulations that still cover the chapter-3 windows.

use std::net::SocketAddr;
use std::sync::OnceLock;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use fraud_detector::config::{ProtocolConfig, SimulationConfig};
use fraud_detector::evaluate::{chapter3_split, labels};
use fraud_detector::features::{compute, to_matrix, FeatureSpec};
use fraud_detector::simulate::simulate;
use ndarray::Array2;
use polars::prelude::DataFrame;

/// ~600 cards over 140 days (to 2018-08-18): enough for the train and test weeks.
pub fn small_simulation() -> SimulationConfig {
    SimulationConfig {
        n_customers: 600,
        n_terminals: 1_200,
        n_days: 140,
        ..SimulationConfig::default()
    }
}

/// A tiny world for file-handling tests.
pub fn tiny_simulation() -> SimulationConfig {
    SimulationConfig {
        n_customers: 50,
        n_terminals: 100,
        n_days: 20,
        ..SimulationConfig::default()
    }
}

/// Runs the `mlsd` binary with `args`; returns (success, stdout, stderr).
pub fn mlsd(args: &[&str], runs_dir: &std::path::Path) -> (bool, String, String) {
    let (code, stdout, stderr) = mlsd_status(args, runs_dir);
    (code == Some(0), stdout, stderr)
}

/// [`mlsd`], with the exit status itself.
pub fn mlsd_status(args: &[&str], runs_dir: &std::path::Path) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mlsd"))
        .args(args)
        .env("MLSD_RUNS_DIR", runs_dir)
        .env_remove("MLSD_REGISTRY")
        .output()
        .expect("the mlsd binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The small world with its features, computed once per test binary.
pub fn small_featured() -> &'static DataFrame {
    static FEATURED: OnceLock<DataFrame> = OnceLock::new();
    FEATURED.get_or_init(|| {
        let (df, _) = simulate(&small_simulation()).expect("simulate");
        compute(df, &FeatureSpec::default()).expect("features")
    })
}

/// The small world's chapter-3 split: train matrix, train labels, test matrix.
pub fn small_chapter3() -> &'static (Array2<f64>, Vec<bool>, Array2<f64>) {
    static SPLIT: OnceLock<(Array2<f64>, Vec<bool>, Array2<f64>)> = OnceLock::new();
    SPLIT.get_or_init(|| {
        let names = FeatureSpec::default().names();
        let split = chapter3_split(small_featured(), &ProtocolConfig::default()).expect("split");
        let x = to_matrix(&split.train, &names).expect("x");
        let y = labels(&split.train).expect("y");
        let test = to_matrix(&split.test, &names).expect("x test");
        (x, y, test)
    })
}

/// Fits `kind` on the small world's training window and registers it (with its reference
/// profile) in `registry`. Returns the manifest and the model's scores on the test matrix
/// as they were before saving.
pub fn fit_and_register(
    registry: &mlsd_core::registry::Registry,
    kind: fraud_detector::train::ModelKind,
) -> (mlsd_core::registry::Manifest, Vec<f64>) {
    use fraud_detector::artifact::{self, FraudArtifact};
    let spec = FeatureSpec::default();
    let names = spec.names();
    let (x, y, test) = small_chapter3();
    let model = fraud_detector::train::fit(
        kind,
        x,
        y,
        &names,
        &fraud_detector::config::ModelConfig::default(),
    )
    .expect("fit");
    let scores = model.predict_proba(test.view()).expect("scores");
    let profile =
        artifact::reference_profile(x, &names, &model.predict_proba(x.view()).expect("scores"));
    // No calibration and no thresholds: a version as registered before they existed (the
    // server falls back to raw scores and the 0.3 / 0.8 defaults).
    let art = FraudArtifact {
        spec,
        model,
        calibration: None,
        thresholds: None,
    };
    let manifest = artifact::register(
        registry,
        &art,
        &profile,
        "sha",
        serde_json::json!({}),
        Default::default(),
    )
    .expect("register");
    (manifest, scores)
}

/// A minimal HTTP/1.1 client: one request per connection; returns (status, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let (status, _, body) = http_with_headers(addr, method, path, content_type, body).await;
    (status, body)
}

/// [`http`], with the response's head (status line and headers) as well.
pub async fn http_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String, String) {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| vec![("Content-Type", ct)])
        .unwrap_or_default();
    http_request(addr, method, path, &headers, body).await
}

/// One request with any headers; returns (status, response head, body).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_string(), body.to_string())
}

/// The admin token every test server is started with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub fn admin_token() -> mlsd_core::server::AdminToken {
    mlsd_core::server::AdminToken::parse(ADMIN_TOKEN).expect("a valid token")
}

/// `POST path` with the test admin token; returns (status, body).
pub async fn post_admin(addr: SocketAddr, path: &str) -> (u16, String) {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, _, body) =
        http_request(addr, "POST", path, &[("Authorization", &bearer)], b"").await;
    (status, body)
}

pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    http(
        addr,
        "POST",
        path,
        Some("application/json"),
        body.as_bytes(),
    )
    .await
}

/// `MLSD_DATA_DIR`, or `None` after saying on stderr that the test needing `folder` was skipped.
pub fn data_dir(folder: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("MLSD_DATA_DIR").map(std::path::PathBuf::from);
    if dir.is_none() {
        // Straight to stderr, past the test harness's capture, so a skip is always visible.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: MLSD_DATA_DIR is not set (the folder holding {folder}/)"
        );
    }
    dir
}

/// Waits (up to 5 s) until the server's `/ready` reports `log_position` equal to `position`:
/// a replica on a replicated log has applied it.
pub async fn caught_up(addr: SocketAddr, position: &serde_json::Value) {
    let started = std::time::Instant::now();
    loop {
        let (_, body) = http(addr, "GET", "/ready", None, b"").await;
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if &ready["log_position"] == position {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{ready}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The Redis backend tests use: `url`, keys under `prefix`, a 500-ms budget per round trip.
pub fn redis_backend(url: &str, prefix: &str) -> mlsd_core::online_state::StateBackend {
    mlsd_core::online_state::StateBackend::Redis {
        url: url.to_string(),
        prefix: prefix.to_string(),
        timeout: std::time::Duration::from_millis(500),
    }
}
