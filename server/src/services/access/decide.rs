//! Deciding on access requests: approve, deny, revoke, cancel, and the ends no one asks for
//! (a departure, the window passing).

use super::{not_pending, target, AccessView, AllowedRequest};
use crate::audit::Outcome;
use crate::authn::PrincipalKind;
use crate::domain::access::AccessState;
use crate::domain::Justification;
use crate::services::{Caller, Core, ServiceError};
use crate::store::access::{self as repo, AccessRow, Approval};
use crate::store::accounts as accounts_repo;
use crate::store::{now, WriteTx};

/// Requests the expiry job ends per round.
const EXPIRE_ROUND: u64 = 100;

impl Core {
    /// Refuses (and audits) the requester deciding on their own request, and a caller who is
    /// not a person signed in: a service token cannot approve. The operator's command line
    /// decides as `cli`. Returns who decides.
    async fn decider(
        &self,
        caller: &Caller,
        allowed: &AllowedRequest,
        attempted: &'static str,
    ) -> Result<String, ServiceError> {
        let refuse = |reason: &'static str| {
            caller
                .event("auth.denied")
                .team(&allowed.team)
                .target(target(&allowed.row.id))
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "attempted": attempted, "reason": reason }))
        };
        let by = match caller.principal.kind {
            PrincipalKind::Member => caller.principal.id.clone(),
            PrincipalKind::Cli => crate::services::tokens::CLI_ACTOR.to_owned(),
            PrincipalKind::Token => {
                let bound = self.member_id_of(self.store.db(), caller).await?;
                let code = if bound.as_deref() == Some(allowed.row.requester.as_str()) {
                    "self_approval"
                } else {
                    "sign_in_required"
                };
                self.record_standalone(refuse(code)).await;
                return Err(if code == "self_approval" {
                    self_approval()
                } else {
                    crate::services::error::refused(
                        "sign_in_required",
                        "approvals are made by a person signed in (the dashboard, or kw), not by a service token",
                    )
                });
            }
        };
        if by == allowed.row.requester {
            self.record_standalone(refuse("self_approval")).await;
            return Err(self_approval());
        }
        self.require_recent_auth(caller)?;
        Ok(by)
    }

    /// Approves a request (the caller's `access.approve` right on it decided as `allowed`).
    /// With two approvers needed, the second must be someone else; the grant starts at the
    /// last approval and runs for the request's minutes.
    pub async fn approve_access(
        &self,
        caller: &Caller,
        allowed: &AllowedRequest,
        comment: Option<Justification>,
    ) -> Result<AccessView, ServiceError> {
        let by = self.decider(caller, allowed, "access.approve").await?;
        let tx = self.store.begin_write().await?;
        let before = self.locked(&tx, &allowed.row.id).await?;
        if !before.is_pending() {
            return Err(not_pending());
        }
        let mut approvals = before.approval_list();
        if approvals.iter().any(|a| a.by == by) {
            return Err(crate::services::error::conflict(
                "already_approved",
                "you have approved this request already; it needs a different second approver",
            ));
        }
        let at = now();
        approvals.push(Approval {
            by: by.clone(),
            at,
            comment: comment.as_ref().map(|c| c.as_str().to_owned()),
        });
        let mut after = before.clone();
        after.approvals = serde_json::to_string(&approvals)
            .map_err(|_| ServiceError::internal("approvals do not serialise"))?;
        // The account may have been raised to two approvers since the request was made.
        let current = accounts_repo::find(&*tx, &self.integrity, &before.account_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Account))?;
        let needed = before
            .approvers_needed
            .max(current.approvers_needed)
            .clamp(1, 2);
        after.approvers_needed = needed;
        let granted = approvals.len() >= usize::try_from(needed).unwrap_or(1);
        if granted {
            after.state = repo::APPROVED.to_owned();
            after.starts_at = Some(at);
            after.expires_at = Some(at + chrono::Duration::minutes(before.minutes.into()));
        }
        if !repo::change(&*tx, &self.integrity, &before, after.clone()).await? {
            return Err(changed_meanwhile());
        }
        let event = caller
            .event("access.approve")
            .target(target(&before.id))
            .team(&allowed.team)
            .justification(comment.as_ref().map(Justification::as_str))
            .details(serde_json::json!({
                "account": before.account_id,
                "requester": before.requester,
                "approvals": approvals.len(),
                "approvers_needed": needed,
                "granted": granted,
                "expires_at": after.expires_at,
            }));
        crate::audit::append(&*tx, event).await?;
        let view = self
            .view_in(&*tx, after, &allowed.account, &allowed.team)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// Denies a pending request (an approver; never the requester; a recent sign-in).
    pub async fn deny_access(
        &self,
        caller: &Caller,
        allowed: &AllowedRequest,
        comment: Option<Justification>,
    ) -> Result<AccessView, ServiceError> {
        self.decider(caller, allowed, "access.deny").await?;
        self.end_request(caller, allowed, AccessState::Denied, comment)
            .await
    }

    /// Ends a grant (or a pending request) at once: an approver or a security admin.
    pub async fn revoke_access(
        &self,
        caller: &Caller,
        allowed: &AllowedRequest,
        comment: Option<Justification>,
    ) -> Result<AccessView, ServiceError> {
        self.end_request(caller, allowed, AccessState::Revoked, comment)
            .await
    }

    /// The requester withdraws their request, or ends their grant early. Anyone else is
    /// refused (403 `not_requester`, audited).
    pub async fn cancel_access(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<AccessView, ServiceError> {
        let missing = ServiceError::NotFound(crate::services::Missing::AccessRequest);
        if !crate::domain::is_id(id) {
            return Err(missing);
        }
        let db = self.store.db();
        let row = repo::find(db, &self.integrity, id).await?.ok_or(missing)?;
        let (account, team) = accounts_repo::find_with_team(db, &self.integrity, &row.account_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Account))?;
        if self.member_id_of(db, caller).await?.as_deref() != Some(row.requester.as_str()) {
            let event = caller
                .event("auth.denied")
                .team(&team)
                .target(target(id))
                .outcome(Outcome::Denied)
                .details(
                    serde_json::json!({ "attempted": "access.cancel", "reason": "not_requester" }),
                );
            self.record_standalone(event).await;
            return Err(crate::services::error::refused(
                "not_requester",
                "only the member who asked can cancel a request; approvers revoke",
            ));
        }
        let allowed = AllowedRequest { row, account, team };
        self.end_request(caller, &allowed, AccessState::Cancelled, None)
            .await
    }

    /// Ends a pending or approved request as `state` (denied: pending only), audited.
    async fn end_request(
        &self,
        caller: &Caller,
        allowed: &AllowedRequest,
        state: AccessState,
        comment: Option<Justification>,
    ) -> Result<AccessView, ServiceError> {
        let tx = self.store.begin_write().await?;
        let before = self.locked(&tx, &allowed.row.id).await?;
        // A grant whose window has passed has ended already: the expiry job records it.
        let live = before.state == repo::APPROVED && before.expires_at.is_some_and(|e| e > now());
        let endable = match state {
            AccessState::Denied => before.is_pending(),
            _ => before.is_pending() || live,
        };
        if !endable {
            return Err(not_pending());
        }
        let at = now();
        let mut after = before.clone();
        after.state = state.as_str().to_owned();
        after.ended_at = Some(at);
        after.ended_by = Some(caller.principal.subject());
        if after.expires_at.is_some_and(|e| e > at) {
            after.expires_at = Some(at);
        }
        if !repo::change(&*tx, &self.integrity, &before, after.clone()).await? {
            return Err(changed_meanwhile());
        }
        let action = match state {
            AccessState::Denied => "access.deny",
            AccessState::Cancelled => "access.cancel",
            _ => "access.revoke",
        };
        let event = caller
            .event(action)
            .target(target(&before.id))
            .team(&allowed.team)
            .justification(comment.as_ref().map(Justification::as_str))
            .details(serde_json::json!({
                "account": before.account_id,
                "requester": before.requester,
                "was": before.state,
            }));
        crate::audit::append(&*tx, event).await?;
        let view = self
            .view_in(&*tx, after, &allowed.account, &allowed.team)
            .await?;
        tx.commit().await?;
        Ok(view)
    }

    /// The request, read again under its row lock in `tx` (verified).
    async fn locked(&self, tx: &WriteTx, id: &str) -> Result<AccessRow, ServiceError> {
        repo::lock(&**tx, id).await?;
        repo::find(&**tx, &self.integrity, id)
            .await?
            .ok_or(ServiceError::NotFound(
                crate::services::Missing::AccessRequest,
            ))
    }

    /// Ends a departing member's requests and grants in the departure's transaction
    /// (`access.revoke` for each, `why: offboarding`); returns how many.
    pub(crate) async fn end_access_of(
        &self,
        tx: &WriteTx,
        actor: &crate::services::Actor,
        member_id: &str,
    ) -> Result<usize, ServiceError> {
        let mut ended = 0;
        for listed in repo::open_of_member(&**tx, &self.integrity, member_id).await? {
            // Under the row's lock, as an approver's change is made: none slips between.
            let before = self.locked(tx, &listed.id).await?;
            if !(before.is_pending() || before.state == repo::APPROVED) {
                continue;
            }
            let at = now();
            let mut after = before.clone();
            after.state = AccessState::Revoked.as_str().to_owned();
            after.ended_at = Some(at);
            after.ended_by = Some(actor.subject.clone());
            if after.expires_at.is_some_and(|e| e > at) {
                after.expires_at = Some(at);
            }
            if !repo::change(&**tx, &self.integrity, &before, after).await? {
                return Err(changed_meanwhile());
            }
            let event = actor
                .event("access.revoke")
                .target(target(&before.id))
                .details(serde_json::json!({
                    "account": before.account_id,
                    "requester": before.requester,
                    "was": before.state,
                    "why": "offboarding",
                }));
            crate::audit::append(&**tx, event).await?;
            ended += 1;
        }
        Ok(ended)
    }

    /// Records the end of every grant whose window has passed and of every request left
    /// pending longer than `access.pending_hours`: `access.expire`, once each however many
    /// replicas run this at the same moment (the change is conditional on the state it read).
    /// Returns how many this process expired.
    pub async fn expire_access(&self) -> Result<usize, ServiceError> {
        let pending_before =
            now() - chrono::Duration::hours(i64::from(self.settings.access.pending_hours));
        let due = repo::due_to_expire(
            self.store.db(),
            &self.integrity,
            pending_before,
            EXPIRE_ROUND,
        )
        .await?;
        let actor = crate::services::Actor::system();
        let mut expired = 0;
        for row in due {
            let tx = self.store.begin_write().await?;
            let Some(before) = repo::find(&*tx, &self.integrity, &row.id).await? else {
                continue;
            };
            if before.state != row.state || before.mac != row.mac {
                continue;
            }
            let mut after = before.clone();
            after.state = AccessState::Expired.as_str().to_owned();
            after.ended_at = Some(now());
            after.ended_by = Some(actor.subject.clone());
            if !repo::change(&*tx, &self.integrity, &before, after).await? {
                continue;
            }
            let team = accounts_repo::find_with_team(&*tx, &self.integrity, &before.account_id)
                .await?
                .map(|(_, team)| team)
                .unwrap_or_default();
            let event = actor
                .event("access.expire")
                .target(target(&before.id))
                .team(&team)
                .details(serde_json::json!({
                    "account": before.account_id,
                    "requester": before.requester,
                    "was": before.state,
                    "expires_at": before.expires_at,
                }));
            crate::audit::append(&*tx, event).await?;
            tx.commit().await?;
            expired += 1;
        }
        Ok(expired)
    }
}

fn self_approval() -> ServiceError {
    crate::services::error::refused(
        "self_approval",
        "you cannot decide on your own request; another approver must",
    )
}

/// 409 `request_changed`: someone changed the request between its read and its write.
fn changed_meanwhile() -> ServiceError {
    crate::services::error::conflict(
        "request_changed",
        "this request changed while you acted on it; read it again",
    )
}
