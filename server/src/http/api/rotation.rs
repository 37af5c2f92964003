//! Rotation tasks: list, read, assign (manager), dismiss (security admin). A task is done only
//! when a new version of its secret is stored; there is no "mark as done".

use super::accounts::rfc3339;
use super::otp::required_justification;
use crate::domain::{RotationKind, RotationReason, TaskState};
use crate::http::extract::{Json, OptionalJson, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::platforms::{self};
use crate::services::rotation::{TaskQuery, TaskView};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::otp::JustificationBody;
use keyward_proto::rotation::{AssignBody, OpenTaskBody, TaskId, TaskList, TaskListQuery, TaskOut};

impl From<TaskView> for TaskOut {
    fn from(view: TaskView) -> Self {
        let overdue = view.overdue();
        let guide = platforms::guide(&view.platform);
        let steps = match (guide, view.kind()) {
            (Some(guide), Some(kind)) => Some(guide.steps(kind).clone()),
            _ => None,
        };
        let t = view.task;
        TaskOut {
            id: t.id,
            account: t.account_id,
            team: view.team,
            platform: view.platform,
            handle: view.handle,
            kind: t.secret_kind,
            reason: t.reason,
            member: t.member_id,
            due_at: t.due_at.map(rfc3339),
            overdue,
            state: t.state,
            assignee: t.assignee,
            created_at: rfc3339(t.created_at),
            completed_at: t.completed_at.map(rfc3339),
            completed_by: t.completed_by,
            resulting_version: t.resulting_version,
            steps,
            settings_url: guide.and_then(|g| g.settings_url.clone()),
        }
    }
}

fn nonblank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Rotation tasks on the accounts you may see (at most 1000, soonest deadline first).
#[utoipa::path(get, path = "/api/v1/rotation-tasks", tag = "rotation", params(TaskListQuery),
    responses((status = 200, body = TaskList)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<TaskListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner()?;
    let filter = TaskQuery {
        state: nonblank(query.state)
            .map(|s| TaskState::parse(&s))
            .transpose()?,
        reason: nonblank(query.reason)
            .map(|r| RotationReason::parse(&r))
            .transpose()?,
        account: nonblank(query.account),
        overdue: query.overdue.unwrap_or(false),
        assignee: nonblank(query.assignee),
        closed: false,
    };
    let tasks = core.rotation_tasks(&auth.0, filter).await?;
    Ok(HttpResponse::Ok().json(TaskList {
        tasks: tasks.into_iter().map(TaskOut::from).collect(),
    }))
}

/// Opens a rotation task by hand (reason `manual`; manager or security admin).
#[utoipa::path(post, path = "/api/v1/rotation-tasks", tag = "rotation", request_body = OpenTaskBody,
    responses((status = 201, body = TaskOut),
    (status = 404, description = "no such account", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`task_exists`: one is open already", body = keyward_proto::wire::ErrorBody),
    (status = 423, description = "the account is archived", body = keyward_proto::wire::ErrorBody)))]
pub async fn open(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<OpenTaskBody>,
) -> Result<HttpResponse, ApiError> {
    // The account is in the body: who may open tasks nowhere is refused before it is read.
    core.authorize_somewhere(&auth.0, crate::authz::Action::RotationOpen)
        .await?;
    let body = body.into_inner()?;
    let allowed = core
        .allow(
            &auth.0,
            body.account.trim(),
            crate::authz::Action::RotationOpen,
        )
        .await?;
    let kind = RotationKind::parse(body.kind.trim())?;
    if body.due_in_hours.is_some_and(|h| h == 0 || h > 8760) {
        return Err(crate::domain::Invalid::new("invalid_due", "due_in_hours is 1 to 8760").into());
    }
    let view = core
        .open_manual_task(&auth.0, &allowed, kind, body.due_in_hours)
        .await?;
    Ok(HttpResponse::Created().json(TaskOut::from(view)))
}

/// One rotation task (anyone who may see its account).
#[utoipa::path(get, path = "/api/v1/rotation-tasks/{id}", tag = "rotation", params(TaskId),
    responses((status = 200, body = TaskOut), (status = 404, description = "no such task", body = keyward_proto::wire::ErrorBody)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.rotation_task(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(TaskOut::from(view)))
}

/// Gives an open task to a member (manager of the account's team).
#[utoipa::path(post, path = "/api/v1/rotation-tasks/{id}/assign", tag = "rotation", params(TaskId),
    request_body = AssignBody, responses((status = 200, body = TaskOut),
    (status = 404, description = "no such task or member", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "the task is no longer open, or the member departed", body = keyward_proto::wire::ErrorBody)))]
pub async fn assign(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let view = core.may_assign_task(&auth.0, &id).await?;
    let body = body.into_inner()?;
    let view = core
        .assign_rotation_task(&auth.0, view, body.assignee.trim())
        .await?;
    Ok(HttpResponse::Ok().json(TaskOut::from(view)))
}

/// Dismisses an open task: the risk is accepted (security admin, justification required).
#[utoipa::path(post, path = "/api/v1/rotation-tasks/{id}/dismiss", tag = "rotation", params(TaskId),
    request_body = JustificationBody, responses((status = 200, body = TaskOut),
    (status = 404, description = "no such task", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "the task is no longer open", body = keyward_proto::wire::ErrorBody)))]
pub async fn dismiss(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    let view = core.may_dismiss_task(&auth.0, &id).await?;
    let justification = required_justification(body)?;
    let view = core
        .dismiss_rotation_task(&auth.0, view, justification)
        .await?;
    Ok(HttpResponse::Ok().json(TaskOut::from(view)))
}
