//! Access requests: time-boxed, approved access to the accounts under `approval`. A member
//! asks for some actions for some minutes with a reason; a manager of the account's team or a
//! security admin (never the requester, each signed in recently, two different people when
//! the account needs two) approves; the grant runs from the last approval. Every reveal,
//! check-out, password reveal and seed export on such an account goes through
//! [`Core::require_grant`], in the reveal's own transaction, and names the grant in its audit
//! event. Deny, revoke, cancel, the expiry job and a departure end a request; freezing the
//! account suspends its grants.

mod decide;

use super::{Caller, Core, ServiceError};
use crate::audit::Outcome;
use crate::authn::PrincipalKind;
use crate::authz::Action;
use crate::domain::access::{AccessMinutes, AccessState, GrantAction, GrantActions};
use crate::domain::Justification;
use crate::store::access::{self as repo, AccessFilter, AccessRow};
use crate::store::accounts::{self as accounts_repo, Account};
use crate::store::{new_id, now, WriteTx};

/// The most requests one listing returns.
pub const MAX_LIST: u64 = 200;

/// A validated request.
pub struct AccessInput {
    pub actions: GrantActions,
    pub minutes: AccessMinutes,
    pub reason: Justification,
}

/// A request as callers see it.
#[derive(Debug, Clone)]
pub struct AccessView {
    pub row: AccessRow,
    pub team: String,
    pub platform: String,
    pub handle: String,
    /// Its state now: an approved grant whose window has ended is `expired` even before the
    /// expiry job has recorded it.
    pub state: &'static str,
    /// Approved and live, but the account is frozen: the grant works again once it is not.
    pub suspended: bool,
    /// Who asked (their name or email, for people).
    pub requester_name: String,
}

/// A request the caller may act on for one action, decided (and a refusal audited).
pub struct AllowedRequest {
    pub row: AccessRow,
    pub account: Account,
    pub team: String,
}

/// What to list.
#[derive(Debug, Default)]
pub struct AccessQuery {
    pub state: Option<AccessState>,
    pub account: Option<String>,
    /// Only the caller's own requests.
    pub mine: bool,
    pub limit: u64,
}

fn target(id: &str) -> String {
    format!("access_request:{id}")
}

fn state_of(name: &str) -> &'static str {
    AccessState::parse(name).map_or("unknown", AccessState::as_str)
}

/// 403 `approval_required`: the message says how to ask.
fn approval_required(account_id: &str, action: &str) -> ServiceError {
    ServiceError::Refused {
        code: "approval_required",
        message: format!(
            "this account needs an approved access request for {action}: ask with POST /api/v1/access-requests {{\"account\":\"{account_id}\",\"actions\":[\"{action}\"],\"minutes\":30,\"reason\":\"…\"}}, or with “Ask for access” on the account's page"
        ),
    }
}

fn not_pending() -> ServiceError {
    super::error::conflict(
        "request_not_pending",
        "this request has been decided already",
    )
}

impl Core {
    /// The member the caller is or acts for (a token bound to a member), by id; `None` for
    /// the operator's command line and unbound tokens.
    async fn member_id_of(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        caller: &Caller,
    ) -> Result<Option<String>, ServiceError> {
        Ok(match caller.principal.kind {
            PrincipalKind::Member => Some(caller.principal.id.clone()),
            PrincipalKind::Token => {
                crate::store::tokens::find(db, &self.integrity, &caller.principal.id)
                    .await?
                    .and_then(|t| t.member_id)
            }
            PrincipalKind::Cli => None,
        })
    }

    /// The grant `action` on `account` runs under, decided in the action's own transaction:
    /// none is needed on an `open` account; under `approval`, the caller's live grant covering
    /// it, or 403 `approval_required` (the transaction ends and the refusal is audited). A
    /// frozen account's grants are suspended (423 `account_frozen`).
    pub(crate) async fn require_grant(
        &self,
        tx: WriteTx,
        caller: &Caller,
        account: &Account,
        team: &str,
        action: &'static str,
    ) -> Result<(WriteTx, Option<String>), ServiceError> {
        if account.access == "open" {
            return Ok((tx, None));
        }
        super::accounts::ensure_usable(account)?;
        let grant = match self.member_id_of(&*tx, caller).await? {
            Some(member) => repo::live_grants(&*tx, &self.integrity, &account.id, &member)
                .await?
                .into_iter()
                .filter(|g| g.covers(action))
                .max_by_key(|g| g.expires_at)
                .map(|g| g.id),
            None => None,
        };
        match grant {
            Some(grant) => Ok((tx, Some(grant))),
            None => {
                drop(tx);
                let event = caller
                    .event("auth.denied")
                    .team(team)
                    .target(format!("account:{}", account.id))
                    .outcome(Outcome::Denied)
                    .details(serde_json::json!({
                        "attempted": action,
                        "reason": "approval_required",
                    }));
                self.record_standalone(event).await;
                Err(approval_required(&account.id, action))
            }
        }
    }

    /// Asks for access to an account under `approval` (the caller's `access.request` right on
    /// it decided by the caller of this function, as `allowed`). Each action asked for must be
    /// one the caller's roles allow there; approvers are told through the `[[notify]]`
    /// webhooks, in the same transaction (the outbox).
    pub async fn request_access(
        &self,
        caller: &Caller,
        allowed: &super::Allowed,
        input: AccessInput,
    ) -> Result<AccessView, ServiceError> {
        let (account, team) = allowed.for_action(Action::AccessRequest)?;
        let member = self.may_ask(caller, &account.id, team, &input).await?;
        if account.status == "archived" {
            return Err(super::accounts::archived());
        }
        let tx = self.store.begin_write().await?;
        let view = self
            .ask_in(&tx, caller, &member, &account.id, team, &input, None)
            .await?;
        tx.commit().await?;
        self.notifier.wake.notify_one();
        Ok(view)
    }

    /// Refuses (and audits) an action asked for that the caller's roles do not allow on the
    /// account, and a caller who is no member; the member's id.
    async fn may_ask(
        &self,
        caller: &Caller,
        account_id: &str,
        team: &str,
        input: &AccessInput,
    ) -> Result<String, ServiceError> {
        for action in input.actions.iter() {
            let target = format!("account:{account_id}");
            self.authorize(caller, team, action_of(action), Some(&target))
                .await?;
        }
        self.member_id_of(self.store.db(), caller)
            .await?
            .ok_or_else(|| {
                super::error::refused(
                    "member_required",
                    "only a member can ask for access (sign in, or use a token bound to you)",
                )
            })
    }

    /// An incident step's `request_access`, in the step's transaction: asks for `actions` for
    /// `minutes` (at most `access.max_minutes`) with the incident as the reason, unless the
    /// account is open, the caller holds such a grant or has asked already (then nothing is
    /// written, and the summary says why).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn request_access_for_incident(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        account: &Account,
        team: &str,
        actions: &[String],
        minutes: u32,
        incident: &str,
    ) -> Result<serde_json::Value, ServiceError> {
        let not_needed = |why: &str| serde_json::json!({ "request": null, "why": why });
        if account.access == "open" {
            return Ok(not_needed("approval_not_required"));
        }
        let input = AccessInput {
            actions: GrantActions::parse(actions)?,
            minutes: AccessMinutes::parse(
                i64::from(minutes.min(self.settings.access.max_minutes)),
                self.settings.access.max_minutes,
            )?,
            reason: Justification::parse(&format!("incident {incident}"))?,
        };
        let member = self.may_ask(caller, &account.id, team, &input).await?;
        let held = repo::live_grants(&**tx, &self.integrity, &account.id, &member).await?;
        if input
            .actions
            .iter()
            .all(|a| held.iter().any(|g| g.covers(a.as_str())))
        {
            return Ok(not_needed("granted"));
        }
        match self
            .ask_in(
                tx,
                caller,
                &member,
                &account.id,
                team,
                &input,
                Some(incident),
            )
            .await
        {
            Ok(view) => {
                self.notifier.wake.notify_one();
                Ok(serde_json::json!({ "request": view.row.id, "state": view.state }))
            }
            Err(ServiceError::Conflict { code, .. }) if code == "request_pending" => {
                Ok(not_needed(code))
            }
            Err(other) => Err(other),
        }
    }

    /// Writes a pending request in `tx`, its `access.request` event and its notices; refuses
    /// an open account (409 `approval_not_required`) and a second waiting request of the
    /// member on it (409 `request_pending`), both read under the account's lock.
    #[allow(clippy::too_many_arguments)]
    async fn ask_in(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        member: &str,
        account_id: &str,
        team: &str,
        input: &AccessInput,
        incident: Option<&str>,
    ) -> Result<AccessView, ServiceError> {
        accounts_repo::lock(&**tx, account_id).await?;
        let account = accounts_repo::find(&**tx, &self.integrity, account_id)
            .await?
            .ok_or(ServiceError::NotFound(super::Missing::Account))?;
        if account.access == "open" {
            return Err(super::error::conflict(
                "approval_not_required",
                "this account is open: your role is enough, no request is needed",
            ));
        }
        let filter = AccessFilter {
            state: Some(repo::PENDING.to_owned()),
            account_id: Some(account.id.clone()),
            requester: Some(member.to_owned()),
            team_ids: None,
        };
        if !repo::list(&**tx, &self.integrity, &filter, 1)
            .await?
            .is_empty()
        {
            return Err(super::error::conflict(
                "request_pending",
                "you already have a request waiting on this account; cancel it to ask again",
            ));
        }
        let names = input.actions.names();
        let row = repo::insert(
            &**tx,
            &self.integrity,
            AccessRow {
                id: new_id(),
                account_id: account.id.clone(),
                requester: member.to_owned(),
                actions: serde_json::to_string(&names)
                    .map_err(|_| ServiceError::internal("actions do not serialise"))?,
                minutes: input.minutes.get() as i32,
                reason: input.reason.as_str().to_owned(),
                state: repo::PENDING.to_owned(),
                approvers_needed: account.approvers_needed.clamp(1, 2),
                approvals: "[]".to_owned(),
                starts_at: None,
                expires_at: None,
                created_at: now(),
                ended_at: None,
                ended_by: None,
                mac: None,
            },
        )
        .await?;
        let mut details = serde_json::json!({
            "account": account.id,
            "actions": names,
            "minutes": row.minutes,
            "approvers_needed": row.approvers_needed,
        });
        if let Some(incident) = incident {
            details["incident"] = incident.into();
        }
        let event = caller
            .event("access.request")
            .target(target(&row.id))
            .team(team)
            .justification(Some(input.reason.as_str()))
            .details(details);
        crate::audit::append(&**tx, event).await?;
        let view = self.view_in(&**tx, row, &account, team).await?;
        self.notify_approvers(tx, &view).await?;
        Ok(view)
    }

    /// Queues `access.requested` for every `[[notify]]` webhook in `tx`.
    async fn notify_approvers(&self, tx: &WriteTx, view: &AccessView) -> Result<(), ServiceError> {
        let notifier = &self.notifier;
        if notifier.hooks.is_empty() {
            return Ok(());
        }
        let body = serde_json::json!({
            "event": "access.requested",
            "request": {
                "id": view.row.id,
                "account": view.row.account_id,
                "team": view.team,
                "platform": view.platform,
                "handle": view.handle,
                "requester": view.row.requester,
                "requester_name": view.requester_name,
                "actions": view.row.action_names(),
                "minutes": view.row.minutes,
                "reason": view.row.reason,
                "approvers_needed": view.row.approvers_needed,
                "created_at": view.row.created_at,
            },
            "url": format!(
                "{}/access-requests/{}",
                self.settings.public_url.trim_end_matches('/'),
                view.row.id
            ),
        })
        .to_string();
        for hook in &notifier.hooks {
            crate::store::notifications::enqueue(
                &**tx,
                &self.integrity,
                &view.row.id,
                &hook.id,
                &body,
                &notifier.owner,
                now() + hook.lease(),
            )
            .await?;
        }
        Ok(())
    }

    /// Loads a request and decides whether the caller may do `action` in its account's team
    /// (a refusal is audited). An id that cannot be a request's is unknown without a query.
    pub async fn allow_request(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> Result<AllowedRequest, ServiceError> {
        let missing = ServiceError::NotFound(super::Missing::AccessRequest);
        if !crate::domain::is_id(id) {
            return Err(missing);
        }
        let db = self.store.db();
        let row = repo::find(db, &self.integrity, id).await?.ok_or(missing)?;
        let (account, team) = accounts_repo::find_with_team(db, &self.integrity, &row.account_id)
            .await?
            .ok_or(ServiceError::NotFound(super::Missing::Account))?;
        self.authorize(caller, &team, action, Some(&target(id)))
            .await?;
        Ok(AllowedRequest { row, account, team })
    }

    /// One request (readers of its account's team: `allowed` decided for `account.read`).
    pub async fn access_request(
        &self,
        allowed: AllowedRequest,
    ) -> Result<AccessView, ServiceError> {
        self.view_in(
            self.store.db(),
            allowed.row,
            &allowed.account,
            &allowed.team,
        )
        .await
    }

    /// Requests on the accounts the caller may read (or only the caller's own), newest first.
    pub async fn access_requests(
        &self,
        caller: &Caller,
        query: AccessQuery,
    ) -> Result<Vec<AccessView>, ServiceError> {
        let db = self.store.db();
        let mut filter = AccessFilter {
            state: query.state.map(|s| s.as_str().to_owned()),
            account_id: query.account,
            ..AccessFilter::default()
        };
        if query.mine {
            match self.member_id_of(db, caller).await? {
                Some(member) => filter.requester = Some(member),
                None => return Ok(Vec::new()),
            }
        } else {
            let teams = self.readable_teams(caller, None).await?;
            if teams.as_ref().is_some_and(|t| t.is_empty()) {
                return Ok(Vec::new());
            }
            filter.team_ids = teams.map(|t| t.into_keys().collect());
        }
        let rows = repo::list(db, &self.integrity, &filter, query.limit.clamp(1, MAX_LIST)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some((account, team)) =
                accounts_repo::find_with_team(db, &self.integrity, &row.account_id).await?
            else {
                continue;
            };
            out.push(self.view_in(db, row, &account, &team).await?);
        }
        Ok(out)
    }

    /// Pending requests the caller could decide on (not their own), for the header's badge;
    /// counted up to [`MAX_LIST`].
    pub async fn requests_to_decide(&self, caller: &Caller) -> Result<usize, ServiceError> {
        let db = self.store.db();
        // Most callers approve nowhere: decided from their bindings, without a query.
        let mut approves = false;
        for binding in &caller.principal.bindings {
            approves |= self
                .authz
                .allows(&caller.principal, &binding.team, Action::AccessApprove)
                .await;
        }
        if !approves {
            return Ok(0);
        }
        let teams = self
            .teams_allowing(caller, None, Action::AccessApprove)
            .await?;
        if teams.as_ref().is_some_and(|t| t.is_empty()) {
            return Ok(0);
        }
        let me = self.member_id_of(db, caller).await?;
        let filter = AccessFilter {
            state: Some(repo::PENDING.to_owned()),
            team_ids: teams.map(|t| t.into_keys().collect()),
            ..AccessFilter::default()
        };
        Ok(repo::list(db, &self.integrity, &filter, MAX_LIST)
            .await?
            .iter()
            .filter(|r| me.as_deref() != Some(r.requester.as_str()))
            .count())
    }

    async fn view_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        row: AccessRow,
        account: &Account,
        team: &str,
    ) -> Result<AccessView, ServiceError> {
        let at = now();
        let mut state = state_of(&row.state);
        if state == "approved" && !row.is_live_at(at) {
            state = "expired";
        }
        let requester_name = crate::store::members::find(db, &self.integrity, &row.requester)
            .await?
            .map(|m| m.name.or(m.email).unwrap_or_else(|| m.id.clone()))
            .unwrap_or_else(|| row.requester.clone());
        Ok(AccessView {
            suspended: state == "approved" && account.status == "frozen",
            state,
            team: team.to_owned(),
            platform: account.platform.clone(),
            handle: account.handle.clone(),
            requester_name,
            row,
        })
    }
}

/// Names the grant an action ran under in its audit event's details (`grant`).
pub(crate) fn name_grant(details: &mut serde_json::Value, grant: Option<String>) {
    if let Some(grant) = grant {
        details["grant"] = grant.into();
    }
}

/// The policy action behind a grantable action.
fn action_of(action: GrantAction) -> Action {
    match action {
        GrantAction::TotpReveal => Action::TotpReveal,
        GrantAction::HotpReveal => Action::HotpReveal,
        GrantAction::BackupCheckout => Action::BackupCheckout,
        GrantAction::PasswordReveal => Action::PasswordReveal,
        GrantAction::TotpExport => Action::TotpExport,
        GrantAction::HotpExport => Action::HotpExport,
    }
}
