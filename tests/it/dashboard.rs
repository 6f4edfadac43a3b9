//! The live dashboard every server answers at `/`, rendered by a real browser: headless
//! Chromium opens it while traffic flows and the DOM it leaves must show live charts (requests,
//! latency, rows by version and role while a candidate is in shadow or canary), the served model
//! version and the design's own decisions.
//!
//! Chromium comes from Debian's `chromium` package (`scripts/chromium.sh install`, run by
//! `.ci/run`), or from `MLSD_CHROMIUM`; without it the test prints SKIPPED. Chromium runs on
//! virtual time (`--virtual-time-budget`): its 1-second polls follow each other as soon as the
//! previous fetch is answered, so a dozen scrapes take about a second of real time. The page
//! divides by the server's own clock (`<design>_uptime_seconds`), so its rates stay real.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlsd_core::loadgen::{run, Load};
use serde_json::Value;

use crate::common::post_admin;
use crate::contract::{Design, DESIGNS};

/// The browser to drive: `MLSD_CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("MLSD_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.is_file().then_some(path)
}

/// The DOM headless Chromium leaves after `budget_ms` of virtual time on `url` (killed after
/// 60 s of real time).
fn rendered_dom(browser: &PathBuf, url: &str, budget_ms: u64) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
            &format!("--virtual-time-budget={budget_ms}"),
            &format!("--user-data-dir={}", profile.path().display()),
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("chromium status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("chromium output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with `id` (up to its first child tag or closing tag).
fn text_of<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let start = dom.find(&format!("id=\"{id}\""))?;
    let after = &dom[start..];
    let open_end = after.find('>')? + 1;
    let rest = &after[open_end..];
    Some(&rest[..rest.find('<')?])
}

/// A chart figure's `data-<attr>` JSON (series name → value).
fn chart_data(dom: &str, id: &str, attr: &str) -> Value {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let tag = &dom[start..start + dom[start..].find('>').expect("tag end")];
    let key = format!("data-{attr}=\"");
    let Some(at) = tag.find(&key) else {
        return Value::Null;
    };
    let raw = &tag[at + key.len()..];
    let raw = &raw[..raw.find('"').expect("attribute end")];
    serde_json::from_str(&raw.replace("&quot;", "\"").replace("&amp;", "&"))
        .unwrap_or_else(|e| panic!("#{id} data-{attr}: {e}: {raw}"))
}

/// What the design's own panel must show from the traffic of [`Design::traffic`].
fn own_evidence(design: Design) -> &'static str {
    match design {
        Design::Fraud => "data-group=\"decisions\"",
        Design::Sentiment => "data-group=\"predictions\"",
        Design::Recommender | Design::Newsfeed => "data-group=\"cache\"",
        Design::Maintenance => "machines_in_alert",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_shows_live_charts_the_served_version_and_its_decisions_in_chromium() {
    let Some(browser) = chromium() else {
        println!(
            "SKIPPED dashboard in a real browser: no Chromium (scripts/chromium.sh install, or MLSD_CHROMIUM)"
        );
        return;
    };
    for design in DESIGNS {
        let name = design.name();
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |_| {}).await;
        let addr = server.addr;
        // Open-loop traffic at 200 req/s while the browser polls; bounded (at most 30 s, 6,000
        // requests) and stopped as soon as the page is rendered.
        let target = design.traffic(addr, 6_000);
        let load = Load::Open {
            rate: 200.0,
            duration: Duration::from_secs(30),
            connections: 4,
        };
        let traffic = tokio::spawn(async move { run(&target, load, false).await });
        // v0002 goes through shadow and canary meanwhile: the page must show its share (the
        // news feed only promotes: it refuses a rollout).
        let rolls_out = !matches!(design, Design::Newsfeed);
        let (s, body) = post_admin(addr, "/admin/models/v0002/rollout").await;
        assert_eq!((200..300).contains(&s), rolls_out, "{name}: {s} {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let url = format!("http://{addr}/");
        let (b, u) = (browser.clone(), url.clone());
        let dom = tokio::task::spawn_blocking(move || rendered_dom(&b, &u, 12_000))
            .await
            .expect("browser task");
        traffic.abort();

        assert_eq!(text_of(&dom, "status"), Some("live"), "{name}: {dom}");
        assert_eq!(text_of(&dom, "model-version"), Some("v0001"), "{name}");
        assert_eq!(text_of(&dom, "design"), Some(name), "{name}");
        let points = |id| {
            chart_data(&dom, id, "points")
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: #{id} has no points"))
        };
        let max = |id, series: &str| chart_data(&dom, id, "max")[series].as_f64();
        assert!(points("chart-rps") >= 3, "{name}: {dom}");
        assert!(
            max("chart-rps", "req/s").is_some_and(|v| v > 0.0),
            "{name}: no requests drawn"
        );
        assert!(
            max("chart-latency", "p99").is_some_and(|v| v > 0.0),
            "{name}: no latency drawn"
        );
        assert!(
            max("chart-versions", "v0001 primary").is_some_and(|v| v > 0.0),
            "{name}: no rows drawn for the serving version"
        );
        let versions = chart_data(&dom, "chart-versions", "max");
        let candidate = versions.as_object().and_then(|series| {
            series
                .iter()
                .find(|(k, v)| k.starts_with("v0002 ") && v.as_f64().is_some_and(|v| v > 0.0))
        });
        assert!(
            candidate.is_some() == rolls_out,
            "{name}: the candidate's rows are not drawn: {versions}"
        );
        assert!(
            dom.contains("<polyline") && dom.contains("data-series=\"p99\""),
            "{name}: no chart lines"
        );
        assert!(dom.contains(own_evidence(design)), "{name}: {dom}");
        println!(
            "{name}: dashboard rendered in Chromium — {} points, max {:.0} req/s, p99 up to {:.2} ms, rows/s by version and role up to {versions}",
            points("chart-rps"),
            max("chart-rps", "req/s").unwrap_or(0.0),
            max("chart-latency", "p99").unwrap_or(0.0)
        );
    }
}
