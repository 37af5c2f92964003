//! The account life cycle in the dashboard: add an account, edit its details, freeze or
//! unfreeze it, archive it, and reveal its password (managers; shown once). Every form
//! answers with a redirect; what it produced is kept for one view of the account page.

use super::pages::{form_caller, recoverable, service_failure, show_once, Extras};
use super::{error_page, see_other, Chrome};
use crate::authz::Action;
use crate::domain::{
    AccountStatus, Handle, Invalid, Justification, LoginUrl, Notes, Platform, TeamSlug,
};
use crate::http::MaybeSession;
use crate::services::accounts::{AccountInput, AccountPatch};
use crate::services::Core;
use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A password just revealed, shown once.
#[derive(Serialize, Deserialize)]
pub struct ShownPassword {
    pub password: Zeroizing<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct AddForm {
    #[serde(default)]
    team: String,
    #[serde(default)]
    platform: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    login_url: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    csrf: String,
}

fn login_url(raw: &str) -> Result<Option<LoginUrl>, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() {
        Ok(None)
    } else {
        LoginUrl::parse(raw).map(Some)
    }
}

/// Adds an account (manager of the team) and goes to it.
#[utoipa::path(post, path = "/accounts", tag = "dashboard", security(("session" = [])),
    request_body(content = AddForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the new account"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 409, description = "the account exists", content_type = "text/html"), (status = 422, description = "a bad field", content_type = "text/html")))]
#[post("/accounts")]
pub async fn add(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    form: web::Form<AddForm>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, "/accounts") {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    if let Err(err) = core
        .authorize_somewhere(&caller, Action::AccountCreate)
        .await
    {
        return service_failure(c, err);
    }
    let input = (|| -> Result<AccountInput, Invalid> {
        Ok(AccountInput {
            team: TeamSlug::parse(&form.team)?,
            platform: Platform::parse(&form.platform)?,
            handle: Handle::parse(&form.handle)?,
            login_url: login_url(&form.login_url)?,
            notes: Notes::parse(&form.notes)?,
        })
    })();
    let input = match input {
        Ok(input) => input,
        Err(invalid) => return error_page(c, StatusCode::UNPROCESSABLE_ENTITY, invalid.message),
    };
    match core.create_account(&caller, input).await {
        Ok(view) => see_other(&format!("/accounts/{}", view.account.id)),
        Err(err) => service_failure(c, err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct EditForm {
    #[serde(default)]
    handle: String,
    #[serde(default)]
    login_url: String,
    #[serde(default)]
    notes: String,
    /// `active` or `frozen`, to change the status instead.
    #[serde(default)]
    status: String,
    #[serde(default)]
    csrf: String,
}

/// Saves an account's details, or freezes or unfreezes it (`status`).
#[utoipa::path(post, path = "/accounts/{id}/edit", tag = "dashboard", security(("session" = [])),
    params(crate::http::api::AccountId),
    request_body(content = EditForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/edit")]
pub async fn edit(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<EditForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let c = Chrome::new(&req, &core, Some(&caller));
    let t = c.t;
    let allowed = match core.allow(&caller, &id, Action::AccountUpdate).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(c, err),
    };
    let (patch, done) = if form.status.trim().is_empty() {
        let patch = (|| -> Result<AccountPatch, Invalid> {
            Ok(AccountPatch {
                handle: Some(Handle::parse(&form.handle)?),
                login_url: Some(login_url(&form.login_url)?),
                notes: Some(Notes::parse(&form.notes)?),
                ..AccountPatch::default()
            })
        })();
        (patch, t.life.saved)
    } else {
        let status = AccountStatus::parse(form.status.trim());
        let done = if form.status.trim() == "frozen" {
            t.life.frozen_done
        } else {
            t.life.unfrozen_done
        };
        (
            status.map(|s| AccountPatch {
                status: Some(s),
                ..AccountPatch::default()
            }),
            done,
        )
    };
    let mut extras = Extras::default();
    let result = match patch {
        Ok(patch) => core.update_account(&caller, &allowed, patch).await,
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(_) => extras.store.notice = Some(done.to_owned()),
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => extras.store.error = Some(message),
            Err(response) => return response,
        },
    }
    show_once(&req, &core, &caller, &id, extras, "details").await
}

#[derive(Deserialize, ToSchema)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Archives an account (manager) and goes back to the list.
#[utoipa::path(post, path = "/accounts/{id}/archive", tag = "dashboard", security(("session" = [])),
    params(crate::http::api::AccountId),
    request_body(content = CsrfOnly, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect to the accounts"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html"), (status = 423, description = "archived already", content_type = "text/html")))]
#[post("/accounts/{id}/archive")]
pub async fn archive(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let caller = match form_caller(&req, &core, session, &form.csrf, &format!("/accounts/{id}")) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match core.archive_account(&caller, &id).await {
        Ok(_) => see_other("/accounts"),
        Err(err) => service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct RevealPasswordForm {
    #[serde(default)]
    justification: String,
    #[serde(default)]
    csrf: String,
}

/// Reveals the account's password (manager, with a reason, after a recent sign-in); the
/// answer redirects to the account page, which shows it once.
#[utoipa::path(post, path = "/accounts/{id}/password/reveal", tag = "dashboard", security(("session" = [])),
    params(crate::http::api::AccountId),
    request_body(content = RevealPasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "a redirect (see Location)"), (status = 403, description = "a stale form (CSRF) or not allowed", content_type = "text/html"), (status = 404, description = "no such account", content_type = "text/html")))]
#[post("/accounts/{id}/password/reveal")]
pub async fn reveal_password(
    req: HttpRequest,
    core: web::Data<Core>,
    session: MaybeSession,
    id: web::Path<String>,
    form: web::Form<RevealPasswordForm>,
) -> HttpResponse {
    let here = format!("/accounts/{id}");
    let caller = match form_caller(&req, &core, session, &form.csrf, &here) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let allowed = match core.allow(&caller, &id, Action::PasswordReveal).await {
        Ok(allowed) => allowed,
        Err(err) => return service_failure(Chrome::new(&req, &core, Some(&caller)), err),
    };
    let revealed = match Justification::parse(&form.justification) {
        Ok(why) => core.reveal_password(&caller, &allowed, why).await,
        Err(invalid) => Err(invalid.into()),
    };
    let mut extras = Extras::default();
    match revealed {
        Ok(r) => {
            extras.password = Some(ShownPassword {
                password: r.password,
            })
        }
        Err(err) => match recoverable(&req, &core, &caller, err, &here) {
            Ok(message) => extras.password_error = Some(message),
            Err(response) => return response,
        },
    }
    show_once(&req, &core, &caller, &id, extras, "password").await
}

/// The platform catalog's help for one account, in the page's language: where to sign in,
/// where to turn on an authenticator app, and what backup codes to expect and where.
pub struct PlatformHelp {
    pub name: String,
    pub login_url: Option<String>,
    pub settings_url: Option<String>,
    /// "Turn on an authenticator app: …".
    pub authenticator: String,
    /// "… usually gives 5 backup codes: 8 digits each …".
    pub backup_usual: String,
    /// "New codes: …".
    pub backup_where: String,
    /// The usual count, to compare an import with.
    pub count: Option<u16>,
}

impl PlatformHelp {
    /// The help for `platform`, if the catalog has it.
    pub fn of(platform: &str, t: &super::i18n::Texts) -> Option<Self> {
        let guide = crate::services::platforms::guide(platform)?;
        let name = guide.name.as_str();
        let format = guide.backup_code_format.in_lang(t.lang);
        let backup_usual = match guide.backup_code_count {
            Some(n) => t
                .life
                .guide_backup_count
                .replace("{n}", &n.to_string())
                .replace("{format}", format),
            None => t.life.guide_backup_format.replace("{format}", format),
        };
        Some(Self {
            name: name.to_owned(),
            login_url: guide.login_url.clone(),
            settings_url: guide.settings_url.clone(),
            authenticator: t
                .life
                .guide_authenticator
                .replace("{path}", guide.authenticator_setting.in_lang(t.lang)),
            backup_usual: backup_usual.replace("{platform}", name),
            backup_where: t
                .life
                .guide_backup_where
                .replace("{path}", guide.backup_code_setting.in_lang(t.lang)),
            count: guide.backup_code_count,
        })
    }

    /// A hint when an import's count is not the platform's usual one.
    pub fn count_hint(&self, t: &super::i18n::Texts, imported: usize) -> Option<String> {
        let usual = self.count?;
        (usize::from(usual) != imported).then(|| {
            t.life
                .guide_count_differs
                .replace("{platform}", &self.name)
                .replace("{n}", &usual.to_string())
                .replace("{m}", &imported.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PlatformHelp;
    use crate::http::site::i18n::{EN, JA};

    #[test]
    fn the_help_names_the_platform_s_menus_and_its_usual_backup_codes_in_both_languages() {
        let en = PlatformHelp::of("instagram", &EN).expect("instagram is in the catalog");
        assert!(
            en.authenticator.contains("Accounts Center"),
            "{}",
            en.authenticator
        );
        assert_eq!(
            en.backup_usual,
            "Instagram usually gives 5 backup codes: 8 digits each, sometimes shown as two groups of four."
        );
        assert!(en
            .login_url
            .is_some_and(|u| u.starts_with("https://www.instagram.com/")));
        let ja = PlatformHelp::of("instagram", &JA).expect("instagram is in the catalog");
        assert!(
            ja.authenticator.contains("アカウントセンター"),
            "{}",
            ja.authenticator
        );
        assert!(ja.backup_usual.contains("通常5個"), "{}", ja.backup_usual);
        let other = PlatformHelp::of("other", &EN).expect("other is in the catalog");
        assert!(other
            .backup_usual
            .starts_with("Other platform's backup codes:"));
        assert!(PlatformHelp::of("myspace", &EN).is_none());
    }

    #[test]
    fn an_import_of_an_unusual_count_gets_a_hint_and_the_usual_count_none() {
        let help = PlatformHelp::of("github", &EN).expect("github is in the catalog");
        assert_eq!(help.count_hint(&EN, 16), None);
        assert_eq!(
            help.count_hint(&EN, 15).as_deref(),
            Some(
                "GitHub usually gives 16 codes, and 15 were imported. Check that none were missed."
            )
        );
        let other = PlatformHelp::of("other", &EN).expect("other is in the catalog");
        assert_eq!(other.count_hint(&EN, 3), None, "no usual count, no hint");
    }
}
