//! What a member was exposed to: the secrets they wrote, imported, exported, revealed, checked
//! out or were released (the exposure ledger), as they stand now, and, under the strict
//! policy, what they could still reach.

use super::*;
use crate::authz::{Action, ORG_WIDE};
use crate::domain::OffboardPolicy;
use crate::services::{Core, ServiceError};
use crate::store::accounts::{self as accounts_repo, AccountFilter};
use crate::store::backup::{self as backup_repo, state};
use crate::store::exposure::{self as ledger, ExposureRow};
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
            let rows = ledger::of_actors(db, &self.integrity, &actors, after, 1000).await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in rows {
                if let Some(item) = self.still_exposed(db, &row, &mut lookups).await? {
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

    /// The item a ledger row records, if its secret is still in use: a version replaced
    /// since, a generation superseded, a backup code reported `worked`, or an HOTP code a
    /// later one has passed no longer counts.
    async fn still_exposed(
        &self,
        db: &impl ConnectionTrait,
        row: &ExposureRow,
        lookups: &mut Lookups,
    ) -> Result<Option<ExposureItem>, ServiceError> {
        let Some(account) = lookups
            .account(db, &self.integrity, &row.account_id)
            .await?
        else {
            return Ok(None);
        };
        let kind = if row.secret_kind == ledger::BACKUP {
            let Some(generation) = backup_repo::generation(db, &row.secret_id).await? else {
                return Ok(None);
            };
            if generation.superseded_at.is_some() || generation.account_id != account.id {
                return Ok(None);
            }
            if let Some(position) = row.position {
                let code = backup_repo::code_at(db, &generation.id, position).await?;
                if code.is_none_or(|c| c.state == state::USED) {
                    return Ok(None);
                }
            }
            "backup_code"
        } else {
            let Some(secret) = secrets::find(db, &row.secret_id).await? else {
                return Ok(None);
            };
            if secret.superseded_at.is_some() || secret.account_id != account.id {
                return Ok(None);
            }
            // An HOTP code stays valid until a later one is used: once a later code has been
            // handed out, this one is passed.
            if let (Some(counter), Some(next)) = (row.counter, secret.hotp_counter) {
                if next > counter.saturating_add(1) {
                    return Ok(None);
                }
            }
            match secret.kind.as_str() {
                "totp" => "totp_seed",
                "hotp" => "hotp_seed",
                _ => "password",
            }
        };
        let mut item = lookups.item(&account, kind, &row.secret_id, &row.how);
        item.version = Some(row.version);
        item.position = row.position;
        item.at = Some(row.at);
        item.seq = Some(row.seq);
        Ok(Some(item))
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
