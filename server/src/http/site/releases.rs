//! Break-glass releases in the dashboard: asking for one (this browser keeps the release key),
//! its page, the veto, custodians' share submission, opening it and reading its secrets.

use super::breakglass::{
    release_cookie, release_key, release_line, CsrfForm, EscrowPath, ReleaseLine, ReleasePath,
};
use super::kit::when;
use super::kit::{form_caller, service_failure};
use super::{cookie, error_page, render, see_other, to_signin, Chrome};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::Justification;
use crate::http::MaybeSession;
use crate::services::release::ReleaseView;
use crate::services::{Core, ServiceError};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Asks for a release; this browser keeps the release key (an HttpOnly cookie for the
/// release's pages alone) and goes to the release's page.
#[utoipa::path(post, path = "/escrows/{id}/releases", tag = "dashboard", security(("session" = [])), params(EscrowPath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the release"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such escrow", content_type = "text/html"), (status = 409, description = "the escrow is spent", content_type = "text/html"), (status = 422, description = "no reason", content_type = "text/html")))]
pub async fn request(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/escrows/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    if let Err(err) = core.may_request_release(&caller, &id).await {
        return service_failure(c, err);
    }
    let reason = match Justification::parse(&form.reason) {
        Ok(reason) => reason,
        Err(invalid) => return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, invalid.message),
    };
    match core.request_release(&caller, &id, reason).await {
        Ok(requested) => {
            let release_id = requested.view.release.id.clone();
            let path = format!("/releases/{release_id}");
            let mut key = cookie(&core, "", requested.release_key.as_str().to_owned(), "/");
            key.set_name(release_cookie(&release_id));
            key.set_path(path.clone());
            // The waiting period (at most a week) and the window (at most a day).
            key.set_max_age(CookieDuration::days(8));
            let mut res = see_other(&path);
            let _ = res.add_cookie(&key);
            res
        }
        Err(err) => service_failure(c, err),
    }
}

#[derive(Template)]
#[template(path = "release.html")]
struct ReleasePage {
    c: Chrome,
    r: ReleaseLine,
    escrow_id: String,
    escrow_name: String,
    reason: String,
    raw_state: String,
    release_at: String,
    expires_at: String,
    can_veto: bool,
    has_key: bool,
    opened: bool,
}

/// A release: progress, waiting period, veto, and (for its requester) the released secrets.
#[utoipa::path(get, path = "/releases/{id}", tag = "dashboard", security(("session" = [])), params(ReleasePath),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such release", content_type = "text/html")))]
pub async fn release_detail(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/releases/{id}"));
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let ReleaseView { release, escrow } = match core.release(&caller, &id).await {
        Ok(view) => view,
        Err(err) => return service_failure(c, err),
    };
    let view = core.escrow_view(escrow).await;
    let can_veto = match &view {
        Ok(view) => {
            core.may(&caller, ORG_WIDE, Action::EscrowManage).await
                || core
                    .custodian_of(&caller, view)
                    .await
                    .ok()
                    .flatten()
                    .is_some()
        }
        Err(_) => false,
    };
    let Ok(view) = view else {
        return service_failure(c, ServiceError::NotFound(crate::services::Missing::Escrow));
    };
    let page = ReleasePage {
        r: release_line(&c, &release),
        escrow_id: view.escrow.id.clone(),
        escrow_name: view.escrow.name.clone(),
        reason: release.reason.clone(),
        raw_state: release.state.clone(),
        release_at: release.release_at.map(when).unwrap_or_default(),
        expires_at: release.expires_at.map(when).unwrap_or_default(),
        can_veto: can_veto && release.may_be_vetoed(),
        has_key: req.cookie(&release_cookie(&release.id)).is_some(),
        opened: release.opened.is_some(),
        c,
    };
    render(StatusCode::OK, &page)
}

/// Stops a release that collects shares or waits (security admins and custodians).
#[utoipa::path(post, path = "/releases/{id}/veto", tag = "dashboard", security(("session" = [])), params(ReleasePath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the release"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such release", content_type = "text/html"), (status = 409, description = "it cannot be vetoed now", content_type = "text/html"), (status = 422, description = "no justification", content_type = "text/html")))]
pub async fn veto(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let here = format!("/releases/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    if let Err(err) = core.may_veto_release(&caller, &id).await {
        return service_failure(c, err);
    }
    let justification = match Justification::parse(&form.reason) {
        Ok(j) => j,
        Err(invalid) => return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, invalid.message),
    };
    match core.veto_release(&caller, &id, justification).await {
        Ok(_) => see_other(&here),
        Err(err) => service_failure(c, err),
    }
}

#[derive(Template)]
#[template(path = "release_submit.html")]
struct SubmitPage {
    c: Chrome,
    id: String,
    done: bool,
    error: Option<String>,
    /// Who asked, why, for which teams and when: so a custodian can tell a real emergency
    /// from a stray link.
    context: Option<SubmitContext>,
}

struct SubmitContext {
    requester: String,
    reason: String,
    teams: String,
    asked_at: String,
}

async fn submit_context(core: &Core, id: &str) -> Option<SubmitContext> {
    let (release, teams) = core.release_context(id).await.ok()??;
    Some(SubmitContext {
        requester: core.display_name(&release.requester).await,
        reason: release.reason,
        teams: teams.join(", "),
        asked_at: super::kit::when(release.created_at),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubmitQuery {
    /// Present after a share was accepted.
    done: Option<String>,
}

/// Where custodians submit their share: no sign-in (the IdP may be down).
#[utoipa::path(get, path = "/releases/{id}/submit", tag = "dashboard", security(), params(ReleasePath, SubmitQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html")))]
pub async fn submit_page(
    req: HttpRequest,
    core: web::Data<Core>,
    id: web::Path<String>,
    query: web::Query<SubmitQuery>,
) -> HttpResponse {
    let c = Chrome::new(&req, &core, None);
    let id = if crate::domain::is_id(&id) {
        id.into_inner()
    } else {
        String::new()
    };
    render(
        StatusCode::OK,
        &SubmitPage {
            c,
            context: submit_context(&core, &id).await,
            id,
            done: query.done.is_some(),
            error: None,
        },
    )
}

#[derive(Deserialize, ToSchema)]
pub struct ShareForm {
    /// The custodian's `kwshare1-…` share.
    #[serde(default)]
    #[schema(value_type = String)]
    share: SecretString,
}

/// Takes a custodian's share from the public form (the share proves itself).
#[utoipa::path(post, path = "/releases/{id}/submit", tag = "dashboard", security(), params(ReleasePath),
    request_body(content = ShareForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "accepted: back to the page"), (status = 404, description = "no such release", content_type = "text/html"), (status = 409, description = "submitted already, or not collecting", content_type = "text/html"), (status = 422, description = "not a share of this escrow", content_type = "text/html"), (status = 429, description = "too many refused shares from this address", content_type = "text/html")))]
pub async fn submit(
    req: HttpRequest,
    core: web::Data<Core>,
    id: web::Path<String>,
    form: web::Form<ShareForm>,
) -> HttpResponse {
    let meta = crate::http::auth::meta(&req);
    match core
        .submit_share(&id, form.share.expose_secret(), &meta)
        .await
    {
        Ok(_) => see_other(&format!("/releases/{id}/submit?done=1")),
        Err(err) => {
            let api = crate::http::ApiError::from(err);
            let c = Chrome::new(&req, &core, None);
            let id = if crate::domain::is_id(&id) {
                id.into_inner()
            } else {
                String::new()
            };
            render(
                api.status,
                &SubmitPage {
                    c,
                    context: submit_context(&core, &id).await,
                    id,
                    done: false,
                    error: Some(api.message),
                },
            )
        }
    }
}

pub struct SecretLine {
    pub platform: String,
    pub handle: String,
    pub otpauth_uri: Option<String>,
    pub code: Option<String>,
    pub password: Option<String>,
    pub backup_codes: Vec<(i32, String)>,
}

#[derive(Template)]
#[template(path = "release_secrets.html")]
struct SecretsPage {
    c: Chrome,
    id: String,
    accounts: Vec<SecretLine>,
    expires_at: String,
    expires_in: i64,
}

/// Opens a release that is ready (the requester's browser, with the release key), then shows
/// its secrets.
#[utoipa::path(post, path = "/releases/{id}/open", tag = "dashboard", security(("session" = [])), params(ReleasePath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the released secrets"), (status = 403, description = "a stale form (CSRF), not the requester, or no release key in this browser", content_type = "text/html"), (status = 404, description = "no such release", content_type = "text/html"), (status = 409, description = "not released (yet)", content_type = "text/html"), (status = 410, description = "the window has ended", content_type = "text/html"), (status = 429, description = "still waiting", content_type = "text/html")))]
pub async fn open(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let here = format!("/releases/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    // Without the key the service still decides, so the refusal is audited.
    let key = release_key(&req, &id);
    let has_key = key.is_some();
    match core
        .released_secrets(&caller, &id, &key.unwrap_or_default(), true)
        .await
    {
        Ok(_) => see_other(&format!("/releases/{id}/secrets")),
        Err(err) => refused(c, err, has_key),
    }
}

/// The released secrets, for the browser that holds the release key, until the window ends.
#[utoipa::path(get, path = "/releases/{id}/secrets", tag = "dashboard", security(("session" = [])), params(ReleasePath),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not the requester, or no release key in this browser", content_type = "text/html"), (status = 404, description = "no such release", content_type = "text/html"), (status = 409, description = "not released (yet)", content_type = "text/html"), (status = 410, description = "the window has ended", content_type = "text/html"), (status = 429, description = "still waiting", content_type = "text/html")))]
pub async fn secrets(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/releases/{id}"));
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    // Without the key there is nothing to show, and nothing is written: another site could
    // link here and make a signed-in browser write refusals in its member's name. (The form
    // that opens a release asks the service, which audits.)
    let Some(key) = release_key(&req, &id) else {
        let message = c.t.bg.no_key;
        return error_page(c, StatusCode::FORBIDDEN, message);
    };
    // A GET never opens a release (another site could link here): the page's form does.
    match core.released_secrets(&caller, &id, &key, false).await {
        Ok((accounts, expires)) => {
            let accounts = accounts
                .iter()
                .map(|a| SecretLine {
                    platform: a.platform.clone(),
                    handle: a.handle.clone(),
                    otpauth_uri: a.otpauth_uri.clone(),
                    code: a.totp_code().map(|c| c.as_str().to_owned()),
                    password: a.password.clone(),
                    backup_codes: a.backup_codes.clone(),
                })
                .collect();
            let page = SecretsPage {
                c,
                id: id.into_inner(),
                accounts,
                expires_at: when(expires),
                expires_in: (expires - chrono::Utc::now()).num_seconds().max(0),
            };
            render(StatusCode::OK, &page)
        }
        Err(err) => refused(c, err, true),
    }
}

/// A release the caller may not read, or not yet: a browser without the release key is told
/// it lacks it; anything else as the service says.
fn refused(c: Chrome, err: crate::services::ServiceError, has_key: bool) -> HttpResponse {
    let api = crate::http::ApiError::from(err);
    if !has_key && api.status == StatusCode::FORBIDDEN {
        let message = c.t.bg.no_key;
        return error_page(c, StatusCode::FORBIDDEN, message);
    }
    error_page(c, api.status, api.message)
}
