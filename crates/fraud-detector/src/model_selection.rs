//! Stage 4 (continued) — the handbook's chapter-5 protocol: prequential model selection.
//!
//! One train/delay/test window (chapter 3) is one draw; a setting that wins on it may have
//! been lucky. Prequential validation repeats the window over consecutive weeks: fold `i`
//! starts `i` weeks earlier than fold 0, and a setting is judged by its mean over the folds.
//!
//! - **Validation** (choosing): fold 0 trains on 2018-07-11..07-17 — two weeks (the delay and
//!   one test week) before the test's first training day, so no validation window reaches the
//!   test period's labels; folds 1–3 one, two, three weeks earlier.
//! - **Test** (reporting the chosen setting): fold 0 trains from 2018-08-15, folds 1–3 from
//!   08-08, 08-01 and 07-25, each tested on the week after its 7-day delay.
//!
//! Every window removes the cards already known compromised (chapter 3's rule), and CP@100 is
//! the handbook's (cards caught on an earlier day leave the later days).
//!
//! Talking points: hyper-parameters are chosen on windows that end before the test period;
//! the number reported is the mean over four test weeks with its spread, so a difference
//! smaller than the spread is not a difference; the search costs one fit per setting per fold
//! — the training-time column is part of the answer.

use std::time::Instant;

use ndarray::Array2;
use polars::prelude::DataFrame;
use serde::Serialize;

use crate::config::{ModelConfig, ProtocolConfig};
use crate::evaluate::{chapter3_split, labels, score_split};
use crate::features::to_matrix;
use crate::simulate::{date_to_epoch_ms, epoch_ms_to_date};
use crate::train::{fit, ModelKind};
use crate::Result;

const DAY_MS: i64 = 86_400_000;

/// Settings of the protocol (the handbook's: 4 folds a week apart, validation two weeks
/// before the test).
#[derive(Debug, Clone, Serialize)]
pub struct Chapter5Config {
    /// First training day of the test's fold 0 minus three weeks (handbook: 2018-07-25).
    pub start: String,
    pub folds: u32,
    /// One window's shape (7 training days, 7 delay days, 7 test days, CP@100).
    pub window: ProtocolConfig,
}

impl Default for Chapter5Config {
    fn default() -> Self {
        Chapter5Config {
            start: "2018-07-25".into(),
            folds: 4,
            window: ProtocolConfig::default(),
        }
    }
}

/// One setting of one model family to try.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub kind: ModelKind,
    /// What differs from the defaults, for the table.
    pub setting: String,
    #[serde(skip)]
    pub config: ModelConfig,
    /// Train on the 15 features plus the derived card amount ratios
    /// ([`crate::features::with_card_amount_ratios`]): the feature set is searched too.
    pub card_ratios: bool,
}

/// The handbook's grids, cut to what two cores fit in a few minutes: logistic regression's
/// penalty; boosting's depth × rounds × learning rate; the forest as configured (one fit is
/// ~5 s, so its settings are not searched) — each on the handbook's 15 features and on those
/// plus the card amount ratios.
pub fn default_grid(base: &ModelConfig) -> Vec<Candidate> {
    let mut grid = Vec::new();
    for card_ratios in [false, true] {
        let with = |setting: String| {
            if card_ratios {
                format!("{setting}, + card amount ratios")
            } else {
                setting
            }
        };
        for alpha in [1e-4, 1e-2, 1.0] {
            grid.push(Candidate {
                kind: ModelKind::LogisticRegression,
                setting: with(format!("L2 α {alpha}")),
                config: ModelConfig {
                    logistic_alpha: alpha,
                    ..base.clone()
                },
                card_ratios,
            });
        }
        for depth in [3, 6] {
            for rounds in [50, 100, 200] {
                for rate in [0.1f32, 0.3] {
                    grid.push(Candidate {
                        kind: ModelKind::GradientBoosting,
                        setting: with(format!("depth {depth}, {rounds} rounds, rate {rate}")),
                        config: ModelConfig {
                            boosting_max_depth: depth,
                            boosting_iterations: rounds,
                            boosting_learning_rate: rate,
                            ..base.clone()
                        },
                        card_ratios,
                    });
                }
            }
        }
        grid.push(Candidate {
            kind: ModelKind::UndersampledForest,
            setting: with(format!("{} trees", base.forest_trees)),
            config: base.clone(),
            card_ratios,
        });
    }
    grid
}

/// Mean and spread of one metric over folds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub std: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Spread {
            mean,
            std: var.sqrt(),
        }
    }
}

/// A setting's metrics over the folds of one phase.
#[derive(Debug, Clone, Serialize)]
pub struct FoldScores {
    pub auc: Spread,
    pub average_precision: Spread,
    pub card_precision_at_100: Spread,
    /// Mean per fold.
    pub train_seconds: f64,
    pub predict_seconds: f64,
}

/// Validation results of every setting tried.
#[derive(Debug, Clone, Serialize)]
pub struct Tried {
    pub model: &'static str,
    pub setting: String,
    pub validation: FoldScores,
}

/// One model family's chosen setting, with its test scores.
#[derive(Debug, Clone, Serialize)]
pub struct Chosen {
    pub model: &'static str,
    pub setting: String,
    pub validation: FoldScores,
    pub test: FoldScores,
}

/// What `mlsd fraud evaluate --protocol ch5 --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Chapter5Report {
    pub protocol: &'static str,
    pub folds: u32,
    pub validation_starts: Vec<String>,
    pub test_starts: Vec<String>,
    pub tried: Vec<Tried>,
    pub models: Vec<Chosen>,
}

/// Published chapter-5 test results (mean over the four test folds): (our model, label, AP).
pub const PUBLISHED: [(&str, &str, f64); 3] = [
    ("gradient_boosting", "XGBoost (best of its grid)", 0.687),
    (
        "undersampled_forest",
        "random forest (100 trees, depth 20; all rows)",
        0.678,
    ),
    ("logistic_regression", "logistic regression", 0.623),
];

/// One window's matrices.
struct Fold {
    x_train: Array2<f64>,
    y_train: Vec<bool>,
    x_test: Array2<f64>,
    test: DataFrame,
}

/// First training days of `folds` windows, a week apart going back from `first`.
fn starts(first_ms: i64, folds: u32, step_days: u32) -> Vec<String> {
    (0..folds)
        .map(|i| epoch_ms_to_date(first_ms - i64::from(i * step_days) * DAY_MS))
        .collect()
}

fn windows(
    featured: &DataFrame,
    names: &[String],
    window: &ProtocolConfig,
    starts: &[String],
) -> Result<Vec<Fold>> {
    starts
        .iter()
        .map(|start| {
            let p = ProtocolConfig {
                train_start: start.clone(),
                ..window.clone()
            };
            let split = chapter3_split(featured, &p)?;
            Ok(Fold {
                x_train: to_matrix(&split.train, names)?,
                y_train: labels(&split.train)?,
                x_test: to_matrix(&split.test, names)?,
                test: split.test,
            })
        })
        .collect()
}

/// The folds of one phase on both feature sets: (names, folds) without and with the ratios.
struct Phase {
    base: (Vec<String>, Vec<Fold>),
    ratios: Option<(Vec<String>, Vec<Fold>)>,
}

impl Phase {
    fn of<'a>(c: &Candidate, phase: &'a Phase) -> Result<(&'a [String], &'a [Fold])> {
        let set = if c.card_ratios {
            phase.ratios.as_ref().ok_or_else(|| {
                crate::Error::Config("a card-ratio candidate without its folds".into())
            })?
        } else {
            &phase.base
        };
        Ok((&set.0, &set.1))
    }
}

fn score_folds(
    c: &Candidate,
    folds: &[Fold],
    names: &[String],
    top_k: usize,
) -> Result<FoldScores> {
    let (mut auc, mut ap, mut cp) = (Vec::new(), Vec::new(), Vec::new());
    let (mut train_s, mut predict_s) = (0.0, 0.0);
    for f in folds {
        let t = Instant::now();
        let model = fit(c.kind, &f.x_train, &f.y_train, names, &c.config)?;
        train_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let scores = model.predict_proba(f.x_test.view())?;
        predict_s += t.elapsed().as_secs_f64();
        let r = score_split(c.kind.name(), &scores, &f.test, top_k)?;
        auc.push(r.auc);
        ap.push(r.average_precision);
        cp.push(r.card_precision_at_100);
    }
    let n = folds.len().max(1) as f64;
    Ok(FoldScores {
        auc: Spread::of(&auc),
        average_precision: Spread::of(&ap),
        card_precision_at_100: Spread::of(&cp),
        train_seconds: train_s / n,
        predict_seconds: predict_s / n,
    })
}

/// Runs the protocol: every candidate on the validation folds, the best of each family and
/// feature set (by mean validation AP; ties keep the earlier candidate) on the test folds.
/// Talking point [comparison]: settings chosen on validation weeks, the published protocol's test
/// weeks scored once.
pub fn chapter5(
    featured: &DataFrame,
    names: &[String],
    cfg: &Chapter5Config,
    grid: &[Candidate],
    mut progress: impl FnMut(&str),
) -> Result<Chapter5Report> {
    let w = &cfg.window;
    let first = date_to_epoch_ms(&cfg.start)?;
    let step = w.test_days;
    let validation_first = first - i64::from(w.delay_days + w.test_days) * DAY_MS;
    let test_first = first + i64::from((cfg.folds.max(1) - 1) * step) * DAY_MS;
    let validation_starts = starts(validation_first, cfg.folds, step);
    let test_starts = starts(test_first, cfg.folds, step);
    let ratios = if grid.iter().any(|c| c.card_ratios) {
        Some(crate::features::with_card_amount_ratios(featured, names)?)
    } else {
        None
    };
    let phase = |starts: &[String]| -> Result<Phase> {
        Ok(Phase {
            base: (names.to_vec(), windows(featured, names, w, starts)?),
            ratios: match &ratios {
                Some((df, n)) => Some((n.clone(), windows(df, n, w, starts)?)),
                None => None,
            },
        })
    };
    let validation = phase(&validation_starts)?;
    let test = phase(&test_starts)?;

    let mut tried = Vec::new();
    let mut models = Vec::new();
    // Each family once per feature set, in the grid's order (its candidates need not be
    // adjacent): the 15 features' row stays beside the published one.
    let mut families: Vec<(ModelKind, bool)> = Vec::new();
    for c in grid {
        if !families.contains(&(c.kind, c.card_ratios)) {
            families.push((c.kind, c.card_ratios));
        }
    }
    for (kind, card_ratios) in families {
        let candidates: Vec<&Candidate> = grid
            .iter()
            .filter(|c| c.kind == kind && c.card_ratios == card_ratios)
            .collect();
        let mut best: Option<(&Candidate, FoldScores)> = None;
        for c in &candidates {
            progress(&format!("validating {} ({})", kind.name(), c.setting));
            let (names, folds) = Phase::of(c, &validation)?;
            let v = score_folds(c, folds, names, w.top_k)?;
            tried.push(Tried {
                model: kind.name(),
                setting: c.setting.clone(),
                validation: v.clone(),
            });
            let better = best
                .as_ref()
                .is_none_or(|(_, b)| v.average_precision.mean > b.average_precision.mean);
            if better {
                best = Some((c, v));
            }
        }
        let Some((c, v)) = best else { continue };
        progress(&format!("testing {} ({})", kind.name(), c.setting));
        let (names, folds) = Phase::of(c, &test)?;
        let t = score_folds(c, folds, names, w.top_k)?;
        models.push(Chosen {
            model: kind.name(),
            setting: c.setting.clone(),
            validation: v,
            test: t,
        });
    }
    Ok(Chapter5Report {
        protocol: "handbook-ch5",
        folds: cfg.folds,
        validation_starts,
        test_starts,
        tried,
        models,
    })
}

/// The chosen settings' test scores beside the published chapter-5 table.
pub fn render(report: &Chapter5Report) -> String {
    let pm = |s: Spread| format!("{:.3} ± {:.3}", s.mean, s.std);
    let rows: Vec<Vec<String>> = report
        .models
        .iter()
        .map(|m| {
            let published = PUBLISHED.iter().find(|p| p.0 == m.model);
            vec![
                m.model.to_string(),
                m.setting.clone(),
                format!("{:.3}", m.validation.average_precision.mean),
                pm(m.test.auc),
                pm(m.test.average_precision),
                published.map_or("–".into(), |p| format!("{:.3} ({})", p.2, p.1)),
                pm(m.test.card_precision_at_100),
                format!("{:.2}", m.test.train_seconds),
                format!("{:.3}", m.test.predict_seconds),
            ]
        })
        .collect();
    mlsd_core::report::markdown_table(
        &[
            "model",
            "chosen setting",
            "valid. AP",
            "test AUC",
            "test AP",
            "pub. AP",
            "test CP@100",
            "train s/fold",
            "predict s/fold",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_step_back_a_week_and_validation_ends_before_the_test_begins() {
        let first = date_to_epoch_ms("2018-07-25").expect("date");
        let w = ProtocolConfig::default();
        let validation_first = first - i64::from(w.delay_days + w.test_days) * DAY_MS;
        let v = starts(validation_first, 4, 7);
        assert_eq!(v, ["2018-07-11", "2018-07-04", "2018-06-27", "2018-06-20"]);
        let t = starts(first + 21 * DAY_MS, 4, 7);
        assert_eq!(t, ["2018-08-15", "2018-08-08", "2018-08-01", "2018-07-25"]);
        // The latest validation window tests on 07-25..07-31: before the earliest test
        // window's first test day (08-08), whose labels it never sees.
        let last_validation_test_day = validation_first + 20 * DAY_MS;
        let first_test_test_day = date_to_epoch_ms("2018-07-25").expect("date") + 14 * DAY_MS;
        assert!(last_validation_test_day < first_test_test_day);
    }

    #[test]
    fn spread_is_the_mean_and_population_std() {
        let s = Spread::of(&[1.0, 3.0]);
        assert_eq!((s.mean, s.std), (2.0, 1.0));
    }
}
