//! Group commit: audited writes from concurrent requests share one database transaction and
//! one durable commit.
//!
//! Each write ([`WriteTx`], a *unit*) runs its own statements in its own savepoint of the open
//! batch transaction, one unit at a time (holding the batch is the turn to write), and
//! appends its audit event last. A unit that finishes while others are queued for the turn
//! hands the turn on and waits; the unit that finishes with nobody queued (or that fills the
//! batch) commits it once for all of them. A lone request therefore never waits for
//! company, and under load the units that arrive while one commit is on disk form the next
//! batch. The commit runs in its own task, so a cancelled request cannot cut it short.
//!
//! No unit's `commit` returns before the batch's durable commit, so no response (and no
//! revealed code) leaves before the commit that holds its audit event. A unit that fails
//! rolls back to its own savepoint without touching the others; a failed batch commit fails
//! every unit in it. On PostgreSQL a batch takes the chain lock when it opens and holds it to
//! its commit, so the chain stays linear across replicas and a batch never waits for a row
//! while holding the chain.

use super::stats::Stats;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    TransactionTrait,
};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// The most units one commit carries; the unit that fills a batch commits it.
const MAX_UNITS: usize = 64;

/// How often a unit waiting for its batch checks that someone will commit it: the units
/// queued behind it may all have been cancelled.
const ORPHAN_CHECK: Duration = Duration::from_millis(20);

/// What every unit of a batch learns when it ends: committed, or why not.
type Outcome = Option<Result<(), Arc<str>>>;

/// The open batch: its transaction and how its units learn the outcome.
struct Batch {
    id: u64,
    tx: DatabaseTransaction,
    /// Units that finished (released their savepoint) and wait for the commit.
    units: usize,
    /// Units that got the turn in this batch, finished or not.
    turns: usize,
    done: watch::Sender<Outcome>,
}

type Turn = OwnedMutexGuard<Option<Batch>>;

/// Shared by every clone of the store.
#[derive(Default)]
pub(super) struct Group {
    turn: Arc<Mutex<Option<Batch>>>,
    /// Units waiting for their turn.
    waiting: AtomicUsize,
    next_id: AtomicU64,
    stats: Arc<Stats>,
}

impl Group {
    /// Units waiting for their turn to write.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub(super) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The running totals, shared with SQLite's writer thread.
    pub(super) fn stats_arc(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Waits for the turn, then opens a batch if none is open and starts the unit's
    /// savepoint in a task of its own: a request dropped meanwhile cannot leave a half-made
    /// savepoint behind (sqlx would roll it back as the whole batch).
    pub(super) async fn begin(self: &Arc<Self>, db: &DatabaseConnection) -> Result<WriteTx, DbErr> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let queued = Queued(&self.waiting);
        let turn = self.turn.clone().lock_owned().await;
        drop(queued);
        let (group, db) = (self.clone(), db.clone());
        tokio::spawn(async move { group.start_unit(turn, &db).await })
            .await
            .map_err(|_| DbErr::Custom("a write could not start".to_owned()))?
    }

    async fn start_unit(
        self: Arc<Self>,
        mut turn: Turn,
        db: &DatabaseConnection,
    ) -> Result<WriteTx, DbErr> {
        if turn.is_none() {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            *turn = Some(open_batch(db, id).await?);
        }
        let savepoint = match turn.as_mut() {
            Some(batch) => {
                batch.turns += 1;
                batch.tx.begin().await
            }
            None => return Err(lost_batch()),
        };
        match savepoint {
            Ok(tx) => Ok(WriteTx {
                tx: Tx::Sqlx(tx),
                unit: Some(Unit {
                    turn: Some(turn),
                    group: self,
                }),
            }),
            Err(e) => {
                // A savepoint that failed may have taken the batch with it.
                self.fail(turn, &e);
                Err(e)
            }
        }
    }

    /// Whether the unit holding the turn should commit the batch now rather than hand on:
    /// nobody is queued (an empty batch too, so it never holds the write or chain lock
    /// idle), or the batch has had its share of turns.
    fn should_commit(&self, batch: &Batch) -> bool {
        self.waiting() == 0 || batch.turns >= MAX_UNITS
    }

    /// Ends the batch in `turn` without committing it (its transaction rolls back): every
    /// unit in it fails.
    fn fail(&self, mut turn: Turn, why: &DbErr) {
        if let Some(batch) = turn.take() {
            tracing::error!(error = %why, units = batch.units, "a write batch broke; every write in it fails");
            self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::metrics::observe_batch(batch.units, false);
            batch
                .done
                .send_replace(Some(Err(Arc::from(why.to_string()))));
        }
    }

    /// Commits the batch in `turn` in a task of its own, holding the turn until it is done.
    fn commit(&self, mut turn: Turn) {
        let Some(batch) = turn.take() else { return };
        let stats = self.stats.clone();
        tokio::spawn(async move {
            let Batch {
                tx, units, done, ..
            } = batch;
            let outcome = tx.commit().await.map_err(|e| {
                tracing::error!(error = %e, units, "a group commit failed; every write in it fails");
                Arc::<str>::from(e.to_string())
            });
            drop(turn);
            crate::telemetry::metrics::observe_batch(units, outcome.is_ok());
            let counter = if outcome.is_ok() {
                stats.units.fetch_add(units, Ordering::Relaxed);
                &stats.batches
            } else {
                &stats.failed_batches
            };
            counter.fetch_add(1, Ordering::Relaxed);
            done.send_replace(Some(outcome));
        });
    }
}

/// Counts a unit as waiting until it has the turn (or its request is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn open_batch(db: &DatabaseConnection, id: u64) -> Result<Batch, DbErr> {
    let tx = db.begin().await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        // Takes SQLite's write lock at once, so the batch never reads a snapshot it cannot
        // later write on.
        tx.execute_unprepared("UPDATE write_gate SET ticks = ticks + 1 WHERE id = 1")
            .await?;
    } else {
        // The chain lock first, before any unit's statement: a batch that took it at its
        // first append would then take row locks in later units while holding it, and
        // deadlock with another replica's batch that holds such a row and waits for the
        // chain (the replicas test found this).
        super::audit::lock_chain(&tx).await?;
    }
    let (done, _) = watch::channel(None);
    Ok(Batch {
        id,
        tx,
        units: 0,
        turns: 0,
        done,
    })
}

/// A write transaction: one unit of the open batch, or a transaction of its own (PostgreSQL
/// without group commit). Dropping it without `commit` rolls back its savepoint (or itself)
/// and leaves the rest of the batch alone.
pub struct WriteTx {
    // Field order matters: the savepoint ends (its rollback queued) before the turn is
    // given up.
    tx: Tx,
    /// `None` for a transaction of its own, and on the writer thread.
    unit: Option<Unit>,
}

/// Where a write transaction's statements go: sqlx (a savepoint of the open batch, or a
/// transaction of its own), or a savepoint of the SQLite writer thread's batch (see
/// [`super::lite`]). The repositories take either as a `ConnectionTrait`.
pub enum Tx {
    Sqlx(DatabaseTransaction),
    Lite(super::lite::Savepoint),
    /// A unit on PostgreSQL's writer thread (see [`super::pg_writer`]).
    Pg(super::pg_writer::Unit),
}

connection_through!(Tx, |this| match this {
    Tx::Sqlx(tx) => tx as &dyn ConnectionTrait,
    Tx::Lite(savepoint) => savepoint,
    Tx::Pg(unit) => unit,
});

/// A unit's place in its batch: the turn it holds until it ends.
struct Unit {
    /// `None` once the unit has handed its turn on.
    turn: Option<Turn>,
    group: Arc<Group>,
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

fn lost_batch() -> DbErr {
    DbErr::Custom("a write ended outside its batch".to_owned())
}

impl WriteTx {
    /// A transaction of its own (PostgreSQL without group commit). Its first statement takes
    /// the chain lock, as the writer thread's batches and group-commit batches do: every
    /// write takes the chain before any row, on every replica whatever its settings, so no
    /// two writes wait for each other's rows and chain in a cycle.
    pub(super) async fn own(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let tx = db.begin().await?;
        super::audit::lock_chain(&tx).await?;
        Ok(Self {
            tx: Tx::Sqlx(tx),
            unit: None,
        })
    }

    /// A unit of PostgreSQL's writer thread.
    pub(crate) fn pg(unit: super::pg_writer::Unit) -> Self {
        Self {
            tx: Tx::Pg(unit),
            unit: None,
        }
    }

    /// A savepoint of the batch on PostgreSQL's writer thread (a unit's nested write).
    pub(crate) fn nested(tx: DatabaseTransaction) -> Self {
        Self {
            tx: Tx::Sqlx(tx),
            unit: None,
        }
    }

    /// The unit of PostgreSQL's writer thread, given back to the writer.
    pub(crate) fn into_pg(self) -> Result<super::pg_writer::Unit, DbErr> {
        match self.tx {
            Tx::Pg(unit) => Ok(unit),
            _ => Err(DbErr::Custom("not a unit of the writer thread".to_owned())),
        }
    }

    /// A savepoint of the SQLite writer thread's batch.
    pub(crate) fn lite(savepoint: super::lite::Savepoint) -> Self {
        Self {
            tx: Tx::Lite(savepoint),
            unit: None,
        }
    }

    /// The savepoint of a unit on the writer thread, given back to the writer (which
    /// releases it; the batch's commit makes it durable and answers the unit after it).
    pub(crate) fn into_lite(self) -> Result<super::lite::Savepoint, DbErr> {
        match self.tx {
            Tx::Lite(savepoint) => Ok(savepoint),
            _ => Err(DbErr::Custom("not a unit of the writer thread".to_owned())),
        }
    }

    /// Ends the unit and returns once the batch holding it is durably committed; fails if
    /// the batch's commit fails. On the writer thread (a unit's nested write) it keeps what
    /// was written, and the writer's batch commit makes it durable before any answer.
    pub async fn commit(self) -> Result<(), DbErr> {
        let WriteTx { tx, unit } = self;
        let tx =
            match tx {
                Tx::Sqlx(tx) => tx,
                Tx::Lite(savepoint) => return savepoint.release(),
                // A writer unit is not committed by its own code: it gives its transaction back,
                // and the writer releases it (committing it here would drop, so roll back, what
                // it wrote while saying it kept it).
                Tx::Pg(_) => return Err(DbErr::Custom(
                    "a unit of the writer thread gives its transaction back; it is not committed"
                        .to_owned(),
                )),
            };
        let Some(unit) = unit else {
            return tx.commit().await;
        };
        // Releasing the savepoint, handing on or committing, and waiting for the outcome run
        // in a task of their own: a request dropped meanwhile leaves no half-released
        // savepoint and no batch that nobody commits.
        tokio::spawn(unit.finish(tx))
            .await
            .map_err(|_| DbErr::Custom("a write could not finish".to_owned()))?
    }
}

impl Unit {
    async fn finish(mut self, savepoint: DatabaseTransaction) -> Result<(), DbErr> {
        if let Err(e) = savepoint.commit().await {
            // The release failed: what the batch holds is unknown, so it fails as a whole.
            if let Some(turn) = self.turn.take() {
                self.group.fail(turn, &e);
            }
            return Err(e);
        }
        let mut turn = self.turn.take().ok_or_else(lost_batch)?;
        let group = self.group.clone();
        let Some(batch) = turn.as_mut() else {
            return Err(lost_batch());
        };
        batch.units += 1;
        let (id, mut done) = (batch.id, batch.done.subscribe());
        if group.should_commit(batch) {
            group.commit(turn);
        } else {
            drop(turn);
        }
        loop {
            match tokio::time::timeout(ORPHAN_CHECK, done.wait_for(Option::is_some)).await {
                Ok(Ok(outcome)) => {
                    return match &*outcome {
                        Some(Ok(())) => Ok(()),
                        Some(Err(reason)) => {
                            Err(DbErr::Custom(format!("group commit failed: {reason}")))
                        }
                        None => Err(lost_batch()),
                    };
                }
                Ok(Err(_)) => {
                    return Err(DbErr::Custom("the batch ended without a commit".to_owned()))
                }
                // The units queued behind this one were cancelled and left the batch open:
                // commit it here.
                Err(_) => {
                    if let Ok(turn) = group.turn.clone().try_lock_owned() {
                        if turn.as_ref().is_some_and(|b| b.id == id) {
                            group.commit(turn);
                        }
                    }
                }
            }
        }
    }
}

impl Drop for Unit {
    fn drop(&mut self) {
        // Not committed (the savepoint, dropped just before, rolls back). If no one else is
        // queued, commit the batch now: the units that finished before this one wait for it,
        // and an empty batch must not hold the write (or chain) lock.
        let Some(turn) = self.turn.take() else { return };
        let due = turn.as_ref().is_some_and(|b| self.group.should_commit(b));
        if due && tokio::runtime::Handle::try_current().is_ok() {
            self.group.commit(turn);
        }
    }
}
