//! Service tokens, stored by hash.

use super::entities::service_token;
use super::values::now;
use super::Integrity;
use sea_orm::sea_query::Expr;
use sea_orm::QueryTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use service_token::Model as TokenRow;

/// Stores a new token row (its MAC set here).
pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: TokenRow,
) -> Result<TokenRow, DbErr> {
    service_token::ActiveModel::from(ig.signed(row)?)
        .insert(db)
        .await
}

/// The verified token stored under one of these hashes (the keyed hash first, then the
/// plain one of tokens made before hashes were keyed).
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    token_hashes: &[String],
) -> Result<Option<TokenRow>, DbErr> {
    for hash in token_hashes {
        let stmt = BY_HASH.bind(
            db.get_database_backend(),
            |b| by_hash("").build(b),
            vec![hash.as_str().into(), 1u64.into()],
        );
        let found = super::prepared::one::<sea_orm::SelectModel<TokenRow>>(db, stmt).await?;
        if found.is_some() {
            return Ok(ig.check_opt(found));
        }
    }
    Ok(None)
}

static BY_HASH: super::prepared::Prepared = super::prepared::Prepared::new();

fn by_hash(hash: &str) -> sea_orm::Select<service_token::Entity> {
    service_token::Entity::find()
        .filter(service_token::Column::TokenHash.eq(hash))
        .limit(1)
}

/// Every token whose row verifies.
pub async fn list(db: &impl ConnectionTrait, ig: &Integrity) -> Result<Vec<TokenRow>, DbErr> {
    Ok(ig.keep(
        service_token::Entity::find()
            .order_by_asc(service_token::Column::CreatedAt)
            .all(db)
            .await?,
    ))
}

pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<TokenRow>, DbErr> {
    Ok(ig.check_opt(service_token::Entity::find_by_id(id).one(db).await?))
}

pub async fn revoke(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    mut row: TokenRow,
) -> Result<TokenRow, DbErr> {
    row.revoked_at = Some(now());
    let row = ig.signed(row)?;
    service_token::ActiveModel::from(row)
        .reset_all()
        .update(db)
        .await
}

/// Every verified token bound to a member, revoked or not (their use is the member's).
pub async fn of_member(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Vec<TokenRow>, DbErr> {
    Ok(ig.keep(
        service_token::Entity::find()
            .filter(service_token::Column::MemberId.eq(member_id))
            .order_by_asc(service_token::Column::CreatedAt)
            .all(db)
            .await?,
    ))
}

/// Revokes every usable token bound to a member; returns how many.
pub async fn revoke_for_member(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<u64, DbErr> {
    // Only rows that verify are revoked: re-signing a planted row would launder it (it is
    // reported instead, and unusable anyway).
    let usable = ig.keep(
        service_token::Entity::find()
            .filter(service_token::Column::MemberId.eq(member_id))
            .filter(service_token::Column::RevokedAt.is_null())
            .all(db)
            .await?,
    );
    let count = usable.len() as u64;
    for row in usable {
        revoke(db, ig, row).await?;
    }
    Ok(count)
}

/// Takes the token's row lock for the rest of the transaction if it is not revoked (a no-op
/// update); false once it was revoked, e.g. by its member's departure.
pub async fn lock_usable(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let stmt = LOCK_USABLE.bind(
        db.get_database_backend(),
        |b| lock_usable_query("").build(b),
        vec![id.into()],
    );
    Ok(db.execute(stmt).await?.rows_affected() == 1)
}

static LOCK_USABLE: super::prepared::Prepared = super::prepared::Prepared::new();

fn lock_usable_query(id: &str) -> sea_orm::UpdateMany<service_token::Entity> {
    service_token::Entity::update_many()
        .col_expr(
            service_token::Column::RevokedAt,
            Expr::col(service_token::Column::RevokedAt).into(),
        )
        .filter(service_token::Column::Id.eq(id))
        .filter(service_token::Column::RevokedAt.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prepared::check::same;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        let pick = |other: bool, a: &'static str| if other { "other" } else { a };
        same(
            |b, o| by_hash(pick(o, "h")).build(b),
            || vec!["h".into(), 1u64.into()],
        );
        same(
            |b, o| lock_usable_query(pick(o, "t")).build(b),
            || vec!["t".into()],
        );
    }
}
