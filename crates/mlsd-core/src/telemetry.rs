//! Service metrics in the Prometheus text format (`GET /metrics`), by Prometheus' naming
//! conventions: counters end in `_total`, durations are seconds, rates are left to PromQL
//! (`rate()`, a ratio of two counters), and the process metrics every client library exports
//! come with them.
//!
//! Talking points: monitoring — requests by route and status, latency per route with buckets
//! from 10 µs (most requests here take ~50 µs: buckets that start at 100 µs make every p99 an
//! interpolation artefact), the score distribution, micro-batch sizes, the model version;
//! recording costs one short lock per request on its own route's statistics, not one lock
//! over every metric.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// Latency buckets (seconds): 10 µs … 2.5 s.
const LATENCY_BUCKETS: [f64; 17] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];

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

    /// The series of one histogram; `labels` is `""` or `route="/x",` (with the comma).
    fn render_series(&self, name: &str, labels: &str, out: &mut String) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            out.push_str(&format!("{name}_bucket{{{labels}le=\"{b}\"}} {c}\n"));
        }
        out.push_str(&format!(
            "{name}_bucket{{{labels}le=\"+Inf\"}} {}\n",
            self.count
        ));
        let plain = labels.trim_end_matches(',');
        let braces = |s: &str| {
            if s.is_empty() {
                String::new()
            } else {
                format!("{{{s}}}")
            }
        };
        out.push_str(&format!(
            "{name}_sum{} {}\n{name}_count{} {}\n",
            braces(plain),
            self.sum,
            braces(plain),
            self.count
        ));
    }
}

impl Metrics {
    /// Shadow and canary: each version's rows, score distribution and scoring time.
    fn render_versions(&self, out: &mut String) {
        let p = &self.prefix;
        let versions = lock(&self.versions);
        if versions.is_empty() {
            return;
        }
        let rows = format!("{p}_version_rows_total");
        header(
            out,
            &rows,
            "counter",
            "Rows scored by each model version, by role (primary, shadow, canary).",
        );
        for (version, role, s) in versions
            .iter()
            .flat_map(|(v, roles)| roles.iter().map(move |(r, s)| (v, r, s)))
        {
            out.push_str(&format!(
                "{rows}{{version=\"{version}\",role=\"{role}\"}} {}\n",
                s.rows
            ));
        }
        let scores = format!("{p}_version_score");
        header(
            out,
            &scores,
            "histogram",
            "Scores of each model version, by role.",
        );
        for (version, role, s) in versions
            .iter()
            .flat_map(|(v, roles)| roles.iter().map(move |(r, s)| (v, r, s)))
        {
            s.scores.render_series(
                &scores,
                &format!("version=\"{version}\",role=\"{role}\","),
                out,
            );
        }
        let seconds = format!("{p}_version_scoring_seconds");
        header(
            out,
            &seconds,
            "histogram",
            "Time of each scoring call, by model version and role.",
        );
        for (version, role, s) in versions
            .iter()
            .flat_map(|(v, roles)| roles.iter().map(move |(r, s)| (v, r, s)))
        {
            s.seconds.render_series(
                &seconds,
                &format!("version=\"{version}\",role=\"{role}\","),
                out,
            );
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
}

/// One route's requests by status and its latency.
struct RouteStats {
    statuses: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// Service metrics, rendered in the Prometheus text format at `/metrics`.
pub struct Metrics {
    prefix: String,
    routes: RwLock<BTreeMap<String, Arc<Mutex<RouteStats>>>>,
    scores: Mutex<Histogram>,
    batch_sizes: Mutex<Histogram>,
    /// name → (kind, help, value): gauges set by the design, counters it keeps itself.
    values: Mutex<BTreeMap<String, (&'static str, String, f64)>>,
    /// Stage of a request (e.g. a feed's retrieve / rank / re-rank) → its latency.
    stages: Mutex<BTreeMap<&'static str, Histogram>>,
    model_version: Mutex<String>,
    /// (version, role) → rows scored, their scores and the scoring time per call.
    /// Keyed by version, then role: a call for a version already seen allocates nothing.
    versions: Mutex<BTreeMap<String, BTreeMap<&'static str, VersionStats>>>,
    /// When these metrics started: `<prefix>_uptime_seconds`, the clock the dashboard divides
    /// counter increases by (the browser's own clock is throttled in background tabs and
    /// virtual in a headless test).
    started: std::time::Instant,
}

struct VersionStats {
    rows: u64,
    scores: Histogram,
    seconds: Histogram,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn new(prefix: &str) -> Self {
        Metrics {
            prefix: prefix.to_string(),
            routes: RwLock::new(BTreeMap::new()),
            scores: Mutex::new(Histogram::new(
                (1..=10).map(|i| f64::from(i) / 10.0).collect(),
            )),
            batch_sizes: Mutex::new(Histogram::new(
                (0..=10).map(|i| f64::from(1u32 << i)).collect(),
            )),
            values: Mutex::new(BTreeMap::new()),
            stages: Mutex::new(BTreeMap::new()),
            model_version: Mutex::new(String::new()),
            versions: Mutex::new(BTreeMap::new()),
            started: std::time::Instant::now(),
        }
    }

    fn route(&self, route: &str) -> Arc<Mutex<RouteStats>> {
        if let Some(stats) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return stats.clone();
        }
        self.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(RouteStats {
                    statuses: BTreeMap::new(),
                    latency: Histogram::new(LATENCY_BUCKETS.to_vec()),
                }))
            })
            .clone()
    }

    /// One answered request: its route template, status and server-side seconds.
    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        let stats = self.route(route);
        let mut stats = lock(&stats);
        *stats.statuses.entry(status).or_insert(0) += 1;
        stats.latency.observe(seconds);
    }

    pub fn observe_score(&self, score: f64) {
        lock(&self.scores).observe(score);
    }

    /// Size of one micro-batch the model scored together.
    pub fn observe_batch(&self, size: usize) {
        lock(&self.batch_sizes).observe(size as f64);
    }

    /// One stage of a request took `seconds` (`<prefix>_stage_duration_seconds{stage=…}`):
    /// where the time of a multi-stage route goes.
    pub fn observe_stage(&self, stage: &'static str, seconds: f64) {
        lock(&self.stages)
            .entry(stage)
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS.to_vec()))
            .observe(seconds);
    }

    /// Sets `<prefix>_<name>` (e.g. the latest drift share) to `value`.
    pub fn set_gauge(&self, name: &str, help: &str, value: f64) {
        lock(&self.values).insert(name.to_string(), ("gauge", help.to_string(), value));
    }

    /// Publishes `<prefix>_<name>`, a counter the caller keeps (it only grows); `name` ends
    /// in `_total`.
    pub fn set_counter(&self, name: &str, help: &str, value: f64) {
        lock(&self.values).insert(name.to_string(), ("counter", help.to_string(), value));
    }

    /// Adds `by` to the counter `<prefix>_<name>` (created at 0); `name` ends in `_total`.
    /// Allocates only when the counter is new: handlers call it on every request.
    pub fn add_counter(&self, name: &str, help: &str, by: f64) {
        let mut values = lock(&self.values);
        match values.get_mut(name) {
            Some(entry) => entry.2 += by,
            None => {
                values.insert(name.to_string(), ("counter", help.to_string(), by));
            }
        }
    }

    /// One scoring call of `version` in `role` (`primary`, `shadow`, `canary`): its scores
    /// and how long it took.
    pub fn observe_version(&self, version: &str, role: &'static str, scores: &[f64], seconds: f64) {
        self.with_version(version, role, |stats| {
            stats.rows += scores.len() as u64;
            for &s in scores {
                stats.scores.observe(s);
            }
            stats.seconds.observe(seconds);
        });
    }

    /// One call of `version` in `role` that answered `rows` without a score each (a page of
    /// ranked articles): counted with the scoring calls, its score histogram left alone.
    pub fn observe_version_rows(&self, version: &str, role: &'static str, rows: u64, seconds: f64) {
        self.with_version(version, role, |stats| {
            stats.rows += rows;
            stats.seconds.observe(seconds);
        });
    }

    fn with_version(
        &self,
        version: &str,
        role: &'static str,
        update: impl FnOnce(&mut VersionStats),
    ) {
        let mut versions = lock(&self.versions);
        if !versions.contains_key(version) {
            versions.insert(version.to_string(), BTreeMap::new());
        }
        let Some(roles) = versions.get_mut(version) else {
            return;
        };
        update(roles.entry(role).or_insert_with(|| VersionStats {
            rows: 0,
            scores: Histogram::new((1..=10).map(|i| f64::from(i) / 10.0).collect()),
            seconds: Histogram::new(LATENCY_BUCKETS.to_vec()),
        }));
    }

    pub fn set_model_version(&self, version: &str) {
        *lock(&self.model_version) = version.to_string();
    }

    pub fn render(&self) -> String {
        let p = &self.prefix;
        let mut out = String::new();
        let routes: Vec<(String, Arc<Mutex<RouteStats>>)> = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(r, s)| (r.clone(), s.clone()))
            .collect();
        let name = format!("{p}_requests_total");
        header(&mut out, &name, "counter", "Requests by route and status.");
        for (route, stats) in &routes {
            for (status, n) in &lock(stats).statuses {
                out.push_str(&format!(
                    "{name}{{route=\"{route}\",status=\"{status}\"}} {n}\n"
                ));
            }
        }
        let name = format!("{p}_request_duration_seconds");
        header(
            &mut out,
            &name,
            "histogram",
            "Server-side request latency by route.",
        );
        for (route, stats) in &routes {
            let labels = format!("route=\"{route}\",");
            lock(stats).latency.render_series(&name, &labels, &mut out);
        }
        let name = format!("{p}_score");
        header(
            &mut out,
            &name,
            "histogram",
            "Distribution of returned scores.",
        );
        lock(&self.scores).render_series(&name, "", &mut out);
        let name = format!("{p}_micro_batch_size");
        header(
            &mut out,
            &name,
            "histogram",
            "Requests scored together by the micro-batcher.",
        );
        lock(&self.batch_sizes).render_series(&name, "", &mut out);
        let stages = lock(&self.stages);
        if !stages.is_empty() {
            let name = format!("{p}_stage_duration_seconds");
            header(
                &mut out,
                &name,
                "histogram",
                "Latency of each stage of a request.",
            );
            for (stage, h) in stages.iter() {
                h.render_series(&name, &format!("stage=\"{stage}\","), &mut out);
            }
        }
        drop(stages);
        self.render_versions(&mut out);
        for (name, (kind, help, value)) in lock(&self.values).iter() {
            header(&mut out, &format!("{p}_{name}"), kind, help);
            out.push_str(&format!("{p}_{name} {value}\n"));
        }
        let name = format!("{p}_model_info");
        header(&mut out, &name, "gauge", "The model version serving.");
        out.push_str(&format!(
            "{name}{{version=\"{}\"}} 1\n",
            lock(&self.model_version)
        ));
        let name = format!("{p}_uptime_seconds");
        header(
            &mut out,
            &name,
            "gauge",
            "Seconds since the server started (monotonic clock), read with the counters.",
        );
        out.push_str(&format!(
            "{name} {}\n",
            self.started.elapsed().as_secs_f64()
        ));
        render_process(&mut out);
        out
    }
}

/// The process metrics Prometheus' client libraries export (`process_…`), from `/proc` on
/// Linux; nothing elsewhere.
fn render_process(out: &mut String) {
    // The kernel reports /proc times in USER_HZ ticks, 100 a second on Linux's mainstream
    // architectures whatever the scheduler's own tick rate.
    const USER_HZ: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may hold spaces) start at field 3 ("state").
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        header(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        out.push_str(&format!(
            "process_cpu_seconds_total {}\n",
            (utime + stime) / USER_HZ
        ));
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    });
    if let (Some(start), Some(boot)) = (field(22), boot) {
        header(
            out,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        out.push_str(&format!(
            "process_start_time_seconds {}\n",
            boot + start / USER_HZ
        ));
    }
    let rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        });
    if let Some(kb) = rss_kb {
        header(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        out.push_str(&format!("process_resident_memory_bytes {}\n", kb * 1024.0));
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        header(
            out,
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        out.push_str(&format!("process_open_fds {}\n", fds.count()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_per_route_and_counters_and_buckets_follow_the_conventions() {
        let m = Metrics::new("t");
        m.observe_request("/a", 200, 0.00003);
        m.observe_request("/a", 422, 0.002);
        m.observe_request("/b", 200, 0.5);
        m.set_counter("cache_hits_total", "Hits.", 3.0);
        let text = m.render();
        for expected in [
            "# TYPE t_requests_total counter",
            "t_requests_total{route=\"/a\",status=\"422\"} 1",
            "t_request_duration_seconds_bucket{route=\"/a\",le=\"0.00005\"} 1",
            "t_request_duration_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2",
            "t_request_duration_seconds_count{route=\"/b\"} 1",
            "# TYPE t_cache_hits_total counter",
            "t_cache_hits_total 3",
            "t_score_count 0",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        #[cfg(target_os = "linux")]
        for expected in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }
}
