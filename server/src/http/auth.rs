//! Authentication of requests: `Authorization: Bearer kw_…` service tokens, or the browser
//! session cookie. A presented but unusable token is refused and audited. The origin guard
//! keeps cookie-authenticated state changes to this service's own pages.

use super::error::ApiError;
use super::request::RequestId;
use crate::audit::Outcome;
use crate::authn::session::SESSION_COOKIE;
use crate::authn::tokens::{self, Unusable};
use crate::services::{Caller, Core, RequestMeta};
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use zeroize::Zeroizing;

/// An authenticated caller (token or session); 401 otherwise.
pub struct Authenticated(pub Caller);

/// A signed-in browser, if any (pages redirect to sign-in when absent).
pub struct MaybeSession(pub Option<Caller>);

pub(crate) fn meta(req: &HttpRequest) -> RequestMeta {
    RequestMeta {
        ip: req.peer_addr().map(|a| a.ip().to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(300).collect()),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    }
}

fn storage_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "the database is unavailable; try again",
    )
}

/// Resolves the session cookie to a caller.
async fn from_session(
    core: &Core,
    cookie: &str,
    meta: RequestMeta,
) -> Result<Option<Caller>, ApiError> {
    let resolved = core.session_principal(cookie).await.map_err(|e| {
        tracing::error!(error = %e, "session lookup failed");
        storage_unavailable()
    })?;
    Ok(resolved.map(|(principal, session)| Caller {
        principal,
        meta,
        session: Some(session),
    }))
}

async fn from_token(core: &Core, token: &str, meta: RequestMeta) -> Result<Caller, ApiError> {
    let row = if tokens::looks_valid(token) {
        core.token_presented(token).await.map_err(|e| {
            tracing::error!(error = %e, "token lookup failed");
            storage_unavailable()
        })?
    } else {
        None
    };
    let refused = |actor: String, reason: &'static str| {
        let mut event = crate::audit::Event::new(actor, "auth.denied")
            .outcome(Outcome::Denied)
            .details(serde_json::json!({ "reason": reason }));
        event.ip = meta.ip.clone();
        event.user_agent = meta.user_agent.clone();
        event.request_id = meta.request_id.clone();
        event
    };
    // A failure counts against the address; past its limit it gets 429 and no audit write of
    // its own (its denials are counted into one aggregate event a minute).
    let Some(row) = row else {
        let limited = core.anonymous_attempt(&meta).err();
        core.deny_anonymous(refused("anonymous".into(), "unknown_token"))
            .await;
        return Err(limited.map_or_else(
            || ApiError::unauthenticated("the token is not valid"),
            ApiError::from,
        ));
    };
    match tokens::principal(&row, chrono::Utc::now()) {
        Ok(principal) => Ok(Caller {
            principal,
            meta,
            session: None,
        }),
        Err(why) => {
            let (reason, message) = match why {
                Unusable::Revoked => ("revoked_token", "the token was revoked"),
                Unusable::Expired => ("expired_token", "the token has expired"),
                Unusable::Corrupt => ("corrupt_token", "the token is not valid"),
            };
            let event = refused(format!("token:{}", row.id), reason);
            match core.anonymous_attempt(&meta).err() {
                Some(limited) => {
                    core.deny_anonymous(event).await;
                    Err(limited.into())
                }
                None => {
                    core.deny_anonymous(event).await;
                    Err(ApiError::unauthenticated(message))
                }
            }
        }
    }
}

/// The bearer token of `Authorization: Bearer …`, if the request carries one.
pub(crate) fn bearer(req: &HttpRequest) -> Option<Zeroizing<String>> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Zeroizing::new(t.trim().to_owned()))
        .filter(|t| !t.is_empty())
}

/// Resolves a command line's `kwcli_` token to a caller: a member, with the session (and
/// its `auth_time`) of their device sign-in. An unknown or ended one is refused like a token.
async fn from_cli_session(core: &Core, token: &str, meta: RequestMeta) -> Result<Caller, ApiError> {
    let resolved = core.cli_session_principal(token).await.map_err(|e| {
        tracing::error!(error = %e, "session lookup failed");
        storage_unavailable()
    })?;
    match resolved {
        Some((principal, session)) => Ok(Caller {
            principal,
            meta,
            session: Some(session),
        }),
        None => {
            let limited = core.anonymous_attempt(&meta).err();
            let mut event = crate::audit::Event::new("anonymous", "auth.denied")
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "reason": "unknown_cli_session" }));
            event.ip = meta.ip.clone();
            event.user_agent = meta.user_agent.clone();
            event.request_id = meta.request_id.clone();
            core.deny_anonymous(event).await;
            Err(limited.map_or_else(
                || {
                    ApiError::unauthenticated(
                        "the command line's session has ended; run `kw login` again",
                    )
                },
                ApiError::from,
            ))
        }
    }
}

fn session_cookie(req: &HttpRequest) -> Option<Zeroizing<String>> {
    req.cookie(SESSION_COOKIE)
        .map(|c| Zeroizing::new(c.value().to_owned()))
        .filter(|v| !v.is_empty())
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let core = req.app_data::<web::Data<Core>>().cloned();
        let token = bearer(req);
        let cookie = session_cookie(req);
        let meta = meta(req);
        Box::pin(async move {
            let core =
                core.ok_or_else(|| ApiError::unauthenticated("authentication is not configured"))?;
            if let Some(token) = token {
                if token.starts_with(crate::services::device::CLI_TOKEN_PREFIX) {
                    return from_cli_session(&core, &token, meta)
                        .await
                        .map(Authenticated);
                }
                return from_token(&core, &token, meta).await.map(Authenticated);
            }
            if let Some(cookie) = cookie {
                return match from_session(&core, &cookie, meta).await? {
                    Some(caller) => Ok(Authenticated(caller)),
                    None => Err(ApiError::unauthenticated(
                        "your session has ended; sign in again",
                    )),
                };
            }
            Err(ApiError::unauthenticated(
                "sign in, or send Authorization: Bearer <token>",
            ))
        })
    }
}

impl FromRequest for MaybeSession {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let core = req.app_data::<web::Data<Core>>().cloned();
        let cookie = session_cookie(req);
        let meta = meta(req);
        Box::pin(async move {
            match (core, cookie) {
                (Some(core), Some(cookie)) => {
                    Ok(MaybeSession(from_session(&core, &cookie, meta).await?))
                }
                _ => Ok(MaybeSession(None)),
            }
        })
    }
}

/// Middleware: a state-changing request that carries the session cookie must come from this
/// service's own origin (`Origin`, or lacking that, `Referer`) — unless it is authenticated by
/// a bearer token, which a browser never adds on its own. Any other `Authorization` header
/// (Basic, a malformed bearer) does not count: such a request falls back to the cookie.
pub async fn origin_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Only the JSON API authenticates by bearer token (and then never by the cookie); the
    // dashboard's forms always use the cookie, whatever else the request carries.
    let by_token = req.path().starts_with("/api/") && bearer(req.request()).is_some();
    let uses_cookie = req.cookie(crate::authn::session::SESSION_COOKIE).is_some() && !by_token;
    if unsafe_method && uses_cookie {
        let expected = req
            .app_data::<web::Data<crate::services::Core>>()
            .map(|c| c.settings.public_origin());
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                req.headers()
                    .get(header::REFERER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|r| url::Url::parse(r).ok())
                    .map(|u| u.origin().ascii_serialization())
            });
        if expected.is_none() || origin != expected {
            let error = ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "cross_origin_request",
                "this request did not come from Keyward's own pages",
            );
            return Ok(req.error_response(error));
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
