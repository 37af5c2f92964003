//! Incidents: open one, move it to its next step only from the step the answer was given to
//! (a conditional update, so of two answers to one step exactly one wins), remember the backup
//! code it checked out, close it once, and list them.

use super::entities::incident;
use super::values::now;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

pub use incident::Model as IncidentRow;

pub const OPEN: &str = "open";

pub async fn insert(db: &impl ConnectionTrait, row: IncidentRow) -> Result<IncidentRow, DbErr> {
    incident::ActiveModel::from(row).insert(db).await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<IncidentRow>, DbErr> {
    incident::Entity::find_by_id(id).one(db).await
}

/// Moves an open incident from step `from`, after `answers` answers, to `to`; false when it
/// is no longer open there (the answer count tells a step come round again from the one the
/// answer saw). The row lock this takes queues a second answer until the first commits,
/// which then finds the incident moved on.
pub async fn advance(
    db: &impl ConnectionTrait,
    id: &str,
    from: &str,
    answers: i32,
    to: &str,
) -> Result<bool, DbErr> {
    let result = incident::Entity::update_many()
        .col_expr(incident::Column::Step, Expr::value(to))
        .col_expr(
            incident::Column::Answers,
            Expr::col(incident::Column::Answers).add(1),
        )
        .col_expr(incident::Column::UpdatedAt, Expr::value(now()))
        .filter(incident::Column::Id.eq(id))
        .filter(incident::Column::State.eq(OPEN))
        .filter(incident::Column::Step.eq(from))
        .filter(incident::Column::Answers.eq(answers))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Remembers the backup code the incident checked out last (its place, never the code).
pub async fn set_backup_code(
    db: &impl ConnectionTrait,
    id: &str,
    generation: i32,
    position: i32,
) -> Result<(), DbErr> {
    incident::Entity::update_many()
        .col_expr(incident::Column::BackupGeneration, Expr::value(generation))
        .col_expr(incident::Column::BackupPosition, Expr::value(position))
        .filter(incident::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Closes an open incident as `state`; false when it was closed already.
pub async fn close(
    db: &impl ConnectionTrait,
    id: &str,
    state: &str,
    by: &str,
    summary: &str,
) -> Result<bool, DbErr> {
    let at = now();
    let result = incident::Entity::update_many()
        .col_expr(incident::Column::State, Expr::value(state))
        .col_expr(incident::Column::ClosedBy, Expr::value(by))
        .col_expr(incident::Column::ClosedAt, Expr::value(at))
        .col_expr(incident::Column::Summary, Expr::value(summary))
        .col_expr(incident::Column::UpdatedAt, Expr::value(at))
        .filter(incident::Column::Id.eq(id))
        .filter(incident::Column::State.eq(OPEN))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What to list.
#[derive(Debug, Default)]
pub struct IncidentFilter {
    pub state: Option<String>,
    pub account: Option<String>,
    /// Only these teams (ids); `None` for every team.
    pub team_ids: Option<Vec<String>>,
}

/// Incidents matching `filter`, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &IncidentFilter,
    limit: u64,
) -> Result<Vec<IncidentRow>, DbErr> {
    let mut query = incident::Entity::find();
    if let Some(state) = &filter.state {
        query = query.filter(incident::Column::State.eq(state.as_str()));
    }
    if let Some(account) = &filter.account {
        query = query.filter(incident::Column::AccountId.eq(account.as_str()));
    }
    if let Some(teams) = &filter.team_ids {
        query = query.filter(incident::Column::TeamId.is_in(teams.iter().cloned()));
    }
    query
        .order_by_desc(incident::Column::OpenedAt)
        .order_by_desc(incident::Column::Id)
        .limit(limit)
        .all(db)
        .await
}
