//! Break-glass escrows (the ceremony): a security admin sets up an escrow for some teams; its
//! X25519 key is split k-of-n, each custodian's share is age-encrypted to them and returned
//! once, or kept sealed for them to pick up once; only fingerprints stay. Every DEK in the
//! escrow's teams is sealed to its public key, now and whenever a new version is written.

use super::{Actor, Caller, Core, ServiceError};
use crate::authz::{Action, ORG_WIDE};
use crate::crypto::escrow::{is_age_recipient, seal_to, EscrowKey};
use crate::domain::share::ShareText;
use crate::domain::{Invalid, TeamSlug};
use crate::store::escrow::{self as repo, CustodianRow, EscrowRow};
use crate::store::{accounts as accounts_repo, backup as backup_repo, new_id, now, secrets};
use base64::Engine;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The key a share waiting for pickup is sealed under.
pub(crate) const PICKUP_PURPOSE: &str = "keyward/v1/escrow-share";

/// A validated escrow request. Custodians are named, never given keys: each is a member who
/// enrolled their own age recipient (or picks their share up after a fresh sign-in).
#[derive(Debug, Clone)]
pub struct EscrowInput {
    pub name: String,
    /// Team slugs, or `*` alone.
    pub teams: Vec<String>,
    pub threshold: u8,
    /// Member ids or emails, as given (resolved to distinct active members at the ceremony).
    pub custodians: Vec<String>,
    pub waiting_period_minutes: u32,
    pub release_ttl_minutes: u32,
}

fn bad(code: &'static str, message: &str) -> Invalid {
    Invalid::new(code, message.to_owned())
}

/// The waiting period when the request names none: long enough for a custodian or a security
/// admin to notice and veto a release nobody expected.
pub const DEFAULT_WAITING_MINUTES: i64 = 15;

impl EscrowInput {
    /// Checks the request: 2 ≤ k ≤ n ≤ 16, known shapes of everything. `recipients` says
    /// whether the request named an age key for a custodian: refused, since a custodian's key
    /// must be the one they enrolled themselves.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        name: &str,
        teams: &[String],
        threshold: i64,
        custodians: Vec<String>,
        recipients: bool,
        waiting_period_minutes: Option<i64>,
        release_ttl_minutes: Option<i64>,
    ) -> Result<Self, Invalid> {
        if recipients {
            return Err(bad(
                "recipient_from_operator",
                "custodians enrol their own age key (PUT /api/v1/me/age-recipient); the ceremony names members only",
            ));
        }
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(bad("invalid_name", "the name is 1 to 100 characters"));
        }
        let mut slugs = Vec::new();
        for team in teams {
            let team = team.trim();
            let slug = if team == ORG_WIDE {
                ORG_WIDE.to_owned()
            } else {
                TeamSlug::parse(team)?.as_str().to_owned()
            };
            if !slugs.contains(&slug) {
                slugs.push(slug);
            }
        }
        if slugs.is_empty() || (slugs.len() > 1 && slugs.iter().any(|s| s == ORG_WIDE)) {
            return Err(bad(
                "invalid_teams",
                "name one or more teams, or [\"*\"] alone",
            ));
        }
        let n = custodians.len();
        if !(2..=16).contains(&n) || !(2..=n as i64).contains(&threshold) {
            return Err(bad(
                "invalid_threshold",
                "threshold and custodians must satisfy 2 ≤ k ≤ n ≤ 16",
            ));
        }
        let mut named: Vec<String> = Vec::new();
        for raw in custodians {
            let who = raw.trim().to_lowercase();
            if who.is_empty() || who.len() > 320 || who.chars().any(char::is_control) {
                return Err(bad(
                    "invalid_custodian",
                    "name each custodian by member id or email",
                ));
            }
            if named.contains(&who) {
                return Err(bad("duplicate_custodian", "each custodian appears once"));
            }
            named.push(who);
        }
        let waiting = waiting_period_minutes.unwrap_or(DEFAULT_WAITING_MINUTES);
        let ttl = release_ttl_minutes.unwrap_or(60);
        if !(0..=10_080).contains(&waiting) {
            return Err(bad(
                "invalid_waiting_period",
                "waiting_period_minutes is 0 to 10080 (a week)",
            ));
        }
        if !(5..=1_440).contains(&ttl) {
            return Err(bad(
                "invalid_release_ttl",
                "release_ttl_minutes is 5 to 1440 (a day)",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            teams: slugs,
            threshold: threshold as u8,
            custodians: named,
            waiting_period_minutes: waiting as u32,
            release_ttl_minutes: ttl as u32,
        })
    }
}

/// An escrow as callers see it.
#[derive(Debug, Clone)]
pub struct EscrowView {
    pub escrow: EscrowRow,
    pub teams: Vec<String>,
    pub custodians: Vec<CustodianRow>,
}

/// A share handed to its custodian: age-encrypted to the recipient they enrolled, or plain
/// (after their own fresh sign-in).
pub enum Handed {
    Age(String),
    Plain(Zeroizing<String>),
}

/// A short fingerprint of an age recipient, for the audit trail.
pub fn recipient_fingerprint(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.trim().as_bytes())[..8])
}

/// What owns a DEK: a secret version (`secret`) or a backup-code generation (`backup`), with
/// its DEK as stored (KEK-wrapped).
pub(crate) struct Owner<'a> {
    pub account_id: &'a str,
    pub kind: &'static str,
    pub id: &'a str,
    pub wrapped_dek: &'a [u8],
    pub kek_id: &'a str,
}

/// The AAD that binds a sealed DEK to its escrow and owner.
pub fn seal_aad(escrow_id: &str, owner_kind: &str, owner_id: &str) -> String {
    format!("keyward/v1/escrow/{escrow_id}/{owner_kind}/{owner_id}")
}

fn fingerprint(share: &[u8]) -> String {
    hex::encode(Sha256::digest(share))
}

pub(crate) fn teams_of(escrow: &EscrowRow) -> Vec<String> {
    serde_json::from_str(&escrow.teams).unwrap_or_default()
}

pub(crate) fn covers(escrow: &EscrowRow, team: &str) -> bool {
    teams_of(escrow).iter().any(|t| t == ORG_WIDE || t == team)
}

/// A stored X25519 public key (base64), or `None` when it is not one.
pub(crate) fn key_bytes(raw: &str) -> Option<[u8; 32]> {
    base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
}

/// A key Keyward stored itself; one it cannot read is the server's fault, never the caller's.
pub(crate) fn stored_key(raw: &str, what: &str) -> Result<[u8; 32], ServiceError> {
    key_bytes(raw).ok_or_else(|| ServiceError::internal(format!("unreadable {what}")))
}

fn public_key(escrow: &EscrowRow) -> Result<[u8; 32], ServiceError> {
    stored_key(&escrow.public_key, "escrow key")
}

fn seal_error(err: crate::crypto::escrow::EscrowError) -> ServiceError {
    ServiceError::internal(err.to_string())
}

impl Core {
    /// Refuses (and audits) a caller who may not set up escrows, before the body is read.
    pub async fn may_manage_escrows(&self, caller: &Caller) -> Result<(), ServiceError> {
        self.authorize(caller, ORG_WIDE, Action::EscrowManage, None)
            .await
    }

    /// The members named as custodians: distinct, active, each found once (by id or email).
    async fn resolve_custodians(
        &self,
        named: &[String],
    ) -> Result<Vec<crate::store::members::MemberRow>, ServiceError> {
        let db = self.store.db();
        let mut members: Vec<crate::store::members::MemberRow> = Vec::new();
        for who in named {
            let found = if crate::domain::is_id(who) {
                crate::store::members::find(db, &self.integrity, who)
                    .await?
                    .into_iter()
                    .collect()
            } else {
                crate::store::members::find_by_email(db, &self.integrity, who).await?
            };
            let mut active: Vec<_> = found.into_iter().filter(|m| m.is_active()).collect();
            let member = match active.len() {
                1 => active.remove(0),
                0 => {
                    return Err(ServiceError::Invalid(bad(
                        "unknown_custodian",
                        "each custodian is an active member, named by id or email",
                    )))
                }
                _ => {
                    return Err(ServiceError::Invalid(bad(
                        "ambiguous_custodian",
                        "an email names several members; name that custodian by member id",
                    )))
                }
            };
            if members.iter().any(|m| m.id == member.id) {
                return Err(ServiceError::Invalid(bad(
                    "duplicate_custodian",
                    "each custodian appears once",
                )));
            }
            members.push(member);
        }
        Ok(members)
    }

    /// The ceremony, in one transaction with `escrow.create`: the X25519 key is made, split
    /// k-of-n and dropped (zeroised) before this returns. Each share waits, sealed, for its
    /// custodian to fetch it once; the answer holds none. The escrow is `pending` until every
    /// custodian has confirmed their share; only then is anything sealed to it.
    pub async fn create_escrow(
        &self,
        caller: &Caller,
        input: EscrowInput,
    ) -> Result<EscrowView, ServiceError> {
        let actor = Actor::from(caller);
        let keys = self.sealing_keyring().await?;
        let members = self.resolve_custodians(&input.custodians).await?;
        let key = EscrowKey::generate();
        let public = key.public();
        let n = members.len() as u8;
        let shares = key.split(input.threshold, n).map_err(seal_error)?;
        drop(key);
        let escrow_id = new_id();
        let tx = self.store.begin_write().await?;
        let escrow = repo::insert(
            &*tx,
            &self.integrity,
            EscrowRow {
                id: escrow_id.clone(),
                name: input.name.clone(),
                teams: serde_json::to_string(&input.teams).unwrap_or_else(|_| "[]".to_owned()),
                threshold: i32::from(input.threshold),
                custodians: i32::from(n),
                public_key: base64::engine::general_purpose::STANDARD.encode(public),
                state: repo::PENDING.to_owned(),
                waiting_period_minutes: input.waiting_period_minutes as i32,
                release_ttl_minutes: input.release_ttl_minutes as i32,
                created_by: actor.subject.clone(),
                created_at: now(),
                spent_at: None,
                needs_ceremony: false,
                mac: None,
            },
        )
        .await?;
        let mut custodians = Vec::new();
        for (i, (member, share)) in members.iter().zip(&shares).enumerate() {
            let index = i as u8 + 1;
            let text = ShareText::encode(&escrow_id, index, share);
            let id = new_id();
            let recipient = member.age_recipient.clone().filter(|r| is_age_recipient(r));
            let delivery = if recipient.is_some() {
                repo::DELIVERY_AGE
            } else {
                repo::DELIVERY_PICKUP
            };
            let row = repo::insert_custodian(
                &*tx,
                &self.integrity,
                CustodianRow {
                    id: id.clone(),
                    escrow_id: escrow_id.clone(),
                    share_index: i32::from(index),
                    email: member.email.clone().unwrap_or_default().to_lowercase(),
                    fingerprint: fingerprint(share),
                    delivery: delivery.to_owned(),
                    pending_share: Some(keys.seal_derived(PICKUP_PURPOSE, &id, text.as_bytes())?),
                    picked_up_at: None,
                    member_id: Some(member.id.clone()),
                    age_recipient: recipient,
                    confirmed_at: None,
                    mac: None,
                },
            )
            .await?;
            custodians.push(row);
        }
        drop(shares);
        let event = actor
            .event("escrow.create")
            .target(format!("escrow:{escrow_id}"))
            .details(serde_json::json!({
                "name": escrow.name,
                "teams": input.teams,
                "threshold": input.threshold,
                "custodians": custodians.iter().map(|c| serde_json::json!({
                    "member": c.member_id.as_ref().map(|m| format!("member:{m}")),
                    "email": c.email,
                    "index": c.share_index,
                    "delivery": c.delivery,
                    "fingerprint": c.fingerprint,
                    "recipient": c.age_recipient.as_deref().map(recipient_fingerprint),
                })).collect::<Vec<_>>(),
                "public_key": escrow.public_key,
                "waiting_period_minutes": input.waiting_period_minutes,
                "release_ttl_minutes": input.release_ttl_minutes,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(EscrowView {
            teams: input.teams,
            escrow,
            custodians,
        })
    }

    /// Seals every existing DEK in the escrow's teams (every version and generation) to it;
    /// returns how many. Sealing needs the public key alone (run when the escrow activates).
    pub(crate) async fn seal_scope(
        &self,
        db: &impl ConnectionTrait,
        escrow: &EscrowRow,
    ) -> Result<usize, ServiceError> {
        let public = public_key(escrow)?;
        let teams = teams_of(escrow);
        let team_ids: Option<Vec<String>> = if teams.iter().any(|t| t == ORG_WIDE) {
            None
        } else {
            Some(
                accounts_repo::team_ids(db, &self.integrity, &teams)
                    .await?
                    .into_keys()
                    .collect(),
            )
        };
        let filter = accounts_repo::AccountFilter {
            team_ids,
            ..accounts_repo::AccountFilter::default()
        };
        let accounts: Vec<String> =
            accounts_repo::list(db, &self.integrity, &filter, u64::MAX >> 1)
                .await?
                .into_iter()
                .map(|a| a.id)
                .collect();
        let mut count = 0;
        for secret in secrets::all_of(db, &accounts).await? {
            let dek = self
                .keyring
                .dek(&secret.id, &secret.wrapped_dek, &secret.kek_id)?;
            let aad = seal_aad(&escrow.id, "secret", &secret.id);
            let sealed = seal_to(&public, &aad, &dek).map_err(seal_error)?;
            repo::insert_seal(
                db,
                &self.integrity,
                &escrow.id,
                &secret.id,
                "secret",
                &secret.account_id,
                sealed,
            )
            .await?;
            count += 1;
        }
        for generation in backup_repo::generations_of(db, &accounts).await? {
            let dek =
                self.keyring
                    .dek(&generation.id, &generation.wrapped_dek, &generation.kek_id)?;
            let aad = seal_aad(&escrow.id, "backup", &generation.id);
            let sealed = seal_to(&public, &aad, &dek).map_err(seal_error)?;
            repo::insert_seal(
                db,
                &self.integrity,
                &escrow.id,
                &generation.id,
                "backup",
                &generation.account_id,
                sealed,
            )
            .await?;
            count += 1;
        }
        Ok(count)
    }

    /// Seals a DEK just written (a secret version or a backup-code generation) to every active
    /// escrow covering `team`, in the writer's transaction.
    pub(crate) async fn seal_for_escrows(
        &self,
        db: &impl ConnectionTrait,
        team: &str,
        owner: Owner<'_>,
    ) -> Result<(), ServiceError> {
        // Under the chain's lock (taken by the writer's audit event anyway), as the ceremony
        // is: a version written during a ceremony is either sealed by it or sees its escrow.
        crate::store::audit::lock_head(db).await?;
        let escrows: Vec<EscrowRow> = repo::active(db, &self.integrity)
            .await?
            .into_iter()
            .filter(|e| covers(e, team))
            .collect();
        if escrows.is_empty() {
            return Ok(());
        }
        let dek = self
            .keyring
            .dek(owner.id, owner.wrapped_dek, owner.kek_id)?;
        for escrow in escrows {
            let aad = seal_aad(&escrow.id, owner.kind, owner.id);
            let sealed = seal_to(&public_key(&escrow)?, &aad, &dek).map_err(seal_error)?;
            repo::insert_seal(
                db,
                &self.integrity,
                &escrow.id,
                owner.id,
                owner.kind,
                owner.account_id,
                sealed,
            )
            .await?;
        }
        Ok(())
    }

    /// The active member the caller is, or acts for (a token bound to a member).
    pub(crate) async fn caller_member(
        &self,
        caller: &Caller,
    ) -> Result<Option<crate::store::members::MemberRow>, ServiceError> {
        let member_id = match caller.principal.kind {
            crate::authn::PrincipalKind::Member => Some(caller.principal.id.clone()),
            crate::authn::PrincipalKind::Token => {
                crate::store::tokens::find(self.store.db(), &self.integrity, &caller.principal.id)
                    .await?
                    .and_then(|t| t.member_id)
            }
            crate::authn::PrincipalKind::Cli => None,
        };
        let Some(member_id) = member_id else {
            return Ok(None);
        };
        Ok(
            crate::store::members::find(self.store.db(), &self.integrity, &member_id)
                .await?
                .filter(|m| m.is_active()),
        )
    }

    pub(crate) async fn escrow_view(&self, escrow: EscrowRow) -> Result<EscrowView, ServiceError> {
        let custodians = repo::custodians(self.store.db(), &self.integrity, &escrow.id).await?;
        Ok(EscrowView {
            teams: teams_of(&escrow),
            escrow,
            custodians,
        })
    }

    /// Escrows the caller may see: all of them for security admins and auditors, theirs for a
    /// custodian.
    pub async fn escrows(&self, caller: &Caller) -> Result<Vec<EscrowView>, ServiceError> {
        let all = self.may(caller, ORG_WIDE, Action::EscrowRead).await;
        let mut out = Vec::new();
        for escrow in repo::list(self.store.db(), &self.integrity).await? {
            let view = self.escrow_view(escrow).await?;
            let mine = self.custodian_of(caller, &view).await?.is_some()
                || self.may_request_in(caller, &view).await;
            if all || mine {
                out.push(view);
            }
        }
        Ok(out)
    }

    /// One escrow (security admins, auditors, its custodians); a refusal is audited.
    pub async fn escrow(&self, caller: &Caller, id: &str) -> Result<EscrowView, ServiceError> {
        let found = if crate::domain::is_id(id) {
            repo::find(self.store.db(), &self.integrity, id).await?
        } else {
            None
        };
        let view = self
            .escrow_view(found.ok_or(ServiceError::NotFound(crate::services::Missing::Escrow))?)
            .await?;
        if self.may(caller, ORG_WIDE, Action::EscrowRead).await
            || self.custodian_of(caller, &view).await?.is_some()
            || self.may_request_in(caller, &view).await
        {
            return Ok(view);
        }
        self.authorize(
            caller,
            ORG_WIDE,
            Action::EscrowRead,
            Some(&format!("escrow:{}", view.escrow.id)),
        )
        .await?;
        Ok(view)
    }

    /// Whether the caller has a role in one of the escrow's teams (any team, for an
    /// org-wide escrow): they may see it and ask for its release.
    pub(crate) async fn may_request_in(&self, caller: &Caller, view: &EscrowView) -> bool {
        self.may_in_scope(caller, view, Action::AccountRead).await
    }

    /// Whether the caller may ask for a release: operator or above in one of its teams.
    pub(crate) async fn may_ask_release_in(&self, caller: &Caller, view: &EscrowView) -> bool {
        self.may_in_scope(caller, view, Action::ReleaseRequest)
            .await
    }

    async fn may_in_scope(&self, caller: &Caller, view: &EscrowView, action: Action) -> bool {
        for team in &view.teams {
            let teams: Vec<String> = if team == ORG_WIDE {
                caller
                    .principal
                    .bindings
                    .iter()
                    .map(|b| b.team.clone())
                    .collect()
            } else {
                vec![team.clone()]
            };
            for t in teams {
                if self.may(caller, &t, action).await {
                    return true;
                }
            }
        }
        false
    }

    /// The caller's custodian row on this escrow, if they are one of its custodians: matched
    /// by member id, so a recycled or changed email gains nothing. (Escrows made before
    /// custodians were members name an email alone; those match it.)
    pub(crate) async fn custodian_of(
        &self,
        caller: &Caller,
        view: &EscrowView,
    ) -> Result<Option<CustodianRow>, ServiceError> {
        let Some(member) = self.caller_member(caller).await? else {
            return Ok(None);
        };
        let email = member.email.as_deref().map(str::to_lowercase);
        Ok(view
            .custodians
            .iter()
            .find(|c| match &c.member_id {
                Some(id) => *id == member.id,
                None => email.as_deref() == Some(c.email.as_str()),
            })
            .cloned())
    }
}

impl Core {
    /// The releases of an escrow the caller was allowed to see (the view proves it).
    pub async fn escrow_releases(
        &self,
        view: &EscrowView,
    ) -> Result<Vec<crate::store::escrow::ReleaseRow>, ServiceError> {
        Ok(
            crate::store::escrow::releases_of(self.store.db(), &self.integrity, &view.escrow.id)
                .await?,
        )
    }
}
