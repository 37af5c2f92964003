//! SQLite's fast path: one writer thread that owns the write connection and runs each unit of
//! work whole, with group commit there.
//!
//! sqlx's SQLite driver gives every connection a worker thread, and every statement,
//! savepoint and commit is a round trip to it: a reveal made about 25 thread switches, and
//! the server spent its time moving work between threads rather than doing it (issue 29,
//! bench/README.md). Here a unit of work ([`Lite::unit`]) is handed to the writer thread
//! once and answered once:
//!
//! - the writer takes what is queued (up to [`MAX_UNITS`]), opens one transaction with
//!   `BEGIN IMMEDIATE` (SQLite's write lock, so no unit reads a snapshot it cannot write on),
//!   and runs each unit in a savepoint of its own: the repositories' own code, on a
//!   [`conn::Conn`] that implements sea-orm's `ConnectionTrait` synchronously;
//! - a unit that fails rolls back to its savepoint and leaves the others alone;
//! - one `COMMIT` (one fsync) makes the batch durable, and only then is any unit answered:
//!   no code leaves before the commit that holds its audit event;
//! - while a batch commits, the next one gathers in the queue.
//!
//! A unit that needs another write on its own (a refused request's audit event, recorded
//! after its savepoint rolled back) gets a savepoint of the same batch from
//! `Store::begin_write`, which knows it runs on the writer thread.

pub(crate) mod conn;

use super::audit::batch::Batch as Known;
use super::stats::Deliver;
use conn::Conn;
use sea_orm::{ConnectionTrait, DbErr};
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The most units one commit carries.
const MAX_UNITS: usize = 64;

/// A unit of work for the writer thread, given the batch's known chain head. Given no writer
/// (its batch could not begin), it runs nothing and answers the batch's error.
type Job = Box<dyn FnOnce(Option<&Writer>, &Known) -> Deliver + Send>;

/// What the writer thread holds while it runs units.
struct Writer {
    conn: Conn,
    handle: tokio::runtime::Handle,
    /// The [`Lite`] it serves, so a nested `begin_write` is only served for its own store.
    id: usize,
}

thread_local! {
    /// Set on a writer thread.
    static WRITER: RefCell<Option<(usize, Conn)>> = const { RefCell::new(None) };
}

/// Reader connections kept for reuse.
const IDLE_READERS: usize = 8;

/// The writer thread's side of a store, and its readers.
pub(crate) struct Lite {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Units queued or running.
    pending: Arc<AtomicUsize>,
    path: std::path::PathBuf,
    /// Connections for reads on the request's own thread (WAL: they never wait for the
    /// writer), kept between requests with their prepared statements.
    readers: std::sync::Mutex<Vec<Conn>>,
}

/// A reader connection, used on the caller's thread and given back when dropped.
pub struct Reader {
    conn: Conn,
    lite: Arc<Lite>,
    /// Given back to the idle readers when dropped (not the writer's own connection).
    kept: bool,
}

impl Drop for Reader {
    fn drop(&mut self) {
        if !self.kept {
            return;
        }
        if let Ok(mut idle) = self.lite.readers.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(self.conn.clone());
            }
        }
    }
}

connection_through!(Reader, |this| &this.conn as &dyn ConnectionTrait);

impl Lite {
    /// Starts the writer thread on the SQLite file at `path`, whose units run their futures
    /// with `handle`.
    pub(crate) fn start(
        path: &std::path::Path,
        handle: tokio::runtime::Handle,
        stats: Arc<super::stats::Stats>,
    ) -> Result<Arc<Self>, DbErr> {
        let conn = Conn::open(path)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let lite = Arc::new(Self {
            jobs,
            pending: Arc::default(),
            path: path.to_owned(),
            readers: std::sync::Mutex::default(),
        });
        let writer = Writer {
            conn,
            handle,
            id: Arc::as_ptr(&lite) as usize,
        };
        std::thread::Builder::new()
            .name("keyward-writer".to_owned())
            .spawn(move || write_loop(writer, queue, stats))
            .map_err(|e| DbErr::Custom(format!("the writer thread could not start: {e}")))?;
        Ok(lite)
    }

    /// A reader connection (kept, or opened now; it only reads).
    pub(crate) fn reader(self: &Arc<Self>) -> Result<Reader, DbErr> {
        // On the writer thread, a read sees the batch's own writes: it uses the writer's
        // connection (and does not give it to the readers afterwards).
        let writers = WRITER.with(|w| match &*w.borrow() {
            Some((id, conn)) if *id == self.id() => Some(conn.clone()),
            _ => None,
        });
        if let Some(conn) = writers {
            return Ok(Reader {
                conn,
                lite: self.clone(),
                kept: false,
            });
        }
        let kept = self.readers.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match kept {
            Some(conn) => conn,
            None => Conn::open_reader(&self.path)?,
        };
        Ok(Reader {
            conn,
            lite: self.clone(),
            kept: true,
        })
    }

    fn id(&self) -> usize {
        self as *const Self as usize
    }

    /// Units queued for the writer or running on it.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// A savepoint of the running batch, when called by a unit on this store's writer
    /// thread.
    pub(crate) fn nested(&self) -> Option<Result<Savepoint, DbErr>> {
        WRITER.with(|w| match &*w.borrow() {
            Some((id, conn)) if *id == self.id() => {
                super::audit::batch::nested();
                Some(Savepoint::begin(conn.clone()))
            }
            _ => None,
        })
    }

    /// Runs `work` on the writer thread in a savepoint of the next batch, and answers once
    /// that batch is durably committed. `work` gets the unit's savepoint and gives it back
    /// with its result; giving back an error rolls the unit back.
    pub(crate) async fn unit<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(Savepoint) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(Savepoint, T), E>>,
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
    {
        // Called by a unit on the writer thread: sending would wait for itself. It runs here,
        // in a savepoint of the same batch.
        if let Some(nested) = self.nested() {
            let (savepoint, value) = work(nested?).await?;
            savepoint.release()?;
            return Ok(value);
        }
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let pending = self.pending.clone();
        let job: Job = Box::new(move |writer: Option<&Writer>, known: &Known| {
            // A unit whose caller has gone (the request was dropped) is not run: no backup
            // code is spent, and nothing is exposed, for an answer nobody receives.
            let result = writer
                .filter(|_| !answer.is_closed())
                .map(|writer| run_unit(writer, known, work));
            super::stats::deliver(result, answer, pending)
        });
        super::stats::hand_over(&self.pending, || self.jobs.send(job).is_ok(), answered).await
    }
}

/// Runs one unit in a savepoint of the open batch; a panic in it is an error of the unit.
fn run_unit<T, E, F, Fut>(writer: &Writer, known: &Known, work: F) -> Result<T, E>
where
    F: FnOnce(Savepoint) -> Fut,
    Fut: std::future::Future<Output = Result<(Savepoint, T), E>>,
    E: From<DbErr>,
{
    let savepoint = Savepoint::begin(writer.conn.clone()).map_err(E::from)?;
    let saved = known.save();
    let run = std::panic::AssertUnwindSafe(|| writer.handle.block_on(known.scope(work(savepoint))));
    let result = std::panic::catch_unwind(run);
    known.unit_ended(saved, matches!(result, Ok(Ok(_))));
    match result {
        Ok(Ok((savepoint, value))) => {
            savepoint.release().map_err(E::from)?;
            Ok(value)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            tracing::error!("a write unit panicked; it was rolled back");
            Err(E::from(DbErr::Custom("a write failed".to_owned())))
        }
    }
}

/// The writer thread: takes what is queued, runs it as one batch, commits once, answers.
fn write_loop(
    writer: Writer,
    queue: std::sync::mpsc::Receiver<Job>,
    stats: Arc<super::stats::Stats>,
) {
    WRITER.with(|w| *w.borrow_mut() = Some((writer.id, writer.conn.clone())));
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_UNITS {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let begun = writer
            .conn
            .lock()
            .and_then(|mut c| c.control(conn::Control::Begin));
        let units = batch.len();
        let mut intact = begun.is_ok();
        let known = Known::start();
        let mut delivers: Vec<Deliver> = Vec::with_capacity(units);
        for job in batch {
            delivers.push(job(intact.then_some(&writer), &known));
            // A unit whose savepoint could not be released or rolled back, or a statement
            // that made SQLite drop the whole transaction: what the batch holds is unknown,
            // so none of it is kept and the units after it do not run.
            intact = intact && writer.conn.lock().is_ok_and(|c| c.transaction_intact());
        }
        let outcome = begun.and_then(|()| {
            let mut conn = writer.conn.lock()?;
            if !intact {
                let _ = conn.batch("ROLLBACK");
                return Err(DbErr::Custom(
                    "the batch's transaction was lost or a savepoint could not end".to_owned(),
                ));
            }
            conn.control(conn::Control::Commit).inspect_err(|_| {
                let _ = conn.batch("ROLLBACK");
            })
        });
        stats.settle(outcome, delivers);
    }
}

/// A unit's savepoint in the writer's batch. Dropped without [`Savepoint::release`], it rolls
/// back what the unit wrote and leaves the rest of the batch alone.
pub struct Savepoint {
    conn: Conn,
    depth: usize,
    open: bool,
}

impl Savepoint {
    /// Opens the next savepoint: named by its depth, so its statements stay prepared
    /// (savepoints nest, and end in the reverse order).
    fn begin(conn: Conn) -> Result<Self, DbErr> {
        let depth = {
            let mut inner = conn.lock()?;
            let depth = inner.open_savepoints();
            inner.control(conn::Control::Savepoint(depth))?;
            depth
        };
        Ok(Self {
            conn,
            depth,
            open: true,
        })
    }

    /// Keeps what the unit wrote (the batch's commit makes it durable). If the release
    /// fails, the batch is marked broken and none of it is kept.
    pub(crate) fn release(mut self) -> Result<(), DbErr> {
        self.open = false;
        self.conn
            .lock()?
            .control(conn::Control::Release(self.depth))
    }
}

impl Drop for Savepoint {
    fn drop(&mut self) {
        if self.open {
            if let Ok(mut conn) = self.conn.lock() {
                let _ = conn.control(conn::Control::RollbackTo(self.depth));
                let _ = conn.control(conn::Control::Release(self.depth));
            }
        }
    }
}

connection_through!(Savepoint, |this| &this.conn as &dyn ConnectionTrait);
