//! Who am I.

use crate::http::Authenticated;
use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct RoleBindingOut {
    pub team: String,
    pub role: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    /// `member` or `token`.
    pub kind: String,
    pub roles: Vec<RoleBindingOut>,
}

/// The authenticated principal and its role bindings.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity",
    responses((status = 200, body = Me), (status = 401, body = crate::http::wire::ErrorBody)))]
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
