//! The audit table: the chain head (locked for appends), inserts, pages and filtered reads.

use super::entities::audit_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};

pub use audit_event::Model as AuditRow;

/// Any fixed number; it names the advisory lock that serialises chain appends on PostgreSQL.
const CHAIN_LOCK_KEY: i64 = 0x6b65_7977_6172_6401;

/// Locks the chain for this transaction (PostgreSQL; SQLite writers are already serialised)
/// and returns the current head `(seq, hash)`.
pub async fn lock_head(db: &impl ConnectionTrait) -> Result<Option<(i64, String)>, DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres {
        db.execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [CHAIN_LOCK_KEY.into()],
        ))
        .await?;
    }
    head(db).await
}

/// The newest event's `(seq, hash)`.
pub async fn head(db: &impl ConnectionTrait) -> Result<Option<(i64, String)>, DbErr> {
    Ok(audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Seq)
        .one(db)
        .await?
        .map(|e| (e.seq, e.hash)))
}

pub async fn insert(db: &impl ConnectionTrait, row: AuditRow) -> Result<(), DbErr> {
    audit_event::ActiveModel::from(row)
        .insert(db)
        .await
        .map(|_| ())
}

/// Events with `seq > after`, oldest first.
pub async fn page(
    db: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Seq.gt(after))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Filters for reading the trail.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub after: i64,
    pub actor: Option<String>,
    pub target: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// Events at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Events before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn search(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    let mut query = audit_event::Entity::find().filter(audit_event::Column::Seq.gt(filter.after));
    if let Some(actor) = &filter.actor {
        query = query.filter(audit_event::Column::Actor.eq(actor.as_str()));
    }
    if let Some(target) = &filter.target {
        query = query.filter(audit_event::Column::Target.eq(target.as_str()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_event::Column::Action.eq(action.as_str()));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(audit_event::Column::Outcome.eq(outcome.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_event::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_event::Column::At.lt(until));
    }
    query
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

pub use super::entities::audit_checkpoint::Model as CheckpointRow;

/// The newest checkpoint.
pub async fn latest_checkpoint(db: &impl ConnectionTrait) -> Result<Option<CheckpointRow>, DbErr> {
    super::entities::audit_checkpoint::Entity::find()
        .order_by_desc(super::entities::audit_checkpoint::Column::Seq)
        .one(db)
        .await
}

/// Every checkpoint, oldest first.
pub async fn checkpoints(db: &impl ConnectionTrait) -> Result<Vec<CheckpointRow>, DbErr> {
    super::entities::audit_checkpoint::Entity::find()
        .order_by_asc(super::entities::audit_checkpoint::Column::Seq)
        .all(db)
        .await
}

pub async fn insert_checkpoint(db: &impl ConnectionTrait, row: CheckpointRow) -> Result<(), DbErr> {
    use sea_orm::IntoActiveModel;
    super::entities::audit_checkpoint::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The event with sequence number `seq`.
pub async fn event(db: &impl ConnectionTrait, seq: i64) -> Result<Option<AuditRow>, DbErr> {
    audit_event::Entity::find_by_id(seq).one(db).await
}
