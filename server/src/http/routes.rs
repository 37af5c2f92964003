//! The one route table: every route of the service with its method, path, handler and what a
//! caller needs for it. The server is built from it; tests check it against the OpenAPI
//! document and every role against every route's declared need.

use super::{api, openapi, scim, site};
use crate::authz::Action;
use actix_web::{guard, web};

/// An HTTP method a route answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method in lower case, as the OpenAPI document names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }

    fn guard(self) -> impl guard::Guard {
        use actix_web::http::Method as M;
        guard::Method(match self {
            Method::Get => M::GET,
            Method::Post => M::POST,
            Method::Put => M::PUT,
            Method::Patch => M::PATCH,
            Method::Delete => M::DELETE,
        })
    }
}

/// What a caller needs for a route. The handler decides it (and audits a refusal) before it
/// reads anything the request carries; the role × route test holds every handler to this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health checks, the OpenAPI document, sign-in, static assets, the language.
    Nothing,
    /// Any authenticated caller; what they see is what their own roles let them read.
    Caller,
    /// The action in the team of the account (or incident, rotation task, escrow) that the
    /// path or the body names; an org-wide binding counts in every team.
    Team(Action),
    /// The action in the team the body names, among the caller's own bindings (adding an
    /// account, importing seeds).
    SomeTeam(Action),
    /// The action org-wide (a `*` binding).
    OrgWide(Action),
    /// As `Team`, and by a person signed in: a service token is refused (403
    /// `sign_in_required`) whatever its roles, so no bot or chat button approves access.
    Person(Action),
    /// Not a role but what the request proves: being the escrow's custodian, a share, the
    /// release key, the IdP's signed logout token.
    Proof,
}

/// One route: method, full path, need and handler.
pub struct Route {
    pub method: Method,
    /// The whole path, as the OpenAPI document writes it.
    pub path: &'static str,
    pub need: Need,
    to: fn() -> actix_web::Route,
}

macro_rules! table {
    ($($method:ident $path:literal $need:expr => $handler:path;)*) => {
        &[$(Route {
            method: Method::$method,
            path: $path,
            need: $need,
            to: || web::to($handler),
        },)*]
    };
}

use Action::*;
use Need::{Caller, Nothing, OrgWide, Person, Proof, SomeTeam, Team};

/// Every route. The reveals and the check-out come first: routes are tried in order, and each
/// one tried costs a pattern match.
pub static ROUTES: &[Route] = table! {
    // The JSON API (`/api/v1`).
    Post "/api/v1/accounts/{id}/totp/code" Team(TotpReveal) => api::otp::totp_code;
    Post "/api/v1/accounts/{id}/hotp/code" Team(HotpReveal) => api::otp::hotp_code;
    Post "/api/v1/accounts/{id}/backup-codes/checkout" Team(BackupCheckout) => api::backup::checkout;
    Post "/api/v1/accounts/{id}/password/reveal" Team(PasswordReveal) => api::passwords::reveal_password;
    Get "/api/v1/openapi.json" Nothing => openapi::openapi_document;
    Get "/api/v1/me" Caller => api::me::me;
    Post "/api/v1/me/logout" Caller => api::me::logout;
    Put "/api/v1/me/age-recipient" Caller => api::escrows::set_age_recipient;
    Post "/api/v1/accounts" SomeTeam(AccountCreate) => api::accounts::create;
    Get "/api/v1/accounts" Caller => api::accounts::list;
    Get "/api/v1/accounts/{id}" Team(AccountRead) => api::accounts::get;
    Patch "/api/v1/accounts/{id}" Team(AccountUpdate) => api::accounts::patch;
    Delete "/api/v1/accounts/{id}" Team(AccountArchive) => api::accounts::archive;
    Put "/api/v1/accounts/{id}/access" Person(AccessPolicy) => api::accounts::put_access;
    Put "/api/v1/accounts/{id}/totp" Team(TotpSet) => api::otp::put_totp;
    Post "/api/v1/accounts/{id}/totp/export" Team(TotpExport) => api::otp::totp_export;
    Put "/api/v1/accounts/{id}/hotp" Team(HotpSet) => api::otp::put_hotp;
    Post "/api/v1/accounts/{id}/hotp/export" Team(HotpExport) => api::otp::hotp_export;
    Put "/api/v1/accounts/{id}/password" Team(PasswordSet) => api::passwords::put_password;
    Post "/api/v1/accounts/{id}/backup-codes" Team(BackupImport) => api::backup::import;
    Get "/api/v1/accounts/{id}/backup-codes" Team(BackupRead) => api::backup::status;
    Post "/api/v1/accounts/{id}/backup-codes/verify" Team(BackupVerify) => api::backup::verify;
    Post "/api/v1/accounts/{id}/backup-codes/{position}/result" Team(BackupResult) => api::backup::result;
    Get "/api/v1/audit" OrgWide(AuditRead) => api::audit::list;
    Get "/api/v1/audit/verify" OrgWide(AuditRead) => api::audit::verify;
    Get "/api/v1/audit/forwarders" OrgWide(AuditRead) => api::audit::forwarders;
    Get "/api/v1/audit/export" OrgWide(AuditRead) => api::audit::export;
    Get "/api/v1/members" OrgWide(MemberRead) => api::members::list;
    Get "/api/v1/members/{id}/exposure" OrgWide(MemberRead) => api::members::exposure;
    Post "/api/v1/members/{id}/offboard" OrgWide(MemberOffboard) => api::members::offboard;
    Post "/api/v1/members/{id}/review" OrgWide(MemberOffboard) => api::members::review;
    Get "/api/v1/members/{id}/offboarding-report" OrgWide(MemberRead) => api::members::report;
    Get "/api/v1/rotation-tasks" Caller => api::rotation::list;
    Post "/api/v1/rotation-tasks" Team(RotationOpen) => api::rotation::open;
    Post "/api/v1/escrows" OrgWide(EscrowManage) => api::escrows::create;
    Get "/api/v1/escrows" Caller => api::escrows::list;
    Get "/api/v1/escrows/{id}" Team(AccountRead) => api::escrows::get;
    Post "/api/v1/escrows/{id}/share" Proof => api::escrows::share;
    Post "/api/v1/escrows/{id}/confirm" Proof => api::escrows::confirm;
    Post "/api/v1/escrows/{id}/retire" OrgWide(EscrowManage) => api::escrows::retire;
    Post "/api/v1/escrows/{id}/releases" Team(ReleaseRequest) => api::releases::request;
    Post "/api/v1/releases/{id}/shares" Proof => api::releases::submit;
    Get "/api/v1/releases/{id}" OrgWide(EscrowRead) => api::releases::get;
    Post "/api/v1/releases/{id}/veto" OrgWide(EscrowManage) => api::releases::veto;
    Get "/api/v1/releases/{id}/secrets" Proof => api::releases::secrets;
    Get "/api/v1/rotation-tasks/{id}" Team(AccountRead) => api::rotation::get;
    Post "/api/v1/rotation-tasks/{id}/assign" Team(RotationAssign) => api::rotation::assign;
    Post "/api/v1/rotation-tasks/{id}/dismiss" Team(RotationDismiss) => api::rotation::dismiss;
    Post "/api/v1/imports/preview" SomeTeam(TotpSet) => api::imports::preview;
    Post "/api/v1/imports" SomeTeam(TotpSet) => api::imports::apply;
    Get "/api/v1/runbooks" Caller => api::incidents::list_runbooks;
    Post "/api/v1/incidents" Team(IncidentRun) => api::incidents::start;
    Get "/api/v1/incidents" Caller => api::incidents::list;
    Get "/api/v1/incidents/{id}" Team(IncidentRead) => api::incidents::get;
    Post "/api/v1/incidents/{id}/answer" Team(IncidentRun) => api::incidents::answer;
    Post "/api/v1/incidents/{id}/resolve" Team(IncidentRun) => api::incidents::resolve;
    Post "/api/v1/incidents/{id}/cancel" Team(IncidentRun) => api::incidents::cancel;
    Post "/api/v1/access-requests" Team(AccessRequest) => api::access::create;
    Get "/api/v1/access-requests" Caller => api::access::list;
    Get "/api/v1/access-requests/{id}" Team(AccountRead) => api::access::get;
    Post "/api/v1/access-requests/{id}/approve" Person(AccessApprove) => api::access::approve;
    Post "/api/v1/access-requests/{id}/deny" Person(AccessApprove) => api::access::deny;
    Post "/api/v1/access-requests/{id}/revoke" Team(AccessApprove) => api::access::revoke;
    Post "/api/v1/access-requests/{id}/cancel" Proof => api::access::cancel;
    // Health.
    Get "/healthz" Nothing => api::health::healthz;
    Get "/readyz" Nothing => api::health::readyz;
    // The dashboard.
    Get "/auth/login" Nothing => site::auth::login;
    Get "/auth/callback" Nothing => site::auth::callback;
    Post "/auth/logout" Caller => site::auth::logout;
    Post "/auth/backchannel-logout" Proof => site::auth::backchannel_logout;
    Get "/auth/reauth" Nothing => site::auth::reauth;
    Post "/auth/device/code" Nothing => api::device::code;
    Post "/auth/device/token" Nothing => api::device::token;
    Get "/device" Caller => site::device::page;
    Post "/device" Caller => site::device::decide;
    Post "/device/sessions/end" Caller => site::device::end_mine;
    Get "/static/{name}" Nothing => site::assets::asset;
    Get "/" Nothing => site::pages::home;
    Get "/signin" Nothing => site::pages::signin;
    Get "/accounts" Caller => site::pages::accounts;
    Get "/accounts/{id}" Team(AccountRead) => site::account::account;
    Post "/accounts/{id}/totp/reveal" Team(TotpReveal) => site::pages::reveal_totp;
    Post "/accounts/{id}/backup/checkout" Team(BackupCheckout) => site::backup::checkout;
    Post "/accounts/{id}/backup/{position}/result" Team(BackupResult) => site::backup::report;
    Post "/accounts/{id}/backup/verify" Team(BackupVerify) => site::backup::verify;
    Post "/accounts/{id}/backup/import" Team(BackupImport) => site::backup::import;
    Get "/audit" OrgWide(AuditRead) => site::audit::audit;
    Get "/rotation-tasks" Caller => site::rotation::tasks;
    Post "/rotation-tasks/{id}/take" Team(RotationAssign) => site::rotation::take;
    Post "/rotation-tasks/{id}/dismiss" Team(RotationDismiss) => site::rotation::dismiss;
    Post "/accounts/{id}/totp/set" Team(TotpSet) => site::rotation::store_seed;
    Post "/accounts/{id}/password/set" Team(PasswordSet) => site::rotation::store_password;
    Get "/members" OrgWide(MemberRead) => site::members::members;
    Get "/members/{id}" OrgWide(MemberRead) => site::members::member;
    Post "/members/{id}/offboard" OrgWide(MemberOffboard) => site::members::offboard;
    Post "/members/{id}/review" OrgWide(MemberOffboard) => site::members::review;
    Post "/members/{id}/command-lines/revoke" OrgWide(MemberOffboard) => site::members::revoke_command_line;
    Get "/members/{id}/report" OrgWide(MemberRead) => site::members::report;
    Get "/escrows" Caller => site::breakglass::escrows_list;
    Post "/escrows" OrgWide(EscrowManage) => site::breakglass::create;
    Get "/escrows/{id}" Team(AccountRead) => site::breakglass::escrow_detail;
    Post "/escrows/{id}/share" Proof => site::breakglass::pickup;
    Post "/escrows/{id}/confirm" Proof => site::ceremony::confirm;
    Post "/escrows/{id}/retire" OrgWide(EscrowManage) => site::ceremony::retire;
    Post "/me/age-recipient" Caller => site::ceremony::set_age_key;
    Post "/escrows/{id}/releases" Team(ReleaseRequest) => site::releases::request;
    Get "/releases/{id}" OrgWide(EscrowRead) => site::releases::release_detail;
    Post "/releases/{id}/veto" OrgWide(EscrowManage) => site::releases::veto;
    Get "/releases/{id}/submit" Nothing => site::releases::submit_page;
    Post "/releases/{id}/submit" Proof => site::releases::submit;
    Post "/releases/{id}/open" Proof => site::releases::open;
    Get "/releases/{id}/secrets" Proof => site::releases::secrets;
    Post "/accounts" SomeTeam(AccountCreate) => site::lifecycle::add;
    Post "/accounts/{id}/edit" Team(AccountUpdate) => site::lifecycle::edit;
    Post "/accounts/{id}/archive" Team(AccountArchive) => site::lifecycle::archive;
    Post "/accounts/{id}/password/reveal" Team(PasswordReveal) => site::lifecycle::reveal_password;
    Get "/imports" Caller => site::imports::import_page;
    Post "/imports/preview" SomeTeam(TotpSet) => site::imports::preview;
    Post "/imports/apply" SomeTeam(TotpSet) => site::imports::apply;
    Post "/accounts/{id}/incidents" Team(IncidentRun) => site::incidents::start;
    Get "/incidents" Caller => site::incidents::list;
    Get "/incidents/{id}" Team(IncidentRead) => site::incidents::incident;
    Post "/incidents/{id}/answer" Team(IncidentRun) => site::incidents::answer;
    Post "/incidents/{id}/resolve" Team(IncidentRun) => site::incidents::resolve;
    Post "/incidents/{id}/cancel" Team(IncidentRun) => site::incidents::cancel;
    Get "/access-requests" Caller => site::access::requests;
    Get "/access-requests/{id}" Team(AccountRead) => site::access::request;
    Post "/accounts/{id}/access" Team(AccessRequest) => site::access::ask;
    Post "/accounts/{id}/access-policy" Person(AccessPolicy) => site::access::set_policy;
    Post "/access-requests/{id}/approve" Person(AccessApprove) => site::access::approve;
    Post "/access-requests/{id}/deny" Person(AccessApprove) => site::access::deny;
    Post "/access-requests/{id}/revoke" Team(AccessApprove) => site::access::revoke;
    Post "/access-requests/{id}/cancel" Proof => site::access::cancel;
    Get "/lang/{lang}" Nothing => site::pages::language;
    // SCIM (`/scim/v2`), for the organisation's IdP; discovery is public (RFC 7644, 4).
    Get "/scim/v2/ServiceProviderConfig" Nothing => scim::discovery::service_provider_config;
    Get "/scim/v2/ResourceTypes" Nothing => scim::discovery::resource_types;
    Get "/scim/v2/ResourceTypes/{id}" Nothing => scim::discovery::resource_type;
    Get "/scim/v2/Schemas" Nothing => scim::discovery::schema_list;
    Get "/scim/v2/Schemas/{id}" Nothing => scim::discovery::schema_one;
    Post "/scim/v2/.search" OrgWide(ScimProvision) => scim::users::search_root;
    Post "/scim/v2/Users/.search" OrgWide(ScimProvision) => scim::users::search;
    Get "/scim/v2/Users" OrgWide(ScimProvision) => scim::users::list;
    Post "/scim/v2/Users" OrgWide(ScimProvision) => scim::users::create;
    Get "/scim/v2/Users/{id}" OrgWide(ScimProvision) => scim::users::get;
    Put "/scim/v2/Users/{id}" OrgWide(ScimProvision) => scim::users::replace;
    Patch "/scim/v2/Users/{id}" OrgWide(ScimProvision) => scim::users::patch;
    Delete "/scim/v2/Users/{id}" OrgWide(ScimProvision) => scim::users::delete;
};

const API: &str = "/api/v1";
const SCIM: &str = "/scim/v2";

fn resource(route: &Route, path: &str) -> actix_web::Resource {
    web::resource(path)
        .guard(route.method.guard())
        .route((route.to)())
}

/// Registers every route of the table: the JSON API and SCIM in scopes of their own (SCIM's
/// with its own 404 and 405 answers), the rest at the root, each in the table's order.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut api = web::scope(API);
    let mut scim = web::scope(SCIM);
    let mut root = Vec::new();
    for route in ROUTES {
        if let Some(path) = route.path.strip_prefix(API) {
            api = api.service(resource(route, path));
        } else if let Some(path) = route.path.strip_prefix(SCIM) {
            scim = scim.service(resource(route, path));
        } else {
            root.push(resource(route, route.path));
        }
    }
    cfg.service(api);
    for resource in root {
        cfg.service(resource);
    }
    cfg.service(scim::finish_scope(scim));
}
