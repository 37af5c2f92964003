//! SCIM 2.0 provisioning (RFC 7643/7644) for the organisation's IdP, with a `scim` token:
//! every member is a SCIM User. Creating one provisions a member before their first sign-in
//! (linked at that sign-in); setting `active` to false, or deleting the user, offboards the
//! member through the same path as a security admin's departure.

use super::offboarding::Offboarded;
use super::{Actor, Caller, Core, ServiceError};
use crate::authz::{Action, ORG_WIDE};
use crate::domain::scim::{DisplayName, ExternalId, FilterAttribute, ScimFilter, UserName};
use crate::domain::{DepartureReason, Invalid, OffboardPolicy};
use crate::store::members::{self as repo, MemberRow, Profile, SOURCE_SCIM_DELETED};
use crate::store::WriteTx;

/// Why SCIM departures happen, in the audit trail and the report.
const SCIM_REASON: &str = "deprovisioned by the identity provider (SCIM)";
/// The most users one page returns.
pub const MAX_COUNT: usize = 1000;

/// A user as SCIM describes it, validated.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub user_name: UserName,
    pub external_id: Option<ExternalId>,
    pub display_name: Option<DisplayName>,
    pub active: bool,
}

/// A user's attributes as plain values, for PATCH to change before they are validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
}

impl Draft {
    pub fn of(member: &MemberRow) -> Self {
        Self {
            user_name: Some(user_name(member)),
            external_id: member.external_id.clone(),
            display_name: member.name.clone(),
            active: member.status == repo::ACTIVE,
        }
    }

    pub fn validate(self) -> Result<UserInput, Invalid> {
        let user_name = self
            .user_name
            .ok_or_else(|| Invalid::new("invalid_user_name", "userName is required"))?;
        Ok(UserInput {
            user_name: UserName::parse(&user_name)?,
            external_id: self
                .external_id
                .as_deref()
                .map(ExternalId::parse)
                .transpose()?,
            display_name: self
                .display_name
                .as_deref()
                .map(DisplayName::parse)
                .transpose()?,
            active: self.active,
        })
    }
}

/// One PATCH operation (RFC 7644 3.5.2), its value as sent.
#[derive(Debug, Clone)]
pub struct PatchOperation {
    pub op: String,
    pub path: Option<String>,
    pub value: Option<serde_json::Value>,
}

fn bad_patch(message: &str) -> Invalid {
    Invalid::new("invalid_patch", message.to_owned())
}

fn invalid_path() -> Invalid {
    Invalid::new(
        "invalid_path",
        "PATCH paths are userName, externalId, displayName or active",
    )
}

/// Sets one attribute of `draft` from a JSON value (`None` removes it).
fn set(draft: &mut Draft, path: &str, value: Option<&serde_json::Value>) -> Result<(), Invalid> {
    let name = path.rsplit_once(':').map_or(path, |(_, name)| name);
    let text = |v: Option<&serde_json::Value>| -> Result<Option<String>, Invalid> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad_patch("this attribute takes a string")),
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "username" => draft.user_name = text(value)?,
        "externalid" => draft.external_id = text(value)?,
        "displayname" => draft.display_name = text(value)?,
        "active" => {
            draft.active = match value {
                Some(serde_json::Value::Bool(b)) => *b,
                // Some IdPs send booleans as strings.
                Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
                Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
                None => return Err(bad_patch("active cannot be removed; set it to false")),
                Some(_) => return Err(bad_patch("active takes true or false")),
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

/// Applies PATCH operations to a user's attributes (all of them, or none).
pub fn apply_patch(mut draft: Draft, operations: &[PatchOperation]) -> Result<Draft, Invalid> {
    if operations.is_empty() || operations.len() > 100 {
        return Err(bad_patch("send 1 to 100 operations"));
    }
    for operation in operations {
        let op = operation.op.to_ascii_lowercase();
        match (op.as_str(), operation.path.as_deref()) {
            ("add" | "replace", Some(path)) => {
                let value = operation
                    .value
                    .as_ref()
                    .ok_or_else(|| bad_patch("add and replace need a value"))?;
                set(&mut draft, path, Some(value))?;
            }
            // No path: the value is an object of attributes (as Entra ID and Okta send).
            ("add" | "replace", None) => {
                let Some(serde_json::Value::Object(map)) = &operation.value else {
                    return Err(bad_patch(
                        "without a path, the value is an object of attributes",
                    ));
                };
                for (key, value) in map {
                    set(&mut draft, key, Some(value))?;
                }
            }
            ("remove", Some(path)) => set(&mut draft, path, None)?,
            ("remove", None) => return Err(Invalid::new("no_target", "remove needs a path")),
            _ => return Err(bad_patch("op is add, replace or remove")),
        }
    }
    Ok(draft)
}

/// The userName SCIM shows for a member: the one SCIM gave, else their email, else their
/// IdP subject.
pub fn user_name(member: &MemberRow) -> String {
    member
        .user_name
        .clone()
        .or_else(|| member.email.clone())
        .unwrap_or_else(|| member.subject.clone())
}

fn live(member: &MemberRow) -> bool {
    member.source.as_deref() != Some(SOURCE_SCIM_DELETED)
}

fn taken() -> ServiceError {
    ServiceError::Conflict {
        code: "uniqueness",
        message: "another user already has this userName".to_owned(),
    }
}

impl Core {
    /// Refuses (and audits) a caller who is not the IdP's provisioning token.
    pub async fn scim_allowed(
        &self,
        caller: &Caller,
        target: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::ScimProvision, target)
            .await
    }

    fn scim_policy(&self) -> OffboardPolicy {
        OffboardPolicy::parse(&self.settings.rotation.offboard_policy).unwrap_or_default()
    }

    /// Users matching `filter`, from `start` (1-based), at most `count`; and how many match.
    pub async fn scim_users(
        &self,
        filter: Option<&ScimFilter>,
        start: usize,
        count: usize,
    ) -> Result<(usize, Vec<MemberRow>), ServiceError> {
        // An organisation has hundreds of members, not millions: matching in memory keeps
        // the case-insensitive userName comparison the same on every database.
        let mut members: Vec<MemberRow> = repo::list(self.store.db(), &self.integrity)
            .await?
            .into_iter()
            .filter(live)
            .filter(|m| match filter {
                None => true,
                Some(f) => match f.attribute {
                    FilterAttribute::UserName => {
                        UserName::key(&user_name(m)) == UserName::key(&f.value)
                    }
                    FilterAttribute::ExternalId => m.external_id.as_deref() == Some(&f.value),
                    FilterAttribute::Id => m.id == f.value,
                },
            })
            .collect();
        members.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let total = members.len();
        let page = members
            .into_iter()
            .skip(start.max(1) - 1)
            .take(count.min(MAX_COUNT))
            .collect();
        Ok((total, page))
    }

    /// One user (not deleted).
    pub async fn scim_user(&self, id: &str) -> Result<MemberRow, ServiceError> {
        let found = if crate::domain::is_id(id) {
            repo::find(self.store.db(), &self.integrity, id).await?
        } else {
            None
        };
        found
            .filter(live)
            .ok_or(ServiceError::NotFound(crate::services::Missing::Member))
    }

    /// Whether another live member already is this user: the same userName, or (for a new
    /// user) an externalId that is a signed-in member's IdP subject. The IdP then finds that
    /// member with a filter instead of making a second one.
    async fn user_taken(
        &self,
        tx: &WriteTx,
        input: &UserInput,
        except: Option<&str>,
    ) -> Result<bool, ServiceError> {
        let key = UserName::key(input.user_name.as_str());
        let external = input.external_id.as_ref().map(ExternalId::as_str);
        Ok(repo::list(&**tx, &self.integrity)
            .await?
            .iter()
            .filter(|m| live(m) && Some(m.id.as_str()) != except)
            .any(|m| {
                UserName::key(&user_name(m)) == key
                    || (except.is_none()
                        && m.issuer != repo::SCIM_ISSUER
                        && external == Some(m.subject.as_str()))
            }))
    }

    /// Provisions a member (before their first sign-in).
    pub async fn scim_create(
        &self,
        caller: &Caller,
        input: UserInput,
    ) -> Result<MemberRow, ServiceError> {
        let actor = Actor::from(caller);
        let tx = self.store.begin_write().await?;
        // Creations queue on the audit chain's lock (PostgreSQL; SQLite has one writer), so
        // two at once cannot both find the userName free.
        crate::store::audit::lock_head(&*tx).await?;
        if self.user_taken(&tx, &input, None).await? {
            return Err(taken());
        }
        let member = repo::insert_provisioned(&*tx, &self.integrity, profile(&input)).await?;
        crate::audit::append(&*tx, user_event(&actor, "scim.create", &member, &input)).await?;
        if !input.active {
            self.scim_depart(&tx, &actor, &member).await?;
        }
        tx.commit().await?;
        self.scim_user(&member.id).await
    }

    /// Replaces a user's attributes; `active` going false offboards the member, going true
    /// makes a departed member active again. `action` names the audit event (`scim.replace`
    /// or `scim.patch`).
    pub async fn scim_replace(
        &self,
        caller: &Caller,
        member: MemberRow,
        input: UserInput,
        action: &'static str,
    ) -> Result<MemberRow, ServiceError> {
        let actor = Actor::from(caller);
        let tx = self.store.begin_write().await?;
        let current = live_member(&tx, &self.integrity, &member.id).await?;
        if self.user_taken(&tx, &input, Some(&current.id)).await? {
            return Err(taken());
        }
        let was_active = current.status == repo::ACTIVE;
        // Only a departure the IdP made can the IdP undo: a security admin's offboarding
        // stands whatever the IdP still says about the person.
        let scim_departure = current.departed_reason.as_deref() == Some(SCIM_REASON);
        let updated = repo::update_profile(&*tx, &self.integrity, current, profile(&input)).await?;
        crate::audit::append(&*tx, user_event(&actor, action, &updated, &input)).await?;
        match (was_active, input.active) {
            (true, false) => {
                self.scim_depart(&tx, &actor, &updated).await?;
            }
            (false, true) if scim_departure => {
                repo::reactivate(&*tx, &self.integrity, &updated.id).await?;
                let event = actor
                    .event("member.reactivate")
                    .target(format!("member:{}", updated.id))
                    .details(serde_json::json!({ "via": "scim" }));
                crate::audit::append(&*tx, event).await?;
            }
            (false, true) => {
                let event = actor
                    .event("member.reactivate")
                    .target(format!("member:{}", updated.id))
                    .outcome(crate::audit::Outcome::Denied)
                    .details(serde_json::json!({
                        "via": "scim",
                        "reason": "offboarded_in_keyward",
                    }));
                crate::audit::append(&*tx, event).await?;
            }
            _ => {}
        }
        tx.commit().await?;
        self.scim_user(&updated.id).await
    }

    /// Deletes a user: an active member departs first; the member stays in the database for
    /// the audit trail and reports, and is gone for SCIM.
    pub async fn scim_delete(
        &self,
        caller: &Caller,
        member: MemberRow,
    ) -> Result<(), ServiceError> {
        let actor = Actor::from(caller);
        let tx = self.store.begin_write().await?;
        let current = live_member(&tx, &self.integrity, &member.id).await?;
        if current.status == repo::ACTIVE {
            self.scim_depart(&tx, &actor, &current).await?;
        }
        repo::mark_scim_deleted(&*tx, &self.integrity, &current.id).await?;
        let event = actor
            .event("scim.delete")
            .target(format!("member:{}", current.id))
            .details(serde_json::json!({ "user_name": user_name(&current) }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn scim_depart(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        member: &MemberRow,
    ) -> Result<Offboarded, ServiceError> {
        let reason = DepartureReason::parse(SCIM_REASON)?;
        self.depart_in(tx, actor, member, &reason, self.scim_policy())
            .await
    }
}

/// A member read again in `tx` with their row locked: a concurrent departure is waited for
/// and seen.
async fn live_member(
    tx: &WriteTx,
    ig: &crate::store::Integrity,
    id: &str,
) -> Result<MemberRow, ServiceError> {
    repo::lock(&**tx, id).await?;
    repo::find(&**tx, ig, id)
        .await?
        .filter(live)
        .ok_or(ServiceError::NotFound(crate::services::Missing::Member))
}

/// The audit event of a SCIM change: identifiers only.
fn user_event(
    actor: &Actor,
    action: &'static str,
    member: &MemberRow,
    input: &UserInput,
) -> crate::audit::Event {
    actor
        .event(action)
        .target(format!("member:{}", member.id))
        .details(serde_json::json!({
            "user_name": input.user_name.as_str(),
            "external_id": input.external_id.as_ref().map(ExternalId::as_str),
            "active": input.active,
        }))
}

fn profile(input: &UserInput) -> Profile<'_> {
    Profile {
        user_name: input.user_name.as_str(),
        external_id: input.external_id.as_ref().map(ExternalId::as_str),
        display_name: input.display_name.as_ref().map(DisplayName::as_str),
        email: input.user_name.email(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> Draft {
        Draft {
            user_name: Some("a@example.com".into()),
            external_id: Some("ext".into()),
            display_name: Some("A".into()),
            active: true,
        }
    }

    fn op(op: &str, path: Option<&str>, value: Option<serde_json::Value>) -> PatchOperation {
        PatchOperation {
            op: op.into(),
            path: path.map(str::to_owned),
            value,
        }
    }

    #[test]
    fn patch_operations_change_the_named_attributes_only() {
        let out = apply_patch(
            draft(),
            &[
                op("Replace", Some("active"), Some(serde_json::json!(false))),
                op("remove", Some("displayName"), None),
            ],
        );
        assert_eq!(
            out,
            Ok(Draft {
                active: false,
                display_name: None,
                ..draft()
            })
        );
        let no_path = apply_patch(
            draft(),
            &[op(
                "replace",
                None,
                Some(serde_json::json!({"active": "False", "userName": "b"})),
            )],
        );
        assert_eq!(
            no_path.map(|d| (d.active, d.user_name)),
            Ok((false, Some("b".into())))
        );
    }

    #[test]
    fn malformed_patches_are_refused_whole() {
        for ops in [
            vec![],
            vec![op("move", Some("active"), Some(serde_json::json!(true)))],
            vec![op("replace", Some("emails"), Some(serde_json::json!([])))],
            vec![op("replace", Some("active"), Some(serde_json::json!(1)))],
            vec![op("add", Some("displayName"), None)],
            vec![op("remove", None, None)],
            vec![op("remove", Some("active"), None)],
            vec![op("replace", None, Some(serde_json::json!("x")))],
        ] {
            assert!(apply_patch(draft(), &ops).is_err(), "{ops:?}");
        }
    }
}
