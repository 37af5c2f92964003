//! Grants stored in the database (beside those the IdP's groups give), managed from the CLI.

use super::tokens::CLI_ACTOR;
use crate::audit::Event;
use crate::authz::Role;
use crate::store::members::{self as repo, MemberRow, SOURCE_ADMIN};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error("no member with email {0}; they appear after their first sign-in")]
    UnknownMember(String),
    #[error("{0} members share the email {1}; this needs a unique member")]
    Ambiguous(usize, String),
    #[error("storage error: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

async fn one_member(store: &Store, email: &str) -> Result<MemberRow, GrantError> {
    let mut found = repo::find_by_email(store.db(), email).await?;
    match found.len() {
        0 => Err(GrantError::UnknownMember(email.to_owned())),
        1 => Ok(found.remove(0)),
        n => Err(GrantError::Ambiguous(n, email.to_owned())),
    }
}

/// Grants `role` in `team` (or `*`) to the member with this email. Returns false if they
/// already had it.
pub async fn grant(store: &Store, email: &str, role: Role, team: &str) -> Result<bool, GrantError> {
    let member = one_member(store, email).await?;
    let tx = store.begin_write().await?;
    let held = repo::grants(&*tx, &member.id).await?;
    if held
        .iter()
        .any(|g| g.source == SOURCE_ADMIN && g.team == team && g.role == role.as_str())
    {
        return Ok(false);
    }
    repo::insert_grant(&*tx, &member.id, team, role.as_str(), SOURCE_ADMIN).await?;
    let event = Event::new(CLI_ACTOR, "member.grant")
        .target(format!("member:{}", member.id))
        .team(team)
        .details(serde_json::json!({ "role": role.as_str() }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok(true)
}

/// Removes a grant given with [`grant`]. Returns false if there was none.
pub async fn revoke(
    store: &Store,
    email: &str,
    role: Role,
    team: &str,
) -> Result<bool, GrantError> {
    let member = one_member(store, email).await?;
    let tx = store.begin_write().await?;
    let removed = repo::delete_grant(&*tx, &member.id, team, role.as_str(), SOURCE_ADMIN).await?;
    if removed == 0 {
        return Ok(false);
    }
    let event = Event::new(CLI_ACTOR, "member.revoke_grant")
        .target(format!("member:{}", member.id))
        .team(team)
        .details(serde_json::json!({ "role": role.as_str() }));
    crate::audit::append(&*tx, event).await?;
    tx.commit().await?;
    Ok(true)
}
