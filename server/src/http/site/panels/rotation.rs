//! Rotation-task cards, as an account's page, a member's page and the task list show them, and
//! what a store form leaves on the account's page.

use super::super::i18n::Texts;
use super::super::kit::when;
use crate::authz::Action;
use crate::domain::{RotationKind, TaskState};
use crate::services::platforms;
use crate::services::rotation::{TaskQuery, TaskView};
use crate::services::{Caller, Core};

/// A task as a page shows it.
pub struct TaskCard {
    pub id: String,
    pub account: String,
    pub platform: String,
    pub handle: String,
    pub team: String,
    pub kind: String,
    pub kind_label: &'static str,
    pub reason_label: &'static str,
    pub state: String,
    pub state_label: &'static str,
    pub due: String,
    pub overdue: bool,
    pub assignee: String,
    pub steps: Vec<String>,
    pub settings_url: Option<String>,
    pub completed: Option<String>,
    pub can_take: bool,
    pub can_dismiss: bool,
    pub can_store: bool,
}

pub fn kind_label(t: &Texts, kind: &str) -> &'static str {
    match kind {
        "totp" => t.r.kind_totp,
        "hotp" => t.r.kind_hotp,
        "password" => t.r.kind_password,
        _ => t.r.kind_backup_codes,
    }
}

pub(crate) fn reason_label(t: &Texts, reason: &str) -> &'static str {
    match reason {
        "departure" => t.r.reason_departure,
        "leak" => t.r.reason_leak,
        "incident" => t.r.reason_incident,
        "break_glass" => t.r.reason_break_glass,
        "low_codes" => t.r.reason_low_codes,
        _ => t.r.reason_manual,
    }
}

pub fn state_label(t: &Texts, state: &str) -> &'static str {
    match state {
        "done" => t.r.state_done,
        "dismissed" => t.r.state_dismissed,
        _ => t.r.state_open,
    }
}

/// Cards for tasks, with what the caller may do on each.
pub async fn cards(
    core: &Core,
    caller: &Caller,
    t: &'static Texts,
    views: Vec<TaskView>,
) -> Vec<TaskCard> {
    let mut out = Vec::with_capacity(views.len());
    for view in views {
        let overdue = view.overdue();
        let kind = view.kind().unwrap_or(RotationKind::Password);
        let guide = platforms::guide(&view.platform);
        let open = view.task.is_open();
        let store_action = match kind {
            RotationKind::Totp => Action::TotpSet,
            RotationKind::Hotp => Action::HotpSet,
            RotationKind::Password => Action::PasswordSet,
            RotationKind::BackupCodes => Action::BackupImport,
        };
        let assignee = match &view.task.assignee {
            Some(id) => core.display_name(&format!("member:{id}")).await,
            None => t.r.team_managers.to_owned(),
        };
        let completed = match (&view.task.completed_at, &view.task.completed_by) {
            (Some(at), by) => {
                let by = match by {
                    Some(by) => core.display_name(by).await,
                    None => String::new(),
                };
                let what = match view.task.resulting_version {
                    Some(v) => t.r.completed_with.replace("{version}", &v.to_string()),
                    None => state_label(t, &view.task.state).to_owned(),
                };
                Some(format!(
                    "{what} · {} {by} · {}",
                    t.r.completed_by,
                    when(*at)
                ))
            }
            _ => None,
        };
        out.push(TaskCard {
            can_take: open
                && view.task.assignee.as_deref() != Some(caller.principal.id.as_str())
                && core.may(caller, &view.team, Action::RotationAssign).await,
            can_dismiss: open && core.may(caller, &view.team, Action::RotationDismiss).await,
            can_store: open && core.may(caller, &view.team, store_action).await,
            id: view.task.id.clone(),
            account: view.task.account_id.clone(),
            platform: view.platform.clone(),
            handle: view.handle.clone(),
            team: view.team.clone(),
            kind: kind.as_str().to_owned(),
            kind_label: kind_label(t, kind.as_str()),
            reason_label: reason_label(t, &view.task.reason),
            state_label: state_label(t, &view.task.state),
            state: view.task.state.clone(),
            due: view.task.due_at.map(when).unwrap_or_default(),
            overdue,
            assignee,
            steps: guide
                .map(|g| g.steps(kind).in_lang(t.lang).to_vec())
                .unwrap_or_default(),
            settings_url: guide.and_then(|g| g.settings_url.clone()),
            completed,
        });
    }
    out
}

/// The open tasks of one account, for its page.
pub async fn account_tasks(
    core: &Core,
    caller: &Caller,
    t: &'static Texts,
    account: &str,
) -> Vec<TaskCard> {
    let query = TaskQuery {
        state: Some(TaskState::Open),
        account: Some(account.to_owned()),
        ..TaskQuery::default()
    };
    match core.rotation_tasks(caller, query).await {
        Ok(views) => cards(core, caller, t, views).await,
        Err(err) => {
            tracing::warn!(error = %err, "rotation tasks of an account could not be read");
            Vec::new()
        }
    }
}

/// What the account page shows after a store form.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct StoreExtras {
    pub notice: Option<String>,
    pub error: Option<String>,
    pub enroll_note: Option<String>,
}
