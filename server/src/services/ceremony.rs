//! The break-glass ceremony after an escrow is made, so that no single admin controls it:
//! members enrol their own age recipient; each custodian fetches their own share once and
//! confirms it; the escrow becomes `active` when all have; a security admin can retire it; a
//! custodian's departure calls for a new ceremony and a requester's cancels their releases.

use super::error::{conflict, refused};
use super::escrow::{recipient_fingerprint, EscrowView, Handed, PICKUP_PURPOSE};
use super::{Actor, Caller, Core, ServiceError};
use crate::audit::Outcome;
use crate::authz::{Action, ORG_WIDE};
use crate::crypto::escrow::{age_armored, is_age_recipient};
use crate::domain::share::ShareText;
use crate::domain::{Invalid, Justification};
use crate::store::escrow::{self as repo, EscrowState, ReleaseRow};
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

impl Core {
    /// A member enrols (or replaces, or with `None` removes) their own age recipient; audited
    /// `member.age_recipient_set` with the recipient. Only for oneself: a session, or a token
    /// bound to the member.
    pub async fn set_own_age_recipient(
        &self,
        caller: &Caller,
        recipient: &str,
    ) -> Result<crate::store::members::MemberRow, ServiceError> {
        let Some(member) = self.caller_member(caller).await? else {
            return Err(refused(
                "not_a_member",
                "only a signed-in member (or a token bound to one) enrols their own key",
            ));
        };
        let recipient = recipient.trim();
        if !is_age_recipient(recipient) {
            return Err(ServiceError::Invalid(Invalid::new(
                "invalid_age_recipient",
                "an age recipient is an age1… public key (from age-keygen)".to_owned(),
            )));
        }
        let tx = self.store.begin_write().await?;
        let member = crate::store::members::set_age_recipient(
            &*tx,
            &self.integrity,
            member,
            Some(recipient),
        )
        .await?;
        let event = caller
            .event("member.age_recipient_set")
            .target(format!("member:{}", member.id))
            .details(serde_json::json!({
                "age_recipient": recipient,
                "fingerprint": recipient_fingerprint(recipient),
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(member)
    }

    /// Refuses (and audits) a caller who is not this escrow's custodian.
    async fn own_custodian_row(
        &self,
        caller: &Caller,
        view: &EscrowView,
        attempted: &str,
    ) -> Result<repo::CustodianRow, ServiceError> {
        if let Some(row) = self.custodian_of(caller, view).await? {
            return Ok(row);
        }
        let event = caller
            .event("auth.denied")
            .target(format!("escrow:{}", view.escrow.id))
            .outcome(Outcome::Denied)
            .details(serde_json::json!({ "attempted": attempted, "reason": "not_a_custodian" }));
        self.record_standalone(event).await;
        Err(refused(
            "not_a_custodian",
            "only this escrow's custodian handles their share; nobody else, a security admin included",
        ))
    }

    /// A custodian fetches their own share, once: age-encrypted to the recipient they had
    /// enrolled at the ceremony, or plain after their own fresh sign-in. It is forgotten then.
    pub async fn fetch_share(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Handed, i32), ServiceError> {
        let view = self.escrow(caller, id).await?;
        let custodian = self
            .own_custodian_row(caller, &view, "escrow.share_fetch")
            .await?;
        let ended = matches!(
            EscrowState::parse(&view.escrow.state),
            Some(EscrowState::Retired | EscrowState::Spent)
        );
        if ended {
            return Err(conflict("escrow_ended", "this escrow is spent or retired"));
        }
        let recipient = custodian.age_recipient.clone();
        if recipient.is_none() {
            self.require_recent_auth(caller)?;
        }
        let issued = || {
            conflict(
                "share_already_issued",
                "this share was handed out already; it is not kept",
            )
        };
        let tx = self.store.begin_write().await?;
        let sealed = repo::take_pending_share(&*tx, &self.integrity, &custodian)
            .await?
            .ok_or_else(issued)?;
        let text = self
            .keyring
            .open_derived(PICKUP_PURPOSE, &custodian.id, &sealed)?;
        let text = Zeroizing::new(String::from_utf8_lossy(&text).into_owned());
        let handed = match &recipient {
            Some(recipient) => Handed::Age(
                age_armored(recipient, text.as_bytes())
                    .map_err(|e| ServiceError::internal(e.to_string()))?,
            ),
            None => Handed::Plain(text),
        };
        let event = caller
            .event("escrow.share_issued")
            .target(format!("escrow:{}", view.escrow.id))
            .details(serde_json::json!({
                "custodian": custodian.member_id.as_ref().map(|m| format!("member:{m}")),
                "index": custodian.share_index,
                "delivery": custodian.delivery,
                "fingerprint": custodian.fingerprint,
            }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok((handed, custodian.share_index))
    }

    /// A custodian proves they hold their share: it is checked against its fingerprint and
    /// forgotten. When every custodian has confirmed, the escrow becomes `active`
    /// (`escrow.activate`) and every DEK in its scope is sealed to it, in this transaction.
    pub async fn confirm_share(
        &self,
        caller: &Caller,
        id: &str,
        raw: &str,
    ) -> Result<EscrowView, ServiceError> {
        let view = self.escrow(caller, id).await?;
        let custodian = self
            .own_custodian_row(caller, &view, "escrow.confirm")
            .await?;
        let share = ShareText::parse(raw)?;
        let fingerprint = hex::encode(Sha256::digest(share.bytes.as_slice()));
        if share.escrow != view.escrow.id
            || i32::from(share.index) != custodian.share_index
            || fingerprint != custodian.fingerprint
        {
            return Err(ServiceError::Invalid(Invalid::new(
                "invalid_share",
                "this is not your share of this escrow".to_owned(),
            )));
        }
        drop(share);
        let tx = self.store.begin_write().await?;
        // Writers of new versions take the chain's lock before they look for escrows to seal
        // to: a version written during the activation is either sealed here or sees it.
        crate::store::audit::lock_head(&*tx).await?;
        if !repo::confirm(&*tx, &self.integrity, &custodian).await? {
            return Err(conflict(
                "already_confirmed",
                "you confirmed this share already",
            ));
        }
        let event = caller
            .event("escrow.confirm")
            .target(format!("escrow:{}", view.escrow.id))
            .details(serde_json::json!({ "index": custodian.share_index, "fingerprint": custodian.fingerprint }));
        crate::audit::append(&*tx, event).await?;
        let custodians = repo::custodians(&*tx, &self.integrity, &view.escrow.id).await?;
        let all = custodians.len() as i32 == view.escrow.custodians
            && custodians.iter().all(|c| c.confirmed_at.is_some());
        let mut escrow = view.escrow.clone();
        if all
            && repo::transition(
                &*tx,
                &self.integrity,
                &escrow,
                &[EscrowState::Pending],
                EscrowState::Active,
            )
            .await?
        {
            escrow.state = EscrowState::Active.as_str().to_owned();
            let sealed = self.seal_scope(&*tx, &escrow).await?;
            let event = Actor::from(caller)
                .event("escrow.activate")
                .target(format!("escrow:{}", escrow.id))
                .details(serde_json::json!({ "sealed_keys": sealed }));
            crate::audit::append(&*tx, event).await?;
        }
        tx.commit().await?;
        Ok(EscrowView {
            escrow,
            teams: view.teams,
            custodians,
        })
    }

    /// A security admin retires an escrow: nothing is sealed to it any more, its seals are
    /// deleted and its open releases end (`release.cancel`); audited `escrow.retire`.
    pub async fn retire_escrow(
        &self,
        caller: &Caller,
        id: &str,
        justification: &Justification,
    ) -> Result<EscrowView, ServiceError> {
        self.authorize(
            caller,
            ORG_WIDE,
            Action::EscrowManage,
            Some(&format!("escrow:{id}")),
        )
        .await?;
        let view = self.escrow(caller, id).await?;
        let tx = self.store.begin_write().await?;
        crate::store::audit::lock_head(&*tx).await?;
        let from = [
            EscrowState::Pending,
            EscrowState::Active,
            EscrowState::Spent,
        ];
        if !repo::transition(
            &*tx,
            &self.integrity,
            &view.escrow,
            &from,
            EscrowState::Retired,
        )
        .await?
        {
            return Err(conflict("escrow_retired", "this escrow is retired already"));
        }
        let seals = repo::delete_seals(&*tx, &view.escrow.id).await?;
        let actor = Actor::from(caller);
        let mut cancelled = 0;
        for release in repo::releases_of(&*tx, &self.integrity, &view.escrow.id).await? {
            if self
                .cancel_release(&*tx, &actor, release, "escrow_retired")
                .await?
            {
                cancelled += 1;
            }
        }
        let event = caller
            .event("escrow.retire")
            .target(format!("escrow:{}", view.escrow.id))
            .justification(Some(justification.as_str()))
            .details(
                serde_json::json!({ "seals_deleted": seals, "releases_cancelled": cancelled }),
            );
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        self.escrow(caller, id).await
    }

    /// Ends a live release (`release.cancel`, with why); false when it had ended already.
    pub(crate) async fn cancel_release(
        &self,
        db: &impl ConnectionTrait,
        actor: &Actor,
        mut release: ReleaseRow,
        why: &str,
    ) -> Result<bool, ServiceError> {
        let live = repo::ReleaseState::parse(&release.state).is_some_and(|s| s.is_live());
        if !live {
            return Ok(false);
        }
        release.state = repo::CANCELLED.to_owned();
        release.opened = None;
        let release = repo::update_release(db, &self.integrity, release).await?;
        repo::delete_release_shares(db, &release.id).await?;
        let event = actor
            .event("release.cancel")
            .target(format!("release:{}", release.id))
            .details(serde_json::json!({ "escrow": release.escrow_id, "reason": why }));
        crate::audit::append(db, event).await?;
        Ok(true)
    }

    /// What a member's departure does to break-glass, in the offboarding's transaction: every
    /// escrow they keep a share of needs a new ceremony (their share is refused from now on),
    /// and their own live releases are cancelled.
    pub(crate) async fn breakglass_departure(
        &self,
        db: &impl ConnectionTrait,
        actor: &Actor,
        member_id: &str,
    ) -> Result<(), ServiceError> {
        let mut rows = repo::custodian_rows_of(db, &self.integrity, member_id).await?;
        // Escrows made before custodians were members name an email alone.
        if let Some(email) = crate::store::members::find(db, &self.integrity, member_id)
            .await?
            .and_then(|m| m.email)
        {
            rows.extend(
                repo::legacy_custodian_rows_of(db, &self.integrity, &email.to_lowercase()).await?,
            );
        }
        for custodian in rows {
            let Some(escrow) = repo::find(db, &self.integrity, &custodian.escrow_id).await? else {
                continue;
            };
            let live = matches!(
                EscrowState::parse(&escrow.state),
                Some(EscrowState::Pending | EscrowState::Active)
            );
            if !live || escrow.needs_ceremony {
                continue;
            }
            repo::needs_ceremony(db, &self.integrity, &escrow).await?;
            let event = actor
                .event("escrow.needs_ceremony")
                .target(format!("escrow:{}", escrow.id))
                .details(serde_json::json!({ "custodian": format!("member:{member_id}"), "index": custodian.share_index }));
            crate::audit::append(db, event).await?;
        }
        // Their releases: asked for as themselves or through a token bound to them.
        let mut requesters = vec![format!("member:{member_id}")];
        for token in crate::store::tokens::of_member(db, &self.integrity, member_id).await? {
            requesters.push(format!("token:{}", token.id));
        }
        for requester in requesters {
            for release in repo::live_releases_of(db, &self.integrity, &requester).await? {
                self.cancel_release(db, actor, release, "requester_departed")
                    .await?;
            }
        }
        Ok(())
    }
}

impl Core {
    /// The custodians of an escrow who are still active members (by email, else id), for a new
    /// ceremony with the same scope.
    pub async fn continuing_custodians(
        &self,
        view: &EscrowView,
    ) -> Result<Vec<String>, ServiceError> {
        let mut out = Vec::new();
        for custodian in &view.custodians {
            let Some(member_id) = &custodian.member_id else {
                continue;
            };
            let member =
                crate::store::members::find(self.store.db(), &self.integrity, member_id).await?;
            if let Some(member) = member.filter(|m| m.is_active()) {
                out.push(member.email.unwrap_or(member.id));
            }
        }
        Ok(out)
    }
}

impl Core {
    /// A live release and its escrow's teams, for the public page where custodians submit
    /// their share (it shows who asked, why, the scope and when; nothing secret).
    pub async fn release_context(
        &self,
        id: &str,
    ) -> Result<Option<(ReleaseRow, Vec<String>)>, ServiceError> {
        if !crate::domain::is_id(id) {
            return Ok(None);
        }
        let Some(release) = repo::find_release(self.store.db(), &self.integrity, id).await? else {
            return Ok(None);
        };
        if !repo::ReleaseState::parse(&release.state).is_some_and(|s| s.is_live()) {
            return Ok(None);
        }
        let Some(escrow) = repo::find(self.store.db(), &self.integrity, &release.escrow_id).await?
        else {
            return Ok(None);
        };
        Ok(Some((release, super::escrow::teams_of(&escrow))))
    }
}
