//! A simulated inference device: model calls that cost `per_call + rows × per_row`, one at a
//! time, in arrival order, on a thread of their own. Off unless a benchmark asks for it.
//!
//! Why it exists: the real models in this workspace cost microseconds (a logistic regression
//! 0.3 µs, NBSVM 4 µs), so on a 2-core machine HTTP and JSON are what saturate — and a load
//! generator on the same cores spends about as much per request as the server, so it cannot
//! offer twice the server's capacity. Overload then never reaches the server. A heavier model
//! (a transformer on a GPU, a remote feature service) saturates on the model instead, well below
//! what the generator can send; this device stands in for one.
//!
//! Talking points:
//! - overload is a queue in front of a bottleneck: with the device busy, requests wait for it.
//!   A call is refused (503) when the work already queued ahead of it exceeds the caller's
//!   limit, so the accepted ones wait at most that long and their p99 stays bounded; the
//!   refused ones cost nothing (shedding at the time budget instead would waste the work);
//! - micro-batching pays exactly when `per_call` is large against `per_row`: 64 requests in one
//!   call cost `per_call + 64 × per_row` instead of `64 × (per_call + per_row)`.
//!
//! Simplification: a real accelerator runs several streams and overlaps transfers with compute;
//! this one is a single FIFO queue. Calls are not cancelled when their request times out (a GPU
//! kernel is not either).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::serve::ApiError;

/// What one call of the simulated model costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelCost {
    /// Fixed cost of a call, whatever its size (kernel launch, a network hop, a Python call).
    pub per_call: Duration,
    /// Marginal cost of each row in the call.
    pub per_row: Duration,
}

impl ModelCost {
    /// How long a call of `rows` rows occupies the device.
    pub fn of(&self, rows: usize) -> Duration {
        self.per_call.saturating_add(
            self.per_row
                .saturating_mul(u32::try_from(rows).unwrap_or(u32::MAX)),
        )
    }

    /// The most rows per second a device of this cost serves with calls of `rows` rows.
    pub fn capacity_rows_per_s(&self, rows: usize) -> f64 {
        rows as f64 / self.of(rows).as_secs_f64().max(1e-12)
    }
}

type Call = (Duration, tokio::sync::oneshot::Sender<()>);

/// One simulated device: a thread that serves calls one at a time.
pub struct Accelerator {
    cost: ModelCost,
    calls: std::sync::mpsc::Sender<Call>,
    /// Work queued or running, in nanoseconds: what a new call would wait for.
    backlog: Arc<AtomicU64>,
}

impl Accelerator {
    /// Starts the device's thread; it ends when the last handle is dropped.
    pub fn spawn(cost: ModelCost) -> std::io::Result<Arc<Self>> {
        let (calls, queue) = std::sync::mpsc::channel::<Call>();
        let backlog = Arc::new(AtomicU64::new(0));
        let served = backlog.clone();
        std::thread::Builder::new()
            .name("mlsd-accelerator".into())
            .spawn(move || {
                for (busy, done) in queue {
                    occupy(busy);
                    served.fetch_sub(nanos(busy), Ordering::Relaxed);
                    // The caller may have given up (timeout): nothing to tell then.
                    let _ = done.send(());
                }
            })?;
        Ok(Arc::new(Accelerator {
            cost,
            calls,
            backlog,
        }))
    }

    /// [`Accelerator::spawn`] when a cost is given (a server's `simulated_model` setting).
    pub fn spawn_if(cost: Option<ModelCost>) -> std::io::Result<Option<Arc<Self>>> {
        cost.map(Self::spawn).transpose()
    }

    /// The work queued ahead of a new call.
    pub fn backlog(&self) -> Duration {
        Duration::from_nanos(self.backlog.load(Ordering::Relaxed))
    }

    /// One call of `rows` rows: waits for the calls queued before it, then for its own cost.
    /// The waiting is asynchronous: no runtime thread is blocked. With `max_wait`, a call that
    /// would queue behind more work than that is refused at once with 503.
    pub async fn call(&self, rows: usize, max_wait: Option<Duration>) -> Result<(), ApiError> {
        let backlog = self.backlog();
        // Talking point: admission by predicted wait — the device knows how much work is
        // ahead, so a request that cannot be served in time is refused before it costs anything.
        if max_wait.is_some_and(|max| backlog > max) {
            return Err(ApiError::overloaded(format!(
                "the model's queue holds {:.1} ms of work; retry later",
                backlog.as_secs_f64() * 1e3
            )));
        }
        let busy = self.cost.of(rows);
        self.backlog.fetch_add(nanos(busy), Ordering::Relaxed);
        let (done, finished) = tokio::sync::oneshot::channel();
        if self.calls.send((busy, done)).is_ok() {
            // The thread only ends when every handle is gone, so this answer always comes.
            let _ = finished.await;
        } else {
            // Not queued after all: its work is not ahead of anyone.
            self.backlog.fetch_sub(nanos(busy), Ordering::Relaxed);
        }
        Ok(())
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Holds the device for `busy`: sleeps through most of it (an accelerator leaves the CPU to
/// the HTTP side) and spins the last 100 µs, because a sleep overshoots by ~50 µs on Linux.
fn occupy(busy: Duration) {
    let Some(until) = Instant::now().checked_add(busy) else {
        // Longer than the clock can count (a cost of `Duration::MAX`): just sleep it.
        std::thread::sleep(busy);
        return;
    };
    if let Some(sleep) = busy.checked_sub(Duration::from_micros(100)) {
        std::thread::sleep(sleep);
    }
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn a_call_costs_its_fixed_part_plus_its_rows() {
        let cost = ModelCost {
            per_call: Duration::from_micros(500),
            per_row: Duration::from_micros(10),
        };
        assert_eq!(cost.of(1), Duration::from_micros(510));
        assert_eq!(cost.of(64), Duration::from_micros(1_140));
        // Absurd settings saturate instead of overflowing.
        let huge = ModelCost {
            per_call: Duration::MAX,
            per_row: Duration::MAX,
        };
        assert_eq!(huge.of(usize::MAX), Duration::MAX);
        // Batching 64 rows per call serves ~8.9× the rows of one row per call.
        let gain = cost.capacity_rows_per_s(64) / cost.capacity_rows_per_s(1);
        assert!((gain - 64.0 * 510.0 / 1140.0).abs() < 1e-9, "{gain}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_are_served_one_at_a_time_and_all_answered() {
        let device = Accelerator::spawn(ModelCost {
            per_call: Duration::from_micros(200),
            per_row: Duration::ZERO,
        })
        .expect("thread");
        // Serial service: 20 concurrent calls of 200 µs cannot all finish in less than 4 ms.
        // (A lower bound only: a busy machine makes it longer, never shorter.)
        let t = Instant::now();
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let d = device.clone();
                tokio::spawn(async move { d.call(1, None).await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.expect("task"), Ok(()));
        }
        assert!(t.elapsed() >= Duration::from_millis(4), "{:?}", t.elapsed());
        assert_eq!(device.backlog(), Duration::ZERO);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_behind_more_work_than_its_limit_is_refused_at_once() {
        let device = Accelerator::spawn(ModelCost {
            per_call: Duration::from_millis(300),
            per_row: Duration::ZERO,
        })
        .expect("thread");
        let limit = Some(Duration::from_millis(10));
        let first = {
            let d = device.clone();
            tokio::spawn(async move { d.call(1, limit).await })
        };
        while device.backlog().is_zero() {
            tokio::task::yield_now().await; // until the first call is queued
        }
        let refused = device.call(1, limit).await.map_err(|e| (e.status, e.code));
        assert_eq!(
            refused,
            Err((StatusCode::SERVICE_UNAVAILABLE, "overloaded"))
        );
        assert_eq!(first.await.expect("task"), Ok(()));
        // Without a limit a call always waits its turn.
        assert_eq!(device.call(1, None).await, Ok(()));
    }
}
