//! Break-glass escrows (the ceremony): a security admin sets up an escrow for some teams; its
//! X25519 key is split k-of-n, each custodian's share is age-encrypted to them and returned
//! once, or kept sealed for them to pick up once; only fingerprints stay. Every DEK in the
//! escrow's teams is sealed to its public key, now and whenever a new version is written.

use super::{Actor, Caller, Core, ServiceError};
use crate::authz::{Action, ORG_WIDE};
use crate::crypto::escrow::{age_armored, is_age_recipient, seal_to, EscrowKey};
use crate::domain::share::ShareText;
use crate::domain::{Invalid, TeamSlug};
use crate::store::escrow::{self as repo, CustodianRow, EscrowRow};
use crate::store::{accounts as accounts_repo, backup as backup_repo, new_id, now, secrets};
use base64::Engine;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The key a share waiting for pickup is sealed under.
const PICKUP_PURPOSE: &str = "keyward/v1/escrow-share";

/// A custodian as the ceremony is told of them.
#[derive(Debug, Clone)]
pub struct CustodianInput {
    pub email: String,
    /// An `age1…` key: the share is encrypted to it and returned once; else picked up once.
    pub age_recipient: Option<String>,
}

/// A validated escrow request.
#[derive(Debug, Clone)]
pub struct EscrowInput {
    pub name: String,
    /// Team slugs, or `*` alone.
    pub teams: Vec<String>,
    pub threshold: u8,
    pub custodians: Vec<CustodianInput>,
    pub waiting_period_minutes: u32,
    pub release_ttl_minutes: u32,
}

fn bad(code: &'static str, message: &str) -> Invalid {
    Invalid::new(code, message.to_owned())
}

/// An email as a custodian is named by: trimmed, lower case, one `@`, no spaces.
fn custodian_email(raw: &str) -> Result<String, Invalid> {
    let email = raw.trim().to_lowercase();
    let ok = email.len() <= 320
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        });
    if ok {
        Ok(email)
    } else {
        Err(bad(
            "invalid_email",
            "each custodian needs an email address",
        ))
    }
}

impl EscrowInput {
    /// Checks the request: 2 ≤ k ≤ n ≤ 16, distinct custodians, known shapes of everything.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        name: &str,
        teams: &[String],
        threshold: i64,
        custodians: Vec<(String, Option<String>)>,
        waiting_period_minutes: Option<i64>,
        release_ttl_minutes: Option<i64>,
    ) -> Result<Self, Invalid> {
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
        let mut parsed: Vec<CustodianInput> = Vec::new();
        for (email, recipient) in custodians {
            let email = custodian_email(&email)?;
            if parsed.iter().any(|c| c.email == email) {
                return Err(bad("duplicate_custodian", "each custodian appears once"));
            }
            let age_recipient = match recipient
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
            {
                Some(r) if is_age_recipient(&r) => Some(r),
                Some(_) => {
                    return Err(bad(
                        "invalid_age_recipient",
                        "an age recipient is an age1… key",
                    ))
                }
                None => None,
            };
            parsed.push(CustodianInput {
                email,
                age_recipient,
            });
        }
        let waiting = waiting_period_minutes.unwrap_or(0);
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
            custodians: parsed,
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

/// A new escrow and the age-encrypted shares, returned once.
pub struct Created {
    pub view: EscrowView,
    /// (custodian email, armored age file).
    pub shares: Vec<(String, String)>,
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

    /// The ceremony, in one transaction with `escrow.create`, each `escrow.share_issued` and
    /// every existing DEK in scope sealed to the new key. The private key is split and dropped
    /// (zeroised) before this returns.
    pub async fn create_escrow(
        &self,
        caller: &Caller,
        input: EscrowInput,
    ) -> Result<Created, ServiceError> {
        let actor = Actor::from(caller);
        let keys = self.sealing_keyring().await?;
        let key = EscrowKey::generate();
        let public = key.public();
        let n = input.custodians.len() as u8;
        let shares = key.split(input.threshold, n).map_err(seal_error)?;
        let escrow_id = new_id();
        let tx = self.store.begin_write().await?;
        // Writers of new versions take the same lock before they look for escrows to seal to:
        // a version written during the ceremony is either seen here or sees this escrow.
        crate::store::audit::lock_head(&*tx).await?;
        let escrow = repo::insert(
            &*tx,
            EscrowRow {
                id: escrow_id.clone(),
                name: input.name.clone(),
                teams: serde_json::to_string(&input.teams).unwrap_or_else(|_| "[]".to_owned()),
                threshold: i32::from(input.threshold),
                custodians: i32::from(n),
                public_key: base64::engine::general_purpose::STANDARD.encode(public),
                state: repo::ACTIVE.to_owned(),
                waiting_period_minutes: input.waiting_period_minutes as i32,
                release_ttl_minutes: input.release_ttl_minutes as i32,
                created_by: actor.subject.clone(),
                created_at: now(),
                spent_at: None,
            },
        )
        .await?;
        let mut custodians = Vec::new();
        let mut delivered = Vec::new();
        for (i, (custodian, share)) in input.custodians.iter().zip(&shares).enumerate() {
            let index = i as u8 + 1;
            let text = ShareText::encode(&escrow_id, index, share);
            let id = new_id();
            let (delivery, pending) = match &custodian.age_recipient {
                Some(recipient) => {
                    let armored = age_armored(recipient, text.as_bytes()).map_err(seal_error)?;
                    delivered.push((custodian.email.clone(), armored));
                    (crate::store::escrow::DELIVERY_AGE, None)
                }
                None => (
                    "pickup",
                    Some(keys.seal_derived(PICKUP_PURPOSE, &id, text.as_bytes())?),
                ),
            };
            let row = repo::insert_custodian(
                &*tx,
                CustodianRow {
                    id,
                    escrow_id: escrow_id.clone(),
                    share_index: i32::from(index),
                    email: custodian.email.clone(),
                    fingerprint: fingerprint(share),
                    delivery: delivery.to_owned(),
                    pending_share: pending,
                    picked_up_at: None,
                },
            )
            .await?;
            if delivery == crate::store::escrow::DELIVERY_AGE {
                let event = actor
                    .event("escrow.share_issued")
                    .target(format!("escrow:{escrow_id}"))
                    .details(serde_json::json!({ "custodian": row.email, "index": index, "delivery": "age", "fingerprint": row.fingerprint }));
                crate::audit::append(&*tx, event).await?;
            }
            custodians.push(row);
        }
        drop(shares);
        let sealed = self.seal_scope(&*tx, &escrow, &key).await?;
        drop(key);
        let event = actor
            .event("escrow.create")
            .target(format!("escrow:{escrow_id}"))
            .details(serde_json::json!({
                "name": escrow.name,
                "teams": input.teams,
                "threshold": input.threshold,
                "custodians": custodians.iter().map(|c| serde_json::json!({
                    "email": c.email, "index": c.share_index, "delivery": c.delivery, "fingerprint": c.fingerprint,
                })).collect::<Vec<_>>(),
                "public_key": escrow.public_key,
                "sealed_keys": sealed,
                "waiting_period_minutes": input.waiting_period_minutes,
                "release_ttl_minutes": input.release_ttl_minutes,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(Created {
            view: EscrowView {
                teams: input.teams,
                escrow,
                custodians,
            },
            shares: delivered,
        })
    }

    /// Seals every existing DEK in the escrow's teams (every version and generation) to it;
    /// returns how many. Run while the escrow's key is in memory (the ceremony), only to check
    /// nothing here needs it: sealing needs the public key alone.
    async fn seal_scope(
        &self,
        db: &impl ConnectionTrait,
        escrow: &EscrowRow,
        _key: &EscrowKey,
    ) -> Result<usize, ServiceError> {
        let public = public_key(escrow)?;
        let teams = teams_of(escrow);
        let team_ids: Option<Vec<String>> = if teams.iter().any(|t| t == ORG_WIDE) {
            None
        } else {
            Some(
                accounts_repo::team_ids(db, &teams)
                    .await?
                    .into_keys()
                    .collect(),
            )
        };
        let filter = accounts_repo::AccountFilter {
            team_ids,
            ..accounts_repo::AccountFilter::default()
        };
        let accounts: Vec<String> = accounts_repo::list(db, &filter, u64::MAX >> 1)
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
        let escrows: Vec<EscrowRow> = repo::active(db)
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

    /// Whether the caller is the custodian `email` (a member with that verified email, or a
    /// token bound to such a member).
    /// The caller's email (lowercase) when they are, or act for, an active member.
    async fn member_email(&self, caller: &Caller) -> Result<Option<String>, ServiceError> {
        let member_id = match caller.principal.kind {
            crate::authn::PrincipalKind::Member => Some(caller.principal.id.clone()),
            crate::authn::PrincipalKind::Token => {
                crate::store::tokens::find(self.store.db(), &caller.principal.id)
                    .await?
                    .and_then(|t| t.member_id)
            }
            crate::authn::PrincipalKind::Cli => None,
        };
        let Some(member_id) = member_id else {
            return Ok(None);
        };
        Ok(crate::store::members::find(self.store.db(), &member_id)
            .await?
            .filter(|m| m.status == "active")
            .and_then(|m| m.email)
            .map(|e| e.to_lowercase()))
    }

    pub(crate) async fn escrow_view(&self, escrow: EscrowRow) -> Result<EscrowView, ServiceError> {
        let custodians = repo::custodians(self.store.db(), &escrow.id).await?;
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
        for escrow in repo::list(self.store.db()).await? {
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
            repo::find(self.store.db(), id).await?
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
                if self.may(caller, &t, Action::AccountRead).await {
                    return true;
                }
            }
        }
        false
    }

    /// The caller's custodian row on this escrow, if they are one of its custodians.
    pub(crate) async fn custodian_of(
        &self,
        caller: &Caller,
        view: &EscrowView,
    ) -> Result<Option<CustodianRow>, ServiceError> {
        let Some(email) = self.member_email(caller).await? else {
            return Ok(None);
        };
        Ok(view.custodians.iter().find(|c| c.email == email).cloned())
    }

    /// A custodian picks up their share, once, after a recent sign-in; it is forgotten then.
    pub async fn pick_up_share(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Zeroizing<String>, i32), ServiceError> {
        let view = self.escrow(caller, id).await?;
        let Some(custodian) = self.custodian_of(caller, &view).await? else {
            let event = caller
                .event("auth.denied")
                .target(format!("escrow:{}", view.escrow.id))
                .outcome(crate::audit::Outcome::Denied)
                .details(serde_json::json!({ "attempted": "escrow.share_pickup", "reason": "not_a_custodian" }));
            self.record_standalone(event).await;
            return Err(ServiceError::Refused {
                code: "not_a_custodian",
                message: "only this escrow's custodians pick up shares".to_owned(),
            });
        };
        self.require_recent_auth(caller)?;
        let issued = || ServiceError::Conflict {
            code: "share_already_issued",
            message: "this share was handed out already; it is not kept".to_owned(),
        };
        if custodian.delivery != "pickup" {
            return Err(issued());
        }
        let tx = self.store.begin_write().await?;
        let sealed = repo::take_pending_share(&*tx, &custodian)
            .await?
            .ok_or_else(issued)?;
        let text = self
            .keyring
            .open_derived(PICKUP_PURPOSE, &custodian.id, &sealed)?;
        let text = Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
        let event = caller
            .event("escrow.share_issued")
            .target(format!("escrow:{}", view.escrow.id))
            .details(serde_json::json!({ "custodian": custodian.email, "index": custodian.share_index, "delivery": "pickup", "fingerprint": custodian.fingerprint }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok((text, custodian.share_index))
    }
}

impl Core {
    /// The releases of an escrow the caller was allowed to see (the view proves it).
    pub async fn escrow_releases(
        &self,
        view: &EscrowView,
    ) -> Result<Vec<crate::store::escrow::ReleaseRow>, ServiceError> {
        Ok(crate::store::escrow::releases_of(self.store.db(), &view.escrow.id).await?)
    }
}
