//! The live part of `mlsd interview`: which quick commands each design runs, and how the
//! interview reads a number out of each one's output. Every design gets the serving benchmark
//! and the capacity estimate; the fraud detector also runs its whole offline loop (simulate,
//! validate, evaluate, the classic mistakes, a registered model, drift on an unshifted and a
//! shifted world) — about a minute in all on two cores.

use std::path::Path;

use serde_json::Value;

use super::bench::Design;
use super::interview::json;

/// One command (`mlsd <args>`) and the point it is shown at (`None`: run first, for what the
/// later ones need). `read` turns its standard output into the line the interview prints.
pub struct Step {
    pub point: Option<&'static str>,
    pub args: Vec<String>,
    pub read: fn(&str) -> Option<String>,
}

fn step(point: Option<&'static str>, args: &[&str], read: fn(&str) -> Option<String>) -> Step {
    Step {
        point,
        args: args.iter().map(|a| a.to_string()).collect(),
        read,
    }
}

/// The steps for `design`, writing into `dir`.
pub fn live_plan(design: Design, dir: &Path) -> Vec<Step> {
    let name = design.name();
    let bench = ["bench", "serve", "--design", name, "--quick", "--json"];
    let mut plan = vec![step(None, &bench, read_bench)];
    if let Design::Fraud = design {
        plan.extend(fraud(dir));
    }
    plan.push(step(Some("batch-vs-real-time"), &bench, read_bench));
    let capacity = ["capacity", name, "--peak-qps", "2000", "--json"];
    let entities = ["--entities", "1000000"];
    let capacity: Vec<&str> = match design {
        Design::Fraud => capacity.iter().chain(&entities).copied().collect(),
        _ => capacity.to_vec(),
    };
    plan.push(step(Some("capacity"), &capacity, read_capacity));
    plan
}

fn fraud(dir: &Path) -> Vec<Step> {
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let (tx, drifted) = (path("tx.arrows"), path("drifted.arrows"));
    let generate = ["fraud", "generate", "--out", &tx];
    let evaluate = ["fraud", "evaluate", "--json"];
    let mistakes = ["fraud", "evaluate", "--mistake", "all", "--json"];
    let train = [
        "fraud",
        "train",
        "--input",
        &tx,
        "--model",
        "logistic_regression",
    ];
    vec![
        step(None, &generate, read_generate),
        step(
            None,
            &[
                "fraud",
                "generate",
                "--out",
                &drifted,
                "--drift-from",
                "2018-08-01",
                "--drift-amount-factor",
                "3",
                "--drift-activity-factor",
                "3",
            ],
            read_generate,
        ),
        step(None, &train, last_line),
        step(Some("constraints"), &generate, read_generate),
        step(Some("metrics"), &evaluate, read_best),
        step(Some("metrics"), &mistakes, |t| {
            mistake(t, "accuracy-at-base-rate")
        }),
        step(Some("rules-baseline"), &evaluate, |t| model(t, "rules")),
        step(Some("labels"), &mistakes, |t| {
            mistake(t, "label-delay-ignored")
        }),
        step(
            Some("cleaning"),
            &["fraud", "ingest", "--input", &tx, "--json"],
            read_ingest,
        ),
        step(Some("features"), &mistakes, |t| {
            mistake(t, "training-serving-skew")
        }),
        step(Some("baseline"), &evaluate, |t| {
            model(t, "logistic_regression")
        }),
        step(Some("comparison"), &evaluate, read_ranking),
        step(Some("comparison"), &mistakes, |t| {
            mistake(t, "random-split")
        }),
        step(
            Some("drift"),
            &["fraud", "monitor", "--current", &tx, "--json"],
            |t| read_drift(t, "the training world's last days"),
        ),
        step(
            Some("drift"),
            &["fraud", "monitor", "--current", &drifted, "--json"],
            |t| read_drift(t, "amounts and card activity ×3 from 2018-08-01"),
        ),
        step(Some("versioning"), &train, last_line),
        step(Some("trade-offs"), &evaluate, read_costs),
    ]
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

/// `wrote tx.arrows: 1807837 transactions, 15007 frauds (0.830 %) in 1.60 s …`
fn read_generate(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("wrote "))?;
    let (_, what) = line.split_once(": ")?;
    Some(format!("simulated {}", what.split(" in ").next()?))
}

fn read_ingest(text: &str) -> Option<String> {
    let v = json(text)?;
    let reasons = v["quarantined_by_reason"].as_object()?;
    let why: Vec<String> = reasons.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Some(format!(
        "validated {} rows: {} accepted, {} quarantined{}",
        v["input_rows"].as_u64()?,
        v["accepted_rows"].as_u64()?,
        v["quarantined_rows"].as_u64()?,
        if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        }
    ))
}

fn models(text: &str) -> Option<Vec<Value>> {
    json(text)?["models"].as_array().cloned()
}

fn describe(m: &Value) -> Option<String> {
    Some(format!(
        "{}: AUC {:.3}, AP {:.3}, card precision@100 {:.3}",
        m["name"].as_str()?,
        m["auc"].as_f64()?,
        m["average_precision"].as_f64()?,
        m["card_precision_at_100"].as_f64()?
    ))
}

fn model(text: &str, name: &str) -> Option<String> {
    describe(models(text)?.iter().find(|m| m["name"] == name)?)
}

fn by_ap(text: &str) -> Option<Vec<Value>> {
    let mut all = models(text)?;
    all.sort_by(|a, b| {
        let ap = |m: &Value| m["average_precision"].as_f64().unwrap_or(f64::NAN);
        ap(b).total_cmp(&ap(a))
    });
    Some(all)
}

fn read_best(text: &str) -> Option<String> {
    Some(format!(
        "best on the test week — {}",
        describe(by_ap(text)?.first()?)?
    ))
}

fn read_ranking(text: &str) -> Option<String> {
    let ranking: Option<Vec<String>> = by_ap(text)?
        .iter()
        .map(|m| {
            Some(format!(
                "{} {:.3}",
                m["name"].as_str()?,
                m["average_precision"].as_f64()?
            ))
        })
        .collect();
    Some(format!("AP, best first: {}", ranking?.join(" · ")))
}

fn read_costs(text: &str) -> Option<String> {
    let rows = json(text)?["test_rows"].as_f64()?;
    let costs: Option<Vec<String>> = by_ap(text)?
        .iter()
        .filter(|m| m["name"] != "random")
        .map(|m| {
            Some(format!(
                "{} AP {:.3}, trains in {:.1} s, scores in {:.2} µs/row",
                m["name"].as_str()?,
                m["average_precision"].as_f64()?,
                m["train_seconds"].as_f64()?,
                m["predict_seconds"].as_f64()? / rows * 1e6
            ))
        })
        .collect();
    Some(costs?.join(" · "))
}

fn mistake(text: &str, name: &str) -> Option<String> {
    let v = json(text)?;
    let m = v["mistakes"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)?;
    Some(format!(
        "mistake `{name}` ({}): {} {:.3} honest vs {:.3} mistaken — {}",
        m["what"].as_str()?,
        m["metric"].as_str()?,
        m["honest"].as_f64()?,
        m["mistaken"].as_f64()?,
        m["lesson"].as_str()?
    ))
}

fn read_drift(text: &str, what: &str) -> Option<String> {
    let v = json(text)?;
    Some(format!(
        "{what}: {:.0} % of the features drifted over {} rows (dataset drift at {:.0} %): {}",
        100.0 * v["drift_share"].as_f64()?,
        v["rows"].as_u64()?,
        100.0 * v["share_threshold"].as_f64()?,
        if v["dataset_drift"].as_bool()? {
            "DRIFT"
        } else {
            "no dataset drift"
        }
    ))
}

fn read_bench(text: &str) -> Option<String> {
    let v = json(text)?;
    let modes: Option<Vec<String>> = v["modes"]
        .as_array()?
        .iter()
        .map(|m| {
            Some(format!(
                "{} p50 {:.2} ms / p99 {:.2} ms at the reference load, up to {:.0} rows/s",
                m["mode"].as_str()?,
                m["p50_ms"].as_f64()?,
                m["p99_ms"].as_f64()?,
                m["rows_per_s"].as_f64()?
            ))
        })
        .collect();
    Some(format!(
        "quick benchmark (a smoke figure): {}",
        modes?.join("; ")
    ))
}

fn read_capacity(text: &str) -> Option<String> {
    let v = json(text)?;
    let e = &v["estimate"];
    let state = match e["state_bytes"].as_f64() {
        Some(bytes) => format!("{:.1} GB of online state", bytes / 1e9),
        None => "online state not measured for this design".into(),
    };
    Some(format!(
        "for {:.0} req/s at p99 ≤ {:.0} ms: {} replicas, {} cores, {state}, {:.1} GB of events a day, ${:.2} a day (assumptions: `mlsd capacity`)",
        v["demand"]["peak_rps"].as_f64()?,
        v["demand"]["p99_ms"].as_f64()?,
        e["replicas"].as_u64()?,
        e["cores"].as_u64()?,
        e["events_bytes_per_day"].as_f64()? / 1e9,
        e["cost_per_day"].as_f64()?
    ))
}
