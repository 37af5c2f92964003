//! Versioned secrets: insert a new version (superseding the old), read the current one,
//! advance an HOTP counter atomically.

use super::entities::secret;
use super::values::now;
use crate::crypto::Sealed;
use sea_orm::sea_query::Expr;
use sea_orm::QueryTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub use secret::Model as SecretRow;

/// The current (not superseded) version of a kind of secret for an account.
pub async fn current(
    db: &impl ConnectionTrait,
    account_id: &str,
    kind: &str,
) -> Result<Option<SecretRow>, DbErr> {
    let stmt = CURRENT.bind(
        db.get_database_backend(),
        |b| current_query("", "").build(b),
        vec![account_id.into(), kind.into(), 1u64.into()],
    );
    super::prepared::one::<sea_orm::SelectModel<SecretRow>>(db, stmt).await
}

static CURRENT: super::prepared::Prepared = super::prepared::Prepared::new();

fn current_query(account_id: &str, kind: &str) -> sea_orm::Select<secret::Entity> {
    secret::Entity::find()
        .filter(secret::Column::AccountId.eq(account_id))
        .filter(secret::Column::Kind.eq(kind))
        .filter(secret::Column::SupersededAt.is_null())
        .order_by_desc(secret::Column::Version)
        .limit(1)
}

/// A secret version by id.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<SecretRow>, DbErr> {
    secret::Entity::find_by_id(id).one(db).await
}

/// Every version (current or not) of every kind for these accounts.
pub async fn all_of(
    db: &impl ConnectionTrait,
    account_ids: &[String],
) -> Result<Vec<SecretRow>, DbErr> {
    secret::Entity::find()
        .filter(secret::Column::AccountId.is_in(account_ids.iter().cloned()))
        .all(db)
        .await
}

/// Every version (current or not) of one kind of an account's secret.
pub async fn versions_of(
    db: &impl ConnectionTrait,
    account_id: &str,
    kind: &str,
) -> Result<Vec<SecretRow>, DbErr> {
    secret::Entity::find()
        .filter(secret::Column::AccountId.eq(account_id))
        .filter(secret::Column::Kind.eq(kind))
        .order_by_desc(secret::Column::Version)
        .all(db)
        .await
}

/// The highest version of one kind of an account's secret (the one in use, whatever its
/// `superseded_at` says).
pub async fn latest_version(
    db: &impl ConnectionTrait,
    account_id: &str,
    kind: &str,
) -> Result<Option<i32>, DbErr> {
    Ok(secret::Entity::find()
        .filter(secret::Column::AccountId.eq(account_id))
        .filter(secret::Column::Kind.eq(kind))
        .order_by_desc(secret::Column::Version)
        .one(db)
        .await?
        .map(|s| s.version))
}

/// The current versions of every kind for these accounts.
pub async fn current_of(
    db: &impl ConnectionTrait,
    account_ids: &[String],
) -> Result<Vec<SecretRow>, DbErr> {
    secret::Entity::find()
        .filter(secret::Column::AccountId.is_in(account_ids.iter().cloned()))
        .filter(secret::Column::SupersededAt.is_null())
        .all(db)
        .await
}

/// The number the next version of this kind will get.
pub async fn next_version(
    db: &impl ConnectionTrait,
    account_id: &str,
    kind: &str,
) -> Result<i32, DbErr> {
    let latest = secret::Entity::find()
        .filter(secret::Column::AccountId.eq(account_id))
        .filter(secret::Column::Kind.eq(kind))
        .order_by_desc(secret::Column::Version)
        .one(db)
        .await?;
    Ok(latest.map(|s| s.version + 1).unwrap_or(1))
}

/// What a new version is made of; `id` is chosen before sealing because the AAD names it.
pub struct NewSecret<'a> {
    pub id: String,
    pub account_id: &'a str,
    pub kind: &'a str,
    pub version: i32,
    pub params: String,
    pub hotp_counter: Option<i64>,
    pub sealed: Sealed,
    pub created_by: &'a str,
    /// The value's keyed fingerprint.
    pub fingerprint: String,
}

/// Supersedes the current version of the kind and inserts the new one.
pub async fn insert_version(
    db: &impl ConnectionTrait,
    new: NewSecret<'_>,
) -> Result<SecretRow, DbErr> {
    let at = now();
    secret::Entity::update_many()
        .col_expr(secret::Column::SupersededAt, Expr::value(at))
        .filter(secret::Column::AccountId.eq(new.account_id))
        .filter(secret::Column::Kind.eq(new.kind))
        .filter(secret::Column::SupersededAt.is_null())
        .exec(db)
        .await?;
    secret::ActiveModel {
        id: Set(new.id),
        account_id: Set(new.account_id.to_owned()),
        kind: Set(new.kind.to_owned()),
        version: Set(new.version),
        params: Set(new.params),
        hotp_counter: Set(new.hotp_counter),
        ciphertext: Set(new.sealed.ciphertext),
        wrapped_dek: Set(new.sealed.wrapped_dek),
        kek_id: Set(new.sealed.kek_id),
        created_by: Set(new.created_by.to_owned()),
        created_at: Set(at),
        superseded_at: Set(None),
        fingerprint: Set(Some(new.fingerprint)),
    }
    .insert(db)
    .await
}

/// Advances an HOTP counter by one and returns the value to use (the one before the
/// increment); `None` when it cannot advance (never past `i64::MAX`, where PostgreSQL's
/// bigint would overflow). The UPDATE takes the row lock first, so concurrent callers
/// serialise.
pub async fn take_hotp_counter(
    db: &impl ConnectionTrait,
    secret_id: &str,
) -> Result<Option<i64>, DbErr> {
    let updated = secret::Entity::update_many()
        .col_expr(
            secret::Column::HotpCounter,
            Expr::col(secret::Column::HotpCounter).add(1),
        )
        .filter(secret::Column::Id.eq(secret_id))
        .filter(secret::Column::HotpCounter.is_not_null())
        .filter(secret::Column::HotpCounter.lt(i64::MAX))
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Ok(None);
    }
    let row = secret::Entity::find_by_id(secret_id).one(db).await?;
    Ok(row.and_then(|r| r.hotp_counter).map(|c| c - 1))
}

impl SecretRow {
    pub fn sealed(&self) -> Sealed {
        Sealed {
            ciphertext: self.ciphertext.clone(),
            wrapped_dek: self.wrapped_dek.clone(),
            kek_id: self.kek_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prepared::check::same;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        same(
            |b, other| {
                let (a, k) = if other { ("x", "hotp") } else { ("a", "totp") };
                current_query(a, k).build(b)
            },
            || vec!["a".into(), "totp".into(), 1u64.into()],
        );
    }
}
