//! JSON API v1 (see shared/API.md). The OpenAPI document is generated from these handlers.

mod accounts;
mod audit;
mod backup;
mod health;
mod me;
mod otp;
mod passwords;

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(openapi))
                .service(me::me)
                .service(accounts::create)
                .service(accounts::list)
                .service(accounts::get)
                .service(accounts::patch)
                .service(accounts::archive)
                .service(otp::put_totp)
                .service(otp::totp_code)
                .service(otp::totp_export)
                .service(otp::put_hotp)
                .service(otp::hotp_code)
                .service(otp::hotp_export)
                .service(passwords::put_password)
                .service(passwords::reveal_password)
                .service(backup::import)
                .service(backup::status)
                .service(backup::checkout)
                .service(backup::verify)
                .service(backup::result)
                .service(audit::list)
                .service(audit::verify)
                .service(audit::forwarders)
                .service(audit::export),
        );
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The OpenAPI document of API v1.
#[derive(OpenApi)]
#[openapi(
    info(title = "Keyward API", version = "1", description = "Team secret custody for shared social accounts."),
    paths(
        health::healthz, health::readyz, me::me,
        accounts::create, accounts::list, accounts::get, accounts::patch, accounts::archive,
        otp::put_totp, otp::totp_code, otp::totp_export, otp::put_hotp, otp::hotp_code, otp::hotp_export,
        passwords::put_password, passwords::reveal_password,
        backup::import, backup::status, backup::checkout, backup::result, backup::verify,
        audit::list, audit::verify, audit::forwarders, audit::export,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// The error envelope every failure uses.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `account_not_found`.
    pub code: String,
    pub message: String,
}
