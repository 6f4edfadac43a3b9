//! Stage 7b — the nightly fleet job as SQL, for a warehouse or Apache Spark
//! (`mlsd maintenance export-sql`, `mlsd maintenance batch --engine spark`), generated from
//! the registered version: its sensor bounds and inventory, feature spec, model and policy.
//!
//! ```text
//!  readings (CSV lines: machine_id, cycle, one column per sensor; empty = missing)
//!   → checked    a parse error / unknown machine / repeated cycle / impossible value, as batch.rs
//!   → windows    each machine's last `window` accepted readings, sorted by cycle, as one array
//!   → features   per used sensor: mean, std, slope, short mean — folds over the array in the
//!                order window_features() adds, so the values are the same bits; age
//!   → schedule   the model's CASEs, clamped to [0, cap]; risk from the held-out residuals;
//!                alert; the first `crews_per_day` alerts by predicted life serviced today
//! ```
//!
//! Talking point: distributed processing — machines are independent, so everything is
//! `GROUP BY machine_id` or a window `PARTITION BY machine_id`.
//!
//! Simplifications: the file is read as one partition's lines in order (row numbers from
//! `monotonically_increasing_id`, which follow file order for one file); Java's number parser
//! takes a few spellings Rust's refuses (`1d`); the Weibull life table has no SQL form.

use mlsd_core::sql::{double_of, ident, string, Script};

use crate::artifact::MaintenanceArtifact;

/// The readings file as lines, parsed as batch.rs parses them: the first failing field names
/// the reason (`wrong_field_count`, `bad_machine_id`, `bad_cycle`, `not_a_number`); an empty
/// sensor field is a missing value (NULL).
fn parsed(location: &str, sensors: &[String]) -> String {
    let n = sensors.len();
    let unsigned = |f: &str| {
        format!("({f} RLIKE '^[+]?[0-9]+$' AND CAST({f} AS DECIMAL(38, 0)) <= 4294967295)")
    };
    let value = |f: String| format!("try_cast({f} AS DOUBLE)");
    let bad = format!(
        "exists(slice(fields, 3, {n}), f -> f <> '' AND ({v} IS NULL OR isnan({v}) OR abs({v}) = double('Infinity')))",
        v = value("f".into())
    );
    let columns: Vec<String> = sensors
        .iter()
        .enumerate()
        .map(|(j, s)| {
            let f = format!("get(fields, {})", j + 2);
            format!(
                "CASE WHEN {f} = '' THEN NULL ELSE {} END AS {}",
                value(f.clone()),
                ident(s)
            )
        })
        .collect();
    format!(
        "CREATE OR REPLACE TEMPORARY VIEW readings AS SELECT __row, value AS line, \
         CASE WHEN size(fields) <> {width} THEN 'wrong_field_count' \
         WHEN NOT {id_ok} THEN 'bad_machine_id' WHEN NOT {cycle_ok} THEN 'bad_cycle' \
         WHEN {bad} THEN 'not_a_number' END AS parse_error, \
         CASE WHEN size(fields) = {width} AND {id_ok} AND {cycle_ok} THEN CAST(get(fields, 0) AS BIGINT) END AS machine_id, \
         CASE WHEN size(fields) = {width} AND {id_ok} AND {cycle_ok} THEN CAST(get(fields, 1) AS BIGINT) END AS cycle, \
         {columns} FROM (SELECT value, __row, transform(split(value, ','), f -> trim(f)) AS fields \
         FROM (SELECT value, monotonically_increasing_id() AS __row FROM text.`{path}`) \
         WHERE __row > 0 AND trim(value) <> '')",
        width = n + 2,
        id_ok = unsigned("get(fields, 0)"),
        cycle_ok = unsigned("get(fields, 1)"),
        columns = columns.join(", "),
        path = location.replace('`', "``"),
    )
}

/// The checks of batch.rs and `MachineState::push`, as one reason per row (NULL: accepted).
fn checked(artifact: &MaintenanceArtifact) -> Result<String, String> {
    let sensors = &artifact.spec.sensors;
    let machines: Vec<String> = artifact.inventory.keys().map(|id| id.to_string()).collect();
    let mut impossible = Vec::new();
    for (s, (lo, hi)) in sensors.iter().zip(&artifact.bounds) {
        let c = ident(s);
        impossible.push(format!(
            "({c} < {} OR {c} > {})",
            double_of("a lower bound", *lo)?,
            double_of("an upper bound", *hi)?
        ));
    }
    let known = if machines.is_empty() {
        "false".to_string()
    } else {
        format!("machine_id IN ({})", machines.join(", "))
    };
    // Per machine in cycle order, MachineState refuses a cycle it already accepted
    // (`out_of_order_cycle`) before it checks the values (`impossible_value`): of the rows
    // sharing a cycle, the first possible one in file order is accepted.
    Ok(format!(
        "CREATE OR REPLACE TEMPORARY VIEW checked AS SELECT *, CASE \
         WHEN parse_error IS NOT NULL THEN parse_error WHEN NOT known THEN 'unknown_machine' \
         WHEN first_possible IS NOT NULL AND __row > first_possible THEN 'out_of_order_cycle' \
         WHEN NOT possible THEN 'impossible_value' END AS quarantine_reason \
         FROM (SELECT *, MIN(CASE WHEN possible AND known AND parse_error IS NULL THEN __row END) \
         OVER (PARTITION BY machine_id, cycle) AS first_possible FROM (SELECT *, \
         COALESCE({known}, false) AS known, NOT COALESCE({impossible}, false) AS possible FROM readings))",
        impossible = impossible.join(" OR "),
    ))
}

/// The first pass over one sensor's window (as `window_features`): its finite points, their
/// count and the means of cycle and value, as columns `n{k}`, `mx{k}`, `my{k}`.
fn sensor_moments(artifact: &MaintenanceArtifact, k: usize, j: usize) -> Vec<String> {
    let c = ident(&artifact.spec.sensors[j]);
    let pts = format!("filter(window, r -> r.{c} IS NOT NULL)");
    let n = format!("CAST(size({pts}) AS DOUBLE)");
    vec![
        format!("{n} AS n{k}"),
        format!("aggregate({pts}, 0.0D, (a, r) -> a + CAST(r.cycle AS DOUBLE)) / {n} AS mx{k}"),
        format!("aggregate({pts}, 0.0D, (a, r) -> a + r.{c}) / {n} AS my{k}"),
    ]
}

/// The second pass: mean, std, slope and short mean of one sensor, as `window_features`
/// computes them (the same folds in the same order), or its fill value when it has no point.
fn sensor_features(
    artifact: &MaintenanceArtifact,
    k: usize,
    j: usize,
) -> Result<Vec<String>, String> {
    let spec = &artifact.spec;
    let c = ident(&spec.sensors[j]);
    let fill = double_of("a fill value", spec.fill[k])?;
    let pts = format!("filter(window, r -> r.{c} IS NOT NULL)");
    let fold = |f: &str| format!("aggregate({pts}, 0.0D, (a, r) -> a + {f})");
    let dx = format!("(CAST(r.cycle AS DOUBLE) - mx{k})");
    let dy = format!("(r.{c} - my{k})");
    let sxx = fold(&format!("{dx} * {dx}"));
    let sxy = fold(&format!("{dx} * {dy}"));
    let syy = fold(&format!("{dy} * {dy}"));
    let recent = format!(
        "filter(slice(window, greatest(size(window) - {}, 0) + 1, {}), r -> r.{c} IS NOT NULL)",
        spec.short, spec.short
    );
    let short = format!(
        "CASE WHEN size({recent}) = 0 THEN my{k} ELSE aggregate({recent}, 0.0D, (a, r) -> a + r.{c}) \
         / CAST(size({recent}) AS DOUBLE) END"
    );
    let empty = format!("n{k} = 0.0D");
    Ok(vec![
        format!("CASE WHEN {empty} THEN {fill} ELSE my{k} END"),
        format!("CASE WHEN {empty} THEN 0.0D ELSE SQRT({syy} / n{k}) END"),
        format!("CASE WHEN {empty} THEN 0.0D WHEN {sxx} > 0.0D THEN {sxy} / {sxx} ELSE 0.0D END"),
        format!("CASE WHEN {empty} THEN {fill} ELSE {short} END"),
    ])
}

/// The whole job: from the readings at `location` to the schedule (cached as `schedule`),
/// written to `output` as Parquet when given.
/// Talking point [distributed]: the fleet's batch job as SQL on Spark, exported from the registered
/// version.
pub fn script(
    location: &str,
    artifact: &MaintenanceArtifact,
    output: Option<&str>,
) -> Result<Script, String> {
    let spec = &artifact.spec;
    let mut s = Script::default();
    s.push(
        "The readings file's lines (the header is line 0), parsed field by field.",
        parsed(location, &spec.sensors),
    );
    s.push(
        "Each row's reason to be refused (NULL: accepted): a parse error, an unknown machine, a \
         cycle already accepted, an impossible value.",
        checked(artifact)?,
    );
    let fields: Vec<String> = spec.used.iter().map(|&j| ident(&spec.sensors[j])).collect();
    s.push(
        format!("Each machine's last {} accepted readings, oldest first, and its age.", spec.window),
        format!(
            "CREATE OR REPLACE TEMPORARY VIEW windows AS SELECT machine_id, MAX(cycle) AS cycle, \
             CAST(MAX(cycle) - MIN(cycle) AS DOUBLE) + 1.0D AS __age, \
             array_sort(collect_list(CASE WHEN back <= {w} THEN named_struct('cycle', cycle, {named}) END), \
             (l, r) -> CASE WHEN l.cycle < r.cycle THEN -1 WHEN l.cycle > r.cycle THEN 1 ELSE 0 END) AS window \
             FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY machine_id ORDER BY cycle DESC) AS back \
             FROM checked WHERE quarantine_reason IS NULL) GROUP BY machine_id",
            w = spec.window,
            named = fields
                .iter()
                .map(|f| format!("'{}', {f}", f.trim_matches('`')))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let mut columns = Vec::new();
    let names = spec.names();
    let mut moments = Vec::new();
    let mut feature_sql = Vec::new();
    for (k, &j) in spec.used.iter().enumerate() {
        moments.extend(sensor_moments(artifact, k, j));
        for expr in sensor_features(artifact, k, j)? {
            let name = format!("f{}", feature_sql.len());
            feature_sql.push(format!("{expr} AS {name}"));
            columns.push(name);
        }
    }
    feature_sql.push("__age AS ".to_string() + &format!("f{}", feature_sql.len()));
    columns.push(format!("f{}", columns.len()));
    if columns.len() != names.len() {
        return Err(format!(
            "{} feature columns for {} names",
            columns.len(),
            names.len()
        ));
    }
    s.push(
        format!(
            "The {} features of each machine's latest reading ({}).",
            names.len(),
            names.join(", ")
        ),
        format!(
            "CREATE OR REPLACE TEMPORARY VIEW fleet_features AS SELECT machine_id, cycle, {} \
             FROM (SELECT *, {} FROM windows)",
            feature_sql.join(", "),
            moments.join(", ")
        ),
    );
    let rul = artifact.model.sql(&columns)?;
    let residuals = artifact
        .residuals
        .iter()
        .map(|r| double_of("a residual", *r))
        .collect::<Result<Vec<_>, _>>()?;
    let horizon = double_of("the horizon", artifact.horizon)?;
    let risk = if residuals.is_empty() {
        format!("CASE WHEN predicted_rul <= {horizon} THEN 1.0D ELSE 0.0D END")
    } else {
        format!(
            "CAST(size(filter(array({}), r -> r <= {horizon} - predicted_rul)) AS DOUBLE) / {}",
            residuals.join(", "),
            double_of("the residual count", residuals.len() as f64)?
        )
    };
    s.push(
        "A run earlier in the same session cached its schedule under the same name.",
        "DROP VIEW IF EXISTS schedule",
    );
    s.push(
        format!(
            "The schedule: predicted life, risk of failing within {} cycles, alert at ≤ {} cycles, \
             the first {} alerts by predicted life serviced today.",
            artifact.horizon, artifact.alert_rul, artifact.costs.crews_per_day
        ),
        format!(
            "CACHE TABLE schedule AS SELECT machine_id, cycle, predicted_rul, risk, alert, \
             alert AND SUM(CAST(alert AS INT)) OVER (ORDER BY predicted_rul, machine_id \
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) <= {crews} AS service_today \
             FROM (SELECT *, {risk} AS risk, predicted_rul <= {alert} AS alert \
             FROM (SELECT machine_id, cycle, {rul} AS predicted_rul FROM fleet_features))",
            crews = artifact.costs.crews_per_day,
            alert = double_of("the alert threshold", artifact.alert_rul)?,
        ),
    );
    if let Some(out) = output {
        s.push(
            "The schedule, as Parquet.",
            format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet SELECT * FROM schedule",
                string(out)
            ),
        );
        s.push(
            "The refused rows with their reason, as Parquet.",
            format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet SELECT __row AS line_number, line, \
                 quarantine_reason FROM checked WHERE quarantine_reason IS NOT NULL",
                string(&format!("{out}.quarantine"))
            ),
        );
    }
    Ok(s)
}

/// Counts a run reports: machines, alerts, services today, and refused rows per reason.
pub const SUMMARY: &str =
    "SELECT 'schedule' AS kind, 'machines' AS name, COUNT(*) AS n FROM schedule \
     UNION ALL SELECT 'schedule', 'alerts', COUNT_IF(alert) FROM schedule \
     UNION ALL SELECT 'schedule', 'service_today', COUNT_IF(service_today) FROM schedule \
     UNION ALL SELECT 'quarantine', quarantine_reason, COUNT(*) FROM checked \
     WHERE quarantine_reason IS NOT NULL GROUP BY quarantine_reason";
