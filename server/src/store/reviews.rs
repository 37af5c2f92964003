//! Member reviews: a departure the IdP implied (the member's groups give no role any more)
//! or a long absence, waiting for a security admin to offboard or keep the member. Rows are
//! MAC'ed (see [`super::integrity`]).

use super::entities::member_review;
use super::integrity::write_if;
use super::{new_id, now, Integrity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

pub use member_review::Model as ReviewRow;

pub const OPEN: &str = "open";
pub const KEPT: &str = "kept";
pub const OFFBOARDED: &str = "offboarded";

/// The member's open review, if any.
pub async fn open_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Option<ReviewRow>, DbErr> {
    Ok(ig
        .keep(
            member_review::Entity::find()
                .filter(member_review::Column::MemberId.eq(member_id))
                .filter(member_review::Column::State.eq(OPEN))
                .all(db)
                .await?,
        )
        .into_iter()
        .next())
}

/// The member's most recent review, open or closed.
pub async fn latest_of(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Option<ReviewRow>, DbErr> {
    Ok(ig
        .keep(
            member_review::Entity::find()
                .filter(member_review::Column::MemberId.eq(member_id))
                .order_by_desc(member_review::Column::OpenedAt)
                .limit(1)
                .all(db)
                .await?,
        )
        .into_iter()
        .next())
}

/// Opens a review of the member for `reason` unless one is open; returns it when new.
pub async fn open(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
    reason: &str,
) -> Result<Option<ReviewRow>, DbErr> {
    if open_of(db, ig, member_id).await?.is_some() {
        return Ok(None);
    }
    let row = ig.signed(ReviewRow {
        id: new_id(),
        member_id: member_id.to_owned(),
        reason: reason.to_owned(),
        state: OPEN.to_owned(),
        opened_at: now(),
        closed_by: None,
        closed_at: None,
        mac: None,
    })?;
    Ok(Some(
        member_review::ActiveModel::from(row).insert(db).await?,
    ))
}

/// Every open review, oldest first, at most `limit`.
pub async fn all_open(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    limit: u64,
) -> Result<Vec<ReviewRow>, DbErr> {
    Ok(ig.keep(
        member_review::Entity::find()
            .filter(member_review::Column::State.eq(OPEN))
            .order_by_asc(member_review::Column::OpenedAt)
            .limit(limit)
            .all(db)
            .await?,
    ))
}

/// Closes an open review as `state` (`kept` or `offboarded`); false when it was not open.
pub async fn close(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    review: &ReviewRow,
    state: &str,
    by: &str,
) -> Result<bool, DbErr> {
    let mut row = review.clone();
    row.state = state.to_owned();
    row.closed_by = Some(by.to_owned());
    row.closed_at = Some(now());
    let still_open = Condition::all()
        .add(member_review::Column::Id.eq(&review.id))
        .add(member_review::Column::State.eq(OPEN));
    write_if::<member_review::Entity>(db, ig, row, still_open).await
}
