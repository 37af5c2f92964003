//! TOTP and HOTP: store a seed, reveal a code, export the seed.

use crate::domain::{
    Base32Secret, HashAlgorithm, Invalid, Justification, OtpKind, OtpParams, Otpauth,
};
use crate::http::{ApiError, Authenticated};
use crate::services::Core;
use actix_web::{post, put, web, HttpResponse};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Either an `otpauth://` URI or the seed and its parameters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetOtp {
    #[schema(value_type = Option<String>)]
    pub otpauth_uri: Option<SecretString>,
    /// Base32; spaces, lowercase and missing padding are accepted.
    #[schema(value_type = Option<String>)]
    pub secret: Option<SecretString>,
    /// SHA1 (default), SHA256 or SHA512.
    pub algorithm: Option<String>,
    /// 6 (default) or 8.
    pub digits: Option<u32>,
    /// TOTP only: 30 (default) or 60.
    pub period: Option<u64>,
    /// HOTP only: the next counter value (default 0).
    pub counter: Option<u64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JustificationBody {
    pub justification: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionOut {
    pub version: i32,
}

#[derive(Serialize, ToSchema)]
pub struct TotpCodeOut {
    pub code: String,
    pub digits: u32,
    pub period: u64,
    /// Seconds the code stays valid.
    pub expires_in: u64,
    /// The next period's code, when `expires_in` ≤ 5.
    pub next_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HotpCodeOut {
    pub code: String,
    /// The counter the code was computed for; the stored counter is now one higher.
    pub counter: u64,
}

#[derive(Serialize, ToSchema)]
pub struct ExportOut {
    pub otpauth_uri: String,
}

fn parse_otp(body: SetOtp, kind: OtpKind) -> Result<Otpauth, Invalid> {
    if let Some(uri) = &body.otpauth_uri {
        let otp = Otpauth::parse(uri.expose_secret())?;
        if otp.params.kind() != kind {
            return Err(Invalid::new(
                "wrong_otp_kind",
                format!("this endpoint takes an otpauth://{}/ URI", kind.as_str()),
            ));
        }
        return Ok(otp);
    }
    let secret = body.secret.as_ref().ok_or_else(|| {
        Invalid::new(
            "secret_required",
            "send otpauth_uri, or secret with its parameters",
        )
    })?;
    let secret = Base32Secret::parse(secret.expose_secret())?;
    let algorithm = body
        .algorithm
        .as_deref()
        .map(HashAlgorithm::parse)
        .transpose()?
        .unwrap_or(HashAlgorithm::Sha1);
    let digits = body.digits.unwrap_or(6);
    let params = match kind {
        OtpKind::Totp => OtpParams::totp(algorithm, digits, body.period.unwrap_or(30))?,
        OtpKind::Hotp => OtpParams::hotp(algorithm, digits, body.counter.unwrap_or(0))?,
    };
    Ok(Otpauth { secret, params })
}

pub(super) fn justification(
    body: Option<web::Json<JustificationBody>>,
) -> Result<Option<Justification>, Invalid> {
    Justification::parse_optional(body.as_ref().and_then(|b| b.justification.as_deref()))
}

pub(super) fn required_justification(
    body: Option<web::Json<JustificationBody>>,
) -> Result<Justification, Invalid> {
    justification(body)?
        .ok_or_else(|| Invalid::new("justification_required", "a justification is required"))
}

async fn set(
    core: &Core,
    auth: &Authenticated,
    id: &str,
    body: SetOtp,
    kind: OtpKind,
) -> Result<HttpResponse, ApiError> {
    let otp = parse_otp(body, kind)?;
    let version = core.set_otp(&auth.0, id, otp).await?;
    Ok(HttpResponse::Created().json(VersionOut { version }))
}

/// Stores a new TOTP seed version (manager).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/totp", tag = "otp", request_body = SetOtp,
    responses((status = 201, body = VersionOut), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[put("/accounts/{id}/totp")]
pub async fn put_totp(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: web::Json<SetOtp>,
) -> Result<HttpResponse, ApiError> {
    set(&core, &auth, &id, body.into_inner(), OtpKind::Totp).await
}

/// The current TOTP code (operator). The justification is optional.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/totp/code", tag = "otp", request_body(content = JustificationBody, content_type = "application/json"),
    responses((status = 200, body = TotpCodeOut), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 423, body = super::ErrorBody)))]
#[post("/accounts/{id}/totp/code")]
pub async fn totp_code(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Option<web::Json<JustificationBody>>,
) -> Result<HttpResponse, ApiError> {
    let justification = justification(body)?;
    let code = core.reveal_totp(&auth.0, &id, justification).await?;
    Ok(HttpResponse::Ok().json(TotpCodeOut {
        code: code.code.as_str().to_owned(),
        digits: code.digits,
        period: code.period,
        expires_in: code.expires_in,
        next_code: code.next_code.as_ref().map(|c| c.as_str().to_owned()),
    }))
}

async fn export(
    core: &Core,
    auth: &Authenticated,
    id: &str,
    body: Option<web::Json<JustificationBody>>,
    kind: OtpKind,
) -> Result<HttpResponse, ApiError> {
    let justification = required_justification(body)?;
    let uri = core.export_otp(&auth.0, id, kind, justification).await?;
    Ok(HttpResponse::Ok().json(ExportOut {
        otpauth_uri: uri.as_str().to_owned(),
    }))
}

/// Exports the TOTP seed as an otpauth URI (security_admin, justification required).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/totp/export", tag = "otp", request_body = JustificationBody,
    responses((status = 200, body = ExportOut), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
#[post("/accounts/{id}/totp/export")]
pub async fn totp_export(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Option<web::Json<JustificationBody>>,
) -> Result<HttpResponse, ApiError> {
    export(&core, &auth, &id, body, OtpKind::Totp).await
}

/// Stores a new HOTP seed version (manager).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/hotp", tag = "otp", request_body = SetOtp,
    responses((status = 201, body = VersionOut), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody), (status = 422, body = super::ErrorBody)))]
#[put("/accounts/{id}/hotp")]
pub async fn put_hotp(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: web::Json<SetOtp>,
) -> Result<HttpResponse, ApiError> {
    set(&core, &auth, &id, body.into_inner(), OtpKind::Hotp).await
}

/// The HOTP code for the stored counter, which advances atomically (operator).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/hotp/code", tag = "otp", request_body(content = JustificationBody, content_type = "application/json"),
    responses((status = 200, body = HotpCodeOut), (status = 403, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody), (status = 423, body = super::ErrorBody)))]
#[post("/accounts/{id}/hotp/code")]
pub async fn hotp_code(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Option<web::Json<JustificationBody>>,
) -> Result<HttpResponse, ApiError> {
    let justification = justification(body)?;
    let code = core.reveal_hotp(&auth.0, &id, justification).await?;
    Ok(HttpResponse::Ok().json(HotpCodeOut {
        code: code.code.as_str().to_owned(),
        counter: code.counter,
    }))
}

/// Exports the HOTP seed with its live counter (security_admin, justification required).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/hotp/export", tag = "otp", request_body = JustificationBody,
    responses((status = 200, body = ExportOut), (status = 400, body = super::ErrorBody),
        (status = 403, body = super::ErrorBody), (status = 404, body = super::ErrorBody)))]
#[post("/accounts/{id}/hotp/export")]
pub async fn hotp_export(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Option<web::Json<JustificationBody>>,
) -> Result<HttpResponse, ApiError> {
    export(&core, &auth, &id, body, OtpKind::Hotp).await
}
