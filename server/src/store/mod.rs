//! Persistence: the sea-orm connection, write transactions and the repositories.
//! This is the only module that builds queries.

/// Implements sea-orm's `ConnectionTrait` for `$ty` by handing every call to the connection
/// `$inner` names (`&dyn ConnectionTrait`, from `$this`): the write transaction, the writer's
/// savepoints and the readers are each one connection or another.
macro_rules! connection_through {
    ($ty:ty, |$this:ident| $inner:expr) => {
        #[async_trait::async_trait]
        impl sea_orm::ConnectionTrait for $ty {
            fn get_database_backend(&self) -> sea_orm::DatabaseBackend {
                let $this = self;
                ($inner).get_database_backend()
            }
            async fn execute(
                &self,
                stmt: sea_orm::Statement,
            ) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
                let $this = self;
                ($inner).execute(stmt).await
            }
            async fn execute_unprepared(
                &self,
                sql: &str,
            ) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
                let $this = self;
                ($inner).execute_unprepared(sql).await
            }
            async fn query_one(
                &self,
                stmt: sea_orm::Statement,
            ) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
                let $this = self;
                ($inner).query_one(stmt).await
            }
            async fn query_all(
                &self,
                stmt: sea_orm::Statement,
            ) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
                let $this = self;
                ($inner).query_all(stmt).await
            }
        }
    };
}

pub mod access;
pub mod accounts;
pub mod audit;
pub mod backup;
pub mod deks;
pub mod device;
pub mod entities;
pub mod escrow;
pub mod exposure;
pub mod group;
pub mod incidents;
pub mod integrity;
pub mod limits;
pub(crate) mod lite;
pub mod members;
pub mod notifications;
pub(crate) mod pg_writer;
mod prepared;
pub mod reviews;
pub mod rotation;
pub mod secrets;
pub mod sessions;
pub mod stats;
pub mod tokens;
mod values;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};
use std::sync::Arc;
use std::time::Duration;

pub use group::WriteTx;
pub use integrity::{Covered, Integrity};
pub use values::{is_unique_violation, new_id, now};

/// The database handle shared by the whole process.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// Write transactions share batches and durable commits (see [`group`]).
    group: Arc<group::Group>,
    /// PostgreSQL without group commit: each write transaction is its own.
    own_transactions: bool,
    /// SQLite's writer thread (see [`lite`]): units of work run there whole.
    lite: Option<Arc<lite::Lite>>,
    /// PostgreSQL's writer thread (see [`pg_writer`]): units of work run there whole.
    pg: Option<Arc<pg_writer::PgWriter>>,
}

/// The pool's options for `url`.
fn connect_options(url: &str, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    options
}

/// Connects with `options`; every statement is counted (`keyward_db_statements_total`;
/// BEGIN, COMMIT and savepoints do not pass through this callback).
async fn connect_counted(options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(|_| crate::telemetry::metrics::count_statement());
    Ok(db)
}

impl Store {
    /// Connects; SQLite files use WAL, a busy timeout and foreign keys, and are private to
    /// their owner (see [`private_sqlite_file`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbErr> {
        if let Some(path) = sqlite_path(url) {
            private_sqlite_file(&path)
                .map_err(|e| DbErr::Custom(format!("{}: {e}", path.display())))?;
        }
        let db = connect_counted(connect_options(url, max_connections)).await?;
        let own_transactions = db.get_database_backend() == DatabaseBackend::Postgres;
        let group = Arc::<group::Group>::default();
        // A plain file on disk and a runtime to run the units' futures with: the writer
        // thread. (A URL sqlx would read differently from a file name, with a `%` escape or
        // a `mode` other than `rwc`/`rw`, stays on the pool.)
        let plain = !url.contains('%')
            && !url.contains("mode=memory")
            && !url.contains("mode=ro")
            && !url.contains("immutable");
        let lite = match (
            sqlite_path(url).filter(|_| plain),
            tokio::runtime::Handle::try_current(),
        ) {
            (Some(path), Ok(handle)) => Some(lite::Lite::start(&path, handle, group.stats_arc())?),
            _ => None,
        };
        // PostgreSQL: a writer thread with one connection of its own, kept for its life
        // (a connection the pool lends and takes back costs a round trip each way).
        let pg = if db.get_database_backend() == DatabaseBackend::Postgres
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let options = connect_options(url, 1);
            let connect = move || connect_counted(options);
            Some(pg_writer::PgWriter::start(connect, group.stats_arc()).await?)
        } else {
            None
        };
        Ok(Self {
            db,
            group,
            own_transactions,
            lite,
            pg,
        })
    }

    /// Run units of work through the connection pool rather than on a writer thread
    /// (`database.writer_thread = false`: the path before issue 29, kept to compare).
    pub fn without_writer_thread(mut self) -> Self {
        self.lite = None;
        self.pg = None;
        self
    }

    /// A connection for reads on the caller's own thread: on SQLite with the writer thread,
    /// one of its readers (a statement runs synchronously, with no hand-off to another
    /// thread); otherwise the pool.
    pub fn reader(&self) -> Reader<'_> {
        // In a unit of PostgreSQL's writer, a read sees the batch's own writes. It is the
        // batch's transaction itself, outside the unit's savepoint: the unit's head is read
        // again afterwards, as after a nested savepoint.
        if let Some(tx) = self.pg.as_ref().and_then(|pg| pg.current()) {
            audit::batch::nested();
            return Reader::Batch(tx);
        }
        match self.lite.as_ref().map(|lite| lite.reader()) {
            Some(Ok(reader)) => Reader::Lite(reader),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "a reader connection could not open; reading through the pool");
                Reader::Pool(&self.db)
            }
            None => Reader::Pool(&self.db),
        }
    }

    /// Whether units of work run on a writer thread (SQLite's or PostgreSQL's).
    pub fn has_writer_thread(&self) -> bool {
        self.lite.is_some() || self.pg.is_some()
    }

    /// Runs `work` as one unit of work: on SQLite's writer thread, handed over once and
    /// answered once after the durable commit of the batch that holds it (see [`lite`]);
    /// elsewhere in a write transaction of [`Store::begin_write`], committed here. `work`
    /// gets the transaction and gives it back with its result; an error rolls it back.
    ///
    /// `work` must write only through the transaction it is given (and through
    /// `begin_write`, which on the writer thread opens a savepoint of the same batch).
    pub async fn unit<T, E, F, Fut>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(WriteTx) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(WriteTx, T), E>> + 'static,
        T: Send + 'static,
        E: From<DbErr> + Send + 'static,
    {
        if let Some(pg) = &self.pg {
            // Called by a unit on the writer thread: it runs here, in a savepoint of the
            // same batch.
            if let Some(nested) = pg.nested().await {
                let (tx, value) = work(WriteTx::nested(nested?)).await?;
                tx.commit().await?;
                return Ok(value);
            }
            return pg
                .unit(move |unit| async move {
                    let (tx, value) = work(WriteTx::pg(unit)).await?;
                    Ok((tx.into_pg()?, value))
                })
                .await;
        }
        if let Some(lite) = &self.lite {
            return lite
                .unit(move |savepoint| async move {
                    let (tx, value) = work(WriteTx::lite(savepoint)).await?;
                    Ok((tx.into_lite()?, value))
                })
                .await;
        }
        let tx = self.begin_write().await?;
        let (tx, value) = work(tx).await?;
        tx.commit().await?;
        Ok(value)
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    /// The names of the migrations not applied yet, and of those applied.
    pub async fn migration_names(&self) -> Result<(Vec<String>, Vec<String>), DbErr> {
        let pending = Migrator::get_pending_migrations(&self.db).await?;
        let applied = Migrator::get_applied_migrations(&self.db).await?;
        Ok((
            pending.iter().map(|m| m.name().to_owned()).collect(),
            applied.iter().map(|m| m.name().to_owned()).collect(),
        ))
    }

    /// Migrations known to the binary but not applied to the database.
    pub async fn pending_migrations(&self) -> Result<usize, DbErr> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }

    /// Group commit on PostgreSQL (`database.group_commit`); SQLite always has it.
    pub fn with_group_commit(mut self, on: bool) -> Self {
        self.own_transactions = self.backend() == DatabaseBackend::Postgres && !on;
        self
    }

    /// Starts a write transaction: a unit of the open group-commit batch (see [`group`]), or
    /// on PostgreSQL without group commit a transaction of its own. On SQLite the batch
    /// holds the database write lock from its start, so a transaction never reads a
    /// snapshot it cannot later write on.
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        if let Some(nested) = self.lite.as_ref().and_then(|lite| lite.nested()) {
            return Ok(WriteTx::lite(nested?));
        }
        if let Some(pg) = &self.pg {
            if let Some(nested) = pg.nested().await {
                return Ok(WriteTx::nested(nested?));
            }
        }
        if self.own_transactions {
            return WriteTx::own(&self.db).await;
        }
        self.group.begin(&self.db).await
    }

    /// Write transactions waiting for their turn.
    pub fn writers_waiting(&self) -> usize {
        self.group.waiting()
            + self.lite.as_ref().map_or(0, |lite| lite.pending())
            + self.pg.as_ref().map_or(0, |pg| pg.pending())
    }

    /// The pool's connections: `(open, idle)`.
    pub fn pool_use(&self) -> (i64, i64) {
        let (size, idle) = match self.backend() {
            DatabaseBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        (i64::from(size), idle as i64)
    }

    /// Running totals of committed batches.
    pub fn group_stats(&self) -> &stats::Stats {
        self.group.stats()
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }
}

/// Where a read goes: see [`Store::reader`].
pub enum Reader<'a> {
    Pool(&'a DatabaseConnection),
    Lite(lite::Reader),
    /// The batch of PostgreSQL's writer thread, read by one of its units.
    Batch(Arc<sea_orm::DatabaseTransaction>),
}

connection_through!(Reader<'_>, |this| match this {
    Reader::Pool(db) => *db as &dyn ConnectionTrait,
    Reader::Lite(reader) => reader,
    Reader::Batch(tx) => &**tx as &dyn ConnectionTrait,
});

/// The file of a `sqlite:` URL (none for an in-memory database).
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::PathBuf::from(path))
}

/// Creates the database file with mode 0600 before SQLite does (SQLite gives its WAL and
/// shared-memory files the database file's mode), and narrows an existing file, WAL and
/// shared memory readable by others to 0600.
fn private_sqlite_file(path: &std::path::Path) -> std::io::Result<()> {
    if !path.exists() {
        return match crate::files::create_private(path) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for file in files.iter().filter(|f| f.exists()) {
            let mode = std::fs::metadata(file)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "database file was readable by others; set to 0600");
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}
