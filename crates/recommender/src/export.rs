//! Stage 5b — the batch job's ranking on a warehouse or Spark: factor tables, candidate
//! rows, and SQL that scores them and keeps each user's top N with window ranks
//! (`mlsd recommender export-sql`, `mlsd recommender precompute --engine spark`).
//!
//! ```text
//!  users.csv       user, f0 … f(k−1)                   BPR user factors (users the model knows)
//!  items.csv       item, f0 … f(k−1), bias             BPR item factors
//!  candidates.csv  user, item, category, 8 features    stage 1's output (ANN, co-occurrence, EASE, popular)
//!        → scored  taste = user · item + bias (joined), the ranker's σ(b + Σ w·(x − μ)/σ)
//!        → lists   ROW_NUMBER per (user, category) for the category cap, then per user: top N
//! ```
//!
//! Talking points:
//! - distributed processing: users are independent, so the job partitions by user — the
//!   window ranks are `PARTITION BY user`; Spark spreads them over executors;
//! - the factor tables are the model: a warehouse joins them instead of calling a service.
//!
//! Simplification: stage 1 (the IVF index, co-occurrence, EASE and the popular lists) stays in
//! Rust and is exported as candidate rows; the SQL computes the taste score from the factor
//! tables, the ranker and the business rules. The lists are the same as `batch::precompute`'s
//! (the parity test checks every user), up to items whose scores tie.

use std::io::Write;
use std::path::Path;

use mlsd_core::sql::{double_of, string, sum, Script};

use crate::two_stage::{TwoStage, FEATURES};
use crate::{Error, Result};

/// The files [`write_tables`] writes, in the folder it is given.
pub const TABLES: [&str; 3] = ["users.csv", "items.csv", "candidates.csv"];

/// Rows written per table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableRows {
    pub users: usize,
    pub items: usize,
    pub candidates: usize,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the factor tables and every user's candidate rows (as of the model's cutoff) into
/// `dir` as CSV. Floats are written in their shortest round-trip form, so Spark reads back
/// the same bits.
pub fn write_tables(model: &TwoStage, dir: &Path) -> Result<TableRows> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let k = model.factors();
    let factor_header: Vec<String> = (0..k).map(|j| format!("f{j}")).collect();
    let open = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        let path = dir.join(name);
        Ok(std::io::BufWriter::new(
            std::fs::File::create(&path).map_err(io(&path))?,
        ))
    };
    let join = |v: &[f32]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut rows = TableRows {
        users: 0,
        items: 0,
        candidates: 0,
    };
    let path = dir.join(TABLES[0]);
    let mut users = open(TABLES[0])?;
    writeln!(users, "user,{}", factor_header.join(",")).map_err(io(&path))?;
    for user in 1..model.users.len() as u32 {
        if let Some(f) = model.user_factors(user) {
            writeln!(users, "{user},{}", join(&f)).map_err(io(&path))?;
            rows.users += 1;
        }
    }
    users.flush().map_err(io(&path))?;
    let path = dir.join(TABLES[1]);
    let mut items = open(TABLES[1])?;
    writeln!(items, "item,{},bias", factor_header.join(",")).map_err(io(&path))?;
    for item in 1..model.catalog.len() as u32 {
        if let Some((f, bias)) = model.item_factors(item) {
            writeln!(items, "{item},{},{bias}", join(f)).map_err(io(&path))?;
            rows.items += 1;
        }
    }
    items.flush().map_err(io(&path))?;
    let path = dir.join(TABLES[2]);
    let mut candidates = open(TABLES[2])?;
    writeln!(candidates, "user,item,category,{}", FEATURES[1..].join(",")).map_err(io(&path))?;
    for (user, state) in model.users.iter().enumerate().skip(1) {
        for (item, category, features) in model.candidate_rows(user as u32, state) {
            let rest: Vec<String> = features[1..].iter().map(|x| format!("{x:?}")).collect();
            writeln!(candidates, "{user},{item},{category},{}", rest.join(","))
                .map_err(io(&path))?;
            rows.candidates += 1;
        }
    }
    candidates.flush().map_err(io(&path))?;
    Ok(rows)
}

/// The SQL that ranks the exported tables in `location` (a folder, local or on a cluster's
/// storage) into every user's top `k`; with `output`, the lists are written there as Parquet.
pub fn script(
    location: &str,
    model: &TwoStage,
    k: usize,
    output: Option<&str>,
) -> std::result::Result<Script, String> {
    let dims = model.factors();
    let factors = |extra: &str| {
        let mut cols: Vec<String> = (0..dims).map(|j| format!("f{j} FLOAT")).collect();
        cols.push(extra.to_string());
        cols.join(", ")
    };
    let table = |name: &str, columns: String, file: &str| {
        format!(
            "CREATE OR REPLACE TEMPORARY VIEW {name} ({columns}) USING csv OPTIONS (path {}, header 'true')",
            string(&format!("{}/{file}", location.trim_end_matches('/')))
        )
    };
    let mut s = Script::default();
    s.push(
        "BPR user factors: one row per user the model knows.",
        table(
            "user_factors",
            format!("user INT, {}", factors(""))
                .trim_end_matches(", ")
                .to_string(),
            TABLES[0],
        ),
    );
    s.push(
        "BPR item factors and biases.",
        table(
            "item_factors",
            format!("item INT, {}", factors("bias FLOAT")),
            TABLES[1],
        ),
    );
    let features: Vec<String> = FEATURES[1..]
        .iter()
        .map(|f| format!("{f} DOUBLE"))
        .collect();
    s.push(
        "Stage 1's candidates (seen and bought items already removed) with the ranker's other features.",
        table(
            "candidates",
            format!("user INT, item INT, category INT, {}", features.join(", ")),
            TABLES[2],
        ),
    );
    // The taste score as features() computes it: an f32 dot product added left to right (FLOAT
    // arithmetic in SQL too), widened, plus the bias; 0 when either side has no factors.
    let dot: Vec<String> = (0..dims).map(|j| format!("u.f{j} * i.f{j}")).collect();
    let taste = format!(
        "COALESCE(CAST({} AS DOUBLE) + CAST(i.bias AS DOUBLE), 0.0D)",
        dot.join(" + ")
    );
    let r = &model.batch_ranker;
    let mut terms = Vec::new();
    for (j, name) in FEATURES.iter().enumerate() {
        let x = if j == 0 {
            "taste_score".to_string()
        } else {
            name.to_string()
        };
        terms.push(format!(
            "{} * ({x} - {}) / {}",
            double_of("a ranker weight", r.weights[j])?,
            double_of("a feature mean", r.mean[j])?,
            double_of("a feature deviation", r.std[j])?
        ));
    }
    let logit = format!(
        "{} + {}",
        double_of("the intercept", r.intercept)?,
        sum(&terms)
    );
    s.push(
        "Scores: the batch ranker's probability, as a FLOAT like the snapshot's.",
        format!(
            "CREATE OR REPLACE TEMPORARY VIEW scored AS SELECT user, item, category, \
             CAST(1.0D / (1.0D + EXP(-({logit}))) AS FLOAT) AS score FROM (SELECT c.*, {taste} AS taste_score \
             FROM candidates c LEFT JOIN user_factors u ON c.user = u.user LEFT JOIN item_factors i ON c.item = i.item)"
        ),
    );
    s.push(
        "A run earlier in the same session cached its lists under the same name.",
        "DROP VIEW IF EXISTS lists",
    );
    s.push(
        format!(
            "Business rules, then the top {k}: at most {} per category first (by score, then item id), \
             topped up from the rest.",
            model.config.max_per_category
        ),
        format!(
            "CACHE TABLE lists AS SELECT user, rank, item, score, category FROM (SELECT *, ROW_NUMBER() OVER \
             (PARTITION BY user ORDER BY CASE WHEN category_rank <= {cap} THEN 0 ELSE 1 END, score DESC, item) AS rank \
             FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY user, category ORDER BY score DESC, item) AS category_rank \
             FROM scored)) WHERE rank <= {k}",
            cap = model.config.max_per_category
        ),
    );
    if let Some(out) = output {
        s.push(
            "The lists, as Parquet.",
            format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet SELECT * FROM lists",
                string(out)
            ),
        );
    }
    Ok(s)
}
