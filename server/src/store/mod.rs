//! Persistence: the sea-orm connection, write transactions and the repositories.
//! This is the only module that builds queries.

pub mod accounts;
pub mod audit;
pub mod backup;
pub mod deks;
pub mod entities;
pub mod escrow;
pub mod incidents;
pub mod limits;
pub mod members;
pub mod rotation;
pub mod secrets;
pub mod sessions;
pub mod tokens;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, DbErr, TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// The database handle shared by the whole process.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite has one writer: write transactions queue here instead of spinning on SQLITE_BUSY.
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A write transaction. Dropping it without `commit` rolls back.
pub struct WriteTx {
    // Field order matters: the transaction ends before the write lock is released.
    tx: DatabaseTransaction,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }
}

impl Store {
    /// Connects; SQLite files use WAL, a busy timeout and foreign keys, and are private to
    /// their owner (see [`private_sqlite_file`]).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DbErr> {
        if let Some(path) = sqlite_path(url) {
            private_sqlite_file(&path)
                .map_err(|e| DbErr::Custom(format!("{}: {e}", path.display())))?;
        }
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
        let db = Database::connect(options).await?;
        let write_lock = match db.get_database_backend() {
            DatabaseBackend::Sqlite => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        Ok(Self { db, write_lock })
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

    /// Migrations known to the binary but not applied to the database.
    pub async fn pending_migrations(&self) -> Result<usize, DbErr> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }

    /// Starts a write transaction. On SQLite it takes the database write lock at once, so a
    /// transaction never reads a snapshot it cannot later write on.
    pub async fn begin_write(&self) -> Result<WriteTx, DbErr> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = self.db.begin().await?;
        if self.backend() == DatabaseBackend::Sqlite {
            tx.execute_unprepared("UPDATE write_gate SET ticks = ticks + 1 WHERE id = 1")
                .await?;
        }
        Ok(WriteTx { tx, _guard: guard })
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }
}

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

/// A new opaque id: UUID v7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, truncated to microseconds so it round-trips through every backend unchanged.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
