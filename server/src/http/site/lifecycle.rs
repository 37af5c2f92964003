//! The account life cycle in the dashboard: add an account, edit its details, freeze or
//! unfreeze it, archive it, and reveal its password (managers; shown once). Every form
//! answers with a redirect; what it produced is kept for one view of the account page.

use super::account::{show_once, Extras};
use super::kit::{form_caller, recoverable, service_failure};
use super::panels::lifecycle::ShownPassword;
use super::{error_page, see_other, Chrome};
use crate::authz::Action;
use crate::domain::{
    AccountStatus, Handle, Invalid, Justification, LoginUrl, Notes, Platform, TeamSlug,
};
use crate::http::MaybeSession;
use crate::services::accounts::{AccountInput, AccountPatch};
use crate::services::Core;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct AddForm {
    #[serde(default)]
    team: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    login_url: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    csrf: String,
}

fn login_url(raw: &str) -> Result<Option<LoginUrl>, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() {
        Ok(None)
    } else {
        LoginUrl::parse(raw).map(Some)
    }
}

/// Adds an account (manager of the team) and goes to it.
#[utoipa::path(post, path = "/accounts", tag = "dashboard", security(("session" = [])),
    request_body(content = AddForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the new account"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 409, description = "the account exists", content_type = "text/html"), (status = 422, description = "a bad field", content_type = "text/html")))]
pub async fn add(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: web::Form<AddForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/accounts") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    if let Err(err) = core
        .authorize_somewhere(&caller, Action::AccountCreate)
        .await
    {
        return service_failure(c, err);
    }
    let input = (|| -> Result<AccountInput, Invalid> {
        Ok(AccountInput {
            team: TeamSlug::parse(&form.team)?,
            platform: Platform::parse(&form.platform)?,
            handle: Handle::parse(&form.handle)?,
            login_url: login_url(&form.login_url)?,
            notes: Notes::parse(&form.notes)?,
        })
    })();
    let input = match input {
        Ok(input) => input,
        Err(invalid) => return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, invalid.message),
    };
    match core.create_account(&caller, input).await {
        Ok(view) => see_other(&format!("/accounts/{}", view.account.id)),
        Err(err) => service_failure(c, err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EditForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    login_url: String,
    #[serde(default)]
    notes: String,
    /// `active` or `frozen`, to change the status instead.
    #[serde(default)]
    status: String,
    /// `open`, `approval` or `approval2` (two approvers), to change the access policy instead.
    #[serde(default)]
    access: String,
    #[serde(default)]
    csrf: String,
}

/// Saves an account's details, or freezes or unfreezes it (`status`).
#[utoipa::path(post, path = "/accounts/{id}/edit", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = EditForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn edit(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<EditForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let t = c.t;
    let allowed = match core.allow(&caller, &id, Action::AccountUpdate).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(c, err),
    };
    let (patch, done) = if !form.access.trim().is_empty() {
        let patch = super::access::policy_of(&form.access).map(|(access, needed)| AccountPatch {
            access: Some(access),
            approvers_needed: Some(needed),
            ..AccountPatch::default()
        });
        (patch, t.life.saved)
    } else if form.status.trim().is_empty() {
        let patch = (|| -> Result<AccountPatch, Invalid> {
            Ok(AccountPatch {
                handle: Some(Handle::parse(&form.handle)?),
                login_url: Some(login_url(&form.login_url)?),
                notes: Some(Notes::parse(&form.notes)?),
                ..AccountPatch::default()
            })
        })();
        (patch, t.life.saved)
    } else {
        let status = AccountStatus::parse(form.status.trim());
        let done = if form.status.trim() == "frozen" {
            t.life.frozen_done
        } else {
            t.life.unfrozen_done
        };
        (
            status.map(|s| AccountPatch {
                status: Some(s),
                ..AccountPatch::default()
            }),
            done,
        )
    };
    let mut extras = Extras::default();
    let result = match patch {
        Ok(patch) => core.update_account(&caller, &allowed, patch).await,
        Err(invalid) => Err(invalid.into()),
    };
    let policy = !form.access.trim().is_empty();
    match result {
        Ok(_) if policy => extras.policy_notice = Some(done.to_owned()),
        Ok(_) => extras.store.notice = Some(done.to_owned()),
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) if policy => {
                extras.access_error = Some(message);
                extras.store_anchor_policy = true;
            }
            Ok(message) => extras.store.error = Some(message),
            Err(response) => return response,
        },
    }
    let anchor = if policy { "access-policy" } else { "details" };
    show_once(&req, &core, &caller, &id, extras, anchor).await
}

#[derive(Deserialize, ToSchema)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Archives an account (manager) and goes back to the list.
#[utoipa::path(post, path = "/accounts/{id}/archive", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the accounts"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html"), (status = 423, description = "archived already", content_type = "text/html")))]
pub async fn archive(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/accounts/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.archive_account(&caller, &id).await {
        Ok(_) => see_other("/accounts"),
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RevealPasswordForm {
    #[serde(default)]
    justification: String,
    #[serde(default)]
    csrf: String,
}

/// Reveals the account's password (manager, with a reason, after a recent sign-in); the
/// answer redirects to the account page, which shows it once.
#[utoipa::path(post, path = "/accounts/{id}/password/reveal", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = RevealPasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn reveal_password(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<RevealPasswordForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::PasswordReveal).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let revealed = match Justification::parse(&form.justification) {
        Ok(why) => core.reveal_password(&caller, &allowed, why).await,
        Err(invalid) => Err(invalid.into()),
    };
    let mut extras = Extras::default();
    match revealed {
        Ok(r) => {
            extras.password = Some(ShownPassword {
                password: r.password,
            })
        }
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => extras.password_error = Some(message),
            Err(response) => return response,
        },
    }
    show_once(&req, &core, &caller, &id, extras, "password").await
}
