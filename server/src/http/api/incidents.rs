//! Incidents and runbooks: list the runbooks, start an incident on an account, read it (its
//! current step, in English and Japanese, and its timeline), answer the current step, resolve
//! or cancel it. Plain JSON throughout, so a chat-ops bot with a service token can drive it.

use super::accounts::rfc3339;
use crate::authz::Action;
use crate::domain::{IncidentState, Invalid, Justification, RunbookKey};
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::incidents::{ActionResult, Answer, IncidentView, Revealed, TimelineEntry};
use crate::services::runbooks::{Runbooks, Text};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::incidents::{
    AnswerBody, CancelBody, ChoiceOut, IncidentId, IncidentList, IncidentOut, IncidentQuery,
    ResolveBody, RunbookList, RunbookOut, StartBody, StepOut, TimelineOut,
};

impl From<TimelineEntry> for TimelineOut {
    fn from(e: TimelineEntry) -> Self {
        Self {
            at: rfc3339(e.at),
            actor: e.actor,
            event: e.event,
            outcome: e.outcome,
            step: e.step,
            choice: e.choice,
            note: e.note,
            result: e.result,
        }
    }
}

fn step_out(books: &Runbooks, view: &IncidentView) -> (Option<Text>, StepOut) {
    let runbook = books.get(&view.row.runbook);
    let step = runbook.and_then(|r| r.step(&view.row.step));
    let out = match step {
        Some(step) => StepOut {
            id: step.id.clone(),
            kind: step.kind.as_str().to_owned(),
            text: step.text.clone(),
            choices: step
                .choices
                .iter()
                .map(|c| ChoiceOut {
                    id: c.id.clone(),
                    text: c.text.clone(),
                    action: c.action.as_ref().map(|a| a.name().to_owned()),
                })
                .collect(),
        },
        None => StepOut {
            id: view.row.step.clone(),
            kind: "done".to_owned(),
            text: Text {
                en: "This step is no longer in the runbook. Resolve or cancel the incident."
                    .to_owned(),
                ja: "この手順はランブックから削除されました。インシデントを解決またはキャンセルしてください。"
                    .to_owned(),
            },
            choices: Vec::new(),
        },
    };
    (runbook.map(|r| r.title.clone()), out)
}

pub(crate) fn incident_out(books: &Runbooks, view: IncidentView) -> IncidentOut {
    let (title, step) = step_out(books, &view);
    let warnings = if view.failed_attempts.is_some() {
        vec![crate::services::backup::warning::FAILED_ATTEMPTS.to_owned()]
    } else {
        Vec::new()
    };
    let r = view.row;
    IncidentOut {
        id: r.id,
        account: r.account_id,
        team: view.team,
        platform: view.platform,
        handle: view.handle,
        runbook: r.runbook,
        title,
        state: r.state,
        step,
        answers: r.answers,
        note: r.note,
        summary: r.summary,
        opened_by: r.opened_by,
        opened_at: rfc3339(r.opened_at),
        updated_at: rfc3339(r.updated_at),
        closed_by: r.closed_by,
        closed_at: r.closed_at.map(rfc3339),
        warnings,
        failed_attempts: view.failed_attempts.map(Into::into),
        timeline: view
            .timeline
            .map(|t| t.into_iter().map(TimelineOut::from).collect()),
        result: None,
    }
}

/// The answer's result as JSON: the audited summary, and the value shown once.
pub(crate) fn result_json(result: &ActionResult) -> serde_json::Value {
    let mut out = serde_json::json!({ "action": result.action });
    if let serde_json::Value::Object(summary) = &result.summary {
        for (k, v) in summary {
            out[k] = v.clone();
        }
    }
    match &result.secret {
        Some(Revealed::BackupCode(code)) => {
            out["code"] = code.code.as_str().into();
        }
        Some(Revealed::Totp(code)) => {
            out["code"] = code.code.as_str().into();
            out["digits"] = code.digits.into();
            out["period"] = code.period.into();
            out["next_code"] = code.next_code.as_ref().map(|c| c.as_str()).into();
        }
        Some(Revealed::ReleaseKey { release, key }) => {
            out["release"] = release.as_str().into();
            out["release_key"] = key.as_str().into();
        }
        None => {}
    }
    out
}

fn note(raw: Option<&str>) -> Result<Option<Justification>, Invalid> {
    Justification::parse_optional(raw).map_err(|e| Invalid {
        message: e.message.replace("justification", "note"),
        ..e
    })
}

/// The runbooks installed (anyone signed in).
#[utoipa::path(get, path = "/api/v1/runbooks", tag = "incidents",
    responses((status = 200, body = RunbookList)))]
pub async fn list_runbooks(core: web::Data<Core>, _auth: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(RunbookList {
        runbooks: core
            .runbooks
            .all()
            .map(|r| RunbookOut {
                id: r.id.clone(),
                title: r.title.clone(),
                summary: r.summary.clone(),
            })
            .collect(),
    })
}

/// Starts an incident on an account (operator, manager or security admin of its team).
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = StartBody,
    responses((status = 201, body = IncidentOut),
    (status = 404, description = "no such account or runbook", body = keyward_proto::wire::ErrorBody),
    (status = 423, description = "the account is archived", body = keyward_proto::wire::ErrorBody)))]
pub async fn start(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<StartBody>,
) -> Result<HttpResponse, ApiError> {
    // The account is in the body: who may run incidents nowhere is refused before it is read.
    core.authorize_somewhere(&auth.0, Action::IncidentRun)
        .await?;
    let body = body.into_inner()?;
    let allowed = core
        .allow(&auth.0, body.account.trim(), Action::IncidentRun)
        .await?;
    let runbook = RunbookKey::parse(&body.runbook, "runbook")?;
    let note = note(body.note.as_deref())?;
    let view = core
        .start_incident(&auth.0, &allowed, &runbook, note)
        .await?;
    Ok(HttpResponse::Created().json(incident_out(&core.runbooks, view)))
}

/// Incidents on the accounts whose incidents you may read, newest first (at most 500).
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = IncidentList)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<IncidentQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner()?;
    let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let state = blank(query.state)
        .map(|s| IncidentState::parse(&s))
        .transpose()?;
    let account = blank(query.account);
    let views = core.incidents(&auth.0, state, account.as_deref()).await?;
    Ok(HttpResponse::Ok().json(IncidentList {
        incidents: views
            .into_iter()
            .map(|v| incident_out(&core.runbooks, v))
            .collect(),
    }))
}

/// One incident: its current step and its timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(IncidentId),
    responses((status = 200, body = IncidentOut),
    (status = 404, description = "no such incident", body = keyward_proto::wire::ErrorBody)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.incident(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(incident_out(&core.runbooks, view)))
}

/// Answers the current step; the choice's action runs as you, with your rights. Returns the
/// incident at its next step, with the action's `result` (shown once).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/answer", tag = "incidents", params(IncidentId),
    request_body = AnswerBody, responses((status = 200, body = IncidentOut),
    (status = 403, description = "`action_not_allowed`: your role does not allow the choice's action", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such incident", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`step_changed`: someone answered first; `incident_closed`", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "`unknown_choice`", body = keyward_proto::wire::ErrorBody),
    (status = 423, description = "the account is frozen (for actions that use its secrets)", body = keyward_proto::wire::ErrorBody),
    (status = 429, description = "`failed_attempt_budget`: too many rejected codes; wait", body = keyward_proto::wire::ErrorBody)))]
pub async fn answer(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<AnswerBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_incident(&auth.0, &id, Action::IncidentRun)
        .await?;
    let body = body.into_inner()?;
    let answer = Answer {
        step: RunbookKey::parse(&body.step, "step")?,
        choice: RunbookKey::parse(&body.choice, "choice")?,
        note: note(body.note.as_deref())?,
        answers: body.answers,
    };
    let answered = core.answer_incident(&auth.0, allowed, answer).await?;
    let mut out = incident_out(&core.runbooks, answered.view);
    out.result = answered.result.as_ref().map(result_json);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(out))
}

/// Resolves an open incident with a summary of what happened.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", params(IncidentId),
    request_body = ResolveBody, responses((status = 200, body = IncidentOut),
    (status = 404, description = "no such incident", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`incident_closed`", body = keyward_proto::wire::ErrorBody)))]
pub async fn resolve(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<ResolveBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_incident(&auth.0, &id, Action::IncidentRun)
        .await?;
    let body = body.into_inner()?;
    let summary = Justification::parse(&body.summary).map_err(|e| Invalid {
        message: e.message.replace("justification", "summary"),
        ..e
    })?;
    let view = core.resolve_incident(&auth.0, allowed, summary).await?;
    Ok(HttpResponse::Ok().json(incident_out(&core.runbooks, view)))
}

/// Cancels an open incident (started by mistake, or a duplicate), with the reason.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/cancel", tag = "incidents", params(IncidentId),
    request_body = CancelBody, responses((status = 200, body = IncidentOut),
    (status = 404, description = "no such incident", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`incident_closed`", body = keyward_proto::wire::ErrorBody)))]
pub async fn cancel(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<CancelBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_incident(&auth.0, &id, Action::IncidentRun)
        .await?;
    let body = body.into_inner()?;
    let reason = Justification::parse(&body.reason).map_err(|e| Invalid {
        message: e.message.replace("justification", "reason"),
        ..e
    })?;
    let view = core.cancel_incident(&auth.0, allowed, reason).await?;
    Ok(HttpResponse::Ok().json(incident_out(&core.runbooks, view)))
}
