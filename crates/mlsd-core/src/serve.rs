//! The serving toolkit every design's HTTP API shares: one error → status mapping with JSON
//! bodies, a JSON extractor whose rejections use it, Prometheus metrics, load shedding, a
//! per-request timeout, a hot-swappable model slot, and graceful shutdown.
//!
//! Talking points:
//! - bad input is the client's problem, stated precisely: 400 (unparseable), 413 (too large),
//!   415 (not JSON), 422 (parsed but invalid); never a 500 or a panic for what a client sent;
//! - overload is shed fast with 503 instead of queueing until every request is late;
//! - hot swap: readers clone an `Arc` of the current model, so a promote or rollback never
//!   blocks scoring and every response can name the version that scored it;
//! - monitoring: request counts by route and status, latency and score histograms.
//!
//! In production: a service mesh or gateway adds TLS, auth and rate limits in front; metrics
//! go to Prometheus through the same text format.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

/// An error answer: a status and a JSON body `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The request parsed but a value is not acceptable (422).
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// Something on our side failed; the body stays opaque, the log gets the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        eprintln!("internal error: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body whose every rejection is an [`ApiError`] with a JSON body.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                // Parsed as JSON, but a field is missing, unknown or of the wrong type.
                JsonRejection::JsonDataError(e) => ApiError::invalid("invalid_body", e.body_text()),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text())
                }
                JsonRejection::MissingJsonContentType(e) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "not_json",
                    e.body_text(),
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        e.body_text(),
                    )
                }
                other => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    other.body_text(),
                ),
            }),
        }
    }
}

/// A fixed-bucket histogram in Prometheus' cumulative form.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: Vec<f64>,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: Vec<f64>) -> Self {
        let n = bounds.len();
        Histogram {
            bounds,
            counts: vec![0; n],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (b, c) in self.bounds.iter().zip(self.counts.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} histogram\n"));
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            out.push_str(&format!("{name}_bucket{{le=\"{b}\"}} {c}\n"));
        }
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {}\n", self.count));
        out.push_str(&format!(
            "{name}_sum {}\n{name}_count {}\n",
            self.sum, self.count
        ));
    }
}

struct MetricsInner {
    requests: BTreeMap<(String, u16), u64>,
    latency: Histogram,
    scores: Histogram,
    model_version: String,
}

/// Service metrics, rendered in the Prometheus text format at `/metrics`.
pub struct Metrics {
    prefix: String,
    inner: Mutex<MetricsInner>,
}

impl Metrics {
    pub fn new(prefix: &str) -> Self {
        Metrics {
            prefix: prefix.to_string(),
            inner: Mutex::new(MetricsInner {
                requests: BTreeMap::new(),
                latency: Histogram::new(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
                ]),
                scores: Histogram::new((1..=10).map(|i| f64::from(i) / 10.0).collect()),
                model_version: String::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MetricsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        let mut m = self.lock();
        *m.requests.entry((route.to_string(), status)).or_insert(0) += 1;
        m.latency.observe(seconds);
    }

    pub fn observe_score(&self, score: f64) {
        self.lock().scores.observe(score);
    }

    pub fn set_model_version(&self, version: &str) {
        self.lock().model_version = version.to_string();
    }

    pub fn render(&self) -> String {
        let m = self.lock();
        let p = &self.prefix;
        let mut out = format!("# HELP {p}_requests_total Requests by route and status.\n# TYPE {p}_requests_total counter\n");
        for ((route, status), n) in &m.requests {
            out.push_str(&format!(
                "{p}_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"
            ));
        }
        m.latency.render(
            &format!("{p}_request_duration_seconds"),
            "Server-side request latency.",
            &mut out,
        );
        m.scores.render(
            &format!("{p}_score"),
            "Distribution of returned scores.",
            &mut out,
        );
        out.push_str(&format!(
            "# HELP {p}_model_info The model version serving.\n# TYPE {p}_model_info gauge\n{p}_model_info{{version=\"{}\"}} 1\n",
            m.model_version
        ));
        out
    }
}

/// Middleware: counts every request by its route template and status, and times it.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let t = Instant::now();
    let response = next.run(req).await;
    metrics.observe_request(
        &route,
        response.status().as_u16(),
        t.elapsed().as_secs_f64(),
    );
    response
}

/// Limits in-flight requests and time per request.
#[derive(Clone)]
pub struct Limits {
    pub in_flight: Arc<Semaphore>,
    pub timeout: Duration,
}

/// Middleware: sheds with 503 when `in_flight` permits are exhausted (no queueing), and
/// answers 503 when a request takes longer than `timeout`.
pub async fn shed_and_time_out(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    // Talking point: shed load early — a 503 now beats a timeout after queueing.
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests in flight; retry later",
        )
        .into_response();
    };
    match tokio::time::timeout(limits.timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request exceeded its time budget",
        )
        .into_response(),
    }
}

/// JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// A value that can be replaced atomically while readers keep using the one they took.
pub struct Slot<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Slot<T> {
    pub fn new(value: T) -> Self {
        Slot {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value; held by the caller for as long as it needs it.
    pub fn get(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the value; in-flight readers finish with the old one.
    pub fn replace(&self, value: T) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

/// Resolves on Ctrl-C or SIGTERM: the signal to stop accepting and drain in-flight requests.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
