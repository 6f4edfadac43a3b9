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

use std::future::Future;
use std::sync::{Arc, RwLock};
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

    /// 503 `overloaded`: the server will not take this request now; `message` says which
    /// limit refused it (in-flight, queueing delay, micro-batch queue, model queue).
    pub fn overloaded(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
    }

    /// Something on our side failed; the body stays opaque, the log gets the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "mlsd::http", cause = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

/// The longest error message sent back: a message that quotes the input (a parser's error)
/// must not echo a 900 kB body.
const MAX_MESSAGE_CHARS: usize = 500;

/// `text` cut to `max` characters, with `…` when something was cut.
fn truncated(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The body of every error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, e.g. `invalid_amount`, `overloaded`.
    pub code: String,
    /// What was wrong, for a human.
    pub message: String,
}

/// A request's integer field, read as JSON Schema defines an integer: `13`, `13.0` and `1.3e1`
/// are the same number (serde alone refuses the last two). For `#[serde(deserialize_with)]`.
///
/// Talking point [api]: the contract is the OpenAPI document; a fuzzer that reads it (Schemathesis
/// in CI) sends `13.0` for an integer, and a client library may too.
pub fn whole<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    use serde::de::{Deserialize as _, Error};
    let n = serde_json::Number::deserialize(d)?;
    let out_of_range = || D::Error::custom(format!("{n} is out of range for this field"));
    if let Some(i) = n.as_i64() {
        return T::try_from(i).map_err(|_| out_of_range());
    }
    if let Some(u) = n.as_u64() {
        return T::try_from(u).map_err(|_| out_of_range());
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && (-9.2e18..9.2e18).contains(&f) => {
            T::try_from(f as i64).map_err(|_| out_of_range())
        }
        Some(f) if f.fract() == 0.0 => Err(out_of_range()),
        _ => Err(D::Error::custom(format!("{n} is not a whole number"))),
    }
}

/// The `key=value` pairs of a raw query string, in order (empty pairs skipped; a key without
/// `=` has an empty value).
pub fn query_pairs(raw: Option<&str>) -> impl Iterator<Item = (&str, &str)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// A list length `k` from a query value: a whole number from 1 to `max_k`, or a 422
/// `invalid_k` naming the bound.
pub fn parse_k(value: &str, max_k: usize) -> Result<usize, ApiError> {
    whole_text(value)
        .and_then(|k| usize::try_from(k).ok())
        .filter(|k| (1..=max_k).contains(k))
        .ok_or_else(|| {
            ApiError::invalid(
                "invalid_k",
                format!("k must be 1 to {max_k}, got {value:?}"),
            )
        })
}

/// [`whole`] for text (a path segment or query value): `13`, `13.0` and `1.3e1` are 13.
pub fn whole_text(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().or_else(|| {
        let f = text.parse::<f64>().ok()?;
        (f.fract() == 0.0 && (0.0..1.8e19).contains(&f)).then_some(f as u64)
    })
}

/// [`whole`] for an optional field (`null` or absent is `None`; pair with `#[serde(default)]`).
pub fn whole_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    #[derive(serde::Deserialize)]
    struct Whole<T: TryFrom<i64> + TryFrom<u64>>(#[serde(deserialize_with = "whole")] T);
    use serde::Deserialize as _;
    Ok(Option::<Whole<T>>::deserialize(d)?.map(|Whole(v)| v))
}

/// 422 `invalid_batch_size` unless a batch of `len` items holds 1 to `max` (`what` names the
/// items: "transactions", "texts").
pub fn check_batch_size(len: usize, max: usize, what: &str) -> Result<(), ApiError> {
    if (1..=max).contains(&len) {
        return Ok(());
    }
    Err(ApiError::invalid(
        "invalid_batch_size",
        format!("a batch holds 1 to {max} {what}, got {len}"),
    ))
}

/// The error answers every JSON route can give besides its own 422s — 400 (malformed JSON or
/// invalid UTF-8), 413 (body too large), 415 (not JSON) from [`ApiJson`], 503 from the common
/// layers — for the `responses(…)` of `#[utoipa::path]`: one declaration, so the documents of
/// every design list the same answers for the same causes.
#[derive(utoipa::IntoResponses)]
pub enum JsonErrors {
    #[response(status = 400, description = "Malformed JSON or invalid UTF-8")]
    Malformed(ErrorBody),
    #[response(status = 413, description = "Body too large")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not `Content-Type: application/json`")]
    NotJson(ErrorBody),
    #[response(
        status = 503,
        description = "Overloaded or over the time budget; retry later"
    )]
    Overloaded(ErrorBody),
}

/// The 503 of every route behind the common layers (shedding, the time budget).
#[derive(utoipa::IntoResponses)]
pub enum Shed {
    #[response(
        status = 503,
        description = "Overloaded or over the time budget; retry later"
    )]
    Overloaded(ErrorBody),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: truncated(self.message, MAX_MESSAGE_CHARS),
            },
        };
        let mut response = (status, Json(body.clone())).into_response();
        // For the request's log line (see `track`): which error, and why.
        response.extensions_mut().insert(body);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Talking point: a 503 says when to come back, so clients back off instead of
            // retrying at once into the overload (RFC 9110 §10.2.3).
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// The media type of a request, without parameters and lower-cased (`Application/JSON;
/// charset=utf-8` → `application/json`; type and subtype are case-insensitive, RFC 9110
/// §8.3.1); empty when the header is missing or not text.
pub fn media_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
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
        let essence = media_type(req.headers());
        if essence != "application/json"
            && !(essence.starts_with("application/") && essence.ends_with("+json"))
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "not_json",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        e.body_text(),
                    )
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
                }
            })?;
        // Talking point: say *what* is wrong. serde would call broken UTF-8 "invalid JSON";
        // the client needs to hear that its encoding is the problem, and where.
        if let Err(e) = std::str::from_utf8(&bytes) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_utf8",
                format!(
                    "the body is not valid UTF-8 (first bad byte at offset {})",
                    e.valid_up_to()
                ),
            ));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                // Parsed as JSON, but a field is missing, unknown or of the wrong type.
                JsonRejection::JsonDataError(e) => ApiError::invalid("invalid_body", e.body_text()),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text())
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

pub use crate::telemetry::Metrics;

/// The header that carries a request's id: kept from the request when it is a sane id (a load
/// balancer or the client set it), made up here otherwise, and echoed in every answer.
pub const REQUEST_ID: &str = "x-request-id";

/// The id of one request, in its log line and its answer's `x-request-id` header; handlers
/// can read it from the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(axum::http::HeaderValue);

impl RequestId {
    /// The caller's id if it is 1–128 visible ASCII characters, else a fresh one.
    fn of(req: &Request) -> RequestId {
        let given = req.headers().get(REQUEST_ID).filter(|v| {
            (1..=128).contains(&v.len()) && v.as_bytes().iter().all(u8::is_ascii_graphic)
        });
        RequestId(given.cloned().unwrap_or_else(fresh_request_id))
    }

    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("")
    }
}

/// 16 hex digits from a per-process counter that starts at a clock- and pid-derived value, so
/// ids from two processes (or two runs) rarely collide.
fn fresh_request_id() -> axum::http::HeaderValue {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        AtomicU64::new(nanos ^ (u64::from(std::process::id()) << 40))
    });
    let id = format!("{:016x}", next.fetch_add(1, Ordering::Relaxed));
    axum::http::HeaderValue::try_from(id)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("0"))
}

/// Middleware: gives the request an id, counts it by route template and status, times it,
/// and logs one line for it (`RUST_LOG=info`): method, route, path, status, latency, request
/// id, and for an error answer its code and message. 5xx answers but 503 log at `warn`.
pub async fn track(State(metrics): State<Arc<Metrics>>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".to_string(), |p| p.as_str().to_string());
    // A clone of the URI shares its bytes (no copy on a request that is not logged).
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let id = RequestId::of(&req);
    req.extensions_mut().insert(id.clone());
    let t = Instant::now();
    let mut response = next.run(req).await;
    let elapsed = t.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    metrics.observe_request(&route, status, elapsed);
    let body = response.extensions().get::<ErrorBody>();
    let error = body.map(|b| b.error.code.as_str());
    let why = body.map(|b| b.error.message.as_str());
    let latency_ms = elapsed * 1e3;
    let (path, request_id) = (uri.path(), id.as_str());
    // Talking point: one line per request with its id — what the load balancer's and the
    // client's logs are joined on.
    // A 503 is a deliberate shed (its count is on /metrics): `info`, or an overload would
    // turn into a storm of warnings that costs the CPU the shedding was saving. Other 5xx
    // answers are ours to fix: `warn`.
    if status >= 500 && status != 503 {
        tracing::warn!(target: "mlsd::http", %method, %route, %path, status, latency_ms, %request_id, error, why, "request");
    } else {
        tracing::info!(target: "mlsd::http", %method, %route, %path, status, latency_ms, %request_id, error, why, "request");
    }
    response.headers_mut().insert(REQUEST_ID, id.0);
    response
}

/// How long a runnable task waits for a worker thread right now: the queueing delay every
/// request suffers before any of its code runs.
///
/// Talking point: admission control must see the queue. When handlers are CPU-bound, an
/// overloaded server has few requests *in* its handlers and many waiting to be polled (in
/// the runtime's run queue and the sockets), so an in-flight limit never fills. A probe
/// task that yields and times how long the runtime takes to run it again measures that
/// hidden queue (the same idea as event-loop lag in Node's toobusy).
pub struct QueueDelay {
    /// The latest delay in nanoseconds (microseconds would read a fast yield as 0, and a
    /// sub-microsecond limit would then never shed).
    nanos: std::sync::atomic::AtomicU64,
}

impl QueueDelay {
    /// Spawns the probe on the current runtime: every `every`, one yield, timed.
    pub fn spawn(every: Duration) -> Arc<Self> {
        let probe = Arc::new(QueueDelay {
            nanos: std::sync::atomic::AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&probe);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let t = Instant::now();
                tokio::task::yield_now().await;
                let Some(probe) = weak.upgrade() else { break };
                probe.nanos.store(
                    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
        });
        probe
    }

    /// The latest measured queueing delay.
    pub fn current(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Limits in-flight requests, queueing delay and time per request.
#[derive(Clone)]
pub struct Limits {
    pub in_flight: Arc<Semaphore>,
    pub timeout: Duration,
    /// Shed new requests while the runtime's queueing delay is above this.
    pub max_queue_delay: Option<(Arc<QueueDelay>, Duration)>,
}

/// A 503 for a request we will not serve. Its body (up to 1 MiB) is read and dropped first:
/// an unread body leaves the connection in a state where the server must close it, and the
/// client's next request on it would fail instead of being answered.
async fn overloaded(req: Request, why: String) -> Response {
    let _ = axum::body::to_bytes(req.into_body(), 1 << 20).await;
    ApiError::overloaded(why).into_response()
}

/// Middleware: sheds with 503 when `in_flight` permits are exhausted or the queueing delay is
/// over its limit (no queueing), and answers 503 when a request takes longer than `timeout`
/// (no 200 is ever answered past the budget).
pub async fn shed_and_time_out(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    // Talking point: shed load early — a 503 now beats a timeout after queueing.
    if let Some((probe, max)) = &limits.max_queue_delay {
        let delay = probe.current();
        if delay > *max {
            let why = format!(
                "the server is saturated (queueing delay {:.1} ms); retry later",
                delay.as_secs_f64() * 1e3
            );
            return overloaded(req, why).await;
        }
    }
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        return overloaded(req, "too many requests in flight; retry later".into()).await;
    };
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(limits.timeout, next.run(req)).await {
        // A handler that never yields (CPU work on the worker) finishes past the deadline
        // before the timer can fire: its answer is late all the same, so it is a 503 too.
        // Simplification: the work is done (a scored payment is in the feature store), so a
        // client that retries scores it twice; a production API deduplicates by request id.
        Ok(response) if started.elapsed() <= limits.timeout => response,
        _ => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request exceeded its time budget",
        )
        .into_response(),
    }
}

/// The layers every design's API wears around its routes, outermost first: request metrics,
/// the body-size limit, then shedding and the time budget; unknown routes get a JSON 404.
pub fn with_common_layers<S: Clone + Send + Sync + 'static>(
    routes: axum::Router<S>,
    limits: Limits,
    body_limit: usize,
    metrics: Arc<Metrics>,
) -> axum::Router<S> {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            limits,
            shed_and_time_out,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(metrics, track))
}

/// The body of `GET /health`.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `alive` while the process answers.
    pub status: String,
}

/// Liveness: the process answers (every design's `/health`).
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Alive", body = Health), Shed))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health {
        status: "alive".into(),
    })
}

/// JSON 405 for a known route called with another method (axum's own 405 has no body).
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not answer that method (see /openapi.json)",
    )
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

/// How the micro-batcher gathers concurrent requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroBatchConfig {
    /// Most requests scored together.
    pub max_batch: usize,
    /// Longest a request waits for company after the first one of its batch arrived
    /// (tokio's timer has 1 ms resolution: a small non-zero wait costs about 1 ms).
    pub max_wait: Duration,
    /// Requests queued for the batcher before new ones are shed with 503.
    pub queue_depth: usize,
}

impl Default for MicroBatchConfig {
    fn default() -> Self {
        MicroBatchConfig {
            max_batch: 64,
            // No waiting: a batch is whatever queued up while the worker was busy, so an idle
            // server answers at once and a busy one batches more. A wait (e.g. 500 µs) only
            // pays when a model call has a large fixed cost; `mlsd bench serve
            // --micro-batch-wait-us` measures it.
            max_wait: Duration::ZERO,
            queue_depth: 4096,
        }
    }
}

type Job<I, O> = (I, tokio::sync::oneshot::Sender<O>);

/// Gathers concurrent requests into batches for one worker task.
///
/// Talking point: micro-batching trades a bounded wait (`max_wait`) for throughput — a model
/// that costs a fixed overhead per call (a GPU kernel, a Python hop, a wide matrix product)
/// scores 64 rows for little more than one. It only pays when requests actually overlap;
/// at low load every request waits up to `max_wait` for nobody. `mlsd bench serve` measures
/// both sides.
pub struct MicroBatcher<I, O> {
    queue: tokio::sync::mpsc::Sender<Job<I, O>>,
}

impl<I: Send + 'static, O: Send + 'static> MicroBatcher<I, O> {
    /// Spawns the worker. `work` gets each batch in arrival order and must return one output
    /// per input, in the same order.
    pub fn spawn<F>(config: MicroBatchConfig, metrics: Arc<Metrics>, work: F) -> Self
    where
        F: Fn(Vec<I>) -> Vec<O> + Send + 'static,
    {
        Self::spawn_on(config, metrics, None, work)
    }

    /// [`MicroBatcher::spawn`] whose batches also make one call each to a simulated
    /// `accelerator` (a heavier model's cost; see [`crate::accelerator`]).
    pub fn spawn_on<F>(
        config: MicroBatchConfig,
        metrics: Arc<Metrics>,
        accelerator: Option<Arc<crate::accelerator::Accelerator>>,
        work: F,
    ) -> Self
    where
        F: Fn(Vec<I>) -> Vec<O> + Send + 'static,
    {
        let (queue, mut jobs) = tokio::sync::mpsc::channel::<Job<I, O>>(config.queue_depth.max(1));
        let max_batch = config.max_batch.max(1);
        tokio::spawn(async move {
            while let Some(first) = jobs.recv().await {
                let deadline = tokio::time::Instant::now() + config.max_wait;
                let mut batch = vec![first];
                // What is already queued joins at once; the timer (1 ms resolution in tokio)
                // is only armed when there is room left and a wait was asked for.
                while batch.len() < max_batch {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                while batch.len() < max_batch && !config.max_wait.is_zero() {
                    match tokio::time::timeout_at(deadline, jobs.recv()).await {
                        Ok(Some(job)) => batch.push(job),
                        Ok(None) | Err(_) => break,
                    }
                }
                metrics.observe_batch(batch.len());
                let (inputs, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
                if let Some(device) = &accelerator {
                    // One call for the whole batch: the fixed cost is paid once.
                    // No limit here: the batcher's own bounded queue is the wait.
                    let _ = device.call(inputs.len(), None).await;
                }
                // Simplification: the work runs on this task. It is µs-scale here; a model
                // costing milliseconds would go to a dedicated thread, as the simulated
                // accelerator's calls above do.
                for (reply, output) in replies.into_iter().zip(work(inputs)) {
                    // A client that gave up has dropped its receiver: nothing to do.
                    let _ = reply.send(output);
                }
            }
        });
        MicroBatcher { queue }
    }

    /// Queues `input` and waits for its output; 503 when the queue is full.
    pub async fn submit(&self, input: I) -> Result<O, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.queue
            .try_send((input, reply))
            .map_err(|_| ApiError::overloaded("the micro-batch queue is full; retry later"))?;
        answer
            .await
            .map_err(|_| ApiError::internal("the micro-batch worker returned no answer"))
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

/// How long a keep-alive connection may sit idle (no request started) before the server
/// closes it, unless a caller says otherwise.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then drains in-flight requests.
/// A connection that starts no request within `idle_timeout` (after connecting, or after its
/// last answer) is closed, as is one that takes longer than that to send a request's headers.
///
/// Talking point: idle connections are not free (a socket, a task, buffers): a client that
/// opens thousands and sends nothing is cut off after the idle timeout instead of holding them
/// until it goes away.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    idle_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's header-read timer starts when it waits for the next request's head, so it is
    // the idle timeout too; it needs a timer, which axum::serve does not give it.
    http.timer(TokioTimer::new())
        .header_read_timeout(idle_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(e) => {
                    tracing::warn!(target: "mlsd::serve", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        // The peer's address in every request's extensions (the admin log names it).
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(router.clone(), req)
            });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that hung up or timed out ends its own connection; nothing to report.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A server running on a task of the current runtime (demos, benchmarks, tests).
pub struct Running {
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Binds `addr` (port 0 picks a free port) and serves `router` until [`Running::stop`].
    pub async fn start(addr: std::net::SocketAddr, router: axum::Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, IDLE_TIMEOUT, async {
            let _ = stopped.await;
        }));
        Ok(Running { addr, stop, task })
    }

    /// Stops accepting, drains in-flight requests, and waits for the server to end.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(truncated("short".into(), 10), "short");
        assert_eq!(truncated("ééééé".into(), 3), "ééé…");
        assert_eq!(truncated("x".repeat(900_000), 500).chars().count(), 501);
    }
    use std::sync::Mutex;

    #[test]
    fn integers_are_read_as_json_schema_defines_them() {
        #[derive(serde::Deserialize, Debug)]
        struct Req {
            #[serde(deserialize_with = "whole")]
            id: u32,
            #[serde(default, deserialize_with = "whole_opt")]
            at: Option<i64>,
        }
        let read = |s: &str| serde_json::from_str::<Req>(s).map(|r| (r.id, r.at));
        assert_eq!(read(r#"{"id": 13}"#).ok(), Some((13, None)));
        assert_eq!(
            read(r#"{"id": 13.0, "at": 1.3e1}"#).ok(),
            Some((13, Some(13)))
        );
        assert_eq!(read(r#"{"id": 1, "at": null}"#).ok(), Some((1, None)));
        for bad in [
            r#"{"id": 13.5}"#,
            r#"{"id": -1}"#,
            r#"{"id": 1e300}"#,
            r#"{"id": "13"}"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_media_type_drops_parameters_and_case() {
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(media_type(&headers), "");
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("Application/X-NDJSON ; charset=utf-8"),
        );
        assert_eq!(media_type(&headers), "application/x-ndjson");
    }

    /// Serves `router` with the common layers (a 50 ms budget) and the given idle timeout.
    async fn serve_for_test(router: axum::Router, idle: Duration) -> std::net::SocketAddr {
        let limits = Limits {
            in_flight: Arc::new(Semaphore::new(8)),
            timeout: Duration::from_millis(50),
            max_queue_delay: None,
        };
        let app = with_common_layers(router, limits, 1 << 10, Arc::new(Metrics::new("t")));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(serve(listener, app, idle, std::future::pending()));
        addr
    }

    async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_handler_that_finishes_past_the_budget_answers_503_not_a_late_200() {
        // CPU work that never yields: the timer cannot fire before it returns.
        let slow = axum::routing::get(|| async {
            std::thread::sleep(Duration::from_millis(120));
            "late"
        });
        let fast = axum::routing::get(|| async { "on time" });
        let router = axum::Router::new()
            .route("/slow", slow)
            .route("/fast", fast);
        let addr = serve_for_test(router, IDLE_TIMEOUT).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n");
        let answer = exchange(&mut stream, &get("/slow")).await;
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("\"timeout\""), "{answer}");
        let answer = exchange(&mut stream, &get("/fast")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_connections_are_closed_after_the_idle_timeout() {
        use tokio::io::AsyncReadExt;
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
        let addr = serve_for_test(router, Duration::from_millis(200)).await;
        // Never sends a byte: closed (EOF, or a reset) instead of held open.
        let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await;
        let closed = matches!(read, Ok(Ok(0)) | Ok(Err(_)))
            || matches!(read, Ok(Ok(n)) if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"));
        assert!(closed, "an idle connection was not closed: {read:?}");
        // A used keep-alive connection: answered, then closed once idle.
        let mut used = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let answer = exchange(&mut used, "GET / HTTP/1.1\r\nhost: t\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let read = tokio::time::timeout(Duration::from_secs(10), used.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_)))
                || matches!(read, Ok(Ok(n)) if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408")),
            "an idle keep-alive connection was not closed: {read:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_micro_batcher_groups_concurrent_requests_and_keeps_each_answer() {
        let metrics = Arc::new(Metrics::new("t"));
        let config = MicroBatchConfig {
            max_batch: 8,
            max_wait: Duration::from_millis(50),
            queue_depth: 64,
        };
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let batcher = Arc::new(MicroBatcher::spawn(
            config,
            metrics.clone(),
            move |xs: Vec<u32>| {
                seen.lock().expect("sizes").push(xs.len());
                xs.into_iter().map(|x| x * 10).collect()
            },
        ));
        let calls: Vec<_> = (0..20u32)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { (i, b.submit(i).await) })
            })
            .collect();
        for call in calls {
            let (i, answer) = call.await.expect("task");
            assert_eq!(answer, Ok(i * 10));
        }
        let sizes = sizes.lock().expect("sizes").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 20);
        assert!(sizes.iter().all(|&n| n <= 8), "{sizes:?}");
        // 20 requests at once with a 50 ms wait cannot need 20 batches.
        assert!(sizes.len() < 20, "{sizes:?}");
        let count = format!("t_micro_batch_size_count {}", sizes.len());
        assert!(metrics.render().contains(&count), "{}", metrics.render());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_micro_batch_queue_sheds_with_503() {
        let config = MicroBatchConfig {
            max_batch: 1,
            max_wait: Duration::ZERO,
            queue_depth: 1,
        };
        let gate = Arc::new(std::sync::Barrier::new(2));
        let holding = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (worker_gate, worker_holding) = (gate.clone(), holding.clone());
        let batcher = Arc::new(MicroBatcher::spawn(
            config,
            Arc::new(Metrics::new("t")),
            move |xs: Vec<u32>| {
                // The first batch blocks until the test has filled the queue.
                if xs == [0] {
                    worker_holding.store(true, std::sync::atomic::Ordering::SeqCst);
                    worker_gate.wait();
                }
                xs
            },
        ));
        let first = {
            let b = batcher.clone();
            tokio::spawn(async move { b.submit(0).await })
        };
        while !holding.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        let queued = {
            let b = batcher.clone();
            tokio::spawn(async move { b.submit(1).await })
        };
        while batcher.queue.capacity() > 0 {
            tokio::task::yield_now().await; // until request 1 fills the queue
        }
        let shed = batcher.submit(2).await;
        assert_eq!(
            shed.map_err(|e| e.status),
            Err(StatusCode::SERVICE_UNAVAILABLE)
        );
        gate.wait();
        assert_eq!(first.await.expect("task"), Ok(0));
        assert_eq!(queued.await.expect("task"), Ok(1));
    }
}
