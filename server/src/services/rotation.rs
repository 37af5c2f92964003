//! Rotation tasks: opened by departures (and by low backup codes), closed only by storing a
//! new version or generation in the same transaction, assigned by managers, dismissed by
//! security admins with a justification. There is no "mark as done".

use super::{Actor, Caller, Core, ServiceError};
use crate::audit::Event;
use crate::authz::Action;
use crate::domain::{Justification, RotationKind, RotationReason, TaskState};
use crate::store::accounts::{self as accounts_repo, Account};
use crate::store::rotation::{self as repo, NewTask, TaskFilter, TaskRow};
use chrono::{DateTime, Duration, Utc};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

/// A task with the account it belongs to.
#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: TaskRow,
    pub team: String,
    pub platform: String,
    pub handle: String,
}

impl TaskView {
    pub fn overdue(&self) -> bool {
        self.task.state == repo::OPEN && self.task.due_at.is_some_and(|due| due < Utc::now())
    }

    pub fn kind(&self) -> Option<RotationKind> {
        RotationKind::parse(&self.task.secret_kind).ok()
    }
}

/// What to list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct TaskQuery {
    pub state: Option<TaskState>,
    pub account: Option<String>,
    pub reason: Option<RotationReason>,
    pub overdue: bool,
    /// Only tasks given to this member.
    pub assignee: Option<String>,
    /// Only done and dismissed tasks, the most recently closed first.
    pub closed: bool,
}

fn task_target(id: &str) -> String {
    format!("rotation_task:{id}")
}

fn not_open() -> ServiceError {
    ServiceError::Conflict {
        code: "task_not_open",
        message: "this rotation task is already done or dismissed".to_owned(),
    }
}

impl Core {
    /// When a task for `kind` opened now is due.
    pub(crate) fn rotation_due(&self, kind: RotationKind) -> DateTime<Utc> {
        due(&self.settings.rotation, kind)
    }

    /// Opens a task in `db` (the caller's transaction) and records `rotation.open` there.
    pub(crate) async fn open_rotation_task(
        &self,
        db: &impl ConnectionTrait,
        actor: &Actor,
        team: &str,
        new: NewTask<'_>,
    ) -> Result<TaskRow, ServiceError> {
        open_task(db, &self.integrity, actor, team, new).await
    }
    /// Closes the account's open tasks for `kind`: a new version (or generation) numbered
    /// `version` was stored in `db`, the same transaction. Records `rotation.done` for each.
    pub(crate) async fn complete_rotation_tasks(
        &self,
        db: &impl ConnectionTrait,
        caller: &Caller,
        account_id: &str,
        team: &str,
        kind: RotationKind,
        version: i32,
    ) -> Result<Vec<String>, ServiceError> {
        let by = caller.principal.subject();
        let closed =
            repo::complete(db, &self.integrity, account_id, kind.as_str(), &by, version).await?;
        for task in &closed {
            let event = caller
                .event("rotation.done")
                .target(task_target(&task.id))
                .team(team)
                .details(serde_json::json!({
                    "account": account_id,
                    "kind": kind.as_str(),
                    "reason": task.reason,
                    "member": task.member_id,
                    "resulting_version": version,
                    "overdue": task.due_at.is_some_and(|due| due < Utc::now()),
                }));
            crate::audit::append(db, event).await?;
        }
        Ok(closed.into_iter().map(|t| t.id).collect())
    }

    /// Tasks on the accounts the caller may read, filtered.
    pub async fn rotation_tasks(
        &self,
        caller: &Caller,
        query: TaskQuery,
    ) -> Result<Vec<TaskView>, ServiceError> {
        let db = self.store.db();
        let teams = self.readable_teams(caller, None).await?;
        if teams.as_ref().is_some_and(HashMap::is_empty) {
            return Ok(Vec::new());
        }
        let mut filter = TaskFilter {
            state: query.state.map(|s| s.as_str().to_owned()),
            reason: query.reason.map(|r| r.as_str().to_owned()),
            overdue: query.overdue,
            closed: query.closed,
            assignee: query.assignee,
            ..TaskFilter::default()
        };
        // Only the accounts the caller may read are queried, so the limit applies to what they
        // may see (an org-wide reader's query has no account filter).
        let readable = match &teams {
            Some(teams) => {
                let ids: Vec<String> = teams.keys().cloned().collect();
                Some(accounts_repo::ids_in_teams(db, &self.integrity, &ids).await?)
            }
            None => None,
        };
        filter.account_ids = match (&query.account, readable) {
            (Some(account), _) if !crate::domain::is_id(account) => return Ok(Vec::new()),
            (Some(account), Some(readable)) if !readable.contains(account) => return Ok(Vec::new()),
            (Some(account), _) => Some(vec![account.clone()]),
            (None, readable) => readable,
        };
        let rows = repo::list(db, &self.integrity, &filter, repo::LIST_LIMIT).await?;
        self.views(rows, teams.as_ref()).await
    }

    /// Tasks with their accounts (all of them).
    pub(crate) async fn task_views(
        &self,
        rows: Vec<TaskRow>,
    ) -> Result<Vec<TaskView>, ServiceError> {
        self.views(rows, None).await
    }

    /// Attaches each task's account, keeping only accounts in `teams` (all when `None`).
    async fn views(
        &self,
        rows: Vec<TaskRow>,
        teams: Option<&HashMap<String, String>>,
    ) -> Result<Vec<TaskView>, ServiceError> {
        let db = self.store.db();
        let mut accounts: HashMap<String, Option<Account>> = HashMap::new();
        let slugs = accounts_repo::team_slugs(db, &self.integrity).await?;
        let mut out = Vec::with_capacity(rows.len());
        for task in rows {
            if !accounts.contains_key(&task.account_id) {
                let found = accounts_repo::find(db, &self.integrity, &task.account_id).await?;
                accounts.insert(task.account_id.clone(), found);
            }
            let Some(Some(account)) = accounts.get(&task.account_id) else {
                continue;
            };
            if teams.is_some_and(|t| !t.contains_key(&account.team_id)) {
                continue;
            }
            out.push(TaskView {
                team: slugs.get(&account.team_id).cloned().unwrap_or_default(),
                platform: account.platform.clone(),
                handle: account.handle.clone(),
                task,
            });
        }
        Ok(out)
    }

    /// One task and its account, once the caller may do `action` in the account's team (a
    /// refusal is audited). An id that cannot be a task id is unknown without a query.
    async fn task_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> Result<TaskView, ServiceError> {
        if !crate::domain::is_id(id) {
            return Err(ServiceError::NotFound(
                crate::services::Missing::RotationTask,
            ));
        }
        let task = repo::find(self.store.db(), &self.integrity, id)
            .await?
            .ok_or(ServiceError::NotFound(
                crate::services::Missing::RotationTask,
            ))?;
        let mut views = self.views(vec![task], None).await?;
        let view = views.pop().ok_or(ServiceError::NotFound(
            crate::services::Missing::RotationTask,
        ))?;
        self.authorize(caller, &view.team, action, Some(&task_target(id)))
            .await?;
        Ok(view)
    }

    /// One task (anyone who may read its account).
    pub async fn rotation_task(&self, caller: &Caller, id: &str) -> Result<TaskView, ServiceError> {
        self.task_for(caller, id, Action::AccountRead).await
    }

    /// Decides whether the caller may assign the task (before the body is read).
    pub async fn may_assign_task(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<TaskView, ServiceError> {
        self.task_for(caller, id, Action::RotationAssign).await
    }

    /// Decides whether the caller may dismiss the task (before the body is read).
    pub async fn may_dismiss_task(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<TaskView, ServiceError> {
        self.task_for(caller, id, Action::RotationDismiss).await
    }

    /// Opens a task by hand (reason `manual`) on an account the caller may open tasks on;
    /// one open manual task per account and kind.
    pub async fn open_manual_task(
        &self,
        caller: &Caller,
        allowed: &super::Allowed,
        kind: RotationKind,
        due_in_hours: Option<u32>,
    ) -> Result<TaskView, ServiceError> {
        let (account, team) = allowed.for_action(Action::RotationOpen)?;
        if account.status == "archived" {
            return Err(super::accounts::archived());
        }
        let due_at = match due_in_hours {
            Some(hours) => Utc::now() + Duration::hours(i64::from(hours)),
            None => self.rotation_due(kind),
        };
        let tx = self.store.begin_write().await?;
        // Two managers asking at once: the account's row lock makes one task.
        accounts_repo::lock(&*tx, &account.id).await?;
        let reason = RotationReason::Manual.as_str();
        if repo::find_open(
            &*tx,
            &self.integrity,
            &account.id,
            kind.as_str(),
            reason,
            None,
        )
        .await?
        .is_some()
        {
            return Err(ServiceError::Conflict {
                code: "task_exists",
                message: "a manual rotation task for this secret is already open".to_owned(),
            });
        }
        let new = NewTask {
            account_id: &account.id,
            kind: kind.as_str(),
            reason,
            secret_id: None,
            generation_id: None,
            member_id: None,
            due_at,
            opened_by: &caller.principal.subject(),
        };
        let task = self
            .open_rotation_task(&*tx, &Actor::from(caller), team, new)
            .await?;
        tx.commit().await?;
        Ok(TaskView {
            task,
            team: team.to_owned(),
            platform: account.platform.clone(),
            handle: account.handle.clone(),
        })
    }

    /// Gives an open task to a member (who must be active).
    pub async fn assign_rotation_task(
        &self,
        caller: &Caller,
        view: TaskView,
        assignee: &str,
    ) -> Result<TaskView, ServiceError> {
        let member = if crate::domain::is_id(assignee) {
            crate::store::members::find(self.store.db(), &self.integrity, assignee).await?
        } else {
            None
        };
        let member = member.ok_or(ServiceError::NotFound(crate::services::Missing::Member))?;
        if member.status != "active" {
            return Err(ServiceError::Conflict {
                code: "member_departed",
                message: "a departed member cannot be given a task".to_owned(),
            });
        }
        let tx = self.store.begin_write().await?;
        if !repo::assign(&*tx, &view.task.id, &member.id).await? {
            return Err(not_open());
        }
        let event = caller
            .event("rotation.assign")
            .target(task_target(&view.task.id))
            .team(&view.team)
            .details(serde_json::json!({
                "account": view.task.account_id,
                "assignee": format!("member:{}", member.id),
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        self.reload(view).await
    }

    /// Dismisses an open task: the risk is accepted, with a justification.
    pub async fn dismiss_rotation_task(
        &self,
        caller: &Caller,
        view: TaskView,
        justification: Justification,
    ) -> Result<TaskView, ServiceError> {
        let tx = self.store.begin_write().await?;
        if !repo::dismiss(
            &*tx,
            &self.integrity,
            &view.task.id,
            &caller.principal.subject(),
        )
        .await?
        {
            return Err(not_open());
        }
        let event = caller
            .event("rotation.dismiss")
            .target(task_target(&view.task.id))
            .team(&view.team)
            .justification(Some(justification.as_str()))
            .details(serde_json::json!({
                "account": view.task.account_id,
                "kind": view.task.secret_kind,
                "reason": view.task.reason,
                "member": view.task.member_id,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        self.reload(view).await
    }

    async fn reload(&self, view: TaskView) -> Result<TaskView, ServiceError> {
        let task = repo::find(self.store.db(), &self.integrity, &view.task.id)
            .await?
            .ok_or(ServiceError::NotFound(
                crate::services::Missing::RotationTask,
            ))?;
        Ok(TaskView { task, ..view })
    }

    /// Tasks opened for a departed member, with their accounts (for reports).
    pub(crate) async fn tasks_of_member(
        &self,
        member_id: &str,
    ) -> Result<Vec<TaskView>, ServiceError> {
        // Every task of one departure: at most four kinds per account it could reach.
        let rows = repo::list(
            self.store.db(),
            &self.integrity,
            &TaskFilter {
                member_id: Some(member_id.to_owned()),
                ..TaskFilter::default()
            },
            u64::MAX >> 1,
        )
        .await?;
        self.views(rows, None).await
    }
}

/// The audit event of an escalation (sent once per overdue task).
pub(crate) fn escalation_event(view: &TaskView) -> Event {
    Actor::system()
        .event("rotation.escalate")
        .target(task_target(&view.task.id))
        .team(&view.team)
        .details(serde_json::json!({
            "account": view.task.account_id,
            "kind": view.task.secret_kind,
            "reason": view.task.reason,
            "due_at": view.task.due_at,
        }))
}

/// When a task for `kind` opened now is due, by the configured deadlines.
pub(crate) fn due(settings: &crate::config::RotationSettings, kind: RotationKind) -> DateTime<Utc> {
    let hours = match kind {
        RotationKind::Totp | RotationKind::Hotp => settings.seed_hours,
        RotationKind::Password => settings.password_hours,
        RotationKind::BackupCodes => settings.backup_codes_hours,
    };
    Utc::now() + Duration::hours(i64::from(hours))
}

/// Opens a task in `db` (the caller's transaction) and records `rotation.open` there.
pub(crate) async fn open_task(
    db: &impl ConnectionTrait,
    ig: &crate::store::Integrity,
    actor: &Actor,
    team: &str,
    new: NewTask<'_>,
) -> Result<TaskRow, ServiceError> {
    let row = repo::insert(db, ig, new).await?;
    let event = actor
        .event("rotation.open")
        .target(task_target(&row.id))
        .team(team)
        .details(serde_json::json!({
            "account": row.account_id,
            "kind": row.secret_kind,
            "reason": row.reason,
            "member": row.member_id,
            "due_at": row.due_at,
        }));
    crate::audit::append(db, event).await?;
    Ok(row)
}
