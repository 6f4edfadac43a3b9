//! The HTTP contract every design's server keeps, checked once for all of them: health,
//! readiness, Prometheus metrics, an OpenAPI document that lists exactly the routes the server
//! answers, JSON 4xx for bad input and unknown routes, 503 when overloaded, and promote /
//! rollback — through the admin routes and through the registry (what `mlsd models` does) —
//! under load with no failed request.
//!
//! A new design gets these checks by adding one arm to each `match` of [`Design`].

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use mlsd_core::loadgen::{run, Load, Target};
use mlsd_core::registry::Registry;
use mlsd_core::server::ServerConfig;
use serde_json::Value;

use crate::common::{
    admin_token, fit_and_register, http, http_request, http_with_headers, post_admin,
    small_simulation, ADMIN_TOKEN,
};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Design {
    Fraud,
    Recommender,
    Sentiment,
    Maintenance,
    Newsfeed,
}

pub(crate) const DESIGNS: [Design; 5] = [
    Design::Fraud,
    Design::Recommender,
    Design::Sentiment,
    Design::Maintenance,
    Design::Newsfeed,
];

/// A bad request and the status it must get.
struct Bad {
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: &'static [u8],
    status: u16,
}

impl Design {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Design::Fraud => fraud_detector::DESIGN,
            Design::Recommender => recommender::DESIGN,
            Design::Sentiment => sentiment::DESIGN,
            Design::Maintenance => maintenance::DESIGN,
            Design::Newsfeed => newsfeed::DESIGN,
        }
    }

    /// A registry holding v0001 (current) and v0002 (registered, not promoted).
    pub(crate) fn registry(self, dir: &std::path::Path) -> Registry {
        let registry = Registry::open(dir);
        match self {
            Design::Fraud => {
                use fraud_detector::train::ModelKind;
                fit_and_register(&registry, ModelKind::LogisticRegression);
                fit_and_register(&registry, ModelKind::UndersampledTreeDepth2);
            }
            Design::Recommender => {
                let world = crate::recommender::shop::small_world();
                let config = recommender::config::RecommenderConfig {
                    shop: crate::recommender::shop::small_shop(),
                    ..Default::default()
                };
                for _ in 0..2 {
                    recommender::artifact::register(&registry, &world, &config).expect("register");
                }
            }
            Design::Sentiment => {
                for _ in 0..2 {
                    let data = sentiment::pipeline::training_data(None, None).expect("data");
                    sentiment::pipeline::train_and_register(&registry, data, false)
                        .expect("register");
                }
            }
            // Trained once per test binary (each contract test builds its own registries).
            Design::Maintenance => {
                use maintenance::artifact;
                type Run = (
                    artifact::MaintenanceArtifact,
                    maintenance::data::Fleet,
                    artifact::Validation,
                );
                static RUN: OnceLock<Run> = OnceLock::new();
                let cfg = crate::maintenance::quick_training();
                let (model, fleet, validation) =
                    RUN.get_or_init(|| artifact::train(&cfg).expect("train"));
                for _ in 0..2 {
                    artifact::register(&registry, model, fleet, validation, &cfg)
                        .expect("register");
                }
            }
            Design::Newsfeed => {
                use newsfeed::artifact;
                static RUN: OnceLock<(artifact::NewsfeedArtifact, artifact::Training)> =
                    OnceLock::new();
                let cfg = crate::newsfeed::quick_training();
                let (model, training) = RUN.get_or_init(|| artifact::train(&cfg).expect("train"));
                for _ in 0..2 {
                    artifact::register(&registry, model, training, &cfg).expect("register");
                }
            }
        }
        registry.promote(self.name(), "v0001").expect("promote");
        registry
    }

    /// The design's server on 127.0.0.1:0, following the registry every 100 ms, with the
    /// shared settings changed by `tune`.
    pub(crate) async fn start(
        self,
        registry: &Registry,
        tune: impl FnOnce(&mut ServerConfig),
    ) -> mlsd_core::serve::Running {
        let mut server = ServerConfig {
            watch_every: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            admin_token: Some(admin_token()),
            ..ServerConfig::default()
        };
        tune(&mut server);
        let router = match self {
            Design::Fraud => {
                use fraud_detector::{ingest::IngestConfig, serve};
                let limits = IngestConfig::for_simulation(&small_simulation()).expect("limits");
                let config = serve::ServeConfig {
                    server,
                    ..serve::ServeConfig::new(limits)
                };
                let state = serve::state(registry.clone(), config).expect("state");
                state.watch_registry();
                serve::router(state)
            }
            Design::Recommender => {
                use recommender::serve;
                let config = serve::ServeConfig {
                    server,
                    ..serve::ServeConfig::default()
                };
                let state = serve::state(registry.clone(), config).expect("state");
                state.watch_registry();
                serve::router(state)
            }
            Design::Sentiment => {
                use sentiment::serve;
                let config = serve::ServeConfig {
                    server,
                    ..serve::ServeConfig::default()
                };
                let state = serve::state(registry.clone(), config).expect("state");
                state.watch_registry();
                serve::router(state)
            }
            Design::Maintenance => {
                use maintenance::serve;
                let config = serve::ServeConfig {
                    server,
                    ..serve::ServeConfig::default()
                };
                let state = serve::state(registry.clone(), config).expect("state");
                state.watch_registry();
                serve::router(state)
            }
            Design::Newsfeed => {
                use newsfeed::serve;
                let config = serve::ServeConfig {
                    server,
                    ..serve::ServeConfig::default()
                };
                let state = serve::state(registry.clone(), config).expect("state");
                state.watch_registry();
                serve::router(state)
            }
        };
        mlsd_core::serve::Running::start("127.0.0.1:0".parse().expect("addr"), router)
            .await
            .expect("start")
    }

    /// The design's own routes (the operational ones are the same everywhere).
    fn routes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Design::Fraud => &[
                ("post", "/v1/fraud/score"),
                ("post", "/v1/fraud/score/batch"),
                ("post", "/v1/fraud/labels"),
                ("get", "/v1/fraud/drift"),
            ],
            Design::Recommender => &[
                ("post", "/v1/recommender/events"),
                ("get", "/v1/recommender/users/{user_id}/recommendations"),
                ("get", "/v1/recommender/drift"),
            ],
            Design::Sentiment => &[
                ("post", "/v1/sentiment"),
                ("post", "/v1/sentiment/batch"),
                ("post", "/v1/sentiment/stream"),
                ("get", "/v1/sentiment/live"),
                ("get", "/v1/sentiment/drift"),
            ],
            Design::Maintenance => &[
                ("post", "/v1/maintenance/readings"),
                ("post", "/v1/maintenance/readings/stream"),
                ("get", "/v1/maintenance/machines/{machine_id}"),
                ("post", "/v1/maintenance/machines/{machine_id}/events"),
                ("get", "/v1/maintenance/alerts"),
                ("post", "/v1/maintenance/score"),
                ("post", "/v1/maintenance/score/batch"),
                ("get", "/v1/maintenance/drift"),
            ],
            Design::Newsfeed => &[
                ("get", "/v1/newsfeed/users/{user_id}/feed"),
                ("post", "/v1/newsfeed/articles"),
                ("post", "/v1/newsfeed/events"),
                ("get", "/v1/newsfeed/drift"),
            ],
        }
    }

    /// One malformed, one of the wrong media type and one invalid request on the design's
    /// main route.
    fn bad_requests(self) -> Vec<Bad> {
        let (path, invalid): (&str, &[u8]) = match self {
            Design::Fraud => ("/v1/fraud/score", br#"{"transaction_id": 1}"#),
            Design::Recommender => (
                "/v1/recommender/events",
                br#"{"user_id": 0, "item_id": 1, "kind": "view"}"#,
            ),
            Design::Sentiment => ("/v1/sentiment", br#"{"text": ""}"#),
            Design::Maintenance => ("/v1/maintenance/score", br#"{"readings": []}"#),
            Design::Newsfeed => ("/v1/newsfeed/events", br#"{"events": []}"#),
        };
        let json = Some("application/json");
        vec![
            Bad {
                method: "POST",
                path,
                content_type: json,
                body: b"{not json",
                status: 400,
            },
            Bad {
                method: "POST",
                path,
                content_type: Some("text/plain"),
                body: b"hello",
                status: 415,
            },
            Bad {
                method: "POST",
                path,
                content_type: json,
                body: invalid,
                status: 422,
            },
            // A route called with a method it does not answer: a JSON 405, not an empty body.
            Bad {
                method: "GET",
                path,
                content_type: None,
                body: b"",
                status: 405,
            },
        ]
    }

    /// The bound the OpenAPI document states for one rule known only at start (a card id, a
    /// list length, a text length), as a request on it and one just past it: (method, path,
    /// body) each.
    fn on_and_past_the_bound(self, doc: &Value) -> [(&'static str, String, String); 2] {
        let schemas = &doc["components"]["schemas"];
        match self {
            Design::Fraud => {
                let max = schemas["ScoreRequest"]["properties"]["customer_id"]["maximum"]
                    .as_i64()
                    .expect("customer_id has a maximum");
                [max, max + 1].map(|card| {
                    let body = format!(
                        r#"{{"transaction_id": 1, "tx_datetime": "2018-08-20 12:00:00", "customer_id": {card}, "terminal_id": 0, "tx_amount": 1.5}}"#
                    );
                    ("POST", "/v1/fraud/score".to_string(), body)
                })
            }
            Design::Recommender => {
                let path = "/v1/recommender/users/{user_id}/recommendations";
                let k = doc["paths"][path]["get"]["parameters"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["name"] == "k"))
                    .and_then(|p| p["schema"]["maximum"].as_i64())
                    .expect("k has a maximum");
                [k, k + 1].map(|k| {
                    let path = format!("/v1/recommender/users/1/recommendations?k={k}");
                    ("GET", path, String::new())
                })
            }
            Design::Sentiment => {
                let max = schemas["SentimentRequest"]["properties"]["text"]["maxLength"]
                    .as_u64()
                    .expect("text has a maxLength") as usize;
                [max, max + 1].map(|n| {
                    let body = serde_json::json!({ "text": "é".repeat(n) }).to_string();
                    ("POST", "/v1/sentiment".to_string(), body)
                })
            }
            Design::Maintenance => {
                let max = schemas["History"]["properties"]["readings"]["maxItems"]
                    .as_u64()
                    .expect("readings has maxItems") as u32;
                [max, max + 1].map(|n| {
                    let readings: Vec<Value> = (1..=n)
                        .map(|c| serde_json::json!({ "cycle": c, "values": [1.0, 55.0, 2.0, 4.5, 30.0, 12.0, 45.0, 21.0] }))
                        .collect();
                    let body = serde_json::json!({ "readings": readings }).to_string();
                    ("POST", "/v1/maintenance/score".to_string(), body)
                })
            }
            Design::Newsfeed => {
                let max = schemas["EventsRequest"]["properties"]["events"]["maxItems"]
                    .as_u64()
                    .expect("events has maxItems") as usize;
                [max, max + 1].map(|n| {
                    let event =
                        serde_json::json!({ "user_id": 1, "article_id": 0, "kind": "impression" });
                    let body = serde_json::json!({ "events": vec![event; n] }).to_string();
                    ("POST", "/v1/newsfeed/events".to_string(), body)
                })
            }
        }
    }

    /// `n` requests whose every answer names the version that computed it.
    pub(crate) fn traffic(self, addr: SocketAddr, n: usize) -> Target {
        match self {
            Design::Fraud => Target::post(
                addr,
                "/v1/fraud/score",
                Arc::new(crate::fraud::api::independent_payments(n)),
            ),
            Design::Recommender => Target::get(
                addr,
                Arc::new(
                    (0..n)
                        .map(|i| {
                            format!(
                                "/v1/recommender/users/{}/recommendations?mode=realtime",
                                1 + i % 200
                            )
                        })
                        .collect(),
                ),
            ),
            Design::Sentiment => Target::post(
                addr,
                "/v1/sentiment",
                Arc::new(
                    sentiment::bench::single_bodies(&sentiment::bench::texts(n, 5))
                        .expect("bodies"),
                ),
            ),
            Design::Maintenance => {
                let fleet = maintenance::bench::fleet(20, 300_001, 200);
                let histories = maintenance::bench::histories(&fleet, n, 30);
                Target::post(
                    addr,
                    "/v1/maintenance/score",
                    Arc::new(maintenance::bench::score_bodies(&histories).expect("bodies")),
                )
            }
            Design::Newsfeed => Target::get(
                addr,
                Arc::new(
                    (0..n)
                        .map(|i| format!("/v1/newsfeed/users/{}/feed", i % 300))
                        .collect(),
                ),
            ),
        }
    }
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, None, b"").await;
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}")),
    )
}

/// The error code of a JSON error body (panics on anything else: every error is JSON).
fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code: {body}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_answers_health_ready_metrics_and_json_errors() {
    for design in DESIGNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |_| {}).await;
        let addr = server.addr;
        let name = design.name();
        let (s, health) = get_json(addr, "/health").await;
        assert_eq!(
            (s, &health["status"]),
            (200, &Value::from("alive")),
            "{name}"
        );
        let (s, ready) = get_json(addr, "/ready").await;
        assert_eq!(
            (s, &ready["status"], &ready["model_version"]),
            (200, &Value::from("ready"), &Value::from("v0001")),
            "{name}: {ready}"
        );
        let (_, models) = get_json(addr, "/v1/models").await;
        assert_eq!(models["serving"], "v0001", "{name}: {models}");
        assert_eq!(
            models["versions"].as_array().map(Vec::len),
            Some(2),
            "{name}"
        );
        for bad in design.bad_requests() {
            let (s, body) = http(addr, bad.method, bad.path, bad.content_type, bad.body).await;
            assert_eq!(s, bad.status, "{name} {} {}: {body}", bad.method, bad.path);
            error_code(&body);
        }
        let (s, body) = http(addr, "GET", "/no/such/route", None, b"").await;
        assert_eq!((s, error_code(&body)), (404, "not_found".into()), "{name}");
        let (s, body) = post_admin(addr, "/admin/models/v0042/promote").await;
        assert_eq!(
            (s, error_code(&body)),
            (404, "unknown_version".into()),
            "{name}"
        );
        // Errors name versions, never the server's folders.
        let root = registry.root().to_string_lossy().to_string();
        assert!(!body.contains(&root), "{name}: {body}");
        // A huge malformed body is not echoed back whole.
        let mut huge = b"{\"text\": \"".to_vec();
        huge.extend(std::iter::repeat_n(b'x', 200_000));
        let (s, body) = http(
            addr,
            "POST",
            design.bad_requests()[0].path,
            Some("application/json"),
            &huge,
        )
        .await;
        assert!((400..500).contains(&s), "{name}: {s}");
        assert!(
            body.len() < 2_000,
            "{name}: a {} byte error body",
            body.len()
        );
        // Prometheus text: counters by route and status, and the version serving.
        let (s, metrics) = http(addr, "GET", "/metrics", None, b"").await;
        assert_eq!(s, 200, "{name}");
        for expected in [
            format!("# TYPE mlsd_{name}_requests_total counter"),
            format!("mlsd_{name}_requests_total{{route=\"/health\",status=\"200\"}} 1"),
            format!("mlsd_{name}_model_info{{version=\"v0001\"}} 1"),
        ] {
            assert!(
                metrics.contains(&expected),
                "{name}: {expected} in\n{metrics}"
            );
        }
        promtool_check(name, &metrics);
    }
}

/// `promtool check metrics` (Prometheus' own linter) on a scrape, when promtool is installed
/// (`.ci/run` installs it from Debian's `prometheus` package and names it in `MLSD_PROMTOOL`).
fn promtool_check(design: &str, metrics: &str) {
    use std::io::Write as _;
    let promtool = std::env::var("MLSD_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let child = std::process::Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        println!("SKIPPED promtool check of {design}'s /metrics: no {promtool} on this machine");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(metrics.as_bytes())
            .expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "{design}: promtool says {said}"
    );
    println!("promtool check metrics: {design} clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_openapi_document_lists_exactly_the_routes_the_server_answers() {
    let operations = [
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("get", "/"),
        ("get", "/v1/models"),
        ("post", "/admin/models/{version}/promote"),
        ("post", "/admin/models/rollback"),
        ("post", "/admin/models/{version}/rollout"),
        ("get", "/admin/rollout"),
    ];
    for design in DESIGNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |_| {}).await;
        let addr = server.addr;
        let name = design.name();
        let (_, doc) = get_json(addr, "/openapi.json").await;
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "{name}"
        );
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        // The docs page renders this document in the browser, the dashboard at `/` this
        // server's metrics; neither loads anything from elsewhere.
        for (page_path, reads) in [
            ("/docs", "fetch(\"openapi.json\")"),
            ("/", "fetch(\"metrics\""),
        ] {
            let (s, head, page) = http_with_headers(addr, "GET", page_path, None, b"").await;
            assert_eq!(s, 200, "{name} {page_path}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: text/html"),
                "{head}"
            );
            assert!(page.contains(reads), "{name} {page_path}");
            for external in [
                "src=\"http",
                "href=\"http",
                "@import",
                "//cdn",
                "fetch(\"http",
            ] {
                assert!(
                    !page.contains(external),
                    "{name}: {page_path} loads {external}…"
                );
            }
            if page_path == "/docs" {
                // …and the docs show the constraints the document states next to each field.
                for keyword in ["s.maximum", "s.maxLength", "s.maxItems", "s.pattern"] {
                    assert!(
                        page.contains(keyword),
                        "{name}: the docs page ignores {keyword}"
                    );
                }
            }
        }
        let mut expected: Vec<(String, String)> = operations
            .iter()
            .chain(design.routes())
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        expected.sort();
        assert_eq!(documented, expected, "{name}");
        // Every documented route exists: no 404 `not_found` or 405 from the router. Path
        // parameters get values that are valid but harmless (an unknown version, user 1).
        for (method, path) in &documented {
            let concrete = path.replace("{version}", "v9999").replace("{user_id}", "1");
            let (s, body) = http(
                addr,
                &method.to_uppercase(),
                &concrete,
                Some("application/json"),
                b"{}",
            )
            .await;
            let missing = s == 405 || (s == 404 && error_code(&body) == "not_found");
            assert!(
                !missing,
                "{name}: {method} {path} is documented but answers {s} {body}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bounds_each_document_states_are_the_bounds_its_handlers_apply() {
    for design in DESIGNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |_| {}).await;
        let (_, doc) = get_json(server.addr, "/openapi.json").await;
        let [on, past] = design.on_and_past_the_bound(&doc);
        let (s, body) = http(
            server.addr,
            on.0,
            &on.1,
            Some("application/json"),
            on.2.as_bytes(),
        )
        .await;
        assert_eq!(s / 100, 2, "{design:?} on the documented bound: {body}");
        let (s, body) = http(
            server.addr,
            past.0,
            &past.1,
            Some("application/json"),
            past.2.as_bytes(),
        )
        .await;
        assert_eq!(s, 422, "{design:?} past the documented bound: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_sheds_with_a_json_503_when_it_has_no_permits() {
    for design in DESIGNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |s| s.max_in_flight = 0).await;
        let addr = server.addr;
        let target = design.traffic(addr, 1);
        let (report, outcomes) = run(
            &target,
            Load::Closed {
                concurrency: 1,
                duration: Duration::from_secs(10),
                max_requests: 1,
            },
            true,
        )
        .await
        .expect("load");
        assert_eq!(
            (report.sent, report.shed),
            (1, 1),
            "{}: {report:?}",
            design.name()
        );
        let body = String::from_utf8_lossy(&outcomes[0].body);
        assert_eq!(error_code(&body), "overloaded", "{}", design.name());
        // A 503 says when to come back.
        let (status, head, _) = http_with_headers(addr, "GET", "/health", None, b"").await;
        assert_eq!(status, 503, "{}", design.name());
        assert!(
            head.to_ascii_lowercase().contains("\r\nretry-after: 1"),
            "{}: {head}",
            design.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_and_a_rollback_under_400_requests_per_second_fail_no_request() {
    for design in DESIGNS {
        let name = design.name();
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |_| {}).await;
        let addr = server.addr;
        let answers = under_load(design, addr, 1_200, async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Promote through the admin route …
            let (s, body) = post_admin(addr, "/admin/models/v0002/promote").await;
            assert_eq!(s, 200, "{name}: {body}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            // … and roll back through the registry (what `mlsd models rollback` does).
            registry.rollback(name).expect("rollback");
        })
        .await;
        let versions = versions(&answers);
        let count = |v: &str| versions.iter().filter(|x| *x == v).count();
        assert_eq!(count("v0001") + count("v0002"), 1_200, "{name}");
        assert!(count("v0002") > 0, "{name}: the promotion never served");
        assert_eq!(
            versions.first().map(String::as_str),
            Some("v0001"),
            "{name}"
        );
        assert_eq!(
            versions.last().map(String::as_str),
            Some("v0001"),
            "{name}: the rollback never served"
        );
        let (_, ready) = get_json(addr, "/ready").await;
        assert_eq!(ready["model_version"], "v0001", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_the_token_and_are_off_without_one() {
    for design in DESIGNS {
        let name = design.name();
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let promote = "/admin/models/v0002/promote";
        let server = design.start(&registry, |_| {}).await;
        let wrong = "Bearer not-the-admin-token-at-all";
        for (headers, status, code) in [
            (vec![], 401, "unauthorized"),
            (vec![("Authorization", wrong)], 403, "forbidden"),
        ] {
            for path in [promote, "/admin/models/rollback"] {
                let (s, head, body) = http_request(server.addr, "POST", path, &headers, b"").await;
                assert_eq!(
                    (s, error_code(&body)),
                    (status, code.into()),
                    "{name} {path}"
                );
                assert!(head.contains("x-request-id"), "{head}");
            }
        }
        // A server started without a token has no admin routes at all.
        let closed = design.start(&registry, |s| s.admin_token = None).await;
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        let (s, _, body) = http_request(
            closed.addr,
            "POST",
            promote,
            &[("Authorization", &bearer)],
            b"",
        )
        .await;
        assert_eq!(
            (s, error_code(&body)),
            (403, "admin_disabled".into()),
            "{name}"
        );
        // Nothing moved.
        let pointer = registry.pointer(name).expect("pointer");
        assert_eq!(pointer.current.as_deref(), Some("v0001"), "{name}");
        let (_, ready) = get_json(server.addr, "/ready").await;
        assert_eq!(ready["model_version"], "v0001", "{name}");
        // The right token works.
        assert_eq!(post_admin(server.addr, promote).await.0, 200, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_promote_changes_nothing_and_a_cli_promote_is_picked_up() {
    for design in DESIGNS {
        let name = design.name();
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = design.registry(dir.path());
        let server = design.start(&registry, |_| {}).await;
        let addr = server.addr;
        // A name that is not a version never reaches the file system or the pointer.
        for bad in ["..%2Fother%2Fv0001", "v1", "current"] {
            let (s, body) = post_admin(addr, &format!("/admin/models/{bad}/promote")).await;
            assert_eq!(
                (s, error_code(&body)),
                (404, "unknown_version".into()),
                "{name} {bad}"
            );
        }
        assert_eq!(
            registry.pointer(name).expect("pointer").current.as_deref(),
            Some("v0001"),
            "{name}"
        );
        // What `mlsd models promote v0002` does, with no call to the server: it follows.
        registry.promote(name, "v0002").expect("promote");
        let mut serving = String::new();
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (_, ready) = get_json(addr, "/ready").await;
            serving = ready["model_version"].as_str().unwrap_or("").to_string();
            if serving == "v0002" {
                break;
            }
        }
        assert_eq!(
            serving, "v0002",
            "{name}: the server did not follow the registry"
        );
    }
}

/// `GET path` with the test admin token; returns (status, JSON body).
async fn get_admin(addr: SocketAddr, path: &str) -> (u16, Value) {
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, _, body) =
        http_request(addr, "GET", path, &[("Authorization", &bearer)], b"").await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Open-loop traffic at 400 req/s (requests keep coming on schedule whatever the server is
/// doing) while `during` runs; every request must succeed. The answers, in order.
async fn under_load<F: std::future::Future<Output = ()>>(
    design: Design,
    addr: SocketAddr,
    n: usize,
    during: F,
) -> Vec<Value> {
    let target = design.traffic(addr, n);
    let load = Load::Open {
        rate: 400.0,
        duration: Duration::from_secs_f64(n as f64 / 400.0),
        connections: 8,
    };
    let traffic = tokio::spawn(async move { run(&target, load, true).await });
    during.await;
    let (report, outcomes) = traffic.await.expect("task").expect("load");
    println!(
        "{}: {} requests offered at {} req/s, {:.0} req/s achieved, {} ok, {} shed, {} errors, p99 {:.2} ms",
        design.name(), report.sent, report.offered, report.rps, report.ok, report.shed, report.errors, report.p99_ms
    );
    assert!(report.offered >= 200.0, "{report:?}");
    assert_eq!(
        (
            report.sent,
            report.ok,
            report.shed,
            report.errors,
            report.unsent
        ),
        (n, n, 0, 0, 0),
        "{report:?}"
    );
    outcomes
        .iter()
        .map(|o| serde_json::from_slice(&o.body).expect("json"))
        .collect()
}

/// The version each answer names (`model_version`; every answer must name one).
fn versions(answers: &[Value]) -> Vec<String> {
    answers
        .iter()
        .map(|a| {
            a["model_version"]
                .as_str()
                .unwrap_or_else(|| panic!("every answer names its version: {a}"))
                .to_string()
        })
        .collect()
}

/// Gates a test's traffic passes in seconds: 100 requests a stage, canary 10 % then 50 %.
fn quick_rollouts(s: &mut ServerConfig) {
    s.rollout = mlsd_core::lifecycle::Gates {
        min_evaluated: 100,
        canary_steps: vec![10, 50],
        ..Default::default()
    };
}

/// Waits (up to 10 s) until the rollout is over; returns the final status.
async fn rollout_outcome(addr: SocketAddr) -> Value {
    for _ in 0..100 {
        let (s, status) = get_admin(addr, "/admin/rollout").await;
        assert_eq!(s, 200, "{status}");
        if status["candidate"].is_null() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the rollout never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_and_canary_under_load_promote_a_good_candidate_and_reject_a_bad_one_failing_no_request(
) {
    use fraud_detector::train::ModelKind;
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Registry::open(dir.path());
    // v0001 serves; v0002 is the same training job run again; v0003 a depth-2 tree, whose
    // raw leaf rates cross the default review threshold on many more payments.
    for kind in [
        ModelKind::LogisticRegression,
        ModelKind::LogisticRegression,
        ModelKind::UndersampledTreeDepth2,
    ] {
        fit_and_register(&registry, kind);
    }
    registry.promote("fraud", "v0001").expect("promote");
    let server = Design::Fraud.start(&registry, quick_rollouts).await;
    let addr = server.addr;

    // A good candidate: shadow → canary 10 % → 50 % → promoted, while traffic flows.
    let answers = under_load(Design::Fraud, addr, 2_400, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, body) = post_admin(addr, "/admin/models/v0002/rollout").await;
        assert_eq!(s, 200, "{body}");
        let (s, body) = post_admin(addr, "/admin/models/v0003/rollout").await;
        assert_eq!(
            (s, error_code(&body)),
            (409, "rollout_in_progress".into()),
            "{body}"
        );
    })
    .await;
    let status = rollout_outcome(addr).await;
    let path: Vec<String> = status["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| format!("{}:{}", d["version"].as_str().unwrap_or_default(), d["to"]))
        .collect();
    assert_eq!(status["serving"], "v0002", "{path:?}");
    assert!(path.iter().any(|p| p.contains("canary")), "{path:?}");
    assert!(
        versions(&answers).iter().any(|v| v == "v0002"),
        "the canary answered"
    );
    let (_, ready) = get_json(addr, "/ready").await;
    assert_eq!(ready["model_version"], "v0002");
    let (_, _, metrics) = http_with_headers(addr, "GET", "/metrics", None, b"").await;
    assert!(
        metrics.contains(r#"version_rows_total{version="v0002",role="shadow"}"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"version_rows_total{version="v0002",role="canary"}"#));
    assert!(
        metrics.contains("mlsd_fraud_rollout_disagreement "),
        "{metrics}"
    );
    promtool_check("fraud-rollout", &metrics);

    // A candidate whose decisions differ: rejected in shadow, it never answers anyone.
    let answers = under_load(Design::Fraud, addr, 1_200, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, body) = post_admin(addr, "/admin/models/v0003/rollout").await;
        assert_eq!(s, 200, "{body}");
    })
    .await;
    let status = rollout_outcome(addr).await;
    let last = status["decisions"]
        .as_array()
        .and_then(|d| d.last().cloned())
        .expect("a decision");
    assert_eq!(last["version"], "v0003");
    assert_eq!(last["to"]["stage"], "rejected", "{last}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("differ"),
        "{last}"
    );
    assert!(
        versions(&answers).iter().all(|v| v == "v0002"),
        "a shadow never answers"
    );
    assert_eq!(status["serving"], "v0002");
    // The decision log is a file in the registry, one JSON object per line.
    let log = std::fs::read_to_string(dir.path().join("fraud/decisions.jsonl")).expect("log");
    assert_eq!(
        log.lines().count(),
        status["decisions"].as_array().map_or(0, Vec::len)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_promotes_a_retrained_version_through_shadow_and_canary_under_load() {
    for design in [Design::Recommender, Design::Sentiment, Design::Maintenance] {
        let name = design.name();
        let dir = tempfile::tempdir().expect("tempdir");
        // v0001 serves; v0002 is the same training job run again.
        let registry = design.registry(dir.path());
        let server = design.start(&registry, quick_rollouts).await;
        let addr = server.addr;
        let answers = under_load(design, addr, 2_400, async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (s, body) = post_admin(addr, "/admin/models/v0002/rollout").await;
            assert_eq!(s, 200, "{name}: {body}");
        })
        .await;
        let status = rollout_outcome(addr).await;
        assert_eq!(status["serving"], "v0002", "{name}: {status}");
        let stages: Vec<String> = status["decisions"]
            .as_array()
            .expect("decisions")
            .iter()
            .map(|d| d["to"].to_string())
            .collect();
        assert!(
            stages.iter().any(|s| s.contains("canary")),
            "{name}: {stages:?}"
        );
        assert!(versions(&answers).iter().any(|v| v == "v0002"), "{name}");
        // Canary by entity, widening only: a user once answered by v0002 stays with it.
        if let Design::Recommender = design {
            let mut moved = std::collections::HashSet::new();
            for a in &answers {
                let user = a["user_id"].as_u64().expect("user");
                match a["model_version"].as_str() {
                    Some("v0002") => {
                        moved.insert(user);
                    }
                    _ => assert!(!moved.contains(&user), "user {user} went back to v0001"),
                }
            }
        }
        let (_, _, metrics) = http_with_headers(addr, "GET", "/metrics", None, b"").await;
        assert!(
            metrics.contains(r#"version_rows_total{version="v0002",role="shadow"}"#),
            "{name}"
        );
        promtool_check(&format!("{name}-rollout"), &metrics);
    }
}
