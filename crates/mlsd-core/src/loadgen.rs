//! The project's own load generator: keep-alive HTTP/1.1 over loopback, with
//!
//! - **open loop** at a fixed request rate: request *i* is due at `start + i / rate` whether
//!   or not earlier ones have returned, and when every connection is still busy at its due
//!   time, its latency is measured from when it was *due*, not from when a connection got
//!   round to sending it. That is the correction for coordinated omission (Gil Tene; wrk2):
//!   a closed-loop client that waits for each answer slows down with the server and hides
//!   exactly the stalls that users feel;
//! - **closed loop** at a fixed concurrency: each connection sends as soon as its previous
//!   answer arrived — the way to find the maximum throughput.
//!
//! Latencies go into an HdrHistogram (µs, 3 significant digits). Every run is bounded in
//! request count and in time, and only loopback addresses are accepted.
//!
//! Talking points: p99 rather than the mean, coordinated omission, open vs closed loop,
//! saturation (throughput stops growing, latency explodes) and load shedding (503s).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{Error, Result};

/// Largest response body the client accepts (bytes).
const MAX_BODY: usize = 64 << 20;

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection (loopback only). Understands `Content-Length`
/// bodies, which is what axum sends for JSON and text.
pub struct Client {
    addr: SocketAddr,
    stream: BufReader<TcpStream>,
    /// The server said `Connection: close`: open a new connection before the next request.
    closed: bool,
}

fn io_error(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// Refuses any target that is not on this machine.
pub fn ensure_loopback(addr: SocketAddr) -> Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "the load generator only targets loopback addresses, not {addr}"
        )))
    }
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Result<Self> {
        ensure_loopback(addr)?;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
        Ok(Client {
            addr,
            stream: BufReader::new(stream),
            closed: false,
        })
    }

    /// False once the server has announced it closes this connection.
    pub fn is_open(&self) -> bool {
        !self.closed
    }

    /// Sends one request and reads the answer. `body` is sent as JSON when given.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<Response> {
        self.request_as(method, path, "application/json", body)
            .await
    }

    /// [`Client::request`] with another body type (e.g. `application/x-ndjson`).
    pub async fn request_as(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&[u8]>,
    ) -> std::io::Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        if let Some(body) = body {
            stream.write_all(body).await?;
        }

        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(io_error("connection closed before the status line"));
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io_error(format!("bad status line {line:?}")))?;
        let mut length = None;
        for _ in 0..100 {
            line.clear();
            self.stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
                // A server that answers before reading a request's body (a 503 from load
                // shedding) closes the connection after the answer.
                if name.eq_ignore_ascii_case("connection")
                    && value.trim().eq_ignore_ascii_case("close")
                {
                    self.closed = true;
                }
            }
        }
        let length = length.ok_or_else(|| io_error("answer without Content-Length"))?;
        if length > MAX_BODY {
            return Err(io_error(format!("answer of {length} bytes is too large")));
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(Response { status, body })
    }
}

/// Opens `GET path` as a Server-Sent-Events stream and returns the first `events` events as
/// (event name, data), or what arrived when `within` runs out. The connection is closed after.
///
/// Simplification: a line-based reader — enough for servers that write each event in one
/// chunk (axum does); it does not reassemble events split across chunks.
pub async fn read_sse(
    addr: SocketAddr,
    path: &str,
    events: usize,
    within: Duration,
) -> Result<Vec<(String, String)>> {
    ensure_loopback(addr)?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::io(format!("connecting to {addr}"), e))?;
    let mut stream = BufReader::new(stream);
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream
        .get_mut()
        .write_all(head.as_bytes())
        .await
        .map_err(|e| Error::io(format!("GET {path}"), e))?;
    let mut out = Vec::new();
    let read = async {
        let mut line = String::new();
        let mut name = String::from("message");
        let mut status_checked = false;
        while out.len() < events {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                break;
            }
            let l = line.trim_end();
            if !status_checked {
                status_checked = true;
                if !l.contains(" 200 ") {
                    return Err(io_error(format!("not an event stream: {l}")));
                }
            }
            if let Some(n) = l.strip_prefix("event:") {
                name = n.trim().to_string();
            } else if let Some(d) = l.strip_prefix("data:") {
                out.push((
                    std::mem::replace(&mut name, "message".into()),
                    d.trim().to_string(),
                ));
            }
        }
        std::io::Result::Ok(())
    };
    // When the time bound passes first, what arrived is the answer.
    if let Ok(r) = tokio::time::timeout(within, read).await {
        r.map_err(|e| Error::io(format!("reading events of {path}"), e))?;
    }
    Ok(out)
}

/// What to send: paths and bodies are used in turn (request *i* goes to
/// `paths[i % paths.len()]` with `bodies[i % bodies.len()]`; no bodies: no body).
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub method: &'static str,
    pub paths: Arc<Vec<String>>,
    pub bodies: Arc<Vec<Vec<u8>>>,
}

impl Target {
    /// POSTs of `bodies`, in turn, to one path.
    pub fn post(addr: SocketAddr, path: &str, bodies: Arc<Vec<Vec<u8>>>) -> Self {
        Target {
            addr,
            method: "POST",
            paths: Arc::new(vec![path.to_string()]),
            bodies,
        }
    }

    /// GETs of `paths`, in turn.
    pub fn get(addr: SocketAddr, paths: Arc<Vec<String>>) -> Self {
        Target {
            addr,
            method: "GET",
            paths,
            bodies: Arc::new(Vec::new()),
        }
    }
}

/// How to send it. Every variant is bounded by `max_requests` and `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Fixed rate (requests/s) over `connections` keep-alive connections.
    Open {
        rate: f64,
        duration: Duration,
        connections: usize,
    },
    /// Each of `concurrency` connections sends back to back.
    Closed {
        concurrency: usize,
        duration: Duration,
        max_requests: usize,
    },
}

/// One request's fate, kept when the caller asks for outcomes.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Request number (its position in the schedule).
    pub index: usize,
    /// HTTP status, or 0 when the connection failed.
    pub status: u16,
    pub body: Vec<u8>,
    /// Latency in ms (open loop: from the due time when every connection was busy then).
    pub latency_ms: f64,
}

/// Summary of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// "open" or "closed".
    pub kind: &'static str,
    /// Requested rate (open loop) or concurrency (closed loop).
    pub offered: f64,
    pub sent: usize,
    /// 2xx answers.
    pub ok: usize,
    /// 503 answers (shed or timed out by the server).
    pub shed: usize,
    /// Any other status, or a failed connection.
    pub errors: usize,
    /// The errors by HTTP status (0: the connection failed).
    pub error_statuses: std::collections::BTreeMap<u16, usize>,
    /// Requests due in the schedule but never sent because the time bound hit first.
    pub unsent: usize,
    pub seconds: f64,
    /// Answered requests per second, whatever the status.
    pub rps: f64,
    /// 2xx answers per second (goodput).
    pub ok_rps: f64,
    /// Latency percentiles of the 2xx answers (accepted requests).
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    /// p99 latency of the 503 answers: how fast a shed request learns it was shed.
    pub shed_p99_ms: f64,
}

struct Shared {
    next: AtomicUsize,
    histogram: Mutex<Histogram<u64>>,
    shed_histogram: Mutex<Histogram<u64>>,
    counts: Mutex<(usize, usize, usize, usize)>, // sent, ok, shed, errors
    error_statuses: Mutex<std::collections::BTreeMap<u16, usize>>,
    outcomes: Option<Mutex<Vec<Outcome>>>,
}

impl Shared {
    fn record(&self, index: usize, response: std::io::Result<Response>, latency: Duration) {
        let status = response.as_ref().map_or(0, |r| r.status);
        {
            let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            c.0 += 1;
            match status {
                200..=299 => c.1 += 1,
                503 => c.2 += 1,
                _ => {
                    c.3 += 1;
                    *self
                        .error_statuses
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(status)
                        .or_default() += 1;
                }
            }
        }
        let micros = (latency.as_micros() as u64).max(1);
        let histogram = match status {
            200..=299 => Some(&self.histogram),
            503 => Some(&self.shed_histogram),
            _ => None,
        };
        if let Some(h) = histogram {
            // `saturating_record` clamps values above the histogram's range instead of failing.
            h.lock()
                .unwrap_or_else(|p| p.into_inner())
                .saturating_record(micros);
        }
        if let Some(outcomes) = &self.outcomes {
            outcomes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Outcome {
                    index,
                    status,
                    body: response.map(|r| r.body).unwrap_or_default(),
                    latency_ms: latency.as_secs_f64() * 1e3,
                });
        }
    }
}

/// Runs `load` against `target`. With `keep_outcomes`, every answer is returned too
/// (sorted by request number).
pub async fn run(
    target: &Target,
    load: Load,
    keep_outcomes: bool,
) -> Result<(LoadReport, Vec<Outcome>)> {
    ensure_loopback(target.addr)?;
    if target.paths.is_empty() {
        return Err(Error::Config(
            "the load generator needs at least one request path".into(),
        ));
    }
    let histogram = Histogram::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| Error::Config(format!("histogram: {e}")))?;
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        histogram: Mutex::new(histogram.clone()),
        shed_histogram: Mutex::new(histogram),
        counts: Mutex::new((0, 0, 0, 0)),
        error_statuses: Mutex::new(Default::default()),
        outcomes: keep_outcomes.then(|| Mutex::new(Vec::new())),
    });
    let (workers, total, duration, interval, kind, offered) = match load {
        Load::Open {
            rate,
            duration,
            connections,
        } => {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(Error::Config(format!("rate must be > 0, got {rate}")));
            }
            let total = (rate * duration.as_secs_f64()).ceil() as usize;
            (
                connections.max(1),
                total,
                duration,
                Some(1.0 / rate),
                "open",
                rate,
            )
        }
        Load::Closed {
            concurrency,
            duration,
            max_requests,
        } => (
            concurrency.max(1),
            max_requests,
            duration,
            None,
            "closed",
            concurrency as f64,
        ),
    };
    let start = Instant::now();
    // A run ends when its schedule is done or, at the latest, this long after it started.
    let hard_stop = start + duration + duration.max(Duration::from_secs(1));
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let shared = shared.clone();
        let target = target.clone();
        handles.push(tokio::spawn(async move {
            let mut client = Client::connect(target.addr).await.ok();
            loop {
                let index = shared.next.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                if index >= total
                    || now >= hard_stop
                    || (interval.is_none() && now >= start + duration)
                {
                    break;
                }
                let due = match interval {
                    Some(gap) => {
                        let due = start + Duration::from_secs_f64(gap * index as f64);
                        if now < due {
                            // This connection was idle: the request leaves on time, and any
                            // lateness of the wake-up (tokio's timer has 1 ms resolution) is
                            // the generator's, not the server's, so timing starts at sending.
                            tokio::time::sleep_until(due).await;
                            Instant::now()
                        } else {
                            // Talking point: coordinated omission — every connection was busy
                            // when the request was due: the wait is the server's doing, and
                            // counts.
                            due
                        }
                    }
                    None => Instant::now(),
                };
                if client.is_none() {
                    client = Client::connect(target.addr).await.ok();
                }
                let path = &target.paths[index % target.paths.len()];
                let body = (!target.bodies.is_empty())
                    .then(|| target.bodies[index % target.bodies.len()].as_slice());
                let response = match client.as_mut() {
                    Some(c) => c.request(target.method, path, body).await,
                    None => Err(io_error("could not connect")),
                };
                if response.is_err() || client.as_ref().is_some_and(|c| !c.is_open()) {
                    client = None; // reconnect for the next request
                }
                shared.record(index, response, due.elapsed());
            }
        }));
    }
    for handle in handles {
        handle
            .await
            .map_err(|e| Error::Config(format!("load worker failed: {e}")))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let (sent, ok, shed, errors) = *shared.counts.lock().unwrap_or_else(|p| p.into_inner());
    let h = shared.histogram.lock().unwrap_or_else(|p| p.into_inner());
    let shed_p99_ms = {
        let shed = shared
            .shed_histogram
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if shed.is_empty() {
            0.0
        } else {
            shed.value_at_quantile(0.99) as f64 / 1e3
        }
    };
    let ms = |q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1e3
        }
    };
    let report = LoadReport {
        kind,
        offered,
        sent,
        ok,
        shed,
        errors,
        error_statuses: shared
            .error_statuses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        unsent: if interval.is_some() {
            total.saturating_sub(sent)
        } else {
            0
        },
        seconds,
        rps: sent as f64 / seconds.max(1e-9),
        ok_rps: ok as f64 / seconds.max(1e-9),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1e3
        },
        shed_p99_ms,
    };
    drop(h);
    let mut outcomes = match Arc::try_unwrap(shared) {
        Ok(s) => s
            .outcomes
            .map(|o| o.into_inner().unwrap_or_else(|p| p.into_inner()))
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    outcomes.sort_by_key(|o| o.index);
    Ok((report, outcomes))
}

/// One way of serving the same traffic, for [`compare_modes`].
#[derive(Clone)]
pub struct ModeTarget {
    /// "realtime", "microbatch" or "batch".
    pub mode: &'static str,
    pub target: Target,
    /// Rows (payments, texts, users) per request: 1, or the batch size.
    pub rows_per_request: usize,
}

/// What [`compare_modes`] runs for every mode. Every run is bounded by `step` and by
/// `max_requests`.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    /// Closed-loop concurrencies: the throughput curve and its maximum.
    pub concurrency: Vec<usize>,
    /// The offered load every mode is compared at, in rows/s (e.g. 1,000 payments/s).
    pub reference_rows_per_s: f64,
    /// Open-loop runs at these fractions of the mode's maximum throughput (1.0 = saturation;
    /// 2.0 = overload).
    pub saturation_fractions: Vec<f64>,
    pub step: Duration,
    pub max_requests: usize,
    /// Connections for open-loop runs (enough to keep the schedule when answers are slow).
    pub connections: usize,
}

/// One mode's results: the headline numbers and every run behind them.
#[derive(Debug, Clone, Serialize)]
pub struct ModeResult {
    pub mode: &'static str,
    pub rows_per_request: usize,
    /// Maximum goodput (2xx answers/s) over the closed-loop sweep.
    pub rps: f64,
    /// The same in rows/s.
    pub rows_per_s: f64,
    /// Latency at the reference load (open loop, corrected for coordinated omission).
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Errors and 503s summed over all runs of this mode.
    pub errors: usize,
    pub shed: usize,
    pub closed_loop: Vec<LoadReport>,
    pub reference: LoadReport,
    pub open_loop: Vec<LoadReport>,
    /// The reference load again, a second after the heaviest open-loop run: does it recover?
    pub recovery: LoadReport,
}

/// Runs `plan` against each mode in turn: the closed-loop sweep, the reference load, then
/// open-loop runs relative to the saturation the sweep found.
pub async fn compare_modes(
    modes: &[ModeTarget],
    plan: &SweepPlan,
    mut progress: impl FnMut(&str),
) -> Result<Vec<ModeResult>> {
    let mut results = Vec::with_capacity(modes.len());
    for m in modes {
        let mut closed_loop = Vec::new();
        for &concurrency in &plan.concurrency {
            progress(&format!(
                "{}: {concurrency} connections, closed loop",
                m.mode
            ));
            let load = Load::Closed {
                concurrency,
                duration: plan.step,
                max_requests: plan.max_requests,
            };
            closed_loop.push(run(&m.target, load, false).await?.0);
        }
        let best = closed_loop
            .iter()
            .map(|r| r.ok_rps)
            .fold(0.0f64, f64::max)
            .max(1.0);
        let open = |rate: f64| Load::Open {
            rate,
            duration: plan
                .step
                .min(Duration::from_secs_f64(plan.max_requests as f64 / rate)),
            connections: plan.connections,
        };
        // A second without load after the sweep, so its backlog does not leak into the
        // reference run.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let reference_rate = plan.reference_rows_per_s / m.rows_per_request.max(1) as f64;
        progress(&format!("{}: {reference_rate:.0} req/s, open loop", m.mode));
        let reference = run(&m.target, open(reference_rate), false).await?.0;
        let mut open_loop = Vec::new();
        for &fraction in &plan.saturation_fractions {
            let rate = best * fraction;
            progress(&format!(
                "{}: {rate:.0} req/s ({fraction}× saturation)",
                m.mode
            ));
            open_loop.push(run(&m.target, open(rate), false).await?.0);
        }
        // The load stops for a second, then the reference load again.
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress(&format!(
            "{}: recovery at {reference_rate:.0} req/s",
            m.mode
        ));
        let recovery = run(&m.target, open(reference_rate), false).await?.0;
        let all = || {
            closed_loop
                .iter()
                .chain(open_loop.iter())
                .chain([&reference, &recovery])
        };
        results.push(ModeResult {
            mode: m.mode,
            rows_per_request: m.rows_per_request,
            rps: best,
            rows_per_s: best * m.rows_per_request as f64,
            p50_ms: reference.p50_ms,
            p99_ms: reference.p99_ms,
            errors: all().map(|r| r.errors).sum(),
            shed: all().map(|r| r.shed).sum(),
            closed_loop,
            reference,
            open_loop,
            recovery,
        });
    }
    Ok(results)
}

/// Latency against throughput per mode, as charts: the closed-loop sweep (p99 vs achieved
/// rows/s) and the open-loop runs (p99 of accepted requests vs offered rows/s).
pub fn charts(design: &str, results: &[ModeResult]) -> Vec<(&'static str, crate::plot::Chart)> {
    use crate::plot::{Chart, Series};
    // Closed-loop points stay in concurrency order (the curve a rising load draws); open-loop
    // points are sorted by offered load.
    let series = |pick: &dyn Fn(&ModeResult) -> Vec<(f64, f64)>, sort: bool| -> Vec<Series> {
        results
            .iter()
            .map(|m| {
                let mut points = pick(m);
                if sort {
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                Series {
                    name: if m.rows_per_request == 1 {
                        m.mode.to_string()
                    } else {
                        format!("{} ({} rows per request)", m.mode, m.rows_per_request)
                    },
                    points,
                }
            })
            .collect()
    };
    let closed = series(
        &|m| {
            m.closed_loop
                .iter()
                .map(|r| (r.ok_rps * m.rows_per_request as f64, r.p99_ms))
                .collect()
        },
        false,
    );
    let open = series(
        &|m| {
            m.open_loop
                .iter()
                .chain([&m.reference])
                .map(|r| (r.offered * m.rows_per_request as f64, r.p99_ms))
                .collect()
        },
        true,
    );
    vec![
        (
            "latency_closed_loop",
            Chart {
                title: format!(
                    "{design}: p99 latency vs throughput, closed loop (1-64 connections)"
                ),
                x_label: "answered rows/s (2xx)".into(),
                y_label: "p99 latency, ms (log)".into(),
                log_y: true,
                series: closed,
            },
        ),
        (
            "latency_open_loop",
            Chart {
                title: format!("{design}: p99 latency vs offered load, open loop"),
                x_label: "offered rows/s".into(),
                y_label: "p99 latency of accepted requests, ms (log)".into(),
                log_y: true,
                series: open,
            },
        ),
    ]
}

/// Every run of every mode as CSV rows (one header), for spreadsheets and plots.
pub fn to_csv(results: &[ModeResult]) -> String {
    let mut out = String::from(
        "mode,run,kind,offered,rows_per_request,sent,ok,shed,errors,unsent,seconds,rps,ok_rps,ok_rows_per_s,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,shed_p99_ms\n",
    );
    for m in results {
        let runs = m
            .closed_loop
            .iter()
            .map(|r| ("sweep", r))
            .chain([("reference", &m.reference)])
            .chain(m.open_loop.iter().map(|r| ("saturation", r)))
            .chain([("recovery", &m.recovery)]);
        for (name, r) in runs {
            out.push_str(&format!(
                "{},{name},{},{:.1},{},{},{},{},{},{},{:.3},{:.1},{:.1},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}\n",
                m.mode,
                r.kind,
                r.offered,
                m.rows_per_request,
                r.sent,
                r.ok,
                r.shed,
                r.errors,
                r.unsent,
                r.seconds,
                r.rps,
                r.ok_rps,
                r.ok_rps * m.rows_per_request as f64,
                r.p50_ms,
                r.p90_ms,
                r.p99_ms,
                r.p999_ms,
                r.max_ms,
                r.shed_p99_ms
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/echo",
            post(|body: String| async move {
                if body.contains("fail") {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, body)
                } else {
                    (axum::http::StatusCode::OK, body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[test]
    fn only_loopback_is_a_target() {
        assert!(ensure_loopback("127.0.0.1:80".parse().expect("addr")).is_ok());
        assert!(ensure_loopback("[::1]:80".parse().expect("addr")).is_ok());
        assert!(ensure_loopback("10.0.0.1:80".parse().expect("addr")).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_loop_sends_the_schedule_and_counts_every_answer() {
        let addr = echo_server().await;
        let target = Target::post(
            addr,
            "/echo",
            Arc::new(vec![b"a".to_vec(), b"b".to_vec(), b"fail".to_vec()]),
        );
        let load = Load::Open {
            rate: 300.0,
            duration: Duration::from_millis(200),
            connections: 4,
        };
        let (report, outcomes) = run(&target, load, true).await.expect("run");
        assert_eq!(report.sent, 60);
        assert_eq!(report.unsent, 0);
        assert_eq!((report.ok, report.shed, report.errors), (40, 20, 0));
        assert_eq!(outcomes.len(), 60);
        // Answers line up with the bodies sent, through keep-alive connections.
        for o in &outcomes {
            let sent = &target.bodies[o.index % 3];
            assert_eq!(&o.body, sent);
        }
        assert!(report.p50_ms > 0.0 && report.p50_ms <= report.p99_ms);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_loop_stops_at_its_request_bound() {
        let addr = echo_server().await;
        let target = Target::post(addr, "/echo", Arc::new(vec![b"x".to_vec()]));
        let load = Load::Closed {
            concurrency: 3,
            duration: Duration::from_secs(10),
            max_requests: 50,
        };
        let (report, outcomes) = run(&target, load, false).await.expect("run");
        assert_eq!((report.sent, report.ok), (50, 50));
        assert!(outcomes.is_empty());
    }
}
