//! Device sign-in (RFC 8628) for `kw`, the members' command-line client. Keyward is the
//! authorization server: the client asks for a device code and a user code, the member signs
//! in to the dashboard as usual (any OIDC IdP) and approves the code on `/device`, and the
//! client's polling then gets a `kwcli_` token: a server-side session bound to the member,
//! with the browser sign-in's `auth_time` (so step-up works as in the dashboard), ended like
//! any session (logout, offboarding, back-channel logout, the Members page).

use super::{Caller, Core, RequestMeta, ServiceError};
use crate::audit::{Event, Outcome};
use crate::authn::session;
use crate::domain::device::UserCode;
use crate::store::device::{self as repo, DeviceRow};
use crate::store::sessions::{self, NewSession};
use crate::store::{new_id, now};
use chrono::Duration;
use rand::RngCore;
use zeroize::Zeroizing;

/// The only client: `kw`.
pub const CLIENT_ID: &str = "keyward-cli";
/// The prefix of a command line's session token.
pub const CLI_TOKEN_PREFIX: &str = "kwcli_";
/// How long a user code may be entered.
const CODE_MINUTES: i64 = 10;
/// The polling interval the client starts with, in seconds (RFC 8628: 5).
const INTERVAL: i32 = 5;
/// Wrong user codes one member may type in the rate window before 429.
const CODE_GUESSES: i64 = 10;
const GUESS_WINDOW_SECONDS: i64 = 600;

/// What `POST /auth/device/code` answers.
pub struct DeviceStart {
    pub device_code: Zeroizing<String>,
    pub user_code: UserCode,
    pub expires_in: i64,
    pub interval: i32,
}

/// An RFC 8628 polling answer other than the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollError {
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidGrant,
    InvalidClient,
    UnsupportedGrantType,
}

impl PollError {
    pub fn code(self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

/// A polling outcome: the token, a protocol error, or the service's own failure.
pub enum Polled {
    Token {
        token: Zeroizing<String>,
        expires_in: i64,
    },
    Error(PollError),
}

/// A pending sign-in as the approval page shows it.
pub struct DevicePending {
    pub user_code: UserCode,
    pub client_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn random_token(prefix: &str) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Zeroizing::new(format!(
        "{prefix}{}",
        data_encoding::BASE32_NOPAD
            .encode(bytes.as_ref())
            .to_ascii_lowercase()
    ))
}

fn random_user_code() -> UserCode {
    // Values of 240 and above would favour the first letters: drawn again.
    let mut out = [0u8; UserCode::LEN];
    let mut filled = 0;
    while filled < UserCode::LEN {
        let mut byte = [0u8; 1];
        rand::rngs::OsRng.fill_bytes(&mut byte);
        if byte[0] < 240 {
            out[filled] = byte[0];
            filled += 1;
        }
    }
    UserCode::from_indices(out)
}

fn event_from(meta: &RequestMeta, actor: &str, action: &'static str) -> Event {
    let mut event = Event::new(actor, action);
    event.ip = meta.ip.clone();
    event.user_agent = meta.user_agent.clone();
    event.request_id = meta.request_id.clone();
    event
}

impl Core {
    /// Starts a device sign-in for `client_id` (`keyward-cli` only), audited as
    /// `auth.device.code`. Each start counts against the address like a failed sign-in.
    pub async fn start_device_sign_in(
        &self,
        client_id: &str,
        meta: &RequestMeta,
    ) -> Result<Result<DeviceStart, PollError>, ServiceError> {
        self.anonymous_attempt(meta)?;
        if client_id.trim() != CLIENT_ID {
            return Ok(Err(PollError::InvalidClient));
        }
        let device_code = random_token("kwdev_");
        let user_code = random_user_code();
        let at = now();
        let tx = self.store.begin_write().await?;
        let row = repo::insert(
            &*tx,
            &self.integrity,
            DeviceRow {
                id: new_id(),
                device_code_hash: session::hash(&device_code),
                user_code: user_code.as_str().to_owned(),
                client_id: CLIENT_ID.to_owned(),
                state: repo::PENDING.to_owned(),
                member_id: None,
                auth_time: None,
                idp_sid: None,
                interval_seconds: INTERVAL,
                last_poll_at: None,
                ip: meta.ip.clone(),
                user_agent: meta
                    .user_agent
                    .as_ref()
                    .map(|u| u.chars().take(200).collect()),
                created_at: at,
                expires_at: at + Duration::minutes(CODE_MINUTES),
                decided_at: None,
                mac: None,
            },
        )
        .await?;
        let event = event_from(meta, "anonymous", "auth.device.code")
            .target(format!("device:{}", row.id))
            .details(serde_json::json!({ "client": CLIENT_ID }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(Ok(DeviceStart {
            device_code,
            user_code,
            expires_in: CODE_MINUTES * 60,
            interval: INTERVAL,
        }))
    }

    /// One poll of the client (RFC 8628, 3.4 and 3.5). Once approved, the first poll gets the
    /// token and the device code is spent.
    pub async fn poll_device_sign_in(
        &self,
        device_code: &str,
        client_id: &str,
        meta: &RequestMeta,
    ) -> Result<Polled, ServiceError> {
        if client_id.trim() != CLIENT_ID {
            return Ok(Polled::Error(PollError::InvalidClient));
        }
        let Some(row) = repo::by_device_code(
            self.store.db(),
            &self.integrity,
            &session::hash(device_code),
        )
        .await?
        else {
            self.anonymous_attempt(meta)?;
            return Ok(Polled::Error(PollError::InvalidGrant));
        };
        let at = now();
        if row.state == repo::USED {
            return Ok(Polled::Error(PollError::InvalidGrant));
        }
        if row.expires_at <= at {
            return Ok(Polled::Error(PollError::ExpiredToken));
        }
        match row.state.as_str() {
            repo::DENIED => return Ok(Polled::Error(PollError::AccessDenied)),
            repo::APPROVED => {}
            _ => {
                let too_soon = row
                    .last_poll_at
                    .is_some_and(|last| at - last < Duration::seconds(row.interval_seconds.into()));
                let interval = if too_soon {
                    row.interval_seconds + 5
                } else {
                    row.interval_seconds
                };
                let tx = self.store.begin_write().await?;
                repo::polled(&*tx, &row.id, interval).await?;
                tx.commit().await?;
                return Ok(Polled::Error(if too_soon {
                    PollError::SlowDown
                } else {
                    PollError::AuthorizationPending
                }));
            }
        }
        let (Some(member_id), Some(auth_time)) = (row.member_id.clone(), row.auth_time) else {
            return Ok(Polled::Error(PollError::InvalidGrant));
        };
        let token = random_token(CLI_TOKEN_PREFIX);
        let id_hash = session::hash(&token);
        let hours = i64::from(self.settings.session.cli_hours);
        let tx = self.store.begin_write().await?;
        let mut after = row.clone();
        after.state = repo::USED.to_owned();
        if !repo::change(&*tx, &self.integrity, &row, after).await? {
            // Another poll got the token first: the device code is spent.
            return Ok(Polled::Error(PollError::InvalidGrant));
        }
        sessions::insert(
            &*tx,
            &self.integrity,
            NewSession {
                id_hash: &id_hash,
                member_id: &member_id,
                auth_time,
                expires_at: at + Duration::hours(hours),
                ip: meta.ip.as_deref(),
                user_agent: meta.user_agent.as_deref(),
                idp_sid: row.idp_sid.as_deref(),
                client: "cli",
            },
        )
        .await?;
        let event = event_from(meta, &format!("member:{member_id}"), "auth.device.token")
            .target(format!("device:{}", row.id))
            // The session's handle as the member's page names it (its first 12 characters).
            .details(serde_json::json!({ "client": CLIENT_ID, "hours": hours, "session": &id_hash[..12] }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(Polled::Token {
            token,
            expires_in: hours * 3600,
        })
    }

    /// The pending sign-in a member typed the code of, for the approval page. A wrong code
    /// counts against the member (10 in 10 minutes, then 429).
    pub async fn pending_device(
        &self,
        caller: &Caller,
        user_code: &UserCode,
    ) -> Result<DevicePending, ServiceError> {
        self.within_guess_budget(caller).await?;
        let found =
            repo::pending_by_user_code(self.store.db(), &self.integrity, user_code.as_str())
                .await?;
        let Some(row) = found else {
            self.charge_code_guess(caller).await?;
            return Err(ServiceError::NotFound(super::Missing::DeviceCode));
        };
        Ok(DevicePending {
            user_code: user_code.clone(),
            client_id: row.client_id,
            ip: row.ip,
            user_agent: row.user_agent,
            created_at: row.created_at,
        })
    }

    /// Approves or denies the pending sign-in with this user code, as the signed-in member of
    /// a browser session (audited `auth.device.approve` or `auth.device.deny`).
    pub async fn decide_device(
        &self,
        caller: &Caller,
        user_code: &UserCode,
        approve: bool,
    ) -> Result<(), ServiceError> {
        let Some(info) = caller.session.as_ref() else {
            return Err(super::error::refused(
                "sign_in_required",
                "a command line is approved from a signed-in browser",
            ));
        };
        // The command line inherits this sign-in's time, and reveals with it: approving one
        // is a step-up, as a reveal is.
        if approve {
            self.require_recent_auth(caller)?;
        }
        self.within_guess_budget(caller).await?;
        let tx = self.store.begin_write().await?;
        let Some(before) =
            repo::pending_by_user_code(&*tx, &self.integrity, user_code.as_str()).await?
        else {
            drop(tx);
            self.charge_code_guess(caller).await?;
            return Err(ServiceError::NotFound(super::Missing::DeviceCode));
        };
        let browser = sessions::find(&*tx, &self.integrity, &info.id_hash).await?;
        let mut after = before.clone();
        after.state = if approve {
            repo::APPROVED
        } else {
            repo::DENIED
        }
        .to_owned();
        after.member_id = Some(caller.principal.id.clone());
        after.decided_at = Some(now());
        if approve {
            after.auth_time = Some(info.auth_time);
            after.idp_sid = browser.and_then(|s| s.idp_sid);
        }
        if !repo::change(&*tx, &self.integrity, &before, after).await? {
            return Err(super::error::conflict(
                "device_code_used",
                "this code was approved or denied already",
            ));
        }
        let action = if approve {
            "auth.device.approve"
        } else {
            "auth.device.deny"
        };
        let event = caller
            .event(action)
            .target(format!("device:{}", before.id))
            .details(serde_json::json!({ "client": before.client_id, "from": before.ip }));
        crate::audit::append(&*tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's wrong-code window: its key, its start and now.
    fn guess_window(caller: &Caller) -> (String, i64, i64) {
        let now = chrono::Utc::now().timestamp();
        let start = now - now.rem_euclid(GUESS_WINDOW_SECONDS);
        (format!("device:{}", caller.principal.subject()), start, now)
    }

    /// Refuses (429) a member who typed too many wrong codes in the window, before any code
    /// is looked up: past the limit, a right guess is refused like a wrong one.
    async fn within_guess_budget(&self, caller: &Caller) -> Result<(), ServiceError> {
        let (key, start, now) = Self::guess_window(caller);
        let hits = crate::store::limits::count(self.store.db(), &key, start).await?;
        if hits >= CODE_GUESSES {
            return Err(ServiceError::RateLimited {
                code: "too_many_codes",
                message: "too many wrong codes; wait a few minutes and check the code the command line shows".to_owned(),
                retry_after: (start + GUESS_WINDOW_SECONDS - now).max(1) as u64,
            });
        }
        Ok(())
    }

    /// Counts one wrong user code of the caller; the one that reaches the limit is audited
    /// (`auth.denied`, `too_many_codes`), once per window.
    async fn charge_code_guess(&self, caller: &Caller) -> Result<(), ServiceError> {
        let (key, start, _) = Self::guess_window(caller);
        let tx = self.store.begin_write().await?;
        let hits = crate::store::limits::add_many(&*tx, &[(key.as_str(), start)], 1)
            .await?
            .first()
            .copied()
            .unwrap_or(0);
        tx.commit().await?;
        if hits == CODE_GUESSES {
            let event = caller
                .event("auth.denied")
                .outcome(Outcome::Denied)
                .details(serde_json::json!({ "attempted": "auth.device.approve", "reason": "too_many_codes" }));
            self.record_standalone(event).await;
        }
        Ok(())
    }
}
