//! Members and offboarding: list, exposure, offboard (security admin), the offboarding report.

use super::accounts::rfc3339;
use crate::domain::{DepartureReason, OffboardPolicy};
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::departures::ReviewDecision;
use crate::services::offboarding::{MemberView, OffboardingReport};
use crate::services::Core;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use keyward_proto::members::{
    AuditHead, ExposureOut, ExposureQuery, MemberId, MemberList, MemberListQuery, MemberOut,
    OffboardBody, OffboardOut, ReportOut, ReportQuery, ReviewBody, ReviewDone, ReviewOut, RoleOut,
};
use keyward_proto::rotation::TaskOut;

impl From<MemberView> for MemberOut {
    fn from(view: MemberView) -> Self {
        let m = view.member;
        MemberOut {
            id: m.id,
            email: m.email,
            name: m.name,
            status: m.status,
            departed_at: m.departed_at.map(rfc3339),
            departed_reason: m.departed_reason,
            departed_by: m.departed_by,
            roles: view
                .grants
                .into_iter()
                .map(|g| RoleOut {
                    team: g.team,
                    role: g.role,
                    source: match g.source.as_str() {
                        "admin" => "grant".to_owned(),
                        other => other.to_owned(),
                    },
                })
                .collect(),
            review: view.review.map(|r| ReviewOut {
                reason: r.reason,
                opened_at: rfc3339(r.opened_at),
            }),
        }
    }
}

fn policy(raw: Option<&str>) -> Result<OffboardPolicy, ApiError> {
    match raw.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Ok(OffboardPolicy::parse(p)?),
        None => Ok(OffboardPolicy::Exposed),
    }
}

/// Members, with their roles (security admins and auditors).
#[utoipa::path(get, path = "/api/v1/members", tag = "members", params(MemberListQuery),
    responses((status = 200, body = MemberList)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<MemberListQuery>,
) -> Result<HttpResponse, ApiError> {
    // The right first: the query is looked at once the caller may list members at all.
    core.may_read_member(&auth.0, None).await?;
    let query = query.into_inner()?;
    let status = query
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let members = core.list_members(&auth.0, status).await?;
    Ok(HttpResponse::Ok().json(MemberList {
        members: members.into_iter().map(MemberOut::from).collect(),
    }))
}

/// What a member saw (or could still use), from the audit trail (security admins, auditors).
#[utoipa::path(get, path = "/api/v1/members/{id}/exposure", tag = "members", params(MemberId, ExposureQuery),
    responses((status = 200, body = ExposureOut), (status = 404, description = "no such member", body = keyward_proto::wire::ErrorBody)))]
pub async fn exposure(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    query: Query<ExposureQuery>,
) -> Result<HttpResponse, ApiError> {
    core.may_read_member(&auth.0, Some(&id)).await?;
    let policy = policy(query.into_inner()?.policy.as_deref())?;
    let (view, items) = core.member_exposure(&auth.0, &id, policy).await?;
    Ok(HttpResponse::Ok().json(ExposureOut {
        member: view.member.id,
        policy: policy.as_str().to_owned(),
        items,
    }))
}

/// Offboards a member: sessions and bound tokens end at once, sign-in is refused from now on,
/// and a rotation task opens for each secret they were exposed to (security admin).
#[utoipa::path(post, path = "/api/v1/members/{id}/offboard", tag = "members", params(MemberId),
    request_body = OffboardBody, responses((status = 200, body = OffboardOut),
    (status = 404, description = "no such member", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`already_departed`: the member was offboarded before", body = keyward_proto::wire::ErrorBody)))]
pub async fn offboard(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<OffboardBody>,
) -> Result<HttpResponse, ApiError> {
    core.may_offboard(&auth.0, &id).await?;
    let body = body.into_inner()?;
    let reason = DepartureReason::parse(&body.reason)?;
    let policy = policy(body.policy.as_deref())?;
    let done = core.offboard_member(&auth.0, &id, reason, policy).await?;
    Ok(HttpResponse::Ok().json(OffboardOut {
        member: done.member.into(),
        sessions_revoked: done.sessions_revoked,
        tokens_revoked: done.tokens_revoked,
        exposure: done.exposure,
        rotation_tasks: done.tasks.into_iter().map(TaskOut::from).collect(),
    }))
}

/// Decides a member's open review (their IdP groups give no role any more, or they have been
/// idle): `offboard` departs them with the configured policy, `keep` closes the review
/// (security admin).
#[utoipa::path(post, path = "/api/v1/members/{id}/review", tag = "members", params(MemberId),
    request_body = ReviewBody, responses((status = 200, body = ReviewDone),
    (status = 404, description = "no such member", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`no_open_review`, `already_departed`", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "`invalid_decision`, `invalid_reason`", body = keyward_proto::wire::ErrorBody)))]
pub async fn review(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<ReviewBody>,
) -> Result<HttpResponse, ApiError> {
    core.may_review(&auth.0, &id).await?;
    let body = body.into_inner()?;
    let decision = ReviewDecision::parse(&body.decision)?;
    let reason = DepartureReason::parse(&body.reason)?;
    let done = core.review_member(&auth.0, &id, decision, reason).await?;
    Ok(HttpResponse::Ok().json(ReviewDone {
        member: done.member.into(),
        review: done.state.to_owned(),
        rotation_tasks: done.tasks.into_iter().map(TaskOut::from).collect(),
    }))
}

/// The evidence of an offboarding, as JSON or CSV (security admins, auditors).
#[utoipa::path(get, path = "/api/v1/members/{id}/offboarding-report", tag = "members", params(MemberId, ReportQuery),
    responses((status = 200, description = "the report", content(
        (ReportOut = "application/json"),
        (String = "text/csv"))),
    (status = 404, description = "no such member", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`not_offboarded`: the member has not departed", body = keyward_proto::wire::ErrorBody)))]
pub async fn report(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    query: Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    core.may_read_member(&auth.0, Some(&id)).await?;
    let csv = match query.into_inner()?.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(
                crate::domain::Invalid::new("invalid_format", "format is json or csv").into(),
            )
        }
    };
    let report = core.offboarding_report(&auth.0, &id).await?;
    let out = report_out(report);
    if csv {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"offboarding-{}.csv\"", out.member.id),
            ))
            .body(report_csv(&out)));
    }
    Ok(HttpResponse::Ok().json(out))
}

pub(crate) fn report_out(r: OffboardingReport) -> ReportOut {
    let tasks: Vec<TaskOut> = r.tasks.into_iter().map(TaskOut::from).collect();
    let count = |state: &str| tasks.iter().filter(|t| t.state == state).count();
    ReportOut {
        open: count("open"),
        done: count("done"),
        dismissed: count("dismissed"),
        overdue: tasks.iter().filter(|t| t.overdue).count(),
        offboarded_by: r.event.actor.clone(),
        offboarded_at: rfc3339(r.event.at),
        reason: r.member.member.departed_reason.clone(),
        policy: r.member.member.offboard_policy.clone(),
        offboard_seq: r.event.seq,
        sessions_revoked: r.sessions_revoked,
        tokens_revoked: r.tokens_revoked,
        member: r.member.into(),
        exposure: r.exposure,
        tasks,
        audit_head: AuditHead {
            seq: r.head_seq,
            hash: r.head_hash,
        },
        generated_at: rfc3339(r.generated_at),
    }
}

/// A CSV field: quoted when needed, and never read as a formula by a spreadsheet.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The report as CSV: a header block of `#` lines, then one row per exposed item with the
/// task that covers it.
fn report_csv(out: &ReportOut) -> String {
    let mut text = String::new();
    let mut line = |cells: &[&str]| {
        text.push_str(&cells.iter().map(|c| field(c)).collect::<Vec<_>>().join(","));
        text.push('\n');
    };
    let member = &out.member;
    line(&["# offboarding report", &out.generated_at]);
    line(&[
        "# member",
        &member.id,
        member.email.as_deref().unwrap_or(""),
        member.name.as_deref().unwrap_or(""),
    ]);
    line(&[
        "# offboarded",
        &out.offboarded_at,
        &out.offboarded_by,
        &format!("seq {}", out.offboard_seq),
    ]);
    line(&["# reason", out.reason.as_deref().unwrap_or("")]);
    line(&["# policy", out.policy.as_deref().unwrap_or("")]);
    line(&[
        "# audit head",
        &out.audit_head.seq.to_string(),
        &out.audit_head.hash,
    ]);
    line(&[
        "account",
        "team",
        "platform",
        "handle",
        "kind",
        "how",
        "seq",
        "at",
        "version",
        "position",
        "task",
        "task_state",
        "due_at",
        "overdue",
        "completed_at",
        "completed_by",
        "resulting_version",
    ]);
    for item in &out.exposure {
        let kind = match item.kind.as_str() {
            "totp_seed" => "totp",
            "hotp_seed" => "hotp",
            "password" => "password",
            _ => "backup_codes",
        };
        let task = out
            .tasks
            .iter()
            .find(|t| t.account == item.account && t.kind == kind);
        let opt = |v: Option<String>| v.unwrap_or_default();
        line(&[
            &item.account,
            &item.team,
            &item.platform,
            &item.handle,
            &item.kind,
            &item.how,
            &opt(item.seq.map(|s| s.to_string())),
            &opt(item.at.map(rfc3339)),
            &opt(item.version.map(|v| v.to_string())),
            &opt(item.position.map(|p| p.to_string())),
            &opt(task.map(|t| t.id.clone())),
            &opt(task.map(|t| t.state.clone())),
            &opt(task.and_then(|t| t.due_at.clone())),
            &opt(task.map(|t| t.overdue.to_string())),
            &opt(task.and_then(|t| t.completed_at.clone())),
            &opt(task.and_then(|t| t.completed_by.clone())),
            &opt(task.and_then(|t| t.resulting_version.map(|v| v.to_string()))),
        ]);
    }
    text
}
