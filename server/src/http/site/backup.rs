//! The account page's backup-code section: the current generation's positions, check-out
//! with the code shown once, outcome buttons, verify with hints, and the import form.

use super::i18n::Texts;
use super::pages::{form_caller, recoverable, show_once, Extras};
use crate::authz::Action;
use crate::domain::{CodeList, Hint, Justification, TypedCode};
use crate::http::MaybeSession;
use crate::services::accounts::AccountView;
use crate::services::backup::{warning, CodeOutcome, Verification};
use crate::services::{Caller, Core, ServiceError};
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A code just checked out, shown once.
#[derive(Serialize, Deserialize)]
pub struct ShownCode {
    pub code: Zeroizing<String>,
    pub position: i32,
    pub generation: i32,
}

/// What a typed code turned out to be (states and hints; never a code).
#[derive(Serialize, Deserialize)]
pub struct Verified {
    /// The code as it was typed, repeated beside its answer.
    #[serde(default)]
    pub typed: Zeroizing<String>,
    pub status: String,
    pub generation: Option<i32>,
    pub position: Option<i32>,
    pub hints: Vec<Hint>,
}

impl From<Verification> for Verified {
    fn from(v: Verification) -> Self {
        Self {
            typed: Zeroizing::default(),
            status: v.status.to_owned(),
            generation: v.generation,
            position: v.position,
            hints: v.hints,
        }
    }
}

/// What a backup-code form produced, for the page its redirect leads to.
#[derive(Default, Serialize, Deserialize)]
pub struct BackupExtras {
    pub checked_out: Option<ShownCode>,
    pub verified: Option<Verified>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// An import that was refused: its message beside the import form.
    #[serde(default)]
    pub import_error: Option<String>,
}

/// A checked-out code someone else holds, for a manager's override.
pub struct HeldByOther {
    pub position: i32,
    pub holder: String,
    /// When it was checked out.
    pub at: String,
}

/// A code the caller holds, waiting for its outcome.
pub struct Pending {
    pub position: i32,
    pub at: String,
}

/// One position of the generation as a chip.
pub struct Chip {
    pub position: i32,
    pub state: String,
    pub label: &'static str,
    /// Who took or reported it, and when (empty for an unused code).
    pub by: String,
}

pub struct VerifiedView {
    pub typed: String,
    pub status: &'static str,
    pub text: &'static str,
    pub generation: Option<i32>,
    pub position: Option<i32>,
    pub hints: Vec<(&'static str, &'static str)>,
}

/// Everything the section shows.
pub struct BackupPanel {
    pub can_use: bool,
    pub can_import: bool,
    pub generation: Option<i32>,
    pub issued_on: String,
    pub total: i32,
    pub remaining: u64,
    pub chips: Vec<Chip>,
    /// Checked-out codes the caller holds (only the holder reports an outcome)…
    pub pending: Vec<Pending>,
    /// …and, for a manager, those others hold (reported as an override).
    pub held_by_others: Vec<HeldByOther>,
    pub low: bool,
    pub failing: bool,
    pub checked_out: Option<ShownCode>,
    pub verified: Option<VerifiedView>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub import_error: Option<String>,
    pub today: String,
}

fn state_label(t: &Texts, state: &str) -> &'static str {
    match state {
        "unused" => t.b.state_unused,
        "checked_out" => t.b.state_checked_out,
        "used" => t.b.state_used,
        _ => t.b.state_rejected,
    }
}

fn verified_view(t: &Texts, v: Verified) -> VerifiedView {
    let text = match v.status.as_str() {
        "unused" => t.b.status_unused,
        "checked_out" => t.b.status_checked_out,
        "used" => t.b.status_used,
        "rejected" => t.b.status_rejected,
        "superseded" => t.b.status_superseded,
        _ => t.b.status_unknown,
    };
    let hints = v
        .hints
        .iter()
        .map(|h| {
            let text = match h {
                Hint::Whitespace => t.b.hint_whitespace,
                Hint::Hyphen => t.b.hint_hyphen,
                Hint::Lowercase => t.b.hint_lowercase,
                Hint::AmbiguousCharacters => t.b.hint_ambiguous,
            };
            (h.as_str(), text)
        })
        .collect();
    let status = match v.status.as_str() {
        "unused" => "unused",
        "checked_out" => "checked_out",
        "used" => "used",
        "rejected" => "rejected",
        "superseded" => "superseded",
        _ => "unknown",
    };
    VerifiedView {
        typed: v.typed.as_str().trim().to_owned(),
        status,
        text,
        generation: v.generation,
        position: v.position,
        hints,
    }
}

/// The section for `view`, or nothing when the caller may not read backup codes at all.
pub async fn panel(
    core: &Core,
    caller: &Caller,
    view: &AccountView,
    t: &'static Texts,
    extras: BackupExtras,
) -> Option<BackupPanel> {
    let can_read = core.may(caller, &view.team, Action::BackupRead).await;
    let can_use = core.may(caller, &view.team, Action::BackupCheckout).await;
    let can_import = core.may(caller, &view.team, Action::BackupImport).await;
    if !(can_read || can_use || can_import) {
        return None;
    }
    let mut panel = BackupPanel {
        can_use,
        can_import,
        generation: None,
        issued_on: String::new(),
        total: 0,
        remaining: 0,
        chips: Vec::new(),
        pending: Vec::new(),
        held_by_others: Vec::new(),
        low: view.warnings.contains(&warning::LOW_CODES),
        failing: view.warnings.contains(&warning::FAILED_ATTEMPTS),
        checked_out: extras.checked_out,
        verified: extras.verified.map(|v| verified_view(t, v)),
        notice: extras.notice,
        error: extras.error,
        import_error: extras.import_error,
        today: chrono::Utc::now().date_naive().to_string(),
    };
    if can_read {
        if let Ok(status) = core.backup_status(caller, &view.account.id).await {
            panel.generation = Some(status.generation.generation);
            panel.issued_on = status.generation.issued_on.to_string();
            panel.total = status.generation.total;
            panel.remaining = status.remaining;
            panel.low = status.warnings.contains(&warning::LOW_CODES);
            panel.failing = status.warnings.contains(&warning::FAILED_ATTEMPTS);
            let me = caller.principal.subject();
            let may_override = core
                .may(caller, &view.team, Action::BackupResultOverride)
                .await;
            let when = |c: &crate::store::backup::CodeRow| {
                c.state_at.map(super::rotation::when).unwrap_or_default()
            };
            for code in status.codes.iter().filter(|c| c.state == "checked_out") {
                match code.state_by.as_deref() {
                    Some(holder) if holder == me => panel.pending.push(Pending {
                        position: code.position,
                        at: when(code),
                    }),
                    Some(holder) if may_override => panel.held_by_others.push(HeldByOther {
                        position: code.position,
                        holder: core.display_name(holder).await,
                        at: when(code),
                    }),
                    _ => {}
                }
            }
            let mut chips = Vec::with_capacity(status.codes.len());
            for c in status.codes {
                let by = match c.state_by.as_deref() {
                    Some(who) => format!("{}, {}", core.display_name(who).await, when(&c)),
                    None => String::new(),
                };
                chips.push(Chip {
                    position: c.position,
                    label: state_label(t, &c.state),
                    state: c.state,
                    by,
                });
            }
            panel.chips = chips;
        }
    } else if let Some(summary) = view.backup() {
        panel.generation = Some(summary.generation);
        panel.issued_on = summary.issued_on.to_string();
        panel.total = summary.total;
        panel.remaining = u64::try_from(summary.remaining).unwrap_or(0);
    }
    Some(panel)
}

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
    params(crate::http::api::AccountId),
    request_body(content = CheckoutForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/backup/checkout")]
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
    params(crate::http::api::backup::CodePosition),
    request_body(content = ResultForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/backup/{position}/result")]
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
    params(crate::http::api::AccountId),
    request_body(content = VerifyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/backup/verify")]
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
    params(crate::http::api::AccountId),
    request_body(content = ImportForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/backup/import")]
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
            if let Some(hint) = super::lifecycle::PlatformHelp::of(&platform, t)
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
