//! The exposure ledger: one row per secret an actor wrote, imported, exported, revealed,
//! checked out or was released, written in the transaction of the audit event that proves it.
//! Rows are MAC'ed (see [`super::integrity`]); audit retention never deletes them, and the
//! ledger's own pruning only drops rows whose secret has been replaced.

use super::entities::{backup_code_generation as generation, exposure, secret};
use super::{new_id, Integrity};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{HashMap, HashSet};

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

impl NewExposure {
    /// The ledger row it makes for `actor`, proven by audit event `seq` (no id, no MAC yet).
    pub fn into_row(self, actor: &str, seq: i64, at: DateTime<Utc>) -> ExposureRow {
        ExposureRow {
            id: String::new(),
            actor: actor.to_owned(),
            account_id: self.account_id,
            secret_kind: self.secret_kind.to_owned(),
            secret_id: self.secret_id,
            version: self.version,
            position: self.position,
            counter: self.counter,
            how: self.how.to_owned(),
            seq,
            at,
            mac: None,
        }
    }
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
        ..new.into_row(actor, seq, at)
    })?;
    INSERT.insert(db, exposure::ActiveModel::from(row)).await
}

static INSERT: super::prepared::Prepared = super::prepared::Prepared::new();

/// Where a listing of ledger rows stopped: the last row's `(seq, id)`.
pub type Cursor = (i64, String);

/// Ledger rows after `after`, by audit sequence then id.
fn after_cursor(after: Option<&Cursor>) -> sea_orm::Select<exposure::Entity> {
    let mut query = exposure::Entity::find();
    if let Some((seq, id)) = after {
        query = query.filter(
            Condition::any().add(exposure::Column::Seq.gt(*seq)).add(
                Condition::all()
                    .add(exposure::Column::Seq.eq(*seq))
                    .add(exposure::Column::Id.gt(id.as_str())),
            ),
        );
    }
    query
        .order_by_asc(exposure::Column::Seq)
        .order_by_asc(exposure::Column::Id)
}

/// The verified rows of these actors after `after` (by audit sequence, then id), at most
/// `limit` read; with the cursor of the last row read, verified or not, so a page of bad
/// rows does not end the listing.
pub async fn of_actors(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    actors: &[String],
    after: Option<&Cursor>,
    limit: u64,
) -> Result<(Vec<ExposureRow>, Option<Cursor>), DbErr> {
    let rows = after_cursor(after)
        .filter(exposure::Column::Actor.is_in(actors.iter().cloned()))
        .limit(limit)
        .all(db)
        .await?;
    let last = rows.last().map(|r| (r.seq, r.id.clone()));
    Ok((ig.keep(rows), last))
}

/// Whether a later code of this HOTP secret than `counter` has been handed out to anyone, by
/// the ledger's verified rows (the secret's own counter column is not trusted for this).
pub async fn later_hotp_code(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    secret_id: &str,
    counter: i64,
) -> Result<bool, DbErr> {
    let rows = exposure::Entity::find()
        .filter(exposure::Column::SecretId.eq(secret_id))
        .filter(exposure::Column::Counter.gt(counter))
        .order_by_asc(exposure::Column::Counter)
        .limit(50)
        .all(db)
        .await?;
    Ok(!ig.keep(rows).is_empty())
}

/// The lowest audit sequence among the ledger's verified rows, if any.
pub async fn first_seq(db: &impl ConnectionTrait, ig: &Integrity) -> Result<Option<i64>, DbErr> {
    let mut after: Option<Cursor> = None;
    loop {
        let rows = after_cursor(after.as_ref()).limit(500).all(db).await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        after = Some((last.seq, last.id.clone()));
        if let Some(row) = ig.keep(rows).into_iter().next() {
            return Ok(Some(row.seq));
        }
    }
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

/// Deletes rows recorded before `before` whose secret has been replaced: a later version of
/// that kind (or a later backup-code generation) exists for the account. A current one's rows
/// are kept however old, and the `superseded_at` column alone (which a database writer could
/// set) removes nothing. Returns how many went.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut latest: HashMap<(String, String), i32> = HashMap::new();
    let mut gone = Vec::new();
    let old = exposure::Entity::find()
        .filter(exposure::Column::At.lt(before))
        .order_by_asc(exposure::Column::Seq)
        .limit(5000)
        .all(db)
        .await?;
    for row in old {
        let key = (row.account_id.clone(), row.secret_kind.clone());
        let newest = match latest.get(&key) {
            Some(v) => *v,
            None => {
                let v = if row.secret_kind == BACKUP {
                    generation::Entity::find()
                        .filter(generation::Column::AccountId.eq(row.account_id.as_str()))
                        .order_by_desc(generation::Column::Generation)
                        .one(db)
                        .await?
                        .map_or(0, |g| g.generation)
                } else {
                    secret::Entity::find()
                        .filter(secret::Column::AccountId.eq(row.account_id.as_str()))
                        .filter(secret::Column::Kind.eq(row.secret_kind.as_str()))
                        .order_by_desc(secret::Column::Version)
                        .one(db)
                        .await?
                        .map_or(0, |s| s.version)
                };
                latest.insert(key, v);
                v
            }
        };
        if newest > row.version {
            gone.push(row.id);
        }
    }
    if gone.is_empty() {
        return Ok(0);
    }
    Ok(exposure::Entity::delete_many()
        .filter(exposure::Column::Id.is_in(gone))
        .exec(db)
        .await?
        .rows_affected)
}
