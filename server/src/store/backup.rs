//! Backup-code generations and their codes: import (superseding the previous generation),
//! the atomic check-out of the lowest unused position, outcome reports and lookups for verify.

use super::entities::{backup_code, backup_code_generation as generation};
use super::values::now;
use crate::crypto::SealedSet;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

pub use backup_code::Model as CodeRow;
pub use generation::Model as GenerationRow;

/// Code states as stored.
pub mod state {
    pub const UNUSED: &str = "unused";
    pub const CHECKED_OUT: &str = "checked_out";
    pub const USED: &str = "used";
    pub const REJECTED: &str = "rejected";
}

/// The account's current (not superseded) generation.
pub async fn current(
    db: &impl ConnectionTrait,
    account_id: &str,
) -> Result<Option<GenerationRow>, DbErr> {
    generation::Entity::find()
        .filter(generation::Column::AccountId.eq(account_id))
        .filter(generation::Column::SupersededAt.is_null())
        .order_by_desc(generation::Column::Generation)
        .one(db)
        .await
}

/// A generation by id.
pub async fn generation(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<GenerationRow>, DbErr> {
    generation::Entity::find_by_id(id).one(db).await
}

/// A generation of the account by number.
pub async fn by_number(
    db: &impl ConnectionTrait,
    account_id: &str,
    number: i32,
) -> Result<Option<GenerationRow>, DbErr> {
    generation::Entity::find()
        .filter(generation::Column::AccountId.eq(account_id))
        .filter(generation::Column::Generation.eq(number))
        .one(db)
        .await
}

/// Every generation of these accounts.
pub async fn generations_of(
    db: &impl ConnectionTrait,
    account_ids: &[String],
) -> Result<Vec<GenerationRow>, DbErr> {
    generation::Entity::find()
        .filter(generation::Column::AccountId.is_in(account_ids.iter().cloned()))
        .all(db)
        .await
}

/// Every generation of the account, newest first.
pub async fn all_generations(
    db: &impl ConnectionTrait,
    account_id: &str,
) -> Result<Vec<GenerationRow>, DbErr> {
    generation::Entity::find()
        .filter(generation::Column::AccountId.eq(account_id))
        .order_by_desc(generation::Column::Generation)
        .all(db)
        .await
}

/// Whether any of `lookups` is a code of one of the account's generations, current or
/// earlier: the same codes (all, or some) coming back.
pub async fn holds_any_code(
    db: &impl ConnectionTrait,
    account_id: &str,
    lookups: &[String],
) -> Result<bool, DbErr> {
    let generations: Vec<String> = all_generations(db, account_id)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    if generations.is_empty() || lookups.is_empty() {
        return Ok(false);
    }
    Ok(backup_code::Entity::find()
        .filter(backup_code::Column::GenerationId.is_in(generations))
        .filter(backup_code::Column::LookupHmac.is_in(lookups.iter().cloned()))
        .one(db)
        .await?
        .is_some())
}

/// What a new generation is made of; ids are chosen before sealing because the AADs name them.
pub struct NewGeneration<'a> {
    pub id: String,
    pub account_id: &'a str,
    pub generation: i32,
    pub issued_on: NaiveDate,
    pub created_by: &'a str,
    /// (code id, lookup HMAC) in position order, matching `sealed.ciphertexts`.
    pub codes: Vec<(String, String)>,
    pub sealed: SealedSet,
}

/// The number the next generation of the account will get.
pub async fn next_number(db: &impl ConnectionTrait, account_id: &str) -> Result<i32, DbErr> {
    let latest = generation::Entity::find()
        .filter(generation::Column::AccountId.eq(account_id))
        .order_by_desc(generation::Column::Generation)
        .one(db)
        .await?;
    Ok(latest.map(|g| g.generation + 1).unwrap_or(1))
}

/// Supersedes the current generation and inserts the new one with its codes, all unused.
/// Returns the superseded generation's number, if there was one.
pub async fn insert_generation(
    db: &impl ConnectionTrait,
    new: NewGeneration<'_>,
) -> Result<Option<i32>, DbErr> {
    let at = now();
    let previous = current(db, new.account_id).await?;
    generation::Entity::update_many()
        .col_expr(generation::Column::SupersededAt, Expr::value(at))
        .filter(generation::Column::AccountId.eq(new.account_id))
        .filter(generation::Column::SupersededAt.is_null())
        .exec(db)
        .await?;
    generation::ActiveModel {
        id: Set(new.id.clone()),
        account_id: Set(new.account_id.to_owned()),
        generation: Set(new.generation),
        issued_on: Set(new.issued_on),
        total: Set(new.codes.len() as i32),
        wrapped_dek: Set(new.sealed.wrapped_dek),
        kek_id: Set(new.sealed.kek_id),
        created_by: Set(new.created_by.to_owned()),
        created_at: Set(at),
        superseded_at: Set(None),
    }
    .insert(db)
    .await?;
    let rows = new
        .codes
        .into_iter()
        .zip(new.sealed.ciphertexts)
        .enumerate()
        .map(|(i, ((id, lookup), ciphertext))| backup_code::ActiveModel {
            id: Set(id),
            generation_id: Set(new.id.clone()),
            position: Set(i as i32 + 1),
            ciphertext: Set(ciphertext),
            lookup_hmac: Set(lookup),
            state: Set(state::UNUSED.to_owned()),
            state_by: Set(None),
            state_at: Set(None),
            checked_out_by: Set(None),
            checked_out_at: Set(None),
        });
    backup_code::Entity::insert_many(rows).exec(db).await?;
    Ok(previous.map(|g| g.generation))
}

/// Locks the account's current generation (its row, for the rest of the transaction) and
/// returns it, in one statement, so concurrent check-outs of one account queue here and an
/// import cannot supersede it until this transaction ends (on SQLite the write transaction
/// already holds the database lock). `None` when there is none, or when an import superseded
/// it while this waited for the lock (read [`current`] again then).
pub async fn lock_current(
    db: &impl ConnectionTrait,
    account_id: &str,
) -> Result<Option<GenerationRow>, DbErr> {
    let backend = db.get_database_backend();
    let stmt = LOCK_CURRENT.bind(
        backend,
        |b| b.build(&returning_all(lock_current_update(""))),
        vec![account_id.into()],
    );
    let mut rows = super::prepared::all::<sea_orm::SelectModel<GenerationRow>>(db, stmt).await?;
    // One generation is current at a time; should there be more, the newest is.
    rows.sort_by_key(|g| g.generation);
    Ok(rows.pop())
}

static LOCK_CURRENT: super::prepared::Prepared = super::prepared::Prepared::new();

fn lock_current_update(account_id: &str) -> sea_orm::UpdateMany<generation::Entity> {
    generation::Entity::update_many()
        .col_expr(
            generation::Column::Total,
            Expr::col(generation::Column::Total).into(),
        )
        .filter(generation::Column::AccountId.eq(account_id))
        .filter(generation::Column::SupersededAt.is_null())
}

/// The update with `RETURNING *`, as sea-orm's `exec_with_returning` sends it.
fn returning_all<E: EntityTrait>(
    update: sea_orm::UpdateMany<E>,
) -> sea_orm::sea_query::UpdateStatement {
    let mut query = update.into_query();
    query.returning_all();
    query
}

/// Marks the unused code with the lowest position checked out by `by` and returns it, in one
/// statement; `None` when no code is left. Callers hold the generation's row lock, so two
/// check-outs never pick the same code.
pub async fn check_out_lowest(
    db: &impl ConnectionTrait,
    generation_id: &str,
    by: &str,
) -> Result<Option<CodeRow>, DbErr> {
    let at = now();
    let stmt = CHECK_OUT.bind(
        db.get_database_backend(),
        |b| b.build(&returning_all(check_out_lowest_update("", "", at))),
        check_out_values(generation_id, by, at),
    );
    let mut rows = super::prepared::all::<sea_orm::SelectModel<CodeRow>>(db, stmt).await?;
    Ok(rows.pop())
}

/// The update [`check_out_lowest`] runs. The code is picked by `id = (SELECT …)`, a scalar
/// subquery, so the row is found by its key: with `id IN (SELECT …)` SQLite scanned every
/// unused code of every account by the state index.
static CHECK_OUT: super::prepared::Prepared = super::prepared::Prepared::new();

/// The values of [`check_out_lowest_update`], in its placeholders' order.
fn check_out_values(generation_id: &str, by: &str, at: DateTime<Utc>) -> Vec<sea_orm::Value> {
    vec![
        state::CHECKED_OUT.into(),
        by.into(),
        at.into(),
        by.into(),
        at.into(),
        generation_id.into(),
        state::UNUSED.into(),
        1u64.into(),
        state::UNUSED.into(),
    ]
}

fn check_out_lowest_update(
    generation_id: &str,
    by: &str,
    at: DateTime<Utc>,
) -> sea_orm::UpdateMany<backup_code::Entity> {
    let lowest = sea_orm::sea_query::Query::select()
        .column(backup_code::Column::Id)
        .from(backup_code::Entity)
        .and_where(backup_code::Column::GenerationId.eq(generation_id))
        .and_where(backup_code::Column::State.eq(state::UNUSED))
        .order_by(
            backup_code::Column::Position,
            sea_orm::sea_query::Order::Asc,
        )
        .limit(1)
        .to_owned();
    let picked =
        sea_orm::sea_query::SimpleExpr::SubQuery(None, Box::new(lowest.into_sub_query_statement()));
    backup_code::Entity::update_many()
        .col_expr(backup_code::Column::State, Expr::value(state::CHECKED_OUT))
        .col_expr(backup_code::Column::StateBy, Expr::value(by))
        .col_expr(backup_code::Column::StateAt, Expr::value(at))
        .col_expr(backup_code::Column::CheckedOutBy, Expr::value(by))
        .col_expr(backup_code::Column::CheckedOutAt, Expr::value(at))
        .filter(Expr::col(backup_code::Column::Id).eq(picked))
        .filter(backup_code::Column::State.eq(state::UNUSED))
}

/// Records the outcome of a checked-out code, only while `holder` still holds it; who held it
/// stays recorded (they saw the code, whoever reports).
pub async fn report(
    db: &impl ConnectionTrait,
    code_id: &str,
    outcome: &str,
    holder: &str,
) -> Result<bool, DbErr> {
    let result = backup_code::Entity::update_many()
        .col_expr(backup_code::Column::State, Expr::value(outcome))
        .col_expr(backup_code::Column::StateAt, Expr::value(now()))
        .filter(backup_code::Column::Id.eq(code_id))
        .filter(backup_code::Column::State.eq(state::CHECKED_OUT))
        .filter(backup_code::Column::StateBy.eq(holder))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn code_at(
    db: &impl ConnectionTrait,
    generation_id: &str,
    position: i32,
) -> Result<Option<CodeRow>, DbErr> {
    backup_code::Entity::find()
        .filter(backup_code::Column::GenerationId.eq(generation_id))
        .filter(backup_code::Column::Position.eq(position))
        .one(db)
        .await
}

/// A generation's codes in position order (states only are used by callers that list them).
pub async fn codes(db: &impl ConnectionTrait, generation_id: &str) -> Result<Vec<CodeRow>, DbErr> {
    backup_code::Entity::find()
        .filter(backup_code::Column::GenerationId.eq(generation_id))
        .order_by_asc(backup_code::Column::Position)
        .all(db)
        .await
}

/// Unused codes left in a generation.
pub async fn remaining(db: &impl ConnectionTrait, generation_id: &str) -> Result<u64, DbErr> {
    let stmt = REMAINING.bind(
        db.get_database_backend(),
        |b| remaining_query("").build(b),
        vec![generation_id.into(), state::UNUSED.into(), 1u64.into()],
    );
    let n = super::prepared::one::<sea_orm::SelectGetableTuple<i64>>(db, stmt).await?;
    Ok(n.map_or(0, |n| u64::try_from(n).unwrap_or_default()))
}

static REMAINING: super::prepared::Prepared = super::prepared::Prepared::new();

fn remaining_query(generation_id: &str) -> sea_orm::Select<backup_code::Entity> {
    backup_code::Entity::find()
        .select_only()
        .column_as(Expr::col(backup_code::Column::Id).count(), "n")
        .filter(backup_code::Column::GenerationId.eq(generation_id))
        .filter(backup_code::Column::State.eq(state::UNUSED))
        .limit(1)
}

/// Every code of every generation of the account whose lookup HMAC is one of `lookups`.
pub async fn find_by_lookup(
    db: &impl ConnectionTrait,
    generations: &[GenerationRow],
    lookups: Vec<String>,
) -> Result<Vec<CodeRow>, DbErr> {
    if generations.is_empty() || lookups.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    // Bounded IN lists: SQLite and PostgreSQL both cap bind parameters.
    for chunk in lookups.chunks(500) {
        let rows = backup_code::Entity::find()
            .filter(
                backup_code::Column::GenerationId.is_in(generations.iter().map(|g| g.id.clone())),
            )
            .filter(backup_code::Column::LookupHmac.is_in(chunk.iter().cloned()))
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// Codes of the account reported rejected since `since`, oldest first (their report times).
pub async fn rejected_since(
    db: &impl ConnectionTrait,
    account_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, DbErr> {
    let stmt = REJECTED_SINCE.bind(
        db.get_database_backend(),
        |b| rejected_since_query("", since).build(b),
        vec![account_id.into(), state::REJECTED.into(), since.into()],
    );
    let rows = super::prepared::all::<sea_orm::SelectGetableTuple<Option<DateTime<Utc>>>>(db, stmt)
        .await?;
    Ok(rows.into_iter().flatten().collect())
}

static REJECTED_SINCE: super::prepared::Prepared = super::prepared::Prepared::new();

fn rejected_since_query(
    account_id: &str,
    since: DateTime<Utc>,
) -> sea_orm::Select<backup_code::Entity> {
    // The account's generations as a subquery: one statement.
    let generations = sea_orm::sea_query::Query::select()
        .column(generation::Column::Id)
        .from(generation::Entity)
        .and_where(generation::Column::AccountId.eq(account_id))
        .to_owned();
    backup_code::Entity::find()
        .select_only()
        .column(backup_code::Column::StateAt)
        .filter(backup_code::Column::GenerationId.in_subquery(generations))
        .filter(backup_code::Column::State.eq(state::REJECTED))
        .filter(backup_code::Column::StateAt.gte(since))
        .order_by_asc(backup_code::Column::StateAt)
}

/// Any one stored code with its generation (to prove the root key against stored lookups).
pub async fn any_code(
    db: &impl ConnectionTrait,
) -> Result<Option<(GenerationRow, CodeRow)>, DbErr> {
    let Some(code) = backup_code::Entity::find().one(db).await? else {
        return Ok(None);
    };
    Ok(generation::Entity::find_by_id(code.generation_id.clone())
        .one(db)
        .await?
        .map(|g| (g, code)))
}

impl CodeRow {
    /// Handed out and not yet reported.
    pub fn is_checked_out(&self) -> bool {
        self.state == state::CHECKED_OUT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DatabaseBackend, QueryTrait, Statement};

    /// SQLite's plan for the check-out's update: the code by its primary key, its generation's
    /// lowest unused code by the position index; never a scan of every unused code.
    #[tokio::test]
    async fn a_check_out_finds_its_code_by_key_not_by_scanning_unused_codes() {
        let store = crate::store::Store::connect("sqlite::memory:", 1)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let update = check_out_lowest_update("g", "token:t", now()).build(DatabaseBackend::Sqlite);
        let explain = Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", update.sql),
            update.values.map(|v| v.0).unwrap_or_default(),
        );
        let plan: Vec<String> = store
            .db()
            .query_all(explain)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String>("", "detail").unwrap())
            .collect();
        assert!(
            plan.iter().any(|d| d.starts_with(
                "SEARCH backup_code USING INDEX sqlite_autoindex_backup_code_1 (id=?)"
            )),
            "{plan:?}"
        );
        assert!(
            plan.iter()
                .any(|d| d.contains("ux_backup_code_position (generation_id=?)")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|d| d.contains("ix_backup_code_state_at")),
            "{plan:?}"
        );
    }
}

#[cfg(test)]
mod prepared_tests {
    use super::*;
    use crate::store::prepared::check::same;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        let at = now();
        let then = at - chrono::Duration::minutes(5);
        let pick = |other: bool, a: &'static str| if other { "other" } else { a };
        same(
            |b, o| b.build(&returning_all(lock_current_update(pick(o, "a")))),
            || vec!["a".into()],
        );
        same(
            |b, o| {
                let when = if o { then } else { at };
                let update = check_out_lowest_update(pick(o, "g"), pick(o, "token:t"), when);
                b.build(&returning_all(update))
            },
            || check_out_values("g", "token:t", at),
        );
        same(
            |b, o| remaining_query(pick(o, "g")).build(b),
            || vec!["g".into(), state::UNUSED.into(), 1u64.into()],
        );
        same(
            |b, o| rejected_since_query(pick(o, "a"), if o { then } else { at }).build(b),
            || vec!["a".into(), state::REJECTED.into(), at.into()],
        );
    }
}
