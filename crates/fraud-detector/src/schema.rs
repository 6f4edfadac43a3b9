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

/// The shape every `tx_datetime` text must have — in a file or in a request — as the API's
/// OpenAPI document states it: `YYYY-MM-DD HH:MM:SS` (UTC) or RFC 3339 (`T`, fractions, `Z` or
/// an offset), a real calendar date, years 2000 to 2099. [`parse_datetime_ms`] accepts exactly
/// these strings.
pub const DATETIME_PATTERN: &str = concat!(
    "^(20[0-9]{2}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)",
    "|02-(0[1-9]|1[0-9]|2[0-8]))|20(0[048]|[2468][048]|[13579][26])-02-29)",
    "[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?",
    "(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$"
);

/// Epoch milliseconds of a `tx_datetime` text ([`DATETIME_PATTERN`]); `None` for anything else.
///
/// Talking point: one parser for both edges — ingestion quarantines the rows this refuses and
/// the API answers 422 for the same strings, so a payment cannot be valid live and invalid in
/// the file it is later replayed from.
pub fn parse_datetime_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let s = b.get(from..from + n)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| s.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-')
        && at(7, b'-')
        && (at(10, b' ') || at(10, b'T'))
        && at(13, b':')
        && at(16, b':'))
    {
        return None;
    }
    let year = digits(0, 4).filter(|y| (2000..2100).contains(y))?;
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, digits(5, 2)?, digits(8, 2)?)?;
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return None;
        }
        let fraction = digits(20, n)?;
        nanos = fraction * 10u32.pow(9 - n as u32);
        rest = &tail[n..];
    }
    // The offset, read with the same digit reader at its place in the text.
    let offset_at = b.len() - rest.len();
    let offset_s = match rest {
        [] | [b'Z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let h = digits(offset_at + 1, 2).filter(|h| *h < 24)?;
            let m = digits(offset_at + 4, 2).filter(|m| *m < 60)?;
            i64::from(h * 3600 + m * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc().timestamp_millis() - offset_s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_in_every_documented_shape_and_nothing_else() {
        let ms = |s| parse_datetime_ms(s);
        let base = ms("2018-04-01 00:00:31").expect("plain");
        assert_eq!(base, 1_522_540_831_000);
        assert_eq!(ms("2018-04-01T00:00:31Z"), Some(base));
        assert_eq!(ms("2018-04-01T02:00:31+02:00"), Some(base));
        assert_eq!(ms("2018-04-01 00:00:31.250"), Some(base + 250));
        assert!(ms("2020-02-29 12:00:00").is_some());
        for bad in [
            "",
            "2018-04-01",
            "2018-4-01 00:00:31",
            "2019-02-29 00:00:00",
            "2018-04-31 00:00:00",
            "1900-01-01 00:00:00",
            "9999-12-31 23:59:59",
            "2018-04-01 24:00:00",
            "2018-04-01 00:00:60",
            "2018-04-01 00:00:31.",
            "2018-04-01 00:00:31.1234567890",
            "2018-04-01 00:00:31+2:00",
            "2018-04-01 00:00:31 ",
            "2018-04-01x00:00:31",
            "٢٠١٨-04-01 00:00:31",
        ] {
            assert_eq!(ms(bad), None, "{bad:?}");
        }
    }
}
