//! Wrapped DEKs wherever they are stored (secret versions, backup-code generations): counts
//! per KEK, and batches to re-wrap for key rotation.

use super::entities::{backup_code_generation, secret};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::BTreeMap;

/// A table that holds wrapped DEKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DekTable {
    Secret,
    BackupGeneration,
}

impl DekTable {
    pub const ALL: [DekTable; 2] = [DekTable::Secret, DekTable::BackupGeneration];
}

/// One wrapped DEK and the row (its owner id) it belongs to.
pub struct WrappedDek {
    pub owner_id: String,
    pub wrapped_dek: Vec<u8>,
    pub kek_id: String,
}

/// The columns a DEK-holding table uses.
struct Cols<C> {
    id: C,
    wrapped: C,
    kek: C,
}

async fn count_not<E: EntityTrait>(
    db: &impl ConnectionTrait,
    c: Cols<E::Column>,
    active: &str,
) -> Result<u64, DbErr>
where
    E::Model: Sync,
{
    E::find().filter(c.kek.ne(active)).count(db).await
}

async fn batch_not<E: EntityTrait>(
    db: &impl ConnectionTrait,
    c: Cols<E::Column>,
    active: &str,
    limit: u64,
) -> Result<Vec<WrappedDek>, DbErr> {
    let rows: Vec<(String, Vec<u8>, String)> = E::find()
        .select_only()
        .column(c.id)
        .column(c.wrapped)
        .column(c.kek)
        .filter(c.kek.ne(active))
        .order_by_asc(c.id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(owner_id, wrapped_dek, kek_id)| WrappedDek {
            owner_id,
            wrapped_dek,
            kek_id,
        })
        .collect())
}

async fn set<E: EntityTrait>(
    db: &impl ConnectionTrait,
    c: Cols<E::Column>,
    id: &str,
    old_kek: &str,
    wrapped: Vec<u8>,
    kek_id: &str,
) -> Result<bool, DbErr> {
    let result = E::update_many()
        .col_expr(c.wrapped, Expr::value(wrapped))
        .col_expr(c.kek, Expr::value(kek_id))
        .filter(c.id.eq(id))
        .filter(c.kek.eq(old_kek))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

async fn per_kek<E: EntityTrait>(
    db: &impl ConnectionTrait,
    c: Cols<E::Column>,
) -> Result<Vec<(String, i64)>, DbErr> {
    E::find()
        .select_only()
        .column(c.kek)
        .column_as(Expr::col(c.id).count(), "n")
        .group_by(c.kek)
        .into_tuple()
        .all(db)
        .await
}

fn secret_cols() -> Cols<secret::Column> {
    Cols {
        id: secret::Column::Id,
        wrapped: secret::Column::WrappedDek,
        kek: secret::Column::KekId,
    }
}

fn generation_cols() -> Cols<backup_code_generation::Column> {
    Cols {
        id: backup_code_generation::Column::Id,
        wrapped: backup_code_generation::Column::WrappedDek,
        kek: backup_code_generation::Column::KekId,
    }
}

/// How many DEKs in `table` are wrapped by some KEK other than `active`.
pub async fn count_not_wrapped_by(
    db: &impl ConnectionTrait,
    table: DekTable,
    active: &str,
) -> Result<u64, DbErr> {
    match table {
        DekTable::Secret => count_not::<secret::Entity>(db, secret_cols(), active).await,
        DekTable::BackupGeneration => {
            count_not::<backup_code_generation::Entity>(db, generation_cols(), active).await
        }
    }
}

/// A batch of DEKs in `table` not wrapped by `active` yet.
pub async fn batch_not_wrapped_by(
    db: &impl ConnectionTrait,
    table: DekTable,
    active: &str,
    limit: u64,
) -> Result<Vec<WrappedDek>, DbErr> {
    match table {
        DekTable::Secret => batch_not::<secret::Entity>(db, secret_cols(), active, limit).await,
        DekTable::BackupGeneration => {
            batch_not::<backup_code_generation::Entity>(db, generation_cols(), active, limit).await
        }
    }
}

/// Stores a re-wrapped DEK, only if the row still has the DEK that was re-wrapped.
pub async fn set_wrapped_dek(
    db: &impl ConnectionTrait,
    table: DekTable,
    owner_id: &str,
    old_kek: &str,
    wrapped: Vec<u8>,
    kek_id: &str,
) -> Result<bool, DbErr> {
    match table {
        DekTable::Secret => {
            set::<secret::Entity>(db, secret_cols(), owner_id, old_kek, wrapped, kek_id).await
        }
        DekTable::BackupGeneration => {
            let cols = generation_cols();
            set::<backup_code_generation::Entity>(db, cols, owner_id, old_kek, wrapped, kek_id)
                .await
        }
    }
}

/// How many DEKs each KEK wraps, over every table, by KEK id.
pub async fn count_by_kek(db: &impl ConnectionTrait) -> Result<BTreeMap<String, i64>, DbErr> {
    let mut counts = BTreeMap::new();
    let secrets = per_kek::<secret::Entity>(db, secret_cols()).await?;
    let generations = per_kek::<backup_code_generation::Entity>(db, generation_cols()).await?;
    for (kek, n) in secrets.into_iter().chain(generations) {
        *counts.entry(kek).or_insert(0) += n;
    }
    Ok(counts)
}

/// One DEK wrapped by `kek_id`, from any table, to prove a key against stored data.
pub async fn one_wrapped_by(
    db: &impl ConnectionTrait,
    kek_id: &str,
) -> Result<Option<WrappedDek>, DbErr> {
    for table in DekTable::ALL {
        let found = match table {
            DekTable::Secret => batch_by::<secret::Entity>(db, secret_cols(), kek_id).await?,
            DekTable::BackupGeneration => {
                batch_by::<backup_code_generation::Entity>(db, generation_cols(), kek_id).await?
            }
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

async fn batch_by<E: EntityTrait>(
    db: &impl ConnectionTrait,
    c: Cols<E::Column>,
    kek_id: &str,
) -> Result<Option<WrappedDek>, DbErr> {
    let row: Option<(String, Vec<u8>, String)> = E::find()
        .select_only()
        .column(c.id)
        .column(c.wrapped)
        .column(c.kek)
        .filter(c.kek.eq(kek_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map(|(owner_id, wrapped_dek, kek_id)| WrappedDek {
        owner_id,
        wrapped_dek,
        kek_id,
    }))
}

// ---- key check values ---------------------------------------------------------------------

use super::entities::key_check;

/// The recorded check value of every key id.
pub async fn key_checks(db: &impl ConnectionTrait) -> Result<BTreeMap<String, String>, DbErr> {
    Ok(key_check::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.key_id, row.check_value))
        .collect())
}

/// Records a key's check value unless one is recorded already (another process may record
/// the same key at the same moment; the caller reads back what won).
pub async fn record_key_check(
    db: &impl ConnectionTrait,
    key_id: &str,
    check_value: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    let row = key_check::ActiveModel {
        key_id: sea_orm::Set(key_id.to_owned()),
        check_value: sea_orm::Set(check_value.to_owned()),
        recorded_at: sea_orm::Set(super::values::now()),
    };
    let insert = key_check::Entity::insert(row)
        .on_conflict(
            OnConflict::column(key_check::Column::KeyId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match insert {
        Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
        Err(err) => Err(err),
    }
}
