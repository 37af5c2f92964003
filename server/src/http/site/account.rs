//! An account's page: its card, the TOTP reveal, each wing's panel, and a form's result shown once
//! (the form's redirect leads here; a reload shows it no more).

use super::kit::service_failure;
use super::{render, see_other, to_signin, Chrome};
use crate::authz::{Action, ORG_WIDE};
use crate::http::MaybeSession;
use crate::services::accounts::AccountView;
use crate::services::otp::TotpCode;
use crate::services::{Caller, Core};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use zeroize::Zeroizing;

/// An account as a page shows it.
pub struct AccountCard {
    pub id: String,
    pub platform: String,
    pub handle: String,
    pub team: String,
    pub status: String,
    pub status_label: &'static str,
    pub login_url: Option<String>,
    pub notes: String,
    pub has_totp: bool,
    pub has_hotp: bool,
    /// Open rotation tasks, and how many are overdue.
    pub open_tasks: i64,
    pub overdue_tasks: i64,
    /// `Rotate by …` for the earliest deadline.
    pub rotate_by: String,
}

impl AccountCard {
    pub(super) fn from_view(view: &AccountView, t: &super::i18n::Texts) -> Self {
        let a = &view.account;
        Self {
            id: a.id.clone(),
            platform: a.platform.clone(),
            handle: a.handle.clone(),
            team: view.team.clone(),
            status: a.status.clone(),
            status_label: match a.status.as_str() {
                "frozen" => t.status_frozen,
                "archived" => t.status_archived,
                _ => t.status_active,
            },
            login_url: a.login_url.clone(),
            notes: a.notes.clone(),
            has_totp: view.has("totp"),
            has_hotp: view.has("hotp"),
            open_tasks: view.facts.open_rotation_tasks,
            overdue_tasks: view.facts.overdue_rotation_tasks,
            rotate_by: view
                .facts
                .rotate_by
                .map(|due| t.r.rotate_by.replace("{due}", &super::kit::when(due)))
                .unwrap_or_default(),
        }
    }
}

/// A code shown once on the account page.
pub(crate) struct Revealed {
    code: String,
    grouped: String,
    expires_in: u64,
    period: u64,
    next_code: Option<String>,
}

/// A revealed TOTP code as kept for the page its form redirects to.
#[derive(Serialize, Deserialize)]
pub struct ShownTotp {
    code: Zeroizing<String>,
    period: u64,
    /// Unix time when the code stops being valid.
    expires_at: i64,
    next_code: Option<Zeroizing<String>>,
}

impl ShownTotp {
    pub(crate) fn from_code(code: TotpCode) -> Self {
        Self {
            expires_at: chrono::Utc::now().timestamp() + code.expires_in as i64,
            code: code.code,
            period: code.period,
            next_code: code.next_code,
        }
    }

    /// For enrollment: the next code is always shown beside the current one.
    pub(crate) fn for_enrollment(code: TotpCode) -> Self {
        let following = code.following_code.clone();
        let mut shown = Self::from_code(code);
        shown.next_code = Some(following);
        shown
    }
}

/// What a form produced: a code shown once, a result, an error. Kept (sealed) for the one
/// view of the page the form's redirect leads to.
#[derive(Default, Serialize, Deserialize)]
pub struct Extras {
    pub totp: Option<ShownTotp>,
    pub totp_error: Option<String>,
    pub backup: super::panels::backup::BackupExtras,
    #[serde(default)]
    pub store: super::panels::rotation::StoreExtras,
    #[serde(default)]
    pub password: Option<super::panels::lifecycle::ShownPassword>,
    #[serde(default)]
    pub password_error: Option<String>,
    /// Why asking for access (or setting the policy) failed.
    #[serde(default)]
    pub access_error: Option<String>,
    /// The failure was the policy form's.
    #[serde(default)]
    pub store_anchor_policy: bool,
    /// The policy form's result.
    #[serde(default)]
    pub policy_notice: Option<String>,
    /// The reason the last reveal was asked with, for the reveal form shown with its code.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage {
    c: Chrome,
    a: AccountCard,
    can_reveal: bool,
    needs_reauth: bool,
    revealed: Option<Revealed>,
    error: Option<String>,
    b: Option<super::panels::backup::BackupPanel>,
    can_audit: bool,
    /// The page was asked for a form's result that is gone (already shown, or expired).
    shown_once: bool,
    /// Open rotation tasks of this account.
    tasks: Vec<super::panels::rotation::TaskCard>,
    can_store_seed: bool,
    can_store_password: bool,
    can_import: bool,
    /// A backup-code rotation is due: the import form is open.
    import_due: bool,
    store: super::panels::rotation::StoreExtras,
    /// The account's open incidents, and the runbooks to start one with.
    incident_rows: Vec<super::incidents::IncidentLine>,
    can_start_incident: bool,
    runbooks: Vec<super::incidents::RunbookChoice>,
    /// The life cycle: details, status, archive, the password.
    can_edit: bool,
    can_archive: bool,
    can_reveal_password: bool,
    has_password: bool,
    password: Option<String>,
    password_error: Option<String>,
    /// The platform catalog's help, and the sign-in page (the account's own, else the
    /// platform's).
    help: Option<super::panels::lifecycle::PlatformHelp>,
    sign_in_url: Option<String>,
    /// Under `approval`: the caller's grant, their waiting request, or the form to ask.
    access: Option<super::panels::access::AccessPanel>,
    /// The account's policy, for the select of the details form.
    access_policy: &'static str,
    /// Under `approval` without a live grant: the reveal forms give way to the access card.
    held_back: bool,
    /// Where the policy form goes: `access-policy` (a security admin, either way), `edit` (a
    /// manager, who may only tighten it), or nowhere.
    policy_form: &'static str,
    policy_error: Option<String>,
    policy_notice: Option<String>,
    /// The reveal form's reason, as typed for the code shown (empty otherwise).
    reason: String,
    /// No secret stored yet: the store card speaks of an enrollment and comes right after
    /// the code card.
    first_enrollment: bool,
    /// The store card comes right after the code card (a first enrollment, or a seed just
    /// stored, whose code is shown beside the confirmation).
    store_early: bool,
}

pub(crate) fn group(code: &str) -> String {
    let mid = code.len() / 2;
    format!("{} {}", &code[..mid], &code[mid..])
}

pub async fn account_page(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    extras: Option<Extras>,
) -> HttpResponse {
    let shown_once = extras.is_none();
    let extras = extras.unwrap_or_default();
    let c = Chrome::for_page(req, core, caller).await;
    let view = match core.get_account(caller, id).await {
        Ok(view) => view,
        Err(err) => return service_failure(c, err),
    };
    let can_reveal = core.may(caller, &view.team, Action::TotpReveal).await;
    let needs_reauth = caller.session.as_ref().is_some_and(|s| !core.is_recent(s));
    let b = super::panels::backup::panel(core, caller, &view, c.t, extras.backup).await;
    let can_audit = core.may(caller, ORG_WIDE, Action::AuditRead).await;
    let now = chrono::Utc::now().timestamp();
    let revealed = extras.totp.map(|code| Revealed {
        grouped: group(&code.code),
        code: code.code.as_str().to_owned(),
        expires_in: u64::try_from(code.expires_at - now).unwrap_or(0),
        period: code.period,
        next_code: code.next_code.as_ref().map(|n| group(n)),
    });
    let a = AccountCard::from_view(&view, c.t);
    let tasks = super::panels::rotation::account_tasks(core, caller, c.t, &view.account.id).await;
    let usable = !view.account.is_archived();
    let can_store_seed = usable && core.may(caller, &view.team, Action::TotpSet).await;
    let can_store_password = usable && core.may(caller, &view.team, Action::PasswordSet).await;
    let can_import = usable && core.may(caller, &view.team, Action::BackupImport).await;
    // A due backup-code rotation, or a seed just enrolled: the platform's codes come next.
    let import_due = tasks
        .iter()
        .any(|t| t.kind == crate::domain::RotationKind::BackupCodes.as_str())
        || extras.store.enroll_note.is_some();
    let help = super::panels::lifecycle::PlatformHelp::of(&view.account.platform, c.t);
    let sign_in_url = view
        .account
        .login_url
        .clone()
        .or_else(|| help.as_ref().and_then(|h| h.login_url.clone()));
    let incident_rows = super::incidents::lines(
        core,
        caller,
        c.t,
        Some(crate::domain::IncidentState::Open),
        Some(&view.account.id),
    )
    .await;
    let can_start_incident = usable && core.may(caller, &view.team, Action::IncidentRun).await;
    let runbooks = super::incidents::runbook_choices(core, c.t);
    let can_edit = usable && core.may(caller, &view.team, Action::AccountUpdate).await;
    let can_archive = usable && core.may(caller, &view.team, Action::AccountArchive).await;
    let can_reveal_password = core.may(caller, &view.team, Action::PasswordReveal).await;
    let has_password = view.has("password");
    // A policy form's failure shows on the policy card; an ask's on the access card.
    let (policy_error, ask_error) = if extras.store_anchor_policy {
        (extras.access_error, None)
    } else {
        (None, extras.access_error)
    };
    let access = super::panels::access::panel(core, caller, &view, c.t, ask_error).await;
    let held_back = access.as_ref().is_some_and(|x| x.held_back);
    let policy_form = if usable && core.may(caller, &view.team, Action::AccessPolicy).await {
        "access-policy"
    } else if can_edit {
        "edit"
    } else {
        ""
    };
    let first_enrollment = !a.has_totp && !a.has_hotp && !has_password;
    let store_early = first_enrollment || extras.store.enroll_note.is_some();
    let access_policy = match (view.account.access.as_str(), view.account.approvers_needed) {
        ("open", _) => "open",
        (_, 2) => "approval2",
        _ => "approval",
    };
    render(
        StatusCode::OK,
        &AccountPage {
            c,
            a,
            can_reveal,
            needs_reauth,
            revealed,
            error: extras.totp_error,
            b,
            can_audit,
            shown_once,
            tasks,
            can_store_seed,
            can_store_password,
            can_import,
            import_due,
            store: extras.store,
            incident_rows,
            can_start_incident,
            runbooks,
            can_edit,
            can_archive,
            can_reveal_password,
            has_password,
            password: extras.password.map(|p| p.password.as_str().to_owned()),
            password_error: extras.password_error,
            help,
            sign_in_url,
            access,
            access_policy,
            held_back,
            policy_form,
            policy_error,
            policy_notice: extras.policy_notice,
            reason: extras.reason.unwrap_or_default(),
            first_enrollment,
            store_early,
        },
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// The token of a form's result, shown once.
    shown: Option<String>,
}

/// One account: TOTP reveal, backup codes, and a form's result shown once.
#[utoipa::path(get, path = "/accounts/{id}", tag = "dashboard", security(("session" = [])),
    params(keyward_proto::wire::AccountId, AccountQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
pub async fn account(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    query: web::Query<AccountQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin(&format!("/accounts/{id}"));
    };
    let extras = match (&query.shown, &caller.session) {
        (Some(token), Some(session)) => match core.take_page_result(session, token).await {
            Ok(Some(bytes)) => Some(serde_json::from_slice(&bytes).unwrap_or_default()),
            Ok(None) => None,
            Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
        },
        _ => Some(Extras::default()),
    };
    account_page(&req, &core, &caller, &id, extras).await
}

/// Answers a dashboard form: what it produced is kept for one view, and the browser is sent
/// (303) to the account page that shows it. Reloading that page shows it no more and repeats
/// nothing.
pub async fn show_once(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    id: &str,
    extras: Extras,
    anchor: &str,
) -> HttpResponse {
    let kept = match (&caller.session, serde_json::to_vec(&extras)) {
        (Some(session), Ok(bytes)) => {
            let bytes = Zeroizing::new(bytes);
            core.keep_page_result(session, &bytes).await
        }
        // Forms come only from signed-in browsers.
        _ => return to_signin(&format!("/accounts/{id}")),
    };
    match kept {
        Ok(token) => see_other(&format!("/accounts/{id}?shown={}#{anchor}", token.as_str())),
        // The action is done (a code may be checked out): show its result here rather than
        // lose it; only a reload of this answer could repeat the form.
        Err(err) => {
            tracing::warn!(error = %err, "page result not kept; shown directly");
            account_page(req, core, caller, id, Some(extras)).await
        }
    }
}
