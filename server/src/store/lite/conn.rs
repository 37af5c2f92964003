//! A SQLite connection of our own (`rusqlite`), behind sea-orm's [`ConnectionTrait`]: the
//! repositories' queries, built by sea-query from the entities, run on it unchanged and
//! synchronously, on the thread that holds it, with prepared statements kept per connection.
//!
//! Values are bound and read back exactly as sqlx's SQLite driver does, so a row written by
//! either path reads the same on the other (the tests compare the stored text):
//! - timestamps are RFC 3339 text with as many fraction digits as needed (`AutoSi`);
//! - booleans are integers, dates `%F`, JSON text;
//! - a column comes back as the value type its entity field has, found from the column's
//!   declared type (`INTEGER` is an `i32`, `bigint` an `i64`, `timestamp_with_timezone_text`
//!   a UTC time…). A `RETURNING` column has no declared type: it is looked up in the table the
//!   statement writes.

use sea_orm::sea_query::Value;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, ExecResult, ProxyExecResult, ProxyRow, QueryResult,
    Statement,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The value type a column is read back as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    BigInt,
    Bool,
    Text,
    Bytes,
    Double,
    Date,
    Time,
    /// Whatever the stored value is (an expression's column): integers as `i64`.
    Any,
}

impl Kind {
    /// The kind of a declared column type, as sea-query's SQLite backend writes them.
    fn of_declared(declared: &str) -> Kind {
        let t = declared.to_ascii_lowercase();
        if t == "integer" || t == "int" {
            Kind::Int
        } else if t.contains("int") {
            Kind::BigInt
        } else if t.starts_with("bool") {
            Kind::Bool
        } else if t.starts_with("timestamp") || t.starts_with("datetime") {
            Kind::Time
        } else if t.starts_with("date") {
            Kind::Date
        } else if t.starts_with("blob") || t.contains("binary") {
            Kind::Bytes
        } else if t.starts_with("real") || t.starts_with("double") || t.starts_with("float") {
            Kind::Double
        } else {
            Kind::Text
        }
    }
}

/// The declared kinds of every table's columns, read once when the connection opens.
#[derive(Default)]
struct Schema {
    columns: HashMap<(String, String), Kind>,
}

impl Schema {
    fn read(conn: &rusqlite::Connection) -> rusqlite::Result<Self> {
        let mut columns = HashMap::new();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for table in tables {
            let mut info = conn.prepare("SELECT name, type FROM pragma_table_info(?1)")?;
            let rows = info.query_map([&table], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (column, declared) = row?;
                columns.insert((table.clone(), column), Kind::of_declared(&declared));
            }
        }
        Ok(Self { columns })
    }
}

/// The table an `INSERT`, `UPDATE` or `DELETE` built by sea-query writes (its `RETURNING`
/// columns are that table's).
fn written_table(sql: &str) -> Option<&str> {
    let rest = ["INSERT INTO ", "UPDATE ", "DELETE FROM "]
        .iter()
        .find_map(|p| sql.strip_prefix(p))?;
    let rest = rest.strip_prefix('"')?;
    rest.split('"').next()
}

/// One open connection and what it knows of its statements.
pub(crate) struct Inner {
    conn: rusqlite::Connection,
    /// Read when first needed (after the migrations), and again when a column is missing.
    schema: Option<Schema>,
    /// The result columns of each statement text.
    columns: HashMap<String, Arc<[Column]>>,
    /// Savepoints open now.
    savepoints: usize,
    /// A savepoint failed to begin, release or roll back since the batch began: what the
    /// transaction holds is no longer known.
    broken: bool,
}

/// A result column: its name, the key that reads it by position, and its kind.
struct Column {
    name: String,
    /// sea-orm reads a tuple by position, in the row map's (sorted) order: a key that sorts
    /// first and in column order answers that, the name the rest.
    position: String,
    kind: Kind,
}

/// Transaction control, kept prepared: a savepoint is named by its depth.
#[derive(Clone, Copy)]
pub(crate) enum Control {
    Begin,
    Commit,
    Savepoint(usize),
    Release(usize),
    RollbackTo(usize),
}

/// Savepoint depths with a prepared name; deeper ones are named as they come.
const NAMED_DEPTHS: usize = 4;
const SAVEPOINT: [&str; NAMED_DEPTHS] = [
    "SAVEPOINT kw_0",
    "SAVEPOINT kw_1",
    "SAVEPOINT kw_2",
    "SAVEPOINT kw_3",
];
const RELEASE: [&str; NAMED_DEPTHS] = [
    "RELEASE kw_0",
    "RELEASE kw_1",
    "RELEASE kw_2",
    "RELEASE kw_3",
];
const ROLLBACK_TO: [&str; NAMED_DEPTHS] = [
    "ROLLBACK TO kw_0",
    "ROLLBACK TO kw_1",
    "ROLLBACK TO kw_2",
    "ROLLBACK TO kw_3",
];

/// A connection shared by the values that use it on its thread (a writer's unit and the
/// savepoints in it, or a reader).
#[derive(Clone)]
pub(crate) struct Conn(Arc<Mutex<Inner>>);

fn db_err(e: impl std::fmt::Display) -> DbErr {
    DbErr::Custom(format!("sqlite: {e}"))
}

/// SQLite's own error, as sea-orm reports sqlx's: a unique violation stays recognisable
/// (`store::is_unique_violation` reads the message).
fn sqlite_err(e: rusqlite::Error) -> DbErr {
    let unique = matches!(
        e.sqlite_error().map(|e| e.extended_code),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    );
    let prefix = if unique {
        super::super::values::UNIQUE_VIOLATION
    } else {
        ""
    };
    DbErr::Query(sea_orm::RuntimeErr::Internal(format!(
        "{prefix}error returned from database: {e}"
    )))
}

impl Conn {
    /// Opens `path` as the server's pool does: WAL, full sync, foreign keys, a busy timeout.
    /// The file must exist (the pool created it): a path that names another file fails
    /// rather than splitting the data in two.
    pub(crate) fn open(path: &std::path::Path) -> Result<Self, DbErr> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite_err)?;
        // Pages read through a memory map rather than copied into each connection's cache.
        conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024)
            .map_err(sqlite_err)?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(Self(Arc::new(Mutex::new(Inner {
            conn,
            schema: None,
            columns: HashMap::new(),
            savepoints: 0,
            broken: false,
        }))))
    }

    /// Opens `path` for reads only (`query_only`: a write through it fails).
    pub(crate) fn open_reader(path: &std::path::Path) -> Result<Self, DbErr> {
        let conn = Self::open(path)?;
        conn.lock()?.batch("PRAGMA query_only = ON")?;
        Ok(conn)
    }

    /// The connection, for this thread. A unit that panicked holding it left no transaction
    /// state behind that SQLite does not track itself, so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Inner>, DbErr> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl Inner {
    /// Runs SQL with no values and no rows.
    pub(crate) fn batch(&self, sql: &str) -> Result<(), DbErr> {
        self.conn.execute_batch(sql).map_err(sqlite_err)
    }

    /// Savepoints open now: the depth of the next one.
    pub(crate) fn open_savepoints(&self) -> usize {
        self.savepoints
    }

    /// Begins, commits, or opens, releases or rolls back to a savepoint, with statements
    /// kept prepared.
    pub(crate) fn control(&mut self, control: Control) -> Result<(), DbErr> {
        let named = |names: &[&'static str; NAMED_DEPTHS], depth: usize, verb: &str| {
            names.get(depth).map_or_else(
                || std::borrow::Cow::Owned(format!("{verb} kw_{depth}")),
                |n| std::borrow::Cow::Borrowed(*n),
            )
        };
        let sql = match control {
            Control::Begin => std::borrow::Cow::Borrowed("BEGIN IMMEDIATE"),
            Control::Commit => std::borrow::Cow::Borrowed("COMMIT"),
            Control::Savepoint(depth) => named(&SAVEPOINT, depth, "SAVEPOINT"),
            Control::Release(depth) => named(&RELEASE, depth, "RELEASE"),
            Control::RollbackTo(depth) => named(&ROLLBACK_TO, depth, "ROLLBACK TO"),
        };
        let done = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| s.execute([]))
            .map_err(sqlite_err);
        match (control, &done) {
            (Control::Begin, Ok(_)) => {
                self.savepoints = 0;
                self.broken = false;
            }
            (Control::Commit, _) => self.savepoints = 0,
            (Control::Savepoint(depth), Ok(_)) => self.savepoints = depth + 1,
            (Control::Release(depth), Ok(_)) => self.savepoints = depth,
            (Control::RollbackTo(_), Ok(_)) | (Control::Begin, Err(_)) => {}
            (Control::Savepoint(_) | Control::Release(_) | Control::RollbackTo(_), Err(_)) => {
                self.broken = true;
            }
        }
        done.map(|_| ())
    }

    /// Whether the batch's transaction is still open and every savepoint in it ended as
    /// asked.
    pub(crate) fn transaction_intact(&self) -> bool {
        !self.broken && !self.conn.is_autocommit()
    }

    fn run(&mut self, stmt: &Statement) -> Result<(Vec<QueryResult>, u64), DbErr> {
        crate::telemetry::metrics::count_statement();
        let values = match &stmt.values {
            Some(values) => values.0.iter().map(bind).collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let columns = match self.columns.get(&stmt.sql) {
            Some(columns) => columns.clone(),
            None => {
                let columns = self.columns_of(&stmt.sql)?;
                self.columns.insert(stmt.sql.clone(), columns.clone());
                columns
            }
        };
        let mut prepared = self.conn.prepare_cached(&stmt.sql).map_err(sqlite_err)?;
        let mut rows = prepared
            .query(rusqlite::params_from_iter(values.iter()))
            .map_err(sqlite_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite_err)? {
            let mut values = BTreeMap::new();
            for (i, column) in columns.iter().enumerate() {
                let value = read(row.get_ref(i).map_err(sqlite_err)?, column.kind)?;
                values.insert(column.position.clone(), value.clone());
                values.entry(column.name.clone()).or_insert(value);
            }
            out.push(QueryResult::from(ProxyRow::new(values)));
        }
        drop(rows);
        Ok((out, self.conn.changes()))
    }

    fn columns_of(&mut self, sql: &str) -> Result<Arc<[Column]>, DbErr> {
        let columns: Vec<(String, Option<Kind>)> = {
            let prepared = self.conn.prepare_cached(sql).map_err(sqlite_err)?;
            prepared
                .columns()
                .iter()
                .map(|c| (c.name().to_owned(), c.decl_type().map(Kind::of_declared)))
                .collect()
        };
        let table = written_table(sql);
        let mut kinds = Vec::with_capacity(columns.len());
        for (i, (name, declared)) in columns.into_iter().enumerate() {
            let kind = match (declared, table) {
                (Some(kind), _) => kind,
                // sea-orm's own count (`PaginatorTrait::count`) reads an `i32` on SQLite.
                (None, _) if name == "num_items" => Kind::Int,
                (None, Some(table)) => self.declared(table, &name)?.unwrap_or(Kind::Any),
                (None, None) => Kind::Any,
            };
            kinds.push(Column {
                position: format!("\u{1}{i:04}"),
                name,
                kind,
            });
        }
        Ok(kinds.into())
    }

    /// The declared kind of `table.column`, reading the schema again if it is not known.
    fn declared(&mut self, table: &str, column: &str) -> Result<Option<Kind>, DbErr> {
        let key = (table.to_owned(), column.to_owned());
        if let Some(kind) = self.schema.as_ref().and_then(|s| s.columns.get(&key)) {
            return Ok(Some(*kind));
        }
        let schema = Schema::read(&self.conn).map_err(sqlite_err)?;
        let kind = schema.columns.get(&key).copied();
        self.schema = Some(schema);
        Ok(kind)
    }
}

/// A sea-query value as sqlx's SQLite driver binds it.
fn bind(value: &Value) -> Result<rusqlite::types::Value, DbErr> {
    use rusqlite::types::Value as V;
    fn opt<T>(v: &Option<T>, f: impl FnOnce(&T) -> V) -> V {
        v.as_ref().map_or(V::Null, f)
    }
    let rfc3339 = |t: &chrono::DateTime<chrono::Utc>| {
        V::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
    };
    Ok(match value {
        Value::Bool(v) => opt(v, |b| V::Integer(i64::from(*b))),
        Value::TinyInt(v) => opt(v, |i| V::Integer(i64::from(*i))),
        Value::SmallInt(v) => opt(v, |i| V::Integer(i64::from(*i))),
        Value::Int(v) => opt(v, |i| V::Integer(i64::from(*i))),
        Value::BigInt(v) => opt(v, |i| V::Integer(*i)),
        Value::TinyUnsigned(v) => opt(v, |i| V::Integer(i64::from(*i))),
        Value::SmallUnsigned(v) => opt(v, |i| V::Integer(i64::from(*i))),
        Value::Unsigned(v) => opt(v, |i| V::Integer(i64::from(*i))),
        Value::BigUnsigned(v) => match v {
            Some(i) => V::Integer(i64::try_from(*i).map_err(db_err)?),
            None => V::Null,
        },
        Value::Float(v) => opt(v, |f| V::Real(f64::from(*f))),
        Value::Double(v) => opt(v, |f| V::Real(*f)),
        Value::String(v) => opt(v, |s| V::Text(s.as_str().to_owned())),
        Value::Char(v) => opt(v, |c| V::Text(c.to_string())),
        Value::Bytes(v) => opt(v, |b| V::Blob(b.to_vec())),
        Value::Json(v) => opt(v, |j| V::Text(j.to_string())),
        Value::ChronoDate(v) => opt(v, |d| V::Text(d.format("%F").to_string())),
        Value::ChronoTime(v) => opt(v, |t| V::Text(t.format("%T%.f").to_string())),
        Value::ChronoDateTime(v) => opt(v, |t| V::Text(t.format("%F %T%.f").to_string())),
        Value::ChronoDateTimeUtc(v) => opt(v, |t| rfc3339(t)),
        Value::ChronoDateTimeLocal(v) => opt(v, |t| rfc3339(&t.with_timezone(&chrono::Utc))),
        Value::ChronoDateTimeWithTimeZone(v) => opt(v, |t| {
            V::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
        }),
        #[allow(unreachable_patterns)]
        _ => return Err(db_err("a value of a type SQLite does not take")),
    })
}

/// A stored value as the value type its column's entity field has.
fn read(value: rusqlite::types::ValueRef<'_>, kind: Kind) -> Result<Value, DbErr> {
    use rusqlite::types::ValueRef as R;
    let text = |v: &R<'_>| -> Result<String, DbErr> {
        match v {
            R::Text(t) => std::str::from_utf8(t).map(str::to_owned).map_err(db_err),
            R::Integer(i) => Ok(i.to_string()),
            R::Real(f) => Ok(f.to_string()),
            _ => Err(db_err("a text column holds a blob")),
        }
    };
    let null = matches!(value, R::Null);
    Ok(match kind {
        Kind::Int => Value::Int(if null {
            None
        } else {
            Some(i32::try_from(value.as_i64().map_err(db_err)?).map_err(db_err)?)
        }),
        Kind::BigInt => Value::BigInt(if null {
            None
        } else {
            Some(value.as_i64().map_err(db_err)?)
        }),
        Kind::Bool => Value::Bool(if null {
            None
        } else {
            Some(value.as_i64().map_err(db_err)? != 0)
        }),
        Kind::Double => Value::Double(if null {
            None
        } else {
            Some(value.as_f64().map_err(db_err)?)
        }),
        Kind::Bytes => Value::Bytes(match value {
            R::Null => None,
            R::Blob(b) => Some(Box::new(b.to_vec())),
            other => Some(Box::new(text(&other)?.into_bytes())),
        }),
        Kind::Text => Value::String(if null {
            None
        } else {
            Some(Box::new(text(&value)?))
        }),
        Kind::Date => Value::ChronoDate(if null {
            None
        } else {
            let t = text(&value)?;
            Some(Box::new(
                chrono::NaiveDate::parse_from_str(&t, "%F").map_err(db_err)?,
            ))
        }),
        Kind::Time => Value::ChronoDateTimeUtc(if null {
            None
        } else {
            Some(Box::new(parse_time(&text(&value)?)?))
        }),
        Kind::Any => match value {
            R::Null => Value::BigInt(None),
            R::Integer(i) => Value::BigInt(Some(i)),
            R::Real(f) => Value::Double(Some(f)),
            R::Text(_) => Value::String(Some(Box::new(text(&value)?))),
            R::Blob(b) => Value::Bytes(Some(Box::new(b.to_vec()))),
        },
    })
}

/// A stored time, in the forms sqlx reads (RFC 3339 first, then SQLite's own).
fn parse_time(text: &str) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    for format in ["%F %T%.f%:z", "%F %T%.fZ", "%FT%T%.f%:z", "%FT%T%.fZ"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(text, format) {
            return Ok(t.with_timezone(&chrono::Utc));
        }
    }
    for format in ["%F %T%.f", "%FT%T%.f", "%F %R", "%FT%R"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(chrono::Utc.from_utc_datetime(&t));
        }
    }
    Err(db_err("a stored time could not be read"))
}

#[async_trait::async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DatabaseBackend {
        DatabaseBackend::Sqlite
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut inner = self.lock()?;
        let (_, rows_affected) = inner.run(&stmt)?;
        let last_insert_id = u64::try_from(inner.conn.last_insert_rowid()).unwrap_or_default();
        Ok(ExecResult::from(ProxyExecResult {
            last_insert_id,
            rows_affected,
        }))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        crate::telemetry::metrics::count_statement();
        let inner = self.lock()?;
        inner.batch(sql)?;
        Ok(ExecResult::from(ProxyExecResult {
            last_insert_id: u64::try_from(inner.conn.last_insert_rowid()).unwrap_or_default(),
            rows_affected: inner.conn.changes(),
        }))
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.lock()?.run(&stmt)?.0.into_iter().next())
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        Ok(self.lock()?.run(&stmt)?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_read_as_their_fields() {
        assert_eq!(Kind::of_declared("INTEGER"), Kind::Int);
        assert_eq!(Kind::of_declared("bigint"), Kind::BigInt);
        assert_eq!(
            Kind::of_declared("timestamp_with_timezone_text"),
            Kind::Time
        );
        assert_eq!(Kind::of_declared("date_text"), Kind::Date);
        assert_eq!(Kind::of_declared("blob(1)"), Kind::Bytes);
        assert_eq!(Kind::of_declared("boolean"), Kind::Bool);
        assert_eq!(Kind::of_declared("varchar(36)"), Kind::Text);
        assert_eq!(Kind::of_declared("TEXT"), Kind::Text);
    }

    #[test]
    fn the_written_table_is_found() {
        assert_eq!(
            written_table(r#"INSERT INTO "rate_counter" ("key") VALUES (?)"#),
            Some("rate_counter")
        );
        assert_eq!(written_table(r#"UPDATE "member" SET"#), Some("member"));
        assert_eq!(written_table("SELECT 1"), None);
    }

    #[test]
    fn times_bind_as_sqlx_writes_them() {
        use chrono::TimeZone;
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 12, 7, 13, 57, 19)
            .single();
        let bound = bind(&Value::ChronoDateTimeUtc(t.map(Box::new))).ok();
        assert_eq!(
            bound,
            Some(rusqlite::types::Value::Text(
                "2026-12-07T13:57:19+00:00".to_owned()
            ))
        );
        let back = parse_time("2026-12-07T13:57:19.123456+00:00").ok();
        assert_eq!(back.map(|t| t.timestamp_subsec_micros()), Some(123_456));
    }
}
