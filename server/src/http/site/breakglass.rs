//! Break-glass in the dashboard: escrows (the ceremony for security admins, a custodian's
//! one-time share pickup), asking for a release, following it (progress, veto), the public
//! page where custodians submit shares without signing in, and the released secrets for the
//! browser that holds the release key.

use super::kit::when;
use super::kit::{form_caller, recoverable, service_failure};
use super::{error_page, render, see_other, to_signin, Chrome};
use crate::authz::{Action, ORG_WIDE};
use crate::http::MaybeSession;
use crate::services::escrow::{EscrowInput, Handed};
use crate::services::{Caller, Core, ServiceError};
use crate::store::escrow::ReleaseRow;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

/// The cookie that holds a release's key in the browser that asked for it.
pub(crate) fn release_cookie(id: &str) -> String {
    format!("kw_release_{}", id.replace('-', ""))
}

/// The release key this browser holds for release `id`, if it asked for it.
pub(super) fn release_key(req: &HttpRequest, id: &str) -> Option<Zeroizing<String>> {
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
    pub confirmed: bool,
}

pub struct ReleaseLine {
    pub id: String,
    pub state: &'static str,
    pub progress: String,
    pub created: String,
}

pub(super) fn state_label(c: &Chrome, state: &str) -> &'static str {
    let t = c.t.bg;
    match state {
        "waiting" => t.state_waiting,
        "released" => t.state_released,
        "vetoed" => t.state_vetoed,
        "expired" => t.state_expired,
        "cancelled" => t.state_cancelled,
        _ => t.state_collecting,
    }
}

pub(super) fn release_line(c: &Chrome, r: &ReleaseRow) -> ReleaseLine {
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
    /// The caller's enrolled age recipient (None: none; the card is for members only).
    my_key: Option<String>,
    is_member: bool,
    /// A new ceremony with the scope of an escrow that needs one.
    like: Like,
}

/// What the ceremony form starts with.
#[derive(Default)]
pub(super) struct Like {
    pub name: String,
    pub teams: String,
    pub threshold: String,
    pub custodians: String,
}

pub(super) async fn escrows_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    status: StatusCode,
    error: Option<String>,
) -> HttpResponse {
    escrows_page_like(req, core, caller, status, error, None).await
}

async fn escrows_page_like(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    status: StatusCode,
    error: Option<String>,
    like: Option<&str>,
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
    let me = core.caller_member(caller).await.ok().flatten();
    let mut start = Like {
        threshold: "2".to_owned(),
        ..Like::default()
    };
    if let Some(old) = like.filter(|_| can_create) {
        if let Ok(view) = core.escrow(caller, old).await {
            let kept = core.continuing_custodians(&view).await.unwrap_or_default();
            start = Like {
                name: view.escrow.name.clone(),
                teams: view.teams.join(", "),
                threshold: view.escrow.threshold.to_string(),
                custodians: kept.join("\n"),
            };
        }
    }
    render(
        status,
        &EscrowsPage {
            c,
            escrows,
            can_create,
            error,
            is_member: me.is_some(),
            my_key: me.and_then(|m| m.age_recipient),
            like: start,
        },
    )
}

/// Escrows the signed-in member may see, and the ceremony form for security admins.
#[utoipa::path(get, path = "/escrows", tag = "dashboard", security(("session" = [])), params(LikeQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
pub async fn escrows_list(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<LikeQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/escrows");
    };
    escrows_page_like(
        &req,
        &core,
        &caller,
        StatusCode::OK,
        None,
        query.like.as_deref(),
    )
    .await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LikeQuery {
    /// An escrow whose scope and continuing custodians the ceremony form starts with.
    like: Option<String>,
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
    /// One custodian per line: a member's email or id (never a key).
    #[serde(default)]
    custodians: String,
    #[serde(default)]
    waiting_period_minutes: String,
    #[serde(default)]
    release_ttl_minutes: String,
}

/// What a form produced, shown once on the escrow's page.
#[derive(Default, Serialize, Deserialize)]
pub(super) struct EscrowExtras {
    /// The custodian's share, right after they fetched it.
    pub my_share: Option<Zeroizing<String>>,
    /// It is age-encrypted to their own key (else plain).
    pub my_share_age: bool,
}

/// Keeps `extras` for one view of the escrow's page and sends the browser there.
pub(super) async fn show_escrow_once(
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
    let lines: Vec<Vec<&str>> = form
        .custodians
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|parts| !parts.is_empty())
        .collect();
    // A second word on a line is a key the operator tried to give: refused.
    let recipients = lines.iter().any(|parts| parts.len() > 1);
    let input = EscrowInput::parse(
        &form.name,
        &teams,
        number(&form.threshold, 0),
        lines.iter().map(|parts| parts[0].to_owned()).collect(),
        recipients,
        Some(number(
            &form.waiting_period_minutes,
            crate::services::escrow::DEFAULT_WAITING_MINUTES,
        )),
        Some(number(&form.release_ttl_minutes, 60)),
    );
    let created = match input {
        Ok(input) => core.create_escrow(&caller, input).await,
        Err(invalid) => Err(invalid.into()),
    };
    match created {
        Ok(view) => see_other(&format!("/escrows/{}", view.escrow.id)),
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
    my_share: Option<String>,
    my_share_age: bool,
    shown_once: bool,
    needs_ceremony: bool,
    can_manage: bool,
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
        delivered: if x.delivered_by_age() {
            c.t.bg.delivered_age
        } else {
            c.t.bg.delivered_pickup
        },
        picked_up: x.picked_up_at.is_some(),
        confirmed: x.confirmed_at.is_some(),
    };
    let can_manage = core.may(caller, ORG_WIDE, Action::EscrowManage).await;
    let releases = core
        .escrow_releases(&view)
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
        my_share: extras.my_share.map(|s| s.as_str().to_owned()),
        my_share_age: extras.my_share_age,
        shown_once,
        needs_ceremony: view.escrow.needs_ceremony,
        can_manage,
        c,
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize, ToSchema)]
pub struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
    /// Why (a release's reason, or a veto's justification).
    #[serde(default)]
    pub(super) reason: String,
}

/// A custodian fetches their own share; it is shown once on the escrow's page.
#[utoipa::path(post, path = "/escrows/{id}/share", tag = "dashboard", security(("session" = [])), params(EscrowPath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not a custodian", content_type = "text/html"), (status = 404, description = "no such escrow", content_type = "text/html"), (status = 409, description = "picked up already", content_type = "text/html")))]
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
    match core.fetch_share(&caller, &id).await {
        Ok((handed, _)) => {
            let extras = match handed {
                Handed::Age(armored) => EscrowExtras {
                    my_share: Some(Zeroizing::new(armored)),
                    my_share_age: true,
                },
                Handed::Plain(text) => EscrowExtras {
                    my_share: Some(text),
                    my_share_age: false,
                },
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
