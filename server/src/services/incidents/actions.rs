//! What an incident step does: preparing its action (the secrets and rights it needs), running it
//! inside the step's transaction, and what it leaves behind (rotation tasks, revoked sessions).

use super::*;
use crate::audit::Outcome;
use crate::authz::{Action, ORG_WIDE};
use crate::domain::{AccountStatus, Justification, RotationKind, RotationReason};
use crate::services::accounts::AccountPatch;
use crate::services::accounts::{archived, ensure_usable};
use crate::services::runbooks::RunbookAction;
use crate::services::{Actor, Caller, Core, ServiceError};
use crate::store::accounts::{self as accounts_repo, Account};
use crate::store::audit::{self as audit_repo};
use crate::store::incidents::{self as repo, IncidentRow};
use crate::store::rotation::{self as rotation_repo, NewTask};
use crate::store::{backup as backup_repo, escrow as escrow_repo, secrets, sessions};
use crate::store::{now, WriteTx};

impl Core {
    pub(super) async fn record_action_failure(
        &self,
        caller: &Caller,
        row: &IncidentRow,
        team: &str,
        choice: &str,
        action: &RunbookAction,
        err: &ServiceError,
    ) {
        let outcome = match err {
            ServiceError::Forbidden | ServiceError::Refused { .. } => Outcome::Denied,
            _ => Outcome::Failure,
        };
        let event = caller
            .event("incident.action")
            .target(target(&row.id))
            .team(team)
            .outcome(outcome)
            .details(serde_json::json!({
                "runbook": row.runbook,
                "step": row.step,
                "choice": choice,
                "action": action.name(),
                "result": { "error": error_code(err) },
            }));
        self.record_standalone(event).await;
    }

    /// Decides the action's own right (a refusal is audited on the incident and leaves it
    /// where it is) and reads what it needs before the transaction.
    pub(super) async fn prepare_action(
        &self,
        caller: &Caller,
        row: &IncidentRow,
        account: &Account,
        team: &str,
        action: &RunbookAction,
        answer: &Answer,
    ) -> Result<Prepared, ServiceError> {
        let (scope, right) = match action {
            RunbookAction::FreezeAccount | RunbookAction::UnfreezeAccount => {
                (team, Action::AccountUpdate)
            }
            RunbookAction::CheckoutBackupCode => (team, Action::BackupCheckout),
            RunbookAction::ReportBackupCode(_) => (team, Action::BackupResult),
            RunbookAction::RevealTotp => (team, Action::TotpReveal),
            RunbookAction::OpenRotationTasks(_) => (team, Action::RotationOpen),
            RunbookAction::OpenBreakGlassRelease => (team, Action::AccountRead),
            RunbookAction::RevokeSessions => (ORG_WIDE, Action::MemberOffboard),
            RunbookAction::Notify => (team, Action::IncidentRun),
            RunbookAction::RequestAccess { .. } => (team, Action::AccessRequest),
        };
        let prepared = if self.may(caller, scope, right).await {
            self.prepare_needs(caller, row, account, team, action).await
        } else {
            Err(ServiceError::Refused {
                code: "action_not_allowed",
                message: format!(
                    "your role does not allow {} ({}) on this account; ask someone who may, or choose another answer",
                    action.name(),
                    right.as_str()
                ),
            })
        };
        if let Err(err) = &prepared {
            self.record_action_failure(caller, row, team, answer.choice.as_str(), action, err)
                .await;
        }
        prepared
    }

    /// What an allowed action needs before its transaction, and the refusals that need no
    /// lock (a frozen account, an old sign-in) decided without one.
    pub(super) async fn prepare_needs(
        &self,
        caller: &Caller,
        row: &IncidentRow,
        account: &Account,
        team: &str,
        action: &RunbookAction,
    ) -> Result<Prepared, ServiceError> {
        match action {
            RunbookAction::CheckoutBackupCode | RunbookAction::RevealTotp => {
                ensure_usable(account)?;
                self.require_recent_auth(caller)?;
                Ok(Prepared::Nothing)
            }
            RunbookAction::ReportBackupCode(outcome) => {
                let (Some(generation), Some(position)) =
                    (row.backup_generation, row.backup_position)
                else {
                    return Err(ServiceError::Conflict {
                        code: "no_code_checked_out",
                        message: "this incident has not checked out a backup code yet".to_owned(),
                    });
                };
                // Only the person holding the code reports it here, as over the API without
                // an explicit override.
                let plan = self
                    .plan_report(caller, &row.account_id, team, position, Some(generation), false)
                    .await
                    .map_err(|err| match err {
                        ServiceError::Refused { code, .. } if code == "not_code_holder" => {
                            ServiceError::Refused {
                                code,
                                message: "only the person who checked this code out reports whether it worked".to_owned(),
                            }
                        }
                        other => other,
                    })?;
                Ok(Prepared::Report(Box::new(plan), *outcome))
            }
            RunbookAction::OpenBreakGlassRelease => {
                let escrows = escrow_repo::active(self.store.db(), &self.integrity).await?;
                // The team's own escrow first, then an org-wide one.
                let escrow = escrows
                    .iter()
                    .find(|e| crate::services::escrow::teams_of(e).iter().any(|t| t == team))
                    .or_else(|| escrows.iter().find(|e| crate::services::escrow::covers(e, team)))
                    .ok_or_else(|| {
                    ServiceError::Conflict {
                        code: "no_escrow",
                        message: format!(
                            "no active break-glass escrow covers the team {team}; a security admin sets one up on the Break-glass page"
                        ),
                    }
                })?;
                let view = self.escrow_for_request(caller, &escrow.id).await?;
                Ok(Prepared::Release(Box::new(view)))
            }
            _ => Ok(Prepared::Nothing),
        }
    }

    pub(super) fn incident_justification(row: &IncidentRow) -> Justification {
        Justification::parse(&format!("incident {} ({})", row.id, row.runbook))
            .unwrap_or_else(|_| unreachable!("an incident's id and runbook make a justification"))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_action(
        &self,
        tx: WriteTx,
        caller: &Caller,
        row: &IncidentRow,
        account: &Account,
        team: &str,
        action: &RunbookAction,
        prepared: Prepared,
    ) -> Result<(WriteTx, ActionResult, Option<AfterCommit>), ServiceError> {
        let name = action.name();
        let done = |summary: serde_json::Value, secret: Option<Revealed>| ActionResult {
            action: name,
            summary,
            secret,
        };
        match (action, prepared) {
            (RunbookAction::FreezeAccount | RunbookAction::UnfreezeAccount, _) => {
                let status = if *action == RunbookAction::FreezeAccount {
                    AccountStatus::Frozen
                } else {
                    AccountStatus::Active
                };
                let patch = AccountPatch {
                    status: Some(status),
                    ..Default::default()
                };
                let updated = self
                    .update_account_in(&*tx, caller, &account.id, team, patch, Some(&row.id))
                    .await?;
                let summary = serde_json::json!({ "status": updated.status });
                Ok((tx, done(summary, None), None))
            }
            (RunbookAction::CheckoutBackupCode, _) => {
                let justification = Self::incident_justification(row);
                let (tx, out) = self
                    .check_out_in(tx, caller, account, team, justification)
                    .await?;
                repo::set_backup_code(&*tx, &row.id, out.generation, out.position).await?;
                let summary = serde_json::json!({
                    "generation": out.generation,
                    "position": out.position,
                    "remaining": out.remaining,
                    "warnings": out.warnings,
                });
                Ok((tx, done(summary, Some(Revealed::BackupCode(out))), None))
            }
            (RunbookAction::ReportBackupCode(_), Prepared::Report(plan, outcome)) => {
                let reported = self.report_in(&*tx, caller, team, *plan, outcome).await?;
                let summary = serde_json::json!({
                    "generation": reported.generation,
                    "position": reported.position,
                    "outcome": reported.state,
                    "remaining": reported.remaining,
                    "rejected_in_window": reported.failed.count,
                    "budget": reported.failed.budget,
                    "warnings": reported.warnings,
                });
                Ok((tx, done(summary, None), None))
            }
            (RunbookAction::RevealTotp, _) => {
                let justification = Self::incident_justification(row);
                let (tx, code) = self
                    .reveal_totp_in(
                        tx,
                        caller,
                        account,
                        team,
                        Some(justification),
                        Some(&row.id),
                    )
                    .await?;
                let summary = serde_json::json!({ "expires_in": code.expires_in });
                Ok((tx, done(summary, Some(Revealed::Totp(code))), None))
            }
            (RunbookAction::OpenRotationTasks(kinds), _) => {
                let summary = self
                    .open_incident_tasks(&tx, caller, account, team, kinds)
                    .await?;
                Ok((tx, done(summary, None), None))
            }
            (RunbookAction::OpenBreakGlassRelease, Prepared::Release(view)) => {
                let justification = Self::incident_justification(row);
                let requested = self
                    .request_release_in(&*tx, caller, *view, &justification)
                    .await?;
                let release = requested.view.release;
                let summary = serde_json::json!({
                    "release": release.id,
                    "escrow": release.escrow_id,
                    "threshold": release.threshold,
                });
                let secret = Revealed::ReleaseKey {
                    release: release.id.clone(),
                    key: requested.release_key,
                };
                let later = AfterCommit::Release(Box::new(release));
                Ok((tx, done(summary, Some(secret)), Some(later)))
            }
            (RunbookAction::RevokeSessions, _) => {
                let summary = self
                    .revoke_account_sessions(&tx, caller, row, account)
                    .await?;
                Ok((tx, done(summary, None), None))
            }
            (RunbookAction::Notify, _) => {
                let hooks = self.notifier.hook_count();
                let body = serde_json::json!({
                    "event": "incident.notify",
                    "incident": {
                        "id": row.id,
                        "runbook": row.runbook,
                        "step": row.step,
                        "account": account.id,
                        "team": team,
                        "platform": account.platform,
                        "handle": account.handle,
                        "by": caller.principal.subject(),
                    },
                    "url": format!("{}/incidents/{}", self.settings.public_url.trim_end_matches('/'), row.id),
                });
                let summary = serde_json::json!({ "hooks": hooks });
                let later = AfterCommit::Notify(body.to_string().into_bytes());
                Ok((tx, done(summary, None), Some(later)))
            }
            (RunbookAction::RequestAccess { actions, minutes }, _) => {
                let summary = self
                    .request_access_for_incident(
                        &tx, caller, account, team, actions, *minutes, &row.id,
                    )
                    .await?;
                Ok((tx, done(summary, None), None))
            }
            // A report without its plan, or a release without its escrow: prepared above.
            (RunbookAction::ReportBackupCode(_) | RunbookAction::OpenBreakGlassRelease, _) => {
                Err(ServiceError::Forbidden)
            }
        }
    }

    /// Opens a rotation task (reason `incident`) for each of `kinds` the account holds and
    /// has none open for yet.
    pub(super) async fn open_incident_tasks(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        account: &Account,
        team: &str,
        kinds: &[RotationKind],
    ) -> Result<serde_json::Value, ServiceError> {
        if account.status == AccountStatus::Archived.as_str() {
            return Err(archived());
        }
        // Two incidents opening tasks at once: the account's row lock makes one of each.
        accounts_repo::lock(&**tx, &account.id).await?;
        let reason = RotationReason::Incident.as_str();
        let mut opened = Vec::new();
        let mut skipped = Vec::new();
        for &kind in kinds {
            let held = match kind {
                RotationKind::BackupCodes => {
                    backup_repo::current(&**tx, &account.id).await?.is_some()
                }
                _ => secrets::current(&**tx, &account.id, kind.as_str())
                    .await?
                    .is_some(),
            };
            let open = rotation_repo::find_open(
                &**tx,
                &self.integrity,
                &account.id,
                kind.as_str(),
                reason,
                None,
            )
            .await?
            .is_some();
            if !held || open {
                skipped.push(serde_json::json!({
                    "kind": kind.as_str(),
                    "why": if held { "task_open" } else { "not_stored" },
                }));
                continue;
            }
            let new = NewTask {
                account_id: &account.id,
                kind: kind.as_str(),
                reason,
                secret_id: None,
                generation_id: None,
                member_id: None,
                due_at: self.rotation_due(kind),
                opened_by: &caller.principal.subject(),
            };
            let task = self
                .open_rotation_task(&**tx, &Actor::from(caller), team, new)
                .await?;
            opened.push(serde_json::json!({ "id": task.id, "kind": kind.as_str() }));
        }
        Ok(serde_json::json!({ "opened": opened, "skipped": skipped }))
    }

    /// Ends the Keyward sessions of every member (but the caller) who used one of the account's
    /// secrets in the last [`SESSION_LOOKBACK_DAYS`] days, as the audit trail shows.
    pub(super) async fn revoke_account_sessions(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        row: &IncidentRow,
        account: &Account,
    ) -> Result<serde_json::Value, ServiceError> {
        let since = now() - chrono::Duration::days(SESSION_LOOKBACK_DAYS);
        let actors = audit_repo::actors_of(
            &**tx,
            &format!("account:{}", account.id),
            &SECRET_USES,
            since,
        )
        .await?;
        let me = caller.principal.subject();
        let members: std::collections::BTreeSet<String> = actors
            .iter()
            .filter(|actor| **actor != me)
            .filter_map(|actor| actor.strip_prefix("member:"))
            .map(str::to_owned)
            .collect();
        let mut total = 0;
        for member in &members {
            let ended = sessions::delete_for_member(&**tx, member).await?;
            total += ended;
            if ended > 0 {
                let event = caller
                    .event("session.revoke")
                    .target(format!("member:{member}"))
                    .details(serde_json::json!({
                        "sessions": ended,
                        "why": "incident",
                        "incident": row.id,
                    }));
                crate::audit::append(&**tx, event).await?;
            }
        }
        Ok(serde_json::json!({ "members": members.len(), "sessions": total }))
    }
}
