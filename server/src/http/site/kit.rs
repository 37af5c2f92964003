//! What every dashboard wing uses to answer a form: the signed-in caller behind a valid CSRF token,
//! a failure shown on the page or as an error page, and dates as pages show them.

use super::{error_page, see_other, to_signin, Chrome};
use crate::authn::session::csrf_valid;
use crate::http::MaybeSession;
use crate::services::{Caller, Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// The signed-in caller of a form post, or the response that refuses it (not signed in, or
/// a missing or stale CSRF token).
// The Err side is the response itself, handed straight back to actix.
#[allow(clippy::result_large_err)]
pub fn form_caller(
    req: &HttpRequest,
    core: &Core,
    session: MaybeSession,
    csrf: &str,
    here: &str,
) -> Result<Caller, HttpResponse> {
    let Some(caller) = session.0 else {
        return Err(to_signin(here));
    };
    let csrf_ok = caller
        .session
        .as_ref()
        .is_some_and(|s| csrf_valid(&core.keyring, &s.id_hash, csrf));
    if !csrf_ok {
        let c = Chrome::new(req, core, Some(&caller));
        return Err(error_page(
            c,
            StatusCode::FORBIDDEN,
            "The form was out of date. Reload the page and try again.",
        ));
    }
    Ok(caller)
}

/// A failed action shown on the page it came from (its message), or a response of its own:
/// a step-up sign-in that comes back to `here`, or an error page.
// The Err side is the response itself, handed straight back to actix.
#[allow(clippy::result_large_err)]
pub fn recoverable(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    err: ServiceError,
    here: &str,
) -> Result<String, HttpResponse> {
    let lang = super::texts(req).lang;
    let localized =
        |code: &str, message: String| super::i18n_errors::localized(lang, code, message);
    match err {
        ServiceError::ReauthRequired => {
            let encoded: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(see_other(&format!("/auth/reauth?return_to={encoded}")))
        }
        ServiceError::Locked { code, message }
        | ServiceError::Conflict { code, message }
        | ServiceError::RateLimited { code, message, .. } => Ok(localized(code, message)),
        ServiceError::Invalid(invalid) => Ok(localized(invalid.code, invalid.message)),
        // A locked account: the page's access card says how to ask.
        ServiceError::Refused {
            code: code @ ("approval_required" | "relax_needs_security_admin"),
            message,
        } => Ok(localized(code, message)),
        other => Err(service_failure(Chrome::new(req, core, Some(caller)), other)),
    }
}

pub fn service_failure(c: Chrome, err: ServiceError) -> HttpResponse {
    let t = c.t;
    match err {
        ServiceError::NotFound(_) => error_page(c, StatusCode::NOT_FOUND, t.not_found_body),
        ServiceError::Forbidden => error_page(c, StatusCode::FORBIDDEN, t.forbidden_body),
        other => {
            let api = crate::http::ApiError::from(other);
            let message = super::i18n_errors::localized(t.lang, api.code, api.message);
            error_page(c, api.status, message)
        }
    }
}

/// A moment as the dashboard shows it, in UTC.
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
