//! The account page's backup-code section: the current generation's positions, check-out
//! with the code shown once, outcome buttons, verify with hints, and the import form.

use super::account::{show_once, Extras};
use super::kit::{form_caller, recoverable};
use super::panels::backup::{BackupExtras, ShownCode, Verified};
use crate::authz::Action;
use crate::domain::{CodeList, Justification, TypedCode};
use crate::http::MaybeSession;
use crate::services::backup::CodeOutcome;
use crate::services::{Caller, Core, ServiceError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// Answers a backup-code form: its result shown once on the account page (see `show_once`).
async fn answer(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    backup: BackupExtras,
) -> HttpResponse {
    let extras = Extras {
        backup,
        ..Extras::default()
    };
    show_once(req, core, caller, id, extras, "backup").await
}

/// Shows a failed action's message in the section, or its own response (step-up, error page).
async fn failed(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    err: ServiceError,
) -> HttpResponse {
    match recoverable(req, core, caller, err, &format!("/accounts/{id}")) {
        Ok(message) => {
            let extras = BackupExtras {
                error: Some(message),
                ..BackupExtras::default()
            };
            answer(req, core, caller, id, extras).await
        }
        Err(response) => response,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CheckoutForm {
    #[serde(default)]
    justification: String,
    #[serde(default)]
    csrf: String,
}

/// Checks out the next backup code; the answer redirects to the account page, which shows it once.
#[utoipa::path(post, path = "/accounts/{id}/backup/checkout", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = CheckoutForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn checkout(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CheckoutForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/accounts/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::BackupCheckout).await {
        Ok(allowed) => allowed,
        Err(err) => return failed(&req, &core, &caller, &id, err).await,
    };
    let result = match Justification::parse(&form.justification) {
        Ok(justification) => {
            core.check_out_backup_code(&caller, &allowed, justification)
                .await
        }
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(out) => {
            let extras = BackupExtras {
                checked_out: Some(ShownCode {
                    code: out.code,
                    position: out.position,
                    generation: out.generation,
                }),
                ..BackupExtras::default()
            };
            answer(&req, &core, &caller, &id, extras).await
        }
        Err(err) => failed(&req, &core, &caller, &id, err).await,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ResultForm {
    #[serde(default)]
    outcome: String,
    generation: Option<i32>,
    /// A manager reporting a code someone else holds.
    #[serde(default, rename = "override")]
    override_holder: bool,
    #[serde(default)]
    csrf: String,
}

/// Reports a checked-out code's outcome (the holder, or a manager with override).
#[utoipa::path(post, path = "/accounts/{id}/backup/{position}/result", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::backup::CodePosition),
    request_body(content = ResultForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn report(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    path: web::Path<(String, i32)>,
    form: web::Form<ResultForm>,
) -> HttpResponse {
    let (id, position) = path.into_inner();
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/accounts/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::BackupResult).await {
        Ok(allowed) => allowed,
        Err(err) => return failed(&req, &core, &caller, &id, err).await,
    };
    let Some(outcome) = CodeOutcome::parse(&form.outcome) else {
        let err = crate::domain::Invalid::new("invalid_outcome", "outcome is worked or rejected");
        return failed(&req, &core, &caller, &id, err.into()).await;
    };
    let t = super::Chrome::new(&req, &core, Some(&caller)).t;
    match core
        .report_backup_code(
            &caller,
            &allowed,
            position,
            form.generation,
            outcome,
            form.override_holder,
        )
        .await
    {
        Ok(_) => {
            let notice = match outcome {
                CodeOutcome::Worked => t.b.reported_worked,
                CodeOutcome::Rejected => t.b.reported_rejected,
            };
            let extras = BackupExtras {
                notice: Some(notice.to_owned()),
                ..BackupExtras::default()
            };
            answer(&req, &core, &caller, &id, extras).await
        }
        Err(err) => failed(&req, &core, &caller, &id, err).await,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyForm {
    #[serde(default)]
    #[schema(value_type = String)]
    code: Zeroizing<String>,
    #[serde(default)]
    csrf: String,
}

/// Says what a typed backup code is; the answer redirects to the account page with the result.
#[utoipa::path(post, path = "/accounts/{id}/backup/verify", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = VerifyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn verify(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<VerifyForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/accounts/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::BackupVerify).await {
        Ok(allowed) => allowed,
        Err(err) => return failed(&req, &core, &caller, &id, err).await,
    };
    let result = match TypedCode::parse(&form.code) {
        Ok(typed) => core.verify_backup_code(&caller, &allowed, typed).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(verification) => {
            let mut verified = Verified::from(verification);
            verified.typed = Zeroizing::new(form.code.chars().take(80).collect());
            let extras = BackupExtras {
                verified: Some(verified),
                ..BackupExtras::default()
            };
            answer(&req, &core, &caller, &id, extras).await
        }
        Err(err) => failed(&req, &core, &caller, &id, err).await,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct ImportForm {
    #[serde(default)]
    #[schema(value_type = String)]
    block: Zeroizing<String>,
    #[serde(default)]
    issued_on: String,
    #[serde(default)]
    csrf: String,
}

/// Imports a pasted generation of backup codes (manager).
#[utoipa::path(post, path = "/accounts/{id}/backup/import", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId),
    request_body(content = ImportForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn import(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<ImportForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/accounts/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::BackupImport).await {
        Ok(allowed) => allowed,
        Err(err) => return failed(&req, &core, &caller, &id, err).await,
    };
    let parsed = CodeList::parse_block(&form.block).and_then(|codes| {
        chrono::NaiveDate::parse_from_str(form.issued_on.trim(), "%Y-%m-%d")
            .map(|date| (codes, date))
            .map_err(|_| {
                crate::domain::Invalid::new(
                    "invalid_issued_on",
                    "give the issue date as YYYY-MM-DD",
                )
            })
    });
    let platform = allowed.account.platform.clone();
    let result = match parsed {
        Ok((codes, issued_on)) => {
            core.import_backup_codes(&caller, &allowed, codes, issued_on)
                .await
        }
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(imported) => {
            let t = super::Chrome::new(&req, &core, Some(&caller)).t;
            let mut notice =
                t.b.imported_notice
                    .replace("{generation}", &imported.generation.to_string())
                    .replace("{total}", &imported.total.to_string());
            // Not the platform's usual count: a hint (platforms change), never a refusal.
            if let Some(hint) = super::panels::lifecycle::PlatformHelp::of(&platform, t)
                .and_then(|help| help.count_hint(t, imported.total))
            {
                notice = format!("{notice} {hint}");
            }
            let extras = BackupExtras {
                notice: Some(notice),
                ..BackupExtras::default()
            };
            answer(&req, &core, &caller, &id, extras).await
        }
        Err(err) => {
            let t = super::Chrome::new(&req, &core, Some(&caller)).t;
            let message = match err {
                // Said as the form says it, not as the API does.
                ServiceError::Invalid(invalid) if invalid.code == "no_codes" => {
                    t.b.import_empty.to_owned()
                }
                other => match recoverable(&req, &core, &caller, other, &format!("/accounts/{id}"))
                {
                    Ok(message) => message,
                    Err(response) => return response,
                },
            };
            let extras = BackupExtras {
                import_error: Some(message),
                ..BackupExtras::default()
            };
            answer(&req, &core, &caller, &id, extras).await
        }
    }
}
