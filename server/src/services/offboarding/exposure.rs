//! What a member was exposed to: the secrets they wrote, imported, exported, revealed, checked
//! out or were released (the exposure ledger), as they stand now, and, under the strict
//! policy, what they could still reach.

use super::*;
use crate::authz::{Action, ORG_WIDE};
use crate::domain::OffboardPolicy;
use crate::services::exposure::{facts_of, EXPOSING};
use crate::services::{Core, ServiceError};
use crate::store::accounts::{self as accounts_repo, AccountFilter};
use crate::store::audit as audit_repo;
use crate::store::backup::{self as backup_repo, state};
use crate::store::exposure::{self as ledger, ExposureRow};
use crate::store::members::{GrantRow, MemberRow};
use crate::store::{secrets, tokens};
use sea_orm::ConnectionTrait;
use std::collections::{BTreeMap, HashMap, HashSet};

/// An exposure item's kind for a secret version's kind.
fn item_kind(kind: &str) -> &'static str {
    match kind {
        "totp" => "totp_seed",
        "hotp" => "hotp_seed",
        _ => "password",
    }
}

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
        let mut recorded = HashSet::new();
        let mut keep = |item: Option<ExposureItem>, items: &mut Vec<ExposureItem>| {
            if let Some(item) = item {
                if seen.insert(same_secret(&item)) {
                    items.push(item);
                }
            }
        };
        let mut after = None;
        loop {
            let (rows, last) =
                ledger::of_actors(db, &self.integrity, &actors, after.as_ref(), 1000).await?;
            let Some(last) = last else { break };
            after = Some(last);
            for row in rows {
                recorded.insert(row.seq);
                keep(
                    self.still_exposed(db, &row, &mut lookups).await?,
                    &mut items,
                );
            }
        }
        // The audit events still present are read too: a ledger row deleted or changed in
        // the database (which its MAC cannot show for a deletion) is made up for by the event
        // that proves it, and reported.
        let mut after = 0;
        loop {
            let events = audit_repo::by_actors(db, &actors, &EXPOSING, after, 1000).await?;
            let Some(last) = events.last() else { break };
            after = last.seq;
            for event in events {
                if recorded.contains(&event.seq) {
                    continue;
                }
                let details: serde_json::Value =
                    serde_json::from_str(&event.details).unwrap_or_default();
                let facts = facts_of(db, &event.action, event.target.as_deref(), &details).await?;
                for fact in facts {
                    let row = fact.into_row(&event.actor, event.seq, event.at);
                    // Still in use, yet no verified ledger row says so: the row was deleted or
                    // changed (a row of a replaced secret may have been pruned: no report).
                    let found = self.still_exposed(db, &row, &mut lookups).await?;
                    if found.is_some() {
                        self.integrity
                            .report("exposure", format!("seq:{}", event.seq));
                    }
                    keep(found, &mut items);
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
            // Replaced only when a later generation exists (not on `superseded_at` alone).
            let newest = backup_repo::next_number(db, &account.id).await? - 1;
            if generation.account_id != account.id || newest > generation.generation {
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
            // Replaced only when a later version exists (not on `superseded_at` alone).
            let newest = secrets::latest_version(db, &account.id, &secret.kind).await?;
            if secret.account_id != account.id || newest.is_some_and(|v| v > secret.version) {
                return Ok(None);
            }
            // An HOTP code stays valid until it or a later one is used at the platform: once
            // a later code has been handed out (by the ledger, not the counter column), this
            // one is taken as passed.
            if let Some(counter) = row.counter {
                if ledger::later_hotp_code(db, &self.integrity, &secret.id, counter).await? {
                    return Ok(None);
                }
            }
            item_kind(&secret.kind)
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
                let kind = item_kind(&secret.kind);
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
