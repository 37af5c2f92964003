//! Backup codes: import a generation, list its states, check one out, report the outcome,
//! verify a typed code.

use super::otp::required_justification;
use crate::authz::Action;
use crate::domain::{CodeList, Invalid, TypedCode};
use crate::http::extract::{Json, OptionalJson};
use crate::http::{ApiError, Authenticated};
use crate::services::backup::{CodeOutcome, FailedAttempts};
use crate::services::Core;
use actix_web::{web, HttpResponse};
use keyward_proto::backup::{
    CheckedOutOut, CodePosition, CodeStateOut, FailedAttemptsOut, GenerationOut, ImportCodes,
    ImportedOut, ResultIn, ResultOut, VerifyIn, VerifyOut,
};
use keyward_proto::otp::JustificationBody;
use keyward_proto::Sensitive;
use secrecy::ExposeSecret;

impl From<FailedAttempts> for FailedAttemptsOut {
    fn from(f: FailedAttempts) -> Self {
        Self {
            count: f.count,
            budget: f.budget,
            window_minutes: f.window_minutes,
        }
    }
}

fn strings(list: &[&'static str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_codes(body: &ImportCodes) -> Result<CodeList, Invalid> {
    match (&body.codes, &body.block) {
        (Some(codes), None) => {
            let texts: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            CodeList::parse(&texts)
        }
        (None, Some(block)) => CodeList::parse_block(block.expose_secret()),
        _ => Err(Invalid::required(
            "missing_field",
            "send either codes (a list) or block (the text copied from the platform)",
        )),
    }
}

fn parse_date(raw: &str) -> Result<chrono::NaiveDate, Invalid> {
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| {
        Invalid::new(
            "invalid_issued_on",
            "issued_on must be a date like 2025-12-16",
        )
    })
}

/// Imports a generation of backup codes in order; the previous generation is superseded (manager).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/backup-codes", tag = "backup-codes", params(keyward_proto::wire::AccountId),
    request_body = ImportCodes, responses((status = 201, body = ImportedOut)))]
pub async fn import(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<ImportCodes>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::BackupImport).await?;
    let body = body.into_inner()?;
    let codes = parse_codes(&body)?;
    let issued_on = parse_date(&body.issued_on)?;
    let imported = core
        .import_backup_codes(&auth.0, &allowed, codes, issued_on)
        .await?;
    Ok(HttpResponse::Created().json(ImportedOut {
        generation: imported.generation,
        total: imported.total,
        issued_on: imported.issued_on.to_string(),
        superseded: imported.superseded,
    }))
}

/// The current generation: each position's state, never a value (operator, manager, auditor…).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/backup-codes", tag = "backup-codes", params(keyward_proto::wire::AccountId),
    responses((status = 200, body = GenerationOut)))]
pub async fn status(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let status = core.backup_status(&auth.0, &id).await?;
    Ok(HttpResponse::Ok().json(GenerationOut {
        generation: status.generation.generation,
        issued_on: status.generation.issued_on.to_string(),
        total: status.generation.total,
        remaining: status.remaining,
        codes: status
            .codes
            .iter()
            .map(|c| CodeStateOut {
                position: c.position,
                state: c.state.clone(),
                by: c.state_by.clone(),
                at: c.state_at.map(rfc3339),
            })
            .collect(),
        failed_attempts: status.failed.into(),
        warnings: strings(&status.warnings),
    }))
}

/// Hands out the lowest unused code of the current generation, once (operator; justification
/// required; rate-limited).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/backup-codes/checkout", tag = "backup-codes", params(keyward_proto::wire::AccountId),
    request_body = JustificationBody, responses((status = 200, body = CheckedOutOut)))]
pub async fn checkout(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: OptionalJson<JustificationBody>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::BackupCheckout).await?;
    let justification = required_justification(body)?;
    let out = core
        .check_out_backup_code(&auth.0, &allowed, justification)
        .await?;
    Ok(HttpResponse::Ok().json(CheckedOutOut {
        code: Sensitive::new(out.code.as_str()),
        position: out.position,
        generation: out.generation,
        remaining: out.remaining,
        warnings: strings(&out.warnings),
    }))
}

/// Reports whether a checked-out code worked or was rejected by the platform: the person who
/// holds it, or a manager with `"override": true` (audited as `backup.result_override`).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/backup-codes/{position}/result", tag = "backup-codes",
    params(CodePosition), request_body = ResultIn, responses((status = 200, body = ResultOut)))]
pub async fn result(
    core: web::Data<Core>,
    auth: Authenticated,
    path: web::Path<(String, String)>,
    body: Json<ResultIn>,
) -> Result<HttpResponse, ApiError> {
    let (id, position) = path.into_inner();
    let allowed = core.allow(&auth.0, &id, Action::BackupResult).await?;
    let position: i32 = position
        .parse()
        .ok()
        .filter(|p| (1..=crate::domain::backup::MAX_CODES as i32).contains(p))
        .ok_or_else(|| Invalid::new("invalid_position", "position is a number from 1"))?;
    let body = body.into_inner()?;
    let outcome = CodeOutcome::parse(&body.outcome)
        .ok_or_else(|| Invalid::new("invalid_outcome", "outcome is worked or rejected"))?;
    let out = core
        .report_backup_code(
            &auth.0,
            &allowed,
            position,
            body.generation,
            outcome,
            body.override_holder,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ResultOut {
        position: out.position,
        generation: out.generation,
        state: out.state.to_owned(),
        remaining: out.remaining,
        failed_attempts: out.failed.into(),
        warnings: strings(&out.warnings),
    }))
}

/// Says what a typed code is, with hints, without revealing any other code (operator).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/backup-codes/verify", tag = "backup-codes", params(keyward_proto::wire::AccountId),
    request_body = VerifyIn, responses((status = 200, body = VerifyOut)))]
pub async fn verify(
    core: web::Data<Core>,
    auth: Authenticated,
    id: web::Path<String>,
    body: Json<VerifyIn>,
) -> Result<HttpResponse, ApiError> {
    let allowed = core.allow(&auth.0, &id, Action::BackupVerify).await?;
    let typed = TypedCode::parse(body.into_inner()?.code.expose_secret())?;
    let v = core.verify_backup_code(&auth.0, &allowed, typed).await?;
    Ok(HttpResponse::Ok().json(VerifyOut {
        status: v.status.to_owned(),
        generation: v.generation,
        position: v.position,
        exact: v.exact,
        hints: v.hints.iter().map(|h| h.as_str().to_owned()).collect(),
    }))
}
