//! Mistakes you can run (`mlsd maintenance evaluate --protocol ai4i --mistake leaked-outcome`):
//! the classic error of a failure classifier, measured beside the honest number.
//!
//! ```text
//! AI4I 2020 ─► the five classifiers, 5 folds, machine features only      ─► honest F1
//!           └► the same with the failure-mode columns as inputs (leaked) ─► mistaken F1
//! ```
//!
//! Talking point: a column written *because* the machine failed (AI4I's TWF, HDF, PWF, OSF, RNF
//! flags) is the label in disguise — the model looks near perfect offline and is useless in
//! production, where the flags do not exist before the failure.

use std::path::Path;

use mlsd_core::mistakes::{self, Mistake};

use crate::evaluate::{ai4i, Ai4iConfig, Ai4iReport};
use crate::{Error, Result};

/// The mistakes, by their command-line names.
pub const ALL: [&str; 1] = ["leaked-outcome"];

/// Runs the named mistakes (every one for `["all"]`) on the AI4I file at `path`.
pub fn run(names: &[&str], path: &Path, cfg: &Ai4iConfig) -> Result<Vec<Mistake>> {
    let names = mistakes::select("maintenance", names, &ALL).map_err(Error::Config)?;
    names
        .into_iter()
        .map(|name| match name {
            "leaked-outcome" => leaked_outcome(path, cfg),
            other => Err(Error::Config(mistakes::unknown("maintenance", other, &ALL))),
        })
        .collect()
}

fn best_f1(report: &Ai4iReport) -> (String, f64) {
    report
        .models
        .iter()
        .map(|m| (m.name.clone(), m.f1))
        .fold(
            (String::new(), 0.0),
            |best, m| if m.1 > best.1 { m } else { best },
        )
}

fn leaked_outcome(path: &Path, cfg: &Ai4iConfig) -> Result<Mistake> {
    let (honest_model, honest) = best_f1(&ai4i(path, cfg, false)?);
    let (leaky_model, mistaken) = best_f1(&ai4i(path, cfg, true)?);
    Ok(Mistake {
        name: "leaked-outcome",
        what: "AI4I's five failure-mode flags kept as model inputs",
        metric: "best F1, AI4I 2020, 5 folds".into(),
        honest,
        mistaken,
        lesson: format!(
            "the flags are written when the machine fails, so {leaky_model} reads the answer \
             off them; without them the best model is \"{honest_model}\" — the leak guard is a test \
             that fails when the honest protocol passes F1 0.95"
        ),
    })
}
