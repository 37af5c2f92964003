//! PostgreSQL's fast path: one writer thread per process that owns a connection of its own
//! and runs each unit of work whole, with group commit there (as [`super::lite`] does for
//! SQLite).
//!
//! Every audited write holds the chain's advisory lock until its commit, so appends take
//! turns. Through the pool, the turn holder's round trips (the lock, the head, the insert,
//! the commit) each waited behind the HTTP work queued on its worker, and the chain was held
//! for about 1.5 ms per reveal while the two cores idled half the time (issue 29,
//! bench/README.md). Here:
//!
//! - the writer takes what is queued (up to [`MAX_UNITS`]) and opens one transaction that
//!   takes the chain lock first, in the same round trip as its first savepoint;
//! - each unit runs in a savepoint of its own, on the writer's own runtime, so its round
//!   trips wait for nobody's HTTP work; a unit that fails (or whose savepoint cannot be
//!   released) rolls back to it and leaves the others alone;
//! - the chain head is read once per batch and then known (`store::audit::batch`), and the
//!   chain lock is not taken again: a reveal makes two statements fewer than through the
//!   pool;
//! - one `COMMIT` (one fsync) makes the batch durable, and only then is any unit answered;
//! - a savepoint that cannot begin, or a transaction lost or left aborted, fails the whole
//!   batch, and the units after it do not run.
//!
//! Taking the chain lock before any row lock is the order every write follows while the
//! writer runs: `Store::begin_write` takes it first too (see `WriteTx::own`), so a batch and
//! a write of its own, or two replicas' batches, never wait for each other in a cycle.

use super::stats::Deliver;
use futures_util::FutureExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// The most units one commit carries.
const MAX_UNITS: usize = 64;

/// A unit of work for the writer thread: given its savepoint of the batch (none when the
/// batch could not begin or broke before it), it runs there and says whether it kept its
/// writes.
type Job = Box<
    dyn FnOnce(Option<DatabaseTransaction>) -> Pin<Box<dyn Future<Output = (bool, Deliver)>>>
        + Send,
>;

/// What a unit's own future sees of its batch (see [`PgWriter::current`]).
#[derive(Clone)]
struct Scope {
    /// The writer's id, so a nested write is only served for its own store.
    id: usize,
    tx: Arc<DatabaseTransaction>,
    /// Set when a nested savepoint could not begin: sqlx's count of savepoints may then be
    /// off, so the batch is failed whole.
    nested_failed: Arc<AtomicBool>,
}

tokio::task_local! {
    /// Set only inside a unit's own future: a task spawned meanwhile does not see it.
    static BATCH: Scope;
}

/// The writer thread's side of a store.
pub(crate) struct PgWriter {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// Units queued or running.
    pending: Arc<AtomicUsize>,
}

/// A unit's savepoint in the batch. Dropped without being given back to the writer (which
/// releases it), it rolls back what the unit wrote and leaves the rest of the batch alone,
/// before the next statement on the batch runs.
pub struct Unit(DatabaseTransaction);

connection_through!(Unit, |this| &this.0 as &dyn ConnectionTrait);

impl PgWriter {
    /// Starts the writer thread with a connection of its own (made by `connect`, on the
    /// thread's runtime, so its socket is served there).
    pub(crate) async fn start<C, CF>(
        connect: C,
        stats: Arc<super::stats::Stats>,
    ) -> Result<Arc<Self>, DbErr>
    where
        C: FnOnce() -> CF + Send + 'static,
        CF: Future<Output = Result<DatabaseConnection, DbErr>>,
    {
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let writer = Arc::new(Self {
            jobs,
            pending: Arc::default(),
        });
        let id = writer.id();
        let (started, ready) = tokio::sync::oneshot::channel::<Result<(), DbErr>>();
        std::thread::Builder::new()
            .name("keyward-pg-writer".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = started.send(Err(DbErr::Custom(format!(
                            "the writer's runtime could not start: {e}"
                        ))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match connect().await {
                        Ok(db) => {
                            let _ = started.send(Ok(()));
                            write_loop(id, db, queue, stats).await;
                        }
                        Err(e) => {
                            let _ = started.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| DbErr::Custom(format!("the writer thread could not start: {e}")))?;
        ready
            .await
            .map_err(|_| DbErr::Custom("the writer thread stopped".to_owned()))??;
        Ok(writer)
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Units queued for the writer or running on it.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The batch's transaction, when called by a unit of this store's writer.
    pub(crate) fn current(&self) -> Option<Arc<DatabaseTransaction>> {
        BATCH
            .try_with(|b| (b.id == self.id()).then(|| b.tx.clone()))
            .ok()
            .flatten()
    }

    /// A savepoint of the running batch, when called by a unit of this store's writer.
    pub(crate) async fn nested(&self) -> Option<Result<DatabaseTransaction, DbErr>> {
        let (tx, failed) = BATCH
            .try_with(|b| (b.id == self.id()).then(|| (b.tx.clone(), b.nested_failed.clone())))
            .ok()
            .flatten()?;
        super::audit::batch::nested();
        let savepoint = tx.begin().await;
        if savepoint.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        Some(savepoint)
    }

    /// Runs `work` on the writer thread in a savepoint of the next batch, and answers once
    /// that batch is durably committed. `work` gets the unit and gives it back with its
    /// result; giving back an error rolls the unit back.
    pub(crate) async fn unit<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(Unit) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(Unit, T), E>> + 'static,
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let pending = self.pending.clone();
        let job: Job = Box::new(move |tx: Option<DatabaseTransaction>| {
            Box::pin(async move {
                // A unit whose caller has gone (the request was dropped) is not run: no backup
                // code is spent, and nothing is exposed, for an answer nobody receives.
                let result = match tx.filter(|_| !answer.is_closed()) {
                    Some(tx) => Some(run_unit(tx, work).await),
                    None => None,
                };
                let kept = matches!(result, Some(Ok(_)));
                (kept, super::stats::deliver(result, answer, pending))
            })
        });
        super::stats::hand_over(&self.pending, || self.jobs.send(job).is_ok(), answered).await
    }
}

/// Runs one unit in its savepoint and releases it; a panic in it is an error of the unit.
/// A release that fails (a statement the unit let fail left the transaction aborted) fails
/// the unit, whose savepoint then rolls back.
async fn run_unit<T, E, F, Fut>(savepoint: DatabaseTransaction, work: F) -> Result<T, E>
where
    F: FnOnce(Unit) -> Fut,
    Fut: Future<Output = Result<(Unit, T), E>>,
    E: From<DbErr>,
{
    match std::panic::AssertUnwindSafe(work(Unit(savepoint)))
        .catch_unwind()
        .await
    {
        Ok(Ok((unit, value))) => {
            unit.0.commit().await.map_err(E::from)?;
            Ok(value)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            tracing::error!("a write unit panicked; it was rolled back");
            Err(E::from(DbErr::Custom("a write failed".to_owned())))
        }
    }
}

/// Opens a batch: its transaction, the chain lock, and the savepoint `kw_batch` that
/// [`commit_batch`] releases, in one round trip after `BEGIN`.
///
/// The batch also bounds its waits and pins its durability: a row a stray session keeps
/// locked fails the unit that waits for it (`lock_timeout`) rather than holding the chain,
/// and every audited write on every replica, for as long as that session lasts; a statement
/// stops after `statement_timeout`; and `synchronous_commit` is on whatever the role's or
/// the database's default says, so no unit is answered before its event is on disk.
async fn open_batch(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let tx = db.begin().await?;
    tx.execute_unprepared(&format!(
        "SET LOCAL synchronous_commit = on; SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; \
         SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'; \
         SELECT pg_advisory_xact_lock({}); SAVEPOINT kw_batch",
        super::audit::CHAIN_LOCK_KEY
    ))
    .await?;
    Ok(tx)
}

/// How long a batch's statement waits for a lock (the chain's included) before it fails.
const LOCK_TIMEOUT: &str = "10s";

/// How long one statement of a batch may run.
const STATEMENT_TIMEOUT: &str = "30s";

/// Commits a batch. `kw_batch` is released first: PostgreSQL answers `COMMIT` with success
/// both when a failed statement left the transaction aborted (it rolls back) and when a
/// statement ended the transaction early (there is none to commit), and the release fails in
/// both cases, so neither can pass for a commit.
async fn commit_batch(tx: Arc<DatabaseTransaction>) -> Result<(), DbErr> {
    let tx = Arc::try_unwrap(tx)
        .map_err(|_| DbErr::Custom("a write kept its batch after it ended".to_owned()))?;
    tx.execute_unprepared("RELEASE SAVEPOINT kw_batch").await?;
    tx.commit().await
}

/// The writer thread: takes what is queued, runs it as one batch, commits once, answers.
async fn write_loop(
    id: usize,
    db: DatabaseConnection,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Job>,
    stats: Arc<super::stats::Stats>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_UNITS {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let units = batch.len();
        let opened = open_batch(&db).await.map(Arc::new);
        let mut broken = opened.as_ref().err().map(ToString::to_string);
        let known = super::audit::batch::Batch::start();
        let mut delivers: Vec<Deliver> = Vec::with_capacity(units);
        for job in batch {
            let tx = match (&opened, &broken) {
                (Ok(tx), None) => tx.clone(),
                _ => {
                    delivers.push(job(None).await.1);
                    continue;
                }
            };
            // The unit's savepoint (a rollback a unit before it left queued runs first).
            let savepoint = match tx.begin().await {
                Ok(savepoint) => savepoint,
                Err(e) => {
                    broken = Some(e.to_string());
                    delivers.push(job(None).await.1);
                    continue;
                }
            };
            let scope = Scope {
                id,
                tx: tx.clone(),
                nested_failed: Arc::default(),
            };
            let nested_failed = scope.nested_failed.clone();
            drop(tx);
            let saved = known.save();
            let (kept, deliver) = BATCH.scope(scope, known.scope(job(Some(savepoint)))).await;
            known.unit_ended(saved, kept);
            delivers.push(deliver);
            if nested_failed.load(Ordering::Relaxed) {
                broken = Some("a nested savepoint could not begin".to_owned());
            }
        }
        let outcome = match (opened, broken) {
            (Ok(tx), None) => commit_batch(tx).await,
            // Dropping the transaction rolls it back.
            (_, Some(why)) => Err(DbErr::Custom(format!(
                "the batch's transaction broke: {why}"
            ))),
            (Err(e), None) => Err(e),
        };
        stats.settle(outcome, delivers);
    }
}
