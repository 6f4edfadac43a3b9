//! `mlsd interview <design>`: the answer walked in the order an interview takes it —
//! requirements → framing → data → model → evaluation → serving → monitoring → scaling →
//! trade-offs. Each talking point is said from the code's own `// Talking point [key]:` marker,
//! with the line it sits on, the test behind it and a number: measured now, by running the
//! quick version of its command, and as the design doc prints it with its command. `--time 45`
//! keeps the points that fit 45 minutes (by [`PRIORITY`]); the script ends with the questions an
//! interviewer asks next — the trimmed points first — and where the code answers them.
//!
//! The live commands are this binary run again (`mlsd fraud evaluate --json` …) in a run folder
//! of their own, so what the interview prints is what a reader can rerun.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use mlsd_core::report::RunDir;
use serde_json::Value;

use super::bench::Design;
use super::interview_live::{live_plan, Step};
use crate::talking_points::{self, Cell, Marker, Texts, POINTS};

#[derive(Args)]
pub struct InterviewArgs {
    #[arg(value_enum)]
    design: Design,
    /// Minutes the answer may take: keeps the most important talking points that fit (2
    /// minutes each, 5 kept for the follow-up questions) [default: all 23]
    #[arg(long)]
    time: Option<u32>,
    /// Say the points with the doc's numbers only; run nothing.
    #[arg(long)]
    no_run: bool,
    /// The repository's root (for the code's markers).
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

/// One part of the answer: what the interviewer asks, and the talking points that answer it.
struct Section {
    title: &'static str,
    ask: &'static str,
    points: &'static [&'static str],
}

const SECTIONS: [Section; 9] = [
    Section {
        title: "Requirements",
        ask: "What are we building, for whom, and under which constraints?",
        points: &["objective", "constraints"],
    },
    Section {
        title: "Framing",
        ask: "How do you turn that into an ML problem, and what is success?",
        points: &["metrics", "rules-baseline"],
    },
    Section {
        title: "Data",
        ask: "Where do the data and the labels come from, and what goes wrong with them?",
        points: &["labels", "cleaning", "features"],
    },
    Section {
        title: "Model",
        ask: "What do you train first, and what next?",
        points: &["baseline"],
    },
    Section {
        title: "Evaluation",
        ask: "How do you know it is better?",
        points: &["comparison"],
    },
    Section {
        title: "Serving",
        ask: "How is it served?",
        points: &["batch-vs-real-time", "api", "storage"],
    },
    Section {
        title: "Monitoring and rollout",
        ask: "What happens after launch?",
        points: &[
            "drift",
            "versioning",
            "retraining",
            "rollback",
            "experiments",
            "testing",
        ],
    },
    Section {
        title: "Scaling",
        ask: "What if traffic grows 10×?",
        points: &["load-balancing", "distributed", "caching", "capacity"],
    },
    Section {
        title: "Trade-offs",
        ask: "What did you give up, and why?",
        points: &["trade-offs"],
    },
];

/// The talking points, most important first: `--time` keeps a prefix of this list.
const PRIORITY: [&str; 23] = [
    "objective",
    "metrics",
    "baseline",
    "comparison",
    "features",
    "batch-vs-real-time",
    "drift",
    "labels",
    "constraints",
    "api",
    "retraining",
    "rollback",
    "experiments",
    "capacity",
    "storage",
    "trade-offs",
    "cleaning",
    "rules-baseline",
    "versioning",
    "testing",
    "caching",
    "load-balancing",
    "distributed",
];

/// Minutes to say one point with its evidence, and kept for the follow-up questions.
const MINUTES_PER_POINT: u32 = 2;
const FOLLOW_UP_MINUTES: u32 = 5;

/// What the interviewer asks next, and the talking point whose code answers it.
const FOLLOW_UPS: [(&str, &str); 6] = [
    (
        "The labels arrive a week late. What does that do to training and to evaluation?",
        "labels",
    ),
    (
        "Traffic grows 10×: how many machines, and what breaks first?",
        "capacity",
    ),
    (
        "A new model is worse in production than offline. How would you notice, and what then?",
        "drift",
    ),
    (
        "How do you ship a new model without risking the business?",
        "experiments",
    ),
    ("A release is bad: how fast can you go back?", "rollback"),
    ("Why not the most accurate model you trained?", "trade-offs"),
];

pub fn run(runs_dir: &Path, args: &InterviewArgs) -> Result<()> {
    let design = args.design.name();
    let Some(layout) = talking_points::DESIGNS.iter().find(|d| d.key == design) else {
        bail!("{design} has no column in the talking-point index");
    };
    let markers = talking_points::all_markers(&args.root).unwrap_or_default();
    let texts = Texts::load(&args.root);
    if markers.is_empty() {
        println!("(no `// Talking point [key]:` markers under {}: run from the repository's root, or pass --root, for the code's lines)\n", args.root.display());
    }
    let kept = kept_points(args.time)?;
    let minutes = kept.len() as u32 * MINUTES_PER_POINT + FOLLOW_UP_MINUTES;
    println!(
        "# Interview: {} — {} talking points, about {minutes} minutes\n",
        layout.title,
        kept.len()
    );
    // A run folder only when something runs (`--no-run` writes nothing).
    let run_dir = if args.no_run {
        None
    } else {
        Some(RunDir::create(runs_dir, &format!("interview-{design}"))?)
    };
    let plan = run_dir
        .as_ref()
        .map_or_else(Vec::new, |d| live_plan(args.design, &d.path));
    let mut live = Live::new(
        run_dir
            .as_ref()
            .map_or_else(PathBuf::new, |d| d.path.join("runs")),
    );
    live.setup(&plan)?;
    for (n, section) in SECTIONS.iter().enumerate() {
        let points: Vec<&str> = section
            .points
            .iter()
            .copied()
            .filter(|p| kept.contains(p))
            .collect();
        if points.is_empty() {
            continue;
        }
        println!("## {}. {} — \"{}\"\n", n + 1, section.title, section.ask);
        for point in points {
            say(layout, point, &markers, &texts);
            live.show(&plan, point);
            println!();
        }
    }
    follow_ups(layout, &kept, &markers);
    if let Some(d) = &run_dir {
        println!("Live commands' output: {}", d.path.display());
    }
    if live.failed > 0 {
        bail!("{} live command(s) failed (above)", live.failed);
    }
    Ok(())
}

/// The points said within `time` minutes, in priority order (all of them without a limit).
fn kept_points(time: Option<u32>) -> Result<Vec<&'static str>> {
    let Some(minutes) = time else {
        return Ok(PRIORITY.to_vec());
    };
    let fit = minutes.saturating_sub(FOLLOW_UP_MINUTES) / MINUTES_PER_POINT;
    if fit == 0 {
        bail!(
            "{minutes} minutes leave no time for a talking point: give at least {}",
            FOLLOW_UP_MINUTES + MINUTES_PER_POINT
        );
    }
    Ok(PRIORITY.iter().copied().take(fit as usize).collect())
}

/// A point as the design has it: the marker's sentence and line, the test, the doc's number.
fn say(layout: &talking_points::Design, point: &str, markers: &[Marker], texts: &Texts) {
    let title = POINTS
        .iter()
        .find(|p| p.key == point)
        .map_or(point, |p| p.title);
    println!("### {title}");
    match talking_points::cell(layout.key, point) {
        Some(Cell::Built {
            test,
            number,
            command,
        }) => {
            let links = talking_points::links(layout, point, markers);
            if let Some(m) = links.first() {
                println!("say:  {}", m.says);
            }
            for m in links.iter().take(3) {
                println!("code: {}:{}", m.file, m.line);
            }
            println!("test: {}::{}", test.0, test.1);
            // As the index links it: the doc that prints the number (a shared one at times).
            let doc = texts.source_doc(layout, number).unwrap_or(layout.doc);
            println!("doc:  {number}  (`{command}`, {doc})");
        }
        Some(Cell::NotBuilt(why)) => println!("not built: {why}"),
        None => println!("no cell for {point} in src/talking_points/cells.rs"),
    }
}

fn follow_ups(layout: &talking_points::Design, kept: &[&str], markers: &[Marker]) {
    println!("## What the interviewer asks next\n");
    let trimmed: Vec<&str> = PRIORITY
        .iter()
        .copied()
        .filter(|p| !kept.contains(p))
        .collect();
    if !trimmed.is_empty() {
        println!(
            "Left out for time, ready if asked: {}\n",
            trimmed.join(", ")
        );
    }
    for (question, point) in FOLLOW_UPS {
        println!("- {question}");
        match talking_points::cell(layout.key, point) {
            Some(Cell::Built { test, .. }) => {
                let code = talking_points::links(layout, point, markers)
                    .first()
                    .map(|m| format!("{}:{}", m.file, m.line))
                    .unwrap_or_else(|| "(no marker found)".into());
                println!("  answered by {code}, shown by {}::{}", test.0, test.1);
            }
            Some(Cell::NotBuilt(why)) => println!("  not built here: {why}"),
            None => println!("  no cell"),
        }
    }
    println!();
}

/// The live commands: setup steps run first, then each point's as it is said.
struct Live {
    runs: PathBuf,
    /// Each command's output by its arguments: commands several points read run once.
    outputs: HashMap<String, Result<String, String>>,
    failed: usize,
}

impl Live {
    fn new(runs: PathBuf) -> Live {
        Live {
            runs,
            outputs: HashMap::new(),
            failed: 0,
        }
    }

    /// Runs the steps every later one needs (data, a registered model, a benchmark).
    fn setup(&mut self, plan: &[Step]) -> Result<()> {
        let setup: Vec<&Step> = plan.iter().filter(|s| s.point.is_none()).collect();
        if setup.is_empty() {
            return Ok(());
        }
        println!("Setting the stage (quick versions of the commands, run now):");
        for step in setup {
            let out = self.run(step)?;
            println!("  {}", out.unwrap_or_else(|e| e));
        }
        println!();
        Ok(())
    }

    fn show(&mut self, plan: &[Step], point: &str) {
        for step in plan.iter().filter(|s| s.point == Some(point)) {
            match self.run(step) {
                Ok(Ok(line)) => println!("now:  {line}"),
                Ok(Err(e)) => println!("now:  FAILED {e}"),
                Err(e) => {
                    self.failed += 1;
                    println!("now:  FAILED {e:#}");
                }
            }
        }
    }

    /// Runs `mlsd <args>` (this binary) in the interview's runs folder; the step's reading
    /// of its output, or why it failed. A command seen before is not run twice.
    fn run(&mut self, step: &Step) -> Result<Result<String, String>> {
        let key = step.args.join(" ");
        if !self.outputs.contains_key(&key) {
            let output = self.execute(&step.args, &key)?;
            self.outputs.insert(key.clone(), output);
        }
        let read = match &self.outputs[&key] {
            Ok(text) => (step.read)(text)
                .ok_or_else(|| format!("`mlsd {key}` printed something unexpected")),
            Err(e) => Err(e.clone()),
        };
        if read.is_err() {
            self.failed += 1;
        }
        Ok(read)
    }

    /// `mlsd <args>`'s standard output, or the last line of its error.
    fn execute(&self, args: &[String], key: &str) -> Result<Result<String, String>> {
        let exe = std::env::current_exe().context("this binary's path")?;
        let started = Instant::now();
        let out = std::process::Command::new(exe)
            .arg("--runs-dir")
            .arg(&self.runs)
            .args(args)
            .output()
            .with_context(|| format!("while starting `mlsd {key}`"))?;
        println!(
            "      (ran `mlsd {key}` in {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        if out.status.success() {
            return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("no message");
        Ok(Err(format!("`mlsd {key}`: {last}")))
    }
}

/// `text` as one JSON object (the last line that parses: commands print progress first).
pub fn json(text: &str) -> Option<Value> {
    text.lines().rev().find_map(|l| {
        serde_json::from_str::<Value>(l.trim())
            .ok()
            .filter(Value::is_object)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_talking_point_is_in_one_section_and_ranked_once() {
        let mut points: Vec<&str> = POINTS.iter().map(|p| p.key).collect();
        let mut in_sections: Vec<&str> = SECTIONS
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .collect();
        let mut ranked = PRIORITY.to_vec();
        points.sort_unstable();
        in_sections.sort_unstable();
        ranked.sort_unstable();
        assert_eq!(in_sections, points);
        assert_eq!(ranked, points);
        for (question, point) in FOLLOW_UPS {
            assert!(points.contains(&point), "{question} points at {point}");
        }
    }

    #[test]
    fn the_time_budget_keeps_the_most_important_points_that_fit() {
        let kept = |minutes| kept_points(minutes).expect("a budget");
        assert_eq!(kept(None).len(), 23);
        assert_eq!(kept(Some(45)).len(), 20);
        assert_eq!(kept(Some(500)).len(), 23);
        assert_eq!(kept(Some(7)), vec!["objective"]);
        assert!(kept_points(Some(6)).is_err());
    }
}
