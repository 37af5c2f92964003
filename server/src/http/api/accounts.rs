//! Accounts: create, list, get, patch, archive.

use crate::authz::Action;
use crate::domain::access::{AccessPolicy, ApproversNeeded};
use crate::domain::{AccountStatus, Handle, LoginUrl, Notes, Platform, TeamSlug};
use crate::http::extract::{Json, Query};
use crate::http::{ApiError, Authenticated};
use crate::services::accounts::{
    AccountInput, AccountPatch, AccountView, ListQuery as Listing, MAX_LIST,
};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::accounts::{
    AccessPolicyBody, AccountList, AccountOut, BackupCodesOut, CreateAccount, ListQuery,
    PatchAccount,
};

pub(crate) fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl From<AccountView> for AccountOut {
    fn from(view: AccountView) -> Self {
        let (has_totp, has_hotp, has_password) =
            (view.has("totp"), view.has("hotp"), view.has("password"));
        let backup_codes = view.backup().map(|b| BackupCodesOut {
            generation: b.generation,
            issued_on: b.issued_on.to_string(),
            total: b.total,
            remaining: b.remaining,
        });
        let a = view.account;
        AccountOut {
            id: a.id,
            team: view.team,
            platform: a.platform,
            handle: a.handle,
            login_url: a.login_url,
            notes: a.notes,
            status: a.status,
            access: a.access,
            approvers_needed: a.approvers_needed,
            has_totp,
            has_hotp,
            has_password,
            backup_codes,
            open_rotation_tasks: view.facts.open_rotation_tasks,
            overdue_rotation_tasks: view.facts.overdue_rotation_tasks,
            rotate_by: view.facts.rotate_by.map(rfc3339),
            warnings: view.warnings.iter().map(|w| (*w).to_owned()).collect(),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// Registers a shared account in a team (manager).
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = AccountOut)))]
pub async fn create(
    core: web::Data<Core>,
    auth: Authenticated,
    body: Json<CreateAccount>,
) -> Result<HttpResponse, ApiError> {
    // The team is in the body: someone who may create accounts nowhere is refused before it
    // is read; the team itself is checked once it is known.
    core.authorize_somewhere(&auth.0, Action::AccountCreate)
        .await?;
    let body = body.into_inner()?;
    let team = TeamSlug::parse(&body.team)?;
    core.authorize(&auth.0, team.as_str(), Action::AccountCreate, None)
        .await?;
    let input = AccountInput {
        team,
        platform: Platform::parse(&body.platform)?,
        handle: Handle::parse(&body.handle)?,
        login_url: body
            .login_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .map(LoginUrl::parse)
            .transpose()?,
        notes: Notes::parse(body.notes.as_deref().unwrap_or(""))?,
    };
    let view = core.create_account(&auth.0, input).await?;
    Ok(HttpResponse::Created().json(AccountOut::from(view)))
}

/// Accounts in the teams you may see, optionally filtered, in pages.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(ListQuery),
    responses((status = 200, body = AccountList)))]
pub async fn list(
    core: web::Data<Core>,
    auth: Authenticated,
    query: Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner()?;
    let nonblank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let team = nonblank(&query.team)
        .map(|t| TeamSlug::parse(&t))
        .transpose()?;
    let platform = nonblank(&query.platform)
        .map(|p| Platform::parse(&p))
        .transpose()?;
    let status = nonblank(&query.status)
        .map(|s| AccountStatus::parse(&s))
        .transpose()?;
    let after = nonblank(&query.after)
        .map(|c| crate::http::cursor::decode(&c))
        .transpose()?;
    let page = core
        .list_accounts(
            &auth.0,
            Listing {
                team,
                platform,
                status,
                after,
                limit: query.limit.unwrap_or(MAX_LIST),
                ..Listing::default()
            },
        )
        .await?;
    Ok(HttpResponse::Ok().json(AccountList {
        accounts: page.views.into_iter().map(AccountOut::from).collect(),
        next: page.next.as_ref().map(crate::http::cursor::encode),
    }))
}

/// One account.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts", params(keyward_proto::wire::AccountId),
    responses((status = 200, body = AccountOut)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.get_account(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(AccountOut::from(view)))
}

/// Changes an account's details or freezes/unfreezes it (manager).
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts", params(keyward_proto::wire::AccountId),
    request_body = PatchAccount, responses((status = 200, body = AccountOut)))]
pub async fn patch(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<PatchAccount>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::AccountUpdate).await?;
    let body = body.into_inner()?;
    let login_url = match body.login_url.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(url) => Some(Some(LoginUrl::parse(url)?)),
    };
    let patch = AccountPatch {
        platform: body.platform.as_deref().map(Platform::parse).transpose()?,
        handle: body.handle.as_deref().map(Handle::parse).transpose()?,
        login_url,
        notes: body.notes.as_deref().map(Notes::parse).transpose()?,
        status: body
            .status
            .as_deref()
            .map(AccountStatus::parse)
            .transpose()?,
        access: body
            .access
            .as_deref()
            .map(AccessPolicy::parse)
            .transpose()?,
        approvers_needed: body
            .approvers_needed
            .map(ApproversNeeded::parse)
            .transpose()?,
    };
    let view = core.update_account(&auth.0, &allowed, patch).await?;
    Ok(HttpResponse::Ok().json(AccountOut::from(view)))
}

/// Archives an account (manager). Its secrets stay, unusable, for the audit trail.
#[utoipa::path(delete, path = "/api/v1/accounts/{id}", tag = "accounts", params(keyward_proto::wire::AccountId),
    responses((status = 200, body = AccountOut)))]
pub async fn archive(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.archive_account(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(AccountOut::from(view)))
}

/// Sets an account's access policy in either direction: a security admin, signed in recently
/// (a manager may only tighten it, with PATCH). Audited as `account.update`.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/access", tag = "accounts", params(keyward_proto::wire::AccountId),
    request_body = AccessPolicyBody,
    responses((status = 200, body = AccountOut),
    (status = 401, description = "`reauthentication_required`: sign in again first", body = keyward_proto::wire::ErrorBody),
    (status = 403, description = "`sign_in_required`: a service token cannot relax a policy", body = keyward_proto::wire::ErrorBody)))]
pub async fn put_access(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<AccessPolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow_access_policy(&auth.0, &id).await?;
    let body = body.into_inner()?;
    let access = AccessPolicy::parse(body.access.as_deref().unwrap_or_default())?;
    let needed = ApproversNeeded::parse(body.approvers_needed.unwrap_or(1))?;
    let view = core
        .set_access_policy(&auth.0, &allowed, access, needed)
        .await?;
    Ok(HttpResponse::Ok().json(AccountOut::from(view)))
}
