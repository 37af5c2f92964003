//! Escrows, their custodians, and the DEKs sealed to them.

use super::entities::{escrow, escrow_custodian as custodian, escrow_seal as seal};
use super::integrity::{write, write_if};
use super::values::now;
use super::Integrity;
use sea_orm::sea_query::Expr;
use sea_orm::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

pub use custodian::Model as CustodianRow;
pub use escrow::Model as EscrowRow;
pub use seal::Model as SealRow;

/// An escrow's life: `pending` until every custodian confirmed their share, `active` (DEKs
/// are sealed to it, releases are accepted), `spent` once a release opened it, `retired` by
/// a security admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscrowState {
    Pending,
    Active,
    Spent,
    Retired,
}

impl EscrowState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Spent => "spent",
            Self::Retired => "retired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Active, Self::Spent, Self::Retired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// A release's life: collecting shares, waiting out its period, released (readable until
/// `expires_at`), or ended: vetoed, expired, cancelled (its escrow retired, or its requester
/// departed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseState {
    Collecting,
    Waiting,
    Released,
    Vetoed,
    Expired,
    Cancelled,
}

impl ReleaseState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Collecting => "collecting",
            Self::Waiting => "waiting",
            Self::Released => "released",
            Self::Vetoed => "vetoed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// Not ended yet.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Collecting | Self::Waiting | Self::Released)
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Collecting,
            Self::Waiting,
            Self::Released,
            Self::Vetoed,
            Self::Expired,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

pub const PENDING: &str = EscrowState::Pending.as_str();
pub const ACTIVE: &str = EscrowState::Active.as_str();
pub const RETIRED: &str = EscrowState::Retired.as_str();

pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: EscrowRow,
) -> Result<EscrowRow, DbErr> {
    escrow::ActiveModel::from(ig.signed(row)?).insert(db).await
}

pub async fn insert_custodian(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: CustodianRow,
) -> Result<CustodianRow, DbErr> {
    custodian::ActiveModel::from(ig.signed(row)?)
        .insert(db)
        .await
}

/// Seals a DEK to an escrow (once per escrow and owner).
pub async fn insert_seal(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    escrow_id: &str,
    owner_id: &str,
    owner_kind: &str,
    account_id: &str,
    sealed: Vec<u8>,
) -> Result<(), DbErr> {
    let row = ig.signed(SealRow {
        escrow_id: escrow_id.to_owned(),
        owner_id: owner_id.to_owned(),
        owner_kind: owner_kind.to_owned(),
        account_id: account_id.to_owned(),
        sealed,
        created_at: now(),
        mac: None,
    })?;
    seal::ActiveModel::from(row).insert(db).await.map(|_| ())
}

pub async fn list(db: &impl ConnectionTrait, ig: &Integrity) -> Result<Vec<EscrowRow>, DbErr> {
    Ok(ig.keep(
        escrow::Entity::find()
            .order_by_asc(escrow::Column::CreatedAt)
            .all(db)
            .await?,
    ))
}

pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<EscrowRow>, DbErr> {
    Ok(ig.check_opt(escrow::Entity::find_by_id(id).one(db).await?))
}

/// The active escrows whose rows verify (their scope is matched by the caller): a planted
/// escrow has nothing sealed to it.
pub async fn active(db: &impl ConnectionTrait, ig: &Integrity) -> Result<Vec<EscrowRow>, DbErr> {
    Ok(ig.keep(
        escrow::Entity::find()
            .filter(escrow::Column::State.eq(ACTIVE))
            .all(db)
            .await?,
    ))
}

pub async fn custodians(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    escrow_id: &str,
) -> Result<Vec<CustodianRow>, DbErr> {
    Ok(ig.keep(
        custodian::Entity::find()
            .filter(custodian::Column::EscrowId.eq(escrow_id))
            .order_by_asc(custodian::Column::ShareIndex)
            .all(db)
            .await?,
    ))
}

/// Takes a share waiting for pickup: returns it and forgets it, so it is handed out once.
pub async fn take_pending_share(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: &CustodianRow,
) -> Result<Option<Vec<u8>>, DbErr> {
    let Some(pending) = row
        .pending_share
        .clone()
        .filter(|_| row.picked_up_at.is_none())
    else {
        return Ok(None);
    };
    let mut taken = row.clone();
    taken.pending_share = None;
    taken.picked_up_at = Some(now());
    let condition = Condition::all()
        .add(custodian::Column::Id.eq(row.id.as_str()))
        .add(custodian::Column::PendingShare.is_not_null())
        .add(custodian::Column::PickedUpAt.is_null());
    let took = write_if::<custodian::Entity>(db, ig, taken, condition).await?;
    Ok(took.then_some(pending))
}

/// Every DEK sealed to an escrow (rows that verify).
pub async fn seals(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    escrow_id: &str,
) -> Result<Vec<SealRow>, DbErr> {
    Ok(ig.keep(
        seal::Entity::find()
            .filter(seal::Column::EscrowId.eq(escrow_id))
            .all(db)
            .await?,
    ))
}

pub use super::entities::release_request::Model as ReleaseRow;
pub use super::entities::release_share::Model as ReleaseShareRow;
use super::entities::{release_request as release, release_share};

pub const COLLECTING: &str = ReleaseState::Collecting.as_str();
pub const WAITING: &str = ReleaseState::Waiting.as_str();
pub const RELEASED: &str = ReleaseState::Released.as_str();
pub const VETOED: &str = ReleaseState::Vetoed.as_str();
pub const EXPIRED: &str = ReleaseState::Expired.as_str();
pub const CANCELLED: &str = ReleaseState::Cancelled.as_str();
pub const SPENT: &str = EscrowState::Spent.as_str();

pub async fn insert_release(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: ReleaseRow,
) -> Result<ReleaseRow, DbErr> {
    release::ActiveModel::from(ig.signed(row)?).insert(db).await
}

pub async fn find_release(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<ReleaseRow>, DbErr> {
    Ok(ig.check_opt(release::Entity::find_by_id(id).one(db).await?))
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
    ig: &Integrity,
    row: ReleaseRow,
) -> Result<ReleaseRow, DbErr> {
    write::<release::Entity>(db, ig, row).await
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
pub async fn spend(db: &impl ConnectionTrait, ig: &Integrity, id: &str) -> Result<bool, DbErr> {
    let Some(mut row) = find(db, ig, id).await? else {
        return Ok(false);
    };
    if row.state != ACTIVE {
        return Ok(false);
    }
    row.state = SPENT.to_owned();
    row.spent_at = Some(now());
    let condition = Condition::all()
        .add(escrow::Column::Id.eq(id))
        .add(escrow::Column::State.eq(ACTIVE));
    write_if::<escrow::Entity>(db, ig, row, condition).await
}

/// The sealed DEKs of an escrow for some owners (rows that verify).
pub async fn seals_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    escrow_id: &str,
    owner_ids: &[String],
) -> Result<Vec<SealRow>, DbErr> {
    Ok(ig.keep(
        seal::Entity::find()
            .filter(seal::Column::EscrowId.eq(escrow_id))
            .filter(seal::Column::OwnerId.is_in(owner_ids.iter().cloned()))
            .all(db)
            .await?,
    ))
}

/// The releases of an escrow, newest first.
pub async fn releases_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    escrow_id: &str,
) -> Result<Vec<ReleaseRow>, DbErr> {
    Ok(ig.keep(
        release::Entity::find()
            .filter(release::Column::EscrowId.eq(escrow_id))
            .order_by_desc(release::Column::CreatedAt)
            .all(db)
            .await?,
    ))
}

/// Releases not ended yet (collecting, waiting or released).
pub async fn live_releases(
    db: &impl ConnectionTrait,
    ig: &Integrity,
) -> Result<Vec<ReleaseRow>, DbErr> {
    Ok(ig.keep(
        release::Entity::find()
            .filter(release::Column::State.is_in([COLLECTING, WAITING, RELEASED]))
            .all(db)
            .await?,
    ))
}

/// How a custodian gets their share: encrypted to the `age` key they enrolled, or picked up
/// plain after their own fresh sign-in.
pub const DELIVERY_AGE: &str = "age";
pub const DELIVERY_PICKUP: &str = "pickup";

/// Marks a custodian's share confirmed (once: false if it was already).
pub async fn confirm(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: &CustodianRow,
) -> Result<bool, DbErr> {
    let mut confirmed = row.clone();
    confirmed.confirmed_at = Some(now());
    let condition = Condition::all()
        .add(custodian::Column::Id.eq(row.id.as_str()))
        .add(custodian::Column::ConfirmedAt.is_null());
    write_if::<custodian::Entity>(db, ig, confirmed, condition).await
}

/// Moves an escrow from one state to another (once: false if it was no longer in `from`).
pub async fn transition(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: &EscrowRow,
    from: &[EscrowState],
    to: EscrowState,
) -> Result<bool, DbErr> {
    let mut changed = row.clone();
    changed.state = to.as_str().to_owned();
    if to == EscrowState::Spent {
        changed.spent_at = Some(now());
    }
    let condition = Condition::all()
        .add(escrow::Column::Id.eq(row.id.as_str()))
        .add(escrow::Column::State.is_in(from.iter().map(|s| s.as_str())));
    write_if::<escrow::Entity>(db, ig, changed, condition).await
}

/// Marks an escrow as needing a new ceremony (a custodian departed).
pub async fn needs_ceremony(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: &EscrowRow,
) -> Result<(), DbErr> {
    let mut changed = row.clone();
    changed.needs_ceremony = true;
    write::<escrow::Entity>(db, ig, changed).await.map(|_| ())
}

/// Deletes every DEK sealed to an escrow (it was retired); returns how many.
pub async fn delete_seals(db: &impl ConnectionTrait, escrow_id: &str) -> Result<u64, DbErr> {
    Ok(seal::Entity::delete_many()
        .filter(seal::Column::EscrowId.eq(escrow_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// The custodian rows of a member, on every escrow (that verify).
pub async fn custodian_rows_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Vec<CustodianRow>, DbErr> {
    Ok(ig.keep(
        custodian::Entity::find()
            .filter(custodian::Column::MemberId.eq(member_id))
            .all(db)
            .await?,
    ))
}

/// Custodian rows naming an email alone (escrows made before custodians were members).
pub async fn legacy_custodian_rows_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    email: &str,
) -> Result<Vec<CustodianRow>, DbErr> {
    Ok(ig.keep(
        custodian::Entity::find()
            .filter(custodian::Column::MemberId.is_null())
            .filter(custodian::Column::Email.eq(email))
            .all(db)
            .await?,
    ))
}

/// Live releases asked for by `requester` (an actor subject).
pub async fn live_releases_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    requester: &str,
) -> Result<Vec<ReleaseRow>, DbErr> {
    Ok(ig.keep(
        release::Entity::find()
            .filter(release::Column::Requester.eq(requester))
            .filter(release::Column::State.is_in([COLLECTING, WAITING, RELEASED]))
            .all(db)
            .await?,
    ))
}

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
