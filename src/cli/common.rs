//! What every command shares: argument parsers, the runtime, the spinner, the server limits
//! and the serve loop.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mlsd_core::server::ServerConfig;

/// `http://127.0.0.1:8081` (or `127.0.0.1:8081`) → a loopback socket address; anything else is
/// refused: the load generator never targets another machine.
pub fn loopback_url(s: &str) -> Result<std::net::SocketAddr, String> {
    let host = s
        .strip_prefix("http://")
        .unwrap_or(s)
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    let addr: std::net::SocketAddr = host
        .parse()
        .map_err(|_| format!("{s:?} is not http://<loopback ip>:<port>"))?;
    mlsd_core::loadgen::ensure_loopback(addr).map_err(|e| e.to_string())?;
    Ok(addr)
}

/// Where a server keeps its online state: the flags every design with live state shares.
#[derive(Args)]
pub struct StateArgs {
    /// Where online state lives: `memory` (this process) or a Redis URL
    /// (`redis://127.0.0.1:6379`, shared by every replica given the same URL).
    #[arg(long, default_value = "memory", env = "MLSD_STATE")]
    state: String,
    /// The budget of one round trip to the state store, in ms; past it the request is shed
    /// with 503 (state_unavailable) instead of holding the time budget hostage.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    state_timeout_ms: u64,
}

impl StateArgs {
    /// The backend, with `design`'s key prefix.
    pub fn backend(&self, design: &str) -> Result<mlsd_core::online_state::StateBackend> {
        mlsd_core::online_state::StateBackend::parse(
            &self.state,
            design,
            Duration::from_millis(self.state_timeout_ms),
        )
        .map_err(anyhow::Error::msg)
    }
}

/// A count that must be at least 1 (batch sizes, workers).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("expected a whole number ≥ 1, got {s:?}")),
    }
}

/// `--fail-on-drift` found drift: the command did its work, and says so with exit status 2
/// (errors exit 1), so cron or CI can act on it.
#[derive(Debug)]
pub struct DriftFound {
    /// Share of drifted features.
    pub share: f64,
}

impl std::fmt::Display for DriftFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "dataset drift found ({:.0} % of features drifted)",
            100.0 * self.share
        )
    }
}

impl std::error::Error for DriftFound {}

/// A limit in milliseconds where 0 means off.
pub fn millis_or_off(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// A multi-threaded tokio runtime whose threads are named `name`.
pub fn runtime(name: &str) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .build()
        .with_context(|| format!("while starting the {name} runtime"))
}

/// A spinner on stderr (hidden when stderr is not a terminal or output is JSON).
pub fn spinner(hidden: bool) -> ProgressBar {
    let bar = if hidden {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Overload protection, the same for every design's server.
#[derive(Args)]
pub struct LimitsArgs {
    /// Requests in flight before new ones are shed with 503.
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// Time budget per request, in milliseconds (503 when exceeded).
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Shed new requests with 503 while the runtime's queueing delay exceeds this many
    /// milliseconds (CPU saturation that the in-flight limit cannot see); 0 turns it off.
    #[arg(long, default_value_t = 100)]
    pub max_queue_delay_ms: u64,
    /// A file holding the token the admin routes (promote, rollback) require as
    /// `Authorization: Bearer <token>`; or the token itself in MLSD_ADMIN_TOKEN. Without
    /// either the admin routes are off (403); `mlsd models` still moves the registry.
    #[arg(long, env = "MLSD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
    /// Rows (payments, texts) batch requests may have in scoring at once; a batch that would
    /// pass it is shed with 503 before any work.
    #[arg(long, default_value_t = ServerConfig::default().max_rows_in_flight, value_parser = positive)]
    pub max_rows_in_flight: usize,
    /// Close a connection that starts no request for this many seconds (after connecting or
    /// after its last answer), or that takes this long to send a request's headers.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout_secs: u64,
}

impl LimitsArgs {
    /// The idle-connection timeout for [`serve_until_signal`].
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// `base` (a design's defaults) with these limits and the admin token, if one is given.
    pub fn apply(&self, base: ServerConfig) -> Result<ServerConfig> {
        let token = match (&self.admin_token_file, std::env::var("MLSD_ADMIN_TOKEN")) {
            (Some(file), _) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("while reading {}", file.display()))?,
            ),
            (None, Ok(token)) => Some(token),
            (None, Err(_)) => None,
        };
        let admin_token = token
            .map(|t| mlsd_core::server::AdminToken::parse(&t))
            .transpose()
            .map_err(|why| anyhow::anyhow!("admin token: {why}"))?;
        Ok(ServerConfig {
            max_in_flight: self.max_in_flight,
            timeout: Duration::from_millis(self.timeout_ms),
            max_queue_delay: millis_or_off(self.max_queue_delay_ms),
            max_rows_in_flight: self.max_rows_in_flight,
            admin_token,
            ..base
        })
    }
}

/// Binds `addr`, prints the bound address (scripts and tests read it), serves `router` until
/// Ctrl-C or SIGTERM, then drains in-flight requests.
pub async fn serve_until_signal(
    addr: std::net::SocketAddr,
    router: axum::Router,
    idle_timeout: Duration,
    on_signal: impl FnOnce() + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("while binding {addr}"))?;
    println!("listening on http://{}", listener.local_addr()?);
    use std::io::Write as _;
    std::io::stdout().flush()?;
    let shutdown = async move {
        mlsd_core::serve::shutdown_signal().await;
        on_signal();
    };
    mlsd_core::serve::serve(listener, router, idle_timeout, shutdown).await?;
    println!("stopped after draining in-flight requests");
    Ok(())
}

/// The end of every `evaluate` command: the report saved as `evaluation.json` and
/// `evaluation.html` (its tables and curves) in the run folder, then printed as one JSON
/// object (`--json`) or as `text()` and the folder's path.
pub fn emit_evaluation(
    run_dir: &mlsd_core::report::RunDir,
    value: &serde_json::Value,
    json: bool,
    text: impl FnOnce() -> String,
) -> Result<()> {
    let title = run_dir.path.file_name().map_or_else(
        || "evaluation".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    emit_report(run_dir, "evaluation", &title, value, json, text)
}

/// The end of every `monitor` command: the drift report saved as `drift.json` and
/// `drift.html` (its tables and per-feature histograms) in a `<design>-monitor` run folder,
/// then printed as [`emit_evaluation`] prints.
pub fn emit_monitor(
    runs_dir: &std::path::Path,
    design: &str,
    title: &str,
    value: &serde_json::Value,
    json: bool,
    text: impl FnOnce() -> String,
) -> Result<mlsd_core::report::RunDir> {
    let run_dir = mlsd_core::report::RunDir::create(runs_dir, &format!("{design}-monitor"))?;
    emit_report(&run_dir, "drift", title, value, json, text)?;
    Ok(run_dir)
}

/// `<stem>.json` and `<stem>.html` in the run folder, then `value` as one JSON line
/// (`--json`) or `text()` and the folder's path.
fn emit_report(
    run_dir: &mlsd_core::report::RunDir,
    stem: &str,
    title: &str,
    value: &serde_json::Value,
    json: bool,
    text: impl FnOnce() -> String,
) -> Result<()> {
    mlsd_core::report::write_json(&run_dir.file(&format!("{stem}.json")), value)?;
    mlsd_core::html::write(&run_dir.file(&format!("{stem}.html")), title, value)?;
    if json {
        println!("{value}");
    } else {
        println!("{}\nReport: {}", text(), run_dir.path.display());
    }
    Ok(())
}

/// Prints `--mistake` runs: one JSON object (`{"design", "mistakes": [{"name", "what",
/// "metric", "honest", "mistaken", "lesson"}]}`) or the markdown table the design doc shows.
pub fn print_mistakes(
    design: &str,
    runs: &[mlsd_core::mistakes::Mistake],
    json: bool,
) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({ "design": design, "mistakes": runs })
        );
    } else {
        println!("{}", mlsd_core::mistakes::render(runs));
    }
    Ok(())
}
