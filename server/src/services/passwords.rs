//! Account passwords: a secret kind of its own, versioned like seeds; revealing one is a
//! manager's privilege and always needs a justification.

use super::accounts::ensure_usable;
use super::otp::SecretValue;
use super::{Allowed, Caller, Core, ServiceError};
use crate::authz::Action;
use crate::crypto::secret_aad;
use crate::domain::{Justification, Password};
use crate::store::secrets as repo;
use zeroize::Zeroizing;

const KIND: &str = "password";

/// A revealed password and the version it came from.
pub struct RevealedPassword {
    pub password: Zeroizing<String>,
    pub version: i32,
}

impl Core {
    /// Stores a new version of the account's password; returns the version number.
    pub async fn set_password(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        password: Password,
    ) -> Result<i32, ServiceError> {
        let (account, team) = allowed.for_action(Action::PasswordSet)?;
        let account_id = allowed.id();
        if account.status == "archived" {
            return Err(super::accounts::archived());
        }
        self.sealing_keyring().await?;
        let tx = self.store.begin_write().await?;
        let (id, version, closed) = self
            .write_secret_version(
                &tx,
                caller,
                account_id,
                team,
                SecretValue {
                    kind: KIND,
                    params: "{}".to_owned(),
                    hotp_counter: None,
                    bytes: password.expose_bytes(),
                },
            )
            .await?;
        let event = caller
            .event("password.set")
            .target(format!("account:{account_id}"))
            .team(team)
            .details(serde_json::json!({
                "secret_id": id,
                "version": version,
                "completed_rotation_tasks": closed,
            }));
        super::exposure::append(&*tx, &self.integrity, event).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The current password (manager, justification required, recent sign-in).
    pub async fn reveal_password(
        &self,
        caller: &Caller,
        allowed: &Allowed,
        justification: Justification,
    ) -> Result<RevealedPassword, ServiceError> {
        let (account, team) = allowed.for_action(Action::PasswordReveal)?;
        let account_id = allowed.id();
        ensure_usable(account)?;
        self.require_recent_auth(caller)?;
        let target = format!("account:{account_id}");
        let tx = self.store.begin_write().await?;
        let tx = self
            .charge_reveal(tx, caller, team, "password.reveal", &target)
            .await?;
        let (tx, grant) = self
            .require_grant(tx, caller, account, team, "password.reveal")
            .await?;
        let row = repo::current(&*tx, account_id, KIND)
            .await?
            .ok_or(ServiceError::NotFound(crate::services::Missing::Password))?;
        let aad = secret_aad(account_id, &row.id, row.version, KIND);
        let bytes = self.keyring.open(&row.id, &aad, &row.sealed())?;
        let password = std::str::from_utf8(&bytes)
            .map(|text| Zeroizing::new(text.to_owned()))
            .map_err(|_| ServiceError::internal("unreadable password"))?;
        let mut details = serde_json::json!({ "secret_id": row.id, "version": row.version });
        super::access::name_grant(&mut details, grant);
        let event = caller
            .event("password.reveal")
            .target(target)
            .team(team)
            .justification(Some(justification.as_str()))
            .details(details);
        super::exposure::append(&*tx, &self.integrity, event).await?;
        tx.commit().await?;
        Ok(RevealedPassword {
            password,
            version: row.version,
        })
    }
}
