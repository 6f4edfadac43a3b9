//! Stage 10 — batch vs real-time, checked: replay a period through the HTTP API, one payment
//! at a time in time order, and compare every answer with the batch path's score for the same
//! payment.
//!
//! ```text
//! transactions ─► history (before `from`) ─► warm the server's online store
//!              └► live period [from, to)  ─► POST /v1/fraud/score, one by one ─► API scores
//! history + live period ─► batch features (polars) + the same model ─► batch scores ─► compare
//! ```
//!
//! Talking points: training/serving skew measured end to end (HTTP, JSON, online features,
//! model), the latency of a single request as a client sees it, and the one honest exception:
//! two payments of a card within the same second, which offline windows cannot order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use hdrhistogram::Histogram;
use mlsd_core::loadgen::Client;
use polars::prelude::*;
use serde::Serialize;

use crate::artifact::FraudArtifact;
use crate::batch::DecisionThresholds;
use crate::features::{compute, to_matrix};
use crate::online::{transactions_of, Transaction};
use crate::schema::{TRANSACTION_ID, TX_DATETIME};
use crate::serve::{ScoreRequest, ScoreResponse};
use crate::{Error, Result};

/// A period to replay, cut from a transactions frame.
pub struct ReplayPlan {
    /// Payments before the live period (with labels), to warm the online store.
    pub history: Vec<(Transaction, bool)>,
    /// The live period, in time order.
    pub live: Vec<Transaction>,
    /// History and live period as a frame, for the batch path.
    pub frame: DataFrame,
    /// Start of the live period (epoch ms).
    pub from_ms: i64,
}

/// [`plan`] for the protocol's test period (the live traffic of the benchmarks, the load
/// client and the event producer), with `history_days` before it as history.
pub fn test_period(
    transactions: &DataFrame,
    protocol: &crate::config::ProtocolConfig,
    history_days: u32,
) -> Result<ReplayPlan> {
    let from = protocol.test_start_ms()?;
    let to = from + i64::from(protocol.test_days) * 86_400_000;
    plan(transactions, from, to, history_days)
}

/// Cuts `[from_ms, to_ms)` as the live period and the `history_days` before it as history.
pub fn plan(
    transactions: &DataFrame,
    from_ms: i64,
    to_ms: i64,
    history_days: u32,
) -> Result<ReplayPlan> {
    let ms = col(TX_DATETIME).cast(DataType::Int64);
    let start = from_ms - i64::from(history_days) * 86_400_000;
    let frame = transactions
        .clone()
        .lazy()
        .filter(ms.clone().gt_eq(lit(start)).and(ms.lt(lit(to_ms))))
        .sort(
            [TX_DATETIME, TRANSACTION_ID],
            SortMultipleOptions::default(),
        )
        .collect()
        .map_err(Error::polars("cutting the replay period"))?;
    let rows = transactions_of(&frame)?;
    let split = rows.partition_point(|(tx, _)| tx.datetime_ms < from_ms);
    let live: Vec<Transaction> = rows[split..].iter().map(|(tx, _)| *tx).collect();
    if live.is_empty() {
        return Err(Error::Config(
            "the replay period has no transactions".into(),
        ));
    }
    Ok(ReplayPlan {
        history: rows[..split].to_vec(),
        live,
        frame,
        from_ms,
    })
}

/// Sends each payment of `live` to `POST /v1/fraud/score` on one keep-alive connection, in
/// order, and returns the answers with the client-side latency of each (ms).
pub async fn replay(addr: SocketAddr, live: &[Transaction]) -> Result<Vec<(ScoreResponse, f64)>> {
    let mut client = Client::connect(addr).await?;
    let mut answers = Vec::with_capacity(live.len());
    for tx in live {
        let body = serde_json::to_vec(&ScoreRequest::from(tx))
            .map_err(|e| Error::Config(format!("encoding a request: {e}")))?;
        let t = Instant::now();
        let response = client
            .request("POST", "/v1/fraud/score", Some(&body))
            .await
            .map_err(|e| mlsd_core::Error::io("replaying through the API", e))?;
        let latency_ms = t.elapsed().as_secs_f64() * 1e3;
        if response.status != 200 {
            return Err(Error::Config(format!(
                "transaction {} got HTTP {}: {}",
                tx.transaction_id,
                response.status,
                response.text()
            )));
        }
        let answer: ScoreResponse = serde_json::from_slice(&response.body)
            .map_err(|e| Error::Config(format!("unreadable answer: {e}")))?;
        answers.push((answer, latency_ms));
    }
    Ok(answers)
}

/// How the API's answers compare with the batch job's.
#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub replayed: usize,
    /// Payments compared (all but same-second card ties).
    pub compared: usize,
    /// Payments whose card paid more than once in the same second: offline windows count
    /// those payments in each other's features, the online store only counts earlier ones.
    pub same_second_ties: usize,
    pub max_abs_diff: f64,
    /// Compared payments whose approve/review/block decision differs.
    pub decision_mismatches: usize,
    /// Client-side latency of one request (HTTP included), median and p99, ms.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Decisions the API took: approve, review, block.
    pub decisions: [usize; 3],
}

fn last_days_from(featured: &DataFrame, from_ms: i64) -> Result<DataFrame> {
    featured
        .clone()
        .lazy()
        .filter(col(TX_DATETIME).cast(DataType::Int64).gt_eq(lit(from_ms)))
        .collect()
        .map_err(Error::polars("selecting the live period"))
}

/// Scores the plan's live period in batch and compares with the API's answers.
/// Talking point [batch-vs-real-time]: the batch job and the online store must give the same score
/// to the same payment.
pub fn compare(
    plan: &ReplayPlan,
    answers: &[(ScoreResponse, f64)],
    artifact: &FraudArtifact,
    thresholds: &DecisionThresholds,
) -> Result<Agreement> {
    // The batch path: polars features over history + live period, then the model on the
    // live rows (scoring the history too would only cost time).
    let featured = compute(plan.frame.clone(), &artifact.spec)?;
    let live = last_days_from(&featured, plan.from_ms)?;
    let x = to_matrix(&live, &artifact.spec.names())?;
    let scores = artifact.probabilities(x.view())?;
    let ids = live
        .column(TRANSACTION_ID)
        .and_then(|c| c.i64().cloned())
        .map_err(Error::polars("reading scored ids"))?;
    let batch: HashMap<i64, f64> = ids.into_no_null_iter().zip(scores).collect();
    let mut per_card_second: HashMap<(i64, i64), usize> = HashMap::new();
    for tx in &plan.live {
        *per_card_second
            .entry((tx.customer_id, tx.datetime_ms.div_euclid(1000)))
            .or_default() += 1;
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| Error::Config(format!("histogram: {e}")))?;
    let mut agreement = Agreement {
        replayed: answers.len(),
        compared: 0,
        same_second_ties: 0,
        max_abs_diff: 0.0,
        decision_mismatches: 0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        decisions: [0; 3],
    };
    for (tx, (answer, ms)) in plan.live.iter().zip(answers) {
        latency.saturating_record(((ms * 1e3) as u64).max(1));
        agreement.decisions[answer.decision as usize] += 1;
        if per_card_second[&(tx.customer_id, tx.datetime_ms.div_euclid(1000))] > 1 {
            agreement.same_second_ties += 1;
            continue;
        }
        let offline = *batch.get(&tx.transaction_id).ok_or_else(|| {
            Error::Config(format!(
                "transaction {} has no batch score",
                tx.transaction_id
            ))
        })?;
        agreement.compared += 1;
        agreement.max_abs_diff = agreement
            .max_abs_diff
            .max((answer.probability - offline).abs());
        if thresholds.decide(offline) != answer.decision {
            agreement.decision_mismatches += 1;
        }
    }
    agreement.p50_ms = latency.value_at_quantile(0.5) as f64 / 1e3;
    agreement.p99_ms = latency.value_at_quantile(0.99) as f64 / 1e3;
    Ok(agreement)
}
