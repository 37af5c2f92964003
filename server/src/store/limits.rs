//! Rate counters in the database, so a limit holds across replicas: one row per key and
//! fixed window, incremented with an upsert inside the caller's transaction.

use super::entities::rate_counter;
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Counts `n` hits at once (e.g. the guesses one backup-code verify tried); returns the total.
pub async fn add(
    db: &impl ConnectionTrait,
    key: &str,
    window_start: i64,
    n: i32,
) -> Result<i64, DbErr> {
    let totals = add_many(db, &[(key, window_start)], n).await?;
    totals.first().copied().ok_or_else(uncounted)
}

/// Counts `n` hits in each `(key, window_start)` with one statement (an upsert that returns
/// the new totals); returns the totals in the order given.
pub async fn add_many(
    db: &impl ConnectionTrait,
    windows: &[(&str, i64)],
    n: i32,
) -> Result<Vec<i64>, DbErr> {
    let backend = db.get_database_backend();
    let stmt = match ADD.get(windows.len()) {
        Some(prepared) => {
            let mut values = Vec::with_capacity(windows.len() * 3 + 1);
            for &(key, window_start) in windows {
                values.extend([key.into(), window_start.into(), n.into()]);
            }
            values.push(n.into());
            prepared.try_bind(
                backend,
                |b| add_many_query(windows, n).map(|q| b.build(&q)),
                values,
            )?
        }
        None => backend.build(&add_many_query(windows, n)?),
    };
    let rows = db.query_all(stmt).await?;
    let mut counted = Vec::with_capacity(rows.len());
    for row in rows {
        let key: String = row.try_get("", "key")?;
        let start: i64 = row.try_get("", "window_start")?;
        let hits: i32 = row.try_get("", "hits")?;
        counted.push((key, start, i64::from(hits)));
    }
    windows
        .iter()
        .map(|&(key, start)| {
            counted
                .iter()
                .find(|(k, s, _)| k == key && *s == start)
                .map(|c| c.2)
                .ok_or_else(uncounted)
        })
        .collect()
}

/// The upsert for one and for two windows, built once (see [`super::prepared`]).
static ADD: [super::prepared::Prepared; 3] = [
    super::prepared::Prepared::new(),
    super::prepared::Prepared::new(),
    super::prepared::Prepared::new(),
];

fn add_many_query(
    windows: &[(&str, i64)],
    n: i32,
) -> Result<sea_orm::sea_query::InsertStatement, DbErr> {
    let mut insert = Query::insert();
    insert.into_table(rate_counter::Entity).columns([
        rate_counter::Column::Key,
        rate_counter::Column::WindowStart,
        rate_counter::Column::Hits,
    ]);
    for &(key, window_start) in windows {
        insert
            .values([key.into(), window_start.into(), n.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    insert
        .on_conflict(
            OnConflict::columns([rate_counter::Column::Key, rate_counter::Column::WindowStart])
                .value(
                    rate_counter::Column::Hits,
                    Expr::col((rate_counter::Entity, rate_counter::Column::Hits)).add(n),
                )
                .to_owned(),
        )
        .returning(Query::returning().columns([
            rate_counter::Column::Key,
            rate_counter::Column::WindowStart,
            rate_counter::Column::Hits,
        ]));
    Ok(insert)
}

/// A counter the upsert did not return: never counted as "no hits".
fn uncounted() -> DbErr {
    DbErr::Custom("a rate counter was not returned by its upsert".to_owned())
}

/// The hits counted for `key` in the window starting at `window_start`, without adding one.
pub async fn count(db: &impl ConnectionTrait, key: &str, window_start: i64) -> Result<i64, DbErr> {
    let row = rate_counter::Entity::find_by_id((key.to_owned(), window_start))
        .one(db)
        .await?;
    Ok(row.map_or(0, |r| i64::from(r.hits)))
}

/// Drops windows that ended before `before` (a Unix time).
pub async fn purge(db: &impl ConnectionTrait, before: i64) -> Result<u64, DbErr> {
    let result = rate_counter::Entity::delete_many()
        .filter(rate_counter::Column::WindowStart.lt(before))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prepared::check::same;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        let one = [("reveal:m:x", 60)];
        let two = [("reveal:m:x", 60), ("reveal:h:x", 3600)];
        let other = [("import:h:y", 120), ("import:m:y", 7200)];
        let build =
            |b: sea_orm::DatabaseBackend, windows: &[(&str, i64)], n: i32| match add_many_query(
                windows, n,
            ) {
                Ok(query) => b.build(&query),
                Err(_) => unreachable!("the upsert builds"),
            };
        same(
            |b, o| {
                if o {
                    build(b, &other[..1], 5)
                } else {
                    build(b, &one, 3)
                }
            },
            || vec!["reveal:m:x".into(), 60i64.into(), 3i32.into(), 3i32.into()],
        );
        same(
            |b, o| {
                if o {
                    build(b, &other, 5)
                } else {
                    build(b, &two, 3)
                }
            },
            || {
                vec![
                    "reveal:m:x".into(),
                    60i64.into(),
                    3i32.into(),
                    "reveal:h:x".into(),
                    3600i64.into(),
                    3i32.into(),
                    3i32.into(),
                ]
            },
        );
    }
}
