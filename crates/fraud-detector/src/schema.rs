//! The transaction schema shared by every stage (the handbook's column names, lower-cased).

use polars::prelude::*;

use crate::{Error, Result};

pub const TRANSACTION_ID: &str = "transaction_id";
pub const TX_DATETIME: &str = "tx_datetime";
pub const CUSTOMER_ID: &str = "customer_id";
pub const TERMINAL_ID: &str = "terminal_id";
pub const TX_AMOUNT: &str = "tx_amount";
pub const TX_TIME_SECONDS: &str = "tx_time_seconds";
pub const TX_TIME_DAYS: &str = "tx_time_days";
pub const TX_FRAUD: &str = "tx_fraud";
pub const TX_FRAUD_SCENARIO: &str = "tx_fraud_scenario";

/// Every column of a transaction file, in file order, with its type.
pub const COLUMNS: [(&str, ColumnKind); 9] = [
    (TRANSACTION_ID, ColumnKind::Int),
    (TX_DATETIME, ColumnKind::Datetime),
    (CUSTOMER_ID, ColumnKind::Int),
    (TERMINAL_ID, ColumnKind::Int),
    (TX_AMOUNT, ColumnKind::Float),
    (TX_TIME_SECONDS, ColumnKind::Int),
    (TX_TIME_DAYS, ColumnKind::Int),
    (TX_FRAUD, ColumnKind::Int),
    (TX_FRAUD_SCENARIO, ColumnKind::Int),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Int,
    Float,
    Datetime,
}

impl ColumnKind {
    pub fn dtype(self) -> DataType {
        match self {
            ColumnKind::Int => DataType::Int64,
            ColumnKind::Float => DataType::Float64,
            ColumnKind::Datetime => DataType::Datetime(TimeUnit::Milliseconds, None),
        }
    }
}

/// Builds a transactions frame from columns (datetimes in epoch milliseconds).
#[allow(clippy::too_many_arguments)]
pub fn transactions_frame(
    transaction_id: Vec<i64>,
    datetime_ms: Vec<i64>,
    customer_id: Vec<i64>,
    terminal_id: Vec<i64>,
    amount: Vec<f64>,
    time_seconds: Vec<i64>,
    time_days: Vec<i64>,
    fraud: Vec<i64>,
    scenario: Vec<i64>,
) -> Result<DataFrame> {
    let datetime = Series::new(TX_DATETIME.into(), datetime_ms)
        .cast(&ColumnKind::Datetime.dtype())
        .map_err(Error::polars("building the datetime column"))?;
    DataFrame::new_infer_height(vec![
        Series::new(TRANSACTION_ID.into(), transaction_id).into_column(),
        datetime.into_column(),
        Series::new(CUSTOMER_ID.into(), customer_id).into_column(),
        Series::new(TERMINAL_ID.into(), terminal_id).into_column(),
        Series::new(TX_AMOUNT.into(), amount).into_column(),
        Series::new(TX_TIME_SECONDS.into(), time_seconds).into_column(),
        Series::new(TX_TIME_DAYS.into(), time_days).into_column(),
        Series::new(TX_FRAUD.into(), fraud).into_column(),
        Series::new(TX_FRAUD_SCENARIO.into(), scenario).into_column(),
    ])
    .map_err(Error::polars("building the transactions frame"))
}
