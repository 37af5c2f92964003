//! Rate counters in the database, so a limit holds across replicas: one row per key and
//! fixed window, incremented with an upsert inside the caller's transaction.

use super::entities::rate_counter;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// Counts one hit for `key` in the window starting at `window_start` (a Unix time); returns
/// the hits in that window, this one included. The upsert locks the row, so concurrent
/// callers are counted one after the other.
pub async fn hit(db: &impl ConnectionTrait, key: &str, window_start: i64) -> Result<i64, DbErr> {
    add(db, key, window_start, 1).await
}

/// Counts `n` hits at once (e.g. the guesses one backup-code verify tried); returns the total.
pub async fn add(
    db: &impl ConnectionTrait,
    key: &str,
    window_start: i64,
    n: i32,
) -> Result<i64, DbErr> {
    rate_counter::Entity::insert(rate_counter::ActiveModel {
        key: Set(key.to_owned()),
        window_start: Set(window_start),
        hits: Set(n),
    })
    .on_conflict(
        OnConflict::columns([rate_counter::Column::Key, rate_counter::Column::WindowStart])
            .value(
                rate_counter::Column::Hits,
                Expr::col((rate_counter::Entity, rate_counter::Column::Hits)).add(n),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(count(db, key, window_start).await?.max(i64::from(n)))
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
