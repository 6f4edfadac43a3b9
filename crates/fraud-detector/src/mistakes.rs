//! Mistakes you can run (`mlsd fraud evaluate --mistake <name>`): the errors an interviewer
//! probes in a fraud answer, each measured beside the honest number on the chapter-3 protocol
//! with logistic regression (the published anchor's model), on the same simulated world.
//!
//! ```text
//! transactions ─► features (delay 7 d) ─► chapter-3 split ─► LR ─► honest number
//!              └► the same with one thing done wrong      ─► LR ─► mistaken number
//! ```
//!
//! Talking points: a random split leaks the future; preprocessing fitted on all rows; labels
//! used before they exist; known-compromised cards in the test; accuracy at a 0.8 % base rate;
//! a card's windows served without the payment the offline windows include (training/serving
//! skew).

use mlsd_core::metrics::average_precision;
use mlsd_core::mistakes::{self, Mistake};
use mlsd_tabular::{Estimator, Learner, Scaler};
use ndarray::{concatenate, Array2, Axis};
use polars::prelude::DataFrame;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::evaluate::{chapter3_split, chapter3_split_with, labels, score_split};
use crate::features::{to_matrix, FeatureSpec};
use crate::pipeline::{featurize, PipelineConfig};
use crate::train::{fit, FraudModel, ModelKind};
use crate::{Error, Result};

/// The mistakes, by their command-line names.
pub const ALL: [&str; 6] = [
    "random-split",
    "scaler-on-all-rows",
    "label-delay-ignored",
    "compromised-cards-kept",
    "accuracy-at-base-rate",
    "training-serving-skew",
];

/// The honest run every mistake is compared with (features, split and model computed once).
struct Honest {
    featured: DataFrame,
    model: FraudModel,
    names: Vec<String>,
    x_train: Array2<f64>,
    y_train: Vec<bool>,
    x_test: Array2<f64>,
    y_test: Vec<bool>,
    test: DataFrame,
    scores: Vec<f64>,
}

impl Honest {
    fn new(transactions: &DataFrame, cfg: &PipelineConfig) -> Result<Honest> {
        let (featured, _) = featurize(transactions.clone(), &cfg.features)?;
        let names = cfg.features.names();
        let split = chapter3_split(&featured, &cfg.protocol)?;
        let (x_train, y_train) = (to_matrix(&split.train, &names)?, labels(&split.train)?);
        let (x_test, y_test) = (to_matrix(&split.test, &names)?, labels(&split.test)?);
        let model = fit(
            ModelKind::LogisticRegression,
            &x_train,
            &y_train,
            &names,
            &cfg.models,
        )?;
        let scores = model.predict_proba(x_test.view())?;
        Ok(Honest {
            featured,
            model,
            names,
            x_train,
            y_train,
            x_test,
            y_test,
            test: split.test,
            scores,
        })
    }

    fn ap(&self) -> Result<f64> {
        Ok(average_precision(&self.y_test, &self.scores)?)
    }
}

/// Runs the named mistakes (every one for `["all"]`) on `transactions`.
pub fn run(names: &[&str], transactions: &DataFrame, cfg: &PipelineConfig) -> Result<Vec<Mistake>> {
    let names = mistakes::select("fraud", names, &ALL).map_err(Error::Config)?;
    let h = Honest::new(transactions, cfg)?;
    names
        .into_iter()
        .map(|name| match name {
            "random-split" => random_split(&h, cfg),
            "scaler-on-all-rows" => scaler_on_all_rows(&h, cfg),
            "label-delay-ignored" => label_delay_ignored(&h, transactions, cfg),
            "compromised-cards-kept" => compromised_cards_kept(&h, cfg),
            "accuracy-at-base-rate" => accuracy_at_base_rate(&h),
            "training-serving-skew" => training_serving_skew(&h, cfg),
            other => Err(Error::Config(mistakes::unknown("fraud", other, &ALL))),
        })
        .collect()
}

fn random_split(h: &Honest, cfg: &PipelineConfig) -> Result<Mistake> {
    // The protocol's own rows (train week + test week), shuffled into the same sizes.
    let x = concatenate(Axis(0), &[h.x_train.view(), h.x_test.view()])
        .map_err(|e| Error::Config(e.to_string()))?;
    let y: Vec<bool> = h.y_train.iter().chain(&h.y_test).copied().collect();
    let mut order: Vec<usize> = (0..y.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.models.seed));
    let (train, test) = order.split_at(h.y_train.len());
    let rows = |idx: &[usize]| x.select(Axis(0), idx);
    let pick = |idx: &[usize]| idx.iter().map(|&i| y[i]).collect::<Vec<bool>>();
    let model = fit(
        ModelKind::LogisticRegression,
        &rows(train),
        &pick(train),
        &h.names,
        &cfg.models,
    )?;
    let scores = model.predict_proba(rows(test).view())?;
    Ok(Mistake {
        name: "random-split",
        what: "rows of the train and test weeks shuffled into train and test",
        metric: "AP, logistic regression".into(),
        honest: h.ap()?,
        mistaken: average_precision(&pick(test), &scores)?,
        lesson: "the model trains on days after the ones it is judged on, and on the same \
                 compromised cards and terminals; production never gets that"
            .into(),
    })
}

fn scaler_on_all_rows(h: &Honest, cfg: &PipelineConfig) -> Result<Mistake> {
    let ap_with = |scaler: &Scaler| -> Result<f64> {
        let fitted = Estimator::fit(
            Learner::LogisticRegression,
            scaler,
            &h.x_train,
            &h.y_train,
            &cfg.models,
        )
        .map_err(|why| Error::Train {
            model: "logistic regression".into(),
            why,
        })?;
        Ok(average_precision(
            &h.y_test,
            &fitted.predict_proba(scaler, h.x_test.view()),
        )?)
    };
    let all = concatenate(Axis(0), &[h.x_train.view(), h.x_test.view()])
        .map_err(|e| Error::Config(e.to_string()))?;
    Ok(Mistake {
        name: "scaler-on-all-rows",
        what: "the standard scaler fitted on train and test rows together",
        metric: "AP, logistic regression".into(),
        honest: ap_with(&Scaler::fit(&h.x_train))?,
        mistaken: ap_with(&Scaler::fit(&all))?,
        lesson: "a mean and a deviation of 15 features over 100 k+ rows barely move: the leak is \
                 real but small here — it is large for anything fitted on labels (target \
                 encoding, imputation by class)"
            .into(),
    })
}

fn label_delay_ignored(
    h: &Honest,
    transactions: &DataFrame,
    cfg: &PipelineConfig,
) -> Result<Mistake> {
    let spec = FeatureSpec {
        delay_days: 0,
        ..cfg.features.clone()
    };
    let (featured, _) = featurize(transactions.clone(), &spec)?;
    let split = chapter3_split(&featured, &cfg.protocol)?;
    let (x_train, x_test) = (
        to_matrix(&split.train, &h.names)?,
        to_matrix(&split.test, &h.names)?,
    );
    let y_train = labels(&split.train)?;
    let model = fit(
        ModelKind::LogisticRegression,
        &x_train,
        &y_train,
        &h.names,
        &cfg.models,
    )?;
    let scores = model.predict_proba(x_test.view())?;
    Ok(Mistake {
        name: "label-delay-ignored",
        what: "terminal-risk windows count frauds the moment they happen, not 7 days later",
        metric: "AP, logistic regression".into(),
        honest: h.ap()?,
        mistaken: average_precision(&h.y_test, &scores)?,
        lesson: "offline the window already holds the test week's frauds; in production those \
                 labels are a week away, so the feature and the score are not what was measured"
            .into(),
    })
}

fn card_precision(test: &DataFrame, scores: &[f64], k: usize) -> Result<f64> {
    Ok(score_split("cp", scores, test, k)?.card_precision_at_100)
}

fn compromised_cards_kept(h: &Honest, cfg: &PipelineConfig) -> Result<Mistake> {
    let kept = chapter3_split_with(&h.featured, &cfg.protocol, false)?.test;
    let scores = h.model.predict_proba(to_matrix(&kept, &h.names)?.view())?;
    let k = cfg.protocol.top_k;
    Ok(Mistake {
        name: "compromised-cards-kept",
        what:
            "cards already known compromised (frauds labelled before the test day) stay in the test",
        metric: format!("Card Precision@{k}, logistic regression"),
        honest: card_precision(&h.test, &h.scores, k)?,
        mistaken: card_precision(&kept, &scores, k)?,
        lesson: "a known stolen card is blocked already: alerting on it again is worth nothing, \
                 yet it is the easiest catch and fills the top of the list"
            .into(),
    })
}

fn accuracy_at_base_rate(h: &Honest) -> Result<Mistake> {
    let n = h.y_test.len().max(1) as f64;
    let frauds = h.y_test.iter().filter(|&&y| y).count() as f64;
    let model_right = h
        .y_test
        .iter()
        .zip(&h.scores)
        .filter(|(&y, &s)| y == (s >= 0.5))
        .count() as f64;
    let none = vec![0.0; h.y_test.len()];
    Ok(Mistake {
        name: "accuracy-at-base-rate",
        what: "the model judged by accuracy; \"approve everything\" is the mistaken column",
        metric: "accuracy on the test week".into(),
        honest: model_right / n,
        mistaken: 1.0 - frauds / n,
        lesson: format!(
            "approving everything catches no fraud and is as accurate as the model; AP tells them \
             apart: {:.3} vs {:.3}",
            h.ap()?,
            average_precision(&h.y_test, &none)?
        ),
    })
}

fn training_serving_skew(h: &Honest, cfg: &PipelineConfig) -> Result<Mistake> {
    // Offline, a card's windows (t − n, t] include the payment being scored; an online store
    // that reads the card's history before appending the payment serves n − 1 payments and
    // their average without it. Same model, the test week's features served that way.
    let column = |name: &str| h.names.iter().position(|n| n == name);
    let amount = column(crate::schema::TX_AMOUNT);
    let mut served = h.x_test.clone();
    for w in &cfg.features.customer_windows {
        let count = column(&format!("customer_id_nb_tx_{w}day_window"));
        let mean = column(&format!("customer_id_avg_amount_{w}day_window"));
        let (Some(a), Some(c), Some(m)) = (amount, count, mean) else {
            return Err(Error::Config("the feature spec has no card windows".into()));
        };
        for mut row in served.rows_mut() {
            let n = row[c];
            row[m] = if n > 1.0 {
                (row[m] * n - row[a]) / (n - 1.0)
            } else {
                0.0
            };
            row[c] = (n - 1.0).max(0.0);
        }
    }
    let scores = h.model.predict_proba(served.view())?;
    // The alerts a team would work: the week's top (k × days) payments, honest vs served.
    let budget = cfg.protocol.top_k * cfg.protocol.test_days as usize;
    let (honest_top, served_top) = (top(&h.scores, budget), top(&scores, budget));
    let changed = served_top
        .iter()
        .filter(|i| honest_top.binary_search(i).is_err())
        .count();
    Ok(Mistake {
        name: "training-serving-skew",
        what: "the online store counts a card's payments before appending the one it scores \
               (offline windows include it)",
        metric: "AP, logistic regression".into(),
        honest: h.ap()?,
        mistaken: average_precision(&h.y_test, &scores)?,
        lesson: format!(
            "nothing errors and AP barely moves, yet {changed} of the week's {budget} alerts go to \
             other payments: the model's weights were learned for another feature (one function \
             for both paths, as `online.rs` shares with `features.rs`, is the fix)"
        ),
    })
}

/// Indices of the `k` highest scores (ties by index), sorted.
fn top(scores: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order.sort_unstable();
    order
}
