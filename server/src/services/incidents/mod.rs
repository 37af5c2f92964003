//! Incidents: an account's guided run through a runbook. Starting one, answering its current
//! step, resolving and cancelling it are `incident.run`; reading it is `incident.read`. A
//! choice may run an action (freeze the account, check out the next backup code, …) as the
//! caller: its own right is decided first and a refusal audited on the incident, then the
//! step moves on, the action runs and both are recorded, all in one transaction. Of two answers
//! to one step, exactly one wins; the other is told the step changed. The timeline is the audit
//! trail: every event whose target is the incident, never a secret.

mod actions;
use super::accounts::archived;
use super::backup::{CheckedOut, CodeOutcome, FailedAttempts, ReportPlan};
use super::escrow::EscrowView;
use super::otp::TotpCode;
use super::runbooks::Runbook;
use super::{Caller, Core, ServiceError};
use crate::authz::Action;
use crate::domain::{AccountStatus, IncidentState, Invalid, Justification, RunbookKey};
use crate::store::accounts::{self as accounts_repo, Account};
use crate::store::audit::{self as audit_repo, AuditFilter};
use crate::store::incidents::{self as repo, IncidentFilter, IncidentRow};
use crate::store::{new_id, now};
use chrono::{DateTime, Utc};
use zeroize::Zeroizing;

/// Incidents listed at most.
const MAX_LIST: u64 = 500;
/// Timeline events shown at most.
const MAX_TIMELINE: u64 = 1000;
/// How far back `revoke_sessions` looks for the members who used the account's secrets.
const SESSION_LOOKBACK_DAYS: i64 = 30;
/// The audited uses of an account's secrets whose members `revoke_sessions` signs out.
const SECRET_USES: [&str; 6] = [
    "totp.reveal",
    "hotp.reveal",
    "totp.export",
    "hotp.export",
    "password.reveal",
    "backup.checkout",
];

pub fn target(id: &str) -> String {
    format!("incident:{id}")
}

/// An incident with what the pages and the API show beside it.
pub struct IncidentView {
    pub row: IncidentRow,
    pub team: String,
    pub platform: String,
    pub handle: String,
    /// Oldest first; `None` in lists.
    pub timeline: Option<Vec<TimelineEntry>>,
    /// Rejected backup codes in the platform's window, when one more may lock sign-in.
    pub failed_attempts: Option<FailedAttempts>,
}

impl IncidentView {
    pub fn state(&self) -> &str {
        &self.row.state
    }
}

/// One event of an incident's timeline.
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `incident.start`, `incident.answer`, `incident.action`, …
    pub event: String,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    pub step: Option<String>,
    pub choice: Option<String>,
    pub note: Option<String>,
    /// What an action did (never a secret).
    pub result: Option<serde_json::Value>,
}

/// An incident the caller may act on for one action: decided (and a refusal audited) before
/// anything the request carries is read.
pub struct AllowedIncident {
    row: IncidentRow,
    account: Account,
    team: String,
    action: Action,
}

impl AllowedIncident {
    fn for_action(self, action: Action) -> Result<(IncidentRow, Account, String), ServiceError> {
        if self.action == action {
            Ok((self.row, self.account, self.team))
        } else {
            Err(ServiceError::Forbidden)
        }
    }
}

/// What an answer's action produced: a summary that is also audited, and at most one value
/// shown once to the caller.
pub struct ActionResult {
    pub action: &'static str,
    pub summary: serde_json::Value,
    pub secret: Option<Revealed>,
}

/// A value an action hands to the caller once.
pub enum Revealed {
    BackupCode(CheckedOut),
    Totp(TotpCode),
    /// The release key of a break-glass release asked for; it reads the released secrets.
    ReleaseKey {
        release: String,
        key: Zeroizing<String>,
    },
}

pub struct Answered {
    pub view: IncidentView,
    pub result: Option<ActionResult>,
}

/// A validated answer.
pub struct Answer {
    pub step: RunbookKey,
    pub choice: RunbookKey,
    pub note: Option<Justification>,
    /// The incident's `answers` count the answer was given at: when present, it must still be
    /// current, so an old answer is refused even when the runbook has come back to its step.
    pub answers: Option<i32>,
}

/// What an action needs that was decided before its transaction.
enum Prepared {
    Nothing,
    Report(Box<ReportPlan>, CodeOutcome),
    Release(Box<EscrowView>),
}

/// Work after the commit: webhooks never hold a transaction.
enum AfterCommit {
    Notify(Vec<u8>),
    Release(Box<crate::store::escrow::ReleaseRow>),
}

fn closed(row: &IncidentRow) -> ServiceError {
    ServiceError::Conflict {
        code: "incident_closed",
        message: format!("the incident is {}; it takes no more answers", row.state),
    }
}

fn step_changed(current: &str) -> ServiceError {
    ServiceError::Conflict {
        code: "step_changed",
        message: format!(
            "this step was answered already (perhaps by someone else): the incident is now at step `{current}`; read it again and answer that step"
        ),
    }
}

/// The stable code of an error, for the timeline.
fn error_code(err: &ServiceError) -> &'static str {
    match err {
        ServiceError::Invalid(invalid) => invalid.code,
        ServiceError::NotFound(_) => "not_found",
        ServiceError::Forbidden => "forbidden",
        ServiceError::Refused { code, .. }
        | ServiceError::Conflict { code, .. }
        | ServiceError::Locked { code, .. }
        | ServiceError::Gone { code, .. }
        | ServiceError::RateLimited { code, .. }
        | ServiceError::SignIn { code, .. } => code,
        ServiceError::ReauthRequired => "reauth_required",
        ServiceError::IdpUnavailable => "idp_unavailable",
        ServiceError::KeyUnavailable(_) => "key_unavailable",
        ServiceError::Storage(_) => "storage_error",
        ServiceError::Internal { .. } => "internal_error",
    }
}

impl Core {
    /// Loads an incident with its account and team, and decides `action` on it (a refusal is
    /// audited). An id that cannot be an incident id is unknown without a query.
    pub async fn allow_incident(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> Result<AllowedIncident, ServiceError> {
        let db = self.store.db();
        let found = if crate::domain::is_id(id) {
            repo::find(db, id).await?
        } else {
            None
        };
        let row = found.ok_or(ServiceError::NotFound(crate::services::Missing::Incident))?;
        let account = accounts_repo::find(db, &self.integrity, &row.account_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Account))?;
        let team = accounts_repo::team_slug(db, &self.integrity, &account.team_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Team))?;
        self.authorize(caller, &team, action, Some(&target(id)))
            .await?;
        Ok(AllowedIncident {
            row,
            account,
            team,
            action,
        })
    }

    /// The runbook an incident follows; one removed from the folder since is a conflict.
    fn runbook_of(&self, row: &IncidentRow) -> Result<&Runbook, ServiceError> {
        self.runbooks
            .get(&row.runbook)
            .ok_or_else(|| ServiceError::Conflict {
                code: "runbook_missing",
                message: format!(
                    "the runbook `{}` is no longer installed; resolve or cancel the incident",
                    row.runbook
                ),
            })
    }

    /// Starts an incident on an account the caller may run incidents on.
    pub async fn start_incident(
        &self,
        caller: &Caller,
        allowed: &super::Allowed,
        runbook: &RunbookKey,
        note: Option<Justification>,
    ) -> Result<IncidentView, ServiceError> {
        let (account, team) = allowed.for_action(Action::IncidentRun)?;
        let runbook = self
            .runbooks
            .get(runbook.as_str())
            .ok_or(ServiceError::NotFound(crate::services::Missing::Runbook))?;
        if account.status == AccountStatus::Archived.as_str() {
            return Err(archived());
        }
        let at = now();
        let row = IncidentRow {
            id: new_id(),
            account_id: account.id.clone(),
            team_id: account.team_id.clone(),
            runbook: runbook.id.clone(),
            state: IncidentState::Open.as_str().to_owned(),
            step: runbook.start.clone(),
            answers: 0,
            backup_generation: None,
            backup_position: None,
            note: note.as_ref().map(|n| n.as_str().to_owned()),
            summary: None,
            opened_by: caller.principal.subject(),
            opened_at: at,
            updated_at: at,
            closed_by: None,
            closed_at: None,
        };
        let tx = self.store.begin_write().await?;
        let row = repo::insert(&*tx, row).await?;
        let event = caller
            .event("incident.start")
            .target(target(&row.id))
            .team(team)
            .details(serde_json::json!({
                "account": row.account_id,
                "runbook": row.runbook,
                "step": row.step,
                "note": row.note,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        self.incident_view(row, account.clone(), team.to_owned())
            .await
    }

    /// One incident with its timeline.
    pub async fn incident(&self, caller: &Caller, id: &str) -> Result<IncidentView, ServiceError> {
        let allowed = self
            .allow_incident(caller, id, Action::IncidentRead)
            .await?;
        let (row, account, team) = allowed.for_action(Action::IncidentRead)?;
        self.incident_view(row, account, team).await
    }

    /// Decides whether the caller may answer this incident (for the dashboard's controls;
    /// the answer itself decides again).
    pub async fn may_run_incident(&self, caller: &Caller, team: &str) -> bool {
        self.may(caller, team, Action::IncidentRun).await
    }

    async fn incident_view(
        &self,
        row: IncidentRow,
        account: Account,
        team: String,
    ) -> Result<IncidentView, ServiceError> {
        let db = self.store.db();
        let filter = AuditFilter {
            target: Some(target(&row.id)),
            ..Default::default()
        };
        let timeline = audit_repo::search(db, &filter, MAX_TIMELINE)
            .await?
            .into_iter()
            // Refusals to read or answer it (`auth.denied`) stay in the audit trail.
            .filter(|event| event.action.starts_with("incident."))
            .map(|event| {
                let details: serde_json::Value =
                    serde_json::from_str(&event.details).unwrap_or_default();
                let text = |key: &str| details.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                TimelineEntry {
                    at: event.at,
                    actor: event.actor,
                    outcome: event.outcome,
                    step: text("step"),
                    choice: text("choice"),
                    note: text("note")
                        .or_else(|| text("summary"))
                        .or_else(|| text("reason")),
                    result: details.get("result").cloned(),
                    event: event.action,
                }
            })
            .collect();
        let failed = self.failed_attempts(db, &row.account_id).await?;
        let open = row.state == IncidentState::Open.as_str();
        Ok(IncidentView {
            failed_attempts: (open && failed.count > 0 && failed.near_limit()).then_some(failed),
            row,
            team,
            platform: account.platform,
            handle: account.handle,
            timeline: Some(timeline),
        })
    }

    /// Incidents on the accounts whose incidents the caller may read, newest first.
    pub async fn incidents(
        &self,
        caller: &Caller,
        state: Option<IncidentState>,
        account: Option<&str>,
    ) -> Result<Vec<IncidentView>, ServiceError> {
        let db = self.store.db();
        let teams = self
            .teams_allowing(caller, None, Action::IncidentRead)
            .await?;
        if teams.as_ref().is_some_and(|t| t.is_empty()) {
            return Ok(Vec::new());
        }
        if account.is_some_and(|a| !crate::domain::is_id(a)) {
            return Ok(Vec::new());
        }
        let filter = IncidentFilter {
            state: state.map(|s| s.as_str().to_owned()),
            account: account.map(str::to_owned),
            team_ids: teams.as_ref().map(|t| t.keys().cloned().collect()),
        };
        let rows = repo::list(db, &filter, MAX_LIST).await?;
        let slugs = match teams {
            Some(known) => known,
            None => accounts_repo::team_slugs(db, &self.integrity).await?,
        };
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(account) = accounts_repo::find(db, &self.integrity, &row.account_id).await?
            else {
                continue;
            };
            views.push(IncidentView {
                team: slugs.get(&row.team_id).cloned().unwrap_or_default(),
                platform: account.platform,
                handle: account.handle,
                timeline: None,
                failed_attempts: None,
                row,
            });
        }
        Ok(views)
    }

    /// Answers the incident's current step. The choice's action (if any) runs as the caller,
    /// with the caller's rights, in the transaction that moves the incident on.
    pub async fn answer_incident(
        &self,
        caller: &Caller,
        allowed: AllowedIncident,
        answer: Answer,
    ) -> Result<Answered, ServiceError> {
        let (row, account, team) = allowed.for_action(Action::IncidentRun)?;
        if row.state != IncidentState::Open.as_str() {
            return Err(closed(&row));
        }
        if row.step != answer.step.as_str() || answer.answers.is_some_and(|n| n != row.answers) {
            return Err(step_changed(&row.step));
        }
        let runbook = self.runbook_of(&row)?;
        let step = runbook
            .step(&row.step)
            .ok_or_else(|| ServiceError::Conflict {
                code: "runbook_changed",
                message: format!(
                    "step `{}` is no longer in the runbook; resolve or cancel the incident",
                    row.step
                ),
            })?;
        let choice = step.choice(answer.choice.as_str()).ok_or_else(|| {
            let known: Vec<&str> = step.choices.iter().map(|c| c.id.as_str()).collect();
            Invalid::new(
                "unknown_choice",
                format!(
                    "step `{}` has no choice `{}`; its choices are: {}",
                    step.id,
                    answer.choice.as_str(),
                    if known.is_empty() {
                        "none (it is the end; resolve the incident)".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let action = choice.action.clone();
        let prepared = match &action {
            Some(action) => {
                self.prepare_action(caller, &row, &account, &team, action, &answer)
                    .await?
            }
            None => Prepared::Nothing,
        };
        let tx = self.store.begin_write().await?;
        if !repo::advance(&*tx, &row.id, &row.step, row.answers, &choice.next).await? {
            drop(tx);
            return Err(match repo::find(self.store.db(), &row.id).await? {
                Some(now) if now.state != IncidentState::Open.as_str() => closed(&now),
                Some(now) => step_changed(&now.step),
                None => ServiceError::NotFound(crate::services::Missing::Incident),
            });
        }
        let answered = caller
            .event("incident.answer")
            .target(target(&row.id))
            .team(&team)
            .details(serde_json::json!({
                "runbook": row.runbook,
                "step": row.step,
                "choice": choice.id,
                "next": choice.next,
                "note": answer.note.as_ref().map(Justification::as_str),
            }));
        crate::audit::append(&*tx, answered).await?;
        let mut after = None;
        let mut result = None;
        let tx = match &action {
            None => tx,
            Some(action) => {
                let ran = self
                    .run_action(tx, caller, &row, &account, &team, action, prepared)
                    .await;
                match ran {
                    Ok((tx, done, later)) => {
                        let event = caller
                            .event("incident.action")
                            .target(target(&row.id))
                            .team(&team)
                            .details(serde_json::json!({
                                "runbook": row.runbook,
                                "step": row.step,
                                "choice": choice.id,
                                "action": done.action,
                                "result": done.summary,
                            }));
                        crate::audit::append(&*tx, event).await?;
                        after = later;
                        result = Some(done);
                        tx
                    }
                    Err(err) => {
                        // The transaction is gone: the incident stays at this step.
                        self.record_action_failure(caller, &row, &team, &choice.id, action, &err)
                            .await;
                        return Err(err);
                    }
                }
            }
        };
        tx.commit().await?;
        match after {
            Some(AfterCommit::Notify(body)) => self.notifier.send(body),
            Some(AfterCommit::Release(release)) => {
                self.notify_release("release.requested", &release)
            }
            None => {}
        }
        // Committed: a code may be checked out to the caller, so the answer is given whatever
        // happens to the re-read of the incident.
        let moved = IncidentRow {
            step: choice.next.clone(),
            answers: row.answers + 1,
            updated_at: now(),
            ..row.clone()
        };
        let fresh = match repo::find(self.store.db(), &row.id).await {
            Ok(Some(fresh)) => fresh,
            _ => moved.clone(),
        };
        let view = match self
            .incident_view(fresh, account.clone(), team.clone())
            .await
        {
            Ok(view) => view,
            Err(err) => {
                tracing::warn!(error = %err, "incident answered; its view is shown without the timeline");
                IncidentView {
                    row: moved,
                    team,
                    platform: account.platform,
                    handle: account.handle,
                    timeline: None,
                    failed_attempts: None,
                }
            }
        };
        Ok(Answered { view, result })
    }

    /// Resolves an open incident with what happened.
    pub async fn resolve_incident(
        &self,
        caller: &Caller,
        allowed: AllowedIncident,
        summary: Justification,
    ) -> Result<IncidentView, ServiceError> {
        self.close_incident(caller, allowed, IncidentState::Resolved, summary)
            .await
    }

    /// Cancels an open incident (started by mistake, or a duplicate).
    pub async fn cancel_incident(
        &self,
        caller: &Caller,
        allowed: AllowedIncident,
        reason: Justification,
    ) -> Result<IncidentView, ServiceError> {
        self.close_incident(caller, allowed, IncidentState::Cancelled, reason)
            .await
    }

    async fn close_incident(
        &self,
        caller: &Caller,
        allowed: AllowedIncident,
        state: IncidentState,
        text: Justification,
    ) -> Result<IncidentView, ServiceError> {
        let (row, account, team) = allowed.for_action(Action::IncidentRun)?;
        if row.state != IncidentState::Open.as_str() {
            return Err(closed(&row));
        }
        let (action, key) = match state {
            IncidentState::Resolved => ("incident.resolve", "summary"),
            _ => ("incident.cancel", "reason"),
        };
        let tx = self.store.begin_write().await?;
        let subject = caller.principal.subject();
        if !repo::close(&*tx, &row.id, state.as_str(), &subject, text.as_str()).await? {
            drop(tx);
            let now = repo::find(self.store.db(), &row.id).await?;
            return Err(closed(now.as_ref().unwrap_or(&row)));
        }
        let mut details = serde_json::json!({ "runbook": row.runbook, "step": row.step });
        details[key] = text.as_str().into();
        let event = caller
            .event(action)
            .target(target(&row.id))
            .team(&team)
            .details(details);
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        let row = repo::find(self.store.db(), &row.id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Incident))?;
        self.incident_view(row, account, team).await
    }
}
