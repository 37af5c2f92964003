//! Sign-in through the IdP: `/auth/login`, `/auth/callback`, `/auth/logout`.

use super::{cookie, error_page, expired_session_cookie, see_other, Chrome};
use crate::authn::oidc::KNOWN_IDP_ERRORS;
use crate::authn::session::{csrf_valid, LOGIN_COOKIE, SESSION_COOKIE};
use crate::http::auth::meta;
use crate::http::MaybeSession;
use crate::services::{Core, ServiceError};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to go after signing in (a path on this service).
    return_to: Option<String>,
    /// `login` forces a fresh authentication at the IdP (step-up).
    prompt: Option<String>,
}

/// Sends the browser to the IdP, with state, nonce and PKCE bound to this browser.
/// Starts a sign-in at the identity provider (authorization code + PKCE).
#[utoipa::path(get, path = "/auth/login", tag = "identity", security(), params(LoginQuery),
    responses((status = 302, description = "to the identity provider"), (status = 400, description = "single sign-on is not configured", content_type = "text/html"), (status = 429, description = "too many sign-ins from this address", content_type = "text/html"), (status = 503, description = "the identity provider cannot be reached", content_type = "text/html")))]
pub async fn login(
    req: HttpRequest,
    core: web::Data<Core>,
    query: web::Query<LoginQuery>,
) -> HttpResponse {
    let fresh = query.prompt.as_deref() == Some("login");
    match core
        .begin_login(query.return_to.as_deref(), fresh, &meta(&req))
        .await
    {
        Ok(redirect) => {
            let mut binding = cookie(
                &core,
                LOGIN_COOKIE,
                redirect.browser_binding.to_string(),
                "/auth",
            );
            binding.set_max_age(CookieDuration::minutes(10));
            HttpResponse::Found()
                .insert_header((actix_web::http::header::LOCATION, redirect.url))
                .cookie(binding)
                .finish()
        }
        Err(err) => failure(&req, &core, err),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state the sign-in started with.
    state: Option<String>,
    /// The issuer (RFC 9207).
    iss: Option<String>,
    /// An OAuth error code, when the IdP refused.
    error: Option<String>,
}

/// The fixed text for an IdP's error code.
fn idp_error_text(t: &super::i18n::Texts, code: &str) -> String {
    match code {
        "access_denied" => t.idp_denied.to_owned(),
        "login_required"
        | "interaction_required"
        | "consent_required"
        | "account_selection_required" => t.idp_needs_interaction.to_owned(),
        "server_error" | "temporarily_unavailable" => t.idp_trouble.to_owned(),
        known if KNOWN_IDP_ERRORS.contains(&known) => t.idp_refused.replace("{code}", known),
        _ => t.idp_refused.replace("{code}", "?"),
    }
}

/// The IdP's redirect back: finishes the login, sets a new session cookie.
/// The identity provider's redirect back: finishes the sign-in and sets the session cookie.
#[utoipa::path(get, path = "/auth/callback", tag = "identity", security(), params(CallbackQuery),
    responses((status = 303, description = "a redirect (see Location)"), (status = 400, description = "the sign-in was refused", content_type = "text/html"), (status = 429, description = "too many failed sign-ins from this address", content_type = "text/html"), (status = 503, description = "the identity provider cannot be reached", content_type = "text/html")))]
pub async fn callback(
    req: HttpRequest,
    core: web::Data<Core>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let c = Chrome::new(&req, &core, None);
    if let Some(error) = &query.error {
        // `error_description` is whatever the link's author wrote: never shown. Known OAuth
        // error codes get a fixed text; anything else, a generic one.
        let message = idp_error_text(c.t, error);
        if let Err(err) = core.refuse_idp_error(error, &meta(&req)).await {
            return failure(&req, &core, err);
        }
        return error_page(c, StatusCode::BAD_REQUEST, message);
    }
    let binding = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    let previous = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let result = core
        .finish_login(
            binding.as_deref(),
            query.state.as_deref(),
            query.code.as_deref(),
            query.iss.as_deref(),
            previous.as_deref(),
            &meta(&req),
        )
        .await;
    let mut clear_binding = cookie(&core, LOGIN_COOKIE, String::new(), "/auth");
    clear_binding.make_removal();
    match result {
        Ok(signed_in) => {
            let session = cookie(
                &core,
                SESSION_COOKIE,
                signed_in.session_cookie.to_string(),
                "/",
            );
            let mut res = see_other(&signed_in.return_to);
            let _ = res.add_cookie(&session);
            let _ = res.add_cookie(&clear_binding);
            res
        }
        Err(err) => {
            let mut res = failure(&req, &core, err);
            let _ = res.add_cookie(&clear_binding);
            res
        }
    }
}

#[derive(Template)]
#[template(path = "reauth.html")]
struct ReauthPage {
    c: Chrome,
    login: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReauthQuery {
    /// Where to come back to after the fresh sign-in.
    return_to: Option<String>,
}

/// Where a form that needs a fresh sign-in lands (303 from the form): one link to the step-up
/// login, which app.js follows at once. The form's own redirect chain stays on this origin,
/// as the Content-Security-Policy's `form-action 'self'` requires.
/// The page a form that needs a fresh sign-in leads to: one link to the step-up sign-in.
#[utoipa::path(get, path = "/auth/reauth", tag = "identity", security(), params(ReauthQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html")))]
pub async fn reauth(
    req: HttpRequest,
    core: web::Data<Core>,
    query: web::Query<ReauthQuery>,
) -> HttpResponse {
    let return_to = core.settings.return_to(query.return_to.as_deref());
    let encoded: String =
        url::form_urlencoded::byte_serialize(return_to.as_str().as_bytes()).collect();
    let page = ReauthPage {
        c: Chrome::new(&req, &core, None),
        login: format!("/auth/login?prompt=login&return_to={encoded}"),
    };
    super::render(StatusCode::OK, &page)
}

#[derive(Deserialize, ToSchema)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (POST with the CSRF token; the Origin check runs first).
/// Ends the session (with the form's CSRF token).
#[utoipa::path(post, path = "/auth/logout", tag = "identity", security(("session" = [])),
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF)", content_type = "text/html")))]
pub async fn logout(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: Option<web::Form<LogoutForm>>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        let mut res = see_other("/signin");
        let _ = res.add_cookie(&expired_session_cookie(&core));
        return res;
    };
    let presented = form.as_ref().map(|f| f.csrf.as_str()).unwrap_or("");
    let valid = caller
        .session
        .as_ref()
        .is_some_and(|s| csrf_valid(&core.keyring, &s.id_hash, presented));
    if !valid {
        let c = Chrome::new(&req, &core, Some(&caller));
        return error_page(
            c,
            StatusCode::FORBIDDEN,
            "The form was out of date. Reload the page and try again.",
        );
    }
    if let Err(err) = core.sign_out(&caller).await {
        return failure(&req, &core, err);
    }
    let mut res = see_other("/signin?signed_out=1");
    let _ = res.add_cookie(&expired_session_cookie(&core));
    res
}

fn failure(req: &HttpRequest, core: &Core, err: ServiceError) -> HttpResponse {
    let c = Chrome::new(req, core, None);
    match err {
        ServiceError::SignIn { message, .. } => error_page(c, StatusCode::BAD_REQUEST, message),
        ServiceError::RateLimited {
            message,
            retry_after,
            ..
        } => {
            let mut res = error_page(c, StatusCode::TOO_MANY_REQUESTS, message);
            if let Ok(value) =
                actix_web::http::header::HeaderValue::from_str(&retry_after.to_string())
            {
                res.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, value);
            }
            res
        }
        ServiceError::IdpUnavailable => error_page(
            c,
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider cannot be reached right now. Try again in a minute.",
        ),
        other => {
            tracing::error!(error = %other, "sign-in failed");
            error_page(
                c,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable right now. Try again in a minute.",
            )
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct BackchannelLogoutForm {
    /// The IdP's signed logout token (OIDC Back-Channel Logout 1.0).
    #[allow(dead_code)]
    logout_token: String,
}

/// The IdP ends a member's sessions: a signed logout token naming them (and their IdP
/// session). 200 when it is valid (even if no session was open), 400 when it is refused.
#[utoipa::path(post, path = "/auth/backchannel-logout", tag = "identity", security(),
    request_body(content = BackchannelLogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "the sessions are ended"),
    (status = 400, description = "the logout token was refused", content_type = "application/json", body = Object),
    (status = 429, description = "too many refused tokens from this address", content_type = "application/json", body = Object),
    (status = 503, description = "the identity provider cannot be reached", content_type = "application/json", body = Object)))]
pub async fn backchannel_logout(
    req: HttpRequest,
    core: web::Data<Core>,
    body: web::Bytes,
) -> HttpResponse {
    #[derive(Deserialize)]
    struct Form {
        logout_token: Option<String>,
    }
    let token = serde_urlencoded::from_bytes::<Form>(&body)
        .ok()
        .and_then(|f| f.logout_token);
    match core.backchannel_logout(token.as_deref(), &meta(&req)).await {
        Ok(_) => HttpResponse::Ok().finish(),
        // The spec's error shape: {"error": …, "error_description": …}.
        Err(err) => {
            let (status, error, description) = match err {
                ServiceError::RateLimited { retry_after, .. } => {
                    return HttpResponse::TooManyRequests()
                        .insert_header(("Retry-After", retry_after.to_string()))
                        .json(serde_json::json!({"error": "temporarily_unavailable", "error_description": "too many refused logout tokens"}));
                }
                ServiceError::IdpUnavailable | ServiceError::Storage(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "try again shortly",
                ),
                _ => (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the logout token was refused",
                ),
            };
            HttpResponse::build(status)
                .json(serde_json::json!({"error": error, "error_description": description}))
        }
    }
}
