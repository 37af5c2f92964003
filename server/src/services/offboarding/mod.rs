//! Offboarding: a member departs (a security admin, the CLI or the IdP through SCIM, one code
//! path). Their sessions and bound tokens end at once, what they were exposed to is read from
//! the exposure ledger (see [`super::exposure`]), and one rotation task opens per exposed
//! account and kind of secret.

mod exposure;
use super::rotation::TaskView;
use super::{Actor, Caller, Core, ServiceError};
use crate::authn::{Binding, Principal, PrincipalKind};
use crate::authz::{Action, Role, ORG_WIDE};
use crate::domain::{DepartureReason, OffboardPolicy, RotationKind, RotationReason};
use crate::store::accounts::{self as accounts_repo, Account};
use crate::store::audit::{self as audit_repo, AuditFilter, AuditRow};
use crate::store::members::{self as repo, Departure, GrantRow, MemberRow};
use crate::store::rotation::{self as rotation_repo, NewTask};
use crate::store::{sessions, tokens, WriteTx};
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use std::collections::{BTreeMap, HashMap};

/// The most accounts a strict departure looks at.
const MAX_REACH: u64 = 10_000;

/// One secret a member saw (or, under the strict policy, could have reached): the wire type,
/// so what the API answers is what the service found.
pub use keyward_proto::members::ExposureItem;

/// The kind of rotation that covers an item.
pub fn rotation_kind(item: &ExposureItem) -> RotationKind {
    match item.kind.as_str() {
        "totp_seed" => RotationKind::Totp,
        "hotp_seed" => RotationKind::Hotp,
        "password" => RotationKind::Password,
        _ => RotationKind::BackupCodes,
    }
}

/// Two items about the same secret (the same code, for backup codes) are one.
fn same_secret(item: &ExposureItem) -> (String, Option<i32>) {
    (item.secret.clone(), item.position)
}

/// A member and their role grants.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member: MemberRow,
    pub grants: Vec<GrantRow>,
    /// The member's open review, if any (see `services::departures`).
    pub review: Option<crate::store::reviews::ReviewRow>,
}

/// The result of a departure.
pub struct Offboarded {
    pub member: MemberView,
    pub sessions_revoked: u64,
    pub tokens_revoked: u64,
    pub exposure: Vec<ExposureItem>,
    pub tasks: Vec<TaskView>,
}

/// The evidence of a finished offboarding.
pub struct OffboardingReport {
    pub member: MemberView,
    /// The `member.offboard` event.
    pub event: AuditRow,
    /// The exposure recorded at the departure.
    pub exposure: Vec<ExposureItem>,
    pub sessions_revoked: u64,
    pub tokens_revoked: u64,
    pub tasks: Vec<TaskView>,
    pub head_seq: i64,
    pub head_hash: String,
    pub generated_at: DateTime<Utc>,
}

/// The audit target naming a member; an id that cannot be one is named as such (never
/// quoted: it could be anything, of any length).
pub(crate) fn member_target(id: &str) -> String {
    if crate::domain::is_id(id) {
        format!("member:{id}")
    } else {
        "member:?".to_owned()
    }
}

fn already_departed() -> ServiceError {
    ServiceError::Conflict {
        code: "already_departed",
        message: "this member has already been offboarded".to_owned(),
    }
}

/// The principal a member's grants make (to decide what they could reach).
fn principal_of(member: &MemberRow, grants: &[GrantRow]) -> Principal {
    Principal {
        kind: PrincipalKind::Member,
        id: member.id.clone(),
        name: member.name.clone().unwrap_or_default(),
        email: member.email.clone(),
        bindings: grants
            .iter()
            .filter_map(|g| {
                Role::parse(&g.role).map(|role| Binding {
                    team: g.team.clone(),
                    role,
                })
            })
            .collect(),
    }
}

/// Accounts and team slugs looked up once per computation.
struct Lookups {
    accounts: HashMap<String, Option<Account>>,
    slugs: HashMap<String, String>,
}

impl Lookups {
    async fn account(
        &mut self,
        db: &impl ConnectionTrait,
        ig: &crate::store::Integrity,
        id: &str,
    ) -> Result<Option<Account>, ServiceError> {
        if !self.accounts.contains_key(id) {
            let found = accounts_repo::find(db, ig, id).await?;
            self.accounts.insert(id.to_owned(), found);
        }
        // Archived accounts are not rotated: nobody signs in to them any more.
        Ok(self
            .accounts
            .get(id)
            .cloned()
            .flatten()
            .filter(|a| a.status != "archived"))
    }

    fn item(&self, account: &Account, kind: &str, secret: &str, how: &str) -> ExposureItem {
        ExposureItem {
            account: account.id.clone(),
            team: self
                .slugs
                .get(&account.team_id)
                .cloned()
                .unwrap_or_default(),
            platform: account.platform.clone(),
            handle: account.handle.clone(),
            kind: kind.to_owned(),
            secret: secret.to_owned(),
            version: None,
            position: None,
            how: how.to_owned(),
            at: None,
            seq: None,
        }
    }
}

impl Core {
    /// Members (all, or those with `status`) and their grants; security admins and auditors.
    pub async fn list_members(
        &self,
        caller: &Caller,
        status: Option<&str>,
    ) -> Result<Vec<MemberView>, ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::MemberRead, None)
            .await?;
        if let Some(status) = status {
            if !matches!(status, repo::ACTIVE | repo::DEPARTED) {
                return Err(crate::domain::Invalid::new(
                    "invalid_status",
                    "status is active or departed",
                )
                .into());
            }
        }
        let db = self.store.db();
        let members = repo::list_by_status(db, &self.integrity, status).await?;
        let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
        let mut grants = repo::grants_of(db, &self.integrity, &ids).await?;
        let mut reviews: HashMap<String, crate::store::reviews::ReviewRow> =
            crate::store::reviews::all_open(db, &self.integrity, 10_000)
                .await?
                .into_iter()
                .map(|r| (r.member_id.clone(), r))
                .collect();
        Ok(members
            .into_iter()
            .map(|member| MemberView {
                grants: grants.remove(&member.id).unwrap_or_default(),
                review: reviews.remove(&member.id),
                member,
            })
            .collect())
    }

    /// Refuses (and audits) a caller who may not read members (or member `id`), before a
    /// query or body is looked at.
    pub async fn may_read_member(
        &self,
        caller: &Caller,
        id: Option<&str>,
    ) -> Result<(), ServiceError> {
        let target = id.map(member_target);
        self.authorize(caller, ORG_WIDE, Action::MemberRead, target.as_deref())
            .await
    }

    /// A member by id, once the caller may do `action` org-wide (a refusal is audited first).
    async fn member_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> Result<MemberView, ServiceError> {
        self.authorize(caller, ORG_WIDE, action, Some(&member_target(id)))
            .await?;
        self.member_view(id).await
    }

    pub(super) async fn member_view(&self, id: &str) -> Result<MemberView, ServiceError> {
        let db = self.store.db();
        let member = if crate::domain::is_id(id) {
            repo::find(db, &self.integrity, id).await?
        } else {
            None
        };
        let member = member.ok_or(ServiceError::NotFound(crate::services::Missing::Member))?;
        let grants = repo::grants(db, &self.integrity, &member.id).await?;
        let review = crate::store::reviews::open_of(db, &self.integrity, &member.id).await?;
        Ok(MemberView {
            member,
            grants,
            review,
        })
    }

    /// What a member saw (or, with `strict`, could also reach), from the exposure ledger.
    pub async fn member_exposure(
        &self,
        caller: &Caller,
        id: &str,
        policy: OffboardPolicy,
    ) -> Result<(MemberView, Vec<ExposureItem>), ServiceError> {
        let view = self.member_for(caller, id, Action::MemberRead).await?;
        let items = self
            .exposure_in(self.store.db(), &view.member, &view.grants, policy)
            .await?;
        Ok((view, items))
    }

    /// Refuses (and audits) a caller who may not offboard, before the body is read.
    pub async fn may_offboard(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        self.authorize(
            caller,
            ORG_WIDE,
            Action::MemberOffboard,
            Some(&member_target(id)),
        )
        .await
    }

    /// Offboards a member (security admin; see [`Core::may_offboard`]).
    pub async fn offboard_member(
        &self,
        caller: &Caller,
        id: &str,
        reason: DepartureReason,
        policy: OffboardPolicy,
    ) -> Result<Offboarded, ServiceError> {
        self.depart(&Actor::from(caller), id, reason, policy).await
    }

    /// The departure itself, for every path (API, dashboard, CLI, SCIM): see
    /// [`Core::depart_in`]; 404 for an unknown member, 409 `already_departed` for one who left.
    pub async fn depart(
        &self,
        actor: &Actor,
        id: &str,
        reason: DepartureReason,
        policy: OffboardPolicy,
    ) -> Result<Offboarded, ServiceError> {
        let tx = self.store.begin_write().await?;
        let member = if crate::domain::is_id(id) {
            repo::find(&*tx, &self.integrity, id).await?
        } else {
            None
        };
        let member = member.ok_or(ServiceError::NotFound(crate::services::Missing::Member))?;
        let done = self.depart_in(&tx, actor, &member, &reason, policy).await?;
        tx.commit().await?;
        Ok(Offboarded {
            member: self.member_view(&member.id).await?,
            ..done
        })
    }

    /// In `tx`: the member is marked departed (only once, however many ask at the same
    /// moment: the second gets 409 `already_departed`), their sessions end, their tokens are
    /// revoked, the exposure is computed and recorded in `member.offboard`, and a rotation
    /// task opens per exposed account and kind. The returned `member` is as it was before.
    pub(crate) async fn depart_in(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        member: &MemberRow,
        reason: &DepartureReason,
        policy: OffboardPolicy,
    ) -> Result<Offboarded, ServiceError> {
        let departed = repo::depart(
            &**tx,
            &self.integrity,
            &member.id,
            Departure {
                reason: reason.as_str(),
                by: &actor.subject,
                policy: policy.as_str(),
            },
        )
        .await?;
        if !departed {
            return Err(already_departed());
        }
        let sessions_revoked = sessions::delete_for_member(&**tx, &member.id).await?;
        let tokens_revoked = tokens::revoke_for_member(&**tx, &self.integrity, &member.id).await?;
        // A review waiting for this member is answered by the departure.
        if let Some(review) =
            crate::store::reviews::open_of(&**tx, &self.integrity, &member.id).await?
        {
            crate::store::reviews::close(
                &**tx,
                &self.integrity,
                &review,
                crate::store::reviews::OFFBOARDED,
                &actor.subject,
            )
            .await?;
        }
        self.breakglass_departure(&**tx, actor, &member.id).await?;
        // Their access requests and grants end with them (`access.revoke`, each audited).
        self.end_access_of(tx, actor, &member.id).await?;
        let grants = repo::grants(&**tx, &self.integrity, &member.id).await?;
        let exposure = self.exposure_in(&**tx, member, &grants, policy).await?;
        let target = member_target(&member.id);
        if sessions_revoked > 0 {
            let event = actor
                .event("session.revoke")
                .target(target.clone())
                .details(serde_json::json!({ "sessions": sessions_revoked, "why": "offboarding" }));
            crate::audit::append(&**tx, event).await?;
        }
        let mut groups: BTreeMap<(String, RotationKind), &ExposureItem> = BTreeMap::new();
        for item in &exposure {
            groups
                .entry((item.account.clone(), rotation_kind(item)))
                .or_insert(item);
        }
        let mut tasks = Vec::new();
        for ((account_id, kind), item) in groups {
            let departure = RotationReason::Departure.as_str();
            if rotation_repo::find_open(
                &**tx,
                &self.integrity,
                &account_id,
                kind.as_str(),
                departure,
                Some(&member.id),
            )
            .await?
            .is_some()
            {
                continue;
            }
            let backup = kind == RotationKind::BackupCodes;
            let new = NewTask {
                account_id: &account_id,
                kind: kind.as_str(),
                reason: departure,
                secret_id: (!backup).then_some(item.secret.as_str()),
                generation_id: backup.then_some(item.secret.as_str()),
                member_id: Some(&member.id),
                due_at: self.rotation_due(kind),
                opened_by: &actor.subject,
            };
            let task = self
                .open_rotation_task(&**tx, actor, &item.team, new)
                .await?;
            tasks.push(TaskView {
                task,
                team: item.team.clone(),
                platform: item.platform.clone(),
                handle: item.handle.clone(),
            });
        }
        let event = actor
            .event("member.offboard")
            .target(target)
            .justification(Some(reason.as_str()))
            .details(serde_json::json!({
                "policy": policy.as_str(),
                "email": member.email,
                "sessions_revoked": sessions_revoked,
                "tokens_revoked": tokens_revoked,
                "exposure": exposure,
                "rotation_tasks": tasks.iter().map(|t| t.task.id.clone()).collect::<Vec<_>>(),
            }));
        crate::audit::append(&**tx, event).await?;
        Ok(Offboarded {
            member: MemberView {
                member: member.clone(),
                grants,
                review: None,
            },
            sessions_revoked,
            tokens_revoked,
            exposure,
            tasks,
        })
    }

    /// The evidence of a departure: who, when and why, the exposure recorded then (with its
    /// audit sequence numbers), each task's state now, and the audit chain head.
    pub async fn offboarding_report(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<OffboardingReport, ServiceError> {
        let member = self.member_for(caller, id, Action::MemberRead).await?;
        let db = self.store.db();
        let filter = AuditFilter {
            target: Some(member_target(&member.member.id)),
            action: Some("member.offboard".to_owned()),
            outcome: Some("success".to_owned()),
            ..AuditFilter::default()
        };
        // The latest departure (a member re-activated by the IdP may have left twice).
        let event =
            audit_repo::latest(db, &filter)
                .await?
                .ok_or_else(|| ServiceError::Conflict {
                    code: "not_offboarded",
                    message: "this member has not been offboarded".to_owned(),
                })?;
        let details: serde_json::Value = serde_json::from_str(&event.details).unwrap_or_default();
        let exposure: Vec<ExposureItem> =
            serde_json::from_value(details["exposure"].clone()).unwrap_or_default();
        let (head_seq, head_hash) = audit_repo::head(db).await?.unwrap_or_default();
        Ok(OffboardingReport {
            tasks: self.tasks_of_member(&member.member.id).await?,
            sessions_revoked: details["sessions_revoked"].as_u64().unwrap_or(0),
            tokens_revoked: details["tokens_revoked"].as_u64().unwrap_or(0),
            member,
            event,
            exposure,
            head_seq,
            head_hash,
            generated_at: Utc::now(),
        })
    }
}
