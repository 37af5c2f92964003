//! Imports in the dashboard: the export (a file, screenshots or pasted text) is previewed —
//! what each seed would become, no secret shown — and kept sealed for this session for a few
//! minutes; the confirmation imports it as decided, in one transaction, and answers with a
//! redirect to the summary.

use super::i18n::Texts;
use super::kit::{form_caller, service_failure};
use super::{error_page, render, see_other, to_signin, Chrome};
use crate::authz::Action;
use crate::domain::{Handle, Invalid, Platform, TeamSlug};
use crate::http::extract::UploadForm;
use crate::http::hangup::Watch;
use crate::http::MaybeSession;
use crate::importers::ImportFormat;
use crate::services::imports::{ClientGone, Decision, Export, ImportAction, PreviewEntry};
use crate::services::{Caller, Core, ServiceError};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

/// Minutes a preview waits for its confirmation.
const PENDING_MINUTES: i64 = 15;

/// An import waiting for its confirmation, sealed for this session.
#[derive(Serialize, Deserialize)]
struct Pending {
    format: String,
    data: Zeroizing<String>,
    password: Option<Zeroizing<String>>,
    team: String,
}

/// What an import did, for the summary page.
#[derive(Default, Serialize, Deserialize)]
struct Done {
    stored: usize,
    created: usize,
    skipped: usize,
    results: Vec<(usize, String, Option<String>)>,
}

impl Done {
    /// "Imported: 1 seed stored, 2 accounts created, 0 skipped." in the reader's language.
    fn summary(&self, t: &Texts) -> String {
        let count = |text: &str, name, n: usize| super::i18n::count(text, name, n as i64);
        let text = count(t.imp.done, "stored", self.stored);
        count(
            &count(&text, "created", self.created),
            "skipped",
            self.skipped,
        )
    }
}

pub struct FormatOption {
    pub id: &'static str,
    pub label: &'static str,
}

pub struct EntryRow {
    pub index: usize,
    pub issuer: String,
    pub label: String,
    pub kind: String,
    pub action: String,
    pub account: String,
    pub platform: String,
    pub handle: String,
    pub note: &'static str,
}

pub struct DoneRow {
    pub index: usize,
    pub action: String,
    pub account: Option<String>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    c: Chrome,
    can_import: bool,
    formats: Vec<FormatOption>,
    format: String,
    team: String,
    teams: Vec<String>,
    error: Option<String>,
    /// The preview: its token and entries.
    token: Option<String>,
    entries: Vec<EntryRow>,
    platforms: Vec<&'static str>,
    done: Option<String>,
    done_rows: Vec<DoneRow>,
}

fn formats(t: &Texts) -> Vec<FormatOption> {
    vec![
        FormatOption {
            id: "google-authenticator",
            label: t.imp.format_google,
        },
        FormatOption {
            id: "aegis",
            label: t.imp.format_aegis,
        },
        FormatOption {
            id: "2fas",
            label: t.imp.format_2fas,
        },
        FormatOption {
            id: "bitwarden",
            label: t.imp.format_bitwarden,
        },
        FormatOption {
            id: "otpauth",
            label: t.imp.format_otpauth,
        },
    ]
}

async fn page(core: &Core, caller: &Caller, c: Chrome, format: &str, team: &str) -> ImportPage {
    let teams = super::pages::creatable_teams(core, caller).await;
    // A role that may store seeds in some team (the team need not have an account yet).
    let mut can_import = false;
    for b in &caller.principal.bindings {
        if core.may(caller, &b.team, Action::TotpSet).await {
            can_import = true;
            break;
        }
    }
    ImportPage {
        formats: formats(c.t),
        can_import,
        format: format.to_owned(),
        team: if team.is_empty() {
            teams.first().cloned().unwrap_or_default()
        } else {
            team.to_owned()
        },
        teams,
        error: None,
        token: None,
        entries: Vec::new(),
        platforms: Platform::ALL.iter().map(|p| p.as_str()).collect(),
        done: None,
        done_rows: Vec::new(),
        c,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// The token of an import's summary, shown once.
    done: Option<String>,
    /// The token of a preview still waiting (after entries confirmed one at a time).
    pending: Option<String>,
}

/// The import page: the form, or the summary of the import just made.
#[utoipa::path(get, path = "/imports", tag = "dashboard", security(("session" = [])), params(ImportQuery),
    responses((status = 200, description = "the page (HTML)", content_type = "text/html"), (status = 303, description = "a redirect (see Location)")))]
pub async fn import_page(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    query: web::Query<ImportQuery>,
) -> HttpResponse {
    let Some(caller) = session.0 else {
        return to_signin("/imports");
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let mut p = page(&core, &caller, c, "google-authenticator", "").await;
    if let (Some(token), Some(session)) = (&query.done, &caller.session) {
        if let Ok(Some(bytes)) = core.take_page_result(session, token).await {
            let done: Done = serde_json::from_slice(&bytes).unwrap_or_default();
            p.done = Some(done.summary(p.c.t));
            p.done_rows = done
                .results
                .into_iter()
                .map(|(index, action, account)| DoneRow {
                    index,
                    action,
                    account,
                })
                .collect();
        }
    }
    if let (Some(token), Some(session)) = (&query.pending, &caller.session) {
        let pending = match core.peek_page_result(session, token).await {
            Ok(bytes) => bytes.and_then(|b| serde_json::from_slice::<Pending>(&b).ok()),
            Err(err) => return service_failure(p.c, err),
        };
        match pending {
            Some(pending) => {
                p.format.clone_from(&pending.format);
                p.team.clone_from(&pending.team);
                return show_preview(&core, &caller, p, &pending, token.clone(), StatusCode::OK)
                    .await;
            }
            None => p.error = Some(p.c.t.imp.expired.to_owned()),
        }
    }
    render(StatusCode::OK, &p)
}

/// The preview of a pending import under its token: each entry as it would be imported now
/// (an entry stored meanwhile shows as already stored).
async fn show_preview(
    core: &Core,
    caller: &Caller,
    mut p: ImportPage,
    pending: &Pending,
    token: String,
    status: StatusCode,
) -> HttpResponse {
    let entries = match ImportFormat::parse(&pending.format) {
        Ok(format) => {
            // Text read before (no screenshots): a vault's derivation at most.
            core.preview_import(
                caller,
                Export::new(
                    format,
                    pending.data.as_str().to_owned(),
                    pending.password.as_ref().map(|p| p.as_str().to_owned()),
                ),
                &ClientGone::never(),
            )
            .await
        }
        Err(invalid) => Err(invalid.into()),
    };
    match entries {
        Ok(entries) => {
            p.token = Some(token);
            p.entries = entries.into_iter().map(|e| entry_row(p.c.t, e)).collect();
            render(status, &p)
        }
        Err(err) => service_failure(p.c, err),
    }
}

/// Seals a pending import again (after part of it was imported, or a decision was refused).
async fn keep_pending(
    core: &Core,
    session: &crate::services::SessionInfo,
    pending: &Pending,
) -> Result<Zeroizing<String>, ServiceError> {
    let bytes = Zeroizing::new(
        serde_json::to_vec(pending)
            .map_err(|_| Invalid::new("invalid_import", "the preview could not be kept"))?,
    );
    core.keep_page_result_for(session, &bytes, PENDING_MINUTES * 60)
        .await
}

#[derive(Deserialize, ToSchema)]
pub struct PreviewForm {
    #[serde(default)]
    format: String,
    /// The export's text, or base64 of the file or screenshots (one per line).
    #[serde(default)]
    data: String,
    /// What the page's script read from the files picked (it wins over `data`).
    #[serde(default)]
    data_file: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    csrf: String,
}

fn entry_row(t: &Texts, e: PreviewEntry) -> EntryRow {
    let p = e.proposal;
    EntryRow {
        index: e.index,
        issuer: e.issuer.unwrap_or_default(),
        label: e.label.unwrap_or_default(),
        kind: e.kind.as_str().to_owned(),
        action: p.action.as_str().to_owned(),
        account: p.account.unwrap_or_default(),
        platform: p.platform.unwrap_or_else(|| "other".to_owned()),
        handle: p.handle.unwrap_or_default(),
        note: match p.reason {
            Some("already_stored") => t.imp.reason_already,
            Some("earlier_version") => t.imp.reason_earlier,
            Some("no_handle") => t.imp.reason_no_handle,
            _ => "",
        },
    }
}

fn message(err: ServiceError) -> Result<String, ServiceError> {
    match err {
        ServiceError::Invalid(invalid) => Ok(invalid.message),
        ServiceError::Conflict { message, .. } | ServiceError::Refused { message, .. } => {
            Ok(message)
        }
        ServiceError::NotFound(what) => Ok(format!("{what} not found")),
        other => Err(other),
    }
}

/// Reads the export and shows what would happen; nothing is stored. The export waits,
/// sealed for this session, for the confirmation.
#[utoipa::path(post, path = "/imports/preview", tag = "dashboard", security(("session" = [])),
    request_body(content = PreviewForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "the preview (HTML)", content_type = "text/html"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 422, description = "an export that cannot be read", content_type = "text/html")))]
pub async fn preview(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: UploadForm<PreviewForm>,
) -> HttpResponse {
    let form = match form.into_inner() {
        Ok(form) => form,
        Err(err) => {
            return error_page(Chrome::new(&req, &core, None), err.status, err.message);
        }
    };
    let caller = match form_caller(&req, &core, session, &form.csrf, "/imports") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(err) = core.authorize_somewhere(&caller, Action::TotpSet).await {
        return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
    }
    let c = Chrome::new(&req, &core, Some(&caller));
    let mut p = page(&core, &caller, c, &form.format, &form.team).await;
    let password = Some(form.password.clone()).filter(|p| !p.is_empty());
    let outcome: Result<(Vec<PreviewEntry>, String), ServiceError> = async {
        let format = ImportFormat::parse(&form.format)?;
        TeamSlug::parse(&form.team)?;
        let given = if form.data_file.trim().is_empty() {
            &form.data
        } else {
            &form.data_file
        };
        let watch = Watch::start(&req);
        let data = core
            .read_import(&caller, format, given, watch.gone())
            .await?;
        let entries = core
            .preview_import(
                &caller,
                Export::new(format, data.clone(), password.clone()),
                watch.gone(),
            )
            .await?;
        Ok((entries, data))
    }
    .await;
    match outcome {
        Ok((entries, data)) => {
            let pending = Pending {
                format: form.format.trim().to_owned(),
                data: Zeroizing::new(data),
                password: password.map(Zeroizing::new),
                team: form.team.trim().to_owned(),
            };
            let kept = match &caller.session {
                Some(session) => keep_pending(&core, session, &pending).await,
                None => return to_signin("/imports"),
            };
            match kept {
                Ok(token) => {
                    p.token = Some(token.as_str().to_owned());
                    p.entries = entries.into_iter().map(|e| entry_row(p.c.t, e)).collect();
                    render(StatusCode::OK, &p)
                }
                Err(err) => service_failure(p.c, err),
            }
        }
        Err(err) => match message(err) {
            Ok(text) => {
                p.error = Some(text);
                render(StatusCode::UNPROCESSABLE_ENTITY, &p)
            }
            Err(other) => service_failure(p.c, other),
        },
    }
}

/// Imports the previewed export as decided on the page (`action_N`, `platform_N`,
/// `handle_N`, `account_N` per entry), then redirects to the summary. With `only=N`, imports
/// that entry alone and keeps the rest of the preview waiting.
#[utoipa::path(post, path = "/imports/apply", tag = "dashboard", security(("session" = [])),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded",
        description = "`token` (the preview's), `csrf`, per entry N: `action_N` (attach, create or skip), `platform_N`, `handle_N`, `account_N`; and `only` (an entry number) to import that entry alone"),
    responses((status = 303, description = "a redirect to the summary"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 422, description = "a decision that cannot be carried out, or a preview that expired", content_type = "text/html")))]
pub async fn apply(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: UploadForm<Vec<(String, String)>>,
) -> HttpResponse {
    let fields = match form.into_inner() {
        Ok(fields) => fields,
        Err(err) => {
            return error_page(Chrome::new(&req, &core, None), err.status, err.message);
        }
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let caller = match form_caller(&req, &core, session, field("csrf"), "/imports") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if let Err(err) = core.authorize_somewhere(&caller, Action::TotpSet).await {
        return service_failure(Chrome::new(&req, &core, Some(&caller)), err);
    }
    let c = Chrome::new(&req, &core, Some(&caller));
    let Some(session) = caller.session.clone() else {
        return to_signin("/imports");
    };
    // `only=N`: that entry alone, which must be one of the form's.
    let only = match Some(field("only").trim()).filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => match v.parse::<usize>() {
            Ok(index) if fields.iter().any(|(k, _)| *k == format!("action_{index}")) => Some(index),
            _ => {
                let t = c.t;
                return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, t.imp.bad_entry);
            }
        },
    };
    let pending = match core.take_page_result(&session, field("token")).await {
        Ok(Some(bytes)) => serde_json::from_slice::<Pending>(&bytes).ok(),
        Ok(None) => None,
        Err(err) => return service_failure(c, err),
    };
    let Some(pending) = pending else {
        let t = c.t;
        return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, t.imp.expired);
    };
    let outcome: Result<Done, ServiceError> = async {
        let format = ImportFormat::parse(&pending.format)?;
        let team = TeamSlug::parse(&pending.team)?;
        let mut decisions = Vec::new();
        for (key, value) in &fields {
            let Some(index) = key.strip_prefix("action_") else {
                continue;
            };
            let index: usize = index
                .parse()
                .map_err(|_| Invalid::new("invalid_entry", "an entry number is not a number"))?;
            let get = |what: &str| {
                Some(field(&format!("{what}_{index}")).trim()).filter(|v| !v.is_empty())
            };
            decisions.push(Decision {
                index,
                action: ImportAction::parse(value)?,
                account: get("account").map(str::to_owned),
                platform: get("platform").map(Platform::parse).transpose()?,
                handle: get("handle").map(Handle::parse).transpose()?,
            });
        }
        if let Some(only) = only {
            decisions.retain(|d| d.index == only);
        }
        decisions.retain(|d| d.action != ImportAction::Skip);
        let watch = Watch::start(&req);
        let applied = core
            .apply_import(
                &caller,
                &team,
                Export::new(
                    format,
                    pending.data.as_str().to_owned(),
                    pending.password.as_ref().map(|p| p.as_str().to_owned()),
                ),
                decisions,
                watch.gone(),
            )
            .await?;
        Ok(Done {
            stored: applied.stored,
            created: applied.created,
            skipped: applied.skipped,
            results: applied
                .results
                .into_iter()
                .map(|r| (r.index, r.action.to_owned(), r.account))
                .collect(),
        })
    }
    .await;
    match outcome {
        Ok(done) => {
            // One entry of several: the rest of the preview waits under a new token.
            let rest = match only {
                Some(_) => keep_pending(&core, &session, &pending)
                    .await
                    .ok()
                    .map(|token| format!("&pending={}", token.as_str())),
                None => None,
            };
            let kept = match serde_json::to_vec(&done) {
                Ok(bytes) => core.keep_page_result(&session, &bytes).await,
                Err(_) => return see_other("/imports"),
            };
            match kept {
                Ok(token) => see_other(&format!(
                    "/imports?done={}{}",
                    token.as_str(),
                    rest.unwrap_or_default()
                )),
                // Imported: the summary is lost, the accounts show what happened.
                Err(_) => see_other("/accounts"),
            }
        }
        Err(err) => match message(err) {
            Ok(text) => {
                let mut p = page(&core, &caller, c, &pending.format, &pending.team).await;
                p.error = Some(text);
                // Nothing was stored: the same preview again, to correct the decision.
                if let Ok(token) = keep_pending(&core, &session, &pending).await {
                    let token = token.as_str().to_owned();
                    return show_preview(
                        &core,
                        &caller,
                        p,
                        &pending,
                        token,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
                }
                render(StatusCode::UNPROCESSABLE_ENTITY, &p)
            }
            Err(other) => service_failure(c, other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::Done;
    use crate::http::site::i18n::pick;

    #[test]
    fn the_summary_counts_seeds_and_accounts_with_their_plurals_in_both_languages() {
        let done = |stored, created| Done {
            stored,
            created,
            skipped: 0,
            results: Vec::new(),
        };
        let en = pick(Some("en"), None);
        assert_eq!(
            done(1, 0).summary(en),
            "Imported: 1 seed stored, 0 accounts created, 0 skipped."
        );
        assert_eq!(
            done(2, 1).summary(en),
            "Imported: 2 seeds stored, 1 account created, 0 skipped."
        );
        let ja = pick(Some("ja"), None);
        assert_eq!(
            done(1, 2).summary(ja),
            "インポート完了：シード1件を保存、アカウント2件を作成、0件をスキップしました。"
        );
    }
}
