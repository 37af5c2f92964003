//! Service tokens, stored by hash.

use super::entities::service_token;
use super::values::now;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

pub use service_token::Model as TokenRow;

pub async fn insert(
    db: &impl ConnectionTrait,
    id: &str,
    name: &str,
    token_hash: &str,
    bindings_json: &str,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    member_id: Option<&str>,
) -> Result<TokenRow, DbErr> {
    service_token::ActiveModel {
        id: Set(id.to_owned()),
        name: Set(name.to_owned()),
        token_hash: Set(token_hash.to_owned()),
        bindings: Set(bindings_json.to_owned()),
        created_at: Set(now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        member_id: Set(member_id.map(str::to_owned)),
    }
    .insert(db)
    .await
}

pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<TokenRow>, DbErr> {
    service_token::Entity::find()
        .filter(service_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<TokenRow>, DbErr> {
    service_token::Entity::find()
        .order_by_asc(service_token::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<TokenRow>, DbErr> {
    service_token::Entity::find_by_id(id).one(db).await
}

pub async fn revoke(db: &impl ConnectionTrait, row: TokenRow) -> Result<TokenRow, DbErr> {
    let mut active: service_token::ActiveModel = row.into();
    active.revoked_at = Set(Some(now()));
    active.update(db).await
}

/// Every token bound to a member, revoked or not (their use is the member's).
pub async fn of_member(db: &impl ConnectionTrait, member_id: &str) -> Result<Vec<TokenRow>, DbErr> {
    service_token::Entity::find()
        .filter(service_token::Column::MemberId.eq(member_id))
        .order_by_asc(service_token::Column::CreatedAt)
        .all(db)
        .await
}

/// Revokes every usable token bound to a member; returns how many.
pub async fn revoke_for_member(db: &impl ConnectionTrait, member_id: &str) -> Result<u64, DbErr> {
    let result = service_token::Entity::update_many()
        .col_expr(service_token::Column::RevokedAt, Expr::value(now()))
        .filter(service_token::Column::MemberId.eq(member_id))
        .filter(service_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Takes the token's row lock for the rest of the transaction if it is not revoked (a no-op
/// update); false once it was revoked, e.g. by its member's departure.
pub async fn lock_usable(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = service_token::Entity::update_many()
        .col_expr(
            service_token::Column::RevokedAt,
            Expr::col(service_token::Column::RevokedAt).into(),
        )
        .filter(service_token::Column::Id.eq(id))
        .filter(service_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
