//! Break-glass in the dashboard: escrows (the ceremony for security admins, a custodian's
//! one-time share pickup), asking for a release, following it (progress, veto), the public
//! page where custodians submit shares without signing in, and the released secrets for the
//! browser that holds the release key.

use super::pages::{form_caller, recoverable, service_failure};
use super::rotation::when;
use super::{cookie, error_page, render, see_other, to_signin, Chrome};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::Justification;
use crate::http::MaybeSession;
use crate::services::escrow::EscrowInput;
use crate::services::release::ReleaseView;
use crate::services::{Caller, Core, ServiceError};
use crate::store::escrow::ReleaseRow;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

/// The cookie that holds a release's key in the browser that asked for it.
pub(crate) fn release_cookie(id: &str) -> String {
    format!("kw_release_{}", id.replace('-', ""))
}

/// The release key this browser holds for release `id`, if it asked for it.
fn release_key(req: &HttpRequest, id: &str) -> Option<Zeroizing<String>> {
    req.cookie(&release_cookie(id))
        .map(|k| Zeroizing::new(k.value().to_owned()))
}

pub struct EscrowLine {
    pub id: String,
    pub name: String,
    pub teams: String,
    pub threshold: i32,
    pub custodians: i32,
    pub state: String,
}

pub struct CustodianLine {
    pub email: String,
    pub index: i32,
    pub fingerprint: String,
    pub delivered: &'static str,
    pub picked_up: bool,
}

pub struct ReleaseLine {
    pub id: String,
    pub state: &'static str,
    pub progress: String,
    pub created: String,
}

fn state_label(c: &Chrome, state: &str) -> &'static str {
    let t = c.t.bg;
    match state {
        "waiting" => t.state_waiting,
        "released" => t.state_released,
        "vetoed" => t.state_vetoed,
        "expired" => t.state_expired,
        _ => t.state_collecting,
    }
}

fn release_line(c: &Chrome, r: &ReleaseRow) -> ReleaseLine {
    ReleaseLine {
        id: r.id.clone(),
        state: state_label(c, &r.state),
        progress: c
            .t
            .bg
            .progress
            .replace("{received}", &r.shares_received.to_string())
            .replace("{threshold}", &r.threshold.to_string()),
        created: when(r.created_at),
    }
}

#[derive(Template)]
#[template(path = "escrows.html")]
struct EscrowsPage {
    c: Chrome,
    escrows: Vec<EscrowLine>,
    can_create: bool,
    error: Option<String>,
}

async fn escrows_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    let c = Chrome::new(req, core, Some(caller));
    let views = match core.escrows(caller).await {
        Ok(views) => views,
        Err(err) => return service_failure(c, err),
    };
    let escrows = views
        .into_iter()
        .map(|v| EscrowLine {
            id: v.escrow.id.clone(),
            name: v.escrow.name.clone(),
            teams: v.teams.join(", "),
            threshold: v.escrow.threshold,
            custodians: v.escrow.custodians,
            state: v.escrow.state.clone(),
        })
        .collect();
    let can_create = core.may(caller, ORG_WIDE, Action::EscrowManage).await;
    render(
        status,
        &EscrowsPage {
            c,
            escrows,
            can_create,
            error,
        },
    )
}

/// Escrows the signed-in member may see, and the ceremony form for security admins.
#[utoipa::path(get, path = "/escrows", tag = "dashboard", security(("session" = [])),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
#[get("/escrows")]
pub async fn escrows_list(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/escrows");
    };
    escrows_page(&req, &core, &caller, StatusCode::OK, None).await
}

#[derive(Deserialize, ToSchema)]
pub struct CeremonyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// Team slugs separated by commas, or `*`.
    #[serde(default)]
    teams: String,
    #[serde(default)]
    threshold: String,
    /// One custodian per line: an email, optionally followed by an `age1…` key.
    #[serde(default)]
    custodians: String,
    #[serde(default)]
    waiting_period_minutes: String,
    #[serde(default)]
    release_ttl_minutes: String,
}

/// What a form produced, shown once on the escrow's page.
#[derive(Default, Serialize, Deserialize)]
struct EscrowExtras {
    /// (custodian email, armored age file), right after the ceremony.
    shares: Vec<(String, String)>,
    /// The custodian's share, right after their pickup.
    my_share: Option<Zeroizing<String>>,
}

/// Keeps `extras` for one view of the escrow's page and sends the browser there.
async fn show_escrow_once(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    extras: EscrowExtras,
) -> HttpResponse {
    let kept = match (&caller.session, serde_json::to_vec(&extras)) {
        (Some(session), Ok(bytes)) => core.keep_page_result(session, &Zeroizing::new(bytes)).await,
        _ => return to_signin(&format!("/escrows/{id}")),
    };
    match kept {
        Ok(token) => see_other(&format!("/escrows/{id}?shown={}", token.as_str())),
        // The share was handed out (and forgotten): show it here rather than lose it; only a
        // reload of this answer could repeat the form, and the share is not given twice.
        Err(err) => {
            tracing::warn!(error = %err, "an escrow page result not kept; shown directly");
            match core.escrow(caller, id).await {
                Ok(view) => escrow_page(req, core, caller, view, extras, false).await,
                Err(err) => service_failure(Chrome::new(req, core, Some(caller)), err),
            }
        }
    }
}

/// Runs the ceremony from the form; the age-encrypted shares are shown once on the escrow's page.
#[utoipa::path(post, path = "/escrows", tag = "dashboard", security(("session" = [])),
    request_body(content = CeremonyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the new escrow"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 422, description = "the form is invalid", content_type = "text/html")))]
#[post("/escrows")]
pub async fn create(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: web::Form<CeremonyForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/escrows") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(err) = core.may_manage_escrows(&caller).await {
        return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
    }
    let number = |raw: &str, default: i64| {
        raw.trim()
            .parse::<i64>()
            .unwrap_or(if raw.trim().is_empty() { default } else { -1 })
    };
    let teams: Vec<String> = form
        .teams
        .split(',')
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let custodians: Vec<(String, Option<String>)> = form
        .custodians
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let email = parts.next().unwrap_or_default().to_owned();
            (email, parts.next().map(str::to_owned))
        })
        .collect();
    let input = EscrowInput::parse(
        &form.name,
        &teams,
        number(&form.threshold, 0),
        custodians,
        Some(number(&form.waiting_period_minutes, 0)),
        Some(number(&form.release_ttl_minutes, 60)),
    );
    let created = match input {
        Ok(input) => core.create_escrow(&caller, input).await,
        Err(invalid) => Err(invalid.into()),
    };
    match created {
        Ok(created) => {
            let extras = EscrowExtras {
                shares: created.shares,
                my_share: None,
            };
            show_escrow_once(&req, &core, &caller, &created.view.escrow.id, extras).await
        }
        Err(ServiceError::Invalid(invalid)) => {
            escrows_page(
                &req,
                &core,
                &caller,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(invalid.message),
            )
            .await
        }
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Template)]
#[template(path = "escrow.html")]
struct EscrowPage {
    c: Chrome,
    id: String,
    name: String,
    teams: String,
    threshold: i32,
    state: String,
    custodians: Vec<CustodianLine>,
    releases: Vec<ReleaseLine>,
    mine: Option<CustodianLine>,
    shares: Vec<(String, String)>,
    my_share: Option<String>,
    shown_once: bool,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShownQuery {
    /// The token of a form's result, shown once.
    shown: Option<String>,
}

/// The escrow named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct EscrowPath(
    /// The escrow's id.
    String,
);

/// The release named in the path.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct ReleasePath(
    /// The release's id.
    String,
);

/// One escrow: custodians, releases, a custodian's pickup, asking for a release.
#[utoipa::path(get, path = "/escrows/{id}", tag = "dashboard", security(("session" = [])), params(EscrowPath, ShownQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such escrow", content_type = "text/html")))]
#[get("/escrows/{id}")]
pub async fn escrow_detail(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    query: web::Query<ShownQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/escrows/{id}"));
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let view = match core.escrow(&caller, &id).await {
        Ok(view) => view,
        Err(err) => return service_failure(c, err),
    };
    let (extras, shown_once) = match (&query.shown, &caller.session) {
        (Some(token), Some(session)) => match core.take_page_result(session, token).await {
            Ok(Some(bytes)) => (
                serde_json::from_slice::<EscrowExtras>(&bytes).unwrap_or_default(),
                false,
            ),
            _ => (EscrowExtras::default(), true),
        },
        _ => (EscrowExtras::default(), false),
    };
    escrow_page(&req, &core, &caller, view, extras, shown_once).await
}

/// The escrow's page, with what a form produced (shown once).
async fn escrow_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    view: crate::services::escrow::EscrowView,
    extras: EscrowExtras,
    shown_once: bool,
) -> HttpResponse {
    let c = Chrome::new(req, core, Some(caller));
    let mine = core.custodian_of(caller, &view).await.ok().flatten();
    let line = |x: &crate::store::escrow::CustodianRow| CustodianLine {
        email: x.email.clone(),
        index: x.share_index,
        fingerprint: x.fingerprint.chars().take(16).collect(),
        delivered: if x.delivery == "age" {
            c.t.bg.delivered_age
        } else {
            c.t.bg.delivered_pickup
        },
        picked_up: x.picked_up_at.is_some() || x.delivery == "age",
    };
    let releases = crate::store::escrow::releases_of(core.store.db(), &view.escrow.id)
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| release_line(&c, r))
        .collect();
    let page = EscrowPage {
        id: view.escrow.id.clone(),
        name: view.escrow.name.clone(),
        teams: view.teams.join(", "),
        threshold: view.escrow.threshold,
        state: view.escrow.state.clone(),
        custodians: view.custodians.iter().map(line).collect(),
        mine: mine.as_ref().map(line),
        releases,
        shares: extras.shares,
        my_share: extras.my_share.map(|s| s.as_str().to_owned()),
        shown_once,
        c,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, ToSchema)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    /// Why (a release's reason, or a veto's justification).
    #[serde(default)]
    reason: String,
}

/// A custodian picks up their share; it is shown once on the escrow's page.
#[utoipa::path(post, path = "/escrows/{id}/share", tag = "dashboard", security(("session" = [])), params(EscrowPath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not a custodian", content_type = "text/html"), (status = 404, description = "no such escrow", content_type = "text/html"), (status = 409, description = "picked up already", content_type = "text/html")))]
#[post("/escrows/{id}/share")]
pub async fn pickup(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let here = format!("/escrows/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.pick_up_share(&caller, &id).await {
        Ok((share, _)) => {
            let extras = EscrowExtras {
                shares: Vec::new(),
                my_share: Some(share),
            };
            show_escrow_once(&req, &core, &caller, &id, extras).await
        }
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => error_page(
                Chrome::new(&req, &core, Some(&caller)),
                StatusCode::CONFLICT,
                message,
            ),
            Err(response) => response,
        },
    }
}

/// Asks for a release; this browser keeps the release key (an HttpOnly cookie for the
/// release's pages alone) and goes to the release's page.
#[utoipa::path(post, path = "/escrows/{id}/releases", tag = "dashboard", security(("session" = [])), params(EscrowPath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the release"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such escrow", content_type = "text/html"), (status = 409, description = "the escrow is spent", content_type = "text/html"), (status = 422, description = "no reason", content_type = "text/html")))]
#[post("/escrows/{id}/releases")]
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
#[get("/releases/{id}")]
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
        return service_failure(c, ServiceError::NotFound("escrow"));
    };
    let page = ReleasePage {
        r: release_line(&c, &release),
        escrow_id: view.escrow.id.clone(),
        escrow_name: view.escrow.name.clone(),
        reason: release.reason.clone(),
        raw_state: release.state.clone(),
        release_at: release.release_at.map(when).unwrap_or_default(),
        expires_at: release.expires_at.map(when).unwrap_or_default(),
        can_veto: can_veto && (release.state == "collecting" || release.state == "waiting"),
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
#[post("/releases/{id}/veto")]
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
#[get("/releases/{id}/submit")]
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
#[post("/releases/{id}/submit")]
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
#[post("/releases/{id}/open")]
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
    let Some(key) = release_key(&req, &id) else {
        let message = c.t.bg.no_key;
        return error_page(c, StatusCode::FORBIDDEN, message);
    };
    match core.released_secrets(&caller, &id, &key, true).await {
        Ok(_) => see_other(&format!("/releases/{id}/secrets")),
        Err(err) => {
            let api = crate::http::ApiError::from(err);
            error_page(c, api.status, api.message)
        }
    }
}

/// The released secrets, for the browser that holds the release key, until the window ends.
#[utoipa::path(get, path = "/releases/{id}/secrets", tag = "dashboard", security(("session" = [])), params(ReleasePath),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not the requester, or no release key in this browser", content_type = "text/html"), (status = 404, description = "no such release", content_type = "text/html"), (status = 409, description = "not released (yet)", content_type = "text/html"), (status = 410, description = "the window has ended", content_type = "text/html"), (status = 429, description = "still waiting", content_type = "text/html")))]
#[get("/releases/{id}/secrets")]
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
        Err(err) => {
            let api = crate::http::ApiError::from(err);
            error_page(c, api.status, api.message)
        }
    }
}
