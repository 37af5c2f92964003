//! Access requests, and the grants they become once approved. Rows are MAC'ed (see
//! [`super::integrity`]): a grant planted, widened or extended in the database does not
//! verify, so it grants nothing.

use super::entities::{access_request, account};
use super::integrity::{unchanged, write_if};
use super::{now, Integrity};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

pub use access_request::Model as AccessRow;

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";

/// One approval, as the row keeps it (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Approval {
    /// The approver: a member id, or `cli` for the operator's command line.
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl AccessRow {
    /// The actions asked for (an unreadable list is none).
    pub fn action_names(&self) -> Vec<String> {
        serde_json::from_str(&self.actions).unwrap_or_default()
    }

    pub fn covers(&self, action: &str) -> bool {
        self.action_names().iter().any(|a| a == action)
    }

    pub fn approval_list(&self) -> Vec<Approval> {
        serde_json::from_str(&self.approvals).unwrap_or_default()
    }

    pub fn is_pending(&self) -> bool {
        self.state == PENDING
    }

    /// Approved and inside its window at `at`.
    pub fn is_live_at(&self, at: DateTime<Utc>) -> bool {
        self.state == APPROVED
            && self.starts_at.is_some_and(|s| s <= at)
            && self.expires_at.is_some_and(|e| at < e)
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    row: AccessRow,
) -> Result<AccessRow, DbErr> {
    let row = ig.signed(row)?;
    access_request::ActiveModel::from(row).insert(db).await
}

/// Takes the request's row lock for the rest of the transaction (a no-op update), so two
/// approvers of one request queue instead of racing.
pub async fn lock(db: &impl ConnectionTrait, id: &str) -> Result<bool, DbErr> {
    let result = access_request::Entity::update_many()
        .col_expr(
            access_request::Column::State,
            Expr::col(access_request::Column::State).into(),
        )
        .filter(access_request::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The request, if its row verifies.
pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id: &str,
) -> Result<Option<AccessRow>, DbErr> {
    Ok(ig.check_opt(access_request::Entity::find_by_id(id).one(db).await?))
}

/// Writes the request's new state, signed, if the row is still the one `before` read (same
/// state and MAC): false when someone else changed it first.
pub async fn change(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    before: &AccessRow,
    after: AccessRow,
) -> Result<bool, DbErr> {
    let same = unchanged(
        (access_request::Column::Id, before.id.as_str()),
        (access_request::Column::State, before.state.as_str()),
        (access_request::Column::Mac, before.mac.as_deref()),
    );
    write_if::<access_request::Entity>(db, ig, after, same).await
}

/// The member's approved grants on the account whose window has not ended (verified rows).
pub async fn live_grants(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    account_id: &str,
    member_id: &str,
) -> Result<Vec<AccessRow>, DbErr> {
    let at = now();
    let mut query = access_request::Entity::find()
        .filter(access_request::Column::AccountId.eq(account_id))
        .filter(access_request::Column::Requester.eq(member_id))
        .filter(access_request::Column::State.eq(APPROVED))
        .filter(access_request::Column::ExpiresAt.gt(at));
    // On PostgreSQL the grant is held (FOR SHARE) until the reveal commits: a revocation
    // waits for it, or ends it first and is seen. SQLite has one writer: nothing to hold.
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        query = query.lock_shared();
    }
    Ok(ig
        .keep(query.all(db).await?)
        .into_iter()
        .filter(|r| r.is_live_at(at))
        .collect())
}

/// The member's requests still pending or approved (to revoke at a departure).
pub async fn open_of_member(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Vec<AccessRow>, DbErr> {
    Ok(ig.keep(
        access_request::Entity::find()
            .filter(access_request::Column::Requester.eq(member_id))
            .filter(access_request::Column::State.is_in([PENDING, APPROVED]))
            .all(db)
            .await?,
    ))
}

/// What to list.
#[derive(Debug, Default, Clone)]
pub struct AccessFilter {
    pub state: Option<String>,
    pub account_id: Option<String>,
    pub requester: Option<String>,
    /// Only requests on the accounts of these teams, by id (`None`: any team).
    pub team_ids: Option<Vec<String>>,
}

/// Requests matching `filter`, newest first, at most `limit` (verified rows).
pub async fn list(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    filter: &AccessFilter,
    limit: u64,
) -> Result<Vec<AccessRow>, DbErr> {
    let mut query = access_request::Entity::find();
    if let Some(state) = &filter.state {
        query = query.filter(access_request::Column::State.eq(state.as_str()));
    }
    if let Some(account) = &filter.account_id {
        query = query.filter(access_request::Column::AccountId.eq(account.as_str()));
    }
    if let Some(requester) = &filter.requester {
        query = query.filter(access_request::Column::Requester.eq(requester.as_str()));
    }
    if let Some(teams) = &filter.team_ids {
        let accounts = sea_orm::sea_query::Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .and_where(account::Column::TeamId.is_in(teams.iter().cloned()))
            .to_owned();
        query = query.filter(access_request::Column::AccountId.in_subquery(accounts));
    }
    Ok(ig.keep(
        query
            .order_by_desc(access_request::Column::CreatedAt)
            .order_by_desc(access_request::Column::Id)
            .limit(limit)
            .all(db)
            .await?,
    ))
}

/// Approved grants whose window has ended and pending requests asked before `pending_before`:
/// what the expiry job ends (verified rows; at most `limit`).
pub async fn due_to_expire(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    pending_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<AccessRow>, DbErr> {
    let at = now();
    Ok(ig.keep(
        access_request::Entity::find()
            .filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(access_request::Column::State.eq(APPROVED))
                            .add(access_request::Column::ExpiresAt.lte(at)),
                    )
                    .add(
                        Condition::all()
                            .add(access_request::Column::State.eq(PENDING))
                            .add(access_request::Column::CreatedAt.lte(pending_before)),
                    ),
            )
            .order_by_asc(access_request::Column::CreatedAt)
            .limit(limit)
            .all(db)
            .await?,
    ))
}
