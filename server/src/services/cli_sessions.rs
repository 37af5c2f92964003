//! The command lines signed in as a member (`kw` sessions, see [`super::device`]): listed on
//! the member's page, each ended there by a security admin, audited as `session.revoke`.

use super::offboarding::member_target;
use super::{Caller, Core, Missing, ServiceError};
use crate::authz::{Action, ORG_WIDE};
use crate::store::sessions;
use chrono::{DateTime, Utc};

/// A command line's session, as the member's page shows it.
pub struct CliSession {
    /// The session's handle: the hash of its token (the token itself is never stored).
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<sessions::SessionRow> for CliSession {
    fn from(r: sessions::SessionRow) -> Self {
        Self {
            id: r.id_hash,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

impl Core {
    /// The caller's own signed-in command lines (none for a service token).
    pub async fn my_cli_sessions(&self, caller: &Caller) -> Result<Vec<CliSession>, ServiceError> {
        if caller.session.is_none() {
            return Ok(Vec::new());
        }
        let rows =
            sessions::cli_of_member(self.store.db(), &self.integrity, &caller.principal.id).await?;
        Ok(rows.into_iter().map(CliSession::from).collect())
    }

    /// Ends one of the caller's own command-line sessions (a command line they no longer
    /// trust, or one they approved by mistake); audited `session.revoke`.
    pub async fn end_my_cli_session(
        &self,
        caller: &Caller,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        if caller.session.is_none() {
            return Err(ServiceError::NotFound(Missing::Session));
        }
        self.end_cli_session(caller, &caller.principal.id, session_id, "self")
            .await
    }

    async fn end_cli_session(
        &self,
        caller: &Caller,
        member_id: &str,
        session_id: &str,
        how: &str,
    ) -> Result<(), ServiceError> {
        let well_formed =
            session_id.len() == 64 && session_id.bytes().all(|b| b.is_ascii_hexdigit());
        let tx = self.store.begin_write().await?;
        if !well_formed || !sessions::delete_cli(&*tx, member_id, session_id).await? {
            return Err(ServiceError::NotFound(Missing::Session));
        }
        let event = caller
            .event("session.revoke")
            .target(member_target(member_id))
            .details(serde_json::json!({
                "client": "cli",
                "session": &session_id[..12],
                "how": how,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The member's signed-in command lines (org-wide `member.read`).
    pub async fn cli_sessions(
        &self,
        caller: &Caller,
        member_id: &str,
    ) -> Result<Vec<CliSession>, ServiceError> {
        let target = member_target(member_id);
        self.authorize(caller, ORG_WIDE, Action::MemberRead, Some(&target))
            .await?;
        let rows = sessions::cli_of_member(self.store.db(), &self.integrity, member_id).await?;
        Ok(rows.into_iter().map(CliSession::from).collect())
    }

    /// Ends one of the member's command-line sessions (org-wide `member.offboard`: a security
    /// admin). The next request with its token is refused.
    pub async fn revoke_cli_session(
        &self,
        caller: &Caller,
        member_id: &str,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let target = member_target(member_id);
        self.authorize(caller, ORG_WIDE, Action::MemberOffboard, Some(&target))
            .await?;
        self.end_cli_session(caller, member_id, session_id, "members_page")
            .await
    }
}
