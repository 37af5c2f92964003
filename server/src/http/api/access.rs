//! Access requests: ask for time-boxed access to an account under `approval`, approve, deny,
//! revoke, cancel, and follow them.

use super::accounts::rfc3339;
use crate::authz::Action;
use crate::domain::access::{AccessMinutes, AccessState, GrantActions};
use crate::domain::{Invalid, Justification};
use crate::http::extract::{Json, OptionalJson, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::access::{AccessInput, AccessQuery as Listing, AccessView};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::access::{
    AccessQuery, AccessRequestBody, AccessRequestId, AccessRequestList, AccessRequestOut,
    ApprovalOut, DecisionBody,
};

impl From<AccessView> for AccessRequestOut {
    fn from(view: AccessView) -> Self {
        let approvals = view
            .row
            .approval_list()
            .into_iter()
            .map(|a| ApprovalOut {
                by: a.by,
                at: rfc3339(a.at),
                comment: a.comment,
            })
            .collect();
        let actions = view.row.action_names();
        let r = view.row;
        AccessRequestOut {
            id: r.id,
            account: r.account_id,
            team: view.team,
            platform: view.platform,
            handle: view.handle,
            requester: r.requester,
            requester_name: view.requester_name,
            actions,
            minutes: r.minutes,
            reason: r.reason,
            state: view.state.to_owned(),
            suspended: view.suspended,
            approvals,
            approvers_needed: r.approvers_needed,
            starts_at: r.starts_at.map(rfc3339),
            expires_at: r.expires_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
            ended_at: r.ended_at.map(rfc3339),
            ended_by: r.ended_by,
        }
    }
}

/// The request's parts, validated (the right to ask decided first).
pub fn access_input(
    core: &Core,
    actions: &[String],
    minutes: Option<i64>,
    reason: Option<&str>,
) -> Result<AccessInput, ApiError> {
    let actions = GrantActions::parse(actions)?;
    let minutes = minutes.ok_or_else(|| {
        Invalid::required("minutes_required", "say for how many minutes (1 to 480)")
    })?;
    Ok(AccessInput {
        actions,
        minutes: AccessMinutes::parse(minutes, core.settings.access.max_minutes)?,
        reason: Justification::parse(reason.unwrap_or_default())?,
    })
}

/// An optional comment: absent or blank means none.
pub fn comment_of(body: OptionalJson<DecisionBody>) -> Result<Option<Justification>, ApiError> {
    let body = body.into_inner()?.unwrap_or_default();
    Ok(Justification::parse_optional(body.comment.as_deref())?)
}

/// Asks for time-boxed access to an account under `approval` (a member whose roles allow the
/// actions asked for). Approvers are told through the `[[notify]]` webhooks.
#[utoipa::path(post, path = "/api/v1/access-requests", tag = "access", request_body = AccessRequestBody,
    responses((status = 201, body = AccessRequestOut),
    (status = 403, description = "your roles do not allow an action asked for; `member_required`", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such account", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`approval_not_required`: the account is open; `request_pending`: you have one waiting", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "`invalid_action`, `invalid_minutes`, or the reason is too short or long", body = keyward_proto::wire::ErrorBody)))]
pub async fn create(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<AccessRequestBody>,
) -> Result<HttpResponse, ApiError> {
    // The account is in the body: who may ask nowhere is refused before it is read.
    core.authorize_somewhere(&auth.0, Action::AccessRequest)
        .await?;
    let body = body.into_inner()?;
    let allowed = core
        .allow(&auth.0, body.account.trim(), Action::AccessRequest)
        .await?;
    let input = access_input(&core, &body.actions, body.minutes, body.reason.as_deref())?;
    let view = core.request_access(&auth.0, &allowed, input).await?;
    Ok(HttpResponse::Created().json(AccessRequestOut::from(view)))
}

/// Access requests on the accounts you may read (or only yours, `mine=true`), newest first.
#[utoipa::path(get, path = "/api/v1/access-requests", tag = "access", params(AccessQuery),
    responses((status = 200, body = AccessRequestList)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<AccessQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner()?;
    let blank = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let listing = Listing {
        state: blank(query.state)
            .map(|s| AccessState::parse(&s))
            .transpose()?,
        account: blank(query.account),
        mine: query.mine.unwrap_or(false),
        limit: query.limit.unwrap_or(crate::services::access::MAX_LIST),
    };
    let views = core.access_requests(&auth.0, listing).await?;
    Ok(HttpResponse::Ok().json(AccessRequestList {
        requests: views.into_iter().map(AccessRequestOut::from).collect(),
    }))
}

/// One access request (readers of its account's team).
#[utoipa::path(get, path = "/api/v1/access-requests/{id}", tag = "access", params(AccessRequestId),
    responses((status = 200, body = AccessRequestOut),
    (status = 404, description = "no such request", body = keyward_proto::wire::ErrorBody)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_request(&auth.0, &id, Action::AccountRead)
        .await?;
    let view = core.access_request(allowed).await?;
    Ok(HttpResponse::Ok().json(AccessRequestOut::from(view)))
}

/// Approves a request: a manager of the account's team or a security admin, never the
/// requester, signed in recently; with two approvers needed, a second person. The grant runs
/// from the last approval.
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/approve", tag = "access", params(AccessRequestId),
    request_body = DecisionBody,
    responses((status = 200, body = AccessRequestOut),
    (status = 401, description = "`reauthentication_required`: sign in again first", body = keyward_proto::wire::ErrorBody),
    (status = 403, description = "`self_approval`; `sign_in_required`: a service token cannot approve", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such request", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`request_not_pending`; `already_approved`: a second approver must be someone else", body = keyward_proto::wire::ErrorBody)))]
pub async fn approve(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_request(&auth.0, &id, Action::AccessApprove)
        .await?;
    let comment = comment_of(body)?;
    let view = core.approve_access(&auth.0, &allowed, comment).await?;
    Ok(HttpResponse::Ok().json(AccessRequestOut::from(view)))
}

/// Denies a pending request (who may approve it, signed in recently; never the requester).
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/deny", tag = "access", params(AccessRequestId),
    request_body = DecisionBody,
    responses((status = 200, body = AccessRequestOut),
    (status = 401, description = "`reauthentication_required`", body = keyward_proto::wire::ErrorBody),
    (status = 403, description = "`self_approval`; `sign_in_required`", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such request", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`request_not_pending`", body = keyward_proto::wire::ErrorBody)))]
pub async fn deny(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_request(&auth.0, &id, Action::AccessApprove)
        .await?;
    let comment = comment_of(body)?;
    let view = core.deny_access(&auth.0, &allowed, comment).await?;
    Ok(HttpResponse::Ok().json(AccessRequestOut::from(view)))
}

/// Ends a grant, or a pending request, at once (who may approve on the account's team).
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/revoke", tag = "access", params(AccessRequestId),
    request_body = DecisionBody,
    responses((status = 200, body = AccessRequestOut),
    (status = 404, description = "no such request", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`request_not_pending`: it has ended already", body = keyward_proto::wire::ErrorBody)))]
pub async fn revoke(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<DecisionBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core
        .allow_request(&auth.0, &id, Action::AccessApprove)
        .await?;
    let comment = comment_of(body)?;
    let view = core.revoke_access(&auth.0, &allowed, comment).await?;
    Ok(HttpResponse::Ok().json(AccessRequestOut::from(view)))
}

/// The requester withdraws their request, or ends their grant early.
#[utoipa::path(post, path = "/api/v1/access-requests/{id}/cancel", tag = "access", params(AccessRequestId),
    responses((status = 200, body = AccessRequestOut),
    (status = 403, description = "`not_requester`", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such request", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`request_not_pending`: it has ended already", body = keyward_proto::wire::ErrorBody)))]
pub async fn cancel(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.cancel_access(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(AccessRequestOut::from(view)))
}
