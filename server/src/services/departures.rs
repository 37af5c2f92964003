//! Departures the IdP implies, and reviews. A member whose IdP groups no longer give them any
//! role (and who holds none from elsewhere) is seen at their next sign-in: their sessions,
//! member-bound tokens and IdP grants end at once, and `offboarding.on_groups_lost` decides
//! the rest: `offboard` (the same departure as every other path) or `review` (a security
//! admin offboards or keeps them from the Members page). A member idle for
//! `offboarding.idle_departure_days` gets a review too.

use super::offboarding::MemberView;
use super::rotation::TaskView;
use super::{Actor, Caller, Core, RequestMeta, ServiceError};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::{DepartureReason, Invalid, OffboardPolicy};
use crate::store::members::{self as members_repo, GrantRow, MemberRow, SOURCE_IDP};
use crate::store::reviews::{self as repo, KEPT};
use crate::store::{sessions, tokens, WriteTx};

/// What a security admin decides about a member under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewDecision {
    Offboard,
    Keep,
}

impl ReviewDecision {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim() {
            "offboard" => Ok(Self::Offboard),
            "keep" => Ok(Self::Keep),
            _ => Err(Invalid::new(
                "invalid_decision",
                "decision is offboard or keep",
            )),
        }
    }
}

/// The result of a review.
pub struct Reviewed {
    pub member: MemberView,
    /// `kept` or `offboarded`.
    pub state: &'static str,
    pub tasks: Vec<TaskView>,
}

/// Whether a sign-in whose groups give `bindings` means the member's groups were lost: they
/// had roles from the IdP, it gives none now, and they hold none from elsewhere.
pub fn groups_lost(before: &[GrantRow], bindings: &[(String, String)]) -> bool {
    bindings.is_empty()
        && before.iter().any(|g| g.source == SOURCE_IDP)
        && before.iter().all(|g| g.source == SOURCE_IDP)
}

const GROUPS_LOST_REASON: &str =
    "the identity provider no longer gives this member any group with a role in Keyward";

fn member_target(id: &str) -> String {
    format!("member:{id}")
}

fn no_open_review() -> ServiceError {
    ServiceError::Conflict {
        code: "no_open_review",
        message: "this member has no open review".to_owned(),
    }
}

impl Core {
    fn policy(&self) -> OffboardPolicy {
        OffboardPolicy::parse(&self.settings.rotation.offboard_policy)
            .unwrap_or(OffboardPolicy::Exposed)
    }

    /// In the sign-in's transaction (which it commits): the member's groups were lost. Ends
    /// their sessions, tokens and IdP grants, then offboards them or opens a review, as
    /// configured, audited as `member.groups_lost`. Returns the sign-in's refusal.
    pub(super) async fn on_groups_lost(
        &self,
        tx: WriteTx,
        member: &MemberRow,
        groups: &[String],
        meta: &RequestMeta,
    ) -> Result<ServiceError, ServiceError> {
        let actor = Actor {
            meta: meta.clone(),
            ..Actor::system()
        };
        let review = self.settings.offboarding.on_groups_lost == "review";
        members_repo::replace_grants(&*tx, &self.integrity, &member.id, SOURCE_IDP, &[]).await?;
        let mut details = serde_json::json!({
            "on_groups_lost": if review { "review" } else { "offboard" },
            "groups": groups.len(),
        });
        if review {
            let sessions = sessions::delete_for_member(&*tx, &member.id).await?;
            let revoked = tokens::revoke_for_member(&*tx, &self.integrity, &member.id).await?;
            // Under review, they hold no break-glass power: their releases end, and escrows
            // they keep a share of need a new ceremony.
            self.breakglass_departure(&*tx, &actor, &member.id).await?;
            details["access_requests_ended"] =
                self.end_access_of(&tx, &actor, &member.id).await?.into();
            let opened = repo::open(&*tx, &self.integrity, &member.id, "groups_lost").await?;
            details["sessions_revoked"] = sessions.into();
            details["tokens_revoked"] = revoked.into();
            details["review"] = opened.map(|r| r.id).into();
            let event = actor
                .event("member.groups_lost")
                .target(member_target(&member.id))
                .details(details);
            crate::audit::append(&*tx, event).await?;
        } else {
            let event = actor
                .event("member.groups_lost")
                .target(member_target(&member.id))
                .details(details);
            crate::audit::append(&*tx, event).await?;
            let reason = DepartureReason::parse(GROUPS_LOST_REASON)?;
            match self
                .depart_in(&tx, &actor, member, &reason, self.policy())
                .await
            {
                // Another sign-in of the same member got there first.
                Ok(_) | Err(ServiceError::Conflict { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        tx.commit().await?;
        let refused = super::login_refused(meta, &member_target(&member.id), "groups_lost");
        self.record_standalone(refused).await;
        Ok(ServiceError::SignIn {
            code: "groups_lost",
            message: if review {
                "your groups at the identity provider no longer give you a role in Keyward; a security admin will review your access"
            } else {
                "your groups at the identity provider no longer give you a role in Keyward, so you have been offboarded; ask a security admin"
            }
            .to_owned(),
        })
    }

    /// At sign-in, in its transaction: a member under review because their groups were lost
    /// stays out until a security admin decides (`under_review`, audited); an idle member's
    /// review closes itself, as they have come back (`member.review`, kept).
    pub(super) async fn review_at_sign_in(
        &self,
        tx: WriteTx,
        member: &MemberRow,
        meta: &RequestMeta,
    ) -> Result<Result<WriteTx, ServiceError>, ServiceError> {
        let Some(review) = repo::open_of(&*tx, &self.integrity, &member.id).await? else {
            return Ok(Ok(tx));
        };
        let subject = member_target(&member.id);
        if review.reason == "groups_lost" {
            drop(tx);
            self.record_standalone(super::login_refused(meta, &subject, "under_review"))
                .await;
            return Ok(Err(ServiceError::SignIn {
                code: "under_review",
                message: "a security admin is reviewing your access (your groups at the identity provider stopped giving you a role); ask them".to_owned(),
            }));
        }
        if repo::close(&*tx, &self.integrity, &review, KEPT, &subject).await? {
            let mut event = crate::audit::Event::new(subject.clone(), "member.review")
                .target(subject)
                .details(serde_json::json!({
                    "review": review.id,
                    "why": review.reason,
                    "decision": KEPT,
                    "by": "sign_in",
                }));
            event.ip = meta.ip.clone();
            event.request_id = meta.request_id.clone();
            crate::audit::append(&*tx, event).await?;
        }
        Ok(Ok(tx))
    }

    /// Refuses (and audits) a caller who may not decide reviews, before the body is read.
    pub async fn may_review(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        self.may_offboard(caller, id).await
    }

    /// A security admin's decision about a member under review: `offboard` departs them (with
    /// the configured policy and `reason`), `keep` closes the review. 409 `no_open_review`
    /// when there is none.
    pub async fn review_member(
        &self,
        caller: &Caller,
        id: &str,
        decision: ReviewDecision,
        reason: DepartureReason,
    ) -> Result<Reviewed, ServiceError> {
        self.authorize(
            caller,
            ORG_WIDE,
            Action::MemberOffboard,
            Some(&member_target(id)),
        )
        .await?;
        let actor = Actor::from(caller);
        let tx = self.store.begin_write().await?;
        let member = if crate::domain::is_id(id) {
            members_repo::find(&*tx, &self.integrity, id).await?
        } else {
            None
        };
        let member = member.ok_or(ServiceError::NotFound(crate::services::Missing::Member))?;
        if caller.principal.id == member.id {
            drop(tx);
            let event = caller
                .event("member.review")
                .target(member_target(&member.id))
                .outcome(crate::audit::Outcome::Denied)
                .details(serde_json::json!({ "reason": "self_review" }));
            self.record_standalone(event).await;
            return Err(super::error::refused(
                "self_review",
                "another security admin decides a review of you",
            ));
        }
        let review = repo::open_of(&*tx, &self.integrity, &member.id)
            .await?
            .ok_or_else(no_open_review)?;
        let (state, tasks) = match decision {
            ReviewDecision::Keep => {
                if !repo::close(&*tx, &self.integrity, &review, KEPT, &actor.subject).await? {
                    return Err(no_open_review());
                }
                (KEPT, Vec::new())
            }
            // The departure closes the review.
            ReviewDecision::Offboard => {
                let done = self
                    .depart_in(&tx, &actor, &member, &reason, self.policy())
                    .await?;
                (repo::OFFBOARDED, done.tasks)
            }
        };
        let event = caller
            .event("member.review")
            .target(member_target(&member.id))
            .justification(Some(reason.as_str()))
            .details(serde_json::json!({
                "review": review.id,
                "why": review.reason,
                "decision": state,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(Reviewed {
            member: self.member_view(&member.id).await?,
            state,
            tasks,
        })
    }

    /// Opens a review for each active member idle longer than
    /// `offboarding.idle_departure_days` (none when 0); returns how many were opened. Safe on
    /// every replica at once: each review opens under the audit chain's lock.
    pub async fn open_idle_reviews(&self) -> Result<usize, ServiceError> {
        let days = self.settings.offboarding.idle_departure_days;
        if days == 0 {
            return Ok(0);
        }
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
        let idle = members_repo::idle_since(self.store.db(), &self.integrity, before, 500).await?;
        let mut opened = 0;
        for member in idle {
            let tx = self.store.begin_write().await?;
            crate::store::audit::lock_head(&*tx).await?;
            // A member kept after a review is not asked about again until idle once more.
            if repo::latest_of(&*tx, &self.integrity, &member.id)
                .await?
                .and_then(|r| r.closed_at)
                .is_some_and(|closed| closed > before)
            {
                continue;
            }
            let Some(review) = repo::open(&*tx, &self.integrity, &member.id, "idle").await? else {
                continue;
            };
            let event = Actor::system()
                .event("member.review_open")
                .target(member_target(&member.id))
                .details(serde_json::json!({
                    "review": review.id,
                    "why": "idle",
                    "days": days,
                    "last_sign_in_at": member.last_sign_in_at,
                }));
            crate::audit::append(&*tx, event).await?;
            tx.commit().await?;
            opened += 1;
        }
        Ok(opened)
    }
}
