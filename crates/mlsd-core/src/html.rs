//! A run's report as one HTML page beside its JSON (`evaluation.html`, `drift.html`): every
//! table of the JSON, and the charts it carries — the ROC, precision–recall and reliability
//! curves of the rows that have [`crate::curves::Curves`] under `curves`, and the reference vs
//! current histogram of each column that has [`crate::drift::Bins`] under `bins`. Inline SVG
//! and CSS only — no script, nothing fetched — so it opens offline from the run folder.
//!
//! Generic over the JSON on purpose: a design's report gets a page by writing its JSON, and
//! charts by naming its fields `curves` and `bins`.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

use crate::plot::{Chart, Series};
use crate::Result;

/// Writes the page for `value` to `path` (atomically).
pub fn write(path: &Path, title: &str, value: &Value) -> Result<()> {
    crate::report::atomic_write(path, render(title, value).as_bytes())
}

/// The page for `value`.
pub fn render(title: &str, value: &Value) -> String {
    let mut body = String::new();
    section(&mut body, value, 2);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head>\n<body><h1>{t}</h1>\n{body}</body></html>\n",
        t = escape(title)
    )
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 1.5rem 4rem;color:#1d2330}\
table{border-collapse:collapse;margin:.4rem 0 1rem}td,th{border-top:1px solid #e5e8ee;padding:.2rem .5rem;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}h2,h3{margin:1.4rem 0 .3rem}.charts{display:flex;flex-wrap:wrap;gap:.5rem}\
.charts svg{max-width:33rem;height:auto;border:1px solid #e5e8ee}.bins{display:inline-block;width:250px;margin:.3rem 1rem .3rem 0;font-size:12px;vertical-align:top}\
.drift{color:#cf222e;font-weight:600}";

/// An object: its scalars as one table, then each object or array field under a heading.
fn section(out: &mut String, value: &Value, level: usize) {
    let Value::Object(fields) = value else {
        out.push_str(&format!("<p>{}</p>\n", cell(value)));
        return;
    };
    let scalars: Vec<(&String, &Value)> = fields.iter().filter(|(_, v)| is_scalar(v)).collect();
    if !scalars.is_empty() {
        out.push_str("<table>");
        for (k, v) in scalars {
            let _ = write!(out, "<tr><th>{}</th>{}</tr>", escape(k), td(v));
        }
        out.push_str("</table>\n");
    }
    for (k, v) in fields {
        if is_scalar(v) || k == "curves" || k == "bins" {
            continue;
        }
        let h = level.min(4);
        let _ = writeln!(out, "<h{h}>{}</h{h}>", escape(&k.replace('_', " ")));
        match v {
            Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
                rows(out, items);
                charts(out, items);
            }
            Value::Array(items) => {
                let shown: Vec<String> = items.iter().map(cell).collect();
                let _ = writeln!(out, "<p>{}</p>", shown.join(", "));
            }
            _ => section(out, v, level + 1),
        }
    }
}

/// Rows of objects as one table: the union of their scalar fields, in order of appearance.
fn rows(out: &mut String, items: &[Value]) {
    let mut columns: Vec<&String> = Vec::new();
    for item in items.iter().filter_map(Value::as_object) {
        for (k, v) in item {
            if is_scalar(v) && !columns.contains(&k) {
                columns.push(k);
            }
        }
    }
    // The row's name first (the JSON's fields come sorted).
    if let Some(i) = columns.iter().position(|c| c.as_str() == "name") {
        let name = columns.remove(i);
        columns.insert(0, name);
    }
    out.push_str("<table><tr>");
    for c in &columns {
        let _ = write!(out, "<th>{}</th>", escape(&c.replace('_', " ")));
    }
    out.push_str("</tr>");
    for item in items.iter().filter_map(Value::as_object) {
        let flagged = item.get("drift").and_then(Value::as_bool) == Some(true);
        out.push_str(if flagged {
            "<tr class=\"drift\">"
        } else {
            "<tr>"
        });
        for c in &columns {
            out.push_str(&td(item.get(*c).unwrap_or(&Value::Null)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>\n");
}

/// The curves and histograms the rows carry.
fn charts(out: &mut String, items: &[Value]) {
    let named: Vec<(String, &Map<String, Value>)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("row {}", i + 1), str::to_string);
            Some((name, v.as_object()?))
        })
        .collect();
    let with_curves: Vec<(&String, &Value)> = named
        .iter()
        .filter_map(|(n, o)| Some((n, o.get("curves")?)))
        .collect();
    if !with_curves.is_empty() {
        out.push_str("<div class=\"charts\">");
        for (kind, title, x, y, diagonal) in [
            (
                "roc",
                "ROC",
                "false-positive rate",
                "true-positive rate",
                Some("chance"),
            ),
            ("pr", "Precision–recall", "recall", "precision", None),
            (
                "calibration",
                "Reliability (calibration)",
                "mean predicted probability",
                "observed rate",
                Some("perfectly calibrated"),
            ),
        ] {
            let mut series: Vec<Series> = with_curves
                .iter()
                .map(|(name, c)| Series {
                    name: (*name).clone(),
                    points: pairs(&c[kind]),
                })
                .filter(|s| !s.points.is_empty())
                .collect();
            if series.is_empty() {
                continue;
            }
            if let Some(name) = diagonal {
                series.push(Series {
                    name: name.into(),
                    points: vec![(0.0, 0.0), (1.0, 1.0)],
                });
            }
            let chart = Chart {
                title: title.into(),
                x_label: x.into(),
                y_label: y.into(),
                log_y: false,
                series,
            };
            out.push_str(&chart.to_svg());
        }
        out.push_str("</div>\n");
    }
    if named.iter().any(|(_, o)| o.contains_key("bins")) {
        out.push_str("<p>Per column: the reference's share of rows in each bin (grey) beside the current window's (blue; red when the column drifted). Bins are the reference's deciles, or its categories plus one for values it never had.</p>\n");
    }
    for (name, o) in &named {
        if let Some(bins) = o.get("bins") {
            let flagged = o.get("drift").and_then(Value::as_bool) == Some(true);
            out.push_str(&histogram(name, bins, flagged));
        }
    }
}

/// (x, y) from `[[x, y, …], …]`.
fn pairs(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|points| {
            points
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Reference (grey) and current (blue, red when the column drifted) shares per bin.
fn histogram(name: &str, bins: &Value, flagged: bool) -> String {
    let shares = |k: &str| -> Vec<f64> {
        bins[k]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let (reference, current) = (shares("reference"), shares("current"));
    let n = reference.len().max(current.len()).max(1);
    let top = reference
        .iter()
        .chain(&current)
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9);
    let (w, h, slot) = (240.0, 70.0, 240.0 / n as f64);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">");
    let colour = if flagged { "#cf222e" } else { "#1f6feb" };
    for (i, (r, c)) in reference.iter().zip(&current).enumerate() {
        for (j, (v, fill)) in [(r, "#b7bdc8"), (c, colour)].into_iter().enumerate() {
            let bar = v / top * (h - 4.0);
            let x = i as f64 * slot + 1.0 + j as f64 * (slot - 2.0) / 2.0;
            let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar:.1}\" fill=\"{fill}\"/>", h - bar, (slot - 2.0) / 2.0);
        }
    }
    svg.push_str("</svg>");
    format!(
        "<div class=\"bins\"><span class=\"{}\">{}</span><br>{svg}</div>\n",
        if flagged { "drift" } else { "" },
        escape(name)
    )
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

fn td(v: &Value) -> String {
    let class = if v.is_number() { " class=\"n\"" } else { "" };
    format!("<td{class}>{}</td>", cell(v))
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Number(n) if n.is_f64() => n.as_f64().map_or_else(String::new, |f| {
            if f != 0.0 && f.abs() < 1e-3 {
                format!("{f:.2e}")
            } else {
                format!("{f:.4}")
            }
        }),
        Value::String(s) => escape(s),
        other => escape(&other.to_string()),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_curves_and_histograms_come_from_the_json_and_text_is_escaped() {
        let report = json!({
            "protocol": "<ch3>",
            "test_rows": 10,
            "models": [
                {"name": "lr", "auc": 0.9, "curves": {"roc": [[0.0, 0.0], [0.1, 0.8], [1.0, 1.0]], "pr": [[0.5, 1.0], [1.0, 0.4]], "calibration": []}},
                {"name": "rules", "auc": 0.7}
            ],
            "features": [{"name": "tx_amount", "drift": true, "bins": {"reference": [0.5, 0.5], "current": [0.9, 0.1]}}]
        });
        let page = render("fraud & co", &report);
        assert!(page.contains("<h1>fraud &amp; co</h1>"));
        assert!(page.contains("&lt;ch3&gt;") && !page.contains("<ch3>"));
        assert!(page.contains("<td class=\"n\">0.9000</td>"));
        assert!(page.contains(">ROC<") && page.contains(">Precision–recall<"));
        assert!(!page.contains("Reliability"), "empty curves draw no chart");
        assert!(page.contains("<tr class=\"drift\">"));
        assert!(page.contains("tx_amount</span><br><svg"));
        for fetched in ["<script", "src=\"http", "href=\"http", "@import"] {
            assert!(!page.contains(fetched), "{fetched}");
        }
    }
}
