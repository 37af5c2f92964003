//! Hot statements built once. sea-query builds such a query's SQL from the entities the first
//! time it runs on a backend, and each later call binds its own values to that text. Building
//! the text (quoting and formatting every column name) cost a reveal more CPU than SQLite took
//! to run the statements (issue 29's profile, bench/README.md). Each prepared statement has a
//! test that it equals a fresh build with the same values, on SQLite and PostgreSQL.

use sea_orm::{
    ActiveModelTrait, ActiveValue, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, Iterable,
    QueryTrait, SelectorTrait, Statement, Value, Values,
};
use std::sync::OnceLock;

/// One statement's SQL, per backend, once built.
pub(crate) struct Prepared {
    sql: [OnceLock<String>; 3],
}

impl Prepared {
    pub(crate) const fn new() -> Self {
        Self {
            sql: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
        }
    }

    /// The statement with `values` (in the order of its placeholders); `build` builds the
    /// query, with any values, the first time on `backend`.
    pub(crate) fn bind(
        &self,
        backend: DatabaseBackend,
        build: impl FnOnce(DatabaseBackend) -> Statement,
        values: Vec<Value>,
    ) -> Statement {
        let built: Result<Statement, std::convert::Infallible> =
            self.try_bind(backend, |b| Ok(build(b)), values);
        match built {
            Ok(stmt) => stmt,
            Err(never) => match never {},
        }
    }

    /// [`Prepared::bind`] with a build that may fail (it runs only the first time).
    pub(crate) fn try_bind<E>(
        &self,
        backend: DatabaseBackend,
        build: impl FnOnce(DatabaseBackend) -> Result<Statement, E>,
        values: Vec<Value>,
    ) -> Result<Statement, E> {
        let slot = match backend {
            DatabaseBackend::Sqlite => 0,
            DatabaseBackend::Postgres => 1,
            DatabaseBackend::MySql => 2,
        };
        let sql = match self.sql[slot].get() {
            Some(sql) => sql,
            None => {
                let built = build(backend)?.sql;
                self.sql[slot].get_or_init(|| built)
            }
        };
        Ok(Statement {
            sql: sql.clone(),
            values: Some(Values(values)),
            db_backend: backend,
        })
    }

    /// Inserts `model` (every column set) with this statement.
    pub(crate) async fn insert<A>(&self, db: &impl ConnectionTrait, model: A) -> Result<(), DbErr>
    where
        A: ActiveModelTrait + Send,
    {
        let values = insert_values(&model);
        let stmt = self.bind(
            db.get_database_backend(),
            |b| <A::Entity as EntityTrait>::insert(model).build(b),
            values,
        );
        db.execute(stmt).await.map(|_| ())
    }
}

/// The first row of `stmt`, read as the selector `S` reads it (a model, a model and its
/// related one, a tuple).
pub(crate) async fn one<S: SelectorTrait>(
    db: &impl ConnectionTrait,
    stmt: Statement,
) -> Result<Option<S::Item>, DbErr> {
    match db.query_one(stmt).await? {
        Some(row) => S::from_raw_query_result(row).map(Some),
        None => Ok(None),
    }
}

/// Every row of `stmt`, read as the selector `S` reads them.
pub(crate) async fn all<S: SelectorTrait>(
    db: &impl ConnectionTrait,
    stmt: Statement,
) -> Result<Vec<S::Item>, DbErr> {
    db.query_all(stmt)
        .await?
        .into_iter()
        .map(S::from_raw_query_result)
        .collect()
}

/// The values an `INSERT` of `model` binds, in the order sea-query writes its columns (the
/// entity's column order, set columns only).
pub(crate) fn insert_values<A>(model: &A) -> Vec<Value>
where
    A: ActiveModelTrait,
{
    <A::Entity as EntityTrait>::Column::iter()
        .filter_map(|column| match model.get(column) {
            ActiveValue::Set(value) | ActiveValue::Unchanged(value) => Some(value),
            ActiveValue::NotSet => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod check {
    use super::*;

    /// Asserts, on both backends, that a statement prepared from a build with other values
    /// (`build(backend, true)`) and bound with `values` is exactly a fresh build with those
    /// values (`build(backend, false)`): the values are listed in their placeholders' order,
    /// and none is written into the SQL text.
    pub(crate) fn same(
        build: impl Fn(DatabaseBackend, bool) -> Statement,
        values: impl Fn() -> Vec<Value>,
    ) {
        for backend in [DatabaseBackend::Sqlite, DatabaseBackend::Postgres] {
            let fresh = build(backend, false);
            let bound = Prepared::new().bind(backend, |b| build(b, true), values());
            assert_eq!(bound, fresh, "{backend:?}");
        }
    }
}
