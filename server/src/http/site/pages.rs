//! Dashboard pages: sign-in, accounts list, account with TOTP reveal, language switch.

use super::{cookie, error_page, render, see_other, to_signin, Chrome};
use crate::authn::session::{csrf_valid, LANG_COOKIE};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::Justification;
use crate::http::MaybeSession;
use crate::services::accounts::AccountView;
use crate::services::otp::TotpCode;
use crate::services::{Caller, Core, ServiceError};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
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
    fn from_view(view: &AccountView, t: &super::i18n::Texts) -> Self {
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
                .map(|due| t.r.rotate_by.replace("{due}", &super::rotation::when(due)))
                .unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    c: Chrome,
    return_to: String,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    c: Chrome,
    accounts: Vec<AccountCard>,
    roles: Vec<String>,
    can_audit: bool,
    /// The link to the next page, when there is one.
    next: Option<String>,
    /// Open incidents the member may read.
    incident_rows: Vec<super::incidents::IncidentLine>,
    /// Teams the member may add accounts to, and the platforms.
    add_teams: Vec<String>,
    platforms: Vec<&'static str>,
    /// The search, as typed.
    search: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountsQuery {
    /// The next page's cursor.
    after: Option<String>,
    /// Only accounts whose handle contains this.
    q: Option<String>,
}

/// A code shown once on the account page.
struct Revealed {
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
    pub backup: super::backup::BackupExtras,
    #[serde(default)]
    pub store: super::rotation::StoreExtras,
    #[serde(default)]
    pub password: Option<super::lifecycle::ShownPassword>,
    #[serde(default)]
    pub password_error: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    c: Chrome,
    a: AccountCard,
    can_reveal: bool,
    needs_reauth: bool,
    revealed: Option<Revealed>,
    error: Option<String>,
    b: Option<super::backup::BackupPanel>,
    can_audit: bool,
    /// The page was asked for a form's result that is gone (already shown, or expired).
    shown_once: bool,
    /// Open rotation tasks of this account.
    tasks: Vec<super::rotation::TaskCard>,
    can_store_seed: bool,
    can_store_password: bool,
    can_import: bool,
    /// A backup-code rotation is due: the import form is open.
    import_due: bool,
    store: super::rotation::StoreExtras,
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
    help: Option<super::lifecycle::PlatformHelp>,
    sign_in_url: Option<String>,
}

fn group(code: &str) -> String {
    let mid = code.len() / 2;
    format!("{} {}", &code[..mid], &code[mid..])
}

/// The teams of the member's own bindings in which they may add accounts.
pub async fn creatable_teams(core: &Core, caller: &Caller) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in &caller.principal.bindings {
        if b.team != ORG_WIDE
            && !out.contains(&b.team)
            && core.may(caller, &b.team, Action::AccountCreate).await
        {
            out.push(b.team.clone());
        }
    }
    out
}

/// The dashboard's entry: to the accounts when signed in, else to sign-in.
#[utoipa::path(get, path = "/", tag = "dashboard", security(), responses((status = 303, description = "a redirect (see Location)")))]
#[get("/")]
pub async fn home(session: MaybeSession) -> HttpResponse {
    match session.0 {
        Some(_) => see_other("/accounts"),
        None => see_other("/signin"),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SigninQuery {
    /// Where to go after signing in (a path on this service).
    return_to: Option<String>,
    /// Present after signing out: the page says so.
    signed_out: Option<String>,
}

/// The sign-in page.
#[utoipa::path(get, path = "/signin", tag = "dashboard", security(), params(SigninQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
#[get("/signin")]
pub async fn signin(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<SigninQuery>,
) -> HttpResponse {
    let return_to = core
        .settings
        .return_to(query.return_to.as_deref())
        .as_str()
        .to_owned();
    if session.0.is_some() {
        return see_other(&return_to);
    }
    let c = Chrome::new(&req, &core, None);
    let notice = if query.signed_out.is_some() {
        Some(c.t.signed_out_notice)
    } else if req.cookie(crate::authn::session::SESSION_COOKIE).is_some() {
        Some(c.t.session_ended_notice)
    } else {
        None
    };
    render(
        StatusCode::OK,
        &SigninPage {
            c,
            return_to,
            notice,
        },
    )
}

/// The accounts the signed-in member may see.
#[utoipa::path(get, path = "/accounts", tag = "dashboard", security(("session" = [])), params(AccountsQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 422, description = "a bad cursor", content_type = "text/html")))]
#[get("/accounts")]
pub async fn accounts(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<AccountsQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/accounts");
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let after = match query
        .after
        .as_deref()
        .map(crate::http::cursor::decode)
        .transpose()
    {
        Ok(after) => after,
        Err(invalid) => return service_failure(c, invalid.into()),
    };
    let search = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| q.chars().take(100).collect::<String>());
    let listing = crate::services::accounts::ListQuery {
        hide_archived: true,
        after,
        search: search.clone(),
        ..Default::default()
    };
    match core.list_accounts(&caller, listing).await {
        Ok(page) => {
            let accounts = page
                .views
                .iter()
                .map(|v| AccountCard::from_view(v, c.t))
                .collect();
            let next = page.next.as_ref().map(|n| {
                let q: String = search
                    .as_deref()
                    .map(|q| url::form_urlencoded::byte_serialize(q.as_bytes()).collect())
                    .unwrap_or_default();
                format!("/accounts?after={}&q={q}", crate::http::cursor::encode(n))
            });
            let roles = caller
                .principal
                .bindings
                .iter()
                .map(|b| format!("{} @ {}", c.t.role(b.role), b.team))
                .collect();
            let can_audit = core.may(&caller, ORG_WIDE, Action::AuditRead).await;
            let incident_rows = super::incidents::lines(
                &core,
                &caller,
                c.t,
                Some(crate::domain::IncidentState::Open),
                None,
            )
            .await;
            let add_teams = creatable_teams(&core, &caller).await;
            render(
                StatusCode::OK,
                &AccountsPage {
                    c,
                    accounts,
                    roles,
                    can_audit,
                    next,
                    incident_rows,
                    add_teams,
                    platforms: crate::domain::Platform::ALL
                        .iter()
                        .map(|p| p.as_str())
                        .collect(),
                    search: search.unwrap_or_default(),
                },
            )
        }
        Err(err) => service_failure(c, err),
    }
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
    let c = Chrome::new(req, core, Some(caller));
    let view = match core.get_account(caller, id).await {
        Ok(view) => view,
        Err(err) => return service_failure(c, err),
    };
    let can_reveal = core.may(caller, &view.team, Action::TotpReveal).await;
    let needs_reauth = caller.session.as_ref().is_some_and(|s| !core.is_recent(s));
    let b = super::backup::panel(core, caller, &view, c.t, extras.backup).await;
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
    let tasks = super::rotation::account_tasks(core, caller, c.t, &view.account.id).await;
    let usable = view.account.status != "archived";
    let can_store_seed = usable && core.may(caller, &view.team, Action::TotpSet).await;
    let can_store_password = usable && core.may(caller, &view.team, Action::PasswordSet).await;
    let can_import = usable && core.may(caller, &view.team, Action::BackupImport).await;
    // A due backup-code rotation, or a seed just enrolled: the platform's codes come next.
    let import_due =
        tasks.iter().any(|t| t.kind == "backup_codes") || extras.store.enroll_note.is_some();
    let help = super::lifecycle::PlatformHelp::of(&view.account.platform, c.t);
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
    params(crate::http::api::AccountId, AccountQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)"), (status = 403, description = "not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[get("/accounts/{id}")]
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

#[derive(Deserialize, ToSchema)]
pub struct RevealForm {
    #[serde(default)]
    justification: String,
    #[serde(default)]
    csrf: String,
}

/// Reveals the current TOTP code; the answer redirects to the account page, which shows it once.
#[utoipa::path(post, path = "/accounts/{id}/totp/reveal", tag = "dashboard", security(("session" = [])),
    params(crate::http::api::AccountId),
    request_body(content = RevealForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/totp/reveal")]
pub async fn reveal_totp(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<RevealForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::TotpReveal).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let revealed = match Justification::parse_optional(Some(&form.justification)) {
        Ok(justification) => core.reveal_totp(&caller, &allowed, justification).await,
        Err(invalid) => Err(invalid.into()),
    };
    let extras = match revealed {
        Ok(code) => Extras {
            totp: Some(ShownTotp::from_code(code)),
            ..Extras::default()
        },
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => Extras {
                totp_error: Some(message),
                ..Extras::default()
            },
            Err(response) => return response,
        },
    };
    show_once(&req, &core, &caller, &id, extras, "totp").await
}

/// The signed-in caller of a form post, or the response that refuses it (not signed in, or
/// a missing or stale CSRF token).
// The Err side is the response itself, handed straight back to actix.
#[allow(clippy::result_large_err)]
pub fn form_caller(
    req: &HttpRequest,
    core: &Core,
    session: MaybeSession,
    csrf: &str,
    here: &str,
) -> Result<Caller, HttpResponse> {
    let Some(caller) = session.0 else {
        return Err(to_signin(here));
    };
    let csrf_ok = caller
        .session
        .as_ref()
        .is_some_and(|s| csrf_valid(&core.keyring, &s.id_hash, csrf));
    if !csrf_ok {
        let c = Chrome::new(req, core, Some(&caller));
        return Err(error_page(
            c,
            StatusCode::FORBIDDEN,
            "The form was out of date. Reload the page and try again.",
        ));
    }
    Ok(caller)
}

/// A failed action shown on the page it came from (its message), or a response of its own:
/// a step-up sign-in that comes back to `here`, or an error page.
// The Err side is the response itself, handed straight back to actix.
#[allow(clippy::result_large_err)]
pub fn recoverable(
    req: &HttpRequest,
    core: &Core,
    caller: &Caller,
    err: ServiceError,
    here: &str,
) -> Result<String, HttpResponse> {
    match err {
        ServiceError::ReauthRequired => {
            let encoded: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(see_other(&format!("/auth/reauth?return_to={encoded}")))
        }
        ServiceError::Locked { message, .. }
        | ServiceError::Conflict { message, .. }
        | ServiceError::RateLimited { message, .. } => Ok(message),
        ServiceError::Invalid(invalid) => Ok(invalid.message),
        other => Err(service_failure(Chrome::new(req, core, Some(caller)), other)),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangQuery {
    /// Where to go back to (a path on this service).
    return_to: Option<String>,
}

/// Switches the language and goes back.
/// Switches the dashboard's language and goes back.
#[utoipa::path(get, path = "/lang/{lang}", tag = "dashboard", security(),
    params(("lang" = String, Path, description = "en or ja"), LangQuery), responses((status = 303, description = "a redirect (see Location)")))]
#[get("/lang/{lang}")]
pub async fn language(
    core: web::Data<Core>,
    lang: web::Path<String>,
    query: web::Query<LangQuery>,
) -> HttpResponse {
    let lang = if lang.as_str() == "ja" { "ja" } else { "en" };
    let mut c = cookie(&core, LANG_COOKIE, lang.to_owned(), "/");
    c.set_max_age(CookieDuration::days(365));
    let mut res = see_other(core.settings.return_to(query.return_to.as_deref()).as_str());
    let _ = res.add_cookie(&c);
    res
}

pub fn service_failure(c: Chrome, err: ServiceError) -> HttpResponse {
    let t = c.t;
    match err {
        ServiceError::NotFound(_) => error_page(c, StatusCode::NOT_FOUND, t.not_found_body),
        ServiceError::Forbidden => error_page(c, StatusCode::FORBIDDEN, t.forbidden_body),
        other => {
            let api = crate::http::ApiError::from(other);
            error_page(c, api.status, api.message)
        }
    }
}
