//! The ceremony's forms in the dashboard: a member enrols their own age key ("My break-glass
//! key"), a custodian confirms their share, a security admin retires an escrow. Each answers
//! with a redirect, so a reload never repeats it.

use super::breakglass::{escrows_page, CsrfForm, EscrowPath};
use super::kit::{form_caller, recoverable, service_failure};
use super::{error_page, see_other, Chrome};
use crate::domain::Justification;
use crate::http::MaybeSession;
use crate::services::{Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

#[derive(Deserialize, ToSchema)]
pub struct AgeKeyForm {
    #[serde(default)]
    csrf: String,
    /// `age1…`: the member's own public key.
    #[serde(default)]
    age_recipient: String,
}

/// A member enrols their own age public key; back to the escrows page.
#[utoipa::path(post, path = "/me/age-recipient", tag = "dashboard", security(("session" = [])),
    request_body(content = AgeKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the escrows page"), (status = 403, description = "a stale form (CSRF)", content_type = "text/html"), (status = 422, description = "not an age1… key", content_type = "text/html")))]
pub async fn set_age_key(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: web::Form<AgeKeyForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/escrows") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core
        .set_own_age_recipient(&caller, &form.age_recipient)
        .await
    {
        Ok(_) => see_other("/escrows#my-key"),
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

#[derive(Deserialize, ToSchema)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    /// The custodian's share, `kwshare1-…`.
    #[serde(default)]
    #[schema(value_type = String)]
    share: Zeroizing<String>,
}

/// A custodian confirms their share; back to the escrow's page.
#[utoipa::path(post, path = "/escrows/{id}/confirm", tag = "dashboard", security(("session" = [])), params(EscrowPath),
    request_body(content = ConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the escrow"), (status = 403, description = "a stale form (CSRF) or not a custodian", content_type = "text/html"), (status = 409, description = "confirmed already", content_type = "text/html"), (status = 422, description = "not this custodian's share", content_type = "text/html")))]
pub async fn confirm(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> HttpResponse {
    let here = format!("/escrows/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.confirm_share(&caller, &id, form.share.as_str()).await {
        Ok(_) => see_other(&here),
        Err(err) => refusal(&req, &core, &caller, err, &here),
    }
}

/// A security admin retires an escrow; back to its page.
#[utoipa::path(post, path = "/escrows/{id}/retire", tag = "dashboard", security(("session" = [])), params(EscrowPath),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "to the escrow"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 409, description = "retired already", content_type = "text/html")))]
pub async fn retire(
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
    if let Err(err) = core.may_manage_escrows(&caller).await {
        return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
    }
    let retired = match Justification::parse(&form.reason) {
        Ok(why) => core.retire_escrow(&caller, &id, &why).await,
        Err(invalid) => Err(invalid.into()),
    };
    match retired {
        Ok(_) => see_other(&here),
        Err(err) => refusal(&req, &core, &caller, err, &here),
    }
}

/// A refusal the member can act on, as a page with the message; anything else as usual.
fn refusal(
    req: &HttpRequest,
    core: &Core,
    caller: &crate::services::Caller,
    err: ServiceError,
    here: &str,
) -> HttpResponse {
    let status = match &err {
        ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ServiceError::Locked { .. } => StatusCode::LOCKED,
        ServiceError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::CONFLICT,
    };
    match recoverable(req, core, caller, err, here) {
        Ok(message) => error_page(Chrome::new(req, core, Some(caller)), status, message),
        Err(response) => response,
    }
}
