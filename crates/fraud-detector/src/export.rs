//! Stage 7b — the batch path as SQL: validation, the 15 features and a registered model,
//! generated from the same spec and artifact the Rust pipeline scores with, for a warehouse
//! or an Apache Spark cluster (`mlsd fraud export-sql`, `mlsd fraud batch-score --engine spark`).
//!
//! ```text
//!  raw_transactions (a CSV or Parquet location)
//!   → checked        every ingest rule as a CASE, in the same order: the first one failed names the
//!                    reason; a repeated transaction id among valid rows is a duplicate (file order)
//!   → accepted       the rows with no reason
//!   → features       windowed counts and sums: (t − n days, t] per card, (t − d − n, t − d] per terminal
//!   → scored         the model's CASEs / weights, its calibration, the approve / review / block tiers
//! ```
//!
//! Talking points:
//! - distributed processing: every feature is a window `PARTITION BY` a card or a terminal, so
//!   the work splits by key across a cluster with no code of ours on the workers;
//! - point-in-time correctness and label delay carry over: the windows end at the payment
//!   (card) or at the payment minus the label delay (terminal), exactly as in `features.rs`;
//! - one definition, two engines: the parity test compares every row Spark scores with the
//!   in-process pipeline (`tests/it/spark.rs`).
//!
//! Simplification: a row Spark cannot parse (a letter in a number) becomes NULLs and is
//! quarantined as `missing_value`, where the in-process reader quarantines it as unparseable.

use mlsd_core::sql::{double_of, ident, logistic, string, Script};

use crate::artifact::FraudArtifact;
use crate::batch::DecisionThresholds;
use crate::features::FeatureSpec;
use crate::ingest::IngestConfig;
use crate::schema::{
    ColumnKind, COLUMNS, CUSTOMER_ID, TERMINAL_ID, TRANSACTION_ID, TX_AMOUNT, TX_DATETIME,
    TX_FRAUD, TX_TIME_DAYS, TX_TIME_SECONDS,
};
use crate::train::{Estimator, FraudModel};

const DAY_MS: i64 = 86_400_000;

/// Where the transactions are and in which format (Spark reads both from a path, a cluster
/// from `s3://…`, `abfss://…` or `hdfs://…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Csv,
    Parquet,
}

impl SourceFormat {
    /// The format of a path by its extension (`.csv`, `.parquet`); `None` for others.
    pub fn of(path: &str) -> Option<SourceFormat> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(SourceFormat::Csv)
        } else if lower.ends_with(".parquet") {
            Some(SourceFormat::Parquet)
        } else {
            None
        }
    }
}

/// The view over the input file, typed as the ingest schema.
pub fn source(location: &str, format: SourceFormat) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, kind)| {
            let ty = match kind {
                ColumnKind::Int => "BIGINT",
                ColumnKind::Float => "DOUBLE",
                ColumnKind::Datetime => "TIMESTAMP",
            };
            format!("{} {ty}", ident(name))
        })
        .collect();
    match format {
        SourceFormat::Csv => format!(
            "CREATE OR REPLACE TEMPORARY VIEW raw_transactions ({}) USING csv OPTIONS (path {}, \
             header 'true', mode 'PERMISSIVE', timestampFormat 'yyyy-MM-dd HH:mm:ss[.SSS]')",
            columns.join(", "),
            string(location)
        ),
        SourceFormat::Parquet => format!(
            "CREATE OR REPLACE TEMPORARY VIEW raw_transactions USING parquet OPTIONS (path {})",
            string(location)
        ),
    }
}

/// The ingest rules (`ingest::rules`) as one CASE, same order, same reason names.
fn validation(cfg: &IngestConfig) -> String {
    let any_null = COLUMNS
        .iter()
        .map(|(name, _)| format!("{} IS NULL", ident(name)))
        .collect::<Vec<_>>()
        .join(" OR ");
    let out_of = |c: &str, n: i64| format!("{c} < 0 OR {c} >= {n}");
    let rules = [
        ("missing_value", any_null),
        ("invalid_transaction_id", format!("{TRANSACTION_ID} < 0")),
        (
            "non_finite_amount",
            format!("isnan({TX_AMOUNT}) OR abs({TX_AMOUNT}) = double('Infinity')"),
        ),
        ("negative_amount", format!("{TX_AMOUNT} < 0.0D")),
        (
            "absurd_amount",
            format!("{TX_AMOUNT} > {}", double_of("max", cfg.max_amount).unwrap_or_default()),
        ),
        (
            "timestamp_out_of_range",
            format!("__ms < {} OR __ms >= {}", cfg.start_ms, cfg.end_ms),
        ),
        (
            "inconsistent_time_fields",
            format!(
                "__ms - {} <> {TX_TIME_SECONDS} * 1000 OR {TX_TIME_DAYS} * 86400 > {TX_TIME_SECONDS} \
                 OR ({TX_TIME_DAYS} + 1) * 86400 <= {TX_TIME_SECONDS}",
                cfg.start_ms
            ),
        ),
        ("unknown_customer", out_of(CUSTOMER_ID, cfg.n_customers)),
        ("unknown_terminal", out_of(TERMINAL_ID, cfg.n_terminals)),
        ("invalid_label", format!("{TX_FRAUD} <> 0 AND {TX_FRAUD} <> 1")),
    ];
    let whens: Vec<String> = rules
        .iter()
        .map(|(name, when)| format!("WHEN {when} THEN '{name}'"))
        .collect();
    format!("CASE {} END", whens.join(" "))
}

/// The 15 features of `spec` over the `accepted` view, as `features.rs` computes them.
pub fn features(spec: &FeatureSpec) -> String {
    let mut windows = Vec::new();
    let mut columns = vec![
        // Spark: Sunday = 1 … Saturday = 7; polars: Monday = 1 … Sunday = 7.
        format!("CAST(dayofweek({TX_DATETIME}) IN (1, 7) AS DOUBLE) AS tx_during_weekend"),
        format!("CAST(hour({TX_DATETIME}) <= 6 AS DOUBLE) AS tx_during_night"),
    ];
    for &w in &spec.customer_windows {
        // (t − w days, t] in whole milliseconds: [t − w·day + 1 ms, t].
        let name = format!("card_{w}d");
        windows.push(format!(
            "{name} AS (PARTITION BY {CUSTOMER_ID} ORDER BY __ms RANGE BETWEEN {} PRECEDING AND CURRENT ROW)",
            i64::from(w) * DAY_MS - 1
        ));
        columns.push(format!(
            "CAST(COUNT(*) OVER {name} AS DOUBLE) AS customer_id_nb_tx_{w}day_window"
        ));
        // Integer cents summed exactly, then divided as features.rs does: cents / (n · 100).
        columns.push(format!(
            "CAST(SUM(__cents) OVER {name} AS DOUBLE) / (CAST(COUNT(*) OVER {name} AS DOUBLE) * 100.0D) \
             AS customer_id_avg_amount_{w}day_window"
        ));
    }
    let d = i64::from(spec.delay_days);
    for &w in &spec.terminal_windows {
        // Talking point: labels arrive late — (t − d − w, t − d]: only payments whose label
        // is known by now.
        let name = format!("terminal_{w}d");
        windows.push(format!(
            "{name} AS (PARTITION BY {TERMINAL_ID} ORDER BY __ms RANGE BETWEEN {} PRECEDING AND {} PRECEDING)",
            (d + i64::from(w)) * DAY_MS - 1,
            d * DAY_MS
        ));
        columns.push(format!(
            "CAST(COUNT(*) OVER {name} AS DOUBLE) AS terminal_id_nb_tx_{w}day_window"
        ));
        columns.push(format!(
            "CASE WHEN COUNT(*) OVER {name} > 0 THEN SUM(__fraud) OVER {name} / CAST(COUNT(*) OVER {name} AS DOUBLE) \
             ELSE 0.0D END AS terminal_id_risk_{w}day_window"
        ));
    }
    format!(
        "CREATE OR REPLACE TEMPORARY VIEW features AS SELECT {TRANSACTION_ID}, {TX_DATETIME}, \
         {CUSTOMER_ID}, {TERMINAL_ID}, {TX_AMOUNT}, {} FROM (SELECT *, \
         CAST({TX_AMOUNT} * 100.0D + 0.5D AS BIGINT) AS __cents, CAST({TX_FRAUD} AS DOUBLE) AS __fraud \
         FROM accepted) WINDOW {}",
        columns.join(", "),
        windows.join(", ")
    )
}

impl FraudModel {
    /// The model's score of a `features` row, as SQL.
    pub fn sql(&self) -> Result<String, String> {
        let columns: Vec<String> = self.feature_names.iter().map(|n| ident(n)).collect();
        match &self.estimator {
            Estimator::Rules(rules) => rules.sql(&columns),
            Estimator::Learned(m) => m.sql(&self.scaler, &columns),
        }
    }
}

impl FraudArtifact {
    /// The served probability of a `features` row as SQL, given its raw score `raw`:
    /// the Platt calibration when the version has one, as `probabilities` applies it.
    fn calibrated_sql(&self, raw: &str) -> Result<String, String> {
        let Some(platt) = &self.calibration else {
            return Ok(raw.to_string());
        };
        let (lo, hi) = (double_of("1e-6", 1e-6)?, double_of("1 − 1e-6", 1.0 - 1e-6)?);
        let clamped = format!("LEAST(GREATEST({raw}, {lo}), {hi})");
        let log_odds = format!("LN({clamped} / (1.0D - {clamped}))");
        Ok(logistic(&format!(
            "{} * {log_odds} + {}",
            double_of("Platt's a", platt.a)?,
            double_of("Platt's b", platt.b)?
        )))
    }
}

/// Everything a batch run executes, in order: the source view, validation, features, the
/// scored rows cached as `scored`, and (when `output` is given) the Parquet writes.
/// Talking point [distributed]: the batch job as one SQL script a Spark cluster runs, exported from
/// the registered version.
pub fn script(
    location: &str,
    format: SourceFormat,
    cfg: &IngestConfig,
    artifact: &FraudArtifact,
    thresholds: &DecisionThresholds,
    output: Option<&str>,
) -> Result<Script, String> {
    thresholds.check()?;
    let mut s = Script::default();
    s.push(
        "The transactions, typed as the ingest schema (a CSV header row, or Parquet).",
        source(location, format),
    );
    s.push(
        "Validation: each row gets the first ingest rule it fails, else, when an earlier valid row \
         has its transaction id, duplicate_transaction_id (file order); NULL when accepted.",
        format!(
            "CREATE OR REPLACE TEMPORARY VIEW checked AS SELECT *, CASE WHEN rule IS NOT NULL THEN rule \
             WHEN ROW_NUMBER() OVER (PARTITION BY rule IS NULL, {TRANSACTION_ID} ORDER BY __row) > 1 \
             THEN 'duplicate_transaction_id' END AS quarantine_reason FROM (SELECT *, {} AS rule \
             FROM (SELECT *, unix_millis({TX_DATETIME}) AS __ms, monotonically_increasing_id() AS __row \
             FROM raw_transactions))",
            validation(cfg)
        ),
    );
    s.push(
        "Accepted rows.",
        "CREATE OR REPLACE TEMPORARY VIEW accepted AS SELECT * FROM checked WHERE quarantine_reason IS NULL",
    );
    s.push(
        format!(
            "The {} features: card windows (t - n days, t], terminal windows (t - {} - n days, t - {} days].",
            artifact.spec.names().len(),
            artifact.spec.delay_days,
            artifact.spec.delay_days
        ),
        features(&artifact.spec),
    );
    let model = artifact.model.sql()?;
    let probability = artifact.calibrated_sql("__raw")?;
    s.push(
        "A run earlier in the same session cached its scores under the same name.",
        "DROP VIEW IF EXISTS scored",
    );
    s.push(
        format!(
            "Scores of model `{}` (calibrated when the version is) and the approve / review / block tiers.",
            artifact.model.kind.name()
        ),
        format!(
            "CACHE TABLE scored AS SELECT {TRANSACTION_ID}, {TX_DATETIME}, {CUSTOMER_ID}, {TERMINAL_ID}, \
             {TX_AMOUNT}, fraud_score, CASE WHEN fraud_score >= {block} THEN 'block' \
             WHEN fraud_score >= {review} THEN 'review' ELSE 'approve' END AS decision \
             FROM (SELECT *, {probability} AS fraud_score FROM (SELECT *, {model} AS __raw FROM features))",
            block = double_of("the block threshold", thresholds.block)?,
            review = double_of("the review threshold", thresholds.review)?,
        ),
    );
    if let Some(out) = output {
        s.push(
            "The scored rows, as Parquet.",
            format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet SELECT * FROM scored",
                string(out)
            ),
        );
        s.push(
            "The quarantined rows with their reason, as Parquet.",
            format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet SELECT {}, quarantine_reason \
                 FROM checked WHERE quarantine_reason IS NOT NULL",
                string(&format!("{out}.quarantine")),
                COLUMNS
                    .iter()
                    .map(|(n, _)| ident(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Ok(s)
}

/// The counts a run reports: rows per decision, and rows quarantined per reason.
pub const SUMMARY: &str = "SELECT 'decision' AS kind, decision AS name, COUNT(*) AS n FROM scored \
     GROUP BY decision UNION ALL SELECT 'quarantine', quarantine_reason, COUNT(*) FROM checked \
     WHERE quarantine_reason IS NOT NULL GROUP BY quarantine_reason";
