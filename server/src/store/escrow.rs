//! Escrows, their custodians, and the DEKs sealed to them.

use super::entities::{escrow, escrow_custodian as custodian, escrow_seal as seal};
use super::now;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

pub use custodian::Model as CustodianRow;
pub use escrow::Model as EscrowRow;
pub use seal::Model as SealRow;

pub const ACTIVE: &str = "active";

pub async fn insert(db: &impl ConnectionTrait, row: EscrowRow) -> Result<EscrowRow, DbErr> {
    escrow::ActiveModel::from(row).insert(db).await
}

pub async fn insert_custodian(
    db: &impl ConnectionTrait,
    row: CustodianRow,
) -> Result<CustodianRow, DbErr> {
    custodian::ActiveModel::from(row).insert(db).await
}

/// Seals a DEK to an escrow (once per escrow and owner).
pub async fn insert_seal(
    db: &impl ConnectionTrait,
    escrow_id: &str,
    owner_id: &str,
    owner_kind: &str,
    account_id: &str,
    sealed: Vec<u8>,
) -> Result<(), DbErr> {
    seal::ActiveModel {
        escrow_id: Set(escrow_id.to_owned()),
        owner_id: Set(owner_id.to_owned()),
        owner_kind: Set(owner_kind.to_owned()),
        account_id: Set(account_id.to_owned()),
        sealed: Set(sealed),
        created_at: Set(now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<EscrowRow>, DbErr> {
    escrow::Entity::find()
        .order_by_asc(escrow::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<EscrowRow>, DbErr> {
    escrow::Entity::find_by_id(id).one(db).await
}

/// The active escrows (their scope is matched by the caller).
pub async fn active(db: &impl ConnectionTrait) -> Result<Vec<EscrowRow>, DbErr> {
    escrow::Entity::find()
        .filter(escrow::Column::State.eq(ACTIVE))
        .all(db)
        .await
}

pub async fn custodians(
    db: &impl ConnectionTrait,
    escrow_id: &str,
) -> Result<Vec<CustodianRow>, DbErr> {
    custodian::Entity::find()
        .filter(custodian::Column::EscrowId.eq(escrow_id))
        .order_by_asc(custodian::Column::ShareIndex)
        .all(db)
        .await
}

/// Takes a share waiting for pickup: returns it and forgets it, so it is handed out once.
pub async fn take_pending_share(
    db: &impl ConnectionTrait,
    row: &CustodianRow,
) -> Result<Option<Vec<u8>>, DbErr> {
    let Some(pending) = row.pending_share.clone() else {
        return Ok(None);
    };
    let result = custodian::Entity::update_many()
        .col_expr(
            custodian::Column::PendingShare,
            Expr::value(Option::<Vec<u8>>::None),
        )
        .col_expr(custodian::Column::PickedUpAt, Expr::value(now()))
        .filter(custodian::Column::Id.eq(row.id.as_str()))
        .filter(custodian::Column::PendingShare.is_not_null())
        .exec(db)
        .await?;
    Ok((result.rows_affected == 1).then_some(pending))
}

/// Every DEK sealed to an escrow.
pub async fn seals(db: &impl ConnectionTrait, escrow_id: &str) -> Result<Vec<SealRow>, DbErr> {
    seal::Entity::find()
        .filter(seal::Column::EscrowId.eq(escrow_id))
        .all(db)
        .await
}
