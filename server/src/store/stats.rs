//! Running totals of group commits, shared by the pool's batches and the writer threads, and
//! what the two writer threads (`lite`, `pg_writer`) share: handing a unit over, answering
//! it once its batch has ended, and counting the batch.

use sea_orm::DbErr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// How a unit of a writer thread's batch learns its batch's outcome: committed, or why not.
pub(crate) type Deliver = Box<dyn FnOnce(Result<(), Arc<str>>) + Send>;

/// Hands a unit to a writer thread (`send` says whether the thread took it), counted in
/// `pending` until it is answered, and waits for the answer.
pub(crate) async fn hand_over<T, E>(
    pending: &AtomicUsize,
    send: impl FnOnce() -> bool,
    answered: tokio::sync::oneshot::Receiver<Result<T, E>>,
) -> Result<T, E>
where
    E: From<DbErr>,
{
    let stopped = || E::from(DbErr::Custom("the writer thread stopped".to_owned()));
    pending.fetch_add(1, Ordering::Relaxed);
    if !send() {
        pending.fetch_sub(1, Ordering::Relaxed);
        return Err(stopped());
    }
    answered.await.unwrap_or_else(|_| Err(stopped()))
}

/// Answers a writer thread's unit once its batch has ended: its own error, or its value if
/// the batch committed. `result` is `None` for a unit that did not run (its batch could not
/// begin, or broke before it). `pending` counts the units queued or running.
pub(crate) fn deliver<T, E>(
    result: Option<Result<T, E>>,
    answer: tokio::sync::oneshot::Sender<Result<T, E>>,
    pending: Arc<AtomicUsize>,
) -> Deliver
where
    T: Send + 'static,
    E: From<DbErr> + Send + 'static,
{
    Box::new(move |outcome: Result<(), Arc<str>>| {
        let answer_is = match (result, outcome) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(why)) => Err(E::from(DbErr::Custom(format!(
                "the write could not be committed: {why}"
            )))),
            (None, Ok(())) => Err(E::from(DbErr::Custom(
                "a write ran outside its batch".to_owned(),
            ))),
        };
        pending.fetch_sub(1, Ordering::Relaxed);
        let _ = answer.send(answer_is);
    })
}

/// Running totals of group commits.
#[derive(Default)]
pub struct Stats {
    /// Batches committed.
    pub batches: AtomicUsize,
    /// Units committed in them.
    pub units: AtomicUsize,
    /// Batches whose commit failed (every unit in them failed).
    pub failed_batches: AtomicUsize,
}

impl Stats {
    /// Counts a writer thread's batch that ended with `outcome`, then answers each of its
    /// units with it.
    pub(crate) fn settle(&self, outcome: Result<(), DbErr>, delivers: Vec<Deliver>) {
        let units = delivers.len();
        crate::telemetry::metrics::observe_batch(units, outcome.is_ok());
        let outcome = match outcome {
            Ok(()) => {
                self.units.fetch_add(units, Ordering::Relaxed);
                self.batches.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, units, "a write batch failed; every write in it fails");
                self.failed_batches.fetch_add(1, Ordering::Relaxed);
                Err(Arc::<str>::from(e.to_string()))
            }
        };
        for deliver in delivers {
            deliver(outcome.clone());
        }
    }
}
