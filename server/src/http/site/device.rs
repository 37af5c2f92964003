//! The device sign-in's browser leg (RFC 8628, 3.3): the signed-in member types (or follows a
//! link with) the user code `kw login` shows, sees which client asks and from where, and
//! approves or denies. The form answers with a redirect, so a reload repeats nothing.

use super::kit::{form_caller, service_failure, when};
use super::{render, see_other, to_signin, Chrome};
use crate::domain::device::UserCode;
use crate::http::MaybeSession;
use crate::services::cli_sessions::CliSession;
use crate::services::{Caller, Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub struct PendingView {
    code: String,
    client: String,
    from: String,
    when: String,
    /// Where to sign in again first, when the browser's sign-in is not recent.
    reauth: Option<String>,
}

/// A signed-in command line (`kw`) as a page lists it.
pub struct CommandLineView {
    pub id: String,
    pub signed_in: String,
    pub last_seen: String,
    pub expires: String,
    pub from: String,
}

impl From<CliSession> for CommandLineView {
    fn from(s: CliSession) -> Self {
        Self {
            id: s.id,
            signed_in: when(s.created_at),
            last_seen: when(s.last_seen_at),
            expires: when(s.expires_at),
            from: [s.ip, s.user_agent]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
        }
    }
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    c: Chrome,
    /// The member's own signed-in command lines.
    mine: Vec<CommandLineView>,
    pending: Option<PendingView>,
    done: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// The code `kw login` shows (`XXXX-XXXX`).
    user_code: Option<String>,
    /// `approved` or `denied`: the result of the form, shown once.
    done: Option<String>,
}

async fn page_for(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    code: Option<&str>,
    done: Option<&str>,
) -> HttpResponse {
    let c = Chrome::for_page(req, core, caller).await;
    let mine = match core.my_cli_sessions(caller).await {
        Ok(found) => found.into_iter().map(CommandLineView::from).collect(),
        Err(err) => return service_failure(c, err),
    };
    let done = match done {
        Some("approved") => Some(c.t.dev.approved),
        Some("denied") => Some(c.t.dev.denied),
        _ => None,
    };
    let Some(raw) = code.filter(|c| !c.trim().is_empty()) else {
        return render(
            StatusCode::OK,
            &DevicePage {
                c,
                mine,
                pending: None,
                done,
                error: None,
            },
        );
    };
    let found = match UserCode::parse(raw) {
        Ok(code) => core.pending_device(caller, &code).await,
        Err(invalid) => Err(invalid.into()),
    };
    match found {
        Ok(p) => {
            let pending = PendingView {
                code: p.user_code.display(),
                client: p.client_id,
                from: [p.ip, p.user_agent]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · "),
                when: when(p.created_at),
                reauth: caller
                    .session
                    .as_ref()
                    .filter(|s| !core.is_recent(s))
                    .map(|_| reauth_link(&p.user_code.display())),
            };
            render(
                StatusCode::OK,
                &DevicePage {
                    c,
                    mine,
                    pending: Some(pending),
                    done: None,
                    error: None,
                },
            )
        }
        Err(
            err @ (ServiceError::NotFound(_)
            | ServiceError::Invalid(_)
            | ServiceError::RateLimited { .. }),
        ) => {
            let api = crate::http::ApiError::from(err);
            let message = if api.status == StatusCode::NOT_FOUND {
                c.t.not_found_body.to_owned()
            } else {
                api.message
            };
            render(
                api.status,
                &DevicePage {
                    c,
                    mine,
                    pending: None,
                    done: None,
                    error: Some(message),
                },
            )
        }
        Err(err) => service_failure(c, err),
    }
}

/// The step-up sign-in that comes back to this code's page.
fn reauth_link(code: &str) -> String {
    let back = device_path(code);
    let encoded: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    format!("/auth/reauth?return_to={encoded}")
}

fn device_path(code: &str) -> String {
    format!(
        "/device?user_code={}",
        url::form_urlencoded::byte_serialize(code.as_bytes()).collect::<String>()
    )
}

/// The device sign-in page: type the code, then see the request and approve or deny it.
#[utoipa::path(get, path = "/device", tag = "dashboard", security(("session" = [])),
    params(DeviceQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "to sign in first"), (status = 404, description = "no pending sign-in with that code", content_type = "text/html"), (status = 422, description = "not a code", content_type = "text/html"), (status = 429, description = "too many wrong codes", content_type = "text/html")))]
pub async fn page(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<DeviceQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        let back = match &query.user_code {
            Some(code) => device_path(code),
            None => "/device".to_owned(),
        };
        return to_signin(&back);
    };
    page_for(
        &req,
        &core,
        &caller,
        query.user_code.as_deref(),
        query.done.as_deref(),
    )
    .await
}

#[derive(Deserialize, ToSchema)]
pub struct DeviceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_code: String,
    /// `approve` or `deny`.
    #[serde(default)]
    decision: String,
}

/// Approves or denies the command line's sign-in, then shows the result once.
#[utoipa::path(post, path = "/device", tag = "dashboard", security(("session" = [])),
    request_body(content = DeviceForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the result, or to sign in again first (approving needs a recent sign-in)"), (status = 403, description = "a stale form (CSRF)", content_type = "text/html"), (status = 404, description = "no pending sign-in with that code", content_type = "text/html"), (status = 409, description = "decided already", content_type = "text/html"), (status = 422, description = "not a code, or no decision", content_type = "text/html")))]
pub async fn decide(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: web::Form<DeviceForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/device") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            let err: ServiceError =
                crate::domain::Invalid::new("invalid_decision", "approve or deny").into();
            return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
        }
    };
    let result = match UserCode::parse(&form.user_code) {
        Ok(code) => core.decide_device(&caller, &code, approve).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(()) => see_other(if approve {
            "/device?done=approved"
        } else {
            "/device?done=denied"
        }),
        Err(ServiceError::NotFound(_)) => {
            page_for(&req, &core, &caller, Some(&form.user_code), None).await
        }
        Err(ServiceError::ReauthRequired) => see_other(&reauth_link(&form.user_code)),
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EndMineForm {
    #[serde(default)]
    csrf: String,
    /// The session's handle, as the page lists it.
    #[serde(default)]
    session: String,
}

/// Ends one of the signed-in member's own command lines, then shows the page again.
#[utoipa::path(post, path = "/device/sessions/end", tag = "dashboard", security(("session" = [])),
    request_body(content = EndMineForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to /device"), (status = 403, description = "a stale form (CSRF)", content_type = "text/html"), (status = 404, description = "no such command line of yours", content_type = "text/html")))]
pub async fn end_mine(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: web::Form<EndMineForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/device") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.end_my_cli_session(&caller, &form.session).await {
        Ok(()) => see_other("/device#mine"),
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}
