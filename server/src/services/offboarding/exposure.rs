//! What a member was exposed to: the secrets they revealed, exported, checked out or were
//! released, as they stand now and as far as the member could still reach them.

use super::*;
use crate::authz::{Action, ORG_WIDE};
use crate::domain::OffboardPolicy;
use crate::services::{Core, ServiceError};
use crate::store::accounts::{self as accounts_repo, AccountFilter};
use crate::store::audit::{self as audit_repo, AuditRow};
use crate::store::backup::{self as backup_repo, state};
use crate::store::members::{GrantRow, MemberRow};
use crate::store::{secrets, tokens};
use sea_orm::ConnectionTrait;
use std::collections::{BTreeMap, HashMap, HashSet};

impl Core {
    /// Computes a member's exposure in `db`.
    pub(super) async fn exposure_in(
        &self,
        db: &impl ConnectionTrait,
        member: &MemberRow,
        grants: &[GrantRow],
        policy: OffboardPolicy,
    ) -> Result<Vec<ExposureItem>, ServiceError> {
        let mut actors = vec![member_target(&member.id)];
        actors.extend(
            tokens::of_member(db, &self.integrity, &member.id)
                .await?
                .into_iter()
                .map(|t| format!("token:{}", t.id)),
        );
        let mut lookups = Lookups {
            accounts: HashMap::new(),
            slugs: accounts_repo::team_slugs(db, &self.integrity).await?,
        };
        let mut items: Vec<ExposureItem> = Vec::new();
        let mut seen = HashSet::new();
        let mut after = 0;
        loop {
            let rows = audit_repo::by_actors(db, &actors, &EXPOSING, after, 1000).await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in rows {
                let found = if row.action == "release.open" {
                    self.released_to(db, &row, &mut lookups).await?
                } else {
                    self.exposed_by(db, &row, &mut lookups)
                        .await?
                        .into_iter()
                        .collect()
                };
                for item in found {
                    if seen.insert(same_secret(&item)) {
                        items.push(item);
                    }
                }
            }
        }
        if policy == OffboardPolicy::Strict {
            let covered: HashSet<String> = items.iter().map(|i| i.secret.clone()).collect();
            for item in self.reachable(db, member, grants, &mut lookups).await? {
                if !covered.contains(&item.secret) {
                    items.push(item);
                }
            }
        }
        items.sort_by(|a, b| {
            (&a.platform, &a.handle, &a.kind, a.position).cmp(&(
                &b.platform,
                &b.handle,
                &b.kind,
                b.position,
            ))
        });
        Ok(items)
    }

    /// The secret one audit event exposed, if it is still in use: a version replaced since,
    /// a generation superseded, or a code reported `worked` no longer counts.
    pub(super) async fn exposed_by(
        &self,
        db: &impl ConnectionTrait,
        row: &AuditRow,
        lookups: &mut Lookups,
    ) -> Result<Option<ExposureItem>, ServiceError> {
        let Some(account_id) = row
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("account:"))
        else {
            return Ok(None);
        };
        let Some(account) = lookups.account(db, &self.integrity, account_id).await? else {
            return Ok(None);
        };
        let details: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
        let mut item = match row.action.as_str() {
            "totp.export" | "hotp.export" | "password.reveal" => {
                let Some(secret_id) = details["secret_id"].as_str() else {
                    return Ok(None);
                };
                let Some(secret) = secrets::find(db, secret_id).await? else {
                    return Ok(None);
                };
                if secret.superseded_at.is_some() || secret.account_id != account.id {
                    return Ok(None);
                }
                let (kind, how) = match row.action.as_str() {
                    "totp.export" => ("totp_seed", "export"),
                    "hotp.export" => ("hotp_seed", "export"),
                    _ => ("password", "reveal"),
                };
                let mut item = lookups.item(&account, kind, &secret.id, how);
                item.version = Some(secret.version);
                item
            }
            "backup.checkout" => {
                let (Some(number), Some(position)) = (
                    details["generation"]
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok()),
                    details["position"]
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok()),
                ) else {
                    return Ok(None);
                };
                let Some(generation) = backup_repo::by_number(db, &account.id, number).await?
                else {
                    return Ok(None);
                };
                if generation.superseded_at.is_some() {
                    return Ok(None);
                }
                let code = backup_repo::code_at(db, &generation.id, position).await?;
                if code.is_none_or(|c| c.state == state::USED) {
                    return Ok(None);
                }
                let mut item = lookups.item(&account, "backup_code", &generation.id, "checkout");
                item.version = Some(generation.generation);
                item.position = Some(position);
                item
            }
            _ => return Ok(None),
        };
        item.at = Some(row.at);
        item.seq = Some(row.seq);
        Ok(Some(item))
    }

    /// What a break-glass release handed to its requester and is still in use: the secret
    /// versions and backup-code generations it names that nothing has replaced since.
    pub(super) async fn released_to(
        &self,
        db: &impl ConnectionTrait,
        row: &AuditRow,
        lookups: &mut Lookups,
    ) -> Result<Vec<ExposureItem>, ServiceError> {
        let details: serde_json::Value = serde_json::from_str(&row.details).unwrap_or_default();
        let mut out = Vec::new();
        for released in details["released"].as_array().cloned().unwrap_or_default() {
            let Some(account) = released["account"].as_str() else {
                continue;
            };
            let Some(account) = lookups.account(db, &self.integrity, account).await? else {
                continue;
            };
            for id in released["ids"].as_array().cloned().unwrap_or_default() {
                let Some(id) = id.as_str() else { continue };
                let mut item = if let Some(secret) = secrets::find(db, id).await? {
                    if secret.superseded_at.is_some() {
                        continue;
                    }
                    let kind = match secret.kind.as_str() {
                        "totp" => "totp_seed",
                        "hotp" => "hotp_seed",
                        _ => "password",
                    };
                    let mut item = lookups.item(&account, kind, &secret.id, "break_glass");
                    item.version = Some(secret.version);
                    item
                } else {
                    let Some(generation) = backup_repo::current(db, &account.id).await? else {
                        continue;
                    };
                    if generation.id != id {
                        continue;
                    }
                    let mut item =
                        lookups.item(&account, "backup_code", &generation.id, "break_glass");
                    item.version = Some(generation.generation);
                    item
                };
                item.at = Some(row.at);
                item.seq = Some(row.seq);
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Every current secret of every account the member's grants let them see.
    pub(super) async fn reachable(
        &self,
        db: &impl ConnectionTrait,
        member: &MemberRow,
        grants: &[GrantRow],
        lookups: &mut Lookups,
    ) -> Result<Vec<ExposureItem>, ServiceError> {
        let principal = principal_of(member, grants);
        let team_ids: Option<Vec<String>> = if self
            .authz
            .allows(&principal, ORG_WIDE, Action::AccountRead)
            .await
        {
            None
        } else {
            let mut slugs = Vec::new();
            for binding in &principal.bindings {
                if self
                    .authz
                    .allows(&principal, &binding.team, Action::AccountRead)
                    .await
                {
                    slugs.push(binding.team.clone());
                }
            }
            if slugs.is_empty() {
                return Ok(Vec::new());
            }
            Some(
                accounts_repo::team_ids(db, &self.integrity, &slugs)
                    .await?
                    .into_keys()
                    .collect(),
            )
        };
        let filter = AccountFilter {
            team_ids,
            hide_archived: true,
            ..AccountFilter::default()
        };
        let accounts = accounts_repo::list(db, &self.integrity, &filter, MAX_REACH).await?;
        let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let mut by_account: BTreeMap<String, Vec<secrets::SecretRow>> = BTreeMap::new();
        for secret in secrets::current_of(db, &ids).await? {
            by_account
                .entry(secret.account_id.clone())
                .or_default()
                .push(secret);
        }
        let mut out = Vec::new();
        for account in accounts {
            for secret in by_account.remove(&account.id).unwrap_or_default() {
                let kind = match secret.kind.as_str() {
                    "totp" => "totp_seed",
                    "hotp" => "hotp_seed",
                    _ => "password",
                };
                let mut item = lookups.item(&account, kind, &secret.id, "could_reach");
                item.version = Some(secret.version);
                out.push(item);
            }
            if let Some(generation) = backup_repo::current(db, &account.id).await? {
                let mut item = lookups.item(&account, "backup_code", &generation.id, "could_reach");
                item.version = Some(generation.generation);
                out.push(item);
            }
        }
        Ok(out)
    }
}
