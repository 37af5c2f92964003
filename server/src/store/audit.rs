//! The audit table: the chain head (locked for appends), inserts, pages and filtered reads.

use super::entities::audit_event;
use sea_orm::QueryTrait;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

pub use audit_event::Model as AuditRow;

/// Any fixed number; it names the advisory lock that serialises chain appends on PostgreSQL.
pub(crate) const CHAIN_LOCK_KEY: i64 = 0x6b65_7977_6172_6401;

/// Takes the chain lock for the rest of this transaction (PostgreSQL; SQLite writers are
/// already serialised). Taking it again in the same transaction is a no-op; a writer
/// thread's batch took it when it opened, so there it costs no round trip.
pub async fn lock_chain(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() == DatabaseBackend::Postgres && !batch::running() {
        db.execute(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [CHAIN_LOCK_KEY.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Locks the chain for this transaction and returns the current head `(seq, hash)`. In a
/// writer thread's batch the head its units appended is known, and not read again.
pub async fn lock_head(db: &impl ConnectionTrait) -> Result<Option<(i64, String)>, DbErr> {
    if let Some(known) = batch::known() {
        return Ok(known);
    }
    lock_chain(db).await?;
    let head = head(db).await?;
    batch::learn(&head);
    Ok(head)
}

/// The chain head as a writer thread's batch knows it (`store::lite` on SQLite,
/// `store::pg_writer` on PostgreSQL). The batch holds the chain from its start (SQLite's
/// write lock, PostgreSQL's advisory lock), and every event its units append goes through
/// [`insert`], so after the first read the head is known without reading it again:
///
/// - a unit that is rolled back restores what was known before it ([`batch::Saved`]);
/// - a nested savepoint (which can be rolled back, or kept, on its own) stops the knowing
///   for the rest of its unit, and the unit leaves the head unknown: it is read again;
/// - every batch starts unknowing: another process (the CLI, another replica) may have
///   appended since the last one.
pub(crate) mod batch {
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Clone)]
    enum State {
        Unknown,
        Known(Option<(i64, String)>),
        /// A nested savepoint is or was open in this unit: read the head each time.
        Bypass,
    }

    tokio::task_local! {
        /// Set only inside a unit's own future ([`Batch::scope`]): code the unit awaits sees
        /// it; a task spawned meanwhile, or anything else on the writer's thread, does not.
        static STATE: Rc<RefCell<State>>;
    }

    /// A writer thread's batch, which holds the chain from its start (SQLite's write lock,
    /// PostgreSQL's advisory lock), and what its units know of the head.
    pub(crate) struct Batch(Rc<RefCell<State>>);

    /// What was known before a unit ran.
    pub(crate) struct Saved(State);

    impl Batch {
        /// A batch starts unknowing: another process may have appended since the last one.
        pub(crate) fn start() -> Self {
            Self(Rc::new(RefCell::new(State::Unknown)))
        }

        /// Runs a unit's future with the batch's state in scope.
        pub(crate) fn scope<F: std::future::Future>(
            &self,
            unit: F,
        ) -> impl std::future::Future<Output = F::Output> {
            STATE.scope(self.0.clone(), unit)
        }

        /// Before a unit runs.
        pub(crate) fn save(&self) -> Saved {
            Saved(self.0.borrow().clone())
        }

        /// After a unit. One that opened a nested savepoint leaves the head unknown, kept or
        /// not: what it wrote there may outlive its own savepoint (a refusal recorded after
        /// the unit's writes were dropped). Otherwise a kept unit's appends stay known, and a
        /// rolled back unit restores what was known before it.
        pub(crate) fn unit_ended(&self, saved: Saved, kept: bool) {
            let mut state = self.0.borrow_mut();
            if matches!(*state, State::Bypass) {
                *state = State::Unknown;
            } else if !kept {
                *state = saved.0;
            }
        }
    }

    fn with<T>(f: impl FnOnce(&mut State) -> T) -> Option<T> {
        STATE.try_with(|s| f(&mut s.borrow_mut())).ok()
    }

    /// Whether the caller runs inside a unit of a writer thread's batch (which holds the
    /// chain).
    pub(crate) fn running() -> bool {
        with(|_| ()).is_some()
    }

    /// A nested savepoint opens (or the batch's own transaction is handed out) inside a unit.
    pub(crate) fn nested() {
        with(|state| *state = State::Bypass);
    }

    pub(super) fn known() -> Option<Option<(i64, String)>> {
        with(|state| match state {
            State::Known(head) => Some(head.clone()),
            _ => None,
        })
        .flatten()
    }

    /// The head read from the database, or the event just inserted.
    pub(super) fn learn(head: &Option<(i64, String)>) {
        with(|state| {
            if matches!(*state, State::Unknown | State::Known(_)) {
                *state = State::Known(head.clone());
            }
        });
    }
}

/// The newest event's `(seq, hash)`, reading only those two columns.
pub async fn head(db: &impl ConnectionTrait) -> Result<Option<(i64, String)>, DbErr> {
    let stmt = HEAD.bind(
        db.get_database_backend(),
        |b| head_query().build(b),
        vec![1u64.into()],
    );
    super::prepared::one::<sea_orm::SelectGetableTuple<(i64, String)>>(db, stmt).await
}

static HEAD: super::prepared::Prepared = super::prepared::Prepared::new();

fn head_query() -> sea_orm::Select<audit_event::Entity> {
    audit_event::Entity::find()
        .select_only()
        .columns([audit_event::Column::Seq, audit_event::Column::Hash])
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
}

/// Inserts one event; a single statement (nothing is read back). In a writer thread's batch
/// the event becomes the known head.
pub async fn insert(db: &impl ConnectionTrait, row: AuditRow) -> Result<(), DbErr> {
    let head = batch::running().then(|| Some((row.seq, row.hash.clone())));
    INSERT
        .insert(db, audit_event::ActiveModel::from(row))
        .await?;
    if let Some(head) = head {
        batch::learn(&head);
    }
    Ok(())
}

static INSERT: super::prepared::Prepared = super::prepared::Prepared::new();

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

fn filtered(filter: &AuditFilter) -> sea_orm::Select<audit_event::Entity> {
    let mut query = audit_event::Entity::find();
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
}

/// Events matching `filter` after `filter.after`, oldest first.
pub async fn search(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    filtered(filter)
        .filter(audit_event::Column::Seq.gt(filter.after))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Events matching `filter` before `before` (all when `None`), newest first; `filter.after`
/// still bounds them from below.
pub async fn search_newest(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    let mut query = filtered(filter).filter(audit_event::Column::Seq.gt(filter.after));
    if let Some(before) = before {
        query = query.filter(audit_event::Column::Seq.lt(before));
    }
    query
        .order_by_desc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Successful events by any of `actors` with one of `actions`, after `after`, oldest first.
pub async fn by_actors(
    db: &impl ConnectionTrait,
    actors: &[String],
    actions: &[&str],
    after: i64,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Seq.gt(after))
        .filter(audit_event::Column::Actor.is_in(actors.iter().cloned()))
        .filter(audit_event::Column::Action.is_in(actions.iter().copied()))
        .filter(audit_event::Column::Outcome.eq("success"))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Successful events of `actions` with `after` < seq < `before`, oldest first, at most `limit`.
pub async fn by_actions(
    db: &impl ConnectionTrait,
    actions: &[&str],
    after: i64,
    before: i64,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Seq.gt(after))
        .filter(audit_event::Column::Seq.lt(before))
        .filter(audit_event::Column::Action.is_in(actions.iter().copied()))
        .filter(audit_event::Column::Outcome.eq("success"))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// Who did one of `actions` to `target` successfully since `since` (each actor once).
pub async fn actors_of(
    db: &impl ConnectionTrait,
    target: &str,
    actions: &[&str],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, DbErr> {
    audit_event::Entity::find()
        .select_only()
        .column(audit_event::Column::Actor)
        .distinct()
        .filter(audit_event::Column::Target.eq(target))
        .filter(audit_event::Column::Action.is_in(actions.iter().copied()))
        .filter(audit_event::Column::Outcome.eq("success"))
        .filter(audit_event::Column::At.gte(since))
        .into_tuple::<String>()
        .all(db)
        .await
}

/// The newest event matching `filter` (its `after` is ignored).
pub async fn latest(
    db: &impl ConnectionTrait,
    filter: &AuditFilter,
) -> Result<Option<AuditRow>, DbErr> {
    let mut query = audit_event::Entity::find();
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
    query.order_by_desc(audit_event::Column::Seq).one(db).await
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

/// A checkpoint with the hash of the event it names, if that event is still stored.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct CheckpointCheck {
    pub seq: i64,
    pub head_hash: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub key_id: String,
    pub signature: String,
    pub event_hash: Option<String>,
}

/// Checkpoints after `after`, oldest first, each with its event's hash: one query.
pub async fn checkpoints_with_events(
    db: &impl ConnectionTrait,
    after: i64,
) -> Result<Vec<CheckpointCheck>, DbErr> {
    use super::entities::audit_checkpoint as checkpoint;
    use sea_orm::{EntityTrait as _, JoinType};
    let to_event = checkpoint::Entity::belongs_to(audit_event::Entity)
        .from(checkpoint::Column::Seq)
        .to(audit_event::Column::Seq)
        .into();
    checkpoint::Entity::find()
        .select_only()
        .columns([
            checkpoint::Column::Seq,
            checkpoint::Column::HeadHash,
            checkpoint::Column::At,
            checkpoint::Column::KeyId,
            checkpoint::Column::Signature,
        ])
        .column_as(audit_event::Column::Hash, "event_hash")
        .join(JoinType::LeftJoin, to_event)
        .filter(checkpoint::Column::Seq.gt(after))
        .order_by_asc(checkpoint::Column::Seq)
        .into_model::<CheckpointCheck>()
        .all(db)
        .await
}

/// The event with sequence number `seq`.
pub async fn event(db: &impl ConnectionTrait, seq: i64) -> Result<Option<AuditRow>, DbErr> {
    audit_event::Entity::find_by_id(seq).one(db).await
}

// ---- forwarding cursors -------------------------------------------------------------------

use super::entities::audit_forward_cursor as cursor;
pub use cursor::Model as CursorRow;

/// Creates a destination's cursor at `seq` unless it exists (another replica may create it
/// at the same moment: `ON CONFLICT DO NOTHING`, which keeps a PostgreSQL transaction usable).
pub async fn ensure_cursor(db: &impl ConnectionTrait, name: &str, seq: i64) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    let row = cursor::ActiveModel {
        name: sea_orm::Set(name.to_owned()),
        seq: sea_orm::Set(seq),
        lease_owner: sea_orm::Set(None),
        lease_until: sea_orm::Set(None),
        failures: sea_orm::Set(0),
        last_error: sea_orm::Set(None),
        last_attempt_at: sea_orm::Set(None),
        delivered_at: sea_orm::Set(None),
    };
    let insert = cursor::Entity::insert(row)
        .on_conflict(
            OnConflict::column(cursor::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    match insert {
        Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Takes or renews the lease on a destination's cursor; `false` when another replica holds it.
pub async fn take_lease(
    db: &impl ConnectionTrait,
    name: &str,
    owner: &str,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::{Condition, Expr};
    let now = super::values::now();
    let free = Condition::any()
        .add(cursor::Column::LeaseOwner.eq(owner))
        .add(cursor::Column::LeaseUntil.is_null())
        .add(cursor::Column::LeaseUntil.lt(now));
    let res = cursor::Entity::update_many()
        .col_expr(cursor::Column::LeaseOwner, Expr::value(owner))
        .col_expr(cursor::Column::LeaseUntil, Expr::value(until))
        .filter(cursor::Column::Name.eq(name))
        .filter(free)
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives up a lease this replica holds.
pub async fn release_lease(
    db: &impl ConnectionTrait,
    name: &str,
    owner: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    cursor::Entity::update_many()
        .col_expr(
            cursor::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            cursor::Column::LeaseUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(cursor::Column::Name.eq(name))
        .filter(cursor::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn cursor(db: &impl ConnectionTrait, name: &str) -> Result<Option<CursorRow>, DbErr> {
    cursor::Entity::find_by_id(name).one(db).await
}

pub async fn cursors(db: &impl ConnectionTrait) -> Result<Vec<CursorRow>, DbErr> {
    cursor::Entity::find()
        .order_by_asc(cursor::Column::Name)
        .all(db)
        .await
}

/// Moves the cursor from `from` to `to` if this replica still holds the lease and nobody
/// moved it meanwhile; `false` otherwise.
pub async fn advance_cursor(
    db: &impl ConnectionTrait,
    name: &str,
    owner: &str,
    from: i64,
    to: i64,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let now = super::values::now();
    let res = cursor::Entity::update_many()
        .col_expr(cursor::Column::Seq, Expr::value(to))
        .col_expr(cursor::Column::Failures, Expr::value(0))
        .col_expr(
            cursor::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(cursor::Column::LastAttemptAt, Expr::value(now))
        .col_expr(cursor::Column::DeliveredAt, Expr::value(now))
        .filter(cursor::Column::Name.eq(name))
        .filter(cursor::Column::LeaseOwner.eq(owner))
        .filter(cursor::Column::Seq.eq(from))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records a failed delivery (the error text must not carry secrets).
pub async fn cursor_failed(
    db: &impl ConnectionTrait,
    name: &str,
    owner: &str,
    error: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    cursor::Entity::update_many()
        .col_expr(
            cursor::Column::Failures,
            Expr::col(cursor::Column::Failures).add(1),
        )
        .col_expr(
            cursor::Column::LastError,
            Expr::value(error.chars().take(500).collect::<String>()),
        )
        .col_expr(
            cursor::Column::LastAttemptAt,
            Expr::value(super::values::now()),
        )
        .filter(cursor::Column::Name.eq(name))
        .filter(cursor::Column::LeaseOwner.eq(owner))
        .exec(db)
        .await?;
    Ok(())
}

// ---- retention anchors --------------------------------------------------------------------

use super::entities::audit_anchor as anchor;
pub use anchor::Model as AnchorRow;

/// The newest anchor: where the chain in the database starts.
pub async fn latest_anchor(db: &impl ConnectionTrait) -> Result<Option<AnchorRow>, DbErr> {
    anchor::Entity::find()
        .order_by_desc(anchor::Column::Seq)
        .one(db)
        .await
}

/// Every anchor, oldest first.
pub async fn anchors(db: &impl ConnectionTrait) -> Result<Vec<AnchorRow>, DbErr> {
    anchor::Entity::find()
        .order_by_asc(anchor::Column::Seq)
        .all(db)
        .await
}

pub async fn insert_anchor(db: &impl ConnectionTrait, row: AnchorRow) -> Result<(), DbErr> {
    use sea_orm::IntoActiveModel;
    anchor::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The newest event strictly before `cutoff`, as its sequence number.
pub async fn last_seq_before(
    db: &impl ConnectionTrait,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Option<i64>, DbErr> {
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::At.lt(cutoff))
        .order_by_desc(audit_event::Column::Seq)
        .one(db)
        .await?
        .map(|e| e.seq))
}

/// Removes the events up to and including `seq`; returns how many.
pub async fn delete_through(db: &impl ConnectionTrait, seq: i64) -> Result<u64, DbErr> {
    Ok(audit_event::Entity::delete_many()
        .filter(audit_event::Column::Seq.lte(seq))
        .exec(db)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::prepared::check::same;
    use sea_orm::QueryTrait;

    #[test]
    fn the_prepared_statements_are_fresh_builds() {
        same(|b, _| head_query().build(b), || vec![1u64.into()]);
        let row = AuditRow {
            seq: 7,
            at: chrono::Utc::now(),
            actor: "token:t".into(),
            action: "totp.reveal".into(),
            target: Some("account:a".into()),
            team: None,
            outcome: "success".into(),
            justification: Some("why".into()),
            ip: None,
            user_agent: Some("ua".into()),
            request_id: None,
            details: "{}".into(),
            prev_hash: "p".into(),
            hash: "h".into(),
        };
        let other = AuditRow {
            seq: 8,
            actor: "member:m".into(),
            team: Some("brand".into()),
            justification: None,
            ..row.clone()
        };
        let model =
            |o: bool| audit_event::ActiveModel::from(if o { other.clone() } else { row.clone() });
        same(
            |b, o| audit_event::Entity::insert(model(o)).build(b),
            || crate::store::prepared::insert_values(&model(false)),
        );
    }
}
