//! Account passwords: store a new version (manager), reveal with a justification (manager).

use super::otp::{required_justification, version_out};
use crate::authz::Action;
use crate::domain::Password;
use crate::http::extract::{Json, OptionalJson};
use crate::http::{ApiError, Authenticated};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::otp::{JustificationBody, VersionOut};
use keyward_proto::passwords::{PasswordOut, SetPassword};
use keyward_proto::Sensitive;

/// Stores a new password version (manager).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/password", tag = "passwords", params(keyward_proto::wire::AccountId),
    request_body = SetPassword, responses((status = 201, body = VersionOut)))]
pub async fn put_password(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<SetPassword>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::PasswordSet).await?;
    let password = Password::parse(body.into_inner()?.password.into())?;
    let version = core.set_password(&auth.0, &allowed, password).await?;
    Ok(HttpResponse::Created().json(version_out(version)))
}

/// Reveals the current password (manager, justification required, rate-limited).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/password/reveal", tag = "passwords", params(keyward_proto::wire::AccountId),
    request_body = JustificationBody, responses((status = 200, body = PasswordOut)))]
pub async fn reveal_password(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::PasswordReveal).await?;
    let justification = required_justification(body)?;
    let revealed = core
        .reveal_password(&auth.0, &allowed, justification)
        .await?;
    Ok(HttpResponse::Ok().json(PasswordOut {
        password: Sensitive::new(revealed.password.as_str()),
        version: revealed.version,
    }))
}
