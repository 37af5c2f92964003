//! Incidents in the dashboard: "Start an incident" on an account, the incident page (one step
//! at a time, big buttons, a code shown once with copy and countdown, the timeline, resolve and
//! cancel), and the lists of open incidents. Every form answers with a redirect; what it
//! produced (a code, a release key) is kept for one view of the page it leads to.

mod panel;

use super::i18n::Texts;
use super::i18n_incidents::{action_done, action_label};
use super::kit::when;
use super::kit::{form_caller, service_failure};
use super::{cookie, error_page, render, see_other, to_signin, Chrome};
use crate::authz::Action;
use crate::domain::{IncidentState, Invalid, Justification, RunbookKey};
use crate::http::MaybeSession;
use crate::services::incidents::{Answer, IncidentView, Revealed};
use crate::services::{Caller, Core, ServiceError};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use panel::{dash, shorten, state_label, text};
pub use panel::{lines, runbook_choices, IncidentLine, RunbookChoice};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

#[derive(Deserialize, ToSchema)]
pub struct StartForm {
    #[serde(default)]
    runbook: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    csrf: String,
}

/// Starts an incident on the account and goes to it.
#[utoipa::path(post, path = "/accounts/{id}/incidents", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = StartForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the incident"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account or runbook", content_type = "text/html"), (status = 422, description = "a bad runbook or note", content_type = "text/html")))]
pub async fn start(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<StartForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let allowed = match core.allow(&caller, &id, Action::IncidentRun).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(c, err),
    };
    let parsed = RunbookKey::parse(&form.runbook, "runbook")
        .and_then(|r| Ok((r, Justification::parse_optional(Some(&form.note))?)));
    let (runbook, note) = match parsed {
        Ok(parsed) => parsed,
        Err(invalid) => return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, invalid.message),
    };
    match core.start_incident(&caller, &allowed, &runbook, note).await {
        Ok(view) => see_other(&format!("/incidents/{}", view.row.id)),
        Err(err) => service_failure(c, err),
    }
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    c: Chrome,
    open: Vec<IncidentLine>,
    closed: Vec<IncidentLine>,
}

/// The incidents you may read: open ones first, then the recently closed.
#[utoipa::path(get, path = "/incidents", tag = "dashboard", security(("session" = [])),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
pub async fn list(req: HttpRequest, core: web::Data<Core>, session: MaybeSession) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/incidents");
    };
    let c = Chrome::for_page(&req, &core, &caller).await;
    let (open, closed): (Vec<IncidentLine>, Vec<IncidentLine>) =
        lines(&core, &caller, c.t, None, None)
            .await
            .into_iter()
            .partition(|l| l.state == crate::domain::IncidentState::Open.as_str());
    let closed = closed.into_iter().take(50).collect();
    render(StatusCode::OK, &IncidentsPage { c, open, closed })
}

/// What an answer produced, for the page its redirect leads to.
#[derive(Default, Serialize, Deserialize)]
pub struct IncidentExtras {
    pub shown: Option<Shown>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A value an action handed out, shown once.
#[derive(Default, Serialize, Deserialize)]
pub struct Shown {
    pub action: String,
    pub code: Option<Zeroizing<String>>,
    /// Unix time the TOTP code stops being valid.
    pub expires_at: Option<i64>,
    pub period: Option<u64>,
    pub next_code: Option<String>,
    pub position: Option<i32>,
    pub generation: Option<i32>,
    pub release: Option<String>,
}

/// A shown value as the template reads it.
pub struct ShownView {
    pub kind: &'static str,
    pub code: String,
    pub grouped: String,
    pub expires_in: u64,
    pub period: u64,
    pub next_code: Option<String>,
    pub position_label: String,
    pub release: String,
}

fn group(code: &str) -> String {
    if code.len() == 6 || code.len() == 8 {
        let mid = code.len() / 2;
        format!("{} {}", &code[..mid], &code[mid..])
    } else {
        code.to_owned()
    }
}

fn shown_view(t: &Texts, s: Shown) -> ShownView {
    let now = chrono::Utc::now().timestamp();
    let code = s
        .code
        .as_ref()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_default();
    let kind = match s.action.as_str() {
        "reveal_totp" => "totp",
        "checkout_backup_code" => "backup",
        _ => "release",
    };
    ShownView {
        kind,
        grouped: if kind == "totp" {
            group(&code)
        } else {
            code.clone()
        },
        code,
        expires_in: s
            .expires_at
            .map(|at| u64::try_from(at - now).unwrap_or(0))
            .unwrap_or(0),
        period: s.period.unwrap_or(30),
        next_code: s.next_code.as_deref().map(group),
        position_label: t
            .inc
            .code_position
            .replace("{position}", &s.position.unwrap_or_default().to_string())
            .replace(
                "{generation}",
                &s.generation.unwrap_or_default().to_string(),
            ),
        release: s.release.unwrap_or_default(),
    }
}

pub struct ChoiceView {
    pub id: String,
    pub text: String,
    pub action: Option<String>,
}

pub struct TimelineView {
    pub at: String,
    pub who: String,
    pub what: String,
    pub detail: String,
    pub refused: bool,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    c: Chrome,
    id: String,
    title: String,
    account_id: String,
    platform: String,
    handle: String,
    state: String,
    state_label: &'static str,
    opened_by: String,
    opened_at: String,
    note: String,
    summary: String,
    open: bool,
    can_run: bool,
    step_id: String,
    answers: i32,
    step_kind: String,
    step_text: String,
    choices: Vec<ChoiceView>,
    warning: Option<String>,
    shown: Option<ShownView>,
    shown_once: bool,
    notice: Option<String>,
    error: Option<String>,
    timeline: Vec<TimelineView>,
}

async fn timeline(core: &Core, t: &Texts, view: &IncidentView) -> Vec<TimelineView> {
    let runbook = core.runbooks.get(&view.row.runbook);
    let mut out = Vec::new();
    for e in view.timeline.iter().flatten() {
        let refused = e.outcome != crate::audit::Outcome::Success.as_str();
        let step = e.step.as_deref().unwrap_or_default();
        let choice_text = runbook
            .and_then(|r| r.step(step))
            .and_then(|s| e.choice.as_deref().and_then(|c| s.choice(c)))
            .map(|c| text(t, &c.text));
        let (what, detail) = match e.event.as_str() {
            "incident.start" => (t.inc.ev_start, dash(e.note.as_deref())),
            "incident.answer" => {
                let question = runbook
                    .and_then(|r| r.step(step))
                    .map(|s| shorten(&text(t, &s.text)))
                    .unwrap_or_default();
                let mut detail = format!("“{}” · {question}", choice_text.unwrap_or_default());
                if let Some(note) = &e.note {
                    detail.push_str(&format!(" — {note}"));
                }
                (t.inc.ev_answer, detail)
            }
            "incident.action" => {
                let action = e
                    .result
                    .as_ref()
                    .and_then(|r| r.get("error"))
                    .and_then(|v| v.as_str())
                    .map(|code| code.to_owned());
                match action {
                    Some(code) => (t.inc.ev_refused, code),
                    None => {
                        let name = runbook
                            .and_then(|r| r.step(step))
                            .and_then(|s| e.choice.as_deref().and_then(|c| s.choice(c)))
                            .and_then(|c| c.action.as_ref())
                            .map(|a| a.name())
                            .unwrap_or_default();
                        let mut detail = action_done(t.inc, name).to_owned();
                        if let Some(p) = e.result.as_ref().and_then(|r| r.get("position")) {
                            detail.push_str(&format!(" (#{p})"));
                        }
                        if let Some(o) = e.result.as_ref().and_then(|r| r.get("outcome")) {
                            detail.push_str(&format!(": {}", o.as_str().unwrap_or_default()));
                        }
                        (t.inc.ev_action, detail)
                    }
                }
            }
            "incident.resolve" => (t.inc.ev_resolve, dash(e.note.as_deref())),
            "incident.cancel" => (t.inc.ev_cancel, dash(e.note.as_deref())),
            _ => continue,
        };
        out.push(TimelineView {
            at: when(e.at),
            who: core.display_name(&e.actor).await,
            what: what.to_owned(),
            detail,
            refused,
        });
    }
    out
}

async fn incident_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    extras: Option<IncidentExtras>,
) -> HttpResponse {
    let shown_once = extras.is_none();
    let extras = extras.unwrap_or_default();
    let c = Chrome::new(req, core, Some(caller));
    let view = match core.incident(caller, id).await {
        Ok(view) => view,
        Err(err) => return service_failure(c, err),
    };
    let t = c.t;
    let runbook = core.runbooks.get(&view.row.runbook);
    let step = runbook.and_then(|r| r.step(&view.row.step));
    let open = view.row.state == IncidentState::Open.as_str();
    let can_run = open && core.may_run_incident(caller, &view.team).await;
    let warning = view.failed_attempts.map(|f| {
        t.inc
            .failed_warning
            .replace("{count}", &f.count.to_string())
            .replace("{budget}", &f.budget.to_string())
            .replace("{minutes}", &f.window_minutes.to_string())
    });
    let timeline = timeline(core, t, &view).await;
    let page = IncidentPage {
        id: view.row.id.clone(),
        title: runbook
            .map(|r| text(t, &r.title))
            .unwrap_or_else(|| view.row.runbook.clone()),
        account_id: view.row.account_id.clone(),
        platform: view.platform.clone(),
        handle: view.handle.clone(),
        state_label: state_label(t, &view.row.state),
        state: view.row.state.clone(),
        opened_by: core.display_name(&view.row.opened_by).await,
        opened_at: when(view.row.opened_at),
        note: view.row.note.clone().unwrap_or_default(),
        summary: view.row.summary.clone().unwrap_or_default(),
        open,
        can_run,
        step_id: view.row.step.clone(),
        answers: view.row.answers,
        step_kind: step.map(|s| s.kind.as_str()).unwrap_or("done").to_owned(),
        step_text: step.map(|s| text(t, &s.text)).unwrap_or_default(),
        choices: step
            .map(|s| {
                s.choices
                    .iter()
                    .map(|ch| ChoiceView {
                        id: ch.id.clone(),
                        text: text(t, &ch.text),
                        action: ch
                            .action
                            .as_ref()
                            .map(|a| action_label(t.inc, a.name()).to_owned()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        warning,
        shown: extras.shown.map(|s| shown_view(t, s)),
        shown_once,
        notice: extras.notice,
        error: extras.error,
        timeline,
        c,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// The token of a form's result, shown once.
    shown: Option<String>,
}

/// One incident: its current step, what the last answer produced (once), the timeline.
#[utoipa::path(get, path = "/incidents/{id}", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::incidents::IncidentId, IncidentQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such incident", content_type = "text/html")))]
pub async fn incident(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    query: web::Query<IncidentQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/incidents/{id}"));
    };
    let extras = match (&query.shown, &caller.session) {
        (Some(token), Some(session)) => match core.take_page_result(session, token).await {
            Ok(Some(bytes)) => Some(serde_json::from_slice(&bytes).unwrap_or_default()),
            Ok(None) => None,
            Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
        },
        _ => Some(IncidentExtras::default()),
    };
    incident_page(&req, &core, &caller, &id, extras).await
}

/// Keeps what a form produced for one view and redirects to the incident page; if it cannot be
/// kept, shows the page at once rather than lose a code already handed out.
async fn show_once(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    extras: IncidentExtras,
    release_key: Option<(String, Zeroizing<String>)>,
) -> HttpResponse {
    let kept = match (&caller.session, serde_json::to_vec(&extras)) {
        (Some(session), Ok(bytes)) => core.keep_page_result(session, &Zeroizing::new(bytes)).await,
        _ => return to_signin(&format!("/incidents/{id}")),
    };
    let mut res = match kept {
        Ok(token) => see_other(&format!("/incidents/{id}?shown={}", token.as_str())),
        Err(err) => {
            tracing::warn!(error = %err, "page result not kept; shown directly");
            incident_page(req, core, caller, id, Some(extras)).await
        }
    };
    if let Some((release, key)) = release_key {
        // As when a release is asked for on its own page: this browser keeps its key.
        let path = format!("/releases/{release}");
        let mut c = cookie(core, "", key.as_str().to_owned(), "/");
        c.set_name(super::breakglass::release_cookie(&release));
        c.set_path(path);
        c.set_max_age(CookieDuration::days(8));
        let _ = res.add_cookie(&c);
    }
    res
}

/// A refused or failed answer: its message on the incident page, or a response of its own (a
/// step-up sign-in that comes back here, an error page).
async fn answer_failed(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    err: ServiceError,
) -> HttpResponse {
    let here = format!("/incidents/{id}");
    let message = match err {
        ServiceError::ReauthRequired => {
            let encoded: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            return see_other(&format!("/auth/reauth?return_to={encoded}"));
        }
        ServiceError::Refused { message, .. }
        | ServiceError::Locked { message, .. }
        | ServiceError::Conflict { message, .. }
        | ServiceError::RateLimited { message, .. } => message,
        ServiceError::Invalid(invalid) => invalid.message,
        ServiceError::NotFound(what) if what != crate::services::Missing::Incident => {
            format!("{what} not found")
        }
        other => return service_failure(Chrome::new(req, core, Some(caller)), other),
    };
    let extras = IncidentExtras {
        error: Some(message),
        ..IncidentExtras::default()
    };
    show_once(req, core, caller, id, extras, None).await
}

#[derive(Deserialize, ToSchema)]
pub struct AnswerForm {
    #[serde(default)]
    step: String,
    /// The incident's answer count when the page was shown.
    #[serde(default)]
    answers: i32,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    csrf: String,
}

/// Answers the current step (the pressed button's choice); the choice's action runs as you.
#[utoipa::path(post, path = "/incidents/{id}/answer", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::incidents::IncidentId),
    request_body(content = AnswerForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the incident (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such incident", content_type = "text/html")))]
pub async fn answer(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<AnswerForm>,
) -> HttpResponse {
    let caller = match form_caller(
        &req,
        &core,
        session,
        &form.csrf,
        &format!("/incidents/{id}"),
    ) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow_incident(&caller, &id, Action::IncidentRun).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let parsed = (|| -> Result<Answer, Invalid> {
        Ok(Answer {
            step: RunbookKey::parse(&form.step, "step")?,
            choice: RunbookKey::parse(&form.choice, "choice")?,
            note: Justification::parse_optional(Some(&form.note))?,
            answers: Some(form.answers),
        })
    })();
    let answer = match parsed {
        Ok(answer) => answer,
        Err(invalid) => return answer_failed(&req, &core, &caller, &id, invalid.into()).await,
    };
    let answered = match core.answer_incident(&caller, allowed, answer).await {
        Ok(answered) => answered,
        Err(err) => return answer_failed(&req, &core, &caller, &id, err).await,
    };
    let t = Chrome::new(&req, &core, Some(&caller)).t;
    let mut extras = IncidentExtras::default();
    let mut release_key = None;
    if let Some(result) = answered.result {
        let mut shown = Shown {
            action: result.action.to_owned(),
            ..Shown::default()
        };
        match result.secret {
            Some(Revealed::BackupCode(out)) => {
                shown.code = Some(out.code);
                shown.position = Some(out.position);
                shown.generation = Some(out.generation);
                extras.shown = Some(shown);
            }
            Some(Revealed::Totp(code)) => {
                shown.expires_at = Some(
                    chrono::Utc::now().timestamp() + i64::try_from(code.expires_in).unwrap_or(0),
                );
                shown.period = Some(code.period);
                shown.next_code = code.next_code.as_ref().map(|c| c.as_str().to_owned());
                shown.code = Some(Zeroizing::new(code.code.as_str().to_owned()));
                extras.shown = Some(shown);
            }
            Some(Revealed::ReleaseKey { release, key }) => {
                shown.release = Some(release.clone());
                extras.shown = Some(shown);
                release_key = Some((release, key));
            }
            None => {
                extras.notice = Some(format!(
                    "{} {}",
                    t.inc.done_notice,
                    action_done(t.inc, result.action)
                ))
            }
        }
    }
    show_once(&req, &core, &caller, &id, extras, release_key).await
}

#[derive(Deserialize, ToSchema)]
pub struct CloseForm {
    /// The resolve summary or the cancel reason.
    #[serde(default)]
    text: String,
    #[serde(default)]
    csrf: String,
}

async fn close(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: &str,
    form: web::Form<CloseForm>,
    state: IncidentState,
) -> HttpResponse {
    let caller = match form_caller(
        &req,
        &core,
        session,
        &form.csrf,
        &format!("/incidents/{id}"),
    ) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow_incident(&caller, id, Action::IncidentRun).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let text = match Justification::parse(&form.text) {
        Ok(text) => text,
        Err(invalid) => return answer_failed(&req, &core, &caller, id, invalid.into()).await,
    };
    let closed = match state {
        IncidentState::Resolved => core.resolve_incident(&caller, allowed, text).await,
        _ => core.cancel_incident(&caller, allowed, text).await,
    };
    match closed {
        Ok(_) => see_other(&format!("/incidents/{id}")),
        Err(err) => answer_failed(&req, &core, &caller, id, err).await,
    }
}

/// Resolves the incident with what happened.
#[utoipa::path(post, path = "/incidents/{id}/resolve", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::incidents::IncidentId),
    request_body(content = CloseForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the incident (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such incident", content_type = "text/html")))]
pub async fn resolve(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CloseForm>,
) -> HttpResponse {
    close(req, core, session, &id, form, IncidentState::Resolved).await
}

/// Cancels the incident, with the reason.
#[utoipa::path(post, path = "/incidents/{id}/cancel", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::incidents::IncidentId),
    request_body(content = CloseForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the incident (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such incident", content_type = "text/html")))]
pub async fn cancel(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CloseForm>,
) -> HttpResponse {
    close(req, core, session, &id, form, IncidentState::Cancelled).await
}
