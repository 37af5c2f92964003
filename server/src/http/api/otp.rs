//! TOTP and HOTP: store a seed, reveal a code, export the seed.

use crate::authz::Action;
use crate::domain::{
    Base32Secret, HashAlgorithm, Invalid, Justification, OtpKind, OtpParams, Otpauth,
};
use crate::http::extract::{OptionalJson, UploadJson};
use crate::http::{ApiError, Authenticated};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::otp::{
    ExportOut, HotpCodeOut, JustificationBody, SetOtp, TotpCodeOut, VersionOut,
};
use keyward_proto::Sensitive;
use secrecy::ExposeSecret;

/// A stored version, with no warning.
pub(crate) fn version_out(version: i32) -> VersionOut {
    VersionOut {
        version,
        warnings: Vec::new(),
    }
}

/// `short_seed` when the seed is under 128 bits.
fn seed_warnings(otp: &Otpauth) -> Vec<&'static str> {
    if crate::services::otp::is_short_seed(otp) {
        vec!["short_seed"]
    } else {
        Vec::new()
    }
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
        Invalid::required(
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
    body: OptionalJson<JustificationBody>,
) -> Result<Option<Justification>, ApiError> {
    let body = body.into_inner()?;
    Ok(Justification::parse_optional(
        body.as_ref().and_then(|b| b.justification.as_deref()),
    )?)
}

pub(super) fn required_justification(
    body: OptionalJson<JustificationBody>,
) -> Result<Justification, ApiError> {
    justification(body)?.ok_or_else(|| {
        Invalid::required("justification_required", "a justification is required").into()
    })
}

fn actions(kind: OtpKind) -> (Action, Action, Action) {
    match kind {
        OtpKind::Totp => (Action::TotpSet, Action::TotpReveal, Action::TotpExport),
        OtpKind::Hotp => (Action::HotpSet, Action::HotpReveal, Action::HotpExport),
    }
}

async fn set(
    core: &Core,
    auth: &Authenticated,
    id: &str,
    body: UploadJson<SetOtp>,
    kind: OtpKind,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, id, actions(kind).0).await?;
    let mut body = body.into_inner()?;
    if let Some(image) = body.qr_image.take() {
        if body.otpauth_uri.is_some() || body.secret.is_some() {
            return Err(
                Invalid::new("one_source", "send one of qr_image, otpauth_uri and secret").into(),
            );
        }
        let bytes = data_encoding::BASE64
            .decode(image.expose_secret().trim().as_bytes())
            .map_err(|_| Invalid::new("invalid_image", "qr_image is not base64"))?;
        let otp = web::block(move || crate::importers::qr::otpauth_from_image(&bytes))
            .await
            // The reader stopped (it panicked on this image): the image's fault.
            .map_err(|_| Invalid::new("not_an_image", "the image could not be read"))??;
        if otp.params.kind() != kind {
            return Err(Invalid::new(
                "wrong_otp_kind",
                format!(
                    "this endpoint takes an otpauth://{}/ QR code",
                    kind.as_str()
                ),
            )
            .into());
        }
        let warnings = seed_warnings(&otp);
        let version = core.set_otp(&auth.0, &allowed, otp).await?;
        return Ok(HttpResponse::Created().json(VersionOut {
            version,
            warnings: warnings.into_iter().map(str::to_owned).collect(),
        }));
    }
    let otp = parse_otp(body, kind)?;
    let warnings = seed_warnings(&otp);
    let version = core.set_otp(&auth.0, &allowed, otp).await?;
    Ok(HttpResponse::Created().json(VersionOut {
        version,
        warnings: warnings.into_iter().map(str::to_owned).collect(),
    }))
}

/// Stores a new TOTP seed version (manager).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/totp", tag = "otp", params(keyward_proto::wire::AccountId), request_body = SetOtp,
    responses((status = 201, body = VersionOut)))]
pub async fn put_totp(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: UploadJson<SetOtp>,
) -> Result<HttpResponse, ApiError> {
    set(&core, &auth, &id, body, OtpKind::Totp).await
}

/// The current TOTP code (operator). The justification is optional.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/totp/code", tag = "otp", params(keyward_proto::wire::AccountId),
    request_body(content = Option<JustificationBody>, content_type = "application/json"),
    responses((status = 200, body = TotpCodeOut)))]
pub async fn totp_code(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::TotpReveal).await?;
    let justification = justification(body)?;
    let code = core.reveal_totp(&auth.0, &allowed, justification).await?;
    Ok(HttpResponse::Ok().json(TotpCodeOut {
        code: Sensitive::new(code.code.as_str()),
        digits: code.digits,
        period: code.period,
        expires_in: code.expires_in,
        next_code: code.next_code.as_ref().map(|c| Sensitive::new(c.as_str())),
    }))
}

async fn export(
    core: &Core,
    auth: &Authenticated,
    id: &str,
    body: OptionalJson<JustificationBody>,
    kind: OtpKind,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, id, actions(kind).2).await?;
    let justification = required_justification(body)?;
    let uri = core
        .export_otp(&auth.0, &allowed, kind, justification)
        .await?;
    Ok(HttpResponse::Ok().json(ExportOut {
        otpauth_uri: Sensitive::new(uri.as_str()),
    }))
}

/// Exports the TOTP seed as an otpauth URI (security_admin, justification required).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/totp/export", tag = "otp", params(keyward_proto::wire::AccountId),
    request_body = JustificationBody, responses((status = 200, body = ExportOut)))]
pub async fn totp_export(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    export(&core, &auth, &id, body, OtpKind::Totp).await
}

/// Stores a new HOTP seed version (manager).
#[utoipa::path(put, path = "/api/v1/accounts/{id}/hotp", tag = "otp", params(keyward_proto::wire::AccountId), request_body = SetOtp,
    responses((status = 201, body = VersionOut)))]
pub async fn put_hotp(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: UploadJson<SetOtp>,
) -> Result<HttpResponse, ApiError> {
    set(&core, &auth, &id, body, OtpKind::Hotp).await
}

/// The HOTP code for the stored counter, which advances atomically (operator).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/hotp/code", tag = "otp", params(keyward_proto::wire::AccountId),
    request_body(content = Option<JustificationBody>, content_type = "application/json"),
    responses((status = 200, body = HotpCodeOut)))]
pub async fn hotp_code(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::HotpReveal).await?;
    let justification = justification(body)?;
    let code = core.reveal_hotp(&auth.0, &allowed, justification).await?;
    Ok(HttpResponse::Ok().json(HotpCodeOut {
        code: Sensitive::new(code.code.as_str()),
        counter: code.counter,
    }))
}

/// Exports the HOTP seed with its live counter (security_admin, justification required).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/hotp/export", tag = "otp", params(keyward_proto::wire::AccountId),
    request_body = JustificationBody, responses((status = 200, body = ExportOut)))]
pub async fn hotp_export(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    export(&core, &auth, &id, body, OtpKind::Hotp).await
}
