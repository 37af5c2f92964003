//! Incidents and runbooks: list the runbooks, start an incident on an account, read it (its
//! current step, in English and Japanese, and its timeline), answer the current step, resolve
//! or cancel it. Plain JSON throughout, so a chat-ops bot with a service token can drive it.

use super::accounts::rfc3339;
use super::backup::FailedAttemptsOut;
use crate::authz::Action;
use crate::domain::{IncidentState, Invalid, Justification, RunbookKey};
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::incidents::{ActionResult, Answer, IncidentView, Revealed, TimelineEntry};
use crate::services::runbooks::{Runbooks, Text};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct RunbookOut {
    pub id: String,
    pub title: Text,
    pub summary: Text,
}

#[derive(Serialize, ToSchema)]
pub struct RunbookList {
    pub runbooks: Vec<RunbookOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ChoiceOut {
    pub id: String,
    pub text: Text,
    /// The action this answer runs as you, if any (`checkout_backup_code`, `freeze_account`…).
    pub action: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StepOut {
    pub id: String,
    /// `question`, `action`, `info` or `done`.
    pub kind: String,
    pub text: Text,
    pub choices: Vec<ChoiceOut>,
}

#[derive(Serialize, ToSchema)]
pub struct TimelineOut {
    pub at: String,
    pub actor: String,
    /// `incident.start`, `incident.answer`, `incident.action`, `incident.resolve` or
    /// `incident.cancel`.
    pub event: String,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    pub step: Option<String>,
    pub choice: Option<String>,
    pub note: Option<String>,
    /// What an action did (never a secret), or `{"error": code}`.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

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

#[derive(Serialize, ToSchema)]
pub struct IncidentOut {
    pub id: String,
    /// The account id.
    pub account: String,
    pub team: String,
    pub platform: String,
    pub handle: String,
    pub runbook: String,
    pub title: Option<Text>,
    /// `open`, `resolved` or `cancelled`.
    pub state: String,
    /// The current step; answer it with its id.
    pub step: StepOut,
    /// Answers given so far; send it back with an answer to make sure it answers this visit
    /// of the step.
    pub answers: i32,
    pub note: Option<String>,
    /// How it ended (resolve summary or cancel reason).
    pub summary: Option<String>,
    pub opened_by: String,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    /// `failed_attempts` when one more rejected code may make the platform lock sign-in.
    pub warnings: Vec<String>,
    pub failed_attempts: Option<FailedAttemptsOut>,
    /// Oldest first (absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineOut>>,
    /// What the answered step's action did. A checked-out backup code or a revealed TOTP code
    /// (`code`), or a break-glass release key (`release_key`), is here once and never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<IncidentOut>,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// The account id.
    pub account: String,
    /// A runbook id from `GET /api/v1/runbooks`, e.g. `lockout`.
    pub runbook: String,
    /// What is going on (up to 500 characters).
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The id of the step you are answering; it must still be the current one.
    pub step: String,
    /// One of that step's choice ids.
    pub choice: String,
    /// Anything worth keeping in the timeline (up to 500 characters).
    pub note: Option<String>,
    /// The incident's `answers` you read with the step (optional). When given, it must still
    /// be current: an old answer is refused even after the runbook has come back to the same
    /// step (as it does between backup codes).
    #[schema(minimum = 0)]
    pub answers: Option<i32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// What happened and what worked (3 to 500 characters).
    pub summary: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why the incident is cancelled (3 to 500 characters).
    pub reason: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// `open`, `resolved` or `cancelled`.
    pub state: Option<String>,
    /// An account id.
    pub account: Option<String>,
}

/// The incident named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct IncidentId(
    /// The incident's id.
    String,
);

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
    (status = 404, description = "no such account or runbook", body = crate::http::wire::ErrorBody),
    (status = 423, description = "the account is archived", body = crate::http::wire::ErrorBody)))]
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
    (status = 404, description = "no such incident", body = crate::http::wire::ErrorBody)))]
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
    (status = 403, description = "`action_not_allowed`: your role does not allow the choice's action", body = crate::http::wire::ErrorBody),
    (status = 404, description = "no such incident", body = crate::http::wire::ErrorBody),
    (status = 409, description = "`step_changed`: someone answered first; `incident_closed`", body = crate::http::wire::ErrorBody),
    (status = 422, description = "`unknown_choice`", body = crate::http::wire::ErrorBody),
    (status = 423, description = "the account is frozen (for actions that use its secrets)", body = crate::http::wire::ErrorBody),
    (status = 429, description = "`failed_attempt_budget`: too many rejected codes; wait", body = crate::http::wire::ErrorBody)))]
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
    (status = 404, description = "no such incident", body = crate::http::wire::ErrorBody),
    (status = 409, description = "`incident_closed`", body = crate::http::wire::ErrorBody)))]
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
    (status = 404, description = "no such incident", body = crate::http::wire::ErrorBody),
    (status = 409, description = "`incident_closed`", body = crate::http::wire::ErrorBody)))]
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
