//! The OpenAPI document of the whole service (`GET /api/v1/openapi.json`): every operation
//! of the JSON API, the dashboard and SCIM, and the error answers each can give.

use super::api::{
    access, accounts, audit, backup, device, escrows, health, imports, incidents, me, members, otp,
    passwords, releases, rotation,
};
use super::{scim, site};
use actix_web::HttpResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new(crate::authn::session::SESSION_COOKIE),
            )),
        );
    }
}

/// The OpenAPI document of API v1.
#[derive(OpenApi)]
#[openapi(
    info(title = "Keyward API", version = "1", description = "Team secret custody for shared social accounts."),
    paths(
        health::healthz, health::readyz, me::me, me::logout,
        accounts::create, accounts::list, accounts::get, accounts::patch, accounts::archive,
        accounts::put_access,
        otp::put_totp, otp::totp_code, otp::totp_export, otp::put_hotp, otp::hotp_code, otp::hotp_export,
        passwords::put_password, passwords::reveal_password,
        backup::import, backup::status, backup::checkout, backup::result, backup::verify,
        audit::list, audit::verify, audit::forwarders, audit::export, openapi_document,
        members::list, members::exposure, members::offboard, members::review, members::report,
        rotation::list, rotation::open, rotation::get, rotation::assign, rotation::dismiss,
        escrows::create, escrows::list, escrows::get, escrows::share, escrows::confirm,
        escrows::retire, escrows::set_age_recipient,
        releases::request, releases::submit, releases::get, releases::veto, releases::secrets,
        imports::preview, imports::apply,
        incidents::list_runbooks, incidents::start, incidents::list, incidents::get, incidents::answer,
        incidents::resolve, incidents::cancel,
        access::create, access::list, access::get, access::approve, access::deny, access::revoke,
        access::cancel,
        device::code, device::token, site::device::page, site::device::decide, site::device::end_mine,
        site::auth::login, site::auth::callback, site::auth::reauth, site::auth::logout, site::auth::backchannel_logout,
        site::pages::home, site::pages::signin, site::pages::accounts, site::account::account,
        site::pages::reveal_totp, site::pages::language, site::assets::asset,
        site::backup::checkout, site::backup::report, site::backup::verify, site::backup::import,
        site::audit::audit,
        site::rotation::tasks, site::rotation::take, site::rotation::dismiss,
        site::rotation::store_seed, site::rotation::store_password,
        site::members::members, site::members::member, site::members::offboard, site::members::review, site::members::revoke_command_line, site::members::report,
        site::breakglass::escrows_list, site::breakglass::create, site::breakglass::escrow_detail, site::breakglass::pickup,
        site::ceremony::set_age_key, site::ceremony::confirm, site::ceremony::retire,
        site::releases::request, site::releases::release_detail, site::releases::veto,
        site::releases::submit_page, site::releases::submit, site::releases::open, site::releases::secrets,
        site::imports::import_page, site::imports::preview, site::imports::apply,
        site::lifecycle::add, site::lifecycle::edit, site::lifecycle::archive, site::lifecycle::reveal_password,
        site::incidents::start, site::incidents::list, site::incidents::incident, site::incidents::answer,
        site::incidents::resolve, site::incidents::cancel,
        site::access::requests, site::access::request, site::access::ask, site::access::set_policy,
        site::access::approve,
        site::access::deny, site::access::revoke, site::access::cancel,
        scim::discovery::service_provider_config, scim::discovery::resource_types,
        scim::discovery::resource_type, scim::discovery::schema_list, scim::discovery::schema_one,
        scim::users::list, scim::users::search, scim::users::search_root, scim::users::create,
        scim::users::get, scim::users::replace, scim::users::patch, scim::users::delete,
    ),
    components(schemas(keyward_proto::ErrorBody, keyward_proto::ErrorDetail, scim::ScimErrorBody)),
    modifiers(&BearerAuth, &ErrorResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", security(),
    responses((status = 200, description = "the OpenAPI document of the whole service")))]
pub async fn openapi_document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Adds the error answers every operation can give, by what it takes: all of them 401 and 403
/// (when authenticated), 429 and 503; with a body 400, 408, 413, 415 and 422; with a query
/// 400 and 422; with an account in the path 404, 409 and 423. Each has the error envelope.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        // The dashboard's pages and forms: what a form or a query string that cannot be read
        // gets (an HTML page).
        let json_api = |path: &str| path.starts_with("/api/v1/") || path == "/readyz";
        let scim = |path: &str| path.starts_with("/scim/");
        document_scim_errors(openapi);
        for (_, item) in openapi
            .paths
            .paths
            .iter_mut()
            .filter(|(p, _)| !json_api(p) && !scim(p))
        {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                let has_query = operation
                    .parameters
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query));
                let mut statuses = Vec::new();
                if operation.request_body.is_some() {
                    statuses.push(("400", "the form could not be read"));
                    statuses.push(("415", "not a form (application/x-www-form-urlencoded)"));
                }
                if has_query {
                    statuses.push(("400", "a query parameter could not be read"));
                }
                for (status, description) in statuses {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| html_response(description).into());
                }
                // A cookie request from another origin is refused before the page is reached,
                // with the JSON error envelope (see `origin_guard`).
                if operation.request_body.is_some() {
                    if let Some(utoipa::openapi::RefOr::T(forbidden)) =
                        operation.responses.responses.get_mut("403")
                    {
                        forbidden.content.insert(
                            "application/json".to_owned(),
                            utoipa::openapi::ContentBuilder::new()
                                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                                .build(),
                        );
                    }
                }
            }
        }
        // The JSON API: its error envelope.
        for (path, item) in openapi.paths.paths.iter_mut().filter(|(p, _)| json_api(p)) {
            for operation in operations_mut(item) {
                let public = operation.security.as_ref().is_some_and(|s| s.is_empty());
                let params = operation.parameters.as_deref().unwrap_or_default();
                let has = |place: ParameterIn| {
                    params.iter().any(|p| {
                        std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&place)
                    })
                };
                let mut statuses: Vec<(&str, &str)> = Vec::new();
                if !public {
                    statuses.extend([
                        ("401", "not authenticated: no, an unknown, an expired or a revoked token or session"),
                        ("403", "the caller's roles do not allow this"),
                        ("429", "too many requests (reveal limits, or failed authentications from this address)"),
                        ("503", "the database or the keyring is unavailable"),
                    ]);
                }
                if operation.request_body.is_some() {
                    statuses.extend([
                        (
                            "400",
                            "the body is missing, not JSON, or lacks a required field",
                        ),
                        ("408", "the body did not arrive in time"),
                        ("413", "the body is too large"),
                        ("415", "the body is not JSON in UTF-8"),
                        ("422", "the body is well-formed but a value is invalid"),
                    ]);
                }
                if has(ParameterIn::Query) {
                    statuses.extend([
                        ("400", "a query parameter has the wrong type"),
                        ("422", "a query parameter's value is invalid"),
                    ]);
                }
                if has(ParameterIn::Path) && path.starts_with("/api/v1/accounts/") {
                    statuses.extend([
                        ("404", "no such account (or secret, or code)"),
                        (
                            "409",
                            "a conflict, e.g. no unused backup code left, or a concurrent change",
                        ),
                        ("423", "the account is frozen or archived"),
                    ]);
                }
                if has(ParameterIn::Path)
                    && (path.starts_with("/api/v1/members/")
                        || path.starts_with("/api/v1/rotation-tasks/"))
                {
                    statuses.push(("404", "no such member, task, escrow or release"));
                }
                if path == "/api/v1/accounts" && operation.request_body.is_some() {
                    statuses.push((
                        "409",
                        "the team already has an account with that platform and handle",
                    ));
                }
                for (status, description) in statuses {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description).into());
                }
            }
        }
    }
}

fn html_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content("text/html", ContentBuilder::new().build())
        .build()
}

/// Every operation of a path item.
pub(crate) fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// An error answer of `content_type` whose body is the schema `schema`.
pub(crate) fn error_response_as(
    description: &str,
    content_type: &str,
    schema: &str,
) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    error_response_as(description, "application/json", "ErrorBody")
}

/// Adds to the OpenAPI document the SCIM error answers each SCIM operation can give, by what
/// it takes: 401, 403, 429 and 503 when authenticated; 400, 408, 413 and 415 with a body; 400
/// with a query; 404 with an id; 409 for a new or changed user.
fn document_scim_errors(openapi: &mut utoipa::openapi::OpenApi) {
    for (path, item) in openapi
        .paths
        .paths
        .iter_mut()
        .filter(|(p, _)| p.starts_with("/scim/"))
    {
        for operation in operations_mut(item) {
            let public = operation.security.as_ref().is_some_and(|s| s.is_empty());
            let mut statuses: Vec<(&str, &str)> = Vec::new();
            if !public {
                statuses.extend([
                    ("401", "not authenticated"),
                    ("403", "not the IdP's provisioning token (role scim)"),
                    ("429", "too many failed authentications from this address"),
                    ("503", "the database is unavailable"),
                ]);
            }
            if operation.request_body.is_some() {
                statuses.extend([
                    ("400", "the body is not SCIM JSON, or a value is invalid"),
                    ("408", "the body did not arrive in time"),
                    ("413", "the body is too large"),
                    ("415", "the body is not JSON in UTF-8"),
                ]);
            }
            if operation
                .parameters
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
            {
                statuses.push((
                    "400",
                    "a query parameter is invalid (e.g. an unsupported filter)",
                ));
            }
            if path.contains("{id}") {
                statuses.push(("404", "no such user, resource type or schema"));
            }
            if path.starts_with("/scim/v2/Users") && operation.request_body.is_some() {
                statuses.push(("409", "another user has this userName"));
            }
            for (status, description) in statuses {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        error_response_as(description, scim::CONTENT_TYPE, "ScimErrorBody").into()
                    });
            }
        }
    }
}
