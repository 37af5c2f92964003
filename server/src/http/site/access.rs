//! Access requests in the dashboard: the requests page (what waits for the caller's decision,
//! their own requests, the teams' recent ones), one request with approve, deny and revoke
//! (step-up first), and the forms of a locked account's page (ask, cancel). Every form answers
//! with a redirect, so a reload repeats nothing.

use super::account::{show_once, Extras};
use super::kit::{form_caller, recoverable, service_failure, when};
use super::panels::access::field_of;
use super::{render, see_other, to_signin, Chrome};
use crate::authz::Action;
use crate::domain::access::{
    AccessMinutes, AccessPolicy, ApproversNeeded, GrantAction, GrantActions,
};
use crate::domain::Justification;
use crate::http::MaybeSession;
use crate::services::access::{AccessInput, AccessQuery, AccessView};
use crate::services::{Caller, Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use utoipa::ToSchema;

/// A request as a row shows it.
pub struct RequestLine {
    pub id: String,
    pub account_id: String,
    pub platform: String,
    pub handle: String,
    pub who: String,
    pub what: String,
    pub why: String,
    pub how_long: String,
    pub state: String,
    pub state_label: &'static str,
    pub asked: String,
}

fn line(view: &AccessView, t: &super::i18n::Texts) -> RequestLine {
    RequestLine {
        id: view.row.id.clone(),
        account_id: view.row.account_id.clone(),
        platform: view.platform.clone(),
        handle: view.handle.clone(),
        who: view.requester_name.clone(),
        what: t.acc.actions(&view.row.action_names()),
        why: view.row.reason.clone(),
        how_long: t
            .acc
            .minutes_n
            .replace("{n}", &view.row.minutes.to_string()),
        state: view.state.to_owned(),
        state_label: t.acc.state(view.state),
        asked: when(view.row.created_at),
    }
}

/// The member the caller is (a browser session is a member's).
fn me(caller: &Caller) -> &str {
    &caller.principal.id
}

#[derive(Template)]
#[template(path = "access_requests.html")]
struct RequestsPage {
    c: Chrome,
    to_decide: Vec<RequestLine>,
    mine: Vec<RequestLine>,
    recent: Vec<RequestLine>,
}

/// Access requests: those waiting for the caller's decision, the caller's own, and the recent
/// ones on the accounts they may read.
#[utoipa::path(get, path = "/access-requests", tag = "dashboard", security(("session" = [])),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
pub async fn requests(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/access-requests");
    };
    let c = Chrome::for_page(&req, &core, &caller).await;
    let query = |mine| AccessQuery {
        mine,
        limit: 50,
        ..AccessQuery::default()
    };
    let (all, mine) = match (
        core.access_requests(&caller, query(false)).await,
        core.access_requests(&caller, query(true)).await,
    ) {
        (Ok(all), Ok(mine)) => (all, mine),
        (Err(err), _) | (_, Err(err)) => return service_failure(c, err),
    };
    let mut to_decide = Vec::new();
    let mut recent = Vec::new();
    for view in &all {
        if view.state == "pending"
            && view.row.requester != me(&caller)
            && core.may(&caller, &view.team, Action::AccessApprove).await
        {
            to_decide.push(line(view, c.t));
        } else if view.state != "pending" {
            recent.push(line(view, c.t));
        }
    }
    recent.truncate(20);
    let mine = mine.iter().map(|v| line(v, c.t)).collect();
    render(
        StatusCode::OK,
        &RequestsPage {
            c,
            to_decide,
            mine,
            recent,
        },
    )
}

#[derive(Template)]
#[template(path = "access_request.html")]
struct RequestPage {
    c: Chrome,
    r: RequestLine,
    approvers_needed: i32,
    approvals: Vec<(String, String, String)>,
    until: String,
    suspended: bool,
    own: bool,
    can_decide: bool,
    can_revoke: bool,
    can_cancel: bool,
    needs_reauth: bool,
    history: Vec<RequestLine>,
    error: Option<String>,
}

async fn request_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    failure: Option<(StatusCode, String)>,
) -> HttpResponse {
    let c = Chrome::for_page(req, core, caller).await;
    let view = match core.allow_request(caller, id, Action::AccountRead).await {
        Ok(allowed) => match core.access_request(allowed).await {
            Ok(view) => view,
            Err(err) => return service_failure(c, err),
        },
        Err(err) => return service_failure(c, err),
    };
    let history = core
        .access_requests(
            caller,
            AccessQuery {
                account: Some(view.row.account_id.clone()),
                limit: 50,
                ..AccessQuery::default()
            },
        )
        .await
        .unwrap_or_default()
        .iter()
        .filter(|v| v.row.requester == view.row.requester && v.row.id != view.row.id)
        .take(5)
        .map(|v| line(v, c.t))
        .collect();
    let own = view.row.requester == me(caller);
    let may_approve = core.may(caller, &view.team, Action::AccessApprove).await;
    let open = matches!(view.state, "pending" | "approved");
    let approvals = view
        .row
        .approval_list()
        .into_iter()
        .map(|a| (a.by, when(a.at), a.comment.unwrap_or_default()))
        .collect();
    let (status, error) = match failure {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = RequestPage {
        r: line(&view, c.t),
        approvers_needed: view.row.approvers_needed,
        approvals,
        until: view.row.expires_at.map(when).unwrap_or_default(),
        suspended: view.suspended,
        own,
        can_decide: view.state == "pending" && may_approve && !own,
        can_revoke: open && may_approve,
        can_cancel: open && own,
        needs_reauth: caller.session.as_ref().is_some_and(|s| !core.is_recent(s)),
        history,
        error,
        c,
    };
    render(status, &page)
}

/// One access request: who, which account, what, why, for how long, the requester's recent
/// requests on that account, and the decision forms.
#[utoipa::path(get, path = "/access-requests/{id}", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::access::AccessRequestId),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such request", content_type = "text/html")))]
pub async fn request(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/access-requests/{id}"));
    };
    request_page(&req, &core, &caller, &id, None).await
}

#[derive(Deserialize, ToSchema)]
pub struct AskForm {
    #[serde(default)]
    csrf: String,
    /// Ticked actions, each its own field: `totp_reveal`, `hotp_reveal`, `backup_checkout`,
    /// `password_reveal`, `totp_export`, `hotp_export`.
    #[serde(default)]
    totp_reveal: Option<String>,
    #[serde(default)]
    hotp_reveal: Option<String>,
    #[serde(default)]
    backup_checkout: Option<String>,
    #[serde(default)]
    password_reveal: Option<String>,
    #[serde(default)]
    totp_export: Option<String>,
    #[serde(default)]
    hotp_export: Option<String>,
    #[serde(default)]
    minutes: String,
    #[serde(default)]
    reason: String,
}

impl AskForm {
    fn input(&self, max_minutes: u32) -> Result<AccessInput, crate::domain::Invalid> {
        let ticked: Vec<&str> = GrantAction::ALL
            .into_iter()
            .filter(|a| {
                let field = match field_of(*a).as_str() {
                    "totp_reveal" => &self.totp_reveal,
                    "hotp_reveal" => &self.hotp_reveal,
                    "backup_checkout" => &self.backup_checkout,
                    "password_reveal" => &self.password_reveal,
                    "totp_export" => &self.totp_export,
                    _ => &self.hotp_export,
                };
                field.is_some()
            })
            .map(GrantAction::as_str)
            .collect();
        let actions = GrantActions::parse(&ticked)?;
        let minutes = self.minutes.trim().parse::<i64>().unwrap_or(0);
        Ok(AccessInput {
            actions,
            minutes: AccessMinutes::parse(minutes, max_minutes)?,
            reason: Justification::parse(&self.reason)?,
        })
    }
}

/// Asks for access to a locked account, then back to its page (the request shown waiting).
#[utoipa::path(post, path = "/accounts/{id}/access", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = AskForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the account"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn ask(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<AskForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::AccessRequest).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let result = match form.input(core.settings.access.max_minutes) {
        Ok(input) => core
            .request_access(&caller, &allowed, input)
            .await
            .map(|_| ()),
        Err(invalid) => Err(invalid.into()),
    };
    let mut extras = Extras::default();
    if let Err(err) = result {
        match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => extras.access_error = Some(message),
            Err(response) => return response,
        }
    }
    show_once(&req, &core, &caller, &id, extras, "access").await
}

#[derive(Deserialize, ToSchema)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
}

#[derive(Clone, Copy)]
enum Verb {
    Approve,
    Deny,
    Revoke,
}

async fn decide(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: String,
    form: web::Form<DecisionForm>,
    verb: Verb,
) -> HttpResponse {
    let here = format!("/access-requests/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core
        .allow_request(&caller, &id, Action::AccessApprove)
        .await
    {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let result = match Justification::parse_optional(Some(&form.comment)) {
        Ok(comment) => match verb {
            Verb::Approve => core.approve_access(&caller, &allowed, comment).await,
            Verb::Deny => core.deny_access(&caller, &allowed, comment).await,
            Verb::Revoke => core.revoke_access(&caller, &allowed, comment).await,
        },
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(_) => see_other(&here),
        Err(err @ (ServiceError::Conflict { .. } | ServiceError::Invalid(_))) => {
            let api = crate::http::ApiError::from(err);
            request_page(&req, &core, &caller, &id, Some((api.status, api.message))).await
        }
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => {
                request_page(
                    &req,
                    &core,
                    &caller,
                    &id,
                    Some((StatusCode::CONFLICT, message)),
                )
                .await
            }
            Err(response) => response,
        },
    }
}

/// Approves the request (a manager of the team or a security admin, after a recent sign-in;
/// never the requester), then back to it.
#[utoipa::path(post, path = "/access-requests/{id}/approve", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::access::AccessRequestId),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the request, or to sign in again first"), (status = 403, description = "a stale form (CSRF), not allowed, or your own request", content_type = "text/html"), (status = 404, description = "no such request", content_type = "text/html"), (status = 409, description = "decided already", content_type = "text/html")))]
pub async fn approve(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    decide(req, core, session, id.into_inner(), form, Verb::Approve).await
}

/// Denies the request (as approving), then back to it.
#[utoipa::path(post, path = "/access-requests/{id}/deny", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::access::AccessRequestId),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the request, or to sign in again first"), (status = 403, description = "a stale form (CSRF), not allowed, or your own request", content_type = "text/html"), (status = 404, description = "no such request", content_type = "text/html"), (status = 409, description = "decided already", content_type = "text/html")))]
pub async fn deny(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    decide(req, core, session, id.into_inner(), form, Verb::Deny).await
}

/// Ends a grant (or a waiting request) at once, then back to it.
#[utoipa::path(post, path = "/access-requests/{id}/revoke", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::access::AccessRequestId),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the request"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such request", content_type = "text/html"), (status = 409, description = "ended already", content_type = "text/html")))]
pub async fn revoke(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    decide(req, core, session, id.into_inner(), form, Verb::Revoke).await
}

/// The requester cancels their request or ends their grant, then back to the account.
#[utoipa::path(post, path = "/access-requests/{id}/cancel", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::access::AccessRequestId),
    request_body(content = DecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the account"), (status = 403, description = "a stale form (CSRF), or not your request", content_type = "text/html"), (status = 404, description = "no such request", content_type = "text/html"), (status = 409, description = "ended already", content_type = "text/html")))]
pub async fn cancel(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    let here = format!("/access-requests/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.cancel_access(&caller, &id).await {
        Ok(view) => see_other(&format!("/accounts/{}#access", view.row.account_id)),
        Err(err @ ServiceError::Conflict { .. }) => {
            let api = crate::http::ApiError::from(err);
            request_page(&req, &core, &caller, &id, Some((api.status, api.message))).await
        }
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct PolicyForm {
    #[serde(default)]
    csrf: String,
    /// `open`, `approval` or `approval2` (two approvers).
    #[serde(default)]
    access: String,
}

/// The policy a form's `access` field names.
pub(crate) fn policy_of(
    field: &str,
) -> Result<(AccessPolicy, ApproversNeeded), crate::domain::Invalid> {
    let (policy, needed) = match field.trim() {
        "approval2" => ("approval", 2),
        other => (other, 1),
    };
    Ok((
        AccessPolicy::parse(policy)?,
        ApproversNeeded::parse(needed)?,
    ))
}

/// Sets an account's access policy either way (a security admin, after a recent sign-in),
/// then back to the account.
#[utoipa::path(post, path = "/accounts/{id}/access-policy", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = PolicyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the account, or to sign in again first"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn set_policy(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<PolicyForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow_access_policy(&caller, &id).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let result = match policy_of(&form.access) {
        Ok((access, needed)) => core
            .set_access_policy(&caller, &allowed, access, needed)
            .await
            .map(|_| ()),
        Err(invalid) => Err(invalid.into()),
    };
    let mut extras = Extras::default();
    match result {
        Ok(()) => {
            let t = Chrome::new(&req, &core, Some(&caller)).t;
            extras.policy_notice = Some(t.life.saved.to_owned());
        }
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => {
                extras.access_error = Some(message);
                extras.store_anchor_policy = true;
            }
            Err(response) => return response,
        },
    }
    show_once(&req, &core, &caller, &id, extras, "access-policy").await
}
