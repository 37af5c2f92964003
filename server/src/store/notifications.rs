//! The notification outbox (see the `notification` table): escalations waiting for their
//! webhooks, leased by one process at a time while it delivers them.

use super::entities::notification;
use super::{new_id, now, Integrity};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use notification::Model as NotificationRow;

/// Queues `body` for `hook`, leased to `owner` until `lease_until`, so the process that
/// wrote it tries first and another takes over only if it dies.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    task_id: &str,
    hook: &str,
    body: &str,
    owner: &str,
    lease_until: DateTime<Utc>,
) -> Result<(), DbErr> {
    let at = now();
    let row = ig.signed(NotificationRow {
        id: new_id(),
        task_id: task_id.to_owned(),
        hook: hook.to_owned(),
        body: body.to_owned(),
        attempts: 0,
        next_attempt_at: at,
        lease_owner: Some(owner.to_owned()),
        lease_until: Some(lease_until),
        delivered_at: None,
        given_up_at: None,
        created_at: at,
        mac: None,
    })?;
    notification::ActiveModel::from(row)
        .insert(db)
        .await
        .map(|_| ())
}

/// Waiting and due, for one of `hooks`, and free to take: unleased, its lease ended, or
/// leased by `owner` itself.
fn takeable(owner: &str, hooks: &[String]) -> Condition {
    let at = now();
    Condition::all()
        .add(notification::Column::DeliveredAt.is_null())
        .add(notification::Column::GivenUpAt.is_null())
        .add(notification::Column::NextAttemptAt.lte(at))
        .add(notification::Column::Hook.is_in(hooks.iter().cloned()))
        .add(
            Condition::any()
                .add(notification::Column::LeaseUntil.is_null())
                .add(notification::Column::LeaseUntil.lt(at))
                .add(notification::Column::LeaseOwner.eq(owner)),
        )
}

/// Up to `limit` notifications `owner` may deliver now, oldest first.
///
/// A notification whose row does not verify (planted, or its body changed) is never signed
/// and sent: it is reported and given up, so it does not hold a place in the queue.
pub async fn due(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    owner: &str,
    hooks: &[String],
    limit: u64,
) -> Result<Vec<NotificationRow>, DbErr> {
    let rows = notification::Entity::find()
        .filter(takeable(owner, hooks))
        .order_by_asc(notification::Column::CreatedAt)
        .order_by_asc(notification::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let id = row.id.clone();
        match ig.check(row) {
            Some(row) => out.push(row),
            None => {
                notification::Entity::update_many()
                    .col_expr(notification::Column::GivenUpAt, Expr::value(now()))
                    .filter(notification::Column::Id.eq(id))
                    .exec(db)
                    .await?;
            }
        }
    }
    Ok(out)
}

/// Leases one notification to `owner` until `until`, if it is still free to take.
pub async fn lease(
    db: &impl ConnectionTrait,
    id: &str,
    owner: &str,
    hooks: &[String],
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = notification::Entity::update_many()
        .col_expr(notification::Column::LeaseOwner, Expr::value(owner))
        .col_expr(notification::Column::LeaseUntil, Expr::value(until))
        .filter(notification::Column::Id.eq(id))
        .filter(takeable(owner, hooks))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Not delivered yet, and leased by `owner`: what only the lease holder may settle.
fn held_by(id: &str, owner: &str) -> Condition {
    Condition::all()
        .add(notification::Column::Id.eq(id))
        .add(notification::Column::LeaseOwner.eq(owner))
        .add(notification::Column::DeliveredAt.is_null())
}

/// Marks a notification `owner` leased as delivered.
pub async fn delivered(db: &impl ConnectionTrait, id: &str, owner: &str) -> Result<bool, DbErr> {
    let result = notification::Entity::update_many()
        .col_expr(notification::Column::DeliveredAt, Expr::value(now()))
        .col_expr(
            notification::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(held_by(id, owner))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Counts a failed try of a notification `owner` leased, and frees it: tried again at
/// `retry_at`, or given up when that is `None`.
pub async fn failed(
    db: &impl ConnectionTrait,
    id: &str,
    owner: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let mut update = notification::Entity::update_many()
        .col_expr(
            notification::Column::Attempts,
            Expr::col(notification::Column::Attempts).add(1),
        )
        .col_expr(
            notification::Column::LeaseUntil,
            Expr::value(None::<DateTime<Utc>>),
        );
    update = match retry_at {
        Some(at) => update.col_expr(notification::Column::NextAttemptAt, Expr::value(at)),
        None => update.col_expr(notification::Column::GivenUpAt, Expr::value(now())),
    };
    update.filter(held_by(id, owner)).exec(db).await.map(|_| ())
}

/// The notifications of one task, oldest first (for tests and support).
pub async fn of_task(
    db: &impl ConnectionTrait,
    task_id: &str,
) -> Result<Vec<NotificationRow>, DbErr> {
    notification::Entity::find()
        .filter(notification::Column::TaskId.eq(task_id))
        .order_by_asc(notification::Column::CreatedAt)
        .all(db)
        .await
}

/// Notifications still waiting for delivery, and those given up (for metrics).
pub async fn totals(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let waiting = notification::Entity::find()
        .filter(notification::Column::DeliveredAt.is_null())
        .filter(notification::Column::GivenUpAt.is_null())
        .count(db)
        .await?;
    let given_up = notification::Entity::find()
        .filter(notification::Column::GivenUpAt.is_not_null())
        .count(db)
        .await?;
    Ok((waiting, given_up))
}
