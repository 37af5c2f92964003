//! Device sign-in grants (RFC 8628). Rows are MAC'ed (see [`super::integrity`]): a grant
//! planted or approved in the database gives no command line a session.

use super::entities::device_grant;
use super::integrity::{unchanged, write_if};
use super::{now, Integrity};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use device_grant::Model as DeviceRow;

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";
pub const USED: &str = "used";

pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: DeviceRow,
) -> Result<DeviceRow, DbErr> {
    let row = ig.signed(row)?;
    device_grant::ActiveModel::from(row).insert(db).await
}

/// The grant a client polls with, if its row verifies.
pub async fn by_device_code(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    code_hash: &str,
) -> Result<Option<DeviceRow>, DbErr> {
    Ok(ig.check_opt(
        device_grant::Entity::find()
            .filter(device_grant::Column::DeviceCodeHash.eq(code_hash))
            .one(db)
            .await?,
    ))
}

/// The pending, unexpired grant with this user code, if its row verifies.
pub async fn pending_by_user_code(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    user_code: &str,
) -> Result<Option<DeviceRow>, DbErr> {
    Ok(ig
        .keep(
            device_grant::Entity::find()
                .filter(device_grant::Column::UserCode.eq(user_code))
                .filter(device_grant::Column::State.eq(PENDING))
                .filter(device_grant::Column::ExpiresAt.gt(now()))
                .all(db)
                .await?,
        )
        .into_iter()
        .next())
}

/// Records a poll (and a slower interval), outside the MAC: it decides nothing.
pub async fn polled(
    db: &impl ConnectionTrait,
    id: &str,
    interval_seconds: i32,
) -> Result<(), DbErr> {
    device_grant::Entity::update_many()
        .col_expr(device_grant::Column::LastPollAt, Expr::value(now()))
        .col_expr(
            device_grant::Column::IntervalSeconds,
            Expr::value(interval_seconds),
        )
        .filter(device_grant::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Writes the grant's new state, signed, if the row is still the one `before` read.
pub async fn change(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    before: &DeviceRow,
    after: DeviceRow,
) -> Result<bool, DbErr> {
    let same = unchanged(
        (device_grant::Column::Id, before.id.as_str()),
        (device_grant::Column::State, before.state.as_str()),
        (device_grant::Column::Mac, before.mac.as_deref()),
    );
    write_if::<device_grant::Entity>(db, ig, after, same).await
}

/// Deletes grants that expired over a day ago (a late poll until then still hears
/// `expired_token`); how many.
pub async fn purge_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let before = now() - chrono::Duration::days(1);
    Ok(device_grant::Entity::delete_many()
        .filter(device_grant::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
