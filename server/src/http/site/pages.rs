//! Dashboard pages: sign-in, accounts list, account with TOTP reveal, language switch.

use super::account::{show_once, AccountCard, Extras, ShownTotp};
use super::kit::{form_caller, recoverable, service_failure};
use super::{cookie, render, see_other, to_signin, Chrome};
use crate::authn::session::LANG_COOKIE;
use crate::authz::{Action, ORG_WIDE};
use crate::domain::Justification;
use crate::http::MaybeSession;
use crate::services::{Caller, Core};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    c: Chrome,
    return_to: String,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    c: Chrome,
    accounts: Vec<AccountCard>,
    roles: Vec<String>,
    can_audit: bool,
    /// The link to the next page, when there is one.
    next: Option<String>,
    /// Open incidents the member may read.
    incident_rows: Vec<super::incidents::IncidentLine>,
    /// Teams the member may add accounts to, and the platforms.
    add_teams: Vec<String>,
    platforms: Vec<&'static str>,
    /// The search, as typed.
    search: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// The next page's cursor.
    after: Option<String>,
    /// Only accounts whose handle contains this.
    q: Option<String>,
}

/// The teams of the member's own bindings in which they may add accounts.
pub async fn creatable_teams(core: &Core, caller: &Caller) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in &caller.principal.bindings {
        if b.team != ORG_WIDE
            && !out.contains(&b.team)
            && core.may(caller, &b.team, Action::AccountCreate).await
        {
            out.push(b.team.clone());
        }
    }
    out
}

/// The dashboard's entry: to the accounts when signed in, else to sign-in.
#[utoipa::path(get, path = "/", tag = "dashboard", security(), responses((status = 303, description = "a redirect (see Location)")))]
pub async fn home(session: MaybeSession) -> HttpResponse {
    match session.0 {
        Some(_) => see_other("/accounts"),
        None => see_other("/signin"),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SigninQuery {
    /// Where to go after signing in (a path on this service).
    return_to: Option<String>,
    /// Present after signing out: the page says so.
    signed_out: Option<String>,
}

/// The sign-in page.
#[utoipa::path(get, path = "/signin", tag = "dashboard", security(), params(SigninQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
pub async fn signin(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<SigninQuery>,
) -> HttpResponse {
    let return_to = core
        .settings
        .return_to(query.return_to.as_deref())
        .as_str()
        .to_owned();
    if session.0.is_some() {
        return see_other(&return_to);
    }
    let c = Chrome::new(&req, &core, None);
    let notice = if query.signed_out.is_some() {
        Some(c.t.signed_out_notice)
    } else if req.cookie(crate::authn::session::SESSION_COOKIE).is_some() {
        Some(c.t.session_ended_notice)
    } else {
        None
    };
    render(
        StatusCode::OK,
        &SigninPage {
            c,
            return_to,
            notice,
        },
    )
}

/// The accounts the signed-in member may see.
#[utoipa::path(get, path = "/accounts", tag = "dashboard", security(("session" = [])), params(AccountsQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 422, description = "a bad cursor", content_type = "text/html")))]
pub async fn accounts(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<AccountsQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/accounts");
    };
    let c = Chrome::for_page(&req, &core, &caller).await;
    let after = match query
        .after
        .as_deref()
        .map(crate::http::cursor::decode)
        .transpose()
    {
        Ok(after) => after,
        Err(invalid) => return service_failure(c, invalid.into()),
    };
    let search = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(100).collect::<String>());
    let listing = crate::services::accounts::ListQuery {
        hide_archived: true,
        after,
        search: search.clone(),
        ..Default::default()
    };
    match core.list_accounts(&caller, listing).await {
        Ok(page) => {
            let accounts = page
                .views
                .iter()
                .map(|v| AccountCard::from_view(v, c.t))
                .collect();
            let next = page.next.as_ref().map(|n| {
                let q: String = search
                    .as_deref()
                    .map(|q| url::form_urlencoded::byte_serialize(q.as_bytes()).collect())
                    .unwrap_or_default();
                format!("/accounts?after={}&q={q}", crate::http::cursor::encode(n))
            });
            let roles = caller
                .principal
                .bindings
                .iter()
                .map(|b| c.t.grant(b.role.as_str(), &b.team))
                .collect();
            let can_audit = core.may(&caller, ORG_WIDE, Action::AuditRead).await;
            let incident_rows = super::incidents::lines(
                &core,
                &caller,
                c.t,
                Some(crate::domain::IncidentState::Open),
                None,
            )
            .await;
            let add_teams = creatable_teams(&core, &caller).await;
            render(
                StatusCode::OK,
                &AccountsPage {
                    c,
                    accounts,
                    roles,
                    can_audit,
                    next,
                    incident_rows,
                    add_teams,
                    platforms: crate::domain::Platform::ALL
                        .iter()
                        .map(|p| p.as_str())
                        .collect(),
                    search: search.unwrap_or_default(),
                },
            )
        }
        Err(err) => service_failure(c, err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RevealForm {
    #[serde(default)]
    justification: String,
    #[serde(default)]
    csrf: String,
}

/// Reveals the current TOTP code; the answer redirects to the account page, which shows it once.
#[utoipa::path(post, path = "/accounts/{id}/totp/reveal", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = RevealForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn reveal_totp(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<RevealForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::TotpReveal).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let revealed = match Justification::parse_optional(Some(&form.justification)) {
        Ok(justification) => core.reveal_totp(&caller, &allowed, justification).await,
        Err(invalid) => Err(invalid.into()),
    };
    // The reason stays in the form of the page shown next: an expired code's *Reveal again*
    // (and a refusal's retry) send it as it was typed.
    let reason = Some(
        form.justification
            .trim()
            .chars()
            .take(Justification::MAX_CHARS)
            .collect(),
    );
    let extras = match revealed {
        Ok(code) => Extras {
            totp: Some(ShownTotp::from_code(code)),
            reason,
            ..Extras::default()
        },
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => Extras {
                totp_error: Some(message),
                reason,
                ..Extras::default()
            },
            Err(response) => return response,
        },
    };
    show_once(&req, &core, &caller, &id, extras, "totp").await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// Where to go back to (a path on this service).
    return_to: Option<String>,
}

/// Switches the language and goes back.
/// Switches the dashboard's language and goes back.
#[utoipa::path(get, path = "/lang/{lang}", tag = "dashboard", security(),
    params(("lang" = String, Path, description = "en or ja"), LangQuery), responses((status = 303, description = "a redirect (see Location)")))]
pub async fn language(
    core: web::Data<Core>,
    lang: web::Path<String>,
    query: web::Query<LangQuery>,
) -> HttpResponse {
    let lang = if lang.as_str() == "ja" { "ja" } else { "en" };
    let mut c = cookie(&core, LANG_COOKIE, lang.to_owned(), "/");
    c.set_max_age(CookieDuration::days(365));
    let mut res = see_other(core.settings.return_to(query.return_to.as_deref()).as_str());
    let _ = res.add_cookie(&c);
    res
}
