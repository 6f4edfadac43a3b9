//! Stage 2 — the 15 features of the Fraud-Detection-Handbook, computed with polars.
//!
//! | feature | meaning |
//! |---|---|
//! | `tx_amount` | the amount |
//! | `tx_during_weekend`, `tx_during_night` | calendar flags (night = hour ≤ 6) |
//! | `customer_id_nb_tx_{1,7,30}day_window` | the card's transactions in the last n days |
//! | `customer_id_avg_amount_{1,7,30}day_window` | their mean amount |
//! | `terminal_id_nb_tx_{1,7,30}day_window` | the terminal's transactions in (t−7−n, t−7] days |
//! | `terminal_id_risk_{1,7,30}day_window` | share of those that were fraud |
//!
//! Windows are time-based and include the current transaction: (t − n days, t].
//!
//! Talking points:
//! - point-in-time correctness: every window ends at the transaction itself, so no feature
//!   sees the future (a test checks that appending future rows changes no past feature);
//! - delayed labels: fraud labels take ~a week to confirm, so terminal risk only counts
//!   transactions older than `delay_days` (a test checks that recent labels are invisible);
//! - velocity features (counts and averages over windows) are what catch a stolen card.
//!
//! Simplification: two transactions of one card (or terminal) in the same second see each
//! other, since a time-based window cannot order them.

use ndarray::Array2;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{CUSTOMER_ID, TERMINAL_ID, TRANSACTION_ID, TX_AMOUNT, TX_DATETIME, TX_FRAUD};
use crate::{Error, Result};

/// Which windows and which label delay the features use; saved with every model, so serving
/// computes exactly what training saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Customer (card) windows in days (handbook: 1, 7, 30).
    pub customer_windows: Vec<u32>,
    /// Terminal windows in days (handbook: 1, 7, 30).
    pub terminal_windows: Vec<u32>,
    /// Days before a fraud label is known (handbook: 7).
    pub delay_days: u32,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec {
            customer_windows: vec![1, 7, 30],
            terminal_windows: vec![1, 7, 30],
            delay_days: 7,
        }
    }
}

impl FeatureSpec {
    /// Feature names in model-input order.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![
            TX_AMOUNT.to_string(),
            "tx_during_weekend".to_string(),
            "tx_during_night".to_string(),
        ];
        for w in &self.customer_windows {
            names.push(format!("customer_id_nb_tx_{w}day_window"));
            names.push(format!("customer_id_avg_amount_{w}day_window"));
        }
        for w in &self.terminal_windows {
            names.push(format!("terminal_id_nb_tx_{w}day_window"));
            names.push(format!("terminal_id_risk_{w}day_window"));
        }
        names
    }

    /// Days of history the features of one payment look back over (the longest card window,
    /// or the label delay plus the longest terminal window).
    pub fn history_days(&self) -> u32 {
        let card = self.customer_windows.iter().copied().max().unwrap_or(0);
        let terminal = self.terminal_windows.iter().copied().max().unwrap_or(0);
        card.max(self.delay_days + terminal)
    }
}

/// An amount in whole cents (amounts are validated non-negative, so truncation after +0.5
/// rounds half up), exactly as the online store computes it.
pub fn to_cents(amount: f64) -> i64 {
    (amount * 100.0 + 0.5) as i64
}

fn window(days: u32) -> RollingOptionsDynamicWindow {
    RollingOptionsDynamicWindow {
        window_size: Duration::parse(&format!("{days}d")),
        min_periods: 1,
        // (t − n, t]: the current transaction is in its own window.
        closed_window: ClosedWindow::Right,
        fn_params: None,
    }
}

const ONE: &str = "__one";
const FRAUD: &str = "__fraud";
const CENTS: &str = "__cents";

/// Sum of `value` over the last `days` days of the same `key`, ending at each transaction.
fn trailing_sum(value: &str, key: &str, days: u32) -> PolarsResult<Expr> {
    col(value)
        .rolling_sum_by(col(TX_DATETIME), window(days))
        .over([col(key)])
}

/// Adds every feature of `spec` to a transactions frame (sorted by time on the way).
pub fn add_features(transactions: LazyFrame, spec: &FeatureSpec) -> PolarsResult<LazyFrame> {
    let mut exprs = vec![
        // polars: Monday = 1 … Sunday = 7.
        col(TX_DATETIME)
            .dt()
            .weekday()
            .gt_eq(lit(6))
            .cast(DataType::Float64)
            .alias("tx_during_weekend"),
        col(TX_DATETIME)
            .dt()
            .hour()
            .lt_eq(lit(6))
            .cast(DataType::Float64)
            .alias("tx_during_night"),
    ];
    for &w in &spec.customer_windows {
        let n = trailing_sum(ONE, CUSTOMER_ID, w)?;
        // Talking point [features]: training/serving skew hides in the last bits. Windowed sums of
        // float amounts differ by ~1e-13 between polars' incremental rolling sum and the
        // online store's fresh sum, enough to send a payment down the other branch of a tree
        // whose threshold is a training value. Summing integer cents makes both exact.
        let total = trailing_sum(CENTS, CUSTOMER_ID, w)?.cast(DataType::Float64);
        exprs.push(n.clone().alias(format!("customer_id_nb_tx_{w}day_window")));
        // cents / (n·100), not cents / n / 100: polars turns division by a literal into
        // multiplication by its (inexact) reciprocal.
        exprs.push(
            (total / (n * lit(100.0))).alias(format!("customer_id_avg_amount_{w}day_window")),
        );
    }
    // Talking point [labels]: labels arrive late. Counts over (t − d − n, t] minus counts over
    // (t − d, t] leave (t − d − n, t − d]: only transactions whose label is known by now.
    // A delay of 0 (labels known at once, a mistake `--mistake label-delay-ignored` measures)
    // still leaves out the payment's own label.
    let d = spec.delay_days;
    let (n_recent, fraud_recent) = if d == 0 {
        (col(ONE), col(FRAUD))
    } else {
        (
            trailing_sum(ONE, TERMINAL_ID, d)?,
            trailing_sum(FRAUD, TERMINAL_ID, d)?,
        )
    };
    for &w in &spec.terminal_windows {
        let n = trailing_sum(ONE, TERMINAL_ID, d + w)? - n_recent.clone();
        let frauds = trailing_sum(FRAUD, TERMINAL_ID, d + w)? - fraud_recent.clone();
        exprs.push(n.clone().alias(format!("terminal_id_nb_tx_{w}day_window")));
        exprs.push(
            when(n.clone().gt(lit(0.0)))
                .then(frauds / n)
                .otherwise(lit(0.0))
                .alias(format!("terminal_id_risk_{w}day_window")),
        );
    }
    Ok(transactions
        .sort(
            [TX_DATETIME, TRANSACTION_ID],
            SortMultipleOptions::default(),
        )
        .with_columns([
            lit(1.0f64).alias(ONE),
            col(TX_FRAUD).cast(DataType::Float64).alias(FRAUD),
            // Same arithmetic as `to_cents`: ×100, +0.5, truncate.
            (col(TX_AMOUNT) * lit(100.0) + lit(0.5))
                .cast(DataType::Int64)
                .alias(CENTS),
        ])
        .with_columns(exprs)
        .drop(cols([ONE, FRAUD, CENTS])))
}

/// Computes the features of a frame eagerly.
pub fn compute(transactions: DataFrame, spec: &FeatureSpec) -> Result<DataFrame> {
    add_features(transactions.lazy(), spec)
        .and_then(LazyFrame::collect)
        .map_err(Error::polars("computing features"))
}

/// Copies the named feature columns into an ndarray 0.16 matrix (rows × features).
///
/// Polars ≥ 0.53 links ndarray 0.17 while linfa 0.8 needs 0.16, so we copy column by column
/// instead of handing over polars' own arrays.
/// The derived card features the chapter-5 search may add (`names` gains
/// `CARD_AMOUNT_RATIOS`): the payment's amount over the card's mean amount in each window, and
/// over its mean 8–30 days back (the 30-day sums minus the 7-day ones), and the last day's mean
/// over that older mean. All are functions of the 15 features, so the online store needs
/// nothing new; a window with no payment gives 1 (no change).
///
/// Talking point: feature engineering from how the fraud works — a compromised card spends
/// several times its usual amount, and a ratio to the card's own history before the compromise
/// says that directly, where a tree would need many splits on amount and mean together.
pub fn with_card_amount_ratios(
    df: &DataFrame,
    names: &[String],
) -> Result<(DataFrame, Vec<String>)> {
    let mut names = names.to_vec();
    let ratio = |num: Expr, den: Expr, valid: Expr, name: &str| {
        when(valid).then(num / den).otherwise(lit(1.0)).alias(name)
    };
    let mut exprs = Vec::new();
    for w in [1, 7, 30] {
        let name = format!("amount_over_card_mean_{w}day");
        let avg = col(format!("customer_id_avg_amount_{w}day_window").as_str());
        exprs.push(ratio(col(TX_AMOUNT), avg.clone(), avg.gt(lit(0.0)), &name));
        names.push(name);
    }
    let sum = |w: u32| {
        col(format!("customer_id_avg_amount_{w}day_window").as_str())
            * col(format!("customer_id_nb_tx_{w}day_window").as_str())
    };
    let older_n = col("customer_id_nb_tx_30day_window") - col("customer_id_nb_tx_7day_window");
    let older_mean = (sum(30) - sum(7)) / older_n.clone();
    for (name, num) in [
        ("amount_over_card_mean_8to30day", col(TX_AMOUNT)),
        (
            "day_mean_over_card_mean_8to30day",
            col("customer_id_avg_amount_1day_window"),
        ),
    ] {
        exprs.push(ratio(
            num,
            older_mean.clone(),
            older_n.clone().gt(lit(0.0)),
            name,
        ));
        names.push(name.to_string());
    }
    let out = df
        .clone()
        .lazy()
        .with_columns(exprs)
        .collect()
        .map_err(Error::polars("deriving the card amount ratios".to_string()))?;
    Ok((out, names))
}

pub fn to_matrix(df: &DataFrame, names: &[String]) -> Result<Array2<f64>> {
    let mut x = Array2::<f64>::zeros((df.height(), names.len()));
    for (j, name) in names.iter().enumerate() {
        let column = df
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(Error::polars(format!("reading feature {name}")))?;
        let values = column
            .f64()
            .map_err(Error::polars(format!("reading feature {name}")))?;
        for (i, v) in values.iter().enumerate() {
            x[[i, j]] = v.unwrap_or(f64::NAN);
        }
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::transactions_frame;

    const DAY_MS: i64 = 86_400_000;
    const START: i64 = 1_522_540_800_000; // 2018-04-01 00:00 UTC, a Sunday

    fn value(df: &DataFrame, name: &str, row: usize) -> f64 {
        df.column(name)
            .and_then(|c| c.f64().map(|s| s.get(row)))
            .ok()
            .flatten()
            .unwrap_or(f64::NAN)
    }

    /// Card 0 pays at terminal 0 on days 0 (fraud), 1, 5 and 9; card 1 pays at terminal 0 on
    /// day 8 (at 23:00, not night) and day 9 (at 03:00, night).
    fn hand_case() -> DataFrame {
        let hours = [10i64, 10, 10, 12, 23, 3];
        let days = [0i64, 1, 5, 9, 8, 9];
        let ms: Vec<i64> = days
            .iter()
            .zip(hours)
            .map(|(d, h)| START + d * DAY_MS + h * 3_600_000)
            .collect();
        transactions_frame(
            vec![0, 1, 2, 5, 3, 4],
            ms.clone(),
            vec![0, 0, 0, 0, 1, 1],
            vec![0, 0, 0, 0, 0, 0],
            vec![10.0, 20.0, 30.0, 40.0, 100.0, 50.0],
            ms.iter().map(|m| (m - START) / 1000).collect(),
            days.to_vec(),
            vec![1, 0, 0, 0, 0, 0],
            vec![2, 0, 0, 0, 0, 0],
        )
        .expect("frame")
    }

    #[test]
    fn features_match_a_hand_computed_case() {
        let f = compute(hand_case(), &FeatureSpec::default()).expect("features");
        // Sorted by time: ids 0 (d0), 1 (d1), 2 (d5), 3 (d8 23h), 4 (d9 3h), 5 (d9 12h).
        let ids: Vec<i64> = f
            .column(TRANSACTION_ID)
            .expect("ids")
            .i64()
            .expect("i64")
            .into_no_null_iter()
            .collect();
        assert_eq!(ids, vec![0, 1, 2, 3, 4, 5]);
        // Day 0 is a Sunday; day 5 a Friday.
        assert_eq!(value(&f, "tx_during_weekend", 0), 1.0);
        assert_eq!(value(&f, "tx_during_weekend", 2), 0.0);
        assert_eq!(value(&f, "tx_during_night", 3), 0.0);
        assert_eq!(value(&f, "tx_during_night", 4), 1.0);
        // Card 0 on day 9 (row 5): 1-day window holds only itself; 7-day holds days 5 and 9.
        assert_eq!(value(&f, "customer_id_nb_tx_1day_window", 5), 1.0);
        assert_eq!(value(&f, "customer_id_nb_tx_7day_window", 5), 2.0);
        assert_eq!(value(&f, "customer_id_avg_amount_7day_window", 5), 35.0);
        assert_eq!(value(&f, "customer_id_nb_tx_30day_window", 5), 4.0);
        assert_eq!(value(&f, "customer_id_avg_amount_30day_window", 5), 25.0);
        // Terminal 0 at day 8 23:00 (row 3): delayed 7-day window is (day 1 23:00 − 7 d,
        // day 1 23:00] = day 0 10:00 and day 1 10:00 → 2 transactions, 1 fraud.
        assert_eq!(value(&f, "terminal_id_nb_tx_7day_window", 3), 2.0);
        assert_eq!(value(&f, "terminal_id_risk_7day_window", 3), 0.5);
        // 1-day delayed window at day 8 23:00 is (day 0 23:00, day 1 23:00]: only day 1.
        assert_eq!(value(&f, "terminal_id_nb_tx_1day_window", 3), 1.0);
        assert_eq!(value(&f, "terminal_id_risk_1day_window", 3), 0.0);
        // At day 5 the delayed windows end before day 0 10:00 + … : nothing known yet.
        assert_eq!(value(&f, "terminal_id_nb_tx_30day_window", 2), 0.0);
        assert_eq!(value(&f, "terminal_id_risk_30day_window", 2), 0.0);
    }

    #[test]
    fn the_matrix_has_one_column_per_feature_in_spec_order() {
        let spec = FeatureSpec::default();
        let f = compute(hand_case(), &spec).expect("features");
        let x = to_matrix(&f, &spec.names()).expect("matrix");
        assert_eq!(x.dim(), (6, 15));
        assert_eq!(x[[5, 0]], 40.0);
        assert!(x.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn card_amount_ratios_match_a_hand_computed_case_and_an_empty_window_gives_one() {
        // Row 0: 3 payments (sum 120) in 7 days, 8 (sum 200) in 30: 5 payments worth 80 in
        // days 8–30, a mean of 16. Row 1: nothing older than 7 days, no payment today.
        let df = df!(
            TX_AMOUNT => [100.0, 30.0],
            "customer_id_avg_amount_1day_window" => [100.0, 0.0],
            "customer_id_nb_tx_1day_window" => [1.0, 0.0],
            "customer_id_avg_amount_7day_window" => [40.0, 30.0],
            "customer_id_nb_tx_7day_window" => [3.0, 2.0],
            "customer_id_avg_amount_30day_window" => [25.0, 30.0],
            "customer_id_nb_tx_30day_window" => [8.0, 2.0],
        )
        .expect("frame");
        let (out, names) = with_card_amount_ratios(&df, &[TX_AMOUNT.to_string()]).expect("ratios");
        assert_eq!(names.len(), 6);
        let expect = [
            ("amount_over_card_mean_1day", [1.0, 1.0]),
            ("amount_over_card_mean_7day", [2.5, 1.0]),
            ("amount_over_card_mean_30day", [4.0, 1.0]),
            ("amount_over_card_mean_8to30day", [6.25, 1.0]),
            ("day_mean_over_card_mean_8to30day", [6.25, 1.0]),
        ];
        for (name, values) in expect {
            for (row, v) in values.into_iter().enumerate() {
                assert_eq!(value(&out, name, row), v, "{name} row {row}");
            }
        }
    }
}
