//! `mlsd serve` logs one line per request — method, route, status, latency, request id — as
//! text or JSON, and every answer carries the request's id in `x-request-id`.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use crate::common::{http_request, mlsd};

const SMALL: [&str; 6] = ["--customers", "600", "--terminals", "1200", "--days", "140"];

fn with_small<'a>(command: &[&'a str]) -> Vec<&'a str> {
    command.iter().chain(SMALL.iter()).copied().collect()
}

/// Starts `mlsd serve fraud` on a free loopback port with `RUST_LOG=info`; returns the child
/// and the address it printed.
fn serve(dir: &std::path::Path, format: &str) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mlsd"))
        .args(with_small(&["serve", "fraud", "--addr", "127.0.0.1:0"]))
        .env("MLSD_RUNS_DIR", dir)
        .env_remove("MLSD_REGISTRY")
        .env("RUST_LOG", "info")
        .env("MLSD_LOG_FORMAT", format)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mlsd serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("a line before exit").expect("utf-8");
        if let Some(url) = line.strip_prefix("listening on http://") {
            break url.trim().parse().expect("an address");
        }
    };
    (child, addr)
}

/// The requests every run sends: (method, path, x-request-id to send, body) → expected status.
const REQUESTS: [(&str, &str, Option<&str>, &str, u16); 3] = [
    ("GET", "/health", Some("trace-abc-123"), "", 200),
    ("GET", "/no/such/route", None, "", 404),
    ("POST", "/v1/fraud/score", None, "{", 400),
];

#[test]
fn a_server_logs_one_line_per_request_and_echoes_its_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("tx.arrows").to_string_lossy().to_string();
    let (ok, _, stderr) = mlsd(
        &with_small(&["fraud", "generate", "--out", &data]),
        dir.path(),
    );
    assert!(ok, "{stderr}");
    let train = [
        "fraud",
        "train",
        "--input",
        &data,
        "--model",
        "logistic_regression",
    ];
    let (ok, _, stderr) = mlsd(&with_small(&train), dir.path());
    assert!(ok, "{stderr}");

    for format in ["json", "text"] {
        let (mut child, addr) = serve(dir.path(), format);
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let mut ids = Vec::new();
        for (method, path, id, body, status) in REQUESTS {
            let headers: Vec<(&str, &str)> = [("Content-Type", "application/json")]
                .into_iter()
                .chain(id.map(|id| ("x-request-id", id)))
                .collect();
            let (got, head, _) =
                runtime.block_on(http_request(addr, method, path, &headers, body.as_bytes()));
            assert_eq!(got, status, "{method} {path}");
            let echoed = head
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id: "))
                .expect("every answer has an x-request-id")
                .to_string();
            match id {
                Some(id) => assert_eq!(echoed, id, "a caller's id is kept"),
                None => assert!(
                    echoed.len() == 16 && echoed.chars().all(|c| c.is_ascii_hexdigit()),
                    "a fresh id: {echoed}"
                ),
            }
            ids.push(echoed);
        }
        child.kill().expect("stop the server");
        let mut logs = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut logs)
            .expect("read the logs");
        child.wait().expect("reaped");
        let request_lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("mlsd::http") && l.contains("request"))
            .collect();
        assert_eq!(request_lines.len(), REQUESTS.len(), "{logs}");
        for (line, ((method, path, _, _, status), id)) in
            request_lines.iter().zip(REQUESTS.iter().zip(&ids))
        {
            if format == "json" {
                let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object");
                assert_eq!(v["method"], *method, "{line}");
                assert_eq!(v["path"], *path, "{line}");
                assert_eq!(v["status"], *status, "{line}");
                assert_eq!(v["request_id"], id.as_str(), "{line}");
                assert!(
                    v["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
                    "{line}"
                );
            } else {
                for field in [format!("status={status}"), format!("request_id={id}")] {
                    assert!(line.contains(&field), "{field} in {line}");
                }
            }
        }
        // The malformed body's line names the error the client got.
        assert!(
            request_lines[2].contains("malformed_json"),
            "{}",
            request_lines[2]
        );
        assert!(
            request_lines[1].contains("unmatched"),
            "{}",
            request_lines[1]
        );
    }
}
