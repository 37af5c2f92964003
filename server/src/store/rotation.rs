//! Rotation tasks: open, complete when a new version is stored, assign, dismiss, list, and
//! claim the overdue ones for their single escalation.

use super::entities::rotation_task;
use super::integrity::write_if;
use super::{new_id, now, Integrity};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;

pub use rotation_task::Model as TaskRow;

pub const OPEN: &str = "open";
pub const DONE: &str = "done";
pub const DISMISSED: &str = "dismissed";

/// A task to open.
pub struct NewTask<'a> {
    pub account_id: &'a str,
    pub kind: &'a str,
    pub reason: &'a str,
    pub secret_id: Option<&'a str>,
    pub generation_id: Option<&'a str>,
    pub member_id: Option<&'a str>,
    pub due_at: DateTime<Utc>,
    pub opened_by: &'a str,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    new: NewTask<'_>,
) -> Result<TaskRow, DbErr> {
    let row = ig.signed(TaskRow {
        id: new_id(),
        account_id: new.account_id.to_owned(),
        secret_kind: new.kind.to_owned(),
        secret_id: new.secret_id.map(str::to_owned),
        generation_id: new.generation_id.map(str::to_owned),
        reason: new.reason.to_owned(),
        due_at: Some(new.due_at),
        assignee: None,
        state: OPEN.to_owned(),
        created_at: now(),
        completed_by: None,
        completed_at: None,
        resulting_version: None,
        member_id: new.member_id.map(str::to_owned),
        opened_by: Some(new.opened_by.to_owned()),
        notified_at: None,
        mac: None,
    })?;
    rotation_task::ActiveModel::from(row).insert(db).await
}

/// The open task of an account for a kind and reason (and member, when given), if any.
pub async fn find_open(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    account_id: &str,
    kind: &str,
    reason: &str,
    member_id: Option<&str>,
) -> Result<Option<TaskRow>, DbErr> {
    let mut query = rotation_task::Entity::find()
        .filter(rotation_task::Column::AccountId.eq(account_id))
        .filter(rotation_task::Column::SecretKind.eq(kind))
        .filter(rotation_task::Column::Reason.eq(reason))
        .filter(rotation_task::Column::State.eq(OPEN));
    if let Some(member_id) = member_id {
        query = query.filter(rotation_task::Column::MemberId.eq(member_id));
    }
    Ok(ig.keep(query.all(db).await?).into_iter().next())
}

/// Closes every open task of the account for `kind`: a new version (or generation) was just
/// stored in the same transaction. Returns the tasks closed, as they were before.
pub async fn complete(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    account_id: &str,
    kind: &str,
    by: &str,
    resulting_version: i32,
) -> Result<Vec<TaskRow>, DbErr> {
    let open = ig.keep(
        rotation_task::Entity::find()
            .filter(rotation_task::Column::AccountId.eq(account_id))
            .filter(rotation_task::Column::SecretKind.eq(kind))
            .filter(rotation_task::Column::State.eq(OPEN))
            .order_by_asc(rotation_task::Column::CreatedAt)
            .all(db)
            .await?,
    );
    let at = now();
    for task in &open {
        let mut done = task.clone();
        done.state = DONE.to_owned();
        done.completed_by = Some(by.to_owned());
        done.completed_at = Some(at);
        done.resulting_version = Some(resulting_version);
        write_if::<rotation_task::Entity>(db, ig, done, still_open(&task.id)).await?;
    }
    Ok(open)
}

fn still_open(id: &str) -> Condition {
    Condition::all()
        .add(rotation_task::Column::Id.eq(id))
        .add(rotation_task::Column::State.eq(OPEN))
}

pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<TaskRow>, DbErr> {
    Ok(ig.check_opt(rotation_task::Entity::find_by_id(id).one(db).await?))
}

/// Sets the assignee of an open task; false when it is no longer open.
pub async fn assign(db: &impl ConnectionTrait, id: &str, member_id: &str) -> Result<bool, DbErr> {
    let result = rotation_task::Entity::update_many()
        .col_expr(rotation_task::Column::Assignee, Expr::value(member_id))
        .filter(rotation_task::Column::Id.eq(id))
        .filter(rotation_task::Column::State.eq(OPEN))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Dismisses an open task (the risk is accepted); false when it is no longer open.
pub async fn dismiss(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
    by: &str,
) -> Result<bool, DbErr> {
    let Some(mut task) = find(db, ig, id).await? else {
        return Ok(false);
    };
    if task.state != OPEN {
        return Ok(false);
    }
    task.state = DISMISSED.to_owned();
    task.completed_by = Some(by.to_owned());
    task.completed_at = Some(now());
    write_if::<rotation_task::Entity>(db, ig, task, still_open(id)).await
}

/// What to list.
#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub state: Option<String>,
    pub account_ids: Option<Vec<String>>,
    pub reason: Option<String>,
    pub member_id: Option<String>,
    pub assignee: Option<String>,
    /// Only open tasks past their deadline.
    pub overdue: bool,
    /// Only done and dismissed tasks, the most recently closed first.
    pub closed: bool,
}

/// The most tasks one listing returns.
pub const LIST_LIMIT: u64 = 1000;

/// At most `limit` tasks matching `filter`: open ones by deadline, closed ones newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    filter: &TaskFilter,
    limit: u64,
) -> Result<Vec<TaskRow>, DbErr> {
    let mut query = rotation_task::Entity::find();
    if let Some(state) = &filter.state {
        query = query.filter(rotation_task::Column::State.eq(state.as_str()));
    }
    if let Some(ids) = &filter.account_ids {
        query = query.filter(rotation_task::Column::AccountId.is_in(ids.iter().cloned()));
    }
    if let Some(reason) = &filter.reason {
        query = query.filter(rotation_task::Column::Reason.eq(reason.as_str()));
    }
    if let Some(member) = &filter.member_id {
        query = query.filter(rotation_task::Column::MemberId.eq(member.as_str()));
    }
    if let Some(assignee) = &filter.assignee {
        query = query.filter(rotation_task::Column::Assignee.eq(assignee.as_str()));
    }
    if filter.overdue {
        query = query
            .filter(rotation_task::Column::State.eq(OPEN))
            .filter(rotation_task::Column::DueAt.lt(now()));
    }
    query = if filter.closed {
        query
            .filter(rotation_task::Column::State.ne(OPEN))
            .order_by_desc(rotation_task::Column::CompletedAt)
    } else {
        query.order_by_asc(rotation_task::Column::DueAt)
    };
    Ok(ig.keep(
        query
            .order_by_asc(rotation_task::Column::Id)
            .limit(limit)
            .all(db)
            .await?,
    ))
}

/// Open and overdue task counts per account, for the given accounts.
pub async fn open_counts(
    db: &impl ConnectionTrait,
    account_ids: &[String],
) -> Result<HashMap<String, (i64, i64, Option<DateTime<Utc>>)>, DbErr> {
    let rows = rotation_task::Entity::find()
        .filter(rotation_task::Column::AccountId.is_in(account_ids.iter().cloned()))
        .filter(rotation_task::Column::State.eq(OPEN))
        .all(db)
        .await?;
    let at = now();
    let mut out: HashMap<String, (i64, i64, Option<DateTime<Utc>>)> = HashMap::new();
    for row in rows {
        let entry = out.entry(row.account_id.clone()).or_default();
        entry.0 += 1;
        if row.due_at.is_some_and(|due| due < at) {
            entry.1 += 1;
        }
        entry.2 = match (entry.2, row.due_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(out)
}

/// Open tasks past their deadline whose escalation has not been sent.
pub async fn overdue_unnotified(
    db: &impl ConnectionTrait,
    ig: &Integrity,
) -> Result<Vec<TaskRow>, DbErr> {
    Ok(ig.keep(
        rotation_task::Entity::find()
            .filter(rotation_task::Column::State.eq(OPEN))
            .filter(rotation_task::Column::DueAt.lt(now()))
            .filter(rotation_task::Column::NotifiedAt.is_null())
            .order_by_asc(rotation_task::Column::DueAt)
            .limit(LIST_LIMIT)
            .all(db)
            .await?,
    ))
}

/// Marks a task's escalation as sent, once: whoever marks it first (one replica) sends it.
pub async fn claim_notification(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = rotation_task::Entity::update_many()
        .col_expr(rotation_task::Column::NotifiedAt, Expr::value(now()))
        .filter(rotation_task::Column::Id.eq(id))
        .filter(rotation_task::Column::State.eq(OPEN))
        .filter(rotation_task::Column::NotifiedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Open tasks in all, and those of them past their deadline (for metrics).
pub async fn totals(db: &impl ConnectionTrait) -> Result<(u64, u64), DbErr> {
    let open = rotation_task::Entity::find()
        .filter(rotation_task::Column::State.eq(OPEN))
        .count(db)
        .await?;
    let overdue = rotation_task::Entity::find()
        .filter(rotation_task::Column::State.eq(OPEN))
        .filter(rotation_task::Column::DueAt.lt(now()))
        .count(db)
        .await?;
    Ok((open, overdue))
}

/// How many tasks are open for an account (any kind).
pub async fn count_open(db: &impl ConnectionTrait, account_id: &str) -> Result<u64, DbErr> {
    rotation_task::Entity::find()
        .filter(rotation_task::Column::AccountId.eq(account_id))
        .filter(rotation_task::Column::State.eq(OPEN))
        .count(db)
        .await
}

impl TaskRow {
    /// Neither done nor dismissed.
    pub fn is_open(&self) -> bool {
        self.state == OPEN
    }
}
