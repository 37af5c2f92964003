//! The online release: requesting one, custodians submitting shares, the veto, reading the
//! released secrets in their window, and the housekeeping that ends releases.

use super::opening::{finish_release, open_scope};
use super::*;
use crate::audit::{Event, Outcome};
use crate::authz::{Action, ORG_WIDE};
use crate::crypto::escrow::{rebuild, seal_to, EscrowKey};
use crate::domain::share::ShareText;
use crate::domain::Justification;
use crate::services::escrow::{key_bytes, stored_key, EscrowView};
use crate::services::{Actor, Caller, Core, RequestMeta, ServiceError};
use crate::store::escrow::{self as repo, EscrowRow, ReleaseRow};
use crate::store::{new_id, now};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The purpose of the server-held key that wraps submitted shares (see `submit_share`).
const SHARE_WRAP: &str = "keyward/v1/release-share";

impl Core {
    async fn release_row(&self, id: &str) -> Result<(ReleaseRow, EscrowRow), ServiceError> {
        let found = if crate::domain::is_id(id) {
            repo::find_release(self.store.db(), &self.integrity, id).await?
        } else {
            None
        };
        let release = found.ok_or(ServiceError::NotFound(crate::services::Missing::Release))?;
        let escrow = repo::find(self.store.db(), &self.integrity, &release.escrow_id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Escrow))?;
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
        if view.escrow.state == repo::PENDING {
            return Err(conflict(
                "escrow_pending",
                "not every custodian has confirmed their share yet; the escrow is not active",
            ));
        }
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
            mac: None,
        };
        let release = repo::insert_release(db, &self.integrity, release).await?;
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
            repo::find(self.store.db(), &self.integrity, id).await?
        } else {
            None
        };
        let escrow = found.ok_or(ServiceError::NotFound(crate::services::Missing::Escrow))?;
        let view = self.escrow_view(escrow).await?;
        if self.may_ask_release_in(caller, &view).await {
            return Ok(view);
        }
        if self.custodian_of(caller, &view).await?.is_some() {
            return Ok(view);
        }
        // Refused, and audited against the escrow's first team (a viewer or an auditor may
        // see an escrow but not ask for its release).
        let team = view
            .teams
            .first()
            .cloned()
            .unwrap_or_else(|| ORG_WIDE.to_owned());
        self.authorize(
            caller,
            &team,
            Action::ReleaseRequest,
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
        // The release first: one whose row does not verify (a swapped requester key) takes
        // no share at all, however well-formed.
        let (release, escrow) = match self.release_row(release_id).await {
            Ok(found) => found,
            Err(err) => return refuse("unknown_release", err).await,
        };
        let share = match ShareText::parse(raw) {
            Ok(share) => share,
            Err(invalid) => return refuse("invalid_share", invalid.into()).await,
        };
        if share.escrow != escrow.id {
            return refuse(
                "foreign_share",
                invalid_share("this share belongs to another escrow"),
            )
            .await;
        }
        let custodian = repo::custodians(self.store.db(), &self.integrity, &escrow.id)
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
        // A custodian who departed no longer counts: their share is refused (the escrow
        // shows that it needs a new ceremony).
        {
            let db = self.store.db();
            let active = match &custodian.member_id {
                Some(member_id) => crate::store::members::find(db, &self.integrity, member_id)
                    .await?
                    .is_some_and(|m| m.is_active()),
                // An escrow made before custodians were members: its custodian by email.
                None => crate::store::members::find_by_email(db, &self.integrity, &custodian.email)
                    .await?
                    .iter()
                    .any(|m| m.is_active()),
            };
            if !active {
                return refuse(
                    "custodian_departed",
                    ServiceError::Invalid(crate::domain::Invalid::new(
                        "custodian_departed",
                        "this share's custodian has left; it is no longer accepted".to_owned(),
                    )),
                )
                .await;
            }
        }
        let tx = self.store.begin_write().await?;
        repo::lock_release(&*tx, &release.id).await?;
        let mut release = repo::find_release(&*tx, &self.integrity, &release.id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Release))?;
        let escrow_now = repo::find(&*tx, &self.integrity, &escrow.id).await?;
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
        .map_err(|e| ServiceError::internal(e.to_string()))?;
        // Sealed under the server's keys as well: a requester who can also read the database
        // cannot open the shares with their release key before the waiting period is over
        // (or after a veto); only this service can, when the release opens.
        let aad = share_aad(&release.id, custodian.share_index);
        let sealed = self
            .sealing_keyring()
            .await?
            .seal_derived(SHARE_WRAP, &aad, &sealed)?;
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
        let release = repo::update_release(&*tx, &self.integrity, release).await?;
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
        let mut release = repo::find_release(&*tx, &self.integrity, id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Release))?;
        if !(release.state == repo::COLLECTING || release.state == repo::WAITING) {
            return Err(conflict(
                "release_not_vetoable",
                "only a release collecting shares or waiting can be vetoed",
            ));
        }
        release.state = repo::VETOED.to_owned();
        release.vetoed_by = Some(caller.principal.subject());
        let release = repo::update_release(&*tx, &self.integrity, release).await?;
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
        let mut release = repo::find_release(&*tx, &self.integrity, id)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Release))?;
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
                repo::update_release(&*tx, &self.integrity, release).await?;
                crate::audit::append(&*tx, expire_event(id, "window_over")).await?;
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
            // Every read of released secrets is on the record, in the read's own transaction.
            crate::audit::append(&*tx, read_event(caller, id, accounts.len())).await?;
            tx.commit().await?;
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
            .map(|s| {
                let aad = share_aad(id, s.share_index);
                let inner = self
                    .keyring
                    .open_derived(SHARE_WRAP, &aad, &s.sealed)
                    .map_err(|_| ())?;
                key.open(&aad, &inner).map_err(|_| ())
            })
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
        let accounts = open_scope(&*tx, &self.integrity, &escrow, &escrow_key).await?;
        drop(escrow_key);
        let json = Zeroizing::new(serde_json::to_vec(&accounts).unwrap_or_default());
        release.opened = Some(
            seal_to(&key.public(), &secrets_aad(id), &json)
                .map_err(|e| ServiceError::internal(e.to_string()))?,
        );
        release.state = repo::RELEASED.to_owned();
        release.opened_at = Some(at);
        let expires = at + Duration::minutes(i64::from(escrow.release_ttl_minutes));
        release.expires_at = Some(expires);
        let release = repo::update_release(&*tx, &self.integrity, release).await?;
        repo::delete_release_shares(&*tx, id).await?;
        let details = serde_json::json!({ "release": id, "expires_at": expires });
        finish_release(
            &*tx,
            &self.integrity,
            &self.settings.rotation,
            &Actor::from(caller),
            &escrow,
            &accounts,
            details,
        )
        .await?;
        crate::audit::append(&*tx, read_event(caller, id, accounts.len())).await?;
        tx.commit().await?;
        self.notify_release("release.opened", &release);
        Ok((accounts, expires))
    }
}

/// `release.read`: `caller` read the secrets of release `id` (how many accounts, never what).
fn read_event(caller: &Caller, id: &str, accounts: usize) -> Event {
    caller
        .event("release.read")
        .target(target(id))
        .details(serde_json::json!({ "accounts": accounts }))
}

/// `release.expire`: the server ended release `id` (its window is over, or it lapsed unopened)
/// and forgot its secrets and shares.
fn expire_event(id: &str, why: &str) -> Event {
    Actor::system()
        .event("release.expire")
        .target(target(id))
        .details(serde_json::json!({ "reason": why }))
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
        for release in repo::live_releases(&*tx, &self.integrity).await? {
            let window_over =
                release.opened.is_some() && release.expires_at.is_some_and(|t| t <= at);
            let lapsed = release.opened.is_none()
                && release.created_at + Duration::days(RELEASE_MAX_DAYS) <= at;
            if window_over || lapsed {
                repo::delete_release_shares(&*tx, &release.id).await?;
                let why = if window_over { "window_over" } else { "lapsed" };
                crate::audit::append(&*tx, expire_event(&release.id, why)).await?;
                let mut release = release;
                release.state = repo::EXPIRED.to_owned();
                release.opened = None;
                repo::update_release(&*tx, &self.integrity, release).await?;
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
