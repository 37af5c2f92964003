//! Break-glass release: someone asks for a release with a reason and gets a release key that
//! only they hold; custodians submit their shares without signing in (a share proves itself
//! by its fingerprint); at k shares (after the waiting period, unless vetoed) the requester
//! reads the escrow's secrets. The escrow key is rebuilt in memory from the shares, opens the
//! sealed DEKs — never a KEK — and is dropped; the secrets are kept sealed to the release key
//! until the window ends; the escrow is spent and every released secret gets a rotation task.

use super::escrow::{key_bytes, seal_aad, stored_key, EscrowView};
use super::{Actor, Caller, Core, RequestMeta, ServiceError};
use crate::audit::{Event, Outcome};
use crate::authz::{Action, ORG_WIDE};
use crate::crypto::escrow::{rebuild, seal_to, EscrowKey};
use crate::crypto::{backup_code_aad, open_with_dek, secret_aad};
use crate::domain::share::ShareText;
use crate::domain::{
    Base32Secret, Justification, OtpParams, Otpauth, RotationKind, RotationReason,
};
use crate::store::escrow::{self as repo, EscrowRow, ReleaseRow};
use crate::store::{
    accounts as accounts_repo, backup as backup_repo, new_id, now, rotation, secrets,
};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// One account's released secrets.
#[derive(Serialize, Deserialize)]
pub struct ReleasedAccount {
    pub account: String,
    pub platform: String,
    pub handle: String,
    pub otpauth_uri: Option<String>,
    pub password: Option<String>,
    /// Unused (and checked-out) codes of the current generation: (position, code).
    pub backup_codes: Vec<(i32, String)>,
    /// The ids of the secret versions and the generation released (for the audit trail).
    #[serde(default)]
    pub released_ids: Vec<String>,
}

impl Drop for ReleasedAccount {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.otpauth_uri.zeroize();
        self.password.zeroize();
        for (_, code) in &mut self.backup_codes {
            code.zeroize();
        }
    }
}

impl ReleasedAccount {
    /// The TOTP code of the released seed now.
    pub fn totp_code(&self) -> Option<Zeroizing<String>> {
        let otp = Otpauth::parse(self.otpauth_uri.as_deref()?).ok()?;
        let period = otp.params.period?;
        let step = Utc::now().timestamp().max(0) as u64 / period;
        Some(
            otp.secret
                .code_at_counter(otp.params.algorithm, otp.params.digits, step),
        )
    }
}

/// A release as callers see it.
pub struct ReleaseView {
    pub release: ReleaseRow,
    pub escrow: EscrowRow,
}

/// A new release and the key only its requester holds (shown once).
pub struct Requested {
    pub view: ReleaseView,
    pub release_key: Zeroizing<String>,
}

fn refused(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Refused {
        code,
        message: message.to_owned(),
    }
}

fn conflict(code: &'static str, message: &str) -> ServiceError {
    ServiceError::Conflict {
        code,
        message: message.to_owned(),
    }
}

fn invalid_share(message: &str) -> ServiceError {
    crate::domain::Invalid::new("invalid_share", message.to_owned()).into()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn share_aad(release_id: &str, index: i32) -> String {
    format!("keyward/v1/release/{release_id}/share/{index}")
}

fn secrets_aad(release_id: &str) -> String {
    format!("keyward/v1/release/{release_id}/secrets")
}

fn target(id: &str) -> String {
    format!("release:{id}")
}

impl Core {
    async fn release_row(&self, id: &str) -> Result<(ReleaseRow, EscrowRow), ServiceError> {
        let found = if crate::domain::is_id(id) {
            repo::find_release(self.store.db(), id).await?
        } else {
            None
        };
        let release = found.ok_or(ServiceError::NotFound("release"))?;
        let escrow = repo::find(self.store.db(), &release.escrow_id)
            .await?
            .ok_or(ServiceError::NotFound("escrow"))?;
        Ok((release, escrow))
    }

    /// Asks for a release of an escrow (anyone with a role in its teams, or a custodian).
    pub async fn request_release(
        &self,
        caller: &Caller,
        escrow_id: &str,
        reason: Justification,
    ) -> Result<Requested, ServiceError> {
        let view = self.escrow_for_request(caller, escrow_id).await?;
        let tx = self.store.begin_write().await?;
        let requested = self.request_release_in(&*tx, caller, view, &reason).await?;
        tx.commit().await?;
        self.notify_release("release.requested", &requested.view.release);
        Ok(requested)
    }

    /// Asks for a release in the caller's transaction, of an escrow the caller may ask for
    /// (see [`Core::may_request_release`]); the custodians are to be notified after commit.
    pub(crate) async fn request_release_in(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        caller: &Caller,
        view: EscrowView,
        reason: &Justification,
    ) -> Result<Requested, ServiceError> {
        if view.escrow.state != repo::ACTIVE {
            return Err(conflict(
                "escrow_spent",
                "this escrow was used already; a new ceremony is due",
            ));
        }
        let key = EscrowKey::generate();
        let release = ReleaseRow {
            id: new_id(),
            escrow_id: view.escrow.id.clone(),
            requester: caller.principal.subject(),
            reason: reason.as_str().to_owned(),
            state: repo::COLLECTING.to_owned(),
            requester_key: b64(&key.public()),
            shares_received: 0,
            threshold: view.escrow.threshold,
            release_at: None,
            expires_at: None,
            opened_at: None,
            opened: None,
            vetoed_by: None,
            created_at: now(),
        };
        let release = repo::insert_release(db, release).await?;
        let event = caller
            .event("release.request")
            .target(target(&release.id))
            .justification(Some(reason.as_str()))
            .details(
                serde_json::json!({ "escrow": view.escrow.id, "threshold": release.threshold }),
            );
        crate::audit::append(db, event).await?;
        Ok(Requested {
            release_key: Zeroizing::new(b64(key.private_bytes().as_slice())),
            view: ReleaseView {
                release,
                escrow: view.escrow,
            },
        })
    }

    /// Refuses (and audits) a caller who may not ask for this escrow's release.
    pub async fn may_request_release(
        &self,
        caller: &Caller,
        escrow_id: &str,
    ) -> Result<(), ServiceError> {
        self.escrow_for_request(caller, escrow_id).await.map(|_| ())
    }

    /// The escrow, if the caller may ask for its release: a role in one of its teams (any
    /// team, for an org-wide escrow), or one of its custodians. A refusal is audited.
    pub(crate) async fn escrow_for_request(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<EscrowView, ServiceError> {
        let found = if crate::domain::is_id(id) {
            repo::find(self.store.db(), id).await?
        } else {
            None
        };
        let escrow = found.ok_or(ServiceError::NotFound("escrow"))?;
        let view = self.escrow_view(escrow).await?;
        if self.may_request_in(caller, &view).await {
            return Ok(view);
        }
        if self.custodian_of(caller, &view).await?.is_some() {
            return Ok(view);
        }
        self.authorize(
            caller,
            ORG_WIDE,
            Action::EscrowManage,
            Some(&format!("escrow:{}", view.escrow.id)),
        )
        .await?;
        Ok(view)
    }

    /// Takes a custodian's share for a release. No sign-in: the share proves itself (its
    /// fingerprint is the one recorded at the ceremony). Refusals are audited and count
    /// against the sender's address.
    pub async fn submit_share(
        &self,
        release_id: &str,
        raw: &str,
        meta: &RequestMeta,
    ) -> Result<ReleaseView, ServiceError> {
        let refuse = |reason: &'static str, err: ServiceError| async move {
            let limited = self.anonymous_attempt(meta);
            let mut event = Event::new("anonymous", "release.share")
                .target(target(release_id))
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "reason": reason }));
            event.ip = meta.ip.clone();
            event.request_id = meta.request_id.clone();
            self.deny_anonymous(event).await;
            limited?;
            Err::<ReleaseView, ServiceError>(err)
        };
        let share = match ShareText::parse(raw) {
            Ok(share) => share,
            Err(invalid) => return refuse("invalid_share", invalid.into()).await,
        };
        let (release, escrow) = match self.release_row(release_id).await {
            Ok(found) => found,
            Err(err) => return refuse("unknown_release", err).await,
        };
        if share.escrow != escrow.id {
            return refuse(
                "foreign_share",
                invalid_share("this share belongs to another escrow"),
            )
            .await;
        }
        let custodian = repo::custodians(self.store.db(), &escrow.id)
            .await?
            .into_iter()
            .find(|c| c.share_index == i32::from(share.index));
        let fingerprint = hex::encode(Sha256::digest(share.bytes.as_slice()));
        let Some(custodian) = custodian.filter(|c| c.fingerprint == fingerprint) else {
            return refuse(
                "wrong_share",
                invalid_share("this share is not one of this escrow's"),
            )
            .await;
        };
        let tx = self.store.begin_write().await?;
        repo::lock_release(&*tx, &release.id).await?;
        let mut release = repo::find_release(&*tx, &release.id)
            .await?
            .ok_or(ServiceError::NotFound("release"))?;
        let escrow_now = repo::find(&*tx, &escrow.id).await?;
        if escrow_now.is_none_or(|e| e.state != repo::ACTIVE) {
            drop(tx);
            return refuse(
                "escrow_spent",
                conflict(
                    "escrow_spent",
                    "this escrow was used already; a new ceremony is due",
                ),
            )
            .await;
        }
        if release.state != repo::COLLECTING {
            drop(tx);
            return refuse(
                "not_collecting",
                conflict(
                    "release_not_collecting",
                    "this release takes no more shares",
                ),
            )
            .await;
        }
        if repo::shares_of(&*tx, &release.id)
            .await?
            .iter()
            .any(|s| s.share_index == custodian.share_index)
        {
            drop(tx);
            return refuse(
                "duplicate",
                conflict(
                    "share_already_submitted",
                    "this share was submitted already",
                ),
            )
            .await;
        }
        let requester = stored_key(&release.requester_key, "release key")?;
        let sealed = seal_to(
            &requester,
            &share_aad(&release.id, custodian.share_index),
            &share.bytes,
        )
        .map_err(|e| ServiceError::Storage(sea_orm::DbErr::Custom(e.to_string())))?;
        repo::insert_release_share(&*tx, &release.id, custodian.share_index, sealed).await?;
        release.shares_received += 1;
        if release.shares_received >= release.threshold {
            let wait = i64::from(escrow.waiting_period_minutes);
            release.state = if wait > 0 {
                repo::WAITING
            } else {
                repo::RELEASED
            }
            .to_owned();
            release.release_at = Some(now() + Duration::minutes(wait));
        }
        let release = repo::update_release(&*tx, release).await?;
        let mut event = Event::new("custodian", "release.share")
            .target(target(&release.id))
            .details(serde_json::json!({
                "custodian": custodian.email,
                "index": custodian.share_index,
                "received": release.shares_received,
                "threshold": release.threshold,
                "state": release.state,
            }));
        event.ip = meta.ip.clone();
        event.request_id = meta.request_id.clone();
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        if release.state != repo::COLLECTING {
            self.notify_release(&format!("release.{}", release.state), &release);
        }
        Ok(ReleaseView { release, escrow })
    }

    /// A release (its requester, the escrow's custodians, security admins and auditors).
    pub async fn release(&self, caller: &Caller, id: &str) -> Result<ReleaseView, ServiceError> {
        let (release, escrow) = self.release_row(id).await?;
        if release.requester == caller.principal.subject()
            || self.may(caller, ORG_WIDE, Action::EscrowRead).await
        {
            return Ok(ReleaseView { release, escrow });
        }
        let view = self.escrow_view(escrow).await?;
        if self.custodian_of(caller, &view).await?.is_some() {
            return Ok(ReleaseView {
                release,
                escrow: view.escrow,
            });
        }
        self.authorize(caller, ORG_WIDE, Action::EscrowRead, Some(&target(id)))
            .await?;
        Ok(ReleaseView {
            release,
            escrow: view.escrow,
        })
    }

    /// Refuses (and audits) a caller who may not veto this release, before the body is read.
    pub async fn may_veto_release(&self, caller: &Caller, id: &str) -> Result<(), ServiceError> {
        let (_, escrow) = self.release_row(id).await?;
        let view = self.escrow_view(escrow).await?;
        if self.custodian_of(caller, &view).await?.is_none() {
            self.authorize(caller, ORG_WIDE, Action::EscrowManage, Some(&target(id)))
                .await?;
        }
        Ok(())
    }

    /// Stops a release that is collecting shares or waiting (security admins, custodians).
    pub async fn veto_release(
        &self,
        caller: &Caller,
        id: &str,
        justification: Justification,
    ) -> Result<ReleaseView, ServiceError> {
        self.may_veto_release(caller, id).await?;
        let (_, escrow) = self.release_row(id).await?;
        let view = self.escrow_view(escrow).await?;
        let tx = self.store.begin_write().await?;
        repo::lock_release(&*tx, id).await?;
        let mut release = repo::find_release(&*tx, id)
            .await?
            .ok_or(ServiceError::NotFound("release"))?;
        if !(release.state == repo::COLLECTING || release.state == repo::WAITING) {
            return Err(conflict(
                "release_not_vetoable",
                "only a release collecting shares or waiting can be vetoed",
            ));
        }
        release.state = repo::VETOED.to_owned();
        release.vetoed_by = Some(caller.principal.subject());
        let release = repo::update_release(&*tx, release).await?;
        repo::delete_release_shares(&*tx, id).await?;
        let event = caller
            .event("release.veto")
            .target(target(id))
            .justification(Some(justification.as_str()))
            .details(serde_json::json!({ "escrow": release.escrow_id }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        self.notify_release("release.vetoed", &release);
        Ok(ReleaseView {
            release,
            escrow: view.escrow,
        })
    }

    /// The released secrets, for the requester holding the release key, until the window
    /// ends (then 410). The first read opens them: see the module's description.
    ///
    /// `may_open`: whether this read may be the one that opens the release (the dashboard
    /// opens with a form, never with a GET that another site could link to).
    pub async fn released_secrets(
        &self,
        caller: &Caller,
        id: &str,
        release_key: &str,
        may_open: bool,
    ) -> Result<(Vec<ReleasedAccount>, DateTime<Utc>), ServiceError> {
        let (release, escrow) = self.release_row(id).await?;
        // Still allowed to ask for it (a role in its teams, or a custodian); refusals audited.
        if release.requester == caller.principal.subject() {
            self.escrow_for_request(caller, &escrow.id).await?;
        }
        if release.requester != caller.principal.subject() {
            let event = caller
                .event("auth.denied")
                .target(target(id))
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "attempted": "release.read", "reason": "not_the_requester" }));
            self.record_standalone(event).await;
            return Err(refused(
                "not_the_requester",
                "only the member who asked for this release reads it",
            ));
        }
        let key = key_bytes(release_key)
            .and_then(|b| EscrowKey::from_private(&b).ok())
            .filter(|k| b64(&k.public()) == release.requester_key);
        if key.is_none() {
            let event = caller
                .event("auth.denied")
                .target(target(id))
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "attempted": "release.read", "reason": "wrong_release_key" }));
            self.record_standalone(event).await;
        }
        let key = key.ok_or_else(|| {
            refused(
                "wrong_release_key",
                "send the release key given when the release was asked for (X-Release-Key)",
            )
        })?;
        let tx = self.store.begin_write().await?;
        repo::lock_release(&*tx, id).await?;
        let mut release = repo::find_release(&*tx, id)
            .await?
            .ok_or(ServiceError::NotFound("release"))?;
        let at = now();
        match release.state.as_str() {
            repo::COLLECTING => {
                return Err(conflict(
                    "release_not_ready",
                    "not enough shares have been submitted yet",
                ))
            }
            repo::VETOED => return Err(conflict("release_vetoed", "this release was vetoed")),
            repo::EXPIRED => return Err(gone()),
            repo::WAITING if release.release_at.is_some_and(|t| t > at) => {
                return Err(ServiceError::RateLimited {
                    code: "release_waiting",
                    message: "the waiting period is not over; it can still be vetoed".to_owned(),
                    retry_after: release
                        .release_at
                        .map(|t| (t - at).num_seconds().max(1) as u64)
                        .unwrap_or(60),
                })
            }
            _ => {}
        }
        if let Some(opened) = &release.opened {
            if release.expires_at.is_some_and(|t| t <= at) {
                release.state = repo::EXPIRED.to_owned();
                release.opened = None;
                repo::update_release(&*tx, release).await?;
                tx.commit().await?;
                return Err(gone());
            }
            let json = key.open(&secrets_aad(id), opened).map_err(|_| {
                refused(
                    "wrong_release_key",
                    "the release key does not open this release",
                )
            })?;
            let accounts: Vec<ReleasedAccount> = serde_json::from_slice(&json).unwrap_or_default();
            return Ok((accounts, release.expires_at.unwrap_or(at)));
        }
        if !may_open {
            return Err(conflict(
                "release_not_opened",
                "the release is ready: open it with the form on its page",
            ));
        }
        // The first read after the threshold (and the waiting period): open.
        let shares = repo::shares_of(&*tx, id).await?;
        let opened: Vec<Zeroizing<Vec<u8>>> = shares
            .iter()
            .map(|s| key.open(&share_aad(id, s.share_index), &s.sealed))
            .collect::<Result<_, _>>()
            .map_err(|_| {
                refused(
                    "wrong_release_key",
                    "the release key does not open this release",
                )
            })?;
        let public = stored_key(&escrow.public_key, "escrow key")?;
        let parts: Vec<&[u8]> = opened.iter().map(|s| s.as_slice()).collect();
        let escrow_key = rebuild(&parts, &public).map_err(|_| {
            conflict(
                "release_shares_invalid",
                "the submitted shares do not rebuild the escrow key",
            )
        })?;
        let accounts = open_scope(&*tx, &escrow, &escrow_key).await?;
        drop(escrow_key);
        let json = Zeroizing::new(serde_json::to_vec(&accounts).unwrap_or_default());
        release.opened = Some(
            seal_to(&key.public(), &secrets_aad(id), &json)
                .map_err(|e| ServiceError::Storage(sea_orm::DbErr::Custom(e.to_string())))?,
        );
        release.state = repo::RELEASED.to_owned();
        release.opened_at = Some(at);
        let expires = at + Duration::minutes(i64::from(escrow.release_ttl_minutes));
        release.expires_at = Some(expires);
        let release = repo::update_release(&*tx, release).await?;
        repo::delete_release_shares(&*tx, id).await?;
        let details = serde_json::json!({ "release": id, "expires_at": expires });
        finish_release(
            &*tx,
            &self.settings.rotation,
            &Actor::from(caller),
            &escrow,
            &accounts,
            details,
        )
        .await?;
        tx.commit().await?;
        self.notify_release("release.opened", &release);
        Ok((accounts, expires))
    }
}

/// Opens every account in the escrow's scope with the escrow key alone: no KEK, no key file.
pub async fn open_scope(
    db: &impl sea_orm::ConnectionTrait,
    escrow: &EscrowRow,
    key: &EscrowKey,
) -> Result<Vec<ReleasedAccount>, ServiceError> {
    let teams: Vec<String> = serde_json::from_str(&escrow.teams).unwrap_or_default();
    let team_ids = if teams.iter().any(|t| t == ORG_WIDE) {
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
        hide_archived: true,
        ..accounts_repo::AccountFilter::default()
    };
    let opening = |e: crate::crypto::escrow::EscrowError| {
        ServiceError::Storage(sea_orm::DbErr::Custom(format!("release: {e}")))
    };
    let mut out = Vec::new();
    for account in accounts_repo::list(db, &filter, u64::MAX >> 1).await? {
        let current = secrets::current_of(db, std::slice::from_ref(&account.id)).await?;
        let mut released = ReleasedAccount {
            account: account.id.clone(),
            platform: account.platform.clone(),
            handle: account.handle.clone(),
            otpauth_uri: None,
            password: None,
            backup_codes: Vec::new(),
            released_ids: Vec::new(),
        };
        let ids: Vec<String> = current.iter().map(|s| s.id.clone()).collect();
        let seals = repo::seals_of(db, &escrow.id, &ids).await?;
        for secret in &current {
            let Some(seal) = seals.iter().find(|s| s.owner_id == secret.id) else {
                continue;
            };
            let dek = key
                .open(&seal_aad(&escrow.id, "secret", &secret.id), &seal.sealed)
                .map_err(opening)?;
            released.released_ids.push(secret.id.clone());
            let value = open_with_dek(
                &dek,
                &secret_aad(&account.id, &secret.id, secret.version, &secret.kind),
                &secret.ciphertext,
            )?;
            if secret.kind == "password" {
                released.password = Some(String::from_utf8_lossy(&value).into_owned());
            } else if let Ok(params) = serde_json::from_str::<OtpParams>(&secret.params) {
                let otp = Otpauth {
                    secret: Base32Secret::from_bytes(value),
                    params,
                };
                let counter = secret.hotp_counter.map(|c| c.max(0) as u64);
                let uri = otp.to_uri(&format!("{}:{}", account.platform, account.handle), counter);
                released.otpauth_uri = Some(uri.as_str().to_owned());
            }
        }
        if let Some(generation) = backup_repo::current(db, &account.id).await? {
            let seal = repo::seals_of(db, &escrow.id, std::slice::from_ref(&generation.id)).await?;
            if let Some(seal) = seal.first() {
                let dek = key
                    .open(
                        &seal_aad(&escrow.id, "backup", &generation.id),
                        &seal.sealed,
                    )
                    .map_err(opening)?;
                released.released_ids.push(generation.id.clone());
                for code in backup_repo::codes(db, &generation.id).await? {
                    if code.state == backup_repo::state::USED
                        || code.state == backup_repo::state::REJECTED
                    {
                        continue;
                    }
                    let aad = backup_code_aad(&account.id, &generation.id, code.position);
                    let value = open_with_dek(&dek, &aad, &code.ciphertext)?;
                    released
                        .backup_codes
                        .push((code.position, String::from_utf8_lossy(&value).into_owned()));
                }
            }
        }
        out.push(released);
    }
    Ok(out)
}

/// What every release does once the secrets are open, in its transaction: the escrow is spent,
/// every released secret gets a `break_glass` rotation task, and `release.open` and
/// `escrow.spent` are recorded (ids only).
async fn finish_release(
    db: &impl sea_orm::ConnectionTrait,
    settings: &crate::config::RotationSettings,
    actor: &Actor,
    escrow: &EscrowRow,
    accounts: &[ReleasedAccount],
    details: serde_json::Value,
) -> Result<(), ServiceError> {
    if !repo::spend(db, &escrow.id).await? {
        return Err(conflict(
            "escrow_spent",
            "this escrow was used already; a new ceremony is due",
        ));
    }
    // The escrow's other releases end with it: their shares are forgotten.
    let this = details["release"].as_str().unwrap_or_default().to_owned();
    for other in repo::releases_of(db, &escrow.id).await? {
        let unopened = other.state == repo::RELEASED && other.opened.is_none();
        let live = other.state == repo::COLLECTING || other.state == repo::WAITING || unopened;
        if other.id != this && live {
            repo::delete_release_shares(db, &other.id).await?;
            let mut other = other;
            other.state = repo::EXPIRED.to_owned();
            repo::update_release(db, other).await?;
        }
    }
    let mut released = Vec::new();
    for account in accounts {
        let mut kinds = Vec::new();
        match account.otpauth_uri.as_deref() {
            Some(uri) if uri.starts_with("otpauth://hotp") => kinds.push(RotationKind::Hotp),
            Some(_) => kinds.push(RotationKind::Totp),
            None => {}
        }
        if account.password.is_some() {
            kinds.push(RotationKind::Password);
        }
        if !account.backup_codes.is_empty() {
            kinds.push(RotationKind::BackupCodes);
        }
        let team_id = accounts_repo::find(db, &account.account)
            .await?
            .map(|a| a.team_id)
            .unwrap_or_default();
        let team = accounts_repo::team_slug(db, &team_id)
            .await?
            .unwrap_or_default();
        for kind in &kinds {
            let new = rotation::NewTask {
                account_id: &account.account,
                kind: kind.as_str(),
                reason: RotationReason::BreakGlass.as_str(),
                secret_id: None,
                generation_id: None,
                member_id: None,
                due_at: super::rotation::due(settings, *kind),
                opened_by: &actor.subject,
            };
            super::rotation::open_task(db, actor, &team, new).await?;
        }
        released.push(serde_json::json!({
            "account": account.account,
            "kinds": kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "backup_codes": account.backup_codes.len(),
            "ids": account.released_ids,
        }));
    }
    let mut details = details;
    details["escrow"] = serde_json::Value::String(escrow.id.clone());
    details["released"] = serde_json::Value::Array(released);
    let event = actor
        .event("release.open")
        .target(format!("escrow:{}", escrow.id))
        .details(details);
    crate::audit::append(db, event).await?;
    let event = actor
        .event("escrow.spent")
        .target(format!("escrow:{}", escrow.id))
        .details(serde_json::json!({}));
    crate::audit::append(db, event).await?;
    Ok(())
}

/// `keyward breakglass open`: opens an escrow from k shares and the database alone — no key
/// file, no IdP, no server — records it (`release.open` by `cli`, the escrow spent, rotation
/// tasks) and returns the secrets. For when the service itself is down.
pub async fn open_offline(
    store: &crate::store::Store,
    settings: &crate::config::Settings,
    escrow_id: &str,
    shares: &[Zeroizing<String>],
) -> Result<Vec<ReleasedAccount>, ServiceError> {
    let escrow = repo::find(store.db(), escrow_id)
        .await?
        .ok_or(ServiceError::NotFound("escrow"))?;
    if escrow.state != repo::ACTIVE {
        return Err(conflict(
            "escrow_spent",
            "this escrow was used already; a new ceremony is due",
        ));
    }
    let custodians = repo::custodians(store.db(), &escrow.id).await?;
    let mut parsed = Vec::new();
    for raw in shares {
        let share = ShareText::parse(raw)?;
        if share.escrow != escrow.id {
            return Err(invalid_share("a share belongs to another escrow"));
        }
        let fingerprint = hex::encode(Sha256::digest(share.bytes.as_slice()));
        if !custodians
            .iter()
            .any(|c| c.share_index == i32::from(share.index) && c.fingerprint == fingerprint)
        {
            return Err(invalid_share(&format!(
                "share {} is not one of this escrow's",
                share.index
            )));
        }
        if parsed.iter().any(|p: &ShareText| p.index == share.index) {
            return Err(invalid_share(&format!(
                "share {} is given twice",
                share.index
            )));
        }
        parsed.push(share);
    }
    if parsed.len() < escrow.threshold as usize {
        return Err(conflict(
            "release_not_ready",
            "give as many shares as the escrow's threshold",
        ));
    }
    let public = stored_key(&escrow.public_key, "escrow key")?;
    let parts: Vec<&[u8]> = parsed.iter().map(|s| s.bytes.as_slice()).collect();
    let key = rebuild(&parts, &public).map_err(|_| {
        conflict(
            "release_shares_invalid",
            "the shares do not rebuild the escrow key",
        )
    })?;
    let tx = store.begin_write().await?;
    let accounts = open_scope(&*tx, &escrow, &key).await?;
    drop(key);
    let details = serde_json::json!({ "offline": true, "shares": parsed.iter().map(|s| s.index).collect::<Vec<_>>() });
    finish_release(
        &*tx,
        &settings.rotation,
        &Actor::cli(),
        &escrow,
        &accounts,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(accounts)
}

/// How long a release may collect shares or wait before it lapses.
const RELEASE_MAX_DAYS: i64 = 8;

impl Core {
    /// Housekeeping: released secrets past their window are forgotten (the sealed copy
    /// removed, the release `expired`); releases that collected or waited longer than
    /// [`RELEASE_MAX_DAYS`] lapse and their shares are forgotten. Returns how many ended.
    pub async fn expire_releases(&self) -> Result<u64, ServiceError> {
        let tx = self.store.begin_write().await?;
        let at = now();
        let mut ended = 0;
        for release in repo::live_releases(&*tx).await? {
            let window_over =
                release.opened.is_some() && release.expires_at.is_some_and(|t| t <= at);
            let lapsed = release.opened.is_none()
                && release.created_at + Duration::days(RELEASE_MAX_DAYS) <= at;
            if window_over || lapsed {
                repo::delete_release_shares(&*tx, &release.id).await?;
                let mut release = release;
                release.state = repo::EXPIRED.to_owned();
                release.opened = None;
                repo::update_release(&*tx, release).await?;
                ended += 1;
            }
        }
        tx.commit().await?;
        Ok(ended)
    }

    /// Tells the `[[notify]]` webhooks (custodians' and security admins' channels) that a
    /// release changed state: ids and state only, never a share or a secret.
    pub(crate) fn notify_release(&self, event: &str, release: &ReleaseRow) {
        let body = serde_json::json!({
            "event": event,
            "release": {
                "id": release.id,
                "escrow": release.escrow_id,
                "requester": release.requester,
                "state": release.state,
                "shares_received": release.shares_received,
                "threshold": release.threshold,
                "release_at": release.release_at,
            },
            "url": format!("{}/api/v1/releases/{}", self.settings.public_url.trim_end_matches('/'), release.id),
        });
        self.notifier.send(body.to_string().into_bytes());
    }
}

fn gone() -> ServiceError {
    ServiceError::Gone {
        code: "release_expired",
        message: "the release window has ended; the secrets are gone".to_owned(),
    }
}
