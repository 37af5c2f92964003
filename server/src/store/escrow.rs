//! Escrows, their custodians, and the DEKs sealed to them.

use super::entities::{escrow, escrow_custodian as custodian, escrow_seal as seal};
use super::values::now;
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

pub use super::entities::release_request::Model as ReleaseRow;
pub use super::entities::release_share::Model as ReleaseShareRow;
use super::entities::{release_request as release, release_share};

pub const COLLECTING: &str = "collecting";
pub const WAITING: &str = "waiting";
pub const RELEASED: &str = "released";
pub const VETOED: &str = "vetoed";
pub const EXPIRED: &str = "expired";
pub const SPENT: &str = "spent";

pub async fn insert_release(
    db: &impl ConnectionTrait,
    row: ReleaseRow,
) -> Result<ReleaseRow, DbErr> {
    release::ActiveModel::from(row).insert(db).await
}

pub async fn find_release(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<ReleaseRow>, DbErr> {
    release::Entity::find_by_id(id).one(db).await
}

/// Takes the release's row lock for the rest of the transaction (a no-op update), so
/// submissions to one release queue and the threshold is crossed once.
pub async fn lock_release(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    release::Entity::update_many()
        .col_expr(
            release::Column::State,
            Expr::col(release::Column::State).into(),
        )
        .filter(release::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn update_release(
    db: &impl ConnectionTrait,
    row: ReleaseRow,
) -> Result<ReleaseRow, DbErr> {
    let active: release::ActiveModel = row.into();
    active.reset_all().update(db).await
}

pub async fn shares_of(
    db: &impl ConnectionTrait,
    release_id: &str,
) -> Result<Vec<ReleaseShareRow>, DbErr> {
    release_share::Entity::find()
        .filter(release_share::Column::ReleaseId.eq(release_id))
        .order_by_asc(release_share::Column::ShareIndex)
        .all(db)
        .await
}

pub async fn insert_release_share(
    db: &impl ConnectionTrait,
    release_id: &str,
    index: i32,
    sealed: Vec<u8>,
) -> Result<(), DbErr> {
    release_share::ActiveModel {
        release_id: Set(release_id.to_owned()),
        share_index: Set(index),
        sealed: Set(sealed),
        created_at: Set(now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Forgets a release's submitted shares (once it opened, or ended).
pub async fn delete_release_shares(
    db: &impl ConnectionTrait,
    release_id: &str,
) -> Result<(), DbErr> {
    release_share::Entity::delete_many()
        .filter(release_share::Column::ReleaseId.eq(release_id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Marks an escrow spent (once: false if it was not active).
pub async fn spend(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = escrow::Entity::update_many()
        .col_expr(escrow::Column::State, Expr::value(SPENT))
        .col_expr(escrow::Column::SpentAt, Expr::value(now()))
        .filter(escrow::Column::Id.eq(id))
        .filter(escrow::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The sealed DEKs of an escrow for some owners.
pub async fn seals_of(
    db: &impl ConnectionTrait,
    escrow_id: &str,
    owner_ids: &[String],
) -> Result<Vec<SealRow>, DbErr> {
    seal::Entity::find()
        .filter(seal::Column::EscrowId.eq(escrow_id))
        .filter(seal::Column::OwnerId.is_in(owner_ids.iter().cloned()))
        .all(db)
        .await
}

/// The releases of an escrow, newest first.
pub async fn releases_of(
    db: &impl ConnectionTrait,
    escrow_id: &str,
) -> Result<Vec<ReleaseRow>, DbErr> {
    release::Entity::find()
        .filter(release::Column::EscrowId.eq(escrow_id))
        .order_by_desc(release::Column::CreatedAt)
        .all(db)
        .await
}

/// Releases not ended yet (collecting, waiting or released).
pub async fn live_releases(db: &impl ConnectionTrait) -> Result<Vec<ReleaseRow>, DbErr> {
    release::Entity::find()
        .filter(release::Column::State.is_in([COLLECTING, WAITING, RELEASED]))
        .all(db)
        .await
}

/// How a custodian got their share: encrypted to their own `age` key at the ceremony.
pub const DELIVERY_AGE: &str = "age";

impl CustodianRow {
    /// The share went to the custodian's `age` key at the ceremony (nothing to pick up).
    pub fn delivered_by_age(&self) -> bool {
        self.delivery == DELIVERY_AGE
    }
}

impl ReleaseRow {
    /// Still collecting shares or waiting out its period: a veto can stop it.
    pub fn may_be_vetoed(&self) -> bool {
        self.state == COLLECTING || self.state == WAITING
    }
}
