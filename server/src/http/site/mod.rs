//! The web dashboard: server-rendered pages (askama templates in `web/templates`), assets
//! embedded from `web/static`, sign-in through the IdP. No inline script (strict CSP).

pub(crate) mod access;
pub(crate) mod account;
pub(crate) mod assets;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod backup;
pub(crate) mod breakglass;
pub(crate) mod ceremony;
pub(crate) mod device;
pub mod i18n;
mod i18n_access;
mod i18n_breakglass;
mod i18n_device;
pub(crate) mod i18n_errors;
mod i18n_imports;
mod i18n_incidents;
mod i18n_lifecycle;
mod i18n_rotation;
pub(crate) mod i18n_words;
pub(crate) mod imports;
pub(crate) mod incidents;
pub(crate) mod kit;
pub(crate) mod lifecycle;
pub(crate) mod members;
pub(crate) mod pages;
pub(crate) mod panels;
pub(crate) mod releases;
pub(crate) mod rotation;

use crate::authn::session::{LANG_COOKIE, SESSION_COOKIE};
use crate::services::{Caller, Core};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use i18n::Texts;

/// How the dashboard reads forms and query strings: at most 16 KiB a form, and one that cannot
/// be read gets an HTML page (its routes are in `http::routes`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(|err, req| unreadable(req, &err, "form")),
    )
    .app_data(web::QueryConfig::default().error_handler(|err, req| unreadable(req, &err, "query")));
}

/// A form or a query string a page could not read: an HTML page saying so (400, or 415 for a
/// form that is not `application/x-www-form-urlencoded`), never the raw parser message.
fn unreadable(req: &HttpRequest, err: &dyn std::fmt::Display, what: &str) -> actix_web::Error {
    let status = match err.to_string().to_ascii_lowercase() {
        e if e.contains("content type") => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => StatusCode::BAD_REQUEST,
    };
    let page = match req.app_data::<web::Data<Core>>() {
        Some(core) => {
            let c = Chrome::new(req, core, None);
            let message = if what == "form" {
                c.t.form_unreadable
            } else {
                c.t.query_unreadable
            };
            error_page(c, status, message)
        }
        None => HttpResponse::build(status).finish(),
    };
    actix_web::error::InternalError::from_response(what.to_owned(), page).into()
}

/// What every page's frame needs: words, the signed-in person, the CSRF token.
pub struct Chrome {
    pub t: &'static Texts,
    pub user: Option<String>,
    pub csrf: String,
    /// The current path, to come back to after a language switch.
    pub here: String,
    /// Whether the nav links the members page (security admins and auditors, org-wide).
    pub members_link: bool,
    /// Access requests waiting for the caller's decision (the header's badge); counted by
    /// [`Chrome::for_page`] only.
    pub access_badge: usize,
}

/// The words for a request: the `kw_lang` cookie, else `Accept-Language`.
pub fn texts(req: &HttpRequest) -> &'static i18n::Texts {
    i18n::pick(
        req.cookie(LANG_COOKIE).as_ref().map(|c| c.value()),
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

impl Chrome {
    pub fn new(req: &HttpRequest, core: &Core, caller: Option<&Caller>) -> Self {
        let t = texts(req);
        let csrf = caller
            .and_then(|c| c.session.as_ref())
            .map(|s| crate::authn::session::csrf_token(&core.keyring, &s.id_hash))
            .unwrap_or_default();
        Self {
            t,
            user: caller.map(|c| c.principal.name.clone()),
            members_link: caller.is_some_and(|c| {
                c.principal.bindings.iter().any(|b| {
                    b.team == crate::authz::ORG_WIDE
                        && matches!(
                            b.role,
                            crate::authz::Role::SecurityAdmin | crate::authz::Role::Auditor
                        )
                })
            }),
            csrf,
            access_badge: 0,
            // Sign-in's own URLs carry the IdP's parameters: never echoed into links.
            here: if req.path().starts_with("/auth/") {
                "/signin".to_owned()
            } else {
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".into())
            },
        }
    }
}

impl Chrome {
    /// A page's frame with the header's badge: the access requests the caller could decide
    /// on now (one query, for approvers only).
    pub async fn for_page(req: &HttpRequest, core: &Core, caller: &Caller) -> Self {
        let mut c = Self::new(req, core, Some(caller));
        c.access_badge = core.requests_to_decide(caller).await.unwrap_or(0);
        c
    }
}

/// Renders a template as an HTML response.
pub fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(err) => {
            tracing::error!(error = %err, "template failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("page could not be rendered")
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub c: Chrome,
    pub status: u16,
    pub message: String,
}

pub fn error_page(c: Chrome, status: StatusCode, message: impl Into<String>) -> HttpResponse {
    render(
        status,
        &ErrorPage {
            c,
            status: status.as_u16(),
            message: message.into(),
        },
    )
}

/// A cookie with the flags every Keyward cookie gets.
pub fn cookie<'a>(core: &Core, name: &'a str, value: String, path: &'a str) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(core.settings.is_https())
        .finish()
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// Where to send someone who must sign in first.
pub fn to_signin(return_to: &str) -> HttpResponse {
    let encoded: String = url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    see_other(&format!("/signin?return_to={encoded}"))
}

/// A removal of the session cookie.
pub fn expired_session_cookie(core: &Core) -> Cookie<'static> {
    let mut c = cookie(core, SESSION_COOKIE, String::new(), "/");
    c.make_removal();
    c.into_owned()
}
