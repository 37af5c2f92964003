//! JSON API v1 (docs/api.md): its handlers, one file per wing, and the types its OpenAPI
//! document shares (the document itself is `http::openapi`).

pub(crate) mod accounts;
pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod escrows;
pub(crate) mod health;
pub(crate) mod imports;
pub(crate) mod incidents;
pub(crate) mod me;
pub(crate) mod members;
pub(crate) mod otp;
pub(crate) mod passwords;
pub(crate) mod releases;
pub(crate) mod rotation;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            web::scope("/api/v1")
                // The reveals and the check-out first: routes are tried in order, and each
                // dynamic one tried costs a pattern match.
                .service(otp::totp_code)
                .service(otp::hotp_code)
                .service(backup::checkout)
                .service(passwords::reveal_password)
                .service(me::me)
                .service(accounts::create)
                .service(accounts::list)
                .service(accounts::get)
                .service(accounts::patch)
                .service(accounts::archive)
                .service(otp::put_totp)
                .service(otp::totp_export)
                .service(otp::put_hotp)
                .service(otp::hotp_export)
                .service(passwords::put_password)
                .service(backup::import)
                .service(backup::status)
                .service(backup::verify)
                .service(backup::result)
                .service(audit::list)
                .service(audit::verify)
                .service(audit::forwarders)
                .service(audit::export)
                .service(members::list)
                .service(members::exposure)
                .service(members::offboard)
                .service(members::report)
                .service(rotation::list)
                .service(rotation::open)
                .service(escrows::create)
                .service(escrows::list)
                .service(escrows::get)
                .service(escrows::share)
                .service(releases::request)
                .service(releases::submit)
                .service(releases::get)
                .service(releases::veto)
                .service(releases::secrets)
                .service(rotation::get)
                .service(rotation::assign)
                .service(rotation::dismiss)
                .service(imports::preview)
                .service(imports::apply)
                .service(incidents::list_runbooks)
                .service(incidents::start)
                .service(incidents::list)
                .service(incidents::get)
                .service(incidents::answer)
                .service(incidents::resolve)
                .service(incidents::cancel),
        );
}

/// A social platform.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum PlatformName {
    X,
    Instagram,
    Facebook,
    Tiktok,
    Youtube,
    Linkedin,
    Github,
    Google,
    Other,
}

/// The account named in the path.
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub struct AccountId(
    /// The account's id (a UUID, as returned when it was created).
    String,
);

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
