//! Break-glass releases: ask for one, submit shares (no sign-in: a share proves itself),
//! follow it, veto it, and read the released secrets with the release key.

use super::accounts::rfc3339;
use super::otp::required_justification;
use crate::domain::Justification;
use crate::http::extract::{Json, OptionalJson};
use crate::http::{ApiError, Authenticated};
use crate::services::release::ReleaseView;
use crate::services::Core;
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_proto::otp::JustificationBody;
use keyward_proto::releases::{
    BackupCodeOut, ReleaseId, ReleaseOut, ReleasedAccountOut, ReleasedOut, RequestBody, ShareBody,
};
use keyward_proto::Sensitive;
use secrecy::ExposeSecret;

/// The header that carries the release key to read the released secrets.
pub const RELEASE_KEY_HEADER: &str = "X-Release-Key";

impl From<ReleaseView> for ReleaseOut {
    fn from(view: ReleaseView) -> Self {
        let r = view.release;
        ReleaseOut {
            id: r.id,
            escrow: r.escrow_id,
            requester: r.requester,
            reason: r.reason,
            state: r.state,
            shares_received: r.shares_received,
            threshold: r.threshold,
            release_at: r.release_at.map(rfc3339),
            expires_at: r.expires_at.map(rfc3339),
            release_key: None,
        }
    }
}

/// Asks for a release of an escrow (anyone with a role in its teams, or a custodian). The
/// answer carries the release key, once: it reads the secrets once the custodians' shares
/// are in.
#[utoipa::path(post, path = "/api/v1/escrows/{id}/releases", tag = "break-glass",
    params(keyward_proto::escrows::EscrowId), request_body = RequestBody,
    responses((status = 201, body = ReleaseOut),
    (status = 404, description = "no such escrow", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`escrow_spent`", body = keyward_proto::wire::ErrorBody)))]
pub async fn request(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<RequestBody>,
) -> Result<HttpResponse, ApiError> {
    // The right is decided in the service before the reason is looked at.
    let body = body.into_inner();
    let reason = body.and_then(|b| Ok(Justification::parse(&b.reason)?));
    let reason = match reason {
        Ok(reason) => reason,
        Err(err) => {
            core.may_request_release(&auth.0, &id).await?;
            return Err(err);
        }
    };
    let requested = core.request_release(&auth.0, &id, reason).await?;
    let mut out = ReleaseOut::from(requested.view);
    out.release_key = Some(Sensitive::new(requested.release_key.as_str()));
    Ok(HttpResponse::Created().json(out))
}

/// A custodian submits their share. No sign-in: the share proves itself. A bad or foreign
/// share is 422 `invalid_share`; the same share twice 409 `share_already_submitted`.
#[utoipa::path(post, path = "/api/v1/releases/{id}/shares", tag = "break-glass", security(),
    params(ReleaseId), request_body = ShareBody,
    responses((status = 200, body = ReleaseOut),
    (status = 400, description = "the body is not JSON", body = keyward_proto::wire::ErrorBody),
    (status = 404, description = "no such release", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`share_already_submitted`, or the release takes no more shares", body = keyward_proto::wire::ErrorBody),
    (status = 413, description = "the body is too large", body = keyward_proto::wire::ErrorBody),
    (status = 415, description = "not JSON", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "`invalid_share`", body = keyward_proto::wire::ErrorBody),
    (status = 429, description = "too many refused shares from this address", body = keyward_proto::wire::ErrorBody),
    (status = 503, description = "the database is unavailable", body = keyward_proto::wire::ErrorBody)))]
pub async fn submit(
    req: HttpRequest,
    core: web::Data<Core>,
    id: web::Path<String>,
    body: Json<ShareBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let view = core
        .submit_share(
            &id,
            body.share.expose_secret(),
            &crate::http::auth::meta(&req),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ReleaseOut::from(view)))
}

/// A release (its requester, the escrow's custodians, security admins and auditors).
#[utoipa::path(get, path = "/api/v1/releases/{id}", tag = "break-glass", params(ReleaseId),
    responses((status = 200, body = ReleaseOut), (status = 404, description = "no such release", body = keyward_proto::wire::ErrorBody)))]
pub async fn get(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let view = core.release(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(ReleaseOut::from(view)))
}

/// Stops a release collecting shares or waiting (security admins and custodians).
#[utoipa::path(post, path = "/api/v1/releases/{id}/veto", tag = "break-glass", params(ReleaseId),
    request_body = JustificationBody,
    responses((status = 200, body = ReleaseOut), (status = 404, description = "no such release", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`release_not_vetoable`", body = keyward_proto::wire::ErrorBody)))]
pub async fn veto(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    let justification = match required_justification(body) {
        Ok(j) => j,
        Err(err) => {
            core.may_veto_release(&auth.0, &id).await?;
            return Err(err);
        }
    };
    let view = core.veto_release(&auth.0, &id, justification).await?;
    Ok(HttpResponse::Ok().json(ReleaseOut::from(view)))
}

/// The released secrets, for the requester, with the release key in `X-Release-Key`; 410
/// once the window has ended.
#[utoipa::path(get, path = "/api/v1/releases/{id}/secrets", tag = "break-glass",
    params(ReleaseId, ("X-Release-Key" = String, Header, description = "the release key given when the release was asked for")),
    responses((status = 200, body = ReleasedOut),
    (status = 404, description = "no such release", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "not enough shares yet, or vetoed", body = keyward_proto::wire::ErrorBody),
    (status = 410, description = "`release_expired`: the window has ended", body = keyward_proto::wire::ErrorBody)))]
pub async fn secrets(
    req: HttpRequest,
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = req
        .headers()
        .get(RELEASE_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| zeroize::Zeroizing::new(v.to_owned()))
        .unwrap_or_default();
    // The key comes in a header no other site can make a browser send: this read may open.
    let (accounts, expires) = core.released_secrets(&auth.0, &id, &key, true).await?;
    let out = ReleasedOut {
        accounts: accounts
            .iter()
            .map(|a| ReleasedAccountOut {
                totp_code: a.totp_code().map(|c| Sensitive::new(c.as_str())),
                account: a.account.clone(),
                platform: a.platform.clone(),
                handle: a.handle.clone(),
                otpauth_uri: a.otpauth_uri.clone().map(Sensitive::new),
                password: a.password.clone().map(Sensitive::new),
                backup_codes: a
                    .backup_codes
                    .iter()
                    .map(|(position, code)| BackupCodeOut {
                        position: *position,
                        code: Sensitive::new(code.as_str()),
                    })
                    .collect(),
            })
            .collect(),
        expires_at: rfc3339(expires),
    };
    Ok(HttpResponse::Ok().json(out))
}
