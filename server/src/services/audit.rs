//! Reading and verifying the audit trail (org-wide: auditor and security_admin).

use super::{Caller, Core, ServiceError};
use crate::audit::VerifyReport;
use crate::authz::{Action, ORG_WIDE};
use crate::store::audit::{self as repo, AuditFilter, AuditRow};

/// The most events one page returns.
pub const MAX_PAGE: u64 = 500;

impl Core {
    /// A page of events after `filter.after`; the second value is the cursor for the next page.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        filter: AuditFilter,
        limit: u64,
    ) -> Result<(Vec<AuditRow>, Option<i64>), ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = repo::search(self.store.db(), &filter, limit).await?;
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last().map(|r| r.seq))
            .flatten();
        Ok((rows, next))
    }

    pub async fn verify_audit(&self, caller: &Caller) -> Result<VerifyReport, ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        let db = self.store.db();
        let chain = crate::audit::verify(db, |_| {}).await?;
        let key_id = self.keyring.checkpoint_key_id();
        Ok(crate::audit::checkpoint::verify(db, &key_id, chain).await?)
    }

    /// Authorizes an export and records it (with its filter) before any event is sent.
    pub async fn start_audit_export(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        format: crate::audit::ExportFormat,
    ) -> Result<(), ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        let tx = self.store.begin_write().await?;
        let event = caller.event("audit.export").details(serde_json::json!({
            "format": format!("{format:?}").to_lowercase(),
            "actor": filter.actor,
            "target": filter.target,
            "action": filter.action,
            "since": filter.since.map(|t| t.to_rfc3339()),
            "until": filter.until.map(|t| t.to_rfc3339()),
        }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs a checkpoint of the chain head if one is due (see `[audit]` in the settings).
    pub async fn checkpoint_audit(&self) -> Result<(), ServiceError> {
        let audit = &self.settings.audit;
        let due = crate::audit::checkpoint::Due {
            events: i64::from(audit.checkpoint_every_events.max(1)),
            age: chrono::Duration::minutes(i64::from(audit.checkpoint_every_minutes)),
        };
        crate::audit::checkpoint::write(&self.store, &self.keyring, due).await?;
        Ok(())
    }
}
