//! Members and offboarding in the dashboard: the members list, a member's exposure with the
//! offboard form (a preview first, then the departure), and the printable offboarding report.

use super::device::CommandLineView;
use super::i18n::Texts;
use super::kit::when;
use super::kit::{form_caller, service_failure};
use super::panels::rotation::{cards, TaskCard};
use super::{render, see_other, to_signin, Chrome};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::{DepartureReason, OffboardPolicy};
use crate::http::MaybeSession;
use crate::services::departures::ReviewDecision;
use crate::services::offboarding::{ExposureItem, MemberView};
use crate::services::{Caller, Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A member as a row shows it.
pub struct MemberRowView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub status_label: &'static str,
    pub roles: Vec<String>,
    pub departed: String,
    /// Why the member waits for a review (empty when not).
    pub review: &'static str,
}

fn member_row(view: &MemberView, t: &Texts) -> MemberRowView {
    let m = &view.member;
    let active = m.is_active();
    MemberRowView {
        id: m.id.clone(),
        name: m.name.clone().unwrap_or_default(),
        email: m
            .email
            .clone()
            .or_else(|| m.user_name.clone())
            .unwrap_or_default(),
        active,
        status_label: if active {
            t.r.status_active
        } else {
            t.r.status_departed
        },
        roles: view
            .grants
            .iter()
            .map(|g| t.grant(&g.role, &g.team))
            .collect(),
        departed: m.departed_at.map(when).unwrap_or_default(),
        review: match view.review.as_ref().map(|r| r.reason.as_str()) {
            Some("groups_lost") => t.r.review_groups_lost,
            Some(_) => t.r.review_idle,
            None => "",
        },
    }
}

/// An exposure item as a row shows it.
pub struct ExposureRow {
    pub account: String,
    pub platform: String,
    pub handle: String,
    pub what: String,
    pub how: &'static str,
    pub when: String,
    pub seq: String,
}

fn exposure_rows(items: &[ExposureItem], t: &Texts) -> Vec<ExposureRow> {
    items
        .iter()
        .map(|i| {
            let what = match i.kind.as_str() {
                "totp_seed" => t.r.item_totp_seed.to_owned(),
                "hotp_seed" => t.r.item_hotp_seed.to_owned(),
                "password" => t.r.item_password.to_owned(),
                _ => match i.position {
                    Some(p) => format!("{} #{p}", t.r.item_backup_code),
                    None => t.r.item_backup_code.to_owned(),
                },
            };
            ExposureRow {
                account: i.account.clone(),
                platform: i.platform.clone(),
                handle: i.handle.clone(),
                what,
                how: match i.how.as_str() {
                    "export" => t.r.how_export,
                    "write" => t.r.how_write,
                    "import" => t.r.how_import,
                    "reveal" => t.r.how_reveal,
                    "checkout" => t.r.how_checkout,
                    "break_glass" => t.r.how_break_glass,
                    _ => t.r.how_could_reach,
                },
                when: i.at.map(when).unwrap_or_default(),
                seq: i.seq.map(|s| format!("#{s}")).unwrap_or_default(),
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    c: Chrome,
    members: Vec<MemberRowView>,
}

/// Members (security admins and auditors).
#[utoipa::path(get, path = "/members", tag = "dashboard", security(("session" = [])),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html")))]
pub async fn members(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/members");
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    match core.list_members(&caller, None).await {
        Ok(views) => {
            let members = views.iter().map(|v| member_row(v, c.t)).collect();
            render(StatusCode::OK, &MembersPage { c, members })
        }
        Err(err) => service_failure(c, err),
    }
}

#[derive(Template)]
#[template(path = "member.html")]
struct MemberPage {
    c: Chrome,
    m: MemberRowView,
    strict: bool,
    exposure: Vec<ExposureRow>,
    command_lines: Vec<CommandLineView>,
    can_offboard: bool,
    error: Option<String>,
    reason: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// `strict`: also show everything the member could reach.
    policy: Option<String>,
}

async fn member_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    strict: bool,
    failure: Option<(StatusCode, String, String)>,
) -> HttpResponse {
    let c = Chrome::new(req, core, Some(caller));
    let policy = if strict {
        OffboardPolicy::Strict
    } else {
        OffboardPolicy::Exposed
    };
    let (view, items) = match core.member_exposure(caller, id, policy).await {
        Ok(found) => found,
        Err(err) => return service_failure(c, err),
    };
    let can_offboard = core.may(caller, ORG_WIDE, Action::MemberOffboard).await;
    let command_lines = match core.cli_sessions(caller, id).await {
        Ok(found) => found.into_iter().map(CommandLineView::from).collect(),
        Err(err) => return service_failure(c, err),
    };
    let exposure = exposure_rows(&items, c.t);
    let m = member_row(&view, c.t);
    let (status, error, reason) = match failure {
        Some((status, message, reason)) => (status, Some(message), reason),
        None => (StatusCode::OK, None, String::new()),
    };
    render(
        status,
        &MemberPage {
            c,
            m,
            strict,
            exposure,
            command_lines,
            can_offboard,
            error,
            reason,
        },
    )
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeCliForm {
    #[serde(default)]
    csrf: String,
    /// The session's handle, as the member's page lists it.
    #[serde(default)]
    session: String,
}

/// Ends one of the member's signed-in command lines (security admins), then shows the member.
#[utoipa::path(post, path = "/members/{id}/command-lines/revoke", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::members::MemberId),
    request_body(content = RevokeCliForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the member's page"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such session of this member", content_type = "text/html")))]
pub async fn revoke_command_line(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<RevokeCliForm>,
) -> HttpResponse {
    let here = format!("/members/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.revoke_cli_session(&caller, &id, &form.session).await {
        Ok(()) => see_other(&format!("{here}#command-lines")),
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

/// A member: what they were exposed to, and the offboard form.
#[utoipa::path(get, path = "/members/{id}", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::members::MemberId, MemberQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such member", content_type = "text/html")))]
pub async fn member(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    query: web::Query<MemberQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/members/{id}"));
    };
    let strict = query.policy.as_deref() == Some("strict");
    member_page(&req, &core, &caller, &id, strict, None).await
}

#[derive(Deserialize, ToSchema)]
pub struct OffboardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// `exposed` or `strict`.
    #[serde(default)]
    policy: String,
}

/// Offboards the member, then shows the report (security admins).
#[utoipa::path(post, path = "/members/{id}/offboard", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::members::MemberId),
    request_body(content = OffboardForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the offboarding report"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such member", content_type = "text/html"), (status = 409, description = "already departed", content_type = "text/html"), (status = 422, description = "no reason given", content_type = "text/html")))]
pub async fn offboard(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<OffboardForm>,
) -> HttpResponse {
    let here = format!("/members/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(err) = core.may_offboard(&caller, &id).await {
        return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
    }
    let strict = form.policy == "strict";
    let parsed = DepartureReason::parse(&form.reason).and_then(|reason| {
        OffboardPolicy::parse(if form.policy.is_empty() {
            "exposed"
        } else {
            &form.policy
        })
        .map(|policy| (reason, policy))
    });
    let result = match parsed {
        Ok((reason, policy)) => core.offboard_member(&caller, &id, reason, policy).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(_) => see_other(&format!("/members/{id}/report")),
        Err(err @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let api = crate::http::ApiError::from(err);
            let failure = (api.status, api.message, form.reason.clone());
            member_page(&req, &core, &caller, &id, strict, Some(failure)).await
        }
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ReviewForm {
    #[serde(default)]
    csrf: String,
    /// `offboard` or `keep`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

/// Decides the member's open review, then shows the member (kept) or the report (offboarded).
#[utoipa::path(post, path = "/members/{id}/review", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::members::MemberId),
    request_body(content = ReviewForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the member, or to the offboarding report"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such member", content_type = "text/html"), (status = 409, description = "no open review", content_type = "text/html"), (status = 422, description = "no reason given", content_type = "text/html")))]
pub async fn review(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<ReviewForm>,
) -> HttpResponse {
    let here = format!("/members/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(err) = core.may_review(&caller, &id).await {
        return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
    }
    let parsed = ReviewDecision::parse(&form.decision)
        .and_then(|d| DepartureReason::parse(&form.reason).map(|r| (d, r)));
    let result = match parsed {
        Ok((decision, reason)) => core.review_member(&caller, &id, decision, reason).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(done) if done.state == "offboarded" => see_other(&format!("/members/{id}/report")),
        Ok(_) => see_other(&here),
        Err(err @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let api = crate::http::ApiError::from(err);
            let failure = (api.status, api.message, form.reason.clone());
            member_page(&req, &core, &caller, &id, false, Some(failure)).await
        }
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    c: Chrome,
    m: MemberRowView,
    by: String,
    at: String,
    seq: i64,
    reason: String,
    policy: String,
    sessions: u64,
    tokens: u64,
    exposure: Vec<ExposureRow>,
    tasks: Vec<TaskCard>,
    summary: String,
    head_seq: i64,
    head_hash: String,
    generated: String,
}

/// The printable offboarding report (security admins and auditors).
#[utoipa::path(get, path = "/members/{id}/report", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::members::MemberId),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such member", content_type = "text/html"), (status = 409, description = "not offboarded", content_type = "text/html")))]
pub async fn report(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/members/{id}/report"));
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let report = match core.offboarding_report(&caller, &id).await {
        Ok(report) => report,
        Err(err) => return service_failure(c, err),
    };
    let t = c.t;
    let tasks = cards(&core, &caller, t, report.tasks).await;
    let count = |state: &str| tasks.iter().filter(|t| t.state == state).count();
    let summary = format!(
        "{} / {} / {} / {}",
        count("open"),
        count("done"),
        count("dismissed"),
        tasks.iter().filter(|t| t.overdue).count()
    );
    let policy = match report.member.member.offboard_policy.as_deref() {
        Some("strict") => t.r.policy_strict,
        _ => t.r.policy_exposed,
    };
    let page = ReportPage {
        m: member_row(&report.member, t),
        by: core.display_name(&report.event.actor).await,
        at: when(report.event.at),
        seq: report.event.seq,
        reason: report
            .member
            .member
            .departed_reason
            .clone()
            .unwrap_or_default(),
        policy: policy.to_owned(),
        sessions: report.sessions_revoked,
        tokens: report.tokens_revoked,
        exposure: exposure_rows(&report.exposure, t),
        tasks,
        summary,
        head_seq: report.head_seq,
        head_hash: report.head_hash,
        generated: when(report.generated_at),
        c,
    };
    render(StatusCode::OK, &page)
}
