//! Imports: a preview of what an export holds and what Keyward proposes for each seed (never a
//! secret), then the import as decided, in one transaction.

use crate::authz::Action;
use crate::domain::{Handle, Platform, TeamSlug};
use crate::http::extract::UploadJson;
use crate::http::hangup::Watch;
use crate::http::{ApiError, Authenticated};
use crate::importers::ImportFormat;
use crate::services::imports::{Decision, Export, ImportAction, PreviewEntry};
use crate::services::Core;
use actix_web::{web, HttpRequest, HttpResponse};
use keyward_proto::imports::{
    AppliedEntryOut, ImportBody, ImportOut, PreviewBody, PreviewEntryOut, PreviewOut, ProposalOut,
};
use secrecy::ExposeSecret;

impl From<PreviewEntry> for PreviewEntryOut {
    fn from(e: PreviewEntry) -> Self {
        Self {
            index: e.index,
            issuer: e.issuer,
            label: e.label,
            kind: e.kind.as_str().to_owned(),
            algorithm: e.algorithm.to_owned(),
            digits: e.digits,
            period: e.period,
            proposal: ProposalOut {
                action: e.proposal.action.as_str().to_owned(),
                account: e.proposal.account,
                platform: e.proposal.platform,
                handle: e.proposal.handle,
                reason: e.proposal.reason.map(str::to_owned),
            },
        }
    }
}

/// Reads an export and proposes, per seed, to attach it to an account you may store seeds
/// on, create the account, or skip it. Nothing is stored; no secret is in the answer.
#[utoipa::path(post, path = "/api/v1/imports/preview", tag = "imports", request_body = PreviewBody,
    responses((status = 200, body = PreviewOut),
    (status = 422, description = "`invalid_import`, `invalid_format`, `password_required`, `wrong_password`, `too_many_slots`, `unsupported_image`, `not_an_image`, `no_qr_code`, `too_many_images`, `too_many_pixels`", body = keyward_proto::wire::ErrorBody),
    (status = 429, description = "`import_rate_limited`: `limits.imports_per_hour` reached; `imports_busy`: other import work held the turn for 30 s", body = keyward_proto::wire::ErrorBody)))]
pub async fn preview(
    req: HttpRequest,
    core: web::Data<Core>,
    auth: Authenticated,
    body: UploadJson<PreviewBody>,
) -> Result<HttpResponse, ApiError> {
    core.authorize_somewhere(&auth.0, Action::TotpSet).await?;
    let body = body.into_inner()?;
    let format = ImportFormat::parse(&body.format)?;
    let watch = Watch::start(&req);
    let data = core
        .read_import(&auth.0, format, body.data.expose_secret(), watch.gone())
        .await?;
    let password = body.password.map(|p| p.expose_secret().to_owned());
    let export = Export::new(format, data, password);
    let entries = core.preview_import(&auth.0, export, watch.gone()).await?;
    Ok(HttpResponse::Ok().json(PreviewOut {
        entries: entries.into_iter().map(Into::into).collect(),
    }))
}

/// Imports the seeds as decided, all in one transaction (`import.apply`, and one
/// `totp.set`/`hotp.set` per stored seed). A seed already stored on its account is skipped.
#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", request_body = ImportBody,
    responses((status = 200, body = ImportOut),
    (status = 404, description = "an account to attach to does not exist", body = keyward_proto::wire::ErrorBody),
    (status = 409, description = "`account_exists`: an account to create exists already", body = keyward_proto::wire::ErrorBody),
    (status = 422, description = "a bad import or decision", body = keyward_proto::wire::ErrorBody),
    (status = 429, description = "`import_rate_limited`: `limits.imports_per_hour` reached; `imports_busy`: other import work held the turn for 30 s", body = keyward_proto::wire::ErrorBody)))]
pub async fn apply(
    req: HttpRequest,
    core: web::Data<Core>,
    auth: Authenticated,
    body: UploadJson<ImportBody>,
) -> Result<HttpResponse, ApiError> {
    core.authorize_somewhere(&auth.0, Action::TotpSet).await?;
    let body = body.into_inner()?;
    let format = ImportFormat::parse(&body.format)?;
    let team = TeamSlug::parse(&body.team)?;
    let mut decisions = Vec::with_capacity(body.entries.len());
    for e in &body.entries {
        decisions.push(Decision {
            index: e.index,
            action: ImportAction::parse(&e.action)?,
            account: e.account.as_deref().map(|a| a.trim().to_owned()),
            platform: e.platform.as_deref().map(Platform::parse).transpose()?,
            handle: e.handle.as_deref().map(Handle::parse).transpose()?,
        });
    }
    let watch = Watch::start(&req);
    let data = core
        .read_import(&auth.0, format, body.data.expose_secret(), watch.gone())
        .await?;
    let password = body.password.map(|p| p.expose_secret().to_owned());
    let applied = core
        .apply_import(
            &auth.0,
            &team,
            Export::new(format, data, password),
            decisions,
            watch.gone(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ImportOut {
        stored: applied.stored,
        created: applied.created,
        skipped: applied.skipped,
        results: applied
            .results
            .into_iter()
            .map(|r| AppliedEntryOut {
                index: r.index,
                account: r.account,
                action: r.action.to_owned(),
                version: r.version,
            })
            .collect(),
    }))
}
