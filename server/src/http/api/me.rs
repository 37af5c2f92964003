//! Who am I.

use crate::http::Authenticated;
use actix_web::HttpResponse;
use keyward_proto::me::{Me, RoleBindingOut};

/// The authenticated principal and its role bindings.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = Me), (status = 401, body = keyward_proto::wire::ErrorBody)))]
pub async fn me(auth: Authenticated) -> HttpResponse {
    let p = &auth.0.principal;
    HttpResponse::Ok().json(Me {
        id: p.id.clone(),
        email: p.email.clone(),
        name: p.name.clone(),
        kind: p.kind.as_str().to_owned(),
        roles: p
            .bindings
            .iter()
            .map(|b| RoleBindingOut {
                team: b.team.clone(),
                role: b.role.as_str().to_owned(),
            })
            .collect(),
    })
}

/// Ends the session the request is made with: a command line's `kwcli_` token (`kw logout`),
/// or the browser's. A service token has no session to end (409 `not_a_session`; revoke it
/// with `keyward token revoke`).
#[utoipa::path(post, path = "/api/v1/me/logout", tag = "identity",
    responses((status = 204, description = "the session has ended"),
    (status = 409, description = "`not_a_session`: a service token", body = keyward_proto::wire::ErrorBody)))]
pub async fn logout(
    core: actix_web::web::Data<crate::services::Core>,
    auth: Authenticated,
) -> Result<HttpResponse, crate::http::ApiError> {
    if auth.0.session.is_none() {
        return Err(crate::services::ServiceError::Conflict {
            code: "not_a_session",
            message: "a service token has no session; revoke it with keyward token revoke"
                .to_owned(),
        }
        .into());
    }
    core.sign_out(&auth.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
