//! Grants stored in the database (beside those the IdP's groups give), managed from the CLI.

use super::tokens::CLI_ACTOR;
use crate::audit::Event;
use crate::authz::Role;
use crate::store::members::{self as repo, MemberRow, SOURCE_ADMIN};
use crate::store::{Integrity, Store};

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(
        "no {0}; members appear after their first sign-in (only IdP-verified emails are kept)"
    )]
    UnknownMember(String),
    #[error("{0} members share the email {1}; name the member with --member ID (see `keyward member list`)")]
    Ambiguous(usize, String),
    #[error("storage error: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

/// Which member a command means: by id (exact), or by email (the verified address the IdP
/// gave; refused when several members share it).
#[derive(Debug, Clone)]
pub enum MemberRef {
    Id(String),
    Email(String),
}

impl std::fmt::Display for MemberRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemberRef::Id(id) => write!(f, "member {id}"),
            MemberRef::Email(email) => f.write_str(email),
        }
    }
}

impl MemberRef {
    /// A command-line argument: an id when it looks like one, else an email.
    pub fn from_arg(raw: &str) -> Self {
        let raw = raw.trim();
        if crate::domain::is_id(raw) {
            MemberRef::Id(raw.to_owned())
        } else {
            MemberRef::Email(raw.to_owned())
        }
    }
}

/// The one member `who` names.
pub async fn find_one(
    store: &Store,
    ig: &Integrity,
    who: &MemberRef,
) -> Result<MemberRow, GrantError> {
    one_member(store, ig, who).await
}

async fn one_member(
    store: &Store,
    ig: &Integrity,
    who: &MemberRef,
) -> Result<MemberRow, GrantError> {
    let email = match who {
        MemberRef::Id(id) => {
            let found = if crate::domain::is_id(id) {
                repo::find(store.db(), ig, id).await?
            } else {
                None
            };
            return found.ok_or_else(|| GrantError::UnknownMember(who.to_string()));
        }
        MemberRef::Email(email) => email,
    };
    let mut found = repo::find_by_email(store.db(), ig, email).await?;
    match found.len() {
        0 => Err(GrantError::UnknownMember(email.to_owned())),
        1 => Ok(found.remove(0)),
        n => Err(GrantError::Ambiguous(n, email.to_owned())),
    }
}

/// Grants `role` in `team` (or `*`) to a member. Returns false if they already had it.
pub async fn grant(
    store: &Store,
    ig: &Integrity,
    who: &MemberRef,
    role: Role,
    team: &str,
) -> Result<bool, GrantError> {
    let member = one_member(store, ig, who).await?;
    let tx = store.begin_write().await?;
    let held = repo::grants(&*tx, ig, &member.id).await?;
    if held
        .iter()
        .any(|g| g.source == SOURCE_ADMIN && g.team == team && g.role == role.as_str())
    {
        return Ok(false);
    }
    repo::insert_grant(&*tx, ig, &member.id, team, role.as_str(), SOURCE_ADMIN).await?;
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
    ig: &Integrity,
    who: &MemberRef,
    role: Role,
    team: &str,
) -> Result<bool, GrantError> {
    let member = one_member(store, ig, who).await?;
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

impl super::Core {
    /// A person-readable name for an actor subject (`member:…` → their name or email;
    /// `token:…` → `token <its name>`); the subject itself when there is nothing better.
    pub async fn display_name(&self, subject: &str) -> String {
        // A service token by its name (`token browser-manager`).
        if let Some(id) = subject.strip_prefix("token:") {
            return match crate::store::tokens::find(self.store.db(), &self.integrity, id).await {
                Ok(Some(token)) => format!("token {}", token.name),
                _ => subject.to_owned(),
            };
        }
        let Some(id) = subject.strip_prefix("member:") else {
            return subject.to_owned();
        };
        match repo::find(self.store.db(), &self.integrity, id).await {
            Ok(Some(member)) => member
                .name
                .or(member.email)
                .unwrap_or_else(|| subject.to_owned()),
            _ => subject.to_owned(),
        }
    }
}
