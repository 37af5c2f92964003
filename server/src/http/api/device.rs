//! The device authorization grant's endpoints (RFC 8628): a code for `kw login`, and the
//! polling for its token. Forms in, JSON out; errors in the OAuth shape (`{"error": …}`).

use crate::http::auth::meta;
use crate::http::ApiError;
use crate::services::device::{PollError, Polled};
use crate::services::Core;
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_proto::device::{
    DeviceCodeForm, DeviceCodeOut, DeviceErrorOut, DeviceTokenForm, DeviceTokenOut,
};

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn oauth_error(error: PollError) -> HttpResponse {
    let description = match error {
        PollError::AuthorizationPending => "waiting for the member to approve the code",
        PollError::SlowDown => "polling too fast: wait 5 seconds longer between polls",
        PollError::AccessDenied => "the member denied the sign-in",
        PollError::ExpiredToken => "the code expired; start again with kw login",
        PollError::InvalidGrant => "unknown or spent device code",
        PollError::InvalidClient => "unknown client (keyward-cli only)",
        PollError::UnsupportedGrantType => {
            "grant_type must be urn:ietf:params:oauth:grant-type:device_code"
        }
    };
    // RFC 6749, 5.2: 400, also for `invalid_client` (a public client authenticates with no
    // Authorization header, so 401 does not apply).
    HttpResponse::BadRequest()
        .insert_header(("Cache-Control", "no-store"))
        .json(DeviceErrorOut {
            error: error.code().to_owned(),
            error_description: description.to_owned(),
        })
}

/// Starts a device sign-in for `kw login` (RFC 8628, 3.1): a device code to poll with and a
/// user code for the member to approve on `/device`, valid 10 minutes.
#[utoipa::path(post, path = "/auth/device/code", tag = "sign-in", security(),
    request_body(content = DeviceCodeForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeviceCodeOut),
    (status = 400, description = "`invalid_client`", body = DeviceErrorOut),
    (status = 429, description = "too many attempts from this address", body = keyward_proto::wire::ErrorBody)))]
pub async fn code(
    req: HttpRequest,
    core: web::Data<Core>,
    form: web::Form<DeviceCodeForm>,
) -> Result<HttpResponse, ApiError> {
    let started = core
        .start_device_sign_in(&form.client_id, &meta(&req))
        .await?;
    let start = match started {
        Ok(start) => start,
        Err(error) => return Ok(oauth_error(error)),
    };
    let base = core.settings.public_url.trim_end_matches('/');
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(DeviceCodeOut {
            device_code: start.device_code.as_str().to_owned(),
            user_code: start.user_code.display(),
            verification_uri: format!("{base}/device"),
            verification_uri_complete: format!(
                "{base}/device?user_code={}",
                start.user_code.display()
            ),
            expires_in: start.expires_in,
            interval: start.interval,
        }))
}

/// Polls for the token (RFC 8628, 3.4): `authorization_pending` until the member approves,
/// `slow_down` when polled too fast (the interval grows by 5 s), `access_denied`,
/// `expired_token`; then, once, the `kwcli_` token.
#[utoipa::path(post, path = "/auth/device/token", tag = "sign-in", security(),
    request_body(content = DeviceTokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = DeviceTokenOut),
    (status = 400, description = "an RFC 8628 error: `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant`, `invalid_client`, `unsupported_grant_type`", body = DeviceErrorOut)))]
pub async fn token(
    req: HttpRequest,
    core: web::Data<Core>,
    form: web::Form<DeviceTokenForm>,
) -> Result<HttpResponse, ApiError> {
    if form.grant_type != GRANT_TYPE {
        return Ok(oauth_error(PollError::UnsupportedGrantType));
    }
    let polled = core
        .poll_device_sign_in(&form.device_code, &form.client_id, &meta(&req))
        .await?;
    Ok(match polled {
        Polled::Token { token, expires_in } => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(DeviceTokenOut {
                access_token: token.as_str().to_owned(),
                token_type: "Bearer".to_owned(),
                expires_in,
            }),
        Polled::Error(error) => oauth_error(error),
    })
}
