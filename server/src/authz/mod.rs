//! Authorization: Casbin RBAC with domains (teams), policies from `policies/`, deny by default.
//! A principal's current bindings are synced into the enforcer before each decision.

use crate::domain::identity::Principal;
use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use std::collections::{BTreeSet, HashMap};
use tokio::sync::RwLock;

const MODEL: &str = include_str!("../../../policies/model.conf");
const POLICY: &str = include_str!("../../../policies/policy.csv");

pub use crate::domain::identity::{Role, ORG_WIDE};

/// Everything a principal may ask to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AccountRead,
    AccountCreate,
    AccountUpdate,
    AccountArchive,
    TotpSet,
    TotpReveal,
    TotpExport,
    HotpSet,
    HotpReveal,
    HotpExport,
    PasswordSet,
    PasswordReveal,
    BackupRead,
    BackupImport,
    BackupCheckout,
    BackupResult,
    /// Reporting the outcome of a code someone else holds.
    BackupResultOverride,
    BackupVerify,
    AuditRead,
    /// Listing members and what they were exposed to (org-wide).
    MemberRead,
    /// Offboarding a member (org-wide).
    MemberOffboard,
    /// Opening a rotation task by hand (reason `manual`).
    RotationOpen,
    /// Giving a rotation task to a member.
    RotationAssign,
    /// Accepting the risk of a rotation task instead of rotating.
    RotationDismiss,
    /// SCIM provisioning and deprovisioning (org-wide).
    ScimProvision,
    /// Setting up break-glass escrows (org-wide).
    EscrowManage,
    /// Seeing escrows and their custodians (org-wide).
    EscrowRead,
    /// Asking for a break-glass release of an escrow over the team (custodians may too).
    ReleaseRequest,
    /// Seeing an account's incidents and their timelines.
    IncidentRead,
    /// Starting, answering, resolving and cancelling incidents. Each action a step runs is
    /// decided on its own right as well.
    IncidentRun,
    /// Asking for time-boxed access to an account under `approval` (each action asked for is
    /// decided on its own right as well), and cancelling one's own request.
    AccessRequest,
    /// Approving, denying and revoking access requests on the team's accounts.
    AccessApprove,
    /// Relaxing an account's access policy (approval to open, two approvers to one); a
    /// manager may only tighten it (`account.update`).
    AccessPolicy,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AccountRead => "account.read",
            Action::AccountCreate => "account.create",
            Action::AccountUpdate => "account.update",
            Action::AccountArchive => "account.archive",
            Action::TotpSet => "totp.set",
            Action::TotpReveal => "totp.reveal",
            Action::TotpExport => "totp.export",
            Action::HotpSet => "hotp.set",
            Action::HotpReveal => "hotp.reveal",
            Action::HotpExport => "hotp.export",
            Action::PasswordSet => "password.set",
            Action::PasswordReveal => "password.reveal",
            Action::BackupRead => "backup.read",
            Action::BackupImport => "backup.import",
            Action::BackupCheckout => "backup.checkout",
            Action::BackupResult => "backup.result",
            Action::BackupResultOverride => "backup.result_override",
            Action::BackupVerify => "backup.verify",
            Action::AuditRead => "audit.read",
            Action::MemberRead => "member.read",
            Action::MemberOffboard => "member.offboard",
            Action::RotationOpen => "rotation.open",
            Action::RotationAssign => "rotation.assign",
            Action::RotationDismiss => "rotation.dismiss",
            Action::ScimProvision => "scim.provision",
            Action::EscrowManage => "escrow.manage",
            Action::EscrowRead => "escrow.read",
            Action::ReleaseRequest => "release.request",
            Action::IncidentRead => "incident.read",
            Action::IncidentRun => "incident.run",
            Action::AccessRequest => "access.request",
            Action::AccessApprove => "access.approve",
            Action::AccessPolicy => "access.policy",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("authorization policy error: {0}")]
pub struct AuthzError(String);

/// The Casbin enforcer behind a lock, and the decisions it has made.
pub struct Authorizer {
    enforcer: RwLock<Enforcer>,
    /// Decisions by (the principal's bindings, team, action). The policy is embedded and
    /// never changes while the process runs, and the bindings are part of the key (they are
    /// read afresh with every request), so an entry never goes stale: a revoked role or
    /// token changes the key, not the answer. Emptied when it grows past
    /// [`DECISION_CACHE_LIMIT`].
    decisions: std::sync::Mutex<HashMap<DecisionKey, bool>>,
}

/// A principal's bindings as sorted `(role, team)` pairs, the team asked about, the action.
type DecisionKey = (Vec<(Role, String)>, String, Action);

/// Entries kept before the decision cache starts again (distinct binding sets × teams ×
/// actions; a few thousand in a large organisation).
const DECISION_CACHE_LIMIT: usize = 50_000;

fn policy_lines() -> Vec<Vec<String>> {
    POLICY
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let fields: Vec<String> = l.split(',').map(|f| f.trim().to_owned()).collect();
            (fields.first().map(String::as_str) == Some("p")).then(|| fields[1..].to_vec())
        })
        .collect()
}

impl Authorizer {
    /// Builds the enforcer from the embedded model and policy.
    pub async fn new() -> Result<Self, AuthzError> {
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| AuthzError(e.to_string()))?;
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(|e| AuthzError(e.to_string()))?;
        enforcer
            .add_policies(policy_lines())
            .await
            .map_err(|e| AuthzError(e.to_string()))?;
        Ok(Self {
            enforcer: RwLock::new(enforcer),
            decisions: Default::default(),
        })
    }

    /// Whether `principal` may do `action` in `team` (or org-wide with [`ORG_WIDE`]).
    pub async fn allows(&self, principal: &Principal, team: &str, action: Action) -> bool {
        let mut bindings: Vec<(Role, String)> = principal
            .bindings
            .iter()
            .map(|b| (b.role, b.team.clone()))
            .collect();
        bindings.sort();
        bindings.dedup();
        let key = (bindings, team.to_owned(), action);
        if let Some(known) = self.cached(&key) {
            return known;
        }
        let allowed = self.enforce(principal, team, action).await;
        if let Ok(mut decisions) = self.decisions.lock() {
            if decisions.len() >= DECISION_CACHE_LIMIT {
                decisions.clear();
            }
            decisions.insert(key, allowed);
        }
        allowed
    }

    fn cached(&self, key: &DecisionKey) -> Option<bool> {
        self.decisions.lock().ok()?.get(key).copied()
    }

    /// Asks Casbin, after syncing the principal's bindings into its grouping lines.
    async fn enforce(&self, principal: &Principal, team: &str, action: Action) -> bool {
        let subject = principal.subject();
        let wanted: BTreeSet<Vec<String>> = principal
            .bindings
            .iter()
            .map(|b| vec![subject.clone(), b.role.as_str().to_owned(), b.team.clone()])
            .collect();
        {
            let enforcer = self.enforcer.read().await;
            if Self::held(&enforcer, &subject) == wanted {
                return Self::decide(&enforcer, &subject, team, action);
            }
        }
        let mut enforcer = self.enforcer.write().await;
        if Self::held(&enforcer, &subject) != wanted {
            let _ = enforcer
                .remove_filtered_grouping_policy(0, vec![subject.clone()])
                .await;
            if !wanted.is_empty()
                && enforcer
                    .add_grouping_policies(wanted.into_iter().collect())
                    .await
                    .is_err()
            {
                return false;
            }
        }
        Self::decide(&enforcer, &subject, team, action)
    }

    fn held(enforcer: &Enforcer, subject: &str) -> BTreeSet<Vec<String>> {
        enforcer
            .get_filtered_grouping_policy(0, vec![subject.to_owned()])
            .into_iter()
            .collect()
    }

    fn decide(enforcer: &Enforcer, subject: &str, team: &str, action: Action) -> bool {
        // An enforcement error is a denial.
        enforcer
            .enforce((subject, team, action.as_str()))
            .unwrap_or(false)
    }

    /// Roles granting `action`, from the policy (for documentation and tests).
    pub fn roles_for(action: Action) -> BTreeSet<Role> {
        policy_lines()
            .into_iter()
            .filter(|p| p.get(1).map(String::as_str) == Some(action.as_str()))
            .filter_map(|p| p.first().and_then(|r| Role::parse(r)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::{Binding, PrincipalKind};

    fn principal(bindings: &[(&str, Role)]) -> Principal {
        Principal {
            kind: PrincipalKind::Token,
            id: "t1".into(),
            name: "test".into(),
            email: None,
            bindings: bindings
                .iter()
                .map(|(team, role)| Binding {
                    team: (*team).into(),
                    role: *role,
                })
                .collect(),
        }
    }

    #[tokio::test]
    async fn cached_decisions_are_casbins_for_every_role_team_and_action_and_follow_bindings() {
        let (Ok(cached), Ok(fresh)) = (Authorizer::new().await, Authorizer::new().await) else {
            unreachable!("policy loads")
        };
        let actions = [
            Action::AccountRead,
            Action::AccountCreate,
            Action::TotpSet,
            Action::TotpReveal,
            Action::TotpExport,
            Action::HotpReveal,
            Action::AuditRead,
        ];
        let mut allowed = 0;
        for role in Role::ALL {
            for bound in ["marketing", ORG_WIDE] {
                let who = principal(&[(bound, role)]);
                for team in ["marketing", "sales", ORG_WIDE] {
                    for action in actions {
                        let casbin = fresh.enforce(&who, team, action).await;
                        // Asked twice: the second answer comes from the cache.
                        assert_eq!(cached.allows(&who, team, action).await, casbin);
                        assert_eq!(cached.allows(&who, team, action).await, casbin);
                        allowed += usize::from(casbin);
                    }
                }
            }
        }
        assert!(
            allowed > 10,
            "the matrix holds allows and denials: {allowed}"
        );
        // The bindings are the key: the same principal with a role taken away is refused.
        let manager = principal(&[("marketing", Role::Manager)]);
        assert!(cached.allows(&manager, "marketing", Action::TotpSet).await);
        let demoted = principal(&[("marketing", Role::Viewer)]);
        assert!(!cached.allows(&demoted, "marketing", Action::TotpSet).await);
        assert!(
            !cached
                .allows(&principal(&[]), "marketing", Action::TotpSet)
                .await
        );
    }

    #[tokio::test]
    async fn a_binding_holds_in_its_own_team_only_and_star_holds_everywhere() {
        let Ok(authz) = Authorizer::new().await else {
            unreachable!("policy loads")
        };
        let op = principal(&[("marketing", Role::Operator)]);
        assert!(authz.allows(&op, "marketing", Action::TotpReveal).await);
        assert!(!authz.allows(&op, "sales", Action::TotpReveal).await);
        assert!(!authz.allows(&op, "marketing", Action::TotpSet).await);
        let admin = principal(&[(ORG_WIDE, Role::SecurityAdmin)]);
        assert!(authz.allows(&admin, "sales", Action::TotpExport).await);
        assert!(authz.allows(&admin, ORG_WIDE, Action::AuditRead).await);
        assert!(!authz.allows(&admin, "sales", Action::TotpReveal).await);
    }

    #[tokio::test]
    async fn nothing_is_allowed_without_bindings_and_changed_bindings_apply_at_once() {
        let Ok(authz) = Authorizer::new().await else {
            unreachable!("policy loads")
        };
        assert!(
            !authz
                .allows(&principal(&[]), "marketing", Action::AccountRead)
                .await
        );
        assert!(
            authz
                .allows(
                    &principal(&[("marketing", Role::Manager)]),
                    "marketing",
                    Action::TotpSet
                )
                .await
        );
        // Same subject, binding reduced: the old role is gone.
        assert!(
            !authz
                .allows(
                    &principal(&[("marketing", Role::Viewer)]),
                    "marketing",
                    Action::TotpSet
                )
                .await
        );
        assert!(
            !authz
                .allows(&principal(&[]), "marketing", Action::AccountRead)
                .await
        );
    }

    #[tokio::test]
    async fn a_team_binding_does_not_grant_org_wide_actions() {
        let Ok(authz) = Authorizer::new().await else {
            unreachable!("policy loads")
        };
        let auditor = principal(&[("marketing", Role::Auditor)]);
        assert!(!authz.allows(&auditor, ORG_WIDE, Action::AuditRead).await);
        let custodian = principal(&[(ORG_WIDE, Role::Custodian)]);
        assert!(
            !authz
                .allows(&custodian, "marketing", Action::AccountRead)
                .await
        );
    }
}
