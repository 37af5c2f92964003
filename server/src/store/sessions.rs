//! Browser sessions and in-flight logins.

use super::entities::{login_flow, page_result, session};
use super::values::now;
use super::Integrity;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

pub use login_flow::Model as LoginFlowRow;
pub use session::Model as SessionRow;

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub member_id: &'a str,
    pub auth_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub idp_sid: Option<&'a str>,
    /// `browser` or `cli`.
    pub client: &'a str,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    new: NewSession<'_>,
) -> Result<SessionRow, DbErr> {
    let at = now();
    let row = ig.signed(SessionRow {
        id_hash: new.id_hash.to_owned(),
        member_id: new.member_id.to_owned(),
        created_at: at,
        last_seen_at: at,
        auth_time: new.auth_time,
        expires_at: new.expires_at,
        ip: new.ip.map(str::to_owned),
        user_agent: new.user_agent.map(|u| u.chars().take(300).collect()),
        idp_sid: new.idp_sid.map(str::to_owned),
        client: new.client.to_owned(),
        mac: None,
    })?;
    session::ActiveModel::from(row).insert(db).await
}

/// The session, if its row verifies.
pub async fn find(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    id_hash: &str,
) -> Result<Option<SessionRow>, DbErr> {
    Ok(ig.check_opt(session::Entity::find_by_id(id_hash).one(db).await?))
}

pub async fn touch(db: &impl ConnectionTrait, id_hash: &str) -> Result<(), DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(now()))
        .filter(session::Column::IdHash.eq(id_hash))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn delete(db: &impl ConnectionTrait, id_hash: &str) -> Result<bool, DbErr> {
    Ok(session::Entity::delete_by_id(id_hash)
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// The command lines (`kw` sessions) signed in as a member and not expired, newest first;
/// a row that does not verify is left out (and reported by the integrity check).
pub async fn cli_of_member(
    db: &impl ConnectionTrait,
    ig: &Integrity,
    member_id: &str,
) -> Result<Vec<SessionRow>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let rows = session::Entity::find()
        .filter(session::Column::MemberId.eq(member_id))
        .filter(session::Column::Client.eq("cli"))
        .filter(session::Column::ExpiresAt.gt(now()))
        .order_by_desc(session::Column::CreatedAt)
        .limit(100)
        .all(db)
        .await?;
    Ok(ig.keep(rows))
}

/// Ends one command line's session of a member; false when there is none.
pub async fn delete_cli(
    db: &impl ConnectionTrait,
    member_id: &str,
    id_hash: &str,
) -> Result<bool, DbErr> {
    Ok(session::Entity::delete_many()
        .filter(session::Column::IdHash.eq(id_hash))
        .filter(session::Column::MemberId.eq(member_id))
        .filter(session::Column::Client.eq("cli"))
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// Ends every session of a member (offboarding, sign-out everywhere).
pub async fn delete_for_member(db: &impl ConnectionTrait, member_id: &str) -> Result<u64, DbErr> {
    Ok(session::Entity::delete_many()
        .filter(session::Column::MemberId.eq(member_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// Ends a member's sessions that began in the IdP session `sid` (every session of the member
/// when `sid` is `None`); returns how many.
pub async fn delete_for_idp_session(
    db: &impl ConnectionTrait,
    member_id: &str,
    sid: Option<&str>,
) -> Result<u64, DbErr> {
    let mut query = session::Entity::delete_many().filter(session::Column::MemberId.eq(member_id));
    if let Some(sid) = sid {
        query = query.filter(session::Column::IdpSid.eq(sid));
    }
    Ok(query.exec(db).await?.rows_affected)
}

pub async fn insert_flow(db: &impl ConnectionTrait, row: LoginFlowRow) -> Result<(), DbErr> {
    login_flow::ActiveModel::from(row)
        .insert(db)
        .await
        .map(|_| ())
}

/// Takes a login flow: returns it and deletes it, so it can be finished only once.
pub async fn take_flow(
    db: &impl ConnectionTrait,
    id_hash: &str,
) -> Result<Option<LoginFlowRow>, DbErr> {
    let Some(row) = login_flow::Entity::find_by_id(id_hash).one(db).await? else {
        return Ok(None);
    };
    let deleted = login_flow::Entity::delete_by_id(id_hash)
        .exec(db)
        .await?
        .rows_affected;
    Ok((deleted == 1).then_some(row))
}

/// Removes expired login flows and sessions.
pub async fn purge_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let at = now();
    let flows = login_flow::Entity::delete_many()
        .filter(login_flow::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?;
    let sessions = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?;
    let results = page_result::Entity::delete_many()
        .filter(page_result::Column::ExpiresAt.lt(at))
        .exec(db)
        .await?;
    Ok(flows.rows_affected + sessions.rows_affected + results.rows_affected)
}

pub use page_result::Model as PageResultRow;

pub async fn insert_page_result(
    db: &impl ConnectionTrait,
    row: PageResultRow,
) -> Result<(), DbErr> {
    page_result::ActiveModel::from(row)
        .insert(db)
        .await
        .map(|_| ())
}

/// The result `id_hash` if it belongs to `session_hash` and is still fresh, left in place.
pub async fn peek_page_result(
    db: &impl ConnectionTrait,
    id_hash: &str,
    session_hash: &str,
) -> Result<Option<PageResultRow>, DbErr> {
    Ok(page_result::Entity::find_by_id(id_hash)
        .one(db)
        .await?
        .filter(|row| row.session_hash == session_hash && row.expires_at > now()))
}

/// Removes and returns the result `id_hash` if it belongs to `session_hash` and is still
/// fresh: whoever gets it first gets it once.
pub async fn take_page_result(
    db: &impl ConnectionTrait,
    id_hash: &str,
    session_hash: &str,
) -> Result<Option<PageResultRow>, DbErr> {
    let Some(row) = page_result::Entity::find_by_id(id_hash).one(db).await? else {
        return Ok(None);
    };
    let deleted = page_result::Entity::delete_many()
        .filter(page_result::Column::IdHash.eq(id_hash))
        .filter(page_result::Column::SessionHash.eq(session_hash))
        .exec(db)
        .await?;
    Ok(
        (deleted.rows_affected == 1 && row.session_hash == session_hash && row.expires_at > now())
            .then_some(row),
    )
}
