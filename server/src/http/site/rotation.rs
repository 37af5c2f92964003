//! Rotation in the dashboard: the tasks page (mine, my teams', overdue, closed) with each
//! platform's steps, taking and dismissing a task, and the account page's forms that store a
//! new seed or password (which close the matching tasks).

use super::account::{show_once, Extras};
use super::i18n::Texts;
use super::kit::{form_caller, recoverable, service_failure};
use super::panels::rotation::{cards, TaskCard};
use super::{render, see_other, to_signin, Chrome};
use crate::authz::Action;
use crate::domain::{
    Base32Secret, HashAlgorithm, Justification, OtpKind, OtpParams, Otpauth, Password,
    RotationKind, TaskState,
};
use crate::http::MaybeSession;
use crate::services::rotation::{TaskQuery, TaskView};
use crate::services::{Caller, Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Template)]
#[template(path = "rotation_tasks.html")]
struct TasksPage {
    c: Chrome,
    view: String,
    tabs: Vec<(&'static str, &'static str, usize)>,
    tasks: Vec<TaskCard>,
    empty: &'static str,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// `mine` (default), `team`, `overdue` or `closed`.
    view: Option<String>,
}

/// Rotation tasks: mine, my teams', overdue, closed.
#[utoipa::path(get, path = "/rotation-tasks", tag = "dashboard", security(("session" = [])), params(TasksQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
pub async fn tasks(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<TasksQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/rotation-tasks");
    };
    let c = Chrome::for_page(&req, &core, &caller).await;
    let open = TaskQuery {
        state: Some(TaskState::Open),
        ..TaskQuery::default()
    };
    let closed = TaskQuery {
        closed: true,
        ..TaskQuery::default()
    };
    let (team, mut closed) = match (
        core.rotation_tasks(&caller, open).await,
        core.rotation_tasks(&caller, closed).await,
    ) {
        (Ok(open), Ok(closed)) => (open, closed),
        (Err(err), _) | (_, Err(err)) => return service_failure(c, err),
    };
    closed.truncate(200);
    let me = caller.principal.id.clone();
    let mut mine = Vec::new();
    for view in &team {
        let mine_to_do = match &view.task.assignee {
            Some(assignee) => *assignee == me,
            None => core.may(&caller, &view.team, Action::RotationAssign).await,
        };
        if mine_to_do {
            mine.push(view.clone());
        }
    }
    let overdue: Vec<TaskView> = team.iter().filter(|v| v.overdue()).cloned().collect();
    let t = c.t;
    let tabs = vec![
        ("mine", t.r.tab_mine, mine.len()),
        ("team", t.r.tab_team, team.len()),
        ("overdue", t.r.tab_overdue, overdue.len()),
        ("closed", t.r.tab_closed, closed.len()),
    ];
    let (view, shown, empty) = match query.view.as_deref() {
        Some("team") => ("team", team, t.r.empty_team),
        Some("overdue") => ("overdue", overdue, t.r.empty_overdue),
        Some("closed") => ("closed", closed, t.r.empty_closed),
        _ => ("mine", mine, t.r.empty_mine),
    };
    let tasks = cards(&core, &caller, t, shown).await;
    render(
        StatusCode::OK,
        &TasksPage {
            c,
            view: view.to_owned(),
            tabs,
            tasks,
            empty,
        },
    )
}

#[derive(Deserialize, ToSchema)]
pub struct TaskForm {
    #[serde(default)]
    csrf: String,
    /// Why the risk is accepted (dismiss).
    #[serde(default)]
    justification: String,
}

/// The tasks page again, with a form's error.
fn tasks_error(c: Chrome, message: String) -> HttpResponse {
    super::error_page(c, StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// Takes a task: it is given to the signed-in manager.
#[utoipa::path(post, path = "/rotation-tasks/{id}/take", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::rotation::TaskId),
    request_body(content = TaskForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such task", content_type = "text/html"), (status = 409, description = "the task is closed", content_type = "text/html")))]
pub async fn take(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<TaskForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/rotation-tasks") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let done = match core.may_assign_task(&caller, &id).await {
        Ok(view) => {
            let me = caller.principal.id.clone();
            core.assign_rotation_task(&caller, view, &me).await
        }
        Err(err) => Err(err),
    };
    match done {
        Ok(_) => see_other("/rotation-tasks?view=mine"),
        Err(err) => service_failure(c, err),
    }
}

/// Dismisses a task, with a justification (security admins).
#[utoipa::path(post, path = "/rotation-tasks/{id}/dismiss", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::rotation::TaskId),
    request_body(content = TaskForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such task", content_type = "text/html"), (status = 409, description = "the task is closed", content_type = "text/html"), (status = 422, description = "no justification", content_type = "text/html")))]
pub async fn dismiss(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<TaskForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/rotation-tasks") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let view = match core.may_dismiss_task(&caller, &id).await {
        Ok(view) => view,
        Err(err) => return service_failure(c, err),
    };
    let justification = match Justification::parse(&form.justification) {
        Ok(j) => j,
        Err(invalid) => return tasks_error(c, invalid.message),
    };
    match core
        .dismiss_rotation_task(&caller, view, justification)
        .await
    {
        Ok(_) => see_other("/rotation-tasks?view=closed"),
        Err(err) => service_failure(c, err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SeedForm {
    #[serde(default)]
    csrf: String,
    /// An `otpauth://totp/…` URI, or a Base32 setup key (SHA1, 6 digits, 30 s).
    #[serde(default)]
    #[schema(value_type = String)]
    secret: SecretString,
    /// Or a screenshot of the platform's QR code (base64 PNG, JPEG or WebP), put here by the
    /// page's script from a file, a drop or the clipboard; read in memory, never kept.
    #[serde(default)]
    #[schema(value_type = String)]
    qr_image: SecretString,
}

fn parse_seed(raw: &str) -> Result<Otpauth, crate::domain::Invalid> {
    let raw = raw.trim();
    if raw.to_ascii_lowercase().starts_with("otpauth://") {
        return Otpauth::parse(raw);
    }
    Ok(Otpauth {
        secret: Base32Secret::parse(raw)?,
        params: OtpParams::totp(HashAlgorithm::Sha1, 6, 30)?,
    })
}

fn closed_note(t: &Texts, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" {}", super::i18n::count(t.r.tasks_closed, "n", n as i64))
    }
}

/// Open tasks of a kind on an account before a store, to say how many it closed.
async fn open_of_kind(
    core: &Core,
    caller: &Caller,
    account: &str,
    kinds: &[RotationKind],
) -> usize {
    let query = TaskQuery {
        state: Some(TaskState::Open),
        account: Some(account.to_owned()),
        ..TaskQuery::default()
    };
    core.rotation_tasks(caller, query)
        .await
        .map(|v| {
            v.iter()
                .filter(|t| kinds.iter().any(|k| t.task.secret_kind == k.as_str()))
                .count()
        })
        .unwrap_or(0)
}

/// A store form on its way: the caller, the account they may store on, and how many tasks of
/// the kind were open before (to say how many the store closed).
struct Storing {
    caller: Caller,
    t: &'static Texts,
    allowed: crate::services::Allowed,
    id: String,
    kinds: &'static [RotationKind],
    before: usize,
}

impl Storing {
    /// Checks the form (CSRF) and the caller's right to `action` on the account first.
    // The Err side is the response itself, handed straight back to actix.
    #[allow(clippy::result_large_err)]
    async fn start(
        req: &HttpRequest,
        core: &Core,
        session: MaybeSession,
        csrf: &str,
        id: &str,
        action: Action,
        kinds: &'static [RotationKind],
    ) -> Result<Self, HttpResponse> {
        let caller = form_caller(req, core, session, csrf, &format!("/accounts/{id}"))?;
        let t = Chrome::new(req, core, Some(&caller)).t;
        let allowed = match core.allow(&caller, id, action).await {
            Ok(allowed) => allowed,
            Err(err) => return Err(service_failure(Chrome::new(req, core, Some(&caller)), err)),
        };
        let before = open_of_kind(core, &caller, id, kinds).await;
        Ok(Self {
            caller,
            t,
            allowed,
            id: id.to_owned(),
            kinds,
            before,
        })
    }

    /// What the account page shows after the store: `notice` (with `{version}`) and how many
    /// tasks it closed, or the failure's message; or a response of its own (a step-up).
    // The Err side is the response itself, handed straight back to actix.
    #[allow(clippy::result_large_err)]
    async fn outcome(
        &self,
        req: &HttpRequest,
        core: &Core,
        stored: Result<i32, ServiceError>,
        notice: &str,
    ) -> Result<Extras, HttpResponse> {
        let mut extras = Extras::default();
        match stored {
            Ok(version) => {
                let after = open_of_kind(core, &self.caller, &self.id, self.kinds).await;
                extras.store.notice = Some(format!(
                    "{}{}",
                    notice.replace("{version}", &version.to_string()),
                    closed_note(self.t, self.before.saturating_sub(after))
                ));
            }
            Err(err) => {
                let here = format!("/accounts/{}", self.id);
                extras.store.error = Some(recoverable(req, core, &self.caller, err, &here)?);
            }
        }
        Ok(extras)
    }

    async fn show(&self, req: &HttpRequest, core: &Core, extras: Extras) -> HttpResponse {
        show_once(req, core, &self.caller, &self.id, extras, "store").await
    }
}

/// Stores a new TOTP seed, then shows its current code (to finish the platform's enrollment).
#[utoipa::path(post, path = "/accounts/{id}/totp/set", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = SeedForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn store_seed(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: crate::http::extract::UploadForm<SeedForm>,
) -> HttpResponse {
    let form = match form.into_inner() {
        Ok(form) => form,
        Err(err) => {
            return super::error_page(Chrome::new(&req, &core, None), err.status, err.message);
        }
    };
    let s = match Storing::start(
        &req,
        &core,
        session,
        &form.csrf,
        &id,
        Action::TotpSet,
        &[RotationKind::Totp, RotationKind::Hotp],
    )
    .await
    {
        Ok(s) => s,
        Err(response) => return response,
    };
    let image = form.qr_image.expose_secret().trim().to_owned();
    let parsed = if image.is_empty() {
        parse_seed(form.secret.expose_secret())
    } else {
        match data_encoding::BASE64.decode(image.as_bytes()) {
            Ok(bytes) => web::block(move || crate::importers::qr::otpauth_from_image(&bytes))
                .await
                .unwrap_or_else(|_| {
                    Err(crate::domain::Invalid::new(
                        "invalid_image",
                        "the image could not be read",
                    ))
                }),
            Err(_) => Err(crate::domain::Invalid::new(
                "invalid_image",
                "the screenshot did not arrive whole; pick it again",
            )),
        }
    };
    let hotp = parsed
        .as_ref()
        .is_ok_and(|otp| otp.params.kind() == OtpKind::Hotp);
    let short = parsed
        .as_ref()
        .is_ok_and(crate::services::otp::is_short_seed);
    let stored = match parsed {
        // An HOTP link: a right of its own.
        Ok(otp) if hotp => match core.allow(&s.caller, &id, Action::HotpSet).await {
            Ok(allowed) => core.set_otp(&s.caller, &allowed, otp).await,
            Err(err) => Err(err),
        },
        Ok(otp) => core.set_otp(&s.caller, &s.allowed, otp).await,
        Err(invalid) => Err(invalid.into()),
    };
    let mut extras = match s.outcome(&req, &core, stored, s.t.r.seed_stored).await {
        Ok(extras) => extras,
        Err(response) => return response,
    };
    if let (Some(notice), true) = (extras.store.notice.as_mut(), short) {
        notice.push(' ');
        notice.push_str(s.t.r.short_seed);
    }
    if extras.store.notice.is_some() && !hotp {
        // The current code of the new seed: a reveal like any other (audited).
        let code = match core.allow(&s.caller, &id, Action::TotpReveal).await {
            Ok(reveal) => {
                let why = Some(Justification::own(super::i18n_words::WHY_ENROLLMENT_CODE));
                core.reveal_totp(&s.caller, &reveal, why).await
            }
            Err(err) => Err(err),
        };
        extras.store.enroll_note = Some(match code {
            Ok(code) => {
                extras.totp = Some(super::account::ShownTotp::for_enrollment(code));
                s.t.r.enroll_hint.to_owned()
            }
            Err(ServiceError::ReauthRequired) => s.t.r.enroll_reauth.to_owned(),
            Err(err) => {
                let api = crate::http::ApiError::from(err);
                super::i18n_errors::localized(s.t.lang, api.code, api.message)
            }
        });
    }
    s.show(&req, &core, extras).await
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    #[schema(value_type = String)]
    password: SecretString,
}

/// Stores a new password version.
#[utoipa::path(post, path = "/accounts/{id}/password/set", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn store_password(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> HttpResponse {
    let s = match Storing::start(
        &req,
        &core,
        session,
        &form.csrf,
        &id,
        Action::PasswordSet,
        &[RotationKind::Password],
    )
    .await
    {
        Ok(s) => s,
        Err(response) => return response,
    };
    let stored = match Password::parse(form.password.clone()) {
        Ok(password) => core.set_password(&s.caller, &s.allowed, password).await,
        Err(invalid) => Err(invalid.into()),
    };
    match s.outcome(&req, &core, stored, s.t.r.password_stored).await {
        Ok(extras) => s.show(&req, &core, extras).await,
        Err(response) => response,
    }
}
