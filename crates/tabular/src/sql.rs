//! Every fitted estimator as one SQL expression of P(positive), for batch scoring in a
//! warehouse or on Spark (see `mlsd_core::sql`).
//!
//! | estimator | SQL |
//! |---|---|
//! | logistic regression (linfa's or Newton's) | `1/(1+exp(-(b + Σ wⱼ·(xⱼ − μⱼ)/σⱼ)))` with the fitted scaler inlined |
//! | a probability tree | nested `CASE WHEN x < t THEN … ELSE … END`, leaves holding their rate |
//! | the forest | the mean of its trees' `CASE`s, each on its own feature subset |
//! | gradient boosting | `σ(base + Σ CASE …)`: one `CASE` per boosted tree, added in training order |
//!
//! Each expression adds its terms in the order the Rust scorer does, so tree paths are the same
//! and sums agree to the last bits (linfa's dot product unrolls its sum; `exp` differs between
//! the JVM and glibc by an ulp now and then).

use forust_ml::GradientBooster;
use mlsd_core::sql::{double_of, logistic, sum};

use crate::estimator::Estimator;
use crate::regression::Regressor;
use crate::scaler::Scaler;

impl Estimator {
    /// P(positive) of a row whose raw features are the SQL expressions `columns` (in model
    /// input order), with `scaler` the one the estimator was fitted with.
    pub fn sql(&self, scaler: &Scaler, columns: &[String]) -> Result<String, String> {
        let scaled = || -> Result<Vec<String>, String> {
            columns
                .iter()
                .enumerate()
                .map(|(j, c)| {
                    let mean = double_of("a scaler mean", scaler.mean[j])?;
                    let std = double_of("a scaler deviation", scaler.std[j])?;
                    Ok(format!("(({c} - {mean}) / {std})"))
                })
                .collect()
        };
        let weighted = |weights: &[f64], z: &[String]| -> Result<Vec<String>, String> {
            weights
                .iter()
                .zip(z)
                .map(|(w, z)| Ok(format!("{z} * {}", double_of("a weight", *w)?)))
                .collect()
        };
        Ok(match self {
            Estimator::Logistic(m) => {
                let params: Vec<f64> = m.params().to_vec();
                let z = format!(
                    "{} + {}",
                    sum(&weighted(&params, &scaled()?)?),
                    double_of("the intercept", m.intercept())?
                );
                // linfa's probability is of its "positive" class, the more frequent label.
                if m.labels().pos.class {
                    logistic(&z)
                } else {
                    format!("(1.0D - {})", logistic(&z))
                }
            }
            Estimator::Newton(m) => logistic(&format!(
                "{} + {}",
                double_of("the intercept", m.intercept)?,
                sum(&weighted(&m.weights, &scaled()?)?)
            )),
            Estimator::Tree(t) => t.sql(|j| columns[j].clone())?,
            Estimator::Forest(trees) => {
                let terms = trees
                    .iter()
                    .map(|(features, t)| t.sql(|j| columns[features[j]].clone()))
                    .collect::<Result<Vec<_>, _>>()?;
                format!(
                    "({} / {})",
                    sum(&terms),
                    double_of("the forest size", trees.len().max(1) as f64)?
                )
            }
            Estimator::Boosting(b) => logistic(&boosting_sql(b, columns)?),
        })
    }
}

impl Regressor {
    /// The prediction for a row whose raw features are the SQL expressions `columns`.
    pub fn sql(&self, columns: &[String]) -> Result<String, String> {
        Ok(match self {
            Regressor::Mean(m) => double_of("the mean", *m)?,
            Regressor::Ridge {
                scaler,
                intercept,
                weights,
            } => {
                let terms = columns
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        Ok(format!(
                            "(({c} - {}) / {}) * {}",
                            double_of("a scaler mean", scaler.mean[j])?,
                            double_of("a scaler deviation", scaler.std[j])?,
                            double_of("a weight", weights[j])?
                        ))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                format!(
                    "({} + {})",
                    double_of("the intercept", *intercept)?,
                    sum(&terms)
                )
            }
            Regressor::Forest(trees) => {
                let terms = trees
                    .iter()
                    .map(|t| t.sql(columns))
                    .collect::<Result<Vec<_>, _>>()?;
                format!(
                    "({} / {})",
                    sum(&terms),
                    double_of("the forest size", trees.len().max(1) as f64)?
                )
            }
            Regressor::Boosting(b) => boosting_sql(b, columns)?,
        })
    }
}

/// The booster's log-odds: its base score plus every tree's leaf weight, in training order.
pub(crate) fn boosting_sql(
    booster: &GradientBooster,
    columns: &[String],
) -> Result<String, String> {
    let trees = match booster.prediction_iteration {
        Some(n) => &booster.trees[..n.min(booster.trees.len())],
        None => &booster.trees[..],
    };
    let mut terms = vec![double_of("the base score", booster.base_score)?];
    for tree in trees {
        terms.push(boosted_node(tree, 0, columns)?);
    }
    Ok(sum(&terms))
}

// Simplification: the features have no missing values, so the trees' missing-value branches
// are not exported (a NULL feature would take the right branch here, the missing one in Rust).
fn boosted_node(
    tree: &forust_ml::tree::Tree,
    i: usize,
    columns: &[String],
) -> Result<String, String> {
    let node = tree
        .nodes
        .get(i)
        .ok_or_else(|| format!("a boosted tree has no node {i}"))?;
    if node.is_leaf {
        return double_of("a leaf weight", f64::from(node.weight_value));
    }
    let column = columns
        .get(node.split_feature)
        .ok_or_else(|| format!("a boosted tree splits on feature {}", node.split_feature))?;
    Ok(format!(
        "CASE WHEN {column} < {} THEN {} ELSE {} END",
        double_of("a split value", node.split_value)?,
        boosted_node(tree, node.left_child, columns)?,
        boosted_node(tree, node.right_child, columns)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimator::{Learner, ModelConfig};
    use crate::regression::{RegressionConfig, RegressorKind};
    use ndarray::Array2;

    /// Evaluates the little SQL subset the estimators emit, to check the text against
    /// `predict_proba` without a database: numbers, + - * /, parentheses, EXP and CASE.
    fn eval(sql: &str, row: &[f64]) -> f64 {
        let mut p = mini::Parser::new(sql, row);
        p.expr()
    }

    fn data() -> (Array2<f64>, Vec<bool>) {
        let n = 400;
        let x = Array2::from_shape_fn((n, 3), |(i, j)| ((i * (j + 3) * 7919) % 101) as f64 / 10.0);
        let y = (0..n)
            .map(|i| x[[i, 0]] + 0.5 * x[[i, 2]] > 7.0 || i % 17 == 0)
            .collect();
        (x, y)
    }

    #[test]
    fn every_estimator_s_sql_scores_like_the_estimator() {
        let (x, y) = data();
        let scaler = Scaler::fit(&x);
        let cfg = ModelConfig {
            forest_trees: 5,
            boosting_iterations: 10,
            ..ModelConfig::default()
        };
        let columns: Vec<String> = (0..3).map(|j| format!("x{j}")).collect();
        for kind in [
            RegressorKind::Mean,
            RegressorKind::Ridge,
            RegressorKind::RandomForest,
            RegressorKind::GradientBoosting,
        ] {
            let target: Vec<f64> = x.rows().into_iter().map(|r| r[0] * 3.0 - r[2]).collect();
            let cfg = RegressionConfig {
                forest_trees: 5,
                boosting_iterations: 10,
                ..RegressionConfig::default()
            };
            let model = Regressor::fit(kind, &x, &target, &cfg).expect("fits");
            let sql = model.sql(&columns).expect("sql");
            let rust = model.predict(x.view());
            for (i, r) in x.rows().into_iter().enumerate() {
                let s = eval(&sql, r.as_slice().expect("row"));
                assert!(
                    (s - rust[i]).abs() <= 1e-12 * rust[i].abs().max(1e-300),
                    "{kind:?} row {i}: sql {s} vs rust {}",
                    rust[i]
                );
            }
        }
        for learner in [
            Learner::LogisticRegression,
            Learner::NewtonLogistic,
            Learner::DecisionTree { max_depth: Some(3) },
            Learner::RandomForest,
            Learner::GradientBoosting,
        ] {
            let model = Estimator::fit(learner, &scaler, &x, &y, &cfg).expect("fits");
            let sql = model.sql(&scaler, &columns).expect("sql");
            let rust = model.predict_proba(&scaler, x.view());
            for (i, r) in x.rows().into_iter().enumerate() {
                let s = eval(&sql, r.as_slice().expect("row"));
                assert!(
                    (s - rust[i]).abs() <= 1e-12 * rust[i].abs().max(1e-300),
                    "{learner:?} row {i}: sql {s} vs rust {}",
                    rust[i]
                );
            }
        }
    }

    mod mini {
        pub struct Parser<'a> {
            s: &'a [u8],
            i: usize,
            row: &'a [f64],
        }

        impl<'a> Parser<'a> {
            pub fn new(s: &'a str, row: &'a [f64]) -> Self {
                Parser {
                    s: s.as_bytes(),
                    i: 0,
                    row,
                }
            }
            fn ws(&mut self) {
                while self.i < self.s.len() && self.s[self.i] == b' ' {
                    self.i += 1;
                }
            }
            fn eat(&mut self, t: &str) -> bool {
                self.ws();
                if self.s[self.i..].starts_with(t.as_bytes()) {
                    self.i += t.len();
                    true
                } else {
                    false
                }
            }
            pub fn expr(&mut self) -> f64 {
                let mut v = self.term();
                loop {
                    if self.eat("+") {
                        v += self.term();
                    } else if self.peek_minus() {
                        v -= self.term();
                    } else {
                        return v;
                    }
                }
            }
            fn peek_minus(&mut self) -> bool {
                self.eat("- ")
            }
            fn term(&mut self) -> f64 {
                let mut v = self.atom();
                loop {
                    if self.eat("*") {
                        v *= self.atom();
                    } else if self.eat("/") {
                        v /= self.atom();
                    } else {
                        return v;
                    }
                }
            }
            fn atom(&mut self) -> f64 {
                if self.eat("(") {
                    let v = self.expr();
                    assert!(self.eat(")"));
                    return v;
                }
                if self.eat("-") {
                    return -self.atom();
                }
                if self.eat("EXP(") {
                    let v = self.expr();
                    assert!(self.eat(")"));
                    return v.exp();
                }
                if self.eat("CASE WHEN ") {
                    let l = self.expr();
                    assert!(self.eat("<"));
                    let r = self.expr();
                    assert!(self.eat("THEN"));
                    let a = self.expr();
                    assert!(self.eat("ELSE"));
                    let b = self.expr();
                    assert!(self.eat("END"));
                    return if l < r { a } else { b };
                }
                if self.eat("x") {
                    let j = (self.s[self.i] - b'0') as usize;
                    self.i += 1;
                    return self.row[j];
                }
                let start = self.i;
                while self.i < self.s.len()
                    && (self.s[self.i].is_ascii_digit() || b".eE-+".contains(&self.s[self.i]))
                {
                    // a '-' or '+' belongs to the number only right after an exponent mark
                    if (self.s[self.i] == b'-' || self.s[self.i] == b'+')
                        && !(self.i > start && b"eE".contains(&self.s[self.i - 1]))
                    {
                        break;
                    }
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).expect("utf8");
                assert!(self.eat("D"), "a double literal at {start}: {text}");
                text.parse().expect("number")
            }
        }
    }
}
