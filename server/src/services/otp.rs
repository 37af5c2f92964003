//! TOTP and HOTP: store a seed (new version), reveal the current code, export the seed.

use super::accounts::ensure_usable;
use super::{Allowed, Caller, Core, ServiceError};
use crate::authz::Action;
use crate::crypto::secret_aad;
use crate::domain::{Base32Secret, Invalid, Justification, OtpKind, OtpParams, Otpauth};
use crate::store::secrets::{self as repo, NewSecret, SecretRow};
use crate::store::{accounts::Account, new_id, WriteTx};
use zeroize::Zeroizing;

/// A secret value to store as a new version.
pub(super) struct SecretValue<'a> {
    pub kind: &'a str,
    /// Parameters kept in clear (JSON), e.g. TOTP algorithm and period.
    pub params: String,
    pub hotp_counter: Option<i64>,
    pub bytes: &'a [u8],
}

/// A revealed TOTP code.
pub struct TotpCode {
    pub code: Zeroizing<String>,
    pub digits: u32,
    pub period: u64,
    pub expires_in: u64,
    /// The following period's code, given when `expires_in` ≤ [`NEXT_CODE_WINDOW`].
    pub next_code: Option<Zeroizing<String>>,
    /// The following period's code, always (for finishing a platform's enrollment, which
    /// may ask for two codes in a row); not in the API's answer.
    pub following_code: Zeroizing<String>,
}

/// A revealed HOTP code and the counter it was computed for.
pub struct HotpCode {
    pub code: Zeroizing<String>,
    pub counter: u64,
}

/// A value as it acts: a TOTP/HOTP seed without trailing zero bytes (HMAC pads its key with
/// zeros, so `seed` and `seed‖00` give the same codes); any other value as it is.
fn as_hmac_key<'a>(kind: &str, bytes: &'a [u8]) -> &'a [u8] {
    if matches!(kind, "totp" | "hotp") {
        let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        &bytes[..end]
    } else {
        bytes
    }
}

/// 422 `same_secret`: the value stored already (`current`), or an earlier one.
pub(super) fn same_secret(current: bool) -> Invalid {
    Invalid::new(
        "same_secret",
        if current {
            "this is the value already stored; a rotation needs the new one from the platform"
        } else {
            "this is an earlier value of this secret; a rotation needs the new one from the platform"
        },
    )
}

/// Seconds before the end of a period in which the next code is also given.
pub const NEXT_CODE_WINDOW: u64 = 5;

fn actions(kind: OtpKind) -> (Action, Action, Action) {
    match kind {
        OtpKind::Totp => (Action::TotpSet, Action::TotpReveal, Action::TotpExport),
        OtpKind::Hotp => (Action::HotpSet, Action::HotpReveal, Action::HotpExport),
    }
}

fn audit_name(kind: OtpKind, what: &str) -> &'static str {
    match (kind, what) {
        (OtpKind::Totp, "set") => "totp.set",
        (OtpKind::Totp, "reveal") => "totp.reveal",
        (OtpKind::Totp, _) => "totp.export",
        (OtpKind::Hotp, "set") => "hotp.set",
        (OtpKind::Hotp, "reveal") => "hotp.reveal",
        (OtpKind::Hotp, _) => "hotp.export",
    }
}

fn not_set(kind: OtpKind) -> ServiceError {
    match kind {
        OtpKind::Totp => ServiceError::NotFound(crate::services::Missing::TotpSecret),
        OtpKind::Hotp => ServiceError::NotFound(crate::services::Missing::HotpSecret),
    }
}

/// Whether a seed has fewer than 128 bits, the least RFC 4226 asks for (it recommends 160).
/// Such seeds are stored, with a warning: platforms still issue 80-bit ones.
pub fn is_short_seed(otp: &Otpauth) -> bool {
    otp.secret.expose_bytes().len() < 16
}

impl Core {
    /// Stores a new version of the account's TOTP or HOTP seed; returns the version number.
    pub async fn set_otp(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        otp: Otpauth,
    ) -> Result<i32, ServiceError> {
        let kind = otp.params.kind();
        let (account, team) = allowed.for_action(actions(kind).0)?;
        let account_id = allowed.id();
        if account.status == "archived" {
            return Err(super::accounts::archived());
        }
        self.sealing_keyring().await?;
        let tx = self.store.begin_write().await?;
        let version = self
            .store_otp_in(&tx, caller, account_id, team, &otp, None)
            .await?;
        tx.commit().await?;
        if is_short_seed(&otp) {
            // The length only: never the seed.
            tracing::warn!(
                account = %account_id,
                bits = otp.secret.expose_bytes().len() * 8,
                "stored a seed shorter than 128 bits; ask the platform for a new one if it can"
            );
        }
        Ok(version)
    }

    /// Stores a seed as a new version in the caller's transaction (the keyring proven and the
    /// right decided by the caller) and records `totp.set`/`hotp.set` there; `import` names
    /// the import it came from.
    pub(super) async fn store_otp_in(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        account_id: &str,
        team: &str,
        otp: &Otpauth,
        import: Option<&str>,
    ) -> Result<i32, ServiceError> {
        let kind = otp.params.kind();
        let params_json = serde_json::to_string(&otp.params)
            .map_err(|_| Invalid::new("invalid_params", "cannot store parameters"))?;
        let (id, version, closed) = self
            .write_secret_version(
                tx,
                caller,
                account_id,
                team,
                SecretValue {
                    kind: kind.as_str(),
                    params: params_json,
                    hotp_counter: otp.params.initial_counter.map(|c| c as i64),
                    bytes: otp.secret.expose_bytes(),
                },
            )
            .await?;
        let mut details = serde_json::json!({
            "secret_id": id,
            "version": version,
            "algorithm": otp.params.algorithm.as_str(),
            "digits": otp.params.digits,
            "period": otp.params.period,
            "completed_rotation_tasks": closed,
        });
        if let Some(import) = import {
            details["import"] = import.into();
        }
        let event = caller
            .event(audit_name(kind, "set"))
            .target(format!("account:{account_id}"))
            .team(team)
            .details(details);
        super::exposure::append(&**tx, &self.integrity, event).await?;
        Ok(version)
    }

    /// Seals and stores a new version of one kind of secret in `tx`, superseding the current
    /// one, and closes the account's open rotation tasks for that kind in the same
    /// transaction; returns its id, its version and the tasks closed. The caller appends the
    /// audit event of the write.
    pub(super) async fn write_secret_version(
        &self,
        tx: &WriteTx,
        caller: &Caller,
        account_id: &str,
        team: &str,
        value: SecretValue<'_>,
    ) -> Result<(String, i32, Vec<String>), ServiceError> {
        crate::store::accounts::lock(&**tx, account_id).await?;
        let fingerprint = self.fingerprint_of(account_id, value.kind, value.bytes);
        self.refuse_same_value(&**tx, account_id, value.kind, &fingerprint, value.bytes)
            .await?;
        let version = repo::next_version(&**tx, account_id, value.kind).await?;
        let id = new_id();
        // Callers prove the keyring (`sealing_keyring`) before they open the transaction.
        let sealed = self.keyring.seal(
            &id,
            &secret_aad(account_id, &id, version, value.kind),
            value.bytes,
        )?;
        let (wrapped, kek_id) = (sealed.wrapped_dek.clone(), sealed.kek_id.clone());
        repo::insert_version(
            &**tx,
            NewSecret {
                id: id.clone(),
                account_id,
                kind: value.kind,
                version,
                params: value.params,
                hotp_counter: value.hotp_counter,
                sealed,
                created_by: &caller.principal.subject(),
                fingerprint,
            },
        )
        .await
        .map_err(super::concurrent_change)?;
        // Break-glass: the new version opens with every escrow covering the team, too.
        let owner = super::escrow::Owner {
            account_id,
            kind: "secret",
            id: &id,
            wrapped_dek: &wrapped,
            kek_id: &kek_id,
        };
        self.seal_for_escrows(&**tx, team, owner).await?;
        let closed = match crate::domain::RotationKind::of_secret(value.kind) {
            Some(kind) => {
                self.complete_rotation_tasks(&**tx, caller, account_id, team, kind, version)
                    .await?
            }
            None => Vec::new(),
        };
        Ok((id, version, closed))
    }

    /// The keyed fingerprint of a value of `kind`. A seed is taken as HMAC takes its key:
    /// trailing zero bytes change nothing in its codes, so they change nothing here either.
    pub(super) fn fingerprint_of(&self, account_id: &str, kind: &str, bytes: &[u8]) -> String {
        self.keyring
            .fingerprint(account_id, kind, as_hmac_key(kind, bytes))
    }

    /// Which version of the account's `kind` holds this value already, if any: by fingerprint,
    /// or, for a version stored before fingerprints, by opening it (a version that does not
    /// open is taken as different, and logged).
    pub(super) async fn version_holding(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        account_id: &str,
        kind: &str,
        fingerprint: &str,
        bytes: &[u8],
    ) -> Result<Option<SecretRow>, ServiceError> {
        for row in repo::versions_of(db, account_id, kind).await? {
            let same = match row.fingerprint.as_deref() {
                Some(stored) => {
                    crate::crypto::constant_time_eq(stored.as_bytes(), fingerprint.as_bytes())
                }
                None => {
                    let aad = secret_aad(account_id, &row.id, row.version, &row.kind);
                    match self.keyring.open(&row.id, &aad, &row.sealed()) {
                        Ok(stored) => crate::crypto::constant_time_eq(
                            as_hmac_key(kind, &stored),
                            as_hmac_key(kind, bytes),
                        ),
                        Err(_) => {
                            tracing::warn!(version_id = %row.id, "an earlier version does not open; it is not compared");
                            false
                        }
                    }
                }
            };
            if same {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    /// Refuses a value that is the current one, or an earlier one coming back: 422
    /// `same_secret`, so a rotation task stays open until the platform's new value is stored.
    async fn refuse_same_value(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        account_id: &str,
        kind: &str,
        fingerprint: &str,
        bytes: &[u8],
    ) -> Result<(), ServiceError> {
        match self
            .version_holding(db, account_id, kind, fingerprint, bytes)
            .await?
        {
            None => Ok(()),
            Some(row) => Err(same_secret(row.superseded_at.is_none()).into()),
        }
    }

    pub(super) fn open_seed(
        &self,
        account: &Account,
        row: &SecretRow,
    ) -> Result<(Base32Secret, OtpParams), ServiceError> {
        let aad = secret_aad(&account.id, &row.id, row.version, &row.kind);
        let bytes = self.keyring.open(&row.id, &aad, &row.sealed())?;
        let params: OtpParams = serde_json::from_str(&row.params)
            .map_err(|_| ServiceError::internal("unreadable secret parameters"))?;
        Ok((Base32Secret::from_bytes(bytes), params))
    }

    /// The current TOTP code (and the next one near the end of the period).
    pub async fn reveal_totp(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        justification: Option<Justification>,
    ) -> Result<TotpCode, ServiceError> {
        let (account, team) = allowed.for_action(Action::TotpReveal)?;
        // Refusals that need no lock are decided before taking one (and again inside).
        ensure_usable(account)?;
        self.require_recent_auth(caller)?;
        // One unit of work: on SQLite it runs whole on the writer thread.
        let (core, caller, account, team) = (
            self.clone(),
            caller.clone(),
            account.clone(),
            team.to_owned(),
        );
        self.store
            .unit(move |tx| async move {
                core.reveal_totp_in(tx, &caller, &account, &team, justification, None)
                    .await
            })
            .await
    }

    /// [`Core::reveal_totp`] in the caller's write transaction, for an account whose
    /// `totp.reveal` right is decided; `incident` names the incident whose step asked for it.
    pub(crate) async fn reveal_totp_in(
        &self,
        tx: WriteTx,
        caller: &Caller,
        account: &crate::store::accounts::Account,
        team: &str,
        justification: Option<Justification>,
        incident: Option<&str>,
    ) -> Result<(WriteTx, TotpCode), ServiceError> {
        let account_id = account.id.as_str();
        ensure_usable(account)?;
        self.require_recent_auth(caller)?;
        let tx = self
            .charge_reveal(
                tx,
                caller,
                team,
                "totp.reveal",
                &format!("account:{account_id}"),
            )
            .await?;
        let (tx, grant) = self
            .require_grant(tx, caller, account, team, "totp.reveal")
            .await?;
        let row = repo::current(&*tx, account_id, "totp")
            .await?
            .ok_or_else(|| not_set(OtpKind::Totp))?;
        let (seed, params) = self.open_seed(account, &row)?;
        let period = params.period.unwrap_or(30);
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let step = now / period;
        let expires_in = period - now % period;
        let code = seed.code_at_counter(params.algorithm, params.digits, step);
        let following_code = seed.code_at_counter(params.algorithm, params.digits, step + 1);
        let next_code = (expires_in <= NEXT_CODE_WINDOW).then(|| following_code.clone());
        let mut details =
            serde_json::json!({ "secret_id": row.id, "version": row.version, "step": step });
        if let Some(incident) = incident {
            details["incident"] = incident.into();
        }
        super::access::name_grant(&mut details, grant);
        let event = caller
            .event("totp.reveal")
            .target(format!("account:{account_id}"))
            .team(team)
            .justification(justification.as_ref().map(Justification::as_str))
            .details(details);
        crate::audit::append(&*tx, event).await?;
        Ok((
            tx,
            TotpCode {
                code,
                digits: params.digits,
                period,
                expires_in,
                next_code,
                following_code,
            },
        ))
    }

    /// The HOTP code for the stored counter, which advances by one atomically.
    pub async fn reveal_hotp(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        justification: Option<Justification>,
    ) -> Result<HotpCode, ServiceError> {
        let (account, team) = allowed.for_action(Action::HotpReveal)?;
        let account_id = allowed.id();
        ensure_usable(account)?;
        self.require_recent_auth(caller)?;
        let tx = self.store.begin_write().await?;
        let tx = self
            .charge_reveal(
                tx,
                caller,
                team,
                "hotp.reveal",
                &format!("account:{account_id}"),
            )
            .await?;
        let (tx, grant) = self
            .require_grant(tx, caller, account, team, "hotp.reveal")
            .await?;
        let row = repo::current(&*tx, account_id, "hotp")
            .await?
            .ok_or_else(|| not_set(OtpKind::Hotp))?;
        let counter = repo::take_hotp_counter(&*tx, &row.id)
            .await?
            .ok_or_else(|| ServiceError::Conflict {
                code: "hotp_counter_exhausted",
                message: "the HOTP counter cannot advance any further; store a new seed".to_owned(),
            })?;
        let counter = u64::try_from(counter).unwrap_or(0);
        let (seed, params) = self.open_seed(account, &row)?;
        let code = seed.code_at_counter(params.algorithm, params.digits, counter);
        let mut details =
            serde_json::json!({ "secret_id": row.id, "version": row.version, "counter": counter });
        super::access::name_grant(&mut details, grant);
        let event = caller
            .event("hotp.reveal")
            .target(format!("account:{account_id}"))
            .team(team)
            .justification(justification.as_ref().map(Justification::as_str))
            .details(details);
        super::exposure::append(&*tx, &self.integrity, event).await?;
        tx.commit().await?;
        Ok(HotpCode { code, counter })
    }

    /// Exports the seed as an `otpauth://` URI (privileged, justification required).
    pub async fn export_otp(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        kind: OtpKind,
        justification: Justification,
    ) -> Result<Zeroizing<String>, ServiceError> {
        let (account, team) = allowed.for_action(actions(kind).2)?;
        let account_id = allowed.id();
        self.require_recent_auth(caller)?;
        let tx = self.store.begin_write().await?;
        let tx = self
            .charge_reveal(
                tx,
                caller,
                team,
                audit_name(kind, "export"),
                &format!("account:{account_id}"),
            )
            .await?;
        let (tx, grant) = self
            .require_grant(tx, caller, account, team, audit_name(kind, "export"))
            .await?;
        let row = repo::current(&*tx, account_id, kind.as_str())
            .await?
            .ok_or_else(|| not_set(kind))?;
        let (secret, params) = self.open_seed(account, &row)?;
        let live_counter = row.hotp_counter.map(|c| c.max(0) as u64);
        let uri = Otpauth { secret, params }.to_uri(
            &format!("{}:{}", account.platform, account.handle),
            live_counter,
        );
        let mut details = serde_json::json!({ "secret_id": row.id, "version": row.version });
        super::access::name_grant(&mut details, grant);
        let event = caller
            .event(audit_name(kind, "export"))
            .target(format!("account:{account_id}"))
            .team(team)
            .justification(Some(justification.as_str()))
            .details(details);
        super::exposure::append(&*tx, &self.integrity, event).await?;
        tx.commit().await?;
        Ok(uri)
    }
}
