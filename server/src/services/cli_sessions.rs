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

impl Core {
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
        Ok(rows
            .into_iter()
            .map(|r| CliSession {
                id: r.id_hash,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                expires_at: r.expires_at,
                ip: r.ip,
                user_agent: r.user_agent,
            })
            .collect())
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
        let well_formed =
            session_id.len() == 64 && session_id.bytes().all(|b| b.is_ascii_hexdigit());
        let tx = self.store.begin_write().await?;
        if !well_formed || !sessions::delete_cli(&*tx, member_id, session_id).await? {
            return Err(ServiceError::NotFound(Missing::Session));
        }
        let event = caller
            .event("session.revoke")
            .target(target)
            .details(serde_json::json!({
                "client": "cli",
                "session": &session_id[..12],
                "how": "members_page",
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
