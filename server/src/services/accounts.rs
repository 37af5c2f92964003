//! Shared accounts: create, list, read, update, archive.

use super::{Caller, Core, ServiceError};
use crate::authz::Action;
use crate::authz::ORG_WIDE;
use crate::config::LimitSettings;
use crate::domain::backup::warning;
use crate::domain::{AccountStatus, Handle, LoginUrl, Notes, Platform, TeamSlug};
use crate::store::accounts::{
    self as repo, Account, AccountFacts, AccountFilter, BackupSummary, ListPosition, NewAccount,
};
use crate::store::{is_unique_violation, now};
use std::collections::{BTreeSet, HashMap};

/// An account as callers see it.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub account: Account,
    pub team: String,
    pub facts: AccountFacts,
    /// What needs attention (see `domain::backup::warning`).
    pub warnings: Vec<&'static str>,
}

impl AccountView {
    pub fn has(&self, kind: &str) -> bool {
        self.facts.kinds.iter().any(|k| k == kind)
    }

    pub fn backup(&self) -> Option<&BackupSummary> {
        self.facts.backup.as_ref()
    }
}

/// Few backup codes left, or rejected codes near the platform's lock-out.
fn warnings(facts: &AccountFacts, limits: &LimitSettings) -> Vec<&'static str> {
    let mut out = Vec::new();
    if facts
        .backup
        .as_ref()
        .is_some_and(|b| i64::from(b.remaining) <= i64::from(limits.low_backup_codes))
    {
        out.push(warning::LOW_CODES);
    }
    if facts.rejected_recently + 1 >= i64::from(limits.failed_attempt_budget) {
        out.push(warning::FAILED_ATTEMPTS);
    }
    out
}

/// The most accounts one page lists.
pub const MAX_LIST: u64 = 500;

/// What to list.
pub struct ListQuery {
    pub team: Option<TeamSlug>,
    pub platform: Option<Platform>,
    pub status: Option<AccountStatus>,
    /// Leave archived accounts out (when no status is asked for).
    pub hide_archived: bool,
    pub after: Option<ListPosition>,
    pub limit: u64,
    /// Only handles containing this text (compared like handles: NFKC, lower case).
    pub search: Option<String>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            team: None,
            platform: None,
            status: None,
            hide_archived: false,
            after: None,
            limit: MAX_LIST,
            search: None,
        }
    }
}

/// A page of accounts and where the next one starts.
#[derive(Default)]
pub struct AccountPage {
    pub views: Vec<AccountView>,
    pub next: Option<ListPosition>,
}

/// Validated input for a new account.
pub struct AccountInput {
    pub team: TeamSlug,
    pub platform: Platform,
    pub handle: Handle,
    pub login_url: Option<LoginUrl>,
    pub notes: Notes,
}

/// Validated changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountPatch {
    pub platform: Option<Platform>,
    pub handle: Option<Handle>,
    pub login_url: Option<Option<LoginUrl>>,
    pub notes: Option<Notes>,
    pub status: Option<AccountStatus>,
    pub access: Option<crate::domain::access::AccessPolicy>,
    pub approvers_needed: Option<crate::domain::access::ApproversNeeded>,
}

fn target(account_id: &str) -> String {
    format!("account:{account_id}")
}

fn duplicate(err: sea_orm::DbErr) -> ServiceError {
    if is_unique_violation(&err) {
        ServiceError::Conflict {
            code: "account_exists",
            message: "this team already has an account with that platform and handle".to_owned(),
        }
    } else {
        ServiceError::Storage(err)
    }
}

impl Core {
    fn view_of(&self, account: Account, team: String, facts: AccountFacts) -> AccountView {
        AccountView {
            warnings: warnings(&facts, &self.settings.limits),
            account,
            team,
            facts,
        }
    }

    async fn facts(&self, ids: &[String]) -> Result<HashMap<String, AccountFacts>, ServiceError> {
        let window = i64::from(self.settings.limits.failed_attempt_window_minutes);
        let since = chrono::Utc::now() - chrono::Duration::minutes(window);
        Ok(repo::facts(self.store.db(), ids, since).await?)
    }

    pub async fn create_account(
        &self,
        caller: &Caller,
        input: AccountInput,
    ) -> Result<AccountView, ServiceError> {
        let team = input.team.as_str();
        self.authorize(caller, team, Action::AccountCreate, None)
            .await?;
        let tx = self.store.begin_write().await?;
        let account = self.create_account_in(&*tx, caller, &input).await?;
        tx.commit().await?;
        Ok(self.view_of(account, team.to_owned(), AccountFacts::default()))
    }

    /// Creates an account in the caller's transaction (its team's `account.create` right
    /// decided) and records `account.create` there.
    pub(crate) async fn create_account_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        caller: &Caller,
        input: &AccountInput,
    ) -> Result<Account, ServiceError> {
        let team = input.team.as_str();
        let team_row = repo::ensure_team(db, &self.integrity, team).await?;
        let (access, approvers_needed) = self.settings.team_access(team);
        let account = repo::insert(
            db,
            &self.integrity,
            NewAccount {
                team_id: &team_row.id,
                platform: input.platform.as_str(),
                handle: input.handle.as_str(),
                handle_key: input.handle.key(),
                login_url: input.login_url.as_ref().map(LoginUrl::as_str),
                notes: input.notes.as_str(),
                access,
                approvers_needed,
            },
        )
        .await
        .map_err(duplicate)?;
        let event = caller
            .event("account.create")
            .target(target(&account.id))
            .team(team)
            .details(serde_json::json!({
                "platform": account.platform,
                "handle": account.handle,
                "access": account.access,
                "approvers_needed": account.approvers_needed,
            }));
        crate::audit::append(db, event).await?;
        Ok(account)
    }

    /// Loads an account and decides whether the caller may do `action` on it (a refusal is
    /// audited). An id that cannot be an account id is unknown without a query.
    pub async fn allow(
        &self,
        caller: &Caller,
        account_id: &str,
        action: Action,
    ) -> Result<super::Allowed, ServiceError> {
        if !crate::domain::is_id(account_id) {
            return Err(ServiceError::NotFound(crate::services::Missing::Account));
        }
        // Every account has a team (a foreign key), so the inner join loses none.
        let (account, team) =
            repo::find_with_team(&self.store.reader(), &self.integrity, account_id)
                .await?
                .ok_or(ServiceError::NotFound(crate::services::Missing::Account))?;
        self.authorize(caller, &team, action, Some(&target(account_id)))
            .await?;
        Ok(super::Allowed {
            account,
            team,
            action,
        })
    }

    /// [`Core::allow`], as the account and its team.
    pub(crate) async fn account_for(
        &self,
        caller: &Caller,
        account_id: &str,
        action: Action,
    ) -> Result<(Account, String), ServiceError> {
        let allowed = self.allow(caller, account_id, action).await?;
        Ok((allowed.account, allowed.team))
    }

    pub async fn get_account(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<AccountView, ServiceError> {
        let (account, team) = self
            .account_for(caller, account_id, Action::AccountRead)
            .await?;
        let mut facts = self.facts(std::slice::from_ref(&account.id)).await?;
        let facts = facts.remove(&account.id).unwrap_or_default();
        Ok(self.view_of(account, team, facts))
    }

    /// A page of the accounts in the teams the caller may read, filtered, in the order
    /// platform, handle: at most `query.limit` (up to [`MAX_LIST`]) from `query.after` on, and
    /// where the next page starts. Only the caller's readable teams are queried (every team
    /// for an org-wide reader), and facts are fetched for this page's accounts alone.
    pub async fn list_accounts(
        &self,
        caller: &Caller,
        query: ListQuery,
    ) -> Result<AccountPage, ServiceError> {
        let db = self.store.db();
        let team_ids = self
            .readable_teams(caller, query.team.as_ref().map(TeamSlug::as_str))
            .await?;
        if team_ids.as_ref().is_some_and(HashMap::is_empty) {
            return Ok(AccountPage::default());
        }
        let limit = query.limit.clamp(1, MAX_LIST);
        let filter = AccountFilter {
            team_ids: team_ids.as_ref().map(|t| t.keys().cloned().collect()),
            platform: query.platform.map(|p| p.as_str().to_owned()),
            status: query.status.map(|s| s.as_str().to_owned()),
            hide_archived: query.hide_archived,
            after: query.after,
            handle_contains: query.search.as_deref().and_then(Handle::search_key),
        };
        let mut accounts = repo::list(db, &self.integrity, &filter, limit + 1).await?;
        let next = (accounts.len() as u64 > limit)
            .then(|| {
                accounts.truncate(limit as usize);
                accounts.last().map(|a| ListPosition {
                    platform: a.platform.clone(),
                    handle: a.handle.clone(),
                    id: a.id.clone(),
                })
            })
            .flatten();
        let slugs = match team_ids {
            Some(known) => known,
            None => {
                let ids: BTreeSet<&String> = accounts.iter().map(|a| &a.team_id).collect();
                repo::team_slugs_of(db, &self.integrity, ids.into_iter().cloned().collect()).await?
            }
        };
        let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let mut facts = self.facts(&ids).await?;
        let views = accounts
            .into_iter()
            .map(|account| {
                let team = slugs.get(&account.team_id).cloned().unwrap_or_default();
                let facts = facts.remove(&account.id).unwrap_or_default();
                self.view_of(account, team, facts)
            })
            .collect();
        Ok(AccountPage { views, next })
    }

    /// The teams (id → slug) whose accounts the caller may read, or `None` for every team (an
    /// org-wide reader); `only` narrows to one team slug.
    pub(crate) async fn readable_teams(
        &self,
        caller: &Caller,
        only: Option<&str>,
    ) -> Result<Option<HashMap<String, String>>, ServiceError> {
        self.teams_allowing(caller, only, Action::AccountRead).await
    }

    /// The teams (id → slug) in which the caller may do `action`, or `None` for every team
    /// (an org-wide right); `only` narrows to one team slug.
    pub(crate) async fn teams_allowing(
        &self,
        caller: &Caller,
        only: Option<&str>,
        action: Action,
    ) -> Result<Option<HashMap<String, String>>, ServiceError> {
        let db = self.store.db();
        let org_wide = self.authz.allows(&caller.principal, ORG_WIDE, action).await;
        if org_wide {
            return Ok(match only {
                Some(slug) => Some(repo::team_ids(db, &self.integrity, &[slug.to_owned()]).await?),
                None => None,
            });
        }
        let mut slugs = Vec::new();
        for binding in caller
            .principal
            .bindings
            .iter()
            .filter(|b| b.team != ORG_WIDE)
        {
            let wanted = only.is_none_or(|t| t == binding.team);
            if wanted
                && !slugs.contains(&binding.team)
                && self
                    .authz
                    .allows(&caller.principal, &binding.team, action)
                    .await
            {
                slugs.push(binding.team.clone());
            }
        }
        Ok(Some(repo::team_ids(db, &self.integrity, &slugs).await?))
    }

    pub async fn update_account(
        &self,
        caller: &Caller,
        allowed: &super::Allowed,
        patch: AccountPatch,
    ) -> Result<AccountView, ServiceError> {
        let (_, team) = allowed.for_action(Action::AccountUpdate)?;
        let (account_id, team) = (allowed.id(), team.to_owned());
        if patch.status == Some(AccountStatus::Archived) {
            return Err(ServiceError::Invalid(crate::domain::Invalid::new(
                "invalid_status",
                "archive an account with DELETE; status can be set to active or frozen",
            )));
        }
        let tx = self.store.begin_write().await?;
        let updated = match self
            .update_account_in(&*tx, caller, account_id, &team, patch, None)
            .await
        {
            Ok(updated) => updated,
            Err(err) => {
                drop(tx);
                if matches!(&err, ServiceError::Refused { code, .. } if *code == RELAX_REFUSED) {
                    let event = caller
                        .event("auth.denied")
                        .team(&team)
                        .target(target(account_id))
                        .outcome(crate::audit::Outcome::Denied)
                        .details(serde_json::json!({
                            "attempted": Action::AccessPolicy.as_str(),
                            "reason": RELAX_REFUSED,
                        }));
                    self.record_standalone(event).await;
                }
                return Err(err);
            }
        };
        tx.commit().await?;
        self.view(updated, team).await
    }

    /// Applies `patch` in the caller's transaction and records `account.update` there
    /// (naming the incident whose step changed it, if any).
    pub(crate) async fn update_account_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        caller: &Caller,
        account_id: &str,
        team: &str,
        patch: AccountPatch,
        incident: Option<&str>,
    ) -> Result<Account, ServiceError> {
        // Re-read inside the transaction so a concurrent archive is seen.
        let current = repo::find(db, &self.integrity, account_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Account))?;
        if current.status == AccountStatus::Archived.as_str() {
            return Err(archived());
        }
        let mut changed = Vec::new();
        let mut model = current.clone();
        if let Some(platform) = patch.platform {
            model.platform = platform.as_str().to_owned();
            changed.push("platform");
        }
        if let Some(handle) = patch.handle {
            model.handle = handle.as_str().to_owned();
            model.handle_key = Some(handle.key());
            changed.push("handle");
        }
        if let Some(login_url) = patch.login_url {
            model.login_url = login_url.map(|u| u.as_str().to_owned());
            changed.push("login_url");
        }
        if let Some(notes) = patch.notes {
            model.notes = notes.as_str().to_owned();
            changed.push("notes");
        }
        if let Some(status) = patch.status {
            model.status = status.as_str().to_owned();
            changed.push("status");
        }
        if let Some(access) = patch.access {
            model.access = access.as_str().to_owned();
            changed.push("access");
        }
        if let Some(needed) = patch.approvers_needed {
            model.approvers_needed = needed.get();
            changed.push("approvers_needed");
        }
        // Decided on the row as it is now; the caller of this function audits the refusal
        // once the transaction has ended.
        if relaxes(&current, &model) && !self.may(caller, team, Action::AccessPolicy).await {
            return Err(super::error::refused(RELAX_REFUSED, RELAX_MESSAGE));
        }
        model.updated_at = now();
        let updated = repo::update(db, &self.integrity, model)
            .await
            .map_err(duplicate)?;
        let mut details = serde_json::json!({
            "changed": changed,
            "status": updated.status,
            "access": updated.access,
            "approvers_needed": updated.approvers_needed,
        });
        if let Some(incident) = incident {
            details["incident"] = incident.into();
        }
        let event = caller
            .event("account.update")
            .target(target(account_id))
            .team(team)
            .details(details);
        crate::audit::append(db, event).await?;
        Ok(updated)
    }

    pub async fn archive_account(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<AccountView, ServiceError> {
        let (_, team) = self
            .account_for(caller, account_id, Action::AccountArchive)
            .await?;
        let tx = self.store.begin_write().await?;
        let current = repo::find(&*tx, &self.integrity, account_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Account))?;
        if current.status == AccountStatus::Archived.as_str() {
            return Err(archived());
        }
        let mut model = current;
        model.status = AccountStatus::Archived.as_str().to_owned();
        model.updated_at = now();
        let updated = repo::update(&*tx, &self.integrity, model).await?;
        crate::audit::append(
            &*tx,
            caller
                .event("account.archive")
                .target(target(account_id))
                .team(&team),
        )
        .await?;
        tx.commit().await?;
        self.view(updated, team).await
    }

    async fn view(&self, account: Account, team: String) -> Result<AccountView, ServiceError> {
        let mut facts = self.facts(std::slice::from_ref(&account.id)).await?;
        let facts = facts.remove(&account.id).unwrap_or_default();
        Ok(self.view_of(account, team, facts))
    }
}

const RELAX_REFUSED: &str = "relax_needs_security_admin";
const RELAX_MESSAGE: &str = "a manager may require approval (or a second approver), not lift it: a security admin relaxes an account's access policy";

/// Whether `after` asks less than `before`: approval lifted, or two approvers made one.
fn relaxes(before: &Account, after: &Account) -> bool {
    let locked = |a: &Account| a.access != "open";
    (locked(before) && !locked(after))
        || (locked(before) && locked(after) && after.approvers_needed < before.approvers_needed)
}

impl Core {
    /// The account whose access policy the caller may set either way: a security admin of
    /// its team, as a person (a service token is refused, 403 `sign_in_required`); each
    /// refusal audited, before anything the request carries is read.
    pub async fn allow_access_policy(
        &self,
        caller: &Caller,
        account_id: &str,
    ) -> Result<super::Allowed, ServiceError> {
        let allowed = self.allow(caller, account_id, Action::AccessPolicy).await?;
        if caller.principal.kind == crate::authn::PrincipalKind::Token {
            let event = caller
                .event("auth.denied")
                .team(&allowed.team)
                .target(target(account_id))
                .outcome(crate::audit::Outcome::Denied)
                .details(serde_json::json!({
                    "attempted": Action::AccessPolicy.as_str(),
                    "reason": "sign_in_required",
                }));
            self.record_standalone(event).await;
            return Err(super::error::refused(
                "sign_in_required",
                "an account's access policy is relaxed by a person signed in, not by a service token",
            ));
        }
        Ok(allowed)
    }

    /// Sets an account's access policy in either direction (a security admin, a person signed
    /// in recently: `allowed` decided for `access.policy`); audited as `account.update`.
    pub async fn set_access_policy(
        &self,
        caller: &Caller,
        allowed: &super::Allowed,
        access: crate::domain::access::AccessPolicy,
        needed: crate::domain::access::ApproversNeeded,
    ) -> Result<AccountView, ServiceError> {
        let (_, team) = allowed.for_action(Action::AccessPolicy)?;
        let team = team.to_owned();
        self.require_recent_auth(caller)?;
        let patch = AccountPatch {
            access: Some(access),
            approvers_needed: Some(needed),
            ..AccountPatch::default()
        };
        let tx = self.store.begin_write().await?;
        let updated = self
            .update_account_in(&*tx, caller, allowed.id(), &team, patch, None)
            .await?;
        tx.commit().await?;
        self.view(updated, team).await
    }
}

pub(crate) fn archived() -> ServiceError {
    ServiceError::Locked {
        code: "account_archived",
        message: "the account is archived".to_owned(),
    }
}

/// Refuses use of a frozen or archived account.
pub(crate) fn ensure_usable(account: &Account) -> Result<(), ServiceError> {
    match account.status.as_str() {
        "frozen" => Err(ServiceError::Locked {
            code: "account_frozen",
            message: "the account is frozen; a manager must unfreeze it first".to_owned(),
        }),
        "archived" => Err(archived()),
        _ => Ok(()),
    }
}
