//! The exposure ledger: one row per secret an actor wrote, imported, exported, revealed,
//! checked out or was released, written in the transaction of the audit event that proves it.
//! Rows are MAC'ed (see [`super::integrity`]); audit retention never deletes them, and the
//! ledger's own pruning only drops rows whose secret has been replaced.

use super::entities::{backup_code_generation as generation, exposure, secret};
use super::{new_id, Integrity};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashSet;

pub use exposure::Model as ExposureRow;

/// Secret kinds as the ledger names them.
pub const BACKUP: &str = "backup";

/// One exposure to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewExposure {
    pub account_id: String,
    /// `totp`, `hotp`, `password` or `backup`.
    pub secret_kind: &'static str,
    pub secret_id: String,
    pub version: i32,
    pub position: Option<i32>,
    pub counter: Option<i64>,
    /// `write`, `import`, `export`, `reveal`, `checkout` or `break_glass`.
    pub how: &'static str,
}

/// Records `new` for `actor`, proven by audit event `seq`.
pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    actor: &str,
    seq: i64,
    at: DateTime<Utc>,
    new: NewExposure,
) -> Result<(), DbErr> {
    let row = ig.signed(ExposureRow {
        id: new_id(),
        actor: actor.to_owned(),
        account_id: new.account_id,
        secret_kind: new.secret_kind.to_owned(),
        secret_id: new.secret_id,
        version: new.version,
        position: new.position,
        counter: new.counter,
        how: new.how.to_owned(),
        seq,
        at,
        mac: None,
    })?;
    exposure::ActiveModel::from(row).insert(db).await?;
    Ok(())
}

/// The verified rows of these actors after `after` (by audit sequence), at most `limit`.
pub async fn of_actors(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    actors: &[String],
    after: i64,
    limit: u64,
) -> Result<Vec<ExposureRow>, DbErr> {
    let rows = exposure::Entity::find()
        .filter(exposure::Column::Actor.is_in(actors.iter().cloned()))
        .filter(exposure::Column::Seq.gt(after))
        .order_by_asc(exposure::Column::Seq)
        .order_by_asc(exposure::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(ig.keep(rows))
}

/// The lowest audit sequence the ledger holds, if any.
pub async fn first_seq(db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
    Ok(exposure::Entity::find()
        .order_by_asc(exposure::Column::Seq)
        .one(db)
        .await?
        .map(|r| r.seq))
}

/// Which of `seqs` have ledger rows.
pub async fn seqs_present(db: &impl ConnectionTrait, seqs: &[i64]) -> Result<HashSet<i64>, DbErr> {
    Ok(exposure::Entity::find()
        .filter(exposure::Column::Seq.is_in(seqs.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.seq)
        .collect())
}

/// Deletes rows recorded before `before` whose secret version or backup-code generation has
/// been replaced since (a current one's rows are kept however old); returns how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let replaced_secrets = Query::select()
        .column(secret::Column::Id)
        .from(secret::Entity)
        .and_where(secret::Column::SupersededAt.is_not_null())
        .to_owned();
    let replaced_generations = Query::select()
        .column(generation::Column::Id)
        .from(generation::Entity)
        .and_where(generation::Column::SupersededAt.is_not_null())
        .to_owned();
    let secrets = exposure::Entity::delete_many()
        .filter(exposure::Column::At.lt(before))
        .filter(exposure::Column::SecretKind.ne(BACKUP))
        .filter(exposure::Column::SecretId.in_subquery(replaced_secrets))
        .exec(db)
        .await?;
    let backups = exposure::Entity::delete_many()
        .filter(exposure::Column::At.lt(before))
        .filter(exposure::Column::SecretKind.eq(BACKUP))
        .filter(exposure::Column::SecretId.in_subquery(replaced_generations))
        .exec(db)
        .await?;
    Ok(secrets.rows_affected + backups.rows_affected)
}
