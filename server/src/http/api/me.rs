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
