//! Reading and verifying the audit trail (org-wide: auditor and security_admin), and keeping
//! its witness: the signed head outside the database.

use super::audit_state::{locked, replace};
use super::{Caller, Core, ServiceError};
use crate::audit::checkpoint::{self, Trust};
use crate::audit::witness::{self, Advance, AdvanceError, Witness};
use crate::audit::VerifyReport;
use crate::authz::{Action, ORG_WIDE};
use crate::store::audit::{self as repo, AuditFilter, AuditRow};

/// An export that was allowed and audited: only such an export reads its pages.
pub struct AuditExport {
    filter: AuditFilter,
}

impl AuditExport {
    /// The next `limit` events after `after` that the export's filter selects.
    pub async fn page(
        &self,
        core: &Core,
        after: i64,
        limit: u64,
    ) -> Result<Vec<AuditRow>, sea_orm::DbErr> {
        let filter = AuditFilter {
            after,
            ..self.filter.clone()
        };
        repo::search(core.store.db(), &filter, limit).await
    }
}

/// The most events one page returns.
pub const MAX_PAGE: u64 = 500;

/// The chain as the audit page shows it.
pub struct ChainStatus {
    /// This check: the events new since the last one (or all of them).
    pub report: VerifyReport,
    /// The last time the whole chain was recomputed, and its result.
    pub last_full: Option<(chrono::DateTime<chrono::Utc>, VerifyReport)>,
}

async fn latest_checkpoint_seq(db: &impl sea_orm::ConnectionTrait) -> Result<i64, sea_orm::DbErr> {
    Ok(repo::latest_checkpoint(db).await?.map_or(0, |c| c.seq))
}

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

    /// [`Core::list_audit`] newest first: up to `limit` events before `before`, and the
    /// `before` of the next (older) page when there may be one.
    pub async fn list_audit_newest(
        &self,
        caller: &Caller,
        filter: AuditFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<(Vec<AuditRow>, Option<i64>), ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = repo::search_newest(self.store.db(), &filter, before, limit).await?;
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last().map(|r| r.seq))
            .flatten();
        Ok((rows, next))
    }

    /// Recomputes the whole chain and checks anchors, checkpoints and the witness (auditor,
    /// security_admin). The cheap view for pages is [`Core::audit_chain_status`].
    pub async fn verify_audit(&self, caller: &Caller) -> Result<VerifyReport, ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        self.verify_audit_fully().await
    }

    /// The whole chain, recomputed (the API's verify, the background job).
    pub async fn verify_audit_fully(&self) -> Result<VerifyReport, ServiceError> {
        let state = &self.audit_state;
        let key_id = self.keyring.checkpoint_key_id();
        let witness = match self.read_witness() {
            Ok(witness) => witness,
            Err(report) => return Ok(*report),
        };
        let trust = Trust {
            key_id: &key_id,
            witness: witness.as_ref(),
        };
        let checkpoints_through = latest_checkpoint_seq(self.store.db()).await?;
        let report = checkpoint::verify_all(self.store.db(), Some(trust), |_| {}).await?;
        state.remember(&report, checkpoints_through);
        replace(&state.last_full, Some((chrono::Utc::now(), report.clone())));
        Ok(report)
    }

    /// The chain's state for the audit page: only what is new since the last verified head is
    /// recomputed (the whole chain when that head is gone), with the checkpoints after it in
    /// one query and the witness; plus when the whole chain was last recomputed.
    pub async fn audit_chain_status(&self, caller: &Caller) -> Result<ChainStatus, ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        let state = &self.audit_state;
        let db = self.store.db();
        let key_id = self.keyring.checkpoint_key_id();
        let witness = match self.read_witness() {
            Ok(witness) => witness,
            Err(report) => {
                return Ok(ChainStatus {
                    report: *report,
                    last_full: locked(&state.last_full),
                })
            }
        };
        let trust = Trust {
            key_id: &key_id,
            witness: witness.as_ref(),
        };
        let checkpoints_through = latest_checkpoint_seq(db).await?;
        let archived = repo::latest_anchor(db).await?.map(|a| a.seq);
        let resume = match &locked(&state.mark) {
            Some((point, after)) if point.seq > archived.unwrap_or(0) => repo::event(db, point.seq)
                .await?
                .filter(|e| e.hash == point.hash)
                .map(|_| (point.clone(), *after)),
            _ => None,
        };
        let report = match resume {
            Some((point, after)) => {
                let chain = crate::audit::verify_after(db, point, archived, |_| {}).await?;
                checkpoint::verify(db, trust, after, chain).await?
            }
            None => checkpoint::verify_all(db, Some(trust), |_| {}).await?,
        };
        state.remember(&report, checkpoints_through);
        Ok(ChainStatus {
            report,
            last_full: locked(&state.last_full),
        })
    }

    /// The witness file's signed head; a file that is there but unreadable or not a witness is
    /// itself a failed verification.
    fn read_witness(&self) -> Result<Option<Witness>, Box<VerifyReport>> {
        let Some(path) = self.settings.witness_path() else {
            return Ok(None);
        };
        Witness::read(&path).map_err(|err| {
            Box::new(VerifyReport {
                ok: false,
                checked: 0,
                head: String::new(),
                head_seq: 0,
                first_bad_seq: Some(0),
                reason: Some(err.to_string()),
                checkpoints: 0,
                archived_through: None,
                witness_seq: None,
            })
        })
    }

    /// Moves the witness file to the chain head (when it moved; never backwards, never onto
    /// another chain). The server does this every `audit.witness_seconds`.
    pub async fn witness_audit(&self) -> Result<(), ServiceError> {
        if let Some(path) = self.settings.witness_path() {
            let mut witnessed = self.audit_state.witnessed.lock().await;
            let known = witnessed.clone();
            match witness::advance(self.store.db(), &self.keyring, &path, known).await {
                Ok(Advance::Written(w) | Advance::Unchanged(w)) => *witnessed = Some(w),
                Ok(Advance::Refused(why)) => {
                    tracing::error!(witness = %path.display(), reason = %why,
                        "audit witness not moved: the log no longer contains the head the witness signed; run `keyward audit verify`");
                }
                Err(AdvanceError::Db(err)) => return Err(err.into()),
                Err(err) => {
                    tracing::error!(error = %err, "audit witness could not be written");
                }
            }
        }
        Ok(())
    }

    /// Authorizes an export and records it (with its filter) before any event is sent.
    pub async fn start_audit_export(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
        format: crate::audit::ExportFormat,
    ) -> Result<AuditExport, ServiceError> {
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
        Ok(AuditExport {
            filter: filter.clone(),
        })
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

/// Where one SIEM destination stands.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ForwarderStatus {
    pub name: String,
    /// `syslog` or `webhook`.
    pub kind: String,
    /// Scheme, host and port only.
    pub destination: String,
    /// The last sequence number delivered (null before the first round).
    pub delivered_seq: Option<i64>,
    /// The newest event's sequence number.
    pub head_seq: i64,
    /// Events not yet delivered.
    pub lag: i64,
    /// Failed deliveries since the last success.
    pub failures: i32,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `delivering`, `retrying`, `up to date` or `not started`.
    pub state: String,
}

/// The configured destinations with their cursors (no authorization: for the CLI, which
/// runs with the operator's access to the configuration and database).
pub async fn forwarder_status(
    store: &crate::store::Store,
    settings: &crate::config::Settings,
) -> Result<Vec<ForwarderStatus>, sea_orm::DbErr> {
    let head_seq = repo::head(store.db()).await?.map_or(0, |(seq, _)| seq);
    let cursors = repo::cursors(store.db()).await?;
    Ok(settings
        .audit
        .forward
        .iter()
        .map(|f| {
            let cursor = cursors.iter().find(|c| c.name == f.name);
            let delivered = cursor.map(|c| c.seq);
            let lag = head_seq - delivered.unwrap_or(0);
            let failures = cursor.map_or(0, |c| c.failures);
            let state = match (cursor, failures, lag) {
                (None, _, _) => "not started",
                (Some(_), f, _) if f > 0 => "retrying",
                (Some(_), _, 0) => "up to date",
                _ => "delivering",
            };
            ForwarderStatus {
                name: f.name.clone(),
                kind: if f.url.starts_with("https:") {
                    "webhook"
                } else {
                    "syslog"
                }
                .to_owned(),
                destination: crate::config::redacted_url(&f.url),
                delivered_seq: delivered,
                head_seq,
                lag,
                failures,
                last_error: cursor.and_then(|c| c.last_error.clone()),
                last_attempt_at: cursor.and_then(|c| c.last_attempt_at),
                delivered_at: cursor.and_then(|c| c.delivered_at),
                state: state.to_owned(),
            }
        })
        .collect())
}

impl Core {
    /// The SIEM destinations and how far each has got (auditor, security_admin).
    pub async fn audit_forwarders(
        &self,
        caller: &Caller,
    ) -> Result<Vec<ForwarderStatus>, ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::AuditRead, None)
            .await?;
        Ok(forwarder_status(&self.store, &self.settings).await?)
    }

    /// Archives and removes events older than `cutoff` (see `audit::retention`), one archive
    /// file per run of at most `retention::MAX_EVENTS_PER_FILE` events; `progress` hears of each.
    pub async fn archive_audit(
        &self,
        actor: &str,
        cutoff: chrono::DateTime<chrono::Utc>,
        mut progress: impl FnMut(&crate::audit::retention::Archived),
    ) -> Result<Vec<crate::audit::retention::Archived>, crate::audit::retention::RetentionError>
    {
        let Some(dir) = &self.settings.audit.archive_dir else {
            return Ok(Vec::new());
        };
        let forwarders: Vec<String> = self
            .settings
            .audit
            .forward
            .iter()
            .map(|f| f.name.clone())
            .collect();
        // Up to the head as it is now: later events (this call's own included) wait.
        let head = repo::head(self.store.db()).await?.map_or(0, |(seq, _)| seq);
        let mut archived = Vec::new();
        let job = crate::audit::retention::Job {
            store: &self.store,
            keyring: &self.keyring,
            dir,
            cutoff,
            forwarders: &forwarders,
            max_seq: head - 1,
            actor,
        };
        while let Some(file) = job.run().await? {
            progress(&file);
            archived.push(file);
        }
        // The exposure ledger outlives the events: only rows of replaced secrets go.
        let tx = self.store.begin_write().await?;
        let pruned = crate::store::exposure::prune(&*tx, cutoff).await?;
        if pruned > 0 {
            let event = crate::audit::Event::new(actor.to_owned(), "exposure.prune")
                .details(serde_json::json!({ "rows": pruned, "before": cutoff }));
            crate::audit::append(&*tx, event).await?;
            tx.commit().await?;
        }
        Ok(archived)
    }
}

impl Core {
    /// Accounts whose handle key is `key` (on `platform`, if given), at most 20: how the
    /// audit viewer turns a typed handle into an account. Handles only, never a secret.
    pub async fn accounts_with_handle(
        &self,
        platform: Option<crate::domain::Platform>,
        key: &str,
    ) -> Result<Vec<crate::store::accounts::Account>, ServiceError> {
        let filter = crate::store::accounts::AccountFilter {
            platform: platform.map(|p| p.as_str().to_owned()),
            handle_contains: Some(key.to_owned()),
            ..Default::default()
        };
        Ok(
            crate::store::accounts::list(self.store.db(), &self.integrity, &filter, 20)
                .await?
                .into_iter()
                .filter(|a| a.handle_key.as_deref() == Some(key))
                .collect(),
        )
    }

    /// The account `id` names, to label an event with its platform and handle.
    pub async fn account_for_label(&self, id: &str) -> Option<crate::store::accounts::Account> {
        if !crate::domain::is_id(id) {
            return None;
        }
        crate::store::accounts::find(self.store.db(), &self.integrity, id)
            .await
            .ok()
            .flatten()
    }
}
